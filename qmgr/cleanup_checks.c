/*
 * cleanup_checks - header_checks and body_checks (tern-checks(5)), as
 * Postfix's cleanup applies them.
 *
 * A header field is looked up unfolded: its line ends are removed and the
 * white space that starts each continuation line stays, so
 * "Subject: a\n\tb\n" is matched as "Subject: a\tb". A body line is
 * looked up without its line end. The first table that matches gives the
 * action (mail/header_checks.h). After a DISCARD or a REJECT nothing more
 * is checked. Every action is logged in Postfix's shape:
 *
 *	QUEUEID: reject: header Subject: buy now from client.test[127.0.0.2];
 *	    from=<a@client.test> to=<b@local.test> proto=ESMTP helo=<client.test>: 5.7.1 text
 *
 * with "body LINE" for body_checks. The line is shown cut to
 * CLEANUP_LOG_LINE_MAX bytes, control characters as '?'.
 *
 * REPLACE and PREPEND text for a header must itself be a header field
 * ("Name: value"); anything else is logged and ignored, so a table
 * mistake can never end the header early or smuggle body text into it.
 * Text from a table never holds a line end (table lines are joined), and
 * any other control character but tab becomes a space.
 *
 * A table that fails for now (a result too long, a database error)
 * refuses the message with 451 4.3.5: taking it unchecked could let
 * through what the administrator meant to stop.
 */
#include <stdio.h>
#include <string.h>

#include "base/buf.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/header_checks.h"
#include "mail/table.h"
#include "cleanup.h"

