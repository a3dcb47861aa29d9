/*
 * table_pcre - pcre: tables, regular expressions to results, in the
 * format of Postfix's pcre_table(5):
 *
 *	/^(.*)@example\.com$/		relay:[mx.example.com] for $1
 *	!/\.example\.org$/		REJECT not ours
 *	if /^postmaster@/i
 *	/@example\.net$/		OK
 *	endif
 *
 * Rules are tried in file order; the first pattern that matches gives
 * its result, with $1..$9 and ${N} replaced by the captured text (an
 * unset group gives nothing; $$ is a dollar sign). "!/re/" matches when
 * re does not (its result may not use $N). "if /re/" ... "endif" skips
 * the enclosed rules unless re matches; blocks nest. The delimiter is
 * the first character (any but a letter, digit, white space or
 * backslash); flags after it toggle PCRE2 options: i (caseless, ON by
 * default, so "i" makes a pattern case-sensitive), m, s, x, A (anchored),
 * E (dollar matches only at the end), U (ungreedy).
 *
 * Every mistake fails the open with file:line: an unknown flag or
 * keyword, a missing delimiter or result, PCRE2's own message for a bad
 * pattern, $N beyond the pattern's groups, unbalanced if/endif. A match
 * that hits PCRE2's limits (catastrophic backtracking) is logged and the
 * rule skipped, as Postfix does, so one bad input cannot defer mail forever.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <errno.h>
#include <pcre2.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/table.h"

#define TABLE_PCRE_MATCH_LIMIT	1000000		/* PCRE2 backtracking budget per match */
#define TABLE_PCRE_GROUP_MAX	99		/* ${99} at most */
#define TABLE_PCRE_SPACE	" \t\r\v\f"

enum table_pcre_op { TABLE_PCRE_RULE, TABLE_PCRE_IF, TABLE_PCRE_ENDIF };

/* table_pcre_rule - one logical line */
struct table_pcre_rule {
	enum table_pcre_op op;
	pcre2_code *re;			/* RULE and IF */
	bool negate;
	char *result;			/* RULE */
	bool expand;			/* the result has $ in it */
	size_t endif;			/* IF: index of its ENDIF */
	int line;
};

/* table_pcre - the rules of one file */
struct table_pcre {
	struct table t;
	char *path;
	struct table_pcre_rule *rules;
	size_t count;
	pcre2_match_data *md;
	pcre2_match_context *mctx;
};

/* table_pcre_parse_re - "[!]/re/flags" at *pp: compile it, advance *pp; -1 with err */
static int table_pcre_parse_re(struct table_reader *r, char **pp, struct table_pcre_rule *rule,
			       char *err, size_t errlen)
{
	uint32_t opts = PCRE2_CASELESS;
	char *p = *pp, *pat, delim;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE erroff;
	int errcode;

	if (*p == '!') {
		rule->negate = true;
		p++;
	}
	delim = *p;
	if (delim == '\0' || isalnum((unsigned char) delim) || isspace((unsigned char) delim) ||
	    delim == '\\') {
		str_fmt(err, errlen, "%s:%d: expected /regexp/, if or endif at '%.60s'",
			r->path, r->start, *pp);
		return -1;
	}
	pat = ++p;
	while (*p && *p != delim) {
		if (*p == '\\' && p[1] != '\0')
			p++;
		p++;
	}
	if (*p != delim) {
		str_fmt(err, errlen, "%s:%d: no closing regexp delimiter '%c'", r->path, r->start, delim);
		return -1;
	}
	*p++ = '\0';
	for (; *p && !isspace((unsigned char) *p); p++) {
		switch (*p) {
		case 'i': opts ^= PCRE2_CASELESS; break;
		case 'm': opts ^= PCRE2_MULTILINE; break;
		case 's': opts ^= PCRE2_DOTALL; break;
		case 'x': opts ^= PCRE2_EXTENDED; break;
		case 'A': opts ^= PCRE2_ANCHORED; break;
		case 'E': opts ^= PCRE2_DOLLAR_ENDONLY; break;
		case 'U': opts ^= PCRE2_UNGREEDY; break;
		default:
			str_fmt(err, errlen, "%s:%d: unknown regexp flag '%c' (flags: i m s x A E U)",
				r->path, r->start, *p);
			return -1;
		}
	}
	rule->re = pcre2_compile((PCRE2_SPTR) pat, PCRE2_ZERO_TERMINATED, opts, &errcode, &erroff, NULL);
	if (rule->re == NULL) {
		if (pcre2_get_error_message(errcode, msg, sizeof(msg)) < 0)
			str_copy((char *) msg, "unknown error", sizeof(msg));
		str_fmt(err, errlen, "%s:%d: error in regexp %c%.200s%c at offset %zu: %s", r->path,
			r->start, delim, pat, delim, (size_t) erroff, (char *) msg);
		return -1;
	}
	(void) pcre2_jit_compile(rule->re, PCRE2_JIT_COMPLETE);	/* slower without, never wrong */
	p += strspn(p, TABLE_PCRE_SPACE);
	*pp = p;
	return 0;
}

