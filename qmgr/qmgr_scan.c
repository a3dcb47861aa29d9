/*
 * qmgr_scan - incremental scans of the queue directories.
 *
 * Six scanners, in priority order: active (once, at start-up: messages
 * a killed qmgr left there), incoming (at every wake-up), deferred and
 * timed (every queue_run_delay, sooner when a message we deferred is due
 * earlier, and at a flush), and once at start-up the reason directories
 * defer and bounce (names only, for qmgr_fresh.c). incoming/ stays open
 * between passes (rewinddir: one lseek instead of open, fstat and close
 * per wake-up). One event-loop turn reads at most
 * QMGR_SCAN_BATCH directory entries, always from the first scanner that
 * has work, so new mail in incoming/ goes before a deferred queue of any
 * size and agent replies and wake-ups are served between batches. No
 * scan runs while the active queue is full (qmgr_active_limit).
 *
 * Deferred and timed files carry their due time as their modification
 * time (qmgr sets it), so a scan costs one fstatat per file and opens
 * only files that are due. A flush scan takes every deferred file whose
 * status change time is older than the flush (so mail that is deferred
 * again during the flush is not retried in a loop); a site flush also
 * opens each file to look for a recipient of that site.
 *
 * Incoming files without the complete mark are left alone until they are
 * qmgr_incomplete_timeout old, then moved to corrupt/.
 */
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "qmgr.h"

#define QMGR_SCAN_BATCH	500		/* directory entries per event-loop turn */

enum { SCAN_ACTIVE, SCAN_INCOMING, SCAN_DEFERRED, SCAN_TIMED, SCAN_DEFER, SCAN_BOUNCE, SCAN_COUNT };

/* qmgr_scan - one scanner */
struct qmgr_scan {
	const char *dir;
	bool keep;			/* keep the directory open between passes */
	DIR *dp;			/* the pass in progress, or NULL */
	DIR *kept;			/* keep: the open directory */
	bool requested;			/* start a pass when the current one ends */
	bool force, force_next;		/* deferred: flush pass */
	char *site, *site_next;		/* deferred: flush only this site */
	struct timespec started;	/* of the current pass */
};

static struct qmgr_scan qmgr_scans[SCAN_COUNT] = {
	{.dir = "active"}, {.dir = "incoming", .keep = true}, {.dir = "deferred"}, {.dir = "timed"},
	{.dir = "defer"}, {.dir = "bounce"},
};
static struct event *qmgr_scan_ev;	/* the batch worker */
static struct event *qmgr_scan_timer;	/* deferred/timed pass */
static long long qmgr_scan_timer_when;

/* qmgr_scan_kick - run a batch from the event loop */
static void qmgr_scan_kick(void)
{
	if (!event_pending(qmgr_scan_ev, EV_TIMEOUT, NULL))
		event_active(qmgr_scan_ev, EV_TIMEOUT, 0);
}

/* qmgr_kick_scan - something left the active queue: scans may go on */
void qmgr_kick_scan(void)
{
	if (qmgr.nactive >= qmgr.p.active_limit || qmgr_scan_ev == NULL)
		return;
	for (int i = 0; i < SCAN_COUNT; i++)
		if (qmgr_scans[i].dp || qmgr_scans[i].requested) {
			qmgr_scan_kick();
			return;
		}
}

/* qmgr_scan_request - ask for a pass over dir (force, site: deferred flush) */
void qmgr_scan_request(const char *dir, bool force, const char *site)
{
	for (int i = 0; i < SCAN_COUNT; i++) {
		struct qmgr_scan *s = &qmgr_scans[i];

		if (strcmp(s->dir, dir) != 0)
			continue;
		s->requested = true;
		if (force) {
			/* a flush of everything wins over a site flush */
			if (!s->force_next || (s->site_next && !site)) {
				free(s->site_next);
				s->site_next = site ? xstrdup(site) : NULL;
			} else if (s->site_next && site && strcmp(s->site_next, site) != 0) {
				free(s->site_next);
				s->site_next = NULL;
			}
			s->force_next = true;
		}
	}
	qmgr_scan_kick();
}

/* qmgr_scan_timer_at - make sure a deferred/timed pass runs by when */
void qmgr_scan_timer_at(long long when)
{
	long long now = time(NULL);

	if (when < now)
		when = now;
	if (qmgr_scan_timer_when && qmgr_scan_timer_when <= when)
		return;
	qmgr_scan_timer_when = when;
	struct timeval tv = {(time_t) (when - now), 0};

	evtimer_add(qmgr_scan_timer, &tv);
}

/* qmgr_scan_on_timer - time for a deferred and timed pass */
static void qmgr_scan_on_timer(evutil_socket_t fd, short what, void *arg)
{
	(void) fd;
	(void) what;
	(void) arg;
	qmgr_scan_timer_when = 0;
	qmgr_scan_request("deferred", false, NULL);
	qmgr_scan_request("timed", false, NULL);
	qmgr_scan_timer_at(time(NULL) + qmgr.p.run_delay);
}

/* qmgr_scan_newer - a after b */
static bool qmgr_scan_newer(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec > b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec >= b->tv_nsec);
}

/* qmgr_scan_incomplete - an incoming file without the complete mark */
static void qmgr_scan_incomplete(const char *name, const struct stat *st, long long now)
{
	char a[QID_SIZE + 16], b[QID_SIZE + 16];

	if (now - st->st_mtime < qmgr.p.incomplete_timeout)
		return;
	str_fmt(a, sizeof(a), "incoming/%s", name);
	str_fmt(b, sizeof(b), "corrupt/%s", name);
	if (rename(a, b) < 0)
		msg_warn("%s: move to corrupt: %s", name, strerror(errno));
	else
		msg_warn("%s: incomplete for %llds: moved to corrupt", name,
			 (long long) (now - st->st_mtime));
}

