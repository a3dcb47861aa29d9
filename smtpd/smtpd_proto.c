/*
 * smtpd_proto - the SMTP verbs: a table of {verb, allowed states, flags,
 * handler}, the dispatcher that applies it, and the handlers.
 *
 * While an AUTH exchange waits for the client (after a 334), a line is
 * its answer and goes to smtpd_sasl.c, not to the table.
 *
 * The dispatcher does, in order: the verb lookup (500 5.5.2 when
 * unknown), the pipelining rule of smtpd_forbid_unauth_pipelining
 * (Postfix 3.9: input pending after EHLO, HELO or DATA, or any pipelining
 * before EHLO offered PIPELINING, gets 554 5.5.0 and a close), "send
 * HELO/EHLO first", the state check (503 5.5.1), the TLS requirement
 * (530 5.7.0), then the handler. Every refusal leaves the state as it
 * was. ESMTP parameters and paths are parsed by mail/smtp_param.h, which
 * also gives the reply for each error.
 *
 * Replies carry enhanced status codes (RFC 2034/3463) always, except the
 * greeting, the EHLO/HELO reply and 354. The disconnect line counts each
 * verb the Postfix way ("rcpt=1/2" when one of two was refused): a
 * command counts as good when its final reply (not 354) is 2xx or 3xx.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "base/msg.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/xtext.h"
#include "smtpd.h"

/* verb flags */
#define V_NEED_HELO	(1u << 0)	/* before EHLO/HELO: 503 send HELO/EHLO first */
#define V_NEED_TLS	(1u << 1)	/* smtpd_tls_security_level = encrypt: 530 without TLS */
#define V_LAST		(1u << 2)	/* must end a pipelined group (RFC 2920 3.1) */
#define V_NO_PIPE_CHECK	(1u << 3)	/* pending input is not pipelining (STARTTLS, BDAT, QUIT) */

struct smtpd_verb {
	const char *name;
	const char *log;		/* lower case, for the disconnect line */
	unsigned states;		/* where it is allowed */
	unsigned flags;
	const char *seq_text;		/* 503 text when the state forbids it */
	void (*action)(struct smtpd_session *s, const char *arg, size_t len);
};

static void smtpd_cmd_ehlo(struct smtpd_session *s, const char *arg, size_t len);
static void smtpd_cmd_helo(struct smtpd_session *s, const char *arg, size_t len);
static void smtpd_cmd_mail(struct smtpd_session *s, const char *arg, size_t len);
static void smtpd_cmd_rcpt(struct smtpd_session *s, const char *arg, size_t len);
static void smtpd_cmd_data(struct smtpd_session *s, const char *arg, size_t len);
static void smtpd_cmd_bdat(struct smtpd_session *s, const char *arg, size_t len);
static void smtpd_cmd_rset(struct smtpd_session *s, const char *arg, size_t len);
static void smtpd_cmd_noop(struct smtpd_session *s, const char *arg, size_t len);
static void smtpd_cmd_quit(struct smtpd_session *s, const char *arg, size_t len);
static void smtpd_cmd_vrfy(struct smtpd_session *s, const char *arg, size_t len);
static void smtpd_cmd_help(struct smtpd_session *s, const char *arg, size_t len);
static void smtpd_cmd_starttls(struct smtpd_session *s, const char *arg, size_t len);
static void smtpd_cmd_auth(struct smtpd_session *s, const char *arg, size_t len);
static void smtpd_cmd_notimpl(struct smtpd_session *s, const char *arg, size_t len);

#define ST_TXN	(SMTPD_ST_MAIL | SMTPD_ST_RCPT | SMTPD_ST_BDAT)

