/*
 * smtp_param - MAIL/RCPT ESMTP parameters; see smtp_param.h.
 *
 * One table lists every known parameter with the command it belongs to,
 * the extension that enables it, whether it takes a value, its value
 * parser and the reply text for a bad value. Invariants: the output
 * struct is either fully parsed or zeroed; decoded values are written
 * only within their arrays (a value that does not fit is refused); the
 * error's item points into the caller's input.
 */
#include <string.h>
#include <strings.h>

#include "base/str.h"
#include "mail/smtp_param.h"
#include "mail/xtext.h"

enum smtp_param_cmd { SMTP_PARAM_CMD_MAIL = 1, SMTP_PARAM_CMD_RCPT = 2 };

/* what the value parsers work on */
struct smtp_param_ctx {
	struct smtp_param_mail *mail;	/* NULL for RCPT */
	struct smtp_param_rcpt *rcpt;	/* NULL for MAIL */
	bool smtputf8;			/* raw UTF-8 allowed in values */
	const char *item;		/* the parameter being parsed, in the input */
	size_t item_len;
	const char *auth_item;		/* where AUTH= was, for its late check */
	size_t auth_item_len;
};

struct smtp_param_def {
	const char *name;
	enum smtp_param_cmd cmd;
	unsigned ext;
	bool has_value;
	int (*parse)(struct smtp_param_ctx *ctx, const char *v, size_t len);
	const char *bad_text;
};

static int smtp_param_size(struct smtp_param_ctx *ctx, const char *v, size_t len);
static int smtp_param_body(struct smtp_param_ctx *ctx, const char *v, size_t len);
static int smtp_param_smtputf8(struct smtp_param_ctx *ctx, const char *v, size_t len);
static int smtp_param_ret(struct smtp_param_ctx *ctx, const char *v, size_t len);
static int smtp_param_envid(struct smtp_param_ctx *ctx, const char *v, size_t len);
static int smtp_param_auth(struct smtp_param_ctx *ctx, const char *v, size_t len);
static int smtp_param_requiretls(struct smtp_param_ctx *ctx, const char *v, size_t len);
static int smtp_param_notify(struct smtp_param_ctx *ctx, const char *v, size_t len);
static int smtp_param_orcpt(struct smtp_param_ctx *ctx, const char *v, size_t len);

static const struct smtp_param_def smtp_param_defs[] = {
	{"SIZE", SMTP_PARAM_CMD_MAIL, SMTP_PARAM_EXT_SIZE, true, smtp_param_size,
	 "Bad SIZE parameter value"},
	{"BODY", SMTP_PARAM_CMD_MAIL, SMTP_PARAM_EXT_8BITMIME, true, smtp_param_body,
	 "Bad BODY parameter value: 7BIT or 8BITMIME"},
	{"SMTPUTF8", SMTP_PARAM_CMD_MAIL, SMTP_PARAM_EXT_SMTPUTF8, false, smtp_param_smtputf8,
	 "SMTPUTF8 takes no value"},
	{"RET", SMTP_PARAM_CMD_MAIL, SMTP_PARAM_EXT_DSN, true, smtp_param_ret,
	 "Bad RET parameter value: FULL or HDRS"},
	{"ENVID", SMTP_PARAM_CMD_MAIL, SMTP_PARAM_EXT_DSN, true, smtp_param_envid,
	 "Bad ENVID parameter value"},
	{"AUTH", SMTP_PARAM_CMD_MAIL, SMTP_PARAM_EXT_AUTH, true, smtp_param_auth,
	 "Bad AUTH parameter value"},
	{"REQUIRETLS", SMTP_PARAM_CMD_MAIL, SMTP_PARAM_EXT_REQUIRETLS, false, smtp_param_requiretls,
	 "REQUIRETLS takes no value"},
	{"NOTIFY", SMTP_PARAM_CMD_RCPT, SMTP_PARAM_EXT_DSN, true, smtp_param_notify,
	 "Bad NOTIFY parameter value"},
	{"ORCPT", SMTP_PARAM_CMD_RCPT, SMTP_PARAM_EXT_DSN, true, smtp_param_orcpt,
	 "Bad ORCPT parameter value"},
};

#define SMTP_PARAM_NDEFS (sizeof(smtp_param_defs) / sizeof(smtp_param_defs[0]))

