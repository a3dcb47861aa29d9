/*
 * dns - DNS lookups through libunbound with the DNSSEC verdict beside
 * every answer; the contract is lib/mail/dns.h.
 *
 * Setup (dns_new, as root before the chroot): the global parameters are
 * checked first (dns_config_check, which "ternctl check" runs too); then
 * one ub_ctx gets either dns_resolver_config (ub_ctx_config), or the
 * system's resolvers (ub_ctx_resolvconf), dns_forwarders (ub_ctx_set_fwd)
 * or nothing (recursive), plus dns_trust_anchor_file (ub_ctx_add_ta_file).
 * libunbound reads most files only when the context is finalized, so
 * the context is finalized at once with ub_ctx_data_remove of a name
 * that cannot exist (it finalizes, then removes nothing) - no query goes
 * out, and nothing is read from the file system afterwards.
 *
 * When the context is made: making and finalizing one costs ~3.5 ms of
 * CPU here (ub_ctx_create ~1.7 ms, finalize ~1.7 ms), paid by every smtp
 * process at start although a numeric relayhost never needs a lookup,
 * and by smtpd, which looks up no loopback client (bench/README.md). So
 * without dns_resolver_config, dns_new reads resolv.conf and the trust
 * anchor file into a plan (dns_plan.c: forwarders and anchor records,
 * for ub_ctx_set_fwd and ub_ctx_add_ta) and the first lookup, or
 * dns_fd, makes the context from it (dns_ctx_get), in the chroot if
 * there is one. A file the plan reader does not take exactly as
 * libunbound would (and dns_resolver_config, which may name any file)
 * makes the context in dns_new as before. A context that cannot be made
 * later (an anchor record libunbound refuses) fails that lookup and
 * every later one with the reason, logged once.
 *
 * Threads, not fork: ub_ctx_async(ctx, 1) makes libunbound resolve in a
 * thread that starts with the first lookup, after the daemon's chroot and
 * privilege drop, so it runs with the same (dropped) credentials in the
 * same jail and master sees no extra process. A process must not fork
 * and use the same struct dns in the child.
 *
 * Lookups: dns_query sends the question to that thread
 * (ub_resolve_async); answers come back on ub_fd. ub_process calls
 * dns_ub_done, which only converts the result into a struct dns_answer
 * and queues the request; user callbacks run afterwards from
 * dns_deliver, outside libunbound, so a callback may start new lookups
 * or even call dns_lookup. Each request has a deadline (dns_timeout);
 * an overdue one is cancelled (ub_cancel: its late answer is dropped by
 * libunbound) and answered DNS_TEMPFAIL "timed out".
 *
 * Verdicts (dns_answer_from_result): bogus wins over everything (rcode 0
 * with forged data still comes back as DNS_TEMPFAIL + DNS_BOGUS, no
 * records); rcode SERVFAIL, REFUSED and others are DNS_TEMPFAIL;
 * NXDOMAIN and NOERROR without data are final, with the security of the
 * denial. Records come from the answer packet (dns_parse.c), not from
 * ub_result's data, to get per-record TTLs and names without
 * trusting any compression.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unbound.h>
#include <unistd.h>

#include "base/cfgfile.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/dns.h"
#include "mail/dns_int.h"

#define DNS_RCODE_NOERROR	0
#define DNS_RCODE_SERVFAIL	2
#define DNS_RCODE_NXDOMAIN	3
#define DNS_RCODE_REFUSED	5
#define DNS_CLASS_IN		1
#define DNS_FINALIZE_NAME	"tern-finalize-nonexistent.invalid."

/* dns_req - one lookup from dns_query (or dns_lookup) until its answer is taken */
struct dns_req {
	struct dns *d;
	struct dns_req *prev, *next;	/* in d->inflight or d->ready */
	int async_id;
	char name[DNS_NAME_MAX + 1];
	int type;
	dns_callback cb;
	void *arg;
	long long deadline;		/* CLOCK_MONOTONIC milliseconds */
	int sync;			/* dns_lookup's own request: never queued in ready */
	struct dns_answer *answer;	/* set when the answer is known */
};

/* dns_list - a doubly linked list of requests */
struct dns_list {
	struct dns_req *head, *tail;
	size_t count;
};

