/*
 * smtp_stream - line I/O of the smtp agent over a socket or, after a TLS
 * handshake, its SSL; and reading SMTP replies.
 *
 * Contract: the socket is blocking; the stage's limit (smtp_stream_timeout)
 * is on the socket as SO_RCVTIMEO before every read and SO_SNDTIMEO before
 * every write, so each ends within it (a timeout is an error, never a
 * hang). Input lines are
 * bounded (longer ones are cut and the rest skipped); a reply is bounded
 * to SMTP_REPLY_MAX bytes. Output is buffered until smtp_stream_flush.
 * Failures set s->why ("timeout", "lost connection") and return -1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/msg.h"
#include "base/str.h"
#include "smtp.h"

#define SMTP_OUT_LIMIT	(1024 * 1024)	/* buffered output before a forced flush */

/* smtp_stream_init - wrap a connected socket */
void smtp_stream_init(struct smtp_stream *s, int fd)
{
	memset(s, 0, sizeof(*s));
	s->fd = fd;
	buf_init(&s->out, 0);
}

/*
 * smtp_stream_timeout - per-operation time limit. It is only noted here:
 * the socket option of a direction is set right before a read or write
 * that needs it and only when the limit differs from what the socket has
 * (smtp_stream_apply), so a transaction whose stages have different
 * limits sets each direction only where it changes. The blocking mode is
 * made sure of once per socket: the TLS handshake, the only other code
 * that changes it, restores it when done.
 */
void smtp_stream_timeout(struct smtp_stream *s, long long secs)
{
	if (!s->blocking_checked) {
		int fl = fcntl(s->fd, F_GETFL);

		if (fl >= 0 && (fl & O_NONBLOCK))
			(void) fcntl(s->fd, F_SETFL, fl & ~O_NONBLOCK);
		s->blocking_checked = true;
	}
	s->timeout_secs = secs;
}

/*
 * smtp_stream_apply - the current limit on the socket before I/O: for a
 * read (SO_RCVTIMEO) or a write (SO_SNDTIMEO); under TLS both, as
 * SSL_read may write and SSL_write may read. A failed setsockopt leaves
 * the direction unset so the next I/O tries again.
 */
static void smtp_stream_apply(struct smtp_stream *s, bool rcv, bool snd)
{
	struct timeval tv = { (time_t) s->timeout_secs, 0 };

	if (s->timeout_secs <= 0)
		return;
	if (s->ssl != NULL)
		rcv = snd = true;
	if (rcv && s->rcv_secs != s->timeout_secs)
		s->rcv_secs = setsockopt(s->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0 ? s->timeout_secs : 0;
	if (snd && s->snd_secs != s->timeout_secs)
		s->snd_secs = setsockopt(s->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) == 0 ? s->timeout_secs : 0;
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
	smtp_stream_apply(s, true, false);
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
				if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
					return smtp_stream_fail(s, EAGAIN, false);
				return smtp_stream_fail(s, errno ? errno : EPROTO, errno == 0);
			}
		} else {
			n = read(s->fd, s->in, sizeof(s->in));
			if (n < 0 && errno == EINTR)
				continue;
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

/* smtp_stream_flush - write the buffer */
int smtp_stream_flush(struct smtp_stream *s)
{
	size_t off = 0;

	if (s->out.len > 0)
		smtp_stream_apply(s, false, true);
	while (off < s->out.len) {
		size_t chunk = s->out.len - off > 65536 ? 65536 : s->out.len - off;
		ssize_t n;

		errno = 0;
		if (s->ssl) {
			int r = SSL_write(s->ssl, s->out.data + off, (int) chunk);

			if (r <= 0) {
				int e = SSL_get_error(s->ssl, r);

				buf_reset(&s->out);
				return smtp_stream_fail(s, e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ?
							EAGAIN : (errno ? errno : EPIPE), false);
			}
			n = r;
		} else {
			n = send(s->fd, s->out.data + off, chunk, MSG_NOSIGNAL);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0) {
				buf_reset(&s->out);
				return smtp_stream_fail(s, n < 0 ? errno : EPIPE, false);
			}
		}
		off += (size_t) n;
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
