/*
 * cleanup_header - the content filter between the source's stream and the
 * queue file: CRLF to LF, the end of the header section, and what cleanup
 * needs to know about the header (see struct cleanup_hdr in cleanup.h).
 *
 * Input arrives in pieces of any size, so every decision is made one byte
 * at a time where needed and carried across pieces: a CR at the end of a
 * piece waits for the next one (cr_pending); the start of a header line
 * is held back in peek[] until it is known to be a field ("Name:", with
 * white space allowed before the colon as RFC 5322 section 4.5.3 has it),
 * a continuation line, or something else, which ends the header section.
 * Body lines go out in one call each, line end included, from the input
 * as it is (no copy here).
 *
 * Invariants: the output holds no CR and every line ends in LF once
 * cleanup_hdr_finish has run; bytes are never dropped, reordered or
 * split across lines (a stray CR or LF becomes one space); in_header
 * goes from true to false exactly once, and header_end runs exactly then.
 * A header line is limited only by the queue file's QFILE_HEADER_LINE_MAX:
 * over it the filter stops (too_long) rather than cut or split the line.
 */
#include <string.h>
#include <strings.h>

#include "cleanup.h"

enum { PEEK_START, PEEK_NAME, PEEK_WSP, PEEK_DONE };
enum { CL_MORE, CL_FIELD, CL_CONT, CL_OTHER };

/* cleanup_hdr_init - ready for the first byte of a message */
void cleanup_hdr_init(struct cleanup_hdr *h, int (*out)(void *, const char *, size_t),
		      int (*header_end)(void *), void *ctx)
{
	memset(h, 0, sizeof(*h));
	h->out = out;
	h->header_end = header_end;
	h->ctx = ctx;
	h->in_header = true;
	h->line_start = true;
	h->first_line = true;
	h->peek_state = PEEK_START;
}

/* hdr_out - output n bytes (n may be 0), noting whether a line ended */
static int hdr_out(struct cleanup_hdr *h, const char *p, size_t n)
{
	if (n == 0)
		return 0;
	h->line_start = p[n - 1] == '\n';
	return h->out(h->ctx, p, n);
}

/* hdr_msgid_add - keep part of the Message-ID: value (line ends are not given here) */
static void hdr_msgid_add(struct cleanup_hdr *h, const char *p, size_t n)
{
	size_t room = CLEANUP_MSGID_MAX - h->msgid_len;

	if (n > room)
		n = room;
	memcpy(h->msgid + h->msgid_len, p, n);
	h->msgid_len += n;
	h->msgid[h->msgid_len] = '\0';
}

/* hdr_msgid_end - the Message-ID: field is over: trim, make printable */
static void hdr_msgid_end(struct cleanup_hdr *h)
{
	size_t start = 0, end = h->msgid_len;

	if (!h->in_msgid)
		return;
	h->in_msgid = false;
	while (start < end && (h->msgid[start] == ' ' || h->msgid[start] == '\t'))
		start++;
	while (end > start && (h->msgid[end - 1] == ' ' || h->msgid[end - 1] == '\t'))
		end--;
	memmove(h->msgid, h->msgid + start, end - start);
	h->msgid_len = end - start;
	h->msgid[h->msgid_len] = '\0';
	for (size_t i = 0; i < h->msgid_len; i++)
		if ((unsigned char) h->msgid[i] < ' ' || h->msgid[i] == 0x7f)
			h->msgid[i] = '?';
}

/* hdr_end - the header section is over (before its empty line, if any) */
static int hdr_end(struct cleanup_hdr *h)
{
	hdr_msgid_end(h);
	h->in_header = false;
	h->peek_state = PEEK_DONE;
	return h->header_end ? h->header_end(h->ctx) : 0;
}

/* hdr_is_ftext - RFC 5322 field name character */
static bool hdr_is_ftext(unsigned char c)
{
	return c >= 33 && c <= 126 && c != ':';
}

/* hdr_classify - take one more byte of a line start: what the line is so far */
static int hdr_classify(struct cleanup_hdr *h, unsigned char c)
{
	bool wsp = c == ' ' || c == '\t';

	if (h->peek_len >= sizeof(h->peek) - 1)
		return CL_OTHER;
	switch (h->peek_state) {
	case PEEK_START:
		if (wsp)	/* our own Received: must never get a continuation */
			return h->first_line ? CL_OTHER : CL_CONT;
		if (!hdr_is_ftext(c))
			return CL_OTHER;
		h->peek_state = PEEK_NAME;
		return CL_MORE;
	case PEEK_NAME:
		if (c == ':')
			return CL_FIELD;
		if (wsp) {
			h->peek_state = PEEK_WSP;
			return CL_MORE;
		}
		return hdr_is_ftext(c) ? CL_MORE : CL_OTHER;
	default:		/* PEEK_WSP */
		if (c == ':')
			return CL_FIELD;
		return wsp ? CL_MORE : CL_OTHER;
	}
}

/* hdr_name_is - the field name held in peek[] is name (any case) */
static bool hdr_name_is(const struct cleanup_hdr *h, const char *name)
{
	size_t n = strcspn(h->peek, " \t:");

	return n == strlen(name) && strncasecmp(h->peek, name, n) == 0;
}

