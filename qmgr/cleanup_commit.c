/*
 * cleanup_commit - make finished queue files durable off the event loop,
 * sharing directory fsyncs between messages (group commit).
 *
 * Why threads: an fsync of a new file costs about a millisecond here and
 * blocks the caller, and the file system merges fsyncs that run at the
 * same time into one journal commit. Measured on the 2-core test VM (ext4,
 * 5 KB files, write + fchmod + fsync + directory fsync): about 800
 * messages/s with one fsync at a time, 1,900 with 8 at a time, 2,800 with
 * 16. One event loop that fsyncs in line would also stall every other
 * connection of the process for that millisecond. So:
 *
 *	event loop --submit--> todo --worker: qfile_commit--> committed
 *	    --the same worker, unless another is syncing: directory fsync--> done --eventfd--> event loop
 *
 * A worker runs qfile_commit for one job (flush, mark complete, fsync the
 * file, close) and puts it on the committed list. If no worker is running
 * directory fsyncs, it becomes the one that does: it takes every job
 * committed so far and runs one qfile_dir_sync per directory for the whole
 * batch, again and again while more jobs were committed meanwhile. Each of
 * those fsyncs starts after the qfile_commit of every job in its batch
 * returned, so it covers their directory entries (qfile.h's durability
 * rule, step 2). A worker that finds another one syncing leaves its job to
 * it and goes back to the todo list, so under load one directory fsync
 * serves many messages, and at light load a message costs one hand-off to
 * a worker and one back, with no thread in between. If a directory fsync
 * fails, every job of that batch in that directory is abandoned: its file
 * is removed (qfile_writer_abort) and it reports the error.
 *
 * The event loop learns of finished jobs through an eventfd, written only
 * when the done list was not yet announced (one wake-up per batch, not per
 * job), and runs each job's done callback in the order the batches
 * finished, then batch_end once.
 *
 * Threads touch only their job's writer and the lists below (one mutex);
 * they never call into libevent or the message code and block every
 * signal, which stays with the main thread.
 */
#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "cleanup.h"

#define COMMIT_STACK	(1024 * 1024)

/* commit_list - a FIFO of jobs */
struct commit_list {
	struct cleanup_job *head, *tail;
};

struct cleanup_commit {
	struct event_base *base;
	struct event *ev;		/* efd readable: jobs are done */
	int efd;
	bool edge;			/* ev is edge-triggered: efd is never read */
	pthread_mutex_t mu;
	pthread_cond_t work_cv;		/* todo not empty, or stop */
	struct commit_list todo, committed, done;
	bool stop;
	bool syncing;			/* a worker runs directory fsyncs */
	bool announced;			/* efd written, done not taken by the loop since */
	int nworkers;
	pthread_t *workers;
	size_t pending;			/* main thread: submitted, done not yet run */
	void (*batch_end)(void *);
	void *arg;
};

/* commit_push - append a job */
static void commit_push(struct commit_list *l, struct cleanup_job *job)
{
	job->next = NULL;
	if (l->tail)
		l->tail->next = job;
	else
		l->head = job;
	l->tail = job;
}

/* commit_take - the whole list, leaving it empty */
static struct cleanup_job *commit_take(struct commit_list *l)
{
	struct cleanup_job *head = l->head;

	l->head = l->tail = NULL;
	return head;
}

/* commit_sync_batch - one directory fsync per directory for a batch */
static void commit_sync_batch(struct cleanup_job *batch)
{
	struct qfile_error err;

	for (struct cleanup_job *j = batch; j; j = j->next) {
		struct qfile_dir *dir = j->dir;
		int ret;

		if (j->failed || j->synced)
			continue;
		ret = qfile_dir_sync(dir, &err);
		for (struct cleanup_job *k = j; k; k = k->next) {
			if (k->failed || k->synced || k->dir != dir)
				continue;
			k->synced = true;
			if (ret < 0) {
				k->failed = true;
				k->err = err;
				qfile_writer_abort(k->w);
				k->w = NULL;
			}
		}
	}
}

/* commit_append - move a whole list to the end of another */
static void commit_append(struct commit_list *to, struct cleanup_job *head)
{
	struct cleanup_job *next;

	for (; head; head = next) {
		next = head->next;
		commit_push(to, head);
	}
}

