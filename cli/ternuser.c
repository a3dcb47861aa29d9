/*
 * ternuser - the account store of virtual mailboxes.
 *
 *	ternuser [-c DIR] add user@domain
 *	ternuser [-c DIR] del user@domain [--keep-mail]
 *	ternuser [-c DIR] list [domain]
 *	ternuser [-c DIR] passwd user@domain [--hash HASH]
 *
 * One text file, $config_directory/virtual_users, one account a line:
 *
 *	address <TAB> maildir-path [<TAB> password-hash]
 *
 * maildir-path is relative to virtual_mailbox_base and ends in '/'
 * ("domain/user/"); the third field is the account's crypt(3) password
 * hash, which smtpd(8) checks for AUTH (smtpd_sasl_type = tern). passwd
 * reads the new password from standard input (twice, without echo, from
 * a terminal; else the first line) and stores a yescrypt hash
 * (crypt_gensalt_ra "$y$"), or sha512-crypt "$6$" where libcrypt lacks
 * yescrypt; --hash stores a ready hash instead (checked with crypt(3)).
 * Because the file holds hashes it is written mode 0640, group
 * mail_owner's group when run as root (proxymap reads it for smtpd); the
 * .db follows. The file is also a hash: table,
 * rebuilt (table_db_build, atomic) after every change, so
 * "virtual_mailbox_maps = hash:$config_directory/virtual_users" serves
 * virtual(8) directly (virtual reads only the first word of the value).
 *
 * add creates the Maildir under virtual_mailbox_base owned by
 * virtual_uid/virtual_gid (mail_owner when empty) and adds the domain to
 * virtual_mailbox_domains in tern.conf when it is missing (config_edit);
 * del removes the line and the Maildir unless --keep-mail.
 *
 * The file is replaced atomically (write, fsync, rename) under an fcntl
 * lock on virtual_users.lock. Exit 0; 1 when the account exists (add) or
 * does not (del); 64 usage; 73 cannot write; 78 configuration.
 */
#include <crypt.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <termios.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/domain.h"
#include "mail/maildir.h"
#include "mail/table.h"

#define TERNUSER_FILE		"virtual_users"
#define TERNUSER_LINE_MAX	4096
#define TERNUSER_LOCAL_MAX	64
#define TERNUSER_PASS_MAX	255	/* smtpd takes no longer password */
#define TERNUSER_HASH_MAX	512

/* ternuser_usage - print usage; EX_USAGE */
static int ternuser_usage(void)
{
	fprintf(stderr, "usage: ternuser [-c DIR] add user@domain\n"
		"       ternuser [-c DIR] del user@domain [--keep-mail]\n"
		"       ternuser [-c DIR] list [domain]\n"
		"       ternuser [-c DIR] passwd user@domain [--hash HASH]   (password on stdin)\n");
	return EX_USAGE;
}

/* ternuser_addr_ok - a plain user@domain: simple local part, valid domain */
static bool ternuser_addr_ok(const char *addr)
{
	const char *at = strrchr(addr, '@');
	size_t llen;

	if (at == NULL || at == addr)
		return false;
	llen = (size_t) (at - addr);
	if (llen > TERNUSER_LOCAL_MAX || addr[0] == '.' || at[-1] == '.' || strstr(addr, "..") != NULL)
		return false;
	for (const char *p = addr; p < at; p++)
		if (strchr("abcdefghijklmnopqrstuvwxyz0123456789._-", *p) == NULL)
			return false;
	return domain_valid(at + 1, strlen(at + 1), 0);
}

/* ternuser_read - the file's lines; NULL-terminated array (empty when missing) */
static char **ternuser_read(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "re");
	char **lines = xcalloc(1, sizeof(*lines));
	char line[TERNUSER_LINE_MAX];

	*n = 0;
	if (fp == NULL)
		return lines;
	while (fgets(line, sizeof(line), fp) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		lines = xreallocarray(lines, *n + 2, sizeof(*lines));
		lines[(*n)++] = xstrdup(line);
		lines[*n] = NULL;
	}
	fclose(fp);
	return lines;
}

