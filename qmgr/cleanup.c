/*
 * cleanup - the only writer of queue files (cleanup(8)).
 *
 * A SERVICE_MULTI daemon: one event loop serves every connection of the
 * process; each connection carries messages one after another over the
 * protocol of mail/cleanup_proto.h. Per connection the protocol is a
 * state table:
 *
 *	state	frame			action
 *	IDLE	op=begin		cleanup_msg_begin; with early_qid=1
 *					an EARLY frame (queued + id, or error) -> CONTENT
 *	IDLE	op=abort		ignored (nothing open)
 *	CONTENT	chunk			cleanup_msg_content
 *	CONTENT	end			cleanup_msg_end; ready: submit -> COMMIT
 *					failed: RESULT error -> IDLE
 *	CONTENT	op=abort		file removed, no RESULT -> IDLE
 *	COMMIT	(reading paused)	commit done: RESULT -> IDLE, read again
 *	any	anything else		protocol error: log, close
 *
 * The peer's uid and pid come from SO_PEERCRED, never from the frames.
 * A connection that closes, times out or breaks the protocol in CONTENT
 * loses its message: the file is removed. One that closes in COMMIT
 * keeps the file if the commit succeeds (the source never saw "ok", so it
 * did not answer 250 either; delivering twice beats losing mail).
 *
 * Sources that log the queue id (smtpd "client=", pickup "uid=") ask for
 * the EARLY frame and send "end" only once they have it, so their line
 * is in the log before the message can be committed, let alone be seen
 * by qmgr ("from=, size=": Postfix's order, which pflogsumm needs).
 *
 * After each batch of commits with at least one success, once every ok
 * RESULT of it is written to its source, qmgr
 * gets a wake-up ("W", as master sends) on public/qmgr, without waiting: when
 * the socket is absent or busy the files wait in incoming/ for qmgr's
 * next scan.
 *
 * Failures: configuration and environment problems at start are fatal
 * (the skeleton's msg_fatal); everything a peer does only costs it its
 * connection.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/config.h"
#include "mail/resolve.h"
#include "mail/service.h"
#include "mail/table.h"
#include "cleanup.h"

#define CLEANUP_QMGR_SOCKET	"public/qmgr"
#define CLEANUP_QMGR_REQUEST	"W"

enum conn_state { CONN_IDLE, CONN_CONTENT, CONN_COMMIT };

struct cleanup_conn {
	struct service *svc;
	struct ipc_conn *ipc;
	uid_t uid;
	pid_t pid;
	enum conn_state state;
	bool gone;			/* ipc closed while in COMMIT */
	bool wake_after_write;		/* an ok RESULT is queued: counts in cleanup_unwritten */
	struct ipc_stream stream;
	struct cleanup_msg *msg;
	struct cleanup_job job;
	struct cleanup_conn *prev, *next;
};

static struct cleanup_cfg cleanup_cfg;
static struct qfile_dir cleanup_incoming = {-1, NULL, NULL}, cleanup_hold = {-1, NULL, NULL};
static struct qfile_pool *cleanup_pool;	/* recycled queue files (queue_file_recycle) */
static struct cleanup_commit *cleanup_committer;
static struct cleanup_conn *cleanup_conns;	/* every open connection */
static struct attr_list cleanup_reply_frame;
static bool cleanup_wake_qmgr;
/*
 * ok RESULTs queued but not yet written: qmgr is woken only when there
 * are none, so the source logs "client=" / "uid=" before qmgr logs
 * "from=, size=" (Postfix's order, which pflogsumm needs to count bytes)
 */
static int cleanup_unwritten;
static bool cleanup_stopping;
static int cleanup_ipc_ms;

static void cleanup_trigger_qmgr(void *arg);

/* conn_written - c's ok RESULT is written (or will never be): wake qmgr when it was the last */
static void conn_written(struct cleanup_conn *c)
{
	if (!c->wake_after_write)
		return;
	c->wake_after_write = false;
	if (--cleanup_unwritten == 0)
		cleanup_trigger_qmgr(NULL);
}

/* conn_on_drain - everything queued on the connection is written */
static void conn_on_drain(struct ipc_conn *ipc, void *arg)
{
	(void) ipc;
	conn_written(arg);
}

/* conn_free - forget a connection (its message and file too) */
static void conn_free(struct cleanup_conn *c)
{
	conn_written(c);
	if (c->ipc)
		ipc_conn_free(c->ipc);
	cleanup_msg_free(c->msg);
	if (c->prev)
		c->prev->next = c->next;
	else
		cleanup_conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	service_conn_done(c->svc);
	free(c);
}

