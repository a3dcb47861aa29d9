/*
 * smtpd_session - one SMTP connection: input, replies, time limits,
 * TLS switch-over and close.
 *
 * Before the greeting (SMTPD_IN_LOOKUP) a session has no I/O set up
 * (SMTPD_IO_NONE): smtpd_peer.c finds the client's name,
 * smtpd_session_start logs the connect line and runs the client checks
 * (smtpd_access.c, and the screen service's ban list, smtpd_screen.c),
 * and smtpd_session_ready sets up the I/O and greets, or says the
 * refusal and closes.
 *
 * I/O has two forms behind one small interface (smtpd_session_view and
 * _consume for input, smtpd_reply and smtpd_write for output,
 * smtpd_session_reading), so the protocol code does not care which:
 *
 *  - plain (SMTPD_IO_PLAIN), done here because every system call and
 *    wake-up counts: one persistent read event per session (with
 *    smtpd_timeout), armed once; a read is one recv() into the process's
 *    shared read buffer, whose input is used in place, and only what is
 *    left over (a partial line, input behind a wait) is kept in the
 *    session (s->in, at most SMTPD_READ_HIGH). "Reading off" is only a
 *    flag: the event leaves epoll the first time it fires while off (a
 *    client that waits for its reply costs no epoll_ctl), and comes back
 *    when reading is on again. Replies are queued in s->out and written
 *    with one send() once the event loop is done with the callback that
 *    made them (the flush event), so a pipelined group is answered with
 *    one write; the write event is armed only while output waits for the
 *    socket (EAGAIN or a short write).
 *  - TLS (SMTPD_IO_TLS): a libevent OpenSSL bufferevent, from the start
 *    on port 465 or after STARTTLS on the same descriptor; its buffers
 *    are the session's input and output.
 *
 * The input loop takes what is buffered: command lines (at most
 * smtpd_line_length_limit octets, CRLF included) go to smtpd_proto.c,
 * content to smtpd_data.c; it stops while the session waits for
 * cleanup, while cleanup is behind (flow control), while TLS is being
 * set up, and while SMTPD_OUT_HIGH octets of replies wait for a client
 * that does not read them.
 *
 * Invariants: the OpenSSL bufferevent owns the descriptor and the SSL;
 * otherwise the session closes the descriptor. At STARTTLS every
 * plaintext octet received after the command is discarded before the
 * handshake starts, and the switch waits until the 220 is written.
 * Every buffer of client input is bounded (SMTPD_READ_HIGH). The
 * session is freed only from the event loop (an event callback of its
 * own), never from inside a command handler.
 *
 * Failures: a read timeout gets "421 4.4.2" and a close; a write timeout,
 * an I/O error, EOF or a failed handshake closes at once. Each is logged
 * the Postfix way ("timeout after DATA from host[addr]").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/pid.h"
#include "base/str.h"
#include "mail/geoip.h"
#include "mail/service.h"
#include "smtpd.h"

#define SMTPD_READ_HIGH	(256 * 1024)	/* input buffered at most */
#define SMTPD_READ_MORE	(16 * 1024)	/* one read behind kept input */
#define SMTPD_OUT_HIGH	(64 * 1024)	/* replies queued before the input loop waits */
#define SMTPD_OUT_MAX	(1024 * 1024)	/* replies queued at most: SMTPD_OUT_HIGH plus the last command's */
#define SMTPD_IN_KEEP	4096		/* kept-input memory given back above this when empty */

static void smtpd_session_set_bev(struct smtpd_session *s, struct bufferevent *bev);

/* smtpd_session_out_pending - reply octets not yet written to the socket */
static size_t smtpd_session_out_pending(struct smtpd_session *s)
{
	switch (s->io) {
	case SMTPD_IO_PLAIN:
		return s->out.len;
	case SMTPD_IO_TLS:
		return evbuffer_get_length(bufferevent_get_output(s->bev));
	case SMTPD_IO_NONE:
		break;
	}
	return 0;
}

/* smtpd_session_output_empty - nothing left to write */
static bool smtpd_session_output_empty(struct smtpd_session *s)
{
	return smtpd_session_out_pending(s) == 0;
}

