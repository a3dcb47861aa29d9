/*
 * cleanup_msg - one message, from its BEGIN frame to its RESULT: the
 * envelope is checked (cleanup_env), the queue file created in incoming/
 * (hold/ for CLEANUP_FLAG_HOLD) with its envelope records and our
 * Received: header, then the content goes through the header filter
 * (cleanup_header) into the file, and message_size_limit and
 * hopcount_limit are enforced on the way. Once "end" has arrived the
 * file is handed to cleanup_commit; its verdict comes back here.
 *
 * The header does not go to the file as it arrives: each logical field
 * (a line with its continuation lines) is collected, run through
 * header_checks (cleanup_checks.c) and held back in m->hlines until the
 * header ends, because From: screening may change the From: or the
 * Subject: field wherever they are (cleanup_screen.c). Then the fields
 * are written, each masqueraded as masquerade_classes says, followed by
 * the origin country header and the missing Message-ID: and Date:. At
 * most CLEANUP_HEADER_KEEP_MAX bytes are held: past that the held fields
 * are written at once (they are still checked and masqueraded, only From:
 * screening no longer sees them). A single field over CLEANUP_FIELD_MAX
 * bytes refuses the message (552 5.3.4). Body lines go to the file as
 * they come, or, with body_checks, one line at a time (pieces of
 * CLEANUP_BODY_LINE_MAX) for the first body_checks_size_limit bytes.
 *
 * Screening verdicts: REJECT fails the message at once (550, the table's
 * text); DISCARD answers "ok" with the queue id and removes the file
 * instead of committing it; HOLD renames the file from incoming/ to
 * hold/ before the commit (the file is incomplete until then, so qmgr
 * never sees it in incoming/; the commit fsyncs hold/).
 *
 * Also here: the one table that maps a status to the SMTP reply a source
 * gives its client (Postfix's cleanup_strerror), and the log lines:
 *
 *	QUEUEID: message-id=<...>
 *	QUEUEID: from=<sender>, size=N, nrcpt=N (queue incoming)
 *	QUEUEID: reject: 554 5.4.6 Error: too many hops (...); from=<...> nrcpt=N
 *	QUEUEID: warning: write incoming/QUEUEID: No space left ...; reply 452 4.3.1
 *
 * Invariant: m->stat goes from OK to a failure at most once, and the
 * first failure removes the file (qfile_writer_abort) at once; a failed
 * message writes nothing more. "size" is the content in SMTP terms (CRLF
 * line ends), with the headers cleanup added.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/resolve.h"
#include "cleanup.h"

#define MSG_RECEIVED_MAX	8192	/* our Received: header; its parts are bounded far below */

static const struct {
	int code;
	const char *dsn;
	const char *text;
	bool detail;			/* the client may see the detail */
} cleanup_replies[] = {
	[CLEANUP_STAT_OK] = {0, "2.0.0", "queued", false},
	[CLEANUP_STAT_WRITE] = {451, "4.3.0", "Error: queue file write error", false},
	[CLEANUP_STAT_SPACE] = {452, "4.3.1", "Insufficient system storage", false},
	[CLEANUP_STAT_SIZE] = {552, "5.3.4", "Error: message file too big", false},
	[CLEANUP_STAT_HEADER] = {552, "5.3.4", "Error: message header line too long", false},
	[CLEANUP_STAT_HOPS] = {554, "5.4.6", "Error: too many hops", false},
	[CLEANUP_STAT_ENVELOPE] = {554, "5.5.4", "Error: invalid envelope", true},
	[CLEANUP_STAT_NORCPT] = {554, "5.5.1", "Error: no valid recipients", false},
	[CLEANUP_STAT_RCPTS] = {552, "5.5.3", "Error: too many recipients", true},
	[CLEANUP_STAT_SENDER] = {553, "5.1.7", "Error: bad sender address", true},
	[CLEANUP_STAT_RCPT] = {553, "5.1.3", "Error: bad recipient address", true},
	[CLEANUP_STAT_CONTENT] = {550, HC_DEFAULT_DSN, HC_DEFAULT_TEXT, false},
	[CLEANUP_STAT_TEMP] = {451, "4.3.5", "Error: server configuration problem", false},
};

