/*
 * table_db - hash: and btree: tables in Berkeley DB files, and building
 * them (ternmap).
 *
 * "hash:/etc/tern/aliases" reads /etc/tern/aliases.db (DB_HASH; btree:
 * uses DB_BTREE), opened read-only without an environment. As in Postfix,
 * keys and values are stored with their terminating NUL; a lookup also
 * tries the key without the NUL until the table shows which form it uses,
 * so tables made by other tools work too.
 *
 * Writers never change a .db in place: table_db_build and table_db_delete
 * write a temporary file in the same directory, fsync it, and rename(2)
 * it over the old one, holding an exclusive open-file-description lock
 * (fcntl F_OFD_SETLKW) on the old .db so concurrent writers take turns.
 * A reader keeps its open file until it notices, at the next lookup, that
 * the path names a new inode; then it opens the new file. So a reader
 * sees the old table or the new one, never a half-built one.
 *
 * Failures: open errors name the file and carry Berkeley DB's message;
 * a lookup that the database cannot answer is a temporary error (-1).
 */
#include <db.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/table.h"

#define TABLE_DB_TRY1NULL	(1 << 0)	/* keys stored with their NUL */
#define TABLE_DB_TRY0NULL	(1 << 1)	/* keys stored without */
#define TABLE_DB_BUILD_CACHE	(8 * 1024 * 1024)

/* table_db - an open hash: or btree: table */
struct table_db {
	struct table t;
	DB *db;
	DBC *cursor;			/* for table_next */
	DBTYPE dbtype;
	char *src;			/* the text file */
	char *path;			/* the .db file */
	dev_t dev;			/* of the open .db, to notice a rebuild */
	ino_t ino;
	int try_null;			/* TABLE_DB_TRY*NULL */
	bool warned_stale;		/* "run ternmap" said once */
	bool warned_reopen;		/* a failed reopen said once */
	struct buf lkey;		/* table_next key */
};

/* Berkeley DB reports details through a callback; keep the last one */
static char table_db_lasterr[256];

/* table_db_errcall - remember Berkeley DB's last message */
static void table_db_errcall(const DB_ENV *env, const char *prefix, const char *text)
{
	(void) env;
	(void) prefix;
	str_copy(table_db_lasterr, text, sizeof(table_db_lasterr));
}

/* table_db_strerror - Berkeley DB's text for ret, plus its last message */
static const char *table_db_strerror(int ret, char *buf, size_t len)
{
	if (table_db_lasterr[0])
		str_fmt(buf, len, "%s (%s)", db_strerror(ret), table_db_lasterr);
	else
		str_fmt(buf, len, "%s", db_strerror(ret));
	return buf;
}

/* table_db_errno - an errno value for a Berkeley DB return code */
static int table_db_errno(int ret)
{
	return ret > 0 ? ret : EIO;
}

/* table_db_type - DB_HASH or DB_BTREE for a type name, else DB_UNKNOWN */
static DBTYPE table_db_type(const char *type)
{
	if (strcmp(type, "hash") == 0)
		return DB_HASH;
	if (strcmp(type, "btree") == 0)
		return DB_BTREE;
	return DB_UNKNOWN;
}

/* table_db_handle - a new DB handle with our error callback */
static int table_db_handle(DB **dbp, char *err, size_t errlen)
{
	int ret = db_create(dbp, NULL, 0);

	if (ret != 0) {
		str_fmt(err, errlen, "db_create: %s", db_strerror(ret));
		errno = table_db_errno(ret);
		return -1;
	}
	(*dbp)->set_errcall(*dbp, table_db_errcall);
	return 0;
}

