/*
 * pickup_scan - replay the maildrop directory to cleanup.
 *
 * Files are taken in name order (= submission order). For each complete
 * file (a queue-id shaped name; terndrop renames a file there only after
 * fsync): open it without following links, check it is a plain file with
 * one link, lock it (another pickup process skips it), take its owner as
 * the submitting uid, and send its frames to cleanup: the envelope
 * through pickup_begin, the content as it is. cleanup's "ok" means the
 * queue file is durable: only then is the maildrop file removed (and the
 * removal synced). So a crash at any point leaves the file for the next
 * scan; the worst case is a message queued twice, never one lost.
 *
 *   what happens                       the file
 *   cleanup says ok                    removed
 *   cannot reach cleanup, or 4xx       kept; the scan stops until the next wake-up
 *   malformed (bad frames, order,      moved to corrupt/ with a log line
 *     envelope, not a plain file)
 *   cleanup refuses it (5xx)           moved to corrupt/ with the reply in the log
 *   "tmp." older than a day            removed with a log line (terndrop died)
 *   any other name                     moved to corrupt/ with a log line
 *
 * The BEGIN frame asks for cleanup's EARLY frame (cleanup_proto.h), read
 * before the content goes out: "QID: uid=N from=<sender>" is logged then,
 * before the message can reach qmgr (Postfix's order). An EARLY error
 * changes nothing here: the RESULT after "end" brings the same reply.
 *
 * A malformed file found after its envelope went to cleanup is aborted
 * there (op=abort: cleanup removes its half-written queue file) before
 * it is moved aside. Nothing here ever removes a file silently.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/maildrop.h"
#include "mail/service.h"
#include "pickup.h"

#define PICKUP_CORRUPT_DIR	"corrupt"
#define PICKUP_TMP_MAX_AGE	(24 * 3600)

/* what became of one file */
enum pickup_scan_outcome { SCAN_NEXT, SCAN_STOP };

/* pickup_scan_state - one scan */
struct pickup_scan_state {
	struct pickup *pk;
	int dirfd;			/* maildrop */
	int cleanup;			/* connection, or -1 */
	struct attr_list frame, begin;
};

/* pickup_scan_cmp - qsort: names in byte order */
static int pickup_scan_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* pickup_scan_sync - make a change of the maildrop directory durable */
static void pickup_scan_sync(const struct pickup_scan_state *sc)
{
	if (fsync(sc->dirfd) < 0)
		msg_warn("%s: fsync: %s", MAILDROP_DIR, strerror(errno));
}

/* pickup_scan_corrupt - move a file aside to corrupt/, saying why */
static void pickup_scan_corrupt(const struct pickup_scan_state *sc, const char *name, const char *why)
{
	char target[300];

	str_copy(target, name, sizeof(target));
	for (int i = 1; ; i++) {
		char *path = str_dupf("%s/%s", PICKUP_CORRUPT_DIR, target);
		int rc = renameat2(sc->dirfd, name, AT_FDCWD, path, RENAME_NOREPLACE);
		int saved = errno;

		free(path);
		if (rc == 0) {
			msg_warn("%s/%s: %s: moved to %s/%s", MAILDROP_DIR, pickup_printable(name), why,
				 PICKUP_CORRUPT_DIR, pickup_printable(target));
			pickup_scan_sync(sc);
			return;
		}
		if (saved != EEXIST || i == 100) {
			msg_error("%s/%s: %s; cannot move it to %s/: %s (left where it is)", MAILDROP_DIR,
				  pickup_printable(name), why, PICKUP_CORRUPT_DIR, strerror(saved));
			return;
		}
		str_fmt(target, sizeof(target), "%.250s.%d", name, i);
	}
}

/* pickup_scan_close_cleanup - drop the cleanup connection */
static void pickup_scan_close_cleanup(struct pickup_scan_state *sc)
{
	if (sc->cleanup >= 0)
		close(sc->cleanup);
	sc->cleanup = -1;
}

/* pickup_scan_abort - tell cleanup to forget the message it was given */
static void pickup_scan_abort(struct pickup_scan_state *sc)
{
	struct attr_list l;

	attr_list_init(&l);
	attr_add_str(&l, CLEANUP_OP, CLEANUP_OP_ABORT);
	if (ipc_send(sc->cleanup, &l, sc->pk->ipc_ms) < 0)
		pickup_scan_close_cleanup(sc);
	attr_list_free(&l);
}

