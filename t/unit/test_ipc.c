/*
 * test_ipc - unit tests for lib/base ipc: the blocking calls over
 * socketpairs and UNIX sockets (request/reply, timeouts, EOF, bad frames,
 * listening-socket safety, peer credentials), the libevent side in this
 * process (frames in one write, byte by byte, oversized and malformed
 * frames, timeouts, freeing inside callbacks, flow control, finish), and
 * 1 MB content streams, blocking and event-driven. Forked peers exit with
 * a status the parent checks. Deadlines are short; an alarm stops a hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "base/attr.h"
#include "base/buf.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/str.h"
#include "tap.h"

#define BODY_SIZE	(1024 * 1024 + 77)

static char tmpdir[64];

/* now_ms - monotonic milliseconds */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* pair - a connected socketpair */
static void pair(int fd[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fd) < 0)
		abort();
}

/* body_byte - the test body's byte at offset i */
static unsigned char body_byte(size_t i)
{
	return (unsigned char) ((i * 7 + i / 251) % 256);
}

/* write_all - plain blocking write for test peers */
static void write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t r = write(fd, c, n);

		if (r <= 0)
			abort();
		c += r;
		n -= (size_t) r;
	}
}

/* wait_child - the exit status of a forked peer, or -1 */
static int wait_child(pid_t pid)
{
	int st;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

/* echo_server - child: reply to each frame with its attributes plus "echo" */
static void echo_server(int fd)
{
	struct attr_list in;
	struct attr_list out;
	char err[ATTR_ERR_MAX];
	int r;

	attr_list_init(&in);
	attr_list_init(&out);
	while ((r = ipc_recv(fd, &in, 0, 5000, err, sizeof(err))) == 1) {
		if (attr_find(&in, "silent", NULL))
			continue;
		if (attr_find(&in, "hangup", NULL))
			_exit(0);
		attr_list_reset(&out);
		for (size_t i = 0; i < attr_count(&in); i++) {
			const struct attr *a = attr_at(&in, i);

			if (a->type == ATTR_INT)
				attr_add_int(&out, a->name, a->num);
			else if (a->type == ATTR_STR)
				attr_add_strn(&out, a->name, a->value, a->len);
			else
				attr_add_data(&out, a->name, a->value, a->len);
		}
		attr_add_int(&out, "echo", 1);
		if (ipc_send(fd, &out, 5000) < 0)
			_exit(2);
	}
	_exit(r == 0 ? 0 : 3);
}

static void test_blocking_request(void)
{
	struct attr_list req;
	struct attr_list rep;
	char err[ATTR_ERR_MAX] = "";
	const char *s;
	int64_t v;
	int fd[2];
	pid_t pid;
	long long t0;

	pair(fd);
	pid = fork();
	if (pid == 0) {
		close(fd[0]);
		echo_server(fd[1]);
	}
	close(fd[1]);
	attr_list_init(&req);
	attr_list_init(&rep);
	attr_add_str(&req, "sender", "a@example.org");
	attr_add_int(&req, "size", 5000);
	is_int(ipc_request(fd[0], &req, &rep, 0, 2000, err, sizeof(err)), 0, "request/reply");
	ok(attr_get_str(&rep, "sender", &s) && strcmp(s, "a@example.org") == 0
	    && attr_get_int(&rep, "size", &v) && v == 5000 && attr_get_int(&rep, "echo", &v),
	    "reply carries the echo");

	/* a reply bigger than the stack buffer, and a second request on the same socket */
	{
		char *big = xmalloc(300000);

		memset(big, 'x', 300000);
		attr_list_reset(&req);
		attr_add_data(&req, "blob", big, 300000);
		ok(ipc_request(fd[0], &req, &rep, 0, 2000, err, sizeof(err)) == 0
		    && attr_at(&rep, 0)->len == 300000 && memcmp(attr_at(&rep, 0)->value, big, 300000) == 0,
		    "300 KB request and reply");
		free(big);
	}

	/* the receiver's limit applies to replies */
	attr_list_reset(&req);
	attr_add_str(&req, "text", "0123456789012345678901234567890123456789");
	ok(ipc_request(fd[0], &req, &rep, 32, 2000, err, sizeof(err)) == -1 && errno == EPROTO,
	    "reply over the receiver's limit: EPROTO");
	is_str(err, "frame of 69 bytes exceeds limit 32", "limit reason");
	close(fd[0]);
	ok(wait_child(pid) >= 0, "peer exited");

	/* a silent peer: timeout within the deadline */
	pair(fd);
	pid = fork();
	if (pid == 0) {
		close(fd[0]);
		echo_server(fd[1]);
	}
	close(fd[1]);
	attr_list_reset(&req);
	attr_add_int(&req, "silent", 1);
	t0 = now_ms();
	ok(ipc_request(fd[0], &req, &rep, 0, 200, err, sizeof(err)) == -1 && errno == ETIMEDOUT,
	    "silent peer: ETIMEDOUT");
	t0 = now_ms() - t0;
	ok(t0 >= 190 && t0 < 1500, "timeout after about 200 ms (%lld)", t0);
	is_str(err, "read: timeout after 200 ms", "timeout reason");

	/* a peer that hangs up instead of replying */
	attr_list_reset(&req);
	attr_add_int(&req, "hangup", 1);
	ok(ipc_request(fd[0], &req, &rep, 0, 2000, err, sizeof(err)) == -1 && errno == ECONNRESET,
	    "hang-up before the reply: ECONNRESET");
	is_str(err, "connection closed before the reply", "hang-up reason");
	is_int(wait_child(pid), 0, "peer exited");

	/* sending to a closed peer is EPIPE, not SIGPIPE */
	ok(ipc_send(fd[0], &req, 1000) == -1 && errno == EPIPE, "send to a closed peer: EPIPE");
	close(fd[0]);

	/* a list with an error is not sent */
	pair(fd);
	attr_list_reset(&req);
	attr_add_str(&req, "BAD", "x");
	ok(ipc_send(fd[0], &req, 1000) == -1 && errno == EINVAL, "list with an error: EINVAL");
	ok(ipc_request(fd[0], &req, &rep, 0, 1000, err, sizeof(err)) == -1
	    && strcmp(err, "bad request: bad attribute name \"BAD\"") == 0, "request reports the list error");
	close(fd[0]);
	close(fd[1]);
	attr_list_free(&req);
	attr_list_free(&rep);
}

static void test_blocking_errors(void)
{
	struct attr_list l;
	char err[ATTR_ERR_MAX];
	struct buf b;
	int fd[2];
	long long t0;
	int sndbuf = 4096;
	char *big;

	attr_list_init(&l);
	buf_init(&b, 0);

	/* EOF between frames is 0, not an error */
	pair(fd);
	attr_add_str(&l, "x", "y");
	ipc_send(fd[1], &l, 1000);
	close(fd[1]);
	is_int(ipc_recv(fd[0], &l, 0, 1000, err, sizeof(err)), 1, "frame before EOF");
	is_int(ipc_recv(fd[0], &l, 0, 1000, err, sizeof(err)), 0, "then EOF: 0");
	close(fd[0]);

	/* EOF inside the prefix and inside the payload */
	pair(fd);
	write_all(fd[1], "\0\0", 2);
	close(fd[1]);
	ok(ipc_recv(fd[0], &l, 0, 1000, err, sizeof(err)) == -1 && errno == ECONNRESET,
	    "EOF inside the prefix: ECONNRESET");
	is_str(err, "connection closed inside a frame (2 of 4 prefix bytes)", "prefix EOF reason");
	close(fd[0]);
	pair(fd);
	attr_list_reset(&l);
	attr_add_str(&l, "x", "yyyy");
	attr_encode(&l, &b);
	write_all(fd[1], b.data, b.len - 3);
	close(fd[1]);
	ok(ipc_recv(fd[0], &l, 0, 1000, err, sizeof(err)) == -1 && errno == ECONNRESET
	    && attr_count(&l) == 0, "EOF inside the payload: ECONNRESET, list empty");
	is_str(err, "connection closed inside a frame (9 of 12 bytes)", "payload EOF reason");
	close(fd[0]);

	/* malformed and oversized frames: EPROTO */
	pair(fd);
	write_all(fd[1], "\0\0\0\2\1X", 6);
	ok(ipc_recv(fd[0], &l, 0, 1000, err, sizeof(err)) == -1 && errno == EPROTO,
	    "malformed frame: EPROTO");
	is_str(err, "attribute 1: truncated, 1 trailing bytes", "malformed reason");
	write_all(fd[1], "\0\x4c\x4b\x40", 4);
	ok(ipc_recv(fd[0], &l, 0, 1000, err, sizeof(err)) == -1 && errno == EPROTO,
	    "oversized frame: EPROTO");
	is_str(err, "frame of 5000000 bytes exceeds limit 1048576", "oversized reason");

	/* a partial frame and then silence: timeout */
	write_all(fd[1], "\0\0\0\x20\1", 5);
	t0 = now_ms();
	ok(ipc_recv(fd[0], &l, 0, 200, err, sizeof(err)) == -1 && errno == ETIMEDOUT,
	    "partial frame then silence: ETIMEDOUT");
	t0 = now_ms() - t0;
	ok(t0 >= 190 && t0 < 1500, "within the deadline (%lld ms)", t0);
	close(fd[0]);
	close(fd[1]);

	/* a peer that never reads: the send times out */
	pair(fd);
	setsockopt(fd[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	big = xcalloc(1, ATTR_FRAME_MAX - 100);
	attr_list_reset(&l);
	attr_add_data(&l, "d", big, ATTR_FRAME_MAX - 100);
	t0 = now_ms();
	ok(ipc_send(fd[0], &l, 200) == -1 && errno == ETIMEDOUT, "peer never reads: send ETIMEDOUT");
	t0 = now_ms() - t0;
	ok(t0 >= 190 && t0 < 1500, "within the deadline (%lld ms)", t0);
	free(big);
	close(fd[0]);
	close(fd[1]);

	/* timeout 0 polls once */
	pair(fd);
	ok(ipc_recv(fd[0], &l, 0, 0, err, sizeof(err)) == -1 && errno == ETIMEDOUT,
	    "timeout 0 does not wait");
	close(fd[0]);
	close(fd[1]);

	/* not a socket: a pipe works through read/write */
	{
		int p[2];

		if (pipe(p) < 0)
			abort();
		attr_list_reset(&l);
		attr_add_str(&l, "via", "pipe");
		ok(ipc_send(p[1], &l, 1000) == 0 && ipc_recv(p[0], &l, 0, 1000, err, sizeof(err)) == 1
		    && strcmp(attr_at(&l, 0)->value, "pipe") == 0, "frames over a pipe");
		close(p[0]);
		close(p[1]);
	}
	attr_list_free(&l);
	buf_free(&b);
}

static void test_unix_sockets(void)
{
	char path[128];
	char file[128];
	struct stat st;
	int lfd;
	int cfd;
	int afd;
	uid_t uid;
	gid_t gid;
	pid_t pid;
	pid_t child;
	long long t0;

	str_fmt(path, sizeof(path), "%s/sock", tmpdir);
	str_fmt(file, sizeof(file), "%s/file", tmpdir);

	ok(ipc_connect_unix(path, 200) == -1 && errno == ENOENT, "connect to nothing: ENOENT");
	lfd = ipc_listen_unix(path, 0660);
	ok(lfd >= 0, "listen");
	ok(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 07777) == 0660,
	    "socket mode is exactly 0660 (%o)", (unsigned) (st.st_mode & 07777));
	ok((fcntl(lfd, F_GETFD) & FD_CLOEXEC) && (fcntl(lfd, F_GETFL) & O_NONBLOCK),
	    "listener is close-on-exec and non-blocking");
	ok(ipc_listen_unix(path, 0660) == -1 && errno == EADDRINUSE, "a live socket is not replaced");
	close(accept(lfd, NULL, NULL));	/* the probe's connection */

	cfd = ipc_connect_unix(path, 1000);
	ok(cfd >= 0 && !(fcntl(cfd, F_GETFL) & O_NONBLOCK), "connect: a blocking fd");
	afd = accept(lfd, NULL, NULL);
	ok(ipc_peer_uid(afd, &uid, &gid, &pid) == 0 && uid == getuid() && gid == getgid()
	    && pid == getpid(), "SO_PEERCRED: our uid, gid, pid");
	ok(ipc_peer_uid(afd, NULL, NULL, NULL) == 0, "SO_PEERCRED with no outputs");
	close(afd);
	close(cfd);

	/* a forked client: its pid and our uid */
	child = fork();
	if (child == 0) {
		struct attr_list l;
		char err[ATTR_ERR_MAX];
		int fd = ipc_connect_unix(path, 2000);
		int64_t v = 0;

		attr_list_init(&l);
		attr_add_str(&l, "hello", "server");
		if (fd < 0 || ipc_request(fd, &l, &l, 0, 2000, err, sizeof(err)) < 0
		    || !attr_get_int(&l, "pid", &v) || v != getpid())
			_exit(1);
		_exit(0);
	}
	{
		struct attr_list l;
		char err[ATTR_ERR_MAX];
		int fd;

		attr_list_init(&l);
		fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) & ~O_NONBLOCK);
		fd = accept(lfd, NULL, NULL);
		ok(ipc_peer_uid(fd, &uid, NULL, &pid) == 0 && uid == getuid() && pid == child,
		    "SO_PEERCRED of a forked client: uid and its pid");
		ok(ipc_recv(fd, &l, 0, 2000, err, sizeof(err)) == 1, "server receives");
		attr_list_reset(&l);
		attr_add_int(&l, "pid", pid);
		ok(ipc_send(fd, &l, 2000) == 0, "server replies");
		is_int(wait_child(child), 0, "client got the reply");
		close(fd);
		attr_list_free(&l);
	}

	/* stale socket: closed without unlink */
	close(lfd);
	ok(ipc_connect_unix(path, 200) == -1 && errno == ECONNREFUSED, "stale socket: ECONNREFUSED");
	lfd = ipc_listen_unix(path, 0600);
	ok(lfd >= 0 && stat(path, &st) == 0 && (st.st_mode & 0777) == 0600,
	    "a stale socket is replaced, mode 0600");
	close(lfd);
	unlink(path);

	/* something else at the path is left alone */
	close(open(file, O_WRONLY | O_CREAT, 0644));
	ok(ipc_listen_unix(file, 0666) == -1 && errno == EEXIST, "regular file: EEXIST");
	ok(stat(file, &st) == 0 && S_ISREG(st.st_mode), "the file is still there");
	unlink(file);

	/* names too long for sun_path */
	{
		char longp[200];

		memset(longp, 'a', sizeof(longp) - 1);
		longp[sizeof(longp) - 1] = '\0';
		ok(ipc_listen_unix(longp, 0600) == -1 && errno == ENAMETOOLONG, "listen: ENAMETOOLONG");
		ok(ipc_connect_unix(longp, 100) == -1 && errno == ENAMETOOLONG, "connect: ENAMETOOLONG");
	}

	/* a listener whose backlog is full: connect times out */
	{
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		int fds[64];
		int nfds = 0;
		int fd;

		str_copy(sun.sun_path, path, sizeof(sun.sun_path));
		lfd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (bind(lfd, (struct sockaddr *) &sun, sizeof(sun)) < 0 || listen(lfd, 0) < 0)
			abort();
		while (nfds < 64) {
			fds[nfds] = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
			if (connect(fds[nfds], (struct sockaddr *) &sun, sizeof(sun)) < 0) {
				close(fds[nfds]);
				break;
			}
			nfds++;
		}
		t0 = now_ms();
		fd = ipc_connect_unix(path, 200);
		t0 = now_ms() - t0;
		ok(fd == -1 && errno == ETIMEDOUT, "full backlog: connect ETIMEDOUT");
		ok(t0 >= 190 && t0 < 1500, "within the deadline (%lld ms)", t0);
		ok(ipc_listen_unix(path, 0600) == -1 && errno == EADDRINUSE,
		    "a listener with a full backlog counts as live");
		while (nfds > 0)
			close(fds[--nfds]);
		close(lfd);
		unlink(path);
	}
}

