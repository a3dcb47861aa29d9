/*
 * sendmail.h - what the parts of sendmail(1) share: the run (options
 * and configuration), one message's envelope and content, and the entry
 * points of each mode.
 *
 *	sendmail.c		options, modes, the mail mode itself
 *	sendmail_msg.c		reading a message, headers: -t, Bcc, From
 *	sendmail_submit.c	hand-off: public/pickup, else terndrop to maildrop
 *	sendmail_smtp.c		-bs: an SMTP server on stdin/stdout
 *	sendmail_verify.c	-bv: is an address deliverable?
 *	sendmail_admin.c	-bp (mailq) and -bi (newaliases)
 *
 * sendmail runs with the caller's privileges only; nothing it reads is
 * trusted by anyone else (pickup learns the uid from the kernel, and
 * terndrop checks what it is given). Exit codes are from sysexits.h.
 */
#ifndef TERN_CLI_SENDMAIL_H
#define TERN_CLI_SENDMAIL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/buf.h"
#include "mail/config.h"
#include "mail/qid.h"

/* the most recipients one message may have: one BEGIN frame must hold them */
#define SENDMAIL_RCPT_MAX	1000
#define SENDMAIL_NAME_MAX	512	/* -F full name, bytes */

enum sendmail_mode {
	SENDMAIL_MAIL,			/* -bm: read a message, send it */
	SENDMAIL_SMTP,			/* -bs */
	SENDMAIL_VERIFY,		/* -bv */
	SENDMAIL_QUEUE,			/* -bp, mailq */
	SENDMAIL_ALIASES,		/* -bi, newaliases */
};

/* sendmail - one run: the command line and the configuration */
struct sendmail {
	enum sendmail_mode mode;
	const char *config_dir;		/* -C/-c, or NULL: config_dir_default() */
	struct config cfg;
	bool extract;			/* -t */
	bool ignore_dots;		/* -i, -oi */
	bool verbose;			/* -v */
	const char *sender_arg;		/* -f, -r */
	const char *full_name;		/* -F, else $NAME; NULL for none */
	unsigned notify;		/* -N: CLEANUP_NOTIFY_* bits, 0 = not given */
	const char *ret;		/* -R: "FULL", "HDRS" or NULL */
	const char *envid;		/* -V */
	bool body_8bit;			/* -B 8BITMIME */
	char **rcpt_args;		/* recipients on the command line */
	int nrcpt_args;
	long long size_limit;		/* content bytes: maildrop_content_limit(message_size_limit) */
	uid_t uid;			/* the real uid */
	char login[256];		/* its login name */
};

/* sendmail_rcpt - one recipient */
struct sendmail_rcpt {
	char *addr;			/* external form */
	unsigned notify;		/* CLEANUP_NOTIFY_*, 0 = not given */
	char *orcpt;			/* "type;xtext" as given, or NULL */
};

/* sendmail_env - the envelope of one message */
struct sendmail_env {
	char *sender;			/* external form; "" for <> */
	struct sendmail_rcpt *rcpts;	/* no address twice */
	size_t nrcpts;
	size_t cap;
	unsigned flags;			/* CLEANUP_FLAG_* */
	char *ret;			/* "FULL", "HDRS" or NULL */
	char *envid;			/* or NULL */
};

/* sendmail_msg - one message's content as cleanup wants it: CRLF lines */
struct sendmail_msg {
	struct buf content;
	bool too_big;			/* a line did not fit the size limit */
	bool eight_bit;			/* a byte 0x80 or above */
};

/* sendmail_result - what became of a submission */
struct sendmail_result {
	char queue_id[QID_SIZE + 16];	/* cleanup's queue id, or "maildrop" */
	int code;			/* SMTP reply code: 250, or cleanup's error */
	char dsn[16];			/* "2.0.0", "5.1.1" ... */
	char text[512];			/* human text, no code */
};

/* sendmail.c */
void sendmail_env_init(struct sendmail_env *env);
void sendmail_env_free(struct sendmail_env *env);
/*
 * sendmail_env_rcpt - add one recipient (external form) with its DSN
 * parameters, unless the address is there already; -1 when full
 */
int sendmail_env_rcpt(struct sendmail_env *env, const char *addr, unsigned notify, const char *orcpt);
/*
 * sendmail_canon - an address as sendmail takes it (a bare local part
 * gets "@myorigin"), in external form into out[size]; *utf8 set when it
 * holds non-ASCII. 0, or -1 with a reason in err.
 */
int sendmail_canon(const struct sendmail *sm, const char *text, char *out, size_t size, bool *utf8,
		   char *err, size_t errlen);
/*
 * sendmail_rcpt_list - the address list text (a command-line argument, a
 * header value) into env, canonical. EX_OK, or EX_DATAERR (bad address,
 * err says which) or EX_USAGE (too many recipients).
 */
int sendmail_rcpt_list(const struct sendmail *sm, struct sendmail_env *env, const char *text,
		       size_t len, char *err, size_t errlen);

/* sendmail_msg.c */
void sendmail_msg_init(struct sendmail_msg *m, size_t limit);
void sendmail_msg_free(struct sendmail_msg *m);
/* sendmail_msg_line - append one input line (without its line end): stray CR become spaces */
void sendmail_msg_line(struct sendmail_msg *m, const char *p, size_t n);
/*
 * sendmail_msg_read - the message on fd (LF or CRLF lines; a lone "."
 * ends it unless ignore_dots). EX_OK, EX_DATAERR (too large) or EX_IOERR.
 */
int sendmail_msg_read(struct sendmail_msg *m, int fd, bool ignore_dots, char *err, size_t errlen);
/*
 * sendmail_msg_finish - the header fix-ups of local submission: drop a
 * leading "From " line, take the recipients from To/Cc/Bcc (or
 * Resent-To/Cc/Bcc) when extract, remove Bcc/Resent-Bcc, add a From:
 * header when there is none, separate header and body; set the 8BITMIME
 * and SMTPUTF8 flags. EX_OK, or an exit code with err.
 */
int sendmail_msg_finish(const struct sendmail *sm, struct sendmail_msg *m, struct sendmail_env *env,
			bool extract, char *err, size_t errlen);

/* sendmail_submit.c */
/*
 * sendmail_submit - hand the message to tern: to the pickup service, or
 * when that is not possible now, spooled to the maildrop by terndrop.
 * Returns the exit code (EX_OK: durable) and fills res.
 */
int sendmail_submit(const struct sendmail *sm, const struct sendmail_env *env,
		    const struct sendmail_msg *m, struct sendmail_result *res);

/* sendmail_smtp.c */
int sendmail_smtp(struct sendmail *sm);
/* sendmail_verify.c */
int sendmail_verify(struct sendmail *sm);
/* sendmail_admin.c */
int sendmail_admin_mailq(struct sendmail *sm);
int sendmail_admin_newaliases(struct sendmail *sm);

#endif
