/*
 * fsynclimit - how many durable small files this filesystem can create
 * per second: the physical ceiling of any MTA queue on it.
 *
 *	fsynclimit DIR WRITERS SECONDS [SIZE]
 *
 * Each of WRITERS threads loops for SECONDS: create a file in DIR, write
 * SIZE bytes (default 5120), fsync it, rename it to its final name, fsync
 * the directory (what a queue must do before it may answer 250), unlink.
 * Prints "files_per_second N" on standard output. Files are removed as it
 * goes; DIR must exist.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct writer {
	int id;
	const char *dir;
	size_t size;
	double deadline;
	long done;
};

static char payload[1 << 20];

/* now - monotonic seconds */
static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* die - report a failed system call and stop */
static void die(const char *what, const char *path)
{
	fprintf(stderr, "fsynclimit: %s %s: %s\n", what, path, strerror(errno));
	exit(1);
}

/* write_loop - one writer's create/write/fsync/rename/fsync-dir cycle */
static void *write_loop(void *arg)
{
	struct writer *w = arg;
	char tmp[4096], final[4096];
	int dirfd = open(w->dir, O_RDONLY | O_DIRECTORY);

	if (dirfd < 0)
		die("open", w->dir);
	while (now() < w->deadline) {
		snprintf(tmp, sizeof(tmp), "%s/t%d.%ld", w->dir, w->id, w->done);
		snprintf(final, sizeof(final), "%s/f%d.%ld", w->dir, w->id, w->done);
		int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
		if (fd < 0)
			die("create", tmp);
		if (write(fd, payload, w->size) != (ssize_t) w->size)
			die("write", tmp);
		if (fsync(fd) < 0)
			die("fsync", tmp);
		close(fd);
		if (rename(tmp, final) < 0)
			die("rename", tmp);
		if (fsync(dirfd) < 0)
			die("fsync", w->dir);
		if (w->done > 0) {
			snprintf(tmp, sizeof(tmp), "%s/f%d.%ld", w->dir, w->id, w->done - 1);
			unlink(tmp);
		}
		w->done++;
	}
	snprintf(tmp, sizeof(tmp), "%s/f%d.%ld", w->dir, w->id, w->done - 1);
	unlink(tmp);
	close(dirfd);
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: fsynclimit DIR WRITERS SECONDS [SIZE]\n");
		return 64;
	}
	int nwriters = atoi(argv[2]);
	double seconds = atof(argv[3]);
	size_t size = argc == 5 ? (size_t) atol(argv[4]) : 5120;

	if (nwriters < 1 || nwriters > 1000 || seconds <= 0 || size < 1 || size > sizeof(payload)) {
		fprintf(stderr, "fsynclimit: writers 1..1000, seconds > 0, size 1..%zu\n", sizeof(payload));
		return 64;
	}
	memset(payload, 'x', sizeof(payload));

	struct writer *w = calloc((size_t) nwriters, sizeof(*w));
	pthread_t *th = calloc((size_t) nwriters, sizeof(*th));
	if (w == NULL || th == NULL)
		return 1;
	double start = now();
	for (int i = 0; i < nwriters; i++) {
		w[i] = (struct writer) { .id = i, .dir = argv[1], .size = size, .deadline = start + seconds };
		if (pthread_create(&th[i], NULL, write_loop, &w[i]) != 0)
			return 1;
	}
	long total = 0;
	for (int i = 0; i < nwriters; i++) {
		pthread_join(th[i], NULL);
		total += w[i].done;
	}
	printf("files_per_second %.0f\n", (double) total / (now() - start));
	free(w);
	free(th);
	return 0;
}
