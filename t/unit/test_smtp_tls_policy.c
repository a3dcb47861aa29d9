/*
 * test_smtp_tls_policy - the pure parts of the outbound TLS policy
 * engine: policy table entries and their lookup (exact, then .parent),
 * TLSA usability, verification error types, the decision table for one
 * MX host (every source and its precedence), and the TLS result event
 * lines (format, bounds, parse, O_APPEND writes).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/x509_vfy.h>

#include "mail/table.h"
#include "mail/tls_event.h"
#include "mail/tls_policy.h"
#include "tap.h"

/* test_parse - entry syntax */
static void test_parse(void)
{
	struct tls_policy_entry e;
	char err[256];

	ok(tls_policy_parse("encrypt", &e, err, sizeof(err)) == 0 && e.level == TLS_LEVEL_ENCRYPT &&
	   e.rollover465 && e.nmatch == 0, "parse: encrypt");
	ok(tls_policy_parse("may rollover465=no", &e, err, sizeof(err)) == 0 && e.level == TLS_LEVEL_MAY &&
	   !e.rollover465, "parse: may rollover465=no");
	ok(tls_policy_parse("  Verify   match=MX1.Example.org:hostname ", &e, err, sizeof(err)) == 0 &&
	   e.level == TLS_LEVEL_VERIFY && e.nmatch == 2, "parse: verify with two match names");
	is_str(e.match[0], "mx1.example.org", "parse: match names folded to lower case");
	is_str(e.match[1], "hostname", "parse: second match name");
	ok(tls_policy_parse("dane-only", &e, err, sizeof(err)) == 0 && e.level == TLS_LEVEL_DANE,
	   "parse: dane-only is dane");
	ok(tls_policy_parse("sometimes", &e, err, sizeof(err)) < 0 && strstr(err, "sometimes") != NULL,
	   "parse: unknown level named");
	ok(tls_policy_parse("may colour=blue", &e, err, sizeof(err)) < 0 && strstr(err, "colour") != NULL,
	   "parse: unknown option named");
	ok(tls_policy_parse("may rollover465=perhaps", &e, err, sizeof(err)) < 0, "parse: bad boolean");
	ok(tls_policy_parse("", &e, err, sizeof(err)) < 0, "parse: empty entry");
	ok(tls_policy_parse("verify match=", &e, err, sizeof(err)) < 0, "parse: empty match list");
	ok(tls_policy_parse("verify match=a:b:c:d:e:f:g:h:i", &e, err, sizeof(err)) < 0,
	   "parse: too many match names");
	for (int l = TLS_LEVEL_NONE; l <= TLS_LEVEL_DANE; l++) {
		enum tls_level back;

		ok(tls_level_parse(tls_level_name((enum tls_level) l), &back) == 0 && (int) back == l,
		   "level name round trip: %s", tls_level_name((enum tls_level) l));
	}
}

/* test_find - exact domain first, then .parent entries, nearest first */
static void test_find(void)
{
	char err[TABLE_ERR_SIZE], key[300];
	struct tls_policy_entry e;
	struct tables *ts = tables_open("inline:{ example.com=encrypt, { .example.com = may rollover465=no }, "
					"{ .sub.example.com = verify }, broken.test=sometimes }", 0, err,
					sizeof(err));

	ok(ts != NULL, "open inline policy table");
	if (ts == NULL) {
		printf("# %s\n", err);
		return;
	}
	ok(tls_policy_find(ts, "example.com", &e, key, sizeof(key), err, sizeof(err)) == 1 &&
	   e.level == TLS_LEVEL_ENCRYPT, "find: exact domain");
	is_str(key, "example.com", "find: key of the exact match");
	ok(tls_policy_find(ts, "a.example.com", &e, key, sizeof(key), err, sizeof(err)) == 1 &&
	   e.level == TLS_LEVEL_MAY && !e.rollover465, "find: subdomain via .example.com");
	is_str(key, ".example.com", "find: key of the parent match");
	ok(tls_policy_find(ts, "x.sub.example.com", &e, key, sizeof(key), err, sizeof(err)) == 1 &&
	   e.level == TLS_LEVEL_VERIFY, "find: nearest parent wins");
	ok(tls_policy_find(ts, "sub.example.com", &e, key, sizeof(key), err, sizeof(err)) == 1 &&
	   e.level == TLS_LEVEL_MAY, "find: .sub.example.com does not cover sub.example.com itself");
	ok(tls_policy_find(ts, "example.org", &e, key, sizeof(key), err, sizeof(err)) == 0, "find: no entry");
	ok(tls_policy_find(ts, "broken.test", &e, key, sizeof(key), err, sizeof(err)) < 0 &&
	   strstr(err, "broken.test") != NULL, "find: a malformed entry is an error naming the key");
	tables_close(ts);
}

