/*
 * domain - syntax of mail domains: host names, U-labels, IP address
 * literals, and matching a domain against a list the way Postfix does.
 *
 * Everything here is pure: no DNS, no allocation, no I/O. Input comes
 * from the network with an explicit length (it may hold NUL or any other
 * byte); every check looks at every byte. Nothing is ever cut: a result
 * that does not fit its buffer is an error, never a shorter name.
 *
 * Host names (RFC 1035, 1123, 5321 sub-domain): labels of 1..63 octets
 * made of letters, digits and '-', not starting or ending with '-';
 * at most 253 octets without the trailing dot; the last label is not
 * all-numeric (so "1.2.3.4" is never taken for a host name). With
 * DOMAIN_F_UTF8, labels may be U-labels (RFC 5890): valid UTF-8 (RFC 3629,
 * no overlong forms, no surrogates, no controls), whose Punycode (RFC 3492)
 * A-label must obey the same limits. Known compromise: the IDNA2008
 * code-point tables (PVALID, NFC) are not checked — that needs libidn2;
 * the A-label of a label that is not NFC or has upper-case non-ASCII
 * letters is not the one a full IDNA library would compute.
 *
 * Address literals (RFC 5321 section 4.1.3): "[192.0.2.1]" and
 * "[IPv6:2001:db8::1]" (tag in any case), checked with inet_pton, which
 * refuses IPv4 octets with leading zeros (some stacks read them as octal).
 * General literals "[tag:content]" are refused.
 *
 * The UTF-8 decoder also serves the address and xtext parsers.
 */
#ifndef TERN_MAIL_DOMAIN_H
#define TERN_MAIL_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DOMAIN_NAME_MAX		253	/* octets, without the trailing dot */
#define DOMAIN_LABEL_MAX	63	/* octets of one (A-)label */
/* "[IPv6:" + the longest inet_ntop text (45) + "]" + NUL */
#define DOMAIN_LITERAL_TEXT_MAX	54

enum domain_flags {
	DOMAIN_F_UTF8 = 1 << 0,		/* U-labels allowed */
	DOMAIN_F_TRAILING_DOT = 1 << 1,	/* one trailing dot allowed */
};

enum domain_match_flags {
	/* "example.com" also matches sub-domains (Postfix parent_domain_matches_subdomains) */
	DOMAIN_MATCH_PARENT = 1 << 0,
};

struct domain_literal {
	int family;			/* AF_INET or AF_INET6; 0 for none */
	unsigned char addr[16];		/* network order; 4 octets for AF_INET */
};

/* domain_valid - is s[len] a host name (see flags)? */
bool domain_valid(const char *s, size_t len, unsigned flags);
/*
 * domain_to_ascii - the A-label form of host name s[len]: ASCII folded to
 * lower case, U-labels Punycode-encoded, trailing dot dropped, into
 * dst[size] with a NUL. Returns its length, or -1 when s[len] is not a
 * valid host name (U-labels allowed) or the result does not fit.
 */
int domain_to_ascii(const char *s, size_t len, char *dst, size_t size);

/* domain_ipv4_valid - dotted-quad IPv4 address text (no brackets) */
bool domain_ipv4_valid(const char *s, size_t len);
/* domain_ipv6_valid - IPv6 address text (no brackets, no tag, no zone) */
bool domain_ipv6_valid(const char *s, size_t len);
/*
 * domain_literal_parse - parse "[192.0.2.1]" or "[IPv6:...]" (s[len],
 * brackets included) into *lit; when text is not NULL, also write the
 * canonical form ("[IPv6:2001:db8::1]", inet_ntop spelling) to
 * text[size]. Returns 0, or -1 when not a valid literal or text is short.
 */
int domain_literal_parse(const char *s, size_t len, struct domain_literal *lit,
			 char *text, size_t size);
/*
 * domain_literal_from_text - an address as configured ("192.0.2.1",
 * "::1", "[192.0.2.1]" or "[IPv6:::1]") into *lit; 0 or -1.
 */
int domain_literal_from_text(const char *s, struct domain_literal *lit);
/* domain_literal_equal - same family and address */
bool domain_literal_equal(const struct domain_literal *a, const struct domain_literal *b);

/*
 * domain_list_match - Postfix domain-list semantics: the index of the
 * first entry of the NULL-terminated list that decides for domain, or -1.
 * "example.com" matches that domain (and its sub-domains with
 * DOMAIN_MATCH_PARENT); ".example.com" matches strict sub-domains;
 * "!entry" stops the search with no match when entry matches. Case never
 * matters, one trailing dot is ignored on either side, U-labels compare
 * through their A-labels. Entries are plain patterns: table references
 * ("hash:...") and file names are the caller's to expand.
 */
int domain_list_match(const char *domain, const char *const *list, unsigned flags);

/*
 * domain_utf8_next - decode one UTF-8 character (RFC 3629) at s[len]
 * (len > 0): the number of octets used, with the code point in *cp, or
 * -1 for an invalid, overlong, surrogate or truncated sequence.
 */
int domain_utf8_next(const char *s, size_t len, uint32_t *cp);
/* domain_utf8_valid - all of s[len] is valid UTF-8 without C0/C1 controls or DEL */
bool domain_utf8_valid(const char *s, size_t len);

#endif