struct dns {
	struct ub_ctx *ctx;		/* NULL until dns_ctx_get makes it from plan */
	struct dns_plan plan;		/* files read in dns_new for a context made later */
	char ctx_error[DNS_WHY_MAX];	/* set when making the context failed: lookups fail with it */
	struct event_base *base;	/* dns_event_attach: the events come with the context */
	long long timeout_ms;
	struct dns_list inflight;	/* sent, no answer yet */
	struct dns_list ready;		/* answered, callback not run yet */
	struct event *ev_read;		/* dns_event_attach: ub_fd readable */
	struct event *ev_timer;		/* dns_event_attach: next deadline, or queued answers */
};

static int dns_ctx_get(struct dns *d, char *err, size_t errlen);

/* dns_now_ms - monotonic time in milliseconds */
static long long dns_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* dns_list_append - put r at the tail of l */
static void dns_list_append(struct dns_list *l, struct dns_req *r)
{
	r->next = NULL;
	r->prev = l->tail;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
	l->count++;
}

/* dns_list_remove - take r out of l */
static void dns_list_remove(struct dns_list *l, struct dns_req *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else
		l->head = r->next;
	if (r->next)
		r->next->prev = r->prev;
	else
		l->tail = r->prev;
	r->prev = r->next = NULL;
	l->count--;
}

/* dns_answer_new - an empty answer for (name, type) */
static struct dns_answer *dns_answer_new(const char *name, int type)
{
	struct dns_answer *a = xcalloc(1, sizeof(*a));

	str_copy(a->name, name, sizeof(a->name));
	str_copy(a->canon, name, sizeof(a->canon));
	a->type = type;
	a->status = DNS_TEMPFAIL;
	a->security = DNS_INSECURE;
	return a;
}

/* dns_set_why - format the why text of an answer (a long name may cut it) */
__attribute__((format(printf, 2, 3)))
static void dns_set_why(struct dns_answer *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->why, sizeof(a->why), fmt, ap);
	va_end(ap);
}

/* dns_answer_fail - a DNS_TEMPFAIL answer with a formatted why */
__attribute__((format(printf, 3, 4)))
static struct dns_answer *dns_answer_fail(const char *name, int type, const char *fmt, ...)
{
	struct dns_answer *a = dns_answer_new(name, type);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(a->why, sizeof(a->why), fmt, ap);
	va_end(ap);
	return a;
}

/* dns_answer_free - release an answer and what its records own */
void dns_answer_free(struct dns_answer *a)
{
	if (a == NULL)
		return;
	dns_rr_free(a->rr, a->n);
	free(a->rr);
	free(a);
}

/* dns_canon_copy - the canonical name libunbound found, lower case, no final dot */
static void dns_canon_copy(struct dns_answer *a, const char *canon)
{
	size_t n;

	if (canon == NULL || str_copy(a->canon, canon, sizeof(a->canon)) < 0) {
		str_copy(a->canon, a->name, sizeof(a->canon));
		return;
	}
	n = strlen(a->canon);
	if (n > 0 && a->canon[n - 1] == '.')
		a->canon[n - 1] = '\0';
	str_lower(a->canon);
}

/*
 * dns_answer_from_result - the verdict and records of one libunbound
 * result (err is libunbound's error code; r may be NULL with err set)
 */
