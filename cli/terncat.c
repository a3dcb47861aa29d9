/*
 * terncat - show a queue file (the habit of postcat).
 *
 *	terncat [-c dir] [-e] [-h] [-b] [-q] FILE|QUEUEID...
 *
 * Prints the envelope (every field, each recipient with its status) and
 * the message as it was received. -e envelope only, -h headers only, -b
 * body only; they combine, and none means all three. When the envelope is
 * shown, sections are framed by "*** ... ***" lines; -h and/or -b alone
 * print the raw message text only, so "terncat -hb ID > msg" saves it.
 *
 * An argument is a file when it contains a '/' or names an existing file;
 * otherwise, or always with -q, it is a queue id looked up in the queue
 * directories incoming, active, deferred, hold, timed and corrupt under
 * queue_directory (read from tern.conf in -c dir, $TERN_CONFIG_DIR or
 * /etc/tern).
 *
 * Every file is checked completely (envelope and content checksums)
 * before anything of it is printed; a bad one is refused with "terncat:
 * error: FILE: offset N: reason". Exit status (sysexits): 0 all shown,
 * 64 usage, 65 a file is corrupt, 66 a file or queue id was not found,
 * 74 an I/O error, 78 the configuration could not be read. After an
 * error the remaining arguments are still shown; the status is that of
 * the first error.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/qfile.h"
#include "mail/qid.h"

#define TERNCAT_USAGE	"usage: terncat [-c dir] [-e] [-h] [-b] [-q] FILE|QUEUEID...\n"
#define TERNCAT_CHUNK	(64 * 1024)

static const char *const terncat_dirs[] = {
	"incoming", "active", "deferred", "hold", "timed", "corrupt",
};

/* terncat_opts - what to show and where to look */
struct terncat_opts {
	const char *config_dir;
	bool env, hdr, body;
	bool by_id;
	char *queue_dir;		/* loaded on first use */
};

/* terncat_usage - print the usage, return EX_USAGE */
static int terncat_usage(void)
{
	fputs(TERNCAT_USAGE, stderr);
	return EX_USAGE;
}

/* terncat_utf8_len - length of a valid UTF-8 sequence at p (2-4), or 0 */
static size_t terncat_utf8_len(const unsigned char *p, size_t left)
{
	size_t n = p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : p[0] >= 0xe0 && p[0] <= 0xef ? 3
	    : p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : 0;

	if (n == 0 || n > left)
		return 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)
		return 0;		/* a C1 control such as CSI */
	return n;
}

/*
 * terncat_escaped - print text with control characters (C0, DEL, C1),
 * bytes that are not UTF-8, and backslash as \xNN and \\, so a hostile
 * queue file cannot drive the terminal
 */
static void terncat_escaped(const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *) text;

	for (size_t i = 0; i < len; i++) {
		size_t n;

		if (p[i] == '\\') {
			fputs("\\\\", stdout);
		} else if (p[i] >= 0x20 && p[i] < 0x7f) {
			putchar(p[i]);
		} else if (p[i] >= 0x80 && (n = terncat_utf8_len(p + i, len - i)) > 0) {
			fwrite(p + i, 1, n, stdout);
			i += n - 1;
		} else {
			printf("\\x%02x", p[i]);
		}
	}
}

/* terncat_field - "name: value" with the value escaped */
static void terncat_field(const char *indent, const char *name, const char *value)
{
	printf("%s%s: ", indent, name);
	terncat_escaped(value, strlen(value));
	putchar('\n');
}

/* terncat_time - local time as text; "never" style words for 0 are the caller's */
static const char *terncat_time(long long t, long usec, bool with_usec)
{
	static char buf[96];
	char date[48], zone[16];
	time_t tt = (time_t) t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL) {
		(void) str_fmt(buf, sizeof(buf), "%lld", t);
		return buf;
	}
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	strftime(zone, sizeof(zone), "%z", &tm);
	if (with_usec)
		(void) str_fmt(buf, sizeof(buf), "%s.%06ld %s (%lld.%06ld)", date, usec, zone, t, usec);
	else
		(void) str_fmt(buf, sizeof(buf), "%s %s", date, zone);
	return buf;
}

/* terncat_rcpt - one recipient and its status slot */
static void terncat_rcpt(const struct qfile_rcpt *r)
{
	const struct qfile_rstatus *st = &r->status;
	char notify[64];

	printf("recipient: <");
	terncat_escaped(r->addr, strlen(r->addr));
	printf(">\n");
	if (r->orcpt) {
		printf("  orcpt: %s;", r->orcpt_type);
		terncat_escaped(r->orcpt, strlen(r->orcpt));
		putchar('\n');
	}
	if (r->notify) {
		qfile_notify_format(r->notify, notify, sizeof(notify));
		printf("  notify: %s\n", notify);
	}
	if (r->after_content)
		printf("  extracted: yes\n");
	printf("  status: %s\n", qfile_rstate_name(st->state));
	if (!r->slot_ok)
		printf("  slot: damaged, read as pending\n");
	if (st->attempts)
		printf("  attempts: %u\n", st->attempts);
	if (st->dsn_class)
		printf("  dsn: %u.%u.%u\n", st->dsn_class, st->dsn_subject, st->dsn_detail);
	if (st->time && st->state == QFILE_DEFERRED)
		printf("  next_attempt: %s\n", terncat_time(st->time, 0, false));
	else if (st->time)
		printf("  status_time: %s\n", terncat_time(st->time, 0, false));
	if (st->flags & QFILE_RS_NOTIFIED)
		printf("  notified: yes\n");
	if (st->flags & QFILE_RS_DELAY_WARNED)
		printf("  delay_warned: yes\n");
}

