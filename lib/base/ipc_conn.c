/*
 * ipc_conn - the event side of the IPC protocol: frames over a libevent
 * bufferevent; see ipc.h.
 *
 * Reading. The read watermark is set to what the next step needs (the
 * 4-byte prefix, then the whole frame), so a large frame wakes us once.
 * The prefix is checked against the limit before the payload is waited
 * for; a complete frame is moved from the input evbuffer straight into
 * the conn's attribute list (one copy) and handed to on_frame. All
 * complete frames are delivered before returning to the loop, unless the
 * owner pauses reading or closes the conn from on_frame.
 *
 * Closing. Any close (bad frame, timeout, error, EOF, end of
 * ipc_conn_finish) frees the bufferevent at once, which closes the fd,
 * and then calls on_close once. The struct lives until ipc_conn_free.
 * Callbacks run with "busy" raised; ipc_conn_free inside one only marks
 * the conn, and the outermost callback frees it on the way out, so no
 * code touches freed memory.
 *
 * Sending. A frame is encoded straight into the output evbuffer (one
 * contiguous reservation, one copy). Nothing limits the output queue;
 * senders of bulk data watch ipc_conn_pending or use the drain callback.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/util.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"

#define IPC_CONN_FRAME_MAX	(1024 * 1024 * 1024)

struct ipc_conn {
	struct bufferevent *bev;	/* NULL once closed */
	struct event *later;		/* deferred work: resume, finish */
	struct attr_list frame;		/* the frame being delivered */
	struct attr_list out;		/* scratch for stream frames */
	size_t max_frame;
	int fd;
	int read_ms;
	int write_ms;
	ipc_frame_fn *on_frame;
	ipc_close_fn *on_close;
	ipc_drain_fn *on_drain;
	void *arg;
	int busy;			/* our callbacks on the stack */
	bool closed;
	bool freed;
	bool paused;
	bool finishing;
	bool eof;
	char reason[ATTR_ERR_MAX + 64];
};

/* ipc_conn_destroy - release the struct (the bufferevent is gone) */
static void ipc_conn_destroy(struct ipc_conn *c)
{
	event_free(c->later);
	attr_list_free(&c->frame);
	attr_list_free(&c->out);
	free(c);
}

/* ipc_conn_leave - end of a callback: free the conn if it was freed meanwhile */
static void ipc_conn_leave(struct ipc_conn *c)
{
	if (--c->busy == 0 && c->freed)
		ipc_conn_destroy(c);
}

/* ipc_conn_close - close the socket and tell the owner, once */
static void ipc_conn_close(struct ipc_conn *c, const char *reason)
{
	if (c->closed)
		return;
	c->closed = true;
	bufferevent_free(c->bev);
	c->bev = NULL;
	c->fd = -1;
	event_del(c->later);
	if (!c->freed) {
		c->busy++;
		c->on_close(c, reason, c->arg);
		ipc_conn_leave(c);
	}
}

/* ipc_conn_closef - close with a formatted reason */
__attribute__((format(printf, 2, 3)))
static void ipc_conn_closef(struct ipc_conn *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->reason, sizeof(c->reason), fmt, ap);
	va_end(ap);
	ipc_conn_close(c, c->reason);
}

/* ipc_conn_next - deliver the next complete frame: 1 delivered, 0 need more or closed */
static int ipc_conn_next(struct ipc_conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t have = evbuffer_get_length(in);
	unsigned char prefix[ATTR_PREFIX];
	char err[ATTR_ERR_MAX];
	size_t n;
	void *p;

	if (have < ATTR_PREFIX) {
		bufferevent_setwatermark(c->bev, EV_READ, ATTR_PREFIX, 0);
		return 0;
	}
	evbuffer_copyout(in, prefix, ATTR_PREFIX);
	if (attr_frame_size(prefix, ATTR_PREFIX, c->max_frame, &n, err, sizeof(err)) < 0) {
		ipc_conn_closef(c, "%s", err);
		return 0;
	}
	if (have - ATTR_PREFIX < n) {
		bufferevent_setwatermark(c->bev, EV_READ, ATTR_PREFIX + n, 0);
		return 0;
	}
	evbuffer_drain(in, ATTR_PREFIX);
	p = attr_decode_space(&c->frame, n);
	if (evbuffer_remove(in, p, n) != (int) n)
		msg_panic("ipc_conn_next: evbuffer_remove lost bytes");
	if (attr_decode_finish(&c->frame, n, err, sizeof(err)) < 0) {
		ipc_conn_closef(c, "malformed frame: %s", err);
		return 0;
	}
	c->on_frame(c, &c->frame, c->arg);
	return 1;
}

