/*
 * ternctl_files - read the file manifest and make the queue and data
 * directories match it; see ternctl_files.h.
 *
 * Invariants: directories are created with mode 0700 and only then given
 * their owner and mode, through a descriptor opened with O_NOFOLLOW, so a
 * symbolic link planted in the queue is never followed and a directory is
 * never briefly more open than the manifest says. Owner is set before
 * mode because chown clears set-id bits. Nothing is ever removed.
 *
 * Failures: manifest syntax errors and filesystem errors become problems
 * (file:line or path) for the caller to print; nothing exits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "ternctl_files.h"

#define FILES_MAX_SIZE	(1024 * 1024)	/* manifest and copied files */
#define FILES_MAX_LINE	1024

/* files_read - read a whole file of at most FILES_MAX_SIZE bytes into b */
static int files_read(const char *path, struct buf *b, char *err, size_t errlen)
{
	char chunk[8192];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		str_fmt(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	buf_init(b, FILES_MAX_SIZE);
	while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			str_fmt(err, errlen, "%s: read: %s", path, strerror(errno));
			break;
		}
		if (buf_append(b, chunk, (size_t) n) != 0) {
			str_fmt(err, errlen, "%s: larger than %d bytes", path, FILES_MAX_SIZE);
			n = -1;
			break;
		}
	}
	close(fd);
	if (n != 0) {
		buf_free(b);
		return -1;
	}
	return 0;
}

/* files_parse_mode - strict octal "0755" / "1730" up to 07777 */
static int files_parse_mode(const char *s, mode_t *mode)
{
	unsigned long v = 0;
	size_t len = strlen(s);

	if (len < 3 || len > 5)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '7')
			return -1;
		v = v * 8 + (unsigned long) (*s - '0');
	}
	if (v > 07777)
		return -1;
	*mode = (mode_t) v;
	return 0;
}

/* files_parse_line - one non-comment line into f; -1 with a problem added */
static int files_parse_line(char *line, const char *where, struct ternctl_file *f,
			    struct config_problems *probs)
{
	char *field[7];
	int n = 0;
	char *p = line;
	char *tok;
	const char *fl;

	while (n < 7 && (tok = str_token(&p, " \t")) != NULL)
		field[n++] = tok;
	if (n < 5 || n > 6) {
		config_problem_add(probs, where, "expected 'type path owner group mode [flags]', found %d field%s",
				   n, n == 1 ? "" : "s");
		return -1;
	}
	if (strlen(field[0]) != 1 || strchr("dsfx", field[0][0]) == NULL) {
		config_problem_add(probs, where, "unknown type '%s' (expected d, s, f or x)", field[0]);
		return -1;
	}
	if (field[1][0] != '$' || strstr(field[1], "/../") != NULL || strstr(field[1], "/./") != NULL) {
		config_problem_add(probs, where, "path '%s' must start with a $variable and contain no . or ..",
				   field[1]);
		return -1;
	}
	memset(f, 0, sizeof(*f));
	if (files_parse_mode(field[4], &f->mode) != 0) {
		config_problem_add(probs, where, "bad mode '%s' (expected octal, at most 07777)", field[4]);
		return -1;
	}
	fl = n == 6 && strcmp(field[5], "-") != 0 ? field[5] : "";
	if (fl[strspn(fl, "ce")] != '\0') {
		config_problem_add(probs, where, "unknown flags '%s' (expected c, e or -)", fl);
		return -1;
	}
	f->type = field[0][0];
	f->path = xstrdup(field[1]);
	f->owner = xstrdup(field[2]);
	f->group = xstrdup(field[3]);
	f->flags = xstrdup(fl);
	f->where = xstrdup(where);
	return 0;
}

/* ternctl_files_load - parse the manifest at path */
int ternctl_files_load(const char *path, struct ternctl_files *m,
		       struct config_problems *probs)
{
	struct buf b;
	char err[512];
	char where[PATH_MAX + 32];
	char *text, *line;
	int problems = 0;
	int lineno = 0;