static const struct smtpd_verb smtpd_verbs[] = {
	{"EHLO", "ehlo", SMTPD_ST_ANY, V_LAST, NULL, smtpd_cmd_ehlo},
	{"HELO", "helo", SMTPD_ST_ANY, V_LAST, NULL, smtpd_cmd_helo},
	{"STARTTLS", "starttls", SMTPD_ST_START | SMTPD_ST_HELO, V_NO_PIPE_CHECK,
	 "MAIL transaction in progress", smtpd_cmd_starttls},
	{"AUTH", "auth", SMTPD_ST_ANY, 0, NULL, smtpd_cmd_auth},
	{"MAIL", "mail", SMTPD_ST_HELO, V_NEED_HELO | V_NEED_TLS, "nested MAIL command", smtpd_cmd_mail},
	{"RCPT", "rcpt", SMTPD_ST_MAIL | SMTPD_ST_RCPT, V_NEED_HELO | V_NEED_TLS, "need MAIL command",
	 smtpd_cmd_rcpt},
	{"DATA", "data", SMTPD_ST_ANY, V_NEED_HELO | V_NEED_TLS | V_LAST, NULL, smtpd_cmd_data},
	/* BDAT does its own checks: it must read its chunk whatever it answers */
	{"BDAT", "bdat", SMTPD_ST_ANY, V_NO_PIPE_CHECK, NULL, smtpd_cmd_bdat},
	{"RSET", "rset", SMTPD_ST_ANY, 0, NULL, smtpd_cmd_rset},
	{"NOOP", "noop", SMTPD_ST_ANY, 0, NULL, smtpd_cmd_noop},
	{"QUIT", "quit", SMTPD_ST_ANY, V_NO_PIPE_CHECK, NULL, smtpd_cmd_quit},
	{"VRFY", "vrfy", SMTPD_ST_ANY, V_NEED_TLS, NULL, smtpd_cmd_vrfy},
	{"HELP", "help", SMTPD_ST_ANY, 0, NULL, smtpd_cmd_help},
	{"EXPN", "expn", SMTPD_ST_ANY, 0, NULL, smtpd_cmd_notimpl},
	{"ETRN", "etrn", SMTPD_ST_ANY, 0, NULL, smtpd_cmd_notimpl},
	{"TURN", "turn", SMTPD_ST_ANY, 0, NULL, smtpd_cmd_notimpl},
};

#define SMTPD_NVERBS	(sizeof(smtpd_verbs) / sizeof(smtpd_verbs[0]))
#define SMTPD_UNKNOWN	SMTPD_VERBS_MAX	/* counter slot of unknown commands */

_Static_assert(SMTPD_NVERBS <= SMTPD_VERBS_MAX, "raise SMTPD_VERBS_MAX");

/* smtpd_printable - a copy of untrusted text safe for replies and logs */
static void smtpd_printable(char *dst, size_t size, const char *src, size_t len)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char) src[i];

		dst[o++] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
	}
	dst[o] = '\0';
}

/* smtpd_proto_name - the "with" protocol of Received: (RFC 3848, RFC 6531) */
const char *smtpd_proto_name(const struct smtpd_session *s)
{
	static const char *const names[2][2][2] = {
		/* [utf8][tls][authenticated], RFC 3848 and RFC 6531 */
		{{"ESMTP", "ESMTPA"}, {"ESMTPS", "ESMTPSA"}},
		{{"UTF8SMTP", "UTF8SMTPA"}, {"UTF8SMTPS", "UTF8SMTPSA"}},
	};

	if (!s->esmtp)
		return "SMTP";
	return names[s->smtputf8][s->tls][s->sasl_user[0] != '\0'];
}

/* smtpd_proto_settle - the final reply to the command under way: count it */
void smtpd_proto_settle(struct smtpd_session *s, int code)
{
	if (s->verb < 0 || code == 354)
		return;
	if (code < 400)
		s->cmd_ok[s->verb]++;
	s->verb = -1;
}

/* smtpd_proto_disconnect_log - "disconnect from host[addr] ehlo=1 ... commands=N" */
void smtpd_proto_disconnect_log(struct smtpd_session *s)
{
	char line[512];
	size_t o = 0;
	unsigned ok = 0, total = 0;

	for (size_t i = 0; i <= SMTPD_VERBS_MAX; i++) {
		const char *name = i == SMTPD_UNKNOWN ? "unknown" : i < SMTPD_NVERBS ? smtpd_verbs[i].log : NULL;
		int n;

		if (name == NULL || s->cmd_total[i] == 0)
			continue;
		ok += s->cmd_ok[i];
		total += s->cmd_total[i];
		if (s->cmd_ok[i] == s->cmd_total[i])
			n = snprintf(line + o, sizeof(line) - o, " %s=%u", name, s->cmd_total[i]);
		else
			n = snprintf(line + o, sizeof(line) - o, " %s=%u/%u", name, s->cmd_ok[i], s->cmd_total[i]);
		if (n < 0 || (size_t) n >= sizeof(line) - o)
			break;
		o += (size_t) n;
	}
	line[o] = '\0';
	if (ok == total)
		msg_info("disconnect from %s%s commands=%u", s->peer, line, total);
	else
		msg_info("disconnect from %s%s commands=%u/%u", s->peer, line, ok, total);
}