static struct dns_answer *dns_answer_from_result(const char *name, int type, int err,
						 const struct ub_result *r)
{
	char tbuf[16];
	const char *tname = dns_type_name(type, tbuf, sizeof(tbuf));
	struct dns_answer *a;
	size_t skipped = 0;
	char why[DNS_WHY_MAX];

	if (err != 0 || r == NULL)
		return dns_answer_fail(name, type, "%s %s lookup failed: %s", name, tname,
				       ub_strerror(err));
	a = dns_answer_new(name, type);
	dns_canon_copy(a, r->canonname);
	a->security = r->bogus ? DNS_BOGUS : r->secure ? DNS_SECURE : DNS_INSECURE;
	if (r->bogus) {
		/* forged data comes with rcode 0: never look at it */
		dns_set_why(a, "DNSSEC validation of %s %s failed: %s", name, tname,
			    r->why_bogus ? r->why_bogus : "bogus answer");
		return a;
	}
	switch (r->rcode) {
	case DNS_RCODE_NOERROR:
		if (!r->havedata) {
			a->status = DNS_NODATA;
			return a;
		}
		if (dns_parse_records(r->answer_packet, r->answer_len > 0 ? (size_t) r->answer_len : 0,
				      a, &skipped, why, sizeof(why)) < 0) {
			dns_set_why(a, "%s %s: %s", name, tname, why);
			return a;
		}
		if (a->n > 0) {
			a->status = DNS_OK;
		} else if (skipped > 0) {
			/* only TXT records we cannot hold: as if none (documented in dns.h) */
			a->status = DNS_NODATA;
			dns_set_why(a, "%s TXT: %zu record%s too long or with NUL octets left out",
				    name, skipped, skipped == 1 ? "" : "s");
		} else {
			dns_set_why(a, "%s %s: answer without %s records", name, tname, tname);
		}
		return a;
	case DNS_RCODE_NXDOMAIN:
		a->status = DNS_NXDOMAIN;
		return a;
	case DNS_RCODE_SERVFAIL:
		dns_set_why(a, "%s %s: server failure (SERVFAIL: no name server "
			    "answered, or DNSSEC failed upstream)", name, tname);
		return a;
	case DNS_RCODE_REFUSED:
		dns_set_why(a, "%s %s: query refused (REFUSED)", name, tname);
		return a;
	default:
		dns_set_why(a, "%s %s: DNS error rcode %d", name, tname, r->rcode);
		return a;
	}
}

/* dns_ub_done - libunbound's callback: convert, then queue (no user code here) */
static void dns_ub_done(void *arg, int err, struct ub_result *r)
{
	struct dns_req *req = arg;
	struct dns *d = req->d;

	req->answer = dns_answer_from_result(req->name, req->type, err, r);
	ub_resolve_free(r);
	dns_list_remove(&d->inflight, req);
	if (!req->sync)
		dns_list_append(&d->ready, req);
}

/* dns_expire - answer every request due by now (all when now < 0) "timed out" */
static void dns_expire(struct dns *d, long long now)
{
	struct dns_req *r = d->inflight.head, *next;
	char tbuf[16];

	for (; r != NULL; r = next) {
		next = r->next;
		if (now >= 0 && r->deadline > now)
			continue;
		(void) ub_cancel(d->ctx, r->async_id);	/* its late answer is dropped */
		dns_list_remove(&d->inflight, r);
		r->answer = dns_answer_fail(r->name, r->type, "%s %s: timed out after %llds",
					    r->name, dns_type_name(r->type, tbuf, sizeof(tbuf)),
					    (d->timeout_ms + 999) / 1000);
		if (!r->sync)
			dns_list_append(&d->ready, r);
	}
}

/* dns_next_deadline - the earliest deadline in flight, or -1 */
static long long dns_next_deadline(const struct dns *d)
{
	long long first = -1;

	for (const struct dns_req *r = d->inflight.head; r != NULL; r = r->next)
		if (first < 0 || r->deadline < first)
			first = r->deadline;
	return first;
}

/* dns_timer_arm - event mode: wake up at the next deadline, or now when answers wait */
static void dns_timer_arm(struct dns *d)
{
	long long first, wait;
	struct timeval tv;

	if (d->ev_timer == NULL)
		return;
	if (d->ready.count > 0) {
		event_active(d->ev_timer, EV_TIMEOUT, 1);
		return;
	}
	first = dns_next_deadline(d);
	if (first < 0) {
		evtimer_del(d->ev_timer);
		return;
	}
	wait = first - dns_now_ms();
	if (wait < 0)
		wait = 0;
	tv.tv_sec = (time_t) (wait / 1000);
	tv.tv_usec = (suseconds_t) (wait % 1000) * 1000;
	evtimer_add(d->ev_timer, &tv);
}

/* dns_read - take every answer waiting on the libunbound pipe */
static void dns_read(struct dns *d)
{
	int err;

	if (d->ctx == NULL)
		return;		/* no context: no lookup was ever sent */
	if (ub_poll(d->ctx) && (err = ub_process(d->ctx)) != 0)
		msg_warn("dns: reading answers from the resolver thread: %s", ub_strerror(err));
}

