/*
 * smtp_stream - line I/O of the smtp agent over a socket or, after a TLS
 * handshake, its SSL; and reading SMTP replies.
 *
 * Contract: the socket is blocking; every read and write ends within the
 * stage's limit (smtp_stream_timeout): a timeout is an error, never a
 * hang. How, with as few system calls as a warm session allows: once per
 * socket SO_RCVTIMEO and SO_SNDTIMEO are set to the session's unit (the
 * shortest stage limit there is, smtp_stream_init), so no blocking call
 * outlasts any stage; a call that runs out of that time (EAGAIN) is
 * followed by a poll for what is left of the stage's own limit, then
 * tried again. A request on a cached session thus sets nothing. Input
 * lines are bounded (longer ones are cut and the rest skipped); a reply
 * is bounded to SMTP_REPLY_MAX bytes. Output is buffered until
 * smtp_stream_flush. Failures set s->why ("timeout", "lost connection")
 * and return -1.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/msg.h"
#include "base/str.h"
#include "smtp.h"


/* smtp_stream_init - wrap a connected socket; unit_secs: the shortest stage limit */
void smtp_stream_init(struct smtp_stream *s, int fd, long long unit_secs)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->unit_ms = unit_secs > 0 ? unit_secs * 1000 : 0;
	buf_init(&s->out, 0);
}

/*
 * smtp_stream_timeout - per-operation time limit, noted for the reads
 * and writes that follow (smtp_stream_arm, smtp_stream_wait). The
 * blocking mode is made sure of once per socket: the TLS handshake, the
 * only other code that changes it, restores it when done.
 */
void smtp_stream_timeout(struct smtp_stream *s, long long secs)
{
	if (!s->blocking_checked) {
		int fl = fcntl(s->fd, F_GETFL);

		if (fl >= 0 && (fl & O_NONBLOCK))
			(void) fcntl(s->fd, F_SETFL, fl & ~O_NONBLOCK);
		s->blocking_checked = true;
	}
	s->timeout_ms = secs > 0 ? secs * 1000 : 0;
}

/* smtp_stream_now_ms - a monotonic clock in milliseconds */
static long long smtp_stream_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * smtp_stream_arm - before a read (rcv) or a write (snd): the socket's
 * limit of that direction is the unit, or the stage's limit when that is
 * shorter; set only when it differs from what the socket has (once per
 * socket as a rule). Under TLS both, as SSL_read may write and SSL_write
 * may read. A failed setsockopt leaves the direction unset so the next
 * I/O tries again.
 */
static void smtp_stream_arm(struct smtp_stream *s, bool rcv, bool snd)
{
	long long want = s->timeout_ms;
	struct timeval tv;

	if (s->unit_ms > 0 && (want <= 0 || s->unit_ms < want))
		want = s->unit_ms;
	if (want <= 0)
		return;
	tv.tv_sec = (time_t) (want / 1000);
	tv.tv_usec = (suseconds_t) (want % 1000) * 1000;
	if (s->ssl != NULL)
		rcv = snd = true;
	if (rcv && s->rcv_ms != want)
		s->rcv_ms = setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 ? want : 0;
	if (snd && s->snd_ms != want)
		s->snd_ms = setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 ? want : 0;
}

/* smtp_stream_deadline - when the current operation's limit runs out; -1: no limit */
static long long smtp_stream_deadline(const struct smtp_stream *s)
{
	return s->timeout_ms > 0 ? smtp_stream_now_ms() + s->timeout_ms : -1;
}

/*
 * smtp_stream_wait - a blocking call ran out of the socket's limit (or
 * the socket is not blocking after all): wait for events until deadline;
 * 0 to try again, -1 (errno) when the stage's limit is over
 */
static int smtp_stream_wait(struct smtp_stream *s, short events, long long deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = s->fd, .events = events};
		long long left = deadline < 0 ? -1 : deadline - smtp_stream_now_ms();
		int r;

		if (deadline >= 0 && left <= 0) {
			errno = EAGAIN;
			return -1;
		}
		r = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int) left);
		if (r > 0)
			return 0;	/* ready, or an error the next call reports */
		if (r == 0) {
			errno = EAGAIN;
			return -1;
		}
		if (errno != EINTR)
			return -1;
	}
}

