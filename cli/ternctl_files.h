/*
 * ternctl_files.h - the file manifest (conf/tern-files) and the helpers
 * that ternctl's init and check share: reading the manifest, creating and
 * repairing the queue and data directories it describes, finding the
 * build tree, and the self-signed certificate of a private instance.
 *
 * The manifest is data (STYLE.md point 8): "ternctl init", "ternctl
 * check" and conf/install.sh read the same file, so a mode is changed in
 * one place. Only entries under $queue_directory and $data_directory are
 * handled here; install.sh handles the rest.
 *
 * Nothing here exits: problems are added to a config_problems list with
 * the file and line (manifest errors) or the path (filesystem errors).
 */
#ifndef TERN_CLI_TERNCTL_FILES_H
#define TERN_CLI_TERNCTL_FILES_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "mail/config.h"

/* ternctl_file - one manifest line */
struct ternctl_file {
	char type;		/* 'd' dir, 's' socket dir, 'f' file, 'x' program */
	char *path;		/* as written: "$queue_directory/incoming" */
	char *owner;		/* "root", "$mail_owner", a user name */
	char *group;		/* "-", "root", "$setgid_group", a group name */
	mode_t mode;		/* permission bits, 07777 at most */
	char *flags;		/* "" for none; 'c' config, 'e' exclusive */
	char *where;		/* "/x/tern-files:12" */
};

struct ternctl_files {
	struct ternctl_file *list;
	size_t count;
};

/* the name of the manifest, next to tern.conf */
#define TERNCTL_FILES_NAME	"tern-files"

/*
 * ternctl_files_load - parse a manifest. Returns the number of problems
 * added (bad lines are left out); a missing file is one problem.
 */
int ternctl_files_load(const char *path, struct ternctl_files *m,
		       struct config_problems *probs);
void ternctl_files_free(struct ternctl_files *m);

/*
 * ternctl_files_source - the manifest "ternctl init" copies into a new
 * instance: conf/tern-files of the build tree ternctl runs from, else the
 * installed one in the compiled-in configuration directory. Allocated;
 * NULL when there is none.
 */
char *ternctl_files_source(void);

/*
 * ternctl_files_exe_dir - the directory of the running program
 * (allocated), or NULL when /proc/self/exe cannot be read.
 */
char *ternctl_files_exe_dir(void);

/*
 * ternctl_files_build_dir - the exe directory when it is a build tree
 * (a "master" program sits next to ternctl), else NULL. Allocated.
 */
char *ternctl_files_build_dir(void);

/*
 * ternctl_files_sync - make the queue and data directories match the
 * manifest: create what is missing, repair owner and mode, report entries
 * that do not belong (never removing them). Repairs are printed as
 * "ternctl: fixed: PATH: what" when say_fixes is set, and counted in
 * *fixes. Returns the number of problems added to probs.
 *
 * Run by an ordinary user, an instance owns everything itself: "root" in
 * the manifest means the invoking user and group.
 */
int ternctl_files_sync(const struct ternctl_files *m, const struct config *cfg,
		       bool say_fixes, int *fixes, struct config_problems *probs);

/*
 * ternctl_files_copy - copy src to dst (mode, owner kept as the caller's),
 * replacing dst atomically. Returns 0, or -1 with a message in err.
 */
int ternctl_files_copy(const char *src, const char *dst, mode_t mode,
		       char *err, size_t errlen);

/*
 * ternctl_files_write - write text to path atomically (temporary file,
 * fsync, rename) with the given mode. Returns 0, or -1 with err set.
 */
int ternctl_files_write(const char *path, const char *text, size_t len,
			mode_t mode, char *err, size_t errlen);

/*
 * ternctl_cert_make - (ternctl_cert.c) a self-signed certificate for
 * hostname: EC P-256 key, subjectAltName DNS:hostname, valid ten years.
 * The key is written with mode 0600, the certificate 0644, both owned
 * by uid:gid. Returns 0, or -1 with a message in err.
 */
int ternctl_cert_make(const char *certfile, const char *keyfile,
		      const char *hostname, uid_t uid, gid_t gid,
		      char *err, size_t errlen);

#endif
