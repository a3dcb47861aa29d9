/*
 * cleanup - what the modules of the cleanup daemon share (qmgr/cleanup*.c).
 *
 * cleanup is the only writer of queue files. A source (smtpd, pickup,
 * bounce) streams each message over the protocol of mail/cleanup_proto.h;
 * cleanup validates the envelope, creates the queue file, prepends the
 * Received: header, copies the content (CRLF to LF, headers inspected),
 * commits it (file fsync, complete bit, directory fsync - grouped over
 * several messages by cleanup_commit) and only then answers "ok".
 *
 * Modules:
 *	cleanup.c		main: service, connections, protocol states
 *	cleanup_env.c		the BEGIN frame: validate, write to the file
 *	cleanup_header.c	content: line ends, header inspection
 *	cleanup_received.c	text cleanup adds: Received:, Message-ID:, Date:
 *	cleanup_msg.c		one message from BEGIN to RESULT; reply table;
 *				the header held back for screening
 *	cleanup_checks.c	header_checks and body_checks with their actions
 *	cleanup_screen.c	From: screening, address masquerading
 *	cleanup_commit.c	fsync threads and the group directory fsync
 *
 * Everything but cleanup.c is free of the event loop's connection
 * handling, so unit tests (t/unit/test_cleanup_*.c) can drive it.
 */
#ifndef TERN_QMGR_CLEANUP_H
#define TERN_QMGR_CLEANUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>

#include "base/attr.h"
#include "base/buf.h"
#include "mail/header_checks.h"
#include "mail/qfile.h"

struct event_base;
struct resolve;
struct tables;

/* hard limits of cleanup itself (qfile.h has the file format's) */
#define CLEANUP_LINE_RFC	998		/* RFC 5322 line limit; longer header lines are counted */
#define CLEANUP_NAME_PEEK	128		/* bytes of a line start inspected for a field name */
#define CLEANUP_MSGID_MAX	998		/* Message-ID value kept for the log */
#define CLEANUP_HOST_MAX	255		/* myhostname, helo, client name */
#define CLEANUP_REPLY_TEXT_MAX	256
#define CLEANUP_HEADER_KEEP_MAX	(256 * 1024)	/* header bytes held back for screening, then written */
#define CLEANUP_FIELD_MAX	(1024 * 1024)	/* one logical header field (all its lines) */
#define CLEANUP_BODY_LINE_MAX	8192		/* body_checks see longer lines in pieces this long */
#define CLEANUP_LOG_LINE_MAX	256		/* bytes of a matched line shown in the log */

/* what became of a message, and the reply a source gets for it */
enum cleanup_stat {
	CLEANUP_STAT_OK = 0,
	CLEANUP_STAT_WRITE,		/* 451 4.3.0 queue file write error */
	CLEANUP_STAT_SPACE,		/* 452 4.3.1 no space (ENOSPC, EDQUOT) */
	CLEANUP_STAT_SIZE,		/* 552 5.3.4 message_size_limit */
	CLEANUP_STAT_HEADER,		/* 552 5.3.4 a header line the file cannot hold */
	CLEANUP_STAT_HOPS,		/* 554 5.4.6 hopcount_limit */
	CLEANUP_STAT_ENVELOPE,		/* 554 5.5.4 malformed envelope attributes */
	CLEANUP_STAT_NORCPT,		/* 554 5.5.1 no recipients */
	CLEANUP_STAT_RCPTS,		/* 552 5.5.3 too many recipients */
	CLEANUP_STAT_SENDER,		/* 553 5.1.7 bad sender address */
	CLEANUP_STAT_RCPT,		/* 553 5.1.3 bad recipient address */
	CLEANUP_STAT_CONTENT,		/* 550 5.7.1 header_checks, body_checks, From: screening (own text) */
	CLEANUP_STAT_TEMP,		/* 451 4.3.5 a check table failed for now */
};

/* cleanup_reply - an SMTP reply for the RESULT frame */
struct cleanup_reply {
	int code;			/* 0 for ok */
	const char *dsn;		/* "4.3.1" */
	char text[CLEANUP_REPLY_TEXT_MAX];
};

/* cleanup_stat_reply - fill reply for stat, with detail appended (NULL: none) */
void cleanup_stat_reply(enum cleanup_stat stat, const char *detail, struct cleanup_reply *reply);
/* cleanup_stat_of_error - the status for a failed qfile call */
enum cleanup_stat cleanup_stat_of_error(const struct qfile_error *err);

