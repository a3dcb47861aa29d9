/*
 * qfile_int - what qfile.c, qfile_write.c, qfile_read.c and
 * qfile_update.c share and nobody else may use: byte order, record
 * layout, slot coding, field checks, error text, the fault seam.
 *
 * Record layout (tern-queue(5) is the reference):
 *	type (1 byte) | payload length (4 bytes, big-endian) | payload
 */
#ifndef TERN_MAIL_QFILE_INT_H
#define TERN_MAIL_QFILE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/qfile.h"

#define QFILE_REC_HDR		5	/* type + length */

/* record types */
#define QREC_SCHED	'Q'	/* 32-byte queue state slot; first record */
#define QREC_TIME	'T'	/* arrival: u64 seconds, u32 microseconds */
#define QREC_QID	'I'	/* queue id */
#define QREC_SENDER	'S'	/* envelope sender, may be empty */
#define QREC_FLAGS	'F'	/* u32 flags, u8 body */
#define QREC_DSN	'D'	/* u8 ret, envid */
#define QREC_RCPT	'R'	/* recipient with its status slot */
#define QREC_ATTR	'A'	/* u8 name length, name, value */
#define QREC_CONTENT	'C'	/* the message */
#define QREC_END	'E'	/* end: sizes and checksums */

#define QREC_TIME_LEN	12
#define QREC_FLAGS_LEN	5
#define QREC_END_LEN	20	/* u32 body offset, lf count, rcpts, content crc, env crc */

/* offsets inside the file header */
#define QFILE_SCHED_REC_OFFSET	QFILE_MAGIC_LEN		/* 27: Q record header */
#define QFILE_FIRST_REC_OFFSET	(QFILE_SCHED_OFFSET + QFILE_SCHED_SIZE)	/* 64 */

/* a slot never crosses a boundary of this many bytes (a disk sector) */
#define QFILE_SECTOR		512

/* big-endian encoding */
void qfile_put16(unsigned char *p, uint32_t v);
void qfile_put32(unsigned char *p, uint32_t v);
void qfile_put64(unsigned char *p, uint64_t v);
uint32_t qfile_get16(const unsigned char *p);
uint32_t qfile_get32(const unsigned char *p);
uint64_t qfile_get64(const unsigned char *p);

/* qfile_crc - CRC-32 (zlib) of len bytes continuing from crc */
uint32_t qfile_crc(uint32_t crc, const void *data, size_t len);
/* qfile_crc_zeros - CRC-32 continuing over len zero bytes */
uint32_t qfile_crc_zeros(uint32_t crc, size_t len);

/* slots: encode returns -1 when a value is out of range; decode -1 when damaged */
int qfile_rslot_encode(const struct qfile_rstatus *st, unsigned char out[QFILE_RSLOT_SIZE]);
int qfile_rslot_decode(const unsigned char in[QFILE_RSLOT_SIZE], struct qfile_rstatus *st);
int qfile_sched_encode(const struct qfile_sched *s, unsigned char out[QFILE_SCHED_SIZE]);
int qfile_sched_decode(const unsigned char in[QFILE_SCHED_SIZE], struct qfile_sched *s);

/* qfile_rslot_pad - zero bytes before a slot whose record starts at off */
size_t qfile_rslot_pad(uint64_t rec_off);

/*
 * Field checks, shared by writer and reader. Each returns NULL when the
 * field is fine, or a short reason ("contains a control character").
 */
const char *qfile_check_addr(const unsigned char *p, size_t len, bool empty_ok);
const char *qfile_check_xtext(const unsigned char *p, size_t len, size_t max);
const char *qfile_check_orcpt(const unsigned char *p, size_t len);
const char *qfile_check_orcpt_type(const unsigned char *p, size_t len);
const char *qfile_check_attr_name(const unsigned char *p, size_t len);
const char *qfile_check_attr_value(const char *name, const unsigned char *p, size_t len);
const char *qfile_check_notify(unsigned notify);

/*
 * Content scanner, shared by the writer (to fill the end record) and by
 * qfile_verify (to check it): counts LF bytes, finds the body (after the
 * first empty line) and watches header line lengths.
 */
struct qfile_scan {
	uint64_t pos;			/* content bytes seen */
	uint64_t lf_count;
	uint64_t body_offset;		/* valid once in_header is false */
	uint64_t line_at;		/* where the current header line starts */
	size_t line_len;
	bool in_header;
	bool line_start;
};

void qfile_scan_init(struct qfile_scan *s);
/* qfile_scan_feed - -1 when a header line passes QFILE_HEADER_LINE_MAX (see line_at) */
int qfile_scan_feed(struct qfile_scan *s, const unsigned char *p, size_t len);
/* qfile_scan_end - no empty line: the whole content is header, the body empty */
void qfile_scan_end(struct qfile_scan *s);

/* qfile_rec_name - "recipient" for 'R', ...; NULL for unknown types */
const char *qfile_rec_name(int type);

/* error helpers: fill err (may be NULL) and return -1 */
int qfile_err(struct qfile_error *err, enum qfile_errkind kind, int errnum,
	      long long offset, const char *fmt, ...) __attribute__((format(printf, 5, 6)));
int qfile_err_corrupt(struct qfile_error *err, long long offset, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void qfile_err_clear(struct qfile_error *err);

/* qfile_fault - consult the test hook; an errno to inject, or 0 */
int qfile_fault(enum qfile_op op, size_t *len);

/* qfile_pwrite_all - pwrite with retries on short writes; 0 or -1 with errno */
int qfile_pwrite_all(int fd, const void *buf, size_t len, long long off);

/*
 * qfile_pool_claim (qfile_pool.c) - move a pool file to dir/tmp, mode
 * 0600 and empty, st filled: its fd, or -1 when there is none to take
 */
struct stat;
int qfile_pool_claim(struct qfile_pool *pool, struct qfile_dir *dir, const char *tmp,
		     struct stat *st);

#endif
