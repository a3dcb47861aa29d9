/*
 * master - the tern supervisor: master [-c config_dir] [-d] [-v]
 *
 * Reads tern.conf and master.conf, takes an exclusive lock on
 * data_directory/master.lock (a second master for the same instance
 * stops with a message naming the running one), writes master.pid, opens
 * every listener, and then starts the services' processes on demand
 * (master_spawn.c). Without -d it detaches (fork, setsid) only after all
 * that worked, and the parent's exit status says whether it did, so
 * "ternctl start" can show the error. SIGHUP reloads both files
 * (master_conf.c), SIGTERM (or SIGINT) stops: listeners close, children
 * get SIGTERM, the ones still there after master_stop_timeout get
 * SIGKILL, then the pid and status files are removed and master exits 0.
 * Signals are handled in the event loop (evsignal); no work happens in a
 * signal handler.
 *
 * The lock is an fcntl() write lock held by the running master's pid, so
 * a reader (ternctl) can ask with F_GETLK which process holds it; a pid
 * file left by a dead master is simply overwritten.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "master.h"

#define MASTER_KILL_GRACE	5	/* seconds to reap after SIGKILL */

struct master_state master;

extern char **environ;

static struct event *master_stop_ev;
static bool master_killed;
static int master_ready_fd = -1;

/* master_usage - say how to call master and exit */
static _Noreturn void master_usage(void)
{
	fprintf(stderr, "usage: master [-c config_dir] [-d] [-v]\n");
	exit(64);
}

/* master_env - the environment children get: TZ, TERN_*, sanitizer options */
static char **master_env(void)
{
	static const char *const keep[] = {
		"TZ=", "TERN_", "ASAN_OPTIONS=", "UBSAN_OPTIONS=", "LSAN_OPTIONS=", "MSAN_OPTIONS=",
		"TSAN_OPTIONS=",
	};
	size_t n = 0, max = 2;
	char **envp;

	for (char **e = environ; *e; e++)
		max++;
	envp = xcalloc(max, sizeof(char *));
	envp[n++] = xstrdup("PATH=/usr/bin:/bin");
	for (char **e = environ; *e; e++)
		for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
			if (str_has_prefix(*e, keep[i])) {
				envp[n++] = xstrdup(*e);
				break;
			}
	envp[n] = NULL;
	return envp;
}

/* master_log_open - name and log target from the configuration; -1 (logged) on failure */
static int master_log_open(const struct config *cfg)
{
	char ident[256];

	str_fmt(ident, sizeof(ident), "%s/master", cfg->global.syslog_name);
	msg_init(ident);
	if (cfg->global.maillog_file[0] != '\0') {
		if (msg_open(MSG_FILE, cfg->global.maillog_file, NULL) < 0) {
			msg_error("open maillog_file %s: %s", cfg->global.maillog_file, strerror(errno));
			return -1;
		}
	} else if (msg_open(MSG_SYSLOG, NULL, cfg->global.syslog_facility) < 0) {
		msg_error("syslog_facility %s: unknown facility", cfg->global.syslog_facility);
		return -1;
	}
	return 0;
}

/* master_detach - fork; the parent waits for the child to be ready and exits */
static void master_detach(void)
{
	int pfd[2], status;
	char byte;
	pid_t pid;
	ssize_t n;

	if (pipe2(pfd, O_CLOEXEC) < 0)
		msg_fatal("pipe: %s", strerror(errno));
	if ((pid = fork()) < 0)
		msg_fatal("fork: %s", strerror(errno));
	if (pid > 0) {
		close(pfd[1]);
		do
			n = read(pfd[0], &byte, 1);
		while (n < 0 && errno == EINTR);
		if (n == 1)
			_exit(0);
		/* the child failed and said why on stderr */
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		_exit(WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status) : 1);
	}
	close(pfd[0]);
	master_ready_fd = pfd[1];
	if (setsid() < 0)
		msg_fatal("setsid: %s", strerror(errno));
}

