/*
 * table_inline - inline:{...} and static: tables, written in place in a
 * parameter value rather than in a file.
 *
 *	inline:{ key1=value1, key2 = value2, { key3 = value, with, commas } }
 *	inline:{ key = { value, with, commas } }
 *	static:value		static:{ text with spaces }
 *
 * Elements are separated by commas and/or white space. A value that
 * contains commas or white space is written inside braces, or the whole
 * element is (Postfix 3 syntax); braces nest, and the outer pair of a
 * braced value or element is removed with the white space inside it.
 * Keys are folded to lower case unless TABLE_KEEP_CASE. Errors (missing
 * '=', empty key or value, unbalanced braces, duplicate keys, a key over
 * TABLE_KEY_MAX) fail the open with the offending text quoted.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "mail/table.h"

#define TABLE_INLINE_SPACE " \t\r\n\v\f"

/* table_inline - the entries, in the order written */
struct table_inline {
	struct table t;
	char **keys;
	char **values;
	size_t count;
	size_t walk;			/* table_next position */
	char *text;			/* static: the value */
};

/* table_inline_match - p points at '{': its matching '}' before end, or NULL */
static const char *table_inline_match(const char *p, const char *end)
{
	int depth = 0;

	for (; p < end; p++) {
		if (*p == '{')
			depth++;
		else if (*p == '}' && --depth == 0)
			return p;
	}
	return NULL;
}

/* table_inline_trim - narrow [*s, *e) to exclude white space at both ends */
static void table_inline_trim(const char **s, const char **e)
{
	while (*s < *e && strchr(TABLE_INLINE_SPACE, **s))
		(*s)++;
	while (*e > *s && strchr(TABLE_INLINE_SPACE, (*e)[-1]))
		(*e)--;
}

/* table_inline_unbrace - "{ text }" filling [s, e) becomes "text" */
static void table_inline_unbrace(const char **s, const char **e)
{
	table_inline_trim(s, e);
	if (*s < *e && **s == '{' && table_inline_match(*s, *e) == *e - 1) {
		(*s)++;
		(*e)--;
		table_inline_trim(s, e);
	}
}

/* table_inline_add - store one entry; -1 with err for bad or duplicate keys */
static int table_inline_add(struct table_inline *ti, int flags, const char *ks, const char *ke,
			    const char *vs, const char *ve, char *err, size_t errlen)
{
	char *key;

	if (ks == ke) {
		str_fmt(err, errlen, "inline: empty key before '=%.*s'",
			(int) (ve - vs > 100 ? 100 : ve - vs), vs);
		errno = EINVAL;
		return -1;
	}
	if (vs == ve) {
		str_fmt(err, errlen, "inline: key '%.*s' has no value",
			(int) (ke - ks > 100 ? 100 : ke - ks), ks);
		errno = EINVAL;
		return -1;
	}
	if ((size_t) (ke - ks) > TABLE_KEY_MAX) {
		str_fmt(err, errlen, "inline: key longer than %d bytes", TABLE_KEY_MAX);
		errno = EINVAL;
		return -1;
	}
	key = xstrndup(ks, (size_t) (ke - ks));
	if (table_fold(flags, true))
		str_lower(key);
	for (size_t i = 0; i < ti->count; i++) {
		if (strcmp(ti->keys[i], key) == 0) {
			str_fmt(err, errlen, "inline: duplicate key '%.200s'", key);
			free(key);
			errno = EINVAL;
			return -1;
		}
	}
	ti->keys = xreallocarray(ti->keys, ti->count + 1, sizeof(char *));
	ti->values = xreallocarray(ti->values, ti->count + 1, sizeof(char *));
	ti->keys[ti->count] = key;
	ti->values[ti->count] = xstrndup(vs, (size_t) (ve - vs));
	ti->count++;
	return 0;
}

/* table_inline_element - "{ key = value }": split at the first '=' */
static int table_inline_element(struct table_inline *ti, int flags, const char *s,
				const char *e, char *err, size_t errlen)
{
	const char *eq = memchr(s, '=', (size_t) (e - s));
	const char *ks = s, *ke, *vs, *ve = e;

	if (eq == NULL) {
		str_fmt(err, errlen, "inline: missing '=' in '{%.*s}'", (int) (e - s > 200 ? 200 : e - s), s);
		errno = EINVAL;
		return -1;
	}
	ke = eq;
	vs = eq + 1;
	table_inline_trim(&ks, &ke);
	table_inline_unbrace(&vs, &ve);
	if (ks != ke && strcspn(ks, TABLE_INLINE_SPACE ",{}") < (size_t) (ke - ks)) {
		str_fmt(err, errlen, "inline: bad key '%.*s'", (int) (ke - ks > 200 ? 200 : ke - ks), ks);
		errno = EINVAL;
		return -1;
	}
	return table_inline_add(ti, flags, ks, ke, vs, ve, err, errlen);
}

