/*
 * pickup_client - one submission connection from sendmail (or any local
 * program speaking cleanup_proto.h), relayed to cleanup.
 *
 * Per message: the client's BEGIN frame is rewritten by pickup_begin
 * (the uid comes from SO_PEERCRED, taken when the connection arrived)
 * and sent on a cleanup connection of its own, opened for the first
 * message and reused for the next; the content chunks and the "end"
 * frame follow as they arrive; cleanup's RESULT goes back to the client
 * as it is. The client may send more messages on the connection.
 *
 * pickup asks cleanup for the queue id at once (early_qid, the EARLY
 * frame of cleanup_proto.h) and logs "QID: uid=N from=<sender>" when it
 * comes; the client's "end" goes to cleanup only after that, so the line
 * is in the log before qmgr can see the message (Postfix's order). An
 * EARLY error makes the message DISCARD (ABORT to cleanup) with that
 * reply; an EARLY frame of a message the client aborted first is skipped.
 *
 *   state     client frame          action
 *   IDLE      BEGIN                 to cleanup; DATA (DISCARD when
 *                                   cleanup cannot be reached)
 *   DATA      chunk                 to cleanup
 *   DATA      end                   to cleanup (held until the EARLY
 *                                   frame came); WAIT (reading paused)
 *   DATA/WAIT (cleanup's EARLY)     log uid=; send a held end; an
 *                                   error in DATA: ABORT, DISCARD
 *   DATA      op=abort              to cleanup; IDLE
 *   DISCARD   chunk                 dropped
 *   DISCARD   end                   error RESULT to the client; IDLE
 *   WAIT      (cleanup's RESULT)    to the client; IDLE
 *
 * cleanup going away in DATA means DISCARD with 451 4.3.0 (the client
 * learns it after its "end", as the protocol promises); in WAIT, a 451
 * RESULT at once. A malformed frame, a bad envelope, a frame in the
 * wrong state or a client idle for pickup_timeout closes the client's
 * connection; closing it closes the cleanup connection too, and cleanup
 * then removes a message it had not finished. Flow control: while more
 * than PICKUP_CLIENT_HIGH bytes wait to go to cleanup, the client is not
 * read.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/service.h"
#include "pickup.h"

#define PICKUP_CLIENT_HIGH	(1024 * 1024)

enum pickup_client_state { PC_IDLE, PC_DATA, PC_DISCARD, PC_WAIT };

/* pickup_client - one connection */
struct pickup_client {
	struct pickup *pk;
	struct ipc_conn *conn;		/* the client */
	struct ipc_conn *cleanup;	/* or NULL */
	uid_t uid;
	long pid;
	enum pickup_client_state state;
	bool flow_paused;
	bool early_due;			/* cleanup's EARLY frame for this message has not come */
	bool end_held;			/* the client's "end" waits for the EARLY frame */
	unsigned skip_early;		/* EARLY frames still to come for aborted messages */
	struct ipc_stream in, out;
	char *sender;			/* of the message in progress */
	int fail_code;			/* DISCARD: the RESULT to give */
	char fail_dsn[16];
	char fail_text[200];
	struct attr_list scratch;
};

/* pickup_client_read_update - read from the client unless waiting for cleanup */
static void pickup_client_read_update(struct pickup_client *pc)
{
	if (pc->conn != NULL)
		ipc_conn_read_enable(pc->conn, pc->state != PC_WAIT && !pc->flow_paused);
}

/* pickup_client_destroy - close everything and forget the connection */
static void pickup_client_destroy(struct pickup_client *pc)
{
	struct pickup *pk = pc->pk;

	if (pc->cleanup != NULL)
		ipc_conn_free(pc->cleanup);
	ipc_conn_free(pc->conn);
	attr_list_free(&pc->scratch);
	free(pc->sender);
	free(pc);
	service_conn_done(pk->svc);
}

/* pickup_client_error_result - send the client an error RESULT */
static void pickup_client_error_result(struct pickup_client *pc, int code, const char *dsn, const char *text)
{
	attr_list_reset(&pc->scratch);
	attr_add_str(&pc->scratch, CLEANUP_STATUS, CLEANUP_STATUS_ERROR);
	attr_add_int(&pc->scratch, CLEANUP_REPLY_CODE, code);
	attr_add_str(&pc->scratch, CLEANUP_REPLY_DSN, dsn);
	attr_add_str(&pc->scratch, CLEANUP_REPLY_TEXT, text);
	ipc_conn_send(pc->conn, &pc->scratch);
	msg_info("uid=%ld from=<%s>: not queued: %d %s %s", (long) pc->uid,
		 pickup_printable(pc->sender ? pc->sender : ""), code, dsn, text);
}

