/*
 * test_smtp_param - unit tests for lib/mail/smtp_param (MAIL and RCPT
 * ESMTP parameters, the whole-command helpers) and lib/mail/xtext
 * (RFC 3461 xtext, RFC 6533 utf-8-addr-xtext/unitext).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mail/smtp_param.h"
#include "mail/xtext.h"
#include "tap.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define ALL	(SMTP_PARAM_EXT_SIZE | SMTP_PARAM_EXT_8BITMIME | SMTP_PARAM_EXT_SMTPUTF8 | \
		 SMTP_PARAM_EXT_DSN | SMTP_PARAM_EXT_AUTH | SMTP_PARAM_EXT_REQUIRETLS)
#define NO(x)	(ALL & ~(unsigned) SMTP_PARAM_EXT_##x)

/* ring - scratch buffers for built strings */
static char *ring(void)
{
	static char bufs[8][2000];
	static unsigned next;

	return bufs[next++ % 8];
}

static const char *rep(const char *unit, size_t n)
{
	char *b = ring();
	size_t len = strlen(unit), off = 0;

	if (n * len >= 2000)
		abort();
	for (size_t i = 0; i < n; i++, off += len)
		memcpy(b + off, unit, len);
	b[off] = '\0';
	return b;
}

__attribute__((format(printf, 1, 2)))
static const char *cat(const char *f, ...)
{
	char *b = ring();
	va_list ap;
	int n;

	va_start(ap, f);
	n = vsnprintf(b, 2000, f, ap);
	va_end(ap);
	if (n < 0 || n >= 2000)
		abort();
	return b;
}

/* show - printable form of a test input, for test names */
static const char *show(const char *s)
{
	char *b = ring();
	size_t n = 0;

	for (; *s && n + 5 < 2000; s++) {
		unsigned char c = (unsigned char) *s;

		if (c >= 0x20 && c < 0x7F) {
			b[n++] = (char) c;
		} else {
			snprintf(b + n, 2000 - n, "\\x%02x", c);
			n += 4;
		}
	}
	b[n] = '\0';
	return b;
}

/* show_mail - the parsed MAIL parameters as one comparable line */
static const char *show_mail(const struct smtp_param_mail *m)
{
	static const char *body[] = {"", "7BIT", "8BITMIME"};
	static const char *ret[] = {"", "FULL", "HDRS"};
	char *b = ring();
	size_t n = 0;

	b[0] = '\0';
#define ADD(...) (n += (size_t) snprintf(b + n, 2000 - n, __VA_ARGS__))
	if (m->size_given)
		ADD(" size=%llu", (unsigned long long) m->size);
	if (m->body)
		ADD(" body=%s", body[m->body]);
	if (m->smtputf8)
		ADD(" smtputf8");
	if (m->ret)
		ADD(" ret=%s", ret[m->ret]);
	if (m->envid_given)
		ADD(" envid=%s", m->envid);
	if (m->auth_given)
		ADD(" auth=%s", m->auth_null ? "<>" : m->auth);
	if (m->requiretls)
		ADD(" requiretls");
	return n > 0 ? b + 1 : b;
}

/* show_rcpt - the parsed RCPT parameters as one comparable line */
static const char *show_rcpt(const struct smtp_param_rcpt *r)
{
	static const char *type[] = {"", "rfc822", "utf-8", "other"};
	char *b = ring();
	size_t n = 0;
	char notify[40];

	b[0] = '\0';
	if (r->notify) {
		if (smtp_param_notify_text(r->notify, notify, sizeof(notify)) < 0)
			snprintf(notify, sizeof(notify), "BAD(%u)", r->notify);
		ADD(" notify=%s", notify);
	}
	if (r->orcpt_type)
		ADD(" orcpt=%s(%s):%s raw=%s", type[r->orcpt_type], r->orcpt_type_name, r->orcpt_addr, r->orcpt_raw);
#undef ADD
	return n > 0 ? b + 1 : b;
}

struct param_case {
	unsigned ext;
	const char *in;
	enum smtp_param_status st;
	const char *want;	/* shown result when accepted */
	const char *item;	/* the offending parameter when refused */
};

static const int param_codes[] = {
	[SMTP_PARAM_OK] = 250, [SMTP_PARAM_EUNKNOWN] = 555, [SMTP_PARAM_EDISABLED] = 555,
	[SMTP_PARAM_EDUP] = 501, [SMTP_PARAM_EVALUE] = 501, [SMTP_PARAM_ESYNTAX] = 501,
};

static const char *const param_names[] = {
	"ok", "unknown (555)", "not offered (555)", "duplicate (501)", "bad value (501)", "bad syntax (501)",
};

