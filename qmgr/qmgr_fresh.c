/*
 * qmgr_fresh - which messages are known to be fresh: no reason file
 * (defer/QID, bounce/QID) and no delivery agent can exist for them, so
 * qmgr neither tests their lock at activation nor removes reason files
 * when they are done (three system calls per message saved).
 *
 * Reason files are written only by qmgr (qmgr_message.c), only for a
 * message in its active queue, and a request goes to an agent only for
 * such a message. A message activated from incoming/ is fresh when all
 * of these hold:
 *   1. its queue id's time is after this qmgr started (qmgr.started):
 *      an earlier qmgr can only have worked on files that existed before;
 *   2. the start-up pass over defer/ and bounce/ is complete, and none of
 *      the reason files it found has a queue id from after the start (a
 *      clock stepped back: such names are tainted here);
 *   3. its Q record has no attempt and every slot is pending, never tried,
 *      without flags: a message this qmgr deferred has attempts >= 1 in
 *      its Q record (written before it left active/), so a ternsuper
 *      requeue from deferred/ to incoming/ is not fresh;
 *   4. its queue id is not tainted: qmgr taints a message it moves to
 *      hold/ or incoming/ itself (hold, requeue; its reason files and any
 *      agent it had stay), and one whose Q record or a slot it could not
 *      write, or whose slot it left to an agent that still held the file
 *      (condition 3 would not see those).
 * Everything else (active/ after a restart, deferred/, timed/, requeued)
 * is not fresh: its lock is tested and its reason files are removed as
 * before. A taint is forgotten when the message is removed.
 *
 * Crash safety: nothing here is on disk. A new qmgr starts with an empty
 * taint set and a new start time, so every file that existed before it
 * fails condition 1, and condition 2 covers clocks that went backwards.
 * Memory: one entry per held or requeued message (and per message
 * deleted by ternsuper while held: at most those of one qmgr's life).
 */
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "qmgr.h"

#define QMGR_FRESH_BUCKETS0	64	/* first size of the taint table */

/* qmgr_taint - one tainted queue id */
struct qmgr_taint {
	char qid[QID_SIZE];
	struct qmgr_taint *next;
};

static struct qmgr_taint **qmgr_taints;
static size_t qmgr_taint_buckets, qmgr_taint_count;
static bool qmgr_defer_done, qmgr_bounce_done;	/* start-up pass over the reason dirs */

/* qmgr_fresh_hash - FNV-1a of a queue id */
static size_t qmgr_fresh_hash(const char *qid)
{
	return str_hash(qid, STR_HASH_INIT) % qmgr_taint_buckets;
}

/* qmgr_fresh_find - the link that points at qid's entry (or at the chain's NULL end) */
static struct qmgr_taint **qmgr_fresh_find(const char *qid)
{
	struct qmgr_taint **pp = &qmgr_taints[qmgr_fresh_hash(qid)];

	while (*pp && strcmp((*pp)->qid, qid) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* qmgr_fresh_grow - double the table when it is dense */
static void qmgr_fresh_grow(void)
{
	struct qmgr_taint **old = qmgr_taints;
	size_t n = qmgr_taint_buckets;

	qmgr_taint_buckets = 2 * n;
	qmgr_taints = xcalloc(qmgr_taint_buckets, sizeof(*qmgr_taints));
	for (size_t b = 0; b < n; b++)
		while (old[b]) {
			struct qmgr_taint *t = old[b];
			size_t h = qmgr_fresh_hash(t->qid);

			old[b] = t->next;
			t->next = qmgr_taints[h];
			qmgr_taints[h] = t;
		}
	free(old);
}

/* qmgr_fresh_init - empty taint table; the reason dirs are not scanned yet */
void qmgr_fresh_init(void)
{
	qmgr_taint_buckets = QMGR_FRESH_BUCKETS0;
	qmgr_taints = xcalloc(qmgr_taint_buckets, sizeof(*qmgr_taints));
	qmgr_taint_count = 0;
	qmgr_defer_done = qmgr_bounce_done = false;
}

/* qmgr_fresh_taint - qid may have reason files or an agent: never fresh */
void qmgr_fresh_taint(const char *qid)
{
	struct qmgr_taint **pp, *t;

	if (qmgr_taints == NULL || !qid_valid(qid) || *(pp = qmgr_fresh_find(qid)) != NULL)
		return;
	t = xcalloc(1, sizeof(*t));
	str_copy(t->qid, qid, sizeof(t->qid));
	*pp = t;
	if (++qmgr_taint_count > 2 * qmgr_taint_buckets)
		qmgr_fresh_grow();
}

/* qmgr_fresh_forget - qid is removed (queue file and reason files): drop its taint */
void qmgr_fresh_forget(const char *qid)
{
	struct qmgr_taint **pp, *t;

	if (qmgr_taints == NULL || qmgr_taint_count == 0 || (t = *(pp = qmgr_fresh_find(qid))) == NULL)
		return;
	*pp = t->next;
	free(t);
	qmgr_taint_count--;
}

/* qmgr_fresh_after_start - the queue id's time is after this qmgr's start */
static bool qmgr_fresh_after_start(const char *qid)
{
	long long sec;
	long usec;

	return qid_time(qid, &sec, &usec) == 0 && sec > qmgr.started;
}

/* qmgr_fresh_reason_file - a name seen in the start-up pass over defer/ or bounce/ */
void qmgr_fresh_reason_file(const char *name)
{
	if (qid_valid(name) && qmgr_fresh_after_start(name))
		qmgr_fresh_taint(name);		/* the clock went back: condition 2 */
}

/* qmgr_fresh_reason_dir_done - the start-up pass over dir ended (complete: read to its end) */
void qmgr_fresh_reason_dir_done(const char *dir, bool complete)
{
	if (!complete)
		return;			/* never fresh then: as safe as before */
	if (strcmp(dir, "defer") == 0)
		qmgr_defer_done = true;
	else if (strcmp(dir, "bounce") == 0)
		qmgr_bounce_done = true;
}

/* qmgr_fresh - is the message qid, just opened from from_dir, fresh (see the top) */
bool qmgr_fresh(const char *qid, const char *from_dir, const struct qfile *qf)
{
	if (strcmp(from_dir, "incoming") != 0 || !qmgr_defer_done || !qmgr_bounce_done ||
	    !qmgr_fresh_after_start(qid) || qf->sched.attempts != 0 || qf->sched.flags != 0 ||
	    qf->sched.last_attempt != 0)
		return false;
	for (size_t i = 0; i < qf->nrcpts; i++) {
		const struct qfile_rstatus *st = &qf->rcpts[i].status;

		if (st->state != QFILE_PENDING || st->attempts != 0 || st->flags != 0)
			return false;
	}
	return qmgr_taint_count == 0 || *qmgr_fresh_find(qid) == NULL;
}

/* qmgr_fresh_free - at exit */
void qmgr_fresh_free(void)
{
	for (size_t b = 0; b < qmgr_taint_buckets; b++)
		while (qmgr_taints[b]) {
			struct qmgr_taint *t = qmgr_taints[b];

			qmgr_taints[b] = t->next;
			free(t);
		}
	free(qmgr_taints);
	qmgr_taints = NULL;
	qmgr_taint_buckets = qmgr_taint_count = 0;
}
