/*
 * smtp_session - one connection of the smtp agent: connect (from
 * smtp_bind_address), greeting, EHLO (HELO fallback) or LHLO, TLS as the
 * policy engine's plan for the host says, AUTH to a smarthost; RSET and
 * QUIT; the one-session cache for connection reuse.
 *
 * TLS (smtp_tls.h): when the plan says offer_starttls and the server
 * lists STARTTLS, STARTTLS (buffered plaintext input is dropped), the
 * handshake, EHLO again. A failed handshake: next host when TLS is
 * required, else a new plaintext connection to the same address. No
 * STARTTLS: smtp_tls_host_no_starttls; with try_465 a new connection to
 * port 465 of the same address with TLS from the first byte; otherwise,
 * when TLS is required, the host is skipped ("does not offer STARTTLS"),
 * else plaintext goes on.
 *
 * AUTH: credentials ("user:password") from smtp_sasl_password_maps keyed
 * by the next hop; PLAIN when offered, else LOGIN; never over plaintext
 * unless smtp_sasl_tls_only = no. The password is never logged and is
 * wiped after use. A refused AUTH fails the host (deferred with the
 * server's text, as Postfix does).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/service.h"
#include "mail/table.h"
#include "smtp.h"

enum smtp_mode { SMTP_MODE_NORMAL, SMTP_MODE_PLAIN, SMTP_MODE_IMPLICIT };

/* smtp_lookup_nexthop - [host]:port, [host], host, then domain */
int smtp_lookup_nexthop(struct tables *t, const char *nexthop, const char *domain,
			const char **value, char *err, size_t errlen)
{
	char keys[4][SMTP_KEY_MAX];
	size_t n = 0;
	const char *p = nexthop;

	if (t == NULL)
		return 0;
	if (str_has_prefix(p, "inet:"))
		p += 5;
	str_copy(keys[n++], p, sizeof(keys[0]));
	if (p[0] == '[') {
		const char *end = strchr(p, ']');

		if (end != NULL) {
			str_fmt(keys[n++], sizeof(keys[0]), "%.*s", (int) (end - p + 1), p);
			str_fmt(keys[n++], sizeof(keys[0]), "%.*s", (int) (end - p - 1), p + 1);
		}
	}
	if (domain && domain[0])
		str_copy(keys[n++], domain, sizeof(keys[0]));
	for (size_t i = 0; i < n; i++) {
		int r;

		if (i > 0 && strcmp(keys[i], keys[i - 1]) == 0)
			continue;
		r = tables_lookup(t, keys[i], value, NULL, err, errlen);
		if (r != 0)
			return r;
	}
	return 0;
}

/* smtp_connect_inet - TCP connect with a time limit, from smtp_bind_address; fd or -1 (why) */
static int smtp_connect_inet(struct smtp_agent *a, const struct sockaddr_storage *ss, char *why, size_t whylen)
{
	socklen_t len = ss->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
	int fd = socket(ss->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct pollfd pfd;
	int soerr = 0, r;
	socklen_t sl = sizeof(soerr);

	if (fd < 0) {
		str_fmt(why, whylen, "socket: %s", strerror(errno));
		return -1;
	}
	if (ss->ss_family == AF_INET && a->p->smtp_bind_address[0]) {
		struct sockaddr_in src = { .sin_family = AF_INET };

		if (inet_pton(AF_INET, a->p->smtp_bind_address, &src.sin_addr) != 1) {
			str_fmt(why, whylen, "smtp_bind_address %s is not an IPv4 address", a->p->smtp_bind_address);
			close(fd);
			return -1;
		}
		if (bind(fd, (struct sockaddr *) &src, sizeof(src)) < 0) {
			str_fmt(why, whylen, "bind %s: %s", a->p->smtp_bind_address, strerror(errno));
			close(fd);
			return -1;
		}
	}
	if (connect(fd, (const struct sockaddr *) ss, len) < 0 && errno != EINPROGRESS) {
		str_copy(why, strerror(errno), whylen);
		close(fd);
		return -1;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	do
		r = poll(&pfd, 1, (int) (a->p->smtp_connect_timeout * 1000));
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		str_copy(why, "Connection timed out", whylen);
		close(fd);
		return -1;
	}
	if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr != 0) {
		str_copy(why, strerror(r < 0 ? errno : soerr ? soerr : EIO), whylen);
		close(fd);
		return -1;
	}
	return fd;
}

