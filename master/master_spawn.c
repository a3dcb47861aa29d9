/*
 * master_spawn - child processes: start on demand, status, reap, back-off.
 *
 * A service's listeners are watched only while none of its processes is
 * available (master_serv_update). When one becomes readable, master
 * forks and execs the command with the listeners and the status pipe at
 * the descriptors master_proto.h defines; the new process counts as
 * available at once, so master stops watching until it says "taken".
 *
 * A child that exits with a non-zero status or on a signal is logged and
 * throttles its service: no new process for 1 s, doubling with each
 * failure in a row up to service_throttle_time. A clean exit, or a
 * process that ran longer than service_throttle_time, resets the
 * back-off. Processes that are already running are not affected.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "master.h"

#define MASTER_LIMIT_WARN_EVERY	300	/* seconds between "process limit" warnings */

/* master_serv_listen - arm or disarm the listener events */
static void master_serv_listen(struct master_serv *s, bool on)
{
	if (s->listening == on)
		return;
	for (int i = 0; i < s->nlisten; i++) {
		if (on)
			event_add(s->listen_ev[i], NULL);
		else
			event_del(s->listen_ev[i]);
	}
	s->listening = on;
}

/* master_serv_update - watch the listeners exactly when a new process may be needed */
void master_serv_update(struct master_serv *s)
{
	bool at_limit = s->ent.maxproc > 0 && s->nproc >= s->ent.maxproc;
	bool want = s->started && !master.stopping && !s->retired && s->navail == 0 &&
	    !at_limit && s->throttled_until == 0;
	time_t now = time(NULL);

	if (s->started && s->navail == 0 && at_limit && s->ent.maxproc > 1 && !s->retired && !master.stopping &&
	    now - s->limit_warned >= MASTER_LIMIT_WARN_EVERY) {
		msg_warn("service %s (%s) has reached its process limit %d: new clients may see delays",
			 s->ent.name, s->ent.command, s->ent.maxproc);
		s->limit_warned = now;
	}
	master_serv_listen(s, want);
}

