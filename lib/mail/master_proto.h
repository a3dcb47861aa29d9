/*
 * master_proto - what master and the daemons it starts agree on.
 *
 * Descriptors. A child starts with:
 *	0, 1		/dev/null
 *	2		/dev/null (master's stderr when master runs with -d)
 *	3		MASTER_STATUS_FD: write end of the service's status pipe
 *	4 .. 4+n-1	MASTER_LISTEN_FD + i: the service's listening sockets,
 *			non-blocking, shared with master and sibling processes
 * and nothing else open.
 *
 * Arguments. master runs daemon_directory/COMMAND as
 *	COMMAND -n NAME -t TYPE -c CONFIG_DIR -s N [-u] [-C] [-v]
 *		[-o name=value ...] [ARGS from master.conf ...]
 * -n the service name (master.conf column 1), -t inet, unix or pass,
 * -c the configuration directory, -s the number of listeners at fd 4,
 * -u drop to mail_owner, -C chroot to queue_directory, -v more logging,
 * -o a parameter override. The skeleton (service.h) parses these.
 *
 * Status pipe. One pipe per service (per generation: a reload that
 * changes a service gives it a new pipe). A child writes one fixed-size
 * record, struct master_status, each time it becomes available (it will
 * accept the next connection) or taken (it will not); each record is one
 * write(2) smaller than PIPE_BUF, so records from many children never
 * mix. master reads them; a record with a wrong magic or a pid that is
 * not a child of that service is logged and ignored, never fatal.
 * When master closes its end (service removed or changed by a reload,
 * or master gone), the child's fd 3 reports an error condition: the
 * child stops accepting, finishes its connections and exits. SIGTERM
 * means the same; master sends SIGKILL after master_stop_timeout.
 */
#ifndef TERN_MAIL_MASTER_PROTO_H
#define TERN_MAIL_MASTER_PROTO_H

#include <stdint.h>

#define MASTER_STATUS_FD	3
#define MASTER_LISTEN_FD	4
#define MASTER_LISTEN_MAX	32	/* listeners per service */

/* child arguments, parsed with getopt by the skeleton */
#define MASTER_OPTSTRING	"+n:t:c:s:uCvo:"

#define MASTER_STATUS_MAGIC	0x746e7331u	/* "tns1": bump on any change */

enum master_status_value {
	MASTER_STAT_TAKEN = 0,	/* busy: master may start another process */
	MASTER_STAT_AVAIL = 1,	/* idle: will accept the next connection */
};

/* master_status - one status record on the pipe */
struct master_status {
	uint32_t magic;		/* MASTER_STATUS_MAGIC */
	int32_t pid;		/* the child's pid */
	int32_t status;		/* enum master_status_value */
	uint32_t spare;		/* zero */
};

#endif