/* cleanup_stat_reply - the reply for a status */
void cleanup_stat_reply(enum cleanup_stat stat, const char *detail, struct cleanup_reply *reply)
{
	if ((size_t) stat >= sizeof(cleanup_replies) / sizeof(cleanup_replies[0]))
		msg_panic("cleanup_stat_reply: status %d", (int) stat);
	reply->code = cleanup_replies[stat].code;
	reply->dsn = cleanup_replies[stat].dsn;
	if (cleanup_replies[stat].detail && detail && *detail)
		str_fmt(reply->text, sizeof(reply->text), "%s: %s", cleanup_replies[stat].text, detail);
	else
		str_copy(reply->text, cleanup_replies[stat].text, sizeof(reply->text));
}

/* cleanup_stat_of_error - what a queue file failure means for the client */
enum cleanup_stat cleanup_stat_of_error(const struct qfile_error *err)
{
	if (err->kind == QFILE_ERR_LIMIT || (err->kind == QFILE_ERR_SYSTEM && err->errnum == EFBIG))
		return CLEANUP_STAT_SIZE;
	if (err->kind == QFILE_ERR_SYSTEM && (err->errnum == ENOSPC || err->errnum == EDQUOT))
		return CLEANUP_STAT_SPACE;
	return CLEANUP_STAT_WRITE;
}

/* msg_qid - the queue id for log lines */
static const char *msg_qid(const struct cleanup_msg *m)
{
	return m->qid[0] ? m->qid : "NOQUEUE";
}

/* cleanup_msg_fail - the first failure: remove the file, set the reply, log */
void cleanup_msg_fail(struct cleanup_msg *m, enum cleanup_stat stat, const char *detail)
{
	if (m->stat != CLEANUP_STAT_OK || stat == CLEANUP_STAT_OK)
		return;
	m->stat = stat;
	if (detail != m->detail)
		str_copy(m->detail, detail ? detail : "", sizeof(m->detail));
	if (m->w) {
		qfile_writer_abort(m->w);
		m->w = NULL;
	}
	cleanup_stat_reply(stat, m->detail, &m->reply);
	if (stat == CLEANUP_STAT_CONTENT) {
		return;			/* cleanup_msg_reject sets the reply; the screen logged */
	} else if (stat == CLEANUP_STAT_WRITE || stat == CLEANUP_STAT_SPACE || stat == CLEANUP_STAT_TEMP) {
		msg_warn("%s: %s; reply %d %s %s", msg_qid(m), m->detail, m->reply.code, m->reply.dsn,
			 m->reply.text);
	} else {
		char why[sizeof(m->detail) + 4] = "";

		/* the detail goes to the log when the client does not see it */
		if (m->detail[0] && !cleanup_replies[stat].detail)
			str_fmt(why, sizeof(why), " (%s)", m->detail);
		msg_info("%s: reject: %d %s %s%s; from=<%s> nrcpt=%zu", msg_qid(m), m->reply.code,
			 m->reply.dsn, m->reply.text, why, m->sender ? m->sender : "", m->nrcpt);
	}
}

/* msg_fail_writer - a qfile call failed (the writer removed the file) */
static void msg_fail_writer(struct cleanup_msg *m, const struct qfile_error *err)
{
	cleanup_msg_fail(m, cleanup_stat_of_error(err), err->text);
}

/* cleanup_msg_reject - refuse for content: 550 with the screen's code and text */
void cleanup_msg_reject(struct cleanup_msg *m, const char *dsn, const char *text)
{
	size_t i;

	if (m->stat != CLEANUP_STAT_OK)
		return;
	cleanup_msg_fail(m, CLEANUP_STAT_CONTENT, NULL);
	str_copy(m->reject_dsn, dsn && *dsn ? dsn : HC_DEFAULT_DSN, sizeof(m->reject_dsn));
	m->reply.dsn = m->reject_dsn;
	str_copy(m->reply.text, text && *text ? text : HC_DEFAULT_TEXT, sizeof(m->reply.text));
	for (i = 0; m->reply.text[i]; i++)	/* the client sees it: one printable line */
		if ((unsigned char) m->reply.text[i] < 0x20 || m->reply.text[i] == 0x7f)
			m->reply.text[i] = ' ';
	m->checks_done = true;
}

