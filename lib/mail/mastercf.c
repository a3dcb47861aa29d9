/*
 * mastercf - parse master.conf, the service table; see mastercf.h.
 *
 * The file is cut into logical lines by cfgfile (comments, continuation
 * lines, size limits), then each line is split at white space into the
 * eight columns and the command's arguments. Every column is checked;
 * each problem is added to the caller's list as "file:line" with a
 * sentence, and a line with a problem is left out of the table, so a
 * caller that only reports ("ternctl check") sees every problem at once
 * and master never starts half of a broken service. Nothing here exits
 * or logs.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "base/cfgfile.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/mastercf.h"

#define MASTERCF_COLUMNS	7	/* before the command */
#define MASTERCF_WAKEUP_MAX	(365LL * 86400)
#define MASTERCF_MAXPROC_MAX	100000

/* mastercf_type_names - column 2, indexed by enum mastercf_type */
static const char *const mastercf_type_names[] = {
	[MASTERCF_INET] = "inet", [MASTERCF_UNIX] = "unix", [MASTERCF_PASS] = "pass",
};

/* mastercf_type_name - the master.conf spelling of a type */
const char *mastercf_type_name(enum mastercf_type type)
{
	return mastercf_type_names[type];
}

/* mastercf_hostname_ok - host name syntax: letters, digits, '-', '.' */
static bool mastercf_hostname_ok(const char *host)
{
	size_t label = 0;

	if (*host == '\0' || strlen(host) > 253)
		return false;
	for (const char *p = host; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char) *p) || *p == '-') {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* mastercf_port_ok - a port number 1-65535 or a tcp name from /etc/services */
static bool mastercf_port_ok(const char *port)
{
	long long n;

	if (*port == '\0')
		return false;
	if (isdigit((unsigned char) *port))
		return str_to_ll(port, 1, 65535, &n) == 0;
	for (const char *p = port; *p; p++)
		if (!isalnum((unsigned char) *p) && *p != '-' && *p != '_')
			return false;
	return getservbyname(port, "tcp") != NULL;
}

/* mastercf_inet_split - cut "[host:]port" into host ("" = any) and port */
int mastercf_inet_split(const char *name, char *host, size_t hostlen,
			char *port, size_t portlen, char *err, size_t errlen)
{
	const char *colon;
	struct in6_addr a6;
	struct in_addr a4;

	if (name[0] == '[') {
		const char *close = strchr(name, ']');

		if (close == NULL || close[1] != ':') {
			str_fmt(err, errlen, "'%s': expected [ipv6-address]:port", name);
			return -1;
		}
		if ((size_t) (close - name - 1) >= hostlen) {
			str_fmt(err, errlen, "'%s': address too long", name);
			return -1;
		}
		memcpy(host, name + 1, (size_t) (close - name - 1));
		host[close - name - 1] = '\0';
		if (inet_pton(AF_INET6, host, &a6) != 1) {
			str_fmt(err, errlen, "'%s': '%s' is not an IPv6 address", name, host);
			return -1;
		}
		colon = close + 1;
	} else if ((colon = strrchr(name, ':')) != NULL) {
		if ((size_t) (colon - name) >= hostlen) {
			str_fmt(err, errlen, "'%s': host name too long", name);
			return -1;
		}
		memcpy(host, name, (size_t) (colon - name));
		host[colon - name] = '\0';
		if (strchr(host, ':') != NULL) {
			str_fmt(err, errlen, "'%s': an IPv6 address must be written in brackets, as [::1]:25", name);
			return -1;
		}
		if (host[0] == '\0') {
			str_fmt(err, errlen, "'%s': empty host before ':'", name);
			return -1;
		}
		if (strcmp(host, "*") == 0)
			host[0] = '\0';
		else if (inet_pton(AF_INET, host, &a4) != 1 &&
			 (!mastercf_hostname_ok(host) || strspn(host, "0123456789.") == strlen(host))) {
			/* digits and dots only: a mistyped IPv4 address, not a name */
			str_fmt(err, errlen, "'%s': '%s' is not an IPv4 address or host name", name, host);
			return -1;
		}
	} else {
		host[0] = '\0';
		colon = name - 1;
	}
	if (str_copy(port, colon + 1, portlen) < 0 || !mastercf_port_ok(port)) {
		str_fmt(err, errlen, "'%s': bad port '%s' (a number from 1 to 65535 or a name from /etc/services)",
			name, colon + 1);
		return -1;
	}
	return 0;
}

/* mastercf_unix_ok - a socket name: no '/', printable, fits sun_path */
static bool mastercf_unix_ok(const char *name, const struct params_global *g,
			     char *err, size_t errlen)
{
	struct sockaddr_un sun;
	size_t qlen = g && g->queue_directory ? strlen(g->queue_directory) : 0;

	if (strchr(name, '/') != NULL) {
		str_fmt(err, errlen, "unix socket name '%s' contains '/' (it is a name under private/ or public/)", name);
		return false;
	}
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		str_fmt(err, errlen, "unix socket name '%s' is not allowed", name);
		return false;
	}
	for (const char *p = name; *p; p++) {
		if (!isgraph((unsigned char) *p)) {
			str_fmt(err, errlen, "unix socket name contains a control or non-ASCII character");
			return false;
		}
	}
	if (qlen + strlen("/private/") + strlen(name) >= sizeof(sun.sun_path)) {
		str_fmt(err, errlen, "unix socket path %s/private/%s is longer than %zu bytes",
			g->queue_directory, name, sizeof(sun.sun_path) - 1);
		return false;
	}
	if (qlen == 0 && strlen(name) >= sizeof(sun.sun_path) - strlen("/private/")) {
		str_fmt(err, errlen, "unix socket name '%.40s...' is too long", name);
		return false;
	}
	return true;
}

