/*
 * cleanup_env - the envelope of a message: the BEGIN frame of
 * mail/cleanup_proto.h, checked, then written as the envelope records of
 * the queue file.
 *
 * cleanup_env_parse checks everything before a file exists, so that a bad
 * envelope costs no file system work and gets a precise reply: types of
 * known attributes, one sender, 1..rcpt_limit recipients, "orcpt" and
 * "notify" either absent or exactly once per "rcpt", and every value
 * against the limits of the queue file (qfile.h) - addresses without
 * control characters and at most QFILE_ADDR_MAX bytes, ORCPT as
 * "addr-type;address", ENVID as xtext, RET FULL or HDRS, known flag and
 * NOTIFY bits, client attributes as short text, dsn_kind one of
 * bounce's four kinds (stored as the attribute deliver_proto.h names),
 * client_country two capital letters or "--" (stored as "client_country").
 * Unknown attribute names are ignored (a newer source may send more).
 * Nothing is copied: env points into the frame.
 *
 * cleanup_env_write then cannot meet a value the writer refuses, except
 * for file system errors, which the writer reports (and it removes the
 * file).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/deliver_proto.h"
#include "cleanup.h"

#define ENV_FLAGS_ALL	(CLEANUP_FLAG_8BITMIME | CLEANUP_FLAG_SMTPUTF8 | CLEANUP_FLAG_REQUIRETLS \
			 | CLEANUP_FLAG_SUBMISSION | CLEANUP_FLAG_BDAT | CLEANUP_FLAG_HOLD)
#define ENV_NOTIFY_ALL	(CLEANUP_NOTIFY_SUCCESS | CLEANUP_NOTIFY_FAILURE | CLEANUP_NOTIFY_DELAY)

/* env_err - set the detail text, return stat */
__attribute__((format(printf, 4, 5)))
static enum cleanup_stat env_err(enum cleanup_stat stat, char *detail, size_t size,
				 const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, size, fmt, ap);
	va_end(ap);
	return stat;
}

/* env_addr_bad - why an address cannot be queued, or NULL */
static const char *env_addr_bad(const char *a, bool empty_ok)
{
	size_t len = strlen(a);

	if (len == 0 && !empty_ok)
		return "is empty";
	if (len > QFILE_ADDR_MAX)
		return "is too long";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) a[i] < 0x20 || a[i] == 0x7f)
			return "contains a control character";
	return NULL;
}

/* env_text_bad - a short text attribute (client, TLS, ...): why not, or NULL */
static const char *env_text_bad(const char *s)
{
	size_t len = strlen(s);

	if (len > QFILE_WELLKNOWN_MAX)
		return "is too long";
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x20 || s[i] == 0x7f)
			return "contains a control character";
	return NULL;
}

/* env_xtext_bad - RFC 3461 xtext of at most max bytes: why not, or NULL */
static const char *env_xtext_bad(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len > max)
		return "is too long";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) s[i];

		if (c == '+') {
			for (int k = 1; k <= 2; k++)
				if (i + (size_t) k >= len
				    || !((s[i + k] >= '0' && s[i + k] <= '9') || (s[i + k] >= 'A' && s[i + k] <= 'F')))
					return "has a bad xtext escape";
			i += 2;
		} else if (c < '!' || c > '~' || c == '=') {
			return "is not xtext";
		}
	}
	return NULL;
}