/* cleanup_msg_write - content for the file, after every screen */
int cleanup_msg_write(struct cleanup_msg *m, const char *p, size_t n)
{
	const char *q = p, *end = p + n;

	if (m->stat != CLEANUP_STAT_OK)
		return -1;
	if (m->discard || n == 0)
		return 0;		/* a discarded file goes away: spare the disk */
	if (qfile_put_content(m->w, p, n) < 0) {
		msg_fail_writer(m, qfile_writer_error(m->w));
		return -1;
	}
	m->out_bytes += (long long) n;
	while ((q = memchr(q, '\n', (size_t) (end - q))) != NULL) {
		m->out_lines++;
		q++;
	}
	return 0;
}

/* msg_out - what cleanup itself writes (Received:, Message-ID:, Date:) */
static int msg_out(struct cleanup_msg *m, const char *p, size_t n)
{
	return cleanup_msg_write(m, p, n);
}

/* cleanup_msg_keep_header - hold a header field back until the header ends */
int cleanup_msg_keep_header(struct cleanup_msg *m, const char *text, size_t len)
{
	struct cleanup_hline *h;

	if (m->nhlines == m->hlines_cap) {
		m->hlines_cap = m->hlines_cap ? 2 * m->hlines_cap : 32;
		m->hlines = xreallocarray(m->hlines, m->hlines_cap, sizeof(*m->hlines));
	}
	h = &m->hlines[m->nhlines++];
	h->text = xmalloc(len + 1);
	memcpy(h->text, text, len);
	h->text[len] = '\0';
	h->len = len;
	m->hlines_bytes += len;
	return 0;
}

/* msg_write_field - one header field to the file, masqueraded as configured */
static int msg_write_field(struct cleanup_msg *m, const char *text, size_t len)
{
	struct buf out;
	int ret;

	buf_init(&out, CLEANUP_FIELD_MAX * 2);
	if (cleanup_screen_field(m->cfg, text, len, &out) > 0)
		ret = cleanup_msg_write(m, out.data, out.len);
	else
		ret = cleanup_msg_write(m, text, len);
	buf_free(&out);
	return ret;
}

/* msg_flush_header - write every held-back field, in order, and forget them */
static int msg_flush_header(struct cleanup_msg *m)
{
	int ret = 0;

	for (size_t i = 0; i < m->nhlines; i++) {
		if (ret == 0 && msg_write_field(m, m->hlines[i].text, m->hlines[i].len) < 0)
			ret = -1;
		free(m->hlines[i].text);
	}
	m->nhlines = 0;
	m->hlines_bytes = 0;
	return ret;
}

/* msg_field_done - a logical header field is complete: check it, hold it back */
static int msg_field_done(struct cleanup_msg *m)
{
	int keep;

	if (m->field.len == 0)
		return 0;
	keep = cleanup_check_header(m, &m->field);
	if (keep > 0)
		cleanup_msg_keep_header(m, m->field.data, m->field.len);
	buf_reset(&m->field);
	if (keep < 0)
		return -1;
	if (m->hlines_bytes > CLEANUP_HEADER_KEEP_MAX) {
		msg_debug("%s: header over %d bytes: written before its end", m->qid, CLEANUP_HEADER_KEEP_MAX);
		return msg_flush_header(m);
	}
	return 0;
}

/* msg_header_bytes - header output of the filter: collect logical fields */
static int msg_header_bytes(struct cleanup_msg *m, const char *p, size_t n)
{
	char why[96];

	while (n > 0) {
		const char *nl;
		size_t k;

		if (m->field_eol && *p != ' ' && *p != '\t' && msg_field_done(m) < 0)
			return -1;
		nl = memchr(p, '\n', n);
		k = nl ? (size_t) (nl - p) + 1 : n;
		if (buf_append(&m->field, p, k) < 0) {
			str_fmt(why, sizeof(why), "a header field longer than %d bytes", CLEANUP_FIELD_MAX);
			cleanup_msg_fail(m, CLEANUP_STAT_HEADER, why);
			return -1;
		}
		m->field_eol = nl != NULL;
		p += k;
		n -= k;
	}
	return 0;
}

