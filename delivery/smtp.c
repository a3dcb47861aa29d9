/*
 * smtp - the SMTP and LMTP delivery agent (smtp(8), lmtp(8)): DELIVER
 * requests from qmgr on private/smtp (and private/lmtp), delivered to
 * other mail servers (deliver_proto.h).
 *
 * One request at a time (a SINGLE service on deliver_serve_jobs): the
 * whole request is one mail transaction where the server allows it
 * (smtp_deliver.c). LMTP is the same agent with smtp_protocol = lmtp,
 * or any service named "lmtp".
 *
 * pre_jail (root, before the chroot to queue_directory): the DNS
 * resolver (dns_new reads its files now), the TLS policy engine
 * (smtp_tls_new: CA file, policy tables), smtp_sasl_password_maps (meant
 * to be root-owned, mode 0600: a warning when the group or others may
 * read it) and smtp_return_path_maps. A resolver or TLS engine that
 * cannot be made is logged; deliveries that need it are then deferred
 * with that reason rather than the process exiting in a loop.
 *
 * Connection reuse: after a request the session stays open for
 * smtp_connection_cache_time (a timer in the skeleton's event loop) and
 * serves the next request to the same next hop after an RSET (sent in
 * one write with MAIL FROM and RCPT TO when the server offers
 * PIPELINING; a failed RSET opens a new session and decides nothing);
 * on stop it gets its QUIT.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/service.h"
#include "mail/table.h"
#include "smtp.h"

static struct smtp_agent smtp_agent;

/* smtp_table_mode_check - warn when a credentials file is readable by others */
static void smtp_table_mode_check(const char *const *specs)
{
	for (size_t i = 0; specs[i] != NULL; i++) {
		const char *colon = strchr(specs[i], ':');
		struct stat st;
		char *db;

		if (colon == NULL || colon[1] != '/')
			continue;
		db = str_dupf("%s.db", colon + 1);
		if (stat(colon + 1, &st) == 0 || stat(db, &st) == 0) {
			if (st.st_mode & (S_IRWXG | S_IRWXO))
				msg_warn("smtp_sasl_password_maps %s: mode %04o lets others read passwords; use 0600",
					 specs[i], (unsigned) (st.st_mode & 07777));
			if (geteuid() == 0 && st.st_uid != 0)
				msg_warn("smtp_sasl_password_maps %s: not owned by root", specs[i]);
		}
		free(db);
	}
}

/* smtp_pre_jail - resolver, TLS engine and tables, as root */
static void smtp_pre_jail(struct service *svc)
{
	struct smtp_agent *a = &smtp_agent;
	char err[TABLE_ERR_SIZE];

	a->svc = svc;
	a->cfg = service_config(svc);
	a->g = &a->cfg->global;
	a->p = a->cfg->own;
	if (strcmp(a->p->smtp_protocol, "lmtp") == 0 || strcmp(service_name(svc), "lmtp") == 0)
		a->lmtp = true;
	else if (strcmp(a->p->smtp_protocol, "smtp") != 0)
		msg_fatal("smtp_protocol = %s: must be smtp or lmtp", a->p->smtp_protocol);
	srandom((unsigned) time(NULL) ^ (unsigned) getpid());
	a->dns = dns_new(a->cfg, a->dns_err, sizeof(a->dns_err));
	if (a->dns == NULL)
		msg_warn("DNS resolver: %s; deliveries that need DNS are deferred", a->dns_err);
	if (!a->lmtp) {
		a->tls = smtp_tls_new(a->cfg, a->dns, a->tls_err, sizeof(a->tls_err));
		if (a->tls == NULL)
			msg_warn("TLS: %s; mail is sent without TLS, mail that requires TLS is deferred", a->tls_err);
	}
	if (a->p->smtp_sasl_password_maps[0] != NULL) {
		smtp_table_mode_check((const char *const *) a->p->smtp_sasl_password_maps);
		a->sasl = tables_open_vector((const char *const *) a->p->smtp_sasl_password_maps, 0, err, sizeof(err));
		if (a->sasl == NULL)
			msg_fatal("smtp_sasl_password_maps: %s", err);
	}
	if (a->p->smtp_return_path_maps[0] != NULL) {
		a->retpath = tables_open_vector((const char *const *) a->p->smtp_return_path_maps, 0, err, sizeof(err));
		if (a->retpath == NULL)
			msg_fatal("smtp_return_path_maps: %s", err);
	}
}

/* smtp_job - one request */
static void smtp_job(struct deliver_job *job, void *ctx)
{
	smtp_deliver(ctx, job);
}

/* smtp_on_connection - requests from qmgr */
static void smtp_on_connection(struct service *svc, int fd)
{
	deliver_serve_jobs(svc, fd, smtp_job, &smtp_agent);
}

/* smtp_on_stop - QUIT the cached session */
static void smtp_on_stop(struct service *svc)
{
	(void) svc;
	smtp_cache_flush(&smtp_agent);
}

/* smtp_exit - at process exit: QUIT the cached session */
static void smtp_exit(void)
{
	smtp_cache_flush(&smtp_agent);
}

static const struct service_desc smtp_desc = {
	.program = "smtp",
	.group = "delivery",
	.kind = SERVICE_SINGLE,
	.pre_jail = smtp_pre_jail,
	.on_connection = smtp_on_connection,
	.on_stop = smtp_on_stop,
};

/* main - run the service */
int main(int argc, char **argv)
{
	atexit(smtp_exit);
	return service_main(argc, argv, &smtp_desc);
}
