/*
 * tls_event - format, append and parse TLS result event lines (see
 * tls_event.h and tern-tls-events(5) for the format and the promises).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/str.h"
#include "mail/tls_event.h"

#define TLS_EVENT_REASON_MAX	600	/* raw bytes of reason kept */

_Static_assert(TLS_EVENT_LINE_MAX < PIPE_BUF, "event lines must be written atomically");

/* tls_event_out - a bounded line being built */
struct tls_event_out {
	char *data;
	size_t len, cap;		/* cap excludes the final NUL */
};

/* tls_event_special - must this byte be percent-encoded */
static bool tls_event_special(unsigned char c)
{
	return c <= 0x20 || c >= 0x7f || c == '%' || c == '=' || c == ',';
}

/* tls_event_put - append raw text; -1 (nothing appended) when it does not fit */
static int tls_event_put(struct tls_event_out *o, const char *s)
{
	size_t n = strlen(s);

	if (n > o->cap - o->len)
		return -1;
	memcpy(o->data + o->len, s, n);
	o->len += n;
	o->data[o->len] = '\0';
	return 0;
}

/* tls_event_put_value - append s encoded, at most max raw bytes; -1 (nothing appended) when it does not fit */
static int tls_event_put_value(struct tls_event_out *o, const char *s, size_t max)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t start = o->len;

	for (size_t i = 0; s != NULL && s[i] != '\0' && i < max; i++) {
		unsigned char c = (unsigned char) s[i];

		if (tls_event_special(c)) {
			if (o->cap - o->len < 3)
				goto full;
			o->data[o->len++] = '%';
			o->data[o->len++] = hex[c >> 4];
			o->data[o->len++] = hex[c & 15];
		} else {
			if (o->cap - o->len < 1)
				goto full;
			o->data[o->len++] = (char) c;
		}
	}
	o->data[o->len] = '\0';
	return 0;
full:
	o->len = start;
	o->data[o->len] = '\0';
	return -1;
}

/* tls_event_put_field - " key=value"; -1 when it does not fit */
static int tls_event_put_field(struct tls_event_out *o, const char *key, const char *value, size_t max)
{
	size_t start = o->len;

	if ((o->len > 0 && tls_event_put(o, " ") != 0) || tls_event_put(o, key) != 0 ||
	    tls_event_put(o, "=") != 0 || tls_event_put_value(o, value, max) != 0) {
		o->len = start;
		o->data[o->len] = '\0';
		return -1;
	}
	return 0;
}

/* tls_event_put_list - " key=a,b,c", dropping items that do not fit within reserve; *cut set then */
static int tls_event_put_list(struct tls_event_out *o, const char *key, const char *const *items,
			      size_t reserve, bool *cut)
{
	size_t saved_cap = o->cap;

	if (tls_event_put_field(o, key, "", 0) != 0)
		return -1;
	if (o->cap - o->len < reserve)
		return items != NULL && items[0] != NULL ? (*cut = true, 0) : 0;
	o->cap -= reserve;
	for (size_t i = 0; items != NULL && items[i] != NULL && i < TLS_EVENT_ITEMS_MAX; i++) {
		size_t start = o->len;

		if ((i > 0 && tls_event_put(o, ",") != 0) ||
		    tls_event_put_value(o, items[i], SIZE_MAX) != 0) {
			o->len = start;
			o->data[o->len] = '\0';
			*cut = true;
			break;
		}
		if (i + 1 == TLS_EVENT_ITEMS_MAX && items[i + 1] != NULL)
			*cut = true;
	}
	o->cap = saved_cap;
	return 0;
}

/* tls_event_format - the line with its newline */
int tls_event_format(const struct tls_event *ev, char *out, size_t outlen)
{
	struct tls_event_out o = { out, 0, 0 };
	char when[32];
	bool cut = false;
	/* room kept for reason (its share), truncated=1 and the newline */
	size_t tail = 3 * 120 + 32;

	if (outlen < 2 * 1024)
		return -1;
	/* the final NUL, the newline and " truncated=1" (12) stay free until the end */
	o.cap = (outlen > TLS_EVENT_LINE_MAX + 1 ? TLS_EVENT_LINE_MAX + 1 : outlen) - 2 - 12;
	out[0] = '\0';
	str_fmt(when, sizeof(when), "%" PRId64, ev->time);
	if (tls_event_put_field(&o, "time", when, SIZE_MAX) != 0 ||
	    tls_event_put_field(&o, "domain", ev->domain, 255) != 0 ||
	    tls_event_put_field(&o, "policy", ev->policy, 32) != 0 ||
	    tls_event_put_field(&o, "result", ev->result, 48) != 0 ||
	    tls_event_put_field(&o, "sending_ip", ev->sending_ip, 64) != 0 ||
	    tls_event_put_field(&o, "mx", ev->mx, 255) != 0 ||
	    tls_event_put_field(&o, "mx_ip", ev->mx_ip, 64) != 0 ||
	    tls_event_put_list(&o, "mx_pattern", ev->mx_pattern, tail + 1024, &cut) != 0 ||
	    tls_event_put_list(&o, "policy_string", ev->policy_string, tail, &cut) != 0)
		return -1;
	/* reason: as much as fits, cut at a byte boundary before encoding */
	for (size_t max = TLS_EVENT_REASON_MAX;; max /= 2) {
		if (tls_event_put_field(&o, "reason", ev->reason, max) == 0)
			break;
		if (max == 0)
			return -1;
		cut = true;
	}
	o.cap += 12;
	if (cut && tls_event_put(&o, " truncated=1") != 0)
		return -1;
	o.cap += 1;
	if (tls_event_put(&o, "\n") != 0)
		return -1;
	return (int) o.len;
}

