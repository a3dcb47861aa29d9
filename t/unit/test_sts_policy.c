/*
 * test_sts_policy - unit tests for lib/mail/sts_policy (MTA-STS policy
 * text and _mta-sts TXT records, RFC 8461) and the MX match of
 * sts_client (section 4.1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/str.h"
#include "mail/sts_client.h"
#include "mail/sts_policy.h"
#include "tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* parse - sts_policy_parse of a C string into *p, with err */
static int parse(const char *text, struct sts_policy *p, char *err, size_t errlen)
{
	memset(p, 0, sizeof(*p));
	return sts_policy_parse(text, strlen(text), p, err, errlen);
}

/* test_good - valid policies and what they give */
static void test_good(void)
{
	struct sts_policy p;
	char err[200];

	is_int(parse("version: STSv1\nmode: enforce\nmx: mx1.example.test\nmx: *.example.net\nmax_age: 86400\n",
		     &p, err, sizeof(err)), 0, "LF policy parses");
	is_int(p.mode, STS_MODE_ENFORCE, "mode enforce");
	is_int((long long) p.nmx, 2, "two mx lines");
	is_str(p.mx[0], "mx1.example.test", "first mx");
	is_str(p.mx[1], "*.example.net", "wildcard mx kept as written");
	is_int(p.max_age, 86400, "max_age");

	is_int(parse("version: STSv1\r\nmode: testing\r\nmx: MX.Example.TEST.\r\nmax_age: 604800\r\n",
		     &p, err, sizeof(err)), 0, "CRLF policy parses");
	is_int(p.mode, STS_MODE_TESTING, "mode testing");
	is_str(p.mx[0], "mx.example.test", "mx folded to lower case, final dot dropped");

	is_int(parse("version:STSv1\nmode :none\nmax_age:   0", &p, err, sizeof(err)), 0,
	       "mode none needs no mx; no final line end; white space around the colon");
	is_int(p.mode, STS_MODE_NONE, "mode none");
	is_int((long long) p.nmx, 0, "no mx");

	is_int(parse("version: STSv1\nmode: enforce\nfoo_bar: anything goes here\nmx: a.test\n\nmax_age: 10\n",
		     &p, err, sizeof(err)), 0, "unknown key and an empty line are ignored");

	is_int(parse("version: STSv1\nmode: enforce\nmode: none\nmx: a.test\nmax_age: 10\nmax_age: 99\n",
		     &p, err, sizeof(err)), 0, "repeated keys: the first wins");
	is_int(p.mode, STS_MODE_ENFORCE, "first mode kept");
	is_int(p.max_age, 10, "first max_age kept");

	is_int(parse("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 9999999999\n", &p, err, sizeof(err)),
	       0, "max_age beyond the limit parses");
	is_int(p.max_age, STS_MAX_AGE_LIMIT, "max_age capped to 31557600");
	is_int(parse("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557600\n", &p, err, sizeof(err)),
	       0, "max_age at the limit");
	is_int(p.max_age, 31557600, "max_age 31557600 kept");
}

