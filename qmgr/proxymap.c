/*
 * proxymap - table lookups for daemons that cannot do them themselves
 * (Postfix's proxymap(8), read-only).
 *
 * smtpd runs chrooted in queue_directory as mail_owner: it cannot read
 * /etc/passwd, nor tables under /etc/tern that only root may read. It
 * names such a table proxy:TYPE:NAME instead (lib/mail/table_proxy.c),
 * and this service, which is not chrooted, opens TYPE:NAME and answers
 * its lookups over "private/proxymap" (protocol: proxymap_proto.h).
 *
 * Policy: only the tables listed in proxy_read_maps (qmgr.conf; a
 * "proxy:" prefix in the list is ignored, so the list can name the same
 * parameters the clients use) are ever opened, compared as exact
 * strings. A request for anything else is refused with an error reply
 * and a warning that names the peer (uid and pid from SO_PEERCRED), so a
 * compromised client cannot read arbitrary files through proxymap.
 *
 * Tables are opened on demand, once per name and flags, and kept open
 * for the life of the process. hash: and btree: tables notice a rebuilt
 * .db themselves; the tables that are read into memory at open
 * (texthash:, pcre:, cidr:) are reopened here when their file changes
 * (checked at most once a second, at a lookup); if the new file is bad,
 * the old contents stay in use and a warning says why. Answers are not
 * kept here: the clients keep each table's recent ones for 10 s
 * (table_proxy.c), which saves the round trip too, and unix:passwd.byname
 * answers a key with '@' without asking the system (table_passwd.c).
 *
 * Process: SERVICE_MULTI on the skeleton, master.conf
 * "proxymap unix - - n - - proxymap": runs as mail_owner, not chrooted.
 * Clients keep their connection open; one that says nothing for
 * min(max_idle, ipc_timeout) is closed (the client reconnects at its
 * next lookup), so idle processes can still exit. On a graceful stop
 * every connection is closed after its pending reply.
 *
 * Failures: a request proxymap cannot answer (refused, the table cannot
 * be opened, a lookup error, a malformed request) gets status "error"
 * with the reason, which clients treat as a temporary error; a frame that
 * cannot be decoded closes that connection. Nothing a client sends makes
 * the process exit.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/proxymap_proto.h"
#include "mail/service.h"
#include "mail/service_conns.h"
#include "mail/table.h"

#define PROXYMAP_CHECK_INTERVAL	1	/* seconds between checks of a table file */
#define PROXYMAP_FLAGS_OK	(TABLE_FOLD_KEY | TABLE_KEEP_CASE)

/* proxymap_table - one open table; file is set for the types read at open */
struct proxymap_table {
	char *spec;
	int flags;
	struct table *t;
	char *file;			/* texthash, pcre, cidr: the file; else NULL */
	struct stat st;			/* of file when it was read */
	time_t checked;
};

/* proxymap - the state of this process */
static struct proxymap {
	char **allowed;			/* proxy_read_maps without "proxy:" */
	struct proxymap_table *tables;
	size_t ntables;
	struct service_conns conns;	/* open connections; who: "uid U pid P: " of the peer */
	struct attr_list reply;
} proxymap;

/* proxymap_allowed - is spec listed in proxy_read_maps */
static bool proxymap_allowed(const char *spec)
{
	for (size_t i = 0; proxymap.allowed[i]; i++)
		if (strcmp(proxymap.allowed[i], spec) == 0)
			return true;
	return false;
}

/* proxymap_file - the file behind a table that is read into memory at open, or NULL */
static char *proxymap_file(const char *spec)
{
	static const char *const types[] = {"texthash:", "pcre:", "cidr:"};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (str_has_prefix(spec, types[i]))
			return xstrdup(spec + strlen(types[i]));
	return NULL;
}

/* proxymap_same_file - same file, same size, same modification time */
static bool proxymap_same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	    a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* proxymap_refresh - reopen a table whose file changed since it was read */
static void proxymap_refresh(struct proxymap_table *pt)
{
	char err[TABLE_ERR_SIZE];
	struct table *t;
	struct stat st;
	time_t now = time(NULL);

	if (pt->file == NULL || now - pt->checked < PROXYMAP_CHECK_INTERVAL)
		return;
	pt->checked = now;
	if (stat(pt->file, &st) < 0 || proxymap_same_file(&st, &pt->st))
		return;
	pt->st = st;				/* one warning per change, not per lookup */
	t = table_open(pt->spec, pt->flags, err, sizeof(err));
	if (t == NULL) {
		msg_warn("%s changed, but cannot be read again: %s; still using the old contents",
			 pt->spec, err);
		return;
	}
	table_close(pt->t);
	pt->t = t;
	msg_info("%s changed: read again", pt->spec);
}

