/*
 * qfile - shared parts of the queue file library: byte order, the two
 * kinds of in-place slot, field checks used by both the writer and the
 * reader (so neither can accept what the other would refuse), error
 * text, directories, names for listings and the fault-injection seam.
 *
 * Nothing here does I/O except the directory functions and
 * qfile_pwrite_all; those report errno through struct qfile_error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "base/mem.h"
#include "base/str.h"
#include "mail/qfile.h"
#include "mail/qfile_int.h"

int (*qfile_fault_hook)(enum qfile_op op, size_t *len);

/* qfile_put16 - store 16 bits big-endian */
void qfile_put16(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char) (v >> 8);
	p[1] = (unsigned char) v;
}

/* qfile_put32 - store 32 bits big-endian */
void qfile_put32(unsigned char *p, uint32_t v)
{
	for (int i = 3; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char) v;
}

/* qfile_put64 - store 64 bits big-endian */
void qfile_put64(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char) v;
}

/* qfile_get16 - load 16 bits big-endian */
uint32_t qfile_get16(const unsigned char *p)
{
	return (uint32_t) p[0] << 8 | p[1];
}

/* qfile_get32 - load 32 bits big-endian */
uint32_t qfile_get32(const unsigned char *p)
{
	return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

/* qfile_get64 - load 64 bits big-endian */
uint64_t qfile_get64(const unsigned char *p)
{
	return (uint64_t) qfile_get32(p) << 32 | qfile_get32(p + 4);
}

/* qfile_crc - CRC-32, in pieces small enough for zlib's uInt */
uint32_t qfile_crc(uint32_t crc, const void *data, size_t len)
{
	const unsigned char *p = data;

	while (len > 0) {
		uInt n = len > (1u << 30) ? (1u << 30) : (uInt) len;

		crc = (uint32_t) crc32(crc, p, n);
		p += n;
		len -= n;
	}
	return crc;
}

/* qfile_crc_zeros - CRC-32 over zero bytes (slots count as zeros) */
uint32_t qfile_crc_zeros(uint32_t crc, size_t len)
{
	static const unsigned char zeros[64];

	while (len > 0) {
		size_t n = len > sizeof(zeros) ? sizeof(zeros) : len;

		crc = qfile_crc(crc, zeros, n);
		len -= n;
	}
	return crc;
}

/*
 * Recipient slot, 24 bytes:
 *	0 state, 1 flags, 2-3 attempts, 4 dsn class, 5 zero,
 *	6-7 dsn subject, 8-9 dsn detail, 10-11 zero, 12-19 time,
 *	20-23 CRC-32 of bytes 0-19
 */

/* qfile_rslot_valid - range checks shared by encode and decode */
static bool qfile_rslot_valid(const struct qfile_rstatus *st)
{
	switch (st->state) {
	case QFILE_PENDING:
	case QFILE_DEFERRED:
	case QFILE_DELIVERED:
	case QFILE_BOUNCED:
		break;
	default:
		return false;
	}
	if ((st->flags & ~(unsigned) QFILE_RS_ALL) != 0 || st->attempts > 65535)
		return false;
	if (st->dsn_class == 0) {
		if (st->dsn_subject != 0 || st->dsn_detail != 0)
			return false;
	} else if (st->dsn_class != 2 && st->dsn_class != 4 && st->dsn_class != 5) {
		return false;
	}
	if (st->dsn_subject > 999 || st->dsn_detail > 999)
		return false;
	return st->time >= 0 && st->time <= QFILE_TIME_MAX;
}

/* qfile_rslot_encode - status to slot bytes */
int qfile_rslot_encode(const struct qfile_rstatus *st, unsigned char out[QFILE_RSLOT_SIZE])
{
	if (!qfile_rslot_valid(st))
		return -1;
	memset(out, 0, QFILE_RSLOT_SIZE);
	out[0] = (unsigned char) st->state;
	out[1] = (unsigned char) st->flags;
	qfile_put16(out + 2, st->attempts);
	out[4] = (unsigned char) st->dsn_class;
	qfile_put16(out + 6, st->dsn_subject);
	qfile_put16(out + 8, st->dsn_detail);
	qfile_put64(out + 12, (uint64_t) st->time);
	qfile_put32(out + 20, qfile_crc(0, out, 20));
	return 0;
}

/* qfile_rslot_decode - slot bytes to status; -1 (st untouched) if damaged */
int qfile_rslot_decode(const unsigned char in[QFILE_RSLOT_SIZE], struct qfile_rstatus *st)
{
	struct qfile_rstatus s;
	uint64_t t;

	if (qfile_get32(in + 20) != qfile_crc(0, in, 20) || in[5] != 0 || in[10] != 0 || in[11] != 0)
		return -1;
	s.state = (enum qfile_rstate) in[0];
	s.flags = in[1];
	s.attempts = qfile_get16(in + 2);
	s.dsn_class = in[4];
	s.dsn_subject = qfile_get16(in + 6);
	s.dsn_detail = qfile_get16(in + 8);
	t = qfile_get64(in + 12);
	if (t > (uint64_t) QFILE_TIME_MAX)
		return -1;
	s.time = (long long) t;
	if (!qfile_rslot_valid(&s))
		return -1;
	*st = s;
	return 0;
}

/*
 * Queue state slot, 32 bytes:
 *	0-3 attempts, 4-7 flags, 8-15 next attempt, 16-23 last attempt,
 *	24-27 zero, 28-31 CRC-32 of bytes 0-27
 */

/* qfile_sched_encode - queue state to slot bytes */
int qfile_sched_encode(const struct qfile_sched *s, unsigned char out[QFILE_SCHED_SIZE])
{
	if ((s->flags & ~(unsigned) QFILE_SCHED_ALL) != 0 || s->attempts > UINT32_MAX
	    || s->next_attempt < 0 || s->next_attempt > QFILE_TIME_MAX
	    || s->last_attempt < 0 || s->last_attempt > QFILE_TIME_MAX)
		return -1;
	memset(out, 0, QFILE_SCHED_SIZE);
	qfile_put32(out, s->attempts);
	qfile_put32(out + 4, s->flags);
	qfile_put64(out + 8, (uint64_t) s->next_attempt);
	qfile_put64(out + 16, (uint64_t) s->last_attempt);
	qfile_put32(out + 28, qfile_crc(0, out, 28));
	return 0;
}

/* qfile_sched_decode - slot bytes to queue state; -1 (s untouched) if damaged */
int qfile_sched_decode(const unsigned char in[QFILE_SCHED_SIZE], struct qfile_sched *s)
{
	uint32_t flags = qfile_get32(in + 4);
	uint64_t next = qfile_get64(in + 8), last = qfile_get64(in + 16);

	if (qfile_get32(in + 28) != qfile_crc(0, in, 28) || qfile_get32(in + 24) != 0
	    || (flags & ~(uint32_t) QFILE_SCHED_ALL) != 0
	    || next > (uint64_t) QFILE_TIME_MAX || last > (uint64_t) QFILE_TIME_MAX)
		return -1;
	s->attempts = qfile_get32(in);
	s->flags = flags;
	s->next_attempt = (long long) next;
	s->last_attempt = (long long) last;
	return 0;
}

/* qfile_rslot_pad - padding that keeps a slot inside one sector */
size_t qfile_rslot_pad(uint64_t rec_off)
{
	uint64_t in_sector = (rec_off + QFILE_REC_HDR + 1) % QFILE_SECTOR;

	if (in_sector + QFILE_RSLOT_SIZE <= QFILE_SECTOR)
		return 0;
	return (size_t) (QFILE_SECTOR - in_sector);
}

/* qfile_check_addr - an address: bounded, no control characters */
const char *qfile_check_addr(const unsigned char *p, size_t len, bool empty_ok)
{
	if (len == 0 && !empty_ok)
		return "is empty";
	if (len > QFILE_ADDR_MAX)
		return "is too long";
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return "contains a control character";
	return NULL;
}

/* qfile_is_uhex - upper-case hex digit, as xtext wants */
static bool qfile_is_uhex(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* qfile_check_xtext - RFC 3461 xtext: "!".."~" but "+" and "=", or "+" HEX HEX */
const char *qfile_check_xtext(const unsigned char *p, size_t len, size_t max)
{
	if (len > max)
		return "is too long";
	for (size_t i = 0; i < len; i++) {
		if (p[i] == '+') {
			if (len - i < 3 || !qfile_is_uhex(p[i + 1]) || !qfile_is_uhex(p[i + 2]))
				return "has a bad xtext escape";
			i += 2;
		} else if (p[i] < '!' || p[i] > '~' || p[i] == '=') {
			return "is not valid xtext";
		}
	}
	return NULL;
}

/*
 * qfile_check_orcpt - an ORCPT address as received: xtext for rfc822,
 * RFC 6533 xtext or unitext (raw UTF-8) for utf-8; the queue file keeps
 * it unchanged, so it only has to be one word: no controls, no spaces
 */
const char *qfile_check_orcpt(const unsigned char *p, size_t len)
{
	if (len == 0)
		return "is empty";
	if (len > QFILE_ORCPT_MAX)
		return "is too long";
	for (size_t i = 0; i < len; i++)
		if (p[i] <= 0x20 || p[i] == 0x7f)
			return "contains a space or a control character";
	return NULL;
}

/* qfile_check_orcpt_type - an addr-type atom such as rfc822 or utf-8 */
const char *qfile_check_orcpt_type(const unsigned char *p, size_t len)
{
	if (len == 0 || len > QFILE_ORCPT_TYPE_MAX)
		return "has a bad length";
	for (size_t i = 0; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= 'A' && p[i] <= 'Z')
		      || (p[i] >= '0' && p[i] <= '9') || p[i] == '-'))
			return "is not an address type";
	return NULL;
}

