/*
 * local - the local delivery agent (local(8)): DELIVER requests from qmgr
 * on private/local (deliver_proto.h), one connection at a time, several
 * requests per connection. See local.h for the privilege model.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ipc.h"
#include "base/msg.h"
#include "mail/deliver_agent.h"
#include "mail/deliver_proto.h"
#include "mail/service.h"
#include "local.h"

static struct local local_state;

/* local_pre_jail - as root: the alias tables */
static void local_pre_jail(struct service *svc)
{
	const struct config *cfg = service_config(svc);
	char err[TABLE_ERR_SIZE];

	local_state.cfg = cfg;
	local_state.g = &cfg->global;
	local_state.p = cfg->own;
	if (local_state.g->alias_maps[0] != NULL) {
		local_state.aliases = tables_open_vector((const char *const *) local_state.g->alias_maps,
							 0, err, sizeof(err));
		if (local_state.aliases == NULL)
			msg_warn("alias_maps: %s (aliases are looked up again at each request)", err);
	}
}

/* local_tables - open alias_maps when pre_jail could not */
static int local_tables(struct local *lc)
{
	char err[TABLE_ERR_SIZE];

	if (lc->aliases != NULL || lc->g->alias_maps[0] == NULL)
		return 0;
	lc->aliases = tables_open_vector((const char *const *) lc->g->alias_maps, 0, err, sizeof(err));
	if (lc->aliases == NULL) {
		msg_warn("alias_maps: %s", err);
		return -1;
	}
	return 0;
}

/* local_deliver_one - one recipient, as deliver_serve asks */
static void local_deliver_one(struct deliver_job *job, size_t i, struct deliver_out *out, void *ctx)
{
	if (local_tables(ctx) != 0)
		deliver_set(out, DELIVER_DEFER, "4.3.0", "alias table lookup failure");
	else
		local_recipient(ctx, job, i, out);
}

/* local_connection - serve requests until the peer closes */
static void local_connection(struct service *svc, int fd)
{
	deliver_serve(svc, fd, LOCAL_RELAY, local_deliver_one, &local_state);
}

static const struct service_desc local_desc = {
	.program = "local",
	.group = "delivery",
	.kind = SERVICE_SINGLE,
	.pre_jail = local_pre_jail,
	.on_connection = local_connection,
};

/* main - run on the skeleton */
int main(int argc, char **argv)
{
	return service_main(argc, argv, &local_desc);
}
