/*
 * bounce - delivery status notifications (Postfix's bounce(8)): failure,
 * delay and success notices in RFC 3464 form, sent from the null sender.
 *
 * qmgr connects to "private/bounce" and sends BOUNCE requests
 * (deliver_proto.h): op failure|delay|success, the queue id and file,
 * the indexes of the recipients to report, and to_postmaster. For each,
 * bounce reads the queue file (envelope, ORCPT, NOTIFY, RET, ENVID,
 * content) and the reasons qmgr wrote in bounce/QID (failure) or
 * defer/QID (delay; also read for a failure without a bounce/QID line),
 * builds the notice with lib/mail/dsn.c and submits it through
 * private/cleanup (mail/cleanup_submit.h). It replies "ok" with cleanup's
 * queue id only after cleanup's ok, and logs
 *	QID: sender non-delivery notification: NEWQID
 * ("delay notification", "delivery status notification"; "postmaster"
 * instead of "sender" for a double bounce).
 *
 * Policy, checked here again whatever qmgr asked:
 *   - a recipient is reported only when its NOTIFY allows it (absent
 *     NOTIFY means FAILURE,DELAY; NEVER means never);
 *   - a failure notice about a message from <> goes to
 *     bounce_notice_recipient (dsn_kind "double"); a message that is
 *     itself a double bounce is never reported; delay and success
 *     notices are never sent for a message from <>. Nothing to send is
 *     "ok" with an empty queue_id;
 *   - the original is included whole in a failure notice when RET is not
 *     HDRS, the message is not REQUIRETLS (RFC 8689 section 5) and it is
 *     at most bounce_size_limit bytes; otherwise its headers only (also
 *     for delay and success notices, RFC 3461 section 4.3).
 *
 * Process: SERVICE_SINGLE on the skeleton; a connection carries any
 * number of requests, each read with ipc_timeout. Failures of one request
 * (unreadable queue file, cleanup refusing) are an "error" reply with the
 * reason; qmgr tries again later. A malformed frame closes the connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/buf.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/cleanup_submit.h"
#include "mail/config.h"
#include "mail/deliver_proto.h"
#include "mail/dsn.h"
#include "mail/qfile.h"
#include "mail/service.h"

#define BOUNCE_REASON_FILE_MAX	(16L * 1024 * 1024)	/* bytes of a reason file read */
#define BOUNCE_LINE_MAX		8192			/* one reason line */
#define BOUNCE_PATH_MAX		256
#define BOUNCE_CHUNK		(64 * 1024)
#define BOUNCE_TEXT_MAX		300			/* error text in a reply */

/* bounce - this process's settings */
static struct bounce {
	const char *myhostname;
	long long size_limit;
	long long queue_lifetime;
	char *notice_recipient;		/* qualified */
	int timeout_ms;
} bounce;

/* bounce_reasons - the last reason line of each recipient index */
struct bounce_reasons {
	char **line;			/* per index, NULL: none (the line, split in place) */
	struct dsn_reason *rs;
	size_t n;
};

/* bounce_reasons_read - read path (absent is fine) into r, sized for n recipients */
static void bounce_reasons_read(const char *path, struct bounce_reasons *r)
{
	char line[BOUNCE_LINE_MAX];
	struct dsn_reason rs;
	long total = 0;
	FILE *fp;
	size_t len;

	if ((fp = fopen(path, "r")) == NULL) {
		if (errno != ENOENT)
			msg_warn("open %s: %s", path, strerror(errno));
		return;
	}
	while (total < BOUNCE_REASON_FILE_MAX && fgets(line, sizeof(line), fp) != NULL) {
		len = strlen(line);
		total += (long) len;
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		else if (!feof(fp)) {		/* an over-long line: skip the rest of it */
			int c;

			while ((c = getc(fp)) != EOF && c != '\n')
				total++;
		}
		char *copy = xstrdup(line);

		if (dsn_reason_parse(copy, &rs) < 0 || (size_t) rs.index >= r->n) {
			msg_warn("%s: malformed or out-of-range line ignored", path);
			free(copy);
			continue;
		}
		free(r->line[rs.index]);	/* the last line for an index wins */
		r->line[rs.index] = copy;
		r->rs[rs.index] = rs;
	}
	fclose(fp);
}

/* bounce_reasons_free - release r */
static void bounce_reasons_free(struct bounce_reasons *r)
{
	for (size_t i = 0; i < r->n; i++)
		free(r->line[i]);
	free(r->line);
	free(r->rs);
}

