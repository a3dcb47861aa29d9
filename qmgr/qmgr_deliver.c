/*
 * qmgr_deliver - destinations, concurrency and DELIVER requests.
 *
 * Recipients of an active message are grouped per destination
 * (transport, nexthop) into entries of at most
 * default_destination_recipient_limit recipients; each destination
 * keeps its entries in arrival order. Dispatch walks only the
 * destinations that can start a request now (the ready list): a
 * destination leaves it when its queue is empty or it reached
 * default_destination_concurrency_limit, and parks on its transport
 * when the transport reached its limit (default_process_limit) or its
 * socket's backlog was full; a finished request puts it back. So the
 * cost of a scheduling step does not depend on how much mail waits.
 *
 * A request is one request frame and one reply frame (deliver_proto.h)
 * on a non-blocking connection to private/<transport>; nothing here
 * ever blocks. Connections are reused: after a reply the connection
 * waits in its transport's idle list for the next request (any
 * destination of that transport) for QMGR_AGENT_IDLE_MS, and is closed
 * after QMGR_AGENT_CONN_REQUESTS requests. So an agent process serves
 * request after request without a connect, an accept, a status report
 * to master or a new process every max_use requests (bench/README.md:
 * process starts were most of the CPU of a relayed message). A reused
 * connection that closes before the reply (the agent stopped, or closed
 * it after its own request limit, just as qmgr sent) sends the request
 * again once on a new connection; the agent's lock and slot re-check
 * make that safe (deliver_agent.c). A connection that fails ("connect to private/smtp: No
 * such file or directory"), a request-level error, a lost connection or
 * a reply in which every recipient was deferred counts as a failure of
 * the destination; after default_destination_concurrency_failed_cohort_limit
 * failures in a row the destination is suspended for minimal_backoff_time:
 * its waiting mail is deferred at once without a connection attempt.
 * Anything delivered or bounced resets the count.
 */
#include <errno.h>
#include <event2/event.h>
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
#include "mail/deliver_proto.h"
#include "qmgr.h"

#define QMGR_DEST_BUCKETS	4096
#define QMGR_ENTRY_BYTES	(512 * 1024)	/* address bytes in one request */
#define QMGR_BUSY_RETRY_MS	500		/* after a full listen backlog */
#define QMGR_AGENT_IDLE_MS	5000		/* an unused agent connection is closed after this */
#define QMGR_AGENT_CONN_REQUESTS 100		/* requests on one agent connection, then a new one */

struct qmgr_aconn;

/* qmgr_transport - requests in flight to one agent service */
struct qmgr_transport {
	char *name;
	long active;
	bool busy;			/* backlog full: wait for the timer */
	struct event *retry_ev;
	struct qmgr_dest *parked;	/* destinations waiting for this transport */
	struct qmgr_aconn *idle;	/* agent connections waiting for a request */
	struct qmgr_transport *next;
};

/* qmgr_dest - one destination */
struct qmgr_dest {
	char *transport_name, *nexthop;
	struct qmgr_transport *tp;
	long active;
	long fail_streak;
	long long suspended_until;	/* seconds; 0: not suspended */
	char *suspend_reason;
	struct qmgr_entry *head, *tail;
	bool ready, parked;
	struct qmgr_dest *ready_next;	/* ready list or transport's parked list */
	struct qmgr_dest *hash_next;
};

/* qmgr_req - one DELIVER request in flight */
struct qmgr_req {
	struct qmgr_entry *e;
	struct qmgr_aconn *ac;
};

/* qmgr_aconn - one connection to a delivery agent, reused request after request */
struct qmgr_aconn {
	struct ipc_conn *conn;
	struct qmgr_transport *tp;
	struct qmgr_req *req;		/* the request in flight; NULL: in tp->idle */
	long uses;			/* requests sent on it */
	struct qmgr_aconn *next;	/* tp->idle */
};

/* qmgr_open - an entry being filled while a message is activated */
struct qmgr_open {
	struct qmgr_dest *dest;
	struct qmgr_entry *e;
	size_t bytes;
};

static struct qmgr_dest *qmgr_dests[QMGR_DEST_BUCKETS];
static struct qmgr_transport *qmgr_transports;
static struct qmgr_dest *qmgr_ready;
static struct event *qmgr_dispatch_ev;
static struct qmgr_open *qmgr_opens;
static size_t qmgr_nopens, qmgr_opens_cap;

static void qmgr_dispatch_kick(void);
static bool qmgr_req_start(struct qmgr_entry *e, bool fresh);

