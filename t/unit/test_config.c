/*
 * test_config - unit tests for lib/mail params and config: the registry,
 * every syntax form and error path of config_load, $name expansion,
 * typed values and bounds, precedence, and config_edit.
 *
 * A test registry (the real global group plus "testd" and "otherd",
 * defined below) gives every parameter type and the daemon-file rules
 * something to work on before real daemon groups exist. Each test works
 * in its own directory under a mkdtemp directory, removed at the end.
 */
#include <errno.h>
#include <stdarg.h>
#include <ftw.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/cfgfile.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/config.h"
#include "tap.h"

/* the test groups: every type, with bounds */
#define TESTD_DEFS \
	PARAM(testd_flag, BOOL, "no", 0, 0, "a boolean") \
	PARAM(testd_count, INT, "5", 1, 10, "an integer") \
	PARAM(testd_timeout, TIME, "30s", 1, 3600, "a time") \
	PARAM(testd_size, SIZE, "10k", 1024, 10485760, "a size") \
	PARAM(testd_words, LIST, "$myhostname, a b", 0, 0, "a list") \
	PARAM(testd_maps, TABLES, "hash:/x, inline:{a=b, c=d}", 0, 0, "lookup tables") \
	PARAM(testd_other, STR, "", 0, 0, "empty by default") \
	PARAM(testd_name, STR, "${testd_other:fallback}", 0, 0, "a conditional default")
#define OTHERD_DEFS \
	PARAM(otherd_x, STR, "x", 0, 0, "a parameter of another daemon")

struct params_testd {
#define PARAM(name, type, def, lo, hi, doc) PARAM_CTYPE_##type name;
	TESTD_DEFS
};
struct params_otherd {
	OTHERD_DEFS
#undef PARAM
};

#define PARAM(name, type, def, lo, hi, doc) \
	{ #name, PT_##type, def, lo, hi, doc, offsetof(PARAM_STRUCT, name) },
#define PARAM_STRUCT struct params_testd
static const struct param_def testd_defs[] = { TESTD_DEFS };
#undef PARAM_STRUCT
#define PARAM_STRUCT struct params_otherd
static const struct param_def otherd_defs[] = { OTHERD_DEFS };
#undef PARAM_STRUCT
#undef PARAM

static const struct param_group testd_group = {
	"testd", "testd.conf", "testd, testd-helper", testd_defs,
	sizeof(testd_defs) / sizeof(testd_defs[0]), sizeof(struct params_testd),
};
static const struct param_group otherd_group = {
	"otherd", "otherd.conf", "otherd", otherd_defs,
	sizeof(otherd_defs) / sizeof(otherd_defs[0]), sizeof(struct params_otherd),
};
static const struct param_group *test_registry[4];

static char tmpdir[] = "/tmp/test_config.XXXXXX";
static int dircount;
static char hostname[256];

/* newdir - a fresh empty directory for one test (free it) */
static char *newdir(void)
{
	char *d = str_dupf("%s/%d", tmpdir, ++dircount);

	if (mkdir(d, 0755) < 0)
		diag("mkdir %s: %s", d, strerror(errno));
	return d;
}

/* put - write dir/file */
static void put(const char *dir, const char *file, const char *content)
{
	char *path = str_dupf("%s/%s", dir, file);
	FILE *f = fopen(path, "w");

	if (f == NULL || fputs(content, f) < 0 || fclose(f) != 0)
		diag("cannot write %s", path);
	free(path);
}

/* get - the content of dir/file, or NULL (free it) */
static char *get(const char *dir, const char *file)
{
	char *path = str_dupf("%s/%s", dir, file);
	struct cfgfile_error err;
	char *data = NULL;
	size_t len;

	if (cfgfile_slurp(path, &data, &len, &err) < 0)
		data = NULL;
	free(path);
	return data;
}

/* exists - dir/file exists */
static bool exists(const char *dir, const char *file)
{
	char *path = str_dupf("%s/%s", dir, file);
	struct stat st;
	bool yes = lstat(path, &st) == 0;

	free(path);
	return yes;
}

/* show - diag every problem (after a failed check) */
static void show(const struct config_problems *p)
{
	for (size_t i = 0; i < p->count; i++)
		diag("problem: %s: %s", p->list[i].where, p->list[i].text);
}

/* has - some problem's where ends with where and its text is text */
static bool has(const struct config_problems *p, const char *where, const char *text)
{
	size_t wl = strlen(where);

	for (size_t i = 0; i < p->count; i++) {
		size_t l = strlen(p->list[i].where);

		if (l >= wl && strcmp(p->list[i].where + l - wl, where) == 0 &&
		    strcmp(p->list[i].text, text) == 0)
			return true;
	}
	return false;
}

/* has_problem - a test point for has(), showing the list on failure */
static void has_problem(const struct config_problems *p, const char *where, const char *text)
{
	if (!ok(has(p, where, text), "problem %s: %s", where, text))
		show(p);
}

/* value - the expanded value of name */
static const char *value(const struct config *cfg, const char *name)
{
	const struct config_value *v = config_value_find(cfg, name);

	return v ? v->expanded : "(not found)";
}

/* where - the origin of name's value */
static const char *where(const struct config *cfg, const char *name)
{
	const struct config_value *v = config_value_find(cfg, name);

	return v ? v->where : "(not found)";
}

/* testd - the group's typed values */
static const struct params_testd *testd(const struct config *cfg)
{
	return cfg->own;
}

/* list_is - a NULL-terminated list equals the NULL-terminated want */
static void list_is(char **list, const char *const *want, const char *name)
{
	size_t i = 0;
	bool same = true;

	for (; want[i]; i++)
		if (list[i] == NULL || strcmp(list[i], want[i]) != 0) {
			same = false;
			break;
		}
	if (same && list[i] != NULL)
		same = false;
	if (!ok(same, "%s", name))
		for (i = 0; list[i]; i++)
			diag("element %zu: '%s'", i, list[i]);
}

#define LIST(...) ((const char *const[]) { __VA_ARGS__, NULL })

/* tn - a formatted test name in one of a few static buffers */
__attribute__((format(printf, 1, 2)))
static const char *tn(const char *fmt, ...)
{
	static char bufs[4][512];
	static int next;
	char *b = bufs[next++ % 4];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b, sizeof(bufs[0]), fmt, ap);
	va_end(ap);
	return b;
}

