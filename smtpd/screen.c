/*
 * screen - the shared abuse state of every smtpd process (screen(8),
 * like Postfix's anvil, but persistent): answers the requests of
 * screen_proto.h on private/screen from smtpd and ternctl.
 *
 *   - auth-failure log: every AUTH_FAIL becomes one line in
 *     auth_failure_log (and one in the mail log);
 *   - dynamic bans: failed AUTHs per address and per /24 (IPv4) or /64
 *     (IPv6) within auth_failure_window (auth_failure_limit,
 *     auth_failure_net_limit), an AUTH probe on the MTA port, and
 *     unknown recipients per address within harvest_window
 *     (harvest_limit) ban the client for auth_ban_time; CONNECT answers
 *     "banned" and logs "banned client ... connected" once per ban;
 *   - hijack detection: an authenticated account that collects
 *     hijack_limit refused recipients within hijack_window is frozen:
 *     AUTH_CHECK answers "frozen", its queued mail is held
 *     (screen_mail.c) and the postmaster gets a notice naming the
 *     account, the address and the recent recipients; UNFREEZE releases
 *     the account and the held mail;
 *   - rate limits: messages and recipients per authenticated account per
 *     rate_limit_period; over answers "over", logs it, and tells the
 *     postmaster once per period.
 *
 * State: screen_database (a state_db, key forms in screen.h). Bans are
 * also kept in memory (a list, matched linearly: bans are few, and a
 * network ban covers many clients). Every expiry is checked when a
 * record is read and by a sweep every screen_sweep_interval, which also
 * flushes the counters to disk.
 *
 * Process: SERVICE_MULTI, master.conf process limit 1 (one DB writer),
 * not chrooted (it writes data_directory and reads the queue), as
 * mail_owner, without max_use/max_idle (the sweep must run). Requests
 * are answered in order, one at a time; a freeze walks the queue and
 * sends a notice, which blocks the loop for a moment (screen_mail.c).
 *
 * Failures: a malformed request gets status error with a text; a bad
 * frame closes that connection; a database that cannot be opened or an
 * auth-failure log that cannot be opened is fatal at start-up (master
 * backs off); a write error later is logged and the answer still given.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>

#include <event2/event.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/screen_proto.h"
#include "mail/service.h"
#include "mail/service_conns.h"
#include "mail/state_db.h"
#include "screen.h"

#define SCREEN_FRAME_MAX	(16 * 1024)		/* a request: a few short strings */
#define SCREEN_REPLY_MAX	(4 * 1024 * 1024)	/* list replies */
#define SCREEN_COUNT_MAX	1000			/* timestamps kept per counter */
#define SCREEN_NOTES_MAX	20			/* recent recipients kept per counter */
#define SCREEN_FIELD_MAX	320			/* one request string as stored or logged */
#define SCREEN_IDS_MAX		(16 * 1024)		/* held queue ids in a frozen record */

/* screen - the daemon's state */
static struct screen {
	const struct params_smtpd *p;
	const struct params_global *g;
	struct state_db *db;
	struct screen_ban *bans;
	size_t nbans, capbans;
	struct screen_mail_opts mail;
	char *notify_rcpt;
	int authlog_fd;
	struct event *sweep;
	struct service_conns conns;
	struct attr_list reply;
} screen = {.authlog_fd = -1};

/* screen_req - the strings of one request, sanitised (no control characters) */
struct screen_req {
	const struct attr_list *frame;
	char addr[SCREEN_FIELD_MAX], service[SCREEN_FIELD_MAX], session[SCREEN_FIELD_MAX];
	char account[SCREEN_FIELD_MAX], mech[SCREEN_FIELD_MAX], reason[SCREEN_FIELD_MAX];
	char rcpt[SCREEN_FIELD_MAX];
	int64_t port, recipients, seconds;
	int64_t now;
};

/* screen_clean - copy an attribute string, control characters and tabs as '?', space too when nospace */
static void screen_clean(const struct attr_list *f, const char *name, char *out, size_t len,
			 const char *dflt, bool nospace)
{
	const char *s;
	size_t i = 0;

	if (!attr_get_str(f, name, &s) || s[0] == '\0')
		s = dflt;
	for (; *s && i + 1 < len; s++, i++) {
		unsigned char c = (unsigned char) *s;

		out[i] = c < 0x20 || c == 0x7f || (nospace && c == ' ') ? '?' : (char) c;
	}
	out[i] = '\0';
}

/* screen_reply - start the reply: status and a printf text ("" for none) */
__attribute__((format(printf, 2, 3)))
static void screen_reply(const char *status, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	attr_list_reset(&screen.reply);
	attr_add_str(&screen.reply, SCREEN_STATUS, status);
	if (text[0])
		attr_add_str(&screen.reply, SCREEN_TEXT, text);
}

/* screen_time - "2026-01-02 10:00:00 +0100" of t */
static void screen_time(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t) t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL || strftime(out, len, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		str_fmt(out, len, "%" PRId64, t);
}

/* --- bans --- */

/* screen_ban_key - the DB key of a ban */
static void screen_ban_key(const char *net, char *key, size_t len)
{
	str_fmt(key, len, "b %s", net);
}