/* Event side. */

struct evt {
	struct event_base *base;
	struct ipc_conn *conn;
	int frames;
	int64_t last_seq;
	bool in_order;
	bool closed;
	bool clean;
	char reason[256];
	int free_after;			/* free the conn in on_frame after this many */
	bool free_in_close;
	int pause_after;
	int drained;
	bool timed_out;
	/* streams */
	struct ipc_stream rx;
	size_t body_at;
	bool body_ok;
	int stream_status;		/* IPC_STREAM_* of the last frame */
	bool stream_done;		/* END_OK or ERROR seen */
	char stream_err[ATTR_ERR_MAX];
	bool reply_count;		/* answer the end of a stream with "received" */
	bool check_peer;
	bool peer_ok;
};

static void evt_init(struct evt *e, struct event_base *base)
{
	memset(e, 0, sizeof(*e));
	e->base = base;
	e->in_order = true;
	e->body_ok = true;
	e->stream_status = -2;
	ipc_stream_init(&e->rx);
}

/* on_frame - count frames, check "seq" order, take stream frames */
static void on_frame(struct ipc_conn *c, const struct attr_list *f, void *arg)
{
	struct evt *e = arg;
	int64_t seq;

	e->frames++;
	if (attr_get_int(f, "seq", &seq)) {
		if (seq != e->last_seq + 1)
			e->in_order = false;
		e->last_seq = seq;
	}
	if (e->check_peer) {
		uid_t uid;

		e->peer_ok = ipc_peer_uid(ipc_conn_fd(c), &uid, NULL, NULL) == 0 && uid == getuid();
	}
	if (attr_find(f, IPC_STREAM_CHUNK, NULL) || attr_find(f, IPC_STREAM_END, NULL)) {
		const void *p;
		size_t n;

		e->stream_status = ipc_stream_take(&e->rx, f, &p, &n, e->stream_err,
		    sizeof(e->stream_err));
		e->stream_done = e->stream_status != IPC_STREAM_DATA;
		if (e->stream_status == IPC_STREAM_DATA) {
			for (size_t i = 0; i < n; i++)
				if (((const unsigned char *) p)[i] != body_byte(e->body_at + i))
					e->body_ok = false;
			e->body_at += n;
		} else if (e->stream_status == IPC_STREAM_END_OK && e->reply_count) {
			struct attr_list r;

			attr_list_init(&r);
			attr_add_int(&r, "received", e->rx.bytes);
			ipc_conn_send(c, &r);
			attr_list_free(&r);
			ipc_conn_finish(c);
		}
	}
	if (e->free_after && e->frames == e->free_after) {
		ipc_conn_free(c);
		e->conn = NULL;
	}
	if (e->pause_after && e->frames == e->pause_after)
		ipc_conn_read_enable(c, false);
}

