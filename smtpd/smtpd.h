/*
 * smtpd - what the modules of tern's SMTP server share.
 *
 * One smtpd process serves up to smtpd_sessions_per_process SMTP
 * sessions on one libevent loop (struct smtpd_server); each session
 * (struct smtpd_session) is a state (which verbs are allowed), an input
 * mode (command lines, DATA content, a BDAT chunk, waiting for cleanup)
 * and, during a transaction, the BEGIN frame for cleanup, built as MAIL
 * and RCPT are accepted.
 *
 *	smtpd.c		the daemon: parameters, pre_jail, sessions list, stop
 *	smtpd_session.c	one connection: reading, replies, timeouts, close, log
 *	smtpd_proto.c	the verb table and the command handlers
 *	smtpd_data.c	DATA and BDAT content: framing, bare CR/LF, size, result
 *	smtpd_cleanup.c	the cleanup client (cleanup_proto.h), a per-process pool
 *	smtpd_policy.c	networks, local domains and users, relay decision
 *	smtpd_tls.c	the TLS context, session tickets, STARTTLS and port 465
 *	smtpd_sasl.c	AUTH: PLAIN and LOGIN, tern and dovecot back-ends, worker threads
 *	smtpd_sasl_hook.c  the failed-AUTH and AUTH-probe hooks (for the screen service)
 *	smtpd_peer.c	the client's name: PTR, confirmed by A/AAAA, before the greeting
 *	smtpd_access.c	client screening: country (GeoIP), smtpd_client_access
 *	smtpd_screen.c	the screen service: bans, auth failures, harvesting, hijack, rates
 *
 * A session starts in SMTPD_IN_LOOKUP: no I/O set up yet, nothing read
 * or written, while the client's name is looked up (at most
 * smtpd_peername_timeout). Then smtpd_session_start logs the connect
 * line and runs the client checks; their verdict is kept in
 * connect_reject and given instead of the greeting (on port 465 after
 * the handshake, in place of the greeting inside TLS).
 *
 * Invariants: smtpd never writes a queue file; a 250 after content is
 * sent only when cleanup said "ok" (the file is durable). A session
 * reads no input while it waits for cleanup, and never processes input
 * while its output is being switched to TLS. Every buffer holding client
 * input has a hard limit.
 *
 * Failures: bad configuration is fatal at start-up (pre_jail); anything
 * a client or cleanup does wrong ends that session or that message, not
 * the process.
 */
#ifndef TERN_SMTPD_H
#define TERN_SMTPD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>

#include <openssl/ssl.h>

#include "base/attr.h"
#include "base/buf.h"
#include "base/ipc.h"
#include "mail/config.h"
#include "mail/smtp_addr.h"
#include "mail/smtp_param.h"

struct bufferevent;
struct event;
struct event_base;
struct service;
struct tables;
struct smtpd_netlist;
struct smtpd_tickets;
struct smtpd_cleanup;
struct smtpd_sasl;
struct smtpd_lookup;
struct dns;
struct geoip;
struct screen_async;
struct screen_async_req;

/* smtpd_bare - what a bare CR or LF does */
enum smtpd_bare {
	SMTPD_BARE_REJECT,	/* 500 5.5.2 for a command; 550 5.5.2 after the content */
	SMTPD_BARE_NORMALIZE,	/* stored as CRLF; the data still ends only at CRLF.CRLF */
	SMTPD_BARE_ACCEPT,	/* LF is a line end everywhere, the end of data too (legacy) */
};

enum smtpd_tls_level { SMTPD_TLS_NONE, SMTPD_TLS_MAY, SMTPD_TLS_ENCRYPT };

