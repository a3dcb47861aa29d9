/*
 * mbox - append a queued message to an mbox file (see mbox.h).
 *
 * Invariant: the file holds whole messages only: a failure after the
 * first write truncates it back to the size it had under the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/iofd.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/mbox.h"

#define MBOX_IO_SIZE	(64 * 1024)

static const char mbox_from[] = "From ";

/* mbox_fail - fill res; returns -1 */
static int mbox_fail(struct maildir_result *res, const char *dsn, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int mbox_fail(struct maildir_result *res, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	str_copy(res->dsn, dsn, sizeof(res->dsn));
	va_start(ap, fmt);
	vsnprintf(res->text, sizeof(res->text), fmt, ap);
	va_end(ap);
	return -1;
}

/* mbox_quote - quote "From " at line starts (see mbox.h) */
void mbox_quote(struct mbox_quote *st, const char *p, size_t n, struct buf *out)
{
	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (st->bol == 0) {
			if (c == mbox_from[st->npend]) {
				if (++st->npend == sizeof(mbox_from) - 1) {
					buf_puts(out, ">From ");
					st->npend = 0;
					st->bol = 1;
				}
				continue;
			}
			buf_append(out, mbox_from, st->npend);
			st->npend = 0;
			buf_putc(out, c);
			st->bol = c == '\n' ? 0 : 1;
			continue;
		}
		buf_putc(out, c);
		if (c == '\n')
			st->bol = 0;
	}
}

/* mbox_quote_end - flush a pending partial "From" */
void mbox_quote_end(struct mbox_quote *st, struct buf *out)
{
	buf_append(out, mbox_from, st->npend);
	st->npend = 0;
}

/* mbox_dotlock - create path.lock; 1 locked, 0 not possible here (no right), -1 timeout/error */
static int mbox_dotlock(const char *lock)
{
	for (int waited = 0; waited < MBOX_LOCK_WAIT * 10; waited++) {
		int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		struct stat st;

		if (fd >= 0) {
			close(fd);
			return 1;
		}
		if (errno == EACCES || errno == EPERM || errno == EROFS)
			return 0;
		if (errno != EEXIST)
			return -1;
		if (lstat(lock, &st) == 0 && st.st_mtime + MBOX_LOCK_STALE < time(NULL))
			unlink(lock);
		usleep(100000);
	}
	errno = ETIMEDOUT;
	return -1;
}

/* mbox_fcntl_lock - an fcntl write lock, waited for */
static int mbox_fcntl_lock(int fd)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

	for (int waited = 0; waited < MBOX_LOCK_WAIT * 10; waited++) {
		if (fcntl(fd, F_SETLK, &fl) == 0)
			return 0;
		if (errno != EACCES && errno != EAGAIN && errno != EINTR)
			return -1;
		usleep(100000);
	}
	errno = ETIMEDOUT;
	return -1;
}

/* mbox_from_line - the From_ line (see mbox.h) */
void mbox_from_line(const char *sender, struct buf *out)
{
	char date[64];
	time_t now = time(NULL);
	struct tm tm;

	asctime_r(gmtime_r(&now, &tm), date);
	date[strcspn(date, "\n")] = '\0';
	buf_printf(out, "From %s  %s\n", sender[0] ? sender : "MAILER-DAEMON", date);
}

