/*
 * table - the lookup table dispatcher, table lists and the table file
 * reader shared by the file-based types; see table.h.
 *
 * table_open splits "type:name", finds the type in table_kinds[] and lets
 * its module open the table; table_lookup applies the key rules that are
 * the same for every type (length limit, case folding) before calling the
 * module. The reader turns a file into logical lines with file:line
 * numbers for every error, with hard limits on line length.
 */
#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/proxymap_proto.h"
#include "mail/table.h"

#define TABLE_SPACE " \t\r\n\v\f"
/* static: answers any key, however long */
#define TABLE_ANY_KEY_MAX (SIZE_MAX / 4)

/* table_kind - one table type */
struct table_kind {
	const char *name;
	bool exact;			/* fixed-string keys: folded by default */
	size_t key_max;
	struct table *(*open)(const char *type, const char *name, int flags,
			      char *err, size_t errlen);
};

/*
 * the tables of files and of text in place, sorted by name, then those
 * that ask someone else (the system's user database, the proxymap
 * service); table_types() lists them in this order
 */
static const struct table_kind table_kinds[] = {
	{"btree", true, TABLE_KEY_MAX, table_db_open},
	{"cidr", false, TABLE_KEY_MAX, table_cidr_open},
	{"hash", true, TABLE_KEY_MAX, table_db_open},
	{"inline", true, TABLE_KEY_MAX, table_inline_open},
	{"pcre", false, TABLE_PATTERN_KEY_MAX, table_pcre_open},
	{"static", false, TABLE_ANY_KEY_MAX, table_inline_static_open},
	{"texthash", true, TABLE_KEY_MAX, table_texthash_open},
	{"unix", true, TABLE_PASSWD_NAME_MAX, table_passwd_open},
	/* the key goes as given: the table behind proxymap folds it or not */
	{"proxy", false, PROXYMAP_KEY_MAX, table_proxy_open},
};

#define TABLE_KIND_COUNT (sizeof(table_kinds) / sizeof(table_kinds[0]))

/* table_types - the known type names, comma separated */
const char *table_types(void)
{
	return "btree, cidr, hash, inline, pcre, static, texthash, unix, proxy";
}

/* table_fold - whether keys are folded: type default, then flags */
bool table_fold(int flags, bool exact)
{
	if (flags & TABLE_KEEP_CASE)
		return false;
	if (flags & TABLE_FOLD_KEY)
		return true;
	return exact;
}

/* table_open - find the type and let its module open the table */
struct table *table_open(const char *spec, int flags, char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':');
	const struct table_kind *kind = NULL;
	struct table *t;
	size_t tlen;

	if (colon == NULL || colon == spec) {
		str_fmt(err, errlen, "'%.200s': not a table name (expected type:name, types: %s)",
			spec, table_types());
		errno = ENOTSUP;
		return NULL;
	}
	tlen = (size_t) (colon - spec);
	for (size_t i = 0; i < TABLE_KIND_COUNT; i++) {
		if (strlen(table_kinds[i].name) == tlen && memcmp(table_kinds[i].name, spec, tlen) == 0) {
			kind = &table_kinds[i];
			break;
		}
	}
	if (kind == NULL) {
		str_fmt(err, errlen, "'%.200s': unknown table type '%.*s' (known types: %s)",
			spec, (int) (tlen > 64 ? 64 : tlen), spec, table_types());
		errno = ENOTSUP;
		return NULL;
	}
	t = kind->open(kind->name, colon + 1, flags, err, errlen);
	if (t == NULL)
		return NULL;
	t->type = kind->name;
	t->spec = xstrdup(spec);
	t->flags = flags;
	t->fold = table_fold(flags, kind->exact);
	t->key_max = kind->key_max;
	buf_init(&t->value, TABLE_VALUE_MAX);
	buf_init(&t->key, kind->key_max);
	return t;
}

/* table_lookup - key limits and folding, then the module's lookup */
int table_lookup(struct table *t, const char *key, const char **value,
		 char *err, size_t errlen)
{
	size_t len = strnlen(key, t->key_max + 1);
	int rc;

	*value = NULL;
	if (len > t->key_max)
		return 0;
	if (t->fold) {
		buf_reset(&t->key);
		if (buf_append(&t->key, key, len) < 0)
			msg_panic("table_lookup: key buffer limit below key_max");
		str_lower(t->key.data);
		key = t->key.data;
	}
	if (err && errlen)
		err[0] = '\0';
	rc = t->lookup(t, key, value, err, errlen);
	if (rc < 0 && err && errlen && err[0] == '\0')
		str_fmt(err, errlen, "%s: lookup failed", t->spec);
	if (rc <= 0)
		*value = NULL;
	return rc;
}

