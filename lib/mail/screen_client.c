/*
 * screen_client - the blocking and the event-driven client of the screen
 * service (screen_proto.h). Contract in screen_client.h.
 *
 * Blocking: one connection, kept (base/ipc_client.h); a kept connection
 * that fails gets one more try on a new one unless the deadline was
 * spent.
 *
 * Event-driven: requests wait in a FIFO in the order they were sent;
 * each reply frame answers the oldest. The connection is an ipc_conn
 * whose read timeout is timeout_ms: a reply that does not come in time
 * closes it, and on_close fails every waiting request. A request that
 * cannot be sent (no connection) is failed from a zero-delay event, so
 * callbacks always run from the loop. Cancelled requests stay in the
 * FIFO (their reply still has to be read) without a callback.
 */
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/ipc_client.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/screen_client.h"
#include "mail/screen_proto.h"

#define SCREEN_CLIENT_FRAME_MAX	(4 * 1024 * 1024)	/* list replies */
#define SCREEN_CLIENT_REQ_MAX	(16 * 1024)		/* what the service accepts */

/* screen_status_name - the status word of s */
const char *screen_status_name(enum screen_status s)
{
	switch (s) {
	case SCREEN_OK:
		return SCREEN_ST_OK;
	case SCREEN_BANNED:
		return SCREEN_ST_BANNED;
	case SCREEN_FROZEN:
		return SCREEN_ST_FROZEN;
	case SCREEN_OVER:
		return SCREEN_ST_OVER;
	case SCREEN_NONE:
		return SCREEN_ST_NONE;
	case SCREEN_ERROR:
		return SCREEN_ST_ERROR;
	case SCREEN_UNAVAILABLE:
		break;
	}
	return "unavailable";
}

/* screen_query_build - q as a request frame into l: 0, or -1 with why */
static int screen_query_build(const struct screen_query *q, struct attr_list *l, char *why, size_t len)
{
	static const struct { const char *name; size_t off; } strs[] = {
		{SCREEN_ADDR, offsetof(struct screen_query, addr)},
		{SCREEN_SERVICE, offsetof(struct screen_query, service)},
		{SCREEN_SESSION, offsetof(struct screen_query, session)},
		{SCREEN_ACCOUNT, offsetof(struct screen_query, account)},
		{SCREEN_MECH, offsetof(struct screen_query, mech)},
		{SCREEN_REASON, offsetof(struct screen_query, reason)},
		{SCREEN_RCPT, offsetof(struct screen_query, rcpt)},
	};

	attr_list_reset(l);
	attr_add_str(l, SCREEN_OP, q->op ? q->op : "");
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		const char *s = *(const char *const *) (const void *) ((const char *) q + strs[i].off);

		if (s != NULL)
			attr_add_str(l, strs[i].name, s);
	}
	if (q->port)
		attr_add_int(l, SCREEN_PORT, q->port);
	if (q->recipients)
		attr_add_int(l, SCREEN_RECIPIENTS, q->recipients);
	if (q->seconds)
		attr_add_int(l, SCREEN_SECONDS, q->seconds);
	if (attr_list_error(l) != NULL) {
		str_fmt(why, len, "screen request: %s", attr_list_error(l));
		return -1;
	}
	return 0;
}

/* screen_result_decode - a reply frame into out: 0, or -1 with why */
static int screen_result_decode(const struct attr_list *r, struct screen_result *out, char *why, size_t len)
{
	static const struct { const char *word; enum screen_status st; } words[] = {
		{SCREEN_ST_OK, SCREEN_OK}, {SCREEN_ST_BANNED, SCREEN_BANNED},
		{SCREEN_ST_FROZEN, SCREEN_FROZEN}, {SCREEN_ST_OVER, SCREEN_OVER},
		{SCREEN_ST_NONE, SCREEN_NONE}, {SCREEN_ST_ERROR, SCREEN_ERROR},
	};
	const char *status, *text;

	memset(out, 0, sizeof(*out));
	if (attr_need_str(r, SCREEN_STATUS, &status, why, len) < 0)
		return -1;
	if (attr_get_str(r, SCREEN_TEXT, &text))
		str_copy(out->text, text, sizeof(out->text));
	(void) attr_get_int(r, SCREEN_UNTIL, &out->until);
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strcmp(status, words[i].word) == 0) {
			out->status = words[i].st;
			return 0;
		}
	}
	str_fmt(why, len, "unknown status \"%.40s\"", status);
	return -1;
}

