/*
 * sts - the MTA-STS policy service (sts(8), RFC 8461): answers GET,
 * REFRESH, SHOW and PURGE requests (sts_proto.h) on private/sts from the
 * smtp agents and "ternctl sts", with a policy cache in Berkeley DB
 * (sts_cache.c) and HTTPS fetches through libcurl (sts_fetch.c).
 *
 * GET domain:
 *   1. a cached unexpired policy whose TXT id was checked less than
 *      sts_txt_check_interval ago and that is not due for refresh is the
 *      answer (from_cache=1): no DNS, no HTTPS;
 *   2. else the _mta-sts TXT record: none, several or malformed: the
 *      cached unexpired policy still applies (RFC 8461 section 3.1/10.2),
 *      else status none; a DNS failure: the cached policy, else error;
 *   3. the same id as the cached policy: the cache (its check time is
 *      updated), unless due for refresh (less than sts_refresh_before,
 *      or half its max_age, left);
 *   4. otherwise fetch: success replaces the cache entry; failure gives
 *      the cached unexpired policy with "failure" set, else status error
 *      with the RFC 8460 type. A failed fetch is not repeated for the same
 *      domain and id within sts_fetch_retry_interval (section 3.3): the
 *      remembered failure answers meanwhile.
 * REFRESH is GET without step 1. SHOW answers from the cache only
 * (expired entries included, so the administrator sees them). PURGE
 * deletes the entry.
 *
 * Process: SERVICE_MULTI with master.conf process limit 1 (one cache
 * writer), not chrooted (it needs data_directory and sts_ca_file), as
 * mail_owner. Requests are served one at a time in the event loop; a
 * cache answer costs no I/O but a DB read, and a fetch blocks the loop
 * for at most dns_timeout (three lookups) plus sts_fetch_timeout: known
 * compromise, bounded by those parameters (clients wait at most
 * smtp_sts_timeout). Requests that arrive meanwhile are answered after
 * it, in order.
 *
 * Failures: a malformed request gets status error with a text; a bad
 * frame closes that connection; a cache that cannot be opened is fatal
 * at start-up (master backs off); a cache write error is logged and the
 * answer still given.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/dns.h"
#include "mail/service.h"
#include "mail/service_conns.h"
#include "mail/state_db.h"
#include "mail/sts_client.h"
#include "mail/sts_policy.h"
#include "mail/sts_proto.h"
#include "sts.h"

#define STS_FRAME_MAX		4096		/* a request: op and domain */
#define STS_REPLY_MAX		(64 * 1024)
#define STS_FAILURES_MAX	256		/* remembered failed fetches */

/* sts_failure - a failed fetch, remembered for sts_fetch_retry_interval */
struct sts_failure {
	char domain[DNS_NAME_MAX + 1];
	char id[STS_ID_MAX + 1];
	int64_t when;
	char failure[48];
	char text[256];
};

/* sts - the daemon's state */
static struct sts {
	const struct params_delivery *p;
	struct dns *dns;
	struct state_db *cache;
	struct sts_fetch_opts fetch;
	struct sts_failure failures[STS_FAILURES_MAX];
	struct service_conns conns;
	struct attr_list reply;
} sts;

/* sts_answer - what one request produces, before it becomes a frame */
struct sts_answer {
	const char *status;			/* STS_ST_* */
	struct sts_policy policy;		/* with STS_ST_POLICY */
	bool from_cache;
	char failure[48];
	char text[256];
};

/* sts_failure_find - the remembered failure of domain with id, still in force, or NULL */
static struct sts_failure *sts_failure_find(const char *domain, const char *id, int64_t now)
{
	for (size_t i = 0; i < STS_FAILURES_MAX; i++) {
		struct sts_failure *f = &sts.failures[i];

		if (f->when != 0 && strcmp(f->domain, domain) == 0 && strcmp(f->id, id) == 0
		    && now - f->when < sts.p->sts_fetch_retry_interval)
			return f;
	}
	return NULL;
}

/* sts_failure_note - remember a failed fetch (the oldest slot, or this domain's) */
static void sts_failure_note(const char *domain, const char *id, int64_t now,
			     const char *failure, const char *text)
{
	struct sts_failure *slot = &sts.failures[0];

	for (size_t i = 0; i < STS_FAILURES_MAX; i++) {
		struct sts_failure *f = &sts.failures[i];

		if (strcmp(f->domain, domain) == 0) {
			slot = f;
			break;
		}
		if (f->when < slot->when)
			slot = f;
	}
	str_copy(slot->domain, domain, sizeof(slot->domain));
	str_copy(slot->id, id, sizeof(slot->id));
	slot->when = now;
	str_copy(slot->failure, failure, sizeof(slot->failure));
	str_copy(slot->text, text, sizeof(slot->text));
}

