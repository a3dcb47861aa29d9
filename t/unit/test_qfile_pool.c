/*
 * test_qfile_pool - recycled queue files (qfile_pool.c): retire under and
 * over the limit, big files, name clashes and missing files; claims that
 * reuse the inode and leave an empty mode-0600 file under a new queue id
 * whose message reads back whole; fallback to a new file when the pool
 * is empty, a listed name was taken meanwhile, or an entry is not ours
 * (symlink, hard link, another owner), every refused entry left intact.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "mail/qfile.h"
#include "tap.h"

static char tmpdir[PATH_MAX];
static struct qfile_dir qdir;

/* path_of - tmpdir/sub/name in one of four static buffers, used in turn */
static const char *path_of(const char *sub, const char *name)
{
	static char p[4][PATH_MAX * 2];
	static unsigned turn;
	char *b = p[turn++ % 4];

	snprintf(b, sizeof(p[0]), "%s/%s%s%s", tmpdir, sub, name ? "/" : "", name ? name : "");
	return b;
}

/* count - entries of tmpdir/sub */
static int count(const char *sub)
{
	DIR *dp = opendir(path_of(sub, NULL));
	struct dirent *de;
	int n = 0;

	while (dp && (de = readdir(dp)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	if (dp)
		closedir(dp);
	return n;
}

/* clear - remove every entry of tmpdir/sub */
static void clear(const char *sub)
{
	DIR *dp = opendir(path_of(sub, NULL));
	struct dirent *de;
	char p[PATH_MAX * 2];

	while (dp && (de = readdir(dp)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(p, sizeof(p), "%s/%s/%s", tmpdir, sub, de->d_name);
		(void) unlink(p);
	}
	if (dp)
		closedir(dp);
}

/* inode_of - st_ino of tmpdir/sub/name (lstat), 0 when missing */
static unsigned long long inode_of(const char *sub, const char *name)
{
	struct stat st;

	return lstat(path_of(sub, name), &st) == 0 ? (unsigned long long) st.st_ino : 0;
}

/* message - a committed message in qdir with content of size bytes; its id or NULL */
static char *message(size_t size, const char *rcpt)
{
	struct qfile_error err;
	struct qfile_writer *w = qfile_create(&qdir, NULL, &err);
	char *content, *id = NULL;

	if (w == NULL) {
		diag("create: %s", err.text);
		return NULL;
	}
	content = xmalloc(size + 1);
	memset(content, 'x', size);
	memcpy(content, "Subject: t\n\n", size > 12 ? 12 : size);
	if (qfile_put_sender(w, "s@example.test") == 0 && qfile_put_rcpt(w, rcpt, 0, NULL, NULL) == 0
	    && qfile_put_content(w, content, size) == 0 && qfile_commit(w) == 0)
		id = xstrdup(qfile_writer_qid(w));
	else
		diag("write: %s", qfile_writer_error(w)->text);
	qfile_writer_free(w);
	free(content);
	return id;
}

/* retire - qfile_retire of incoming/id with its size */
static int retire(struct qfile_pool *pool, const char *id, struct qfile_error *err)
{
	struct stat st;
	const char *p = path_of("incoming", id);

	if (stat(p, &st) < 0)
		st.st_size = 0;
	return qfile_retire(pool, p, (long long) st.st_size, err);
}

/* reads_back - incoming/id opens, its queue id and recipient are as written */
static bool reads_back(const char *id, const char *rcpt)
{
	struct qfile_error err;
	struct qfile *qf = qfile_open(path_of("incoming", id), 0, &err);
	bool good = qf != NULL && strcmp(qf->qid, id) == 0 && qf->nrcpts == 1
	    && strcmp(qf->rcpts[0].addr, rcpt) == 0 && qfile_verify(qf, &err) == 0;

	if (qf == NULL)
		diag("open %s: %s", id, err.text);
	qfile_close(qf);
	return good;
}

/* test_retire - into the pool under the limit, unlinked over it or when big */
static void test_retire(void)
{
	struct qfile_error err;
	struct qfile_pool *pool = qfile_pool_open(path_of("recycle", NULL), 2, &err);
	char *a = message(100, "a@example.test"), *b = message(100, "b@example.test");
	char *c = message(100, "c@example.test"), *big = message(QFILE_POOL_FILE_MAX + 1, "d@x.test");
	unsigned long long ia = inode_of("incoming", a);

	ok(pool != NULL, "pool opens");
	ok(retire(pool, a, &err) == 0 && inode_of("recycle", a) == ia && inode_of("incoming", a) == 0,
	   "retire: renamed into the pool under its own name, same inode");
	ok(retire(pool, b, &err) == 0 && inode_of("recycle", b) != 0, "retire: second file kept");
	ok(retire(pool, c, &err) == 0 && inode_of("recycle", c) == 0 && inode_of("incoming", c) == 0,
	   "retire over the limit (2): unlinked");
	ok(retire(pool, big, &err) == 0 && inode_of("recycle", big) == 0
	   && inode_of("incoming", big) == 0, "retire of a file over QFILE_POOL_FILE_MAX: unlinked");
	is_int(count("recycle"), 2, "the pool holds its limit");
	ok(retire(pool, "nonexistent", &err) == -1 && err.errnum == ENOENT
	   && strstr(err.text, "nonexistent") != NULL, "retire of a missing file: ENOENT, named");
	qfile_pool_close(pool);

	/* a name already in the pool is never replaced */
	pool = qfile_pool_open(path_of("recycle", NULL), 100, &err);
	free(c);
	c = message(100, "c@example.test");
	ok(link(path_of("incoming", c), path_of("recycle", c)) == 0, "plant a clashing pool name");
	ok(retire(pool, c, &err) == 0 && inode_of("incoming", c) == 0 && inode_of("recycle", c) != 0,
	   "retire onto an existing pool name: unlinked, the pool entry stays");
	ok(qfile_retire(NULL, path_of("recycle", c), 0, &err) == 0 && inode_of("recycle", c) == 0,
	   "retire without a pool: unlinked");
	qfile_pool_close(pool);
	clear("recycle");
	free(a);
	free(b);
	free(c);
	free(big);
}

/* test_claim - a pool file is reused; an empty pool means a new file */
static void test_claim(void)
{
	struct qfile_error err;
	struct qfile_pool *pool = qfile_pool_open(path_of("recycle", NULL), 100, &err);
	char *a = message(3000, "a@example.test"), *b, *c, *d;
	unsigned long long ia = inode_of("incoming", a);
	struct qfile_writer *w;
	struct stat st;

	ok(retire(pool, a, &err) == 0 && count("recycle") == 1, "retire one file");
	qdir.pool = pool;
	w = qfile_create(&qdir, NULL, &err);
	ok(w != NULL, "create with a pool");
	if (w == NULL) {
		diag("%s", err.text);
		qdir.pool = NULL;
		qfile_pool_close(pool);
		return;
	}
	ok(stat(path_of("incoming", qfile_writer_qid(w)), &st) == 0 && st.st_ino == ia,
	   "the new queue file has the retired file's inode");
	ok(strcmp(qfile_writer_qid(w), a) != 0, "under a new queue id");
	ok((st.st_mode & 07777) == QFILE_MODE_INCOMPLETE && st.st_size == 0 && st.st_nlink == 1,
	   "mode 0600 (incomplete), emptied");
	is_int(count("recycle"), 0, "the pool is empty");
	is_int(count("incoming"), 1, "no tmp- file left");
	b = xstrdup(qfile_writer_qid(w));
	ok(qfile_put_sender(w, "s@example.test") == 0 && qfile_put_rcpt(w, "b@example.test", 0, NULL, NULL) == 0
	   && qfile_put_content(w, "Subject: b\n\nshort\n", 18) == 0 && qfile_commit(w) == 0,
	   "write and commit into the reused file");
	qfile_writer_free(w);
	ok(reads_back(b, "b@example.test"), "the message reads back whole under its id (old tail gone)");

	/* empty pool: a new file (and no readdir per message) */
	c = message(100, "c@example.test");
	ok(c != NULL && inode_of("incoming", c) != 0 && inode_of("incoming", c) != ia,
	   "empty pool: a new file");

	/* a name listed but taken meanwhile (another cleanup): the next name or a new file */
	ok(retire(pool, b, &err) == 0 && retire(pool, c, &err) == 0, "retire two files");
	qfile_pool_close(pool);
	pool = qfile_pool_open(path_of("recycle", NULL), 100, &err);	/* fresh list state */
	qdir.pool = pool;
	d = message(100, "d@example.test");	/* lists both names, takes one */
	ok(d != NULL && count("recycle") == 1, "a claim takes one of two");
	clear("recycle");			/* the other one goes elsewhere */
	free(a);
	a = message(100, "a@example.test");
	ok(a != NULL && reads_back(a, "a@example.test") && count("incoming") == 2,
	   "a listed name that is gone: a new file instead");
	qdir.pool = NULL;
	qfile_pool_close(pool);
	clear("incoming");
	free(a);
	free(b);
	free(c);
	free(d);
}

/* test_refused - entries that are not ours are never reused */
static void test_refused(void)
{
	struct qfile_error err;
	struct qfile_pool *pool;
	char *id;
	int fd;
	struct stat st;
	unsigned long long ih, io = 0;

	/* a symlink to a file of ours, a hard link of one, one of another owner */
	fd = open(path_of("scratch", "target"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ok(fd >= 0 && write(fd, "keep me", 7) == 7 && close(fd) == 0, "scratch file");
	ok(symlink(path_of("scratch", "target"), path_of("recycle", "1K0SYMLINK0000AA")) == 0,
	   "plant a symlink");
	ok(link(path_of("scratch", "target"), path_of("recycle", "1K0HARDLINK000AA")) == 0,
	   "plant a hard link");
	ih = inode_of("scratch", "target");
	if (geteuid() == 0) {
		fd = open(path_of("recycle", "1K0OTHEROWNER0AA"), O_WRONLY | O_CREAT, 0600);
		ok(fd >= 0 && fchown(fd, 4242, 4242) == 0 && close(fd) == 0, "plant a file of uid 4242");
		io = inode_of("recycle", "1K0OTHEROWNER0AA");
	}
	pool = qfile_pool_open(path_of("recycle", NULL), 100, &err);
	qdir.pool = pool;
	id = message(100, "n@example.test");
	ok(id != NULL && reads_back(id, "n@example.test"), "a message is written anyway");
	ok(inode_of("incoming", id) != ih, "not in the hard-linked file");
	ok(stat(path_of("scratch", "target"), &st) == 0 && st.st_size == 7 && st.st_nlink == 1,
	   "the hard-linked file is untouched (its pool name removed)");
	ok(inode_of("recycle", "1K0HARDLINK000AA") == 0, "hard link: gone from the pool");
	if (io != 0)
		ok(inode_of("recycle", "1K0OTHEROWNER0AA") == 0, "other owner: gone from the pool");
	ok(inode_of("recycle", "1K0SYMLINK0000AA") != 0, "symlink: never taken (not a file)");
	is_int(count("incoming"), 1, "no tmp- file left in incoming");
	qdir.pool = NULL;
	qfile_pool_close(pool);
	clear("incoming");
	clear("recycle");
	clear("scratch");
	free(id);
}

int main(void)
{
	struct qfile_error err;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_qfile_pool.XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL) {
		ok(0, "temporary directory: %s", strerror(errno));
		return tap_done();
	}
	mkdir(path_of("incoming", NULL), 0700);
	mkdir(path_of("recycle", NULL), 0700);
	mkdir(path_of("scratch", NULL), 0700);
	if (!ok(qfile_dir_open(&qdir, path_of("incoming", NULL), &err) == 0, "open incoming"))
		return tap_done();
	ok(qfile_pool_open(path_of("nonexistent", NULL), 10, &err) == NULL && err.errnum == ENOENT,
	   "no pool directory: NULL, ENOENT");

	test_retire();
	test_claim();
	test_refused();

	qfile_dir_close(&qdir);
	rmdir(path_of("incoming", NULL));
	rmdir(path_of("recycle", NULL));
	rmdir(path_of("scratch", NULL));
	ok(rmdir(tmpdir) == 0, "everything cleaned up");
	return tap_done();
}
