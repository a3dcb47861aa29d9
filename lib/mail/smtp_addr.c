/*
 * smtp_addr - MAIL FROM / RCPT TO path parsing and relay-trap
 * classification; see smtp_addr.h.
 *
 * The parser is a small recursive-descent scanner over the RFC 5321 path
 * grammar. Invariants: the cursor never passes the end of the input;
 * every byte of the path is matched by the grammar or refused (so an
 * accepted path holds no control octet, and non-ASCII only with
 * SMTP_ADDR_F_UTF8 and only as valid UTF-8); out->local and out->domain
 * are written only within their arrays and any excess is an error,
 * never a shorter address. When a byte does not fit the grammar,
 * smtp_addr_bad_byte says why (control, 8-bit, bad UTF-8, or plain
 * syntax), so 8-bit input gets 553 5.6.7 whatever its position.
 */
#include <string.h>

#include "base/str.h"
#include "mail/domain.h"
#include "mail/smtp_addr.h"

/* one row per status: the reply for MAIL and for RCPT, and a short reason */
static const struct smtp_addr_reply_row {
	int code;
	const char *enh_mail, *enh_rcpt;
	const char *text_mail, *text_rcpt;
	const char *reason;
} smtp_addr_replies[SMTP_ADDR_NSTATUS] = {
	[SMTP_ADDR_OK] = {250, "2.1.0", "2.1.5", "Sender ok", "Recipient ok", "ok"},
	[SMTP_ADDR_EVERB] = {501, "5.5.4", "5.5.4", "Syntax: MAIL FROM:<address>",
			     "Syntax: RCPT TO:<address>", "missing FROM: or TO:"},
	[SMTP_ADDR_ESYNTAX] = {501, "5.1.7", "5.1.3", "Bad sender address syntax",
			       "Bad recipient address syntax", "bad path syntax"},
	[SMTP_ADDR_ECTRL] = {501, "5.1.7", "5.1.3", "Bad sender address syntax: control character",
			     "Bad recipient address syntax: control character",
			     "control character in address"},
	[SMTP_ADDR_EPATHLEN] = {501, "5.1.7", "5.1.3", "Sender address too long",
				"Recipient address too long", "path over 256 octets"},
	[SMTP_ADDR_ELOCALLEN] = {501, "5.1.7", "5.1.3", "Sender local part too long",
				 "Recipient local part too long", "local part over 64 octets"},
	[SMTP_ADDR_EDOMAINLEN] = {501, "5.1.7", "5.1.3", "Sender domain too long",
				  "Recipient domain too long", "domain over 255 octets"},
	[SMTP_ADDR_ELOCAL] = {501, "5.1.7", "5.1.3", "Bad sender address syntax: local part",
			      "Bad recipient address syntax: local part",
			      "empty local part or misplaced dot"},
	[SMTP_ADDR_EDOMAIN] = {501, "5.1.7", "5.1.3", "Bad sender address syntax: domain",
			       "Bad recipient address syntax: domain", "bad domain name"},
	[SMTP_ADDR_ELITERAL] = {501, "5.1.7", "5.1.3", "Bad sender address syntax: address literal",
				"Bad recipient address syntax: address literal",
				"bad address literal"},
	[SMTP_ADDR_ENULL] = {501, "5.1.7", "5.1.3", "Bad sender address syntax",
			     "Null recipient not allowed", "null path as recipient"},
	[SMTP_ADDR_EUNQUALIFIED] = {501, "5.1.7", "5.1.3", "Sender address must contain a domain",
				    "Recipient address must contain a domain", "no domain"},
	[SMTP_ADDR_E8BIT] = {553, "5.6.7", "5.6.7", "Must declare SMTPUTF8 to send UTF-8 address",
			     "Must declare SMTPUTF8 to send UTF-8 address",
			     "non-ASCII address without SMTPUTF8"},
	[SMTP_ADDR_EUTF8] = {553, "5.6.7", "5.6.7", "Invalid UTF-8 in sender address",
			     "Invalid UTF-8 in recipient address", "invalid UTF-8"},
};

