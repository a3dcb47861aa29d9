/*
 * local_resolve - one recipient of local: loop check, aliases (recursive,
 * :include:), ~/.forward, then the mailbox; a command destination runs
 * in a child that becomes its owner (deliver_as), a mailbox or file is
 * written by the agent itself with the owner's effective ids
 * (deliver_as_euid, no fork), external addresses are forwarded as one new
 * message through cleanup.
 *
 * Who may name what: "|command", "/file" and ":include:" come only from
 * alias tables (run as default_privs, or as the owner of a non-root
 * :include: file) and from the user's own ~/.forward (run as the user).
 * A ~/.forward must be a regular file owned by the user or root and not
 * writable by group or others; otherwise it is ignored with a warning.
 *
 * The recipient's result: any deferral defers it (all destinations are
 * tried again later, as in Postfix); else any bounce bounces it; else it
 * is sent.
 */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/domain.h"
#include "mail/maildir.h"
#include "mail/mbox.h"
#include "local.h"

static void local_address(struct local_exp *e, const char *addr, int depth, const struct local_priv *priv);

/*
 * local_record - count one destination's outcome; its line (to=<to>,
 * orig_to=<rcpt>) is logged once the recipient's slot is durable
 */
static void local_record(struct local_exp *e, const char *to, const struct deliver_out *out)
{
	deliver_job_log_pending(e->job, to, e->rcpt, out, LOCAL_RELAY);
	deliver_tally_add(&e->tally, e->job->qid, e->rcpt, out);
}

/* local_full_address - addr with "@myorigin" when it has no domain, lower case, in a new string */
static char *local_full_address(struct local_exp *e, const char *addr)
{
	if (strchr(addr, '@') != NULL)
		return str_lower(xstrdup(addr));
	return str_lower(str_dupf("%s@%s", addr, e->lc->g->myorigin));
}

/* local_seen - true when key was done already for this recipient (else remember it) */
static bool local_seen(struct local_exp *e, const char *kind, const char *what)
{
	char *key = str_dupf("%s:%s", kind, what);

	for (size_t i = 0; i < e->nseen; i++) {
		if (strcmp(e->seen[i], key) == 0) {
			free(key);
			return true;
		}
	}
	e->seen = xreallocarray(e->seen, e->nseen + 1, sizeof(*e->seen));
	e->seen[e->nseen++] = key;
	return false;
}

/* local_priv_user - priv from a passwd entry */
static void local_priv_user(struct local_priv *priv, const struct passwd *pw)
{
	priv->uid = pw->pw_uid;
	priv->gid = pw->pw_gid;
	str_copy(priv->user, pw->pw_name, sizeof(priv->user));
	str_copy(priv->home, pw->pw_dir, sizeof(priv->home));
	str_copy(priv->shell, pw->pw_shell ? pw->pw_shell : "/bin/sh", sizeof(priv->shell));
}

/* local_default_privs - whom alias commands and files run as; -1 when unknown */
static int local_default_privs(struct local *lc, struct local_priv *priv)
{
	struct passwd *pw;

	if (geteuid() != 0)
		pw = getpwuid(geteuid());	/* a private instance: everything is its owner */
	else
		pw = getpwnam(lc->p->default_privs);
	if (pw == NULL || (geteuid() == 0 && pw->pw_uid == 0))
		return -1;
	local_priv_user(priv, pw);
	return 0;
}

/* local_is_local_domain - domain is one of mydestination (or empty) */
static bool local_is_local_domain(struct local *lc, const char *domain)
{
	if (domain == NULL || domain[0] == '\0')
		return true;
	return domain_list_match(domain, (const char *const *) lc->g->mydestination, 0) >= 0;
}

/* mailbox delivery in the child ------------------------------------------ */

/* local_box - what the child needs */
struct local_box {
	struct local_exp *e;
	const struct local_priv *priv;
	const char *path;		/* file or Maildir (trailing '/'), NULL: the user's mailbox */
	const char *command;		/* command destination */
	const char *to;			/* the address being delivered */
	bool dot_held;			/* the parent holds the spool mbox's dot-lock */
	pid_t agent;			/* the local process that records the result */
};

