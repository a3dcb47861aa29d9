/*
 * tern-testsvc - a small service on the skeleton, for master's tests.
 *
 * master.conf arguments choose the kind: none (SERVICE_SINGLE), "multi"
 * (SERVICE_MULTI; "sessions=N" sets the session limit) or "trigger"
 * (SERVICE_TRIGGER: each wake-up request is logged as "trigger: N
 * bytes"). For every connection it writes one greeting line
 *
 *	testsvc pid=P uid=R/E/S gid=R/E/S service=NAME max_use=N mode=M use=U
 *
 * then reads lines (at most TESTSVC_LINE_MAX bytes each) and answers:
 * "crash" aborts the process, "exit N" exits with status N, "sleep N"
 * sleeps N seconds and answers "slept N", "quit" answers "bye" and closes,
 * "stopping" answers yes or no (graceful stop requested), "env NAME"
 * answers the variable's value or "-", anything else is echoed back. A line that is too long closes the connection.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/service.h"

#define TESTSVC_LINE_MAX	1024
#define TESTSVC_SLEEP_MAX	3600

static const char *testsvc_mode = "single";

/* testsvc_greeting - the first line of every connection */
static void testsvc_greeting(struct service *svc, char *buf, size_t size)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;

	getresuid(&ru, &eu, &su);
	getresgid(&rg, &eg, &sg);
	str_fmt(buf, size, "testsvc pid=%ld uid=%ld/%ld/%ld gid=%ld/%ld/%ld service=%s max_use=%lld mode=%s use=%lld\n",
		(long) getpid(), (long) ru, (long) eu, (long) su, (long) rg, (long) eg, (long) sg,
		service_name(svc), service_config(svc)->global.max_use, testsvc_mode,
		service_use_count(svc));
}

/*
 * The commands: one verb each, with its argument (or none) and an action
 * that fills reply and returns 1 to close the connection, 0 to go on, or
 * a sleep time N as -N-1. Lines that match no verb are echoed.
 */
struct testsvc_verb {
	const char *name;
	bool has_arg;
	int (*action)(struct service *svc, const char *arg, char *reply, size_t size);
};

/* testsvc_crash - abort(): a crash with a core */
static int testsvc_crash(struct service *svc, const char *arg, char *reply, size_t size)
{
	(void) svc, (void) arg, (void) reply, (void) size;
	msg_info("crash requested");
	abort();
}

/* testsvc_exit - exit with the given status */
static int testsvc_exit(struct service *svc, const char *arg, char *reply, size_t size)
{
	long long n;

	(void) svc;
	if (str_to_ll(arg, 0, 255, &n) < 0) {
		str_copy(reply, "bad exit status\n", size);
		return 0;
	}
	exit((int) n);
}

/* testsvc_sleep - pause this connection for N seconds */
static int testsvc_sleep(struct service *svc, const char *arg, char *reply, size_t size)
{
	long long n;

	(void) svc;
	if (str_to_ll(arg, 0, TESTSVC_SLEEP_MAX, &n) < 0) {
		str_copy(reply, "bad sleep time\n", size);
		return 0;
	}
	return (int) -n - 1;
}

/* testsvc_quit - say bye and close */
static int testsvc_quit(struct service *svc, const char *arg, char *reply, size_t size)
{
	(void) svc, (void) arg;
	str_copy(reply, "bye\n", size);
	return 1;
}

/* testsvc_env - the value of an environment variable, or "-" */
static int testsvc_env(struct service *svc, const char *arg, char *reply, size_t size)
{
	const char *v = getenv(arg);

	(void) svc;
	str_fmt(reply, size, "%s\n", v ? v : "-");
	return 0;
}

/* testsvc_stopping - was a graceful stop requested */
static int testsvc_stopping(struct service *svc, const char *arg, char *reply, size_t size)
{
	(void) arg;
	str_copy(reply, service_stopping(svc) ? "yes\n" : "no\n", size);
	return 0;
}

