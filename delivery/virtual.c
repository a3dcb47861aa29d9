/*
 * virtual - the virtual mailbox delivery agent (virtual(8)): mailboxes
 * for accounts that are not Unix users. DELIVER requests from qmgr on
 * private/virtual (deliver_proto.h).
 *
 * Per recipient (lower-cased; user+ext@domain also tries user@domain):
 * virtual_alias_maps (address, then the "@domain" catch-all) expands to
 * one or more addresses, recursively (LOCAL-style loop limit); targets in
 * virtual_mailbox_domains are delivered here, others are forwarded as one
 * new message through cleanup. Then virtual_mailbox_maps (address, then
 * "@domain") gives the mailbox path relative to virtual_mailbox_base: a
 * trailing '/' means Maildir, otherwise mbox. No entry: bounced 5.1.1.
 *
 * Privileges: the process starts as root (master.conf unpriv "n"), only
 * to open the queue file (mode 0700, mail_owner) and the tables; every
 * mailbox write happens in this process with the mailbox owner's
 * effective ids and groups, verified, and root again afterwards
 * (deliver_as_euid: no fork; a switch back that fails exits the agent). The owner: virtual_uid_maps / virtual_gid_maps
 * (Postfix's semantics: the mailbox address, then without +ext, then
 * "@domain"; a number or a user or group name, so "static:5000" gives
 * every mailbox one owner); an address the uid maps do not know uses
 * virtual_uid when that is set and is deferred otherwise; without uid
 * maps, virtual_uid (empty: mail_owner). The gid: its map, else
 * virtual_gid, else the uid's primary group. Uid or gid 0: deferred,
 * never delivered as root. Not started as root (a private instance):
 * the owner must be the process's own user, else the delivery is
 * deferred.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/ipc.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/deliver_agent.h"
#include "mail/deliver_proto.h"
#include "mail/domain.h"
#include "mail/maildir.h"
#include "mail/mbox.h"
#include "mail/service.h"
#include "mail/table.h"

#define VIRTUAL_DEPTH_MAX	20
#define VIRTUAL_TARGETS_MAX	1000
#define VIRTUAL_RELAY		"virtual"

/* virtual - the daemon's state */
static struct virtual {
	const struct config *cfg;
	const struct params_global *g;
	const struct params_delivery *p;
	struct tables *mailboxes;
	struct tables *aliases;
	struct tables *uid_maps;	/* NULL when virtual_uid_maps is empty */
	struct tables *gid_maps;
	struct deliver_cred cred;
	bool cred_ok;
	char cred_err[200];
} virtual_state;

/* virtual_exp - one recipient's expansion */
struct virtual_exp {
	struct deliver_job *job;
	const char *rcpt;
	char once_key[64];		/* "QIDRn": makes Maildir deliveries idempotent (maildir.h) */
	char **seen;
	size_t nseen;
	char **fwd;
	size_t nfwd;
	struct deliver_tally tally;
};

/* virtual_id - a user or group given by name or number */
static int virtual_id(const char *s, bool group, long *id)
{
	long long v;

	if (str_to_ll(s, 0, 0x7fffffff, &v) == 0) {
		*id = (long) v;
		return 0;
	}
	if (group) {
		struct group *gr = getgrnam(s);

		if (gr == NULL)
			return -1;
		*id = (long) gr->gr_gid;
	} else {
		struct passwd *pw = getpwnam(s);

		if (pw == NULL)
			return -1;
		*id = (long) pw->pw_uid;
	}
	return 0;
}