/* msg_body_line - body_checks on the collected line (eol: it ended in LF), then write it */
static int msg_body_line(struct cleanup_msg *m, bool eol)
{
	int keep = cleanup_check_body(m, &m->bline);

	m->body_seen += (long long) m->bline.len + (eol ? 1 : 0);
	if (keep < 0)
		return -1;
	if (keep > 0 && (cleanup_msg_write(m, m->bline.data, m->bline.len) < 0
			 || (eol && cleanup_msg_write(m, "\n", 1) < 0)))
		return -1;
	buf_reset(&m->bline);
	if (m->cfg->body_checks_size_limit > 0 && m->body_seen >= m->cfg->body_checks_size_limit)
		m->body_checking = false;
	return 0;
}

/* msg_body_bytes - body output of the filter: through body_checks while they apply */
static int msg_body_bytes(struct cleanup_msg *m, const char *p, size_t n)
{
	if (m->separator_next && n > 0) {
		m->separator_next = false;
		if (*p == '\n') {	/* the empty line after the header is not body */
			if (cleanup_msg_write(m, p, 1) < 0)
				return -1;
			p++;
			n--;
		}
	}
	while (n > 0 && m->body_checking && !m->checks_done) {
		const char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t) (nl - p) : n;
		size_t room = CLEANUP_BODY_LINE_MAX - m->bline.len;
		size_t take = k < room ? k : room;

		if (buf_append(&m->bline, p, take) < 0)
			msg_panic("%s: body line buffer", m->qid);
		p += take;
		n -= take;
		if (take == k && nl != NULL) {
			p++;
			n--;
			if (msg_body_line(m, true) < 0)
				return -1;
		} else if (m->bline.len == CLEANUP_BODY_LINE_MAX && msg_body_line(m, false) < 0) {
			return -1;
		}
	}
	if (n > 0 && m->bline.len > 0) {	/* checks ended inside a line: its start first */
		if (cleanup_msg_write(m, m->bline.data, m->bline.len) < 0)
			return -1;
		buf_reset(&m->bline);
	}
	return n > 0 ? cleanup_msg_write(m, p, n) : 0;
}

/* msg_content - output of the header filter: the header is held back, the body goes on */
static int msg_content(void *ctx, const char *p, size_t n)
{
	struct cleanup_msg *m = ctx;

	if (m->stat != CLEANUP_STAT_OK)
		return -1;
	if (!m->header_done)
		return msg_header_bytes(m, p, n);
	return msg_body_bytes(m, p, n);
}

/* msg_country_field - the origin country header, when the source gave a country */
static int msg_country_field(struct cleanup_msg *m)
{
	char line[128];
	const char *name = m->cfg->country_header;

	if (m->country[0] == '\0' || name == NULL || *name == '\0')
		return 0;
	if (str_fmt(line, sizeof(line), "%s: %s\n", name, m->country) < 0)
		msg_panic("%s: origin_country_header is too long", m->qid);
	return cleanup_msg_write(m, line, strlen(line));
}

/* msg_hops - refuse a looping message */
static int msg_hops(struct cleanup_msg *m)
{
	char why[96];

	if (m->hdr.received < m->cfg->hopcount_limit)
		return 0;
	str_fmt(why, sizeof(why), "%ld Received: headers, limit %lld", m->hdr.received,
		m->cfg->hopcount_limit);
	cleanup_msg_fail(m, CLEANUP_STAT_HOPS, why);
	return -1;
}

/*
 * msg_header_end - end of the header: hop count, the last field, From:
 * screening and masquerading, then the held-back fields, the origin
 * country, missing Message-ID: and Date:
 */
