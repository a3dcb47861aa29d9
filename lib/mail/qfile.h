/*
 * qfile - the queue file: the one on-disk format every tern daemon shares.
 *
 * cleanup writes a queue file through the writer below; qmgr and the
 * delivery agents read it and record each recipient's fate in place;
 * ternqueue, ternsuper and terncat list, repair and show it. The format
 * itself is documented for tool writers in tern-queue(5); in short:
 *
 *	"tern queue file, version 1\n"		27 bytes
 *	Q  queue state: attempts, next/last attempt (fixed, updated in place)
 *	T I S F D R A ...			envelope records
 *	C  the message content (LF line ends), one record
 *	R A ...					recipients and attributes found later
 *	E  end: body offset, line count, recipient count, checksums
 *
 * Every record is a type byte and a 4-byte big-endian payload length,
 * then the payload. Envelope records are at most QFILE_RECORD_MAX bytes.
 * The E record carries a CRC-32 of the envelope (everything but the
 * content and the in-place slots) and one of the content.
 *
 * The completeness rule: a queue file may be scheduled only when its mode
 * has the owner-execute bit AND it parses with a valid end record and a
 * matching envelope checksum. The writer sets the bit after writing the
 * end record and fsyncs after that, so a power cut at any instant leaves
 * either a file that fails this rule or a whole message.
 *
 * Durability rule (DESIGN.md section 3): a message is accepted only after
 * (1) qfile_commit returned 0 and (2) an fsync of the directory that began
 * after qfile_create returned has completed (qfile_dir_sync). cleanup may
 * run (2) once for several messages (group commit); if (2) fails, every
 * message of the group is abandoned with qfile_writer_abort.
 *
 * Failures: the writer never leaves a partial file. Any failure (ENOSPC,
 * EDQUOT, EIO, a short write followed by an error, a limit) removes the
 * file at once and is reported in a struct qfile_error (kind, errno, text
 * naming the step and the file); later calls on that writer fail at once.
 * The reader reports the byte offset and reason of the first problem and
 * never trusts a length it has not checked against the file size and the
 * limits below. Memory is never the failure: allocation aborts (mem.h).
 */
#ifndef TERN_MAIL_QFILE_H
#define TERN_MAIL_QFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>
#include <sys/types.h>

#include "mail/qid.h"

/* the first bytes of every queue file */
#define QFILE_MAGIC		"tern queue file, version 1\n"
#define QFILE_MAGIC_LEN		27
#define QFILE_VERSION		1

/* hard limits; the writer refuses and the reader rejects anything larger */
#define QFILE_RECORD_MAX	4096		/* payload of any envelope record */
#define QFILE_ADDR_MAX		2048		/* sender or recipient address */
#define QFILE_ORCPT_TYPE_MAX	32		/* ORCPT address type: "rfc822", "utf-8" */
#define QFILE_ORCPT_MAX		500		/* ORCPT address as received (RFC 3461 4.2) */
#define QFILE_ENVID_MAX		100		/* ENVID, xtext (RFC 3461 4.4) */
#define QFILE_ATTR_NAME_MAX	64
#define QFILE_ATTR_VALUE_MAX	4000
#define QFILE_WELLKNOWN_MAX	255		/* value of a well-known attribute */
#define QFILE_ATTR_COUNT_MAX	256
#define QFILE_RCPT_MAX		100000
#define QFILE_ENVELOPE_MAX	(16L * 1024 * 1024)	/* all records but the content */
#define QFILE_CONTENT_MAX	0xffffffffULL	/* content bytes */
#define QFILE_HEADER_LINE_MAX	65536		/* one physical header line, without LF */
#define QFILE_TIME_MAX		253402300799LL	/* 9999-12-31 23:59:59 UTC */

/* file modes: the owner-execute bit says "complete" */
#define QFILE_MODE_INCOMPLETE	0600
#define QFILE_MODE_COMPLETE	0700