/* screen_ban_drop - remove bans[i] from memory and the DB */
static void screen_ban_drop(size_t i)
{
	char key[SCREEN_NET_TEXT + 8];

	screen_ban_key(screen.bans[i].text, key, sizeof(key));
	(void) state_db_del(screen.db, key, true, NULL, 0);
	screen.bans[i] = screen.bans[--screen.nbans];
}

/* screen_ban_store - write bans[i] to the DB (synced) */
static void screen_ban_store(const struct screen_ban *b)
{
	char key[SCREEN_NET_TEXT + 8], val[512];

	screen_ban_key(b->text, key, sizeof(key));
	if (screen_ban_encode(b, val, sizeof(val)) == 0)
		(void) state_db_put(screen.db, key, val, true, NULL, 0);
}

/* screen_ban_expire - drop the bans that ended (lazy and in the sweep) */
static void screen_ban_expire(int64_t now)
{
	for (size_t i = 0; i < screen.nbans;) {
		if (screen.bans[i].until <= now) {
			msg_info("ban of %s ended", screen.bans[i].text);
			screen_ban_drop(i);
		} else {
			i++;
		}
	}
}

/* screen_ban_find - the ban covering addr (the longest prefix), or NULL */
static struct screen_ban *screen_ban_find(const struct screen_net *addr, int64_t now)
{
	struct screen_ban *best = NULL;

	screen_ban_expire(now);
	for (size_t i = 0; i < screen.nbans; i++)
		if (screen_net_contains(&screen.bans[i].net, addr)
		    && (best == NULL || screen.bans[i].net.len > best->net.len))
			best = &screen.bans[i];
	return best;
}

/* screen_ban_add - ban net for seconds from now (an existing ban of net is replaced) */
static struct screen_ban *screen_ban_add(const struct screen_net *net, int64_t seconds,
					 const char *reason, int64_t now)
{
	char text[SCREEN_NET_TEXT];
	struct screen_ban *b = NULL;

	screen_net_text(net, text);
	for (size_t i = 0; i < screen.nbans; i++)
		if (strcmp(screen.bans[i].text, text) == 0)
			b = &screen.bans[i];
	if (b == NULL) {
		if (screen.nbans == screen.capbans) {
			screen.capbans = screen.capbans ? 2 * screen.capbans : 32;
			screen.bans = xreallocarray(screen.bans, screen.capbans, sizeof(*screen.bans));
		}
		b = &screen.bans[screen.nbans++];
	}
	memset(b, 0, sizeof(*b));
	b->net = *net;
	str_copy(b->text, text, sizeof(b->text));
	b->since = now;
	b->until = now + seconds;
	str_copy(b->reason, reason, sizeof(b->reason));
	for (char *p = b->reason; *p; p++)
		if (*p == '\t' || *p == '\n')
			*p = ' ';
	screen_ban_store(b);
	msg_warn("banned %s for %llds: %s", b->text, (long long) seconds, b->reason);
	return b;
}

/* screen_ban_reply - the reply "banned" for b */
static void screen_ban_reply(const struct screen_ban *b)
{
	screen_reply(SCREEN_ST_BANNED, "%s", b->reason);
	attr_add_int(&screen.reply, SCREEN_UNTIL, b->until);
}

/* screen_bans_load - the bans in the DB into memory (post_jail) */
static bool screen_bans_load_one(const char *key, const char *value, void *ctx)
{
	struct screen_ban b;
	int64_t now = *(const int64_t *) ctx;

	if (screen_ban_decode(key + 2, value, &b) < 0) {
		msg_warn("screen database: ban record \"%s\" does not decode; dropped", key);
		return true;
	}
	if (b.until <= now)
		return true;
	if (screen.nbans == screen.capbans) {
		screen.capbans = screen.capbans ? 2 * screen.capbans : 32;
		screen.bans = xreallocarray(screen.bans, screen.capbans, sizeof(*screen.bans));
	}
	screen.bans[screen.nbans++] = b;
	return false;
}

/* --- counters --- */

/*
 * screen_count - add one event at now to counter key, forget those older
 * than window, keep at most limit timestamps and SCREEN_NOTES_MAX notes
 * (note may be NULL). Returns the count within the window; the notes,
 * "\n"-separated, go to notes when it is not NULL.
 */
