/*
 * attr - typed attribute lists and their wire frames (tern-ipc(7)).
 *
 * Every request, reply, notification and content chunk between tern
 * processes is one frame: a 4-byte big-endian payload length, then the
 * payload: a version byte (ATTR_VERSION), then attributes, each
 *
 *	type (1: 'S' string, 'I' 64-bit signed integer, 'D' opaque bytes)
 *	name length (1: 1..ATTR_NAME_MAX), name ([a-z0-9_])
 *	value length (4, big-endian), value
 *
 * Strings contain no NUL; integers are exactly 8 bytes, big-endian two's
 * complement. Names may repeat ("rcpt" once per recipient); order is kept.
 *
 * Limits. The "frame size" is the payload length (the number in the
 * prefix). A receiver refuses frames larger than the limit it chooses
 * (0 means ATTR_FRAME_MAX) before reading them; a sender's list refuses to
 * grow beyond its own limit, so an encoder never builds what a default
 * receiver would reject. At most ATTR_COUNT_MAX attributes per frame.
 *
 * Memory. A list owns an arena: attr_add_* copy names and values into it
 * (except attr_add_data_ref, which only points), and decoding copies the
 * payload into it once and NUL-terminates names and values there, so one
 * frame costs one copy and no allocation per attribute. Pointers handed
 * out by lookups stay valid until the list is reset, freed or decoded into.
 *
 * Failure. Allocation failure is fatal (mem.h). Everything else returns an
 * error: attr_add_* record the first problem in the list (attr_list_error),
 * and attr_encode then refuses, so callers may add several attributes and
 * check once. Decoding a malformed frame returns -1 with a one-line reason
 * such as "attribute 3: name length 0"; it never reads outside the input.
 */
#ifndef TERN_BASE_ATTR_H
#define TERN_BASE_ATTR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct buf;

#define ATTR_VERSION	1
#define ATTR_FRAME_MAX	(1024 * 1024)	/* default frame (payload) limit */
#define ATTR_COUNT_MAX	16384		/* attributes per frame: 3 per recipient for 5000 recipients */
#define ATTR_NAME_MAX	64
#define ATTR_PREFIX	4		/* bytes of the length prefix */
#define ATTR_ERR_MAX	160		/* room for any error text here */

enum attr_type {
	ATTR_STR = 'S',
	ATTR_INT = 'I',
	ATTR_DATA = 'D',
};

/* one attribute; fields are read-only for users */
struct attr {
	enum attr_type type;
	const char *name;	/* name_len bytes, NUL-terminated */
	size_t name_len;
	const char *value;	/* ATTR_STR, ATTR_DATA: len bytes, then a NUL
				 * (not after attr_add_data_ref values) */
	size_t len;		/* value bytes on the wire (8 for ATTR_INT) */
	int64_t num;		/* ATTR_INT */
};

struct attr_block;

struct attr_list {
	struct attr *items;
	size_t count;
	size_t cap;
	struct attr_block *blocks;	/* arena; the first takes small pieces */
	char *payload;			/* attr_decode_space's room, or NULL */
	size_t payload_room;		/* its size, one more than asked for */
	size_t size;			/* payload bytes so far (version included) */
	size_t limit;			/* largest payload this list may encode */
	char err[ATTR_ERR_MAX];		/* first attr_add_* error, or "" */
};

/* attr_list_init - empty list with the default limit ATTR_FRAME_MAX */
void attr_list_init(struct attr_list *l);
/* attr_list_set_limit - largest payload to encode (0: ATTR_FRAME_MAX) */
void attr_list_set_limit(struct attr_list *l, size_t limit);
/* attr_list_reset - empty the list (and its error), keeping some memory */
void attr_list_reset(struct attr_list *l);
/* attr_list_free - release everything; the list may be initialised again */
void attr_list_free(struct attr_list *l);
/* attr_list_error - the first error of an attr_add_* call, or NULL */
const char *attr_list_error(const struct attr_list *l);

/*
 * Building. Each returns 0, or -1 (list unchanged, error recorded) for a
 * bad name, a string with a NUL (attr_add_strn), too many attributes or a
 * frame that would pass the list's limit.
 */