/* smtpd_session_io_free - plain: the events and buffers (the descriptor stays open) */
static void smtpd_session_io_free(struct smtpd_session *s)
{
	if (s->rev != NULL)
		event_free(s->rev);
	if (s->wev != NULL)
		event_free(s->wev);
	s->rev = s->wev = NULL;
	s->rd_on = s->rd_armed = s->wr_armed = false;
	buf_free(&s->in);
	buf_free(&s->out);
	s->in_p = NULL;
	s->in_n = 0;
}

/* smtpd_session_close - log, release everything, tell the skeleton */
static void smtpd_session_close(struct smtpd_session *s)
{
	struct smtpd_server *srv = s->srv;

	if (s->cleanup != NULL)
		smtpd_data_reset(s);	/* ABORT, or close when cleanup has it all */
	smtpd_sasl_session_end(s);
	smtpd_peer_session_end(s);
	smtpd_screen_session_end(s);
	smtpd_proto_disconnect_log(s);
	if (s->io == SMTPD_IO_TLS) {
		/* a clean end: close_notify, so the client knows it saw everything */
		if (s->tls && s->input == SMTPD_IN_CLOSING && smtpd_session_output_empty(s))
			SSL_shutdown(s->ssl);
		bufferevent_free(s->bev);	/* owns the descriptor and the SSL */
	} else {
		smtpd_session_io_free(s);	/* nothing to free before the greeting */
		close(s->fd);
	}
	if (s->ssl_next != NULL)
		SSL_free(s->ssl_next);
	event_free(s->resume);
	event_free(s->flush);
	attr_list_free(&s->begin);
	buf_free(&s->data.out);
	smtpd_server_remove(srv, s);
	free(s);
}

/* smtpd_session_view - the input received and not used yet: its length, *p its start */
size_t smtpd_session_view(struct smtpd_session *s, const char **p)
{
	struct evbuffer *in;
	size_t n;

	switch (s->io) {
	case SMTPD_IO_PLAIN:
		*p = s->in_p;
		return s->in_n;
	case SMTPD_IO_TLS:
		in = bufferevent_get_input(s->bev);
		if ((n = evbuffer_get_length(in)) == 0)
			break;
		/* at most SMTPD_READ_HIGH plus one read (the watermark): one copy when it is in pieces */
		if ((*p = (const char *) evbuffer_pullup(in, -1)) == NULL)
			msg_fatal("smtpd_session_view: out of memory");
		return n;
	case SMTPD_IO_NONE:
		break;
	}
	*p = NULL;
	return 0;
}

/* smtpd_session_consume - the first n octets of the view are used */
void smtpd_session_consume(struct smtpd_session *s, size_t n)
{
	if (n == 0)
		return;
	if (s->io == SMTPD_IO_TLS) {
		evbuffer_drain(bufferevent_get_input(s->bev), n);
		return;
	}
	if (s->io != SMTPD_IO_PLAIN || n > s->in_n)
		msg_panic("smtpd_session_consume: %zu octets of %zu", n, s->in_n);
	s->in_p += n;
	s->in_n -= n;
}

/* smtpd_session_keep - after a read: what is left of the shared read buffer moves to s->in */
static void smtpd_session_keep(struct smtpd_session *s)
{
	bool shared = s->in_shared;

	s->in_shared = false;
	if (s->io != SMTPD_IO_PLAIN)
		return;
	if (s->in_n == 0) {
		s->in_p = NULL;
		buf_reset(&s->in);
		if (s->in.cap > SMTPD_IN_KEEP)
			buf_free(&s->in);	/* idle sessions stay small */
		return;
	}
	if (shared) {
		buf_reset(&s->in);
		if (buf_append(&s->in, s->in_p, s->in_n) < 0)
			msg_panic("smtpd_session_keep: %zu octets over the input limit", s->in_n);
		s->in_p = s->in.data;
	}
}

