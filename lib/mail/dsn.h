/*
 * dsn - build RFC 3464 delivery status notifications (multipart/report,
 * RFC 6522) for the bounce service, and parse the reason files qmgr
 * writes beside the queue file (deliver_proto.h).
 *
 * The builder is pure: it gets everything it needs in a struct
 * dsn_report (the original envelope, the recipients with their results,
 * the original content or its headers, already cut to size by the
 * caller) and appends the whole notice, CRLF line ends, to a buf. It
 * never reads files or the clock, so unit tests can compare its output.
 *
 * Shape of a notice (RFC 3464 section 2, RFC 6522 section 3):
 *   headers: From MAILER-DAEMON@myhostname, To, Subject, Date,
 *            Message-ID, Auto-Submitted: auto-replied, MIME-Version,
 *            multipart/report; report-type=delivery-status
 *   part 1   text/plain, for people: what happened and why
 *   part 2   message/delivery-status (message/global-delivery-status
 *            for an SMTPUTF8 message, RFC 6533): the per-message fields,
 *            then one block per recipient
 *   part 3   message/rfc822 (whole message) or text/rfc822-headers
 *            (headers only); message/global and message/global-headers
 *            for an SMTPUTF8 message
 *
 * Field values are cut to DSN_FIELD_MAX bytes and stripped of CR, LF and
 * other control characters, so no input can add a header or a line
 * longer than RFC 5322 allows. The MIME boundary is made unique against
 * the included original.
 */
#ifndef TERN_MAIL_DSN_H
#define TERN_MAIL_DSN_H

#include <stdbool.h>
#include <stddef.h>

struct buf;

#define DSN_FIELD_MAX		900	/* bytes of one field value (reason text, address) */
#define DSN_STATUS_SIZE		16	/* "5.1.1" and its NUL, with room */
#define DSN_DATE_SIZE		64	/* an RFC 5322 date and its NUL */

/* what a notice reports */
enum dsn_kind {
	DSN_FAILURE,			/* Action: failed */
	DSN_DELAY,			/* Action: delayed */
	DSN_SUCCESS,			/* Action: delivered */
};

/* dsn_rcpt - one recipient of the original and what became of it */
struct dsn_rcpt {
	const char *addr;		/* Final-Recipient (rfc822 address) */
	const char *orcpt_type;		/* ORCPT address type, NULL: none */
	const char *orcpt;		/* ORCPT address as received (encoded), NULL: none */
	const char *status;		/* "5.1.1"; NULL or malformed: 5.0.0 / 4.0.0 / 2.0.0 */
	const char *relay;		/* "mx.example.test[127.0.0.2]:25", "local", NULL */
	const char *text;		/* reason text, NULL: none */
	long long last_attempt;		/* unix time, 0: unknown */
};

/* dsn_report - everything a notice says */
struct dsn_report {
	enum dsn_kind kind;
	bool to_postmaster;		/* a double bounce: the notice goes to the postmaster */
	const char *myhostname;		/* Reporting-MTA, From: MAILER-DAEMON@... */
	const char *qid;		/* the original's queue id */
	const char *sender;		/* the original's envelope sender, "" for <> */
	const char *notice_to;		/* who gets the notice (To: header) */
	const char *envid;		/* ENVID as stored (xtext), NULL: none */
	long long arrival;		/* Arrival-Date */
	long long now;			/* Date: and the Message-ID */
	long long retry_until;		/* delayed: Will-Retry-Until, 0: unknown */
	bool smtputf8;			/* the original was SMTPUTF8: RFC 6533 types */
	bool full;			/* orig is the whole message, else its headers only */
	bool cut;			/* headers were cut at the size limit */
	const char *orig;		/* original content (LF line ends) or NULL */
	size_t orig_len;
	const struct dsn_rcpt *rcpts;
	size_t nrcpts;
};

/*
 * dsn_build - append the notice for r to out (CRLF line ends); sets
 * *eight_bit when the notice contains octets above 127 (it must then be
 * submitted as 8BITMIME). Returns 0, or -1 when out's limit is reached.
 */
int dsn_build(const struct dsn_report *r, struct buf *out, bool *eight_bit);

/*
 * dsn_status_fix - status for an Action: status when it is a valid
 * "c.s.d" whose class fits the kind (failed: 5, or 4 for an expired
 * message; delayed: 4; delivered: 2), else the kind's generic code.
 */
void dsn_status_fix(enum dsn_kind kind, const char *status, char *dst, size_t size);

/*
 * dsn_orcpt_text - the Original-Recipient value "type;address" with the
 * address decoded (xtext for rfc822, RFC 6533 forms for utf-8: raw UTF-8
 * when utf8 is set, else utf-8-addr-xtext). A value that does not decode
 * is shown as received. Returns 0, or -1 when dst is too small.
 */
int dsn_orcpt_text(const char *type, const char *orcpt, bool utf8, char *dst, size_t size);

/* dsn_envid_text - ENVID for Original-Envelope-Id: xtext decoded when printable, else as stored */
void dsn_envid_text(const char *envid, char *dst, size_t size);

/* dsn_date - t as an RFC 5322 date in local time ("Tue, 01 Aug 2023 10:00:00 +0200") */
void dsn_date(long long t, char *dst, size_t size);

/*
 * dsn_remote_mta - the host name of a remote relay
 * ("mx.example.test[127.0.0.2]:25" gives "mx.example.test"; a bare
 * "[127.0.0.2]:25" gives "127.0.0.2") into dst; false when relay is not
 * a remote host ("local", "none", "", NULL).
 */
bool dsn_remote_mta(const char *relay, char *dst, size_t size);

/*
 * dsn_smtp_reply - the remote server's reply inside a reason text: the
 * text after "said: " when present, without a trailing " (in reply to
 * ... command)"; else the text itself when it starts with a reply code;
 * NULL when neither (it is not an SMTP reply).
 */
const char *dsn_smtp_reply(const char *text, char *dst, size_t size);

/*
 * A line of a reason file (defer/QID, bounce/QID):
 *	INDEX <TAB> DSN <TAB> unix-time <TAB> relay <TAB> reason text
 * dsn_reason_parse splits line (changed in place; no LF) into *rs,
 * whose pointers point into line. Returns 0, or -1 for a malformed line.
 */
struct dsn_reason {
	long index;
	const char *status;
	long long time;
	const char *relay;
	const char *text;
};
int dsn_reason_parse(char *line, struct dsn_reason *rs);

#endif
