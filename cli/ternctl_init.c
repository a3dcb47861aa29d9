/*
 * ternctl_init - "ternctl -c DIR init": a complete, self-contained private
 * instance in DIR, for development, tests and trying tern out.
 *
 *	DIR/tern.conf      queue, data, log and programs all inside DIR or
 *	                   the build tree; loopback relaying only
 *	DIR/master.conf    the planned services on ADDR (default 127.0.0.1),
 *	                   ports 2525 (SMTP), 2587 (submission), 2465
 *	                   (implicit TLS); a service whose program is not in
 *	                   daemon_directory yet is written commented out
 *	DIR/smtpd.conf     smtpd's TLS certificate and key: DIR/tls/{cert,key}.pem
 *	DIR/tern-files     the file manifest, for "ternctl check"
 *	DIR/queue, DIR/data  as the manifest says
 *	DIR/log/maillog, DIR/mail, DIR/tls/{cert,key}.pem
 *	DIR/aliases, DIR/delivery.conf, DIR/virtual_users  local and virtual
 *	                   delivery: postmaster -> root, a demo virtual domain
 *	                   demo.test with one account demo@demo.test
 *
 * As root the daemons run as the system user "tern" (created with
 * useradd when missing, like the group "terndrop"); as an ordinary user
 * everything runs as that user, without privilege separation, and init
 * says so. Instances never share anything but the programs: give each its
 * own DIR and --ports.
 *
 * Invariants: an existing instance (DIR/tern.conf) is never touched
 * without --force, and --force rewrites only the configuration files and
 * repairs the tree: the queue, the mail, the log and an existing key are
 * kept. Configuration files are replaced atomically. The key file is
 * never readable by others.
 *
 * Failures: usage errors exit 64, an existing instance or a file that
 * cannot be created 73 (EX_CANTCREAT), a generated configuration that
 * does not load 78; each with a message naming the file.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sysexits.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/maildir.h"
#include "mail/table.h"
#include "ternctl.h"
#include "ternctl_files.h"

#define INIT_NPORTS	3

/* init_opts - what the command line asked for */
struct init_opts {
	const char *listen;		/* address as given, without brackets */
	bool ipv6;
	int ports[INIT_NPORTS];		/* SMTP, submission, submissions */
	bool force;
};

/* init_who - whose instance it is */
struct init_who {
	char mail_owner[64];
	char setgid_group[64];
	uid_t uid;			/* of mail_owner */
	gid_t gid;
};

/*
 * init_services - the planned services, in the order of Postfix's
 * master.cf; port is the index into init_opts.ports for inet services,
 * -1 for UNIX-domain ones. The -o names follow Postfix (smtpd's
 * parameters must keep them).
 */
