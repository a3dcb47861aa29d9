/*
 * qmgr_control - queue files that delivery agents hold, and the control
 * requests of ternsuper (lib/mail/qmgr_proto.h).
 *
 * Locks: a delivery agent holds a shared flock(2) on the queue file while
 * it works on a request (deliver_agent.h). Before qmgr schedules a file
 * (from incoming/, deferred/, timed/, or active/ after a restart) and
 * before it deletes, holds or requeues one, it tries an exclusive lock
 * without waiting (qmgr_lock_busy) and lets go at once; only a fresh
 * file (qmgr_fresh.c: new since this qmgr started, never deferred, held
 * or requeued) is scheduled without the test, as no agent can hold it. A busy file
 * stays in active/ and goes on the wait list: every QMGR_WAIT_RETRY
 * seconds qmgr tries it again, and when the lock is gone it activates
 * the file (final recipients are not delivered again) or carries out the
 * action requested for it. Each file is logged once when it starts to
 * wait. This is how a qmgr restarted after a SIGKILL, or one whose
 * request to an agent timed out, keeps from handing a message to a
 * second agent while the first still delivers it.
 *
 * Control: qmgr listens on private/qmgr-control (mode 0600 in the
 * mail_owner-only private/; the peer must be root or qmgr's own uid).
 * A request names an action and queue ids; for each id qmgr answers
 * "done", "pending" (the action waits for the agent) or "absent" (not in
 * active/: ternsuper renames or removes the file itself). An action on a
 * message qmgr is working on drops its waiting deliveries at once and
 * takes effect when the requests in flight have answered.
 *
 * Failures: a control socket that cannot be made is logged and ternsuper
 * falls back to waiting on files; a bad request closes its connection.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/deliver_proto.h"
#include "mail/qmgr_proto.h"
#include "qmgr.h"

#define QMGR_WAIT_RETRY		2		/* seconds between lock tests of a waiting file */
#define QMGR_CTL_FRAME_MAX	(256 * 1024)	/* a request frame */
#define QMGR_CTL_TIMEOUT_MS	10000

/* qmgr_wait - a file in active/ that an agent holds */
struct qmgr_wait {
	char qid[QID_SIZE];
	enum qmgr_action action;
	char *reason;
	struct qmgr_wait *next;
};

static struct qmgr_wait *qmgr_waits;
static struct event *qmgr_wait_ev;
static int qmgr_ctl_fd = -1;
static struct event *qmgr_ctl_ev;

/* qmgr_lock_busy - does some other process (an agent) hold a lock on fd's file */
bool qmgr_lock_busy(int fd)
{
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		return errno == EWOULDBLOCK;
	if (flock(fd, LOCK_UN) < 0)
		msg_warn("unlock a queue file: %s", strerror(errno));
	return false;
}

/* qmgr_action_name - for logs */
static const char *qmgr_action_name(enum qmgr_action a)
{
	return a == QMGR_ACT_DELETE ? "delete" : a == QMGR_ACT_HOLD ? "hold" :
	    a == QMGR_ACT_REQUEUE ? "requeue" : "delivery";
}

/* qmgr_wait_find - the wait entry of qid, or NULL */
static struct qmgr_wait *qmgr_wait_find(const char *qid)
{
	for (struct qmgr_wait *w = qmgr_waits; w; w = w->next)
		if (strcmp(w->qid, qid) == 0)
			return w;
	return NULL;
}

/* qmgr_wait_arm - make sure the retry timer runs */
static void qmgr_wait_arm(void)
{
	struct timeval tv = {QMGR_WAIT_RETRY, 0};

	if (qmgr_waits && qmgr_wait_ev && !evtimer_pending(qmgr_wait_ev, NULL))
		evtimer_add(qmgr_wait_ev, &tv);
}

/* qmgr_wait_add - active/qid is locked by an agent: try again later (a, reason: then do that) */
void qmgr_wait_add(const char *qid, enum qmgr_action a, const char *reason)
{
	struct qmgr_wait *w = qmgr_wait_find(qid);

	if (w == NULL) {
		w = xcalloc(1, sizeof(*w));
		str_copy(w->qid, qid, sizeof(w->qid));
		w->next = qmgr_waits;
		qmgr_waits = w;
		msg_info("%s: queue file is locked by a delivery agent; %s waits until it is done",
			 qid, qmgr_action_name(a));
	}
	if (a != QMGR_ACT_NONE && w->action != QMGR_ACT_DELETE) {
		w->action = a;
		free(w->reason);
		w->reason = reason ? xstrdup(reason) : NULL;
	}
	qmgr_wait_arm();
}

