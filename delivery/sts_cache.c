/*
 * sts_cache - the sts service's policy cache: a Berkeley DB hash file
 * (sts_cache_file) keyed by the policy domain (lower case, no NUL),
 * whose values are a small text, one "key value" per line:
 *
 *	v 1
 *	id 20240101T000000
 *	fetched 1795000000
 *	expires 1795086400
 *	checked 1795000000
 *	max_age 86400
 *	mode enforce
 *	mx mx1.example.test		(one line per mx pattern)
 *
 * The file is a state_db (lib/mail/state_db.h): only the one sts
 * process opens it; a damaged file is moved aside to "<file>.bad" and
 * started afresh (it only holds what can be fetched again). Every put
 * and delete is followed by a sync, so a crash loses at most the change
 * in flight. An entry that does not decode is deleted and reported as
 * absent.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/state_db.h"
#include "mail/sts_policy.h"
#include "sts.h"

#define STS_ENTRY_MAX	(STS_MX_MAX * (STS_MX_LEN + 4) + 512)	/* encoded entry */

/* sts_cache_open - open or create the cache file */
struct state_db *sts_cache_open(const char *path, char *err, size_t errlen)
{
	return state_db_open(path, "sts cache", STS_ENTRY_MAX + 1, err, errlen);
}

/* sts_entry_encode - the text form of e into out[outlen]; its length, or 0 when it does not fit */
size_t sts_entry_encode(const struct sts_entry *e, char *out, size_t outlen)
{
	const struct sts_policy *p = &e->policy;
	size_t n;
	int w;

	w = snprintf(out, outlen, "v 1\nid %s\nfetched %" PRId64 "\nexpires %" PRId64 "\nchecked %" PRId64
		     "\nmax_age %" PRId64 "\nmode %s\n", p->id, p->fetched, p->expires, e->checked,
		     p->max_age, sts_mode_name(p->mode));
	if (w < 0 || (size_t) w >= outlen)
		return 0;
	n = (size_t) w;
	for (size_t i = 0; i < p->nmx && i < STS_MX_MAX; i++) {
		w = snprintf(out + n, outlen - n, "mx %s\n", p->mx[i]);
		if (w < 0 || (size_t) w >= outlen - n)
			return 0;
		n += (size_t) w;
	}
	return n;
}

/* sts_entry_int - a decimal int64 field; 0 or -1 */
static int sts_entry_int(const char *v, int64_t *out)
{
	long long x;

	if (str_to_ll(v, 0, INT64_MAX, &x) < 0)
		return -1;
	*out = x;
	return 0;
}

/* the keys an entry must have, once each (mx lines come on top) */
static const char *const sts_entry_keys[] = {"v", "id", "fetched", "expires", "checked", "max_age", "mode"};

#define STS_ENTRY_NKEYS	(sizeof(sts_entry_keys) / sizeof(sts_entry_keys[0]))

/* sts_entry_field - one "key value" line into e: 0, or -1 */
static int sts_entry_field(const char *k, const char *v, struct sts_entry *e, unsigned *seen)
{
	size_t i;

	if (strcmp(k, "mx") == 0) {
		if (e->policy.nmx >= STS_MX_MAX)
			return -1;
		return str_copy(e->policy.mx[e->policy.nmx++], v, STS_MX_LEN);
	}
	for (i = 0; i < STS_ENTRY_NKEYS && strcmp(k, sts_entry_keys[i]) != 0; i++)
		;
	if (i == STS_ENTRY_NKEYS || (*seen & (1u << i)))
		return -1;
	*seen |= 1u << i;
	switch (i) {
	case 0:
		return strcmp(v, "1") == 0 ? 0 : -1;
	case 1:
		return str_copy(e->policy.id, v, sizeof(e->policy.id));
	case 2:
		return sts_entry_int(v, &e->policy.fetched);
	case 3:
		return sts_entry_int(v, &e->policy.expires);
	case 4:
		return sts_entry_int(v, &e->checked);
	case 5:
		return sts_entry_int(v, &e->policy.max_age);
	default:
		return sts_mode_parse(v, &e->policy.mode);
	}
}

/* sts_entry_decode - the text form back into e: 0, or -1 when anything is wrong */
int sts_entry_decode(const char *text, size_t len, struct sts_entry *e)
{
	char buf[STS_ENTRY_MAX + 1];
	char *rest = buf, *line;
	unsigned seen = 0;

	if (len > STS_ENTRY_MAX || memchr(text, '\0', len) != NULL)
		return -1;
	memcpy(buf, text, len);
	buf[len] = '\0';
	memset(e, 0, sizeof(*e));
	e->policy.status = STS_POLICY;
	while ((line = str_token(&rest, "\n")) != NULL) {
		char *sp = strchr(line, ' ');

		if (sp == NULL)
			return -1;
		*sp = '\0';
		if (sts_entry_field(line, sp + 1, e, &seen) < 0)
			return -1;
	}
	return seen == (1u << STS_ENTRY_NKEYS) - 1 ? 0 : -1;
}

/* sts_cache_get - the entry of domain */
int sts_cache_get(struct state_db *c, const char *domain, struct sts_entry *e,
		  char *err, size_t errlen)
{
	char text[STS_ENTRY_MAX + 1];
	int r = state_db_get(c, domain, text, sizeof(text), err, errlen);

	if (r <= 0)
		return r;
	if (sts_entry_decode(text, strlen(text), e) < 0) {
		msg_warn("sts cache: entry for %s does not decode; dropped", domain);
		(void) sts_cache_del(c, domain, err, errlen);
		return 0;
	}
	return 1;
}

/* sts_cache_put - store the entry of domain */
int sts_cache_put(struct state_db *c, const char *domain, const struct sts_entry *e,
		  char *err, size_t errlen)
{
	char text[STS_ENTRY_MAX];

	if (sts_entry_encode(e, text, sizeof(text)) == 0) {
		str_fmt(err, errlen, "sts cache: entry for %s does not fit", domain);
		return -1;
	}
	return state_db_put(c, domain, text, true, err, errlen);
}

/* sts_cache_del - drop the entry of domain */
int sts_cache_del(struct state_db *c, const char *domain, char *err, size_t errlen)
{
	return state_db_del(c, domain, true, err, errlen);
}
