/*
 * service - the daemon skeleton; see service.h for what a daemon sees and
 * master_proto.h for the contract with master.
 *
 * Invariants: at most one status record is sent per change (reported
 * holds the last one); the listener events are armed exactly when the
 * process can take one more connection; active counts connections (or
 * wake-up requests) that are open, and the process leaves its loop only
 * when active is 0 and it is stopping, used up or idle.
 *
 * Failures: anything wrong before the loop starts (arguments, inherited
 * descriptors, configuration, log, privileges) is msg_fatal; in the loop,
 * accept and read errors are logged and the process goes on.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/master_proto.h"
#include "mail/service.h"
#include "mail/table.h"

#define SERVICE_OVERRIDES_MAX	256	/* -o options on one command line */
#define SERVICE_TRIGGER_TIMEOUT	10	/* seconds to read one wake-up request */
#define SERVICE_PASS_TIMEOUT	10	/* seconds to receive one passed descriptor */

struct service {
	const struct service_desc *desc;
	struct config cfg;
	struct event_base *base;
	const char *name;		/* -n */
	const char *type;		/* -t */
	const char *config_dir;		/* -c */
	const char *overrides[SERVICE_OVERRIDES_MAX + 1];
	int noverrides;
	char *const *args;
	int nargs;
	int nlisten;			/* -s */
	bool unpriv, chroot;		/* -u, -C */
	bool pass;			/* type pass: descriptors arrive over the listener */
	pid_t master_pid;
	struct event *listen_ev[MASTER_LISTEN_MAX];
	struct event *status_ev, *idle_ev, *term_ev;
	int term_pipe[2];		/* SIGTERM handler -> event loop */
	bool listening;
	int reported;			/* last enum master_status_value sent, -1 none */
	long long max_use, max_idle;	/* 0: no limit */
	long long use_count;
	int active;
	int session_limit;
	bool stopping;
	void *ctx;
};

/* service_trigger - one wake-up request being read */
struct service_trigger {
	struct service *svc;
	int fd;
	struct event *ev;
	size_t len;
	char data[SERVICE_TRIGGER_MAX];
};

static void service_update(struct service *svc);
static void service_stop(struct service *svc, const char *why);

/* set by the SIGTERM handler, which also writes a byte to term_pipe[1] */
static volatile sig_atomic_t service_sigterm;
static int service_term_fd = -1;

/* service_report - tell master we are available or taken, once per change; -1: pipe gone */
static int service_report(struct service *svc, int status)
{
	struct master_status rec;
	ssize_t n;

	if (svc->reported == status)
		return 0;
	svc->reported = status;
	memset(&rec, 0, sizeof(rec));
	rec.magic = MASTER_STATUS_MAGIC;
	rec.pid = (int32_t) getpid();
	rec.status = status;
	do
		n = write(MASTER_STATUS_FD, &rec, sizeof(rec));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t) sizeof(rec)) {
		msg_debug("status pipe: %s", n < 0 ? strerror(errno) : "short write");
		return -1;
	}
	return 0;
}

/* service_listen - arm or disarm the listener events */
static void service_listen(struct service *svc, bool on)
{
	if (svc->listening == on)
		return;
	for (int i = 0; i < svc->nlisten; i++) {
		if (on)
			event_add(svc->listen_ev[i], NULL);
		else
			event_del(svc->listen_ev[i]);
	}
	svc->listening = on;
}

/* service_limit - connections this process may have open at once */
static int service_limit(const struct service *svc)
{
	return svc->desc->kind == SERVICE_MULTI ? svc->session_limit : 1;
}

/*
 * service_used_up - max_use connections or requests taken; a MULTI
 * process counts max_use per session slot (max_use x session_limit
 * connections): smtpd serves a new connection per message, and starting
 * a process costs ~30 ms of CPU here, so restarting it every 100
 * connections was a third of the CPU budget of a relayed message
 * (bench/README.md)
 */
static bool service_used_up(const struct service *svc)
{
	long long limit = svc->max_use;

	if (svc->desc->kind == SERVICE_MULTI)
		limit *= svc->session_limit;
	return svc->max_use > 0 && svc->use_count >= limit;
}

