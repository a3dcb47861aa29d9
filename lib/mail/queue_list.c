/*
 * queue_list - walk and list the mail queue; see queue_list.h.
 *
 * The walk reads each directory's names first and sorts them, so the
 * order does not depend on the file system; a directory of n files costs
 * n names of memory. Each file is opened, its envelope read, the
 * callback run, and the file closed before the next one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/maildrop.h"
#include "mail/qid.h"
#include "mail/queue_list.h"

#define QUEUE_LIST_READ_MS	5000	/* reading one maildrop envelope */

/* the queues, in listing order, with their mailq marks */
static const struct {
	const char *name;
	char mark;
} queue_list_queues[] = {
	{"incoming", ' '}, {"active", '*'}, {"deferred", ' '}, {"hold", '!'}, {"timed", '#'},
	{MAILDROP_DIR, ' '},
};

/* queue_list_cmp - qsort: names in byte order */
static int queue_list_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* queue_list_names - the sorted names in dir; NULL with errno on failure */
static char **queue_list_names(const char *dir, size_t *count)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (d == NULL)
		return NULL;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 64;
			names = xreallocarray(names, cap, sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n > 0)
		qsort(names, n, sizeof(*names), queue_list_cmp);
	*count = n;
	return names != NULL ? names : xcalloc(1, sizeof(*names));
}

/* queue_list_maildrop - one maildrop file: its envelope frame; 1 item, 0 skip */
static int queue_list_maildrop(const char *path, struct queue_list_item *it, struct attr_list *l,
			       char *why, size_t whylen)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		if (errno == ENOENT)
			return 0;	/* picked up meanwhile */
		str_fmt(why, whylen, "open: %s", strerror(errno));
		it->error = why;
		return 1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		str_fmt(why, whylen, "not a regular file");
		it->error = why;
		return 1;
	}
	it->size = (long long) st.st_size;
	it->arrival = (long long) st.st_mtime;
	rc = ipc_recv(fd, l, MAILDROP_ENVELOPE_MAX, QUEUE_LIST_READ_MS, why, whylen);
	close(fd);
	if (rc == 0)
		str_fmt(why, whylen, "empty file");
	if (rc <= 0 || maildrop_check_begin(l, why, whylen) < 0)
		it->error = why;
	else
		it->begin = l;
	return 1;
}

/* queue_list_qfile - one queue file; 1 item (*qfp set or it->error), 0 skip */
static int queue_list_qfile(const char *path, struct queue_list_item *it, struct qfile **qfp,
			    char *why, size_t whylen)
{
	struct qfile_error qerr;
	struct qfile *qf = qfile_open(path, 0, &qerr);

	if (qf == NULL) {
		if (qerr.kind == QFILE_ERR_INCOMPLETE ||
		    (qerr.kind == QFILE_ERR_SYSTEM && qerr.errnum == ENOENT))
			return 0;	/* being written, or moved on */
		str_copy(why, qerr.text, whylen);
		it->error = why;
		return 1;
	}
	it->size = (long long) qf->content_len;
	it->arrival = qf->arrival_sec;
	it->qf = qf;
	*qfp = qf;
	return 1;
}

/* queue_list_dir - every message of one queue directory */
static int queue_list_dir(const char *queue_dir, size_t q, queue_list_fn *fn, void *ctx,
			  char *err, size_t errlen)
{
	const char *queue = queue_list_queues[q].name;
	bool maildrop = strcmp(queue, MAILDROP_DIR) == 0;
	char *dir = str_dupf("%s/%s", queue_dir, queue);
	struct attr_list l;
	size_t n = 0;
	char **names = queue_list_names(dir, &n);
	int ret = 0;

	if (names == NULL) {
		int saved = errno;

		if (saved == ENOENT) {
			free(dir);
			return 0;
		}
		str_fmt(err, errlen, "%s: %s", dir, strerror(saved));
		free(dir);
		errno = saved;
		return -1;
	}
	attr_list_init(&l);
	for (size_t i = 0; i < n && ret == 0; i++) {
		struct queue_list_item it = {queue, names[i], queue_list_queues[q].mark, 0, 0,
					     NULL, NULL, NULL};
		struct qfile *qf = NULL;
		char why[400];
		char *path;
		int found;

		if (!qid_valid(names[i]) || (maildrop && !maildrop_name_ok(names[i])))
			continue;
		path = str_dupf("%s/%s", dir, names[i]);
		if (maildrop)
			found = queue_list_maildrop(path, &it, &l, why, sizeof(why));
		else
			found = queue_list_qfile(path, &it, &qf, why, sizeof(why));
		free(path);
		if (found)
			ret = fn(&it, ctx);
		qfile_close(qf);
	}
	attr_list_free(&l);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(dir);
	return ret;
}

