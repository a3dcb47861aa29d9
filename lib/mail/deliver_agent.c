/*
 * deliver_agent - request handling, privilege changes and forwarding
 * shared by the final delivery agents (see deliver_agent.h).
 *
 * Invariant: a recipient's final state (sent, bounced) is in its queue
 * file slot and fsync'ed before it is logged or answered, so a crash
 * after the delivery does not deliver again (deliver_proto.h).
 *
 * Lock: while it works on a request the agent holds a shared flock(2) on
 * its read-write descriptor of the queue file (taken in
 * deliver_job_begin before the envelope is read, released by the close
 * in deliver_job_end before the reply is sent). Several agents may work
 * on one message at once (different recipients); qmgr tests for an
 * exclusive lock without waiting before it schedules a file, so a
 * restarted qmgr never hands a message to a second agent while one that
 * a killed qmgr started is still working on it (Postfix does the same). The descriptor is close-on-exec and
 * deliver_as closes it in its children, so no child keeps the lock (a
 * child reads the content from the file kept in memory, or from a second,
 * read-only descriptor: deliver_job_child_content); a
 * deliver_as child dies with its agent (PR_SET_PDEATHSIG), so nothing
 * is delivered that the agent can no longer record. The envelope, every
 * recipient's slot included, is read after the lock is taken: a slot
 * that is final already is answered from the slot and not delivered
 * again; and a request whose qmgr is gone meanwhile (killed while the
 * request waited in the socket) is not worked on at all.
 *
 * System calls of a warm smtp agent per request (relay, one recipient,
 * a file up to 1 MiB): poll + recv for the request, open, flock,
 * fstat, one pread for envelope and content, the peer check, the
 * transaction, one pwritev2 (RWF_DSYNC) of the slot, the log line,
 * close (which unlocks), the reply. local and virtual the same around
 * their mailbox writes (deliver_serve reads the file whole too).
 *
 * Mailbox writes do not fork: deliver_as_euid switches the effective
 * ids in this process (Postfix's set_eugid) and back; the real and saved
 * uid stay 0, so the mailbox owner can neither signal nor trace the
 * agent meanwhile. A switch back that fails exits the agent.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/deliver_agent.h"
#include "mail/deliver_proto.h"
#include "mail/service.h"

#define DELIVER_HEADER_MAX	(1024 * 1024)	/* header bytes searched for Delivered-To */
#define DELIVER_LOCK_TRIES	100		/* shared-lock attempts, DELIVER_LOCK_WAIT_US apart */
#define DELIVER_LOCK_WAIT_US	20000
#define DELIVER_GROUPS_MAX	256		/* supplementary groups of the agent kept by deliver_as_euid */

/* deliver_now_us - microseconds since the epoch */
static long long deliver_now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (long long) tv.tv_sec * 1000000 + tv.tv_usec;
}

/* deliver_set - fill a result */
int deliver_set(struct deliver_out *out, enum deliver_state state, const char *dsn,
		const char *fmt, ...)
{
	va_list ap;

	out->state = (char) state;
	out->dsn_relayed = false;
	str_copy(out->dsn, dsn, sizeof(out->dsn));
	va_start(ap, fmt);
	vsnprintf(out->text, sizeof(out->text), fmt, ap);
	va_end(ap);
	for (char *p = out->text; *p; p++)
		if ((unsigned char) *p < ' ' || *p == 0x7f)
			*p = ' ';
	return state == DELIVER_SENT ? 0 : -1;
}

/* deliver_job_error - make the request-level error reply */
static bool deliver_job_error(struct deliver_job *job, const char *text)
{
	msg_warn("%s: cannot deliver: %s", job->qid ? job->qid : "request", text);
	attr_list_reset(&job->reply);
	attr_add_str(&job->reply, DELIVER_STATUS, "error");
	attr_add_str(&job->reply, DELIVER_TEXT, text);
	job->failed = true;
	return false;
}

/*
 * deliver_job_lock - the shared lock on the read-write descriptor; waits
 * at most DELIVER_LOCK_TRIES * DELIVER_LOCK_WAIT_US (qmgr's exclusive
 * test holds it only for an instant); 0, or -1 with errno
 */
static int deliver_job_lock(int fd)
{
	for (int i = 0; i < DELIVER_LOCK_TRIES; i++) {
		if (flock(fd, LOCK_SH | LOCK_NB) == 0)
			return 0;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return -1;
		usleep(DELIVER_LOCK_WAIT_US);
	}
	errno = EWOULDBLOCK;
	return -1;
}

/* deliver_job_child_content - see deliver_agent.h */
int deliver_job_child_content(struct deliver_job *job, struct deliver_out *out)
{
	struct qfile_error qerr;

	/* rd_cache: the whole file kept by QFILE_OPEN_KEEP, read without the descriptor */
	if (job->ro != job->qf || job->qf->rd_cache != NULL)
		return 0;
	job->ro = qfile_open(job->queue_file, 0, &qerr);
	if (job->ro == NULL) {
		job->ro = job->qf;
		return deliver_set(out, DELIVER_DEFER, "4.3.0", "cannot open the queue file again: %s", qerr.text);
	}
	return 0;
}

