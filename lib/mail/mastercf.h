/*
 * mastercf - the service table, master.conf(5).
 *
 * One service per line, Postfix master.cf style, columns separated by
 * white space, '#' comments, continuation lines start with white space:
 *
 *	# service        type private unpriv chroot wakeup maxproc command + args
 *	127.0.0.1:2525   inet  n       y      y      -      -       smtpd -o smtpd_tls_level=may
 *	cleanup          unix  n       y      y      -      0       cleanup
 *
 * "-" takes the default of a column (private y, but n for inet, which
 * cannot be private; unpriv y, chroot y, wakeup 0 = none (else a time:
 * 60, 60s, 5m), maxproc = default_process_limit; 0 = no limit). For
 * inet the name is [host:]port (a service name from /etc/services or a
 * number; host may be [ipv6]); for unix it is a socket name under
 * queue_directory/private or /public. "-o name=value" arguments are taken
 * out of the argument list into overrides, and each name must be a known
 * parameter of the global group or of the group the command reads. The
 * command is a program name (no '/'), looked up in daemon_directory.
 *
 * Parsing never exits: problems are collected with "file:line".
 */
#ifndef TERN_MAIL_MASTERCF_H
#define TERN_MAIL_MASTERCF_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/config.h"

enum mastercf_type { MASTERCF_INET, MASTERCF_UNIX, MASTERCF_PASS };

struct mastercf_service {
	char *name;		/* column 1 as written */
	enum mastercf_type type;
	bool private_sock;	/* unix: private/ (y) or public/ (n) */
	bool unprivileged;	/* drop to mail_owner (y) or stay root (n) */
	bool chroot;		/* chroot to queue_directory */
	long long wakeup;	/* seconds between wake-up triggers, 0 = none */
	int maxproc;		/* process limit, 0 = no limit */
	char *command;		/* program name, found in daemon_directory */
	char **args;		/* NULL-terminated; arguments after command, -o pairs removed */
	char **overrides;	/* NULL-terminated "name=value" from -o */
	char *where;		/* "/etc/tern/master.conf:12" */
};

struct mastercf {
	struct mastercf_service *services;
	size_t count;
};

/*
 * mastercf_load - parse path; g supplies default_process_limit. Returns
 * the number of problems added to probs (services with problems are left
 * out of mcf). A missing file is one problem.
 */
int mastercf_load(const char *path, const struct params_global *g,
		  struct mastercf *mcf, struct config_problems *probs);
void mastercf_free(struct mastercf *mcf);
/* mastercf_type_name - "inet", "unix" or "pass" */
const char *mastercf_type_name(enum mastercf_type type);
/*
 * mastercf_inet_split - cut an inet service name "[host:]port" into host
 * ("" for any address; an IPv6 address without its brackets) and port
 * (as written: a number or a name from /etc/services). Returns 0, or -1
 * with a sentence in err.
 */
int mastercf_inet_split(const char *name, char *host, size_t hostlen,
			char *port, size_t portlen, char *err, size_t errlen);
/* mastercf_same - a and b describe the same service (only where may differ) */
bool mastercf_same(const struct mastercf_service *a, const struct mastercf_service *b);
/* mastercf_find - the service with this name and type, or NULL */
const struct mastercf_service *mastercf_find(const struct mastercf *mcf,
					     const char *name, enum mastercf_type type);

#endif
