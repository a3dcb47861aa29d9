/*
 * smtp_route - from a next hop to the hosts and addresses to try
 * (RFC 5321 section 5.1, RFC 7505).
 *
 * Next hops (qmgr passes them from relayhost or transport_maps):
 *   domain, domain:port   MX lookup; MX hosts by preference, random among
 *                         equals; no MX records (NODATA): the domain's own
 *                         A/AAAA (implicit MX); only "MX 0 .": null MX,
 *                         every recipient bounces 5.1.10 at once; "." mixed
 *                         with real hosts is ignored
 *   [host], [host]:port   no MX lookup: the host's A/AAAA, or the literal
 *   [127.0.0.2], [IPv6:::1]:2525   IP literals
 *   LMTP: unix:/path, inet:host:port, inet:[host]:port, host:port (port 24
 *   when none)
 * The A and AAAA lookups of all MX hosts run at once (dns_query + dns_wait).
 *
 * Failures: a temporary DNS failure, bogus (DNSSEC) answers included,
 * defers with 4.4.3 and libunbound's reason; a domain that does not
 * exist bounces 5.1.2; MX hosts none of which has an address bounce
 * 5.4.4 (deferred when any lookup failed only for now).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "smtp.h"

#define SMTP_DNS_WAIT_MS	60000

/* smtp_addr_cb - collects one A or AAAA answer into a host */
struct smtp_addr_cb {
	struct smtp_host *h;
	bool tempfail;
	bool done;
	bool literal;			/* [host]: the address answer decides "secure" */
	char why[DNS_WHY_MAX];
};

/* smtp_route_addr_text - printable address */
void smtp_route_addr_text(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	if (ss->ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *) ss)->sin6_addr, buf, (socklen_t) size);
	else
		inet_ntop(AF_INET, &((const struct sockaddr_in *) ss)->sin_addr, buf, (socklen_t) size);
}

/* smtp_host_add_v4 - append an IPv4 address */
static void smtp_host_add_v4(struct smtp_host *h, const struct in_addr *a)
{
	struct sockaddr_in *sin;

	if (h->naddr >= SMTP_ADDRS_MAX)
		return;
	sin = (struct sockaddr_in *) &h->addr[h->naddr++];
	memset(sin, 0, sizeof(h->addr[0]));
	sin->sin_family = AF_INET;
	sin->sin_addr = *a;
	sin->sin_port = htons((uint16_t) h->port);
}

/* smtp_host_add_v6 - append an IPv6 address */
static void smtp_host_add_v6(struct smtp_host *h, const struct in6_addr *a)
{
	struct sockaddr_in6 *sin6;

	if (h->naddr >= SMTP_ADDRS_MAX)
		return;
	sin6 = (struct sockaddr_in6 *) &h->addr[h->naddr++];
	memset(sin6, 0, sizeof(h->addr[0]));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = *a;
	sin6->sin6_port = htons((uint16_t) h->port);
}

/* smtp_literal - an IP literal ("127.0.0.2", "IPv6:::1", "::1") into h; true when it was one */
static bool smtp_literal(struct smtp_host *h, const char *s)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, s, &a4) == 1) {
		smtp_host_add_v4(h, &a4);
		return true;
	}
	if (str_has_prefix_nocase(s, "IPv6:"))
		s += 5;
	if (inet_pton(AF_INET6, s, &a6) == 1) {
		smtp_host_add_v6(h, &a6);
		return true;
	}
	return false;
}

/* smtp_route_add - a new host */
static struct smtp_host *smtp_route_add(struct smtp_route *rt, const char *name, unsigned pref,
					bool secure, unsigned port)
{
	struct smtp_host *h;

	rt->host = xreallocarray(rt->host, rt->nhost + 1, sizeof(*rt->host));
	h = &rt->host[rt->nhost++];
	memset(h, 0, sizeof(*h));
	str_copy(h->name, name, sizeof(h->name));
	h->pref = pref;
	h->secure = secure;
	h->port = port;
	return h;
}

/* smtp_addr_answer - dns_query callback for A/AAAA */
static void smtp_addr_answer(void *arg, struct dns_answer *ans)
{
	struct smtp_addr_cb *cb = arg;

	cb->done = true;
	if (ans->status == DNS_OK) {
		for (size_t i = 0; i < ans->n; i++) {
			if (ans->rr[i].type == DNS_T_A)
				smtp_host_add_v4(cb->h, &ans->rr[i].u.a);
			else if (ans->rr[i].type == DNS_T_AAAA)
				smtp_host_add_v6(cb->h, &ans->rr[i].u.aaaa);
		}
		if (cb->literal && ans->security != DNS_SECURE)
			cb->h->secure = false;
	} else if (ans->status == DNS_TEMPFAIL) {
		cb->tempfail = true;
		str_fmt(cb->why, sizeof(cb->why), "%s%s", ans->security == DNS_BOGUS ? "DNSSEC validation failed: " : "",
			ans->why[0] ? ans->why : "temporary failure");
	}
	dns_answer_free(ans);
}

