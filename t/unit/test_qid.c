/*
 * test_qid - queue ids: encoding, order, validation, and uniqueness of the
 * ids qfile_create hands out, in one process and across forked ones.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/mem.h"
#include "mail/qfile.h"
#include "mail/qid.h"
#include "tap.h"

static char tmpdir[PATH_MAX];

/* cmp_str - qsort helper for char* arrays */
static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* count_dups - number of adjacent equal entries after sorting */
static size_t count_dups(char **ids, size_t n)
{
	size_t dups = 0;

	qsort(ids, n, sizeof(char *), cmp_str);
	for (size_t i = 1; i < n; i++)
		if (strcmp(ids[i - 1], ids[i]) == 0)
			dups++;
	return dups;
}

/* test_encoding - known values and round trips */
static void test_encoding(void)
{
	char id[QID_SIZE];
	long long sec;
	long usec;
	unsigned long long ino;

	ok(qid_make(id, 1732359660, 123456, 1234567) == 0, "make a typical id");
	is_str(id, "1H7J9N2MDA015NM7", "typical id text");
	ok(qid_time(id, &sec, &usec) == 0 && sec == 1732359660 && usec == 123456, "time back from the id");
	ok(qid_inode(id, &ino) == 0 && ino == 1234567, "inode back from the id");
	ok(qid_make(id, 0, 0, 0) == 0, "make the smallest id");
	is_str(id, "000000000000", "smallest id text");
	ok(qid_valid(id), "smallest id is valid");
	ok(qid_make(id, QID_SEC_MAX, 999999, UINT64_MAX) == 0, "make the largest id");
	is_int((long long) strlen(id), QID_MAX_LEN, "largest id has the maximum length");
	ok(qid_valid(id) && qid_inode(id, &ino) == 0 && ino == UINT64_MAX, "largest inode round trip");
	ok(qid_time(id, &sec, &usec) == 0 && sec == QID_SEC_MAX && usec == 999999, "largest time round trip");
	ok(qid_make(id, QID_SEC_MAX + 1, 0, 1) == -1 && id[0] == '\0', "time past the limit is refused");
	ok(qid_make(id, -1, 0, 1) == -1, "negative time is refused");
	ok(qid_make(id, 5, 1000000, 1) == -1, "usec of a million is refused");
	ok(qid_make(id, 5, -1, 1) == -1, "negative usec is refused");
}

/* test_order - strcmp order is time order */
static void test_order(void)
{
	char a[QID_SIZE], b[QID_SIZE];
	int bad = 0;

	srand(42);
	for (int i = 0; i < 20000; i++) {
		long long s1 = rand() % 4000000000LL, s2 = s1 + rand() % 3;
		long u1 = rand() % 1000000, u2 = rand() % 1000000;
		unsigned long long i1 = (unsigned long long) rand() << (rand() % 33);
		unsigned long long i2 = (unsigned long long) rand();
		int tcmp = s1 != s2 ? (s1 < s2 ? -1 : 1) : (u1 != u2 ? (u1 < u2 ? -1 : 1) : 0);
		int scmp;

		qid_make(a, s1, u1, i1);
		qid_make(b, s2, u2, i2);
		scmp = strcmp(a, b);
		if (tcmp != 0 && (scmp < 0) != (tcmp < 0))
			bad++;
	}
	is_int(bad, 0, "lexicographic order follows creation time over 20000 pairs");
	qid_make(a, 999999, 999999, UINT64_MAX);
	qid_make(b, 1000000, 0, 0);
	ok(strcmp(a, b) < 0, "a long inode part does not outrank a later time");
}

