/*
 * queue_print - the queue listings ternqueue prints and the showq
 * service streams to users who cannot read the queue (see
 * queue_print.h): the wide (-p -w) and JSON (-j) layouts, and one entry
 * point for every layout.
 *
 * Wide: one heading line, then per message one line with the queue id,
 * the status mark, the size, the arrival time (ISO, local time), the
 * sender's domain, the recipients' domains (comma-separated, each once,
 * sorted) and the sender; then the recipients still to do, one a line,
 * each followed by its last delay reason in parentheses.
 *
 * JSON: one object per line per message, the fields of postqueue -j
 * (queue_name, queue_id, arrival_time, message_size, sender,
 * recipients[{address, delay_reason}]) plus sender_domain and
 * recipient_domains. Strings are escaped for JSON; bytes that are not
 * valid UTF-8 become U+FFFD. An unreadable file is an object with
 * queue_name, queue_id and error.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/qid.h"
#include "mail/queue_print.h"

#define QUEUE_PRINT_SHOWQ_MS	60000	/* showq: per frame, a big queue takes a while */

/* queue_print_rcpts - the recipients still to do, with reasons (NULL: none) */
struct queue_print_rcpts {
	const char **addr;
	const char **reason;
	size_t n;
};

/* queue_print_collect - the item's recipients still to do */
static void queue_print_collect(const struct queue_list_item *it, struct queue_print_rcpts *r)
{
	size_t cap = 0;

	r->addr = NULL;
	r->reason = NULL;
	r->n = 0;
	if (it->qf != NULL) {
		cap = it->qf->nrcpts;
	} else if (it->begin != NULL) {
		for (const struct attr *a = attr_find(it->begin, CLEANUP_RCPT, NULL); a;
		     a = attr_find(it->begin, CLEANUP_RCPT, a))
			cap++;
	}
	if (cap == 0)
		return;
	r->addr = xcalloc(cap, sizeof(*r->addr));
	r->reason = xcalloc(cap, sizeof(*r->reason));
	if (it->qf != NULL) {
		for (size_t i = 0; i < it->qf->nrcpts; i++) {
			const struct qfile_rcpt *q = &it->qf->rcpts[i];

			if (q->status.state == QFILE_DELIVERED || q->status.state == QFILE_BOUNCED)
				continue;
			r->addr[r->n] = q->addr;
			r->reason[r->n++] = it->reasons != NULL ? it->reasons[i] : NULL;
		}
		return;
	}
	for (const struct attr *a = attr_find(it->begin, CLEANUP_RCPT, NULL); a;
	     a = attr_find(it->begin, CLEANUP_RCPT, a))
		r->addr[r->n++] = a->value;
}

/* queue_print_cmp - qsort: domains, ignoring case */
static int queue_print_cmp(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *) a, *(const char *const *) b);
}

/* queue_print_domains - the distinct recipient domains, sorted; *n of them */
static const char **queue_print_domains(const struct queue_print_rcpts *r, size_t *n)
{
	const char **d;
	size_t k = 0;

	*n = 0;
	if (r->n == 0)
		return NULL;
	d = xcalloc(r->n, sizeof(*d));
	for (size_t i = 0; i < r->n; i++)
		d[i] = queue_list_domain(r->addr[i]);
	qsort(d, r->n, sizeof(*d), queue_print_cmp);
	for (size_t i = 0; i < r->n; i++)
		if (k == 0 || strcasecmp(d[k - 1], d[i]) != 0)
			d[k++] = d[i];
	*n = k;
	return d;
}

