/*
 * qfile_write - the queue file writer (used by cleanup); see qfile.h.
 *
 * Life of a writer: qfile_create opens "tmp-PID-N" with O_EXCL and mode
 * 0600 (or claims a recycled file under that name: qfile_pool.c), learns its inode, makes the queue id from the time and the inode
 * and renames the file to the id without replacing anything; records then
 * go into a 64 KiB buffer that is written when full; qfile_commit adds
 * the end record, writes the rest, sets mode 0700 and fsyncs.
 *
 * Invariants: the file offset of buf[0] is w->flushed; env_crc covers
 * every non-content byte handed to w_put so far (slot bytes as zeros);
 * the C record header holds 0xffffffff until the content is closed. On
 * any failure the file is closed and unlinked before the call returns and
 * the writer is left in W_FAILED, where every call fails at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/pid.h"
#include "base/str.h"
#include "mail/qfile.h"
#include "mail/qfile_int.h"

#define QFILE_WBUF	(64 * 1024)
#define QFILE_TRIES	100

enum qfile_wstate { W_ENVELOPE, W_CONTENT, W_TRAILER, W_COMMITTED, W_FAILED };

struct qfile_writer {
	struct qfile_dir *dir;
	int fd;
	char qid[QID_SIZE];
	enum qfile_wstate state;
	unsigned char *buf;		/* QFILE_WBUF bytes */
	size_t buflen;
	uint64_t flushed;		/* file offset of buf[0] */
	uint64_t env_bytes;		/* non-content bytes, for QFILE_ENVELOPE_MAX */
	uint32_t env_crc;
	uint32_t content_crc;
	uint64_t c_off;			/* offset of the C record header */
	uint64_t content_len;
	struct qfile_scan scan;		/* lines, body offset */
	size_t nrcpt;
	bool have_sender, have_flags, have_dsn;
	char **attr_names;
	size_t nattr;
	struct qfile_error err;
};

/* w_remove - close and unlink the file (best effort; complains if it cannot) */
static void w_remove(struct qfile_writer *w)
{
	if (w->fd >= 0)
		(void) close(w->fd);
	w->fd = -1;
	if (unlinkat(w->dir->fd, w->qid, 0) < 0 && errno != ENOENT)
		msg_warn("%s: cannot remove %s/%s: %s", w->qid, w->dir->path, w->qid, strerror(errno));
}

/* w_sysfail - a system call failed: record, remove the file, return -1 */
static int w_sysfail(struct qfile_writer *w, const char *what, int errnum)
{
	qfile_err(&w->err, QFILE_ERR_SYSTEM, errnum, -1, "%s %s/%s: %s", what, w->dir->path,
		  w->qid, strerror(errnum));
	w_remove(w);
	w->state = W_FAILED;
	return -1;
}

/* w_fail - a limit or usage error: record, remove the file, return -1 */
__attribute__((format(printf, 3, 4)))
static int w_fail(struct qfile_writer *w, enum qfile_errkind kind, const char *fmt, ...)
{
	char text[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	qfile_err(&w->err, kind, kind == QFILE_ERR_LIMIT ? EFBIG : EINVAL, -1, "%s/%s: %s",
		  w->dir->path, w->qid, text);
	w_remove(w);
	w->state = W_FAILED;
	return -1;
}

/* w_usable - fail at once on a failed or committed writer */
static int w_usable(struct qfile_writer *w)
{
	if (w->state == W_FAILED)
		return -1;
	if (w->state == W_COMMITTED)	/* the file stays: it may be accepted */
		return qfile_err(&w->err, QFILE_ERR_USAGE, EINVAL, -1, "%s/%s: writer used after commit",
				 w->dir->path, w->qid);
	return 0;
}

/* w_write - write all bytes at the current end of file */
static int w_write(struct qfile_writer *w, const unsigned char *p, size_t len)
{
	while (len > 0) {
		size_t n = len;
		int inj = qfile_fault(QFILE_OP_WRITE, &n);
		ssize_t got;

		if (inj)
			return w_sysfail(w, "write", inj);
		if (n == 0 || n > len)
			n = len;
		got = write(w->fd, p, n);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return w_sysfail(w, "write", errno);
		}
		if (got == 0)
			return w_sysfail(w, "write", EIO);
		p += got;
		len -= (size_t) got;
		w->flushed += (uint64_t) got;
	}
	return 0;
}

