/*
 * test_cleanup_header - cleanup's content filter (qmgr/cleanup_header.c)
 * and the text it adds (qmgr/cleanup_received.c), table-driven.
 *
 * The modules are compiled into this test directly (the Makefile links
 * unit tests with libtern.a only). Every filter case is also run with
 * the input cut at every byte position and fed one byte at a time: the
 * output must not depend on how the stream was chunked. The header_end
 * callback writes "<HE>" into the output so the cases show where the
 * header section ended.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/str.h"
#include "../../qmgr/cleanup_header.c"
#include "../../qmgr/cleanup_received.c"
#include "tap.h"

struct sink {
	struct buf out;
	int header_ends;
	int fail_at;			/* fail the n-th out call (0: never) */
	int calls;
};

static int sink_out(void *ctx, const char *p, size_t n)
{
	struct sink *s = ctx;

	if (++s->calls == s->fail_at)
		return -1;
	buf_append(&s->out, p, n);
	return 0;
}

static int sink_header_end(void *ctx)
{
	struct sink *s = ctx;

	s->header_ends++;
	buf_puts(&s->out, "<HE>");
	return 0;
}

/* run - filter input cut into pieces of at most step bytes (0: at split only) */
static int run(const char *in, size_t len, size_t split, size_t step, struct sink *s,
	       struct cleanup_hdr *h)
{
	size_t pos = 0;

	buf_init(&s->out, 0);
	s->header_ends = 0;
	s->calls = 0;
	cleanup_hdr_init(h, sink_out, sink_header_end, s);
	while (pos < len) {
		size_t n = step ? step : (pos < split ? split - pos : len - pos);

		if (n > len - pos)
			n = len - pos;
		if (cleanup_hdr_feed(h, in + pos, n) < 0)
			return -1;
		pos += n;
	}
	return cleanup_hdr_finish(h);
}

static const struct {
	const char *name;
	const char *in;
	const char *out;
	long received;
	bool msgid, date;
	const char *msgid_value;
	long long stray;
	size_t in_len, out_len;		/* 0: strlen (for cases with a NUL byte) */
} cases[] = {
	{"plain message", "Subject: x\r\n\r\nbody\r\n", "Subject: x\n<HE>\nbody\n", 0, false, false, "", 0, 0, 0},
	{"empty content", "", "<HE>", 0, false, false, "", 0, 0, 0},
	{"header only, no empty line", "Subject: x\r\nTo: y\r\n", "Subject: x\nTo: y\n<HE>", 0, false, false, "", 0, 0, 0},
	{"body only after empty line", "\r\nbody\r\n", "<HE>\nbody\n", 0, false, false, "", 0, 0, 0},
	{"unterminated last line gets LF", "Subject: x\r\n\r\nbody", "Subject: x\n<HE>\nbody\n", 0, false, false, "", 0, 0, 0},
	{"unterminated header line", "Subject: x", "Subject: x\n<HE>", 0, false, false, "", 0, 0, 0},
	{"Received counted, any case, WSP before colon",
	 "Received: a\r\nreceived : b\r\nRECEIVED:c\r\nReceived-SPF: pass\r\nX-Received: no\r\n\r\n",
	 "Received: a\nreceived : b\nRECEIVED:c\nReceived-SPF: pass\nX-Received: no\n<HE>\n", 3, false, false, "", 0, 0, 0},
	{"Received in the body is not counted", "A: b\r\n\r\nReceived: x\r\n", "A: b\n<HE>\nReceived: x\n",
	 0, false, false, "", 0, 0, 0},
	{"folded Message-ID, first one kept",
	 "Message-ID:\r\n  <abc@example.test> \r\nmessage-id: <second@x>\r\nDate: now\r\n\r\n",
	 "Message-ID:\n  <abc@example.test> \nmessage-id: <second@x>\nDate: now\n<HE>\n", 0, true, true,
	 "<abc@example.test>", 0, 0, 0},
	{"continuation lines stay with their field", "Subject: a\r\n\tb\r\n c\r\n\r\nx\r\n",
	 "Subject: a\n\tb\n c\n<HE>\nx\n", 0, false, false, "", 0, 0, 0},
	{"a non-header line ends the header; empty line inserted", "Subject: x\r\nhello world\r\nmore\r\n",
	 "Subject: x\n<HE>\nhello world\nmore\n", 0, false, false, "", 0, 0, 0},
	{"a word alone on a line ends the header", "Subject: x\r\nhello\r\n", "Subject: x\n<HE>\nhello\n",
	 0, false, false, "", 0, 0, 0},
	{"a leading continuation line is body (never folds our Received:)", " x: y\r\nSubject: z\r\n",
	 "<HE>\n x: y\nSubject: z\n", 0, false, false, "", 0, 0, 0},
	{"colon first is not a field", ":x\r\n", "<HE>\n:x\n", 0, false, false, "", 0, 0, 0},
	{"8-bit field name is not a field", "\xc3\xa9: x\r\n", "<HE>\n\xc3\xa9: x\n", 0, false, false, "", 0, 0, 0},
	{"stray CR and LF become spaces", "A: 1\r2\n3\r\n\r\nb\rc\nd\r\n", "A: 1 2 3\n<HE>\nb c d\n", 0, false,
	 false, "", 4, 0, 0},
	{"CR at the very end", "A: b\r\n\r\nx\r", "A: b\n<HE>\nx \n", 0, false, false, "", 1, 0, 0},
	{"bare LF line ends are not line ends", "A: b\n\nc\n", "A: b  c \n<HE>", 0, false, false, "", 3, 0, 0},
	{"8-bit body bytes kept", "A: b\r\n\r\n\xff\xfe\x00z\r\n", "A: b\n<HE>\n\xff\xfe\x00z\n", 0, false, false,
	 "", 0, 14, 15},
	{"dot lines are content", "A: b\r\n\r\n.\r\n..\r\n", "A: b\n<HE>\n.\n..\n", 0, false, false, "", 0, 0, 0},
};

