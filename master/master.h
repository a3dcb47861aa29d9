/*
 * master.h - master's own state, shared by master/master*.c only.
 *
 * master keeps two lists of services: the active ones, in master.conf
 * order, and the retired ones (removed or replaced by a reload) whose
 * processes are still finishing; a retired service is freed when its
 * last process is reaped. Every child process belongs to exactly one
 * service. Counters (nproc, navail) are changed only in master_spawn.c,
 * which also decides, in master_serv_update, whether master watches a
 * service's listeners: exactly when no process of it is available, it
 * may start one more, and it is not throttled.
 */
#ifndef TERN_MASTER_H
#define TERN_MASTER_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "mail/config.h"
#include "mail/master_proto.h"
#include "mail/mastercf.h"

struct event;
struct event_base;

/* master_proc - one child process */
struct master_proc {
	pid_t pid;
	struct master_serv *serv;
	bool avail;			/* last status: available */
	time_t started;
	struct master_proc *next;	/* in serv->procs */
};

/* master_serv - one master.conf service and what master runs for it */
struct master_serv {
	struct mastercf_service ent;	/* the master.conf line (owned copy) */
	unsigned long long fingerprint;	/* of the service's effective parameters */
	char *sock_path;		/* unix, pass: the socket; NULL for inet */
	char *exec_path;		/* daemon_directory/command */
	char **argv;			/* for execve; built when the listeners are open */
	int listen_fd[MASTER_LISTEN_MAX];
	int nlisten;
	struct event *listen_ev[MASTER_LISTEN_MAX];
	bool listening;			/* listener events armed */
	int status_fd[2];		/* the status pipe: master reads [0], children get [1] */
	struct event *status_ev;
	char status_buf[sizeof(struct master_status) * 16];
	size_t status_len;
	struct master_proc *procs;
	int nproc, navail;
	unsigned long long spawned, abnormal;
	int fail_streak;		/* abnormal exits in a row */
	time_t throttled_until;		/* 0: not throttled */
	struct event *throttle_ev;
	struct event *wakeup_ev;
	time_t limit_warned;
	bool started;			/* master_serv_start ran */
	bool retired;
	struct master_serv *next;
};

/* master_state - the one master */
struct master_state {
	struct event_base *base;
	char *dir;			/* absolute configuration directory */
	struct config cfg;		/* tern.conf */
	struct master_serv *services;	/* active, in master.conf order */
	struct master_serv *retired;	/* waiting for their processes to exit */
	char **envp;			/* cleaned environment for children */
	int devnull;
	bool foreground;		/* -d */
	int verbose;			/* -v count, passed on to children */
	bool stopping;
	bool is_root;
	uid_t owner_uid;		/* mail_owner, or our own ids when not root */
	gid_t owner_gid;
	char *pid_path, *status_path, *lock_path;
	time_t started;
};

extern struct master_state master;

/* master_conf.c: tern.conf and master.conf into services; reload */
struct master_serv *master_conf_load(const char *dir, struct config *cfg, int *problems);
void master_conf_apply(struct master_serv *fresh);
void master_reload(void);
void master_serv_free(struct master_serv *s);
/* master_conf_owner - mail_owner's uid and gid (ours when not root); -1 if unknown */
int master_conf_owner(const struct config *cfg, uid_t *uid, gid_t *gid);

/* master_listen.c: listening sockets */
int master_listen_open(struct master_serv *s);
void master_listen_close(struct master_serv *s);

/* master_spawn.c: processes */
void master_serv_start(struct master_serv *s);
void master_serv_update(struct master_serv *s);
void master_serv_retire(struct master_serv *s);
void master_serv_quiesce(struct master_serv *s);
void master_reap(void);
int master_signal_all(int sig);
int master_proc_total(void);

/* master_status.c: data_directory/master.status */
void master_status_dirty(void);
void master_status_remove(void);

/* master_wakeup.c: wake-up triggers */
void master_wakeup_start(struct master_serv *s);
void master_wakeup_now(struct master_serv *s);
void master_wakeup_stop(struct master_serv *s);

/* master.c */
void master_stop_check(void);

#endif
