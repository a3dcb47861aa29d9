/*
 * sendmail_submit - hand one message to tern, durably.
 *
 * The message is one BEGIN frame (envelope) and one content stream, the
 * cleanup conversation of cleanup_proto.h. First choice: send it to
 * the pickup service on queue_directory/public/pickup; pickup learns our
 * uid from the kernel, relays to cleanup, and returns cleanup's RESULT:
 * "ok" means the queue file is durable. Second choice, when tern is not
 * running or pickup or cleanup cannot take the message now (no socket,
 * refused, timeout, connection lost, a 4xx result): the same frames go
 * to the terndrop helper, which spools them to the maildrop directory
 * (fsync'ed, then renamed into place) and exits 0 only then; sendmail
 * then pokes pickup with a wake-up request, in case it runs.
 *
 * A 5xx result is final: no maildrop, an exit code from the status.
 * A timeout after the whole message was sent leaves its fate unknown;
 * the message is then spooled as well (a possible duplicate beats a
 * possible loss).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "sendmail.h"

#define SENDMAIL_PICKUP_SOCKET	"public/pickup"
#define SENDMAIL_HELPER		"terndrop"
#define SENDMAIL_TRIGGER_MS	1000

/* sendmail_submit_now_ms - a monotonic clock in milliseconds */
static long long sendmail_submit_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* sendmail_submit_left - milliseconds to the deadline, at least 1 */
static int sendmail_submit_left(long long deadline)
{
	long long left = deadline - sendmail_submit_now_ms();

	return left < 1 ? 1 : left > 86400000 ? 86400000 : (int) left;
}

/* sendmail_submit_begin - the BEGIN frame */
static int sendmail_submit_begin(const struct sendmail *sm, const struct sendmail_env *env,
			  const struct sendmail_msg *m, struct attr_list *l)
{
	bool notify = false, orcpt = false;

	(void) sm;
	attr_add_str(l, CLEANUP_OP, CLEANUP_OP_BEGIN);
	attr_add_str(l, CLEANUP_SENDER, env->sender);
	for (size_t i = 0; i < env->nrcpts; i++) {
		attr_add_str(l, CLEANUP_RCPT, env->rcpts[i].addr);
		notify |= env->rcpts[i].notify != 0;
		orcpt |= env->rcpts[i].orcpt != NULL;
	}
	/* "orcpt" and "notify" come for every recipient or for none */
	for (size_t i = 0; notify && i < env->nrcpts; i++)
		attr_add_int(l, CLEANUP_RCPT_NOTIFY, env->rcpts[i].notify);
	for (size_t i = 0; orcpt && i < env->nrcpts; i++)
		attr_add_str(l, CLEANUP_RCPT_ORCPT, env->rcpts[i].orcpt ? env->rcpts[i].orcpt : "");
	if (env->ret != NULL)
		attr_add_str(l, CLEANUP_RET, env->ret);
	if (env->envid != NULL)
		attr_add_str(l, CLEANUP_ENVID, env->envid);
	attr_add_int(l, CLEANUP_FLAGS, env->flags);
	attr_add_int(l, CLEANUP_SIZE, (int64_t) m->content.len);
	return attr_list_error(l) ? -1 : 0;
}

/* sendmail_submit_frames - write the whole message as frames to fd by the deadline; 0 or -1 */
static int sendmail_submit_frames(int fd, const struct attr_list *begin, const struct sendmail_msg *m,
			   long long deadline)
{
	struct ipc_stream s;

	ipc_stream_init(&s);
	if (ipc_send(fd, begin, sendmail_submit_left(deadline)) < 0)
		return -1;
	if (m->content.len > 0 &&
	    ipc_stream_send_chunk(fd, &s, m->content.data, m->content.len, sendmail_submit_left(deadline)) < 0)
		return -1;
	return ipc_stream_send_end(fd, &s, sendmail_submit_left(deadline));
}