/* load - config_load with optional overrides, not requiring tern.conf */
static int load(struct config *cfg, const char *dir, const char *group,
		const char *const *ov, struct config_problems *p)
{
	memset(p, 0, sizeof(*p));
	return config_load(cfg, dir, group, ov, false, p);
}

/* test_registry_real - the built-in registry: names, docs, bounds, defaults, lookups */
static void test_registry_real(void)
{
	const struct param_group *const *reg = param_registry();
	const struct param_group *g = NULL;
	struct config_problems p;
	struct config cfg;
	char *d = newdir();
	bool names_ok = true, docs_ok = true, bounds_ok = true;

	ok(reg == param_groups, "the built-in registry is in use");
	is_str(param_groups[0]->id, "global", "param_groups[0] is global");
	is_str(param_groups[0]->file, "tern.conf", "global group reads tern.conf");
	ok(param_group_find("global") == param_groups[0], "param_group_find(global)");
	ok(param_group_find("nope") == NULL, "param_group_find of an unknown id");
	for (size_t i = 0; reg[i]; i++) {
		for (size_t j = 0; j < reg[i]->ndefs; j++) {
			const struct param_def *d1 = &reg[i]->defs[j];
			const struct param_group *found;

			if (!cfgfile_name_ok(d1->name) || param_find(d1->name, &found) != d1 || found != reg[i]) {
				diag("name %s is invalid or not unique", d1->name);
				names_ok = false;
			}
			if (d1->doc == NULL || d1->doc[0] == '\0')
				docs_ok = false;
			if (d1->min > d1->max)
				bounds_ok = false;
		}
		/* every default of every group expands and converts */
		is_int(load(&cfg, d, i ? reg[i]->id : NULL, NULL, &p), 0,
		       tn("defaults of group %s load cleanly", reg[i]->id));
		show(&p);
		config_free(&cfg);
		config_problems_free(&p);
	}
	ok(names_ok, "every parameter name is valid and unique over all groups");
	ok(docs_ok, "every parameter has a doc line");
	ok(bounds_ok, "every parameter has min <= max");
	ok(param_find("max_idle", &g) != NULL && g == param_groups[0], "param_find finds a global parameter");
	ok(param_find("no_such_thing", NULL) == NULL, "param_find of an unknown name");
	is_str(param_suggest("myhostnme"), "myhostname", "suggest one missing letter");
	is_str(param_suggest("max_idel"), "max_idle", "suggest swapped letters");
	is_str(param_suggest("MAX_IDLE"), "max_idle", "suggest ignores case");
	ok(param_suggest("xyz") == NULL, "no suggestion for a short unrelated name");
	ok(param_suggest("completely_unrelated_name") == NULL, "no suggestion when far");
	is_str(param_type_name(PT_TIME), "time", "param_type_name");
	is_str(param_type_name(PT_TABLES), "tables", "param_type_name tables");
	free(d);
}

/* test_registry_test - group lookups through a test registry */
static void test_registry_test(void)
{
	ok(param_group_find("testd") == &testd_group, "test registry: find group by id");
	ok(param_group_for_program("testd") == &testd_group, "program in the who list");
	ok(param_group_for_program("testd-helper") == &testd_group, "second program in the who list");
	ok(param_group_for_program("test") == NULL, "a prefix of a program is not it");
	ok(param_group_for_program("master") == NULL, "a program without a group");
	ok(param_group_for_program("otherd") == &otherd_group, "another group");
	is_str(param_suggest("testd_cont"), "testd_count", "suggestions cover daemon groups");
}

/* test_defaults - a load without files: every type's default, value records */
static void test_defaults(void)
{
	struct config_problems p;
	struct config cfg;
	char *d = newdir();
	const struct config_value *v;

	is_int(load(&cfg, d, "testd", NULL, &p), 0, "defaults of the test group");
	ok(cfg.group == &testd_group && cfg.own != NULL, "group and its struct");
	is_int((long long) cfg.nvalues, (long long) (param_groups[0]->ndefs + testd_group.ndefs),
	       "values: global then group");
	ok(cfg.values[0].group == param_groups[0] &&
	   cfg.values[param_groups[0]->ndefs].group == &testd_group, "values in .def order");
	ok(testd(&cfg)->testd_flag == false, "BOOL default");
	is_int(testd(&cfg)->testd_count, 5, "INT default");
	is_int(testd(&cfg)->testd_timeout, 30, "TIME default in seconds");
	is_int(testd(&cfg)->testd_size, 10240, "SIZE default in bytes");
	list_is(testd(&cfg)->testd_words, LIST(hostname, "a", "b"), "LIST default, expanded and split");
	list_is(testd(&cfg)->testd_maps, LIST("hash:/x", "inline:{a=b, c=d}"), "TABLES default keeps {...} whole");
	is_str(testd(&cfg)->testd_name, "fallback", "${name:text} default");
	is_int(cfg.global.max_idle, 100, "global TIME default");
	is_int(cfg.global.default_process_limit, 100, "global INT default");
	list_is(cfg.global.mynetworks, LIST("127.0.0.0/8", "[::1]/128"), "global LIST default");
	is_str(cfg.global.config_directory, d, "config_directory is the directory loaded");
	is_str(cfg.dir, d, "cfg->dir");
	v = config_value_find(&cfg, "max_idle");
	ok(v && strcmp(v->raw, "100s") == 0 && strcmp(v->where, "default") == 0 && !v->set,
	   "a default value: raw, where, not set");
	ok(config_value_find(&cfg, "testd_count") != NULL, "config_value_find in the group");
	ok(config_value_find(&cfg, "nope") == NULL, "config_value_find of an unknown name");
	config_free(&cfg);
	ok(cfg.values == NULL && cfg.own == NULL, "config_free clears");
	config_problems_free(&p);

	is_int(load(&cfg, d, NULL, NULL, &p), 0, "global only");
	ok(cfg.group == NULL && cfg.own == NULL, "no group");
	ok(config_value_find(&cfg, "testd_count") == NULL, "group parameters absent without the group");
	config_free(&cfg);
	config_problems_free(&p);

	is_int(load(&cfg, d, "global", NULL, &p), 0, "group \"global\" means global only");
	ok(cfg.group == NULL, "no group for \"global\"");
	config_free(&cfg);
	config_problems_free(&p);

	is_int(load(&cfg, d, "nope", NULL, &p), 1, "unknown group");
	has_problem(&p, "config_load", "unknown parameter group 'nope'");
	config_free(&cfg);
	config_problems_free(&p);
	free(d);
}

