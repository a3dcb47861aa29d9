/*
 * ipc - the blocking side of the IPC protocol, and content streams; see
 * ipc.h. The event side is ipc_conn.c.
 *
 * Every call turns its timeout into one deadline on the monotonic clock
 * and waits with poll(2) only when the socket says EAGAIN, so a call
 * never outlives its deadline by more than one poll tick. Sockets are
 * read and written with MSG_DONTWAIT, which works whatever the fd's own
 * O_NONBLOCK flag is; for an fd that is not a socket (a pipe in a test)
 * read/write are used, which may block past the deadline on a blocking
 * pipe: that is the price of not changing the caller's fd flags.
 *
 * A frame is read in two steps: the 4-byte prefix, checked against the
 * limit before anything else is read, then the payload straight into the
 * attribute list's arena (one copy, no per-attribute allocation).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"

#define IPC_STACK_FRAME	4096	/* frames up to this size are encoded on the stack */
#define IPC_BATCH	16	/* chunk frames per writev */

/* ipc_err - format an error text, keeping errno */
__attribute__((format(printf, 3, 4)))
static void ipc_err(char *err, size_t errlen, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (err != NULL && errlen > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	errno = saved;
}

/* ipc_now - monotonic milliseconds */
static int64_t ipc_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ipc_deadline - the deadline for a timeout; -1 for none */
static int64_t ipc_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : ipc_now() + timeout_ms;
}

/* ipc_left - milliseconds left before the deadline, for poll(2) */
static int ipc_left(int64_t deadline)
{
	int64_t left;

	if (deadline < 0)
		return -1;
	left = deadline - ipc_now();
	if (left < 0)
		return 0;
	return left > INT_MAX ? INT_MAX : (int) left;
}

/* ipc_wait - wait until fd is ready for events: 0, or -1 (ETIMEDOUT, ...) */
static int ipc_wait(int fd, short events, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = events};
		int ms = ipc_left(deadline);
		int r = poll(&pfd, 1, ms);

		if (r > 0)
			return 0;	/* ready, or an error the next call reports */
		if (r == 0 && ms == 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

/* ipc_write_iov - write all of iov[0..cnt) (modified) by the deadline */
static int ipc_write_iov(int fd, struct iovec *iov, int cnt, int64_t deadline)
{
	while (cnt > 0) {
		struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t) cnt};
		ssize_t r = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		size_t done;

		if (r < 0 && errno == ENOTSOCK)
			r = writev(fd, iov, cnt);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK)
			    && ipc_wait(fd, POLLOUT, deadline) == 0)
				continue;
			return -1;
		}
		for (done = (size_t) r; cnt > 0 && done >= iov->iov_len; iov++, cnt--)
			done -= iov->iov_len;
		if (cnt > 0) {
			iov->iov_base = (char *) iov->iov_base + done;
			iov->iov_len -= done;
		}
	}
	return 0;
}

/* ipc_read_full - read n bytes by the deadline: 1, 0 at EOF (*got says how far), -1 */
static int ipc_read_full(int fd, void *buf, size_t n, int64_t deadline, size_t *got)
{
	char *p = buf;

	*got = 0;
	while (*got < n) {
		ssize_t r = recv(fd, p + *got, n - *got, MSG_DONTWAIT);

		if (r < 0 && errno == ENOTSOCK)
			r = read(fd, p + *got, n - *got);
		if (r == 0)
			return 0;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if ((errno == EAGAIN || errno == EWOULDBLOCK)
			    && ipc_wait(fd, POLLIN, deadline) == 0)
				continue;
			return -1;
		}
		*got += (size_t) r;
	}
	return 1;
}

/* ipc_io_err - describe a failed read or write */
static void ipc_io_err(char *err, size_t errlen, const char *what, int timeout_ms)
{
	if (errno == ETIMEDOUT)
		ipc_err(err, errlen, "%s: timeout after %d ms", what, timeout_ms);
	else
		ipc_err(err, errlen, "%s: %s", what, strerror(errno));
}

/* ipc_send_by - send one frame by the deadline */
static int ipc_send_by(int fd, const struct attr_list *l, int64_t deadline)
{
	char stack[IPC_STACK_FRAME];
	size_t n = attr_encoded_size(l);
	struct iovec iov;
	char *p;
	int r;

	if (attr_list_error(l)) {
		errno = EINVAL;
		return -1;
	}
	p = n <= sizeof(stack) ? stack : xmalloc(n);
	attr_encode_into(l, p);
	iov.iov_base = p;
	iov.iov_len = n;
	r = ipc_write_iov(fd, &iov, 1, deadline);
	if (p != stack) {
		int saved = errno;

		free(p);
		errno = saved;
	}
	return r;
}

