/*
 * test_str - unit tests for lib/base str and buf.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/str.h"
#include "tap.h"

static void test_copy(void)
{
	char small[4];

	ok(str_copy(small, "abc", sizeof(small)) == 0 && strcmp(small, "abc") == 0, "str_copy fits");
	ok(str_copy(small, "abcd", sizeof(small)) == -1 && strcmp(small, "abc") == 0, "str_copy reports a cut");
	ok(str_fmt(small, sizeof(small), "%d", 12345) == -1, "str_fmt reports a cut");
	ok(str_fmt(small, sizeof(small), "%d", 123) == 0 && strcmp(small, "123") == 0, "str_fmt fits");
}

/* test_hexval - every hex digit in both cases, and the neighbours that are none */
static void test_hexval(void)
{
	static const char digits[] = "0123456789abcdef", upper[] = "0123456789ABCDEF";
	bool all = true;

	for (int i = 0; i < 16; i++)
		all = all && str_hexval(digits[i]) == i && str_hexval(upper[i]) == i;
	ok(all, "str_hexval: 0-9, a-f and A-F");
	ok(str_hexval('g') == -1 && str_hexval('G') == -1 && str_hexval('/') == -1 && str_hexval(':') == -1
	   && str_hexval('@') == -1 && str_hexval('`') == -1 && str_hexval('\0') == -1 && str_hexval(-1) == -1,
	   "str_hexval: no other character is a digit");
}

static void test_numbers(void)
{
	static const struct {
		const char *text;
		int kind;	/* 0 int, 1 time, 2 size */
		int ok;
		long long want;
	} cases[] = {
		{"42", 0, 0, 42}, {"-7", 0, 0, -7}, {"", 0, -1, 0}, {" 4", 0, -1, 0},
		{"4 ", 0, -1, 0}, {"4x", 0, -1, 0}, {"99999999999999999999", 0, -1, 0},
		{"1001", 0, -1, 0}, {"30", 1, 0, 30}, {"30s", 1, 0, 30}, {"5m", 1, 0, 300},
		{"2h", 1, 0, 7200}, {"1d", 1, 0, 86400}, {"1w", 1, 0, 604800}, {"3y", 1, -1, 0},
		{"5mm", 1, -1, 0}, {"10k", 2, 0, 10240}, {"10M", 2, 0, 10485760},
		{"1G", 2, 0, 1073741824}, {"7", 2, 0, 7}, {"9999999999999G", 2, -1, 0},
		{"-1k", 2, -1, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long long v = -999;
		int r;

		switch (cases[i].kind) {
		case 0:
			r = str_to_ll(cases[i].text, -1000, 1000, &v);
			break;
		case 1:
			r = str_to_time(cases[i].text, 0, LLONG_MAX, &v);
			break;
		default:
			r = str_to_size(cases[i].text, 0, LLONG_MAX, &v);
			break;
		}
		ok(r == cases[i].ok && (r != 0 || v == cases[i].want),
		   "parse '%s' kind %d -> %d %lld", cases[i].text, cases[i].kind, r, v);
	}
	bool b = false;

	ok(str_to_bool("Yes", &b) == 0 && b, "bool yes");
	ok(str_to_bool("off", &b) == 0 && !b, "bool off");
	ok(str_to_bool("maybe", &b) == -1, "bool maybe refused");
}

static void test_misc(void)
{
	char text[] = "  a, b ,,c  ";
	char *p = text, *t;
	int n = 0;

	while ((t = str_token(&p, ", ")) != NULL)
		n++;
	is_int(n, 3, "str_token splits three tokens");
	ok(str_distance("myhostname", "myhostnme") == 1, "distance of one deletion");
	ok(str_eq_nocase("PostMaster", "postmaster"), "case-insensitive equality");
	char up[] = "MiXeD";

	is_str(str_lower(up), "mixed", "str_lower");
	char sp[] = "  x y  ";

	is_str(str_trim(sp), "x y", "str_trim");
}

static void test_buf(void)
{
	struct buf b;

	buf_init(&b, 8);
	ok(buf_puts(&b, "abcd") == 0, "buf append within limit");
	ok(buf_printf(&b, "%s", "efgh") == 0 && b.len == 8, "buf fills to limit");
	ok(buf_putc(&b, 'x') == -1 && b.len == 8, "buf refuses past limit, unchanged");
	is_str(buf_str(&b), "abcdefgh", "buf contents");
	buf_consume(&b, 3);
	is_str(buf_str(&b), "defgh", "buf_consume");
	buf_truncate(&b, 2);
	is_str(buf_str(&b), "de", "buf_truncate");
	char *s = buf_steal(&b);

	is_str(s, "de", "buf_steal");
	free(s);
	ok(b.len == 0 && b.data == NULL, "buf empty after steal");
	buf_free(&b);
}

int main(void)
{
	test_copy();
	test_hexval();
	test_numbers();
	test_misc();
	test_buf();
	return tap_done();
}
