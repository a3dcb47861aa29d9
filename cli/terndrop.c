/*
 * terndrop - spool one local submission into the maildrop directory,
 * for sendmail when tern is not running (Postfix's postdrop). See
 * terndrop(8).
 *
 *	terndrop [-c DIR] < frames
 *
 * Standard input is one message as the frames of a cleanup conversation
 * (maildrop.h). terndrop checks them as it copies them to
 * maildrop/tmp.<pid>.<random> (mode 0600 while written), then makes the
 * file readable for pickup (0644), fsyncs it, renames it without
 * replacing anything to a queue-id shaped name, and syncs the directory
 * entry. Exit 0 means the file is complete and durable; on any failure
 * the temporary file is removed and the exit code says why: 65 the
 * input was not one well-formed message (or too large), 73 the file
 * could not be created, 74 an I/O error, 75 a temporary failure, 77 no
 * permission, 78 a configuration problem.
 *
 * Privilege. Installed set-group-id setgid_group, because the maildrop
 * (mode 1730 mail_owner:setgid_group) is writable for that group only;
 * the file is created with the caller's uid, which is how pickup learns
 * who submitted it. Nothing else is gained: the directory is not
 * readable for the group, the sticky bit keeps users from removing each
 * other's files, and nothing is read but standard input and the
 * configuration. The configuration decides where the maildrop is, so a
 * set-id terndrop uses it only when nobody but root could have written
 * it: the directory, every directory above it and tern.conf must belong
 * to root and not be writable by others (a sticky directory excepted).
 * Otherwise terndrop gives the group up before reading anything, and
 * runs with the caller's rights alone - which is all a private instance
 * owned by the caller needs.
 *
 * The directory sync: a group member cannot open the maildrop for
 * reading, and fsync needs an open directory; then syncfs(2) on the
 * file's file system stands in for it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/buf.h"
#include "base/ipc.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/maildrop.h"
#include "mail/qid.h"

/* terndrop - the state of one run */
struct terndrop {
	int dirfd;			/* the maildrop (O_PATH) */
	int fd;				/* the file being written, or -1 */
	char tmp[64];			/* its temporary name, or "" */
	char *maildrop;			/* path, for messages */
};

static struct terndrop td = {-1, -1, "", NULL};

#ifdef __SANITIZE_ADDRESS__
/*
 * __lsan_is_turned_off - LeakSanitizer cannot inspect a process that
 * was set-id (it is not dumpable, /proc/self is closed to it) and would
 * fail the exit status of a successful run: no leak check then
 */
int __lsan_is_turned_off(void);
int __lsan_is_turned_off(void)
{
	return prctl(PR_GET_DUMPABLE) != 1;
}
#endif

/* terndrop_fail - remove the temporary file, say why, exit with code */
__attribute__((format(printf, 2, 3), noreturn))
static void terndrop_fail(int code, const char *fmt, ...)
{
	va_list ap;

	if (td.tmp[0] != '\0')
		unlinkat(td.dirfd, td.tmp, 0);
	va_start(ap, fmt);
	msg_vlog(MSG_ERROR, fmt, ap);
	va_end(ap);
	exit(code);
}

/* terndrop_io_code - exit code for a failed system call */
static int terndrop_io_code(int err)
{
	switch (err) {
	case EACCES:
	case EPERM:
		return EX_NOPERM;
	case ENOSPC:
	case EDQUOT:
	case EINTR:
	case EAGAIN:
		return EX_TEMPFAIL;
	default:
		return EX_IOERR;
	}
}

/* terndrop_trusted_dir - a directory only root can change */
static bool terndrop_trusted_dir(const struct stat *st)
{
	return S_ISDIR(st->st_mode) && st->st_uid == 0 &&
	    ((st->st_mode & (S_IWGRP | S_IWOTH)) == 0 || (st->st_mode & S_ISVTX) != 0);
}