static const struct smtp_param_reply_row {
	int code;
	const char *text;
} smtp_param_replies[SMTP_PARAM_NSTATUS] = {
	[SMTP_PARAM_OK] = {250, "Ok"},
	[SMTP_PARAM_EUNKNOWN] = {555, "Unsupported option"},
	[SMTP_PARAM_EDISABLED] = {555, "Option not offered"},
	[SMTP_PARAM_EDUP] = {501, "Duplicate option"},
	[SMTP_PARAM_EVALUE] = {501, "Bad option value"},
	[SMTP_PARAM_ESYNTAX] = {501, "Bad option syntax"},
};

static const struct {
	const char *name;
	unsigned bit;
} smtp_param_notify_words[] = {
	{"NEVER", SMTP_PARAM_NOTIFY_NEVER},
	{"SUCCESS", SMTP_PARAM_NOTIFY_SUCCESS},
	{"FAILURE", SMTP_PARAM_NOTIFY_FAILURE},
	{"DELAY", SMTP_PARAM_NOTIFY_DELAY},
};

/* smtp_param_word_is - is v[len] the word w, in any case? */
static bool smtp_param_word_is(const char *v, size_t len, const char *w)
{
	return strlen(w) == len && strncasecmp(v, w, len) == 0;
}

/* smtp_param_printable - is s[len] all printable ASCII (space included)? */
static bool smtp_param_printable(const char *s, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char) s[i] < 0x20 || (unsigned char) s[i] > 0x7E)
			return false;
	return true;
}

/* smtp_param_size - RFC 1870 size-value: 1*20DIGIT */
static int smtp_param_size(struct smtp_param_ctx *ctx, const char *v, size_t len)
{
	uint64_t n = 0;

	if (len == 0 || len > SMTP_PARAM_SIZE_DIGITS)
		return -1;
	for (size_t i = 0; i < len; i++) {
		unsigned d;

		if (v[i] < '0' || v[i] > '9')
			return -1;
		d = (unsigned) (v[i] - '0');
		n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
	}
	ctx->mail->size_given = true;
	ctx->mail->size = n;
	return 0;
}

/* smtp_param_body - RFC 6152: 7BIT or 8BITMIME (BINARYMIME not offered) */
static int smtp_param_body(struct smtp_param_ctx *ctx, const char *v, size_t len)
{
	if (smtp_param_word_is(v, len, "7BIT"))
		ctx->mail->body = SMTP_PARAM_BODY_7BIT;
	else if (smtp_param_word_is(v, len, "8BITMIME"))
		ctx->mail->body = SMTP_PARAM_BODY_8BITMIME;
	else
		return -1;
	return 0;
}

/* smtp_param_smtputf8 - RFC 6531: the flag */
static int smtp_param_smtputf8(struct smtp_param_ctx *ctx, const char *v, size_t len)
{
	(void) v;
	(void) len;
	ctx->mail->smtputf8 = true;
	return 0;
}

/* smtp_param_ret - RFC 3461 4.3: FULL or HDRS */
static int smtp_param_ret(struct smtp_param_ctx *ctx, const char *v, size_t len)
{
	if (smtp_param_word_is(v, len, "FULL"))
		ctx->mail->ret = SMTP_PARAM_RET_FULL;
	else if (smtp_param_word_is(v, len, "HDRS"))
		ctx->mail->ret = SMTP_PARAM_RET_HDRS;
	else
		return -1;
	return 0;
}

/* smtp_param_envid - RFC 3461 4.4: xtext, at most 100 printable characters decoded */
static int smtp_param_envid(struct smtp_param_ctx *ctx, const char *v, size_t len)
{
	struct smtp_param_mail *m = ctx->mail;
	ssize_t n = xtext_decode(v, len, m->envid, sizeof(m->envid));

	if (n < 0 || !smtp_param_printable(m->envid, (size_t) n)) {
		m->envid[0] = '\0';
		return -1;
	}
	m->envid_given = true;
	return 0;
}

/* smtp_param_auth - RFC 4954 5: xtext of "<>" or of a mailbox (checked after the line) */
static int smtp_param_auth(struct smtp_param_ctx *ctx, const char *v, size_t len)
{
	struct smtp_param_mail *m = ctx->mail;
	ssize_t n = xtext_decode(v, len, m->auth, sizeof(m->auth));

	if (n <= 0) {
		m->auth[0] = '\0';
		return -1;
	}
	m->auth_given = true;
	ctx->auth_item = ctx->item;
	ctx->auth_item_len = ctx->item_len;
	if (strcmp(m->auth, "<>") == 0) {
		m->auth_null = true;
		m->auth[0] = '\0';
	}
	return 0;
}