int attr_add_str(struct attr_list *l, const char *name, const char *s);
/* attr_add_strn - string of n bytes (must contain no NUL) */
int attr_add_strn(struct attr_list *l, const char *name, const char *s, size_t n);
int attr_add_int(struct attr_list *l, const char *name, int64_t v);
/* attr_add_data - opaque bytes, copied */
int attr_add_data(struct attr_list *l, const char *name, const void *p, size_t n);
/* attr_add_data_ref - opaque bytes, not copied: p must outlive the encoding */
int attr_add_data_ref(struct attr_list *l, const char *name, const void *p, size_t n);

/* attr_name_ok - name is 1..ATTR_NAME_MAX of [a-z0-9_] */
bool attr_name_ok(const char *name, size_t len);

/*
 * Encoding. attr_encoded_size is the whole frame (prefix included).
 * attr_encode_into writes exactly that many bytes to dst. attr_encode
 * appends one frame to a buf; -1 (buf unchanged) when the list carries an
 * error or the buf's limit forbids it.
 */
size_t attr_encoded_size(const struct attr_list *l);
void attr_encode_into(const struct attr_list *l, void *dst);
int attr_encode(const struct attr_list *l, struct buf *out);
/*
 * attr_encode_head - write the frame except the value of the last
 * attribute, which must be ATTR_STR or ATTR_DATA (send that value from
 * where it is, e.g. with writev); returns the bytes written, which are
 * attr_encoded_size minus that value's length.
 */
size_t attr_encode_head(const struct attr_list *l, void *dst);

/*
 * attr_decode - decode the frame at the start of p[0..n): 1 decoded (out
 * holds it, *consumed is its size with prefix), 0 need more bytes
 * (nothing consumed), -1 malformed (err says why). max_frame 0 means
 * ATTR_FRAME_MAX. err may be NULL when errlen is 0.
 */
int attr_decode(const void *p, size_t n, size_t max_frame, struct attr_list *out,
    size_t *consumed, char *err, size_t errlen);

/*
 * Decoding in two steps, for readers that own their input (a socket, an
 * evbuffer) and copy it straight into the list:
 * attr_frame_size checks a length prefix: 1 with *payload set, 0 when n < 4,
 * -1 when the length is 0 or passes max_frame; attr_decode_space resets l
 * and returns room for a payload of n bytes; attr_decode_finish parses the
 * n bytes written there (0, or -1 with err; l is empty after an error).
 */
int attr_frame_size(const void *p, size_t n, size_t max_frame, size_t *payload,
    char *err, size_t errlen);
void *attr_decode_space(struct attr_list *l, size_t n);
int attr_decode_finish(struct attr_list *l, size_t n, char *err, size_t errlen);

/* Iteration, in frame order. */
size_t attr_count(const struct attr_list *l);
/* attr_at - the i-th attribute (i < attr_count) */
const struct attr *attr_at(const struct attr_list *l, size_t i);
/* attr_find - next attribute called name after prev (NULL: the first) */
const struct attr *attr_find(const struct attr_list *l, const char *name,
    const struct attr *prev);

/*
 * Lookups of the first attribute with a name: true when it is present
 * with the right type (outputs set), false otherwise (outputs untouched).
 */
bool attr_get_str(const struct attr_list *l, const char *name, const char **s);
bool attr_get_int(const struct attr_list *l, const char *name, int64_t *v);
bool attr_get_data(const struct attr_list *l, const char *name, const void **p, size_t *n);

/*
 * attr_need_* - the same for required attributes: 0, or -1 with err such
 * as 'missing attribute "sender"' or 'attribute "size" is S, want I'.
 */
int attr_need_str(const struct attr_list *l, const char *name, const char **s,
    char *err, size_t errlen);
int attr_need_int(const struct attr_list *l, const char *name, int64_t *v,
    char *err, size_t errlen);
int attr_need_data(const struct attr_list *l, const char *name, const void **p,
    size_t *n, char *err, size_t errlen);

#endif