static const struct smtp_addr_trap_row {
	enum smtp_addr_trap trap;
	const char *name;
	const char *text;
} smtp_addr_trap_rows[] = {
	{SMTP_ADDR_TRAP_UNQUALIFIED, "unqualified", "address without a domain"},
	{SMTP_ADDR_TRAP_QUOTED_AT, "quoted_at", "'@' in a quoted local part (an address inside an address)"},
	{SMTP_ADDR_TRAP_PERCENT, "percent_hack", "'%' in the local part (percent-hack routing)"},
	{SMTP_ADDR_TRAP_BANG, "bang_path", "'!' in the local part (UUCP bang path)"},
	{SMTP_ADDR_TRAP_SOURCE_ROUTE, "source_route", "source route in the path"},
	{SMTP_ADDR_TRAP_FOREIGN_LITERAL, "foreign_ip_literal", "IP address literal that is not ours"},
	{SMTP_ADDR_TRAP_TRAILING_DOT, "trailing_dot", "domain with a trailing dot"},
};

/* the scanner: cursor, end, mode */
struct smtp_addr_scan {
	const char *p;
	const char *end;
	unsigned flags;
	bool bare;		/* no '<' '>': white space ends the path */
	bool mailbox;		/* smtp_addr_parse_mailbox: only the end ends it */
	bool local_overflow;	/* more unquoted octets than out->local holds */
	struct smtp_addr *out;
};

/* smtp_addr_is_atext - RFC 5322 atext (ASCII part) */
static bool smtp_addr_is_atext(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* smtp_addr_is_ws - white space between path and parameters */
static bool smtp_addr_is_ws(const struct smtp_addr_scan *s, char c)
{
	return c == ' ' || (c == '\t' && !(s->flags & SMTP_ADDR_F_STRICT));
}

/* smtp_addr_at_end - does the path end here ('>' or, bare, white space / end)? */
static bool smtp_addr_at_end(const struct smtp_addr_scan *s)
{
	if (s->mailbox)
		return s->p == s->end;
	if (s->bare)
		return s->p == s->end || smtp_addr_is_ws(s, *s->p);
	return s->p < s->end && *s->p == '>';
}

/* smtp_addr_bad_byte - why the byte at p[0..end) does not fit the grammar */
static enum smtp_addr_status smtp_addr_bad_byte(const char *p, const char *end, unsigned flags)
{
	unsigned char c;
	uint32_t cp;

	if (p >= end)
		return SMTP_ADDR_ESYNTAX;
	c = (unsigned char) *p;
	if (c < 0x20 || c == 0x7F)
		return SMTP_ADDR_ECTRL;
	if (c < 0x80)
		return SMTP_ADDR_ESYNTAX;
	if (!(flags & SMTP_ADDR_F_UTF8))
		return SMTP_ADDR_E8BIT;
	if (domain_utf8_next(p, (size_t) (end - p), &cp) < 0)
		return SMTP_ADDR_EUTF8;
	return cp <= 0x9F ? SMTP_ADDR_ECTRL : SMTP_ADDR_ESYNTAX;
}

/* smtp_addr_check_bytes - the first control, 8-bit or bad UTF-8 byte in t[len], if any */
static enum smtp_addr_status smtp_addr_check_bytes(const char *t, size_t len, unsigned flags)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) t[i];
		uint32_t cp;
		int n;

		if (c >= 0x20 && c < 0x7F)
			continue;
		if (c < 0x80)
			return SMTP_ADDR_ECTRL;
		if (!(flags & SMTP_ADDR_F_UTF8))
			return SMTP_ADDR_E8BIT;
		if ((n = domain_utf8_next(t + i, len - i, &cp)) < 0)
			return SMTP_ADDR_EUTF8;
		if (cp <= 0x9F)
			return SMTP_ADDR_ECTRL;
		i += (size_t) n - 1;
	}
	return SMTP_ADDR_OK;
}

