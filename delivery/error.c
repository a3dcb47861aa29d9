/*
 * error - the delivery agent that bounces (Postfix's error(8)).
 *
 * transport_maps sends a recipient here with "error:TEXT": every
 * recipient of the request is marked bounced in its queue-file slot
 * (written and fsync'ed before the reply, deliver_proto.h; the request
 * handling is lib/mail/deliver_agent's), logged with status=bounced and
 * TEXT as the reason. A TEXT that starts with a 5.X.Y enhanced status
 * code gives the DSN ("error:5.1.1 user unknown"); otherwise the DSN is
 * 5.0.0. An empty TEXT reads "delivery refused by the error transport".
 *
 * Process: SERVICE_SINGLE, master.conf "error unix - - n - - error";
 * one connection at a time, several requests per connection.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/deliver_agent.h"
#include "mail/service.h"

#define ERROR_RELAY	"none"

/* error_dsn_ok - "5.X.Y" with X, Y of 1 to 3 digits */
static bool error_dsn_ok(const char *w)
{
	unsigned c, s, d;
	int n = 0;

	return sscanf(w, "%1u.%3u.%3u%n", &c, &s, &d, &n) == 3 && w[n] == 0 && c == 5;
}

/* error_outcome - the bounce for this request's nexthop text */
static void error_outcome(const char *text, struct deliver_out *out)
{
	char dsn[16] = "5.0.0", word[16];
	size_t n = strcspn(text, " \t");

	if (n > 0 && n < sizeof(word)) {
		memcpy(word, text, n);
		word[n] = 0;
		if (error_dsn_ok(word)) {
			str_copy(dsn, word, sizeof(dsn));
			text += n;
			text += strspn(text, " \t");
		}
	}
	deliver_set(out, DELIVER_BOUNCE, dsn, "%s",
		    *text ? text : "delivery refused by the error transport");
}

/* error_recipient - every recipient bounces with the nexthop's text */
static void error_recipient(struct deliver_job *job, size_t i, struct deliver_out *out, void *ctx)
{
	(void) i;
	(void) ctx;
	error_outcome(job->nexthop, out);
}

/* error_on_connection - serve DELIVER requests until the peer closes */
static void error_on_connection(struct service *svc, int fd)
{
	deliver_serve(svc, fd, ERROR_RELAY, error_recipient, NULL);
}

static const struct service_desc error_desc = {
	.program = "error",
	.group = NULL,
	.kind = SERVICE_SINGLE,
	.on_connection = error_on_connection,
};

/* main - run on the skeleton */
int main(int argc, char **argv)
{
	return service_main(argc, argv, &error_desc);
}
