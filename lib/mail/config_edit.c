/*
 * config_edit - set one parameter in its file, in place (ternconf -e).
 *
 * The value is checked first the way a daemon would see it: the
 * configuration is loaded twice, without and with the new setting (as an
 * override), and the edit is refused when the second load has a problem
 * the first did not - a bad value, a $reference to nothing, an expansion
 * loop, or a value that breaks another parameter that refers to it.
 * Problems already in the files do not block an edit (it may be the fix).
 *
 * The file is then rewritten physical line by physical line: the first
 * logical line that sets the name (with its continuation lines) becomes
 * "name = value", later ones are dropped, comment and blank lines between
 * continuation lines stay, every other byte is copied. A new name is
 * appended. Editors are serialised by an exclusive lock on the temporary
 * file "<file>.tmp" in the same directory (as Postfix's postconf does),
 * which is written, fsync'ed and renamed over the file, so a reader sees
 * the old or the new file, never half of one. Errors come back as text;
 * nothing here exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/iofd.h"
#include "base/buf.h"
#include "base/cfgfile.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/config.h"

/* config_edit_fail - format err and return -1 */
__attribute__((format(printf, 3, 4)))
static int config_edit_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* config_edit_same_problem - a and b are the same problem */
static bool config_edit_same_problem(const struct config_problem *a, const struct config_problem *b)
{
	return strcmp(a->where, b->where) == 0 && strcmp(a->text, b->text) == 0;
}

/*
 * config_edit_check - would name = value add a problem? Returns 0, or -1
 * with the first new problem in err.
 */
static int config_edit_check(const char *dir, const struct param_group *g, const char *name,
			     const char *value, char *err, size_t errlen)
{
	const char *group = g == param_registry()[0] ? NULL : g->id;
	struct config_problems before = { NULL, 0, 0 }, after = { NULL, 0, 0 };
	char *setting = str_dupf("%s=%s", name, value);
	const char *overrides[] = { setting, NULL };
	bool *used;
	struct config cfg;
	int rc = 0;

	config_load(&cfg, dir, group, NULL, false, &before);
	config_free(&cfg);
	config_load(&cfg, dir, group, overrides, false, &after);
	config_free(&cfg);
	used = xcalloc(before.count + 1, sizeof(bool));
	for (size_t i = 0; i < after.count && rc == 0; i++) {
		size_t j = 0;

		while (j < before.count && (used[j] || !config_edit_same_problem(&after.list[i], &before.list[j])))
			j++;
		if (j < before.count) {
			used[j] = true;
			continue;
		}
		if (strcmp(after.list[i].where, "-o") == 0)
			rc = config_edit_fail(err, errlen, "%s", after.list[i].text);
		else
			rc = config_edit_fail(err, errlen, "%s would break %s: %s", name,
					      after.list[i].where, after.list[i].text);
	}
	free(used);
	free(setting);
	config_problems_free(&before);
	config_problems_free(&after);
	return rc;
}

/*
 * config_edit_rewrite - the new file text: old (len bytes) with the
 * lines of name replaced by line, or line appended
 */
static void config_edit_rewrite(const char *old, size_t len, const struct cfgfile *cf,
				const char *name, const char *line, struct buf *out)
{
	int first = 0;
	size_t pos = 0;
	int lineno = 0;
	/* physical lines owned by name: [from, to] pairs from the logical lines */
	int *from = xcalloc(cf->count + 1, sizeof(int));
	int *to = xcalloc(cf->count + 1, sizeof(int));
	size_t nranges = 0, r = 0;

	for (size_t i = 0; i < cf->count; i++) {
		char *copy = xstrdup(cf->lines[i].text);
		struct cfgfile_error err;
		char *n, *v;

		if (cfgfile_split(copy, &n, &v, &err) == 0 && strcmp(n, name) == 0) {
			from[nranges] = cf->lines[i].lineno;
			to[nranges] = cf->lines[i].lastno;
			nranges++;
			if (first == 0)
				first = cf->lines[i].lineno;
		}
		free(copy);
	}
	while (pos < len) {
		const char *p = old + pos;
		const char *nl = memchr(p, '\n', len - pos);
		size_t n = nl ? (size_t) (nl - p) + 1 : len - pos;
		enum cfgfile_kind kind = cfgfile_kind(p, nl ? n - 1 : n);

		lineno++;
		pos += n;
		while (r < nranges && to[r] < lineno)
			r++;
		if (r < nranges && lineno >= from[r] &&
		    (kind == CFGFILE_START || kind == CFGFILE_CONT)) {
			if (lineno == first)
				buf_printf(out, "%s\n", line);
			continue;
		}
		buf_append(out, p, n);
	}
	if (first == 0) {
		if (out->len > 0 && out->data[out->len - 1] != '\n')
			buf_putc(out, '\n');
		buf_printf(out, "%s\n", line);
	}
	free(from);
	free(to);
}

