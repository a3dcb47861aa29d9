/*
 * header_checks - parse the action of a header_checks/body_checks
 * result (header_checks.h has the list and the contract).
 *
 * The word is matched case-insensitively and must be followed by white
 * space or the end; REJECT may carry an enhanced status code of class 5
 * ("5.7.2 text"); REPLACE and PREPEND need text.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "base/str.h"
#include "mail/header_checks.h"

static const struct {
	const char *word;
	enum hc_action action;
	bool needs_text;
} hc_words[] = {
	{"REJECT", HC_REJECT, false},
	{"DISCARD", HC_DISCARD, false},
	{"HOLD", HC_HOLD, false},
	{"WARN", HC_WARN, false},
	{"REPLACE", HC_REPLACE, true},
	{"PREPEND", HC_PREPEND, true},
	{"IGNORE", HC_IGNORE, false},
	{"DUNNO", HC_NONE, false},
	{"OK", HC_NONE, false},
};

/* hc_skip_space - past spaces and tabs */
static const char *hc_skip_space(const char *p)
{
	while (*p == ' ' || *p == '\t')
		p++;
	return p;
}

/* hc_dsn_len - length of a class-5 "5.D.D" code with 1-3 digit parts at p followed by space or end, or 0 */
static size_t hc_dsn_len(const char *p)
{
	size_t i = 0;

	if (p[0] != '5' || p[1] != '.')
		return 0;
	i = 2;
	for (int part = 0; part < 2; part++) {
		size_t start = i;

		while (p[i] >= '0' && p[i] <= '9' && i - start < 3)
			i++;
		if (i == start)
			return 0;
		if (part == 0) {
			if (p[i] != '.')
				return 0;
			i++;
		}
	}
	return p[i] == '\0' || p[i] == ' ' || p[i] == '\t' ? i : 0;
}

/* header_checks_parse - the action of a table result */
void header_checks_parse(const char *value, struct hc_result *out)
{
	const char *p = hc_skip_space(value);
	size_t wlen = strcspn(p, " \t");

	memset(out, 0, sizeof(*out));
	out->text = "";
	str_copy(out->dsn, HC_DEFAULT_DSN, sizeof(out->dsn));
	for (size_t i = 0; i < sizeof(hc_words) / sizeof(hc_words[0]); i++) {
		if (strlen(hc_words[i].word) != wlen || strncasecmp(p, hc_words[i].word, wlen) != 0)
			continue;
		out->action = hc_words[i].action;
		out->text = hc_skip_space(p + wlen);
		if (out->action == HC_REJECT) {
			size_t dlen = hc_dsn_len(out->text);

			if (dlen > 0 && dlen < sizeof(out->dsn)) {
				memcpy(out->dsn, out->text, dlen);
				out->dsn[dlen] = '\0';
				out->text = hc_skip_space(out->text + dlen);
			}
		}
		if (hc_words[i].needs_text && *out->text == '\0') {
			out->action = HC_UNKNOWN;
			out->why = "the action needs text";
		}
		return;
	}
	out->action = HC_UNKNOWN;
	out->why = "unknown action";
}

/* header_checks_name - the lower-case action name */
const char *header_checks_name(enum hc_action action)
{
	switch (action) {
	case HC_REJECT:
		return "reject";
	case HC_DISCARD:
		return "discard";
	case HC_HOLD:
		return "hold";
	case HC_WARN:
		return "warning";
	case HC_REPLACE:
		return "replace";
	case HC_PREPEND:
		return "prepend";
	case HC_IGNORE:
		return "ignore";
	case HC_NONE:
		return "dunno";
	default:
		return "unknown";
	}
}
