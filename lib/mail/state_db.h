/*
 * state_db.h - a daemon's own state file: one Berkeley DB hash of text
 * keys and text values (stored without their NUL), opened by the one
 * process that owns it (no environment, no locks). Used by sts (the
 * policy cache) and screen (bans, counters, frozen accounts).
 *
 * Contract:
 *   - Open creates the file (mode 0600) when it is missing. A file that
 *     exists but does not open as a DB hash (damaged by a crash inside a
 *     write) is moved aside to "<file>.bad" with a warning and started
 *     afresh, so the daemon comes back up; the state is what can be
 *     rebuilt or what the administrator finds in the .bad file. A file
 *     that cannot be opened for other reasons (missing directory,
 *     permissions, disk full, read-only) is an error and left alone.
 *   - Values are shorter than value_max bytes (given at open). A stored
 *     value that is too long or holds a NUL byte is malformed: get
 *     deletes it with a warning and reports it as absent.
 *   - Writes with sync flush the file before they return, so a crash
 *     loses nothing written so far; writes without sync are flushed by
 *     the next sync (or close).
 *   - Errors: every call but open takes err/errlen. With err NULL the
 *     error is logged as a warning instead; either way the call returns
 *     -1. Messages name the file and say what failed, prefixed by the
 *     "what" given at open ("sts cache", "screen database").
 */
#ifndef TERN_MAIL_STATE_DB_H
#define TERN_MAIL_STATE_DB_H

#include <stdbool.h>
#include <stddef.h>

struct state_db;

/* state_db_open - open or create path (see above): the file, or NULL with err */
struct state_db *state_db_open(const char *path, const char *what, size_t value_max,
			       char *err, size_t errlen);
/* state_db_close - flush and close (NULL is fine); a failure is logged */
void state_db_close(struct state_db *db);
/* state_db_get - 1 found (NUL-terminated value in out), 0 none or malformed (dropped), -1 error */
int state_db_get(struct state_db *db, const char *key, char *out, size_t outlen,
		 char *err, size_t errlen);
/* state_db_put - store value under key (sync: flush now): 0, or -1 (too long, write or sync failed) */
int state_db_put(struct state_db *db, const char *key, const char *value, bool sync,
		 char *err, size_t errlen);
/* state_db_del - drop key (sync: flush now): 1 deleted, 0 there was none, -1 error */
int state_db_del(struct state_db *db, const char *key, bool sync, char *err, size_t errlen);
/* state_db_sync - flush everything written so far: 0, or -1 */
int state_db_sync(struct state_db *db, char *err, size_t errlen);

/*
 * state_db_walk - call fn(key, value, ctx) for every well-formed record
 * whose key starts with prefix, in no particular order; fn returns true
 * to delete that record (not synced). Malformed records are skipped.
 * 0, or -1 when the walk or a delete failed (the walk goes on after a
 * failed delete).
 */
typedef bool state_db_walk_fn(const char *key, const char *value, void *ctx);
int state_db_walk(struct state_db *db, const char *prefix, state_db_walk_fn *fn, void *ctx,
		  char *err, size_t errlen);

#endif
