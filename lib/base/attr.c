/*
 * attr - typed attribute lists and their wire frames; see attr.h and
 * tern-ipc(7).
 *
 * The arena is a chain of blocks that never move, so pointers into it stay
 * valid while a list grows. The first block serves small pieces (names,
 * short values); a piece bigger than half a block gets a block of its own
 * behind the first, so one large value does not waste the small block.
 * A reset keeps one block of moderate size, so a connection that decodes
 * frame after frame allocates nothing in the steady state.
 *
 * Decoding validates the whole payload first, reading only inside it, and
 * only then writes the NUL terminators (over the value-length field that
 * follows each name, and over the type byte that follows each value, or
 * the spare byte after the payload), so a malformed frame leaves no half
 * built list behind.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/attr.h"
#include "base/buf.h"
#include "base/mem.h"
#include "base/msg.h"

#define ATTR_BLOCK_MIN	4096		/* bytes of data in a small block */
#define ATTR_KEEP_MAX	(256 * 1024)	/* largest block kept by a reset */
#define ATTR_HEAD	6		/* type, name length, value length */

struct attr_block {
	struct attr_block *next;
	size_t cap;
	size_t used;
	char data[];
};

/* attr_err - format an error text, when the caller wants one */
__attribute__((format(printf, 3, 4)))
static void attr_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* attr_get32 - read a big-endian 32-bit number */
static size_t attr_get32(const unsigned char *p)
{
	return (size_t) p[0] << 24 | (size_t) p[1] << 16 | (size_t) p[2] << 8 | p[3];
}

/* attr_put32 - write a big-endian 32-bit number */
static unsigned char *attr_put32(unsigned char *p, size_t v)
{
	p[0] = (unsigned char) (v >> 24);
	p[1] = (unsigned char) (v >> 16);
	p[2] = (unsigned char) (v >> 8);
	p[3] = (unsigned char) v;
	return p + 4;
}

/* attr_get64 - read a big-endian two's complement 64-bit integer */
static int64_t attr_get64(const unsigned char *p)
{
	uint64_t u = 0;

	for (int i = 0; i < 8; i++)
		u = u << 8 | p[i];
	if (u <= INT64_MAX)
		return (int64_t) u;
	return -(int64_t) (~u) - 1;
}

/* attr_put64 - write a big-endian two's complement 64-bit integer */
static unsigned char *attr_put64(unsigned char *p, int64_t v)
{
	uint64_t u = (uint64_t) v;

	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char) u;
		u >>= 8;
	}
	return p + 8;
}

/* attr_block_new - allocate a block with room for cap bytes */
static struct attr_block *attr_block_new(size_t cap)
{
	struct attr_block *b;

	if (cap > SIZE_MAX / 2)
		msg_panic("attr_block_new: size %zu", cap);
	b = xmalloc(sizeof(*b) + cap);
	b->next = NULL;
	b->cap = cap;
	b->used = 0;
	return b;
}

/* attr_alloc - n bytes of arena that will not move */
static char *attr_alloc(struct attr_list *l, size_t n)
{
	struct attr_block *b = l->blocks;

	if (b && b->cap - b->used >= n) {
		b->used += n;
		return b->data + b->used - n;
	}
	if (n > ATTR_BLOCK_MIN / 2 && b) {
		struct attr_block *big = attr_block_new(n);

		big->used = n;
		big->next = b->next;
		b->next = big;
		return big->data;
	}
	b = attr_block_new(n > ATTR_BLOCK_MIN ? n : ATTR_BLOCK_MIN);
	b->next = l->blocks;
	l->blocks = b;
	b->used = n;
	return b->data;
}

/* attr_list_init - empty list with the default limit */
void attr_list_init(struct attr_list *l)
{
	l->items = NULL;
	l->count = l->cap = 0;
	l->blocks = NULL;
	l->payload = NULL;
	l->payload_room = 0;
	l->size = 1;
	l->limit = ATTR_FRAME_MAX;
	l->err[0] = '\0';
}

