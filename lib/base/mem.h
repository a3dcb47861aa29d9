/*
 * mem - allocation that never returns NULL.
 *
 * Running out of memory is not a condition any daemon can recover from
 * sensibly, so every allocator here logs a fatal error and exits instead
 * of returning NULL. Callers never check for NULL.
 */
#ifndef TERN_BASE_MEM_H
#define TERN_BASE_MEM_H

#include <stddef.h>

void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
/* xreallocarray - resize to count*size bytes, failing on overflow */
void *xreallocarray(void *ptr, size_t count, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *p, size_t n);

#endif
