/*
 * smtpd - tern's SMTP server (ports 25, 587 and 465): the daemon.
 *
 * A SERVICE_MULTI daemon: one process serves up to
 * smtpd_sessions_per_process sessions on its event loop, and master
 * starts as many processes as the load needs; each ends after max_use
 * sessions. pre_jail runs as root: it loads the TLS certificate and key,
 * opens the tables and the GeoIP database and makes the resolver for
 * client names (its files are read there and then), so nothing after the chroot and the drop to
 * mail_owner needs a file outside the queue directory. Messages go to
 * cleanup over "private/cleanup" (smtpd_cleanup.c); smtpd never writes
 * the queue.
 *
 * Stop (SIGTERM, or master dropping the service): every session gets
 * "421 4.3.2" at once, or just after the reply to a message that cleanup
 * is finishing, and the process exits when the last one is closed.
 *
 * Failures: a bad parameter value, an unreadable certificate or key is
 * fatal at start-up (master logs it and backs off).
 */
#include <string.h>

#include "base/mem.h"
#include "base/msg.h"
#include "mail/service.h"
#include "smtpd.h"

static struct smtpd_server smtpd_server;

/* smtpd_server_add - a new session joins the list */
void smtpd_server_add(struct smtpd_server *srv, struct smtpd_session *s)
{
	s->prev = NULL;
	s->next = srv->sessions;
	if (srv->sessions)
		srv->sessions->prev = s;
	srv->sessions = s;
}

/* smtpd_server_remove - a session leaves the list */
void smtpd_server_remove(struct smtpd_server *srv, struct smtpd_session *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		srv->sessions = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
	service_conn_done(srv->svc);
}

/* smtpd_bare_mode - the smtpd_bare_newline value */
static enum smtpd_bare smtpd_bare_mode(const char *v)
{
	if (strcmp(v, "reject") == 0)
		return SMTPD_BARE_REJECT;
	if (strcmp(v, "normalize") == 0)
		return SMTPD_BARE_NORMALIZE;
	if (strcmp(v, "accept") == 0)
		return SMTPD_BARE_ACCEPT;
	msg_fatal("smtpd_bare_newline = %s: expected reject, normalize or accept", v);
}

/* smtpd_tls_level_of - the smtpd_tls_security_level value */
static enum smtpd_tls_level smtpd_tls_level_of(const char *v)
{
	if (strcmp(v, "none") == 0 || v[0] == '\0')
		return SMTPD_TLS_NONE;
	if (strcmp(v, "may") == 0)
		return SMTPD_TLS_MAY;
	if (strcmp(v, "encrypt") == 0)
		return SMTPD_TLS_ENCRYPT;
	msg_fatal("smtpd_tls_security_level = %s: expected none, may or encrypt", v);
}

/* smtpd_pre_jail - as root: settings, TLS keys, tables */
static void smtpd_pre_jail(struct service *svc)
{
	struct smtpd_server *srv = &smtpd_server;
	const struct config *cfg = service_config(svc);

	srv->svc = svc;
	srv->base = service_base(svc);
	srv->g = &cfg->global;
	srv->p = cfg->own;
	srv->service = service_name(svc);
	srv->bare = smtpd_bare_mode(srv->p->smtpd_bare_newline);
	srv->tls_level = smtpd_tls_level_of(srv->p->smtpd_tls_security_level);
	srv->line = xmalloc((size_t) srv->p->smtpd_line_length_limit + 1);
	srv->rbuf = xmalloc(SMTPD_RBUF_SIZE);
	smtpd_tls_init(srv);
	smtpd_policy_init(srv);
	smtpd_sasl_init(srv);
	smtpd_access_init(srv);		/* after smtpd_sasl_init: it asks whether AUTH is offered */
	smtpd_peer_init(srv);
	smtpd_space_init(srv);
	service_set_session_limit(svc, (int) srv->p->smtpd_sessions_per_process);
	service_set_ctx(svc, srv);
}

/* smtpd_post_jail - after the drop, inside the chroot: the screen client */
static void smtpd_post_jail(struct service *svc)
{
	smtpd_screen_init(service_ctx(svc));
}

/* smtpd_on_connection - a client connected: a new session owns fd */
static void smtpd_on_connection(struct service *svc, int fd)
{
	smtpd_session_open(service_ctx(svc), fd);
}

/* smtpd_on_stop - SIGTERM or master closed the status pipe */
static void smtpd_on_stop(struct service *svc)
{
	struct smtpd_server *srv = service_ctx(svc);
	struct smtpd_session *s, *next;

	if (srv == NULL)
		return;
	srv->stopping = true;
	for (s = srv->sessions; s != NULL; s = next) {
		next = s->next;
		smtpd_session_shutdown(s);
	}
	smtpd_cleanup_pool_close(srv);
}

static const struct service_desc smtpd_desc = {
	.program = "smtpd",
	.group = "smtpd",
	.kind = SERVICE_MULTI,
	.session_limit = 0,
	.pre_jail = smtpd_pre_jail,
	.post_jail = smtpd_post_jail,
	.on_connection = smtpd_on_connection,
	.on_stop = smtpd_on_stop,
};

/* main - hand over to the skeleton */
int main(int argc, char **argv)
{
	return service_main(argc, argv, &smtpd_desc);
}