/* smtpd_session_line - take one command line from the input: true when one was used */
static bool smtpd_session_line(struct smtpd_session *s)
{
	struct smtpd_server *srv = s->srv;
	size_t limit = (size_t) srv->p->smtpd_line_length_limit;
	const char *p, *lf;
	size_t have = smtpd_session_view(s, &p), n, len;
	char *line;

	if (have == 0)
		return false;
	if ((lf = memchr(p, '\n', have)) == NULL) {
		if (s->discard_line || have >= limit) {
			/* over-long: drop what we have, answer when its LF comes */
			s->discard_line = true;
			smtpd_session_consume(s, have);
		}
		return false;
	}
	n = (size_t) (lf - p) + 1;
	if (s->discard_line || n > limit) {
		smtpd_session_consume(s, n);
		s->discard_line = false;
		smtpd_reply(s, 500, "5.5.2", "Error: line too long");
		return true;
	}
	line = srv->line;		/* n <= limit: it fits */
	memcpy(line, p, n);
	smtpd_session_consume(s, n);
	line[n] = '\0';
	if (n >= 2 && line[n - 2] == '\r') {
		len = n - 2;
	} else if (s->bare == SMTPD_BARE_REJECT) {
		msg_info("bare <LF> received in a command from %s", s->peer);
		smtpd_reply(s, 500, "5.5.2", "Error: bare <LF> received");
		return true;
	} else {
		len = n - 1;
	}
	line[len] = '\0';
	if (memchr(line, '\r', len) != NULL) {
		msg_info("bare <CR> received in a command from %s", s->peer);
		smtpd_reply(s, 500, "5.5.2", "Error: bare <CR> received");
		return true;
	}
	smtpd_proto_command(s, line, len, smtpd_session_pending(s) > 0);
	return true;
}

/* smtpd_session_arm - plain: the read event back into epoll when reading is on and there is room */
static void smtpd_session_arm(struct smtpd_session *s)
{
	struct timeval tv = {(time_t) s->srv->p->smtpd_timeout, 0};

	if (s->io != SMTPD_IO_PLAIN || !s->rd_on || s->rd_armed || s->in_n >= SMTPD_READ_HIGH)
		return;
	if (event_add(s->rev, &tv) < 0)
		msg_fatal("smtpd_session_arm: event_add failed");
	s->rd_armed = true;
}

/* smtpd_session_input - use buffered input until it runs out or must wait */
static void smtpd_session_input(struct smtpd_session *s)
{
	struct smtpd_server *srv = s->srv;

	while (s->io != SMTPD_IO_NONE && !s->paused) {
		bool more;

		if (smtpd_session_out_pending(s) >= SMTPD_OUT_HIGH) {
			s->out_full = true;	/* the client does not read: go on when it did */
			break;
		}
		switch (s->input) {
		case SMTPD_IN_COMMAND:
			if (!smtpd_screen_gate(s))
				return;		/* a screen answer is due, or the session is closing */
			more = smtpd_session_line(s);
			break;
		case SMTPD_IN_DATA:
		case SMTPD_IN_BDAT:
			more = smtpd_data_input(s);
			break;
		default:
			return;
		}
		if (s->errors >= srv->p->smtpd_hard_error_limit && s->input != SMTPD_IN_CLOSING) {
			msg_info("too many errors after %s from %s", s->last_verb, s->peer);
			smtpd_reply_noerr(s, 421, "4.7.0", "%s Error: too many errors", srv->g->myhostname);
			smtpd_session_finish(s);
			return;
		}
		if (!more)
			break;
	}
	smtpd_session_arm(s);		/* room again after a full buffer */
}

