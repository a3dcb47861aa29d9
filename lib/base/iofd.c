/*
 * iofd - whole-buffer I/O on plain file descriptors; see iofd.h.
 */
#include <errno.h>
#include <unistd.h>

#include "base/iofd.h"

/* iofd_write_all - write everything, retrying short writes and EINTR */
int iofd_write_all(int fd, const void *data, size_t n)
{
	const char *p = data;

	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t) w;
	}
	return 0;
}
