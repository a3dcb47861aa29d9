/*
 * sts_client - blocking client of the sts service (sts_proto.h), and the
 * MX match of RFC 8461 section 4.1. Contract in sts_client.h.
 *
 * One connection per client, kept between requests (base/ipc_client.h:
 * a kept connection that fails gets one more try on a new one, unless
 * the deadline was spent). timeout is in seconds and bounds one request
 * (connect, send, reply). A reply that does not follow sts_proto.h is
 * STS_UNAVAILABLE with the reason, and the connection is dropped.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/attr.h"
#include "base/ipc_client.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/sts_client.h"
#include "mail/sts_policy.h"
#include "mail/sts_proto.h"

#define STS_CLIENT_FRAME_MAX	(64 * 1024)	/* a reply: 32 mx lines and a few fields */

/* sts_client - one kept connection to the service */
struct sts_client {
	struct ipc_client *conn;
};

/* sts_client_new - a client of the service at socket_path */
struct sts_client *sts_client_new(const char *socket_path, int timeout)
{
	struct sts_client *c = xcalloc(1, sizeof(*c));

	if (timeout <= 0)
		timeout = 1;
	c->conn = ipc_client_new("sts", socket_path, timeout > INT_MAX / 1000 ? INT_MAX : timeout * 1000,
				 STS_CLIENT_FRAME_MAX, STS_CLIENT_FRAME_MAX);
	return c;
}

/* sts_client_free - close and release (NULL is fine) */
void sts_client_free(struct sts_client *c)
{
	if (c == NULL)
		return;
	ipc_client_free(c->conn);
	free(c);
}

/* sts_client_unavailable - out says the service could not be asked */
static int sts_client_unavailable(struct sts_policy *out, const char *why)
{
	memset(out, 0, sizeof(*out));
	out->status = STS_UNAVAILABLE;
	str_copy(out->text, why, sizeof(out->text));
	return -1;
}

/* sts_client_decode - c->reply into out: 0, or -1 with why */
static int sts_client_decode(const struct attr_list *r, struct sts_policy *out, char *why, size_t whylen)
{
	const char *status, *s;
	const struct attr *a = NULL;
	int64_t v;

	memset(out, 0, sizeof(*out));
	if (attr_need_str(r, STS_STATUS, &status, why, whylen) < 0)
		return -1;
	if (attr_get_str(r, STS_TEXT, &s))
		str_copy(out->text, s, sizeof(out->text));
	if (attr_get_str(r, STS_FAILURE, &s))
		str_copy(out->failure, s, sizeof(out->failure));
	if (attr_get_int(r, STS_FROM_CACHE, &v))
		out->from_cache = v != 0;
	if (strcmp(status, STS_ST_NONE) == 0) {
		out->status = STS_NONE;
		return 0;
	}
	if (strcmp(status, STS_ST_ERROR) == 0) {
		out->status = STS_ERROR;
		return 0;
	}
	if (strcmp(status, STS_ST_POLICY) != 0) {
		str_fmt(why, whylen, "unknown status \"%.40s\"", status);
		return -1;
	}
	out->status = STS_POLICY;
	if (attr_need_str(r, STS_MODE, &s, why, whylen) < 0)
		return -1;
	if (sts_mode_parse(s, &out->mode) < 0) {
		str_fmt(why, whylen, "unknown mode \"%.40s\"", s);
		return -1;
	}
	if (attr_need_int(r, STS_MAX_AGE, &out->max_age, why, whylen) < 0
	    || attr_need_int(r, STS_FETCHED, &out->fetched, why, whylen) < 0
	    || attr_need_int(r, STS_EXPIRES, &out->expires, why, whylen) < 0
	    || attr_need_str(r, STS_ID, &s, why, whylen) < 0)
		return -1;
	if (str_copy(out->id, s, sizeof(out->id)) < 0) {
		str_fmt(why, whylen, "id too long");
		return -1;
	}
	while ((a = attr_find(r, STS_MX, a)) != NULL && out->nmx < STS_MX_MAX) {
		if (a->type != ATTR_STR || str_copy(out->mx[out->nmx], a->value, STS_MX_LEN) < 0) {
			str_fmt(why, whylen, "bad mx attribute");
			return -1;
		}
		str_lower(out->mx[out->nmx++]);
	}
	return 0;
}

/* sts_client_request - one request, one reply (see sts_client.h) */
int sts_client_request(struct sts_client *c, const char *op, const char *domain,
		       struct sts_policy *out)
{
	struct attr_list *req = ipc_client_req(c->conn);
	char why[ATTR_ERR_MAX + 512];

	attr_list_reset(req);
	attr_add_str(req, STS_OP, op);
	attr_add_str(req, STS_DOMAIN, domain);
	if (attr_list_error(req) != NULL) {
		str_fmt(why, sizeof(why), "sts request: %s", attr_list_error(req));
		return sts_client_unavailable(out, why);
	}
	if (ipc_client_call(c->conn, why, sizeof(why)) < 0)
		return sts_client_unavailable(out, why);
	if (sts_client_decode(ipc_client_reply(c->conn), out, why, sizeof(why)) < 0) {
		char full[sizeof(why) + 64];

		ipc_client_disconnect(c->conn);
		str_fmt(full, sizeof(full), "sts service %s: bad reply: %s", ipc_client_path(c->conn), why);
		return sts_client_unavailable(out, full);
	}
	return 0;
}

/* sts_mx_match - does a pattern of policy match mxname (RFC 8461 4.1)? */
bool sts_mx_match(const struct sts_policy *policy, const char *mxname)
{
	for (size_t i = 0; i < policy->nmx && i < STS_MX_MAX; i++)
		if (sts_mx_pattern_match(policy->mx[i], mxname))
			return true;
	return false;
}

/* sts_mode_name - the policy keyword of a mode */
const char *sts_mode_name(enum sts_mode m)
{
	switch (m) {
	case STS_MODE_ENFORCE:
		return "enforce";
	case STS_MODE_TESTING:
		return "testing";
	case STS_MODE_NONE:
		break;
	}
	return "none";
}