/* w_flush - write the buffer */
static int w_flush(struct qfile_writer *w)
{
	size_t len = w->buflen;

	w->buflen = 0;
	return w_write(w, w->buf, len);
}

/* w_append - buffer bytes; big pieces go straight to the file */
static int w_append(struct qfile_writer *w, const void *data, size_t len)
{
	if (len > QFILE_WBUF - w->buflen) {
		if (w_flush(w) < 0)
			return -1;
		if (len >= QFILE_WBUF)
			return w_write(w, data, len);
	}
	if (len > 0)
		memcpy(w->buf + w->buflen, data, len);
	w->buflen += len;
	return 0;
}

/* w_offset - file offset of the next byte */
static uint64_t w_offset(const struct qfile_writer *w)
{
	return w->flushed + w->buflen;
}

/*
 * w_record - append one envelope record; the slot_len bytes at slot_at
 * in the payload count as zeros in the envelope checksum.
 */
static int w_record(struct qfile_writer *w, int type, const unsigned char *payload, size_t len,
		    size_t slot_at, size_t slot_len)
{
	unsigned char hdr[QFILE_REC_HDR];

	if (w->env_bytes + QFILE_REC_HDR + len > (uint64_t) QFILE_ENVELOPE_MAX)
		return w_fail(w, QFILE_ERR_LIMIT, "envelope larger than %ld bytes", QFILE_ENVELOPE_MAX);
	w->env_bytes += QFILE_REC_HDR + len;
	hdr[0] = (unsigned char) type;
	qfile_put32(hdr + 1, (uint32_t) len);
	w->env_crc = qfile_crc(w->env_crc, hdr, sizeof(hdr));
	if (slot_len > 0) {
		w->env_crc = qfile_crc(w->env_crc, payload, slot_at);
		w->env_crc = qfile_crc_zeros(w->env_crc, slot_len);
		w->env_crc = qfile_crc(w->env_crc, payload + slot_at + slot_len,
				       len - slot_at - slot_len);
	} else {
		w->env_crc = qfile_crc(w->env_crc, payload, len);
	}
	if (w_append(w, hdr, sizeof(hdr)) < 0 || w_append(w, payload, len) < 0)
		return -1;
	return 0;
}

/* w_claim_name - rename tmp to a fresh queue id without replacing anything */
static int w_claim_name(struct qfile_dir *dir, const char *tmp, unsigned long long ino,
			char qid[QID_SIZE], struct qfile_error *err)
{
	static long long last_usecs;	/* ids of one process strictly increase */
	struct timeval tv;
	long long usecs;

	for (int tries = 0; tries < QFILE_TRIES; tries++) {
		int inj;

		gettimeofday(&tv, NULL);
		usecs = (long long) tv.tv_sec * 1000000 + tv.tv_usec;
		if (usecs <= last_usecs)
			usecs = last_usecs + 1;
		last_usecs = usecs;
		if (qid_make(qid, usecs / 1000000, (long) (usecs % 1000000), ino) < 0)
			return qfile_err(err, QFILE_ERR_SYSTEM, ERANGE, -1,
					 "system clock out of range for queue ids");
		if ((inj = qfile_fault(QFILE_OP_RENAME, NULL)) != 0)
			errno = inj;
		else if (renameat2(dir->fd, tmp, dir->fd, qid, RENAME_NOREPLACE) == 0)
			return 0;
		if (errno == EINVAL || errno == ENOSYS) {
			/* a file system without RENAME_NOREPLACE: link never replaces either */
			if (linkat(dir->fd, tmp, dir->fd, qid, 0) == 0) {
				if (unlinkat(dir->fd, tmp, 0) == 0)
					return 0;
				inj = errno;
				(void) unlinkat(dir->fd, qid, 0);
				errno = inj;
			}
		}
		if (errno != EEXIST)
			return qfile_err(err, QFILE_ERR_SYSTEM, errno, -1, "rename %s/%s to %s: %s",
					 dir->path, tmp, qid, strerror(errno));
	}
	return qfile_err(err, QFILE_ERR_SYSTEM, EEXIST, -1, "no free queue id in %s", dir->path);
}