/* dns_deliver - run the callbacks of the queued answers, oldest first */
static void dns_deliver(struct dns *d)
{
	struct dns_req *r;

	while ((r = d->ready.head) != NULL) {
		struct dns_answer *a = r->answer;
		dns_callback cb = r->cb;
		void *arg = r->arg;

		dns_list_remove(&d->ready, r);
		free(r);
		cb(arg, a);	/* may start lookups: they go to the tail */
	}
}

/* dns_process - read answers, expire overdue lookups, run the callbacks */
void dns_process(struct dns *d)
{
	dns_read(d);
	dns_expire(d, dns_now_ms());
	dns_deliver(d);
	dns_timer_arm(d);
}

/* dns_pending - lookups whose callback has not run yet */
size_t dns_pending(const struct dns *d)
{
	return d->inflight.count + d->ready.count;
}

/* dns_fd - libunbound's answer pipe (the context is made now if need be), or -1 */
int dns_fd(struct dns *d)
{
	char err[DNS_WHY_MAX];

	if (dns_ctx_get(d, err, sizeof(err)) < 0)
		return -1;
	return ub_fd(d->ctx);
}

/* dns_name_ok - a name we are willing to ask for: LDH-ish, labels 1..63 */
static int dns_name_ok(const char *name, char *err, size_t errlen)
{
	size_t len = strlen(name), label = 0;

	if (len > 0 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > DNS_NAME_MAX) {
		snprintf(err, errlen, "dns: name of %zu characters: must be 1 to %d", len, DNS_NAME_MAX);
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) name[i];

		if (c == '.') {
			if (label == 0) {
				snprintf(err, errlen, "dns: name '%.*s' has an empty label", (int) len, name);
				return 0;
			}
			label = 0;
			continue;
		}
		if (c <= 0x20 || c >= 0x7f || c == '\\') {
			snprintf(err, errlen, "dns: name has a character that cannot be asked for "
				 "(0x%02x at %zu)", c, i);
			return 0;
		}
		if (++label > 63) {
			snprintf(err, errlen, "dns: name has a label longer than 63 characters");
			return 0;
		}
	}
	return 1;
}

/* dns_type_ok - one of the types dns.h lists */
static int dns_type_ok(int type)
{
	return type == DNS_T_A || type == DNS_T_AAAA || type == DNS_T_MX || type == DNS_T_TXT ||
	       type == DNS_T_PTR || type == DNS_T_TLSA;
}

/* dns_start - make a request and send it; NULL with err */
static struct dns_req *dns_start(struct dns *d, const char *name, int type, dns_callback cb,
				 void *arg, int sync, char *err, size_t errlen)
{
	struct dns_req *req;
	size_t len;
	int rc;

	if (!dns_type_ok(type)) {
		snprintf(err, errlen, "dns: type %d is not one dns.h supports", type);
		return NULL;
	}
	if (!dns_name_ok(name, err, errlen))
		return NULL;
	if (dns_ctx_get(d, err, errlen) < 0)
		return NULL;
	req = xcalloc(1, sizeof(*req));
	req->d = d;
	str_copy(req->name, name, sizeof(req->name));
	len = strlen(req->name);
	if (len > 1 && req->name[len - 1] == '.')
		req->name[len - 1] = '\0';
	req->type = type;
	req->cb = cb;
	req->arg = arg;
	req->sync = sync;
	req->deadline = dns_now_ms() + d->timeout_ms;
	/* in the list first: with threads the answer is only read by ub_process, never before */
	dns_list_append(&d->inflight, req);
	rc = ub_resolve_async(d->ctx, req->name, type, DNS_CLASS_IN, req, dns_ub_done, &req->async_id);
	if (rc != 0) {
		dns_list_remove(&d->inflight, req);
		snprintf(err, errlen, "dns: cannot start the lookup of %s: %s", req->name, ub_strerror(rc));
		free(req);
		return NULL;
	}
	return req;
}

/* dns_query - start an asynchronous lookup; see dns.h */
int dns_query(struct dns *d, const char *name, int type, dns_callback cb, void *arg,
	      char *err, size_t errlen)
{
	if (cb == NULL) {
		snprintf(err, errlen, "dns_query: no callback");
		return -1;
	}
	if (dns_start(d, name, type, cb, arg, 0, err, errlen) == NULL)
		return -1;
	dns_timer_arm(d);
	return 0;
}