/* checks_show - a line for the log: cut, unfolded, controls as '?' */
static void checks_show(const char *line, size_t len, char *out, size_t size)
{
	size_t o = 0;

	for (size_t i = 0; i < len && o + 4 < size; i++) {
		unsigned char c = (unsigned char) line[i];

		if (c == '\n')
			continue;
		out[o++] = (c < 0x20 && c != '\t') || c == 0x7f ? '?' : (char) c;
	}
	if (len > 0 && o + 4 >= size) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* cleanup_check_log - the Postfix-shaped line of one action */
void cleanup_check_log(const struct cleanup_msg *m, const char *action, const char *what,
		       const char *line, size_t len, const char *text)
{
	char shown[CLEANUP_LOG_LINE_MAX + 4];
	const char *addr = m->client_addr && *m->client_addr ? m->client_addr : NULL;

	checks_show(line, len, shown, sizeof(shown));
	msg_info("%s: %s: %s %s from %s[%s]; from=<%s> to=<%s> proto=%s helo=<%s>%s%s",
		 m->qid[0] ? m->qid : "NOQUEUE", action, what, shown,
		 addr ? (m->client_name && *m->client_name ? m->client_name : "unknown") : "local",
		 addr ? addr : "127.0.0.1", m->sender ? m->sender : "", m->first_rcpt ? m->first_rcpt : "",
		 m->protocol && *m->protocol ? m->protocol : (addr ? "SMTP" : "local"),
		 m->helo ? m->helo : "", text && *text ? ": " : "", text ? text : "");
}

/* checks_clean_text - table text for the message: controls other than tab become spaces */
static void checks_clean_text(const char *text, struct buf *out)
{
	buf_reset(out);
	for (const char *p = text; *p; p++) {
		unsigned char c = (unsigned char) *p;

		if (buf_putc(out, (c < 0x20 && c != '\t') || c == 0x7f ? ' ' : c) < 0)
			break;
	}
}

/* checks_is_field - text is "Name: ..." with an RFC 5322 field name */
static bool checks_is_field(const char *text)
{
	size_t n = 0;

	while (text[n] > 32 && text[n] < 127 && text[n] != ':')
		n++;
	return n > 0 && text[n] == ':';
}

/*
 * checks_apply - look key up in tables and act on the result; line/len
 * is what the log shows, target the buffer REPLACE changes (with eol
 * appended for a header). 1 keep, 0 drop, -1 message failed.
 */
static int checks_apply(struct cleanup_msg *m, struct tables *tables, const char *param,
			const char *what, const char *key, struct buf *target, bool header)
{
	const char *value;
	char err[TABLE_ERR_SIZE], why[TABLE_ERR_SIZE + 64];
	struct hc_result res;
	struct buf text;
	int found, keep = 1;
	const char *t;
	char reply[CLEANUP_REPLY_TEXT_MAX + HC_DSN_SIZE + 2];

	found = tables_lookup(tables, key, &value, NULL, err, sizeof(err));
	if (found < 0) {
		str_fmt(why, sizeof(why), "%s: %s", param, err);
		cleanup_msg_fail(m, CLEANUP_STAT_TEMP, why);
		return -1;
	}
	if (found == 0)
		return 1;
	header_checks_parse(value, &res);
	buf_init(&text, TABLE_VALUE_MAX + 2);
	checks_clean_text(res.text, &text);
	t = buf_str(&text);
	if (header && (res.action == HC_REPLACE || res.action == HC_PREPEND) && !checks_is_field(t)) {
		msg_warn("%s: %s: %s text \"%.100s\" is not a header field (Name: value); ignored",
			 m->qid, param, header_checks_name(res.action), t);
		buf_free(&text);
		return 1;
	}
	switch (res.action) {
	case HC_NONE:
		break;
	case HC_REJECT:
		str_fmt(reply, sizeof(reply), "%s %s", res.dsn, *t ? t : HC_DEFAULT_TEXT);
		cleanup_check_log(m, "reject", what, key, strlen(key), reply);
		cleanup_msg_reject(m, res.dsn, t);
		keep = -1;
		break;
	case HC_DISCARD:
		cleanup_check_log(m, "discard", what, key, strlen(key), t);
		m->discard = true;
		m->checks_done = true;
		break;
	case HC_HOLD:
		cleanup_check_log(m, "hold", what, key, strlen(key), t);
		m->hold_wanted = true;
		break;
	case HC_WARN:
		cleanup_check_log(m, "warning", what, key, strlen(key), t);
		break;
	case HC_REPLACE:
		cleanup_check_log(m, "replace", what, key, strlen(key), t);
		buf_reset(target);
		/* a field holds 1 MiB, a body line CLEANUP_BODY_LINE_MAX: longer text is cut */
		if (buf_puts(target, t) < 0) {
			size_t room = CLEANUP_BODY_LINE_MAX < text.len ? CLEANUP_BODY_LINE_MAX : text.len;

			buf_append(target, t, room);
		}
		if (header && buf_putc(target, '\n') < 0)
			msg_panic("%s: replacement text longer than a header field", m->qid);
		break;
	case HC_PREPEND:
		cleanup_check_log(m, "prepend", what, key, strlen(key), t);
		if (buf_putc(&text, '\n') < 0)
			msg_panic("%s: prepend text too long", m->qid);
		if (header)
			cleanup_msg_keep_header(m, buf_str(&text), text.len);
		else if (cleanup_msg_write(m, buf_str(&text), text.len) < 0)
			keep = -1;
		break;
	case HC_IGNORE:
		cleanup_check_log(m, "ignore", what, key, strlen(key), NULL);
		keep = 0;
		break;
	default:
		msg_warn("%s: %s: %s in the result \"%.100s\" for %s %.100s; ignored", m->qid, param,
			 res.why ? res.why : "unknown action", value, what, key);
		break;
	}
	buf_free(&text);
	return keep;
}

/* cleanup_check_header - header_checks on one logical field */
int cleanup_check_header(struct cleanup_msg *m, struct buf *field)
{
	struct buf key;
	int ret;

	if (m->cfg->header_checks == NULL || m->checks_done)
		return 1;
	buf_init(&key, 0);
	for (size_t i = 0; i < field->len; i++)
		if (field->data[i] != '\n')
			buf_putc(&key, field->data[i]);
	ret = checks_apply(m, m->cfg->header_checks, "header_checks", "header", key.data ? key.data : "",
			   field, true);
	buf_free(&key);
	return ret;
}

/* cleanup_check_body - body_checks on one body line (no LF) */
int cleanup_check_body(struct cleanup_msg *m, struct buf *line)
{
	struct buf key;
	int ret;

	if (m->cfg->body_checks == NULL || m->checks_done)
		return 1;
	/* the table gets a copy: REPLACE changes line */
	buf_init(&key, 0);
	buf_append(&key, line->data ? line->data : "", line->len);
	ret = checks_apply(m, m->cfg->body_checks, "body_checks", "body", key.data ? key.data : "", line,
			   false);
	buf_free(&key);
	return ret;
}