/* on_close - record why */
static void on_close(struct ipc_conn *c, const char *reason, void *arg)
{
	struct evt *e = arg;

	e->closed = true;
	e->clean = reason == NULL;
	str_copy(e->reason, reason ? reason : "(clean)", sizeof(e->reason));
	if (e->free_in_close) {
		ipc_conn_free(c);
		e->conn = NULL;
	}
}

static void on_drain(struct ipc_conn *c, void *arg)
{
	struct evt *e = arg;

	(void) c;
	e->drained++;
}

static void guard_cb(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	*(bool *) arg = true;
}

/* loop_until - run the loop until *count >= want, or *flag, or 5 s; false on timeout */
static bool loop_until(struct event_base *base, const int *count, int want, const bool *flag)
{
	bool expired = false;
	struct event *guard = evtimer_new(base, guard_cb, &expired);
	struct timeval tv = {5, 0};

	evtimer_add(guard, &tv);
	while (!expired && !(count && *count >= want) && !(flag && *flag))
		event_base_loop(base, EVLOOP_ONCE);
	event_free(guard);
	return !expired;
}

/* frame_bytes - encode frames with seq first..last into b */
static void frame_bytes(struct buf *b, int first, int last)
{
	struct attr_list l;

	attr_list_init(&l);
	for (int i = first; i <= last; i++) {
		attr_list_reset(&l);
		attr_add_int(&l, "seq", i);
		attr_add_str(&l, "pad", "some text to make frames a little longer");
		attr_encode(&l, b);
	}
	attr_list_free(&l);
}

