/*
 * test_qfile - the queue file library: write/read round trips of every
 * field, in-place updates, every validation error (on files built byte by
 * byte from the format in tern-queue(5)), truncation and bit-flip fuzzing,
 * writer usage errors and injected system call failures (ENOSPC, EIO,
 * EDQUOT, short writes) at every step, each leaving no file behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "base/mem.h"
#include "mail/qfile.h"
#include "mail/qid.h"
#include "tap.h"

static char tmpdir[PATH_MAX];
static char qpath[PATH_MAX + 8];	/* writer directory */
static char spath[PATH_MAX + 8];	/* scratch files */
static struct qfile_dir qdir;

/* ---------- helpers ---------- */

/* in_q - path of a file in the writer directory */
static const char *in_q(const char *name)
{
	static char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", qpath, name);
	return p;
}

/* in_s - path of a scratch file */
static const char *in_s(const char *name)
{
	static char p[PATH_MAX * 2];

	snprintf(p, sizeof(p), "%s/%s", spath, name);
	return p;
}

/* dir_count - entries in a directory */
static int dir_count(const char *path)
{
	DIR *dp = opendir(path);
	struct dirent *de;
	int n = 0;

	while (dp && (de = readdir(dp)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
	if (dp)
		closedir(dp);
	return n;
}

/* dir_clear - remove every file in a directory */
static void dir_clear(const char *path)
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
}

/* slurp - a whole file */
static unsigned char *slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	unsigned char *data = NULL;
	size_t cap = 0, n = 0, got;

	if (fp == NULL)
		return NULL;
	do {
		if (n == cap)
			data = xrealloc(data, cap = cap ? cap * 2 : 4096);
		got = fread(data + n, 1, cap - n, fp);
		n += got;
	} while (got > 0);
	fclose(fp);
	*len = n;
	return data;
}

/* spew - write a whole file with a mode */
static void spew(const char *path, const void *data, size_t len, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t) len)
		diag("spew %s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	chmod(path, mode);
}

/* read_all - the whole content in pieces of chunk bytes; NULL on error */
static unsigned char *read_all(struct qfile *qf, size_t chunk, size_t *len, struct qfile_error *err)
{
	unsigned char *data = xmalloc(qf->content_len + 1);
	size_t n = 0;
	ssize_t got;

	while ((got = qfile_content_read(qf, data + n, chunk, err)) > 0)
		n += (size_t) got;
	if (got < 0) {
		free(data);
		return NULL;
	}
	*len = n;
	return data;
}

/* pending_all - every recipient pending with a good slot */
static int pending_all(const struct qfile *qf)
{
	for (size_t i = 0; i < qf->nrcpts; i++)
		if (!qf->rcpts[i].slot_ok || qf->rcpts[i].status.state != QFILE_PENDING
		    || qf->rcpts[i].status.attempts != 0 || qf->rcpts[i].status.time != 0)
			return 0;
	return 1;
}

/* write_simple - a committed file with a little content; its id, or NULL */
static char *write_simple(const char *content, int nrcpt)
{
	struct qfile_error err;
	struct qfile_writer *w = qfile_create(&qdir, NULL, &err);
	char *id;

	if (w == NULL)
		return NULL;
	if (qfile_put_sender(w, "s@example.test") < 0)
		goto fail;
	for (int i = 0; i < nrcpt; i++) {
		char addr[64];

		snprintf(addr, sizeof(addr), "r%d@example.test", i);
		if (qfile_put_rcpt(w, addr, i % 2 ? QFILE_NOTIFY_FAILURE : 0,
				   i % 2 ? "rfc822" : NULL, i % 2 ? addr : NULL) < 0)
			goto fail;
	}
	if (qfile_put_attr(w, "x_note", "hi", 2) < 0
	    || qfile_put_content(w, content, strlen(content)) < 0
	    || qfile_put_rcpt(w, "late@example.test", 0, NULL, NULL) < 0
	    || qfile_commit(w) < 0)
		goto fail;
	id = xstrdup(qfile_writer_qid(w));
	qfile_writer_free(w);
	return id;
fail:
	diag("write_simple: %s", qfile_writer_error(w)->text);
	qfile_writer_free(w);
	return NULL;
}

/* ---------- round trips ---------- */

static const unsigned char sample_content[] =
	"Received: from client.test\n"
	"Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=\n"
	"X-Eight: \x80\xfe\xff\n"
	"\n"
	"body line one\n"
	"nul \0 and ctl \x01\x02\x7f and a lone \r here\n"
	"\n"
	".\n"
	"last line without newline";

/* test_roundtrip - every field written is read back */
static void test_roundtrip(void)
{
	struct qfile_error err;
	struct timeval arrival = {1700000000, 654321};
	struct qfile_writer *w = qfile_create(&qdir, &arrival, &err);
	const unsigned char bin[] = {0, 1, 2, 0xff, 0};
	size_t clen = sizeof(sample_content) - 1, off = 0, step = 1, len;
	char id[QID_SIZE];
	struct qfile *qf;
	unsigned char *data;
	struct stat st;

	if (!ok(w != NULL, "create a queue file"))
		return;
	snprintf(id, sizeof(id), "%s", qfile_writer_qid(w));
	ok(qid_valid(id), "writer has a valid queue id %s", id);
	ok(stat(in_q(id), &st) == 0 && (st.st_mode & 0777) == 0600, "new file is named by its id, mode 0600");
	ok(qfile_put_sender(w, "alice@example.test") == 0, "put sender");
	ok(qfile_put_flags(w, QFILE_F_SMTPUTF8 | QFILE_F_REQUIRETLS, QFILE_BODY_8BITMIME) == 0, "put flags");
	ok(qfile_put_dsn(w, QFILE_RET_HDRS, "QQ314159+2B") == 0, "put DSN");
	ok(qfile_put_rcpt(w, "bob@example.test", QFILE_NOTIFY_SUCCESS | QFILE_NOTIFY_FAILURE | QFILE_NOTIFY_DELAY,
			  "rfc822", "bob@example.test") == 0, "put recipient with ORCPT and NOTIFY");
	ok(qfile_put_rcpt(w, "carol@example.test", QFILE_NOTIFY_NEVER, NULL, NULL) == 0, "put NEVER recipient");
	ok(qfile_put_rcpt(w, "j\xc3\xb6rg@example.test", 0, "utf-8", "j\\x{F6}rg@example.test") == 0,
	   "put UTF-8 recipient with utf-8 ORCPT");
	ok(qfile_put_attr(w, QFILE_A_CLIENT_NAME, "client.test", 11) == 0
	   && qfile_put_attr(w, QFILE_A_CLIENT_ADDRESS, "192.0.2.1", 9) == 0
	   && qfile_put_attr(w, QFILE_A_CLIENT_PORT, "52100", 5) == 0
	   && qfile_put_attr(w, QFILE_A_HELO_NAME, "[192.0.2.1]", 11) == 0
	   && qfile_put_attr(w, QFILE_A_PROTOCOL, "UTF8SMTPSA", 10) == 0
	   && qfile_put_attr(w, QFILE_A_TLS_PROTOCOL, "TLSv1.3", 7) == 0
	   && qfile_put_attr(w, QFILE_A_TLS_CIPHER, "TLS_AES_256_GCM_SHA384", 22) == 0
	   && qfile_put_attr(w, QFILE_A_SASL_METHOD, "PLAIN", 5) == 0
	   && qfile_put_attr(w, QFILE_A_SASL_USERNAME, "alice", 5) == 0, "put well-known attributes");
	ok(qfile_put_attr(w, "x_bin", bin, sizeof(bin)) == 0, "put a binary attribute");
	ok(qfile_put_attr(w, "x_empty", "", 0) == 0, "put an empty attribute");
	/* content in pieces of growing size: 1, 2, 3, ... bytes */
	while (off < clen) {
		size_t n = step < clen - off ? step : clen - off;

		if (qfile_put_content(w, sample_content + off, n) < 0)
			break;
		off += n;
		step++;
	}
	ok(off == clen, "put content in %zu pieces", step - 1);
	ok(qfile_put_rcpt(w, "dave@example.test", 0, NULL, NULL) == 0, "put recipient after the content");
	ok(qfile_put_attr(w, "message_id", "<m1@example.test>", 17) == 0, "put attribute after the content");
	ok(qfile_commit(w) == 0, "commit");
	ok(qfile_dir_sync(&qdir, &err) == 0, "directory fsync");
	qfile_writer_free(w);
	ok(stat(in_q(id), &st) == 0 && (st.st_mode & 0777) == 0700, "committed file has mode 0700");

	qf = qfile_open(in_q(id), 0, &err);
	if (!ok(qf != NULL, "open the file: %s", qf ? "" : err.text))
		return;
	is_str(qf->qid, id, "queue id");
	ok(qf->version == 1 && qf->complete, "version 1, complete");
	ok(qf->arrival_sec == 1700000000 && qf->arrival_usec == 654321, "arrival time");
	is_str(qf->sender, "alice@example.test", "sender");
	ok(qf->flags == (QFILE_F_SMTPUTF8 | QFILE_F_REQUIRETLS), "flags SMTPUTF8 and REQUIRETLS");
	ok(qf->body == QFILE_BODY_8BITMIME, "BODY=8BITMIME");
	ok(qf->dsn_ret == QFILE_RET_HDRS, "RET=HDRS");
	is_str(qf->envid, "QQ314159+2B", "ENVID");
	is_int((long long) qf->nrcpts, 4, "four recipients");
	if (qf->nrcpts == 4) {
		is_str(qf->rcpts[0].addr, "bob@example.test", "recipient 1 address");
		is_str(qf->rcpts[0].orcpt_type, "rfc822", "recipient 1 ORCPT type");
		is_str(qf->rcpts[0].orcpt, "bob@example.test", "recipient 1 ORCPT");
		ok(qf->rcpts[0].notify == (QFILE_NOTIFY_SUCCESS | QFILE_NOTIFY_FAILURE | QFILE_NOTIFY_DELAY),
		   "recipient 1 NOTIFY");
		ok(qf->rcpts[1].notify == QFILE_NOTIFY_NEVER && qf->rcpts[1].orcpt == NULL
		   && qf->rcpts[1].orcpt_type == NULL, "recipient 2 NEVER, no ORCPT");
		is_str(qf->rcpts[2].addr, "j\xc3\xb6rg@example.test", "recipient 3 UTF-8 address");
		is_str(qf->rcpts[2].orcpt, "j\\x{F6}rg@example.test", "recipient 3 ORCPT kept encoded");
		ok(qf->rcpts[2].notify == 0, "recipient 3 no NOTIFY");
		is_str(qf->rcpts[3].addr, "dave@example.test", "recipient 4 address");
		ok(!qf->rcpts[0].after_content && qf->rcpts[3].after_content, "after_content marks extracted");
		ok(pending_all(qf), "all recipients pending with good slots");
		ok(qfile_rcpt_find(qf, qf->rcpts[2].slot_offset) == 2 && qfile_rcpt_find(qf, 1) == -1,
		   "find a recipient by slot offset");
	}
	ok(qf->sched_ok && qf->sched.attempts == 0 && qf->sched.next_attempt == 0
	   && qf->sched.last_attempt == 0 && qf->sched.flags == 0, "fresh queue state");
	is_str(qfile_attr(qf, QFILE_A_CLIENT_NAME, NULL), "client.test", "client_name");
	is_str(qfile_attr(qf, QFILE_A_CLIENT_ADDRESS, NULL), "192.0.2.1", "client_address");
	is_str(qfile_attr(qf, QFILE_A_CLIENT_PORT, NULL), "52100", "client_port");
	is_str(qfile_attr(qf, QFILE_A_HELO_NAME, NULL), "[192.0.2.1]", "helo_name");
	is_str(qfile_attr(qf, QFILE_A_PROTOCOL, NULL), "UTF8SMTPSA", "protocol");
	is_str(qfile_attr(qf, QFILE_A_TLS_PROTOCOL, NULL), "TLSv1.3", "tls_protocol");
	is_str(qfile_attr(qf, QFILE_A_TLS_CIPHER, NULL), "TLS_AES_256_GCM_SHA384", "tls_cipher");
	is_str(qfile_attr(qf, QFILE_A_SASL_METHOD, NULL), "PLAIN", "sasl_method");
	is_str(qfile_attr(qf, QFILE_A_SASL_USERNAME, NULL), "alice", "sasl_username");
	is_str(qfile_attr(qf, "message_id", NULL), "<m1@example.test>", "attribute after the content");
	const char *v = qfile_attr(qf, "x_bin", &len);

	ok(v != NULL && len == sizeof(bin) && memcmp(v, bin, len) == 0, "binary attribute round trip");
	ok(qfile_attr(qf, "x_empty", &len) != NULL && len == 0, "empty attribute");
	ok(qfile_attr(qf, "x_missing", NULL) == NULL, "missing attribute is NULL");
	ok(qf->content_len == clen, "content length");
	ok(qf->body_offset == 78, "body offset after the empty line (%llu)",
	   (unsigned long long) qf->body_offset);
	ok(qf->lf_count == 8, "line count (%llu)", (unsigned long long) qf->lf_count);
	data = read_all(qf, 7, &len, &err);
	ok(data != NULL && len == clen && memcmp(data, sample_content, clen) == 0,
	   "content comes back byte for byte");
	free(data);
	ok(qfile_content_read(qf, &len, sizeof(len), &err) == 0, "read at the end returns 0");
	ok(qfile_verify(qf, &err) == 0, "verify: %s", err.text);
	ok(qfile_content_seek(qf, qf->body_offset, &err) == 0, "seek to the body");
	data = read_all(qf, 1000, &len, &err);
	ok(data != NULL && len == clen - 78 && memcmp(data, "body line one\n", 14) == 0, "read the body only");
	free(data);
	ok(qfile_content_seek(qf, clen + 1, &err) == -1 && err.kind == QFILE_ERR_USAGE, "seek past the end fails");
	qfile_close(qf);
	unlink(in_q(id));
}