/* terndrop_trusted - may a set-id terndrop believe the configuration in dir? */
static bool terndrop_trusted(const char *dir)
{
	char real[PATH_MAX];
	struct stat st;
	char *file;
	bool ok;

	if (realpath(dir, real) == NULL)
		return false;
	for (char *p = real; ; p = strchr(p + 1, '/')) {
		char c = '\0';

		if (p != NULL && p != real) {
			c = *p;
			*p = '\0';
		}
		ok = lstat(p == real ? "/" : real, &st) == 0 && terndrop_trusted_dir(&st);
		if (p != NULL && p != real)
			*p = c;
		if (!ok)
			return false;
		if (p == NULL)
			break;
	}
	file = config_file_path(real, "tern.conf");
	ok = lstat(file, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == 0 &&
	    (st.st_mode & (S_IWGRP | S_IWOTH)) == 0;
	free(file);
	return ok;
}

/* terndrop_drop - give up set-id rights for good */
static void terndrop_drop(void)
{
	gid_t g = getgid();
	uid_t u = getuid();

	if (setresgid(g, g, g) < 0 || setresuid(u, u, u) < 0)
		terndrop_fail(EX_OSERR, "cannot give up set-id rights: %s", strerror(errno));
}

/* terndrop_config - load the configuration; the maildrop's path */
static char *terndrop_config(const char *dir, struct config *cfg)
{
	struct config_problems probs = {0};

	if (config_load(cfg, dir, NULL, NULL, true, &probs) != 0) {
		for (size_t i = 0; i + 1 < probs.count; i++)
			msg_error("%s: %s", probs.list[i].where, probs.list[i].text);
		terndrop_fail(EX_CONFIG, "%s: %s", probs.list[probs.count - 1].where,
			      probs.list[probs.count - 1].text);
	}
	config_problems_free(&probs);
	return str_dupf("%s/%s", cfg->global.queue_directory, MAILDROP_DIR);
}

/* terndrop_write - all of b to the file */
static void terndrop_write(const struct buf *b)
{
	size_t done = 0;

	while (done < b->len) {
		ssize_t n = write(td.fd, b->data + done, b->len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			terndrop_fail(terndrop_io_code(errno), "%s/%s: write: %s", td.maildrop, td.tmp,
				      strerror(errno));
		done += (size_t) n;
	}
}

/* terndrop_copy - check and copy standard input to the file */
static void terndrop_copy(const struct config *cfg)
{
	struct maildrop_check mc;
	struct attr_list l;
	struct buf out;
	char err[ATTR_ERR_MAX + 64];
	int timeout = (int) (cfg->global.ipc_timeout * 1000);

	attr_list_init(&l);
	buf_init(&out, 0);
	maildrop_check_init(&mc, (uint64_t) maildrop_content_limit(cfg->global.message_size_limit));
	for (;;) {
		const void *p;
		size_t n;
		int rc = ipc_recv(STDIN_FILENO, &l, MAILDROP_ENVELOPE_MAX, timeout, err, sizeof(err));

		if (rc == 0)
			break;
		if (rc < 0)
			terndrop_fail(errno == EPROTO ? EX_DATAERR : EX_IOERR, "standard input: %s", err);
		if (maildrop_check_frame(&mc, &l, &p, &n, err, sizeof(err)) == MAILDROP_ERROR)
			terndrop_fail(EX_DATAERR, "standard input is not one message: %s", err);
		buf_reset(&out);
		if (attr_encode(&l, &out) < 0)
			terndrop_fail(EX_SOFTWARE, "cannot encode a frame: %s", attr_list_error(&l));
		terndrop_write(&out);
	}
	if (maildrop_check_done(&mc, err, sizeof(err)) < 0)
		terndrop_fail(EX_DATAERR, "standard input is not one message: %s", err);
	attr_list_free(&l);
	buf_free(&out);
}

/* terndrop_create - the temporary file */
static void terndrop_create(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	for (int i = 0; i < 100; i++) {
		str_fmt(td.tmp, sizeof(td.tmp), "%s%ld.%ld", MAILDROP_TMP_PREFIX, (long) getpid(),
			(long) ((ts.tv_nsec + i * 7919L) % 1000000000L));
		td.fd = openat(td.dirfd, td.tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (td.fd >= 0)
			return;
		if (errno != EEXIST)
			break;
	}
	{
		int saved = errno;

		td.tmp[0] = '\0';
		terndrop_fail(saved == EEXIST ? EX_TEMPFAIL : saved == EACCES ? EX_NOPERM : EX_CANTCREAT,
			      "cannot create a file in %s: %s", td.maildrop, strerror(saved));
	}
}

/* terndrop_commit - durable, then under its final name, then the name durable */
static void terndrop_commit(char *name)
{
	struct stat st;
	int dfd;

	if (fchmod(td.fd, MAILDROP_FILE_MODE) < 0 || fsync(td.fd) < 0 || fstat(td.fd, &st) < 0)
		terndrop_fail(terndrop_io_code(errno), "%s/%s: %s", td.maildrop, td.tmp, strerror(errno));
	for (int i = 0; ; i++) {
		struct timeval tv;

		gettimeofday(&tv, NULL);
		if (qid_make(name, (long long) tv.tv_sec, (long) tv.tv_usec, (unsigned long long) st.st_ino) < 0)
			terndrop_fail(EX_SOFTWARE, "cannot make a file name");
		if (renameat2(td.dirfd, td.tmp, td.dirfd, name, RENAME_NOREPLACE) == 0)
			break;
		if (errno != EEXIST || i == 100)
			terndrop_fail(terndrop_io_code(errno), "rename %s/%s: %s", td.maildrop, td.tmp,
				      strerror(errno));
	}
	td.tmp[0] = '\0';
	dfd = open(td.maildrop, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (fsync(dfd) < 0)
			msg_fatal("fsync %s: %s", td.maildrop, strerror(errno));
		close(dfd);
	} else if (syncfs(td.fd) < 0) {
		msg_fatal("syncfs %s: %s", td.maildrop, strerror(errno));
	}
	if (close(td.fd) < 0)
		msg_fatal("close %s/%s: %s", td.maildrop, name, strerror(errno));
}

int main(int argc, char **argv)
{
	static struct config cfg;
	const char *dir = NULL;
	bool set_id = getegid() != getgid() || geteuid() != getuid();
	char name[QID_SIZE];
	int ch;

	msg_init("terndrop");
	umask(077);
	while ((ch = getopt(argc, argv, "c:v")) != -1) {
		switch (ch) {
		case 'c':
			dir = optarg;
			break;
		case 'v':
			msg_verbose++;
			break;
		default:
			fprintf(stderr, "usage: terndrop [-c DIR] < message-frames\n");
			return EX_USAGE;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "usage: terndrop [-c DIR] < message-frames\n");
		return EX_USAGE;
	}
	if (dir == NULL)
		dir = config_dir_default();
	if (set_id && !terndrop_trusted(dir)) {
		msg_debug("%s is not root's alone: giving up set-id rights", dir);
		terndrop_drop();
	}
	td.maildrop = terndrop_config(dir, &cfg);
	td.dirfd = open(td.maildrop, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (td.dirfd < 0)
		terndrop_fail(errno == EACCES ? EX_NOPERM : EX_CANTCREAT, "%s: %s", td.maildrop, strerror(errno));
	terndrop_create();
	terndrop_copy(&cfg);
	terndrop_commit(name);
	msg_debug("%s/%s: spooled", td.maildrop, name);
	free(td.maildrop);
	config_free(&cfg);
	return EX_OK;
}
