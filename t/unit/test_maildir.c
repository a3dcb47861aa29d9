/*
 * test_maildir - the Maildir writer and the mbox appender on queue files
 * written by the qfile writer: byte-exact copies with the prefix, the
 * name's S= size, the quota (4.2.2), mbox From_ quoting across chunk
 * boundaries, and the truncation-free append.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/maildir.h"
#include "mail/mbox.h"
#include "mail/qfile.h"
#include "tap.h"

static char tmpdir[] = "/tmp/test_maildir.XXXXXX";

/* make_qfile - a committed queue file with content; its path */
static char *make_qfile(const char *content)
{
	struct qfile_dir dir;
	struct qfile_error err;
	struct qfile_writer *w;
	char *path;

	if (qfile_dir_open(&dir, tmpdir, &err) != 0)
		return NULL;
	w = qfile_create(&dir, NULL, &err);
	if (w == NULL || qfile_put_sender(w, "s@example.test") != 0 ||
	    qfile_put_rcpt(w, "r@example.test", 0, NULL, NULL) != 0 ||
	    qfile_put_content(w, content, strlen(content)) != 0 || qfile_commit(w) != 0)
		return NULL;
	path = str_dupf("%s/%s", tmpdir, qfile_writer_qid(w));
	qfile_writer_free(w);
	qfile_dir_close(&dir);
	return path;
}

/* slurp - a whole file */
static char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *data = xmalloc(1 << 20);

	*len = fp ? fread(data, 1, (1 << 20) - 1, fp) : 0;
	data[*len] = '\0';
	if (fp)
		fclose(fp);
	return data;
}

/* only_file - the one file in dir, or NULL */
static char *only_file(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char *found = NULL;
	int n = 0;

	while (d && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		n++;
		free(found);
		found = str_dupf("%s/%s", dir, e->d_name);
	}
	if (d)
		closedir(d);
	if (n != 1) {
		free(found);
		return NULL;
	}
	return found;
}

