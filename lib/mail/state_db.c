/*
 * state_db - a daemon's own Berkeley DB hash state file of text keys and
 * text values: open-or-recreate when damaged, get/put/del with optional
 * sync, prefix walks. Contract in state_db.h.
 *
 * Keys and values are stored without their NUL. Nothing here keeps a
 * pointer into Berkeley DB's memory beyond one call: get copies the value
 * out, walk copies each record into its own buffers before fn sees it.
 */
#include <db.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/state_db.h"

/* state_db - the open file */
struct state_db {
	DB *db;
	char *path;
	char *what;			/* "sts cache": the start of every message */
	size_t value_max;		/* values are shorter than this */
};

/* state_db_fail - report a failure into err, or log it when err is NULL; returns -1 */
__attribute__((format(printf, 4, 5)))
static int state_db_fail(const struct state_db *s, char *err, size_t errlen, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (err == NULL)
		msg_warn("%s %s: %s", s->what, s->path, text);
	else
		str_fmt(err, errlen, "%s %s: %s", s->what, s->path, text);
	return -1;
}

/* state_db_try_open - one attempt: the DB, or NULL with Berkeley DB's code in *ret */
static DB *state_db_try_open(const char *path, int *ret)
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

/* state_db_open - open or create the file; a damaged one is moved aside */
struct state_db *state_db_open(const char *path, const char *what, size_t value_max,
			       char *err, size_t errlen)
{
	struct state_db *s;
	DB *db;
	int ret;

	if ((db = state_db_try_open(path, &ret)) == NULL && ret != ENOENT && ret != EACCES
	    && ret != ENOSPC && ret != EROFS) {
		char *aside = str_dupf("%s.bad", path);

		msg_warn("%s %s: %s; moved aside to %s, starting an empty one",
			 what, path, db_strerror(ret), aside);
		if (rename(path, aside) < 0)
			msg_warn("%s: rename %s to %s: %s", what, path, aside, strerror(errno));
		free(aside);
		db = state_db_try_open(path, &ret);
	}
	if (db == NULL) {
		str_fmt(err, errlen, "cannot open the %s %s: %s", what, path, db_strerror(ret));
		return NULL;
	}
	s = xcalloc(1, sizeof(*s));
	s->db = db;
	s->path = xstrdup(path);
	s->what = xstrdup(what);
	s->value_max = value_max;
	return s;
}

/* state_db_close - flush and close (NULL is fine) */
void state_db_close(struct state_db *s)
{
	if (s == NULL)
		return;
	if (s->db->close(s->db, 0) != 0)
		msg_warn("%s %s: close failed", s->what, s->path);
	free(s->path);
	free(s->what);
	free(s);
}

/* state_db_dbt - a DBT over a text without its NUL */
static DBT state_db_dbt(const char *text)
{
	DBT d;

	memset(&d, 0, sizeof(d));
	d.data = (void *) (uintptr_t) text;
	d.size = (u_int32_t) strlen(text);
	return d;
}

/* state_db_sync - flush the file */
int state_db_sync(struct state_db *s, char *err, size_t errlen)
{
	int ret = s->db->sync(s->db, 0);

	if (ret != 0)
		return state_db_fail(s, err, errlen, "sync: %s", db_strerror(ret));
	return 0;
}

/* state_db_get - the value of key, copied into out */
int state_db_get(struct state_db *s, const char *key, char *out, size_t outlen,
		 char *err, size_t errlen)
{
	DBT k = state_db_dbt(key), v;
	int ret;

	memset(&v, 0, sizeof(v));
	ret = s->db->get(s->db, NULL, &k, &v, 0);
	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0)
		return state_db_fail(s, err, errlen, "read \"%s\": %s", key, db_strerror(ret));
	if (v.size >= outlen || v.size >= s->value_max || memchr(v.data, '\0', v.size) != NULL) {
		msg_warn("%s %s: value of \"%s\" is malformed; dropped", s->what, s->path, key);
		(void) state_db_del(s, key, true, NULL, 0);
		return 0;
	}
	memcpy(out, v.data, v.size);
	out[v.size] = '\0';
	return 1;
}

/* state_db_put - store value under key */
int state_db_put(struct state_db *s, const char *key, const char *value, bool sync,
		 char *err, size_t errlen)
{
	DBT k = state_db_dbt(key), v = state_db_dbt(value);
	int ret;

	if (v.size >= s->value_max)
		return state_db_fail(s, err, errlen, "value of \"%s\" too long (%u bytes); not stored",
				     key, v.size);
	if ((ret = s->db->put(s->db, NULL, &k, &v, 0)) != 0)
		return state_db_fail(s, err, errlen, "write \"%s\": %s", key, db_strerror(ret));
	return sync ? state_db_sync(s, err, errlen) : 0;
}

/* state_db_del - drop key */
int state_db_del(struct state_db *s, const char *key, bool sync, char *err, size_t errlen)
{
	DBT k = state_db_dbt(key);
	int ret = s->db->del(s->db, NULL, &k, 0);

	if (ret == DB_NOTFOUND)
		return 0;
	if (ret != 0)
		return state_db_fail(s, err, errlen, "delete \"%s\": %s", key, db_strerror(ret));
	if (sync && state_db_sync(s, err, errlen) < 0)
		return -1;
	return 1;
}

/* state_db_walk - every well-formed record under prefix; fn may ask to delete it */
int state_db_walk(struct state_db *s, const char *prefix, state_db_walk_fn *fn, void *ctx,
		  char *err, size_t errlen)
{
	size_t plen = strlen(prefix);
	char *key = xmalloc(s->value_max), *val = xmalloc(s->value_max);
	DBC *cur;
	DBT k, v;
	int ret, rc = 0;

	if ((ret = s->db->cursor(s->db, NULL, &cur, 0)) != 0) {
		free(key);
		free(val);
		return state_db_fail(s, err, errlen, "cursor: %s", db_strerror(ret));
	}
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	while ((ret = cur->get(cur, &k, &v, DB_NEXT)) == 0) {
		if (k.size >= s->value_max || v.size >= s->value_max || k.size < plen
		    || memcmp(k.data, prefix, plen) != 0)
			continue;
		memcpy(key, k.data, k.size);
		key[k.size] = '\0';
		memcpy(val, v.data, v.size);
		val[v.size] = '\0';
		if (strlen(key) != k.size || strlen(val) != v.size)
			continue;
		if (fn(key, val, ctx) && (ret = cur->del(cur, 0)) != 0)
			rc = state_db_fail(s, err, errlen, "delete \"%s\": %s", key, db_strerror(ret));
	}
	if (ret != DB_NOTFOUND)
		rc = state_db_fail(s, err, errlen, "walk: %s", db_strerror(ret));
	cur->close(cur);
	free(key);
	free(val);
	return rc;
}
