/*
 * ipc_client - a blocking client with one kept connection to a service's
 * UNIX socket, retried once on a new connection. Contract in
 * ipc_client.h.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/ipc_client.h"
#include "base/mem.h"
#include "base/str.h"

/* ipc_client - one kept connection */
struct ipc_client {
	char *service;			/* "sts": for messages */
	char *path;
	int timeout_ms;
	size_t reply_max;
	int fd;				/* -1: not connected */
	struct attr_list req, reply;
};

/* ipc_client_new - a client; it connects at the first call */
struct ipc_client *ipc_client_new(const char *service, const char *socket_path, int timeout_ms,
				  size_t req_max, size_t reply_max)
{
	struct ipc_client *c = xcalloc(1, sizeof(*c));

	c->service = xstrdup(service);
	c->path = xstrdup(socket_path);
	ipc_client_set_timeout(c, timeout_ms);
	c->reply_max = reply_max;
	c->fd = -1;
	attr_list_init(&c->req);
	attr_list_init(&c->reply);
	attr_list_set_limit(&c->req, req_max);
	return c;
}

/* ipc_client_disconnect - drop the connection */
void ipc_client_disconnect(struct ipc_client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* ipc_client_free - close and release (NULL is fine) */
void ipc_client_free(struct ipc_client *c)
{
	if (c == NULL)
		return;
	ipc_client_disconnect(c);
	attr_list_free(&c->req);
	attr_list_free(&c->reply);
	free(c->service);
	free(c->path);
	free(c);
}

/* ipc_client_set_path - another socket, from the next call on */
void ipc_client_set_path(struct ipc_client *c, const char *socket_path)
{
	ipc_client_disconnect(c);
	free(c->path);
	c->path = xstrdup(socket_path);
}

/* ipc_client_set_timeout - the time limit of one call */
void ipc_client_set_timeout(struct ipc_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : 1000;
}

/* ipc_client_path - the socket */
const char *ipc_client_path(const struct ipc_client *c)
{
	return c->path;
}

/* ipc_client_req - the request list */
struct attr_list *ipc_client_req(struct ipc_client *c)
{
	return &c->req;
}

/* ipc_client_reply - the last reply */
const struct attr_list *ipc_client_reply(const struct ipc_client *c)
{
	return &c->reply;
}

/* ipc_client_call - c->req out, c->reply in, one more try on a new connection */
int ipc_client_call(struct ipc_client *c, char *why, size_t whylen)
{
	char e[ATTR_ERR_MAX + 64];

	attr_list_reset(&c->reply);
	for (int attempt = 0;; attempt++) {
		bool kept = c->fd >= 0;
		int saved;

		if (!kept && (c->fd = ipc_connect_unix(c->path, c->timeout_ms)) < 0) {
			str_fmt(why, whylen, "cannot connect to the %s service %s: %s", c->service, c->path,
				strerror(errno));
			return -1;
		}
		if (ipc_call(c->fd, &c->req, &c->reply, c->reply_max, c->timeout_ms, e, sizeof(e)) == 0)
			return 0;
		saved = errno;
		ipc_client_disconnect(c);
		if (!kept || attempt > 0 || saved == ETIMEDOUT) {
			str_fmt(why, whylen, "%s service %s: %s", c->service, c->path, e);
			return -1;
		}
	}
}