/* smtp_param_requiretls - RFC 8689: the flag */
static int smtp_param_requiretls(struct smtp_param_ctx *ctx, const char *v, size_t len)
{
	(void) v;
	(void) len;
	ctx->mail->requiretls = true;
	return 0;
}

/* smtp_param_notify - RFC 3461 4.1: NEVER, or SUCCESS/FAILURE/DELAY, comma-separated, once each */
static int smtp_param_notify(struct smtp_param_ctx *ctx, const char *v, size_t len)
{
	unsigned bits = 0;
	size_t start = 0;

	for (size_t i = 0; i <= len; i++) {
		unsigned bit = 0;

		if (i < len && v[i] != ',')
			continue;
		for (size_t w = 0; w < sizeof(smtp_param_notify_words) / sizeof(smtp_param_notify_words[0]); w++)
			if (smtp_param_word_is(v + start, i - start, smtp_param_notify_words[w].name))
				bit = smtp_param_notify_words[w].bit;
		if (bit == 0 || (bits & bit))
			return -1;
		bits |= bit;
		start = i + 1;
	}
	if ((bits & SMTP_PARAM_NOTIFY_NEVER) && bits != SMTP_PARAM_NOTIFY_NEVER)
		return -1;
	ctx->rcpt->notify = bits;
	return 0;
}

/* smtp_param_orcpt - RFC 3461 4.2 addr-type ";" xtext; RFC 6533 for utf-8 */
static int smtp_param_orcpt(struct smtp_param_ctx *ctx, const char *v, size_t len)
{
	struct smtp_param_rcpt *r = ctx->rcpt;
	const char *semi = memchr(v, ';', len);
	size_t tlen, alen;
	const char *a;
	ssize_t n;

	if (len > SMTP_PARAM_ORCPT_MAX || semi == NULL)
		return -1;
	tlen = (size_t) (semi - v);
	a = semi + 1;
	alen = len - tlen - 1;
	if (tlen == 0 || tlen > SMTP_PARAM_ORCPT_TYPE_MAX || alen == 0)
		return -1;
	for (size_t i = 0; i < tlen; i++)
		if (!((v[i] >= 'a' && v[i] <= 'z') || (v[i] >= 'A' && v[i] <= 'Z') ||
		      (v[i] >= '0' && v[i] <= '9') || strchr("!#$%&'*+-/=?^_`{|}~", v[i]) != NULL))
			return -1;
	if (smtp_param_word_is(v, tlen, "utf-8")) {
		struct smtp_addr mbox;

		n = xtext_utf8_decode(a, alen, ctx->smtputf8, r->orcpt_addr, sizeof(r->orcpt_addr));
		if (n <= 0 || smtp_addr_parse_mailbox(r->orcpt_addr, (size_t) n, SMTP_ADDR_F_UTF8,
						      &mbox) != SMTP_ADDR_OK)
			goto bad;
		r->orcpt_type = SMTP_PARAM_ORCPT_UTF8;
	} else {
		n = xtext_decode(a, alen, r->orcpt_addr, sizeof(r->orcpt_addr));
		if (n <= 0 || !smtp_param_printable(r->orcpt_addr, (size_t) n))
			goto bad;
		r->orcpt_type = smtp_param_word_is(v, tlen, "rfc822") ?
		    SMTP_PARAM_ORCPT_RFC822 : SMTP_PARAM_ORCPT_OTHER;
	}
	memcpy(r->orcpt_type_name, v, tlen);
	r->orcpt_type_name[tlen] = '\0';
	memcpy(r->orcpt_raw, v, len);
	r->orcpt_raw[len] = '\0';
	return 0;
bad:
	r->orcpt_addr[0] = '\0';
	return -1;
}

/* smtp_param_find - the table entry for keyword k[len], or NULL */
static const struct smtp_param_def *smtp_param_find(const char *k, size_t len)
{
	for (size_t i = 0; i < SMTP_PARAM_NDEFS; i++)
		if (smtp_param_word_is(k, len, smtp_param_defs[i].name))
			return &smtp_param_defs[i];
	return NULL;
}

