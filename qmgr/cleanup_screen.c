/*
 * cleanup_screen - what cleanup does to the header as a whole once it has
 * ended: From: screening (MDaemon's "From header screening"), the
 * origin country header's forgeries, and address masquerading (Postfix's
 * masquerade_domains) as each field is written.
 *
 * From: screening. A From: mailbox whose display name holds an address
 * (after RFC 2047 decoding, adjacent encoded words joined as the RFC
 * says) that is not the mailbox's own address, compared without case,
 * as in "boss@example.com" <x@evil.test>, is suspicious. Only mail
 * without a SASL identity that has at least one local recipient is
 * screened (m->local_rcpt, from resolve.h: mydestination and
 * virtual_mailbox_domains). from_screen_action then: rewrite the From:
 * field so each suspicious mailbox reads
 *	"boss at example.com (via x@evil.test)" <x@evil.test>
 * (the other mailboxes are kept as they were; the new field has one
 * mailbox per line); tag the Subject: with from_screen_tag (once); or
 * reject with 550 5.7.1. A From: too long to rewrite safely (over
 * FS_REWRITE_MAX bytes) gets the tag instead. Each case is logged:
 *	QUEUEID: from screen: rewrite: header From: ... from client[addr];
 *	    from=<...> to=<...> proto=ESMTP helo=<...>: display name a@b is not the address c@d
 *
 * Origin country. When the source gave a country, fields named
 * origin_country_header that came with the message are dropped (a client
 * must not choose its own country); cleanup_msg adds the real one.
 *
 * Masquerading (Postfix's semantics). masquerade_domains are tried in
 * order; an entry matches a domain equal to it or a subdomain of it; the
 * first match decides: a plain entry replaces a strict subdomain by
 * itself (user@host.example.com -> user@example.com), a "!" entry keeps
 * the address. Local parts in masquerade_exceptions are never changed.
 * Header fields are rewritten by masquerade_classes (header_sender:
 * From, Sender, Reply-To, Resent-From, Resent-Sender; header_recipient:
 * To, Cc, Bcc, Resent-To, Resent-Cc, Resent-Bcc); everything in a field
 * but its addresses (display names, comments, quoted strings, folding)
 * is kept byte for byte.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "cleanup.h"

#define FS_DISPLAY_MAX	512		/* decoded display name kept for the check */
#define FS_ADDR_MAX	512		/* a From: address kept for the check */
#define FS_SHOWN_MAX	200		/* display name in the rewritten field */
#define FS_REWRITE_MAX	8192		/* longest From: value rewritten */
#define FS_BOXES_MAX	64		/* mailboxes of one From: looked at */

/* cleanup_field_is - the field in text has this name (any case) */
bool cleanup_field_is(const char *text, size_t len, const char *name)
{
	size_t n = strlen(name), i;

	if (len <= n || strncasecmp(text, name, n) != 0)
		return false;
	for (i = n; i < len && (text[i] == ' ' || text[i] == '\t'); i++)
		;
	return i < len && text[i] == ':';
}

/* field_value - offset of the value: after the colon */
static size_t field_value(const char *text, size_t len)
{
	const char *colon = memchr(text, ':', len);

	return colon ? (size_t) (colon - text) + 1 : len;
}

/* ---- masquerading ------------------------------------------------------ */

