/*
 * dsn - build RFC 3464 delivery status notifications; parse reason files.
 * See dsn.h for the shape of a notice and the reason-file line format.
 *
 * Everything is appended to one struct buf; each append may fail only by
 * passing the buf's limit, and the first failure is remembered in
 * struct dsn_out so callers check once at the end.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/buf.h"
#include "base/str.h"
#include "mail/dsn.h"
#include "mail/xtext.h"

#define DSN_BOUNDARY_SIZE	(64 + 256)

/* dsn_out - the output and its first error */
struct dsn_out {
	struct buf *b;
	int err;
	bool eight_bit;
};

/* dsn_put - append n bytes */
static void dsn_put(struct dsn_out *o, const char *p, size_t n)
{
	if (o->err == 0 && buf_append(o->b, p, n) < 0)
		o->err = -1;
}

/* dsn_puts - append a string */
static void dsn_puts(struct dsn_out *o, const char *s)
{
	dsn_put(o, s, strlen(s));
}

/* dsn_printf - append formatted text */
__attribute__((format(printf, 2, 3)))
static void dsn_printf(struct dsn_out *o, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (o->err == 0 && buf_vprintf(o->b, fmt, ap) < 0)
		o->err = -1;
	va_end(ap);
}

/* dsn_clean - s with control characters dropped, cut to DSN_FIELD_MAX bytes, into dst */
static const char *dsn_clean(const char *s, char *dst, size_t size)
{
	size_t n = 0;

	if (s == NULL)
		s = "";
	for (; *s && n + 1 < size && n < DSN_FIELD_MAX; s++) {
		unsigned char c = (unsigned char) *s;

		if (c < 0x20 || c == 0x7f)
			continue;
		dst[n++] = (char) c;
	}
	dst[n] = '\0';
	return dst;
}

/* dsn_field - "Name: value\r\n" with the value cleaned */
static void dsn_field(struct dsn_out *o, const char *name, const char *value)
{
	char v[DSN_FIELD_MAX + 1];

	dsn_printf(o, "%s: %s\r\n", name, dsn_clean(value, v, sizeof(v)));
}

/* dsn_lines - append LF-terminated text as CRLF lines; a last line without LF gets one */
static void dsn_lines(struct dsn_out *o, const char *p, size_t n)
{
	const char *end = p + n, *lf;

	while (p < end) {
		lf = memchr(p, '\n', (size_t) (end - p));
		if (lf == NULL)
			lf = end;
		dsn_put(o, p, (size_t) (lf - p));
		dsn_put(o, "\r\n", 2);
		p = lf < end ? lf + 1 : end;
	}
}

/* dsn_has_8bit - any octet above 127 */
static bool dsn_has_8bit(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char) p[i] & 0x80)
			return true;
	return false;
}

