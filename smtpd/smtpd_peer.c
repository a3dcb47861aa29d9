/*
 * smtpd_peer - the client's name, looked up before the greeting the way
 * Postfix does it: the PTR record of the address gives a name, and the
 * name counts only when its A (IPv4) or AAAA (IPv6) records include the
 * address again (forward-confirmed); otherwise the client is "unknown".
 * The name appears in the log ("connect from name[addr]"), in the
 * Received: header (through cleanup) and in smtpd_client_access lookups.
 *
 * The lookups run on smtpd's event loop through lib/mail/dns.h
 * (libunbound, dns_event_attach): a session waits in SMTPD_IN_LOOKUP,
 * reading and writing nothing, while other sessions go on. A timer of
 * smtpd_peername_timeout bounds the wait whatever the resolver does (the
 * resolver's own dns_timeout is longer): when it fires the client is
 * "unknown" and the session goes on; answers that come later find the
 * lookup orphaned and are dropped. The lookup record is freed when it is
 * both orphaned (finished, timed out or its session closed) and has no
 * query pending, because libunbound offers no cancel per query.
 *
 * Not looked up: 127.0.0.1 and ::1, the host itself (local programs
 * submitting over SMTP): their name would be whatever the local resolver
 * makes up for them, and asking costs every local submission a round
 * trip, which on a machine without a reachable resolver is the whole
 * timeout. They stay "unknown", as every client does with
 * smtpd_peername_lookup = no or when no resolver could be made.
 *
 * Bounds: a name is at most DNS_NAME_MAX octets of letters, digits, '-',
 * '_' and '.', without empty labels; anything else in a PTR record is
 * ignored (it would end up in headers and logs).
 *
 * Failures: a resolver that cannot be made (dns_new) is a warning at
 * start-up and turns lookups off for the process; a lookup that cannot
 * start, times out or fails leaves the client "unknown"; a PTR name that
 * does not resolve back to the address is logged as a warning.
 */
#include <arpa/inet.h>
#include <string.h>

#include <event2/event.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/dns.h"
#include "mail/service.h"
#include "smtpd.h"

/* smtpd_lookup - one client name lookup */
struct smtpd_lookup {
	struct smtpd_session *s;	/* NULL once orphaned */
	struct event *timer;		/* smtpd_peername_timeout */
	int pending;			/* queries whose callback has not run */
	char name[DNS_NAME_MAX + 1];	/* the PTR name being confirmed */
};

/* smtpd_peer_init - pre_jail: the resolver, attached to the event loop */
void smtpd_peer_init(struct smtpd_server *srv)
{
	char err[DNS_WHY_MAX + 256];

	if (!srv->p->smtpd_peername_lookup)
		return;
	srv->dns = dns_new(service_config(srv->svc), err, sizeof(err));
	if (srv->dns == NULL) {
		msg_warn("client name lookups are off: %s", err);
		return;
	}
	if (dns_event_attach(srv->dns, srv->base) < 0) {
		msg_warn("client name lookups are off: the resolver cannot join the event loop");
		dns_free(srv->dns);
		srv->dns = NULL;
	}
}

/* smtpd_peer_self - 127.0.0.1 or ::1: the host itself, not looked up */
static bool smtpd_peer_self(const char *addr)
{
	return strcmp(addr, "127.0.0.1") == 0 || strcmp(addr, "::1") == 0;
}

/* smtpd_peer_name_ok - a host name fit for logs and headers */
static bool smtpd_peer_name_ok(const char *name)
{
	size_t len = strlen(name), label = 0;

	if (len == 0 || len > DNS_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) name[i];

		if (c == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '_'))
			return false;
		label++;
	}
	return label > 0;
}

/* smtpd_lookup_release - drop a query's claim; free an orphaned record with none pending */
static void smtpd_lookup_release(struct smtpd_lookup *l)
{
	if (l->s == NULL && l->pending == 0)
		free(l);
}

/* smtpd_lookup_finish - the verdict: name (or "unknown"), then the session goes on */
static void smtpd_lookup_finish(struct smtpd_lookup *l, const char *name)
{
	struct smtpd_session *s = l->s;

	event_free(l->timer);
	l->timer = NULL;
	l->s = NULL;
	s->lookup = NULL;
	str_copy(s->name, name, sizeof(s->name));
	smtpd_lookup_release(l);
	smtpd_session_start(s);
}

/* smtpd_lookup_timer_cb - no verdict in time: unknown */
static void smtpd_lookup_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_lookup *l = arg;

	(void) fd;
	(void) what;
	msg_info("client name lookup for %s: no answer within %llds; using \"unknown\"", l->s->addr,
		 (long long) l->s->srv->p->smtpd_peername_timeout);
	smtpd_lookup_finish(l, "unknown");
}