/* master_spawn_child - in the child: arrange descriptors, exec; never returns */
static _Noreturn void master_spawn_child(struct master_serv *s)
{
	int top = MASTER_LISTEN_FD + s->nlisten;
	int null_fd, status_fd, moved[MASTER_LISTEN_MAX];
	sigset_t none;

	/* the signal handlers master installed are not ours */
	signal(SIGCHLD, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* move everything above the target range first, so no dup2 hits a source */
	null_fd = fcntl(master.devnull, F_DUPFD, top);
	status_fd = fcntl(s->status_fd[1], F_DUPFD, top);
	if (null_fd < 0 || status_fd < 0)
		_exit(126);
	for (int i = 0; i < s->nlisten; i++)
		if ((moved[i] = fcntl(s->listen_fd[i], F_DUPFD, top)) < 0)
			_exit(126);
	if (dup2(null_fd, 0) < 0 || dup2(null_fd, 1) < 0 ||
	    (!master.foreground && dup2(null_fd, 2) < 0) ||
	    dup2(status_fd, MASTER_STATUS_FD) < 0)
		_exit(126);
	for (int i = 0; i < s->nlisten; i++)
		if (dup2(moved[i], MASTER_LISTEN_FD + i) < 0)
			_exit(126);
	close_range((unsigned) top, ~0U, 0);
	execve(s->exec_path, s->argv, master.envp);
	_exit(127);
}

/* master_on_throttle_end - the back-off time is over */
static void master_on_throttle_end(evutil_socket_t fd, short what, void *arg)
{
	struct master_serv *s = arg;

	(void) fd;
	(void) what;
	s->throttled_until = 0;
	master_serv_update(s);
	master_wakeup_now(s);
	master_status_dirty();
}

/* master_throttle - back off after an abnormal exit */
static void master_throttle(struct master_serv *s, time_t started)
{
	long long max = master.cfg.global.service_throttle_time, delay;
	time_t now = time(NULL);
	struct timeval tv;

	if (now - started >= max)
		s->fail_streak = 0;	/* it ran long enough: this is not a crash loop */
	s->fail_streak++;
	delay = 1LL << (s->fail_streak > 20 ? 20 : s->fail_streak - 1);
	if (delay > max)
		delay = max;
	if (s->fail_streak > 1)
		msg_warn("service %s (%s) keeps failing (%d abnormal exits in a row): throttled for %llds",
			 s->ent.name, s->ent.command, s->fail_streak, delay);
	else
		msg_info("service %s (%s): next process in %llds", s->ent.name, s->ent.command, delay);
	s->throttled_until = now + delay;
	tv.tv_sec = (time_t) delay;
	tv.tv_usec = 0;
	evtimer_add(s->throttle_ev, &tv);
}

/* master_spawn - start one process for s */
static void master_spawn(struct master_serv *s)
{
	struct master_proc *p;
	pid_t pid;

	if (access(s->exec_path, X_OK) < 0) {
		msg_warn("service %s: cannot execute %s: %s", s->ent.name, s->exec_path, strerror(errno));
		s->abnormal++;
		master_throttle(s, time(NULL));
	} else if ((pid = fork()) < 0) {
		msg_warn("service %s: fork: %s", s->ent.name, strerror(errno));
		master_throttle(s, time(NULL));
	} else if (pid == 0) {
		master_spawn_child(s);
	} else {
		p = xcalloc(1, sizeof(*p));
		p->pid = pid;
		p->serv = s;
		p->avail = true;
		p->started = time(NULL);
		p->next = s->procs;
		s->procs = p;
		s->nproc++;
		s->navail++;
		s->spawned++;
		msg_debug("service %s: started %s pid %ld", s->ent.name, s->ent.command, (long) pid);
	}
	master_serv_update(s);
	master_status_dirty();
}

/* master_on_listen - a listener is readable and no process is available */
static void master_on_listen(evutil_socket_t fd, short what, void *arg)
{
	struct master_serv *s = arg;

	(void) fd;
	(void) what;
	if (s->listening)
		master_spawn(s);
}

/* master_proc_exit - account for one reaped process */
static void master_proc_exit(struct master_proc *p, int status)
{
	struct master_serv *s = p->serv;
	bool quiet = master.stopping || s->retired;
	char sig[48];

	for (struct master_proc **pp = &s->procs; *pp; pp = &(*pp)->next) {
		if (*pp == p) {
			*pp = p->next;
			break;
		}
	}
	s->nproc--;
	if (p->avail)
		s->navail--;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		s->fail_streak = 0;
		msg_debug("service %s: pid %ld exited", s->ent.name, (long) p->pid);
	} else {
		s->abnormal++;
		if (WIFSIGNALED(status)) {
			const char *abbrev = sigabbrev_np(WTERMSIG(status));

			str_fmt(sig, sizeof(sig), "killed by signal %d%s%s%s", WTERMSIG(status),
				abbrev ? " (SIG" : "", abbrev ? abbrev : "", abbrev ? ")" : "");
		} else {
			str_fmt(sig, sizeof(sig), "exit status %d%s", WEXITSTATUS(status),
				WEXITSTATUS(status) == 127 ? " (command could not be executed)" : "");
		}
		if (quiet)
			msg_info("service %s (%s) pid %ld %s", s->ent.name, s->ent.command, (long) p->pid, sig);
		else
			msg_warn("service %s (%s) pid %ld %s", s->ent.name, s->ent.command, (long) p->pid, sig);
		if (!quiet)
			master_throttle(s, p->started);
	}
	free(p);
	if (s->retired && s->nproc == 0) {
		for (struct master_serv **sp = &master.retired; *sp; sp = &(*sp)->next) {
			if (*sp == s) {
				*sp = s->next;
				break;
			}
		}
		master_serv_free(s);
	} else {
		master_serv_update(s);
	}
	master_status_dirty();
}

/* master_proc_find - the process with this pid, in any service */
static struct master_proc *master_proc_find(pid_t pid)
{
	struct master_serv *lists[2] = { master.services, master.retired };

	for (int i = 0; i < 2; i++)
		for (struct master_serv *s = lists[i]; s; s = s->next)
			for (struct master_proc *p = s->procs; p; p = p->next)
				if (p->pid == pid)
					return p;
	return NULL;
}

/* master_reap - collect every exited child (SIGCHLD, through the event loop) */
void master_reap(void)
{
	struct master_proc *p;
	pid_t pid;
	int status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if ((p = master_proc_find(pid)) != NULL)
			master_proc_exit(p, status);
		else
			msg_debug("reaped unknown pid %ld", (long) pid);
	}
	if (master.stopping)
		master_stop_check();
}

/* master_status_record - apply one record from a child */
static void master_status_record(struct master_serv *s, const struct master_status *rec)
{
	struct master_proc *p;
	bool avail;

	if (rec->magic != MASTER_STATUS_MAGIC) {
		msg_warn("service %s: status record with bad magic 0x%x ignored", s->ent.name, rec->magic);
		return;
	}
	for (p = s->procs; p; p = p->next)
		if (p->pid == rec->pid)
			break;
	if (p == NULL) {
		msg_warn("service %s: status from pid %ld, which is not one of its processes", s->ent.name,
			 (long) rec->pid);
		return;
	}
	avail = rec->status == MASTER_STAT_AVAIL;
	if (avail != p->avail) {
		p->avail = avail;
		s->navail += avail ? 1 : -1;
	}
}

/* master_on_status - records on a service's status pipe */
static void master_on_status(evutil_socket_t fd, short what, void *arg)
{
	struct master_serv *s = arg;
	struct master_status rec;
	size_t off = 0;
	ssize_t n;

	(void) what;
	n = read(fd, s->status_buf + s->status_len, sizeof(s->status_buf) - s->status_len);
	if (n <= 0)
		return;
	s->status_len += (size_t) n;
	while (s->status_len - off >= sizeof(rec)) {
		memcpy(&rec, s->status_buf + off, sizeof(rec));
		master_status_record(s, &rec);
		off += sizeof(rec);
	}
	memmove(s->status_buf, s->status_buf + off, s->status_len - off);
	s->status_len -= off;
	master_serv_update(s);
	master_status_dirty();
}

