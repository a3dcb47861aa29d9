/*
 * domain - host name, U-label and address-literal syntax, domain lists;
 * see domain.h.
 *
 * Invariants: every function takes an explicit length and looks at every
 * byte (a NUL inside the input is just an invalid byte); outputs are
 * written only when they fit, else the call fails.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "base/str.h"
#include "mail/domain.h"

/* Punycode parameters, RFC 3492 section 5 */
enum {
	PUNY_BASE = 36, PUNY_TMIN = 1, PUNY_TMAX = 26, PUNY_SKEW = 38,
	PUNY_DAMP = 700, PUNY_INITIAL_BIAS = 72, PUNY_INITIAL_N = 128,
};

#define ACE_PREFIX	"xn--"
#define ACE_PREFIX_LEN	4

/* domain_is_ldh - letter, digit or hyphen */
static bool domain_is_ldh(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-';
}

/* domain_lower - ASCII lower case of one octet */
static char domain_lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char) (c - 'A' + 'a') : c;
}

int domain_utf8_next(const char *s, size_t len, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *) s;
	unsigned char lo = 0x80, hi = 0xBF;
	uint32_t c;
	size_t n;

	if (len == 0)
		return -1;
	if (u[0] < 0x80) {
		*cp = u[0];
		return 1;
	}
	if (u[0] >= 0xC2 && u[0] <= 0xDF) {
		n = 2;
		c = u[0] & 0x1F;
	} else if (u[0] >= 0xE0 && u[0] <= 0xEF) {
		n = 3;
		c = u[0] & 0x0F;
		if (u[0] == 0xE0)
			lo = 0xA0;	/* overlong */
		else if (u[0] == 0xED)
			hi = 0x9F;	/* surrogates */
	} else if (u[0] >= 0xF0 && u[0] <= 0xF4) {
		n = 4;
		c = u[0] & 0x07;
		if (u[0] == 0xF0)
			lo = 0x90;	/* overlong */
		else if (u[0] == 0xF4)
			hi = 0x8F;	/* above U+10FFFF */
	} else {
		return -1;
	}
	if (len < n)
		return -1;
	for (size_t i = 1; i < n; i++) {
		if (u[i] < lo || u[i] > hi)
			return -1;
		lo = 0x80;
		hi = 0xBF;
		c = (c << 6) | (u[i] & 0x3F);
	}
	*cp = c;
	return (int) n;
}

bool domain_utf8_valid(const char *s, size_t len)
{
	size_t i = 0;
	uint32_t cp;
	int n;

	while (i < len) {
		if ((n = domain_utf8_next(s + i, len - i, &cp)) < 0)
			return false;
		if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
			return false;
		i += (size_t) n;
	}
	return true;
}

/* domain_puny_adapt - bias adaptation, RFC 3492 section 6.1 */
static uint32_t domain_puny_adapt(uint32_t delta, uint32_t numpoints, bool first)
{
	uint32_t k = 0;

	delta = first ? delta / PUNY_DAMP : delta / 2;
	delta += delta / numpoints;
	while (delta > ((PUNY_BASE - PUNY_TMIN) * PUNY_TMAX) / 2) {
		delta /= PUNY_BASE - PUNY_TMIN;
		k += PUNY_BASE;
	}
	return k + (((PUNY_BASE - PUNY_TMIN + 1) * delta) / (delta + PUNY_SKEW));
}

/* domain_puny_digit - the basic code point for digit d (0..35) */
static char domain_puny_digit(uint32_t d)
{
	return d < 26 ? (char) ('a' + d) : (char) ('0' + d - 26);
}

/*
 * domain_puny_encode - RFC 3492 section 6.3 encoder: cps[n] to out[size]
 * (no NUL); the output length, or -1 when it does not fit.
 */
static int domain_puny_encode(const uint32_t *cps, size_t n, char *out, size_t size)
{
	uint32_t code = PUNY_INITIAL_N, delta = 0, bias = PUNY_INITIAL_BIAS;
	size_t len = 0, h, b;

	for (size_t i = 0; i < n; i++) {
		if (cps[i] < 0x80) {
			if (len >= size)
				return -1;
			out[len++] = (char) cps[i];
		}
	}
	h = b = len;
	if (b > 0) {
		if (len >= size)
			return -1;
		out[len++] = '-';
	}
	while (h < n) {
		uint32_t m = UINT32_MAX;

		for (size_t i = 0; i < n; i++)
			if (cps[i] >= code && cps[i] < m)
				m = cps[i];
		/* n <= 63 code points below 0x110000: no overflow in uint32_t */
		delta += (m - code) * (uint32_t) (h + 1);
		code = m;
		for (size_t i = 0; i < n; i++) {
			if (cps[i] < code)
				delta++;
			if (cps[i] != code)
				continue;
			uint32_t q = delta;

			for (uint32_t k = PUNY_BASE;; k += PUNY_BASE) {
				uint32_t t = k <= bias ? PUNY_TMIN :
				    k >= bias + PUNY_TMAX ? PUNY_TMAX : k - bias;

				if (q < t)
					break;
				if (len >= size)
					return -1;
				out[len++] = domain_puny_digit(t + (q - t) % (PUNY_BASE - t));
				q = (q - t) / (PUNY_BASE - t);
			}
			if (len >= size)
				return -1;
			out[len++] = domain_puny_digit(q);
			bias = domain_puny_adapt(delta, (uint32_t) (h + 1), h == b);
			delta = 0;
			h++;
		}
		delta++;
		code++;
	}
	return (int) len;
}