/* message flags (F record) */
#define QFILE_F_SMTPUTF8	0x01	/* MAIL FROM ... SMTPUTF8 */
#define QFILE_F_REQUIRETLS	0x02	/* MAIL FROM ... REQUIRETLS (RFC 8689) */
#define QFILE_F_ALL		0x03

/* BODY= as given (F record) */
enum qfile_body {
	QFILE_BODY_NONE = 0,		/* not declared */
	QFILE_BODY_7BIT = 1,
	QFILE_BODY_8BITMIME = 2,
	QFILE_BODY_BINARYMIME = 3,
};

/* RET= (D record) */
enum qfile_ret { QFILE_RET_NONE = 0, QFILE_RET_FULL = 1, QFILE_RET_HDRS = 2 };

/* NOTIFY= bits (R record); 0 means NOTIFY was not given */
#define QFILE_NOTIFY_NEVER	0x01
#define QFILE_NOTIFY_SUCCESS	0x02
#define QFILE_NOTIFY_FAILURE	0x04
#define QFILE_NOTIFY_DELAY	0x08

/*
 * Well-known named attributes (A records), each at most
 * QFILE_WELLKNOWN_MAX bytes without control characters; client_port is a
 * decimal number 0-65535. Any other name is free-form (binary values).
 */
#define QFILE_A_CLIENT_NAME	"client_name"
#define QFILE_A_CLIENT_ADDRESS	"client_address"
#define QFILE_A_CLIENT_PORT	"client_port"
#define QFILE_A_HELO_NAME	"helo_name"
#define QFILE_A_PROTOCOL	"protocol"	/* ESMTP, ESMTPS, ESMTPSA, UTF8SMTPS... */
#define QFILE_A_TLS_PROTOCOL	"tls_protocol"	/* TLSv1.3 */
#define QFILE_A_TLS_CIPHER	"tls_cipher"
#define QFILE_A_SASL_METHOD	"sasl_method"
#define QFILE_A_SASL_USERNAME	"sasl_username"

/*
 * A recipient's status slot: 24 bytes inside its R record, rewritten in
 * place (pwrite) as delivery goes on. It never crosses a 512-byte
 * boundary of the file, so a power cut writes all or none of it, and it
 * carries its own CRC-32, so a damaged slot is noticed (slot_ok false,
 * read as pending: delivering twice beats losing mail).
 */
enum qfile_rstate {
	QFILE_PENDING = 'P',		/* not tried yet, or due again */
	QFILE_DEFERRED = 'T',		/* temporary failure; time = not before */
	QFILE_DELIVERED = 'D',		/* done; time = when */
	QFILE_BOUNCED = 'B',		/* failed for good; time = when */
};

#define QFILE_RS_NOTIFIED	0x01	/* the DSN for this final state is queued */
#define QFILE_RS_DELAY_WARNED	0x02	/* a delay DSN was sent */
#define QFILE_RS_ALL		0x03

struct qfile_rstatus {
	enum qfile_rstate state;
	unsigned flags;			/* QFILE_RS_* */
	unsigned attempts;		/* 0-65535 */
	unsigned dsn_class;		/* 0 (none), 2, 4 or 5 */
	unsigned dsn_subject;		/* 0-999 */
	unsigned dsn_detail;		/* 0-999 */
	long long time;			/* seconds since the epoch, 0 = none */
};

/* the message's queue state: 32 bytes at offset 32, rewritten in place */
#define QFILE_SCHED_DELAY_WARNED 0x01	/* delay warning sent for the message */
#define QFILE_SCHED_ALL		0x01

struct qfile_sched {
	unsigned attempts;		/* delivery attempts so far */
	unsigned flags;			/* QFILE_SCHED_* */
	long long next_attempt;		/* not before this time; 0 = now */
	long long last_attempt;		/* 0 = never */
};

#define QFILE_SCHED_OFFSET	32
#define QFILE_SCHED_SIZE	32
#define QFILE_RSLOT_SIZE	24