/* dns_poll_fd - wait up to wait_ms for the answer pipe; 1 readable, 0 not */
static int dns_poll_fd(struct dns *d, long long wait_ms)
{
	struct pollfd pfd = { d->ctx != NULL ? ub_fd(d->ctx) : -1, POLLIN, 0 };
	int n;

	if (wait_ms < 0)
		wait_ms = 0;
	if (wait_ms > 60000)
		wait_ms = 60000;
	n = poll(&pfd, 1, (int) wait_ms);
	if (n < 0 && errno != EINTR)
		msg_warn("dns: poll on the resolver pipe: %s", strerror(errno));
	return n > 0;
}

/* dns_wait - process until nothing is pending or timeout_ms passed; see dns.h */
size_t dns_wait(struct dns *d, int timeout_ms)
{
	long long end = dns_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		long long now, until, first;

		dns_read(d);
		now = dns_now_ms();
		dns_expire(d, now);
		dns_deliver(d);
		if (dns_pending(d) == 0)
			break;
		now = dns_now_ms();
		if (now >= end) {
			dns_expire(d, -1);	/* "timed out", through their callbacks */
			dns_deliver(d);
			break;
		}
		until = end;
		first = dns_next_deadline(d);
		if (first >= 0 && first < until)
			until = first;
		(void) dns_poll_fd(d, until - now);
	}
	dns_timer_arm(d);
	return dns_pending(d);
}

/* dns_lookup - synchronous lookup within dns_timeout; never NULL */
struct dns_answer *dns_lookup(struct dns *d, const char *name, int type)
{
	char err[DNS_WHY_MAX];
	struct dns_answer *a;
	struct dns_req *req;

	req = dns_start(d, name, type, NULL, NULL, 1, err, sizeof(err));
	if (req == NULL) {
		a = dns_answer_fail(name, type, "%s", err);
		return a;
	}
	while (req->answer == NULL) {
		long long now = dns_now_ms();

		if (now >= req->deadline)
			dns_expire(d, now);
		else if (dns_poll_fd(d, req->deadline - now))
			dns_read(d);
	}
	a = req->answer;
	free(req);
	/* answers of other lookups read meanwhile wait for the event loop: wake it */
	dns_timer_arm(d);
	return a;
}

/* dns_event_cb - libevent: the answer pipe is readable, or the timer fired */
static void dns_event_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	dns_process(arg);
}

/* dns_event_detach - remove the events of dns_event_attach */
static void dns_event_detach(struct dns *d)
{
	if (d->ev_read) {
		event_free(d->ev_read);
		d->ev_read = NULL;
	}
	if (d->ev_timer) {
		event_free(d->ev_timer);
		d->ev_timer = NULL;
	}
}

/* dns_events_add - the events of an attached loop, for the context that exists now; 0 or -1 */
static int dns_events_add(struct dns *d)
{
	d->ev_read = event_new(d->base, ub_fd(d->ctx), EV_READ | EV_PERSIST, dns_event_cb, d);
	d->ev_timer = evtimer_new(d->base, dns_event_cb, d);
	if (d->ev_read == NULL || d->ev_timer == NULL || event_add(d->ev_read, NULL) < 0) {
		dns_event_detach(d);
		return -1;
	}
	dns_timer_arm(d);
	return 0;
}

/* dns_event_attach - process answers (and deadlines) from base's loop */
int dns_event_attach(struct dns *d, struct event_base *base)
{
	dns_event_detach(d);
	d->base = base;
	if (d->ctx == NULL)
		return 0;	/* dns_ctx_get adds the events when it makes the context */
	if (dns_events_add(d) < 0) {
		msg_warn("dns_event_attach: cannot add the resolver's events to the event loop");
		d->base = NULL;
		return -1;
	}
	return 0;
}

/* dns_problem - report one configuration problem to probs and/or err */
__attribute__((format(printf, 6, 7)))
static void dns_problem(const struct config *cfg, const char *name, struct config_problems *probs,
			char *err, size_t errlen, const char *fmt, ...)
{
	const struct config_value *v = config_value_find(cfg, name);
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (probs != NULL)
		config_problem_add(probs, v != NULL && v->where != NULL ? v->where : "default", "%s", text);
	if (err != NULL && errlen > 0 && err[0] == '\0')
		snprintf(err, errlen, "%s", text);
}

