/*
 * ternconf - show and edit tern's parameters (the habit of postconf).
 *
 *	ternconf [-c dir] [-s service] [-n | -d] [-h] [name ...]
 *	ternconf [-c dir] -e name=value ...
 *
 * Shows "name = value" lines: the effective values (expanded) of the
 * global parameters and of one group, only those set in a file or by -o
 * (-n, as written), or the built-in defaults (-d). -h leaves out "name = ".
 * -s picks the group: a group id ("smtpd"), a program that reads one, or
 * a service of master.conf, whose "-o" overrides then apply too. Without
 * -s, naming a parameter of a daemon group selects that group. -e edits
 * the files through config_edit (each edit is checked and atomic).
 *
 * Output goes to stdout only on success; every error goes to stderr as
 * "ternconf: error: ..." with a sysexits(3) status: 64 usage (bad option,
 * unknown parameter or service), 66 no configuration directory, 78
 * configuration problems or a refused edit.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sysexits.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/mastercf.h"

#define TERNCONF_USAGE \
	"usage: ternconf [-c dir] [-s service] [-n | -d] [-h] [name ...]\n" \
	"       ternconf [-c dir] -e name=value ...\n"

enum ternconf_mode { TERNCONF_EFFECTIVE, TERNCONF_SET, TERNCONF_DEFAULTS };

/* ternconf_opts - what the command line asked for */
struct ternconf_opts {
	const char *dir;
	const char *service;
	enum ternconf_mode mode;
	bool values_only;
	bool edit;
	char **names;
	int nnames;
};

/* ternconf_usage - print the usage to stderr and return EX_USAGE */
static int ternconf_usage(void)
{
	fputs(TERNCONF_USAGE, stderr);
	return EX_USAGE;
}

/* ternconf_unknown - report an unknown parameter name */
static void ternconf_unknown(const char *name)
{
	const char *near = param_suggest(name);

	if (near)
		msg_error("unknown parameter '%s' (did you mean '%s'?)", name, near);
	else
		msg_error("unknown parameter '%s'", name);
}

/*
 * ternconf_report - print all problems; those of "-o" overrides name the
 * master.conf line they came from when svc_where is set. Returns EX_CONFIG.
 */
static int ternconf_report(const struct config_problems *probs, const char *svc_where)
{
	for (size_t i = 0; i < probs->count; i++) {
		if (svc_where && strcmp(probs->list[i].where, "-o") == 0)
			msg_error("%s: -o %s", svc_where, probs->list[i].text);
		else
			msg_error("%s: %s", probs->list[i].where, probs->list[i].text);
	}
	if (probs->dropped)
		msg_error("%zu more problems not shown", probs->dropped);
	return EX_CONFIG;
}

/* ternconf_check_dir - the configuration directory exists; else EX_NOINPUT */
static int ternconf_check_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) < 0) {
		msg_error("configuration directory %s: %s", dir, strerror(errno));
		return EX_NOINPUT;
	}
	if (!S_ISDIR(st.st_mode)) {
		msg_error("configuration directory %s: not a directory", dir);
		return EX_NOINPUT;
	}
	return 0;
}

/* ternconf_edit - -e name=value ...: check all names, then edit in turn */
static int ternconf_edit(const struct ternconf_opts *o)
{
	char err[1024];
	int rc;

	if ((rc = ternconf_check_dir(o->dir)) != 0)
		return rc;
	for (int i = 0; i < o->nnames; i++) {
		char *name = xstrdup(o->names[i]);
		char *eq = strchr(name, '=');

		if (eq == NULL) {
			msg_error("-e '%s': expected name=value", o->names[i]);
			free(name);
			return EX_USAGE;
		}
		*eq = '\0';
		if (param_find(str_trim(name), NULL) == NULL) {
			ternconf_unknown(str_trim(name));
			free(name);
			return EX_USAGE;
		}
		free(name);
	}
	for (int i = 0; i < o->nnames; i++) {
		char *name = xstrdup(o->names[i]);
		char *eq = strchr(name, '=');

		*eq = '\0';
		if (config_edit(o->dir, str_trim(name), eq + 1, err, sizeof(err)) < 0) {
			msg_error("%s", err);
			free(name);
			return EX_CONFIG;
		}
		free(name);
	}
	return EX_OK;
}