/* smtpd_server - one smtpd process */
struct smtpd_server {
	struct service *svc;
	struct event_base *base;
	const struct params_global *g;
	const struct params_smtpd *p;
	const char *service;		/* master.conf service name */
	enum smtpd_bare bare;
	enum smtpd_tls_level tls_level;
	SSL_CTX *ssl_ctx;		/* NULL: no certificate, no TLS */
	struct smtpd_tickets *tickets;
	struct smtpd_netlist *mynetworks;
	struct smtpd_netlist *bare_exceptions;
	const char **dest_names;	/* mydestination without its tables */
	struct tables *dest_tables;	/* mydestination's type:name entries, or NULL */
	struct tables *rcpt_maps;	/* local_recipient_maps, or NULL */
	bool rcpt_maps_broken;		/* they did not open: local RCPT gets 451 */
	const char **virt_names;	/* virtual_mailbox_domains, plain names */
	struct tables *virt_maps;	/* proxy: of virtual_mailbox_maps, or NULL */
	bool virt_maps_broken;		/* they did not open: virtual RCPT gets 451 */
	struct tables *sasl_maps;	/* proxy: of smtpd_sasl_user_maps (tern back-end), or NULL */
	struct tables *login_maps;	/* smtpd_sender_login_maps, or NULL */
	struct dns *dns;		/* client name lookups, or NULL (off or no resolver) */
	struct geoip *geoip;		/* geoip_database, or NULL (no country screening) */
	struct tables *client_access;	/* smtpd_client_access, or NULL */
	bool country_at_mail;		/* AUTH is offered here: smtpd_country_reject waits for MAIL */
	struct screen_async *screen;	/* client of private/screen (post_jail) */
	long long screen_warned;	/* time of the last "screen unavailable" warning */
	struct smtpd_session *sessions;	/* open sessions */
	struct smtpd_cleanup *pool;	/* idle cleanup connections */
	unsigned npool;
	unsigned long long seq;		/* sessions so far, for session ids */
	char *line;			/* smtpd_line_length_limit + 1: the command being handled */
	char *rbuf;			/* SMTPD_RBUF_SIZE: every plain read lands here first */
	bool stopping;
	int space_fd;			/* the queue directory, for queue_minfree; -1: not checked */
	time_t space_checked;		/* when space_free was read */
	unsigned long long space_free;	/* free bytes of the queue file system then */
	bool space_warned;		/* a failed statvfs was logged */
};

#define SMTPD_RBUF_SIZE	(64 * 1024)	/* one plain read at most */

/* states: which verbs are allowed (bits, so the verb table holds masks) */
enum smtpd_state {
	SMTPD_ST_START = 1 << 0,	/* before EHLO/HELO */
	SMTPD_ST_HELO = 1 << 1,		/* no transaction */
	SMTPD_ST_MAIL = 1 << 2,		/* MAIL accepted, no RCPT yet */
	SMTPD_ST_RCPT = 1 << 3,		/* at least one RCPT accepted */
	SMTPD_ST_BDAT = 1 << 4,		/* BDAT chunks under way */
};
#define SMTPD_ST_ANY	0x1f

/* what the session does with its input */
enum smtpd_input {
	SMTPD_IN_HANDSHAKE,		/* TLS handshake (465, or after STARTTLS) */
	SMTPD_IN_COMMAND,		/* command lines */
	SMTPD_IN_DATA,			/* DATA content, up to CRLF.CRLF */
	SMTPD_IN_BDAT,			/* the octets of one BDAT chunk */
	SMTPD_IN_WAIT,			/* cleanup's RESULT is due; no reading */
	SMTPD_IN_CLOSING,		/* last reply queued; close when written */
	SMTPD_IN_AUTH,			/* an AUTH verdict or its failure delay is due; no reading */
	SMTPD_IN_LOOKUP,		/* before the greeting: client name lookup; no I/O yet */
};

/* how the session talks to the client (smtpd_session.c) */
enum smtpd_io {
	SMTPD_IO_NONE,			/* before the greeting */
	SMTPD_IO_PLAIN,			/* the socket itself: recv, send, our own events */
	SMTPD_IO_TLS,			/* an OpenSSL bufferevent (465, or after STARTTLS) */
};

#define SMTPD_ENH_MAX	16
#define SMTPD_SASL_NAME_MAX	255	/* longest SASL login name */
#define SMTPD_TEXT_MAX	512

/* smtpd_reply - one refusal kept for later (end of content, failed BDAT) */
struct smtpd_reply {
	int code;			/* 0: none */
	char enh[SMTPD_ENH_MAX];
	char text[SMTPD_TEXT_MAX];
};

/* smtpd_content - the content of one message on its way to cleanup */
struct smtpd_content {
	int scan;			/* scanner state (smtpd_data.c) */
	int bol;			/* how the line started: real CRLF, bare LF, bare CR */
	bool eol;			/* nothing produced yet, or the last octet was LF */
	bool bdat;			/* content comes by BDAT */
	bool last;			/* BDAT ... LAST seen */
	uint64_t chunk_left;		/* octets of this BDAT chunk still to read */
	uint64_t size;			/* content octets produced (CRLF line ends) */
	int bare;			/* first bare line end seen: 0, '\n' or '\r' */
	struct smtpd_reply fail;	/* the reply at the end instead of cleanup's */
	struct smtpd_reply chunk_fail;	/* the reply to the BDAT chunk being read */
	struct buf out;			/* produced, not yet sent to cleanup */
};

