/*
 * sendmail_admin - the two administrative faces of sendmail: "mailq"
 * (sendmail -bp) lists the queue, "newaliases" (sendmail -bi) rebuilds
 * the alias databases.
 *
 * mailq reads the queue files itself (queue_list) when it may (root and
 * mail_owner); anybody else gets the same listing from the showq service
 * (queue_print.h), which checks authorized_mailq_users against the
 * caller's uid; when showq does not answer they are told to ask the
 * administrator (exit 77).
 *
 * newaliases builds every hash: and btree: table of alias_maps from its
 * text file (a proxy: prefix is looked through), as "ternmap" would;
 * other table types need no building. A missing text file is an error
 * (exit 66) that says how to create it; when alias_maps names nothing to
 * build, newaliases says so and exits 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/queue_list.h"
#include "mail/queue_print.h"
#include "mail/table.h"
#include "sendmail.h"

/* sendmail_admin_mailq - list the queue */
int sendmail_admin_mailq(struct sendmail *sm)
{
	const char *q = sm->cfg.global.queue_directory;
	char err[512];

	if (!queue_list_authorized(sm->cfg.global.authorized_mailq_users, getuid(),
				   sm->cfg.global.mail_owner)) {
		msg_error("permission denied: authorized_mailq_users does not list you");
		return EX_NOPERM;
	}
	if (queue_list_mailq(stdout, q, err, sizeof(err)) >= 0)
		return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
	if ((errno == EACCES || errno == EPERM) && getuid() != 0) {
		size_t missing;

		/* the showq service lists it for users who cannot read the queue */
		if (queue_print_showq(stdout, q, QUEUE_PRINT_MAILQ, NULL, 0, &missing, err,
				      sizeof(err)) == 0)
			return fflush(stdout) == 0 ? EX_OK : EX_IOERR;
		if (errno == EACCES) {
			msg_error("%s", err);
			return EX_NOPERM;
		}
		msg_error("permission denied: ask the administrator (the queue in %s can be read "
			  "only by root and %s, and showq does not answer: %s)", q,
			  sm->cfg.global.mail_owner, err);
		return EX_NOPERM;
	}
	msg_error("cannot list the queue: %s", err);
	return errno == ENOENT ? EX_NOINPUT : EX_TEMPFAIL;
}

/* sendmail_admin_alias_code - exit code for a failed build */
static int sendmail_admin_alias_code(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		return EX_NOINPUT;
	case EACCES:
	case EPERM:
		return EX_NOPERM;
	case EINVAL:
		return EX_DATAERR;
	default:
		return EX_TEMPFAIL;
	}
}

/* sendmail_admin_newaliases - build the alias databases */
int sendmail_admin_newaliases(struct sendmail *sm)
{
	int rc = EX_OK, built = 0;

	for (char **spec = sm->cfg.global.alias_maps; *spec != NULL; spec++) {
		const char *s = *spec, *colon;
		char err[TABLE_ERR_SIZE];
		char *type;

		if (strncmp(s, "proxy:", 6) == 0)
			s += 6;
		colon = strchr(s, ':');
		if (colon == NULL)
			continue;
		type = xstrndup(s, (size_t) (colon - s));
		if (strcmp(type, "hash") == 0 || strcmp(type, "btree") == 0) {
			built++;
			if (table_db_build(type, colon + 1, TABLE_ALIAS_FORMAT, err, sizeof(err)) < 0) {
				int code = sendmail_admin_alias_code(errno);

				if (code == EX_NOINPUT)
					msg_error("%s (alias_maps names %s: create %s with one \"name value\" "
						  "line per alias, then run newaliases again)", err, *spec, colon + 1);
				else
					msg_error("%s", err);
				if (rc == EX_OK)
					rc = code;
			} else if (sm->verbose) {
				fprintf(stderr, "newaliases: built %s.db\n", colon + 1);
			}
		}
		free(type);
	}
	if (built == 0)
		fprintf(stderr, "newaliases: nothing to build: alias_maps has no hash: or btree: table\n");
	return rc;
}
