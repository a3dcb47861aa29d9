/*
 * screen.h - the parts of the screen service (screen(8)): networks and
 * bans (screen_net.c), the notification mail and the holding of a
 * frozen account's queued mail (screen_mail.c); screen.c answers the requests of screen_proto.h with
 * them. Nothing outside smtpd/screen*.c includes this header.
 *
 * Process: one screen process (master.conf process limit 1) owns the
 * database, a state_db (mail/state_db.h: a Berkeley DB hash moved aside
 * to "<file>.bad" and started afresh when damaged), so there is one
 * writer and no locking. Records (keys are text, values are text,
 * shorter than SCREEN_VALUE_MAX):
 *
 *	"b NET"       ban: "since until logged\treason"
 *	"f ACCOUNT"   frozen: "since nheld\taddr\tqid qid ...\trcpt\nrcpt ..."
 *	"c KIND KEY"  counter: "t t t ...", then "\n"-separated notes
 *	"r ACCOUNT"   rate window: "start messages recipients notified"
 *
 * Bans and frozen accounts are written with a sync (they must survive a
 * crash); counters are synced by the periodic sweep.
 */
#ifndef TERN_SMTPD_SCREEN_H
#define TERN_SMTPD_SCREEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SCREEN_VALUE_MAX	(64 * 1024)	/* one stored value */
#define SCREEN_NET_TEXT		64		/* "ffff:...:ffff/128" and a NUL */

/* screen_net.c */

/* screen_net - an address (len = 32 or 128) or a network */
struct screen_net {
	int family;			/* AF_INET, AF_INET6 */
	unsigned char a[16];		/* network bytes, host bits zero */
	int len;			/* prefix length */
};

/* screen_net_parse - "addr" or "addr/len" (host bits cleared): 0, or -1 */
int screen_net_parse(const char *text, struct screen_net *n);
/* screen_net_text - canonical text: "192.0.2.1", "192.0.2.0/24", "2001:db8::/64" */
void screen_net_text(const struct screen_net *n, char out[SCREEN_NET_TEXT]);
/* screen_net_wide - the /24 (IPv4) or /64 (IPv6) around an address */
struct screen_net screen_net_wide(const struct screen_net *addr);
/* screen_net_contains - does net contain addr (a full-length address) */
bool screen_net_contains(const struct screen_net *net, const struct screen_net *addr);

/* screen_ban - one ban, in memory (the DB has the same) */
struct screen_ban {
	struct screen_net net;
	char text[SCREEN_NET_TEXT];
	int64_t since, until;
	bool logged;			/* "banned client connected" was logged for this ban */
	char reason[200];
};

/* screen_ban_encode / _decode - the stored value of a ban: 0, or -1 */
int screen_ban_encode(const struct screen_ban *b, char *out, size_t outlen);
int screen_ban_decode(const char *net, const char *value, struct screen_ban *b);

/* screen_mail.c */

/* screen_mail_opts - what the mail side needs from the configuration */
struct screen_mail_opts {
	const char *queue_dir;
	const char *myhostname;
	const char *recipient;		/* qualified notification recipient */
	int timeout_ms;			/* one cleanup or qmgr request */
};

/*
 * screen_mail_notify - submit a notice to opts->recipient through
 * private/cleanup (null sender): 0 with its queue id logged, or -1
 * (logged). body lines end in "\n"; they are sent with CRLF.
 */
int screen_mail_notify(const struct screen_mail_opts *o, const char *subject, const char *body);
/*
 * screen_mail_hold - put every queued message whose sasl_username is
 * account on hold (active ones through qmgr's control socket). The queue
 * ids go to ids (space-separated, as many as fit); returns how many.
 */
int screen_mail_hold(const struct screen_mail_opts *o, const char *account, char *ids, size_t idslen);
/*
 * screen_mail_release - release the held messages named in ids (space-
 * separated) that are still in hold/: due now in deferred/, and qmgr is
 * woken. Returns how many were released.
 */
int screen_mail_release(const struct screen_mail_opts *o, const char *ids);

#endif
