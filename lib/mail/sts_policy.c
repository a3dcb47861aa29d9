/*
 * sts_policy - parse MTA-STS policy texts and _mta-sts TXT records, and
 * match MX names against policy patterns (RFC 8461 sections 3.1, 3.2,
 * 4.1). The contract and the exact rules are in sts_policy.h.
 *
 * Failure: every function returns a verdict; err (when given) gets one
 * line saying where ("line 3: ...") and why. Nothing here allocates.
 */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "base/str.h"
#include "mail/domain.h"
#include "mail/sts_policy.h"

#define STS_LINE_MAX	1024		/* one policy line; longer lines are invalid */
#define STS_KEY_MAX	32		/* extension names are at most 32 characters */

/* sts_wsp - RFC 5234 WSP */
static bool sts_wsp(int c)
{
	return c == ' ' || c == '\t';
}

/* sts_mode_parse - the mode keyword, exact */
int sts_mode_parse(const char *s, enum sts_mode *mode)
{
	if (strcmp(s, "enforce") == 0)
		*mode = STS_MODE_ENFORCE;
	else if (strcmp(s, "testing") == 0)
		*mode = STS_MODE_TESTING;
	else if (strcmp(s, "none") == 0)
		*mode = STS_MODE_NONE;
	else
		return -1;
	return 0;
}

/* sts_mx_value - check and store one mx value (lower case, no final dot) */
static int sts_mx_value(const char *v, struct sts_policy *out, size_t lineno, char *err, size_t errlen)
{
	const char *host = v;
	size_t len = strlen(v);
	char lower[STS_MX_LEN];

	if (str_has_prefix(v, "*.")) {
		host = v + 2;
		len -= 2;
	}
	if (len > 0 && host[len - 1] == '.')
		len--;
	if (len == 0 || !domain_valid(host, len, 0) || strlen(v) >= STS_MX_LEN) {
		str_fmt(err, errlen, "line %zu: bad mx value \"%.80s\"", lineno, v);
		return -1;
	}
	if (out->nmx >= STS_MX_MAX)
		return 0;
	memcpy(lower, v, (size_t) (host - v) + len);
	lower[(size_t) (host - v) + len] = '\0';
	str_copy(out->mx[out->nmx++], str_lower(lower), STS_MX_LEN);
	return 0;
}