/* cleanup_masq_addr - the masqueraded form of addr[0..len) in out: 1, or 0 unchanged */
int cleanup_masq_addr(const struct cleanup_cfg *cfg, const char *addr, size_t len, struct buf *out)
{
	const char *at = NULL, *domain;
	size_t local_len, dlen;

	if (cfg->masq_domains == NULL)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (addr[i] == '@')
			at = addr + i;
	if (at == NULL || at == addr)
		return 0;
	local_len = (size_t) (at - addr);
	domain = at + 1;
	dlen = len - local_len - 1;
	if (dlen == 0)
		return 0;
	for (char *const *e = cfg->masq_exceptions; e && *e; e++)
		if (strlen(*e) == local_len && strncasecmp(*e, addr, local_len) == 0)
			return 0;
	for (char *const *d = cfg->masq_domains; *d; d++) {
		const char *masq = **d == '!' ? *d + 1 : *d;
		bool keep = **d == '!';
		size_t mlen = strlen(masq);

		if (mlen == 0 || mlen > dlen)
			continue;
		if (mlen == dlen) {
			if (strncasecmp(masq, domain, dlen) == 0)
				return 0;	/* the domain itself: nothing to hide */
			continue;
		}
		if (domain[dlen - mlen - 1] != '.' || strncasecmp(masq, domain + dlen - mlen, mlen) != 0)
			continue;
		if (keep)
			return 0;
		buf_reset(out);
		if (buf_append(out, addr, local_len + 1) < 0 || buf_puts(out, masq) < 0)
			return 0;
		return 1;
	}
	return 0;
}

/* masq_special - ends an atom in a header value */
static bool masq_special(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == ',' || c == ';' || c == ':'
	       || c == '<' || c == '>' || c == '(' || c == ')' || c == '"';
}

/* masq_skip_quoted - past a quoted string or comment starting at v[i] */
static size_t masq_skip_quoted(const char *v, size_t n, size_t i)
{
	int depth = 0;
	char open = v[i];

	for (; i < n; i++) {
		if (v[i] == '\\' && i + 1 < n) {
			i++;
		} else if (open == '"') {
			if (v[i] == '"' && depth++ > 0)
				return i + 1;
		} else if (v[i] == '(') {
			depth++;
		} else if (v[i] == ')' && --depth == 0) {
			return i + 1;
		}
	}
	return n;
}

/* masq_put_addr - addr, masqueraded when it should be; true when changed */
static bool masq_put_addr(const struct cleanup_cfg *cfg, const char *a, size_t len, struct buf *out)
{
	struct buf m;
	bool changed;

	buf_init(&m, 0);
	changed = cleanup_masq_addr(cfg, a, len, &m) > 0;
	if (changed)
		buf_append(out, m.data, m.len);
	else
		buf_append(out, a, len);
	buf_free(&m);
	return changed;
}

/* masq_value - copy a field value, masquerading each address in it; true when changed */
static bool masq_value(const struct cleanup_cfg *cfg, const char *v, size_t n, struct buf *out)
{
	bool changed = false;
	size_t i = 0;

	while (i < n) {
		size_t j;

		if (v[i] == '"' || v[i] == '(') {
			j = masq_skip_quoted(v, n, i);
			buf_append(out, v + i, j - i);
			i = j;
		} else if (v[i] == '<') {
			const char *gt = memchr(v + i, '>', n - i);

			if (gt == NULL) {
				buf_append(out, v + i, n - i);
				break;
			}
			j = (size_t) (gt - v);
			buf_putc(out, '<');
			changed |= masq_put_addr(cfg, v + i + 1, j - i - 1, out);
			buf_putc(out, '>');
			i = j + 1;
		} else if (!masq_special(v[i])) {
			for (j = i; j < n && !masq_special(v[j]); j++)
				;
			if (memchr(v + i, '@', j - i))
				changed |= masq_put_addr(cfg, v + i, j - i, out);
			else
				buf_append(out, v + i, j - i);
			i = j;
		} else {
			buf_putc(out, v[i++]);
		}
	}
	return changed;
}

/* cleanup_screen_field - one field as written: masqueraded by masquerade_classes */
int cleanup_screen_field(const struct cleanup_cfg *cfg, const char *text, size_t len, struct buf *out)
{
	static const char *const senders[] = {"from", "sender", "reply-to", "resent-from", "resent-sender", NULL};
	static const char *const rcpts[] = {"to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc", NULL};
	bool wanted = false;
	size_t v;

	if (cfg->masq_domains == NULL || cfg->masq_domains[0] == NULL)
		return 0;
	if (cfg->masq_classes & CLEANUP_MASQ_HDR_SENDER)
		for (const char *const *n = senders; *n && !wanted; n++)
			wanted = cleanup_field_is(text, len, *n);
	if (cfg->masq_classes & CLEANUP_MASQ_HDR_RCPT)
		for (const char *const *n = rcpts; *n && !wanted; n++)
			wanted = cleanup_field_is(text, len, *n);
	if (!wanted)
		return 0;
	v = field_value(text, len);
	buf_reset(out);
	buf_append(out, text, v);
	return masq_value(cfg, text + v, len - v, out) ? 1 : 0;
}