/* smtpd_log_reject - the Postfix reject line */
void smtpd_log_reject(struct smtpd_session *s, const char *qid, const char *verb, int code,
		      const char *enh, const char *text, const char *rcpt)
{
	msg_info("%s: reject: %s from %s: %d %s %s; from=<%s> to=<%s> proto=%s helo=<%s>",
		 qid ? qid : "NOQUEUE", verb, s->peer, code, enh, text, s->sender,
		 rcpt ? rcpt : s->last_rcpt, smtpd_proto_name(s), s->helo);
}

/* smtpd_proto_greet - the 220 greeting, or the refusal the client checks left, and close */
void smtpd_proto_greet(struct smtpd_session *s)
{
	const struct smtpd_reply *r = &s->connect_reject;

	if (r->code != 0) {
		smtpd_reply_noerr(s, r->code, r->enh, "%s", r->text);
		smtpd_session_finish(s);
		return;
	}
	smtpd_reply_noerr(s, 220, NULL, "%s", s->srv->p->smtpd_banner);
}

/* smtpd_proto_reset - forget the transaction (not the EHLO) */
void smtpd_proto_reset(struct smtpd_session *s)
{
	if (s->cleanup != NULL || s->data.out.len > 0)
		smtpd_data_reset(s);
	attr_list_reset(&s->begin);
	s->sender[0] = '\0';
	s->last_rcpt[0] = '\0';
	s->nrcpt = s->rcpt_tried = s->rcpt_overshoot = 0;
	s->smtputf8 = false;
	s->mail_flags = 0;
	s->bdat_fail.code = 0;
	if (s->state & ST_TXN)
		s->state = SMTPD_ST_HELO;
}

/* smtpd_proto_tls_done - the handshake is done: log, forget, greet on 465 */
void smtpd_proto_tls_done(struct smtpd_session *s)
{
	msg_info("Anonymous TLS connection established from %s: %s with cipher %s (%d/%d bits)",
		 s->peer, s->tls_proto, s->tls_cipher, s->tls_bits, s->tls_bits);
	smtpd_proto_reset(s);
	s->sasl_user[0] = '\0';	/* RFC 3207 4.2: nothing learned before TLS counts */
	s->sasl_method = NULL;
	s->state = SMTPD_ST_START;
	s->esmtp = false;
	s->helo[0] = '\0';
	if (s->srv->p->smtpd_tls_wrappermode)
		smtpd_proto_greet(s);
}

/* smtpd_ext - the ESMTP extensions in force (what EHLO offered) */
static unsigned smtpd_ext(const struct smtpd_session *s)
{
	unsigned ext = SMTP_PARAM_EXT_SIZE | SMTP_PARAM_EXT_8BITMIME | SMTP_PARAM_EXT_SMTPUTF8 | SMTP_PARAM_EXT_DSN;

	if (!s->esmtp)
		return 0;
	if (s->tls)
		ext |= SMTP_PARAM_EXT_REQUIRETLS;	/* RFC 8689 2: only inside TLS */
	if (s->sasl_user[0] || smtpd_sasl_offered(s))
		ext |= SMTP_PARAM_EXT_AUTH;
	return ext;
}

/* smtpd_tls_offered - may STARTTLS be offered now */
static bool smtpd_tls_offered(const struct smtpd_session *s)
{
	return s->srv->ssl_ctx != NULL && s->srv->tls_level != SMTPD_TLS_NONE && !s->tls;
}

