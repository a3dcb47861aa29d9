/*
 * test_cfgfile - unit tests for lib/base cfgfile: logical lines,
 * comments, continuation, limits and "name = value" splitting.
 */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/cfgfile.h"
#include "base/mem.h"
#include "tap.h"

static char tmpdir[] = "/tmp/test_cfgfile.XXXXXX";

/* parse - cfgfile_parse of a C string */
static int parse(const char *text, struct cfgfile *cf, struct cfgfile_error *err)
{
	return cfgfile_parse(text, strlen(text), cf, err);
}

/* test_logical_lines - comments, blanks, continuation, line numbers */
static void test_logical_lines(void)
{
	struct cfgfile cf;
	struct cfgfile_error err;
	const char *text =
	    "# a comment\n"
	    "\n"
	    "a = 1\n"
	    "b = one,\n"
	    "    two\t \n"
	    "  # a comment between continuation lines\n"
	    "\n"
	    "\tthree\n"
	    "   \t\n"
	    "c = x # not a comment\r\n"
	    "  #indented comment\n"
	    "d=last";

	ok(parse(text, &cf, &err) == 0, "parse a file with every form");
	is_int((long long) cf.count, 4, "four logical lines");
	if (cf.count == 4) {
		is_str(cf.lines[0].text, "a = 1", "simple line");
		is_int(cf.lines[0].lineno, 3, "line number counts comments and blanks");
		is_int(cf.lines[0].lastno, 3, "single line ends where it starts");
		is_str(cf.lines[1].text, "b = one, two three", "continuations joined with one space");
		is_int(cf.lines[1].lineno, 4, "continued line starts at its first line");
		is_int(cf.lines[1].lastno, 8, "continued line ends at its last continuation");
		is_str(cf.lines[2].text, "c = x # not a comment", "'#' after text is text; CR trimmed");
		is_str(cf.lines[3].text, "d=last", "last line without newline");
		is_int(cf.lines[3].lineno, 12, "line number of the last line");
	}
	cfgfile_free(&cf);
	ok(cf.count == 0 && cf.lines == NULL, "cfgfile_free empties");

	ok(parse("", &cf, &err) == 0 && cf.count == 0, "empty text has no lines");
	cfgfile_free(&cf);
	ok(parse("# only\n\n   \n", &cf, &err) == 0 && cf.count == 0, "comments only");
	cfgfile_free(&cf);
}