/* ---- From: screening --------------------------------------------------- */

/* fs_box - one mailbox of a From: field */
struct fs_box {
	size_t start, end;		/* its text in the unfolded value */
	char display[FS_DISPLAY_MAX];	/* decoded display name (or comment) */
	size_t dlen;
	char addr[FS_ADDR_MAX];
	size_t alen;
	char fake[FS_ADDR_MAX];		/* the address in the display name, if any */
	bool suspicious;		/* ... and it is not addr */
};

/* fs_put - append bytes to a bounded text (silently cut) */
static void fs_put(char *dst, size_t *len, size_t size, const char *p, size_t n)
{
	if (*len + n >= size)
		n = size - 1 - *len;
	memcpy(dst + *len, p, n);
	*len += n;
	dst[*len] = '\0';
}

/* fs_b64 - value of a base64 digit, or -1 */
static int fs_b64(char c)
{
	const char *digits = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *p = c ? strchr(digits, c) : NULL;

	return p ? (int) (p - digits) : -1;
}

/* fs_decode_word - an RFC 2047 encoded word w[0..n) decoded into out; false when it is none */
static bool fs_decode_word(const char *w, size_t n, char *out, size_t *olen, size_t size)
{
	const char *q1, *q2, *text;
	size_t tlen;
	char enc;

	if (n < 8 || w[0] != '=' || w[1] != '?' || w[n - 2] != '?' || w[n - 1] != '=')
		return false;
	if ((q1 = memchr(w + 2, '?', n - 4)) == NULL || (size_t) (q1 - w) + 3 > n - 2 || q1[2] != '?')
		return false;
	enc = (char) (q1[1] | 0x20);
	if (enc != 'b' && enc != 'q')
		return false;
	text = q1 + 3;
	q2 = w + n - 2;
	tlen = (size_t) (q2 - text);
	if (enc == 'q') {
		for (size_t i = 0; i < tlen; i++) {
			char c = text[i];

			if (c == '_')
				c = ' ';
			else if (c == '=' && i + 2 < tlen && str_hexval(text[i + 1]) >= 0
				 && str_hexval(text[i + 2]) >= 0) {
				c = (char) (str_hexval(text[i + 1]) * 16 + str_hexval(text[i + 2]));
				i += 2;
			}
			fs_put(out, olen, size, &c, 1);
		}
	} else {
		unsigned acc = 0;
		int bits = 0;

		for (size_t i = 0; i < tlen && text[i] != '='; i++) {
			int d = fs_b64(text[i]);

			if (d < 0)
				return false;
			acc = (acc << 6) | (unsigned) d;
			bits += 6;
			if (bits >= 8) {
				char c = (char) ((acc >> (bits - 8)) & 0xff);

				bits -= 8;
				fs_put(out, olen, size, &c, 1);
			}
		}
	}
	return true;
}

/* fs_special - ends an atom in a From: value */
static bool fs_special(char c)
{
	return c == ' ' || c == '\t' || c == ',' || c == ';' || c == ':' || c == '<' || c == '>'
	       || c == '(' || c == ')' || c == '"';
}

