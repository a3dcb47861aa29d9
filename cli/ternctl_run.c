/*
 * ternctl_run - the running system: ternctl start, stop, reload, status.
 *
 * "Running" means: data_directory/master.lock is locked (an fcntl write
 * lock, which dies with its process) by a live process. The lock holder's
 * pid comes from F_GETLK, so a pid file left by a dead master never
 * fools us; master.pid is shown for reference. master.status (written by
 * master, format in master(8)) gives the services.
 *
 * Exit codes: 0 done (also "already running" for start and "not
 * running" for stop); 1 the action failed (master did not start, did not
 * stop in time, reload with no master); status: 0 running, 3 not running
 * (as LSB init scripts), 4 when data_directory cannot be read; 64 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "ternctl.h"

#define TERNCTL_START_WAIT	15	/* seconds for a started master to hold its lock */
#define TERNCTL_STOP_MARGIN	10	/* seconds beyond master_stop_timeout */
#define TERNCTL_STATUS_MAX	(4 * 1024 * 1024)	/* bytes of master.status read */

/* ternctl_no_args - the commands here take no arguments */
static int ternctl_no_args(int argc, char **argv)
{
	if (argc > 1) {
		fprintf(stderr, "ternctl: %s takes no arguments\n", argv[0]);
		return -1;
	}
	return 0;
}

/* ternctl_alive - pid exists and is not a zombie */
static bool ternctl_alive(pid_t pid)
{
	char path[64], stat[512];
	FILE *fp;
	char *paren;

	if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
		return false;
	str_fmt(path, sizeof(path), "/proc/%ld/stat", (long) pid);
	if ((fp = fopen(path, "r")) == NULL)
		return true;
	if (fgets(stat, sizeof(stat), fp) == NULL)
		stat[0] = '\0';
	fclose(fp);
	/* "pid (comm) S ...": the state follows the last ')' */
	paren = strrchr(stat, ')');
	return paren == NULL || paren[1] != ' ' || paren[2] != 'Z';
}

/* ternctl_pidfile - the pid in data_directory/master.pid, or 0 */
static pid_t ternctl_pidfile(const struct config *cfg)
{
	char path[4200], text[32];
	long long pid;
	ssize_t n;
	int fd;

	str_fmt(path, sizeof(path), "%s/master.pid", cfg->global.data_directory);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	text[n] = '\0';
	text[strcspn(text, "\n")] = '\0';
	if (str_to_ll(text, 1, 1LL << 30, &pid) < 0)
		return 0;
	return (pid_t) pid;
}

/* ternctl_master - the pid of the running master (lock holder), or 0 */
static pid_t ternctl_master(const struct config *cfg)
{
	char path[4200];
	struct flock fl;
	int fd;

	str_fmt(path, sizeof(path), "%s/master.lock", cfg->global.data_directory);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return 0;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_GETLK, &fl) < 0)
		fl.l_type = F_UNLCK;
	close(fd);
	if (fl.l_type == F_UNLCK)
		return 0;
	/* l_pid is 0 when the holder is in another pid namespace: trust the pid file */
	return fl.l_pid > 0 ? fl.l_pid : ternctl_pidfile(cfg);
}

/* ternctl_sleep_ms - a short pause between polls */
static void ternctl_sleep_ms(int ms)
{
	poll(NULL, 0, ms);
}

/* ternctl_start - run daemon_directory/master -c DIR; wait until it holds the lock */
int ternctl_start(const struct config *cfg, int argc, char **argv)
{
	char *path, *args[8];
	int n = 0, status;
	pid_t pid, child;

	if (ternctl_no_args(argc, argv) < 0)
		return EX_USAGE;
	if ((pid = ternctl_master(cfg)) > 0) {
		printf("ternctl: the mail system is already running (master pid %ld)\n", (long) pid);
		return 0;
	}
	path = str_dupf("%s/master", cfg->global.daemon_directory);
	args[n++] = "master";
	args[n++] = "-c";
	args[n++] = cfg->dir;
	for (int i = 0; i < msg_verbose && i < 3; i++)
		args[n++] = "-v";
	args[n] = NULL;
	fflush(stdout);
	if ((child = fork()) < 0) {
		fprintf(stderr, "ternctl: fork: %s\n", strerror(errno));
		free(path);
		return 1;
	}
	if (child == 0) {
		execv(path, args);
		fprintf(stderr, "ternctl: cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	free(path);
	/* master's first process exits when the daemon is ready, or fails with a message */
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR) {
			fprintf(stderr, "ternctl: waitpid: %s\n", strerror(errno));
			return 1;
		}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "ternctl: master did not start (%s %d); see the messages above and %s\n",
			WIFEXITED(status) ? "exit status" : "signal",
			WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
			cfg->global.maillog_file[0] ? cfg->global.maillog_file : "the mail log");
		return 1;
	}
	for (int waited = 0; waited < TERNCTL_START_WAIT * 1000; waited += 50) {
		if ((pid = ternctl_master(cfg)) > 0 && ternctl_alive(pid)) {
			printf("ternctl: the mail system is running (master pid %ld)\n", (long) pid);
			return 0;
		}
		ternctl_sleep_ms(50);
	}
	fprintf(stderr, "ternctl: master reported success but does not hold %s/master.lock\n",
		cfg->global.data_directory);
	return 1;
}