/* mbox_append - write the message at the end of fd; 0 or -1 with res */
static int mbox_append(int fd, struct qfile *qf, const char *sender, const char *prefix,
		       size_t prefix_len, struct maildir_result *res)
{
	struct qfile_error qerr;
	struct mbox_quote st = {0, 0};
	struct buf out;
	char *io = xmalloc(MBOX_IO_SIZE);
	ssize_t n;
	char last = '\n';
	int ret = -1;

	buf_init(&out, 0);
	mbox_from_line(sender, &out);
	buf_append(&out, prefix, prefix_len);
	if (qfile_content_seek(qf, 0, &qerr) != 0) {
		mbox_fail(res, "4.3.0", "queue file: %s", qerr.text);
		goto out;
	}
	while ((n = qfile_content_read(qf, io, MBOX_IO_SIZE, &qerr)) > 0) {
		mbox_quote(&st, io, (size_t) n, &out);
		last = io[n - 1];
		if (out.len >= MBOX_IO_SIZE) {
			if (iofd_write_all(fd, out.data, out.len) != 0)
				goto werr;
			buf_reset(&out);
		}
	}
	if (n < 0) {
		mbox_fail(res, "4.3.0", "queue file: %s", qerr.text);
		goto out;
	}
	mbox_quote_end(&st, &out);
	if (last != '\n')
		buf_putc(&out, '\n');
	buf_putc(&out, '\n');
	if (iofd_write_all(fd, out.data, out.len) != 0 || fsync(fd) != 0)
		goto werr;
	ret = 0;
	goto out;
werr:
	mbox_fail(res, errno == EDQUOT || errno == ENOSPC ? "4.2.2" : "4.3.0", "write: %s",
		  strerror(errno));
out:
	buf_free(&out);
	free(io);
	return ret;
}

/* mbox_dotlock_take - see mbox.h */
int mbox_dotlock_take(const char *path, struct maildir_result *res)
{
	char *lock = str_dupf("%s.lock", path);
	int dot = mbox_dotlock(lock);

	if (dot < 0)
		mbox_fail(res, "4.2.0", "cannot lock %s: %s", lock, strerror(errno));
	free(lock);
	return dot;
}

/* mbox_dotlock_drop - remove path.lock */
void mbox_dotlock_drop(const char *path)
{
	char *lock = str_dupf("%s.lock", path);

	unlink(lock);
	free(lock);
}

/* mbox_deliver - see mbox.h */
int mbox_deliver(const char *path, struct qfile *qf, const char *sender, const char *prefix,
		 size_t prefix_len, long long limit, struct maildir_result *res)
{
	return mbox_deliver_flags(path, qf, sender, prefix, prefix_len, limit, 0, res);
}

/* mbox_deliver_flags - see mbox.h */
int mbox_deliver_flags(const char *path, struct qfile *qf, const char *sender, const char *prefix,
		       size_t prefix_len, long long limit, int flags, struct maildir_result *res)
{
	int dot = 0;
	int fd = -1;
	int ret = -1;
	struct stat st;

	if (!(flags & MBOX_DOTLOCK_HELD) && (dot = mbox_dotlock_take(path, res)) < 0)
		goto out;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0600);
	if (fd < 0) {
		mbox_fail(res, "4.2.0", "cannot open mailbox %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (st.st_uid != geteuid() && geteuid() != 0)) {
		mbox_fail(res, "4.2.0", "mailbox %s is not a regular file with one link owned by uid %ld",
			  path, (long) geteuid());
		goto out;
	}
	if (mbox_fcntl_lock(fd) != 0) {
		mbox_fail(res, "4.2.0", "cannot lock %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0) {
		mbox_fail(res, "4.3.0", "fstat %s: %s", path, strerror(errno));
		goto out;
	}
	if (limit > 0 && (unsigned long long) st.st_size + prefix_len + qf->content_len + 200 >
	    (unsigned long long) limit) {
		mbox_fail(res, "4.2.2", "mailbox full: %s has %lld bytes, the limit is %lld", path,
			  (long long) st.st_size, limit);
		goto out;
	}
	if (mbox_append(fd, qf, sender, prefix, prefix_len, res) != 0) {
		if (ftruncate(fd, st.st_size) != 0 || fsync(fd) != 0)
			str_fmt(res->text + strlen(res->text), sizeof(res->text) - strlen(res->text),
				"; cannot truncate back: %s", strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd >= 0)
		close(fd);
	if (dot > 0)
		mbox_dotlock_drop(path);
	return ret;
}
