/*
 * test_table - unit tests for lib/mail/table*.c: every table type, found
 * and not found, folding, the pcre and cidr languages, every open error
 * with its file:line, the .db writers (atomic rebuild, delete, modes),
 * a temporary error from a damaged .db, and table lists.
 *
 * Tables are written at run time into a mkdtemp directory that is
 * removed at the end.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/table.h"
#include "tap.h"

static char dir[64];
static char err[TABLE_ERR_SIZE];
static char capfile[128];
static int saved_stderr = -1;

/* path - a file name in the test directory (static, rotating buffers) */
static const char *path(const char *name)
{
	static char bufs[64][256];
	static int n;
	char *p = bufs[n++ % 64];

	str_fmt(p, 256, "%s/%s", dir, name);
	return p;
}

/* put - write a file in the test directory; returns its path */
static const char *put(const char *name, const char *text)
{
	const char *p = path(name);
	FILE *fp = fopen(p, "w");

	if (fp == NULL || fputs(text, fp) < 0 || fclose(fp) != 0)
		msg_fatal("write %s: %m", p);
	return p;
}

/* spec - "type:path-of-name" (static, rotating buffers) */
static const char *spec(const char *type, const char *name)
{
	static char bufs[8][300];
	static int n;
	char *p = bufs[n++ % 8];

	str_fmt(p, 300, "%s:%s", type, path(name));
	return p;
}

/* look - lookup as a string: the value, "(none)" or "(error)" */
static const char *look(struct table *t, const char *key)
{
	const char *value;
	int rc = table_lookup(t, key, &value, err, sizeof(err));

	return rc > 0 ? value : rc == 0 ? "(none)" : "(error)";
}