/* smtpd_helo_arg - one word of printable octets, at most 255: 0, or -1 after 501 */
static int smtpd_helo_arg(struct smtpd_session *s, const char *verb, const char *arg, size_t len)
{
	bool ok = len > 0 && len < sizeof(s->helo);

	for (size_t i = 0; ok && i < len; i++)
		if ((unsigned char) arg[i] <= 0x20 || (unsigned char) arg[i] == 0x7f)
			ok = false;
	if (!ok) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: %s hostname", verb);
		return -1;
	}
	smtpd_proto_reset(s);
	memcpy(s->helo, arg, len);
	s->helo[len] = '\0';
	s->state = SMTPD_ST_HELO;
	return 0;
}

/* smtpd_cmd_ehlo - EHLO: the keyword list */
static void smtpd_cmd_ehlo(struct smtpd_session *s, const char *arg, size_t len)
{
	const struct smtpd_server *srv = s->srv;
	char text[1024];
	char auth[128] = "";
	int n;

	if (smtpd_helo_arg(s, "EHLO", arg, len) < 0)
		return;
	s->esmtp = true;
	if (smtpd_sasl_offered(s))
		str_fmt(auth, sizeof(auth), "250-AUTH %s\r\n", smtpd_sasl_mechanisms());
	n = snprintf(text, sizeof(text),
		     "250-%s\r\n250-PIPELINING\r\n250-SIZE %lld\r\n%s%s"
		     "250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n250-DSN\r\n250-SMTPUTF8\r\n%s250 CHUNKING\r\n",
		     srv->g->myhostname, srv->g->message_size_limit,
		     smtpd_tls_offered(s) ? "250-STARTTLS\r\n" : "", auth,
		     s->tls ? "250-REQUIRETLS\r\n" : "");
	if (n < 0 || (size_t) n >= sizeof(text))
		msg_panic("smtpd_cmd_ehlo: reply too long");
	smtpd_write(s, text, (size_t) n);
	smtpd_proto_settle(s, 250);
}

/* smtpd_cmd_helo - HELO: no extensions */
static void smtpd_cmd_helo(struct smtpd_session *s, const char *arg, size_t len)
{
	if (smtpd_helo_arg(s, "HELO", arg, len) < 0)
		return;
	s->esmtp = false;
	smtpd_reply(s, 250, NULL, "%s", s->srv->g->myhostname);
}

/* smtpd_param_reply - send the reply smtp_addr/smtp_param gave, naming the parameter */
static void smtpd_param_reply(struct smtpd_session *s, const struct smtp_addr_reply *err)
{
	char item[128];

	if (err->item != NULL && err->item_len > 0) {
		smtpd_printable(item, sizeof(item), err->item, err->item_len);
		smtpd_reply(s, err->code, err->enh, "%s: %s", err->text, item);
	} else {
		smtpd_reply(s, err->code, err->enh, "%s", err->text);
	}
}

/* smtpd_begin_client - the client attributes of the BEGIN frame */
static void smtpd_begin_client(struct smtpd_session *s)
{
	struct attr_list *b = &s->begin;

	attr_add_str(b, CLEANUP_CLIENT_NAME, s->name);
	attr_add_str(b, CLEANUP_CLIENT_ADDR, s->addr);
	attr_add_int(b, CLEANUP_CLIENT_PORT, s->port);
	attr_add_str(b, CLEANUP_HELO, s->helo);
	attr_add_str(b, CLEANUP_PROTOCOL, smtpd_proto_name(s));
	if (s->country[0])
		attr_add_str(b, CLEANUP_CLIENT_COUNTRY, s->country);
	if (s->tls) {
		attr_add_str(b, CLEANUP_TLS_PROTO, s->tls_proto);
		attr_add_str(b, CLEANUP_TLS_CIPHER, s->tls_cipher);
		attr_add_int(b, CLEANUP_TLS_BITS, s->tls_bits);
	}
	if (s->sasl_user[0]) {
		attr_add_str(b, CLEANUP_AUTH_USER, s->sasl_user);
		attr_add_str(b, CLEANUP_AUTH_METHOD, s->sasl_method);
	}
	attr_add_str(b, CLEANUP_SESSION, s->id);
	attr_add_str(b, CLEANUP_SERVICE, s->srv->service);
}

