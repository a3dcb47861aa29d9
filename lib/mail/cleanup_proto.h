/*
 * cleanup_proto - the conversation between a message source (smtpd,
 * pickup, bounce, recall, tlsrpt) and the cleanup service, on top of the
 * attribute frames of base/ipc.h.
 *
 * Sockets: smtpd, pickup and the other daemons connect to
 * "private/cleanup" (relative to queue_directory, which is every daemon's
 * working directory and chroot); local programs cannot reach it. cleanup
 * never trusts what a source says about who it is: it records the peer
 * uid from SO_PEERCRED.
 *
 * One connection carries any number of messages, one after another
 * (sources keep it open and reuse it; that saves a connect and a process
 * wake-up per message). Per message:
 *
 *   source                                   cleanup
 *   BEGIN frame: envelope + all recipients ->
 *   content chunks (ipc stream "chunk")    ->
 *   stream "end" (total byte count)        ->
 *                                          <- RESULT frame
 *
 * The source does not wait between frames: the whole message is sent
 * pipelined and cleanup answers once. If cleanup fails early (cannot
 * create the file, size limit exceeded, a recipient is malformed), it
 * discards the rest of that message's frames up to "end" and then sends
 * the RESULT with the error; it never answers before "end" (but for the
 * opt-in EARLY frame below). A source that
 * gives up on a message (client vanished, bare LF found, timeout) sends
 * an ABORT frame instead of "end" (cleanup removes the partial file and
 * sends no RESULT) or simply closes the connection.
 *
 * Early queue id (opt-in): a source that sets CLEANUP_EARLY_QID in its
 * BEGIN frame gets one extra frame, the EARLY frame, as soon as cleanup
 * has handled the BEGIN frame (created the queue file, or failed to),
 * before cleanup reads any content:
 *
 *   BEGIN frame with early_qid=1           ->
 *                                          <- EARLY frame
 *   content chunks, "end"                  ->
 *                                          <- RESULT frame
 *
 * EARLY status "queued" carries the CLEANUP_QUEUE_ID the message will
 * have (the source logs its "QID: client=..." or "QID: uid=..." line
 * now, before the message can reach qmgr, as Postfix does); status
 * "error" carries the reply (code, dsn, text) that the RESULT will give
 * too. The EARLY frame changes nothing else: the source still sends the
 * content and "end" (then the RESULT follows) or ABORT (then nothing
 * more comes for this message; an EARLY frame cleanup sent before it saw
 * the ABORT still arrives and must be skipped). smtpd and pickup keep
 * the "end" frame back until the EARLY frame has arrived, so cleanup
 * cannot commit (and wake qmgr) before the source has logged the queue
 * id. Sources that do not ask (bounce, forwarding, notices, test
 * clients) see the protocol exactly as above.
 *
 * RESULT status "ok" means: the queue file is complete and durable (file
 * data and directory entry fsync'ed), so the source may now answer 250.
 * Anything else carries the SMTP reply to give (code, enhanced code,
 * text); the file has been removed.
 *
 * Content is the message as the client sent it after SMTP dot-unstuffing,
 * with every line ending in CRLF (smtpd guarantees this: bare CR/LF are
 * refused or normalized before cleanup sees them). The last line ends in
 * CRLF too. cleanup prepends the Received: header itself (it learns the
 * queue id first), from the client attributes below.
 */
#ifndef TERN_MAIL_CLEANUP_PROTO_H
#define TERN_MAIL_CLEANUP_PROTO_H

#define CLEANUP_SOCKET_PRIVATE	"private/cleanup"

/* attribute "op" of the frames a source sends */
#define CLEANUP_OP		"op"
#define CLEANUP_OP_BEGIN	"begin"
#define CLEANUP_OP_ABORT	"abort"
/* content frames are ipc stream frames ("chunk", then "end"), with no "op" */

