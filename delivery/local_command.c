/*
 * local_command - deliver to a command ("|command" in aliases or
 * .forward, or mailbox_command): /bin/sh -c command, run in the delivery
 * child that already is the owner, with a clean environment (HOME, USER,
 * LOGNAME, SHELL, PATH=/usr/bin:/bin, SENDER, RECIPIENT (the address
 * being delivered), ORIGINAL_RECIPIENT, DOMAIN, LOCAL (the whole local
 * part) and EXTENSION (after the first '+', when there is one)), the
 * home directory as working directory, the message (Return-Path:,
 * Delivered-To:, content) on standard input and a time limit, after which
 * the command's process group is killed.
 *
 * The message starts with a "From sender date" line (procmail and other
 * mailbox commands expect one; no ">From" quoting), then Return-Path: and
 * Delivered-To:, then the content, as Postfix's local gives it.
 *
 * Results, the rules of Postfix's local(8) and pipe_command:
 *   exit 0                      sent;
 *   killed by a signal          deferred 4.3.0;
 *   past command_time_limit     bounced 5.3.0 (the process group is killed);
 *   non-zero, and the output starts with "X.Y.Z text" (an RFC 3463
 *   code)                       that code: 4.x.x deferred, 5.x.x bounced;
 *   a <sysexits.h> code (64-78) its code from local_sysexits (EX_TEMPFAIL
 *                               75 and EX_OSERR 71 are 4.3.0 deferred, the
 *                               others bounce);
 *   any other non-zero status   bounced 5.3.0.
 * Up to LOCAL_OUTPUT_MAX bytes of the command's output (stdout and
 * stderr) go into the reason, tabs and line ends made spaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/mbox.h"
#include "local.h"

#define LOCAL_OUTPUT_MAX	200	/* bytes of command output kept for the reason */
#define LOCAL_ENV_MAX		16	/* environment entries, NULL included */

/* local_sysexit - what a <sysexits.h> exit status means (Postfix's sys_exits table) */
struct local_sysexit {
	int status;
	const char *dsn;
	const char *text;
};

static const struct local_sysexit local_sysexits[] = {
	{EX_USAGE, "5.3.0", "command line usage error"},
	{EX_DATAERR, "5.6.0", "data format error"},
	{EX_NOINPUT, "5.3.0", "cannot open input"},
	{EX_NOUSER, "5.1.1", "user unknown"},
	{EX_NOHOST, "5.1.2", "host name unknown"},
	{EX_UNAVAILABLE, "5.3.0", "service unavailable"},
	{EX_SOFTWARE, "5.3.0", "internal software error"},
	{EX_OSERR, "4.3.0", "system resource problem"},
	{EX_OSFILE, "5.3.0", "critical OS file missing"},
	{EX_CANTCREAT, "5.2.0", "can't create user output file"},
	{EX_IOERR, "5.3.0", "input/output error"},
	{EX_TEMPFAIL, "4.3.0", "temporary failure"},
	{EX_PROTOCOL, "5.5.0", "remote error in protocol"},
	{EX_NOPERM, "5.7.0", "permission denied"},
	{EX_CONFIG, "5.3.5", "local configuration error"},
};

/* local_env - the command's environment (to: the address being delivered) */
static char **local_env(const struct local_priv *priv, struct local_exp *e, const char *to)
{
	char **env = xcalloc(LOCAL_ENV_MAX, sizeof(*env));
	char *rcpt = xstrdup(to);
	char *at = strrchr(rcpt, '@');
	char *plus;
	int n = 0;

	if (at)
		*at++ = '\0';
	plus = strchr(rcpt, '+');
	env[n++] = str_dupf("HOME=%s", priv->home);
	env[n++] = str_dupf("USER=%s", priv->user);
	env[n++] = str_dupf("LOGNAME=%s", priv->user);
	env[n++] = str_dupf("SHELL=%s", priv->shell);
	env[n++] = xstrdup("PATH=/usr/bin:/bin");
	env[n++] = str_dupf("SENDER=%s", e->job->sender);
	env[n++] = str_dupf("RECIPIENT=%s", to);
	env[n++] = str_dupf("ORIGINAL_RECIPIENT=%s", e->rcpt);
	env[n++] = str_dupf("DOMAIN=%s", at ? at : "");
	env[n++] = str_dupf("LOCAL=%s", rcpt);	/* the whole local part, extension included */
	if (plus)
		env[n++] = str_dupf("EXTENSION=%s", plus + 1);
	env[n] = NULL;
	free(rcpt);
	return env;
}

/* local_dsn_text - output that starts with an RFC 3463 code "X.Y.Z text": its length, else 0 */
static size_t local_dsn_text(const char *s)
{
	size_t n = 0;

	if ((s[0] != '4' && s[0] != '5') || s[1] != '.')
		return 0;
	n = 2;
	for (int part = 0; part < 2; part++) {
		size_t digits = strspn(s + n, "0123456789");

		if (digits == 0 || digits > 3)
			return 0;
		n += digits;
		if (part == 0 && s[n++] != '.')
			return 0;
	}
	return s[n] == '\0' || s[n] == ' ' ? n : 0;
}