/* proxymap_table_get - the open table for spec and flags, opened on first use; NULL with err */
static struct table *proxymap_table_get(const char *spec, int flags, char *err, size_t errlen)
{
	struct proxymap_table *pt;
	struct table *t;
	struct stat st;
	char *file;

	for (size_t i = 0; i < proxymap.ntables; i++) {
		pt = &proxymap.tables[i];
		if (pt->flags == flags && strcmp(pt->spec, spec) == 0) {
			proxymap_refresh(pt);
			return pt->t;
		}
	}
	/* stat before the open: a change between the two is seen at the next check */
	file = proxymap_file(spec);
	if (file != NULL && stat(file, &st) < 0)
		memset(&st, 0, sizeof(st));
	t = table_open(spec, flags, err, errlen);
	if (t == NULL) {
		free(file);
		return NULL;
	}
	proxymap.tables = xreallocarray(proxymap.tables, proxymap.ntables + 1, sizeof(*proxymap.tables));
	pt = &proxymap.tables[proxymap.ntables++];
	pt->spec = xstrdup(spec);
	pt->flags = flags;
	pt->t = t;
	pt->file = file;
	if (file != NULL)
		pt->st = st;
	pt->checked = time(NULL);
	msg_debug("opened %s (flags %d)", spec, flags);
	return t;
}

/* proxymap_reply_error - status "error" with a reason */
static void proxymap_reply_error(struct attr_list *r, const char *text)
{
	attr_list_reset(r);
	attr_add_str(r, PROXYMAP_STATUS, PROXYMAP_STATUS_ERROR);
	attr_add_strn(r, PROXYMAP_TEXT, text, strnlen(text, PROXYMAP_TEXT_MAX));
}

/* proxymap_lookup - answer one request into r */
static void proxymap_lookup(const struct service_conn *pc, const struct attr_list *req,
			    struct attr_list *r)
{
	char err[TABLE_ERR_SIZE], why[TABLE_ERR_SIZE + 128];
	const char *op, *spec, *key, *value;
	struct table *t;
	int64_t flags;
	int rc;

	if (attr_need_str(req, PROXYMAP_OP, &op, err, sizeof(err)) < 0 ||
	    attr_need_str(req, PROXYMAP_TABLE, &spec, err, sizeof(err)) < 0 ||
	    attr_need_str(req, PROXYMAP_KEY, &key, err, sizeof(err)) < 0 ||
	    attr_need_int(req, PROXYMAP_FLAGS, &flags, err, sizeof(err)) < 0) {
		str_fmt(why, sizeof(why), "bad request: %s", err);
		msg_warn("%s%s", pc->who, why);
		proxymap_reply_error(r, why);
		return;
	}
	if (strcmp(op, PROXYMAP_OP_LOOKUP) != 0) {
		str_fmt(why, sizeof(why), "bad request: unknown op '%.64s'", op);
		msg_warn("%s%s", pc->who, why);
		proxymap_reply_error(r, why);
		return;
	}
	if ((flags & ~(int64_t) PROXYMAP_FLAGS_OK) != 0 || strlen(key) > PROXYMAP_KEY_MAX ||
	    strlen(spec) > PROXYMAP_TABLE_MAX) {
		str_fmt(why, sizeof(why), "bad request for '%.200s': unknown flags or an over-long "
			"table name or key", spec);
		msg_warn("%s%s", pc->who, why);
		proxymap_reply_error(r, why);
		return;
	}
	if (!proxymap_allowed(spec)) {
		str_fmt(why, sizeof(why), "table '%.200s' is not listed in proxy_read_maps: refused", spec);
		msg_warn("%s%s", pc->who, why);
		proxymap_reply_error(r, why);
		return;
	}
	if ((t = proxymap_table_get(spec, (int) flags, err, sizeof(err))) == NULL) {
		msg_warn("cannot open %s: %s", spec, err);
		proxymap_reply_error(r, err);
		return;
	}
	rc = table_lookup(t, key, &value, err, sizeof(err));
	attr_list_reset(r);
	if (rc > 0) {
		attr_add_str(r, PROXYMAP_STATUS, PROXYMAP_STATUS_OK);
		attr_add_str(r, PROXYMAP_VALUE, value);
	} else if (rc == 0) {
		attr_add_str(r, PROXYMAP_STATUS, PROXYMAP_STATUS_NOTFOUND);
	} else {
		msg_warn("%s", err);
		proxymap_reply_error(r, err);
	}
}

