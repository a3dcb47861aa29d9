/*
 * test_qfile_keep - what the delivery agents use to read a queue file
 * once: qfile_open_fd on a descriptor opened (and locked) by the caller,
 * QFILE_OPEN_KEEP (the whole file kept from one read: content and header
 * end served from memory, identical to reading from disk, checksum still
 * checked; files past the limit read as before) and
 * qfile_rcpt_update_sync (slot written and synced in one call, the
 * in-memory copy updated, the file still valid).
 */
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
#include "mail/qid.h"
#include "tap.h"

static char tmpdir[PATH_MAX];
static char qpath[PATH_MAX + 8];
static struct qfile_dir qdir;

/* in_q - path of a file in the queue directory */
static const char *in_q(const char *name)
{
	static char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", qpath, name);
	return p;
}

/* put - a committed file with content[0..len) and two recipients; its id in id[QID_SIZE], or false */
static bool put(const unsigned char *content, size_t len, char *id)
{
	struct qfile_error err;
	struct qfile_writer *w = qfile_create(&qdir, NULL, &err);
	bool good;

	if (w == NULL)
		return false;
	snprintf(id, QID_SIZE, "%s", qfile_writer_qid(w));
	good = qfile_put_sender(w, "s@example.test") == 0 &&
	    qfile_put_rcpt(w, "a@example.test", 0, NULL, NULL) == 0 &&
	    qfile_put_content(w, content, len) == 0 &&
	    qfile_put_rcpt(w, "b@example.test", QFILE_NOTIFY_FAILURE, NULL, NULL) == 0 &&
	    qfile_commit(w) == 0;
	if (!good)
		diag("put: %s", qfile_writer_error(w)->text);
	qfile_writer_free(w);
	return good;
}

/* content_of - the whole content read in chunk-byte pieces; NULL on error */
static unsigned char *content_of(struct qfile *qf, size_t chunk, size_t *len, struct qfile_error *err)
{
	unsigned char *data = xmalloc(qf->content_len + 1);
	size_t n = 0;
	ssize_t got;

	if (qfile_content_seek(qf, 0, err) != 0) {
		free(data);
		return NULL;
	}
	while ((got = qfile_content_read(qf, data + n, chunk, err)) > 0)
		n += (size_t) got;
	if (got < 0) {
		free(data);
		return NULL;
	}
	*len = n;
	return data;
}

/* test_keep - kept and unkept reads agree, for a small, a middle and a big file */
static void test_keep(void)
{
	static const size_t sizes[] = {40, 5000, 200000, 1500000};
	struct qfile_error err;

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t size = sizes[k], alen = 0, blen = 0;
		unsigned char *content = xmalloc(size), *a, *b;
		struct qfile *plain, *kept;
		uint64_t ha = 1, hb = 2;
		char id[QID_SIZE];

		for (size_t i = 0; i < size; i++)
			content[i] = (unsigned char) (i % 61 == 60 ? '\n' : 'a' + i % 26);
		memcpy(content, "Subject: keep\n\n", 15);
		if (!ok(put(content, size, id), "write a file with %zu content bytes", size)) {
			free(content);
			continue;
		}
		plain = qfile_open(in_q(id), 0, &err);
		kept = qfile_open(in_q(id), QFILE_OPEN_KEEP, &err);
		if (!ok(plain != NULL && kept != NULL, "open it with and without QFILE_OPEN_KEEP")) {
			qfile_close(plain);
			qfile_close(kept);
			free(content);
			continue;
		}
		ok((kept->rd_cache != NULL) == (kept->file_size <= 1024 * 1024) && plain->rd_cache == NULL,
		   "a %lld-byte file is %s", kept->file_size, kept->rd_cache ? "kept" : "not kept (too big)");
		a = content_of(plain, 4096, &alen, &err);
		b = content_of(kept, 777, &blen, &err);
		ok(a != NULL && b != NULL && alen == size && blen == size && memcmp(a, content, size) == 0 &&
		   memcmp(b, content, size) == 0, "the same content both ways (%s)", err.text);
		ok(qfile_header_end(plain, &ha, &err) == 0 && qfile_header_end(kept, &hb, &err) == 0 && ha == hb &&
		   ha == 14, "the same header end (%llu)", (unsigned long long) hb);
		ok(qfile_verify(kept, &err) == 0, "qfile_verify on the kept file");
		free(a);
		free(b);
		qfile_close(plain);
		qfile_close(kept);
		unlink(in_q(id));
		free(content);
	}
}