/* pickup_client_fail - the message cannot be taken: drop the rest of it, answer after its end */
static void pickup_client_fail(struct pickup_client *pc, int code, const char *dsn, const char *text)
{
	pc->state = PC_DISCARD;
	pc->fail_code = code;
	str_copy(pc->fail_dsn, dsn, sizeof(pc->fail_dsn));
	str_copy(pc->fail_text, text, sizeof(pc->fail_text));
}

/* pickup_client_cleanup_drop - forget the cleanup connection (and what was due on it) */
static void pickup_client_cleanup_drop(struct pickup_client *pc)
{
	ipc_conn_free(pc->cleanup);
	pc->cleanup = NULL;
	pc->early_due = false;
	pc->end_held = false;
	pc->skip_early = 0;
	pc->flow_paused = false;
}

/* pickup_client_cleanup_abort - ABORT the message at cleanup; its EARLY frame, when due, is skipped */
static void pickup_client_cleanup_abort(struct pickup_client *pc, const struct attr_list *abort_frame)
{
	struct attr_list l;

	attr_list_init(&l);
	if (abort_frame == NULL) {
		attr_add_str(&l, CLEANUP_OP, CLEANUP_OP_ABORT);
		abort_frame = &l;
	}
	if (ipc_conn_send(pc->cleanup, abort_frame) < 0) {
		pickup_client_cleanup_drop(pc);
	} else if (pc->early_due) {
		pc->early_due = false;
		pc->skip_early++;
	}
	attr_list_free(&l);
}

/* pickup_client_protocol_error - cleanup broke the protocol: drop it, fail the message */
static void pickup_client_protocol_error(struct pickup_client *pc, const char *what)
{
	msg_warn("%s from cleanup: closing that connection", what);
	pickup_client_cleanup_drop(pc);
	if (pc->state == PC_DATA) {
		pickup_client_fail(pc, 451, "4.3.0", "Error: internal protocol error");
	} else if (pc->state == PC_WAIT) {
		pickup_client_error_result(pc, 451, "4.3.0", "Error: internal protocol error");
		pc->state = PC_IDLE;
	}
	pickup_client_read_update(pc);
}

/* pickup_client_early - cleanup's EARLY frame: log "QID: uid=", send a held "end"; an error fails the message */
static void pickup_client_early(struct pickup_client *pc, const struct attr_list *frame)
{
	const char *status = "", *qid = "", *dsn = "", *text = "";
	int64_t code = 0;

	pc->early_due = false;
	attr_get_str(frame, CLEANUP_STATUS, &status);
	if (strcmp(status, CLEANUP_STATUS_QUEUED) == 0 && attr_get_str(frame, CLEANUP_QUEUE_ID, &qid) && qid[0]) {
		msg_info("%s: uid=%ld from=<%s>", pickup_printable(qid), (long) pc->uid,
			 pickup_printable(pc->sender));
	} else if (strcmp(status, CLEANUP_STATUS_ERROR) == 0 && attr_get_int(frame, CLEANUP_REPLY_CODE, &code)
		   && code >= 400 && code <= 599 && attr_get_str(frame, CLEANUP_REPLY_DSN, &dsn)
		   && attr_get_str(frame, CLEANUP_REPLY_TEXT, &text)) {
		if (pc->state == PC_DATA) {
			/* the rest of the content is dropped; the client gets the reply after its end */
			pickup_client_cleanup_abort(pc, NULL);
			pickup_client_fail(pc, (int) code, dsn, text);
			return;
		}
		/* all content is in: the RESULT after "end" carries the same error */
	} else {
		pickup_client_protocol_error(pc, "malformed EARLY frame");
		return;
	}
	if (pc->end_held) {
		pc->end_held = false;
		if (ipc_conn_send_end(pc->cleanup, &pc->out) < 0)
			pickup_client_protocol_error(pc, "cannot send the end of the message");
	}
}

