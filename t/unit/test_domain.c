/*
 * test_domain - unit tests for lib/mail/domain: host names, U-labels and
 * Punycode, IP literals, UTF-8 decoding, domain-list matching.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mail/domain.h"
#include "tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ring - the next of a few static scratch buffers for built strings */
static char *ring(void)
{
	static char bufs[8][1100];
	static unsigned next;

	return bufs[next++ % 8];
}

/* rep - a string of n copies of c */
static const char *rep(char c, size_t n)
{
	char *b = ring();

	if (n >= 1100)
		abort();
	memset(b, c, n);
	b[n] = '\0';
	return b;
}

/* cat - a formatted string; aborts rather than cut a test input */
__attribute__((format(printf, 1, 2)))
static const char *cat(const char *f, ...)
{
	char *b = ring();
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(b, 1100, f, ap);
	va_end(ap);
	if (n < 0 || n >= 1100)
		abort();
	return b;
}

static void test_hostnames(void)
{
	static const struct {
		const char *name;
		unsigned flags;
		int valid;
	} cases[] = {
		{"example.test", 0, 1},
		{"EXAMPLE.Test", 0, 1},
		{"localhost", 0, 1},
		{"a-b.c-d.test", 0, 1},
		{"xn--bcher-kva.test", 0, 1},
		{"1a.test", 0, 1},
		{"a.1b", 0, 1},
		{"123.test", 0, 1},
		{"", 0, 0},
		{".", 0, 0},
		{".example.test", 0, 0},
		{"example..test", 0, 0},
		{"example.test.", 0, 0},
		{"example.test.", DOMAIN_F_TRAILING_DOT, 1},
		{"example.test..", DOMAIN_F_TRAILING_DOT, 0},
		{"-example.test", 0, 0},
		{"example-.test", 0, 0},
		{"exa_mple.test", 0, 0},
		{"exa mple.test", 0, 0},
		{"example.test/", 0, 0},
		{"1.2.3.4", 0, 0},
		{"example.123", 0, 0},
		{"[1.2.3.4]", 0, 0},
		{"b\xc3\xbc" "cher.test", 0, 0},
		{"b\xc3\xbc" "cher.test", DOMAIN_F_UTF8, 1},
		{"B\xc3\xbc" "CHER.test", DOMAIN_F_UTF8, 1},
		{"\xe7\x94\xa8\xe6\x88\xb7.test", DOMAIN_F_UTF8, 1},
		{"b\xc3" "cher.test", DOMAIN_F_UTF8, 0},		/* truncated sequence */
		{"b\xc0\xbc" "cher.test", DOMAIN_F_UTF8, 0},	/* overlong */
		{"b\xed\xa0\x80.test", DOMAIN_F_UTF8, 0},	/* surrogate */
		{"b\xf4\x90\x80\x80.test", DOMAIN_F_UTF8, 0},	/* above U+10FFFF */
		{"b\xc2\x85.test", DOMAIN_F_UTF8, 0},		/* C1 control NEL */
		{"a\xe3\x80\x82" "b.test", DOMAIN_F_UTF8, 0},	/* ideographic full stop */
		{"-\xc3\xbc.test", DOMAIN_F_UTF8, 0},
		{"ab--\xc3\xbc.test", DOMAIN_F_UTF8, 0},		/* hyphens at 3-4 in a U-label */
		{"ab--cd.test", 0, 1},				/* R-LDH in ASCII: allowed */
	};

	for (size_t i = 0; i < N(cases); i++)
		is_int(domain_valid(cases[i].name, strlen(cases[i].name), cases[i].flags),
		       cases[i].valid, cases[i].name);

	/* a NUL inside the given length is an invalid byte */
	ok(!domain_valid("a\0b.test", 8, 0), "NUL inside a name");
}

