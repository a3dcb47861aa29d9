/*
 * screen_client - ask the screen service (screen(8), screen_proto.h):
 * a blocking client for tools (ternctl) and an event-driven one for
 * smtpd, whose libevent loop serves many sessions and must never wait.
 *
 * Blocking: screen_client_request sends one request and waits for its
 * reply, at most timeout seconds (connect, send, reply). The connection
 * is kept for further requests and reconnected once when the service
 * closed it meanwhile.
 *
 * Event-driven: screen_async_request queues the request on one kept
 * connection (made with a non-blocking connect, again when it was
 * closed) and returns at once; the callback runs later from the event
 * loop with the reply, or with SCREEN_UNAVAILABLE when the service
 * could not be asked or did not answer within timeout_ms (the
 * connection is then dropped and every request waiting on it gets
 * SCREEN_UNAVAILABLE). Replies come in request order. The callback is
 * never called from inside screen_async_request. fn may be NULL (a
 * record that needs no answer, e.g. AUTH_FAIL when the session closes
 * anyway). screen_async_cancel forgets the callback of a request whose
 * session went away (the reply is read and dropped).
 *
 * Unavailable means "let the client through": smtpd must not refuse
 * mail because screen is down; it logs the reason once in a while.
 *
 * WIRING PLAN for smtpd (one struct screen_async per smtpd process,
 * made in post_jail with service_base() and SCREEN_SOCKET_PRIVATE,
 * timeout smtpd_screen_timeout; each session keeps the handle of its
 * outstanding request and cancels it in its close path):
 *
 *   smtpd_session_open (before the greeting)
 *       SCREEN_OP_CONNECT addr service; reading paused until the answer;
 *       BANNED: "554 5.7.1 <text>" and close (the service logged it once
 *       per ban); OK/UNAVAILABLE: greet.
 *   smtpd_sasl_hook_failure (every failed AUTH)
 *       SCREEN_OP_AUTH_FAIL addr service port session account|"none"
 *       mech reason; BANNED: after the 535 reply, "421 4.7.1" and close.
 *   smtpd_sasl_hook_probe (AUTH on the MTA port, smtpd_auth_probe_ban)
 *       SCREEN_OP_AUTH_PROBE addr service session; fn may be NULL (the
 *       caller closes with 421 anyway).
 *   smtpd_sasl.c, after the back-end accepted the password and before
 *   the 235 reply
 *       SCREEN_OP_AUTH_CHECK account; FROZEN: "535 5.7.8 <text>" (the
 *       account is frozen) and smtpd_sasl_hook_failure with reason
 *       "account frozen"; OK/UNAVAILABLE: 235.
 *   smtpd_policy_rcpt, when it refuses a recipient with 550 5.1.1
 *   (unknown user) for an unauthenticated session
 *       SCREEN_OP_RCPT_UNKNOWN addr service session rcpt; BANNED: the
 *       550 is sent, then "421 4.7.1" and close.
 *   smtpd_policy_rcpt, when it refuses any recipient with 5xx in an
 *   authenticated session
 *       SCREEN_OP_RCPT_REJECT account addr rcpt session; FROZEN: the 5xx
 *       is sent, then "421 4.7.1 <text>" and close.
 *   smtpd_data_begin / smtpd_bdat_command (first chunk) of an
 *   authenticated session, before the message goes to cleanup
 *       SCREEN_OP_RATE account addr recipients=nrcpt; OVER: "450 4.7.1
 *       <text>" to DATA/BDAT, the transaction is reset.
 *   smtpd_session close path: screen_async_cancel of the outstanding
 *   request; smtpd on_stop: screen_async_free.
 */
#ifndef TERN_MAIL_SCREEN_CLIENT_H
#define TERN_MAIL_SCREEN_CLIENT_H

#include <stdint.h>

#include "base/attr.h"

struct event_base;

enum screen_status {
	SCREEN_OK,
	SCREEN_BANNED,
	SCREEN_FROZEN,
	SCREEN_OVER,
	SCREEN_NONE,
	SCREEN_ERROR,			/* the service refused the request (malformed) */
	SCREEN_UNAVAILABLE,		/* the service could not be asked */
};

/* screen_query - one request; NULL strings and zero numbers are left out */
struct screen_query {
	const char *op;			/* SCREEN_OP_*, required */
	const char *addr, *service, *session, *account, *mech, *reason, *rcpt;
	int64_t port, recipients, seconds;
};

/* screen_result - one answer */
struct screen_result {
	enum screen_status status;
	int64_t until;			/* banned: when the ban ends */
	char text[512];			/* the service's text, or why it was unavailable */
};

/* screen_status_name - "ok", "banned", ... "unavailable" */
const char *screen_status_name(enum screen_status s);

/* Blocking. */
struct screen_client;

/* screen_client_new - client of the service at socket_path, timeout seconds per request */
struct screen_client *screen_client_new(const char *socket_path, int timeout);
void screen_client_free(struct screen_client *c);
/* screen_client_request - 0 with out filled, or -1 (out says SCREEN_UNAVAILABLE and why) */
int screen_client_request(struct screen_client *c, const struct screen_query *q,
			  struct screen_result *out);
/* screen_client_reply - the whole last reply frame (list_bans, list_frozen), until the next request */
const struct attr_list *screen_client_reply(const struct screen_client *c);

/* Event-driven. */
struct screen_async;
struct screen_async_req;

typedef void screen_async_fn(const struct screen_result *r, void *arg);

/* screen_async_new - client on base of the service at socket_path; timeout_ms per reply */
struct screen_async *screen_async_new(struct event_base *base, const char *socket_path, int timeout_ms);
/* screen_async_free - close; waiting callbacks are not called */
void screen_async_free(struct screen_async *a);
/*
 * screen_async_request - queue q; fn(result, arg) later from the loop.
 * Returns the request's handle for screen_async_cancel (valid until the
 * callback ran or the request was cancelled).
 */
struct screen_async_req *screen_async_request(struct screen_async *a, const struct screen_query *q,
					      screen_async_fn *fn, void *arg);
/* screen_async_cancel - fn will not be called */
void screen_async_cancel(struct screen_async_req *r);

#endif