/*
 * w_open_tmp - a uniquely named temporary file, from dir's pool when it
 * has one, else created; its fd with st filled, or -1
 */
static int w_open_tmp(struct qfile_dir *dir, char *tmp, size_t size, struct stat *st,
		      struct qfile_error *err)
{
	static unsigned counter;

	for (int tries = 0; tries < QFILE_TRIES; tries++) {
		int inj = qfile_fault(QFILE_OP_OPEN, NULL);
		int fd;

		(void) str_fmt(tmp, size, "tmp-%ld-%u", pid_self(), counter++);
		if (inj) {
			errno = inj;
			fd = -1;
		} else {
			if (dir->pool != NULL && (fd = qfile_pool_claim(dir->pool, dir, tmp, st)) >= 0)
				return fd;
			fd = openat(dir->fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
				    QFILE_MODE_INCOMPLETE);
		}
		if (fd >= 0) {
			if ((inj = qfile_fault(QFILE_OP_FSTAT, NULL)) == 0 && fstat(fd, st) == 0)
				return fd;
			inj = inj ? inj : errno;
			(void) close(fd);
			(void) unlinkat(dir->fd, tmp, 0);
			return qfile_err(err, QFILE_ERR_SYSTEM, inj, -1, "fstat %s/%s: %s", dir->path,
					 tmp, strerror(inj));
		}
		if (errno != EEXIST)
			return qfile_err(err, QFILE_ERR_SYSTEM, errno, -1, "create %s/%s: %s",
					 dir->path, tmp, strerror(errno));
	}
	return qfile_err(err, QFILE_ERR_SYSTEM, EEXIST, -1, "create %s/%s: %s", dir->path, tmp,
			 strerror(EEXIST));
}

/* qfile_create - new incomplete queue file named by a new queue id */
struct qfile_writer *qfile_create(struct qfile_dir *dir, const struct timeval *arrival,
				  struct qfile_error *err)
{
	struct qfile_writer *w;
	char tmp[64];
	struct stat st;
	unsigned char rec[QID_SIZE + QREC_TIME_LEN];
	struct qfile_sched sched = {0, 0, 0, 0};
	long long sec;
	long usec;
	int fd;

	if (arrival != NULL && (arrival->tv_sec < 0 || arrival->tv_sec > QFILE_TIME_MAX
				|| arrival->tv_usec < 0 || arrival->tv_usec > 999999)) {
		qfile_err(err, QFILE_ERR_USAGE, EINVAL, -1, "arrival time out of range");
		return NULL;
	}
	if ((fd = w_open_tmp(dir, tmp, sizeof(tmp), &st, err)) < 0)
		return NULL;
	w = xcalloc(1, sizeof(*w));
	w->dir = dir;
	w->fd = fd;
	if (w_claim_name(dir, tmp, (unsigned long long) st.st_ino, w->qid, err) < 0)
		goto fail;

