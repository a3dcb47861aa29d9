/*
 * smtpd_space - is there room in the queue for one more message?
 * (queue_minfree, Postfix's rule)
 *
 * At MAIL FROM smtpd refuses with 452 4.3.1 when the queue file system
 * has less free space than its reserve - queue_minfree, and never less
 * than 1.5 times message_size_limit - or when the SIZE= a client
 * announced, times 1.5, does not fit into the space above the reserve.
 * Without this a full disk shows only at the end of DATA (cleanup's 452),
 * after the client has sent the whole message.
 *
 * The queue directory is opened before the chroot and asked with
 * fstatvfs at most once a second: a system call per MAIL would be a
 * measurable share of a relayed message (bench/README.md). Space counts
 * as f_bavail, what an unprivileged writer (cleanup) may use.
 *
 * Failures: when the directory cannot be opened or asked, mail is not
 * refused for it (cleanup still answers 452 when the disk is full); the
 * problem is logged once per process.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "base/msg.h"
#include "smtpd.h"

/* smtpd_space_init - as root, before the chroot: the queue directory */
void smtpd_space_init(struct smtpd_server *srv)
{
	srv->space_fd = open(srv->g->queue_directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	srv->space_checked = 0;
	if (srv->space_fd < 0)
		msg_warn("queue_minfree: cannot open %s: %s; free space is not checked at MAIL",
			 srv->g->queue_directory, strerror(errno));
}

/* smtpd_space_free - free bytes of the queue file system, at most a second old; false: unknown */
static bool smtpd_space_free(struct smtpd_server *srv, unsigned long long *free_bytes)
{
	struct statvfs st;
	time_t now = time(NULL);

	if (srv->space_fd < 0)
		return false;
	if (srv->space_checked != now) {
		if (fstatvfs(srv->space_fd, &st) < 0) {
			if (!srv->space_warned)
				msg_warn("queue_minfree: statvfs %s: %s; free space is not checked at MAIL",
					 srv->g->queue_directory, strerror(errno));
			srv->space_warned = true;
			return false;
		}
		srv->space_free = (unsigned long long) st.f_bavail * (unsigned long long) st.f_frsize;
		srv->space_checked = now;
	}
	*free_bytes = srv->space_free;
	return true;
}

/* smtpd_space_ok - room for a message of size bytes (0: not announced) */
bool smtpd_space_ok(struct smtpd_server *srv, unsigned long long size)
{
	unsigned long long free_bytes, reserve = (unsigned long long) srv->g->queue_minfree;
	unsigned long long limit = (unsigned long long) srv->g->message_size_limit;

	if (!smtpd_space_free(srv, &free_bytes))
		return true;
	if (limit > 0 && limit + limit / 2 > reserve)
		reserve = limit + limit / 2;
	if (free_bytes < reserve)
		return false;
	/* size x 1.5 <= what is above the reserve, without overflow */
	return size <= (free_bytes - reserve) / 3 * 2;
}