/* table_db_open_file - open path read-only; the DB and its file's identity */
static int table_db_open_file(const char *path, DBTYPE dbtype, DB **dbp, struct stat *st,
			      char *err, size_t errlen)
{
	char why[512];
	DB *db;
	int fd;
	int ret;

	if (table_db_handle(&db, err, errlen) < 0)
		return -1;
	table_db_lasterr[0] = '\0';
	ret = db->open(db, NULL, path, NULL, dbtype, DB_RDONLY, 0);
	if (ret == 0 && (ret = db->fd(db, &fd)) == 0 && fstat(fd, st) < 0)
		ret = errno;
	if (ret != 0) {
		if (ret == EINVAL)
			str_fmt(err, errlen, "cannot open %s: not a Berkeley DB %s file%s%s%s", path,
				dbtype == DB_HASH ? "hash" : "btree", table_db_lasterr[0] ? " (" : "",
				table_db_lasterr, table_db_lasterr[0] ? ")" : "");
		else
			str_fmt(err, errlen, "cannot open %s: %s", path,
				table_db_strerror(ret, why, sizeof(why)));
		db->close(db, 0);
		errno = ret == EINVAL ? EINVAL : table_db_errno(ret);
		return -1;
	}
	*dbp = db;
	return 0;
}

/* table_db_stale_check - warn once when the text file is newer than the .db */
static void table_db_stale_check(struct table_db *d, const struct stat *dbst)
{
	struct stat st;

	if (d->warned_stale || stat(d->src, &st) < 0)
		return;
	if (st.st_mtim.tv_sec > dbst->st_mtim.tv_sec ||
	    (st.st_mtim.tv_sec == dbst->st_mtim.tv_sec && st.st_mtim.tv_nsec > dbst->st_mtim.tv_nsec)) {
		const char *type = d->dbtype == DB_HASH ? "hash" : "btree";

		msg_warn("%s:%s: %s is newer than %s: run \"ternmap %s:%s\"", type, d->src,
			 d->src, d->path, type, d->src);
		d->warned_stale = true;
	}
}

/* table_db_refresh - reopen when the .db was replaced; keep the old one on trouble */
static void table_db_refresh(struct table_db *d)
{
	char err[TABLE_ERR_SIZE];
	struct stat st;
	DB *db;

	if (stat(d->path, &st) < 0 || (st.st_dev == d->dev && st.st_ino == d->ino))
		return;
	if (table_db_open_file(d->path, d->dbtype, &db, &st, err, sizeof(err)) < 0) {
		if (!d->warned_reopen)
			msg_warn("%s: %s changed, keeping the old table: %s", d->t.spec, d->path, err);
		d->warned_reopen = true;
		return;
	}
	if (d->cursor)
		d->cursor->close(d->cursor);
	d->cursor = NULL;
	d->db->close(d->db, 0);
	d->db = db;
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	d->try_null = TABLE_DB_TRY1NULL | TABLE_DB_TRY0NULL;
	d->warned_reopen = false;
	d->warned_stale = false;
	table_db_stale_check(d, &st);
}

/* table_db_get - one get with or without the NUL: 1, 0, -1 */
static int table_db_get(struct table_db *d, const char *key, size_t size, DBT *val,
			char *err, size_t errlen)
{
	char why[512];
	DBT k;
	int ret;

	memset(&k, 0, sizeof(k));
	memset(val, 0, sizeof(*val));
	k.data = (void *) key;
	k.size = (u_int32_t) size;
	table_db_lasterr[0] = '\0';
	ret = d->db->get(d->db, NULL, &k, val, 0);
	if (ret == 0)
		return 1;
	if (ret == DB_NOTFOUND || ret == DB_KEYEMPTY)
		return 0;
	str_fmt(err, errlen, "%s: cannot read %s: %s", d->t.spec, d->path,
		table_db_strerror(ret, why, sizeof(why)));
	errno = table_db_errno(ret);
	return -1;
}

/* table_db_copy - a DBT as a C string into b (trailing NUL dropped) */
static int table_db_copy(struct buf *b, const DBT *v)
{
	size_t len = v->size;

	if (len > 0 && ((const char *) v->data)[len - 1] == '\0')
		len--;
	buf_reset(b);
	return buf_append(b, v->data, len);
}