/*
 * ipc_recv_have - one frame into l, of which the first nhave bytes were
 * already read into have (nhave may be 0, or more than the prefix): 1,
 * 0 on EOF before any byte, -1 with err. More bytes in have than the
 * frame holds are a protocol error (EPROTO): ipc_call's peer sends
 * nothing unasked.
 */
static int ipc_recv_have(int fd, struct attr_list *l, size_t max_frame, const unsigned char *have,
    size_t nhave, int64_t deadline, int timeout_ms, char *err, size_t errlen)
{
	unsigned char prefix[ATTR_PREFIX];
	size_t got = 0, n, inframe;
	void *p;
	int r;

	if (nhave > 0)
		memcpy(prefix, have, nhave < ATTR_PREFIX ? nhave : ATTR_PREFIX);
	if (nhave < ATTR_PREFIX) {
		r = ipc_read_full(fd, prefix + nhave, ATTR_PREFIX - nhave, deadline, &got);
		if (r == 0 && nhave + got == 0)
			return 0;
		if (r == 0) {
			errno = ECONNRESET;
			ipc_err(err, errlen, "connection closed inside a frame (%zu of %d prefix bytes)",
			    nhave + got, ATTR_PREFIX);
			return -1;
		}
		if (r < 0) {
			ipc_io_err(err, errlen, "read", timeout_ms);
			return -1;
		}
	}
	if (attr_frame_size(prefix, sizeof(prefix), max_frame, &n, err, errlen) < 0) {
		errno = EPROTO;
		return -1;
	}
	inframe = nhave > ATTR_PREFIX ? nhave - ATTR_PREFIX : 0;
	if (inframe > n) {
		errno = EPROTO;
		ipc_err(err, errlen, "%zu bytes after the reply frame", inframe - n);
		return -1;
	}
	p = attr_decode_space(l, n);
	if (inframe > 0)
		memcpy(p, have + ATTR_PREFIX, inframe);
	r = ipc_read_full(fd, (char *) p + inframe, n - inframe, deadline, &got);
	if (r == 0) {
		errno = ECONNRESET;
		ipc_err(err, errlen, "connection closed inside a frame (%zu of %zu bytes)",
		    inframe + got, n);
	} else if (r < 0) {
		ipc_io_err(err, errlen, "read", timeout_ms);
	} else if (attr_decode_finish(l, n, err, errlen) < 0) {
		errno = EPROTO;
	} else {
		return 1;
	}
	attr_list_reset(l);
	return -1;
}

/* ipc_recv_by - one frame by the deadline: 1, 0 on EOF between frames, -1 */
static int ipc_recv_by(int fd, struct attr_list *l, size_t max_frame, int64_t deadline,
    int timeout_ms, char *err, size_t errlen)
{
	return ipc_recv_have(fd, l, max_frame, NULL, 0, deadline, timeout_ms, err, errlen);
}

/* ipc_send - send one frame */
int ipc_send(int fd, const struct attr_list *l, int timeout_ms)
{
	return ipc_send_by(fd, l, ipc_deadline(timeout_ms));
}

/* ipc_recv - receive one frame */
int ipc_recv(int fd, struct attr_list *l, size_t max_frame, int timeout_ms,
    char *err, size_t errlen)
{
	return ipc_recv_by(fd, l, max_frame, ipc_deadline(timeout_ms), timeout_ms, err, errlen);
}

/* ipc_send_request - a well-formed request out by the deadline; 0, or -1 with err */
static int ipc_send_request(int fd, const struct attr_list *req, int64_t deadline, int timeout_ms,
    char *err, size_t errlen)
{
	if (attr_list_error(req)) {
		errno = EINVAL;
		ipc_err(err, errlen, "bad request: %s", attr_list_error(req));
		return -1;
	}
	if (ipc_send_by(fd, req, deadline) < 0) {
		ipc_io_err(err, errlen, "write", timeout_ms);
		return -1;
	}
	return 0;
}

/* ipc_request - send a request and receive its reply */
int ipc_request(int fd, const struct attr_list *req, struct attr_list *reply,
    size_t max_frame, int timeout_ms, char *err, size_t errlen)
{
	int64_t deadline = ipc_deadline(timeout_ms);
	int r;

	if (ipc_send_request(fd, req, deadline, timeout_ms, err, errlen) < 0)
		return -1;
	r = ipc_recv_by(fd, reply, max_frame, deadline, timeout_ms, err, errlen);
	if (r == 0) {
		errno = ECONNRESET;
		ipc_err(err, errlen, "connection closed before the reply");
		return -1;
	}
	return r < 0 ? -1 : 0;
}