/* smtpd_mail_login - smtpd_sender_login_maps for an authenticated MAIL: 0, or -1 after the reply */
static int smtpd_mail_login(struct smtpd_session *s, const char *sender)
{
	int rc = smtpd_sasl_sender_ok(s, sender);
	struct smtpd_reply r;

	if (rc > 0)
		return 0;
	if (rc < 0)
		smtpd_reply_set(&r, 451, "4.3.0", "<%s>: Sender address rejected: temporary lookup failure", sender);
	else
		smtpd_reply_set(&r, 553, "5.7.1", "<%s>: Sender address rejected: not owned by user %s", sender,
				s->sasl_user);
	str_copy(s->sender, sender, sizeof(s->sender));
	smtpd_log_reject(s, NULL, "MAIL", r.code, r.enh, r.text, "");
	s->sender[0] = '\0';
	smtpd_reply_kept(s, &r);
	return -1;
}

/* smtpd_cmd_mail - MAIL FROM: start a transaction */
static void smtpd_cmd_mail(struct smtpd_session *s, const char *arg, size_t len)
{
	long long limit = s->srv->g->message_size_limit;
	struct smtp_addr addr;
	struct smtp_param_mail mp;
	struct smtp_addr_reply err;
	char sender[SMTP_ADDR_TEXT_MAX + 1];
	unsigned flags = 0;

	if (smtp_param_mail_cmd(arg, len, smtpd_ext(s), 0, &addr, &mp, &err) < 0) {
		smtpd_param_reply(s, &err);
		return;
	}
	if (smtp_addr_external(&addr, sender, sizeof(sender)) < 0) {
		smtpd_reply(s, 501, "5.1.7", "Bad sender address syntax");
		return;
	}
	if (smtpd_access_mail(s) < 0 || smtpd_mail_login(s, sender) < 0)
		return;
	if (limit > 0 && mp.size_given && mp.size > (uint64_t) limit) {
		str_copy(s->sender, sender, sizeof(s->sender));
		smtpd_log_reject(s, NULL, "MAIL", 552, "5.3.4", "Message size exceeds fixed limit", "");
		s->sender[0] = '\0';
		smtpd_reply(s, 552, "5.3.4", "Message size exceeds fixed limit");
		return;
	}
	if (!smtpd_space_ok(s->srv, mp.size_given ? mp.size : 0)) {
		str_copy(s->sender, sender, sizeof(s->sender));
		smtpd_log_reject(s, NULL, "MAIL", 452, "4.3.1", "Insufficient system storage", "");
		s->sender[0] = '\0';
		smtpd_reply(s, 452, "4.3.1", "Insufficient system storage");
		return;
	}
	smtpd_proto_reset(s);
	str_copy(s->sender, sender, sizeof(s->sender));
	s->smtputf8 = mp.smtputf8;
	if (mp.body == SMTP_PARAM_BODY_8BITMIME)
		flags |= CLEANUP_FLAG_8BITMIME;
	if (mp.smtputf8)
		flags |= CLEANUP_FLAG_SMTPUTF8;
	if (mp.requiretls)
		flags |= CLEANUP_FLAG_REQUIRETLS;
	attr_add_str(&s->begin, CLEANUP_OP, CLEANUP_OP_BEGIN);
	attr_add_str(&s->begin, CLEANUP_SENDER, sender);
	s->mail_flags = flags;
	attr_add_int(&s->begin, CLEANUP_SIZE, mp.size_given ? (int64_t) (mp.size > INT64_MAX ? INT64_MAX : mp.size) : 0);
	if (mp.ret != SMTP_PARAM_RET_NONE)
		attr_add_str(&s->begin, CLEANUP_RET, mp.ret == SMTP_PARAM_RET_FULL ? "FULL" : "HDRS");
	if (mp.envid_given)
		attr_add_str(&s->begin, CLEANUP_ENVID, mp.envid);
	smtpd_begin_client(s);
	s->state = SMTPD_ST_MAIL;
	smtpd_reply(s, 250, "2.1.0", "Ok");
}

/* smtpd_orcpt - ORCPT as given, or the one RFC 3461 4.2 lets us add */
static void smtpd_orcpt(const struct smtp_addr *addr, const char *text,
			const struct smtp_param_rcpt *rp, char *out, size_t size)
{
	char enc[SMTP_PARAM_ORCPT_MAX + 1];
	ssize_t n;

	out[0] = '\0';
	if (rp->orcpt_type != SMTP_PARAM_ORCPT_NONE) {
		str_copy(out, rp->orcpt_raw, size);
		return;
	}
	if (addr->utf8)
		n = xtext_utf8_encode(text, strlen(text), false, enc, sizeof(enc));
	else
		n = xtext_encode(text, strlen(text), enc, sizeof(enc));
	if (n >= 0)
		str_fmt(out, size, "%s;%s", addr->utf8 ? "utf-8" : "rfc822", enc);
}