/* attr_list_set_limit - largest payload this list may encode */
void attr_list_set_limit(struct attr_list *l, size_t limit)
{
	l->limit = limit ? limit : ATTR_FRAME_MAX;
}

/* attr_list_reset - empty the list, keeping one moderate block */
void attr_list_reset(struct attr_list *l)
{
	struct attr_block *keep = NULL;
	struct attr_block *b;
	struct attr_block *next;

	for (b = l->blocks; b; b = b->next)
		if (b->cap <= ATTR_KEEP_MAX && (keep == NULL || b->cap > keep->cap))
			keep = b;
	for (b = l->blocks; b; b = next) {
		next = b->next;
		if (b != keep)
			free(b);
	}
	if (keep) {
		keep->next = NULL;
		keep->used = 0;
	}
	l->blocks = keep;
	l->count = 0;
	l->payload = NULL;
	l->payload_room = 0;
	l->size = 1;
	l->err[0] = '\0';
}

/* attr_list_free - release everything */
void attr_list_free(struct attr_list *l)
{
	struct attr_block *b;
	struct attr_block *next;

	for (b = l->blocks; b; b = next) {
		next = b->next;
		free(b);
	}
	free(l->items);
	attr_list_init(l);
}

/* attr_list_error - first error of an attr_add_* call */
const char *attr_list_error(const struct attr_list *l)
{
	return l->err[0] ? l->err : NULL;
}

/* attr_name_ok - 1..ATTR_NAME_MAX characters of [a-z0-9_] */
bool attr_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > ATTR_NAME_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	return true;
}

/* attr_item_new - append an empty item slot */
static struct attr *attr_item_new(struct attr_list *l)
{
	if (l->count == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 8;
		l->items = xreallocarray(l->items, l->cap, sizeof(*l->items));
	}
	return &l->items[l->count++];
}

/* attr_add_check - may an attribute with this name and value size be added? */
static int attr_add_check(struct attr_list *l, const char *name, size_t nlen, size_t vlen)
{
	size_t need;

	if (l->err[0])
		return -1;
	if (!attr_name_ok(name, nlen)) {
		attr_err(l->err, sizeof(l->err), "bad attribute name \"%.*s\"",
		    (int) (nlen > ATTR_NAME_MAX ? ATTR_NAME_MAX : nlen), name);
		return -1;
	}
	if (l->count >= ATTR_COUNT_MAX) {
		attr_err(l->err, sizeof(l->err), "attribute \"%s\": more than %d attributes",
		    name, ATTR_COUNT_MAX);
		return -1;
	}
	need = ATTR_HEAD + nlen;
	if (vlen > l->limit || vlen > UINT32_MAX || l->size + need > l->limit - vlen) {
		attr_err(l->err, sizeof(l->err),
		    "attribute \"%s\": %zu-byte value would pass the frame limit %zu",
		    name, vlen, l->limit);
		return -1;
	}
	return 0;
}

/* attr_add - append an attribute; value is copied when copy is set */
static int attr_add(struct attr_list *l, enum attr_type type, const char *name,
    const void *value, size_t vlen, int64_t num, bool copy)
{
	size_t nlen = strnlen(name, ATTR_NAME_MAX + 1);
	struct attr *a;
	char *p;

	if (attr_add_check(l, name, nlen, vlen) < 0)
		return -1;
	p = attr_alloc(l, nlen + 1);
	memcpy(p, name, nlen + 1);
	a = attr_item_new(l);
	a->type = type;
	a->name = p;
	a->name_len = nlen;
	a->len = vlen;
	a->num = num;
	a->value = value;
	if (type != ATTR_INT && copy) {
		p = attr_alloc(l, vlen + 1);
		if (vlen)
			memcpy(p, value, vlen);
		p[vlen] = '\0';
		a->value = p;
	}
	l->size += ATTR_HEAD + nlen + vlen;
	return 0;
}