/* table_db_lookup - look the key up, with the NUL first, as Postfix */
static int table_db_lookup(struct table *t, const char *key, const char **value,
			   char *err, size_t errlen)
{
	struct table_db *d = (struct table_db *) t;
	size_t len = strlen(key);
	DBT v;
	int rc = 0;

	table_db_refresh(d);
	if (d->try_null & TABLE_DB_TRY1NULL) {
		rc = table_db_get(d, key, len + 1, &v, err, errlen);
		if (rc == 1)
			d->try_null = TABLE_DB_TRY1NULL;
	}
	if (rc == 0 && (d->try_null & TABLE_DB_TRY0NULL) && len > 0) {
		rc = table_db_get(d, key, len, &v, err, errlen);
		if (rc == 1)
			d->try_null = TABLE_DB_TRY0NULL;
	}
	if (rc != 1)
		return rc;
	if (table_db_copy(&t->value, &v) < 0) {
		str_fmt(err, errlen, "%s: value of '%.100s' longer than %d bytes", t->spec, key,
			TABLE_VALUE_MAX);
		errno = EINVAL;
		return -1;
	}
	*value = t->value.data;
	return 1;
}

/* table_db_next - walk the table with a cursor */
static int table_db_next(struct table *t, bool first, const char **key, const char **value,
			 char *err, size_t errlen)
{
	struct table_db *d = (struct table_db *) t;
	char why[512];
	DBT k, v;
	int ret;

	if (first) {
		if (d->cursor)
			d->cursor->close(d->cursor);
		d->cursor = NULL;
		table_db_refresh(d);
		table_db_lasterr[0] = '\0';
		if ((ret = d->db->cursor(d->db, NULL, &d->cursor, 0)) != 0) {
			d->cursor = NULL;
			str_fmt(err, errlen, "%s: cannot read %s: %s", t->spec, d->path,
				table_db_strerror(ret, why, sizeof(why)));
			errno = table_db_errno(ret);
			return -1;
		}
	}
	if (d->cursor == NULL)
		return 0;
	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	table_db_lasterr[0] = '\0';
	ret = d->cursor->get(d->cursor, &k, &v, DB_NEXT);
	if (ret == DB_NOTFOUND) {
		d->cursor->close(d->cursor);
		d->cursor = NULL;
		return 0;
	}
	if (ret != 0) {
		str_fmt(err, errlen, "%s: cannot read %s: %s", t->spec, d->path,
			table_db_strerror(ret, why, sizeof(why)));
		errno = table_db_errno(ret);
		return -1;
	}
	if (table_db_copy(&d->lkey, &k) < 0 || table_db_copy(&t->value, &v) < 0) {
		str_fmt(err, errlen, "%s: entry longer than %d bytes in %s", t->spec,
			TABLE_VALUE_MAX, d->path);
		errno = EINVAL;
		return -1;
	}
	*key = d->lkey.data;
	*value = t->value.data;
	return 1;
}

/* table_db_close - close the database and free the table */
static void table_db_close(struct table *t)
{
	struct table_db *d = (struct table_db *) t;

	if (d->cursor)
		d->cursor->close(d->cursor);
	if (d->db)
		d->db->close(d->db, 0);
	free(d->src);
	free(d->path);
	buf_free(&d->lkey);
	free(d);
}

/* table_db_open - open name.db read-only */
struct table *table_db_open(const char *type, const char *name, int flags,
			    char *err, size_t errlen)
{
	struct table_db *d;
	struct stat st;
	DB *db;

	(void) flags;
	if (*name == '\0') {
		str_fmt(err, errlen, "%s: missing file name (%s:/path/name)", type, type);
		errno = EINVAL;
		return NULL;
	}
	d = xcalloc(1, sizeof(*d));
	d->dbtype = table_db_type(type);
	d->src = xstrdup(name);
	d->path = str_dupf("%s.db", name);
	if (table_db_open_file(d->path, d->dbtype, &db, &st, err, errlen) < 0) {
		int saved = errno;

		table_db_close(&d->t);
		errno = saved;
		return NULL;
	}
	d->db = db;
	d->dev = st.st_dev;
	d->ino = st.st_ino;
	d->try_null = TABLE_DB_TRY1NULL | TABLE_DB_TRY0NULL;
	buf_init(&d->lkey, TABLE_VALUE_MAX);
	d->t.lookup = table_db_lookup;
	d->t.next = table_db_next;
	d->t.close = table_db_close;
	table_db_stale_check(d, &st);
	return &d->t;
}