/*
 * ternconf_service - resolve -s from master.conf: the service's group
 * (NULL: global only) and its overrides. Returns 0 or an exit status.
 */
static int ternconf_service(const struct ternconf_opts *o, struct mastercf *mcf,
			    const struct param_group **group, const char *const **overrides,
			    const char **where)
{
	struct config_problems probs = { NULL, 0, 0 };
	const struct mastercf_service *found = NULL;
	char *name = xstrdup(o->service);
	char *slash = strrchr(name, '/');
	const char *type = NULL, *prog;
	struct config cfg;
	char *path;
	int matches = 0, rc = 0;

	if (slash && (strcmp(slash + 1, "inet") == 0 || strcmp(slash + 1, "unix") == 0 ||
		      strcmp(slash + 1, "pass") == 0)) {
		*slash = '\0';
		type = slash + 1;
	}
	/* master.conf needs the global parameters (default_process_limit) */
	if (config_load(&cfg, o->dir, NULL, NULL, false, &probs) > 0) {
		rc = ternconf_report(&probs, NULL);
		goto out;
	}
	path = config_file_path(o->dir, "master.conf");
	mastercf_load(path, &cfg.global, mcf, &probs);
	free(path);
	for (size_t i = 0; i < mcf->count; i++) {
		const struct mastercf_service *s = &mcf->services[i];

		if (strcmp(s->name, name) == 0 &&
		    (type == NULL || strcmp(mastercf_type_name(s->type), type) == 0)) {
			found = s;
			matches++;
		}
	}
	if (matches == 0) {
		if (probs.count > 0) {
			ternconf_report(&probs, NULL);
			msg_error("no service '%s' (master.conf has problems)", o->service);
			rc = EX_CONFIG;
		} else {
			msg_error("unknown service '%s': not a parameter group, a program that reads one, or a service in %s/master.conf",
				  o->service, o->dir);
			rc = EX_USAGE;
		}
		goto out;
	}
	if (matches > 1) {
		msg_error("service '%s' is in master.conf more than once: say which with %s/inet, %s/unix or %s/pass",
			  name, name, name, name);
		rc = EX_USAGE;
		goto out;
	}
	prog = strrchr(found->command, '/');
	prog = prog ? prog + 1 : found->command;
	*group = param_group_for_program(prog);
	*overrides = (const char *const *) found->overrides;
	*where = found->where;
out:
	config_free(&cfg);
	config_problems_free(&probs);
	free(name);
	return rc;
}

/* ternconf_print - one "name = value" line (or the value alone) */
static void ternconf_print(const struct ternconf_opts *o, const char *name, const char *value)
{
	if (o->values_only)
		printf("%s\n", value);
	else if (*value)
		printf("%s = %s\n", name, value);
	else
		printf("%s =\n", name);
}

/* ternconf_show_def - the -d line of one definition */
static void ternconf_show_def(const struct ternconf_opts *o, const struct param_def *d)
{
	ternconf_print(o, d->name, d->defval);
}

/* ternconf_show_value - the line of one loaded value, per mode */
static void ternconf_show_value(const struct ternconf_opts *o, const struct config_value *v)
{
	if (o->mode == TERNCONF_SET) {
		if (v->set)
			ternconf_print(o, v->def->name, v->raw);
	} else {
		ternconf_print(o, v->def->name, v->expanded);
	}
}

