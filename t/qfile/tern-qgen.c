/*
 * tern-qgen - write many small queue files at once, for qmgr's tests.
 *
 *	tern-qgen [-n] DIR COUNT RCPT [MTIME]
 *
 * Writes COUNT complete queue files (sender gen@test, one recipient
 * RCPT, a three-line message) into DIR through the qfile writer, sets
 * each file's modification time to MTIME (unix time; qmgr's due time in
 * deferred/ and timed/) when given, and syncs DIR once at the end.
 * Exits 0, or 1 with a message.
 *
 * -n skips every fsync and fdatasync (this program's own definitions
 * of them replace the C library's): 100,000 files in seconds instead of
 * a minute, for benchmarks. The files are the same; only a power cut
 * could damage them.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/msg.h"
#include "base/str.h"
#include "mail/qfile.h"

static int qgen_nosync;			/* -n */

/* fsync - the C library's, unless -n was given (the writer calls this one) */
int fsync(int fd)
{
	return qgen_nosync ? 0 : (int) syscall(SYS_fsync, fd);
}

/* fdatasync - the same for fdatasync */
int fdatasync(int fd)
{
	return qgen_nosync ? 0 : (int) syscall(SYS_fdatasync, fd);
}

int main(int argc, char **argv)
{
	static const char content[] = "Subject: generated\n\nbody\n";
	struct qfile_dir dir;
	struct qfile_error err;
	long long count, mtime = -1;

	msg_init("tern-qgen");
	if (argc > 1 && strcmp(argv[1], "-n") == 0) {
		qgen_nosync = 1;
		argv++;
		argc--;
	}
	if (argc < 4 || argc > 5 || str_to_ll(argv[2], 1, 10000000, &count) < 0 ||
	    (argc == 5 && str_to_ll(argv[4], 0, QFILE_TIME_MAX, &mtime) < 0))
		msg_fatal("usage: tern-qgen [-n] DIR COUNT RCPT [MTIME]");
	if (qfile_dir_open(&dir, argv[1], &err) < 0)
		msg_fatal("%s", err.text);
	for (long long i = 0; i < count; i++) {
		struct qfile_writer *w = qfile_create(&dir, NULL, &err);

		if (w == NULL)
			msg_fatal("%s", err.text);
		if (qfile_put_sender(w, "gen@test") < 0 || qfile_put_rcpt(w, argv[3], 0, NULL, NULL) < 0 ||
		    qfile_put_content(w, content, sizeof(content) - 1) < 0 || qfile_commit(w) < 0)
			msg_fatal("%s", qfile_writer_error(w)->text);
		if (mtime >= 0) {
			struct timespec ts[2] = {{(time_t) mtime, 0}, {(time_t) mtime, 0}};

			if (utimensat(dir.fd, qfile_writer_qid(w), ts, 0) < 0)
				msg_fatal("utimensat %s", qfile_writer_qid(w));
		}
		qfile_writer_free(w);
	}
	if (qfile_dir_sync(&dir, &err) < 0)
		msg_fatal("%s", err.text);
	qfile_dir_close(&dir);
	return 0;
}
