/*
 * xtext - the encodings of DSN and AUTH parameter values.
 *
 * RFC 3461 section 4 xtext (ENVID, ORCPT rfc822, AUTH=): octets 33..126
 * stand for themselves except '+' and '='; any other octet is "+" and two
 * upper-case hex digits. RFC 6533 utf-8-addr-xtext / utf-8-addr-unitext
 * (ORCPT=utf-8;...): printable ASCII except '+', '=', '\' and space
 * stands for itself, any character may be written "\x{HEX}" (2 to 6
 * hex digits, no more leading zeros than the 2-digit minimum, a Unicode
 * scalar value), and the unitext form also carries raw UTF-8.
 *
 * Decoders are strict: a lower-case hex digit after '+', a '+' or '='
 * standing for itself, a bad escape, a NUL (as "+00" or "\x{0}"), invalid
 * UTF-8 — all make the whole value invalid. Nothing is cut: results go to
 * dst[size] with a terminating NUL and a result that does not fit is an
 * error (XTEXT_LONG), so the buffer size is the caller's length limit.
 */
#ifndef TERN_MAIL_XTEXT_H
#define TERN_MAIL_XTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum xtext_status {
	XTEXT_BAD = -1,		/* malformed input */
	XTEXT_LONG = -2,	/* the result does not fit dst[size] */
};

/* xtext_decode - RFC 3461 xtext in[len] to dst[size]: decoded length, or an xtext_status */
ssize_t xtext_decode(const char *in, size_t len, char *dst, size_t size);
/* xtext_valid - is in[len] well-formed xtext (decoding to no NUL)? */
bool xtext_valid(const char *in, size_t len);
/* xtext_encode - octets in[len] (no NUL) as xtext in dst[size]: its length, or an xtext_status */
ssize_t xtext_encode(const char *in, size_t len, char *dst, size_t size);

/*
 * xtext_utf8_decode - RFC 6533 utf-8-addr-xtext (unitext false) or
 * utf-8-addr-unitext (unitext true: raw UTF-8 allowed too) in[len] to
 * UTF-8 in dst[size]: its length, or an xtext_status. The result is
 * valid UTF-8 without NUL; whether it is a mailbox is the caller's check.
 */
ssize_t xtext_utf8_decode(const char *in, size_t len, bool unitext, char *dst, size_t size);
/*
 * xtext_utf8_encode - UTF-8 in[len] (valid, no NUL) as utf-8-addr-xtext,
 * or utf-8-addr-unitext when unitext (non-ASCII kept raw), in dst[size]:
 * its length, or an xtext_status.
 */
ssize_t xtext_utf8_encode(const char *in, size_t len, bool unitext, char *dst, size_t size);

#endif