/* service_update - derive listening, status, idle timer and exit from the counters */
static void service_update(struct service *svc)
{
	bool can = !svc->stopping && !service_used_up(svc) && svc->active < service_limit(svc);

	service_listen(svc, can);
	if (service_report(svc, can ? MASTER_STAT_AVAIL : MASTER_STAT_TAKEN) < 0 && !svc->stopping) {
		/* master closed the pipe: this service was removed, or master is gone */
		service_stop(svc, "master closed the status pipe");
		return;
	}
	if (svc->active == 0 && (svc->stopping || service_used_up(svc))) {
		msg_debug("%s: %s, exiting", svc->name, svc->stopping ? "stopping" : "max_use reached");
		event_base_loopbreak(svc->base);
		return;
	}
	if (svc->active == 0 && svc->max_idle > 0 && !svc->stopping) {
		struct timeval tv = { (time_t) svc->max_idle, 0 };

		evtimer_add(svc->idle_ev, &tv);
	} else {
		evtimer_del(svc->idle_ev);
	}
}

/* service_stop - graceful stop: no new connections, finish the open ones */
static void service_stop(struct service *svc, const char *why)
{
	if (svc->stopping)
		return;
	msg_debug("%s: stop requested (%s)", svc->name, why);
	svc->stopping = true;
	event_del(svc->status_ev);
	if (svc->desc->on_stop)
		svc->desc->on_stop(svc);
	service_update(svc);
}

/* service_sigterm_handler - note SIGTERM and wake the loop; nothing else */
static void service_sigterm_handler(int sig)
{
	int saved = errno;

	(void) sig;
	service_sigterm = 1;
	if (write(service_term_fd, "T", 1) < 0) {
		/* the pipe is full: the loop has been woken already */
	}
	errno = saved;
}

/* service_on_term - SIGTERM, seen by the loop */
static void service_on_term(evutil_socket_t fd, short what, void *arg)
{
	char drain[64];

	(void) what;
	while (read(fd, drain, sizeof(drain)) > 0)
		;
	service_stop(arg, "SIGTERM");
}

/* service_on_status - the status pipe broke: master is gone or dropped us */
static void service_on_status(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	service_stop(arg, "master closed the status pipe");
}

/* service_on_idle - max_idle passed with nothing to do */
static void service_on_idle(evutil_socket_t fd, short what, void *arg)
{
	struct service *svc = arg;

	(void) fd;
	(void) what;
	msg_debug("%s: idle for %llds, exiting", svc->name, svc->max_idle);
	svc->stopping = true;
	event_base_loopbreak(svc->base);
}

/*
 * service_recv_fd - receive one descriptor from a pass connection, or -1.
 * Compromise: it waits (up to SERVICE_PASS_TIMEOUT) outside the event
 * loop; the passing process sends the descriptor right after connecting.
 */
static int service_recv_fd(int sock)
{
	union {
		struct cmsghdr hdr;
		char space[CMSG_SPACE(sizeof(int))];
	} ctl;
	struct pollfd pfd = { sock, POLLIN, 0 };
	struct msghdr mh;
	struct iovec iov;
	struct cmsghdr *cm;
	char byte;
	int fd = -1;

	if (poll(&pfd, 1, SERVICE_PASS_TIMEOUT * 1000) != 1) {
		msg_warn("pass connection: no descriptor within %ds", SERVICE_PASS_TIMEOUT);
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	iov.iov_base = &byte;
	iov.iov_len = 1;
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = ctl.space;
	mh.msg_controllen = sizeof(ctl.space);
	if (recvmsg(sock, &mh, MSG_CMSG_CLOEXEC) <= 0) {
		msg_warn("pass connection: recvmsg: %s", strerror(errno));
		return -1;
	}
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(int))) {
			if (fd >= 0)
				close(fd);
			memcpy(&fd, CMSG_DATA(cm), sizeof(int));
		}
	}
	if (fd < 0)
		msg_warn("pass connection: message without a descriptor");
	return fd;
}

