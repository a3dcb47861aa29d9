/*
 * test_dns_plan - unit tests for lib/mail/dns_plan.c: the nameservers of
 * resolv.conf text as libunbound's ub_ctx_resolvconf takes them, and
 * trust anchor file text split into records, with -1 for every syntax
 * the reader leaves to libunbound.
 */
#include <string.h>

#include "mail/dns_int.h"
#include "tap.h"

/* plan_case - input text, expected return and the records joined by '|' */
struct plan_case {
	const char *name;
	const char *text;
	int ret;
	const char *want;		/* "" none; not compared when ret is -1 */
};

/* joined - the strings of v joined by '|' into out */
static const char *joined(char **v, size_t n, char *out, size_t size)
{
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			strncat(out, "|", size - strlen(out) - 1);
		strncat(out, v[i], size - strlen(out) - 1);
	}
	return out;
}

int main(void)
{
	static const struct plan_case resolv[] = {
		{"one nameserver", "nameserver 10.0.0.1\n", 0, "10.0.0.1"},
		{"comments, search, blanks and tabs", "# x\nsearch a.test\n  nameserver\t::1 # c\nnameserver 10.0.0.2",
		 0, "::1|10.0.0.2"},
		{"scope and options cut like libunbound", "nameserver fe80::1%eth0\noptions ndots:2\n", 0, "fe80::1"},
		{"none: 127.0.0.1", "search a.test\n", 0, "127.0.0.1"},
		{"empty file: 127.0.0.1", "", 0, "127.0.0.1"},
		{"a name is libunbound's to refuse", "nameserver resolver.test\n", -1, ""},
		{"no address is libunbound's to refuse", "nameserver\n", -1, ""},
	};
	static const struct plan_case anchors[] = {
		{"one record per line, comments", ". IN DS 20326 8 2 E06D ; keytag\n\n; only a comment\n"
		 "test. 3600 IN DS 1 8 2 AB\n", 0, ". IN DS 20326 8 2 E06D|test. 3600 IN DS 1 8 2 AB"},
		{"parentheses over lines", "example. IN DNSKEY 257 3 8 (\n\tAwEAAa ; first half\n\tbbbb )\n",
		 0, "example. IN DNSKEY 257 3 8    AwEAAa   bbbb"},
		{"CRLF and no final newline", "a. DS 1 2 3 AB\r\nb. DS 1 2 3 CD", 0, "a. DS 1 2 3 AB|b. DS 1 2 3 CD"},
		{"blank lines with white space", "a. DS 1 2 3 AB\n   \n\t; x\n", 0, "a. DS 1 2 3 AB"},
		{"empty file", "", 0, ""},
		{"$ORIGIN", "$ORIGIN .\na DS 1 2 3 AB\n", -1, ""},
		{"@ owner", "@ DS 1 2 3 AB\n", -1, ""},
		{"owner continued from the line before", "a. DS 1 2 3 AB\n DS 1 2 3 CD\n", -1, ""},
		{"quotes", "a. TXT \"x\"\n", -1, ""},
		{"unbalanced (", "a. DNSKEY 257 3 8 ( AB\n", -1, ""},
		{"unbalanced )", "a. DNSKEY 257 3 8 AB )\n", -1, ""},
	};
	char got[512];

	for (size_t i = 0; i < sizeof(resolv) / sizeof(resolv[0]); i++) {
		struct dns_plan p = {0};
		int r = dns_plan_resolvconf(&p, resolv[i].text);

		ok(r == resolv[i].ret, "resolv.conf, %s: returns %d", resolv[i].name, resolv[i].ret);
		if (r == 0)
			is_str(joined(p.fwd, p.nfwd, got, sizeof(got)), resolv[i].want, resolv[i].name);
		dns_plan_free(&p);
		ok(p.fwd == NULL && p.nfwd == 0, "resolv.conf, %s: freed", resolv[i].name);
	}
	for (size_t i = 0; i < sizeof(anchors) / sizeof(anchors[0]); i++) {
		struct dns_plan p = {0};
		int r = dns_plan_anchors(&p, anchors[i].text);

		ok(r == anchors[i].ret, "anchors, %s: returns %d", anchors[i].name, anchors[i].ret);
		if (r == 0)
			is_str(joined(p.ta, p.nta, got, sizeof(got)), anchors[i].want, anchors[i].name);
		dns_plan_free(&p);
	}
	{
		struct dns_plan p = {0};

		dns_plan_add_fwd(&p, "127.0.0.1@5353");
		dns_plan_add_fwd(&p, "::1");
		is_str(joined(p.fwd, p.nfwd, got, sizeof(got)), "127.0.0.1@5353|::1", "forwarders kept in order");
		dns_plan_free(&p);
	}
	return tap_done();
}
