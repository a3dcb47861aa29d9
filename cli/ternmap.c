/*
 * ternmap - build, query, list and edit lookup tables, like Postfix's
 * postmap(1).
 *
 *	ternmap [-c DIR] [-fN] type:file ...		build (hash, btree) or check (others)
 *	ternmap [-c DIR] [-fN] -q KEY|- type:name ...	query, first table that has it wins
 *	ternmap [-c DIR] [-fN] -d KEY|- type:file ...	delete (hash, btree)
 *	ternmap [-c DIR] [-fN] -s type:name ...		list (hash, btree, texthash, inline)
 *
 * All the work is in lib/mail/table*.c; this file parses options, maps
 * errors to sysexits.h codes and prints results. Errors go to stderr as
 * "ternmap: error: file:line: reason". A name without "type:" means
 * hash:. Exit 0 on success, 1 when -q/-d found nothing, else a sysexits
 * code: 64 usage, 65 bad table data, 66 missing input, 75 temporary
 * failure (lock, database or I/O error), 77 permission denied.
 *
 * proxy: tables are asked of the proxymap service of the instance that
 * -c DIR (else the default configuration directory) describes: its
 * socket under queue_directory, ipc_timeout per lookup. A configuration
 * that does not load is exit 78; no answer from proxymap is 75.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/proxymap_proto.h"
#include "mail/table.h"

/* ternmap_opts - what the command line asked for */
struct ternmap_opts {
	int flags;			/* TABLE_KEEP_CASE for -f */
	const char *config_dir;		/* -c, or NULL: the default */
	const char *query;		/* -q */
	const char *delete;		/* -d */
	bool list;			/* -s */
	char **specs;			/* type:name, "type:" added where missing */
	int nspecs;
};

/* ternmap_usage - print the synopsis and return EX_USAGE */
static int ternmap_usage(void)
{
	fprintf(stderr,
		"usage: ternmap [-c DIR] [-f] [-N] type:file ...\n"
		"       ternmap [-c DIR] [-f] [-N] -q KEY|- type:name ...\n"
		"       ternmap [-c DIR] [-f] [-N] -d KEY|- type:file ...\n"
		"       ternmap [-c DIR] [-f] [-N] -s type:name ...\n"
		"types: %s\n", table_types());
	return EX_USAGE;
}

/* ternmap_exit_code - the sysexits code for a failure with this errno */
static int ternmap_exit_code(int err)
{
	switch (err) {
	case ENOENT:
	case ENOTDIR:
		return EX_NOINPUT;
	case EINVAL:
		return EX_DATAERR;
	case ENOTSUP:
		return EX_USAGE;
	case EACCES:
	case EPERM:
		return EX_NOPERM;
	default:
		return EX_TEMPFAIL;
	}
}

/* ternmap_fail - report err and return the exit code for errno */
static int ternmap_fail(const char *err)
{
	int code = ternmap_exit_code(errno);

	msg_error("%s", err);
	return code;
}

/* ternmap_split - "type:name" into a type (allocated) and a name */
static char *ternmap_split(const char *spec, const char **name)
{
	const char *colon = strchr(spec, ':');

	*name = colon + 1;
	return xstrndup(spec, (size_t) (colon - spec));
}

/* ternmap_is_db - hash or btree */
static bool ternmap_is_db(const char *type)
{
	return strcmp(type, "hash") == 0 || strcmp(type, "btree") == 0;
}

/* ternmap_build - build hash/btree tables; open the others to check them */
static int ternmap_build(const struct ternmap_opts *o)
{
	char err[TABLE_ERR_SIZE];

	for (int i = 0; i < o->nspecs; i++) {
		const char *name;
		char *type = ternmap_split(o->specs[i], &name);
		int rc;

		if (ternmap_is_db(type)) {
			rc = table_db_build(type, name, o->flags, err, sizeof(err));
		} else {
			struct table *t = table_open(o->specs[i], o->flags, err, sizeof(err));

			rc = t ? 0 : -1;
			table_close(t);
		}
		free(type);
		if (rc < 0)
			return ternmap_fail(err);
	}
	return EX_OK;
}