/* test_defaults - empty sender, nothing optional, no content */
static void test_defaults(void)
{
	struct qfile_error err;
	struct qfile_writer *w = qfile_create(&qdir, NULL, &err);
	struct qfile *qf;
	char id[QID_SIZE];
	long long sec;
	long usec;

	if (!ok(w != NULL, "create for the null sender"))
		return;
	snprintf(id, sizeof(id), "%s", qfile_writer_qid(w));
	ok(qfile_put_sender(w, "") == 0 && qfile_put_rcpt(w, "postmaster", 0, NULL, NULL) == 0
	   && qfile_commit(w) == 0, "write <> with one recipient and no content");
	qfile_writer_free(w);
	qf = qfile_open(in_q(id), 0, &err);
	if (!ok(qf != NULL, "open: %s", qf ? "" : err.text))
		return;
	is_str(qf->sender, "", "null sender reads as empty");
	ok(qf->flags == 0 && qf->body == QFILE_BODY_NONE && qf->dsn_ret == QFILE_RET_NONE
	   && qf->envid == NULL && qf->nattrs == 0, "no flags, BODY, RET, ENVID or attributes");
	ok(qf->content_len == 0 && qf->body_offset == 0 && qf->lf_count == 0, "empty content");
	ok(qid_time(id, &sec, &usec) == 0 && qf->arrival_sec == sec && qf->arrival_usec == usec,
	   "arrival time defaults to the id's time");
	ok(qfile_verify(qf, &err) == 0, "verify empty content");
	qfile_close(qf);
	unlink(in_q(id));
}

/* test_many_rcpts - 1000 recipients, slots never cross a sector */
static void test_many_rcpts(void)
{
	enum { N = 1000 };
	struct qfile_error err;
	struct qfile_writer *w = qfile_create(&qdir, NULL, &err);
	struct qfile *qf;
	char id[QID_SIZE], addr[128];
	int bad = 0, crossing = 0;
	size_t pads = 0;

	if (!ok(w != NULL, "create for 1000 recipients"))
		return;
	snprintf(id, sizeof(id), "%s", qfile_writer_qid(w));
	qfile_put_sender(w, "bulk@example.test");
	for (int i = 0; i < N; i++) {
		snprintf(addr, sizeof(addr), "user%d.%.*s@example.test", i, i % 37, "abcdefghijklmnopqrstuvwxyz0123456789x");
		if (qfile_put_rcpt(w, addr, QFILE_NOTIFY_FAILURE, i % 3 ? NULL : "rfc822", i % 3 ? NULL : addr) < 0)
			bad++;
	}
	ok(bad == 0 && qfile_put_content(w, "S: x\n\nhi\n", 9) == 0 && qfile_commit(w) == 0, "write 1000 recipients");
	qfile_writer_free(w);
	qf = qfile_open(in_q(id), 0, &err);
	if (!ok(qf != NULL, "open: %s", qf ? "" : err.text))
		return;
	is_int((long long) qf->nrcpts, N, "1000 recipients read back");
	bad = 0;
	for (size_t i = 0; i < qf->nrcpts; i++) {
		long long s = qf->rcpts[i].slot_offset;

		snprintf(addr, sizeof(addr), "user%zu.%.*s@example.test", i, (int) (i % 37), "abcdefghijklmnopqrstuvwxyz0123456789x");
		if (strcmp(qf->rcpts[i].addr, addr) != 0 || (i % 3 == 0) != (qf->rcpts[i].orcpt != NULL))
			bad++;
		if (s / 512 != (s + QFILE_RSLOT_SIZE - 1) / 512)
			crossing++;
		if (s != qf->rcpts[i].offset + 6)
			pads++;
	}
	is_int(bad, 0, "every address and ORCPT matches");
	is_int(crossing, 0, "no status slot crosses a 512-byte boundary");
	ok(pads > 0, "some slots needed padding (%zu)", pads);
	ok(pending_all(qf), "all pending");
	qfile_close(qf);
	unlink(in_q(id));
}

/* put_split - write content split at k, return the reader's view */
static struct qfile *put_split(const char *content, size_t k, char *id)
{
	struct qfile_error err;
	struct qfile_writer *w = qfile_create(&qdir, NULL, &err);
	size_t len = strlen(content);
	struct qfile *qf;

	if (w == NULL)
		return NULL;
	snprintf(id, QID_SIZE, "%s", qfile_writer_qid(w));
	if (qfile_put_sender(w, "a@b") < 0 || qfile_put_rcpt(w, "c@d", 0, NULL, NULL) < 0
	    || qfile_put_content(w, content, k) < 0 || qfile_put_content(w, content + k, len - k) < 0
	    || qfile_commit(w) < 0) {
		qfile_writer_free(w);
		return NULL;
	}
	qfile_writer_free(w);
	qf = qfile_open(in_q(id), 0, &err);
	return qf;
}

/* test_body_offset - where the body starts, for every split of the content */
static void test_body_offset(void)
{
	static const struct {
		const char *content;
		unsigned long long body, lines, hdr_end;
	} cases[] = {
		{"", 0, 0, 0}, {"\n", 1, 1, 0}, {"\nbody\n", 1, 2, 0}, {"A: b\n", 5, 1, 5},
		{"A: b\n\nbody", 6, 2, 5}, {"A: b\n\n", 6, 2, 5}, {"A: b\nC: d\n\n\n", 11, 4, 10},
		{"no newline", 10, 0, 10}, {"x", 1, 0, 1}, {"A: b\n \n\nx", 8, 3, 7},
		{"A: b\r\n\r\nx\r\n", 11, 3, 11},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = strlen(cases[i].content);
		int bad = 0;

		for (size_t k = 0; k <= len; k++) {
			char id[QID_SIZE];
			struct qfile_error err;
			struct qfile *qf = put_split(cases[i].content, k, id);

			uint64_t hdr_end = 99;

			if (qf == NULL || qf->body_offset != cases[i].body || qf->lf_count != cases[i].lines
			    || qfile_verify(qf, &err) < 0 || qfile_header_end(qf, &hdr_end, &err) < 0
			    || hdr_end != cases[i].hdr_end)
				bad++;
			qfile_close(qf);
			unlink(in_q(id));
		}
		ok(bad == 0, "case %zu: body at %llu, %llu lines, headers end at %llu, for all %zu splits", i,
		   cases[i].body, cases[i].lines, cases[i].hdr_end, len + 1);
	}
}