	w->buf = xmalloc(QFILE_WBUF);
	w->state = W_ENVELOPE;
	qfile_scan_init(&w->scan);
	qfile_err_clear(&w->err);
	/* header line and queue state slot */
	memcpy(w->buf, QFILE_MAGIC, QFILE_MAGIC_LEN);
	w->buflen = QFILE_MAGIC_LEN;
	w->env_crc = qfile_crc(0, QFILE_MAGIC, QFILE_MAGIC_LEN);
	w->env_bytes = QFILE_MAGIC_LEN;
	if (qfile_sched_encode(&sched, rec) < 0)
		msg_panic("qfile_create: cannot encode the initial queue state");
	if (w_record(w, QREC_SCHED, rec, QFILE_SCHED_SIZE, 0, QFILE_SCHED_SIZE) < 0)
		goto fail_w;
	/* arrival time: given, or the id's creation time */
	if (arrival) {
		sec = arrival->tv_sec;
		usec = (long) arrival->tv_usec;
	} else if (qid_time(w->qid, &sec, &usec) < 0) {
		msg_panic("qfile_create: made an invalid queue id %s", w->qid);
	}
	qfile_put64(rec, (uint64_t) sec);
	qfile_put32(rec + 8, (uint32_t) usec);
	if (w_record(w, QREC_TIME, rec, QREC_TIME_LEN, 0, 0) < 0
	    || w_record(w, QREC_QID, (const unsigned char *) w->qid, strlen(w->qid), 0, 0) < 0)
		goto fail_w;
	qfile_err_clear(err);
	return w;

fail:
	(void) close(fd);
	(void) unlinkat(dir->fd, tmp, 0);
	free(w);
	return NULL;
fail_w:
	if (err)
		*err = w->err;
	qfile_writer_free(w);
	return NULL;
}

/* qfile_writer_qid - the id */
const char *qfile_writer_qid(const struct qfile_writer *w)
{
	return w->qid;
}

/* qfile_writer_error - the last error */
const struct qfile_error *qfile_writer_error(const struct qfile_writer *w)
{
	return &w->err;
}

/* w_envelope_only - the call must come before the content */
static int w_envelope_only(struct qfile_writer *w, const char *what)
{
	if (w_usable(w) < 0)
		return -1;
	if (w->state != W_ENVELOPE)
		return w_fail(w, QFILE_ERR_USAGE, "%s after the content", what);
	return 0;
}

/* qfile_put_sender - the S record */
int qfile_put_sender(struct qfile_writer *w, const char *addr)
{
	size_t len = strlen(addr);
	const char *why;

	if (w_envelope_only(w, "sender") < 0)
		return -1;
	if (w->have_sender)
		return w_fail(w, QFILE_ERR_USAGE, "second sender");
	if (len > QFILE_ADDR_MAX)
		return w_fail(w, QFILE_ERR_LIMIT, "sender address longer than %d bytes", QFILE_ADDR_MAX);
	if ((why = qfile_check_addr((const unsigned char *) addr, len, true)) != NULL)
		return w_fail(w, QFILE_ERR_USAGE, "sender address %s", why);
	w->have_sender = true;
	return w_record(w, QREC_SENDER, (const unsigned char *) addr, len, 0, 0);
}

/* qfile_put_flags - the F record */
int qfile_put_flags(struct qfile_writer *w, unsigned flags, enum qfile_body body)
{
	unsigned char rec[QREC_FLAGS_LEN];

	if (w_envelope_only(w, "flags") < 0)
		return -1;
	if (w->have_flags)
		return w_fail(w, QFILE_ERR_USAGE, "second flags record");
	if ((flags & ~(unsigned) QFILE_F_ALL) != 0 || (unsigned) body > QFILE_BODY_BINARYMIME)
		return w_fail(w, QFILE_ERR_USAGE, "unknown flags 0x%x or body type %d", flags, (int) body);
	w->have_flags = true;
	qfile_put32(rec, flags);
	rec[4] = (unsigned char) body;
	return w_record(w, QREC_FLAGS, rec, sizeof(rec), 0, 0);
}