/* qmgr_scan_entry - one directory entry of scanner s */
static void qmgr_scan_entry(struct qmgr_scan *s, int which, const char *name, long long now)
{
	struct stat st;

	if (!qid_valid(name))
		return;
	if (which == SCAN_DEFER || which == SCAN_BOUNCE) {
		qmgr_fresh_reason_file(name);
		return;
	}
	if (which == SCAN_ACTIVE) {
		qmgr_msg_activate(name, "active");
		return;
	}
	if (fstatat(dirfd(s->dp), name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
		return;
	switch (which) {
	case SCAN_INCOMING:
		if (!(st.st_mode & S_IXUSR))
			qmgr_scan_incomplete(name, &st, now);
		else
			qmgr_msg_activate(name, "incoming");
		break;
	case SCAN_DEFERRED:
		if (s->force) {
			if (qmgr_scan_newer(&st.st_ctim, &s->started))
				return;		/* deferred again during this flush */
			if (s->site && !qmgr_msg_matches_site(name, s->site))
				return;
		} else if (st.st_mtime > now) {
			qmgr_scan_timer_at(st.st_mtime);
			return;
		}
		qmgr_msg_activate(name, "deferred");
		break;
	case SCAN_TIMED:
		if (st.st_mtime > now) {
			qmgr_scan_timer_at(st.st_mtime);
			return;
		}
		qmgr_msg_activate(name, "timed");
		break;
	}
}

/* qmgr_scan_open - start a pass of s; false when the directory cannot be read */
static bool qmgr_scan_open(struct qmgr_scan *s)
{
	s->requested = false;
	s->force = s->force_next;
	s->force_next = false;
	free(s->site);
	s->site = s->site_next;
	s->site_next = NULL;
	clock_gettime(CLOCK_REALTIME, &s->started);
	if (s->kept) {
		/* POSIX: a rewound stream reads the directory as it is now */
		rewinddir(s->kept);
		s->dp = s->kept;
		return true;
	}
	if ((s->dp = opendir(s->dir)) == NULL) {
		msg_warn("open directory %s: %s", s->dir, strerror(errno));
		return false;
	}
	if (s->keep)
		s->kept = s->dp;
	return true;
}

/* qmgr_scan_close - end the pass of s (complete: it read the directory to its end) */
static void qmgr_scan_close(struct qmgr_scan *s, bool complete)
{
	if (s->dp && s->dp != s->kept)
		closedir(s->dp);
	if (s->dp && (s == &qmgr_scans[SCAN_DEFER] || s == &qmgr_scans[SCAN_BOUNCE]))
		qmgr_fresh_reason_dir_done(s->dir, complete);
	s->dp = NULL;
	s->force = false;
	free(s->site);
	s->site = NULL;
}

/* qmgr_scan_work - one batch */
static void qmgr_scan_work(evutil_socket_t fd, short what, void *arg)
{
	int budget = QMGR_SCAN_BATCH;
	long long now = time(NULL);

	(void) fd;
	(void) what;
	(void) arg;
	for (int i = 0; i < SCAN_COUNT && budget > 0; i++) {
		struct qmgr_scan *s = &qmgr_scans[i];

		while (budget > 0 && (s->dp || s->requested)) {
			struct dirent *de;

			if (qmgr.nactive >= qmgr.p.active_limit)
				return;		/* qmgr_kick_scan resumes */
			if (s->dp == NULL && !qmgr_scan_open(s))
				break;
			errno = 0;
			if ((de = readdir(s->dp)) == NULL) {
				int err = errno;

				if (err)
					msg_warn("read directory %s: %s", s->dir, strerror(err));
				if (err && s->dp == s->kept) {
					closedir(s->kept);	/* open it afresh next time */
					s->kept = s->dp = NULL;
				}
				qmgr_scan_close(s, err == 0);
				continue;	/* another pass when requested meanwhile */
			}
			budget--;
			qmgr_scan_entry(s, i, de->d_name, now);
		}
	}
	if (budget == 0)
		qmgr_scan_kick();
}

/* qmgr_scan_init - events, and the start-up passes */
void qmgr_scan_init(void)
{
	qmgr_scan_ev = event_new(qmgr.base, -1, 0, qmgr_scan_work, NULL);
	qmgr_scan_timer = evtimer_new(qmgr.base, qmgr_scan_on_timer, NULL);
	qmgr_scans[SCAN_ACTIVE].requested = true;
	qmgr_scans[SCAN_INCOMING].requested = true;
	qmgr_scans[SCAN_DEFERRED].requested = true;
	qmgr_scans[SCAN_TIMED].requested = true;
	qmgr_scans[SCAN_DEFER].requested = true;
	qmgr_scans[SCAN_BOUNCE].requested = true;
	qmgr_scan_timer_at(time(NULL) + qmgr.p.run_delay);
	qmgr_scan_kick();
}

/* qmgr_scan_free - at exit */
void qmgr_scan_free(void)
{
	for (int i = 0; i < SCAN_COUNT; i++) {
		qmgr_scan_close(&qmgr_scans[i], false);
		if (qmgr_scans[i].kept)
			closedir(qmgr_scans[i].kept);
		qmgr_scans[i].kept = NULL;
		free(qmgr_scans[i].site_next);
		qmgr_scans[i].site_next = NULL;
	}
	if (qmgr_scan_ev)
		event_free(qmgr_scan_ev);
	if (qmgr_scan_timer)
		event_free(qmgr_scan_timer);
	qmgr_scan_ev = qmgr_scan_timer = NULL;
}