/* ternmap_read_key - one line of stdin into b: 1, 0 at the end; long lines skipped */
static int ternmap_read_key(struct buf *b, int *lineno)
{
	for (;;) {
		bool too_long = false;
		int c;

		buf_reset(b);
		while ((c = getchar()) != EOF && c != '\n')
			if (!too_long && (c == '\0' || buf_putc(b, c) < 0))
				too_long = true;
		if (c == EOF && b->len == 0 && !too_long)
			return 0;
		(*lineno)++;
		while (b->len > 0 && (b->data[b->len - 1] == '\r' || b->data[b->len - 1] == ' ' ||
				      b->data[b->len - 1] == '\t'))
			buf_truncate(b, b->len - 1);
		if (too_long)
			msg_warn("stdin:%d: key too long or has a NUL byte, skipped", *lineno);
		else if (b->len > 0)
			return 1;
	}
}

/* ternmap_query - -q KEY or -q -: look up in the tables in order */
static int ternmap_query(const struct ternmap_opts *o)
{
	char err[TABLE_ERR_SIZE];
	struct tables *ts;
	const char *value;
	struct buf key;
	int lineno = 0, found = 0, rc;

	ts = tables_open_vector((const char *const *) o->specs, o->flags, err, sizeof(err));
	if (ts == NULL)
		return ternmap_fail(err);
	if (strcmp(o->query, "-") != 0) {
		rc = tables_lookup(ts, o->query, &value, NULL, err, sizeof(err));
		if (rc > 0)
			printf("%s\n", value);
		tables_close(ts);
		if (rc < 0) {
			msg_error("%s", err);
			return EX_TEMPFAIL;
		}
		return rc > 0 ? EX_OK : 1;
	}
	buf_init(&key, TABLE_PATTERN_KEY_MAX);
	while (ternmap_read_key(&key, &lineno) > 0) {
		rc = tables_lookup(ts, key.data, &value, NULL, err, sizeof(err));
		if (rc < 0) {
			msg_error("%s", err);
			buf_free(&key);
			tables_close(ts);
			return EX_TEMPFAIL;
		}
		if (rc > 0) {
			printf("%s\t%s\n", key.data, value);
			found++;
		}
		fflush(stdout);			/* answer each key at once: pipes wait for it */
	}
	buf_free(&key);
	tables_close(ts);
	return found ? EX_OK : 1;
}

/* ternmap_delete - -d KEY or -d -: delete from each hash/btree table */
static int ternmap_delete(const struct ternmap_opts *o)
{
	char err[TABLE_ERR_SIZE];
	const char **keys = NULL;
	size_t nkeys = 0, deleted, total = 0;
	struct buf key;
	int lineno = 0, code = EX_OK;

	if (strcmp(o->delete, "-") == 0) {
		buf_init(&key, TABLE_KEY_MAX);
		while (ternmap_read_key(&key, &lineno) > 0) {
			keys = xreallocarray(keys, nkeys + 1, sizeof(*keys));
			keys[nkeys++] = buf_steal(&key);
		}
		buf_free(&key);
	} else {
		keys = xcalloc(1, sizeof(*keys));
		keys[nkeys++] = xstrdup(o->delete);
	}
	for (int i = 0; i < o->nspecs && code == EX_OK; i++) {
		const char *name;
		char *type = ternmap_split(o->specs[i], &name);

		if (table_db_delete(type, name, keys, nkeys, o->flags, &deleted, err, sizeof(err)) < 0)
			code = ternmap_fail(err);
		total += deleted;
		free(type);
	}
	for (size_t i = 0; i < nkeys; i++)
		free((char *) keys[i]);
	free(keys);
	if (code != EX_OK)
		return code;
	return total ? EX_OK : 1;
}

