/*
 * service - the skeleton every tern daemon runs on (Postfix's
 * single_server, multi_server and trigger_server in one).
 *
 * A daemon is a main file that fills a const struct service_desc and
 * calls service_main(argc, argv, &desc). The skeleton then, in order:
 *
 *   1. parses the arguments master passes (master_proto.h);
 *   2. loads the configuration (tern.conf, the group's file, -o
 *      overrides), names itself "<syslog_name>/<program>" and opens the
 *      log (maillog_file, else syslog) - all before any chroot;
 *   3. runs pre_jail as root (open keys, tables, databases);
 *   4. when root: chroot(queue_directory) if -C, then drops to
 *      mail_owner if -u (setgroups, setresgid, setresuid) and verifies
 *      with getresuid/getresgid/getgroups that nothing is root any more,
 *      or exits with a fatal error. Not root: one warning, no change;
 *   5. asks for SIGTERM when master dies (PR_SET_PDEATHSIG, set after
 *      the drop, which clears it) and exits if master is already gone;
 *   6. runs post_jail, then the event loop: accepts on the inherited
 *      listeners (several processes share them; accept is non-blocking
 *      and losing the race is normal), tells master on the status pipe
 *      when it is available or taken, and exits after max_use
 *      connections (or requests) or after max_idle seconds with nothing
 *      to do.
 *
 * Kinds:
 *   SERVICE_SINGLE  one connection at a time: on_connection(svc, fd)
 *                   gets a blocking socket and runs to completion; the
 *                   skeleton closes fd after it returns.
 *   SERVICE_MULTI   many connections in this process's event loop:
 *                   on_connection gets a non-blocking socket and owns it
 *                   (closes it); the daemon calls service_conn_done(svc)
 *                   when a connection is over. At session_limit open
 *                   connections (or after max_use x session_limit
 *                   connections: max_use counts per session slot here)
 *                   the process tells master it is taken and stops
 *                   accepting.
 *   SERVICE_TRIGGER wake-up requests: the skeleton reads up to
 *                   SERVICE_TRIGGER_MAX bytes from each connection (with
 *                   a time limit), closes it and calls on_trigger.
 * pass services (master.conf type "pass") receive connections as file
 * descriptors over the listener; the skeleton unwraps them, so
 * on_connection sees the passed socket.
 *
 * Stopping: SIGTERM, or master closing the status pipe (a reload that
 * removed or changed the service), makes the process stop accepting,
 * call on_stop once, and exit when its open connections are done;
 * master enforces master_stop_timeout. A SINGLE handler can poll
 * service_stopping() between requests (the handler is not interrupted:
 * SIGTERM restarts blocking reads, SA_RESTART).
 *
 * Failures: bad arguments, configuration or environment are msg_fatal
 * (exit 1; master logs it and backs off). A privilege drop that does
 * not verify is msg_fatal.
 */
#ifndef TERN_MAIL_SERVICE_H
#define TERN_MAIL_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/config.h"

struct event_base;
struct service;

enum service_kind { SERVICE_SINGLE, SERVICE_MULTI, SERVICE_TRIGGER };

#define SERVICE_TRIGGER_MAX	1024	/* bytes read from one wake-up request */
#define SERVICE_SESSION_LIMIT	100	/* MULTI default when desc says 0 */

/* service_desc flags */
#define SERVICE_FLAG_NO_LIMITS	(1u << 0)	/* never exit for max_use or max_idle (qmgr) */

/* service_desc - what a daemon tells the skeleton; const, in its main file */
struct service_desc {
	const char *program;		/* "smtpd": log ident <syslog_name>/<program> */
	const char *group;		/* config group id ("smtpd"), or NULL: global only */
	enum service_kind kind;
	int session_limit;		/* MULTI: connections per process; 0: SERVICE_SESSION_LIMIT */
	unsigned flags;			/* SERVICE_FLAG_* */
	/* hooks; any may be NULL except the one the kind needs */
	void (*pre_jail)(struct service *svc);		/* root, before chroot */
	void (*post_jail)(struct service *svc);		/* after the drop, before the loop */
	void (*on_connection)(struct service *svc, int fd);	/* SINGLE, MULTI */
	void (*on_trigger)(struct service *svc, const char *data, size_t len);	/* TRIGGER */
	void (*on_stop)(struct service *svc);		/* graceful stop requested */
};

/* service_main - run the daemon; returns the exit status (0) when it stops */
int service_main(int argc, char **argv, const struct service_desc *desc);

/* what a daemon may ask for, from any hook */
struct event_base *service_base(const struct service *svc);
const struct config *service_config(const struct service *svc);
const char *service_name(const struct service *svc);	/* master.conf column 1 */
const char *service_type(const struct service *svc);	/* "inet", "unix", "pass" */
/* service_args - the arguments from master.conf after the options */
char *const *service_args(const struct service *svc, int *argc);
void *service_ctx(const struct service *svc);
void service_set_ctx(struct service *svc, void *ctx);

/* service_conn_done - MULTI: one connection is over (the daemon closed it) */
void service_conn_done(struct service *svc);
/* service_stopping - a graceful stop was requested (polls the status pipe: a system call) */
bool service_stopping(const struct service *svc);
/*
 * service_stop_requested - the same from what is already known (SIGTERM
 * or a stop seen before), without a system call: for loops that watch
 * the status pipe themselves (service_status_fd) while they wait
 */
bool service_stop_requested(const struct service *svc);
/* service_status_fd - the status pipe to master: POLLHUP/POLLERR on it means stop */
int service_status_fd(void);
/* service_set_session_limit - MULTI: change the limit (pre_jail or later) */
void service_set_session_limit(struct service *svc, int limit);
/* service_use_count - connections (or requests) taken so far */
long long service_use_count(const struct service *svc);

#endif