/* conn_lost - the connection is over; a message in progress is discarded */
static void conn_lost(struct cleanup_conn *c, const char *why)
{
	if (c->state == CONN_CONTENT && c->msg && c->msg->qid[0])
		msg_info("%s: %s from uid %ld pid %ld in the middle of the message; discarded",
			 c->msg->qid, why, (long) c->uid, (long) c->pid);
	if (c->state == CONN_COMMIT) {
		/* the commit thread owns the file; conn_committed frees us */
		if (c->ipc)
			ipc_conn_free(c->ipc);
		c->ipc = NULL;
		c->gone = true;
		return;
	}
	conn_free(c);
}

/* conn_protocol_error - a peer broke the protocol: log and close */
__attribute__((format(printf, 2, 3)))
static void conn_protocol_error(struct cleanup_conn *c, const char *fmt, ...)
{
	char why[ATTR_ERR_MAX + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	msg_warn("protocol error from uid %ld pid %ld: %s; connection closed", (long) c->uid,
		 (long) c->pid, why);
	conn_lost(c, "protocol error");
}

/* conn_send_status - a RESULT (ok_status "ok") or EARLY ("queued") frame for m; false when not sent */
static bool conn_send_status(struct cleanup_conn *c, const char *ok_status, const char *what)
{
	struct cleanup_msg *m = c->msg;
	struct attr_list *l = &cleanup_reply_frame;

	attr_list_reset(l);
	if (m->stat == CLEANUP_STAT_OK) {
		attr_add_str(l, CLEANUP_STATUS, ok_status);
		attr_add_str(l, CLEANUP_QUEUE_ID, m->qid);
	} else {
		attr_add_str(l, CLEANUP_STATUS, CLEANUP_STATUS_ERROR);
		attr_add_int(l, CLEANUP_REPLY_CODE, m->reply.code);
		attr_add_str(l, CLEANUP_REPLY_DSN, m->reply.dsn);
		attr_add_str(l, CLEANUP_REPLY_TEXT, m->reply.text);
	}
	if (ipc_conn_send(c->ipc, l) < 0) {
		msg_warn("%s: cannot send the %s to uid %ld pid %ld: %s", m->qid[0] ? m->qid : "NOQUEUE", what,
			 (long) c->uid, (long) c->pid, attr_list_error(l) ? attr_list_error(l) : strerror(errno));
		return false;
	}
	return true;
}

/* conn_result - send the RESULT frame of the current message */
static void conn_result(struct cleanup_conn *c)
{
	(void) conn_send_status(c, CLEANUP_STATUS_OK, "result");
	cleanup_msg_free(c->msg);
	c->msg = NULL;
	c->state = CONN_IDLE;
	if (cleanup_stopping)
		ipc_conn_finish(c->ipc);
}

/* conn_committed - the commit thread is done with our file */
static void conn_committed(struct cleanup_job *job)
{
	struct cleanup_conn *c = job->ctx;
	bool ok;

	c->msg->w = job->w;
	cleanup_msg_committed(c->msg, job->failed ? &job->err : NULL);
	ok = c->msg->stat == CLEANUP_STAT_OK;
	if (ok)
		cleanup_wake_qmgr = true;
	if (c->gone) {
		conn_free(c);
		return;
	}
	conn_result(c);
	if (ok && !c->wake_after_write && ipc_conn_pending(c->ipc) > 0) {
		c->wake_after_write = true;
		cleanup_unwritten++;
	}
	ipc_conn_read_enable(c->ipc, true);
}

/* conn_end - "end" arrived: commit, or answer the failure */
static void conn_end(struct cleanup_conn *c)
{
	struct cleanup_msg *m = c->msg;

	if (!cleanup_msg_end(m)) {
		conn_result(c);
		return;
	}
	c->state = CONN_COMMIT;
	memset(&c->job, 0, sizeof(c->job));
	c->job.w = m->w;
	c->job.dir = m->dir;
	c->job.done = conn_committed;
	c->job.ctx = c;
	m->w = NULL;			/* the commit thread has it now */
	ipc_conn_read_enable(c->ipc, false);
	cleanup_commit_submit(cleanup_committer, &c->job);
}

/* conn_on_frame - one frame, by the state table above */
static void conn_on_frame(struct ipc_conn *ipc, const struct attr_list *frame, void *arg)
{
	struct cleanup_conn *c = arg;
	const struct attr *opa = attr_find(frame, CLEANUP_OP, NULL);
	const char *op = opa && opa->type == ATTR_STR ? opa->value : NULL;
	char err[ATTR_ERR_MAX];
	const void *p;
	size_t n;

	(void) ipc;
	if (opa && op == NULL) {
		conn_protocol_error(c, "attribute \"op\" is not a string");
		return;
	}
	switch (c->state) {
	case CONN_IDLE:
		if (op && strcmp(op, CLEANUP_OP_BEGIN) == 0) {
			const struct attr *early = attr_find(frame, CLEANUP_EARLY_QID, NULL);

			if (early && (early->type != ATTR_INT || early->num < 0 || early->num > 1)) {
				conn_protocol_error(c, "attribute \"%s\" is not 0 or 1", CLEANUP_EARLY_QID);
				return;
			}
			c->msg = cleanup_msg_begin(&cleanup_cfg, frame, c->uid);
			ipc_stream_init(&c->stream);
			c->state = CONN_CONTENT;
			/* the source learns the queue id (or the failure) before it sends content */
			if (early && early->num == 1)
				(void) conn_send_status(c, CLEANUP_STATUS_QUEUED, "early queue id");
		} else if (op && strcmp(op, CLEANUP_OP_ABORT) == 0) {
			msg_debug("abort from uid %ld with no message open", (long) c->uid);
		} else {
			conn_protocol_error(c, "%s%s%s where a BEGIN frame must come", op ? "op \"" : "a frame without op",
					    op ? op : "", op ? "\"" : "");
		}
		return;
	case CONN_CONTENT:
		if (op && strcmp(op, CLEANUP_OP_ABORT) == 0) {
			if (c->msg->qid[0])
				msg_info("%s: aborted by the source; discarded", c->msg->qid);
			cleanup_msg_free(c->msg);
			c->msg = NULL;
			c->state = CONN_IDLE;
			return;
		}
		if (op) {
			conn_protocol_error(c, "op \"%s\" inside a message", op);
			return;
		}
		switch (ipc_stream_take(&c->stream, frame, &p, &n, err, sizeof(err))) {
		case IPC_STREAM_DATA:
			cleanup_msg_content(c->msg, p, n);
			return;
		case IPC_STREAM_END_OK:
			conn_end(c);
			return;
		default:
			conn_protocol_error(c, "content stream: %s", err);
			return;
		}
	case CONN_COMMIT:
		msg_panic("cleanup: frame while reading is paused");
	}
}

/* conn_on_close - the peer closed, timed out or sent a malformed frame */
static void conn_on_close(struct ipc_conn *ipc, const char *reason, void *arg)
{
	struct cleanup_conn *c = arg;

	(void) ipc;
	if (reason)
		msg_warn("connection from uid %ld pid %ld: %s; closed", (long) c->uid, (long) c->pid, reason);
	conn_lost(c, reason ? "connection error" : "lost connection");
}

/* cleanup_on_connection - a source connected */
static void cleanup_on_connection(struct service *svc, int fd)
{
	struct cleanup_conn *c = xcalloc(1, sizeof(*c));
	uid_t uid = (uid_t) -1;
	pid_t pid = 0;

	c->svc = svc;
	if (ipc_peer_uid(fd, &uid, NULL, &pid) < 0)
		msg_warn("cannot learn the peer of a connection: %s", strerror(errno));
	c->uid = uid;
	c->pid = pid;
	c->state = CONN_IDLE;
	c->next = cleanup_conns;
	if (cleanup_conns)
		cleanup_conns->prev = c;
	cleanup_conns = c;
	c->ipc = ipc_conn_new(service_base(svc), fd, 0, conn_on_frame, conn_on_close, c);
	ipc_conn_set_timeout(c->ipc, cleanup_ipc_ms, cleanup_ipc_ms);
	ipc_conn_set_drain(c->ipc, conn_on_drain);
	msg_debug("connection from uid %ld pid %ld", (long) uid, (long) pid);
	if (cleanup_stopping)
		ipc_conn_finish(c->ipc);
}

/* cleanup_trigger_qmgr - wake qmgr up; never waits, never fails a message */
static void cleanup_trigger_qmgr(void *arg)
{
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	int fd;

	(void) arg;
	if (!cleanup_wake_qmgr || cleanup_unwritten > 0)
		return;			/* conn_written calls again when the last result is out */
	cleanup_wake_qmgr = false;
	str_copy(sun.sun_path, CLEANUP_QMGR_SOCKET, sizeof(sun.sun_path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		msg_warn("wake-up of qmgr: socket: %s", strerror(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0)
		msg_debug("wake-up of qmgr: connect %s: %s", CLEANUP_QMGR_SOCKET, strerror(errno));
	else if (send(fd, CLEANUP_QMGR_REQUEST, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
		msg_debug("wake-up of qmgr: write: %s", strerror(errno));
	close(fd);
}

/* cleanup_on_stop - stop: close idle connections now, busy ones after their message */
static void cleanup_on_stop(struct service *svc)
{
	(void) svc;
	cleanup_stopping = true;
	for (struct cleanup_conn *c = cleanup_conns; c; c = c->next)
		if (c->state == CONN_IDLE && c->ipc)
			ipc_conn_finish(c->ipc);
}

/* cleanup_open_checks - a TABLES parameter of checks: NULL when empty; a mistake is fatal */
static struct tables *cleanup_open_checks(char *const *specs, const char *param)
{
	char err[TABLE_ERR_SIZE];
	struct tables *t;

	if (specs == NULL || specs[0] == NULL)
		return NULL;
	if ((t = tables_open_vector((const char *const *) specs, 0, err, sizeof(err))) == NULL)
		msg_fatal("%s: %s", param, err);
	return t;
}

/* cleanup_from_screen_action - from_screen_action as an enum; fatal when unknown */
static enum cleanup_from_screen cleanup_from_screen_action(const char *value)
{
	static const struct {
		const char *name;
		enum cleanup_from_screen action;
	} names[] = {
		{"none", CLEANUP_FROM_SCREEN_NONE}, {"rewrite", CLEANUP_FROM_SCREEN_REWRITE},
		{"tag", CLEANUP_FROM_SCREEN_TAG}, {"reject", CLEANUP_FROM_SCREEN_REJECT},
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (str_eq_nocase(value, names[i].name))
			return names[i].action;
	msg_fatal("from_screen_action = %s: not one of rewrite, tag, reject, none", value);
}

/* cleanup_masq_classes - masquerade_classes as CLEANUP_MASQ_* bits; fatal when unknown */
static unsigned cleanup_masq_classes(char *const *classes)
{
	unsigned bits = 0;

	for (char *const *c = classes; c && *c; c++) {
		if (str_eq_nocase(*c, "envelope_sender"))
			bits |= CLEANUP_MASQ_ENV_SENDER;
		else if (str_eq_nocase(*c, "header_sender"))
			bits |= CLEANUP_MASQ_HDR_SENDER;
		else if (str_eq_nocase(*c, "header_recipient"))
			bits |= CLEANUP_MASQ_HDR_RCPT;
		else
			msg_fatal("masquerade_classes: unknown class \"%s\" (envelope_sender, header_sender, "
				  "header_recipient)", *c);
	}
	return bits;
}

/* cleanup_field_name_ok - a header field name (RFC 5322 ftext), short enough for our line */
static bool cleanup_field_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (name[i] <= 32 || name[i] >= 127 || name[i] == ':')
			return false;
	return true;
}

/*
 * cleanup_pre_jail - as root: the time zone, and everything content
 * screening reads from files (check tables, the domain lists that tell
 * local recipients) before a chroot hides them; a mistake in any of them
 * stops cleanup here, with the table's file and line
 */
static void cleanup_pre_jail(struct service *svc)
{
	const struct config *cfg = service_config(svc);
	const struct params_qmgr *own = cfg->own;
	char err[TABLE_ERR_SIZE];

	tzset();
	cleanup_cfg.header_checks = cleanup_open_checks(own->header_checks, "header_checks");
	cleanup_cfg.body_checks = cleanup_open_checks(own->body_checks, "body_checks");
	cleanup_cfg.body_checks_size_limit = own->body_checks_size_limit;
	cleanup_cfg.from_screen = cleanup_from_screen_action(own->from_screen_action);
	cleanup_cfg.from_screen_tag = own->from_screen_tag;
	if (cleanup_cfg.from_screen == CLEANUP_FROM_SCREEN_TAG && own->from_screen_tag[0] == '\0')
		msg_fatal("from_screen_action = tag needs a from_screen_tag");
	if (cleanup_cfg.from_screen != CLEANUP_FROM_SCREEN_NONE
	    && (cleanup_cfg.resolve = resolve_new((const char *const *) cfg->global.mydestination,
						  (const char *const *) cfg->global.virtual_mailbox_domains,
						  NULL, NULL, err, sizeof(err))) == NULL)
		msg_fatal("from screening: mydestination or virtual_mailbox_domains: %s", err);
	cleanup_cfg.masq_domains = own->masquerade_domains;
	cleanup_cfg.masq_exceptions = own->masquerade_exceptions;
	cleanup_cfg.masq_classes = cleanup_masq_classes(own->masquerade_classes);
	cleanup_cfg.country_header = own->origin_country_header;
	if (*own->origin_country_header && !cleanup_field_name_ok(own->origin_country_header))
		msg_fatal("origin_country_header = %s: not a header field name of at most 64 characters",
			  own->origin_country_header);
}

/* cleanup_open_dir - a queue directory, relative to queue_directory */
static void cleanup_open_dir(struct qfile_dir *dir, const char *name)
{
	struct qfile_error err;

	if (qfile_dir_open(dir, name, &err) < 0)
		msg_fatal("open queue directory %s: %s", name, err.text);
}

/* cleanup_post_jail - parameters, queue directories, commit threads */
static void cleanup_post_jail(struct service *svc)
{
	const struct config *cfg = service_config(svc);
	const struct params_qmgr *own = cfg->own;

	cleanup_open_dir(&cleanup_incoming, "incoming");
	cleanup_open_dir(&cleanup_hold, "hold");
	if (own->queue_file_recycle)	/* ENOENT: a queue made before recycle/ existed */
		cleanup_pool = qfile_pool_open("recycle", own->queue_recycle_limit, NULL);
	cleanup_incoming.pool = cleanup_hold.pool = cleanup_pool;
	cleanup_cfg.myhostname = cfg->global.myhostname;
	cleanup_cfg.hopcount_limit = own->hopcount_limit;
	cleanup_cfg.size_limit = cfg->global.message_size_limit;
	cleanup_cfg.rcpt_limit = own->cleanup_recipient_limit;
	cleanup_cfg.incoming = &cleanup_incoming;
	cleanup_cfg.hold = &cleanup_hold;
	if (strlen(cleanup_cfg.myhostname) > CLEANUP_HOST_MAX)
		msg_fatal("myhostname is longer than %d bytes", CLEANUP_HOST_MAX);
	cleanup_ipc_ms = (int) cfg->global.ipc_timeout * 1000;	/* at most 86400 s */
	attr_list_init(&cleanup_reply_frame);
	cleanup_committer = cleanup_commit_new(service_base(svc), (int) own->cleanup_fsync_threads,
					       cleanup_trigger_qmgr, NULL);
}

/* cleanup_shutdown - after the loop: stop the threads, release */
static void cleanup_shutdown(void)
{
	cleanup_commit_free(cleanup_committer);
	cleanup_committer = NULL;
	while (cleanup_conns) {
		struct cleanup_conn *c = cleanup_conns;

		cleanup_conns = c->next;
		if (c->ipc)
			ipc_conn_free(c->ipc);
		cleanup_msg_free(c->msg);
		free(c);
	}
	attr_list_free(&cleanup_reply_frame);
	if (cleanup_cfg.header_checks)
		tables_close(cleanup_cfg.header_checks);
	if (cleanup_cfg.body_checks)
		tables_close(cleanup_cfg.body_checks);
	if (cleanup_cfg.resolve)
		resolve_free(cleanup_cfg.resolve);
	if (cleanup_incoming.fd >= 0)
		qfile_dir_close(&cleanup_incoming);
	if (cleanup_hold.fd >= 0)
		qfile_dir_close(&cleanup_hold);
	qfile_pool_close(cleanup_pool);
	cleanup_pool = NULL;
}

static const struct service_desc cleanup_desc = {
	.program = "cleanup",
	.group = "qmgr",
	.kind = SERVICE_MULTI,
	.pre_jail = cleanup_pre_jail,
	.post_jail = cleanup_post_jail,
	.on_connection = cleanup_on_connection,
	.on_stop = cleanup_on_stop,
};

/* main - cleanup on the service skeleton; release everything after the loop */
int main(int argc, char **argv)
{
	int status = service_main(argc, argv, &cleanup_desc);

	cleanup_shutdown();
	return status;
}
