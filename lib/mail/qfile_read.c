/*
 * qfile_read - open, validate and read a queue file; see qfile.h.
 *
 * A queue file is outside input for its reader: it may be truncated by a
 * crash, damaged on disk or written by someone hostile. qfile_open
 * therefore checks every length against the limits and against what is
 * left of the file before using it, knows every record type and where it
 * may appear, and checks the envelope checksum in the end record; the
 * first problem ends the parse with its byte offset and a reason. The
 * content is not read by qfile_open: its checksum is checked when it is
 * streamed from the start to the end (qfile_content_read, qfile_verify).
 *
 * I/O: the envelope is read through a 64 KiB window with pread, so a
 * typical file costs one read; the content is read straight into the
 * caller's buffer; with QFILE_OPEN_KEEP a file of up to QFILE_KEEP_MAX
 * bytes is read whole by one pread and the content is copied from there
 * (a delivery agent then reads a message once).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "mail/qfile.h"
#include "mail/qfile_int.h"

#define QFILE_RBUF	(64 * 1024)
#define QFILE_KEEP_MAX	(1024 * 1024)	/* QFILE_OPEN_KEEP: files up to this size are read whole */

enum rd_section { RD_ENVELOPE, RD_TRAILER };

/* rd - parse state while opening */
struct rd {
	struct qfile *qf;
	struct qfile_error *err;
	unsigned char *win;		/* win_cap bytes */
	size_t win_cap;			/* QFILE_RBUF, or the file size (QFILE_OPEN_KEEP) */
	long long win_off;
	size_t win_len;
	enum rd_section section;
	uint32_t env_crc;
	uint64_t env_bytes;
	bool seen_time, seen_qid, seen_sender, seen_flags, seen_dsn, seen_content;
};

/* rd_pread - read exactly len bytes at off */
static int rd_pread(struct qfile *qf, void *buf, size_t len, long long off, struct qfile_error *err)
{
	char *p = buf;

	while (len > 0) {
		int inj = qfile_fault(QFILE_OP_PREAD, NULL);
		ssize_t got = inj ? (errno = inj, -1) : pread(qf->fd, p, len, (off_t) off);

		if (got < 0) {
			if (errno == EINTR)
				continue;
			return qfile_err(err, QFILE_ERR_SYSTEM, errno, off, "read %s: %s", qf->path,
					 strerror(errno));
		}
		if (got == 0)
			return qfile_err_corrupt(err, off, "file ends early (it shrank while being read)");
		p += got;
		off += got;
		len -= (size_t) got;
	}
	return 0;
}

/* rd_get - bytes [off, off+len) of the file, len <= QFILE_RBUF, within the file */
static const unsigned char *rd_get(struct rd *rd, long long off, size_t len)
{
	size_t want;

	if (off >= rd->win_off && (uint64_t) (off - rd->win_off) + len <= rd->win_len)
		return rd->win + (off - rd->win_off);
	want = rd->win_cap;
	if ((uint64_t) (rd->qf->file_size - off) < want)
		want = (size_t) (rd->qf->file_size - off);
	if (want < len)
		msg_panic("rd_get: read of %zu bytes at %lld past the end", len, off);
	rd->win_len = 0;
	if (rd_pread(rd->qf, rd->win, want, off, rd->err) < 0)
		return NULL;
	rd->win_off = off;
	rd->win_len = want;
	return rd->win;
}

