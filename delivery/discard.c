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

static int discard_timeout_ms;

/* discard_on_connection - serve DELIVER requests until the peer closes */
static void discard_on_connection(struct service *svc, int fd)
{
	for (;;) {
		struct attr_list frame;
		struct deliver_job job;
		char err[256];
		int r;

		attr_list_init(&frame);
		r = ipc_recv(fd, &frame, 0, discard_timeout_ms, err, sizeof(err));
		if (r != 1) {
			if (r < 0)
				msg_warn("request: %s", err);
			attr_list_free(&frame);
			return;
		}
		if (deliver_job_begin(&job, &frame)) {
			struct deliver_out out;

			if (*job.nexthop)
				deliver_set(&out, DELIVER_SENT, "2.0.0", "discarded: %s", job.nexthop);
			else
				deliver_set(&out, DELIVER_SENT, "2.0.0", "discarded");
			for (size_t i = 0; i < job.nrcpts; i++)
				deliver_job_result(&job, i, &out, DISCARD_RELAY);
		}
		deliver_job_end(&job);
		if (ipc_send(fd, &job.reply, discard_timeout_ms) != 0)
			msg_warn("%s: cannot send the reply: %s", job.qid ? job.qid : "request",
				 strerror(errno));
		deliver_job_free(&job);
		attr_list_free(&frame);
		if (service_stopping(svc))
			return;
	}
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

/* main - run on the skeleton */
int main(int argc, char **argv)
{
	return service_main(argc, argv, &discard_desc);
}
