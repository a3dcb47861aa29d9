/*
 * service_conns - the connection list of a multi service that answers
 * request frames. Contract in service_conns.h.
 */
#include <stdlib.h>

#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/service.h"
#include "mail/service_conns.h"

/* service_conns_init - an empty list */
void service_conns_init(struct service_conns *s, struct service *svc, size_t max_frame,
			int read_ms, int write_ms, ipc_frame_fn *on_frame)
{
	s->svc = svc;
	s->max_frame = max_frame;
	s->read_ms = read_ms;
	s->write_ms = write_ms;
	s->on_frame = on_frame;
	s->head = NULL;
}

/* service_conns_on_close - a connection is over: off the list, freed, the skeleton told */
static void service_conns_on_close(struct ipc_conn *conn, const char *reason, void *arg)
{
	struct service_conn *c = arg;
	struct service_conns *s = c->owner;

	if (reason != NULL && str_has_prefix(reason, "read timeout"))
		msg_debug("%sidle connection closed", c->who);
	else if (reason != NULL)
		msg_warn("%sconnection closed: %s", c->who, reason);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->head = c->next;
	if (c->next)
		c->next->prev = c->prev;
	ipc_conn_free(conn);
	free(c->data);
	free(c);
	service_conn_done(s->svc);
}

/* service_conns_add - a new client */
struct service_conn *service_conns_add(struct service_conns *s, int fd)
{
	struct service_conn *c = xcalloc(1, sizeof(*c));

	c->owner = s;
	c->conn = ipc_conn_new(service_base(s->svc), fd, s->max_frame, s->on_frame,
			       service_conns_on_close, c);
	ipc_conn_set_timeout(c->conn, s->read_ms, s->write_ms);
	c->next = s->head;
	if (c->next)
		c->next->prev = c;
	s->head = c;
	return c;
}

/* service_conns_finish - close every connection after its reply */
void service_conns_finish(struct service_conns *s)
{
	for (struct service_conn *c = s->head; c; c = c->next)
		ipc_conn_finish(c->conn);
}
