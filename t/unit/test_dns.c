/*
 * test_dns - the pure parts of the dns module: the wire parser on canned
 * answer packets (MX with compression, null MX, CNAME chains in any order,
 * TXT joining and the records left out, TLSA data, malformed packets:
 * forward and looping pointers, lying counts, short RDATA, names past 255
 * octets), a mutation run that must never read out of bounds (ASan), the
 * reverse names of dns_ptr_name, and the verdict names.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "mail/dns.h"
#include "mail/dns_int.h"
#include "tap.h"

#define CNAME 5

/* pkt - a DNS message being built */
struct pkt {
	uint8_t b[8192];
	size_t n;
};

/* put8 - append one octet */
static void put8(struct pkt *p, unsigned v)
{
	if (p->n >= sizeof(p->b))
		abort();
	p->b[p->n++] = (uint8_t) v;
}

/* put16 - append 16 bits, big-endian */
static void put16(struct pkt *p, unsigned v)
{
	put8(p, v >> 8);
	put8(p, v & 0xff);
}

/* put32 - append 32 bits, big-endian */
static void put32(struct pkt *p, uint32_t v)
{
	put16(p, v >> 16);
	put16(p, v & 0xffff);
}

/* putname - append a dotted name as uncompressed labels ("" is the root) */
static void putname(struct pkt *p, const char *name)
{
	while (*name) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t) (dot - name) : strlen(name);

		put8(p, (unsigned) len);
		for (size_t i = 0; i < len; i++)
			put8(p, (uint8_t) name[i]);
		name += len + (dot ? 1 : 0);
	}
	put8(p, 0);
}

/* putptr - append a compression pointer to off */
static void putptr(struct pkt *p, size_t off)
{
	put16(p, 0xc000 | (unsigned) off);
}

/* header - a response header with one question for (name, type) */
static void header(struct pkt *p, const char *qname, int type, unsigned ancount)
{
	p->n = 0;
	put16(p, 0x1234);
	put16(p, 0x8180);	/* QR RD RA, rcode 0 */
	put16(p, 1);
	put16(p, ancount);
	put16(p, 0);
	put16(p, 0);
	putname(p, qname);	/* at offset 12 */
	put16(p, (unsigned) type);
	put16(p, 1);
}

/* rrhead - owner pointer (to off), type, class IN, ttl; returns where RDLENGTH goes */
static size_t rrhead(struct pkt *p, size_t owner_off, int type, uint32_t ttl)
{
	size_t at;

	putptr(p, owner_off);
	put16(p, (unsigned) type);
	put16(p, 1);
	put32(p, ttl);
	at = p->n;
	put16(p, 0);
	return at;
}

/* rdlen_fix - set the RDLENGTH at 'at' to what follows it */
static void rdlen_fix(struct pkt *p, size_t at)
{
	size_t len = p->n - at - 2;

	p->b[at] = (uint8_t) (len >> 8);
	p->b[at + 1] = (uint8_t) (len & 0xff);
}

/* parse - dns_parse_records on p for type */
static int parse(struct pkt *p, int type, struct dns_answer *a, size_t *skipped, char *why)
{
	memset(a, 0, sizeof(*a));
	a->type = type;
	return dns_parse_records(p->b, p->n, a, skipped, why, DNS_WHY_MAX);
}

/* clear - release the records of a */
static void clear(struct dns_answer *a)
{
	dns_rr_free(a->rr, a->n);
	free(a->rr);
	a->rr = NULL;
	a->n = 0;
}

