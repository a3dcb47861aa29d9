/*
 * sendmail_msg - one message as sendmail reads it, and the header
 * fix-ups of local submission.
 *
 * Line ends. Local programs write LF line ends; cleanup wants CRLF. A
 * line ends at LF; a CR right before that LF belongs to the line end
 * (so CRLF input stays as it is). Any other CR - a bare CR - is
 * replaced by a space: it can never become a line end further on, and
 * the text stays readable (the choice of Postfix's
 * cleanup_replace_stray_cr_lf). The last line gets its CRLF even when
 * the input did not end with LF. Unless -i, a line holding only "."
 * ends the input, as it did in Sendmail; with -i such a line is content
 * (cleanup and the SMTP client dot-stuff it).
 *
 * Limits: the whole content, CRLFs included, is at most
 * message_size_limit bytes (1 GiB when that is 0, "no limit": the
 * message is held in memory); more is EX_DATAERR. Nothing is cut.
 *
 * Headers. The header section is the run of header fields ("Name:" and
 * continuation lines) at the start, up to an empty line or the first
 * line that is not a header field. A leading mbox "From " line is
 * dropped. With -t the recipients come from To:, Cc: and Bcc: - or from
 * Resent-To:, Resent-Cc: and Resent-Bcc: when the message has any of
 * those - in addition to the command line (as in Postfix). Bcc: and
 * Resent-Bcc: are always removed. A message without From: gets one from
 * the envelope sender and the full name (-F, else $NAME); cleanup adds
 * Message-ID: and Date:. When the body follows the headers without an
 * empty line, one is inserted.
 */
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/mem.h"
#include "base/str.h"
#include "mail/cleanup_proto.h"
#include "mail/domain.h"
#include "sendmail.h"

#define SENDMAIL_READ_CHUNK	65536
#define SENDMAIL_WORD_BYTES	45	/* text bytes per RFC 2047 encoded-word */

/* sendmail_msg_init - an empty message with a size limit */
void sendmail_msg_init(struct sendmail_msg *m, size_t limit)
{
	buf_init(&m->content, limit);
	m->too_big = false;
	m->eight_bit = false;
}

/* sendmail_msg_free - release the content */
void sendmail_msg_free(struct sendmail_msg *m)
{
	buf_free(&m->content);
}

/* sendmail_msg_line - one line, without its line end */
void sendmail_msg_line(struct sendmail_msg *m, const char *p, size_t n)
{
	size_t start = m->content.len;

	if (m->too_big)
		return;
	if (buf_append(&m->content, p, n) < 0 || buf_append(&m->content, "\r\n", 2) < 0) {
		buf_truncate(&m->content, start);
		m->too_big = true;
		return;
	}
	for (size_t i = start; i < start + n; i++) {
		unsigned char c = (unsigned char) m->content.data[i];

		if (c == '\r')
			m->content.data[i] = ' ';
		else if (c >= 0x80)
			m->eight_bit = true;
	}
}

/* sendmail_msg_input_line - a line as read: the CR of CRLF dropped; true when it ends the input */
static bool sendmail_msg_input_line(struct sendmail_msg *m, const char *p, size_t n, bool ignore_dots)
{
	if (n > 0 && p[n - 1] == '\r')
		n--;
	if (!ignore_dots && n == 1 && p[0] == '.')
		return true;
	sendmail_msg_line(m, p, n);
	return false;
}

/* sendmail_msg_read - the message from fd */
int sendmail_msg_read(struct sendmail_msg *m, int fd, bool ignore_dots, char *err, size_t errlen)
{
	char *chunk = xmalloc(SENDMAIL_READ_CHUNK);
	struct buf part;		/* a line that began in an earlier chunk */
	bool done = false;
	int ret = EX_OK;

	buf_init(&part, m->content.limit ? m->content.limit : 0);
	while (!done && !m->too_big) {
		ssize_t n = read(fd, chunk, SENDMAIL_READ_CHUNK);
		const char *p = chunk, *end, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			str_fmt(err, errlen, "read error on standard input: %s", strerror(errno));
			ret = EX_IOERR;
			break;
		}
		if (n == 0) {
			if (part.len > 0)
				sendmail_msg_input_line(m, part.data, part.len, ignore_dots);
			break;
		}
		end = chunk + n;
		while (!done && !m->too_big && (nl = memchr(p, '\n', (size_t) (end - p))) != NULL) {
			if (part.len > 0) {
				if (buf_append(&part, p, (size_t) (nl - p)) < 0)
					m->too_big = true;
				else
					done = sendmail_msg_input_line(m, part.data, part.len, ignore_dots);
				buf_reset(&part);
			} else {
				done = sendmail_msg_input_line(m, p, (size_t) (nl - p), ignore_dots);
			}
			p = nl + 1;
		}
		if (!done && p < end && buf_append(&part, p, (size_t) (end - p)) < 0)
			m->too_big = true;
	}
	if (m->too_big) {
		str_fmt(err, errlen, "message too large: more than %zu bytes (message_size_limit)",
			m->content.limit);
		ret = EX_DATAERR;
	}
	buf_free(&part);
	free(chunk);
	return ret;
}

