/*
 * test_dsn - lib/mail/dsn.c: status classes, ORCPT and ENVID decoding,
 * remote MTA and SMTP reply extraction, reason lines, and the shape of
 * a built notice (parts, fields, boundary, CRLF, no header injection).
 */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "mail/dsn.h"
#include "tap.h"

/* test_status - the class must fit the action */
static void test_status(void)
{
	static const struct { enum dsn_kind k; const char *in, *want; } cases[] = {
		{DSN_FAILURE, "5.1.1", "5.1.1"}, {DSN_FAILURE, "4.4.7", "4.4.7"},
		{DSN_FAILURE, "2.0.0", "5.0.0"}, {DSN_FAILURE, NULL, "5.0.0"},
		{DSN_FAILURE, "5.1", "5.0.0"}, {DSN_FAILURE, "5.1.1000", "5.0.0"},
		{DSN_DELAY, "4.4.1", "4.4.1"}, {DSN_DELAY, "5.1.1", "4.0.0"},
		{DSN_SUCCESS, "2.1.5", "2.1.5"}, {DSN_SUCCESS, "x", "2.0.0"},
	};
	char got[DSN_STATUS_SIZE];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		dsn_status_fix(cases[i].k, cases[i].in, got, sizeof(got));
		is_str(got, cases[i].want, "status fix");
	}
}

/* test_decode - ORCPT, ENVID, Remote-MTA, SMTP reply, reason lines */
static void test_decode(void)
{
	char got[DSN_FIELD_MAX + 64], line[256];
	struct dsn_reason rs;

	dsn_orcpt_text("rfc822", "bob+2Bx@example.test", false, got, sizeof(got));
	is_str(got, "rfc822;bob+x@example.test", "ORCPT rfc822 xtext decoded");
	dsn_orcpt_text("utf-8", "j\\x{F6}rg@example.test", true, got, sizeof(got));
	is_str(got, "utf-8;j\xc3\xb6rg@example.test", "ORCPT utf-8 decoded to UTF-8 for message/global");
	dsn_orcpt_text("utf-8", "j\\x{F6}rg@example.test", false, got, sizeof(got));
	is_str(got, "utf-8;j\\x{F6}rg@example.test", "ORCPT utf-8 stays xtext for 7-bit reports");
	dsn_orcpt_text("rfc822", "bad+zz", false, got, sizeof(got));
	is_str(got, "rfc822;bad+zz", "ORCPT that does not decode is shown as received");
	dsn_envid_text("QQ+2B314159", got, sizeof(got));
	is_str(got, "QQ+314159", "ENVID decoded");
	ok(dsn_remote_mta("mx.example.test[127.0.0.2]:25", got, sizeof(got)) &&
	   strcmp(got, "mx.example.test") == 0, "Remote-MTA from a relay");
	ok(dsn_remote_mta("[127.0.0.2]:25", got, sizeof(got)) && strcmp(got, "127.0.0.2") == 0,
	   "Remote-MTA from a bare address");
	ok(!dsn_remote_mta("local", got, sizeof(got)), "local is no Remote-MTA");
	is_str(dsn_smtp_reply("host mx[1.2.3.4] said: 550 5.1.1 no such user (in reply to RCPT TO command)",
			      got, sizeof(got)), "550 5.1.1 no such user", "SMTP reply after said:");
	is_str(dsn_smtp_reply("452 4.2.2 full", got, sizeof(got)), "452 4.2.2 full", "bare SMTP reply");
	ok(dsn_smtp_reply("connection refused", got, sizeof(got)) == NULL, "no SMTP reply");
	strncpy(line, "3\t5.1.1\t1700000000\tlocal\tunknown user: \"bob\"", sizeof(line) - 1);
	line[sizeof(line) - 1] = '\0';
	ok(dsn_reason_parse(line, &rs) == 0 && rs.index == 3 && strcmp(rs.status, "5.1.1") == 0 &&
	   rs.time == 1700000000 && strcmp(rs.relay, "local") == 0 &&
	   strcmp(rs.text, "unknown user: \"bob\"") == 0, "reason line parsed");
	strncpy(line, "x\t5.1.1\t1\tlocal\ttext", sizeof(line) - 1);
	ok(dsn_reason_parse(line, &rs) < 0, "bad index refused");
	strncpy(line, "1\t5.1.1\t1\tlocal", sizeof(line) - 1);
	ok(dsn_reason_parse(line, &rs) < 0, "missing field refused");
}

