/*
 * pid - this process's id, asked of the kernel once.
 *
 * glibc does not cache getpid(), and daemons put their pid into every log
 * line, session id and temporary file name: it was among their most
 * frequent system calls. The cached value is forgotten in the child of
 * every fork() (pthread_atfork), so a child never uses its parent's id.
 */
#ifndef TERN_BASE_PID_H
#define TERN_BASE_PID_H

/* pid_self - getpid(), from the cache after the first call */
long pid_self(void);

#endif
