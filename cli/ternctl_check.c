/*
 * ternctl_check - "ternctl [-c DIR] check": everything that can be known
 * wrong before starting, like "postfix check" and "smtpd -n".
 *
 *	tern.conf and every daemon file (smtpd.conf, ...): unknown names
 *	with a did-you-mean, bad values, expansion errors
 *	master.conf: syntax, -o overrides (names and values), and that each
 *	command is an executable program in daemon_directory
 *	mail_owner and setgid_group exist; mail_owner is not root
 *	the queue and data directories against the manifest (tern-files):
 *	missing directories are created, wrong owner or mode repaired, and
 *	entries that do not belong reported (never removed)
 *
 * Every problem is printed as "ternctl: FILE:LINE: text" (or PATH: text),
 * each once; repairs as "ternctl: fixed: PATH: what". Exit 0 when all is
 * well after the repairs, 78 (EX_CONFIG) with the number of problems.
 *
 * Invariant: directories are only created or repaired when tern.conf
 * loads without problems, so a typo never makes check build a queue in
 * the wrong place.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/dns.h"
#include "mail/mastercf.h"
#include "mail/table.h"
#include "ternctl.h"
#include "ternctl_files.h"

/* check_where - where a setting came from, for a problem about its value */
static const char *check_where(const struct config *cfg, const char *name)
{
	const struct config_value *v = config_value_find(cfg, name);

	return v != NULL && v->where != NULL ? v->where : "default";
}

/* check_value - the expanded value of a setting, "" when unknown */
static const char *check_value(const struct config *cfg, const char *name)
{
	const struct config_value *v = config_value_find(cfg, name);

	return v != NULL && v->expanded != NULL ? v->expanded : "";
}

/*
 * check_tables - open every table a TABLES parameter of the group names,
 * as root and directly (a proxy: prefix is dropped: proxymap would open the
 * same file), so a pcre: syntax error or an unreadable table is reported
 * here with its file and line instead of stopping a daemon later; a table
 * file that does not exist yet is a warning. Global parameters are checked
 * with the global group only.
 */
static void check_tables(const struct config *g, struct config_problems *probs)
{
	for (size_t i = 0; i < g->nvalues; i++) {
		const struct config_value *v = &g->values[i];
		char **list;

		if (v->def->type != PT_TABLES || (g->group != NULL && v->group != g->group))
			continue;
		if (strncmp(v->def->name, "proxy_", 6) == 0)
			continue;	/* proxy_read_maps: an allow-list of names, not tables to open */
		list = *(char ***) ((char *) (v->group == param_groups[0] ? (void *) &g->global : g->own)
				    + v->def->offset);
		for (size_t j = 0; list != NULL && list[j] != NULL; j++) {
			const char *spec = list[j];
			char err[TABLE_ERR_SIZE];
			struct table *t;

			if (strncmp(spec, "proxy:", 6) == 0)
				spec += 6;
			if ((t = table_open(spec, 0, err, sizeof(err))) == NULL) {
				/* not built yet (newaliases, ternmap) is normal on a fresh system */
				if (strstr(err, strerror(ENOENT)) != NULL)
					fprintf(stderr, "ternctl: warning: %s: %s\n", v->def->name, err);
				else
					config_problem_add(probs, v->where, "%s: %s", v->def->name, err);
				continue;
			}
			table_close(t);
		}
	}
}

/* check_groups - load every daemon group's file (tern.conf comes again) and open its tables */
static void check_groups(const char *dir, const struct config *global, struct config_problems *probs)
{
	check_tables(global, probs);
	for (size_t i = 1; param_groups[i] != NULL; i++) {
		struct config g;

		memset(&g, 0, sizeof(g));
		if (config_load(&g, dir, param_groups[i]->id, NULL, true, probs) == 0)
			check_tables(&g, probs);
		config_free(&g);
	}
}

/*
 * check_services - master.conf: syntax, each program, and each service's
 * -o overrides loaded as its daemon would load them
 */
static void check_services(const char *dir, const struct config *cfg,
			   struct config_problems *probs)
{
	const char *daemons = check_value(cfg, "daemon_directory");
	char *path = str_dupf("%s/master.conf", dir);
	struct mastercf mcf;
	struct stat st;