/* what went wrong, for logs and for cleanup's reply */
enum qfile_errkind {
	QFILE_ERR_NONE = 0,
	QFILE_ERR_SYSTEM,		/* a system call failed: errnum (ENOSPC, EIO...) */
	QFILE_ERR_LIMIT,		/* a hard limit above would be passed */
	QFILE_ERR_USAGE,		/* the caller broke a rule of this API */
	QFILE_ERR_CORRUPT,		/* not a valid queue file: offset, text */
	QFILE_ERR_INCOMPLETE,		/* not marked complete (no owner-execute bit) */
};

struct qfile_error {
	enum qfile_errkind kind;
	int errnum;			/* QFILE_ERR_SYSTEM: the errno */
	long long offset;		/* QFILE_ERR_CORRUPT: where; else -1 */
	char text[384];			/* "offset 1234: recipient record length ..." */
};

/*
 * Directories. The writer creates files in an open directory and the
 * directory fsync is a separate step, so one fsync can serve several
 * messages. The struct must outlive every writer created in it.
 */
struct qfile_dir {
	int fd;
	char *path;			/* for messages */
	struct qfile_pool *pool;	/* files qfile_create reuses, or NULL (not owned) */
};

/* qfile_dir_open - open a queue directory (e.g. "incoming"); 0 or -1 */
int qfile_dir_open(struct qfile_dir *dir, const char *path, struct qfile_error *err);
/* qfile_dir_sync - fsync the directory: step (2) of the durability rule */
int qfile_dir_sync(struct qfile_dir *dir, struct qfile_error *err);
void qfile_dir_close(struct qfile_dir *dir);

/*
 * Recycling (queue_file_recycle). On ext4 without a journal a create
 * scans past every inode freed in the last minutes and the final unlink
 * of a message evicts and truncates its inode; reusing inodes avoids
 * both. qmgr retires a finished message (every recipient final, notices
 * sent) with qfile_retire: a rename into the pool directory ("recycle")
 * under its own name, or an unlink when the pool holds its limit, the
 * file is bigger than QFILE_POOL_FILE_MAX (it would keep its blocks) or
 * the rename fails. Every other removal (ternsuper -d, corrupt files,
 * aborted writes) is an unlink. qfile_create in a directory whose pool
 * is set claims a pool file first (qfile_pool.c) and otherwise creates.
 *
 * Crash safety (DESIGN.md section 3 keeps holding):
 * - A file in the pool is a finished message. Nothing scans the pool
 *   for mail (qmgr, ternqueue, ternsuper read only their own queue
 *   directories), so it is never scheduled, listed or repaired.
 * - A claimed file is first renamed to DIR/tmp-PID-N, which qmgr never
 *   schedules (not a queue id) and ternsuper's repair leaves alone for a
 *   day (by mtime; the ftruncate below sets it to now; one a crash left
 *   with its old mtime is moved to corrupt/, a finished message). Only
 *   after fchmod 0600 (incomplete) and ftruncate 0 is it renamed to the
 *   new queue id, so a live qmgr never sees the old content under a
 *   queue id with the complete mark.
 * - A power cut may persist that rename but not the fchmod or ftruncate
 *   (ext4 without a journal orders nothing): the file then has a new
 *   queue id as its name, possibly mode 0700, and the old content, whose
 *   I record holds the OLD queue id (ids are made from the time and the
 *   inode, and time has moved on). The reader rejects a file whose I
 *   record does not match its name (QFILE_ERR_CORRUPT), so qmgr moves it
 *   to corrupt/ and never delivers it; and even read as valid, every
 *   recipient of a finished message is final.
 * - The new message is durable exactly as before: its data, mode and
 *   size by qfile_commit's fsync, its name by the directory fsync.
 * - The rename out of the pool is not synced. With a journal a rename is
 *   atomic; without one, fsck (forced after an unclean shutdown) counts
 *   an inode whose pool name came back as having two links, and a claim
 *   refuses (and unlinks its name for) any file that is not a regular
 *   file with exactly one link owned by the effective uid. A retire never
 *   replaces a pool name (RENAME_NOREPLACE; EEXIST: unlink).
 * "Never truncate a queue file" (DESIGN.md section 3) is kept: only a
 * claimed pool file, no longer a queue file, is truncated.
 */