/* deliver_job_begin - see deliver_agent.h */
bool deliver_job_begin(struct deliver_job *job, const struct attr_list *frame, bool one_fd)
{
	const struct attr *a = NULL, *r = NULL;
	const char *op;
	char err[768];
	struct qfile_error qerr;
	size_t cap = 0;
	int fd;

	memset(job, 0, sizeof(*job));
	attr_list_init(&job->reply);
	job->start_us = deliver_now_us();
	if (attr_need_str(frame, DELIVER_OP, &op, err, sizeof(err)) != 0)
		return deliver_job_error(job, err);
	if (strcmp(op, DELIVER_OP_DELIVER) != 0)
		return deliver_job_error(job, "unknown operation");
	if (attr_need_str(frame, DELIVER_QUEUE_ID, &job->qid, err, sizeof(err)) != 0 ||
	    attr_need_str(frame, DELIVER_QUEUE_FILE, &job->queue_file, err, sizeof(err)) != 0 ||
	    attr_need_str(frame, DELIVER_SENDER, &job->sender, err, sizeof(err)) != 0)
		return deliver_job_error(job, err);
	if (!attr_get_str(frame, DELIVER_NEXTHOP, &job->nexthop))
		job->nexthop = "";
	if (!attr_get_int(frame, DELIVER_ARRIVAL, &job->arrival))
		job->arrival = 0;
	if (!attr_get_int(frame, DELIVER_QUEUED, &job->queued_us))
		job->queued_us = 0;
	if (!attr_get_int(frame, DELIVER_FLAGS, &job->flags))
		job->flags = 0;
	if (job->queue_file[0] == '/' || strstr(job->queue_file, "..") != NULL)
		return deliver_job_error(job, "queue_file must be a path inside queue_directory");
	for (;;) {
		a = attr_find(frame, DELIVER_RCPT_INDEX, a);
		r = attr_find(frame, DELIVER_RCPT, r);
		if (a == NULL && r == NULL)
			break;
		if (a == NULL || r == NULL || a->type != ATTR_INT || r->type != ATTR_STR)
			return deliver_job_error(job, "rcpt_index and rcpt do not pair up");
		if (job->nrcpts == cap) {
			cap = cap ? 2 * cap : 8;
			job->index = xreallocarray(job->index, cap, sizeof(*job->index));
			job->rcpt = xreallocarray(job->rcpt, cap, sizeof(*job->rcpt));
		}
		job->index[job->nrcpts] = a->num;
		job->rcpt[job->nrcpts++] = r->value;
	}
	if (job->nrcpts == 0)
		return deliver_job_error(job, "no recipients");
	/*
	 * Lock first, then read the envelope: the recipients' slots read are
	 * then what every earlier agent recorded (no second read of a slot).
	 */
	fd = open(job->queue_file, O_RDWR | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, sizeof(err), "%s: open %s: %s", job->queue_file, job->queue_file,
			 strerror(errno));
		return deliver_job_error(job, err);
	}
	if (deliver_job_lock(fd) < 0) {
		snprintf(err, sizeof(err), "%s: cannot lock the queue file: %s", job->queue_file,
			 errno == EWOULDBLOCK ? "another process holds it" : strerror(errno));
		(void) close(fd);
		return deliver_job_error(job, err);
	}
	job->qf = qfile_open_fd(fd, job->queue_file, QFILE_OPEN_RDWR | (one_fd ? QFILE_OPEN_KEEP : 0), &qerr);
	if (job->qf == NULL) {
		snprintf(err, sizeof(err), "%s: %s", job->queue_file, qerr.text);
		return deliver_job_error(job, err);
	}
	job->ro = one_fd ? job->qf : qfile_open(job->queue_file, 0, &qerr);
	if (job->ro == NULL) {
		snprintf(err, sizeof(err), "%s: %s", job->queue_file, qerr.text);
		return deliver_job_error(job, err);
	}
	for (size_t i = 0; i < job->nrcpts; i++)
		if (job->index[i] < 0 || (uint64_t) job->index[i] >= job->qf->nrcpts)
			return deliver_job_error(job, "rcpt_index out of range");
	attr_add_str(&job->reply, DELIVER_STATUS, "ok");
	return true;
}

/* deliver_dsn_parse - "5.1.1" into the slot's fields */
static void deliver_dsn_parse(const char *dsn, struct qfile_rstatus *st)
{
	unsigned c = 0, s = 0, d = 0;

	if (sscanf(dsn, "%u.%u.%u", &c, &s, &d) == 3 && (c == 2 || c == 4 || c == 5) && s < 1000 && d < 1000) {
		st->dsn_class = c;
		st->dsn_subject = s;
		st->dsn_detail = d;
	}
}

