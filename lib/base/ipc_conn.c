/*
 * ipc_conn - the event side of the IPC protocol: frames over a socket
 * watched by libevent; see ipc.h.
 *
 * Why not a bufferevent: every message crosses several of these
 * connections, and a bufferevent costs system calls per frame that this
 * paravirtualised machine charges dearly for: an ioctl(FIONREAD) before
 * each readv, an epoll_ctl to arm the write event for each reply and one
 * to disarm it, and one each way for every pause and resume of reading.
 * Here a connection costs, per burst of frames, one read and one send.
 *
 * Reading. One persistent read event for the life of the connection; each
 * wake-up does one read(2) into a bounded input buffer (16 KiB, grown to
 * hold the frame being received, never past max_frame; released when it
 * empties after a large frame). A frame's prefix is checked against the
 * limit before its payload is waited for; a complete frame is copied from
 * the buffer into the conn's attribute list (one copy) and handed to
 * on_frame. All complete frames are delivered before returning to the
 * loop, unless the owner pauses reading or closes the conn from on_frame.
 * Pausing does not touch the read event: data that arrives meanwhile is
 * read into the buffer while it has room, and only a full buffer (or
 * EOF) takes the event out of the loop until reading resumes.
 *
 * Sending. A frame is encoded straight into the output buffer (one copy)
 * and written at the end of the current callback or loop pass, so the
 * frames queued together leave in one send(2). The write event is armed
 * only while the socket refuses more (EAGAIN). Nothing limits the output
 * queue; senders of bulk data watch ipc_conn_pending or use the drain
 * callback, which runs each time the queue has been written out.
 *
 * Timeouts. One timer per conn, checked lazily against the monotonic
 * (coarse) clock: reading times out after read_ms without input while
 * reading is on, writing after write_ms without progress while output
 * waits. The timer is re-armed only when it fires or must fire earlier.
 *
 * Closing. Any close (bad frame, timeout, error, EOF, end of
 * ipc_conn_finish) removes the events, closes the fd at once and then
 * calls on_close once, always from the event loop, never from inside an
 * ipc_conn_* call. The struct lives until ipc_conn_free. Callbacks run
 * with "busy" raised; ipc_conn_free inside one only marks the conn, and
 * the outermost callback frees it on the way out, so no code touches
 * freed memory.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"

#define IPC_CONN_FRAME_MAX	(1024 * 1024 * 1024)
#define IPC_CONN_READ_MIN	(16 * 1024)	/* input buffer of every conn */
#define IPC_CONN_KEEP_MAX	(64 * 1024)	/* larger buffers are released once empty */

/* ipc_conn_bytes - a byte queue: data[off..len) is pending */
struct ipc_conn_bytes {
	char *data;
	size_t off, len, cap;
};

struct ipc_conn {
	int fd;				/* -1 once closed */
	struct event_base *base;
	struct event *rev;		/* persistent read event */
	struct event *wev;		/* persistent write event, armed on EAGAIN only */
	struct event *tev;		/* the timeouts */
	struct event *later;		/* deferred work: resume, flush, finish */
	struct ipc_conn_bytes in, out;
	struct attr_list frame;		/* the frame being delivered */
	struct attr_list scratch;	/* for stream frames */
	size_t max_frame;
	int read_ms;
	int write_ms;
	long long read_at;		/* ms: last input, or reading (re)enabled */
	long long write_at;		/* ms: last output progress, or output queued */
	long long timer_at;		/* ms the timer fires at; 0: not armed */
	ipc_frame_fn *on_frame;
	ipc_close_fn *on_close;
	ipc_drain_fn *on_drain;
	void *arg;
	int busy;			/* our callbacks on the stack */
	bool rev_on;			/* rev is in the loop */
	bool wev_on;			/* wev is in the loop */
	bool closed;
	bool freed;
	bool paused;
	bool finishing;
	bool eof;
	bool in_read;			/* inside the read callback: it writes the output on its way out */
	char reason[ATTR_ERR_MAX + 64];
};

static void ipc_conn_flush(struct ipc_conn *c);

/* ipc_conn_now - monotonic milliseconds (coarse: the vDSO, no system call) */
static long long ipc_conn_now(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) < 0)
		(void) clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ipc_conn_bytes_free - release a byte queue */
static void ipc_conn_bytes_free(struct ipc_conn_bytes *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}