static void test_event_frames(struct event_base *base)
{
	struct evt e;
	struct buf b;
	int fd[2];
	char c;

	buf_init(&b, 0);

	/* several frames in one write */
	pair(fd);
	evt_init(&e, base);
	e.check_peer = true;
	e.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &e);
	frame_bytes(&b, 1, 5);
	write_all(fd[0], b.data, b.len);
	ok(loop_until(base, &e.frames, 5, NULL), "five frames in one write");
	ok(e.frames == 5 && e.in_order, "all delivered, in order");
	ok(e.peer_ok, "SO_PEERCRED on the event side: our uid");

	/* a frame split byte by byte */
	buf_reset(&b);
	frame_bytes(&b, 6, 6);
	for (size_t i = 0; i + 1 < b.len; i++) {
		write_all(fd[0], b.data + i, 1);
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	is_int(e.frames, 5, "a partial frame is not delivered");
	write_all(fd[0], b.data + b.len - 1, 1);
	ok(loop_until(base, &e.frames, 6, NULL) && e.in_order, "the last byte completes it");

	/* one and a half frames, then the rest */
	buf_reset(&b);
	frame_bytes(&b, 7, 8);
	write_all(fd[0], b.data, b.len - 10);
	ok(loop_until(base, &e.frames, 7, NULL), "a frame and a half: one delivered");
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(e.frames, 7, "the half waits");
	write_all(fd[0], b.data + b.len - 10, 10);
	ok(loop_until(base, &e.frames, 8, NULL) && e.in_order, "then the second");

	/* clean EOF */
	close(fd[0]);
	ok(loop_until(base, NULL, 0, &e.closed) && e.clean, "EOF between frames: clean close");
	ok(ipc_conn_is_closed(e.conn) && ipc_conn_fd(e.conn) == -1, "closed conn has no fd");
	{
		struct attr_list l;

		attr_list_init(&l);
		attr_add_int(&l, "seq", 9);
		ok(ipc_conn_send(e.conn, &l) == -1 && errno == EPIPE, "send on a closed conn: EPIPE");
		attr_list_free(&l);
	}
	ipc_conn_free(e.conn);

	/* EOF inside a frame */
	pair(fd);
	evt_init(&e, base);
	e.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &e);
	write_all(fd[0], b.data, 10);
	close(fd[0]);
	ok(loop_until(base, NULL, 0, &e.closed), "EOF inside a frame closes");
	is_str(e.reason, "connection closed by peer inside a frame (10 bytes pending)", "with a reason");
	ipc_conn_free(e.conn);

	/* oversized frame: closed with the reason; the peer sees EOF */
	pair(fd);
	evt_init(&e, base);
	e.conn = ipc_conn_new(base, fd[1], 1000, on_frame, on_close, &e);
	frame_bytes(&b, 1, 1);
	write_all(fd[0], "\0\0\x13\x88", 4);	/* 5000 */
	ok(loop_until(base, NULL, 0, &e.closed), "oversized frame closes");
	is_str(e.reason, "frame of 5000 bytes exceeds limit 1000", "oversized reason");
	ok(read(fd[0], &c, 1) == 0, "the peer sees the connection closed");
	is_int(e.frames, 0, "nothing delivered");
	ipc_conn_free(e.conn);
	close(fd[0]);

	/* malformed frame after a good one */
	pair(fd);
	evt_init(&e, base);
	e.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &e);
	buf_reset(&b);
	frame_bytes(&b, 1, 1);
	buf_append(&b, "\0\0\0\1\x09", 5);
	frame_bytes(&b, 2, 2);
	write_all(fd[0], b.data, b.len);
	ok(loop_until(base, NULL, 0, &e.closed), "malformed frame closes");
	is_str(e.reason, "malformed frame: unsupported protocol version 9", "malformed reason");
	is_int(e.frames, 1, "frames before it delivered, none after");
	ipc_conn_free(e.conn);
	close(fd[0]);

	/* read timeout */
	pair(fd);
	evt_init(&e, base);
	e.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &e);
	ipc_conn_set_timeout(e.conn, 100, 0);
	{
		long long t0 = now_ms();

		ok(loop_until(base, NULL, 0, &e.closed), "silent peer: closed");
		t0 = now_ms() - t0;
		is_str(e.reason, "read timeout after 100 ms", "read timeout reason");
		ok(t0 >= 90 && t0 < 1500, "after about 100 ms (%lld)", t0);
	}
	ipc_conn_free(e.conn);
	close(fd[0]);

	buf_free(&b);
}