/* table_pcre_group - "$N", "${N}" at s ('$' seen): N and length, or -1 */
static int table_pcre_group(const char *s, size_t *len)
{
	long long n;
	char digits[4];
	const char *close;

	if (isdigit((unsigned char) s[1])) {
		*len = 2;
		return s[1] - '0';
	}
	if (s[1] != '{' || (close = strchr(s + 2, '}')) == NULL || close - (s + 2) > 2 ||
	    close == s + 2)
		return -1;
	memcpy(digits, s + 2, (size_t) (close - (s + 2)));
	digits[close - (s + 2)] = '\0';
	if (str_to_ll(digits, 0, TABLE_PCRE_GROUP_MAX, &n) < 0)
		return -1;
	*len = (size_t) (close - s) + 1;
	return (int) n;
}

/* table_pcre_check_result - every $ is $$ or names an existing group */
static int table_pcre_check_result(struct table_reader *r, struct table_pcre_rule *rule,
				   char *err, size_t errlen)
{
	uint32_t groups = 0;

	pcre2_pattern_info(rule->re, PCRE2_INFO_CAPTURECOUNT, &groups);
	for (const char *s = rule->result; (s = strchr(s, '$')) != NULL;) {
		size_t len;
		int n;

		if (s[1] == '$') {
			s += 2;
			rule->expand = true;
			continue;
		}
		if ((n = table_pcre_group(s, &len)) < 1) {
			str_fmt(err, errlen, "%s:%d: bad '$' in result at '%.20s' (use $1..$9, ${N}, "
				"or $$ for a dollar sign)", r->path, r->start, s);
			return -1;
		}
		if (rule->negate) {
			str_fmt(err, errlen, "%s:%d: $%d in the result of a negated pattern, which "
				"captures nothing", r->path, r->start, n);
			return -1;
		}
		if ((uint32_t) n > groups) {
			str_fmt(err, errlen, "%s:%d: $%d in the result, but the pattern has %u "
				"group%s", r->path, r->start, n, groups, groups == 1 ? "" : "s");
			return -1;
		}
		rule->expand = true;
		s += len;
	}
	return 0;
}

/* table_pcre_keyword - does line start with word (any case) as a whole word */
static bool table_pcre_keyword(const char *line, const char *word)
{
	size_t len = strlen(word);

	return strncasecmp(line, word, len) == 0 && !isalnum((unsigned char) line[len]) &&
	    line[len] != '_';
}

