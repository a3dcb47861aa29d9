/*
 * sendmail_smtp - "sendmail -bs": an SMTP server on standard input and
 * output, for programs that prefer speaking SMTP to a local process.
 *
 * A small RFC 5321 server: a table of verbs with the states each is
 * allowed in and its action. EHLO offers PIPELINING, SIZE, 8BITMIME,
 * DSN, SMTPUTF8 and ENHANCEDSTATUSCODES; MAIL and RCPT parameters are
 * checked by smtp_param. Each message goes the same way as in the mail
 * mode (sendmail_submit: pickup, else the maildrop), with the same header
 * fix-ups (no -t); the reply after the final dot is cleanup's answer, or
 * 250 once the message is in the maildrop.
 *
 * Input lines may end in CRLF or LF: the peer is a local program, not
 * the network, and whatever it sends ends up in one message (the end of
 * data is a line holding only "."). A bare CR inside a line becomes a
 * space, as in the mail mode. Commands are limited to
 * SENDMAIL_SMTP_LINE_MAX bytes (500 5.5.2), the content to
 * message_size_limit (552 5.3.4 after the final dot). After
 * SENDMAIL_SMTP_ERRORS errors the session ends with 421. Replies are
 * flushed before each read, so pipelining clients never wait.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/smtp_param.h"
#include "sendmail.h"

#define SENDMAIL_SMTP_LINE_MAX	2048
#define SENDMAIL_SMTP_ERRORS	20
#define SENDMAIL_SMTP_EXT	(SMTP_PARAM_EXT_SIZE | SMTP_PARAM_EXT_8BITMIME | SMTP_PARAM_EXT_SMTPUTF8 | \
				 SMTP_PARAM_EXT_DSN)

/* session states, as bits for the verb table */
enum { ST_START = 1, ST_READY = 2, ST_MAIL = 4, ST_RCPT = 8, ST_ANY = 15 };

/* sendmail_smtp_in - buffered standard input */
struct sendmail_smtp_in {
	char data[65536];
	size_t pos, len;
	bool eof;
};

/* sendmail_smtp_sess - one session */
struct sendmail_smtp_sess {
	struct sendmail *sm;
	struct sendmail_smtp_in in;
	struct buf line;
	int state;
	bool esmtp;
	bool quit;
	int errors;
	struct sendmail_env env;
};

/* sendmail_smtp_reply - one reply line (or several, separated by \n in text) */
static void sendmail_smtp_reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void sendmail_smtp_reply(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputs("\r\n", stdout);
}

/*
 * sendmail_smtp_getline - the next line without its end into s->line: 1, 0 at
 * EOF. Bytes past limit are read and dropped; *too_long says so.
 */
static int sendmail_smtp_getline(struct sendmail_smtp_sess *s, size_t limit, bool *too_long)
{
	struct sendmail_smtp_in *in = &s->in;

	buf_reset(&s->line);
	*too_long = false;
	fflush(stdout);
	for (;;) {
		char *nl;
		size_t n;

		if (in->pos == in->len) {
			ssize_t r;

			if (in->eof)
				return s->line.len > 0 || *too_long ? 1 : 0;
			r = read(STDIN_FILENO, in->data, sizeof(in->data));
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				in->eof = true;
				continue;
			}
			in->pos = 0;
			in->len = (size_t) r;
		}
		nl = memchr(in->data + in->pos, '\n', in->len - in->pos);
		n = (nl ? (size_t) (nl - in->data) : in->len) - in->pos;
		if (!*too_long && s->line.len + n <= limit)
			buf_append(&s->line, in->data + in->pos, n);
		else
			*too_long = true;
		in->pos += n + (nl != NULL);
		if (nl != NULL) {
			if (s->line.len > 0 && s->line.data[s->line.len - 1] == '\r')
				buf_truncate(&s->line, s->line.len - 1);
			return 1;
		}
	}
}

/* sendmail_smtp_reset - forget the transaction */
static void sendmail_smtp_reset(struct sendmail_smtp_sess *s)
{
	sendmail_env_free(&s->env);
	if (s->state & (ST_MAIL | ST_RCPT))
		s->state = ST_READY;
}