static const struct init_service {
	const char *name;
	int port;
	const char *type, *priv, *unpriv, *chroot, *wakeup, *maxproc;
	const char *command;
	const char *args;
	const char *what;
} init_services[] = {
	{NULL, 0, "inet", "n", "-", "y", "-", "-", "smtpd", "-o smtpd_auth_on_mta_port=no",
	 "SMTP: mail from other hosts"},
	{NULL, 1, "inet", "n", "-", "y", "-", "-", "smtpd",
	 "-o smtpd_tls_security_level=encrypt -o smtpd_submission_fixups=yes",
	 "submission: mail from your users (STARTTLS first)"},
	{NULL, 2, "inet", "n", "-", "y", "-", "-", "smtpd",
	 "-o smtpd_tls_wrappermode=yes -o smtpd_submission_fixups=yes",
	 "submissions: the same over implicit TLS (RFC 8314)"},
	{"screen", -1, "unix", "-", "-", "n", "-", "1", "screen", "", "shared abuse state"},
	{"pickup", -1, "unix", "n", "-", "n", "60", "1", "pickup", "", "local submission: sendmail, and the maildrop"},
	{"cleanup", -1, "unix", "-", "-", "n", "-", "0", "cleanup", "", "the only queue writer"},
	{"qmgr", -1, "unix", "n", "-", "n", "300", "1", "qmgr", "", "the scheduler"},
	{"showq", -1, "unix", "n", "-", "y", "-", "-", "showq", "", "queue listings for users who cannot read the queue (mailq)"},
	{"bounce", -1, "unix", "-", "-", "n", "-", "0", "bounce", "", "delivery status notifications"},
	{"proxymap", -1, "unix", "-", "-", "n", "-", "-", "proxymap", "",
	 "table lookups for chrooted daemons (proxy: tables)"},
	{"smtp", -1, "unix", "-", "-", "y", "-", "-", "smtp", "", "delivery to other hosts"},
	{"sts", -1, "unix", "-", "-", "n", "-", "1", "sts", "", "MTA-STS policy cache"},
	{"local", -1, "unix", "-", "n", "n", "-", "-", "local", "", "delivery to Unix accounts"},
	{"virtual", -1, "unix", "-", "n", "n", "-", "-", "virtual", "", "delivery to virtual mailboxes"},
	{"error", -1, "unix", "-", "-", "n", "-", "-", "error", "", "bounces what transport_maps sends to error:"},
	{"discard", -1, "unix", "-", "-", "n", "-", "-", "discard", "", "drops what transport_maps sends to discard:"},
	{"recall", -1, "unix", "-", "-", "n", "-", "1", "recall", "", "message recall"},
	{"archiver", -1, "unix", "-", "-", "n", "-", "1", "archiver", "", "mail archives"},
	{"tlsrpt", -1, "unix", "-", "-", "n", "-", "1", "tlsrpt", "", "TLS reports (RFC 8460)"},
};

#define INIT_NSERVICES (sizeof(init_services) / sizeof(init_services[0]))

/* init_usage - complain, show the usage line, return EX_USAGE */
static int init_usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "ternctl: init: %s\n", why);
	fprintf(stderr, "usage: ternctl -c DIR init [--listen ADDR] [--ports SMTP,SUBMISSION,SUBMISSIONS] [--force]\n");
	return EX_USAGE;
}

/* init_parse_ports - "2525,2587,2465": three distinct ports */
static int init_parse_ports(const char *text, int ports[INIT_NPORTS])
{
	char *copy = xstrdup(text);
	char *p = copy;
	char *tok;
	int n = 0;

	while ((tok = strsep(&p, ",")) != NULL) {
		long long v;

		if (n == INIT_NPORTS || str_to_ll(tok, 1, 65535, &v) != 0) {
			free(copy);
			return -1;
		}
		ports[n++] = (int) v;
	}
	free(copy);
	if (n != INIT_NPORTS || ports[0] == ports[1] || ports[0] == ports[2] || ports[1] == ports[2])
		return -1;
	return 0;
}