/*
 * Writing. table_db_writer holds what one rebuild needs, so that every
 * error path can clean up in one place (table_db_writer_abort).
 */
struct table_db_writer {
	char *path;			/* the .db */
	char *tmp;			/* the temporary file */
	int tmpfd;
	int lockfd;			/* the locked old .db, or -1 */
	DB *db;				/* the new database */
};

/* table_db_lock - lock the current .db (retry if it is replaced meanwhile) */
static int table_db_lock(struct table_db_writer *w, bool must_exist, char *err, size_t errlen)
{
	struct flock fl;
	struct stat a, b;

	for (int tries = 0; tries < 100; tries++) {
		int fd = open(w->path, O_RDWR | O_CLOEXEC);

		if (fd < 0) {
			int saved = errno;

			if (saved == ENOENT && !must_exist) {
				w->lockfd = -1;
				return 0;
			}
			str_fmt(err, errlen, "cannot open %s: %s", w->path, strerror(saved));
			errno = saved;
			return -1;
		}
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fcntl(fd, F_OFD_SETLKW, &fl) < 0) {
			int saved = errno;

			close(fd);
			str_fmt(err, errlen, "cannot lock %s: %s", w->path, strerror(saved));
			errno = saved == EACCES ? EAGAIN : saved;
			return -1;
		}
		if (fstat(fd, &a) == 0 && stat(w->path, &b) == 0 &&
		    a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
			w->lockfd = fd;
			return 0;
		}
		close(fd);			/* replaced while we waited: lock the new one */
	}
	str_fmt(err, errlen, "cannot lock %s: it keeps being replaced", w->path);
	errno = EAGAIN;
	return -1;
}

/* table_db_writer_start - lock, then create the temporary database */
static int table_db_writer_start(struct table_db_writer *w, const char *path, DBTYPE dbtype,
				 bool must_exist, char *err, size_t errlen)
{
	char why[512];
	int ret;

	memset(w, 0, sizeof(*w));
	w->tmpfd = -1;
	w->lockfd = -1;
	w->path = str_dupf("%s.db", path);
	if (table_db_lock(w, must_exist, err, errlen) < 0)
		return -1;
	w->tmp = str_dupf("%s.XXXXXX", w->path);
	if ((w->tmpfd = mkostemp(w->tmp, O_CLOEXEC)) < 0) {
		int saved = errno;

		str_fmt(err, errlen, "cannot create %s: %s", w->tmp, strerror(saved));
		free(w->tmp);
		w->tmp = NULL;
		errno = saved;
		return -1;
	}
	if (table_db_handle(&w->db, err, errlen) < 0)
		return -1;
	w->db->set_cachesize(w->db, 0, TABLE_DB_BUILD_CACHE, 1);
	table_db_lasterr[0] = '\0';
	ret = w->db->open(w->db, NULL, w->tmp, NULL, dbtype, DB_CREATE, 0600);
	if (ret != 0) {
		str_fmt(err, errlen, "cannot create %s: %s", w->tmp,
			table_db_strerror(ret, why, sizeof(why)));
		errno = table_db_errno(ret);
		return -1;
	}
	return 0;
}

/* table_db_writer_abort - undo everything: the old .db stays as it was */
static void table_db_writer_abort(struct table_db_writer *w)
{
	int saved = errno;

	if (w->db)
		w->db->close(w->db, DB_NOSYNC);
	if (w->tmpfd >= 0)
		close(w->tmpfd);
	if (w->tmp)
		unlink(w->tmp);
	if (w->lockfd >= 0)
		close(w->lockfd);
	free(w->tmp);
	free(w->path);
	memset(w, 0, sizeof(*w));
	errno = saved;
}

