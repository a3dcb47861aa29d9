/*
 * master_conf - from tern.conf and master.conf to services, and reload.
 *
 * Loading checks everything a child would trip over before any child
 * runs: the two files, and for each service its effective parameters
 * (tern.conf, the command's own file, the -o overrides) through
 * config_load, so a bad -o value is reported at start or reload, not as a
 * crash loop. Every problem is logged with its file:line; any problem
 * makes the whole load fail (at start master exits; at reload it keeps
 * the running configuration).
 *
 * Reload (SIGHUP) compares the new table with the running one, service by
 * service (name and type are the key): a new service is started; a
 * removed one has its listeners closed and its processes told to finish;
 * a changed one (its master.conf line, or any of its effective parameter
 * values) is replaced by a new generation that keeps the listening
 * sockets when the address is the same, so no connection is refused,
 * while the old processes finish their connections; an unchanged one is
 * not touched at all.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "master.h"

/* master_conf_hash - FNV-1a over a string, including its NUL */
static unsigned long long master_conf_hash(unsigned long long h, const char *s)
{
	do {
		h ^= (unsigned char) *s;
		h *= 1099511628211ULL;
	} while (*s++);
	return h;
}

/* master_conf_report - log every problem; returns how many */
static int master_conf_report(struct config_problems *probs)
{
	for (size_t i = 0; i < probs->count; i++)
		msg_error("%s: %s", probs->list[i].where, probs->list[i].text);
	if (probs->dropped > 0)
		msg_error("... and %zu more problems", probs->dropped);
	return (int) (probs->count + probs->dropped);
}

/* master_conf_strv_dup - copy a NULL-terminated vector */
static char **master_conf_strv_dup(char **v)
{
	size_t n = 0;
	char **copy;

	while (v[n])
		n++;
	copy = xcalloc(n + 1, sizeof(char *));
	for (size_t i = 0; i < n; i++)
		copy[i] = xstrdup(v[i]);
	return copy;
}