/* test_tlsa - usable records */
static void test_tlsa(void)
{
	ok(tls_tlsa_usable(3, 1, 1, 32), "TLSA 3 1 1 usable");
	ok(tls_tlsa_usable(2, 0, 1, 32), "TLSA 2 0 1 usable");
	ok(tls_tlsa_usable(3, 0, 2, 64), "TLSA 3 0 2 usable");
	ok(tls_tlsa_usable(3, 1, 0, 91), "TLSA 3 1 0 usable (full key)");
	ok(!tls_tlsa_usable(1, 1, 1, 32), "TLSA PKIX-EE unusable");
	ok(!tls_tlsa_usable(0, 0, 1, 32), "TLSA PKIX-TA unusable");
	ok(!tls_tlsa_usable(3, 2, 1, 32), "TLSA unknown selector unusable");
	ok(!tls_tlsa_usable(3, 1, 3, 32), "TLSA unknown matching type unusable");
	ok(!tls_tlsa_usable(3, 1, 1, 31), "TLSA SHA2-256 with a wrong length unusable");
	ok(!tls_tlsa_usable(3, 1, 2, 32), "TLSA SHA2-512 with a wrong length unusable");
	ok(!tls_tlsa_usable(3, 1, 0, 0), "TLSA empty full data unusable");
	is_str(tls_verify_failure(X509_V_OK), "", "verify OK: no failure");
	is_str(tls_verify_failure(X509_V_ERR_HOSTNAME_MISMATCH), "certificate-host-mismatch", "hostname mismatch");
	is_str(tls_verify_failure(X509_V_ERR_CERT_HAS_EXPIRED), "certificate-expired", "expired");
	is_str(tls_verify_failure(X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN), "certificate-not-trusted", "untrusted");
	is_str(tls_verify_failure(X509_V_ERR_DANE_NO_MATCH), "validation-failure", "other errors");
}

/* base_input - a message to mx.example.test of example.test, default may, no DANE/STS */
static struct tls_policy_input base_input(void)
{
	struct tls_policy_input in;

	memset(&in, 0, sizeof(in));
	in.domain = "example.test";
	in.mxname = "mx.example.test";
	in.default_level = TLS_LEVEL_MAY;
	in.rollover465 = true;
	in.sts_mode = STS_MODE_NONE;
	return in;
}