/* test_build - a failure notice with two recipients */
static void test_build(void)
{
	static const char orig[] = "Subject: hello\nFrom: a@b.test\n\nbody --q1.100/mx.test\n";
	struct dsn_rcpt rc[2] = {
		{"bob@example.test", "rfc822", "bob@example.test", "5.1.1",
		 "mx.example.test[127.0.0.2]:25", "host mx said: 550 5.1.1 unknown\r\nX-Evil: 1", 1700000000},
		{"carol@local.test", NULL, NULL, NULL, "local", NULL, 0},
	};
	struct dsn_report r = {
		.kind = DSN_FAILURE, .myhostname = "mx.test", .qid = "q1", .sender = "a@b.test",
		.notice_to = "a@b.test", .envid = "ENV+2B1", .arrival = 1700000000, .now = 100,
		.full = true, .orig = orig, .orig_len = sizeof(orig) - 1, .rcpts = rc, .nrcpts = 2,
	};
	struct buf b;
	bool b8 = true;
	const char *s;

	buf_init(&b, 0);
	ok(dsn_build(&r, &b, &b8) == 0, "build");
	s = b.data;
	ok(!b8, "7-bit notice");
	ok(strstr(s, "From: MAILER-DAEMON@mx.test") == s, "From first");
	ok(strstr(s, "\r\nSubject: Undelivered Mail Returned to Sender\r\n") != NULL, "Subject");
	ok(strstr(s, "\r\nAuto-Submitted: auto-replied\r\n") != NULL, "Auto-Submitted");
	ok(strstr(s, "report-type=delivery-status") != NULL, "report-type");
	ok(strstr(s, "boundary=\"q1.100.1/mx.test\"") != NULL, "boundary avoids the original's text");
	ok(strstr(s, "Reporting-MTA: dns; mx.test\r\n") != NULL, "Reporting-MTA");
	ok(strstr(s, "Original-Envelope-Id: ENV+1\r\n") != NULL, "Original-Envelope-Id");
	ok(strstr(s, "Final-Recipient: rfc822; bob@example.test\r\nOriginal-Recipient: rfc822;"
		  "bob@example.test\r\nAction: failed\r\nStatus: 5.1.1\r\nRemote-MTA: dns; mx.example.test\r\n"
		  "Diagnostic-Code: smtp; 550 5.1.1 unknownX-Evil: 1\r\n") != NULL,
	   "recipient block, CR LF removed from the reply");
	ok(strstr(s, "\r\nX-Evil") == NULL, "no header injection");
	ok(strstr(s, "Final-Recipient: rfc822; carol@local.test\r\nAction: failed\r\nStatus: 5.0.0\r\n")
	   != NULL, "second recipient, generic status");
	ok(strstr(s, "Content-Type: message/rfc822\r\n") != NULL, "message/rfc822");
	ok(strstr(s, "\r\nbody --q1.100/mx.test\r\n") != NULL, "body included, CRLF");
	ok(strstr(s, "\r\n--q1.100.1/mx.test--\r\n") != NULL, "closing boundary");
	for (size_t i = 0; i < b.len; i++)
		if (s[i] == '\n' && (i == 0 || s[i - 1] != '\r')) {
			ok(0, "bare LF at %zu", i);
			break;
		}

	buf_reset(&b);
	r.kind = DSN_DELAY;
	r.full = false;
	r.retry_until = 1700400000;
	r.orig_len = 30;			/* the headers */
	ok(dsn_build(&r, &b, &b8) == 0, "delay build");
	s = b.data;
	ok(strstr(s, "Subject: Delayed Mail (still being retried)") != NULL, "delay subject");
	ok(strstr(s, "Action: delayed\r\nStatus: 4.0.0\r\n") != NULL, "delayed, status class 4");
	ok(strstr(s, "Will-Retry-Until: ") != NULL, "Will-Retry-Until");
	ok(strstr(s, "Content-Type: text/rfc822-headers\r\n") != NULL, "headers only");
	ok(strstr(s, "body --") == NULL, "no body");

	buf_reset(&b);
	r.kind = DSN_SUCCESS;
	r.smtputf8 = true;
	ok(dsn_build(&r, &b, &b8) == 0 && b8, "success build, SMTPUTF8 is 8-bit");
	s = b.data;
	ok(strstr(s, "Subject: Successful Mail Delivery Report") != NULL, "success subject");
	ok(strstr(s, "Action: delivered\r\nStatus: 2.0.0\r\n") != NULL, "delivered");
	ok(strstr(s, "Content-Type: message/global-delivery-status\r\n") != NULL, "global status");
	ok(strstr(s, "Content-Type: message/global-headers\r\n") != NULL, "global headers");

	buf_free(&b);
	buf_init(&b, 100);
	ok(dsn_build(&r, &b, &b8) < 0, "buf limit reported");
	buf_free(&b);
}

int main(void)
{
	test_status();
	test_decode();
	test_build();
	return tap_done();
}