/* test_mx - two MX with compressed names, case folded; null MX */
static void test_mx(void)
{
	struct dns_answer a;
	struct pkt p;
	size_t at, skipped, mx1;
	char why[DNS_WHY_MAX];

	header(&p, "Example.TEST", DNS_T_MX, 2);
	at = rrhead(&p, 12, DNS_T_MX, 300);
	put16(&p, 10);
	mx1 = p.n;
	put8(&p, 3);
	put8(&p, 'M');
	put8(&p, 'X');
	put8(&p, '1');
	putptr(&p, 12);
	rdlen_fix(&p, at);
	at = rrhead(&p, 12, DNS_T_MX, 600);
	put16(&p, 20);
	put8(&p, 3);
	put8(&p, 'm');
	put8(&p, 'x');
	put8(&p, '2');
	putptr(&p, 12);
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_MX, &a, &skipped, why) == 0, "MX answer parses");
	is_int((long long) a.n, 2, "two MX records");
	if (a.n == 2) {
		is_int(a.rr[0].u.mx.pref, 10, "first preference");
		is_str(a.rr[0].u.mx.host, "mx1.example.test", "first host, lower case, from a pointer");
		is_int(a.rr[0].ttl, 300, "first TTL");
		is_int(a.rr[1].u.mx.pref, 20, "second preference");
		is_str(a.rr[1].u.mx.host, "mx2.example.test", "second host");
		is_int(a.rr[1].ttl, 600, "second TTL");
	}
	is_str(a.canon, "example.test", "canon without CNAME is the question name");
	clear(&a);

	/* a pointer to the first MX's host name from a third record */
	header(&p, "example.test", DNS_T_MX, 2);
	at = rrhead(&p, 12, DNS_T_MX, 300);
	put16(&p, 5);
	mx1 = p.n;
	putname(&p, "a.example.test");
	rdlen_fix(&p, at);
	at = rrhead(&p, 12, DNS_T_MX, 300);
	put16(&p, 6);
	putptr(&p, mx1);
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_MX, &a, &skipped, why) == 0 && a.n == 2 &&
	   strcmp(a.rr[1].u.mx.host, "a.example.test") == 0, "pointer into an earlier RDATA");
	clear(&a);

	header(&p, "nomail.test", DNS_T_MX, 1);
	at = rrhead(&p, 12, DNS_T_MX, 300);
	put16(&p, 0);
	put8(&p, 0);
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_MX, &a, &skipped, why) == 0 && a.n == 1, "null MX parses");
	if (a.n == 1)
		ok(a.rr[0].u.mx.pref == 0 && a.rr[0].u.mx.host[0] == '\0', "null MX: preference 0, host \"\"");
	clear(&a);

	/* MX whose name stops short of RDLENGTH */
	header(&p, "example.test", DNS_T_MX, 1);
	at = rrhead(&p, 12, DNS_T_MX, 300);
	put16(&p, 10);
	putptr(&p, 12);
	put8(&p, 0);
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_MX, &a, &skipped, why) < 0 && a.n == 0 && a.rr == NULL,
	   "MX with octets after its name is malformed");
	ok(strstr(why, "malformed MX") != NULL, "why names the malformed MX (%s)", why);
}

/* test_cname - chains in either order, loops, canon */
static void test_cname(void)
{
	struct dns_answer a;
	struct pkt p;
	size_t at, skipped, target;
	char why[DNS_WHY_MAX];

	/* A first, then the CNAME that leads to it */
	header(&p, "www.example.test", DNS_T_A, 3);
	putname(&p, "HOST.example.test");	/* owner of the A, uncompressed, upper case */
	put16(&p, DNS_T_A);
	put16(&p, 1);
	put32(&p, 60);
	put16(&p, 4);
	put32(&p, 0x7f000002);
	at = rrhead(&p, 12, CNAME, 60);
	putname(&p, "host.example.test");
	rdlen_fix(&p, at);
	/* an A for the question name itself must not count once it is a CNAME */
	at = rrhead(&p, 12, DNS_T_A, 60);
	put32(&p, 0x7f000009);
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_A, &a, &skipped, why) == 0, "CNAME answer parses");
	is_int((long long) a.n, 1, "one A record at the end of the chain");
	if (a.n == 1)
		ok(ntohl(a.rr[0].u.a.s_addr) == 0x7f000002, "the A of the canonical name");
	is_str(a.canon, "host.example.test", "canon is the CNAME target");
	clear(&a);

	/* a -> b -> a */
	header(&p, "a.test", DNS_T_A, 2);
	at = rrhead(&p, 12, CNAME, 60);
	target = p.n;
	putname(&p, "b.test");
	rdlen_fix(&p, at);
	at = rrhead(&p, target, CNAME, 60);
	putptr(&p, 12);
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_A, &a, &skipped, why) < 0 && strstr(why, "CNAME") != NULL,
	   "a CNAME loop is malformed (%s)", why);
}