/* qfile_put_dsn - the D record */
int qfile_put_dsn(struct qfile_writer *w, enum qfile_ret ret, const char *envid)
{
	unsigned char rec[1 + QFILE_ENVID_MAX];
	size_t len = envid ? strlen(envid) : 0;
	const char *why;

	if (w_envelope_only(w, "DSN") < 0)
		return -1;
	if (w->have_dsn)
		return w_fail(w, QFILE_ERR_USAGE, "second DSN record");
	if ((unsigned) ret > QFILE_RET_HDRS)
		return w_fail(w, QFILE_ERR_USAGE, "unknown RET value %d", (int) ret);
	if (len > QFILE_ENVID_MAX)
		return w_fail(w, QFILE_ERR_LIMIT, "ENVID longer than %d bytes", QFILE_ENVID_MAX);
	if ((why = qfile_check_xtext((const unsigned char *) envid, len, QFILE_ENVID_MAX)) != NULL)
		return w_fail(w, QFILE_ERR_USAGE, "ENVID %s", why);
	w->have_dsn = true;
	rec[0] = (unsigned char) ret;
	if (len)
		memcpy(rec + 1, envid, len);
	return w_record(w, QREC_DSN, rec, 1 + len, 0, 0);
}

/* w_content_close - end the content record: fix its length, go on with the trailer */
static int w_content_close(struct qfile_writer *w)
{
	unsigned char hdr[QFILE_REC_HDR];

	hdr[0] = QREC_CONTENT;
	qfile_put32(hdr + 1, (uint32_t) w->content_len);
	w->env_crc = qfile_crc(w->env_crc, hdr, sizeof(hdr));
	qfile_scan_end(&w->scan);
	if (w->c_off >= w->flushed) {
		memcpy(w->buf + (w->c_off - w->flushed), hdr, sizeof(hdr));
	} else if (qfile_pwrite_all(w->fd, hdr, sizeof(hdr), (long long) w->c_off) < 0) {
		return w_sysfail(w, "pwrite", errno);
	}
	w->state = W_TRAILER;
	return 0;
}

/* w_content_open - start the content record with a placeholder length */
static int w_content_open(struct qfile_writer *w)
{
	unsigned char hdr[QFILE_REC_HDR] = {QREC_CONTENT, 0xff, 0xff, 0xff, 0xff};

	if (w->env_bytes + QFILE_REC_HDR > (uint64_t) QFILE_ENVELOPE_MAX)
		return w_fail(w, QFILE_ERR_LIMIT, "envelope larger than %ld bytes", QFILE_ENVELOPE_MAX);
	w->env_bytes += QFILE_REC_HDR;
	w->c_off = w_offset(w);
	w->state = W_CONTENT;
	return w_append(w, hdr, sizeof(hdr));
}

/* w_trailer_ok - a record that may come before or after the content */
static int w_trailer_ok(struct qfile_writer *w)
{
	if (w_usable(w) < 0)
		return -1;
	if (w->state == W_CONTENT)
		return w_content_close(w);
	return 0;
}