/* fs_parse_box - one mailbox at v[*pos]; its display name decoded */
static void fs_parse_box(const char *v, size_t n, size_t *pos, struct fs_box *b)
{
	char phrase[FS_DISPLAY_MAX], comment[FS_DISPLAY_MAX];
	size_t plen = 0, clen = 0, i = *pos;
	bool angle = false, prev_encoded = false;

	phrase[0] = comment[0] = '\0';
	memset(b, 0, sizeof(*b));
	b->start = i;
	while (i < n && v[i] != ',') {
		if (v[i] == '"') {
			size_t j = masq_skip_quoted(v, n, i);

			if (plen > 0)
				fs_put(phrase, &plen, sizeof(phrase), " ", 1);
			for (size_t k = i + 1; k < j - 1 && k < n; k++) {
				if (v[k] == '\\' && k + 1 < j - 1)
					k++;
				fs_put(phrase, &plen, sizeof(phrase), v + k, 1);
			}
			prev_encoded = false;
			i = j;
		} else if (v[i] == '(') {
			size_t j = masq_skip_quoted(v, n, i);

			if (clen > 0)
				fs_put(comment, &clen, sizeof(comment), " ", 1);
			if (j > i + 1)
				fs_put(comment, &clen, sizeof(comment), v + i + 1, j - i - (v[j - 1] == ')' ? 2 : 1));
			i = j;
		} else if (v[i] == '<') {
			const char *gt = memchr(v + i, '>', n - i);
			size_t j = gt ? (size_t) (gt - v) : n;

			if (!angle)
				fs_put(b->addr, &b->alen, sizeof(b->addr), v + i + 1, j - i - 1);
			angle = true;
			i = gt ? j + 1 : n;
		} else if (v[i] == ':') {	/* group "name: a, b;": the name is no display name */
			plen = 0;
			phrase[0] = '\0';
			i++;
		} else if (fs_special(v[i])) {
			i++;
		} else {
			size_t j = i;
			bool encoded, spaced = plen > 0;
			size_t before = plen;

			while (j < n && !fs_special(v[j]))
				j++;
			if (spaced)
				fs_put(phrase, &plen, sizeof(phrase), " ", 1);
			encoded = fs_decode_word(v + i, j - i, phrase, &plen, sizeof(phrase));
			if (encoded && prev_encoded && spaced && plen > before) {	/* RFC 2047: no space between encoded words */
				size_t wlen = plen - before - 1;

				memmove(phrase + before, phrase + before + 1, wlen);
				plen = before + wlen;
				phrase[plen] = '\0';
			}
			if (!encoded)
				fs_put(phrase, &plen, sizeof(phrase), v + i, j - i);
			prev_encoded = encoded;
			i = j;
		}
	}
	b->end = i;
	while (b->end > b->start && (v[b->end - 1] == ' ' || v[b->end - 1] == '\t'))
		b->end--;
	if (angle) {
		fs_put(b->display, &b->dlen, sizeof(b->display), phrase, plen);
	} else {
		/* addr-spec alone: the phrase is the address, a comment the old-style name */
		for (size_t k = 0; k < plen; k++)
			if (phrase[k] != ' ')
				fs_put(b->addr, &b->alen, sizeof(b->addr), phrase + k, 1);
		fs_put(b->display, &b->dlen, sizeof(b->display), comment, clen);
	}
	*pos = i;
}

/* fs_local_char - may be in the local part of an address as people write it */
static bool fs_local_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
	       || c == '_' || c == '%' || c == '+' || c == '-' || c == '\'';
}

/* fs_domain_char - may be in a domain name */
static bool fs_domain_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.'
	       || c == '-';
}

/* fs_find_addr - the first thing in text that looks like an address, into out; false: none */
static bool fs_find_addr(const char *text, size_t len, char *out, size_t size)
{
	for (size_t at = 0; at < len; at++) {
		size_t l = at, r = at + 1, dot = 0;

		if (text[at] != '@')
			continue;
		while (l > 0 && fs_local_char(text[l - 1]))
			l--;
		while (r < len && fs_domain_char(text[r]))
			r++;
		while (r > at + 1 && (text[r - 1] == '.' || text[r - 1] == '-'))
			r--;		/* "a@b.com." at the end of a sentence */
		for (size_t k = at + 1; k < r; k++)
			if (text[k] == '.')
				dot = k;
		if (l == at || dot == 0 || dot == at + 1 || r - dot - 1 < 2)
			continue;
		if (r - l >= size)
			continue;
		memcpy(out, text + l, r - l);
		out[r - l] = '\0';
		return true;
	}
	return false;
}

