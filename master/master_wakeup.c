/*
 * master_wakeup - the wake-up column of master.conf.
 *
 * Every N seconds master connects to the service's own listener and
 * writes one byte, "W" (Postfix's trigger request). That is an ordinary
 * connection: if no process of the service is available, master starts
 * one, which reads the request and runs its on_trigger hook. unix and
 * pass listeners are reached by path; inet ones at the bound address (the
 * loopback address when bound to any address). Connections never block
 * master: a connect or write that cannot finish at once is given
 * MASTER_WAKEUP_TIMEOUT seconds in the event loop, then dropped with a
 * warning. A throttled or stopping service is not woken.
 */
#include <errno.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "master.h"

#define MASTER_WAKEUP_TIMEOUT	10
#define MASTER_WAKEUP_REQUEST	"W"

/* master_wakeup_conn - one wake-up connection in progress */
struct master_wakeup_conn {
	int fd;
	struct event *ev;
	char name[128];
};

/* master_wakeup_on_ready - connected (or timed out): write the request and close */
static void master_wakeup_on_ready(evutil_socket_t fd, short what, void *arg)
{
	struct master_wakeup_conn *c = arg;
	int err = 0;
	socklen_t len = sizeof(err);

	if (what & EV_TIMEOUT)
		msg_warn("wake-up of service %s: no connection within %ds", c->name, MASTER_WAKEUP_TIMEOUT);
	else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err != 0)
		msg_warn("wake-up of service %s: connect: %s", c->name, strerror(err ? err : errno));
	else if (send(fd, MASTER_WAKEUP_REQUEST, 1, MSG_NOSIGNAL | MSG_DONTWAIT) != 1)
		msg_warn("wake-up of service %s: write: %s", c->name, strerror(errno));
	event_free(c->ev);
	close(fd);
	free(c);
}

/* master_wakeup_send - connect to s and send the request */
static void master_wakeup_send(struct master_serv *s)
{
	struct sockaddr_storage ss;
	struct sockaddr_un *sun = (struct sockaddr_un *) &ss;
	socklen_t len = sizeof(ss);
	struct master_wakeup_conn *c;
	struct timeval tv = { MASTER_WAKEUP_TIMEOUT, 0 };
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (s->sock_path != NULL) {
		sun->sun_family = AF_UNIX;
		str_copy(sun->sun_path, s->sock_path, sizeof(sun->sun_path));
		len = sizeof(*sun);
	} else if (getsockname(s->listen_fd[0], (struct sockaddr *) &ss, &len) < 0) {
		msg_warn("wake-up of service %s: getsockname: %s", s->ent.name, strerror(errno));
		return;
	} else if (ss.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *) &ss;

		if (in->sin_addr.s_addr == htonl(INADDR_ANY))
			in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &ss;

		if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr))
			in6->sin6_addr = in6addr_loopback;
	}
	if ((fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		msg_warn("wake-up of service %s: socket: %s", s->ent.name, strerror(errno));
		return;
	}
	if (connect(fd, (struct sockaddr *) &ss, len) < 0 && errno != EINPROGRESS) {
		msg_warn("wake-up of service %s: connect: %s", s->ent.name, strerror(errno));
		close(fd);
		return;
	}
	c = xcalloc(1, sizeof(*c));
	c->fd = fd;
	str_copy(c->name, s->ent.name, sizeof(c->name));
	c->ev = event_new(master.base, fd, EV_WRITE, master_wakeup_on_ready, c);
	event_add(c->ev, &tv);
}

/* master_wakeup_on_timer - time for the next wake-up */
static void master_wakeup_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct master_serv *s = arg;

	(void) fd;
	(void) what;
	if (!master.stopping && s->nlisten > 0 && s->throttled_until == 0)
		master_wakeup_send(s);
}

/* master_wakeup_start - start the periodic wake-up of s, if it has one */
void master_wakeup_start(struct master_serv *s)
{
	struct timeval tv = { (time_t) s->ent.wakeup, 0 };

	if (s->ent.wakeup <= 0 || s->nlisten == 0 || s->wakeup_ev != NULL)
		return;
	s->wakeup_ev = event_new(master.base, -1, EV_PERSIST, master_wakeup_on_timer, s);
	event_add(s->wakeup_ev, &tv);
	/* one wake-up now, so a queue manager starts at boot, not a period later */
	if (!master.stopping && s->throttled_until == 0)
		master_wakeup_send(s);
}

/* master_wakeup_now - one wake-up now, when s has a wake-up and no
 * process: a queue manager that died comes back when its back-off ends, not
 * a whole period later (nothing else may connect to it meanwhile) */
void master_wakeup_now(struct master_serv *s)
{
	if (s->wakeup_ev != NULL && s->nproc == 0 && !master.stopping && s->nlisten > 0 &&
	    s->throttled_until == 0)
		master_wakeup_send(s);
}

/* master_wakeup_stop - no more wake-ups for s */
void master_wakeup_stop(struct master_serv *s)
{
	if (s->wakeup_ev != NULL) {
		event_free(s->wakeup_ev);
		s->wakeup_ev = NULL;
	}
}
