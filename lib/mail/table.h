/*
 * table - lookup tables named "type:name", one API for every type.
 *
 * Types (man tern-tables(5) has the file formats):
 *
 *	hash:/path	Berkeley DB DB_HASH file /path.db, built by ternmap
 *	btree:/path	Berkeley DB DB_BTREE file /path.db, built by ternmap
 *	texthash:/path	the same text format, read into memory at open
 *	pcre:/path	/regexp/flags result lines, if/endif, $1 substitution
 *	cidr:/path	network/prefix result lines, IPv4 and IPv6
 *	inline:{k=v, ...}  a small table written in place
 *	static:value	every key gives value
 *	unix:passwd.byname  the system's users (getpwnam_r): "uid:gid:home"
 *	proxy:type:name	type:name looked up by the proxymap service, for
 *			chrooted and unprivileged daemons (proxymap_proto.h)
 *
 * Keys of the exact types (hash, btree, texthash, inline) are stored
 * folded to lower case (unless built with ternmap -f), so their lookups
 * fold the key too (unix: folds user names the same way); pcre and cidr
 * see the key as given (pcre matches case-insensitively by default), and
 * proxy: leaves it to the table behind it. Exact keys are limited to
 * TABLE_KEY_MAX bytes: a longer key is simply not found, never cut.
 *
 * Invariants: a value returned by a lookup stays valid until the next
 * lookup on the same table or its close. hash:/btree: tables never see a
 * half-built file: ternmap replaces the .db by rename(2), and a lookup
 * notices the new file (by inode) and reopens it.
 *
 * Failures: table_open returns NULL with a message that names the table
 * and, for file syntax errors, "file:line"; errno then says what kind:
 * ENOENT (a file is missing), EINVAL (bad syntax or data), ENOTSUP
 * (unknown type, or an operation the type cannot do), anything else a
 * system or database error. table_lookup returns -1 only for temporary
 * trouble (I/O, a database error, a result too long), with a reason;
 * callers should defer, not reject.
 */
#ifndef TERN_MAIL_TABLE_H
#define TERN_MAIL_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "base/buf.h"

#define TABLE_KEY_MAX		1024		/* longest key of an exact table */
#define TABLE_PATTERN_KEY_MAX	(1024 * 1024)	/* longest key a pcre: table matches */
#define TABLE_LINE_MAX		(64 * 1024)	/* longest logical line of a table file */
#define TABLE_VALUE_MAX		(64 * 1024)	/* longest result */
#define TABLE_ERR_SIZE		1024		/* a good size for err buffers */
#define TABLE_PASSWD_NAME_MAX	255		/* longest user name unix:passwd.byname looks up */

/* flags for table_open and tables_open */
#define TABLE_FOLD_KEY	(1 << 0)	/* fold keys to lower case for every type, pcre included */
#define TABLE_KEEP_CASE	(1 << 1)	/* never fold (tables built with ternmap -f) */
#define TABLE_ALIAS_FORMAT (1 << 2)	/* text source in aliases(5) form: "name: value" */

struct table;

/*
 * table_open - open "type:name". NULL on failure with the reason in
 * err[errlen] and errno set as described above.
 */
struct table *table_open(const char *spec, int flags, char *err, size_t errlen);
/*
 * table_lookup - 1 found (*value set), 0 not found, -1 temporary error
 * (reason in err[errlen]).
 */
int table_lookup(struct table *t, const char *key, const char **value,
		 char *err, size_t errlen);
/*
 * table_next - walk all entries of a hash, btree, texthash or inline
 * table: first restarts the walk. 1 gives an entry (valid until the next
 * call), 0 the end, -1 an error (ENOTSUP for types that cannot list).
 */
int table_next(struct table *t, bool first, const char **key, const char **value,
	       char *err, size_t errlen);
/* table_spec - the "type:name" the table was opened with */
const char *table_spec(const struct table *t);
/* table_type - "hash", "pcre", ... */
const char *table_type(const struct table *t);
void table_close(struct table *t);
/* table_types - the known types, "btree, cidr, ..." (for messages) */
const char *table_types(void);

/*
 * A list of tables searched in order, first match wins, as in
 * "alias_maps = hash:/etc/tern/aliases, texthash:/etc/tern/more".
 * Specs are separated by commas and/or white space; braces (inline:{...},
 * static:{...}) protect what they enclose. A temporary error in one table
 * stops the search (a later table must not answer for it).
 */
struct tables;

/* tables_open - open every spec of list; NULL (nothing left open) on the first failure */
struct tables *tables_open(const char *list, int flags, char *err, size_t errlen);
/* tables_open_vector - the same for a NULL-terminated array of specs */
struct tables *tables_open_vector(const char *const *specs, int flags, char *err, size_t errlen);
/* tables_lookup - as table_lookup over the list; *which (may be NULL) gets the table that answered */
int tables_lookup(struct tables *ts, const char *key, const char **value,
		  const struct table **which, char *err, size_t errlen);
/* tables_count - number of tables in the list */
size_t tables_count(const struct tables *ts);
void tables_close(struct tables *ts);
/*
 * tables_split - split a list into specs as tables_open does: a
 * NULL-terminated array (free with tables_split_free); NULL with err on
 * unbalanced braces.
 */