/* pickup_scan_result - cleanup's answer for a file whose frames all went out */
static enum pickup_scan_outcome pickup_scan_result(struct pickup_scan_state *sc, const char *name, uid_t uid,
						   const char *sender)
{
	const char *status, *qid = "", *dsn = "", *text = "";
	int64_t code = 0;
	char err[ATTR_ERR_MAX + 64];
	char why[600];

	int rc = ipc_recv(sc->cleanup, &sc->frame, 0, sc->pk->ipc_ms, err, sizeof(err));

	if (rc <= 0 || !attr_get_str(&sc->frame, CLEANUP_STATUS, &status)) {
		msg_warn("%s/%s: no answer from cleanup: %s; will try again", MAILDROP_DIR,
			 pickup_printable(name), rc < 0 ? err : rc == 0 ? "connection closed" : "no status");
		pickup_scan_close_cleanup(sc);
		return SCAN_STOP;
	}
	if (strcmp(status, CLEANUP_STATUS_OK) == 0) {
		/* "QID: uid=" was logged when the EARLY frame came (pickup_scan_early) */
		attr_get_str(&sc->frame, CLEANUP_QUEUE_ID, &qid);
		if (unlinkat(sc->dirfd, name, 0) < 0)
			msg_error("%s/%s: queued as %s, but cannot remove it: %s", MAILDROP_DIR,
				  pickup_printable(name), pickup_printable(qid), strerror(errno));
		else
			pickup_scan_sync(sc);
		return SCAN_NEXT;
	}
	attr_get_int(&sc->frame, CLEANUP_REPLY_CODE, &code);
	attr_get_str(&sc->frame, CLEANUP_REPLY_DSN, &dsn);
	attr_get_str(&sc->frame, CLEANUP_REPLY_TEXT, &text);
	if (code >= 400 && code < 500) {
		msg_warn("%s/%s: uid=%ld from=<%s>: deferred by cleanup: %lld %s %s", MAILDROP_DIR,
			 pickup_printable(name), (long) uid, pickup_printable(sender), (long long) code,
			 pickup_printable(dsn), pickup_printable(text));
		return SCAN_STOP;
	}
	str_fmt(why, sizeof(why), "uid=%ld from=<%s>: refused by cleanup: %lld %s %s", (long) uid,
		pickup_printable(sender), (long long) code, pickup_printable(dsn), text);
	pickup_scan_corrupt(sc, name, pickup_printable(why));
	return SCAN_NEXT;
}

/* pickup_scan_early - cleanup's EARLY frame: log "QID: uid="; false when none came */
static bool pickup_scan_early(struct pickup_scan_state *sc, const char *name, uid_t uid, const char *sender)
{
	const char *status = "", *qid = "";
	char err[ATTR_ERR_MAX + 64];
	int rc = ipc_recv(sc->cleanup, &sc->frame, 0, sc->pk->ipc_ms, err, sizeof(err));

	if (rc <= 0 || !attr_get_str(&sc->frame, CLEANUP_STATUS, &status)) {
		msg_warn("%s/%s: no early answer from cleanup: %s; will try again", MAILDROP_DIR,
			 pickup_printable(name), rc < 0 ? err : rc == 0 ? "connection closed" : "no status");
		return false;
	}
	if (strcmp(status, CLEANUP_STATUS_QUEUED) == 0 && attr_get_str(&sc->frame, CLEANUP_QUEUE_ID, &qid))
		msg_info("%s: uid=%ld from=<%s>", pickup_printable(qid), (long) uid, pickup_printable(sender));
	return true;			/* an error: the RESULT brings it */
}

/* pickup_scan_send - the frames of an open, locked file to cleanup */
static enum pickup_scan_outcome pickup_scan_send(struct pickup_scan_state *sc, const char *name, int fd,
						 uid_t uid)
{
	struct maildrop_check mc;
	struct ipc_stream out;
	const char *sender = "";
	char err[ATTR_ERR_MAX + 400];
	char *saved_sender = NULL;
	enum pickup_scan_outcome ret = SCAN_NEXT;
	bool begun = false;

	err[0] = '\0';
	maildrop_check_init(&mc, 0);
	ipc_stream_init(&out);
	for (;;) {
		const void *p;
		size_t n;
		int rc = ipc_recv(fd, &sc->frame, MAILDROP_ENVELOPE_MAX, sc->pk->ipc_ms, err, sizeof(err));
		enum maildrop_part part;

		if (rc == 0) {
			/* EOF before the end frame (which returns below) */
			maildrop_check_done(&mc, err, sizeof(err));
			goto malformed;
		}
		if (rc < 0)
			goto malformed;
		part = maildrop_check_frame(&mc, &sc->frame, &p, &n, err, sizeof(err));
		if (part == MAILDROP_ERROR)
			goto malformed;
		if (part == MAILDROP_BEGIN) {
			struct pickup_refusal no;

			if (pickup_begin(&sc->frame, uid, service_name(sc->pk->svc), &sc->begin, &no, err,
					 sizeof(err)) != 0)
				goto malformed;
			attr_get_str(&sc->frame, CLEANUP_SENDER, &sender);
			saved_sender = xstrdup(sender);
			if (sc->cleanup < 0 &&
			    (sc->cleanup = ipc_connect_unix(CLEANUP_SOCKET_PRIVATE, PICKUP_CONNECT_MS)) < 0) {
				msg_warn("connect to %s: %s; maildrop files wait for the next wake-up",
					 CLEANUP_SOCKET_PRIVATE, strerror(errno));
				ret = SCAN_STOP;
				goto out;
			}
			attr_add_int(&sc->begin, CLEANUP_EARLY_QID, 1);
			if (ipc_send(sc->cleanup, &sc->begin, sc->pk->ipc_ms) < 0)
				goto lost;
			begun = true;
			if (!pickup_scan_early(sc, name, uid, saved_sender)) {
				pickup_scan_close_cleanup(sc);
				ret = SCAN_STOP;
				goto out;
			}
		} else if (part == MAILDROP_CHUNK) {
			if (ipc_stream_send_chunk(sc->cleanup, &out, p, n, sc->pk->ipc_ms) < 0)
				goto lost;
		} else {
			/* the end: nothing may follow it in the file */
			if ((rc = ipc_recv(fd, &sc->frame, MAILDROP_ENVELOPE_MAX, sc->pk->ipc_ms, err,
					   sizeof(err))) != 0) {
				if (rc > 0)
					str_fmt(err, sizeof(err), "data after the end of the message");
				goto malformed;
			}
			if (ipc_stream_send_end(sc->cleanup, &out, sc->pk->ipc_ms) < 0)
				goto lost;
			ret = pickup_scan_result(sc, name, uid, saved_sender);
			goto out;
		}
	}
malformed:
	if (begun)
		pickup_scan_abort(sc);
	pickup_scan_corrupt(sc, name, err[0] ? err : "malformed file");
	goto out;
lost:
	msg_warn("%s/%s: cleanup connection lost: %s; will try again", MAILDROP_DIR, pickup_printable(name),
		 strerror(errno));
	pickup_scan_close_cleanup(sc);
	ret = SCAN_STOP;
out:
	free(saved_sender);
	return ret;
}