/* smtpd_session_tls_switch - the 220 is written: wrap the socket in TLS */
static void smtpd_session_tls_switch(struct smtpd_session *s)
{
	struct bufferevent *bev;
	SSL *ssl = s->ssl_next;

	s->ssl_next = NULL;
	smtpd_session_io_free(s);	/* the plain events: the descriptor stays open */
	s->io = SMTPD_IO_NONE;
	bev = bufferevent_openssl_socket_new(s->srv->base, s->fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
					     BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		msg_fatal("bufferevent_openssl_socket_new failed");
	s->ssl = ssl;
	smtpd_session_set_bev(s, bev);
}

/* smtpd_session_drained - every reply is written: close, switch to TLS, or read on */
static void smtpd_session_drained(struct smtpd_session *s)
{
	if (s->input == SMTPD_IN_CLOSING) {
		smtpd_session_close(s);
	} else if (s->input == SMTPD_IN_HANDSHAKE && s->ssl_next != NULL) {
		smtpd_session_tls_switch(s);
	} else if (s->out_full) {
		s->out_full = false;
		smtpd_session_resume(s);
	}
}

/* smtpd_session_lost - EOF or an I/O error: log unless closing anyway, and close */
static void smtpd_session_lost(struct smtpd_session *s)
{
	if (s->input != SMTPD_IN_CLOSING)
		msg_info("lost connection after %s from %s", s->last_verb, s->peer);
	smtpd_session_close(s);
}

/* smtpd_session_send - plain: write the queued replies; wait for the socket only when it is full */
static void smtpd_session_send(struct smtpd_session *s)
{
	struct timeval tv = {(time_t) s->srv->p->smtpd_timeout, 0};
	ssize_t n;

	while (s->out.len > 0) {
		n = send(s->fd, s->out.data, s->out.len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
			smtpd_session_lost(s);
			return;
		}
		if (n >= 0 && (size_t) n == s->out.len) {
			buf_reset(&s->out);
			break;
		}
		if (n > 0)
			buf_consume(&s->out, (size_t) n);
		/* the socket is full: the rest when it has room, within smtpd_timeout */
		if (!s->wr_armed) {
			if (event_add(s->wev, &tv) < 0)
				msg_fatal("smtpd_session_send: event_add failed");
			s->wr_armed = true;
		}
		return;
	}
	if (s->wr_armed) {
		event_del(s->wev);
		s->wr_armed = false;
	}
	smtpd_session_drained(s);
}

/* smtpd_session_flush_cb - plain: the callback that queued replies is done: write them */
static void smtpd_session_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_session *s = arg;

	(void) fd;
	(void) what;
	if (s->io == SMTPD_IO_PLAIN && !s->wr_armed && s->out.len > 0)
		smtpd_session_send(s);
}

/* smtpd_session_write_ev - plain: the socket has room again, or the write time limit passed */
static void smtpd_session_write_ev(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_session *s = arg;

	(void) fd;
	if (what & EV_TIMEOUT) {
		msg_info("timeout after %s from %s", s->last_verb, s->peer);
		smtpd_session_close(s);
		return;
	}
	smtpd_session_send(s);
}

/* smtpd_session_read_ev - plain: input (or EOF) is there, or the read time limit passed */
static void smtpd_session_read_ev(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_session *s = arg;
	struct smtpd_server *srv = s->srv;
	char *dst;
	size_t room;
	ssize_t n;

	if (!s->rd_on || s->in_n >= SMTPD_READ_HIGH) {
		/* not reading now: out of epoll until smtpd_session_arm */
		event_del(s->rev);
		s->rd_armed = false;
		return;
	}
	if (what & EV_TIMEOUT) {
		msg_info("timeout after %s from %s", s->last_verb, s->peer);
		smtpd_reply_noerr(s, 421, "4.4.2", "%s Error: timeout exceeded", srv->g->myhostname);
		smtpd_session_finish(s);
		return;
	}
	if (s->in_n == 0) {
		dst = srv->rbuf;	/* the usual case: used in place, the rest kept */
		room = SMTPD_RBUF_SIZE;
	} else {
		/* input kept from before: read behind it, within SMTPD_READ_HIGH */
		room = SMTPD_READ_HIGH - s->in_n;
		if (room > SMTPD_READ_MORE)
			room = SMTPD_READ_MORE;
		if (s->in_p != s->in.data) {
			memmove(s->in.data, s->in_p, s->in_n);
			buf_truncate(&s->in, s->in_n);
		}
		if (buf_reserve(&s->in, room) < 0)
			msg_panic("smtpd_session_read_ev: input limit");
		dst = s->in.data + s->in.len;
	}
	n = recv(fd, dst, room, 0);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
		s->in_p = s->in_n ? s->in.data : NULL;
		return;
	}
	if (n <= 0) {
		smtpd_session_lost(s);	/* EOF (0) or an error */
		return;
	}
	if (s->in_n == 0) {
		s->in_p = srv->rbuf;
		s->in_shared = true;	/* until smtpd_session_keep, below */
	} else {
		s->in.len += (size_t) n;
		s->in.data[s->in.len] = '\0';
		s->in_p = s->in.data;
	}
	s->in_n += (size_t) n;
	smtpd_session_input(s);
	smtpd_session_keep(s);
}