/* qmgr_dest_busy - the agent's listen backlog is full: e first in line again, retry shortly */
static void qmgr_dest_busy(struct qmgr_dest *d, struct qmgr_entry *e)
{
	struct timeval tv = {0, QMGR_BUSY_RETRY_MS * 1000};

	e->next = d->head;
	d->head = e;
	if (d->tail == NULL)
		d->tail = e;
	d->tp->busy = true;
	evtimer_add(d->tp->retry_ev, &tv);
}

/* qmgr_hash - FNV-1a over transport NUL nexthop */
static unsigned qmgr_hash(const char *t, const char *n)
{
	/* the NUL between the two counts as a byte: "ab"+"c" and "a"+"bc" differ */
	return str_hash(n, str_hash(t, STR_HASH_INIT) * 16777619u) % QMGR_DEST_BUCKETS;
}

/* qmgr_transport_retry - the backlog wait is over */
static void qmgr_transport_retry(evutil_socket_t fd, short what, void *arg);

/* qmgr_transport_get - find or make a transport */
static struct qmgr_transport *qmgr_transport_get(const char *name)
{
	struct qmgr_transport *tp;

	for (tp = qmgr_transports; tp; tp = tp->next)
		if (strcmp(tp->name, name) == 0)
			return tp;
	tp = xcalloc(1, sizeof(*tp));
	tp->name = xstrdup(name);
	tp->retry_ev = evtimer_new(qmgr.base, qmgr_transport_retry, tp);
	tp->next = qmgr_transports;
	qmgr_transports = tp;
	return tp;
}

/* qmgr_dest_get - find or make a destination */
static struct qmgr_dest *qmgr_dest_get(const char *transport, const char *nexthop)
{
	unsigned h = qmgr_hash(transport, nexthop);
	struct qmgr_dest *d;