#define SMTPD_REQUIRETLS_TAG	"+requiretls"

/*
 * smtpd_rcpt_requiretls_tag - MDaemon's "user+requiretls@domain": from
 * an authenticated client the tag asks for REQUIRETLS and is removed
 * from the address (spec-checklists 6.12); true when it was there
 */
static bool smtpd_rcpt_requiretls_tag(const struct smtpd_session *s, struct smtp_addr *a)
{
	size_t tlen = sizeof(SMTPD_REQUIRETLS_TAG) - 1;
	char *tag;

	if (s->sasl_user[0] == '\0' || a->quoted || a->unqualified || a->local_len <= tlen)
		return false;
	tag = a->local + a->local_len - tlen;
	if (strcasecmp(tag, SMTPD_REQUIRETLS_TAG) != 0)
		return false;
	*tag = '\0';
	a->local_len -= tlen;
	a->postmaster = strcasecmp(a->local, "postmaster") == 0;
	return true;
}

/* smtpd_cmd_rcpt - RCPT TO: check and add a recipient */
static void smtpd_cmd_rcpt(struct smtpd_session *s, const char *arg, size_t len)
{
	struct smtp_addr addr;
	struct smtp_param_rcpt rp;
	struct smtp_addr_reply err;
	struct smtpd_reply r;
	char rcpt[SMTP_ADDR_TEXT_MAX + 1];
	char orcpt[SMTP_PARAM_ORCPT_MAX + 16];
	bool tagged;

	if (s->nrcpt >= (unsigned) s->srv->p->smtpd_max_recipients) {
		s->rcpt_overshoot++;
		smtpd_reply_noerr(s, 452, "4.5.3", "Error: too many recipients");
		return;
	}
	if (smtp_param_rcpt_cmd(arg, len, smtpd_ext(s), 0, s->smtputf8, &addr, &rp, &err) < 0) {
		smtpd_param_reply(s, &err);
		return;
	}
	tagged = smtpd_rcpt_requiretls_tag(s, &addr);
	if (addr.unqualified && addr.postmaster)
		str_fmt(rcpt, sizeof(rcpt), "postmaster@%s", s->srv->g->myhostname);
	else if (smtp_addr_external(&addr, rcpt, sizeof(rcpt)) < 0) {
		smtpd_reply(s, 501, "5.1.3", "Bad recipient address syntax");
		return;
	}
	s->rcpt_tried++;
	str_copy(s->last_rcpt, rcpt, sizeof(s->last_rcpt));
	if (smtpd_policy_rcpt(s, &addr, rcpt, &r) != 0) {
		smtpd_log_reject(s, NULL, "RCPT", r.code, r.enh, r.text, rcpt);
		smtpd_reply_kept(s, &r);
		smtpd_screen_rcpt_refused(s, &r, rcpt);	/* harvesting, hijack */
		return;
	}
	smtpd_orcpt(&addr, rcpt, &rp, orcpt, sizeof(orcpt));
	attr_add_str(&s->begin, CLEANUP_RCPT, rcpt);
	attr_add_str(&s->begin, CLEANUP_RCPT_ORCPT, orcpt);
	attr_add_int(&s->begin, CLEANUP_RCPT_NOTIFY, rp.notify);
	if (attr_list_error(&s->begin) != NULL) {
		msg_warn("%s: recipient list: %s", s->peer, attr_list_error(&s->begin));
		smtpd_proto_reset(s);
		smtpd_reply(s, 451, "4.3.0", "Error: too many recipients for one message; try again");
		return;
	}
	s->nrcpt++;
	if (tagged)
		s->mail_flags |= CLEANUP_FLAG_REQUIRETLS;
	s->state = SMTPD_ST_RCPT;
	smtpd_reply(s, 250, "2.1.5", "Ok");
}