/* test_decide_levels - the table and the default */
static void test_decide_levels(void)
{
	struct tls_policy_input in = base_input();
	struct tls_policy_decision d;
	struct tls_policy_entry e;
	char err[256];

	tls_policy_decide(&in, &d);
	ok(d.offer_starttls && !d.required && d.try_465 && !d.unusable && d.verify == TLS_VERIFY_NONE,
	   "default may: STARTTLS, 465 roll-over, not required");
	is_str(d.policy, "default may", "default may: policy text");
	ok(d.ptype == TLS_PTYPE_NONE, "default may: policy type no-policy-found");
	in.rollover465 = false;
	tls_policy_decide(&in, &d);
	ok(!d.try_465, "default may without smtp_tls_rollover_465: no 465");
	in.rollover465 = true;
	in.default_level = TLS_LEVEL_NONE;
	tls_policy_decide(&in, &d);
	ok(!d.offer_starttls && !d.required && !d.try_465, "default none: no TLS at all");
	in.default_level = TLS_LEVEL_MAY;

	tls_policy_parse("encrypt", &e, err, sizeof(err));
	in.entry = &e;
	tls_policy_decide(&in, &d);
	ok(d.offer_starttls && d.required && d.try_465 && d.verify == TLS_VERIFY_NONE,
	   "table encrypt (Force SSL): required, 465 allowed, no verification");
	is_str(d.policy, "table encrypt", "table encrypt: policy text");
	tls_policy_parse("may rollover465=no", &e, err, sizeof(err));
	tls_policy_decide(&in, &d);
	ok(d.offer_starttls && !d.required && !d.try_465, "table may rollover465=no (skip 465)");
	tls_policy_parse("encrypt rollover465=no", &e, err, sizeof(err));
	tls_policy_decide(&in, &d);
	ok(d.required && !d.try_465, "table encrypt rollover465=no");
	tls_policy_parse("verify", &e, err, sizeof(err));
	tls_policy_decide(&in, &d);
	ok(d.required && d.verify == TLS_VERIFY_PKIX && d.verify_enforced && !d.match_names && !d.match_domain &&
	   !d.try_465, "table verify: PKIX with the MX name");
	tls_policy_parse("verify match=mx.other.test", &e, err, sizeof(err));
	tls_policy_decide(&in, &d);
	ok(d.verify == TLS_VERIFY_PKIX && d.match_names, "table verify match=: the configured names");
	tls_policy_parse("secure", &e, err, sizeof(err));
	tls_policy_decide(&in, &d);
	ok(d.verify == TLS_VERIFY_PKIX && d.match_domain && !d.match_names, "table secure: the nexthop domain");
	tls_policy_parse("dane", &e, err, sizeof(err));
	tls_policy_decide(&in, &d);
	ok(d.unusable && !d.permanent && d.ptype == TLS_PTYPE_TLSA, "table dane without TLSA: host unusable for now");
	is_str(d.failure, "dane-required", "table dane without TLSA: dane-required recorded");
	in.dane = TLS_DANE_USABLE;
	tls_policy_decide(&in, &d);
	ok(!d.unusable && d.verify == TLS_VERIFY_DANE, "table dane with usable TLSA: DANE");
	in.dane = TLS_DANE_NONE;
	in.entry = NULL;
	in.entry_error = "table broken";
	tls_policy_decide(&in, &d);
	ok(d.unusable && !d.permanent && strstr(d.why, "table broken") != NULL,
	   "table lookup error: host unusable for now, never a weaker policy");
}