static int msg_header_end(void *ctx)
{
	struct cleanup_msg *m = ctx;
	char line[CLEANUP_HOST_MAX + QID_SIZE + 64];
	int n;

	if (msg_hops(m) < 0)
		return -1;
	if (msg_field_done(m) < 0 || cleanup_screen_header(m) < 0)
		return -1;
	m->header_done = true;
	m->separator_next = true;
	m->body_checking = m->cfg->body_checks != NULL && !m->checks_done;
	if (msg_flush_header(m) < 0 || msg_country_field(m) < 0)
		return -1;
	if (m->add_missing && !m->hdr.saw_msgid) {
		n = str_fmt(line, sizeof(line), "Message-ID: <%s@%s>\n", m->qid, m->cfg->myhostname);
		if (n < 0 || msg_out(m, line, strlen(line)) < 0)
			return -1;
		str_fmt(m->hdr.msgid, sizeof(m->hdr.msgid), "<%s@%s>", m->qid, m->cfg->myhostname);
		m->hdr.saw_msgid = true;
	}
	if (m->add_missing && !m->hdr.saw_date) {
		char date[64];

		cleanup_date_format(m->arrival, date, sizeof(date));
		str_fmt(line, sizeof(line), "Date: %s\n", date);
		if (msg_out(m, line, strlen(line)) < 0)
			return -1;
	}
	if (m->hdr.saw_msgid)
		msg_info("%s: message-id=%s", m->qid, m->hdr.msgid);
	return 0;
}

/* msg_received - our Received: header, the first line of the content */
static int msg_received(struct cleanup_msg *m, const struct cleanup_env *env)
{
	struct cleanup_rcv r = {
		.myhostname = m->cfg->myhostname, .qid = m->qid,
		.helo = env->helo, .client_name = env->client_name, .client_addr = env->client_addr,
		.protocol = env->protocol, .tls_proto = env->tls_proto, .tls_cipher = env->tls_cipher,
		.tls_bits = env->have_bits ? env->tls_bits : 0,
		.rcpt = env->nrcpt == 1 ? env->first_rcpt : NULL,
		.local = env->local, .have_uid = env->have_origin_uid, .uid = env->origin_uid,
		.utf8 = (env->flags & CLEANUP_FLAG_SMTPUTF8) != 0, .sec = m->arrival,
	};
	char *text = xmalloc(MSG_RECEIVED_MAX);
	int ret;

	if (cleanup_rcv_format(&r, text, MSG_RECEIVED_MAX) < 0)
		msg_panic("%s: Received: header longer than %d bytes", m->qid, MSG_RECEIVED_MAX);
	ret = msg_out(m, text, strlen(text));
	free(text);
	return ret;
}

/* msg_dup - a copy of an optional envelope text ("" for none) */
static char *msg_dup(const char *s)
{
	return xstrdup(s ? s : "");
}

/* msg_local_rcpt - does any recipient go to a local or virtual mailbox */
static bool msg_local_rcpt(const struct cleanup_msg *m, const struct cleanup_env *env)
{
	const struct attr *a = NULL;
	struct resolve_result res;
	char err[256];

	if (m->cfg->resolve == NULL)
		return false;
	while ((a = attr_find(env->frame, CLEANUP_RCPT, a)) != NULL) {
		if (resolve_addr(m->cfg->resolve, a->value, &res, err, sizeof(err)) < 0) {
			msg_warn("recipient <%s>: cannot tell whether it is local: %s", a->value, err);
			continue;
		}
		if (strcmp(res.transport, "local") == 0 || strcmp(res.transport, "virtual") == 0)
			return true;
	}
	return false;
}

/*
 * msg_screen_env - what screening needs of the envelope (the frame goes
 * away after BEGIN), and the envelope sender masqueraded (env->sender
 * then points to m->sender)
 */
static void msg_screen_env(struct cleanup_msg *m, struct cleanup_env *env)
{
	struct buf masq;

	m->first_rcpt = msg_dup(env->first_rcpt);
	m->client_name = msg_dup(env->client_name);
	m->client_addr = msg_dup(env->client_addr);
	m->helo = msg_dup(env->helo);
	m->protocol = msg_dup(env->protocol);
	m->authenticated = env->auth_user != NULL && *env->auth_user != '\0';
	if (env->client_country)
		str_copy(m->country, env->client_country, sizeof(m->country));
	if (m->cfg->from_screen != CLEANUP_FROM_SCREEN_NONE && !m->authenticated)
		m->local_rcpt = msg_local_rcpt(m, env);
	if (m->cfg->masq_classes & CLEANUP_MASQ_ENV_SENDER) {
		buf_init(&masq, QFILE_ADDR_MAX);
		if (cleanup_masq_addr(m->cfg, m->sender, strlen(m->sender), &masq) > 0) {
			msg_debug("masquerade: envelope sender <%s> -> <%s>", m->sender, masq.data);
			free(m->sender);
			m->sender = buf_steal(&masq);
		}
		buf_free(&masq);
	}
	env->sender = m->sender;
}