/* commit_announce - tell the loop, once per take, that done has jobs (called locked; unlocks around the write) */
static void commit_announce(struct cleanup_commit *cc)
{
	uint64_t one = 1;

	if (cc->announced)
		return;
	cc->announced = true;
	pthread_mutex_unlock(&cc->mu);
	while (write(cc->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		 /* again */ ;
	pthread_mutex_lock(&cc->mu);
}

/* commit_sync_all - locked: directory fsyncs for every committed job until none is left */
static void commit_sync_all(struct cleanup_commit *cc)
{
	struct cleanup_job *batch;

	cc->syncing = true;
	while ((batch = commit_take(&cc->committed)) != NULL) {
		pthread_mutex_unlock(&cc->mu);
		commit_sync_batch(batch);	/* begins after each job's qfile_commit returned */
		pthread_mutex_lock(&cc->mu);
		commit_append(&cc->done, batch);
		commit_announce(cc);
	}
	cc->syncing = false;
}

/* commit_worker - thread: qfile_commit, then the directory fsync unless another worker runs it */
static void *commit_worker(void *arg)
{
	struct cleanup_commit *cc = arg;
	struct cleanup_job *job;

	pthread_mutex_lock(&cc->mu);
	for (;;) {
		while (cc->todo.head == NULL && !cc->stop)
			pthread_cond_wait(&cc->work_cv, &cc->mu);
		if ((job = cc->todo.head) == NULL)
			break;
		if ((cc->todo.head = job->next) == NULL)
			cc->todo.tail = NULL;
		pthread_mutex_unlock(&cc->mu);

		if (qfile_commit(job->w) < 0) {		/* the writer removed the file */
			job->failed = true;
			job->err = *qfile_writer_error(job->w);
		}

		pthread_mutex_lock(&cc->mu);
		commit_push(&cc->committed, job);
		if (!cc->syncing)
			commit_sync_all(cc);
	}
	pthread_mutex_unlock(&cc->mu);
	return NULL;
}

/* commit_on_done - event loop: run done for every finished job */
static void commit_on_done(evutil_socket_t fd, short what, void *arg)
{
	struct cleanup_commit *cc = arg;
	struct cleanup_job *job, *next;
	uint64_t count;

	(void) what;
	/* edge-triggered, each write is a new edge: the counter needs no reset (2^64 writes) */
	if (!cc->edge && read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN && errno != EINTR)
		msg_warn("cleanup: read eventfd: %s", strerror(errno));
	pthread_mutex_lock(&cc->mu);
	job = commit_take(&cc->done);
	cc->announced = false;
	pthread_mutex_unlock(&cc->mu);
	if (job == NULL)
		return;
	for (; job; job = next) {
		next = job->next;	/* done may free the job */
		cc->pending--;
		job->done(job);
	}
	if (cc->batch_end)
		cc->batch_end(cc->arg);
}

/* commit_start - a thread with a small stack and every signal blocked */
static void commit_start(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int err;

	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, COMMIT_STACK);
	if ((err = pthread_create(t, &attr, fn, arg)) != 0)
		msg_fatal("cleanup: cannot start a commit thread: %s", strerror(err));
	pthread_attr_destroy(&attr);
}

/* cleanup_commit_new - start the threads */
struct cleanup_commit *cleanup_commit_new(struct event_base *base, int threads,
					  void (*batch_end)(void *), void *arg)
{
	struct cleanup_commit *cc = xcalloc(1, sizeof(*cc));
	sigset_t all, old;

	cc->base = base;
	cc->batch_end = batch_end;
	cc->arg = arg;
	cc->nworkers = threads < 1 ? 1 : threads;
	if ((cc->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
		msg_fatal("cleanup: eventfd: %s", strerror(errno));
	cc->edge = (event_base_get_features(base) & EV_FEATURE_ET) != 0;
	if ((cc->ev = event_new(base, cc->efd, EV_READ | EV_PERSIST | (cc->edge ? EV_ET : 0),
				commit_on_done, cc)) == NULL
	    || event_add(cc->ev, NULL) < 0)
		msg_fatal("cleanup: cannot watch the commit eventfd");
	pthread_mutex_init(&cc->mu, NULL);
	pthread_cond_init(&cc->work_cv, NULL);
	cc->workers = xcalloc((size_t) cc->nworkers, sizeof(*cc->workers));
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (int i = 0; i < cc->nworkers; i++)
		commit_start(&cc->workers[i], commit_worker, cc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return cc;
}

/* cleanup_commit_submit - queue a finished file for commit */
void cleanup_commit_submit(struct cleanup_commit *cc, struct cleanup_job *job)
{
	job->failed = false;
	job->synced = false;
	job->next = NULL;
	cc->pending++;
	pthread_mutex_lock(&cc->mu);
	commit_push(&cc->todo, job);
	pthread_cond_signal(&cc->work_cv);
	pthread_mutex_unlock(&cc->mu);
}

/* cleanup_commit_pending - jobs not yet reported back */
size_t cleanup_commit_pending(const struct cleanup_commit *cc)
{
	return cc->pending;
}

/* cleanup_commit_free - stop the threads and release */
void cleanup_commit_free(struct cleanup_commit *cc)
{
	if (cc == NULL)
		return;
	pthread_mutex_lock(&cc->mu);
	cc->stop = true;
	pthread_cond_broadcast(&cc->work_cv);
	pthread_mutex_unlock(&cc->mu);
	for (int i = 0; i < cc->nworkers; i++)
		pthread_join(cc->workers[i], NULL);
	if (cc->pending)
		msg_warn("cleanup: %zu commits not reported at exit", cc->pending);
	event_free(cc->ev);
	close(cc->efd);
	pthread_mutex_destroy(&cc->mu);
	pthread_cond_destroy(&cc->work_cv);
	free(cc->workers);
	free(cc);
}