/* test_kinds - classification of physical lines */
static void test_kinds(void)
{
	static const struct {
		const char *line;
		enum cfgfile_kind kind;
	} cases[] = {
		{"", CFGFILE_BLANK}, {"  \t\r", CFGFILE_BLANK}, {"#x", CFGFILE_COMMENT},
		{"   # x", CFGFILE_COMMENT}, {"a = b", CFGFILE_START}, {" b", CFGFILE_CONT},
		{"\tb", CFGFILE_CONT},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(cfgfile_kind(cases[i].line, strlen(cases[i].line)), cases[i].kind, cases[i].line);
}

/* test_errors - continuation without a line, NUL, line and file limits */
static void test_errors(void)
{
	struct cfgfile cf;
	struct cfgfile_error err;
	char *big;

	ok(parse("  leading\na = b\n", &cf, &err) == -1 && err.lineno == 1 &&
	   strstr(err.text, "no line before it") != NULL && cf.count == 0,
	   "continuation without a line: error on line 1");
	ok(parse("# c\n\n  leading\n", &cf, &err) == -1 && err.lineno == 3,
	   "continuation after only comments: error names its line");
	ok(cfgfile_parse("a = b\nc = \0d\n", 11, &cf, &err) == -1 && err.lineno == 2 &&
	   strstr(err.text, "NUL") != NULL, "NUL byte refused with its line");

	/* exactly the limit is fine, one byte more is not */
	big = xmalloc(CFGFILE_LINE_MAX + 16);
	memset(big, 'x', CFGFILE_LINE_MAX);
	big[CFGFILE_LINE_MAX] = '\0';
	ok(parse(big, &cf, &err) == 0 && cf.count == 1 && strlen(cf.lines[0].text) == CFGFILE_LINE_MAX,
	   "a line of exactly CFGFILE_LINE_MAX bytes");
	cfgfile_free(&cf);
	big[CFGFILE_LINE_MAX] = 'x';
	big[CFGFILE_LINE_MAX + 1] = '\0';
	ok(parse(big, &cf, &err) == -1 && err.lineno == 1 && strstr(err.text, "longer than 65536") != NULL,
	   "a line one byte over: '%s'", err.text);
	/* over the limit through continuation lines: named by the first line */
	memset(big, 'y', CFGFILE_LINE_MAX + 10);
	memcpy(big, "a\nb = 1\n c\n ", 12);
	big[CFGFILE_LINE_MAX + 10] = '\0';
	ok(parse(big, &cf, &err) == -1 && err.lineno == 2,
	   "over-long logical line made of continuations names its start (%d)", err.lineno);
	free(big);
	ok(cfgfile_parse("x", (size_t) CFGFILE_FILE_MAX + 1, &cf, &err) == -1 &&
	   strstr(err.text, "larger than") != NULL, "text over the file limit");
}

/* write_file - create dir/name with content */
static char *write_file(const char *name, const char *content, size_t len)
{
	char *path = xmalloc(strlen(tmpdir) + strlen(name) + 2);
	FILE *f;

	snprintf(path, strlen(tmpdir) + strlen(name) + 2, "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	if (f == NULL || fwrite(content, 1, len, f) != len || fclose(f) != 0)
		diag("cannot write %s", path);
	return path;
}

/* test_read - reading files: good, missing, a directory, too big */
static void test_read(void)
{
	struct cfgfile cf;
	struct cfgfile_error err;
	char *path, *data;
	size_t len;
	FILE *f;

	path = write_file("good.conf", "a = 1\n  2\n", 10);
	ok(cfgfile_read(path, &cf, &err) == 0 && cf.count == 1 && strcmp(cf.lines[0].text, "a = 1 2") == 0,
	   "read a file");
	cfgfile_free(&cf);
	ok(cfgfile_slurp(path, &data, &len, &err) == 0 && len == 10 && memcmp(data, "a = 1\n  2\n", 10) == 0 &&
	   data[10] == '\0', "slurp gives the raw bytes, NUL-terminated");
	free(data);
	free(path);

	path = write_file("missing.conf", "", 0);
	unlink(path);
	ok(cfgfile_read(path, &cf, &err) == -1 && err.errnum == ENOENT && err.lineno == 0 &&
	   strstr(err.text, "cannot open") != NULL, "missing file: ENOENT");
	free(path);

	ok(cfgfile_read(tmpdir, &cf, &err) == -1 && err.errnum == EISDIR &&
	   strstr(err.text, "not a regular file") != NULL, "a directory is refused");

	path = write_file("bad.conf", "a = 1\n b\n\tc\n\n d\n  ", 18);
	ok(cfgfile_read(path, &cf, &err) == 0 && cf.count == 1 && strcmp(cf.lines[0].text, "a = 1 b c d") == 0,
	   "blank lines inside continuations are skipped");
	cfgfile_free(&cf);
	free(path);

	/* a file over the size limit (sparse, so cheap) */
	path = write_file("huge.conf", "", 0);
	f = fopen(path, "r+");
	ok(f != NULL && ftruncate(fileno(f), (off_t) CFGFILE_FILE_MAX + 1) == 0, "make a huge sparse file");
	if (f)
		fclose(f);
	ok(cfgfile_read(path, &cf, &err) == -1 && strstr(err.text, "larger than 10485760") != NULL,
	   "file over 10 MiB refused: '%s'", err.text);
	free(path);
}

/* test_split - name = value splitting and name rules */
static void test_split(void)
{
	static const struct {
		const char *line;
		int rc;
		const char *name, *value, *error;
	} cases[] = {
		{"a = b", 0, "a", "b", NULL},
		{"a=b", 0, "a", "b", NULL},
		{"  name_2  =   spaced value  ", 0, "name_2", "spaced value", NULL},
		{"empty =", 0, "empty", "", NULL},
		{"eq = a=b", 0, "eq", "a=b", NULL},
		{"no equals here", -1, NULL, NULL, "missing '=' in 'no equals here'"},
		{" = value", -1, NULL, NULL, "missing parameter name"},
		{"Upper = x", -1, NULL, NULL, "invalid parameter name 'Upper'"},
		{"with-dash = x", -1, NULL, NULL, "invalid parameter name 'with-dash'"},
		{"two words = x", -1, NULL, NULL, "invalid parameter name 'two words'"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *copy = xstrdup(cases[i].line);
		struct cfgfile_error err;
		char *name = NULL, *value = NULL;
		int rc = cfgfile_split(copy, &name, &value, &err);

		if (cases[i].rc == 0)
			ok(rc == 0 && strcmp(name, cases[i].name) == 0 && strcmp(value, cases[i].value) == 0,
			   "split '%s'", cases[i].line);
		else
			ok(rc == -1 && strstr(err.text, cases[i].error) != NULL,
			   "split '%s' fails: %s", cases[i].line, rc ? err.text : "(no error)");
		free(copy);
	}

	char longname[CFGFILE_NAME_MAX + 8];

	memset(longname, 'n', CFGFILE_NAME_MAX + 1);
	longname[CFGFILE_NAME_MAX + 1] = '\0';
	ok(!cfgfile_name_ok(longname), "name over CFGFILE_NAME_MAX refused");
	longname[CFGFILE_NAME_MAX] = '\0';
	ok(cfgfile_name_ok(longname), "name of CFGFILE_NAME_MAX accepted");
	ok(!cfgfile_name_ok(""), "empty name refused");
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
	test_logical_lines();
	test_kinds();
	test_errors();
	test_read();
	test_split();
	nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
