/*
 * buf - growable byte buffers with a hard limit.
 *
 * Every buffer that holds input from outside has a limit; an append that
 * would pass it fails (returns -1) and leaves the buffer as it was, so the
 * caller decides what "too long" means (a 500 reply, a closed connection).
 * The data is always followed by a NUL byte that is not counted in len, so
 * text can be used as a C string; binary data may contain NULs.
 */
#ifndef TERN_BASE_BUF_H
#define TERN_BASE_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
	char *data;		/* len bytes, then a NUL */
	size_t len;
	size_t cap;		/* allocated, including the NUL */
	size_t limit;		/* largest len allowed; 0 means SIZE_MAX/2 */
};

#define BUF_INIT { NULL, 0, 0, 0 }

/* buf_init - empty buffer with the given limit (0: practically none) */
void buf_init(struct buf *b, size_t limit);
void buf_free(struct buf *b);
/* buf_reset - empty the buffer, keeping memory and limit */
void buf_reset(struct buf *b);
/* buf_reserve - make room for n more bytes; -1 when the limit forbids it */
int buf_reserve(struct buf *b, size_t n);
int buf_append(struct buf *b, const void *data, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, int c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* buf_consume - drop the first n bytes (n <= len) */
void buf_consume(struct buf *b, size_t n);
/* buf_truncate - shorten to n bytes (n <= len) */
void buf_truncate(struct buf *b, size_t n);
/* buf_str - the contents as a C string (never NULL) */
const char *buf_str(const struct buf *b);
/* buf_steal - hand the NUL-terminated data to the caller; the buffer is empty after */
char *buf_steal(struct buf *b);

#endif
