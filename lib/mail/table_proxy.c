/*
 * table_proxy - proxy:type:name tables: lookups that the proxymap
 * service does for us (proxymap_proto.h), for chrooted daemons that
 * cannot open the table themselves, and for unprivileged ones that may
 * not read it.
 *
 *	proxy:unix:passwd.byname
 *	proxy:hash:/etc/tern/aliases
 *
 * Opening checks only the name (a known type, not proxy: again) and
 * never talks to proxymap, so a daemon can open its tables before the
 * service runs. Each lookup sends one request over one connection that
 * the whole process shares and keeps open between lookups; when that
 * kept connection turns out to be dead (proxymap exited after max_idle
 * or max_use, or was restarted), the request is sent once more on a new
 * connection (base/ipc_client.h). Each lookup is bounded by the client
 * timeout (table_proxy_set_timeout; ipc_timeout in daemons).
 *
 * Failures: anything but a clear "ok" or "notfound" from proxymap - no
 * service, a timeout, a table proxymap refuses (not in proxy_read_maps)
 * or cannot open, a broken reply - is a temporary error (-1) with the
 * reason, never "not found": mail is deferred, not bounced. After a
 * failure the connection is closed, so a late reply cannot be taken for
 * the answer to the next question.
 *
 * The key goes to proxymap as given, with the TABLE_FOLD_KEY and
 * TABLE_KEEP_CASE flags of this table: the table behind proxymap folds
 * it exactly as it would if it were opened here. Keys longer than
 * PROXYMAP_KEY_MAX are not found (table.c).
 *
 * Recent answers: each proxy: table keeps its last TABLE_PROXY_CACHE_SLOTS
 * "found" and "not found" answers (keys and values of modest size) for
 * TABLE_PROXY_CACHE_TIME seconds (table_proxy_set_cache_time; 0: none),
 * so that smtpd, which asks two or three questions per local recipient
 * (local_recipient_maps: "user@domain", then "user", in each table),
 * asks proxymap nothing for a recipient it saw a moment ago. A round
 * trip costs two wake-ups and ~10 system calls in two processes. The
 * price: a table change reaches a running client up to that long later
 * (a user added a few seconds ago may still get 550 5.1.1); errors are
 * never kept, and a new socket (table_proxy_set_socket) forgets all.
 * For proxy:unix:passwd.byname a key that table cannot find (one with
 * '@': table_passwd_name_ok) is "not found" without asking.
 */
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/attr.h"
#include "base/buf.h"
#include "base/ipc_client.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/proxymap_proto.h"
#include "mail/table.h"

#define TABLE_PROXY_CACHE_SLOTS	32	/* answers kept per table */
#define TABLE_PROXY_CACHE_KEY	256	/* longer keys are always asked */
#define TABLE_PROXY_CACHE_VALUE	1024	/* longer values are not kept */
#define TABLE_PROXY_PASSWD	"unix:passwd.byname"

/* table_proxy_answer - one kept answer */
struct table_proxy_answer {
	char *key;			/* NULL: an empty slot */
	char *value;			/* NULL: "not found" */
	int64_t expires;		/* monotonic ms */
	unsigned gen;			/* table_proxy_client.gen when it was kept */
};

/* table_proxy - one proxy: table: the name proxymap opens, and its recent answers */
struct table_proxy {
	struct table t;
	char *remote;			/* "type:name", without "proxy:" */
	bool passwd;			/* unix:passwd.byname: table_passwd_name_ok first */
	struct table_proxy_answer cache[TABLE_PROXY_CACHE_SLOTS];
	size_t next;			/* the slot to reuse when none is free */
};

/* table_proxy_client - the connection all proxy: tables of the process share */
static struct table_proxy_client {
	struct ipc_client *conn;	/* while proxy: tables are open */
	char *socket;			/* NULL: PROXYMAP_SOCKET */
	int timeout;			/* seconds */
	int users;			/* open proxy: tables */
	int cache_ms;			/* how long answers are kept; 0: not at all */
	unsigned gen;			/* answers kept under another gen are stale */
} table_proxy_client = { .timeout = TABLE_PROXY_TIMEOUT, .cache_ms = TABLE_PROXY_CACHE_TIME * 1000 };

/* table_proxy_disconnect - close the kept connection, if any */
static void table_proxy_disconnect(struct table_proxy_client *c)
{
	if (c->conn != NULL)
		ipc_client_disconnect(c->conn);
}

/* table_proxy_set_timeout - time limit of one lookup, in seconds */
void table_proxy_set_timeout(int seconds)
{
	struct table_proxy_client *c = &table_proxy_client;

	if (seconds <= 0)
		seconds = TABLE_PROXY_TIMEOUT;
	c->timeout = seconds > INT_MAX / 1000 ? INT_MAX / 1000 : seconds;
	if (c->conn != NULL)
		ipc_client_set_timeout(c->conn, c->timeout * 1000);
}