/* table_pcre_parse_line - one logical line into rule; -1 with err */
static int table_pcre_parse_line(struct table_reader *r, struct table_pcre_rule *rule,
				 char *err, size_t errlen)
{
	char *p = r->line.data;

	rule->line = r->start;
	if (table_pcre_keyword(p, "endif")) {
		rule->op = TABLE_PCRE_ENDIF;
		p += 5;
		p += strspn(p, TABLE_PCRE_SPACE);
		if (*p) {
			str_fmt(err, errlen, "%s:%d: text after endif: '%.60s'", r->path, r->start, p);
			return -1;
		}
		return 0;
	}
	if (table_pcre_keyword(p, "if")) {
		rule->op = TABLE_PCRE_IF;
		p += 2;
		p += strspn(p, TABLE_PCRE_SPACE);
		if (table_pcre_parse_re(r, &p, rule, err, errlen) < 0)
			return -1;
		if (*p) {
			str_fmt(err, errlen, "%s:%d: text after the if pattern: '%.60s'",
				r->path, r->start, p);
			return -1;
		}
		return 0;
	}
	rule->op = TABLE_PCRE_RULE;
	if (table_pcre_parse_re(r, &p, rule, err, errlen) < 0)
		return -1;
	if (*p == '\0') {
		str_fmt(err, errlen, "%s:%d: pattern without a result", r->path, r->start);
		return -1;
	}
	rule->result = xstrdup(p);
	return table_pcre_check_result(r, rule, err, errlen);
}

/* table_pcre_match - 1 the rule applies (negation included), 0 not, -1 match error (logged) */
static int table_pcre_match(struct table_pcre *tp, const struct table_pcre_rule *rule,
			    const char *key, size_t len)
{
	PCRE2_UCHAR msg[256];
	int rc = pcre2_match(rule->re, (PCRE2_SPTR) key, len, 0, 0, tp->md, tp->mctx);

	if (rc >= 0)
		return rule->negate ? 0 : 1;
	if (rc == PCRE2_ERROR_NOMATCH)
		return rule->negate ? 1 : 0;
	if (pcre2_get_error_message(rc, msg, sizeof(msg)) < 0)
		str_copy((char *) msg, "unknown error", sizeof(msg));
	msg_warn("%s:%d: matching error, rule skipped: %s", tp->path, rule->line, (char *) msg);
	return -1;
}