/* local_box_run - a command, in the child, as the owner */
static void local_box_run(void *arg, struct deliver_out *out)
{
	struct local_box *b = arg;
	struct local_exp *e = b->e;
	const struct params_delivery *p = e->lc->p;

	/*
	 * Die with the agent: a delivery it can no longer record in the queue
	 * file would be made again after a restart (set after the uid change,
	 * which clears it)
	 */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != b->agent) {
		deliver_set(out, DELIVER_DEFER, "4.3.0", "the local process is gone");
		return;
	}
	local_command(b->command != NULL ? b->command : p->mailbox_command, b->priv, e, b->to,
		      p->command_time_limit, out);
}

/* local_box_write - a mailbox or file, in the agent with the owner's effective ids */
static void local_box_write(void *arg, struct deliver_out *out)
{
	struct local_box *b = arg;
	struct local_exp *e = b->e;
	const struct params_delivery *p = e->lc->p;
	struct maildir_result res;
	const char *path = b->path;
	char *own = NULL;
	size_t len;
	int r;

	if (path == NULL) {
		if (p->home_mailbox[0])
			own = str_dupf("%s/%s", b->priv->home, p->home_mailbox);
		else
			own = str_dupf("%s/%s", p->mail_spool_directory, b->priv->user);
		path = own;
	}
	len = strlen(path);
	if (len > 0 && path[len - 1] == '/')
		r = maildir_deliver(path, e->job->ro, e->prefix, e->prefix_len, p->mailbox_size_limit,
				    e->once_key, &res);
	else
		r = mbox_deliver_flags(path, e->job->ro, e->job->sender, e->prefix, e->prefix_len,
				       p->mailbox_size_limit, b->dot_held ? MBOX_DOTLOCK_HELD : 0, &res);
	if (r == 0 && b->path != NULL)
		deliver_set(out, DELIVER_SENT, "2.0.0", "delivered to file: %s", path);
	else if (r == 0)
		deliver_set(out, DELIVER_SENT, "2.0.0", "delivered to %s", len > 0 && path[len - 1] == '/' ?
			    "maildir" : "mailbox");
	else
		deliver_set(out, DELIVER_DEFER, res.dsn, "%s", res.text);
	free(own);
}

/*
 * local_spool_prepare - as root, for a mailbox in mail_spool_directory:
 * create the user's mbox when missing (owned by the user, mode 0600; the
 * directory need not be writable by users) and take its dot-lock, which
 * the user may not be able to create there. Returns the path to unlock
 * afterwards, or NULL when no lock is held: *failed then says whether
 * that is an error (dead holds the deferral) or not needed here.
 */
static char *local_spool_prepare(struct local *lc, const struct local_priv *priv, struct deliver_out *dead,
				 bool *failed)
{
	struct maildir_result res;
	char *path;
	int fd, dot;

	*failed = false;
	if (lc->p->home_mailbox[0] || lc->p->mailbox_command[0] || geteuid() != 0)
		return NULL;
	path = str_dupf("%s/%s", lc->p->mail_spool_directory, priv->user);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd >= 0) {
		if (fchown(fd, priv->uid, priv->gid) != 0)
			msg_warn("chown %s: %s", path, strerror(errno));
		close(fd);
	} else if (errno != EEXIST) {
		deliver_set(dead, DELIVER_DEFER, "4.2.0", "cannot create mailbox %s: %s", path, strerror(errno));
		*failed = true;
		free(path);
		return NULL;
	}
	dot = mbox_dotlock_take(path, &res);
	if (dot <= 0) {
		if (dot < 0) {
			deliver_set(dead, DELIVER_DEFER, res.dsn, "%s", res.text);
			*failed = true;
		}
		free(path);
		return NULL;
	}
	return path;
}

/* local_run - one destination as priv, logged as to */
static void local_run(struct local_exp *e, const struct local_priv *priv, const char *path,
		      const char *command, const char *to)
{
	struct local_box b = {e, priv, path, command, to, false, 0};
	struct deliver_cred cred = {priv->uid, priv->gid};
	struct deliver_out out;
	long long timeout = e->lc->p->command_time_limit;
	char *locked = NULL;
	bool failed = false;

	if (path == NULL && command == NULL)
		locked = local_spool_prepare(e->lc, priv, &out, &failed);
	if (!failed) {
		b.dot_held = locked != NULL;
		/*
		 * commands run in a child that becomes the owner and must not keep
		 * the lock (it closes the queue file's descriptor and reads the
		 * content without it); mailbox writes need no fork
		 */
		if (command != NULL || (path == NULL && e->lc->p->mailbox_command[0])) {
			b.agent = getpid();
			if (deliver_job_child_content(e->job, &out) == 0)
				deliver_as(&cred, e->job->qf->fd, timeout, local_box_run, &b, &out);
		} else {
			deliver_as_euid(&cred, local_box_write, &b, &out);
		}
	}
	if (locked != NULL) {
		mbox_dotlock_drop(locked);
		free(locked);
	}
	local_record(e, to, &out);
}

