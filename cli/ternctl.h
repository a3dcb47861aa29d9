/*
 * ternctl.h - the parts of ternctl, one module per group of commands.
 *
 * ternctl.c parses the common options (-c DIR, -v), loads the
 * configuration where a command needs it, and dispatches. Each command
 * returns a process exit status (sysexits.h codes for usage and
 * configuration errors) and prints its own errors.
 */
#ifndef TERN_CLI_TERNCTL_H
#define TERN_CLI_TERNCTL_H

#include "mail/config.h"

/* ternctl_run.c: the running system (master's pid file and status file) */
int ternctl_start(const struct config *cfg, int argc, char **argv);
int ternctl_stop(const struct config *cfg, int argc, char **argv);
int ternctl_reload(const struct config *cfg, int argc, char **argv);
int ternctl_status(const struct config *cfg, int argc, char **argv);

/* ternctl_init.c: create a private instance */
int ternctl_init(const char *dir, int argc, char **argv);

/* ternctl_check.c: validate configuration and queue directory */
int ternctl_check(const char *dir, int argc, char **argv);

/* ternctl_sts.c: the MTA-STS policy cache of the sts service */
int ternctl_sts(const struct config *cfg, int argc, char **argv);

/* ternctl_screen.c: the screen service (bans, frozen accounts) and the auth-failure log */
int ternctl_authlog(const struct config *cfg, int argc, char **argv);
int ternctl_ban(const struct config *cfg, int argc, char **argv);
int ternctl_unban(const struct config *cfg, int argc, char **argv);
int ternctl_bans(const struct config *cfg, int argc, char **argv);
int ternctl_unfreeze(const struct config *cfg, int argc, char **argv);
int ternctl_frozen(const struct config *cfg, int argc, char **argv);

#endif