/* table_pcre_expand - the result with $N replaced from the last match */
static int table_pcre_expand(struct table_pcre *tp, const struct table_pcre_rule *rule,
			     const char *key, char *err, size_t errlen)
{
	PCRE2_SIZE *ov = pcre2_get_ovector_pointer(tp->md);
	uint32_t pairs = pcre2_get_ovector_count(tp->md);
	struct buf *b = &tp->t.value;
	const char *s = rule->result;
	int bad = 0;

	buf_reset(b);
	while (*s && !bad) {
		const char *dollar = strchr(s, '$');
		size_t len;
		int n;

		if (dollar == NULL) {
			bad = buf_puts(b, s);
			break;
		}
		bad = buf_append(b, s, (size_t) (dollar - s));
		if (dollar[1] == '$') {
			bad |= buf_putc(b, '$');
			s = dollar + 2;
			continue;
		}
		n = table_pcre_group(dollar, &len);	/* checked at open */
		if (n >= 0 && (uint32_t) n < pairs && ov[2 * n] != PCRE2_UNSET)
			bad |= buf_append(b, key + ov[2 * n], ov[2 * n + 1] - ov[2 * n]);
		s = dollar + len;
	}
	if (bad) {
		str_fmt(err, errlen, "%s:%d: result longer than %d bytes", tp->path, rule->line,
			TABLE_VALUE_MAX);
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* table_pcre_lookup - walk the rules, honouring if/endif */
static int table_pcre_lookup(struct table *t, const char *key, const char **value,
			     char *err, size_t errlen)
{
	struct table_pcre *tp = (struct table_pcre *) t;
	size_t len = strlen(key);

	for (size_t i = 0; i < tp->count;) {
		const struct table_pcre_rule *rule = &tp->rules[i];

		switch (rule->op) {
		case TABLE_PCRE_ENDIF:
			i++;
			break;
		case TABLE_PCRE_IF:
			i = table_pcre_match(tp, rule, key, len) == 1 ? i + 1 : rule->endif + 1;
			break;
		case TABLE_PCRE_RULE:
			if (table_pcre_match(tp, rule, key, len) != 1) {
				i++;
				break;
			}
			if (!rule->expand) {
				*value = rule->result;
				return 1;
			}
			if (table_pcre_expand(tp, rule, key, err, errlen) < 0)
				return -1;
			*value = tp->t.value.data;
			return 1;
		}
	}
	return 0;
}

/* table_pcre_close - free patterns and results */
static void table_pcre_close(struct table *t)
{
	struct table_pcre *tp = (struct table_pcre *) t;

	for (size_t i = 0; i < tp->count; i++) {
		pcre2_code_free(tp->rules[i].re);
		free(tp->rules[i].result);
	}
	free(tp->rules);
	pcre2_match_data_free(tp->md);
	pcre2_match_context_free(tp->mctx);
	free(tp->path);
	free(tp);
}

/* table_pcre_read - parse every line and pair if with endif; -1 with err */
static int table_pcre_read(struct table_pcre *tp, struct table_reader *r, char *err, size_t errlen)
{
	size_t *open_ifs = NULL, depth = 0;
	int rc;

	while ((rc = table_reader_next(r, err, errlen)) > 0) {
		struct table_pcre_rule rule;

		memset(&rule, 0, sizeof(rule));
		rc = table_pcre_parse_line(r, &rule, err, errlen);
		if (rc == 0 && rule.op == TABLE_PCRE_ENDIF) {
			if (depth == 0) {
				str_fmt(err, errlen, "%s:%d: endif without if", r->path, r->start);
				rc = -1;
			} else {
				tp->rules[open_ifs[--depth]].endif = tp->count;
			}
		}
		if (rc < 0) {
			pcre2_code_free(rule.re);
			free(rule.result);
			errno = EINVAL;
			break;
		}
		if (rule.op == TABLE_PCRE_IF) {
			open_ifs = xreallocarray(open_ifs, depth + 1, sizeof(*open_ifs));
			open_ifs[depth++] = tp->count;
		}
		tp->rules = xreallocarray(tp->rules, tp->count + 1, sizeof(rule));
		tp->rules[tp->count++] = rule;
	}
	if (rc == 0 && depth > 0) {
		str_fmt(err, errlen, "%s:%d: if without endif", r->path,
			tp->rules[open_ifs[depth - 1]].line);
		errno = EINVAL;
		rc = -1;
	}
	free(open_ifs);
	return rc;
}

/* table_pcre_open - read and compile the whole file */
struct table *table_pcre_open(const char *type, const char *name, int flags,
			      char *err, size_t errlen)
{
	struct table_reader r;
	struct table_pcre *tp;
	uint32_t groups, most = 0;
	int rc, saved;

	(void) flags;
	if (*name == '\0') {
		str_fmt(err, errlen, "%s: missing file name (%s:/path/name)", type, type);
		errno = EINVAL;
		return NULL;
	}
	if (table_reader_open(&r, name, err, errlen) < 0)
		return NULL;
	tp = xcalloc(1, sizeof(*tp));
	tp->path = xstrdup(name);
	tp->t.lookup = table_pcre_lookup;
	tp->t.close = table_pcre_close;
	rc = table_pcre_read(tp, &r, err, errlen);
	saved = errno;
	table_reader_close(&r);
	if (rc < 0) {
		table_pcre_close(&tp->t);
		errno = saved;
		return NULL;
	}
	for (size_t i = 0; i < tp->count; i++)
		if (tp->rules[i].re && pcre2_pattern_info(tp->rules[i].re, PCRE2_INFO_CAPTURECOUNT,
							  &groups) == 0 && groups > most)
			most = groups;
	tp->md = pcre2_match_data_create(most + 1, NULL);
	tp->mctx = pcre2_match_context_create(NULL);
	if (tp->md == NULL || tp->mctx == NULL)
		msg_fatal("out of memory creating PCRE2 match data");
	pcre2_set_match_limit(tp->mctx, TABLE_PCRE_MATCH_LIMIT);
	return &tp->t;
}