/* bounce_wanted - does the recipient's NOTIFY ask for this kind of notice */
static bool bounce_wanted(enum dsn_kind kind, unsigned notify)
{
	if (notify & QFILE_NOTIFY_NEVER)
		return false;
	switch (kind) {
	case DSN_FAILURE:
		return notify == 0 || (notify & QFILE_NOTIFY_FAILURE);
	case DSN_DELAY:
		return notify == 0 || (notify & QFILE_NOTIFY_DELAY);
	default:
		return (notify & QFILE_NOTIFY_SUCCESS) != 0;
	}
}

/*
 * bounce_original - the part of the content to include into out: all of
 * it (*full) or the headers, at most bounce_size_limit bytes, cut at a
 * line end (*cut). Returns 0, or -1 with err.
 */
static int bounce_original(struct qfile *qf, enum dsn_kind kind, struct buf *out, bool *full,
			   bool *cut, struct qfile_error *err)
{
	char chunk[BOUNCE_CHUNK];
	uint64_t want, hdr_end;
	ssize_t n;

	*cut = false;
	*full = kind == DSN_FAILURE && qf->dsn_ret != QFILE_RET_HDRS &&
	    !(qf->flags & QFILE_F_REQUIRETLS) && qf->content_len <= (uint64_t) bounce.size_limit;
	if (*full) {
		want = qf->content_len;
	} else {
		if (qfile_header_end(qf, &hdr_end, err) < 0)
			return -1;
		want = hdr_end;
		if (want > (uint64_t) bounce.size_limit) {
			want = (uint64_t) bounce.size_limit;
			*cut = true;
		}
	}
	while (out->len < want && (n = qfile_content_read(qf, chunk, sizeof(chunk), err)) != 0) {
		if (n < 0)
			return -1;
		buf_append(out, chunk, (size_t) n < want - out->len ? (size_t) n : want - out->len);
	}
	if (*cut) {				/* whole lines only */
		char *lf = memrchr(out->data, '\n', out->len);

		buf_truncate(out, lf ? (size_t) (lf - out->data) + 1 : 0);
	}
	return 0;
}

/* bounce_reply - status reply: ok with qid, or error with text */
static void bounce_reply(struct attr_list *r, const char *qid, const char *text)
{
	attr_list_reset(r);
	if (text == NULL) {
		attr_add_str(r, DELIVER_STATUS, "ok");
		attr_add_str(r, "queue_id", qid);	/* CLEANUP_QUEUE_ID */
	} else {
		attr_add_str(r, DELIVER_STATUS, "error");
		attr_add_str(r, DELIVER_TEXT, text);
	}
}

/* bounce_kind - the op's kind; -1 for an unknown op */
static int bounce_kind(const char *op)
{
	if (strcmp(op, BOUNCE_OP_FAILURE) == 0)
		return DSN_FAILURE;
	if (strcmp(op, BOUNCE_OP_DELAY) == 0)
		return DSN_DELAY;
	if (strcmp(op, BOUNCE_OP_SUCCESS) == 0)
		return DSN_SUCCESS;
	return -1;
}

/* bounce_path_ok - a relative queue path without ".." */
static bool bounce_path_ok(const char *p)
{
	return p[0] != '\0' && p[0] != '/' && strstr(p, "..") == NULL && strlen(p) < BOUNCE_PATH_MAX;
}

/* bounce_slot_status - "c.s.d" of a recipient's slot into dst, or "" */
static void bounce_slot_status(const struct qfile_rcpt *rc, char *dst, size_t size)
{
	if (rc->status.dsn_class == 0)
		dst[0] = '\0';
	else
		str_fmt(dst, size, "%u.%u.%u", rc->status.dsn_class, rc->status.dsn_subject,
			rc->status.dsn_detail);
}

/* bounce_rcpts - the recipients to report, with their results; count in *n */
static struct dsn_rcpt *bounce_rcpts(const struct attr_list *req, const struct qfile *qf,
				     enum dsn_kind kind, const struct bounce_reasons *br,
				     const struct bounce_reasons *dr, char (*st)[DSN_STATUS_SIZE],
				     size_t *n, char *err, size_t errlen)
{
	struct dsn_rcpt *out = xcalloc(qf->nrcpts ? qf->nrcpts : 1, sizeof(*out));
	const struct attr *a = NULL;
	bool *seen = xcalloc(qf->nrcpts ? qf->nrcpts : 1, sizeof(*seen));
	*n = 0;
	while ((a = attr_find(req, DELIVER_RCPT_INDEX, a)) != NULL) {
		const struct qfile_rcpt *rc;
		const struct bounce_reasons *src;
		struct dsn_rcpt *d;

		if (a->type != ATTR_INT || a->num < 0 || (uint64_t) a->num >= qf->nrcpts) {
			str_fmt(err, errlen, "bad %s in the request", DELIVER_RCPT_INDEX);
			free(out);
			free(seen);
			return NULL;
		}
		rc = &qf->rcpts[a->num];
		if (seen[a->num] || !bounce_wanted(kind, rc->notify))
			continue;
		seen[a->num] = true;
		d = &out[(*n)++];
		d->addr = rc->addr;
		d->orcpt_type = rc->orcpt_type;
		d->orcpt = rc->orcpt;
		src = br->line[a->num] ? br : dr->line[a->num] ? dr : NULL;
		if (src != NULL) {
			d->status = src->rs[a->num].status;
			d->relay = src->rs[a->num].relay;
			d->text = src->rs[a->num].text;
			d->last_attempt = src->rs[a->num].time;
		} else {			/* no reason line: the recipient's slot */
			bounce_slot_status(rc, st[*n - 1], DSN_STATUS_SIZE);
			d->status = st[*n - 1][0] ? st[*n - 1] : NULL;
			d->last_attempt = rc->status.time;
		}
	}
	free(seen);
	return out;
}

