/*
 * showq - the queue listing for users who may not read the queue
 * (Postfix's showq(8)). ternqueue -p/-j and mailq run by anybody but
 * root and mail_owner ask it on public/showq.
 *
 * Process: SERVICE_SINGLE, master.conf "showq unix n - y - - showq":
 * a public socket anyone may connect to, run as mail_owner (who can read
 * the queue directories), chrooted to queue_directory. One request per
 * connection (protocol in lib/mail/queue_print.h): the peer's uid comes
 * from SO_PEERCRED and must be root, mail_owner, or named in
 * authorized_mailq_users (or that list holds static:anyone); otherwise
 * the reply is an error that says so and nothing is listed. The listing
 * is the one ternqueue prints itself (queue_print_listing), streamed in
 * chunks as it is made, so a queue of any size costs little memory.
 *
 * The user names of authorized_mailq_users are turned into uids before
 * the chroot (the password database is outside it), so a user added
 * later is known after "ternctl reload". The time zone is loaded before
 * the chroot too, so arrival times are local as in ternqueue.
 *
 * Failures: a bad request or a peer that goes away ends that connection
 * with a logged warning; an unreadable queue is reported to the client.
 */
#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "base/attr.h"
#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/qid.h"
#include "mail/queue_print.h"
#include "mail/service.h"

#define SHOWQ_FRAME_MAX		(1024 * 1024)	/* a request: layout and queue ids */
#define SHOWQ_CHUNK		(32 * 1024)	/* listing bytes per stream frame */

/* showq - who may list, and the time limit of one connection */
static struct {
	bool anyone;
	uid_t *uids;			/* mail_owner and authorized_mailq_users */
	size_t nuids;
	int ms;
} showq;

/* showq_out - the stream a listing is written to */
struct showq_out {
	int fd;
	struct ipc_stream s;
	char buf[SHOWQ_CHUNK];
	size_t len;
	bool failed;
};

/* showq_flush - send what is buffered as one chunk */
static void showq_flush(struct showq_out *o)
{
	if (o->len == 0 || o->failed)
		return;
	if (ipc_stream_send_chunk(o->fd, &o->s, o->buf, o->len, showq.ms) < 0)
		o->failed = true;
	o->len = 0;
}

/* showq_write - fopencookie write: buffer, send full chunks */
static ssize_t showq_write(void *cookie, const char *p, size_t n)
{
	struct showq_out *o = cookie;
	size_t done = 0;

	while (done < n && !o->failed) {
		size_t k = sizeof(o->buf) - o->len;

		if (k > n - done)
			k = n - done;
		memcpy(o->buf + o->len, p + done, k);
		o->len += k;
		done += k;
		if (o->len == sizeof(o->buf))
			showq_flush(o);
	}
	if (o->failed) {
		errno = EPIPE;
		return -1;
	}
	return (ssize_t) n;
}

/* showq_allowed - may uid list the queue */
static bool showq_allowed(uid_t uid)
{
	if (uid == 0 || showq.anyone)
		return true;
	for (size_t i = 0; i < showq.nuids; i++)
		if (showq.uids[i] == uid)
			return true;
	return false;
}

/* showq_reply - one status frame; 0 or -1 */
static int showq_reply(int fd, const char *status, const char *text, long long missing)
{
	struct attr_list l;
	int rc;

	attr_list_init(&l);
	attr_add_str(&l, SHOWQ_STATUS, status);
	if (text)
		attr_add_str(&l, SHOWQ_TEXT, text);
	if (missing >= 0)
		attr_add_int(&l, SHOWQ_MISSING, missing);
	rc = ipc_send(fd, &l, showq.ms);
	attr_list_free(&l);
	return rc;
}