/* test_syntax - every syntax form of a file */
static void test_syntax(void)
{
	struct config_problems p;
	struct config cfg;
	char *d = newdir();

	put(d, "tern.conf",
	    "# comment\n"
	    "myhostname = host.example.org\n"
	    "max_idle=5m\n"
	    "mynetworks = 10.0.0.0/8,\n"
	    "    192.168.0.0/16\n"
	    "  # between\n"
	    "\t172.16.0.0/12 [::1]/128\n"
	    "\n"
	    "maillog_file =\n"
	    "max_use = 7\n"
	    "max_use = 8\n"
	    "syslog_name   =   tern-test  \r\n"
	    "   \n"
	    "setgid_group = a#b\n");
	is_int(load(&cfg, d, NULL, NULL, &p), 0, "a file with every syntax form");
	show(&p);
	is_str(value(&cfg, "myhostname"), "host.example.org", "simple value");
	is_str(where(&cfg, "myhostname"), tn("%s/tern.conf:2", d), "where is file:line");
	ok(config_value_find(&cfg, "myhostname")->set, "a value from a file is set");
	is_int(cfg.global.max_idle, 300, "no spaces around '=', unit m");
	list_is(cfg.global.mynetworks, LIST("10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12", "[::1]/128"),
		"continuation lines with a comment between, commas and spaces");
	is_str(value(&cfg, "mynetworks"), "10.0.0.0/8, 192.168.0.0/16 172.16.0.0/12 [::1]/128",
	       "continuation lines joined with one space");
	is_str(cfg.global.maillog_file, "", "empty value");
	ok(config_value_find(&cfg, "maillog_file")->set, "an empty value is still set");
	is_int(cfg.global.max_use, 8, "set twice in one file: the later wins");
	is_str(where(&cfg, "max_use"), tn("%s/tern.conf:11", d), "where of the later line");
	is_str(cfg.global.syslog_name, "tern-test", "white space and CR trimmed");
	is_str(cfg.global.setgid_group, "a#b", "'#' inside a value is text");
	config_free(&cfg);
	config_problems_free(&p);
	free(d);
}

/* test_line_errors - errors of single lines, and which file a name belongs in */
static void test_line_errors(void)
{
	struct config_problems p;
	struct config cfg;
	char *d = newdir();

	put(d, "tern.conf",
	    "junk line\n"
	    "Bad-Name = x\n"
	    "myhostnme = x\n"
	    "frobnicate = 1\n"
	    "testd_flag = yes\n"
	    "config_directory = /elsewhere\n"
	    "max_use = 9\n"
	    "= x\n");
	put(d, "testd.conf",
	    "otherd_x = 1\n"
	    "testd_count = 4\n"
	    "max_idle = 7s\n"
	    "max_idel = 8s\n");
	is_int(load(&cfg, d, "testd", NULL, &p), 9, "nine line problems");
	has_problem(&p, "tern.conf:1", "missing '=' in 'junk line' (expected name = value)");
	has_problem(&p, "tern.conf:2",
		    "invalid parameter name 'Bad-Name' (names are lower-case letters, digits and '_')");
	has_problem(&p, "tern.conf:3", "unknown parameter 'myhostnme' (did you mean 'myhostname'?)");
	has_problem(&p, "tern.conf:4", "unknown parameter 'frobnicate'");
	has_problem(&p, "tern.conf:5",
		    "parameter 'testd_flag' belongs in testd.conf (read by testd, testd-helper), not in tern.conf");
	has_problem(&p, "tern.conf:6",
		    "config_directory cannot be set here: it is the directory given with -c or $TERN_CONFIG_DIR");
	has_problem(&p, "tern.conf:8", "missing parameter name before '='");
	has_problem(&p, "testd.conf:1",
		    "parameter 'otherd_x' belongs in otherd.conf (read by otherd), not in testd.conf");
	has_problem(&p, "testd.conf:4", "unknown parameter 'max_idel' (did you mean 'max_idle'?)");
	is_int(cfg.global.max_use, 9, "good lines still apply");
	is_int(testd(&cfg)->testd_count, 4, "group file sets its own parameter");
	is_int(cfg.global.max_idle, 7, "group file may set a global parameter");
	ok(testd(&cfg)->testd_flag == false, "a misplaced parameter is not applied");
	is_str(cfg.global.config_directory, d, "config_directory stays the directory loaded");
	config_free(&cfg);
	config_problems_free(&p);

	/* a daemon file is only read by its group */
	is_int(load(&cfg, d, NULL, NULL, &p), 7, "global only: the group file is not read");
	is_int(cfg.global.max_idle, 100, "global only: group file's max_idle not seen");
	config_free(&cfg);
	config_problems_free(&p);
	free(d);
}

/* one typed-value case, through -o */
struct value_case {
	const char *param, *text;
	const char *error;	/* NULL: accepted */
	long long want;		/* INT/TIME/SIZE/BOOL result when accepted */
};

/* typed_number - the typed INT/TIME/SIZE/BOOL value of name */
static long long typed_number(const struct config *cfg, const char *name)
{
	const struct config_value *v = config_value_find(cfg, name);
	const char *base = v->group == param_groups[0] ? (const char *) &cfg->global : cfg->own;

	if (v->def->type == PT_BOOL)
		return *(const bool *) (base + v->def->offset);
	return *(const long long *) (base + v->def->offset);
}