/* test_txt - joining strings; records left out */
static void test_txt(void)
{
	struct dns_answer a;
	struct pkt p;
	size_t at, skipped;
	char why[DNS_WHY_MAX];

	header(&p, "_mta-sts.example.test", DNS_T_TXT, 3);
	at = rrhead(&p, 12, DNS_T_TXT, 300);
	put8(&p, 9);
	for (const char *s = "v=STSv1; "; *s; s++)
		put8(&p, (uint8_t) *s);
	put8(&p, 0);		/* an empty string inside */
	put8(&p, 5);
	for (const char *s = "id=1;"; *s; s++)
		put8(&p, (uint8_t) *s);
	rdlen_fix(&p, at);
	at = rrhead(&p, 12, DNS_T_TXT, 300);
	put8(&p, 3);
	put8(&p, 'a');
	put8(&p, 0);
	put8(&p, 'b');
	rdlen_fix(&p, at);
	at = rrhead(&p, 12, DNS_T_TXT, 300);
	for (int i = 0; i < 17; i++) {	/* 17 * 255 > DNS_TXT_MAX */
		put8(&p, 255);
		for (int j = 0; j < 255; j++)
			put8(&p, 'x');
	}
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_TXT, &a, &skipped, why) == 0, "TXT answer parses");
	is_int((long long) a.n, 1, "one usable TXT record");
	is_int((long long) skipped, 2, "a TXT with a NUL and an oversized one are left out");
	if (a.n == 1)
		is_str(a.rr[0].u.txt, "v=STSv1; id=1;", "strings of one record joined");
	clear(&a);

	/* a string running past RDLENGTH */
	header(&p, "t.test", DNS_T_TXT, 1);
	at = rrhead(&p, 12, DNS_T_TXT, 300);
	put8(&p, 10);
	put8(&p, 'a');
	rdlen_fix(&p, at);
	put16(&p, 0);		/* bytes after the record, inside the packet */
	ok(parse(&p, DNS_T_TXT, &a, &skipped, why) < 0, "TXT string longer than its RDATA is malformed");
}

/* test_tlsa_a_ptr - TLSA data, address lengths, PTR, names with odd octets */
static void test_tlsa_a_ptr(void)
{
	static const uint8_t hash[32] = { 0xe7, 0x4e, 0x00, 0x26, 0xa5, 0xda, [31] = 0x90 };
	struct dns_answer a;
	struct pkt p;
	size_t at, skipped;
	char why[DNS_WHY_MAX];

	header(&p, "_25._tcp.mx1.example.test", DNS_T_TLSA, 1);
	at = rrhead(&p, 12, DNS_T_TLSA, 300);
	put8(&p, 3);
	put8(&p, 1);
	put8(&p, 1);
	for (size_t i = 0; i < sizeof(hash); i++)
		put8(&p, hash[i]);
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_TLSA, &a, &skipped, why) == 0 && a.n == 1, "TLSA parses");
	if (a.n == 1) {
		ok(a.rr[0].u.tlsa.usage == 3 && a.rr[0].u.tlsa.selector == 1 && a.rr[0].u.tlsa.mtype == 1,
		   "TLSA 3 1 1");
		ok(a.rr[0].u.tlsa.len == 32 && memcmp(a.rr[0].u.tlsa.data, hash, 32) == 0,
		   "TLSA data copied");
	}
	clear(&a);

	header(&p, "h.test", DNS_T_AAAA, 1);
	at = rrhead(&p, 12, DNS_T_AAAA, 300);
	for (int i = 0; i < 15; i++)
		put8(&p, 0);
	put8(&p, 1);
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_AAAA, &a, &skipped, why) == 0 && a.n == 1 && a.rr[0].u.aaaa.s6_addr[15] == 1,
	   "AAAA ::1");
	clear(&a);

	header(&p, "h.test", DNS_T_A, 1);
	at = rrhead(&p, 12, DNS_T_A, 300);
	put32(&p, 1);
	put8(&p, 1);
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_A, &a, &skipped, why) < 0, "A with 5 octets is malformed");

	header(&p, "10.0.0.127.in-addr.arpa", DNS_T_PTR, 2);
	at = rrhead(&p, 12, DNS_T_PTR, 300);
	putname(&p, "client-jp.example.test");
	rdlen_fix(&p, at);
	/* a record for another owner is not part of the answer */
	putname(&p, "other.test");
	put16(&p, DNS_T_PTR);
	put16(&p, 1);
	put32(&p, 1);
	at = p.n;
	put16(&p, 0);
	putname(&p, "wrong.test");
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_PTR, &a, &skipped, why) == 0 && a.n == 1 &&
	   strcmp(a.rr[0].u.ptr, "client-jp.example.test") == 0, "PTR, other owners ignored");
	clear(&a);

	/* a label holding a dot and a space: escaped, never a separator */
	header(&p, "x.test", DNS_T_PTR, 1);
	at = rrhead(&p, 12, DNS_T_PTR, 300);
	put8(&p, 4);
	put8(&p, 'a');
	put8(&p, '.');
	put8(&p, ' ');
	put8(&p, 'B');
	putname(&p, "test");
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_PTR, &a, &skipped, why) == 0 && a.n == 1, "PTR with odd octets parses");
	if (a.n == 1)
		is_str(a.rr[0].u.ptr, "a\\046\\032b.test", "odd octets written as \\DDD");
	clear(&a);
}