/* fs_suspicious - the display name names another address than the mailbox's own */
static bool fs_suspicious(struct fs_box *b)
{
	char addr[FS_ADDR_MAX];
	size_t s = 0, e = b->alen;

	if (b->alen == 0 || !fs_find_addr(b->display, b->dlen, b->fake, sizeof(b->fake)))
		return false;
	while (s < e && (b->addr[s] == ' ' || b->addr[s] == '\t'))
		s++;
	while (e > s && (b->addr[e - 1] == ' ' || b->addr[e - 1] == '\t'))
		e--;
	memcpy(addr, b->addr + s, e - s);
	addr[e - s] = '\0';
	return strcasecmp(addr, b->fake) != 0;
}

/* fs_put_quoted - text as the inside of a quoted string: '"' and '\' escaped, controls and 8-bit as '?' */
static void fs_put_quoted(struct buf *out, const char *text, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) text[i];

		if (c == '"' || c == '\\')
			buf_putc(out, '\\');
		buf_putc(out, c < 0x20 || c >= 0x7f ? '?' : c);
	}
}

/* fs_rewrite_box - "boss at example.com (via x@evil.test)" <x@evil.test> */
static void fs_rewrite_box(const struct fs_box *b, struct buf *out)
{
	char shown[FS_SHOWN_MAX * 4];
	size_t slen = 0;

	for (size_t i = 0; i < b->dlen && slen < FS_SHOWN_MAX; i++) {
		if (b->display[i] == '@')
			fs_put(shown, &slen, sizeof(shown), " at ", 4);
		else
			fs_put(shown, &slen, sizeof(shown), b->display + i, 1);
	}
	buf_putc(out, '"');
	fs_put_quoted(out, shown, slen);
	buf_puts(out, " (via ");
	fs_put_quoted(out, b->addr, b->alen);
	buf_puts(out, ")\" <");
	buf_append(out, b->addr, b->alen);
	buf_putc(out, '>');
}

/* fs_unfold - the value of a field without its line ends */
static void fs_unfold(const char *text, size_t len, struct buf *out)
{
	size_t v = field_value(text, len);

	for (size_t i = v; i < len; i++)
		if (text[i] != '\n' && text[i] != '\r')
			buf_putc(out, text[i]);
}

/* fs_tag - put from_screen_tag before the Subject: (or add one) */
static void fs_tag(struct cleanup_msg *m)
{
	const char *tag = m->cfg->from_screen_tag ? m->cfg->from_screen_tag : "";
	struct buf line;

	buf_init(&line, 0);
	for (size_t i = 0; i < m->nhlines; i++) {
		struct cleanup_hline *h = &m->hlines[i];
		size_t v, s;

		if (!cleanup_field_is(h->text, h->len, "subject"))
			continue;
		v = field_value(h->text, h->len);
		for (s = v; s < h->len && (h->text[s] == ' ' || h->text[s] == '\t'); s++)
			;
		if (strncmp(h->text + s, tag, strlen(tag)) == 0) {
			buf_free(&line);
			return;		/* tagged already */
		}
		buf_append(&line, h->text, v);
		buf_printf(&line, " %s ", tag);
		buf_append(&line, h->text + s, h->len - s);
		free(h->text);
		h->len = line.len;
		h->text = buf_steal(&line);
		buf_free(&line);
		return;
	}
	buf_printf(&line, "Subject: %s\n", tag);
	cleanup_msg_keep_header(m, line.data, line.len);
	buf_free(&line);
}