/* test_values - typed conversion, bounds and their messages */
static void test_values(void)
{
	static const struct value_case cases[] = {
		{"max_idle", "10x", "max_idle: '10x' is not a time (expected a number with optional unit s, m, h, d, w; 1s..365d)", 100},
		{"max_idle", "0", "max_idle: '0' is out of range (expected 1s..365d)", 100},
		{"max_idle", "-5s", "max_idle: '-5s' is out of range (expected 1s..365d)", 100},
		{"max_idle", "366d", "max_idle: '366d' is out of range (expected 1s..365d)", 100},
		{"max_idle", "", "max_idle: '' is not a time (expected a number with optional unit s, m, h, d, w; 1s..365d)", 100},
		{"max_idle", "1", NULL, 1},
		{"max_idle", "365d", NULL, 31536000},
		{"max_idle", "1w", NULL, 604800},
		{"max_idle", "2h", NULL, 7200},
		{"max_idle", "5 m", "max_idle: '5 m' is not a time (expected a number with optional unit s, m, h, d, w; 1s..365d)", 100},
		{"default_process_limit", "abc", "default_process_limit: 'abc' is not an integer (expected an integer in 1..100000)", 100},
		{"default_process_limit", "0", "default_process_limit: '0' is out of range (expected 1..100000)", 100},
		{"default_process_limit", "100001", "default_process_limit: '100001' is out of range (expected 1..100000)", 100},
		{"default_process_limit", "99999999999999999999", "default_process_limit: '99999999999999999999' is not an integer (expected an integer in 1..100000)", 100},
		{"default_process_limit", "100000", NULL, 100000},
		{"default_process_limit", "1", NULL, 1},
		{"testd_count", "11", "testd_count: '11' is out of range (expected 1..10)", 5},
		{"testd_count", "10", NULL, 10},
		{"testd_timeout", "1h", NULL, 3600},
		{"testd_timeout", "61m", "testd_timeout: '61m' is out of range (expected 1s..1h)", 30},
		{"testd_size", "1023", "testd_size: '1023' is out of range (expected 1k..10M)", 10240},
		{"testd_size", "1k", NULL, 1024},
		{"testd_size", "10M", NULL, 10485760},
		{"testd_size", "11M", "testd_size: '11M' is out of range (expected 1k..10M)", 10240},
		{"testd_size", "5x", "testd_size: '5x' is not a size (expected a number of bytes with optional unit k, M, G; 1k..10M)", 10240},
		{"testd_flag", "maybe", "testd_flag: 'maybe' is not a boolean (expected yes or no)", 0},
		{"testd_flag", "yes", NULL, 1},
		{"testd_flag", "On", NULL, 1},
		{"testd_flag", "false", NULL, 0},
		{"testd_words", "a,{b", "testd_words: '{' without a matching '}'", -1},
		{"testd_words", "a}", "testd_words: '}' without a matching '{'", -1},
		{"testd_maps", "hash", "testd_maps: 'hash' is not a lookup table (expected type:name, e.g. hash:/etc/tern/access)", -1},
		{"testd_maps", "hash:/a :x", "testd_maps: ':x' is not a lookup table (expected type:name, e.g. hash:/etc/tern/access)", -1},
		{"testd_maps", "hash:", "testd_maps: 'hash:' is not a lookup table (expected type:name, e.g. hash:/etc/tern/access)", -1},
		{"testd_maps", "Hash:/x", "testd_maps: 'Hash:/x' is not a lookup table (expected type:name, e.g. hash:/etc/tern/access)", -1},
	};
	char *d = newdir();

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct value_case *c = &cases[i];
		char *o = str_dupf("%s=%s", c->param, c->text);
		const char *ov[] = { o, NULL };
		struct config_problems p;
		struct config cfg;
		int n = load(&cfg, d, "testd", ov, &p);

		if (c->error) {
			ok(n == 1 && has(&p, "-o", c->error), "%s = '%s' refused", c->param, c->text);
			if (n != 1 || !has(&p, "-o", c->error)) {
				show(&p);
				diag("want: %s", c->error);
			}
		} else {
			ok(n == 0, "%s = '%s' accepted", c->param, c->text);
			show(&p);
		}
		/* accepted: the value; refused: the default */
		if (c->want >= 0)
			is_int(typed_number(&cfg, c->param), c->want,
			       tn("%s = '%s' gives %lld", c->param, c->text, c->want));
		config_free(&cfg);
		config_problems_free(&p);
		free(o);
	}

	/* lists: separators, empty elements, braces, fallback */
	{
		const char *ov[] = { "testd_words=x,,y  z\t,", "testd_maps=inline:{a=1, {b = 2}} pcre:/p,cidr:/c",
				     "mynetworks=", NULL };
		struct config_problems p;
		struct config cfg;

		is_int(load(&cfg, d, "testd", ov, &p), 0, "lists accepted");
		list_is(testd(&cfg)->testd_words, LIST("x", "y", "z"),
			"commas and white space separate, empty elements dropped");
		list_is(testd(&cfg)->testd_maps, LIST("inline:{a=1, {b = 2}}", "pcre:/p", "cidr:/c"),
			"nested {...} kept whole in TABLES");
		ok(cfg.global.mynetworks[0] == NULL, "an empty list is an empty array, not NULL");
		config_free(&cfg);
		config_problems_free(&p);
	}
	free(d);
}

/* expand_case - load with overrides, compare one expanded value and the problem */
static void expand_case(const char *group, const char *const *ov, const char *name,
			const char *want, const char *problem, const char *label)
{
	struct config_problems p;
	struct config cfg;
	char *d = newdir();
	int n = load(&cfg, d, group, ov, &p);

	if (problem) {
		ok(n == 1 && has(&p, "-o", problem), "%s: one problem: %s", label, problem);
		if (n != 1 || !has(&p, "-o", problem))
			show(&p);
	} else if (!ok(n == 0, "%s: no problem", label)) {
		show(&p);
	}
	if (want)
		is_str(value(&cfg, name), want, tn("%s: %s = '%s'", label, name, want));
	config_free(&cfg);
	config_problems_free(&p);
	free(d);
}

