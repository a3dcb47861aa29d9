/*
 * qmgr.h - the scheduler's shared state (qmgr.c, qmgr_scan.c,
 * qmgr_message.c, qmgr_deliver.c, qmgr_bounce.c). See qmgr(8).
 *
 * Objects:
 *   qmgr_msg    a message in active/: its queue file (open read-write),
 *               a copy of every recipient's status, and how many
 *               delivery entries and notices are still outstanding.
 *   qmgr_dest   a destination (transport, nexthop): a FIFO of waiting
 *               entries, requests in flight, failure streak, suspension.
 *   qmgr_entry  up to default_destination_recipient_limit recipients of
 *               one message for one destination: one DELIVER request.
 *
 * Invariant: a message leaves active/ (removed or renamed to deferred/)
 * only when it has no entry waiting or in flight and no notice pending;
 * every recipient is handed to at most one agent at a time. A file that
 * a delivery agent has locked (deliver_agent.h) is never scheduled: it
 * waits in qmgr_control.c's list until the lock is gone. A message that
 * qmgr_fresh.c calls fresh (new since this qmgr started, never deferred,
 * never held or requeued) has no defer/ or bounce/ file and no agent: its
 * lock is not tested and no reason file is removed for it.
 */
#ifndef TERN_QMGR_QMGR_H
#define TERN_QMGR_QMGR_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/qfile.h"
#include "mail/qid.h"
#include "mail/resolve.h"

struct event_base;
struct qmgr_dest;

/* qmgr_action - what becomes of a message instead of its next attempt */
enum qmgr_action { QMGR_ACT_NONE, QMGR_ACT_DELETE, QMGR_ACT_HOLD, QMGR_ACT_REQUEUE };

/* qmgr_params - the parameters in use */
struct qmgr_params {
	long long dest_concurrency;
	long long dest_rcpt_limit;
	long long failed_cohort_limit;
	long long active_limit;
	long long incomplete_timeout;
	long long min_backoff;
	long long max_backoff;
	long long max_lifetime;
	long long delay_warning;
	long long run_delay;
	long long transport_limit;	/* requests in flight per transport */
	int ipc_ms;
};

/* qmgr_msg - a message in the active queue */
struct qmgr_msg {
	char qid[QID_SIZE];
	char path[QID_SIZE + 16];	/* "active/QID" */
	struct qfile *qf;
	struct qfile_rstatus *st;	/* our view of every recipient's slot */
	long long activated_us;
	int refs;			/* entries waiting or in flight */
	int notices;			/* bounce requests outstanding */
	bool notice_failed;
	char *last_reason;		/* the last deferral reason, for expiry */
	char last_dsn[16];
	bool side;			/* defer/QID or bounce/QID may exist */
	bool unsynced;			/* qmgr wrote slots or the Q record since the last sync */
	enum qmgr_action action;	/* requested: done when nothing is outstanding */
	char *action_reason;		/* for the log line, or NULL */
	struct qmgr_msg *prev, *next;
};

/* qmgr_entry - recipients of one message for one destination */
struct qmgr_entry {
	struct qmgr_msg *msg;
	struct qmgr_dest *dest;
	size_t *idx;
	size_t n;
	struct qmgr_entry *next;
};

/* the process-wide state */
struct qmgr {
	struct event_base *base;
	struct qmgr_params p;
	struct resolve *resolve;
	struct qmgr_msg *msgs;		/* active messages */
	long nactive;
	long long next_deferred_due;	/* earliest next attempt we set; 0 none */
	long long started;		/* time(NULL) when this qmgr started (qmgr_fresh.c) */
	struct qfile_pool *recycle;	/* finished files go here (queue_file_recycle), or NULL */
};

extern struct qmgr qmgr;

/* qmgr.c */
void qmgr_kick_scan(void);		/* activity changed: maybe scan more */

/* qmgr_scan.c */
void qmgr_scan_init(void);
void qmgr_scan_request(const char *dir, bool force, const char *site);
void qmgr_scan_timer_at(long long when);
void qmgr_scan_free(void);

/* qmgr_message.c */
void qmgr_msg_activate(const char *qid, const char *from_dir);
void qmgr_msg_rcpt_deferred(struct qmgr_msg *m, size_t i, const char *dsn, const char *relay,
			    const char *text, bool log_it);
void qmgr_msg_rcpt_final(struct qmgr_msg *m, size_t i, bool delivered, const char *dsn,
			 const char *relay, const char *text);
void qmgr_msg_unref(struct qmgr_msg *m);
void qmgr_msg_notice_done(struct qmgr_msg *m, const char *op, const size_t *idx, size_t n,
			  bool ok);
bool qmgr_msg_matches_site(const char *qid, const char *site);
struct qmgr_msg *qmgr_msg_find(const char *qid);
void qmgr_msg_request(struct qmgr_msg *m, enum qmgr_action a, const char *reason);
void qmgr_msg_free_all(void);

/* qmgr_deliver.c */
void qmgr_deliver_add(struct qmgr_msg *m, const struct resolve_result *rr, size_t idx);
void qmgr_deliver_seal(struct qmgr_msg *m);
void qmgr_deliver_unsuspend(const char *site);
void qmgr_deliver_drop(struct qmgr_msg *m);
void qmgr_deliver_free(void);

/* qmgr_control.c */
void qmgr_control_init(void);
bool qmgr_lock_busy(int fd);
void qmgr_wait_add(const char *qid, enum qmgr_action a, const char *reason);
void qmgr_control_apply(const char *qid, enum qmgr_action a, const char *reason);
void qmgr_control_free(void);

/* qmgr_fresh.c */
void qmgr_fresh_init(void);
bool qmgr_fresh(const char *qid, const char *from_dir, const struct qfile *qf);
void qmgr_fresh_taint(const char *qid);
void qmgr_fresh_forget(const char *qid);
void qmgr_fresh_reason_file(const char *name);
void qmgr_fresh_reason_dir_done(const char *dir, bool complete);
void qmgr_fresh_free(void);

/* qmgr_bounce.c */
void qmgr_bounce_request(struct qmgr_msg *m, const char *op, const size_t *idx, size_t n,
			 bool to_postmaster);
void qmgr_bounce_free(void);

/* qmgr_now_us - wall clock in microseconds */
long long qmgr_now_us(void);

#endif