/* attr_add_str - add a C string */
int attr_add_str(struct attr_list *l, const char *name, const char *s)
{
	return attr_add(l, ATTR_STR, name, s, strlen(s), 0, true);
}

/* attr_add_strn - add a string of n bytes that holds no NUL */
int attr_add_strn(struct attr_list *l, const char *name, const char *s, size_t n)
{
	if (l->err[0] == '\0' && memchr(s, '\0', n) != NULL) {
		attr_err(l->err, sizeof(l->err), "attribute \"%.*s\": string contains NUL",
		    ATTR_NAME_MAX, name);
		return -1;
	}
	return attr_add(l, ATTR_STR, name, s, n, 0, true);
}

/* attr_add_int - add a 64-bit signed integer */
int attr_add_int(struct attr_list *l, const char *name, int64_t v)
{
	return attr_add(l, ATTR_INT, name, NULL, 8, v, true);
}

/* attr_add_data - add opaque bytes, copied */
int attr_add_data(struct attr_list *l, const char *name, const void *p, size_t n)
{
	return attr_add(l, ATTR_DATA, name, p, n, 0, true);
}

/* attr_add_data_ref - add opaque bytes by reference */
int attr_add_data_ref(struct attr_list *l, const char *name, const void *p, size_t n)
{
	return attr_add(l, ATTR_DATA, name, p, n, 0, false);
}

/* attr_encoded_size - bytes of the whole frame */
size_t attr_encoded_size(const struct attr_list *l)
{
	return ATTR_PREFIX + l->size;
}

/* attr_encode_some - write the frame, without the last value if whole is false */
static size_t attr_encode_some(const struct attr_list *l, unsigned char *dst, bool whole)
{
	unsigned char *p = attr_put32(dst, l->size);

	*p++ = ATTR_VERSION;
	for (size_t i = 0; i < l->count; i++) {
		const struct attr *a = &l->items[i];

		*p++ = (unsigned char) a->type;
		*p++ = (unsigned char) a->name_len;
		memcpy(p, a->name, a->name_len);
		p = attr_put32(p + a->name_len, a->len);
		if (a->type == ATTR_INT) {
			p = attr_put64(p, a->num);
		} else if (a->len && (whole || i + 1 < l->count)) {
			memcpy(p, a->value, a->len);
			p += a->len;
		}
	}
	return (size_t) (p - dst);
}

/* attr_encode_into - write the frame to dst (attr_encoded_size bytes) */
void attr_encode_into(const struct attr_list *l, void *dst)
{
	attr_encode_some(l, dst, true);
}

/* attr_encode_head - write the frame except the last attribute's value */
size_t attr_encode_head(const struct attr_list *l, void *dst)
{
	if (l->count == 0 || l->items[l->count - 1].type == ATTR_INT)
		msg_panic("attr_encode_head: the last attribute has no string or data value");
	return attr_encode_some(l, dst, false);
}

/* attr_encode - append one frame to a buf */
int attr_encode(const struct attr_list *l, struct buf *out)
{
	size_t n = attr_encoded_size(l);

	if (l->err[0] || buf_reserve(out, n) < 0)
		return -1;
	attr_encode_into(l, out->data + out->len);
	out->len += n;
	out->data[out->len] = '\0';
	return 0;
}

/* attr_frame_size - check a length prefix */
int attr_frame_size(const void *p, size_t n, size_t max_frame, size_t *payload,
    char *err, size_t errlen)
{
	size_t len;

	if (n < ATTR_PREFIX)
		return 0;
	if (max_frame == 0)
		max_frame = ATTR_FRAME_MAX;
	len = attr_get32(p);
	if (len == 0) {
		attr_err(err, errlen, "empty frame (length 0)");
		return -1;
	}
	if (len > max_frame) {
		attr_err(err, errlen, "frame of %zu bytes exceeds limit %zu", len, max_frame);
		return -1;
	}
	*payload = len;
	return 1;
}