/* sendmail_smtp_refusal - a refusal from smtp_addr/smtp_param */
static void sendmail_smtp_refusal(const struct smtp_addr_reply *r)
{
	sendmail_smtp_reply("%d %s %s", r->code, r->enh, r->text);
}

/* sendmail_smtp_qualify - external form of a parsed address, "@myorigin" added when bare */
static int sendmail_smtp_qualify(struct sendmail_smtp_sess *s, const struct smtp_addr *a, char *out,
				 size_t size)
{
	if (smtp_addr_external(a, out, size) < 0)
		return -1;
	if (a->unqualified && !a->null) {
		size_t n = strlen(out);

		if (str_fmt(out + n, size - n, "@%s", s->sm->cfg.global.myorigin) < 0)
			return -1;
	}
	return 0;
}

/* sendmail_smtp_helo - HELO and EHLO */
static void sendmail_smtp_helo(struct sendmail_smtp_sess *s, const char *verb, const char *arg)
{
	const char *host = s->sm->cfg.global.myhostname;

	if (*arg == '\0') {
		sendmail_smtp_reply("501 5.5.4 Syntax: %s hostname", verb);
		s->errors++;
		return;
	}
	sendmail_smtp_reset(s);
	s->state = ST_READY;
	s->esmtp = str_eq_nocase(verb, "EHLO");
	if (!s->esmtp) {
		sendmail_smtp_reply("250 %s", host);
		return;
	}
	sendmail_smtp_reply("250-%s\r\n250-PIPELINING\r\n250-SIZE %lld\r\n250-8BITMIME\r\n250-DSN\r\n"
		   "250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES", host, s->sm->size_limit);
}

/* sendmail_smtp_mail - MAIL FROM */
static void sendmail_smtp_mail(struct sendmail_smtp_sess *s, const char *verb, const char *arg)
{
	struct smtp_addr a;
	struct smtp_param_mail p;
	struct smtp_addr_reply r;
	char addr[SMTP_ADDR_TEXT_MAX + 64];

	(void) verb;
	if (smtp_param_mail_cmd(arg, strlen(arg), s->esmtp ? SENDMAIL_SMTP_EXT : 0,
				SMTP_ADDR_F_UNQUALIFIED, &a, &p, &r) < 0) {
		sendmail_smtp_refusal(&r);
		s->errors++;
		return;
	}
	if (p.size_given && p.size > (uint64_t) s->sm->size_limit) {
		sendmail_smtp_reply("552 5.3.4 Message size exceeds fixed limit");
		return;
	}
	if (sendmail_smtp_qualify(s, &a, addr, sizeof(addr)) < 0) {
		sendmail_smtp_reply("501 5.1.7 Bad sender address syntax");
		return;
	}
	sendmail_env_free(&s->env);
	s->env.sender = xstrdup(a.null ? "" : addr);
	if (p.body == SMTP_PARAM_BODY_8BITMIME)
		s->env.flags |= CLEANUP_FLAG_8BITMIME;
	if (p.smtputf8 || a.utf8)
		s->env.flags |= CLEANUP_FLAG_SMTPUTF8;
	if (p.ret != SMTP_PARAM_RET_NONE)
		s->env.ret = xstrdup(p.ret == SMTP_PARAM_RET_FULL ? "FULL" : "HDRS");
	if (p.envid_given)
		s->env.envid = xstrdup(p.envid);
	s->state = ST_MAIL;
	sendmail_smtp_reply("250 2.1.0 Ok");
}