/* pickup_client_cleanup_frame - cleanup's EARLY frame or RESULT */
static void pickup_client_cleanup_frame(struct ipc_conn *conn, const struct attr_list *frame, void *arg)
{
	struct pickup_client *pc = arg;
	const char *status = NULL, *dsn = "", *text = "";
	int64_t code = 0;

	(void) conn;
	if (pc->skip_early > 0) {
		pc->skip_early--;	/* of a message the client aborted before it came */
		return;
	}
	if (pc->early_due && (pc->state == PC_DATA || pc->state == PC_WAIT)) {
		pickup_client_early(pc, frame);
		return;
	}
	if (pc->state != PC_WAIT || pc->early_due || !attr_get_str(frame, CLEANUP_STATUS, &status)) {
		pickup_client_protocol_error(pc, "unexpected frame");
		return;
	}
	/* an ok RESULT: "QID: uid=" was logged when the EARLY frame came */
	if (strcmp(status, CLEANUP_STATUS_OK) != 0) {
		attr_get_int(frame, CLEANUP_REPLY_CODE, &code);
		attr_get_str(frame, CLEANUP_REPLY_DSN, &dsn);
		attr_get_str(frame, CLEANUP_REPLY_TEXT, &text);
		msg_info("uid=%ld from=<%s>: not queued: %lld %s %s", (long) pc->uid,
			 pickup_printable(pc->sender), (long long) code, pickup_printable(dsn),
			 pickup_printable(text));
	}
	ipc_conn_send(pc->conn, frame);
	pc->state = PC_IDLE;
	pickup_client_read_update(pc);
}

/* pickup_client_cleanup_close - the cleanup connection is gone */
static void pickup_client_cleanup_close(struct ipc_conn *conn, const char *reason, void *arg)
{
	struct pickup_client *pc = arg;

	(void) conn;
	pickup_client_cleanup_drop(pc);
	if (pc->state == PC_DATA || pc->state == PC_WAIT)
		msg_warn("cleanup connection lost: %s", reason ? reason : "closed");
	if (pc->state == PC_DATA) {
		pickup_client_fail(pc, 451, "4.3.0", "Error: queue file write error (cleanup went away)");
	} else if (pc->state == PC_WAIT) {
		pickup_client_error_result(pc, 451, "4.3.0", "Error: queue file write error (cleanup went away)");
		pc->state = PC_IDLE;
	}
	pickup_client_read_update(pc);
}

/* pickup_client_cleanup_drain - cleanup took what was queued: read the client again */
static void pickup_client_cleanup_drain(struct ipc_conn *conn, void *arg)
{
	struct pickup_client *pc = arg;

	(void) conn;
	if (pc->flow_paused) {
		pc->flow_paused = false;
		pickup_client_read_update(pc);
	}
}

/* pickup_client_cleanup_open - the cleanup connection; 0 or -1 */
static int pickup_client_cleanup_open(struct pickup_client *pc)
{
	int fd;

	if (pc->cleanup != NULL)
		return 0;
	fd = ipc_connect_unix(CLEANUP_SOCKET_PRIVATE, PICKUP_CONNECT_MS);
	if (fd < 0) {
		msg_warn("connect to %s: %s", CLEANUP_SOCKET_PRIVATE, strerror(errno));
		return -1;
	}
	pc->cleanup = ipc_conn_new(service_base(pc->pk->svc), fd, 0, pickup_client_cleanup_frame,
				   pickup_client_cleanup_close, pc);
	ipc_conn_set_timeout(pc->cleanup, pc->pk->ipc_ms, pc->pk->ipc_ms);
	ipc_conn_set_drain(pc->cleanup, pickup_client_cleanup_drain);
	pc->skip_early = 0;
	return 0;
}

/* pickup_client_begin - the envelope of a new message */
static int pickup_client_begin(struct pickup_client *pc, const struct attr_list *frame)
{
	const char *sender = "";
	struct pickup_refusal no;
	char err[ATTR_ERR_MAX + 400];
	int rc;

	rc = pickup_begin(frame, pc->uid, service_name(pc->pk->svc), &pc->scratch, &no, err, sizeof(err));
	if (rc < 0) {
		msg_warn("uid=%ld pid=%ld: bad envelope: %s", (long) pc->uid, pc->pid, err);
		return -1;
	}
	attr_get_str(frame, CLEANUP_SENDER, &sender);
	free(pc->sender);
	pc->sender = xstrdup(sender);
	ipc_stream_init(&pc->in);
	ipc_stream_init(&pc->out);
	pc->state = PC_DATA;
	pc->early_due = false;
	pc->end_held = false;
	/* the queue id comes back at once: "QID: uid=" is logged before qmgr can see the message */
	attr_add_int(&pc->scratch, CLEANUP_EARLY_QID, 1);
	if (rc > 0)
		pickup_client_fail(pc, no.code, no.dsn, no.text);
	else if (pickup_client_cleanup_open(pc) < 0 || ipc_conn_send(pc->cleanup, &pc->scratch) < 0)
		pickup_client_fail(pc, 451, "4.3.0", "Error: mail system not ready (cleanup service unavailable)");
	else
		pc->early_due = true;
	return 0;
}