/* virtual_owner - virtual_uid / virtual_gid to cred */
static void virtual_owner(struct virtual *v)
{
	const char *user = v->p->virtual_uid[0] ? v->p->virtual_uid : v->g->mail_owner;
	long uid, gid;
	struct passwd *pw;

	v->cred_ok = false;
	if (virtual_id(user, false, &uid) != 0) {
		snprintf(v->cred_err, sizeof(v->cred_err), "virtual_uid %s: no such user", user);
		return;
	}
	if (v->p->virtual_gid[0]) {
		if (virtual_id(v->p->virtual_gid, true, &gid) != 0) {
			snprintf(v->cred_err, sizeof(v->cred_err), "virtual_gid %s: no such group",
				 v->p->virtual_gid);
			return;
		}
	} else if ((pw = getpwuid((uid_t) uid)) != NULL) {
		gid = (long) pw->pw_gid;
	} else {
		snprintf(v->cred_err, sizeof(v->cred_err), "virtual_uid %s has no primary group; set virtual_gid", user);
		return;
	}
	if (uid == 0 || gid == 0) {
		snprintf(v->cred_err, sizeof(v->cred_err), "virtual_uid and virtual_gid must not be root");
		return;
	}
	v->cred.uid = (uid_t) uid;
	v->cred.gid = (gid_t) gid;
	v->cred_ok = true;
}

/* virtual_pre_jail - tables and the mailbox owner, as root */
static void virtual_pre_jail(struct service *svc)
{
	struct virtual *v = &virtual_state;
	char err[TABLE_ERR_SIZE];

	v->cfg = service_config(svc);
	v->g = &v->cfg->global;
	v->p = v->cfg->own;
	if (v->cfg->global.virtual_mailbox_maps[0] != NULL &&
	    (v->mailboxes = tables_open_vector((const char *const *) v->cfg->global.virtual_mailbox_maps, 0,
						err, sizeof(err))) == NULL)
		msg_fatal("virtual_mailbox_maps: %s", err);
	if (v->p->virtual_alias_maps[0] != NULL &&
	    (v->aliases = tables_open_vector((const char *const *) v->p->virtual_alias_maps, 0,
					      err, sizeof(err))) == NULL)
		msg_fatal("virtual_alias_maps: %s", err);
	if (v->p->virtual_uid_maps[0] != NULL &&
	    (v->uid_maps = tables_open_vector((const char *const *) v->p->virtual_uid_maps, 0,
					       err, sizeof(err))) == NULL)
		msg_fatal("virtual_uid_maps: %s", err);
	if (v->p->virtual_gid_maps[0] != NULL &&
	    (v->gid_maps = tables_open_vector((const char *const *) v->p->virtual_gid_maps, 0,
					       err, sizeof(err))) == NULL)
		msg_fatal("virtual_gid_maps: %s", err);
	virtual_owner(v);
	if (!v->cred_ok && (v->uid_maps == NULL || v->p->virtual_uid[0]))
		msg_warn("%s: every delivery %sis deferred", v->cred_err,
			 v->uid_maps ? "that virtual_uid_maps does not know " : "");
}

/*
 * virtual_record - log one destination's outcome ("to=<to>, orig_to=<the
 * recipient>", as Postfix logs what its cleanup's virtual aliasing made;
 * the line waits until the recipient's slot is durable) and merge it into
 * the recipient's
 */
static void virtual_record(struct virtual_exp *e, const char *to, const struct deliver_out *out)
{
	deliver_job_log_pending(e->job, to, e->rcpt, out, VIRTUAL_RELAY);
	deliver_tally_add(&e->tally, e->job->qid, e->rcpt, out);
}

/* virtual_seen - dedupe */
static bool virtual_seen(struct virtual_exp *e, const char *key)
{
	for (size_t i = 0; i < e->nseen; i++)
		if (strcmp(e->seen[i], key) == 0)
			return true;
	e->seen = xreallocarray(e->seen, e->nseen + 1, sizeof(*e->seen));
	e->seen[e->nseen++] = xstrdup(key);
	return false;
}

/*
 * virtual_lookup - address, then user@domain without +ext, then @domain:
 * 1 found, 0 not, -1 error (err)
 */
