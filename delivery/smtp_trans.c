/*
 * smtp_trans - one mail transaction of the smtp agent on an open
 * session: MAIL FROM, RCPT TO (sent together when the server offers
 * PIPELINING), DATA and the content, and one result per recipient.
 *
 * Before MAIL (no downgrades, RFC 1870, 6152, 6531, 8689): a message
 * larger than the server's SIZE bounces 5.3.4; 8-bit content to a server
 * without 8BITMIME bounces 5.6.3; a message that needs SMTPUTF8 to a
 * server without it bounces 5.6.7; a REQUIRETLS message to a server that
 * does not list REQUIRETLS is refused for this host (the caller tries
 * the next one). Parameters are sent only for extensions the server
 * listed: SIZE, BODY=8BITMIME, SMTPUTF8, RET/ENVID and NOTIFY/ORCPT
 * (DSN), REQUIRETLS.
 *
 * PIPELINING: MAIL FROM, every RCPT TO and DATA go out in one write
 * (RFC 2920: DATA last), preceded by the RSET of a reused session; when
 * no recipient was accepted the DATA reply is read and dropped (an
 * unexpected 354 gets a lone dot) and the session is RSET.
 *
 * Replies: a 5xx to one RCPT bounces only that recipient, a 4xx defers
 * it (it may be tried at the next host); MAIL and DATA replies apply to
 * every recipient of the transaction; after the final dot SMTP gives one
 * reply, LMTP one per accepted recipient. A lost connection or timeout
 * defers what is not decided ("may be delivered twice" after the dot).
 *
 * Content: the queue file holds LF line ends; on the wire every line
 * ends in CRLF, a stray CR becomes a space, lines that start with '.'
 * are dot-stuffed and lines longer than smtp_line_length_limit are
 * folded with CRLF and a space (as Postfix does; logged once).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/qfile.h"
#include "smtp.h"

#define SMTP_CHUNK	65536

/* smtp_result - set recipient i from a reply (or I/O failure when r is NULL) */
static void smtp_result(struct smtp_msg *m, struct smtp_session *s, size_t i, const struct smtp_reply *r,
			const char *stage)
{
	struct deliver_out *o = &m->out[i];
	char dsn[16];

	str_copy(m->relay[i], s->relay, sizeof(m->relay[0]));
	smtp_session_tls_note(s, m->note[i], sizeof(m->note[0]));
	if (r == NULL) {
		deliver_set(o, DELIVER_DEFER, "4.4.2", "%s with %s while %s", s->st.why, s->relay, stage);
		return;
	}
	if (r->dsn[0])
		str_copy(dsn, r->dsn, sizeof(dsn));
	else
		str_fmt(dsn, sizeof(dsn), "%d.0.0", r->code / 100);
	if (r->code / 100 == 2) {
		unsigned notify = m->job->ro->rcpts[m->job->index[i]].notify;

		deliver_set(o, DELIVER_SENT, dsn, "%s%s", r->text,
			    (notify & QFILE_NOTIFY_SUCCESS) && !(s->ext & SMTP_EXT_DSN) ?
			    " (relayed: the server does not support DSN)" : "");
		/* LMTP delivers: its success is ours to report; an SMTP hop with DSN reports it */
		o->dsn_relayed = !s->lmtp && (s->ext & SMTP_EXT_DSN) && notify != 0;
		m->final[i] = true;
	} else if (r->code / 100 == 5) {
		deliver_set(o, DELIVER_BOUNCE, dsn, "host %s said: %s (in reply to %s)", s->relay, r->text, stage);
		m->final[i] = true;
	} else {
		if (dsn[0] != '4')
			str_copy(dsn, "4.0.0", sizeof(dsn));
		deliver_set(o, DELIVER_DEFER, dsn, "host %s said: %s (in reply to %s)", s->relay, r->text, stage);
	}
}

/* smtp_all - apply a result to every listed recipient */
static void smtp_all(struct smtp_msg *m, struct smtp_session *s, const size_t *list, size_t n,
		     const struct smtp_reply *r, const char *stage)
{
	for (size_t k = 0; k < n; k++)
		smtp_result(m, s, list[k], r, stage);
}

/* smtp_refuse - a final result decided before MAIL for every pending recipient */
static void smtp_refuse(struct smtp_msg *m, struct smtp_session *s, const size_t *list, size_t n,
			const char *dsn, const char *text)
{
	for (size_t k = 0; k < n; k++) {
		size_t i = list[k];

		str_copy(m->relay[i], s->relay, sizeof(m->relay[0]));
		smtp_session_tls_note(s, m->note[i], sizeof(m->note[0]));
		deliver_set(&m->out[i], DELIVER_BOUNCE, dsn, "%s", text);
		m->final[i] = true;
	}
}