/* table_db_put - store key and value with their NULs; 1 new, 0 replaced, -1 */
static int table_db_put(struct table_db_writer *w, const char *key, size_t klen,
			const char *value, size_t vlen, char *err, size_t errlen)
{
	char why[512];
	DBT k, v;
	int ret;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	k.data = (void *) key;
	k.size = (u_int32_t) klen;
	v.data = (void *) value;
	v.size = (u_int32_t) vlen;
	table_db_lasterr[0] = '\0';
	ret = w->db->put(w->db, NULL, &k, &v, DB_NOOVERWRITE);
	if (ret == DB_KEYEXIST) {
		ret = w->db->put(w->db, NULL, &k, &v, 0);
		if (ret == 0)
			return 0;
	}
	if (ret != 0) {
		str_fmt(err, errlen, "cannot write %s: %s", w->tmp,
			table_db_strerror(ret, why, sizeof(why)));
		errno = table_db_errno(ret);
		return -1;
	}
	return 1;
}

/* table_db_fsync_dir - make the rename durable */
static int table_db_fsync_dir(const char *path)
{
	char *copy = xstrdup(path);
	int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = -1;

	if (fd >= 0) {
		rc = fsync(fd);
		close(fd);
	}
	free(copy);
	return rc;
}

/* table_db_writer_commit - close, set owner and mode, fsync, rename into place */
static int table_db_writer_commit(struct table_db_writer *w, const struct stat *like,
				  char *err, size_t errlen)
{
	char why[512];
	mode_t mode = like->st_mode & 0666;
	struct stat st;
	int ret;

	table_db_lasterr[0] = '\0';
	ret = w->db->close(w->db, 0);
	w->db = NULL;
	if (ret != 0) {
		str_fmt(err, errlen, "cannot write %s: %s", w->tmp,
			table_db_strerror(ret, why, sizeof(why)));
		errno = table_db_errno(ret);
		return -1;
	}
	/* the owner of the text file; if we may not, no group bits for a foreign group */
	if (fchown(w->tmpfd, like->st_uid, like->st_gid) < 0 &&
	    (fstat(w->tmpfd, &st) < 0 || st.st_gid != like->st_gid))
		mode &= ~(mode_t) 0070;
	if (fchmod(w->tmpfd, mode) < 0 || fsync(w->tmpfd) < 0) {
		int saved = errno;

		str_fmt(err, errlen, "cannot write %s: %s", w->tmp, strerror(saved));
		errno = saved;
		return -1;
	}
	if (close(w->tmpfd) < 0) {
		int saved = errno;

		w->tmpfd = -1;
		str_fmt(err, errlen, "cannot write %s: %s", w->tmp, strerror(saved));
		errno = saved;
		return -1;
	}
	w->tmpfd = -1;
	if (rename(w->tmp, w->path) < 0) {
		int saved = errno;

		str_fmt(err, errlen, "cannot rename %s to %s: %s", w->tmp, w->path, strerror(saved));
		errno = saved;
		return -1;
	}
	free(w->tmp);
	w->tmp = NULL;
	if (table_db_fsync_dir(w->path) < 0) {
		int saved = errno;

		str_fmt(err, errlen, "cannot sync the directory of %s: %s", w->path, strerror(saved));
		errno = saved;
		return -1;
	}
	return 0;
}

/* table_db_build - build path.db from the text file path */
int table_db_build(const char *type, const char *path, int flags, char *err, size_t errlen)
{
	DBTYPE dbtype = table_db_type(type);
	struct table_db_writer w;
	struct table_reader r;
	struct stat st;
	char *key, *value;
	int rc;

	if (dbtype == DB_UNKNOWN) {
		str_fmt(err, errlen, "%s: only hash and btree tables are built from a file", type);
		errno = ENOTSUP;
		return -1;
	}
	if (table_reader_open(&r, path, err, errlen) < 0)
		return -1;
	if (fstat(fileno(r.fp), &st) < 0) {
		int saved = errno;

		str_fmt(err, errlen, "cannot stat %s: %s", path, strerror(saved));
		table_reader_close(&r);
		errno = saved;
		return -1;
	}
	if (table_db_writer_start(&w, path, dbtype, false, err, errlen) < 0) {
		table_db_writer_abort(&w);
		table_reader_close(&r);
		return -1;
	}
	while ((rc = table_reader_entry(&r, flags, &key, &value, err, errlen)) > 0) {
		rc = table_db_put(&w, key, strlen(key) + 1, value, strlen(value) + 1, err, errlen);
		if (rc < 0)
			break;
		if (rc == 0)
			msg_warn("%s:%d: duplicate key '%.100s': the last one wins", path, r.start, key);
	}
	if (rc == 0)
		rc = table_db_writer_commit(&w, &st, err, errlen);
	table_db_writer_abort(&w);
	table_reader_close(&r);
	return rc < 0 ? -1 : 0;
}