/* service_trigger_done - deliver a wake-up request and forget it */
static void service_trigger_done(struct service_trigger *t)
{
	struct service *svc = t->svc;
	bool taken = t->ev != NULL;	/* read by events: service_take counted it active */

	if (taken)
		event_free(t->ev);
	close(t->fd);
	alarm((unsigned) svc->cfg.global.daemon_timeout);
	svc->desc->on_trigger(svc, t->data, t->len);
	alarm(0);
	free(t);
	if (taken)
		svc->active--;
	service_update(svc);	/* served at once: no change to report; the idle timer and max_use */
}

/* service_on_trigger_read - bytes (or EOF, or the time limit) on a wake-up request */
static void service_on_trigger_read(evutil_socket_t fd, short what, void *arg)
{
	struct service_trigger *t = arg;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		msg_warn("%s: wake-up request not finished within %ds", t->svc->name, SERVICE_TRIGGER_TIMEOUT);
		service_trigger_done(t);
		return;
	}
	n = read(fd, t->data + t->len, sizeof(t->data) - t->len);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		t->len += (size_t) n;
	if (n <= 0 || t->len == sizeof(t->data))
		service_trigger_done(t);
}

/*
 * service_trigger_now - a wake-up request whose bytes and EOF are already
 * there (the usual case: the client wrote one byte and closed) is served
 * at once, without telling master "taken" and "available" and without an
 * event of its own: each of those costs a system call here and a wake-up
 * of master. True when served; false with t holding what was read.
 */
static bool service_trigger_now(struct service_trigger *t)
{
	ssize_t n;

	for (;;) {
		n = read(t->fd, t->data + t->len, sizeof(t->data) - t->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return false;	/* EAGAIN: the rest comes later; an error ends it there */
		t->len += (size_t) n;
		if (n == 0 || t->len == sizeof(t->data))
			break;
	}
	t->svc->use_count++;
	service_trigger_done(t);
	return true;
}

/* service_take - one accepted connection: hand it to the daemon */
static void service_take(struct service *svc, int fd)
{
	struct service_trigger *t = NULL;
	struct timeval tv = { SERVICE_TRIGGER_TIMEOUT, 0 };

	if (svc->desc->kind == SERVICE_TRIGGER) {
		t = xcalloc(1, sizeof(*t));
		t->svc = svc;
		t->fd = fd;
		if (service_trigger_now(t))
			return;
	}
	svc->use_count++;
	svc->active++;
	/* taken before the work starts, so master can start another process */
	service_update(svc);
	switch (svc->desc->kind) {
	case SERVICE_SINGLE:
		alarm((unsigned) svc->cfg.global.daemon_timeout);
		svc->desc->on_connection(svc, fd);
		alarm(0);
		close(fd);
		svc->active--;
		service_update(svc);
		break;
	case SERVICE_MULTI:
		svc->desc->on_connection(svc, fd);
		break;
	case SERVICE_TRIGGER:
		t->ev = event_new(svc->base, fd, EV_READ | EV_PERSIST, service_on_trigger_read, t);
		event_add(t->ev, &tv);
		break;
	}
}

/* service_on_accept - a listener is readable */
static void service_on_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct service *svc = arg;
	int flags = SOCK_CLOEXEC;
	int fd, passed;

	(void) what;
	if (svc->desc->kind != SERVICE_SINGLE || svc->pass)
		flags |= SOCK_NONBLOCK;
	/* listening is cleared by service_update when the process is full */
	while (svc->listening) {
		fd = accept4(lfd, NULL, NULL, flags);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR &&
			    errno != ECONNABORTED)
				msg_warn("%s: accept: %s", svc->name, strerror(errno));
			return;
		}
		if (svc->pass) {
			passed = service_recv_fd(fd);
			close(fd);
			if (passed < 0)
				continue;
			fd = passed;
			if (fcntl(fd, F_SETFL, svc->desc->kind == SERVICE_SINGLE ? 0 : O_NONBLOCK) < 0)
				msg_warn("%s: fcntl: %s", svc->name, strerror(errno));
		}
		service_take(svc, fd);
		if (svc->desc->kind == SERVICE_SINGLE)
			return;
	}
}

