/*
 * test_addr_list - RFC 5322 address lists: a table of header values and
 * command-line arguments with the addr-specs they must give, or the
 * failure they must cause.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "mail/addr_list.h"
#include "tap.h"

/* one case: input, then the addresses joined with '|', or NULL for an error */
static const struct {
	const char *in;
	const char *want;
} cases[] = {
	{"user@example.com", "user@example.com"},
	{"root", "root"},
	{"", ""},
	{"  ,, ,", ""},
	{"a@b, c@d", "a@b|c@d"},
	{"John Doe <john@example.com>", "john@example.com"},
	{"\"Doe, John\" <john@example.com>, jane@example.com", "john@example.com|jane@example.com"},
	{"john@example.com (John Doe)", "john@example.com"},
	{"(comment (nested)) john @ example . com", "john@example.com"},
	{"<@relay.example,@other.example:user@example.com>", "user@example.com"},
	{"undisclosed-recipients:;", ""},
	{"Team: a@b, \"c d\" <c@d>; e@f", "a@b|c@d|e@f"},
	{"\"quoted local\"@example.com", "\"quoted local\"@example.com"},
	{"\"a\\\"b\"@example.com", "\"a\\\"b\"@example.com"},
	{"user@[192.0.2.1]", "user@[192.0.2.1]"},
	{"j\xc3\xb6rg@example.com", "j\xc3\xb6rg@example.com"},
	{"a@b,\r\n\tc@d", "a@b|c@d"},
	{"first.last@example.com", "first.last@example.com"},
	{"=?UTF-8?B?SsO2cmc=?= <joerg@example.com>", "joerg@example.com"},
	/* errors */
	{"John Doe john@example.com", NULL},
	{"<>", NULL},
	{"Name <a@b", NULL},
	{"a@b>", NULL},
	{"\"unterminated@example.com", NULL},
	{"(unterminated comment a@b", NULL},
	{"<a@b> trailing", NULL},
	{"<a b@c>", NULL},
	{"a@b;", NULL},
	{"a\001b@c", NULL},
	{"<@relay:>", NULL},
	{"a@[192.0.2.1", NULL},
	{"a\\b@c", NULL},
};

/* printable - the input with control characters as '?', for test names */
static const char *printable(const char *s)
{
	static char out[200];
	size_t i;

	for (i = 0; s[i] && i < sizeof(out) - 1; i++)
		out[i] = (unsigned char) s[i] < 0x20 ? '?' : s[i];
	out[i] = '\0';
	return out;
}

/* joined - the list as "a|b|c" */
static void joined(const struct addr_list *l, struct buf *out)
{
	buf_reset(out);
	for (size_t i = 0; i < l->count; i++)
		buf_printf(out, "%s%s", i ? "|" : "", l->addrs[i]);
}

int main(void)
{
	struct buf got = BUF_INIT;
	char err[256];

	buf_init(&got, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct addr_list l;
		int rc;

		addr_list_init(&l);
		err[0] = '\0';
		rc = addr_list_parse(&l, cases[i].in, strlen(cases[i].in), err, sizeof(err));
		if (cases[i].want == NULL) {
			ok(rc == -1 && err[0] != '\0' && l.count == 0, "refused: '%s' (%s)", printable(cases[i].in), err);
		} else {
			char name[300];

			snprintf(name, sizeof(name), "parsed: '%s'", printable(cases[i].in));
			if (rc != 0)
				printf("# error: %s\n", err);
			joined(&l, &got);
			is_str(rc == 0 ? buf_str(&got) : "(error)", cases[i].want, name);
		}
		addr_list_free(&l);
	}

	/* appending: a failed call leaves what came before */
	{
		struct addr_list l;

		addr_list_init(&l);
		ok(addr_list_parse(&l, "a@b", 3, err, sizeof(err)) == 0, "first list");
		ok(addr_list_parse(&l, "c@d, <bad", 9, err, sizeof(err)) == -1, "second list fails");
		is_int((long long) l.count, 1, "the first list's address is kept, none of the second");
		addr_list_free(&l);
	}

	/* limits: an over-long address is refused, a long display name is not */
	{
		struct addr_list l;
		struct buf in = BUF_INIT;

		buf_init(&in, 0);
		for (int i = 0; i < ADDR_LIST_ADDR_MAX; i++)
			buf_putc(&in, 'a');
		buf_puts(&in, "@example.com");
		addr_list_init(&l);
		ok(addr_list_parse(&l, in.data, in.len, err, sizeof(err)) == -1, "over-long address refused (%s)", err);
		buf_reset(&in);
		for (int i = 0; i < 2 * ADDR_LIST_ADDR_MAX; i++)
			buf_puts(&in, "x ");
		buf_puts(&in, "<a@b>");
		ok(addr_list_parse(&l, in.data, in.len, err, sizeof(err)) == 0 && l.count == 1,
		   "a long display name is fine");
		addr_list_free(&l);
		buf_reset(&in);
		for (int i = 0; i <= ADDR_LIST_MAX; i++)
			buf_puts(&in, "a@b,");
		ok(addr_list_parse(&l, in.data, in.len, err, sizeof(err)) == -1 && l.count == 0,
		   "more than ADDR_LIST_MAX addresses refused (%s)", err);
		addr_list_free(&l);
		buf_free(&in);
	}
	buf_free(&got);
	return tap_done();
}