/* qfile_check_attr_name - [a-z][a-z0-9_.-]*, at most QFILE_ATTR_NAME_MAX */
const char *qfile_check_attr_name(const unsigned char *p, size_t len)
{
	if (len == 0 || len > QFILE_ATTR_NAME_MAX)
		return "has a bad length";
	if (p[0] < 'a' || p[0] > 'z')
		return "does not start with a letter";
	for (size_t i = 1; i < len; i++)
		if (!((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9')
		      || p[i] == '_' || p[i] == '.' || p[i] == '-'))
			return "has a bad character";
	return NULL;
}

static const char *const qfile_wellknown[] = {
	QFILE_A_CLIENT_NAME, QFILE_A_CLIENT_ADDRESS, QFILE_A_CLIENT_PORT, QFILE_A_HELO_NAME,
	QFILE_A_PROTOCOL, QFILE_A_TLS_PROTOCOL, QFILE_A_TLS_CIPHER, QFILE_A_SASL_METHOD,
	QFILE_A_SASL_USERNAME,
};

/* qfile_attr_wellknown - one of the QFILE_A_* names */
bool qfile_attr_wellknown(const char *name)
{
	for (size_t i = 0; i < sizeof(qfile_wellknown) / sizeof(qfile_wellknown[0]); i++)
		if (strcmp(name, qfile_wellknown[i]) == 0)
			return true;
	return false;
}

/* qfile_check_attr_value - bounded; well-known ones are short text */
const char *qfile_check_attr_value(const char *name, const unsigned char *p, size_t len)
{
	if (len > QFILE_ATTR_VALUE_MAX)
		return "is too long";
	if (!qfile_attr_wellknown(name))
		return NULL;
	if (len > QFILE_WELLKNOWN_MAX)
		return "is too long";
	for (size_t i = 0; i < len; i++)
		if (p[i] < 0x20 || p[i] == 0x7f)
			return "contains a control character";
	if (strcmp(name, QFILE_A_CLIENT_PORT) == 0) {
		unsigned long port = 0;

		if (len == 0 || len > 5)
			return "is not a port number";
		for (size_t i = 0; i < len; i++) {
			if (p[i] < '0' || p[i] > '9')
				return "is not a port number";
			port = port * 10 + (unsigned long) (p[i] - '0');
		}
		if (port > 65535)
			return "is not a port number";
	}
	return NULL;
}

/* qfile_check_notify - NEVER alone, or any of SUCCESS, FAILURE, DELAY */
const char *qfile_check_notify(unsigned notify)
{
	if (notify == 0 || notify == QFILE_NOTIFY_NEVER)
		return NULL;
	if (notify & ~(unsigned) (QFILE_NOTIFY_SUCCESS | QFILE_NOTIFY_FAILURE | QFILE_NOTIFY_DELAY))
		return "has bad NOTIFY bits";
	return NULL;
}

/* qfile_scan_init - start of the content */
void qfile_scan_init(struct qfile_scan *s)
{
	memset(s, 0, sizeof(*s));
	s->in_header = true;
	s->line_start = true;
}

/* qfile_scan_feed - look at the next piece of content */
int qfile_scan_feed(struct qfile_scan *s, const unsigned char *p, size_t len)
{
	const unsigned char *start = p, *end = p + len, *nl;

	while (s->in_header && p < end) {
		nl = memchr(p, '\n', (size_t) (end - p));
		if (nl == p && s->line_start) {
			/* an empty line: the body starts after it */
			s->lf_count++;
			s->in_header = false;
			s->body_offset = s->pos + (uint64_t) (nl - start) + 1;
			p = nl + 1;
			break;
		}
		if (s->line_start)
			s->line_at = s->pos + (uint64_t) (p - start);
		s->line_len += (size_t) ((nl ? nl : end) - p);
		if (s->line_len > QFILE_HEADER_LINE_MAX)
			return -1;
		if (nl) {
			s->lf_count++;
			s->line_len = 0;
			s->line_start = true;
			p = nl + 1;
		} else {
			s->line_start = false;
			p = end;
		}
	}
	while (p < end && (nl = memchr(p, '\n', (size_t) (end - p))) != NULL) {
		s->lf_count++;
		p = nl + 1;
	}
	s->pos += len;
	return 0;
}

/* qfile_scan_end - the content is over */
void qfile_scan_end(struct qfile_scan *s)
{
	if (s->in_header)
		s->body_offset = s->pos;
}

/* qfile_rec_name - record type for messages */
const char *qfile_rec_name(int type)
{
	switch (type) {
	case QREC_SCHED:
		return "queue state";
	case QREC_TIME:
		return "arrival time";
	case QREC_QID:
		return "queue id";
	case QREC_SENDER:
		return "sender";
	case QREC_FLAGS:
		return "flags";
	case QREC_DSN:
		return "DSN";
	case QREC_RCPT:
		return "recipient";
	case QREC_ATTR:
		return "attribute";
	case QREC_CONTENT:
		return "content";
	case QREC_END:
		return "end";
	default:
		return NULL;
	}
}

/* qfile_verr - fill an error from a format */
static int qfile_verr(struct qfile_error *err, enum qfile_errkind kind, int errnum,
		      long long offset, const char *fmt, va_list ap)
{
	char text[sizeof(err->text)];

	if (err == NULL)
		return -1;
	vsnprintf(text, sizeof(text), fmt, ap);
	err->kind = kind;
	err->errnum = errnum;
	err->offset = offset;
	if (kind == QFILE_ERR_CORRUPT)
		(void) str_fmt(err->text, sizeof(err->text), "offset %lld: %s", offset, text);
	else
		(void) str_copy(err->text, text, sizeof(err->text));
	return -1;
}

/* qfile_err - fill err, return -1 */
int qfile_err(struct qfile_error *err, enum qfile_errkind kind, int errnum,
	      long long offset, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	qfile_verr(err, kind, errnum, offset, fmt, ap);
	va_end(ap);
	return -1;
}

/* qfile_err_corrupt - "offset N: reason", return -1 */
int qfile_err_corrupt(struct qfile_error *err, long long offset, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	qfile_verr(err, QFILE_ERR_CORRUPT, 0, offset, fmt, ap);
	va_end(ap);
	return -1;
}

/* qfile_err_clear - no error */
void qfile_err_clear(struct qfile_error *err)
{
	if (err == NULL)
		return;
	err->kind = QFILE_ERR_NONE;
	err->errnum = 0;
	err->offset = -1;
	err->text[0] = '\0';
}

/* qfile_fault - the test hook, if any */
int qfile_fault(enum qfile_op op, size_t *len)
{
	size_t dummy = 0;

	if (qfile_fault_hook == NULL)
		return 0;
	return qfile_fault_hook(op, len ? len : &dummy);
}

/* qfile_pwrite_all - write all of buf at off, retrying short writes */
int qfile_pwrite_all(int fd, const void *buf, size_t len, long long off)
{
	const char *p = buf;

	while (len > 0) {
		size_t n = len;
		int inj = qfile_fault(QFILE_OP_PWRITE, &n);
		ssize_t got;

		if (inj) {
			errno = inj;
			return -1;
		}
		if (n == 0 || n > len)
			n = len;
		got = pwrite(fd, p, n, (off_t) off);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (got == 0) {
			errno = EIO;
			return -1;
		}
		p += got;
		off += got;
		len -= (size_t) got;
	}
	return 0;
}

/* qfile_dir_open - open a directory for creating and syncing queue files */
int qfile_dir_open(struct qfile_dir *dir, const char *path, struct qfile_error *err)
{
	int inj = qfile_fault(QFILE_OP_OPEN, NULL);

	dir->path = NULL;
	dir->pool = NULL;
	dir->fd = inj ? (errno = inj, -1) : open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir->fd < 0)
		return qfile_err(err, QFILE_ERR_SYSTEM, errno, -1, "open directory %s: %s",
				 path, strerror(errno));
	dir->path = xstrdup(path);
	qfile_err_clear(err);
	return 0;
}