/* deliver_job_log - see deliver_agent.h */
void deliver_job_log(const struct deliver_job *job, const char *to, const char *orig_to,
		     const struct deliver_out *out, const char *relay)
{
	const char *status = out->state == DELIVER_SENT ? "sent" :
		out->state == DELIVER_BOUNCE ? "bounced" : "deferred";
	long long now = deliver_now_us();
	double delay, a, b, d;
	bool show_orig = orig_to != NULL && !str_eq_nocase(orig_to, to);

	delay = job->arrival > 0 ? (double) now / 1e6 - (double) job->arrival : 0;
	a = job->queued_us > 0 && job->arrival > 0 ? (double) job->queued_us / 1e6 - (double) job->arrival : 0;
	b = job->queued_us > 0 ? (double) (job->start_us - job->queued_us) / 1e6 : 0;
	d = (double) (now - job->start_us) / 1e6;
	msg_info("%s: to=<%s>%s%s%s, relay=%s, delay=%.2f, delays=%.2f/%.2f/0/%.2f, dsn=%s, status=%s (%s)",
		 job->qid, to, show_orig ? ", orig_to=<" : "", show_orig ? orig_to : "", show_orig ? ">" : "",
		 relay, delay < 0 ? 0 : delay, a < 0 ? 0 : a, b < 0 ? 0 : b, d, out->dsn, status, out->text);
}

/* deliver_job_log_pending - see deliver_agent.h */
void deliver_job_log_pending(struct deliver_job *job, const char *to, const char *orig_to,
			     const struct deliver_out *out, const char *relay)
{
	struct deliver_line *l;

	job->pending = xreallocarray(job->pending, job->npending + 1, sizeof(*job->pending));
	l = &job->pending[job->npending++];
	l->to = xstrdup(to);
	l->orig_to = orig_to != NULL ? xstrdup(orig_to) : NULL;
	l->relay = relay;
	l->out = *out;
}

/* deliver_job_flush - log the kept lines (the slot they wait for is durable now) */
static void deliver_job_flush(struct deliver_job *job)
{
	for (size_t k = 0; k < job->npending; k++) {
		struct deliver_line *l = &job->pending[k];

		deliver_job_log(job, l->to, l->orig_to, &l->out, l->relay);
		free(l->to);
		free(l->orig_to);
	}
	free(job->pending);
	job->pending = NULL;
	job->npending = 0;
}

/*
 * deliver_job_slot - write recipient i's final state into its slot, and
 * with sync make it durable in the same call; 0 or -1, logged
 */
static int deliver_job_slot(struct deliver_job *job, size_t i, const struct deliver_out *out, bool sync)
{
	struct qfile_rstatus st = job->qf->rcpts[job->index[i]].status;
	struct qfile_error qerr;

	st.state = out->state == DELIVER_SENT ? QFILE_DELIVERED : QFILE_BOUNCED;
	if (st.attempts < 65535)
		st.attempts++;
	st.time = deliver_now_us() / 1000000;
	if (out->state == DELIVER_SENT && out->dsn_relayed)
		st.flags |= QFILE_RS_NOTIFIED;	/* the next hop sends any success notice */
	deliver_dsn_parse(out->dsn, &st);
	if ((sync ? qfile_rcpt_update_sync : qfile_rcpt_update)(job->qf, (size_t) job->index[i], &st,
								   &qerr) != 0) {
		msg_error("%s: cannot record the result of <%s> in %s: %s", job->qid,
			  job->rcpt[i], job->queue_file, qerr.text);
		return -1;
	}
	return 0;
}

/* deliver_job_sync - make the slots written so far durable; logged on failure */
static void deliver_job_sync(struct deliver_job *job)
{
	struct qfile_error qerr;

	if (qfile_sync(job->qf, &qerr) != 0)
		msg_error("%s: cannot record the results in %s: %s", job->qid, job->queue_file, qerr.text);
}

/* deliver_job_reply - recipient i's log line (unless logged) and reply entry */
static void deliver_job_reply(struct deliver_job *job, size_t i, const struct deliver_out *out,
			      const char *relay)
{
	const char *status = out->state == DELIVER_SENT ? (out->dsn_relayed ? "relayed" : "sent") :
		out->state == DELIVER_BOUNCE ? "bounced" : "deferred";

	if (!out->logged)
		deliver_job_log(job, job->rcpt[i], NULL, out, relay);
	attr_add_int(&job->reply, DELIVER_R_INDEX, job->index[i]);
	attr_add_str(&job->reply, DELIVER_R_STATUS, status);
	attr_add_str(&job->reply, DELIVER_R_DSN, out->dsn);
	attr_add_str(&job->reply, DELIVER_R_RELAY, relay);
	attr_add_str(&job->reply, DELIVER_R_TEXT, out->text);
}

/* deliver_job_result - see deliver_agent.h */
void deliver_job_result(struct deliver_job *job, size_t i, const struct deliver_out *out,
			const char *relay)
{
	if (out->state != DELIVER_DEFER)
		(void) deliver_job_slot(job, i, out, true);
	deliver_job_flush(job);
	deliver_job_reply(job, i, out, relay);
}

/*
 * deliver_job_peer_ok - false when the qmgr that sent the request is gone
 * (its end of fd is closed). Asked after the lock is taken: a request a
 * killed qmgr left in the socket is then never delivered next to the one
 * a restarted qmgr makes (that qmgr tested the lock before this agent took
 * it, so its predecessor was dead by then and the hang-up shows here)
 */
static bool deliver_job_peer_ok(struct deliver_job *job, int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLRDHUP};

	if (poll(&p, 1, 0) <= 0 || !(p.revents & (POLLRDHUP | POLLHUP | POLLERR)))
		return true;
	msg_info("%s: the queue manager that asked for this delivery is gone; not delivered now",
		 job->qid);
	return false;
}

