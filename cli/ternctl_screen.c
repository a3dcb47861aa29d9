/*
 * ternctl_screen - the administrator's side of the screen service
 * (screen(8)), MDaemon's auth-failure log and "add to block list":
 *
 *	ternctl authlog [-n N] [--ip ADDR]   the last N lines (default 50) of
 *	                                     auth_failure_log, newest last,
 *	                                     only client ADDR with --ip
 *	ternctl ban ADDR[/LEN] [TIME]        ban now (TIME: 3600, 30m, 2h, 7d;
 *	                                     default auth_ban_time)
 *	ternctl unban ADDR[/LEN]             lift that ban, forget the counters
 *	ternctl bans                         the bans in force
 *	ternctl unfreeze ACCOUNT             thaw a frozen account, release its mail
 *	ternctl frozen                       the frozen accounts
 *
 * All but authlog ask the running screen service on
 * queue_directory/private/screen; authlog reads the file itself (the
 * smtpd group's auth_failure_log), so it works while tern is stopped.
 *
 * Exit status: 0 done; 1 nothing to do (unban: not banned, unfreeze:
 * not frozen); 64 usage; 66 the log file is missing; 69 (EX_UNAVAILABLE)
 * the service could not be asked; 78 configuration.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "base/attr.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/screen_client.h"
#include "mail/screen_proto.h"
#include "ternctl.h"

#define TERNCTL_SCREEN_TIMEOUT	60		/* seconds: a freeze or unfreeze walks the queue */
#define TERNCTL_AUTHLOG_MAX	100000		/* lines kept for -n */

/* ternctl_screen_time - "2026-11-23 10:00:00 +0100" of t */
static void ternctl_screen_time(int64_t t, char *out, size_t len)
{
	time_t tt = (time_t) t;
	struct tm tm;

	if (localtime_r(&tt, &tm) == NULL || strftime(out, len, "%Y-%m-%d %H:%M:%S %z", &tm) == 0)
		str_fmt(out, len, "%lld", (long long) t);
}

/* ternctl_screen_ask - one request to the service: 0 with r, or EX_UNAVAILABLE (printed) */
static int ternctl_screen_ask(const struct config *cfg, const struct screen_query *q,
			      struct screen_result *r, struct screen_client **keep)
{
	char *path = str_dupf("%s/%s", cfg->global.queue_directory, SCREEN_SOCKET_PRIVATE);
	struct screen_client *c = screen_client_new(path, TERNCTL_SCREEN_TIMEOUT);
	int rc = 0;

	free(path);
	if (screen_client_request(c, q, r) < 0) {
		fprintf(stderr, "ternctl: %s: %s (is tern running, with the screen service in master.conf?)\n",
			q->op, r->text);
		rc = EX_UNAVAILABLE;
	} else if (r->status == SCREEN_ERROR) {
		fprintf(stderr, "ternctl: %s: %s\n", q->op, r->text);
		rc = EX_USAGE;
	}
	if (keep != NULL && rc == 0)
		*keep = c;
	else
		screen_client_free(c);
	return rc;
}

/* ternctl_ban - "ban ADDR [TIME]" */
int ternctl_ban(const struct config *cfg, int argc, char **argv)
{
	struct screen_query q = {.op = SCREEN_OP_BAN};
	struct screen_result r;
	long long secs = 0;
	char until[64];
	int rc;

	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: ternctl ban ADDR[/LEN] [TIME]\n");
		return EX_USAGE;
	}
	if (argc == 3 && str_to_time(argv[2], 1, 10LL * 365 * 86400, &secs) < 0) {
		fprintf(stderr, "ternctl: ban: bad time \"%s\" (e.g. 3600, 30m, 2h, 7d)\n", argv[2]);
		return EX_USAGE;
	}
	q.addr = argv[1];
	q.seconds = secs;
	q.reason = "banned by the administrator (ternctl ban)";
	if ((rc = ternctl_screen_ask(cfg, &q, &r, NULL)) != 0)
		return rc;
	ternctl_screen_time(r.until, until, sizeof(until));
	printf("%s (until %s)\n", r.text, until);
	return 0;
}

/* ternctl_unban - "unban ADDR" */
int ternctl_unban(const struct config *cfg, int argc, char **argv)
{
	struct screen_query q = {.op = SCREEN_OP_UNBAN};
	struct screen_result r;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: ternctl unban ADDR[/LEN]\n");
		return EX_USAGE;
	}
	q.addr = argv[1];
	if ((rc = ternctl_screen_ask(cfg, &q, &r, NULL)) != 0)
		return rc;
	printf("%s\n", r.text);
	return r.status == SCREEN_OK ? 0 : 1;
}

/* ternctl_bans - "bans": one line per ban */
int ternctl_bans(const struct config *cfg, int argc, char **argv)
{
	struct screen_query q = {.op = SCREEN_OP_LIST_BANS};
	struct screen_client *c = NULL;
	struct screen_result r;
	const struct attr *a = NULL, *s = NULL, *u = NULL, *why = NULL;
	int rc;
	size_t n = 0;

	(void) argv;
	if (argc != 1) {
		fprintf(stderr, "usage: ternctl bans\n");
		return EX_USAGE;
	}
	if ((rc = ternctl_screen_ask(cfg, &q, &r, &c)) != 0)
		return rc;
	while ((a = attr_find(screen_client_reply(c), SCREEN_BAN_ADDR, a)) != NULL) {
		char since[64], until[64];

		s = attr_find(screen_client_reply(c), SCREEN_BAN_SINCE, s);
		u = attr_find(screen_client_reply(c), SCREEN_BAN_UNTIL, u);
		why = attr_find(screen_client_reply(c), SCREEN_BAN_REASON, why);
		if (s == NULL || u == NULL || why == NULL)
			break;
		if (n++ == 0)
			printf("%-20s %-25s %-25s %s\n", "ADDRESS", "SINCE", "UNTIL", "REASON");
		ternctl_screen_time(s->num, since, sizeof(since));
		ternctl_screen_time(u->num, until, sizeof(until));
		printf("%-20s %-25s %-25s %s\n", a->value, since, until, why->value);
	}
	if (n == 0)
		printf("no bans\n");
	screen_client_free(c);
	return 0;
}