#define QFILE_POOL_FILE_MAX	(64 * 1024)	/* bigger files are unlinked, not retired */

struct qfile_pool;
/*
 * qfile_pool_open - the pool directory at path, holding at most limit
 * files (qfile_retire's bound); NULL with err (ENOENT: an instance made
 * before recycling, which simply does not recycle). Set dir->pool of
 * every directory qfile_create should reuse files in (same file system).
 */
struct qfile_pool *qfile_pool_open(const char *path, long limit, struct qfile_error *err);
/* qfile_pool_close - close and free (NULL is fine); clear dir->pool first */
void qfile_pool_close(struct qfile_pool *pool);
/*
 * qfile_retire - the finished queue file at path (size bytes, from
 * qfile_open) into the pool, or unlinked (pool NULL: always); 0 when the
 * name is gone, -1 with err when it could not be removed
 */
int qfile_retire(struct qfile_pool *pool, const char *path, long long size,
		 struct qfile_error *err);

/*
 * The writer. Call order: qfile_create; then, in any order before the
 * content, qfile_put_sender (exactly once), qfile_put_flags and
 * qfile_put_dsn (at most once each), qfile_put_rcpt and qfile_put_attr
 * (any number); then qfile_put_content any number of times with pieces of
 * any size (LF line ends; the bytes are stored as given); then more
 * qfile_put_rcpt/qfile_put_attr (e.g. recipients extracted from headers);
 * then qfile_commit. Writes are buffered (64 KiB): a small message costs
 * one write(2). Every call returns 0, or -1 after which the file is gone
 * and qfile_writer_error says why.
 */
struct qfile_writer;

/*
 * qfile_create - create a new queue file in dir, mode 0600 (incomplete),
 * named by its new queue id. arrival is the arrival time (NULL: the id's
 * creation time). Costs open, fstat, rename; with dir->pool set, a pool
 * file when there is one: rename, open, fstat, fchmod, ftruncate, rename. Returns NULL with err set.
 * Call it from one thread only: ids of one process come from one
 * per-process clock. The other writer calls touch only their own writer,
 * so qfile_commit of different writers may run in parallel threads.
 */
struct qfile_writer *qfile_create(struct qfile_dir *dir, const struct timeval *arrival,
				  struct qfile_error *err);
/* qfile_writer_qid - the queue id (also the file name) */
const char *qfile_writer_qid(const struct qfile_writer *w);
/* qfile_writer_error - why the last call failed */
const struct qfile_error *qfile_writer_error(const struct qfile_writer *w);

/* qfile_put_sender - the envelope sender; "" for the null sender <> */
int qfile_put_sender(struct qfile_writer *w, const char *addr);
/* qfile_put_flags - QFILE_F_* flags and BODY= */
int qfile_put_flags(struct qfile_writer *w, unsigned flags, enum qfile_body body);
/* qfile_put_dsn - RET= and ENVID= (xtext as received; NULL: none) */
int qfile_put_dsn(struct qfile_writer *w, enum qfile_ret ret, const char *envid);
/*
 * qfile_put_rcpt - one recipient: address, NOTIFY bits (0: not given),
 * ORCPT address type and address as received, still encoded (xtext, or
 * RFC 6533 forms for utf-8; both NULL: no ORCPT). The status
 * slot starts as pending.
 */
int qfile_put_rcpt(struct qfile_writer *w, const char *addr, unsigned notify,
		   const char *orcpt_type, const char *orcpt);
/* qfile_put_attr - a named attribute; names are unique within a file */
int qfile_put_attr(struct qfile_writer *w, const char *name, const void *value, size_t len);
/* qfile_put_content - append len bytes of message content */
int qfile_put_content(struct qfile_writer *w, const void *data, size_t len);
/*
 * qfile_commit - write the end record, flush, set mode 0700 (complete),
 * fsync the file, close it. Needs a sender and at least one recipient.
 * The message is accepted only after a qfile_dir_sync as well.
 */