/* capture_start - send stderr (msg_warn) to a file */
static void capture_start(void)
{
	int fd = open(capfile, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	saved_stderr = dup(2);
	dup2(fd, 2);
	close(fd);
}

/* capture_end - restore stderr; what was written (static buffer) */
static const char *capture_end(void)
{
	static char text[4096];
	FILE *fp;
	size_t n;

	dup2(saved_stderr, 2);
	close(saved_stderr);
	fp = fopen(capfile, "r");
	n = fp ? fread(text, 1, sizeof(text) - 1, fp) : 0;
	text[n] = '\0';
	if (fp)
		fclose(fp);
	return text;
}

/* open_fail - table_open must fail; err must contain want; returns errno */
static int open_fail(const char *s, int flags, const char *want, const char *name)
{
	struct table *t = table_open(s, flags, err, sizeof(err));
	int e = errno;

	ok(t == NULL && strstr(err, want) != NULL, "%s: fails with '%s'", name, want);
	if (t != NULL || strstr(err, want) == NULL)
		diag("err: %s", t ? "(opened)" : err);
	table_close(t);
	return e;
}

static void test_types_and_names(void)
{
	int e = open_fail("nosuch:/x", 0, "unknown table type 'nosuch'", "unknown type");

	is_int(e, ENOTSUP, "unknown type: ENOTSUP");
	ok(strstr(err, "btree, cidr, hash, inline, pcre, static, texthash") != NULL,
	   "unknown type lists the types");
	open_fail("nocolon", 0, "expected type:name", "no colon");
	open_fail("hash:", 0, "missing file name", "hash without a name");
	e = open_fail(spec("hash", "missing"), 0, "missing.db: No such file", "missing .db");
	is_int(e, ENOENT, "missing .db: ENOENT");
	e = open_fail(spec("texthash", "missing"), 0, "No such file", "missing texthash file");
	is_int(e, ENOENT, "missing texthash: ENOENT");
	open_fail(spec("pcre", "missing"), 0, "No such file", "missing pcre file");
	open_fail(spec("cidr", "missing"), 0, "No such file", "missing cidr file");
}

static const char *text_table =
	"# aliases\n"
	"Postmaster   root\n"
	"\n"
	"list  alice,\n"
	"# a comment inside a continued entry\n"
	"\tbob\n"
	"abuse root\n"
	"Abuse security\r\n"
	"last\tone";

static void test_db(const char *type)
{
	const char *src = put("aliases", text_table);
	const char *key, *value;
	struct table *t;
	const char *out;
	int rc, n;

	capture_start();
	rc = table_db_build(type, src, 0, err, sizeof(err));
	out = capture_end();
	ok(rc == 0, "%s: build (%s)", type, rc ? err : "ok");
	ok(strstr(out, "aliases:8: duplicate key 'abuse'") != NULL, "%s: duplicate warned with file:line", type);
	t = table_open(spec(type, "aliases"), 0, err, sizeof(err));
	ok(t != NULL, "%s: open (%s)", type, t ? "ok" : err);
	if (t == NULL)
		return;
	is_str(look(t, "postmaster"), "root", "found (key stored folded)");
	is_str(look(t, "PostMaster"), "root", "lookup folds the key");
	is_str(look(t, "list"), "alice,\tbob", "continuation line joined, comment skipped");
	is_str(look(t, "abuse"), "security", "duplicate: last wins");
	is_str(look(t, "last"), "one", "last line without newline");
	is_str(look(t, "nobody"), "(none)", "not found");
	is_str(look(t, ""), "(none)", "empty key not found");
	for (n = 0, rc = table_next(t, true, &key, &value, err, sizeof(err)); rc > 0;
	     rc = table_next(t, false, &key, &value, err, sizeof(err)))
		n++;
	ok(rc == 0 && n == 4, "%s: table_next lists 4 entries (%d)", type, n);
	table_close(t);
	open_fail(spec(strcmp(type, "hash") ? "hash" : "btree", "aliases"), 0,
		  "not a Berkeley DB", "wrong db type");
}

static void test_db_case(void)
{
	const char *src = put("cased", "Foo upper\n");
	struct table *t;

	ok(table_db_build("hash", src, TABLE_KEEP_CASE, err, sizeof(err)) == 0, "build with keep-case");
	t = table_open(spec("hash", "cased"), TABLE_KEEP_CASE, err, sizeof(err));
	is_str(look(t, "Foo"), "upper", "keep-case: exact case found");
	is_str(look(t, "foo"), "(none)", "keep-case: other case not found");
	table_close(t);
	t = table_open(spec("hash", "cased"), 0, err, sizeof(err));
	is_str(look(t, "Foo"), "(none)", "keep-case table, folding lookup: not found (as Postfix)");
	table_close(t);
}

/* test_db_alias_format - aliases(5) sources: "name: value", "name:value", "name : value" */
static void test_db_alias_format(void)
{
	const char *src = put("aliases.src",
			      "# comment\npostmaster: root\nabuse:root, admin\nteam : a, b\n");
	const char *bad = put("aliases.bad", "lonely:\n");
	struct table *t;

	ok(table_db_build("hash", src, TABLE_ALIAS_FORMAT, err, sizeof(err)) == 0, "alias format builds");
	t = table_open(spec("hash", "aliases.src"), 0, err, sizeof(err));
	is_str(look(t, "postmaster"), "root", "alias 'name: value'");
	is_str(look(t, "abuse"), "root, admin", "alias 'name:value'");
	is_str(look(t, "team"), "a, b", "alias 'name : value'");
	is_str(look(t, "postmaster:"), "(none)", "the colon is not part of the key");
	table_close(t);
	ok(table_db_build("hash", bad, TABLE_ALIAS_FORMAT, err, sizeof(err)) < 0 && errno == EINVAL &&
	   strstr(err, "aliases.bad:1:") != NULL, "alias without a value: error with file:line");
}

static void test_db_rebuild_and_delete(void)
{
	char src[256];
	struct table *t;
	struct stat before, after;
	const char *keys[] = {"B", "zz"};
	size_t deleted = 99;
	const char *out;

	str_copy(src, put("map", "a 1\nb 2\nc 3\n"), sizeof(src));
	table_db_build("hash", src, 0, err, sizeof(err));
	t = table_open(spec("hash", "map"), 0, err, sizeof(err));
	is_str(look(t, "a"), "1", "before rebuild");
	stat(path("map.db"), &before);
	put("map", "a 10\nb 20\n");
	ok(table_db_build("hash", src, 0, err, sizeof(err)) == 0, "rebuild");
	stat(path("map.db"), &after);
	ok(before.st_ino != after.st_ino, "rebuild replaces the file (new inode)");
	is_str(look(t, "a"), "10", "open table sees the rebuilt file");
	is_str(look(t, "c"), "(none)", "and not the old entries");

	ok(table_db_delete("hash", src, keys, 2, 0, &deleted, err, sizeof(err)) == 0 && deleted == 1,
	   "delete: one of two keys was there (%zu)", deleted);
	is_str(look(t, "b"), "(none)", "deleted key gone from the open table");
	is_str(look(t, "a"), "10", "other key kept");
	stat(path("map.db"), &before);
	ok(table_db_delete("hash", src, keys + 1, 1, 0, &deleted, err, sizeof(err)) == 0 && deleted == 0,
	   "delete of a missing key: nothing deleted");
	stat(path("map.db"), &after);
	ok(before.st_ino == after.st_ino, "nothing deleted: file not rewritten");
	ok(table_db_delete("hash", path("nomap"), keys, 1, 0, &deleted, err, sizeof(err)) < 0 &&
	   errno == ENOENT, "delete from a missing .db fails with ENOENT");
	ok(table_db_delete("pcre", src, keys, 1, 0, &deleted, err, sizeof(err)) < 0 &&
	   errno == ENOTSUP, "delete from pcre: ENOTSUP");
	ok(table_db_build("texthash", src, 0, err, sizeof(err)) < 0 && errno == ENOTSUP,
	   "build texthash: ENOTSUP");
	ok(table_db_build("hash", path("nosrc"), 0, err, sizeof(err)) < 0 && errno == ENOENT,
	   "build from a missing file: ENOENT");
	put("bad", "ok 1\nnovalue\n");
	ok(table_db_build("hash", path("bad"), 0, err, sizeof(err)) < 0 && errno == EINVAL &&
	   strstr(err, "bad:2: key 'novalue' has no value") != NULL, "build: syntax error with file:line");
	ok(access(path("bad.db"), F_OK) < 0, "failed build leaves no .db");

	/* stale .db: warned once per table */
	table_close(t);
	{
		struct timespec ts[2] = {{0, UTIME_NOW}, {0, 0}};

		clock_gettime(CLOCK_REALTIME, &ts[1]);
		ts[1].tv_sec += 100;
		utimensat(AT_FDCWD, src, ts, 0);
	}
	capture_start();
	t = table_open(spec("hash", "map"), 0, err, sizeof(err));
	look(t, "a");
	look(t, "b");
	out = capture_end();
	ok(strstr(out, "is newer than") != NULL && strstr(out, "run \"ternmap hash:") != NULL,
	   "text newer than .db: warning");
	ok(strstr(out, "is newer than") && !strstr(strstr(out, "is newer than") + 1, "is newer than"),
	   "warning given once");
	table_close(t);
}

static void test_db_modes(void)
{
	const char *src = put("modes", "k v\n");
	struct stat st;

	chmod(src, 0640);
	table_db_build("btree", src, 0, err, sizeof(err));
	stat(path("modes.db"), &st);
	is_int(st.st_mode & 07777, 0640, ".db gets the text file's mode");
	chmod(src, 0755);
	table_db_build("btree", src, 0, err, sizeof(err));
	stat(path("modes.db"), &st);
	is_int(st.st_mode & 07777, 0644, ".db mode without execute bits");
	if (geteuid() == 0) {
		ok(chown(src, 65534, 65534) == 0, "chown text file");
		table_db_build("btree", src, 0, err, sizeof(err));
		stat(path("modes.db"), &st);
		ok(st.st_uid == 65534 && st.st_gid == 65534, ".db gets the text file's owner");
	}
}

static void test_db_errors(void)
{
	struct table *t;
	FILE *fp;
	int e;

	put("garbage.db", "this is not a database at all, just some text that is long enough\n");
	e = open_fail(spec("hash", "garbage"), 0, "not a Berkeley DB hash file", "garbage .db");
	is_int(e, EINVAL, "garbage .db: EINVAL");

	/* a btree whose pages are cut off: open works, lookups fail */
	fp = fopen(path("big"), "w");
	for (int i = 0; i < 3000; i++)
		fprintf(fp, "key%d value-%d-with-some-padding-to-fill-pages\n", i, i);
	fclose(fp);
	ok(table_db_build("btree", path("big"), 0, err, sizeof(err)) == 0, "big btree built");
	ok(truncate(path("big.db"), 8192) == 0, "cut the btree to two pages");
	t = table_open(spec("btree", "big"), 0, err, sizeof(err));
	ok(t != NULL, "truncated btree opens");
	if (t) {
		const char *value;
		int rc = table_lookup(t, "key2999", &value, err, sizeof(err));

		ok(rc == -1 && strstr(err, "cannot read") != NULL, "damaged .db: temporary error (%s)", err);
		table_close(t);
	}
}

static void test_texthash(void)
{
	struct table *t;
	const char *key, *value;
	char *longkey = xmalloc(TABLE_KEY_MAX + 2);
	char *text;
	int e, n, rc;

	memset(longkey, 'k', TABLE_KEY_MAX);
	longkey[TABLE_KEY_MAX] = '\0';
	text = str_dupf("%s\n%s exact-limit\n", text_table, longkey);
	put("th", text);
	free(text);
	capture_start();
	t = table_open(spec("texthash", "th"), 0, err, sizeof(err));
	ok(strstr(capture_end(), "th:8: duplicate key 'abuse'") != NULL, "texthash: duplicate warned");
	ok(t != NULL, "texthash: open");
	is_str(look(t, "POSTMASTER"), "root", "texthash: found, folded");
	is_str(look(t, "list"), "alice,\tbob", "texthash: continuation");
	is_str(look(t, "abuse"), "security", "texthash: last duplicate wins");
	is_str(look(t, "none"), "(none)", "texthash: not found");
	is_str(look(t, longkey), "exact-limit", "key of exactly TABLE_KEY_MAX found");
	longkey[TABLE_KEY_MAX] = 'k';
	longkey[TABLE_KEY_MAX + 1] = '\0';
	is_str(look(t, longkey), "(none)", "longer key: not found, not cut");
	for (n = 0, rc = table_next(t, true, &key, &value, err, sizeof(err)); rc > 0;
	     rc = table_next(t, false, &key, &value, err, sizeof(err)))
		n++;
	ok(rc == 0 && n == 5, "texthash: lists 5 entries");
	table_close(t);

	put("thcase", "MiXed v\n");
	t = table_open(spec("texthash", "thcase"), TABLE_KEEP_CASE, err, sizeof(err));
	is_str(look(t, "MiXed"), "v", "texthash keep-case: found");
	is_str(look(t, "mixed"), "(none)", "texthash keep-case: other case not found");
	table_close(t);

	put("th1", "a 1\nb\n");
	e = open_fail(spec("texthash", "th1"), 0, "th1:2: key 'b' has no value", "key without value");
	is_int(e, EINVAL, "syntax error: EINVAL");
	put("th2", "  indented first\n");
	open_fail(spec("texthash", "th2"), 0, "th2:1: line starts with white space", "leading white space");
	text = str_dupf("a 1\n%s toolong\n", longkey);
	put("th3", text);
	free(text);
	open_fail(spec("texthash", "th3"), 0, "th3:2: key longer than 1024", "over-long key in file");
	{
		FILE *fp = fopen(path("th4"), "w");

		fputs("a 1\nb x\0y\n", fp);
		fwrite("b x\0y\n", 1, 6, fp);
		fclose(fp);
	}
	open_fail(spec("texthash", "th4"), 0, "th4:2: NUL byte", "NUL byte in file");
	{
		FILE *fp = fopen(path("th5"), "w");

		fputs("a 1\nb ", fp);
		for (int i = 0; i < TABLE_LINE_MAX; i++)
			fputc('x', fp);
		fclose(fp);
	}
	open_fail(spec("texthash", "th5"), 0, "th5:2: line longer than", "over-long line");
	free(longkey);
}

static void test_pcre(void)
{
	struct table *t;
	char *longkey;

	put("p1",
	    "# comment\n"
	    "/^abc$/\t\tdefault-caseless\n"
	    "/^xyz$/i\tcase-sensitive\n"
	    "/^ a b c d $/x\textended\n"
	    "/^line2$/m\tmultiline\n"
	    "/^s1.s2$/s\tdotall\n"
	    "/^(a)?(b+)(c)$/ [$1][${2}][$$][$3]\n"
	    "/^first/ first-rule\n"
	    "/^first-and-second/ second-rule\n"
	    "|^pipe/delim$| pipe\n"
	    "/^esc\\/aped$/ escaped-delimiter\n"
	    "/^x+$/ xs\n"
	    "/^(.*)@(.*)$/\n"
	    "   user=$1\n"
	    "   domain=$2\n");
	t = table_open(spec("pcre", "p1"), 0, err, sizeof(err));
	ok(t != NULL, "pcre: open (%s)", t ? "ok" : err);
	if (t == NULL)
		return;
	is_str(look(t, "ABC"), "default-caseless", "pcre: caseless by default");
	is_str(look(t, "xyz"), "case-sensitive", "pcre: i flag, same case");
	is_str(look(t, "XYZ"), "(none)", "pcre: i flag makes it case-sensitive");
	is_str(look(t, "abcd"), "extended", "pcre: x flag");
	is_str(look(t, "line1\nline2"), "multiline", "pcre: m flag");
	is_str(look(t, "s1\ns2"), "dotall", "pcre: s flag");
	is_str(look(t, "bbc"), "[][bb][$][c]", "pcre: $N, ${N}, $$ and an unset group");
	is_str(look(t, "first-and-second"), "first-rule", "pcre: first match wins");
	is_str(look(t, "pipe/delim"), "pipe", "pcre: other delimiter");
	is_str(look(t, "esc/aped"), "escaped-delimiter", "pcre: escaped delimiter");
	is_str(look(t, "joe@example.com"), "user=joe   domain=example.com",
	       "pcre: continued result with substitution");
	is_str(look(t, "nothing matches this"), "(none)", "pcre: not found");
	longkey = xmalloc(5001);
	memset(longkey, 'x', 5000);
	longkey[5000] = '\0';
	is_str(look(t, longkey), "xs", "pcre: keys longer than TABLE_KEY_MAX are matched");
	free(longkey);
	table_close(t);

	t = table_open(spec("pcre", "p1"), TABLE_FOLD_KEY, err, sizeof(err));
	is_str(look(t, "XYZ"), "case-sensitive", "pcre: TABLE_FOLD_KEY folds the key");
	table_close(t);

	put("p2",
	    "!/@example\\.com$/ not-example\n"
	    "/^(.+)@/ example-user $1\n");
	t = table_open(spec("pcre", "p2"), 0, err, sizeof(err));
	is_str(look(t, "a@other.org"), "not-example", "pcre: negation matches");
	is_str(look(t, "bob@example.com"), "example-user bob", "pcre: negation does not match");
	table_close(t);

	put("p3",
	    "if /@example\\.com$/\n"
	    "IF /^admin/\n"
	    "/./ admin-example\n"
	    "endif\n"
	    "if !/^bob/\n"
	    "/^(.+)@/ user $1\n"
	    "endif\n"
	    "/./ bob-example\n"
	    "ENDIF\n"
	    "/./ other\n");
	t = table_open(spec("pcre", "p3"), 0, err, sizeof(err));
	ok(t != NULL, "pcre if/endif: open (%s)", t ? "ok" : err);
	is_str(look(t, "admin@example.com"), "admin-example", "nested if: both true");
	is_str(look(t, "carol@example.com"), "user carol", "nested if: inner negated if");
	is_str(look(t, "bob@example.com"), "bob-example", "nested if: inner if false, skipped");
	is_str(look(t, "admin@other.org"), "other", "outer if false: block skipped");
	table_close(t);

	put("p4", "/^(a+)+$/ catastrophic\n/./ fallback\n");
	t = table_open(spec("pcre", "p4"), 0, err, sizeof(err));
	capture_start();
	longkey = str_dupf("%s", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa!");
	is_str(look(t, longkey), "fallback", "pcre: match limit hit, rule skipped");
	free(longkey);
	ok(strstr(capture_end(), "p4:1: matching error") != NULL, "pcre: match limit logged with file:line");
	table_close(t);

	put("p5", "/^(.*)$/ $1$1\n");
	t = table_open(spec("pcre", "p5"), 0, err, sizeof(err));
	longkey = xmalloc(40001);
	memset(longkey, 'y', 40000);
	longkey[40000] = '\0';
	is_str(look(t, longkey), "(error)", "pcre: result over TABLE_VALUE_MAX is an error");
	ok(strstr(err, "result longer than") != NULL, "pcre: result too long reason");
	free(longkey);
	table_close(t);

	static const struct {
		const char *text;
		const char *want;
	} bad[] = {
		{"/ok/ 1\n/a(b/ x\n", "pe:2: error in regexp /a(b/ at offset 3: missing closing parenthesis"},
		{"/a/q x\n", "pe:1: unknown regexp flag 'q'"},
		{"/abc x\n", "pe:1: no closing regexp delimiter '/'"},
		{"/abc/\n", "pe:1: pattern without a result"},
		{"/(a)(b)/ $3\n", "pe:1: $3 in the result, but the pattern has 2 groups"},
		{"!/(a)/ $1\n", "pe:1: $1 in the result of a negated pattern"},
		{"/a/ $x\n", "pe:1: bad '$' in result"},
		{"/a/ ${100}\n", "pe:1: bad '$' in result"},
		{"/a/ 1\nendif\n", "pe:2: endif without if"},
		{"if /a/\n/b/ 1\nif /c/\nendif\n", "pe:1: if without endif"},
		{"if /a/\nendif x\n", "pe:2: text after endif"},
		{"if /a/ x\nendif\n", "pe:1: text after the if pattern"},
		{"foo bar\n", "pe:1: expected /regexp/, if or endif"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put("pe", bad[i].text);
		is_int(open_fail(spec("pcre", "pe"), 0, bad[i].want, "pcre error"), EINVAL, "pcre error: EINVAL");
	}
	t = table_open(spec("pcre", "p2"), 0, err, sizeof(err));
	{
		const char *k, *v;

		ok(table_next(t, true, &k, &v, err, sizeof(err)) == -1 && errno == ENOTSUP,
		   "pcre cannot list: ENOTSUP");
	}
	table_close(t);
}

static void test_cidr(void)
{
	struct table *t;

	put("c1",
	    "# networks\n"
	    "192.168.0.0/16\t\tsixteen\n"
	    "192.168.1.0/24\t\ttwentyfour\n"
	    "10.0.0.1\t\tbare-v4\n"
	    "2001:db8::/32\t\tv6-net\n"
	    "[2001:db9::1]/128\tbracketed\n"
	    "2001:dba::1\t\tbare-v6\n"
	    "::ffff:172.16.0.0/108\tmapped-entry\n"
	    "0.0.0.0/0\t\tany-v4\n");
	t = table_open(spec("cidr", "c1"), 0, err, sizeof(err));
	ok(t != NULL, "cidr: open (%s)", t ? "ok" : err);
	if (t == NULL)
		return;
	is_str(look(t, "192.168.1.5"), "sixteen", "cidr: first match wins");
	is_str(look(t, "192.168.200.1"), "sixteen", "cidr: v4 /16");
	is_str(look(t, "10.0.0.1"), "bare-v4", "cidr: bare v4 address");
	is_str(look(t, "10.0.0.2"), "any-v4", "cidr: bare address is /32");
	is_str(look(t, "2001:DB8:1::5"), "v6-net", "cidr: v6 /32");
	is_str(look(t, "2001:db9::1"), "bracketed", "cidr: bracketed v6 entry");
	is_str(look(t, "2001:dba::1"), "bare-v6", "cidr: bare v6 address");
	is_str(look(t, "2001:dba::2"), "(none)", "cidr: bare v6 is /128; v4 /0 does not match v6");
	is_str(look(t, "::ffff:192.168.3.4"), "sixteen", "cidr: v4-mapped key matches v4 entry");
	is_str(look(t, "172.16.5.5"), "mapped-entry", "cidr: v4-mapped entry matches v4 key");
	is_str(look(t, "not-an-address"), "(none)", "cidr: bad key not found");
	is_str(look(t, "1.2.3.4"), "any-v4", "cidr: 0.0.0.0/0 catches all v4");
	table_close(t);

	static const struct {
		const char *text;
		const char *want;
	} bad[] = {
		{"10.0.0.0/8 a\n192.168.1.1/24 x\n",
		 "ce:2: non-null host address bits in '192.168.1.1/24', perhaps you should use '192.168.1.0/24' instead"},
		{"2001:db8::1/32 x\n", "ce:1: non-null host address bits in '2001:db8::1/32', perhaps you should use '2001:db8::/32'"},
		{"10.0.0.0/33 x\n", "ce:1: bad prefix length '/33'"},
		{"10.0.0.0/x x\n", "ce:1: bad prefix length"},
		{"10.0.0.300 x\n", "ce:1: '10.0.0.300' is not an IPv4 or IPv6 address"},
		{"10.0.0.0/8\n", "ce:1: '10.0.0.0/8' has no result"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		put("ce", bad[i].text);
		is_int(open_fail(spec("cidr", "ce"), 0, bad[i].want, "cidr error"), EINVAL, "cidr error: EINVAL");
	}
}

static void test_inline_static(void)
{
	struct table *t;
	const char *key, *value;
	char *longkey;

	t = table_open("inline:{a=1, B=2,c=x=y}", 0, err, sizeof(err));
	ok(t != NULL, "inline: open (%s)", t ? "ok" : err);
	is_str(look(t, "a"), "1", "inline: found");
	is_str(look(t, "b"), "2", "inline: key stored folded");
	is_str(look(t, "A"), "1", "inline: lookup folds");
	is_str(look(t, "c"), "x=y", "inline: value with '='");
	is_str(look(t, "d"), "(none)", "inline: not found");
	ok(table_next(t, true, &key, &value, err, sizeof(err)) == 1 && strcmp(key, "a") == 0,
	   "inline: lists in written order");
	table_close(t);

	t = table_open("inline:{ key = value , k2 = { value, with, commas }, { k3 = v3, more } k4=v4 }",
		       0, err, sizeof(err));
	ok(t != NULL, "inline with spaces and braces: open (%s)", t ? "ok" : err);
	is_str(look(t, "key"), "value", "inline: spaces around '='");
	is_str(look(t, "k2"), "value, with, commas", "inline: braced value");
	is_str(look(t, "k3"), "v3, more", "inline: braced element");
	is_str(look(t, "k4"), "v4", "inline: white space separates elements");
	table_close(t);
	t = table_open("inline:{ key = { value, with, commas } }", 0, err, sizeof(err));
	is_str(t ? look(t, "key") : err, "value, with, commas", "inline: the whole table one braced value");
	table_close(t);
	t = table_open("inline:{}", 0, err, sizeof(err));
	ok(t != NULL && strcmp(look(t, "x"), "(none)") == 0, "inline: empty table");
	table_close(t);

	open_fail("inline:a=b", 0, "expected inline:{key=value", "inline without braces");
	open_fail("inline:{a=b", 0, "expected inline:{key=value", "inline unbalanced outer");
	open_fail("inline:{a={b}", 0, "expected inline:{key=value", "inline unbalanced inner");
	open_fail("inline:{a}", 0, "expected key=value at 'a'", "inline missing '='");
	open_fail("inline:{a=}", 0, "key 'a' has no value", "inline empty value");
	open_fail("inline:{=b}", 0, "expected key=value", "inline empty key");
	open_fail("inline:{{=b}}", 0, "empty key", "inline braced empty key");
	open_fail("inline:{{a b}}", 0, "missing '='", "inline braced without '='");
	open_fail("inline:{a=1, A=2}", 0, "duplicate key 'a'", "inline duplicate");

	t = table_open("static:OK", 0, err, sizeof(err));
	is_str(look(t, "anything"), "OK", "static: any key");
	longkey = xmalloc(TABLE_KEY_MAX * 3);
	memset(longkey, 'z', TABLE_KEY_MAX * 3 - 1);
	longkey[TABLE_KEY_MAX * 3 - 1] = '\0';
	is_str(look(t, longkey), "OK", "static: even a long key");
	free(longkey);
	ok(table_next(t, true, &key, &value, err, sizeof(err)) == -1, "static cannot list");
	table_close(t);
	t = table_open("static:{ text with spaces }", 0, err, sizeof(err));
	is_str(look(t, "x"), "text with spaces", "static: braced text");
	table_close(t);
	open_fail("static:{oops", 0, "unbalanced braces", "static unbalanced");
}

static void test_lists(void)
{
	struct tables *ts;
	const struct table *which;
	const char *value;
	char list[1024];
	char **specs;

	put("l1", "a second\nb second\n");
	str_fmt(list, sizeof(list), "inline:{ a = first, x = { 1, 2 } },%s static:{ last resort }",
		spec("texthash", "l1"));
	ts = tables_open(list, 0, err, sizeof(err));
	ok(ts != NULL && tables_count(ts) == 3, "tables_open: three tables (%s)", ts ? "ok" : err);
	if (ts == NULL)
		return;
	ok(tables_lookup(ts, "a", &value, &which, err, sizeof(err)) == 1 && strcmp(value, "first") == 0 &&
	   strcmp(table_type(which), "inline") == 0, "list: first table wins");
	ok(tables_lookup(ts, "B", &value, &which, err, sizeof(err)) == 1 && strcmp(value, "second") == 0 &&
	   strcmp(table_type(which), "texthash") == 0, "list: second table");
	ok(tables_lookup(ts, "x", &value, NULL, err, sizeof(err)) == 1 && strcmp(value, "1, 2") == 0,
	   "list: braces protect commas");
	ok(tables_lookup(ts, "zzz", &value, &which, err, sizeof(err)) == 1 &&
	   strcmp(value, "last resort") == 0 && strcmp(table_spec(which), "static:{ last resort }") == 0,
	   "list: static last");
	tables_close(ts);

	ts = tables_open("inline:{a=1}", 0, err, sizeof(err));
	ok(ts && tables_lookup(ts, "b", &value, NULL, err, sizeof(err)) == 0, "list: not found");
	tables_close(ts);

	str_fmt(list, sizeof(list), "inline:{a=1} %s", spec("hash", "nothere"));
	ts = tables_open(list, 0, err, sizeof(err));
	ok(ts == NULL && errno == ENOENT && strstr(err, "nothere.db") != NULL, "list: a missing table fails the open");
	ts = tables_open("inline:{a=1", 0, err, sizeof(err));
	ok(ts == NULL && strstr(err, "unbalanced braces") != NULL, "list: unbalanced braces");

	str_fmt(list, sizeof(list), "%s, static:x", spec("btree", "big"));
	ts = tables_open(list, 0, err, sizeof(err));
	ok(ts && tables_lookup(ts, "key2999", &value, NULL, err, sizeof(err)) == -1,
	   "list: an error stops the search (no fallback to static)");
	tables_close(ts);

	specs = tables_split(" a:b ,, c:{d e}\n", err, sizeof(err));
	ok(specs && specs[0] && strcmp(specs[0], "a:b") == 0 && specs[1] &&
	   strcmp(specs[1], "c:{d e}") == 0 && specs[2] == NULL, "tables_split");
	tables_split_free(specs);
}

static int rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void) st;
	(void) flag;
	(void) ftw;
	return remove(p);
}

int main(void)
{
	msg_init("test_table");
	str_copy(dir, "/tmp/test_table.XXXXXX", sizeof(dir));
	if (mkdtemp(dir) == NULL)
		msg_fatal("mkdtemp: %m");
	str_fmt(capfile, sizeof(capfile), "%s/stderr", dir);

	test_types_and_names();
	test_db("hash");
	test_db("btree");
	test_db_case();
	test_db_alias_format();
	test_db_rebuild_and_delete();
	test_db_modes();
	test_db_errors();
	test_texthash();
	test_pcre();
	test_cidr();
	test_inline_static();
	test_lists();

	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return tap_done();
}
