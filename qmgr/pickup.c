/*
 * pickup - local submission: takes messages from sendmail on the public
 * socket and from the maildrop directory, and hands them to cleanup
 * (Postfix's pickup, plus the socket way in). See pickup(8).
 *
 * One socket, public/pickup, serves two kinds of connection, told apart
 * by their first byte: a wake-up request (one letter, "W": from master
 * every wakeup seconds, and from sendmail after it spooled a file) makes
 * pickup scan the maildrop; a submission (a cleanup_proto.h conversation,
 * whose frames start with a 0 byte because they are shorter than 16 MiB)
 * is relayed to cleanup with the submitter's uid from SO_PEERCRED, and
 * cleanup's answer goes back unchanged. So no local program needs set-id
 * rights to submit mail while tern runs.
 *
 * A multi-session service: submissions run side by side in the event
 * loop, each with its own cleanup connection. The maildrop scan is a
 * blocking loop (local files, a local socket), run from the event loop
 * after the wake-up connection that asked for it was read; the wake-up
 * connection counts as open until the scan is over, so the process never
 * exits (max_use, max_idle) with a scan pending. Run pickup with maxproc
 * 1, as master.conf does; several processes would still not replay a
 * file twice (each file is locked while it is replayed).
 */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "mail/service.h"
#include "pickup.h"

/* pickup_probe - a new connection whose first byte has not come yet */
struct pickup_probe {
	struct pickup *pk;
	struct event *ev;
	int fd;
};

static struct pickup pickup;

/* pickup_on_scan - run the scan that wake-ups asked for, then let them go */
static void pickup_on_scan(evutil_socket_t fd, short what, void *arg)
{
	struct pickup *pk = arg;
	int waiters = pk->scan_waiters;

	(void) fd;
	(void) what;
	pk->scan_waiters = 0;
	pickup_scan(pk);
	while (waiters-- > 0)
		service_conn_done(pk->svc);
}

/* pickup_on_first - the first byte decides what the connection is */
static void pickup_on_first(evutil_socket_t fd, short what, void *arg)
{
	struct pickup_probe *pr = arg;
	struct pickup *pk = pr->pk;
	unsigned char c = 0;
	ssize_t n = 0;

	if (what & EV_READ) {
		n = recv(fd, &c, 1, MSG_PEEK);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			struct timeval tv = {pk->client_ms / 1000, 0};

			event_add(pr->ev, &tv);
			return;
		}
	}
	event_free(pr->ev);
	free(pr);
	if (n == 1 && c == 0) {
		pickup_client_start(pk, fd);
		return;
	}
	if (n == 1) {
		char drain[64];

		/* a wake-up request: read it, close, scan */
		if (recv(fd, drain, sizeof(drain), MSG_DONTWAIT) < 0)
			msg_debug("wake-up request: %s", strerror(errno));
		close(fd);
		pk->scan_waiters++;
		event_active(pk->scan_ev, EV_TIMEOUT, 1);
		return;
	}
	if (what & EV_TIMEOUT)
		msg_debug("connection idle for %d ms before its first byte", pk->client_ms);
	close(fd);
	service_conn_done(pk->svc);
}

/* pickup_on_connection - MULTI: wait for the first byte */
static void pickup_on_connection(struct service *svc, int fd)
{
	struct pickup *pk = service_ctx(svc);
	struct pickup_probe *pr = xcalloc(1, sizeof(*pr));
	struct timeval tv = {pk->client_ms / 1000, 0};

	pr->pk = pk;
	pr->fd = fd;
	pr->ev = event_new(service_base(svc), fd, EV_READ, pickup_on_first, pr);
	event_add(pr->ev, &tv);
}

/* pickup_post_jail - the process state */
static void pickup_post_jail(struct service *svc)
{
	const struct config *cfg = service_config(svc);
	const struct params_qmgr *q = cfg->own;

	pickup.svc = svc;
	pickup.client_ms = (int) (q->pickup_timeout * 1000);
	pickup.ipc_ms = (int) (cfg->global.ipc_timeout * 1000);
	pickup.scan_ev = evtimer_new(service_base(svc), pickup_on_scan, &pickup);
	if (pickup.scan_ev == NULL)
		msg_fatal("evtimer_new failed");
	service_set_ctx(svc, &pickup);
}

static const struct service_desc pickup_desc = {
	.program = "pickup",
	.group = "qmgr",
	.kind = SERVICE_MULTI,
	.post_jail = pickup_post_jail,
	.on_connection = pickup_on_connection,
};

int main(int argc, char **argv)
{
	/* pickup.scan_ev stays reachable: the skeleton frees the event base itself */
	return service_main(argc, argv, &pickup_desc);
}
