/*
 * ternqueue_print - the wide (-p -w) and JSON (-j) layouts of ternqueue.
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
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "base/mem.h"
#include "mail/cleanup_proto.h"
#include "ternqueue.h"

/* ternqueue_rcpts - the recipients still to do, with reasons (NULL: none) */
struct ternqueue_rcpts {
	const char **addr;
	const char **reason;
	size_t n;
};

/* ternqueue_collect - the item's recipients still to do */
static void ternqueue_collect(const struct queue_list_item *it, struct ternqueue_rcpts *r)
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

/* ternqueue_cmp - qsort: domains, ignoring case */
static int ternqueue_cmp(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *) a, *(const char *const *) b);
}

/* ternqueue_domains - the distinct recipient domains, sorted; *n of them */
static const char **ternqueue_domains(const struct ternqueue_rcpts *r, size_t *n)
{
	const char **d;
	size_t k = 0;

	*n = 0;
	if (r->n == 0)
		return NULL;
	d = xcalloc(r->n, sizeof(*d));
	for (size_t i = 0; i < r->n; i++)
		d[i] = queue_list_domain(r->addr[i]);
	qsort(d, r->n, sizeof(*d), ternqueue_cmp);
	for (size_t i = 0; i < r->n; i++)
		if (k == 0 || strcasecmp(d[k - 1], d[i]) != 0)
			d[k++] = d[i];
	*n = k;
	return d;
}

/* ternqueue_utf8 - length of a valid UTF-8 sequence at p (2-4), or 0 */
static size_t ternqueue_utf8(const unsigned char *p)
{
	size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
	    : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : 0;

	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

/* ternqueue_json_str - s as a JSON string */
static void ternqueue_json_str(FILE *out, const char *s)
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
		} else if ((n = ternqueue_utf8(p)) != 0) {
			fwrite(p, 1, n, out);
			p += n;
		} else {
			fputs("\\ufffd", out);
			p++;
		}
	}
	fputc('"', out);
}

/* ternqueue_text - s for the terminal: control characters as '?' */
static void ternqueue_text(FILE *out, const char *s)
{
	for (; *s; s++)
		fputc((unsigned char) *s < 0x20 || *s == 0x7f ? '?' : *s, out);
}

/* ternqueue_print_json - one message as a JSON line */
static void ternqueue_print_json(struct ternqueue_printer *p, const struct queue_list_item *it,
				 const char *sender, const struct ternqueue_rcpts *r,
				 const char **doms, size_t ndoms)
{
	FILE *out = p->out;

	fputs("{\"queue_name\":", out);
	ternqueue_json_str(out, it->queue);
	fputs(",\"queue_id\":", out);
	ternqueue_json_str(out, it->id);
	if (it->error != NULL) {
		fputs(",\"error\":", out);
		ternqueue_json_str(out, it->error);
		fputs("}\n", out);
		return;
	}
	fprintf(out, ",\"arrival_time\":%lld,\"message_size\":%lld,\"status_mark\":\"%c\",\"sender\":",
		it->arrival, it->size, it->mark);
	ternqueue_json_str(out, sender);
	fputs(",\"sender_domain\":", out);
	ternqueue_json_str(out, queue_list_domain(sender));
	fputs(",\"recipient_domains\":[", out);
	for (size_t i = 0; i < ndoms; i++) {
		if (i > 0)
			fputc(',', out);
		ternqueue_json_str(out, doms[i]);
	}
	fputs("],\"recipients\":[", out);
	for (size_t i = 0; i < r->n; i++) {
		fputs(i > 0 ? ",{\"address\":" : "{\"address\":", out);
		ternqueue_json_str(out, r->addr[i]);
		if (r->reason[i] != NULL) {
			fputs(",\"delay_reason\":", out);
			ternqueue_json_str(out, r->reason[i]);
		}
		fputc('}', out);
	}
	fputs("]}\n", out);
}

#define TERNQUEUE_WIDE_HEADING \
	"-Queue ID-------- M --Size-- ---Arrival Time---- -Sender Domain------ " \
	"-Recipient Domains-- -Sender/Recipient (reason)-\n"
#define TERNQUEUE_WIDE_INDENT 81

/* ternqueue_print_wide - one message in the wide layout */
static void ternqueue_print_wide(struct ternqueue_printer *p, const struct queue_list_item *it,
				 const char *sender, const struct ternqueue_rcpts *r,
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
		ternqueue_text(out, it->error);
		fputs(")\n\n", out);
		return;
	}
	if (localtime_r(&t, &tm) != NULL)
		strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S", &tm);
	fprintf(out, "%-17s %c %8lld %-19s ", it->id, it->mark, it->size, when);
	ternqueue_text(out, sd);
	fprintf(out, "%*s", sdlen < 20 ? (int) (21 - sdlen) : 1, "");
	for (size_t i = 0; i < ndoms; i++) {
		if (i > 0) {
			fputc(',', out);
			width++;
		}
		ternqueue_text(out, doms[i]);
		width += (int) strlen(doms[i]);
	}
	fprintf(out, "%*s", width < 20 ? 21 - width : 1, "");
	ternqueue_text(out, sender[0] ? sender : "MAILER-DAEMON");
	fputc('\n', out);
	for (size_t i = 0; i < r->n; i++) {
		fprintf(out, "%*s", TERNQUEUE_WIDE_INDENT, "");
		ternqueue_text(out, r->addr[i]);
		if (r->reason[i] != NULL) {
			fputs(" (", out);
			ternqueue_text(out, r->reason[i]);
			fputc(')', out);
		} else if (it->qf == NULL) {
			fputs(" (waiting in maildrop for pickup)", out);
		}
		fputc('\n', out);
	}
	fputc('\n', out);
}

/* ternqueue_print_item - one message */
int ternqueue_print_item(const struct queue_list_item *it, void *ctx)
{
	struct ternqueue_printer *p = ctx;
	struct ternqueue_rcpts r;
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
	ternqueue_collect(it, &r);
	doms = ternqueue_domains(&r, &ndoms);
	if (p->json)
		ternqueue_print_json(p, it, sender, &r, doms, ndoms);
	else
		ternqueue_print_wide(p, it, sender, &r, doms, ndoms);
	free(doms);
	free(r.addr);
	free(r.reason);
	return 0;
}

/* ternqueue_print_end - the summary of the wide layout */
void ternqueue_print_end(struct ternqueue_printer *p)
{
	if (p->json)
		return;
	if (p->count == 0)
		fputs("Mail queue is empty\n", p->out);
	else
		fprintf(p->out, "-- %lld Kbytes in %ld Request%s.\n", (p->bytes + 1023) / 1024, p->count,
			p->count == 1 ? "" : "s");
}