/* table_next - list entries, for the types that can */
int table_next(struct table *t, bool first, const char **key, const char **value,
	       char *err, size_t errlen)
{
	*key = *value = NULL;
	if (t->next == NULL) {
		str_fmt(err, errlen, "%s: a %s table cannot list its entries", t->spec, t->type);
		errno = ENOTSUP;
		return -1;
	}
	return t->next(t, first, key, value, err, errlen);
}

/* table_spec - the name the table was opened with */
const char *table_spec(const struct table *t)
{
	return t->spec;
}

/* table_type - the type name */
const char *table_type(const struct table *t)
{
	return t->type;
}

/* table_close - free the common parts, then the module's */
void table_close(struct table *t)
{
	if (t == NULL)
		return;
	free(t->spec);
	buf_free(&t->value);
	buf_free(&t->key);
	t->close(t);
}

/* tables - an ordered list of open tables */
struct tables {
	struct table **list;
	size_t count;
};

/* tables_split - split a list at commas and white space outside braces */
char **tables_split(const char *list, char *err, size_t errlen)
{
	char **specs = xcalloc(1, sizeof(char *));
	size_t count = 0;
	const char *p = list;

	for (;;) {
		const char *start;
		int depth = 0;

		p += strspn(p, ", \t\r\n\v\f");
		if (*p == '\0')
			break;
		start = p;
		for (; *p; p++) {
			if (*p == '{')
				depth++;
			else if (*p == '}' && --depth < 0)
				break;
			else if (depth == 0 && strchr(", \t\r\n\v\f", *p))
				break;
		}
		if (depth != 0) {
			str_fmt(err, errlen, "'%.200s': unbalanced braces in table list", start);
			errno = EINVAL;
			tables_split_free(specs);
			return NULL;
		}
		specs = xreallocarray(specs, count + 2, sizeof(char *));
		specs[count++] = xstrndup(start, (size_t) (p - start));
		specs[count] = NULL;
	}
	return specs;
}

/* tables_split_free - free what tables_split returned */
void tables_split_free(char **specs)
{
	if (specs == NULL)
		return;
	for (size_t i = 0; specs[i]; i++)
		free(specs[i]);
	free(specs);
}

/* tables_open_vector - open each spec in order */
struct tables *tables_open_vector(const char *const *specs, int flags, char *err, size_t errlen)
{
	struct tables *ts = xcalloc(1, sizeof(*ts));

	for (size_t i = 0; specs[i]; i++) {
		struct table *t = table_open(specs[i], flags, err, errlen);

		if (t == NULL) {
			int saved = errno;

			tables_close(ts);
			errno = saved;
			return NULL;
		}
		ts->list = xreallocarray(ts->list, ts->count + 1, sizeof(*ts->list));
		ts->list[ts->count++] = t;
	}
	return ts;
}

/* tables_open - split the list, then open each table */
struct tables *tables_open(const char *list, int flags, char *err, size_t errlen)
{
	char **specs = tables_split(list, err, errlen);
	struct tables *ts;
	int saved;

	if (specs == NULL)
		return NULL;
	ts = tables_open_vector((const char *const *) specs, flags, err, errlen);
	saved = errno;
	tables_split_free(specs);
	errno = saved;
	return ts;
}

/* tables_lookup - first table that finds the key wins; an error stops */
int tables_lookup(struct tables *ts, const char *key, const char **value,
		  const struct table **which, char *err, size_t errlen)
{
	*value = NULL;
	if (which)
		*which = NULL;
	for (size_t i = 0; i < ts->count; i++) {
		int rc = table_lookup(ts->list[i], key, value, err, errlen);

		if (rc != 0) {
			if (which)
				*which = ts->list[i];
			return rc;
		}
	}
	return 0;
}

/* tables_count - how many tables the list holds */
size_t tables_count(const struct tables *ts)
{
	return ts->count;
}

/* tables_close - close every table of the list */
void tables_close(struct tables *ts)
{
	if (ts == NULL)
		return;
	for (size_t i = 0; i < ts->count; i++)
		table_close(ts->list[i]);
	free(ts->list);
	free(ts);
}

/* table_reader_open - open a table file for reading */
int table_reader_open(struct table_reader *r, const char *path, char *err, size_t errlen)
{
	memset(r, 0, sizeof(*r));
	r->path = path;
	buf_init(&r->line, TABLE_LINE_MAX);
	buf_init(&r->next, TABLE_LINE_MAX);
	r->fp = fopen(path, "re");
	if (r->fp == NULL) {
		int saved = errno;

		str_fmt(err, errlen, "cannot open %s: %s", path, strerror(saved));
		table_reader_close(r);
		errno = saved;
		return -1;
	}
	return 0;
}

