/*
 * tls_event - TLS result events of outbound SMTP for SMTP TLS Reporting
 * (RFC 8460): one line per TLS attempt or policy failure, appended to a
 * spool file that a tlsrpt service aggregates into daily reports. The
 * format is documented in tern-tls-events(5):
 *
 *   time=1764000000 domain=example.test policy=tlsa result=success
 *   sending_ip=127.0.0.1 mx=mx1.example.test mx_ip=127.0.0.2
 *   policy_string=3%201%201%20ab12... mx_pattern= reason=...
 *
 * (one line) - key=value fields separated by one space, in this order;
 * values are percent-encoded: bytes outside 0x21..0x7e and the bytes
 * '%', '=' and ',' become %XX. List values (policy_string, mx_pattern)
 * are items joined by ','.
 *
 * Writing: the file is opened with O_APPEND for every event and the line
 * goes out in one write(2) of less than PIPE_BUF bytes, so lines of
 * concurrent smtp processes never interleave and a reader that renames
 * the file away never loses a line. Long fields are shortened to keep
 * the line under that bound: reason is cut, list items that do not fit
 * are dropped (truncated=1 then says so).
 *
 * Failures: tls_event_write returns -1 with a reason (the caller logs a
 * warning; a lost event never stops a delivery).
 */
#ifndef TERN_MAIL_TLS_EVENT_H
#define TERN_MAIL_TLS_EVENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TLS_EVENT_LINE_MAX	4000		/* < PIPE_BUF (4096) */
#define TLS_EVENT_ITEMS_MAX	32		/* items of one list field */

/* tls_event - one result; NULL strings are written as empty values */
struct tls_event {
	int64_t time;			/* unix seconds */
	const char *domain;		/* policy domain */
	const char *policy;		/* "sts", "tlsa", "no-policy-found" */
	const char *result;		/* "success" or an RFC 8460 result-type */
	const char *sending_ip;
	const char *mx;			/* receiving MX host name */
	const char *mx_ip;		/* receiving address */
	const char *const *policy_string;	/* NULL-terminated items, or NULL */
	const char *const *mx_pattern;		/* NULL-terminated items (sts mx patterns), or NULL */
	const char *reason;		/* failure reason text */
};

/*
 * tls_event_format - the line (with its final newline) into out[outlen];
 * returns its length, or -1 when outlen is too small for the fixed
 * fields (use TLS_EVENT_LINE_MAX + 1)
 */
int tls_event_format(const struct tls_event *ev, char *out, size_t outlen);

/* tls_event_write - append one line to path (created 0600): 0, or -1 with err */
int tls_event_write(const char *path, const struct tls_event *ev, char *err, size_t errlen);

/*
 * A parsed line, for readers (the tlsrpt service, tests): the fields
 * decoded into one buffer; list fields as NULL-terminated arrays.
 */
struct tls_event_parsed {
	int64_t time;
	char *domain, *policy, *result, *sending_ip, *mx, *mx_ip, *reason;
	char *policy_string[TLS_EVENT_ITEMS_MAX + 1];
	char *mx_pattern[TLS_EVENT_ITEMS_MAX + 1];
	bool truncated;
	char buf[TLS_EVENT_LINE_MAX + 1];
};

/*
 * tls_event_parse - decode one line (with or without its newline); 0, or
 * -1 with err for a malformed line (unknown keys are ignored, so later
 * versions may add fields)
 */
int tls_event_parse(const char *line, struct tls_event_parsed *out, char *err, size_t errlen);

#endif