static void test_lengths(void)
{
	const char *name;

	name = cat("%s.test", rep('a', 63));
	ok(domain_valid(name, strlen(name), 0), "label of 63 octets");
	name = cat("%s.test", rep('a', 64));
	ok(!domain_valid(name, strlen(name), 0), "label of 64 octets");

	/* 63+1+63+1+63+1+61 = 253 ok; 254 not */
	name = cat("%s.%s.%s.%s", rep('a', 63), rep('b', 63), rep('c', 63), rep('d', 61));
	is_int((long long) strlen(name), 253, "built a 253-octet name");
	ok(domain_valid(name, strlen(name), 0), "name of 253 octets");
	name = cat("%s.", name);
	ok(domain_valid(name, strlen(name), DOMAIN_F_TRAILING_DOT), "253 octets plus a trailing dot");
	name = cat("%s.%s.%s.%s", rep('a', 63), rep('b', 63), rep('c', 63), rep('d', 62));
	ok(!domain_valid(name, strlen(name), 0), "name of 254 octets");

	/* U-labels: 29 x u-umlaut is "xn--" + 31 octets, fine; the A-label is what counts */
	name = cat("%s\xc3\xbc.test", rep('a', 57));	/* A-label xn--<57 a>-<tail> */
	ok(!domain_valid(name, strlen(name), DOMAIN_F_UTF8), "U-label whose A-label passes 63 octets");
	name = cat("%s\xc3\xbc.test", rep('a', 50));
	ok(domain_valid(name, strlen(name), DOMAIN_F_UTF8), "U-label whose A-label fits");
}

static void test_to_ascii(void)
{
	static const struct {
		const char *in;
		const char *want;	/* NULL: error */
	} cases[] = {
		{"Example.TEST", "example.test"},
		{"example.test.", "example.test"},
		{"b\xc3\xbc" "cher.test", "xn--bcher-kva.test"},
		{"B\xc3\xbc" "cher.TEST", "xn--bcher-kva.test"},
		{"m\xc3\xbc" "nchen.test", "xn--mnchen-3ya.test"},
		{"\xe4\xbe\x8b\xe3\x81\x88.\xe3\x83\x86\xe3\x82\xb9\xe3\x83\x88", "xn--r8jz45g.xn--zckzah"},
		{"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e.jp", "xn--wgv71a119e.jp"},
		{"\xe7\x94\xa8\xe6\x88\xb7.test", "xn--zouo53b.test"},
		{"\xf0\x9f\x98\x80.test", "xn--e28h.test"},
		{"", NULL},
		{"a..b", NULL},
		{"a_b.test", NULL},
	};
	char out[300];

	for (size_t i = 0; i < N(cases); i++) {
		int r = domain_to_ascii(cases[i].in, strlen(cases[i].in), out, sizeof(out));

		if (cases[i].want == NULL)
			is_int(r, -1, cases[i].in);
		else
			is_str(r >= 0 ? out : NULL, cases[i].want, cases[i].want);
	}
	is_int(domain_to_ascii("example.test", 12, out, 12), -1, "to_ascii: no room for the NUL");
	is_int(domain_to_ascii("example.test", 12, out, 13), 12, "to_ascii: exact room");
}

