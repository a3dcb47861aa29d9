/*
 * xtext - RFC 3461 xtext and RFC 6533 utf-8-addr-xtext/unitext; see
 * xtext.h.
 *
 * Invariant: dst is written only below size, and always ends with a NUL
 * when the call succeeds; on failure its contents are unspecified.
 */
#include <stdint.h>
#include <string.h>

#include "mail/domain.h"
#include "mail/xtext.h"

static const char xtext_hex[] = "0123456789ABCDEF";

/* xtext_is_xchar - RFC 3461 xchar: stands for itself */
static bool xtext_is_xchar(unsigned char c)
{
	return c >= 33 && c <= 126 && c != '+' && c != '=';
}

/* xtext_is_qchar - RFC 6533 QCHAR: stands for itself */
static bool xtext_is_qchar(unsigned char c)
{
	return c >= 0x21 && c <= 0x7E && c != '+' && c != '=' && c != '\\';
}

/* xtext_hexval - value of a hex digit, -1 if not one; lower case only when allowed */
static int xtext_hexval(char c, bool lower_ok)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (lower_ok && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* xtext_put - append n octets to dst[size] at *len; -1 when they do not fit (with the NUL) */
static int xtext_put(char *dst, size_t size, size_t *len, const char *s, size_t n)
{
	if (size == 0 || n > size - 1 - *len)
		return -1;
	memcpy(dst + *len, s, n);
	*len += n;
	dst[*len] = '\0';
	return 0;
}

ssize_t xtext_decode(const char *in, size_t len, char *dst, size_t size)
{
	size_t out = 0;

	if (size == 0)
		return XTEXT_LONG;
	dst[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		char c = in[i];

		if (c == '+') {
			int hi, lo;

			if (len - i < 3 || (hi = xtext_hexval(in[i + 1], false)) < 0 ||
			    (lo = xtext_hexval(in[i + 2], false)) < 0 || (hi | lo) == 0)
				return XTEXT_BAD;
			c = (char) (hi << 4 | lo);
			i += 2;
		} else if (!xtext_is_xchar((unsigned char) c)) {
			return XTEXT_BAD;
		}
		if (xtext_put(dst, size, &out, &c, 1) < 0)
			return XTEXT_LONG;
	}
	return (ssize_t) out;
}

bool xtext_valid(const char *in, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (in[i] == '+') {
			if (len - i < 3 || xtext_hexval(in[i + 1], false) < 0 ||
			    xtext_hexval(in[i + 2], false) < 0 || (in[i + 1] == '0' && in[i + 2] == '0'))
				return false;
			i += 2;
		} else if (!xtext_is_xchar((unsigned char) in[i])) {
			return false;
		}
	}
	return true;
}

ssize_t xtext_encode(const char *in, size_t len, char *dst, size_t size)
{
	size_t out = 0;

	if (size == 0)
		return XTEXT_LONG;
	dst[0] = '\0';
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) in[i];
		char esc[3] = {'+', xtext_hex[c >> 4], xtext_hex[c & 15]};
		int r;

		if (c == '\0')
			return XTEXT_BAD;
		if (xtext_is_xchar(c))
			r = xtext_put(dst, size, &out, in + i, 1);
		else
			r = xtext_put(dst, size, &out, esc, sizeof(esc));
		if (r < 0)
			return XTEXT_LONG;
	}
	return (ssize_t) out;
}

/* xtext_utf8_put - append code point cp as UTF-8; -1 when it does not fit */
static int xtext_utf8_put(char *dst, size_t size, size_t *len, uint32_t cp)
{
	char u[4];
	size_t n;

	if (cp < 0x80) {
		u[0] = (char) cp;
		n = 1;
	} else if (cp < 0x800) {
		u[0] = (char) (0xC0 | cp >> 6);
		u[1] = (char) (0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		u[0] = (char) (0xE0 | cp >> 12);
		u[1] = (char) (0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char) (0x80 | (cp & 0x3F));
		n = 3;
	} else {
		u[0] = (char) (0xF0 | cp >> 18);
		u[1] = (char) (0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char) (0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char) (0x80 | (cp & 0x3F));
		n = 4;
	}
	return xtext_put(dst, size, len, u, n);
}

/* xtext_hexpoint_digits - how many hex digits the one valid spelling of cp has */
static size_t xtext_hexpoint_digits(uint32_t cp)
{
	size_t n = 2;

	while (n < 6 && (cp >> (4 * n)) != 0)
		n++;
	return n;
}

/*
 * xtext_utf8_escape - parse "\x{HEX}" at in[len]: the octets used, with
 * the code point in *cp, or -1 when malformed.
 */
static int xtext_utf8_escape(const char *in, size_t len, uint32_t *cp)
{
	uint32_t v = 0;
	size_t i;

	if (len < 6 || in[0] != '\\' || in[1] != 'x' || in[2] != '{')
		return -1;
	for (i = 3; i < len && i < 3 + 6 && in[i] != '}'; i++) {
		int d = xtext_hexval(in[i], true);

		if (d < 0)
			return -1;
		v = v << 4 | (uint32_t) d;
	}
	if (i >= len || in[i] != '}' || i - 3 != xtext_hexpoint_digits(v) || v == 0 ||
	    v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return -1;
	*cp = v;
	return (int) i + 1;
}

ssize_t xtext_utf8_decode(const char *in, size_t len, bool unitext, char *dst, size_t size)
{
	size_t out = 0;

	if (size == 0)
		return XTEXT_LONG;
	dst[0] = '\0';
	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char) in[i];
		uint32_t cp;
		int n;

		if (xtext_is_qchar(c)) {
			n = 1;
			cp = c;
		} else if (c == '\\') {
			n = xtext_utf8_escape(in + i, len - i, &cp);
		} else if (c >= 0x80 && unitext) {
			n = domain_utf8_next(in + i, len - i, &cp);
		} else {
			n = -1;
		}
		if (n < 0)
			return XTEXT_BAD;
		if (xtext_utf8_put(dst, size, &out, cp) < 0)
			return XTEXT_LONG;
		i += (size_t) n;
	}
	return (ssize_t) out;
}

ssize_t xtext_utf8_encode(const char *in, size_t len, bool unitext, char *dst, size_t size)
{
	size_t out = 0;

	if (size == 0)
		return XTEXT_LONG;
	dst[0] = '\0';
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int n = domain_utf8_next(in + i, len - i, &cp);
		int r;

		if (n < 0 || cp == 0)
			return XTEXT_BAD;
		if (cp < 0x80 && xtext_is_qchar((unsigned char) cp)) {
			r = xtext_put(dst, size, &out, in + i, 1);
		} else if (cp >= 0x80 && unitext) {
			r = xtext_put(dst, size, &out, in + i, (size_t) n);
		} else {
			char esc[12];
			size_t digits = xtext_hexpoint_digits(cp), k = 0;

			esc[k++] = '\\';
			esc[k++] = 'x';
			esc[k++] = '{';
			for (size_t d = digits; d-- > 0;)
				esc[k++] = xtext_hex[(cp >> (4 * d)) & 15];
			esc[k++] = '}';
			r = xtext_put(dst, size, &out, esc, k);
		}
		if (r < 0)
			return XTEXT_LONG;
		i += (size_t) n;
	}
	return (ssize_t) out;
}