/* test_long_lines - the header line limit, and long body lines */
static void test_long_lines(void)
{
	struct qfile_error err;
	char *line = xmalloc(QFILE_HEADER_LINE_MAX + 2);
	char *body = xmalloc(1 << 20);
	struct qfile_writer *w;
	struct qfile *qf;
	char id[QID_SIZE];
	int r = 0;

	memset(line, 'h', QFILE_HEADER_LINE_MAX + 1);
	memcpy(line, "X-Long: ", 8);
	memset(body, 'b', 1 << 20);
	w = qfile_create(&qdir, NULL, &err);
	snprintf(id, sizeof(id), "%s", qfile_writer_qid(w));
	qfile_put_sender(w, "a@b");
	qfile_put_rcpt(w, "c@d", 0, NULL, NULL);
	for (size_t off = 0; off < QFILE_HEADER_LINE_MAX && r == 0; off += 1000)
		r = qfile_put_content(w, line + off, QFILE_HEADER_LINE_MAX - off < 1000 ? QFILE_HEADER_LINE_MAX - off : 1000);
	ok(r == 0 && qfile_put_content(w, "\n\n", 2) == 0 && qfile_put_content(w, body, 1 << 20) == 0
	   && qfile_put_content(w, "\n", 1) == 0 && qfile_commit(w) == 0,
	   "a header line of exactly %d bytes and a 1 MiB body line are stored", QFILE_HEADER_LINE_MAX);
	qfile_writer_free(w);
	qf = qfile_open(in_q(id), 0, &err);
	ok(qf != NULL && qf->body_offset == QFILE_HEADER_LINE_MAX + 2 && qfile_verify(qf, &err) == 0,
	   "it reads back and verifies");
	qfile_close(qf);
	unlink(in_q(id));

	w = qfile_create(&qdir, NULL, &err);
	qfile_put_sender(w, "a@b");
	qfile_put_rcpt(w, "c@d", 0, NULL, NULL);
	r = qfile_put_content(w, line, QFILE_HEADER_LINE_MAX);
	r = r == 0 ? qfile_put_content(w, "h", 1) : -2;
	ok(r == -1 && qfile_writer_error(w)->kind == QFILE_ERR_LIMIT
	   && strstr(qfile_writer_error(w)->text, "header line longer than") != NULL,
	   "a header line one byte longer is refused: %s", qfile_writer_error(w)->text);
	is_int(dir_count(qpath), 0, "and the file is gone");
	qfile_writer_free(w);
	free(line);
	free(body);
}

/* test_big_content - content much larger than the write buffer */
static void test_big_content(void)
{
	enum { SIZE = 300000 };
	struct qfile_error err;
	unsigned char *content = xmalloc(SIZE), *back;
	struct qfile_writer *w;
	struct qfile *qf;
	char id[QID_SIZE];
	size_t len;
	int r = 0;

	srand(7);
	for (size_t i = 0; i < SIZE; i++)
		content[i] = (unsigned char) (rand() % 50 == 0 ? '\n' : rand() % 256);
	memcpy(content, "A: b\n\n", 6);
	for (int pass = 0; pass < 2; pass++) {
		w = qfile_create(&qdir, NULL, &err);
		snprintf(id, sizeof(id), "%s", qfile_writer_qid(w));
		qfile_put_sender(w, "a@b");
		qfile_put_rcpt(w, "c@d", 0, NULL, NULL);
		if (pass == 0) {
			for (size_t off = 0; off < SIZE && r == 0; off += 7777)
				r = qfile_put_content(w, content + off, SIZE - off < 7777 ? SIZE - off : 7777);
		} else {
			r = qfile_put_content(w, content, 10);
			r = r ? r : qfile_put_content(w, content + 10, SIZE - 10);
		}
		ok(r == 0 && qfile_put_rcpt(w, "late@d", 0, NULL, NULL) == 0 && qfile_commit(w) == 0,
		   "write %d bytes %s", SIZE, pass ? "in one big piece" : "in 7777-byte pieces");
		qfile_writer_free(w);
		qf = qfile_open(in_q(id), 0, &err);
		back = qf ? read_all(qf, 65536, &len, &err) : NULL;
		ok(back != NULL && len == SIZE && memcmp(back, content, SIZE) == 0 && qf->nrcpts == 2,
		   "read back identical (%s)", qf ? err.text : "open failed");
		free(back);
		qfile_close(qf);
		unlink(in_q(id));
	}
	free(content);
}

/* ---------- in-place updates ---------- */

/* test_updates - recipient and queue state slots rewritten and re-read */
static void test_updates(void)
{
	struct qfile_error err;
	char *id = write_simple("S: x\n\nbody\n", 3);
	struct qfile *qf;
	struct qfile_rstatus delivered = {QFILE_DELIVERED, QFILE_RS_NOTIFIED, 1, 2, 0, 0, 1700000100};
	struct qfile_rstatus deferred = {QFILE_DEFERRED, QFILE_RS_DELAY_WARNED, 3, 4, 4, 1, 1700003600};
	struct qfile_rstatus bounced = {QFILE_BOUNCED, 0, 65535, 5, 999, 999, QFILE_TIME_MAX};
	struct qfile_sched sched = {7, QFILE_SCHED_DELAY_WARNED, 1700007200, 1700003600};
	unsigned char *before, *after;
	size_t blen, alen;

	if (!ok(id != NULL, "write a file to update"))
		return;
	qf = qfile_open(in_q(id), 0, &err);
	ok(qf && qfile_rcpt_update(qf, 0, &delivered, &err) == -1 && err.kind == QFILE_ERR_USAGE,
	   "read-only open refuses updates");
	qfile_close(qf);
	qf = qfile_open(in_q(id), QFILE_OPEN_RDWR, &err);
	if (!ok(qf != NULL, "open for update"))
		return;
	ok(qfile_rcpt_update(qf, 0, &delivered, &err) == 0, "recipient 0 delivered");
	ok(qfile_rcpt_update(qf, 1, &deferred, &err) == 0, "recipient 1 deferred");
	ok(qfile_rcpt_update(qf, (size_t) qfile_rcpt_find(qf, qf->rcpts[3].slot_offset), &bounced, &err) == 0,
	   "recipient 3 (found by slot offset) bounced");
	ok(qfile_sched_update(qf, &sched, &err) == 0, "queue state updated");
	ok(qfile_sync(qf, &err) == 0, "fdatasync");
	ok(qfile_rcpt_update(qf, 4, &delivered, &err) == -1 && err.kind == QFILE_ERR_USAGE, "no recipient 4");
	before = slurp(in_q(id), &blen);
	{
		static const struct qfile_rstatus badst[] = {
			{'X', 0, 0, 0, 0, 0, 0}, {QFILE_PENDING, 0x80, 0, 0, 0, 0, 0},
			{QFILE_PENDING, 0, 65536, 0, 0, 0, 0}, {QFILE_BOUNCED, 0, 0, 3, 1, 1, 0},
			{QFILE_BOUNCED, 0, 0, 5, 1000, 1, 0}, {QFILE_BOUNCED, 0, 0, 5, 1, 1000, 0},
			{QFILE_BOUNCED, 0, 0, 0, 1, 0, 0}, {QFILE_DEFERRED, 0, 0, 4, 0, 0, -1},
			{QFILE_DEFERRED, 0, 0, 4, 0, 0, QFILE_TIME_MAX + 1},
		};
		static const struct qfile_sched badsched[] = {
			{0, 2, 0, 0}, {0, 0, -1, 0}, {0, 0, 0, QFILE_TIME_MAX + 1},
		};
		int refused = 0;

		for (size_t i = 0; i < sizeof(badst) / sizeof(badst[0]); i++)
			refused += qfile_rcpt_update(qf, 2, &badst[i], &err) == -1 && err.kind == QFILE_ERR_USAGE;
		for (size_t i = 0; i < sizeof(badsched) / sizeof(badsched[0]); i++)
			refused += qfile_sched_update(qf, &badsched[i], &err) == -1 && err.kind == QFILE_ERR_USAGE;
		is_int(refused, 12, "out-of-range statuses are refused");
	}
	after = slurp(in_q(id), &alen);
	ok(before && after && blen == alen && memcmp(before, after, blen) == 0, "and nothing was written");
	free(before);
	free(after);
	qfile_close(qf);

	qf = qfile_open(in_q(id), 0, &err);
	if (!ok(qf != NULL, "reopen after updates: %s", qf ? "" : err.text))
		return;
	ok(qf->rcpts[0].slot_ok && memcmp(&qf->rcpts[0].status, &delivered, sizeof(delivered)) == 0,
	   "recipient 0 reads delivered");
	ok(qf->rcpts[1].slot_ok && memcmp(&qf->rcpts[1].status, &deferred, sizeof(deferred)) == 0,
	   "recipient 1 reads deferred with time, attempts and 4.4.1");
	ok(qf->rcpts[2].slot_ok && qf->rcpts[2].status.state == QFILE_PENDING, "recipient 2 still pending");
	ok(memcmp(&qf->rcpts[3].status, &bounced, sizeof(bounced)) == 0, "recipient 3 reads bounced");
	ok(qf->sched_ok && memcmp(&qf->sched, &sched, sizeof(sched)) == 0, "queue state reads back");
	ok(qfile_verify(qf, &err) == 0, "checksums still hold after in-place updates");
	qfile_close(qf);
	unlink(in_q(id));
	free(id);
}

/* test_damaged_slots - a damaged slot reads as pending, the file still opens */
static void test_damaged_slots(void)
{
	struct qfile_error err;
	char *id = write_simple("S: x\n\nbody\n", 2);
	struct qfile *qf;
	struct qfile_rstatus st = {QFILE_DELIVERED, 0, 1, 2, 0, 0, 1700000000};
	long long slot;
	int fd;

	if (!ok(id != NULL, "write a file to damage"))
		return;
	qf = qfile_open(in_q(id), QFILE_OPEN_RDWR, &err);
	slot = qf ? qf->rcpts[1].slot_offset : 0;
	ok(qf && qfile_rcpt_update(qf, 1, &st, &err) == 0, "recipient 1 delivered");
	qfile_close(qf);
	/* a torn write: half of the slot old, half new */
	fd = open(in_q(id), O_RDWR);
	ok(fd >= 0 && pwrite(fd, "\0\0\0\0\0\0\0\0\0\0\0\0", 12, slot + 12) == 12
	   && pwrite(fd, "\x01", 1, QFILE_SCHED_OFFSET + 3) == 1, "tear a recipient slot and the queue state");
	close(fd);
	qf = qfile_open(in_q(id), QFILE_OPEN_RDWR, &err);
	if (!ok(qf != NULL, "the file still opens: %s", qf ? "" : err.text))
		return;
	ok(!qf->rcpts[1].slot_ok && qf->rcpts[1].status.state == QFILE_PENDING, "torn slot reads as pending");
	ok(qf->rcpts[0].slot_ok, "the other slot is fine");
	ok(!qf->sched_ok && qf->sched.attempts == 0, "damaged queue state reads as zero");
	ok(qfile_rcpt_update(qf, 1, &st, &err) == 0 && qfile_sched_update(qf, &(struct qfile_sched) {1, 0, 0, 0}, &err) == 0,
	   "rewriting repairs them");
	qfile_close(qf);
	qf = qfile_open(in_q(id), 0, &err);
	ok(qf && qf->rcpts[1].slot_ok && qf->rcpts[1].status.state == QFILE_DELIVERED && qf->sched_ok
	   && qf->sched.attempts == 1, "repaired slots read back");
	qfile_close(qf);
	unlink(in_q(id));
	free(id);
}

