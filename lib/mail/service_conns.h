/*
 * service_conns.h - the client connections of a SERVICE_MULTI daemon
 * that answers request frames (sts, screen, proxymap): each accepted
 * socket becomes an ipc_conn with the daemon's frame callback and time
 * limits, kept on a list so that a graceful stop can finish them all.
 *
 * Contract:
 *   - service_conns_add (from on_connection) owns the socket. on_frame
 *     gets the struct service_conn as its arg; the daemon may keep its
 *     own per-connection data in conn->data (released with free() when
 *     the connection ends) and a log prefix in conn->who.
 *   - When a connection closes (the peer went away, a bad or oversized
 *     frame, a time limit, or after service_conns_finish), it is taken
 *     off the list and freed, and service_conn_done tells the skeleton.
 *     A read timeout is an idle client and only a debug line; any other
 *     reason is a warning.
 *   - service_conns_finish (from on_stop) lets every connection write
 *     what is queued, then closes it.
 */
#ifndef TERN_MAIL_SERVICE_CONNS_H
#define TERN_MAIL_SERVICE_CONNS_H

#include <stddef.h>

#include "base/ipc.h"

struct service;

/* service_conn - one client connection */
struct service_conn {
	struct ipc_conn *conn;
	struct service_conns *owner;
	char who[64];			/* log prefix, "uid 8 pid 1234: ", or "" */
	void *data;			/* the daemon's, freed with free() at the end */
	struct service_conn *prev, *next;
};

/* service_conns - every open connection of the process */
struct service_conns {
	struct service *svc;
	size_t max_frame;		/* largest request frame */
	int read_ms, write_ms;		/* idle limits of a connection */
	ipc_frame_fn *on_frame;		/* one request; arg is the struct service_conn */
	struct service_conn *head;
};

/* service_conns_init - no connections yet; the limits and the frame callback */
void service_conns_init(struct service_conns *s, struct service *svc, size_t max_frame,
			int read_ms, int write_ms, ipc_frame_fn *on_frame);
/* service_conns_add - a new client on fd: its connection, reading already */
struct service_conn *service_conns_add(struct service_conns *s, int fd);
/* service_conns_finish - graceful stop: close every connection after its reply */
void service_conns_finish(struct service_conns *s);

#endif
