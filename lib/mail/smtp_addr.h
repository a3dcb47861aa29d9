/*
 * smtp_addr - the envelope address of MAIL FROM and RCPT TO (RFC 5321
 * section 4.1.2, RFC 6531 section 3.3), and the routing tricks that make
 * a naive MTA an open relay.
 *
 * Input is the argument text after the verb and its space ("FROM:<a@b>
 * SIZE=10"), with an explicit length: it comes from the network and may
 * hold any byte. The result is the mailbox split into an unquoted local
 * part and a lower-case domain, plus where the ESMTP parameters start —
 * or a status that maps to one SMTP reply (smtp_addr_reply):
 *
 *	syntax, over-long parts, control octets	501 5.1.7 (MAIL) / 501 5.1.3 (RCPT)
 *	non-ASCII without SMTPUTF8, bad UTF-8	553 5.6.7
 *	no "FROM:" / "TO:"			501 5.5.4
 *
 * Limits (RFC 5321 4.5.3.1): path 256 octets from '<' to '>' inclusive
 * (source route counted), local part 64 octets as written (quotes and
 * backslashes counted), domain 255 octets and a valid host name (253) or
 * address literal. Longer is an error, never cut. Accepted shapes: "<>"
 * (MAIL only), "<Postmaster>" in any case (RCPT only), source routes
 * "<@a,@b:user@dom>" (the route is checked, then dropped: only the
 * routed flag remains), one trailing dot on the domain (dropped,
 * flagged). A quoted local part is unquoted; smtp_addr_external re-quotes
 * it only when it is not a dot-string.
 *
 * Strictness (SMTP_ADDR_F_STRICT off, the default, is Postfix's
 * strict_rfc821_envelopes = no): white space may follow the colon and the
 * '<' '>' may be left out ("MAIL FROM: user@dom"); strict mode wants
 * exactly "FROM:<...>". Either way the mailbox itself follows RFC 5321
 * to the letter: no comments, no phrases, no RFC 822 leniency.
 *
 * Relay traps (smtp_addr_traps): a parsed address whose domain is ours
 * may still carry routing syntax a naive MTA would follow: '%' or '!' or
 * a quoted '@' in the local part, a trailing dot, an IP literal that is
 * not ours, no domain, a source route. The policy (smtpd's
 * allow_untrusted_routing) decides; this module only names them.
 */
#ifndef TERN_MAIL_SMTP_ADDR_H
#define TERN_MAIL_SMTP_ADDR_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/domain.h"

#define SMTP_ADDR_PATH_MAX	256	/* "<" [route ":"] mailbox ">" */
#define SMTP_ADDR_LOCAL_MAX	64	/* local part as written */
#define SMTP_ADDR_DOMAIN_MAX	255
/* the external form: quoted local part, '@', domain */
#define SMTP_ADDR_TEXT_MAX	(SMTP_ADDR_LOCAL_MAX + 1 + SMTP_ADDR_DOMAIN_MAX)

enum smtp_addr_kind {
	SMTP_ADDR_MAIL,		/* reverse path: "<>" allowed */
	SMTP_ADDR_RCPT,		/* forward path: "<Postmaster>" allowed */
};

enum smtp_addr_flags {
	SMTP_ADDR_F_UTF8 = 1 << 0,	/* accept UTF-8 (SMTPUTF8 in force) */
	SMTP_ADDR_F_STRICT = 1 << 1,	/* exactly "FROM:<...>", no white space, brackets */
	SMTP_ADDR_F_UNQUALIFIED = 1 << 2, /* accept a mailbox without "@domain" */
};

enum smtp_addr_status {
	SMTP_ADDR_OK = 0,
	SMTP_ADDR_EVERB,	/* "FROM:" / "TO:" missing */
	SMTP_ADDR_ESYNTAX,	/* not a path */
	SMTP_ADDR_ECTRL,	/* NUL, CR, LF, other control octet */
	SMTP_ADDR_EPATHLEN,	/* path over 256 octets */
	SMTP_ADDR_ELOCALLEN,	/* local part over 64 octets */
	SMTP_ADDR_EDOMAINLEN,	/* domain over 255 octets */
	SMTP_ADDR_ELOCAL,	/* bad local part (empty, dots) */
	SMTP_ADDR_EDOMAIN,	/* bad domain name */
	SMTP_ADDR_ELITERAL,	/* bad address literal */
	SMTP_ADDR_ENULL,	/* "<>" as a recipient */
	SMTP_ADDR_EUNQUALIFIED,	/* no domain */
	SMTP_ADDR_E8BIT,	/* non-ASCII without SMTPUTF8 */
	SMTP_ADDR_EUTF8,	/* invalid UTF-8 */
	SMTP_ADDR_NSTATUS
};

