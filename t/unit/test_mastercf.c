/*
 * test_mastercf - unit tests for lib/mail/mastercf: the columns, the
 * defaults, -o handling, and every error path with its file:line.
 *
 * Each case writes a small master.conf into a temporary directory and
 * loads it with mastercf_load against the real parameter registry.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/mastercf.h"
#include "tap.h"

static char test_dir[] = "/tmp/test_mastercf.XXXXXX";
static char test_path[256];
static struct params_global test_g;

/* test_write - replace the test file with text */
static void test_write(const char *text)
{
	FILE *fp = fopen(test_path, "w");

	if (fp == NULL || fputs(text, fp) == EOF || fclose(fp) != 0) {
		printf("Bail out! cannot write %s\n", test_path);
		exit(1);
	}
}

/* test_load - load text; returns the problem count */
static int test_load(const char *text, struct mastercf *mcf, struct config_problems *probs)
{
	memset(probs, 0, sizeof(*probs));
	test_write(text);
	return mastercf_load(test_path, &test_g, mcf, probs);
}

/* test_good - a table with defaults, explicit values, -o and args */
static void test_good(void)
{
	struct mastercf mcf;
	struct config_problems probs;
	const struct mastercf_service *s;
	int n;

	n = test_load("# service type private unpriv chroot wakeup maxproc command\n"
		      "127.0.0.1:2525 inet - - - - - tern-testsvc -o max_use=5 -v\n"
		      "\n"
		      "cleanup unix n n n 5m 0 tern-testsvc\n"
		      "   # a comment between a line and its continuation\n"
		      "   -omax_idle=3s extra\n"
		      "[::1]:smtp inet n y y 60 7 tern-testsvc\n"
		      "pickup unix - - - - - tern-testsvc\n"
		      "*:2526 inet n y y - - tern-testsvc\n"
		      "localhost:2527 inet n y y - - tern-testsvc\n"
		      "2528 inet n y y - - tern-testsvc\n"
		      "pickup pass - - - - - tern-testsvc -o max_use=\n",
		      &mcf, &probs);
	is_int(n, 0, "good file: no problems");
	for (size_t i = 0; i < probs.count; i++)
		diag("%s: %s", probs.list[i].where, probs.list[i].text);
	is_int((long long) mcf.count, 8, "good file: eight services");

	s = mastercf_find(&mcf, "127.0.0.1:2525", MASTERCF_INET);
	ok(s != NULL, "find inet service");
	if (s != NULL) {
		ok(!s->private_sock && s->unprivileged && s->chroot, "defaults: inet public, unpriv, chroot");
		is_int(s->wakeup, 0, "default wakeup 0");
		is_int(s->maxproc, 100, "default maxproc = default_process_limit");
		is_str(s->command, "tern-testsvc", "command");
		is_str(s->overrides[0], "max_use=5", "-o taken into overrides");
		ok(s->overrides[1] == NULL, "one override");
		is_str(s->args[0], "-v", "other argument kept");
		ok(s->args[1] == NULL, "one argument");
		ok(strstr(s->where, ":2") != NULL, "where names line 2");
	}
	s = mastercf_find(&mcf, "cleanup", MASTERCF_UNIX);
	ok(s != NULL, "find unix service");
	if (s != NULL) {
		ok(!s->private_sock && !s->unprivileged && !s->chroot, "explicit n columns");
		is_int(s->wakeup, 300, "wakeup 5m");
		is_int(s->maxproc, 0, "maxproc 0: no limit");
		is_str(s->overrides[0], "max_idle=3s", "-oname=value form across a continuation");
		is_str(s->args[0], "extra", "argument after continuation");
	}
	s = mastercf_find(&mcf, "pickup", MASTERCF_UNIX);
	ok(s != NULL && s->private_sock, "unix default is private");
	s = mastercf_find(&mcf, "[::1]:smtp", MASTERCF_INET);
	ok(s != NULL && s->wakeup == 60 && s->maxproc == 7, "ipv6 with service name, wakeup and maxproc");
	ok(mastercf_find(&mcf, "pickup", MASTERCF_PASS) != NULL, "same name with another type is allowed");
	ok(mastercf_find(&mcf, "pickup", MASTERCF_INET) == NULL, "find: type matters");
	s = mastercf_find(&mcf, "pickup", MASTERCF_PASS);
	ok(s != NULL && strcmp(s->overrides[0], "max_use=") == 0, "-o with an empty value");
	ok(mastercf_same(&mcf.services[0], &mcf.services[0]), "same: an entry equals itself");
	ok(!mastercf_same(&mcf.services[0], &mcf.services[1]), "same: different entries differ");
	mastercf_free(&mcf);
	config_problems_free(&probs);
}

