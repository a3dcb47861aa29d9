/*
 * smtp - the modules of the SMTP/LMTP delivery agent (smtp(8), lmtp(8))
 * and what they share.
 *
 *   smtp.c          main: the service, pre_jail (tables, DNS, TLS), one
 *                   DELIVER request at a time, the session cache timer
 *   smtp_stream.c   line I/O over a socket or an SSL, with a bound on
 *                   every line and a time limit on every read and write
 *   smtp_route.c    the next hop: "domain" (MX lookup, implicit MX, null
 *                   MX), "[host]:port", IP literals, LMTP "unix:/path"
 *                   and "inet:host:port"; candidate hosts and addresses
 *   smtp_session.c  one connection: greeting, EHLO/LHLO (HELO fallback),
 *                   STARTTLS or implicit TLS as the TLS plan says, AUTH
 *   smtp_trans.c    one mail transaction: MAIL, RCPT (pipelined when
 *                   offered), DATA with CRLF, dot-stuffing and folding;
 *                   per-recipient results
 *   smtp_deliver.c  one request: the message's needs, routing, trying
 *                   hosts in order, the results, connection reuse
 *
 * Results: every recipient of a request ends with a struct deliver_out
 * (sent, bounced or deferred) and the relay it was tried at; nothing here
 * exits on a remote error. Passwords from smtp_sasl_password_maps never
 * reach a log line.
 */
#ifndef TERN_DELIVERY_SMTP_H
#define TERN_DELIVERY_SMTP_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "base/buf.h"
#include "mail/config.h"
#include "mail/deliver_agent.h"
#include "mail/dns.h"
#include "smtp_tls.h"

#define SMTP_LINE_MAX		4096		/* one reply line from a server */
#define SMTP_REPLY_MAX		(64 * 1024)	/* all lines of one reply */
#define SMTP_TEXT_MAX		400		/* reply text kept for results */
#define SMTP_RELAY_MAX		(DNS_NAME_MAX + INET6_ADDRSTRLEN + 16)
#define SMTP_HOSTS_MAX		100		/* MX hosts of one domain */
#define SMTP_ADDRS_MAX		16		/* addresses of one host */
#define SMTP_PORT		25
#define SMTP_PORT_IMPLICIT	465
#define LMTP_PORT		24
#define SMTP_KEY_MAX		(1024 + 16)	/* protocol and next hop of a cached session */
#define SMTP_OUT_MAX		(1024 * 1024)	/* output buffered before a write: content up to
						 * this size goes out in one send */

struct event;
struct service;
struct tables;

/* the agent: process-wide, made in pre_jail */
struct smtp_agent {
	const struct config *cfg;
	const struct params_global *g;
	const struct params_delivery *p;
	bool lmtp;			/* smtp_protocol = lmtp or service named lmtp */
	struct dns *dns;		/* NULL: DNS unavailable (why in dns_err) */
	char dns_err[256];
	struct smtp_tls *tls;		/* NULL: TLS unavailable (why in tls_err) */
	char tls_err[256];
	struct tables *sasl;		/* smtp_sasl_password_maps, or NULL */
	struct tables *retpath;		/* smtp_return_path_maps, or NULL */
	struct smtp_session *cached;	/* an idle session kept for reuse, or NULL */
	struct event *cache_ev;		/* closes it after smtp_connection_cache_time */
	struct service *svc;
};

/* smtp_reply - one server reply */
struct smtp_reply {
	int code;			/* 0: no reply (connection lost, timeout) */
	char dsn[16];			/* enhanced status code, "" when none */
	char text[SMTP_TEXT_MAX];	/* the lines joined by a space, code included */
	struct buf lines;		/* every line without its code, '\n'-separated */
};

/* smtp_stream - buffered line I/O over fd or ssl */
struct smtp_stream {
	int fd;
	SSL *ssl;			/* non-NULL after a TLS handshake */
	char in[8192];
	size_t ipos, ilen;
	struct buf out;
	char why[160];			/* the last I/O failure: "timeout", "lost connection" */
	bool blocking_checked;		/* the socket was made blocking (once per socket) */
	long long timeout_ms;		/* the limit of the current stage (smtp_stream_timeout); 0: none */
	long long unit_ms;		/* the socket's standing limit: the shortest stage limit */
	long long rcv_ms, snd_ms;	/* SO_RCVTIMEO / SO_SNDTIMEO as set on the socket; 0: not yet */
};

