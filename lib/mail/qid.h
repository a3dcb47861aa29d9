/*
 * qid - queue ids: the names of queue files and the first word of every
 * per-message log line.
 *
 * A queue id is the creation time in microseconds since the epoch as 11
 * base-32 digits (so every id has the same length of time prefix), then
 * the inode number of the queue file in base 32 without leading zeros:
 *
 *	0PAB3Q7XK2M4F71	 = 0PAB3Q7XK2M (time) + 4F71 (inode)
 *
 * The digits are "0123456789ABCDEFGHJKMNPQRSTVWXYZ" (Crockford's base 32:
 * no I, L, O, U), which are in ASCII order, so comparing two ids with
 * strcmp orders them by creation time (ties, within one microsecond, by
 * inode). They are safe in file names, log lines and shell words.
 *
 * Uniqueness: no two queue files that exist at the same time on one file
 * system share an inode number, so no two such files share an id, whatever
 * the clock does. An inode is reused only after its file is gone; the time
 * prefix then differs unless the clock went back. The writer (qfile)
 * claims the name with a rename that never replaces, so a clash is noticed
 * and retried rather than overwriting a message. Making an id costs no
 * system call beyond the fstat the writer needs anyway.
 *
 * Nothing here fails at run time except on bad input: the parsers return
 * -1 and leave their outputs alone.
 */
#ifndef TERN_MAIL_QID_H
#define TERN_MAIL_QID_H

#include <stdbool.h>

#define QID_TIME_LEN	11		/* time prefix: 55 bits of microseconds */
#define QID_INODE_MAX	13		/* 64-bit inode numbers */
#define QID_MIN_LEN	(QID_TIME_LEN + 1)
#define QID_MAX_LEN	(QID_TIME_LEN + QID_INODE_MAX)
#define QID_SIZE	(QID_MAX_LEN + 1)	/* buffer size, with the NUL */

/* largest time a queue id can hold: 2^55 microseconds, in the year 3111 */
#define QID_SEC_MAX	36028797017LL

/*
 * qid_make - encode a creation time and an inode as a queue id into
 * id[QID_SIZE]. Returns 0, or -1 when sec is negative or past
 * QID_SEC_MAX or usec is not below 1000000 (id is then empty).
 */
int qid_make(char id[QID_SIZE], long long sec, long usec, unsigned long long inode);

/* qid_valid - true when s is a well-formed queue id (file names, arguments) */
bool qid_valid(const char *s);

/* qid_time - the creation time in a queue id; 0, or -1 when s is not valid */
int qid_time(const char *s, long long *sec, long *usec);

/* qid_inode - the inode number in a queue id; 0, or -1 when s is not valid */
int qid_inode(const char *s, unsigned long long *inode);

#endif