/* smtpd_cmd_data - DATA: content follows after 354 */
static void smtpd_cmd_data(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	switch (s->state) {
	case SMTPD_ST_RCPT:
		break;
	case SMTPD_ST_MAIL:
		if (s->rcpt_tried > 0)
			smtpd_reply(s, 554, "5.5.1", "Error: no valid recipients");
		else
			smtpd_reply(s, 503, "5.5.1", "Error: need RCPT command");
		return;
	case SMTPD_ST_BDAT:
		smtpd_reply(s, 503, "5.5.1", "Error: DATA after BDAT");
		return;
	default:
		smtpd_reply(s, 503, "5.5.1", "Error: need MAIL command");
		return;
	}
	if (len > 0) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: DATA");
		return;
	}
	if (smtpd_screen_rate(s))
		return;			/* smtpd_proto_rated goes on */
	smtpd_data_begin(s);
}

/* smtpd_cmd_bdat - BDAT: see smtpd_data.c; the first chunk of an authenticated message waits for RATE */
static void smtpd_cmd_bdat(struct smtpd_session *s, const char *arg, size_t len)
{
	if (s->state == SMTPD_ST_RCPT && s->bdat_fail.code == 0 && s->cleanup == NULL &&
	    len < sizeof(s->held_bdat) && smtpd_screen_rate(s)) {
		memcpy(s->held_bdat, arg, len);
		s->held_bdat_len = len;
		s->held = true;		/* the chunk stays unread until smtpd_proto_rated */
		return;
	}
	smtpd_bdat_command(s, arg, len);
}

/* smtpd_proto_rated - the RATE answer: the held DATA or BDAT goes on, or 450 4.7.1 */
void smtpd_proto_rated(struct smtpd_session *s, bool over, const char *text)
{
	struct smtpd_reply r;

	if (over) {
		smtpd_reply_set(&r, 450, "4.7.1", "Error: message rate limit of %s exceeded%s%s; try again later",
				s->sasl_user, text[0] ? ": " : "", text);
		smtpd_log_reject(s, NULL, s->held ? "BDAT" : "DATA", r.code, r.enh, r.text, NULL);
	}
	if (s->held) {
		s->held = false;
		if (over)
			s->bdat_fail = r;	/* the chunk is read and refused */
		smtpd_bdat_command(s, s->held_bdat, s->held_bdat_len);
		return;
	}
	if (over) {
		smtpd_reply_kept(s, &r);
		smtpd_proto_reset(s);
		return;
	}
	smtpd_data_begin(s);
}

/* smtpd_cmd_rset - RSET */
static void smtpd_cmd_rset(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	if (len > 0) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: RSET");
		return;
	}
	smtpd_proto_reset(s);
	smtpd_reply(s, 250, "2.0.0", "Ok");
}

/* smtpd_cmd_noop - NOOP, with or without an argument */
static void smtpd_cmd_noop(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	(void) len;
	smtpd_reply(s, 250, "2.0.0", "Ok");
}

/* smtpd_cmd_quit - QUIT */
static void smtpd_cmd_quit(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	(void) len;
	smtpd_reply(s, 221, "2.0.0", "Bye");
	smtpd_session_finish(s);
}

/* smtpd_cmd_vrfy - VRFY: 252 unless enabled, never 250 unverified */
static void smtpd_cmd_vrfy(struct smtpd_session *s, const char *arg, size_t len)
{
	struct smtpd_reply r;

	if (len == 0) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: VRFY address");
		return;
	}
	if (s->srv->p->disable_vrfy_command) {
		smtpd_reply(s, 252, "2.0.0", "Cannot VRFY user, but will accept message and attempt delivery");
		return;
	}
	smtpd_policy_vrfy(s, arg, len, &r);
	smtpd_reply_kept(s, &r);
}

/* smtpd_cmd_help - HELP */
static void smtpd_cmd_help(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	(void) len;
	smtpd_reply(s, 214, "2.0.0", "Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP%s%s",
		    smtpd_tls_offered(s) ? " STARTTLS" : "", smtpd_sasl_offered(s) ? " AUTH" : "");
}