/* pickup_client_content - a frame inside a message (DATA, DISCARD); 0 or -1 (close) */
static int pickup_client_content(struct pickup_client *pc, const struct attr_list *frame)
{
	const char *op;
	const void *p;
	size_t n;
	char err[ATTR_ERR_MAX + 64];

	if (attr_get_str(frame, CLEANUP_OP, &op)) {
		if (strcmp(op, CLEANUP_OP_ABORT) != 0) {
			msg_warn("uid=%ld pid=%ld: \"%s\" frame inside a message", (long) pc->uid, pc->pid,
				 pickup_printable(op));
			return -1;
		}
		if (pc->state == PC_DATA && pc->cleanup != NULL)
			pickup_client_cleanup_abort(pc, frame);
		pc->state = PC_IDLE;
		return 0;
	}
	switch (ipc_stream_take(&pc->in, frame, &p, &n, err, sizeof(err))) {
	case IPC_STREAM_DATA:
		if (pc->state == PC_DATA) {
			ipc_conn_send_chunk(pc->cleanup, &pc->out, p, n);
			if (ipc_conn_pending(pc->cleanup) > PICKUP_CLIENT_HIGH) {
				pc->flow_paused = true;
				pickup_client_read_update(pc);
			}
		}
		return 0;
	case IPC_STREAM_END_OK:
		if (pc->state == PC_DATA) {
			if (pc->early_due)
				pc->end_held = true;	/* sent when the EARLY frame comes */
			else
				ipc_conn_send_end(pc->cleanup, &pc->out);
			pc->state = PC_WAIT;
			pickup_client_read_update(pc);
		} else {
			pickup_client_error_result(pc, pc->fail_code, pc->fail_dsn, pc->fail_text);
			pc->state = PC_IDLE;
		}
		return 0;
	default:
		msg_warn("uid=%ld pid=%ld: %s", (long) pc->uid, pc->pid, err);
		return -1;
	}
}

/* pickup_client_frame - a frame from the client */
static void pickup_client_frame(struct ipc_conn *conn, const struct attr_list *frame, void *arg)
{
	struct pickup_client *pc = arg;
	int rc = -1;

	(void) conn;
	switch (pc->state) {
	case PC_IDLE:
		rc = pickup_client_begin(pc, frame);
		break;
	case PC_DATA:
	case PC_DISCARD:
		rc = pickup_client_content(pc, frame);
		break;
	case PC_WAIT:
		msg_warn("uid=%ld pid=%ld: frame while waiting for cleanup", (long) pc->uid, pc->pid);
		break;
	}
	if (rc < 0)
		pickup_client_destroy(pc);
}

/* pickup_client_close - the client's connection closed */
static void pickup_client_close(struct ipc_conn *conn, const char *reason, void *arg)
{
	struct pickup_client *pc = arg;

	(void) conn;
	if (reason != NULL)
		msg_warn("uid=%ld pid=%ld: %s", (long) pc->uid, pc->pid, reason);
	else if (pc->state == PC_DATA || pc->state == PC_DISCARD)
		msg_info("uid=%ld pid=%ld: connection closed inside a message", (long) pc->uid, pc->pid);
	pickup_client_destroy(pc);
}

/* pickup_client_start - a submission connection */
void pickup_client_start(struct pickup *pk, int fd)
{
	struct pickup_client *pc;
	uid_t uid;
	pid_t pid;

	if (ipc_peer_uid(fd, &uid, NULL, &pid) < 0) {
		msg_warn("submission: cannot learn the peer's uid: %s", strerror(errno));
		close(fd);
		service_conn_done(pk->svc);
		return;
	}
	pc = xcalloc(1, sizeof(*pc));
	pc->pk = pk;
	pc->uid = uid;
	pc->pid = (long) pid;
	pc->state = PC_IDLE;
	attr_list_init(&pc->scratch);
	pc->conn = ipc_conn_new(service_base(pk->svc), fd, 0, pickup_client_frame, pickup_client_close, pc);
	ipc_conn_set_timeout(pc->conn, pk->client_ms, pk->ipc_ms);
}