/* dns_forwarder_ok - "ip" or "ip@port" as ub_ctx_set_fwd takes it */
static int dns_forwarder_ok(const char *fwd)
{
	char host[64];
	unsigned char bin[16];
	const char *at = strchr(fwd, '@');
	size_t hlen = at ? (size_t) (at - fwd) : strlen(fwd);
	long long port;

	if (hlen == 0 || hlen >= sizeof(host))
		return 0;
	memcpy(host, fwd, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, bin) != 1 && inet_pton(AF_INET6, host, bin) != 1)
		return 0;
	return at == NULL || str_to_ll(at + 1, 1, 65535, &port) == 0;
}

/* dns_check - the dns_ parameters; problems to probs and the first to err */
static int dns_check(const struct config *cfg, struct config_problems *probs, char *err, size_t errlen)
{
	const struct params_global *g = &cfg->global;
	int problems = 0;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (g->dns_resolver_config[0] != '\0') {
		if (access(g->dns_resolver_config, R_OK) != 0) {
			dns_problem(cfg, "dns_resolver_config", probs, err, errlen,
				    "dns_resolver_config: cannot read %s: %s", g->dns_resolver_config,
				    strerror(errno));
			problems++;
		}
		return problems;	/* the file decides everything else */
	}
	if (strcmp(g->dns_resolver_mode, "resolv.conf") != 0 &&
	    strcmp(g->dns_resolver_mode, "forward") != 0 &&
	    strcmp(g->dns_resolver_mode, "recursive") != 0) {
		dns_problem(cfg, "dns_resolver_mode", probs, err, errlen,
			    "dns_resolver_mode: '%.60s' is not a resolver mode (expected resolv.conf, "
			    "forward or recursive)", g->dns_resolver_mode);
		problems++;
	}
	if (strcmp(g->dns_resolver_mode, "forward") == 0 && g->dns_forwarders[0] == NULL) {
		dns_problem(cfg, "dns_forwarders", probs, err, errlen,
			    "dns_forwarders: empty, but dns_resolver_mode = forward needs at least one "
			    "resolver address");
		problems++;
	}
	for (size_t i = 0; g->dns_forwarders[i] != NULL; i++) {
		if (!dns_forwarder_ok(g->dns_forwarders[i])) {
			dns_problem(cfg, "dns_forwarders", probs, err, errlen,
				    "dns_forwarders: '%.60s' is not an IP address, optionally with @port "
				    "(1-65535)", g->dns_forwarders[i]);
			problems++;
		}
	}
	if (g->dns_trust_anchor_file[0] != '\0' && access(g->dns_trust_anchor_file, F_OK) == 0 &&
	    access(g->dns_trust_anchor_file, R_OK) != 0) {
		dns_problem(cfg, "dns_trust_anchor_file", probs, err, errlen,
			    "dns_trust_anchor_file: cannot read %s: %s", g->dns_trust_anchor_file,
			    strerror(errno));
		problems++;
	}
	return problems;
}

/* dns_config_check - the dns_ parameters, for "ternctl check"; see dns.h */
int dns_config_check(const struct config *cfg, struct config_problems *probs)
{
	return dns_check(cfg, probs, NULL, 0);
}

/* set once the missing trust anchor file was logged */
static int dns_warned_no_anchor;

/* dns_no_anchor - a missing dns_trust_anchor_file: no validation, said once per process */
static void dns_no_anchor(const struct params_global *g)
{
	if (!dns_warned_no_anchor)
		msg_warn("dns_trust_anchor_file %s: %s: DNSSEC validation is off, every "
			 "answer is insecure (install dns-root-data, or set the parameter)",
			 g->dns_trust_anchor_file, strerror(errno));
	dns_warned_no_anchor = 1;
}

