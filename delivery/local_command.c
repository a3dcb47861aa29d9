/*
 * local_command - deliver to a command ("|command" in aliases or
 * .forward, or mailbox_command): /bin/sh -c command, run in the delivery
 * child that already is the owner, with a clean environment (HOME, USER,
 * LOGNAME, SHELL, PATH, SENDER, RECIPIENT, LOCAL, DOMAIN, EXTENSION), the
 * home directory as working directory, the message (Return-Path:,
 * Delivered-To:, content) on standard input and a time limit, after which
 * the command's process group is killed.
 *
 * Exit status: 0 sent; 75 (EX_TEMPFAIL), a signal or the time limit:
 * deferred; anything else bounced 5.3.0; the first line of the command's
 * output goes into the reason.
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
#include "local.h"

#define LOCAL_OUTPUT_MAX	200	/* bytes of command output kept for the reason */

/* local_env - the command's environment */
static char **local_env(const struct local_priv *priv, struct local_exp *e)
{
	char **env = xcalloc(12, sizeof(*env));
	char *rcpt = xstrdup(e->rcpt);
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
	env[n++] = str_dupf("RECIPIENT=%s", e->rcpt);
	env[n++] = str_dupf("DOMAIN=%s", at ? at : "");
	if (plus)
		env[n++] = str_dupf("EXTENSION=%s", plus + 1);
	if (plus)
		*plus = '\0';
	env[n++] = str_dupf("LOCAL=%s", rcpt);
	env[n] = NULL;
	free(rcpt);
	return env;
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
		   long long timeout, struct deliver_out *out)
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
		char **env = local_env(priv, e);
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
	/* the message: prefix and content (read as we go would be leaner; fine for now) */
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
	for (char *p = output.data ? output.data : (char *) ""; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '\t')
			*p = ' ';
	if (timed_out)
		deliver_set(out, DELIVER_DEFER, "4.3.0", "command time limit exceeded: %s", cmd);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		deliver_set(out, DELIVER_SENT, "2.0.0", "delivered to command: %s", cmd);
	else if (WIFEXITED(status) && WEXITSTATUS(status) == EX_TEMPFAIL)
		deliver_set(out, DELIVER_DEFER, "4.3.0", "command temporary failure: %s: %s", cmd,
			    str_trim(output.data ? output.data : (char *) ""));
	else if (WIFEXITED(status))
		deliver_set(out, DELIVER_BOUNCE, "5.3.0", "command failed with status %d: %s: %s",
			    WEXITSTATUS(status), cmd, str_trim(output.data ? output.data : (char *) ""));
	else
		deliver_set(out, DELIVER_DEFER, "4.3.0", "command killed by signal %d: %s",
			    WTERMSIG(status), cmd);
	buf_free(&msg);
	buf_free(&output);
}