/* showq_list - stream the listing the request asks for */
static void showq_list(int fd, enum queue_print_layout layout, char **ids, size_t nids)
{
	static const cookie_io_functions_t io = {.write = showq_write};
	struct showq_out *o = xcalloc(1, sizeof(*o));
	char err[512] = "";
	size_t missing = 0;
	FILE *fp;
	int rc;

	o->fd = fd;
	ipc_stream_init(&o->s);
	if ((fp = fopencookie(o, "w", io)) == NULL)
		msg_fatal("fopencookie: %s", strerror(errno));
	rc = queue_print_listing(fp, ".", layout, ids, nids, &missing, err, sizeof(err));
	if (fclose(fp) != 0)
		o->failed = true;
	showq_flush(o);
	if (o->failed || ipc_stream_send_end(fd, &o->s, showq.ms) < 0 ||
	    showq_reply(fd, rc < 0 ? "error" : "ok", rc < 0 ? err : NULL, (long long) missing) < 0)
		msg_warn("listing not sent: %s", strerror(errno));
	else if (rc < 0)
		msg_warn("cannot list the queue: %s", err);
	free(o);
}

/* showq_on_connection - one request from one user */
static void showq_on_connection(struct service *svc, int fd)
{
	struct attr_list req;
	const char *name = "";
	char err[256];
	char **ids = NULL;
	size_t nids = 0;
	uid_t uid = (uid_t) -1;
	int layout;

	(void) svc;
	attr_list_init(&req);
	if (ipc_peer_uid(fd, &uid, NULL, NULL) < 0) {
		msg_warn("cannot learn the peer's uid: %s", strerror(errno));
		goto out;
	}
	if (ipc_recv(fd, &req, SHOWQ_FRAME_MAX, showq.ms, err, sizeof(err)) != 1) {
		msg_warn("uid %ld: no request: %s", (long) uid, err);
		goto out;
	}
	if (!showq_allowed(uid)) {
		msg_warn("uid %ld may not list the queue (authorized_mailq_users)", (long) uid);
		(void) showq_reply(fd, "error", "not allowed to list the queue: authorized_mailq_users "
				   "does not name you", -1);
		goto out;
	}
	attr_get_str(&req, SHOWQ_LAYOUT, &name);
	if ((layout = queue_print_layout_parse(name)) < 0) {
		(void) showq_reply(fd, "error", "unknown layout", -1);
		goto out;
	}
	for (const struct attr *a = NULL; (a = attr_find(&req, SHOWQ_QUEUE_ID, a)) != NULL; ) {
		if (a->type != ATTR_STR || nids >= SHOWQ_IDS_MAX) {
			(void) showq_reply(fd, "error", "bad or too many queue ids", -1);
			goto out;
		}
		ids = xreallocarray(ids, nids + 1, sizeof(*ids));
		ids[nids++] = xstrdup(a->value);
	}
	if (showq_reply(fd, "ok", NULL, -1) == 0)
		showq_list(fd, (enum queue_print_layout) layout, ids, nids);
out:
	for (size_t i = 0; i < nids; i++)
		free(ids[i]);
	free(ids);
	attr_list_free(&req);
}

/* showq_uid - the uid of user name, or -1 (getpwnam_r: the skeleton holds getpwnam's result) */
static long long showq_uid(const char *name)
{
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (getpwnam_r(name, &pw, buf, sizeof(buf), &res) != 0 || res == NULL)
		return -1;
	return (long long) pw.pw_uid;
}

/* showq_pre_jail - who may list (user names to uids), the time zone */
static void showq_pre_jail(struct service *svc)
{
	const struct config *cfg = service_config(svc);
	char *const *users = cfg->global.authorized_mailq_users;
	long long uid;
	size_t n = 0;

	tzset();
	showq.ms = (int) cfg->global.ipc_timeout * 1000;
	while (users && users[n])
		n++;
	showq.uids = xcalloc(n + 1, sizeof(uid_t));
	if ((uid = showq_uid(cfg->global.mail_owner)) >= 0)
		showq.uids[showq.nuids++] = (uid_t) uid;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(users[i], "static:anyone") == 0)
			showq.anyone = true;
		else if ((uid = showq_uid(users[i])) >= 0)
			showq.uids[showq.nuids++] = (uid_t) uid;
		else
			msg_warn("authorized_mailq_users: %s: no such user", users[i]);
	}
}

static const struct service_desc showq_desc = {
	.program = "showq",
	.group = NULL,
	.kind = SERVICE_SINGLE,
	.pre_jail = showq_pre_jail,
	.on_connection = showq_on_connection,
};

int main(int argc, char **argv)
{
	int status = service_main(argc, argv, &showq_desc);

	free(showq.uids);
	return status;
}