static long screen_count(const char *key, int64_t now, int64_t window, long long limit,
			 const char *note, char *notes, size_t noteslen)
{
	char *val = xmalloc(SCREEN_VALUE_MAX), *out = xmalloc(SCREEN_VALUE_MAX);
	int64_t *t = xcalloc(SCREEN_COUNT_MAX + 1, sizeof(*t));
	const char *lines[SCREEN_NOTES_MAX + 1];
	size_t nt = 0, nl = 0, keep = limit < 1 ? 1 : limit > SCREEN_COUNT_MAX ? SCREEN_COUNT_MAX : (size_t) limit;
	size_t first = 0, used = 0, n;
	char *rest, *line;

	if (state_db_get(screen.db, key, val, SCREEN_VALUE_MAX, NULL, 0) != 1)
		val[0] = '\0';
	rest = val;
	line = str_token(&rest, "\n");
	if (line != NULL) {
		char *tr = line, *tok;
		long long v;

		while ((tok = str_token(&tr, " ")) != NULL && nt < SCREEN_COUNT_MAX)
			if (str_to_ll(tok, 0, INT64_MAX, &v) == 0 && v > now - window)
				t[nt++] = v;
		while ((line = str_token(&rest, "\n")) != NULL) {
			if (nl == SCREEN_NOTES_MAX) {
				memmove(lines, lines + 1, sizeof(lines[0]) * (SCREEN_NOTES_MAX - 1));
				nl--;
			}
			lines[nl++] = line;
		}
	}
	t[nt++] = now;
	if (note != NULL) {
		if (nl == SCREEN_NOTES_MAX) {
			memmove(lines, lines + 1, sizeof(lines[0]) * (SCREEN_NOTES_MAX - 1));
			nl--;
		}
		lines[nl++] = note;
	}
	if (nt > keep)
		first = nt - keep;
	for (size_t i = first; i < nt; i++) {
		n = (size_t) snprintf(out + used, SCREEN_VALUE_MAX - used, "%s%" PRId64, i > first ? " " : "", t[i]);
		if (n >= SCREEN_VALUE_MAX - used)
			break;
		used += n;
	}
	if (notes != NULL && noteslen > 0)
		notes[0] = '\0';
	for (size_t i = 0, nused = 0; i < nl; i++) {
		n = (size_t) snprintf(out + used, SCREEN_VALUE_MAX - used, "\n%s", lines[i]);
		if (n < SCREEN_VALUE_MAX - used)
			used += n;
		if (notes != NULL && nused + strlen(lines[i]) + 2 < noteslen)
			nused += (size_t) snprintf(notes + nused, noteslen - nused, "%s\n", lines[i]);
	}
	(void) state_db_put(screen.db, key, out, false, NULL, 0);
	free(val);
	free(out);
	free(t);
	return (long) (nt - first);
}

/* --- the auth-failure log --- */

/* screen_authlog - one line for a failed AUTH, in auth_failure_log and the mail log */
static void screen_authlog(const struct screen_req *r)
{
	char when[64], line[2048];
	int n;

	screen_time(r->now, when, sizeof(when));
	n = snprintf(line, sizeof(line), "%s protocol=smtp service=%s port=%lld session=%s client=%s "
		     "account=%s mechanism=%s reason=%s\n", when, r->service, (long long) r->port,
		     r->session, r->addr, r->account, r->mech, r->reason);
	if (n < 0)
		return;
	if ((size_t) n >= sizeof(line)) {
		n = (int) sizeof(line) - 1;
		line[n - 1] = '\n';
	}
	if (write(screen.authlog_fd, line, (size_t) n) != n)
		msg_warn("auth_failure_log %s: write: %s", screen.p->auth_failure_log, strerror(errno));
	msg_info("auth failure: service=%s session=%s client=%s account=%s mechanism=%s reason=%s",
		 r->service, r->session, r->addr, r->account, r->mech, r->reason);
}

/* --- requests --- */

/* screen_need_addr - the request's client address, or an error reply */
static bool screen_need_addr(const struct screen_req *r, struct screen_net *a)
{
	if (screen_net_parse(r->addr, a) < 0 || a->len != (a->family == AF_INET ? 32 : 128)) {
		screen_reply(SCREEN_ST_ERROR, "bad request: not an address: \"%.80s\"", r->addr);
		return false;
	}
	return true;
}

/* screen_need_account - the request names an account, or an error reply */
static bool screen_need_account(const struct screen_req *r)
{
	if (r->account[0] == '\0' || strcmp(r->account, "none") == 0) {
		screen_reply(SCREEN_ST_ERROR, "bad request: no account");
		return false;
	}
	return true;
}

/* screen_op_connect - CONNECT: is the client banned? */
static void screen_op_connect(struct screen_req *r)
{
	struct screen_net a;
	struct screen_ban *b;
	char until[64];

	if (!screen_need_addr(r, &a))
		return;
	if ((b = screen_ban_find(&a, r->now)) == NULL) {
		screen_reply(SCREEN_ST_OK, "%s", "");
		return;
	}
	if (!b->logged) {
		screen_time(b->until, until, sizeof(until));
		msg_info("banned client %s connected to %s: %s (ban of %s until %s; "
			 "further connections during this ban are not logged)",
			 r->addr, r->service, b->reason, b->text, until);
		b->logged = true;
		screen_ban_store(b);
	}
	screen_ban_reply(b);
}

