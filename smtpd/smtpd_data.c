/*
 * smtpd_data - message content: DATA and BDAT framing, bare CR/LF
 * handling, the size limit, streaming to cleanup and the final reply.
 *
 * DATA content ends only at CRLF "." CRLF (RFC 5321 4.1.1.4; the
 * smuggling rules of spec-checklists 3): a scanner walks the octets with
 * a small state machine, removes the stuffed dot at the start of a line,
 * and produces content whose every line ends in CRLF, which is what
 * cleanup_proto.h promises cleanup. A bare LF or bare CR is handled as
 * the client's smtpd_bare_newline mode says: reject (the whole message
 * is refused with 550 5.5.2 after the real end of data), normalize (it
 * becomes CRLF; the end of data is still only CRLF.CRLF) or accept
 * (legacy: a bare LF ends lines everywhere, the end of data too). BDAT
 * chunks are taken as they are (no dot-unstuffing), with the same bare
 * CR/LF rules across chunk boundaries, and a final CRLF is added when
 * the last chunk does not end in one.
 *
 * Content is produced into a buffer and sent to cleanup in chunk frames
 * of up to IPC_CHUNK_MAX; a long run of plain text goes straight from the
 * input to the cleanup connection. When cleanup falls behind
 * (SMTPD_BACKLOG queued octets) the session stops reading until the
 * connection drains.
 *
 * The BEGIN frame asks cleanup for the queue id at once (the EARLY
 * frame of cleanup_proto.h): "QID: client=name[addr]" is logged when it
 * comes, before the message can reach qmgr (Postfix's order, which log
 * tools such as pflogsumm need); an EARLY error fails the message like a
 * RESULT error.
 *
 * Invariants: the reply to the content is sent only after cleanup's
 * RESULT ("250 ... queued as ID" only for status "ok"), or after the
 * content was refused here; a refused message is ABORTed at cleanup at
 * once and the rest of its content is read and dropped; after a BDAT
 * line exactly its count of octets is read, whatever the reply.
 *
 * Failures: cleanup unreachable or gone: 451 4.3.0; over
 * message_size_limit: 552 5.3.4; a bare CR or LF under reject: 550
 * 5.5.2; a BDAT count that cannot be parsed: 521 5.5.4 and close.
 */
#include <ctype.h>
#include <string.h>

#include "base/msg.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "smtpd.h"

#define SMTPD_BACKLOG	(1024 * 1024)	/* octets queued for cleanup before we stop reading */

/* scanner states */
enum { SC_BOL, SC_TEXT, SC_CR, SC_DOT, SC_DOT_CR };
/* how the current line started */
enum { BOL_CRLF, BOL_LF, BOL_CR };

/* smtpd_data_fail - refuse the message: keep the reply, ABORT at cleanup */
static void smtpd_data_fail(struct smtpd_session *s, int code, const char *enh, const char *text)
{
	struct smtpd_content *d = &s->data;

	if (d->fail.code != 0)
		return;
	smtpd_reply_set(&d->fail, code, enh, "%s", text);
	buf_reset(&d->out);
	if (s->cleanup != NULL) {
		smtpd_cleanup_abort(s->cleanup);
		s->cleanup = NULL;
	}
}

/* smtpd_data_flush - send what is buffered to cleanup */
static void smtpd_data_flush(struct smtpd_session *s)
{
	struct smtpd_content *d = &s->data;

	if (d->out.len == 0 || d->fail.code != 0 || s->cleanup == NULL)
		return;
	if (smtpd_cleanup_chunk(s->cleanup, d->out.data, d->out.len) < 0)
		smtpd_data_fail(s, 451, "4.3.0", "Error: queue file write error");
	buf_reset(&d->out);
}