/* attr_decode_space - reset l and return room for an n-byte payload */
void *attr_decode_space(struct attr_list *l, size_t n)
{
	attr_list_reset(l);
	l->payload = attr_alloc(l, n + 1);
	l->payload_room = n + 1;
	return l->payload;
}

/* attr_parse_one - validate the attribute at p[*pos], add it to l */
static int attr_parse_one(struct attr_list *l, const unsigned char *p, size_t n,
    size_t *pos, char *err, size_t errlen)
{
	size_t idx = l->count + 1;
	size_t left = n - *pos;
	const unsigned char *q = p + *pos;
	size_t nlen;
	size_t vlen;
	struct attr *a;

	if (l->count >= ATTR_COUNT_MAX) {
		attr_err(err, errlen, "more than %d attributes", ATTR_COUNT_MAX);
		return -1;
	}
	if (left < ATTR_HEAD) {
		attr_err(err, errlen, "attribute %zu: truncated, %zu trailing bytes", idx, left);
		return -1;
	}
	if (q[0] != ATTR_STR && q[0] != ATTR_INT && q[0] != ATTR_DATA) {
		attr_err(err, errlen, "attribute %zu: unknown type 0x%02x", idx, q[0]);
		return -1;
	}
	nlen = q[1];
	if (nlen == 0 || nlen > ATTR_NAME_MAX) {
		attr_err(err, errlen, "attribute %zu: name length %zu", idx, nlen);
		return -1;
	}
	if (left - ATTR_HEAD < nlen) {
		attr_err(err, errlen, "attribute %zu: name runs past the end of the frame", idx);
		return -1;
	}
	for (size_t i = 0; i < nlen; i++) {
		if (!attr_name_ok((const char *) q + 2 + i, 1)) {
			attr_err(err, errlen, "attribute %zu: bad character 0x%02x in name",
			    idx, q[2 + i]);
			return -1;
		}
	}
	vlen = attr_get32(q + 2 + nlen);
	left -= ATTR_HEAD + nlen;
	if (vlen > left) {
		attr_err(err, errlen, "attribute %zu (\"%.*s\"): value length %zu but %zu bytes left",
		    idx, (int) nlen, q + 2, vlen, left);
		return -1;
	}
	if (q[0] == ATTR_INT && vlen != 8) {
		attr_err(err, errlen, "attribute %zu (\"%.*s\"): integer of %zu bytes, want 8",
		    idx, (int) nlen, q + 2, vlen);
		return -1;
	}
	if (q[0] == ATTR_STR && memchr(q + ATTR_HEAD + nlen, '\0', vlen) != NULL) {
		attr_err(err, errlen, "attribute %zu (\"%.*s\"): string contains NUL",
		    idx, (int) nlen, q + 2);
		return -1;
	}
	a = attr_item_new(l);
	a->type = (enum attr_type) q[0];
	a->name = (const char *) q + 2;
	a->name_len = nlen;
	a->value = (const char *) q + ATTR_HEAD + nlen;
	a->len = vlen;
	a->num = q[0] == ATTR_INT ? attr_get64(q + ATTR_HEAD + nlen) : 0;
	*pos += ATTR_HEAD + nlen + vlen;
	return 0;
}

/* attr_decode_finish - parse the payload written into attr_decode_space */
int attr_decode_finish(struct attr_list *l, size_t n, char *err, size_t errlen)
{
	unsigned char *p = (unsigned char *) l->payload;
	size_t pos = 1;

	if (p == NULL || n >= l->payload_room)
		msg_panic("attr_decode_finish: %zu bytes without attr_decode_space", n);
	if (n == 0) {
		attr_err(err, errlen, "empty frame (length 0)");
		attr_list_reset(l);
		return -1;
	}
	if (p[0] != ATTR_VERSION) {
		attr_err(err, errlen, "unsupported protocol version %u", p[0]);
		attr_list_reset(l);
		return -1;
	}
	while (pos < n) {
		if (attr_parse_one(l, p, n, &pos, err, errlen) < 0) {
			attr_list_reset(l);
			return -1;
		}
	}
	/* All read: now terminate names and values in place. */
	for (size_t i = 0; i < l->count; i++) {
		struct attr *a = &l->items[i];

		p = (unsigned char *) a->name;
		p[a->name_len] = '\0';
		if (a->type != ATTR_INT) {
			p = (unsigned char *) a->value;
			p[a->len] = '\0';
		}
	}
	l->size = n;
	return 0;
}