static void test_event_callbacks(struct event_base *base)
{
	struct attr_list l;
	struct evt e;
	struct buf b;
	char err[ATTR_ERR_MAX];
	int fd[2];

	buf_init(&b, 0);
	attr_list_init(&l);

	/* free inside on_frame with more frames buffered */
	pair(fd);
	evt_init(&e, base);
	e.free_after = 1;
	e.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &e);
	frame_bytes(&b, 1, 3);
	write_all(fd[0], b.data, b.len);
	ok(loop_until(base, &e.frames, 1, NULL), "first frame delivered");
	event_base_loop(base, EVLOOP_NONBLOCK);
	ok(e.frames == 1 && !e.closed && e.conn == NULL, "freed in on_frame: no more frames, no on_close");
	ok(read(fd[0], err, 1) == 0, "and the socket is closed");
	close(fd[0]);

	/* free inside on_close */
	pair(fd);
	evt_init(&e, base);
	e.free_in_close = true;
	e.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &e);
	close(fd[0]);
	ok(loop_until(base, NULL, 0, &e.closed) && e.conn == NULL, "freed in on_close");

	/* pause after the first of three frames, then resume */
	pair(fd);
	evt_init(&e, base);
	e.pause_after = 1;
	e.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &e);
	write_all(fd[0], b.data, b.len);
	ok(loop_until(base, &e.frames, 1, NULL), "first frame before the pause");
	event_base_loop(base, EVLOOP_NONBLOCK);
	is_int(e.frames, 1, "paused: buffered frames wait");
	close(fd[0]);			/* EOF waits for the buffered frames too */
	event_base_loop(base, EVLOOP_NONBLOCK);
	ok(e.frames == 1 && !e.closed, "paused: EOF not acted on");
	ipc_conn_read_enable(e.conn, true);
	ok(loop_until(base, NULL, 0, &e.closed), "resumed");
	ok(e.frames == 3 && e.in_order && e.clean, "the rest delivered, then the clean EOF");
	ipc_conn_free(e.conn);

	/* send, drain callback, finish: the peer gets the reply, then EOF */
	pair(fd);
	evt_init(&e, base);
	e.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &e);
	ipc_conn_set_drain(e.conn, on_drain);
	attr_list_reset(&l);
	attr_add_str(&l, "status", "ok");
	ok(ipc_conn_send(e.conn, &l) == 0 && ipc_conn_pending(e.conn) == attr_encoded_size(&l),
	    "frame queued");
	ok(loop_until(base, &e.drained, 1, NULL), "drain callback");
	ok(ipc_recv(fd[0], &l, 0, 1000, err, sizeof(err)) == 1
	    && strcmp(attr_at(&l, 0)->value, "ok") == 0, "peer receives the frame");
	attr_list_reset(&l);
	attr_add_str(&l, "status", "bye");
	ipc_conn_send(e.conn, &l);
	ipc_conn_finish(e.conn);
	ok(ipc_conn_send(e.conn, &l) == -1, "no sending after finish");
	ok(loop_until(base, NULL, 0, &e.closed) && e.clean, "finish closes cleanly");
	ok(ipc_recv(fd[0], &l, 0, 1000, err, sizeof(err)) == 1
	    && strcmp(attr_at(&l, 0)->value, "bye") == 0, "peer receives the last frame");
	is_int(ipc_recv(fd[0], &l, 0, 1000, err, sizeof(err)), 0, "then EOF");
	ipc_conn_free(e.conn);
	close(fd[0]);

	/* finish with nothing queued */
	pair(fd);
	evt_init(&e, base);
	e.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &e);
	ipc_conn_finish(e.conn);
	ok(loop_until(base, NULL, 0, &e.closed) && e.clean, "finish with an empty queue");
	ipc_conn_free(e.conn);
	close(fd[0]);

	/* writing to a gone peer */
	pair(fd);
	evt_init(&e, base);
	e.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &e);
	ipc_conn_read_enable(e.conn, false);
	close(fd[0]);
	ipc_conn_send(e.conn, &l);
	ok(loop_until(base, NULL, 0, &e.closed), "write to a closed peer closes");
	is_str(e.reason, "write error: Broken pipe", "write error reason");
	ipc_conn_free(e.conn);

	/* write timeout: the peer never reads */
	pair(fd);
	evt_init(&e, base);
	e.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &e);
	ipc_conn_set_timeout(e.conn, 0, 100);
	{
		char *big = xcalloc(1, 500000);

		attr_list_reset(&l);
		attr_add_data_ref(&l, "big", big, 500000);
		ipc_conn_send(e.conn, &l);
		ipc_conn_send(e.conn, &l);
		ok(loop_until(base, NULL, 0, &e.closed), "peer never reads: closed");
		is_str(e.reason, "write timeout after 100 ms", "write timeout reason");
		free(big);
	}
	ipc_conn_free(e.conn);
	close(fd[0]);

	/* a list with an error is refused */
	pair(fd);
	evt_init(&e, base);
	e.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &e);
	attr_list_reset(&l);
	attr_add_str(&l, "Bad", "x");
	ok(ipc_conn_send(e.conn, &l) == -1 && errno == EINVAL, "list with an error: EINVAL");
	ipc_conn_free(e.conn);	/* outside callbacks: at once, no on_close */
	ok(!e.closed, "ipc_conn_free does not call on_close");
	close(fd[0]);
	attr_list_free(&l);
	buf_free(&b);
}