/* smtpd_emit - produce n content octets (counted against the size limit) */
static void smtpd_emit(struct smtpd_session *s, const char *p, size_t n)
{
	struct smtpd_content *d = &s->data;
	long long limit = s->srv->g->message_size_limit;

	if (d->fail.code != 0 || n == 0)
		return;
	d->size += n;
	d->eol = p[n - 1] == '\n';
	if (limit > 0 && d->size > (uint64_t) limit) {
		smtpd_data_fail(s, 552, "5.3.4", "Error: message file too big");
		return;
	}
	if (n >= IPC_CHUNK_MAX / 2) {
		/* a long run: straight from the input to the connection, in order */
		smtpd_data_flush(s);
		if (s->cleanup != NULL && smtpd_cleanup_chunk(s->cleanup, p, n) < 0)
			smtpd_data_fail(s, 451, "4.3.0", "Error: queue file write error");
		return;
	}
	if (d->out.len + n > IPC_CHUNK_MAX)
		smtpd_data_flush(s);
	if (buf_append(&d->out, p, n) < 0)
		msg_panic("smtpd_emit: content buffer limit");
}

/* smtpd_bare_seen - a bare LF or CR: refuse the message, or make it CRLF */
static void smtpd_bare_seen(struct smtpd_session *s, int c)
{
	struct smtpd_content *d = &s->data;

	if (s->bare == SMTPD_BARE_REJECT) {
		if (d->bare == 0) {
			d->bare = c;
			msg_info("%s: bare <%s> received in message content", s->peer, c == '\n' ? "LF" : "CR");
			smtpd_data_fail(s, 550, "5.5.2", c == '\n' ? "Error: bare <LF> received"
					: "Error: bare <CR> received");
		}
	} else {
		smtpd_emit(s, "\r\n", 2);
	}
	d->scan = d->bdat ? SC_TEXT : SC_BOL;
	d->bol = c == '\n' ? BOL_LF : BOL_CR;
}

/* smtpd_dot_ends - does "." then line end, after a line that started like this, end the data */
static bool smtpd_dot_ends(const struct smtpd_session *s, bool real_crlf)
{
	if (s->data.bol == BOL_CRLF && real_crlf)
		return true;
	/* legacy mode: LF is a line end everywhere; CR never is */
	return s->bare == SMTPD_BARE_ACCEPT && s->data.bol != BOL_CR;
}

/*
 * smtpd_scan - run the scanner over p[n]: the octets used; *end is set
 * when the end of DATA was found (the octets after it are not used)
 */
static size_t smtpd_scan(struct smtpd_session *s, const char *p, size_t n, bool *end)
{
	struct smtpd_content *d = &s->data;
	size_t i = 0, start;

	while (i < n) {
		switch (d->scan) {
		case SC_TEXT:
			start = i;
			while (i < n && p[i] != '\r' && p[i] != '\n')
				i++;
			smtpd_emit(s, p + start, i - start);
			if (i < n) {
				if (p[i] == '\r')
					d->scan = SC_CR;
				else
					smtpd_bare_seen(s, '\n');
				i++;
			}
			break;
		case SC_BOL:
			if (p[i] == '.') {
				d->scan = SC_DOT;
				i++;
			} else {
				d->scan = SC_TEXT;
			}
			break;
		case SC_CR:
			if (p[i] == '\n') {
				smtpd_emit(s, "\r\n", 2);
				d->scan = d->bdat ? SC_TEXT : SC_BOL;
				d->bol = BOL_CRLF;
				i++;
			} else {
				smtpd_bare_seen(s, '\r');	/* p[i] is looked at again */
			}
			break;
		case SC_DOT:
			if (p[i] == '\r') {
				d->scan = SC_DOT_CR;
				i++;
			} else if (p[i] == '\n') {
				if (smtpd_dot_ends(s, false)) {
					*end = true;
					return i + 1;
				}
				smtpd_emit(s, ".", 1);
				smtpd_bare_seen(s, '\n');
				i++;
			} else {
				d->scan = SC_TEXT;	/* the stuffed dot is dropped */
			}
			break;
		case SC_DOT_CR:
			if (p[i] == '\n') {
				if (smtpd_dot_ends(s, true)) {
					*end = true;
					return i + 1;
				}
				smtpd_emit(s, ".\r\n", 3);
				d->scan = SC_BOL;
				d->bol = BOL_CRLF;
				i++;
			} else {
				smtpd_emit(s, ".", 1);
				smtpd_bare_seen(s, '\r');
			}
			break;
		}
	}
	return n;
}