/* domain_ulabel_char_ok - may code point cp appear in a U-label? */
static bool domain_ulabel_char_ok(uint32_t cp)
{
	if (cp < 0x80)
		return domain_is_ldh((unsigned char) cp);
	/* C1 controls, NBSP, and the dots that IDNA mapping would split on */
	return cp > 0xA0 && cp != 0x3002 && cp != 0xFF0E && cp != 0xFF61;
}

/*
 * domain_label_to_ascii - one label s[len] to its lower-case A-label in
 * out[size] (no NUL); its length, or -1 when invalid or too long.
 */
static int domain_label_to_ascii(const char *s, size_t len, char *out, size_t size)
{
	uint32_t cps[DOMAIN_LABEL_MAX];
	size_t n = 0, i = 0;
	bool ascii = true;
	int r;

	if (len == 0 || s[0] == '-' || s[len - 1] == '-')
		return -1;
	while (i < len) {
		uint32_t cp;

		if ((r = domain_utf8_next(s + i, len - i, &cp)) < 0 ||
		    !domain_ulabel_char_ok(cp) || n >= DOMAIN_LABEL_MAX)
			return -1;
		if (cp >= 'A' && cp <= 'Z')
			cp += 'a' - 'A';
		if (cp >= 0x80)
			ascii = false;
		cps[n++] = cp;
		i += (size_t) r;
	}
	if (ascii) {
		if (n > DOMAIN_LABEL_MAX || n > size)
			return -1;
		for (i = 0; i < n; i++)
			out[i] = (char) cps[i];
		return (int) n;
	}
	/* U-label: hyphens in positions 3 and 4 are reserved (RFC 5891 4.2.3.1) */
	if (n >= 4 && cps[2] == '-' && cps[3] == '-')
		return -1;
	if (size < ACE_PREFIX_LEN)
		return -1;
	memcpy(out, ACE_PREFIX, ACE_PREFIX_LEN);
	r = domain_puny_encode(cps, n, out + ACE_PREFIX_LEN, size - ACE_PREFIX_LEN);
	if (r < 0 || (size_t) r + ACE_PREFIX_LEN > DOMAIN_LABEL_MAX)
		return -1;
	return r + ACE_PREFIX_LEN;
}

int domain_to_ascii(const char *s, size_t len, char *dst, size_t size)
{
	char ace[DOMAIN_NAME_MAX + 1];
	size_t out = 0, start = 0, last = 0;
	bool numeric = true;

	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0)
		return -1;
	for (size_t i = 0; i <= len; i++) {
		if (i < len && s[i] != '.')
			continue;
		if (start > 0) {
			if (out >= sizeof(ace))
				return -1;
			ace[out++] = '.';
		}
		int r = domain_label_to_ascii(s + start, i - start, ace + out, sizeof(ace) - out);

		if (r < 0)
			return -1;
		last = out;
		out += (size_t) r;
		start = i + 1;
	}
	if (out > DOMAIN_NAME_MAX)
		return -1;
	for (size_t i = last; i < out; i++)
		if (ace[i] < '0' || ace[i] > '9')
			numeric = false;
	if (numeric || out + 1 > size)
		return -1;
	memcpy(dst, ace, out);
	dst[out] = '\0';
	return (int) out;
}

bool domain_valid(const char *s, size_t len, unsigned flags)
{
	char ace[DOMAIN_NAME_MAX + 1];

	if (len > 0 && s[len - 1] == '.' && !(flags & DOMAIN_F_TRAILING_DOT))
		return false;
	if (!(flags & DOMAIN_F_UTF8))
		for (size_t i = 0; i < len; i++)
			if ((unsigned char) s[i] >= 0x80)
				return false;
	return domain_to_ascii(s, len, ace, sizeof(ace)) >= 0;
}

/* domain_inet_pton - inet_pton on s[len] if every octet is in allowed */
static bool domain_inet_pton(int family, const char *s, size_t len, const char *allowed,
			     void *addr)
{
	char text[INET6_ADDRSTRLEN];
	unsigned char scratch[16];

	if (len == 0 || len >= sizeof(text))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] == '\0' || strchr(allowed, s[i]) == NULL)
			return false;
	memcpy(text, s, len);
	text[len] = '\0';
	return inet_pton(family, text, addr ? addr : scratch) == 1;
}