/* ipc_conn_bytes_room - make room for n more bytes after len (moves the pending bytes to the front) */
static void ipc_conn_bytes_room(struct ipc_conn_bytes *b, size_t n, size_t min_cap)
{
	size_t have = b->len - b->off;
	size_t cap;

	if (b->cap - b->len >= n)
		return;
	if (b->off > 0) {
		memmove(b->data, b->data + b->off, have);
		b->off = 0;
		b->len = have;
		if (b->cap - b->len >= n)
			return;
	}
	if (n > SIZE_MAX / 2 - have)
		msg_fatal("ipc_conn: buffer of %zu bytes requested", n);
	for (cap = b->cap ? b->cap : min_cap; cap - have < n; cap *= 2)
		 /* grow */ ;
	b->data = xrealloc(b->data, cap);
	b->cap = cap;
}

/* ipc_conn_bytes_done - n bytes taken from the front; an emptied large buffer is released */
static void ipc_conn_bytes_done(struct ipc_conn_bytes *b, size_t n)
{
	b->off += n;
	if (b->off < b->len)
		return;
	b->off = b->len = 0;
	if (b->cap > IPC_CONN_KEEP_MAX)
		ipc_conn_bytes_free(b);
}

/* ipc_conn_destroy - release the struct (the events are out of the loop) */
static void ipc_conn_destroy(struct ipc_conn *c)
{
	event_free(c->rev);
	event_free(c->wev);
	event_free(c->tev);
	event_free(c->later);
	ipc_conn_bytes_free(&c->in);
	ipc_conn_bytes_free(&c->out);
	attr_list_free(&c->frame);
	attr_list_free(&c->scratch);
	free(c);
}

/* ipc_conn_leave - end of a callback: free the conn if it was freed meanwhile */
static void ipc_conn_leave(struct ipc_conn *c)
{
	if (--c->busy == 0 && c->freed)
		ipc_conn_destroy(c);
}

/* ipc_conn_shut - take every event out of the loop and close the socket */
static void ipc_conn_shut(struct ipc_conn *c)
{
	c->closed = true;
	event_del(c->rev);
	event_del(c->wev);
	event_del(c->tev);
	event_del(c->later);
	c->rev_on = c->wev_on = false;
	c->timer_at = 0;
	if (c->fd >= 0)
		(void) close(c->fd);
	c->fd = -1;
}

/* ipc_conn_close - close the socket and tell the owner, once */
static void ipc_conn_close(struct ipc_conn *c, const char *reason)
{
	if (c->closed)
		return;
	ipc_conn_shut(c);
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

/* ipc_conn_reading - does the read timeout apply now? */
static bool ipc_conn_reading(const struct ipc_conn *c)
{
	return !c->closed && !c->paused && !c->finishing && !c->eof && c->read_ms > 0;
}

/* ipc_conn_writing - does the write timeout apply now? */
static bool ipc_conn_writing(const struct ipc_conn *c)
{
	return !c->closed && c->out.len > c->out.off && c->write_ms > 0;
}

/* ipc_conn_arm - make the timer fire by the earliest deadline that applies */
static void ipc_conn_arm(struct ipc_conn *c, long long now)
{
	long long at = 0;
	struct timeval tv;

	if (ipc_conn_reading(c))
		at = c->read_at + c->read_ms;
	if (ipc_conn_writing(c) && (at == 0 || c->write_at + c->write_ms < at))
		at = c->write_at + c->write_ms;
	if (at == 0 || (c->timer_at != 0 && c->timer_at <= at))
		return;			/* nothing to watch, or the timer comes first anyway */
	if (at < now)
		at = now;
	tv.tv_sec = (time_t) ((at - now) / 1000);
	tv.tv_usec = (suseconds_t) ((at - now) % 1000) * 1000;
	c->timer_at = at;
	event_add(c->tev, &tv);
}

/* ipc_conn_timer_cb - a deadline may have passed */
static void ipc_conn_timer_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct ipc_conn *c = ctx;
	long long now = ipc_conn_now();

	(void) fd;
	(void) what;
	c->busy++;
	c->timer_at = 0;
	if (ipc_conn_reading(c) && now - c->read_at >= c->read_ms)
		ipc_conn_closef(c, "read timeout after %d ms", c->read_ms);
	else if (ipc_conn_writing(c) && now - c->write_at >= c->write_ms)
		ipc_conn_closef(c, "write timeout after %d ms", c->write_ms);
	else if (!c->closed)
		ipc_conn_arm(c, now);
	ipc_conn_leave(c);
}