int qfile_commit(struct qfile_writer *w);
/* qfile_writer_abort - remove the file (even a committed one) and free w */
void qfile_writer_abort(struct qfile_writer *w);
/* qfile_writer_free - free w; a file that was not committed is removed */
void qfile_writer_free(struct qfile_writer *w);

/*
 * The reader. qfile_open reads and checks the whole envelope (not the
 * content) and fills the struct; callers read its fields and must not
 * change them. Content is streamed with qfile_content_read; its checksum
 * is checked when a read from the start reaches the end.
 */
struct qfile_attr {
	char *name;
	unsigned char *value;		/* len bytes, then a NUL */
	size_t len;
	long long offset;		/* of the record */
};

struct qfile_rcpt {
	char *addr;
	char *orcpt_type;		/* NULL when there is no ORCPT */
	char *orcpt;			/* as received (encoded), NULL when none */
	unsigned notify;		/* QFILE_NOTIFY_*, 0 = not given */
	long long offset;		/* of the R record */
	long long slot_offset;		/* of the 24-byte status slot */
	struct qfile_rstatus status;
	bool slot_ok;			/* false: damaged slot, status reads as pending */
	bool after_content;		/* found after the content (extracted) */
};

struct qfile {
	char *path;
	int fd;
	bool writable;			/* opened with QFILE_OPEN_RDWR */
	bool complete;			/* mode has the owner-execute bit */
	int version;
	long long file_size;
	char qid[QID_SIZE];
	long long arrival_sec;
	long arrival_usec;
	char *sender;			/* "" for <> */
	unsigned flags;			/* QFILE_F_* */
	enum qfile_body body;
	enum qfile_ret dsn_ret;
	char *envid;			/* NULL when none */
	struct qfile_rcpt *rcpts;
	size_t nrcpts;
	struct qfile_attr *attrs;
	size_t nattrs;
	struct qfile_sched sched;
	bool sched_ok;			/* false: damaged slot, reads as all zero */
	long long content_offset;	/* file offset of the first content byte */
	uint64_t content_len;
	uint64_t body_offset;		/* content offset of the body (= len: no body) */
	uint64_t lf_count;		/* LF bytes in the content */
	uint32_t content_crc;
	/* private: array capacities and the content stream */
	size_t rcpts_cap;
	size_t attrs_cap;
	uint64_t rd_pos;
	uint32_t rd_crc;
	bool rd_verify;
	unsigned char *rd_cache;	/* QFILE_OPEN_KEEP: the whole file as opened, or NULL */
};

#define QFILE_OPEN_RDWR		0x01	/* for in-place updates */
#define QFILE_OPEN_INCOMPLETE	0x02	/* accept a file without the execute bit */
/*
 * QFILE_OPEN_KEEP: a file of up to 1 MiB is read whole, with one pread,
 * and stays in memory; qfile_content_read and qfile_header_end then serve
 * the content from there without I/O (content never changes in place;
 * slots are always read from the file)
 */
#define QFILE_OPEN_KEEP		0x04

/* qfile_open - open and validate; NULL with err set (SYSTEM, CORRUPT, INCOMPLETE) */
struct qfile *qfile_open(const char *path, int flags, struct qfile_error *err);
/*
 * qfile_open_fd - the same on fd, which the caller opened from path (to
 * lock it before the envelope is read, say); fd is the qfile's from now
 * on: closed by qfile_close, or at once when NULL is returned
 */
struct qfile *qfile_open_fd(int fd, const char *path, int flags, struct qfile_error *err);
/* qfile_close - close and free (NULL is fine) */
void qfile_close(struct qfile *qf);
/* qfile_attr - a named attribute's value (NUL-terminated) and length, or NULL */
const char *qfile_attr(const struct qfile *qf, const char *name, size_t *len);
/* qfile_rcpt_find - index of the recipient whose slot is at slot_offset, or -1 */
long qfile_rcpt_find(const struct qfile *qf, long long slot_offset);
/*
 * qfile_rcpt_reread - read recipient index's status slot from the file
 * again (another process may have written it since qfile_open); a
 * damaged slot reads as pending with slot_ok false. 0 or -1 with err.
 */