/* config_edit_lock - open and lock dir/<file>.tmp; -1 on error */
static int config_edit_lock(const char *tmp)
{
	for (int tries = 0; tries < 100; tries++) {
		struct stat a, b;
		int fd = open(tmp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

		if (fd < 0)
			return -1;
		if (flock(fd, LOCK_EX) < 0 || fstat(fd, &a) < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		/* the previous holder may have renamed it over the file: retry */
		if (stat(tmp, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
			return fd;
		close(fd);
	}
	errno = EAGAIN;
	return -1;
}

/* config_edit_file - rewrite path with name set to line, atomically */
static int config_edit_file(const char *path, const char *name, const char *line,
			    char *err, size_t errlen)
{
	char *tmp = str_dupf("%s.tmp", path);
	char *old = NULL, *dirpath, *slash;
	size_t oldlen = 0;
	struct cfgfile cf = { NULL, 0 };
	struct cfgfile_error ferr;
	struct stat st;
	bool exists;
	struct buf out;
	int fd, dfd, rc = -1;

	buf_init(&out, 0);
	if ((fd = config_edit_lock(tmp)) < 0) {
		config_edit_fail(err, errlen, "%s: cannot lock: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	exists = stat(path, &st) == 0;
	if (exists || errno != ENOENT) {
		if (cfgfile_slurp(path, &old, &oldlen, &ferr) < 0 ||
		    cfgfile_parse(old, oldlen, &cf, &ferr) < 0) {
			if (ferr.lineno)
				config_edit_fail(err, errlen, "%s:%d: %s", path, ferr.lineno, ferr.text);
			else
				config_edit_fail(err, errlen, "%s: %s", path, ferr.text);
			goto out;
		}
	}
	config_edit_rewrite(old ? old : "", oldlen, &cf, name, line, &out);
	if (out.len > CFGFILE_FILE_MAX) {
		config_edit_fail(err, errlen, "%s: the file would be larger than %d bytes",
				 path, CFGFILE_FILE_MAX);
		goto out;
	}
	if (ftruncate(fd, 0) < 0 || iofd_write_all(fd, out.data ? out.data : "", out.len) < 0 ||
	    fchmod(fd, exists ? (st.st_mode & 07777) : 0644) < 0 ||
	    (exists && geteuid() == 0 && fchown(fd, st.st_uid, st.st_gid) < 0) ||
	    fsync(fd) < 0) {
		config_edit_fail(err, errlen, "%s: cannot write: %s", tmp, strerror(errno));
		goto out;
	}
	if (rename(tmp, path) < 0) {
		config_edit_fail(err, errlen, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
		goto out;
	}
	/* make the rename itself durable */
	dirpath = xstrdup(path);
	slash = strrchr(dirpath, '/');
	if (slash)
		*(slash == dirpath ? slash + 1 : slash) = '\0';
	if ((dfd = open(slash ? dirpath : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		(void) fsync(dfd);
		close(dfd);
	}
	free(dirpath);
	rc = 0;
out:
	/* still locked: a waiting editor sees the name gone and starts afresh */
	if (rc < 0)
		unlink(tmp);
	/* closing drops the lock; a later editor finds the renamed file gone and starts afresh */
	if (close(fd) < 0 && rc == 0)
		rc = config_edit_fail(err, errlen, "%s: close: %s", tmp, strerror(errno));
	cfgfile_free(&cf);
	buf_free(&out);
	free(old);
	free(tmp);
	return rc;
}

/* config_edit - set name = value in the right file under dir */
int config_edit(const char *dir, const char *name, const char *value, char *err, size_t errlen)
{
	const struct param_group *g;
	const struct param_def *d;
	char *path, *val, *v, *line, *real;
	size_t vlen;
	int rc;

	if (dir == NULL)
		dir = config_dir_default();
	if ((d = param_find(name, &g)) == NULL) {
		const char *near = param_suggest(name);

		if (near)
			return config_edit_fail(err, errlen, "unknown parameter '%s' (did you mean '%s'?)",
						name, near);
		return config_edit_fail(err, errlen, "unknown parameter '%s'", name);
	}
	if (strcmp(d->name, "config_directory") == 0)
		return config_edit_fail(err, errlen,
					"config_directory cannot be set in a file: it is the directory given with -c or $TERN_CONFIG_DIR");
	if (strpbrk(value, "\r\n") != NULL)
		return config_edit_fail(err, errlen, "%s: the value must be a single line", name);
	val = xstrdup(value);
	v = str_trim(val);
	vlen = strlen(v);
	if (vlen + strlen(name) + 3 > CFGFILE_LINE_MAX) {
		free(val);
		return config_edit_fail(err, errlen, "%s: the value is longer than %d bytes", name,
					CFGFILE_LINE_MAX);
	}
	if (config_edit_check(dir, g, name, v, err, errlen) < 0) {
		free(val);
		return -1;
	}
	line = vlen ? str_dupf("%s = %s", name, v) : str_dupf("%s =", name);
	path = config_file_path(dir, g->file);
	/* a symbolic link is followed: the file it names is edited */
	real = realpath(path, NULL);
	rc = config_edit_file(real ? real : path, name, line, err, errlen);
	free(real);
	free(path);
	free(line);
	free(val);
	return rc;
}