/* sts_failure_forget - a fetch of domain worked, or its entry was purged */
static void sts_failure_forget(const char *domain)
{
	for (size_t i = 0; i < STS_FAILURES_MAX; i++)
		if (strcmp(sts.failures[i].domain, domain) == 0)
			memset(&sts.failures[i], 0, sizeof(sts.failures[i]));
}

/* sts_answer_cached - the answer is the cached policy */
static void sts_answer_cached(struct sts_answer *a, const struct sts_entry *e)
{
	a->status = STS_ST_POLICY;
	a->policy = e->policy;
	a->from_cache = true;
}

/* sts_answer_set - status, failure type and a printf text */
__attribute__((format(printf, 4, 5)))
static void sts_answer_set(struct sts_answer *a, const char *status, const char *failure,
			   const char *fmt, ...)
{
	va_list ap;

	a->status = status;
	str_copy(a->failure, failure ? failure : "", sizeof(a->failure));
	va_start(ap, fmt);
	vsnprintf(a->text, sizeof(a->text), fmt, ap);
	va_end(ap);
}

/* sts_due - the cached policy should be fetched again (close to its expiry) */
static bool sts_due(const struct sts_entry *e, int64_t now)
{
	int64_t before = sts.p->sts_refresh_before;

	if (e->policy.max_age / 2 < before)
		before = e->policy.max_age / 2;
	return e->policy.expires - now <= before;
}

/* sts_txt - the id of domain's _mta-sts TXT: 1 id set, 0 no STS record (why), -1 DNS failure (why) */
static int sts_txt(const char *domain, char *id, size_t idlen, char *why, size_t whylen)
{
	char name[DNS_NAME_MAX + 16];
	const char **txt;
	struct dns_answer *a;
	int r;

	why[0] = '\0';
	if (str_fmt(name, sizeof(name), "_mta-sts.%s", domain) < 0) {
		str_fmt(why, whylen, "name too long");
		return 0;
	}
	a = dns_lookup(sts.dns, name, DNS_T_TXT);
	if (a->status == DNS_TEMPFAIL) {
		str_fmt(why, whylen, "TXT lookup of %s failed: %s", name, a->why);
		dns_answer_free(a);
		return -1;
	}
	if (a->status != DNS_OK) {
		dns_answer_free(a);
		return 0;
	}
	txt = xcalloc(a->n + 1, sizeof(*txt));
	for (size_t i = 0; i < a->n; i++)
		txt[i] = a->rr[i].type == DNS_T_TXT && a->rr[i].u.txt ? a->rr[i].u.txt : "";
	r = sts_txt_select(txt, a->n, id, idlen, why, whylen);
	free(txt);
	dns_answer_free(a);
	return r;
}

/* sts_fetch_now - fetch for domain and id; fills a (cache or error on failure) */
static void sts_fetch_now(const char *domain, const char *id, const struct sts_entry *cached,
			  int64_t now, struct sts_answer *a)
{
	struct sts_failure *f = sts_failure_find(domain, id, now);
	struct sts_entry e;
	char failure[48], text[256], err[512];

	if (f != NULL) {
		str_copy(failure, f->failure, sizeof(failure));
		str_fmt(text, sizeof(text), "%s (failed %llds ago, not retried yet)", f->text,
			(long long) (now - f->when));
	} else {
		memset(&e, 0, sizeof(e));
		if (sts_fetch(sts.dns, &sts.fetch, domain, &e.policy, failure, sizeof(failure),
			      text, sizeof(text)) == 0) {
			e.policy.status = STS_POLICY;
			str_copy(e.policy.id, id, sizeof(e.policy.id));
			e.policy.fetched = now;
			e.policy.expires = now + e.policy.max_age;
			e.checked = now;
			if (sts_cache_put(sts.cache, domain, &e, err, sizeof(err)) < 0)
				msg_warn("%s", err);
			sts_failure_forget(domain);
			msg_info("%s: policy id=%s fetched: mode=%s max_age=%lld mx=%zu", domain, id,
				 sts_mode_name(e.policy.mode), (long long) e.policy.max_age, e.policy.nmx);
			a->status = STS_ST_POLICY;
			a->policy = e.policy;
			a->from_cache = false;
			return;
		}
		sts_failure_note(domain, id, now, failure, text);
		if (cached == NULL || cached->policy.mode != STS_MODE_NONE)
			msg_warn("%s: policy id=%s fetch failed (%s): %s%s", domain, id, failure, text,
				 cached ? "; the cached policy stays in use" : "");
	}
	if (cached != NULL) {
		sts_answer_cached(a, cached);
		sts_answer_set(a, STS_ST_POLICY, failure, "cached policy used: %s", text);
		return;
	}
	sts_answer_set(a, STS_ST_ERROR, failure, "%s", text);
}