/* smtp_cmd - send one command line and read its reply; 0 when a reply came */
static int smtp_cmd(struct smtp_session *s, struct smtp_reply *r, long long timeout, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int smtp_cmd(struct smtp_session *s, struct smtp_reply *r, long long timeout, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&s->st.out, fmt, ap);
	va_end(ap);
	buf_puts(&s->st.out, "\r\n");
	smtp_stream_timeout(&s->st, timeout);
	if (smtp_stream_flush(&s->st) != 0 || smtp_reply_read(&s->st, r) != 0) {
		s->broken = true;
		return -1;
	}
	return 0;
}

/* smtp_ehlo_parse - the keywords of an EHLO/LHLO reply */
static void smtp_ehlo_parse(struct smtp_session *s, const struct smtp_reply *r)
{
	const char *line = buf_str(&r->lines);
	bool first = true;

	s->ext = 0;
	s->size_max = 0;
	s->auth_mechs[0] = '\0';
	while (*line) {
		const char *nl = strchr(line, '\n');
		size_t len = nl ? (size_t) (nl - line) : strlen(line);
		char kw[256];

		str_fmt(kw, sizeof(kw), "%.*s", (int) (len < 255 ? len : 255), line);
		if (!first) {
			char *sp = strchr(kw, ' ');
			char *arg = sp ? sp + 1 : "";

			if (sp)
				*sp = '\0';
			if (str_eq_nocase(kw, "PIPELINING"))
				s->ext |= SMTP_EXT_PIPELINING;
			else if (str_eq_nocase(kw, "8BITMIME"))
				s->ext |= SMTP_EXT_8BITMIME;
			else if (str_eq_nocase(kw, "SMTPUTF8"))
				s->ext |= SMTP_EXT_SMTPUTF8;
			else if (str_eq_nocase(kw, "DSN"))
				s->ext |= SMTP_EXT_DSN;
			else if (str_eq_nocase(kw, "STARTTLS"))
				s->ext |= SMTP_EXT_STARTTLS;
			else if (str_eq_nocase(kw, "REQUIRETLS"))
				s->ext |= SMTP_EXT_REQUIRETLS;
			else if (str_eq_nocase(kw, "SIZE")) {
				long long v;

				s->ext |= SMTP_EXT_SIZE;
				if (*arg && str_to_ll(arg, 0, (long long) 1 << 62, &v) == 0)
					s->size_max = (unsigned long long) v;
			} else if (str_eq_nocase(kw, "AUTH")) {
				s->ext |= SMTP_EXT_AUTH;
				str_fmt(s->auth_mechs, sizeof(s->auth_mechs), " %s ", arg);
				str_lower(s->auth_mechs);
			}
		}
		first = false;
		line += len;
		if (*line == '\n')
			line++;
	}
}

/* smtp_hello - EHLO or LHLO, HELO when EHLO is refused; 0 or -1 (why) */
static int smtp_hello(struct smtp_agent *a, struct smtp_session *s, char *why, size_t whylen)
{
	struct smtp_reply r;
	int ret = -1;

	smtp_reply_init(&r);
	if (smtp_cmd(s, &r, a->p->smtp_helo_timeout, "%s %s", s->lmtp ? "LHLO" : "EHLO",
		     a->p->smtp_helo_name) != 0) {
		str_fmt(why, whylen, "%s while performing the %s handshake", s->st.why, s->lmtp ? "LHLO" : "EHLO");
	} else if (r.code / 100 == 2) {
		s->esmtp = true;
		smtp_ehlo_parse(s, &r);
		ret = 0;
	} else if (s->lmtp) {
		str_fmt(why, whylen, "host %s refused to talk to me: %s (in reply to LHLO command)", s->relay, r.text);
	} else if (smtp_cmd(s, &r, a->p->smtp_helo_timeout, "HELO %s", a->p->smtp_helo_name) != 0) {
		str_fmt(why, whylen, "%s while performing the HELO handshake", s->st.why);
	} else if (r.code / 100 != 2) {
		str_fmt(why, whylen, "host %s refused to talk to me: %s (in reply to HELO command)", s->relay, r.text);
	} else {
		s->esmtp = false;
		s->ext = 0;
		ret = 0;
	}
	smtp_reply_free(&r);
	return ret;
}

