/*
 * maildir - the Maildir writer of local and virtual (see maildir.h).
 *
 * Invariant: a message appears in new/ only complete and durable (file
 * fsync'ed before the rename, new/ fsync'ed after it); tmp/ never keeps a
 * file after a failure. A crash between the rename and the reply may
 * deliver a message twice (unless the caller gives a once_key); it never
 * loses one.
 *
 * System calls of a delivery into an existing Maildir without a quota:
 * open new/, the once_key check (fstatat), the exclusive create in tmp/,
 * one writev (a message up to MAILDIR_IO_SIZE), fsync, close,
 * renameat2(RENAME_NOREPLACE) into new/, fsync of new/, close. The
 * directories are made only when an open says ENOENT.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/pid.h"
#include "base/str.h"
#include "mail/maildir.h"

#define MAILDIR_IO_SIZE	(64 * 1024)
#define MAILDIR_TRIES	20		/* unique-name attempts */

/* maildir_fail - fill res; returns -1 */
static int maildir_fail(struct maildir_result *res, const char *dsn, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int maildir_fail(struct maildir_result *res, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	str_copy(res->dsn, dsn, sizeof(res->dsn));
	va_start(ap, fmt);
	vsnprintf(res->text, sizeof(res->text), fmt, ap);
	va_end(ap);
	return -1;
}

/*
 * maildir_mkdir - mkdir that accepts an existing directory, or a symbolic
 * link to one (a home under a linked /home: the caller is the owner
 * already, so following the owner's links gives no one more rights)
 */
static int maildir_mkdir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (stat(path, &st) != 0)
		return -1;
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	return 0;
}

/* maildir_create - the Maildir and its parents (see maildir.h) */
int maildir_create(const char *dir)
{
	char *copy = xstrdup(dir);
	size_t len = strlen(copy);
	int ret = 0;

	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	for (char *p = copy + 1; *p && ret == 0; p++) {
		if (*p == '/') {
			*p = '\0';
			ret = maildir_mkdir(copy);
			*p = '/';
		}
	}
	if (ret == 0)
		ret = maildir_mkdir(copy);
	for (int i = 0; i < 3 && ret == 0; i++) {
		static const char *const sub[] = {"tmp", "new", "cur"};
		char *p = str_dupf("%s/%s", copy, sub[i]);

		ret = maildir_mkdir(p);
		free(p);
	}
	free(copy);
	return ret;
}

/* maildir_dir_size - add the sizes of the messages in one sub-directory */
static int maildir_dir_size(const char *dir, const char *sub, long long *total)
{
	char *path = str_dupf("%s/%s", dir, sub);
	DIR *d = opendir(path);
	struct dirent *e;

	if (d == NULL) {
		free(path);
		return errno == ENOENT ? 0 : -1;
	}
	while ((e = readdir(d)) != NULL) {
		const char *s;
		long long v;
		struct stat st;

		if (e->d_name[0] == '.')
			continue;
		s = strstr(e->d_name, ",S=");
		if (s != NULL) {
			char num[24];
			size_t n = strspn(s + 3, "0123456789");

			if (n > 0 && n < sizeof(num)) {
				memcpy(num, s + 3, n);
				num[n] = '\0';
				if (str_to_ll(num, 0, 1LL << 50, &v) == 0) {
					*total += v;
					continue;
				}
			}
		}
		if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			*total += st.st_size;
	}
	closedir(d);
	free(path);
	return 0;
}

/* maildir_size - bytes of the messages in dir/new and dir/cur */
long long maildir_size(const char *dir)
{
	long long total = 0;

	if (maildir_dir_size(dir, "new", &total) != 0 || maildir_dir_size(dir, "cur", &total) != 0)
		return -1;
	return total;
}

/* maildir_hostname - this host's name with '/' and ':' made safe for a file name (asked once a process) */
static const char *maildir_hostname(void)
{
	static char host[256];

	if (host[0] != '\0')
		return host;
	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		str_copy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	for (char *p = host; *p; p++)
		if (*p == '/')
			*p = '_';
		else if (*p == ':')
			*p = '.';
	return host;
}