/* init_parse - options after "init"; EX_USAGE or 0 */
static int init_parse(int argc, char **argv, struct init_opts *o)
{
	static const struct option longopts[] = {
		{"listen", required_argument, NULL, 'l'},
		{"ports", required_argument, NULL, 'p'},
		{"force", no_argument, NULL, 'f'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static char addr[INET6_ADDRSTRLEN + 2];
	unsigned char bin[sizeof(struct in6_addr)];
	int ch;

	while ((ch = getopt_long(argc, argv, "+", longopts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (optarg[0] == '[' && optarg[strlen(optarg) - 1] == ']' &&
			    str_fmt(addr, sizeof(addr), "%.*s", (int) strlen(optarg) - 2, optarg + 1) == 0)
				o->listen = addr;
			else
				o->listen = optarg;
			o->ipv6 = inet_pton(AF_INET6, o->listen, bin) == 1;
			if (!o->ipv6 && inet_pton(AF_INET, o->listen, bin) != 1)
				return init_usage("--listen needs an IPv4 or IPv6 address");
			break;
		case 'p':
			if (init_parse_ports(optarg, o->ports) != 0)
				return init_usage("--ports needs three different port numbers, such as 2525,2587,2465");
			break;
		case 'f':
			o->force = true;
			break;
		case 'h':
		default:
			return init_usage(NULL);
		}
	}
	if (optind < argc)
		return init_usage("unexpected argument");
	return 0;
}

/* init_mkdirs - mkdir -p path (mode for the new ones) */
static int init_mkdirs(const char *path, mode_t mode)
{
	char *copy = xstrdup(path);

	for (char *p = copy + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(copy, mode) != 0 && errno != EEXIST) {
				free(copy);
				return -1;
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	free(copy);
	return 0;
}

/* init_dir - make path a directory with this owner and mode */
static int init_dir(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
	int fd;
	int ret = 0;

	if (mkdir(path, 0700) != 0 && errno != EEXIST)
		return -1;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fchown(fd, uid, gid) != 0 || fchmod(fd, mode) != 0)
		ret = -1;
	close(fd);
	return ret;
}

/* init_spawn - run a system command (useradd, groupadd); its exit status or -1 */
static int init_spawn(char *const argv[])
{
	int status;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		execv(argv[0], argv);
		fprintf(stderr, "ternctl: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* init_accounts - as root: the system user and groups must exist */
static int init_accounts(const char *owner, const char *setgid_group)
{
	if (getgrnam(setgid_group) == NULL) {
		char *const cmd[] = {"/usr/sbin/groupadd", "--system", (char *) setgid_group, NULL};

		if (init_spawn(cmd) != 0 || getgrnam(setgid_group) == NULL) {
			fprintf(stderr, "ternctl: cannot create the system group %s; create it by hand "
				"(groupadd --system %s) and run init again\n", setgid_group, setgid_group);
			return -1;
		}
		printf("ternctl: created system group %s\n", setgid_group);
	}
	if (getpwnam(owner) == NULL) {
		char *cmd[12] = {"/usr/sbin/useradd", "--system", "--no-create-home",
			"--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin"};
		int n = 7;

		if (getgrnam(owner) != NULL) {
			cmd[n++] = "--gid";
			cmd[n++] = (char *) owner;
		} else {
			cmd[n++] = "--user-group";
		}
		cmd[n++] = (char *) owner;
		cmd[n] = NULL;
		if (init_spawn(cmd) != 0 || getpwnam(owner) == NULL) {
			fprintf(stderr, "ternctl: cannot create the system user %s; create it by hand "
				"(useradd --system --user-group --no-create-home --shell /usr/sbin/nologin %s) "
				"and run init again\n", owner, owner);
			return -1;
		}
		printf("ternctl: created system user %s (group %s, no login shell, no home directory)\n",
		       owner, owner);
	}
	return 0;
}

/* init_identity - mail_owner and setgid_group for this instance */
static int init_identity(struct init_who *who)
{
	struct passwd *pw;
	struct group *gr;

	if (geteuid() == 0) {
		str_copy(who->mail_owner, "tern", sizeof(who->mail_owner));
		str_copy(who->setgid_group, "terndrop", sizeof(who->setgid_group));
		if (init_accounts(who->mail_owner, who->setgid_group) != 0)
			return -1;
		pw = getpwnam(who->mail_owner);
		if (pw == NULL)
			return -1;
		if (pw->pw_uid == 0) {
			fprintf(stderr, "ternctl: the user %s has uid 0; tern's mail owner must not be root\n",
				who->mail_owner);
			return -1;
		}
		who->uid = pw->pw_uid;
		who->gid = pw->pw_gid;
		return 0;
	}
	pw = getpwuid(geteuid());
	gr = getgrgid(getegid());
	if (pw == NULL || gr == NULL) {
		fprintf(stderr, "ternctl: init: uid %ld or gid %ld has no name in the password or group file\n",
			(long) geteuid(), (long) getegid());
		return -1;
	}
	if (str_copy(who->mail_owner, pw->pw_name, sizeof(who->mail_owner)) != 0 ||
	    str_copy(who->setgid_group, gr->gr_name, sizeof(who->setgid_group)) != 0) {
		fprintf(stderr, "ternctl: init: user or group name too long\n");
		return -1;
	}
	who->uid = geteuid();
	who->gid = getegid();
	fprintf(stderr, "ternctl: warning: not running as root: mail_owner = %s, and every tern "
		"process of this instance runs as %s (no privilege separation)\n",
		who->mail_owner, who->mail_owner);
	return 0;
}

/* init_hostname - the system name when fully qualified, else localhost.localdomain */
static void init_hostname(char *out, size_t len)
{
	char name[256];
	size_t n;

	if (gethostname(name, sizeof(name)) == 0) {
		name[sizeof(name) - 1] = '\0';
		n = strlen(name);
		if (strchr(name, '.') != NULL && name[0] != '.' && n > 0 && name[n - 1] != '.' &&
		    name[strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-")] == '\0' &&
		    str_copy(out, name, len) == 0)
			return;
	}
	str_copy(out, "localhost.localdomain", len);
}

/* init_put_path - append a path as a config value: '$' doubled */
static void init_put_path(struct buf *b, const char *path)
{
	for (const char *p = path; *p; p++) {
		if (*p == '$')
			buf_putc(b, '$');
		buf_putc(b, *p);
	}
}

/* init_tern_conf - the text of DIR/tern.conf */
static void init_tern_conf(struct buf *b, const char *dir, const char *progdir,
			   const struct init_who *who, const char *hostname, bool ipv6)
{
	static const struct {
		const char *name;
		const char *sub;
	} paths[] = {
		{"queue_directory", "queue"}, {"data_directory", "data"},
		{"maillog_file", "log/maillog"},
	};

	buf_printf(b, "# tern.conf - global parameters of a private tern instance, made by\n"
		   "# \"ternctl -c DIR init\". Every parameter, with its default, is in\n"
		   "# tern.conf(5). After a change: ternctl -c DIR check; ternctl -c DIR reload\n\n");
	buf_printf(b, "# everything of this instance lives under its directory\n");
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		buf_printf(b, "%s = ", paths[i].name);
		init_put_path(b, dir);
		buf_printf(b, "/%s\n", paths[i].sub);
	}
	buf_printf(b, "\n# the programs: %s\n", progdir != NULL ? "the build tree" : "the installed ones");
	if (progdir != NULL) {
		buf_puts(b, "daemon_directory = ");
		init_put_path(b, progdir);
		buf_puts(b, "\ncommand_directory = ");
		init_put_path(b, progdir);
		buf_puts(b, "\n");
	} else {
		buf_printf(b, "daemon_directory = %s\ncommand_directory = %s\n", TERN_LIBEXECDIR, TERN_SBINDIR);
	}
	buf_printf(b, "\n# who runs the daemons and who may write the maildrop\n"
		   "mail_owner = %s\nsetgid_group = %s\n", who->mail_owner, who->setgid_group);
	buf_printf(b, "\n# who we are, what we deliver locally, whom we relay for\n"
		   "myhostname = %s\nmydestination = $myhostname, localhost\nmynetworks = 127.0.0.0/8%s\n",
		   hostname, ipv6 ? ", [::1]/128" : "");
}

/* init_smtpd_conf - the text of DIR/smtpd.conf: the instance's certificate */
static void init_smtpd_conf(struct buf *b, const char *dir)
{
	buf_printf(b, "# smtpd.conf - parameters of the SMTP server of a private tern instance,\n"
		   "# made by \"ternctl -c DIR init\"; every parameter is in smtpd.conf(5).\n\n"
		   "# the instance's self-signed certificate, read before the chroot\n"
		   "smtpd_tls_cert_file = ");
	init_put_path(b, dir);
	buf_puts(b, "/tls/cert.pem\nsmtpd_tls_key_file = ");
	init_put_path(b, dir);
	buf_puts(b, "/tls/key.pem\n");
}

/* init_service_name - column 1 of a service: "127.0.0.1:2525" or the name */
static void init_service_name(const struct init_service *s, const struct init_opts *o,
			      char *out, size_t len)
{
	if (s->port < 0)
		str_copy(out, s->name, len);
	else if (o->ipv6)
		str_fmt(out, len, "[%s]:%d", o->listen, o->ports[s->port]);
	else
		str_fmt(out, len, "%s:%d", o->listen, o->ports[s->port]);
}

/*
 * init_master_conf - the text of DIR/master.conf; services whose program
 * is not in progdir are commented out and named in missing
 */
static void init_master_conf(struct buf *b, const struct init_opts *o, const char *progdir,
			     struct buf *missing)
{
	buf_printf(b, "# master.conf - the services of a private tern instance, made by\n"
		   "# \"ternctl -c DIR init\"; see master.conf(5). A service whose program\n"
		   "# was not in daemon_directory then is commented out, with a note\n"
		   "# (\"ternctl check\" says when it appears; remove the '#' to enable it).\n"
		   "#\n"
		   "# \"-\" takes the default of a column (private y, unpriv y, chroot y,\n"
		   "# wakeup none, maxproc default_process_limit).\n"
		   "#\n");
	buf_printf(b, "# %-22s %-5s %-7s %-7s %-7s %-7s %-7s %s\n", "service", "type", "private",
		   "unpriv", "chroot", "wakeup", "maxproc", "command + args");
	for (size_t i = 0; i < INIT_NSERVICES; i++) {
		const struct init_service *s = &init_services[i];
		char name[INET6_ADDRSTRLEN + 16];
		char *prog = str_dupf("%s/%s", progdir, s->command);
		bool built = access(prog, X_OK) == 0;

		free(prog);
		init_service_name(s, o, name, sizeof(name));
		buf_printf(b, "\n# %s\n", s->what);
		if (!built) {
			buf_printf(b, "# not built yet: %s\n", s->command);
			if (strstr(buf_str(missing), s->command) == NULL)
				buf_printf(missing, "%s%s", missing->len ? " " : "", s->command);
		}
		buf_printf(b, "%s%-*s %-5s %-7s %-7s %-7s %-7s %-7s %s%s%s\n", built ? "" : "#",
			   built ? 24 : 23, name, s->type, s->priv, s->unpriv, s->chroot, s->wakeup, s->maxproc,
			   s->command, s->args[0] ? " " : "", s->args);
	}
}

/* init_write - write text to dir/name; 0 or -1 with a message */
static int init_write(const char *dir, const char *name, const struct buf *text)
{
	char *path = str_dupf("%s/%s", dir, name);
	char err[PATH_MAX + 128];
	int ret;

	ret = ternctl_files_write(path, buf_str(text), text->len, 0644, err, sizeof(err));
	if (ret != 0)
		fprintf(stderr, "ternctl: cannot write %s\n", err);
	free(path);
	return ret;
}

/* init_manifest - copy the manifest into the instance */
static int init_manifest(const char *dir)
{
	char *src = ternctl_files_source();
	char *dst = str_dupf("%s/%s", dir, TERNCTL_FILES_NAME);
	char err[PATH_MAX + 128];
	struct stat a, b;
	int ret = 0;

	if (src == NULL) {
		fprintf(stderr, "ternctl: no file manifest found (looked for conf/%s next to the build "
			"directory and for %s/%s)\n", TERNCTL_FILES_NAME, TERN_SYSCONFDIR, TERNCTL_FILES_NAME);
		ret = -1;
	} else if (stat(src, &a) == 0 && stat(dst, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino) {
		ret = 0;			/* DIR is where the manifest was installed */
	} else if (ternctl_files_copy(src, dst, 0644, err, sizeof(err)) != 0) {
		fprintf(stderr, "ternctl: cannot copy the file manifest: %s\n", err);
		ret = -1;
	}
	free(src);
	free(dst);
	return ret;
}

/* init_tree - queue and data from the manifest, then log, mail and tls */
static int init_tree(const char *dir, const struct init_who *who, const char *hostname,
		     bool *cert_kept)
{
	struct config cfg;
	struct config_problems probs = {0};
	struct ternctl_files m;
	char *manifest = str_dupf("%s/%s", dir, TERNCTL_FILES_NAME);
	char *p, *cert, *key;
	char err[PATH_MAX + 256];
	int fixes = 0;
	int status = 0;
	int fd;

	memset(&cfg, 0, sizeof(cfg));
	if (config_load(&cfg, dir, NULL, NULL, true, &probs) != 0 || probs.count != 0) {
		status = EX_CONFIG;
	} else if (ternctl_files_load(manifest, &m, &probs) != 0) {
		ternctl_files_free(&m);
		status = EX_CONFIG;
	} else {
		if (ternctl_files_sync(&m, &cfg, false, &fixes, &probs) != 0)
			status = EX_CANTCREAT;
		ternctl_files_free(&m);
	}
	for (size_t i = 0; i < probs.count; i++)
		fprintf(stderr, "ternctl: %s: %s\n", probs.list[i].where, probs.list[i].text);
	config_problems_free(&probs);
	config_free(&cfg);
	free(manifest);
	if (status != 0)
		return status;

	p = str_dupf("%s/log", dir);
	if (init_dir(p, geteuid(), getegid(), 0755) != 0)
		goto fail;
	free(p);
	p = str_dupf("%s/log/maillog", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd < 0 || fchown(fd, who->uid, who->gid) != 0 || fchmod(fd, 0640) != 0) {
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	close(fd);
	free(p);
	p = str_dupf("%s/mail", dir);
	if (init_dir(p, who->uid, who->gid, 0700) != 0)
		goto fail;
	free(p);
	p = str_dupf("%s/tls", dir);
	if (init_dir(p, geteuid(), getegid(), 0755) != 0)
		goto fail;
	cert = str_dupf("%s/cert.pem", p);
	key = str_dupf("%s/key.pem", p);
	*cert_kept = access(cert, F_OK) == 0 && access(key, F_OK) == 0;
	if (!*cert_kept &&
	    ternctl_cert_make(cert, key, hostname, geteuid(), getegid(), err, sizeof(err)) != 0) {
		fprintf(stderr, "ternctl: cannot make the TLS certificate: %s\n", err);
		status = EX_CANTCREAT;
	}
	free(cert);
	free(key);
	free(p);
	return status;

fail:
	fprintf(stderr, "ternctl: %s: %s\n", p, strerror(errno));
	free(p);
	return EX_CANTCREAT;
}

/*
 * init_mail - local and virtual delivery of the instance: DIR/aliases
 * (postmaster to root) and its .db, DIR/delivery.conf with a demo
 * virtual domain (virtual_mailbox_domains = demo.test in tern.conf), the
 * account store DIR/virtual_users (ternuser(8)) with demo@demo.test and
 * its .db, and that account's Maildir under DIR/mail owned by mail_owner
 * (the default virtual_uid). Existing aliases and accounts are kept.
 */
static int init_mail(const char *dir, const struct init_who *who)
{
	static const char *const sub[] = {"demo.test", "demo.test/demo", "demo.test/demo/tmp",
		"demo.test/demo/new", "demo.test/demo/cur"};
	struct buf b = BUF_INIT;
	char err[TABLE_ERR_SIZE];
	char *aliases = str_dupf("%s/aliases", dir);
	char *users = str_dupf("%s/virtual_users", dir);
	int ret = 0;

	buf_init(&b, 0);
	if (access(aliases, F_OK) != 0) {
		buf_puts(&b, "# aliases - local(8) aliases of this instance, \"name value\" lines; see\n"
			 "# aliases(5). After a change: newaliases (or ternmap hash:FILE).\n"
			 "postmaster\troot\n");
		ret = init_write(dir, "aliases", &b);
	}
	if (ret == 0 && table_db_build("hash", aliases, TABLE_ALIAS_FORMAT, err, sizeof(err)) != 0) {
		fprintf(stderr, "ternctl: %s\n", err);
		ret = -1;
	}
	buf_reset(&b);
	buf_puts(&b, "# delivery.conf - parameters of the delivery agents of a private tern\n"
		 "# instance, made by \"ternctl -c DIR init\"; see delivery.conf(5).\n\n"
		 "# a demo virtual domain: accounts with ternuser(8), in virtual_users\n"
		 "virtual_mailbox_base = ");
	init_put_path(&b, dir);
	buf_puts(&b, "/mail\n");
	if (ret == 0)
		ret = init_write(dir, "delivery.conf", &b);
	buf_reset(&b);
	if (ret == 0 && access(users, F_OK) != 0) {
		buf_puts(&b, "# virtual_users - virtual mailbox accounts, maintained by ternuser(8):\n"
			 "# address <TAB> maildir path under virtual_mailbox_base [<TAB> password hash]\n"
			 "demo@demo.test\tdemo.test/demo/\n");
		ret = init_write(dir, "virtual_users", &b);
		for (size_t i = 0; ret == 0 && i < sizeof(sub) / sizeof(sub[0]); i++) {
			char *p = str_dupf("%s/mail/%s", dir, sub[i]);

			ret = init_dir(p, who->uid, who->gid, 0700);
			if (ret != 0)
				fprintf(stderr, "ternctl: %s: %s\n", p, strerror(errno));
			free(p);
		}
	}
	if (ret == 0 && table_db_build("hash", users, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "ternctl: %s\n", err);
		ret = -1;
	}
	if (ret == 0 && param_find("virtual_mailbox_domains", NULL) != NULL &&
	    config_edit(dir, "virtual_mailbox_domains", "demo.test", err, sizeof(err)) != 0) {
		fprintf(stderr, "ternctl: virtual_mailbox_domains: %s\n", err);
		ret = -1;
	}
	if (ret == 0) {
		/* global: virtual reads it, and smtpd checks recipients against it */
		char *maps = str_dupf("hash:%s", users);

		if (config_edit(dir, "virtual_mailbox_maps", maps, err, sizeof(err)) != 0) {
			fprintf(stderr, "ternctl: virtual_mailbox_maps: %s\n", err);
			ret = -1;
		}
		free(maps);
	}
	buf_free(&b);
	free(aliases);
	free(users);
	return ret;
}

/* init_port_free - false when something already listens on addr:port */
static bool init_port_free(const struct init_opts *o, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;
	bool free_port = true;
	int fd;

	memset(&ss, 0, sizeof(ss));
	if (o->ipv6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *) &ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t) port);
		inet_pton(AF_INET6, o->listen, &s6->sin6_addr);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *) &ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t) port);
		inet_pton(AF_INET, o->listen, &s4->sin_addr);
		len = sizeof(*s4);
	}
	fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *) &ss, len) != 0 && errno == EADDRINUSE)
		free_port = false;
	close(fd);
	return free_port;
}