static int virtual_lookup(struct tables *ts, const char *addr, const char **value, char *err, size_t errlen)
{
	const char *at = strrchr(addr, '@');
	const char *plus = strchr(addr, '+');
	char *key;
	int r;

	if (ts == NULL)
		return 0;
	r = tables_lookup(ts, addr, value, NULL, err, errlen);
	if (r != 0 || at == NULL)
		return r;
	if (plus != NULL && plus < at) {
		key = str_dupf("%.*s%s", (int) (plus - addr), addr, at);
		r = tables_lookup(ts, key, value, NULL, err, errlen);
		free(key);
		if (r != 0)
			return r;
	}
	return tables_lookup(ts, at, value, NULL, err, errlen);
}

/*
 * virtual_map_id - look addr up in a uid or gid map: 1 with *id, 0 no
 * entry, -1 with err (lookup failure, unknown name, or 0)
 */
static int virtual_map_id(struct tables *ts, const char *what, const char *addr, bool group, long *id,
			  char *err, size_t errlen)
{
	char terr[TABLE_ERR_SIZE];
	const char *value;
	char *word;
	int r = virtual_lookup(ts, addr, &value, terr, sizeof(terr));

	if (r < 0) {
		str_fmt(err, errlen, "%s lookup failure: %s", what, terr);
		return -1;
	}
	if (r == 0)
		return 0;
	word = xstrndup(value, strcspn(value, " \t,"));
	r = virtual_id(word, group, id);
	if (r != 0)
		snprintf(err, errlen, "%s: <%s> maps to \"%s\": no such %s", what, addr, word,
			 group ? "group" : "user");
	else if (*id == 0)
		snprintf(err, errlen, "%s: <%s> maps to %s 0: refusing to deliver as root", what, addr,
			 group ? "gid" : "uid");
	free(word);
	return r != 0 || *id == 0 ? -1 : 1;
}

/* virtual_cred - whom addr's mailbox is written as; 0, or -1 with err (a deferral) */
static int virtual_cred(struct virtual *v, const char *addr, struct deliver_cred *cred, char *err, size_t errlen)
{
	long uid, gid;
	int r;

	if (v->uid_maps == NULL) {
		if (!v->cred_ok) {
			snprintf(err, errlen, "%s", v->cred_err);
			return -1;
		}
		*cred = v->cred;
		return 0;
	}
	r = virtual_map_id(v->uid_maps, "virtual_uid_maps", addr, false, &uid, err, errlen);
	if (r < 0)
		return -1;
	if (r == 0) {
		if (!v->p->virtual_uid[0]) {
			snprintf(err, errlen, "virtual_uid_maps has no entry for <%s> and virtual_uid is not set", addr);
			return -1;
		}
		if (!v->cred_ok) {
			snprintf(err, errlen, "%s", v->cred_err);
			return -1;
		}
		uid = (long) v->cred.uid;
	}
	r = v->gid_maps ? virtual_map_id(v->gid_maps, "virtual_gid_maps", addr, true, &gid, err, errlen) : 0;
	if (r < 0)
		return -1;
	if (r == 0 && v->p->virtual_gid[0]) {
		if (virtual_id(v->p->virtual_gid, true, &gid) != 0) {
			snprintf(err, errlen, "virtual_gid %s: no such group", v->p->virtual_gid);
			return -1;
		}
	} else if (r == 0) {
		struct passwd *pw = getpwuid((uid_t) uid);

		if (pw == NULL) {
			snprintf(err, errlen, "uid %ld of <%s> has no passwd entry for its group; set "
				 "virtual_gid_maps or virtual_gid", uid, addr);
			return -1;
		}
		gid = (long) pw->pw_gid;
	}
	if (gid == 0) {
		snprintf(err, errlen, "gid 0 for <%s>: refusing to deliver as root's group", addr);
		return -1;
	}
	cred->uid = (uid_t) uid;
	cred->gid = (gid_t) gid;
	return 0;
}

/* virtual_box - what one mailbox write needs */
struct virtual_box {
	struct deliver_job *job;
	const char *path;
	const char *rcpt;
	const char *once_key;
	long long limit;
};