/* deliver_job_done_already - true when recipient i's slot is final: answered from the slot */
static bool deliver_job_done_already(struct deliver_job *job, size_t i)
{
	const struct qfile_rstatus *st = &job->qf->rcpts[job->index[i]].status;
	const char *status = st->state == QFILE_DELIVERED ? "sent" : "bounced";
	char dsn[16];

	if (st->state != QFILE_DELIVERED && st->state != QFILE_BOUNCED)
		return false;
	if (st->dsn_class == 2 || st->dsn_class == 5)
		str_fmt(dsn, sizeof(dsn), "%u.%u.%u", st->dsn_class, st->dsn_subject, st->dsn_detail);
	else
		str_copy(dsn, st->state == QFILE_DELIVERED ? "2.0.0" : "5.0.0", sizeof(dsn));
	msg_info("%s: <%s>: %s already (recorded in the queue file); not delivered again", job->qid,
		 job->rcpt[i], st->state == QFILE_DELIVERED ? "delivered" : "bounced");
	attr_add_int(&job->reply, DELIVER_R_INDEX, job->index[i]);
	attr_add_str(&job->reply, DELIVER_R_STATUS, status);
	attr_add_str(&job->reply, DELIVER_R_DSN, dsn);
	attr_add_str(&job->reply, DELIVER_R_RELAY, "none");
	attr_add_str(&job->reply, DELIVER_R_TEXT, st->state == QFILE_DELIVERED ?
		     "delivered already" : "bounced already");
	return true;
}

/*
 * deliver_job_end - release the lock, the queue files and arrays. The
 * close of the read-write descriptor releases the lock: it is the only
 * descriptor of that open file (close-on-exec, closed in deliver_as
 * children, which are waited for).
 */
void deliver_job_end(struct deliver_job *job)
{
	deliver_job_flush(job);
	if (job->ro != job->qf)
		qfile_close(job->ro);
	qfile_close(job->qf);
	job->qf = job->ro = NULL;
	free(job->index);
	free(job->rcpt);
	job->index = NULL;
	job->rcpt = NULL;
}

/* deliver_job_free - and the reply */
void deliver_job_free(struct deliver_job *job)
{
	deliver_job_end(job);
	attr_list_free(&job->reply);
}

/* deliver_drop - become cred for good, verified */
int deliver_drop(const struct deliver_cred *cred, struct deliver_out *out)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg, groups[4];
	int ngroups;

	if (geteuid() != 0) {
		if (cred->uid != geteuid())
			return deliver_set(out, DELIVER_DEFER, "4.3.0", "cannot deliver as uid %ld: "
					   "the agent does not run as root", (long) cred->uid);
		return 0;
	}
	if (cred->uid == 0)
		return deliver_set(out, DELIVER_DEFER, "4.3.0", "refusing to deliver as root");
	if (setgroups(1, &cred->gid) < 0 || setresgid(cred->gid, cred->gid, cred->gid) < 0 ||
	    setresuid(cred->uid, cred->uid, cred->uid) < 0)
		return deliver_set(out, DELIVER_DEFER, "4.3.0", "cannot change to uid %ld gid %ld: %s",
				   (long) cred->uid, (long) cred->gid, strerror(errno));
	ngroups = getgroups((int) (sizeof(groups) / sizeof(groups[0])), groups);
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
	    ru != cred->uid || eu != cred->uid || su != cred->uid ||
	    rg != cred->gid || eg != cred->gid || sg != cred->gid ||
	    ngroups != 1 || groups[0] != cred->gid || setuid(0) == 0)
		return deliver_set(out, DELIVER_DEFER, "4.3.0", "privilege change to uid %ld did not take",
				   (long) cred->uid);
	return 0;
}

/* deliver_groups - the agent's own supplementary groups, kept across deliver_as_euid */
struct deliver_groups {
	int n;
	gid_t list[DELIVER_GROUPS_MAX];
};

/*
 * deliver_self - the agent's own effective ids and groups, read at the
 * first deliver_as_euid: only deliver_as_euid changes them afterwards,
 * and it restores and verifies them each time (3 system calls a delivery
 * fewer)
 */
static struct deliver_self {
	bool known;
	uid_t euid;
	gid_t egid;
	struct deliver_groups groups;
} deliver_self;

/* deliver_self_get - the agent's ids, read once; NULL (errno) when getgroups fails */
static const struct deliver_self *deliver_self_get(void)
{
	if (!deliver_self.known) {
		deliver_self.groups.n = getgroups(DELIVER_GROUPS_MAX, deliver_self.groups.list);
		if (deliver_self.groups.n < 0)
			return NULL;
		deliver_self.euid = geteuid();
		deliver_self.egid = getegid();
		deliver_self.known = true;
	}
	return &deliver_self;
}

