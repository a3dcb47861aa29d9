/*
 * test_table_passwd - unit tests for unix:passwd.byname
 * (lib/mail/table_passwd.c): root and another system user are found
 * with "uid:gid:home" as getpwnam(3) has them, names are folded unless
 * TABLE_KEEP_CASE, made-up, empty, over-long and malformed names (and
 * addresses: a key with '@') are not found (and no error), other unix:
 * maps do not open, the table cannot list.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/str.h"
#include "mail/table.h"
#include "tap.h"

static char err[TABLE_ERR_SIZE];

/* expect - "uid:gid:home" of a user as getpwnam has it */
static void expect(const char *name, char *out, size_t len)
{
	struct passwd *pw = getpwnam(name);

	if (pw == NULL)
		str_copy(out, "(no such user)", len);
	else
		str_fmt(out, len, "%lu:%lu:%s", (unsigned long) pw->pw_uid,
			(unsigned long) pw->pw_gid, pw->pw_dir);
}

/* lookup - table_lookup; the value (or NULL) and the return code */
static int lookup(struct table *t, const char *key, const char **value)
{
	err[0] = '\0';
	return table_lookup(t, key, value, err, sizeof(err));
}

/* test_found - root and another system account */
static void test_found(struct table *t)
{
	static const char *const others[] = {"daemon", "bin", "nobody", "sys"};
	const char *value, *other = NULL;
	char want[1024];

	expect("root", want, sizeof(want));
	is_int(lookup(t, "root", &value), 1, "root is found");
	is_str(value, want, "root: uid:gid:home");
	ok(str_has_prefix(value ? value : "", "0:0:"), "root: uid 0, gid 0");
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]) && other == NULL; i++)
		if (getpwnam(others[i]) != NULL)
			other = others[i];
	if (!ok(other != NULL, "a system user besides root exists")) {
		diag("none of daemon, bin, nobody, sys");
		return;
	}
	expect(other, want, sizeof(want));
	is_int(lookup(t, other, &value), 1, "a system user is found");
	is_str(value, want, "system user: uid:gid:home");
	is_int(lookup(t, "ROOT", &value), 1, "keys are folded by default");
}

/* test_not_found - made-up, empty, over-long and malformed names */
static void test_not_found(struct table *t)
{
	char longname[TABLE_PASSWD_NAME_MAX + 50];
	const char *value = "x";

	is_int(lookup(t, "tern-no-such-user-xq7", &value), 0, "a made-up name is not found");
	ok(value == NULL && err[0] == '\0', "not found: no value, no error");
	is_int(lookup(t, "", &value), 0, "empty name: not found");
	is_int(lookup(t, "root:x", &value), 0, "name with ':': not found");
	is_int(lookup(t, "root@localhost", &value), 0, "name with '@' (an address): not found");
	ok(err[0] == '\0', "'@': no error");
	ok(!table_passwd_name_ok("root@localhost") && !table_passwd_name_ok("@") &&
	   table_passwd_name_ok("root"), "table_passwd_name_ok: '@' is never a user name here");
	is_int(lookup(t, "ro\not", &value), 0, "name with a control character: not found");
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	is_int(lookup(t, longname, &value), 0, "over-long name: refused, not found");
	ok(err[0] == '\0', "over-long name: no error");
}

/* test_keep_case - TABLE_KEEP_CASE looks the name up as given */
static void test_keep_case(void)
{
	struct table *t = table_open("unix:passwd.byname", TABLE_KEEP_CASE, err, sizeof(err));
	const char *value;

	if (!ok(t != NULL, "open with TABLE_KEEP_CASE")) {
		diag("%s", err);
		return;
	}
	is_int(lookup(t, "ROOT", &value), 0, "keep case: ROOT is not root");
	is_int(lookup(t, "root", &value), 1, "keep case: root is found");
	table_close(t);
}

/* test_open - names, listing, lists of tables */
static void test_open(void)
{
	struct table *t;
	struct tables *ts;
	const char *key, *value;

	t = table_open("unix:group.byname", 0, err, sizeof(err));
	ok(t == NULL && errno == ENOTSUP, "unix:group.byname: not supported");
	ok(strstr(err, "passwd.byname") != NULL, "the error names the map there is");
	table_close(t);
	t = table_open("unix:", 0, err, sizeof(err));
	ok(t == NULL, "unix: without a name does not open");
	table_close(t);
	t = table_open("unix:passwd.byname", 0, err, sizeof(err));
	ok(t != NULL && table_next(t, true, &key, &value, err, sizeof(err)) < 0 && errno == ENOTSUP,
	   "the table cannot list");
	table_close(t);
	ts = tables_open("inline:{postmaster=root} unix:passwd.byname", 0, err, sizeof(err));
	ok(ts != NULL && tables_lookup(ts, "root", &value, NULL, err, sizeof(err)) == 1 &&
	   str_has_prefix(value, "0:0:"), "in a list of tables");
	tables_close(ts);
	ok(strstr(table_types(), "unix") != NULL, "table_types names unix");
}

int main(void)
{
	struct table *t = table_open("unix:passwd.byname", 0, err, sizeof(err));

	if (!ok(t != NULL, "open unix:passwd.byname")) {
		diag("%s", err);
		return tap_done();
	}
	is_str(table_type(t), "unix", "type");
	test_found(t);
	test_not_found(t);
	table_close(t);
	test_keep_case();
	test_open();
	return tap_done();
}
