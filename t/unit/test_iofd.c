/*
 * test_iofd - unit tests for lib/base iofd.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "base/iofd.h"
#include "tap.h"

int main(void)
{
	static char big[200000];
	char back[16];
	int p[2];

	signal(SIGPIPE, SIG_IGN);	/* daemons ignore it too */
	ok(pipe(p) == 0, "pipe");
	ok(iofd_write_all(p[1], "hello", 5) == 0, "small write");
	ok(read(p[0], back, sizeof(back)) == 5 && memcmp(back, "hello", 5) == 0, "all bytes arrive");
	ok(iofd_write_all(p[1], "", 0) == 0, "empty write is fine");
	close(p[0]);
	ok(iofd_write_all(p[1], big, sizeof(big)) == -1 && errno == EPIPE,
	   "a gone reader is an error (EPIPE), not a hang");
	close(p[1]);
	ok(iofd_write_all(-1, "x", 1) == -1 && errno == EBADF, "a bad descriptor is an error");
	return tap_done();
}