/* cleanup_msg_begin - a BEGIN frame: check it, create the file, write the envelope */
struct cleanup_msg *cleanup_msg_begin(const struct cleanup_cfg *cfg, const struct attr_list *frame,
				      uid_t peer_uid)
{
	struct cleanup_msg *m = xcalloc(1, sizeof(*m));
	struct cleanup_env env;
	enum cleanup_stat stat;
	struct qfile_error err;
	struct timeval tv;

	m->cfg = cfg;
	m->peer_uid = peer_uid;
	gettimeofday(&tv, NULL);
	m->arrival = tv.tv_sec;
	cleanup_hdr_init(&m->hdr, msg_content, msg_header_end, m);
	buf_init(&m->field, CLEANUP_FIELD_MAX);
	buf_init(&m->bline, CLEANUP_BODY_LINE_MAX);
	stat = cleanup_env_parse(frame, cfg->rcpt_limit, &env, m->detail, sizeof(m->detail));
	if (env.sender)
		m->sender = xstrdup(env.sender);
	m->nrcpt = env.nrcpt;
	if (stat != CLEANUP_STAT_OK) {
		cleanup_msg_fail(m, stat, m->detail);
		return m;
	}
	msg_screen_env(m, &env);
	if (cfg->size_limit > 0 && env.size > cfg->size_limit) {
		str_fmt(m->detail, sizeof(m->detail), "announced size %lld, limit %lld",
			(long long) env.size, cfg->size_limit);
		cleanup_msg_fail(m, CLEANUP_STAT_SIZE, m->detail);
		return m;
	}
	m->hold = (env.flags & CLEANUP_FLAG_HOLD) != 0;
	m->add_missing = (env.flags & CLEANUP_FLAG_SUBMISSION) != 0 || env.local;
	m->dir = m->hold ? cfg->hold : cfg->incoming;
	if ((m->w = qfile_create(m->dir, &tv, &err)) == NULL) {
		msg_fail_writer(m, &err);
		return m;
	}
	str_copy(m->qid, qfile_writer_qid(m->w), sizeof(m->qid));
	if (cleanup_env_write(&env, peer_uid, m->w) < 0) {
		msg_fail_writer(m, qfile_writer_error(m->w));
		return m;
	}
	(void) msg_received(m, &env);
	return m;
}

/* cleanup_msg_content - the next piece of content */
void cleanup_msg_content(struct cleanup_msg *m, const void *p, size_t n)
{
	char why[96];

	if (m->stat != CLEANUP_STAT_OK)
		return;
	m->in_bytes += (long long) n;
	if (m->cfg->size_limit > 0 && m->in_bytes > m->cfg->size_limit) {
		str_fmt(why, sizeof(why), "more than %lld bytes", m->cfg->size_limit);
		cleanup_msg_fail(m, CLEANUP_STAT_SIZE, why);
		return;
	}
	if (cleanup_hdr_feed(&m->hdr, p, n) < 0 && m->hdr.too_long) {
		str_fmt(why, sizeof(why), "a header line longer than %d bytes", QFILE_HEADER_LINE_MAX);
		cleanup_msg_fail(m, CLEANUP_STAT_HEADER, why);
		return;
	}
	(void) msg_hops(m);
}

/*
 * msg_move_to_hold - HOLD from a check: the (incomplete) file goes from
 * incoming/ to hold/, where the commit then makes it complete and durable
 */