/* test_valid - names that are not queue ids */
static void test_valid(void)
{
	static const char *const bad[] = {
		"", "0", "00000000000", "0000000000000000000000000", "1h7j9n2mda015nm7",
		"1H7J9N2MDA01ILOU", "1H7J9N2MDA0I", "1H7J9N2MDA0L", "1H7J9N2MDA0O", "1H7J9N2MDA0U",
		"1H7J9N2MDA0/1", "../1H7J9N2MDA", "1H7J9N2MDA0 1", "1H7J9N2MDA0-1", "1H7J9N2MDA001",
		"1H7J9N2MDA0G000000000000", "ZZZZZZZZZZZ1", "tmp-123-4", ".1H7J9N2MDA01",
		"1H7J9N2MDA015NM7\n",
	};
	static const char *const good[] = {
		"1H7J9N2MDA015NM7", "000000000000", "1H7J9N2MDA0F000000000000", "ZZZZZZZ2JKZ1",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ok(!qid_valid(bad[i]), "not an id: bad[%zu] '%.*s'", i, (int) strcspn(bad[i], "\n"), bad[i]);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		ok(qid_valid(good[i]), "an id: '%s'", good[i]);
	long long sec = 7;
	long usec = 7;

	ok(qid_time("bogus", &sec, &usec) == -1 && sec == 7 && usec == 7, "qid_time refuses junk");
}

/* make_ids - create and abort n files (reusing inodes), ids into out */
static int make_ids(struct qfile_dir *dir, char **out, size_t n)
{
	struct qfile_error err;

	for (size_t i = 0; i < n; i++) {
		struct qfile_writer *w = qfile_create(dir, NULL, &err);

		if (w == NULL) {
			diag("qfile_create: %s", err.text);
			return -1;
		}
		out[i] = xstrdup(qfile_writer_qid(w));
		qfile_writer_abort(w);
	}
	return 0;
}

/* test_unique_one - one process, inodes reused at once */
static void test_unique_one(struct qfile_dir *dir)
{
	enum { N = 3000 };
	char **ids = xcalloc(N, sizeof(char *));
	int valid = 1, rising = 1;

	ok(make_ids(dir, ids, N) == 0, "made %d ids in one process", N);
	for (size_t i = 0; i < N && ids[i]; i++) {
		valid &= qid_valid(ids[i]);
		if (i > 0 && ids[i - 1] && strcmp(ids[i - 1], ids[i]) >= 0)
			rising = 0;
	}
	ok(valid, "every id is valid");
	ok(rising, "ids of one process strictly increase");
	is_int((long long) count_dups(ids, N), 0, "no duplicate among ids with reused inodes");
	for (size_t i = 0; i < N; i++)
		free(ids[i]);
	free(ids);
}

/* test_unique_forked - several processes at once, files kept and removed */
static void test_unique_forked(struct qfile_dir *dir)
{
	enum { KIDS = 4, EACH = 400 };
	int fds[KIDS];
	char **ids = xcalloc(KIDS * EACH, sizeof(char *));
	size_t got = 0;
	int kids_ok = 1;

	for (int k = 0; k < KIDS; k++) {
		int pfd[2];
		pid_t pid;

		if (pipe(pfd) < 0 || (pid = fork()) < 0) {
			ok(0, "pipe/fork: %s", strerror(errno));
			return;
		}
		if (pid == 0) {
			FILE *fp = fdopen(pfd[1], "w");
			struct qfile_error err;

			close(pfd[0]);
			for (int i = 0; i < EACH; i++) {
				struct qfile_writer *w = qfile_create(dir, NULL, &err);

				if (w == NULL)
					_exit(2);
				fprintf(fp, "%s\n", qfile_writer_qid(w));
				/* half are kept (committed), half removed: both kinds of reuse */
				if (i % 2 == 0 && (qfile_put_sender(w, "a@b") < 0
						   || qfile_put_rcpt(w, "c@d", 0, NULL, NULL) < 0
						   || qfile_commit(w) < 0))
					_exit(3);
				if (i % 2 == 0)
					qfile_writer_free(w);
				else
					qfile_writer_abort(w);
			}
			fclose(fp);
			_exit(0);
		}
		close(pfd[1]);
		fds[k] = pfd[0];
	}
	for (int k = 0; k < KIDS; k++) {
		FILE *fp = fdopen(fds[k], "r");
		char line[128];
		int status;

		while (fgets(line, sizeof(line), fp) && got < KIDS * EACH) {
			line[strcspn(line, "\n")] = '\0';
			ids[got++] = xstrdup(line);
		}
		fclose(fp);
		if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
			kids_ok = 0;
	}
	ok(kids_ok, "%d processes made their ids", KIDS);
	is_int((long long) got, KIDS * EACH, "all ids reported");
	is_int((long long) count_dups(ids, got), 0, "no duplicate ids across processes");

	/* the kept files are all there under their ids, and nothing else is */
	DIR *dp = opendir(dir->path);
	struct dirent *de;
	int files = 0, named = 1;

	while (dp && (de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		files++;
		named &= qid_valid(de->d_name);
	}
	if (dp)
		closedir(dp);
	is_int(files, KIDS * EACH / 2, "committed files remain, aborted ones are gone");
	ok(named, "every file is named by a valid queue id");
	for (size_t i = 0; i < got; i++)
		free(ids[i]);
	free(ids);
}

/* rm_tree - remove the test directory (flat) */
static void rm_tree(const char *path)
{
	DIR *dp = opendir(path);
	struct dirent *de;
	char p[PATH_MAX * 2];

	while (dp && (de = readdir(dp)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, de->d_name);
		unlink(p);
	}
	if (dp)
		closedir(dp);
	rmdir(path);
}

int main(void)
{
	struct qfile_dir dir;
	struct qfile_error err;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	test_encoding();
	test_order();
	test_valid();

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_qid.XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL || qfile_dir_open(&dir, tmpdir, &err) < 0) {
		ok(0, "temporary directory: %s", strerror(errno));
		return tap_done();
	}
	test_unique_one(&dir);
	test_unique_forked(&dir);
	qfile_dir_close(&dir);
	rm_tree(tmpdir);
	return tap_done();
}