/* table_inline_parse - the text between the outer braces */
static int table_inline_parse(struct table_inline *ti, int flags, const char *p, const char *end,
			      char *err, size_t errlen)
{
	for (;;) {
		const char *ks, *ke, *vs, *ve, *q;

		while (p < end && (*p == ',' || strchr(TABLE_INLINE_SPACE, *p)))
			p++;
		if (p == end)
			return 0;
		if (*p == '{') {
			if ((q = table_inline_match(p, end)) == NULL)
				goto unbalanced;
			if (table_inline_element(ti, flags, p + 1, q, err, errlen) < 0)
				return -1;
			p = q + 1;
			continue;
		}
		ks = p;
		while (p < end && !strchr(TABLE_INLINE_SPACE ",={}", *p))
			p++;
		ke = p;
		while (p < end && strchr(TABLE_INLINE_SPACE, *p))
			p++;
		if (ks == ke || p == end || *p != '=') {
			str_fmt(err, errlen, "inline: expected key=value at '%.*s'",
				(int) (end - ks > 200 ? 200 : end - ks), ks);
			errno = EINVAL;
			return -1;
		}
		p++;
		while (p < end && strchr(TABLE_INLINE_SPACE, *p))
			p++;
		if (p < end && *p == '{') {
			if ((q = table_inline_match(p, end)) == NULL)
				goto unbalanced;
			vs = p + 1;
			ve = q;
			table_inline_trim(&vs, &ve);
			p = q + 1;
		} else {
			vs = p;
			while (p < end && !strchr(TABLE_INLINE_SPACE ",{}", *p))
				p++;
			ve = p;
		}
		if (table_inline_add(ti, flags, ks, ke, vs, ve, err, errlen) < 0)
			return -1;
	}
unbalanced:
	str_fmt(err, errlen, "inline: unbalanced braces");
	errno = EINVAL;
	return -1;
}

/* table_inline_lookup - linear search: inline tables are small */
static int table_inline_lookup(struct table *t, const char *key, const char **value,
			       char *err, size_t errlen)
{
	struct table_inline *ti = (struct table_inline *) t;

	(void) err;
	(void) errlen;
	for (size_t i = 0; i < ti->count; i++) {
		if (strcmp(ti->keys[i], key) == 0) {
			*value = ti->values[i];
			return 1;
		}
	}
	return 0;
}

/* table_inline_next - entries in the order written */
static int table_inline_next(struct table *t, bool first, const char **key,
			     const char **value, char *err, size_t errlen)
{
	struct table_inline *ti = (struct table_inline *) t;

	(void) err;
	(void) errlen;
	if (first)
		ti->walk = 0;
	if (ti->walk >= ti->count)
		return 0;
	*key = ti->keys[ti->walk];
	*value = ti->values[ti->walk];
	ti->walk++;
	return 1;
}

/* table_inline_close - free the entries */
static void table_inline_close(struct table *t)
{
	struct table_inline *ti = (struct table_inline *) t;

	for (size_t i = 0; i < ti->count; i++) {
		free(ti->keys[i]);
		free(ti->values[i]);
	}
	free(ti->keys);
	free(ti->values);
	free(ti->text);
	free(ti);
}

/* table_inline_open - parse inline:{...} */
struct table *table_inline_open(const char *type, const char *name, int flags,
				char *err, size_t errlen)
{
	const char *s = name, *e = name + strlen(name);
	struct table_inline *ti;

	(void) type;
	table_inline_trim(&s, &e);
	if (s == e || *s != '{' || table_inline_match(s, e) != e - 1) {
		str_fmt(err, errlen, "inline:%.200s: expected inline:{key=value, ...}", name);
		errno = EINVAL;
		return NULL;
	}
	ti = xcalloc(1, sizeof(*ti));
	ti->t.lookup = table_inline_lookup;
	ti->t.next = table_inline_next;
	ti->t.close = table_inline_close;
	if (table_inline_parse(ti, flags, s + 1, e - 1, err, errlen) < 0) {
		int saved = errno;

		table_inline_close(&ti->t);
		errno = saved;
		return NULL;
	}
	return &ti->t;
}

/* table_inline_static_lookup - every key finds the value */
static int table_inline_static_lookup(struct table *t, const char *key, const char **value,
			       char *err, size_t errlen)
{
	(void) key;
	(void) err;
	(void) errlen;
	*value = ((struct table_inline *) t)->text;
	return 1;
}

/* table_inline_static_open - static:value or static:{ value } */
struct table *table_inline_static_open(const char *type, const char *name, int flags,
				char *err, size_t errlen)
{
	const char *s = name, *e = name + strlen(name);
	struct table_inline *ti;

	(void) type;
	(void) flags;
	if (e - s > TABLE_VALUE_MAX) {
		str_fmt(err, errlen, "static: value longer than %d bytes", TABLE_VALUE_MAX);
		errno = EINVAL;
		return NULL;
	}
	if (*s == '{') {
		if (table_inline_match(s, e) != e - 1) {
			str_fmt(err, errlen, "static:%.200s: unbalanced braces", name);
			errno = EINVAL;
			return NULL;
		}
		table_inline_unbrace(&s, &e);
	}
	ti = xcalloc(1, sizeof(*ti));
	ti->text = xstrndup(s, (size_t) (e - s));
	ti->t.lookup = table_inline_static_lookup;
	ti->t.close = table_inline_close;
	return &ti->t;
}