/* smtp_b64 - base64 of n bytes into a new string */
static char *smtp_b64(const void *p, size_t n)
{
	char *out = xmalloc(4 * ((n + 2) / 3) + 1);

	EVP_EncodeBlock((unsigned char *) out, p, (int) n);
	return out;
}

/* smtp_auth - AUTH PLAIN or LOGIN with user:password; 0, or -1 (why) */
static int smtp_auth(struct smtp_agent *a, struct smtp_session *s, const char *cred, char *why, size_t whylen)
{
	const char *colon = strchr(cred, ':');
	size_t ulen, plen;
	struct smtp_reply r;
	char *b64 = NULL;
	int ret = -1;

	if (colon == NULL || colon == cred) {
		str_fmt(why, whylen, "smtp_sasl_password_maps entry for %s is not user:password", s->relay);
		return -1;
	}
	ulen = (size_t) (colon - cred);
	plen = strlen(colon + 1);
	smtp_reply_init(&r);
	if (strstr(s->auth_mechs, " plain ") != NULL) {
		size_t n = ulen + plen + 2;
		char *raw = xmalloc(n);

		raw[0] = '\0';
		memcpy(raw + 1, cred, ulen);
		raw[1 + ulen] = '\0';
		memcpy(raw + 2 + ulen, colon + 1, plen);
		b64 = smtp_b64(raw, n);
		OPENSSL_cleanse(raw, n);
		free(raw);
		if (smtp_cmd(s, &r, a->p->smtp_helo_timeout, "AUTH PLAIN %s", b64) != 0)
			goto io;
	} else if (strstr(s->auth_mechs, " login ") != NULL) {
		char *u = smtp_b64(cred, ulen);

		if (smtp_cmd(s, &r, a->p->smtp_helo_timeout, "AUTH LOGIN") != 0) {
			free(u);
			goto io;
		}
		if (r.code == 334 && smtp_cmd(s, &r, a->p->smtp_helo_timeout, "%s", u) != 0) {
			free(u);
			goto io;
		}
		free(u);
		if (r.code == 334) {
			b64 = smtp_b64(colon + 1, plen);
			if (smtp_cmd(s, &r, a->p->smtp_helo_timeout, "%s", b64) != 0)
				goto io;
		}
	} else {
		str_fmt(why, whylen, "host %s offers no AUTH mechanism we support (PLAIN, LOGIN):%s", s->relay,
			s->auth_mechs);
		goto out;
	}
	if (r.code == 235) {
		s->authed = true;
		ret = 0;
	} else {
		str_fmt(why, whylen, "SASL authentication failed; server %s said: %s", s->relay, r.text);
	}
	goto out;
io:
	str_fmt(why, whylen, "%s with %s during AUTH", s->st.why, s->relay);
out:
	if (b64) {
		OPENSSL_cleanse(b64, strlen(b64));
		free(b64);
	}
	/* the command buffer held the credentials too */
	if (s->st.out.data)
		OPENSSL_cleanse(s->st.out.data, s->st.out.cap);
	smtp_reply_free(&r);
	return ret;
}