/* smtp_route_addrs - A and AAAA of every host at once; false when no host has an address */
static bool smtp_route_addrs(struct smtp_agent *a, struct smtp_route *rt, bool *tempfail, char *why,
			     size_t whylen)
{
	size_t n = rt->nhost * 2;
	struct smtp_addr_cb *cb = xcalloc(n, sizeof(*cb));
	char err[256];
	bool any = false;

	*tempfail = false;
	for (size_t i = 0; i < rt->nhost; i++) {
		struct smtp_host *h = &rt->host[i];

		cb[2 * i].h = cb[2 * i + 1].h = h;
		cb[2 * i].literal = cb[2 * i + 1].literal = rt->literal;
		if (rt->literal)
			h->secure = true;
		if (smtp_literal(h, h->name)) {
			cb[2 * i].done = cb[2 * i + 1].done = true;
			continue;
		}
		if (dns_query(a->dns, h->name, DNS_T_A, smtp_addr_answer, &cb[2 * i], err, sizeof(err)) != 0) {
			cb[2 * i].done = cb[2 * i].tempfail = true;
			str_copy(cb[2 * i].why, err, sizeof(cb[0].why));
		}
		if (dns_query(a->dns, h->name, DNS_T_AAAA, smtp_addr_answer, &cb[2 * i + 1], err, sizeof(err)) != 0) {
			cb[2 * i + 1].done = cb[2 * i + 1].tempfail = true;
			str_copy(cb[2 * i + 1].why, err, sizeof(cb[0].why));
		}
	}
	(void) dns_wait(a->dns, SMTP_DNS_WAIT_MS);
	for (size_t i = 0; i < rt->nhost; i++) {
		struct smtp_host *h = &rt->host[i];

		if (h->naddr > 0) {
			any = true;
			continue;
		}
		for (size_t k = 2 * i; k < 2 * i + 2; k++)
			if (cb[k].tempfail) {
				*tempfail = true;
				str_fmt(h->why, sizeof(h->why), "Host name lookup failed for %s: %s", h->name, cb[k].why);
				str_copy(why, h->why, whylen);
			}
		if (h->why[0] == '\0') {
			str_fmt(h->why, sizeof(h->why), "Host or domain name not found: %s has no address", h->name);
			if (!*tempfail)
				str_copy(why, h->why, whylen);
		}
	}
	free(cb);
	return any;
}

/* smtp_mx_cmp - by preference */
static int smtp_mx_cmp(const void *x, const void *y)
{
	const struct smtp_host *a = x, *b = y;

	return a->pref < b->pref ? -1 : a->pref > b->pref;
}

/* smtp_route_shuffle - random order among hosts of equal preference */
static void smtp_route_shuffle(struct smtp_route *rt)
{
	if (rt->nhost < 2)
		return;
	qsort(rt->host, rt->nhost, sizeof(*rt->host), smtp_mx_cmp);
	for (size_t i = 0; i < rt->nhost; ) {
		size_t j = i;

		while (j < rt->nhost && rt->host[j].pref == rt->host[i].pref)
			j++;
		for (size_t k = j - 1; k > i; k--) {
			size_t r = i + (size_t) random() % (k - i + 1);
			struct smtp_host t = rt->host[k];

			rt->host[k] = rt->host[r];
			rt->host[r] = t;
		}
		i = j;
	}
}

static int smtp_route_self(struct smtp_agent *a, struct smtp_route *rt, struct deliver_out *out);

/* smtp_route_mx - MX lookup of domain; 0 or -1 with out */
static int smtp_route_mx(struct smtp_agent *a, struct smtp_route *rt, unsigned port,
			 struct deliver_out *out)
{
	struct dns_answer *ans = dns_lookup(a->dns, rt->domain, DNS_T_MX);
	bool secure = ans->security == DNS_SECURE, nullmx = false;
	int ret = 0;

	switch (ans->status) {
	case DNS_TEMPFAIL:
		deliver_set(out, DELIVER_DEFER, "4.4.3", "Host or domain name lookup failed for %s (MX): %s%s",
			    rt->domain, ans->security == DNS_BOGUS ? "DNSSEC validation failed (bogus): " : "",
			    ans->why[0] ? ans->why : "temporary failure");
		ret = -1;
		break;
	case DNS_NXDOMAIN:
		deliver_set(out, DELIVER_BOUNCE, "5.1.2", "Host or domain name not found. "
			    "Name service error for name=%s type=MX: Host not found", rt->domain);
		ret = -1;
		break;
	case DNS_NODATA:
		smtp_route_add(rt, rt->domain, 0, secure, port);
		break;
	case DNS_OK:
		for (size_t i = 0; i < ans->n && rt->nhost < SMTP_HOSTS_MAX; i++) {
			if (ans->rr[i].type != DNS_T_MX)
				continue;
			if (ans->rr[i].u.mx.host[0] == '\0') {
				nullmx = true;
				continue;
			}
			smtp_route_add(rt, ans->rr[i].u.mx.host, ans->rr[i].u.mx.pref, secure, port);
		}
		if (rt->nhost == 0 && nullmx) {
			deliver_set(out, DELIVER_BOUNCE, "5.1.10", "Domain %s does not accept mail (nullMX)",
				    rt->domain);
			ret = -1;
		} else if (rt->nhost == 0) {
			smtp_route_add(rt, rt->domain, 0, secure, port);
		}
		smtp_route_shuffle(rt);
		if (ret == 0)
			ret = smtp_route_self(a, rt, out);
		break;
	}
	dns_answer_free(ans);
	return ret;
}