/* test_malformed - pointers, counts, lengths, long names */
static void test_malformed(void)
{
	struct dns_answer a;
	struct pkt p;
	size_t at, skipped, off;
	char why[DNS_WHY_MAX], name[DNS_NAME_MAX + 1];

	header(&p, "example.test", DNS_T_MX, 1);
	at = rrhead(&p, 12, DNS_T_MX, 300);
	put16(&p, 10);
	putptr(&p, p.n + 2);	/* forward pointer */
	putname(&p, "mx");
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_MX, &a, &skipped, why) < 0, "forward compression pointer refused");

	header(&p, "example.test", DNS_T_MX, 1);
	at = rrhead(&p, 12, DNS_T_MX, 300);
	put16(&p, 10);
	putptr(&p, p.n);	/* points at itself */
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_MX, &a, &skipped, why) < 0, "self-pointing compression pointer refused");

	header(&p, "example.test", DNS_T_A, 40);
	at = rrhead(&p, 12, DNS_T_A, 300);
	put32(&p, 1);
	rdlen_fix(&p, at);
	ok(parse(&p, DNS_T_A, &a, &skipped, why) < 0, "answer count past the packet refused (%s)", why);

	header(&p, "example.test", DNS_T_A, 1);
	at = rrhead(&p, 12, DNS_T_A, 300);
	put32(&p, 1);
	rdlen_fix(&p, at);
	p.b[at + 1] = 40;	/* RDLENGTH past the end */
	ok(parse(&p, DNS_T_A, &a, &skipped, why) < 0, "RDLENGTH past the end refused");

	p.n = 0;
	put16(&p, 1);
	put16(&p, 0x0100);	/* a query, not a response */
	ok(parse(&p, DNS_T_A, &a, &skipped, why) < 0, "short packet refused");
	header(&p, "example.test", DNS_T_A, 0);
	p.b[2] = 0x01;
	ok(parse(&p, DNS_T_A, &a, &skipped, why) < 0 && strstr(why, "response") != NULL,
	   "a query instead of a response refused");

	/* 5 labels of 63 octets: 320 wire octets */
	p.n = 0;
	for (int l = 0; l < 5; l++) {
		put8(&p, 63);
		for (int i = 0; i < 63; i++)
			put8(&p, 'a');
	}
	put8(&p, 0);
	off = 0;
	ok(dns_wire_name(p.b, p.n, &off, name, sizeof(name)) < 0, "a name over 255 octets refused");
	p.n = 0;
	putname(&p, "abc.def");
	off = 0;
	ok(dns_wire_name(p.b, p.n, &off, name, 4) < 0, "a name that does not fit the buffer refused");
	off = 0;
	ok(dns_wire_name(p.b, p.n, &off, name, sizeof(name)) == 0 && off == p.n &&
	   strcmp(name, "abc.def") == 0, "plain name read, offset past it");
	p.n = 0;
	put8(&p, 0x40);		/* obsolete label type */
	off = 0;
	ok(dns_wire_name(p.b, p.n, &off, name, sizeof(name)) < 0, "extended label type refused");
}

