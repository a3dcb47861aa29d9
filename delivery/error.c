/*
 * error - the delivery agent that bounces (Postfix's error(8)).
 *
 * transport_maps sends a recipient here with "error:TEXT": every
 * recipient of the request is marked bounced in its queue-file slot
 * (written and fsync'ed before the reply, deliver_proto.h), logged with
 * status=bounced and the TEXT as the reason. A TEXT that starts with a
 * 5.X.Y enhanced status code gives the DSN ("error:5.1.1 user unknown");
 * otherwise the DSN is 5.0.0. An empty TEXT reads "delivery refused by
 * the error transport".
 *
 * Process: SERVICE_SINGLE, master.conf "error unix - - n - - error";
 * one connection at a time, several requests per connection.
 */
#include <stdbool.h>
#include <string.h>

#include "base/str.h"
#include "mail/config.h"
#include "mail/deliver_agent.h"
#include "mail/service.h"

static int error_timeout_ms;

/* error_split - the DSN at the start of text (5.X.Y only), and the rest */
static const char *error_split(const char *text, char *dsn, size_t size)
{
	char word[16];
	size_t n = strcspn(text, " \t");
	unsigned c, s, d;

	str_copy(dsn, "5.0.0", size);
	if (n > 0 && n < sizeof(word)) {
		memcpy(word, text, n);
		word[n] = 0;
		if (deliver_agent_dsn_parse(word, &c, &s, &d) == 0 && c == 5) {
			str_copy(dsn, word, size);
			text += n;
			text += strspn(text, " \t");
		}
	}
	return *text ? text : "delivery refused by the error transport";
}

/* error_deliver - bounce every recipient */
static void error_deliver(struct deliver_request *dr, void *ctx)
{
	char dsn[16];
	const char *text = error_split(dr->nexthop, dsn, sizeof(dsn));

	(void) ctx;
	for (size_t i = 0; i < dr->nrcpts; i++)
		deliver_agent_result(dr, i, "bounced", dsn, "none", text);
}

/* error_stop - a graceful stop was asked for */
static bool error_stop(void *svc)
{
	return service_stopping(svc);
}

/* error_on_connection - serve requests until the client is done */
static void error_on_connection(struct service *svc, int fd)
{
	deliver_agent_serve(fd, error_deliver, NULL, error_stop, svc, error_timeout_ms);
}

/* error_post_jail - the time limit for reads and writes */
static void error_post_jail(struct service *svc)
{
	error_timeout_ms = (int) service_config(svc)->global.ipc_timeout * 1000;
}

static const struct service_desc error_desc = {
	.program = "error",
	.group = NULL,
	.kind = SERVICE_SINGLE,
	.post_jail = error_post_jail,
	.on_connection = error_on_connection,
};

int main(int argc, char **argv)
{
	return service_main(argc, argv, &error_desc);
}