/* screen_op_auth_fail - AUTH_FAIL: log, count per address and network, ban at the limits */
static void screen_op_auth_fail(struct screen_req *r)
{
	const struct params_smtpd *p = screen.p;
	struct screen_net a, wide;
	struct screen_ban *b;
	char key[SCREEN_NET_TEXT + 8], net[SCREEN_NET_TEXT], atext[SCREEN_NET_TEXT], why[200];
	long n, nn;

	if (!screen_need_addr(r, &a))
		return;
	screen_authlog(r);
	if ((b = screen_ban_find(&a, r->now)) != NULL) {
		screen_ban_reply(b);
		return;
	}
	wide = screen_net_wide(&a);
	screen_net_text(&wide, net);
	screen_net_text(&a, atext);
	str_fmt(key, sizeof(key), "c a %s", atext);
	n = screen_count(key, r->now, p->auth_failure_window, p->auth_failure_limit, NULL, NULL, 0);
	str_fmt(key, sizeof(key), "c n %s", net);
	nn = screen_count(key, r->now, p->auth_failure_window, p->auth_failure_net_limit, NULL, NULL, 0);
	if (p->auth_failure_limit > 0 && n >= p->auth_failure_limit) {
		str_fmt(why, sizeof(why), "%ld failed AUTH attempts within %llds", n,
			(long long) p->auth_failure_window);
		screen_ban_reply(screen_ban_add(&a, p->auth_ban_time, why, r->now));
	} else if (p->auth_failure_net_limit > 0 && nn >= p->auth_failure_net_limit) {
		str_fmt(why, sizeof(why), "%ld failed AUTH attempts from %s within %llds", nn, net,
			(long long) p->auth_failure_window);
		screen_ban_reply(screen_ban_add(&wide, p->auth_ban_time, why, r->now));
	} else {
		screen_reply(SCREEN_ST_OK, "%ld of %lld failed AUTH attempts", n, p->auth_failure_limit);
	}
}

/* screen_op_auth_probe - AUTH_PROBE: AUTH on the MTA port bans at once */
static void screen_op_auth_probe(struct screen_req *r)
{
	struct screen_net a;
	char why[400];

	if (!screen_need_addr(r, &a))
		return;
	str_fmt(why, sizeof(why), "AUTH probe on the MTA port (service %s, session %s)", r->service,
		r->session);
	screen_ban_reply(screen_ban_add(&a, screen.p->auth_ban_time, why, r->now));
}

/* screen_op_rcpt_unknown - RCPT_UNKNOWN: account harvesting counter */
static void screen_op_rcpt_unknown(struct screen_req *r)
{
	const struct params_smtpd *p = screen.p;
	struct screen_net a;
	struct screen_ban *b;
	char key[SCREEN_NET_TEXT + 8], atext[SCREEN_NET_TEXT], why[200];
	long n;

	if (!screen_need_addr(r, &a))
		return;
	if ((b = screen_ban_find(&a, r->now)) != NULL) {
		screen_ban_reply(b);
		return;
	}
	screen_net_text(&a, atext);
	str_fmt(key, sizeof(key), "c h %s", atext);
	n = screen_count(key, r->now, p->harvest_window, p->harvest_limit, NULL, NULL, 0);
	if (p->harvest_limit > 0 && n >= p->harvest_limit) {
		str_fmt(why, sizeof(why), "account harvesting: %ld unknown recipients within %llds", n,
			(long long) p->harvest_window);
		screen_ban_reply(screen_ban_add(&a, p->auth_ban_time, why, r->now));
	} else {
		screen_reply(SCREEN_ST_OK, "%ld of %lld unknown recipients", n, p->harvest_limit);
	}
}

/* screen_frozen_get - the frozen record of account into val: 1, or 0 when not frozen */
static int screen_frozen_get(const char *account, char *val, size_t len)
{
	char key[SCREEN_FIELD_MAX + 8];

	str_fmt(key, sizeof(key), "f %s", account);
	return state_db_get(screen.db, key, val, len, NULL, 0) == 1 ? 1 : 0;
}

/* screen_frozen_reply - the reply "frozen" for account */
static void screen_frozen_reply(const char *account, const char *val)
{
	long long since = 0;
	char when[64];

	(void) sscanf(val, "%lld", &since);
	screen_time(since, when, sizeof(when));
	screen_reply(SCREEN_ST_FROZEN, "account %s is frozen since %s for suspected hijacking; "
		     "ask the postmaster", account, when);
	attr_add_int(&screen.reply, SCREEN_UNTIL, 0);
}

/* screen_op_auth_check - AUTH_CHECK: is the account frozen? */
static void screen_op_auth_check(struct screen_req *r)
{
	char val[SCREEN_VALUE_MAX];

	if (!screen_need_account(r))
		return;
	if (screen_frozen_get(r->account, val, sizeof(val)))
		screen_frozen_reply(r->account, val);
	else
		screen_reply(SCREEN_ST_OK, "%s", "");
}