/* table_db_key_listed - is the stored key k one of keys */
static bool table_db_key_listed(const DBT *k, char **keys, size_t nkeys)
{
	size_t len = k->size;

	if (len > 0 && ((const char *) k->data)[len - 1] == '\0')
		len--;
	for (size_t i = 0; i < nkeys; i++)
		if (strlen(keys[i]) == len && memcmp(keys[i], k->data, len) == 0)
			return true;
	return false;
}

/* table_db_copy_except - copy every entry of old into w except keys */
static int table_db_copy_except(DB *old, const char *path, struct table_db_writer *w,
				char **keys, size_t nkeys, size_t *deleted,
				char *err, size_t errlen)
{
	char why[512];
	DBC *cursor;
	DBT k, v;
	int ret;

	table_db_lasterr[0] = '\0';
	if ((ret = old->cursor(old, NULL, &cursor, 0)) != 0) {
		str_fmt(err, errlen, "cannot read %s: %s", path, table_db_strerror(ret, why, sizeof(why)));
		errno = table_db_errno(ret);
		return -1;
	}
	for (;;) {
		memset(&k, 0, sizeof(k));
		memset(&v, 0, sizeof(v));
		ret = cursor->get(cursor, &k, &v, DB_NEXT);
		if (ret != 0)
			break;
		if (table_db_key_listed(&k, keys, nkeys)) {
			(*deleted)++;
			continue;
		}
		if (table_db_put(w, k.data, k.size, v.data, v.size, err, errlen) < 0) {
			cursor->close(cursor);
			return -1;
		}
	}
	cursor->close(cursor);
	if (ret != DB_NOTFOUND) {
		str_fmt(err, errlen, "cannot read %s: %s", path, table_db_strerror(ret, why, sizeof(why)));
		errno = table_db_errno(ret);
		return -1;
	}
	return 0;
}

/* table_db_delete - remove keys by an atomic rebuild of path.db */
int table_db_delete(const char *type, const char *path, const char *const *keys,
		    size_t nkeys, int flags, size_t *deleted, char *err, size_t errlen)
{
	DBTYPE dbtype = table_db_type(type);
	struct table_db_writer w;
	char **folded;
	struct stat st, oldst;
	DB *old = NULL;
	int rc = -1;

	*deleted = 0;
	if (dbtype == DB_UNKNOWN) {
		str_fmt(err, errlen, "%s: keys can be deleted only from hash and btree tables", type);
		errno = ENOTSUP;
		return -1;
	}
	folded = xcalloc(nkeys + 1, sizeof(char *));
	for (size_t i = 0; i < nkeys; i++) {
		folded[i] = xstrdup(keys[i]);
		if (table_fold(flags, true))
			str_lower(folded[i]);
	}
	if (table_db_writer_start(&w, path, dbtype, true, err, errlen) == 0) {
		/* the lock is held on the current .db: its owner and mode carry over */
		if (fstat(w.lockfd, &st) < 0) {
			str_fmt(err, errlen, "cannot stat %s: %s", w.path, strerror(errno));
		} else if (table_db_open_file(w.path, dbtype, &old, &oldst, err, errlen) == 0 &&
			   table_db_copy_except(old, w.path, &w, folded, nkeys, deleted, err, errlen) == 0) {
			rc = (*deleted == 0) ? 0 : table_db_writer_commit(&w, &st, err, errlen);
		}
	}
	if (old)
		old->close(old, 0);
	table_db_writer_abort(&w);
	for (size_t i = 0; i < nkeys; i++)
		free(folded[i]);
	free(folded);
	return rc;
}
