/*
 * qfile_pool - recycled queue-file inodes (queue_file_recycle); see the
 * "Recycling" part of qfile.h for the contract and the crash argument.
 *
 * Two sides share one struct: qmgr retires finished files into the pool
 * directory (qfile_retire: a rename instead of an unlink), cleanup claims
 * them back for new messages (qfile_pool_claim, called by qfile_create:
 * a rename, open, fstat, fchmod and ftruncate instead of a create). On
 * ext4 without a journal a create scans past every inode freed in the
 * last minutes and a final unlink evicts and truncates; both go away.
 *
 * Claim side: pool names are read with readdir into a bounded list
 * (QFILE_POOL_BATCH) when the list is empty, at most once a second while
 * the pool stays empty. A claim renames pool/NAME to DIR/tmp-PID-N
 * without replacing anything; the rename is the atomic claim between
 * several cleanup processes (ENOENT: another one was first, try the next
 * name). The claimed file must be a regular file with one link, owned by
 * the effective uid; anything else is unlinked and the next name tried.
 *
 * Retire side: the number of files in the pool is estimated (counted at
 * open, +1 per retire; claims by cleanup lower it unseen) and counted
 * again with readdir, at most once a second, when the estimate reaches
 * the limit. A file over QFILE_POOL_FILE_MAX bytes, a full pool or a
 * failed rename means an unlink, as without a pool.
 *
 * Failures never lose a message: a claim that fails at any step returns
 * -1 (the caller creates a new file; a file already renamed is unlinked
 * first); a retire that cannot rename unlinks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/qfile.h"
#include "mail/qfile_int.h"

#define QFILE_POOL_BATCH	128	/* names read per readdir pass */
#define QFILE_POOL_TRIES	16	/* names tried per claim */
#define QFILE_POOL_NAME_MAX	64	/* longer entries are not ours: skipped */

struct qfile_pool {
	DIR *dp;			/* the pool directory, kept open (rewinddir) */
	char *path;			/* for messages */
	long limit;			/* files the pool may hold */
	uid_t euid;			/* owner of every file we may claim */
	/* claim side */
	char (*names)[QFILE_POOL_NAME_MAX];	/* QFILE_POOL_BATCH names */
	size_t nnames;			/* names left, taken from the end */
	time_t empty_at;		/* the last pass found nothing at this time */
	/* retire side */
	long count;			/* estimated files in the pool */
	time_t counted_at;		/* of the last readdir count */
};

/* pool_is_name - a directory entry that counts against the limit */
static bool pool_is_name(const struct dirent *d)
{
	return d->d_name[0] != '.' && strlen(d->d_name) < QFILE_POOL_NAME_MAX;
}

/* pool_is_file - an entry worth a claim (not a directory, symlink or device) */
static bool pool_is_file(const struct dirent *d)
{
	return pool_is_name(d) && (d->d_type == DT_REG || d->d_type == DT_UNKNOWN);
}

/* pool_count - count the files in the pool (one readdir pass) */
static long pool_count(struct qfile_pool *pool)
{
	struct dirent *d;
	long n = 0;

	rewinddir(pool->dp);
	while ((d = readdir(pool->dp)) != NULL)
		if (pool_is_name(d))
			n++;
	pool->counted_at = time(NULL);
	return n;
}

/* pool_fill - read up to QFILE_POOL_BATCH names into the empty list */
static void pool_fill(struct qfile_pool *pool)
{
	struct dirent *d;
	time_t now = time(NULL);

	if (pool->empty_at != 0 && now - pool->empty_at < 1)
		return;			/* empty a moment ago: no readdir per message */
	rewinddir(pool->dp);
	while (pool->nnames < QFILE_POOL_BATCH && (d = readdir(pool->dp)) != NULL)
		if (pool_is_file(d))
			str_copy(pool->names[pool->nnames++], d->d_name, QFILE_POOL_NAME_MAX);
	pool->empty_at = pool->nnames == 0 ? now : 0;
}

/* qfile_pool_open - open the pool directory path; NULL with err */
struct qfile_pool *qfile_pool_open(const char *path, long limit, struct qfile_error *err)
{
	struct qfile_pool *pool;
	DIR *dp;