/* init_reachable - warn when mail_owner cannot reach dir (a 0700 home above it) */
static void init_reachable(const char *dir, const struct init_who *who)
{
	char *copy = xstrdup(dir);
	char *slash;

	if (geteuid() != 0) {
		free(copy);
		return;
	}
	for (;;) {
		struct stat st;

		if (stat(copy[0] ? copy : "/", &st) == 0 && st.st_uid != who->uid &&
		    (st.st_mode & S_IXOTH) == 0 && !(st.st_gid == who->gid && (st.st_mode & S_IXGRP))) {
			fprintf(stderr, "ternctl: warning: %s is mode %04o: daemons running as %s cannot reach "
				"%s (choose a directory outside it, or chmod o+x %s)\n", copy[0] ? copy : "/",
				(unsigned) (st.st_mode & 07777), who->mail_owner, dir, copy[0] ? copy : "/");
			break;
		}
		slash = strrchr(copy, '/');
		if (slash == NULL || copy[0] == '\0')
			break;
		*slash = '\0';
	}
	free(copy);
}

/* init_report - what was made, and what to do next */
static void init_report(const char *dir, const struct init_opts *o, const struct init_who *who,
			const char *hostname, const char *missing, bool cert_kept)
{
	char *build = ternctl_files_build_dir();
	char *ctl = build != NULL ? str_dupf("%s/ternctl", build) : xstrdup("ternctl");

	printf("ternctl: new tern instance in %s\n", dir);
	printf("  tern.conf        global parameters (myhostname = %s, mail_owner = %s)\n",
	       hostname, who->mail_owner);
	printf("  master.conf      services on %s%s%s: port %d (SMTP), %d (submission), "
	       "%d (submissions, implicit TLS)\n",
	       o->ipv6 ? "[" : "", o->listen, o->ipv6 ? "]" : "", o->ports[0], o->ports[1], o->ports[2]);
	if (missing[0])
		printf("                   commented out, not built yet: %s\n", missing);
	printf("  smtpd.conf       SMTP server parameters (the TLS certificate below)\n");
	printf("  tern-files       file manifest, for \"ternctl check\"\n");
	printf("  queue/           the mail queue (owner %s)\n", who->mail_owner);
	printf("  data/            pid and status files, caches\n");
	printf("  log/maillog      the log\n");
	printf("  mail/            mail store\n");
	printf("  tls/cert.pem     %s certificate for %s (key tls/key.pem, mode 0600)\n",
	       cert_kept ? "existing" : "new self-signed", hostname);
	printf("next: %s -c %s start\n", ctl, dir);
	free(ctl);
	free(build);
}

