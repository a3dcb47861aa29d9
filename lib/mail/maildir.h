/*
 * maildir - deliver one queued message into a Maildir (the one writer
 * local and virtual share), and append one to an mbox file (mbox.h).
 *
 * maildir_deliver: the Maildir (DIR/tmp, DIR/new, DIR/cur) is created
 * when it turns out to be missing (mode 0700, missing parents too, as the
 * caller, who is already the mailbox owner); the message is written to
 * tmp/NAME as the caller's prefix (Return-Path:, Delivered-To: ...)
 * followed by the queue file's content byte for byte (LF line ends),
 * fsync'ed, renamed to new/NAME without replacing an existing file
 * (renameat2 RENAME_NOREPLACE; link and unlink where the file system
 * lacks it), and new/ fsync'ed. NAME is
 * "<sec>.M<usec>P<pid>Q<count>.<host>,S=<size>" (size in bytes, as
 * Dovecot and Courier read it). Only then is the delivery done.
 *
 * Quota: with a limit > 0, the Maildir's size (the sum of S= of the
 * names in new/ and cur/, stat for names without it) plus the message
 * must not pass it: otherwise nothing is written and the error is the
 * temporary 4.2.2 "mailbox full".
 *
 * Failures are all temporary (a mailbox problem is for the owner to fix,
 * the mail waits): -1 with res->dsn ("4.2.2", "4.3.0", "4.2.0") and a
 * one-line res->text; nothing is left in tmp/.
 */
#ifndef TERN_MAIL_MAILDIR_H
#define TERN_MAIL_MAILDIR_H

#include <stddef.h>

#include "mail/qfile.h"

#define MAILDIR_TEXT_MAX	300

/* maildir_result - why a delivery failed */
struct maildir_result {
	char dsn[16];			/* "4.2.2" */
	char text[MAILDIR_TEXT_MAX];	/* "mailbox full: ..." */
};

/*
 * maildir_deliver - deliver qf's content, after prefix[prefix_len], into
 * the Maildir dir (with or without a trailing '/'); limit 0: no quota.
 * 0, or -1 with res. The content stream of qf is rewound first.
 *
 * once_key (NULL: none) makes the delivery idempotent: the agents pass
 * the queue id and the recipient's index ("QIDRn"), and NAME becomes
 * "<arrival>.T<once_key>.<host>,S=<size>", the same on every attempt. A
 * delivery made again because the agent died after the link but before
 * it recorded the recipient's slot finds new/NAME (or loses the link
 * race with EEXIST) and returns 0 with res->text "already delivered"
 * instead of adding a second copy. Only new/ is looked at: a copy a
 * mail reader already moved to cur/ in that window is not seen.
 */
int maildir_deliver(const char *dir, struct qfile *qf, const char *prefix, size_t prefix_len,
		    long long limit, const char *once_key, struct maildir_result *res);

/* maildir_size - bytes of the messages in dir/new and dir/cur; -1 on error */
long long maildir_size(const char *dir);

/* maildir_create - make dir, dir/tmp, dir/new, dir/cur (0700) and missing parents; 0 or -1 */
int maildir_create(const char *dir);

#endif