/* test_mutations - flipped and cut packets never crash and stay consistent */
static void test_mutations(void)
{
	struct pkt base, p;
	struct dns_answer a;
	size_t at, skipped, target;
	char why[DNS_WHY_MAX];
	int consistent = 1;

	header(&base, "example.test", DNS_T_MX, 3);
	at = rrhead(&base, 12, CNAME, 60);
	target = base.n;
	putname(&base, "mail.example.test");
	rdlen_fix(&base, at);
	at = rrhead(&base, target, DNS_T_MX, 300);	/* owned by the CNAME target */
	put16(&base, 10);
	putptr(&base, 12);
	rdlen_fix(&base, at);
	at = rrhead(&base, 12, DNS_T_TXT, 300);
	put8(&base, 2);
	put8(&base, 'h');
	put8(&base, 'i');
	rdlen_fix(&base, at);
	ok(parse(&base, DNS_T_MX, &a, &skipped, why) == 0 && a.n == 1 &&
	   strcmp(a.rr[0].u.mx.host, "example.test") == 0 && strcmp(a.canon, "mail.example.test") == 0,
	   "unmutated packet: MX of the CNAME target");
	clear(&a);
	srandom(71);
	for (int round = 0; round < 20000; round++) {
		int r;

		p = base;
		for (int k = 0; k < 1 + round % 4; k++)
			p.b[(size_t) random() % p.n] = (uint8_t) random();
		if (round % 3 == 0)
			p.n = (size_t) random() % (p.n + 1);
		r = parse(&p, round % 2 ? DNS_T_MX : DNS_T_TXT, &a, &skipped, why);
		if ((r < 0 && (a.n != 0 || a.rr != NULL)) || (r == 0 && a.n > 0 && a.rr == NULL))
			consistent = 0;
		clear(&a);
	}
	ok(consistent, "20000 mutated packets parsed without crash, results consistent");
}

/* test_ptr_name - reverse names */
static void test_ptr_name(void)
{
	char out[DNS_NAME_MAX + 1];

	ok(dns_ptr_name("127.0.0.10", out, sizeof(out)) == 0, "IPv4 reverse name");
	is_str(out, "10.0.0.127.in-addr.arpa", "IPv4 reverse name text");
	ok(dns_ptr_name("2001:db8::1", out, sizeof(out)) == 0, "IPv6 reverse name");
	is_str(out, "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa",
	       "IPv6 reverse name text");
	ok(dns_ptr_name("example.test", out, sizeof(out)) < 0 && out[0] == '\0', "a name is not an address");
	ok(dns_ptr_name("127.0.0.256", out, sizeof(out)) < 0, "a bad IPv4 address refused");
	ok(dns_ptr_name("127.0.0.10", out, 10) < 0, "IPv4 reverse name that does not fit refused");
	ok(dns_ptr_name("::1", out, 20) < 0, "IPv6 reverse name that does not fit refused");
}

/* test_names - verdict and type names */
static void test_names(void)
{
	char buf[16];

	is_str(dns_security_name(DNS_SECURE), "secure", "secure");
	is_str(dns_security_name(DNS_INSECURE), "insecure", "insecure");
	is_str(dns_security_name(DNS_BOGUS), "bogus", "bogus");
	is_str(dns_type_name(DNS_T_TLSA, buf, sizeof(buf)), "TLSA", "type name TLSA");
	is_str(dns_type_name(99, buf, sizeof(buf)), "TYPE99", "unknown type as TYPEn");
}

int main(void)
{
	test_mx();
	test_cname();
	test_txt();
	test_tlsa_a_ptr();
	test_malformed();
	test_mutations();
	test_ptr_name();
	test_names();
	return tap_done();
}
