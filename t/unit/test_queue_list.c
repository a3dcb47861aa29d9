/*
 * test_queue_list - the queue walk and the mailq listing: queue files in
 * several queue directories (one deferred, one on hold, one still being
 * written), a maildrop file, junk names; order, marks, recipients still
 * to do, the summary line, the empty queue and a directory that may not
 * be read.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/maildrop.h"
#include "mail/qfile.h"
#include "mail/queue_list.h"
#include "tap.h"

static char qdir[PATH_MAX];

/* sub - "qdir/name" (static) */
static const char *sub(const char *name)
{
	static char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", qdir, name);
	return p;
}

/* make_qfile - a complete queue file in queue; its id into id */
static void make_qfile(const char *queue, long long arrival, const char *sender,
		       const char *const *rcpts, const char *content, bool commit, char *id)
{
	struct qfile_dir d;
	struct qfile_error err;
	struct timeval tv = {(time_t) arrival, 0};
	struct qfile_writer *w;
	int bad = 0;

	if (qfile_dir_open(&d, sub(queue), &err) < 0 || (w = qfile_create(&d, &tv, &err)) == NULL) {
		printf("# %s\n", err.text);
		exit(1);
	}
	bad |= qfile_put_sender(w, sender);
	for (size_t i = 0; rcpts[i]; i++)
		bad |= qfile_put_rcpt(w, rcpts[i], 0, NULL, NULL);
	bad |= qfile_put_content(w, content, strlen(content));
	str_copy(id, qfile_writer_qid(w), QID_SIZE);
	bad |= qfile_commit(w);
	if (bad) {
		printf("# %s\n", qfile_writer_error(w)->text);
		exit(1);
	}
	qfile_writer_free(w);
	qfile_dir_close(&d);
	if (!commit) {
		/* as if cleanup were still writing it: no complete mark */
		char path[PATH_MAX * 2];

		snprintf(path, sizeof(path), "%s/%s/%s", qdir, queue, id);
		chmod(path, QFILE_MODE_INCOMPLETE);
	}
}