/* test_incomplete - files that are not marked complete */
static void test_incomplete(void)
{
	struct qfile_error err;
	char *id = write_simple("S: x\n\nbody\n", 1);
	struct qfile *qf;
	char *big = xcalloc(1, 200000);
	pid_t pid;
	int status;

	chmod(in_q(id), 0600);
	qf = qfile_open(in_q(id), 0, &err);
	ok(qf == NULL && err.kind == QFILE_ERR_INCOMPLETE && strstr(err.text, "not marked complete"),
	   "mode 0600 is incomplete: %s", err.text);
	qf = qfile_open(in_q(id), QFILE_OPEN_INCOMPLETE, &err);
	ok(qf != NULL && !qf->complete, "QFILE_OPEN_INCOMPLETE opens it and says so");
	qfile_close(qf);
	unlink(in_q(id));
	free(id);

	/* a writer killed half-way leaves an incomplete file without an end record */
	memset(big, 'x', 199999);
	big[0] = '\n';
	pid = fork();
	if (pid == 0) {
		struct qfile_writer *w = qfile_create(&qdir, NULL, &err);

		qfile_put_sender(w, "a@b");
		qfile_put_rcpt(w, "c@d", 0, NULL, NULL);
		qfile_put_content(w, big, 199999);
		_exit(0);		/* "crash": no commit, no cleanup */
	}
	waitpid(pid, &status, 0);
	free(big);
	DIR *dp = opendir(qpath);
	struct dirent *de;
	char name[256] = "";

	while (dp && (de = readdir(dp)) != NULL)
		if (de->d_name[0] != '.')
			snprintf(name, sizeof(name), "%s", de->d_name);
	if (dp)
		closedir(dp);
	ok(qid_valid(name), "the crashed writer left %s", name);
	qf = qfile_open(in_q(name), 0, &err);
	ok(qf == NULL && err.kind == QFILE_ERR_INCOMPLETE, "it is incomplete");
	qf = qfile_open(in_q(name), QFILE_OPEN_INCOMPLETE, &err);
	ok(qf == NULL && err.kind == QFILE_ERR_CORRUPT, "and never valid: %s", err.text);
	dir_clear(qpath);
}

/* ---------- files built byte by byte, from the format in tern-queue(5) ---------- */

struct raw {
	unsigned char *b;
	size_t len, cap;
	size_t zero_at[16], zero_len[16];	/* slots: count as zeros in the checksum */
	size_t nzero;
	size_t c_at, c_len;		/* content payload: not in the envelope checksum */
	size_t mark;			/* offset of the record a variant is about */
};

/* raw_put - append bytes */
static void raw_put(struct raw *r, const void *p, size_t n)
{
	if (r->len + n > r->cap) {
		r->cap = (r->len + n) * 2 + 1024;
		r->b = xrealloc(r->b, r->cap);
	}
	if (n)
		memcpy(r->b + r->len, p, n);
	r->len += n;
}

/* be32 - big-endian 32 bits */
static void be32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char) (v >> 24);
	p[1] = (unsigned char) (v >> 16);
	p[2] = (unsigned char) (v >> 8);
	p[3] = (unsigned char) v;
}

/* raw_rec - a record with a declared length and n payload bytes; its offset */
static size_t raw_rec(struct raw *r, int type, uint32_t declared, const void *p, size_t n)
{
	unsigned char h[5];
	size_t off = r->len;

	h[0] = (unsigned char) type;
	be32(h + 1, declared);
	raw_put(r, h, 5);
	raw_put(r, p, n);
	return off;
}

/* raw_recn - a record whose length is its payload's */
static size_t raw_recn(struct raw *r, int type, const void *p, size_t n)
{
	return raw_rec(r, type, (uint32_t) n, p, n);
}

/* raw_head - version line and an all-zero queue state slot */
static void raw_head(struct raw *r, const char *magic)
{
	unsigned char slot[32] = {0};

	raw_put(r, magic, strlen(magic));
	be32(slot + 28, (uint32_t) crc32(0, slot, 28));
	r->zero_at[r->nzero] = r->len + 5;
	r->zero_len[r->nzero++] = 32;
	raw_recn(r, 'Q', slot, 32);
}

/* raw_time - T record */
static void raw_time(struct raw *r, uint64_t sec, uint32_t usec, size_t len)
{
	unsigned char p[12];

	for (int i = 0; i < 8; i++)
		p[i] = (unsigned char) (sec >> (56 - 8 * i));
	be32(p + 8, usec);
	raw_recn(r, 'T', p, len);
}

/* raw_rcpt - R record with a pending slot; pad < 0: the right padding */
static size_t raw_rcpt(struct raw *r, const char *addr, unsigned notify, const char *type,
		       const char *orcpt, int pad, unsigned char padbyte)
{
	unsigned char p[4096];
	size_t n = 0, off = r->len, tl = type ? strlen(type) : 0, ol = orcpt ? strlen(orcpt) : 0;
	size_t in = (off + 6) % 512;

	if (pad < 0)
		pad = in + 24 <= 512 ? 0 : (int) (512 - in);
	p[n++] = (unsigned char) pad;
	memset(p + n, padbyte, (size_t) pad);
	n += (size_t) pad;
	memset(p + n, 0, 24);
	p[n] = 'P';
	be32(p + n + 20, (uint32_t) crc32(0, p + n, 20));
	r->zero_at[r->nzero] = off + 5 + n;
	r->zero_len[r->nzero++] = 24;
	n += 24;
	p[n++] = (unsigned char) notify;
	p[n++] = (unsigned char) tl;
	memcpy(p + n, type ? type : "", tl);
	n += tl;
	p[n++] = (unsigned char) (ol >> 8);
	p[n++] = (unsigned char) ol;
	memcpy(p + n, orcpt ? orcpt : "", ol);
	n += ol;
	memcpy(p + n, addr, strlen(addr));
	n += strlen(addr);
	return raw_recn(r, 'R', p, n);
}

/* raw_attr - A record */
static size_t raw_attr(struct raw *r, const char *name, const char *value, size_t vlen)
{
	unsigned char p[4096];
	size_t nl = strlen(name);

	p[0] = (unsigned char) nl;
	memcpy(p + 1, name, nl);
	memcpy(p + 1 + nl, value, vlen);
	return raw_recn(r, 'A', p, 1 + nl + vlen);
}

/* raw_content - C record; its offset */
static size_t raw_content(struct raw *r, const char *data, size_t n, uint32_t declared)
{
	size_t off = raw_rec(r, 'C', declared, data, n);

	r->c_at = off + 5;
	r->c_len = n;
	return off;
}

/* raw_env_crc - CRC-32 of bytes [0, upto) without the content, slots as zeros */
static uint32_t raw_env_crc(const struct raw *r, size_t upto)
{
	unsigned char *copy = xmalloc(upto + 1);
	uLong crc;

	memcpy(copy, r->b, upto);
	for (size_t i = 0; i < r->nzero; i++)
		if (r->zero_at[i] + r->zero_len[i] <= upto)
			memset(copy + r->zero_at[i], 0, r->zero_len[i]);
	if (r->c_len > 0 && r->c_at + r->c_len <= upto) {
		crc = crc32(0, copy, (uInt) r->c_at);
		crc = crc32(crc, copy + r->c_at + r->c_len, (uInt) (upto - r->c_at - r->c_len));
	} else {
		crc = crc32(0, copy, (uInt) upto);
	}
	free(copy);
	return (uint32_t) crc;
}

/* raw_end - E record with counts; env crc computed, or spoiled */
static void raw_end(struct raw *r, uint32_t body, uint32_t lf, uint32_t nrcpt, uint32_t ccrc,
		    uint32_t len, bool spoil)
{
	unsigned char p[20];

	be32(p, body);
	be32(p + 4, lf);
	be32(p + 8, nrcpt);
	be32(p + 12, ccrc);
	raw_rec(r, 'E', len, p, 16);
	be32(p + 16, raw_env_crc(r, r->len) ^ (spoil ? 1u : 0u));
	raw_put(r, p + 16, 4);
}

enum variant {
	V_OK, V_VERSION2, V_BADVERSION, V_NOTQ, V_SHORT, V_NOQREC, V_SECOND_Q, V_DUP_SENDER,
	V_SENDER_AFTER, V_NO_TIME, V_NO_QID, V_NO_SENDER, V_NO_RCPT, V_NO_CONTENT, V_RCPT_COUNT,
	V_ENV_CRC, V_PAD, V_PAD_NONZERO, V_NOTIFY, V_ORCPT_HALF, V_ORCPT_TYPE, V_ORCPT_SPACE, V_RCPT_CTL,
	V_RCPT_EMPTY, V_RCPT_HUGE, V_PAST_EOF, V_ATTR_DUP, V_ATTR_NAME, V_ATTR_PORT, V_ATTR_WK_CTL,
	V_ATTR_NLEN, V_TYPE_Z, V_TYPE_01, V_DUP_CONTENT, V_CONTENT_PAST, V_END_LEN, V_TRAILING,
	V_NO_END, V_HDR_TRUNC, V_TIME_LEN, V_TIME_RANGE, V_QID_BAD, V_QID_LEN, V_FLAGS_BITS,
	V_FLAGS_BODY, V_FLAGS_LEN, V_DSN_RET, V_DSN_XTEXT, V_DSN_ESC, V_DSN_LEN, V_BODY_OFF,
	V_SENDER_CTL, V_SENDER_LIMIT, V_CONTENT_CRC, V_LINES, V_BODY_WRONG, V_HDR_LONG, V_PAD_OK,
};

#define RAW_QID	"1H7J9N2MDA015NM7"

