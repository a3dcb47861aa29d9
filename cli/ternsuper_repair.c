/*
 * ternsuper_repair - ternsuper -s: check the queue's structure and repair
 * what is wrong, safely while tern runs.
 *
 * Directories: each of incoming, active, deferred, hold, timed, corrupt,
 * defer, bounce must exist; a missing one is reported (ternctl check
 * creates it). In incoming, deferred, hold, timed and corrupt:
 *   - a name that is not a queue id, or an entry that is not a regular
 *     file, moves to corrupt/ (incoming's tmp-* files younger than a day
 *     are writers at work and are left alone);
 *   - a file not owned by mail_owner gets that owner and group;
 *   - incoming: a file without the complete mark (mode 0600) older than
 *     a day is a dead writer's and moves to corrupt/;
 *   - deferred, hold, timed: the file must be a valid queue file
 *     (qfile_open, whatever its mode): a bad one moves to corrupt/; one
 *     whose mode is not 0700 (a lost owner-execute bit, or extra bits)
 *     gets mode 0700; one in timed/ without a release_time goes to
 *     deferred/ (wrong directory).
 * active/ belongs to qmgr while it runs: only names that are not queue
 * ids are moved from it. In defer/ and bounce/, a reason file whose
 * message is in no queue directory is an orphan and is removed; each
 * name is looked up in the queue directories twice, in opposite orders,
 * so a message that qmgr moves meanwhile is not mistaken for an orphan.
 * Every repair is logged: "NAME: moved to corrupt: why", "QID: owner
 * fixed", "QID: mode fixed", "QID: removed orphan defer/QID".
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "base/msg.h"
#include "base/str.h"
#include "mail/qfile.h"
#include "mail/qid.h"
#include "ternsuper.h"

#define TERNSUPER_REPAIR_AGE	86400	/* an incomplete file older than this is dead */

/* ternsuper_repair_corrupt - move dir/name to corrupt/ */
static void ternsuper_repair_corrupt(struct ternsuper *ts, enum ternsuper_dir dir, const char *name,
				     const char *why)
{
	if (dir == TS_CORRUPT)
		return;
	if (ternsuper_move(ts, dir, TS_CORRUPT, name) < 0) {
		if (errno != ENOENT) {
			msg_error("%s/%s: move to corrupt: %s", ternsuper_dir_names[dir], name, strerror(errno));
			ternsuper_fail(ts, EX_IOERR);
		}
		return;
	}
	msg_warn("%s: moved to corrupt: %s (was in %s/)", name, why, ternsuper_dir_names[dir]);
	ts->changes++;
}

/* ternsuper_repair_owner - mail_owner owns the file */
static void ternsuper_repair_owner(struct ternsuper *ts, enum ternsuper_dir dir, const char *name,
				   const struct stat *st)
{
	if (st->st_uid == ts->uid && st->st_gid == ts->gid)
		return;
	if (fchownat(ts->dirfd[dir], name, ts->uid, ts->gid, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno != ENOENT) {
			msg_error("%s/%s: chown: %s", ternsuper_dir_names[dir], name, strerror(errno));
			ternsuper_fail(ts, EX_IOERR);
		}
		return;
	}
	msg_info("%s: owner fixed (was %ld:%ld)", name, (long) st->st_uid, (long) st->st_gid);
	ts->changes++;
}

/* ternsuper_repair_qfile - a queue file in deferred, hold or timed */
static void ternsuper_repair_qfile(struct ternsuper *ts, enum ternsuper_dir dir, const char *name,
				   const struct stat *st)
{
	char *path = str_dupf("%s/%s/%s", ts->queue_dir, ternsuper_dir_names[dir], name);
	struct qfile_error err;
	struct qfile *qf = qfile_open(path, QFILE_OPEN_INCOMPLETE, &err);
	bool timed_ok = true;

	free(path);
	if (qf == NULL) {
		if (err.kind == QFILE_ERR_SYSTEM && err.errnum == ENOENT)
			return;		/* qmgr took it */
		ternsuper_repair_corrupt(ts, dir, name, err.text);
		return;
	}
	if (dir == TS_TIMED)
		timed_ok = qfile_attr(qf, "release_time", NULL) != NULL;
	qfile_close(qf);
	if ((st->st_mode & 07777) != QFILE_MODE_COMPLETE) {
		if (fchmodat(ts->dirfd[dir], name, QFILE_MODE_COMPLETE, 0) < 0) {
			if (errno != ENOENT) {
				msg_error("%s/%s: chmod: %s", ternsuper_dir_names[dir], name, strerror(errno));
				ternsuper_fail(ts, EX_IOERR);
			}
		} else {
			msg_info("%s: mode fixed (was %04o)", name, (unsigned) (st->st_mode & 07777));
			ts->changes++;
		}
	}
	if (!timed_ok) {
		if (ternsuper_move(ts, dir, TS_DEFERRED, name) == 0) {
			msg_info("%s: moved from timed to deferred: no release_time", name);
			ts->changes++;
		}
	}
}

