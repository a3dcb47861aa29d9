/*
 * screen_proto - how smtpd (and "ternctl" for the administrator) talk
 * to the screen service (screen(8)), the shared abuse state of every
 * smtpd process, over private/screen with the attribute frames of
 * base/ipc.h: one request frame, one reply frame, in order; a
 * connection carries any number of requests and may pipeline them (the
 * replies come in request order).
 *
 * Requests (SCREEN_OP and the attributes it needs; others are ignored):
 *
 *   connect       addr service            ok | banned (reason, until)
 *   auth_fail     addr service port session account mech reason
 *                                         ok | banned (the limit was reached now
 *                                         or the client was banned already)
 *   auth_probe    addr service session    banned (smtpd_auth_probe_ban)
 *   rcpt_unknown  addr service session rcpt
 *                                         ok | banned (harvesting)
 *   auth_check    account                 ok | frozen (reason, until 0)
 *   rcpt_reject   account addr rcpt session
 *                                         ok | frozen (the hijack limit was
 *                                         reached now, or it was frozen)
 *   rate          account addr recipients ok | over (reason)
 *   ban           addr [seconds] [reason] ok (until)       administrator
 *   unban         addr                    ok | none        administrator
 *   list_bans                             ok with ban_* lists
 *   unfreeze      account                 ok (text: mail released) | none
 *   list_frozen                           ok with frozen_* lists
 *
 * "addr" is an IPv4 or IPv6 address; for ban and unban it may also be a
 * network "192.0.2.0/24". "account" is the SASL login name, "none" when
 * the client gave none. A malformed request gets status error with a
 * text; a bad frame closes that connection.
 *
 * The replies never carry secrets; the requests never carry passwords.
 */
#ifndef TERN_MAIL_SCREEN_PROTO_H
#define TERN_MAIL_SCREEN_PROTO_H

#define SCREEN_SOCKET_PRIVATE	"private/screen"

#define SCREEN_OP		"op"
#define SCREEN_OP_CONNECT	"connect"
#define SCREEN_OP_AUTH_FAIL	"auth_fail"
#define SCREEN_OP_AUTH_PROBE	"auth_probe"
#define SCREEN_OP_RCPT_UNKNOWN	"rcpt_unknown"
#define SCREEN_OP_AUTH_CHECK	"auth_check"
#define SCREEN_OP_RCPT_REJECT	"rcpt_reject"
#define SCREEN_OP_RATE		"rate"
#define SCREEN_OP_BAN		"ban"
#define SCREEN_OP_UNBAN		"unban"
#define SCREEN_OP_LIST_BANS	"list_bans"
#define SCREEN_OP_UNFREEZE	"unfreeze"
#define SCREEN_OP_LIST_FROZEN	"list_frozen"

/* request attributes */
#define SCREEN_ADDR		"addr"		/* S: client address (ban/unban: or network) */
#define SCREEN_SERVICE		"service"	/* S: master.conf service name ("127.0.0.1:587", "submission") */
#define SCREEN_PORT		"port"		/* I: the local port the client came to */
#define SCREEN_SESSION		"session"	/* S: smtpd session id */
#define SCREEN_ACCOUNT		"account"	/* S: SASL login, "none" when none was given */
#define SCREEN_MECH		"mech"		/* S: SASL mechanism ("PLAIN") */
#define SCREEN_REASON		"reason"	/* S: why AUTH failed; ban: the administrator's note */
#define SCREEN_RCPT		"rcpt"		/* S: the refused recipient */
#define SCREEN_RECIPIENTS	"recipients"	/* I: recipients of the accepted message (rate) */
#define SCREEN_SECONDS		"seconds"	/* I: ban: how long (0 or absent: auth_ban_time) */

/* reply attributes */
#define SCREEN_STATUS		"status"	/* S: SCREEN_ST_* */
#define SCREEN_ST_OK		"ok"
#define SCREEN_ST_BANNED	"banned"	/* the client is banned: 554 5.7.1 and hang up */
#define SCREEN_ST_FROZEN	"frozen"	/* the account is frozen: AUTH fails */
#define SCREEN_ST_OVER		"over"		/* over the account's rate limit: 450 4.7.1 */
#define SCREEN_ST_NONE		"none"		/* unban/unfreeze: there was nothing */
#define SCREEN_ST_ERROR		"error"		/* a malformed request */
#define SCREEN_UNTIL		"until"		/* I: banned: unix time the ban ends */
#define SCREEN_TEXT		"text"		/* S: human-readable reason or result */

/* list_bans reply: the four repeated in step, one per ban */
#define SCREEN_BAN_ADDR		"ban_addr"	/* S: address or network */
#define SCREEN_BAN_SINCE	"ban_since"	/* I */
#define SCREEN_BAN_UNTIL	"ban_until"	/* I */
#define SCREEN_BAN_REASON	"ban_reason"	/* S */

/* list_frozen reply: the four repeated in step, one per account */
#define SCREEN_FROZEN_ACCOUNT	"frozen_account"	/* S */
#define SCREEN_FROZEN_SINCE	"frozen_since"		/* I */
#define SCREEN_FROZEN_ADDR	"frozen_addr"		/* S: the client address it was frozen from */
#define SCREEN_FROZEN_HELD	"frozen_held"		/* I: queued messages put on hold */

#define SCREEN_LIST_MAX		10000		/* entries in one list reply */

#endif
