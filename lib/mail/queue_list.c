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
#include <pwd.h>
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
#define QUEUE_LIST_TRIGGER_MS	5000	/* connecting to and writing public/qmgr */
#define QUEUE_LIST_TRIGGER_MAX	1024	/* qmgr(8): one request */

/* the queues, in listing order, with their mailq marks */
static const struct {
	const char *name;
	char mark;
} queue_list_queues[] = {
	{"incoming", ' '}, {"active", '*'}, {"deferred", ' '}, {"hold", '!'}, {"timed", '#'},
	{MAILDROP_DIR, ' '},
};

const char *const queue_list_queue_names[] = {
	"incoming", "active", "deferred", "hold", "timed", MAILDROP_DIR,
};
const size_t queue_list_queue_count = sizeof(queue_list_queues) / sizeof(queue_list_queues[0]);

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

/* queue_list_domain - the domain part of addr, "" when there is none */
const char *queue_list_domain(const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL ? at + 1 : "";
}

/* queue_list_wants_reasons - a recipient of qf was deferred at least once */
static bool queue_list_wants_reasons(const struct qfile *qf)
{
	for (size_t i = 0; i < qf->nrcpts; i++)
		if (qf->rcpts[i].status.state == QFILE_DEFERRED || qf->rcpts[i].status.attempts > 0)
			return true;
	return qf->sched.attempts > 0;
}

/* queue_list_reasons - defer/QID: the last reason text per recipient index, or NULL */
static char **queue_list_reasons(const char *queue_dir, const char *id, size_t nrcpts)
{
	char *path = str_dupf("%s/defer/%s", queue_dir, id);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	char **reasons = NULL;
	char *data, *line, *next;
	ssize_t n;
	size_t got = 0;

	free(path);
	if (fd < 0)
		return NULL;
	data = xmalloc(QUEUE_LIST_REASONS_MAX + 1);
	while (got < QUEUE_LIST_REASONS_MAX &&
	       (n = read(fd, data + got, QUEUE_LIST_REASONS_MAX - got)) > 0)
		got += (size_t) n;
	close(fd);
	data[got] = '\0';
	for (line = data; line < data + got; line = next) {
		char *f[5], *end, *p = line;
		unsigned long long idx;
		int k;

		next = strchr(line, '\n');
		if (next == NULL)
			break;			/* a line still being written */
		*next++ = '\0';
		for (k = 0; k < 4 && (f[k] = p) != NULL; k++) {
			if ((p = strchr(p, '\t')) == NULL)
				break;
			*p++ = '\0';
		}
		if (k < 4)
			continue;
		f[4] = p;
		errno = 0;
		idx = strtoull(f[0], &end, 10);
		if (errno || end == f[0] || *end || idx >= nrcpts)
			continue;
		if (reasons == NULL)
			reasons = xcalloc(nrcpts, sizeof(*reasons));
		free(reasons[idx]);
		reasons[idx] = xstrdup(f[4]);
	}
	free(data);
	return reasons;
}

/* queue_list_one - one file of queue q: build the item and call fn; 0 when skipped */
static int queue_list_one(const char *queue_dir, size_t q, const char *name, queue_list_fn *fn,
			  void *ctx, struct attr_list *l)
{
	const char *queue = queue_list_queues[q].name;
	bool maildrop = strcmp(queue, MAILDROP_DIR) == 0;
	struct queue_list_item it = {queue, name, queue_list_queues[q].mark, 0, 0,
				     NULL, NULL, NULL, NULL};
	struct qfile *qf = NULL;
	char **reasons = NULL;
	size_t nreasons = 0;
	char why[400];
	char *path;
	int found, ret = 0;

	if (!qid_valid(name) || (maildrop && !maildrop_name_ok(name)))
		return 0;
	path = str_dupf("%s/%s/%s", queue_dir, queue, name);
	if (maildrop)
		found = queue_list_maildrop(path, &it, l, why, sizeof(why));
	else
		found = queue_list_qfile(path, &it, &qf, why, sizeof(why));
	free(path);
	if (qf != NULL && queue_list_wants_reasons(qf)) {
		nreasons = qf->nrcpts;
		reasons = queue_list_reasons(queue_dir, name, nreasons);
		it.reasons = reasons;
	}
	if (found)
		ret = fn(&it, ctx);
	qfile_close(qf);
	if (reasons != NULL) {
		for (size_t i = 0; i < nreasons; i++)
			free(reasons[i]);
		free(reasons);
	}
	return ret;
}

/* queue_list_dir - every message of one queue directory */
static int queue_list_dir(const char *queue_dir, size_t q, queue_list_fn *fn, void *ctx,
			  char *err, size_t errlen)
{
	char *dir = str_dupf("%s/%s", queue_dir, queue_list_queues[q].name);
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
	for (size_t i = 0; i < n && ret == 0; i++)
		ret = queue_list_one(queue_dir, q, names[i], fn, ctx, &l);
	attr_list_free(&l);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(dir);
	return ret;
}