/* attr_decode - decode one frame from the start of p[0..n) */
int attr_decode(const void *p, size_t n, size_t max_frame, struct attr_list *out,
    size_t *consumed, char *err, size_t errlen)
{
	size_t len;
	int r;

	r = attr_frame_size(p, n, max_frame, &len, err, errlen);
	if (r < 0)
		attr_list_reset(out);
	if (r <= 0)
		return r;
	if (n - ATTR_PREFIX < len)
		return 0;
	memcpy(attr_decode_space(out, len), (const char *) p + ATTR_PREFIX, len);
	if (attr_decode_finish(out, len, err, errlen) < 0)
		return -1;
	*consumed = ATTR_PREFIX + len;
	return 1;
}

/* attr_count - number of attributes */
size_t attr_count(const struct attr_list *l)
{
	return l->count;
}

/* attr_at - the i-th attribute */
const struct attr *attr_at(const struct attr_list *l, size_t i)
{
	if (i >= l->count)
		msg_panic("attr_at: index %zu of %zu", i, l->count);
	return &l->items[i];
}

/* attr_find - next attribute called name after prev */
const struct attr *attr_find(const struct attr_list *l, const char *name,
    const struct attr *prev)
{
	size_t i = prev ? (size_t) (prev - l->items) + 1 : 0;

	for (; i < l->count; i++)
		if (strcmp(l->items[i].name, name) == 0)
			return &l->items[i];
	return NULL;
}

/* attr_typed - the first attribute called name if it has the given type */
static const struct attr *attr_typed(const struct attr_list *l, const char *name,
    enum attr_type type, char *err, size_t errlen)
{
	const struct attr *a = attr_find(l, name, NULL);

	if (a == NULL) {
		attr_err(err, errlen, "missing attribute \"%s\"", name);
		return NULL;
	}
	if (a->type != type) {
		attr_err(err, errlen, "attribute \"%s\" has type %c, want %c",
		    name, a->type, type);
		return NULL;
	}
	return a;
}

/* attr_get_str - the first string called name */
bool attr_get_str(const struct attr_list *l, const char *name, const char **s)
{
	return attr_need_str(l, name, s, NULL, 0) == 0;
}

/* attr_get_int - the first integer called name */
bool attr_get_int(const struct attr_list *l, const char *name, int64_t *v)
{
	return attr_need_int(l, name, v, NULL, 0) == 0;
}

/* attr_get_data - the first opaque value called name */
bool attr_get_data(const struct attr_list *l, const char *name, const void **p, size_t *n)
{
	return attr_need_data(l, name, p, n, NULL, 0) == 0;
}

/* attr_need_str - a required string */
int attr_need_str(const struct attr_list *l, const char *name, const char **s,
    char *err, size_t errlen)
{
	const struct attr *a = attr_typed(l, name, ATTR_STR, err, errlen);

	if (a == NULL)
		return -1;
	*s = a->value;
	return 0;
}

/* attr_need_int - a required integer */
int attr_need_int(const struct attr_list *l, const char *name, int64_t *v,
    char *err, size_t errlen)
{
	const struct attr *a = attr_typed(l, name, ATTR_INT, err, errlen);

	if (a == NULL)
		return -1;
	*v = a->num;
	return 0;
}

/* attr_need_data - a required opaque value */
int attr_need_data(const struct attr_list *l, const char *name, const void **p,
    size_t *n, char *err, size_t errlen)
{
	const struct attr *a = attr_typed(l, name, ATTR_DATA, err, errlen);

	if (a == NULL)
		return -1;
	*p = a->value;
	*n = a->len;
	return 0;
}