static const struct testsvc_verb testsvc_verbs[] = {
	{"crash", false, testsvc_crash},
	{"exit", true, testsvc_exit},
	{"sleep", true, testsvc_sleep},
	{"quit", false, testsvc_quit},
	{"env", true, testsvc_env},
	{"stopping", false, testsvc_stopping},
};

/* testsvc_command - act on one line; see struct testsvc_verb */
static int testsvc_command(struct service *svc, const char *line, char *reply, size_t size)
{
	size_t len = strcspn(line, " ");

	reply[0] = '\0';
	for (size_t i = 0; i < sizeof(testsvc_verbs) / sizeof(testsvc_verbs[0]); i++) {
		const struct testsvc_verb *v = &testsvc_verbs[i];

		if (strlen(v->name) == len && strncmp(line, v->name, len) == 0 &&
		    v->has_arg == (line[len] == ' '))
			return v->action(svc, v->has_arg ? line + len + 1 : "", reply, size);
	}
	str_fmt(reply, size, "%s\n", line);
	return 0;
}

/* testsvc_write - write all of text to a blocking socket */
static int testsvc_write(int fd, const char *text)
{
	size_t len = strlen(text);

	while (len > 0) {
		ssize_t n = write(fd, text, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		text += n;
		len -= (size_t) n;
	}
	return 0;
}

/* testsvc_single - SERVICE_SINGLE: one connection, blocking reads */
static void testsvc_single(struct service *svc, int fd)
{
	char line[TESTSVC_LINE_MAX + 1], reply[TESTSVC_LINE_MAX + 64];
	size_t len = 0;
	int rc;

	testsvc_greeting(svc, reply, sizeof(reply));
	if (testsvc_write(fd, reply) < 0)
		return;
	for (;;) {
		char *nl = memchr(line, '\n', len);
		ssize_t n;

		if (nl == NULL) {
			if (len == TESTSVC_LINE_MAX)
				return;
			n = read(fd, line + len, TESTSVC_LINE_MAX - len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return;
			len += (size_t) n;
			continue;
		}
		*nl = '\0';
		if (nl > line && nl[-1] == '\r')
			nl[-1] = '\0';
		rc = testsvc_command(svc, line, reply, sizeof(reply));
		len -= (size_t) (nl + 1 - line);
		memmove(line, nl + 1, len);
		if (rc < 0) {
			sleep((unsigned) (-rc - 1));
			str_fmt(reply, sizeof(reply), "slept %d\n", -rc - 1);
		}
		if ((reply[0] && testsvc_write(fd, reply) < 0) || rc == 1)
			return;
	}
}

/* testsvc_conn - SERVICE_MULTI: one connection in the event loop */
struct testsvc_conn {
	struct service *svc;
	struct bufferevent *bev;
	struct event *sleep_ev;
	bool closing;
};

/* testsvc_conn_close - forget one connection */
static void testsvc_conn_close(struct testsvc_conn *c)
{
	struct service *svc = c->svc;

	if (c->sleep_ev)
		event_free(c->sleep_ev);
	bufferevent_free(c->bev);
	free(c);
	service_conn_done(svc);
}

static void testsvc_on_read(struct bufferevent *bev, void *arg);

/* testsvc_on_woke - a "sleep N" is over */
static void testsvc_on_woke(evutil_socket_t fd, short what, void *arg)
{
	struct testsvc_conn *c = arg;

	(void) fd;
	(void) what;
	event_free(c->sleep_ev);
	c->sleep_ev = NULL;
	bufferevent_write(c->bev, "slept\n", 6);
	bufferevent_enable(c->bev, EV_READ);
	testsvc_on_read(c->bev, c);
}

/* testsvc_on_read - lines from a MULTI connection */
static void testsvc_on_read(struct bufferevent *bev, void *arg)
{
	struct testsvc_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char reply[TESTSVC_LINE_MAX + 64];
	char *line;
	size_t n;
	int rc;

	while (c->sleep_ev == NULL && !c->closing &&
	       (line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) != NULL) {
		if (n > TESTSVC_LINE_MAX) {
			free(line);
			testsvc_conn_close(c);
			return;
		}
		rc = testsvc_command(c->svc, line, reply, sizeof(reply));
		free(line);
		if (reply[0])
			bufferevent_write(bev, reply, strlen(reply));
		if (rc == 1)
			c->closing = true;
		if (rc < 0) {
			struct timeval tv = { -rc - 1, 0 };

			bufferevent_disable(bev, EV_READ);
			c->sleep_ev = evtimer_new(service_base(c->svc), testsvc_on_woke, c);
			evtimer_add(c->sleep_ev, &tv);
		}
	}
	if (!c->closing && evbuffer_get_length(in) > TESTSVC_LINE_MAX)
		testsvc_conn_close(c);
	else if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		testsvc_conn_close(c);
}

/* testsvc_on_write - output drained: close when quitting */
static void testsvc_on_write(struct bufferevent *bev, void *arg)
{
	struct testsvc_conn *c = arg;

	(void) bev;
	if (c->closing)
		testsvc_conn_close(c);
}

/* testsvc_on_event - EOF or error */
static void testsvc_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void) bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		testsvc_conn_close(arg);
}