static void test_literals(void)
{
	static const struct {
		const char *in;
		int family;		/* 0: invalid */
		const char *canon;
	} cases[] = {
		{"[192.0.2.1]", AF_INET, "[192.0.2.1]"},
		{"[0.0.0.0]", AF_INET, "[0.0.0.0]"},
		{"[255.255.255.255]", AF_INET, "[255.255.255.255]"},
		{"[IPv6:2001:db8::1]", AF_INET6, "[IPv6:2001:db8::1]"},
		{"[ipv6:2001:DB8:0:0:0:0:0:1]", AF_INET6, "[IPv6:2001:db8::1]"},
		{"[IPV6:::1]", AF_INET6, "[IPv6:::1]"},
		{"[IPv6:::]", AF_INET6, "[IPv6:::]"},
		{"[IPv6:::ffff:192.0.2.1]", AF_INET6, "[IPv6:::ffff:192.0.2.1]"},
		{"[IPv6:2001:db8:1:2:3:4:192.0.2.1]", AF_INET6, "[IPv6:2001:db8:1:2:3:4:c000:201]"},
		{"[256.0.0.1]", 0, NULL},
		{"[192.0.2]", 0, NULL},
		{"[192.0.2.1.5]", 0, NULL},
		{"[192.000.002.001]", 0, NULL},
		{"[01.2.3.4]", 0, NULL},
		{"[ 192.0.2.1]", 0, NULL},
		{"[192.0.2.1 ]", 0, NULL},
		{"[0x7f.0.0.1]", 0, NULL},
		{"[2130706433]", 0, NULL},
		{"[2001:db8::1]", 0, NULL},		/* IPv6 without the tag */
		{"[IPv6:192.0.2.1]", 0, NULL},
		{"[IPv6:2001:db8::1%eth0]", 0, NULL},
		{"[IPv6:2001:db8:::1]", 0, NULL},
		{"[IPv6:1:2:3:4:5:6:7:8:9]", 0, NULL},
		{"[IPv6:]", 0, NULL},
		{"[IPv4:192.0.2.1]", 0, NULL},		/* general literal: refused */
		{"[x400:c=us]", 0, NULL},
		{"[]", 0, NULL},
		{"192.0.2.1", 0, NULL},
		{"[192.0.2.1", 0, NULL},
		{"192.0.2.1]", 0, NULL},
	};
	char text[DOMAIN_LITERAL_TEXT_MAX];

	for (size_t i = 0; i < N(cases); i++) {
		struct domain_literal lit;
		int r = domain_literal_parse(cases[i].in, strlen(cases[i].in), &lit, text, sizeof(text));

		if (cases[i].family == 0) {
			ok(r == -1 && lit.family == 0, "literal %s refused", cases[i].in);
		} else {
			ok(r == 0 && lit.family == cases[i].family, "literal %s parsed", cases[i].in);
			is_str(r == 0 ? text : NULL, cases[i].canon, cases[i].canon);
		}
	}
	{
		struct domain_literal lit;

		ok(domain_literal_parse("[192.0.2.1\0]", 12, &lit, NULL, 0) == -1, "NUL inside a literal");
		ok(domain_literal_parse("[IPv6:2001:db8::1]", 18, &lit, text, 10) == -1,
		   "literal text buffer too small");
	}

	/* configured own addresses and equality */
	struct domain_literal a, b;

	ok(domain_literal_from_text("192.0.2.1", &a) == 0 && domain_literal_parse("[192.0.2.1]", 11, &b, NULL, 0) == 0 &&
	   domain_literal_equal(&a, &b), "192.0.2.1 equals [192.0.2.1]");
	ok(domain_literal_from_text("::1", &a) == 0 && domain_literal_from_text("[IPv6:0:0::1]", &b) == 0 &&
	   domain_literal_equal(&a, &b), "::1 equals [IPv6:0:0::1]");
	ok(domain_literal_from_text("[127.0.0.1]", &b) == 0 && !domain_literal_equal(&a, &b), "::1 is not 127.0.0.1");
	ok(domain_literal_from_text("127.0.0.2", &a) == 0 && !domain_literal_equal(&a, &b), "127.0.0.2 is not 127.0.0.1");
	ok(domain_literal_from_text("localhost", &a) == -1 && a.family == 0, "a name is not an address");
	ok(domain_ipv4_valid("10.1.2.3", 8) && !domain_ipv4_valid("10.1.2", 6), "ipv4 text");
	ok(domain_ipv6_valid("fe80::1", 7) && !domain_ipv6_valid("fe80::1%lo", 10), "ipv6 text");
}

