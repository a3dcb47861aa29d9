/*
 * master_status - data_directory/master.status, what "ternctl status" reads.
 *
 * Written after every change, but at most once a second (changes within
 * the second are folded into one write a little later), by writing
 * master.status.tmp and renaming it over the old file, so readers always
 * see a whole file. Format (master(8)): one "master" line, then one
 * "service" line per service, words of name=value separated by spaces:
 *
 *	master pid=1234 started=1700000000 updated=1700000042
 *	service name=127.0.0.1:2525 type=inet command=smtpd state=active
 *	    maxproc=100 procs=2 avail=1 spawned=7 abnormal=1 throttled_until=0 pids=3301,3307
 *
 * (one line each; wrapped here). state is active, throttled or retired
 * (replaced or removed by a reload, processes still finishing); pids is
 * "-" when there are none. A write error is logged and retried at the
 * next change.
 */
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/msg.h"
#include "base/str.h"
#include "master.h"

static struct event *master_status_timer;
static time_t master_status_last;

/* master_status_line - append one service line */
static void master_status_line(struct buf *b, const struct master_serv *s, time_t now)
{
	const char *state = s->retired ? "retired" : s->throttled_until > now ? "throttled" : "active";

	buf_printf(b, "service name=%s type=%s command=%s state=%s maxproc=%d procs=%d avail=%d "
		   "spawned=%llu abnormal=%llu throttled_until=%lld pids=",
		   s->ent.name, mastercf_type_name(s->ent.type), s->ent.command, state, s->ent.maxproc,
		   s->nproc, s->navail, s->spawned, s->abnormal, (long long) s->throttled_until);
	if (s->procs == NULL)
		buf_puts(b, "-");
	for (const struct master_proc *p = s->procs; p; p = p->next)
		buf_printf(b, "%s%ld", p == s->procs ? "" : ",", (long) p->pid);
	buf_putc(b, '\n');
}

/* master_status_write - write the file now */
static void master_status_write(void)
{
	struct buf b;
	char tmp[4200];
	time_t now = time(NULL);
	int fd;
	ssize_t n;

	buf_init(&b, 0);
	buf_printf(&b, "master pid=%ld started=%lld updated=%lld\n", (long) getpid(),
		   (long long) master.started, (long long) now);
	for (const struct master_serv *s = master.services; s; s = s->next)
		master_status_line(&b, s, now);
	for (const struct master_serv *s = master.retired; s; s = s->next)
		master_status_line(&b, s, now);
	str_fmt(tmp, sizeof(tmp), "%s.tmp", master.status_path);
	/* data_directory may belong to mail_owner: never follow or reuse what is there */
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		msg_warn("open %s: %s", tmp, strerror(errno));
	} else {
		n = write(fd, b.data, b.len);
		if (n != (ssize_t) b.len || close(fd) < 0 || rename(tmp, master.status_path) < 0) {
			msg_warn("write %s: %s", master.status_path, n < 0 ? strerror(errno) : "short write");
			unlink(tmp);
		}
	}
	buf_free(&b);
	master_status_last = now;
}

/* master_status_on_timer - a folded write is due */
static void master_status_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	(void) arg;
	master_status_write();
}

/* master_status_dirty - something changed: write now, or within the second */
void master_status_dirty(void)
{
	struct timeval tv = { 1, 0 };

	if (master_status_timer == NULL)
		master_status_timer = evtimer_new(master.base, master_status_on_timer, NULL);
	if (evtimer_pending(master_status_timer, NULL))
		return;
	if (time(NULL) != master_status_last)
		master_status_write();
	else
		evtimer_add(master_status_timer, &tv);
}

/* master_status_remove - master is stopping: no status file */
void master_status_remove(void)
{
	if (master_status_timer != NULL) {
		event_free(master_status_timer);
		master_status_timer = NULL;
	}
	unlink(master.status_path);
}