/* screen_freeze - freeze account: hold its mail, store the record, tell the postmaster */
static void screen_freeze(struct screen_req *r, long n, const char *notes)
{
	char *ids = xmalloc(SCREEN_IDS_MAX), *val = xmalloc(SCREEN_VALUE_MAX);
	char key[SCREEN_FIELD_MAX + 8], subject[SCREEN_FIELD_MAX + 64], *body;
	int held = screen_mail_hold(&screen.mail, r->account, ids, SCREEN_IDS_MAX);
	char *rcpts = xstrdup(notes);

	for (char *p = rcpts; *p; p++)
		if (*p == '\t')
			*p = ' ';
	str_fmt(key, sizeof(key), "f %s", r->account);
	if (str_fmt(val, SCREEN_VALUE_MAX, "%" PRId64 " %d\t%s\t%s\t%s", r->now, held, r->addr, ids, rcpts) < 0)
		str_fmt(val, SCREEN_VALUE_MAX, "%" PRId64 " %d\t%s\t%s\t", r->now, held, r->addr, ids);
	(void) state_db_put(screen.db, key, val, true, NULL, 0);
	msg_warn("account %s frozen: %ld refused recipients within %llds, last from %s; %d queued "
		 "message%s held", r->account, n, (long long) screen.p->hijack_window, r->addr, held,
		 held == 1 ? "" : "s");
	str_fmt(subject, sizeof(subject), "account %s frozen (suspected hijacking)", r->account);
	body = str_dupf("The account %s was frozen by the mail screen of %s.\n\n"
			"It collected %ld refused (5xx) recipients within %lld seconds, the last\n"
			"from the client address %s. Until it is unfrozen, AUTH with it fails,\n"
			"and its %d queued message%s %s on hold%s%s.\n\n"
			"The recent recipients:\n%s\n"
			"When the account is safe again (password changed), release it and its\n"
			"held mail with:\n\n    ternctl unfreeze %s\n",
			r->account, screen.mail.myhostname, n, (long long) screen.p->hijack_window, r->addr,
			held, held == 1 ? "" : "s", held == 1 ? "is" : "are", held ? ": " : "", ids,
			rcpts, r->account);
	(void) screen_mail_notify(&screen.mail, subject, body);
	free(body);
	free(rcpts);
	free(ids);
	free(val);
}

/* screen_op_rcpt_reject - RCPT_REJECT: hijack counter of an authenticated account */
static void screen_op_rcpt_reject(struct screen_req *r)
{
	const struct params_smtpd *p = screen.p;
	char *val = xmalloc(SCREEN_VALUE_MAX), *notes = xmalloc(SCREEN_VALUE_MAX);
	char key[SCREEN_FIELD_MAX + 8], note[2 * SCREEN_FIELD_MAX + 16];
	long n;

	if (!screen_need_account(r))
		goto out;
	if (screen_frozen_get(r->account, val, SCREEN_VALUE_MAX)) {
		screen_frozen_reply(r->account, val);
		goto out;
	}
	str_fmt(key, sizeof(key), "c j %s", r->account);
	str_fmt(note, sizeof(note), "%s (from %s)", r->rcpt[0] ? r->rcpt : "?", r->addr);
	n = screen_count(key, r->now, p->hijack_window, p->hijack_limit, note, notes, SCREEN_VALUE_MAX);
	if (p->hijack_limit > 0 && n >= p->hijack_limit) {
		screen_freeze(r, n, notes);
		(void) state_db_del(screen.db, key, false, NULL, 0);
		if (screen_frozen_get(r->account, val, SCREEN_VALUE_MAX))
			screen_frozen_reply(r->account, val);
		else
			screen_reply(SCREEN_ST_FROZEN, "account %s is frozen", r->account);
	} else {
		screen_reply(SCREEN_ST_OK, "%ld of %lld refused recipients", n, p->hijack_limit);
	}
out:
	free(val);
	free(notes);
}

/* screen_op_rate - RATE: one accepted message of an authenticated account */
static void screen_op_rate(struct screen_req *r)
{
	const struct params_smtpd *p = screen.p;
	char key[SCREEN_FIELD_MAX + 8], val[128], subject[SCREEN_FIELD_MAX + 64], *body;
	long long start = 0, msgs = 0, rcpts = 0, nrcpt = r->recipients < 0 ? 0 : r->recipients;
	int notified = 0;
	const char *what = NULL;
	long long limit = 0;

	if (!screen_need_account(r))
		return;
	str_fmt(key, sizeof(key), "r %s", r->account);
	if (state_db_get(screen.db, key, val, sizeof(val), NULL, 0) != 1
	    || sscanf(val, "%lld %lld %lld %d", &start, &msgs, &rcpts, &notified) != 4
	    || r->now - start >= p->rate_limit_period || start > r->now) {
		start = r->now;
		msgs = rcpts = 0;
		notified = 0;
	}
	if (p->rate_limit_messages > 0 && msgs + 1 > p->rate_limit_messages) {
		what = "messages";
		limit = p->rate_limit_messages;
	} else if (p->rate_limit_recipients > 0 && rcpts + nrcpt > p->rate_limit_recipients) {
		what = "recipients";
		limit = p->rate_limit_recipients;
	}
	if (what == NULL) {
		str_fmt(val, sizeof(val), "%lld %lld %lld %d", start, msgs + 1, rcpts + nrcpt, notified);
		(void) state_db_put(screen.db, key, val, false, NULL, 0);
		screen_reply(SCREEN_ST_OK, "%lld messages, %lld recipients in this period", msgs + 1,
			     rcpts + nrcpt);
		return;
	}
	msg_warn("rate limit: account %s from %s: over %lld %s per %llds (%lld messages, %lld "
		 "recipients so far; this one has %lld)", r->account, r->addr, limit, what,
		 (long long) p->rate_limit_period, msgs, rcpts, nrcpt);
	if (!notified) {
		str_fmt(subject, sizeof(subject), "account %s reached its sending limit", r->account);
		body = str_dupf("The account %s reached its limit of %lld %s per %lld seconds\n"
				"on %s (%lld messages to %lld recipients so far in this period;\n"
				"the last attempt came from %s with %lld recipients).\n\n"
				"Further messages get 450 4.7.1 until the period ends. This notice\n"
				"is sent once per period.\n", r->account, limit, what,
				(long long) p->rate_limit_period, screen.mail.myhostname, msgs, rcpts,
				r->addr, nrcpt);
		(void) screen_mail_notify(&screen.mail, subject, body);
		free(body);
		notified = 1;
	}
	str_fmt(val, sizeof(val), "%lld %lld %lld %d", start, msgs, rcpts, notified);
	(void) state_db_put(screen.db, key, val, true, NULL, 0);
	screen_reply(SCREEN_ST_OVER, "sending limit of %lld %s per %lld seconds reached", limit, what,
		     (long long) p->rate_limit_period);
}