static void test_cases(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = cases[i].in_len ? cases[i].in_len : strlen(cases[i].in);
		size_t olen = cases[i].out_len ? cases[i].out_len : strlen(cases[i].out);
		struct cleanup_hdr h;
		struct sink s = {0};
		bool same = true;

		ok(run(cases[i].in, len, len, 0, &s, &h) == 0, "%s: filtered", cases[i].name);
		ok(s.out.len == olen && memcmp(s.out.data, cases[i].out, olen) == 0, "%s: output", cases[i].name);
		if (s.out.len != olen || memcmp(s.out.data, cases[i].out, olen) != 0)
			diag("got %zu bytes: %s", s.out.len, buf_str(&s.out));
		is_int(s.header_ends, 1, "header_end ran once");
		is_int(h.received, cases[i].received, "Received: count");
		ok(h.saw_msgid == cases[i].msgid && h.saw_date == cases[i].date, "%s: Message-ID %d Date %d",
		   cases[i].name, h.saw_msgid, h.saw_date);
		is_str(h.msgid, cases[i].msgid_value, "Message-ID value");
		is_int(h.stray, cases[i].stray, "stray CR/LF count");
		buf_free(&s.out);

		/* every split point, and byte by byte, give the same output */
		for (size_t split = 0; split <= len + 1 && same; split++) {
			struct sink t = {0};
			struct cleanup_hdr g;

			run(cases[i].in, len, split, split == len + 1 ? 1 : 0, &t, &g);
			same = t.out.len == olen && memcmp(t.out.data, cases[i].out, olen) == 0
			       && t.header_ends == 1 && g.received == cases[i].received
			       && g.stray == cases[i].stray && strcmp(g.msgid, cases[i].msgid_value) == 0;
			if (!same)
				diag("split %zu: got '%s'", split, buf_str(&t.out));
			buf_free(&t.out);
		}
		ok(same, "%s: same result at every split point and byte by byte", cases[i].name);
	}
}