static const struct param_case mail_cases[] = {
	{ALL, "", SMTP_PARAM_OK, "", NULL},
	{0, "", SMTP_PARAM_OK, "", NULL},
	{ALL, "   ", SMTP_PARAM_OK, "", NULL},
	/* SIZE, RFC 1870 */
	{ALL, "SIZE=100", SMTP_PARAM_OK, "size=100", NULL},
	{ALL, "size=0", SMTP_PARAM_OK, "size=0", NULL},
	{ALL, "Size=007", SMTP_PARAM_OK, "size=7", NULL},
	{ALL, "SIZE=00000000000000000000", SMTP_PARAM_OK, "size=0", NULL},
	{ALL, "SIZE=9223372036854775808", SMTP_PARAM_OK, "size=9223372036854775808", NULL},
	{ALL, "SIZE=18446744073709551615", SMTP_PARAM_OK, "size=18446744073709551615", NULL},
	{ALL, "SIZE=18446744073709551616", SMTP_PARAM_OK, "size=18446744073709551615", NULL},
	{ALL, "SIZE=99999999999999999999", SMTP_PARAM_OK, "size=18446744073709551615", NULL},
	{ALL, "SIZE=999999999999999999999", SMTP_PARAM_EVALUE, NULL, "SIZE=999999999999999999999"},
	{ALL, "SIZE=000000000000000000001", SMTP_PARAM_EVALUE, NULL, "SIZE=000000000000000000001"},
	{ALL, "SIZE=", SMTP_PARAM_EVALUE, NULL, "SIZE="},
	{ALL, "SIZE", SMTP_PARAM_EVALUE, NULL, "SIZE"},
	{ALL, "SIZE=abc", SMTP_PARAM_EVALUE, NULL, "SIZE=abc"},
	{ALL, "SIZE=-1", SMTP_PARAM_EVALUE, NULL, "SIZE=-1"},
	{ALL, "SIZE=+1", SMTP_PARAM_EVALUE, NULL, "SIZE=+1"},
	{ALL, "SIZE=1k", SMTP_PARAM_EVALUE, NULL, "SIZE=1k"},
	{ALL, "SIZE=0x10", SMTP_PARAM_EVALUE, NULL, "SIZE=0x10"},
	{ALL, "SIZE=1.5", SMTP_PARAM_EVALUE, NULL, "SIZE=1.5"},
	{ALL, "SIZE= 1", SMTP_PARAM_EVALUE, NULL, "SIZE="},
	{ALL, "SIZE=1=2", SMTP_PARAM_EVALUE, NULL, "SIZE=1=2"},
	{ALL, "SIZE=1 SIZE=2", SMTP_PARAM_EDUP, NULL, "SIZE=2"},
	{ALL, "SIZE=1 size=1", SMTP_PARAM_EDUP, NULL, "size=1"},
	{0, "SIZE=10", SMTP_PARAM_EDISABLED, NULL, "SIZE=10"},
	{NO(SIZE), "SIZE=10", SMTP_PARAM_EDISABLED, NULL, "SIZE=10"},
	/* BODY, RFC 6152 / 3030 */
	{ALL, "BODY=8BITMIME", SMTP_PARAM_OK, "body=8BITMIME", NULL},
	{ALL, "BODY=7BIT", SMTP_PARAM_OK, "body=7BIT", NULL},
	{ALL, "body=8bitmime", SMTP_PARAM_OK, "body=8BITMIME", NULL},
	{ALL, "BODY=BINARYMIME", SMTP_PARAM_EVALUE, NULL, "BODY=BINARYMIME"},
	{ALL, "BODY=8BIT", SMTP_PARAM_EVALUE, NULL, "BODY=8BIT"},
	{ALL, "BODY=", SMTP_PARAM_EVALUE, NULL, "BODY="},
	{ALL, "BODY", SMTP_PARAM_EVALUE, NULL, "BODY"},
	{ALL, "BODY=7BIT BODY=7BIT", SMTP_PARAM_EDUP, NULL, "BODY=7BIT"},
	{0, "BODY=8BITMIME", SMTP_PARAM_EDISABLED, NULL, "BODY=8BITMIME"},
	{NO(8BITMIME), "BODY=7BIT", SMTP_PARAM_EDISABLED, NULL, "BODY=7BIT"},
	/* SMTPUTF8, RFC 6531 */
	{ALL, "SMTPUTF8", SMTP_PARAM_OK, "smtputf8", NULL},
	{ALL, "smtputf8", SMTP_PARAM_OK, "smtputf8", NULL},
	{ALL, "SMTPUTF8=yes", SMTP_PARAM_EVALUE, NULL, "SMTPUTF8=yes"},
	{ALL, "SMTPUTF8=", SMTP_PARAM_EVALUE, NULL, "SMTPUTF8="},
	{ALL, "SMTPUTF8 SMTPUTF8", SMTP_PARAM_EDUP, NULL, "SMTPUTF8"},
	{NO(SMTPUTF8), "SMTPUTF8", SMTP_PARAM_EDISABLED, NULL, "SMTPUTF8"},
	{0, "SMTPUTF8", SMTP_PARAM_EDISABLED, NULL, "SMTPUTF8"},
	/* RET, RFC 3461 4.3 */
	{ALL, "RET=FULL", SMTP_PARAM_OK, "ret=FULL", NULL},
	{ALL, "RET=HDRS", SMTP_PARAM_OK, "ret=HDRS", NULL},
	{ALL, "ret=hdrs", SMTP_PARAM_OK, "ret=HDRS", NULL},
	{ALL, "RET=ALL", SMTP_PARAM_EVALUE, NULL, "RET=ALL"},
	{ALL, "RET=", SMTP_PARAM_EVALUE, NULL, "RET="},
	{ALL, "RET", SMTP_PARAM_EVALUE, NULL, "RET"},
	{ALL, "RET=FULL RET=HDRS", SMTP_PARAM_EDUP, NULL, "RET=HDRS"},
	{NO(DSN), "RET=FULL", SMTP_PARAM_EDISABLED, NULL, "RET=FULL"},
	{0, "RET=HDRS", SMTP_PARAM_EDISABLED, NULL, "RET=HDRS"},
	/* ENVID, RFC 3461 4.4 */
	{ALL, "ENVID=QQ314159", SMTP_PARAM_OK, "envid=QQ314159", NULL},
	{ALL, "ENVID=a+2Bb", SMTP_PARAM_OK, "envid=a+b", NULL},
	{ALL, "ENVID=a+20b+3D", SMTP_PARAM_OK, "envid=a b=", NULL},
	{ALL, "envid=<x@y>", SMTP_PARAM_OK, "envid=<x@y>", NULL},
	{ALL, "ENVID=a+2bb", SMTP_PARAM_EVALUE, NULL, "ENVID=a+2bb"},
	{ALL, "ENVID=a+2", SMTP_PARAM_EVALUE, NULL, "ENVID=a+2"},
	{ALL, "ENVID=a+", SMTP_PARAM_EVALUE, NULL, "ENVID=a+"},
	{ALL, "ENVID=a+G1", SMTP_PARAM_EVALUE, NULL, "ENVID=a+G1"},
	{ALL, "ENVID=a+0A", SMTP_PARAM_EVALUE, NULL, "ENVID=a+0A"},
	{ALL, "ENVID=a+7F", SMTP_PARAM_EVALUE, NULL, "ENVID=a+7F"},
	{ALL, "ENVID=a+C3+B6", SMTP_PARAM_EVALUE, NULL, "ENVID=a+C3+B6"},
	{ALL, "ENVID=+00", SMTP_PARAM_EVALUE, NULL, "ENVID=+00"},
	{ALL, "ENVID=", SMTP_PARAM_EVALUE, NULL, "ENVID="},
	{ALL, "ENVID", SMTP_PARAM_EVALUE, NULL, "ENVID"},
	{ALL, "ENVID=a ENVID=b", SMTP_PARAM_EDUP, NULL, "ENVID=b"},
	{NO(DSN), "ENVID=QQ", SMTP_PARAM_EDISABLED, NULL, "ENVID=QQ"},
	/* AUTH, RFC 4954 5 */
	{ALL, "AUTH=<>", SMTP_PARAM_OK, "auth=<>", NULL},
	{ALL, "AUTH=e+3Dmc2@example.com", SMTP_PARAM_OK, "auth=e=mc2@example.com", NULL},
	{ALL, "AUTH=user@example.test", SMTP_PARAM_OK, "auth=user@example.test", NULL},
	{ALL, "AUTH=+22a+20b+22@example.test", SMTP_PARAM_OK, "auth=\"a b\"@example.test", NULL},
	{ALL, "AUTH=+3C+3E", SMTP_PARAM_OK, "auth=<>", NULL},
	{ALL, "AUTH=j+C3+B6rg@client.test SMTPUTF8", SMTP_PARAM_OK, "smtputf8 auth=j\xc3\xb6rg@client.test", NULL},
	{ALL, "SMTPUTF8 AUTH=j+C3+B6rg@client.test", SMTP_PARAM_OK, "smtputf8 auth=j\xc3\xb6rg@client.test", NULL},
	{ALL, "AUTH=j+C3+B6rg@client.test", SMTP_PARAM_EVALUE, NULL, "AUTH=j+C3+B6rg@client.test"},
	{ALL, "SIZE=1 AUTH=user BODY=", SMTP_PARAM_EVALUE, NULL, "BODY="},
	{ALL, "SIZE=1 AUTH=user BODY=7BIT", SMTP_PARAM_EVALUE, NULL, "AUTH=user"},
	{ALL, "AUTH=", SMTP_PARAM_EVALUE, NULL, "AUTH="},
	{ALL, "AUTH", SMTP_PARAM_EVALUE, NULL, "AUTH"},
	{ALL, "AUTH=user", SMTP_PARAM_EVALUE, NULL, "AUTH=user"},
	{ALL, "AUTH=<user@example.test>", SMTP_PARAM_EVALUE, NULL, "AUTH=<user@example.test>"},
	{ALL, "AUTH=a+2", SMTP_PARAM_EVALUE, NULL, "AUTH=a+2"},
	{ALL, "AUTH=a+0A@example.test", SMTP_PARAM_EVALUE, NULL, "AUTH=a+0A@example.test"},
	{ALL, "AUTH=<> AUTH=<>", SMTP_PARAM_EDUP, NULL, "AUTH=<>"},
	{NO(AUTH), "AUTH=<>", SMTP_PARAM_EDISABLED, NULL, "AUTH=<>"},
	/* REQUIRETLS, RFC 8689 */
	{ALL, "REQUIRETLS", SMTP_PARAM_OK, "requiretls", NULL},
	{ALL, "requiretls", SMTP_PARAM_OK, "requiretls", NULL},
	{ALL, "REQUIRETLS=yes", SMTP_PARAM_EVALUE, NULL, "REQUIRETLS=yes"},
	{ALL, "REQUIRETLS REQUIRETLS", SMTP_PARAM_EDUP, NULL, "REQUIRETLS"},
	{NO(REQUIRETLS), "REQUIRETLS", SMTP_PARAM_EDISABLED, NULL, "REQUIRETLS"},
	/* unknown keywords, RCPT-only keywords, keyword syntax */
	{ALL, "FOO=1", SMTP_PARAM_EUNKNOWN, NULL, "FOO=1"},
	{ALL, "FOO", SMTP_PARAM_EUNKNOWN, NULL, "FOO"},
	{ALL, "X-FOO=1", SMTP_PARAM_EUNKNOWN, NULL, "X-FOO=1"},
	{ALL, "SIZES=1", SMTP_PARAM_EUNKNOWN, NULL, "SIZES=1"},
	{ALL, "SIZ=1", SMTP_PARAM_EUNKNOWN, NULL, "SIZ=1"},
	{ALL, "NOTIFY=NEVER", SMTP_PARAM_EUNKNOWN, NULL, "NOTIFY=NEVER"},
	{ALL, "ORCPT=rfc822;a@b.test", SMTP_PARAM_EUNKNOWN, NULL, "ORCPT=rfc822;a@b.test"},
	{0, "FOO=1", SMTP_PARAM_EUNKNOWN, NULL, "FOO=1"},
	{ALL, "SIZE=10 FOO=1", SMTP_PARAM_EUNKNOWN, NULL, "FOO=1"},
	{ALL, "FOO=1 SIZE=x", SMTP_PARAM_EUNKNOWN, NULL, "FOO=1"},
	{ALL, "=1", SMTP_PARAM_ESYNTAX, NULL, "=1"},
	{ALL, "=", SMTP_PARAM_ESYNTAX, NULL, "="},
	{ALL, "-X=1", SMTP_PARAM_ESYNTAX, NULL, "-X=1"},
	{ALL, "SI_ZE=1", SMTP_PARAM_ESYNTAX, NULL, "SI_ZE=1"},
	{ALL, "<a@b>", SMTP_PARAM_ESYNTAX, NULL, "<a@b>"},
	{ALL, "SIZE\x01=1", SMTP_PARAM_ESYNTAX, NULL, "SIZE\x01=1"},
	{ALL, "SIZE=1\r", SMTP_PARAM_EVALUE, NULL, "SIZE=1\r"},
	{ALL, "SIZE=1\r\nRCPT", SMTP_PARAM_EVALUE, NULL, "SIZE=1\r\nRCPT"},
	{ALL, "ENVID=\xc3\xa9", SMTP_PARAM_EVALUE, NULL, "ENVID=\xc3\xa9"},
	{ALL, "SMTPUTF8\r", SMTP_PARAM_ESYNTAX, NULL, "SMTPUTF8\r"},
	/* separators and combinations */
	{ALL, "  SIZE=1   BODY=7BIT  ", SMTP_PARAM_OK, "size=1 body=7BIT", NULL},
	{ALL, "SIZE=1\tBODY=7BIT", SMTP_PARAM_OK, "size=1 body=7BIT", NULL},
	{ALL, "SIZE=1000 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ314159 AUTH=<> REQUIRETLS", SMTP_PARAM_OK,
	 "size=1000 body=8BITMIME smtputf8 ret=HDRS envid=QQ314159 auth=<> requiretls", NULL},
	{ALL, "requiretls auth=+3C+3E envid=x ret=full smtputf8 body=7bit size=1", SMTP_PARAM_OK,
	 "size=1 body=7BIT smtputf8 ret=FULL envid=x auth=<> requiretls", NULL},
};

