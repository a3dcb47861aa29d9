/*
 * smtpd_screen - smtpd's side of the screen service (screen(8),
 * mail/screen_client.h): the shared ban list, auth-failure records,
 * harvesting and hijack counters, frozen accounts and rate limits.
 *
 * Where smtpd asks (the wiring plan of screen_client.h):
 *	before the greeting		CONNECT: banned -> 554 5.7.1 and close
 *	every failed AUTH		AUTH_FAIL: banned -> 421 4.7.1 and close
 *	AUTH on the MTA port		AUTH_PROBE (no answer needed; the
 *					session closes anyway)
 *	password accepted, before 235	AUTH_CHECK: frozen -> 535 5.7.8
 *	550 5.1.1 RCPT, no AUTH		RCPT_UNKNOWN: banned -> 421 4.7.1
 *	any 5xx RCPT with AUTH		RCPT_REJECT: frozen -> 421 4.7.1
 *	DATA, first BDAT, with AUTH	RATE: over -> 450 4.7.1, transaction reset
 *
 * Nothing blocks the event loop: one screen_async client per process
 * (made in post_jail, inside the chroot: private/screen) queues each
 * request and calls back with the answer, or with SCREEN_UNAVAILABLE
 * after smtpd_screen_timeout. A session has at most one request that it
 * waits for (s->screen_req): meanwhile its next command is not taken
 * (the input loop stops in command mode, smtpd_screen_gate), and when
 * the answer says "banned" or "frozen", the refusal is kept in
 * s->screen_hangup and sent, with a close, before the next command.
 * The replies to the command that caused the request (535, 550, 5xx)
 * are queued before, so the client sees them in order.
 *
 * The service unreachable, slow or confused means "let the client
 * through" (fail open): one warning per minute per process says so.
 * Clients an smtpd_client_access table called OK are not asked about at
 * connect.
 *
 * The client is never freed at stop (on_stop): sessions still waiting
 * for an answer need their callback, and the process exits when its
 * last session is closed.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "base/msg.h"
#include "base/str.h"
#include "mail/screen_client.h"
#include "mail/screen_proto.h"
#include "smtpd.h"

#define SMTPD_SCREEN_WARN_EVERY	60	/* seconds between "unavailable" warnings */

/* smtpd_screen_init - post_jail: the client of private/screen */
void smtpd_screen_init(struct smtpd_server *srv)
{
	srv->screen = screen_async_new(srv->base, SCREEN_SOCKET_PRIVATE,
				       (int) srv->p->smtpd_screen_timeout * 1000);
}

/* smtpd_screen_local_port - the port the client came to, or 0 */
static int smtpd_screen_local_port(const struct smtpd_session *s)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(s->fd, (struct sockaddr *) &ss, &len) != 0)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *) &ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
	return 0;
}

/* smtpd_screen_unavailable - the warning, at most once a minute */
static void smtpd_screen_unavailable(struct smtpd_server *srv, const struct screen_result *r)
{
	time_t now = time(NULL);

	if (now - srv->screen_warned < SMTPD_SCREEN_WARN_EVERY)
		return;
	srv->screen_warned = now;
	msg_warn("screen service unavailable: %s; clients are let through", r->text[0] ? r->text : "no reason");
}

/* smtpd_screen_query - a query with the session's common attributes */
static void smtpd_screen_query(const struct smtpd_session *s, struct screen_query *q, const char *op)
{
	memset(q, 0, sizeof(*q));
	q->op = op;
	q->addr = s->addr;
	q->service = s->srv->service;
	q->session = s->id;
}

/* smtpd_screen_ask - send q; the session waits for fn (NULL: a record only) */
static void smtpd_screen_ask(struct smtpd_session *s, const struct screen_query *q, screen_async_fn *fn)
{
	struct screen_async_req *r;

	if (s->srv->screen == NULL)
		return;
	r = screen_async_request(s->srv->screen, q, fn, fn ? s : NULL);
	if (fn != NULL)
		s->screen_req = r;
}

/* smtpd_screen_answered - common start of a callback: false when the answer lets the client on */
static bool smtpd_screen_answered(struct smtpd_session *s, const struct screen_result *r,
				  enum screen_status bad)
{
	s->screen_req = NULL;
	if (r->status == SCREEN_UNAVAILABLE)
		smtpd_screen_unavailable(s->srv, r);
	else if (r->status == SCREEN_ERROR)
		msg_warn("%s: screen service refused a request: %s", s->peer, r->text);
	return r->status == bad;
}

/* smtpd_screen_hangup - keep the closing reply for the next command, and go on */
static void smtpd_screen_hangup(struct smtpd_session *s, int code, const char *enh, const char *what,
				const char *text)
{
	smtpd_reply_set(&s->screen_hangup, code, enh, "%s Error: %s%s%s", s->srv->g->myhostname, what,
			text[0] ? ": " : "", text);
}

/* smtpd_screen_connect_cb - CONNECT answered: refuse a banned client, then greet */
static void smtpd_screen_connect_cb(const struct screen_result *r, void *arg)
{
	struct smtpd_session *s = arg;

	if (smtpd_screen_answered(s, r, SCREEN_BANNED))
		smtpd_reply_set(&s->connect_reject, 554, "5.7.1", "Service refused: %s",
				r->text[0] ? r->text : "your address is banned");
	smtpd_session_ready(s);
}

/* smtpd_screen_connect - before the greeting: is the client banned; false when nothing was asked */
bool smtpd_screen_connect(struct smtpd_session *s)
{
	struct screen_query q;

	if (s->srv->screen == NULL || s->client_ok || s->connect_reject.code != 0)
		return false;
	smtpd_screen_query(s, &q, SCREEN_OP_CONNECT);
	smtpd_screen_ask(s, &q, smtpd_screen_connect_cb);
	return true;
}