	for (d = qmgr_dests[h]; d; d = d->hash_next)
		if (strcmp(d->transport_name, transport) == 0 && strcmp(d->nexthop, nexthop) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	d->transport_name = xstrdup(transport);
	d->nexthop = xstrdup(nexthop);
	d->tp = qmgr_transport_get(transport);
	d->hash_next = qmgr_dests[h];
	qmgr_dests[h] = d;
	return d;
}

/* qmgr_dest_maybe_free - forget an idle destination that remembers nothing */
static void qmgr_dest_maybe_free(struct qmgr_dest *d)
{
	struct qmgr_dest **pp;

	if (d->head || d->active || d->fail_streak || d->suspended_until || d->ready || d->parked)
		return;
	for (pp = &qmgr_dests[qmgr_hash(d->transport_name, d->nexthop)]; *pp; pp = &(*pp)->hash_next)
		if (*pp == d) {
			*pp = d->hash_next;
			break;
		}
	free(d->transport_name);
	free(d->nexthop);
	free(d->suspend_reason);
	free(d);
}

/* qmgr_dest_make_ready - put d on the ready list (once) */
static void qmgr_dest_make_ready(struct qmgr_dest *d)
{
	if (d->ready || d->parked || d->head == NULL)
		return;
	d->ready = true;
	d->ready_next = qmgr_ready;
	qmgr_ready = d;
	qmgr_dispatch_kick();
}

/* qmgr_transport_unpark - the transport has room again: its destinations are ready */
static void qmgr_transport_unpark(struct qmgr_transport *tp)
{
	struct qmgr_dest *d = tp->parked;

	tp->parked = NULL;
	while (d) {
		struct qmgr_dest *next = d->ready_next;

		d->parked = false;
		qmgr_dest_make_ready(d);
		d = next;
	}
}

/* qmgr_transport_retry - the backlog wait is over */
static void qmgr_transport_retry(evutil_socket_t fd, short what, void *arg)
{
	struct qmgr_transport *tp = arg;

	(void) fd;
	(void) what;
	tp->busy = false;
	qmgr_transport_unpark(tp);
}

/* qmgr_deliver_add - recipient idx of m goes to rr's destination */
void qmgr_deliver_add(struct qmgr_msg *m, const struct resolve_result *rr, size_t idx)
{
	struct qmgr_dest *d = qmgr_dest_get(rr->transport, rr->nexthop);
	struct qmgr_open *o = NULL;
	size_t len = strlen(m->qf->rcpts[idx].addr);

	for (size_t i = 0; i < qmgr_nopens; i++)
		if (qmgr_opens[i].dest == d)
			o = &qmgr_opens[i];
	if (o && (o->e->n >= (size_t) qmgr.p.dest_rcpt_limit || o->bytes + len > QMGR_ENTRY_BYTES)) {
		/* full: queue it, start another */
		struct qmgr_entry *e = o->e;

		if (d->tail)
			d->tail->next = e;
		else
			d->head = e;
		d->tail = e;
		o->e = NULL;
	}
	if (o == NULL) {
		if (qmgr_nopens == qmgr_opens_cap) {
			qmgr_opens_cap = qmgr_opens_cap ? 2 * qmgr_opens_cap : 8;
			qmgr_opens = xreallocarray(qmgr_opens, qmgr_opens_cap, sizeof(*qmgr_opens));
		}
		o = &qmgr_opens[qmgr_nopens++];
		o->dest = d;
		o->e = NULL;
	}
	if (o->e == NULL) {
		o->e = xcalloc(1, sizeof(*o->e));
		o->e->msg = m;
		o->e->dest = d;
		o->e->idx = xcalloc((size_t) qmgr.p.dest_rcpt_limit, sizeof(size_t));
		o->bytes = 0;
		m->refs++;
	}
	o->e->idx[o->e->n++] = idx;
	o->bytes += len;
}

/* qmgr_deliver_seal - queue the entries of the message just activated */
void qmgr_deliver_seal(struct qmgr_msg *m)
{
	(void) m;
	for (size_t i = 0; i < qmgr_nopens; i++) {
		struct qmgr_dest *d = qmgr_opens[i].dest;
		struct qmgr_entry *e = qmgr_opens[i].e;

		if (e) {
			if (d->tail)
				d->tail->next = e;
			else
				d->head = e;
			d->tail = e;
		}
		qmgr_dest_make_ready(d);
	}
	qmgr_nopens = 0;
}

/* qmgr_entry_free - forget an entry and release its message */
static void qmgr_entry_free(struct qmgr_entry *e)
{
	struct qmgr_msg *m = e->msg;

	free(e->idx);
	free(e);
	qmgr_msg_unref(m);
}

/* qmgr_entry_defer - qmgr defers every recipient of e itself (logged) */
static void qmgr_entry_defer(struct qmgr_entry *e, const char *dsn, const char *text)
{
	for (size_t i = 0; i < e->n; i++)
		qmgr_msg_rcpt_deferred(e->msg, e->idx[i], dsn, "none", text, true);
}

/* qmgr_dest_result - count a success or a failure of d */
static void qmgr_dest_result(struct qmgr_dest *d, bool good, const char *reason)
{
	if (good) {
		d->fail_streak = 0;
		return;
	}
	if (++d->fail_streak >= qmgr.p.failed_cohort_limit && d->suspended_until == 0) {
		d->suspended_until = time(NULL) + qmgr.p.min_backoff;
		free(d->suspend_reason);
		d->suspend_reason = xstrdup(reason);
		msg_info("suspending delivery to %s:[%s] for %llds: %s", d->transport_name, d->nexthop,
			 qmgr.p.min_backoff, reason);
	}
}

/* qmgr_aconn_free - close an agent connection (safe inside its callbacks) */
static void qmgr_aconn_free(struct qmgr_aconn *ac)
{
	ipc_conn_free(ac->conn);
	free(ac);
}

/* qmgr_aconn_unidle - take ac off its transport's idle list */
static void qmgr_aconn_unidle(struct qmgr_aconn *ac)
{
	for (struct qmgr_aconn **pp = &ac->tp->idle; *pp; pp = &(*pp)->next)
		if (*pp == ac) {
			*pp = ac->next;
			break;
		}
	ac->next = NULL;
}

/* qmgr_aconn_release - the request on ac is over: keep ac for the next one, or close it */
static void qmgr_aconn_release(struct qmgr_aconn *ac, bool keep)
{
	ac->req = NULL;
	if (!keep || ac->uses >= QMGR_AGENT_CONN_REQUESTS || ipc_conn_is_closed(ac->conn)) {
		qmgr_aconn_free(ac);
		return;
	}
	ipc_conn_set_timeout(ac->conn, QMGR_AGENT_IDLE_MS, qmgr.p.ipc_ms);
	ac->next = ac->tp->idle;
	ac->tp->idle = ac;
}

/* qmgr_req_end - a request is over: release everything, let others go; keep: reuse the connection */
static void qmgr_req_end(struct qmgr_req *r, bool keep)
{
	struct qmgr_dest *d = r->e->dest;
	struct qmgr_transport *tp = d->tp;

	if (r->ac)
		qmgr_aconn_release(r->ac, keep);
	qmgr_entry_free(r->e);
	free(r);
	d->active--;
	tp->active--;
	qmgr_dest_make_ready(d);
	if (!tp->busy)
		qmgr_transport_unpark(tp);
	qmgr_dest_maybe_free(d);
}

/* qmgr_req_position - where recipient index idx is in e (agents keep the order) */
static long qmgr_req_position(const struct qmgr_entry *e, long long idx, size_t hint)
{
	if (hint < e->n && (long long) e->idx[hint] == idx)
		return (long) hint;
	for (size_t i = 0; i < e->n; i++)
		if ((long long) e->idx[i] == idx)
			return (long) i;
	return -1;
}

/* qmgr_req_on_frame - the agent's reply */
static void qmgr_req_on_frame(struct ipc_conn *conn, const struct attr_list *frame, void *arg)
{
	struct qmgr_aconn *ac = arg;
	struct qmgr_req *r = ac->req;
	struct qmgr_entry *e;
	const char *status = "", *text = "delivery agent error";
	const struct attr *ai = NULL, *as = NULL, *ad = NULL, *ar = NULL, *at = NULL;
	bool *done;
	bool good = false;
	char reason[600];

	(void) conn;
	if (r == NULL) {
		msg_warn("private/%s: a frame on an idle connection; closing it", ac->tp->name);
		qmgr_aconn_unidle(ac);
		qmgr_aconn_free(ac);
		return;
	}
	e = r->e;
	done = xcalloc(e->n, sizeof(bool));
	attr_get_str(frame, DELIVER_STATUS, &status);
	if (strcmp(status, "ok") != 0) {
		attr_get_str(frame, DELIVER_TEXT, &text);
		str_fmt(reason, sizeof(reason), "delivery agent %s: %.500s", e->dest->transport_name, text);
		qmgr_entry_defer(e, "4.3.0", reason);
		qmgr_dest_result(e->dest, false, reason);
		free(done);
		qmgr_req_end(r, false);
		return;
	}
	for (size_t k = 0; (ai = attr_find(frame, DELIVER_R_INDEX, ai)) != NULL; k++) {
		as = attr_find(frame, DELIVER_R_STATUS, as);
		ad = attr_find(frame, DELIVER_R_DSN, ad);
		ar = attr_find(frame, DELIVER_R_RELAY, ar);
		at = attr_find(frame, DELIVER_R_TEXT, at);
		long pos = ai->type == ATTR_INT ? qmgr_req_position(e, ai->num, k) : -1;

		if (pos < 0 || done[pos] || !as || !ad || !ar || !at) {
			msg_warn("%s: private/%s: malformed reply entry %zu", e->msg->qid,
				 e->dest->transport_name, k);
			break;
		}
		done[pos] = true;
		if (strcmp(as->value, "sent") == 0 || strcmp(as->value, "bounced") == 0 ||
		    strcmp(as->value, "relayed") == 0) {
			qmgr_msg_rcpt_final(e->msg, e->idx[pos], as->value[0] != 'b', ad->value,
					    ar->value, at->value);
			if (as->value[0] == 'r')	/* the next hop sends any success notice */
				e->msg->st[e->idx[pos]].flags |= QFILE_RS_NOTIFIED;
			good = true;
		} else {
			qmgr_msg_rcpt_deferred(e->msg, e->idx[pos], ad->value, ar->value, at->value, false);
		}
	}
	for (size_t i = 0; i < e->n; i++)
		if (!done[i])
			qmgr_msg_rcpt_deferred(e->msg, e->idx[i], "4.3.0", "none",
					       "delivery agent did not report this recipient", true);
	qmgr_dest_result(e->dest, good, "all recipients deferred");
	free(done);
	qmgr_req_end(r, true);
}

/* qmgr_req_on_close - the connection ended: idle (forget it), or before the reply */
static void qmgr_req_on_close(struct ipc_conn *conn, const char *reason, void *arg)
{
	struct qmgr_aconn *ac = arg;
	struct qmgr_req *r = ac->req;
	char text[400];

	(void) conn;
	if (r == NULL) {
		qmgr_aconn_unidle(ac);
		qmgr_aconn_free(ac);
		return;
	}
	if (ac->uses > 1) {
		/* a reused connection the agent had closed: once more on a new one */
		struct qmgr_entry *e = r->e;
		struct qmgr_dest *d = e->dest;

		msg_debug("%s: private/%s: reused connection closed (%s); sending the request again",
			  e->msg->qid, ac->tp->name, reason ? reason : "connection closed");
		qmgr_aconn_free(ac);
		free(r);
		d->active--;
		d->tp->active--;
		if (!qmgr_req_start(e, true))
			qmgr_dest_busy(d, e);	/* first in line again once the transport has room */
		qmgr_dest_make_ready(d);
		qmgr_dest_maybe_free(d);
		return;
	}
	str_fmt(text, sizeof(text), "lost connection with private/%s: %.300s",
		r->e->dest->transport_name, reason ? reason : "connection closed");
	qmgr_entry_defer(r->e, "4.3.0", text);
	qmgr_dest_result(r->e->dest, false, text);
	qmgr_req_end(r, false);
}

/* qmgr_req_send - the request frame for entry e on conn; 0 or -1 */
static int qmgr_req_send(struct qmgr_req *r)
{
	struct qmgr_entry *e = r->e;
	struct qmgr_msg *m = e->msg;
	struct attr_list l;
	int rc;

	attr_list_init(&l);
	attr_add_str(&l, DELIVER_OP, DELIVER_OP_DELIVER);
	attr_add_str(&l, DELIVER_QUEUE_ID, m->qid);
	attr_add_str(&l, DELIVER_QUEUE_FILE, m->path);
	attr_add_str(&l, DELIVER_NEXTHOP, e->dest->nexthop);
	attr_add_str(&l, DELIVER_SENDER, m->qf->sender);
	attr_add_int(&l, DELIVER_ARRIVAL, m->qf->arrival_sec);
	attr_add_int(&l, DELIVER_QUEUED, m->activated_us);
	attr_add_int(&l, DELIVER_FLAGS, 0);
	for (size_t i = 0; i < e->n; i++) {
		attr_add_int(&l, DELIVER_RCPT_INDEX, (int64_t) e->idx[i]);
		attr_add_str(&l, DELIVER_RCPT, m->qf->rcpts[e->idx[i]].addr);
	}
	rc = ipc_conn_send(r->ac->conn, &l);
	attr_list_free(&l);
	return rc;
}

/*
 * qmgr_req_start - send the request on an idle agent connection, or
 * connect (always when fresh); false: backlog full
 */
static bool qmgr_req_start(struct qmgr_entry *e, bool fresh)
{
	struct qmgr_dest *d = e->dest;
	struct sockaddr_un sun = {.sun_family = AF_UNIX};
	struct qmgr_aconn *ac = fresh ? NULL : d->tp->idle;
	char text[300];
	int fd;

	str_fmt(sun.sun_path, sizeof(sun.sun_path), "private/%s", d->transport_name);
	if (ac != NULL) {
		d->tp->idle = ac->next;
		ac->next = NULL;
		ipc_conn_set_timeout(ac->conn, qmgr.p.ipc_ms, qmgr.p.ipc_ms);
		goto send;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		str_fmt(text, sizeof(text), "socket: %s", strerror(errno));
		goto fail;
	}
	if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
		int err = errno;

		close(fd);
		if (err == EAGAIN || err == EINTR)
			return false;
		str_fmt(text, sizeof(text), "connect to %s: %s", sun.sun_path, strerror(err));
		goto fail;
	}
	ac = xcalloc(1, sizeof(*ac));
	ac->tp = d->tp;
	ac->conn = ipc_conn_new(qmgr.base, fd, 0, qmgr_req_on_frame, qmgr_req_on_close, ac);
	ipc_conn_set_timeout(ac->conn, qmgr.p.ipc_ms, qmgr.p.ipc_ms);
send:;
	struct qmgr_req *r = xcalloc(1, sizeof(*r));