/* rd_header - the version line and the queue state record */
static int rd_header(struct rd *rd)
{
	static const char prefix[] = "tern queue file, version ";
	struct qfile *qf = rd->qf;
	size_t plen = sizeof(prefix) - 1, have;
	const unsigned char *p;
	long version = 0;
	size_t i;

	have = qf->file_size < QFILE_FIRST_REC_OFFSET ? (size_t) qf->file_size : QFILE_FIRST_REC_OFFSET;
	if ((p = rd_get(rd, 0, have)) == NULL)
		return -1;
	if (have < plen || memcmp(p, prefix, plen) != 0)
		return qfile_err_corrupt(rd->err, 0, "not a tern queue file");
	for (i = plen; i < have && i < plen + 6 && p[i] >= '0' && p[i] <= '9'; i++)
		version = version * 10 + (p[i] - '0');
	if (i == plen || i >= have || p[i] != '\n')
		return qfile_err_corrupt(rd->err, (long long) plen, "bad version line");
	if (version != QFILE_VERSION)
		return qfile_err_corrupt(rd->err, (long long) plen,
					 "unsupported queue file version %ld (this program reads version %d)",
					 version, QFILE_VERSION);
	qf->version = (int) version;
	if (have < QFILE_FIRST_REC_OFFSET)
		return qfile_err_corrupt(rd->err, qf->file_size, "file ends inside the queue state record");
	p += QFILE_MAGIC_LEN;
	if (p[0] != QREC_SCHED || qfile_get32(p + 1) != QFILE_SCHED_SIZE)
		return qfile_err_corrupt(rd->err, QFILE_SCHED_REC_OFFSET, "no queue state record");
	rd->env_crc = qfile_crc(0, QFILE_MAGIC, QFILE_MAGIC_LEN);
	rd->env_crc = qfile_crc(rd->env_crc, p, QFILE_REC_HDR);
	rd->env_crc = qfile_crc_zeros(rd->env_crc, QFILE_SCHED_SIZE);
	rd->env_bytes = QFILE_FIRST_REC_OFFSET;
	qf->sched_ok = qfile_sched_decode(p + QFILE_REC_HDR, &qf->sched) == 0;
	if (!qf->sched_ok)
		memset(&qf->sched, 0, sizeof(qf->sched));
	return 0;
}

/* rd_once - a record that may appear once, before the content */
static int rd_once(struct rd *rd, bool *seen, int type, long long off)
{
	if (rd->section != RD_ENVELOPE)
		return qfile_err_corrupt(rd->err, off, "%s record after the content", qfile_rec_name(type));
	if (*seen)
		return qfile_err_corrupt(rd->err, off, "second %s record", qfile_rec_name(type));
	*seen = true;
	return 0;
}

/* rd_basename - last component of a path */
static const char *rd_basename(const char *path)
{
	const char *slash = strrchr(path, '/');

	return slash ? slash + 1 : path;
}