/* from_screen_action */
enum cleanup_from_screen {
	CLEANUP_FROM_SCREEN_NONE = 0,
	CLEANUP_FROM_SCREEN_REWRITE,
	CLEANUP_FROM_SCREEN_TAG,
	CLEANUP_FROM_SCREEN_REJECT,
};

/* masquerade_classes */
#define CLEANUP_MASQ_ENV_SENDER	(1u << 0)	/* envelope_sender */
#define CLEANUP_MASQ_HDR_SENDER	(1u << 1)	/* header_sender */
#define CLEANUP_MASQ_HDR_RCPT	(1u << 2)	/* header_recipient */

/* cleanup_cfg - the parameters every message needs; filled in main */
struct cleanup_cfg {
	const char *myhostname;
	long long hopcount_limit;
	long long size_limit;		/* content bytes; 0: none */
	long long rcpt_limit;
	struct qfile_dir *incoming;	/* where new files go */
	struct qfile_dir *hold;		/* CLEANUP_FLAG_HOLD */
	/* content screening (all off when zero) */
	struct tables *header_checks;	/* header_checks, or NULL */
	struct tables *body_checks;	/* body_checks, or NULL */
	long long body_checks_size_limit;	/* body bytes checked; 0: all */
	enum cleanup_from_screen from_screen;
	const char *from_screen_tag;
	struct resolve *resolve;	/* tells local recipients (From: screening); NULL: none are */
	char *const *masq_domains;	/* NULL-terminated, or NULL */
	char *const *masq_exceptions;	/* NULL-terminated, or NULL */
	unsigned masq_classes;		/* CLEANUP_MASQ_* */
	const char *country_header;	/* "X-Origin-Country", or NULL/"" for none */
};

/*
 * cleanup_env - the envelope of a BEGIN frame, as pointers into the frame
 * (valid only while the frame is). cleanup_env_parse checks every field
 * against the limits the queue file and cleanup_proto.h set; on a problem
 * it returns the status to reply with and a detail text.
 */
struct cleanup_env {
	const struct attr_list *frame;
	const char *sender;
	size_t nrcpt;
	const char *first_rcpt;
	size_t norcpt, nnotify;		/* 0, or nrcpt */
	const char *ret, *envid;
	int64_t flags, size;
	const char *client_name, *client_addr, *helo, *protocol;
	const char *tls_proto, *tls_cipher, *auth_user, *session, *service;
	const char *dsn_kind;		/* bounce's notices: "failure", "delay", ... */
	const char *auth_method;	/* SASL mechanism of auth_user ("PLAIN"), or NULL */
	const char *client_country;	/* "JP" or "--" from the source, or NULL */
	int64_t client_port, tls_bits, origin_uid;
	bool have_port, have_bits, have_origin_uid;
	bool local;			/* no client address: local submission or internal */
};

enum cleanup_stat cleanup_env_parse(const struct attr_list *frame, long long rcpt_limit,
				    struct cleanup_env *env, char *detail, size_t size);
/* cleanup_env_write - the envelope records of a new queue file; 0 or -1 (see the writer) */
int cleanup_env_write(const struct cleanup_env *env, uid_t peer_uid, struct qfile_writer *w);

/*
 * cleanup_hdr - the content filter. Input: the content as the source
 * sends it (CRLF line ends), in pieces of any size. Output, through out:
 * the same lines with LF line ends; a stray CR or LF (not part of a CRLF)
 * becomes a space, a last line without a line end gets one. It finds the
 * end of the header section (an empty line, or the first line that is
 * not a header field or its continuation: then an empty line is inserted
 * so that the stored message has a well-formed header), calls header_end
 * there (cleanup inserts Message-ID: and Date:), and counts Received:
 * fields, keeps the first Message-ID: value, notes Date:, and counts
 * header lines longer than CLEANUP_LINE_RFC. Lines are never split or cut;
 * a header line too long for the queue file (QFILE_HEADER_LINE_MAX) stops
 * the filter with too_long set.
 */
struct cleanup_hdr {
	int (*out)(void *ctx, const char *p, size_t n);
	int (*header_end)(void *ctx);
	void *ctx;
	/* results */
	long received;			/* Received: fields */
	bool saw_msgid, saw_date;
	char msgid[CLEANUP_MSGID_MAX + 1];	/* first Message-ID: value, unfolded */
	size_t msgid_len;
	long long long_lines;		/* header lines over CLEANUP_LINE_RFC */
	long long stray;		/* stray CR or LF replaced by a space */
	bool too_long;			/* a header line passed QFILE_HEADER_LINE_MAX */
	bool in_header;
	/* state (private) */
	bool cr_pending;		/* input ended in CR */
	bool line_start;		/* at the start of a line */
	bool first_line;		/* no header field seen yet */
	bool in_msgid;			/* inside the first Message-ID: field */
	int peek_state;			/* classifying the line start */
	size_t line_len;		/* bytes of the current line so far */
	size_t peek_len;
	char peek[CLEANUP_NAME_PEEK];
};