	r->e = e;
	r->ac = ac;
	ac->req = r;
	ac->uses++;
	d->active++;
	d->tp->active++;
	if (qmgr_req_send(r) < 0) {
		/* not through qmgr_req_end: d must stay while qmgr_dest_run holds it */
		str_fmt(text, sizeof(text), "request to %s could not be sent", sun.sun_path);
		msg_warn("%s: %s", e->msg->qid, text);
		qmgr_entry_defer(e, "4.3.0", text);
		qmgr_aconn_free(ac);
		free(r);
		d->active--;
		d->tp->active--;
		qmgr_entry_free(e);
	}
	return true;
fail:
	qmgr_entry_defer(e, "4.3.0", text);
	qmgr_dest_result(d, false, text);
	qmgr_entry_free(e);
	return true;
}

/* qmgr_dest_run - start what d may start now; leaves d off the ready list */
static void qmgr_dest_run(struct qmgr_dest *d)
{
	long long now = time(NULL);

	if (d->suspended_until && now >= d->suspended_until) {
		d->suspended_until = 0;
		d->fail_streak = 0;
	}
	while (d->head) {
		struct qmgr_entry *e = d->head;

		if (!d->suspended_until) {
			if (d->active >= qmgr.p.dest_concurrency)
				break;		/* back on the ready list when one ends */
			if (d->tp->busy || d->tp->active >= qmgr.p.transport_limit) {
				d->parked = true;
				d->ready_next = d->tp->parked;
				d->tp->parked = d;
				break;
			}
		}
		d->head = e->next;
		if (d->head == NULL)
			d->tail = NULL;
		e->next = NULL;
		if (d->suspended_until) {
			char text[700];

			str_fmt(text, sizeof(text), "delivery temporarily suspended: %.600s",
				d->suspend_reason ? d->suspend_reason : "destination failed");
			qmgr_entry_defer(e, "4.3.0", text);
			qmgr_entry_free(e);
			continue;
		}
		if (!qmgr_req_start(e, false))
			qmgr_dest_busy(d, e);
	}
}

