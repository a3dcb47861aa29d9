/*
 * cleanup_received - the text cleanup adds to a message: the Received:
 * header (RFC 5321 section 4.4), and the Date: value it and the missing
 * Date: header use.
 *
 * The Received: header has Postfix's shape, folded before each clause so
 * that no line passes 78 columns for ordinary names:
 *
 *	Received: from HELO (CLIENT_NAME [CLIENT_ADDR])
 *		(using TLSv1.3 with cipher NAME (256/256 bits))
 *		by MYHOSTNAME (tern) with PROTOCOL id QUEUEID
 *		for <RCPT>; DATE
 *
 * The TLS comment only when TLS was used; "for <RCPT>" only with exactly
 * one recipient, and only when its line stays within the RFC 5322 limit
 * of 998 bytes (and the address is ASCII, unless SMTPUTF8). Without "for" the date goes on its own line after
 * "id QUEUEID;". Local mail (no client address) gets
 * "Received: by MYHOSTNAME (tern, from userid N)" and "id QUEUEID".
 * IPv6 client addresses are written as RFC 5321 literals [IPv6:...].
 * Names from the client are shown as words: control characters, space,
 * parentheses and backslash (and 8-bit bytes unless SMTPUTF8) become '?',
 * so a name can never end the comment or fold the header.
 *
 * Nothing here allocates or fails except by running out of the caller's
 * buffer: the functions then return -1 (the text was cut).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/str.h"
#include "cleanup.h"

/* rcv_buf - bounded appending into a caller's buffer */
struct rcv_buf {
	char *p;
	size_t len, size;
	bool cut;
};

/* rcv_put - append n bytes */
static void rcv_put(struct rcv_buf *b, const char *s, size_t n)
{
	if (b->cut || n >= b->size - b->len) {
		b->cut = true;
		return;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

/* rcv_puts - append a string */
static void rcv_puts(struct rcv_buf *b, const char *s)
{
	rcv_put(b, s, strlen(s));
}

/* rcv_word - append a name from outside as one safe word */
static void rcv_word(struct rcv_buf *b, const char *s, bool utf8)
{
	char c;

	if (s == NULL || *s == '\0')
		s = "unknown";
	for (size_t i = 0; s[i] != '\0' && i < CLEANUP_HOST_MAX; i++) {
		unsigned char u = (unsigned char) s[i];

		c = s[i];
		if (u <= ' ' || u == 0x7f || c == '(' || c == ')' || c == '\\' || (u >= 0x80 && !utf8))
			c = '?';
		rcv_put(b, &c, 1);
	}
}

/* rcv_addr_ok - an address that may appear in the header as it is */
static bool rcv_addr_ok(const char *a, bool utf8)
{
	for (; *a; a++)
		if ((unsigned char) *a < ' ' || *a == 0x7f || ((unsigned char) *a >= 0x80 && !utf8))
			return false;
	return true;
}

/* rcv_line_len - length of the last line in the buffer */
static size_t rcv_line_len(const struct rcv_buf *b)
{
	const char *nl = memrchr(b->p, '\n', b->len);

	return nl ? b->len - (size_t) (nl + 1 - b->p) : b->len;
}

/* cleanup_date_format - "Mon, 23 Nov 2026 11:33:00 +0100" in local time */
int cleanup_date_format(long long sec, char *buf, size_t size)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t t = (time_t) sec;
	struct tm tm;
	long off;

	if (localtime_r(&t, &tm) == NULL && gmtime_r(&t, &tm) == NULL)
		return -1;
	off = tm.tm_gmtoff / 60;
	return str_fmt(buf, size, "%s, %02d %s %d %02d:%02d:%02d %c%02ld%02ld",
		       days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
		       tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
		       (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
}

/* rcv_from - "from HELO (NAME [ADDR])" */
static void rcv_from(struct rcv_buf *b, const struct cleanup_rcv *r)
{
	const char *helo = r->helo && *r->helo ? r->helo : r->client_name;

	rcv_puts(b, "from ");
	rcv_word(b, helo, r->utf8);
	rcv_puts(b, " (");
	rcv_word(b, r->client_name, r->utf8);
	rcv_puts(b, " [");
	if (strchr(r->client_addr, ':') != NULL)
		rcv_puts(b, "IPv6:");
	rcv_word(b, r->client_addr, false);
	rcv_puts(b, "])");
}

/* cleanup_rcv_format - the whole Received: header, folded, LF line ends */
int cleanup_rcv_format(const struct cleanup_rcv *r, char *buf, size_t size)
{
	struct rcv_buf b = {buf, 0, size, size == 0};
	char num[64], date[64];
	bool remote = !r->local && r->client_addr != NULL && *r->client_addr != '\0';
	size_t mark;

	if (size > 0)
		buf[0] = '\0';
	if (cleanup_date_format(r->sec, date, sizeof(date)) < 0)
		return -1;
	rcv_puts(&b, "Received: ");
	if (remote) {
		rcv_from(&b, r);
		if (r->tls_proto && *r->tls_proto) {
			rcv_puts(&b, "\n\t(using ");
			rcv_word(&b, r->tls_proto, false);
			rcv_puts(&b, " with cipher ");
			rcv_word(&b, r->tls_cipher, false);
			if (r->tls_bits > 0) {
				str_fmt(num, sizeof(num), " (%lld/%lld bits)", r->tls_bits, r->tls_bits);
				rcv_puts(&b, num);
			}
			rcv_puts(&b, ")");
		}
		rcv_puts(&b, "\n\tby ");
		rcv_word(&b, r->myhostname, false);
		rcv_puts(&b, " (tern)");
		if (r->protocol && *r->protocol) {
			rcv_puts(&b, " with ");
			rcv_word(&b, r->protocol, false);
		}
		rcv_puts(&b, " id ");
	} else {
		rcv_puts(&b, "by ");
		rcv_word(&b, r->myhostname, false);
		if (r->have_uid) {
			str_fmt(num, sizeof(num), " (tern, from userid %lld)", r->uid);
			rcv_puts(&b, num);
		} else {
			rcv_puts(&b, " (tern)");
		}
		rcv_puts(&b, "\n\tid ");
	}
	rcv_puts(&b, r->qid);
	/* "for <rcpt>; date" on one line, if that line stays within the RFC limit */
	mark = b.len;
	if (r->rcpt != NULL && rcv_addr_ok(r->rcpt, r->utf8) && !b.cut) {
		rcv_puts(&b, "\n\tfor <");
		rcv_puts(&b, r->rcpt);
		rcv_puts(&b, ">; ");
		rcv_puts(&b, date);
		if (!b.cut && rcv_line_len(&b) <= CLEANUP_LINE_RFC) {
			rcv_puts(&b, "\n");
			return b.cut ? -1 : 0;
		}
		b.len = mark;
		b.cut = false;
		buf[mark] = '\0';
	}
	rcv_puts(&b, ";\n\t");
	rcv_puts(&b, date);
	rcv_puts(&b, "\n");
	return b.cut ? -1 : 0;
}