/* sts_key_ok - RFC 8461 field name: (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".") */
static bool sts_key_ok(const char *k)
{
	size_t n = strlen(k);

	if (n == 0 || n > STS_KEY_MAX || !isalnum((unsigned char) k[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!isalnum((unsigned char) k[i]) && k[i] != '_' && k[i] != '-' && k[i] != '.')
			return false;
	return true;
}

/* sts_policy_seen - bits for the keys that are taken once */
enum { SEEN_VERSION = 1, SEEN_MODE = 2, SEEN_MAX_AGE = 4 };

/* sts_policy_line - one "key: value" line (already without its end) */
static int sts_policy_line(char *line, size_t lineno, struct sts_policy *out, unsigned *seen,
			   char *err, size_t errlen)
{
	char *colon = strchr(line, ':');
	char *key = line, *value, *end;
	long long age;

	if (colon == NULL) {
		str_fmt(err, errlen, "line %zu: no \"key: value\"", lineno);
		return -1;
	}
	for (end = colon; end > key && sts_wsp(end[-1]); end--)
		;
	*end = '\0';
	value = colon + 1;
	while (sts_wsp(*value))
		value++;
	for (end = value + strlen(value); end > value && sts_wsp(end[-1]); end--)
		;
	*end = '\0';
	if (!sts_key_ok(key)) {
		str_fmt(err, errlen, "line %zu: bad key \"%.40s\"", lineno, key);
		return -1;
	}
	if (strcmp(key, "mx") == 0)
		return sts_mx_value(value, out, lineno, err, errlen);
	if (strcmp(key, "version") == 0) {
		if (*seen & SEEN_VERSION)
			return 0;
		*seen |= SEEN_VERSION;
		if (strcmp(value, "STSv1") != 0) {
			str_fmt(err, errlen, "line %zu: version is \"%.40s\", not STSv1", lineno, value);
			return -1;
		}
	} else if (strcmp(key, "mode") == 0) {
		if (*seen & SEEN_MODE)
			return 0;
		*seen |= SEEN_MODE;
		if (sts_mode_parse(value, &out->mode) < 0) {
			str_fmt(err, errlen, "line %zu: bad mode \"%.40s\"", lineno, value);
			return -1;
		}
	} else if (strcmp(key, "max_age") == 0) {
		if (*seen & SEEN_MAX_AGE)
			return 0;
		*seen |= SEEN_MAX_AGE;
		if (strlen(value) > 10 || strspn(value, "0123456789") != strlen(value)
		    || str_to_ll(value, 0, 9999999999LL, &age) < 0) {
			str_fmt(err, errlen, "line %zu: bad max_age \"%.40s\"", lineno, value);
			return -1;
		}
		out->max_age = age > STS_MAX_AGE_LIMIT ? STS_MAX_AGE_LIMIT : age;
	}
	/* other keys are extensions: ignored */
	return 0;
}

/* sts_policy_parse - policy text into out (see sts_policy.h) */
int sts_policy_parse(const char *text, size_t len, struct sts_policy *out,
		     char *err, size_t errlen)
{
	unsigned seen = 0;
	size_t pos = 0, lineno = 0;

	out->nmx = 0;
	out->max_age = 0;
	out->mode = STS_MODE_NONE;
	str_fmt(err, errlen, "%s", "");
	while (pos < len) {
		char line[STS_LINE_MAX];
		size_t start = pos, n;

		lineno++;
		while (pos < len && text[pos] != '\n')
			pos++;
		n = pos - start;
		if (pos < len)
			pos++;			/* the LF */
		if (n > 0 && text[start + n - 1] == '\r')
			n--;
		if (n >= sizeof(line)) {
			str_fmt(err, errlen, "line %zu: longer than %d bytes", lineno, STS_LINE_MAX - 1);
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			unsigned char c = (unsigned char) text[start + i];

			if ((c < 0x20 && c != '\t') || c == 0x7f) {
				str_fmt(err, errlen, "line %zu: control character 0x%02x", lineno, c);
				return -1;
			}
		}
		memcpy(line, text + start, n);
		line[n] = '\0';
		if (line[strspn(line, " \t")] == '\0')
			continue;
		if (sts_policy_line(line, lineno, out, &seen, err, errlen) < 0)
			return -1;
	}
	if (!(seen & SEEN_VERSION)) {
		str_fmt(err, errlen, "no version line");
		return -1;
	}
	if (!(seen & SEEN_MODE)) {
		str_fmt(err, errlen, "no mode line");
		return -1;
	}
	if (!(seen & SEEN_MAX_AGE)) {
		str_fmt(err, errlen, "no max_age line");
		return -1;
	}
	if (out->nmx == 0 && out->mode != STS_MODE_NONE) {
		str_fmt(err, errlen, "no mx line (mode %s needs one)", sts_mode_name(out->mode));
		return -1;
	}
	return 0;
}

/* sts_txt_field - one "name=value" field of an STS record; 0 or -1 */
static int sts_txt_field(const char *f, size_t n, char *id, size_t idlen, bool *have_id,
			 char *err, size_t errlen)
{
	const char *eq = memchr(f, '=', n);
	char name[STS_KEY_MAX + 2];
	size_t nlen, vlen;

	if (eq == NULL || eq == f || (nlen = (size_t) (eq - f)) > STS_KEY_MAX) {
		str_fmt(err, errlen, "bad field \"%.*s\"", (int) (n > 60 ? 60 : n), f);
		return -1;
	}
	memcpy(name, f, nlen);
	name[nlen] = '\0';
	vlen = n - nlen - 1;
	if (!sts_key_ok(name) || vlen == 0) {
		str_fmt(err, errlen, "bad field \"%.*s\"", (int) (n > 60 ? 60 : n), f);
		return -1;
	}
	for (size_t i = 0; i < vlen; i++) {
		unsigned char c = (unsigned char) eq[1 + i];

		if (c < 0x21 || c > 0x7e || c == ';' || c == '=') {
			str_fmt(err, errlen, "bad character in field %s", name);
			return -1;
		}
	}
	if (strcmp(name, "id") != 0 || *have_id)
		return 0;		/* extensions are ignored; the first id counts */
	if (vlen > STS_ID_MAX) {
		str_fmt(err, errlen, "id longer than %d characters", STS_ID_MAX);
		return -1;
	}
	for (size_t i = 0; i < vlen; i++)
		if (!isalnum((unsigned char) eq[1 + i])) {
			str_fmt(err, errlen, "id \"%.*s\" is not letters and digits", (int) vlen, eq + 1);
			return -1;
		}
	if (vlen >= idlen) {
		str_fmt(err, errlen, "id does not fit");
		return -1;
	}
	memcpy(id, eq + 1, vlen);
	id[vlen] = '\0';
	*have_id = true;
	return 0;
}

/* sts_txt_parse - one TXT record (see sts_policy.h) */
int sts_txt_parse(const char *txt, size_t len, char *id, size_t idlen,
		  char *err, size_t errlen)
{
	static const char version[] = "v=STSv1";
	size_t pos = sizeof(version) - 1;
	bool have_id = false;

	str_fmt(err, errlen, "%s", "");
	if (len < pos || memcmp(txt, version, pos) != 0
	    || (len > pos && !sts_wsp(txt[pos]) && txt[pos] != ';'))
		return 0;
	for (;;) {
		size_t start;

		/* sts-field-delim = *WSP ";" *WSP, then a field or the end */
		while (pos < len && sts_wsp(txt[pos]))
			pos++;
		if (pos == len)
			break;
		if (txt[pos] != ';') {
			str_fmt(err, errlen, "expected ';' at offset %zu", pos);
			return -1;
		}
		pos++;
		while (pos < len && sts_wsp(txt[pos]))
			pos++;
		if (pos == len)
			break;		/* a final ';' */
		start = pos;
		while (pos < len && !sts_wsp(txt[pos]) && txt[pos] != ';')
			pos++;
		if (sts_txt_field(txt + start, pos - start, id, idlen, &have_id, err, errlen) < 0)
			return -1;
	}
	if (!have_id) {
		str_fmt(err, errlen, "no id field");
		return -1;
	}
	return 1;
}

/* sts_txt_select - exactly one valid STS record among n */
int sts_txt_select(const char *const *txt, size_t n, char *id, size_t idlen,
		   char *err, size_t errlen)
{
	size_t found = 0, which = 0;
	char why[160] = "";

	for (size_t i = 0; i < n; i++) {
		char one[STS_ID_MAX + 1];

		if (sts_txt_parse(txt[i], strlen(txt[i]), one, sizeof(one), why, sizeof(why)) != 0) {
			found++;
			which = i;
		}
	}
	if (found == 0) {
		str_fmt(err, errlen, "%s", "");
		return 0;
	}
	if (found > 1) {
		str_fmt(err, errlen, "%zu v=STSv1 TXT records (exactly one is needed)", found);
		return 0;
	}
	if (sts_txt_parse(txt[which], strlen(txt[which]), id, idlen, why, sizeof(why)) != 1) {
		str_fmt(err, errlen, "malformed v=STSv1 TXT record: %s", why);
		return 0;
	}
	str_fmt(err, errlen, "%s", "");
	return 1;
}

/* sts_name_len - length of name without one final dot */
static size_t sts_name_len(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && s[n - 1] == '.' ? n - 1 : n;
}

/* sts_mx_pattern_match - one pattern against one MX name (see sts_policy.h) */
bool sts_mx_pattern_match(const char *pattern, const char *name)
{
	size_t plen = sts_name_len(pattern), nlen = sts_name_len(name);
	const char *dot;

	if (plen == 0 || nlen == 0)
		return false;
	if (!str_has_prefix(pattern, "*."))
		return plen == nlen && strncasecmp(pattern, name, nlen) == 0;
	/* "*.rest": name is "label.rest" with a label of at least one octet, no dot */
	dot = memchr(name, '.', nlen);
	if (dot == NULL || dot == name)
		return false;
	return (size_t) (name + nlen - (dot + 1)) == plen - 2
	    && strncasecmp(dot + 1, pattern + 2, plen - 2) == 0;
}

/* sts_domain_ok - a domain the service works on */
bool sts_domain_ok(const char *domain)
{
	size_t n = strlen(domain);

	return n > 0 && n <= DOMAIN_NAME_MAX && domain[n - 1] != '.' && domain_valid(domain, n, 0);
}