/* ipc_conn_process - deliver the complete frames buffered; handle a pending EOF */
static void ipc_conn_process(struct ipc_conn *c)
{
	size_t left;

	while (!c->closed && !c->paused && !c->finishing && ipc_conn_next(c))
		 /* next frame */ ;
	if (c->closed || c->paused || c->finishing || !c->eof)
		return;
	left = evbuffer_get_length(bufferevent_get_input(c->bev));
	if (left == 0)
		ipc_conn_close(c, NULL);
	else
		ipc_conn_closef(c, "connection closed by peer inside a frame (%zu bytes pending)",
		    left);
}

/* ipc_conn_read_cb - bufferevent: input reached the watermark */
static void ipc_conn_read_cb(struct bufferevent *bev, void *ctx)
{
	struct ipc_conn *c = ctx;

	(void) bev;
	c->busy++;
	ipc_conn_process(c);
	ipc_conn_leave(c);
}

/* ipc_conn_write_cb - bufferevent: the output queue is empty */
static void ipc_conn_write_cb(struct bufferevent *bev, void *ctx)
{
	struct ipc_conn *c = ctx;

	(void) bev;
	c->busy++;
	if (c->finishing)
		ipc_conn_close(c, NULL);
	else if (c->on_drain)
		c->on_drain(c, c->arg);
	ipc_conn_leave(c);
}

/* ipc_conn_event_cb - bufferevent: EOF, error or timeout */
static void ipc_conn_event_cb(struct bufferevent *bev, short what, void *ctx)
{
	struct ipc_conn *c = ctx;
	const char *dir = (what & BEV_EVENT_READING) ? "read" : "write";
	int saved = errno;

	(void) bev;
	c->busy++;
	if (what & BEV_EVENT_EOF) {
		c->eof = true;
		ipc_conn_process(c);
	} else if (what & BEV_EVENT_TIMEOUT) {
		ipc_conn_closef(c, "%s timeout after %d ms", dir,
		    (what & BEV_EVENT_READING) ? c->read_ms : c->write_ms);
	} else if (what & BEV_EVENT_ERROR) {
		ipc_conn_closef(c, "%s error: %s", dir, strerror(saved));
	}
	ipc_conn_leave(c);
}

/* ipc_conn_later_cb - deferred work: finish an idle conn, resume reading */
static void ipc_conn_later_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct ipc_conn *c = ctx;

	(void) fd;
	(void) what;
	c->busy++;
	if (!c->closed && c->finishing) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			ipc_conn_close(c, NULL);
	} else if (!c->closed) {
		ipc_conn_process(c);
	}
	ipc_conn_leave(c);
}

/* ipc_conn_new - wrap a connected socket */
struct ipc_conn *ipc_conn_new(struct event_base *base, int fd, size_t max_frame,
    ipc_frame_fn *on_frame, ipc_close_fn *on_close, void *arg)
{
	struct ipc_conn *c;

	if (on_frame == NULL || on_close == NULL)
		msg_panic("ipc_conn_new: on_frame and on_close are required");
	c = xcalloc(1, sizeof(*c));
	if (evutil_make_socket_nonblocking(fd) < 0)
		msg_warn("ipc_conn_new: cannot make fd %d non-blocking: %s", fd, strerror(errno));
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->later = evtimer_new(base, ipc_conn_later_cb, c);
	if (c->bev == NULL || c->later == NULL)
		msg_fatal("ipc_conn_new: out of memory");
	attr_list_init(&c->frame);
	attr_list_init(&c->out);
	c->max_frame = max_frame ? max_frame : ATTR_FRAME_MAX;
	if (c->max_frame > IPC_CONN_FRAME_MAX)
		c->max_frame = IPC_CONN_FRAME_MAX;	/* evbuffer_remove counts in int */
	c->fd = fd;
	c->on_frame = on_frame;
	c->on_close = on_close;
	c->arg = arg;
	bufferevent_setcb(c->bev, ipc_conn_read_cb, ipc_conn_write_cb, ipc_conn_event_cb, c);
	bufferevent_setwatermark(c->bev, EV_READ, ATTR_PREFIX, 0);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

/* ipc_conn_ms_tv - milliseconds to a timeval */
static struct timeval ipc_conn_ms_tv(int ms)
{
	struct timeval tv = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};

	return tv;
}

