/*
 * dns_parse - the pure half of the dns module: a bounded DNS wire parser
 * for answer packets (RFC 1035 section 4), reverse-lookup names, type
 * names. No libunbound here, so the unit test can feed it canned packets.
 *
 * Contract (dns_int.h): nothing is read outside pkt[0..len); a name is
 * at most 255 wire octets; compression pointers must point before the
 * place they are read from, which rules out loops; every RDATA is parsed
 * inside its RDLENGTH and must fill it exactly (a MX whose name runs past
 * or stops short of its RDLENGTH is malformed). A malformed packet gives
 * -1 and a why text; the caller turns that into DNS_TEMPFAIL.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "base/str.h"
#include "mail/dns.h"
#include "mail/dns_int.h"

#define DNS_HDR_LEN		12
#define DNS_CLASS_IN		1
#define DNS_T_CNAME		5
#define DNS_PTR_HOPS_MAX	128	/* compression pointers followed in one name */

/* dns_rr_loc - where one answer-section record sits in the packet */
struct dns_rr_loc {
	char owner[DNS_NAME_MAX + 1];
	int type;
	int klass;
	uint32_t ttl;
	size_t rdata;			/* offset of the RDATA */
	size_t rdlen;
};

/* dns_get16 - big-endian 16 bits at off; caller checked the bounds */
static unsigned dns_get16(const uint8_t *p, size_t off)
{
	return (unsigned) p[off] << 8 | p[off + 1];
}

/* dns_get32 - big-endian 32 bits at off; caller checked the bounds */
static uint32_t dns_get32(const uint8_t *p, size_t off)
{
	return (uint32_t) p[off] << 24 | (uint32_t) p[off + 1] << 16 |
	       (uint32_t) p[off + 2] << 8 | p[off + 3];
}

/* dns_label_char - an octet that may stand for itself in a presentation name */
static int dns_label_char(uint8_t c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '*';
}

/* dns_wire_name - decompress and print the name at *off; see dns_int.h */
int dns_wire_name(const uint8_t *pkt, size_t len, size_t *off, char *out, size_t outlen)
{
	size_t pos = *off, end_of_name = 0, wire = 0, o = 0;
	int hops = 0;
	int jumped = 0;

	if (outlen == 0)
		return -1;
	for (;;) {
		uint8_t n;

		if (pos >= len)
			return -1;
		n = pkt[pos];
		if ((n & 0xc0) == 0xc0) {
			size_t target;

			if (pos + 1 >= len || ++hops > DNS_PTR_HOPS_MAX)
				return -1;
			target = (size_t) (n & 0x3f) << 8 | pkt[pos + 1];
			if (target >= pos)	/* forward or self: could loop */
				return -1;
			if (!jumped) {
				end_of_name = pos + 2;
				jumped = 1;
			}
			pos = target;
			continue;
		}
		if ((n & 0xc0) != 0)	/* 0x40 and 0x80 label types are obsolete */
			return -1;
		wire += (size_t) n + 1;
		if (wire > DNS_WIRE_NAME_MAX)
			return -1;
		if (n == 0) {
			pos++;
			break;
		}
		if (pos + 1 + n > len)
			return -1;
		if (o > 0) {
			if (o + 1 >= outlen)
				return -1;
			out[o++] = '.';
		}
		for (size_t i = 0; i < n; i++) {
			uint8_t c = pkt[pos + 1 + i];

			if (dns_label_char(c)) {
				if (o + 1 >= outlen)
					return -1;
				out[o++] = (char) (c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
			} else {
				if (o + 4 >= outlen)
					return -1;
				snprintf(out + o, 5, "\\%03u", (unsigned) c);
				o += 4;
			}
		}
		pos += 1 + (size_t) n;
	}
	out[o] = '\0';
	*off = jumped ? end_of_name : pos;
	return 0;
}

/* dns_type_name - a type's mnemonic, or TYPE<n> */
const char *dns_type_name(int type, char *buf, size_t buflen)
{
	switch (type) {
	case DNS_T_A:
		return "A";
	case DNS_T_PTR:
		return "PTR";
	case DNS_T_MX:
		return "MX";
	case DNS_T_TXT:
		return "TXT";
	case DNS_T_AAAA:
		return "AAAA";
	case DNS_T_TLSA:
		return "TLSA";
	case DNS_T_CNAME:
		return "CNAME";
	default:
		snprintf(buf, buflen, "TYPE%d", type);
		return buf;
	}
}

/* dns_security_name - the verdict as a word */
const char *dns_security_name(enum dns_security s)
{
	switch (s) {
	case DNS_SECURE:
		return "secure";
	case DNS_BOGUS:
		return "bogus";
	case DNS_INSECURE:
		break;
	}
	return "insecure";
}

/* dns_ptr_name - the in-addr.arpa or ip6.arpa name of an address */
int dns_ptr_name(const char *addr, char *out, size_t outlen)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t o = 0;

	if (outlen == 0)
		return -1;
	out[0] = '\0';
	if (inet_pton(AF_INET, addr, b) == 1)
		return str_fmt(out, outlen, "%u.%u.%u.%u.in-addr.arpa",
			       b[3], b[2], b[1], b[0]) < 0 ? (out[0] = '\0', -1) : 0;
	if (inet_pton(AF_INET6, addr, b) != 1)
		return -1;
	if (outlen < 16 * 4 + sizeof("ip6.arpa"))
		return -1;
	for (int i = 15; i >= 0; i--) {
		out[o++] = hex[b[i] & 0xf];
		out[o++] = '.';
		out[o++] = hex[b[i] >> 4];
		out[o++] = '.';
	}
	memcpy(out + o, "ip6.arpa", sizeof("ip6.arpa"));
	return 0;
}