void cleanup_hdr_init(struct cleanup_hdr *h, int (*out)(void *, const char *, size_t),
		      int (*header_end)(void *), void *ctx);
/* cleanup_hdr_feed - filter n bytes; 0, or -1 (out or header_end failed, or too_long) */
int cleanup_hdr_feed(struct cleanup_hdr *h, const char *p, size_t n);
/* cleanup_hdr_finish - end of content: close the last line and the header; 0 or -1 */
int cleanup_hdr_finish(struct cleanup_hdr *h);

/* what a Received: header is made of */
struct cleanup_rcv {
	const char *myhostname;
	const char *qid;
	const char *helo, *client_name, *client_addr;	/* NULL or "" when unknown */
	const char *protocol;
	const char *tls_proto, *tls_cipher;
	long long tls_bits;		/* 0: unknown */
	const char *rcpt;		/* the only recipient, or NULL */
	bool local;			/* no client: "by host (tern, from userid N)" */
	bool have_uid;
	long long uid;
	bool utf8;			/* SMTPUTF8: 8-bit names may stay */
	long long sec;			/* arrival time */
};

/* cleanup_rcv_format - the folded Received: header with LF line ends; -1 if cut */
int cleanup_rcv_format(const struct cleanup_rcv *r, char *buf, size_t size);
/* cleanup_date_format - RFC 5322 date-time of sec in local time; -1 if cut */
int cleanup_date_format(long long sec, char *buf, size_t size);

/*
 * cleanup_msg - one message. cleanup_msg_begin parses the envelope and
 * creates the file (or fails: stat set, no file); content and end follow;
 * a message whose stat is not OK swallows further content and answers
 * with its reply after end. A message ready to commit has w set.
 */
struct cleanup_hline {
	char *text;			/* the field with its LF line ends, NUL-terminated */
	size_t len;
};

struct cleanup_msg {
	const struct cleanup_cfg *cfg;
	enum cleanup_stat stat;
	struct cleanup_reply reply;
	char detail[QFILE_RECORD_MAX / 8];
	char reject_dsn[HC_DSN_SIZE];	/* CLEANUP_STAT_CONTENT: the reply's enhanced code */
	struct qfile_writer *w;
	struct qfile_dir *dir;
	char qid[QID_SIZE];
	char *sender;			/* as queued (masqueraded) */
	size_t nrcpt;
	bool add_missing;		/* Message-ID:, Date: */
	bool hold;			/* the file is (or goes) in hold/ */
	/* for screening and its log lines (copied from the envelope) */
	char *first_rcpt, *client_name, *client_addr, *helo, *protocol;
	bool authenticated;		/* the source gave a SASL identity */
	bool local_rcpt;		/* a recipient is local (mydestination, virtual domains) */
	char country[3];		/* client country from the source, or "" */
	bool discard;			/* DISCARD: answer ok, keep no file */
	bool hold_wanted;		/* HOLD: move to hold/ before the commit */
	bool moved_to_hold;		/* the file was renamed from incoming/ to hold/ */
	bool checks_done;		/* DISCARD or REJECT: no more checks */
	/* the header, held back until its end (or CLEANUP_HEADER_KEEP_MAX) */
	bool header_done;
	bool separator_next;		/* the next LF is the empty line after the header */
	struct buf field;		/* the logical header field being collected */
	bool field_eol;			/* field ends in LF: a line start follows */
	struct cleanup_hline *hlines;
	size_t nhlines, hlines_cap, hlines_bytes;
	/* body_checks */
	bool body_checking;
	struct buf bline;		/* the body line being collected */
	long long body_seen;		/* body bytes given to body_checks */
	long long arrival;
	long long in_bytes;		/* content bytes from the source */
	long long out_bytes, out_lines;	/* content bytes and LFs in the file */
	struct cleanup_hdr hdr;
	uid_t peer_uid;
};

struct cleanup_msg *cleanup_msg_begin(const struct cleanup_cfg *cfg, const struct attr_list *frame,
				      uid_t peer_uid);