static void test_stream_take(void)
{
	struct ipc_stream s;
	struct attr_list f;
	char err[ATTR_ERR_MAX];
	const void *p;
	size_t n;
	char *big = xcalloc(1, IPC_CHUNK_MAX + 1);

	attr_list_init(&f);
	ipc_stream_init(&s);
	attr_add_data(&f, "chunk", "abc", 3);
	ok(ipc_stream_take(&s, &f, &p, &n, err, sizeof(err)) == IPC_STREAM_DATA && n == 3
	    && memcmp(p, "abc", 3) == 0 && s.bytes == 3, "chunk taken");
	attr_list_reset(&f);
	attr_add_int(&f, "end", 4);
	ok(ipc_stream_take(&s, &f, &p, &n, err, sizeof(err)) == IPC_STREAM_ERROR, "count mismatch");
	is_str(err, "stream end says 4 bytes but 3 arrived", "mismatch reason");
	ok(ipc_stream_take(&s, &f, &p, &n, err, sizeof(err)) == IPC_STREAM_ERROR, "frame after end");
	is_str(err, "stream frame after the end of the stream", "after-end reason");

	ipc_stream_init(&s);
	attr_list_reset(&f);
	attr_add_str(&f, "other", "x");
	ok(ipc_stream_take(&s, &f, &p, &n, err, sizeof(err)) == IPC_STREAM_ERROR
	    && strcmp(err, "stream frame with neither of \"chunk\" and \"end\"") == 0, "neither");
	attr_add_data(&f, "chunk", "x", 1);
	attr_add_int(&f, "end", 1);
	ok(ipc_stream_take(&s, &f, &p, &n, err, sizeof(err)) == IPC_STREAM_ERROR
	    && strcmp(err, "stream frame with both of \"chunk\" and \"end\"") == 0, "both");
	attr_list_reset(&f);
	attr_add_str(&f, "chunk", "x");
	ok(ipc_stream_take(&s, &f, &p, &n, err, sizeof(err)) == IPC_STREAM_ERROR
	    && strcmp(err, "attribute \"chunk\" has type S, want D") == 0, "chunk of the wrong type");
	attr_list_reset(&f);
	attr_add_str(&f, "end", "3");
	ok(ipc_stream_take(&s, &f, &p, &n, err, sizeof(err)) == IPC_STREAM_ERROR
	    && strcmp(err, "attribute \"end\" has type S, want I") == 0, "end of the wrong type");
	ipc_stream_init(&s);
	attr_list_reset(&f);
	attr_add_data(&f, "chunk", "x", 1);
	attr_add_data(&f, "chunk", "y", 1);
	ok(ipc_stream_take(&s, &f, &p, &n, err, sizeof(err)) == IPC_STREAM_ERROR
	    && strcmp(err, "stream frame with more than one \"chunk\"") == 0, "two chunks");
	attr_list_reset(&f);
	attr_add_data(&f, "chunk", big, IPC_CHUNK_MAX + 1);
	ok(ipc_stream_take(&s, &f, &p, &n, err, sizeof(err)) == IPC_STREAM_ERROR
	    && strcmp(err, "stream chunk of 65537 bytes exceeds 65536") == 0, "oversized chunk");
	attr_list_reset(&f);
	attr_add_int(&f, "end", 0);
	ok(ipc_stream_take(&s, &f, &p, &n, err, sizeof(err)) == IPC_STREAM_END_OK, "empty stream");
	free(big);
	attr_list_free(&f);
}