/* maildir_write2 - a[alen] then b[blen] to fd with writev, retrying short writes and EINTR; 0 or -1 */
static int maildir_write2(int fd, const char *a, size_t alen, const char *b, size_t blen)
{
	while (alen + blen > 0) {
		struct iovec iov[2] = {{(void *) a, alen}, {(void *) b, blen}};
		ssize_t n = alen > 0 ? writev(fd, iov, 2) : write(fd, b, blen);
		size_t done;

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return -1;
		}
		done = (size_t) n;
		if (done >= alen) {
			done -= alen;
			a += alen;
			alen = 0;
			b += done;
			blen -= done;
		} else {
			a += done;
			alen -= done;
		}
	}
	return 0;
}

/*
 * maildir_copy - prefix, then the content of qf, to fd; the prefix goes
 * out with the first chunk of content in one writev (one system call for
 * a message that fits MAILDIR_IO_SIZE)
 */
static int maildir_copy(int fd, struct qfile *qf, const char *prefix, size_t prefix_len,
			struct maildir_result *res)
{
	struct qfile_error qerr;
	char *io;
	ssize_t n;

	if (qfile_content_seek(qf, 0, &qerr) != 0)
		return maildir_fail(res, "4.3.0", "queue file: %s", qerr.text);
	io = xmalloc(MAILDIR_IO_SIZE);
	while ((n = qfile_content_read(qf, io, MAILDIR_IO_SIZE, &qerr)) > 0) {
		if (maildir_write2(fd, prefix, prefix_len, io, (size_t) n) != 0) {
			free(io);
			return maildir_fail(res, errno == EDQUOT || errno == ENOSPC ? "4.2.2" : "4.3.0",
					    "write: %s", strerror(errno));
		}
		prefix_len = 0;
	}
	free(io);
	if (n < 0)
		return maildir_fail(res, "4.3.0", "queue file: %s", qerr.text);
	/* an empty content: the prefix alone */
	if (prefix_len > 0 && maildir_write2(fd, prefix, prefix_len, NULL, 0) != 0)
		return maildir_fail(res, errno == EDQUOT || errno == ENOSPC ? "4.2.2" : "4.3.0",
				    "write: %s", strerror(errno));
	return 0;
}

/*
 * maildir_open_new - a descriptor of dir/new (for the idempotence check,
 * the rename into it and its fsync); the Maildir is created only when
 * that fails with ENOENT, so an existing one costs one open, not a
 * mkdir and a stat per path component. -1 with res.
 */