/* smtp_stream_fail - remember why I/O failed */
static int smtp_stream_fail(struct smtp_stream *s, int err, bool eof)
{
	if (eof)
		str_copy(s->why, "lost connection", sizeof(s->why));
	else if (err == EAGAIN || err == EWOULDBLOCK)
		str_copy(s->why, "conversation timed out", sizeof(s->why));
	else
		str_fmt(s->why, sizeof(s->why), "lost connection: %s", strerror(err));
	return -1;
}

/* smtp_stream_fill - read more input; 0 or -1 */
static int smtp_stream_fill(struct smtp_stream *s)
{
	long long deadline = smtp_stream_deadline(s);

	smtp_stream_arm(s, true, false);
	for (;;) {
		ssize_t n;

		errno = 0;
		if (s->ssl) {
			int r = SSL_read(s->ssl, s->in, (int) sizeof(s->in));

			if (r > 0) {
				n = r;
			} else {
				int e = SSL_get_error(s->ssl, r);

				if (e == SSL_ERROR_ZERO_RETURN)
					return smtp_stream_fail(s, 0, true);
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
					if (smtp_stream_wait(s, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
							     deadline) == 0)
						continue;
					return smtp_stream_fail(s, errno, false);
				}
				return smtp_stream_fail(s, errno ? errno : EPROTO, errno == 0);
			}
		} else {
			n = read(s->fd, s->in, sizeof(s->in));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				if (smtp_stream_wait(s, POLLIN, deadline) == 0)
					continue;
				return smtp_stream_fail(s, errno, false);
			}
			if (n < 0)
				return smtp_stream_fail(s, errno, false);
			if (n == 0)
				return smtp_stream_fail(s, 0, true);
		}
		s->ipos = 0;
		s->ilen = (size_t) n;
		return 0;
	}
}

/* smtp_stream_getline - one line without CR LF, at most max bytes kept */
int smtp_stream_getline(struct smtp_stream *s, struct buf *line, size_t max)
{
	buf_reset(line);
	for (;;) {
		if (s->ipos == s->ilen && smtp_stream_fill(s) != 0)
			return -1;
		while (s->ipos < s->ilen) {
			char c = s->in[s->ipos++];

			if (c == '\n') {
				if (line->len > 0 && line->data[line->len - 1] == '\r')
					buf_truncate(line, line->len - 1);
				return 0;
			}
			if (line->len < max)
				buf_putc(line, c);
		}
	}
}

/* smtp_stream_put - append output */
void smtp_stream_put(struct smtp_stream *s, const void *p, size_t n)
{
	buf_append(&s->out, p, n);
}

/* smtp_stream_printf - append formatted output */
void smtp_stream_printf(struct smtp_stream *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&s->out, fmt, ap);
	va_end(ap);
}

/* smtp_stream_flush - write the buffer; the limit holds for each write that makes no progress */
int smtp_stream_flush(struct smtp_stream *s)
{
	size_t off = 0;
	long long deadline;

	if (s->out.len == 0)
		return 0;
	smtp_stream_arm(s, false, true);
	deadline = smtp_stream_deadline(s);
	while (off < s->out.len) {
		size_t chunk = s->out.len - off > SMTP_OUT_MAX ? SMTP_OUT_MAX : s->out.len - off;
		ssize_t n;

		errno = 0;
		if (s->ssl) {
			int r = SSL_write(s->ssl, s->out.data + off, (int) chunk);

			if (r <= 0) {
				int e = SSL_get_error(s->ssl, r);

				/* a retry passes the same bytes again, as SSL_write wants */
				if ((e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) &&
				    smtp_stream_wait(s, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline) == 0)
					continue;
				buf_reset(&s->out);
				return smtp_stream_fail(s, e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ?
							EAGAIN : (errno ? errno : EPIPE), false);
			}
			n = r;
		} else {
			n = send(s->fd, s->out.data + off, chunk, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
			    smtp_stream_wait(s, POLLOUT, deadline) == 0)
				continue;
			if (n <= 0) {
				buf_reset(&s->out);
				return smtp_stream_fail(s, n < 0 ? errno : EPIPE, false);
			}
		}
		off += (size_t) n;
		deadline = smtp_stream_deadline(s);
	}
	buf_reset(&s->out);
	return 0;
}