/* hdr_field - peek[] holds "Name:": note the field, let the line start out */
static int hdr_field(struct cleanup_hdr *h)
{
	h->peek[h->peek_len] = '\0';
	hdr_msgid_end(h);
	h->first_line = false;
	h->peek_state = PEEK_DONE;
	if (hdr_name_is(h, "received")) {
		h->received++;
	} else if (hdr_name_is(h, "message-id")) {
		h->in_msgid = !h->saw_msgid;
		h->saw_msgid = true;
	} else if (hdr_name_is(h, "date")) {
		h->saw_date = true;
	}
	return hdr_out(h, h->peek, h->peek_len);
}

/* hdr_other - a line that is neither field nor continuation ends the header */
static int hdr_other(struct cleanup_hdr *h)
{
	if (hdr_end(h) < 0 || hdr_out(h, "\n", 1) < 0)
		return -1;
	return hdr_out(h, h->peek, h->peek_len);
}

/* hdr_bytes - n bytes of the current line, none of them CR or LF */
static int hdr_bytes(struct cleanup_hdr *h, const char *p, size_t n)
{
	size_t i = 0;

	if (!h->in_header)
		return hdr_out(h, p, n);
	h->line_start = false;
	while (i < n && h->peek_state != PEEK_DONE) {
		switch (hdr_classify(h, (unsigned char) p[i])) {
		case CL_MORE:
			h->peek[h->peek_len++] = p[i++];
			break;
		case CL_FIELD:
			h->peek[h->peek_len++] = p[i++];
			if (hdr_field(h) < 0)
				return -1;
			break;
		case CL_CONT:
			h->peek_state = PEEK_DONE;
			break;
		default:
			if (hdr_other(h) < 0)
				return -1;
			return hdr_out(h, p + i, n - i);
		}
	}
	if (h->line_len + n > QFILE_HEADER_LINE_MAX) {
		h->too_long = true;
		return -1;
	}
	h->line_len += n;
	if (h->in_msgid)
		hdr_msgid_add(h, p + i, n - i);
	return hdr_out(h, p + i, n - i);
}

/* hdr_eol - the current line ends */
static int hdr_eol(struct cleanup_hdr *h)
{
	if (!h->in_header)
		return hdr_out(h, "\n", 1);
	if (h->peek_state == PEEK_START && h->peek_len == 0) {
		/* the empty line between header and body */
		if (hdr_end(h) < 0)
			return -1;
	} else if (h->peek_state != PEEK_DONE) {
		/* "Word" alone on a line: not a field */
		if (hdr_other(h) < 0)
			return -1;
	} else if (h->line_len > CLEANUP_LINE_RFC) {
		h->long_lines++;
	}
	if (hdr_out(h, "\n", 1) < 0)
		return -1;
	h->line_len = 0;
	h->peek_len = 0;
	if (h->in_header)
		h->peek_state = PEEK_START;
	return 0;
}

/* hdr_stray - a CR or LF that is not part of CRLF becomes a space */
static int hdr_stray(struct cleanup_hdr *h)
{
	h->stray++;
	return hdr_bytes(h, " ", 1);
}

/* hdr_body - body bytes: one output call per line, line end included */
static int hdr_body(struct cleanup_hdr *h, const char *p, const char *end)
{
	const char *span = p;

	while (p < end) {
		const char *q = p;

		while (q < end && *q != '\r' && *q != '\n')
			q++;
		if (q == end)
			break;
		if (*q == '\r' && q + 1 == end) {
			h->cr_pending = true;
			return hdr_out(h, span, (size_t) (q - span));
		}
		if (*q == '\r' && q[1] == '\n') {
			/* the LF starts the next span: CR dropped, no copy */
			if (hdr_out(h, span, (size_t) (q - span)) < 0)
				return -1;
			span = q + 1;
			p = q + 2;
			continue;
		}
		if (hdr_out(h, span, (size_t) (q - span)) < 0 || hdr_out(h, " ", 1) < 0)
			return -1;
		h->stray++;
		span = p = q + 1;
	}
	return hdr_out(h, span, (size_t) (end - span));
}

/* cleanup_hdr_feed - filter the next piece of content */
int cleanup_hdr_feed(struct cleanup_hdr *h, const char *p, size_t n)
{
	const char *end = p + n;

	if (h->too_long)
		return -1;
	if (h->cr_pending && n > 0) {
		h->cr_pending = false;
		if (*p == '\n') {
			if (hdr_eol(h) < 0)
				return -1;
			p++;
		} else if (hdr_stray(h) < 0) {
			return -1;
		}
	}
	while (p < end && h->in_header) {
		const char *q = p;

		while (q < end && *q != '\r' && *q != '\n')
			q++;
		if (q > p && hdr_bytes(h, p, (size_t) (q - p)) < 0)
			return -1;
		if (q == end)
			return 0;
		if (*q == '\r' && q + 1 == end) {
			h->cr_pending = true;
			return 0;
		}
		if (*q == '\r' && q[1] == '\n') {
			if (hdr_eol(h) < 0)
				return -1;
			p = q + 2;
		} else {
			if (hdr_stray(h) < 0)
				return -1;
			p = q + 1;
		}
	}
	return p < end ? hdr_body(h, p, end) : 0;
}

/* cleanup_hdr_finish - end of content */
int cleanup_hdr_finish(struct cleanup_hdr *h)
{
	if (h->too_long)
		return -1;
	if (h->cr_pending) {
		h->cr_pending = false;
		if (hdr_stray(h) < 0)
			return -1;
	}
	if (!h->line_start && hdr_eol(h) < 0)
		return -1;
	if (h->in_header && hdr_end(h) < 0)
		return -1;
	return 0;
}
