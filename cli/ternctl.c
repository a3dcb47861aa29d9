/*
 * ternctl - the administrator's front door: start, stop, reload, status,
 * check and init, like postfix(1) and smtpctl(8).
 *
 *	ternctl [-c DIR] [-v] COMMAND [args]
 *
 * This file parses the common options, finds the configuration directory
 * (-c, else $TERN_CONFIG_DIR, else /etc/tern), and dispatches through one
 * table; a new command is one line in ternctl_commands[]. Commands that
 * work on a running system get the loaded global configuration; check
 * and init get the directory, because they must work when the
 * configuration is broken or absent.
 *
 * Each command is called with argv[0] set to its own name and getopt
 * reset, so it can parse its options with getopt/getopt_long.
 *
 * Exit status: what the command returns; 64 (EX_USAGE) for usage errors,
 * 78 (EX_CONFIG) when the configuration does not load.
 */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "ternctl.h"

/* ternctl_cmd - one command: a handler that wants a config, or a directory */
struct ternctl_cmd {
	const char *name;
	int (*with_config)(const struct config *cfg, int argc, char **argv);
	int (*with_dir)(const char *dir, int argc, char **argv);
	const char *args;		/* for the usage text */
	const char *doc;		/* one line for "ternctl help" */
};

static int ternctl_help(const char *dir, int argc, char **argv);

static const struct ternctl_cmd ternctl_commands[] = {
	{"start", ternctl_start, NULL, "", "start the mail system (master and its services)"},
	{"stop", ternctl_stop, NULL, "", "stop the mail system: drain, then end every service"},
	{"reload", ternctl_reload, NULL, "", "re-read the configuration without stopping"},
	{"status", ternctl_status, NULL, "", "is it running? services with pids and counts (exit 3: not running)"},
	{"check", NULL, ternctl_check, "", "validate the configuration; create and repair the queue"},
	{"init", NULL, ternctl_init, "[--listen ADDR] [--ports P1,P2,P3] [--force]",
	 "create a private instance in DIR"},
	{"sts", ternctl_sts, NULL, "show|purge|fetch|refresh DOMAIN",
	 "MTA-STS policy cache: show or drop a domain's policy, or fetch it now"},
	{"authlog", ternctl_authlog, NULL, "[-n N] [--ip ADDR]", "the last failed AUTH attempts (auth_failure_log)"},
	{"ban", ternctl_ban, NULL, "ADDR[/LEN] [TIME]", "ban a client address or network now"},
	{"unban", ternctl_unban, NULL, "ADDR[/LEN]", "lift a ban"},
	{"bans", ternctl_bans, NULL, "", "the bans in force"},
	{"unfreeze", ternctl_unfreeze, NULL, "ACCOUNT", "thaw an account frozen for suspected hijacking; release its mail"},
	{"frozen", ternctl_frozen, NULL, "", "the frozen accounts"},
	{"help", NULL, ternctl_help, "", "this list"},
};

#define TERNCTL_NCOMMANDS (sizeof(ternctl_commands) / sizeof(ternctl_commands[0]))

/* ternctl_usage_line - the short usage on stderr */
static void ternctl_usage_line(void)
{
	fprintf(stderr, "usage: ternctl [-c DIR] [-v] COMMAND [args]; \"ternctl help\" lists the commands\n");
}

/* ternctl_help - list the commands on stdout */
static int ternctl_help(const char *dir, int argc, char **argv)
{
	(void) argv;
	if (argc > 1) {
		fprintf(stderr, "ternctl: help takes no arguments\n");
		return EX_USAGE;
	}
	printf("usage: ternctl [-c DIR] [-v] COMMAND [args]\n\n");
	printf("  -c DIR   configuration directory (now: %s)\n", dir);
	printf("  -v       more detail; repeat for more\n\ncommands:\n");
	for (size_t i = 0; i < TERNCTL_NCOMMANDS; i++) {
		const struct ternctl_cmd *c = &ternctl_commands[i];
		char head[96];

		str_fmt(head, sizeof(head), "%s%s%s", c->name, c->args[0] ? " " : "", c->args);
		if (strlen(head) > 14)
			printf("  %s\n  %-14s %s\n", head, "", c->doc);
		else
			printf("  %-14s %s\n", head, c->doc);
	}
	printf("\nSee ternctl(8).\n");
	return 0;
}

/* ternctl_find - the command named name, or NULL (with a suggestion) */
static const struct ternctl_cmd *ternctl_find(const char *name, const char **suggest)
{
	int best = 3;

	*suggest = NULL;
	for (size_t i = 0; i < TERNCTL_NCOMMANDS; i++) {
		int d;

		if (strcmp(ternctl_commands[i].name, name) == 0)
			return &ternctl_commands[i];
		d = str_distance(ternctl_commands[i].name, name);
		if (d < best) {
			best = d;
			*suggest = ternctl_commands[i].name;
		}
	}
	return NULL;
}

/* ternctl_with_config - load the global configuration, then run cmd */
static int ternctl_with_config(const struct ternctl_cmd *cmd, const char *dir,
			       int argc, char **argv)
{
	struct config cfg;
	struct config_problems probs = {0};
	int status;

	memset(&cfg, 0, sizeof(cfg));
	if (config_load(&cfg, dir, NULL, NULL, true, &probs) != 0 || probs.count != 0) {
		for (size_t i = 0; i < probs.count; i++)
			fprintf(stderr, "ternctl: %s: %s\n", probs.list[i].where, probs.list[i].text);
		fprintf(stderr, "ternctl: %s: the configuration has %zu problem%s; nothing done "
			"(details: ternctl -c %s check)\n", dir, probs.count,
			probs.count == 1 ? "" : "s", dir);
		config_problems_free(&probs);
		config_free(&cfg);
		return EX_CONFIG;
	}
	status = cmd->with_config(&cfg, argc, argv);
	config_problems_free(&probs);
	config_free(&cfg);
	return status;
}

/* main - the common options, then the command */
int main(int argc, char **argv)
{
	const struct ternctl_cmd *cmd;
	const char *suggest;
	char real[PATH_MAX];
	const char *dir = NULL;
	int ch;

	msg_init("ternctl");
	while ((ch = getopt(argc, argv, "+c:vh")) != -1) {
		switch (ch) {
		case 'c':
			if (optarg[0] == '\0') {
				fprintf(stderr, "ternctl: -c needs a directory\n");
				return EX_USAGE;
			}
			dir = optarg;
			break;
		case 'v':
			msg_verbose++;
			break;
		case 'h':
			return ternctl_help(dir ? dir : config_dir_default(), 1, argv);
		default:
			ternctl_usage_line();
			return EX_USAGE;
		}
	}
	if (dir == NULL)
		dir = config_dir_default();
	/* an absolute path: daemons and pid files must not depend on our cwd */
	if (realpath(dir, real) != NULL)
		dir = real;
	if (optind >= argc) {
		ternctl_usage_line();
		return EX_USAGE;
	}
	cmd = ternctl_find(argv[optind], &suggest);
	if (cmd == NULL) {
		if (suggest != NULL)
			fprintf(stderr, "ternctl: unknown command '%s' (did you mean '%s'?)\n",
				argv[optind], suggest);
		else
			fprintf(stderr, "ternctl: unknown command '%s'\n", argv[optind]);
		ternctl_usage_line();
		return EX_USAGE;
	}
	argc -= optind;
	argv += optind;
	optind = 0;			/* glibc: start the command's getopt afresh */
	if (cmd->with_config != NULL)
		return ternctl_with_config(cmd, dir, argc, argv);
	return cmd->with_dir(dir, argc, argv);
}
