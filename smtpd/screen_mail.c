/*
 * screen_mail - what the screen service does with mail: notices to the
 * postmaster (through private/cleanup, null sender, like bounce's
 * notices) and the holding and releasing of a frozen account's queued
 * messages.
 *
 * Holding: the queue is walked (queue_list_walk: incoming, active,
 * deferred, timed); every complete queue file whose sasl_username
 * attribute is the account is moved to hold/ with one rename that never
 * replaces (renameat2 RENAME_NOREPLACE), the way ternsuper -h does. A
 * file in active/ is qmgr's: screen asks qmgr on private/qmgr-control
 * (qmgr_proto.h; screen runs as mail_owner, which qmgr accepts) and qmgr
 * holds it at once or when the delivery under way ends. When qmgr does
 * not answer, an active file that no delivery agent has locked is moved
 * by screen itself. Both directories are fsync'ed after the moves.
 * Releasing moves the named files that are still in hold/ to deferred/
 * with the modification time now (due at once) and wakes qmgr ("A").
 *
 * Both run inside the screen event loop and block it: holding costs one
 * envelope read per queued message, a notice one cleanup round trip
 * bounded by timeout_ms. Freezing is rare, so this is the known
 * compromise; requests that arrive meanwhile wait.
 *
 * Failures are logged with the queue id and the step; nothing here
 * stops the service.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/buf.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/cleanup_submit.h"
#include "mail/deliver_proto.h"
#include "mail/qfile.h"
#include "mail/qid.h"
#include "mail/qmgr_proto.h"
#include "mail/queue_list.h"
#include "screen.h"

#define SCREEN_HOLD_MAX		10000		/* messages held for one account at once */

/* screen_mail_content - the notice as a message with CRLF line ends */
static void screen_mail_content(const struct screen_mail_opts *o, const char *subject,
				const char *body, struct buf *out)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	if (localtime_r(&now, &tm) == NULL || strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S %z", &tm) == 0)
		str_copy(date, "Thu, 01 Jan 1970 00:00:00 +0000", sizeof(date));
	buf_printf(out, "From: Mail Screen <MAILER-DAEMON@%s>\r\nTo: <%s>\r\nSubject: %s\r\n"
		   "Date: %s\r\nMessage-ID: <screen.%lld.%d@%s>\r\nAuto-Submitted: auto-generated\r\n"
		   "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n",
		   o->myhostname, o->recipient, subject, date, (long long) now, (int) getpid(),
		   o->myhostname);
	for (const char *p = body; *p; p++) {
		if (*p == '\n')
			buf_putc(out, '\r');
		buf_putc(out, *p);
	}
	if (out->len < 2 || out->data[out->len - 1] != '\n')
		buf_puts(out, "\r\n");
}

/* screen_mail_notify - one notice to the postmaster through cleanup */
int screen_mail_notify(const struct screen_mail_opts *o, const char *subject, const char *body)
{
	struct buf content;
	struct cleanup_message m = {.sender = "", .rcpt = o->recipient, .flags = CLEANUP_FLAG_8BITMIME,
				    .service = "screen"};
	char err[ATTR_ERR_MAX + 256], qid[QID_SIZE];
	int rc;

	buf_init(&content, 0);
	screen_mail_content(o, subject, body, &content);
	m.data = content.data;
	m.len = content.len;
	if ((rc = cleanup_submit(&m, o->timeout_ms, qid, err, sizeof(err))) < 0)
		msg_warn("notice to the postmaster (%s): %s", subject, err);
	else
		msg_info("%s: notice to <%s>: %s", qid, o->recipient, subject);
	buf_free(&content);
	return rc;
}

/* screen_found - one message of the account, found by the walk */
struct screen_found {
	char queue[16];
	char id[QID_SIZE];
};

/* screen_hold_walk - what the walk collects */
struct screen_hold_walk {
	const char *account;
	struct screen_found *found;
	size_t n, cap;
};