/* deliver_euid_back - become root again with the saved egid and groups, verified; exits on failure */
static void deliver_euid_back(gid_t egid, const struct deliver_groups *saved)
{
	gid_t now[DELIVER_GROUPS_MAX];
	int n;

	/*
	 * Root first (the real and saved uid stayed 0), then the group ids,
	 * which need root. An agent that cannot be root again must not go on
	 * with the next recipient as someone else: exit, master restarts it.
	 */
	if (seteuid(0) != 0 || geteuid() != 0)
		msg_fatal("deliver_as_euid: cannot switch back to euid 0: %s", strerror(errno));
	if (setegid(egid) != 0 || getegid() != egid)
		msg_fatal("deliver_as_euid: cannot switch back to egid %ld: %s", (long) egid, strerror(errno));
	if (setgroups((size_t) saved->n, saved->list) != 0)
		msg_fatal("deliver_as_euid: cannot restore the agent's groups: %s", strerror(errno));
	n = getgroups(DELIVER_GROUPS_MAX, now);
	if (n != saved->n || memcmp(now, saved->list, (size_t) n * sizeof(now[0])) != 0)
		msg_fatal("deliver_as_euid: the agent's groups did not come back");
}

/* deliver_as_euid - run fn in this process with cred's effective ids, then become root again */
void deliver_as_euid(const struct deliver_cred *cred, void (*fn)(void *arg, struct deliver_out *out),
		     void *arg, struct deliver_out *out)
{
	const struct deliver_self *self = deliver_self_get();
	gid_t now[2];

	if (self == NULL) {
		deliver_set(out, DELIVER_DEFER, "4.3.0", "getgroups: %s", strerror(errno));
		return;
	}
	if (self->euid != 0) {
		if (cred->uid != self->euid) {
			deliver_set(out, DELIVER_DEFER, "4.3.0", "cannot deliver as uid %ld: "
				    "the agent does not run as root", (long) cred->uid);
			return;
		}
		fn(arg, out);
		return;
	}
	if (cred->uid == 0) {
		deliver_set(out, DELIVER_DEFER, "4.3.0", "refusing to deliver as root");
		return;
	}
	/* groups and gid while still root, the uid last (Postfix's set_eugid) */
	if (setgroups(1, &cred->gid) != 0 || setegid(cred->gid) != 0 || seteuid(cred->uid) != 0) {
		int err = errno;

		deliver_euid_back(self->egid, &self->groups);
		deliver_set(out, DELIVER_DEFER, "4.3.0", "cannot change to uid %ld gid %ld: %s",
			    (long) cred->uid, (long) cred->gid, strerror(err));
		return;
	}
	if (geteuid() != cred->uid || getegid() != cred->gid || getgroups(2, now) != 1 ||
	    now[0] != cred->gid) {
		deliver_euid_back(self->egid, &self->groups);
		deliver_set(out, DELIVER_DEFER, "4.3.0", "privilege change to uid %ld did not take",
			    (long) cred->uid);
		return;
	}
	fn(arg, out);
	deliver_euid_back(self->egid, &self->groups);
}