/* test_expansion - $name, ${name}, ${name?text}, ${name:text}, $$ and their errors */
static void test_expansion(void)
{
	char deep[600] = "", *long_o;
	size_t len = 0;

	expand_case(NULL, LIST("myhostname=a.b.c", "myorigin=$myhostname"), "myorigin", "a.b.c", NULL, "$name");
	expand_case(NULL, LIST("myhostname=a.b.c", "myorigin=${myhostname}x"), "myorigin", "a.b.cx", NULL, "${name}");
	expand_case(NULL, LIST("myhostname=a.b.c", "mydomain=${myhostname}", "myorigin=<$mydomain>"),
		    "myorigin", "<a.b.c>", NULL, "nested references");
	expand_case(NULL, LIST("myorigin=$$"), "myorigin", "$", NULL, "$$");
	expand_case(NULL, LIST("myorigin=$$myhostname a$$"), "myorigin", "$myhostname a$", NULL, "$$name is literal");
	expand_case(NULL, LIST("myhostname=h", "myorigin=$myhostname.$myhostname"), "myorigin", "h.h", NULL,
		    "'.' ends a name");
	expand_case("testd", LIST("testd_name=[${testd_other?yes}]"), "testd_name", "[]", NULL, "${name?text}, empty");
	expand_case("testd", LIST("testd_other=v", "testd_name=[${testd_other?yes $testd_other}]"), "testd_name",
		    "[yes v]", NULL, "${name?text}, set, text expanded");
	expand_case("testd", LIST("testd_name=${testd_other:no}"), "testd_name", "no", NULL, "${name:text}, empty");
	expand_case("testd", LIST("testd_other=v", "testd_name=${testd_other:no}"), "testd_name", "", NULL,
		    "${name:text}, set");
	expand_case("testd", LIST("myhostname=h", "testd_name=${testd_other:${myhostname?{$myhostname}}}"),
		    "testd_name", "{h}", NULL, "nested conditionals with braces in text");
	expand_case("testd", LIST("max_idle=${testd_other:5m}"), "max_idle", "5m", NULL,
		    "a typed value is expanded before conversion");
	expand_case("testd", LIST("testd_other=x", "max_idle=${testd_other:5m}"), NULL, NULL,
		    "max_idle: '' is not a time (expected a number with optional unit s, m, h, d, w; 1s..365d)",
		    "an expansion that leaves a bad value");

	/* errors: the value falls back to its default */
	expand_case(NULL, LIST("myhostname=h", "myorigin=$myorigin"), "myorigin", "h",
		    "myorigin: expansion loop: myorigin -> myorigin", "self reference");
	expand_case(NULL, LIST("syslog_name=$maillog_file", "maillog_file=x$syslog_name"), NULL, NULL,
		    "maillog_file: expansion loop: syslog_name -> maillog_file -> syslog_name", "two-step loop");
	expand_case(NULL, LIST("myhostname=h", "myorigin=$myhostnam"), "myorigin", "h",
		    "myorigin: unknown parameter '$myhostnam' (did you mean '$myhostname'?)", "unknown reference");
	expand_case(NULL, LIST("myorigin=${zzzzz}"), NULL, NULL, "myorigin: unknown parameter '$zzzzz'",
		    "unknown reference without a suggestion");
	expand_case(NULL, LIST("myorigin=a$"), NULL, NULL,
		    "myorigin: '$' must be followed by a parameter name, {name} or '$' (write '$$' for a '$')",
		    "'$' at the end");
	expand_case(NULL, LIST("myorigin=$-x"), NULL, NULL,
		    "myorigin: '$' must be followed by a parameter name, {name} or '$' (write '$$' for a '$')",
		    "'$' before punctuation");
	expand_case(NULL, LIST("myorigin=${myhostname"), NULL, NULL, "myorigin: '${' without a closing '}'",
		    "unterminated ${");
	expand_case(NULL, LIST("myorigin=${My}"), NULL, NULL,
		    "myorigin: bad parameter name in '${...}' (expected ${name}, ${name?text} or ${name:text})",
		    "bad name in ${}");
	expand_case(NULL, LIST("myorigin=$testd_other"), NULL, NULL,
		    "myorigin: '$testd_other' is a parameter of testd.conf, which this program does not read",
		    "reference to a group not loaded");
	for (int i = 0; i < 25; i++)
		len += (size_t) snprintf(deep + len, sizeof(deep) - len, "${myhostname?");
	for (int i = 0; i < 25; i++)
		deep[len++] = '}';
	deep[len] = '\0';
	long_o = str_dupf("myorigin=%s", deep);
	expand_case(NULL, LIST(long_o), NULL, NULL, "myorigin: '${...}' nested more than 20 deep", "nesting limit");
	free(long_o);

	/* a value that grows past CONFIG_VALUE_MAX */
	long_o = xmalloc(12 + 40000 + 1);
	memcpy(long_o, "syslog_name=", 12);
	memset(long_o + 12, 'x', 40000);
	long_o[12 + 40000] = '\0';
	expand_case(NULL, LIST(long_o, "maillog_file=$syslog_name$syslog_name$syslog_name$syslog_name"
			       "$syslog_name$syslog_name$syslog_name"),
		    "maillog_file", "", "maillog_file: value is longer than 262144 bytes after expansion",
		    "expansion limit");
	free(long_o);
}

/* test_derived - the derived defaults of myhostname and mydomain */
static void test_derived(void)
{
	const char *dot = strchr(hostname, '.');

	expand_case(NULL, NULL, "myhostname", hostname, NULL, "empty myhostname is the host name");
	expand_case(NULL, NULL, "mydomain", dot && dot[1] ? dot + 1 : "localdomain", NULL,
		    "empty mydomain from the host name");
	expand_case(NULL, LIST("myhostname="), "myhostname", hostname, NULL, "explicitly empty myhostname");
	expand_case(NULL, LIST("myhostname=mx.example.net"), "mydomain", "example.net", NULL,
		    "mydomain is myhostname without its first label");
	expand_case(NULL, LIST("myhostname=single"), "mydomain", "localdomain", NULL,
		    "mydomain of a one-label name");
	expand_case(NULL, LIST("myhostname=mx.example.net", "mydomain=other.org"), "mydomain", "other.org", NULL,
		    "explicit mydomain stays");
	expand_case(NULL, LIST("myhostname=mx.example.net"), "mydestination",
		    "mx.example.net, localhost.example.net, localhost", NULL, "mydestination default expands");
}

