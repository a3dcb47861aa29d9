/*
 * msg - logging for daemons and tools.
 *
 * One process has one log target: syslog (facility mail, ident
 * "tern/<service>"), a file shared by all tern processes (one write(2) per
 * line with O_APPEND, so lines from different processes never interleave;
 * the line shape is syslog's, so log tools read it unchanged), or stderr
 * (tools, and daemons started by hand with -v). Per-message lines start
 * with the queue id: msg_info("%s: from=<%s>", qid, sender).
 *
 * msg_fatal is for a bad environment or configuration: it runs the cleanup
 * hooks and exits 1 (master backs off). msg_panic is for a broken invariant:
 * it aborts, leaving a core. Neither returns.
 */
#ifndef TERN_BASE_MSG_H
#define TERN_BASE_MSG_H

#include <stdarg.h>
#include <stdbool.h>

enum msg_target {
	MSG_STDERR,		/* "prog: warning: text" on stderr */
	MSG_SYSLOG,		/* syslog(3), facility given to msg_open */
	MSG_FILE,		/* append syslog-shaped lines to a file */
};

enum msg_level { MSG_DEBUG, MSG_INFO, MSG_WARN, MSG_ERROR, MSG_FATAL, MSG_PANIC };

/* how chatty: 0 normal, 1 and up for msg_debug lines (daemon -v flags) */
extern int msg_verbose;

/* msg_init - set the program name used on stderr and as syslog ident */
void msg_init(const char *ident);
/* msg_ident - the current ident ("tern/smtpd", or a tool's name) */
const char *msg_ident(void);
/*
 * msg_open - switch the log target. For MSG_FILE, path names the file
 * (opened now, kept open across chroot). For MSG_SYSLOG, facility is a
 * name such as "mail" or "local0". Returns 0, or -1 with errno set when
 * the file cannot be opened or the facility is unknown (the previous
 * target stays in force).
 */
int msg_open(enum msg_target target, const char *path, const char *facility);
/* msg_also_stderr - daemons started by hand also copy lines to stderr */
void msg_also_stderr(bool on);
/* msg_fd - the log file descriptor (for MSG_FILE), or -1; kept open by the skeleton */
int msg_fd(void);

/* msg_cleanup_add - run fn(ctx) before exiting from msg_fatal; up to 8 hooks */
void msg_cleanup_add(void (*fn)(void *), void *ctx);

void msg_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void msg_fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void msg_panic(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void msg_vlog(enum msg_level level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#endif