/* body - the test body */
static unsigned char *body(void)
{
	unsigned char *p = xmalloc(BODY_SIZE);

	for (size_t i = 0; i < BODY_SIZE; i++)
		p[i] = body_byte(i);
	return p;
}

static void test_stream_blocking_to_event(struct event_base *base)
{
	struct evt e;
	int fd[2];
	pid_t pid;

	pair(fd);
	pid = fork();
	if (pid == 0) {
		unsigned char *p = body();
		struct ipc_stream s;
		struct attr_list l;
		char err[ATTR_ERR_MAX];
		int64_t got = -1;

		close(fd[1]);
		ipc_stream_init(&s);
		attr_list_init(&l);
		/* in uneven pieces, to cross chunk boundaries */
		if (ipc_stream_send_chunk(fd[0], &s, p, 1000, 5000) < 0
		    || ipc_stream_send_chunk(fd[0], &s, p + 1000, 0, 5000) < 0
		    || ipc_stream_send_chunk(fd[0], &s, p + 1000, BODY_SIZE - 1000, 5000) < 0
		    || ipc_stream_send_end(fd[0], &s, 5000) < 0)
			_exit(1);
		if (ipc_stream_send_chunk(fd[0], &s, p, 1, 5000) != -1 || errno != EINVAL)
			_exit(2);
		if (ipc_recv(fd[0], &l, 0, 5000, err, sizeof(err)) != 1
		    || !attr_get_int(&l, "received", &got) || got != BODY_SIZE)
			_exit(3);
		if (ipc_recv(fd[0], &l, 0, 5000, err, sizeof(err)) != 0)
			_exit(4);
		_exit(0);
	}
	close(fd[0]);
	evt_init(&e, base);
	e.reply_count = true;
	e.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &e);
	ok(loop_until(base, NULL, 0, &e.closed) && e.clean, "blocking 1 MB stream received, finished");
	is_int(e.stream_status, IPC_STREAM_END_OK, "end count matches");
	ok(e.body_at == BODY_SIZE && e.body_ok, "every byte arrived intact");
	is_int(e.frames, 1 + (BODY_SIZE - 1000 + IPC_CHUNK_MAX - 1) / IPC_CHUNK_MAX + 1,
	    "frames of at most IPC_CHUNK_MAX, none for an empty piece");
	is_int(wait_child(pid), 0, "sender got the count back, then EOF");
	ipc_conn_free(e.conn);
}