/* test_files - missing and unreadable files, limits, the problem cap */
static void test_files(void)
{
	struct config_problems p;
	struct config cfg;
	char *d = newdir(), *missing = str_dupf("%s/nonexistent", d), *big;
	size_t n;

	memset(&p, 0, sizeof(p));
	is_int(config_load(&cfg, missing, NULL, NULL, true, &p), 1, "missing tern.conf, required");
	has_problem(&p, "nonexistent/tern.conf", "cannot open: No such file or directory");
	config_free(&cfg);
	config_problems_free(&p);
	is_int(load(&cfg, missing, "testd", NULL, &p), 0, "missing files, not required: defaults");
	config_free(&cfg);
	config_problems_free(&p);

	put(d, "tern.conf", "max_use = 3\n");
	memset(&p, 0, sizeof(p));
	is_int(config_load(&cfg, d, "testd", NULL, true, &p), 0, "tern.conf there, group file missing");
	is_int(cfg.global.max_use, 3, "tern.conf read");
	config_free(&cfg);
	config_problems_free(&p);

	/* a directory where the group file should be */
	n = strlen(d);
	big = str_dupf("%s/testd.conf", d);
	mkdir(big, 0755);
	is_int(load(&cfg, d, "testd", NULL, &p), 1, "a directory instead of a file");
	has_problem(&p, "/testd.conf", "not a regular file");
	config_free(&cfg);
	config_problems_free(&p);
	rmdir(big);
	free(big);
	(void) n;

	/* an over-long logical line */
	big = xmalloc(CFGFILE_LINE_MAX + 64);
	n = (size_t) snprintf(big, 64, "max_use = 1\nmyorigin = ");
	memset(big + n, 'a', CFGFILE_LINE_MAX);
	big[n + CFGFILE_LINE_MAX] = '\0';
	put(d, "tern.conf", big);
	free(big);
	is_int(load(&cfg, d, NULL, NULL, &p), 1, "over-long line");
	has_problem(&p, "tern.conf:2", "logical line is longer than 65536 bytes");
	is_int(cfg.global.max_use, 100, "a file with a read error is not applied at all");
	config_free(&cfg);
	config_problems_free(&p);

	/* too many problems: a cap, and a count */
	big = xmalloc(300 * 6 + 1);
	for (int i = 0; i < 300; i++)
		memcpy(big + i * 6, "junk\n\n", 6);
	big[300 * 6] = '\0';
	put(d, "tern.conf", big);
	free(big);
	is_int(load(&cfg, d, NULL, NULL, &p), 300, "300 problems counted");
	is_int((long long) p.count, CONFIG_PROBLEMS_MAX, "at most CONFIG_PROBLEMS_MAX kept");
	is_int((long long) p.dropped, 300 - CONFIG_PROBLEMS_MAX, "the rest counted as dropped");
	config_free(&cfg);
	config_problems_free(&p);
	ok(p.count == 0 && p.dropped == 0 && p.list == NULL, "config_problems_free clears");
	free(missing);
	free(d);
}

/* test_precedence - default < tern.conf < group file < -o, and -o errors */
static void test_precedence(void)
{
	struct config_problems p;
	struct config cfg;
	char *d = newdir();
	char *huge;

	put(d, "tern.conf", "max_idle = 10s\nmax_use = 2\nipc_timeout = 5s\n");
	put(d, "testd.conf", "max_idle = 20s\ntestd_count = 3\ntestd_flag = yes\n");
	is_int(load(&cfg, d, "testd", LIST("max_idle=30s", "testd_flag=no", "daemon_timeout = 1h"), &p), 0,
	       "all sources");
	is_int(cfg.global.max_idle, 30, "-o beats the group file and tern.conf");
	is_str(where(&cfg, "max_idle"), "-o", "where of an override");
	ok(config_value_find(&cfg, "max_idle")->set, "an override is set");
	is_int(cfg.global.max_use, 2, "tern.conf beats the default");
	is_str(where(&cfg, "max_use"), tn("%s/tern.conf:2", d), "where of tern.conf");
	is_int(testd(&cfg)->testd_count, 3, "group file beats the default");
	is_str(where(&cfg, "testd_count"), tn("%s/testd.conf:2", d), "where of the group file");
	ok(testd(&cfg)->testd_flag == false, "-o beats the group file for a group parameter");
	is_int(cfg.global.daemon_timeout, 3600, "-o with spaces around '='");
	is_int(cfg.global.ipc_timeout, 5, "tern.conf value not overridden");
	config_free(&cfg);
	config_problems_free(&p);

	is_int(load(&cfg, d, NULL, NULL, &p), 0, "global only");
	is_int(cfg.global.max_idle, 10, "without the group, its file's global settings do not apply");
	config_free(&cfg);
	config_problems_free(&p);

	huge = xmalloc(CFGFILE_LINE_MAX + 32);
	memcpy(huge, "myorigin=", 9);
	memset(huge + 9, 'x', CFGFILE_LINE_MAX);
	huge[9 + CFGFILE_LINE_MAX] = '\0';
	is_int(load(&cfg, d, NULL, LIST("noequals", "myhostnme=x", "testd_flag=yes", "config_directory=/x",
					huge, "myorigin=a\nb", "Bad=1"), &p), 7, "-o problems");
	has_problem(&p, "-o", "missing '=' in 'noequals' (expected name = value)");
	has_problem(&p, "-o", "unknown parameter 'myhostnme' (did you mean 'myhostname'?)");
	has_problem(&p, "-o",
		    "parameter 'testd_flag' belongs in testd.conf (read by testd, testd-helper), which this program does not read");
	has_problem(&p, "-o",
		    "config_directory cannot be set here: it is the directory given with -c or $TERN_CONFIG_DIR");
	has_problem(&p, "-o", "override is longer than 65536 bytes");
	has_problem(&p, "-o", "override contains a newline");
	has_problem(&p, "-o", "invalid parameter name 'Bad' (names are lower-case letters, digits and '_')");
	config_free(&cfg);
	config_problems_free(&p);
	free(huge);
	free(d);
}

