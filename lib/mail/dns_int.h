/*
 * dns_int - what dns.c and dns_parse.c share, and the unit test uses:
 * the bounded DNS wire parser that turns an answer packet into struct
 * dns_rr records. Nobody else includes this header.
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

#endif
