/*
 * ternsuper - the administrator's queue maintenance (the habit of
 * postsuper): delete, hold, release, requeue, repair. See ternsuper.c
 * for the rules that keep it safe while tern runs.
 */
#ifndef TERN_CLI_TERNSUPER_H
#define TERN_CLI_TERNSUPER_H

#include <stdbool.h>
#include <sys/types.h>

/* the directories ternsuper works in, indexes into ternsuper.dirfd[] */
enum ternsuper_dir {
	TS_INCOMING, TS_ACTIVE, TS_DEFERRED, TS_HOLD, TS_TIMED, TS_CORRUPT, TS_DEFER, TS_BOUNCE,
	TS_NDIRS
};

extern const char *const ternsuper_dir_names[TS_NDIRS];

/* ternsuper - the state of one run */
struct ternsuper {
	const char *queue_dir;
	int dirfd[TS_NDIRS];		/* -1: the directory is missing */
	bool dirty[TS_NDIRS];		/* changed since the last fsync */
	uid_t uid;			/* mail_owner */
	gid_t gid;
	long changes;
	int status;			/* the exit status so far (first error wins) */
};

/* ternsuper_fail - remember the first non-zero exit status */
void ternsuper_fail(struct ternsuper *ts, int status);
/* ternsuper_move - rename from/name to to/name (never replacing); 0 or -1 with errno */
int ternsuper_move(struct ternsuper *ts, enum ternsuper_dir from, enum ternsuper_dir to,
		   const char *name);
/* ternsuper_sync - fsync every directory changed since the last sync */
void ternsuper_sync(struct ternsuper *ts);
/* ternsuper_names - the sorted entries of dir (no dot files); NULL when missing */
char **ternsuper_names(struct ternsuper *ts, enum ternsuper_dir dir, size_t *n);
void ternsuper_names_free(char **names, size_t n);

/* ternsuper_repair - -s: check the queue's structure and repair it */
void ternsuper_repair(struct ternsuper *ts);

#endif