/* screen_op_ban - BAN: the administrator bans an address or network */
static void screen_op_ban(struct screen_req *r)
{
	struct screen_net n;
	struct screen_ban *b;
	int64_t seconds = r->seconds > 0 ? r->seconds : screen.p->auth_ban_time;

	if (screen_net_parse(r->addr, &n) < 0) {
		screen_reply(SCREEN_ST_ERROR, "not an address or network: \"%.80s\"", r->addr);
		return;
	}
	b = screen_ban_add(&n, seconds, r->reason[0] ? r->reason : "banned by the administrator", r->now);
	screen_reply(SCREEN_ST_OK, "banned %s for %llds", b->text, (long long) seconds);
	attr_add_int(&screen.reply, SCREEN_UNTIL, b->until);
}

/* screen_op_unban - UNBAN: lift the ban of exactly this address or network, forget its counters */
static void screen_op_unban(struct screen_req *r)
{
	struct screen_net n;
	char text[SCREEN_NET_TEXT], key[SCREEN_NET_TEXT + 8];
	int found = 0;

	if (screen_net_parse(r->addr, &n) < 0) {
		screen_reply(SCREEN_ST_ERROR, "not an address or network: \"%.80s\"", r->addr);
		return;
	}
	screen_net_text(&n, text);
	for (size_t i = 0; i < screen.nbans; i++) {
		if (strcmp(screen.bans[i].text, text) == 0) {
			screen_ban_drop(i);
			found = 1;
			break;
		}
	}
	for (const char *kind = "anh"; *kind; kind++) {
		str_fmt(key, sizeof(key), "c %c %s", *kind, text);
		(void) state_db_del(screen.db, key, false, NULL, 0);
	}
	if (found) {
		msg_info("ban of %s lifted by the administrator", text);
		screen_reply(SCREEN_ST_OK, "unbanned %s", text);
	} else {
		screen_reply(SCREEN_ST_NONE, "%s is not banned", text);
	}
}

/* screen_op_list_bans - LIST_BANS: every ban in force */
static void screen_op_list_bans(struct screen_req *r)
{
	screen_ban_expire(r->now);
	screen_reply(SCREEN_ST_OK, "%zu ban%s", screen.nbans, screen.nbans == 1 ? "" : "s");
	for (size_t i = 0; i < screen.nbans && i < SCREEN_LIST_MAX; i++) {
		const struct screen_ban *b = &screen.bans[i];

		attr_add_str(&screen.reply, SCREEN_BAN_ADDR, b->text);
		attr_add_int(&screen.reply, SCREEN_BAN_SINCE, b->since);
		attr_add_int(&screen.reply, SCREEN_BAN_UNTIL, b->until);
		attr_add_str(&screen.reply, SCREEN_BAN_REASON, b->reason);
	}
}

/* screen_op_unfreeze - UNFREEZE: release the account and its held mail */
static void screen_op_unfreeze(struct screen_req *r)
{
	char *val = xmalloc(SCREEN_VALUE_MAX), *ids, *end;
	char key[SCREEN_FIELD_MAX + 8];
	int released;

	if (!screen_need_account(r))
		goto out;
	if (!screen_frozen_get(r->account, val, SCREEN_VALUE_MAX)) {
		screen_reply(SCREEN_ST_NONE, "account %s is not frozen", r->account);
		goto out;
	}
	/* "since nheld\taddr\tids\trcpts" */
	ids = strchr(val, '\t');
	ids = ids ? strchr(ids + 1, '\t') : NULL;
	if (ids != NULL && (end = strchr(++ids, '\t')) != NULL)
		*end = '\0';
	released = ids ? screen_mail_release(&screen.mail, ids) : 0;
	str_fmt(key, sizeof(key), "f %s", r->account);
	(void) state_db_del(screen.db, key, true, NULL, 0);
	str_fmt(key, sizeof(key), "c j %s", r->account);
	(void) state_db_del(screen.db, key, false, NULL, 0);
	msg_info("account %s unfrozen by the administrator; %d held message%s released", r->account,
		 released, released == 1 ? "" : "s");
	screen_reply(SCREEN_ST_OK, "unfroze %s; %d held message%s released", r->account, released,
		     released == 1 ? "" : "s");
out:
	free(val);
}