	memset(m, 0, sizeof(*m));
	if (files_read(path, &b, err, sizeof(err)) != 0) {
		config_problem_add(probs, path, "cannot read the file manifest: %s", err);
		return 1;
	}
	text = b.data ? b.data : (char *) "";
	while ((line = strsep(&text, "\n")) != NULL) {
		struct ternctl_file f;
		char *s = str_trim(line);

		lineno++;
		if (text == NULL && *s == '\0')
			break;
		if (*s == '\0' || *s == '#')
			continue;
		str_fmt(where, sizeof(where), "%s:%d", path, lineno);
		if (strlen(s) > FILES_MAX_LINE) {
			config_problem_add(probs, where, "line longer than %d bytes", FILES_MAX_LINE);
			problems++;
			continue;
		}
		if (files_parse_line(s, where, &f, probs) != 0) {
			problems++;
			continue;
		}
		m->list = xreallocarray(m->list, m->count + 1, sizeof(*m->list));
		m->list[m->count++] = f;
	}
	buf_free(&b);
	return problems;
}

/* ternctl_files_free - release a loaded manifest */
void ternctl_files_free(struct ternctl_files *m)
{
	for (size_t i = 0; i < m->count; i++) {
		free(m->list[i].path);
		free(m->list[i].owner);
		free(m->list[i].group);
		free(m->list[i].flags);
		free(m->list[i].where);
	}
	free(m->list);
	memset(m, 0, sizeof(*m));
}

/* ternctl_files_exe_dir - directory of /proc/self/exe */
char *ternctl_files_exe_dir(void)
{
	char path[PATH_MAX];
	ssize_t n;
	char *slash;

	n = readlink("/proc/self/exe", path, sizeof(path) - 1);
	if (n <= 0)
		return NULL;
	path[n] = '\0';
	slash = strrchr(path, '/');
	if (slash == NULL)
		return NULL;
	if (slash == path)
		slash[1] = '\0';
	else
		*slash = '\0';
	return xstrdup(path);
}

/* ternctl_files_build_dir - exe dir when master sits next to ternctl */
char *ternctl_files_build_dir(void)
{
	char *dir = ternctl_files_exe_dir();
	char *master;
	bool yes;

	if (dir == NULL)
		return NULL;
	master = str_dupf("%s/master", dir);
	yes = access(master, X_OK) == 0;
	free(master);
	if (!yes) {
		free(dir);
		return NULL;
	}
	return dir;
}

/* ternctl_files_source - the manifest init copies */
char *ternctl_files_source(void)
{
	char *dir = ternctl_files_exe_dir();
	char *path;

	if (dir != NULL) {
		path = str_dupf("%s/../conf/%s", dir, TERNCTL_FILES_NAME);
		free(dir);
		if (access(path, R_OK) == 0)
			return path;
		free(path);
	}
	path = str_dupf("%s/%s", TERN_SYSCONFDIR, TERNCTL_FILES_NAME);
	if (access(path, R_OK) == 0)
		return path;
	free(path);
	return NULL;
}