/* ternsuper_repair_entry - one entry of a queue directory */
static void ternsuper_repair_entry(struct ternsuper *ts, enum ternsuper_dir dir, const char *name,
				   long long now)
{
	struct stat st;

	if (fstatat(ts->dirfd[dir], name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;			/* moved on meanwhile */
	if (!qid_valid(name)) {
		if (dir == TS_INCOMING && strncmp(name, "tmp-", 4) == 0 &&
		    now - st.st_mtime < TERNSUPER_REPAIR_AGE)
			return;		/* a writer at work */
		if (dir != TS_CORRUPT)
			ternsuper_repair_corrupt(ts, dir, name, "not a queue id");
		return;
	}
	if (!S_ISREG(st.st_mode)) {
		ternsuper_repair_corrupt(ts, dir, name, "not a regular file");
		return;
	}
	if (dir == TS_ACTIVE)
		return;			/* qmgr's */
	ternsuper_repair_owner(ts, dir, name, &st);
	switch (dir) {
	case TS_INCOMING:
		if (!(st.st_mode & S_IXUSR) && now - st.st_mtime >= TERNSUPER_REPAIR_AGE)
			ternsuper_repair_corrupt(ts, dir, name, "incomplete for more than a day");
		break;
	case TS_DEFERRED:
	case TS_HOLD:
	case TS_TIMED:
		ternsuper_repair_qfile(ts, dir, name, &st);
		break;
	default:
		break;
	}
}

/* ternsuper_repair_queued - name is a message in some queue directory (two passes) */
static bool ternsuper_repair_queued(struct ternsuper *ts, const char *name)
{
	struct stat st;

	for (int pass = 0; pass < 2; pass++)
		for (int i = 0; i <= TS_CORRUPT; i++) {
			int d = pass == 0 ? i : TS_CORRUPT - i;

			if (ts->dirfd[d] >= 0 && fstatat(ts->dirfd[d], name, &st, AT_SYMLINK_NOFOLLOW) == 0)
				return true;
		}
	return false;
}

/* ternsuper_repair_orphans - reason files without their message */
static void ternsuper_repair_orphans(struct ternsuper *ts, enum ternsuper_dir dir)
{
	size_t n;
	char **names = ternsuper_names(ts, dir, &n);

	for (size_t i = 0; names != NULL && i < n; i++) {
		if (ternsuper_repair_queued(ts, names[i]))
			continue;
		if (unlinkat(ts->dirfd[dir], names[i], 0) < 0) {
			if (errno != ENOENT) {
				msg_error("%s/%s: %s", ternsuper_dir_names[dir], names[i], strerror(errno));
				ternsuper_fail(ts, EX_IOERR);
			}
			continue;
		}
		ts->dirty[dir] = true;
		msg_info("%s: removed orphan %s/%s", names[i], ternsuper_dir_names[dir], names[i]);
		ts->changes++;
	}
	ternsuper_names_free(names, n);
}

/* ternsuper_repair - every check */
void ternsuper_repair(struct ternsuper *ts)
{
	long long now = time(NULL);
	long before = ts->changes;

	for (int d = 0; d < TS_NDIRS; d++)
		if (ts->dirfd[d] < 0) {
			msg_error("%s/%s: missing directory (ternctl check creates it)", ts->queue_dir,
				  ternsuper_dir_names[d]);
			ternsuper_fail(ts, EX_IOERR);
		}
	for (enum ternsuper_dir d = 0; d <= TS_CORRUPT; d++) {
		size_t n;
		char **names = ternsuper_names(ts, d, &n);

		for (size_t i = 0; names != NULL && i < n; i++)
			ternsuper_repair_entry(ts, d, names[i], now);
		ternsuper_names_free(names, n);
	}
	ternsuper_repair_orphans(ts, TS_DEFER);
	ternsuper_repair_orphans(ts, TS_BOUNCE);
	fprintf(stderr, "ternsuper: Repaired: %ld problem%s\n", ts->changes - before,
		ts->changes - before == 1 ? "" : "s");
}