static const struct param_case rcpt_cases[] = {
	{ALL, "", SMTP_PARAM_OK, "", NULL},
	/* NOTIFY, RFC 3461 4.1 */
	{ALL, "NOTIFY=SUCCESS,FAILURE,DELAY", SMTP_PARAM_OK, "notify=SUCCESS,FAILURE,DELAY", NULL},
	{ALL, "NOTIFY=NEVER", SMTP_PARAM_OK, "notify=NEVER", NULL},
	{ALL, "notify=never", SMTP_PARAM_OK, "notify=NEVER", NULL},
	{ALL, "NOTIFY=delay,Success", SMTP_PARAM_OK, "notify=SUCCESS,DELAY", NULL},
	{ALL, "NOTIFY=FAILURE", SMTP_PARAM_OK, "notify=FAILURE", NULL},
	{ALL, "NOTIFY=DELAY,FAILURE", SMTP_PARAM_OK, "notify=FAILURE,DELAY", NULL},
	{ALL, "NOTIFY=NEVER,FAILURE", SMTP_PARAM_EVALUE, NULL, "NOTIFY=NEVER,FAILURE"},
	{ALL, "NOTIFY=FAILURE,NEVER", SMTP_PARAM_EVALUE, NULL, "NOTIFY=FAILURE,NEVER"},
	{ALL, "NOTIFY=NEVER,NEVER", SMTP_PARAM_EVALUE, NULL, "NOTIFY=NEVER,NEVER"},
	{ALL, "NOTIFY=SUCCESS,SUCCESS", SMTP_PARAM_EVALUE, NULL, "NOTIFY=SUCCESS,SUCCESS"},
	{ALL, "NOTIFY=SOON", SMTP_PARAM_EVALUE, NULL, "NOTIFY=SOON"},
	{ALL, "NOTIFY=", SMTP_PARAM_EVALUE, NULL, "NOTIFY="},
	{ALL, "NOTIFY", SMTP_PARAM_EVALUE, NULL, "NOTIFY"},
	{ALL, "NOTIFY=SUCCESS,", SMTP_PARAM_EVALUE, NULL, "NOTIFY=SUCCESS,"},
	{ALL, "NOTIFY=,SUCCESS", SMTP_PARAM_EVALUE, NULL, "NOTIFY=,SUCCESS"},
	{ALL, "NOTIFY=SUCCESS,,FAILURE", SMTP_PARAM_EVALUE, NULL, "NOTIFY=SUCCESS,,FAILURE"},
	{ALL, "NOTIFY=SUCCESS;FAILURE", SMTP_PARAM_EVALUE, NULL, "NOTIFY=SUCCESS;FAILURE"},
	{ALL, "NOTIFY=NEVER NOTIFY=NEVER", SMTP_PARAM_EDUP, NULL, "NOTIFY=NEVER"},
	{NO(DSN), "NOTIFY=NEVER", SMTP_PARAM_EDISABLED, NULL, "NOTIFY=NEVER"},
	{0, "NOTIFY=SUCCESS", SMTP_PARAM_EDISABLED, NULL, "NOTIFY=SUCCESS"},
	/* ORCPT, RFC 3461 4.2 */
	{ALL, "ORCPT=rfc822;bob@example.test", SMTP_PARAM_OK,
	 "orcpt=rfc822(rfc822):bob@example.test raw=rfc822;bob@example.test", NULL},
	{ALL, "ORCPT=RFC822;bob+2Bx@example.test", SMTP_PARAM_OK,
	 "orcpt=rfc822(RFC822):bob+x@example.test raw=RFC822;bob+2Bx@example.test", NULL},
	{ALL, "ORCPT=rfc822;bob", SMTP_PARAM_OK, "orcpt=rfc822(rfc822):bob raw=rfc822;bob", NULL},
	{ALL, "ORCPT=rfc822;+22a+20b+22@example.test", SMTP_PARAM_OK,
	 "orcpt=rfc822(rfc822):\"a b\"@example.test raw=rfc822;+22a+20b+22@example.test", NULL},
	{ALL, "ORCPT=x400;c+3Dus", SMTP_PARAM_OK, "orcpt=other(x400):c=us raw=x400;c+3Dus", NULL},
	{ALL, "ORCPT=rfc822;a;b@example.test", SMTP_PARAM_OK,
	 "orcpt=rfc822(rfc822):a;b@example.test raw=rfc822;a;b@example.test", NULL},
	{ALL, "NOTIFY=NEVER ORCPT=rfc822;bob@example.test", SMTP_PARAM_OK,
	 "notify=NEVER orcpt=rfc822(rfc822):bob@example.test raw=rfc822;bob@example.test", NULL},
	{ALL, "ORCPT=bob@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=bob@example.test"},
	{ALL, "ORCPT=;bob@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=;bob@example.test"},
	{ALL, "ORCPT=rfc822;", SMTP_PARAM_EVALUE, NULL, "ORCPT=rfc822;"},
	{ALL, "ORCPT=", SMTP_PARAM_EVALUE, NULL, "ORCPT="},
	{ALL, "ORCPT", SMTP_PARAM_EVALUE, NULL, "ORCPT"},
	{ALL, "ORCPT=rfc822;a+2x", SMTP_PARAM_EVALUE, NULL, "ORCPT=rfc822;a+2x"},
	{ALL, "ORCPT=rfc822;a+2b@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=rfc822;a+2b@example.test"},
	{ALL, "ORCPT=rfc822;a+0D@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=rfc822;a+0D@example.test"},
	{ALL, "ORCPT=rfc822;a=b@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=rfc822;a=b@example.test"},
	{ALL, "ORCPT=x400;c=us", SMTP_PARAM_EVALUE, NULL, "ORCPT=x400;c=us"},
	{ALL, "ORCPT=rf(c;bob@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=rf(c;bob@example.test"},
	{ALL, "ORCPT=rfc822;a@b.test ORCPT=rfc822;c@d.test", SMTP_PARAM_EDUP, NULL, "ORCPT=rfc822;c@d.test"},
	{NO(DSN), "ORCPT=rfc822;a@b.test", SMTP_PARAM_EDISABLED, NULL, "ORCPT=rfc822;a@b.test"},
	/* ORCPT=utf-8, RFC 6533 */
	{ALL, "ORCPT=utf-8;j\\x{F6}rg@client.test", SMTP_PARAM_OK,
	 "orcpt=utf-8(utf-8):j\xc3\xb6rg@client.test raw=utf-8;j\\x{F6}rg@client.test", NULL},
	{ALL, "ORCPT=UTF-8;j\\x{f6}rg@client.test", SMTP_PARAM_OK,
	 "orcpt=utf-8(UTF-8):j\xc3\xb6rg@client.test raw=UTF-8;j\\x{f6}rg@client.test", NULL},
	{ALL, "ORCPT=utf-8;user@example.test", SMTP_PARAM_OK,
	 "orcpt=utf-8(utf-8):user@example.test raw=utf-8;user@example.test", NULL},
	{ALL, "ORCPT=utf-8;a\\x{2B}b@example.test", SMTP_PARAM_OK,
	 "orcpt=utf-8(utf-8):a+b@example.test raw=utf-8;a\\x{2B}b@example.test", NULL},
	{ALL, "ORCPT=utf-8;\"a\\x{5C}\\x{22}b\"@example.test", SMTP_PARAM_OK,
	 "orcpt=utf-8(utf-8):\"a\\\"b\"@example.test raw=utf-8;\"a\\x{5C}\\x{22}b\"@example.test", NULL},
	{ALL, "ORCPT=utf-8;\\x{7528}\\x{6237}@\\x{4F8B}.test", SMTP_PARAM_OK,
	 "orcpt=utf-8(utf-8):\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b.test raw=utf-8;\\x{7528}\\x{6237}@\\x{4F8B}.test", NULL},
	{ALL, "ORCPT=utf-8;a+b@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;a+b@example.test"},
	{ALL, "ORCPT=utf-8;a+2Bb@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;a+2Bb@example.test"},
	{ALL, "ORCPT=utf-8;a\\x{0F6}@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;a\\x{0F6}@example.test"},
	{ALL, "ORCPT=utf-8;a\\x{D800}@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;a\\x{D800}@example.test"},
	{ALL, "ORCPT=utf-8;a\\x{110000}@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;a\\x{110000}@example.test"},
	{ALL, "ORCPT=utf-8;a\\x{}@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;a\\x{}@example.test"},
	{ALL, "ORCPT=utf-8;a\\x{6}@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;a\\x{6}@example.test"},
	{ALL, "ORCPT=utf-8;a\\X{F6}@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;a\\X{F6}@example.test"},
	{ALL, "ORCPT=utf-8;a\\x{F6@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;a\\x{F6@example.test"},
	{ALL, "ORCPT=utf-8;a\\x{0A}b@example.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;a\\x{0A}b@example.test"},
	{ALL, "ORCPT=utf-8;not-an-address", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;not-an-address"},
	{ALL, "ORCPT=utf-8;j\xc3\xb6rg@client.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;j\xc3\xb6rg@client.test"},
	/* unknown and MAIL-only keywords */
	{ALL, "FOO=1", SMTP_PARAM_EUNKNOWN, NULL, "FOO=1"},
	{ALL, "SIZE=1", SMTP_PARAM_EUNKNOWN, NULL, "SIZE=1"},
	{ALL, "RET=FULL", SMTP_PARAM_EUNKNOWN, NULL, "RET=FULL"},
	{ALL, "SMTPUTF8", SMTP_PARAM_EUNKNOWN, NULL, "SMTPUTF8"},
	{0, "FOO=1", SMTP_PARAM_EUNKNOWN, NULL, "FOO=1"},
	{ALL, "NOTIFY=NEVER FOO", SMTP_PARAM_EUNKNOWN, NULL, "FOO"},
};

/* check_param - run one row for MAIL (rcpt false) or RCPT */
static void check_param(const struct param_case *c, bool rcpt, bool smtputf8)
{
	struct smtp_param_mail m;
	struct smtp_param_rcpt r;
	struct smtp_addr_reply err = {0, NULL, NULL, NULL, 0};
	enum smtp_param_status st;
	const char *got;

	if (rcpt) {
		st = smtp_param_parse_rcpt(c->in, strlen(c->in), c->ext, smtputf8, &r, &err);
		got = show_rcpt(&r);
	} else {
		st = smtp_param_parse_mail(c->in, strlen(c->in), c->ext, &m, &err);
		got = show_mail(&m);
	}
	if (!ok(st == c->st, "%s ext=0x%x '%s' -> %s", rcpt ? "RCPT" : "MAIL", c->ext, show(c->in),
		param_names[c->st])) {
		diag("got %s (%s)", param_names[st], got);
		return;
	}
	if (st == SMTP_PARAM_OK) {
		is_str(got, c->want, "  values");
		return;
	}
	is_str(got, "", "  result cleared");
	ok(err.code == param_codes[st] && err.enh != NULL && strcmp(err.enh, "5.5.4") == 0 &&
	   err.text != NULL && err.text[0] != '\0', "  reply %d 5.5.4 %s", param_codes[st], err.text ? err.text : "");
	ok(err.item != NULL && err.item_len == strlen(c->item) && memcmp(err.item, c->item, err.item_len) == 0,
	   "  names the parameter '%s'", show(c->item));
}

static void test_mail(void)
{
	for (size_t i = 0; i < N(mail_cases); i++)
		check_param(&mail_cases[i], false, false);

	/* ENVID: 100 characters decoded, however they are written */
	static const struct {
		const char *unit;
		size_t count;
		enum smtp_param_status st;
	} envid[] = {
		{"x", 100, SMTP_PARAM_OK}, {"x", 101, SMTP_PARAM_EVALUE},
		{"+41", 100, SMTP_PARAM_OK}, {"+41", 101, SMTP_PARAM_EVALUE},
	};
	for (size_t i = 0; i < N(envid); i++) {
		struct smtp_param_mail m;
		const char *in = cat("ENVID=%s", rep(envid[i].unit, envid[i].count));
		enum smtp_param_status st = smtp_param_parse_mail(in, strlen(in), ALL, &m, NULL);

		ok(st == envid[i].st, "ENVID of %zu x '%s' -> %s", envid[i].count, envid[i].unit,
		   param_names[envid[i].st]);
		if (st == SMTP_PARAM_OK)
			is_int((long long) strlen(m.envid), 100, "  100 decoded characters");
	}
}

static void test_rcpt(void)
{
	for (size_t i = 0; i < N(rcpt_cases); i++)
		check_param(&rcpt_cases[i], true, false);

	/* raw UTF-8 (utf-8-addr-unitext) only in an SMTPUTF8 transaction */
	static const struct param_case unitext[] = {
		{ALL, "ORCPT=utf-8;j\xc3\xb6rg@client.test", SMTP_PARAM_OK,
		 "orcpt=utf-8(utf-8):j\xc3\xb6rg@client.test raw=utf-8;j\xc3\xb6rg@client.test", NULL},
		{ALL, "ORCPT=utf-8;j\xc3\xb6rg@\\x{4F8B}.test", SMTP_PARAM_OK,
		 "orcpt=utf-8(utf-8):j\xc3\xb6rg@\xe4\xbe\x8b.test raw=utf-8;j\xc3\xb6rg@\\x{4F8B}.test", NULL},
		{ALL, "ORCPT=utf-8;j\xc3(rg@client.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;j\xc3(rg@client.test"},
		{ALL, "ORCPT=utf-8;j\xc2\x85rg@client.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=utf-8;j\xc2\x85rg@client.test"},
		{ALL, "ORCPT=rfc822;j\xc3\xb6rg@client.test", SMTP_PARAM_EVALUE, NULL, "ORCPT=rfc822;j\xc3\xb6rg@client.test"},
		{ALL, "FOO=\xc3\xb6", SMTP_PARAM_EUNKNOWN, NULL, "FOO=\xc3\xb6"},
	};
	for (size_t i = 0; i < N(unitext); i++)
		check_param(&unitext[i], true, true);

	/* ORCPT: 500 characters as written; addr-type up to 32 */
	static const struct {
		const char *fmt;
		const char *unit;
		size_t count;
		enum smtp_param_status st;
	} orcpt[] = {
		{"ORCPT=rfc822;%s@b.test", "a", 486, SMTP_PARAM_OK},
		{"ORCPT=rfc822;%s@b.test", "a", 487, SMTP_PARAM_EVALUE},
		{"ORCPT=rfc822;%s@b.test", "+41", 162, SMTP_PARAM_OK},
		{"ORCPT=rfc822;%s@b.test", "+41", 163, SMTP_PARAM_EVALUE},
		{"ORCPT=%s;x", "t", 32, SMTP_PARAM_OK},
		{"ORCPT=%s;x", "t", 33, SMTP_PARAM_EVALUE},
	};
	for (size_t i = 0; i < N(orcpt); i++) {
		struct smtp_param_rcpt r;
		const char *in = cat(orcpt[i].fmt, rep(orcpt[i].unit, orcpt[i].count));
		enum smtp_param_status st = smtp_param_parse_rcpt(in, strlen(in), ALL, false, &r, NULL);

		ok(st == orcpt[i].st, "ORCPT value of %zu characters -> %s", strlen(in) - 6,
		   param_names[orcpt[i].st]);
		if (st == SMTP_PARAM_OK)
			ok(strcmp(r.orcpt_raw, in + 6) == 0, "  kept as written");
	}
}

static void test_commands(void)
{
	static const struct {
		int rcpt;
		unsigned ext;
		bool smtputf8;
		const char *in;
		int code;		/* 0: accepted */
		const char *enh;
	} cmds[] = {
		{0, ALL, false, "FROM:<a@b.test> SIZE=10 BODY=8BITMIME", 0, NULL},
		{0, ALL, false, "FROM:<> RET=HDRS ENVID=QQ314159", 0, NULL},
		{0, ALL, false, "FROM:<j\xc3\xb6rg@client.test> SMTPUTF8", 0, NULL},
		{0, ALL, false, "FROM:<j\xc3\xb6rg@client.test>", 553, "5.6.7"},
		{0, NO(SMTPUTF8), false, "FROM:<j\xc3\xb6rg@client.test>", 553, "5.6.7"},
		{0, NO(SMTPUTF8), false, "FROM:<j\xc3\xb6rg@client.test> SMTPUTF8", 553, "5.6.7"},
		{0, ALL, false, "FROM:<j\xc3(rg@client.test> SMTPUTF8", 553, "5.6.7"},
		{0, ALL, false, "FROM:<a@b.test> SMTPUTF8=yes", 501, "5.5.4"},
		{0, 0, false, "FROM:<a@b.test>", 0, NULL},
		{0, 0, false, "FROM:<a@b.test> SIZE=10", 555, "5.5.4"},
		{0, 0, false, "FROM:<a@b.test> BODY=8BITMIME", 555, "5.5.4"},
		{0, 0, false, "FROM:<a@b.test> RET=FULL", 555, "5.5.4"},
		{0, NO(REQUIRETLS), false, "FROM:<a@b.test> REQUIRETLS", 555, "5.5.4"},
		{0, ALL, false, "FROM:<a@b.test> REQUIRETLS", 0, NULL},
		{0, ALL, false, "FROM:<a@b.test> SIZE=abc", 501, "5.5.4"},
		{0, ALL, false, "FROM:<a@b.test> SIZE=1 SIZE=1", 501, "5.5.4"},
		{0, ALL, false, "FROM:<a@b.test> RET=ALL", 501, "5.5.4"},
		{0, ALL, false, "FROM:<a@b.test> BODY=BINARYMIME", 501, "5.5.4"},
		{0, ALL, false, "FROM:<a@b.test> FOO=1", 555, "5.5.4"},
		{0, ALL, false, "FROM:<a@b.test SIZE=1", 501, "5.1.7"},
		{0, ALL, false, "FROM:a@b.test", 0, NULL},
		{0, ALL, false, "FROM:<a b@c.test>", 501, "5.1.7"},
		{1, ALL, false, "TO:<user@local.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;user@local.test", 0, NULL},
		{1, ALL, true, "TO:<\xe7\x94\xa8\xe6\x88\xb7@local.test>", 0, NULL},
		{1, ALL, false, "TO:<\xe7\x94\xa8\xe6\x88\xb7@local.test>", 553, "5.6.7"},
		{1, ALL, true, "TO:<a@b.test> ORCPT=utf-8;\xe7\x94\xa8@b.test", 0, NULL},
		{1, ALL, false, "TO:<a@b.test> ORCPT=utf-8;\xe7\x94\xa8@b.test", 501, "5.5.4"},
		{1, 0, false, "TO:<a@b.test> NOTIFY=SUCCESS", 555, "5.5.4"},
		{1, NO(DSN), false, "TO:<a@b.test> ORCPT=rfc822;a@b.test", 555, "5.5.4"},
		{1, ALL, false, "TO:<a@b.test> FOO=1", 555, "5.5.4"},
		{1, ALL, false, "TO:<a@b.test> NOTIFY=NEVER,FAILURE", 501, "5.5.4"},
		{1, ALL, false, "TO:<bad", 501, "5.1.3"},
		{1, ALL, false, "TO:<>", 501, "5.1.3"},
		{1, ALL, false, "TO:<Postmaster> NOTIFY=NEVER", 0, NULL},
	};

	for (size_t i = 0; i < N(cmds); i++) {
		struct smtp_addr a;
		struct smtp_param_mail m;
		struct smtp_param_rcpt r;
		struct smtp_addr_reply err = {0, NULL, NULL, NULL, 0};
		int ret;

		if (cmds[i].rcpt)
			ret = smtp_param_rcpt_cmd(cmds[i].in, strlen(cmds[i].in), cmds[i].ext, 0, cmds[i].smtputf8,
						  &a, &r, &err);
		else
			ret = smtp_param_mail_cmd(cmds[i].in, strlen(cmds[i].in), cmds[i].ext, 0, &a, &m, &err);
		if (cmds[i].code == 0) {
			ok(ret == 0, "%s %s -> accepted", cmds[i].rcpt ? "RCPT" : "MAIL", cmds[i].in);
			if (ret != 0)
				diag("got %d %s %s", err.code, err.enh, err.text);
		} else {
			ok(ret == -1 && err.code == cmds[i].code && err.enh != NULL && strcmp(err.enh, cmds[i].enh) == 0,
			   "%s %s -> %d %s", cmds[i].rcpt ? "RCPT" : "MAIL", cmds[i].in, cmds[i].code, cmds[i].enh);
			if (ret != -1 || err.code != cmds[i].code)
				diag("got %d %d %s", ret, err.code, err.enh ? err.enh : "");
		}
	}

	/* the values arrive with the address */
	struct smtp_addr a;
	struct smtp_param_mail m;
	struct smtp_addr_reply err;
	const char *in = "FROM:<@r.test:a@B.TEST> SIZE=42 RET=HDRS";

	ok(smtp_param_mail_cmd(in, strlen(in), ALL, 0, &a, &m, &err) == 0 && strcmp(a.domain, "b.test") == 0 &&
	   a.routed && m.size == 42 && m.ret == SMTP_PARAM_RET_HDRS, "mail_cmd fills address and parameters");
	in = "FROM: <a@b.test>";
	ok(smtp_param_mail_cmd(in, strlen(in), ALL, SMTP_ADDR_F_STRICT, &a, &m, &err) == -1 &&
	   err.code == 501 && strcmp(err.enh, "5.1.7") == 0, "mail_cmd passes address flags (strict)");
}

static void test_notify_text(void)
{
	static const struct {
		unsigned bits;
		const char *want;
	} t[] = {
		{SMTP_PARAM_NOTIFY_NEVER, "NEVER"},
		{SMTP_PARAM_NOTIFY_SUCCESS, "SUCCESS"},
		{SMTP_PARAM_NOTIFY_SUCCESS | SMTP_PARAM_NOTIFY_FAILURE | SMTP_PARAM_NOTIFY_DELAY, "SUCCESS,FAILURE,DELAY"},
		{SMTP_PARAM_NOTIFY_DELAY | SMTP_PARAM_NOTIFY_FAILURE, "FAILURE,DELAY"},
		{0, NULL},
		{SMTP_PARAM_NOTIFY_NEVER | SMTP_PARAM_NOTIFY_DELAY, NULL},
		{1u << 7, NULL},
	};
	char buf[40];

	for (size_t i = 0; i < N(t); i++) {
		int r = smtp_param_notify_text(t[i].bits, buf, sizeof(buf));

		if (t[i].want == NULL)
			is_int(r, -1, cat("notify text of 0x%x refused", t[i].bits));
		else
			is_str(r >= 0 ? buf : NULL, t[i].want, t[i].want);
	}
	is_int(smtp_param_notify_text(SMTP_PARAM_NOTIFY_SUCCESS | SMTP_PARAM_NOTIFY_DELAY, buf, 13), -1,
	       "notify text: one short");
	is_int(smtp_param_notify_text(SMTP_PARAM_NOTIFY_SUCCESS | SMTP_PARAM_NOTIFY_DELAY, buf, 14), 13,
	       "notify text: exact room");
}

static void test_xtext(void)
{
	static const struct {
		const char *in;
		const char *want;	/* NULL: malformed */
	} dec[] = {
		{"", ""}, {"abc", "abc"}, {"a+2Bb", "a+b"}, {"+3D", "="}, {"+20", " "}, {"+7E", "~"},
		{"+41+42", "AB"}, {"+FF", "\xff"}, {"!~", "!~"}, {"<>", "<>"}, {"\\", "\\"},
		{"a+2b", NULL}, {"a+2", NULL}, {"+", NULL}, {"a+G0", NULL}, {"a+0g", NULL}, {"a=b", NULL},
		{"a+b", NULL}, {"a b", NULL}, {"a\x01", NULL}, {"a\x7f", NULL}, {"+00", NULL}, {"\x80", NULL},
		{"\xc3\xa9", NULL}, {"++41", NULL}, {"+ 41", NULL},
	};
	char out[64];

	for (size_t i = 0; i < N(dec); i++) {
		ssize_t n = xtext_decode(dec[i].in, strlen(dec[i].in), out, sizeof(out));

		if (dec[i].want == NULL) {
			ok(n == XTEXT_BAD, "xtext '%s' malformed", dec[i].in);
			ok(!xtext_valid(dec[i].in, strlen(dec[i].in)), "xtext '%s' not valid", dec[i].in);
		} else {
			ok(n == (ssize_t) strlen(dec[i].want) && strcmp(out, dec[i].want) == 0,
			   "xtext '%s' decodes", dec[i].in);
			ok(xtext_valid(dec[i].in, strlen(dec[i].in)), "xtext '%s' valid", dec[i].in);
		}
	}
	ok(xtext_decode("abcd", 4, out, 4) == XTEXT_LONG, "xtext decode: no room for the NUL");
	ok(xtext_decode("abcd", 4, out, 5) == 4, "xtext decode: exact room");
	ok(xtext_decode("+41+42", 6, out, 3) == 2, "xtext decode: room counted decoded");
	ok(xtext_decode("a", 1, out, 0) == XTEXT_LONG, "xtext decode: size 0");
	ok(xtext_decode("a+0", 2, out, sizeof(out)) == XTEXT_BAD, "xtext decode: escape cut by the length");

	static const struct {
		const char *in;
		const char *want;
	} enc[] = {
		{"abc", "abc"}, {"a+b", "a+2Bb"}, {"a=b", "a+3Db"}, {"a b", "a+20b"}, {"\x01", "+01"},
		{"\xc3\xa9", "+C3+A9"}, {"~!", "~!"}, {"\x7f", "+7F"}, {"user@example.test", "user@example.test"},
		{"\"a\\b\"", "\"a\\b\""}, {"", ""},
	};
	for (size_t i = 0; i < N(enc); i++) {
		char back[64];
		ssize_t n = xtext_encode(enc[i].in, strlen(enc[i].in), out, sizeof(out));

		ok(n == (ssize_t) strlen(enc[i].want) && strcmp(out, enc[i].want) == 0, "xtext encode '%s'", enc[i].want);
		ok(xtext_decode(out, (size_t) n, back, sizeof(back)) == (ssize_t) strlen(enc[i].in) &&
		   strcmp(back, enc[i].in) == 0, "xtext round trip '%s'", enc[i].want);
	}
	ok(xtext_encode("a\0b", 3, out, sizeof(out)) == XTEXT_BAD, "xtext encode: NUL refused");
	ok(xtext_encode("a b", 3, out, 5) == XTEXT_LONG, "xtext encode: one short");
	ok(xtext_encode("a b", 3, out, 6) == 5, "xtext encode: exact room");

	/* every octet 1..255 round-trips */
	{
		char all[255], enc_all[800], back[300];
		ssize_t n;

		for (int i = 0; i < 255; i++)
			all[i] = (char) (i + 1);
		n = xtext_encode(all, sizeof(all), enc_all, sizeof(enc_all));
		ok(n > 0 && xtext_valid(enc_all, (size_t) n) &&
		   xtext_decode(enc_all, (size_t) n, back, sizeof(back)) == 255 && memcmp(back, all, 255) == 0,
		   "xtext: all octets round-trip");
	}
}

static void test_xtext_utf8(void)
{
	static const struct {
		const char *in;
		bool unitext;
		const char *want;	/* NULL: malformed */
	} dec[] = {
		{"user@example.test", false, "user@example.test"},
		{"j\\x{F6}rg", false, "j\xc3\xb6rg"},
		{"j\\x{f6}rg", false, "j\xc3\xb6rg"},
		{"\\x{1F600}", false, "\xf0\x9f\x98\x80"},
		{"\\x{10FFFF}", false, "\xf4\x8f\xbf\xbf"},
		{"\\x{20AC}", false, "\xe2\x82\xac"},
		{"\\x{100}", false, "\xc4\x80"},
		{"\\x{20}", false, " "},
		{"\\x{2B}\\x{3D}\\x{5C}", false, "+=\\"},
		{"\\x{01}", false, "\x01"},
		{"\\x{41}", false, "A"},
		{"", false, ""},
		{"j\xc3\xb6rg", true, "j\xc3\xb6rg"},
		{"j\xc3\xb6rg\\x{20AC}", true, "j\xc3\xb6rg\xe2\x82\xac"},
		{"j\xc3\xb6rg", false, NULL},
		{"j\xc3(rg", true, NULL},
		{"\xed\xa0\x80", true, NULL},
		{"\\x{0041}", false, NULL},
		{"\\x{041}", false, NULL},
		{"\\x{00}", false, NULL},
		{"\\x{0}", false, NULL},
		{"\\x{D800}", false, NULL},
		{"\\x{DFFF}", false, NULL},
		{"\\x{110000}", false, NULL},
		{"\\x{1234567}", false, NULL},
		{"\\x{0010FFFF}", false, NULL},
		{"\\x{G1}", false, NULL},
		{"\\x{}", false, NULL},
		{"\\x41", false, NULL},
		{"\\x{41", false, NULL},
		{"\\X{41}", false, NULL},
		{"\\", false, NULL},
		{"\\\\", false, NULL},
		{"+", false, NULL},
		{"+41", false, NULL},
		{"=", false, NULL},
		{" ", false, NULL},
		{"a\x01", false, NULL},
		{"a\x7f", false, NULL},
	};
	char out[64];

	for (size_t i = 0; i < N(dec); i++) {
		ssize_t n = xtext_utf8_decode(dec[i].in, strlen(dec[i].in), dec[i].unitext, out, sizeof(out));

		if (dec[i].want == NULL)
			ok(n == XTEXT_BAD, "utf-8-addr-%s '%s' malformed", dec[i].unitext ? "unitext" : "xtext", dec[i].in);
		else
			ok(n == (ssize_t) strlen(dec[i].want) && strcmp(out, dec[i].want) == 0,
			   "utf-8-addr-%s '%s' decodes", dec[i].unitext ? "unitext" : "xtext", dec[i].in);
	}
	ok(xtext_utf8_decode("\\x{1F600}", 9, false, out, 4) == XTEXT_LONG, "utf8 decode: no room for the NUL");
	ok(xtext_utf8_decode("\\x{1F600}", 9, false, out, 5) == 4, "utf8 decode: exact room");

	static const struct {
		const char *in;
		bool unitext;
		const char *want;	/* NULL: refused */
	} enc[] = {
		{"user@example.test", false, "user@example.test"},
		{"j\xc3\xb6rg@x.test", false, "j\\x{F6}rg@x.test"},
		{"j\xc3\xb6rg@x.test", true, "j\xc3\xb6rg@x.test"},
		{"a+b=c\\d e", false, "a\\x{2B}b\\x{3D}c\\x{5C}d\\x{20}e"},
		{"a+b", true, "a\\x{2B}b"},
		{"\xf0\x9f\x98\x80", false, "\\x{1F600}"},
		{"\xe2\x82\xac", false, "\\x{20AC}"},
		{"\xc4\x80", false, "\\x{100}"},
		{"\x01\x7f", false, "\\x{01}\\x{7F}"},
		{"\xc3(", false, NULL},
		{"\xed\xa0\x80", true, NULL},
	};
	for (size_t i = 0; i < N(enc); i++) {
		char back[64];
		ssize_t n = xtext_utf8_encode(enc[i].in, strlen(enc[i].in), enc[i].unitext, out, sizeof(out));

		if (enc[i].want == NULL) {
			ok(n == XTEXT_BAD, "utf8 encode refuses bad UTF-8 %zu", i);
			continue;
		}
		ok(n == (ssize_t) strlen(enc[i].want) && strcmp(out, enc[i].want) == 0, "utf8 encode '%s'", enc[i].want);
		ok(xtext_utf8_decode(out, (size_t) n, enc[i].unitext, back, sizeof(back)) == (ssize_t) strlen(enc[i].in) &&
		   strcmp(back, enc[i].in) == 0, "utf8 round trip '%s'", enc[i].want);
	}
	ok(xtext_utf8_encode("a\0b", 3, false, out, sizeof(out)) == XTEXT_BAD, "utf8 encode: NUL refused");
	ok(xtext_utf8_encode("\xc3\xb6", 2, false, out, 6) == XTEXT_LONG, "utf8 encode: one short");
	ok(xtext_utf8_encode("\xc3\xb6", 2, false, out, 7) == 6, "utf8 encode: exact room");
}

static void test_replies(void)
{
	struct smtp_addr_reply r;

	for (int st = 1; st < SMTP_PARAM_NSTATUS; st++) {
		smtp_param_reply((enum smtp_param_status) st, &r);
		ok(r.code == param_codes[st] && strcmp(r.enh, "5.5.4") == 0 && r.text[0] != '\0',
		   "reply for %s: %d %s %s", param_names[st], r.code, r.enh, r.text);
	}
}

int main(void)
{
	test_mail();
	test_rcpt();
	test_commands();
	test_notify_text();
	test_xtext();
	test_xtext_utf8();
	test_replies();
	return tap_done();
}
