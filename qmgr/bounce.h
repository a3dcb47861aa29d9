/*
 * bounce - the delivery status notification service: shared declarations
 * of bounce.c (the service and its requests) and bounce_cleanup.c (the
 * submission of a finished notice through private/cleanup).
 */
#ifndef TERN_QMGR_BOUNCE_H
#define TERN_QMGR_BOUNCE_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/qid.h"

#define BOUNCE_TEXT_MAX		300	/* error text in a reply */

/* bounce_notice - a finished notice, ready for cleanup */
struct bounce_notice {
	const char *rcpt;		/* the notice's one recipient */
	const char *dsn_kind;		/* "failure", "delay", "success", "double" */
	bool eight_bit;			/* submit as 8BITMIME */
	bool smtputf8;			/* submit as SMTPUTF8 */
	const char *data;		/* the message, CRLF line ends */
	size_t len;
};

/*
 * bounce_cleanup_submit - hand the notice to cleanup with the null sender
 * and wait for its RESULT: 0 with the new queue id in qid, or -1 with
 * why in err[errlen]. timeout_ms bounds the whole conversation.
 */
int bounce_cleanup_submit(const struct bounce_notice *n, int timeout_ms, char qid[QID_SIZE],
			  char *err, size_t errlen);

#endif
