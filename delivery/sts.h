/*
 * sts.h - the parts of the sts service (sts(8)): the policy cache in
 * Berkeley DB (sts_cache.c) and the HTTPS fetch (sts_fetch.c); sts.c
 * serves requests with them. Nothing outside delivery/sts*.c includes
 * this header.
 *
 * Process: one sts process (master.conf process limit 1) owns the cache
 * file, so there is one writer and no locking. The cache is a cache:
 * an entry that does not decode, or a file that does not open as a DB,
 * is dropped (with a warning) and refetched.
 */
#ifndef TERN_DELIVERY_STS_H
#define TERN_DELIVERY_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/sts_client.h"

struct dns;

/* sts_entry - one cached policy */
struct sts_entry {
	struct sts_policy policy;	/* status STS_POLICY; id, fetched, expires set */
	int64_t checked;		/* when the TXT id was last seen equal to policy.id */
};

/* sts_cache.c: the cache is a state_db (mail/state_db.h), closed with state_db_close */
struct state_db;

/* sts_cache_open - open or create the hash file path: the cache, or NULL with err */
struct state_db *sts_cache_open(const char *path, char *err, size_t errlen);
/* sts_cache_get - 1 found (e filled), 0 none (or a bad entry, dropped), -1 error */
int sts_cache_get(struct state_db *c, const char *domain, struct sts_entry *e,
		  char *err, size_t errlen);
/* sts_cache_put - store e for domain and sync the file: 0, or -1 with err */
int sts_cache_put(struct state_db *c, const char *domain, const struct sts_entry *e,
		  char *err, size_t errlen);
/* sts_cache_del - 1 deleted, 0 there was none, -1 error */
int sts_cache_del(struct state_db *c, const char *domain, char *err, size_t errlen);
/* sts_entry_encode / _decode - the stored text form; decode 0 or -1 */
size_t sts_entry_encode(const struct sts_entry *e, char *out, size_t outlen);
int sts_entry_decode(const char *text, size_t len, struct sts_entry *e);

/* sts_fetch.c */
#define STS_FAIL_FETCH		"sts-policy-fetch-error"
#define STS_FAIL_INVALID	"sts-policy-invalid"
#define STS_FAIL_WEBPKI		"sts-webpki-invalid"

/* sts_fetch_opts - the limits of a fetch */
struct sts_fetch_opts {
	const char *ca_file;
	long long timeout;		/* seconds */
	long long max_size;		/* bytes */
	int port;			/* 443 */
};

/* sts_fetch_init - libcurl's global set-up, once, before any thread or jail */
int sts_fetch_init(char *err, size_t errlen);
/*
 * sts_fetch - fetch and parse https://mta-sts.DOMAIN/.well-known/mta-sts.txt,
 * with the addresses of mta-sts.DOMAIN from dns: 0 with out->mode, mx,
 * max_age set; or -1 with the RFC 8460 type in failure (STS_FAIL_*) and
 * the reason in text.
 */
int sts_fetch(struct dns *dns, const struct sts_fetch_opts *o, const char *domain,
	      struct sts_policy *out, char *failure, size_t failurelen,
	      char *text, size_t textlen);

#endif
