/*
 * master_listen - open and close the listening sockets of a service.
 *
 * master opens every listener itself, as root when it runs as root, so
 * children never need privileges to bind. inet: [host:]port, every
 * address the host resolves to (no host: IPv4 and IPv6 any-address),
 * SO_REUSEADDR, IPV6_V6ONLY. unix and pass: queue_directory/private/NAME
 * (mode 0600) or public/NAME (0666), owned by mail_owner; a socket left
 * behind by a dead master is removed first, anything else at that path is
 * an error. All listeners are non-blocking and close-on-exec (the spawn
 * code moves them to the fds children expect).
 *
 * Failures are logged with the service name and leave the service with no
 * listeners open.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "base/msg.h"
#include "base/str.h"
#include "master.h"

#define MASTER_BACKLOG	SOMAXCONN

/* master_listen_add - remember one open listener */
static int master_listen_add(struct master_serv *s, int fd)
{
	if (s->nlisten == MASTER_LISTEN_MAX) {
		msg_error("service %s: more than %d addresses", s->ent.name, MASTER_LISTEN_MAX);
		close(fd);
		return -1;
	}
	s->listen_fd[s->nlisten++] = fd;
	return 0;
}

/* master_listen_inet - bind every address of [host:]port */
static int master_listen_inet(struct master_serv *s)
{
	struct addrinfo hints, *res, *ai;
	char host[256], port[64], err[300], addr[NI_MAXHOST];
	int fd, rc, on = 1;

	if (mastercf_inet_split(s->ent.name, host, sizeof(host), port, sizeof(port), err, sizeof(err)) < 0) {
		msg_error("service %s: %s", s->ent.name, err);
		return -1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &res)) != 0) {
		msg_error("service %s: %s", s->ent.name, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr), NULL, 0, NI_NUMERICHOST) != 0)
			str_copy(addr, "?", sizeof(addr));
		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0 && errno == EAFNOSUPPORT && host[0] == '\0') {
			msg_debug("service %s: no %s support, skipping %s", s->ent.name,
				  ai->ai_family == AF_INET6 ? "IPv6" : "IPv4", addr);
			continue;
		}
		if (fd < 0 ||
		    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
		    (ai->ai_family == AF_INET6 &&
		     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on)) < 0) ||
		    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, MASTER_BACKLOG) < 0) {
			msg_error("service %s: bind %s port %s: %s", s->ent.name, addr, port, strerror(errno));
			if (fd >= 0)
				close(fd);
			freeaddrinfo(res);
			return -1;
		}
		if (master_listen_add(s, fd) < 0) {
			freeaddrinfo(res);
			return -1;
		}
	}
	freeaddrinfo(res);
	if (s->nlisten == 0) {
		msg_error("service %s: no address to listen on", s->ent.name);
		return -1;
	}
	return 0;
}

/* master_listen_unix - a socket under private/ or public/ */
static int master_listen_unix(struct master_serv *s)
{
	struct sockaddr_un sun;
	struct stat st;
	mode_t mode = s->ent.private_sock ? 0600 : 0666, old;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (str_copy(sun.sun_path, s->sock_path, sizeof(sun.sun_path)) < 0) {
		msg_error("service %s: socket path %s is too long", s->ent.name, s->sock_path);
		return -1;
	}
	if (lstat(s->sock_path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			msg_error("service %s: %s exists and is not a socket", s->ent.name, s->sock_path);
			return -1;
		}
		/* left by a dead master: the lock says no other master runs here */
		unlink(s->sock_path);
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		msg_error("service %s: socket: %s", s->ent.name, strerror(errno));
		return -1;
	}
	/*
	 * The mode comes from the umask at bind time and the owner from
	 * lchown: never chmod or chown by name in a directory mail_owner can
	 * write, where the socket could have been replaced by a symlink.
	 */
	old = umask(~mode & 0777);
	if (bind(fd, (struct sockaddr *) &sun, sizeof(sun)) < 0) {
		umask(old);
		msg_error("service %s: bind %s: %s", s->ent.name, s->sock_path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if ((master.is_root && lchown(s->sock_path, master.owner_uid, master.owner_gid) < 0) ||
	    listen(fd, MASTER_BACKLOG) < 0) {
		msg_error("service %s: %s: %s", s->ent.name, s->sock_path, strerror(errno));
		close(fd);
		unlink(s->sock_path);
		return -1;
	}
	return master_listen_add(s, fd);
}

/* master_listen_open - open the service's listeners; -1 (logged) on failure */
int master_listen_open(struct master_serv *s)
{
	int rc = s->ent.type == MASTERCF_INET ? master_listen_inet(s) : master_listen_unix(s);

	if (rc < 0)
		master_listen_close(s);
	return rc;
}

/* master_listen_close - close the listeners; a unix socket file is removed */
void master_listen_close(struct master_serv *s)
{
	for (int i = 0; i < s->nlisten; i++)
		close(s->listen_fd[i]);
	if (s->nlisten > 0 && s->sock_path != NULL)
		unlink(s->sock_path);
	s->nlisten = 0;
}