/* smtp_addr_utf8_char - consume one UTF-8 character at the cursor (F_UTF8 set) */
static enum smtp_addr_status smtp_addr_utf8_char(struct smtp_addr_scan *s, size_t *n)
{
	uint32_t cp;
	int r = domain_utf8_next(s->p, (size_t) (s->end - s->p), &cp);

	if (r < 0)
		return SMTP_ADDR_EUTF8;
	if (cp <= 0x9F)
		return SMTP_ADDR_ECTRL;
	*n = (size_t) r;
	s->out->utf8 = true;
	return SMTP_ADDR_OK;
}

/* smtp_addr_local_put - append n octets to the unquoted local part */
static void smtp_addr_local_put(struct smtp_addr_scan *s, const char *b, size_t n)
{
	struct smtp_addr *o = s->out;

	if (s->local_overflow || n > SMTP_ADDR_LOCAL_MAX - o->local_len) {
		s->local_overflow = true;
		return;
	}
	memcpy(o->local + o->local_len, b, n);
	o->local_len += n;
	o->local[o->local_len] = '\0';
}

/* smtp_addr_scan_quoted - Quoted-string: DQUOTE *(qtextSMTP / quoted-pairSMTP) DQUOTE */
static enum smtp_addr_status smtp_addr_scan_quoted(struct smtp_addr_scan *s)
{
	s->p++;
	while (s->p < s->end) {
		unsigned char c = (unsigned char) *s->p;
		size_t n = 1;

		if (c == '"') {
			s->p++;
			s->out->quoted = true;
			return s->out->local_len == 0 && !s->local_overflow ? SMTP_ADDR_ELOCAL : SMTP_ADDR_OK;
		}
		if (c == '\\') {
			if (s->end - s->p < 2 || (unsigned char) s->p[1] < 32 || (unsigned char) s->p[1] > 126)
				return smtp_addr_bad_byte(s->p + 1, s->end, s->flags);
			smtp_addr_local_put(s, s->p + 1, 1);
			s->p += 2;
			continue;
		}
		if (c >= 0x80 && (s->flags & SMTP_ADDR_F_UTF8)) {
			enum smtp_addr_status st = smtp_addr_utf8_char(s, &n);

			if (st != SMTP_ADDR_OK)
				return st;
		} else if (c < 32 || c > 126) {
			return smtp_addr_bad_byte(s->p, s->end, s->flags);
		}
		smtp_addr_local_put(s, s->p, n);
		s->p += n;
	}
	return SMTP_ADDR_ESYNTAX;	/* no closing quote */
}

/* smtp_addr_scan_dot_string - Dot-string: Atom *("." Atom), atext plus UTF-8 */
static enum smtp_addr_status smtp_addr_scan_dot_string(struct smtp_addr_scan *s)
{
	for (;;) {
		const char *atom = s->p;

		while (s->p < s->end) {
			unsigned char c = (unsigned char) *s->p;
			size_t n = 1;

			if (c >= 0x80 && (s->flags & SMTP_ADDR_F_UTF8)) {
				enum smtp_addr_status st = smtp_addr_utf8_char(s, &n);

				if (st != SMTP_ADDR_OK)
					return st;
			} else if (!smtp_addr_is_atext(c)) {
				break;
			}
			smtp_addr_local_put(s, s->p, n);
			s->p += n;
		}
		if (s->p == atom) {
			/* empty atom: leading, trailing or double dot, or empty local part */
			if (s->p < s->end && (*s->p == '.' || *s->p == '@'))
				return SMTP_ADDR_ELOCAL;
			if (smtp_addr_at_end(s))
				return SMTP_ADDR_ELOCAL;
			return smtp_addr_bad_byte(s->p, s->end, s->flags);
		}
		if (s->p >= s->end || *s->p != '.')
			return SMTP_ADDR_OK;
		smtp_addr_local_put(s, s->p, 1);
		s->p++;
	}
}