/* rd_simple - T, I, S, F and D records */
static int rd_simple(struct rd *rd, int type, const unsigned char *p, size_t len, long long off)
{
	struct qfile *qf = rd->qf;
	const char *why, *base;
	uint64_t sec;

	switch (type) {
	case QREC_TIME:
		if (rd_once(rd, &rd->seen_time, type, off) < 0)
			return -1;
		if (len != QREC_TIME_LEN)
			return qfile_err_corrupt(rd->err, off, "arrival time record length %zu is not %d",
						 len, QREC_TIME_LEN);
		sec = qfile_get64(p);
		if (sec > (uint64_t) QFILE_TIME_MAX || qfile_get32(p + 8) > 999999)
			return qfile_err_corrupt(rd->err, off, "arrival time out of range");
		qf->arrival_sec = (long long) sec;
		qf->arrival_usec = (long) qfile_get32(p + 8);
		return 0;
	case QREC_QID:
		if (rd_once(rd, &rd->seen_qid, type, off) < 0)
			return -1;
		if (len < QID_MIN_LEN || len > QID_MAX_LEN)
			return qfile_err_corrupt(rd->err, off, "queue id length %zu out of range", len);
		memcpy(qf->qid, p, len);
		qf->qid[len] = '\0';
		if (!qid_valid(qf->qid))
			return qfile_err_corrupt(rd->err, off, "bad queue id");
		base = rd_basename(qf->path);
		if (qid_valid(base) && strcmp(base, qf->qid) != 0)
			return qfile_err_corrupt(rd->err, off, "queue id %s does not match the file name",
						 qf->qid);
		return 0;
	case QREC_SENDER:
		if (rd_once(rd, &rd->seen_sender, type, off) < 0)
			return -1;
		if ((why = qfile_check_addr(p, len, true)) != NULL)
			return qfile_err_corrupt(rd->err, off, "sender address %s", why);
		qf->sender = xstrndup((const char *) p, len);
		return 0;
	case QREC_FLAGS:
		if (rd_once(rd, &rd->seen_flags, type, off) < 0)
			return -1;
		if (len != QREC_FLAGS_LEN)
			return qfile_err_corrupt(rd->err, off, "flags record length %zu is not %d", len,
						 QREC_FLAGS_LEN);
		if ((qfile_get32(p) & ~(uint32_t) QFILE_F_ALL) != 0 || p[4] > QFILE_BODY_BINARYMIME)
			return qfile_err_corrupt(rd->err, off, "unknown flags 0x%x or body type %d",
						 qfile_get32(p), p[4]);
		qf->flags = qfile_get32(p);
		qf->body = (enum qfile_body) p[4];
		return 0;
	case QREC_DSN:
		if (rd_once(rd, &rd->seen_dsn, type, off) < 0)
			return -1;
		if (len < 1 || len > 1 + QFILE_ENVID_MAX)
			return qfile_err_corrupt(rd->err, off, "DSN record length %zu out of range", len);
		if (p[0] > QFILE_RET_HDRS)
			return qfile_err_corrupt(rd->err, off, "unknown RET value %d", p[0]);
		if ((why = qfile_check_xtext(p + 1, len - 1, QFILE_ENVID_MAX)) != NULL)
			return qfile_err_corrupt(rd->err, off + QFILE_REC_HDR + 1, "ENVID %s", why);
		qf->dsn_ret = (enum qfile_ret) p[0];
		if (len > 1)
			qf->envid = xstrndup((const char *) p + 1, len - 1);
		return 0;
	default:
		msg_panic("rd_simple: record type %d", type);
	}
}

/* rd_rcpt - an R record */
static int rd_rcpt(struct rd *rd, const unsigned char *p, size_t len, long long off)
{
	struct qfile *qf = rd->qf;
	struct qfile_rcpt *r;
	size_t pad, n, tlen, olen;
	long long fld = off + QFILE_REC_HDR;
	const char *why;

	if (qf->nrcpts >= QFILE_RCPT_MAX)
		return qfile_err_corrupt(rd->err, off, "more than %d recipients", QFILE_RCPT_MAX);
	if (len < 1)
		return qfile_err_corrupt(rd->err, off, "empty recipient record");
	pad = p[0];
	if (pad != qfile_rslot_pad((uint64_t) off))
		return qfile_err_corrupt(rd->err, fld, "recipient slot padding %zu, expected %zu", pad,
					 qfile_rslot_pad((uint64_t) off));
	n = 1 + pad;
	if (len < n + QFILE_RSLOT_SIZE + 2)
		return qfile_err_corrupt(rd->err, off, "recipient record length %zu too short", len);
	for (size_t i = 1; i < n; i++)
		if (p[i] != 0)
			return qfile_err_corrupt(rd->err, fld + (long long) i, "recipient padding not zero");
	if (qf->nrcpts == qf->rcpts_cap) {
		qf->rcpts_cap = qf->rcpts_cap ? qf->rcpts_cap * 2 : 8;
		qf->rcpts = xreallocarray(qf->rcpts, qf->rcpts_cap, sizeof(*qf->rcpts));
	}
	r = memset(&qf->rcpts[qf->nrcpts++], 0, sizeof(*r));	/* counted: qfile_close frees it */
	r->offset = off;
	r->slot_offset = fld + (long long) n;
	r->after_content = rd->section == RD_TRAILER;
	r->slot_ok = qfile_rslot_decode(p + n, &r->status) == 0;
	if (!r->slot_ok)
		r->status = (struct qfile_rstatus) {QFILE_PENDING, 0, 0, 0, 0, 0, 0};
	n += QFILE_RSLOT_SIZE;
	r->notify = p[n++];
	if ((why = qfile_check_notify(r->notify)) != NULL)
		return qfile_err_corrupt(rd->err, fld + (long long) n - 1, "recipient %s", why);
	tlen = p[n++];
	if (tlen > QFILE_ORCPT_TYPE_MAX || len - n < tlen + 2)
		return qfile_err_corrupt(rd->err, fld + (long long) n - 1, "bad ORCPT type length %zu", tlen);
	if (tlen && (why = qfile_check_orcpt_type(p + n, tlen)) != NULL)
		return qfile_err_corrupt(rd->err, fld + (long long) n, "ORCPT type %s", why);
	r->orcpt_type = tlen ? xstrndup((const char *) p + n, tlen) : NULL;
	n += tlen;
	olen = qfile_get16(p + n);
	if (olen > QFILE_ORCPT_MAX || len - n - 2 < olen)
		return qfile_err_corrupt(rd->err, fld + (long long) n, "bad ORCPT length %zu", olen);
	n += 2;
	if ((tlen == 0) != (olen == 0))
		return qfile_err_corrupt(rd->err, fld + (long long) n, "ORCPT needs a type and an address");
	if (olen && (why = qfile_check_orcpt(p + n, olen)) != NULL)
		return qfile_err_corrupt(rd->err, fld + (long long) n, "ORCPT address %s", why);
	r->orcpt = olen ? xstrndup((const char *) p + n, olen) : NULL;
	n += olen;
	if ((why = qfile_check_addr(p + n, len - n, false)) != NULL)
		return qfile_err_corrupt(rd->err, fld + (long long) n, "recipient address %s", why);
	r->addr = xstrndup((const char *) p + n, len - n);
	rd->env_crc = qfile_crc(rd->env_crc, p, 1 + pad);
	rd->env_crc = qfile_crc_zeros(rd->env_crc, QFILE_RSLOT_SIZE);
	rd->env_crc = qfile_crc(rd->env_crc, p + 1 + pad + QFILE_RSLOT_SIZE,
				len - 1 - pad - QFILE_RSLOT_SIZE);
	return 0;
}

