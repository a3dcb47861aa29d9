/*
 * ternqueue - list the mail queue and ask for its delivery (the habit of
 * postqueue).
 *
 *	ternqueue [-c dir] -p [-w] [QUEUEID...]	list (mailq's format; -w wide)
 *	ternqueue [-c dir] -j [QUEUEID...]	list as JSON lines
 *	ternqueue [-c dir] -f			flush: "F" to public/qmgr
 *	ternqueue [-c dir] -s site		flush one site: "F site"
 *	ternqueue [-c dir] -i QUEUEID		deliver one deferred message now
 *
 * The listings come from queue_print (lib/mail/queue_print.h), on top
 * of queue_list, the code mailq (sendmail -bp) runs too, so both print
 * the same thing. Each queue file's envelope is read once (no content),
 * defer/QID only for messages that were deferred, and nothing forks: a
 * queue of 100,000 messages lists in seconds.
 *
 * Who may list: root and mail_owner read the queue directories
 * themselves. Anybody else cannot (they are mail_owner's, mode 0700), so
 * ternqueue asks the showq service (public/showq), which checks the
 * caller's uid against authorized_mailq_users (default static:anyone)
 * and streams the same listing back. ternqueue checks that list itself
 * first, for a quick and clear refusal.

 * -i works by making deferred/QID due now (its modification time is its
 * next attempt, qmgr(8)) and sending "A": qmgr's next deferred scan
 * takes it. That needs write access to the queue: root or mail_owner.
 *
 * Exit status (sysexits): 0 done, 64 usage, 66 a queue id not found, 69
 * qmgr could not be reached, 74 output error, 77 not allowed, 78 the
 * configuration could not be read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/qid.h"
#include "mail/queue_print.h"

#define TERNQUEUE_USAGE \
	"usage: ternqueue [-c dir] -p [-w] [QUEUEID...] | -j [QUEUEID...] | -f | -s site | -i QUEUEID\n"
#define TERNQUEUE_SITE_MAX	1024	/* qmgr(8): the site of "F site" */

/* ternqueue_opts - the command line */
struct ternqueue_opts {
	const char *config_dir;
	char action;			/* 'p', 'j', 'f', 's', 'i' */
	bool wide;
	const char *arg;		/* -s site, -i id */
};

/* ternqueue_usage - print the usage, return EX_USAGE */
static int ternqueue_usage(void)
{
	fputs(TERNQUEUE_USAGE, stderr);
	return EX_USAGE;
}

/* ternqueue_config - load tern.conf; EX_CONFIG after reporting, else 0 */
static int ternqueue_config(const char *dir, struct config *cfg)
{
	struct config_problems probs;

	memset(&probs, 0, sizeof(probs));
	if (config_load(cfg, dir, NULL, NULL, false, &probs) > 0) {
		for (size_t i = 0; i < probs.count; i++)
			msg_error("%s: %s", probs.list[i].where, probs.list[i].text);
		config_problems_free(&probs);
		config_free(cfg);
		return EX_CONFIG;
	}
	config_problems_free(&probs);
	return 0;
}

/* ternqueue_list_error - report a failed listing; the exit status */
static int ternqueue_list_error(const char *err)
{
	if (errno == EACCES) {
		msg_error("%s", err);
		return EX_NOPERM;
	}
	if (errno == ENOENT || errno == ECONNREFUSED) {
		msg_error("%s (is tern running? showq lists the queue for users who cannot read it)",
			  err);
		return EX_UNAVAILABLE;
	}
	msg_error("%s", err);
	return EX_IOERR;
}

/* ternqueue_list - -p and -j: directly when the queue is readable, else through showq */
static int ternqueue_list(const struct ternqueue_opts *o, const char *qdir, char **ids, size_t nids)
{
	enum queue_print_layout layout = o->action == 'j' ? QUEUE_PRINT_JSON :
	    o->wide ? QUEUE_PRINT_WIDE : QUEUE_PRINT_MAILQ;
	char err[512] = "";
	size_t missing = 0;

	if (queue_print_listing(stdout, qdir, layout, ids, nids, &missing, err, sizeof(err)) < 0) {
		if (errno != EACCES || getuid() == 0)
			return ternqueue_list_error(err);
		if (queue_print_showq(stdout, qdir, layout, ids, nids, &missing, err, sizeof(err)) < 0)
			return ternqueue_list_error(err);
	}
	if (missing > 0) {
		msg_error("%zu queue id%s not found", missing, missing == 1 ? "" : "s");
		return EX_NOINPUT;
	}
	return 0;
}

