/*
 * qmgr_message - a message's life in the active queue.
 *
 * Activation renames the file into active/ (unless it is there after a
 * restart), opens it read-write, logs "QID: from=<...>, size=N, nrcpt=N
 * (queue active)" and hands every recipient that is not final yet
 * (delivered or bounced in its slot) to qmgr_deliver. A file that fails
 * validation goes to corrupt/; one whose release_time attribute is in
 * the future goes to timed/ with that time as its modification time.
 *
 * Results: agents write final states into the slots themselves
 * (deliver_proto.h); qmgr writes deferred states, and the reasons into
 * defer/QID and bounce/QID ("INDEX TAB DSN TAB time TAB relay TAB text").
 *
 * When nothing is outstanding for the message: recipients past
 * maximal_queue_lifetime are bounced; the notices owed are sent through
 * private/bounce (failure, success, delay; to postmaster for the null
 * sender; never for a dsn_kind=double message); after their replies a
 * message with every recipient final and no notice failed is removed
 * (reason files first, then the queue file: "QID: removed"); anything
 * else goes to deferred/ with the Q slot and the file's modification
 * time set to the next attempt (exponential back-off).
 *
 * System calls: the agents fsync the final slots they write before they
 * reply, so qmgr fsyncs a file before it removes or moves it only when
 * qmgr itself wrote into it (m->unsynced: deferrals, notice flags,
 * expiry); and it removes reason files only for a message that may have
 * some (m->side: one written in this activation, or a message that is
 * not fresh, qmgr_fresh.c). A fresh message's lock is not tested either.
 *
 * Actions: transport_maps "hold:reason" for any recipient puts the whole
 * message on hold (nothing goes to an agent; "QID: placed on hold:
 * transport_maps: <rcpt>: reason"); ternsuper's control requests
 * (qmgr_control.c) delete, hold or requeue a message once its
 * deliveries in flight have answered and no agent holds its lock.
 *
 * Crash safety: the file is the truth. Final slots are never retried;
 * a notice is marked sent (slot flag) only after bounce's ok, so a crash
 * may send one twice but never loses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/deliver_proto.h"
#include "qmgr.h"

#define QMGR_RELEASE_TIME	"release_time"	/* queue-file attribute: unix time */
#define QMGR_HOLD_TRANSPORT	"hold"		/* transport_maps "hold:reason" */

/* qmgr_now_us - wall clock in microseconds */
long long qmgr_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* qmgr_dsn_parse - "X.Y.Z" (X 2, 4 or 5) into st; 0 or -1 */
static int qmgr_dsn_parse(const char *dsn, unsigned *cls, unsigned *subj, unsigned *det)
{
	unsigned a, b, c;
	int n = 0;

	if (sscanf(dsn, "%1u.%3u.%3u%n", &a, &b, &c, &n) != 3 || dsn[n] != 0 ||
	    (a != 2 && a != 4 && a != 5))
		return -1;
	*cls = a;
	*subj = b;
	*det = c;
	return 0;
}

/* qmgr_secs - seconds the way Postfix logs them: "0", "0.12", "3.4", "125" */
static void qmgr_secs(char *out, size_t size, long long us)
{
	double v = us < 0 ? 0 : (double) us / 1e6;

	if (v < 0.005)
		str_copy(out, "0", size);
	else if (v < 10)
		str_fmt(out, size, "%.2g", v);
	else
		str_fmt(out, size, "%.0f", v);
}

/*
 * qmgr_log_rcpt - the delivery line for a result qmgr made itself:
 * "QID: to=<r>, relay=none, delay=D, delays=a/b/0/0, dsn=X, status=S (text)"
 * with a the time before qmgr and b the time in qmgr.
 */
static void qmgr_log_rcpt(const struct qmgr_msg *m, size_t i, const char *relay, const char *dsn,
			  const char *status, const char *text)
{
	long long now = qmgr_now_us(), arrival = m->qf->arrival_sec * 1000000;
	long long queued = m->activated_us > arrival ? m->activated_us : arrival;
	char d[32], a[32], b[32];

	qmgr_secs(d, sizeof(d), now - arrival);
	qmgr_secs(a, sizeof(a), queued - arrival);
	qmgr_secs(b, sizeof(b), now - queued);
	msg_info("%s: to=<%s>, relay=%s, delay=%s, delays=%s/%s/0/0, dsn=%s, status=%s (%s)",
		 m->qid, m->qf->rcpts[i].addr, relay, d, a, b, dsn, status, text);
}