/* virtual_box_run - in the agent, with virtual_uid_maps' effective ids */
static void virtual_box_run(void *arg, struct deliver_out *out)
{
	struct virtual_box *b = arg;
	struct maildir_result res;
	char *prefix = deliver_prefix(b->job->sender, b->rcpt);
	size_t len = strlen(b->path);
	bool maildir = len > 0 && b->path[len - 1] == '/';
	int r;

	if (maildir)
		r = maildir_deliver(b->path, b->job->ro, prefix, strlen(prefix), b->limit, b->once_key, &res);
	else
		r = mbox_deliver(b->path, b->job->ro, b->job->sender, prefix, strlen(prefix), b->limit, &res);
	if (r == 0)
		deliver_set(out, DELIVER_SENT, "2.0.0", "delivered to %s", maildir ? "maildir" : "mailbox");
	else
		deliver_set(out, DELIVER_DEFER, res.dsn, "%s", res.text);
	free(prefix);
}

/* virtual_mailbox - deliver addr to its mailbox */
static void virtual_mailbox(struct virtual *v, struct virtual_exp *e, const char *addr)
{
	const char *value;
	char err[TABLE_ERR_SIZE];
	struct deliver_out out;
	struct deliver_cred cred;
	int r = virtual_lookup(v->mailboxes, addr, &value, err, sizeof(err));
	char *path = NULL;

	/* the value's first word is the path (ternuser's store may add a password field) */
	if (r == 1)
		path = xstrndup(value, strcspn(value, " \t"));
	if (r < 0) {
		deliver_set(&out, DELIVER_DEFER, "4.3.0", "virtual_mailbox_maps lookup failure: %s", err);
	} else if (r == 0) {
		deliver_set(&out, DELIVER_BOUNCE, "5.1.1", "unknown virtual mailbox: <%s>", addr);
	} else if (path[0] == '/' || path[0] == '\0' || strstr(path, "..") != NULL ||
		   v->p->virtual_mailbox_base[0] != '/') {
		deliver_set(&out, DELIVER_DEFER, "4.3.5", "bad mailbox path \"%s\" for <%s> (relative, "
			    "without \"..\", under an absolute virtual_mailbox_base)", path, addr);
	} else if (virtual_cred(v, addr, &cred, err, sizeof(err)) != 0) {
		deliver_set(&out, DELIVER_DEFER, "4.3.5", "%s", err);
	} else {
		struct virtual_box b;
		char *full = str_dupf("%s/%s", v->p->virtual_mailbox_base, path);

		if (virtual_seen(e, full)) {
			free(full);
			free(path);
			return;
		}
		b = (struct virtual_box) {e->job, full, e->rcpt, e->once_key, v->p->virtual_mailbox_limit};
		deliver_as_euid(&cred, virtual_box_run, &b, &out);
		free(full);
	}
	free(path);
	virtual_record(e, addr, &out);
}

/* virtual_is_ours - domain is a virtual mailbox domain */
static bool virtual_is_ours(struct virtual *v, const char *addr)
{
	const char *at = strrchr(addr, '@');

	return at != NULL && domain_list_match(at + 1, (const char *const *) v->g->virtual_mailbox_domains, 0) >= 0;
}

