/*
 * qmgr - the queue manager: moves mail from incoming/ through active/ to
 * the delivery agents, defers and retries it, expires it, and has
 * notices sent through bounce (Postfix's qmgr(8)).
 *
 * Process: one long-lived SERVICE_TRIGGER process with
 * SERVICE_FLAG_NO_LIMITS, master.conf "qmgr unix n - n 300 1 qmgr",
 * listening on public/qmgr for wake-up requests (trigger protocol in
 * qmgr(8)); working directory queue_directory. Everything is
 * event-driven in one libevent loop: directory scans in bounded batches
 * (qmgr_scan.c), activation and completion of messages
 * (qmgr_message.c), requests to agents with per-destination and
 * per-transport limits (qmgr_deliver.c), and notice requests to bounce
 * (qmgr_bounce.c). qmgr never waits for an agent.
 *
 * State: nothing but the queue directories and the queue files' slots.
 * After a crash or SIGKILL, a new qmgr takes active/ first (recipients
 * whose slots are final are never delivered again), then incoming/,
 * deferred/ and timed/ as usual.
 *
 * Failures: bad parameters or a table that cannot be opened are fatal at
 * start (master backs off); everything at run time is logged and
 * retried later, never fatal.
 */
#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/service.h"
#include "qmgr.h"

#define QMGR_FD_RESERVE	200		/* descriptors kept for connections and logs */
#define QMGR_SITE_MAX	1024

struct qmgr qmgr;

static bool qmgr_stopped;		/* qmgr_shutdown ran: ignore late wake-ups */

/* qmgr_on_trigger - a wake-up request: letters, "F site" (see qmgr(8)) */
static void qmgr_on_trigger(struct service *svc, const char *data, size_t len)
{
	(void) svc;
	if (qmgr_stopped)
		return;
	for (size_t i = 0; i < len; i++) {
		switch (data[i]) {
		case 'W':
		case 'I':
			qmgr_scan_request("incoming", false, NULL);
			break;
		case 'A':
			qmgr_scan_request("deferred", false, NULL);
			qmgr_scan_request("timed", false, NULL);
			break;
		case 'F':
			if (i + 1 < len && data[i + 1] == ' ') {
				char site[QMGR_SITE_MAX + 1];
				size_t n = len - i - 2;

				while (n > 0 && (data[i + 2 + n - 1] == '\n' || data[i + 2 + n - 1] == '\r' ||
						 data[i + 2 + n - 1] == ' '))
					n--;
				if (n == 0 || n > QMGR_SITE_MAX || memchr(data + i + 2, 0, n)) {
					msg_warn("flush request with a bad site name ignored");
					return;
				}
				memcpy(site, data + i + 2, n);
				site[n] = 0;
				msg_info("flush of %s requested", site);
				qmgr_deliver_unsuspend(site);
				qmgr_scan_request("deferred", true, site);
				return;		/* the site is the rest of the request */
			}
			msg_info("flush requested");
			qmgr_deliver_unsuspend(NULL);
			qmgr_scan_request("deferred", true, NULL);
			qmgr_scan_request("timed", false, NULL);
			break;
		case '\n':
		case '\r':
		case ' ':
			break;
		default:
			msg_warn("unknown wake-up request '%c' ignored", data[i] > 0x20 && data[i] < 0x7f ?
				 data[i] : '?');
			break;
		}
	}
}

/* qmgr_fd_limit - raise the descriptor limit; each active message holds one */
static long long qmgr_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			(void) getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? 1LL << 20 : (long long) rl.rlim_cur;
}

/* qmgr_mkdir - a queue directory qmgr writes (defer/, bounce/) */
static void qmgr_mkdir(const char *dir)
{
	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		msg_fatal("mkdir %s: %s", dir, strerror(errno));
}