/* ternconf_show - print what was asked for; returns the exit status */
static int ternconf_show(const struct ternconf_opts *o)
{
	const struct param_group *global = param_registry()[0];
	const struct param_group *group = NULL;
	const char *const *overrides = NULL;
	const char *svc_where = NULL;
	struct mastercf mcf = { NULL, 0 };
	struct config_problems probs = { NULL, 0, 0 };
	bool have_group = false;
	struct config cfg;
	int rc = 0;

	if (o->service) {
		if (strcmp(o->service, global->id) == 0)
			group = NULL;
		else if ((group = param_group_find(o->service)) == NULL &&
			 (group = param_group_for_program(o->service)) == NULL) {
			if ((rc = ternconf_check_dir(o->dir)) != 0 ||
			    (rc = ternconf_service(o, &mcf, &group, &overrides, &svc_where)) != 0)
				goto out;
		}
		have_group = true;
	}
	/* every name must be known, and all must fit one group */
	for (int i = 0; i < o->nnames; i++) {
		const struct param_group *g;

		if (param_find(o->names[i], &g) == NULL) {
			ternconf_unknown(o->names[i]);
			rc = EX_USAGE;
			goto out;
		}
		if (g == global || g == group)
			continue;
		if (!have_group) {
			group = g;
			have_group = true;
			continue;
		}
		if (o->service)
			msg_error("parameter '%s' belongs in %s, which service '%s' does not read",
				  o->names[i], g->file, o->service);
		else
			msg_error("parameter '%s' belongs in %s, but '%s' belongs in %s: ask for one group at a time",
				  o->names[i], g->file, o->names[0], group->file);
		rc = EX_USAGE;
		goto out;
	}
	if (o->mode == TERNCONF_DEFAULTS) {
		if (o->nnames > 0) {
			for (int i = 0; i < o->nnames; i++)
				ternconf_show_def(o, param_find(o->names[i], NULL));
		} else {
			for (size_t j = 0; j < global->ndefs; j++)
				ternconf_show_def(o, &global->defs[j]);
			for (size_t j = 0; group && j < group->ndefs; j++)
				ternconf_show_def(o, &group->defs[j]);
		}
		goto out;
	}
	if ((rc = ternconf_check_dir(o->dir)) != 0)
		goto out;
	if (config_load(&cfg, o->dir, group ? group->id : NULL, overrides, false, &probs) > 0) {
		rc = ternconf_report(&probs, svc_where);
	} else if (o->nnames > 0) {
		for (int i = 0; i < o->nnames; i++)
			ternconf_show_value(o, config_value_find(&cfg, o->names[i]));
	} else {
		for (size_t i = 0; i < cfg.nvalues; i++)
			ternconf_show_value(o, &cfg.values[i]);
	}
	config_free(&cfg);
out:
	config_problems_free(&probs);
	mastercf_free(&mcf);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		msg_error("write error on standard output: %s", strerror(errno));
		return EX_IOERR;
	}
	return rc;
}

/* main - parse the options and run */
int main(int argc, char **argv)
{
	struct ternconf_opts o = { NULL, NULL, TERNCONF_EFFECTIVE, false, false, NULL, 0 };
	int c;

	msg_init("ternconf");
	if (argc == 2 && strcmp(argv[1], "--help") == 0) {
		fputs(TERNCONF_USAGE, stdout);
		return EX_OK;
	}
	opterr = 0;
	while ((c = getopt(argc, argv, "+c:s:ndhe")) != -1) {
		switch (c) {
		case 'c':
			o.dir = optarg;
			break;
		case 's':
			o.service = optarg;
			break;
		case 'n':
		case 'd':
			if (o.mode != TERNCONF_EFFECTIVE && o.mode != (c == 'n' ? TERNCONF_SET : TERNCONF_DEFAULTS)) {
				msg_error("-n and -d cannot be used together");
				return ternconf_usage();
			}
			o.mode = c == 'n' ? TERNCONF_SET : TERNCONF_DEFAULTS;
			break;
		case 'h':
			o.values_only = true;
			break;
		case 'e':
			o.edit = true;
			break;
		default:
			if (optopt == 'c' || optopt == 's')
				msg_error("option -%c needs an argument", optopt);
			else
				msg_error("unknown option -%c", optopt);
			return ternconf_usage();
		}
	}
	o.names = argv + optind;
	o.nnames = argc - optind;
	o.dir = o.dir ? o.dir : config_dir_default();
	if (o.edit) {
		if (o.service || o.mode != TERNCONF_EFFECTIVE || o.values_only) {
			msg_error("-e cannot be used with -s, -n, -d or -h");
			return ternconf_usage();
		}
		if (o.nnames == 0) {
			msg_error("-e needs at least one name=value");
			return ternconf_usage();
		}
		return ternconf_edit(&o);
	}
	return ternconf_show(&o);
}
