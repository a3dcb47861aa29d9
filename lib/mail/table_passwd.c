/*
 * table_passwd - unix:passwd.byname, the system's user database as a
 * lookup table (Postfix's unix:passwd.byname, for local_recipient_maps
 * and the like).
 *
 * Key: a user name. It is found when getpwnam_r(3) knows it, so
 * /etc/passwd and whatever else nsswitch.conf names (LDAP, systemd's
 * dynamic users) count. The value is "uid:gid:home", the numeric user
 * and group ids and the home directory, e.g. "1000:1000:/home/alice";
 * the home directory comes last and is everything after the second ':'.
 *
 * Keys are folded to lower case like those of the other exact tables
 * (mail local parts are compared without case); TABLE_KEEP_CASE looks the
 * name up as given. A name that is empty, longer than
 * TABLE_PASSWD_NAME_MAX, or holds ':', '@' or a control character is
 * not found without asking the system (table_passwd_name_ok).
 *
 * Why '@' (Postfix's dict_unix asks getpwnam about any key, and its
 * mail_addr_find asks every table about "user@domain" first): a key with
 * '@' is an address, and the question costs most when the answer is
 * "no" - glibc reads /etc/passwd, then nss-systemd looks for a userdb
 * record in six directories, ~65 system calls here, for every local
 * recipient that smtpd checks by its full address before its local
 * part. Names with '@' exist only in directory services (SSSD with
 * use_fully_qualified_names, winbind with '@' as its separator), and
 * tern cannot deliver to them: the local agent looks the recipient up by
 * its local part (getpwnam("alice") for alice@example.com), so saying
 * "found" to "alice@example.com" would accept mail that local then
 * bounces. Such a site sets SSSD's default_domain_suffix, and the local
 * part is found. The one mailbox lost is a quoted local part holding
 * '@' ("a@b"@example.com), which smtpd accepts only from mynetworks.
 *
 * Failures: only "passwd.byname" exists (ENOTSUP for other names). A
 * lookup that the system cannot answer (an I/O error, an unreachable
 * directory service, too many open files) is a temporary error (-1), not
 * "not found". The table cannot list its entries.
 *
 * Chrooted daemons cannot read /etc/passwd: they use
 * proxy:unix:passwd.byname (table_proxy.c) instead.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/table.h"

#define TABLE_PASSWD_MAP	"passwd.byname"
#define TABLE_PASSWD_BUF_MIN	1024		/* getpwnam_r buffer to start with */
#define TABLE_PASSWD_BUF_MAX	(1024 * 1024)	/* and the most it may grow to */

/* table_passwd - the table and getpwnam_r's buffer, kept between lookups */
struct table_passwd {
	struct table t;
	char *buf;
	size_t size;
};

/* table_passwd_name_ok - a name worth asking the system about (not empty, no ':', '@', controls) */
bool table_passwd_name_ok(const char *name)
{
	if (*name == '\0')
		return false;
	for (const unsigned char *p = (const unsigned char *) name; *p; p++)
		if (*p == ':' || *p == '@' || *p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* table_passwd_lookup - getpwnam_r, growing the buffer on ERANGE */
static int table_passwd_lookup(struct table *t, const char *key, const char **value,
			       char *err, size_t errlen)
{
	struct table_passwd *tp = (struct table_passwd *) t;
	struct passwd pw, *res = NULL;
	int rc;

	if (!table_passwd_name_ok(key))
		return 0;
	for (;;) {
		rc = getpwnam_r(key, &pw, tp->buf, tp->size, &res);
		if (rc == EINTR)
			continue;
		if (rc != ERANGE)
			break;
		if (tp->size >= TABLE_PASSWD_BUF_MAX) {
			str_fmt(err, errlen, "%s: the entry of '%.100s' is larger than %d bytes",
				t->spec, key, TABLE_PASSWD_BUF_MAX);
			return -1;
		}
		tp->size *= 2;
		tp->buf = xrealloc(tp->buf, tp->size);
	}
	/* getpwnam_r(3): 0, ENOENT, ESRCH, EBADF and EPERM all say "not there" */
	if (rc == 0 || rc == ENOENT || rc == ESRCH || rc == EBADF || rc == EPERM) {
		if (res == NULL)
			return 0;
	} else {
		str_fmt(err, errlen, "%s: cannot look up user '%.100s': %s", t->spec, key, strerror(rc));
		return -1;
	}
	buf_reset(&t->value);
	if (buf_printf(&t->value, "%lu:%lu:%s", (unsigned long) pw.pw_uid,
		       (unsigned long) pw.pw_gid, pw.pw_dir ? pw.pw_dir : "") < 0) {
		str_fmt(err, errlen, "%s: the result for '%.100s' is too long", t->spec, key);
		return -1;
	}
	*value = t->value.data;
	return 1;
}

/* table_passwd_close - free the buffer and the table */
static void table_passwd_close(struct table *t)
{
	struct table_passwd *tp = (struct table_passwd *) t;

	free(tp->buf);
	free(tp);
}

/* table_passwd_open - unix:passwd.byname; nothing is read until a lookup */
struct table *table_passwd_open(const char *type, const char *name, int flags,
				char *err, size_t errlen)
{
	struct table_passwd *tp;
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);

	(void) flags;
	if (strcmp(name, TABLE_PASSWD_MAP) != 0) {
		str_fmt(err, errlen, "%s:%.200s: unknown %s: table (there is %s:%s)",
			type, name, type, type, TABLE_PASSWD_MAP);
		errno = ENOTSUP;
		return NULL;
	}
	tp = xcalloc(1, sizeof(*tp));
	tp->size = hint > TABLE_PASSWD_BUF_MIN && hint <= TABLE_PASSWD_BUF_MAX ? (size_t) hint :
	    TABLE_PASSWD_BUF_MIN;
	tp->buf = xmalloc(tp->size);
	tp->t.lookup = table_passwd_lookup;
	tp->t.next = NULL;
	tp->t.close = table_passwd_close;
	return &tp->t;
}
