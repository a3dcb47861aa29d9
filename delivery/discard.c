/*
 * discard - the delivery agent that drops mail (Postfix's discard(8)).
 *
 * transport_maps sends a recipient here with "discard:TEXT": every
 * recipient of the request is marked delivered in its queue-file slot
 * (written and fsync'ed before the reply, deliver_proto.h) and logged
 * as "status=sent (discarded: TEXT)" with dsn 2.0.0; the message goes
 * nowhere. An empty TEXT logs the next hop's absence as "discarded".
 *
 * Process: SERVICE_SINGLE, master.conf "discard unix - - n - - discard";
 * one connection at a time, several requests per connection.
 */
#include <stdbool.h>

#include "base/str.h"
#include "mail/config.h"
#include "mail/deliver_agent.h"
#include "mail/service.h"

static int discard_timeout_ms;

/* discard_deliver - mark every recipient delivered */
static void discard_deliver(struct deliver_request *dr, void *ctx)
{
	char text[1100];

	(void) ctx;
	if (*dr->nexthop)
		str_fmt(text, sizeof(text), "discarded: %.1024s", dr->nexthop);
	else
		str_copy(text, "discarded", sizeof(text));
	for (size_t i = 0; i < dr->nrcpts; i++)
		deliver_agent_result(dr, i, "sent", "2.0.0", "none", text);
}

/* discard_stop - a graceful stop was asked for */
static bool discard_stop(void *svc)
{
	return service_stopping(svc);
}

/* discard_on_connection - serve requests until the client is done */
static void discard_on_connection(struct service *svc, int fd)
{
	deliver_agent_serve(fd, discard_deliver, NULL, discard_stop, svc, discard_timeout_ms);
}

/* discard_post_jail - the time limit for reads and writes */
static void discard_post_jail(struct service *svc)
{
	discard_timeout_ms = (int) service_config(svc)->global.ipc_timeout * 1000;
}

static const struct service_desc discard_desc = {
	.program = "discard",
	.group = NULL,
	.kind = SERVICE_SINGLE,
	.post_jail = discard_post_jail,
	.on_connection = discard_on_connection,
};

int main(int argc, char **argv)
{
	return service_main(argc, argv, &discard_desc);
}