/* proxymap_on_frame - one request: answer it */
static void proxymap_on_frame(struct ipc_conn *conn, const struct attr_list *frame, void *arg)
{
	const struct service_conn *pc = arg;
	struct attr_list *r = &proxymap.reply;

	proxymap_lookup(pc, frame, r);
	if (attr_list_error(r)) {
		msg_warn("%scannot build the reply: %s", pc->who, attr_list_error(r));
		proxymap_reply_error(r, "the reply does not fit in a frame");
	}
	if (ipc_conn_send(conn, r) < 0)
		msg_debug("%sreply not sent, connection closed", pc->who);
}

/* proxymap_on_connection - a new client, named by its uid and pid in the log */
static void proxymap_on_connection(struct service *svc, int fd)
{
	struct service_conn *c;
	uid_t uid = (uid_t) -1;
	pid_t pid = 0;

	(void) svc;
	if (ipc_peer_uid(fd, &uid, NULL, &pid) < 0)
		msg_warn("cannot learn the peer of a connection: %s", strerror(errno));
	c = service_conns_add(&proxymap.conns, fd);
	str_fmt(c->who, sizeof(c->who), "uid %ld pid %ld: ", uid == (uid_t) -1 ? -1L : (long) uid,
		(long) pid);
}

/* proxymap_on_stop - graceful stop: close every connection after its reply */
static void proxymap_on_stop(struct service *svc)
{
	(void) svc;
	service_conns_finish(&proxymap.conns);
}

/* proxymap_pre_jail - the list of tables that may be opened, and the time limits */
static void proxymap_pre_jail(struct service *svc)
{
	const struct config *cfg = service_config(svc);
	const struct params_qmgr *q = cfg->own;
	long long idle = cfg->global.max_idle;
	size_t n = 0;

	while (q->proxy_read_maps[n])
		n++;
	proxymap.allowed = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++) {
		const char *spec = q->proxy_read_maps[i];

		while (str_has_prefix(spec, "proxy:"))
			spec += 6;
		proxymap.allowed[i] = xstrdup(spec);
	}
	if (idle > cfg->global.ipc_timeout)
		idle = cfg->global.ipc_timeout;
	service_conns_init(&proxymap.conns, svc, PROXYMAP_FRAME_MAX, (int) idle * 1000,
			   (int) cfg->global.ipc_timeout * 1000, proxymap_on_frame);
	attr_list_init(&proxymap.reply);
	attr_list_set_limit(&proxymap.reply, PROXYMAP_FRAME_MAX);
	msg_debug("%zu tables in proxy_read_maps", n);
}

/* proxymap_free - release the tables and lists (for leak checkers) */
static void proxymap_free(void)
{
	for (size_t i = 0; i < proxymap.ntables; i++) {
		table_close(proxymap.tables[i].t);
		free(proxymap.tables[i].spec);
		free(proxymap.tables[i].file);
	}
	free(proxymap.tables);
	for (size_t i = 0; proxymap.allowed && proxymap.allowed[i]; i++)
		free(proxymap.allowed[i]);
	free(proxymap.allowed);
	attr_list_free(&proxymap.reply);
}

static const struct service_desc proxymap_desc = {
	.program = "proxymap",
	.group = "qmgr",
	.kind = SERVICE_MULTI,
	.pre_jail = proxymap_pre_jail,
	.on_connection = proxymap_on_connection,
	.on_stop = proxymap_on_stop,
};

int main(int argc, char **argv)
{
	int status = service_main(argc, argv, &proxymap_desc);

	proxymap_free();
	return status;
}
