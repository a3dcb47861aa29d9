/*
 * discard - the delivery agent that drops mail (Postfix's discard(8)).
 *
 * transport_maps sends a recipient here with "discard:TEXT": every
 * recipient of the request is marked delivered in its queue-file slot
 * (written and fsync'ed before the reply, deliver_proto.h; the request
 * handling is lib/mail/deliver_agent's) and logged as
 * "status=sent (discarded: TEXT)" with dsn 2.0.0; the message goes
 * nowhere. An empty TEXT logs just "discarded".
 *
 * Process: SERVICE_SINGLE, master.conf "discard unix - - n - - discard";
 * one connection at a time, several requests per connection.
 */
#include <errno.h>
#include <string.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/msg.h"
#include "mail/config.h"
#include "mail/deliver_agent.h"
#include "mail/service.h"

#define DISCARD_RELAY	"none"

/* discard_recipient - every recipient counts as delivered */
static void discard_recipient(struct deliver_job *job, size_t i, struct deliver_out *out, void *ctx)
{
	(void) i;
	(void) ctx;
	if (*job->nexthop)
		deliver_set(out, DELIVER_SENT, "2.0.0", "discarded: %s", job->nexthop);
	else
		deliver_set(out, DELIVER_SENT, "2.0.0", "discarded");
}

/* discard_on_connection - serve DELIVER requests until the peer closes */
static void discard_on_connection(struct service *svc, int fd)
{
	deliver_serve(svc, fd, DISCARD_RELAY, discard_recipient, NULL);
}

static const struct service_desc discard_desc = {
	.program = "discard",
	.group = NULL,
	.kind = SERVICE_SINGLE,
	.on_connection = discard_on_connection,
};

/* main - run on the skeleton */
int main(int argc, char **argv)
{
	return service_main(argc, argv, &discard_desc);
}