/*
 * smtp_route_self - RFC 5321 section 5.1: when this host (myhostname) is
 * one of the MX hosts, it and every host of the same or a higher
 * preference are dropped; -1 (with out set) when nothing is left, which
 * means the mail loops back to us (a configuration error: bounce 5.4.6,
 * as Postfix does).
 */
static int smtp_route_self(struct smtp_agent *a, struct smtp_route *rt, struct deliver_out *out)
{
	char self[DNS_NAME_MAX + 1];
	size_t keep = rt->nhost;

	if (a->g->myhostname[0] != '\0')
		str_copy(self, a->g->myhostname, sizeof(self));
	else if (gethostname(self, sizeof(self)) != 0)
		return 0;
	self[sizeof(self) - 1] = '\0';
	for (size_t i = 0; i < rt->nhost; i++)
		if (strcasecmp(rt->host[i].name, self) == 0) {
			while (keep > 0 && rt->host[keep - 1].pref >= rt->host[i].pref)
				keep--;
			break;
		}
	if (keep == rt->nhost)
		return 0;
	rt->nhost = keep;
	if (keep > 0)
		return 0;
	deliver_set(out, DELIVER_BOUNCE, "5.4.6", "mail for %s loops back to myself (%s is the best MX host)",
		    rt->domain, self);
	return -1;
}

/* smtp_hostport - "host", "host:port", "[host]", "[host]:port" into host, port, bracketed */
static int smtp_hostport(const char *s, char *host, size_t hostlen, unsigned *port, bool *bracket)
{
	const char *colon = NULL;
	long long v;

	*bracket = false;
	if (*s == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || (size_t) (end - s - 1) >= hostlen || end == s + 1)
			return -1;
		memcpy(host, s + 1, (size_t) (end - s - 1));
		host[end - s - 1] = '\0';
		*bracket = true;
		if (end[1] == ':')
			colon = end + 1;
		else if (end[1] != '\0')
			return -1;
	} else {
		colon = strrchr(s, ':');
		if (colon != NULL && strchr(s, ':') != colon)
			colon = NULL;	/* a bare IPv6 address */
		if (str_copy(host, s, hostlen) != 0)
			return -1;
		if (colon != NULL)
			host[colon - s] = '\0';
		if (host[0] == '\0')
			return -1;
	}
	if (colon != NULL) {
		if (str_to_ll(colon + 1, 1, 65535, &v) != 0)
			return -1;
		*port = (unsigned) v;
	}
	return 0;
}

/* smtp_route_resolve - see smtp.h */
int smtp_route_resolve(struct smtp_agent *a, const char *nexthop, struct smtp_route *rt,
		       struct deliver_out *out)
{
	char host[DNS_NAME_MAX + 1], why[SMTP_TEXT_MAX] = "";
	unsigned port = a->lmtp ? LMTP_PORT : SMTP_PORT;
	bool bracket, tempfail;
	const char *hp = nexthop;

	memset(rt, 0, sizeof(*rt));
	if (a->lmtp && str_has_prefix(nexthop, "unix:")) {
		if (str_copy(rt->unix_path, nexthop + 5, sizeof(rt->unix_path)) != 0 || rt->unix_path[0] == '\0')
			return deliver_set(out, DELIVER_DEFER, "4.3.5", "bad LMTP next hop \"%s\"", nexthop);
		rt->literal = true;
		return 0;
	}
	if (a->lmtp && str_has_prefix(nexthop, "inet:"))
		hp = nexthop + 5;
	if (smtp_hostport(hp, host, sizeof(host), &port, &bracket) != 0)
		return deliver_set(out, DELIVER_DEFER, "4.3.5", "bad next hop \"%s\"", nexthop);
	str_copy(rt->domain, host, sizeof(rt->domain));
	str_lower(rt->domain);
	rt->literal = bracket || a->lmtp;
	if (rt->literal) {
		struct smtp_host *h = smtp_route_add(rt, host, 0, false, port);

		if (smtp_literal(h, host))
			return 0;
	}
	if (a->dns == NULL)
		return deliver_set(out, DELIVER_DEFER, "4.4.3", "DNS is not available: %s", a->dns_err);
	if (!rt->literal && smtp_route_mx(a, rt, port, out) != 0)
		return -1;
	if (!smtp_route_addrs(a, rt, &tempfail, why, sizeof(why))) {
		if (tempfail)
			return deliver_set(out, DELIVER_DEFER, "4.4.3", "%s", why);
		return deliver_set(out, DELIVER_BOUNCE, "5.4.4", "%s", why);
	}
	return 0;
}

/* smtp_route_free - release the hosts */
void smtp_route_free(struct smtp_route *rt)
{
	free(rt->host);
	rt->host = NULL;
	rt->nhost = 0;
}
