/*
 * ternsuper - queue maintenance for the administrator (root), the habit
 * of postsuper.
 *
 *	ternsuper [-c dir] [-w secs] [-s] [-d ID|ALL|-] [-h ID|ALL|-]
 *		  [-H ID|ALL|-] [-r ID|ALL|-] [queue...]
 *
 * -d deletes, -h puts on hold (moves to hold/), -H releases from hold
 * (to deferred/, due now), -r requeues (to incoming/, so qmgr resolves
 * every recipient again; a held message is released by it), -s repairs
 * the queue's structure (ternsuper_repair.c). Each of -d -h -H -r may be
 * given more than once; "-" reads queue ids from standard input, one a
 * line; ALL means every message. The queue operands limit the
 * directories searched (default: delete incoming, deferred, hold, timed,
 * corrupt; hold incoming, deferred, timed; release hold; requeue
 * deferred, hold, timed). Order: -s, then -d, -h, -H, -r.
 *
 * Safe while tern runs:
 *   - every move is one rename(2) (renameat2 RENAME_NOREPLACE) of the
 *     file's name, and both directories are fsync'ed before ternsuper
 *     tells qmgr; qmgr's own moves are renames too, so for each file
 *     exactly one of the two wins and the loser gets ENOENT (qmgr skips
 *     the file; ternsuper looks for it again);
 *   - a file in incoming/ without the complete mark is being written by
 *     cleanup: it is never touched (by id: "is being written", exit 75);
 *   - a file in active/ is qmgr's: ternsuper asks qmgr on
 *     private/qmgr-control (lib/mail/qmgr_proto.h) to delete, hold or
 *     requeue it; qmgr drops its waiting deliveries and acts once no
 *     delivery agent holds the file's lock (deliver_agent.h). ternsuper
 *     waits up to -w seconds (default 10) for the file to leave active/
 *     (deleted, or in hold/) and counts it done; a requeue is counted
 *     once qmgr took the request. When qmgr does not run, ternsuper tests
 *     the lock itself: a file no agent holds is acted on in active/, one
 *     that is held is waited for. After -w seconds it reports "QID: is
 *     being delivered; try again" and exits 75.
 *   - afterwards qmgr is woken ("A" after hold/release, "W" after
 *     requeue), so changes take effect at once.
 *
 * Each change is logged (maillog_file or syslog, and standard error):
 * "QID: removed", "QID: placed on hold", "QID: released from hold",
 * "QID: requeued"; a summary goes to standard error.
 *
 * Exit status (sysexits): 0 done, 64 usage, 66 a queue id not found, 75
 * a message was being delivered, 77 not root, 78 configuration, 74 I/O.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/deliver_proto.h"
#include "mail/qid.h"
#include "mail/qmgr_proto.h"
#include "mail/queue_list.h"
#include "ternsuper.h"

#define TERNSUPER_USAGE \
	"usage: ternsuper [-c dir] [-w secs] [-s] [-d ID|ALL|-] [-h ID|ALL|-] [-H ID|ALL|-] " \
	"[-r ID|ALL|-] [queue...]\n"
#define TERNSUPER_ARGS_MAX	10000000	/* queue ids from the command line and stdin */
#define TERNSUPER_POLL_US	100000		/* polling active/ */
#define TERNSUPER_CTL_MS	10000		/* a control request to qmgr */

const char *const ternsuper_dir_names[TS_NDIRS] = {
	"incoming", "active", "deferred", "hold", "timed", "corrupt", "defer", "bounce",
};

/* the operations, in the order they run */
enum ternsuper_op { OP_DELETE, OP_HOLD, OP_RELEASE, OP_REQUEUE, OP_COUNT };

static const struct {
	char opt;
	const char *done;		/* the log line after "QID: " */
	const char *summary;
	unsigned dirs;			/* default search: bits of enum ternsuper_dir */
} ternsuper_ops[OP_COUNT] = {
	{'d', "removed", "Deleted",
	 1u << TS_INCOMING | 1u << TS_DEFERRED | 1u << TS_HOLD | 1u << TS_TIMED | 1u << TS_CORRUPT},
	{'h', "placed on hold", "Placed on hold", 1u << TS_INCOMING | 1u << TS_DEFERRED | 1u << TS_TIMED},
	{'H', "released from hold", "Released from hold", 1u << TS_HOLD},
	{'r', "requeued", "Requeued", 1u << TS_DEFERRED | 1u << TS_HOLD | 1u << TS_TIMED},
};