/*
 * ipc_call - ipc_request for services that answer each request with
 * exactly one frame (ipc_client.h): the reply is awaited with poll
 * first (it is never there the moment the request is sent), then read
 * with one recv when it fits in IPC_STACK_FRAME - two system calls
 * instead of a failed recv, a poll and two reads. The peer sends
 * nothing unasked, so bytes after the reply frame are a protocol error
 * (EPROTO): the caller closes the connection.
 */
int ipc_call(int fd, const struct attr_list *req, struct attr_list *reply,
    size_t max_frame, int timeout_ms, char *err, size_t errlen)
{
	int64_t deadline = ipc_deadline(timeout_ms);
	unsigned char buf[IPC_STACK_FRAME];
	ssize_t r;

	if (ipc_send_request(fd, req, deadline, timeout_ms, err, errlen) < 0)
		return -1;
	attr_list_reset(reply);
	do {
		if (ipc_wait(fd, POLLIN, deadline) < 0) {
			ipc_io_err(err, errlen, "read", timeout_ms);
			return -1;
		}
		r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r < 0 && errno == ENOTSOCK)
			r = read(fd, buf, sizeof(buf));
	} while (r < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK));
	if (r < 0) {
		ipc_io_err(err, errlen, "read", timeout_ms);
		return -1;
	}
	if (r == 0) {
		errno = ECONNRESET;
		ipc_err(err, errlen, "connection closed before the reply");
		return -1;
	}
	return ipc_recv_have(fd, reply, max_frame, buf, (size_t) r, deadline, timeout_ms, err, errlen) == 1
	    ? 0 : -1;
}

/* ipc_unix_addr - fill a sockaddr_un; -1 with ENAMETOOLONG */
static int ipc_unix_addr(struct sockaddr_un *sun, const char *path)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (str_copy(sun->sun_path, path, sizeof(sun->sun_path)) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* ipc_fail_close - close fd keeping errno, return -1 */
static int ipc_fail_close(int fd)
{
	int saved = errno;

	close(fd);
	errno = saved;
	return -1;
}

/* ipc_backoff - sleep *pause_ms (doubling, up to 50) within the deadline; -1 ETIMEDOUT */
static int ipc_backoff(int64_t deadline, int *pause_ms)
{
	int left = ipc_left(deadline);
	int ms = left >= 0 && left < *pause_ms ? left : *pause_ms;

	if (left == 0) {
		errno = ETIMEDOUT;
		return -1;
	}
	poll(NULL, 0, ms);
	if (*pause_ms < 50)
		*pause_ms *= 2;
	return 0;
}

/* ipc_connect_unix - connect to a UNIX stream socket by the deadline */
int ipc_connect_unix(const char *path, int timeout_ms)
{
	int64_t deadline = ipc_deadline(timeout_ms);
	struct sockaddr_un sun;
	int pause_ms = 1;
	int fd;

	if (ipc_unix_addr(&sun, path) < 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	while (connect(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
		if (errno == EINPROGRESS || errno == EINTR) {
			int soerr = 0;
			socklen_t len = sizeof(soerr);

			if (ipc_wait(fd, POLLOUT, deadline) < 0
			    || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
				return ipc_fail_close(fd);
			if (soerr == 0)
				break;
			errno = soerr;
			return ipc_fail_close(fd);
		}
		if (errno != EAGAIN)
			return ipc_fail_close(fd);
		/* The listener's backlog is full; a UNIX socket cannot be polled for that. */
		if (ipc_backoff(deadline, &pause_ms) < 0)
			return ipc_fail_close(fd);
	}
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) < 0)
		return ipc_fail_close(fd);
	return fd;
}

/* ipc_probe_stale - 1 when path is a socket nobody listens on, 0 when live, -1 error */
static int ipc_probe_stale(const struct sockaddr_un *sun)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int r;

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *) sun, sizeof(*sun)) == 0)
		r = 0;
	else if (errno == ECONNREFUSED)
		r = 1;
	else if (errno == EAGAIN || errno == EINPROGRESS)
		r = 0;			/* backlog full: somebody is there */
	else
		return ipc_fail_close(fd);
	close(fd);
	return r;
}

