/*
 * tern-qwrite - write a queue file through the qfile library, for tests.
 *
 *	tern-qwrite [options] DIR < content
 *
 *	-t SEC[.USEC]	arrival time
 *	-s ADDR		sender (default "", the null sender)
 *	-f FLAG		smtputf8 or requiretls (repeatable)
 *	-B BODY		7bit, 8bitmime or binarymime
 *	-d RET[,ENVID]	full or hdrs, and an optional ENVID
 *	-r RCPT		recipient before the content: ADDR[,NOTIFY[,TYPE;ORCPT]]
 *			with NOTIFY as words joined by '+' (SUCCESS+DELAY) or '-'
 *	-R RCPT		the same, after the content (extracted recipients)
 *	-a NAME=VALUE	attribute before the content; -A after it
 *	-S I:STATE:ATTEMPTS:DSN:TIME:FLAGS
 *			after commit, set recipient I's slot: STATE one of
 *			P T D B, DSN like 4.4.1 or 0.0.0, FLAGS a number
 *	-Q ATTEMPTS:NEXT:LAST:FLAGS	after commit, set the queue state
 *	-n		do not commit: leave an incomplete file, as a crash would
 *
 * Prints the queue id. Exits 0, or 1 with a message on stderr.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/qfile.h"

#define QW_MAX	1000

struct qw_rcpt {
	char *addr, *type, *orcpt;
	unsigned notify;
};

/* qw_notify - "SUCCESS+DELAY" to bits */
static unsigned qw_notify(const char *s)
{
	unsigned bits = 0;
	char *copy = xstrdup(s), *cp = copy, *word;

	while ((word = str_token(&cp, "+")) != NULL) {
		if (strcmp(word, "NEVER") == 0)
			bits |= QFILE_NOTIFY_NEVER;
		else if (strcmp(word, "SUCCESS") == 0)
			bits |= QFILE_NOTIFY_SUCCESS;
		else if (strcmp(word, "FAILURE") == 0)
			bits |= QFILE_NOTIFY_FAILURE;
		else if (strcmp(word, "DELAY") == 0)
			bits |= QFILE_NOTIFY_DELAY;
		else if (strcmp(word, "-") != 0)
			msg_fatal("bad NOTIFY word %s", word);
	}
	free(copy);
	return bits;
}

/* qw_rcpt_parse - ADDR[,NOTIFY[,TYPE;ORCPT]] */
static void qw_rcpt_parse(struct qw_rcpt *r, const char *spec)
{
	char *copy = xstrdup(spec), *comma, *semi;

	memset(r, 0, sizeof(*r));
	if ((comma = strchr(copy, ',')) != NULL) {
		*comma++ = '\0';
		if ((semi = strchr(comma, ',')) != NULL) {
			*semi++ = '\0';
			char *sc = strchr(semi, ';');

			if (sc == NULL)
				msg_fatal("ORCPT needs TYPE;ADDRESS: %s", semi);
			*sc = '\0';
			r->type = xstrdup(semi);
			r->orcpt = xstrdup(sc + 1);
		}
		r->notify = qw_notify(comma);
	}
	r->addr = copy;
}

/* qw_put_rcpts - write a list of recipients */
static int qw_put_rcpts(struct qfile_writer *w, struct qw_rcpt *list, int n)
{
	for (int i = 0; i < n; i++)
		if (qfile_put_rcpt(w, list[i].addr, list[i].notify, list[i].type, list[i].orcpt) < 0)
			return -1;
	return 0;
}

/* qw_put_attrs - write NAME=VALUE attributes */
static int qw_put_attrs(struct qfile_writer *w, char **list, int n)
{
	for (int i = 0; i < n; i++) {
		char *eq = strchr(list[i], '=');

		if (eq == NULL)
			msg_fatal("attribute needs NAME=VALUE: %s", list[i]);
		*eq = '\0';
		if (qfile_put_attr(w, list[i], eq + 1, strlen(eq + 1)) < 0)
			return -1;
	}
	return 0;
}

/* qw_num - a number or die */
static long long qw_num(const char *s, long long max)
{
	long long v;

	if (str_to_ll(s, 0, max, &v) < 0)
		msg_fatal("bad number %s", s);
	return v;
}

/* qw_update - apply -S and -Q after the commit */
static void qw_update(const char *path, char **slots, int nslots, const char *sched)
{
	struct qfile_error err;
	struct qfile *qf = qfile_open(path, QFILE_OPEN_RDWR, &err);

	if (qf == NULL)
		msg_fatal("reopen: %s", err.text);
	for (int i = 0; i < nslots; i++) {
		struct qfile_rstatus st;
		char *f[6], *cp = slots[i];
		unsigned a, b, c;

		for (int k = 0; k < 6; k++)
			if ((f[k] = str_token(&cp, ":")) == NULL)
				msg_fatal("-S needs I:STATE:ATTEMPTS:DSN:TIME:FLAGS");
		if (sscanf(f[3], "%u.%u.%u", &a, &b, &c) != 3)
			msg_fatal("bad DSN code %s", f[3]);
		st.state = (enum qfile_rstate) f[1][0];
		st.attempts = (unsigned) qw_num(f[2], 65535);
		st.dsn_class = a;
		st.dsn_subject = b;
		st.dsn_detail = c;
		st.time = qw_num(f[4], QFILE_TIME_MAX);
		st.flags = (unsigned) qw_num(f[5], 255);
		if (qfile_rcpt_update(qf, (size_t) qw_num(f[0], QFILE_RCPT_MAX), &st, &err) < 0)
			msg_fatal("update: %s", err.text);
	}
	if (sched) {
		struct qfile_sched s;
		char *copy = xstrdup(sched), *cp = copy, *f[4];

		for (int k = 0; k < 4; k++)
			if ((f[k] = str_token(&cp, ":")) == NULL)
				msg_fatal("-Q needs ATTEMPTS:NEXT:LAST:FLAGS");
		s.attempts = (unsigned) qw_num(f[0], 1000000);
		s.next_attempt = qw_num(f[1], QFILE_TIME_MAX);
		s.last_attempt = qw_num(f[2], QFILE_TIME_MAX);
		s.flags = (unsigned) qw_num(f[3], 255);
		if (qfile_sched_update(qf, &s, &err) < 0)
			msg_fatal("update: %s", err.text);
		free(copy);
	}
	if (qfile_sync(qf, &err) < 0)
		msg_fatal("sync: %s", err.text);
	qfile_close(qf);
}