/* test_decide_dane_sts - DANE and MTA-STS, and their precedence */
static void test_decide_dane_sts(void)
{
	struct tls_policy_input in = base_input();
	struct tls_policy_decision d;
	struct tls_policy_entry e;
	char err[256];

	in.dane = TLS_DANE_USABLE;
	tls_policy_decide(&in, &d);
	ok(d.required && d.verify == TLS_VERIFY_DANE && d.verify_enforced && !d.try_465 && d.ptype == TLS_PTYPE_TLSA,
	   "DANE usable: required, DANE verification, no 465");
	is_str(d.policy, "dane", "DANE: policy text");
	tls_policy_parse("none", &e, err, sizeof(err));
	in.entry = &e;
	tls_policy_decide(&in, &d);
	ok(d.verify == TLS_VERIFY_DANE, "DANE wins over a table entry");
	in.entry = NULL;
	in.sts_mode = STS_MODE_ENFORCE;
	in.sts_mx_match = false;
	tls_policy_decide(&in, &d);
	ok(!d.unusable && d.verify == TLS_VERIFY_DANE, "DANE wins over MTA-STS enforce");
	in.sts_mode = STS_MODE_NONE;

	in.dane = TLS_DANE_UNUSABLE;
	tls_policy_decide(&in, &d);
	ok(d.required && d.verify == TLS_VERIFY_NONE && d.ptype == TLS_PTYPE_TLSA && !d.try_465,
	   "TLSA all unusable: TLS required, not authenticated");
	in.dane = TLS_DANE_FAILED;
	in.dane_why = "validation failure <_25._tcp.mx.bogus.test. TLSA IN>";
	in.dane_bogus = true;
	tls_policy_decide(&in, &d);
	ok(d.unusable && !d.permanent && strstr(d.why, "validation failure") != NULL,
	   "TLSA lookup bogus: host unusable for now with the reason");
	is_str(d.failure, "dnssec-invalid", "TLSA bogus: dnssec-invalid recorded");
	in.dane = TLS_DANE_NONE;
	in.dane_bogus = false;

	in.sts_mode = STS_MODE_ENFORCE;
	in.sts_mx_match = true;
	tls_policy_decide(&in, &d);
	ok(d.required && d.verify == TLS_VERIFY_PKIX && d.verify_enforced && !d.try_465 && d.ptype == TLS_PTYPE_STS,
	   "MTA-STS enforce, matching MX: PKIX required");
	is_str(d.policy, "mta-sts enforce", "MTA-STS enforce: policy text");
	in.sts_mx_match = false;
	tls_policy_decide(&in, &d);
	ok(d.unusable && !d.permanent && strstr(d.why, "mx.example.test") != NULL,
	   "MTA-STS enforce, MX not matching: skipped, temporary");
	in.literal_host = true;
	tls_policy_decide(&in, &d);
	ok(!d.unusable && d.ptype == TLS_PTYPE_NONE, "MTA-STS does not apply to a [host] nexthop");
	in.literal_host = false;
	in.sts_mode = STS_MODE_TESTING;
	tls_policy_decide(&in, &d);
	ok(!d.unusable && !d.required && d.verify == TLS_VERIFY_PKIX && !d.verify_enforced &&
	   d.ptype == TLS_PTYPE_STS, "MTA-STS testing: deliver, check without enforcing");
	is_str(d.failure, "validation-failure", "MTA-STS testing, MX not matching: failure recorded");
	is_str(d.policy, "mta-sts testing, default may", "MTA-STS testing: policy text");
}