/* qmgr_dispatch - walk the ready list */
static void qmgr_dispatch(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	(void) arg;
	while (qmgr_ready) {
		struct qmgr_dest *d = qmgr_ready;

		qmgr_ready = d->ready_next;
		d->ready = false;
		d->ready_next = NULL;
		qmgr_dest_run(d);
		qmgr_dest_maybe_free(d);
	}
	qmgr_kick_scan();
}

/* qmgr_dispatch_kick - run dispatch from the event loop, once */
static void qmgr_dispatch_kick(void)
{
	if (qmgr_dispatch_ev == NULL)
		qmgr_dispatch_ev = event_new(qmgr.base, -1, 0, qmgr_dispatch, NULL);
	if (!event_pending(qmgr_dispatch_ev, EV_TIMEOUT, NULL))
		event_active(qmgr_dispatch_ev, EV_TIMEOUT, 0);
}

/* qmgr_deliver_unsuspend - flush: lift suspensions (site NULL: all) */
void qmgr_deliver_unsuspend(const char *site)
{
	for (size_t b = 0; b < QMGR_DEST_BUCKETS; b++)
		for (struct qmgr_dest *d = qmgr_dests[b]; d; d = d->hash_next)
			if (site == NULL || str_eq_nocase(d->nexthop, site)) {
				d->suspended_until = 0;
				d->fail_streak = 0;
			}
}