/* qmgr_file_busy - open active/qid and test its lock: 1 busy, 0 free, -1 gone (errno) */
static int qmgr_file_busy(const char *qid)
{
	char path[QID_SIZE + 16];
	int fd, busy;

	str_fmt(path, sizeof(path), "active/%s", qid);
	if ((fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
		return -1;
	busy = qmgr_lock_busy(fd);
	close(fd);
	return busy ? 1 : 0;
}

/* qmgr_wait_retry - test every waiting file again */
static void qmgr_wait_retry(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr_wait **pp = &qmgr_waits, *ready = NULL;

	(void) fd;
	(void) what;
	(void) arg;
	while (*pp) {
		struct qmgr_wait *w = *pp;
		int busy = qmgr_file_busy(w->qid);

		if (busy == 1) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		if (busy < 0) {
			if (errno != ENOENT)
				msg_warn("%s: open active/%s: %s", w->qid, w->qid, strerror(errno));
			free(w->reason);
			free(w);
			continue;
		}
		w->next = ready;
		ready = w;
	}
	/* act after the walk: activation may add to the list again */
	while (ready) {
		struct qmgr_wait *w = ready;

		ready = w->next;
		if (w->action != QMGR_ACT_NONE)
			qmgr_control_apply(w->qid, w->action, w->reason);
		else
			qmgr_msg_activate(w->qid, "active");
		free(w->reason);
		free(w);
	}
	qmgr_wait_arm();
}

/* qmgr_control_apply - do a to active/qid now (no agent holds it, qmgr does not schedule it) */
void qmgr_control_apply(const char *qid, enum qmgr_action a, const char *reason)
{
	char from[QID_SIZE + 16], to[QID_SIZE + 16];

	str_fmt(from, sizeof(from), "active/%s", qid);
	switch (a) {
	case QMGR_ACT_DELETE:
		str_fmt(to, sizeof(to), "defer/%s", qid);
		(void) unlink(to);
		str_fmt(to, sizeof(to), "bounce/%s", qid);
		(void) unlink(to);
		if (unlink(from) < 0) {
			msg_warn("%s: remove %s: %s", qid, from, strerror(errno));
			return;
		}
		qmgr_fresh_forget(qid);
		msg_info("%s: removed", qid);
		return;
	case QMGR_ACT_HOLD:
		/* its reason files stay, and a requeue may bring it to incoming/ */
		qmgr_fresh_taint(qid);
		str_fmt(to, sizeof(to), "hold/%s", qid);
		if (rename(from, to) < 0)
			msg_warn("%s: move to hold: %s", qid, strerror(errno));
		else
			msg_info("%s: placed on hold%s%s", qid, reason ? ": " : "", reason ? reason : "");
		return;
	case QMGR_ACT_REQUEUE:
		qmgr_fresh_taint(qid);
		str_fmt(to, sizeof(to), "incoming/%s", qid);
		if (rename(from, to) < 0) {
			msg_warn("%s: move to incoming: %s", qid, strerror(errno));
			return;
		}
		msg_info("%s: requeued", qid);
		qmgr_scan_request("incoming", false, NULL);
		return;
	case QMGR_ACT_NONE:
		break;
	}
}

/* qmgr_control_one - one queue id of a request: its result */
static const char *qmgr_control_one(enum qmgr_action a, const char *qid)
{
	struct qmgr_msg *m;
	int busy;

	if ((m = qmgr_msg_find(qid)) != NULL) {
		msg_info("%s: %s requested; it takes effect when its deliveries in progress end", qid,
			 qmgr_action_name(a));
		qmgr_msg_request(m, a, "requested by ternsuper");
		return qmgr_msg_find(qid) || qmgr_wait_find(qid) ? QMGR_CTL_PENDING : QMGR_CTL_DONE;
	}
	if (qmgr_wait_find(qid) != NULL) {
		qmgr_wait_add(qid, a, "requested by ternsuper");
		return QMGR_CTL_PENDING;
	}
	if ((busy = qmgr_file_busy(qid)) < 0) {
		if (errno != ENOENT)
			msg_warn("%s: open active/%s: %s", qid, qid, strerror(errno));
		return QMGR_CTL_ABSENT;
	}
	if (busy) {
		qmgr_wait_add(qid, a, "requested by ternsuper");
		return QMGR_CTL_PENDING;
	}
	qmgr_control_apply(qid, a, "requested by ternsuper");
	return QMGR_CTL_DONE;
}

/* qmgr_ctl_on_frame - a request: act on each id and answer */
static void qmgr_ctl_on_frame(struct ipc_conn *conn, const struct attr_list *frame, void *arg)
{
	struct attr_list reply;
	const char *op = "";
	enum qmgr_action a;
	size_t n = 0;

	(void) arg;
	attr_list_init(&reply);
	attr_get_str(frame, QMGR_CTL_OP, &op);
	a = strcmp(op, QMGR_CTL_OP_DELETE) == 0 ? QMGR_ACT_DELETE :
	    strcmp(op, QMGR_CTL_OP_HOLD) == 0 ? QMGR_ACT_HOLD :
	    strcmp(op, QMGR_CTL_OP_REQUEUE) == 0 ? QMGR_ACT_REQUEUE : QMGR_ACT_NONE;
	for (const struct attr *id = NULL; (id = attr_find(frame, QMGR_CTL_QUEUE_ID, id)) != NULL; )
		if (id->type != ATTR_STR || !qid_valid(id->value) || ++n > QMGR_CTL_IDS_MAX)
			a = QMGR_ACT_NONE;
	if (a == QMGR_ACT_NONE) {
		msg_warn("control request with a bad operation or queue id refused");
		attr_add_str(&reply, DELIVER_STATUS, "error");
		attr_add_str(&reply, DELIVER_TEXT, "bad operation or queue id");
	} else {
		attr_add_str(&reply, DELIVER_STATUS, "ok");
		for (const struct attr *id = NULL; (id = attr_find(frame, QMGR_CTL_QUEUE_ID, id)) != NULL; )
			attr_add_str(&reply, QMGR_CTL_RESULT, qmgr_control_one(a, id->value));
	}
	if (ipc_conn_send(conn, &reply) < 0)
		msg_warn("control request: the reply could not be sent");
	attr_list_free(&reply);
	ipc_conn_finish(conn);
}

/* qmgr_ctl_on_close - the connection is over */
static void qmgr_ctl_on_close(struct ipc_conn *conn, const char *reason, void *arg)
{
	(void) arg;
	if (reason)
		msg_warn("control connection: %s", reason);
	ipc_conn_free(conn);
}

/* qmgr_ctl_on_accept - a ternsuper connects: root or our own uid only */
static void qmgr_ctl_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct ipc_conn *conn;
	uid_t uid = (uid_t) -1;
	int fd;

	(void) what;
	(void) arg;
	if ((fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK)) < 0)
		return;
	if (ipc_peer_uid(fd, &uid, NULL, NULL) < 0 || (uid != 0 && uid != geteuid())) {
		msg_warn("control connection from uid %ld refused: only root and mail_owner",
			 (long) uid);
		close(fd);
		return;
	}
	conn = ipc_conn_new(qmgr.base, fd, QMGR_CTL_FRAME_MAX, qmgr_ctl_on_frame, qmgr_ctl_on_close,
			    NULL);
	ipc_conn_set_timeout(conn, QMGR_CTL_TIMEOUT_MS, QMGR_CTL_TIMEOUT_MS);
}