void dsn_date(long long t, char *dst, size_t size)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	time_t tt = (time_t) t;
	struct tm tm;
	long off;

	if (localtime_r(&tt, &tm) == NULL) {
		str_copy(dst, "Thu, 01 Jan 1970 00:00:00 +0000", size);
		return;
	}
	off = tm.tm_gmtoff / 60;
	str_fmt(dst, size, "%s, %02d %s %04d %02d:%02d:%02d %c%02ld%02ld",
		days[tm.tm_wday % 7], tm.tm_mday, months[tm.tm_mon % 12], tm.tm_year + 1900,
		tm.tm_hour, tm.tm_min, tm.tm_sec, off < 0 ? '-' : '+',
		(off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
}

/* dsn_status_ok - "c.s.d" with c one digit, s and d 1-3 digits */
static bool dsn_status_ok(const char *s)
{
	size_t n;

	if (s == NULL || !(s[0] >= '2' && s[0] <= '5') || s[1] != '.')
		return false;
	s += 2;
	for (int part = 0; part < 2; part++) {
		n = strspn(s, "0123456789");
		if (n < 1 || n > 3)
			return false;
		s += n;
		if (part == 0 && *s++ != '.')
			return false;
	}
	return *s == '\0';
}

void dsn_status_fix(enum dsn_kind kind, const char *status, char *dst, size_t size)
{
	static const char *const generic[] = {"5.0.0", "4.0.0", "2.0.0"};
	bool fits = false;

	if (dsn_status_ok(status)) {
		switch (kind) {
		case DSN_FAILURE:
			fits = status[0] == '5' || status[0] == '4';
			break;
		case DSN_DELAY:
			fits = status[0] == '4';
			break;
		case DSN_SUCCESS:
			fits = status[0] == '2';
			break;
		}
	}
	str_copy(dst, fits ? status : generic[kind], size);
}

int dsn_orcpt_text(const char *type, const char *orcpt, bool utf8, char *dst, size_t size)
{
	char dec[DSN_FIELD_MAX + 1], enc[DSN_FIELD_MAX + 1];
	const char *addr = orcpt;
	ssize_t n;

	if (str_eq_nocase(type, "utf-8")) {
		n = xtext_utf8_decode(orcpt, strlen(orcpt), true, dec, sizeof(dec));
		if (n >= 0) {
			addr = dec;
			if (!utf8 && xtext_utf8_encode(dec, (size_t) n, false, enc, sizeof(enc)) >= 0)
				addr = enc;
		}
	} else if (xtext_decode(orcpt, strlen(orcpt), dec, sizeof(dec)) >= 0) {
		addr = dec;
	}
	return str_fmt(dst, size, "%s;%s", type, addr) < 0 ? -1 : 0;
}

void dsn_envid_text(const char *envid, char *dst, size_t size)
{
	char dec[DSN_FIELD_MAX + 1];
	ssize_t n = xtext_decode(envid, strlen(envid), dec, sizeof(dec));
	bool printable = n > 0;

	for (ssize_t i = 0; printable && i < n; i++)
		printable = dec[i] > 0x20 && dec[i] < 0x7f;
	str_copy(dst, printable ? dec : envid, size);
}

bool dsn_remote_mta(const char *relay, char *dst, size_t size)
{
	const char *lb, *rb;

	if (relay == NULL || (lb = strchr(relay, '[')) == NULL || (rb = strchr(lb, ']')) == NULL)
		return false;
	if (lb == relay)
		str_fmt(dst, size, "%.*s", (int) (rb - lb - 1), lb + 1);
	else
		str_fmt(dst, size, "%.*s", (int) (lb - relay), relay);
	return dst[0] != '\0';
}

const char *dsn_smtp_reply(const char *text, char *dst, size_t size)
{
	const char *said, *tail;
	size_t n;

	if (text == NULL)
		return NULL;
	if ((said = strstr(text, "said: ")) != NULL)
		text = said + 6;
	else if (!(isdigit((unsigned char) text[0]) && isdigit((unsigned char) text[1]) &&
		   isdigit((unsigned char) text[2]) && (text[3] == ' ' || text[3] == '-' || text[3] == 0)))
		return NULL;
	n = strlen(text);
	if ((tail = strstr(text, " (in reply to ")) != NULL && tail[strlen(tail) - 1] == ')')
		n = (size_t) (tail - text);
	str_fmt(dst, size, "%.*s", (int) (n < DSN_FIELD_MAX ? n : DSN_FIELD_MAX), text);
	return dst;
}

int dsn_reason_parse(char *line, struct dsn_reason *rs)
{
	char *f[5], *cp = line;
	long long v;

	for (int i = 0; i < 4; i++) {
		f[i] = cp;
		if ((cp = strchr(cp, '\t')) == NULL)
			return -1;
		*cp++ = '\0';
	}
	f[4] = cp;
	if (str_to_ll(f[0], 0, 100000000, &v) < 0)
		return -1;
	rs->index = (long) v;
	if (str_to_ll(f[2], 0, 253402300799LL, &rs->time) < 0)
		return -1;
	rs->status = f[1];
	rs->relay = f[3];
	rs->text = f[4];
	return 0;
}

/* dsn_subject - the Subject: of a notice */
static const char *dsn_subject(const struct dsn_report *r)
{
	switch (r->kind) {
	case DSN_DELAY:
		return "Delayed Mail (still being retried)";
	case DSN_SUCCESS:
		return "Successful Mail Delivery Report";
	default:
		return "Undelivered Mail Returned to Sender";
	}
}

/* dsn_human - part 1: plain words */
static void dsn_human(struct dsn_out *o, const struct dsn_report *r)
{
	char date[DSN_DATE_SIZE], addr[DSN_FIELD_MAX + 1], text[DSN_FIELD_MAX + 1];
	char status[DSN_STATUS_SIZE];

	dsn_printf(o, "This is the tern mail system at host %s.\r\n\r\n", r->myhostname);
	switch (r->kind) {
	case DSN_FAILURE:
		if (r->to_postmaster)
			dsn_puts(o, "A message that had no return address (the null sender <>)\r\n"
				 "could not be delivered. As nobody else can be told, this\r\n"
				 "report goes to you, the postmaster. It will not be sent again.\r\n");
		else
			dsn_puts(o, "I am sorry: your message could not be delivered to one or\r\n"
				 "more of its recipients, and the mail system has given up on\r\n"
				 "them. The reasons are listed below; the message is attached.\r\n");
		break;
	case DSN_DELAY:
		dsn_puts(o, "Your message has not been delivered yet to the recipients\r\n"
			 "listed below. This is only a warning: the mail system keeps\r\n"
			 "trying, and you do not need to send the message again.\r\n");
		if (r->retry_until > 0) {
			dsn_date(r->retry_until, date, sizeof(date));
			dsn_printf(o, "It will give up after %s.\r\n", date);
		}
		break;
	case DSN_SUCCESS:
		dsn_puts(o, "Your message was delivered to the recipients listed below.\r\n"
			 "You asked to be told when it was (NOTIFY=SUCCESS).\r\n");
		break;
	}
	dsn_printf(o, "\r\nIf you need help, write to postmaster@%s and include\r\n"
		   "this report. You may delete your own text from the attached copy.\r\n\r\n",
		   r->myhostname);
	for (size_t i = 0; i < r->nrcpts; i++) {
		const struct dsn_rcpt *rc = &r->rcpts[i];

		dsn_status_fix(r->kind, rc->status, status, sizeof(status));
		dsn_printf(o, "<%s>: ", dsn_clean(rc->addr, addr, sizeof(addr)));
		dsn_printf(o, "%s (status %s)\r\n", rc->text && rc->text[0] ?
			   dsn_clean(rc->text, text, sizeof(text)) :
			   r->kind == DSN_SUCCESS ? "delivered" : "no reason was recorded", status);
	}
}

/* dsn_rcpt_block - part 2, one recipient's block */
static void dsn_rcpt_block(struct dsn_out *o, const struct dsn_report *r, const struct dsn_rcpt *rc)
{
	static const char *const actions[] = {"failed", "delayed", "delivered"};
	char buf[DSN_FIELD_MAX + 64], reply[DSN_FIELD_MAX + 1], mta[DSN_FIELD_MAX + 1];
	char status[DSN_STATUS_SIZE];
	bool remote;

	dsn_puts(o, "\r\n");
	str_fmt(buf, sizeof(buf), "%s; %s", r->smtputf8 && dsn_has_8bit(rc->addr, strlen(rc->addr))
		? "utf-8" : "rfc822", rc->addr);
	dsn_field(o, "Final-Recipient", buf);
	if (rc->orcpt_type != NULL && rc->orcpt != NULL &&
	    dsn_orcpt_text(rc->orcpt_type, rc->orcpt, r->smtputf8, buf, sizeof(buf)) == 0)
		dsn_field(o, "Original-Recipient", buf);
	remote = dsn_remote_mta(rc->relay, mta, sizeof(mta));
	/*
	 * A success notice for a remote MTA: the smtp agent reports the ones
	 * whose next hop took over the DSN duty without a notice, so what is
	 * left went to a server without DSN: "relayed" (RFC 3464 2.3.3).
	 */
	dsn_field(o, "Action", r->kind == DSN_SUCCESS && remote ? "relayed" : actions[r->kind]);
	dsn_status_fix(r->kind, rc->status, status, sizeof(status));
	dsn_field(o, "Status", status);
	if (remote) {
		str_fmt(buf, sizeof(buf), "dns; %s", mta);
		dsn_field(o, "Remote-MTA", buf);
	}
	if (rc->text != NULL && rc->text[0] != '\0') {
		if (remote && dsn_smtp_reply(rc->text, reply, sizeof(reply)) != NULL)
			str_fmt(buf, sizeof(buf), "smtp; %s", reply);
		else
			str_fmt(buf, sizeof(buf), "X-Tern; %s", rc->text);
		dsn_field(o, "Diagnostic-Code", buf);
	}
	if (rc->last_attempt > 0) {
		dsn_date(rc->last_attempt, buf, sizeof(buf));
		dsn_field(o, "Last-Attempt-Date", buf);
	}
	if (r->kind == DSN_DELAY && r->retry_until > 0) {
		dsn_date(r->retry_until, buf, sizeof(buf));
		dsn_field(o, "Will-Retry-Until", buf);
	}
}

/* dsn_status_part - part 2: message/delivery-status */
static void dsn_status_part(struct dsn_out *o, const struct dsn_report *r)
{
	char buf[DSN_FIELD_MAX + 64], envid[DSN_FIELD_MAX + 1];

	str_fmt(buf, sizeof(buf), "dns; %s", r->myhostname);
	dsn_field(o, "Reporting-MTA", buf);
	dsn_field(o, "X-Tern-Queue-ID", r->qid);
	str_fmt(buf, sizeof(buf), "rfc822; %s", r->sender);
	dsn_field(o, "X-Tern-Sender", buf);
	if (r->envid != NULL && r->envid[0] != '\0') {
		dsn_envid_text(r->envid, envid, sizeof(envid));
		dsn_field(o, "Original-Envelope-Id", envid);
	}
	dsn_date(r->arrival, buf, sizeof(buf));
	dsn_field(o, "Arrival-Date", buf);
	for (size_t i = 0; i < r->nrcpts; i++)
		dsn_rcpt_block(o, r, &r->rcpts[i]);
}

/* dsn_boundary - "QID.TIME/HOST", with a counter when the original contains it */
static void dsn_boundary(const struct dsn_report *r, char *dst, size_t size)
{
	unsigned n = 0;
	size_t len;

	str_fmt(dst, size, "%s.%lld/%.200s", r->qid, r->now, r->myhostname);
	while (r->orig != NULL && (len = strlen(dst)) > 0 && memmem(r->orig, r->orig_len, dst, len))
		str_fmt(dst, size, "%s.%lld.%u/%.200s", r->qid, r->now, ++n, r->myhostname);
}

int dsn_build(const struct dsn_report *r, struct buf *out, bool *eight_bit)
{
	struct dsn_out o = {out, 0, false};
	char boundary[DSN_BOUNDARY_SIZE], date[DSN_DATE_SIZE], to[DSN_FIELD_MAX + 1];
	bool b8 = (r->orig != NULL && dsn_has_8bit(r->orig, r->orig_len)) || r->smtputf8;
	const char *cte = b8 ? "8bit" : "7bit";
	const char *orig_type;

	dsn_boundary(r, boundary, sizeof(boundary));
	dsn_date(r->now, date, sizeof(date));
	dsn_printf(&o, "From: MAILER-DAEMON@%s (Mail Delivery System)\r\n", r->myhostname);
	dsn_printf(&o, "To: <%s>\r\n", dsn_clean(r->notice_to, to, sizeof(to)));
	dsn_field(&o, "Subject", dsn_subject(r));
	dsn_field(&o, "Date", date);
	dsn_printf(&o, "Message-ID: <%s.%lld.%s@%s>\r\n", r->qid, r->now,
		   r->kind == DSN_FAILURE ? "failure" : r->kind == DSN_DELAY ? "delay" : "success",
		   r->myhostname);
	dsn_puts(&o, "Auto-Submitted: auto-replied\r\nMIME-Version: 1.0\r\n");
	dsn_printf(&o, "Content-Type: multipart/report; report-type=delivery-status;\r\n"
		   "\tboundary=\"%s\"\r\n", boundary);
	dsn_printf(&o, "Content-Transfer-Encoding: %s\r\n\r\n", cte);
	dsn_puts(&o, "This is a MIME-encapsulated message.\r\n\r\n");

	dsn_printf(&o, "--%s\r\nContent-Description: Notification\r\n"
		   "Content-Type: text/plain; charset=%s\r\n", boundary, b8 ? "utf-8" : "us-ascii");
	dsn_printf(&o, "Content-Transfer-Encoding: %s\r\n\r\n", cte);
	dsn_human(&o, r);

	dsn_printf(&o, "\r\n--%s\r\nContent-Description: Delivery report\r\n"
		   "Content-Type: message/%sdelivery-status\r\n", boundary, r->smtputf8 ? "global-" : "");
	dsn_printf(&o, "Content-Transfer-Encoding: %s\r\n\r\n", cte);
	dsn_status_part(&o, r);

	if (r->orig != NULL) {
		if (r->full)
			orig_type = r->smtputf8 ? "message/global" : "message/rfc822";
		else
			orig_type = r->smtputf8 ? "message/global-headers" : "text/rfc822-headers";
		dsn_printf(&o, "\r\n--%s\r\nContent-Description: %s%s\r\nContent-Type: %s\r\n",
			   boundary, r->kind == DSN_FAILURE ? "Undelivered Message" :
			   r->kind == DSN_DELAY ? "Delayed Message" : "Delivered Message",
			   r->full ? "" : " Headers", orig_type);
		dsn_printf(&o, "Content-Transfer-Encoding: %s\r\n\r\n", cte);
		dsn_lines(&o, r->orig, r->orig_len);
		if (r->cut)
			dsn_puts(&o, "X-Tern-Note: the headers were cut here at the size limit\r\n");
	}
	dsn_printf(&o, "\r\n--%s--\r\n", boundary);
	if (eight_bit != NULL)
		*eight_bit = b8;
	return o.err;
}
