/*
 * smtpd_cleanup - smtpd's side of cleanup_proto.h: connections to
 * cleanup, shared by the sessions of one process.
 *
 * A message takes a connection (smtpd_cleanup_get), sends the BEGIN
 * frame (asking for the EARLY frame, early_qid=1) and content chunks
 * without waiting, gets the EARLY frame (to smtpd_data_early, which logs
 * "QID: client=..."), sends "end" and gets one RESULT, which goes to
 * smtpd_data_result; or it sends ABORT (no RESULT comes). Only "end"
 * waits for the EARLY frame (a message whose content is complete before
 * cleanup answered the BEGIN frame keeps "end" back until then): cleanup
 * cannot commit the file before it has "end", so the client= line is in
 * the log before qmgr can see the message and log its from=, size=.
 * Either way the connection then goes back to a small per-process pool
 * and carries the next message of any session, so a busy process does
 * not connect once per message. An idle pooled connection is closed
 * after SMTPD_POOL_IDLE_MS, letting cleanup processes retire.
 *
 * Invariants: a connection belongs to at most one session (c->sess) at
 * a time and is in the pool only when it belongs to none; a frame from
 * cleanup is accepted only as the EARLY frame that is due, or after
 * "end"; the EARLY frame of a message aborted before it came is skipped
 * (c->skip_early counts them: they arrive before anything of a later
 * message on the connection); a pooled connection that cleanup closed is
 * noticed before reuse.
 *
 * Failures: connect failure is returned to the caller (451 4.3.0); a
 * connection that breaks under a message calls smtpd_data_lost; a frame
 * at the wrong time closes the connection with a warning.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "smtpd.h"

/*
 * Idle connections kept per process: at least as many as messages a busy
 * process has in flight at once, or connections are closed and opened
 * again all the time (16 against 20 busy sessions: a reconnect every 8
 * messages, ~10 system calls each on this side alone). Idle ones still
 * close after SMTPD_POOL_IDLE_MS.
 */
#define SMTPD_POOL_MAX		64
#define SMTPD_POOL_IDLE_MS	(60 * 1000)	/* an idle one is closed after this */
#define SMTPD_CONNECT_MS	5000		/* connect to cleanup (a local socket) */

struct smtpd_cleanup {
	struct smtpd_server *srv;
	struct ipc_conn *conn;
	struct smtpd_session *sess;	/* owner while a message is under way */
	struct smtpd_cleanup *next;	/* pool link */
	struct ipc_stream stream;
	bool early_due;			/* BEGIN asked for the EARLY frame; it has not come yet */
	bool end_held;			/* the content is complete; "end" waits for the EARLY frame */
	unsigned skip_early;		/* EARLY frames still to come for aborted messages */
	bool ended;			/* "end" sent: the RESULT is due */
	bool pooled;
};

/* smtpd_cleanup_unpool - take c out of the pool list */
static void smtpd_cleanup_unpool(struct smtpd_cleanup *c)
{
	struct smtpd_cleanup **pp;

	if (!c->pooled)
		return;
	for (pp = &c->srv->pool; *pp != NULL; pp = &(*pp)->next) {
		if (*pp == c) {
			*pp = c->next;
			c->srv->npool--;
			break;
		}
	}
	c->pooled = false;
	c->next = NULL;
}

/* smtpd_cleanup_destroy - close and free (safe inside its callbacks) */
static void smtpd_cleanup_destroy(struct smtpd_cleanup *c)
{
	smtpd_cleanup_unpool(c);
	ipc_conn_free(c->conn);
	free(c);
}

/* smtpd_cleanup_send_end - the "end" frame now; from now on the RESULT is due */
static int smtpd_cleanup_send_end(struct smtpd_cleanup *c)
{
	if (ipc_conn_send_end(c->conn, &c->stream) < 0)
		return -1;
	c->ended = true;
	return 0;
}