/* bounce_notify - build and submit one notice; the reply goes into r */
static void bounce_notify(const struct attr_list *req, struct attr_list *r)
{
	const char *op, *qid, *path, *kind_name;
	char err[BOUNCE_TEXT_MAX], path2[BOUNCE_PATH_MAX + 16], newqid[QID_SIZE];
	struct bounce_reasons br = {0}, dr = {0};
	struct dsn_report rep = {0};
	struct dsn_rcpt *rcpts = NULL;
	char (*st)[DSN_STATUS_SIZE] = NULL;
	struct buf orig, notice;
	struct qfile_error qe;
	struct qfile *qf;
	int64_t postmaster = 0;
	const char *dsn_kind;
	size_t n = 0;
	int kind;

	if (attr_need_str(req, DELIVER_OP, &op, err, sizeof(err)) < 0
	    || attr_need_str(req, DELIVER_QUEUE_ID, &qid, err, sizeof(err)) < 0
	    || attr_need_str(req, DELIVER_QUEUE_FILE, &path, err, sizeof(err)) < 0) {
		msg_warn("bad request: %s", err);
		bounce_reply(r, "", err);
		return;
	}
	attr_get_int(req, BOUNCE_POSTMASTER, &postmaster);
	if ((kind = bounce_kind(op)) < 0 || !qid_valid(qid) || !bounce_path_ok(path)) {
		str_fmt(err, sizeof(err), "bad request: op '%.32s', queue id '%.32s', file '%.64s'",
			op, qid, path);
		msg_warn("%s", err);
		bounce_reply(r, "", err);
		return;
	}
	if ((qf = qfile_open(path, 0, &qe)) == NULL) {
		str_fmt(err, sizeof(err), "cannot read %s: %s", path, qe.text);
		msg_warn("%s: %s", qid, err);
		bounce_reply(r, "", err);
		return;
	}
	dsn_kind = qfile_attr(qf, QFILE_A_DSN_KIND, NULL);
	if (dsn_kind != NULL && strcmp(dsn_kind, "double") == 0) {
		msg_info("%s: not reported: the message is itself a double bounce", qid);
		bounce_reply(r, "", NULL);
		qfile_close(qf);
		return;
	}
	if (kind == DSN_FAILURE && (postmaster || qf->sender[0] == '\0')) {
		rep.to_postmaster = true;
	} else if (qf->sender[0] == '\0') {
		msg_info("%s: no %s notice for the null sender", qid, op);
		bounce_reply(r, "", NULL);
		qfile_close(qf);
		return;
	}

	br.n = dr.n = qf->nrcpts;
	br.line = xcalloc(br.n + 1, sizeof(*br.line));
	br.rs = xcalloc(br.n + 1, sizeof(*br.rs));
	dr.line = xcalloc(dr.n + 1, sizeof(*dr.line));
	dr.rs = xcalloc(dr.n + 1, sizeof(*dr.rs));
	if (kind == DSN_FAILURE || kind == DSN_SUCCESS) {
		str_fmt(path2, sizeof(path2), "bounce/%s", qid);
		bounce_reasons_read(path2, &br);
	}
	if (kind != DSN_SUCCESS) {
		str_fmt(path2, sizeof(path2), "defer/%s", qid);
		bounce_reasons_read(path2, &dr);
	}
	buf_init(&orig, 0);
	buf_init(&notice, 0);
	st = xcalloc(qf->nrcpts + 1, sizeof(*st));
	rcpts = bounce_rcpts(req, qf, (enum dsn_kind) kind, &br, &dr, st, &n, err, sizeof(err));
	if (rcpts == NULL) {
		msg_warn("%s: %s", qid, err);
		bounce_reply(r, "", err);
		goto out;
	}
	if (n == 0) {
		msg_info("%s: no %s notice: no recipient asked for one", qid, op);
		bounce_reply(r, "", NULL);
		goto out;
	}
	if (bounce_original(qf, (enum dsn_kind) kind, &orig, &rep.full, &rep.cut, &qe) < 0) {
		str_fmt(err, sizeof(err), "cannot read the content of %s: %s", path, qe.text);
		msg_warn("%s: %s", qid, err);
		bounce_reply(r, "", err);
		goto out;
	}
	rep.kind = (enum dsn_kind) kind;
	rep.myhostname = bounce.myhostname;
	rep.qid = qid;
	rep.sender = qf->sender;
	rep.notice_to = rep.to_postmaster ? bounce.notice_recipient : qf->sender;
	rep.envid = qf->envid;
	rep.arrival = qf->arrival_sec;
	rep.now = time(NULL);
	rep.retry_until = qf->arrival_sec + bounce.queue_lifetime;
	rep.smtputf8 = (qf->flags & QFILE_F_SMTPUTF8) != 0;
	rep.orig = orig.data;
	rep.orig_len = orig.len;
	rep.rcpts = rcpts;
	rep.nrcpts = n;

	struct cleanup_message bn = {
		.sender = "",
		.rcpt = rep.notice_to,
		.flags = rep.smtputf8 ? CLEANUP_FLAG_SMTPUTF8 : 0,
		.service = "bounce",
		.dsn_kind = rep.to_postmaster ? "double" : op,
	};
	bool eight_bit = false;

	if (dsn_build(&rep, &notice, &eight_bit) < 0) {
		str_copy(err, "the notice is too large", sizeof(err));
		bounce_reply(r, "", err);
		goto out;
	}
	if (eight_bit || qf->body == QFILE_BODY_8BITMIME)
		bn.flags |= CLEANUP_FLAG_8BITMIME;
	bn.data = notice.data;
	bn.len = notice.len;
	if (cleanup_submit(&bn, bounce.timeout_ms, newqid, err, sizeof(err)) < 0) {
		msg_warn("%s: cannot send the %s notice: %s", qid, op, err);
		bounce_reply(r, "", err);
		goto out;
	}
	kind_name = kind == DSN_FAILURE ? "non-delivery notification"
	    : kind == DSN_DELAY ? "delay notification" : "delivery status notification";
	msg_info("%s: %s %s: %s", qid, rep.to_postmaster ? "postmaster" : "sender", kind_name, newqid);
	bounce_reply(r, newqid, NULL);
out:
	free(st);
	free(rcpts);
	buf_free(&orig);
	buf_free(&notice);
	bounce_reasons_free(&br);
	bounce_reasons_free(&dr);
	qfile_close(qf);
}