/* smtpd_session_read_cb - TLS: input arrived */
static void smtpd_session_read_cb(struct bufferevent *bev, void *arg)
{
	(void) bev;
	smtpd_session_input(arg);
}

/* smtpd_session_write_cb - TLS: the output is written */
static void smtpd_session_write_cb(struct bufferevent *bev, void *arg)
{
	struct smtpd_session *s = arg;

	(void) bev;
	/* a callback may come late, for output written before the last reply */
	if (smtpd_session_output_empty(s))
		smtpd_session_drained(s);
}

/* smtpd_session_event_cb - TLS: EOF, error, time limit, or the handshake is done */
static void smtpd_session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct smtpd_session *s = arg;
	char err[256];
	unsigned long code;

	if (what & BEV_EVENT_CONNECTED) {
		s->tls = true;
		s->input = SMTPD_IN_COMMAND;
		smtpd_tls_describe(s->ssl, s->tls_proto, sizeof(s->tls_proto), s->tls_cipher,
				   sizeof(s->tls_cipher), &s->tls_bits);
		smtpd_proto_tls_done(s);
		smtpd_session_resume(s);
		return;
	}
	if ((what & BEV_EVENT_TIMEOUT) && (what & BEV_EVENT_READING) &&
	    s->input != SMTPD_IN_HANDSHAKE && s->input != SMTPD_IN_CLOSING) {
		msg_info("timeout after %s from %s", s->last_verb, s->peer);
		smtpd_reply_noerr(s, 421, "4.4.2", "%s Error: timeout exceeded", s->srv->g->myhostname);
		smtpd_session_finish(s);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT) {
		msg_info("timeout after %s from %s", s->last_verb, s->peer);
	} else if (s->input == SMTPD_IN_HANDSHAKE && s->ssl != NULL && !s->tls) {
		code = bufferevent_get_openssl_error(bev);
		if (code != 0) {
			smtpd_tls_error(code, err, sizeof(err));
			msg_info("SSL_accept error from %s: %s", s->peer, err);
		} else {
			msg_info("SSL_accept error from %s: %s", s->peer,
				 (what & BEV_EVENT_EOF) ? "lost connection" : strerror(errno));
		}
		msg_info("lost connection after %s from %s", s->last_verb, s->peer);
	} else if (s->input != SMTPD_IN_CLOSING) {
		msg_info("lost connection after %s from %s", s->last_verb, s->peer);
	}
	smtpd_session_close(s);
}

/* smtpd_session_resume_cb - deferred work: go on reading, or close */
static void smtpd_session_resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct smtpd_session *s = arg;

	(void) fd;
	(void) what;
	if (s->input == SMTPD_IN_CLOSING) {
		if (smtpd_session_output_empty(s))
			smtpd_session_close(s);
		return;
	}
	if (s->input == SMTPD_IN_HANDSHAKE && s->ssl_next != NULL) {
		if (smtpd_session_output_empty(s))
			smtpd_session_tls_switch(s);
		return;
	}
	smtpd_session_input(s);
}

/* smtpd_session_set_plain - the plain socket: a persistent read event, a write event for full sockets */
static void smtpd_session_set_plain(struct smtpd_session *s)
{
	struct event_base *base = s->srv->base;

	s->io = SMTPD_IO_PLAIN;
	s->rev = event_new(base, s->fd, EV_READ | EV_PERSIST, smtpd_session_read_ev, s);
	s->wev = event_new(base, s->fd, EV_WRITE | EV_PERSIST, smtpd_session_write_ev, s);
	if (s->rev == NULL || s->wev == NULL)
		msg_fatal("smtpd_session_set_plain: event_new failed");
	buf_init(&s->in, SMTPD_READ_HIGH);
	buf_init(&s->out, SMTPD_OUT_MAX);
	s->rd_on = true;
	smtpd_session_arm(s);
}