/* smtp_timeout_unit - the shortest limit of any stage of a session: the socket's standing limit */
static long long smtp_timeout_unit(const struct params_delivery *p)
{
	const long long t[] = {p->smtp_helo_timeout, p->smtp_mail_timeout, p->smtp_rcpt_timeout,
			       p->smtp_data_init_timeout, p->smtp_data_xfer_timeout,
			       p->smtp_data_done_timeout, p->smtp_quit_timeout};
	long long unit = 0;

	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (t[i] > 0 && (unit == 0 || t[i] < unit))
			unit = t[i];
	return unit;
}

/* smtp_session_new - a session around a connected fd */
static struct smtp_session *smtp_session_new(struct smtp_open_ctx *c, int fd, const char *host,
					     const char *addr, unsigned port)
{
	struct smtp_session *s = xcalloc(1, sizeof(*s));

	smtp_stream_init(&s->st, fd, smtp_timeout_unit(c->a->p));
	str_copy(s->key, c->key, sizeof(s->key));
	str_copy(s->host, host, sizeof(s->host));
	str_copy(s->addr, addr, sizeof(s->addr));
	s->port = port;
	s->lmtp = c->a->lmtp;
	if (addr[0])
		str_fmt(s->relay, sizeof(s->relay), "%s[%s]:%u", host, addr, port);
	else
		str_fmt(s->relay, sizeof(s->relay), "%s", host);
	if (c->tlsh) {
		str_copy(s->tls_policy, smtp_tls_host_plan(c->tlsh)->policy, sizeof(s->tls_policy));
		smtp_tls_host_peer(c->tlsh, fd);	/* events name both ends */
	}
	return s;
}

/* smtp_session_free - close without QUIT */
static void smtp_session_free(struct smtp_session *s)
{
	smtp_stream_close(&s->st);
	free(s);
}

/* smtp_starttls_handshake - TLS on s (after STARTTLS or at once for 465); 0 or -1 (why) */
static int smtp_handshake(struct smtp_open_ctx *c, struct smtp_session *s)
{
	SSL *ssl;

	smtp_stream_drop_input(&s->st);
	ssl = smtp_tls_connect(c->tlsh, s->st.fd, (int) c->a->p->smtp_tls_handshake_timeout, &s->tls_out);
	if (ssl == NULL) {
		str_fmt(c->why, sizeof(c->why), "TLS handshake with %s failed: %s", s->relay,
			s->tls_out.why[0] ? s->tls_out.why : "unknown error");
		str_copy(c->dsn, "4.7.5", sizeof(c->dsn));
		return -1;
	}
	s->st.ssl = ssl;
	s->tls = true;
	return 0;
}

/* smtp_open_addr - one connection attempt in the given mode */
static enum smtp_open_status smtp_open_addr(struct smtp_open_ctx *c, const struct smtp_host *h,
					    const struct sockaddr_storage *ss, unsigned port,
					    enum smtp_mode mode, struct smtp_session **out);