/* ternctl_files_write - replace path atomically with text */
int ternctl_files_write(const char *path, const char *text, size_t len,
			mode_t mode, char *err, size_t errlen)
{
	char *tmp = str_dupf("%s.tmp.%ld", path, (long) getpid());
	size_t off = 0;
	int fd;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		str_fmt(err, errlen, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return -1;
	}
	while (off < len) {
		ssize_t n = write(fd, text + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto fail;
		off += (size_t) n;
	}
	if (fchmod(fd, mode) != 0 || fsync(fd) != 0)
		goto fail;
	if (close(fd) != 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) != 0)
		goto fail;
	free(tmp);
	return 0;

fail:
	str_fmt(err, errlen, "%s: %s", path, strerror(errno));
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

/* ternctl_files_copy - copy src over dst atomically */
int ternctl_files_copy(const char *src, const char *dst, mode_t mode,
		       char *err, size_t errlen)
{
	struct buf b;
	int ret;

	if (files_read(src, &b, err, errlen) != 0)
		return -1;
	ret = ternctl_files_write(dst, buf_str(&b), b.len, mode, err, errlen);
	buf_free(&b);
	return ret;
}

/* files_var - the value of a manifest variable, or NULL */
static const char *files_var(const struct config *cfg, const char *name, size_t len)
{
	const struct config_value *v;
	char key[64];

	if (len >= sizeof(key))
		return NULL;
	memcpy(key, name, len);
	key[len] = '\0';
	if (strcmp(key, "sysconfdir") == 0 || strcmp(key, "config_directory") == 0)
		return cfg->dir;
	v = config_value_find(cfg, key);
	return v != NULL ? v->expanded : NULL;
}

/*
 * files_expand - "$queue_directory/incoming" to a real path, when the
 * variable is one of the instance's (queue_directory, data_directory);
 * NULL for other entries
 */
static char *files_expand(const struct config *cfg, const char *path)
{
	size_t len = strspn(path + 1, "abcdefghijklmnopqrstuvwxyz_0123456789");
	const char *rest = path + 1 + len;
	const char *value;
	size_t vlen;

	if (!(len == 15 && strncmp(path + 1, "queue_directory", len) == 0) &&
	    !(len == 14 && strncmp(path + 1, "data_directory", len) == 0))
		return NULL;
	if (*rest != '\0' && *rest != '/')
		return NULL;
	value = files_var(cfg, path + 1, len);
	if (value == NULL || *value != '/')
		return NULL;
	vlen = strlen(value);
	while (vlen > 1 && value[vlen - 1] == '/')
		vlen--;
	return str_dupf("%.*s%s", (int) vlen, value, rest);
}

/* files_name - "$mail_owner" to its value, other names as they are */
static const char *files_name(const struct config *cfg, const char *name)
{
	if (name[0] == '$')
		return files_var(cfg, name + 1, strlen(name + 1));
	return name;
}

/*
 * files_ids - the uid and gid an entry should have; -1 when a name does
 * not resolve (a literal name becomes a problem; a $variable is the
 * caller's to report, once, with its tern.conf line)
 */
static int files_ids(const struct config *cfg, const struct ternctl_file *f,
		     uid_t *uid, gid_t *gid, struct config_problems *probs, int *added)
{
	const char *owner = files_name(cfg, f->owner);
	const char *group = files_name(cfg, f->group);
	bool root = geteuid() == 0;
	struct passwd *pw;
	struct group *gr;

	if (owner == NULL || (pw = getpwnam(owner)) == NULL) {
		if (f->owner[0] != '$') {
			config_problem_add(probs, f->where, "unknown user '%s'", f->owner);
			(*added)++;
		}
		return -1;
	}
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	if (!root && *uid == 0) {
		*uid = geteuid();
		*gid = getegid();
	}
	if (strcmp(f->group, "-") == 0)
		return 0;
	if (strcmp(f->group, "$mail_owner") == 0)
		return 0;
	if (group == NULL || (gr = getgrnam(group)) == NULL) {
		if (f->group[0] != '$') {
			config_problem_add(probs, f->where, "unknown group '%s'", f->group);
			(*added)++;
		}
		return -1;
	}
	*gid = gr->gr_gid;
	if (!root && *gid == 0)
		*gid = getegid();
	return 0;
}

/* files_owner_text - "tern:tern" for a uid and gid (numbers when unknown) */
static void files_owner_text(uid_t uid, gid_t gid, char *out, size_t len)
{
	struct passwd *pw = getpwuid(uid);
	char user[64];
	struct group *gr;

	if (pw != NULL)
		str_copy(user, pw->pw_name, sizeof(user));
	else
		str_fmt(user, sizeof(user), "%ld", (long) uid);
	gr = getgrgid(gid);
	if (gr != NULL)
		str_fmt(out, len, "%s:%s", user, gr->gr_name);
	else
		str_fmt(out, len, "%s:%ld", user, (long) gid);
}

/* files_fixed - count a repair and say it */
static void files_fixed(bool say, int *fixes, const char *path, const char *what)
{
	(*fixes)++;
	if (say)
		printf("ternctl: fixed: %s: %s\n", path, what);
}

/* files_listed - is path the expansion of some manifest entry? */
static bool files_listed(char *const *paths, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (paths[i] != NULL && strcmp(paths[i], path) == 0)
			return true;
	return false;
}

/*
 * files_scan - report entries of directory fd (path) that do not belong:
 * not listed in the manifest ('e'), or not a socket or FIFO ('s')
 */
static int files_scan(int fd, const char *path, const struct ternctl_file *f,
		      char *const *paths, size_t n, struct config_problems *probs)
{
	struct dirent *de;
	DIR *d;
	int problems = 0;
	int dfd = dup(fd);

	if (dfd < 0 || (d = fdopendir(dfd)) == NULL) {
		if (dfd >= 0)
			close(dfd);
		config_problem_add(probs, path, "cannot list: %s", strerror(errno));
		return 1;
	}
	while ((de = readdir(d)) != NULL) {
		char child[PATH_MAX];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (str_fmt(child, sizeof(child), "%s/%s", path, de->d_name) != 0)
			continue;
		if (strchr(f->flags, 'e') != NULL && !files_listed(paths, n, child)) {
			config_problem_add(probs, child, "does not belong here: not in the file manifest (not removed)");
			problems++;
		} else if (f->type == 's' && fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			   !S_ISSOCK(st.st_mode) && !S_ISFIFO(st.st_mode)) {
			config_problem_add(probs, child, "is not a socket (not removed)");
			problems++;
		}
	}
	closedir(d);
	return problems;
}

/* files_sync_dir - create or repair one directory entry */
static int files_sync_dir(const struct config *cfg, const struct ternctl_file *f,
			  const char *path, char *const *paths, size_t n,
			  bool say, int *fixes, struct config_problems *probs)
{
	struct stat st;
	bool created = false;
	bool have_ids;
	uid_t uid = 0;
	gid_t gid = 0;
	char was[160], now[160], what[400];
	int problems = 0;
	int fd;

	have_ids = files_ids(cfg, f, &uid, &gid, probs, &problems) == 0;
	if (lstat(path, &st) != 0) {
		if (errno != ENOENT || mkdir(path, 0700) != 0) {
			config_problem_add(probs, path, "cannot create: %s", strerror(errno));
			return problems + 1;
		}
		created = true;
	} else if (!S_ISDIR(st.st_mode)) {
		config_problem_add(probs, path, "is not a directory (%s)",
				   S_ISLNK(st.st_mode) ? "a symbolic link" : "some other file");
		return problems + 1;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0) {
		config_problem_add(probs, path, "cannot open: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return problems + 1;
	}
	if (have_ids && (st.st_uid != uid || st.st_gid != gid)) {
		files_owner_text(st.st_uid, st.st_gid, was, sizeof(was));
		files_owner_text(uid, gid, now, sizeof(now));
		if (fchown(fd, uid, gid) == 0 && fstat(fd, &st) == 0) {
			if (!created) {
				str_fmt(what, sizeof(what), "owner was %s, now %s", was, now);
				files_fixed(say, fixes, path, what);
			}
		} else {
			config_problem_add(probs, path, "owner is %s, should be %s (%s)", was, now,
					   errno == EPERM ? "run as root to repair" : strerror(errno));
			problems++;
		}
	}
	if ((st.st_mode & 07777) != f->mode) {
		if (fchmod(fd, f->mode) == 0) {
			if (!created) {
				str_fmt(what, sizeof(what), "mode was %04o, now %04o",
					(unsigned) (st.st_mode & 07777), (unsigned) f->mode);
				files_fixed(say, fixes, path, what);
			}
		} else {
			config_problem_add(probs, path, "mode is %04o, should be %04o (%s)",
					   (unsigned) (st.st_mode & 07777), (unsigned) f->mode, strerror(errno));
			problems++;
		}
	}
	if (created) {
		files_owner_text(have_ids ? uid : st.st_uid, have_ids ? gid : st.st_gid, now, sizeof(now));
		str_fmt(what, sizeof(what), "created (%s, mode %04o)", now, (unsigned) f->mode);
		files_fixed(say, fixes, path, what);
	}
	if (strchr(f->flags, 'e') != NULL || f->type == 's')
		problems += files_scan(fd, path, f, paths, n, probs);
	close(fd);
	return problems;
}

/* ternctl_files_sync - make the instance part of the manifest true */
int ternctl_files_sync(const struct ternctl_files *m, const struct config *cfg,
		       bool say_fixes, int *fixes, struct config_problems *probs)
{
	char **paths = xcalloc(m->count ? m->count : 1, sizeof(*paths));
	int problems = 0;

	for (size_t i = 0; i < m->count; i++)
		paths[i] = files_expand(cfg, m->list[i].path);
	for (size_t i = 0; i < m->count; i++) {
		const struct ternctl_file *f = &m->list[i];

		if (paths[i] == NULL)
			continue;
		if (f->type != 'd' && f->type != 's') {
			config_problem_add(probs, f->where, "only directories may live in the queue or data directory");
			problems++;
			continue;
		}
		problems += files_sync_dir(cfg, f, paths[i], paths, m->count, say_fixes, fixes, probs);
	}
	for (size_t i = 0; i < m->count; i++)
		free(paths[i]);
	free(paths);
	return problems;
}
