/*
 * str - bounded string helpers and strict number parsing; see str.h.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"

int str_copy(char *dst, const char *src, size_t size)
{
	size_t len = strlen(src);

	if (size == 0)
		return -1;
	if (len >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return -1;
	}
	memcpy(dst, src, len + 1);
	return 0;
}

int str_fmt(char *dst, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (dst == NULL)
		size = 0;
	va_start(ap, fmt);
	n = vsnprintf(dst, size, fmt, ap);
	va_end(ap);
	return (n < 0 || (size_t) n >= size) ? -1 : 0;
}

char *str_dupf(const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	p = xmalloc((size_t) n + 1);
	va_start(ap, fmt);
	vsnprintf(p, (size_t) n + 1, fmt, ap);
	va_end(ap);
	return p;
}

/* str_hash - FNV-1a, one byte at a time */
unsigned str_hash(const char *s, unsigned h)
{
	for (; *s; s++)
		h = (h ^ (unsigned char) *s) * 16777619u;
	return h;
}

char *str_lower(char *s)
{
	for (char *p = s; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p = (char) (*p - 'A' + 'a');
	return s;
}

char *str_trim(char *s)
{
	char *end;

	while (*s && isspace((unsigned char) *s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char) end[-1]))
		*--end = '\0';
	return s;
}

static int str_fold(int c)
{
	return (c >= 'A' && c <= 'Z') ? c - 'A' + 'a' : c;
}

bool str_eq_nocase(const char *a, const char *b)
{
	while (*a && str_fold((unsigned char) *a) == str_fold((unsigned char) *b))
		a++, b++;
	return *a == '\0' && *b == '\0';
}

bool str_has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_prefix_nocase(const char *s, const char *prefix)
{
	for (; *prefix; s++, prefix++)
		if (*s == '\0' || str_fold((unsigned char) *s) != str_fold((unsigned char) *prefix))
			return false;
	return true;
}

char *str_token(char **sp, const char *sep)
{
	char *s = *sp;
	char *start;

	s += strspn(s, sep);
	if (*s == '\0') {
		*sp = s;
		return NULL;
	}
	start = s;
	s += strcspn(s, sep);
	if (*s)
		*s++ = '\0';
	*sp = s;
	return start;
}

/* str_hexval - the value of a hex digit, or -1 */
int str_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int str_distance(const char *a, const char *b)
{
	enum { MAXLEN = 100 };
	int row[MAXLEN + 1];
	size_t la = strlen(a), lb = strlen(b);

	if (la > MAXLEN || lb > MAXLEN)
		return MAXLEN;
	for (size_t j = 0; j <= lb; j++)
		row[j] = (int) j;
	for (size_t i = 1; i <= la; i++) {
		int diag = row[0];

		row[0] = (int) i;
		for (size_t j = 1; j <= lb; j++) {
			int up = row[j];
			int cost = str_fold((unsigned char) a[i - 1]) != str_fold((unsigned char) b[j - 1]);
			int best = diag + cost;

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb] > MAXLEN ? MAXLEN : row[lb];
}

/* str_parse_scaled - number with an optional one-letter unit from units[] */
static int str_parse_scaled(const char *s, long long min, long long max, long long *out,
			    const char *units, const long long *scale)
{
	long long v, mul = 1;
	char *end;

	if (s == NULL || *s == '\0' || isspace((unsigned char) *s))
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		return -1;
	if (*end != '\0') {
		const char *u = units ? strchr(units, *end) : NULL;

		if (u == NULL || end[1] != '\0')
			return -1;
		mul = scale[u - units];
		if (v > 0 && v > LLONG_MAX / mul)
			return -1;
		if (v < 0 && v < LLONG_MIN / mul)
			return -1;
		v *= mul;
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int str_to_ll(const char *s, long long min, long long max, long long *out)
{
	return str_parse_scaled(s, min, max, out, NULL, NULL);
}

int str_to_time(const char *s, long long min, long long max, long long *out)
{
	static const long long scale[] = {1, 60, 3600, 86400, 604800};

	return str_parse_scaled(s, min, max, out, "smhdw", scale);
}

int str_to_size(const char *s, long long min, long long max, long long *out)
{
	static const long long scale[] = {1024, 1024, 1024LL * 1024, 1024LL * 1024 * 1024,
					  1024LL * 1024 * 1024, 1};

	return str_parse_scaled(s, min, max, out, "kKMGgb", scale);
}

int str_to_bool(const char *s, bool *out)
{
	static const char *const yes[] = {"yes", "true", "on", "1"};
	static const char *const no[] = {"no", "false", "off", "0"};

	for (size_t i = 0; i < 4; i++) {
		if (str_eq_nocase(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (str_eq_nocase(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -1;
}
