/*
 * cleanup_submit.h - hand one whole message that a tern service made
 * itself (a delivery status notice from bounce, a notice to the
 * postmaster from screen) to cleanup through private/cleanup
 * (cleanup_proto.h), and wait for the RESULT.
 *
 * One connection per message, closed afterwards: notices are rare, so
 * nothing is kept. The BEGIN frame carries the sender ("" is the null
 * sender), one recipient, the flags, the service name and, for DSNs,
 * dsn_kind; protocol "local" and no client address. timeout_ms bounds
 * the whole conversation (connect, send, RESULT).
 *
 * Failures: anything but a RESULT with status ok and a valid queue id
 * (no socket, a timeout, a closed connection, a refusal) is -1 with the
 * reason in err; nothing is logged here.
 */
#ifndef TERN_MAIL_CLEANUP_SUBMIT_H
#define TERN_MAIL_CLEANUP_SUBMIT_H

#include <stddef.h>

#include "mail/qid.h"

/* cleanup_message - a whole message and its envelope */
struct cleanup_message {
	const char *sender;		/* "" for the null sender */
	const char *rcpt;		/* the one recipient */
	int flags;			/* CLEANUP_FLAG_* */
	const char *service;		/* who submits: "bounce", "screen" */
	const char *dsn_kind;		/* CLEANUP_DSN_KIND for notices, or NULL */
	const char *data;		/* the message, CRLF line ends */
	size_t len;
};

/* cleanup_submit - submit m: 0 with the new queue id in qid, or -1 with err */
int cleanup_submit(const struct cleanup_message *m, int timeout_ms, char qid[QID_SIZE],
		   char *err, size_t errlen);

#endif