/* craft - the baseline file, changed as the variant says */
static void craft(struct raw *r, enum variant v)
{
	static char longhdr[70010];
	const char *content = "Subject: x\n\nhello\n";
	uint32_t body = 12, lf = 3, nrcpt = 1, ccrc;
	unsigned char fl[5] = {0, 0, 0, 3, 2};
	size_t clen;

	memset(r, 0, sizeof(*r));
	if (v == V_HDR_LONG) {
		memset(longhdr, 'h', 70000);
		memcpy(longhdr + 70000, "\n\nbody\n", 8);
		content = longhdr;
		body = 70002;
	}
	clen = strlen(content);
	ccrc = (uint32_t) crc32(0, (const unsigned char *) content, (uInt) clen);
	if (v == V_NOTQ) {
		raw_put(r, "hello world, this is not a queue file at all..........................", 70);
		return;
	}
	raw_head(r, v == V_VERSION2 ? "tern queue file, version 2\n"
		 : v == V_BADVERSION ? "tern queue file, version x\n" : QFILE_MAGIC);
	if (v == V_NOQREC)
		r->b[QFILE_MAGIC_LEN] = 'X';
	if (v == V_SHORT) {
		r->len = QFILE_MAGIC_LEN + 10;
		return;
	}
	if (v != V_NO_TIME)
		raw_time(r, 1700000000, v == V_TIME_RANGE ? 1000000 : 5, v == V_TIME_LEN ? 11 : 12);
	if (v == V_SECOND_Q)
		r->mark = raw_recn(r, 'Q', "0123456789abcdef0123456789abcdef", 32);
	if (v == V_QID_BAD)
		raw_recn(r, 'I', "not-an-id!!!", 12);
	else if (v == V_QID_LEN)
		raw_recn(r, 'I', "ABC", 3);
	else if (v != V_NO_QID)
		raw_recn(r, 'I', RAW_QID, strlen(RAW_QID));
	if (v == V_SENDER_CTL)
		raw_recn(r, 'S', "a\x01@b", 4);
	else if (v == V_SENDER_LIMIT)
		r->mark = raw_rec(r, 'S', 5000, "a@b.test", 8);
	else if (v != V_NO_SENDER && v != V_SENDER_AFTER)
		raw_recn(r, 'S', "a@b.test", 8);
	if (v == V_DUP_SENDER)
		raw_recn(r, 'S', "c@b.test", 8);
	if (v == V_FLAGS_BITS)
		fl[3] = 0x80;
	if (v == V_FLAGS_BODY) {
		fl[3] = 0;
		fl[4] = 4;
	}
	raw_recn(r, 'F', fl, v == V_FLAGS_LEN ? 4 : 5);
	if (v == V_DSN_LEN)
		raw_recn(r, 'D', "", 0);
	else
		raw_recn(r, 'D', v == V_DSN_RET ? "\x03" "ENV1" : v == V_DSN_XTEXT ? "\x02" "a=b"
			 : v == V_DSN_ESC ? "\x02" "a+2b" : "\x02" "ENV1", 5 - (v == V_DSN_XTEXT || v == V_DSN_ESC));
	if (v == V_PAD_NONZERO || v == V_PAD_OK) {
		/* move the next record to offset 494 mod 512: its slot needs 12 bytes of padding */
		size_t vlen = (494 + 2 * 512 - r->len - 12) % 512;
		char fill[512];

		memset(fill, 'f', sizeof(fill));
		raw_attr(r, "x_fill", fill, vlen);
	}
	if (v == V_RCPT_HUGE)
		r->mark = raw_rec(r, 'R', 99999, "", 0);
	else if (v != V_NO_RCPT)
		raw_rcpt(r, v == V_RCPT_CTL ? "a\nb@c" : v == V_RCPT_EMPTY ? "" : "r@b.test",
				   v == V_NOTIFY ? (QFILE_NOTIFY_NEVER | QFILE_NOTIFY_SUCCESS) : QFILE_NOTIFY_SUCCESS,
				   v == V_ORCPT_TYPE ? "rfc 822" : "rfc822",
				   v == V_ORCPT_HALF ? NULL : v == V_ORCPT_SPACE ? "r@b test" : "r@b.test",
				   v == V_PAD ? 3 : -1, v == V_PAD_NONZERO ? 1 : 0);
	raw_attr(r, v == V_ATTR_NAME ? "Xa" : v == V_ATTR_PORT ? "client_port" : "client_name",
		 v == V_ATTR_PORT ? "70000" : v == V_ATTR_WK_CTL ? "a\tbcde" : "c.test",
		 v == V_ATTR_PORT ? 5 : 6);
	if (v == V_ATTR_DUP)
		raw_attr(r, "client_name", "d.test", 6);
	if (v == V_ATTR_NLEN)
		raw_recn(r, 'A', "\x09" "abc", 4);
	if (v == V_TYPE_Z)
		r->mark = raw_recn(r, 'Z', "zz", 2);
	if (v == V_TYPE_01)
		r->mark = raw_recn(r, 0x01, "zz", 2);
	if (v != V_NO_CONTENT) {
		size_t c = raw_content(r, content, clen, v == V_CONTENT_PAST ? 0xffffffffu : (uint32_t) clen);

		if (v == V_CONTENT_PAST || v == V_CONTENT_CRC || v == V_HDR_LONG)
			r->mark = c;
	}
	if (v == V_DUP_CONTENT)
		r->mark = raw_content(r, content, clen, (uint32_t) clen);
	if (v == V_SENDER_AFTER)
		raw_recn(r, 'S', "a@b.test", 8);
	raw_attr(r, "x_after", "1", 1);
	if (v == V_PAST_EOF) {
		r->mark = raw_rec(r, 'A', 4000, "\x01x", 2);
		return;
	}
	if (v == V_NO_END)
		return;
	if (v == V_HDR_TRUNC) {
		raw_put(r, "E\0\0", 3);
		return;
	}
	if (v == V_NO_TIME || v == V_NO_QID || v == V_NO_SENDER || v == V_NO_RCPT || v == V_NO_CONTENT
	    || v == V_RCPT_COUNT || v == V_ENV_CRC || v == V_END_LEN || v == V_BODY_OFF)
		r->mark = r->len;
	raw_end(r, v == V_BODY_OFF ? 999 : v == V_BODY_WRONG ? 11 : body, v == V_LINES ? 2 : lf,
		v == V_RCPT_COUNT ? 2 : v == V_NO_RCPT ? 0 : nrcpt, v == V_CONTENT_CRC ? ccrc ^ 4 : ccrc,
		v == V_END_LEN ? 19 : 20, v == V_ENV_CRC);
	if (v == V_TRAILING)
		raw_put(r, "x", 1);
}