/* table_reader_close - close the file and free the buffers */
void table_reader_close(struct table_reader *r)
{
	if (r->fp)
		fclose(r->fp);
	r->fp = NULL;
	buf_free(&r->line);
	buf_free(&r->next);
}

/* table_reader_physical - one line without its newline: 1, 0 at the end, -1 */
static int table_reader_physical(struct table_reader *r, struct buf *b, char *err, size_t errlen)
{
	int c;

	buf_reset(b);
	if (r->eof)
		return 0;
	for (;;) {
		c = getc(r->fp);
		if (c == EOF) {
			if (ferror(r->fp)) {
				int saved = errno;

				str_fmt(err, errlen, "%s:%d: read error: %s", r->path,
					r->lineno + 1, strerror(saved));
				errno = saved ? saved : EIO;
				return -1;
			}
			r->eof = true;
			if (b->len == 0)
				return 0;
			break;
		}
		if (c == '\n')
			break;
		if (c == '\0') {
			str_fmt(err, errlen, "%s:%d: NUL byte in line", r->path, r->lineno + 1);
			errno = EINVAL;
			return -1;
		}
		if (buf_putc(b, c) < 0) {
			str_fmt(err, errlen, "%s:%d: line longer than %d bytes", r->path,
				r->lineno + 1, TABLE_LINE_MAX);
			errno = EINVAL;
			return -1;
		}
	}
	r->lineno++;
	return 1;
}

/* table_reader_ignorable - blank line or '#' comment */
static bool table_reader_ignorable(const char *s)
{
	s += strspn(s, TABLE_SPACE);
	return *s == '\0' || *s == '#';
}

/* table_reader_next - assemble the next logical line */
int table_reader_next(struct table_reader *r, char *err, size_t errlen)
{
	int rc;

	buf_reset(&r->line);
	for (;;) {
		if (!r->have_next) {
			rc = table_reader_physical(r, &r->next, err, errlen);
			if (rc <= 0)
				return rc;
			r->next_lineno = r->lineno;
		}
		r->have_next = false;
		if (table_reader_ignorable(r->next.data))
			continue;
		if (isspace((unsigned char) r->next.data[0])) {
			str_fmt(err, errlen, "%s:%d: line starts with white space but continues "
				"nothing", r->path, r->next_lineno);
			errno = EINVAL;
			return -1;
		}
		break;
	}
	r->start = r->next_lineno;
	buf_append(&r->line, r->next.data, r->next.len);	/* same limit: fits */
	for (;;) {
		rc = table_reader_physical(r, &r->next, err, errlen);
		if (rc < 0)
			return -1;
		if (rc == 0)
			break;
		if (table_reader_ignorable(r->next.data))
			continue;
		if (!isspace((unsigned char) r->next.data[0])) {
			r->have_next = true;
			r->next_lineno = r->lineno;
			break;
		}
		if (buf_append(&r->line, r->next.data, r->next.len) < 0) {
			str_fmt(err, errlen, "%s:%d: logical line longer than %d bytes",
				r->path, r->start, TABLE_LINE_MAX);
			errno = EINVAL;
			return -1;
		}
	}
	while (r->line.len > 0 && isspace((unsigned char) r->line.data[r->line.len - 1]))
		buf_truncate(&r->line, r->line.len - 1);
	return 1;
}

/* table_reader_entry - the next "key value" line, checked */
int table_reader_entry(struct table_reader *r, int flags, char **key, char **value,
		       char *err, size_t errlen)
{
	int rc = table_reader_next(r, err, errlen);
	char *p, *end, *q;

	if (rc <= 0)
		return rc;
	p = r->line.data;
	*key = p;
	if (flags & TABLE_ALIAS_FORMAT) {
		/* aliases(5): the name ends at a colon ("postmaster: root") */
		end = p + strcspn(p, ":" TABLE_SPACE);
		q = end + strspn(end, TABLE_SPACE);
		if (*q == ':')
			q++;
	} else {
		end = p + strcspn(p, TABLE_SPACE);
		q = end;
	}
	q += strspn(q, TABLE_SPACE);
	if (*q == '\0' || end == p) {
		str_fmt(err, errlen, "%s:%d: key '%.100s' has no value (expected \"key value\")",
			r->path, r->start, *key);
		errno = EINVAL;
		return -1;
	}
	*end = '\0';
	*value = q;
	if (strlen(*key) > TABLE_KEY_MAX) {
		str_fmt(err, errlen, "%s:%d: key longer than %d bytes", r->path, r->start,
			TABLE_KEY_MAX);
		errno = EINVAL;
		return -1;
	}
	if (table_fold(flags, true))
		str_lower(*key);
	return 1;
}