#define DOMAIN_V4_CHARS	"0123456789."
#define DOMAIN_V6_CHARS	"0123456789abcdefABCDEF:."

bool domain_ipv4_valid(const char *s, size_t len)
{
	return domain_inet_pton(AF_INET, s, len, DOMAIN_V4_CHARS, NULL);
}

bool domain_ipv6_valid(const char *s, size_t len)
{
	return domain_inet_pton(AF_INET6, s, len, DOMAIN_V6_CHARS, NULL);
}

int domain_literal_parse(const char *s, size_t len, struct domain_literal *lit,
			 char *text, size_t size)
{
	static const char tag[] = "IPv6:";
	const size_t taglen = sizeof(tag) - 1;
	char ntop[INET6_ADDRSTRLEN];

	memset(lit, 0, sizeof(*lit));
	if (len < 2 || s[0] != '[' || s[len - 1] != ']')
		return -1;
	s++;
	len -= 2;
	if (len > taglen && str_has_prefix_nocase(s, tag)) {
		if (!domain_inet_pton(AF_INET6, s + taglen, len - taglen, DOMAIN_V6_CHARS, lit->addr))
			return -1;
		lit->family = AF_INET6;
	} else if (domain_inet_pton(AF_INET, s, len, DOMAIN_V4_CHARS, lit->addr)) {
		lit->family = AF_INET;
	} else {
		return -1;
	}
	if (text == NULL)
		return 0;
	if (inet_ntop(lit->family, lit->addr, ntop, sizeof(ntop)) == NULL ||
	    str_fmt(text, size, "[%s%s]", lit->family == AF_INET6 ? tag : "", ntop) < 0) {
		memset(lit, 0, sizeof(*lit));
		return -1;
	}
	return 0;
}

int domain_literal_from_text(const char *s, struct domain_literal *lit)
{
	size_t len = strlen(s);

	if (s[0] == '[')
		return domain_literal_parse(s, len, lit, NULL, 0);
	memset(lit, 0, sizeof(*lit));
	if (domain_inet_pton(AF_INET, s, len, DOMAIN_V4_CHARS, lit->addr))
		lit->family = AF_INET;
	else if (domain_inet_pton(AF_INET6, s, len, DOMAIN_V6_CHARS, lit->addr))
		lit->family = AF_INET6;
	else
		return -1;
	return 0;
}

bool domain_literal_equal(const struct domain_literal *a, const struct domain_literal *b)
{
	size_t n = a->family == AF_INET ? 4 : 16;

	return a->family != 0 && a->family == b->family && memcmp(a->addr, b->addr, n) == 0;
}

/*
 * domain_match_norm - the form a domain is compared in: A-labels, or for
 * anything that is not a host name (literals), lower case without one
 * trailing dot. Returns the length, or -1 when empty or too long.
 */
static int domain_match_norm(const char *s, char *dst, size_t size)
{
	size_t len = strlen(s);
	int r;

	if ((r = domain_to_ascii(s, len, dst, size)) >= 0)
		return r;
	if (len > 0 && s[len - 1] == '.')
		len--;
	if (len == 0 || len >= size)
		return -1;
	for (size_t i = 0; i < len; i++)
		dst[i] = domain_lower(s[i]);
	dst[len] = '\0';
	return (int) len;
}

/* domain_is_sub - is d[dlen] a strict sub-domain of p[plen]? */
static bool domain_is_sub(const char *d, size_t dlen, const char *p, size_t plen)
{
	return dlen > plen + 1 && d[dlen - plen - 1] == '.' && memcmp(d + dlen - plen, p, plen) == 0;
}

int domain_list_match(const char *domain, const char *const *list, unsigned flags)
{
	char d[DOMAIN_NAME_MAX + 1], p[DOMAIN_NAME_MAX + 1];
	int dlen, plen;

	if ((dlen = domain_match_norm(domain, d, sizeof(d))) < 0)
		return -1;
	for (int i = 0; list[i] != NULL; i++) {
		const char *pat = list[i];
		bool neg = false, sub = false, hit;

		if (*pat == '!') {
			neg = true;
			pat++;
		}
		if (*pat == '.') {
			sub = true;
			pat++;
		}
		if ((plen = domain_match_norm(pat, p, sizeof(p))) < 0)
			continue;
		hit = domain_is_sub(d, (size_t) dlen, p, (size_t) plen);
		if (!sub)
			hit = (dlen == plen && memcmp(d, p, (size_t) plen) == 0) ||
			    ((flags & DOMAIN_MATCH_PARENT) && hit);
		if (hit)
			return neg ? -1 : i;
	}
	return -1;
}