/* queue_list_walk - every message under queue_dir */
int queue_list_walk(const char *queue_dir, queue_list_fn *fn, void *ctx, char *err, size_t errlen)
{
	struct stat st;

	if (stat(queue_dir, &st) < 0) {
		int saved = errno;

		str_fmt(err, errlen, "%s: %s", queue_dir, strerror(saved));
		errno = saved;
		return -1;
	}
	for (size_t q = 0; q < sizeof(queue_list_queues) / sizeof(queue_list_queues[0]); q++) {
		int ret = queue_list_dir(queue_dir, q, fn, ctx, err, errlen);

		if (ret != 0)
			return ret;
	}
	return 0;
}

/* mailq: the printer's state */
struct queue_list_printer {
	FILE *out;
	long count;
	long long bytes;
	struct buf text;		/* one printable address */
};

#define QUEUE_LIST_HEADING "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"
#define QUEUE_LIST_INDENT  41		/* recipients, as Postfix's mailq */

/* queue_list_printable - s with control characters as '?', for the terminal */
static const char *queue_list_printable(struct queue_list_printer *p, const char *s)
{
	buf_reset(&p->text);
	for (; *s; s++)
		buf_putc(&p->text, (unsigned char) *s < 0x20 || *s == 0x7f ? '?' : *s);
	return buf_str(&p->text);
}

/* queue_list_reason - why recipient r waits, "" when it is simply pending */
static void queue_list_reason(const struct qfile_rcpt *r, char *out, size_t len)
{
	const struct qfile_rstatus *st = &r->status;

	out[0] = '\0';
	if (st->state != QFILE_DEFERRED)
		return;
	if (st->dsn_class != 0)
		str_fmt(out, len, "deferred: status %u.%u.%u after %u attempt%s", st->dsn_class,
			st->dsn_subject, st->dsn_detail, st->attempts, st->attempts == 1 ? "" : "s");
	else
		str_fmt(out, len, "deferred after %u attempt%s", st->attempts, st->attempts == 1 ? "" : "s");
}

/* queue_list_print_rcpts - the recipients still to do, grouped under their reasons */
static void queue_list_print_rcpts(struct queue_list_printer *p, const struct qfile *qf)
{
	char last[128] = "";

	for (size_t i = 0; i < qf->nrcpts; i++) {
		const struct qfile_rcpt *r = &qf->rcpts[i];
		char reason[128];

		if (r->status.state == QFILE_DELIVERED || r->status.state == QFILE_BOUNCED)
			continue;
		queue_list_reason(r, reason, sizeof(reason));
		if (reason[0] && strcmp(reason, last) != 0)
			fprintf(p->out, "%*s(%s)\n", QUEUE_LIST_INDENT, "", reason);
		str_copy(last, reason, sizeof(last));
		fprintf(p->out, "%*s%s\n", QUEUE_LIST_INDENT, "", queue_list_printable(p, r->addr));
	}
}

/* queue_list_print_one - one message in the mailq format */
static int queue_list_print_one(const struct queue_list_item *it, void *ctx)
{
	struct queue_list_printer *p = ctx;
	const char *sender = "";
	char when[64] = "";
	time_t t = (time_t) it->arrival;
	struct tm tm;

	if (p->count++ == 0)
		fputs(QUEUE_LIST_HEADING, p->out);
	if (it->error != NULL) {
		fprintf(p->out, "%-10s%c %8s %-20s (%s: unreadable: %s)\n\n", it->id, it->mark, "", "",
			it->queue, queue_list_printable(p, it->error));
		return 0;
	}
	p->bytes += it->size;
	if (localtime_r(&t, &tm) != NULL)
		strftime(when, sizeof(when), "%a %b %e %H:%M:%S", &tm);
	if (it->qf != NULL)
		sender = it->qf->sender;
	else
		attr_get_str(it->begin, CLEANUP_SENDER, &sender);
	fprintf(p->out, "%-10s%c %8lld %-20s %s\n", it->id, it->mark, it->size, when,
		sender[0] ? queue_list_printable(p, sender) : "MAILER-DAEMON");
	if (it->qf != NULL) {
		queue_list_print_rcpts(p, it->qf);
	} else {
		fprintf(p->out, "%*s(waiting in maildrop for pickup)\n", QUEUE_LIST_INDENT, "");
		for (const struct attr *a = attr_find(it->begin, CLEANUP_RCPT, NULL); a;
		     a = attr_find(it->begin, CLEANUP_RCPT, a))
			fprintf(p->out, "%*s%s\n", QUEUE_LIST_INDENT, "", queue_list_printable(p, a->value));
	}
	fputc('\n', p->out);
	return 0;
}

/* queue_list_mailq - the queue in mailq's format */
long queue_list_mailq(FILE *out, const char *queue_dir, char *err, size_t errlen)
{
	struct queue_list_printer p = {out, 0, 0, BUF_INIT};
	int rc;

	buf_init(&p.text, 0);
	rc = queue_list_walk(queue_dir, queue_list_print_one, &p, err, errlen);
	buf_free(&p.text);
	if (rc < 0)
		return -1;
	if (p.count == 0)
		fputs("Mail queue is empty\n", out);
	else
		fprintf(out, "-- %lld Kbytes in %ld Request%s.\n", (p.bytes + 1023) / 1024, p.count,
			p.count == 1 ? "" : "s");
	return p.count;
}
