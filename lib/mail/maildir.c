/*
 * maildir - the Maildir writer of local and virtual (see maildir.h).
 *
 * Invariant: a message appears in new/ only complete and durable (file
 * fsync'ed before the link, new/ fsync'ed after it); tmp/ never keeps a
 * file after a failure. A crash between the link and the reply may
 * deliver a message twice; it never loses one.
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
#include <unistd.h>

#include "base/iofd.h"
#include "base/mem.h"
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

/* maildir_mkdir - mkdir that accepts an existing directory */
static int maildir_mkdir(const char *path)
{
	struct stat st;

	if (mkdir(path, 0700) == 0)
		return 0;
	if (errno != EEXIST)
		return -1;
	if (lstat(path, &st) != 0)
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

/* maildir_hostname - this host's name with '/' and ':' made safe for a file name */
static void maildir_hostname(char *out, size_t size)
{
	if (gethostname(out, size) != 0)
		str_copy(out, "localhost", size);
	out[size - 1] = '\0';
	for (char *p = out; *p; p++)
		if (*p == '/')
			*p = '_';
		else if (*p == ':')
			*p = '.';
}

/* maildir_copy - prefix, then the content of qf, to fd */
static int maildir_copy(int fd, struct qfile *qf, const char *prefix, size_t prefix_len,
			struct maildir_result *res)
{
	struct qfile_error qerr;
	char *io;
	ssize_t n;

	if (prefix_len > 0 && iofd_write_all(fd, prefix, prefix_len) != 0)
		return maildir_fail(res, errno == EDQUOT || errno == ENOSPC ? "4.2.2" : "4.3.0",
				    "write: %s", strerror(errno));
	if (qfile_content_seek(qf, 0, &qerr) != 0)
		return maildir_fail(res, "4.3.0", "queue file: %s", qerr.text);
	io = xmalloc(MAILDIR_IO_SIZE);
	while ((n = qfile_content_read(qf, io, MAILDIR_IO_SIZE, &qerr)) > 0) {
		if (iofd_write_all(fd, io, (size_t) n) != 0) {
			free(io);
			return maildir_fail(res, errno == EDQUOT || errno == ENOSPC ? "4.2.2" : "4.3.0",
					    "write: %s", strerror(errno));
		}
	}
	free(io);
	if (n < 0)
		return maildir_fail(res, "4.3.0", "queue file: %s", qerr.text);
	return 0;
}

/* maildir_fsync_dir - fsync a directory */
static int maildir_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int ret;

	if (fd < 0)
		return -1;
	ret = fsync(fd);
	close(fd);
	return ret;
}

/* maildir_deliver - see maildir.h */
int maildir_deliver(const char *dir_arg, struct qfile *qf, const char *prefix, size_t prefix_len,
		    long long limit, const char *once_key, struct maildir_result *res)
{
	static unsigned long count;
	char host[256];
	char *dir = xstrdup(dir_arg);
	size_t dlen = strlen(dir);
	unsigned long long size = (unsigned long long) prefix_len + qf->content_len;
	char *tmp = NULL, *new = NULL, *newdir = NULL;
	int fd = -1;
	int ret = -1;

	while (dlen > 1 && dir[dlen - 1] == '/')
		dir[--dlen] = '\0';
	if (maildir_create(dir) != 0) {
		maildir_fail(res, errno == EDQUOT || errno == ENOSPC ? "4.2.2" : "4.2.0",
			     "cannot create Maildir %s: %s", dir, strerror(errno));
		goto out;
	}
	if (limit > 0) {
		long long used = maildir_size(dir);

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
	maildir_hostname(host, sizeof(host));
	for (int tries = 0; tries < MAILDIR_TRIES; tries++) {
		struct timeval tv;
		char name[400];
		struct stat st;
		int n;

		gettimeofday(&tv, NULL);
		if (once_key != NULL)
			n = str_fmt(name, sizeof(name), "%lld.T%s.%s,S=%llu", qf->arrival_sec, once_key, host, size);
		else
			n = str_fmt(name, sizeof(name), "%lld.M%ldP%ldQ%lu.%s,S=%llu", (long long) tv.tv_sec,
				    (long) tv.tv_usec, (long) getpid(), ++count, host, size);
		if (n != 0) {
			maildir_fail(res, "4.3.0", "host name too long for a Maildir file name");
			goto out;
		}
		free(tmp);
		free(new);
		new = str_dupf("%s/new/%s", dir, name);
		if (once_key != NULL && lstat(new, &st) == 0)
			goto already;
		tmp = once_key != NULL ? str_dupf("%s/tmp/%s.P%ldQ%lu", dir, name, (long) getpid(), ++count)
				       : str_dupf("%s/tmp/%s", dir, name);
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
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
	if (link(tmp, new) != 0) {
		if (once_key != NULL && errno == EEXIST) {
			/* another attempt of the same delivery got there first */
			unlink(tmp);
			goto already;
		}
		maildir_fail(res, "4.2.0", "link %s to new/: %s", tmp, strerror(errno));
		goto fail;
	}
	unlink(tmp);
	newdir = str_dupf("%s/new", dir);
	if (maildir_fsync_dir(newdir) != 0) {
		/* the link may not be durable: take it back and let the mail wait */
		maildir_fail(res, "4.3.0", "fsync %s: %s", newdir, strerror(errno));
		unlink(new);
		goto out;
	}
	ret = 0;
	goto out;
already:
	/* the earlier attempt may have died before its fsync of new/ */
	newdir = str_dupf("%s/new", dir);
	if (maildir_fsync_dir(newdir) != 0) {
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
	free(tmp);
	free(new);
	free(newdir);
	free(dir);
	return ret;
}