/* test_keep_checksum - a content byte flipped on disk is still caught when kept */
static void test_keep_checksum(void)
{
	static const unsigned char content[] = "Subject: flip\n\nbody line\n";
	struct qfile_error err;
	struct qfile *qf;
	unsigned char *data;
	size_t len;
	char id[QID_SIZE];
	int fd;
	char c;

	if (!ok(put(content, sizeof(content) - 1, id), "write a file to damage"))
		return;
	qf = qfile_open(in_q(id), 0, &err);
	if (!ok(qf != NULL, "open it"))
		return;
	fd = open(in_q(id), O_RDWR);
	ok(fd >= 0 && pread(fd, &c, 1, qf->content_offset + 16) == 1, "read a body byte");
	c ^= 0x20;
	ok(fd >= 0 && pwrite(fd, &c, 1, qf->content_offset + 16) == 1, "flip it");
	if (fd >= 0)
		close(fd);
	qfile_close(qf);
	qf = qfile_open(in_q(id), QFILE_OPEN_KEEP, &err);
	data = qf ? content_of(qf, 4096, &len, &err) : NULL;
	ok(qf != NULL && qf->rd_cache != NULL && data == NULL && err.kind == QFILE_ERR_CORRUPT,
	   "the kept content fails its checksum: %s", err.text);
	free(data);
	qfile_close(qf);
	unlink(in_q(id));
}

/* test_open_fd - a descriptor the caller opened, taken over; failures close it */
static void test_open_fd(void)
{
	static const unsigned char content[] = "Subject: fd\n\nhello\n";
	struct qfile_error err;
	struct qfile *qf;
	char id[QID_SIZE];
	int fd;

	if (!ok(put(content, sizeof(content) - 1, id), "write a file for qfile_open_fd"))
		return;
	fd = open(in_q(id), O_RDWR | O_CLOEXEC);
	qf = fd >= 0 ? qfile_open_fd(fd, in_q(id), QFILE_OPEN_RDWR | QFILE_OPEN_KEEP, &err) : NULL;
	ok(qf != NULL && qf->fd == fd && qf->writable && qf->nrcpts == 2 && strcmp(qf->qid, id) == 0,
	   "qfile_open_fd reads the envelope through the caller's descriptor");
	qfile_close(qf);
	ok(fd >= 0 && fcntl(fd, F_GETFD) == -1 && errno == EBADF, "qfile_close closed it");

	chmod(in_q(id), 0600);
	fd = open(in_q(id), O_RDONLY | O_CLOEXEC);
	qf = fd >= 0 ? qfile_open_fd(fd, in_q(id), 0, &err) : NULL;
	ok(qf == NULL && err.kind == QFILE_ERR_INCOMPLETE, "a file without the complete mark is refused");
	ok(fd >= 0 && fcntl(fd, F_GETFD) == -1 && errno == EBADF, "and its descriptor closed");
	unlink(in_q(id));
}

/* test_update_sync - one call writes and syncs the slot */
static void test_update_sync(void)
{
	static const unsigned char content[] = "Subject: sync\n\nhello\n";
	struct qfile_rstatus delivered = {QFILE_DELIVERED, QFILE_RS_NOTIFIED, 1, 2, 0, 0, 1700000100};
	struct qfile_error err;
	struct qfile *qf;
	char id[QID_SIZE];

	if (!ok(put(content, sizeof(content) - 1, id), "write a file to update"))
		return;
	qf = qfile_open(in_q(id), 0, &err);
	ok(qf != NULL && qfile_rcpt_update_sync(qf, 0, &delivered, &err) == -1 && err.kind == QFILE_ERR_USAGE,
	   "read-only: refused");
	qfile_close(qf);
	qf = qfile_open(in_q(id), QFILE_OPEN_RDWR | QFILE_OPEN_KEEP, &err);
	if (!ok(qf != NULL, "open for update"))
		return;
	ok(qfile_rcpt_update_sync(qf, 1, &delivered, &err) == 0, "recipient 1 delivered and synced");
	ok(memcmp(&qf->rcpts[1].status, &delivered, sizeof(delivered)) == 0, "the in-memory copy follows");
	ok(qfile_rcpt_update_sync(qf, 2, &delivered, &err) == -1 && err.kind == QFILE_ERR_USAGE, "no recipient 2");
	qfile_close(qf);
	qf = qfile_open(in_q(id), 0, &err);
	ok(qf != NULL && qf->rcpts[1].slot_ok && memcmp(&qf->rcpts[1].status, &delivered, sizeof(delivered)) == 0 &&
	   qf->rcpts[0].status.state == QFILE_PENDING, "reopened: recipient 1 delivered, 0 pending");
	ok(qf != NULL && qfile_verify(qf, &err) == 0, "the file still checks");
	qfile_close(qf);
	unlink(in_q(id));
}

int main(void)
{
	struct qfile_error err;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_qfile_keep.XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL) {
		ok(0, "temporary directory: %s", strerror(errno));
		return tap_done();
	}
	snprintf(qpath, sizeof(qpath), "%s/q", tmpdir);
	mkdir(qpath, 0700);
	if (!ok(qfile_dir_open(&qdir, qpath, &err) == 0, "open the queue directory"))
		return tap_done();
	test_keep();
	test_keep_checksum();
	test_open_fd();
	test_update_sync();
	qfile_dir_close(&qdir);
	rmdir(qpath);
	rmdir(tmpdir);
	return tap_done();
}