/* smtp_param_keyword_ok - esmtp-keyword: (ALPHA / DIGIT) *(ALPHA / DIGIT / "-") */
static bool smtp_param_keyword_ok(const char *k, size_t len)
{
	if (len == 0 || k[0] == '-')
		return false;
	for (size_t i = 0; i < len; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= 'A' && k[i] <= 'Z') ||
		      (k[i] >= '0' && k[i] <= '9') || k[i] == '-'))
			return false;
	return true;
}

/* smtp_param_value_ok - esmtp-value: 1*(%d33-60 / %d62-126), plus UTF-8 when allowed */
static bool smtp_param_value_ok(const char *v, size_t len, bool utf8)
{
	if (len == 0)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) v[i];

		if (c >= 0x80 && utf8) {
			uint32_t cp;
			int n = domain_utf8_next(v + i, len - i, &cp);

			if (n < 0 || cp <= 0x9F)
				return false;
			i += (size_t) n - 1;
		} else if (c < 33 || c > 126 || c == '=') {
			return false;
		}
	}
	return true;
}

/* smtp_param_fail - fill the reply for st about item[len]; return st */
static enum smtp_param_status smtp_param_fail(enum smtp_param_status st,
					      const struct smtp_param_def *def,
					      const char *item, size_t len,
					      struct smtp_addr_reply *err)
{
	if (err != NULL) {
		smtp_param_reply(st, err);
		if (st == SMTP_PARAM_EVALUE && def != NULL)
			err->text = def->bad_text;
		err->item = item;
		err->item_len = len;
	}
	return st;
}

/* smtp_param_parse - the loop shared by MAIL and RCPT */
static enum smtp_param_status smtp_param_parse(const char *s, size_t len, unsigned ext,
					       enum smtp_param_cmd cmd,
					       struct smtp_param_ctx *ctx,
					       struct smtp_addr_reply *err)
{
	unsigned seen = 0;
	size_t i = 0;

	while (i < len) {
		const struct smtp_param_def *def;
		size_t start, eq, end;

		if (s[i] == ' ' || s[i] == '\t') {
			i++;
			continue;
		}
		start = i;
		while (i < len && s[i] != ' ' && s[i] != '\t')
			i++;
		end = i;
		for (eq = start; eq < end && s[eq] != '='; eq++)
			;
		if (!smtp_param_keyword_ok(s + start, eq - start))
			return smtp_param_fail(SMTP_PARAM_ESYNTAX, NULL, s + start, end - start, err);
		def = smtp_param_find(s + start, eq - start);
		if (def == NULL || def->cmd != cmd)
			return smtp_param_fail(SMTP_PARAM_EUNKNOWN, NULL, s + start, end - start, err);
		if (!(ext & def->ext))
			return smtp_param_fail(SMTP_PARAM_EDISABLED, def, s + start, end - start, err);
		if (seen & (1u << (def - smtp_param_defs)))
			return smtp_param_fail(SMTP_PARAM_EDUP, def, s + start, end - start, err);
		seen |= 1u << (def - smtp_param_defs);
		ctx->item = s + start;
		ctx->item_len = end - start;
		if (def->has_value != (eq < end) ||
		    (eq < end && !smtp_param_value_ok(s + eq + 1, end - eq - 1, ctx->smtputf8)) ||
		    def->parse(ctx, eq < end ? s + eq + 1 : NULL, eq < end ? end - eq - 1 : 0) < 0)
			return smtp_param_fail(SMTP_PARAM_EVALUE, def, s + start, end - start, err);
	}
	return SMTP_PARAM_OK;
}

enum smtp_param_status smtp_param_parse_mail(const char *s, size_t len, unsigned ext,
					     struct smtp_param_mail *out,
					     struct smtp_addr_reply *err)
{
	struct smtp_param_ctx ctx = {out, NULL, false, NULL, 0, NULL, 0};
	enum smtp_param_status st;