/* ternctl_init - create a private instance in dir */
int ternctl_init(const char *dir_arg, int argc, char **argv)
{
	struct init_opts o = {"127.0.0.1", false, {2525, 2587, 2465}, false};
	struct init_who who;
	struct buf conf = BUF_INIT, master = BUF_INIT, missing = BUF_INIT, smtpd = BUF_INIT;
	char dir[PATH_MAX];
	char hostname[256];
	char *exists;
	char *build;
	bool cert_kept = false;
	int status;

	if ((status = init_parse(argc, argv, &o)) != 0)
		return status;
	for (const char *p = dir_arg; *p; p++) {
		if ((unsigned char) *p < ' ' || *p == 0x7f) {
			fprintf(stderr, "ternctl: init: %s: a name with control characters cannot be "
				"written into tern.conf; choose another directory\n", dir_arg);
			return EX_USAGE;
		}
	}
	if (init_mkdirs(dir_arg, 0755) != 0 || realpath(dir_arg, dir) == NULL) {
		fprintf(stderr, "ternctl: init: %s: %s\n", dir_arg, strerror(errno));
		return EX_CANTCREAT;
	}
	exists = str_dupf("%s/tern.conf", dir);
	if (!o.force && access(exists, F_OK) == 0) {
		fprintf(stderr, "ternctl: init: %s already holds an instance (%s); use --force to rewrite "
			"its configuration (queue, mail and keys are kept)\n", dir, exists);
		free(exists);
		return EX_CANTCREAT;
	}
	free(exists);
	if (init_identity(&who) != 0)
		return EX_CANTCREAT;
	init_hostname(hostname, sizeof(hostname));
	build = ternctl_files_build_dir();
	buf_init(&conf, 0);
	buf_init(&master, 0);
	buf_init(&missing, 0);
	buf_init(&smtpd, 0);
	init_tern_conf(&conf, dir, build, &who, hostname, o.ipv6);
	init_smtpd_conf(&smtpd, dir);
	init_master_conf(&master, &o, build != NULL ? build : TERN_LIBEXECDIR, &missing);
	status = EX_CANTCREAT;
	if (init_write(dir, "tern.conf", &conf) == 0 && init_write(dir, "master.conf", &master) == 0 &&
	    init_write(dir, "smtpd.conf", &smtpd) == 0 && init_manifest(dir) == 0)
		status = init_tree(dir, &who, hostname, &cert_kept);
	if (status == 0 && init_mail(dir, &who) != 0)
		status = EX_CANTCREAT;
	if (status == 0) {
		init_reachable(dir, &who);
		for (int i = 0; i < INIT_NPORTS; i++)
			if (!init_port_free(&o, o.ports[i]))
				fprintf(stderr, "ternctl: warning: port %d is in use now (another instance?); "
					"choose others with --ports\n", o.ports[i]);
		init_report(dir, &o, &who, hostname, buf_str(&missing), cert_kept);
	}
	free(build);
	buf_free(&conf);
	buf_free(&master);
	buf_free(&missing);
	buf_free(&smtpd);
	return status;
}
