/*
 * deliver_agent - what the final delivery agents local and virtual share
 * around the DELIVER contract (deliver_proto.h):
 *
 *   - one request: parse it, open and lock the queue file read-write
 *     (the recipients' slots, as the agent's own user - root for local)
 *     and read it whole (a file up to 1 MiB: envelope and content from
 *     one pread); a second, read-only descriptor only for a delivery
 *     child when the content is not in memory (deliver_job_child_content);
 *     collect one result per recipient, write each final result into
 *     the slot with an fsync before anything else happens, log the
 *     Postfix-shape lines (those an agent made per destination wait for
 *     the slot: deliver_job_log_pending), build the reply frame;
 *   - deliver_as: run one delivery in a child process that has become
 *     the mailbox owner (setgroups, setresgid, setresuid, verified with
 *     getresuid/getresgid and a failing setuid(0)), with a time limit;
 *     the child cannot reach the read-write queue file descriptor;
 *   - deliver_as_euid: run one mailbox write in this process with the
 *     owner's effective ids, then become root again (no fork);
 *   - deliver_forward: submit a copy of the message to new recipients
 *     through private/cleanup (the working directory is queue_directory),
 *     with the original envelope sender and a Delivered-To: header, as
 *     Postfix's local does for aliases and .forward files.
 *
 * Failures: a request that cannot be parsed or whose queue file cannot be
 * opened gets a request-level error reply (qmgr defers everything). A
 * child that dies, hangs or cannot change its uid is a temporary failure
 * of that recipient. Nothing here exits the process, except a failed
 * switch back to root in deliver_as_euid.
 */
#ifndef TERN_MAIL_DELIVER_AGENT_H
#define TERN_MAIL_DELIVER_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "base/attr.h"
#include "mail/qfile.h"

#define DELIVER_TEXT_MAX	300

/* deliver_out - the outcome of one delivery (fixed size: it crosses a pipe) */
enum deliver_state { DELIVER_SENT = 's', DELIVER_DEFER = 'd', DELIVER_BOUNCE = 'b' };
struct deliver_out {
	char state;			/* enum deliver_state */
	char dsn[16];			/* "2.0.0" */
	char text[DELIVER_TEXT_MAX];	/* "delivered to maildir" */
	bool logged;			/* the agent logged this recipient's destinations
					 * itself (deliver_job_log); deliver_job_result does
					 * not log it again. deliver_serve starts it false. */
	bool dsn_relayed;		/* SENT to a next hop that supports DSN and got the
					 * recipient's NOTIFY: the success notice is its job
					 * now; the slot is marked notified and qmgr hears
					 * "relayed" (RFC 3461 section 4.1) */
};

