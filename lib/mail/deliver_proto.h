/*
 * deliver_proto - how qmgr hands work to delivery agents (local, virtual,
 * smtp, lmtp, error, …) and to bounce, on top of the attribute frames of
 * base/ipc.h.
 *
 * Queue life (tern-queue(5)): cleanup leaves complete files in incoming/;
 * qmgr renames them to active/ and schedules them; a message with pending
 * recipients after a run goes to deferred/ (its Q slot says when to try
 * again); hold/ is never scheduled; timed/ waits for its release time; a
 * file that fails validation goes to corrupt/. Reasons are kept beside
 * the queue file, one text file per message: defer/QID (temporary
 * failures) and bounce/QID (final ones: failures, and the successes
 * whose sender asked for NOTIFY=SUCCESS), one line per recipient
 * result, written by qmgr from the agents' replies:
 *
 *	INDEX <TAB> DSN <TAB> unix-time <TAB> relay <TAB> reason text
 *
 * (INDEX is the recipient's position in the queue file; text has no TAB,
 * CR or LF; the last line for an INDEX wins.) mailq shows the last defer
 * reason; bounce quotes them in the DSN.
 *
 * DELIVER: qmgr connects to private/<transport> (the master.conf service
 * named like the transport) and sends one request frame; the agent
 * answers with one reply frame after it has tried every recipient. A
 * connection may carry several requests, one after another.
 *
 * The agent opens the queue file itself (read-write; local opens it
 * before it changes uid) and, for every recipient that reaches a FINAL
 * state, writes that state into the recipient's slot and fsyncs
 * (qfile_rcpt_update + qfile_sync) BEFORE it replies — so a crash after a
 * delivery never delivers it again. Temporary failures are not written
 * by the agent; qmgr records them. An agent never removes or moves a
 * queue file. An agent that cannot read the file answers with a
 * request-level error (all recipients deferred).
 *
 * The agent logs the delivery line in the Postfix shape:
 *   QID: to=<rcpt>, orig_to=<orcpt>, relay=R, delay=D, delays=a/b/c/d,
 *        dsn=X.Y.Z, status=sent|deferred|bounced (text)
 */
#ifndef TERN_MAIL_DELIVER_PROTO_H
#define TERN_MAIL_DELIVER_PROTO_H

#define DELIVER_OP		"op"
#define DELIVER_OP_DELIVER	"deliver"

/* request (qmgr -> agent) */
#define DELIVER_QUEUE_ID	"queue_id"	/* S */
#define DELIVER_QUEUE_FILE	"queue_file"	/* S: path relative to queue_directory, "active/QID" */
#define DELIVER_NEXTHOP		"nexthop"	/* S: domain or [host]:port, "" for local */
#define DELIVER_SENDER		"sender"	/* S: envelope sender, "" for <> */
#define DELIVER_ARRIVAL		"arrival"	/* I: unix time the message arrived */
#define DELIVER_QUEUED		"queued_at"	/* I: microseconds since epoch qmgr activated it (delays=) */
#define DELIVER_RCPT_INDEX	"rcpt_index"	/* I, repeated: recipient's index in the queue file */
#define DELIVER_RCPT		"rcpt"		/* S, repeated as often as rcpt_index: address to deliver to */
#define DELIVER_FLAGS		"flags"		/* I: DELIVER_FLAG_* */

#define DELIVER_FLAG_DSN_SUCCESS (1 << 0)	/* reserved */

/* reply (agent -> qmgr): parallel repeated attributes, one entry per recipient */
#define DELIVER_STATUS		"status"	/* S: "ok" (per-recipient results follow) or "error" */
#define DELIVER_TEXT		"text"		/* S: with "error": why nothing was tried */
#define DELIVER_R_INDEX		"r_index"	/* I, repeated */
#define DELIVER_R_STATUS	"r_status"	/* S, repeated: "sent", "deferred", "bounced", or "relayed":
						 * sent to a next hop that took over the DSN duty (it
						 * supports DSN and got NOTIFY): no success notice here */
#define DELIVER_R_DSN		"r_dsn"		/* S, repeated: "2.0.0", "4.2.2", "5.1.1" */
#define DELIVER_R_RELAY		"r_relay"	/* S, repeated: "local", "mx.example.test[127.0.0.2]:25" */
#define DELIVER_R_TEXT		"r_text"	/* S, repeated: reason or result text */

/*
 * BOUNCE: qmgr -> private/bounce, one request frame, one reply frame.
 * bounce reads the queue file (envelope, ORCPT, NOTIFY, RET, ENVID,
 * headers and body as RET asks) and the reasons in bounce/QID or
 * defer/QID, builds an RFC 3464 multipart/report and submits it through
 * private/cleanup with the null sender. It replies ok with the new
 * queue id only after cleanup's ok. A failure notice for a message whose
 * sender is <> goes to postmaster once ("double bounce", flag below);
 * a message that is itself a double bounce is never reported again
 * (qmgr logs and drops it).
 */
#define BOUNCE_OP_FAILURE	"failure"	/* recipients bounced */
#define BOUNCE_OP_DELAY		"delay"		/* still trying after delay_warning_time */
#define BOUNCE_OP_SUCCESS	"success"	/* NOTIFY=SUCCESS recipients delivered */
/* request: DELIVER_OP = one of the above, DELIVER_QUEUE_ID, DELIVER_QUEUE_FILE,
 * DELIVER_RCPT_INDEX repeated (which recipients to report), and: */
#define BOUNCE_POSTMASTER	"to_postmaster"	/* I: 1 = send to postmaster (double bounce) */
/* reply: DELIVER_STATUS "ok" with CLEANUP_QUEUE_ID of the notice, or "error" with DELIVER_TEXT */

/* the queue-file attribute (A record) that marks a notice tern generated */
#define QFILE_A_DSN_KIND	"dsn_kind"	/* "failure", "delay", "success", "double" */

#endif