/* test_crafted - every validation error, on files made by hand */
static void test_crafted(void)
{
	static const struct {
		enum variant v;
		int at_open;		/* 1: qfile_open fails; 0: qfile_verify fails; 2: fine */
		const char *text;
		bool mark;		/* the offset is that of the marked record */
	} cases[] = {
		{V_OK, 2, NULL, 0},
		{V_PAD_OK, 2, NULL, 0},
		{V_VERSION2, 1, "offset 25: unsupported queue file version 2 (this program reads version 1)", 0},
		{V_BADVERSION, 1, "offset 25: bad version line", 0},
		{V_NOTQ, 1, "offset 0: not a tern queue file", 0},
		{V_SHORT, 1, "offset 37: file ends inside the queue state record", 0},
		{V_NOQREC, 1, "offset 27: no queue state record", 0},
		{V_SECOND_Q, 1, "queue state record out of place", 1},
		{V_DUP_SENDER, 1, "second sender record", 0},
		{V_SENDER_AFTER, 1, "sender record after the content", 0},
		{V_NO_TIME, 1, "no arrival time record", 1},
		{V_NO_QID, 1, "no queue id record", 1},
		{V_NO_SENDER, 1, "no sender record", 1},
		{V_NO_RCPT, 1, "no recipient record", 1},
		{V_NO_CONTENT, 1, "no content record", 1},
		{V_RCPT_COUNT, 1, "end record counts 2 recipients, file has 1", 1},
		{V_ENV_CRC, 1, "envelope checksum mismatch", 1},
		{V_PAD, 1, "recipient slot padding 3, expected 0", 0},
		{V_PAD_NONZERO, 1, "recipient padding not zero", 0},
		{V_NOTIFY, 1, "recipient has bad NOTIFY bits", 0},
		{V_ORCPT_HALF, 1, "ORCPT needs a type and an address", 0},
		{V_ORCPT_TYPE, 1, "ORCPT type is not an address type", 0},
		{V_ORCPT_SPACE, 1, "ORCPT address contains a space or a control character", 0},
		{V_RCPT_CTL, 1, "recipient address contains a control character", 0},
		{V_RCPT_EMPTY, 1, "recipient address is empty", 0},
		{V_RCPT_HUGE, 1, "recipient record length 99999 exceeds limit 4096", 1},
		{V_PAST_EOF, 1, "attribute record length 4000 extends past the end of the file", 1},
		{V_ATTR_DUP, 1, "second attribute client_name", 0},
		{V_ATTR_NAME, 1, "attribute name does not start with a letter", 0},
		{V_ATTR_PORT, 1, "attribute client_port value is not a port number", 0},
		{V_ATTR_WK_CTL, 1, "attribute client_name value contains a control character", 0},
		{V_ATTR_NLEN, 1, "bad attribute name length", 0},
		{V_TYPE_Z, 1, "unknown record type 'Z'", 1},
		{V_TYPE_01, 1, "unknown record type 0x01", 1},
		{V_DUP_CONTENT, 1, "second content record", 1},
		{V_CONTENT_PAST, 1, "content record length 4294967295 extends past the end of the file", 1},
		{V_END_LEN, 1, "end record length 19 is not 20", 1},
		{V_TRAILING, 1, "1 bytes after the end record", 0},
		{V_NO_END, 1, "file ends without an end record", 0},
		{V_HDR_TRUNC, 1, "file ends inside a record header", 0},
		{V_TIME_LEN, 1, "arrival time record length 11 is not 12", 0},
		{V_TIME_RANGE, 1, "arrival time out of range", 0},
		{V_QID_BAD, 1, "bad queue id", 0},
		{V_QID_LEN, 1, "queue id length 3 out of range", 0},
		{V_FLAGS_BITS, 1, "unknown flags 0x80", 0},
		{V_FLAGS_BODY, 1, "unknown flags 0x0 or body type 4", 0},
		{V_FLAGS_LEN, 1, "flags record length 4 is not 5", 0},
		{V_DSN_RET, 1, "unknown RET value 3", 0},
		{V_DSN_XTEXT, 1, "ENVID is not valid xtext", 0},
		{V_DSN_ESC, 1, "ENVID has a bad xtext escape", 0},
		{V_DSN_LEN, 1, "DSN record length 0 out of range", 0},
		{V_BODY_OFF, 1, "end record body offset or line count too large", 1},
		{V_SENDER_CTL, 1, "sender address contains a control character", 0},
		{V_SENDER_LIMIT, 1, "sender record length 5000 exceeds limit 4096", 1},
		{V_CONTENT_CRC, 0, "content checksum mismatch", 1},
		{V_LINES, 0, "content has 3 lines, end record says 2", 0},
		{V_BODY_WRONG, 0, "body starts at 12, end record says 11", 0},
		{V_HDR_LONG, 0, "header line longer than 65536 bytes", 1},
	};
	struct qfile_error err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct raw r;
		struct qfile *qf;
		char want[256];
		int stage;
		long long mark_off;

		craft(&r, cases[i].v);
		/* the content record's mark is its payload start, others the record */
		mark_off = (long long) r.mark + (cases[i].v == V_CONTENT_CRC || cases[i].v == V_HDR_LONG ? 5 : 0);
		spew(in_s("crafted"), r.b, r.len, 0700);
		qf = qfile_open(in_s("crafted"), 0, &err);
		stage = qf == NULL ? 1 : qfile_verify(qf, &err) < 0 ? 0 : 2;
		if (cases[i].text == NULL) {
			ok(stage == 2, "crafted case %zu opens and verifies: %s", i, stage == 2 ? "" : err.text);
		} else if (cases[i].mark) {
			snprintf(want, sizeof(want), "offset %lld: %s", mark_off, cases[i].text);
			ok(stage == cases[i].at_open && err.kind == QFILE_ERR_CORRUPT && strstr(err.text, want) != NULL,
			   "crafted case %zu: '%s' (got '%s')", i, want, err.text);
		} else {
			ok(stage == cases[i].at_open && err.kind == QFILE_ERR_CORRUPT
			   && strstr(err.text, cases[i].text) != NULL && strncmp(err.text, "offset ", 7) == 0,
			   "crafted case %zu: '%s' (got '%s')", i, cases[i].text, err.text);
		}
		if (cases[i].v == V_OK && qf != NULL) {
			ok(qf->flags == 3 && qf->body == QFILE_BODY_8BITMIME && qf->dsn_ret == QFILE_RET_HDRS
			   && strcmp(qf->envid, "ENV1") == 0 && qf->nrcpts == 1 && qf->nattrs == 2
			   && strcmp(qf->qid, RAW_QID) == 0, "the hand-made file reads as documented");
			/* the same bytes under another queue id's name are refused */
			qfile_close(qf);
			spew(in_s("1H7J9N2MDA015NM8"), r.b, r.len, 0700);
			qf = qfile_open(in_s("1H7J9N2MDA015NM8"), 0, &err);
			ok(qf == NULL && strstr(err.text, "does not match the file name"), "file name must match the id: %s",
			   err.text);
			unlink(in_s("1H7J9N2MDA015NM8"));
		}
		qfile_close(qf);
		free(r.b);
	}

	/* limits that need many records */
	{
		struct raw r;
		size_t at_limit = 0;

		memset(&r, 0, sizeof(r));
		raw_head(&r, QFILE_MAGIC);
		raw_time(&r, 1, 0, 12);
		raw_recn(&r, 'I', RAW_QID, strlen(RAW_QID));
		raw_recn(&r, 'S', "", 0);
		for (int i = 0; i <= QFILE_RCPT_MAX; i++) {
			if (i == QFILE_RCPT_MAX)
				at_limit = r.len;
			r.nzero = 1;		/* the checksum is never reached */
			raw_rcpt(&r, "r@b", 0, NULL, NULL, -1, 0);
		}
		spew(in_s("crafted"), r.b, r.len, 0700);
		struct qfile *qf = qfile_open(in_s("crafted"), 0, &err);
		char want[128];

		snprintf(want, sizeof(want), "offset %zu: more than %d recipients", at_limit, QFILE_RCPT_MAX);
		ok(qf == NULL && strcmp(err.text, want) == 0, "recipient count limit: %s", err.text);
		free(r.b);
	}
	{
		struct raw r;
		char big[4000];
		size_t n = 0;

		memset(&r, 0, sizeof(r));
		memset(big, 'x', sizeof(big));
		raw_head(&r, QFILE_MAGIC);
		while (r.len < (size_t) QFILE_ENVELOPE_MAX + 8192) {
			char name[32];

			snprintf(name, sizeof(name), "x%zu", n++);
			raw_attr(&r, name, big, sizeof(big) - 10);
		}
		spew(in_s("crafted"), r.b, r.len, 0700);
		struct qfile *qf = qfile_open(in_s("crafted"), 0, &err);

		ok(qf == NULL && (strstr(err.text, "envelope larger than") || strstr(err.text, "more than 256 attributes")),
		   "envelope and attribute limits: %s", err.text);
		free(r.b);
	}
	/* things that are not files */
	{
		struct qfile *qf = qfile_open(spath, 0, &err);

		ok(qf == NULL && err.kind == QFILE_ERR_CORRUPT && strstr(err.text, "not a regular file"),
		   "a directory is refused: %s", err.text);
		mkfifo(in_s("fifo"), 0700);
		qf = qfile_open(in_s("fifo"), 0, &err);
		ok(qf == NULL && strstr(err.text, "not a regular file"), "a FIFO is refused without blocking");
		unlink(in_s("fifo"));
		qf = qfile_open(in_s("missing"), 0, &err);
		ok(qf == NULL && err.kind == QFILE_ERR_SYSTEM && err.errnum == ENOENT, "a missing file: %s", err.text);
	}
	unlink(in_s("crafted"));
}

/* detected - did the reader notice a change to a valid file? */
static bool detected(const char *path)
{
	struct qfile_error err;
	struct qfile *qf = qfile_open(path, QFILE_OPEN_INCOMPLETE, &err);
	bool seen;

	if (qf == NULL)
		return true;
	seen = !qf->sched_ok;
	for (size_t i = 0; i < qf->nrcpts; i++)
		seen |= !qf->rcpts[i].slot_ok;
	if (!seen)
		seen = qfile_verify(qf, &err) < 0;
	qfile_close(qf);
	return seen;
}

/* test_truncation_and_flips - damage a valid file in every way that is cheap to try */
static void test_truncation_and_flips(void)
{
	char *id = write_simple("Subject: t\nX: y\n\nsome body text\n", 2);
	unsigned char *orig, *copy;
	size_t len;
	int errors = 0, undetected = 0;

	if (!ok(id != NULL, "write a small file to damage"))
		return;
	orig = slurp(in_q(id), &len);
	unlink(in_q(id));
	free(id);
	copy = xmalloc(len + 64);
	for (size_t k = 0; k < len; k++) {
		struct qfile_error err;
		struct qfile *qf;

		spew(in_s("t"), orig, k, 0700);
		qf = qfile_open(in_s("t"), 0, &err);
		if (qf == NULL && err.kind == QFILE_ERR_CORRUPT)
			errors++;
		qfile_close(qf);
	}
	ok(errors == (int) len, "truncated at each of %zu offsets: always an error (%d)", len, errors);
	for (size_t k = 0; k < len; k++) {
		static const unsigned char masks[] = {0x01, 0x80, 0xff, 0x5a};

		for (size_t m = 0; m < sizeof(masks); m++) {
			memcpy(copy, orig, len);
			copy[k] ^= masks[m];
			spew(in_s("t"), copy, len, 0700);
			if (!detected(in_s("t"))) {
				undetected++;
				diag("undetected change at offset %zu mask %02x", k, masks[m]);
			}
		}
	}
	ok(undetected == 0, "every changed byte is noticed (%zu offsets x 4 masks)", len);
	/* random damage: several bytes, cuts, junk at the end; must never crash */
	srand(12345);
	undetected = 0;
	for (int it = 0; it < 3000; it++) {
		size_t n = len, flips = 1 + (size_t) (rand() % 8);

		memcpy(copy, orig, len);
		for (size_t f = 0; f < flips; f++)
			copy[(size_t) rand() % len] = (unsigned char) rand();
		if (rand() % 4 == 0)
			n = (size_t) rand() % len;
		if (rand() % 8 == 0)
			for (int j = 0; j < 10; j++)
				copy[n++] = (unsigned char) rand();
		spew(in_s("t"), copy, n, rand() % 2 ? 0700 : 0600);
		undetected += !detected(in_s("t")) && (n != len || memcmp(copy, orig, len) != 0);
	}
	ok(1, "3000 randomly damaged files read without a crash (%d changes unnoticed)", undetected);
	unlink(in_s("t"));
	free(orig);
	free(copy);
}

/* ---------- writer usage errors ---------- */

