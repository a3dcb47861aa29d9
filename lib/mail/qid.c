/*
 * qid - queue ids (creation time + inode in base 32); see qid.h.
 *
 * Invariant: every id this file makes passes qid_valid, and qid_time and
 * qid_inode give back exactly what qid_make was given.
 */
#include <stdint.h>
#include <string.h>

#include "mail/qid.h"

static const char qid_digits[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* qid_digit_value - value of one base-32 digit, or -1 */
static int qid_digit_value(int c)
{
	const char *p;

	if (c == '\0' || (p = strchr(qid_digits, c)) == NULL)
		return -1;
	return (int) (p - qid_digits);
}

/* qid_make - encode time and inode as an id */
int qid_make(char id[QID_SIZE], long long sec, long usec, unsigned long long inode)
{
	uint64_t t;
	char tmp[QID_INODE_MAX];
	size_t n = 0;

	id[0] = '\0';
	if (sec < 0 || sec > QID_SEC_MAX || usec < 0 || usec >= 1000000)
		return -1;
	t = (uint64_t) sec * 1000000u + (uint64_t) usec;
	for (int i = QID_TIME_LEN - 1; i >= 0; i--) {
		id[i] = qid_digits[t & 31];
		t >>= 5;
	}
	do {
		tmp[n++] = qid_digits[inode & 31];
		inode >>= 5;
	} while (inode != 0);
	for (size_t i = 0; i < n; i++)
		id[QID_TIME_LEN + i] = tmp[n - 1 - i];
	id[QID_TIME_LEN + n] = '\0';
	return 0;
}

/* qid_decode - split an id into its numbers; -1 when malformed */
static int qid_decode(const char *s, uint64_t *usecs, uint64_t *inode)
{
	size_t len = strnlen(s, QID_MAX_LEN + 1);
	uint64_t t = 0, ino = 0;
	int v;

	if (len < QID_MIN_LEN || len > QID_MAX_LEN)
		return -1;
	for (size_t i = 0; i < QID_TIME_LEN; i++) {
		if ((v = qid_digit_value(s[i])) < 0)
			return -1;
		t = (t << 5) | (uint64_t) v;
	}
	/* canonical: no leading zero digit in the inode part (except "0") */
	if (s[QID_TIME_LEN] == '0' && len > QID_MIN_LEN)
		return -1;
	for (size_t i = QID_TIME_LEN; i < len; i++) {
		if ((v = qid_digit_value(s[i])) < 0)
			return -1;
		if (ino > (UINT64_MAX >> 5))
			return -1;
		ino = (ino << 5) | (uint64_t) v;
	}
	if (t >= (uint64_t) (QID_SEC_MAX + 1) * 1000000u)
		return -1;
	*usecs = t;
	*inode = ino;
	return 0;
}

/* qid_valid - check the syntax of an id */
bool qid_valid(const char *s)
{
	uint64_t t, ino;

	return qid_decode(s, &t, &ino) == 0;
}

/* qid_time - the creation time in an id */
int qid_time(const char *s, long long *sec, long *usec)
{
	uint64_t t, ino;

	if (qid_decode(s, &t, &ino) < 0)
		return -1;
	*sec = (long long) (t / 1000000u);
	*usec = (long) (t % 1000000u);
	return 0;
}

/* qid_inode - the inode number in an id */
int qid_inode(const char *s, unsigned long long *inode)
{
	uint64_t t, ino;

	if (qid_decode(s, &t, &ino) < 0)
		return -1;
	*inode = ino;
	return 0;
}