/* ipc_listen_unix - a listening socket at path with the given mode */
int ipc_listen_unix(const char *path, mode_t mode)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t old;
	int fd;
	int r;

	if (ipc_unix_addr(&sun, path) < 0)
		return -1;
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			errno = EEXIST;
			return -1;
		}
		r = ipc_probe_stale(&sun);
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = EADDRINUSE;
			return -1;
		}
		if (unlink(path) < 0 && errno != ENOENT)
			return -1;
	} else if (errno != ENOENT) {
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	/* bind creates the socket file with 0777 & ~umask: make that the mode */
	old = umask(~mode & 0777);
	r = bind(fd, (struct sockaddr *) &sun, sizeof(sun));
	umask(old);
	if (r < 0)
		return ipc_fail_close(fd);
	if (listen(fd, SOMAXCONN) < 0) {
		int saved = errno;

		unlink(path);
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* ipc_peer_uid - the peer's credentials */
int ipc_peer_uid(int fd, uid_t *uid, gid_t *gid, pid_t *pid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -1;
	if (uid)
		*uid = cred.uid;
	if (gid)
		*gid = cred.gid;
	if (pid)
		*pid = cred.pid;
	return 0;
}

/* ipc_stream_init - a fresh stream */
void ipc_stream_init(struct ipc_stream *s)
{
	s->bytes = 0;
	s->ended = false;
}

/* ipc_stream_send_chunk - send n bytes as chunk frames, IPC_BATCH per writev */
int ipc_stream_send_chunk(int fd, struct ipc_stream *s, const void *p, size_t n,
    int timeout_ms)
{
	int64_t deadline = ipc_deadline(timeout_ms);
	unsigned char head[IPC_BATCH][32];	/* a chunk frame's head is 16 bytes */
	struct iovec iov[2 * IPC_BATCH];
	const char *data = p;
	struct attr_list l;
	int r = 0;

	if (s->ended) {
		errno = EINVAL;
		return -1;
	}
	attr_list_init(&l);
	while (n > 0 && r == 0) {
		size_t batch = 0;
		int cnt = 0;

		for (int i = 0; i < IPC_BATCH && n > 0; i++) {
			size_t len = n < IPC_CHUNK_MAX ? n : IPC_CHUNK_MAX;

			attr_list_reset(&l);
			if (attr_add_data_ref(&l, IPC_STREAM_CHUNK, data, len) < 0)
				msg_panic("ipc_stream_send_chunk: %s", attr_list_error(&l));
			iov[cnt].iov_base = head[i];
			iov[cnt++].iov_len = attr_encode_head(&l, head[i]);
			iov[cnt].iov_base = (void *) data;
			iov[cnt++].iov_len = len;
			data += len;
			n -= len;
			batch += len;
		}
		r = ipc_write_iov(fd, iov, cnt, deadline);
		if (r == 0)
			s->bytes += (int64_t) batch;
	}
	attr_list_free(&l);
	return r;
}

/* ipc_stream_send_end - send the "end" frame */
int ipc_stream_send_end(int fd, struct ipc_stream *s, int timeout_ms)
{
	struct attr_list l;
	int r;

	if (s->ended) {
		errno = EINVAL;
		return -1;
	}
	attr_list_init(&l);
	attr_add_int(&l, IPC_STREAM_END, s->bytes);
	r = ipc_send(fd, &l, timeout_ms);
	attr_list_free(&l);
	if (r == 0)
		s->ended = true;
	return r;
}

/* ipc_stream_take - account for one received stream frame */
int ipc_stream_take(struct ipc_stream *s, const struct attr_list *frame,
    const void **p, size_t *n, char *err, size_t errlen)
{
	const struct attr *chunk = attr_find(frame, IPC_STREAM_CHUNK, NULL);
	const struct attr *end = attr_find(frame, IPC_STREAM_END, NULL);
	int64_t count;

	if (s->ended) {
		ipc_err(err, errlen, "stream frame after the end of the stream");
		return IPC_STREAM_ERROR;
	}
	if ((chunk == NULL) == (end == NULL)) {
		ipc_err(err, errlen, "stream frame with %s of \"chunk\" and \"end\"",
		    chunk ? "both" : "neither");
		return IPC_STREAM_ERROR;
	}
	if (end) {
		if (attr_need_int(frame, IPC_STREAM_END, &count, err, errlen) < 0)
			return IPC_STREAM_ERROR;
		s->ended = true;
		if (count != s->bytes) {
			ipc_err(err, errlen, "stream end says %lld bytes but %lld arrived",
			    (long long) count, (long long) s->bytes);
			return IPC_STREAM_ERROR;
		}
		return IPC_STREAM_END_OK;
	}
	if (attr_find(frame, IPC_STREAM_CHUNK, chunk) != NULL) {
		ipc_err(err, errlen, "stream frame with more than one \"chunk\"");
		return IPC_STREAM_ERROR;
	}
	if (attr_need_data(frame, IPC_STREAM_CHUNK, p, n, err, errlen) < 0)
		return IPC_STREAM_ERROR;
	if (*n > IPC_CHUNK_MAX) {
		ipc_err(err, errlen, "stream chunk of %zu bytes exceeds %d", *n, IPC_CHUNK_MAX);
		return IPC_STREAM_ERROR;
	}
	if (s->bytes > INT64_MAX - (int64_t) *n) {
		ipc_err(err, errlen, "stream too long");
		return IPC_STREAM_ERROR;
	}
	s->bytes += (int64_t) *n;
	return IPC_STREAM_DATA;
}