/* cleanup_msg_content - a piece of content (ignored once the message failed) */
void cleanup_msg_content(struct cleanup_msg *m, const void *p, size_t n);
/* cleanup_msg_end - end of content: true when the file is ready to commit */
bool cleanup_msg_end(struct cleanup_msg *m);
/* cleanup_msg_fail - give up (stat, detail): the file is removed */
void cleanup_msg_fail(struct cleanup_msg *m, enum cleanup_stat stat, const char *detail);
/* cleanup_msg_committed - commit result (err NULL: durable): log, reply */
void cleanup_msg_committed(struct cleanup_msg *m, const struct qfile_error *err);
/* cleanup_msg_free - release; an uncommitted file is removed */
void cleanup_msg_free(struct cleanup_msg *m);
/* cleanup_msg_size - the message size in SMTP terms (CRLF), as logged */
long long cleanup_msg_size(const struct cleanup_msg *m);
/* cleanup_msg_reject - refuse with 550 dsn text (content screening); the caller logged why */
void cleanup_msg_reject(struct cleanup_msg *m, const char *dsn, const char *text);
/* cleanup_msg_keep_header - add a header field (LF line ends) to those held back; 0 or -1 */
int cleanup_msg_keep_header(struct cleanup_msg *m, const char *text, size_t len);
/* cleanup_msg_write - content for the file, after every screen; 0 or -1 (message failed) */
int cleanup_msg_write(struct cleanup_msg *m, const char *p, size_t n);

/*
 * cleanup_checks - header_checks and body_checks. Each gets one line
 * in a buffer (header: the whole field with its LF line ends; body: the
 * line without its LF) and returns 1 to write the line (REPLACE may have
 * changed the buffer), 0 to drop it (IGNORE), -1 when the message failed
 * (REJECT, or a table error). PREPEND output, DISCARD and HOLD go to m;
 * every action is logged in Postfix's shape.
 */
int cleanup_check_header(struct cleanup_msg *m, struct buf *field);
int cleanup_check_body(struct cleanup_msg *m, struct buf *line);
/* cleanup_check_log - "QID: ACTION: WHAT LINE from CLIENT; from=<> to=<> ...: TEXT" */
void cleanup_check_log(const struct cleanup_msg *m, const char *action, const char *what,
		       const char *line, size_t len, const char *text);

/*
 * cleanup_screen - From: screening and masquerading over the held-back
 * header (m->hlines) at its end: -1 when the message was refused.
 * cleanup_screen_field masquerades the addresses of one field as it is
 * written (by masquerade_classes); it returns the new text in out, or 0
 * when the field stays as it is. cleanup_masq_addr gives the
 * masqueraded form of one address in out (0: unchanged).
 */
int cleanup_screen_header(struct cleanup_msg *m);
int cleanup_screen_field(const struct cleanup_cfg *cfg, const char *text, size_t len, struct buf *out);
int cleanup_masq_addr(const struct cleanup_cfg *cfg, const char *addr, size_t len, struct buf *out);
/* cleanup_field_is - the field in text has this name (any case) */
bool cleanup_field_is(const char *text, size_t len, const char *name);

/*
 * cleanup_commit - makes finished files durable without blocking the
 * event loop. Worker threads each run qfile_commit (write the rest, mark
 * complete, fsync the file) for one job; then the worker, unless another
 * one is at it already, takes every job committed so far and runs one
 * qfile_dir_sync per directory for all of them (group commit: the fsync
 * starts after each of their commits finished, as qfile.h requires), and
 * hands them back to the event loop, where done runs for each and then
 * batch_end once. A job whose commit or directory fsync failed has its
 * file removed and err set.
 */
struct cleanup_job {
	struct qfile_writer *w;		/* NULL after a failure removed it */
	struct qfile_dir *dir;
	bool failed;
	struct qfile_error err;
	void (*done)(struct cleanup_job *job);
	void *ctx;
	bool synced;			/* private: its directory fsync ran */
	struct cleanup_job *next;	/* private */
};

struct cleanup_commit;

struct cleanup_commit *cleanup_commit_new(struct event_base *base, int threads,
					  void (*batch_end)(void *), void *arg);
void cleanup_commit_submit(struct cleanup_commit *cc, struct cleanup_job *job);
/* cleanup_commit_pending - jobs submitted whose done has not run yet */
size_t cleanup_commit_pending(const struct cleanup_commit *cc);
/* cleanup_commit_free - stop the threads (after all jobs are done) and release */
void cleanup_commit_free(struct cleanup_commit *cc);

#endif
