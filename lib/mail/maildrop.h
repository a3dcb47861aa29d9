/*
 * maildrop - the maildrop file: one local submission, spooled by the
 * terndrop helper while tern is not running, and replayed to cleanup by
 * pickup later.
 *
 * Format: exactly the frames a source sends cleanup for one message
 * (cleanup_proto.h, on base/attr.h frames): one BEGIN frame ("op" =
 * "begin", "sender", one or more "rcpt", ...), then the content stream
 * ("chunk" frames, then "end" with the byte count), then nothing. These
 * are also the bytes sendmail writes to the public pickup socket, so one
 * writer and one reader serve both ways in, and pickup replays a file
 * frame by frame. The content is CRLF text, as cleanup wants it.
 *
 * Names: terndrop writes "tmp.<pid>.<random>", fsyncs it, then renames
 * it (never replacing) to a name shaped like a queue id (qid.h: time of
 * the rename, inode), so the name sorts by submission time; pickup only
 * ever opens such names, which therefore are always complete files.
 *
 * Trust: nothing inside a file says who submitted it. The file's owner
 * (the submitting user: terndrop is set-group-id only) does; pickup
 * passes it to cleanup as the origin uid. pickup rewrites the BEGIN
 * frame, keeping only what a local user may ask for.
 *
 * Checking: maildrop_check_frame takes the frames of one file in order
 * and says what each is, or why the file is malformed (wrong order, a
 * second message, missing envelope, bad stream count, content over the
 * limit); maildrop_check_done says whether the file was complete at EOF.
 */
#ifndef TERN_MAIL_MAILDROP_H
#define TERN_MAIL_MAILDROP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/attr.h"
#include "base/ipc.h"

#define MAILDROP_DIR		"maildrop"	/* under queue_directory */
#define MAILDROP_TMP_PREFIX	"tmp."		/* files being written */
#define MAILDROP_FILE_MODE	0644		/* the directory keeps others out */
#define MAILDROP_ENVELOPE_MAX	ATTR_FRAME_MAX	/* the BEGIN frame */
/* content limit when message_size_limit is 0 ("no limit"): sendmail holds a message in memory */
#define MAILDROP_CONTENT_CAP	(1024LL * 1024 * 1024)

/* what a frame of a maildrop file is */
enum maildrop_part {
	MAILDROP_ERROR = -1,
	MAILDROP_BEGIN = 0,		/* the envelope */
	MAILDROP_CHUNK = 1,		/* content bytes in *p, *n */
	MAILDROP_END = 2,		/* the stream's end; the count matched */
};

/* maildrop_check - where a reader is in one file */
struct maildrop_check {
	int state;			/* private */
	struct ipc_stream stream;
	uint64_t limit;			/* content bytes allowed; 0: no limit */
};

/* maildrop_check_init - a new file; content_limit 0 means no limit */
void maildrop_check_init(struct maildrop_check *mc, uint64_t content_limit);
/*
 * maildrop_check_frame - the next frame of the file: MAILDROP_BEGIN,
 * MAILDROP_CHUNK (the bytes in *p, *n, valid while frame is), MAILDROP_END,
 * or MAILDROP_ERROR with a reason in err.
 */
enum maildrop_part maildrop_check_frame(struct maildrop_check *mc, const struct attr_list *frame,
					const void **p, size_t *n, char *err, size_t errlen);
/* maildrop_check_done - at the end of the input: 0 when the file was complete, else -1 with err */
int maildrop_check_done(const struct maildrop_check *mc, char *err, size_t errlen);
/*
 * maildrop_check_begin - the envelope rules every BEGIN frame must meet:
 * op "begin", a string "sender", at least one string "rcpt", "orcpt" and
 * "notify" (when present) as often as "rcpt". 0, or -1 with err.
 */
int maildrop_check_begin(const struct attr_list *frame, char *err, size_t errlen);

/*
 * maildrop_content_limit - the most content bytes sendmail reads and
 * terndrop spools: message_size_limit, or MAILDROP_CONTENT_CAP for 0
 */
long long maildrop_content_limit(long long message_size_limit);

/* maildrop_name_ok - is name a complete maildrop file's name (queue-id shaped)? */
bool maildrop_name_ok(const char *name);
/* maildrop_name_tmp - is name a file still being written? */
bool maildrop_name_tmp(const char *name);

#endif