/* screen_unavailable - out says the service could not be asked */
static void screen_unavailable(struct screen_result *out, const char *why)
{
	memset(out, 0, sizeof(*out));
	out->status = SCREEN_UNAVAILABLE;
	str_copy(out->text, why, sizeof(out->text));
}

/* --- blocking --- */

/* screen_client - one kept connection (base/ipc_client.h) */
struct screen_client {
	struct ipc_client *conn;
};

/* screen_client_new - a client of the service at socket_path */
struct screen_client *screen_client_new(const char *socket_path, int timeout)
{
	struct screen_client *c = xcalloc(1, sizeof(*c));

	if (timeout <= 0)
		timeout = 1;
	c->conn = ipc_client_new("screen", socket_path, timeout > INT_MAX / 1000 ? INT_MAX : timeout * 1000,
				 SCREEN_CLIENT_REQ_MAX, SCREEN_CLIENT_FRAME_MAX);
	return c;
}

/* screen_client_free - close and release (NULL is fine) */
void screen_client_free(struct screen_client *c)
{
	if (c == NULL)
		return;
	ipc_client_free(c->conn);
	free(c);
}

/* screen_client_request - one request, one reply */
int screen_client_request(struct screen_client *c, const struct screen_query *q, struct screen_result *out)
{
	char why[ATTR_ERR_MAX + 600];

	if (screen_query_build(q, ipc_client_req(c->conn), why, sizeof(why)) < 0
	    || ipc_client_call(c->conn, why, sizeof(why)) < 0) {
		screen_unavailable(out, why);
		return -1;
	}
	if (screen_result_decode(ipc_client_reply(c->conn), out, why, sizeof(why)) < 0) {
		char full[sizeof(why) + 64];

		ipc_client_disconnect(c->conn);
		str_fmt(full, sizeof(full), "screen service %s: bad reply: %s", ipc_client_path(c->conn), why);
		screen_unavailable(out, full);
		return -1;
	}
	return 0;
}

/* screen_client_reply - the last reply frame */
const struct attr_list *screen_client_reply(const struct screen_client *c)
{
	return ipc_client_reply(c->conn);
}

/* --- event-driven --- */

/* screen_async_req - one request waiting for its reply (or for its failure) */
struct screen_async_req {
	struct screen_async *owner;
	screen_async_fn *fn;		/* NULL: cancelled, or no answer wanted */
	void *arg;
	char why[256];			/* failed before sending: why */
	struct screen_async_req *next;
};

/* screen_async - one kept connection and its FIFO */
struct screen_async {
	struct event_base *base;
	char *path;
	int timeout_ms;
	struct ipc_conn *conn;
	struct attr_list req;
	struct screen_async_req *head, *tail;		/* sent, waiting for replies */
	struct screen_async_req *failed, *failed_tail;	/* to fail from the loop */
	struct event *fail_ev;
};

/* screen_async_fail_all - run every request of list with SCREEN_UNAVAILABLE and why; free them */
static void screen_async_fail_list(struct screen_async_req *list, const char *why)
{
	while (list != NULL) {
		struct screen_async_req *r = list;
		struct screen_result res;

		list = r->next;
		if (r->fn != NULL) {
			screen_unavailable(&res, r->why[0] ? r->why : why);
			r->fn(&res, r->arg);
		}
		free(r);
	}
}

/* screen_async_on_fail - the zero-delay event: fail what could not be sent */
static void screen_async_on_fail(evutil_socket_t fd, short what, void *arg)
{
	struct screen_async *a = arg;
	struct screen_async_req *list = a->failed;

	(void) fd;
	(void) what;
	a->failed = a->failed_tail = NULL;
	screen_async_fail_list(list, "screen service unavailable");
}

/* screen_async_on_frame - a reply: it answers the oldest request */
static void screen_async_on_frame(struct ipc_conn *conn, const struct attr_list *frame, void *arg)
{
	struct screen_async *a = arg;
	struct screen_async_req *r = a->head;
	struct screen_result res;
	char why[ATTR_ERR_MAX + 64];

	(void) conn;
	if (r == NULL)
		return;			/* a reply nobody asked for: ignored */
	a->head = r->next;
	if (a->head == NULL)
		a->tail = NULL;
	if (screen_result_decode(frame, &res, why, sizeof(why)) < 0) {
		char full[sizeof(why) + 64];

		str_fmt(full, sizeof(full), "screen service: bad reply: %s", why);
		screen_unavailable(&res, full);
	}
	if (r->fn != NULL)
		r->fn(&res, r->arg);
	free(r);
}

