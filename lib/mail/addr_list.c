/*
 * addr_list - RFC 5322 address lists; see addr_list.h.
 *
 * A scanner turns the text into tokens (words, quoted strings, domain
 * literals, specials), skipping white space and comments. The parser
 * keeps one mailbox at a time: the words outside '<' '>' (an addr-spec,
 * or a display name when an angle address follows) and the words inside
 * them, and emits the mailbox at ',' or ';' or the end. A source route
 * at the start of an angle address is read and dropped.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/addr_list.h"

enum addr_list_tok { TOK_END, TOK_WORD, TOK_QSTR, TOK_DLIT, TOK_SPECIAL };

/* addr_list_scan - the scanner over s[len] */
struct addr_list_scan {
	const char *p;
	const char *end;
	enum addr_list_tok tok;
	const char *text;		/* TOK_WORD, TOK_DLIT: into the input */
	size_t len;
	struct buf qs;			/* TOK_QSTR: the decoded content */
	char c;				/* TOK_SPECIAL */
};

/* addr_list_mbox - the mailbox being read */
struct addr_list_mbox {
	struct buf plain;		/* words outside '<' '>' */
	struct buf angle;		/* words inside */
	bool plain_word;		/* the last token of plain was a word */
	bool angle_word;
	bool phrase;			/* two words in a row outside '<' '>' */
	bool in_angle, had_angle;
	bool route;			/* inside a source route "@a,@b:" */
	bool angle_start;		/* nothing read inside '<' yet */
};

#define ADDR_LIST_SPECIALS "()<>[]:;@\\,.\""

/* addr_list_ctl - a control octet that is not white space */
static bool addr_list_ctl(unsigned char c)
{
	return (c < 0x20 && c != '\t' && c != '\r' && c != '\n') || c == 0x7f;
}

/* addr_list_ws - white space, folding included */
static bool addr_list_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* addr_list_skip_comment - past a comment starting at s->p ('('); 0 or -1 */
static int addr_list_skip_comment(struct addr_list_scan *s, char *err, size_t errlen)
{
	int depth = 0;

	for (; s->p < s->end; s->p++) {
		unsigned char c = (unsigned char) *s->p;

		if (addr_list_ctl(c)) {
			str_fmt(err, errlen, "control character in a comment");
			return -1;
		}
		if (c == '\\') {
			if (++s->p == s->end)
				break;
		} else if (c == '(') {
			depth++;
		} else if (c == ')' && --depth == 0) {
			s->p++;
			return 0;
		}
	}
	str_fmt(err, errlen, "unterminated comment");
	return -1;
}

/* addr_list_quoted - a quoted string at s->p ('"') into s->qs; 0 or -1 */
static int addr_list_quoted(struct addr_list_scan *s, char *err, size_t errlen)
{
	buf_reset(&s->qs);
	for (s->p++; s->p < s->end; s->p++) {
		unsigned char c = (unsigned char) *s->p;

		if (c == '"') {
			s->p++;
			s->tok = TOK_QSTR;
			return 0;
		}
		if (c == '\\') {
			if (++s->p == s->end)
				break;
			c = (unsigned char) *s->p;
		}
		if (addr_list_ctl(c) || c == '\r' || c == '\n') {
			if (c == '\r' || c == '\n')
				continue;	/* folding inside a quoted string */
			str_fmt(err, errlen, "control character in a quoted string");
			return -1;
		}
		if (buf_putc(&s->qs, c) < 0) {
			str_fmt(err, errlen, "quoted string longer than %d bytes", ADDR_LIST_ADDR_MAX);
			return -1;
		}
	}
	str_fmt(err, errlen, "unterminated quoted string");
	return -1;
}