/* ternqueue_trigger - send a wake-up request */
static int ternqueue_trigger(const char *qdir, const char *req)
{
	char err[512];

	if (queue_list_trigger(qdir, req, err, sizeof(err)) < 0) {
		msg_error("%s (is tern running?)", err);
		return EX_UNAVAILABLE;
	}
	return 0;
}

/* ternqueue_one - -i: make one deferred message due now and wake qmgr */
static int ternqueue_one(const char *qdir, const char *id)
{
	static const char *const where[] = {"incoming", "active", "hold", "timed"};
	char *path;
	int fd;

	if (!qid_valid(id)) {
		msg_error("%s: not a queue id", id);
		return EX_USAGE;
	}
	path = str_dupf("%s/deferred/%s", qdir, id);
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	free(path);
	if (fd >= 0) {
		int rc = futimens(fd, NULL);

		close(fd);
		if (rc < 0) {
			msg_error("%s: cannot make it due: %s", id, strerror(errno));
			return errno == EPERM || errno == EACCES ? EX_NOPERM : EX_IOERR;
		}
		return ternqueue_trigger(qdir, "A");
	}
	if (errno == EACCES) {
		msg_error("%s: %s (only root and mail_owner may do this)", id, strerror(errno));
		return EX_NOPERM;
	}
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		struct stat st;

		path = str_dupf("%s/%s/%s", qdir, where[i], id);
		if (lstat(path, &st) == 0) {
			free(path);
			if (strcmp(where[i], "hold") == 0) {
				msg_error("%s: is on hold; release it with ternsuper -H", id);
				return EX_UNAVAILABLE;
			}
			if (strcmp(where[i], "timed") == 0) {
				msg_error("%s: waits in timed/ for its release time", id);
				return EX_UNAVAILABLE;
			}
			return ternqueue_trigger(qdir, "W");	/* scheduled already */
		}
		free(path);
	}
	msg_error("%s: not found in the queue (%s)", id, qdir);
	return EX_NOINPUT;
}

/* ternqueue_run - the action, with the configuration loaded */
static int ternqueue_run(const struct ternqueue_opts *o, const struct config *cfg, char **ids,
			 size_t nids)
{
	const char *qdir = cfg->global.queue_directory;
	char req[TERNQUEUE_SITE_MAX + 3];

	switch (o->action) {
	case 'p':
	case 'j':
		if (!queue_list_authorized(cfg->global.authorized_mailq_users, getuid(),
					   cfg->global.mail_owner)) {
			msg_error("not allowed to list the queue (authorized_mailq_users)");
			return EX_NOPERM;
		}
		return ternqueue_list(o, qdir, ids, nids);
	case 'f':
		return ternqueue_trigger(qdir, "F");
	case 's':
		if (o->arg[0] == '\0' || strlen(o->arg) > TERNQUEUE_SITE_MAX ||
		    strpbrk(o->arg, " \t\r\n") != NULL) {
			msg_error("%s: not a site name", o->arg);
			return EX_USAGE;
		}
		str_fmt(req, sizeof(req), "F %s", o->arg);
		return ternqueue_trigger(qdir, req);
	case 'i':
		return ternqueue_one(qdir, o->arg);
	}
	return ternqueue_usage();
}

/* ternqueue_set - one action option; false when a second one is given */
static bool ternqueue_set(struct ternqueue_opts *o, char action, const char *arg)
{
	if (o->action != 0)
		return false;
	o->action = action;
	o->arg = arg;
	return true;
}

int main(int argc, char **argv)
{
	struct ternqueue_opts o = {NULL, 0, false, NULL};
	struct config cfg;
	int c, status;

	msg_init("ternqueue");
	while ((c = getopt(argc, argv, "c:pjwfs:i:")) != -1) {
		switch (c) {
		case 'c':
			o.config_dir = optarg;
			break;
		case 'w':
			o.wide = true;
			break;
		case 'p':
		case 'j':
		case 'f':
			if (!ternqueue_set(&o, (char) c, NULL))
				return ternqueue_usage();
			break;
		case 's':
		case 'i':
			if (!ternqueue_set(&o, (char) c, optarg))
				return ternqueue_usage();
			break;
		default:
			return ternqueue_usage();
		}
	}
	if (o.action == 0 || (optind < argc && o.action != 'p' && o.action != 'j') ||
	    (o.wide && o.action != 'p'))
		return ternqueue_usage();
	if ((status = ternqueue_config(o.config_dir, &cfg)) != 0)
		return status;
	status = ternqueue_run(&o, &cfg, argv + optind, (size_t) (argc - optind));
	config_free(&cfg);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		msg_error("write to standard output: %s", strerror(errno));
		if (status == 0)
			status = EX_IOERR;
	}
	return status;
}