/* fs_screen - From: screening over the held-back fields; -1 refused */
static int fs_screen(struct cleanup_msg *m)
{
	static struct fs_box boxes[FS_BOXES_MAX];	/* one message at a time per process */
	struct cleanup_hline *from = NULL;
	enum cleanup_from_screen action = m->cfg->from_screen;
	struct buf value, out;
	size_t nbox = 0, pos = 0, first = FS_BOXES_MAX;
	char why[2 * FS_ADDR_MAX + 64];
	const char *verb;

	if (action == CLEANUP_FROM_SCREEN_NONE || m->authenticated || !m->local_rcpt)
		return 0;
	for (size_t i = 0; i < m->nhlines && from == NULL; i++)
		if (cleanup_field_is(m->hlines[i].text, m->hlines[i].len, "from"))
			from = &m->hlines[i];
	if (from == NULL)
		return 0;
	buf_init(&value, 0);
	fs_unfold(from->text, from->len, &value);
	while (pos < value.len && nbox < FS_BOXES_MAX) {
		while (pos < value.len && (value.data[pos] == ',' || value.data[pos] == ' ' || value.data[pos] == '\t'))
			pos++;
		if (pos >= value.len)
			break;
		fs_parse_box(value.data, value.len, &pos, &boxes[nbox]);
		boxes[nbox].suspicious = fs_suspicious(&boxes[nbox]);
		if (boxes[nbox].suspicious && first == FS_BOXES_MAX)
			first = nbox;
		nbox++;
	}
	if (first == FS_BOXES_MAX) {
		buf_free(&value);
		return 0;
	}
	if (action == CLEANUP_FROM_SCREEN_REWRITE && value.len > FS_REWRITE_MAX)
		action = CLEANUP_FROM_SCREEN_TAG;
	verb = action == CLEANUP_FROM_SCREEN_REJECT ? "from screen: reject"
	       : action == CLEANUP_FROM_SCREEN_TAG ? "from screen: tag" : "from screen: rewrite";
	str_fmt(why, sizeof(why), "display name %s is not the address %.*s", boxes[first].fake,
		(int) boxes[first].alen, boxes[first].addr);
	cleanup_check_log(m, verb, "header", from->text, from->len, why);
	if (action == CLEANUP_FROM_SCREEN_REJECT) {
		buf_free(&value);
		cleanup_msg_reject(m, "5.7.1", "Error: the From: display name is another address than the sender's");
		return -1;
	}
	if (action == CLEANUP_FROM_SCREEN_TAG) {
		buf_free(&value);
		fs_tag(m);
		return 0;
	}
	buf_init(&out, 0);
	buf_append(&out, from->text, field_value(from->text, from->len));
	for (size_t i = 0; i < nbox; i++) {
		buf_puts(&out, i == 0 ? " " : ",\n\t");
		if (boxes[i].suspicious)
			fs_rewrite_box(&boxes[i], &out);
		else
			buf_append(&out, value.data + boxes[i].start, boxes[i].end - boxes[i].start);
	}
	buf_putc(&out, '\n');
	free(from->text);
	from->len = out.len;
	from->text = buf_steal(&out);
	buf_free(&out);
	buf_free(&value);
	return 0;
}

/* screen_country - drop origin country fields the client sent, when we add ours */
static void screen_country(struct cleanup_msg *m)
{
	const char *name = m->cfg->country_header;
	size_t kept = 0;

	if (m->country[0] == '\0' || name == NULL || *name == '\0')
		return;
	for (size_t i = 0; i < m->nhlines; i++) {
		if (cleanup_field_is(m->hlines[i].text, m->hlines[i].len, name)) {
			msg_info("%s: removed a %s: field that came with the message", m->qid, name);
			m->hlines_bytes -= m->hlines[i].len;
			free(m->hlines[i].text);
			continue;
		}
		m->hlines[kept++] = m->hlines[i];
	}
	m->nhlines = kept;
}

/* cleanup_screen_header - the held-back header at its end */
int cleanup_screen_header(struct cleanup_msg *m)
{
	if (m->stat != CLEANUP_STAT_OK)
		return -1;
	screen_country(m);
	if (m->checks_done && m->discard)
		return 0;
	return fs_screen(m);
}
