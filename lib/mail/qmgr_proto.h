/*
 * qmgr_proto - the control requests ternsuper sends to a running qmgr,
 * on top of the attribute frames of base/ipc.h.
 *
 * Socket: private/qmgr-control under queue_directory, made by qmgr
 * itself (mode 0600, in the mail_owner-only private/), so only root and
 * mail_owner can reach it; qmgr also checks the peer's uid
 * (SO_PEERCRED) and refuses everybody but root and its own uid. The
 * wake-up triggers on public/qmgr stay harmless letters anyone may send.
 *
 * One request frame, one reply frame per connection:
 *   request: QMGR_CTL_OP (delete, hold, requeue), QMGR_CTL_QUEUE_ID
 *            repeated (at most QMGR_CTL_IDS_MAX).
 *   reply:   DELIVER_STATUS "ok" and one QMGR_CTL_RESULT per queue id in
 *            request order, or DELIVER_STATUS "error" with DELIVER_TEXT.
 *
 * Results: "done" (qmgr acted at once: no agent had the file), "pending"
 * (a delivery agent works on the message: qmgr acts as soon as the
 * agent is finished and its lock on the queue file is gone; the
 * message gets no further delivery attempt meanwhile), "absent" (not in
 * active/: the caller acts on the file itself). Only messages in active/
 * are qmgr's business; ternsuper renames or removes the others itself.
 */
#ifndef TERN_MAIL_QMGR_PROTO_H
#define TERN_MAIL_QMGR_PROTO_H

#define QMGR_CTL_SOCKET		"private/qmgr-control"

#define QMGR_CTL_OP		"op"		/* S */
#define QMGR_CTL_OP_DELETE	"delete"
#define QMGR_CTL_OP_HOLD	"hold"
#define QMGR_CTL_OP_REQUEUE	"requeue"
#define QMGR_CTL_QUEUE_ID	"queue_id"	/* S, repeated */
#define QMGR_CTL_RESULT		"result"	/* S, repeated: done, pending, absent */

#define QMGR_CTL_DONE		"done"
#define QMGR_CTL_PENDING	"pending"
#define QMGR_CTL_ABSENT		"absent"

#define QMGR_CTL_IDS_MAX	1000

#endif