/* rd_attr - an A record */
static int rd_attr(struct rd *rd, const unsigned char *p, size_t len, long long off)
{
	struct qfile *qf = rd->qf;
	struct qfile_attr *a;
	size_t nlen;
	char name[QFILE_ATTR_NAME_MAX + 1];
	const char *why;

	if (qf->nattrs >= QFILE_ATTR_COUNT_MAX)
		return qfile_err_corrupt(rd->err, off, "more than %d attributes", QFILE_ATTR_COUNT_MAX);
	if (len < 1 || (nlen = p[0]) > len - 1)
		return qfile_err_corrupt(rd->err, off, "bad attribute name length");
	if ((why = qfile_check_attr_name(p + 1, nlen)) != NULL)
		return qfile_err_corrupt(rd->err, off + QFILE_REC_HDR + 1, "attribute name %s", why);
	memcpy(name, p + 1, nlen);
	name[nlen] = '\0';
	if ((why = qfile_check_attr_value(name, p + 1 + nlen, len - 1 - nlen)) != NULL)
		return qfile_err_corrupt(rd->err, off + QFILE_REC_HDR + 1 + (long long) nlen,
					 "attribute %s value %s", name, why);
	if (qfile_attr(qf, name, NULL) != NULL)
		return qfile_err_corrupt(rd->err, off, "second attribute %s", name);
	if (qf->nattrs == qf->attrs_cap) {
		qf->attrs_cap = qf->attrs_cap ? qf->attrs_cap * 2 : 8;
		qf->attrs = xreallocarray(qf->attrs, qf->attrs_cap, sizeof(*qf->attrs));
	}
	a = &qf->attrs[qf->nattrs++];
	a->name = xstrdup(name);
	a->len = len - 1 - nlen;
	a->value = xmalloc(a->len + 1);
	memcpy(a->value, p + 1 + nlen, a->len);
	a->value[a->len] = '\0';
	a->offset = off;
	return 0;
}

