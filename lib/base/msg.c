/*
 * msg - logging for daemons and tools; see msg.h.
 *
 * Lines are formatted into a fixed buffer (over-long text is cut with
 * "..." rather than allocated: logging must work when memory is short) and
 * written with one write(2), so concurrent writers to one file never mix
 * halves of lines.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "base/msg.h"
#include "base/pid.h"

#define MSG_LINE_MAX	4096
#define MSG_HOOKS_MAX	8

int msg_verbose;

static char msg_ident_buf[128] = "tern";
static enum msg_target msg_target_now = MSG_STDERR;
static int msg_file_fd = -1;
static bool msg_copy_stderr;
static char msg_hostname[256];
static struct {
	void (*fn)(void *);
	void *ctx;
} msg_hooks[MSG_HOOKS_MAX];
static int msg_hook_count;
static bool msg_in_fatal;

static const char *const msg_level_names[] = {
	[MSG_DEBUG] = "debug", [MSG_INFO] = NULL, [MSG_WARN] = "warning",
	[MSG_ERROR] = "error", [MSG_FATAL] = "fatal", [MSG_PANIC] = "panic",
};

static const struct {
	const char *name;
	int value;
} msg_facilities[] = {
	{"mail", LOG_MAIL}, {"daemon", LOG_DAEMON}, {"user", LOG_USER},
	{"local0", LOG_LOCAL0}, {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2},
	{"local3", LOG_LOCAL3}, {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5},
	{"local6", LOG_LOCAL6}, {"local7", LOG_LOCAL7},
};

/* msg_init - set the ident */
void msg_init(const char *ident)
{
	snprintf(msg_ident_buf, sizeof(msg_ident_buf), "%s", ident);
}

/* msg_ident - current ident */
const char *msg_ident(void)
{
	return msg_ident_buf;
}

/* msg_open - select the log target */
int msg_open(enum msg_target target, const char *path, const char *facility)
{
	int fd;
	size_t i;

	switch (target) {
	case MSG_FILE:
		fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
		if (fd < 0)
			return -1;
		if (msg_file_fd >= 0)
			close(msg_file_fd);
		msg_file_fd = fd;
		if (gethostname(msg_hostname, sizeof(msg_hostname)) != 0)
			snprintf(msg_hostname, sizeof(msg_hostname), "localhost");
		msg_hostname[sizeof(msg_hostname) - 1] = '\0';
		/* syslog writes the short host name */
		msg_hostname[strcspn(msg_hostname, ".")] = '\0';
		break;
	case MSG_SYSLOG:
		for (i = 0; i < sizeof(msg_facilities) / sizeof(msg_facilities[0]); i++)
			if (strcasecmp(facility ? facility : "mail", msg_facilities[i].name) == 0)
				break;
		if (i == sizeof(msg_facilities) / sizeof(msg_facilities[0])) {
			errno = EINVAL;
			return -1;
		}
		/* LOG_NDELAY: connect to /dev/log now, before any chroot */
		openlog(msg_ident_buf, LOG_PID | LOG_NDELAY, msg_facilities[i].value);
		break;
	case MSG_STDERR:
		break;
	}
	msg_target_now = target;
	return 0;
}

/* msg_also_stderr - copy every line to stderr as well */
void msg_also_stderr(bool on)
{
	msg_copy_stderr = on;
}

/* msg_fd - descriptor of the log file, or -1 */
int msg_fd(void)
{
	return msg_target_now == MSG_FILE ? msg_file_fd : -1;
}

/* msg_cleanup_add - register a hook for msg_fatal */
void msg_cleanup_add(void (*fn)(void *), void *ctx)
{
	if (msg_hook_count < MSG_HOOKS_MAX) {
		msg_hooks[msg_hook_count].fn = fn;
		msg_hooks[msg_hook_count].ctx = ctx;
		msg_hook_count++;
	}
}

/* msg_write_all - write a whole line, retrying on EINTR and short writes */
static void msg_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		buf += n;
		len -= (size_t) n;
	}
}

/* msg_text - format "level: text", cutting with "..." when too long */
static size_t msg_text(char *buf, size_t size, enum msg_level level,
		       const char *fmt, va_list ap)
{
	size_t len = 0;
	int n;

	if (msg_level_names[level] != NULL) {
		n = snprintf(buf, size, "%s: ", msg_level_names[level]);
		len = n > 0 ? (size_t) n : 0;
	}
	n = vsnprintf(buf + len, size - len, fmt, ap);
	if (n < 0)
		n = 0;
	if ((size_t) n >= size - len) {
		len = size - 1;
		memcpy(buf + size - 4, "...", 3);
	} else {
		len += (size_t) n;
	}
	/* a log line is one line: newlines from untrusted text become spaces */
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\n' || buf[i] == '\r')
			buf[i] = ' ';
	return len;
}

/* msg_vlog - log one line at the given level */
void msg_vlog(enum msg_level level, const char *fmt, va_list ap)
{
	static const int prio[] = {
		[MSG_DEBUG] = LOG_DEBUG, [MSG_INFO] = LOG_INFO, [MSG_WARN] = LOG_WARNING,
		[MSG_ERROR] = LOG_ERR, [MSG_FATAL] = LOG_CRIT, [MSG_PANIC] = LOG_CRIT,
	};
	char text[MSG_LINE_MAX];
	char line[MSG_LINE_MAX + 512];
	size_t len;
	int saved_errno = errno;
	int n;

	if (level == MSG_DEBUG && msg_verbose == 0)
		return;
	len = msg_text(text, sizeof(text), level, fmt, ap);

	if (msg_target_now == MSG_STDERR || msg_copy_stderr) {
		n = snprintf(line, sizeof(line), "%s: %.*s\n", msg_ident_buf, (int) len, text);
		if (n > 0)
			msg_write_all(STDERR_FILENO, line, (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1);
	}
	if (msg_target_now == MSG_SYSLOG) {
		syslog(prio[level], "%.*s", (int) len, text);
	} else if (msg_target_now == MSG_FILE && msg_file_fd >= 0) {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;

		localtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%b %e %H:%M:%S", &tm);
		n = snprintf(line, sizeof(line), "%s %s %s[%ld]: %.*s\n", stamp,
			     msg_hostname, msg_ident_buf, pid_self(), (int) len, text);
		if (n > 0)
			msg_write_all(msg_file_fd, line, (size_t) n < sizeof(line) ? (size_t) n : sizeof(line) - 1);
	}
	errno = saved_errno;
}

#define MSG_FORWARD(level) do { \
	va_list ap; \
	va_start(ap, fmt); \
	msg_vlog(level, fmt, ap); \
	va_end(ap); \
} while (0)

void msg_debug(const char *fmt, ...) { MSG_FORWARD(MSG_DEBUG); }
void msg_info(const char *fmt, ...) { MSG_FORWARD(MSG_INFO); }
void msg_warn(const char *fmt, ...) { MSG_FORWARD(MSG_WARN); }
void msg_error(const char *fmt, ...) { MSG_FORWARD(MSG_ERROR); }

/* msg_fatal - log, run cleanup hooks once, exit 1 */
void msg_fatal(const char *fmt, ...)
{
	MSG_FORWARD(MSG_FATAL);
	if (!msg_in_fatal) {
		msg_in_fatal = true;
		for (int i = msg_hook_count - 1; i >= 0; i--)
			msg_hooks[i].fn(msg_hooks[i].ctx);
	}
	exit(1);
}

/* msg_panic - log and abort with a core */
void msg_panic(const char *fmt, ...)
{
	MSG_FORWARD(MSG_PANIC);
	abort();
}