/*
 * smtp_stream_init - wrap fd; unit_secs is the shortest limit any stage
 * has (smtp_session_new: the smtp_*_timeout parameters): set once on the
 * socket, it bounds every blocking call (see smtp_stream.c)
 */
void smtp_stream_init(struct smtp_stream *s, int fd, long long unit_secs);
/* smtp_stream_timeout - time limit of each later read and write, in seconds */
void smtp_stream_timeout(struct smtp_stream *s, long long secs);
/* smtp_stream_getline - the next line without CR LF (cut at max); 0 or -1 (why) */
int smtp_stream_getline(struct smtp_stream *s, struct buf *line, size_t max);
/* smtp_stream_put / printf - append to the output buffer */
void smtp_stream_put(struct smtp_stream *s, const void *p, size_t n);
void smtp_stream_printf(struct smtp_stream *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* smtp_stream_flush - write what is buffered; 0 or -1 (why) */
int smtp_stream_flush(struct smtp_stream *s);
/* smtp_stream_drop_input - discard buffered plaintext input (at STARTTLS) */
void smtp_stream_drop_input(struct smtp_stream *s);
/* smtp_stream_close - SSL_shutdown, close, free */
void smtp_stream_close(struct smtp_stream *s);

/* smtp_reply_read - read one (multi-line) reply; 0, or -1 with code 0 */
int smtp_reply_read(struct smtp_stream *s, struct smtp_reply *r);
void smtp_reply_init(struct smtp_reply *r);
void smtp_reply_free(struct smtp_reply *r);

/* server extensions (EHLO keywords) */
#define SMTP_EXT_PIPELINING	(1u << 0)
#define SMTP_EXT_SIZE		(1u << 1)
#define SMTP_EXT_8BITMIME	(1u << 2)
#define SMTP_EXT_SMTPUTF8	(1u << 3)
#define SMTP_EXT_DSN		(1u << 4)
#define SMTP_EXT_STARTTLS	(1u << 5)
#define SMTP_EXT_AUTH		(1u << 6)
#define SMTP_EXT_REQUIRETLS	(1u << 7)

/* smtp_host - one candidate host of a next hop */
struct smtp_host {
	char name[DNS_NAME_MAX + 1];	/* MX name, host name or the literal */
	unsigned pref;
	bool secure;			/* the MX (or address) answer was DNSSEC-secure */
	unsigned port;
	size_t naddr;
	struct sockaddr_storage addr[SMTP_ADDRS_MAX];
	char why[SMTP_TEXT_MAX];	/* address lookup failure, when naddr is 0 */
};

/* smtp_route - where a request goes */
struct smtp_route {
	char domain[DNS_NAME_MAX + 1];	/* for the TLS policy and the tables; "" for unix: */
	bool literal;			/* [host], IP literal or LMTP address: no MX lookup */
	char unix_path[108];		/* LMTP over a UNIX socket, else "" */
	size_t nhost;
	struct smtp_host *host;
};

/*
 * smtp_route_resolve - the candidate hosts of nexthop, in the order to
 * try them. 0, or -1 with out filled: a DNS failure defers (4.4.3), a
 * domain that does not exist bounces (5.1.2), null MX bounces (5.1.10).
 */
int smtp_route_resolve(struct smtp_agent *a, const char *nexthop, struct smtp_route *rt,
		       struct deliver_out *out);
void smtp_route_free(struct smtp_route *rt);
/* smtp_route_addr_text - "127.0.0.2" / "::1" of a socket address */
void smtp_route_addr_text(const struct sockaddr_storage *ss, char *buf, size_t size);

/* smtp_session - one connection to one server */
struct smtp_session {
	struct smtp_stream st;
	char key[SMTP_KEY_MAX];	/* what a reuse must match: protocol and next hop */
	char host[DNS_NAME_MAX + 1];
	char addr[INET6_ADDRSTRLEN];
	unsigned port;
	char relay[SMTP_RELAY_MAX];	/* "mx1.example.test[127.0.0.2]:25" */
	bool lmtp;
	bool esmtp;			/* EHLO/LHLO worked (else HELO: no parameters) */
	unsigned ext;			/* SMTP_EXT_* of the last EHLO */
	unsigned long long size_max;	/* SIZE n; 0 = no limit given */
	char auth_mechs[256];		/* " PLAIN LOGIN " */
	bool tls;
	bool authed;
	struct smtp_tls_outcome tls_out;
	char tls_policy[64];
	bool broken;			/* I/O failed: close, never reuse */
	bool rset_pending;		/* a reused session: RSET goes out with MAIL (PIPELINING), its reply first */
};

/* smtp_session_open results */
enum smtp_open_status {
	SMTP_OPEN_OK,
	SMTP_OPEN_NEXT,			/* this address or host failed: try the next (why) */
	SMTP_OPEN_NEXT_HOST,		/* skip the other addresses of this host too */
};

/* smtp_open_ctx - what session opening needs beside the address */
struct smtp_open_ctx {
	struct smtp_agent *a;
	struct smtp_tls_host *tlsh;	/* the TLS plan of this host; NULL for LMTP over unix: */
	const char *nexthop;		/* for the password table */
	const char *domain;
	const char *key;
	bool greeted;			/* out: a server greeted us (counts as a session) */
	char why[SMTP_TEXT_MAX];	/* out: why it failed */
	char dsn[16];			/* out: the status for a deferral */
};

/*
 * smtp_session_open - connect to address i of host h (or the unix path),
 * greet, EHLO, TLS as planned, AUTH when the table has credentials
 */
enum smtp_open_status smtp_session_open(struct smtp_open_ctx *c, const struct smtp_host *h, size_t i,
					const char *unix_path, struct smtp_session **out);
/* smtp_session_reset - RSET on a reused session; 0 when usable */
int smtp_session_reset(struct smtp_agent *a, struct smtp_session *s);
/* smtp_session_close - QUIT (when still usable), close and free */
void smtp_session_close(struct smtp_agent *a, struct smtp_session *s, bool quit);
/* smtp_session_tls_note - " tls=TLSv1.3 verified=dane-ee policy=dane" for log lines */
void smtp_session_tls_note(const struct smtp_session *s, char *buf, size_t size);

/* smtp_msg - one request's message and recipients */
struct smtp_msg {
	struct deliver_job *job;
	const char *sender;		/* the envelope sender to send (return path override) */
	bool eight_bit;			/* content has octets over 127 */
	bool smtputf8;			/* the message needs SMTPUTF8 */
	bool requiretls;		/* queue file REQUIRETLS flag */
	bool tls_req_no;		/* header "TLS-Required: No" */
	uint64_t wire_size;		/* content size with CRLF line ends */
	struct deliver_out *out;	/* one per recipient */
	bool *final;			/* out[i] is final (sent or bounced) */
	char (*relay)[SMTP_RELAY_MAX];	/* where recipient i was tried last */
	char (*note)[160];		/* TLS note for its log line */
};

/* smtp_trans results */
enum smtp_trans_status {
	SMTP_TRANS_DONE,		/* the session is usable for another transaction */
	SMTP_TRANS_BROKEN,		/* the session is gone */
	SMTP_TRANS_HOST_REFUSED,	/* the host cannot take this message (REQUIRETLS): next host */
	SMTP_TRANS_STALE,		/* a reused session failed its RSET: nothing decided, session gone */
};

/*
 * smtp_trans - one transaction for the recipients of m that are not final
 * yet; sets out[] of each recipient it decided (final or deferred with
 * the server's text)
 */
enum smtp_trans_status smtp_trans(struct smtp_agent *a, struct smtp_session *s, struct smtp_msg *m);

/* smtp_deliver - one DELIVER request: fills a result for every recipient */
void smtp_deliver(struct smtp_agent *a, struct deliver_job *job);

/* smtp_cache_take - the cached session when it matches key, else NULL (and it is closed) */
struct smtp_session *smtp_cache_take(struct smtp_agent *a, const char *key);
/* smtp_cache_put - keep s for reuse (closes an older one) */
void smtp_cache_put(struct smtp_agent *a, struct smtp_session *s);
/* smtp_cache_flush - QUIT and close the cached session */
void smtp_cache_flush(struct smtp_agent *a);

/* smtp_lookup_nexthop - tables keyed by [host]:port, [host], host, then domain: 1, 0, -1 */
int smtp_lookup_nexthop(struct tables *t, const char *nexthop, const char *domain,
			const char **value, char *err, size_t errlen);

#endif