/* terncat_envelope - every envelope field */
static void terncat_envelope(const struct qfile *qf)
{
	static const char *const wellknown[] = {
		QFILE_A_CLIENT_NAME, QFILE_A_CLIENT_ADDRESS, QFILE_A_CLIENT_PORT, QFILE_A_HELO_NAME,
		QFILE_A_PROTOCOL, QFILE_A_TLS_PROTOCOL, QFILE_A_TLS_CIPHER, QFILE_A_SASL_METHOD,
		QFILE_A_SASL_USERNAME,
	};
	const char *v;

	printf("queue_id: %s\n", qf->qid);
	printf("file_version: %d\n", qf->version);
	printf("complete: %s\n", qf->complete ? "yes" : "no (not marked complete)");
	printf("arrival_time: %s\n", terncat_time(qf->arrival_sec, qf->arrival_usec, true));
	printf("message_size: %llu (%llu with CRLF line ends)\n", (unsigned long long) qf->content_len,
	       (unsigned long long) (qf->content_len + qf->lf_count));
	printf("body_offset: %llu\n", (unsigned long long) qf->body_offset);
	if (!qf->sched_ok)
		printf("queue_state: damaged, read as zero\n");
	printf("attempts: %u\n", qf->sched.attempts);
	printf("next_attempt: %s\n", qf->sched.next_attempt ? terncat_time(qf->sched.next_attempt, 0, false) : "now");
	printf("last_attempt: %s\n", qf->sched.last_attempt ? terncat_time(qf->sched.last_attempt, 0, false) : "never");
	if (qf->sched.flags & QFILE_SCHED_DELAY_WARNED)
		printf("delay_warning: sent\n");
	printf("sender: <");
	terncat_escaped(qf->sender, strlen(qf->sender));
	printf(">\n");
	printf("body_type: %s\n", qfile_body_name(qf->body));
	printf("smtputf8: %s\n", (qf->flags & QFILE_F_SMTPUTF8) ? "yes" : "no");
	printf("requiretls: %s\n", (qf->flags & QFILE_F_REQUIRETLS) ? "yes" : "no");
	if (qf->dsn_ret != QFILE_RET_NONE)
		printf("dsn_ret: %s\n", qfile_ret_name(qf->dsn_ret));
	if (qf->envid)
		terncat_field("", "dsn_envid", qf->envid);
	for (size_t i = 0; i < sizeof(wellknown) / sizeof(wellknown[0]); i++)
		if ((v = qfile_attr(qf, wellknown[i], NULL)) != NULL)
			terncat_field("", wellknown[i], v);
	for (size_t i = 0; i < qf->nattrs; i++) {
		if (qfile_attr_wellknown(qf->attrs[i].name))
			continue;
		printf("named_attribute: %s=", qf->attrs[i].name);
		terncat_escaped((const char *) qf->attrs[i].value, qf->attrs[i].len);
		putchar('\n');
	}
	for (size_t i = 0; i < qf->nrcpts; i++)
		terncat_rcpt(&qf->rcpts[i]);
}

/*
 * terncat_content - print content bytes [from, to); returns 0, or -1 with
 * err set. *last gets the last byte printed (for the closing newline).
 */
static int terncat_content(struct qfile *qf, uint64_t from, uint64_t to, int *last,
			   struct qfile_error *err)
{
	char *buf = xmalloc(TERNCAT_CHUNK);
	ssize_t got;
	int ret = 0;

	if (qfile_content_seek(qf, from, err) < 0) {
		free(buf);
		return -1;
	}
	while (from < to) {
		size_t want = to - from < TERNCAT_CHUNK ? (size_t) (to - from) : TERNCAT_CHUNK;

		if ((got = qfile_content_read(qf, buf, want, err)) <= 0) {
			ret = got < 0 ? -1 : 0;
			break;
		}
		fwrite(buf, 1, (size_t) got, stdout);
		*last = (unsigned char) buf[got - 1];
		from += (uint64_t) got;
	}
	free(buf);
	return ret;
}

/* terncat_status - exit status for a qfile error */
static int terncat_status(const struct qfile_error *err)
{
	switch (err->kind) {
	case QFILE_ERR_CORRUPT:
		return EX_DATAERR;
	case QFILE_ERR_SYSTEM:
		return err->errnum == ENOENT || err->errnum == ENOTDIR ? EX_NOINPUT : EX_IOERR;
	default:
		return EX_SOFTWARE;
	}
}