/* rd_end - the E record: counts, required records, checksum, end of file */
static int rd_end(struct rd *rd, const unsigned char *p, size_t len, long long off)
{
	struct qfile *qf = rd->qf;
	uint32_t crc;

	if (len != QREC_END_LEN)
		return qfile_err_corrupt(rd->err, off, "end record length %zu is not %d", len, QREC_END_LEN);
	if (!rd->seen_content)
		return qfile_err_corrupt(rd->err, off, "no content record");
	if (!rd->seen_time || !rd->seen_qid || !rd->seen_sender)
		return qfile_err_corrupt(rd->err, off, "no %s record",
					 !rd->seen_time ? "arrival time" : !rd->seen_qid ? "queue id" : "sender");
	if (qf->nrcpts == 0)
		return qfile_err_corrupt(rd->err, off, "no recipient record");
	if (qfile_get32(p + 8) != qf->nrcpts)
		return qfile_err_corrupt(rd->err, off, "end record counts %u recipients, file has %zu",
					 qfile_get32(p + 8), qf->nrcpts);
	qf->body_offset = qfile_get32(p);
	qf->lf_count = qfile_get32(p + 4);
	qf->content_crc = qfile_get32(p + 12);
	if (qf->body_offset > qf->content_len || qf->lf_count > qf->content_len)
		return qfile_err_corrupt(rd->err, off, "end record body offset or line count too large");
	crc = qfile_crc(rd->env_crc, p, 16);
	if (crc != qfile_get32(p + 16))
		return qfile_err_corrupt(rd->err, off, "envelope checksum mismatch (stored %08x, computed %08x)",
					 qfile_get32(p + 16), crc);
	if (off + QFILE_REC_HDR + QREC_END_LEN != qf->file_size)
		return qfile_err_corrupt(rd->err, off + QFILE_REC_HDR + QREC_END_LEN,
					 "%lld bytes after the end record",
					 qf->file_size - (off + QFILE_REC_HDR + QREC_END_LEN));
	return 0;
}

/* rd_content - the C record: note where the content is and skip it */
static int rd_content(struct rd *rd, const unsigned char *hdr, uint32_t len, long long off)
{
	struct qfile *qf = rd->qf;

	if (rd->seen_content)
		return qfile_err_corrupt(rd->err, off, "second content record");
	if ((uint64_t) len > (uint64_t) (qf->file_size - off - QFILE_REC_HDR))
		return qfile_err_corrupt(rd->err, off, "content record length %u extends past the end of the file",
					 len);
	rd->seen_content = true;
	rd->section = RD_TRAILER;
	rd->env_crc = qfile_crc(rd->env_crc, hdr, QFILE_REC_HDR);
	qf->content_offset = off + QFILE_REC_HDR;
	qf->content_len = len;
	return 0;
}