/* smtp_open_tls - after the greeting and EHLO: STARTTLS or the 465 ladder as planned */
static enum smtp_open_status smtp_open_tls(struct smtp_open_ctx *c, const struct smtp_host *h,
					   const struct sockaddr_storage *ss, struct smtp_session **sp)
{
	struct smtp_session *s = *sp;
	const struct smtp_tls_plan *plan = smtp_tls_host_plan(c->tlsh);
	struct smtp_reply r;
	int ok;

	if (plan->offer_starttls && (s->ext & SMTP_EXT_STARTTLS)) {
		smtp_reply_init(&r);
		ok = smtp_cmd(s, &r, c->a->p->smtp_helo_timeout, "STARTTLS") == 0;
		if (ok && r.code == 220 && smtp_handshake(c, s) == 0) {
			smtp_reply_free(&r);
			if (smtp_hello(c->a, s, c->why, sizeof(c->why)) != 0)
				return SMTP_OPEN_NEXT;
			return SMTP_OPEN_OK;
		}
		if (ok && r.code != 220)
			str_fmt(c->why, sizeof(c->why), "host %s refused STARTTLS: %s", s->relay, r.text);
		else if (!ok)
			str_fmt(c->why, sizeof(c->why), "%s with %s after STARTTLS", s->st.why, s->relay);
		smtp_reply_free(&r);
		str_copy(c->dsn, "4.7.5", sizeof(c->dsn));
		if (plan->required)
			return SMTP_OPEN_NEXT_HOST;
		msg_info("%s; trying plaintext", c->why);
		if (ok && r.code != 220)	/* the session is still fine without TLS */
			return SMTP_OPEN_OK;
		smtp_session_free(s);
		*sp = NULL;
		return smtp_open_addr(c, h, ss, h->port, SMTP_MODE_PLAIN, sp);
	}
	if (!plan->offer_starttls && !plan->required)
		return SMTP_OPEN_OK;
	smtp_tls_host_no_starttls(c->tlsh);
	if (plan->try_465) {
		enum smtp_open_status st;

		smtp_session_close(c->a, s, true);
		*sp = NULL;
		st = smtp_open_addr(c, h, ss, SMTP_PORT_IMPLICIT, SMTP_MODE_IMPLICIT, sp);
		if (st == SMTP_OPEN_OK || plan->required)
			return st == SMTP_OPEN_OK ? st : SMTP_OPEN_NEXT_HOST;
		msg_info("%s; trying plaintext on port %u", c->why, h->port);
		return smtp_open_addr(c, h, ss, h->port, SMTP_MODE_PLAIN, sp);
	}
	if (plan->required) {
		str_fmt(c->why, sizeof(c->why), "TLS is required, but host %s does not offer STARTTLS", s->relay);
		str_copy(c->dsn, "4.7.4", sizeof(c->dsn));
		return SMTP_OPEN_NEXT_HOST;
	}
	return SMTP_OPEN_OK;
}

/* smtp_open_addr - connect, greet, hello, TLS, AUTH */
static enum smtp_open_status smtp_open_addr(struct smtp_open_ctx *c, const struct smtp_host *h,
					    const struct sockaddr_storage *ss, unsigned port,
					    enum smtp_mode mode, struct smtp_session **out)
{
	struct smtp_agent *a = c->a;
	char addr[INET6_ADDRSTRLEN], err[TABLE_ERR_SIZE];
	struct sockaddr_storage dst = *ss;
	struct smtp_session *s;
	struct smtp_reply r;
	enum smtp_open_status st;
	const char *cred;
	int fd, found;

