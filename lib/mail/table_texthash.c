/*
 * table_texthash - texthash: tables, the hash: text format read into
 * memory when the table is opened (no .db, no ternmap run needed).
 *
 * The file is read once with the shared reader (table.c), so the format
 * and its errors are exactly those of "ternmap hash:file": a key without
 * a value or an over-long line stops the open with file:line. Keys are
 * folded unless TABLE_KEEP_CASE; a duplicate key replaces the earlier
 * one, with a warning naming file:line (as ternmap does).
 *
 * Entries stay in file order (for table_next); an open-addressing index
 * of twice the entry count, at least, finds them.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/table.h"

/* table_texthash_entry - one key and its value */
struct table_texthash_entry {
	char *key;
	char *value;
};

/* table_texthash - the table */
struct table_texthash {
	struct table t;
	struct table_texthash_entry *entries;
	size_t count;
	size_t *index;			/* slot -> entry number + 1; 0 is empty */
	size_t slots;			/* a power of two */
	size_t walk;			/* table_next position */
};

/* table_texthash_hash - FNV-1a */
static size_t table_texthash_hash(const char *s)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *s; s++) {
		h ^= (unsigned char) *s;
		h *= 1099511628211ULL;
	}
	return (size_t) h;
}

/* table_texthash_slot - the slot that holds key, or the empty one where it would go */
static size_t table_texthash_slot(const struct table_texthash *th, const char *key)
{
	size_t mask = th->slots - 1;
	size_t i = table_texthash_hash(key) & mask;

	while (th->index[i] != 0 && strcmp(th->entries[th->index[i] - 1].key, key) != 0)
		i = (i + 1) & mask;
	return i;
}

/* table_texthash_grow - double the index and re-insert every entry */
static void table_texthash_grow(struct table_texthash *th)
{
	size_t slots = th->slots ? th->slots * 2 : 64;

	free(th->index);
	th->index = xcalloc(slots, sizeof(*th->index));
	th->slots = slots;
	for (size_t n = 0; n < th->count; n++)
		th->index[table_texthash_slot(th, th->entries[n].key)] = n + 1;
}

/* table_texthash_put - add or replace; false when key was there already */
static bool table_texthash_put(struct table_texthash *th, const char *key, const char *value)
{
	size_t i;

	if ((th->count + 1) * 2 > th->slots)
		table_texthash_grow(th);
	i = table_texthash_slot(th, key);
	if (th->index[i] != 0) {
		struct table_texthash_entry *e = &th->entries[th->index[i] - 1];

		free(e->value);
		e->value = xstrdup(value);
		return false;
	}
	th->entries = xreallocarray(th->entries, th->count + 1, sizeof(*th->entries));
	th->entries[th->count].key = xstrdup(key);
	th->entries[th->count].value = xstrdup(value);
	th->index[i] = ++th->count;
	return true;
}

/* table_texthash_lookup - find the (already folded) key */
static int table_texthash_lookup(struct table *t, const char *key, const char **value,
				 char *err, size_t errlen)
{
	struct table_texthash *th = (struct table_texthash *) t;
	size_t i;

	(void) err;
	(void) errlen;
	if (th->count == 0)
		return 0;
	i = table_texthash_slot(th, key);
	if (th->index[i] == 0)
		return 0;
	*value = th->entries[th->index[i] - 1].value;
	return 1;
}

/* table_texthash_next - entries in file order */
static int table_texthash_next(struct table *t, bool first, const char **key,
			       const char **value, char *err, size_t errlen)
{
	struct table_texthash *th = (struct table_texthash *) t;

	(void) err;
	(void) errlen;
	if (first)
		th->walk = 0;
	if (th->walk >= th->count)
		return 0;
	*key = th->entries[th->walk].key;
	*value = th->entries[th->walk].value;
	th->walk++;
	return 1;
}

/* table_texthash_close - free entries and index */
static void table_texthash_close(struct table *t)
{
	struct table_texthash *th = (struct table_texthash *) t;

	for (size_t n = 0; n < th->count; n++) {
		free(th->entries[n].key);
		free(th->entries[n].value);
	}
	free(th->entries);
	free(th->index);
	free(th);
}

/* table_texthash_open - read the whole file */
struct table *table_texthash_open(const char *type, const char *name, int flags,
				  char *err, size_t errlen)
{
	struct table_texthash *th;
	struct table_reader r;
	char *key, *value;
	int rc, saved;

	if (*name == '\0') {
		str_fmt(err, errlen, "%s: missing file name (%s:/path/name)", type, type);
		errno = EINVAL;
		return NULL;
	}
	if (table_reader_open(&r, name, err, errlen) < 0)
		return NULL;
	th = xcalloc(1, sizeof(*th));
	th->t.lookup = table_texthash_lookup;
	th->t.next = table_texthash_next;
	th->t.close = table_texthash_close;
	while ((rc = table_reader_entry(&r, flags, &key, &value, err, errlen)) > 0)
		if (!table_texthash_put(th, key, value))
			msg_warn("%s:%d: duplicate key '%.100s': the last one wins", name, r.start, key);
	saved = errno;
	table_reader_close(&r);
	if (rc < 0) {
		table_texthash_close(&th->t);
		errno = saved;
		return NULL;
	}
	return &th->t;
}