/* misuse - do one wrong thing (case i) on a fresh writer; the failing call's result */
static int misuse(int i, struct qfile_writer *w)
{
	char long_addr[QFILE_ADDR_MAX + 2];
	char big[QFILE_ATTR_VALUE_MAX + 2];

	memset(long_addr, 'a', sizeof(long_addr) - 1);
	long_addr[sizeof(long_addr) - 1] = '\0';
	memset(big, 'v', sizeof(big));
	switch (i) {
	case 0: qfile_put_sender(w, "a@b"); return qfile_put_sender(w, "c@d");
	case 1: qfile_put_flags(w, 0, QFILE_BODY_7BIT); return qfile_put_flags(w, 0, QFILE_BODY_7BIT);
	case 2: return qfile_put_flags(w, 0x80, QFILE_BODY_7BIT);
	case 3: return qfile_put_flags(w, 0, (enum qfile_body) 9);
	case 4: qfile_put_dsn(w, QFILE_RET_FULL, NULL); return qfile_put_dsn(w, QFILE_RET_FULL, NULL);
	case 5: return qfile_put_dsn(w, (enum qfile_ret) 3, NULL);
	case 6: return qfile_put_dsn(w, QFILE_RET_FULL, "a=b");
	case 7: return qfile_put_dsn(w, QFILE_RET_FULL, "a+zz");
	case 8: return qfile_put_dsn(w, QFILE_RET_FULL, long_addr + QFILE_ADDR_MAX - QFILE_ENVID_MAX);
	case 9: qfile_put_content(w, "x", 1); return qfile_put_sender(w, "a@b");
	case 10: qfile_put_content(w, "x", 1); return qfile_put_flags(w, 0, QFILE_BODY_NONE);
	case 11: qfile_put_content(w, "x", 1); return qfile_put_dsn(w, QFILE_RET_HDRS, NULL);
	case 12: qfile_put_content(w, "x", 1); qfile_put_rcpt(w, "a@b", 0, NULL, NULL);
		return qfile_put_content(w, "y", 1);
	case 13: qfile_put_rcpt(w, "a@b", 0, NULL, NULL); return qfile_commit(w);
	case 14: qfile_put_sender(w, "a@b"); return qfile_commit(w);
	case 15: return qfile_put_rcpt(w, "a@b", QFILE_NOTIFY_NEVER | QFILE_NOTIFY_DELAY, NULL, NULL);
	case 16: return qfile_put_rcpt(w, "a@b", 0x10, NULL, NULL);
	case 17: return qfile_put_rcpt(w, "a@b", 0, "rfc822", NULL);
	case 18: return qfile_put_rcpt(w, "a@b", 0, NULL, "a@b");
	case 19: return qfile_put_rcpt(w, "a@b", 0, "rfc 822", "a@b");
	case 20: return qfile_put_rcpt(w, "a@b", 0, "rfc822", "a b");
	case 21: return qfile_put_rcpt(w, "a@b", 0, "rfc822", "");
	case 22: return qfile_put_rcpt(w, "", 0, NULL, NULL);
	case 23: return qfile_put_rcpt(w, "a\n@b", 0, NULL, NULL);
	case 24: return qfile_put_rcpt(w, long_addr, 0, NULL, NULL);
	case 25: return qfile_put_sender(w, long_addr);
	case 26: return qfile_put_sender(w, "a\r@b");
	case 27: qfile_put_attr(w, "x_a", "1", 1); return qfile_put_attr(w, "x_a", "2", 1);
	case 28: return qfile_put_attr(w, "Bad", "1", 1);
	case 29: return qfile_put_attr(w, "", "1", 1);
	case 30: return qfile_put_attr(w, "x y", "1", 1);
	case 31: return qfile_put_attr(w, QFILE_A_CLIENT_NAME, big, QFILE_WELLKNOWN_MAX + 1);
	case 32: return qfile_put_attr(w, QFILE_A_CLIENT_PORT, "abc", 3);
	case 33: return qfile_put_attr(w, QFILE_A_CLIENT_PORT, "123456", 6);
	case 34: return qfile_put_attr(w, QFILE_A_HELO_NAME, "a\0b", 3);
	case 35: return qfile_put_attr(w, "x_big", big, QFILE_ATTR_VALUE_MAX + 1);
	case 36:
		for (int k = 0; k <= QFILE_ATTR_COUNT_MAX; k++) {
			char name[16];

			snprintf(name, sizeof(name), "x%d", k);
			if (qfile_put_attr(w, name, "v", 1) < 0)
				return -1;
		}
		return 0;
	case 37:
		for (int k = 0; k <= QFILE_RCPT_MAX; k++)
			if (qfile_put_rcpt(w, "r@example.test", 0, NULL, NULL) < 0)
				return k == QFILE_RCPT_MAX ? -1 : -2;
		return 0;
	default:
		return 0;
	}
}

/* test_usage - each misuse fails, names the problem, and removes the file */
static void test_usage(void)
{
	static const struct {
		enum qfile_errkind kind;
		const char *text;
	} want[] = {
		{QFILE_ERR_USAGE, "second sender"}, {QFILE_ERR_USAGE, "second flags record"},
		{QFILE_ERR_USAGE, "unknown flags 0x80"}, {QFILE_ERR_USAGE, "body type 9"},
		{QFILE_ERR_USAGE, "second DSN record"}, {QFILE_ERR_USAGE, "unknown RET value 3"},
		{QFILE_ERR_USAGE, "ENVID is not valid xtext"}, {QFILE_ERR_USAGE, "ENVID has a bad xtext escape"},
		{QFILE_ERR_LIMIT, "ENVID longer than 100 bytes"}, {QFILE_ERR_USAGE, "sender after the content"},
		{QFILE_ERR_USAGE, "flags after the content"}, {QFILE_ERR_USAGE, "DSN after the content"},
		{QFILE_ERR_USAGE, "content after recipients"}, {QFILE_ERR_USAGE, "no sender"},
		{QFILE_ERR_USAGE, "no recipients"}, {QFILE_ERR_USAGE, "recipient has bad NOTIFY bits"},
		{QFILE_ERR_USAGE, "recipient has bad NOTIFY bits"}, {QFILE_ERR_USAGE, "ORCPT needs both"},
		{QFILE_ERR_USAGE, "ORCPT needs both"}, {QFILE_ERR_USAGE, "ORCPT type is not an address type"},
		{QFILE_ERR_USAGE, "ORCPT address contains a space"}, {QFILE_ERR_USAGE, "ORCPT address is empty"},
		{QFILE_ERR_USAGE, "recipient address is empty"},
		{QFILE_ERR_USAGE, "recipient address contains a control character"},
		{QFILE_ERR_LIMIT, "recipient address longer than 2048 bytes"},
		{QFILE_ERR_LIMIT, "sender address longer than 2048 bytes"},
		{QFILE_ERR_USAGE, "sender address contains a control character"},
		{QFILE_ERR_USAGE, "second attribute x_a"}, {QFILE_ERR_USAGE, "attribute name does not start"},
		{QFILE_ERR_USAGE, "attribute name has a bad length"}, {QFILE_ERR_USAGE, "attribute name has a bad character"},
		{QFILE_ERR_LIMIT, "attribute client_name value longer than 255 bytes"},
		{QFILE_ERR_USAGE, "client_port value is not a port number"},
		{QFILE_ERR_USAGE, "client_port value is not a port number"},
		{QFILE_ERR_USAGE, "helo_name value contains a control character"},
		{QFILE_ERR_LIMIT, "x_big value longer than 4000 bytes"},
		{QFILE_ERR_LIMIT, "more than 256 attributes"}, {QFILE_ERR_LIMIT, "more than 100000 recipients"},
	};
	struct qfile_error err;
	struct timeval bad_tv = {-1, 0};

	for (int i = 0; i < (int) (sizeof(want) / sizeof(want[0])); i++) {
		struct qfile_writer *w = qfile_create(&qdir, NULL, &err);
		int r = misuse(i, w);
		const struct qfile_error *e = qfile_writer_error(w);
		int left = dir_count(qpath);

		ok(r == -1 && e->kind == want[i].kind && strstr(e->text, want[i].text) != NULL && left == 0,
		   "misuse %d: '%s', file removed (got '%s', %d left)", i, want[i].text, e->text, left);
		ok(qfile_put_rcpt(w, "x@y", 0, NULL, NULL) == -1 && qfile_commit(w) == -1
		   && strstr(e->text, want[i].text) != NULL, "misuse %d: the writer stays failed", i);
		qfile_writer_free(w);
	}
	ok(qfile_create(&qdir, &bad_tv, &err) == NULL && err.kind == QFILE_ERR_USAGE && dir_count(qpath) == 0,
	   "a negative arrival time is refused before any file exists");

	/* after commit the file stays, whatever the caller does; abort removes it */
	struct qfile_writer *w = qfile_create(&qdir, NULL, &err);

	qfile_put_sender(w, "a@b");
	qfile_put_rcpt(w, "c@d", 0, NULL, NULL);
	ok(qfile_commit(w) == 0 && qfile_commit(w) == -1 && qfile_writer_error(w)->kind == QFILE_ERR_USAGE
	   && dir_count(qpath) == 1, "a second commit fails but keeps the committed file");
	qfile_writer_abort(w);
	is_int(dir_count(qpath), 0, "abort after commit removes the file (failed group fsync)");
	w = qfile_create(&qdir, NULL, &err);
	qfile_put_sender(w, "a@b");
	qfile_writer_free(w);
	is_int(dir_count(qpath), 0, "freeing an uncommitted writer removes its file");
}

/* ---------- injected system call failures ---------- */

static int fault_calls, fault_at = -1, fault_errno, fault_mode;
static enum qfile_op fault_ops[4096];

enum { FM_ERROR, FM_SHORT, FM_SHORT_THEN_ENOSPC };

/* fault_hook - fail, or shorten, call number fault_at */
static int fault_hook(enum qfile_op op, size_t *len)
{
	int i = fault_calls++;

	if (i < 4096)
		fault_ops[i] = op;
	if (i == fault_at) {
		if (fault_mode == FM_ERROR)
			return fault_errno;
		if ((op == QFILE_OP_WRITE || op == QFILE_OP_PWRITE) && *len > 1)
			*len /= 2;
	}
	if (fault_mode == FM_SHORT_THEN_ENOSPC && i == fault_at + 1)
		return ENOSPC;
	return 0;
}

/* scenario - a message with every kind of record and 150 KB of content, to the group fsync */
static int scenario(struct qfile_error *out)
{
	static char content[150000];
	struct qfile_writer *w = qfile_create(&qdir, NULL, out);
	int r;

	if (w == NULL)
		return -1;
	memset(content, 'c', sizeof(content));
	memcpy(content, "S: x\n\n", 6);
	r = qfile_put_sender(w, "a@b") | qfile_put_flags(w, QFILE_F_SMTPUTF8, QFILE_BODY_8BITMIME)
	    | qfile_put_dsn(w, QFILE_RET_FULL, "E1") | qfile_put_rcpt(w, "c@d", 0, NULL, NULL)
	    | qfile_put_attr(w, "client_name", "x", 1);
	for (size_t off = 0; off < sizeof(content) && r == 0; off += 10000)
		r = qfile_put_content(w, content + off, 10000);
	if (r == 0)
		r = qfile_put_rcpt(w, "e@f", 0, NULL, NULL);
	if (r == 0)
		r = qfile_commit(w);
	if (r != 0) {
		*out = *qfile_writer_error(w);
		qfile_writer_free(w);
		return -1;
	}
	if (qfile_dir_sync(&qdir, out) < 0) {
		qfile_writer_abort(w);
		return -1;
	}
	qfile_writer_free(w);
	return 0;
}