/* smtpd_data_open - a cleanup connection and the BEGIN frame: 0, or -1 (reply kept in *r) */
static int smtpd_data_open(struct smtpd_session *s, bool bdat, struct smtpd_reply *r)
{
	struct smtpd_content *d = &s->data;
	struct smtpd_cleanup *c;
	char err[256];
	unsigned flags = s->mail_flags | (bdat ? CLEANUP_FLAG_BDAT : 0) |
	    (s->srv->p->smtpd_submission_fixups || s->sasl_user[0] ? CLEANUP_FLAG_SUBMISSION : 0);

	memset(&d->fail, 0, sizeof(d->fail));
	d->scan = bdat ? SC_TEXT : SC_BOL;
	d->bol = BOL_CRLF;
	d->bdat = bdat;
	d->last = false;
	d->size = 0;
	d->bare = 0;
	d->eol = true;
	buf_reset(&d->out);
	if ((c = smtpd_cleanup_get(s, err, sizeof(err))) == NULL) {
		msg_warn("%s: cannot reach cleanup: %s", s->peer, err);
		smtpd_reply_set(r, 451, "4.3.0", "Error: queue file write error");
		return -1;
	}
	attr_add_int(&s->begin, CLEANUP_FLAGS, flags);
	attr_add_int(&s->begin, CLEANUP_EARLY_QID, 1);	/* the queue id comes back before the content */
	if (smtpd_cleanup_send(c, &s->begin) < 0) {
		msg_warn("%s: cleanup request: %s", s->peer,
			 attr_list_error(&s->begin) ? attr_list_error(&s->begin) : "connection lost");
		smtpd_cleanup_close(c);
		smtpd_reply_set(r, 451, "4.3.0", "Error: queue file write error");
		return -1;
	}
	s->cleanup = c;
	return 0;
}

/* smtpd_data_begin - DATA: open the message at cleanup, then 354 */
void smtpd_data_begin(struct smtpd_session *s)
{
	struct smtpd_reply r;

	if (smtpd_data_open(s, false, &r) < 0) {
		smtpd_reply_kept(s, &r);
		return;
	}
	smtpd_reply(s, 354, NULL, "End data with <CR><LF>.<CR><LF>");
	s->input = SMTPD_IN_DATA;
}

/* smtpd_data_done - the transaction is over: back to commands */
static void smtpd_data_done(struct smtpd_session *s)
{
	s->input = SMTPD_IN_COMMAND;
	smtpd_proto_reset(s);
	s->state = SMTPD_ST_HELO;
	smtpd_session_reading(s, true);
	if (s->stopping) {
		smtpd_reply_noerr(s, 421, "4.3.2", "%s Service shutting down", s->srv->g->myhostname);
		smtpd_session_finish(s);
		return;
	}
	smtpd_session_resume(s);
}

/* smtpd_data_refuse - the content was refused here: reply and log */
static void smtpd_data_refuse(struct smtpd_session *s, const struct smtpd_reply *r)
{
	smtpd_log_reject(s, NULL, "END-OF-MESSAGE", r->code, r->enh, r->text, NULL);
	smtpd_reply_kept(s, r);
}

/* smtpd_data_end - all content is in: "end" to cleanup and wait, or refuse */
static void smtpd_data_end(struct smtpd_session *s)
{
	struct smtpd_content *d = &s->data;
	struct smtpd_reply r;

	if (d->bdat) {
		if (d->scan == SC_CR)
			smtpd_bare_seen(s, '\r');	/* a CR at the very end */
		if (!d->eol)
			smtpd_emit(s, "\r\n", 2);
	}
	smtpd_data_flush(s);
	if (d->fail.code == 0 && s->cleanup != NULL && smtpd_cleanup_end(s->cleanup) == 0) {
		s->input = SMTPD_IN_WAIT;
		smtpd_session_reading(s, false);
		return;
	}
	if (d->fail.code == 0)
		smtpd_data_fail(s, 451, "4.3.0", "Error: queue file write error");
	r = d->fail;
	smtpd_data_refuse(s, &r);
	smtpd_data_done(s);
}