/* queue_print_utf8 - length of a valid UTF-8 sequence at p (2-4), or 0 */
static size_t queue_print_utf8(const unsigned char *p)
{
	size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
	    : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : 0;

	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* queue_print_json_str - s as a JSON string */
static void queue_print_json_str(FILE *out, const char *s)
{
	const unsigned char *p = (const unsigned char *) s;

	fputc('"', out);
	while (*p) {
		size_t n;

		if (*p == '"' || *p == '\\') {
			fputc('\\', out);
			fputc(*p++, out);
		} else if (*p < 0x20 || *p == 0x7f) {
			fprintf(out, "\\u%04x", *p++);
		} else if (*p < 0x80) {
			fputc(*p++, out);
		} else if ((n = queue_print_utf8(p)) != 0) {
			fwrite(p, 1, n, out);
			p += n;
		} else {
			fputs("\\ufffd", out);
			p++;
		}
	}
	fputc('"', out);
}

/* queue_print_text - s for the terminal: control characters as '?' */
static void queue_print_text(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char) *s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

/* queue_print_print_json - one message as a JSON line */
static void queue_print_print_json(struct queue_printer *p, const struct queue_list_item *it,
				 const char *sender, const struct queue_print_rcpts *r,
				 const char **doms, size_t ndoms)
{
	FILE *out = p->out;

	fputs("{\"queue_name\":", out);
	queue_print_json_str(out, it->queue);
	fputs(",\"queue_id\":", out);
	queue_print_json_str(out, it->id);
	if (it->error != NULL) {
		fputs(",\"error\":", out);
		queue_print_json_str(out, it->error);
		fputs("}\n", out);
		return;
	}
	fprintf(out, ",\"arrival_time\":%lld,\"message_size\":%lld,\"status_mark\":\"%c\",\"sender\":",
		it->arrival, it->size, it->mark);
	queue_print_json_str(out, sender);
	fputs(",\"sender_domain\":", out);
	queue_print_json_str(out, queue_list_domain(sender));
	fputs(",\"recipient_domains\":[", out);
	for (size_t i = 0; i < ndoms; i++) {
		if (i > 0)
			fputc(',', out);
		queue_print_json_str(out, doms[i]);
	}
	fputs("],\"recipients\":[", out);
	for (size_t i = 0; i < r->n; i++) {
		fputs(i > 0 ? ",{\"address\":" : "{\"address\":", out);
		queue_print_json_str(out, r->addr[i]);
		if (r->reason[i] != NULL) {
			fputs(",\"delay_reason\":", out);
			queue_print_json_str(out, r->reason[i]);
		}
		fputc('}', out);
	}
	fputs("]}\n", out);
}

#define TERNQUEUE_WIDE_HEADING \
	"-Queue ID-------- M --Size-- ---Arrival Time---- -Sender Domain------ " \
	"-Recipient Domains-- -Sender/Recipient (reason)-\n"
#define TERNQUEUE_WIDE_INDENT 81

/* queue_print_print_wide - one message in the wide layout */
static void queue_print_print_wide(struct queue_printer *p, const struct queue_list_item *it,
				 const char *sender, const struct queue_print_rcpts *r,
				 const char **doms, size_t ndoms)
{
	FILE *out = p->out;
	char when[32] = "";
	time_t t = (time_t) it->arrival;
	struct tm tm;
	int width = 0;
	const char *sd = sender[0] ? queue_list_domain(sender) : "-";
	size_t sdlen = strlen(sd);

	if (p->count == 1)
		fputs(TERNQUEUE_WIDE_HEADING, out);
	if (it->error != NULL) {
		fprintf(out, "%-17s %c (%s: unreadable: ", it->id, it->mark, it->queue);
		queue_print_text(out, it->error);
		fputs(")\n\n", out);
		return;
	}
	if (localtime_r(&t, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(out, "%-17s %c %8lld %-19s ", it->id, it->mark, it->size, when);
	queue_print_text(out, sd);
	fprintf(out, "%*s", sdlen < 20 ? (int) (21 - sdlen) : 1, "");
	for (size_t i = 0; i < ndoms; i++) {
		if (i > 0) {
			fputc(',', out);
			width++;
		}
		queue_print_text(out, doms[i]);
		width += (int) strlen(doms[i]);
	}
	fprintf(out, "%*s", width < 20 ? 21 - width : 1, "");
	queue_print_text(out, sender[0] ? sender : "MAILER-DAEMON");
	fputc('\n', out);
	for (size_t i = 0; i < r->n; i++) {
		fprintf(out, "%*s", TERNQUEUE_WIDE_INDENT, "");
		queue_print_text(out, r->addr[i]);
		if (r->reason[i] != NULL) {
			fputs(" (", out);
			queue_print_text(out, r->reason[i]);
			fputc(')', out);
		} else if (it->qf == NULL) {
			fputs(" (waiting in maildrop for pickup)", out);
		}
		fputc('\n', out);
	}
	fputc('\n', out);
}

/* queue_print_item - one message */
int queue_print_item(const struct queue_list_item *it, void *ctx)
{
	struct queue_printer *p = ctx;
	struct queue_print_rcpts r;
	const char *sender = "";
	const char **doms;
	size_t ndoms;

	p->count++;
	if (it->error == NULL)
		p->bytes += it->size;
	if (it->qf != NULL)
		sender = it->qf->sender;
	else if (it->begin != NULL)
		attr_get_str(it->begin, CLEANUP_SENDER, &sender);
	queue_print_collect(it, &r);
	doms = queue_print_domains(&r, &ndoms);
	if (p->json)
		queue_print_print_json(p, it, sender, &r, doms, ndoms);
	else
		queue_print_print_wide(p, it, sender, &r, doms, ndoms);
	free(doms);
	free(r.addr);
	free(r.reason);
	return 0;
}

/* queue_print_end - the summary of the wide layout */
void queue_print_end(struct queue_printer *p)
{
	if (p->json)
		return;
	if (p->count == 0)
		fputs("Mail queue is empty\n", p->out);
	else
		fprintf(p->out, "-- %lld Kbytes in %ld Request%s.\n", (p->bytes + 1023) / 1024, p->count,
			p->count == 1 ? "" : "s");
}

/* queue_print_listing - see queue_print.h */
int queue_print_listing(FILE *out, const char *queue_dir, enum queue_print_layout layout,
			char *const *ids, size_t nids, size_t *missing, char *err, size_t errlen)
{
	struct queue_printer p = {out, layout == QUEUE_PRINT_JSON, 0, 0};
	int rc = 0;

	*missing = 0;
	if (layout == QUEUE_PRINT_MAILQ)
		return queue_list_mailq_ids(out, queue_dir, ids, nids, missing, err, errlen) < 0 ? -1 : 0;
	if (nids == 0)
		rc = queue_list_walk(queue_dir, queue_print_item, &p, err, errlen);
	for (size_t i = 0; i < nids && rc >= 0; i++) {
		rc = qid_valid(ids[i]) ? queue_list_find(queue_dir, ids[i], queue_print_item, &p, err,
							 errlen) : 1;
		if (rc == 1) {
			(*missing)++;
			rc = 0;
		}
	}
	if (rc < 0)
		return -1;
	queue_print_end(&p);
	return 0;
}

static const char *const queue_print_layouts[] = {"mailq", "wide", "json"};

/* queue_print_layout_name - the protocol name of a layout */
const char *queue_print_layout_name(enum queue_print_layout layout)
{
	return queue_print_layouts[layout];
}

/* queue_print_layout_parse - a layout from its protocol name */
int queue_print_layout_parse(const char *name)
{
	for (int i = 0; i < 3; i++)
		if (strcmp(name, queue_print_layouts[i]) == 0)
			return i;
	return -1;
}

/* queue_print_showq_fail - fill err, set errno; -1 */
static int queue_print_showq_fail(int e, char *err, size_t errlen, const char *fmt, const char *arg)
{
	str_fmt(err, errlen, fmt, arg);
	errno = e;
	return -1;
}

/* queue_print_showq - see queue_print.h */
int queue_print_showq(FILE *out, const char *queue_dir, enum queue_print_layout layout,
		      char *const *ids, size_t nids, size_t *missing, char *err, size_t errlen)
{
	char *path = str_dupf("%s/%s", queue_dir, SHOWQ_SOCKET);
	struct attr_list req, frame;
	struct ipc_stream s;
	const char *status = "", *text = "no reason given";
	char why[256];
	int fd, rc = -1;
	int64_t n = 0;

	*missing = 0;
	if ((fd = ipc_connect_unix(path, QUEUE_PRINT_SHOWQ_MS)) < 0) {
		int e = errno;

		str_fmt(err, errlen, "connect to %s: %s", path, strerror(e));
		free(path);
		errno = e;
		return -1;
	}
	attr_list_init(&req);
	attr_list_init(&frame);
	ipc_stream_init(&s);
	attr_add_str(&req, SHOWQ_LAYOUT, queue_print_layout_name(layout));
	for (size_t i = 0; i < nids; i++)
		attr_add_str(&req, SHOWQ_QUEUE_ID, ids[i]);
	if (ipc_request(fd, &req, &frame, 0, QUEUE_PRINT_SHOWQ_MS, why, sizeof(why)) < 0) {
		rc = queue_print_showq_fail(EPROTO, err, errlen, "showq: %s", why);
		goto out;
	}
	attr_get_str(&frame, SHOWQ_STATUS, &status);
	if (strcmp(status, "ok") != 0) {
		attr_get_str(&frame, SHOWQ_TEXT, &text);
		rc = queue_print_showq_fail(EACCES, err, errlen, "%s", text);
		goto out;
	}
	for (;;) {
		const void *p;
		size_t len;
		int r;

		attr_list_reset(&frame);
		if (ipc_recv(fd, &frame, 0, QUEUE_PRINT_SHOWQ_MS, why, sizeof(why)) != 1) {
			rc = queue_print_showq_fail(EPROTO, err, errlen, "showq: listing cut short: %s", why);
			goto out;
		}
		if ((r = ipc_stream_take(&s, &frame, &p, &len, why, sizeof(why))) == IPC_STREAM_ERROR) {
			rc = queue_print_showq_fail(EPROTO, err, errlen, "showq: %s", why);
			goto out;
		}
		if (r == IPC_STREAM_END_OK)
			break;
		if (fwrite(p, 1, len, out) != len) {
			rc = queue_print_showq_fail(EIO, err, errlen, "write: %s", strerror(errno));
			goto out;
		}
	}
	attr_list_reset(&frame);
	if (ipc_recv(fd, &frame, 0, QUEUE_PRINT_SHOWQ_MS, why, sizeof(why)) != 1) {
		rc = queue_print_showq_fail(EPROTO, err, errlen, "showq: no final status: %s", why);
		goto out;
	}
	attr_get_str(&frame, SHOWQ_STATUS, &status);
	if (strcmp(status, "ok") != 0) {
		attr_get_str(&frame, SHOWQ_TEXT, &text);
		rc = queue_print_showq_fail(EIO, err, errlen, "showq: %s", text);
		goto out;
	}
	if (attr_get_int(&frame, SHOWQ_MISSING, &n) && n > 0)
		*missing = (size_t) n;
	rc = 0;
out:
	close(fd);
	free(path);
	attr_list_free(&req);
	attr_list_free(&frame);
	return rc;
}
