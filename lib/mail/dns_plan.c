/*
 * dns_plan - what a libunbound context is made from when dns.c makes it
 * only at the first lookup, after the chroot: the files it needs are read
 * before (in dns_new, as root) into a struct dns_plan (dns_int.h) of
 * forwarder addresses and trust anchor records, which then go to
 * ub_ctx_set_fwd and ub_ctx_add_ta one by one.
 *
 * Only what can be read here exactly as libunbound would read it is
 * taken; anything else makes the reader return -1 and dns_new makes the
 * context at once, before the chroot, as it always did:
 *   - resolv.conf: libunbound's own rule (ub_ctx_resolvconf): a line
 *     whose first word starts with "nameserver" gives the address made
 *     of the hex digits, dots and colons after it; no such line means
 *     127.0.0.1. An address that is not plain IPv4 or IPv6 is not ours
 *     to judge (-1: libunbound reports it as before).
 *   - trust anchor file: one resource record per line, or one record
 *     spread over lines inside parentheses; ';' starts a comment. $
 *     directives, '@', quoted text and lines that start with white space
 *     outside parentheses (the previous owner name) are zone file syntax
 *     this reader does not do (-1). The records themselves are checked by
 *     libunbound when the context is made.
 *
 * Limits: the text comes from cfgfile_slurp (at most CFGFILE_FILE_MAX
 * bytes); a record is at most DNS_PLAN_RR_MAX bytes (longer: -1).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "mail/dns_int.h"

#define DNS_PLAN_RESOLV_LINE	1023	/* libunbound reads resolv.conf lines into 1024 bytes */
#define DNS_PLAN_RR_MAX		(64 * 1024)

/* dns_plan_push - append a copy of s[len] to the vector *v of *n strings */
static void dns_plan_push(char ***v, size_t *n, const char *s, size_t len)
{
	*v = xreallocarray(*v, *n + 1, sizeof(**v));
	(*v)[*n] = xstrndup(s, len);
	(*n)++;
}

/* dns_plan_add_fwd - one forwarder, "ip" or "ip@port" */
void dns_plan_add_fwd(struct dns_plan *p, const char *addr)
{
	dns_plan_push(&p->fwd, &p->nfwd, addr, strlen(addr));
}

/* dns_plan_address_ok - plain IPv4 or IPv6, as ub_ctx_set_fwd takes it without a port */
static bool dns_plan_address_ok(const char *addr)
{
	unsigned char bin[16];

	return inet_pton(AF_INET, addr, bin) == 1 || inet_pton(AF_INET6, addr, bin) == 1;
}

/* dns_plan_resolvconf - the nameservers of resolv.conf text; see dns_int.h */
int dns_plan_resolvconf(struct dns_plan *p, const char *text)
{
	const char *line = text;
	size_t found = 0;

	while (*line != '\0') {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t) (end - line) : strlen(line);
		char buf[DNS_PLAN_RESOLV_LINE + 1], *s, *addr;

		/* a longer line is read in pieces by libunbound: each piece is a line to it */
		if (len > DNS_PLAN_RESOLV_LINE)
			return -1;
		memcpy(buf, line, len);
		buf[len] = '\0';
		line += len + (end ? 1 : 0);
		for (s = buf; *s == ' ' || *s == '\t'; s++)
			;
		if (strncmp(s, "nameserver", 10) != 0)
			continue;
		for (s += 10; *s == ' ' || *s == '\t'; s++)
			;
		for (addr = s; isxdigit((unsigned char) *s) || *s == '.' || *s == ':'; s++)
			;
		*s = '\0';
		if (!dns_plan_address_ok(addr))
			return -1;
		dns_plan_add_fwd(p, addr);
		found++;
	}
	if (found == 0)
		dns_plan_add_fwd(p, "127.0.0.1");
	return 0;
}

/* dns_plan_anchor_end - one record collected in rr: keep it (blank: nothing), empty rr */
static void dns_plan_anchor_end(struct dns_plan *p, struct buf *rr)
{
	size_t start = 0, len = rr->len;

	while (start < len && isspace((unsigned char) rr->data[start]))
		start++;
	while (len > start && isspace((unsigned char) rr->data[len - 1]))
		len--;
	if (len > start)
		dns_plan_push(&p->ta, &p->nta, rr->data + start, len - start);
	buf_reset(rr);
}

/* dns_plan_anchor_start - may a record start at s (a line outside parentheses)? */
static bool dns_plan_anchor_start(const char *s)
{
	if (*s == '$' || *s == '@')
		return false;	/* directives, the origin: zone file syntax we do not do */
	if (*s != ' ' && *s != '\t')
		return true;
	/* white space first: a blank or comment line, or the previous owner name again */
	while (*s == ' ' || *s == '\t' || *s == '\r')
		s++;
	return *s == '\n' || *s == '\0' || *s == ';';
}

/* dns_plan_anchors - trust anchor file text as records; see dns_int.h */
int dns_plan_anchors(struct dns_plan *p, const char *text)
{
	struct buf rr;
	int depth = 0, ret = 0;

	buf_init(&rr, DNS_PLAN_RR_MAX);
	for (const char *s = text; ret == 0 && *s != '\0'; s++) {
		unsigned char c = (unsigned char) *s;

		if ((s == text || s[-1] == '\n') && depth == 0 && !dns_plan_anchor_start(s)) {
			ret = -1;
		} else if (c == ';') {
			while (s[1] != '\0' && s[1] != '\n')
				s++;
		} else if (c == '"') {
			ret = -1;
		} else if (c == '(' || c == ')') {
			depth += c == '(' ? 1 : -1;
			ret = depth < 0 ? -1 : buf_putc(&rr, ' ');
		} else if (c == '\n' && depth == 0) {
			dns_plan_anchor_end(p, &rr);
		} else {
			ret = buf_putc(&rr, isspace(c) ? ' ' : (char) c);
		}
	}
	if (ret == 0 && depth != 0)
		ret = -1;
	if (ret == 0)
		dns_plan_anchor_end(p, &rr);
	buf_free(&rr);
	return ret < 0 ? -1 : 0;
}

/* dns_plan_free - release the plan; it is empty after */
void dns_plan_free(struct dns_plan *p)
{
	for (size_t i = 0; i < p->nfwd; i++)
		free(p->fwd[i]);
	for (size_t i = 0; i < p->nta; i++)
		free(p->ta[i]);
	free(p->fwd);
	free(p->ta);
	memset(p, 0, sizeof(*p));
}