/* master_conf_strv_free - free a NULL-terminated vector */
static void master_conf_strv_free(char **v)
{
	if (v == NULL)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* master_conf_serv - one service from its master.conf entry; NULL on problems */
static struct master_serv *master_conf_serv(const char *dir, const struct config *cfg,
					    const struct mastercf_service *ent)
{
	const struct param_group *grp = param_group_for_program(ent->command);
	struct config scfg;
	struct config_problems probs = {0};
	struct master_serv *s;
	unsigned long long h = 14695981039346656037ULL;

	/* the service's effective parameters, as the child will load them */
	config_load(&scfg, dir, grp ? grp->id : NULL, (const char *const *) ent->overrides, false, &probs);
	if (probs.count > 0) {
		for (size_t i = 0; i < probs.count; i++)
			msg_error("%s: service %s: %s: %s", ent->where, ent->name, probs.list[i].where,
				  probs.list[i].text);
		config_problems_free(&probs);
		config_free(&scfg);
		return NULL;
	}
	for (size_t i = 0; i < scfg.nvalues; i++) {
		h = master_conf_hash(h, scfg.values[i].def->name);
		h = master_conf_hash(h, scfg.values[i].expanded ? scfg.values[i].expanded : "");
	}
	config_free(&scfg);

	s = xcalloc(1, sizeof(*s));
	s->ent = *ent;
	s->ent.name = xstrdup(ent->name);
	s->ent.command = xstrdup(ent->command);
	s->ent.where = xstrdup(ent->where);
	s->ent.args = master_conf_strv_dup(ent->args);
	s->ent.overrides = master_conf_strv_dup(ent->overrides);
	s->fingerprint = h;
	s->status_fd[0] = s->status_fd[1] = -1;
	s->exec_path = str_dupf("%s/%s", cfg->global.daemon_directory, ent->command);
	if (ent->type != MASTERCF_INET)
		s->sock_path = str_dupf("%s/%s/%s", cfg->global.queue_directory,
					ent->private_sock ? "private" : "public", ent->name);
	if (access(s->exec_path, X_OK) < 0)
		msg_warn("%s: service %s: cannot execute %s: %s", ent->where, ent->name, s->exec_path,
			 strerror(errno));
	return s;
}

/*
 * master_conf_load - tern.conf into cfg and master.conf into a list of
 * services (not started, no listeners). On problems: logs each, sets
 * *problems, returns NULL; cfg is then loaded but should be freed.
 */
struct master_serv *master_conf_load(const char *dir, struct config *cfg, int *problems)
{
	struct config_problems probs = {0};
	struct mastercf mcf;
	struct master_serv *head = NULL, **tail = &head, *s;
	char *path;

	*problems = 0;
	if (config_load(cfg, dir, NULL, NULL, true, &probs) > 0) {
		*problems = master_conf_report(&probs);
		config_problems_free(&probs);
		return NULL;
	}
	path = str_dupf("%s/master.conf", dir);
	if (mastercf_load(path, &cfg->global, &mcf, &probs) > 0)
		*problems = master_conf_report(&probs);
	config_problems_free(&probs);
	free(path);
	for (size_t i = 0; i < mcf.count; i++) {
		if ((s = master_conf_serv(dir, cfg, &mcf.services[i])) == NULL) {
			(*problems)++;
			continue;
		}
		*tail = s;
		tail = &s->next;
	}
	mastercf_free(&mcf);
	if (*problems > 0) {
		while ((s = head) != NULL) {
			head = s->next;
			master_serv_free(s);
		}
		return NULL;
	}
	return head;
}

/* master_serv_free - release a service that has no processes left */
void master_serv_free(struct master_serv *s)
{
	master_serv_retire(s);
	master_listen_close(s);
	free(s->ent.name);
	free(s->ent.command);
	free(s->ent.where);
	master_conf_strv_free(s->ent.args);
	master_conf_strv_free(s->ent.overrides);
	master_conf_strv_free(s->argv);
	free(s->exec_path);
	free(s->sock_path);
	free(s);
}

/* master_conf_same_addr - old and fresh listen on the same socket */
static bool master_conf_same_addr(const struct master_serv *old, const struct master_serv *fresh)
{
	if (old->sock_path == NULL || fresh->sock_path == NULL)
		return old->sock_path == fresh->sock_path && strcmp(old->ent.name, fresh->ent.name) == 0;
	return strcmp(old->sock_path, fresh->sock_path) == 0;
}

/* master_conf_take - remove the service with fresh's name and type from the active list */
static struct master_serv *master_conf_take(const struct master_serv *fresh)
{
	for (struct master_serv **sp = &master.services; *sp; sp = &(*sp)->next) {
		struct master_serv *s = *sp;

		if (s->ent.type == fresh->ent.type && strcmp(s->ent.name, fresh->ent.name) == 0) {
			*sp = s->next;
			s->next = NULL;
			return s;
		}
	}
	return NULL;
}

/* master_conf_retire - put s out of service; keep it until its processes exit */
static void master_conf_retire(struct master_serv *s, const char *why)
{
	msg_info("service %s (%s): %s; %d process%s will finish their work", s->ent.name, s->ent.command,
		 why, s->nproc, s->nproc == 1 ? "" : "es");
	master_serv_retire(s);
	master_listen_close(s);
	if (s->nproc == 0) {
		master_serv_free(s);
	} else {
		s->next = master.retired;
		master.retired = s;
	}
}

/* master_conf_apply - make the running services match fresh (a reload) */
void master_conf_apply(struct master_serv *fresh)
{
	struct master_serv *keep = NULL, **ktail = &keep, *s, *old, *next;

	/* pass 1: pair each new entry with the running one; close what goes away */
	for (s = fresh; s; s = next) {
		next = s->next;
		s->next = NULL;
		old = master_conf_take(s);
		if (old != NULL && mastercf_same(&old->ent, &s->ent) && old->fingerprint == s->fingerprint &&
		    master_conf_same_addr(old, s) && strcmp(old->exec_path, s->exec_path) == 0) {
			free(old->ent.where);
			old->ent.where = xstrdup(s->ent.where);
			master_serv_free(s);
			*ktail = old;
			ktail = &old->next;
			continue;
		}
		if (old != NULL && master_conf_same_addr(old, s)) {
			/* changed: the new generation inherits the listening sockets */
			master_serv_quiesce(old);
			memcpy(s->listen_fd, old->listen_fd, sizeof(old->listen_fd));
			s->nlisten = old->nlisten;
			old->nlisten = 0;
			master_conf_retire(old, "changed");
		} else if (old != NULL) {
			master_conf_retire(old, "address changed");
		}
		*ktail = s;
		ktail = &s->next;
	}
	while ((s = master.services) != NULL) {
		master.services = s->next;
		s->next = NULL;
		master_conf_retire(s, "removed from master.conf");
	}
	master.services = keep;

	/* pass 2: open listeners for new and moved services, start them */
	for (struct master_serv **sp = &master.services; *sp;) {
		s = *sp;
		if (!s->started && s->nlisten == 0 && master_listen_open(s) < 0) {
			msg_error("service %s: not started", s->ent.name);
			*sp = s->next;
			master_serv_free(s);
			continue;
		}
		if (!s->started) {
			master_serv_start(s);
			msg_info("service %s (%s): started", s->ent.name, s->ent.command);
		}
		sp = &s->next;
	}
	master_status_dirty();
}

/* master_reload - SIGHUP: read both files again and apply them */
void master_reload(void)
{
	struct config cfg;
	struct master_serv *fresh;
	int problems;

	msg_info("reload: reading %s", master.dir);
	fresh = master_conf_load(master.dir, &cfg, &problems);
	if (problems > 0) {
		msg_error("reload failed: %d problem%s; the running configuration stays", problems,
			  problems == 1 ? "" : "s");
		config_free(&cfg);
		return;
	}
	if (strcmp(cfg.global.data_directory, master.cfg.global.data_directory) != 0)
		msg_warn("reload: data_directory changed; it takes effect at the next start");
	if (master.is_root && master_conf_owner(&cfg, &master.owner_uid, &master.owner_gid) < 0)
		msg_warn("reload: mail_owner %s: no such user; sockets keep their owner", cfg.global.mail_owner);
	config_free(&master.cfg);
	master.cfg = cfg;
	/* the pid, lock and status files stay where they are until the next start */
	master_conf_apply(fresh);
	msg_info("reload: done");
}

/* master_conf_owner - mail_owner's ids (root), or our own (not root) */
int master_conf_owner(const struct config *cfg, uid_t *uid, gid_t *gid)
{
	struct passwd *pw;

	if (geteuid() != 0) {
		*uid = geteuid();
		*gid = getegid();
		return 0;
	}
	if ((pw = getpwnam(cfg->global.mail_owner)) == NULL)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}