/* service_conn_done - MULTI: a connection is over */
void service_conn_done(struct service *svc)
{
	if (svc->active <= 0)
		msg_panic("service_conn_done: no connection is open");
	svc->active--;
	service_update(svc);
}

/* service_parse_args - the options master passes */
static void service_parse_args(struct service *svc, int argc, char **argv)
{
	long long n;
	int c;

	opterr = 0;
	while ((c = getopt(argc, argv, MASTER_OPTSTRING)) != -1) {
		switch (c) {
		case 'n':
			svc->name = optarg;
			break;
		case 't':
			svc->type = optarg;
			break;
		case 'c':
			svc->config_dir = optarg;
			break;
		case 's':
			if (str_to_ll(optarg, 0, MASTER_LISTEN_MAX, &n) < 0)
				msg_fatal("-s %s: expected 0 to %d listeners", optarg, MASTER_LISTEN_MAX);
			svc->nlisten = (int) n;
			break;
		case 'u':
			svc->unpriv = true;
			break;
		case 'C':
			svc->chroot = true;
			break;
		case 'v':
			msg_verbose++;
			break;
		case 'o':
			if (svc->noverrides == SERVICE_OVERRIDES_MAX)
				msg_fatal("more than %d -o options", SERVICE_OVERRIDES_MAX);
			svc->overrides[svc->noverrides++] = optarg;
			break;
		default:
			msg_fatal("unknown option -%c or missing value (this program is started by master)",
				  optopt);
		}
	}
	if (svc->name == NULL || svc->type == NULL || svc->config_dir == NULL)
		msg_fatal("usage: %s -n service -t type -c config_dir -s listeners [-u] [-C] [-v] [-o name=value]"
			  " (this program is started by master)", svc->desc->program);
	svc->pass = strcmp(svc->type, "pass") == 0;
	svc->args = argv + optind;
	svc->nargs = argc - optind;
}

/* service_check_fds - the status pipe and listeners master promised */
static void service_check_fds(struct service *svc)
{
	struct stat st;
	int on;
	socklen_t len;

	if (fstat(MASTER_STATUS_FD, &st) < 0 || !S_ISFIFO(st.st_mode))
		msg_fatal("descriptor %d is not master's status pipe: this program is started by master",
			  MASTER_STATUS_FD);
	for (int i = 0; i < svc->nlisten; i++) {
		len = sizeof(on);
		if (getsockopt(MASTER_LISTEN_FD + i, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) < 0 || !on)
			msg_fatal("descriptor %d is not a listening socket", MASTER_LISTEN_FD + i);
	}
}

/* service_open_log - maillog_file, else syslog; before any chroot */
static void service_open_log(struct service *svc)
{
	const struct params_global *g = &svc->cfg.global;
	char ident[256];

	str_fmt(ident, sizeof(ident), "%s/%s", g->syslog_name, svc->desc->program);
	msg_init(ident);
	if (g->maillog_file[0] != '\0') {
		if (msg_open(MSG_FILE, g->maillog_file, NULL) < 0)
			msg_fatal("open maillog_file %s: %s", g->maillog_file, strerror(errno));
	} else if (msg_open(MSG_SYSLOG, NULL, g->syslog_facility) < 0) {
		msg_fatal("syslog_facility %s: unknown facility", g->syslog_facility);
	}
}