/* expansion ---------------------------------------------------------------- */

/* local_forward_add - remember an external address */
static void local_forward_add(struct local_exp *e, const char *addr, bool hold)
{
	if (local_seen(e, "r", addr))
		return;
	e->fwd = xreallocarray(e->fwd, e->nfwd + 1, sizeof(*e->fwd));
	e->fwd_hold = xreallocarray(e->fwd_hold, e->nfwd + 1, sizeof(*e->fwd_hold));
	e->fwd[e->nfwd] = xstrdup(addr);
	e->fwd_hold[e->nfwd++] = hold;
}

/* local_file_ok - a .forward or :include: file we may trust: owner uid or root, not g/o writable */
static char *local_file_read(struct local_exp *e, const char *path, uid_t owner, uid_t *file_uid,
			     bool *missing)
{
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	char *text;
	ssize_t n;

	*missing = false;
	if (fd < 0) {
		*missing = errno == ENOENT;
		if (!*missing)
			msg_warn("%s: <%s>: cannot open %s: %s", e->job->qid, e->rcpt, path, strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_uid != owner && st.st_uid != 0) ||
	    (st.st_mode & 022) != 0 || st.st_size > LOCAL_FILE_MAX) {
		msg_warn("%s: <%s>: ignoring %s: not a regular file owned by uid %ld or root, or writable "
			 "by group or others, or larger than %d bytes", e->job->qid, e->rcpt, path,
			 (long) owner, LOCAL_FILE_MAX);
		close(fd);
		return NULL;
	}
	text = xmalloc((size_t) st.st_size + 1);
	n = read(fd, text, (size_t) st.st_size);
	close(fd);
	if (n < 0) {
		free(text);
		return NULL;
	}
	text[n] = '\0';
	if (file_uid)
		*file_uid = st.st_uid;
	return text;
}

/*
 * local_targets - expand a list of destinations ("a, b", lines) as priv;
 * cur is the address whose alias, :include: or .forward named them (the
 * to= of its file and command destinations)
 */
static void local_targets(struct local_exp *e, char *list, int depth, const struct local_priv *priv,
			  bool from_forward, const char *cur)
{
	char *cp = list;
	char *t;

	while ((t = str_token(&cp, ",\n")) != NULL) {
		size_t len;

		t = str_trim(t);
		if (t[0] == '#' || t[0] == '\0')
			continue;
		len = strlen(t);
		if (len >= 2 && t[0] == '"' && t[len - 1] == '"') {
			t[len - 1] = '\0';
			t = str_trim(t + 1);
		}
		if (e->nseen >= LOCAL_TARGETS_MAX) {
			struct deliver_out out;

			deliver_set(&out, DELIVER_BOUNCE, "5.4.6", "too many destinations in alias expansion");
			local_record(e, cur, &out);
			return;
		}
		if (t[0] == '|') {
			if (!local_seen(e, "c", t + 1))
				local_run(e, priv, NULL, str_trim(t + 1), cur);
		} else if (t[0] == '/') {
			if (!local_seen(e, "f", t))
				local_run(e, priv, t, NULL, cur);
		} else if (str_has_prefix_nocase(t, ":include:")) {
			char *path = str_trim(t + 9);
			struct deliver_out out;
			struct local_priv ipriv = *priv;
			uid_t fuid = 0;
			bool missing;
			char *text;

			if (depth >= LOCAL_DEPTH_MAX) {
				deliver_set(&out, DELIVER_BOUNCE, "5.4.6", "alias expansion too deep at %s", t);
				local_record(e, cur, &out);
				continue;
			}
			text = local_file_read(e, path, priv->uid, &fuid, &missing);
			if (text == NULL) {
				deliver_set(&out, DELIVER_DEFER, "4.3.0", "cannot use :include: file %s", path);
				local_record(e, cur, &out);
				continue;
			}
			if (fuid != 0 && fuid != priv->uid) {
				struct passwd *pw = getpwuid(fuid);

				if (pw != NULL)
					local_priv_user(&ipriv, pw);
			}
			local_targets(e, text, depth + 1, &ipriv, from_forward, cur);
			free(text);
		} else if (t[0] == '\\') {
			local_address(e, t + 1, -1, priv);	/* the mailbox itself */
		} else {
			char *at = strrchr(t, '@');

			if (at != NULL && !local_is_local_domain(e->lc, at + 1)) {
				bool hold = from_forward && !e->lc->p->local_forward_external;

				local_forward_add(e, t, hold);
			} else {
				local_address(e, t, depth + 1, priv);
			}
		}
	}
}