	if (limit < 1)
		limit = 1;
	if ((dp = opendir(path)) == NULL) {
		qfile_err(err, QFILE_ERR_SYSTEM, errno, -1, "open directory %s: %s", path,
			  strerror(errno));
		return NULL;
	}
	pool = xcalloc(1, sizeof(*pool));
	pool->dp = dp;
	pool->path = xstrdup(path);
	pool->limit = limit;
	pool->euid = geteuid();
	pool->names = xcalloc(QFILE_POOL_BATCH, sizeof(*pool->names));
	pool->count = pool_count(pool);
	qfile_err_clear(err);
	return pool;
}

/* qfile_pool_close - close and free (NULL is fine) */
void qfile_pool_close(struct qfile_pool *pool)
{
	if (pool == NULL)
		return;
	(void) closedir(pool->dp);
	free(pool->names);
	free(pool->path);
	free(pool);
}

/* pool_take - open, check and empty the file just renamed to dir/tmp; fd or -1 */
static int pool_take(struct qfile_pool *pool, struct qfile_dir *dir, const char *name,
		     const char *tmp, struct stat *st)
{
	const char *why = NULL;
	int fd;

	/* O_NONBLOCK: a planted FIFO or device must not block the open (no effect on files) */
	fd = openat(dir->fd, tmp, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		why = strerror(errno);
	else if (fstat(fd, st) < 0)
		why = strerror(errno);
	else if (!S_ISREG(st->st_mode))
		why = "not a regular file";
	else if (st->st_nlink != 1)
		why = "more than one link";
	else if (st->st_uid != pool->euid)
		why = "owned by another user";
	else if (fchmod(fd, QFILE_MODE_INCOMPLETE) < 0 || ftruncate(fd, 0) < 0)
		why = strerror(errno);
	if (why == NULL)
		return fd;
	if (fd >= 0)
		(void) close(fd);
	msg_warn("%s/%s: not reused: %s", pool->path, name, why);
	if (unlinkat(dir->fd, tmp, 0) < 0 && errno != ENOENT)
		msg_warn("cannot remove %s/%s (was %s/%s): %s", dir->path, tmp, pool->path, name,
			 strerror(errno));
	return -1;
}

/*
 * qfile_pool_claim - move a pool file to dir/tmp, mode 0600 and empty,
 * st filled; fd, or -1 when there is none to take (the caller creates)
 */
int qfile_pool_claim(struct qfile_pool *pool, struct qfile_dir *dir, const char *tmp,
		     struct stat *st)
{
	for (int tries = 0; tries < QFILE_POOL_TRIES; tries++) {
		const char *name;
		int fd;

		if (pool->nnames == 0)
			pool_fill(pool);
		if (pool->nnames == 0)
			return -1;
		name = pool->names[--pool->nnames];
		if (renameat2(dirfd(pool->dp), name, dir->fd, tmp, RENAME_NOREPLACE) < 0) {
			if (errno == ENOENT)
				continue;	/* another cleanup took it */
			if (errno != EEXIST)	/* EEXIST: a stale tmp name; the caller picks another */
				msg_warn("rename %s/%s to %s/%s: %s", pool->path, name, dir->path, tmp,
					 strerror(errno));
			return -1;
		}
		if ((fd = pool_take(pool, dir, name, tmp, st)) >= 0)
			return fd;
	}
	return -1;
}

/* qfile_retire - a finished queue file: into the pool, or removed */
int qfile_retire(struct qfile_pool *pool, const char *path, long long size,
		 struct qfile_error *err)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	if (pool != NULL && size >= 0 && size <= QFILE_POOL_FILE_MAX && *base != '\0') {
		if (pool->count >= pool->limit && time(NULL) != pool->counted_at)
			pool->count = pool_count(pool);
		if (pool->count < pool->limit) {
			if (renameat2(AT_FDCWD, path, dirfd(pool->dp), base, RENAME_NOREPLACE) == 0) {
				pool->count++;
				qfile_err_clear(err);
				return 0;
			}
			/* EEXIST: a name a crash left behind; never replace: unlink below */
			if (errno != EEXIST)
				msg_warn("rename %s to %s/%s: %s", path, pool->path, base,
					 strerror(errno));
		}
	}
	if (unlink(path) < 0)
		return qfile_err(err, QFILE_ERR_SYSTEM, errno, -1, "remove %s: %s", path,
				 strerror(errno));
	qfile_err_clear(err);
	return 0;
}