/* tls_event_write - one line, one write, O_APPEND */
int tls_event_write(const char *path, const struct tls_event *ev, char *err, size_t errlen)
{
	char line[TLS_EVENT_LINE_MAX + 1];
	int len = tls_event_format(ev, line, sizeof(line));
	int fd;
	ssize_t n;

	if (len < 0) {
		str_fmt(err, errlen, "TLS event does not fit in one line");
		return -1;
	}
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		str_fmt(err, errlen, "open %s: %s", path, strerror(errno));
		return -1;
	}
	do
		n = write(fd, line, (size_t) len);
	while (n < 0 && errno == EINTR);
	if (n != len) {
		str_fmt(err, errlen, "write %s: %s", path, n < 0 ? strerror(errno) : "short write");
		close(fd);
		return -1;
	}
	if (close(fd) != 0) {
		str_fmt(err, errlen, "close %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* tls_event_decode - percent-decode s in place; -1 on a bad escape or a NUL byte */
static int tls_event_decode(char *s)
{
	char *w = s;

	for (char *r = s; *r != '\0'; r++) {
		if (*r == '%') {
			int hi = str_hexval(r[1]), lo = hi < 0 ? -1 : str_hexval(r[2]);

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			*w++ = (char) (hi * 16 + lo);
			r += 2;
		} else
			*w++ = *r;
	}
	*w = '\0';
	return 0;
}

/* tls_event_split - a list value into items, decoded */
static int tls_event_split(char *value, char **items)
{
	size_t n = 0;
	char *p = value;

	items[0] = NULL;
	if (*p == '\0')
		return 0;
	for (;;) {
		char *comma = strchr(p, ',');

		if (comma != NULL)
			*comma = '\0';
		if (n >= TLS_EVENT_ITEMS_MAX || tls_event_decode(p) != 0)
			return -1;
		items[n++] = p;
		items[n] = NULL;
		if (comma == NULL)
			return 0;
		p = comma + 1;
	}
}

/* tls_event_parse - one line into its fields */
int tls_event_parse(const char *line, struct tls_event_parsed *out, char *err, size_t errlen)
{
	char *p, *word;
	bool have_time = false;

	memset(out, 0, sizeof(*out));
	if (str_copy(out->buf, line, sizeof(out->buf)) != 0) {
		str_fmt(err, errlen, "event line longer than %d bytes", TLS_EVENT_LINE_MAX);
		return -1;
	}
	out->buf[strcspn(out->buf, "\n")] = '\0';
	p = out->buf;
	while ((word = str_token(&p, " ")) != NULL) {
		char *eq = strchr(word, '=');
		char **scalar = NULL;

		if (eq == NULL) {
			str_fmt(err, errlen, "field without '=': %.40s", word);
			return -1;
		}
		*eq = '\0';
		char *value = eq + 1;

		if (strcmp(word, "time") == 0) {
			long long t;

			if (str_to_ll(value, 0, INT64_MAX, &t) != 0) {
				str_fmt(err, errlen, "bad time %.40s", value);
				return -1;
			}
			out->time = t;
			have_time = true;
			continue;
		}
		if (strcmp(word, "policy_string") == 0 || strcmp(word, "mx_pattern") == 0) {
			if (tls_event_split(value, word[0] == 'p' ? out->policy_string : out->mx_pattern) != 0) {
				str_fmt(err, errlen, "bad %s value", word);
				return -1;
			}
			continue;
		}
		if (strcmp(word, "truncated") == 0) {
			out->truncated = strcmp(value, "1") == 0;
			continue;
		}
		if (strcmp(word, "domain") == 0)
			scalar = &out->domain;
		else if (strcmp(word, "policy") == 0)
			scalar = &out->policy;
		else if (strcmp(word, "result") == 0)
			scalar = &out->result;
		else if (strcmp(word, "sending_ip") == 0)
			scalar = &out->sending_ip;
		else if (strcmp(word, "mx") == 0)
			scalar = &out->mx;
		else if (strcmp(word, "mx_ip") == 0)
			scalar = &out->mx_ip;
		else if (strcmp(word, "reason") == 0)
			scalar = &out->reason;
		if (scalar == NULL)
			continue;	/* a field of a later version */
		if (tls_event_decode(value) != 0) {
			str_fmt(err, errlen, "bad escape in %s", word);
			return -1;
		}
		*scalar = value;
	}
	if (!have_time || out->domain == NULL || out->policy == NULL || out->result == NULL) {
		str_fmt(err, errlen, "line lacks time, domain, policy or result");
		return -1;
	}
	return 0;
}