/* deliver_set - fill out (printf-style text); returns 0 for SENT, -1 otherwise */
int deliver_set(struct deliver_out *out, enum deliver_state state, const char *dsn,
		const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* deliver_line - a destination's log line that waits for its recipient's slot */
struct deliver_line {
	char *to;
	char *orig_to;			/* NULL: none */
	const char *relay;		/* a constant ("local") */
	struct deliver_out out;
};

/* deliver_job - one DELIVER request in progress */
struct deliver_job {
	const char *qid;
	const char *queue_file;
	const char *nexthop;
	const char *sender;
	int64_t arrival;
	int64_t queued_us;		/* qmgr's activation time (delays=) */
	int64_t flags;
	size_t nrcpts;
	int64_t *index;			/* rcpt_index values */
	const char **rcpt;		/* rcpt values (point into the request frame) */
	struct qfile *qf;		/* read-write: slots */
	struct qfile *ro;		/* the content: read-only, or qf itself (deliver_serve_jobs) */
	long long start_us;
	struct attr_list reply;
	bool failed;			/* a request-level error reply was made */
	struct deliver_line *pending;	/* deliver_job_log_pending lines not logged yet */
	size_t npending;
};

/*
 * deliver_job_begin - parse frame, open the queue file read-write, take
 * the shared lock, then read the envelope (so every slot is read under
 * the lock); false when the request cannot be worked on (job->reply then
 * holds the error reply and the reason was logged). frame must outlive
 * the job. one_fd: job->ro is job->qf, and a file up to 1 MiB is read
 * once for envelope and content (QFILE_OPEN_KEEP); otherwise job->ro is
 * a second, read-only descriptor from the start. A delivery child
 * (deliver_as), which must not hold the lock, reads the content through
 * deliver_job_child_content.
 */
bool deliver_job_begin(struct deliver_job *job, const struct attr_list *frame, bool one_fd);
/*
 * deliver_job_child_content - make job->ro readable in a deliver_as child
 * that closes job->qf's descriptor (the lock must not live on in it): a
 * no-op when the whole file is in memory (one_fd and at most 1 MiB) or
 * job->ro is a descriptor of its own already; otherwise a second,
 * read-only descriptor is opened (once per job) and becomes job->ro.
 * 0, or -1 with out set to a temporary failure.
 */
int deliver_job_child_content(struct deliver_job *job, struct deliver_out *out);
/*
 * deliver_job_result - recipient i is done for this run: final states go
 * into its slot (and are fsync'ed) first, then the lines
 * deliver_job_log_pending kept, then the recipient's own log line (unless
 * out->logged), then the reply entry. relay: "local", "virtual".
 */
void deliver_job_result(struct deliver_job *job, size_t i, const struct deliver_out *out,
			const char *relay);
/*
 * deliver_job_log - the Postfix-shape delivery line for one destination
 * of job: "QID: to=<to>, orig_to=<orig_to>, relay=R, delay=D,
 * delays=a/b/0/d, dsn=X.Y.Z, status=S (text)"; orig_to is left out when
 * NULL or the same address as to (an agent that expands a recipient, as
 * local does aliases, logs each final destination with the recipient as
 * orig_to, the way Postfix's local does).
 */
void deliver_job_log(const struct deliver_job *job, const char *to, const char *orig_to,
		     const struct deliver_out *out, const char *relay);
/*
 * deliver_job_log_pending - the same line, kept until the next
 * deliver_job_result or deliver_job_results of job has made the
 * recipient's slot durable (or, for a deferral, has nothing to write):
 * an agent that expands a recipient logs each destination while it works
 * and the durability order stays: mailbox, slot, log line, reply. Lines
 * still kept at deliver_job_end are logged then.
 */
void deliver_job_log_pending(struct deliver_job *job, const char *to, const char *orig_to,
			     const struct deliver_out *out, const char *relay);
/* deliver_job_end - release everything but job->reply (send it, then deliver_job_free) */
void deliver_job_end(struct deliver_job *job);
void deliver_job_free(struct deliver_job *job);

/*
 * deliver_tally - the outcome of one recipient that expanded to several
 * destinations (aliases, .forward, virtual aliases): the first deferral
 * wins, else the first bounce, else the delivery.
 */
struct deliver_tally {
	int sent, deferred, bounced;
	struct deliver_out first_fail;	/* the first deferral, else the first bounce */
	struct deliver_out last_ok;
};
/* deliver_tally_add - count one destination's outcome; failures are logged */
void deliver_tally_add(struct deliver_tally *t, const char *qid, const char *rcpt,
		       const struct deliver_out *out);
/* deliver_tally_total - how many outcomes were counted */
int deliver_tally_total(const struct deliver_tally *t);
/* deliver_tally_result - the recipient's result from what was counted */
void deliver_tally_result(const struct deliver_tally *t, const char *rcpt, struct deliver_out *out);

/* deliver_recipient_fn - an agent's work for recipient i of job: fill in *out */
typedef void (*deliver_recipient_fn)(struct deliver_job *job, size_t i,
				     struct deliver_out *out, void *ctx);
struct service;
/*
 * deliver_serve - the request loop of every delivery agent (SINGLE
 * services): read DELIVER requests from fd (ipc_timeout per read and
 * write), call recipient() for each recipient of a request that parsed,
 * record and log each result with relay, reply, and go on until the peer
 * closes, a stop is requested, or max_use requests were served on this
 * connection (qmgr reuses its connections; see deliver_agent.c).
 */
void deliver_serve(struct service *svc, int fd, const char *relay,
		   deliver_recipient_fn recipient, void *ctx);
/*
 * deliver_serve_jobs - the same loop for agents that work on a whole
 * request at once (smtp: one transaction for many recipients). Recipients
 * whose slot is final already are answered from it and left out of the
 * job; job() must call deliver_job_result once for each
 * recipient left, or deliver_job_results once for all of them.
 */
typedef void (*deliver_job_fn)(struct deliver_job *job, void *ctx);
void deliver_serve_jobs(struct service *svc, int fd, deliver_job_fn job, void *ctx);
/*
 * deliver_job_results - every recipient of job at once (outs[i],
 * relays[i], notes[i] or notes NULL; a note is added to the log line's
 * status text only, e.g. smtp's "tls=TLSv1.3 cipher=... verified=dane-ee
 * policy=dane", qmgr gets outs[i].text alone): all final states go into their
 * slots, then ONE fsync, then the log lines and reply entries; the same
 * promise as deliver_job_result (nothing logged or answered before the
 * results are durable) with one fsync a request instead of one a
 * recipient.
 */
void deliver_job_results(struct deliver_job *job, const struct deliver_out *outs,
			 const char *const *relays, const char *const *notes);

/* deliver_cred - whom a delivery runs as */
struct deliver_cred {
	uid_t uid;
	gid_t gid;
};

/*
 * deliver_as - fork; the child closes close_fd (-1: none), becomes
 * cred (only when the process is root; otherwise cred must be the
 * process's own uid, else a temporary failure), calls fn(arg, out) and
 * sends out back. Waits at most timeout seconds, then kills the child.
 * out is always filled.
 */
void deliver_as(const struct deliver_cred *cred, int close_fd, long long timeout,
		void (*fn)(void *arg, struct deliver_out *out), void *arg,
		struct deliver_out *out);

/*
 * deliver_as_euid - call fn(arg, out) in this process with cred's
 * effective ids: setgroups to cred->gid, setegid, seteuid, verified with
 * geteuid/getegid/getgroups; afterwards seteuid(0), setegid and
 * setgroups back to the agent's own (read once a process, at the first
 * call: nothing else changes them), verified. For mailbox writes only
 * (no user code runs: commands go through deliver_as). A switch to cred
 * that fails or does not take is a temporary failure in out; a switch
 * back that fails exits the process (msg_fatal) so master starts a fresh
 * agent. No time limit: fn runs to its end. A non-root agent calls fn
 * only when cred is its own uid (else a temporary failure). cred->uid 0
 * is refused.
 */
void deliver_as_euid(const struct deliver_cred *cred, void (*fn)(void *arg, struct deliver_out *out),
		     void *arg, struct deliver_out *out);

/* deliver_drop - become cred for good (in a child); 0, or -1 with out filled */
int deliver_drop(const struct deliver_cred *cred, struct deliver_out *out);

/*
 * deliver_forward - submit job's message to rcpts through
 * private/cleanup with the original sender, a "Delivered-To: delivered_to"
 * header first, CLEANUP_FLAG_HOLD when hold. 0 with the new queue id in
 * qid[qid_size], or -1 with out set to a temporary failure (or to the
 * error cleanup gave: 5xx bounces).
 */
int deliver_forward(struct deliver_job *job, const char *const *rcpts, size_t n,
		    const char *delivered_to, bool hold, int timeout_s,
		    char *qid, size_t qid_size, struct deliver_out *out);

/*
 * deliver_prefix - the header lines a delivered copy starts with:
 * "Return-Path: <sender>\nDelivered-To: rcpt\n", into a new string
 */
char *deliver_prefix(const char *sender, const char *rcpt);

/*
 * deliver_delivered_to - true when the message's header section has a
 * "Delivered-To:" header whose value is addr (case-insensitive): a
 * forwarding loop. -1 when the queue file cannot be read.
 */
int deliver_delivered_to(struct qfile *qf, const char *addr);

#endif