/* counters of the disconnect line, per verb of the table */
#define SMTPD_VERBS_MAX	24

/* smtpd_session - one SMTP connection */
struct smtpd_session {
	struct smtpd_server *srv;
	struct smtpd_session *next, *prev;
	enum smtpd_io io;
	int fd;
	struct bufferevent *bev;	/* TLS: OpenSSL over the socket; NULL otherwise */
	SSL *ssl;			/* owned by bev; NULL before TLS */
	SSL *ssl_next;			/* STARTTLS: made before the 220, used after it */
	struct event *resume;		/* run the input loop from the event loop */
	struct event *flush;		/* plain: send the queued replies from the event loop */
	struct event *rev;		/* plain: persistent read event, with smtpd_timeout */
	struct event *wev;		/* plain: armed only while replies wait for the socket */
	bool rd_on;			/* plain: reading wanted */
	bool rd_armed;			/* plain: rev is in epoll */
	bool wr_armed;			/* plain: wev is in epoll */
	bool out_full;			/* the input loop waits for the client to read its replies */
	const char *in_p;		/* plain: unused input: in s->in, or in srv->rbuf during a read */
	size_t in_n;
	bool in_shared;			/* in_p is in srv->rbuf (only inside smtpd_session_read_ev) */
	struct buf in;			/* plain: input kept between reads (SMTPD_READ_HIGH at most) */
	struct buf out;			/* plain: replies not yet written */
	char id[32];			/* session id for cleanup and logs */
	char addr[INET6_ADDRSTRLEN];	/* client address */
	int port;
	char name[256];			/* client name, "unknown" */
	char peer[300];			/* "name[addr]" for logs */
	struct smtpd_lookup *lookup;	/* the name lookup under way, or NULL */
	char country[4];		/* GeoIP country code, "--" unknown, "" without a database */
	bool client_ok;			/* smtpd_client_access said OK: no later client checks */
	bool country_refused;		/* country in smtpd_country_reject: 554 at MAIL unless AUTH */
	struct smtpd_reply connect_reject;	/* code != 0: said instead of the greeting, then close */
	struct screen_async_req *screen_req;	/* the screen answer the session waits for, or NULL */
	struct smtpd_reply screen_hangup;	/* code != 0: said before the next command, then close */
	char held_bdat[64];		/* a first BDAT's arguments, held for the RATE answer */
	size_t held_bdat_len;
	bool held;			/* held_bdat is in use */
	char helo[256];			/* EHLO/HELO argument, "" before */
	enum smtpd_state state;
	enum smtpd_input input;
	enum smtpd_bare bare;		/* for this client */
	bool esmtp;			/* EHLO (not HELO) */
	bool tls;			/* handshake done */
	int relay_ok;			/* client in mynetworks: 1, 0, -1 (lookup failed) */
	bool discard_line;		/* skipping the rest of an over-long line */
	bool paused;			/* cleanup is behind: not reading */
	bool stopping;			/* 421 when the current work is done */
	int errors;			/* refused commands, for smtpd_hard_error_limit */
	const char *last_verb;		/* for "timeout after X", "lost connection after X" */
	int verb;			/* table index of the command awaiting its reply, or -1 */
	char tls_proto[32];
	char tls_cipher[64];
	int tls_bits;
	/* AUTH */
	struct smtpd_sasl *sasl;	/* an exchange under way, or NULL */
	char sasl_user[SMTPD_SASL_NAME_MAX + 1];	/* "" until AUTH succeeded */
	const char *sasl_method;	/* "PLAIN", "LOGIN" once authenticated */
	/* the transaction */
	struct attr_list begin;		/* the BEGIN frame so far */
	char sender[SMTP_ADDR_TEXT_MAX + 1];	/* for log lines */
	char last_rcpt[SMTP_ADDR_TEXT_MAX + 1];
	unsigned nrcpt;			/* accepted */
	unsigned rcpt_tried;
	unsigned rcpt_overshoot;	/* 452 4.5.3 replies, not counted as errors */
	bool smtputf8;
	unsigned mail_flags;		/* CLEANUP_FLAG_* from MAIL */
	struct smtpd_reply bdat_fail;	/* a failed BDAT transaction: every chunk gets it */
	struct smtpd_content data;
	struct smtpd_cleanup *cleanup;	/* while a message is under way */
	/* disconnect line */
	unsigned cmd_total[SMTPD_VERBS_MAX + 1];	/* last slot: unknown commands */
	unsigned cmd_ok[SMTPD_VERBS_MAX + 1];
};

