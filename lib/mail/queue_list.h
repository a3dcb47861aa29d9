/*
 * queue_list - walk the mail queue and list it: what "mailq" (sendmail
 * -bp) prints, and the walk ternqueue builds its other listings on.
 *
 * The walk visits, in this order, the queue directories incoming,
 * active, deferred, hold and timed under the queue directory, reading
 * each queue file's envelope with qfile_open, and then maildrop (local
 * submissions not picked up yet), reading each file's envelope frame.
 * Within a directory, files come in name order, which for queue ids is
 * arrival order. Files that are still being written (a queue file
 * without its complete mark, a maildrop "tmp." file) and names that are
 * not queue ids are skipped; a queue directory that does not exist is
 * skipped; a file that vanishes between the directory read and the open
 * (qmgr moved it) is skipped. A file that cannot be read is still listed,
 * with the reason.
 *
 * Delay reasons: for a queue file with a recipient that was deferred
 * (state T, or any attempts), the walk reads defer/QID (deliver_proto.h:
 * "INDEX TAB DSN TAB time TAB relay TAB text", the last line for an
 * index wins; at most QUEUE_LIST_REASONS_MAX bytes) and gives each
 * recipient its last reason text in item->reasons. Only those files are
 * opened, so a listing of a large queue costs one envelope read per
 * message and one more open per deferred message.
 *
 * Permissions: the queue directories belong to mail_owner, mode 0700, so
 * only root and mail_owner can list them; anybody else gets -1 with
 * errno EACCES (a later listing service will serve ordinary users).
 *
 * The mailq format is Postfix's (showq), so scripts that read mailq
 * output keep working: a heading, then per message the queue id with a
 * status mark ('*' active, '!' on hold, '#' timed: held for the recall
 * window or Deferred-Delivery; ' ' otherwise), the size, the arrival
 * time and the sender ("MAILER-DAEMON" for <>), then the recipients
 * still to do, each under a "(reason)" line when delivery was deferred,
 * an empty line, and a summary "-- N Kbytes in M Requests.", or "Mail
 * queue is empty".
 */
#ifndef TERN_MAIL_QUEUE_LIST_H
#define TERN_MAIL_QUEUE_LIST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "base/attr.h"
#include "mail/qfile.h"

/* queue_list_item - one message found by the walk; valid during the callback */
struct queue_list_item {
	const char *queue;		/* "incoming", ..., "timed", "maildrop" */
	const char *id;			/* the file name: the queue id */
	char mark;			/* mailq's status mark, see above */
	long long size;			/* content bytes (maildrop: file bytes) */
	long long arrival;		/* seconds since the epoch */
	const struct qfile *qf;		/* a queue file's envelope, or NULL */
	const struct attr_list *begin;	/* a maildrop file's envelope frame, or NULL */
	const char *error;		/* not NULL: unreadable, and why (qf, begin NULL) */
	char *const *reasons;		/* qf: per recipient index, the last delay reason, or NULL */
};

#define QUEUE_LIST_REASONS_MAX	(1024 * 1024)	/* bytes of defer/QID read */

/* the queue directories listed, in order ("incoming" ... "timed", "maildrop") */
extern const char *const queue_list_queue_names[];
extern const size_t queue_list_queue_count;

/* queue_list_domain - the domain of addr (after the last '@'), "" when none */
const char *queue_list_domain(const char *addr);

/* the callback: return 0 to go on, anything else stops the walk and is returned */
typedef int queue_list_fn(const struct queue_list_item *item, void *ctx);

/*
 * queue_list_walk - call fn for every message under queue_dir. Returns
 * 0, fn's non-zero value, or -1 with errno (EACCES: not allowed to list,
 * ENOENT: no queue directory) and a reason in err[errlen].
 */
int queue_list_walk(const char *queue_dir, queue_list_fn *fn, void *ctx, char *err, size_t errlen);

/*
 * queue_list_find - call fn for the message named id (a queue id) in
 * whichever listed queue holds it. Returns as queue_list_walk, or 1 when
 * no queue holds it.
 */
int queue_list_find(const char *queue_dir, const char *id, queue_list_fn *fn, void *ctx, char *err,
		    size_t errlen);

/*
 * queue_list_mailq - print the queue in the mailq format to out. Returns
 * the number of messages, or -1 as queue_list_walk (nothing printed).
 */
long queue_list_mailq(FILE *out, const char *queue_dir, char *err, size_t errlen);

/*
 * queue_list_mailq_ids - the same for the messages ids[0..nids-1] only
 * (nids 0: the whole queue); ids no queue holds are left out and counted
 * in *missing (may be NULL).
 */
long queue_list_mailq_ids(FILE *out, const char *queue_dir, char *const *ids, size_t nids,
			  size_t *missing, char *err, size_t errlen);

/*
 * queue_list_authorized - may the user with this real uid list the queue?
 * root and mail_owner always; others when users (authorized_mailq_users,
 * NULL-terminated) holds "static:anyone" or their user name.
 */
bool queue_list_authorized(char *const *users, uid_t uid, const char *mail_owner);

/*
 * queue_list_trigger - send a wake-up request ("F", "F site", "A", "W":
 * qmgr(8)) to queue_dir/public/qmgr. Returns 0, or -1 with a reason.
 */
int queue_list_trigger(const char *queue_dir, const char *request, char *err, size_t errlen);

#endif
