/*
 * test_state_db - unit tests for lib/mail state_db: create, get/put/del,
 * sync, prefix walks with deletion, malformed values dropped, values
 * too long refused, a damaged file moved aside, errors into err or the
 * log.
 */
#include <db.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/msg.h"
#include "base/str.h"
#include "mail/state_db.h"
#include "tap.h"

#define VALUE_MAX	64

/* raw_put - store a record with Berkeley DB directly (bypassing the checks) */
static int raw_put(const char *path, const void *key, size_t klen, const void *val, size_t vlen)
{
	DB *db;
	DBT k, v;
	int ret;

	if (db_create(&db, NULL, 0) != 0)
		return -1;
	if (db->open(db, NULL, path, NULL, DB_HASH, 0, 0) != 0) {
		db->close(db, 0);
		return -1;
	}
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *) (uintptr_t) key;
	k.size = (u_int32_t) klen;
	v.data = (void *) (uintptr_t) val;
	v.size = (u_int32_t) vlen;
	ret = db->put(db, NULL, &k, &v, 0);
	return db->close(db, 0) == 0 && ret == 0 ? 0 : -1;
}

/* walk_state - what a walk saw */
struct walk_state {
	int seen;
	char keys[256];
};

/* walk_collect - note every key; delete those whose value is "drop" */
static bool walk_collect(const char *key, const char *value, void *ctx)
{
	struct walk_state *w = ctx;
	size_t n = strlen(w->keys);

	w->seen++;
	str_fmt(w->keys + n, sizeof(w->keys) - n, "%s%s", n ? "," : "", key);
	return strcmp(value, "drop") == 0;
}

int main(void)
{
	char dir[] = "/tmp/test_state_db.XXXXXX", path[256], bad[300], err[512], out[VALUE_MAX];
	char longval[VALUE_MAX + 8];
	struct state_db *db;
	struct walk_state w;
	struct stat st;
	FILE *f;

	msg_init("test_state_db");
	if (mkdtemp(dir) == NULL) {
		ok(0, "mkdtemp");
		return tap_done();
	}
	str_fmt(path, sizeof(path), "%s/state.db", dir);
	str_fmt(bad, sizeof(bad), "%s.bad", path);

	db = state_db_open(path, "test state", VALUE_MAX, err, sizeof(err));
	ok(db != NULL, "open creates a missing file");
	ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600, "the file is mode 0600");
	is_int(state_db_get(db, "a", out, sizeof(out), err, sizeof(err)), 0, "get of a missing key: 0");
	is_int(state_db_put(db, "a", "one", true, err, sizeof(err)), 0, "put with sync");
	is_int(state_db_put(db, "b x", "two", false, err, sizeof(err)), 0, "put without sync");
	is_int(state_db_put(db, "b y", "drop", false, err, sizeof(err)), 0, "put another");
	is_int(state_db_get(db, "a", out, sizeof(out), err, sizeof(err)), 1, "get finds it");
	is_str(out, "one", "the value comes back NUL-terminated");
	is_int(state_db_put(db, "a", "uno", true, err, sizeof(err)), 0, "put replaces");
	ok(state_db_get(db, "a", out, sizeof(out), err, sizeof(err)) == 1 && strcmp(out, "uno") == 0,
	   "the new value is read");
	memset(longval, 'x', VALUE_MAX);
	longval[VALUE_MAX] = '\0';
	is_int(state_db_put(db, "long", longval, true, err, sizeof(err)), -1, "a value of value_max bytes is refused");
	ok(strstr(err, "test state") != NULL && strstr(err, path) != NULL && strstr(err, "too long") != NULL,
	   "the error names the file and the reason: %s", err);
	is_int(state_db_put(db, "long", longval, true, NULL, 0), -1, "with err NULL: logged, still -1");
	is_int(state_db_get(db, "a", out, 3, err, sizeof(err)), 0, "a value larger than out is malformed: 0");
	is_int(state_db_get(db, "a", out, sizeof(out), err, sizeof(err)), 0, "... and it was dropped");
	is_int(state_db_sync(db, err, sizeof(err)), 0, "sync");

	memset(&w, 0, sizeof(w));
	is_int(state_db_walk(db, "b ", walk_collect, &w, err, sizeof(err)), 0, "walk under a prefix");
	is_int(w.seen, 2, "the walk sees the two records under the prefix");
	ok(strstr(w.keys, "b x") != NULL && strstr(w.keys, "b y") != NULL, "both keys: %s", w.keys);
	is_int(state_db_get(db, "b y", out, sizeof(out), err, sizeof(err)), 0, "fn's true deleted the record");
	is_int(state_db_get(db, "b x", out, sizeof(out), err, sizeof(err)), 1, "the other one stays");
	is_int(state_db_del(db, "b x", true, err, sizeof(err)), 1, "del: 1");
	is_int(state_db_del(db, "b x", true, err, sizeof(err)), 0, "del again: 0");
	state_db_close(db);

	ok(raw_put(path, "nul", 3, "a\0b", 3) == 0 && raw_put(path, "c nul", 5, "a\0b", 3) == 0
	   && raw_put(path, "c ok", 4, "fine", 4) == 0, "records with NUL bytes written behind its back");
	db = state_db_open(path, "test state", VALUE_MAX, err, sizeof(err));
	ok(db != NULL, "reopen keeps the file");
	is_int(state_db_get(db, "nul", out, sizeof(out), err, sizeof(err)), 0, "a value with a NUL is malformed: 0");
	memset(&w, 0, sizeof(w));
	is_int(state_db_walk(db, "c ", walk_collect, &w, err, sizeof(err)), 0, "walk over a malformed record");
	is_str(w.keys, "c ok", "the walk skips the malformed record");
	state_db_close(db);

	ok((f = fopen(path, "w")) != NULL && fputs("this is not a Berkeley DB file\n", f) >= 0
	   && fclose(f) == 0, "damage the file");
	db = state_db_open(path, "test state", VALUE_MAX, err, sizeof(err));
	ok(db != NULL, "a damaged file does not stop the open");
	ok(stat(bad, &st) == 0 && st.st_size > 0, "the damaged file was moved aside to .bad");
	is_int(state_db_get(db, "c ok", out, sizeof(out), err, sizeof(err)), 0, "the new file starts empty");
	state_db_close(db);
	state_db_close(NULL);

	str_fmt(path, sizeof(path), "%s/no/such/dir/state.db", dir);
	ok(state_db_open(path, "test state", VALUE_MAX, err, sizeof(err)) == NULL
	   && strstr(err, "cannot open the test state") != NULL, "a missing directory is an error: %s", err);

	str_fmt(path, sizeof(path), "%s/state.db", dir);
	unlink(path);
	unlink(bad);
	rmdir(dir);
	return tap_done();
}
