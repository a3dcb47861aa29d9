/*
 * ternctl_sts - "ternctl sts show|purge|fetch|refresh DOMAIN": look at
 * and manage the MTA-STS policy cache of the running sts service
 * (sts(8)), through its socket queue_directory/private/sts.
 *
 *	show     the cached policy (mode, mx lines, max_age, id, fetched,
 *	         expires), or "no cached policy"; no network
 *	purge    drop the cached policy; the next delivery fetches again
 *	fetch    what a delivery would get (GET: cache, else TXT + HTTPS)
 *	refresh  check the TXT id now and fetch when it changed
 *
 * Exit status: 0 a policy was shown or fetched, or purge done; 1 no
 * policy (none cached, the domain has none, or the fetch failed; the
 * reason is printed); 69 (EX_UNAVAILABLE) the service could not be asked
 * (not running, or the sts service is not enabled in master.conf); 64
 * usage.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <time.h>

#include "base/mem.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/domain.h"
#include "mail/sts_client.h"
#include "mail/sts_proto.h"
#include "ternctl.h"

#define TERNCTL_STS_TIMEOUT	120		/* seconds: a fetch takes up to sts_fetch_timeout + DNS */

/* ternctl_sts_usage - the usage line; EX_USAGE */
static int ternctl_sts_usage(const char *why)
{
	if (why != NULL)
		fprintf(stderr, "ternctl: sts: %s\n", why);
	fprintf(stderr, "usage: ternctl sts show|purge|fetch|refresh DOMAIN\n");
	return EX_USAGE;
}

/* ternctl_sts_time - "2026-11-23 10:00:00 UTC" of t into out */
static void ternctl_sts_time(int64_t t, char *out, size_t outlen)
{
	time_t tt = (time_t) t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL || strftime(out, outlen, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		str_fmt(out, outlen, "%lld", (long long) t);
}

/* ternctl_sts_print - a policy answer on stdout */
static void ternctl_sts_print(const char *domain, const struct sts_policy *p)
{
	char fetched[64], expires[64];

	ternctl_sts_time(p->fetched, fetched, sizeof(fetched));
	ternctl_sts_time(p->expires, expires, sizeof(expires));
	printf("domain: %s\n", domain);
	printf("mode: %s\n", sts_mode_name(p->mode));
	for (size_t i = 0; i < p->nmx; i++)
		printf("mx: %s\n", p->mx[i]);
	printf("max_age: %lld\n", (long long) p->max_age);
	printf("id: %s\n", p->id);
	printf("fetched: %s (%lld)\n", fetched, (long long) p->fetched);
	printf("expires: %s (%lld)%s\n", expires, (long long) p->expires,
	       p->expires <= (int64_t) time(NULL) ? " expired" : "");
	printf("from_cache: %s\n", p->from_cache ? "yes" : "no");
	if (p->failure[0])
		printf("failure: %s\n", p->failure);
	if (p->text[0])
		printf("note: %s\n", p->text);
}

/* ternctl_sts - the sts command */
int ternctl_sts(const struct config *cfg, int argc, char **argv)
{
	static const struct { const char *name, *op; } ops[] = {
		{"show", STS_OP_SHOW}, {"purge", STS_OP_PURGE},
		{"fetch", STS_OP_GET}, {"refresh", STS_OP_REFRESH},
	};
	const char *op = NULL;
	char domain[DOMAIN_NAME_MAX + 2], *path;
	struct sts_client *c;
	struct sts_policy p;
	size_t len;
	int status;

	if (argc != 3)
		return ternctl_sts_usage(argc < 3 ? "missing arguments" : "too many arguments");
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(argv[1], ops[i].name) == 0)
			op = ops[i].op;
	if (op == NULL)
		return ternctl_sts_usage("unknown sts command");
	if (str_copy(domain, argv[2], sizeof(domain)) < 0)
		return ternctl_sts_usage("domain name too long");
	str_lower(domain);
	len = strlen(domain);
	if (len > 0 && domain[len - 1] == '.')
		domain[--len] = '\0';
	if (len == 0 || !domain_valid(domain, len, 0))
		return ternctl_sts_usage("not a domain name");

	path = str_dupf("%s/%s", cfg->global.queue_directory, STS_SOCKET_PRIVATE);
	c = sts_client_new(path, TERNCTL_STS_TIMEOUT);
	if (sts_client_request(c, op, domain, &p) < 0) {
		fprintf(stderr, "ternctl: sts: %s (is tern running, with the sts service in master.conf?)\n",
			p.text);
		status = EX_UNAVAILABLE;
	} else if (p.status == STS_POLICY) {
		if (strcmp(op, STS_OP_PURGE) == 0)
			printf("%s\n", p.text);
		else
			ternctl_sts_print(domain, &p);
		status = 0;
	} else if (strcmp(op, STS_OP_PURGE) == 0 && p.status == STS_NONE) {
		printf("%s\n", p.text);
		status = 0;
	} else {
		printf("%s: %s%s%s%s\n", domain, p.status == STS_NONE ? "no policy" : "error",
		       p.failure[0] ? " (" : "", p.failure, p.failure[0] ? ")" : "");
		if (p.text[0])
			printf("note: %s\n", p.text);
		status = 1;
	}
	sts_client_free(c);
	free(path);
	return status;
}