/* op_word - what the error text says for each step */
static const char *op_word(enum qfile_op op)
{
	static const char *const words[] = {
		[QFILE_OP_OPEN] = "create ", [QFILE_OP_FSTAT] = "fstat ", [QFILE_OP_RENAME] = "rename ",
		[QFILE_OP_WRITE] = "write ", [QFILE_OP_PWRITE] = "pwrite ", [QFILE_OP_FCHMOD] = "fchmod ",
		[QFILE_OP_FSYNC] = "fsync ", [QFILE_OP_CLOSE] = "close ", [QFILE_OP_DIRSYNC] = "fsync directory",
		[QFILE_OP_FDATASYNC] = "fdatasync ", [QFILE_OP_PREAD] = "read ",
	};

	return words[op];
}

/* check_valid_and_clear - the one file in the directory is a good queue file */
static bool check_valid_and_clear(void)
{
	DIR *dp = opendir(qpath);
	struct dirent *de;
	struct qfile_error err;
	bool good = false;
	int n = 0;

	while (dp && (de = readdir(dp)) != NULL) {
		struct qfile *qf;

		if (de->d_name[0] == '.')
			continue;
		n++;
		qf = qfile_open(in_q(de->d_name), 0, &err);
		good = qf != NULL && qfile_verify(qf, &err) == 0 && qf->content_len == 150000;
		qfile_close(qf);
	}
	if (dp)
		closedir(dp);
	dir_clear(qpath);
	return good && n == 1;
}

/* test_faults - fail each system call in turn */
static void test_faults(void)
{
	static const int errnos[] = {ENOSPC, EIO, EDQUOT};
	struct qfile_error err;
	int n, writes = 0, failed_ok = 0, short_ok = 0, short_fail_ok = 0, shorts = 0;
	int seen[QFILE_OP_PREAD + 1] = {0};
	static enum qfile_op clean_ops[4096];

	qfile_fault_hook = fault_hook;
	fault_calls = 0;
	fault_at = -1;
	ok(scenario(&err) == 0, "the scenario succeeds without faults: %s", err.text);
	n = fault_calls < 4096 ? fault_calls : 4096;
	memcpy(clean_ops, fault_ops, sizeof(clean_ops));	/* later runs overwrite fault_ops */
	for (int i = 0; i < n && i < 4096; i++) {
		seen[fault_ops[i]]++;
		writes += fault_ops[i] == QFILE_OP_WRITE;
	}
	ok(seen[QFILE_OP_OPEN] == 1 && seen[QFILE_OP_FSTAT] == 1 && seen[QFILE_OP_RENAME] == 1
	   && seen[QFILE_OP_PWRITE] == 1 && seen[QFILE_OP_FCHMOD] == 1 && seen[QFILE_OP_FSYNC] == 1
	   && seen[QFILE_OP_CLOSE] == 1 && seen[QFILE_OP_DIRSYNC] == 1 && writes >= 3,
	   "%d system calls: create, fstat, rename, %d writes, pwrite, fchmod, fsync, close, dir fsync", n, writes);
	ok(check_valid_and_clear(), "and leaves one good file");

	for (int i = 0; i < n; i++) {
		enum qfile_op op = clean_ops[i];
		int e = errnos[i % 3];
		int left;

		fault_calls = 0;
		fault_at = i;
		fault_mode = FM_ERROR;
		fault_errno = e;
		memset(&err, 0, sizeof(err));
		if (scenario(&err) == 0) {
			diag("fault at call %d (%s) not reported", i, op_word(op));
			dir_clear(qpath);
			continue;
		}
		left = dir_count(qpath);
		if (err.kind == QFILE_ERR_SYSTEM && err.errnum == e && strstr(err.text, op_word(op)) != NULL
		    && strstr(err.text, strerror(e)) != NULL && left == 0)
			failed_ok++;
		else
			diag("fault at call %d: kind %d errno %d '%s', %d files left", i, err.kind, err.errnum, err.text, left);
		dir_clear(qpath);
		if (op != QFILE_OP_WRITE && op != QFILE_OP_PWRITE)
			continue;
		shorts++;
		fault_calls = 0;
		fault_mode = FM_SHORT;
		if (scenario(&err) == 0 && check_valid_and_clear())
			short_ok++;
		fault_calls = 0;
		fault_mode = FM_SHORT_THEN_ENOSPC;
		if (scenario(&err) < 0 && err.errnum == ENOSPC && dir_count(qpath) == 0)
			short_fail_ok++;
		dir_clear(qpath);
	}
	is_int(failed_ok, n, "ENOSPC/EIO/EDQUOT at each step: reported with errno and step, no file left");
	is_int(short_ok, shorts, "a short write at each write step is completed and the file is good");
	is_int(short_fail_ok, shorts, "a short write followed by ENOSPC: reported, no file left");

	/* a clash on the temporary name or the queue id is retried */
	for (int k = 0; k < 2; k++) {
		fault_calls = 0;
		fault_at = k == 0 ? 0 : 2;	/* open, rename */
		fault_mode = FM_ERROR;
		fault_errno = EEXIST;
		ok(scenario(&err) == 0 && check_valid_and_clear(), "EEXIST on %s is retried", k ? "rename" : "create");
	}
	fault_calls = 0;
	fault_at = 2;
	fault_errno = EINVAL;		/* a file system without RENAME_NOREPLACE */
	ok(scenario(&err) == 0 && check_valid_and_clear(), "rename refused with EINVAL: link and unlink instead");

	/* reader and updater failures */
	char *id;

	qfile_fault_hook = NULL;
	id = write_simple("S: x\n\nbody\n", 1);
	qfile_fault_hook = fault_hook;
	fault_mode = FM_ERROR;
	for (int k = 0; k < 3; k++) {
		static const enum qfile_op ops[] = {QFILE_OP_OPEN, QFILE_OP_FSTAT, QFILE_OP_PREAD};

		fault_calls = 0;
		fault_at = k;
		fault_errno = EIO;
		struct qfile *qf = qfile_open(in_q(id), 0, &err);

		ok(qf == NULL && err.kind == QFILE_ERR_SYSTEM && err.errnum == EIO, "open: EIO on %s: %s",
		   op_word(ops[k]), err.text);
	}
	fault_at = -1;
	struct qfile *qf = qfile_open(in_q(id), QFILE_OPEN_RDWR, &err);
	struct qfile_rstatus st = {QFILE_DELIVERED, 0, 1, 2, 0, 0, 1};
	char buf[64];

	fault_calls = 0;
	fault_at = 0;
	ok(qf && qfile_content_read(qf, buf, sizeof(buf), &err) == -1 && err.kind == QFILE_ERR_SYSTEM,
	   "content read: EIO reported");
	fault_calls = 0;
	ok(qf && qfile_rcpt_update(qf, 0, &st, &err) == -1 && err.errnum == EIO
	   && qf->rcpts[0].status.state == QFILE_PENDING, "slot update: EIO reported, status unchanged");
	fault_calls = 0;
	ok(qf && qfile_sched_update(qf, &(struct qfile_sched) {1, 0, 0, 0}, &err) == -1 && err.errnum == EIO,
	   "queue state update: EIO reported");
	fault_calls = 0;
	ok(qf && qfile_sync(qf, &err) == -1 && err.errnum == EIO && strstr(err.text, "fdatasync"),
	   "fdatasync: EIO reported");
	fault_calls = 0;
	fault_mode = FM_SHORT;
	ok(qf && qfile_rcpt_update(qf, 0, &st, &err) == 0, "a short pwrite of a slot is completed");
	qfile_close(qf);
	fault_calls = 0;
	fault_at = 0;
	fault_mode = FM_ERROR;
	{
		struct qfile_dir d;

		ok(qfile_dir_open(&d, qpath, &err) == -1 && err.errnum == EIO, "directory open: EIO reported");
	}
	qfile_fault_hook = NULL;
	qf = qfile_open(in_q(id), 0, &err);
	ok(qf && qf->rcpts[0].slot_ok && qf->rcpts[0].status.state == QFILE_DELIVERED, "the completed slot reads back");
	qfile_close(qf);
	unlink(in_q(id));
	free(id);
	{
		struct qfile_dir d;

		ok(qfile_dir_open(&d, in_s("nonexistent"), &err) == -1 && err.errnum == ENOENT,
		   "a missing directory: %s", err.text);
	}
}

/* test_names - words for listings */
static void test_names(void)
{
	char buf[64];

	is_str(qfile_rstate_name(QFILE_PENDING), "pending", "pending");
	is_str(qfile_rstate_name(QFILE_DEFERRED), "deferred", "deferred");
	is_str(qfile_rstate_name(QFILE_DELIVERED), "delivered", "delivered");
	is_str(qfile_rstate_name(QFILE_BOUNCED), "bounced", "bounced");
	is_str(qfile_body_name(QFILE_BODY_BINARYMIME), "BINARYMIME", "BINARYMIME");
	is_str(qfile_ret_name(QFILE_RET_FULL), "FULL", "FULL");
	qfile_notify_format(QFILE_NOTIFY_SUCCESS | QFILE_NOTIFY_FAILURE | QFILE_NOTIFY_DELAY, buf, sizeof(buf));
	is_str(buf, "SUCCESS,FAILURE,DELAY", "notify list");
	qfile_notify_format(QFILE_NOTIFY_NEVER, buf, sizeof(buf));
	is_str(buf, "NEVER", "notify never");
	qfile_notify_format(0, buf, sizeof(buf));
	is_str(buf, "", "notify not given");
	ok(qfile_attr_wellknown("client_port") && !qfile_attr_wellknown("x_note"), "well-known names");
}

int main(void)
{
	struct qfile_error err;
	const char *base = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(tmpdir, sizeof(tmpdir), "%s/test_qfile.XXXXXX", base);
	if (mkdtemp(tmpdir) == NULL) {
		ok(0, "temporary directory: %s", strerror(errno));
		return tap_done();
	}
	snprintf(qpath, sizeof(qpath), "%s/q", tmpdir);
	snprintf(spath, sizeof(spath), "%s/s", tmpdir);
	mkdir(qpath, 0700);
	mkdir(spath, 0700);
	if (!ok(qfile_dir_open(&qdir, qpath, &err) == 0, "open the queue directory"))
		return tap_done();

	test_roundtrip();
	test_defaults();
	test_many_rcpts();
	test_body_offset();
	test_long_lines();
	test_big_content();
	test_updates();
	test_damaged_slots();
	test_incomplete();
	test_crafted();
	test_truncation_and_flips();
	test_usage();
	test_faults();
	test_names();
	is_int(dir_count(qpath), 0, "the queue directory is empty at the end");

	qfile_dir_close(&qdir);
	dir_clear(qpath);
	dir_clear(spath);
	rmdir(qpath);
	rmdir(spath);
	rmdir(tmpdir);
	return tap_done();
}