/* sendmail_submit_set - fill a result */
static void sendmail_submit_set(struct sendmail_result *res, int code, const char *dsn, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void sendmail_submit_set(struct sendmail_result *res, int code, const char *dsn, const char *fmt, ...)
{
	va_list ap;

	res->code = code;
	str_copy(res->dsn, dsn, sizeof(res->dsn));
	va_start(ap, fmt);
	vsnprintf(res->text, sizeof(res->text), fmt, ap);
	va_end(ap);
}

/*
 * sendmail_submit_pickup - the conversation with public/pickup: 1 done (res
 * has cleanup's result), 0 not possible now (try the maildrop), with
 * why set
 */
static int sendmail_submit_pickup(const struct sendmail *sm, const struct attr_list *begin,
			   const struct sendmail_msg *m, struct sendmail_result *res, char *why, size_t whylen)
{
	char *path = str_dupf("%s/%s", sm->cfg.global.queue_directory, SENDMAIL_PICKUP_SOCKET);
	long long deadline = sendmail_submit_now_ms() + sm->cfg.global.sendmail_timeout * 1000;
	struct attr_list reply;
	const char *status, *s;
	int64_t code = 0;
	char err[256];
	int fd, rc;

	fd = ipc_connect_unix(path, sendmail_submit_left(deadline));
	if (fd < 0) {
		str_fmt(why, whylen, "%s: %s", path, strerror(errno));
		free(path);
		return 0;
	}
	attr_list_init(&reply);
	if (sendmail_submit_frames(fd, begin, m, deadline) < 0) {
		str_fmt(why, whylen, "%s: write: %s", path, strerror(errno));
		rc = 0;
	} else if ((rc = ipc_recv(fd, &reply, 0, sendmail_submit_left(deadline), err, sizeof(err))) <= 0) {
		str_fmt(why, whylen, "%s: no answer: %s", path, rc == 0 ? "connection closed" : err);
		rc = 0;
	} else if (attr_need_str(&reply, CLEANUP_STATUS, &status, err, sizeof(err)) < 0) {
		str_fmt(why, whylen, "%s: bad answer: %s", path, err);
		rc = 0;
	} else if (strcmp(status, CLEANUP_STATUS_OK) == 0) {
		if (!attr_get_str(&reply, CLEANUP_QUEUE_ID, &s))
			s = "(unknown)";
		str_copy(res->queue_id, s, sizeof(res->queue_id));
		sendmail_submit_set(res, 250, "2.0.0", "Ok: queued as %s", res->queue_id);
		rc = 1;
	} else {
		const char *dsn = "5.0.0", *text = "refused";

		attr_get_int(&reply, CLEANUP_REPLY_CODE, &code);
		attr_get_str(&reply, CLEANUP_REPLY_DSN, &dsn);
		attr_get_str(&reply, CLEANUP_REPLY_TEXT, &text);
		if (code < 400 || code > 599)
			code = 451;
		sendmail_submit_set(res, (int) code, dsn, "%s", text);
		if (code < 500) {
			str_fmt(why, whylen, "%s: %d %s %s", path, (int) code, dsn, text);
			rc = 0;
		} else {
			rc = 1;
		}
	}
	close(fd);
	attr_list_free(&reply);
	free(path);
	return rc;
}

/* sendmail_submit_trigger - wake pickup up (it may not run: nothing to do then) */
static void sendmail_submit_trigger(const struct sendmail *sm)
{
	char *path = str_dupf("%s/%s", sm->cfg.global.queue_directory, SENDMAIL_PICKUP_SOCKET);
	int fd = ipc_connect_unix(path, SENDMAIL_TRIGGER_MS);

	if (fd >= 0) {
		if (write(fd, "W", 1) != 1)
			msg_debug("trigger %s: %s", path, strerror(errno));
		close(fd);
	}
	free(path);
}

/* sendmail_submit_helper_dir - the configuration directory to name to terndrop */
static const char *sendmail_submit_helper_dir(const struct sendmail *sm)
{
	return sm->config_dir != NULL ? sm->config_dir : config_dir_default();
}

/*
 * sendmail_submit_maildrop - spool through terndrop: EX_OK when it said the
 * file is in place; else an exit code, res filled
 */
static int sendmail_submit_maildrop(const struct sendmail *sm, const struct attr_list *begin,
			     const struct sendmail_msg *m, struct sendmail_result *res)
{
	char *helper = str_dupf("%s/%s", sm->cfg.global.daemon_directory, SENDMAIL_HELPER);
	int pfd[2], status, wrote;
	pid_t pid;

	if (pipe2(pfd, O_CLOEXEC) < 0) {
		sendmail_submit_set(res, 451, "4.3.0", "pipe: %s", strerror(errno));
		free(helper);
		return EX_OSERR;
	}
	fflush(stderr);
	if ((pid = fork()) < 0) {
		sendmail_submit_set(res, 451, "4.3.0", "fork: %s", strerror(errno));
		close(pfd[0]);
		close(pfd[1]);
		free(helper);
		return EX_OSERR;
	}
	if (pid == 0) {
		char *const args[] = {(char *) SENDMAIL_HELPER, (char *) "-c",
				      (char *) sendmail_submit_helper_dir(sm), NULL};

		if (dup2(pfd[0], STDIN_FILENO) < 0)
			_exit(EX_OSERR);
		execv(helper, args);
		fprintf(stderr, "sendmail: error: cannot run %s: %s\n", helper, strerror(errno));
		_exit(EX_UNAVAILABLE);
	}
	close(pfd[0]);
	/* the helper reads all or fails; no time limit beyond its own */
	wrote = sendmail_submit_frames(pfd[1], begin, m, sendmail_submit_now_ms() + 86400000LL);
	close(pfd[1]);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && wrote == 0) {
		str_copy(res->queue_id, "maildrop", sizeof(res->queue_id));
		sendmail_submit_set(res, 250, "2.0.0", "Ok: queued in the maildrop (tern is not running now)");
		free(helper);
		return EX_OK;
	}
	sendmail_submit_set(res, 451, "4.3.0", "cannot spool the message to the maildrop: %s %s %d",
		     helper, WIFEXITED(status) ? "exited with status" : "was killed by signal",
		     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
	free(helper);
	return EX_TEMPFAIL;
}

/* sendmail_submit_exit - the exit code for a final refusal */
static int sendmail_submit_exit(const struct sendmail_result *res)
{
	const char *d = res->dsn;

	if (res->code < 500)
		return EX_TEMPFAIL;
	if (strcmp(d, "5.1.3") == 0 || strcmp(d, "5.1.7") == 0 || strncmp(d, "5.5.", 4) == 0 ||
	    strncmp(d, "5.6.", 4) == 0 || strcmp(d, "5.3.4") == 0)
		return EX_DATAERR;
	if (strncmp(d, "5.1.", 4) == 0)
		return EX_NOUSER;
	return EX_UNAVAILABLE;
}

/* sendmail_submit - to pickup, else to the maildrop */
int sendmail_submit(const struct sendmail *sm, const struct sendmail_env *env,
		    const struct sendmail_msg *m, struct sendmail_result *res)
{
	struct attr_list begin;
	char why[600];
	int rc;

	memset(res, 0, sizeof(*res));
	attr_list_init(&begin);
	if (sendmail_submit_begin(sm, env, m, &begin) < 0) {
		sendmail_submit_set(res, 554, "5.5.4", "envelope too large: %s", attr_list_error(&begin));
		attr_list_free(&begin);
		return EX_DATAERR;
	}
	if (sendmail_submit_pickup(sm, &begin, m, res, why, sizeof(why))) {
		rc = res->code == 250 ? EX_OK : sendmail_submit_exit(res);
	} else {
		if (sm->verbose)
			fprintf(stderr, "sendmail: pickup service not available (%s): spooling to the maildrop\n",
				why);
		rc = sendmail_submit_maildrop(sm, &begin, m, res);
		if (rc == EX_OK)
			sendmail_submit_trigger(sm);
	}
	attr_list_free(&begin);
	return rc;
}