/* smtpd_session_set_bev - TLS: install a bufferevent with our callbacks and limits */
static void smtpd_session_set_bev(struct smtpd_session *s, struct bufferevent *bev)
{
	struct timeval tv = {(time_t) s->srv->p->smtpd_timeout, 0};

	s->io = SMTPD_IO_TLS;
	s->bev = bev;
	bufferevent_setcb(bev, smtpd_session_read_cb, smtpd_session_write_cb, smtpd_session_event_cb, s);
	bufferevent_set_timeouts(bev, &tv, &tv);
	bufferevent_setwatermark(bev, EV_READ, 0, SMTPD_READ_HIGH);
	bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

/* smtpd_session_peer - client address and port, the "name[addr]" form */
static void smtpd_session_peer(struct smtpd_session *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	str_copy(s->addr, "unknown", sizeof(s->addr));
	if (getpeername(s->fd, (struct sockaddr *) &ss, &len) == 0) {
		if (ss.ss_family == AF_INET) {
			struct sockaddr_in *sin = (struct sockaddr_in *) &ss;

			inet_ntop(AF_INET, &sin->sin_addr, s->addr, sizeof(s->addr));
			s->port = ntohs(sin->sin_port);
		} else if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;

			if (IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr))
				inet_ntop(AF_INET, &sin6->sin6_addr.s6_addr[12], s->addr, sizeof(s->addr));
			else
				inet_ntop(AF_INET6, &sin6->sin6_addr, s->addr, sizeof(s->addr));
			s->port = ntohs(sin6->sin6_port);
		}
	}
	str_copy(s->name, "unknown", sizeof(s->name));
	str_fmt(s->peer, sizeof(s->peer), "%s[%s]", s->name, s->addr);
}

/* smtpd_session_open - a new client connection: first its name (smtpd_peer.c) */
void smtpd_session_open(struct smtpd_server *srv, int fd)
{
	struct smtpd_session *s = xcalloc(1, sizeof(*s));

	s->srv = srv;
	s->fd = fd;
	s->state = SMTPD_ST_START;
	s->input = SMTPD_IN_COMMAND;
	s->last_verb = "CONNECT";
	s->verb = -1;
	str_fmt(s->id, sizeof(s->id), "%lx.%llx", pid_self(), ++srv->seq);
	attr_list_init(&s->begin);
	buf_init(&s->data.out, 2 * IPC_CHUNK_MAX + 16);
	smtpd_session_peer(s);
	smtpd_server_add(srv, s);
	s->resume = event_new(srv->base, -1, 0, smtpd_session_resume_cb, s);
	s->flush = event_new(srv->base, -1, 0, smtpd_session_flush_cb, s);
	if (s->resume == NULL || s->flush == NULL)
		msg_fatal("smtpd_session_open: event_new failed");
	smtpd_peer_lookup(s);		/* smtpd_session_start when the name is known */
}

/* smtpd_session_start - the name is known: log, check the client, greet (or TLS first) */
void smtpd_session_start(struct smtpd_session *s)
{
	struct smtpd_server *srv = s->srv;

	s->input = SMTPD_IN_COMMAND;
	str_fmt(s->peer, sizeof(s->peer), "%s[%s]", s->name, s->addr);
	s->relay_ok = smtpd_netlist_match(srv->mynetworks, s->addr);
	s->bare = srv->bare;
	if (s->bare == SMTPD_BARE_REJECT && srv->bare_exceptions != NULL &&
	    smtpd_netlist_match(srv->bare_exceptions, s->addr) == 1)
		s->bare = SMTPD_BARE_NORMALIZE;
	if (srv->geoip != NULL)
		geoip_country_text(srv->geoip, s->addr, s->country);
	if (s->country[0])
		msg_info("connect from %s country=%s", s->peer, s->country);
	else
		msg_info("connect from %s", s->peer);
	if (!srv->stopping)
		smtpd_access_connect(s);
	if (!srv->stopping && smtpd_screen_connect(s)) {
		s->input = SMTPD_IN_LOOKUP;	/* smtpd_session_ready comes with the answer */
		return;
	}
	smtpd_session_ready(s);
}