/* deliver_read_full - read exactly n bytes from fd before the deadline; 0 or -1 */
static int deliver_read_full(int fd, void *p, size_t n, long long deadline_us)
{
	char *cp = p;

	while (n > 0) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		long long left = (deadline_us - deliver_now_us()) / 1000;
		ssize_t r;

		if (left <= 0)
			return -1;
		if (poll(&pfd, 1, left > 60000 ? 60000 : (int) left) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (pfd.revents == 0)
			continue;
		r = read(fd, cp, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		cp += r;
		n -= (size_t) r;
	}
	return 0;
}

/* deliver_as - run fn in a child as cred, with a time limit */
void deliver_as(const struct deliver_cred *cred, int close_fd, long long timeout,
		void (*fn)(void *arg, struct deliver_out *out), void *arg,
		struct deliver_out *out)
{
	int pfd[2];
	pid_t pid, parent;
	int status;

	if (pipe2(pfd, O_CLOEXEC) != 0) {
		deliver_set(out, DELIVER_DEFER, "4.3.0", "pipe: %s", strerror(errno));
		return;
	}
	parent = getpid();
	pid = fork();
	if (pid < 0) {
		close(pfd[0]);
		close(pfd[1]);
		deliver_set(out, DELIVER_DEFER, "4.3.0", "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		struct deliver_out res;

		close(pfd[0]);
		if (close_fd >= 0)
			close(close_fd);
		signal(SIGTERM, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		memset(&res, 0, sizeof(res));
		if (deliver_drop(cred, &res) == 0) {
			/*
			 * An agent killed in the middle takes its child along (set after
			 * the uid change, which clears it): a delivery the agent cannot
			 * record any more must not finish behind the lock's back.
			 */
			if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
				_exit(1);
			fn(arg, &res);
		}
		if (write(pfd[1], &res, sizeof(res)) != (ssize_t) sizeof(res))
			_exit(1);
		_exit(0);
	}
	close(pfd[1]);
	if (deliver_read_full(pfd[0], out, sizeof(*out),
			      deliver_now_us() + (timeout + 10) * 1000000LL) != 0) {
		kill(pid, SIGKILL);
		deliver_set(out, DELIVER_DEFER, "4.3.0", "delivery process failed or passed the time limit");
	}
	out->dsn[sizeof(out->dsn) - 1] = '\0';
	out->text[sizeof(out->text) - 1] = '\0';
	if (out->state != DELIVER_SENT && out->state != DELIVER_DEFER && out->state != DELIVER_BOUNCE)
		deliver_set(out, DELIVER_DEFER, "4.3.0", "delivery process sent garbage");
	close(pfd[0]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
}

/* deliver_prefix - Return-Path: and Delivered-To: */
char *deliver_prefix(const char *sender, const char *rcpt)
{
	return str_dupf("Return-Path: <%s>\nDelivered-To: %s\n", sender, rcpt);
}

/* deliver_delivered_to - look for Delivered-To: addr in the header */
int deliver_delivered_to(struct qfile *qf, const char *addr)
{
	struct qfile_error qerr;
	uint64_t end;
	char *hdr;
	size_t len, got = 0;
	int found = 0;
	size_t alen = strlen(addr);

	if (qfile_header_end(qf, &end, &qerr) != 0)
		return -1;
	len = end > DELIVER_HEADER_MAX ? DELIVER_HEADER_MAX : (size_t) end;
	hdr = xmalloc(len + 1);
	if (qfile_content_seek(qf, 0, &qerr) != 0) {
		free(hdr);
		return -1;
	}
	while (got < len) {
		ssize_t n = qfile_content_read(qf, hdr + got, len - got, &qerr);

		if (n <= 0)
			break;
		got += (size_t) n;
	}
	hdr[got] = '\0';
	for (char *line = hdr; line != NULL && *line; ) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		if (str_has_prefix_nocase(line, "Delivered-To:")) {
			char *v = str_trim(line + 13);

			if (strlen(v) == alen && str_eq_nocase(v, addr))
				found = 1;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(hdr);
	return found;
}

/* deliver_forward - a new message through cleanup (see deliver_agent.h) */
int deliver_forward(struct deliver_job *job, const char *const *rcpts, size_t n,
		    const char *delivered_to, bool hold, int timeout_s,
		    char *qid, size_t qid_size, struct deliver_out *out)
{
	struct attr_list req, reply;
	struct ipc_stream s;
	struct qfile_error qerr;
	struct buf crlf;
	char err[256];
	char *io = xmalloc(IPC_CHUNK_MAX);
	int fd = -1;
	int ms = timeout_s * 1000;
	int64_t flags = hold ? CLEANUP_FLAG_HOLD : 0;
	int ret = -1;
	ssize_t got = 0;
	const char *st, *text, *dsn;
	int64_t code;

	attr_list_init(&req);
	attr_list_init(&reply);
	buf_init(&crlf, 0);
	ipc_stream_init(&s);
	if (job->ro->body == QFILE_BODY_8BITMIME)
		flags |= CLEANUP_FLAG_8BITMIME;
	if (job->ro->flags & QFILE_F_SMTPUTF8)
		flags |= CLEANUP_FLAG_SMTPUTF8;
	attr_add_str(&req, CLEANUP_OP, CLEANUP_OP_BEGIN);
	attr_add_str(&req, CLEANUP_SENDER, job->sender);
	for (size_t i = 0; i < n; i++)
		attr_add_str(&req, CLEANUP_RCPT, rcpts[i]);
	attr_add_int(&req, CLEANUP_FLAGS, flags);
	attr_add_str(&req, CLEANUP_PROTOCOL, "local");
	attr_add_str(&req, CLEANUP_CLIENT_ADDR, "");
	fd = ipc_connect_unix(CLEANUP_SOCKET_PRIVATE, ms);
	if (fd < 0 && errno == ENOENT)		/* master.conf private column "n" puts it in public/ */
		fd = ipc_connect_unix("public/cleanup", ms);
	if (fd < 0) {
		deliver_set(out, DELIVER_DEFER, "4.3.0", "cannot forward: connect to %s: %s",
			    CLEANUP_SOCKET_PRIVATE, strerror(errno));
		goto out;
	}
	buf_printf(&crlf, "Delivered-To: %s\r\n", delivered_to);
	if (ipc_send(fd, &req, ms) != 0 || qfile_content_seek(job->ro, 0, &qerr) != 0)
		goto ioerr;
	while ((got = qfile_content_read(job->ro, io, IPC_CHUNK_MAX / 2, &qerr)) > 0) {
		for (ssize_t i = 0; i < got; i++) {
			if (io[i] == '\n')
				buf_putc(&crlf, '\r');
			buf_putc(&crlf, io[i]);
		}
		if (ipc_stream_send_chunk(fd, &s, crlf.data, crlf.len, ms) != 0)
			goto ioerr;
		buf_reset(&crlf);
	}
	if (got < 0)
		goto ioerr;
	if ((crlf.len > 0 && ipc_stream_send_chunk(fd, &s, crlf.data, crlf.len, ms) != 0) ||
	    ipc_stream_send_end(fd, &s, ms) != 0 ||
	    ipc_recv(fd, &reply, 0, ms, err, sizeof(err)) != 1)
		goto ioerr;
	if (!attr_get_str(&reply, CLEANUP_STATUS, &st)) {
		deliver_set(out, DELIVER_DEFER, "4.3.0", "cannot forward: cleanup sent no status");
		goto out;
	}
	if (strcmp(st, CLEANUP_STATUS_OK) != 0) {
		if (!attr_get_str(&reply, CLEANUP_REPLY_TEXT, &text))
			text = "error";
		if (!attr_get_str(&reply, CLEANUP_REPLY_DSN, &dsn))
			dsn = "4.3.0";
		if (!attr_get_int(&reply, CLEANUP_REPLY_CODE, &code))
			code = 451;
		deliver_set(out, code >= 500 && dsn[0] == '5' ? DELIVER_BOUNCE : DELIVER_DEFER,
			    code >= 500 && dsn[0] == '5' ? dsn : "4.3.0", "cannot forward: cleanup: %s", text);
		goto out;
	}
	if (!attr_get_str(&reply, CLEANUP_QUEUE_ID, &st))
		st = "?";
	str_copy(qid, st, qid_size);
	ret = 0;
	goto out;
ioerr:
	deliver_set(out, DELIVER_DEFER, "4.3.0", "cannot forward through %s: %s",
		    CLEANUP_SOCKET_PRIVATE, got < 0 ? qerr.text : strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	free(io);
	buf_free(&crlf);
	attr_list_free(&req);
	attr_list_free(&reply);
	return ret;
}

static void deliver_serve_loop(struct service *svc, int fd, deliver_job_fn job_fn, void *ctx, bool one_fd);

/* deliver_each - what deliver_serve gives deliver_serve_jobs */
struct deliver_each {
	const char *relay;
	deliver_recipient_fn recipient;
	void *ctx;
};

/* deliver_each_job - one recipient after the other, each result recorded before the next */
static void deliver_each_job(struct deliver_job *job, void *arg)
{
	struct deliver_each *each = arg;

	for (size_t i = 0; i < job->nrcpts; i++) {
		struct deliver_out out;

		memset(&out, 0, sizeof(out));
		each->recipient(job, i, &out, each->ctx);
		deliver_job_result(job, i, &out, each->relay);
	}
}

/*
 * deliver_serve - serve DELIVER requests until the peer closes, a stop,
 * or max_use requests on this connection (qmgr keeps its connections to
 * agents open from request to request; the skeleton counts connections,
 * so the limit on requests per connection keeps a process's lifetime
 * bounded: at most max_use connections of max_use requests each)
 */
void deliver_serve(struct service *svc, int fd, const char *relay,
		   deliver_recipient_fn recipient, void *ctx)
{
	struct deliver_each each = {relay, recipient, ctx};

	/* one descriptor, the file read whole; a deliver_as child reads via deliver_job_child_content */
	deliver_serve_loop(svc, fd, deliver_each_job, &each, true);
}

/* deliver_tally_add - count one destination's outcome */
void deliver_tally_add(struct deliver_tally *t, const char *qid, const char *rcpt,
		       const struct deliver_out *out)
{
	if (out->state == DELIVER_SENT) {
		t->sent++;
		t->last_ok = *out;
		return;
	}
	if (out->state == DELIVER_DEFER) {
		if (t->deferred++ == 0)
			t->first_fail = *out;
	} else if (t->bounced++ == 0 && t->deferred == 0) {
		t->first_fail = *out;
	}
	msg_info("%s: <%s>: %s %s", qid, rcpt, out->dsn, out->text);
}

/* deliver_tally_total - outcomes counted */
int deliver_tally_total(const struct deliver_tally *t)
{
	return t->sent + t->deferred + t->bounced;
}

/* deliver_tally_result - the recipient's result */
void deliver_tally_result(const struct deliver_tally *t, const char *rcpt, struct deliver_out *out)
{
	if (t->deferred > 0 || t->bounced > 0)
		*out = t->first_fail;
	else if (t->sent == 1)
		*out = t->last_ok;
	else if (t->sent > 1)
		deliver_set(out, DELIVER_SENT, "2.0.0", "delivered to %d destinations", t->sent);
	else
		deliver_set(out, DELIVER_BOUNCE, "5.1.1", "no destination for <%s>", rcpt);
}

/* deliver_job_results - see deliver_agent.h */
void deliver_job_results(struct deliver_job *job, const struct deliver_out *outs,
			 const char *const *relays, const char *const *notes)
{
	size_t nfinal = 0, written = 0;

	for (size_t i = 0; i < job->nrcpts; i++)
		nfinal += outs[i].state != DELIVER_DEFER;
	/* one result: written and synced by one call; more: all written, then one sync */
	for (size_t i = 0; i < job->nrcpts; i++)
		if (outs[i].state != DELIVER_DEFER && deliver_job_slot(job, i, &outs[i], nfinal == 1) == 0)
			written++;
	if (nfinal > 1 && written > 0)
		deliver_job_sync(job);
	deliver_job_flush(job);
	for (size_t i = 0; i < job->nrcpts; i++) {
		struct deliver_out o = outs[i];
		const char *note = notes != NULL ? notes[i] : NULL;

		if (note != NULL && note[0] != '\0' && !o.logged) {
			struct deliver_out shown = o;
			size_t nlen = strlen(note), room = sizeof(shown.text) - 1;
			int keep = nlen < room ? (int) (room - nlen) : 0;

			str_fmt(shown.text, sizeof(shown.text), "%.*s%s", keep, o.text, note);
			deliver_job_log(job, job->rcpt[i], NULL, &shown, relays[i]);
			o.logged = true;
		}
		deliver_job_reply(job, i, &o, relays[i]);
	}
}

/*
 * deliver_in - the request side of one qmgr connection: bytes read but
 * not decoded yet. qmgr sends a request as one write and waits for the
 * reply, so one poll and one recv usually bring a whole frame; what
 * follows a frame stays here for the next one.
 */
struct deliver_in {
	int fd;
	char *data;
	size_t len, cap;
};

/* deliver_in_now_ms - a monotonic clock in milliseconds */
static long long deliver_in_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * deliver_in_recv - the next request frame within ms: 1, 0 when the peer
 * closed between frames (or a stop came while waiting), -1 (err) on a
 * timeout, an I/O error, a malformed or oversized frame
 */
static int deliver_in_recv(struct service *svc, struct deliver_in *in, struct attr_list *frame,
			   int ms, char *err, size_t errlen)
{
	long long deadline = deliver_in_now_ms() + ms;
	bool watch_status = true;	/* off when there is no status pipe (run without master) */

	for (;;) {
		size_t used = 0, need = ATTR_PREFIX, payload;
		int r = attr_decode(in->data, in->len, 0, frame, &used, err, errlen);
		/* between requests the status pipe is watched too: master closing it means stop */
		struct pollfd pfd[2] = {{.fd = in->fd, .events = POLLIN},
					{.fd = service_status_fd(), .events = 0}};
		long long left;
		ssize_t got;

		if (r < 0)
			return -1;
		if (r == 1) {
			memmove(in->data, in->data + used, in->len - used);
			in->len -= used;
			return 1;
		}
		if (attr_frame_size(in->data, in->len, 0, &payload, NULL, 0) == 1)
			need = ATTR_PREFIX + payload;	/* at most ATTR_FRAME_MAX: checked by attr_decode */
		if (need > in->cap) {
			in->cap = need > IPC_CHUNK_MAX ? need : IPC_CHUNK_MAX;
			in->data = xrealloc(in->data, in->cap);
		}
		left = deadline - deliver_in_now_ms();
		if (left <= 0) {
			str_fmt(err, errlen, "read: timeout after %d ms", ms);
			return -1;
		}
		r = poll(pfd, in->len == 0 && watch_status ? 2 : 1, left > INT_MAX ? INT_MAX : (int) left);
		if (r < 0 && errno == EINTR) {
			if (in->len == 0 && service_stopping(svc))
				return 0;
			continue;
		}
		if (r < 0) {
			str_fmt(err, errlen, "poll: %s", strerror(errno));
			return -1;
		}
		if (pfd[1].revents & POLLNVAL)
			watch_status = false;
		else if (in->len == 0 && (pfd[1].revents & (POLLERR | POLLHUP)) != 0)
			return 0;
		if (r == 0 || (pfd[0].revents & (POLLIN | POLLERR | POLLHUP)) == 0)
			continue;
		got = recv(in->fd, in->data + in->len, in->cap - in->len, MSG_DONTWAIT);
		if (got < 0 && errno == ENOTSOCK)
			got = read(in->fd, in->data + in->len, in->cap - in->len);
		if (got < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (got < 0) {
			str_fmt(err, errlen, "read: %s", strerror(errno));
			return -1;
		}
		if (got == 0) {
			if (in->len == 0)
				return 0;
			str_fmt(err, errlen, "connection closed inside a frame (%zu bytes)", in->len);
			return -1;
		}
		in->len += (size_t) got;
	}
}

/* deliver_serve_loop - the request loop behind deliver_serve and deliver_serve_jobs */
static void deliver_serve_loop(struct service *svc, int fd, deliver_job_fn job_fn, void *ctx, bool one_fd)
{
	int ms = (int) (service_config(svc)->global.ipc_timeout * 1000);
	long long max_requests = service_config(svc)->global.max_use;
	struct deliver_in in = {.fd = fd};

	for (long long served = 0; served < max_requests; served++) {
		struct attr_list frame;
		struct deliver_job job;
		char err[256];
		int r;

		attr_list_init(&frame);
		r = deliver_in_recv(svc, &in, &frame, ms, err, sizeof(err));
		if (r != 1) {
			if (r < 0)
				msg_warn("request: %s", err);
			attr_list_free(&frame);
			break;
		}
		if (deliver_job_begin(&job, &frame, one_fd) && deliver_job_peer_ok(&job, fd)) {
			size_t left = 0;

			for (size_t i = 0; i < job.nrcpts; i++) {
				if (deliver_job_done_already(&job, i))
					continue;
				job.index[left] = job.index[i];
				job.rcpt[left++] = job.rcpt[i];
			}
			job.nrcpts = left;
			if (left > 0)
				job_fn(&job, ctx);
		}
		deliver_job_end(&job);
		if (ipc_send(fd, &job.reply, ms) != 0)
			msg_warn("%s: cannot send the reply: %s", job.qid ? job.qid : "request",
				 strerror(errno));
		deliver_job_free(&job);
		attr_list_free(&frame);
		if (service_stop_requested(svc))	/* a closed status pipe: seen by the next wait */
			break;
	}
	free(in.data);
}

/* deliver_serve_jobs - serve DELIVER requests, a whole request per call of job_fn (limits as deliver_serve) */
void deliver_serve_jobs(struct service *svc, int fd, deliver_job_fn job_fn, void *ctx)
{
	deliver_serve_loop(svc, fd, job_fn, ctx, true);
}