/* env_orcpt_bad - "addr-type;address" as received, or "": why not, or NULL */
static const char *env_orcpt_bad(const char *s)
{
	const char *semi = strchr(s, ';');
	size_t tlen;

	if (*s == '\0')
		return NULL;
	if (semi == NULL)
		return "has no ';'";
	tlen = (size_t) (semi - s);
	if (tlen == 0 || tlen > QFILE_ORCPT_TYPE_MAX)
		return "has a bad address type";
	for (size_t i = 0; i < tlen; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')
		      || (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return "has a bad address type";
	if (semi[1] == '\0' || strlen(semi + 1) > QFILE_ORCPT_MAX)
		return "has a bad address length";
	for (const char *p = semi + 1; *p; p++)
		if ((unsigned char) *p <= 0x20 || *p == 0x7f)
			return "contains a space or a control character";
	return NULL;
}

/* env_str - an optional string attribute; -1 when present with another type */
static int env_str(const struct attr_list *l, const char *name, const char **out)
{
	const struct attr *a = attr_find(l, name, NULL);

	if (a == NULL)
		return 0;
	if (a->type != ATTR_STR)
		return -1;
	*out = a->value;
	return 0;
}

/* env_int - an optional integer attribute; -1 when present with another type */
static int env_int(const struct attr_list *l, const char *name, int64_t *out, bool *have)
{
	const struct attr *a = attr_find(l, name, NULL);

	if (a == NULL)
		return 0;
	if (a->type != ATTR_INT)
		return -1;
	*out = a->num;
	if (have)
		*have = true;
	return 0;
}

/* env_count - occurrences of name; -1 when one has another type */
static long env_count(const struct attr_list *l, const char *name, enum attr_type type)
{
	const struct attr *a = NULL;
	long n = 0;

	while ((a = attr_find(l, name, a)) != NULL) {
		if (a->type != type)
			return -1;
		n++;
	}
	return n;
}

/* env_country_ok - "JP" or "--" */
static bool env_country_ok(const char *cc)
{
	if (strcmp(cc, "--") == 0)
		return true;
	return strlen(cc) == 2 && cc[0] >= 'A' && cc[0] <= 'Z' && cc[1] >= 'A' && cc[1] <= 'Z';
}

/* env_scalars - every attribute that occurs once: types and values */
static enum cleanup_stat env_scalars(const struct attr_list *l, struct cleanup_env *env,
				     char *detail, size_t size)
{
	const struct {
		const char *name;
		const char **field;
	} texts[] = {
		{CLEANUP_CLIENT_NAME, &env->client_name},
		{CLEANUP_CLIENT_ADDR, &env->client_addr},
		{CLEANUP_HELO, &env->helo},
		{CLEANUP_PROTOCOL, &env->protocol},
		{CLEANUP_TLS_PROTO, &env->tls_proto},
		{CLEANUP_TLS_CIPHER, &env->tls_cipher},
		{CLEANUP_AUTH_USER, &env->auth_user},
		{CLEANUP_AUTH_METHOD, &env->auth_method},
		{CLEANUP_SESSION, &env->session},
		{CLEANUP_SERVICE, &env->service},
		{CLEANUP_DSN_KIND, &env->dsn_kind},
		{CLEANUP_CLIENT_COUNTRY, &env->client_country},
	};
	const char *why;

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		if (env_str(l, texts[i].name, texts[i].field) < 0)
			return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "attribute %s is not a string",
				       texts[i].name);
		if (*texts[i].field && (why = env_text_bad(*texts[i].field)) != NULL)
			return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "%s %s", texts[i].name, why);
	}
	if (env_str(l, CLEANUP_RET, &env->ret) < 0 || env_str(l, CLEANUP_ENVID, &env->envid) < 0)
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "attribute ret or envid is not a string");
	if (env_int(l, CLEANUP_FLAGS, &env->flags, NULL) < 0 || env_int(l, CLEANUP_SIZE, &env->size, NULL) < 0
	    || env_int(l, CLEANUP_CLIENT_PORT, &env->client_port, &env->have_port) < 0
	    || env_int(l, CLEANUP_TLS_BITS, &env->tls_bits, &env->have_bits) < 0
	    || env_int(l, CLEANUP_ORIGIN_UID, &env->origin_uid, &env->have_origin_uid) < 0)
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size,
			       "attribute flags, size, client_port, tls_bits or origin_uid is not an integer");
	if (env->flags & ~(int64_t) ENV_FLAGS_ALL)
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "unknown flags 0x%llx",
			       (unsigned long long) env->flags);
	if (env->size < 0)
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "negative size");
	if (env->have_port && (env->client_port < 0 || env->client_port > 65535))
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "client_port out of range");
	if (env->have_bits && (env->tls_bits < 0 || env->tls_bits > 65535))
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "tls_bits out of range");
	if (env->have_origin_uid && (env->origin_uid < 0 || env->origin_uid > 0xffffffffLL))
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "origin_uid out of range");
	if (env->ret && strcmp(env->ret, "FULL") != 0 && strcmp(env->ret, "HDRS") != 0)
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "ret is neither FULL nor HDRS");
	if (env->envid && (why = env_xtext_bad(env->envid, QFILE_ENVID_MAX)) != NULL)
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "envid %s", why);
	if (env->dsn_kind && strcmp(env->dsn_kind, "failure") != 0 && strcmp(env->dsn_kind, "delay") != 0
	    && strcmp(env->dsn_kind, "success") != 0 && strcmp(env->dsn_kind, "double") != 0)
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "unknown dsn_kind");
	if (env->client_country && !env_country_ok(env->client_country))
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size,
			       "client_country is neither two capital letters nor \"--\"");
	return CLEANUP_STAT_OK;
}