/* qmgr_msg_move - rename dir/qid to to/qid; 0 or -1 (errno) */
static int qmgr_msg_move(const char *qid, const char *from, const char *to)
{
	char a[QID_SIZE + 32], b[QID_SIZE + 32];

	str_fmt(a, sizeof(a), "%s/%s", from, qid);
	str_fmt(b, sizeof(b), "%s/%s", to, qid);
	return rename(a, b);
}

/* qmgr_msg_set_time - file modification time = when (the scan's due time) */
static void qmgr_msg_set_time(int fd, const char *qid, long long when)
{
	struct timespec ts[2] = {{(time_t) when, 0}, {(time_t) when, 0}};

	if (futimens(fd, ts) < 0)
		msg_warn("%s: set file time: %s", qid, strerror(errno));
}

/* qmgr_msg_reason - append one line to defer/QID or bounce/QID */
static void qmgr_msg_reason(struct qmgr_msg *m, const char *dir, size_t i, const char *dsn,
			    const char *relay, const char *text)
{
	char path[QID_SIZE + 16], line[1400], clean[1100];
	size_t n = 0;
	int fd;

	m->side = true;			/* before the file can exist */
	for (const char *p = text; *p && n + 1 < sizeof(clean); p++)
		clean[n++] = ((unsigned char) *p < 0x20 || *p == 0x7f) ? ' ' : *p;
	clean[n] = 0;
	str_fmt(path, sizeof(path), "%s/%s", dir, m->qid);
	str_fmt(line, sizeof(line), "%zu\t%s\t%lld\t%s\t%s\n", i, dsn, (long long) time(NULL),
		relay, clean);
	if ((fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600)) < 0 ||
	    write(fd, line, strlen(line)) != (ssize_t) strlen(line))
		msg_warn("%s: write %s: %s", m->qid, path, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* qmgr_msg_write_slot - write our view of recipient i into the file */
static void qmgr_msg_write_slot(struct qmgr_msg *m, size_t i)
{
	struct qfile_error qe;

	m->unsynced = true;
	if (qfile_rcpt_update(m->qf, i, &m->st[i], &qe) < 0) {
		msg_warn("%s: %s", m->qid, qe.text);
		qmgr_fresh_taint(m->qid);	/* the slot may still look untried */
	}
}

/* qmgr_msg_sync - make what qmgr wrote into the file durable (nothing written: no fdatasync) */
static void qmgr_msg_sync(struct qmgr_msg *m)
{
	struct qfile_error qe;

	if (!m->unsynced)
		return;
	if (qfile_sync(m->qf, &qe) < 0)
		msg_warn("%s: %s", m->qid, qe.text);
	m->unsynced = false;
}

/* qmgr_msg_set_dsn - parse dsn into st (bad: 4.0.0 or 5.0.0 by state) */
static void qmgr_msg_set_dsn(struct qfile_rstatus *st, const char *dsn, unsigned dflt)
{
	if (qmgr_dsn_parse(dsn, &st->dsn_class, &st->dsn_subject, &st->dsn_detail) < 0) {
		st->dsn_class = dflt;
		st->dsn_subject = st->dsn_detail = 0;
	}
}

/*
 * qmgr_msg_adopt_final - an agent recorded recipient i as final in the file
 * but its reply was lost (killed after the fsync): take the slot's word
 * for it, never the deferral qmgr was about to write over it. true when so.
 */
static bool qmgr_msg_adopt_final(struct qmgr_msg *m, size_t i)
{
	const struct qfile_rstatus *fs = &m->qf->rcpts[i].status;
	struct qfile_error qe;

	if (qfile_rcpt_reread(m->qf, i, &qe) < 0) {
		msg_warn("%s: %s", m->qid, qe.text);
		return false;
	}
	if (fs->state != QFILE_DELIVERED && fs->state != QFILE_BOUNCED)
		return false;
	m->st[i] = *fs;
	msg_info("%s: <%s>: %s by the delivery agent before its reply was lost", m->qid,
		 m->qf->rcpts[i].addr, fs->state == QFILE_DELIVERED ? "delivered" : "bounced");
	if (fs->state == QFILE_BOUNCED)
		qmgr_msg_reason(m, "bounce", i, "5.0.0", "none",
				"delivery failed permanently (the reason was lost with the agent)");
	return true;
}

/* qmgr_msg_rcpt_deferred - recipient i failed for now; qmgr records it */
void qmgr_msg_rcpt_deferred(struct qmgr_msg *m, size_t i, const char *dsn, const char *relay,
			    const char *text, bool log_it)
{
	struct qfile_rstatus *st = &m->st[i];

	if (qmgr_msg_adopt_final(m, i))
		return;
	st->state = QFILE_DEFERRED;
	if (st->attempts < 65535)
		st->attempts++;
	qmgr_msg_set_dsn(st, dsn, 4);
	st->time = time(NULL);
	/* an agent whose request timed out may still write this slot: leave it to the agent */
	if (!qmgr_lock_busy(m->qf->fd))
		qmgr_msg_write_slot(m, i);
	else
		qmgr_fresh_taint(m->qid);	/* the slot may still look untried */
	if (log_it)
		qmgr_log_rcpt(m, i, relay, dsn, "deferred", text);
	qmgr_msg_reason(m, "defer", i, dsn, relay, text);
	free(m->last_reason);
	m->last_reason = xstrdup(text);
	str_copy(m->last_dsn, dsn, sizeof(m->last_dsn));
}

static bool qmgr_msg_wants(const struct qmgr_msg *m, size_t i, unsigned bit, bool by_default);

/* qmgr_msg_rcpt_final - the agent delivered or bounced recipient i (slot written by it) */
void qmgr_msg_rcpt_final(struct qmgr_msg *m, size_t i, bool delivered, const char *dsn,
			 const char *relay, const char *text)
{
	struct qfile_rstatus *st = &m->st[i];

	st->state = delivered ? QFILE_DELIVERED : QFILE_BOUNCED;
	qmgr_msg_set_dsn(st, dsn, delivered ? 2 : 5);
	st->time = time(NULL);
	/* failures, and successes to be reported (where and how the notice says) */
	if (!delivered || qmgr_msg_wants(m, i, QFILE_NOTIFY_SUCCESS, false))
		qmgr_msg_reason(m, "bounce", i, dsn, relay, text);
}

/* qmgr_msg_final - true when recipient i is delivered or bounced */
static bool qmgr_msg_final(const struct qmgr_msg *m, size_t i)
{
	return m->st[i].state == QFILE_DELIVERED || m->st[i].state == QFILE_BOUNCED;
}

/* qmgr_msg_left - recipients not final */
static size_t qmgr_msg_left(const struct qmgr_msg *m)
{
	size_t n = 0;

	for (size_t i = 0; i < m->qf->nrcpts; i++)
		n += !qmgr_msg_final(m, i);
	return n;
}

/* qmgr_msg_free - forget the message (the file stays where it is) */
static void qmgr_msg_free(struct qmgr_msg *m)
{
	if (m->prev)
		m->prev->next = m->next;
	else
		qmgr.msgs = m->next;
	if (m->next)
		m->next->prev = m->prev;
	qfile_close(m->qf);
	free(m->st);
	free(m->last_reason);
	free(m->action_reason);
	free(m);
	qmgr.nactive--;
	qmgr_kick_scan();
}

/*
 * qmgr_msg_remove - every recipient final, notices sent: remove everything
 * (reason files first: a crash in between leaves the queue file, whose
 * next activation is not fresh and removes them again)
 */
static void qmgr_msg_remove(struct qmgr_msg *m)
{
	char path[QID_SIZE + 16];
	struct qfile_error qe;

	if (m->side) {
		str_fmt(path, sizeof(path), "defer/%s", m->qid);
		(void) unlink(path);
		str_fmt(path, sizeof(path), "bounce/%s", m->qid);
		(void) unlink(path);
	}
	if (qfile_retire(qmgr.recycle, m->path, m->qf->file_size, &qe) < 0) {	/* reuse the inode */
		msg_warn("%s: %s", m->qid, qe.text);
		return;
	}
	qmgr_fresh_forget(m->qid);
	msg_info("%s: removed", m->qid);
}

/* qmgr_msg_backoff - the wait before the next attempt */
static long long qmgr_msg_backoff(unsigned attempts)
{
	long long b = qmgr.p.min_backoff;

	for (unsigned i = 1; i < attempts && b < qmgr.p.max_backoff; i++)
		b *= 2;
	return b < qmgr.p.max_backoff ? b : qmgr.p.max_backoff;
}

/* qmgr_msg_defer - to deferred/ with the next attempt time */
static void qmgr_msg_defer(struct qmgr_msg *m, size_t left)
{
	struct qfile_sched s = m->qf->sched;
	struct qfile_error qe;
	long long now = time(NULL), next, expire = m->qf->arrival_sec + qmgr.p.max_lifetime;

	if (s.attempts < 0xffffffffu)
		s.attempts++;
	s.last_attempt = now;
	next = now + (left ? qmgr_msg_backoff(s.attempts) : qmgr.p.min_backoff);
	if (left && next > expire)
		next = expire > now ? expire : now + 1;
	s.next_attempt = next;
	if (qfile_sched_update(m->qf, &s, &qe) < 0) {
		/* attempts stays 0 on disk: a requeue to incoming/ must not look fresh */
		msg_warn("%s: %s", m->qid, qe.text);
		qmgr_fresh_taint(m->qid);
	}
	m->unsynced = true;
	qmgr_msg_sync(m);
	qmgr_msg_set_time(m->qf->fd, m->qid, next);
	if (qmgr_msg_move(m->qid, "active", "deferred") < 0)
		msg_warn("%s: move to deferred: %s", m->qid, strerror(errno));
	qmgr_scan_timer_at(next);
}

/* qmgr_msg_act - finish with the requested action, once no agent holds the file */
static void qmgr_msg_act(struct qmgr_msg *m)
{
	char qid[QID_SIZE];
	enum qmgr_action a = m->action;
	char *reason = m->action_reason;
	bool busy = qmgr_lock_busy(m->qf->fd);

	qmgr_msg_sync(m);
	str_copy(qid, m->qid, sizeof(qid));
	m->action_reason = NULL;
	qmgr_msg_free(m);
	if (busy)
		qmgr_wait_add(qid, a, reason);
	else
		qmgr_control_apply(qid, a, reason);
	free(reason);
}

/* qmgr_msg_finish - all replies are in: remove or defer (or the requested action) */
static void qmgr_msg_finish(struct qmgr_msg *m)
{
	size_t left = qmgr_msg_left(m);

	/* a held or requeued message that is done anyway is removed as usual */
	if (m->action == QMGR_ACT_DELETE || (m->action != QMGR_ACT_NONE && (left || m->notice_failed))) {
		qmgr_msg_act(m);
		return;
	}
	if (left == 0 && !m->notice_failed) {
		/* the agents' final slots are fsync'ed by them; only qmgr's own writes need it */
		qmgr_msg_sync(m);
		qmgr_msg_remove(m);
	} else {
		qmgr_msg_defer(m, left);
	}
	qmgr_msg_free(m);
}

/* qmgr_msg_expire - bounce what is left after maximal_queue_lifetime */
static void qmgr_msg_expire(struct qmgr_msg *m)
{
	char text[1200];
	const char *dsn = m->last_dsn[0] ? m->last_dsn : "4.4.7";

	if (m->last_reason)
		str_fmt(text, sizeof(text), "message too old: not delivered within %llds "
			"(maximal_queue_lifetime); last problem: %.1000s", qmgr.p.max_lifetime,
			m->last_reason);
	else
		str_fmt(text, sizeof(text), "message too old: not delivered within %llds "
			"(maximal_queue_lifetime)", qmgr.p.max_lifetime);
	for (size_t i = 0; i < m->qf->nrcpts; i++) {

		if (qmgr_msg_final(m, i))
			continue;
		m->st[i].state = QFILE_BOUNCED;
		qmgr_msg_set_dsn(&m->st[i], dsn, 4);
		m->st[i].time = time(NULL);
		qmgr_msg_write_slot(m, i);
		qmgr_msg_reason(m, "bounce", i, dsn, "none", text);
		qmgr_log_rcpt(m, i, "none", dsn, "expired, returned to sender", text);
	}
}

/* qmgr_msg_wants - does recipient i's NOTIFY ask for this kind (0: default) */
static bool qmgr_msg_wants(const struct qmgr_msg *m, size_t i, unsigned bit, bool by_default)
{
	unsigned notify = m->qf->rcpts[i].notify;

	if (notify & QFILE_NOTIFY_NEVER)
		return false;
	return notify == 0 ? by_default : (notify & bit) != 0;
}

/* qmgr_msg_notify - send what is owed (m->notices counts them); returns how many */
static int qmgr_msg_notify(struct qmgr_msg *m, size_t left)
{
	size_t n = m->qf->nrcpts, nf = 0, ns = 0, nd = 0;
	size_t *f = xcalloc(n, sizeof(size_t)), *s = xcalloc(n, sizeof(size_t)),
	    *d = xcalloc(n, sizeof(size_t));
	const char *kind = qfile_attr(m->qf, QFILE_A_DSN_KIND, NULL);
	bool null_sender = m->qf->sender[0] == 0, dbl = kind && strcmp(kind, "double") == 0;
	long long age = time(NULL) - m->qf->arrival_sec;
	bool delay_due = left && qmgr.p.delay_warning > 0 && age >= qmgr.p.delay_warning &&
	    !(m->qf->sched.flags & QFILE_SCHED_DELAY_WARNED);
	int sent = 0;

	for (size_t i = 0; i < n; i++) {
		const struct qfile_rstatus *st = &m->st[i];

		if (st->state == QFILE_BOUNCED && !(st->flags & QFILE_RS_NOTIFIED) &&
		    qmgr_msg_wants(m, i, QFILE_NOTIFY_FAILURE, true))
			f[nf++] = i;
		else if (st->state == QFILE_DELIVERED && !(st->flags & QFILE_RS_NOTIFIED) &&
			 qmgr_msg_wants(m, i, QFILE_NOTIFY_SUCCESS, false))
			s[ns++] = i;
		else if (delay_due && !qmgr_msg_final(m, i) && !(st->flags & QFILE_RS_DELAY_WARNED) &&
			 qmgr_msg_wants(m, i, QFILE_NOTIFY_DELAY, true))
			d[nd++] = i;
	}
	if (dbl && nf) {
		msg_info("%s: undeliverable postmaster notification discarded", m->qid);
		nf = 0;
	}
	if (dbl || null_sender)
		ns = nd = 0;
	if (nf) {
		m->notices++;
		sent++;
		qmgr_bounce_request(m, BOUNCE_OP_FAILURE, f, nf, null_sender);
	}
	if (ns) {
		m->notices++;
		sent++;
		qmgr_bounce_request(m, BOUNCE_OP_SUCCESS, s, ns, false);
	}
	if (nd) {
		m->notices++;
		sent++;
		qmgr_bounce_request(m, BOUNCE_OP_DELAY, d, nd, false);
	}
	free(f);
	free(s);
	free(d);
	return sent;
}

/* qmgr_msg_done - no entry outstanding: expire, notify, then finish */
static void qmgr_msg_done(struct qmgr_msg *m)
{
	size_t left = qmgr_msg_left(m);

	if (m->action == QMGR_ACT_DELETE) {
		qmgr_msg_finish(m);	/* no expiry, no notices: it is deleted */
		return;
	}
	if (left && time(NULL) - m->qf->arrival_sec >= qmgr.p.max_lifetime) {
		qmgr_msg_expire(m);
		left = 0;
	}
	m->notices = 1;			/* held while the requests go out */
	qmgr_msg_notify(m, left);
	if (--m->notices == 0)
		qmgr_msg_finish(m);
}

/* qmgr_msg_unref - an entry of m is over */
void qmgr_msg_unref(struct qmgr_msg *m)
{
	if (--m->refs == 0)
		qmgr_msg_done(m);
}

/* qmgr_msg_find - the active message qid, or NULL */
struct qmgr_msg *qmgr_msg_find(const char *qid)
{
	for (struct qmgr_msg *m = qmgr.msgs; m; m = m->next)
		if (strcmp(m->qid, qid) == 0)
			return m;
	return NULL;
}

/*
 * qmgr_msg_request - delete, hold or requeue m instead of its next
 * attempt: waiting deliveries are dropped now, the action runs when the
 * requests in flight and notices have answered (a delete wins over the rest)
 */
void qmgr_msg_request(struct qmgr_msg *m, enum qmgr_action a, const char *reason)
{
	if (m->action != QMGR_ACT_DELETE) {
		m->action = a;
		free(m->action_reason);
		m->action_reason = reason ? xstrdup(reason) : NULL;
	}
	m->refs++;			/* m must outlive the drop */
	qmgr_deliver_drop(m);
	qmgr_msg_unref(m);
}

/* qmgr_msg_notice_done - bounce answered one request (ok false: failed, retry later) */
void qmgr_msg_notice_done(struct qmgr_msg *m, const char *op, const size_t *idx, size_t n,
			  bool ok)
{
	bool delay = strcmp(op, BOUNCE_OP_DELAY) == 0;

	if (ok) {
		for (size_t k = 0; k < n; k++) {
			m->st[idx[k]].flags |= delay ? QFILE_RS_DELAY_WARNED : QFILE_RS_NOTIFIED;
			qmgr_msg_write_slot(m, idx[k]);
		}
		if (delay) {
			struct qfile_sched s = m->qf->sched;
			struct qfile_error qe;

			s.flags |= QFILE_SCHED_DELAY_WARNED;
			m->unsynced = true;
			if (qfile_sched_update(m->qf, &s, &qe) < 0)
				msg_warn("%s: %s", m->qid, qe.text);
		}
	} else if (!delay) {
		m->notice_failed = true;	/* keep the file: the notice is owed */
	}
	if (--m->notices == 0)
		qmgr_msg_finish(m);
}

/* qmgr_msg_quarantine - a file that fails validation goes to corrupt/ */
static void qmgr_msg_quarantine(const char *qid, const char *why)
{
	if (qmgr_msg_move(qid, "active", "corrupt") < 0)
		msg_warn("%s: move to corrupt: %s", qid, strerror(errno));
	else
		msg_warn("%s: moved to corrupt: %s", qid, why);
}

/* qmgr_msg_unreadable - cannot open it now (EACCES, EMFILE...): back to deferred, later */
static void qmgr_msg_unreadable(const char *qid, const char *why)
{
	char path[QID_SIZE + 16];
	long long next = time(NULL) + qmgr.p.min_backoff;
	struct timespec ts[2] = {{(time_t) next, 0}, {(time_t) next, 0}};

	msg_warn("%s: %s; trying again later", qid, why);
	str_fmt(path, sizeof(path), "active/%s", qid);
	if (utimensat(AT_FDCWD, path, ts, 0) < 0 || qmgr_msg_move(qid, "active", "deferred") < 0)
		msg_warn("%s: move to deferred: %s", qid, strerror(errno));
	qmgr_scan_timer_at(next);
}

/* qmgr_msg_release_time - the release_time attribute, or 0 */
static long long qmgr_msg_release_time(const struct qfile *qf)
{
	const char *v = qfile_attr(qf, QMGR_RELEASE_TIME, NULL);
	long long t;

	if (v == NULL || str_to_ll(v, 0, QFILE_TIME_MAX, &t) < 0)
		return 0;
	return t;
}

/*
 * qmgr_msg_hold_route - transport_maps sends recipient i to "hold:reason":
 * the whole message goes to hold/ (what was queued for others is dropped
 * again by qmgr_msg_request once activation is over)
 */
static void qmgr_msg_hold_route(struct qmgr_msg *m, size_t i, const char *reason)
{
	char text[1200];

	str_fmt(text, sizeof(text), "transport_maps: <%.500s>: %.600s", m->qf->rcpts[i].addr,
		reason[0] ? reason : "held");
	m->action = QMGR_ACT_HOLD;
	free(m->action_reason);
	m->action_reason = xstrdup(text);
}

/* qmgr_msg_route - resolve and queue every recipient that is not final */
static void qmgr_msg_route(struct qmgr_msg *m)
{
	for (size_t i = 0; i < m->qf->nrcpts; i++) {
		struct resolve_result rr;
		char err[512];

		if (qmgr_msg_final(m, i))
			continue;
		if (resolve_addr(qmgr.resolve, m->qf->rcpts[i].addr, &rr, err, sizeof(err)) < 0) {
			char text[600];

			str_fmt(text, sizeof(text), "address resolution failed: %.500s", err);
			qmgr_msg_rcpt_deferred(m, i, "4.3.0", "none", text, true);
			continue;
		}
		if (strcmp(rr.transport, QMGR_HOLD_TRANSPORT) == 0) {
			qmgr_msg_hold_route(m, i, rr.nexthop);
			return;
		}
		qmgr_deliver_add(m, &rr, i);
	}
}

/* qmgr_msg_activate - bring a message into the active queue; see the top */
void qmgr_msg_activate(const char *qid, const char *from_dir)
{
	char path[QID_SIZE + 16];
	struct qfile_error qe;
	struct qfile *qf;
	struct qmgr_msg *m;
	long long release;
	bool fresh;

	if (strcmp(from_dir, "active") != 0 && qmgr_msg_move(qid, from_dir, "active") < 0) {
		if (errno != ENOENT)
			msg_warn("%s: move %s to active: %s", qid, from_dir, strerror(errno));
		return;
	}
	str_fmt(path, sizeof(path), "active/%s", qid);
	if ((qf = qfile_open(path, QFILE_OPEN_RDWR, &qe)) == NULL) {
		if (qe.kind == QFILE_ERR_SYSTEM && qe.errnum == ENOENT)
			return;			/* removed meanwhile (ternsuper) */
		if (qe.kind == QFILE_ERR_CORRUPT || qe.kind == QFILE_ERR_INCOMPLETE)
			qmgr_msg_quarantine(qid, qe.text);
		else
			qmgr_msg_unreadable(qid, qe.text);
		return;
	}
	fresh = qmgr_fresh(qid, from_dir, qf);
	if (!fresh && qmgr_lock_busy(qf->fd)) {
		/* an agent a killed qmgr started still works on it: never a second one */
		qfile_close(qf);
		qmgr_wait_add(qid, QMGR_ACT_NONE, NULL);
		return;
	}
	if ((release = qmgr_msg_release_time(qf)) > time(NULL)) {
		qmgr_msg_set_time(qf->fd, qid, release);
		qfile_close(qf);
		if (qmgr_msg_move(qid, "active", "timed") < 0)
			msg_warn("%s: move to timed: %s", qid, strerror(errno));
		else
			msg_info("%s: timed until %lld", qid, release);
		qmgr_scan_timer_at(release);
		return;
	}
	m = xcalloc(1, sizeof(*m));
	str_copy(m->qid, qid, sizeof(m->qid));
	str_copy(m->path, path, sizeof(m->path));
	m->qf = qf;
	m->side = !fresh;
	m->st = xcalloc(qf->nrcpts, sizeof(*m->st));
	for (size_t i = 0; i < qf->nrcpts; i++)
		m->st[i] = qf->rcpts[i].status;
	m->activated_us = qmgr_now_us();
	m->next = qmgr.msgs;
	if (qmgr.msgs)
		qmgr.msgs->prev = m;
	qmgr.msgs = m;
	qmgr.nactive++;
	msg_info("%s: from=<%s>, size=%llu, nrcpt=%zu (queue active)", qid, qf->sender,
		 (unsigned long long) qf->content_len, qf->nrcpts);
	m->refs = 1;			/* held while routing */
	qmgr_msg_route(m);
	qmgr_deliver_seal(m);
	if (m->action != QMGR_ACT_NONE)
		qmgr_deliver_drop(m);	/* held by transport_maps: nothing goes out */
	qmgr_msg_unref(m);		/* may finish it at once: all final */
}

/* qmgr_msg_matches_site - does deferred/QID have a recipient for site (nexthop or domain) */
bool qmgr_msg_matches_site(const char *qid, const char *site)
{
	char path[QID_SIZE + 16];
	struct qfile_error qe;
	struct qfile *qf;
	bool hit = false;

	str_fmt(path, sizeof(path), "deferred/%s", qid);
	if ((qf = qfile_open(path, 0, &qe)) == NULL)
		return false;
	for (size_t i = 0; i < qf->nrcpts && !hit; i++) {
		const struct qfile_rcpt *r = &qf->rcpts[i];
		const char *at = strrchr(r->addr, '@');
		struct resolve_result rr;
		char err[256];

		if (r->status.state == QFILE_DELIVERED || r->status.state == QFILE_BOUNCED)
			continue;
		if (at && str_eq_nocase(at + 1, site))
			hit = true;
		else if (resolve_addr(qmgr.resolve, r->addr, &rr, err, sizeof(err)) == 0 &&
			 str_eq_nocase(rr.nexthop, site))
			hit = true;
	}
	qfile_close(qf);
	return hit;
}

/* qmgr_msg_free_all - at exit: forget every message (files stay) */
void qmgr_msg_free_all(void)
{
	while (qmgr.msgs) {
		struct qmgr_msg *m = qmgr.msgs;

		qmgr.msgs = m->next;
		m->prev = NULL;
		m->next = NULL;
		qfile_close(m->qf);
		free(m->st);
		free(m->last_reason);
		free(m->action_reason);
		free(m);
	}
	qmgr.nactive = 0;
}