/* test_directory - config_directory and config_dir_default */
static void test_directory(void)
{
	struct config_problems p;
	struct config cfg;
	char *d = newdir(), *odd = str_dupf("%s/a$b", d);

	mkdir(odd, 0755);
	is_int(load(&cfg, odd, NULL, NULL, &p), 0, "a '$' in the directory name");
	is_str(cfg.global.config_directory, odd, "config_directory keeps the '$'");
	ok(!config_value_find(&cfg, "config_directory")->set, "config_directory is not 'set'");
	is_str(where(&cfg, "config_directory"), "-c", "where of a non-default directory");
	config_free(&cfg);
	config_problems_free(&p);

	{
		char *p1 = config_file_path("/etc/tern", "tern.conf"), *p2 = config_file_path("/etc/tern/", "x.conf");

		is_str(p1, "/etc/tern/tern.conf", "config_file_path joins with '/'");
		is_str(p2, "/etc/tern/x.conf", "config_file_path does not double a '/'");
		free(p1);
		free(p2);
	}
	setenv("TERN_CONFIG_DIR", odd, 1);
	is_str(config_dir_default(), odd, "config_dir_default: $TERN_CONFIG_DIR");
	is_int(load(&cfg, NULL, NULL, NULL, &p), 0, "load with dir NULL");
	is_str(cfg.dir, odd, "dir NULL means config_dir_default()");
	config_free(&cfg);
	config_problems_free(&p);
	setenv("TERN_CONFIG_DIR", "", 1);
	is_str(config_dir_default(), TERN_SYSCONFDIR, "empty $TERN_CONFIG_DIR is ignored");
	unsetenv("TERN_CONFIG_DIR");
	is_str(config_dir_default(), TERN_SYSCONFDIR, "config_dir_default: compiled in");
	free(odd);
	free(d);
}

/* test_load_or_die - config_load_or_die loads, or exits 1 */
static void test_load_or_die(void)
{
	struct config cfg;
	char *d = newdir();
	pid_t pid;
	int status = 0;

	put(d, "tern.conf", "max_use = 42\n");
	config_load_or_die(&cfg, d, NULL, NULL);
	is_int(cfg.global.max_use, 42, "config_load_or_die loads");
	config_free(&cfg);

	put(d, "tern.conf", "max_use = many\n");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		if (freopen("/dev/null", "w", stderr) == NULL)
			_exit(2);
		config_load_or_die(&cfg, d, NULL, NULL);
		_exit(0);
	}
	ok(pid > 0 && waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 1,
	   "config_load_or_die exits 1 on a problem");
	free(d);
}

/* edit_ok - config_edit that should succeed */
static void edit_ok(const char *d, const char *name, const char *val, const char *label)
{
	char err[512] = "";

	if (!ok(config_edit(d, name, val, err, sizeof(err)) == 0, "edit: %s", label))
		diag("error: %s", err);
}

/* edit_refused - config_edit that should fail with err, leaving tern.conf as it was */
static void edit_refused(const char *d, const char *name, const char *val, const char *want,
			 const char *label)
{
	char err[512] = "";
	char *before = get(d, "tern.conf"), *after;

	ok(config_edit(d, name, val, err, sizeof(err)) == -1 && strstr(err, want) != NULL,
	   "edit refused: %s", label);
	if (strstr(err, want) == NULL)
		diag("got: '%s', want: '%s'", err, want);
	after = get(d, "tern.conf");
	ok((before == NULL && after == NULL) || (before && after && strcmp(before, after) == 0),
	   "edit refused: %s: tern.conf unchanged", label);
	ok(!exists(d, "tern.conf.tmp"), "edit refused: %s: no temporary file left", label);
	free(before);
	free(after);
}