/*
 * qmgr_deliver_drop - forget m's entries that wait (not those in flight);
 * the caller holds a reference on m, so m outlives this
 */
void qmgr_deliver_drop(struct qmgr_msg *m)
{
	for (size_t b = 0; b < QMGR_DEST_BUCKETS; b++)
		for (struct qmgr_dest *d = qmgr_dests[b]; d; d = d->hash_next) {
			struct qmgr_entry **pp = &d->head, *last = NULL;

			while (*pp) {
				struct qmgr_entry *e = *pp;

				if (e->msg != m) {
					last = e;
					pp = &e->next;
					continue;
				}
				*pp = e->next;
				qmgr_entry_free(e);
			}
			d->tail = last;
		}
}

/* qmgr_deliver_free - release everything at exit (requests are abandoned) */
void qmgr_deliver_free(void)
{
	for (size_t b = 0; b < QMGR_DEST_BUCKETS; b++)
		while (qmgr_dests[b]) {
			struct qmgr_dest *d = qmgr_dests[b];

			qmgr_dests[b] = d->hash_next;
			while (d->head) {
				struct qmgr_entry *e = d->head;

				d->head = e->next;
				free(e->idx);
				free(e);
			}
			free(d->transport_name);
			free(d->nexthop);
			free(d->suspend_reason);
			free(d);
		}
	while (qmgr_transports) {
		struct qmgr_transport *tp = qmgr_transports;

		qmgr_transports = tp->next;
		while (tp->idle) {
			struct qmgr_aconn *ac = tp->idle;

			tp->idle = ac->next;
			qmgr_aconn_free(ac);
		}
		event_free(tp->retry_ev);
		free(tp->name);
		free(tp);
	}
	if (qmgr_dispatch_ev)
		event_free(qmgr_dispatch_ev);
	free(qmgr_opens);
}