/* master_serv_argv - the child's argument vector (master_proto.h) */
static void master_serv_argv(struct master_serv *s)
{
	size_t n = 0, max = 16 + (size_t) master.verbose;
	char count[16];

	for (char **v = s->ent.overrides; *v; v++)
		max += 2;
	for (char **v = s->ent.args; *v; v++)
		max++;
	s->argv = xcalloc(max, sizeof(char *));
	str_fmt(count, sizeof(count), "%d", s->nlisten);
	s->argv[n++] = xstrdup(s->ent.command);
	s->argv[n++] = xstrdup("-n");
	s->argv[n++] = xstrdup(s->ent.name);
	s->argv[n++] = xstrdup("-t");
	s->argv[n++] = xstrdup(mastercf_type_name(s->ent.type));
	s->argv[n++] = xstrdup("-c");
	s->argv[n++] = xstrdup(master.dir);
	s->argv[n++] = xstrdup("-s");
	s->argv[n++] = xstrdup(count);
	if (s->ent.unprivileged)
		s->argv[n++] = xstrdup("-u");
	if (s->ent.chroot)
		s->argv[n++] = xstrdup("-C");
	for (int i = 0; i < master.verbose; i++)
		s->argv[n++] = xstrdup("-v");
	for (char **v = s->ent.overrides; *v; v++) {
		s->argv[n++] = xstrdup("-o");
		s->argv[n++] = xstrdup(*v);
	}
	for (char **v = s->ent.args; *v; v++)
		s->argv[n++] = xstrdup(*v);
	s->argv[n] = NULL;
}

/* master_serv_start - status pipe, events, wake-up timer; listeners are open */
void master_serv_start(struct master_serv *s)
{
	if (pipe2(s->status_fd, O_CLOEXEC) < 0)
		msg_fatal("pipe: %s", strerror(errno));
	if (fcntl(s->status_fd[0], F_SETFL, O_NONBLOCK) < 0)
		msg_fatal("fcntl: %s", strerror(errno));
	s->status_ev = event_new(master.base, s->status_fd[0], EV_READ | EV_PERSIST, master_on_status, s);
	event_add(s->status_ev, NULL);
	s->throttle_ev = evtimer_new(master.base, master_on_throttle_end, s);
	for (int i = 0; i < s->nlisten; i++)
		s->listen_ev[i] = event_new(master.base, s->listen_fd[i], EV_READ | EV_PERSIST, master_on_listen, s);
	if (s->argv == NULL)
		master_serv_argv(s);
	s->started = true;
	master_wakeup_start(s);
	master_serv_update(s);
}

/*
 * master_serv_quiesce - stop watching: listener events, wake-ups and the
 * throttle timer go; the listeners themselves stay open (the caller
 * closes them or hands them to a successor).
 */
void master_serv_quiesce(struct master_serv *s)
{
	master_serv_listen(s, false);
	for (int i = 0; i < s->nlisten; i++) {
		if (s->listen_ev[i] != NULL)
			event_free(s->listen_ev[i]);
		s->listen_ev[i] = NULL;
	}
	master_wakeup_stop(s);
	if (s->throttle_ev != NULL) {
		event_free(s->throttle_ev);
		s->throttle_ev = NULL;
	}
}

/*
 * master_serv_retire - the service is gone or replaced: close its status
 * pipe, so its processes stop accepting and exit when their connections
 * are done. The caller has closed or handed on the listeners and moved s
 * to the retired list (or freed it when it has no processes).
 */
void master_serv_retire(struct master_serv *s)
{
	master_serv_quiesce(s);
	if (s->status_ev != NULL) {
		event_free(s->status_ev);
		s->status_ev = NULL;
	}
	if (s->started) {
		close(s->status_fd[0]);
		close(s->status_fd[1]);
	}
	s->started = false;
	s->retired = true;
}

/* master_signal_all - send sig to every child; returns how many */
int master_signal_all(int sig)
{
	struct master_serv *lists[2] = { master.services, master.retired };
	int n = 0;

	for (int i = 0; i < 2; i++)
		for (struct master_serv *s = lists[i]; s; s = s->next)
			for (struct master_proc *p = s->procs; p; p = p->next)
				if (kill(p->pid, sig) == 0)
					n++;
	return n;
}

/* master_proc_total - children not yet reaped */
int master_proc_total(void)
{
	struct master_serv *lists[2] = { master.services, master.retired };
	int n = 0;

	for (int i = 0; i < 2; i++)
		for (struct master_serv *s = lists[i]; s; s = s->next)
			n += s->nproc;
	return n;
}