/* addr_list_next - the next token; 0, or -1 with err */
static int addr_list_next(struct addr_list_scan *s, char *err, size_t errlen)
{
	for (;;) {
		unsigned char c;

		while (s->p < s->end && addr_list_ws((unsigned char) *s->p))
			s->p++;
		if (s->p == s->end) {
			s->tok = TOK_END;
			return 0;
		}
		c = (unsigned char) *s->p;
		if (addr_list_ctl(c)) {
			str_fmt(err, errlen, "control character 0x%02x", c);
			return -1;
		}
		if (c == '(') {
			if (addr_list_skip_comment(s, err, errlen) < 0)
				return -1;
			continue;
		}
		if (c == '"')
			return addr_list_quoted(s, err, errlen);
		if (c == '[') {
			const char *close = memchr(s->p, ']', (size_t) (s->end - s->p));

			if (close == NULL) {
				str_fmt(err, errlen, "unterminated domain literal");
				return -1;
			}
			for (const char *q = s->p; q < close; q++) {
				if (addr_list_ctl((unsigned char) *q) || addr_list_ws((unsigned char) *q) ||
				    *q == '\\') {
					str_fmt(err, errlen, "bad character in a domain literal");
					return -1;
				}
			}
			s->tok = TOK_DLIT;
			s->text = s->p;
			s->len = (size_t) (close + 1 - s->p);
			s->p = close + 1;
			return 0;
		}
		if (c == '\\' || c == ')' || c == ']') {
			str_fmt(err, errlen, "unexpected '%c'", c);
			return -1;
		}
		if (strchr(ADDR_LIST_SPECIALS, c) != NULL) {
			s->tok = TOK_SPECIAL;
			s->c = (char) c;
			s->p++;
			return 0;
		}
		s->tok = TOK_WORD;
		s->text = s->p;
		while (s->p < s->end && !addr_list_ws((unsigned char) *s->p) &&
		       !addr_list_ctl((unsigned char) *s->p) &&
		       strchr(ADDR_LIST_SPECIALS, *s->p) == NULL)
			s->p++;
		s->len = (size_t) (s->p - s->text);
		return 0;
	}
}

/* addr_list_put - append the current token to b as addr-spec text; -1 when too long */
static int addr_list_put(const struct addr_list_scan *s, struct buf *b)
{
	switch (s->tok) {
	case TOK_WORD:
	case TOK_DLIT:
		return buf_append(b, s->text, s->len);
	case TOK_QSTR:
		if (buf_putc(b, '"') < 0)
			return -1;
		for (size_t i = 0; i < s->qs.len; i++) {
			char c = s->qs.data[i];

			if ((c == '"' || c == '\\') && buf_putc(b, '\\') < 0)
				return -1;
			if (buf_putc(b, c) < 0)
				return -1;
		}
		return buf_putc(b, '"');
	case TOK_SPECIAL:
		return buf_putc(b, s->c);
	case TOK_END:
		break;
	}
	return 0;
}

/* addr_list_mbox_reset - ready for the next mailbox */
static void addr_list_mbox_reset(struct addr_list_mbox *m)
{
	buf_reset(&m->plain);
	buf_reset(&m->angle);
	m->plain_word = m->angle_word = m->phrase = false;
	m->in_angle = m->had_angle = m->route = m->angle_start = false;
}

/* addr_list_push - add one addr-spec text to l */
static int addr_list_push(struct addr_list *l, const struct buf *b, char *err, size_t errlen)
{
	if (l->count == ADDR_LIST_MAX) {
		str_fmt(err, errlen, "more than %d addresses", ADDR_LIST_MAX);
		return -1;
	}
	if (l->count == l->cap) {
		l->cap = l->cap ? 2 * l->cap : 8;
		l->addrs = xreallocarray(l->addrs, l->cap, sizeof(*l->addrs));
	}
	l->addrs[l->count++] = xstrndup(b->data, b->len);
	return 0;
}

/* addr_list_emit - the mailbox is complete: add it to l (empty ones are skipped) */
static int addr_list_emit(struct addr_list *l, struct addr_list_mbox *m, char *err, size_t errlen)
{
	int ret = 0;

	if (m->had_angle) {
		if (m->angle.len == 0) {
			str_fmt(err, errlen, "empty address <>");
			return -1;
		}
		ret = addr_list_push(l, &m->angle, err, errlen);
	} else if (m->plain.len > 0) {
		if (m->phrase) {
			str_fmt(err, errlen, "display name without <address>: %.100s", buf_str(&m->plain));
			return -1;
		}
		ret = addr_list_push(l, &m->plain, err, errlen);
	}
	addr_list_mbox_reset(m);
	return ret;
}

/* addr_list_word - is the current token a word (atom, quoted string, literal)? */
static bool addr_list_word(const struct addr_list_scan *s)
{
	return s->tok == TOK_WORD || s->tok == TOK_QSTR || s->tok == TOK_DLIT;
}