/* sendmail_smtp_rcpt - RCPT TO */
static void sendmail_smtp_rcpt(struct sendmail_smtp_sess *s, const char *verb, const char *arg)
{
	struct smtp_addr a;
	struct smtp_param_rcpt p;
	struct smtp_addr_reply r;
	char addr[SMTP_ADDR_TEXT_MAX + 64];
	unsigned notify = 0;

	(void) verb;
	if (smtp_param_rcpt_cmd(arg, strlen(arg), s->esmtp ? SENDMAIL_SMTP_EXT : 0, SMTP_ADDR_F_UNQUALIFIED,
				(s->env.flags & CLEANUP_FLAG_SMTPUTF8) != 0, &a, &p, &r) < 0) {
		sendmail_smtp_refusal(&r);
		s->errors++;
		return;
	}
	if (sendmail_smtp_qualify(s, &a, addr, sizeof(addr)) < 0) {
		sendmail_smtp_reply("501 5.1.3 Bad recipient address syntax");
		return;
	}
	if (p.notify & SMTP_PARAM_NOTIFY_NEVER)
		notify |= CLEANUP_NOTIFY_NEVER;
	if (p.notify & SMTP_PARAM_NOTIFY_SUCCESS)
		notify |= CLEANUP_NOTIFY_SUCCESS;
	if (p.notify & SMTP_PARAM_NOTIFY_FAILURE)
		notify |= CLEANUP_NOTIFY_FAILURE;
	if (p.notify & SMTP_PARAM_NOTIFY_DELAY)
		notify |= CLEANUP_NOTIFY_DELAY;
	if (sendmail_env_rcpt(&s->env, addr, notify,
			      p.orcpt_type != SMTP_PARAM_ORCPT_NONE ? p.orcpt_raw : NULL) < 0) {
		sendmail_smtp_reply("452 4.5.3 Error: too many recipients");
		return;
	}
	s->state = ST_RCPT;
	sendmail_smtp_reply("250 2.1.5 Ok");
}

/* sendmail_smtp_data - DATA: the content, then the hand-off */
static void sendmail_smtp_data(struct sendmail_smtp_sess *s, const char *verb, const char *arg)
{
	struct sendmail_msg m;
	struct sendmail_result res;
	char err[512];
	bool too_long;

	(void) verb;
	if (*arg != '\0') {
		sendmail_smtp_reply("501 5.5.4 Syntax: DATA");
		s->errors++;
		return;
	}
	sendmail_smtp_reply("354 End data with <CR><LF>.<CR><LF>");
	sendmail_msg_init(&m, (size_t) s->sm->size_limit);
	for (;;) {
		const char *p;

		if (sendmail_smtp_getline(s, (size_t) s->sm->size_limit, &too_long) == 0) {
			s->quit = true;		/* EOF inside DATA: no message */
			sendmail_msg_free(&m);
			return;
		}
		p = buf_str(&s->line);
		if (!too_long && s->line.len == 1 && p[0] == '.')
			break;
		if (too_long)
			m.too_big = true;
		if (p[0] == '.')
			sendmail_msg_line(&m, p + 1, s->line.len - 1);
		else
			sendmail_msg_line(&m, p, s->line.len);
	}
	if (m.too_big) {
		sendmail_smtp_reply("552 5.3.4 Error: message file too big");
	} else if (sendmail_msg_finish(s->sm, &m, &s->env, false, err, sizeof(err)) != EX_OK) {
		sendmail_smtp_reply("554 5.6.0 Error: %s", err);
	} else {
		sendmail_submit(s->sm, &s->env, &m, &res);
		sendmail_smtp_reply("%d %s %s", res.code, res.dsn, res.text);
	}
	sendmail_msg_free(&m);
	sendmail_smtp_reset(s);
}

/* sendmail_smtp_simple - RSET, NOOP, QUIT, VRFY, HELP, EXPN */
static void sendmail_smtp_simple(struct sendmail_smtp_sess *s, const char *verb, const char *arg)
{
	if (str_eq_nocase(verb, "NOOP")) {
		sendmail_smtp_reply("250 2.0.0 Ok");
	} else if (str_eq_nocase(verb, "RSET")) {
		if (*arg != '\0') {
			sendmail_smtp_reply("501 5.5.4 Syntax: RSET");
			s->errors++;
			return;
		}
		sendmail_smtp_reset(s);
		sendmail_smtp_reply("250 2.0.0 Ok");
	} else if (str_eq_nocase(verb, "QUIT")) {
		sendmail_smtp_reply("221 2.0.0 Bye");
		s->quit = true;
	} else if (str_eq_nocase(verb, "VRFY")) {
		sendmail_smtp_reply("252 2.0.0 Cannot VRFY user; send mail and it will be tried");
	} else if (str_eq_nocase(verb, "HELP")) {
		sendmail_smtp_reply("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT VRFY HELP");
	} else {
		sendmail_smtp_reply("502 5.5.1 Error: command not implemented");
		s->errors++;
	}
}