/* test_bad - one bad line per case; the problem must name the line */
static void test_bad(void)
{
	static const struct {
		const char *text;
		const char *want;	/* substring of the problem text */
		int line;
	} cases[] = {
		{"a unix - - - - -\n", "missing command", 1},
		{"# c\n\na unix\n", "missing command", 3},
		{"a fifo - - - - - cmd\n", "unknown service type 'fifo'", 1},
		{"a unix x - - - - cmd\n", "private column: 'x'", 1},
		{"a unix - yes - - - cmd\n", "unpriv column: 'yes'", 1},
		{"a unix - - Y - - cmd\n", "chroot column: 'Y'", 1},
		{"a unix - - - -5 - cmd\n", "wakeup column: '-5'", 1},
		{"a unix - - - 10x - cmd\n", "wakeup column: '10x'", 1},
		{"a unix - - - 2y - cmd\n", "wakeup column", 1},
		{"a pass - - - 10 - cmd\n", "pass service cannot be woken", 1},
		{"a unix - - - - many cmd\n", "maxproc column: 'many'", 1},
		{"a unix - - - - -1 cmd\n", "maxproc column: '-1'", 1},
		{"a unix - - - - 100001 cmd\n", "maxproc column", 1},
		{"a unix - - - - - cmd\nb unix - - - - - cmd\na unix - - - - - cmd2\n",
		 "duplicate service 'a' type unix (first at ", 3},
		{"a/b unix - - - - - cmd\n", "contains '/'", 1},
		{".. unix - - - - - cmd\n", "'..' is not allowed", 1},
		{"a pass - - - - - cmd\n../x pass - - - - - cmd\n", "contains '/'", 2},
		{"1.2.3.4:0 inet n - - - - cmd\n", "bad port '0'", 1},
		{"1.2.3.4:65536 inet n - - - - cmd\n", "bad port '65536'", 1},
		{"1.2.3.4: inet n - - - - cmd\n", "bad port ''", 1},
		{"1.2.3.4:nosuchservicename inet n - - - - cmd\n", "bad port 'nosuchservicename'", 1},
		{"1.2.3.400:25 inet n - - - - cmd\n", "is not an IPv4 address", 1},
		{"bad_host:25 inet n - - - - cmd\n", "is not an IPv4 address or host name", 1},
		{":25 inet n - - - - cmd\n", "empty host", 1},
		{"::1:25 inet n - - - - cmd\n", "must be written in brackets", 1},
		{"[::1]25 inet n - - - - cmd\n", "expected [ipv6-address]:port", 1},
		{"[::1 inet n - - - - cmd\n", "expected [ipv6-address]:port", 1},
		{"[1.2.3.4]:25 inet n - - - - cmd\n", "is not an IPv6 address", 1},
		{"25 inet y - - - - cmd\n", "inet service cannot be private", 1},
		{"a unix - - - - - cmd -o\n", "-o at the end of the line", 1},
		{"a unix - - - - - cmd -o max_use\n", "-o 'max_use': expected name=value", 1},
		{"a unix - - - - - cmd -o =5\n", "expected name=value", 1},
		{"a unix - - - - - cmd -o max_usee=5\n", "unknown parameter 'max_usee' (did you mean 'max_use'?)", 1},
		{"a unix - - - - - cmd -o zzzzqqqq_nothing_like_it=5\n", "unknown parameter 'zzzzqqqq_nothing_like_it'", 1},
		{"a unix - - - - - /bin/sh\n", "command '/bin/sh'", 1},
		{"  a unix - - - - - cmd\n", "no line before it", 1},
	};
	struct mastercf mcf;
	struct config_problems probs;
	char where[300];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = test_load(cases[i].text, &mcf, &probs);
		const char *text = n > 0 ? probs.list[n - 1].text : "";

		str_fmt(where, sizeof(where), "%s:%d", test_path, cases[i].line);
		ok(n == 1 && strstr(text, cases[i].want) != NULL &&
		   strcmp(probs.list[0].where, where) == 0, "bad case %zu: %s", i, cases[i].want);
		if (n != 1 || strstr(text, cases[i].want) == NULL || strcmp(probs.list[0].where, where) != 0)
			for (size_t j = 0; j < probs.count; j++)
				diag("  %s: %s", probs.list[j].where, probs.list[j].text);
		mastercf_free(&mcf);
		config_problems_free(&probs);
	}

	/* a bad line is left out, the good ones stay, and every problem is listed */
	is_int(test_load("a unix - - - - - cmd\nb unix q - - - - cmd\nc unix - - - x - cmd\nd unix - - - - - cmd\n",
			 &mcf, &probs), 2, "two bad lines, two problems");
	ok(mcf.count == 2 && mastercf_find(&mcf, "a", MASTERCF_UNIX) && mastercf_find(&mcf, "d", MASTERCF_UNIX),
	   "good lines kept, bad ones left out");
	mastercf_free(&mcf);
	config_problems_free(&probs);

	/* several problems on one line are all reported */
	is_int(test_load("a unix q q q q q cmd\n", &mcf, &probs), 5, "five bad columns, five problems");
	mastercf_free(&mcf);
	config_problems_free(&probs);

	/* a missing file is one problem */
	memset(&probs, 0, sizeof(probs));
	is_int(mastercf_load("/nonexistent/master.conf", &test_g, &mcf, &probs), 1, "missing file: one problem");
	ok(mcf.count == 0, "missing file: empty table");
	mastercf_free(&mcf);
	config_problems_free(&probs);
}

