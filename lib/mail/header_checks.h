/*
 * header_checks - the actions of header_checks and body_checks tables
 * (Postfix's header_checks(5)), parsed from a lookup result so that any
 * daemon that screens content reads them the same way.
 *
 * A result is an action word (any case) and optional text:
 *
 *	REJECT [X.Y.Z] [text]	refuse the message: 550 X.Y.Z text (5.7.1 and
 *				"Error: message content rejected" when absent)
 *	DISCARD [text]		accept, then drop the message
 *	HOLD [text]		put the message on hold
 *	WARN [text]		log only
 *	REPLACE text		replace the line with text
 *	PREPEND text		insert text as a line before this one
 *	IGNORE			delete the line
 *	DUNNO, OK		no action (stop looking, as a match)
 *
 * Contract: header_checks_parse never fails on content: anything it does
 * not know gives HC_UNKNOWN with the reason, which callers log and treat
 * as no action (Postfix does the same). Pointers in the result point into
 * the value given, so they live as long as the table's result.
 */
#ifndef TERN_MAIL_HEADER_CHECKS_H
#define TERN_MAIL_HEADER_CHECKS_H

#include <stddef.h>

#define HC_DSN_SIZE	16		/* "5.7.1" with room for three-digit parts */
#define HC_DEFAULT_DSN	"5.7.1"
#define HC_DEFAULT_TEXT	"Error: message content rejected"

enum hc_action {
	HC_NONE = 0,			/* DUNNO, OK */
	HC_REJECT,
	HC_DISCARD,
	HC_HOLD,
	HC_WARN,
	HC_REPLACE,
	HC_PREPEND,
	HC_IGNORE,
	HC_UNKNOWN,			/* not an action we know, or missing text */
};

/* hc_result - one parsed result */
struct hc_result {
	enum hc_action action;
	const char *text;		/* the text after the word (and dsn), "" when none */
	char dsn[HC_DSN_SIZE];		/* REJECT: the enhanced status code */
	const char *why;		/* HC_UNKNOWN: what is wrong */
};

/* header_checks_parse - the action of a table result */
void header_checks_parse(const char *value, struct hc_result *out);
/* header_checks_name - "reject", "discard", ... for log lines */
const char *header_checks_name(enum hc_action action);

#endif