/* smtp_addr_scan_local - Local-part, with the 64-octet limit on its written form */
static enum smtp_addr_status smtp_addr_scan_local(struct smtp_addr_scan *s)
{
	const char *start = s->p;
	enum smtp_addr_status st;

	if (s->p < s->end && *s->p == '"')
		st = smtp_addr_scan_quoted(s);
	else
		st = smtp_addr_scan_dot_string(s);
	if (st == SMTP_ADDR_OK && (s->p - start > SMTP_ADDR_LOCAL_MAX || s->local_overflow))
		return SMTP_ADDR_ELOCALLEN;
	return st;
}

/*
 * smtp_addr_domain_check - validate domain token t[len] (a host name or
 * an address literal); with out, store its canonical form there.
 */
static enum smtp_addr_status smtp_addr_domain_check(const char *t, size_t len, unsigned flags,
						    struct smtp_addr *out)
{
	char lit_text[DOMAIN_LITERAL_TEXT_MAX];
	struct domain_literal lit;
	enum smtp_addr_status st;
	bool dot = false;

	if (len == 0)
		return SMTP_ADDR_EDOMAIN;
	if ((st = smtp_addr_check_bytes(t, len, flags)) != SMTP_ADDR_OK)
		return st;
	if (len > SMTP_ADDR_DOMAIN_MAX)
		return SMTP_ADDR_EDOMAINLEN;
	if (t[0] == '[') {
		if (domain_literal_parse(t, len, &lit, lit_text, sizeof(lit_text)) < 0)
			return SMTP_ADDR_ELITERAL;
		if (out != NULL) {
			out->literal = lit;
			out->domain_len = strlen(lit_text);
			memcpy(out->domain, lit_text, out->domain_len + 1);
		}
		return SMTP_ADDR_OK;
	}
	if (t[len - 1] == '.') {
		dot = true;
		len--;
	}
	if (!domain_valid(t, len, (flags & SMTP_ADDR_F_UTF8) ? DOMAIN_F_UTF8 : 0))
		return SMTP_ADDR_EDOMAIN;
	if (out != NULL) {
		memcpy(out->domain, t, len);
		out->domain[len] = '\0';
		out->domain_len = len;
		str_lower(out->domain);
		out->trailing_dot = dot;
		for (size_t i = 0; i < len; i++)
			if ((unsigned char) t[i] >= 0x80)
				out->utf8 = true;
	}
	return SMTP_ADDR_OK;
}

/* smtp_addr_scan_route - A-d-l ":" — At-domain *("," At-domain), checked and dropped */
static enum smtp_addr_status smtp_addr_scan_route(struct smtp_addr_scan *s)
{
	for (;;) {
		const char *t;
		enum smtp_addr_status st;

		if (s->p >= s->end || *s->p != '@')
			return smtp_addr_bad_byte(s->p, s->end, s->flags);
		t = ++s->p;
		while (s->p < s->end && *s->p != ',' && *s->p != ':' && *s->p != '>' &&
		       !smtp_addr_is_ws(s, *s->p))
			s->p++;
		if (s->p >= s->end || (*s->p != ',' && *s->p != ':'))
			return smtp_addr_bad_byte(s->p, s->end, s->flags);
		if ((st = smtp_addr_domain_check(t, (size_t) (s->p - t), s->flags, NULL)) != SMTP_ADDR_OK)
			return st;
		if (*s->p++ == ':')
			break;
	}
	s->out->routed = true;
	return SMTP_ADDR_OK;
}

/* smtp_addr_is_postmaster - "postmaster" in any case */
static bool smtp_addr_is_postmaster(const struct smtp_addr *a)
{
	return a->local_len == 10 && str_eq_nocase(a->local, "postmaster");
}