/* BEGIN: envelope (S string, I integer; all optional unless marked) */
#define CLEANUP_SENDER		"sender"	/* S, required; "" is the null sender <> */
#define CLEANUP_RCPT		"rcpt"		/* S, repeated, at least one */
#define CLEANUP_RCPT_ORCPT	"orcpt"		/* S, repeated as often as rcpt: "addr-type;xtext" or "" */
#define CLEANUP_RCPT_NOTIFY	"notify"	/* I, repeated as often as rcpt: CLEANUP_NOTIFY_* bits, 0 = not given */
#define CLEANUP_RET		"ret"		/* S: "FULL", "HDRS" or absent */
#define CLEANUP_ENVID		"envid"		/* S: decoded ENVID */
#define CLEANUP_FLAGS		"flags"		/* I: CLEANUP_FLAG_* */
#define CLEANUP_SIZE		"size"		/* I: SIZE= announced by the client, 0 if none */
#define CLEANUP_CLIENT_NAME	"client_name"	/* S: verified reverse name, or "unknown" */
#define CLEANUP_CLIENT_ADDR	"client_addr"	/* S: IP address, or "" for local submission */
#define CLEANUP_CLIENT_PORT	"client_port"	/* I */
#define CLEANUP_HELO		"helo"		/* S: EHLO/HELO argument */
#define CLEANUP_PROTOCOL	"protocol"	/* S: "ESMTP", "ESMTPS", "ESMTPSA", "UTF8SMTPS", "SMTP", "local" ... */
#define CLEANUP_TLS_PROTO	"tls_proto"	/* S: "TLSv1.3" */
#define CLEANUP_TLS_CIPHER	"tls_cipher"	/* S: "TLS_AES_256_GCM_SHA384" */
#define CLEANUP_TLS_BITS	"tls_bits"	/* I */
#define CLEANUP_AUTH_USER	"auth_user"	/* S: SASL identity of an authenticated client */
#define CLEANUP_AUTH_METHOD	"auth_method"	/* S: its SASL mechanism ("PLAIN"); stored as sasl_method */
#define CLEANUP_SESSION		"session"	/* S: smtpd session id for log correlation */
#define CLEANUP_SERVICE		"service"	/* S: master.conf service name the message arrived on */
#define CLEANUP_ORIGIN_UID	"origin_uid"	/* I: local submission: the submitting uid (pickup) */
#define CLEANUP_DSN_KIND	"dsn_kind"	/* S: bounce only: a notice tern generated; stored as
						 * the queue-file attribute "dsn_kind" (deliver_proto.h) */
#define CLEANUP_EARLY_QID	"early_qid"	/* I: 1 = send the EARLY frame (above); 0 or absent: none */
#define CLEANUP_CLIENT_COUNTRY	"client_country"	/* S: the client's ISO 3166 country code ("JP"), or "--"
						 * when unknown (mail/geoip.h); cleanup adds the
						 * origin_country_header and stores it as the
						 * queue-file attribute "client_country" */

/* CLEANUP_FLAGS bits */
#define CLEANUP_FLAG_8BITMIME	(1 << 0)	/* BODY=8BITMIME */
#define CLEANUP_FLAG_SMTPUTF8	(1 << 1)	/* SMTPUTF8 */
#define CLEANUP_FLAG_REQUIRETLS	(1 << 2)	/* REQUIRETLS */
#define CLEANUP_FLAG_SUBMISSION	(1 << 3)	/* add missing Message-ID:, Date:, From: fix-ups (587/465, local) */
#define CLEANUP_FLAG_BDAT	(1 << 4)	/* content arrived by BDAT */
#define CLEANUP_FLAG_HOLD	(1 << 5)	/* put the message on hold */

/* NOTIFY bits (RFC 3461) */
#define CLEANUP_NOTIFY_NEVER	(1 << 0)
#define CLEANUP_NOTIFY_SUCCESS	(1 << 1)
#define CLEANUP_NOTIFY_FAILURE	(1 << 2)
#define CLEANUP_NOTIFY_DELAY	(1 << 3)

/* RESULT frame (and EARLY frame: "queued" or "error") */
#define CLEANUP_STATUS		"status"	/* S: "ok" or "error"; EARLY: "queued" or "error" */
#define CLEANUP_STATUS_OK	"ok"
#define CLEANUP_STATUS_QUEUED	"queued"	/* EARLY only: the file exists, content may come */
#define CLEANUP_STATUS_ERROR	"error"
#define CLEANUP_QUEUE_ID	"queue_id"	/* S: with ok and queued */
#define CLEANUP_REPLY_CODE	"code"		/* I: with error: 451, 452, 552, 554, 550 */
#define CLEANUP_REPLY_DSN	"dsn"		/* S: with error: "4.3.1" */
#define CLEANUP_REPLY_TEXT	"text"		/* S: with error: human text, no code, no CRLF */

#endif
