/*
 * dns_int - what dns.c, dns_parse.c and dns_plan.c share, and the unit
 * test uses: the bounded DNS wire parser that turns an answer packet into
 * struct dns_rr records, and the reader of the files a resolver context
 * made after the chroot needs. Nobody else includes this header.
 *
 * The parser trusts nothing in the packet: every count, length and
 * compression pointer is checked against the packet's end; pointers must
 * point backwards (no loops); a name is at most 255 octets on the wire.
 * Presentation names are lower case, without the final dot ("" is the
 * root), and octets other than letters, digits, '-', '_' and '*' are
 * written as \DDD, so a name never holds a '.' that is not a separator.
 */
#ifndef TERN_MAIL_DNS_INT_H
#define TERN_MAIL_DNS_INT_H

#include <stddef.h>
#include <stdint.h>

#include "mail/dns.h"

#define DNS_WIRE_NAME_MAX	255	/* octets of a name on the wire */
#define DNS_CNAME_CHAIN_MAX	16	/* CNAMEs followed inside one answer */

/*
 * dns_wire_name - read the (possibly compressed) name at *off of
 * pkt[len] into out[outlen] as presentation text; *off moves past the
 * name as it appears at *off. 0, or -1 when malformed or out is too small.
 */
int dns_wire_name(const uint8_t *pkt, size_t len, size_t *off, char *out, size_t outlen);

/*
 * dns_parse_records - the records of type a->type for the question name
 * of pkt[len], following CNAMEs in the answer section; fills a->rr,
 * a->n and a->canon (the name after CNAMEs). TXT records longer than
 * DNS_TXT_MAX - 1 octets or holding a NUL octet are left out (counted in
 * *skipped). Returns 0, or -1 with why[whylen] when the packet is
 * malformed (a->n is then 0 and nothing is allocated).
 */
int dns_parse_records(const uint8_t *pkt, size_t len, struct dns_answer *a, size_t *skipped,
		      char *why, size_t whylen);

/* dns_type_name - "MX", "TLSA", ... or "TYPE<n>" in buf for others */
const char *dns_type_name(int type, char *buf, size_t buflen);

/* dns_rr_free - release what the records of one answer own (not a->rr itself) */
void dns_rr_free(struct dns_rr *rr, size_t n);

/*
 * dns_plan - what dns.c makes its libunbound context from when it makes
 * it only at the first lookup, after the chroot (dns_plan.c): the files
 * are read before, in dns_new. fwd: forwarders for ub_ctx_set_fwd ("ip"
 * or "ip@port"); ta: trust anchor records for ub_ctx_add_ta, one
 * resource record each on one line.
 */
struct dns_plan {
	char **fwd;
	size_t nfwd;
	char **ta;
	size_t nta;
};

/* dns_plan_add_fwd - one forwarder */
void dns_plan_add_fwd(struct dns_plan *p, const char *addr);
/*
 * dns_plan_resolvconf - the nameservers of resolv.conf text as
 * ub_ctx_resolvconf would take them (127.0.0.1 when none); 0, or -1 when
 * a line is longer than libunbound reads at once or an address is not
 * plain IPv4/IPv6 (the caller then leaves the file to libunbound)
 */
int dns_plan_resolvconf(struct dns_plan *p, const char *text);
/*
 * dns_plan_anchors - the records of trust anchor file text; 0, or -1
 * when it uses zone file syntax beyond one record per line or per
 * parenthesised group ($ directives, '@', quotes, owner continuation
 * lines, unbalanced parentheses, a record over 64 KB): the caller then
 * leaves the file to libunbound
 */
int dns_plan_anchors(struct dns_plan *p, const char *text);
/* dns_plan_free - release what the plan holds; it is empty after */
void dns_plan_free(struct dns_plan *p);

#endif