/* smtpd_cleanup_early - the EARLY frame of s's message: log, then the held "end" */
static void smtpd_cleanup_early(struct smtpd_cleanup *c, struct smtpd_session *s, const struct attr_list *frame)
{
	c->early_due = false;
	if (!smtpd_data_early(s, frame))
		return;			/* the message failed: c was aborted or closed */
	if (c->end_held) {
		c->end_held = false;
		if (smtpd_cleanup_send_end(c) < 0) {
			c->sess = NULL;
			smtpd_data_lost(s, "cannot send the end of the message");
			smtpd_cleanup_destroy(c);
		}
	}
}

/* smtpd_cleanup_on_frame - an EARLY frame, a RESULT, or a protocol error */
static void smtpd_cleanup_on_frame(struct ipc_conn *conn, const struct attr_list *frame, void *arg)
{
	struct smtpd_cleanup *c = arg;
	struct smtpd_session *s = c->sess;

	(void) conn;
	if (c->skip_early > 0) {
		c->skip_early--;	/* of a message aborted before it came */
		return;
	}
	if (s != NULL && c->early_due) {
		smtpd_cleanup_early(c, s, frame);
		return;
	}
	if (s == NULL || !c->ended) {
		msg_warn("cleanup sent a frame %s; closing the connection",
			 s == NULL ? "on an idle connection" : "before the end of the message");
		c->sess = NULL;
		if (s != NULL)
			smtpd_data_lost(s, "protocol error");
		smtpd_cleanup_destroy(c);
		return;
	}
	c->ended = false;
	smtpd_data_result(s, frame);	/* releases or closes c */
}

/* smtpd_cleanup_on_close - cleanup closed, or the connection failed */
static void smtpd_cleanup_on_close(struct ipc_conn *conn, const char *reason, void *arg)
{
	struct smtpd_cleanup *c = arg;
	struct smtpd_session *s = c->sess;

	(void) conn;
	c->sess = NULL;
	if (s != NULL)
		smtpd_data_lost(s, reason ? reason : "connection closed by cleanup");
	smtpd_cleanup_destroy(c);
}

/* smtpd_cleanup_on_drain - everything queued was written */
static void smtpd_cleanup_on_drain(struct ipc_conn *conn, void *arg)
{
	struct smtpd_cleanup *c = arg;

	(void) conn;
	if (c->sess != NULL)
		smtpd_data_drained(c->sess);
}

/* smtpd_cleanup_alive - a pooled connection that cleanup has not closed */
static bool smtpd_cleanup_alive(struct smtpd_cleanup *c)
{
	char byte;
	int fd = ipc_conn_fd(c->conn);

	if (ipc_conn_is_closed(c->conn) || fd < 0)
		return false;
	/* EOF (0) or stray data (1) both disqualify it; so does an EARLY frame still to skip */
	return c->skip_early == 0 && recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) < 0
	    && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/* smtpd_cleanup_get - a connection for a new message of s */
struct smtpd_cleanup *smtpd_cleanup_get(struct smtpd_session *s, char *err, size_t errlen)
{
	struct smtpd_server *srv = s->srv;
	int ms = (int) (srv->g->ipc_timeout > 86400 ? 86400 : srv->g->ipc_timeout) * 1000;
	struct smtpd_cleanup *c;
	int fd;

	while ((c = srv->pool) != NULL) {
		smtpd_cleanup_unpool(c);
		if (smtpd_cleanup_alive(c))
			break;
		smtpd_cleanup_destroy(c);
	}
	if (c == NULL) {
		if ((fd = ipc_connect_unix(CLEANUP_SOCKET_PRIVATE, SMTPD_CONNECT_MS)) < 0) {
			str_fmt(err, errlen, "connect to %s: %s", CLEANUP_SOCKET_PRIVATE, strerror(errno));
			return NULL;
		}
		c = xcalloc(1, sizeof(*c));
		c->srv = srv;
		c->conn = ipc_conn_new(srv->base, fd, 0, smtpd_cleanup_on_frame, smtpd_cleanup_on_close, c);
		ipc_conn_set_drain(c->conn, smtpd_cleanup_on_drain);
	}
	c->sess = s;
	c->ended = false;
	c->early_due = false;
	c->end_held = false;
	ipc_stream_init(&c->stream);
	ipc_conn_set_timeout(c->conn, 0, ms);
	return c;
}