/* one header field inside the content */
struct sendmail_msg_field {
	size_t start, end;		/* bytes [start, end), CRLFs of all its lines included */
	size_t name_len;
	size_t value;			/* offset of the value, after the ':' */
};

/* sendmail_msg_field_name - length of the "Name" of a field line, or 0 when it is not one */
static size_t sendmail_msg_field_name(const char *p, size_t n)
{
	size_t i = 0, name;

	while (i < n && p[i] >= 0x21 && p[i] <= 0x7e && p[i] != ':')
		i++;
	name = i;
	while (i < n && (p[i] == ' ' || p[i] == '\t'))
		i++;
	return name > 0 && i < n && p[i] == ':' ? name : 0;
}

/* sendmail_msg_field_is - is the field called name (any case)? */
static bool sendmail_msg_field_is(const struct buf *c, const struct sendmail_msg_field *f, const char *name)
{
	return f->name_len == strlen(name) && strncasecmp(c->data + f->start, name, f->name_len) == 0;
}

/* sendmail_msg_phrase - the display name for From:, encoded for a header */
static void sendmail_msg_phrase(struct buf *out, const char *name)
{
	struct buf clean = BUF_INIT;
	bool ascii = true, atoms = true;
	const char *s;

	buf_init(&clean, 0);
	for (s = name; *s; s++) {
		unsigned char c = (unsigned char) *s;

		buf_putc(&clean, c < 0x20 || c == 0x7f ? ' ' : c);
		if (c >= 0x80)
			ascii = false;
		else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			   c == ' ' || strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL))
			atoms = false;
	}
	s = str_trim(clean.data ? clean.data : (char *) "");
	if (*s == '\0') {
		buf_free(&clean);
		return;
	}
	if (ascii && atoms) {
		buf_puts(out, s);
	} else if (ascii) {
		buf_putc(out, '"');
		for (; *s; s++) {
			if (*s == '"' || *s == '\\')
				buf_putc(out, '\\');
			buf_putc(out, *s);
		}
		buf_putc(out, '"');
	} else {
		/* RFC 2047 encoded-words of whole UTF-8 characters, one per folded line */
		size_t len = strlen(s);
		bool first = true;

		while (len > 0) {
			unsigned char b64[4 * ((SENDMAIL_WORD_BYTES + 2) / 3) + 1];
			size_t take = 0;

			while (take < len) {
				uint32_t cp;
				int k = domain_utf8_next(s + take, len - take, &cp);

				if (k < 1)
					k = 1;		/* not UTF-8: one byte at a time */
				if (take + (size_t) k > SENDMAIL_WORD_BYTES && take > 0)
					break;
				take += (size_t) k;
			}
			EVP_EncodeBlock(b64, (const unsigned char *) s, (int) take);
			buf_printf(out, "%s=?UTF-8?B?%s?=", first ? "" : "\r\n ", b64);
			first = false;
			s += take;
			len -= take;
		}
	}
	buf_free(&clean);
}

/* sendmail_msg_from - the From: header for a message without one */
static void sendmail_msg_from(const struct sendmail *sm, const char *sender, struct buf *out)
{
	size_t before;

	buf_puts(out, "From: ");
	before = out->len;
	if (sm->full_name != NULL)
		sendmail_msg_phrase(out, sm->full_name);
	if (out->len > before)
		buf_printf(out, " <%s>\r\n", sender);
	else
		buf_printf(out, "%s\r\n", sender);
}