/* addr_list_in_angle - one token inside '<' '>'; 0 or -1 */
static int addr_list_in_angle(struct addr_list_scan *s, struct addr_list_mbox *m, char *err,
			      size_t errlen)
{
	bool start = m->angle_start;

	m->angle_start = false;
	if (s->tok == TOK_SPECIAL && s->c == '>') {
		if (m->route) {
			str_fmt(err, errlen, "unterminated source route");
			return -1;
		}
		m->in_angle = false;
		m->had_angle = true;
		return 0;
	}
	if (start && s->tok == TOK_SPECIAL && s->c == '@')
		m->route = true;
	if (m->route) {
		/* "@a,@b:" - read and forget */
		if (s->tok == TOK_SPECIAL && s->c == ':')
			m->route = false;
		else if (!(addr_list_word(s) || (s->tok == TOK_SPECIAL && strchr("@,.", s->c) != NULL))) {
			str_fmt(err, errlen, "bad source route");
			return -1;
		}
		return 0;
	}
	if (!(addr_list_word(s) || (s->tok == TOK_SPECIAL && (s->c == '.' || s->c == '@')))) {
		str_fmt(err, errlen, "unexpected '%c' inside <...>", s->c);
		return -1;
	}
	if (addr_list_word(s) && m->angle_word) {
		str_fmt(err, errlen, "white space inside an address");
		return -1;
	}
	m->angle_word = addr_list_word(s);
	if (addr_list_put(s, &m->angle) < 0) {
		str_fmt(err, errlen, "address longer than %d bytes", ADDR_LIST_ADDR_MAX);
		return -1;
	}
	return 0;
}

/* addr_list_parse - append the addresses of s[len] to l */
int addr_list_parse(struct addr_list *l, const char *s, size_t len, char *err, size_t errlen)
{
	struct addr_list_scan sc = {s, s + len, TOK_END, NULL, 0, BUF_INIT, 0};
	struct addr_list_mbox m;
	size_t start_count = l->count;
	bool in_group = false;
	int ret = -1;

	buf_init(&sc.qs, ADDR_LIST_ADDR_MAX);
	buf_init(&m.plain, ADDR_LIST_ADDR_MAX);
	buf_init(&m.angle, ADDR_LIST_ADDR_MAX);
	addr_list_mbox_reset(&m);
	for (;;) {
		if (addr_list_next(&sc, err, errlen) < 0)
			goto out;
		if (sc.tok == TOK_END)
			break;
		if (m.in_angle) {
			if (addr_list_in_angle(&sc, &m, err, errlen) < 0)
				goto out;
			continue;
		}
		if (sc.tok == TOK_SPECIAL && (sc.c == ',' || (sc.c == ';' && in_group))) {
			if (addr_list_emit(l, &m, err, errlen) < 0)
				goto out;
			if (sc.c == ';')
				in_group = false;
			continue;
		}
		if (m.had_angle) {
			str_fmt(err, errlen, "text after <address>");
			goto out;
		}
		if (sc.tok == TOK_SPECIAL && sc.c == '<') {
			m.in_angle = m.angle_start = true;
			continue;
		}
		if (sc.tok == TOK_SPECIAL && sc.c == ':' && !in_group &&
		    memchr(m.plain.data ? m.plain.data : "", '@', m.plain.len) == NULL) {
			addr_list_mbox_reset(&m);	/* the group's name */
			in_group = true;
			continue;
		}
		if (sc.tok == TOK_SPECIAL && sc.c != '.' && sc.c != '@') {
			str_fmt(err, errlen, "unexpected '%c'", sc.c);
			goto out;
		}
		if (addr_list_word(&sc) && m.plain_word)
			m.phrase = true;
		m.plain_word = addr_list_word(&sc);
		/* a display name may be long; only an address must fit */
		if (addr_list_put(&sc, &m.plain) < 0) {
			if (!m.phrase) {
				str_fmt(err, errlen, "address longer than %d bytes", ADDR_LIST_ADDR_MAX);
				goto out;
			}
			buf_reset(&m.plain);
		}
	}
	if (m.in_angle) {
		str_fmt(err, errlen, "missing '>'");
		goto out;
	}
	ret = addr_list_emit(l, &m, err, errlen);
out:
	if (ret < 0) {
		while (l->count > start_count)
			free(l->addrs[--l->count]);
	}
	buf_free(&sc.qs);
	buf_free(&m.plain);
	buf_free(&m.angle);
	return ret;
}

/* addr_list_init - an empty list */
void addr_list_init(struct addr_list *l)
{
	l->addrs = NULL;
	l->count = l->cap = 0;
}

/* addr_list_free - release everything */
void addr_list_free(struct addr_list *l)
{
	for (size_t i = 0; i < l->count; i++)
		free(l->addrs[i]);
	free(l->addrs);
	addr_list_init(l);
}