/* qmgr_post_jail - parameters, tables, the start-up scans */
static void qmgr_post_jail(struct service *svc)
{
	const struct config *cfg = service_config(svc);
	const struct params_qmgr *own = cfg->own;
	char err[1024];
	long long fds = qmgr_fd_limit();

	qmgr.base = service_base(svc);
	qmgr.started = time(NULL);
	qmgr.p.dest_concurrency = own->default_destination_concurrency_limit;
	qmgr.p.dest_rcpt_limit = own->default_destination_recipient_limit;
	qmgr.p.failed_cohort_limit = own->default_destination_concurrency_failed_cohort_limit;
	qmgr.p.active_limit = own->qmgr_active_limit;
	qmgr.p.incomplete_timeout = own->qmgr_incomplete_timeout;
	qmgr.p.min_backoff = own->minimal_backoff_time;
	qmgr.p.max_backoff = own->maximal_backoff_time;
	if (qmgr.p.max_backoff < qmgr.p.min_backoff)
		qmgr.p.max_backoff = qmgr.p.min_backoff;
	qmgr.p.max_lifetime = own->maximal_queue_lifetime;
	qmgr.p.delay_warning = own->delay_warning_time;
	qmgr.p.run_delay = own->queue_run_delay;
	qmgr.p.transport_limit = cfg->global.default_process_limit;
	qmgr.p.ipc_ms = (int) cfg->global.ipc_timeout * 1000;
	if (qmgr.p.active_limit > fds - QMGR_FD_RESERVE - qmgr.p.transport_limit) {
		long long lim = fds - QMGR_FD_RESERVE - qmgr.p.transport_limit;

		qmgr.p.active_limit = lim > 10 ? lim : 10;
		msg_info("qmgr_active_limit lowered to %lld for %lld file descriptors",
			 qmgr.p.active_limit, fds);
	}
	qmgr_mkdir("defer");
	qmgr_mkdir("bounce");
	if (own->queue_file_recycle)	/* ENOENT: a queue made before recycle/ existed */
		qmgr.recycle = qfile_pool_open("recycle", own->queue_recycle_limit, NULL);
	qmgr.resolve = resolve_new((const char *const *) cfg->global.mydestination,
				   (const char *const *) cfg->global.virtual_mailbox_domains,
				   (const char *const *) own->transport_maps, cfg->global.relayhost,
				   err, sizeof(err));
	if (qmgr.resolve == NULL)
		msg_fatal("%s", err);
	qmgr_fresh_init();
	qmgr_control_init();
	qmgr_scan_init();
}

/*
 * qmgr_shutdown - release everything (files stay where they are). It
 * runs from on_stop, while the event base still exists (the skeleton
 * frees the base before service_main returns, so event_free after that
 * would touch freed memory), and ends the loop at once so that no qmgr
 * callback runs on the freed state.
 */
static void qmgr_shutdown(void)
{
	if (qmgr_stopped)
		return;
	qmgr_stopped = true;
	qmgr_scan_free();
	qmgr_control_free();
	qmgr_bounce_free();
	qmgr_deliver_free();
	qmgr_msg_free_all();
	qmgr_fresh_free();
	resolve_free(qmgr.resolve);
	qfile_pool_close(qmgr.recycle);
	qmgr.recycle = NULL;
	qmgr.resolve = NULL;
	if (qmgr.base)
		event_base_loopbreak(qmgr.base);
}

/* qmgr_on_stop - a stop was requested: let go of every event while the base lives */
static void qmgr_on_stop(struct service *svc)
{
	(void) svc;
	qmgr_shutdown();
}

static const struct service_desc qmgr_desc = {
	.program = "qmgr",
	.group = "qmgr",
	.kind = SERVICE_TRIGGER,
	.flags = SERVICE_FLAG_NO_LIMITS,
	.post_jail = qmgr_post_jail,
	.on_trigger = qmgr_on_trigger,
	.on_stop = qmgr_on_stop,
};

int main(int argc, char **argv)
{
	/* qmgr_shutdown ran in on_stop; a loop that ended otherwise leaves it to exit */
	return service_main(argc, argv, &qmgr_desc);
}