/* qfile_dir_sync - fsync the directory (makes new names durable) */
int qfile_dir_sync(struct qfile_dir *dir, struct qfile_error *err)
{
	int inj = qfile_fault(QFILE_OP_DIRSYNC, NULL);

	if (inj || fsync(dir->fd) < 0) {
		int e = inj ? inj : errno;

		return qfile_err(err, QFILE_ERR_SYSTEM, e, -1, "fsync directory %s: %s",
				 dir->path, strerror(e));
	}
	qfile_err_clear(err);
	return 0;
}

/* qfile_dir_close - close and forget */
void qfile_dir_close(struct qfile_dir *dir)
{
	if (dir->fd >= 0)
		(void) close(dir->fd);
	dir->fd = -1;
	free(dir->path);
	dir->path = NULL;
	dir->pool = NULL;		/* not ours: qfile_pool_close */
}

/* qfile_rstate_name - state for listings */
const char *qfile_rstate_name(enum qfile_rstate state)
{
	switch (state) {
	case QFILE_PENDING:
		return "pending";
	case QFILE_DEFERRED:
		return "deferred";
	case QFILE_DELIVERED:
		return "delivered";
	case QFILE_BOUNCED:
		return "bounced";
	default:
		return "unknown";
	}
}

/* qfile_body_name - BODY= value */
const char *qfile_body_name(enum qfile_body body)
{
	switch (body) {
	case QFILE_BODY_7BIT:
		return "7BIT";
	case QFILE_BODY_8BITMIME:
		return "8BITMIME";
	case QFILE_BODY_BINARYMIME:
		return "BINARYMIME";
	default:
		return "none";
	}
}

/* qfile_ret_name - RET= value */
const char *qfile_ret_name(enum qfile_ret ret)
{
	switch (ret) {
	case QFILE_RET_FULL:
		return "FULL";
	case QFILE_RET_HDRS:
		return "HDRS";
	default:
		return "none";
	}
}

/* qfile_notify_format - NOTIFY bits as RFC 3461 keywords */
void qfile_notify_format(unsigned notify, char *buf, size_t size)
{
	static const struct {
		unsigned bit;
		const char *name;
	} names[] = {
		{QFILE_NOTIFY_NEVER, "NEVER"}, {QFILE_NOTIFY_SUCCESS, "SUCCESS"},
		{QFILE_NOTIFY_FAILURE, "FAILURE"}, {QFILE_NOTIFY_DELAY, "DELAY"},
	};
	char tmp[64];		/* "NEVER,SUCCESS,FAILURE,DELAY" at most */
	size_t n = 0;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (notify & names[i].bit) {
			size_t len = strlen(names[i].name);

			if (n > 0)
				tmp[n++] = ',';
			memcpy(tmp + n, names[i].name, len);
			n += len;
		}
	}
	tmp[n] = '\0';
	(void) str_copy(buf, tmp, size);
}