/* smtpd_session_ready - the client checks are done: the TLS handshake (465) or the greeting */
void smtpd_session_ready(struct smtpd_session *s)
{
	struct smtpd_server *srv = s->srv;
	struct bufferevent *bev;
	int fd = s->fd;
	char peek;

	s->input = SMTPD_IN_COMMAND;
	if (srv->p->smtpd_tls_wrappermode) {
		SSL *ssl = smtpd_tls_new(srv);

		if (ssl == NULL) {
			smtpd_session_close(s);
			return;
		}
		s->ssl = ssl;
		s->input = SMTPD_IN_HANDSHAKE;
		bev = bufferevent_openssl_socket_new(srv->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
						     BEV_OPT_CLOSE_ON_FREE);
		if (bev == NULL)
			msg_fatal("bufferevent_openssl_socket_new failed");
		smtpd_session_set_bev(s, bev);
		return;
	}
	smtpd_session_set_plain(s);
	if (srv->stopping || s->stopping) {
		smtpd_reply_noerr(s, 421, "4.3.2", "%s Service shutting down", srv->g->myhostname);
		smtpd_session_finish(s);
		return;
	}
	if (s->connect_reject.code == 0 && srv->p->smtpd_forbid_unauth_pipelining && recv(fd, &peek, 1, MSG_PEEK | MSG_DONTWAIT) == 1) {
		msg_info("improper command pipelining before greeting from %s", s->peer);
		smtpd_reply_noerr(s, 554, "5.5.0", "Error: SMTP protocol synchronization");
		smtpd_session_finish(s);
		return;
	}
	smtpd_proto_greet(s);
}

/* smtpd_reply_va - format and queue one reply line */
__attribute__((format(printf, 5, 0)))
static void smtpd_reply_va(struct smtpd_session *s, bool count, int code, const char *enh,
			   const char *fmt, va_list ap)
{
	char text[SMTPD_TEXT_MAX];
	char line[SMTPD_TEXT_MAX + SMTPD_ENH_MAX + 16];
	int n;

	if (s->io == SMTPD_IO_NONE || s->input == SMTPD_IN_CLOSING)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	if (enh != NULL)
		n = snprintf(line, sizeof(line), "%d %s %s\r\n", code, enh, text);
	else
		n = snprintf(line, sizeof(line), "%d %s\r\n", code, text);
	if (n < 0 || (size_t) n >= sizeof(line))
		msg_panic("smtpd_reply: reply line too long");	/* the sizes above make it fit */
	smtpd_write(s, line, (size_t) n);
	if (count && code >= 400)
		s->errors++;
	smtpd_proto_settle(s, code);
}

/* smtpd_reply - queue a reply; 4xx and 5xx count as errors */
void smtpd_reply(struct smtpd_session *s, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtpd_reply_va(s, true, code, enh, fmt, ap);
	va_end(ap);
}

/* smtpd_reply_noerr - queue a reply that is not counted as an error */
void smtpd_reply_noerr(struct smtpd_session *s, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	smtpd_reply_va(s, false, code, enh, fmt, ap);
	va_end(ap);
}

/* smtpd_reply_set - fill a kept reply */
void smtpd_reply_set(struct smtpd_reply *r, int code, const char *enh, const char *fmt, ...)
{
	va_list ap;

	r->code = code;
	str_copy(r->enh, enh, sizeof(r->enh));
	va_start(ap, fmt);
	vsnprintf(r->text, sizeof(r->text), fmt, ap);
	va_end(ap);
}

/* smtpd_reply_kept - send a kept reply */
void smtpd_reply_kept(struct smtpd_session *s, const struct smtpd_reply *r)
{
	smtpd_reply(s, r->code, r->enh, "%s", r->text);
}

/* smtpd_write - queue raw text */
void smtpd_write(struct smtpd_session *s, const char *text, size_t len)
{
	switch (s->io) {
	case SMTPD_IO_NONE:
		return;
	case SMTPD_IO_PLAIN:
		if (s->input == SMTPD_IN_CLOSING)
			return;
		/* the input loop stops at SMTPD_OUT_HIGH: more is a broken invariant */
		if (buf_append(&s->out, text, len) < 0)
			msg_panic("smtpd_write: %zu octets of replies queued", s->out.len);
		if (!s->wr_armed)
			event_active(s->flush, EV_TIMEOUT, 1);	/* one send when this callback is done */
		return;
	case SMTPD_IO_TLS:
		if (s->input == SMTPD_IN_CLOSING)
			return;
		if (evbuffer_add(bufferevent_get_output(s->bev), text, len) < 0)
			msg_fatal("smtpd_write: out of memory");
		return;
	}
}