/* smtp_addr_scan_mailbox - [route] Local-part ["@" domain], up to the end of the path */
static enum smtp_addr_status smtp_addr_scan_mailbox(struct smtp_addr_scan *s,
						    enum smtp_addr_kind kind)
{
	struct smtp_addr *o = s->out;
	enum smtp_addr_status st;
	const char *t;

	if (!s->mailbox && s->p < s->end && *s->p == '@' &&
	    (st = smtp_addr_scan_route(s)) != SMTP_ADDR_OK)
		return st;
	if ((st = smtp_addr_scan_local(s)) != SMTP_ADDR_OK)
		return st;
	o->postmaster = smtp_addr_is_postmaster(o);
	if (s->p < s->end && *s->p == '@') {
		t = ++s->p;
		while (!smtp_addr_at_end(s) && s->p < s->end)
			s->p++;
		if (!s->bare && !s->mailbox && s->p >= s->end) {
			/* no '>': say so, unless the line holds worse */
			st = smtp_addr_check_bytes(t, (size_t) (s->p - t), s->flags);
			return st != SMTP_ADDR_OK ? st : SMTP_ADDR_ESYNTAX;
		}
		return smtp_addr_domain_check(t, (size_t) (s->p - t), s->flags, o);
	}
	if (!smtp_addr_at_end(s))
		return smtp_addr_bad_byte(s->p, s->end, s->flags);
	if (o->routed)
		return SMTP_ADDR_ESYNTAX;
	o->unqualified = true;
	if (kind == SMTP_ADDR_RCPT && !s->mailbox && o->postmaster && !o->quoted)
		return SMTP_ADDR_OK;
	return (s->flags & SMTP_ADDR_F_UNQUALIFIED) ? SMTP_ADDR_OK : SMTP_ADDR_EUNQUALIFIED;
}

/* smtp_addr_scan_verb - "FROM:" or "TO:", any case, with lax white space */
static enum smtp_addr_status smtp_addr_scan_verb(struct smtp_addr_scan *s, enum smtp_addr_kind kind)
{
	const char *word = kind == SMTP_ADDR_MAIL ? "FROM:" : "TO:";
	size_t n = strlen(word);
	bool lax = !(s->flags & SMTP_ADDR_F_STRICT);

	while (lax && s->p < s->end && smtp_addr_is_ws(s, *s->p))
		s->p++;
	if ((size_t) (s->end - s->p) < n)
		return SMTP_ADDR_EVERB;
	for (size_t i = 0; i < n; i++) {
		char c = s->p[i];

		if ((c >= 'a' && c <= 'z' ? (char) (c - 'a' + 'A') : c) != word[i])
			return SMTP_ADDR_EVERB;
	}
	s->p += n;
	while (lax && s->p < s->end && smtp_addr_is_ws(s, *s->p))
		s->p++;
	return SMTP_ADDR_OK;
}

/* smtp_addr_finish - set the status reply, or clear a half-filled result */
static enum smtp_addr_status smtp_addr_finish(enum smtp_addr_status st, enum smtp_addr_kind kind,
					      struct smtp_addr *out, struct smtp_addr_reply *err)
{
	if (st != SMTP_ADDR_OK) {
		memset(out, 0, sizeof(*out));
		if (err != NULL)
			smtp_addr_reply(st, kind, err);
	}
	return st;
}

enum smtp_addr_status smtp_addr_parse(enum smtp_addr_kind kind, const char *arg, size_t len,
				      unsigned flags, struct smtp_addr *out,
				      struct smtp_addr_reply *err)
{
	struct smtp_addr_scan s = {arg, arg + len, flags, false, false, false, out};
	enum smtp_addr_status st;
	const char *start;
	size_t path_len;

