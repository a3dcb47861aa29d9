/*
 * qmgr_bounce - notice requests to private/bounce (deliver_proto.h).
 *
 * One request per connection, at most QMGR_BOUNCE_LIMIT at a time (the
 * rest wait in order). Each ends in qmgr_msg_notice_done with ok true
 * only when bounce answered "ok" (the notice is queued by cleanup);
 * anything else (no bounce service, an error reply, a lost connection)
 * is a failure and the message keeps its file so the notice is sent at
 * a later attempt.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/deliver_proto.h"
#include "qmgr.h"

#define QMGR_BOUNCE_LIMIT	20
#define QMGR_BOUNCE_SOCKET	"private/bounce"

/* qmgr_notice - one notice request */
struct qmgr_notice {
	struct qmgr_msg *msg;
	const char *op;			/* static BOUNCE_OP_* */
	size_t *idx;
	size_t n;
	bool to_postmaster;
	struct ipc_conn *conn;
	struct qmgr_notice *next;
};

static struct qmgr_notice *qmgr_bounce_head, *qmgr_bounce_tail;
static int qmgr_bounce_active;

static void qmgr_bounce_next(void);

/* qmgr_bounce_end - the request is over */
static void qmgr_bounce_end(struct qmgr_notice *nt, bool ok, const char *why)
{
	if (!ok)
		msg_warn("%s: %s notice not sent (will retry): %s", nt->msg->qid, nt->op, why);
	if (nt->conn)
		ipc_conn_free(nt->conn);
	qmgr_bounce_active--;
	qmgr_msg_notice_done(nt->msg, nt->op, nt->idx, nt->n, ok);
	free(nt->idx);
	free(nt);
	qmgr_bounce_next();
}

/* qmgr_bounce_on_frame - bounce's reply */
static void qmgr_bounce_on_frame(struct ipc_conn *conn, const struct attr_list *frame, void *arg)
{
	struct qmgr_notice *nt = arg;
	const char *status = "", *text = "error reply", *id = "?";
	char why[400];

	(void) conn;
	attr_get_str(frame, DELIVER_STATUS, &status);
	if (strcmp(status, "ok") == 0) {
		attr_get_str(frame, CLEANUP_QUEUE_ID, &id);
		msg_info("%s: sender %s notification: %s", nt->msg->qid, nt->op, id);
		qmgr_bounce_end(nt, true, NULL);
		return;
	}
	attr_get_str(frame, DELIVER_TEXT, &text);
	str_fmt(why, sizeof(why), "bounce: %.300s", text);
	qmgr_bounce_end(nt, false, why);
}

/* qmgr_bounce_on_close - no reply */
static void qmgr_bounce_on_close(struct ipc_conn *conn, const char *reason, void *arg)
{
	char why[400];

	(void) conn;
	str_fmt(why, sizeof(why), "lost connection with %s: %.300s", QMGR_BOUNCE_SOCKET,
		reason ? reason : "connection closed");
	qmgr_bounce_end(arg, false, why);
}

/* qmgr_bounce_start - connect and send (a failure ends the request at once) */
static void qmgr_bounce_start(struct qmgr_notice *nt)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct attr_list l;
	char why[300];
	int fd;

	qmgr_bounce_active++;
	str_copy(sun.sun_path, QMGR_BOUNCE_SOCKET, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
		str_fmt(why, sizeof(why), "connect to %s: %s", QMGR_BOUNCE_SOCKET, strerror(errno));
		if (fd >= 0)
			close(fd);
		qmgr_bounce_end(nt, false, why);
		return;
	}
	nt->conn = ipc_conn_new(qmgr.base, fd, 0, qmgr_bounce_on_frame, qmgr_bounce_on_close, nt);
	ipc_conn_set_timeout(nt->conn, qmgr.p.ipc_ms, qmgr.p.ipc_ms);
	attr_list_init(&l);
	attr_add_str(&l, DELIVER_OP, nt->op);
	attr_add_str(&l, DELIVER_QUEUE_ID, nt->msg->qid);
	attr_add_str(&l, DELIVER_QUEUE_FILE, nt->msg->path);
	for (size_t i = 0; i < nt->n; i++)
		attr_add_int(&l, DELIVER_RCPT_INDEX, (int64_t) nt->idx[i]);
	attr_add_int(&l, BOUNCE_POSTMASTER, nt->to_postmaster ? 1 : 0);
	if (ipc_conn_send(nt->conn, &l) < 0) {
		attr_list_free(&l);
		qmgr_bounce_end(nt, false, "request could not be sent");
		return;
	}
	attr_list_free(&l);
}

/* qmgr_bounce_next - start waiting requests while there is room */
static void qmgr_bounce_next(void)
{
	static bool running;		/* a failure at once must not recurse */

	if (running)
		return;
	running = true;
	while (qmgr_bounce_head && qmgr_bounce_active < QMGR_BOUNCE_LIMIT) {
		struct qmgr_notice *nt = qmgr_bounce_head;

		qmgr_bounce_head = nt->next;
		if (qmgr_bounce_head == NULL)
			qmgr_bounce_tail = NULL;
		nt->next = NULL;
		qmgr_bounce_start(nt);
	}
	running = false;
}

/* qmgr_bounce_request - ask bounce for a notice about recipients idx[n] of m */
void qmgr_bounce_request(struct qmgr_msg *m, const char *op, const size_t *idx, size_t n,
			 bool to_postmaster)
{
	struct qmgr_notice *nt = xcalloc(1, sizeof(*nt));

	nt->msg = m;
	nt->op = op;
	nt->idx = xmemdup(idx, n * sizeof(size_t));
	nt->n = n;
	nt->to_postmaster = to_postmaster;
	if (qmgr_bounce_tail)
		qmgr_bounce_tail->next = nt;
	else
		qmgr_bounce_head = nt;
	qmgr_bounce_tail = nt;
	qmgr_bounce_next();
}

/* qmgr_bounce_free - at exit: abandon waiting requests */
void qmgr_bounce_free(void)
{
	while (qmgr_bounce_head) {
		struct qmgr_notice *nt = qmgr_bounce_head;

		qmgr_bounce_head = nt->next;
		free(nt->idx);
		free(nt);
	}
	qmgr_bounce_tail = NULL;
}
