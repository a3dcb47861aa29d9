/*
 * local - delivery to Unix accounts (local(8)); shared by local*.c.
 *
 * The process runs as root (master.conf unpriv column "n", no chroot):
 * it opens the queue file and the alias tables as root, expands each
 * recipient (aliases, :include:, ~/.forward), writes mailboxes and files
 * itself with the owner's effective ids (deliver_as_euid, no fork), and
 * runs command deliveries in a child that has become the owner
 * (deliver_as; the child does not keep the queue file's lock and reads
 * the content from memory or a second descriptor). Forwarding to other
 * addresses is a new message through cleanup, sent by the agent.
 * Destination log lines are logged after the recipient's slot is
 * durable (deliver_job_log_pending).
 *
 * Logging, as Postfix's local: one delivery line per final destination
 * of a recipient, "to=<destination>, orig_to=<recipient>" when aliases,
 * :include: or a .forward expanded it (a file or command destination is
 * logged under the alias address that named it); qmgr's recipient gets
 * one result in its queue-file slot (deliver_tally).
 */
#ifndef TERN_DELIVERY_LOCAL_H
#define TERN_DELIVERY_LOCAL_H

#include <stdbool.h>
#include <sys/types.h>

#include "mail/config.h"
#include "mail/deliver_agent.h"
#include "mail/table.h"

#define LOCAL_DEPTH_MAX		20		/* alias / include / forward nesting */
#define LOCAL_TARGETS_MAX	1000		/* destinations of one recipient */
#define LOCAL_FILE_MAX		(64 * 1024)	/* .forward and :include: files */
#define LOCAL_RELAY		"local"

/* local - the daemon's state */
struct local {
	const struct config *cfg;
	const struct params_global *g;
	const struct params_delivery *p;
	struct tables *aliases;		/* NULL when alias_maps is empty */
};

/* local_priv - whom a file or command destination runs as */
struct local_priv {
	uid_t uid;
	gid_t gid;
	char user[64];
	char home[512];
	char shell[256];
};

/* local_exp - the expansion of one recipient */
struct local_exp {
	struct local *lc;
	struct deliver_job *job;
	const char *rcpt;		/* as qmgr gave it */
	char once_key[64];		/* "QIDRn": makes Maildir deliveries idempotent (maildir.h) */
	char *prefix;			/* Return-Path:, Delivered-To: */
	size_t prefix_len;
	char **seen;			/* destinations done ("u:name", "f:/path", "c:cmd") */
	size_t nseen;
	char **fwd;			/* external addresses to forward to */
	bool *fwd_hold;
	size_t nfwd;
	char **stack;			/* alias keys being expanded */
	size_t nstack;
	struct deliver_tally tally;	/* outcomes of its destinations */
};

/* local_resolve.c */
void local_recipient(struct local *lc, struct deliver_job *job, size_t i, struct deliver_out *out);

/*
 * local_command.c: in a delivery child, already the user; to is the
 * address being delivered (RECIPIENT=), e->rcpt the original recipient
 * (ORIGINAL_RECIPIENT=)
 */
void local_command(const char *cmd, const struct local_priv *priv, struct local_exp *e,
		   const char *to, long long timeout, struct deliver_out *out);

#endif