/* local_result - the outcome of a command that ended (see the file comment) */
static void local_result(const char *cmd, int status, bool timed_out, char *output, struct deliver_out *out)
{
	const char *sep = output[0] ? ". Command output: " : "";
	size_t dsn_len;

	if (timed_out) {
		deliver_set(out, DELIVER_BOUNCE, "5.3.0", "Command time limit exceeded: \"%s\"%s%s", cmd, sep,
			    output);
		return;
	}
	if (WIFSIGNALED(status)) {
		deliver_set(out, DELIVER_DEFER, "4.3.0", "Command died with signal %d: \"%s\"%s%s",
			    WTERMSIG(status), cmd, sep, output);
		return;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		deliver_set(out, DELIVER_SENT, "2.0.0", "delivered to command: %s", cmd);
		return;
	}
	if ((dsn_len = local_dsn_text(output)) > 0) {
		char dsn[16];

		str_fmt(dsn, sizeof(dsn), "%.*s", (int) dsn_len, output);
		deliver_set(out, dsn[0] == '4' ? DELIVER_DEFER : DELIVER_BOUNCE, dsn, "%s",
			    str_trim(output + dsn_len));
		return;
	}
	for (size_t k = 0; k < sizeof(local_sysexits) / sizeof(local_sysexits[0]); k++) {
		const struct local_sysexit *x = &local_sysexits[k];

		if (x->status == WEXITSTATUS(status)) {
			deliver_set(out, x->dsn[0] == '4' ? DELIVER_DEFER : DELIVER_BOUNCE, x->dsn,
				    "%s%s%s", x->text, sep, output);
			return;
		}
	}
	deliver_set(out, DELIVER_BOUNCE, "5.3.0", "Command died with status %d: \"%s\"%s%s",
		    WEXITSTATUS(status), cmd, sep, output);
}

/* local_now_ms - monotonic milliseconds */
static long long local_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* local_command - see the file comment */
void local_command(const char *cmd, const struct local_priv *priv, struct local_exp *e,
		   const char *to, long long timeout, struct deliver_out *out)
{
	int in[2], outp[2];
	pid_t pid;
	struct buf msg, output;
	struct qfile_error qerr;
	char io[16384];
	size_t off = 0;
	ssize_t n;
	int status = 0;
	bool in_open = true, out_open = true, timed_out = false, exited = false;
	long long deadline = local_now_ms() + timeout * 1000;

	buf_init(&msg, 0);
	buf_init(&output, 0);
	if (pipe2(in, O_CLOEXEC) != 0 || pipe2(outp, O_CLOEXEC) != 0) {
		deliver_set(out, DELIVER_DEFER, "4.3.0", "pipe: %s", strerror(errno));
		return;
	}
	pid = fork();
	if (pid < 0) {
		deliver_set(out, DELIVER_DEFER, "4.3.0", "fork: %s", strerror(errno));
		return;
	}
	if (pid == 0) {
		char **env = local_env(priv, e, to);
		char *argv[] = {"/bin/sh", "-c", (char *) cmd, NULL};

		setsid();
		if (dup2(in[0], 0) < 0 || dup2(outp[1], 1) < 0 || dup2(outp[1], 2) < 0)
			_exit(EX_OSERR);
		if (chdir(priv->home) != 0 && chdir("/") != 0)
			_exit(EX_OSERR);
		signal(SIGPIPE, SIG_DFL);
		execve(argv[0], argv, env);
		_exit(EX_OSERR);
	}
	close(in[0]);
	close(outp[1]);
	fcntl(in[1], F_SETFL, O_NONBLOCK);
	/* the message: From_ line, prefix and content (read as we go would be leaner; fine for now) */
	mbox_from_line(e->job->sender, &msg);
	buf_append(&msg, e->prefix, e->prefix_len);
	if (qfile_content_seek(e->job->ro, 0, &qerr) == 0)
		while ((n = qfile_content_read(e->job->ro, io, sizeof(io), &qerr)) > 0)
			buf_append(&msg, io, (size_t) n);
	while (in_open || out_open) {
		struct pollfd pfd[2];
		int np = 0, ms;
		long long left = deadline - local_now_ms();

		if (left <= 0) {
			timed_out = true;
			break;
		}
		ms = left > 1000 ? 1000 : (int) left;
		if (in_open)
			pfd[np++] = (struct pollfd) {.fd = in[1], .events = POLLOUT};
		if (out_open)
			pfd[np++] = (struct pollfd) {.fd = outp[0], .events = POLLIN};
		if (poll(pfd, (nfds_t) np, ms) < 0 && errno != EINTR)
			break;
		for (int k = 0; k < np; k++) {
			if (pfd[k].revents == 0)
				continue;
			if (pfd[k].fd == in[1]) {
				ssize_t w = write(in[1], msg.data + off, msg.len - off);

				if (w > 0)
					off += (size_t) w;
				if ((w < 0 && errno != EAGAIN && errno != EINTR) || off == msg.len) {
					close(in[1]);
					in_open = false;
				}
			} else {
				n = read(outp[0], io, sizeof(io));
				if (n > 0 && output.len < LOCAL_OUTPUT_MAX)
					buf_append(&output, io, (size_t) n > LOCAL_OUTPUT_MAX - output.len ?
						   LOCAL_OUTPUT_MAX - output.len : (size_t) n);
				if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
					close(outp[0]);
					out_open = false;
				}
			}
		}
	}
	if (in_open)
		close(in[1]);
	if (out_open)
		close(outp[0]);
	while (!timed_out) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid) {
			exited = true;
			break;
		}
		if (local_now_ms() >= deadline)
			timed_out = true;
		else
			usleep(10000);
	}
	if (!exited) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	buf_putc(&output, '\0');
	for (char *p = output.data; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
		else if ((unsigned char) *p < ' ' || *p == 0x7f)
			*p = '_';
	local_result(cmd, status, timed_out, str_trim(output.data), out);
	buf_free(&msg);
	buf_free(&output);
}