static int msg_move_to_hold(struct cleanup_msg *m)
{
	char why[256];

	if (renameat(m->cfg->incoming->fd, m->qid, m->cfg->hold->fd, m->qid) < 0) {
		str_fmt(why, sizeof(why), "rename %s/%s to %s/%s: %s", m->cfg->incoming->path, m->qid,
			m->cfg->hold->path, m->qid, strerror(errno));
		cleanup_msg_fail(m, CLEANUP_STAT_WRITE, why);
		return -1;
	}
	m->dir = m->cfg->hold;
	m->hold = true;
	m->moved_to_hold = true;
	return 0;
}

/* cleanup_msg_end - the content is complete: true when the file may be committed */
bool cleanup_msg_end(struct cleanup_msg *m)
{
	if (m->stat != CLEANUP_STAT_OK)
		return false;
	if (cleanup_hdr_finish(&m->hdr) < 0 || msg_hops(m) < 0
	    || (m->bline.len > 0 && msg_body_line(m, false) < 0)) {
		if (m->hdr.too_long)
			cleanup_msg_fail(m, CLEANUP_STAT_HEADER, "a header line too long");
		return false;
	}
	if (m->stat != CLEANUP_STAT_OK)
		return false;
	if (m->hdr.long_lines > 0)
		msg_info("%s: %lld header lines longer than %d bytes, kept intact", m->qid,
			 m->hdr.long_lines, CLEANUP_LINE_RFC);
	if (m->hdr.stray > 0)
		msg_warn("%s: %lld stray CR or LF characters in the content replaced by spaces",
			 m->qid, m->hdr.stray);
	if (m->discard) {
		qfile_writer_abort(m->w);
		m->w = NULL;
		msg_info("%s: discarded: from=<%s>, nrcpt=%zu (content checks)", m->qid, m->sender, m->nrcpt);
		cleanup_stat_reply(CLEANUP_STAT_OK, NULL, &m->reply);
		return false;		/* answered "ok": the source was told the message is taken */
	}
	if (m->hold_wanted && !m->hold && msg_move_to_hold(m) < 0)
		return false;
	return true;
}

/* cleanup_msg_size - content size as SMTP sees it */
long long cleanup_msg_size(const struct cleanup_msg *m)
{
	return m->out_bytes + m->out_lines;
}

/* cleanup_msg_committed - the file is durable (err NULL), or gone */
void cleanup_msg_committed(struct cleanup_msg *m, const struct qfile_error *err)
{
	if (err != NULL) {
		if (m->w) {		/* already removed by the commit; only memory left */
			qfile_writer_free(m->w);
			m->w = NULL;
		}
		/* the writer removed the name it knows, in incoming/ */
		if (m->moved_to_hold && unlinkat(m->cfg->hold->fd, m->qid, 0) < 0 && errno != ENOENT)
			msg_warn("%s: cannot remove %s/%s: %s", m->qid, m->cfg->hold->path, m->qid, strerror(errno));
		msg_fail_writer(m, err);
		return;
	}
	qfile_writer_free(m->w);
	m->w = NULL;
	cleanup_stat_reply(CLEANUP_STAT_OK, NULL, &m->reply);
	/*
	 * Postfix's shape: cleanup logs only message-id=; qmgr logs "from=<>,
	 * size=, nrcpt= (queue active)" when it takes the message, after the
	 * source's client= or uid= line, which log tools need (pflogsumm
	 * counts the first size= line of a queue id, and only after client=).
	 * A held message never reaches qmgr: say where it went, without size=.
	 */
	if (m->hold)
		msg_info("%s: hold: from=<%s>, nrcpt=%zu (queue hold)", m->qid, m->sender, m->nrcpt);
}

/* cleanup_msg_free - release; an uncommitted file is removed */
void cleanup_msg_free(struct cleanup_msg *m)
{
	if (m == NULL)
		return;
	qfile_writer_free(m->w);
	if (m->moved_to_hold && m->stat != CLEANUP_STAT_OK)	/* failed after the move, before the commit */
		(void) unlinkat(m->cfg->hold->fd, m->qid, 0);
	for (size_t i = 0; i < m->nhlines; i++)
		free(m->hlines[i].text);
	free(m->hlines);
	buf_free(&m->field);
	buf_free(&m->bline);
	free(m->first_rcpt);
	free(m->client_name);
	free(m->client_addr);
	free(m->helo);
	free(m->protocol);
	free(m->sender);
	free(m);
}