	memset(&mcf, 0, sizeof(mcf));
	mastercf_load(path, &cfg->global, &mcf, probs);
	if (stat(daemons, &st) != 0)
		config_problem_add(probs, check_where(cfg, "daemon_directory"),
				   "daemon_directory %s: %s", daemons, strerror(errno));
	else if (!S_ISDIR(st.st_mode))
		config_problem_add(probs, check_where(cfg, "daemon_directory"),
				   "daemon_directory %s: not a directory", daemons);
	for (size_t i = 0; i < mcf.count; i++) {
		const struct mastercf_service *s = &mcf.services[i];
		const struct param_group *group = param_group_for_program(s->command);
		char *prog = str_dupf("%s/%s", daemons, s->command);
		struct config sc;

		if (strchr(s->command, '/') != NULL)
			config_problem_add(probs, s->where, "command '%s' must be a program name in "
					   "daemon_directory, not a path", s->command);
		else if (stat(prog, &st) != 0)
			config_problem_add(probs, s->where, "program '%s' not found in daemon_directory %s",
					   s->command, daemons);
		else if (!S_ISREG(st.st_mode) || access(prog, X_OK) != 0)
			config_problem_add(probs, s->where, "program %s is not executable", prog);
		free(prog);
		if (s->overrides != NULL && s->overrides[0] != NULL) {
			struct config_problems own = {0};

			/* problems of the -o values say "-o": name the service line */
			memset(&sc, 0, sizeof(sc));
			config_load(&sc, dir, group != NULL ? group->id : NULL,
				    (const char *const *) s->overrides, true, &own);
			for (size_t j = 0; j < own.count; j++) {
				if (str_has_prefix(own.list[j].where, "-o"))
					config_problem_add(probs, s->where, "%s: %s", own.list[j].where,
							   own.list[j].text);
				else
					config_problem_add(probs, own.list[j].where, "%s", own.list[j].text);
			}
			config_problems_free(&own);
			config_free(&sc);
		}
	}
	mastercf_free(&mcf);
	free(path);
}

/* check_accounts - mail_owner and setgid_group exist; mail_owner is not root */
static void check_accounts(const struct config *cfg, struct config_problems *probs)
{
	const char *owner = check_value(cfg, "mail_owner");
	const char *group = check_value(cfg, "setgid_group");
	struct passwd *pw = getpwnam(owner);

	if (pw == NULL)
		config_problem_add(probs, check_where(cfg, "mail_owner"), "mail_owner: no user '%s' "
				   "(create it: useradd --system --user-group --no-create-home "
				   "--shell /usr/sbin/nologin %s)", owner, owner);
	else if (pw->pw_uid == 0 && geteuid() == 0)
		config_problem_add(probs, check_where(cfg, "mail_owner"),
				   "mail_owner '%s' is root: the daemons must run unprivileged", owner);
	if (getgrnam(group) == NULL)
		config_problem_add(probs, check_where(cfg, "setgid_group"), "setgid_group: no group '%s' "
				   "(create it: groupadd --system %s)", group, group);
}

/*
 * check_tree - the manifest, then the queue and data directories; a
 * missing manifest is put back from the build tree or the installation
 */
static void check_tree(const char *dir, const struct config *cfg, int *fixes,
		       struct config_problems *probs)
{
	static const char *const must_be_absolute[] = {"queue_directory", "data_directory"};
	char *manifest = str_dupf("%s/%s", dir, TERNCTL_FILES_NAME);
	struct ternctl_files m;
	char err[PATH_MAX + 128];

	for (size_t i = 0; i < 2; i++) {
		if (check_value(cfg, must_be_absolute[i])[0] != '/') {
			config_problem_add(probs, check_where(cfg, must_be_absolute[i]),
					   "%s must be an absolute path", must_be_absolute[i]);
			free(manifest);
			return;
		}
	}
	if (access(manifest, F_OK) != 0) {
		char *src = ternctl_files_source();

		if (src != NULL && ternctl_files_copy(src, manifest, 0644, err, sizeof(err)) == 0) {
			(*fixes)++;
			printf("ternctl: fixed: %s: was missing, copied from %s\n", manifest, src);
		} else {
			config_problem_add(probs, manifest, "the file manifest is missing%s%s",
					   src != NULL ? ": " : " (no copy to restore it from)",
					   src != NULL ? err : "");
		}
		free(src);
	}
	if (ternctl_files_load(manifest, &m, probs) == 0)
		ternctl_files_sync(&m, cfg, true, fixes, probs);
	ternctl_files_free(&m);
	free(manifest);
}