/* ipc_conn_next - deliver the next complete frame: 1 delivered, 0 need more or closed */
static int ipc_conn_next(struct ipc_conn *c)
{
	size_t have = c->in.len - c->in.off;
	const char *start = c->in.data + c->in.off;
	char err[ATTR_ERR_MAX];
	size_t n;
	void *p;

	if (have < ATTR_PREFIX)
		return 0;
	if (attr_frame_size(start, ATTR_PREFIX, c->max_frame, &n, err, sizeof(err)) < 0) {
		ipc_conn_closef(c, "%s", err);
		return 0;
	}
	if (have - ATTR_PREFIX < n) {
		/* room for the whole frame, so that the reads to come can complete it */
		ipc_conn_bytes_room(&c->in, ATTR_PREFIX + n - have, IPC_CONN_READ_MIN);
		return 0;
	}
	p = attr_decode_space(&c->frame, n);
	memcpy(p, start + ATTR_PREFIX, n);
	ipc_conn_bytes_done(&c->in, ATTR_PREFIX + n);
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
	left = c->in.len - c->in.off;
	if (left == 0)
		ipc_conn_close(c, NULL);
	else
		ipc_conn_closef(c, "connection closed by peer inside a frame (%zu bytes pending)", left);
}

/* ipc_conn_read_cb - the socket is readable: one read, then the frames */
static void ipc_conn_read_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct ipc_conn *c = ctx;
	ssize_t got;

	(void) what;
	if (c->finishing || (c->paused && c->in.cap > 0 && c->in.len - c->in.off >= c->in.cap)) {
		/* finishing, or full while paused: no more input until the owner wants it */
		event_del(c->rev);
		c->rev_on = false;
		return;
	}
	/* paused: no growth, only what fits; reading: at least a quarter of the minimum */
	ipc_conn_bytes_room(&c->in, c->paused ? 1 : IPC_CONN_READ_MIN / 4, IPC_CONN_READ_MIN);
	c->busy++;
	c->in_read = true;
	got = read(fd, c->in.data + c->in.len, c->in.cap - c->in.len);
	if (got > 0) {
		c->in.len += (size_t) got;
		c->read_at = ipc_conn_now();
		ipc_conn_process(c);
	} else if (got == 0) {
		c->eof = true;
		event_del(c->rev);
		c->rev_on = false;
		ipc_conn_process(c);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		ipc_conn_closef(c, "read error: %s", strerror(errno));
	}
	c->in_read = false;
	if (!c->closed && c->out.len > c->out.off && !c->wev_on)
		ipc_conn_flush(c);	/* the replies to what was read, in one send */
	ipc_conn_leave(c);
}

/* ipc_conn_flush - write the output queue; arm the write event if the socket is full */
static void ipc_conn_flush(struct ipc_conn *c)
{
	while (c->out.len > c->out.off) {
		size_t n = c->out.len - c->out.off;
		ssize_t put = send(c->fd, c->out.data + c->out.off, n, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (put < 0 && errno == ENOTSOCK)
			put = write(c->fd, c->out.data + c->out.off, n);	/* a pipe */
		if (put > 0) {
			ipc_conn_bytes_done(&c->out, (size_t) put);
			c->write_at = ipc_conn_now();
			continue;
		}
		if (put < 0 && errno == EINTR)
			continue;
		if (put < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->wev_on) {
				event_add(c->wev, NULL);
				c->wev_on = true;
			}
			ipc_conn_arm(c, ipc_conn_now());
			return;
		}
		ipc_conn_closef(c, "write error: %s", put < 0 ? strerror(errno) : "no progress");
		return;
	}
	if (c->wev_on) {
		event_del(c->wev);
		c->wev_on = false;
	}
	if (c->finishing)
		ipc_conn_close(c, NULL);
	else if (c->on_drain)
		c->on_drain(c, c->arg);
}

/* ipc_conn_write_cb - the socket takes output again */
static void ipc_conn_write_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct ipc_conn *c = ctx;

	(void) fd;
	(void) what;
	c->busy++;
	if (!c->closed)
		ipc_conn_flush(c);
	ipc_conn_leave(c);
}