/* pickup_scan_file - one complete maildrop file */
static enum pickup_scan_outcome pickup_scan_file(struct pickup_scan_state *sc, const char *name)
{
	struct stat st;
	enum pickup_scan_outcome ret;
	int fd = openat(sc->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT)
			return SCAN_NEXT;	/* taken by another pickup */
		if (errno == ELOOP) {
			pickup_scan_corrupt(sc, name, "a symbolic link");
			return SCAN_NEXT;
		}
		msg_warn("%s/%s: open: %s", MAILDROP_DIR, pickup_printable(name), strerror(errno));
		return SCAN_NEXT;
	}
	if (fstat(fd, &st) < 0) {
		msg_warn("%s/%s: fstat: %s", MAILDROP_DIR, pickup_printable(name), strerror(errno));
		close(fd);
		return SCAN_NEXT;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1) {
		close(fd);
		pickup_scan_corrupt(sc, name, S_ISREG(st.st_mode) ? "more than one link" : "not a plain file");
		return SCAN_NEXT;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &st) < 0 || st.st_nlink == 0) {
		close(fd);
		return SCAN_NEXT;	/* another pickup has it, or had it */
	}
	ret = pickup_scan_send(sc, name, fd, st.st_uid);
	close(fd);
	return ret;
}

/* pickup_scan_stale - a temporary file: removed when its writer is surely gone */
static void pickup_scan_stale(const struct pickup_scan_state *sc, const char *name)
{
	struct stat st;

	if (fstatat(sc->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    st.st_mtime > time(NULL) - PICKUP_TMP_MAX_AGE)
		return;
	if (unlinkat(sc->dirfd, name, 0) == 0)
		msg_warn("%s/%s: removed an unfinished file of uid %ld, unchanged for a day "
			 "(its sendmail did not succeed)", MAILDROP_DIR, pickup_printable(name), (long) st.st_uid);
}

/* pickup_scan - the whole maildrop, once */
void pickup_scan(struct pickup *pk)
{
	struct pickup_scan_state sc = {pk, -1, -1, {0}, {0}};
	char **names = NULL;
	size_t n = 0, cap = 0;
	struct dirent *de;
	DIR *d;

	sc.dirfd = open(MAILDROP_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sc.dirfd < 0 || (d = fdopendir(dup(sc.dirfd))) == NULL) {
		msg_warn("%s: %s", MAILDROP_DIR, strerror(errno));
		if (sc.dirfd >= 0)
			close(sc.dirfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			names = xreallocarray(names, cap, sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), pickup_scan_cmp);
	attr_list_init(&sc.frame);
	attr_list_init(&sc.begin);
	for (size_t i = 0; i < n; i++) {
		if (maildrop_name_tmp(names[i]))
			pickup_scan_stale(&sc, names[i]);
		else if (!maildrop_name_ok(names[i]))
			pickup_scan_corrupt(&sc, names[i], "not a maildrop file name");
		else if (pickup_scan_file(&sc, names[i]) == SCAN_STOP)
			break;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	pickup_scan_close_cleanup(&sc);
	attr_list_free(&sc.frame);
	attr_list_free(&sc.begin);
	close(sc.dirfd);
}