static void test_utf8(void)
{
	static const struct {
		const char *in;
		int valid;
	} cases[] = {
		{"", 1}, {"plain", 1}, {"j\xc3\xb6rg", 1}, {"\xe2\x82\xac", 1}, {"\xf0\x9f\x98\x80", 1},
		{"\xef\xbf\xbf", 1},
		{"\x80", 0}, {"\xbf", 0}, {"\xc0\x80", 0}, {"\xc1\xbf", 0}, {"\xc3", 0}, {"\xc3\x28", 0},
		{"\xe0\x80\x80", 0}, {"\xe0\x9f\xbf", 0}, {"\xed\xa0\x80", 0}, {"\xed\xbf\xbf", 0},
		{"\xf0\x80\x80\x80", 0}, {"\xf0\x8f\xbf\xbf", 0}, {"\xf4\x90\x80\x80", 0}, {"\xf5\x80\x80\x80", 0},
		{"\xff", 0}, {"\xfe", 0}, {"\xe2\x82", 0}, {"\xf0\x9f\x98", 0},
		{"a\tb", 0}, {"a\x7f", 0}, {"a\xc2\x80", 0}, {"a\xc2\x9f", 0}, {"a\xc2\xa0", 1},
	};

	for (size_t i = 0; i < N(cases); i++)
		is_int(domain_utf8_valid(cases[i].in, strlen(cases[i].in)), cases[i].valid,
		       "utf8 case");
	ok(!domain_utf8_valid("a\0b", 3), "utf8: NUL is a control");

	uint32_t cp = 0;

	ok(domain_utf8_next("\xe2\x82\xac", 3, &cp) == 3 && cp == 0x20AC, "utf8_next euro");
	ok(domain_utf8_next("\xe2\x82\xac", 2, &cp) == -1, "utf8_next short input");
	ok(domain_utf8_next("\xf4\x8f\xbf\xbf", 4, &cp) == 4 && cp == 0x10FFFF, "utf8_next U+10FFFF");
}

static void test_list_match(void)
{
	static const char *const list[] = {
		"local.test", ".sub.test", "!bad.other.test", ".other.test", "Upper.TEST.",
		"xn--bcher-kva.test", "[192.0.2.1]", "", NULL,
	};
	static const struct {
		const char *domain;
		unsigned flags;
		int want;
	} cases[] = {
		{"local.test", 0, 0},
		{"LOCAL.TEST", 0, 0},
		{"local.test.", 0, 0},
		{"mx.local.test", 0, -1},
		{"mx.local.test", DOMAIN_MATCH_PARENT, 0},
		{"xlocal.test", DOMAIN_MATCH_PARENT, -1},
		{"local.test.evil", DOMAIN_MATCH_PARENT, -1},
		{"sub.test", 0, -1},
		{"sub.test", DOMAIN_MATCH_PARENT, -1},
		{"a.sub.test", 0, 1},
		{"a.b.SUB.test", 0, 1},
		{"asub.test", 0, -1},
		{"bad.other.test", 0, -1},
		{"x.bad.other.test", 0, 3},
		{"good.other.test", 0, 3},
		{"upper.test", 0, 4},
		{"b\xc3\xbc" "cher.test", 0, 5},
		{"xn--bcher-kva.test", 0, 5},
		{"[192.0.2.1]", 0, 6},
		{"[192.0.2.2]", 0, -1},
		{"", 0, -1},
		{".", 0, -1},
		{"external.test", 0, -1},
		{"test", DOMAIN_MATCH_PARENT, -1},
	};

	for (size_t i = 0; i < N(cases); i++)
		ok(domain_list_match(cases[i].domain, list, cases[i].flags) == cases[i].want,
		   "list match '%s' flags %u -> %d", cases[i].domain, cases[i].flags, cases[i].want);

	static const char *const umlaut[] = {"B\xc3\xbc" "cher.test", NULL};

	ok(domain_list_match("xn--bcher-kva.test", umlaut, 0) == 0, "U-label entry matches A-label domain");
	static const char *const empty[] = {NULL};

	ok(domain_list_match("local.test", empty, 0) == -1, "empty list");
}

int main(void)
{
	test_hostnames();
	test_lengths();
	test_to_ascii();
	test_literals();
	test_utf8();
	test_list_match();
	return tap_done();
}
