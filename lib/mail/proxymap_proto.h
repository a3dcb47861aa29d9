/*
 * proxymap_proto - the conversation between a proxy: table (table_proxy.c,
 * in any process) and the proxymap service (qmgr/proxymap.c), on top of
 * the attribute frames of base/ipc.h.
 *
 * Why: chrooted daemons running as mail_owner cannot read /etc/passwd or
 * tables under /etc/tern that only root may read; proxymap, which is not
 * chrooted, opens them for them, but only the tables named in
 * proxy_read_maps (qmgr.conf), so a compromised smtpd cannot read
 * arbitrary files through it.
 *
 * Socket: "private/proxymap", relative to queue_directory (every daemon's
 * working directory, and the chroot of the chrooted ones).
 *
 * One request per frame, one reply per request, in order, any number of
 * requests per connection (clients keep the connection open):
 *
 *   client                                       proxymap
 *   {op="lookup", table="TYPE:NAME",        ->
 *    key, flags}
 *                                           <-   {status="ok", value}
 *                                                {status="notfound"}
 *                                                {status="error", text}
 *
 * "table" is the table as proxymap opens it, without the "proxy:" prefix;
 * "flags" are the TABLE_FOLD_KEY and TABLE_KEEP_CASE bits the client's
 * table was opened with (any other bit is an error). "error" covers every
 * failure: a table not in proxy_read_maps, one that cannot be opened, a
 * lookup error, a malformed request; the client treats it as a temporary
 * error (defer), never as "not found". A frame that cannot be decoded
 * closes the connection.
 */
#ifndef TERN_MAIL_PROXYMAP_PROTO_H
#define TERN_MAIL_PROXYMAP_PROTO_H

#define PROXYMAP_SOCKET		"private/proxymap"

/* request */
#define PROXYMAP_OP		"op"		/* S: PROXYMAP_OP_LOOKUP */
#define PROXYMAP_OP_LOOKUP	"lookup"
#define PROXYMAP_TABLE		"table"		/* S: "type:name", at most PROXYMAP_TABLE_MAX bytes */
#define PROXYMAP_KEY		"key"		/* S: at most PROXYMAP_KEY_MAX bytes */
#define PROXYMAP_FLAGS		"flags"		/* I: TABLE_FOLD_KEY, TABLE_KEEP_CASE */

/* reply */
#define PROXYMAP_STATUS		"status"	/* S: one of the three below */
#define PROXYMAP_STATUS_OK	"ok"
#define PROXYMAP_STATUS_NOTFOUND "notfound"
#define PROXYMAP_STATUS_ERROR	"error"
#define PROXYMAP_VALUE		"value"		/* S, with "ok": at most TABLE_VALUE_MAX bytes */
#define PROXYMAP_TEXT		"text"		/* S, with "error": why, one line */

/* limits */
#define PROXYMAP_KEY_MAX	(64 * 1024)	/* a longer key is not found (client) or an error */
#define PROXYMAP_TABLE_MAX	4096		/* longest "type:name" */
#define PROXYMAP_TEXT_MAX	1024		/* longest error text */
#define PROXYMAP_FRAME_MAX	(256 * 1024)	/* both directions; holds the largest key or value */

#endif