/* smtpd_cmd_starttls - STARTTLS: 220, then the handshake (smtpd_session.c) */
static void smtpd_cmd_starttls(struct smtpd_session *s, const char *arg, size_t len)
{
	SSL *ssl;

	(void) arg;
	if (len > 0) {
		smtpd_reply(s, 501, "5.5.4", "Syntax: STARTTLS");
		return;
	}
	if (s->tls) {
		smtpd_reply(s, 554, "5.5.1", "Error: TLS already active");
		return;
	}
	if (!smtpd_tls_offered(s)) {
		if (s->srv->tls_level == SMTPD_TLS_ENCRYPT)
			smtpd_reply(s, 454, "4.7.0", "TLS not available due to local problem");
		else
			smtpd_reply(s, 502, "5.5.1", "Error: command not implemented");
		return;
	}
	if ((ssl = smtpd_tls_new(s->srv)) == NULL) {
		smtpd_reply(s, 454, "4.7.0", "TLS not available due to local problem");
		return;
	}
	smtpd_reply(s, 220, "2.0.0", "Ready to start TLS");
	smtpd_session_starttls(s, ssl);
}

/* smtpd_cmd_auth - AUTH: see smtpd_sasl.c */
static void smtpd_cmd_auth(struct smtpd_session *s, const char *arg, size_t len)
{
	smtpd_sasl_auth(s, arg, len);
}

/* smtpd_cmd_notimpl - EXPN, ETRN, TURN */
static void smtpd_cmd_notimpl(struct smtpd_session *s, const char *arg, size_t len)
{
	(void) arg;
	(void) len;
	smtpd_reply(s, 502, "5.5.1", "Error: command not implemented");
}

/* smtpd_verb_find - the table entry of a verb, or NULL */
static const struct smtpd_verb *smtpd_verb_find(const char *name, size_t len)
{
	for (size_t i = 0; i < SMTPD_NVERBS; i++)
		if (strlen(smtpd_verbs[i].name) == len && strncasecmp(smtpd_verbs[i].name, name, len) == 0)
			return &smtpd_verbs[i];
	return NULL;
}

/* smtpd_proto_command - one command line: the table decides */
void smtpd_proto_command(struct smtpd_session *s, char *line, size_t len, bool more)
{
	const struct smtpd_server *srv = s->srv;
	const struct smtpd_verb *v;
	size_t vlen = 0, a;

	if (smtpd_sasl_active(s)) {
		smtpd_sasl_line(s, line, len);	/* an answer to 334, not a command */
		return;
	}
	while (vlen < len && line[vlen] != ' ')
		vlen++;
	for (a = vlen; a < len && line[a] == ' '; a++)
		;
	while (len > a && line[len - 1] == ' ')
		len--;
	v = smtpd_verb_find(line, vlen);
	if (v == NULL) {
		s->cmd_total[SMTPD_UNKNOWN]++;
		s->verb = SMTPD_UNKNOWN;
		s->last_verb = "UNKNOWN";
		if (vlen == 0)
			smtpd_reply(s, 500, "5.5.2", "Error: bad syntax");
		else
			smtpd_reply(s, 500, "5.5.2", "Error: command not recognized");
		return;
	}
	s->verb = (int) (v - smtpd_verbs);
	s->cmd_total[s->verb]++;
	s->last_verb = v->name;
	if (more && srv->p->smtpd_forbid_unauth_pipelining && !(v->flags & V_NO_PIPE_CHECK) &&
	    ((v->flags & V_LAST) || !s->esmtp)) {
		msg_info("improper command pipelining after %s from %s", v->name, s->peer);
		smtpd_reply_noerr(s, 554, "5.5.0", "Error: SMTP protocol synchronization");
		smtpd_session_finish(s);
		return;
	}
	if ((v->flags & V_NEED_HELO) && s->state == SMTPD_ST_START) {
		smtpd_reply(s, 503, "5.5.1", "Error: send HELO/EHLO first");
		return;
	}
	if (!(v->states & s->state)) {
		smtpd_reply(s, 503, "5.5.1", "Error: %s", v->seq_text ? v->seq_text : "bad sequence of commands");
		return;
	}
	if ((v->flags & V_NEED_TLS) && srv->tls_level == SMTPD_TLS_ENCRYPT && !s->tls) {
		smtpd_reply(s, 530, "5.7.0", "Must issue a STARTTLS command first");
		return;
	}
	v->action(s, line + a, len - a);
}