int qfile_rcpt_reread(struct qfile *qf, size_t index, struct qfile_error *err);
/*
 * qfile_content_read - the next up to size content bytes: the count, 0 at
 * the end, -1 on a read error or, at the end of a read that started at
 * the beginning, a checksum mismatch (QFILE_ERR_CORRUPT).
 */
ssize_t qfile_content_read(struct qfile *qf, void *buf, size_t size, struct qfile_error *err);
/* qfile_content_seek - continue reading at content offset pos (no checksum then) */
int qfile_content_seek(struct qfile *qf, uint64_t pos, struct qfile_error *err);
/*
 * qfile_header_end - the length of the header section without the empty
 * line that ends it (= body_offset when there is no empty line); reads
 * two bytes, leaves the stream alone.
 */
int qfile_header_end(struct qfile *qf, uint64_t *end, struct qfile_error *err);
/*
 * qfile_verify - read the whole content and check its checksum, line
 * count, body offset and header line lengths; the stream is rewound.
 */
int qfile_verify(struct qfile *qf, struct qfile_error *err);

/*
 * In-place updates (file opened with QFILE_OPEN_RDWR). Each is one
 * pwrite of a whole slot; nothing is durable until qfile_sync
 * (fdatasync: the file size never changes, so the data is all that
 * matters). Several updates may share one qfile_sync. Only one process
 * may update a given slot at a time (qmgr hands each recipient to one
 * agent). A process that dies in the middle leaves each slot old or new.
 */
int qfile_rcpt_update(struct qfile *qf, size_t index, const struct qfile_rstatus *st,
		      struct qfile_error *err);
int qfile_sched_update(struct qfile *qf, const struct qfile_sched *s, struct qfile_error *err);
int qfile_sync(struct qfile *qf, struct qfile_error *err);
/*
 * qfile_rcpt_update_sync - qfile_rcpt_update and qfile_sync in one
 * system call (pwritev2 with RWF_DSYNC; the two calls where that is not
 * supported): for a single result that must be durable at once
 */
int qfile_rcpt_update_sync(struct qfile *qf, size_t index, const struct qfile_rstatus *st,
			   struct qfile_error *err);

/* names for listings */
const char *qfile_rstate_name(enum qfile_rstate state);	/* "pending", ... */
const char *qfile_body_name(enum qfile_body body);		/* "8BITMIME", ... */
const char *qfile_ret_name(enum qfile_ret ret);		/* "FULL", "HDRS" */
/* qfile_notify_format - "SUCCESS,DELAY" or "NEVER" into buf; "" for 0 */
void qfile_notify_format(unsigned notify, char *buf, size_t size);
/* qfile_attr_wellknown - true for the QFILE_A_* names */
bool qfile_attr_wellknown(const char *name);

/*
 * Test seam for fault injection. When set, every system call the writer,
 * the updaters and the reader make goes through this hook first: return 0
 * to let it run, or an errno value to fail it without running it. For
 * QFILE_OP_WRITE and QFILE_OP_PWRITE the hook may lower *len to make a
 * short write (the writer then writes the rest with the next call).
 * Never set outside tests.
 */
enum qfile_op {
	QFILE_OP_OPEN, QFILE_OP_FSTAT, QFILE_OP_RENAME, QFILE_OP_WRITE,
	QFILE_OP_PWRITE, QFILE_OP_FCHMOD, QFILE_OP_FSYNC, QFILE_OP_CLOSE,
	QFILE_OP_DIRSYNC, QFILE_OP_FDATASYNC, QFILE_OP_PREAD,
};
extern int (*qfile_fault_hook)(enum qfile_op op, size_t *len);

#endif