/* ternuser_key - the address of a line (into buf), or "" for comments */
static void ternuser_key(const char *line, char *buf, size_t size)
{
	size_t n = strcspn(line, " \t");

	if (line[0] == '#' || n == 0 || n >= size) {
		buf[0] = '\0';
		return;
	}
	memcpy(buf, line, n);
	buf[n] = '\0';
}

/* ternuser_group - the group that may read the file: mail_owner's, or -1 (not root, or unknown) */
static gid_t ternuser_group;

/* ternuser_write - replace path with lines atomically, then rebuild path.db; 0 or -1 */
static int ternuser_write(const char *path, char **lines, size_t n)
{
	char *tmp = str_dupf("%s.tmp", path);
	char err[TABLE_ERR_SIZE];
	struct buf b;
	int fd, ret = -1;

	buf_init(&b, 0);
	buf_puts(&b, "# virtual_users - virtual mailbox accounts, maintained by ternuser(8):\n"
		 "# address <TAB> maildir path under virtual_mailbox_base [<TAB> password hash]\n");
	for (size_t i = 0; i < n; i++)
		if (lines[i] != NULL && !str_has_prefix(lines[i], "# virtual_users - ") &&
		    !str_has_prefix(lines[i], "# address <TAB>"))
			buf_printf(&b, "%s\n", lines[i]);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd >= 0 && ternuser_group != (gid_t) -1 && fchown(fd, 0, ternuser_group) != 0) {
		fprintf(stderr, "ternuser: %s: chown: %s\n", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	if (fd < 0 || fchmod(fd, 0640) != 0 || write(fd, b.data, b.len) != (ssize_t) b.len || fsync(fd) != 0) {
		fprintf(stderr, "ternuser: %s: %s\n", tmp, strerror(errno));
		if (fd >= 0)
			close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	if (rename(tmp, path) != 0) {
		fprintf(stderr, "ternuser: rename %s: %s\n", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	if (table_db_build("hash", path, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "ternuser: %s\n", err);
		goto out;
	}
	ret = 0;
out:
	buf_free(&b);
	free(tmp);
	return ret;
}

/* ternuser_owner - virtual_uid / virtual_gid; 0 or -1 */
static int ternuser_owner(const struct config *cfg, uid_t *uid, gid_t *gid)
{
	const struct params_delivery *p = cfg->own;
	const char *user = p->virtual_uid[0] ? p->virtual_uid : cfg->global.mail_owner;
	struct passwd *pw;
	long long v;

	if (str_to_ll(user, 1, 0x7fffffff, &v) == 0) {
		*uid = (uid_t) v;
		pw = getpwuid(*uid);
	} else if ((pw = getpwnam(user)) != NULL) {
		*uid = pw->pw_uid;
	} else {
		fprintf(stderr, "ternuser: virtual_uid %s: no such user\n", user);
		return -1;
	}
	if (p->virtual_gid[0]) {
		struct group *gr = getgrnam(p->virtual_gid);

		if (str_to_ll(p->virtual_gid, 1, 0x7fffffff, &v) == 0)
			*gid = (gid_t) v;
		else if (gr != NULL)
			*gid = gr->gr_gid;
		else {
			fprintf(stderr, "ternuser: virtual_gid %s: no such group\n", p->virtual_gid);
			return -1;
		}
	} else if (pw != NULL) {
		*gid = pw->pw_gid;
	} else {
		fprintf(stderr, "ternuser: virtual_uid %s has no primary group; set virtual_gid\n", user);
		return -1;
	}
	return 0;
}

/* ternuser_chown - give dir (and the Maildir below) to the owner */
static int ternuser_chown_tree(const char *base, const char *rel, uid_t uid, gid_t gid)
{
	char *copy = xstrdup(rel);
	int ret = 0;

	if (geteuid() != 0) {
		free(copy);
		return 0;
	}
	for (char *p = copy; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;
			char *path;

			*p = '\0';
			path = str_dupf("%s/%s", base, copy);
			if (lchown(path, uid, gid) != 0)
				ret = -1;
			free(path);
			*p = c;
			if (c == '\0' || p[1] == '\0')
				break;
		}
	}
	for (int i = 0; i < 3; i++) {
		static const char *const sub[] = {"tmp", "new", "cur"};
		char *path = str_dupf("%s/%s%s", base, rel, sub[i]);

		if (lchown(path, uid, gid) != 0)
			ret = -1;
		free(path);
	}
	free(copy);
	return ret;
}

/* ternuser_domain - add domain to virtual_mailbox_domains when missing */
static int ternuser_domain(const struct config *cfg, const char *dir, const char *domain)
{
	const struct config_value *cv = config_value_find(cfg, "virtual_mailbox_domains");
	const char *raw = cv != NULL && cv->set ? cv->raw : "";
	char *copy, *cp, *w, *value;
	char err[512];
	int ret = 0;

	if (cv == NULL) {
		fprintf(stderr, "ternuser: warning: this build has no virtual_mailbox_domains parameter; "
			"add %s to it by hand\n", domain);
		return 0;
	}
	copy = xstrdup(cv->expanded ? cv->expanded : "");
	cp = copy;
	while ((w = str_token(&cp, ", \t\n")) != NULL) {
		if (str_eq_nocase(w, domain)) {
			free(copy);
			return 0;
		}
	}
	free(copy);
	value = raw[0] ? str_dupf("%s, %s", raw, domain) : xstrdup(domain);
	if (config_edit(dir, "virtual_mailbox_domains", value, err, sizeof(err)) != 0) {
		fprintf(stderr, "ternuser: virtual_mailbox_domains: %s\n", err);
		ret = -1;
	} else {
		printf("ternuser: added %s to virtual_mailbox_domains (reload to apply)\n", domain);
	}
	free(value);
	return ret;
}

/* ternuser_rm - nftw callback: remove */
static int ternuser_rm(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void) st;
	(void) ftw;
	return (type == FTW_DP ? rmdir(path) : unlink(path)) == 0 || errno == ENOENT ? 0 : -1;
}

/* ternuser_lock - an exclusive lock for the whole command */
static int ternuser_lock(const char *path)
{
	char *lock = str_dupf("%s.lock", path);
	int fd = open(lock, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};

	free(lock);
	if (fd < 0 || fcntl(fd, F_SETLKW, &fl) != 0)
		return -1;
	return fd;
}

/* ternuser_add - the add command */
static int ternuser_add(const struct config *cfg, const char *dir, const char *file, const char *addr)
{
	const struct params_delivery *p = cfg->own;
	size_t n;
	char **lines = ternuser_read(file, &n);
	char key[TERNUSER_LINE_MAX];
	const char *at = strrchr(addr, '@');
	char *rel, *mdir;
	uid_t uid;
	gid_t gid;
	int status = 0;

	for (size_t i = 0; i < n; i++) {
		ternuser_key(lines[i], key, sizeof(key));
		if (str_eq_nocase(key, addr)) {
			fprintf(stderr, "ternuser: %s exists already\n", addr);
			status = 1;
			goto out;
		}
	}
	if (p->virtual_mailbox_base[0] != '/') {
		fprintf(stderr, "ternuser: virtual_mailbox_base must be an absolute directory (delivery.conf)\n");
		status = EX_CONFIG;
		goto out;
	}
	if (ternuser_owner(cfg, &uid, &gid) != 0) {
		status = EX_CONFIG;
		goto out;
	}
	rel = str_dupf("%s/%.*s/", at + 1, (int) (at - addr), addr);
	mdir = str_dupf("%s/%s", p->virtual_mailbox_base, rel);
	if (maildir_create(mdir) != 0 || ternuser_chown_tree(p->virtual_mailbox_base, rel, uid, gid) != 0) {
		fprintf(stderr, "ternuser: Maildir %s: %s\n", mdir, strerror(errno));
		status = EX_CANTCREAT;
	} else {
		lines = xreallocarray(lines, n + 2, sizeof(*lines));
		lines[n++] = str_dupf("%s\t%s", addr, rel);
		lines[n] = NULL;
		if (ternuser_write(file, lines, n) != 0)
			status = EX_CANTCREAT;
		else if (ternuser_domain(cfg, dir, at + 1) != 0)
			status = EX_CONFIG;
		else
			printf("ternuser: added %s, Maildir %s\n", addr, mdir);
	}
	free(rel);
	free(mdir);
out:
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	return status;
}

/* ternuser_del - the del command */
static int ternuser_del(const struct config *cfg, const char *file, const char *addr, bool keep)
{
	const struct params_delivery *p = cfg->own;
	size_t n;
	char **lines = ternuser_read(file, &n);
	char key[TERNUSER_LINE_MAX];
	char *rel = NULL;
	int status = 0;

	for (size_t i = 0; i < n; i++) {
		ternuser_key(lines[i], key, sizeof(key));
		if (str_eq_nocase(key, addr)) {
			char *v = lines[i] + strlen(key);

			v += strspn(v, " \t");
			rel = xstrndup(v, strcspn(v, " \t"));
			free(lines[i]);
			lines[i] = NULL;
		}
	}
	if (rel == NULL) {
		fprintf(stderr, "ternuser: no account %s\n", addr);
		status = 1;
	} else if (ternuser_write(file, lines, n) != 0) {
		status = EX_CANTCREAT;
	} else if (!keep && rel[0] && rel[0] != '/' && strstr(rel, "..") == NULL &&
		   p->virtual_mailbox_base[0] == '/') {
		char *mdir = str_dupf("%s/%s", p->virtual_mailbox_base, rel);

		if (nftw(mdir, ternuser_rm, 16, FTW_DEPTH | FTW_PHYS) != 0 && errno != ENOENT) {
			fprintf(stderr, "ternuser: cannot remove %s: %s\n", mdir, strerror(errno));
			status = EX_CANTCREAT;
		} else {
			printf("ternuser: deleted %s and its Maildir %s\n", addr, mdir);
		}
		free(mdir);
	} else {
		printf("ternuser: deleted %s (mail kept)\n", addr);
	}
	free(rel);
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	return status;
}

/* ternuser_list - the list command */
static int ternuser_list(const char *file, const char *domain)
{
	size_t n;
	char **lines = ternuser_read(file, &n);
	char key[TERNUSER_LINE_MAX];

	for (size_t i = 0; i < n; i++) {
		const char *at;

		ternuser_key(lines[i], key, sizeof(key));
		at = strrchr(key, '@');
		if (key[0] && (domain == NULL || (at && str_eq_nocase(at + 1, domain)))) {
			const char *v = lines[i] + strlen(key);

			v += strspn(v, " \t");
			printf("%s\t%.*s\n", key, (int) strcspn(v, " \t"), v);
		}
		free(lines[i]);
	}
	free(lines);
	return 0;
}

/* ternuser_tty_line - read one line from the terminal on fd 0 without echo; 0 or -1 */
static int ternuser_tty_line(const char *prompt, char *buf, size_t size)
{
	struct termios old, quiet;
	int ret = -1;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(0, &old) != 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t) (ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (tcsetattr(0, TCSAFLUSH, &quiet) != 0)
		return -1;
	if (fgets(buf, (int) size, stdin) != NULL)
		ret = 0;
	tcsetattr(0, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return ret;
}

/* ternuser_read_password - the new password from stdin into buf; 0 or an exit status */
static int ternuser_read_password(char *buf, size_t size)
{
	char again[TERNUSER_PASS_MAX + 3];
	size_t n;

	if (isatty(0)) {
		if (ternuser_tty_line("New password: ", buf, size) != 0 ||
		    ternuser_tty_line("Retype new password: ", again, sizeof(again)) != 0) {
			fprintf(stderr, "ternuser: cannot read the password from the terminal\n");
			return EX_NOINPUT;
		}
		if (strcmp(buf, again) != 0) {
			explicit_bzero(again, sizeof(again));
			fprintf(stderr, "ternuser: the passwords differ; nothing changed\n");
			return 1;
		}
		explicit_bzero(again, sizeof(again));
	} else if (fgets(buf, (int) size, stdin) == NULL) {
		fprintf(stderr, "ternuser: no password on standard input\n");
		return EX_NOINPUT;
	}
	n = strlen(buf);
	if (n > 0 && buf[n - 1] != '\n' && n + 1 >= size) {
		fprintf(stderr, "ternuser: password longer than %d octets\n", TERNUSER_PASS_MAX);
		return EX_DATAERR;
	}
	buf[strcspn(buf, "\r\n")] = '\0';
	if (buf[0] == '\0') {
		fprintf(stderr, "ternuser: empty password refused\n");
		return EX_DATAERR;
	}
	return 0;
}

/* ternuser_hash - a crypt(3) hash of pass: yescrypt, else sha512-crypt; malloc'ed or NULL */
static char *ternuser_hash(const char *pass)
{
	static const char *const prefixes[] = {"$y$", "$6$"};
	struct crypt_data *cd = xcalloc(1, sizeof(*cd));
	char *out = NULL;

	for (size_t i = 0; out == NULL && i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		char *setting = crypt_gensalt_ra(prefixes[i], 0, NULL, 0);
		const char *h;

		if (setting == NULL)
			continue;
		h = crypt_rn(pass, setting, cd, sizeof(*cd));
		if (h != NULL && h[0] == '$' && strlen(h) <= TERNUSER_HASH_MAX)
			out = xstrdup(h);
		free(setting);
	}
	explicit_bzero(cd, sizeof(*cd));
	free(cd);
	return out;
}

/* ternuser_hash_ok - a ready hash crypt(3) can use, without white space */
static bool ternuser_hash_ok(const char *hash)
{
	struct crypt_data *cd;
	const char *h;
	bool ok;

	if (hash[0] != '$' || strlen(hash) > TERNUSER_HASH_MAX || strpbrk(hash, " \t\r\n") != NULL)
		return false;
	cd = xcalloc(1, sizeof(*cd));
	h = crypt_rn("tern-check", hash, cd, sizeof(*cd));
	ok = h != NULL && h[0] == '$';
	free(cd);
	return ok;
}

/* ternuser_passwd - the passwd command: set the third field of the account's line */
static int ternuser_passwd(const char *file, const char *addr, const char *ready)
{
	char pass[TERNUSER_PASS_MAX + 3];
	char key[TERNUSER_LINE_MAX];
	char *hash = NULL;
	size_t n;
	char **lines;
	int status = 0;
	bool found = false;

	if (ready != NULL) {
		if (!ternuser_hash_ok(ready)) {
			fprintf(stderr, "ternuser: --hash: not a crypt(3) hash this system can check\n");
			return EX_DATAERR;
		}
		hash = xstrdup(ready);
	} else {
		if ((status = ternuser_read_password(pass, sizeof(pass))) != 0)
			return status;
		hash = ternuser_hash(pass);
		explicit_bzero(pass, sizeof(pass));
		if (hash == NULL) {
			fprintf(stderr, "ternuser: libcrypt can make neither a yescrypt nor a sha512-crypt hash\n");
			return EX_SOFTWARE;
		}
	}
	lines = ternuser_read(file, &n);
	for (size_t i = 0; i < n; i++) {
		ternuser_key(lines[i], key, sizeof(key));
		if (str_eq_nocase(key, addr)) {
			const char *v = lines[i] + strlen(key);
			char *line;

			v += strspn(v, " \t");
			line = str_dupf("%s\t%.*s\t%s", key, (int) strcspn(v, " \t"), v, hash);
			free(lines[i]);
			lines[i] = line;
			found = true;
		}
	}
	if (!found) {
		fprintf(stderr, "ternuser: no account %s\n", addr);
		status = 1;
	} else if (ternuser_write(file, lines, n) != 0) {
		status = EX_CANTCREAT;
	} else {
		printf("ternuser: password of %s changed\n", addr);
	}
	for (size_t i = 0; i < n; i++)
		free(lines[i]);
	free(lines);
	free(hash);
	return status;
}

/* main - ternuser */
int main(int argc, char **argv)
{
	const char *dir = NULL;
	struct config cfg;
	struct config_problems probs = {0};
	char *file, *addr = NULL;
	int ch, status, lock;

	while ((ch = getopt(argc, argv, "+c:h")) != -1) {
		if (ch == 'c')
			dir = optarg;
		else
			return ternuser_usage();
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		return ternuser_usage();
	memset(&cfg, 0, sizeof(cfg));
	if (config_load(&cfg, dir, "delivery", NULL, false, &probs) != 0) {
		fprintf(stderr, "ternuser: %s: %s\n", probs.list[0].where, probs.list[0].text);
		config_problems_free(&probs);
		config_free(&cfg);
		return EX_CONFIG;
	}
	config_problems_free(&probs);
	ternuser_group = (gid_t) -1;
	if (geteuid() == 0) {
		struct passwd *owner = getpwnam(cfg.global.mail_owner);

		if (owner != NULL)
			ternuser_group = owner->pw_gid;
	}
	file = config_file_path(cfg.dir, TERNUSER_FILE);
	if (argc >= 2)
		addr = str_lower(xstrdup(argv[1]));
	if (strcmp(argv[0], "list") == 0 && argc <= 2) {
		status = ternuser_list(file, addr);
	} else if (strcmp(argv[0], "passwd") == 0 &&
		   (argc == 2 || (argc == 4 && strcmp(argv[2], "--hash") == 0))) {
		if (!ternuser_addr_ok(addr)) {
			fprintf(stderr, "ternuser: %s: not a plain user@domain address\n", argv[1]);
			status = EX_USAGE;
		} else if ((lock = ternuser_lock(file)) < 0) {
			fprintf(stderr, "ternuser: cannot lock %s.lock: %s\n", file, strerror(errno));
			status = EX_CANTCREAT;
		} else {
			status = ternuser_passwd(file, addr, argc == 4 ? argv[3] : NULL);
			close(lock);
		}
	} else if ((strcmp(argv[0], "add") == 0 && argc == 2) ||
		   (strcmp(argv[0], "del") == 0 && (argc == 2 || (argc == 3 && strcmp(argv[2], "--keep-mail") == 0)))) {
		if (!ternuser_addr_ok(addr)) {
			fprintf(stderr, "ternuser: %s: not a plain user@domain address "
				"(letters, digits, '.', '_', '-' before the '@')\n", argv[1]);
			status = EX_USAGE;
		} else if ((lock = ternuser_lock(file)) < 0) {
			fprintf(stderr, "ternuser: cannot lock %s.lock: %s\n", file, strerror(errno));
			status = EX_CANTCREAT;
		} else {
			if (argv[0][0] == 'a')
				status = ternuser_add(&cfg, cfg.dir, file, addr);
			else
				status = ternuser_del(&cfg, file, addr, argc == 3);
			close(lock);
		}
	} else {
		status = ternuser_usage();
	}
	free(addr);
	free(file);
	config_free(&cfg);
	return status;
}
