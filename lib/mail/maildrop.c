/*
 * maildrop - the maildrop file format; see maildrop.h.
 *
 * The checker is a three-state machine: before the envelope, inside the
 * content stream, after the end. Anything out of that order is an error,
 * and so is EOF anywhere but after the end.
 */
#include <string.h>

#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/maildrop.h"
#include "mail/qid.h"

enum { MC_ENVELOPE, MC_CONTENT, MC_DONE };

/* maildrop_check_init - a new file */
void maildrop_check_init(struct maildrop_check *mc, uint64_t content_limit)
{
	mc->state = MC_ENVELOPE;
	ipc_stream_init(&mc->stream);
	mc->limit = content_limit;
}

/* maildrop_count - how many attributes are called name */
static size_t maildrop_count(const struct attr_list *frame, const char *name)
{
	size_t n = 0;

	for (const struct attr *a = attr_find(frame, name, NULL); a; a = attr_find(frame, name, a))
		n++;
	return n;
}

/* maildrop_check_begin - the envelope rules of a BEGIN frame */
int maildrop_check_begin(const struct attr_list *frame, char *err, size_t errlen)
{
	const char *op, *sender;
	size_t nrcpt, n;

	if (attr_need_str(frame, CLEANUP_OP, &op, err, errlen) < 0)
		return -1;
	if (strcmp(op, CLEANUP_OP_BEGIN) != 0) {
		str_fmt(err, errlen, "first frame is \"%.40s\", not \"%s\"", op, CLEANUP_OP_BEGIN);
		return -1;
	}
	if (attr_need_str(frame, CLEANUP_SENDER, &sender, err, errlen) < 0)
		return -1;
	nrcpt = maildrop_count(frame, CLEANUP_RCPT);
	if (nrcpt == 0) {
		str_fmt(err, errlen, "no recipients");
		return -1;
	}
	for (const struct attr *a = attr_find(frame, CLEANUP_RCPT, NULL); a;
	     a = attr_find(frame, CLEANUP_RCPT, a)) {
		if (a->type != ATTR_STR) {
			str_fmt(err, errlen, "attribute \"%s\" is not a string", CLEANUP_RCPT);
			return -1;
		}
	}
	if ((n = maildrop_count(frame, CLEANUP_RCPT_ORCPT)) != 0 && n != nrcpt) {
		str_fmt(err, errlen, "%zu \"%s\" for %zu recipients", n, CLEANUP_RCPT_ORCPT, nrcpt);
		return -1;
	}
	if ((n = maildrop_count(frame, CLEANUP_RCPT_NOTIFY)) != 0 && n != nrcpt) {
		str_fmt(err, errlen, "%zu \"%s\" for %zu recipients", n, CLEANUP_RCPT_NOTIFY, nrcpt);
		return -1;
	}
	return 0;
}

/* maildrop_check_frame - what the next frame is */
enum maildrop_part maildrop_check_frame(struct maildrop_check *mc, const struct attr_list *frame,
					const void **p, size_t *n, char *err, size_t errlen)
{
	const char *op;

	switch (mc->state) {
	case MC_ENVELOPE:
		if (maildrop_check_begin(frame, err, errlen) < 0)
			return MAILDROP_ERROR;
		mc->state = MC_CONTENT;
		return MAILDROP_BEGIN;
	case MC_CONTENT:
		if (attr_get_str(frame, CLEANUP_OP, &op)) {
			str_fmt(err, errlen, "\"%.40s\" frame inside the content", op);
			return MAILDROP_ERROR;
		}
		switch (ipc_stream_take(&mc->stream, frame, p, n, err, errlen)) {
		case IPC_STREAM_DATA:
			if (mc->limit > 0 && (uint64_t) mc->stream.bytes > mc->limit) {
				str_fmt(err, errlen, "content larger than %llu bytes",
					(unsigned long long) mc->limit);
				return MAILDROP_ERROR;
			}
			return MAILDROP_CHUNK;
		case IPC_STREAM_END_OK:
			mc->state = MC_DONE;
			return MAILDROP_END;
		default:
			return MAILDROP_ERROR;
		}
	default:
		str_fmt(err, errlen, "frame after the end of the message");
		return MAILDROP_ERROR;
	}
}

/* maildrop_check_done - complete at EOF? */
int maildrop_check_done(const struct maildrop_check *mc, char *err, size_t errlen)
{
	if (mc->state == MC_DONE)
		return 0;
	str_fmt(err, errlen, "%s", mc->state == MC_ENVELOPE ? "empty file" :
		"file ends inside the content (no \"end\" frame)");
	return -1;
}

/* maildrop_content_limit - message_size_limit, or the cap for "no limit" */
long long maildrop_content_limit(long long message_size_limit)
{
	return message_size_limit > 0 && message_size_limit < MAILDROP_CONTENT_CAP ? message_size_limit :
	    MAILDROP_CONTENT_CAP;
}

/* maildrop_name_ok - a complete file's name */
bool maildrop_name_ok(const char *name)
{
	return qid_valid(name);
}

/* maildrop_name_tmp - a file being written */
bool maildrop_name_tmp(const char *name)
{
	return strncmp(name, MAILDROP_TMP_PREFIX, sizeof(MAILDROP_TMP_PREFIX) - 1) == 0;
}
