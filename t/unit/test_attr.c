/*
 * test_attr - unit tests for lib/base attr: round trips, the exact wire
 * bytes, every decoding error, truncation, encoder limits, lookups, and a
 * seeded fuzz loop that mutates valid frames.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/attr.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "tap.h"

/* frame - prefix + payload bytes in a heap block of exactly that size (ASan sees overreads) */
static unsigned char *frame(const void *payload, size_t n, size_t *total)
{
	unsigned char *p = xmalloc(n + 4);

	p[0] = (unsigned char) (n >> 24);
	p[1] = (unsigned char) (n >> 16);
	p[2] = (unsigned char) (n >> 8);
	p[3] = (unsigned char) n;
	memcpy(p + 4, payload, n);
	*total = n + 4;
	return p;
}

/* decode_err - decode bytes expecting -1; returns the error text (static) */
static const char *decode_err(const void *payload, size_t n, size_t max_frame)
{
	static char err[ATTR_ERR_MAX];
	struct attr_list l;
	size_t total;
	size_t used = 12345;
	unsigned char *p = frame(payload, n, &total);
	int r;

	attr_list_init(&l);
	attr_add_str(&l, "stale", "x");	/* an error must leave the list empty */
	str_copy(err, "(no error)", sizeof(err));
	r = attr_decode(p, total, max_frame, &l, &used, err, sizeof(err));
	if (r != -1 || attr_count(&l) != 0 || used != 12345)
		diag("decode returned %d, count %zu, consumed %zu", r, attr_count(&l), used);
	if (r != -1)
		str_copy(err, "(decoded)", sizeof(err));
	attr_list_free(&l);
	free(p);
	return err;
}

static void test_round_trip(void)
{
	static const char bin[] = {'a', 0, 'b', 0, (char) 0xff};
	struct attr_list l;
	struct attr_list d;
	struct buf b;
	char err[ATTR_ERR_MAX] = "";
	size_t used = 0;
	const char *s;
	const void *p;
	size_t n;
	int64_t v;
	const struct attr *a;
	int rcpts = 0;

	attr_list_init(&l);
	attr_list_init(&d);
	buf_init(&b, 0);
	ok(attr_add_str(&l, "empty", "") == 0, "add empty string");
	ok(attr_add_str(&l, "sender", "alice@example.org") == 0, "add string");
	ok(attr_add_int(&l, "min", INT64_MIN) == 0, "add INT64_MIN");
	ok(attr_add_int(&l, "max", INT64_MAX) == 0, "add INT64_MAX");
	ok(attr_add_int(&l, "zero", 0) == 0 && attr_add_int(&l, "minus_one", -1) == 0, "add 0, -1");
	ok(attr_add_data(&l, "bin", bin, sizeof(bin)) == 0, "add binary with NULs");
	ok(attr_add_data(&l, "nothing", NULL, 0) == 0, "add empty data");
	ok(attr_add_strn(&l, "part", "abcdef", 3) == 0, "add counted string");
	for (int i = 0; i < 3; i++) {
		char rcpt[32];

		snprintf(rcpt, sizeof(rcpt), "r%d@example.net", i);
		attr_add_str(&l, "rcpt", rcpt);
	}
	ok(attr_list_error(&l) == NULL, "no error recorded");
	ok(attr_encode(&l, &b) == 0, "encode");
	is_int((long long) b.len, (long long) attr_encoded_size(&l), "encoded size as announced");
	is_int(attr_decode(b.data, b.len, 0, &d, &used, err, sizeof(err)), 1, "decode");
	is_int((long long) used, (long long) b.len, "consumed the whole frame");
	is_int((long long) attr_count(&d), 12, "12 attributes");

	ok(attr_get_str(&d, "empty", &s) && strcmp(s, "") == 0, "empty string back");
	ok(attr_get_str(&d, "sender", &s) && strcmp(s, "alice@example.org") == 0, "string back");
	ok(attr_get_int(&d, "min", &v) && v == INT64_MIN, "INT64_MIN back");
	ok(attr_get_int(&d, "max", &v) && v == INT64_MAX, "INT64_MAX back");
	ok(attr_get_int(&d, "zero", &v) && v == 0, "0 back");
	ok(attr_get_int(&d, "minus_one", &v) && v == -1, "-1 back");
	ok(attr_get_data(&d, "bin", &p, &n) && n == sizeof(bin) && memcmp(p, bin, n) == 0,
	    "binary data back");
	ok(attr_get_data(&d, "nothing", &p, &n) && n == 0, "empty data back");
	ok(attr_get_str(&d, "part", &s) && strcmp(s, "abc") == 0, "counted string back, terminated");
	for (a = attr_find(&d, "rcpt", NULL); a; a = attr_find(&d, "rcpt", a)) {
		char want[32];

		snprintf(want, sizeof(want), "r%d@example.net", rcpts);
		if (strcmp(a->value, want) == 0 && a->type == ATTR_STR)
			rcpts++;
	}
	is_int(rcpts, 3, "repeated names iterate in order");
	ok(strcmp(attr_at(&d, 0)->name, "empty") == 0 && strcmp(attr_at(&d, 11)->name, "rcpt") == 0,
	    "attr_at in frame order");
	ok(attr_at(&d, 1)->name_len == 6 && attr_at(&d, 1)->len == 17, "lengths kept");

	/* re-encoding a decoded list gives the same bytes */
	{
		struct buf b2;

		buf_init(&b2, 0);
		ok(attr_encode(&d, &b2) == 0 && b2.len == b.len && memcmp(b.data, b2.data, b.len) == 0,
		    "decoded list re-encodes identically");
		buf_free(&b2);
	}

	/* a list is reusable after reset, and decoding replaces the content */
	attr_list_reset(&l);
	is_int((long long) attr_count(&l), 0, "reset empties");
	attr_add_int(&l, "n", 7);
	buf_reset(&b);
	attr_encode(&l, &b);
	ok(attr_decode(b.data, b.len, 0, &d, &used, err, sizeof(err)) == 1 && attr_count(&d) == 1
	    && attr_get_int(&d, "n", &v) && v == 7, "decode into a used list replaces it");

	attr_list_free(&l);
	attr_list_free(&d);
	buf_free(&b);
}