/* local_user - user name's .forward, else the user's own mailbox; addr: the address (to=) */
static void local_user(struct local_exp *e, const char *name, bool ignore_forward, int depth,
		       const char *addr)
{
	struct passwd *pw = getpwnam(name);
	struct local_priv priv;
	struct deliver_out out;

	if (pw == NULL) {
		deliver_set(&out, DELIVER_BOUNCE, "5.1.1", "unknown user: \"%s\"", name);
		local_record(e, addr, &out);
		return;
	}
	local_priv_user(&priv, pw);
	if (!ignore_forward && depth < LOCAL_DEPTH_MAX) {
		char *path = str_dupf("%s/.forward", priv.home);
		bool missing;
		char *text = local_file_read(e, path, priv.uid, NULL, &missing);

		free(path);
		if (text != NULL) {
			size_t before = e->nseen + e->nfwd;
			int done_before = deliver_tally_total(&e->tally);

			e->stack = xreallocarray(e->stack, e->nstack + 1, sizeof(*e->stack));
			e->stack[e->nstack++] = xstrdup(name);
			local_targets(e, text, depth + 1, &priv, true, addr);
			free(e->stack[--e->nstack]);
			free(text);
			if (e->nseen + e->nfwd > before || deliver_tally_total(&e->tally) > done_before)
				return;
		}
	}
	if (local_seen(e, "u", name))
		return;
	local_run(e, &priv, NULL, NULL, addr);
}

/*
 * local_alias_lookup - name, then "name:" (a file in Postfix's aliases(5)
 * form, "name: value", built by ternmap keeps the colon in the key)
 */
static int local_alias_lookup(struct tables *ts, const char *name, const char **value,
			      char *err, size_t errlen)
{
	char *key;
	int r = tables_lookup(ts, name, value, NULL, err, errlen);

	if (r != 0)
		return r;
	key = str_dupf("%s:", name);
	r = tables_lookup(ts, key, value, NULL, err, errlen);
	free(key);
	return r;
}

/* local_address - a local address: aliases, then the user */
static void local_address(struct local_exp *e, const char *addr, int depth, const struct local_priv *priv)
{
	char *name = xstrdup(addr);
	char *full = local_full_address(e, addr);
	char *at = strrchr(name, '@');
	char *plus;
	const char *value = NULL;
	char err[TABLE_ERR_SIZE];
	struct deliver_out out;
	bool on_stack = false;
	int r = 0;

	(void) priv;
	if (at != NULL)
		*at = '\0';
	str_lower(name);
	if (depth < 0) {			/* "\user": the mailbox, no aliases, no .forward */
		plus = strchr(name, '+');
		if (plus != NULL)
			*plus = '\0';
		local_user(e, name, true, 0, full);
		free(name);
		free(full);
		return;
	}
	if (depth > LOCAL_DEPTH_MAX) {
		deliver_set(&out, DELIVER_BOUNCE, "5.4.6", "alias expansion too deep at \"%s\"", name);
		local_record(e, full, &out);
		free(name);
		free(full);
		return;
	}
	for (size_t i = 0; i < e->nstack; i++)
		if (strcmp(e->stack[i], name) == 0)
			on_stack = true;
	plus = strchr(name, '+');
	if (!on_stack && e->lc->aliases != NULL) {
		r = local_alias_lookup(e->lc->aliases, name, &value, err, sizeof(err));
		if (r == 0 && plus != NULL) {
			*plus = '\0';
			r = local_alias_lookup(e->lc->aliases, name, &value, err, sizeof(err));
			*plus = '+';
		}
	}
	if (r < 0) {
		deliver_set(&out, DELIVER_DEFER, "4.3.0", "alias table lookup failure: %s", err);
		local_record(e, full, &out);
	} else if (r == 1) {
		struct local_priv apriv;
		char *copy = xstrdup(value);

		if (local_default_privs(e->lc, &apriv) != 0) {
			deliver_set(&out, DELIVER_DEFER, "4.3.0", "default_privs %s: no such unprivileged user",
				    e->lc->p->default_privs);
			local_record(e, full, &out);
		} else {
			e->stack = xreallocarray(e->stack, e->nstack + 1, sizeof(*e->stack));
			e->stack[e->nstack++] = xstrdup(name);
			local_targets(e, copy, depth, &apriv, false, full);
			free(e->stack[--e->nstack]);
		}
		free(copy);
	} else {
		if (plus != NULL)
			*plus = '\0';
		local_user(e, name, on_stack, depth, full);
	}
	free(name);
	free(full);
}