/* test_decide_requiretls - RFC 8689 and TLS-Required: No */
static void test_decide_requiretls(void)
{
	struct tls_policy_input in = base_input();
	struct tls_policy_decision d;
	struct tls_policy_entry e;
	char err[256];

	in.msg_flags = TLS_POLICY_MSG_REQUIRETLS;
	tls_policy_decide(&in, &d);
	ok(d.unusable && d.permanent, "REQUIRETLS without DANE or STS: unusable for good");
	ok(strstr(d.why, "REQUIRETLS: no DANE or MTA-STS authentication for mx mx.example.test") != NULL,
	   "REQUIRETLS: the reason names the MX");
	tls_policy_parse("secure", &e, err, sizeof(err));
	in.entry = &e;
	tls_policy_decide(&in, &d);
	ok(d.unusable && d.permanent, "REQUIRETLS: a table entry does not authenticate");
	in.entry = NULL;
	in.dane = TLS_DANE_USABLE;
	tls_policy_decide(&in, &d);
	ok(!d.unusable && d.required && d.verify == TLS_VERIFY_DANE && !d.try_465, "REQUIRETLS with DANE: usable");
	is_str(d.policy, "requiretls dane", "REQUIRETLS with DANE: policy text");
	in.dane = TLS_DANE_UNUSABLE;
	tls_policy_decide(&in, &d);
	ok(d.unusable && d.permanent, "REQUIRETLS with unusable TLSA only: not authenticated");
	in.dane = TLS_DANE_FAILED;
	tls_policy_decide(&in, &d);
	ok(d.unusable && !d.permanent, "REQUIRETLS with a failed TLSA lookup: try again later");
	in.dane = TLS_DANE_NONE;
	in.sts_mode = STS_MODE_ENFORCE;
	in.sts_mx_match = true;
	tls_policy_decide(&in, &d);
	ok(!d.unusable && d.verify == TLS_VERIFY_PKIX && d.verify_enforced && !d.try_465,
	   "REQUIRETLS with MTA-STS enforce and a matching MX: PKIX");
	in.sts_mx_match = false;
	tls_policy_decide(&in, &d);
	ok(d.unusable && d.permanent, "REQUIRETLS with MTA-STS enforce, MX not matching: unusable for good");
	in.sts_mode = STS_MODE_TESTING;
	in.sts_mx_match = true;
	tls_policy_decide(&in, &d);
	ok(d.unusable && d.permanent, "REQUIRETLS: MTA-STS testing does not count");
	in.sts_mode = STS_MODE_NONE;

	in.msg_flags = TLS_POLICY_MSG_REQUIRETLS | TLS_POLICY_MSG_TLS_REQ_NO;
	tls_policy_decide(&in, &d);
	ok(d.unusable && d.permanent, "REQUIRETLS with TLS-Required: No: REQUIRETLS rules");

	in.msg_flags = TLS_POLICY_MSG_TLS_REQ_NO;
	in.dane = TLS_DANE_USABLE;
	tls_policy_decide(&in, &d);
	ok(!d.unusable && !d.required && d.offer_starttls && d.verify == TLS_VERIFY_NONE,
	   "TLS-Required: No: DANE skipped, opportunistic");
	is_str(d.policy, "tls-required-no", "TLS-Required: No: policy text");
	in.dane = TLS_DANE_FAILED;
	tls_policy_decide(&in, &d);
	ok(!d.unusable, "TLS-Required: No: a failed TLSA lookup does not stop delivery");
	in.dane = TLS_DANE_NONE;
	in.sts_mode = STS_MODE_ENFORCE;
	in.sts_mx_match = false;
	tls_policy_decide(&in, &d);
	ok(!d.unusable && !d.required, "TLS-Required: No: MTA-STS enforce skipped");
	in.sts_mode = STS_MODE_NONE;
	tls_policy_parse("encrypt", &e, err, sizeof(err));
	in.entry = &e;
	tls_policy_decide(&in, &d);
	ok(d.required, "TLS-Required: No: the administrator's encrypt still applies");
	is_str(d.policy, "tls-required-no, table encrypt", "TLS-Required: No with a table entry: policy text");
}