/* virtual_address - aliases, then the mailbox */
static void virtual_address(struct virtual *v, struct virtual_exp *e, const char *addr_in, int depth)
{
	char *addr = str_lower(xstrdup(addr_in));
	const char *value;
	char err[TABLE_ERR_SIZE];
	struct deliver_out out;
	int r;

	if (depth > VIRTUAL_DEPTH_MAX || e->nseen > VIRTUAL_TARGETS_MAX) {
		deliver_set(&out, DELIVER_BOUNCE, "5.4.6", "virtual alias expansion too deep or too wide at <%s>", addr);
		virtual_record(e, addr, &out);
		free(addr);
		return;
	}
	r = virtual_lookup(v->aliases, addr, &value, err, sizeof(err));
	if (r < 0) {
		deliver_set(&out, DELIVER_DEFER, "4.3.0", "virtual_alias_maps lookup failure: %s", err);
		virtual_record(e, addr, &out);
	} else if (r == 1 && !virtual_seen(e, addr)) {
		char *copy = xstrdup(value), *cp = copy, *t;

		while ((t = str_token(&cp, ", \t\n")) != NULL) {
			char *lt = str_lower(xstrdup(t));

			if (strcmp(lt, addr) == 0)
				virtual_mailbox(v, e, addr);	/* "a@x  a@x, b@y": keep a copy */
			else if (virtual_is_ours(v, lt) || strchr(lt, '@') == NULL)
				virtual_address(v, e, lt, depth + 1);
			else if (!virtual_seen(e, lt)) {
				e->fwd = xreallocarray(e->fwd, e->nfwd + 1, sizeof(*e->fwd));
				e->fwd[e->nfwd++] = xstrdup(lt);
			}
			free(lt);
		}
		free(copy);
	} else if (r == 0) {
		virtual_mailbox(v, e, addr);
	}
	free(addr);
}

/* virtual_recipient - one recipient of the job */
static void virtual_recipient(struct virtual *v, struct deliver_job *job, size_t i, struct deliver_out *out)
{
	struct virtual_exp e;
	char *rcpt = str_lower(xstrdup(job->rcpt[i]));
	int loop = deliver_delivered_to(job->ro, rcpt);

	memset(&e, 0, sizeof(e));
	e.job = job;
	e.rcpt = rcpt;
	str_fmt(e.once_key, sizeof(e.once_key), "%sR%lld", job->qid, (long long) job->index[i]);
	if (loop != 0) {
		deliver_set(out, loop < 0 ? DELIVER_DEFER : DELIVER_BOUNCE, loop < 0 ? "4.3.0" : "5.4.6",
			    loop < 0 ? "cannot read the queue file" : "mail forwarding loop for %s", rcpt);
		free(rcpt);
		return;
	}
	virtual_address(v, &e, rcpt, 0);
	if (e.nfwd > 0) {
		char qid[64];
		struct deliver_out f;

		if (deliver_forward(job, (const char *const *) e.fwd, e.nfwd, rcpt, false,
				    (int) v->g->ipc_timeout, qid, sizeof(qid), &f) == 0)
			deliver_set(&f, DELIVER_SENT, "2.0.0", "forwarded as %s", qid);
		for (size_t k = 0; k < e.nfwd; k++)	/* one line per address */
			deliver_job_log_pending(job, e.fwd[k], rcpt, &f, VIRTUAL_RELAY);
		deliver_tally_add(&e.tally, job->qid, rcpt, &f);
	}
	deliver_tally_result(&e.tally, rcpt, out);
	out->logged = deliver_tally_total(&e.tally) > 0;	/* each destination has its line */
	for (size_t k = 0; k < e.nseen; k++)
		free(e.seen[k]);
	for (size_t k = 0; k < e.nfwd; k++)
		free(e.fwd[k]);
	free(e.seen);
	free(e.fwd);
	free(rcpt);
}

/* virtual_deliver_one - one recipient, as deliver_serve asks */
static void virtual_deliver_one(struct deliver_job *job, size_t i, struct deliver_out *out, void *ctx)
{
	virtual_recipient(ctx, job, i, out);
}

/* virtual_connection - serve DELIVER requests until the peer closes */
static void virtual_connection(struct service *svc, int fd)
{
	deliver_serve(svc, fd, VIRTUAL_RELAY, virtual_deliver_one, &virtual_state);
}

static const struct service_desc virtual_desc = {
	.program = "virtual",
	.group = "delivery",
	.kind = SERVICE_SINGLE,
	.pre_jail = virtual_pre_jail,
	.on_connection = virtual_connection,
};

/* main - run on the skeleton */
int main(int argc, char **argv)
{
	return service_main(argc, argv, &virtual_desc);
}