/* sts_get - GET (check_first: use an unexpired entry without DNS) and REFRESH */
static void sts_get(const char *domain, bool check_first, int64_t now, struct sts_answer *a)
{
	struct sts_entry e;
	const struct sts_entry *cached = NULL;
	char id[STS_ID_MAX + 1], why[512], err[512];
	int r;

	r = sts_cache_get(sts.cache, domain, &e, err, sizeof(err));
	if (r < 0)
		msg_warn("%s", err);
	if (r == 1 && e.policy.expires > now)
		cached = &e;
	else if (r == 1 && sts_cache_del(sts.cache, domain, err, sizeof(err)) < 0)
		msg_warn("%s", err);
	if (cached != NULL && check_first && now - e.checked < sts.p->sts_txt_check_interval
	    && !sts_due(&e, now)) {
		sts_answer_cached(a, &e);
		return;
	}
	r = sts_txt(domain, id, sizeof(id), why, sizeof(why));
	if (r <= 0) {
		if (cached != NULL) {
			sts_answer_cached(a, &e);
			sts_answer_set(a, STS_ST_POLICY, NULL, "cached policy used: %s",
				       why[0] ? why : "no _mta-sts TXT record");
		} else if (r < 0) {
			sts_answer_set(a, STS_ST_ERROR, STS_FAIL_FETCH, "%s", why);
		} else {
			sts_answer_set(a, STS_ST_NONE, NULL, "%s", why[0] ? why : "no _mta-sts TXT record");
		}
		return;
	}
	if (cached != NULL && strcmp(id, e.policy.id) == 0) {
		e.checked = now;
		if (sts_cache_put(sts.cache, domain, &e, err, sizeof(err)) < 0)
			msg_warn("%s", err);
		if (!sts_due(&e, now)) {
			sts_answer_cached(a, &e);
			return;
		}
	}
	sts_fetch_now(domain, id, cached, now, a);
}

/* sts_show - SHOW: the cache entry, expired or not */
static void sts_show(const char *domain, int64_t now, struct sts_answer *a)
{
	struct sts_entry e;
	char err[512];
	int r = sts_cache_get(sts.cache, domain, &e, err, sizeof(err));

	if (r < 0) {
		sts_answer_set(a, STS_ST_ERROR, NULL, "%s", err);
	} else if (r == 0) {
		sts_answer_set(a, STS_ST_NONE, NULL, "no cached policy for %s", domain);
	} else {
		sts_answer_cached(a, &e);
		if (e.policy.expires <= now)
			str_copy(a->text, "expired", sizeof(a->text));
	}
}

/* sts_purge - PURGE: drop the cache entry and any remembered failure */
static void sts_purge(const char *domain, struct sts_answer *a)
{
	char err[512];
	int r = sts_cache_del(sts.cache, domain, err, sizeof(err));

	sts_failure_forget(domain);
	if (r < 0) {
		sts_answer_set(a, STS_ST_ERROR, NULL, "%s", err);
	} else {
		sts_answer_set(a, STS_ST_NONE, NULL, r ? "purged the cached policy of %s"
			       : "no cached policy for %s", domain);
		if (r)
			msg_info("%s: cached policy purged", domain);
	}
}

/* sts_request - one request frame into an answer */
static void sts_request(const struct attr_list *frame, struct sts_answer *a)
{
	const char *op, *raw;
	char domain[DNS_NAME_MAX + 1], err[200];
	int64_t now = (int64_t) time(NULL);

	memset(a, 0, sizeof(*a));
	if (attr_need_str(frame, STS_OP, &op, err, sizeof(err)) < 0
	    || attr_need_str(frame, STS_DOMAIN, &raw, err, sizeof(err)) < 0) {
		sts_answer_set(a, STS_ST_ERROR, NULL, "bad request: %s", err);
		return;
	}
	if (str_copy(domain, raw, sizeof(domain)) < 0 || !sts_domain_ok(str_lower(domain))) {
		sts_answer_set(a, STS_ST_ERROR, NULL, "bad request: not a domain name: %.100s", raw);
		return;
	}
	if (strcmp(op, STS_OP_GET) == 0)
		sts_get(domain, true, now, a);
	else if (strcmp(op, STS_OP_REFRESH) == 0)
		sts_get(domain, false, now, a);
	else if (strcmp(op, STS_OP_SHOW) == 0)
		sts_show(domain, now, a);
	else if (strcmp(op, STS_OP_PURGE) == 0)
		sts_purge(domain, a);
	else
		sts_answer_set(a, STS_ST_ERROR, NULL, "bad request: unknown op \"%.40s\"", op);
	msg_debug("%s %s: %s%s %s", op, domain, a->status, a->from_cache ? " (cache)" : "", a->text);
}

