/*
 * iofd - whole-buffer I/O on plain (blocking) file descriptors.
 *
 * write(2) may write less than asked or be interrupted; callers that
 * need all or nothing use iofd_write_all. On failure errno is what the
 * system said and part of the data may already be written: the caller
 * truncates or removes what it was writing.
 */
#ifndef TERN_BASE_IOFD_H
#define TERN_BASE_IOFD_H

#include <stddef.h>

/* iofd_write_all - write n bytes, retrying short writes and EINTR: 0, or -1 */
int iofd_write_all(int fd, const void *data, size_t n);

#endif