/* ternsuper_args - the queue ids given for one operation */
struct ternsuper_args {
	char **ids;
	size_t n, cap;
	bool all;
};

/* ternsuper_fail - remember the first error's status */
void ternsuper_fail(struct ternsuper *ts, int status)
{
	if (ts->status == 0)
		ts->status = status;
}

/* ternsuper_move - one rename that never replaces; both directories become dirty */
int ternsuper_move(struct ternsuper *ts, enum ternsuper_dir from, enum ternsuper_dir to,
		   const char *name)
{
	if (ts->dirfd[from] < 0 || ts->dirfd[to] < 0) {
		errno = ENOENT;
		return -1;
	}
	if (renameat2(ts->dirfd[from], name, ts->dirfd[to], name, RENAME_NOREPLACE) < 0)
		return -1;
	ts->dirty[from] = ts->dirty[to] = true;
	return 0;
}

/* ternsuper_sync - fsync the directories that changed */
void ternsuper_sync(struct ternsuper *ts)
{
	for (int d = 0; d < TS_NDIRS; d++) {
		if (!ts->dirty[d])
			continue;
		ts->dirty[d] = false;
		if (fsync(ts->dirfd[d]) < 0) {
			msg_error("fsync %s/%s: %s", ts->queue_dir, ternsuper_dir_names[d], strerror(errno));
			ternsuper_fail(ts, EX_IOERR);
		}
	}
}