/* screen_hold_visit - queue_list_walk callback: remember the account's messages */
static int screen_hold_visit(const struct queue_list_item *item, void *ctx)
{
	struct screen_hold_walk *w = ctx;

	if (item->qf == NULL || strcmp(item->queue, "hold") == 0 || strcmp(item->queue, "maildrop") == 0)
		return 0;
	for (size_t i = 0; i < item->qf->nattrs; i++) {
		const struct qfile_attr *a = &item->qf->attrs[i];

		if (strcmp(a->name, QFILE_A_SASL_USERNAME) != 0 || strcmp((const char *) a->value, w->account) != 0)
			continue;
		if (w->n == SCREEN_HOLD_MAX)
			return 0;
		if (w->n == w->cap) {
			w->cap = w->cap ? 2 * w->cap : 16;
			w->found = xreallocarray(w->found, w->cap, sizeof(*w->found));
		}
		str_copy(w->found[w->n].queue, item->queue, sizeof(w->found[w->n].queue));
		str_copy(w->found[w->n].id, item->id, sizeof(w->found[w->n].id));
		w->n++;
		break;
	}
	return 0;
}

/* screen_move - rename queue_dir/from/id to queue_dir/to/id, never replacing: 0 or -1 (errno) */
static int screen_move(const char *queue_dir, const char *from, const char *to, const char *id)
{
	char *src = str_dupf("%s/%s/%s", queue_dir, from, id);
	char *dst = str_dupf("%s/%s/%s", queue_dir, to, id);
	int rc = renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE);
	int saved = errno;

	free(src);
	free(dst);
	errno = saved;
	return rc;
}

/* screen_dir_sync - fsync queue_dir/name */
static void screen_dir_sync(const char *queue_dir, const char *name)
{
	char *path = str_dupf("%s/%s", queue_dir, name);
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || fsync(fd) < 0)
		msg_warn("fsync %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	free(path);
}

/* screen_ask_qmgr - ask qmgr to hold active/id: 1 with its result, 0 qmgr did not answer */
static int screen_ask_qmgr(const struct screen_mail_opts *o, const char *id, char *result, size_t len)
{
	char *path = str_dupf("%s/%s", o->queue_dir, QMGR_CTL_SOCKET);
	struct attr_list req, reply;
	const char *status = "", *res = "";
	char err[256];
	int fd, rc = 0;

	if ((fd = ipc_connect_unix(path, o->timeout_ms)) < 0) {
		free(path);
		return 0;
	}
	attr_list_init(&req);
	attr_list_init(&reply);
	attr_add_str(&req, QMGR_CTL_OP, QMGR_CTL_OP_HOLD);
	attr_add_str(&req, QMGR_CTL_QUEUE_ID, id);
	if (ipc_request(fd, &req, &reply, 0, o->timeout_ms, err, sizeof(err)) < 0)
		msg_warn("%s: hold through %s: %s", id, path, err);
	else if (!attr_get_str(&reply, DELIVER_STATUS, &status) || strcmp(status, "ok") != 0
		 || !attr_get_str(&reply, QMGR_CTL_RESULT, &res))
		msg_warn("%s: qmgr refused to hold it", id);
	else
		rc = str_copy(result, res, len) == 0 ? 1 : 0;
	close(fd);
	attr_list_free(&req);
	attr_list_free(&reply);
	free(path);
	return rc;
}