/* sts_reply_build - the answer as a reply frame into r */
static void sts_reply_build(const struct sts_answer *a, struct attr_list *r)
{
	attr_list_reset(r);
	attr_add_str(r, STS_STATUS, a->status);
	if (strcmp(a->status, STS_ST_POLICY) == 0) {
		const struct sts_policy *p = &a->policy;

		attr_add_str(r, STS_MODE, sts_mode_name(p->mode));
		for (size_t i = 0; i < p->nmx && i < STS_MX_MAX; i++)
			attr_add_str(r, STS_MX, p->mx[i]);
		attr_add_int(r, STS_MAX_AGE, p->max_age);
		attr_add_str(r, STS_ID, p->id);
		attr_add_int(r, STS_FETCHED, p->fetched);
		attr_add_int(r, STS_EXPIRES, p->expires);
	}
	attr_add_int(r, STS_FROM_CACHE, a->from_cache ? 1 : 0);
	if (a->failure[0])
		attr_add_str(r, STS_FAILURE, a->failure);
	if (a->text[0])
		attr_add_str(r, STS_TEXT, a->text);
}

/* sts_on_frame - one request: answer it */
static void sts_on_frame(struct ipc_conn *conn, const struct attr_list *frame, void *arg)
{
	struct sts_answer a;

	(void) arg;
	sts_request(frame, &a);
	sts_reply_build(&a, &sts.reply);
	if (attr_list_error(&sts.reply)) {
		msg_warn("cannot build the reply: %s", attr_list_error(&sts.reply));
		memset(&a, 0, sizeof(a));
		sts_answer_set(&a, STS_ST_ERROR, NULL, "the reply does not fit in a frame");
		sts_reply_build(&a, &sts.reply);
	}
	if (ipc_conn_send(conn, &sts.reply) < 0)
		msg_debug("reply not sent, connection closed");
}

/* sts_on_connection - a new client */
static void sts_on_connection(struct service *svc, int fd)
{
	(void) svc;
	(void) service_conns_add(&sts.conns, fd);
}

/* sts_on_stop - graceful stop: close every connection after its reply */
static void sts_on_stop(struct service *svc)
{
	(void) svc;
	service_conns_finish(&sts.conns);
}

/* sts_pre_jail - resolver, libcurl, limits (as root, before the drop) */
static void sts_pre_jail(struct service *svc)
{
	const struct config *cfg = service_config(svc);
	long long idle = cfg->global.max_idle;
	char err[512];

	sts.p = cfg->own;
	if ((sts.dns = dns_new(cfg, err, sizeof(err))) == NULL)
		msg_fatal("%s", err);
	if (sts_fetch_init(err, sizeof(err)) < 0)
		msg_fatal("%s", err);
	sts.fetch.ca_file = sts.p->sts_ca_file;
	sts.fetch.timeout = sts.p->sts_fetch_timeout;
	sts.fetch.max_size = sts.p->sts_max_policy_size;
	sts.fetch.port = 443;
	if (idle > cfg->global.ipc_timeout)
		idle = cfg->global.ipc_timeout;
	service_conns_init(&sts.conns, svc, STS_FRAME_MAX, (int) idle * 1000,
			   (int) cfg->global.ipc_timeout * 1000, sts_on_frame);
	attr_list_init(&sts.reply);
	attr_list_set_limit(&sts.reply, STS_REPLY_MAX);
}

/* sts_post_jail - open the cache as mail_owner, so the file is owned by it */
static void sts_post_jail(struct service *svc)
{
	char err[1024];

	(void) svc;
	if ((sts.cache = sts_cache_open(sts.p->sts_cache_file, err, sizeof(err))) == NULL)
		msg_fatal("%s", err);
}

/* sts_free - release everything (for leak checkers) */
static void sts_free(void)
{
	state_db_close(sts.cache);
	dns_free(sts.dns);
	attr_list_free(&sts.reply);
}

static const struct service_desc sts_desc = {
	.program = "sts",
	.group = "delivery",
	.kind = SERVICE_MULTI,
	.pre_jail = sts_pre_jail,
	.post_jail = sts_post_jail,
	.on_connection = sts_on_connection,
	.on_stop = sts_on_stop,
};

/* main - run on the skeleton */
int main(int argc, char **argv)
{
	int status = service_main(argc, argv, &sts_desc);

	sts_free();
	return status;
}