	*out = NULL;
	smtp_route_addr_text(ss, addr, sizeof(addr));
	if (dst.ss_family == AF_INET6)
		((struct sockaddr_in6 *) &dst)->sin6_port = htons((uint16_t) port);
	else
		((struct sockaddr_in *) &dst)->sin_port = htons((uint16_t) port);
	str_copy(c->dsn, "4.4.1", sizeof(c->dsn));
	fd = smtp_connect_inet(a, &dst, err, sizeof(err));
	if (fd < 0) {
		str_fmt(c->why, sizeof(c->why), "connect to %s[%s]:%u: %s", h->name, addr, port, err);
		return SMTP_OPEN_NEXT;
	}
	s = smtp_session_new(c, fd, h->name, addr, port);
	if (mode == SMTP_MODE_IMPLICIT && smtp_handshake(c, s) != 0) {
		smtp_session_free(s);
		return SMTP_OPEN_NEXT;
	}
	smtp_reply_init(&r);
	smtp_stream_timeout(&s->st, a->p->smtp_helo_timeout);
	if (smtp_reply_read(&s->st, &r) != 0) {
		str_fmt(c->why, sizeof(c->why), "%s with %s while receiving the initial server greeting",
			s->st.why, s->relay);
		smtp_reply_free(&r);
		smtp_session_free(s);
		return SMTP_OPEN_NEXT;
	}
	c->greeted = true;
	if (r.code / 100 != 2) {
		str_fmt(c->why, sizeof(c->why), "host %s refused to talk to me: %s", s->relay, r.text);
		str_copy(c->dsn, r.code / 100 == 5 ? "5.0.0" : "4.0.0", sizeof(c->dsn));
		if (r.dsn[0] && r.dsn[0] == (char) ('0' + r.code / 100))
			str_copy(c->dsn, r.dsn, sizeof(c->dsn));
		smtp_reply_free(&r);
		smtp_session_close(a, s, true);
		return SMTP_OPEN_NEXT_HOST;
	}
	smtp_reply_free(&r);
	if (smtp_hello(a, s, c->why, sizeof(c->why)) != 0) {
		smtp_session_close(a, s, !s->broken);
		return SMTP_OPEN_NEXT_HOST;
	}
	if (mode == SMTP_MODE_NORMAL && c->tlsh != NULL) {
		struct smtp_session *orig = s;

		st = smtp_open_tls(c, h, ss, &s);
		if (st != SMTP_OPEN_OK) {
			if (s)
				smtp_session_close(a, s, !s->broken);
			return st;
		}
		if (s != orig) {	/* a new connection (465 or plaintext) did all the rest */
			*out = s;
			return s ? SMTP_OPEN_OK : SMTP_OPEN_NEXT;
		}
	}
	if (s->authed || a->sasl == NULL)
		goto done;
	found = smtp_lookup_nexthop(a->sasl, c->nexthop, c->domain, &cred, err, sizeof(err));
	if (found < 0) {
		str_fmt(c->why, sizeof(c->why), "smtp_sasl_password_maps: %s", err);
		smtp_session_close(a, s, true);
		return SMTP_OPEN_NEXT_HOST;
	}
	if (found == 1) {
		if (!(s->ext & SMTP_EXT_AUTH)) {
			msg_info("%s offers no AUTH; sending without authentication", s->relay);
		} else if (!s->tls && a->p->smtp_sasl_tls_only) {
			msg_warn("not sending AUTH credentials to %s over a plaintext connection (smtp_sasl_tls_only)",
				 s->relay);
		} else {
			char *copy = xstrdup(cred);
			int rc = smtp_auth(a, s, copy, c->why, sizeof(c->why));

			OPENSSL_cleanse(copy, strlen(copy));
			free(copy);
			if (rc != 0) {
				str_copy(c->dsn, "4.7.0", sizeof(c->dsn));
				smtp_session_close(a, s, !s->broken);
				return SMTP_OPEN_NEXT_HOST;
			}
		}
	}
done:
	*out = s;
	return SMTP_OPEN_OK;
}

/* smtp_session_open - see smtp.h */
enum smtp_open_status smtp_session_open(struct smtp_open_ctx *c, const struct smtp_host *h, size_t i,
					const char *unix_path, struct smtp_session **out)
{
	*out = NULL;
	c->greeted = false;
	c->why[0] = '\0';
	if (unix_path != NULL && unix_path[0]) {
		struct smtp_host uh;
		struct smtp_reply r;
		struct smtp_session *s;
		int fd = ipc_connect_unix(unix_path, (int) (c->a->p->smtp_connect_timeout * 1000));

		str_copy(c->dsn, "4.4.1", sizeof(c->dsn));
		if (fd < 0) {
			str_fmt(c->why, sizeof(c->why), "connect to %s: %s", unix_path, strerror(errno));
			return SMTP_OPEN_NEXT_HOST;
		}
		memset(&uh, 0, sizeof(uh));
		s = smtp_session_new(c, fd, unix_path, "", 0);
		str_fmt(s->relay, sizeof(s->relay), "%s", unix_path);
		smtp_reply_init(&r);
		smtp_stream_timeout(&s->st, c->a->p->smtp_helo_timeout);
		if (smtp_reply_read(&s->st, &r) != 0 || r.code / 100 != 2) {
			c->greeted = r.code != 0;
			if (r.code)
				str_fmt(c->why, sizeof(c->why), "host %s refused to talk to me: %s", s->relay, r.text);
			else
				str_fmt(c->why, sizeof(c->why), "%s with %s while receiving the initial server greeting",
					s->st.why, s->relay);
			smtp_reply_free(&r);
			smtp_session_close(c->a, s, r.code != 0);
			return SMTP_OPEN_NEXT_HOST;
		}
		smtp_reply_free(&r);
		c->greeted = true;
		if (smtp_hello(c->a, s, c->why, sizeof(c->why)) != 0) {
			smtp_session_close(c->a, s, !s->broken);
			return SMTP_OPEN_NEXT_HOST;
		}
		*out = s;
		return SMTP_OPEN_OK;
	}
	return smtp_open_addr(c, h, &h->addr[i], h->port, SMTP_MODE_NORMAL, out);
}