/* qmgr_control_init - the wait timer and the control socket */
void qmgr_control_init(void)
{
	qmgr_wait_ev = evtimer_new(qmgr.base, qmgr_wait_retry, NULL);
	if ((qmgr_ctl_fd = ipc_listen_unix(QMGR_CTL_SOCKET, 0600)) < 0) {
		msg_warn("listen on %s: %s; ternsuper will wait for deliveries to end instead",
			 QMGR_CTL_SOCKET, strerror(errno));
		return;
	}
	qmgr_ctl_ev = event_new(qmgr.base, qmgr_ctl_fd, EV_READ | EV_PERSIST, qmgr_ctl_on_accept, NULL);
	event_add(qmgr_ctl_ev, NULL);
}

/* qmgr_control_free - at exit */
void qmgr_control_free(void)
{
	while (qmgr_waits) {
		struct qmgr_wait *w = qmgr_waits;

		qmgr_waits = w->next;
		free(w->reason);
		free(w);
	}
	if (qmgr_wait_ev)
		event_free(qmgr_wait_ev);
	if (qmgr_ctl_ev)
		event_free(qmgr_ctl_ev);
	if (qmgr_ctl_fd >= 0)
		close(qmgr_ctl_fd);
	qmgr_wait_ev = qmgr_ctl_ev = NULL;
	qmgr_ctl_fd = -1;
}