/* dns_setup - give ctx the configured sources of answers; -1 with err */
static int dns_setup(struct ub_ctx *ctx, const struct params_global *g, char *err, size_t errlen)
{
	int rc;

	if (g->dns_resolver_config[0] != '\0') {
		if ((rc = ub_ctx_config(ctx, g->dns_resolver_config)) != 0) {
			snprintf(err, errlen, "dns_resolver_config: %s: %s (unbound.conf(5) syntax expected)",
				 g->dns_resolver_config, ub_strerror(rc));
			return -1;
		}
		return 0;
	}
	if (strcmp(g->dns_resolver_mode, "resolv.conf") == 0) {
		if ((rc = ub_ctx_resolvconf(ctx, "/etc/resolv.conf")) != 0) {
			snprintf(err, errlen, "dns_resolver_mode = resolv.conf: /etc/resolv.conf: %s",
				 rc == UB_READFILE ? strerror(errno) : ub_strerror(rc));
			return -1;
		}
	} else if (strcmp(g->dns_resolver_mode, "forward") == 0) {
		for (size_t i = 0; g->dns_forwarders[i] != NULL; i++) {
			if ((rc = ub_ctx_set_fwd(ctx, g->dns_forwarders[i])) != 0) {
				snprintf(err, errlen, "dns_forwarders: '%.60s': %s", g->dns_forwarders[i],
					 ub_strerror(rc));
				return -1;
			}
		}
	}
	if (g->dns_trust_anchor_file[0] == '\0')
		return 0;
	if (access(g->dns_trust_anchor_file, F_OK) != 0) {
		dns_no_anchor(g);
		return 0;
	}
	if ((rc = ub_ctx_add_ta_file(ctx, g->dns_trust_anchor_file)) != 0) {
		snprintf(err, errlen, "dns_trust_anchor_file: %s: %s", g->dns_trust_anchor_file,
			 ub_strerror(rc));
		return -1;
	}
	return 0;
}

/* dns_ctx_start - a new context, answering through a thread; NULL with err */
static struct ub_ctx *dns_ctx_start(char *err, size_t errlen)
{
	struct ub_ctx *ctx;
	int rc;

	if ((ctx = ub_ctx_create()) == NULL) {
		snprintf(err, errlen, "dns: cannot create a libunbound context: %s", strerror(errno));
		return NULL;
	}
	if ((rc = ub_ctx_async(ctx, 1)) != 0) {
		snprintf(err, errlen, "dns: libunbound without threads: %s", ub_strerror(rc));
		ub_ctx_delete(ctx);
		return NULL;
	}
	return ctx;
}

/* dns_ctx_finalize - read what the context was given now; 0, or -1 with err (ctx deleted) */
static int dns_ctx_finalize(struct ub_ctx *ctx, const char *hint, char *err, size_t errlen)
{
	int rc;

	if ((rc = ub_ctx_data_remove(ctx, DNS_FINALIZE_NAME)) != 0) {
		snprintf(err, errlen, "dns: resolver setup failed: %s (%s)", ub_strerror(rc), hint);
		ub_ctx_delete(ctx);
		return -1;
	}
	return 0;
}

/* dns_ctx_now - the context from the configuration, made and finalized now; NULL with err */
static struct ub_ctx *dns_ctx_now(const struct params_global *g, char *err, size_t errlen)
{
	struct ub_ctx *ctx;

	if ((ctx = dns_ctx_start(err, errlen)) == NULL)
		return NULL;
	if (dns_setup(ctx, g, err, errlen) < 0) {
		ub_ctx_delete(ctx);
		return NULL;
	}
	/* finalize now: reads trust anchors, hints, zones while the files are in reach */
	if (dns_ctx_finalize(ctx, g->dns_resolver_config[0] != '\0' ?
			     "check dns_resolver_config and the files it names" : "check dns_trust_anchor_file",
			     err, errlen) < 0)
		return NULL;
	return ctx;
}