/* env_rcpts - the recipients with their ORCPT and NOTIFY */
static enum cleanup_stat env_rcpts(const struct attr_list *l, long long rcpt_limit,
				   struct cleanup_env *env, char *detail, size_t size)
{
	const struct attr *a = NULL;
	long nrcpt = env_count(l, CLEANUP_RCPT, ATTR_STR);
	long norcpt = env_count(l, CLEANUP_RCPT_ORCPT, ATTR_STR);
	long nnotify = env_count(l, CLEANUP_RCPT_NOTIFY, ATTR_INT);
	const char *why;
	size_t i = 0;

	if (nrcpt < 0 || norcpt < 0 || nnotify < 0)
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size,
			       "attribute rcpt, orcpt or notify has the wrong type");
	if (nrcpt == 0)
		return env_err(CLEANUP_STAT_NORCPT, detail, size, "no rcpt attribute");
	if (nrcpt > rcpt_limit)
		return env_err(CLEANUP_STAT_RCPTS, detail, size, "%ld recipients, limit %lld", nrcpt,
			       rcpt_limit);
	if ((norcpt != 0 && norcpt != nrcpt) || (nnotify != 0 && nnotify != nrcpt))
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size,
			       "%ld recipients but %ld orcpt and %ld notify attributes", nrcpt, norcpt,
			       nnotify);
	env->nrcpt = (size_t) nrcpt;
	env->norcpt = (size_t) norcpt;
	env->nnotify = (size_t) nnotify;
	while ((a = attr_find(l, CLEANUP_RCPT, a)) != NULL) {
		if (i++ == 0)
			env->first_rcpt = a->value;
		if ((why = env_addr_bad(a->value, false)) != NULL)
			return env_err(CLEANUP_STAT_RCPT, detail, size, "recipient %zu %s", i, why);
	}
	i = 0;
	a = NULL;
	while ((a = attr_find(l, CLEANUP_RCPT_ORCPT, a)) != NULL) {
		i++;
		if ((why = env_orcpt_bad(a->value)) != NULL)
			return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "orcpt %zu %s", i, why);
	}
	i = 0;
	a = NULL;
	while ((a = attr_find(l, CLEANUP_RCPT_NOTIFY, a)) != NULL) {
		i++;
		if ((a->num & ~(int64_t) (ENV_NOTIFY_ALL | CLEANUP_NOTIFY_NEVER)) != 0
		    || ((a->num & CLEANUP_NOTIFY_NEVER) && a->num != CLEANUP_NOTIFY_NEVER))
			return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "notify %zu has bad bits 0x%llx",
				       i, (unsigned long long) a->num);
	}
	return CLEANUP_STAT_OK;
}

/* cleanup_env_parse - check a BEGIN frame; OK, or the status to reply with */
enum cleanup_stat cleanup_env_parse(const struct attr_list *frame, long long rcpt_limit,
				    struct cleanup_env *env, char *detail, size_t size)
{
	enum cleanup_stat stat;
	const struct attr *a;
	const char *why;

	memset(env, 0, sizeof(*env));
	env->frame = frame;
	if (size > 0)
		detail[0] = '\0';
	if ((a = attr_find(frame, CLEANUP_SENDER, NULL)) == NULL || a->type != ATTR_STR)
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "no sender attribute");
	if (attr_find(frame, CLEANUP_SENDER, a) != NULL)
		return env_err(CLEANUP_STAT_ENVELOPE, detail, size, "more than one sender");
	env->sender = a->value;
	if ((why = env_addr_bad(env->sender, true)) != NULL)
		return env_err(CLEANUP_STAT_SENDER, detail, size, "sender address %s", why);
	if ((stat = env_scalars(frame, env, detail, size)) != CLEANUP_STAT_OK)
		return stat;
	if ((stat = env_rcpts(frame, rcpt_limit, env, detail, size)) != CLEANUP_STAT_OK)
		return stat;
	env->local = env->client_addr == NULL || *env->client_addr == '\0';
	return CLEANUP_STAT_OK;
}

/* env_put_text - a text attribute when it is present and not empty */
static int env_put_text(struct qfile_writer *w, const char *name, const char *value)
{
	if (value == NULL || *value == '\0')
		return 0;
	return qfile_put_attr(w, name, value, strlen(value));
}