/* ternctl_stop - SIGTERM to master; wait until it is gone */
int ternctl_stop(const struct config *cfg, int argc, char **argv)
{
	long long limit = (cfg->global.master_stop_timeout + TERNCTL_STOP_MARGIN) * 1000;
	pid_t pid;

	if (ternctl_no_args(argc, argv) < 0)
		return EX_USAGE;
	if ((pid = ternctl_master(cfg)) == 0) {
		printf("ternctl: the mail system is not running\n");
		return 0;
	}
	if (kill(pid, SIGTERM) < 0 && errno != ESRCH) {
		fprintf(stderr, "ternctl: cannot signal master (pid %ld): %s\n", (long) pid, strerror(errno));
		return 1;
	}
	for (long long waited = 0; waited < limit; waited += 50) {
		if (ternctl_master(cfg) == 0 && !ternctl_alive(pid)) {
			printf("ternctl: the mail system is stopped\n");
			return 0;
		}
		ternctl_sleep_ms(50);
	}
	fprintf(stderr, "ternctl: master (pid %ld) is still running after %llds\n", (long) pid, limit / 1000);
	return 1;
}

/* ternctl_reload - SIGHUP to master */
int ternctl_reload(const struct config *cfg, int argc, char **argv)
{
	pid_t pid;

	if (ternctl_no_args(argc, argv) < 0)
		return EX_USAGE;
	if ((pid = ternctl_master(cfg)) == 0) {
		fprintf(stderr, "ternctl: the mail system is not running\n");
		return 1;
	}
	if (kill(pid, SIGHUP) < 0) {
		fprintf(stderr, "ternctl: cannot signal master (pid %ld): %s\n", (long) pid, strerror(errno));
		return 1;
	}
	printf("ternctl: master (pid %ld) is reloading its configuration\n", (long) pid);
	return 0;
}

/* ternctl_field - copy the value of "name=" in a status line into out; NULL if absent */
static const char *ternctl_field(const char *line, const char *name, char *out, size_t size)
{
	size_t nlen = strlen(name);

	for (const char *p = line; p != NULL && *p; p = strchr(p, ' ')) {
		while (*p == ' ')
			p++;
		if (strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
			size_t len = strcspn(p + nlen + 1, " \n");

			if (len >= size)
				len = size - 1;
			memcpy(out, p + nlen + 1, len);
			out[len] = '\0';
			return out;
		}
	}
	return NULL;
}

/* ternctl_show_service - one "service" line of master.status, for people */
static void ternctl_show_service(const char *line, time_t now)
{
	static const char *const counts[] = { "procs", "avail", "spawned", "abnormal" };
	char name[512], type[16], cmd[256], state[16], num[32], *pids;
	long long until = 0;
	size_t plen = strlen(line) + 1;

	if (!ternctl_field(line, "name", name, sizeof(name)))
		str_copy(name, "?", sizeof(name));
	if (!ternctl_field(line, "type", type, sizeof(type)))
		str_copy(type, "?", sizeof(type));
	if (!ternctl_field(line, "command", cmd, sizeof(cmd)))
		str_copy(cmd, "?", sizeof(cmd));
	if (!ternctl_field(line, "state", state, sizeof(state)))
		state[0] = '\0';
	printf("%-24s %-4s %-14s", name, type, cmd);
	for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
		printf(" %s=%s", counts[i], ternctl_field(line, counts[i], num, sizeof(num)) ? num : "?");
	if (ternctl_field(line, "throttled_until", num, sizeof(num)) &&
	    str_to_ll(num, 0, 1LL << 62, &until) == 0 && until > now)
		printf(" throttled=%llds", until - (long long) now);
	if (strcmp(state, "retired") == 0)
		printf(" retired");
	pids = xmalloc(plen);
	printf(" pids=%s\n", ternctl_field(line, "pids", pids, plen) ? pids : "-");
	free(pids);
}

/* ternctl_status - is master running; its services with pids and counts */
int ternctl_status(const struct config *cfg, int argc, char **argv)
{
	char path[4200];
	struct buf b;
	char chunk[8192];
	time_t now = time(NULL);
	pid_t pid, filed;
	ssize_t n;
	int fd;

	if (ternctl_no_args(argc, argv) < 0)
		return EX_USAGE;
	if (access(cfg->global.data_directory, R_OK | X_OK) < 0 && errno == EACCES) {
		fprintf(stderr, "ternctl: %s: %s (run ternctl as root or as the instance's owner)\n",
			cfg->global.data_directory, strerror(errno));
		return 4;
	}
	filed = ternctl_pidfile(cfg);
	if ((pid = ternctl_master(cfg)) == 0 || !ternctl_alive(pid)) {
		if (filed > 0)
			printf("ternctl: the mail system is not running (stale pid file names %ld)\n", (long) filed);
		else
			printf("ternctl: the mail system is not running\n");
		return 3;
	}
	printf("master is running (pid %ld)\n", (long) pid);
	str_fmt(path, sizeof(path), "%s/master.status", cfg->global.data_directory);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		printf("no service status yet (%s: %s)\n", path, strerror(errno));
		return 0;
	}
	buf_init(&b, TERNCTL_STATUS_MAX);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		if (buf_append(&b, chunk, (size_t) n) < 0)
			break;
	close(fd);
	for (char *line = b.data, *next; line != NULL && *line; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (str_has_prefix(line, "service "))
			ternctl_show_service(line, now);
	}
	buf_free(&b);
	return 0;
}