/* screen_list_frozen_one - state_db_walk callback: one frozen account into the reply */
static bool screen_list_frozen_one(const char *key, const char *value, void *ctx)
{
	long long since = 0, held = 0;
	const char *addr = strchr(value, '\t');
	char a[SCREEN_FIELD_MAX];
	size_t *n = ctx;

	if (*n >= SCREEN_LIST_MAX)
		return false;
	(void) sscanf(value, "%lld %lld", &since, &held);
	a[0] = '\0';
	if (addr != NULL) {
		size_t len = strcspn(addr + 1, "\t");

		if (len < sizeof(a)) {
			memcpy(a, addr + 1, len);
			a[len] = '\0';
		}
	}
	attr_add_str(&screen.reply, SCREEN_FROZEN_ACCOUNT, key + 2);
	attr_add_int(&screen.reply, SCREEN_FROZEN_SINCE, since);
	attr_add_str(&screen.reply, SCREEN_FROZEN_ADDR, a);
	attr_add_int(&screen.reply, SCREEN_FROZEN_HELD, held);
	(*n)++;
	return false;
}

/* screen_op_list_frozen - LIST_FROZEN: every frozen account */
static void screen_op_list_frozen(struct screen_req *r)
{
	size_t n = 0;

	(void) r;
	screen_reply(SCREEN_ST_OK, "%s", "");
	(void) state_db_walk(screen.db, "f ", screen_list_frozen_one, &n, NULL, 0);
}

/* screen_ops - the request table */
static const struct screen_op {
	const char *name;
	void (*fn)(struct screen_req *r);
} screen_ops[] = {
	{SCREEN_OP_CONNECT, screen_op_connect},
	{SCREEN_OP_AUTH_FAIL, screen_op_auth_fail},
	{SCREEN_OP_AUTH_PROBE, screen_op_auth_probe},
	{SCREEN_OP_RCPT_UNKNOWN, screen_op_rcpt_unknown},
	{SCREEN_OP_AUTH_CHECK, screen_op_auth_check},
	{SCREEN_OP_RCPT_REJECT, screen_op_rcpt_reject},
	{SCREEN_OP_RATE, screen_op_rate},
	{SCREEN_OP_BAN, screen_op_ban},
	{SCREEN_OP_UNBAN, screen_op_unban},
	{SCREEN_OP_LIST_BANS, screen_op_list_bans},
	{SCREEN_OP_UNFREEZE, screen_op_unfreeze},
	{SCREEN_OP_LIST_FROZEN, screen_op_list_frozen},
};

/* screen_request - one request frame into screen.reply */
static void screen_request(const struct attr_list *frame)
{
	struct screen_req *r = xcalloc(1, sizeof(*r));
	const char *op;
	char err[200];

	r->frame = frame;
	r->now = (int64_t) time(NULL);
	if (attr_need_str(frame, SCREEN_OP, &op, err, sizeof(err)) < 0) {
		screen_reply(SCREEN_ST_ERROR, "bad request: %s", err);
		free(r);
		return;
	}
	screen_clean(frame, SCREEN_ADDR, r->addr, sizeof(r->addr), "", true);
	screen_clean(frame, SCREEN_SERVICE, r->service, sizeof(r->service), "-", true);
	screen_clean(frame, SCREEN_SESSION, r->session, sizeof(r->session), "-", true);
	screen_clean(frame, SCREEN_ACCOUNT, r->account, sizeof(r->account), "none", true);
	screen_clean(frame, SCREEN_MECH, r->mech, sizeof(r->mech), "-", true);
	screen_clean(frame, SCREEN_REASON, r->reason, sizeof(r->reason), "", false);
	screen_clean(frame, SCREEN_RCPT, r->rcpt, sizeof(r->rcpt), "", true);
	if (!attr_get_int(frame, SCREEN_PORT, &r->port))
		r->port = 0;
	if (!attr_get_int(frame, SCREEN_RECIPIENTS, &r->recipients))
		r->recipients = 1;
	if (!attr_get_int(frame, SCREEN_SECONDS, &r->seconds))
		r->seconds = 0;
	for (size_t i = 0; i < sizeof(screen_ops) / sizeof(screen_ops[0]); i++) {
		if (strcmp(op, screen_ops[i].name) == 0) {
			screen_ops[i].fn(r);
			msg_debug("%s %s%s: done", op, r->addr, r->account);
			free(r);
			return;
		}
	}
	screen_reply(SCREEN_ST_ERROR, "bad request: unknown op \"%.40s\"", op);
	free(r);
}

/* screen_on_frame - one request: answer it */
static void screen_on_frame(struct ipc_conn *conn, const struct attr_list *frame, void *arg)
{
	(void) arg;
	screen_request(frame);
	if (attr_list_error(&screen.reply)) {
		msg_warn("cannot build the reply: %s", attr_list_error(&screen.reply));
		screen_reply(SCREEN_ST_ERROR, "the reply does not fit in a frame");
	}
	if (ipc_conn_send(conn, &screen.reply) < 0)
		msg_debug("reply not sent, connection closed");
}

/* screen_on_connection - a new client */
static void screen_on_connection(struct service *svc, int fd)
{
	(void) svc;
	(void) service_conns_add(&screen.conns, fd);
}

/* screen_sweep_counter - state_db_walk callback: a counter whose newest event left its window */
static bool screen_sweep_counter(const char *key, const char *value, void *ctx)
{
	int64_t now = *(const int64_t *) ctx, newest = 0, window;
	const char *p = value;

	switch (key[2]) {
	case 'a':
	case 'n':
		window = screen.p->auth_failure_window;
		break;
	case 'h':
		window = screen.p->harvest_window;
		break;
	default:
		window = screen.p->hijack_window;
		break;
	}
	while (*p && *p != '\n') {
		long long v = strtoll(p, NULL, 10);

		if (v > newest)
			newest = v;
		p += strcspn(p, " \n");
		if (*p == ' ')
			p++;
	}
	return newest <= now - window;
}