/* dns_rr_free - release the TXT strings and TLSA data of n records */
void dns_rr_free(struct dns_rr *rr, size_t n)
{
	for (size_t i = 0; rr != NULL && i < n; i++) {
		if (rr[i].type == DNS_T_TXT)
			free(rr[i].u.txt);
		else if (rr[i].type == DNS_T_TLSA)
			free(rr[i].u.tlsa.data);
	}
}

/* dns_skip_question - move *off past one question entry */
static int dns_skip_question(const uint8_t *pkt, size_t len, size_t *off, char *qname, size_t qlen)
{
	if (dns_wire_name(pkt, len, off, qname, qlen) < 0 || *off + 4 > len)
		return -1;
	*off += 4;
	return 0;
}

/* dns_read_rr - the header of the record at *off; *off moves past its RDATA */
static int dns_read_rr(const uint8_t *pkt, size_t len, size_t *off, struct dns_rr_loc *loc)
{
	if (dns_wire_name(pkt, len, off, loc->owner, sizeof(loc->owner)) < 0 || *off + 10 > len)
		return -1;
	loc->type = (int) dns_get16(pkt, *off);
	loc->klass = (int) dns_get16(pkt, *off + 2);
	loc->ttl = dns_get32(pkt, *off + 4);
	loc->rdlen = dns_get16(pkt, *off + 8);
	loc->rdata = *off + 10;
	if (loc->rdata + loc->rdlen > len)
		return -1;
	*off = loc->rdata + loc->rdlen;
	return 0;
}

/* dns_txt_join - the character-strings of one TXT RDATA joined; NULL when unusable */
static char *dns_txt_join(const uint8_t *pkt, const struct dns_rr_loc *loc, int *malformed)
{
	size_t pos = loc->rdata, end = loc->rdata + loc->rdlen, total = 0;
	char *text;

	*malformed = 0;
	while (pos < end) {
		size_t n = pkt[pos];

		if (pos + 1 + n > end) {
			*malformed = 1;
			return NULL;
		}
		if (memchr(pkt + pos + 1, '\0', n) != NULL)
			return NULL;
		total += n;
		pos += 1 + n;
	}
	if (total > DNS_TXT_MAX - 1)
		return NULL;
	text = xmalloc(total + 1);
	total = 0;
	for (pos = loc->rdata; pos < end; pos += 1 + (size_t) pkt[pos]) {
		memcpy(text + total, pkt + pos + 1, pkt[pos]);
		total += pkt[pos];
	}
	text[total] = '\0';
	return text;
}

/*
 * dns_parse_rdata - one record of the asked type into rr; 1 stored,
 * 0 left out (an unusable TXT), -1 malformed
 */
static int dns_parse_rdata(const uint8_t *pkt, size_t len, const struct dns_rr_loc *loc,
			   struct dns_rr *rr)
{
	size_t end = loc->rdata + loc->rdlen, pos;
	int malformed;

	rr->type = loc->type;
	rr->ttl = loc->ttl;
	switch (loc->type) {
	case DNS_T_A:
		if (loc->rdlen != 4)
			return -1;
		memcpy(&rr->u.a, pkt + loc->rdata, 4);
		return 1;
	case DNS_T_AAAA:
		if (loc->rdlen != 16)
			return -1;
		memcpy(&rr->u.aaaa, pkt + loc->rdata, 16);
		return 1;
	case DNS_T_MX:
		if (loc->rdlen < 3)
			return -1;
		rr->u.mx.pref = dns_get16(pkt, loc->rdata);
		pos = loc->rdata + 2;
		/* a name inside RDATA: parse against the whole packet (compression), end must match */
		if (dns_wire_name(pkt, len, &pos, rr->u.mx.host, sizeof(rr->u.mx.host)) < 0 || pos != end)
			return -1;
		return 1;
	case DNS_T_PTR:
		pos = loc->rdata;
		if (dns_wire_name(pkt, len, &pos, rr->u.ptr, sizeof(rr->u.ptr)) < 0 || pos != end)
			return -1;
		return 1;
	case DNS_T_TXT:
		rr->u.txt = dns_txt_join(pkt, loc, &malformed);
		if (malformed)
			return -1;
		return rr->u.txt != NULL;
	case DNS_T_TLSA:
		if (loc->rdlen < 3)
			return -1;
		rr->u.tlsa.usage = pkt[loc->rdata];
		rr->u.tlsa.selector = pkt[loc->rdata + 1];
		rr->u.tlsa.mtype = pkt[loc->rdata + 2];
		rr->u.tlsa.len = loc->rdlen - 3;
		rr->u.tlsa.data = xmalloc(rr->u.tlsa.len > 0 ? rr->u.tlsa.len : 1);
		memcpy(rr->u.tlsa.data, pkt + loc->rdata + 3, rr->u.tlsa.len);
		return 1;
	default:
		return -1;
	}
}