/* mastercf_yn - a y/n column; "-" gives def. Returns -1 on a bad value */
static int mastercf_yn(const char *text, bool def, bool *out)
{
	if (strcmp(text, "-") == 0)
		*out = def;
	else if (strcmp(text, "y") == 0)
		*out = true;
	else if (strcmp(text, "n") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

/* mastercf_strv_push - append s to a NULL-terminated vector */
static void mastercf_strv_push(char ***vp, size_t *np, const char *s)
{
	*vp = xreallocarray(*vp, *np + 2, sizeof(char *));
	(*vp)[(*np)++] = xstrdup(s);
	(*vp)[*np] = NULL;
}

/* mastercf_strv_free - free a NULL-terminated vector */
static void mastercf_strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* mastercf_override - check one -o name=value against the command's groups */
static int mastercf_override(const char *nv, const char *command, const char *where,
			     struct config_problems *probs)
{
	const struct param_group *group = NULL, *own;
	const struct param_def *def;
	const char *eq = strchr(nv, '=');
	char name[CFGFILE_NAME_MAX + 1];
	const char *hint;

	if (eq == NULL || eq == nv) {
		config_problem_add(probs, where, "-o '%s': expected name=value", nv);
		return -1;
	}
	if ((size_t) (eq - nv) > CFGFILE_NAME_MAX) {
		config_problem_add(probs, where, "-o: parameter name is longer than %d bytes", CFGFILE_NAME_MAX);
		return -1;
	}
	memcpy(name, nv, (size_t) (eq - nv));
	name[eq - nv] = '\0';
	def = param_find(name, &group);
	if (def == NULL) {
		hint = param_suggest(name);
		if (hint != NULL)
			config_problem_add(probs, where, "-o: unknown parameter '%s' (did you mean '%s'?)", name, hint);
		else
			config_problem_add(probs, where, "-o: unknown parameter '%s'", name);
		return -1;
	}
	own = param_group_for_program(command);
	if (group != param_registry()[0] && group != own) {
		config_problem_add(probs, where, "-o: parameter '%s' belongs to %s, which %s does not read",
				   name, group->file, command);
		return -1;
	}
	return 0;
}

/* mastercf_parse_line - parse one logical line into svc; returns problems added */
static int mastercf_parse_line(char *text, const char *where, const struct params_global *g,
			       struct mastercf_service *svc, struct config_problems *probs)
{
	char *col[MASTERCF_COLUMNS + 1];
	char *cursor = text, *tok, err[300];
	char host[256], port[64];
	size_t ncol = 0, nargs = 0, nover = 0;
	int bad = 0;
	long long n;

	memset(svc, 0, sizeof(*svc));
	while (ncol < MASTERCF_COLUMNS + 1 && (tok = str_token(&cursor, " \t\r\f\v")) != NULL)
		col[ncol++] = tok;
	if (ncol < MASTERCF_COLUMNS + 1) {
		config_problem_add(probs, where, "missing command: a service line has 8 columns "
				   "(service type private unpriv chroot wakeup maxproc command), found %zu", ncol);
		return 1;
	}

	/* type first: it decides how the name and the defaults are checked */
	if (strcmp(col[1], "inet") == 0)
		svc->type = MASTERCF_INET;
	else if (strcmp(col[1], "unix") == 0)
		svc->type = MASTERCF_UNIX;
	else if (strcmp(col[1], "pass") == 0)
		svc->type = MASTERCF_PASS;
	else {
		config_problem_add(probs, where, "unknown service type '%s' (use inet, unix or pass)", col[1]);
		return 1;
	}
	if (svc->type == MASTERCF_INET) {
		if (mastercf_inet_split(col[0], host, sizeof(host), port, sizeof(port), err, sizeof(err)) < 0)
			config_problem_add(probs, where, "inet service %s", err), bad++;
	} else if (!mastercf_unix_ok(col[0], g, err, sizeof(err))) {
		config_problem_add(probs, where, "%s", err), bad++;
	}

	if (mastercf_yn(col[2], svc->type != MASTERCF_INET, &svc->private_sock) < 0)
		config_problem_add(probs, where, "private column: '%s' is not y, n or -", col[2]), bad++;
	else if (svc->type == MASTERCF_INET && svc->private_sock)
		config_problem_add(probs, where, "private column: an inet service cannot be private"), bad++;
	if (mastercf_yn(col[3], true, &svc->unprivileged) < 0)
		config_problem_add(probs, where, "unpriv column: '%s' is not y, n or -", col[3]), bad++;
	if (mastercf_yn(col[4], true, &svc->chroot) < 0)
		config_problem_add(probs, where, "chroot column: '%s' is not y, n or -", col[4]), bad++;

	if (strcmp(col[5], "-") == 0)
		svc->wakeup = 0;
	else if (str_to_time(col[5], 0, MASTERCF_WAKEUP_MAX, &svc->wakeup) < 0)
		config_problem_add(probs, where, "wakeup column: '%s' is not a time from 0 to %lld seconds (or -)",
				   col[5], MASTERCF_WAKEUP_MAX), bad++;
	else if (svc->wakeup > 0 && svc->type == MASTERCF_PASS)
		config_problem_add(probs, where, "wakeup column: a pass service cannot be woken up"), bad++;

	if (strcmp(col[6], "-") == 0)
		svc->maxproc = g ? (int) g->default_process_limit : 100;
	else if (str_to_ll(col[6], 0, MASTERCF_MAXPROC_MAX, &n) < 0)
		config_problem_add(probs, where, "maxproc column: '%s' is not a number from 0 to %d (or -)",
				   col[6], MASTERCF_MAXPROC_MAX), bad++;
	else
		svc->maxproc = (int) n;

	if (strchr(col[7], '/') != NULL || col[7][0] == '-')
		config_problem_add(probs, where, "command '%s': give a program name from daemon_directory", col[7]), bad++;

	svc->args = xcalloc(1, sizeof(char *));
	svc->overrides = xcalloc(1, sizeof(char *));
	while ((tok = str_token(&cursor, " \t\r\f\v")) != NULL) {
		const char *nv = NULL;

		if (strcmp(tok, "-o") == 0) {
			nv = str_token(&cursor, " \t\r\f\v");
			if (nv == NULL) {
				config_problem_add(probs, where, "-o at the end of the line: expected -o name=value"), bad++;
				break;
			}
		} else if (str_has_prefix(tok, "-o")) {
			nv = tok + 2;
		}
		if (nv == NULL) {
			mastercf_strv_push(&svc->args, &nargs, tok);
		} else if (mastercf_override(nv, col[7], where, probs) < 0) {
			bad++;
		} else {
			mastercf_strv_push(&svc->overrides, &nover, nv);
		}
	}
	svc->name = xstrdup(col[0]);
	svc->command = xstrdup(col[7]);
	svc->where = xstrdup(where);
	return bad;
}

/* mastercf_service_free - release one entry */
static void mastercf_service_free(struct mastercf_service *svc)
{
	free(svc->name);
	free(svc->command);
	free(svc->where);
	mastercf_strv_free(svc->args);
	mastercf_strv_free(svc->overrides);
	memset(svc, 0, sizeof(*svc));
}

/* mastercf_load - parse the file; see mastercf.h */
int mastercf_load(const char *path, const struct params_global *g,
		  struct mastercf *mcf, struct config_problems *probs)
{
	struct cfgfile cf;
	struct cfgfile_error err;
	size_t before = probs->count, cap = 0;
	char where[4200];

	mcf->services = NULL;
	mcf->count = 0;
	if (cfgfile_read(path, &cf, &err) < 0) {
		if (err.lineno > 0)
			str_fmt(where, sizeof(where), "%s:%d", path, err.lineno);
		else
			str_fmt(where, sizeof(where), "%s", path);
		config_problem_add(probs, where, "%s", err.text);
		return (int) (probs->count - before);
	}
	for (size_t i = 0; i < cf.count; i++) {
		struct mastercf_service svc;
		const struct mastercf_service *dup;

		str_fmt(where, sizeof(where), "%s:%d", path, cf.lines[i].lineno);
		if (mastercf_parse_line(cf.lines[i].text, where, g, &svc, probs) > 0) {
			mastercf_service_free(&svc);
			continue;
		}
		if ((dup = mastercf_find(mcf, svc.name, svc.type)) != NULL) {
			config_problem_add(probs, where, "duplicate service '%s' type %s (first at %s)",
					   svc.name, mastercf_type_name(svc.type), dup->where);
			mastercf_service_free(&svc);
			continue;
		}
		if (mcf->count == cap) {
			cap = cap ? cap * 2 : 16;
			mcf->services = xreallocarray(mcf->services, cap, sizeof(mcf->services[0]));
		}
		mcf->services[mcf->count++] = svc;
	}
	cfgfile_free(&cf);
	return (int) (probs->count - before);
}

/* mastercf_free - release the table */
void mastercf_free(struct mastercf *mcf)
{
	for (size_t i = 0; i < mcf->count; i++)
		mastercf_service_free(&mcf->services[i]);
	free(mcf->services);
	mcf->services = NULL;
	mcf->count = 0;
}

/* mastercf_find - look a service up by name and type */
const struct mastercf_service *mastercf_find(const struct mastercf *mcf,
					     const char *name, enum mastercf_type type)
{
	for (size_t i = 0; i < mcf->count; i++)
		if (mcf->services[i].type == type && strcmp(mcf->services[i].name, name) == 0)
			return &mcf->services[i];
	return NULL;
}

/* mastercf_strv_eq - two NULL-terminated vectors hold the same strings */
static bool mastercf_strv_eq(char *const *a, char *const *b)
{
	for (; *a && *b; a++, b++)
		if (strcmp(*a, *b) != 0)
			return false;
	return *a == NULL && *b == NULL;
}

/* mastercf_same - two entries describe the same service (where aside) */
bool mastercf_same(const struct mastercf_service *a, const struct mastercf_service *b)
{
	return strcmp(a->name, b->name) == 0 && a->type == b->type &&
	    a->private_sock == b->private_sock && a->unprivileged == b->unprivileged &&
	    a->chroot == b->chroot && a->wakeup == b->wakeup && a->maxproc == b->maxproc &&
	    strcmp(a->command, b->command) == 0 && mastercf_strv_eq(a->args, b->args) &&
	    mastercf_strv_eq(a->overrides, b->overrides);
}