/* bounce_on_connection - answer requests until the client closes */
static void bounce_on_connection(struct service *svc, int fd)
{
	struct attr_list req, reply;
	char err[ATTR_ERR_MAX];
	int rc;

	attr_list_init(&req);
	attr_list_init(&reply);
	while (!service_stopping(svc)) {
		rc = ipc_recv(fd, &req, 0, bounce.timeout_ms, err, sizeof(err));
		if (rc <= 0) {
			if (rc < 0 && errno != ECONNRESET)
				msg_warn("request: %s", err);
			break;
		}
		bounce_notify(&req, &reply);
		if (ipc_send(fd, &reply, bounce.timeout_ms) < 0) {
			msg_warn("reply: %s", strerror(errno));
			break;
		}
	}
	attr_list_free(&req);
	attr_list_free(&reply);
}

/* bounce_pre_jail - take the settings */
static void bounce_pre_jail(struct service *svc)
{
	const struct config *cfg = service_config(svc);
	const struct params_qmgr *p = cfg->own;

	bounce.myhostname = cfg->global.myhostname;
	bounce.size_limit = p->bounce_size_limit;
	bounce.queue_lifetime = p->maximal_queue_lifetime;
	bounce.timeout_ms = cfg->global.ipc_timeout > 86400 ? 86400000 : (int) cfg->global.ipc_timeout * 1000;
	if (strchr(p->bounce_notice_recipient, '@') != NULL || p->bounce_notice_recipient[0] == '\0')
		bounce.notice_recipient = xstrdup(p->bounce_notice_recipient[0] ? p->bounce_notice_recipient
						  : "postmaster");
	else
		bounce.notice_recipient = str_dupf("%s@%s", p->bounce_notice_recipient, bounce.myhostname);
	if (strchr(bounce.notice_recipient, '@') == NULL)
		bounce.notice_recipient = str_dupf("postmaster@%s", bounce.myhostname);
}

static const struct service_desc bounce_desc = {
	.program = "bounce",
	.group = "qmgr",
	.kind = SERVICE_SINGLE,
	.pre_jail = bounce_pre_jail,
	.on_connection = bounce_on_connection,
};

int main(int argc, char **argv)
{
	int status = service_main(argc, argv, &bounce_desc);

	free(bounce.notice_recipient);
	return status;
}
