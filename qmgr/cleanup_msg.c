/*
 * cleanup_msg - one message, from its BEGIN frame to its RESULT: the
 * envelope is checked (cleanup_env), the queue file created in incoming/
 * (hold/ for CLEANUP_FLAG_HOLD) with its envelope records and our
 * Received: header, then the content goes through the header filter
 * (cleanup_header) into the file, and message_size_limit and
 * hopcount_limit are enforced on the way. Once "end" has arrived the
 * file is handed to cleanup_commit; its verdict comes back here.
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
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
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
	if (stat == CLEANUP_STAT_WRITE || stat == CLEANUP_STAT_SPACE) {
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

/* msg_out - content for the file (the header filter's output) */
static int msg_out(void *ctx, const char *p, size_t n)
{
	struct cleanup_msg *m = ctx;
	const char *q = p, *end = p + n;

	if (m->stat != CLEANUP_STAT_OK)
		return -1;
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

/* msg_header_end - end of the header: hop count, missing Message-ID: and Date: */
static int msg_header_end(void *ctx)
{
	struct cleanup_msg *m = ctx;
	char line[CLEANUP_HOST_MAX + QID_SIZE + 64];
	int n;

	if (msg_hops(m) < 0)
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
	cleanup_hdr_init(&m->hdr, msg_out, msg_header_end, m);
	stat = cleanup_env_parse(frame, cfg->rcpt_limit, &env, m->detail, sizeof(m->detail));
	if (env.sender)
		m->sender = xstrdup(env.sender);
	m->nrcpt = env.nrcpt;
	if (stat != CLEANUP_STAT_OK) {
		cleanup_msg_fail(m, stat, m->detail);
		return m;
	}
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

/* cleanup_msg_end - the content is complete: true when the file may be committed */
bool cleanup_msg_end(struct cleanup_msg *m)
{
	if (m->stat != CLEANUP_STAT_OK)
		return false;
	if (cleanup_hdr_finish(&m->hdr) < 0 || msg_hops(m) < 0) {
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
	free(m->sender);
	free(m);
}