/* smtp_mail_cmd - the MAIL FROM line with the parameters the server takes */
static void smtp_mail_cmd(struct smtp_msg *m, struct smtp_session *s)
{
	const struct qfile *qf = m->job->ro;

	smtp_stream_printf(&s->st, "MAIL FROM:<%s>", m->sender);
	if (s->ext & SMTP_EXT_SIZE)
		smtp_stream_printf(&s->st, " SIZE=%llu", (unsigned long long) m->wire_size);
	if ((s->ext & SMTP_EXT_8BITMIME) && (m->eight_bit || qf->body == QFILE_BODY_8BITMIME))
		smtp_stream_printf(&s->st, " BODY=8BITMIME");
	if ((s->ext & SMTP_EXT_SMTPUTF8) && m->smtputf8)
		smtp_stream_printf(&s->st, " SMTPUTF8");
	if (s->ext & SMTP_EXT_DSN) {
		if (qf->dsn_ret != QFILE_RET_NONE)
			smtp_stream_printf(&s->st, " RET=%s", qfile_ret_name(qf->dsn_ret));
		if (qf->envid != NULL)
			smtp_stream_printf(&s->st, " ENVID=%s", qf->envid);
	}
	if (m->requiretls)
		smtp_stream_printf(&s->st, " REQUIRETLS");
	smtp_stream_put(&s->st, "\r\n", 2);
}

/* smtp_rcpt_cmd - one RCPT TO line */
static void smtp_rcpt_cmd(struct smtp_msg *m, struct smtp_session *s, size_t i)
{
	const struct qfile_rcpt *qr = &m->job->ro->rcpts[m->job->index[i]];

	smtp_stream_printf(&s->st, "RCPT TO:<%s>", m->job->rcpt[i]);
	if (s->ext & SMTP_EXT_DSN) {
		char notify[64];

		qfile_notify_format(qr->notify, notify, sizeof(notify));
		if (notify[0])
			smtp_stream_printf(&s->st, " NOTIFY=%s", notify);
		if (qr->orcpt_type != NULL && qr->orcpt != NULL)
			smtp_stream_printf(&s->st, " ORCPT=%s;%s", qr->orcpt_type, qr->orcpt);
	}
	smtp_stream_put(&s->st, "\r\n", 2);
}

/* smtp_content - send the message with CRLF, dot-stuffing and folding; 0 or -1 */
static int smtp_content(struct smtp_agent *a, struct smtp_msg *m, struct smtp_session *s)
{
	struct qfile *qf = m->job->ro;
	struct qfile_error qerr;
	char *io = xmalloc(SMTP_CHUNK);
	size_t col = 0, folds = 0, limit = (size_t) a->p->smtp_line_length_limit;
	bool cr = false, last_lf = true;
	ssize_t n;
	int ret = 0;

	smtp_stream_timeout(&s->st, a->p->smtp_data_xfer_timeout);
	if (qfile_content_seek(qf, 0, &qerr) != 0) {
		str_fmt(s->st.why, sizeof(s->st.why), "queue file read error: %s", qerr.text);
		free(io);
		return -1;
	}
	while ((n = qfile_content_read(qf, io, SMTP_CHUNK, &qerr)) > 0) {
		ssize_t k = 0;

		while (k < n) {
			char c = io[k];
			ssize_t end;

			if (cr && c != '\n') {
				smtp_stream_put(&s->st, " ", 1);
				col++;
			}
			cr = false;
			if (c == '\r') {
				cr = true;
				k++;
				continue;
			}
			if (c == '\n') {
				smtp_stream_put(&s->st, "\r\n", 2);
				col = 0;
				last_lf = true;
				k++;
				continue;
			}
			last_lf = false;
			if (col >= limit) {
				smtp_stream_put(&s->st, "\r\n ", 3);
				col = 1;
				folds++;
			}
			if (col == 0 && c == '.')
				smtp_stream_put(&s->st, ".", 1);
			/* the run of plain bytes up to a CR, LF or the line limit goes out in one append */
			end = k + 1;
			while (end < n && (size_t) (end - k) < limit - col && io[end] != '\r' && io[end] != '\n')
				end++;
			smtp_stream_put(&s->st, io + k, (size_t) (end - k));
			col += (size_t) (end - k);
			k = end;
		}
		if (s->st.out.len >= SMTP_OUT_MAX && smtp_stream_flush(&s->st) != 0) {
			ret = -1;
			break;
		}
	}
	if (n < 0) {
		str_fmt(s->st.why, sizeof(s->st.why), "queue file read error: %s", qerr.text);
		s->broken = true;
		ret = -1;
	}
	if (ret == 0) {
		if (cr)
			smtp_stream_put(&s->st, " ", 1);
		if (!last_lf || cr)
			smtp_stream_put(&s->st, "\r\n", 2);
		smtp_stream_put(&s->st, ".\r\n", 3);
		ret = smtp_stream_flush(&s->st);
	}
	if (folds > 0)
		msg_info("%s: %zu line(s) longer than %zu octets folded for %s", m->job->qid, folds, limit,
			 s->relay);
	free(io);
	return ret;
}