/*
 * check_now_built - master.conf lines that init or install left commented
 * out ("# not built yet: smtpd") whose program exists now: a note, not a
 * problem
 */
static void check_now_built(const char *dir, const struct config *cfg)
{
	char *path = str_dupf("%s/master.conf", dir);
	FILE *fp = fopen(path, "r");
	char line[1024];
	int lineno = 0;

	if (fp != NULL) {
		while (fgets(line, sizeof(line), fp) != NULL) {
			char name[256];
			char *prog;

			lineno++;
			if (sscanf(line, "# not built yet: %255s", name) != 1 || strchr(name, '/') != NULL)
				continue;
			prog = str_dupf("%s/%s", check_value(cfg, "daemon_directory"), name);
			if (access(prog, X_OK) == 0)
				printf("ternctl: %s:%d: note: %s is built now; remove the '#' from the "
				       "service line below to enable it\n", path, lineno, name);
			free(prog);
		}
		fclose(fp);
	}
	free(path);
}

/* check_stray_files - a note for each *.conf in dir that no program reads */
static void check_stray_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);
		bool known;

		if (len < 6 || strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		known = strcmp(de->d_name, "master.conf") == 0;
		for (size_t i = 0; param_groups[i] != NULL && !known; i++)
			known = strcmp(param_groups[i]->file, de->d_name) == 0;
		if (!known)
			printf("ternctl: %s/%s: note: no tern program reads this file (yet)\n",
			       dir, de->d_name);
	}
	closedir(d);
}

/* check_print - print each problem once; returns how many were printed */
static int check_print(const struct config_problems *probs)
{
	int printed = 0;

	for (size_t i = 0; i < probs->count; i++) {
		const struct config_problem *p = &probs->list[i];
		bool seen = false;

		for (size_t j = 0; j < i && !seen; j++)
			seen = strcmp(probs->list[j].where, p->where) == 0 &&
			       strcmp(probs->list[j].text, p->text) == 0;
		if (seen)
			continue;
		fprintf(stderr, "ternctl: %s: %s\n", p->where, p->text);
		printed++;
	}
	if (probs->dropped > 0) {
		fprintf(stderr, "ternctl: ... and %zu more\n", probs->dropped);
		printed += (int) probs->dropped;
	}
	return printed;
}

/* ternctl_check - validate dir's configuration; create and repair the queue */
int ternctl_check(const char *dir, int argc, char **argv)
{
	struct config_problems probs = {0};
	struct config cfg;
	char *main_file;
	bool main_ok;
	int fixes = 0;
	int count;

	(void) argv;
	if (argc > 1) {
		fprintf(stderr, "usage: ternctl [-c DIR] check\n");
		return EX_USAGE;
	}
	main_file = str_dupf("%s/tern.conf", dir);
	if (access(main_file, R_OK) != 0) {
		fprintf(stderr, "ternctl: %s: %s (is %s a tern configuration directory? "
			"\"ternctl -c DIR init\" makes one)\n", main_file, strerror(errno), dir);
		free(main_file);
		return EX_CONFIG;
	}
	free(main_file);

	memset(&cfg, 0, sizeof(cfg));
	main_ok = config_load(&cfg, dir, NULL, NULL, true, &probs) == 0 && probs.count == 0;
	check_groups(dir, &cfg, &probs);
	check_services(dir, &cfg, &probs);
	check_accounts(&cfg, &probs);
	dns_config_check(&cfg, &probs);	/* dns_resolver_mode, dns_forwarders, dns_ files */
	if (main_ok)
		check_tree(dir, &cfg, &fixes, &probs);
	check_now_built(dir, &cfg);
	check_stray_files(dir);

	count = check_print(&probs);
	if (!main_ok)
		fprintf(stderr, "ternctl: %s: queue and data directories not checked until tern.conf "
			"is fixed\n", dir);
	if (count > 0)
		fprintf(stderr, "ternctl: %s: %d problem%s found\n", dir, count, count == 1 ? "" : "s");
	else
		printf("ternctl: %s: configuration OK%s\n", dir,
		       fixes > 0 ? " (after the repairs above)" : "");
	config_problems_free(&probs);
	config_free(&cfg);
	return count > 0 ? EX_CONFIG : 0;
}