/* ternmap_list - -s: every entry as "key<TAB>value" */
static int ternmap_list(const struct ternmap_opts *o)
{
	char err[TABLE_ERR_SIZE];

	for (int i = 0; i < o->nspecs; i++) {
		struct table *t = table_open(o->specs[i], o->flags, err, sizeof(err));
		const char *key, *value;
		int rc;

		if (t == NULL)
			return ternmap_fail(err);
		for (bool first = true; (rc = table_next(t, first, &key, &value, err, sizeof(err))) > 0;
		     first = false)
			printf("%s\t%s\n", key, value);
		if (rc < 0) {
			int saved = errno;

			table_close(t);
			errno = saved;
			return ternmap_fail(err);
		}
		table_close(t);
	}
	return EX_OK;
}

/* ternmap_specs - copy the table arguments, adding "hash:" where no type is given */
static void ternmap_specs(struct ternmap_opts *o, int argc, char **argv)
{
	o->nspecs = argc;
	o->specs = xcalloc((size_t) argc + 1, sizeof(char *));
	for (int i = 0; i < argc; i++)
		o->specs[i] = strchr(argv[i], ':') ? xstrdup(argv[i]) : str_dupf("hash:%s", argv[i]);
}

/*
 * ternmap_proxy_setup - when a table is proxy:, point the proxy client at
 * the instance's proxymap socket with its ipc_timeout; EX_OK or EX_CONFIG
 */
static int ternmap_proxy_setup(const struct ternmap_opts *o)
{
	struct config_problems probs = {0};
	struct config cfg;
	char *path;
	bool proxy = false;
	int code = EX_OK;

	for (int i = 0; i < o->nspecs; i++)
		if (str_has_prefix(o->specs[i], "proxy:"))
			proxy = true;
	if (!proxy)
		return EX_OK;
	memset(&cfg, 0, sizeof(cfg));
	if (config_load(&cfg, o->config_dir, NULL, NULL, false, &probs) != 0) {
		msg_error("%s: %s", probs.list[0].where, probs.list[0].text);
		code = EX_CONFIG;
	} else {
		path = str_dupf("%s/%s", cfg.global.queue_directory, PROXYMAP_SOCKET);
		table_proxy_set_socket(path);
		table_proxy_set_timeout((int) cfg.global.ipc_timeout);
		free(path);
	}
	config_problems_free(&probs);
	config_free(&cfg);
	return code;
}

/* main - parse options and run one mode */
int main(int argc, char **argv)
{
	struct ternmap_opts o;
	struct stat st;
	int c, modes = 0, code;

	msg_init("ternmap");
	memset(&o, 0, sizeof(o));
	while ((c = getopt(argc, argv, "c:d:fNq:s")) != -1) {
		switch (c) {
		case 'c':			/* used by proxy: tables only */
			if (stat(optarg, &st) < 0 || !S_ISDIR(st.st_mode)) {
				msg_error("-c %s: not a directory", optarg);
				return EX_NOINPUT;
			}
			o.config_dir = optarg;
			break;
		case 'd':
			o.delete = optarg;
			modes++;
			break;
		case 'f':
			o.flags |= TABLE_KEEP_CASE;
			break;
		case 'N':			/* keys and values carry their NUL: always */
			break;
		case 'q':
			o.query = optarg;
			modes++;
			break;
		case 's':
			o.list = true;
			modes++;
			break;
		default:
			return ternmap_usage();
		}
	}
	if (modes > 1) {
		msg_error("-q, -d and -s exclude each other");
		return ternmap_usage();
	}
	if (optind >= argc)
		return ternmap_usage();
	if (o.query && *o.query == '\0') {
		msg_error("-q: empty key");
		return EX_USAGE;
	}
	ternmap_specs(&o, argc - optind, argv + optind);
	code = ternmap_proxy_setup(&o);
	if (code == EX_OK && o.query)
		code = ternmap_query(&o);
	else if (code == EX_OK && o.delete)
		code = ternmap_delete(&o);
	else if (code == EX_OK && o.list)
		code = ternmap_list(&o);
	else if (code == EX_OK)
		code = ternmap_build(&o);
	for (int i = 0; i < o.nspecs; i++)
		free(o.specs[i]);
	free(o.specs);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		msg_error("write error on standard output: %s", strerror(errno));
		return EX_IOERR;
	}
	return code;
}