/* smtp_rset - end a transaction that sent nothing; the session state after it */
static enum smtp_trans_status smtp_rset(struct smtp_agent *a, struct smtp_session *s)
{
	return smtp_session_reset(a, s) == 0 ? SMTP_TRANS_DONE : SMTP_TRANS_BROKEN;
}

/*
 * smtp_data_unwanted - the reply to a pipelined DATA when no recipient
 * was accepted (or MAIL was refused): a server that answers 354 anyway
 * gets an empty message ended at once (it has no recipient for it),
 * then RSET; the session state after it
 */
static enum smtp_trans_status smtp_data_unwanted(struct smtp_agent *a, struct smtp_session *s,
						 struct smtp_reply *r)
{
	smtp_stream_timeout(&s->st, a->p->smtp_data_init_timeout);
	if (smtp_reply_read(&s->st, r) != 0)
		return SMTP_TRANS_BROKEN;
	if (r->code == 354) {
		smtp_stream_put(&s->st, ".\r\n", 3);
		smtp_stream_timeout(&s->st, a->p->smtp_data_done_timeout);
		if (smtp_stream_flush(&s->st) != 0 || smtp_reply_read(&s->st, r) != 0)
			return SMTP_TRANS_BROKEN;
	}
	return smtp_rset(a, s);
}

/* smtp_trans - see smtp.h */
enum smtp_trans_status smtp_trans(struct smtp_agent *a, struct smtp_session *s, struct smtp_msg *m)
{
	size_t n = m->job->nrcpts, np = 0, nacc = 0;
	size_t *pend = xcalloc(n, sizeof(size_t)), *acc = xcalloc(n, sizeof(size_t));
	bool pipe = (s->ext & SMTP_EXT_PIPELINING) != 0;
	enum smtp_trans_status ret = SMTP_TRANS_DONE;
	struct smtp_reply r;
	char text[SMTP_TEXT_MAX];