/* service_drop - chroot and become mail_owner; verified, or fatal */
static void service_drop(struct service *svc)
{
	const struct params_global *g = &svc->cfg.global;
	struct passwd *pw;
	uid_t uid = 0, ru, eu, su;
	gid_t gid = 0;
	gid_t rg, eg, sg, groups[4];
	int ngroups;

	if (geteuid() != 0) {
		if (svc->unpriv || svc->chroot)
			msg_warn("not started as root: running as uid %ld without chroot or privilege change",
				 (long) geteuid());
		if (svc->desc->pre_jail)
			svc->desc->pre_jail(svc);
		return;
	}
	if (svc->unpriv) {
		if ((pw = getpwnam(g->mail_owner)) == NULL)
			msg_fatal("mail_owner %s: no such user", g->mail_owner);
		if (pw->pw_uid == 0 || pw->pw_gid == 0)
			msg_fatal("mail_owner %s has uid or gid 0: it must be an unprivileged user", g->mail_owner);
		/* copied: getpwnam's result is static, and a pre_jail hook may call it again */
		uid = pw->pw_uid;
		gid = pw->pw_gid;
	}
	if (svc->desc->pre_jail)
		svc->desc->pre_jail(svc);
	if (svc->chroot) {
#ifdef __SANITIZE_ADDRESS__
		/*
		 * LeakSanitizer reads /proc at exit, which a chroot hides, and
		 * then fails the exit status: check now, and not at exit
		 */
		__lsan_do_leak_check();
#endif
		if (chroot(g->queue_directory) < 0 || chdir("/") < 0)
			msg_fatal("chroot %s: %s", g->queue_directory, strerror(errno));
	}
	if (!svc->unpriv)
		return;
	if (setgroups(1, &gid) < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		msg_fatal("drop privileges to %s: %s", g->mail_owner, strerror(errno));
	/* verify: no root id of any kind, and no way back */
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0)
		msg_fatal("getresuid: %s", strerror(errno));
	ngroups = getgroups((int) (sizeof(groups) / sizeof(groups[0])), groups);
	if (ru != uid || eu != uid || su != uid || ru == 0 ||
	    rg != gid || eg != gid || sg != gid || rg == 0 ||
	    ngroups != 1 || groups[0] != gid || setuid(0) == 0)
		msg_fatal("privilege drop to %s did not take: uid %ld/%ld/%ld gid %ld/%ld/%ld, %d groups",
			  g->mail_owner, (long) ru, (long) eu, (long) su, (long) rg, (long) eg, (long) sg, ngroups);
}