/* smtpd_bdat_chunk_done - the chunk has been read: the reply to its BDAT */
static void smtpd_bdat_chunk_done(struct smtpd_session *s)
{
	struct smtpd_content *d = &s->data;

	s->input = SMTPD_IN_COMMAND;
	if (d->chunk_fail.code != 0) {
		/* refused before reading: a sequence error, or the transaction failed */
		struct smtpd_reply r = d->chunk_fail;

		d->chunk_fail.code = 0;
		smtpd_reply_kept(s, &r);
		if (d->last && s->bdat_fail.code != 0)
			smtpd_data_done(s);
		return;
	}
	if (d->fail.code != 0) {
		/* this chunk broke the message: every later chunk gets the same */
		s->bdat_fail = d->fail;
		s->state = SMTPD_ST_BDAT;
		smtpd_data_refuse(s, &d->fail);
		if (d->last)
			smtpd_data_done(s);
		return;
	}
	s->state = SMTPD_ST_BDAT;
	if (!d->last) {
		smtpd_reply(s, 250, "2.0.0", "Ok: %llu octets", (unsigned long long) d->size);
		return;
	}
	smtpd_data_end(s);
}

/* smtpd_bdat_parse - "count [LAST]": 0, or -1 when it cannot be parsed */
static int smtpd_bdat_parse(const char *arg, size_t len, uint64_t *count, bool *last)
{
	size_t i = 0;
	uint64_t n = 0;

	if (len == 0 || !isdigit((unsigned char) arg[0]))
		return -1;
	for (; i < len && isdigit((unsigned char) arg[i]); i++) {
		if (n > (UINT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (uint64_t) (arg[i] - '0');
	}
	*count = n;
	*last = false;
	if (i == len)
		return 0;
	if (arg[i] != ' ')
		return -1;
	while (i < len && arg[i] == ' ')
		i++;
	if (len - i == 4 && strncasecmp(arg + i, "LAST", 4) == 0) {
		*last = true;
		return 0;
	}
	return -1;
}

/* smtpd_bdat_command - BDAT count [LAST]: decide the reply, then read the chunk */
void smtpd_bdat_command(struct smtpd_session *s, const char *arg, size_t len)
{
	struct smtpd_server *srv = s->srv;
	struct smtpd_content *d = &s->data;
	long long limit = srv->g->message_size_limit;
	struct smtpd_reply r;
	uint64_t count;
	bool last;

	if (smtpd_bdat_parse(arg, len, &count, &last) < 0) {
		/* the octet count is unknown: nothing after this can be trusted */
		smtpd_reply(s, 521, "5.5.4", "Syntax: BDAT count [LAST]");
		smtpd_session_finish(s);
		return;
	}
	d->chunk_fail.code = 0;
	if (s->state == SMTPD_ST_START)
		smtpd_reply_set(&d->chunk_fail, 503, "5.5.1", "Error: send HELO/EHLO first");
	else if (!s->esmtp)
		smtpd_reply_set(&d->chunk_fail, 503, "5.5.1", "Error: BDAT needs EHLO");
	else if (srv->tls_level == SMTPD_TLS_ENCRYPT && !s->tls)
		smtpd_reply_set(&d->chunk_fail, 530, "5.7.0", "Must issue a STARTTLS command first");
	else if (s->state == SMTPD_ST_HELO)
		smtpd_reply_set(&d->chunk_fail, 503, "5.5.1", "Error: need MAIL command");
	else if (s->state == SMTPD_ST_MAIL)
		smtpd_reply_set(&d->chunk_fail, 554, "5.5.1", "Error: no valid recipients");
	else if (s->bdat_fail.code != 0)
		d->chunk_fail = s->bdat_fail;
	else if (s->state == SMTPD_ST_RCPT && smtpd_data_open(s, true, &r) < 0)
		d->chunk_fail = s->bdat_fail = r;
	if (d->chunk_fail.code == 0 && limit > 0 && d->size + count > (uint64_t) limit)
		smtpd_data_fail(s, 552, "5.3.4", "Error: message file too big");
	d->chunk_left = count;
	d->last = last;
	s->input = SMTPD_IN_BDAT;
	if (count == 0)
		smtpd_bdat_chunk_done(s);
}

/* smtpd_data_input - content from in: false when the input loop must stop */
bool smtpd_data_input(struct smtpd_session *s)
{
	struct smtpd_content *d = &s->data;
	const char *p;
	size_t have = smtpd_session_view(s, &p), want, used;
	bool end = false;

	if (have == 0)
		return false;
	want = have;
	if (s->input == SMTPD_IN_BDAT && d->chunk_left < want)
		want = (size_t) d->chunk_left;
	if (s->input == SMTPD_IN_BDAT && (d->chunk_fail.code != 0 || d->fail.code != 0))
		used = want;		/* a refused chunk is only read */
	else
		used = smtpd_scan(s, p, want, &end);
	smtpd_session_consume(s, used);
	if (d->out.len >= IPC_CHUNK_MAX / 2)
		smtpd_data_flush(s);
	if (s->input == SMTPD_IN_DATA && end) {
		smtpd_data_end(s);
		return s->input == SMTPD_IN_COMMAND;
	}
	if (s->input == SMTPD_IN_BDAT) {
		d->chunk_left -= used;
		if (d->chunk_left == 0) {
			smtpd_bdat_chunk_done(s);
			return s->input == SMTPD_IN_COMMAND;
		}
	}
	if (s->cleanup != NULL && smtpd_cleanup_pending(s->cleanup) > SMTPD_BACKLOG) {
		s->paused = true;
		smtpd_session_reading(s, false);
		return false;
	}
	return used > 0 && smtpd_session_pending(s) > 0;
}

/* smtpd_data_drained - cleanup caught up: read again */
void smtpd_data_drained(struct smtpd_session *s)
{
	if (!s->paused)
		return;
	s->paused = false;
	smtpd_session_reading(s, true);
	smtpd_session_resume(s);
}

/* smtpd_data_reset - forget the message (RSET, EHLO, stop, close) */
void smtpd_data_reset(struct smtpd_session *s)
{
	struct smtpd_content *d = &s->data;

	if (s->cleanup != NULL) {
		if (s->input == SMTPD_IN_WAIT)
			smtpd_cleanup_close(s->cleanup);
		else
			smtpd_cleanup_abort(s->cleanup);
		s->cleanup = NULL;
	}
	buf_reset(&d->out);
	memset(&d->fail, 0, sizeof(d->fail));
	d->size = 0;
	d->chunk_left = 0;
	if (s->input == SMTPD_IN_DATA || s->input == SMTPD_IN_BDAT || s->input == SMTPD_IN_WAIT)
		s->input = SMTPD_IN_COMMAND;
	if (s->paused) {
		s->paused = false;
		smtpd_session_reading(s, true);
	}
}

/* smtpd_result_valid - a RESULT error reply that may go to a client as is */
static bool smtpd_result_valid(int64_t code, const char *dsn, const char *text)
{
	size_t n = strlen(dsn);

	if (code < 400 || code > 599 || n < 5 || n >= SMTPD_ENH_MAX)
		return false;
	if (dsn[0] != (char) ('0' + code / 100) || dsn[1] != '.' || strspn(dsn + 2, "0123456789.") != n - 2)
		return false;
	for (const char *p = text; *p; p++)
		if ((unsigned char) *p < 0x20 || *p == 0x7f)
			return false;
	return strlen(text) < SMTPD_TEXT_MAX;
}

/* smtpd_qid_valid - a queue id from cleanup that may go into a log line and a reply */
static bool smtpd_qid_valid(const char *qid)
{
	size_t n = strlen(qid);

	return n > 0 && n < 64 && strspn(qid, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz") == n;
}

/*
 * smtpd_data_early - cleanup's EARLY frame: the queue id is logged with
 * the client (Postfix's "QID: client=name[addr]", with sasl_method and
 * sasl_username after AUTH) before the message can reach qmgr; an error
 * fails the message as the RESULT would (the rest of the content is read
 * and dropped, the reply comes at its end). Returns true when the
 * message goes on on s->cleanup; false when it gave the connection up.
 */
bool smtpd_data_early(struct smtpd_session *s, const struct attr_list *frame)
{
	struct smtpd_cleanup *c = s->cleanup;
	const char *status = "", *qid = "", *dsn = "", *text = "";
	int64_t code = 0;

	attr_get_str(frame, CLEANUP_STATUS, &status);
	if (strcmp(status, CLEANUP_STATUS_QUEUED) == 0 && attr_get_str(frame, CLEANUP_QUEUE_ID, &qid) &&
	    smtpd_qid_valid(qid)) {
		if (s->sasl_user[0] != '\0')
			msg_info("%s: client=%s, sasl_method=%s, sasl_username=%s", qid, s->peer,
				 s->sasl_method ? s->sasl_method : "", s->sasl_user);
		else
			msg_info("%s: client=%s", qid, s->peer);
		return true;
	}
	if (strcmp(status, CLEANUP_STATUS_ERROR) == 0 && attr_get_int(frame, CLEANUP_REPLY_CODE, &code) &&
	    attr_get_str(frame, CLEANUP_REPLY_DSN, &dsn) && attr_get_str(frame, CLEANUP_REPLY_TEXT, &text) &&
	    smtpd_result_valid(code, dsn, text)) {
		if (s->input == SMTPD_IN_WAIT)
			return true;	/* all content is in: the RESULT brings the same error */
		smtpd_data_fail(s, (int) code, dsn, text);	/* ABORTs at cleanup */
		if (s->paused)
			smtpd_data_drained(s);
		return false;
	}
	msg_warn("%s: malformed early reply from cleanup (status \"%.20s\")", s->peer, status);
	smtpd_cleanup_close(c);
	smtpd_data_lost(s, "protocol error");
	return false;
}

/* smtpd_data_result - cleanup's RESULT: the reply to the content */
void smtpd_data_result(struct smtpd_session *s, const struct attr_list *frame)
{
	struct smtpd_cleanup *c = s->cleanup;
	const char *status = "", *qid = "", *dsn = "", *text = "";
	int64_t code = 0;
	struct smtpd_reply r;

	s->cleanup = NULL;
	attr_get_str(frame, CLEANUP_STATUS, &status);
	if (strcmp(status, CLEANUP_STATUS_OK) == 0 && attr_get_str(frame, CLEANUP_QUEUE_ID, &qid) &&
	    smtpd_qid_valid(qid)) {
		/* "QID: client=" was logged when the EARLY frame came (smtpd_data_early) */
		smtpd_reply(s, 250, "2.0.0", "Ok: queued as %s", qid);
		smtpd_cleanup_release(c);
		smtpd_data_done(s);
		return;
	}
	if (strcmp(status, CLEANUP_STATUS_ERROR) == 0 && attr_get_int(frame, CLEANUP_REPLY_CODE, &code) &&
	    attr_get_str(frame, CLEANUP_REPLY_DSN, &dsn) && attr_get_str(frame, CLEANUP_REPLY_TEXT, &text) &&
	    smtpd_result_valid(code, dsn, text)) {
		smtpd_reply_set(&r, (int) code, dsn, "%s", text);
		smtpd_cleanup_release(c);
	} else {
		msg_warn("%s: malformed result from cleanup (status \"%.20s\")", s->peer, status);
		smtpd_reply_set(&r, 451, "4.3.0", "Error: queue file write error");
		smtpd_cleanup_close(c);
	}
	smtpd_data_refuse(s, &r);
	smtpd_data_done(s);
}

/* smtpd_data_lost - the cleanup connection broke under a message */
void smtpd_data_lost(struct smtpd_session *s, const char *reason)
{
	s->cleanup = NULL;
	msg_warn("%s: cleanup connection lost: %s", s->peer, reason);
	if (s->input == SMTPD_IN_WAIT) {
		struct smtpd_reply r;

		smtpd_reply_set(&r, 451, "4.3.0", "Error: queue file write error");
		smtpd_data_refuse(s, &r);
		smtpd_data_done(s);
		return;
	}
	smtpd_data_fail(s, 451, "4.3.0", "Error: queue file write error");
	if (s->paused)
		smtpd_data_drained(s);
}
