/*
 * sts_client - ask the sts service (sts_proto.h) for a domain's MTA-STS
 * policy, and match MX host names against it. Used by the smtp agent's
 * TLS policy engine and by "ternctl sts".
 *
 * The client connects to private/sts (relative to the working directory,
 * which is queue_directory for daemons; ternctl passes the full path),
 * keeps the connection for further requests, and reconnects once when the
 * service closed it. timeout (seconds) bounds one whole request.
 */
#ifndef TERN_MAIL_STS_CLIENT_H
#define TERN_MAIL_STS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define STS_MX_MAX		32		/* mx lines kept from one policy */
#define STS_MX_LEN		256

enum sts_status { STS_POLICY, STS_NONE, STS_ERROR, STS_UNAVAILABLE /* the service could not be asked */ };
enum sts_mode { STS_MODE_NONE, STS_MODE_TESTING, STS_MODE_ENFORCE };

struct sts_policy {
	enum sts_status status;
	enum sts_mode mode;
	size_t nmx;
	char mx[STS_MX_MAX][STS_MX_LEN];	/* lower case */
	int64_t max_age, fetched, expires;
	char id[64];
	bool from_cache;
	char failure[48];			/* RFC 8460 result type, or "" */
	char text[256];
};

struct sts_client;

/* sts_client_new - client of the service at socket_path (e.g. "private/sts") */
struct sts_client *sts_client_new(const char *socket_path, int timeout);
void sts_client_free(struct sts_client *c);

/*
 * sts_client_request - op is STS_OP_GET, _REFRESH, _SHOW or _PURGE;
 * fills *out. Returns 0, or -1 when the service could not be asked (out
 * says STS_UNAVAILABLE with the reason in text).
 */
int sts_client_request(struct sts_client *c, const char *op, const char *domain,
		       struct sts_policy *out);

/*
 * sts_mx_match - RFC 8461 section 4.1: mxname (lower case, no final dot)
 * matches a pattern exactly, or "*.rest" when mxname is one label
 * followed by ".rest". True when a pattern of policy matches.
 */
bool sts_mx_match(const struct sts_policy *policy, const char *mxname);

/* sts_mode_name - "enforce", "testing", "none" */
const char *sts_mode_name(enum sts_mode m);

#endif