/* test_edit - config_edit: rewrite in place, append, refuse, atomic replace */
static void test_edit(void)
{
	char *d = newdir(), *text, *path;
	struct config_problems p;
	struct config cfg;
	struct stat st1, st2;

	put(d, "tern.conf",
	    "# Global settings\n"
	    "myhostname = old.example.com\n"
	    "\n"
	    "# networks\n"
	    "mynetworks = 10.0.0.0/8,\n"
	    "    # keep me\n"
	    "    192.168.0.0/16\n"
	    "max_idle = 5m\n");
	path = str_dupf("%s/tern.conf", d);
	chmod(path, 0640);
	stat(path, &st1);
	edit_ok(d, "mynetworks", "127.0.0.0/8", "replace a multi-line value");
	text = get(d, "tern.conf");
	is_str(text,
	       "# Global settings\n"
	       "myhostname = old.example.com\n"
	       "\n"
	       "# networks\n"
	       "mynetworks = 127.0.0.0/8\n"
	       "    # keep me\n"
	       "max_idle = 5m\n", "comments and other lines kept, continuation lines replaced");
	free(text);
	stat(path, &st2);
	ok((st2.st_mode & 07777) == 0640, "file mode kept");
	ok(st1.st_ino != st2.st_ino, "the file was replaced (rename), not rewritten in place");
	ok(!exists(d, "tern.conf.tmp"), "no temporary file left");

	edit_ok(d, "max_use", "  50  ", "append a new parameter");
	edit_ok(d, "maillog_file", "", "an empty value");
	edit_ok(d, "myhostname", "new.example.com", "replace a one-line value");
	text = get(d, "tern.conf");
	is_str(text,
	       "# Global settings\n"
	       "myhostname = new.example.com\n"
	       "\n"
	       "# networks\n"
	       "mynetworks = 127.0.0.0/8\n"
	       "    # keep me\n"
	       "max_idle = 5m\n"
	       "max_use = 50\n"
	       "maillog_file =\n", "appended lines, trimmed value, empty value");
	free(text);
	is_int(load(&cfg, d, NULL, NULL, &p), 0, "the edited file loads");
	is_int(cfg.global.max_use, 50, "edited value in effect");
	config_free(&cfg);
	config_problems_free(&p);

	/* duplicates: the first is replaced, the others go; no trailing newline */
	put(d, "tern.conf", "max_use = 1\n# c\nmax_use = 2\n  # c2\nmax_idle = 1s");
	edit_ok(d, "max_use", "3", "a name set twice");
	edit_ok(d, "ipc_timeout", "9s", "append to a file without a final newline");
	text = get(d, "tern.conf");
	is_str(text, "max_use = 3\n# c\n  # c2\nmax_idle = 1s\nipc_timeout = 9s\n",
	       "duplicates removed, comments kept, newline added before the new line");
	free(text);

	/* refusals leave the file alone */
	edit_refused(d, "myhostnme", "x", "unknown parameter 'myhostnme' (did you mean 'myhostname'?)",
		     "unknown name");
	edit_refused(d, "max_idle", "10x",
		     "max_idle: '10x' is not a time (expected a number with optional unit s, m, h, d, w; 1s..365d)",
		     "bad time");
	edit_refused(d, "testd_count", "11", "testd_count: '11' is out of range (expected 1..10)",
		     "group parameter out of range");
	edit_refused(d, "config_directory", "/x", "config_directory cannot be set in a file", "config_directory");
	edit_refused(d, "myorigin", "a\nb", "myorigin: the value must be a single line", "newline");
	edit_refused(d, "myorigin", "$myorigin", "myorigin: expansion loop: myorigin -> myorigin", "self reference");
	edit_refused(d, "myorigin", "$nothing_here", "myorigin: unknown parameter '$nothing_here'",
		     "reference to nothing");
	put(d, "tern.conf", "myorigin = $maillog_file\n");
	edit_refused(d, "maillog_file", "$myorigin", "maillog_file: expansion loop: myorigin -> maillog_file -> myorigin",
		     "an edit that makes a loop");
	put(d, "tern.conf", "max_use = ${maillog_file:7}\n");
	edit_refused(d, "maillog_file", "x", /* "maillog_file would break DIR/tern.conf:1: ..." */
		     "/tern.conf:1: max_use: '' is not an integer (expected an integer in 1..100000000)",
		     "an edit that breaks another value");

	/* an existing problem does not block edits, and can be fixed */
	put(d, "tern.conf", "max_use = lots\nbogus = 1\n");
	edit_ok(d, "max_idle", "1m", "despite other problems");
	edit_ok(d, "max_use", "5", "fix a bad value");
	is_int(load(&cfg, d, NULL, NULL, &p), 1, "only the unrelated problem is left");
	has_problem(&p, "tern.conf:2", "unknown parameter 'bogus'");
	config_free(&cfg);
	config_problems_free(&p);

	/* a group parameter goes to the group's file */
	put(d, "tern.conf", "# only global\n");
	edit_ok(d, "testd_count", "7", "a group parameter");
	text = get(d, "testd.conf");
	is_str(text, "testd_count = 7\n", "group file created with the parameter");
	free(text);
	text = get(d, "tern.conf");
	is_str(text, "# only global\n", "tern.conf untouched by a group edit");
	free(text);
	{
		char *gpath = str_dupf("%s/testd.conf", d);

		ok(stat(gpath, &st1) == 0 && (st1.st_mode & 07777) == 0644, "a new file gets mode 0644");
		free(gpath);
	}

	/* a file that cannot be read as config */
	text = xmalloc(CFGFILE_LINE_MAX + 32);
	memcpy(text, "max_use = ", 10);
	memset(text + 10, '1', CFGFILE_LINE_MAX);
	text[10 + CFGFILE_LINE_MAX] = '\0';
	put(d, "tern.conf", text);
	free(text);
	edit_refused(d, "max_idle", "5s", "tern.conf:1: logical line is longer than 65536 bytes",
		     "a file with an over-long line");

	/* a symbolic link is followed */
	put(d, "real.conf", "max_use = 1\n");
	unlink(path);
	ok(symlink("real.conf", path) == 0, "tern.conf as a symbolic link");
	edit_ok(d, "max_use", "2", "through a symbolic link");
	text = get(d, "real.conf");
	is_str(text, "max_use = 2\n", "the link's target edited");
	free(text);
	ok(lstat(path, &st1) == 0 && S_ISLNK(st1.st_mode), "the link is still a link");

	/* a directory where tern.conf should be */
	unlink(path);
	mkdir(path, 0755);
	{
		char err[512] = "";

		ok(config_edit(d, "max_use", "3", err, sizeof(err)) == -1 && strstr(err, "not a regular file"),
		   "edit refused: tern.conf is a directory (%s)", err);
	}
	rmdir(path);

	/* dir NULL: the default directory */
	setenv("TERN_CONFIG_DIR", d, 1);
	edit_ok(NULL, "max_use", "4", "dir NULL uses $TERN_CONFIG_DIR");
	text = get(d, "tern.conf");
	is_str(text, "max_use = 4\n", "created in the default directory");
	free(text);
	unsetenv("TERN_CONFIG_DIR");
	free(path);
	free(d);
}

/*
 * test_edit_concurrent - two processes editing the same file at once lose
 * no update (the lock on tern.conf.tmp serialises them)
 */
static void test_edit_concurrent(void)
{
	char *d = newdir();
	const char *names[2] = { "max_use", "default_process_limit" };
	pid_t pids[2];
	int status, good = 0;
	struct config_problems p;
	struct config cfg;

	put(d, "tern.conf", "# concurrent\n");
	fflush(stdout);
	for (int k = 0; k < 2; k++) {
		pids[k] = fork();
		if (pids[k] == 0) {
			for (int i = 1; i <= 20; i++) {
				char val[16], err[512];

				snprintf(val, sizeof(val), "%d", i);
				if (config_edit(d, names[k], val, err, sizeof(err)) < 0)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int k = 0; k < 2; k++)
		if (pids[k] > 0 && waitpid(pids[k], &status, 0) == pids[k] && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0)
			good++;
	is_int(good, 2, "two concurrent editors finish");
	is_int(load(&cfg, d, NULL, NULL, &p), 0, "the result loads");
	is_int(cfg.global.max_use, 20, "no lost update for the first editor");
	is_int(cfg.global.default_process_limit, 20, "no lost update for the second editor");
	config_free(&cfg);
	config_problems_free(&p);
	ok(!exists(d, "tern.conf.tmp"), "no temporary file left");
	free(d);
}

/* rm_one - nftw callback removing everything */
static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st, (void) flag, (void) ftw;
	return remove(path);
}

int main(void)
{
	if (mkdtemp(tmpdir) == NULL) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	if (gethostname(hostname, sizeof(hostname)) != 0 || hostname[0] == '\0')
		str_copy(hostname, "localhost", sizeof(hostname));
	hostname[sizeof(hostname) - 1] = '\0';
	unsetenv("TERN_CONFIG_DIR");

	test_registry_real();
	test_registry[0] = param_groups[0];
	test_registry[1] = &testd_group;
	test_registry[2] = &otherd_group;
	test_registry[3] = NULL;
	param_registry_set(test_registry);
	test_registry_test();
	test_defaults();
	test_syntax();
	test_line_errors();
	test_values();
	test_expansion();
	test_derived();
	test_files();
	test_precedence();
	test_directory();
	test_load_or_die();
	test_edit();
	test_edit_concurrent();
	param_registry_set(NULL);
	ok(param_registry() == param_groups, "param_registry_set(NULL) restores the built-in registry");
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