static void test_limits(void)
{
	struct cleanup_hdr h;
	struct sink s = {0};
	struct buf in;
	size_t n;

	/* a header line over 998 bytes is counted and kept whole */
	buf_init(&in, 0);
	buf_puts(&in, "X-Long: ");
	for (n = 0; n < 2000; n++)
		buf_putc(&in, 'a');
	buf_puts(&in, "\r\n\r\nbody\r\n");
	ok(run(in.data, in.len, 100, 0, &s, &h) == 0, "long header line: accepted");
	is_int(h.long_lines, 1, "long header line: counted");
	is_int((long long) s.out.len, (long long) in.len - 3 + 4, "long header line: kept whole");
	buf_free(&s.out);

	/* exactly QFILE_HEADER_LINE_MAX bytes is fine, one more is too long */
	buf_reset(&in);
	buf_puts(&in, "X-Huge: ");
	while (in.len < QFILE_HEADER_LINE_MAX)
		buf_putc(&in, 'b');
	buf_puts(&in, "\r\n\r\n");
	ok(run(in.data, in.len, 4096, 0, &s, &h) == 0 && !h.too_long, "header line of %d bytes: accepted",
	   QFILE_HEADER_LINE_MAX);
	buf_free(&s.out);
	buf_reset(&in);
	buf_puts(&in, "X-Huge: ");
	while (in.len < QFILE_HEADER_LINE_MAX + 1)
		buf_putc(&in, 'b');
	buf_puts(&in, "\r\n\r\n");
	ok(run(in.data, in.len, 4096, 0, &s, &h) < 0 && h.too_long, "header line of %d bytes: too long",
	   QFILE_HEADER_LINE_MAX + 1);
	ok(cleanup_hdr_feed(&h, "x", 1) < 0 && cleanup_hdr_finish(&h) < 0, "too long: stays failed");
	buf_free(&s.out);

	/* body lines are not limited */
	buf_reset(&in);
	buf_puts(&in, "A: b\r\n\r\n");
	while (in.len < 3 * QFILE_HEADER_LINE_MAX)
		buf_putc(&in, 'c');
	buf_puts(&in, "\r\n");
	ok(run(in.data, in.len, 1000, 0, &s, &h) == 0 && s.out.len == in.len - 3 + 4,
	   "body line of %zu bytes: kept", in.len);
	buf_free(&s.out);

	/* a field name longer than the peek buffer is not a field */
	buf_reset(&in);
	for (n = 0; n < CLEANUP_NAME_PEEK + 10; n++)
		buf_putc(&in, 'N');
	buf_puts(&in, ": v\r\n");
	ok(run(in.data, in.len, 7, 0, &s, &h) == 0 && strncmp(buf_str(&s.out), "<HE>\nNNN", 8) == 0,
	   "field name of %d bytes ends the header", CLEANUP_NAME_PEEK + 10);
	buf_free(&s.out);

	/* an output failure stops the filter */
	s.fail_at = 2;
	ok(run("A: b\r\nC: d\r\n\r\nx\r\n", 17, 17, 0, &s, &h) < 0, "output failure: reported");
	buf_free(&s.out);
	buf_free(&in);
}