/*
 * test_groups - an -o parameter of the command's own group is taken, one
 * of another daemon's group is refused (with a registry of our own, so
 * the test does not depend on which daemons exist yet)
 */
static void test_groups(void)
{
	static const struct param_def defs[] = {
		{"testsvc_flavour", PT_STR, "plain", 0, 0, "a parameter of the test group", 0},
	};
	static const struct param_group grp = {
		"testgrp", "testgrp.conf", "tern-testsvc, other-svc", defs, 1, sizeof(char *),
	};
	const struct param_group *registry[3] = { param_groups[0], &grp, NULL };
	struct mastercf mcf;
	struct config_problems probs;

	param_registry_set(registry);
	is_int(test_load("a unix - - - - - tern-testsvc -o testsvc_flavour=x\n"
			 "b unix - - - - - other-svc -o testsvc_flavour=y -o max_use=3\n", &mcf, &probs), 0,
	       "-o of the command's own group: taken");
	ok(mcf.count == 2 && strcmp(mcf.services[1].overrides[1], "max_use=3") == 0,
	   "-o: own group and global parameters together");
	mastercf_free(&mcf);
	config_problems_free(&probs);
	is_int(test_load("c unix - - - - - no-such-program -o testsvc_flavour=1\n", &mcf, &probs), 1,
	       "-o of another group: refused");
	ok(probs.count == 1 && strstr(probs.list[0].text, "'testsvc_flavour' belongs to testgrp.conf, "
				       "which no-such-program does not read") != NULL,
	   "-o of another group: says which file it belongs to");
	mastercf_free(&mcf);
	config_problems_free(&probs);
	param_registry_set(NULL);
}

/* test_split - the inet name splitter master uses to bind */
static void test_split(void)
{
	char host[256], port[64], err[300];

	ok(mastercf_inet_split("[::1]:2525", host, sizeof(host), port, sizeof(port), err, sizeof(err)) == 0 &&
	   strcmp(host, "::1") == 0 && strcmp(port, "2525") == 0, "split [::1]:2525");
	ok(mastercf_inet_split("smtp", host, sizeof(host), port, sizeof(port), err, sizeof(err)) == 0 &&
	   host[0] == '\0' && strcmp(port, "smtp") == 0, "split bare service name");
	ok(mastercf_inet_split("*:25", host, sizeof(host), port, sizeof(port), err, sizeof(err)) == 0 &&
	   host[0] == '\0', "split *:25: any address");
	ok(mastercf_inet_split("mx1.example:25", host, sizeof(host), port, sizeof(port), err, sizeof(err)) == 0 &&
	   strcmp(host, "mx1.example") == 0, "split host name");
	ok(mastercf_inet_split("1.2.3.4:25", host, 4, port, sizeof(port), err, sizeof(err)) < 0,
	   "split: host buffer limit respected");
}

int main(void)
{
	struct config cfg;
	struct config_problems probs = {0};

	if (mkdtemp(test_dir) == NULL) {
		printf("Bail out! mkdtemp\n");
		return 1;
	}
	str_fmt(test_path, sizeof(test_path), "%s/master.conf", test_dir);
	/* the built-in defaults (no tern.conf in the directory) */
	config_load(&cfg, test_dir, NULL, NULL, false, &probs);
	test_g = cfg.global;
	test_g.default_process_limit = 100;
	test_g.queue_directory = "/var/spool/tern";

	test_good();
	test_bad();
	test_groups();
	test_split();

	unlink(test_path);
	rmdir(test_dir);
	config_free(&cfg);
	config_problems_free(&probs);
	return tap_done();
}