int main(void)
{
	const char *content = "Subject: t\n\nFrom me\n>From you\nFrom\nFro\nlast";
	const char *prefix = "Return-Path: <s@example.test>\nDelivered-To: r@example.test\n";
	struct qfile_error qerr;
	struct maildir_result res;
	struct qfile *qf;
	char *qpath, *md, *file, *data, *want, *mb;
	size_t len;

	if (mkdtemp(tmpdir) == NULL)
		return 1;
	qpath = make_qfile(content);
	ok(qpath != NULL, "queue file written");
	qf = qpath ? qfile_open(qpath, 0, &qerr) : NULL;
	ok(qf != NULL, "queue file opened");
	if (qf == NULL)
		return tap_done();

	md = str_dupf("%s/a/b/Maildir/", tmpdir);
	ok(maildir_deliver(md, qf, prefix, strlen(prefix), 0, NULL, &res) == 0, "maildir_deliver");
	file = str_dupf("%s/a/b/Maildir/new", tmpdir);
	free(md);
	md = only_file(file);
	free(file);
	ok(md != NULL, "one file in new/");
	data = slurp(md ? md : "/nonexistent", &len);
	want = str_dupf("%s%s", prefix, content);
	ok(len == strlen(want) && memcmp(data, want, len) == 0, "prefix + content, byte for byte");
	file = str_dupf(",S=%zu", strlen(want));
	ok(md && strstr(md, file) != NULL, "name carries S=%zu", strlen(want));
	free(file);
	free(data);
	free(md);
	md = str_dupf("%s/a/b/Maildir", tmpdir);
	ok(maildir_size(md) == (long long) strlen(want), "maildir_size reads S=");
	ok(maildir_deliver(md, qf, prefix, strlen(prefix), (long long) strlen(want) + 10, NULL, &res) == -1,
	   "quota: second copy refused");
	ok(strcmp(res.dsn, "4.2.2") == 0 && strstr(res.text, "mailbox full") != NULL, "quota: 4.2.2 mailbox full");
	file = str_dupf("%s/tmp", md);
	data = only_file(file);
	ok(data == NULL, "quota: nothing left in tmp/");
	free(data);
	free(file);
	free(md);

	/* once_key: the same delivery made twice leaves one copy */
	md = str_dupf("%s/once/Maildir/", tmpdir);
	ok(maildir_deliver(md, qf, prefix, strlen(prefix), 0, "QID1R0", &res) == 0, "once: first delivery");
	ok(maildir_deliver(md, qf, prefix, strlen(prefix), 0, "QID1R0", &res) == 0 &&
	   strcmp(res.text, "already delivered") == 0, "once: the same key again is already delivered");
	ok(maildir_deliver(md, qf, prefix, strlen(prefix), 0, "QID1R1", &res) == 0, "once: another recipient index");
	free(md);
	md = str_dupf("%s/once/Maildir/new", tmpdir);
	{
		DIR *d = opendir(md);
		struct dirent *de;
		int n = 0, named = 0;

		while (d != NULL && (de = readdir(d)) != NULL) {
			n += de->d_name[0] != '.';
			named += strstr(de->d_name, ".TQID1R0.") != NULL;
		}
		if (d != NULL)
			closedir(d);
		ok(n == 2 && named == 1, "once: two files in new/, one of them named by the key (%d, %d)", n, named);
	}
	free(md);
	md = str_dupf("%s/once/Maildir/tmp", tmpdir);
	data = only_file(md);
	ok(data == NULL, "once: nothing left in tmp/");
	free(data);
	free(md);

	/* a Maildir without tmp/ is mended; one under a symbolic link is made and used */
	md = str_dupf("%s/once/Maildir/tmp", tmpdir);
	ok(rmdir(md) == 0, "tmp/ removed");
	free(md);
	md = str_dupf("%s/once/Maildir", tmpdir);
	ok(maildir_deliver(md, qf, prefix, strlen(prefix), 0, "QID1R2", &res) == 0, "delivered: tmp/ made again");
	free(md);
	file = str_dupf("%s/once", tmpdir);
	md = str_dupf("%s/link", tmpdir);
	ok(symlink(file, md) == 0, "symbolic link to a home");
	free(file);
	free(md);
	md = str_dupf("%s/link/Maildir2/", tmpdir);
	ok(maildir_deliver(md, qf, prefix, strlen(prefix), 0, "QID1R3", &res) == 0,
	   "a new Maildir under the link: made and delivered");
	free(md);
	md = str_dupf("%s/once/Maildir2/new", tmpdir);
	data = only_file(md);
	ok(data != NULL && strstr(data, ".TQID1R3.") != NULL, "the copy is in the linked home's Maildir2/new");
	free(data);
	free(md);

	mb = str_dupf("%s/mbox", tmpdir);
	ok(mbox_deliver(mb, qf, "s@example.test", prefix, strlen(prefix), 0, &res) == 0, "mbox_deliver");
	ok(mbox_deliver(mb, qf, "", prefix, strlen(prefix), 0, &res) == 0, "mbox_deliver again");
	data = slurp(mb, &len);
	ok(str_has_prefix(data, "From s@example.test "), "From_ line with the sender");
	ok(strstr(data, "\n\n>From me\n>From you\nFrom\nFro\nlast\n\nFrom MAILER-DAEMON ") != NULL,
	   "From_ quoted, others kept, newline and empty line added, <> is MAILER-DAEMON");
	free(data);
	ok(mbox_deliver(mb, qf, "s", prefix, strlen(prefix), 10, &res) == -1 && strcmp(res.dsn, "4.2.2") == 0,
	   "mbox over the limit: 4.2.2");
	free(mb);

	{
		struct buf out;
		struct mbox_quote st = {0, 0};
		const char *in = "From a\nxFrom b\nFr";

		buf_init(&out, 0);
		for (size_t i = 0; in[i]; i++)
			mbox_quote(&st, in + i, 1, &out);	/* byte by byte: chunk borders anywhere */
		mbox_quote(&st, "om c\n", 5, &out);
		mbox_quote_end(&st, &out);
		ok(strcmp(buf_str(&out), ">From a\nxFrom b\n>From c\n") == 0, "quoting across chunks");
		buf_free(&out);
	}
	free(want);
	qfile_close(qf);
	free(qpath);
	{
		char *cmd = str_dupf("rm -rf %s", tmpdir);

		if (system(cmd) != 0)
			diag("cannot remove %s", tmpdir);
		free(cmd);
	}
	return tap_done();
}