/* rd_records - every record after the queue state, up to the end record */
static int rd_records(struct rd *rd)
{
	struct qfile *qf = rd->qf;
	long long off = QFILE_FIRST_REC_OFFSET;
	unsigned char hdr[QFILE_REC_HDR];
	const unsigned char *p;
	const char *name;
	uint32_t len;
	int type;

	for (;;) {
		if (off == qf->file_size)
			return qfile_err_corrupt(rd->err, off, "file ends without an end record");
		if (qf->file_size - off < QFILE_REC_HDR)
			return qfile_err_corrupt(rd->err, off, "file ends inside a record header");
		if ((p = rd_get(rd, off, QFILE_REC_HDR)) == NULL)
			return -1;
		memcpy(hdr, p, sizeof(hdr));
		type = hdr[0];
		len = qfile_get32(hdr + 1);
		if (type == QREC_SCHED)
			return qfile_err_corrupt(rd->err, off, "queue state record out of place");
		if ((name = qfile_rec_name(type)) == NULL)
			return qfile_err_corrupt(rd->err, off, type >= 0x21 && type < 0x7f ?
						 "unknown record type '%c'" : "unknown record type 0x%02x", type);
		if (type == QREC_CONTENT) {
			if (rd_content(rd, hdr, len, off) < 0)
				return -1;
			off += QFILE_REC_HDR + (long long) len;
			rd->env_bytes += QFILE_REC_HDR;
			continue;
		}
		if (len > QFILE_RECORD_MAX)
			return qfile_err_corrupt(rd->err, off, "%s record length %u exceeds limit %d",
						 name, len, QFILE_RECORD_MAX);
		if ((uint64_t) len > (uint64_t) (qf->file_size - off - QFILE_REC_HDR))
			return qfile_err_corrupt(rd->err, off, "%s record length %u extends past the end of the file",
						 name, len);
		rd->env_bytes += QFILE_REC_HDR + len;
		if (rd->env_bytes > (uint64_t) QFILE_ENVELOPE_MAX)
			return qfile_err_corrupt(rd->err, off, "envelope larger than %ld bytes",
						 QFILE_ENVELOPE_MAX);
		if ((p = rd_get(rd, off + QFILE_REC_HDR, len)) == NULL)
			return -1;
		if (type != QREC_RCPT)
			rd->env_crc = qfile_crc(rd->env_crc, hdr, QFILE_REC_HDR);
		switch (type) {
		case QREC_RCPT:
			rd->env_crc = qfile_crc(rd->env_crc, hdr, QFILE_REC_HDR);
			if (rd_rcpt(rd, p, len, off) < 0)
				return -1;
			break;
		case QREC_ATTR:
			if (rd_attr(rd, p, len, off) < 0)
				return -1;
			rd->env_crc = qfile_crc(rd->env_crc, p, len);
			break;
		case QREC_END:
			if (rd->section != RD_TRAILER && rd->seen_content)
				msg_panic("rd_records: content seen outside the trailer");
			return rd_end(rd, p, len, off);
		default:
			if (rd_simple(rd, type, p, len, off) < 0)
				return -1;
			rd->env_crc = qfile_crc(rd->env_crc, p, len);
			break;
		}
		off += QFILE_REC_HDR + (long long) len;
	}
}

/* qfile_open - open and validate a queue file */
struct qfile *qfile_open(const char *path, int flags, struct qfile_error *err)
{
	int fd, inj;

	inj = qfile_fault(QFILE_OP_OPEN, NULL);
	fd = inj ? (errno = inj, -1)
	    : open(path, ((flags & QFILE_OPEN_RDWR) ? O_RDWR : O_RDONLY) | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		qfile_err(err, QFILE_ERR_SYSTEM, errno, -1, "open %s: %s", path, strerror(errno));
		return NULL;
	}
	return qfile_open_fd(fd, path, flags, err);
}

/* qfile_open_fd - validate a queue file the caller opened; fd is ours from here */
struct qfile *qfile_open_fd(int fd, const char *path, int flags, struct qfile_error *err)
{
	struct qfile *qf;
	struct stat st;
	struct rd rd;
	int inj;

	if ((inj = qfile_fault(QFILE_OP_FSTAT, NULL)) != 0 || fstat(fd, &st) < 0) {
		int e = inj ? inj : errno;

		qfile_err(err, QFILE_ERR_SYSTEM, e, -1, "fstat %s: %s", path, strerror(e));
		(void) close(fd);
		return NULL;
	}
	if (!S_ISREG(st.st_mode)) {
		qfile_err_corrupt(err, 0, "not a regular file");
		(void) close(fd);
		return NULL;
	}
	if (!(st.st_mode & S_IXUSR) && !(flags & QFILE_OPEN_INCOMPLETE)) {
		qfile_err(err, QFILE_ERR_INCOMPLETE, 0, -1, "not marked complete (mode %04o)",
			  (unsigned) (st.st_mode & 07777));
		(void) close(fd);
		return NULL;
	}
	qf = xcalloc(1, sizeof(*qf));
	qf->path = xstrdup(path);
	qf->fd = fd;
	qf->writable = (flags & QFILE_OPEN_RDWR) != 0;
	qf->complete = (st.st_mode & S_IXUSR) != 0;
	qf->file_size = (long long) st.st_size;
	qf->rd_verify = true;