/* dns_parse_fail - set why, undo what was stored, and fail */
static int dns_parse_fail(struct dns_answer *a, struct dns_rr_loc *locs, char *why, size_t whylen,
			  const char *text)
{
	dns_rr_free(a->rr, a->n);
	free(a->rr);
	a->rr = NULL;
	a->n = 0;
	free(locs);
	str_copy(why, text, whylen);
	return -1;
}

/* dns_parse_records - the asked records of an answer packet; see dns_int.h */
int dns_parse_records(const uint8_t *pkt, size_t len, struct dns_answer *a, size_t *skipped,
		      char *why, size_t whylen)
{
	char qname[DNS_NAME_MAX + 1];
	char current[DNS_NAME_MAX + 1];
	struct dns_rr_loc *locs = NULL;
	size_t off = DNS_HDR_LEN, qdcount, ancount, nloc = 0, want = 0;
	int hops = 0, moved = 1;

	a->rr = NULL;
	a->n = 0;
	*skipped = 0;
	if (pkt == NULL || len < DNS_HDR_LEN)
		return dns_parse_fail(a, NULL, why, whylen, "answer packet shorter than a DNS header");
	if (!(pkt[2] & 0x80))
		return dns_parse_fail(a, NULL, why, whylen, "answer packet is not a response");
	qdcount = dns_get16(pkt, 4);
	ancount = dns_get16(pkt, 6);
	if (qdcount != 1)
		return dns_parse_fail(a, NULL, why, whylen, "answer packet does not hold one question");
	if (dns_skip_question(pkt, len, &off, qname, sizeof(qname)) < 0)
		return dns_parse_fail(a, NULL, why, whylen, "malformed question in the answer packet");
	/* each record takes at least 11 octets: a count past that is a lie */
	if (ancount > (len - off) / 11)
		return dns_parse_fail(a, NULL, why, whylen, "answer count larger than the packet");
	locs = xcalloc(ancount > 0 ? ancount : 1, sizeof(*locs));
	for (; nloc < ancount; nloc++)
		if (dns_read_rr(pkt, len, &off, &locs[nloc]) < 0)
			return dns_parse_fail(a, locs, why, whylen, "malformed record in the answer section");

	/* follow the CNAME chain from the question name, in whatever order the records come */
	str_copy(current, qname, sizeof(current));
	while (moved) {
		moved = 0;
		for (size_t i = 0; i < nloc; i++) {
			size_t pos = locs[i].rdata;

			if (locs[i].type != DNS_T_CNAME || locs[i].klass != DNS_CLASS_IN ||
			    strcmp(locs[i].owner, current) != 0 || a->type == DNS_T_CNAME)
				continue;
			if (++hops > DNS_CNAME_CHAIN_MAX)
				return dns_parse_fail(a, locs, why, whylen, "CNAME chain too long or looping");
			if (dns_wire_name(pkt, len, &pos, current, sizeof(current)) < 0 ||
			    pos != locs[i].rdata + locs[i].rdlen)
				return dns_parse_fail(a, locs, why, whylen, "malformed CNAME record");
			moved = 1;
			break;
		}
	}
	str_copy(a->canon, current, sizeof(a->canon));

	for (size_t i = 0; i < nloc; i++)
		if (locs[i].type == a->type && locs[i].klass == DNS_CLASS_IN &&
		    strcmp(locs[i].owner, current) == 0)
			want++;
	a->rr = xcalloc(want > 0 ? want : 1, sizeof(*a->rr));
	for (size_t i = 0; i < nloc; i++) {
		int r;

		if (locs[i].type != a->type || locs[i].klass != DNS_CLASS_IN ||
		    strcmp(locs[i].owner, current) != 0)
			continue;
		r = dns_parse_rdata(pkt, len, &locs[i], &a->rr[a->n]);
		if (r < 0) {
			char tbuf[16], text[DNS_WHY_MAX];

			/* a cut name in a why text is fine */
			(void) str_fmt(text, sizeof(text), "malformed %s record for %s",
				       dns_type_name(a->type, tbuf, sizeof(tbuf)), current);
			return dns_parse_fail(a, locs, why, whylen, text);
		}
		if (r == 0)
			(*skipped)++;
		else
			a->n++;
	}
	if (a->n == 0) {
		free(a->rr);
		a->rr = NULL;
	}
	free(locs);
	return 0;
}