/* the reply for a refused command; strings are static */
struct smtp_addr_reply {
	int code;		/* 501, 553, 555 */
	const char *enh;	/* "5.1.3" */
	const char *text;	/* "Bad recipient address syntax" */
	const char *item;	/* smtp_param: the offending parameter in the input, or NULL */
	size_t item_len;
};

struct smtp_addr {
	char local[SMTP_ADDR_LOCAL_MAX + 1];	/* unquoted; "" for "<>" */
	char domain[SMTP_ADDR_DOMAIN_MAX + 1];	/* lower case, no trailing dot; "" if none */
	size_t local_len, domain_len;
	struct domain_literal literal;		/* family 0 unless the domain is a literal */
	bool null;		/* "<>" */
	bool quoted;		/* the local part was a quoted string */
	bool routed;		/* a source route was given and dropped */
	bool trailing_dot;	/* the domain ended in a dot (dropped) */
	bool utf8;		/* non-ASCII octets in local part or domain */
	bool postmaster;	/* local part is "postmaster", any case */
	bool unqualified;	/* no domain ("<Postmaster>", or F_UNQUALIFIED) */
	bool bare;		/* given without '<' '>' (lax mode) */
	const char *params;	/* ESMTP parameters: into the input, after white space */
	size_t params_len;
};

/*
 * smtp_addr_parse - parse a MAIL ("FROM:...") or RCPT ("TO:...")
 * argument arg[len] into *out. Returns SMTP_ADDR_OK, or a status and,
 * when err is not NULL, the reply in *err.
 */
enum smtp_addr_status smtp_addr_parse(enum smtp_addr_kind kind, const char *arg, size_t len,
				      unsigned flags, struct smtp_addr *out,
				      struct smtp_addr_reply *err);
/*
 * smtp_addr_parse_mailbox - a bare mailbox "local@domain" s[len], all of
 * it (no brackets, route, null or postmaster forms; F_UTF8 and
 * F_UNQUALIFIED apply), as found in AUTH= and ORCPT values.
 */
enum smtp_addr_status smtp_addr_parse_mailbox(const char *s, size_t len, unsigned flags,
					      struct smtp_addr *out);
/* smtp_addr_reply - the reply for status st on a command of kind */
void smtp_addr_reply(enum smtp_addr_status st, enum smtp_addr_kind kind,
		     struct smtp_addr_reply *err);
/* smtp_addr_strerror - short text for a status ("local part over 64 octets") */
const char *smtp_addr_strerror(enum smtp_addr_status st);

/*
 * smtp_addr_external - the address as it goes to logs and other hops:
 * local part (quoted only when needed), "@", domain; "" for "<>". Into
 * dst[size]; its length, or -1 when it does not fit (nothing cut).
 * SMTP_ADDR_TEXT_MAX + 1 octets always suffice.
 */
int smtp_addr_external(const struct smtp_addr *a, char *dst, size_t size);
/* smtp_addr_local_needs_quotes - is local[len] not a dot-string (UTF-8 atext allowed)? */
bool smtp_addr_local_needs_quotes(const char *local, size_t len);

/* relay traps: bits of smtp_addr_traps' result, in order of precedence */
enum smtp_addr_trap {
	SMTP_ADDR_TRAP_NONE = 0,
	SMTP_ADDR_TRAP_UNQUALIFIED = 1 << 0,	/* no domain, and not <Postmaster> */
	SMTP_ADDR_TRAP_QUOTED_AT = 1 << 1,	/* '@' inside a quoted local part */
	SMTP_ADDR_TRAP_PERCENT = 1 << 2,	/* '%' in the local part: percent hack */
	SMTP_ADDR_TRAP_BANG = 1 << 3,		/* '!' in the local part: UUCP bang path */
	SMTP_ADDR_TRAP_SOURCE_ROUTE = 1 << 4,	/* "<@a:u@d>" was given */
	SMTP_ADDR_TRAP_FOREIGN_LITERAL = 1 << 5, /* IP literal that is not one of ours */
	SMTP_ADDR_TRAP_TRAILING_DOT = 1 << 6,	/* "u@dom." */
};

/*
 * smtp_addr_traps - every relay trap in a, as a mask of smtp_addr_trap
 * bits. own is a NULL-terminated list of our addresses ("192.0.2.1",
 * "::1", "[IPv6:::1]"; NULL for none); an IP literal is foreign unless
 * it equals one of them.
 */
unsigned smtp_addr_traps(const struct smtp_addr *a, const char *const *own);
/* smtp_addr_trap_first - the highest-precedence trap in mask, or SMTP_ADDR_TRAP_NONE */
enum smtp_addr_trap smtp_addr_trap_first(unsigned mask);
/* smtp_addr_trap_name - short name for logs ("percent_hack") */
const char *smtp_addr_trap_name(enum smtp_addr_trap trap);
/* smtp_addr_trap_text - what the trap is, for logs and reply texts */
const char *smtp_addr_trap_text(enum smtp_addr_trap trap);

#endif