/* screen_sweep_rate - state_db_walk callback: a rate window that ended */
static bool screen_sweep_rate(const char *key, const char *value, void *ctx)
{
	int64_t now = *(const int64_t *) ctx;
	long long start = 0;

	(void) key;
	return sscanf(value, "%lld", &start) != 1 || now - start >= screen.p->rate_limit_period;
}

/* screen_sweep_ban - state_db_walk callback: drop records of ended bans */
static bool screen_sweep_ban(const char *key, const char *value, void *ctx)
{
	struct screen_ban b;

	return screen_ban_decode(key + 2, value, &b) < 0 || b.until <= *(const int64_t *) ctx;
}

/* screen_on_sweep - the periodic sweep: expired bans and counters, then a flush */
static void screen_on_sweep(evutil_socket_t fd, short what, void *arg)
{
	int64_t now = (int64_t) time(NULL);

	(void) fd;
	(void) what;
	(void) arg;
	screen_ban_expire(now);
	(void) state_db_walk(screen.db, "b ", screen_sweep_ban, &now, NULL, 0);
	(void) state_db_walk(screen.db, "c ", screen_sweep_counter, &now, NULL, 0);
	(void) state_db_walk(screen.db, "r ", screen_sweep_rate, &now, NULL, 0);
	(void) state_db_sync(screen.db, NULL, 0);
}

/* screen_on_stop - graceful stop: close every connection after its reply */
static void screen_on_stop(struct service *svc)
{
	(void) svc;
	if (screen.sweep != NULL)
		event_del(screen.sweep);
	service_conns_finish(&screen.conns);
}

/* screen_pre_jail - parameters and limits (as root, before the drop) */
static void screen_pre_jail(struct service *svc)
{
	const struct config *cfg = service_config(svc);
	const char *rcpt;

	screen.p = cfg->own;
	screen.g = &cfg->global;
	rcpt = screen.p->screen_notify_recipient;
	if (rcpt[0] == '\0')
		msg_fatal("screen_notify_recipient is empty");
	screen.notify_rcpt = strchr(rcpt, '@') ? xstrdup(rcpt) : str_dupf("%s@%s", rcpt, screen.g->myorigin);
	screen.mail.queue_dir = screen.g->queue_directory;
	screen.mail.myhostname = screen.g->myhostname;
	screen.mail.recipient = screen.notify_rcpt;
	screen.mail.timeout_ms = 30000;
	service_conns_init(&screen.conns, svc, SCREEN_FRAME_MAX, (int) screen.g->ipc_timeout * 1000,
			   (int) screen.g->ipc_timeout * 1000, screen_on_frame);
	attr_list_init(&screen.reply);
	attr_list_set_limit(&screen.reply, SCREEN_REPLY_MAX);
}

/* screen_post_jail - open the database and the log as mail_owner; load the bans; start the sweep */
static void screen_post_jail(struct service *svc)
{
	struct timeval tv = {(time_t) screen.p->screen_sweep_interval, 0};
	int64_t now = (int64_t) time(NULL);
	char err[1024];

	screen.db = state_db_open(screen.p->screen_database, "screen database", SCREEN_VALUE_MAX,
				  err, sizeof(err));
	if (screen.db == NULL)
		msg_fatal("%s", err);
	screen.authlog_fd = open(screen.p->auth_failure_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (screen.authlog_fd < 0)
		msg_fatal("cannot open auth_failure_log %s: %s", screen.p->auth_failure_log, strerror(errno));
	(void) state_db_walk(screen.db, "b ", screen_bans_load_one, &now, NULL, 0);
	(void) state_db_sync(screen.db, NULL, 0);
	screen.sweep = event_new(service_base(svc), -1, EV_PERSIST, screen_on_sweep, NULL);
	if (screen.sweep == NULL || event_add(screen.sweep, &tv) < 0)
		msg_fatal("cannot start the sweep timer");
	msg_info("started: %zu ban%s in force", screen.nbans, screen.nbans == 1 ? "" : "s");
}

/* screen_free - release everything (for leak checkers) */
static void screen_free(void)
{
	if (screen.sweep != NULL)
		event_free(screen.sweep);
	state_db_close(screen.db);
	if (screen.authlog_fd >= 0)
		close(screen.authlog_fd);
	free(screen.bans);
	free(screen.notify_rcpt);
	attr_list_free(&screen.reply);
}

static const struct service_desc screen_desc = {
	.program = "screen",
	.group = "smtpd",
	.kind = SERVICE_MULTI,
	.flags = SERVICE_FLAG_NO_LIMITS,
	.pre_jail = screen_pre_jail,
	.post_jail = screen_post_jail,
	.on_connection = screen_on_connection,
	.on_stop = screen_on_stop,
};

/* main - run on the skeleton */
int main(int argc, char **argv)
{
	int status = service_main(argc, argv, &screen_desc);

	screen_free();
	return status;
}