/* screen_unlocked - no delivery agent holds active/id (flock, deliver_agent.h) */
static bool screen_unlocked(const char *queue_dir, const char *id)
{
	char *path = str_dupf("%s/active/%s", queue_dir, id);
	int fd = open(path, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	bool free_to_move = false;

	free(path);
	if (fd < 0)
		return false;
	free_to_move = flock(fd, LOCK_EX | LOCK_NB) == 0;
	close(fd);
	return free_to_move;
}

/* screen_hold_one - put one found message on hold: true when done or promised by qmgr */
static bool screen_hold_one(const struct screen_mail_opts *o, const struct screen_found *f)
{
	char result[32];

	if (strcmp(f->queue, "active") != 0) {
		if (screen_move(o->queue_dir, f->queue, "hold", f->id) == 0) {
			msg_info("%s: placed on hold (frozen account)", f->id);
			return true;
		}
		if (errno != ENOENT) {
			msg_warn("%s: cannot move %s to hold: %s", f->id, f->queue, strerror(errno));
			return false;
		}
		/* qmgr took it meanwhile: it is in active/ now */
	}
	if (screen_ask_qmgr(o, f->id, result, sizeof(result))) {
		if (strcmp(result, QMGR_CTL_ABSENT) != 0) {
			msg_info("%s: placed on hold by qmgr%s (frozen account)", f->id,
				 strcmp(result, QMGR_CTL_DONE) == 0 ? "" : " when its delivery ends");
			return true;
		}
		/* back in deferred/ (or delivered): one more look */
		if (screen_move(o->queue_dir, "deferred", "hold", f->id) == 0) {
			msg_info("%s: placed on hold (frozen account)", f->id);
			return true;
		}
		return false;
	}
	if (screen_unlocked(o->queue_dir, f->id) && screen_move(o->queue_dir, "active", "hold", f->id) == 0) {
		msg_info("%s: placed on hold (frozen account; qmgr did not answer)", f->id);
		return true;
	}
	msg_warn("%s: could not be held: qmgr did not answer and the message is being delivered", f->id);
	return false;
}

/* screen_mail_hold - hold the account's queued messages */
int screen_mail_hold(const struct screen_mail_opts *o, const char *account, char *ids, size_t idslen)
{
	struct screen_hold_walk w = {.account = account};
	char err[512];
	size_t used = 0;
	int held = 0;

	ids[0] = '\0';
	if (queue_list_walk(o->queue_dir, screen_hold_visit, &w, err, sizeof(err)) < 0)
		msg_warn("frozen account %s: cannot walk the queue: %s", account, err);
	for (size_t i = 0; i < w.n; i++) {
		size_t len = strlen(w.found[i].id);

		if (!screen_hold_one(o, &w.found[i]))
			continue;
		held++;
		if (used + len + 2 <= idslen) {
			if (used > 0)
				ids[used++] = ' ';
			memcpy(ids + used, w.found[i].id, len + 1);
			used += len;
		}
	}
	if (w.n > 0) {
		screen_dir_sync(o->queue_dir, "hold");
		screen_dir_sync(o->queue_dir, "incoming");
		screen_dir_sync(o->queue_dir, "deferred");
		screen_dir_sync(o->queue_dir, "timed");
		screen_dir_sync(o->queue_dir, "active");
	}
	free(w.found);
	return held;
}

/* screen_mail_release - release the named held messages */
int screen_mail_release(const struct screen_mail_opts *o, const char *ids)
{
	char *copy = xstrdup(ids), *rest = copy, *id, err[512];
	int released = 0;

	while ((id = str_token(&rest, " ")) != NULL) {
		char *path;
		int fd;

		if (!qid_valid(id))
			continue;
		path = str_dupf("%s/hold/%s", o->queue_dir, id);
		fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		free(path);
		if (fd < 0)
			continue;		/* released, deleted or never arrived there */
		(void) futimens(fd, NULL);	/* deferred/ files are due at their mtime: now */
		close(fd);
		if (screen_move(o->queue_dir, "hold", "deferred", id) < 0) {
			msg_warn("%s: cannot release from hold: %s", id, strerror(errno));
			continue;
		}
		msg_info("%s: released from hold (account unfrozen)", id);
		released++;
	}
	free(copy);
	if (released > 0) {
		screen_dir_sync(o->queue_dir, "hold");
		screen_dir_sync(o->queue_dir, "deferred");
		if (queue_list_trigger(o->queue_dir, "A", err, sizeof(err)) < 0)
			msg_warn("cannot wake qmgr: %s", err);
	}
	return released;
}