/* service_main - run a daemon on the skeleton */
int service_main(int argc, char **argv, const struct service_desc *desc)
{
	static struct service svc_storage;	/* reachable until exit, for leak checkers */
	struct service *svc = &svc_storage;
	struct config_problems probs = {0};
	const struct params_global *g;

	svc->desc = desc;
	svc->reported = -1;
	svc->master_pid = getppid();
	msg_init(desc->program);
	service_parse_args(svc, argc, argv);
	service_check_fds(svc);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);

	/* the configuration, then the log it names, then its problems */
	config_load(&svc->cfg, svc->config_dir, desc->group, svc->overrides, false, &probs);
	g = &svc->cfg.global;
	service_open_log(svc);
	if (probs.count > 0)
		msg_fatal("%s: %s", probs.list[0].where, probs.list[0].text);
	config_problems_free(&probs);
	if ((desc->kind == SERVICE_TRIGGER && desc->on_trigger == NULL) ||
	    (desc->kind != SERVICE_TRIGGER && desc->on_connection == NULL))
		msg_panic("service %s: descriptor without the handler its kind needs", desc->program);
	svc->max_use = desc->flags & SERVICE_FLAG_NO_LIMITS ? 0 : g->max_use;
	svc->max_idle = desc->flags & SERVICE_FLAG_NO_LIMITS ? 0 : g->max_idle;
	svc->session_limit = desc->session_limit > 0 ? desc->session_limit : SERVICE_SESSION_LIMIT;
	if (chdir(g->queue_directory) < 0)
		msg_fatal("chdir %s: %s", g->queue_directory, strerror(errno));
	/* proxy: tables in any daemon wait no longer than other internal calls */
	table_proxy_set_timeout((int) g->ipc_timeout);

	if ((svc->base = event_base_new()) == NULL)
		msg_fatal("event_base_new failed");
	service_drop(svc);

	/* after the drop, which clears it: SIGTERM when master dies */
	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
		msg_fatal("prctl PR_SET_PDEATHSIG: %s", strerror(errno));
	if (getppid() != svc->master_pid) {
		msg_info("master is gone, exiting");
		return 0;
	}
	if (desc->post_jail)
		desc->post_jail(svc);

	for (int i = 0; i < svc->nlisten; i++)
		svc->listen_ev[i] = event_new(svc->base, MASTER_LISTEN_FD + i, EV_READ | EV_PERSIST,
					      service_on_accept, svc);
	svc->status_ev = event_new(svc->base, MASTER_STATUS_FD, EV_READ | EV_PERSIST, service_on_status, svc);
	svc->idle_ev = evtimer_new(svc->base, service_on_idle, svc);
	/*
	 * SIGTERM by hand, not evsignal: a SINGLE handler runs outside the
	 * loop and must see the request through service_stopping()
	 */
	if (pipe2(svc->term_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
		msg_fatal("pipe: %s", strerror(errno));
	service_term_fd = svc->term_pipe[1];
	svc->term_ev = event_new(svc->base, svc->term_pipe[0], EV_READ | EV_PERSIST, service_on_term, svc);
	{
		struct sigaction sa;

		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = service_sigterm_handler;
		sigemptyset(&sa.sa_mask);
		sa.sa_flags = SA_RESTART;
		sigaction(SIGTERM, &sa, NULL);
	}
	event_add(svc->status_ev, NULL);
	event_add(svc->term_ev, NULL);
	msg_debug("%s: ready, %d listeners, max_use %lld, max_idle %lld", svc->name, svc->nlisten,
		  svc->max_use, svc->max_idle);
	service_update(svc);
	if (!svc->stopping || svc->active > 0)
		event_base_dispatch(svc->base);

	for (int i = 0; i < svc->nlisten; i++)
		event_free(svc->listen_ev[i]);
	event_free(svc->status_ev);
	event_free(svc->idle_ev);
	event_free(svc->term_ev);
	signal(SIGTERM, SIG_DFL);
	close(svc->term_pipe[0]);
	close(svc->term_pipe[1]);
	event_base_free(svc->base);
	config_free(&svc->cfg);
	return 0;
}

/* service_base - the event loop */
struct event_base *service_base(const struct service *svc)
{
	return svc->base;
}

/* service_config - the loaded configuration */
const struct config *service_config(const struct service *svc)
{
	return &svc->cfg;
}

/* service_name - master.conf column 1 */
const char *service_name(const struct service *svc)
{
	return svc->name;
}

/* service_type - "inet", "unix" or "pass" */
const char *service_type(const struct service *svc)
{
	return svc->type;
}

/* service_args - arguments after the options */
char *const *service_args(const struct service *svc, int *argc)
{
	if (argc != NULL)
		*argc = svc->nargs;
	return svc->args;
}

/* service_ctx - the daemon's per-process context */
void *service_ctx(const struct service *svc)
{
	return svc->ctx;
}

/* service_set_ctx - set the per-process context */
void service_set_ctx(struct service *svc, void *ctx)
{
	svc->ctx = ctx;
}

/*
 * service_stopping - a graceful stop was requested: also seen from inside
 * a SINGLE handler, before the loop runs again (SIGTERM flag, or the
 * status pipe reports that master closed it)
 */
bool service_stopping(const struct service *svc)
{
	struct pollfd pfd = { MASTER_STATUS_FD, POLLOUT, 0 };

	if (svc->stopping || service_sigterm)
		return true;
	return poll(&pfd, 1, 0) == 1 && (pfd.revents & (POLLERR | POLLHUP)) != 0;
}

/* service_stop_requested - a stop already known: no system call */
bool service_stop_requested(const struct service *svc)
{
	return svc->stopping || service_sigterm;
}

/* service_status_fd - the status pipe's descriptor */
int service_status_fd(void)
{
	return MASTER_STATUS_FD;
}

/* service_set_session_limit - MULTI: sessions per process */
void service_set_session_limit(struct service *svc, int limit)
{
	svc->session_limit = limit > 0 ? limit : SERVICE_SESSION_LIMIT;
	if (svc->base != NULL && svc->status_ev != NULL)
		service_update(svc);
}

/* service_use_count - connections or requests so far */
long long service_use_count(const struct service *svc)
{
	return svc->use_count;
}
