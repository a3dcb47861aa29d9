/*
 * pickup.h - what the parts of the pickup daemon share.
 *
 *	pickup.c		the service: tells wake-ups from submissions
 *	pickup_client.c		a submission from sendmail, relayed to cleanup
 *	pickup_scan.c		the maildrop directory, replayed to cleanup
 *	pickup_begin.c		the envelope pickup hands cleanup, either way
 */
#ifndef TERN_QMGR_PICKUP_H
#define TERN_QMGR_PICKUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "base/attr.h"

struct service;
struct event;

#define PICKUP_CONNECT_MS	5000	/* connecting to cleanup (a local listener) */

/* pickup - the process */
struct pickup {
	struct service *svc;
	struct event *scan_ev;		/* a maildrop scan is due */
	int scan_waiters;		/* wake-up connections that wait for it */
	int client_ms;			/* pickup_timeout */
	int ipc_ms;			/* ipc_timeout */
};

/* pickup_client.c */
/* pickup_client_start - a submission connection: the daemon owns fd now */
void pickup_client_start(struct pickup *pk, int fd);

/* pickup_scan.c */
/* pickup_scan - replay every complete maildrop file to cleanup */
void pickup_scan(struct pickup *pk);

/* pickup_begin.c */
/* pickup_refusal - why an envelope that is well-formed cannot be taken */
struct pickup_refusal {
	int code;			/* 501; 0: none */
	char dsn[16];
	char text[300];
};

/*
 * pickup_begin - the BEGIN frame for cleanup from a local client's (or
 * a maildrop file's) BEGIN frame in: the envelope fields a local user
 * may set (sender, recipients with NOTIFY and ORCPT, RET, ENVID, SIZE,
 * the 8BITMIME and SMTPUTF8 flags), then what pickup knows itself: the
 * origin uid, protocol "local", no client address, the submission flag
 * (cleanup adds Message-ID: and Date:), the service name. Anything else
 * the client sent is dropped. Returns 0; -1 with err for a frame that
 * breaks maildrop_check_begin or has a field of the wrong type or value;
 * 1 when an address is not a mailbox (a sender may be empty), with the
 * reply in *no (and in err).
 */
int pickup_begin(const struct attr_list *in, uid_t uid, const char *service, struct attr_list *out,
		 struct pickup_refusal *no, char *err, size_t errlen);
/*
 * pickup_printable - s with control characters as '?', for log lines
 * (static: valid for the next three calls; cut at 300 bytes)
 */
const char *pickup_printable(const char *s);

#endif