/* sendmail_msg_headers_utf8 - non-ASCII in the headers, all of it valid UTF-8 */
static bool sendmail_msg_headers_utf8(const char *p, size_t n)
{
	bool any = false;

	for (size_t i = 0; i < n; ) {
		uint32_t cp;
		int k;

		if ((unsigned char) p[i] < 0x80) {
			i++;
			continue;
		}
		if ((k = domain_utf8_next(p + i, n - i, &cp)) < 0)
			return false;
		any = true;
		i += (size_t) k;
	}
	return any;
}

/* sendmail_msg_finish - header fix-ups and recipient extraction */
int sendmail_msg_finish(const struct sendmail *sm, struct sendmail_msg *m, struct sendmail_env *env,
			bool extract, char *err, size_t errlen)
{
	const struct buf *c = &m->content;
	struct sendmail_msg_field *fields = NULL;
	size_t nfields = 0, cap = 0, pos = 0, body;
	bool sep = false, have_from = false, resent = false;
	struct buf out;
	int ret = EX_OK;

	/* a leading mbox "From " line */
	if (c->len >= 5 && memcmp(c->data, "From ", 5) == 0)
		pos = (size_t) ((char *) memmem(c->data, c->len, "\r\n", 2) - c->data) + 2;
	/* the header section */
	for (;;) {
		const char *line = c->data + pos;
		const char *crlf = pos < c->len ? memmem(line, c->len - pos, "\r\n", 2) : NULL;
		size_t n, name;

		if (crlf == NULL)
			break;
		n = (size_t) (crlf - line);
		if (n == 0) {
			sep = true;
			pos += 2;
			break;
		}
		if ((line[0] == ' ' || line[0] == '\t') && nfields > 0) {
			fields[nfields - 1].end = pos + n + 2;
		} else if ((name = sendmail_msg_field_name(line, n)) > 0) {
			if (nfields == cap) {
				cap = cap ? 2 * cap : 32;
				fields = xreallocarray(fields, cap, sizeof(*fields));
			}
			fields[nfields].start = pos;
			fields[nfields].end = pos + n + 2;
			fields[nfields].name_len = name;
			fields[nfields].value = pos + (size_t) ((const char *) memchr(line, ':', n) - line) + 1;
			nfields++;
		} else {
			break;		/* the body starts without an empty line */
		}
		pos += n + 2;
	}
	body = pos;
	if (fields != NULL && sendmail_msg_headers_utf8(c->data, fields[nfields - 1].end))
		env->flags |= CLEANUP_FLAG_SMTPUTF8;
	for (size_t i = 0; i < nfields; i++) {
		if (sendmail_msg_field_is(c, &fields[i], "From"))
			have_from = true;
		if (sendmail_msg_field_is(c, &fields[i], "Resent-To") ||
		    sendmail_msg_field_is(c, &fields[i], "Resent-Cc") ||
		    sendmail_msg_field_is(c, &fields[i], "Resent-Bcc"))
			resent = true;
	}
	buf_init(&out, 0);
	if (!have_from && env->sender[0] != '\0')
		sendmail_msg_from(sm, env->sender, &out);
	for (size_t i = 0; i < nfields && ret == EX_OK; i++) {
		const struct sendmail_msg_field *f = &fields[i];
		bool bcc = sendmail_msg_field_is(c, f, "Bcc") || sendmail_msg_field_is(c, f, "Resent-Bcc");

		if (extract && (resent ? (bcc || sendmail_msg_field_is(c, f, "Resent-To") ||
					  sendmail_msg_field_is(c, f, "Resent-Cc")) :
				(sendmail_msg_field_is(c, f, "To") || sendmail_msg_field_is(c, f, "Cc") ||
				 sendmail_msg_field_is(c, f, "Bcc"))))
			ret = sendmail_rcpt_list(sm, env, c->data + f->value, f->end - f->value, err, errlen);
		if (!bcc)
			buf_append(&out, c->data + f->start, f->end - f->start);
	}
	if (sep || body < c->len)
		buf_append(&out, "\r\n", 2);
	buf_append(&out, c->data + body, c->len - body);
	free(fields);
	if (m->eight_bit || sm->body_8bit)
		env->flags |= CLEANUP_FLAG_8BITMIME;
	/* the fix-ups add at most a From: line: allowed past the limit */
	buf_free(&m->content);
	m->content = out;
	return ret;
}