/* local_forward - send the collected external addresses through cleanup */
static void local_forward(struct local_exp *e)
{
	for (int hold = 0; hold <= 1; hold++) {
		const char **list = xcalloc(e->nfwd + 1, sizeof(*list));
		size_t n = 0;
		struct deliver_out out;
		char qid[64];

		for (size_t i = 0; i < e->nfwd; i++)
			if (e->fwd_hold[i] == (hold == 1))
				list[n++] = e->fwd[i];
		if (n > 0) {
			if (deliver_forward(e->job, list, n, e->rcpt, hold == 1,
					    (int) e->lc->g->ipc_timeout, qid, sizeof(qid), &out) == 0) {
				if (hold)
					msg_info("%s: <%s>: forward to %zu external address%s held as %s "
						 "(local_forward_external = no)", e->job->qid, e->rcpt, n,
						 n == 1 ? "" : "es", qid);
				deliver_set(&out, DELIVER_SENT, "2.0.0", "%s as %s",
					    hold ? "held for review: external forward (local_forward_external = no)"
					    : "forwarded", qid);
			}
			for (size_t k = 0; k < n; k++)	/* one line per address, as Postfix's local */
				deliver_job_log_pending(e->job, list[k], e->rcpt, &out, LOCAL_RELAY);
			deliver_tally_add(&e->tally, e->job->qid, e->rcpt, &out);
		}
		free(list);
	}
}

/* local_recipient - deliver job's recipient i */
void local_recipient(struct local *lc, struct deliver_job *job, size_t i, struct deliver_out *out)
{
	struct local_exp e;
	char *rcpt = xstrdup(job->rcpt[i]);
	int loop;

	memset(&e, 0, sizeof(e));
	e.lc = lc;
	e.job = job;
	e.rcpt = job->rcpt[i];
	str_fmt(e.once_key, sizeof(e.once_key), "%sR%lld", job->qid, (long long) job->index[i]);
	str_lower(rcpt);
	loop = deliver_delivered_to(job->ro, rcpt);
	if (loop < 0) {
		deliver_set(out, DELIVER_DEFER, "4.3.0", "cannot read the queue file");
		free(rcpt);
		return;
	}
	if (loop > 0) {
		deliver_set(out, DELIVER_BOUNCE, "5.4.6", "mail forwarding loop for %s", rcpt);
		free(rcpt);
		return;
	}
	e.prefix = deliver_prefix(job->sender, rcpt);
	e.prefix_len = strlen(e.prefix);
	local_address(&e, rcpt, 0, NULL);
	if (e.nfwd > 0)
		local_forward(&e);
	deliver_tally_result(&e.tally, rcpt, out);
	out->logged = deliver_tally_total(&e.tally) > 0;	/* each destination has its line */
	for (size_t k = 0; k < e.nseen; k++)
		free(e.seen[k]);
	for (size_t k = 0; k < e.nfwd; k++)
		free(e.fwd[k]);
	free(e.seen);
	free(e.fwd);
	free(e.fwd_hold);
	free(e.stack);
	free(e.prefix);
	free(rcpt);
}