/* smtpd_lookup_forward_cb - A/AAAA of the PTR name: does it hold the address */
static void smtpd_lookup_forward_cb(void *arg, struct dns_answer *answer)
{
	struct smtpd_lookup *l = arg;
	struct smtpd_session *s = l->s;
	unsigned char want[sizeof(struct in6_addr)];
	bool v6, match = false;

	l->pending--;
	if (s == NULL) {
		dns_answer_free(answer);
		smtpd_lookup_release(l);
		return;
	}
	v6 = strchr(s->addr, ':') != NULL;
	if (inet_pton(v6 ? AF_INET6 : AF_INET, s->addr, want) == 1 && answer->status == DNS_OK) {
		for (size_t i = 0; i < answer->n && !match; i++) {
			const struct dns_rr *rr = &answer->rr[i];

			if (!v6 && rr->type == DNS_T_A)
				match = memcmp(&rr->u.a, want, sizeof(rr->u.a)) == 0;
			else if (v6 && rr->type == DNS_T_AAAA)
				match = memcmp(&rr->u.aaaa, want, sizeof(rr->u.aaaa)) == 0;
		}
	}
	if (!match) {
		if (answer->status == DNS_TEMPFAIL)
			msg_warn("%s: hostname %s verification failed: %s", s->addr, l->name,
				 answer->why[0] ? answer->why : "temporary failure");
		else
			msg_warn("hostname %s does not resolve to address %s", l->name, s->addr);
	}
	dns_answer_free(answer);
	smtpd_lookup_finish(l, match ? l->name : "unknown");
}

/* smtpd_lookup_ptr_cb - the PTR answer: confirm its first usable name */
static void smtpd_lookup_ptr_cb(void *arg, struct dns_answer *answer)
{
	struct smtpd_lookup *l = arg;
	struct smtpd_session *s = l->s;
	char err[DNS_WHY_MAX];

	l->pending--;
	if (s == NULL) {
		dns_answer_free(answer);
		smtpd_lookup_release(l);
		return;
	}
	for (size_t i = 0; answer->status == DNS_OK && i < answer->n && l->name[0] == '\0'; i++) {
		const struct dns_rr *rr = &answer->rr[i];

		if (rr->type == DNS_T_PTR && smtpd_peer_name_ok(rr->u.ptr)) {
			str_copy(l->name, rr->u.ptr, sizeof(l->name));
			str_lower(l->name);
		}
	}
	if (answer->status == DNS_OK && l->name[0] == '\0')
		msg_warn("%s: no usable host name in its PTR records", s->addr);
	dns_answer_free(answer);
	if (l->name[0] == '\0') {
		smtpd_lookup_finish(l, "unknown");
		return;
	}
	if (dns_query(s->srv->dns, l->name, strchr(s->addr, ':') ? DNS_T_AAAA : DNS_T_A,
		      smtpd_lookup_forward_cb, l, err, sizeof(err)) < 0) {
		msg_warn("%s: cannot look up %s: %s", s->addr, l->name, err);
		smtpd_lookup_finish(l, "unknown");
		return;
	}
	l->pending++;
}

/* smtpd_peer_lookup - start the lookup, or go on at once */
void smtpd_peer_lookup(struct smtpd_session *s)
{
	struct smtpd_server *srv = s->srv;
	struct timeval tv = {(time_t) srv->p->smtpd_peername_timeout, 0};
	char qname[DNS_NAME_MAX + 1];
	char err[DNS_WHY_MAX];
	struct smtpd_lookup *l;

	str_copy(s->name, "unknown", sizeof(s->name));
	if (srv->dns == NULL || smtpd_peer_self(s->addr) || dns_ptr_name(s->addr, qname, sizeof(qname)) < 0) {
		smtpd_session_start(s);
		return;
	}
	l = xcalloc(1, sizeof(*l));
	if (dns_query(srv->dns, qname, DNS_T_PTR, smtpd_lookup_ptr_cb, l, err, sizeof(err)) < 0) {
		msg_warn("%s: cannot look up its name: %s", s->addr, err);
		free(l);
		smtpd_session_start(s);
		return;
	}
	l->pending = 1;
	l->s = s;
	l->timer = evtimer_new(srv->base, smtpd_lookup_timer_cb, l);
	if (l->timer == NULL || evtimer_add(l->timer, &tv) < 0)
		msg_fatal("smtpd_peer_lookup: cannot set a timer");
	s->lookup = l;
	s->input = SMTPD_IN_LOOKUP;
}

/* smtpd_peer_session_end - the session closes during its lookup: orphan it */
void smtpd_peer_session_end(struct smtpd_session *s)
{
	struct smtpd_lookup *l = s->lookup;

	if (l == NULL)
		return;
	s->lookup = NULL;
	if (l->timer != NULL)
		event_free(l->timer);
	l->timer = NULL;
	l->s = NULL;
	smtpd_lookup_release(l);
}