/* ipc_conn_set_timeout - idle limits for reading and writing */
void ipc_conn_set_timeout(struct ipc_conn *c, int read_ms, int write_ms)
{
	struct timeval r = ipc_conn_ms_tv(read_ms);
	struct timeval w = ipc_conn_ms_tv(write_ms);

	c->read_ms = read_ms;
	c->write_ms = write_ms;
	if (c->bev)
		bufferevent_set_timeouts(c->bev, read_ms > 0 ? &r : NULL, write_ms > 0 ? &w : NULL);
}

/* ipc_conn_set_drain - call fn when the output queue empties */
void ipc_conn_set_drain(struct ipc_conn *c, ipc_drain_fn *fn)
{
	c->on_drain = fn;
}

/* ipc_conn_read_enable - stop or resume reading */
void ipc_conn_read_enable(struct ipc_conn *c, bool on)
{
	if (c->closed || c->finishing || c->paused == !on)
		return;
	c->paused = !on;
	if (on) {
		bufferevent_enable(c->bev, EV_READ);
		event_active(c->later, EV_TIMEOUT, 1);	/* frames may be waiting */
	} else {
		bufferevent_disable(c->bev, EV_READ);
	}
}

/* ipc_conn_send - queue one frame */
int ipc_conn_send(struct ipc_conn *c, const struct attr_list *l)
{
	struct evbuffer_iovec v;
	size_t n;

	if (c->closed || c->finishing) {
		errno = EPIPE;
		return -1;
	}
	if (attr_list_error(l)) {
		errno = EINVAL;
		return -1;
	}
	n = attr_encoded_size(l);
	if (evbuffer_reserve_space(bufferevent_get_output(c->bev), (ev_ssize_t) n, &v, 1) < 1)
		msg_fatal("ipc_conn_send: out of memory for %zu bytes", n);
	attr_encode_into(l, v.iov_base);
	v.iov_len = n;
	if (evbuffer_commit_space(bufferevent_get_output(c->bev), &v, 1) < 0)
		msg_panic("ipc_conn_send: evbuffer_commit_space failed");
	return 0;
}

/* ipc_conn_send_chunk - queue stream data as chunk frames */
int ipc_conn_send_chunk(struct ipc_conn *c, struct ipc_stream *s, const void *p, size_t n)
{
	const char *data = p;

	if (s->ended) {
		errno = EINVAL;
		return -1;
	}
	while (n > 0) {
		size_t len = n < IPC_CHUNK_MAX ? n : IPC_CHUNK_MAX;

		attr_list_reset(&c->out);
		attr_add_data_ref(&c->out, IPC_STREAM_CHUNK, data, len);
		if (ipc_conn_send(c, &c->out) < 0)
			return -1;
		s->bytes += (int64_t) len;
		data += len;
		n -= len;
	}
	return 0;
}

/* ipc_conn_send_end - queue the "end" frame of a stream */
int ipc_conn_send_end(struct ipc_conn *c, struct ipc_stream *s)
{
	if (s->ended) {
		errno = EINVAL;
		return -1;
	}
	attr_list_reset(&c->out);
	attr_add_int(&c->out, IPC_STREAM_END, s->bytes);
	if (ipc_conn_send(c, &c->out) < 0)
		return -1;
	s->ended = true;
	return 0;
}

/* ipc_conn_pending - bytes queued for writing */
size_t ipc_conn_pending(const struct ipc_conn *c)
{
	return c->bev ? evbuffer_get_length(bufferevent_get_output(c->bev)) : 0;
}

/* ipc_conn_finish - write what is queued, then close */
void ipc_conn_finish(struct ipc_conn *c)
{
	if (c->closed || c->finishing)
		return;
	c->finishing = true;
	bufferevent_disable(c->bev, EV_READ);
	if (ipc_conn_pending(c) == 0)
		event_active(c->later, EV_TIMEOUT, 1);
}

/* ipc_conn_is_closed - has the connection been closed? */
bool ipc_conn_is_closed(const struct ipc_conn *c)
{
	return c->closed;
}

/* ipc_conn_fd - the socket, or -1 */
int ipc_conn_fd(const struct ipc_conn *c)
{
	return c->fd;
}

/* ipc_conn_free - close silently and release (deferred inside callbacks) */
void ipc_conn_free(struct ipc_conn *c)
{
	if (c->freed)
		msg_panic("ipc_conn_free: freed twice");
	c->freed = true;
	if (!c->closed) {
		c->closed = true;
		bufferevent_free(c->bev);
		c->bev = NULL;
		c->fd = -1;
	}
	event_del(c->later);
	if (c->busy == 0)
		ipc_conn_destroy(c);
}