static void test_exact_bytes(void)
{
	static const unsigned char want[] = {
		0, 0, 0, 34, 1,
		'S', 1, 'a', 0, 0, 0, 2, 'x', 'y',
		'I', 1, 'n', 0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
		'D', 1, 'd', 0, 0, 0, 2, 0, 1,
	};
	struct attr_list l;
	struct buf b;
	unsigned char head[64];

	attr_list_init(&l);
	buf_init(&b, 0);
	buf_append(&b, "zz", 2);		/* attr_encode appends */
	attr_add_str(&l, "a", "xy");
	attr_add_int(&l, "n", -2);
	attr_add_data(&l, "d", "\0\1", 2);
	ok(attr_encode(&l, &b) == 0, "encode the known frame");
	ok(b.len == 2 + sizeof(want) && memcmp(b.data + 2, want, sizeof(want)) == 0,
	    "known frame byte for byte, appended");
	is_int((long long) attr_encode_head(&l, head), (long long) sizeof(want) - 2,
	    "attr_encode_head leaves out the last value");
	ok(memcmp(head, want, sizeof(want) - 2) == 0, "attr_encode_head bytes");
	attr_list_free(&l);
	buf_free(&b);
}

static void test_malformed(void)
{
	/* each payload is a version byte and attributes */
	static const unsigned char two_ok[] = {
		1, 'S', 1, 'a', 0, 0, 0, 1, 'x', 'I', 1, 'b', 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 5,
	};
	static const struct {
		const char *name;
		unsigned char bytes[32];
		size_t n;
		const char *err;
	} cases[] = {
		{"bad version", {2, 'S', 1, 'a', 0, 0, 0, 0}, 8, "unsupported protocol version 2"},
		{"version 0", {0}, 1, "unsupported protocol version 0"},
		{"bad type", {1, 'X', 1, 'a', 0, 0, 0, 0}, 8, "attribute 1: unknown type 0x58"},
		{"lower-case type", {1, 's', 1, 'a', 0, 0, 0, 0}, 8, "attribute 1: unknown type 0x73"},
		{"name length 0", {1, 'S', 0, 0, 0, 0, 0}, 7, "attribute 1: name length 0"},
		{"name length 65", {1, 'S', 65, 'a', 0, 0, 0, 0}, 8, "attribute 1: name length 65"},
		{"name past end", {1, 'S', 9, 'a', 'b', 0, 0, 0, 0}, 9,
		    "attribute 1: name runs past the end of the frame"},
		{"upper-case name", {1, 'S', 1, 'A', 0, 0, 0, 0}, 8,
		    "attribute 1: bad character 0x41 in name"},
		{"dash in name", {1, 'S', 2, 'a', '-', 0, 0, 0, 0}, 9,
		    "attribute 1: bad character 0x2d in name"},
		{"NUL in name", {1, 'S', 2, 'a', 0, 0, 0, 0, 0}, 9,
		    "attribute 1: bad character 0x00 in name"},
		{"value past end", {1, 'D', 1, 'a', 0, 0, 0, 10, 'x', 'y'}, 10,
		    "attribute 1 (\"a\"): value length 10 but 2 bytes left"},
		{"huge value length", {1, 'D', 1, 'a', 0xff, 0xff, 0xff, 0xff, 'x'}, 9,
		    "attribute 1 (\"a\"): value length 4294967295 but 1 bytes left"},
		{"short integer", {1, 'I', 1, 'n', 0, 0, 0, 4, 0, 0, 0, 1}, 12,
		    "attribute 1 (\"n\"): integer of 4 bytes, want 8"},
		{"long integer", {1, 'I', 1, 'n', 0, 0, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 17,
		    "attribute 1 (\"n\"): integer of 9 bytes, want 8"},
		{"NUL in string", {1, 'S', 1, 's', 0, 0, 0, 3, 'a', 0, 'b'}, 11,
		    "attribute 1 (\"s\"): string contains NUL"},
		{"trailing garbage", {1, 'S', 1, 'a', 0, 0, 0, 0, 'z'}, 9,
		    "attribute 2: truncated, 1 trailing bytes"},
		{"truncated header", {1, 'S', 1, 'a', 0}, 5, "attribute 1: truncated, 4 trailing bytes"},
	};
	unsigned char third[64];
	size_t total;
	unsigned char *p;
	struct attr_list l;
	char err[ATTR_ERR_MAX];
	size_t used = 99;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_str(decode_err(cases[i].bytes, cases[i].n, 0), cases[i].err, cases[i].name);

	/* the error names the attribute by position */
	memcpy(third, two_ok, sizeof(two_ok));
	memcpy(third + sizeof(two_ok), "\x53\x00\x00\x00\x00\x00", 6);
	is_str(decode_err(third, sizeof(two_ok) + 6, 0), "attribute 3: name length 0",
	    "third attribute: name length 0");
	is_str(decode_err(two_ok, sizeof(two_ok), 10), "frame of 24 bytes exceeds limit 10",
	    "receiver's own limit");

	attr_list_init(&l);
	/* an oversized or empty prefix is refused before the payload arrives */
	p = frame("", 0, &total);
	is_int(attr_decode(p, total, 0, &l, &used, err, sizeof(err)), -1, "empty frame refused");
	is_str(err, "empty frame (length 0)", "empty frame reason");
	free(p);
	{
		static const unsigned char big[4] = {0, 0x4c, 0x4b, 0x40};	/* 5000000 */

		is_int(attr_decode(big, 4, 0, &l, &used, err, sizeof(err)), -1,
		    "oversized prefix refused from 4 bytes");
		is_str(err, "frame of 5000000 bytes exceeds limit 1048576", "oversized reason");
		is_int(attr_decode(big, 4, 0, &l, &used, NULL, 0), -1, "errors without an err buffer");
	}
	is_int((long long) used, 99, "nothing consumed on errors");
	attr_list_free(&l);
}

static void test_count_limit(void)
{
	struct attr_list l;
	struct buf b;
	char err[ATTR_ERR_MAX] = "";
	size_t used;
	size_t n;
	unsigned char *raw;
	int added = 0;

	attr_list_init(&l);
	buf_init(&b, 0);
	for (int i = 0; i < ATTR_COUNT_MAX; i++)
		added += attr_add_int(&l, "i", i) == 0;
	is_int(added, ATTR_COUNT_MAX, "ATTR_COUNT_MAX attributes accepted");
	attr_encode(&l, &b);
	is_int(attr_decode(b.data, b.len, 0, &l, &used, err, sizeof(err)), 1,
	    "ATTR_COUNT_MAX attributes decode");
	is_int(attr_add_int(&l, "i", ATTR_COUNT_MAX), -1, "one more refused by the encoder");
	is_str(attr_list_error(&l), "attribute \"i\": more than 16384 attributes", "count limit reason");

	/* hand-build one more on the wire */
	n = b.len - 4 + 15;
	raw = xmalloc(n);
	memcpy(raw, b.data + 4, b.len - 4);
	memcpy(raw + b.len - 4, "I\1i\0\0\0\10\0\0\0\0\0\0\0\1", 15);
	is_str(decode_err(raw, n, 0), "more than 16384 attributes", "one more refused by the decoder");
	free(raw);
	attr_list_free(&l);
	buf_free(&b);
}

static void test_truncation(void)
{
	struct attr_list l;
	struct buf b;
	char err[ATTR_ERR_MAX];
	size_t used;
	size_t first;
	size_t need_more = 0;
	unsigned char *p;

	attr_list_init(&l);
	buf_init(&b, 0);
	attr_add_str(&l, "sender", "a@b");
	attr_add_int(&l, "size", 12345);
	attr_add_data(&l, "chunk", "\0\1\2\3", 4);
	attr_encode(&l, &b);
	first = b.len;
	attr_list_reset(&l);
	attr_add_str(&l, "second", "frame");
	attr_encode(&l, &b);
	for (size_t k = 0; k < first; k++) {
		/* copy to an exact-size block so an overread is caught */
		p = xmemdup(b.data, k ? k : 1);
		used = 777;
		if (attr_decode(p, k, 0, &l, &used, err, sizeof(err)) == 0 && used == 777)
			need_more++;
		free(p);
	}
	is_int((long long) need_more, (long long) first,
	    "every truncation of a frame needs more bytes, consumes none");
	ok(attr_decode(b.data, b.len, 0, &l, &used, err, sizeof(err)) == 1 && used == first
	    && attr_count(&l) == 3, "first of two frames");
	ok(attr_decode(b.data + used, b.len - used, 0, &l, &used, err, sizeof(err)) == 1
	    && used == b.len - first && attr_count(&l) == 1, "second of two frames");
	attr_list_free(&l);
	buf_free(&b);
}

static void test_encoder_limits(void)
{
	struct attr_list l;
	struct attr_list d;
	struct buf b;
	char *big = xcalloc(1, ATTR_FRAME_MAX);
	char name[80];
	char err[ATTR_ERR_MAX];
	size_t used;

	attr_list_init(&l);
	attr_list_init(&d);
	buf_init(&b, 0);

	is_int(attr_add_str(&l, "Bad", "x"), -1, "upper-case name refused");
	is_str(attr_list_error(&l), "bad attribute name \"Bad\"", "bad name reason");
	is_int(attr_add_str(&l, "good", "x"), -1, "adds after an error are refused");
	is_int(attr_encode(&l, &b), -1, "encode refuses a list with an error");
	is_int((long long) b.len, 0, "buf unchanged");
	attr_list_reset(&l);
	ok(attr_list_error(&l) == NULL, "reset clears the error");
	is_int(attr_add_str(&l, "", "x"), -1, "empty name refused");
	attr_list_reset(&l);
	memset(name, 'a', 65);
	name[65] = '\0';
	is_int(attr_add_str(&l, name, "x"), -1, "65-character name refused");
	attr_list_reset(&l);
	name[64] = '\0';
	is_int(attr_add_str(&l, name, "x"), 0, "64-character name accepted");
	attr_list_reset(&l);
	is_int(attr_add_str(&l, "a.b", "x"), -1, "dot in name refused");
	attr_list_reset(&l);
	is_int(attr_add_strn(&l, "s", "a\0b", 3), -1, "string with NUL refused");
	is_str(attr_list_error(&l), "attribute \"s\": string contains NUL", "NUL reason");
	attr_list_reset(&l);
	ok(attr_name_ok("rcpt_2", 6) && !attr_name_ok("rcpt", 0), "attr_name_ok");

	/* the largest frame: payload = 1 + 6 + 1 + value */
	is_int(attr_add_data(&l, "d", big, ATTR_FRAME_MAX - 8), 0, "largest value fits the limit");
	is_int((long long) attr_encoded_size(&l), ATTR_FRAME_MAX + 4, "frame of exactly the limit");
	ok(attr_encode(&l, &b) == 0 && attr_decode(b.data, b.len, 0, &d, &used, err, sizeof(err)) == 1,
	    "largest frame decodes with the default limit");
	attr_list_reset(&l);
	is_int(attr_add_data(&l, "d", big, ATTR_FRAME_MAX - 7), -1, "one byte more is refused");
	is_str(attr_list_error(&l), "attribute \"d\": 1048569-byte value would pass the frame limit 1048576",
	    "limit reason");
	attr_list_reset(&l);
	attr_list_set_limit(&l, 20);
	ok(attr_add_str(&l, "a", "12345") == 0 && attr_add_str(&l, "b", "1") == -1,
	    "a smaller sender limit");
	attr_list_reset(&l);
	attr_list_set_limit(&l, 0);
	ok(attr_add_data(&l, "d", big, ATTR_FRAME_MAX - 8) == 0, "limit 0 means the default");

	/* a buf limit also stops attr_encode, leaving the buf as it was */
	{
		struct buf small;

		buf_init(&small, 10);
		buf_append(&small, "ab", 2);
		is_int(attr_encode(&l, &small), -1, "encode refuses past the buf limit");
		ok(small.len == 2 && memcmp(small.data, "ab", 2) == 0, "buf untouched");
		buf_free(&small);
	}

	/* data by reference is not copied until encoding */
	{
		char val[4] = "abc";

		attr_list_reset(&l);
		buf_reset(&b);
		attr_add_data_ref(&l, "r", val, 3);
		val[0] = 'X';
		attr_encode(&l, &b);
		ok(attr_decode(b.data, b.len, 0, &d, &used, err, sizeof(err)) == 1
		    && memcmp(attr_at(&d, 0)->value, "Xbc", 3) == 0, "attr_add_data_ref refers");
	}
	free(big);
	attr_list_free(&l);
	attr_list_free(&d);
	buf_free(&b);
}

static void test_lookups(void)
{
	struct attr_list l;
	char err[ATTR_ERR_MAX];
	const char *s = "untouched";
	const void *p;
	size_t n;
	int64_t v = 42;

	attr_list_init(&l);
	attr_add_str(&l, "sender", "a@b");
	attr_add_int(&l, "size", 10);
	attr_add_int(&l, "size", 20);
	ok(!attr_get_str(&l, "nosuch", &s) && strcmp(s, "untouched") == 0, "absent: false, untouched");
	ok(!attr_get_str(&l, "size", &s) && strcmp(s, "untouched") == 0, "wrong type: false");
	ok(attr_get_int(&l, "size", &v) && v == 10, "the first of repeated names");
	is_int(attr_need_str(&l, "recipient", &s, err, sizeof(err)), -1, "need: missing");
	is_str(err, "missing attribute \"recipient\"", "missing reason");
	is_int(attr_need_str(&l, "size", &s, err, sizeof(err)), -1, "need: wrong type");
	is_str(err, "attribute \"size\" has type I, want S", "wrong type reason");
	is_int(attr_need_data(&l, "sender", &p, &n, err, sizeof(err)), -1, "need data: wrong type");
	is_str(err, "attribute \"sender\" has type S, want D", "wrong type reason (data)");
	is_int(attr_need_int(&l, "sender", &v, err, sizeof(err)), -1, "need int: wrong type");
	ok(attr_need_str(&l, "sender", &s, err, sizeof(err)) == 0 && strcmp(s, "a@b") == 0, "need: present");
	ok(attr_find(&l, "size", attr_find(&l, "size", NULL))->num == 20, "attr_find continues");
	attr_list_free(&l);
}

/* fuzz_next - xorshift64, deterministic across platforms */
static uint64_t fuzz_next(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void test_fuzz(void)
{
	struct attr_list l;
	struct attr_list d;
	struct buf seed;
	struct buf again;
	uint64_t rng = 0x7465726e;	/* "tern" */
	int decoded = 0, more = 0, errors = 0, bad = 0;

	attr_list_init(&l);
	attr_list_init(&d);
	buf_init(&seed, 0);
	buf_init(&again, 0);
	attr_add_str(&l, "sender", "alice@example.org");
	attr_add_str(&l, "rcpt", "bob@example.net");
	attr_add_int(&l, "size", 4242);
	attr_add_data(&l, "chunk", "\0\1\2\3\4\5\6\7", 8);
	attr_add_str(&l, "empty", "");
	attr_encode(&l, &seed);

	for (int iter = 0; iter < 5000; iter++) {
		size_t n = seed.len;
		unsigned char *p = xmalloc(n + 8);
		int muts = 1 + (int) (fuzz_next(&rng) % 4);
		char err[ATTR_ERR_MAX];
		size_t used = 0;
		int r;

		memcpy(p, seed.data, n);
		for (int m = 0; m < muts; m++) {
			size_t at = (size_t) (fuzz_next(&rng) % n);

			switch (fuzz_next(&rng) % 5) {
			case 0:
				p[at] ^= (unsigned char) (1u << (fuzz_next(&rng) % 8));
				break;
			case 1:
				p[at] = (unsigned char) fuzz_next(&rng);
				break;
			case 2:	/* truncate */
				n = at + 1;
				break;
			case 3:	/* grow with junk, and sometimes fix the prefix */
				if (n < seed.len + 8)
					p[n++] = (unsigned char) fuzz_next(&rng);
				if (fuzz_next(&rng) % 2) {
					p[0] = p[1] = 0;
					p[2] = (unsigned char) ((n - 4) >> 8);
					p[3] = (unsigned char) (n - 4);
				}
				break;
			default:	/* a length byte somewhere in the first attribute */
				p[5 + fuzz_next(&rng) % 8] = (unsigned char) fuzz_next(&rng);
				break;
			}
		}
		{
			unsigned char *exact = xmemdup(p, n);

			r = attr_decode(exact, n, fuzz_next(&rng) % 3 ? 0 : 64, &d, &used, err, sizeof(err));
			if (r == 1) {
				/* what decodes is canonical: it re-encodes to the same bytes */
				buf_reset(&again);
				if (used > n || attr_encode(&d, &again) < 0 || again.len != used
				    || memcmp(again.data, exact, used) != 0)
					bad++;
				decoded++;
			} else if (r == 0) {
				more++;
			} else if (r == -1 && err[0] && attr_count(&d) == 0) {
				errors++;
			} else {
				bad++;
			}
			free(exact);
		}
		free(p);
	}
	is_int(bad, 0, "5000 mutated frames: no crash, valid outcome, decoded ones canonical");
	diag("fuzz: %d decoded, %d need more, %d errors", decoded, more, errors);
	ok(decoded > 0 && more > 0 && errors > 0, "fuzz reached all three outcomes");
	attr_list_free(&l);
	attr_list_free(&d);
	buf_free(&seed);
	buf_free(&again);
}

int main(void)
{
	test_round_trip();
	test_exact_bytes();
	test_malformed();
	test_count_limit();
	test_truncation();
	test_encoder_limits();
	test_lookups();
	test_fuzz();
	return tap_done();
}