static void test_received(void)
{
	char buf[4096];
	struct cleanup_rcv r = {
		.myhostname = "mx.local.test", .qid = "1K0Y0JYVWGMAE95N", .helo = "client.test",
		.client_name = "mail.client.test", .client_addr = "192.0.2.1", .protocol = "ESMTPS",
		.tls_proto = "TLSv1.3", .tls_cipher = "TLS_AES_256_GCM_SHA384", .tls_bits = 256,
		.rcpt = "user@local.test", .sec = 1795434405,
	};
	char longrcpt[1001];

	setenv("TZ", "UTC", 1);
	tzset();
	ok(cleanup_rcv_format(&r, buf, sizeof(buf)) == 0, "Received: formatted");
	is_str(buf,
	       "Received: from client.test (mail.client.test [192.0.2.1])\n"
	       "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\n"
	       "\tby mx.local.test (tern) with ESMTPS id 1K0Y0JYVWGMAE95N\n"
	       "\tfor <user@local.test>; Mon, 23 Nov 2026 11:46:45 +0000\n", "Received: TLS, one recipient");

	r.tls_proto = NULL;
	r.rcpt = NULL;
	r.client_addr = "2001:db8::1";
	r.protocol = "ESMTP";
	cleanup_rcv_format(&r, buf, sizeof(buf));
	is_str(buf,
	       "Received: from client.test (mail.client.test [IPv6:2001:db8::1])\n"
	       "\tby mx.local.test (tern) with ESMTP id 1K0Y0JYVWGMAE95N;\n"
	       "\tMon, 23 Nov 2026 11:46:45 +0000\n", "Received: IPv6, several recipients");

	r.helo = "bad(name) x\\y\x01\xc3\xa9";
	r.client_name = NULL;
	r.client_addr = "192.0.2.2";
	cleanup_rcv_format(&r, buf, sizeof(buf));
	ok(str_has_prefix(buf, "Received: from bad?name??x?y??? (unknown [192.0.2.2])\n"),
	   "Received: client names become safe words");
	r.utf8 = true;
	cleanup_rcv_format(&r, buf, sizeof(buf));
	ok(str_has_prefix(buf, "Received: from bad?name??x?y?\xc3\xa9 (unknown"),
	   "Received: 8-bit names stay with SMTPUTF8");

	r.helo = NULL;
	r.client_name = "only.name.test";
	r.utf8 = false;
	cleanup_rcv_format(&r, buf, sizeof(buf));
	ok(str_has_prefix(buf, "Received: from only.name.test (only.name.test [192.0.2.2])"),
	   "Received: no HELO: the client name");

	memset(longrcpt, 'r', 990);
	memcpy(longrcpt + 990, "@x.test", 8);
	r.rcpt = longrcpt;
	cleanup_rcv_format(&r, buf, sizeof(buf));
	ok(strstr(buf, "for <") == NULL && strstr(buf, "1K0Y0JYVWGMAE95N;\n\tMon,") != NULL,
	   "Received: no \"for\" when its line would pass 998 bytes");

	r.rcpt = "j\xc3\xb6rg@local.test";
	cleanup_rcv_format(&r, buf, sizeof(buf));
	ok(strstr(buf, "for <") == NULL, "Received: no \"for\" with an 8-bit address in a plain message");
	r.utf8 = true;
	cleanup_rcv_format(&r, buf, sizeof(buf));
	ok(strstr(buf, "\tfor <j\xc3\xb6rg@local.test>; ") != NULL, "Received: 8-bit address with SMTPUTF8");

	memset(&r, 0, sizeof(r));
	r.myhostname = "mx.local.test";
	r.qid = "1K0Y0JYVWGMAE95N";
	r.local = true;
	r.have_uid = true;
	r.uid = 1000;
	r.rcpt = "root@local.test";
	r.sec = 0;
	cleanup_rcv_format(&r, buf, sizeof(buf));
	is_str(buf,
	       "Received: by mx.local.test (tern, from userid 1000)\n"
	       "\tid 1K0Y0JYVWGMAE95N\n"
	       "\tfor <root@local.test>; Thu, 01 Jan 1970 00:00:00 +0000\n", "Received: local submission");
	r.have_uid = false;
	r.rcpt = NULL;
	cleanup_rcv_format(&r, buf, sizeof(buf));
	is_str(buf, "Received: by mx.local.test (tern)\n\tid 1K0Y0JYVWGMAE95N;\n"
	       "\tThu, 01 Jan 1970 00:00:00 +0000\n", "Received: internal mail");
	ok(cleanup_rcv_format(&r, buf, 40) < 0, "Received: cut text is reported");

	setenv("TZ", "XYZ-2:30", 1);
	tzset();
	cleanup_date_format(0, buf, sizeof(buf));
	is_str(buf, "Thu, 01 Jan 1970 02:30:00 +0230", "Date: east of UTC");
	setenv("TZ", "XYZ5", 1);
	tzset();
	cleanup_date_format(0, buf, sizeof(buf));
	is_str(buf, "Wed, 31 Dec 1969 19:00:00 -0500", "Date: west of UTC");
}

int main(void)
{
	test_cases();
	test_limits();
	test_received();
	return tap_done();
}