/* screen_async_on_close - the connection is gone: fail everything that waits on it */
static void screen_async_on_close(struct ipc_conn *conn, const char *reason, void *arg)
{
	struct screen_async *a = arg;
	struct screen_async_req *list = a->head;
	char why[300];

	str_fmt(why, sizeof(why), "screen service %s: %s", a->path, reason ? reason : "connection closed");
	a->head = a->tail = NULL;
	ipc_conn_free(conn);
	a->conn = NULL;
	screen_async_fail_list(list, why);
}

/* screen_async_connect - a non-blocking connect to the service: 0, or -1 with why */
static int screen_async_connect(struct screen_async *a, char *why, size_t len)
{
	struct sockaddr_un sun;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (str_copy(sun.sun_path, a->path, sizeof(sun.sun_path)) < 0) {
		str_fmt(why, len, "screen socket path too long: %s", a->path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		str_fmt(why, len, "socket: %s", strerror(errno));
		return -1;
	}
	if (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0 && errno != EINPROGRESS) {
		str_fmt(why, len, "cannot connect to the screen service %s: %s", a->path, strerror(errno));
		close(fd);
		return -1;
	}
	a->conn = ipc_conn_new(a->base, fd, SCREEN_CLIENT_FRAME_MAX, screen_async_on_frame,
			       screen_async_on_close, a);
	ipc_conn_set_timeout(a->conn, a->timeout_ms, a->timeout_ms);
	return 0;
}

/* screen_async_new - an event-driven client */
struct screen_async *screen_async_new(struct event_base *base, const char *socket_path, int timeout_ms)
{
	struct screen_async *a = xcalloc(1, sizeof(*a));

	a->base = base;
	a->path = xstrdup(socket_path);
	a->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
	attr_list_init(&a->req);
	attr_list_set_limit(&a->req, SCREEN_CLIENT_REQ_MAX);
	a->fail_ev = event_new(base, -1, 0, screen_async_on_fail, a);
	if (a->fail_ev == NULL)
		msg_fatal("screen_async_new: event_new failed");
	return a;
}

/* screen_async_free_list - release a list without callbacks */
static void screen_async_free_list(struct screen_async_req *r)
{
	while (r != NULL) {
		struct screen_async_req *next = r->next;

		free(r);
		r = next;
	}
}

/* screen_async_free - close and release (NULL is fine) */
void screen_async_free(struct screen_async *a)
{
	if (a == NULL)
		return;
	if (a->conn != NULL)
		ipc_conn_free(a->conn);
	screen_async_free_list(a->head);
	screen_async_free_list(a->failed);
	event_free(a->fail_ev);
	attr_list_free(&a->req);
	free(a->path);
	free(a);
}

/* screen_async_request - queue one request */
struct screen_async_req *screen_async_request(struct screen_async *a, const struct screen_query *q,
					      screen_async_fn *fn, void *arg)
{
	struct screen_async_req *r = xcalloc(1, sizeof(*r));
	struct timeval now = {0, 0};

	r->owner = a;
	r->fn = fn;
	r->arg = arg;
	if (screen_query_build(q, &a->req, r->why, sizeof(r->why)) == 0
	    && (a->conn != NULL || screen_async_connect(a, r->why, sizeof(r->why)) == 0)) {
		if (ipc_conn_send(a->conn, &a->req) == 0) {
			if (a->tail)
				a->tail->next = r;
			else
				a->head = r;
			a->tail = r;
			return r;
		}
		str_fmt(r->why, sizeof(r->why), "screen service %s: cannot send", a->path);
	}
	if (a->failed_tail)
		a->failed_tail->next = r;
	else
		a->failed = r;
	a->failed_tail = r;
	event_add(a->fail_ev, &now);
	return r;
}

/* screen_async_cancel - forget the callback */
void screen_async_cancel(struct screen_async_req *r)
{
	if (r != NULL)
		r->fn = NULL;
}