/* ipc_conn_later_cb - deferred work: frames after a resume, queued output, a finish */
static void ipc_conn_later_cb(evutil_socket_t fd, short what, void *ctx)
{
	struct ipc_conn *c = ctx;

	(void) fd;
	(void) what;
	c->busy++;
	if (!c->closed && !c->paused && !c->finishing)
		ipc_conn_process(c);
	if (!c->closed && !c->wev_on) {
		if (c->out.len > c->out.off)
			ipc_conn_flush(c);
		else if (c->finishing)
			ipc_conn_close(c, NULL);
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
	c->base = base;
	c->fd = fd;
	c->rev = event_new(base, fd, EV_READ | EV_PERSIST, ipc_conn_read_cb, c);
	c->wev = event_new(base, fd, EV_WRITE | EV_PERSIST, ipc_conn_write_cb, c);
	c->tev = evtimer_new(base, ipc_conn_timer_cb, c);
	c->later = evtimer_new(base, ipc_conn_later_cb, c);
	if (c->rev == NULL || c->wev == NULL || c->tev == NULL || c->later == NULL)
		msg_fatal("ipc_conn_new: out of memory");
	attr_list_init(&c->frame);
	attr_list_init(&c->scratch);
	c->max_frame = max_frame ? max_frame : ATTR_FRAME_MAX;
	if (c->max_frame > IPC_CONN_FRAME_MAX)
		c->max_frame = IPC_CONN_FRAME_MAX;
	c->on_frame = on_frame;
	c->on_close = on_close;
	c->arg = arg;
	if (event_add(c->rev, NULL) < 0)
		msg_fatal("ipc_conn_new: cannot watch fd %d", fd);
	c->rev_on = true;
	return c;
}

/* ipc_conn_set_timeout - idle limits for reading and writing; the clocks start again */
void ipc_conn_set_timeout(struct ipc_conn *c, int read_ms, int write_ms)
{
	long long now = ipc_conn_now();

	c->read_ms = read_ms;
	c->write_ms = write_ms;
	c->read_at = now;
	if (c->out.len > c->out.off)
		c->write_at = now;
	if (!c->closed)
		ipc_conn_arm(c, now);
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
	if (!on)
		return;			/* the read event stays; see the head of the file */
	if (!c->rev_on && !c->eof) {
		event_add(c->rev, NULL);
		c->rev_on = true;
	}
	c->read_at = ipc_conn_now();
	ipc_conn_arm(c, c->read_at);
	if (c->in.len > c->in.off || c->eof)
		event_active(c->later, EV_TIMEOUT, 1);	/* frames or EOF wait */
}

/* ipc_conn_queued - output was added: start the write clock, write it from the loop */
static void ipc_conn_queued(struct ipc_conn *c, size_t before)
{
	if (before > 0)
		return;			/* already on its way */
	c->write_at = ipc_conn_now();
	ipc_conn_arm(c, c->write_at);
	/* the read callback writes on its way out; anywhere else, the loop does it next */
	if (!c->wev_on && !c->in_read)
		event_active(c->later, EV_TIMEOUT, 1);
}

/* ipc_conn_send - queue one frame */
int ipc_conn_send(struct ipc_conn *c, const struct attr_list *l)
{
	size_t n, before;

	if (c->closed || c->finishing) {
		errno = EPIPE;
		return -1;
	}
	if (attr_list_error(l)) {
		errno = EINVAL;
		return -1;
	}
	n = attr_encoded_size(l);
	before = c->out.len - c->out.off;
	ipc_conn_bytes_room(&c->out, n, IPC_CONN_READ_MIN);
	attr_encode_into(l, c->out.data + c->out.len);
	c->out.len += n;
	ipc_conn_queued(c, before);
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

		attr_list_reset(&c->scratch);
		attr_add_data_ref(&c->scratch, IPC_STREAM_CHUNK, data, len);
		if (ipc_conn_send(c, &c->scratch) < 0)
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
	attr_list_reset(&c->scratch);
	attr_add_int(&c->scratch, IPC_STREAM_END, s->bytes);
	if (ipc_conn_send(c, &c->scratch) < 0)
		return -1;
	s->ended = true;
	return 0;
}

/* ipc_conn_pending - bytes queued for writing */
size_t ipc_conn_pending(const struct ipc_conn *c)
{
	return c->closed ? 0 : c->out.len - c->out.off;
}

/* ipc_conn_finish - write what is queued, then close */
void ipc_conn_finish(struct ipc_conn *c)
{
	if (c->closed || c->finishing)
		return;
	c->finishing = true;
	if (!c->wev_on)
		event_active(c->later, EV_TIMEOUT, 1);	/* write the rest, or close now */
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
	if (!c->closed)
		ipc_conn_shut(c);
	else
		event_del(c->later);
	if (c->busy == 0)
		ipc_conn_destroy(c);
}