/* test_bad - invalid policies and the reason given */
static void test_bad(void)
{
	static const struct { const char *text, *why; } cases[] = {
		{"mode: enforce\nmx: a.test\nmax_age: 10\n", "no version line"},
		{"version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 10\n", "not STSv1"},
		{"version: stsv1\nmode: enforce\nmx: a.test\nmax_age: 10\n", "not STSv1"},
		{"version: STSv1\nmx: a.test\nmax_age: 10\n", "no mode line"},
		{"version: STSv1\nmode: Enforce\nmx: a.test\nmax_age: 10\n", "bad mode"},
		{"version: STSv1\nmode: reject\nmx: a.test\nmax_age: 10\n", "bad mode"},
		{"version: STSv1\nmode: enforce\nmx: a.test\n", "no max_age line"},
		{"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: -1\n", "bad max_age"},
		{"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 1d\n", "bad max_age"},
		{"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 12345678901\n", "bad max_age"},
		{"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: \n", "bad max_age"},
		{"version: STSv1\nmode: enforce\nmax_age: 10\n", "no mx line"},
		{"version: STSv1\nmode: testing\nmax_age: 10\n", "no mx line"},
		{"version: STSv1\nmode: enforce\nmx: bad_host.test\nmax_age: 10\n", "bad mx value"},
		{"version: STSv1\nmode: enforce\nmx: a.*.test\nmax_age: 10\n", "bad mx value"},
		{"version: STSv1\nmode: enforce\nmx: *\nmax_age: 10\n", "bad mx value"},
		{"version: STSv1\nmode: enforce\nmx: \nmax_age: 10\n", "bad mx value"},
		{"version: STSv1\nmode: enforce\nmx a.test\nmax_age: 10\n", "no \"key: value\""},
		{"version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 10\n<html>\n", "no \"key: value\""},
		{"version: STSv1\nmode: enforce\nmx: a.\x01test\nmax_age: 10\n", "control character"},
		{"version: STSv1\nmode: enforce\n: a.test\nmax_age: 10\n", "bad key"},
	};
	struct sts_policy p;
	char err[200];

	for (size_t i = 0; i < N(cases); i++) {
		int r = parse(cases[i].text, &p, err, sizeof(err));

		ok(r == -1 && strstr(err, cases[i].why) != NULL, "invalid policy %zu: %s (%s)", i,
		   cases[i].why, err);
	}

	/* a NUL byte inside the text */
	static const char nul[] = "version: STSv1\nmode: enforce\nmx: a\0.test\nmax_age: 10\n";

	memset(&p, 0, sizeof(p));
	ok(sts_policy_parse(nul, sizeof(nul) - 1, &p, err, sizeof(err)) == -1, "NUL byte refused (%s)", err);

	/* a too long mx value (a 64-octet label; and a name of 254 octets) */
	char text[2048], label[70];

	memset(label, 'a', 64);
	label[64] = '\0';
	snprintf(text, sizeof(text), "version: STSv1\nmode: enforce\nmx: %s.test\nmax_age: 10\n", label);
	ok(parse(text, &p, err, sizeof(err)) == -1 && strstr(err, "bad mx value"), "64-octet label refused");
	label[63] = '\0';
	snprintf(text, sizeof(text), "version: STSv1\nmode: enforce\nmx: %s.%s.%s.%s.test\nmax_age: 10\n",
		 label, label, label, label);
	ok(parse(text, &p, err, sizeof(err)) == -1 && strstr(err, "bad mx value"), "mx name over 253 octets refused");

	/* a line longer than the parser takes */
	struct buf b;

	buf_init(&b, 0);
	buf_puts(&b, "version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 10\nx_long: ");
	for (int i = 0; i < 1100; i++)
		buf_putc(&b, 'x');
	buf_puts(&b, "\n");
	memset(&p, 0, sizeof(p));
	ok(sts_policy_parse(buf_str(&b), b.len, &p, err, sizeof(err)) == -1 && strstr(err, "longer than"),
	   "over-long line refused (%s)", err);
	buf_free(&b);
}

/* test_many_mx - more mx lines than kept: the first STS_MX_MAX stay */
static void test_many_mx(void)
{
	struct buf b;
	struct sts_policy p;
	char err[200];

	buf_init(&b, 0);
	buf_puts(&b, "version: STSv1\nmode: enforce\nmax_age: 10\n");
	for (int i = 0; i < 40; i++)
		buf_printf(&b, "mx: mx%d.example.test\n", i);
	memset(&p, 0, sizeof(p));
	is_int(sts_policy_parse(buf_str(&b), b.len, &p, err, sizeof(err)), 0, "40 mx lines parse");
	is_int((long long) p.nmx, STS_MX_MAX, "only STS_MX_MAX mx lines kept");
	is_str(p.mx[STS_MX_MAX - 1], "mx31.example.test", "the first ones are kept");
	ok(!sts_mx_match(&p, "mx35.example.test"), "a dropped mx line does not match (stricter)");
	buf_free(&b);
}

/* test_txt - _mta-sts TXT records */
static void test_txt(void)
{
	static const struct { const char *txt; int want; const char *id; } cases[] = {
		{"v=STSv1; id=20240101T000000;", 1, "20240101T000000"},
		{"v=STSv1;id=abc", 1, "abc"},
		{"v=STSv1 ; id=abc ; ", 1, "abc"},
		{"v=STSv1;\tid=X1;foo=bar;", 1, "X1"},
		{"v=STSv1; ext.1=v; id=Z", 1, "Z"},
		{"v=STSv1; id=a; id=b", 1, "a"},
		{"v=STSv1; id=12345678901234567890123456789012", 1, "12345678901234567890123456789012"},
		{"v=STSv1; id=123456789012345678901234567890123", -1, NULL},
		{"v=STSv1; id=2024-01", -1, NULL},
		{"v=STSv1; id=", -1, NULL},
		{"v=STSv1;", -1, NULL},
		{"v=STSv1", -1, NULL},
		{"v=STSv1; foo=bar", -1, NULL},
		{"v=STSv1; id=a b", -1, NULL},
		{"v=STSv1 id=a", -1, NULL},
		{"v=STSv1; =x; id=a", -1, NULL},
		{"v=STSv10; id=a", 0, NULL},
		{"v=spf1 -all", 0, NULL},
		{"V=STSv1; id=a", 0, NULL},
		{"", 0, NULL},
	};

	for (size_t i = 0; i < N(cases); i++) {
		char id[STS_ID_MAX + 1] = "", err[200];
		int r = sts_txt_parse(cases[i].txt, strlen(cases[i].txt), id, sizeof(id), err, sizeof(err));

		ok(r == cases[i].want && (cases[i].id == NULL || strcmp(id, cases[i].id) == 0),
		   "TXT \"%s\" -> %d %s (got %d %s %s)", cases[i].txt, cases[i].want,
		   cases[i].id ? cases[i].id : "", r, id, err);
	}
}