/* smtpd_screen_gate - the input loop may take the next command: false while waiting or closing */
bool smtpd_screen_gate(struct smtpd_session *s)
{
	struct smtpd_reply r;

	if (s->screen_req != NULL)
		return false;
	if (s->screen_hangup.code == 0)
		return true;
	r = s->screen_hangup;
	s->screen_hangup.code = 0;
	smtpd_reply_noerr(s, r.code, r.enh, "%s", r.text);
	smtpd_session_finish(s);
	return false;
}

/* smtpd_screen_ban_cb - AUTH_FAIL or RCPT_UNKNOWN answered: banned now -> 421 and close */
static void smtpd_screen_ban_cb(const struct screen_result *r, void *arg)
{
	struct smtpd_session *s = arg;

	if (smtpd_screen_answered(s, r, SCREEN_BANNED)) {
		msg_info("%s: banned by the screen service; disconnecting", s->peer);
		smtpd_screen_hangup(s, 421, "4.7.1", "too many failures from your address; it is banned for now",
				    r->text);
	}
	smtpd_session_resume(s);
}

/* smtpd_screen_auth_fail - one failed AUTH, for the auth-failure log and the ban counters */
void smtpd_screen_auth_fail(struct smtpd_session *s, const char *account, const char *mech, const char *reason)
{
	struct screen_query q;

	smtpd_screen_query(s, &q, SCREEN_OP_AUTH_FAIL);
	q.port = smtpd_screen_local_port(s);
	q.account = account[0] ? account : "none";
	q.mech = mech;
	q.reason = reason;
	smtpd_screen_ask(s, &q, s->screen_req == NULL ? smtpd_screen_ban_cb : NULL);
}

/* smtpd_screen_probe - AUTH on the MTA port: ban (the caller closes the session) */
void smtpd_screen_probe(struct smtpd_session *s)
{
	struct screen_query q;

	smtpd_screen_query(s, &q, SCREEN_OP_AUTH_PROBE);
	smtpd_screen_ask(s, &q, NULL);
}

/* smtpd_screen_auth_check_cb - AUTH_CHECK answered */
static void smtpd_screen_auth_check_cb(const struct screen_result *r, void *arg)
{
	struct smtpd_session *s = arg;

	smtpd_sasl_checked(s, smtpd_screen_answered(s, r, SCREEN_FROZEN), r->text);
}

/* smtpd_screen_auth_check - the password is good: is the account frozen; false when nothing was asked */
bool smtpd_screen_auth_check(struct smtpd_session *s, const char *account)
{
	struct screen_query q;

	if (s->srv->screen == NULL || s->screen_req != NULL)
		return false;
	smtpd_screen_query(s, &q, SCREEN_OP_AUTH_CHECK);
	q.account = account;
	smtpd_screen_ask(s, &q, smtpd_screen_auth_check_cb);
	return true;
}

/* smtpd_screen_freeze_cb - RCPT_REJECT answered: frozen -> 421 and close */
static void smtpd_screen_freeze_cb(const struct screen_result *r, void *arg)
{
	struct smtpd_session *s = arg;

	if (smtpd_screen_answered(s, r, SCREEN_FROZEN)) {
		msg_warn("%s: account %s frozen by the screen service (refused recipients); disconnecting", s->peer,
			 s->sasl_user);
		smtpd_screen_hangup(s, 421, "4.7.1", "too many refused recipients; the account is frozen", r->text);
	}
	smtpd_session_resume(s);
}

/* smtpd_screen_rcpt_refused - a RCPT got a 5xx: harvesting (no AUTH) or hijack (AUTH) counters */
void smtpd_screen_rcpt_refused(struct smtpd_session *s, const struct smtpd_reply *r, const char *rcpt)
{
	struct screen_query q;

	if (s->srv->screen == NULL || s->screen_req != NULL || r->code < 500)
		return;
	if (s->sasl_user[0] != '\0') {
		smtpd_screen_query(s, &q, SCREEN_OP_RCPT_REJECT);
		q.account = s->sasl_user;
		q.rcpt = rcpt;
		smtpd_screen_ask(s, &q, smtpd_screen_freeze_cb);
	} else if (r->code == 550 && strcmp(r->enh, "5.1.1") == 0) {
		smtpd_screen_query(s, &q, SCREEN_OP_RCPT_UNKNOWN);
		q.rcpt = rcpt;
		smtpd_screen_ask(s, &q, smtpd_screen_ban_cb);
	}
}

/* smtpd_screen_rate_cb - RATE answered: go on with DATA/BDAT, or 450 */
static void smtpd_screen_rate_cb(const struct screen_result *r, void *arg)
{
	struct smtpd_session *s = arg;

	smtpd_proto_rated(s, smtpd_screen_answered(s, r, SCREEN_OVER), r->text);
	smtpd_session_resume(s);
}

/* smtpd_screen_rate - a message of an authenticated session: false when nothing was asked */
bool smtpd_screen_rate(struct smtpd_session *s)
{
	struct screen_query q;

	if (s->srv->screen == NULL || s->sasl_user[0] == '\0' || s->screen_req != NULL)
		return false;
	smtpd_screen_query(s, &q, SCREEN_OP_RATE);
	q.account = s->sasl_user;
	q.recipients = s->nrcpt;
	smtpd_screen_ask(s, &q, smtpd_screen_rate_cb);
	return true;
}

/* smtpd_screen_session_end - the session closes: its callback must not run */
void smtpd_screen_session_end(struct smtpd_session *s)
{
	if (s->screen_req != NULL)
		screen_async_cancel(s->screen_req);
	s->screen_req = NULL;
}
