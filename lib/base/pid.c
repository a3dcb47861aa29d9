/*
 * pid - this process's id, asked once; see pid.h.
 */
#include <pthread.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/pid.h"

static pid_t pid_cached;		/* 0: not known; reset in every fork child */

/* pid_forget - fork child handler: the next call asks for the new id */
static void pid_forget(void)
{
	pid_cached = 0;
}

/* pid_register - forget the cached id in every child of fork() */
static void pid_register(void)
{
	(void) pthread_atfork(NULL, NULL, pid_forget);
}

long pid_self(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (pid_cached == 0) {
		(void) pthread_once(&once, pid_register);
		pid_cached = getpid();
	}
	return (long) pid_cached;
}