/* master_ready - listeners open: let the waiting parent go, leave the terminal */
static void master_ready(void)
{
	if (master_ready_fd < 0)
		return;
	if (dup2(master.devnull, 0) < 0 || dup2(master.devnull, 1) < 0 || dup2(master.devnull, 2) < 0)
		msg_fatal("dup2 /dev/null: %s", strerror(errno));
	msg_also_stderr(false);
	if (write(master_ready_fd, "R", 1) != 1)
		msg_warn("cannot tell the starting process that master is ready: %s", strerror(errno));
	close(master_ready_fd);
	master_ready_fd = -1;
}

/* master_remove_files - at exit: the pid and status files go */
static void master_remove_files(void *ctx)
{
	(void) ctx;
	master_status_remove();
	unlink(master.pid_path);
}

/* master_lock - the instance lock and pid file; fatal when another master runs */
static void master_lock(void)
{
	struct flock fl;
	char tmp[PATH_MAX + 8], text[32];
	int fd;

	/* data_directory may belong to mail_owner: follow no symlink, truncate nothing */
	if ((fd = open(master.lock_path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0)
		msg_fatal("open %s: %s", master.lock_path, strerror(errno));
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_SETLK, &fl) < 0) {
		if (errno != EAGAIN && errno != EACCES)
			msg_fatal("lock %s: %s", master.lock_path, strerror(errno));
		if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type != F_UNLCK)
			msg_fatal("the master of %s is already running (pid %ld)", master.dir, (long) fl.l_pid);
		msg_fatal("the master of %s is already running (%s is locked)", master.dir, master.lock_path);
	}
	/* fd stays open (and locked) for the life of the process */
	str_fmt(tmp, sizeof(tmp), "%s.tmp", master.pid_path);
	str_fmt(text, sizeof(text), "%ld\n", (long) getpid());
	unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644)) < 0 ||
	    write(fd, text, strlen(text)) != (ssize_t) strlen(text) || close(fd) < 0 ||
	    rename(tmp, master.pid_path) < 0)
		msg_fatal("write %s: %s", master.pid_path, strerror(errno));
	msg_cleanup_add(master_remove_files, NULL);
}

/* master_finish - everything is down: leave the loop */
static void master_finish(void)
{
	event_base_loopbreak(master.base);
}

/* master_stop_check - stopping and no child left: done */
void master_stop_check(void)
{
	if (master.stopping && master_proc_total() == 0)
		master_finish();
}

/* master_on_stop_timer - master_stop_timeout passed: SIGKILL, then give up waiting */
static void master_on_stop_timer(evutil_socket_t fd, short what, void *arg)
{
	struct timeval tv = { MASTER_KILL_GRACE, 0 };
	int n;

	(void) fd;
	(void) what;
	(void) arg;
	if (master_killed) {
		msg_warn("%d processes did not exit after SIGKILL", master_proc_total());
		master_finish();
		return;
	}
	n = master_signal_all(SIGKILL);
	msg_warn("stop: %d process%s still running after %llds: sent SIGKILL", n, n == 1 ? "" : "es",
		 master.cfg.global.master_stop_timeout);
	master_killed = true;
	evtimer_add(master_stop_ev, &tv);
}

/* master_stop - SIGTERM: close listeners, ask children to stop, wait */
static void master_stop(void)
{
	struct timeval tv = { (time_t) master.cfg.global.master_stop_timeout, 0 };
	struct master_serv *s;
	int n;

	if (master.stopping)
		return;
	master.stopping = true;
	for (s = master.services; s; s = s->next) {
		master_serv_quiesce(s);
		master_listen_close(s);
	}
	n = master_signal_all(SIGTERM);
	msg_info("stopping: listeners closed, %d process%s asked to stop", n, n == 1 ? "" : "es");
	master_stop_ev = evtimer_new(master.base, master_on_stop_timer, NULL);
	evtimer_add(master_stop_ev, &tv);
	master_status_dirty();
	master_stop_check();
}