/* smtpd_cleanup_send - one frame (BEGIN); an EARLY frame is due when it asks for one */
int smtpd_cleanup_send(struct smtpd_cleanup *c, const struct attr_list *frame)
{
	int64_t early = 0;

	if (ipc_conn_send(c->conn, frame) < 0)
		return -1;
	c->early_due = attr_get_int(frame, CLEANUP_EARLY_QID, &early) && early == 1;
	return 0;
}

/* smtpd_cleanup_chunk - n content octets */
int smtpd_cleanup_chunk(struct smtpd_cleanup *c, const void *p, size_t n)
{
	return ipc_conn_send_chunk(c->conn, &c->stream, p, n);
}

/* smtpd_cleanup_end - the "end" frame (held until the EARLY frame came); then the RESULT is due */
int smtpd_cleanup_end(struct smtpd_cleanup *c)
{
	int ms = (int) (c->srv->g->ipc_timeout > 86400 ? 86400 : c->srv->g->ipc_timeout) * 1000;

	if (c->early_due)
		c->end_held = true;
	else if (smtpd_cleanup_send_end(c) < 0)
		return -1;
	ipc_conn_set_timeout(c->conn, ms, ms);
	return 0;
}

/* smtpd_cleanup_release - the message is done: keep the connection for the next */
void smtpd_cleanup_release(struct smtpd_cleanup *c)
{
	struct smtpd_server *srv = c->srv;

	c->sess = NULL;
	c->ended = false;
	c->end_held = false;
	if (c->early_due) {
		c->early_due = false;
		c->skip_early++;
	}
	if (srv->stopping || srv->npool >= SMTPD_POOL_MAX || ipc_conn_is_closed(c->conn)) {
		smtpd_cleanup_destroy(c);
		return;
	}
	ipc_conn_set_timeout(c->conn, SMTPD_POOL_IDLE_MS, 0);
	c->next = srv->pool;
	srv->pool = c;
	srv->npool++;
	c->pooled = true;
}

/* smtpd_cleanup_abort - give up the message: ABORT, then pool the connection */
void smtpd_cleanup_abort(struct smtpd_cleanup *c)
{
	struct attr_list l;
	int rc;

	if (c->ended) {
		/* too late to abort: the outcome is cleanup's */
		smtpd_cleanup_close(c);
		return;
	}
	c->end_held = false;		/* cleanup never saw "end": ABORT is still in time */
	attr_list_init(&l);
	attr_add_str(&l, CLEANUP_OP, CLEANUP_OP_ABORT);
	rc = ipc_conn_send(c->conn, &l);
	attr_list_free(&l);
	c->sess = NULL;
	if (rc < 0)
		smtpd_cleanup_destroy(c);
	else
		smtpd_cleanup_release(c);
}

/* smtpd_cleanup_close - drop the connection */
void smtpd_cleanup_close(struct smtpd_cleanup *c)
{
	c->sess = NULL;
	smtpd_cleanup_destroy(c);
}

/* smtpd_cleanup_pending - octets queued for cleanup */
size_t smtpd_cleanup_pending(const struct smtpd_cleanup *c)
{
	return ipc_conn_pending(c->conn);
}

/* smtpd_cleanup_pool_close - close every idle connection */
void smtpd_cleanup_pool_close(struct smtpd_server *srv)
{
	while (srv->pool != NULL)
		smtpd_cleanup_destroy(srv->pool);
}
