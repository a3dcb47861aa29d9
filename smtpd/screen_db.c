/*
 * screen_db - the screen service's store: one Berkeley DB hash file
 * (screen_database) of text keys and text values, opened by the one
 * screen process only (no environment, no locks). Keys and values are
 * stored without a NUL; values are limited to SCREEN_VALUE_MAX.
 *
 * Durability: a put or delete with sync flushes the file before it
 * returns (bans and frozen accounts); counters are written without and
 * flushed by screen_db_sync from the periodic sweep, so a crash may lose
 * the last minute of counting but never a ban.
 *
 * A file that does not open as a DB hash (damaged) is moved aside to
 * "<file>.bad" with a warning and started afresh, so the service comes
 * back up; the administrator finds the old bans in the .bad file.
 * Errors of single operations are logged and returned as -1.
 */
#include <db.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "screen.h"

/* screen_db - the open file */
struct screen_db {
	DB *db;
	char *path;
};

/* screen_db_try_open - one attempt: the DB, or NULL with Berkeley DB's code in *ret */
static DB *screen_db_try_open(const char *path, int *ret)
{
	DB *db;

	if ((*ret = db_create(&db, NULL, 0)) != 0)
		return NULL;
	if ((*ret = db->open(db, NULL, path, NULL, DB_HASH, DB_CREATE, 0600)) != 0) {
		db->close(db, 0);
		return NULL;
	}
	return db;
}

/* screen_db_open - open or create the store */
struct screen_db *screen_db_open(const char *path, char *err, size_t errlen)
{
	struct screen_db *s;
	DB *db;
	int ret;

	if ((db = screen_db_try_open(path, &ret)) == NULL && ret != ENOENT && ret != EACCES
	    && ret != ENOSPC && ret != EROFS) {
		char *aside = str_dupf("%s.bad", path);

		msg_warn("screen database %s: %s; moved aside to %s, starting an empty one",
			 path, db_strerror(ret), aside);
		if (rename(path, aside) < 0)
			msg_warn("screen database: rename %s to %s: %s", path, aside, strerror(errno));
		free(aside);
		db = screen_db_try_open(path, &ret);
	}
	if (db == NULL) {
		str_fmt(err, errlen, "cannot open the screen database %s: %s", path, db_strerror(ret));
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->db = db;
	s->path = xstrdup(path);
	return s;
}

/* screen_db_close - flush and close (NULL is fine) */
void screen_db_close(struct screen_db *s)
{
	if (s == NULL)
		return;
	if (s->db->close(s->db, 0) != 0)
		msg_warn("screen database %s: close failed", s->path);
	free(s->path);
	free(s);
}

/* screen_db_dbt - a DBT over a text without its NUL */
static DBT screen_db_dbt(const char *text)
{
	DBT d;

	memset(&d, 0, sizeof(d));
	d.data = (void *) (uintptr_t) text;
	d.size = (u_int32_t) strlen(text);
	return d;
}

/* screen_db_sync - flush the file */
void screen_db_sync(struct screen_db *s)
{
	int ret = s->db->sync(s->db, 0);

	if (ret != 0)
		msg_warn("screen database %s: sync: %s", s->path, db_strerror(ret));
}

/* screen_db_get - the value of key */
int screen_db_get(struct screen_db *s, const char *key, char *out, size_t outlen)
{
	DBT k = screen_db_dbt(key), v;
	int ret;

	memset(&v, 0, sizeof(v));
	ret = s->db->get(s->db, NULL, &k, &v, 0);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0) {
		msg_warn("screen database %s: read \"%s\": %s", s->path, key, db_strerror(ret));
		return -1;
	}
	if (v.size >= outlen || memchr(v.data, '\0', v.size) != NULL) {
		msg_warn("screen database %s: value of \"%s\" is malformed; dropped", s->path, key);
		(void) screen_db_del(s, key, false);
		return 0;
	}
	memcpy(out, v.data, v.size);
	out[v.size] = '\0';
	return 1;
}

/* screen_db_put - store value under key */
int screen_db_put(struct screen_db *s, const char *key, const char *value, bool sync)
{
	DBT k = screen_db_dbt(key), v = screen_db_dbt(value);
	int ret;

	if (v.size >= SCREEN_VALUE_MAX) {
		msg_warn("screen database %s: value of \"%s\" too long (%u bytes); not stored",
			 s->path, key, v.size);
		return -1;
	}
	if ((ret = s->db->put(s->db, NULL, &k, &v, 0)) != 0) {
		msg_warn("screen database %s: write \"%s\": %s", s->path, key, db_strerror(ret));
		return -1;
	}
	if (sync)
		screen_db_sync(s);
	return 0;
}

/* screen_db_del - drop key */
int screen_db_del(struct screen_db *s, const char *key, bool sync)
{
	DBT k = screen_db_dbt(key);
	int ret = s->db->del(s->db, NULL, &k, 0);

	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0) {
		msg_warn("screen database %s: delete \"%s\": %s", s->path, key, db_strerror(ret));
		return -1;
	}
	if (sync)
		screen_db_sync(s);
	return 1;
}

/* screen_db_walk - every record under prefix; fn may ask to delete it */
int screen_db_walk(struct screen_db *s, const char *prefix, screen_db_walk_fn *fn, void *ctx)
{
	size_t plen = strlen(prefix);
	char *key = xmalloc(SCREEN_VALUE_MAX), *val = xmalloc(SCREEN_VALUE_MAX);
	DBC *cur;
	DBT k, v;
	int ret, rc = 0;

	if ((ret = s->db->cursor(s->db, NULL, &cur, 0)) != 0) {
		msg_warn("screen database %s: cursor: %s", s->path, db_strerror(ret));
		free(key);
		free(val);
		return -1;
	}
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	while ((ret = cur->get(cur, &k, &v, DB_NEXT)) == 0) {
		if (k.size >= SCREEN_VALUE_MAX || v.size >= SCREEN_VALUE_MAX || k.size < plen
		    || memcmp(k.data, prefix, plen) != 0)
			continue;
		memcpy(key, k.data, k.size);
		key[k.size] = '\0';
		memcpy(val, v.data, v.size);
		val[v.size] = '\0';
		if (strlen(key) != k.size || strlen(val) != v.size)
			continue;
		if (fn(key, val, ctx) && (ret = cur->del(cur, 0)) != 0)
			msg_warn("screen database %s: delete \"%s\": %s", s->path, key, db_strerror(ret));
	}
	if (ret != DB_NOTFOUND) {
		msg_warn("screen database %s: walk: %s", s->path, db_strerror(ret));
		rc = -1;
	}
	cur->close(cur);
	free(key);
	free(val);
	return rc;
}