/* the verbs: name, states allowed, what to say otherwise, action */
static const struct sendmail_smtp_verb {
	const char *name;
	int states;
	const char *refusal;
	void (*action)(struct sendmail_smtp_sess *s, const char *verb, const char *arg);
} sendmail_smtp_verbs[] = {
	{"EHLO", ST_ANY, NULL, sendmail_smtp_helo},
	{"HELO", ST_ANY, NULL, sendmail_smtp_helo},
	{"MAIL", ST_READY, NULL, sendmail_smtp_mail},
	{"RCPT", ST_MAIL | ST_RCPT, "503 5.5.1 Error: need MAIL command", sendmail_smtp_rcpt},
	{"DATA", ST_RCPT, NULL, sendmail_smtp_data},
	{"RSET", ST_ANY, NULL, sendmail_smtp_simple},
	{"NOOP", ST_ANY, NULL, sendmail_smtp_simple},
	{"QUIT", ST_ANY, NULL, sendmail_smtp_simple},
	{"VRFY", ST_ANY, NULL, sendmail_smtp_simple},
	{"HELP", ST_ANY, NULL, sendmail_smtp_simple},
	{"EXPN", ST_ANY, NULL, sendmail_smtp_simple},
};

/* sendmail_smtp_refuse - a verb in the wrong state */
static void sendmail_smtp_refuse(const struct sendmail_smtp_sess *s, const struct sendmail_smtp_verb *v)
{
	if (v->refusal != NULL && s->state != ST_START)
		sendmail_smtp_reply("%s", v->refusal);
	else if (s->state == ST_START)
		sendmail_smtp_reply("503 5.5.1 Error: send HELO/EHLO first");
	else if (str_eq_nocase(v->name, "MAIL"))
		sendmail_smtp_reply("503 5.5.1 Error: nested MAIL command");
	else if (str_eq_nocase(v->name, "DATA") && s->state == ST_MAIL)
		sendmail_smtp_reply("554 5.5.1 Error: no valid recipients");
	else
		sendmail_smtp_reply("503 5.5.1 Error: need RCPT command");
}

/* sendmail_smtp_command - one command line */
static void sendmail_smtp_command(struct sendmail_smtp_sess *s)
{
	char *line = s->line.data ? s->line.data : (char *) "";
	char *arg = line + strcspn(line, " ");

	if (*arg == ' ')
		*arg++ = '\0';
	for (size_t i = 0; i < sizeof(sendmail_smtp_verbs) / sizeof(sendmail_smtp_verbs[0]); i++) {
		const struct sendmail_smtp_verb *v = &sendmail_smtp_verbs[i];

		if (!str_eq_nocase(line, v->name))
			continue;
		if ((v->states & s->state) == 0) {
			sendmail_smtp_refuse(s, v);
			s->errors++;
			return;
		}
		v->action(s, v->name, arg);
		return;
	}
	sendmail_smtp_reply("500 5.5.2 Error: command not recognized");
	s->errors++;
}

/* sendmail_smtp - the -bs session */
int sendmail_smtp(struct sendmail *sm)
{
	static struct sendmail_smtp_sess s;	/* the input buffer is large */
	bool too_long;

	s.sm = sm;
	s.state = ST_START;
	buf_init(&s.line, 0);
	sendmail_env_init(&s.env);
	sendmail_smtp_reply("220 %s ESMTP tern (sendmail -bs)", sm->cfg.global.myhostname);
	while (!s.quit && sendmail_smtp_getline(&s, SENDMAIL_SMTP_LINE_MAX, &too_long) == 1) {
		if (too_long) {
			sendmail_smtp_reply("500 5.5.2 Error: line too long");
			s.errors++;
		} else if (memchr(s.line.data ? s.line.data : "", '\0', s.line.len) != NULL) {
			sendmail_smtp_reply("500 5.5.2 Error: NUL in command");
			s.errors++;
		} else {
			sendmail_smtp_command(&s);
		}
		if (s.errors >= SENDMAIL_SMTP_ERRORS) {
			sendmail_smtp_reply("421 4.7.0 %s Error: too many errors", sm->cfg.global.myhostname);
			break;
		}
	}
	fflush(stdout);
	sendmail_env_free(&s.env);
	buf_free(&s.line);
	return EX_OK;
}