int main(int argc, char **argv)
{
	static struct qw_rcpt before[QW_MAX], after[QW_MAX];
	static char *attrs[QW_MAX], *attrs_after[QW_MAX], *slots[QW_MAX];
	int nbefore = 0, nafter = 0, nattrs = 0, nattrs_after = 0, nslots = 0;
	const char *sender = "", *sched = NULL, *envid = NULL;
	enum qfile_ret ret = QFILE_RET_NONE;
	enum qfile_body body = QFILE_BODY_NONE;
	unsigned flags = 0;
	bool have_time = false, commit = true, have_dsn = false;
	struct timeval tv = {0, 0};
	struct qfile_dir dir;
	struct qfile_error err;
	struct qfile_writer *w;
	char buf[8192];
	size_t n;
	int c;

	msg_init("tern-qwrite");
	while ((c = getopt(argc, argv, "t:s:f:B:d:r:R:a:A:S:Q:n")) != -1) {
		if ((c == 'r' && nbefore >= QW_MAX) || (c == 'R' && nafter >= QW_MAX)
		    || (c == 'a' && nattrs >= QW_MAX) || (c == 'A' && nattrs_after >= QW_MAX)
		    || (c == 'S' && nslots >= QW_MAX))
			msg_fatal("too many -%c options", c);
		switch (c) {
		case 't': {
			char *dot = strchr(optarg, '.');

			if (dot)
				*dot = '\0';
			tv.tv_sec = (time_t) qw_num(optarg, QFILE_TIME_MAX);
			tv.tv_usec = dot ? (suseconds_t) qw_num(dot + 1, 999999) : 0;
			have_time = true;
			break;
		}
		case 's':
			sender = optarg;
			break;
		case 'f':
			flags |= strcmp(optarg, "smtputf8") == 0 ? QFILE_F_SMTPUTF8
			    : strcmp(optarg, "requiretls") == 0 ? QFILE_F_REQUIRETLS : 0x80;
			break;
		case 'B':
			body = strcmp(optarg, "7bit") == 0 ? QFILE_BODY_7BIT
			    : strcmp(optarg, "8bitmime") == 0 ? QFILE_BODY_8BITMIME : QFILE_BODY_BINARYMIME;
			break;
		case 'd': {
			char *comma = strchr(optarg, ',');

			if (comma) {
				*comma = '\0';
				envid = comma + 1;
			}
			ret = strcmp(optarg, "full") == 0 ? QFILE_RET_FULL
			    : strcmp(optarg, "hdrs") == 0 ? QFILE_RET_HDRS : QFILE_RET_NONE;
			have_dsn = true;
			break;
		}
		case 'r':
			qw_rcpt_parse(&before[nbefore++], optarg);
			break;
		case 'R':
			qw_rcpt_parse(&after[nafter++], optarg);
			break;
		case 'a':
			attrs[nattrs++] = optarg;
			break;
		case 'A':
			attrs_after[nattrs_after++] = optarg;
			break;
		case 'S':
			slots[nslots++] = optarg;
			break;
		case 'Q':
			sched = optarg;
			break;
		case 'n':
			commit = false;
			break;
		default:
			msg_fatal("usage: tern-qwrite [options] DIR < content");
		}
	}
	if (optind != argc - 1)
		msg_fatal("usage: tern-qwrite [options] DIR < content");
	if (qfile_dir_open(&dir, argv[optind], &err) < 0)
		msg_fatal("%s", err.text);
	if ((w = qfile_create(&dir, have_time ? &tv : NULL, &err)) == NULL)
		msg_fatal("%s", err.text);
	if (qfile_put_sender(w, sender) < 0
	    || ((flags || body) && qfile_put_flags(w, flags, body) < 0)
	    || (have_dsn && qfile_put_dsn(w, ret, envid) < 0)
	    || qw_put_rcpts(w, before, nbefore) < 0 || qw_put_attrs(w, attrs, nattrs) < 0)
		msg_fatal("%s", qfile_writer_error(w)->text);
	while ((n = fread(buf, 1, sizeof(buf), stdin)) > 0)
		if (qfile_put_content(w, buf, n) < 0)
			msg_fatal("%s", qfile_writer_error(w)->text);
	if (!commit) {
		printf("%s\n", qfile_writer_qid(w));
		fflush(stdout);
		_exit(0);		/* a crash: the file stays incomplete */
	}
	if (qw_put_rcpts(w, after, nafter) < 0 || qw_put_attrs(w, attrs_after, nattrs_after) < 0
	    || qfile_commit(w) < 0 || qfile_dir_sync(&dir, &err) < 0)
		msg_fatal("%s", qfile_writer_error(w)->text);
	printf("%s\n", qfile_writer_qid(w));
	if (nslots || sched) {
		char *path = str_dupf("%s/%s", argv[optind], qfile_writer_qid(w));

		qw_update(path, slots, nslots, sched);
		free(path);
	}
	qfile_writer_free(w);
	qfile_dir_close(&dir);
	return 0;
}
