/*
 * str - bounded string helpers and strict number parsing.
 *
 * Nothing here writes past the size it is given; functions that may cut
 * text say so in their return value, so callers can refuse instead of
 * silently truncating (a cut address can become a different address).
 */
#ifndef TERN_BASE_STR_H
#define TERN_BASE_STR_H

#include <stdbool.h>
#include <stddef.h>

/* str_copy - strlcpy: copy into dst[size], always terminated; -1 if cut */
int str_copy(char *dst, const char *src, size_t size);
/* str_fmt - snprintf into dst[size] (dst NULL: nothing written); -1 if the result was cut (or error) */
int str_fmt(char *dst, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* str_dupf - allocate a formatted string */
char *str_dupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* str_hash - FNV-1a of s, continuing from h (STR_HASH_INIT to start): for hash tables */
#define STR_HASH_INIT	2166136261u
unsigned str_hash(const char *s, unsigned h);
/* str_lower - fold ASCII letters to lower case in place; returns s */
char *str_lower(char *s);
/* str_trim - strip leading and trailing white space in place; returns start */
char *str_trim(char *s);
/* str_eq_nocase - ASCII case-insensitive equality */
bool str_eq_nocase(const char *a, const char *b);
bool str_has_prefix(const char *s, const char *prefix);
bool str_has_prefix_nocase(const char *s, const char *prefix);
/*
 * str_token - split off the next token from *sp, separators in sep; like
 * Postfix mystrtok: skips leading separators, NUL-terminates the token,
 * advances *sp, returns NULL at the end.
 */
char *str_token(char **sp, const char *sep);
/* str_hexval - the value of a hex digit (either case), or -1 when c is none */
int str_hexval(int c);
/* str_distance - edit distance (for did-you-mean), capped at 100 */
int str_distance(const char *a, const char *b);

/*
 * Number parsing: the whole string must be a number in [min, max];
 * leading/trailing white space, signs on unsigned forms, overflow and
 * empty strings are errors. Each returns 0, or -1 (value untouched).
 */
int str_to_ll(const char *s, long long min, long long max, long long *out);
/* str_to_time - "30", "30s", "5m", "2h", "1d", "1w" to seconds */
int str_to_time(const char *s, long long min, long long max, long long *out);
/* str_to_size - "1024", "10k", "10M", "1G" (powers of 1024) to bytes */
int str_to_size(const char *s, long long min, long long max, long long *out);
/* str_to_bool - yes/no, true/false, on/off, 1/0 (any case) */
int str_to_bool(const char *s, bool *out);

#endif