/* table_proxy_set_socket - where proxymap listens (NULL: private/proxymap) */
void table_proxy_set_socket(const char *path)
{
	struct table_proxy_client *c = &table_proxy_client;

	free(c->socket);
	c->socket = path ? xstrdup(path) : NULL;
	c->gen++;				/* another proxymap: forget its answers */
	if (c->conn != NULL)
		ipc_client_set_path(c->conn, c->socket ? c->socket : PROXYMAP_SOCKET);
}

/* table_proxy_set_cache_time - how long answers are kept, in seconds (0: not at all) */
void table_proxy_set_cache_time(int seconds)
{
	struct table_proxy_client *c = &table_proxy_client;

	if (seconds < 0)
		seconds = TABLE_PROXY_CACHE_TIME;
	c->cache_ms = seconds > INT_MAX / 1000 ? INT_MAX / 1000 * 1000 : seconds * 1000;
	c->gen++;
}

/* table_proxy_now - monotonic milliseconds (vDSO: no system call) */
static int64_t table_proxy_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* table_proxy_answer_clear - empty one slot */
static void table_proxy_answer_clear(struct table_proxy_answer *a)
{
	free(a->key);
	free(a->value);
	a->key = a->value = NULL;
}

/* table_proxy_cached - a kept answer for key: 1 found (*value), 0 not found, -1 none */
static int table_proxy_cached(struct table_proxy *tp, const char *key, const char **value,
			      int64_t now)
{
	const struct table_proxy_client *c = &table_proxy_client;

	for (size_t i = 0; i < TABLE_PROXY_CACHE_SLOTS; i++) {
		struct table_proxy_answer *a = &tp->cache[i];

		if (a->key == NULL || strcmp(a->key, key) != 0)
			continue;
		if (a->gen != c->gen || now >= a->expires) {
			table_proxy_answer_clear(a);
			return -1;
		}
		if (a->value == NULL)
			return 0;
		buf_reset(&tp->t.value);
		if (buf_puts(&tp->t.value, a->value) < 0)
			return -1;			/* cannot happen: kept values are short */
		*value = tp->t.value.data;
		return 1;
	}
	return -1;
}

/* table_proxy_keep - keep proxymap's answer for key (value NULL: not found) */
static void table_proxy_keep(struct table_proxy *tp, const char *key, const char *value,
			     int64_t now)
{
	const struct table_proxy_client *c = &table_proxy_client;
	struct table_proxy_answer *a = NULL;

	if (c->cache_ms <= 0 || strlen(key) > TABLE_PROXY_CACHE_KEY ||
	    (value != NULL && strlen(value) > TABLE_PROXY_CACHE_VALUE))
		return;
	/* a free or stale slot first, else the next in turn */
	for (size_t i = 0; i < TABLE_PROXY_CACHE_SLOTS && a == NULL; i++)
		if (tp->cache[i].key == NULL || tp->cache[i].gen != c->gen || now >= tp->cache[i].expires)
			a = &tp->cache[i];
	if (a == NULL) {
		a = &tp->cache[tp->next];
		tp->next = (tp->next + 1) % TABLE_PROXY_CACHE_SLOTS;
	}
	table_proxy_answer_clear(a);
	a->key = xstrdup(key);
	a->value = value ? xstrdup(value) : NULL;
	a->expires = now + c->cache_ms;
	a->gen = c->gen;
}