/* ternctl_unfreeze - "unfreeze ACCOUNT" */
int ternctl_unfreeze(const struct config *cfg, int argc, char **argv)
{
	struct screen_query q = {.op = SCREEN_OP_UNFREEZE};
	struct screen_result r;
	int rc;

	if (argc != 2) {
		fprintf(stderr, "usage: ternctl unfreeze ACCOUNT\n");
		return EX_USAGE;
	}
	q.account = argv[1];
	if ((rc = ternctl_screen_ask(cfg, &q, &r, NULL)) != 0)
		return rc;
	printf("%s\n", r.text);
	return r.status == SCREEN_OK ? 0 : 1;
}

/* ternctl_frozen - "frozen": one line per frozen account */
int ternctl_frozen(const struct config *cfg, int argc, char **argv)
{
	struct screen_query q = {.op = SCREEN_OP_LIST_FROZEN};
	struct screen_client *c = NULL;
	struct screen_result r;
	const struct attr *a = NULL, *s = NULL, *addr = NULL, *h = NULL;
	size_t n = 0;
	int rc;

	(void) argv;
	if (argc != 1) {
		fprintf(stderr, "usage: ternctl frozen\n");
		return EX_USAGE;
	}
	if ((rc = ternctl_screen_ask(cfg, &q, &r, &c)) != 0)
		return rc;
	while ((a = attr_find(screen_client_reply(c), SCREEN_FROZEN_ACCOUNT, a)) != NULL) {
		char since[64];

		s = attr_find(screen_client_reply(c), SCREEN_FROZEN_SINCE, s);
		addr = attr_find(screen_client_reply(c), SCREEN_FROZEN_ADDR, addr);
		h = attr_find(screen_client_reply(c), SCREEN_FROZEN_HELD, h);
		if (s == NULL || addr == NULL || h == NULL)
			break;
		if (n++ == 0)
			printf("%-30s %-25s %-20s %s\n", "ACCOUNT", "SINCE", "FROM", "HELD");
		ternctl_screen_time(s->num, since, sizeof(since));
		printf("%-30s %-25s %-20s %lld\n", a->value, since, addr->value, (long long) h->num);
	}
	if (n == 0)
		printf("no frozen accounts\n");
	screen_client_free(c);
	return 0;
}

/* ternctl_authlog_file - the smtpd group's auth_failure_log: a copy, or NULL (printed) */
static char *ternctl_authlog_file(const struct config *cfg)
{
	struct config own;
	struct config_problems probs = {0};
	char *path = NULL;

	if (config_load(&own, cfg->dir, "smtpd", NULL, true, &probs) != 0 || probs.count != 0)
		fprintf(stderr, "ternctl: authlog: the configuration of %s has problems; nothing done\n",
			cfg->dir);
	else
		path = xstrdup(((const struct params_smtpd *) own.own)->auth_failure_log);
	config_problems_free(&probs);
	config_free(&own);
	return path;
}

/* ternctl_authlog - "authlog [-n N] [--ip ADDR]": the last lines of auth_failure_log */
int ternctl_authlog(const struct config *cfg, int argc, char **argv)
{
	long long want = 50;
	const char *ip = NULL;
	char needle[128], *path, *line = NULL, **ring;
	size_t cap = 0, n = 0, first = 0;
	ssize_t len;
	FILE *f;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
			if (str_to_ll(argv[++i], 1, TERNCTL_AUTHLOG_MAX, &want) < 0) {
				fprintf(stderr, "ternctl: authlog: -n wants 1..%d\n", TERNCTL_AUTHLOG_MAX);
				return EX_USAGE;
			}
		} else if (strcmp(argv[i], "--ip") == 0 && i + 1 < argc) {
			ip = argv[++i];
		} else {
			fprintf(stderr, "usage: ternctl authlog [-n N] [--ip ADDR]\n");
			return EX_USAGE;
		}
	}
	if (ip != NULL && str_fmt(needle, sizeof(needle), " client=%s ", ip) < 0) {
		fprintf(stderr, "ternctl: authlog: address too long\n");
		return EX_USAGE;
	}
	if ((path = ternctl_authlog_file(cfg)) == NULL)
		return EX_CONFIG;
	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "ternctl: authlog: %s: %s\n", path, strerror(errno));
		free(path);
		return EX_NOINPUT;
	}
	ring = xcalloc((size_t) want, sizeof(*ring));
	while ((len = getline(&line, &cap, f)) > 0) {
		size_t slot = (first + n) % (size_t) want;

		if (ip != NULL && strstr(line, needle) == NULL)
			continue;
		if (n == (size_t) want) {
			slot = first;
			first = (first + 1) % (size_t) want;
			free(ring[slot]);
		} else {
			n++;
		}
		ring[slot] = xstrdup(line);
	}
	for (size_t i = 0; i < n; i++) {
		char *l = ring[(first + i) % (size_t) want];

		fputs(l, stdout);
		if (l[0] == '\0' || l[strlen(l) - 1] != '\n')
			putchar('\n');
		free(l);
	}
	free(ring);
	free(line);
	fclose(f);
	free(path);
	return 0;
}