	smtp_reply_init(&r);
	for (size_t i = 0; i < n; i++)
		if (!m->final[i])
			pend[np++] = i;
	if (np == 0)
		goto out;
	if (m->requiretls && !(s->ext & SMTP_EXT_REQUIRETLS)) {
		for (size_t k = 0; k < np; k++) {
			str_copy(m->relay[pend[k]], s->relay, sizeof(m->relay[0]));
			deliver_set(&m->out[pend[k]], DELIVER_DEFER, "5.7.30", "REQUIRETLS support required: "
				    "host %s does not offer REQUIRETLS", s->relay);
		}
		ret = SMTP_TRANS_HOST_REFUSED;
		goto out;
	}
	if ((s->ext & SMTP_EXT_SIZE) && s->size_max > 0 && m->wire_size > s->size_max) {
		str_fmt(text, sizeof(text), "message size %llu exceeds size limit %llu of server %s",
			(unsigned long long) m->wire_size, s->size_max, s->relay);
		smtp_refuse(m, s, pend, np, "5.3.4", text);
		goto out;
	}
	if (m->eight_bit && !(s->ext & SMTP_EXT_8BITMIME)) {
		str_fmt(text, sizeof(text), "message has 8-bit content, server %s does not support 8BITMIME",
			s->relay);
		smtp_refuse(m, s, pend, np, "5.6.3", text);
		goto out;
	}
	if (m->smtputf8 && !(s->ext & SMTP_EXT_SMTPUTF8)) {
		str_fmt(text, sizeof(text), "message needs SMTPUTF8, server %s does not support SMTPUTF8", s->relay);
		smtp_refuse(m, s, pend, np, "5.6.7", text);
		goto out;
	}
	if (s->rset_pending)
		smtp_stream_put(&s->st, "RSET\r\n", 6);
	smtp_mail_cmd(m, s);
	if (pipe) {
		for (size_t k = 0; k < np; k++)
			smtp_rcpt_cmd(m, s, pend[k]);
		smtp_stream_put(&s->st, "DATA\r\n", 6);	/* the last command of the group (RFC 2920) */
	}
	smtp_stream_timeout(&s->st, a->p->smtp_mail_timeout);
	if (s->rset_pending) {
		/* a reused session: no reply or a refused RSET decides nothing, the caller opens a new one */
		s->rset_pending = false;
		if (smtp_stream_flush(&s->st) != 0 || smtp_reply_read(&s->st, &r) != 0 || r.code / 100 != 2) {
			ret = SMTP_TRANS_STALE;
			goto out;
		}
	}
	if (smtp_stream_flush(&s->st) != 0 || smtp_reply_read(&s->st, &r) != 0) {
		smtp_all(m, s, pend, np, NULL, "sending MAIL FROM");
		ret = SMTP_TRANS_BROKEN;
		goto out;
	}
	if (r.code / 100 != 2) {
		smtp_all(m, s, pend, np, &r, "MAIL FROM command");
		if (pipe) {
			smtp_stream_timeout(&s->st, a->p->smtp_rcpt_timeout);
			for (size_t k = 0; k < np; k++)
				if (smtp_reply_read(&s->st, &r) != 0) {
					ret = SMTP_TRANS_BROKEN;
					goto out;
				}
			ret = smtp_data_unwanted(a, s, &r);
			goto out;
		}
		ret = smtp_rset(a, s);
		goto out;
	}
	for (size_t k = 0; k < np; k++) {
		if (!pipe) {
			smtp_rcpt_cmd(m, s, pend[k]);
			if (smtp_stream_flush(&s->st) != 0) {
				smtp_all(m, s, pend + k, np - k, NULL, "sending RCPT TO");
				ret = SMTP_TRANS_BROKEN;
				goto out;
			}
		}
		smtp_stream_timeout(&s->st, a->p->smtp_rcpt_timeout);
		if (smtp_reply_read(&s->st, &r) != 0) {
			smtp_all(m, s, pend + k, np - k, NULL, "sending RCPT TO");
			ret = SMTP_TRANS_BROKEN;
			goto out;
		}
		if (r.code / 100 == 2)
			acc[nacc++] = pend[k];
		else
			smtp_result(m, s, pend[k], &r, "RCPT TO command");
	}
	if (nacc == 0) {
		ret = pipe ? smtp_data_unwanted(a, s, &r) : smtp_rset(a, s);
		goto out;
	}
	if (!pipe)
		smtp_stream_printf(&s->st, "DATA\r\n");
	smtp_stream_timeout(&s->st, a->p->smtp_data_init_timeout);
	if (smtp_stream_flush(&s->st) != 0 || smtp_reply_read(&s->st, &r) != 0) {
		smtp_all(m, s, acc, nacc, NULL, "sending DATA");
		ret = SMTP_TRANS_BROKEN;
		goto out;
	}
	if (r.code != 354) {
		smtp_all(m, s, acc, nacc, &r, "DATA command");
		ret = smtp_rset(a, s);
		goto out;
	}
	if (smtp_content(a, m, s) != 0) {
		smtp_all(m, s, acc, nacc, NULL, "sending message body");
		ret = SMTP_TRANS_BROKEN;
		goto out;
	}
	smtp_stream_timeout(&s->st, a->p->smtp_data_done_timeout);
	for (size_t k = 0; k < (s->lmtp ? nacc : 1); k++) {
		if (smtp_reply_read(&s->st, &r) != 0) {
			size_t from = s->lmtp ? k : 0;

			smtp_all(m, s, acc + from, nacc - from, NULL,
				 "sending end of data -- message may be sent more than once");
			ret = SMTP_TRANS_BROKEN;
			goto out;
		}
		if (s->lmtp)
			smtp_result(m, s, acc[k], &r, "end of DATA command");
		else
			smtp_all(m, s, acc, nacc, &r, "end of DATA command");
	}
out:
	if (ret == SMTP_TRANS_BROKEN || ret == SMTP_TRANS_STALE)
		s->broken = true;
	smtp_reply_free(&r);
	free(pend);
	free(acc);
	return ret;
}