	memset(out, 0, sizeof(*out));
	if ((st = smtp_addr_scan_verb(&s, kind)) != SMTP_ADDR_OK)
		return smtp_addr_finish(st, kind, out, err);
	start = s.p;
	if (s.p < s.end && *s.p == '<') {
		s.p++;
		if (s.p < s.end && *s.p == '>') {
			out->null = true;
			st = kind == SMTP_ADDR_MAIL ? SMTP_ADDR_OK : SMTP_ADDR_ENULL;
		} else {
			st = smtp_addr_scan_mailbox(&s, kind);
		}
		if (st == SMTP_ADDR_OK && (s.p >= s.end || *s.p != '>'))
			st = smtp_addr_bad_byte(s.p, s.end, flags);
		if (st == SMTP_ADDR_OK)
			s.p++;
		path_len = (size_t) (s.p - start);
	} else if (flags & SMTP_ADDR_F_STRICT) {
		st = smtp_addr_bad_byte(s.p, s.end, flags);
		path_len = 0;
	} else if (s.p == s.end) {
		st = SMTP_ADDR_ESYNTAX;
		path_len = 0;
	} else {
		s.bare = out->bare = true;
		st = smtp_addr_scan_mailbox(&s, kind);
		path_len = (size_t) (s.p - start) + 2;
	}
	if (st == SMTP_ADDR_OK && path_len > SMTP_ADDR_PATH_MAX)
		st = SMTP_ADDR_EPATHLEN;
	if (st == SMTP_ADDR_OK && s.p < s.end && !smtp_addr_is_ws(&s, *s.p))
		st = smtp_addr_bad_byte(s.p, s.end, flags);
	if (st != SMTP_ADDR_OK)
		return smtp_addr_finish(st, kind, out, err);
	while (s.p < s.end && smtp_addr_is_ws(&s, *s.p))
		s.p++;
	out->params = s.p;
	out->params_len = (size_t) (s.end - s.p);
	return SMTP_ADDR_OK;
}

enum smtp_addr_status smtp_addr_parse_mailbox(const char *str, size_t len, unsigned flags,
					      struct smtp_addr *out)
{
	struct smtp_addr_scan s = {str, str + len, flags & ~(unsigned) SMTP_ADDR_F_STRICT,
				   true, true, false, out};
	enum smtp_addr_status st;

	memset(out, 0, sizeof(*out));
	out->bare = true;
	st = smtp_addr_scan_mailbox(&s, SMTP_ADDR_MAIL);
	if (st == SMTP_ADDR_OK && len + 2 > SMTP_ADDR_PATH_MAX)
		st = SMTP_ADDR_EPATHLEN;
	if (st != SMTP_ADDR_OK)
		memset(out, 0, sizeof(*out));
	return st;
}

void smtp_addr_reply(enum smtp_addr_status st, enum smtp_addr_kind kind,
		     struct smtp_addr_reply *err)
{
	const struct smtp_addr_reply_row *row;

	if ((unsigned) st >= SMTP_ADDR_NSTATUS)
		st = SMTP_ADDR_ESYNTAX;
	row = &smtp_addr_replies[st];
	err->code = row->code;
	err->enh = kind == SMTP_ADDR_MAIL ? row->enh_mail : row->enh_rcpt;
	err->text = kind == SMTP_ADDR_MAIL ? row->text_mail : row->text_rcpt;
	err->item = NULL;
	err->item_len = 0;
}

const char *smtp_addr_strerror(enum smtp_addr_status st)
{
	if ((unsigned) st >= SMTP_ADDR_NSTATUS)
		return "unknown status";
	return smtp_addr_replies[st].reason;
}

bool smtp_addr_local_needs_quotes(const char *local, size_t len)
{
	bool atom_empty = true;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) local[i];

		if (c == '.') {
			if (atom_empty)
				return true;
			atom_empty = true;
		} else if (smtp_addr_is_atext(c) || c >= 0x80) {
			atom_empty = false;
		} else {
			return true;
		}
	}
	return atom_empty;
}