/* smtp_session_reset - RSET before reuse */
int smtp_session_reset(struct smtp_agent *a, struct smtp_session *s)
{
	struct smtp_reply r;
	int ret;

	smtp_reply_init(&r);
	ret = smtp_cmd(s, &r, a->p->smtp_quit_timeout, "RSET") == 0 && r.code / 100 == 2 ? 0 : -1;
	smtp_reply_free(&r);
	return ret;
}

/* smtp_session_close - QUIT (bounded by smtp_quit_timeout), close, free */
void smtp_session_close(struct smtp_agent *a, struct smtp_session *s, bool quit)
{
	if (s == NULL)
		return;
	if (quit && !s->broken) {
		struct smtp_reply r;

		smtp_reply_init(&r);
		(void) smtp_cmd(s, &r, a->p->smtp_quit_timeout, "QUIT");
		smtp_reply_free(&r);
	}
	smtp_session_free(s);
}

/* smtp_session_tls_note - the TLS words of a log line */
void smtp_session_tls_note(const struct smtp_session *s, char *buf, size_t size)
{
	if (s->tls)
		str_fmt(buf, size, " tls=%s cipher=%s verified=%s policy=%s",
			s->tls_out.protocol[0] ? s->tls_out.protocol : "yes",
			s->tls_out.cipher[0] ? s->tls_out.cipher : "unknown",
			s->tls_out.verified ? (s->tls_out.how[0] ? s->tls_out.how : "yes") : "no",
			s->tls_policy[0] ? s->tls_policy : "none");
	else if (s->tls_policy[0])
		str_fmt(buf, size, " tls=none policy=%s", s->tls_policy);
	else
		buf[0] = '\0';
}

/* smtp_cache_expire - the idle time of the cached session is over */
static void smtp_cache_expire(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	smtp_cache_flush(arg);
}

/* smtp_cache_flush - QUIT and close the cached session */
void smtp_cache_flush(struct smtp_agent *a)
{
	if (a->cache_ev)
		evtimer_del(a->cache_ev);
	if (a->cached) {
		msg_debug("closing cached session with %s", a->cached->relay);
		smtp_session_close(a, a->cached, true);
		a->cached = NULL;
	}
}

/* smtp_cache_take - the cached session for key, else NULL */
struct smtp_session *smtp_cache_take(struct smtp_agent *a, const char *key)
{
	struct smtp_session *s = a->cached;

	if (s == NULL)
		return NULL;
	if (strcmp(s->key, key) != 0) {
		smtp_cache_flush(a);
		return NULL;
	}
	if (a->cache_ev)
		evtimer_del(a->cache_ev);
	a->cached = NULL;
	return s;
}

/* smtp_cache_put - keep s open for smtp_connection_cache_time */
void smtp_cache_put(struct smtp_agent *a, struct smtp_session *s)
{
	struct timeval tv = { (time_t) a->p->smtp_connection_cache_time, 0 };

	smtp_cache_flush(a);
	if (a->p->smtp_connection_cache_time <= 0 || s->broken) {
		smtp_session_close(a, s, true);
		return;
	}
	if (a->cache_ev == NULL)
		a->cache_ev = evtimer_new(service_base(a->svc), smtp_cache_expire, a);
	a->cached = s;
	evtimer_add(a->cache_ev, &tv);
}