/* queue_list_find - the message id in whichever queue holds it */
int queue_list_find(const char *queue_dir, const char *id, queue_list_fn *fn, void *ctx, char *err,
		    size_t errlen)
{
	struct stat st;
	struct attr_list l;
	int ret = 1;

	if (stat(queue_dir, &st) < 0) {
		int saved = errno;

		str_fmt(err, errlen, "%s: %s", queue_dir, strerror(saved));
		errno = saved;
		return -1;
	}
	attr_list_init(&l);
	for (size_t q = 0; q < queue_list_queue_count && ret == 1; q++) {
		char *path = str_dupf("%s/%s/%s", queue_dir, queue_list_queues[q].name, id);
		struct stat fst;

		if (lstat(path, &fst) == 0 && S_ISREG(fst.st_mode)) {
			ret = queue_list_one(queue_dir, q, id, fn, ctx, &l);
		} else if (errno == EACCES) {
			str_fmt(err, errlen, "%s: %s", path, strerror(EACCES));
			ret = -1;
		}
		free(path);
	}
	attr_list_free(&l);
	if (ret == -1)
		errno = EACCES;
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
	for (size_t q = 0; q < queue_list_queue_count; q++) {
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

/* queue_list_reason - why recipient i waits, "" when it is simply pending */
static void queue_list_reason(const struct queue_list_item *it, size_t i, char *out, size_t len)
{
	const struct qfile_rstatus *st = &it->qf->rcpts[i].status;

	out[0] = '\0';
	if (it->reasons != NULL && it->reasons[i] != NULL && st->state != QFILE_DELIVERED &&
	    st->state != QFILE_BOUNCED) {
		str_copy(out, it->reasons[i], len);
		return;
	}
	if (st->state != QFILE_DEFERRED)
		return;
	if (st->dsn_class != 0)
		str_fmt(out, len, "deferred: status %u.%u.%u after %u attempt%s", st->dsn_class,
			st->dsn_subject, st->dsn_detail, st->attempts, st->attempts == 1 ? "" : "s");
	else
		str_fmt(out, len, "deferred after %u attempt%s", st->attempts, st->attempts == 1 ? "" : "s");
}

/* queue_list_print_rcpts - the recipients still to do, grouped under their reasons */
static void queue_list_print_rcpts(struct queue_list_printer *p, const struct queue_list_item *it)
{
	const struct qfile *qf = it->qf;
	char last[512] = "";

	for (size_t i = 0; i < qf->nrcpts; i++) {
		const struct qfile_rcpt *r = &qf->rcpts[i];
		char reason[512];

		if (r->status.state == QFILE_DELIVERED || r->status.state == QFILE_BOUNCED)
			continue;
		queue_list_reason(it, i, reason, sizeof(reason));
		if (reason[0] && strcmp(reason, last) != 0)
			fprintf(p->out, "%*s(%s)\n", QUEUE_LIST_INDENT, "", queue_list_printable(p, reason));
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
		queue_list_print_rcpts(p, it);
	} else {
		fprintf(p->out, "%*s(waiting in maildrop for pickup)\n", QUEUE_LIST_INDENT, "");
		for (const struct attr *a = attr_find(it->begin, CLEANUP_RCPT, NULL); a;
		     a = attr_find(it->begin, CLEANUP_RCPT, a))
			fprintf(p->out, "%*s%s\n", QUEUE_LIST_INDENT, "", queue_list_printable(p, a->value));
	}
	fputc('\n', p->out);
	return 0;
}

/* queue_list_mailq_ids - some messages, or the whole queue, in mailq's format */
long queue_list_mailq_ids(FILE *out, const char *queue_dir, char *const *ids, size_t nids,
			  size_t *missing, char *err, size_t errlen)
{
	struct queue_list_printer p = {out, 0, 0, BUF_INIT};
	int rc = 0;

	if (missing != NULL)
		*missing = 0;
	buf_init(&p.text, 0);
	if (nids == 0)
		rc = queue_list_walk(queue_dir, queue_list_print_one, &p, err, errlen);
	for (size_t i = 0; i < nids && rc >= 0; i++) {
		rc = qid_valid(ids[i]) ? queue_list_find(queue_dir, ids[i], queue_list_print_one, &p, err,
							 errlen) : 1;
		if (rc == 1 && missing != NULL)
			(*missing)++;
	}
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

/* queue_list_mailq - the queue in mailq's format */
long queue_list_mailq(FILE *out, const char *queue_dir, char *err, size_t errlen)
{
	return queue_list_mailq_ids(out, queue_dir, NULL, 0, NULL, err, errlen);
}

/* queue_list_authorized - root, mail_owner, or a user authorized_mailq_users names */
bool queue_list_authorized(char *const *users, uid_t uid, const char *mail_owner)
{
	struct passwd pw, *res = NULL;
	char pwbuf[4096];

	if (uid == 0)
		return true;
	for (size_t i = 0; users[i] != NULL; i++)
		if (strcmp(users[i], "static:anyone") == 0)
			return true;
	if (getpwuid_r(uid, &pw, pwbuf, sizeof(pwbuf), &res) != 0 || res == NULL)
		return false;
	if (strcmp(pw.pw_name, mail_owner) == 0)
		return true;
	for (size_t i = 0; users[i] != NULL; i++)
		if (strcmp(users[i], pw.pw_name) == 0)
			return true;
	return false;
}

/* queue_list_trigger - one wake-up request to qmgr; no answer comes back */
int queue_list_trigger(const char *queue_dir, const char *request, char *err, size_t errlen)
{
	char *path = str_dupf("%s/public/qmgr", queue_dir);
	size_t len = strlen(request), off = 0;
	int fd = ipc_connect_unix(path, QUEUE_LIST_TRIGGER_MS);

	if (fd < 0) {
		str_fmt(err, errlen, "connect to %s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	if (len > QUEUE_LIST_TRIGGER_MAX) {
		str_fmt(err, errlen, "wake-up request longer than %d bytes", QUEUE_LIST_TRIGGER_MAX);
		close(fd);
		free(path);
		return -1;
	}
	while (off < len) {
		ssize_t n = write(fd, request + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			str_fmt(err, errlen, "write to %s: %s", path, n < 0 ? strerror(errno) : "short write");
			close(fd);
			free(path);
			return -1;
		}
		off += (size_t) n;
	}
	free(path);
	if (close(fd) < 0) {
		str_fmt(err, errlen, "close: %s", strerror(errno));
		return -1;
	}
	return 0;
}