/* dns_ctx_get - the context, made from the plan at the first call; 0, or -1 with err (then and later) */
static int dns_ctx_get(struct dns *d, char *err, size_t errlen)
{
	struct ub_ctx *ctx;
	int rc = 0;

	if (d->ctx != NULL)
		return 0;
	if (d->ctx_error[0] != '\0') {
		snprintf(err, errlen, "%s", d->ctx_error);
		return -1;
	}
	if ((ctx = dns_ctx_start(d->ctx_error, sizeof(d->ctx_error))) == NULL)
		goto fail;
	for (size_t i = 0; rc == 0 && i < d->plan.nfwd; i++)
		if ((rc = ub_ctx_set_fwd(ctx, d->plan.fwd[i])) != 0)
			snprintf(d->ctx_error, sizeof(d->ctx_error), "dns: forwarder '%.60s': %s",
				 d->plan.fwd[i], ub_strerror(rc));
	for (size_t i = 0; rc == 0 && i < d->plan.nta; i++)
		if ((rc = ub_ctx_add_ta(ctx, d->plan.ta[i])) != 0)
			snprintf(d->ctx_error, sizeof(d->ctx_error), "dns_trust_anchor_file: %s", ub_strerror(rc));
	if (rc != 0) {
		ub_ctx_delete(ctx);
		goto fail;
	}
	if (dns_ctx_finalize(ctx, "check dns_trust_anchor_file", d->ctx_error, sizeof(d->ctx_error)) < 0)
		goto fail;
	d->ctx = ctx;
	if (d->base != NULL && dns_events_add(d) < 0) {
		snprintf(d->ctx_error, sizeof(d->ctx_error),
			 "dns: cannot add the resolver's events to the event loop");
		ub_ctx_delete(d->ctx);
		d->ctx = NULL;
		goto fail;
	}
	dns_plan_free(&d->plan);
	return 0;
fail:
	msg_warn("%s; DNS lookups of this process fail", d->ctx_error);
	snprintf(err, errlen, "%s", d->ctx_error);
	return -1;
}

/*
 * dns_plan_read - the files a context made after the chroot needs, into
 * d->plan; 0, or -1 when the context must be made now (a file the plan
 * reader does not take exactly as libunbound would, or one that cannot
 * be read: dns_ctx_now then reports it as it always did)
 */
static int dns_plan_read(struct dns *d, const struct params_global *g)
{
	struct cfgfile_error why;
	char *text;
	size_t len;
	int rc = 0;

	if (strcmp(g->dns_resolver_mode, "resolv.conf") == 0) {
		if (cfgfile_slurp("/etc/resolv.conf", &text, &len, &why) != 0)
			return -1;
		rc = dns_plan_resolvconf(&d->plan, text);
		free(text);
	} else if (strcmp(g->dns_resolver_mode, "forward") == 0) {
		for (size_t i = 0; g->dns_forwarders[i] != NULL; i++)
			dns_plan_add_fwd(&d->plan, g->dns_forwarders[i]);
	}
	if (rc != 0 || g->dns_trust_anchor_file[0] == '\0')
		return rc;
	if (access(g->dns_trust_anchor_file, F_OK) != 0) {
		dns_no_anchor(g);
		return 0;
	}
	if (cfgfile_slurp(g->dns_trust_anchor_file, &text, &len, &why) != 0)
		return -1;
	rc = dns_plan_anchors(&d->plan, text);
	free(text);
	return rc;
}

/* dns_new - a resolver from the global configuration; see dns.h */
struct dns *dns_new(const struct config *cfg, char *err, size_t errlen)
{
	const struct params_global *g = &cfg->global;
	struct dns *d;

	if (dns_check(cfg, NULL, err, errlen) > 0)
		return NULL;
	d = xcalloc(1, sizeof(*d));
	d->timeout_ms = g->dns_timeout * 1000;
	if (g->dns_resolver_config[0] == '\0' && dns_plan_read(d, g) == 0)
		return d;	/* the first lookup makes the context */
	dns_plan_free(&d->plan);
	if ((d->ctx = dns_ctx_now(g, err, errlen)) == NULL) {
		free(d);
		return NULL;
	}
	return d;
}

/* dns_free - stop the resolver; callbacks of pending lookups never run */
void dns_free(struct dns *d)
{
	struct dns_req *r;

	if (d == NULL)
		return;
	dns_event_detach(d);
	if (d->ctx != NULL)
		ub_ctx_delete(d->ctx);	/* stops the resolver thread; late answers are dropped */
	dns_plan_free(&d->plan);
	while ((r = d->inflight.head) != NULL) {
		dns_list_remove(&d->inflight, r);
		free(r);
	}
	while ((r = d->ready.head) != NULL) {
		dns_list_remove(&d->ready, r);
		dns_answer_free(r->answer);
		free(r);
	}
	free(d);
}