	memset(out, 0, sizeof(*out));
	st = smtp_param_parse(s, len, ext, SMTP_PARAM_CMD_MAIL, &ctx, err);
	if (st == SMTP_PARAM_OK && out->auth_given && !out->auth_null) {
		struct smtp_addr mbox;

		/* now that SMTPUTF8 is known: the AUTH value must be a mailbox */
		if (smtp_addr_parse_mailbox(out->auth, strlen(out->auth),
					    out->smtputf8 ? SMTP_ADDR_F_UTF8 : 0, &mbox) != SMTP_ADDR_OK)
			st = smtp_param_fail(SMTP_PARAM_EVALUE, smtp_param_find("AUTH", 4),
					     ctx.auth_item, ctx.auth_item_len, err);
	}
	if (st != SMTP_PARAM_OK)
		memset(out, 0, sizeof(*out));
	return st;
}

enum smtp_param_status smtp_param_parse_rcpt(const char *s, size_t len, unsigned ext,
					     bool smtputf8, struct smtp_param_rcpt *out,
					     struct smtp_addr_reply *err)
{
	struct smtp_param_ctx ctx = {NULL, out, smtputf8, NULL, 0, NULL, 0};
	enum smtp_param_status st;

	memset(out, 0, sizeof(*out));
	st = smtp_param_parse(s, len, ext, SMTP_PARAM_CMD_RCPT, &ctx, err);
	if (st != SMTP_PARAM_OK)
		memset(out, 0, sizeof(*out));
	return st;
}

void smtp_param_reply(enum smtp_param_status st, struct smtp_addr_reply *err)
{
	if ((unsigned) st >= SMTP_PARAM_NSTATUS)
		st = SMTP_PARAM_ESYNTAX;
	err->code = smtp_param_replies[st].code;
	err->enh = st == SMTP_PARAM_OK ? "2.0.0" : "5.5.4";
	err->text = smtp_param_replies[st].text;
	err->item = NULL;
	err->item_len = 0;
}

int smtp_param_mail_cmd(const char *arg, size_t len, unsigned ext, unsigned addr_flags,
			struct smtp_addr *addr, struct smtp_param_mail *p,
			struct smtp_addr_reply *err)
{
	unsigned flags = addr_flags & ~(unsigned) SMTP_ADDR_F_UTF8;

	memset(p, 0, sizeof(*p));
	if (ext & SMTP_PARAM_EXT_SMTPUTF8)
		flags |= SMTP_ADDR_F_UTF8;
	if (smtp_addr_parse(SMTP_ADDR_MAIL, arg, len, flags, addr, err) != SMTP_ADDR_OK)
		return -1;
	if (smtp_param_parse_mail(addr->params, addr->params_len, ext, p, err) != SMTP_PARAM_OK)
		return -1;
	if (addr->utf8 && !p->smtputf8) {
		smtp_addr_reply(SMTP_ADDR_E8BIT, SMTP_ADDR_MAIL, err);
		return -1;
	}
	return 0;
}

int smtp_param_rcpt_cmd(const char *arg, size_t len, unsigned ext, unsigned addr_flags,
			bool smtputf8, struct smtp_addr *addr, struct smtp_param_rcpt *p,
			struct smtp_addr_reply *err)
{
	unsigned flags = addr_flags & ~(unsigned) SMTP_ADDR_F_UTF8;

	memset(p, 0, sizeof(*p));
	if (smtputf8)
		flags |= SMTP_ADDR_F_UTF8;
	if (smtp_addr_parse(SMTP_ADDR_RCPT, arg, len, flags, addr, err) != SMTP_ADDR_OK)
		return -1;
	if (smtp_param_parse_rcpt(addr->params, addr->params_len, ext, smtputf8, p, err) != SMTP_PARAM_OK)
		return -1;
	return 0;
}

int smtp_param_notify_text(unsigned notify, char *dst, size_t size)
{
	size_t n = 0;

	if (notify == 0 || (notify & ~0xFu) != 0 ||
	    ((notify & SMTP_PARAM_NOTIFY_NEVER) && notify != SMTP_PARAM_NOTIFY_NEVER) || size == 0)
		return -1;
	dst[0] = '\0';
	for (size_t w = 0; w < sizeof(smtp_param_notify_words) / sizeof(smtp_param_notify_words[0]); w++) {
		const char *name = smtp_param_notify_words[w].name;
		size_t len = strlen(name);

		if (!(notify & smtp_param_notify_words[w].bit))
			continue;
		if (size - n < len + 1 + (n > 0))
			return -1;
		if (n > 0)
			dst[n++] = ',';
		memcpy(dst + n, name, len);
		n += len;
		dst[n] = '\0';
	}
	return (int) n;
}