static void test_stream_event_to_event(struct event_base *base)
{
	unsigned char *p = body();
	struct ipc_stream s;
	struct evt tx;
	struct evt rx;
	int fd[2];

	pair(fd);
	evt_init(&tx, base);
	evt_init(&rx, base);
	tx.conn = ipc_conn_new(base, fd[0], 0, on_frame, on_close, &tx);
	rx.conn = ipc_conn_new(base, fd[1], 0, on_frame, on_close, &rx);
	ipc_stream_init(&s);
	ok(ipc_conn_send_chunk(tx.conn, &s, p, BODY_SIZE / 2) == 0
	    && ipc_conn_send_chunk(tx.conn, &s, p + BODY_SIZE / 2, BODY_SIZE - BODY_SIZE / 2) == 0
	    && ipc_conn_send_end(tx.conn, &s) == 0, "event side queues a 1 MB stream");
	ok(ipc_conn_send_end(tx.conn, &s) == -1 && ipc_conn_send_chunk(tx.conn, &s, p, 1) == -1,
	    "nothing after the end");
	free(p);
	ok(loop_until(base, NULL, 0, &rx.stream_done), "end received");
	ok(ipc_conn_pending(tx.conn) == 0 && !tx.closed && !rx.closed, "both sides still open");
	is_int(rx.stream_status, IPC_STREAM_END_OK, "event-to-event: end count matches");
	ok(rx.body_at == BODY_SIZE && rx.body_ok, "event-to-event: every byte intact");
	ipc_conn_free(tx.conn);
	ipc_conn_free(rx.conn);
}

int main(void)
{
	struct event_base *base;

	alarm(60);
	signal(SIGPIPE, SIG_IGN);
	str_copy(tmpdir, "/tmp/tern-ipc-XXXXXX", sizeof(tmpdir));
	if (mkdtemp(tmpdir) == NULL)
		abort();
	base = event_base_new();

	test_blocking_request();
	test_blocking_errors();
	test_unix_sockets();
	test_event_frames(base);
	test_event_callbacks(base);
	test_stream_take();
	test_stream_blocking_to_event(base);
	test_stream_event_to_event(base);

	event_base_free(base);
	rmdir(tmpdir);
	return tap_done();
}
