/*
 * qfile_update - rewrite the fixed-width slots of a queue file in place.
 *
 * qmgr records the message's attempts and next retry in the queue state
 * slot; qmgr and the delivery agents record each recipient's fate in its
 * status slot. A slot is written with one pwrite of the whole slot and
 * made durable with fdatasync (qfile_sync), which several updates may
 * share; a single result goes out written and synced by one pwritev2
 * with RWF_DSYNC (qfile_rcpt_update_sync). Slots never cross a 512-byte
 * boundary and carry a CRC-32, so a power cut leaves each slot old, new,
 * or (on hardware that tears sectors) visibly damaged, which readers
 * treat as pending.
 *
 * Errors: values out of range are refused before anything is written
 * (QFILE_ERR_USAGE); I/O errors come back as QFILE_ERR_SYSTEM and leave
 * the in-memory copy unchanged.
 */
#include <errno.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mail/qfile.h"
#include "mail/qfile_int.h"

/* qfile_rcpt_update - write recipient index's status slot */
int qfile_rcpt_update(struct qfile *qf, size_t index, const struct qfile_rstatus *st,
		      struct qfile_error *err)
{
	unsigned char slot[QFILE_RSLOT_SIZE];

	if (!qf->writable)
		return qfile_err(err, QFILE_ERR_USAGE, EBADF, -1, "%s: opened read-only", qf->path);
	if (index >= qf->nrcpts)
		return qfile_err(err, QFILE_ERR_USAGE, EINVAL, -1, "%s: no recipient %zu", qf->path, index);
	if (qfile_rslot_encode(st, slot) < 0)
		return qfile_err(err, QFILE_ERR_USAGE, EINVAL, -1, "%s: recipient status out of range",
				 qf->path);
	if (qfile_pwrite_all(qf->fd, slot, sizeof(slot), qf->rcpts[index].slot_offset) < 0)
		return qfile_err(err, QFILE_ERR_SYSTEM, errno, -1, "pwrite %s: %s", qf->path,
				 strerror(errno));
	qf->rcpts[index].status = *st;
	qf->rcpts[index].slot_ok = true;
	qfile_err_clear(err);
	return 0;
}

/* qfile_rcpt_update_sync - write recipient index's status slot and make it durable, in one call */
int qfile_rcpt_update_sync(struct qfile *qf, size_t index, const struct qfile_rstatus *st,
			   struct qfile_error *err)
{
	unsigned char slot[QFILE_RSLOT_SIZE];
	struct iovec iov = {slot, sizeof(slot)};
	ssize_t got;

	/* tests that inject faults see the two calls they know */
	if (qfile_fault_hook != NULL || !qf->writable || index >= qf->nrcpts)
		goto two_calls;
	if (qfile_rslot_encode(st, slot) < 0)
		return qfile_err(err, QFILE_ERR_USAGE, EINVAL, -1, "%s: recipient status out of range",
				 qf->path);
	do
		got = pwritev2(qf->fd, &iov, 1, (off_t) qf->rcpts[index].slot_offset, RWF_DSYNC);
	while (got < 0 && errno == EINTR);
	/*
	 * Not supported (refused before anything is written): the two calls.
	 * Any other error may be a failed write-back, which a second sync
	 * could no longer see: it is reported, never retried.
	 */
	if (got < 0 && (errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS))
		goto two_calls;
	if (got < 0)
		return qfile_err(err, QFILE_ERR_SYSTEM, errno, -1, "pwritev2 %s: %s", qf->path,
				 strerror(errno));
	if ((size_t) got != sizeof(slot))	/* short: the whole slot again, then a sync */
		goto two_calls;
	qf->rcpts[index].status = *st;
	qf->rcpts[index].slot_ok = true;
	qfile_err_clear(err);
	return 0;
two_calls:
	if (qfile_rcpt_update(qf, index, st, err) != 0)
		return -1;
	return qfile_sync(qf, err);
}

/* qfile_sched_update - write the queue state slot */
int qfile_sched_update(struct qfile *qf, const struct qfile_sched *s, struct qfile_error *err)
{
	unsigned char slot[QFILE_SCHED_SIZE];

	if (!qf->writable)
		return qfile_err(err, QFILE_ERR_USAGE, EBADF, -1, "%s: opened read-only", qf->path);
	if (qfile_sched_encode(s, slot) < 0)
		return qfile_err(err, QFILE_ERR_USAGE, EINVAL, -1, "%s: queue state out of range",
				 qf->path);
	if (qfile_pwrite_all(qf->fd, slot, sizeof(slot), QFILE_SCHED_OFFSET) < 0)
		return qfile_err(err, QFILE_ERR_SYSTEM, errno, -1, "pwrite %s: %s", qf->path,
				 strerror(errno));
	qf->sched = *s;
	qf->sched_ok = true;
	qfile_err_clear(err);
	return 0;
}

/* qfile_sync - make earlier updates durable */
int qfile_sync(struct qfile *qf, struct qfile_error *err)
{
	int inj = qfile_fault(QFILE_OP_FDATASYNC, NULL);

	if (inj || fdatasync(qf->fd) < 0) {
		int e = inj ? inj : errno;

		return qfile_err(err, QFILE_ERR_SYSTEM, e, -1, "fdatasync %s: %s", qf->path, strerror(e));
	}
	qfile_err_clear(err);
	return 0;
}