/* smtpd.c */
void smtpd_server_add(struct smtpd_server *srv, struct smtpd_session *s);
void smtpd_server_remove(struct smtpd_server *srv, struct smtpd_session *s);

/* smtpd_session.c */
void smtpd_session_open(struct smtpd_server *srv, int fd);
/* smtpd_session_start - the name is known: log the connect, check the client, greet */
void smtpd_session_start(struct smtpd_session *s);
/* smtpd_session_ready - the checks before the greeting are done: TLS (465) or the greeting */
void smtpd_session_ready(struct smtpd_session *s);
/* smtpd_reply - queue "code enh text" (enh may be NULL); 4xx/5xx count as errors */
void smtpd_reply(struct smtpd_session *s, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* smtpd_reply_noerr - the same, not counted against smtpd_hard_error_limit */
void smtpd_reply_noerr(struct smtpd_session *s, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* smtpd_reply_kept - send a kept reply */
void smtpd_reply_kept(struct smtpd_session *s, const struct smtpd_reply *r);
/* smtpd_reply_set - fill a kept reply */
void smtpd_reply_set(struct smtpd_reply *r, int code, const char *enh, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* smtpd_write - queue raw reply text (multi-line replies) */
void smtpd_write(struct smtpd_session *s, const char *text, size_t len);
/* smtpd_session_finish - queue nothing more; close once the output is written */
void smtpd_session_finish(struct smtpd_session *s);
/* smtpd_session_resume - run the input loop again soon (after a wait) */
void smtpd_session_resume(struct smtpd_session *s);
/* smtpd_session_reading - turn reading from the client on or off */
void smtpd_session_reading(struct smtpd_session *s, bool on);
/* smtpd_session_starttls - the 220 is queued: discard plaintext input, then the handshake */
void smtpd_session_starttls(struct smtpd_session *s, SSL *ssl);
/* smtpd_session_pending - input octets already received and not yet used */
size_t smtpd_session_pending(struct smtpd_session *s);
/* smtpd_session_view - that input: its length, and its first octet in *p (valid until the next consume) */
size_t smtpd_session_view(struct smtpd_session *s, const char **p);
/* smtpd_session_consume - the first n octets of the view are used */
void smtpd_session_consume(struct smtpd_session *s, size_t n);
/* smtpd_session_shutdown - SIGTERM: 421 4.3.2 now, or after the message under way */
void smtpd_session_shutdown(struct smtpd_session *s);

/* smtpd_proto.c */
void smtpd_proto_greet(struct smtpd_session *s);
/* smtpd_proto_command - one command line (CRLF removed); more: input is pending after it */
void smtpd_proto_command(struct smtpd_session *s, char *line, size_t len, bool more);
/* smtpd_proto_reset - forget the transaction */
void smtpd_proto_reset(struct smtpd_session *s);
/* smtpd_proto_tls_done - the handshake finished: log, forget the state, greet on 465 */
void smtpd_proto_tls_done(struct smtpd_session *s);
/* smtpd_proto_settle - a final reply (not 354) to the command under way: count it */
void smtpd_proto_settle(struct smtpd_session *s, int code);
/* smtpd_proto_disconnect_log - the "disconnect from" line */
void smtpd_proto_disconnect_log(struct smtpd_session *s);
/* smtpd_log_reject - "NOQUEUE: reject: VERB from peer: reply; from=<> to=<> proto= helo=<>" */
void smtpd_log_reject(struct smtpd_session *s, const char *qid, const char *verb, int code,
		      const char *enh, const char *text, const char *rcpt);
/* smtpd_proto_rated - the RATE answer for a held DATA or first BDAT: go on, or 450 4.7.1 */
void smtpd_proto_rated(struct smtpd_session *s, bool over, const char *text);
/* smtpd_proto_name - "ESMTP", "ESMTPS", "UTF8SMTPS", "SMTP" ... */
const char *smtpd_proto_name(const struct smtpd_session *s);

/* smtpd_data.c */
/* smtpd_data_begin - DATA accepted by the state checks: cleanup, then 354 */
void smtpd_data_begin(struct smtpd_session *s);
/* smtpd_bdat_command - BDAT: parse, check, then read the chunk */
void smtpd_bdat_command(struct smtpd_session *s, const char *arg, size_t len);
/* smtpd_data_input - consume content from the session's input; false when the loop must stop */
bool smtpd_data_input(struct smtpd_session *s);
/* smtpd_data_reset - forget the content state (end of transaction) */
void smtpd_data_reset(struct smtpd_session *s);
/* called by smtpd_cleanup.c */
/* smtpd_data_early - cleanup's EARLY frame: log "QID: client="; false when the message failed */
bool smtpd_data_early(struct smtpd_session *s, const struct attr_list *frame);
void smtpd_data_result(struct smtpd_session *s, const struct attr_list *frame);
void smtpd_data_lost(struct smtpd_session *s, const char *reason);
void smtpd_data_drained(struct smtpd_session *s);

/* smtpd_cleanup.c */
/* smtpd_cleanup_get - a connection for a new message: pooled or new; NULL with err */
struct smtpd_cleanup *smtpd_cleanup_get(struct smtpd_session *s, char *err, size_t errlen);
int smtpd_cleanup_send(struct smtpd_cleanup *c, const struct attr_list *frame);
int smtpd_cleanup_chunk(struct smtpd_cleanup *c, const void *p, size_t n);
/* smtpd_cleanup_end - the "end" frame; the RESULT comes to smtpd_data_result */
int smtpd_cleanup_end(struct smtpd_cleanup *c);
/* smtpd_cleanup_abort - ABORT the message (no RESULT comes) and pool the connection */
void smtpd_cleanup_abort(struct smtpd_cleanup *c);
/* smtpd_cleanup_release - after the RESULT: back to the pool */
void smtpd_cleanup_release(struct smtpd_cleanup *c);
/* smtpd_cleanup_close - close it (a message in an unknown state, or a lost client) */
void smtpd_cleanup_close(struct smtpd_cleanup *c);
/* smtpd_cleanup_pending - octets queued for cleanup */
size_t smtpd_cleanup_pending(const struct smtpd_cleanup *c);
/* smtpd_cleanup_pool_close - close every idle connection (stop) */
void smtpd_cleanup_pool_close(struct smtpd_server *srv);

/* smtpd_policy.c */
void smtpd_policy_init(struct smtpd_server *srv);
/* smtpd_netlist_parse - networks and type:name tables; NULL with err */
struct smtpd_netlist *smtpd_netlist_parse(char *const *items, const char *what, char *err, size_t errlen);
/* smtpd_netlist_match - 1 match, 0 none, -1 table trouble */
int smtpd_netlist_match(struct smtpd_netlist *nl, const char *addr);
void smtpd_netlist_free(struct smtpd_netlist *nl);
/* smtpd_policy_local - is domain one of mydestination: 1, 0, -1 table trouble */
int smtpd_policy_local(struct smtpd_server *srv, const char *domain);
/*
 * smtpd_policy_rcpt - may this recipient be accepted? 0 yes, else the
 * refusal in *r (to send and log)
 */
int smtpd_policy_rcpt(struct smtpd_session *s, const struct smtp_addr *a, const char *text,
		      struct smtpd_reply *r);
/* smtpd_policy_vrfy - the reply to VRFY arg */
void smtpd_policy_vrfy(struct smtpd_session *s, const char *arg, size_t len, struct smtpd_reply *r);

/* smtpd_peer.c */
/* smtpd_peer_init - pre_jail: the resolver for client names (smtpd_peername_lookup) */
void smtpd_peer_init(struct smtpd_server *srv);
/*
 * smtpd_peer_lookup - find the name of s->addr into s->name; calls
 * smtpd_session_start when done (at once when there is nothing to look up)
 */
void smtpd_peer_lookup(struct smtpd_session *s);
/* smtpd_peer_session_end - the session closes: forget a lookup under way */
void smtpd_peer_session_end(struct smtpd_session *s);

/* smtpd_access.c */
/* smtpd_access_init - pre_jail: geoip_database, smtpd_client_access, smtpd_country_reject */
void smtpd_access_init(struct smtpd_server *srv);
/* smtpd_access_connect - the client checks at connect: country, access tables; sets connect_reject */
void smtpd_access_connect(struct smtpd_session *s);
/* smtpd_access_mail - the checks MAIL waits for (country on AUTH services): 0, or -1 after the reply */
int smtpd_access_mail(struct smtpd_session *s);

/* smtpd_tls.c */
void smtpd_tls_init(struct smtpd_server *srv);
/* smtpd_tls_new - an SSL for one session, or NULL (logged) */
SSL *smtpd_tls_new(struct smtpd_server *srv);
/* smtpd_tls_describe - protocol, cipher and bits of a finished handshake */
void smtpd_tls_describe(SSL *ssl, char *proto, size_t plen, char *cipher, size_t clen, int *bits);
/* smtpd_tls_error - the last OpenSSL error of a session, for logs */
void smtpd_tls_error(unsigned long code, char *buf, size_t len);

/* smtpd_sasl.c */
/* smtpd_sasl_init - pre_jail: the back-end (smtpd_sasl_type), its tables, smtpd_sender_login_maps */
void smtpd_sasl_init(struct smtpd_server *srv);
/* smtpd_sasl_available - this service offers AUTH (a back-end, smtpd_auth_on_mta_port) */
bool smtpd_sasl_available(const struct smtpd_server *srv);
/* smtpd_sasl_offered - list AUTH in the EHLO reply now */
bool smtpd_sasl_offered(const struct smtpd_session *s);
/* smtpd_sasl_mechanisms - "PLAIN LOGIN" */
const char *smtpd_sasl_mechanisms(void);
/* smtpd_sasl_auth - the AUTH command */
void smtpd_sasl_auth(struct smtpd_session *s, const char *arg, size_t len);
/* smtpd_sasl_active - the next input line is a SASL answer, not a command */
bool smtpd_sasl_active(const struct smtpd_session *s);
/* smtpd_sasl_line - one SASL answer line (CRLF removed) */
void smtpd_sasl_line(struct smtpd_session *s, const char *line, size_t len);
/* smtpd_sasl_session_end - the session closes: drop the exchange, orphan a running check */
void smtpd_sasl_session_end(struct smtpd_session *s);
/* smtpd_sasl_sender_ok - smtpd_sender_login_maps allows this sender: 1, 0, -1 lookup trouble */
int smtpd_sasl_sender_ok(struct smtpd_session *s, const char *sender);

/* smtpd_sasl_checked - the screen service's AUTH_CHECK answer: 235, or 535 for a frozen account */
void smtpd_sasl_checked(struct smtpd_session *s, bool frozen, const char *text);

/* smtpd_sasl_hook.c */
/* smtpd_sasl_hook_failure - every failed AUTH: account "" for none; never a password */
void smtpd_sasl_hook_failure(struct smtpd_session *s, const char *account, const char *mech,
			     const char *reason);
/* smtpd_sasl_hook_probe - AUTH tried on the MTA port with smtpd_auth_probe_ban = yes */
void smtpd_sasl_hook_probe(struct smtpd_session *s);

/* smtpd_screen.c */
/* smtpd_screen_init - post_jail: the client of the screen service */
void smtpd_screen_init(struct smtpd_server *srv);
/* smtpd_screen_connect - CONNECT before the greeting; true: smtpd_session_ready comes with the answer */
bool smtpd_screen_connect(struct smtpd_session *s);
/* smtpd_screen_gate - may the input loop take a command now (false: waiting, or closed) */
bool smtpd_screen_gate(struct smtpd_session *s);
/* smtpd_screen_auth_fail - AUTH_FAIL record; banned -> 421 before the next command */
void smtpd_screen_auth_fail(struct smtpd_session *s, const char *account, const char *mech, const char *reason);
/* smtpd_screen_probe - AUTH_PROBE record */
void smtpd_screen_probe(struct smtpd_session *s);
/* smtpd_screen_auth_check - AUTH_CHECK; true: smtpd_sasl_checked comes with the answer */
bool smtpd_screen_auth_check(struct smtpd_session *s, const char *account);
/* smtpd_screen_rcpt_refused - a 5xx RCPT: RCPT_UNKNOWN (550 5.1.1, no AUTH) or RCPT_REJECT (AUTH) */
void smtpd_screen_rcpt_refused(struct smtpd_session *s, const struct smtpd_reply *r, const char *rcpt);
/* smtpd_screen_rate - RATE for the message of an authenticated session; true: smtpd_proto_rated comes */
bool smtpd_screen_rate(struct smtpd_session *s);
/* smtpd_screen_session_end - the session closes: cancel its request */
void smtpd_screen_session_end(struct smtpd_session *s);

/* smtpd_space.c: free space in the queue (queue_minfree) */
void smtpd_space_init(struct smtpd_server *srv);
bool smtpd_space_ok(struct smtpd_server *srv, unsigned long long size);

#endif