/* master_on_signal - SIGCHLD, SIGHUP, SIGTERM, SIGINT, from the event loop */
static void master_on_signal(evutil_socket_t sig, short what, void *arg)
{
	(void) what;
	(void) arg;
	switch (sig) {
	case SIGCHLD:
		master_reap();
		break;
	case SIGHUP:
		if (master.stopping)
			break;
		master_reload();
		/* a log that cannot be opened keeps the old one (msg_open says so) */
		master_log_open(&master.cfg);
		break;
	default:
		msg_info("%s: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
		master_stop();
		break;
	}
}

/* master_open_all - listeners for every service, then start them */
static void master_open_all(struct master_serv *list)
{
	struct master_serv *s;

	for (s = list; s; s = s->next)
		if (master_listen_open(s) < 0)
			msg_fatal("service %s (%s): cannot listen; master not started", s->ent.name, s->ent.where);
	master.services = list;
	for (s = master.services; s; s = s->next)
		master_serv_start(s);
}

int main(int argc, char **argv)
{
	static const int sigs[] = { SIGCHLD, SIGHUP, SIGTERM, SIGINT };
	struct event *sig_ev[sizeof(sigs) / sizeof(sigs[0])];
	const char *dir = NULL;
	struct config_problems probs = {0};
	struct master_serv *list;
	char real[PATH_MAX];
	int c, problems;

	msg_init("master");
	umask(022);
	signal(SIGHUP, SIG_IGN);	/* until the event loop handles it */
	while ((c = getopt(argc, argv, "c:dv")) != -1) {
		switch (c) {
		case 'c':
			dir = optarg;
			break;
		case 'd':
			master.foreground = true;
			break;
		case 'v':
			master.verbose++;
			msg_verbose++;
			break;
		default:
			master_usage();
		}
	}
	if (optind != argc)
		master_usage();
	if (dir == NULL)
		dir = config_dir_default();
	if (realpath(dir, real) == NULL)
		msg_fatal("configuration directory %s: %s", dir, strerror(errno));
	master.dir = xstrdup(real);
	master.is_root = geteuid() == 0;
	master.started = time(NULL);

	/* the log first (when tern.conf loads), so start-up problems reach it too */
	if (config_load(&master.cfg, master.dir, NULL, NULL, true, &probs) == 0) {
		if (master_log_open(&master.cfg) < 0)
			msg_fatal("cannot open the log; master not started");
		msg_also_stderr(true);
	}
	config_free(&master.cfg);
	config_problems_free(&probs);
	/* everything that can be wrong in the files is reported before anything starts */
	list = master_conf_load(master.dir, &master.cfg, &problems);
	if (problems > 0)
		msg_fatal("%d configuration problem%s in %s; master not started", problems,
			  problems == 1 ? "" : "s", master.dir);
	if (master_conf_owner(&master.cfg, &master.owner_uid, &master.owner_gid) < 0)
		msg_fatal("mail_owner %s: no such user (create it, or run \"ternctl init\")",
			  master.cfg.global.mail_owner);
	if (!master.foreground)
		master_detach();
	master.pid_path = str_dupf("%s/master.pid", master.cfg.global.data_directory);
	master.lock_path = str_dupf("%s/master.lock", master.cfg.global.data_directory);
	master.status_path = str_dupf("%s/master.status", master.cfg.global.data_directory);
	if ((master.devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0)
		msg_fatal("open /dev/null: %s", strerror(errno));
	if (chdir("/") < 0)
		msg_fatal("chdir /: %s", strerror(errno));
	master_lock();

	signal(SIGPIPE, SIG_IGN);
	if ((master.base = event_base_new()) == NULL)
		msg_fatal("event_base_new failed");
	master.envp = master_env();
	master_open_all(list);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		sig_ev[i] = evsignal_new(master.base, sigs[i], master_on_signal, NULL);
		event_add(sig_ev[i], NULL);
	}
	master_ready();
	msg_also_stderr(master.foreground);
	msg_info("daemon started -- configuration %s", master.dir);
	master_status_dirty();

	event_base_dispatch(master.base);

	msg_info("stopped");
	master_remove_files(NULL);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		event_free(sig_ev[i]);
	return 0;
}