/* env_put_num - a decimal attribute */
static int env_put_num(struct qfile_writer *w, const char *name, long long value)
{
	char num[32];

	str_fmt(num, sizeof(num), "%lld", value);
	return qfile_put_attr(w, name, num, strlen(num));
}

/* env_put_rcpts - the R records, in frame order */
static int env_put_rcpts(const struct cleanup_env *env, struct qfile_writer *w)
{
	const struct attr *r = NULL, *o = NULL, *n = NULL;
	char type[QFILE_ORCPT_TYPE_MAX + 1];

	while ((r = attr_find(env->frame, CLEANUP_RCPT, r)) != NULL) {
		const char *orcpt = NULL, *otype = NULL;
		unsigned notify = 0;

		if (env->norcpt) {
			o = attr_find(env->frame, CLEANUP_RCPT_ORCPT, o);
			if (*o->value != '\0') {
				size_t tlen = strcspn(o->value, ";");

				memcpy(type, o->value, tlen);
				type[tlen] = '\0';
				otype = type;
				orcpt = o->value + tlen + 1;
			}
		}
		if (env->nnotify) {
			n = attr_find(env->frame, CLEANUP_RCPT_NOTIFY, n);
			notify = (unsigned) n->num;	/* CLEANUP_NOTIFY_* == QFILE_NOTIFY_* */
		}
		if (qfile_put_rcpt(w, r->value, notify, otype, orcpt) < 0)
			return -1;
	}
	return 0;
}

/* cleanup_env_write - every envelope record of a parsed envelope */
int cleanup_env_write(const struct cleanup_env *env, uid_t peer_uid, struct qfile_writer *w)
{
	unsigned flags = 0;
	enum qfile_body body = QFILE_BODY_NONE;
	enum qfile_ret ret = QFILE_RET_NONE;

	if (env->flags & CLEANUP_FLAG_SMTPUTF8)
		flags |= QFILE_F_SMTPUTF8;
	if (env->flags & CLEANUP_FLAG_REQUIRETLS)
		flags |= QFILE_F_REQUIRETLS;
	if (env->flags & CLEANUP_FLAG_8BITMIME)
		body = QFILE_BODY_8BITMIME;
	if (env->ret)
		ret = strcmp(env->ret, "FULL") == 0 ? QFILE_RET_FULL : QFILE_RET_HDRS;
	if (qfile_put_sender(w, env->sender) < 0 || qfile_put_flags(w, flags, body) < 0)
		return -1;
	if ((ret != QFILE_RET_NONE || env->envid) && qfile_put_dsn(w, ret, env->envid) < 0)
		return -1;
	if (env_put_rcpts(env, w) < 0)
		return -1;
	if (env_put_text(w, QFILE_A_CLIENT_NAME, env->client_name) < 0
	    || env_put_text(w, QFILE_A_CLIENT_ADDRESS, env->client_addr) < 0
	    || (env->have_port && env_put_num(w, QFILE_A_CLIENT_PORT, env->client_port) < 0)
	    || env_put_text(w, QFILE_A_HELO_NAME, env->helo) < 0
	    || env_put_text(w, QFILE_A_PROTOCOL, env->protocol) < 0
	    || env_put_text(w, QFILE_A_TLS_PROTOCOL, env->tls_proto) < 0
	    || env_put_text(w, QFILE_A_TLS_CIPHER, env->tls_cipher) < 0
	    || (env->have_bits && env_put_num(w, "tls_bits", env->tls_bits) < 0)
	    || env_put_text(w, QFILE_A_SASL_USERNAME, env->auth_user) < 0
	    || env_put_text(w, QFILE_A_SASL_METHOD, env->auth_method) < 0
	    || env_put_text(w, "session", env->session) < 0
	    || env_put_text(w, "service", env->service) < 0
	    || env_put_text(w, QFILE_A_DSN_KIND, env->dsn_kind) < 0
	    || env_put_text(w, CLEANUP_CLIENT_COUNTRY, env->client_country) < 0
	    || (env->have_origin_uid && env_put_num(w, "origin_uid", env->origin_uid) < 0)
	    || (env->size > 0 && env_put_num(w, "announced_size", env->size) < 0)
	    || env_put_num(w, "peer_uid", (long long) peer_uid) < 0)
		return -1;
	return 0;
}