char **tables_split(const char *list, char *err, size_t errlen);
void tables_split_free(char **specs);

/*
 * hash:/btree: files. table_db_build reads the text file path and
 * replaces path.db atomically: a temporary file in the same directory,
 * fsync, rename(2), under an exclusive lock on the old .db (so two
 * ternmaps never lose each other's change). The new .db gets the text
 * file's owner (when we may chown) and its permission bits without
 * execute. Duplicate keys: the last one wins, with a warning naming
 * file:line. TABLE_KEEP_CASE keeps key case (ternmap -f).
 * table_db_delete removes keys by the same atomic rebuild, keeping the
 * .db's owner and mode; *deleted counts the keys that were there. Both
 * return 0, or -1 with err and errno (as table_open).
 */
int table_db_build(const char *type, const char *path, int flags, char *err, size_t errlen);
int table_db_delete(const char *type, const char *path, const char *const *keys,
		    size_t nkeys, int flags, size_t *deleted, char *err, size_t errlen);

/*
 * proxy: client settings, for the whole process. table_proxy_set_timeout
 * bounds each lookup (connect, request and reply together) in seconds;
 * daemons should pass ipc_timeout, whose default TABLE_PROXY_TIMEOUT is.
 * table_proxy_set_socket names the proxymap socket; NULL restores
 * "private/proxymap", relative to the working directory (queue_directory
 * in daemons); tools pass an absolute path. A change closes the
 * connection that is kept open between lookups.
 */
#define TABLE_PROXY_TIMEOUT	3600
void table_proxy_set_timeout(int seconds);
void table_proxy_set_socket(const char *path);
/*
 * table_proxy_set_cache_time - how long each proxy: table keeps recent
 * "found" and "not found" answers, in seconds: 0 asks proxymap every
 * time, < 0 restores TABLE_PROXY_CACHE_TIME. Kept answers are forgotten.
 */
#define TABLE_PROXY_CACHE_TIME	10
void table_proxy_set_cache_time(int seconds);

/*
 * Module interface (table.c and table_*.c only). Each type embeds
 * struct table first in its own struct and fills in the methods.
 */
struct table {
	const char *type;		/* static string */
	char *spec;			/* "type:name", set by table_open */
	int flags;
	bool fold;			/* fold lookup keys (type default and flags) */
	size_t key_max;			/* longer keys are not found */
	struct buf value;		/* a result built at lookup time */
	struct buf key;			/* the folded key */
	int (*lookup)(struct table *t, const char *key, const char **value,
		      char *err, size_t errlen);
	/* next - may be NULL: the type cannot list */
	int (*next)(struct table *t, bool first, const char **key, const char **value,
		    char *err, size_t errlen);
	/* close - free what the module allocated, including t itself */
	void (*close)(struct table *t);
};

/* open functions: name is what follows "type:"; t->spec is set later */
struct table *table_db_open(const char *type, const char *name, int flags,
			    char *err, size_t errlen);
struct table *table_texthash_open(const char *type, const char *name, int flags,
				  char *err, size_t errlen);
struct table *table_pcre_open(const char *type, const char *name, int flags,
			      char *err, size_t errlen);
struct table *table_cidr_open(const char *type, const char *name, int flags,
			      char *err, size_t errlen);
struct table *table_inline_open(const char *type, const char *name, int flags,
				char *err, size_t errlen);
struct table *table_inline_static_open(const char *type, const char *name, int flags,
				char *err, size_t errlen);
struct table *table_passwd_open(const char *type, const char *name, int flags,
				char *err, size_t errlen);
/* table_passwd_name_ok - may unix:passwd.byname find name; false: "not found" unasked */
bool table_passwd_name_ok(const char *name);
struct table *table_proxy_open(const char *type, const char *name, int flags,
			       char *err, size_t errlen);

/*
 * table_reader - logical lines of a table file: '#' comment lines and
 * blank lines are skipped, a line that starts with white space continues
 * the previous one (comments and blank lines in between do not end it).
 * Lines are limited to TABLE_LINE_MAX bytes; a NUL byte is an error.
 */
struct table_reader {
	FILE *fp;
	const char *path;
	int lineno;			/* last physical line read */
	int start;			/* first physical line of r->line */
	struct buf line;		/* the logical line, trailing white space removed */
	struct buf next;		/* a physical line read ahead */
	int next_lineno;
	bool have_next;
	bool eof;
};

/* table_reader_open - 0, or -1 with err (errno as from open) */
int table_reader_open(struct table_reader *r, const char *path, char *err, size_t errlen);
/* table_reader_next - 1 a logical line in r->line, 0 at the end, -1 error (err has file:line) */
int table_reader_next(struct table_reader *r, char *err, size_t errlen);
/*
 * table_reader_entry - the next "key whitespace value" line: key folded
 * unless TABLE_KEEP_CASE; pointers into r->line. 1, 0 at the end, -1 with
 * err "file:line: ..." (errno EINVAL for syntax).
 */
int table_reader_entry(struct table_reader *r, int flags, char **key, char **value,
		       char *err, size_t errlen);
void table_reader_close(struct table_reader *r);
/* table_fold - should keys of this table be folded (type default and flags) */
bool table_fold(int flags, bool exact);

#endif