/* table_proxy_lookup - a kept answer, else one request and one reply */
static int table_proxy_lookup(struct table *t, const char *key, const char **value,
			      char *err, size_t errlen)
{
	struct table_proxy *tp = (struct table_proxy *) t;
	struct table_proxy_client *c = &table_proxy_client;
	struct attr_list *req = ipc_client_req(c->conn);
	const struct attr_list *reply = ipc_client_reply(c->conn);
	const char *status, *text, *v;
	char why[ATTR_ERR_MAX + 256];
	int64_t now = 0;
	int rc;

	if (tp->passwd && !table_passwd_name_ok(key))
		return 0;			/* proxymap would say so without asking the system */
	if (c->cache_ms > 0) {
		now = table_proxy_now();
		if ((rc = table_proxy_cached(tp, key, value, now)) >= 0)
			return rc;
	}
	attr_list_reset(req);
	attr_add_str(req, PROXYMAP_OP, PROXYMAP_OP_LOOKUP);
	attr_add_str(req, PROXYMAP_TABLE, tp->remote);
	attr_add_str(req, PROXYMAP_KEY, key);
	attr_add_int(req, PROXYMAP_FLAGS, t->flags & (TABLE_FOLD_KEY | TABLE_KEEP_CASE));
	if (attr_list_error(req)) {
		str_fmt(err, errlen, "%s: cannot build the request: %s", t->spec, attr_list_error(req));
		return -1;
	}
	if (ipc_client_call(c->conn, why, sizeof(why)) < 0) {
		str_fmt(err, errlen, "%s: %s", t->spec, why);
		return -1;
	}
	if (attr_need_str(reply, PROXYMAP_STATUS, &status, why, sizeof(why)) < 0) {
		table_proxy_disconnect(c);
		str_fmt(err, errlen, "%s: bad reply from proxymap: %s", t->spec, why);
		return -1;
	}
	if (strcmp(status, PROXYMAP_STATUS_NOTFOUND) == 0) {
		table_proxy_keep(tp, key, NULL, now);
		return 0;
	}
	if (strcmp(status, PROXYMAP_STATUS_OK) == 0) {
		if (attr_need_str(reply, PROXYMAP_VALUE, &v, why, sizeof(why)) < 0) {
			table_proxy_disconnect(c);
			str_fmt(err, errlen, "%s: bad reply from proxymap: %s", t->spec, why);
			return -1;
		}
		buf_reset(&t->value);
		if (buf_puts(&t->value, v) < 0) {
			str_fmt(err, errlen, "%s: proxymap's result is longer than %d bytes",
				t->spec, TABLE_VALUE_MAX);
			return -1;
		}
		*value = t->value.data;
		table_proxy_keep(tp, key, v, now);
		return 1;
	}
	if (strcmp(status, PROXYMAP_STATUS_ERROR) == 0) {
		if (!attr_get_str(reply, PROXYMAP_TEXT, &text))
			text = "no reason given";
		str_fmt(err, errlen, "%s: proxymap: %.*s", t->spec, PROXYMAP_TEXT_MAX, text);
		return -1;
	}
	table_proxy_disconnect(c);
	str_fmt(err, errlen, "%s: bad reply from proxymap: unknown status '%.64s'", t->spec, status);
	return -1;
}

/* table_proxy_close - the last proxy: table closes the connection */
static void table_proxy_close(struct table *t)
{
	struct table_proxy *tp = (struct table_proxy *) t;
	struct table_proxy_client *c = &table_proxy_client;

	for (size_t i = 0; i < TABLE_PROXY_CACHE_SLOTS; i++)
		table_proxy_answer_clear(&tp->cache[i]);
	free(tp->remote);
	free(tp);
	if (--c->users == 0) {
		ipc_client_free(c->conn);
		c->conn = NULL;
	}
}

/* table_proxy_type_known - is the type of "type:name" one table_open knows */
static bool table_proxy_type_known(const char *spec)
{
	size_t tlen = strcspn(spec, ":");
	const char *p = table_types();

	while (*p) {
		size_t n = strcspn(p, ", ");

		if (n == tlen && memcmp(p, spec, n) == 0)
			return true;
		p += n;
		p += strspn(p, ", ");
	}
	return false;
}

/* table_proxy_open - check the name; proxymap is not asked until a lookup */
struct table *table_proxy_open(const char *type, const char *name, int flags,
			       char *err, size_t errlen)
{
	struct table_proxy_client *c = &table_proxy_client;
	struct table_proxy *tp;
	const char *colon = strchr(name, ':');

	(void) flags;
	if (colon == NULL || colon == name || colon[1] == '\0') {
		str_fmt(err, errlen, "%s:%.200s: expected %s:type:name, such as %s:unix:passwd.byname",
			type, name, type, type);
		errno = EINVAL;
		return NULL;
	}
	if (strncmp(name, "proxy:", 6) == 0 || !table_proxy_type_known(name)) {
		str_fmt(err, errlen, "%s:%.200s: proxymap cannot open a table of type '%.*s'",
			type, name, (int) (colon - name > 64 ? 64 : colon - name), name);
		errno = ENOTSUP;
		return NULL;
	}
	if (strlen(name) > PROXYMAP_TABLE_MAX) {
		str_fmt(err, errlen, "%s:%.100s...: table name longer than %d bytes",
			type, name, PROXYMAP_TABLE_MAX);
		errno = EINVAL;
		return NULL;
	}
	if (c->users++ == 0)
		c->conn = ipc_client_new("proxymap", c->socket ? c->socket : PROXYMAP_SOCKET,
					 c->timeout * 1000, PROXYMAP_FRAME_MAX, PROXYMAP_FRAME_MAX);
	tp = xcalloc(1, sizeof(*tp));
	tp->remote = xstrdup(name);
	tp->passwd = strcmp(name, TABLE_PROXY_PASSWD) == 0;
	tp->t.lookup = table_proxy_lookup;
	tp->t.next = NULL;
	tp->t.close = table_proxy_close;
	return &tp->t;
}