/* ternsuper_cmp - qsort: names in byte order */
static int ternsuper_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* ternsuper_names - the sorted names in one directory */
char **ternsuper_names(struct ternsuper *ts, enum ternsuper_dir dir, size_t *n)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL;
	size_t cap = 0;
	int fd;

	*n = 0;
	if (ts->dirfd[dir] < 0 || (fd = openat(ts->dirfd[dir], ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return NULL;
	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (*n == cap) {
			cap = cap ? 2 * cap : 64;
			names = xreallocarray(names, cap, sizeof(*names));
		}
		names[(*n)++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (*n > 0)
		qsort(names, *n, sizeof(*names), ternsuper_cmp);
	return names;
}

/* ternsuper_names_free - free a ternsuper_names result */
void ternsuper_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ternsuper_exists - name exists in dir */
static bool ternsuper_exists(struct ternsuper *ts, enum ternsuper_dir dir, const char *name)
{
	struct stat st;

	return ts->dirfd[dir] >= 0 && fstatat(ts->dirfd[dir], name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* ternsuper_apply - op on dir/id; 0 done, -1 with errno (ENOENT: not there) */
static int ternsuper_apply(struct ternsuper *ts, enum ternsuper_op op, enum ternsuper_dir dir,
			   const char *id)
{
	struct stat st;
	int fd;

	/* cleanup is still writing an incoming file without the complete mark */
	if (dir == TS_INCOMING) {
		if (fstatat(ts->dirfd[dir], id, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return -1;
		if (!S_ISREG(st.st_mode) || !(st.st_mode & S_IXUSR)) {
			errno = EBUSY;
			return -1;
		}
	}
	switch (op) {
	case OP_DELETE:
		if (unlinkat(ts->dirfd[dir], id, 0) < 0)
			return -1;
		ts->dirty[dir] = true;
		for (enum ternsuper_dir r = TS_DEFER; r <= TS_BOUNCE; r++)
			if (ts->dirfd[r] >= 0 && unlinkat(ts->dirfd[r], id, 0) == 0)
				ts->dirty[r] = true;
		return 0;
	case OP_HOLD:
		return ternsuper_move(ts, dir, TS_HOLD, id);
	case OP_RELEASE:
		/* due now: deferred/ files carry their next attempt as their mtime */
		if ((fd = openat(ts->dirfd[dir], id, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
			return -1;
		(void) futimens(fd, NULL);
		close(fd);
		return ternsuper_move(ts, dir, TS_DEFERRED, id);
	case OP_REQUEUE:
		return ternsuper_move(ts, dir, TS_INCOMING, id);
	case OP_COUNT:
		break;
	}
	errno = EINVAL;
	return -1;
}

/* ternsuper_try - op on id in the first of dirs that holds it: 1 done, 0 none, -1 error */
static int ternsuper_try(struct ternsuper *ts, enum ternsuper_op op, unsigned dirs, const char *id)
{
	for (enum ternsuper_dir d = 0; d <= TS_CORRUPT; d++) {
		if (!(dirs & (1u << d)) || ts->dirfd[d] < 0)
			continue;
		if (ternsuper_apply(ts, op, d, id) == 0) {
			msg_info("%s: %s", id, ternsuper_ops[op].done);
			ts->changes++;
			return 1;
		}
		if (errno == EBUSY) {
			msg_error("%s: is being written to incoming/; try again", id);
			ternsuper_fail(ts, EX_TEMPFAIL);
			return -1;
		}
		if (errno != ENOENT) {
			msg_error("%s: %s/%s: %s", id, ternsuper_dir_names[d],
				  ternsuper_ops[op].done, strerror(errno));
			ternsuper_fail(ts, errno == EEXIST ? EX_SOFTWARE : EX_IOERR);
			return -1;
		}
	}
	return 0;
}

/*
 * ternsuper_ask - ask qmgr to do op to active/id: 1 with qmgr's result
 * ("done", "pending", "absent") in result, 0 when qmgr does not answer
 */
static int ternsuper_ask(struct ternsuper *ts, enum ternsuper_op op, const char *id, char *result,
			 size_t size)
{
	static const char *const names[OP_COUNT] = {QMGR_CTL_OP_DELETE, QMGR_CTL_OP_HOLD, NULL,
						     QMGR_CTL_OP_REQUEUE};
	char *path = str_dupf("%s/%s", ts->queue_dir, QMGR_CTL_SOCKET);
	struct attr_list req, reply;
	const char *status = "", *res = "";
	char err[256];
	int fd, rc = 0;

	if (names[op] == NULL || (fd = ipc_connect_unix(path, TERNSUPER_CTL_MS)) < 0) {
		free(path);
		return 0;
	}
	attr_list_init(&req);
	attr_list_init(&reply);
	attr_add_str(&req, QMGR_CTL_OP, names[op]);
	attr_add_str(&req, QMGR_CTL_QUEUE_ID, id);
	if (ipc_request(fd, &req, &reply, 0, TERNSUPER_CTL_MS, err, sizeof(err)) < 0) {
		msg_warn("%s: %s: %s", id, path, err);
	} else if (!attr_get_str(&reply, DELIVER_STATUS, &status) || strcmp(status, "ok") != 0 ||
		   !attr_get_str(&reply, QMGR_CTL_RESULT, &res)) {
		if (!attr_get_str(&reply, DELIVER_TEXT, &res))
			res = "no result";
		msg_warn("%s: qmgr refused the request: %s", id, res);
	} else {
		str_copy(result, res, size);
		rc = 1;
	}
	close(fd);
	attr_list_free(&req);
	attr_list_free(&reply);
	free(path);
	return rc;
}

/* ternsuper_locked - does a delivery agent hold active/id (flock, deliver_agent.h) */
static bool ternsuper_locked(struct ternsuper *ts, const char *id)
{
	int fd = openat(ts->dirfd[TS_ACTIVE], id, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	bool busy = false;

	if (fd < 0)
		return false;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0)
		busy = errno == EWOULDBLOCK;
	close(fd);			/* releases our lock, if we got it */
	return busy;
}

/*
 * ternsuper_active - op on active/id: through qmgr when it runs, else
 * itself when no agent holds the file. 1 done, 0 wait, -1 error;
 * *asked tells whether qmgr took the request (it acts later)
 */
static int ternsuper_active(struct ternsuper *ts, enum ternsuper_op op, const char *id, bool *asked)
{
	char result[32];

	if (!*asked && ternsuper_ask(ts, op, id, result, sizeof(result))) {
		if (strcmp(result, QMGR_CTL_ABSENT) == 0)
			return 0;		/* moved on meanwhile: look again */
		*asked = true;
		if (strcmp(result, QMGR_CTL_DONE) == 0 || op == OP_REQUEUE) {
			fprintf(stderr, "ternsuper: %s: %s by qmgr%s\n", id, ternsuper_ops[op].done,
				strcmp(result, QMGR_CTL_DONE) == 0 ? "" : " when its delivery ends");
			ts->changes++;
			return 1;
		}
		return 0;			/* pending: qmgr acts after the agent */
	}
	if (*asked || op == OP_RELEASE || ternsuper_locked(ts, id))
		return 0;
	if (ternsuper_apply(ts, op, TS_ACTIVE, id) < 0)
		return errno == ENOENT ? 0 : -1;
	msg_info("%s: %s", id, ternsuper_ops[op].done);
	ts->changes++;
	return 1;
}

/* ternsuper_one - op on one queue id, waiting while it is in active/ */
static int ternsuper_one(struct ternsuper *ts, enum ternsuper_op op, unsigned dirs, const char *id,
			 const struct timespec *deadline)
{
	struct timespec now;
	bool seen_active = false, asked = false;
	int rc;

	if (!qid_valid(id)) {
		msg_error("%s: not a queue id", id);
		ternsuper_fail(ts, EX_USAGE);
		return -1;
	}
	for (;;) {
		if ((rc = ternsuper_try(ts, op, dirs, id)) != 0)
			return rc;
		if (!ternsuper_exists(ts, TS_ACTIVE, id)) {
			/* it may have moved between two directories meanwhile: once more */
			if ((rc = ternsuper_try(ts, op, dirs, id)) != 0)
				return rc;
			if (!ternsuper_exists(ts, TS_ACTIVE, id)) {
				if (asked && (op == OP_DELETE || (op == OP_HOLD &&
								  ternsuper_exists(ts, TS_HOLD, id)))) {
					fprintf(stderr, "ternsuper: %s: %s by qmgr\n", id,
						ternsuper_ops[op].done);
					ts->changes++;
					return 1;
				}
				if (seen_active && op == OP_DELETE)
					return 0;	/* delivered meanwhile: nothing left */
				if (seen_active)
					msg_error("%s: left the queue while it was being delivered", id);
				else
					msg_error("%s: not found in %s", id, op == OP_RELEASE ? "hold/" :
						  "the queue directories searched");
				ternsuper_fail(ts, EX_NOINPUT);
				return -1;
			}
		}
		seen_active = true;
		if ((rc = ternsuper_active(ts, op, id, &asked)) != 0) {
			if (rc < 0) {
				msg_error("%s: active/: %s", id, strerror(errno));
				ternsuper_fail(ts, EX_IOERR);
			}
			return rc;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > deadline->tv_sec ||
		    (now.tv_sec == deadline->tv_sec && now.tv_nsec >= deadline->tv_nsec)) {
			msg_error("%s: is being delivered; try again", id);
			ternsuper_fail(ts, EX_TEMPFAIL);
			return -1;
		}
		usleep(TERNSUPER_POLL_US);
	}
}

/* ternsuper_all - op on every message of dirs, then on those that were in active/ */
static long ternsuper_all(struct ternsuper *ts, enum ternsuper_op op, unsigned dirs, bool active,
			  const struct timespec *deadline)
{
	long done = 0;

	for (enum ternsuper_dir d = 0; d <= TS_CORRUPT; d++) {
		char **names;
		size_t n;

		if (!(dirs & (1u << d)) || (names = ternsuper_names(ts, d, &n)) == NULL)
			continue;
		for (size_t i = 0; i < n; i++) {
			struct stat st;

			if (!qid_valid(names[i]))
				continue;
			if (d == TS_INCOMING && (fstatat(ts->dirfd[d], names[i], &st, AT_SYMLINK_NOFOLLOW) < 0 ||
						 !(st.st_mode & S_IXUSR)))
				continue;	/* gone, or still being written */
			if (ternsuper_try(ts, op, 1u << d, names[i]) > 0)
				done++;
		}
		ternsuper_names_free(names, n);
	}
	if (active && op != OP_RELEASE) {
		char **names;
		size_t n;

		if ((names = ternsuper_names(ts, TS_ACTIVE, &n)) != NULL) {
			for (size_t i = 0; i < n; i++)
				if (qid_valid(names[i]) && ternsuper_one(ts, op, dirs, names[i], deadline) > 0)
					done++;
			ternsuper_names_free(names, n);
		}
	}
	return done;
}

/* ternsuper_add - one argument of -d/-h/-H/-r; "-" reads stdin */
static void ternsuper_add(struct ternsuper_args *a, const char *arg)
{
	char line[256];

	if (strcmp(arg, "ALL") == 0) {
		a->all = true;
		return;
	}
	if (strcmp(arg, "-") != 0) {
		if (a->n == a->cap) {
			a->cap = a->cap ? 2 * a->cap : 16;
			a->ids = xreallocarray(a->ids, a->cap, sizeof(*a->ids));
		}
		a->ids[a->n++] = xstrdup(arg);
		return;
	}
	while (fgets(line, sizeof(line), stdin) != NULL) {
		char *s = str_trim(line);

		if (*s == '\0')
			continue;
		if (a->n >= TERNSUPER_ARGS_MAX)
			msg_fatal("more than %d queue ids", TERNSUPER_ARGS_MAX);
		if (strcmp(s, "ALL") == 0 || strcmp(s, "-") == 0) {
			msg_error("%s: not a queue id (from standard input)", s);
			continue;
		}
		ternsuper_add(a, s);
	}
}

/* ternsuper_queues - the queue operands as directory bits; 0 after a bad one */
static unsigned ternsuper_queues(char **argv, int argc)
{
	unsigned bits = 0;

	for (int i = 0; i < argc; i++) {
		int d;

		for (d = 0; d <= TS_CORRUPT; d++)
			if (strcmp(argv[i], ternsuper_dir_names[d]) == 0)
				break;
		if (d > TS_CORRUPT) {
			msg_error("%s: not a queue (incoming, deferred, hold, timed, corrupt)", argv[i]);
			return 0;
		}
		if (d == TS_ACTIVE) {
			msg_error("active: messages there are being delivered; name their ids instead");
			return 0;
		}
		bits |= 1u << d;
	}
	return bits;
}

/* ternsuper_setup - configuration, mail_owner, directory descriptors, log */
static int ternsuper_setup(struct ternsuper *ts, const char *config_dir, struct config *cfg)
{
	struct config_problems probs;
	struct passwd *pw;
	char ident[128];

	memset(&probs, 0, sizeof(probs));
	if (config_load(cfg, config_dir, NULL, NULL, false, &probs) > 0) {
		for (size_t i = 0; i < probs.count; i++)
			msg_error("%s: %s", probs.list[i].where, probs.list[i].text);
		config_problems_free(&probs);
		config_free(cfg);
		return EX_CONFIG;
	}
	config_problems_free(&probs);
	ts->queue_dir = cfg->global.queue_directory;
	if ((pw = getpwnam(cfg->global.mail_owner)) == NULL) {
		msg_error("mail_owner %s: no such user", cfg->global.mail_owner);
		config_free(cfg);
		return EX_CONFIG;
	}
	ts->uid = pw->pw_uid;
	ts->gid = pw->pw_gid;
	for (int d = 0; d < TS_NDIRS; d++) {
		char *path = str_dupf("%s/%s", ts->queue_dir, ternsuper_dir_names[d]);

		ts->dirfd[d] = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (ts->dirfd[d] < 0 && errno != ENOENT) {
			msg_error("%s: %s", path, strerror(errno));
			free(path);
			config_free(cfg);
			return EX_IOERR;
		}
		free(path);
	}
	str_fmt(ident, sizeof(ident), "%s/ternsuper", cfg->global.syslog_name);
	msg_init(ident);
	if (cfg->global.maillog_file[0] != '\0') {
		if (msg_open(MSG_FILE, cfg->global.maillog_file, NULL) < 0)
			msg_warn("open maillog_file %s: %s", cfg->global.maillog_file, strerror(errno));
	} else if (msg_open(MSG_SYSLOG, NULL, cfg->global.syslog_facility) < 0) {
		msg_warn("syslog facility %s: %s", cfg->global.syslog_facility, strerror(errno));
	}
	msg_also_stderr(true);
	return 0;
}

/* ternsuper_run - every requested operation */
static void ternsuper_run(struct ternsuper *ts, struct ternsuper_args *args, unsigned queues,
			  bool repair, long wait_s)
{
	struct timespec deadline;
	bool wake_a = false, wake_w = false;
	char err[512];

	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += wait_s;
	if (repair) {
		ternsuper_repair(ts);
		ternsuper_sync(ts);
		wake_w = true;
	}
	for (int op = 0; op < OP_COUNT; op++) {
		unsigned dirs = queues ? queues : ternsuper_ops[op].dirs;
		long before = ts->changes;

		if (!args[op].all && args[op].n == 0)
			continue;
		if (op == OP_RELEASE && queues)
			dirs &= 1u << TS_HOLD;
		if (args[op].all)
			ternsuper_all(ts, (enum ternsuper_op) op, dirs, queues == 0, &deadline);
		for (size_t i = 0; i < args[op].n; i++)
			ternsuper_one(ts, (enum ternsuper_op) op, dirs, args[op].ids[i], &deadline);
		ternsuper_sync(ts);
		fprintf(stderr, "ternsuper: %s: %ld message%s\n", ternsuper_ops[op].summary,
			ts->changes - before, ts->changes - before == 1 ? "" : "s");
		if (op == OP_REQUEUE)
			wake_w = true;
		else if (op != OP_DELETE)
			wake_a = true;
	}
	if ((wake_a || wake_w) && queue_list_trigger(ts->queue_dir, wake_w ? (wake_a ? "WA" : "W") : "A",
						    err, sizeof(err)) < 0)
		msg_warn("%s: qmgr will see the changes at its next scan", err);
}

int main(int argc, char **argv)
{
	struct ternsuper ts = {.status = 0};
	struct ternsuper_args args[OP_COUNT];
	struct config cfg;
	const char *config_dir = NULL;
	bool repair = false, any = false;
	long long wait_s = 10;
	unsigned queues;
	int c, status;

	msg_init("ternsuper");
	memset(args, 0, sizeof(args));
	for (int d = 0; d < TS_NDIRS; d++)
		ts.dirfd[d] = -1;
	while ((c = getopt(argc, argv, "c:w:sd:h:H:r:")) != -1) {
		int op = c == 'd' ? OP_DELETE : c == 'h' ? OP_HOLD : c == 'H' ? OP_RELEASE
		    : c == 'r' ? OP_REQUEUE : -1;

		if (op >= 0) {
			ternsuper_add(&args[op], optarg);
			any = true;
			continue;
		}
		switch (c) {
		case 'c':
			config_dir = optarg;
			break;
		case 'w':
			if (str_to_ll(optarg, 0, 3600, &wait_s) < 0) {
				fputs(TERNSUPER_USAGE, stderr);
				return EX_USAGE;
			}
			break;
		case 's':
			repair = any = true;
			break;
		default:
			fputs(TERNSUPER_USAGE, stderr);
			return EX_USAGE;
		}
	}
	if (!any) {
		fputs(TERNSUPER_USAGE, stderr);
		return EX_USAGE;
	}
	queues = ternsuper_queues(argv + optind, argc - optind);
	if (optind < argc && queues == 0)
		return EX_USAGE;
	if (geteuid() != 0) {
		msg_error("must be run by root");
		return EX_NOPERM;
	}
	if ((status = ternsuper_setup(&ts, config_dir, &cfg)) != 0)
		return status;
	ternsuper_run(&ts, args, queues, repair, (long) wait_s);
	for (int op = 0; op < OP_COUNT; op++)
		ternsuper_names_free(args[op].ids, args[op].n);
	for (int d = 0; d < TS_NDIRS; d++)
		if (ts.dirfd[d] >= 0)
			close(ts.dirfd[d]);
	config_free(&cfg);
	return ts.status;
}