/* qfile_put_rcpt - an R record with a pending slot */
int qfile_put_rcpt(struct qfile_writer *w, const char *addr, unsigned notify,
		   const char *orcpt_type, const char *orcpt)
{
	unsigned char rec[QFILE_RECORD_MAX];
	struct qfile_rstatus pending = {QFILE_PENDING, 0, 0, 0, 0, 0, 0};
	size_t alen = strlen(addr), tlen = orcpt_type ? strlen(orcpt_type) : 0;
	size_t olen = orcpt ? strlen(orcpt) : 0;
	size_t pad, n = 0, slot_at;
	const char *why;

	if (w_trailer_ok(w) < 0)
		return -1;
	if (w->nrcpt >= QFILE_RCPT_MAX)
		return w_fail(w, QFILE_ERR_LIMIT, "more than %d recipients", QFILE_RCPT_MAX);
	if (alen > QFILE_ADDR_MAX)
		return w_fail(w, QFILE_ERR_LIMIT, "recipient address longer than %d bytes", QFILE_ADDR_MAX);
	if (olen > QFILE_ORCPT_MAX || tlen > QFILE_ORCPT_TYPE_MAX)
		return w_fail(w, QFILE_ERR_LIMIT, "ORCPT longer than %d bytes", QFILE_ORCPT_MAX);
	if ((why = qfile_check_addr((const unsigned char *) addr, alen, false)) != NULL)
		return w_fail(w, QFILE_ERR_USAGE, "recipient address %s", why);
	if ((why = qfile_check_notify(notify)) != NULL)
		return w_fail(w, QFILE_ERR_USAGE, "recipient %s", why);
	if ((orcpt_type == NULL) != (orcpt == NULL))
		return w_fail(w, QFILE_ERR_USAGE, "ORCPT needs both a type and an address");
	if (orcpt_type != NULL) {
		if ((why = qfile_check_orcpt_type((const unsigned char *) orcpt_type, tlen)) != NULL)
			return w_fail(w, QFILE_ERR_USAGE, "ORCPT type %s", why);
		if ((why = qfile_check_orcpt((const unsigned char *) orcpt, olen)) != NULL)
			return w_fail(w, QFILE_ERR_USAGE, "ORCPT address %s", why);
	}
	/* pad byte, padding, slot, notify, type length, type, orcpt length, orcpt, address */
	pad = qfile_rslot_pad(w_offset(w));
	rec[n++] = (unsigned char) pad;
	memset(rec + n, 0, pad);
	n += pad;
	slot_at = n;
	if (qfile_rslot_encode(&pending, rec + n) < 0)
		msg_panic("qfile_put_rcpt: cannot encode a pending slot");
	n += QFILE_RSLOT_SIZE;
	rec[n++] = (unsigned char) notify;
	rec[n++] = (unsigned char) tlen;
	if (tlen)
		memcpy(rec + n, orcpt_type, tlen);
	n += tlen;
	qfile_put16(rec + n, (uint32_t) olen);
	n += 2;
	if (olen)
		memcpy(rec + n, orcpt, olen);
	n += olen;
	memcpy(rec + n, addr, alen);
	n += alen;
	w->nrcpt++;
	return w_record(w, QREC_RCPT, rec, n, slot_at, QFILE_RSLOT_SIZE);
}

/* qfile_put_attr - an A record */
int qfile_put_attr(struct qfile_writer *w, const char *name, const void *value, size_t len)
{
	unsigned char rec[QFILE_RECORD_MAX];
	size_t nlen = strlen(name);
	const char *why;

	if (w_trailer_ok(w) < 0)
		return -1;
	if ((why = qfile_check_attr_name((const unsigned char *) name, nlen)) != NULL)
		return w_fail(w, QFILE_ERR_USAGE, "attribute name %s", why);
	if (len > QFILE_ATTR_VALUE_MAX || (len > QFILE_WELLKNOWN_MAX && qfile_attr_wellknown(name)))
		return w_fail(w, QFILE_ERR_LIMIT, "attribute %s value longer than %d bytes", name,
			      qfile_attr_wellknown(name) ? QFILE_WELLKNOWN_MAX : QFILE_ATTR_VALUE_MAX);
	if ((why = qfile_check_attr_value(name, value, len)) != NULL)
		return w_fail(w, QFILE_ERR_USAGE, "attribute %s value %s", name, why);
	if (w->nattr >= QFILE_ATTR_COUNT_MAX)
		return w_fail(w, QFILE_ERR_LIMIT, "more than %d attributes", QFILE_ATTR_COUNT_MAX);
	for (size_t i = 0; i < w->nattr; i++)
		if (strcmp(w->attr_names[i], name) == 0)
			return w_fail(w, QFILE_ERR_USAGE, "second attribute %s", name);
	if (w->nattr == 0)	/* at most QFILE_ATTR_COUNT_MAX: one allocation */
		w->attr_names = xcalloc(QFILE_ATTR_COUNT_MAX, sizeof(char *));
	w->attr_names[w->nattr++] = xstrdup(name);
	rec[0] = (unsigned char) nlen;
	memcpy(rec + 1, name, nlen);
	if (len)
		memcpy(rec + 1 + nlen, value, len);
	return w_record(w, QREC_ATTR, rec, 1 + nlen + len, 0, 0);
}

