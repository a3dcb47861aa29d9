/*
 * queue_print - the queue listings of ternqueue and mailq in every
 * layout, read from the queue directly (queue_print_listing) or, for
 * users who may not read the queue, streamed by the showq service
 * (queue_print_showq, the client; qmgr/showq.c, the server).
 *
 * Layouts: QUEUE_PRINT_MAILQ is mailq's (queue_list.h); QUEUE_PRINT_WIDE
 * adds the sender and recipient domain columns (ternqueue -p -w);
 * QUEUE_PRINT_JSON is one JSON object per message (ternqueue -j).
 *
 * showq protocol (base/ipc.h frames) on public/showq:
 *   request:  SHOWQ_LAYOUT ("mailq", "wide", "json"), SHOWQ_QUEUE_ID
 *             repeated (none: the whole queue; at most SHOWQ_IDS_MAX).
 *   reply:    one frame SHOWQ_STATUS "ok", or "error" with SHOWQ_TEXT
 *             (e.g. the peer is not in authorized_mailq_users) and
 *             nothing more; after "ok" the listing as an ipc stream
 *             (chunks, end), then a last frame SHOWQ_STATUS "ok" with
 *             SHOWQ_MISSING (ids not found), or "error" with SHOWQ_TEXT.
 * showq learns the peer's uid with SO_PEERCRED; the client sends no
 * identity of its own.
 */
#ifndef TERN_MAIL_QUEUE_PRINT_H
#define TERN_MAIL_QUEUE_PRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "mail/queue_list.h"

#define SHOWQ_SOCKET		"public/showq"
#define SHOWQ_LAYOUT		"layout"	/* S: mailq, wide, json */
#define SHOWQ_QUEUE_ID		"queue_id"	/* S, repeated */
#define SHOWQ_STATUS		"status"	/* S: ok, error */
#define SHOWQ_TEXT		"text"		/* S: why not */
#define SHOWQ_MISSING		"missing"	/* I: queue ids not found */
#define SHOWQ_IDS_MAX		10000

enum queue_print_layout { QUEUE_PRINT_MAILQ, QUEUE_PRINT_WIDE, QUEUE_PRINT_JSON };

/* queue_print_layout_name - "mailq", "wide", "json" */
const char *queue_print_layout_name(enum queue_print_layout layout);
/* queue_print_layout_parse - the layout named name; -1 when none */
int queue_print_layout_parse(const char *name);

/* queue_printer - state of one wide or JSON listing */
struct queue_printer {
	FILE *out;
	bool json;			/* JSON, else the wide layout */
	long count;
	long long bytes;
};

/* queue_print_item - queue_list callback: one message in p's layout */
int queue_print_item(const struct queue_list_item *it, void *ctx);
/* queue_print_end - the wide layout's summary line (JSON has none) */
void queue_print_end(struct queue_printer *p);

/*
 * queue_print_listing - print the queue under queue_dir (nids 0), or
 * the messages ids[0..nids-1], in layout to out; ids that no queue
 * holds are counted in *missing. 0, or -1 with errno (EACCES: may not
 * read the queue) and a reason in err.
 */
int queue_print_listing(FILE *out, const char *queue_dir, enum queue_print_layout layout,
			char *const *ids, size_t nids, size_t *missing, char *err, size_t errlen);

/*
 * queue_print_showq - the same listing through queue_dir/public/showq.
 * 0, or -1 with err set and errno: EACCES when showq refused the user
 * (err holds its reason), ECONNREFUSED/ENOENT when showq does not run,
 * EPROTO for a broken reply, EIO when writing out failed.
 */
int queue_print_showq(FILE *out, const char *queue_dir, enum queue_print_layout layout,
		      char *const *ids, size_t nids, size_t *missing, char *err, size_t errlen);

#endif