/* make_maildrop - a maildrop file named name */
static void make_maildrop(const char *name, const char *sender, const char *rcpt)
{
	struct attr_list l;
	struct ipc_stream s;
	char path[PATH_MAX * 2];
	int fd;

	snprintf(path, sizeof(path), "%s/maildrop/%s", qdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	attr_list_init(&l);
	attr_add_str(&l, CLEANUP_OP, CLEANUP_OP_BEGIN);
	attr_add_str(&l, CLEANUP_SENDER, sender);
	attr_add_str(&l, CLEANUP_RCPT, rcpt);
	ipc_stream_init(&s);
	if (fd < 0 || ipc_send(fd, &l, 1000) < 0 ||
	    ipc_stream_send_chunk(fd, &s, "S: x\r\n\r\nhi\r\n", 12, 1000) < 0 ||
	    ipc_stream_send_end(fd, &s, 1000) < 0) {
		printf("# maildrop file: %s\n", strerror(errno));
		exit(1);
	}
	close(fd);
	attr_list_free(&l);
}

/* listing - queue_list_mailq into a string (static buffer); count into *n */
static const char *listing(long *n)
{
	static char *text;
	size_t len;
	char err[256];
	FILE *fp;

	free(text);
	fp = open_memstream(&text, &len);
	*n = queue_list_mailq(fp, qdir, err, sizeof(err));
	fclose(fp);
	if (*n < 0)
		printf("# %s\n", err);
	return text;
}

/* count_walk - queue_list_walk callback: count, and stop at the second when asked */
static int count_walk(const struct queue_list_item *it, void *ctx)
{
	int *n = ctx;

	(void) it;
	return ++*n == 2 ? 7 : 0;
}

int main(void)
{
	static const char *const r1[] = {"alice@example.com", "bob@example.com", NULL};
	static const char *const r2[] = {"carol@example.org", NULL};
	char id1[QID_SIZE], id2[QID_SIZE], id3[QID_SIZE], id4[QID_SIZE];
	const char *text;
	char line[512];
	long n;

	setenv("TZ", "UTC", 1);
	snprintf(qdir, sizeof(qdir), "%s/tern-qlist-%d", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp",
		 (int) getpid());
	mkdir(qdir, 0755);
	text = listing(&n);
	is_int(n, 0, "a queue without queue directories is empty");
	is_str(text, "Mail queue is empty\n", "and says so");

	for (const char *const *q = (const char *const[]) {"incoming", "active", "deferred", "hold",
							   "maildrop", NULL}; *q; q++)
		mkdir(sub(*q), 0700);
	make_qfile("deferred", 1700000000, "sender@example.com", r1, "Subject: a\n\nbody\n", true, id1);
	make_qfile("active", 1700000100, "", r2, "Subject: b\n\n", true, id2);
	make_qfile("hold", 1700000200, "held@example.com", r2, "x", true, id3);
	make_qfile("incoming", 1700000300, "partial@example.com", r2, "x", false, id4);
	make_maildrop("0PAB3Q7XK2M4F71", "local@example.com", "dest@example.net");
	make_maildrop("tmp.1.2", "tmp@example.com", "x@example.net");
	close(open(sub("active/junk-name"), O_WRONLY | O_CREAT, 0600));

	/* the deferred message: bob deferred with a status, alice delivered */
	{
		struct qfile_error err;
		char path[PATH_MAX * 2];
		struct qfile *qf;

		snprintf(path, sizeof(path), "%s/deferred/%s", qdir, id1);
		qf = qfile_open(path, QFILE_OPEN_RDWR, &err);
		struct qfile_rstatus done = {QFILE_DELIVERED, 0, 1, 2, 0, 0, 1700000050};
		struct qfile_rstatus later = {QFILE_DEFERRED, 0, 2, 4, 4, 1, 1700009999};

		ok(qf != NULL && qfile_rcpt_update(qf, 0, &done, &err) == 0 &&
		   qfile_rcpt_update(qf, 1, &later, &err) == 0 && qfile_sync(qf, &err) == 0,
		   "recipient states updated");
		qfile_close(qf);
	}

	text = listing(&n);
	is_int(n, 4, "four messages: three queue files and a maildrop file");
	for (const char *p = text; *p; ) {
		const char *nl = strchr(p, '\n');
		int len = nl ? (int) (nl - p) : (int) strlen(p);

		printf("# %.*s\n", len, p);
		p += len + (nl != NULL);
	}
	ok(strncmp(text, "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n", 67) == 0,
	   "the heading first");
	snprintf(line, sizeof(line), "%-10s* %8d %-20s %s\n", id2, 12, "Tue Nov 14 22:15:00", "MAILER-DAEMON");
	ok(strstr(text, line) != NULL, "active: '*' mark, size, arrival, <> as MAILER-DAEMON");
	snprintf(line, sizeof(line), "%-10s  %8d %-20s %s\n%41s(deferred: status 4.4.1 after 2 attempts)\n"
		 "%41sbob@example.com\n\n", id1, 17, "Tue Nov 14 22:13:20", "sender@example.com", "", "");
	ok(strstr(text, line) != NULL, "deferred: the reason, then the recipient still to do");
	ok(strstr(text, "alice@example.com") == NULL, "a delivered recipient is not listed");
	snprintf(line, sizeof(line), "%-10s! %8d", id3, 1);
	ok(strstr(text, line) != NULL, "hold: '!' mark");
	ok(strstr(text, "partial@example.com") == NULL, "a queue file being written is not listed");
	ok(strstr(text, "0PAB3Q7XK2M4F71 ") != NULL && strstr(text, "(waiting in maildrop for pickup)") &&
	   strstr(text, "dest@example.net") != NULL, "the maildrop file, with its recipient");
	ok(strstr(text, "tmp@example.com") == NULL, "a maildrop file being written is not listed");
	ok(strstr(text, "junk-name") == NULL, "names that are not queue ids are skipped");
	ok(strstr(text, id2) < strstr(text, id1) && strstr(text, id1) < strstr(text, id3) &&
	   strstr(text, id3) < strstr(text, "0PAB3Q7XK2M4F71"),
	   "order: active, deferred, hold, maildrop");
	ok(strstr(text, "\n-- 1 Kbytes in 4 Requests.\n") != NULL, "the summary line");

	/* a damaged queue file is listed with the reason */
	{
		char *p = str_dupf("%s/%s", sub("hold"), id3);
		int fd = open(p, O_WRONLY);

		ok(fd >= 0 && pwrite(fd, "XXXX", 4, 0) == 4, "damage the held file");
		close(fd);
		free(p);
		text = listing(&n);
		snprintf(line, sizeof(line), "%-10s! %8s %-20s (hold: unreadable: ", id3, "", "");
		ok(n == 4 && strstr(text, line) != NULL, "a damaged file is listed as unreadable");
	}

	/* the callback's value stops the walk */
	{
		int count = 0;
		char err[128];

		is_int(queue_list_walk(qdir, count_walk, &count, err, sizeof(err)), 7, "the walk stops with fn's value");
		is_int(count, 2, "after the second message");
	}

	/* a directory that may not be read */
	if (geteuid() != 0) {
		char err[256];
		FILE *fp = fopen("/dev/null", "w");

		chmod(sub("incoming"), 0);
		errno = 0;
		ok(queue_list_mailq(fp, qdir, err, sizeof(err)) == -1 && errno == EACCES,
		   "an unreadable queue directory is EACCES (%s)", err);
		chmod(sub("incoming"), 0700);
		fclose(fp);
	}

	{
		char cmd[PATH_MAX + 16];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", qdir);
		if (system(cmd) != 0)
			printf("# cannot remove %s\n", qdir);
	}
	return tap_done();
}