/* test_events - format, parse, bounds, append */
static void test_events(void)
{
	const char *tlsa[] = { "3 1 1 abcdef", "2 0 1 0123", NULL };
	const char *patterns[] = { "mx1.example.test", "*.example.test", NULL };
	struct tls_event ev = {
		.time = 1764000000, .domain = "example.test", .policy = "tlsa", .result = "validation-failure",
		.sending_ip = "127.0.0.1", .mx = "mx1.example.test", .mx_ip = "127.0.0.2",
		.policy_string = tlsa, .mx_pattern = patterns, .reason = "no TLSA matched, key=value 100%\n",
	};
	struct tls_event_parsed p;
	char line[TLS_EVENT_LINE_MAX + 1], err[256], big[8000], path[] = "/tmp/tern-tls-event-XXXXXX";
	const char *many[TLS_EVENT_ITEMS_MAX + 1];
	int len = tls_event_format(&ev, line, sizeof(line));

	ok(len > 0 && line[len - 1] == '\n' && strchr(line, '\n') == line + len - 1, "event: one line");
	ok(strncmp(line, "time=1764000000 domain=example.test policy=tlsa result=validation-failure "
		   "sending_ip=127.0.0.1 mx=mx1.example.test mx_ip=127.0.0.2 ", 130) == 0,
	   "event: fixed fields in order");
	ok(strstr(line, "policy_string=3%201%201%20abcdef,2%200%201%200123") != NULL,
	   "event: list items encoded and joined by commas");
	ok(strstr(line, "reason=no%20TLSA%20matched%2C%20key%3Dvalue%20100%25%0A") != NULL,
	   "event: reason escaped (space, comma, =, %%, newline)");
	ok(tls_event_parse(line, &p, err, sizeof(err)) == 0, "event: parses");
	ok(p.time == 1764000000, "parsed: time");
	is_str(p.domain, "example.test", "parsed: domain");
	is_str(p.result, "validation-failure", "parsed: result");
	is_str(p.mx_ip, "127.0.0.2", "parsed: mx_ip");
	is_str(p.policy_string[1], "2 0 1 0123", "parsed: second policy string");
	ok(p.policy_string[2] == NULL, "parsed: two policy strings");
	is_str(p.mx_pattern[1], "*.example.test", "parsed: mx pattern");
	is_str(p.reason, "no TLSA matched, key=value 100%\n", "parsed: reason decoded");
	ok(!p.truncated, "parsed: not truncated");

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (size_t i = 0; i < TLS_EVENT_ITEMS_MAX; i++)
		many[i] = big + 7000;		/* 999 bytes each */
	many[TLS_EVENT_ITEMS_MAX] = NULL;
	ev.policy_string = many;
	ev.reason = big;
	len = tls_event_format(&ev, line, sizeof(line));
	ok(len > 0 && len <= TLS_EVENT_LINE_MAX, "event: huge fields stay under PIPE_BUF (%d)", len);
	ok(tls_event_parse(line, &p, err, sizeof(err)) == 0 && p.truncated && p.policy_string[0] != NULL &&
	   strlen(p.reason) > 50, "event: huge fields cut and marked truncated=1");
	ok(tls_event_parse("time=1 domain=a policy=sts", &p, err, sizeof(err)) < 0, "parse: result missing");
	ok(tls_event_parse("time=1 domain=a%2 policy=sts result=success", &p, err, sizeof(err)) < 0,
	   "parse: bad escape");
	ok(tls_event_parse("time=1 domain=a policy=sts result=success later=field", &p, err, sizeof(err)) == 0,
	   "parse: unknown fields ignored");

	int fd = mkstemp(path);

	ok(fd >= 0, "event file: temp file");
	close(fd);
	ev.policy_string = tlsa;
	ev.reason = "first";
	ok(tls_event_write(path, &ev, err, sizeof(err)) == 0, "event file: first write");
	ev.result = "success";
	ev.reason = "";
	ok(tls_event_write(path, &ev, err, sizeof(err)) == 0, "event file: second write");
	FILE *fp = fopen(path, "r");
	int lines = 0;
	bool second_ok = false;

	while (fp != NULL && fgets(big, sizeof(big), fp) != NULL) {
		lines++;
		if (lines == 2)
			second_ok = tls_event_parse(big, &p, err, sizeof(err)) == 0 && strcmp(p.result, "success") == 0;
	}
	if (fp != NULL)
		fclose(fp);
	is_int(lines, 2, "event file: two lines appended");
	ok(second_ok, "event file: second line is the success");
	unlink(path);
	ok(tls_event_write("/nonexistent-dir/events", &ev, err, sizeof(err)) < 0 && strstr(err, "nonexistent") != NULL,
	   "event file: an unwritable path is an error naming it");
}

int main(void)
{
	test_parse();
	test_find();
	test_tlsa();
	test_decide_levels();
	test_decide_dane_sts();
	test_decide_requiretls();
	test_events();
	return tap_done();
}