/* testsvc_multi - SERVICE_MULTI: start one connection */
static void testsvc_multi(struct service *svc, int fd)
{
	struct testsvc_conn *c = xcalloc(1, sizeof(*c));
	char greeting[256];

	c->svc = svc;
	c->bev = bufferevent_socket_new(service_base(svc), fd, BEV_OPT_CLOSE_ON_FREE);
	bufferevent_setcb(c->bev, testsvc_on_read, testsvc_on_write, testsvc_on_event, c);
	testsvc_greeting(svc, greeting, sizeof(greeting));
	bufferevent_write(c->bev, greeting, strlen(greeting));
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* testsvc_trigger - SERVICE_TRIGGER: log the request */
static void testsvc_trigger(struct service *svc, const char *data, size_t len)
{
	(void) data;
	msg_info("trigger: %zu bytes on %s", len, service_name(svc));
}

/* testsvc_stop - graceful stop requested */
static void testsvc_stop(struct service *svc)
{
	msg_info("%s: stop requested", service_name(svc));
}

/* testsvc_pre_jail - read the session limit from the arguments */
static void testsvc_pre_jail(struct service *svc)
{
	char *const *args;
	long long n;
	int argc;

	args = service_args(svc, &argc);
	for (int i = 0; i < argc; i++)
		if (str_has_prefix(args[i], "sessions=") && str_to_ll(args[i] + 9, 1, 10000, &n) == 0)
			service_set_session_limit(svc, (int) n);
}

static const struct service_desc testsvc_single_desc = {
	.program = "tern-testsvc", .kind = SERVICE_SINGLE,
	.pre_jail = testsvc_pre_jail, .on_connection = testsvc_single, .on_stop = testsvc_stop,
};
static const struct service_desc testsvc_multi_desc = {
	.program = "tern-testsvc", .kind = SERVICE_MULTI, .session_limit = 10,
	.pre_jail = testsvc_pre_jail, .on_connection = testsvc_multi, .on_stop = testsvc_stop,
};
static const struct service_desc testsvc_trigger_desc = {
	.program = "tern-testsvc", .kind = SERVICE_TRIGGER,
	.on_trigger = testsvc_trigger, .on_stop = testsvc_stop,
};

int main(int argc, char **argv)
{
	const struct service_desc *desc = &testsvc_single_desc;

	/* the kind is the first word among the master.conf arguments */
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "multi") == 0) {
			desc = &testsvc_multi_desc;
			testsvc_mode = "multi";
		} else if (strcmp(argv[i], "trigger") == 0) {
			desc = &testsvc_trigger_desc;
			testsvc_mode = "trigger";
		}
	}
	return service_main(argc, argv, desc);
}