/* qfile_put_content - message bytes */
int qfile_put_content(struct qfile_writer *w, const void *data, size_t len)
{
	if (w_usable(w) < 0)
		return -1;
	if (w->state == W_TRAILER)
		return w_fail(w, QFILE_ERR_USAGE, "content after recipients or attributes that follow it");
	if (w->state == W_ENVELOPE && w_content_open(w) < 0)
		return -1;
	if (len > QFILE_CONTENT_MAX - w->content_len)
		return w_fail(w, QFILE_ERR_LIMIT, "message content larger than %llu bytes",
			      (unsigned long long) QFILE_CONTENT_MAX);
	if (qfile_scan_feed(&w->scan, data, len) < 0)
		return w_fail(w, QFILE_ERR_LIMIT, "header line longer than %d bytes",
			      QFILE_HEADER_LINE_MAX);
	w->content_crc = qfile_crc(w->content_crc, data, len);
	w->content_len += len;
	return w_append(w, data, len);
}

/* qfile_commit - end record, flush, mark complete, fsync, close */
int qfile_commit(struct qfile_writer *w)
{
	unsigned char rec[QREC_END_LEN], hdr[QFILE_REC_HDR];
	int inj, fd;

	if (w_usable(w) < 0)
		return -1;
	if (!w->have_sender)
		return w_fail(w, QFILE_ERR_USAGE, "no sender");
	if (w->nrcpt == 0)
		return w_fail(w, QFILE_ERR_USAGE, "no recipients");
	if (w->state == W_ENVELOPE && w_content_open(w) < 0)
		return -1;
	if (w->state == W_CONTENT && w_content_close(w) < 0)
		return -1;
	qfile_put32(rec, (uint32_t) w->scan.body_offset);
	qfile_put32(rec + 4, (uint32_t) w->scan.lf_count);
	qfile_put32(rec + 8, (uint32_t) w->nrcpt);
	qfile_put32(rec + 12, w->content_crc);
	hdr[0] = QREC_END;
	qfile_put32(hdr + 1, QREC_END_LEN);
	w->env_crc = qfile_crc(w->env_crc, hdr, sizeof(hdr));
	w->env_crc = qfile_crc(w->env_crc, rec, 16);
	qfile_put32(rec + 16, w->env_crc);
	if (w_append(w, hdr, sizeof(hdr)) < 0 || w_append(w, rec, sizeof(rec)) < 0
	    || w_flush(w) < 0)
		return -1;
	/* complete: the execute bit, made durable together with the data */
	if ((inj = qfile_fault(QFILE_OP_FCHMOD, NULL)) != 0 || fchmod(w->fd, QFILE_MODE_COMPLETE) < 0)
		return w_sysfail(w, "fchmod", inj ? inj : errno);
	if ((inj = qfile_fault(QFILE_OP_FSYNC, NULL)) != 0 || fsync(w->fd) < 0)
		return w_sysfail(w, "fsync", inj ? inj : errno);
	fd = w->fd;
	w->fd = -1;
	if ((inj = qfile_fault(QFILE_OP_CLOSE, NULL)) != 0 || close(fd) < 0) {
		if (inj)
			(void) close(fd);
		return w_sysfail(w, "close", inj ? inj : errno);
	}
	w->state = W_COMMITTED;
	return 0;
}

/* w_destroy - free memory only */
static void w_destroy(struct qfile_writer *w)
{
	for (size_t i = 0; i < w->nattr; i++)
		free(w->attr_names[i]);
	free(w->attr_names);
	free(w->buf);
	free(w);
}

/* qfile_writer_abort - remove the file and free */
void qfile_writer_abort(struct qfile_writer *w)
{
	if (w == NULL)
		return;
	if (w->state != W_FAILED)
		w_remove(w);
	w_destroy(w);
}

/* qfile_writer_free - free; uncommitted files are removed */
void qfile_writer_free(struct qfile_writer *w)
{
	if (w == NULL)
		return;
	if (w->state == W_COMMITTED)
		w_destroy(w);
	else
		qfile_writer_abort(w);
}