/* terncat_report - "terncat: error: NAME: reason"; the exit status */
static int terncat_report(const char *name, const struct qfile_error *err)
{
	if (err->kind == QFILE_ERR_SYSTEM)
		msg_error("%s: %s", name, strerror(err->errnum));
	else
		msg_error("%s: %s", name, err->text);
	return terncat_status(err);
}

/* terncat_show - check one file completely, then print what was asked */
static int terncat_show(const struct terncat_opts *o, const char *path, const char *name)
{
	struct qfile_error err;
	struct qfile *qf = qfile_open(path, QFILE_OPEN_INCOMPLETE, &err);
	bool framed = o->env;
	uint64_t hdr_end, from, to;
	int last = '\n';
	int status = 0;

	if (qf == NULL)
		return terncat_report(name, &err);
	if (qfile_verify(qf, &err) < 0) {
		qfile_close(qf);
		return terncat_report(name, &err);
	}
	if (qfile_header_end(qf, &hdr_end, &err) < 0) {
		qfile_close(qf);
		return terncat_report(name, &err);
	}
	if (o->env) {
		printf("*** ENVELOPE RECORDS %s ***\n", name);
		terncat_envelope(qf);
	}
	if (o->hdr || o->body) {
		from = o->hdr ? 0 : qf->body_offset;
		to = o->body ? qf->content_len : hdr_end;
		if (framed)
			printf("*** MESSAGE CONTENTS %s ***\n", name);
		if (from < to && terncat_content(qf, from, to, &last, &err) < 0)
			status = terncat_report(name, &err);
		if (framed) {
			if (last != '\n')
				putchar('\n');
			printf("*** MESSAGE FILE END %s ***\n", name);
		}
	}
	qfile_close(qf);
	return status;
}

/* terncat_queue_dir - queue_directory from the configuration */
static int terncat_queue_dir(struct terncat_opts *o)
{
	struct config cfg;
	struct config_problems probs;

	if (o->queue_dir)
		return 0;
	memset(&probs, 0, sizeof(probs));
	if (config_load(&cfg, o->config_dir, NULL, NULL, false, &probs) > 0) {
		for (size_t i = 0; i < probs.count; i++)
			msg_error("%s: %s", probs.list[i].where, probs.list[i].text);
		config_problems_free(&probs);
		config_free(&cfg);
		return EX_CONFIG;
	}
	o->queue_dir = xstrdup(cfg.global.queue_directory);
	config_problems_free(&probs);
	config_free(&cfg);
	return 0;
}

/* terncat_lookup - find a queue id in the queue directories */
static int terncat_lookup(struct terncat_opts *o, const char *id)
{
	struct stat st;
	int status;

	if (!qid_valid(id)) {
		msg_error("%s: not a queue id", id);
		return EX_USAGE;
	}
	if ((status = terncat_queue_dir(o)) != 0)
		return status;
	for (size_t i = 0; i < sizeof(terncat_dirs) / sizeof(terncat_dirs[0]); i++) {
		char *path = str_dupf("%s/%s/%s", o->queue_dir, terncat_dirs[i], id);
		char *name = str_dupf("%s/%s", terncat_dirs[i], id);

		if (lstat(path, &st) == 0) {
			status = terncat_show(o, path, name);
			free(path);
			free(name);
			return status;
		}
		free(path);
		free(name);
	}
	msg_error("%s: not found in the queue (%s)", id, o->queue_dir);
	return EX_NOINPUT;
}

/* terncat_arg - one command-line argument */
static int terncat_arg(struct terncat_opts *o, const char *arg)
{
	struct stat st;

	if (o->by_id)
		return terncat_lookup(o, arg);
	if (strchr(arg, '/') != NULL || stat(arg, &st) == 0 || !qid_valid(arg))
		return terncat_show(o, arg, arg);
	return terncat_lookup(o, arg);
}

int main(int argc, char **argv)
{
	struct terncat_opts o = {NULL, false, false, false, false, NULL};
	int c, status = 0;

	msg_init("terncat");
	while ((c = getopt(argc, argv, "c:ehbq")) != -1) {
		switch (c) {
		case 'c':
			o.config_dir = optarg;
			break;
		case 'e':
			o.env = true;
			break;
		case 'h':
			o.hdr = true;
			break;
		case 'b':
			o.body = true;
			break;
		case 'q':
			o.by_id = true;
			break;
		default:
			return terncat_usage();
		}
	}
	if (optind >= argc)
		return terncat_usage();
	if (!o.env && !o.hdr && !o.body)
		o.env = o.hdr = o.body = true;
	for (int i = optind; i < argc; i++) {
		int s = terncat_arg(&o, argv[i]);

		if (s != 0 && status == 0)
			status = s;
		if (s == EX_CONFIG)
			break;
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		msg_error("write to standard output: %s", strerror(errno));
		if (status == 0)
			status = EX_IOERR;
	}
	free(o.queue_dir);
	return status;
}