int smtp_addr_external(const struct smtp_addr *a, char *dst, size_t size)
{
	size_t n = 0;

	/* worst case: quotes and a backslash before every octet, '@', domain, NUL */
	if (size == 0)
		return -1;
	dst[0] = '\0';
	if (a->null)
		return 0;
	if (!smtp_addr_local_needs_quotes(a->local, a->local_len)) {
		if (a->local_len >= size)
			return -1;
		memcpy(dst, a->local, a->local_len);
		n = a->local_len;
	} else {
		if (size - n < 2)
			return -1;
		dst[n++] = '"';
		for (size_t i = 0; i < a->local_len; i++) {
			char c = a->local[i];

			if (c == '"' || c == '\\') {
				if (size - n < 2)
					return -1;
				dst[n++] = '\\';
			}
			if (size - n < 2)
				return -1;
			dst[n++] = c;
		}
		if (size - n < 2)
			return -1;
		dst[n++] = '"';
	}
	if (a->domain_len > 0) {
		if (size - n < a->domain_len + 2)
			return -1;
		dst[n++] = '@';
		memcpy(dst + n, a->domain, a->domain_len);
		n += a->domain_len;
	}
	dst[n] = '\0';
	return (int) n;
}

unsigned smtp_addr_traps(const struct smtp_addr *a, const char *const *own)
{
	unsigned mask = 0;

	if (a->null)
		return SMTP_ADDR_TRAP_NONE;
	if (a->unqualified && !(a->postmaster && !a->quoted))
		mask |= SMTP_ADDR_TRAP_UNQUALIFIED;
	if (a->quoted && memchr(a->local, '@', a->local_len) != NULL)
		mask |= SMTP_ADDR_TRAP_QUOTED_AT;
	if (memchr(a->local, '%', a->local_len) != NULL)
		mask |= SMTP_ADDR_TRAP_PERCENT;
	if (memchr(a->local, '!', a->local_len) != NULL)
		mask |= SMTP_ADDR_TRAP_BANG;
	if (a->routed)
		mask |= SMTP_ADDR_TRAP_SOURCE_ROUTE;
	if (a->literal.family != 0) {
		bool ours = false;

		for (size_t i = 0; own != NULL && own[i] != NULL && !ours; i++) {
			struct domain_literal mine;

			ours = domain_literal_from_text(own[i], &mine) == 0 &&
			    domain_literal_equal(&a->literal, &mine);
		}
		if (!ours)
			mask |= SMTP_ADDR_TRAP_FOREIGN_LITERAL;
	}
	if (a->trailing_dot)
		mask |= SMTP_ADDR_TRAP_TRAILING_DOT;
	return mask;
}

enum smtp_addr_trap smtp_addr_trap_first(unsigned mask)
{
	for (size_t i = 0; i < sizeof(smtp_addr_trap_rows) / sizeof(smtp_addr_trap_rows[0]); i++)
		if (mask & (unsigned) smtp_addr_trap_rows[i].trap)
			return smtp_addr_trap_rows[i].trap;
	return SMTP_ADDR_TRAP_NONE;
}

/* smtp_addr_trap_row - the table row of one trap, or NULL */
static const struct smtp_addr_trap_row *smtp_addr_trap_row(enum smtp_addr_trap trap)
{
	for (size_t i = 0; i < sizeof(smtp_addr_trap_rows) / sizeof(smtp_addr_trap_rows[0]); i++)
		if (smtp_addr_trap_rows[i].trap == trap)
			return &smtp_addr_trap_rows[i];
	return NULL;
}

const char *smtp_addr_trap_name(enum smtp_addr_trap trap)
{
	const struct smtp_addr_trap_row *row = smtp_addr_trap_row(trap);

	return row ? row->name : "none";
}

const char *smtp_addr_trap_text(enum smtp_addr_trap trap)
{
	const struct smtp_addr_trap_row *row = smtp_addr_trap_row(trap);

	return row ? row->text : "no routing syntax";
}
