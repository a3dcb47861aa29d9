/*
 * mbox - append one queued message to an mbox file, the way Postfix's
 * local does: "From sender date" line, the caller's prefix (Return-Path:,
 * Delivered-To:), the content with lines that start with "From " quoted
 * as ">From ", an empty line after the message.
 *
 * Locking: a dot-lock (FILE.lock, made with O_EXCL; one older than
 * MBOX_LOCK_STALE seconds is removed) when the directory lets the caller
 * create it, and always an fcntl write lock on the file; both are waited
 * for at most MBOX_LOCK_WAIT seconds (then 4.2.0, temporary).
 *
 * Safety: the file is opened with O_NOFOLLOW and must be a regular file
 * with one link, owned by the caller (or new; created mode 0600). On any
 * failure after writing started the file is truncated back to its old
 * size, so a half message never stays. Success means written and
 * fsync'ed. A size limit > 0 that the file would pass is 4.2.2 "mailbox
 * full". All failures are temporary (-1 with res, as maildir.h).
 */
#ifndef TERN_MAIL_MBOX_H
#define TERN_MAIL_MBOX_H

#include <stddef.h>

#include "mail/maildir.h"
#include "mail/qfile.h"

#define MBOX_LOCK_WAIT	30		/* seconds to wait for a lock */
#define MBOX_LOCK_STALE	300		/* seconds after which a dot-lock is stale */

/*
 * mbox_deliver - append qf's content to the mbox path, with envelope
 * sender (for the From_ line; "" becomes MAILER-DAEMON) and prefix.
 * 0, or -1 with res.
 */
int mbox_deliver(const char *path, struct qfile *qf, const char *sender, const char *prefix,
		 size_t prefix_len, long long limit, struct maildir_result *res);

/*
 * mbox_deliver_flags - mbox_deliver with flags: MBOX_DOTLOCK_HELD means
 * the caller holds path.lock already (local takes the dot-lock of a
 * mail_spool_directory mbox as root, where the user may not create
 * files, and delivers as the user), so only the fcntl lock is taken.
 */
#define MBOX_DOTLOCK_HELD	(1 << 0)
int mbox_deliver_flags(const char *path, struct qfile *qf, const char *sender, const char *prefix,
		       size_t prefix_len, long long limit, int flags, struct maildir_result *res);

/*
 * mbox_dotlock_take - create path.lock (waits as mbox_deliver does): 1
 * locked, 0 the directory does not let the caller create it (deliver
 * without), -1 with res (4.2.0) on a timeout or another error.
 * mbox_dotlock_drop removes a lock that mbox_dotlock_take made.
 */
int mbox_dotlock_take(const char *path, struct maildir_result *res);
void mbox_dotlock_drop(const char *path);

struct buf;
/* mbox_from_line - append "From sender date\n" (the mbox envelope line) to out */
void mbox_from_line(const char *sender, struct buf *out);

/*
 * mbox_quote - the From_ quoting state machine, exposed for tests: feed
 * n bytes, quoted output appended to out. st starts zeroed and carries
 * across calls; mbox_quote_end flushes what is pending.
 */
struct mbox_quote {
	int bol;			/* 0 at a line start (after init), 1 inside a line */
	size_t npend;			/* bytes of "From " matched at the line start */
};

struct buf;
void mbox_quote(struct mbox_quote *st, const char *p, size_t n, struct buf *out);
void mbox_quote_end(struct mbox_quote *st, struct buf *out);

#endif