/* test_select - one answer with several records */
static void test_select(void)
{
	char id[STS_ID_MAX + 1], err[200];
	static const char *const one[] = {"v=spf1 -all", "v=STSv1; id=abc;"};
	static const char *const two[] = {"v=STSv1; id=abc;", "v=STSv1; id=def;"};
	static const char *const bad[] = {"v=spf1 -all", "v=STSv1; id=a-b;"};
	static const char *const none[] = {"v=spf1 -all", "hello"};
	static const char *const one_bad[] = {"v=STSv1; id=abc;", "v=STSv1; id=a-b;"};

	ok(sts_txt_select(one, N(one), id, sizeof(id), err, sizeof(err)) == 1 && strcmp(id, "abc") == 0,
	   "other TXT records are discarded, one STS record stays");
	ok(sts_txt_select(two, N(two), id, sizeof(id), err, sizeof(err)) == 0 && strstr(err, "2 v=STSv1"),
	   "two STS records: no STS (%s)", err);
	ok(sts_txt_select(one_bad, N(one_bad), id, sizeof(id), err, sizeof(err)) == 0,
	   "a valid and a malformed STS record: no STS (%s)", err);
	ok(sts_txt_select(bad, N(bad), id, sizeof(id), err, sizeof(err)) == 0 && strstr(err, "malformed"),
	   "one malformed STS record: no STS (%s)", err);
	ok(sts_txt_select(none, N(none), id, sizeof(id), err, sizeof(err)) == 0 && err[0] == '\0',
	   "no STS record: no STS, no reason");
	ok(sts_txt_select(none, 0, id, sizeof(id), err, sizeof(err)) == 0, "empty answer: no STS");
}

/* test_match - RFC 8461 section 4.1 */
static void test_match(void)
{
	static const struct { const char *pattern, *name; bool want; } cases[] = {
		{"mx1.example.test", "mx1.example.test", true},
		{"mx1.example.test", "MX1.Example.Test", true},
		{"MX1.example.test", "mx1.example.test.", true},
		{"mx1.example.test.", "mx1.example.test", true},
		{"mx1.example.test", "mx2.example.test", false},
		{"mx1.example.test", "a.mx1.example.test", false},
		{"*.example.test", "mx1.example.test", true},
		{"*.example.test", "MX9.EXAMPLE.TEST.", true},
		{"*.example.test", "example.test", false},
		{"*.example.test", "a.b.example.test", false},
		{"*.example.test", ".example.test", false},
		{"*.example.test", "mx1.example.testx", false},
		{"*.example.test", "mx1.xexample.test", false},
		{"*.example.com", "a.b.example.com", false},
		{"*.example.com", "mail.example.com", true},
		{"mx1.example.test", "", false},
	};
	struct sts_policy p;

	for (size_t i = 0; i < N(cases); i++)
		ok(sts_mx_pattern_match(cases[i].pattern, cases[i].name) == cases[i].want,
		   "mx \"%s\" %s \"%s\"", cases[i].pattern, cases[i].want ? "matches" : "does not match",
		   cases[i].name);

	memset(&p, 0, sizeof(p));
	p.nmx = 2;
	str_copy(p.mx[0], "mx1.example.test", sizeof(p.mx[0]));
	str_copy(p.mx[1], "*.backup.example.test", sizeof(p.mx[1]));
	ok(sts_mx_match(&p, "mx1.example.test"), "policy: exact pattern");
	ok(sts_mx_match(&p, "b1.backup.example.test"), "policy: wildcard pattern");
	ok(!sts_mx_match(&p, "mx2.example.test"), "policy: no pattern matches");
	p.nmx = 0;
	ok(!sts_mx_match(&p, "mx1.example.test"), "policy without mx lines matches nothing");
}

/* test_misc - mode names, domains */
static void test_misc(void)
{
	enum sts_mode m;

	is_str(sts_mode_name(STS_MODE_ENFORCE), "enforce", "mode name enforce");
	is_str(sts_mode_name(STS_MODE_TESTING), "testing", "mode name testing");
	is_str(sts_mode_name(STS_MODE_NONE), "none", "mode name none");
	ok(sts_mode_parse("testing", &m) == 0 && m == STS_MODE_TESTING, "mode parse testing");
	ok(sts_mode_parse("ENFORCE", &m) == -1, "mode parse is case-sensitive");
	ok(sts_domain_ok("example.test"), "domain ok");
	ok(!sts_domain_ok("example.test."), "final dot refused");
	ok(!sts_domain_ok(""), "empty domain refused");
	ok(!sts_domain_ok("exa mple.test"), "space refused");
	ok(!sts_domain_ok("../etc/passwd"), "path refused");
	ok(!sts_domain_ok("[127.0.0.1]"), "address literal refused");
}

int main(void)
{
	test_good();
	test_bad();
	test_many_mx();
	test_txt();
	test_select();
	test_match();
	test_misc();
	return tap_done();
}