	memset(&rd, 0, sizeof(rd));
	rd.qf = qf;
	rd.err = err;
	/* a file to keep is read in one go (one pread for envelope and content) */
	rd.win_cap = (flags & QFILE_OPEN_KEEP) && qf->file_size <= QFILE_KEEP_MAX ?
	    (size_t) qf->file_size : QFILE_RBUF;
	rd.win = xmalloc(rd.win_cap > 0 ? rd.win_cap : 1);
	rd.win_off = -1;
	rd.section = RD_ENVELOPE;
	if (rd_header(&rd) < 0 || rd_records(&rd) < 0) {
		free(rd.win);
		qfile_close(qf);
		return NULL;
	}
	/* the first read took the whole file: keep it for the content (QFILE_OPEN_KEEP) */
	if ((flags & QFILE_OPEN_KEEP) && rd.win_off == 0 && (long long) rd.win_len == qf->file_size)
		qf->rd_cache = rd.win;
	else
		free(rd.win);
	qfile_err_clear(err);
	return qf;
}

/* qfile_close - release everything */
void qfile_close(struct qfile *qf)
{
	if (qf == NULL)
		return;
	if (qf->fd >= 0)
		(void) close(qf->fd);
	for (size_t i = 0; i < qf->nrcpts; i++) {
		free(qf->rcpts[i].addr);
		free(qf->rcpts[i].orcpt_type);
		free(qf->rcpts[i].orcpt);
	}
	free(qf->rcpts);
	for (size_t i = 0; i < qf->nattrs; i++) {
		free(qf->attrs[i].name);
		free(qf->attrs[i].value);
	}
	free(qf->attrs);
	free(qf->sender);
	free(qf->envid);
	free(qf->path);
	free(qf->rd_cache);
	free(qf);
}

/* qfile_attr - look up a named attribute */
const char *qfile_attr(const struct qfile *qf, const char *name, size_t *len)
{
	for (size_t i = 0; i < qf->nattrs; i++) {
		if (strcmp(qf->attrs[i].name, name) == 0) {
			if (len)
				*len = qf->attrs[i].len;
			return (const char *) qf->attrs[i].value;
		}
	}
	return NULL;
}

/* qfile_rcpt_find - recipient by slot offset */
long qfile_rcpt_find(const struct qfile *qf, long long slot_offset)
{
	for (size_t i = 0; i < qf->nrcpts; i++)
		if (qf->rcpts[i].slot_offset == slot_offset)
			return (long) i;
	return -1;
}

/* qfile_rcpt_reread - read recipient index's status slot from the file again */
int qfile_rcpt_reread(struct qfile *qf, size_t index, struct qfile_error *err)
{
	unsigned char slot[QFILE_RSLOT_SIZE];
	struct qfile_rcpt *r;

	if (index >= qf->nrcpts)
		return qfile_err(err, QFILE_ERR_USAGE, EINVAL, -1, "%s: no recipient %zu", qf->path, index);
	r = &qf->rcpts[index];
	if (rd_pread(qf, slot, sizeof(slot), r->slot_offset, err) < 0)
		return -1;
	r->slot_ok = qfile_rslot_decode(slot, &r->status) == 0;
	if (!r->slot_ok)
		r->status = (struct qfile_rstatus) {QFILE_PENDING, 0, 0, 0, 0, 0, 0};
	qfile_err_clear(err);
	return 0;
}

/* rd_content_at - content bytes [pos, pos+len), from the kept file (QFILE_OPEN_KEEP) or the disk */
static int rd_content_at(struct qfile *qf, void *buf, size_t len, uint64_t pos, struct qfile_error *err)
{
	if (pos > qf->content_len || len > qf->content_len - pos)
		msg_panic("rd_content_at: %zu bytes at %llu past the content's %llu", len,
			  (unsigned long long) pos, (unsigned long long) qf->content_len);
	if (qf->rd_cache != NULL) {
		/* rd_content checked that the content lies inside the file, all of which is kept */
		memcpy(buf, qf->rd_cache + qf->content_offset + (long long) pos, len);
		return 0;
	}
	return rd_pread(qf, buf, len, qf->content_offset + (long long) pos, err);
}