static int maildir_open_new(const char *dir, const char *newdir, struct maildir_result *res)
{
	int fd = open(newdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 && errno == ENOENT) {
		if (maildir_create(dir) != 0)
			return maildir_fail(res, errno == EDQUOT || errno == ENOSPC ? "4.2.2" : "4.2.0",
					    "cannot create Maildir %s: %s", dir, strerror(errno));
		fd = open(newdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (fd < 0)
		return maildir_fail(res, "4.2.0", "cannot open %s: %s", newdir, strerror(errno));
	return fd;
}

/*
 * maildir_open_tmp - create tmp (a path in dir/tmp) exclusively; a
 * missing tmp/ (a damaged Maildir whose new/ exists) is created once.
 * The descriptor, or -1 with errno.
 */
static int maildir_open_tmp(const char *dir, const char *tmp)
{
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);

	if (fd < 0 && errno == ENOENT) {
		if (maildir_create(dir) != 0)
			return -1;
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	}
	return fd;
}

/*
 * maildir_publish - move the durable tmp file to new/name without
 * replacing anything: renameat2(RENAME_NOREPLACE), one system call and
 * nothing left in tmp/; where the file system does not support it
 * (EINVAL, ENOSYS), link and unlink. 0, or -1 with errno (EEXIST: new/name
 * exists; tmp is removed then too).
 */
static int maildir_publish(const char *tmp, int newfd, const char *newdir, const char *name)
{
	char *new;
	int ret;

	if (renameat2(AT_FDCWD, tmp, newfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS) {
		int err = errno;

		unlink(tmp);
		errno = err;
		return -1;
	}
	new = str_dupf("%s/%s", newdir, name);
	ret = link(tmp, new);
	if (ret != 0) {
		int err = errno;

		unlink(tmp);
		errno = err;
	} else {
		unlink(tmp);
	}
	free(new);
	return ret;
}

/* maildir_deliver - see maildir.h */
int maildir_deliver(const char *dir_arg, struct qfile *qf, const char *prefix, size_t prefix_len,
		    long long limit, const char *once_key, struct maildir_result *res)
{
	static unsigned long count;
	const char *host = maildir_hostname();
	char *dir = xstrdup(dir_arg);
	size_t dlen = strlen(dir);
	unsigned long long size = (unsigned long long) prefix_len + qf->content_len;
	char *tmp = NULL, *newdir = NULL;
	char name[400];
	int fd = -1, newfd = -1;
	int ret = -1;

	while (dlen > 1 && dir[dlen - 1] == '/')
		dir[--dlen] = '\0';
	newdir = str_dupf("%s/new", dir);
	if (limit > 0) {
		long long used = maildir_size(dir);	/* a missing Maildir holds 0 bytes */

		if (used < 0) {
			maildir_fail(res, "4.2.0", "cannot read Maildir %s: %s", dir, strerror(errno));
			goto out;
		}
		if ((unsigned long long) used + size > (unsigned long long) limit) {
			maildir_fail(res, "4.2.2", "mailbox full: Maildir %s holds %lld bytes, "
				     "the message has %llu, the limit is %lld", dir, used, size, limit);
			goto out;
		}
	}
	if ((newfd = maildir_open_new(dir, newdir, res)) < 0)
		goto out;
	for (int tries = 0; tries < MAILDIR_TRIES; tries++) {
		struct timeval tv;
		struct stat st;
		int n;

		gettimeofday(&tv, NULL);
		if (once_key != NULL)
			n = str_fmt(name, sizeof(name), "%lld.T%s.%s,S=%llu", qf->arrival_sec, once_key, host, size);
		else
			n = str_fmt(name, sizeof(name), "%lld.M%ldP%ldQ%lu.%s,S=%llu", (long long) tv.tv_sec,
				    (long) tv.tv_usec, pid_self(), ++count, host, size);
		if (n != 0) {
			maildir_fail(res, "4.3.0", "host name too long for a Maildir file name");
			goto out;
		}
		if (once_key != NULL && fstatat(newfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
			goto already;
		free(tmp);
		tmp = once_key != NULL ? str_dupf("%s/tmp/%s.P%ldQ%lu", dir, name, pid_self(), ++count)
				       : str_dupf("%s/tmp/%s", dir, name);
		fd = maildir_open_tmp(dir, tmp);
		if (fd >= 0 || errno != EEXIST)
			break;
	}
	if (fd < 0) {
		maildir_fail(res, errno == EDQUOT || errno == ENOSPC ? "4.2.2" : "4.2.0",
			     "cannot create %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (maildir_copy(fd, qf, prefix, prefix_len, res) != 0)
		goto fail;
	if (fsync(fd) != 0) {
		maildir_fail(res, errno == EDQUOT || errno == ENOSPC ? "4.2.2" : "4.3.0",
			     "fsync %s: %s", tmp, strerror(errno));
		goto fail;
	}
	if (close(fd) != 0) {
		fd = -1;
		maildir_fail(res, errno == EDQUOT || errno == ENOSPC ? "4.2.2" : "4.3.0",
			     "close %s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	/* into new/ only now that the file is durable; tmp/ is left empty either way */
	if (maildir_publish(tmp, newfd, newdir, name) != 0) {
		if (once_key != NULL && errno == EEXIST)
			goto already;	/* another attempt of the same delivery got there first */
		maildir_fail(res, "4.2.0", "move %s to new/: %s", tmp, strerror(errno));
		goto out;
	}
	if (fsync(newfd) != 0) {
		/* the entry may not be durable: take it back and let the mail wait */
		maildir_fail(res, "4.3.0", "fsync %s: %s", newdir, strerror(errno));
		unlinkat(newfd, name, 0);
		goto out;
	}
	ret = 0;
	goto out;
already:
	/* the earlier attempt may have died before its fsync of new/ */
	if (fsync(newfd) != 0) {
		maildir_fail(res, "4.3.0", "fsync %s: %s", newdir, strerror(errno));
		goto out;
	}
	maildir_fail(res, "2.0.0", "already delivered");
	ret = 0;
	goto out;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
out:
	if (newfd >= 0)
		close(newfd);
	free(tmp);
	free(newdir);
	free(dir);
	return ret;
}