/* smtp_stream_drop_input - forget buffered input (plaintext before TLS) */
void smtp_stream_drop_input(struct smtp_stream *s)
{
	s->ipos = s->ilen = 0;
}

/* smtp_stream_close - shut down TLS, close the socket, free buffers */
void smtp_stream_close(struct smtp_stream *s)
{
	if (s->ssl) {
		(void) SSL_shutdown(s->ssl);
		SSL_free(s->ssl);
		s->ssl = NULL;
	}
	if (s->fd >= 0 && close(s->fd) < 0)
		msg_warn("close of an SMTP connection: %s", strerror(errno));
	s->fd = -1;
	buf_free(&s->out);
}

/* smtp_reply_init - an empty reply */
void smtp_reply_init(struct smtp_reply *r)
{
	memset(r, 0, sizeof(*r));
	buf_init(&r->lines, SMTP_REPLY_MAX);
}

/* smtp_reply_free - release the lines */
void smtp_reply_free(struct smtp_reply *r)
{
	buf_free(&r->lines);
}

/* smtp_reply_dsn - an enhanced status code "c.s.d" at the start of text, into dsn */
static void smtp_reply_dsn(const char *text, int code, char *dsn, size_t size)
{
	unsigned c, sub, det;
	int used = 0;

	dsn[0] = '\0';
	if (sscanf(text, "%1u.%3u.%3u%n", &c, &sub, &det, &used) == 3 && used > 0 &&
	    (text[used] == ' ' || text[used] == '\0') && (int) c == code / 100)
		str_fmt(dsn, size, "%u.%u.%u", c, sub, det);
}

/* smtp_reply_read - one reply, all its lines */
int smtp_reply_read(struct smtp_stream *s, struct smtp_reply *r)
{
	struct buf line;
	size_t tlen = 0;
	int ret = -1;

	r->code = 0;
	r->dsn[0] = r->text[0] = '\0';
	buf_reset(&r->lines);
	buf_init(&line, 0);
	for (;;) {
		const char *rest;
		int code;

		if (smtp_stream_getline(s, &line, SMTP_LINE_MAX) != 0)
			break;
		if (line.len < 3 || line.data[0] < '2' || line.data[0] > '5' || line.data[1] < '0' ||
		    line.data[1] > '9' || line.data[2] < '0' || line.data[2] > '9' ||
		    (line.len > 3 && line.data[3] != ' ' && line.data[3] != '-')) {
			str_fmt(s->why, sizeof(s->why), "malformed reply: %.60s", buf_str(&line));
			r->code = 0;
			break;
		}
		code = (line.data[0] - '0') * 100 + (line.data[1] - '0') * 10 + (line.data[2] - '0');
		if (r->code != 0 && code != r->code) {
			str_copy(s->why, "malformed multi-line reply", sizeof(s->why));
			r->code = 0;
			break;
		}
		r->code = code;
		rest = line.len > 4 ? buf_str(&line) + 4 : "";
		if (r->lines.len + strlen(rest) + 1 < SMTP_REPLY_MAX) {
			buf_puts(&r->lines, rest);
			buf_putc(&r->lines, '\n');
		}
		if (tlen == 0) {
			smtp_reply_dsn(rest, code, r->dsn, sizeof(r->dsn));
			tlen = (size_t) snprintf(r->text, sizeof(r->text), "%d %s", code, rest);
		} else if (tlen < sizeof(r->text) - 1) {
			const char *t = rest;

			if (r->dsn[0] && str_has_prefix(t, r->dsn))
				t += strlen(r->dsn);
			while (*t == ' ')
				t++;
			tlen += (size_t) snprintf(r->text + tlen, sizeof(r->text) - tlen, " %s", t);
		}
		if (tlen >= sizeof(r->text))
			tlen = sizeof(r->text) - 1;
		if (line.len <= 3 || line.data[3] == ' ') {
			ret = 0;
			break;
		}
	}
	for (char *p = r->text; *p; p++)
		if ((unsigned char) *p < ' ' || *p == 0x7f)
			*p = ' ';
	buf_free(&line);
	if (ret != 0)
		r->code = 0;
	return ret;
}