/* qfile_content_read - stream the content */
ssize_t qfile_content_read(struct qfile *qf, void *buf, size_t size, struct qfile_error *err)
{
	uint64_t left = qf->content_len - qf->rd_pos;
	size_t n = size;

	if (left == 0 || size == 0)
		return 0;
	if (n > left)
		n = (size_t) left;
	if (n > SSIZE_MAX)
		n = SSIZE_MAX;
	if (rd_content_at(qf, buf, n, qf->rd_pos, err) < 0)
		return -1;
	qf->rd_pos += n;
	if (qf->rd_verify) {
		qf->rd_crc = qfile_crc(qf->rd_crc, buf, n);
		if (qf->rd_pos == qf->content_len && qf->rd_crc != qf->content_crc) {
			qf->rd_verify = false;
			return qfile_err_corrupt(err, qf->content_offset,
						 "content checksum mismatch (stored %08x, computed %08x)",
						 qf->content_crc, qf->rd_crc);
		}
	}
	return (ssize_t) n;
}

/* qfile_content_seek - move the content stream */
int qfile_content_seek(struct qfile *qf, uint64_t pos, struct qfile_error *err)
{
	if (pos > qf->content_len)
		return qfile_err(err, QFILE_ERR_USAGE, EINVAL, -1, "seek past the end of the content");
	qf->rd_pos = pos;
	qf->rd_crc = 0;
	qf->rd_verify = pos == 0;
	return 0;
}

/* qfile_header_end - where the header lines end */
int qfile_header_end(struct qfile *qf, uint64_t *end, struct qfile_error *err)
{
	unsigned char two[2];
	uint64_t b = qf->body_offset;

	*end = b;
	if (b == 0)
		return 0;
	if (b == 1) {
		if (rd_content_at(qf, two, 1, 0, err) < 0)
			return -1;
		if (two[0] == '\n')
			*end = 0;
		return 0;
	}
	if (rd_content_at(qf, two, 2, b - 2, err) < 0)
		return -1;
	if (two[0] == '\n' && two[1] == '\n')
		*end = b - 1;
	return 0;
}

/* qfile_verify - check everything the end record says about the content */
int qfile_verify(struct qfile *qf, struct qfile_error *err)
{
	unsigned char *buf = xmalloc(QFILE_RBUF);
	struct qfile_scan scan;
	ssize_t got;
	int ret = -1;

	qfile_scan_init(&scan);
	(void) qfile_content_seek(qf, 0, err);
	while ((got = qfile_content_read(qf, buf, QFILE_RBUF, err)) > 0) {
		if (qfile_scan_feed(&scan, buf, (size_t) got) < 0) {
			qfile_err_corrupt(err, qf->content_offset + (long long) scan.line_at,
					  "header line longer than %d bytes", QFILE_HEADER_LINE_MAX);
			goto out;
		}
	}
	if (got < 0)
		goto out;
	qfile_scan_end(&scan);
	if (scan.lf_count != qf->lf_count) {
		qfile_err_corrupt(err, qf->content_offset, "content has %llu lines, end record says %llu",
				  (unsigned long long) scan.lf_count, (unsigned long long) qf->lf_count);
		goto out;
	}
	if (scan.body_offset != qf->body_offset) {
		qfile_err_corrupt(err, qf->content_offset, "body starts at %llu, end record says %llu",
				  (unsigned long long) scan.body_offset,
				  (unsigned long long) qf->body_offset);
		goto out;
	}
	qfile_err_clear(err);
	ret = 0;
out:
	free(buf);
	(void) qfile_content_seek(qf, 0, NULL);
	return ret;
}