/* smtpd_session_finish - no more input; close when the output is written */
void smtpd_session_finish(struct smtpd_session *s)
{
	if (s->input == SMTPD_IN_CLOSING)
		return;
	s->input = SMTPD_IN_CLOSING;
	smtpd_session_reading(s, false);
	smtpd_session_resume(s);
}

/* smtpd_session_resume - run the input loop from the event loop */
void smtpd_session_resume(struct smtpd_session *s)
{
	event_active(s->resume, EV_TIMEOUT, 1);
}

/* smtpd_session_reading - reading from the client on or off */
void smtpd_session_reading(struct smtpd_session *s, bool on)
{
	struct timeval tv = {(time_t) s->srv->p->smtpd_timeout, 0};
	bool ok = on && s->input != SMTPD_IN_CLOSING && s->input != SMTPD_IN_WAIT && s->input != SMTPD_IN_AUTH &&
	    !s->paused;

	switch (s->io) {
	case SMTPD_IO_NONE:
		return;
	case SMTPD_IO_TLS:
		if (ok)
			bufferevent_enable(s->bev, EV_READ);
		else if (!on)
			bufferevent_disable(s->bev, EV_READ);
		return;
	case SMTPD_IO_PLAIN:
		if (ok && !s->rd_on && s->rd_armed && event_add(s->rev, &tv) < 0)
			msg_fatal("smtpd_session_reading: event_add failed");	/* a fresh time limit */
		if (ok)
			s->rd_on = true;
		else if (!on)
			s->rd_on = false;	/* the event leaves epoll only if input comes */
		smtpd_session_arm(s);
		return;
	}
}

/* smtpd_session_pending - input received and not used yet */
size_t smtpd_session_pending(struct smtpd_session *s)
{
	switch (s->io) {
	case SMTPD_IO_PLAIN:
		return s->in_n;
	case SMTPD_IO_TLS:
		return evbuffer_get_length(bufferevent_get_input(s->bev));
	case SMTPD_IO_NONE:
		break;
	}
	return 0;
}

/* smtpd_session_starttls - the 220 is queued: drop plaintext, then switch */
void smtpd_session_starttls(struct smtpd_session *s, SSL *ssl)
{
	size_t junk = smtpd_session_pending(s);

	s->input = SMTPD_IN_HANDSHAKE;
	s->ssl_next = ssl;
	smtpd_session_reading(s, false);
	if (junk > 0) {
		/* CVE-2011-0411 class: nothing sent before the handshake may count */
		msg_info("discarding %zu octets of plaintext pipelined after STARTTLS from %s", junk, s->peer);
		smtpd_session_consume(s, junk);
	}
	smtpd_session_resume(s);	/* switches when the 220 is written */
}

/* smtpd_session_shutdown - SIGTERM: 421 now, or after the reply under way */
void smtpd_session_shutdown(struct smtpd_session *s)
{
	s->stopping = true;
	switch (s->input) {
	case SMTPD_IN_LOOKUP:
		return;			/* smtpd_session_start says 421 instead of the greeting */
	case SMTPD_IN_WAIT:
	case SMTPD_IN_CLOSING:
		return;			/* smtpd_data_result says 421 after its reply */
	case SMTPD_IN_AUTH:
		return;			/* the AUTH verdict says 421 after its reply */
	case SMTPD_IN_HANDSHAKE:
		if (s->ssl_next != NULL)
			break;			/* the 220 is not even written: plain text still */
		smtpd_session_finish(s);	/* nothing can be said inside a half-made TLS */
		return;
	case SMTPD_IN_DATA:
	case SMTPD_IN_BDAT:
		msg_info("%s: message abandoned: shutting down", s->peer);
		smtpd_data_reset(s);
		break;
	case SMTPD_IN_COMMAND:
		break;
	}
	smtpd_reply_noerr(s, 421, "4.3.2", "%s Service shutting down", s->srv->g->myhostname);
	smtpd_session_finish(s);
}
