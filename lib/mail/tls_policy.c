/*
 * tls_policy - policy table entries, TLSA usability, verification error
 * types and the per-host TLS decision (see tls_policy.h for the order of
 * the sources). Pure functions except tls_policy_find, which reads the
 * tables it is given.
 *
 * Failures: parse errors and table errors come back as -1 with a reason;
 * the decision itself cannot fail (a table error becomes a temporarily
 * unusable host, never a weaker policy).
 */
#include <string.h>

#include <openssl/x509_vfy.h>

#include "base/str.h"
#include "mail/table.h"
#include "mail/tls_policy.h"

static const char *const tls_level_names[] = {
	[TLS_LEVEL_NONE] = "none", [TLS_LEVEL_MAY] = "may", [TLS_LEVEL_ENCRYPT] = "encrypt",
	[TLS_LEVEL_VERIFY] = "verify", [TLS_LEVEL_SECURE] = "secure", [TLS_LEVEL_DANE] = "dane",
};

/* tls_level_parse - a level name to its value */
int tls_level_parse(const char *name, enum tls_level *out)
{
	for (size_t i = 0; i < sizeof(tls_level_names) / sizeof(tls_level_names[0]); i++) {
		if (str_eq_nocase(name, tls_level_names[i])) {
			*out = (enum tls_level) i;
			return 0;
		}
	}
	if (str_eq_nocase(name, "dane-only")) {
		*out = TLS_LEVEL_DANE;
		return 0;
	}
	return -1;
}

/* tls_level_name - the name of a level */
const char *tls_level_name(enum tls_level level)
{
	if ((size_t) level >= sizeof(tls_level_names) / sizeof(tls_level_names[0]))
		return "unknown";
	return tls_level_names[level];
}

/* tls_policy_match - split "a:b:c" into the entry's match names */
static int tls_policy_match(const char *list, struct tls_policy_entry *out, char *err, size_t errlen)
{
	const char *p = list;

	while (*p != '\0') {
		size_t n = strcspn(p, ":");

		if (n == 0) {
			p++;
			continue;
		}
		if (out->nmatch >= TLS_POLICY_MATCH_MAX) {
			str_fmt(err, errlen, "match=%s: more than %d names", list, TLS_POLICY_MATCH_MAX);
			return -1;
		}
		if (n >= TLS_POLICY_MATCH_LEN) {
			str_fmt(err, errlen, "match=: a name longer than %d bytes", TLS_POLICY_MATCH_LEN - 1);
			return -1;
		}
		memcpy(out->match[out->nmatch], p, n);
		out->match[out->nmatch][n] = '\0';
		str_lower(out->match[out->nmatch]);
		out->nmatch++;
		p += n;
	}
	if (out->nmatch == 0) {
		str_fmt(err, errlen, "match=: no names");
		return -1;
	}
	return 0;
}

/* tls_policy_parse - "level [option ...]" into an entry */
int tls_policy_parse(const char *value, struct tls_policy_entry *out, char *err, size_t errlen)
{
	char copy[TLS_POLICY_TEXT_MAX * 8];
	char *p = copy, *word;
	bool have_level = false;

	memset(out, 0, sizeof(*out));
	out->rollover465 = true;
	if (str_copy(copy, value, sizeof(copy)) != 0) {
		str_fmt(err, errlen, "policy entry longer than %zu bytes", sizeof(copy) - 1);
		return -1;
	}
	while ((word = str_token(&p, " \t,")) != NULL) {
		if (!have_level) {
			if (tls_level_parse(word, &out->level) != 0) {
				str_fmt(err, errlen, "unknown TLS level \"%.64s\" (none, may, encrypt, verify, "
					"secure, dane)", word);
				return -1;
			}
			have_level = true;
		} else if (str_has_prefix_nocase(word, "match=")) {
			if (tls_policy_match(word + 6, out, err, errlen) != 0)
				return -1;
		} else if (str_has_prefix_nocase(word, "rollover465=")) {
			if (str_to_bool(word + 12, &out->rollover465) != 0) {
				str_fmt(err, errlen, "rollover465=%.32s: expected yes or no", word + 12);
				return -1;
			}
		} else {
			str_fmt(err, errlen, "unknown option \"%.64s\" (match=, rollover465=)", word);
			return -1;
		}
	}
	if (!have_level) {
		str_fmt(err, errlen, "empty policy: expected a TLS level");
		return -1;
	}
	return 0;
}

/* tls_policy_find - exact domain, then ".parent" keys, nearest first */
int tls_policy_find(struct tables *tables, const char *domain, struct tls_policy_entry *out,
		    char *key, size_t keylen, char *err, size_t errlen)
{
	const char *k = domain;

	while (k != NULL && *k != '\0') {
		const char *value;
		char why[TABLE_ERR_SIZE];
		int r = tables_lookup(tables, k, &value, NULL, why, sizeof(why));

		if (r < 0) {
			str_fmt(err, errlen, "smtp_tls_policy_maps lookup of %s: %s", k, why);
			return -1;
		}
		if (r > 0) {
			if (tls_policy_parse(value, out, why, sizeof(why)) != 0) {
				str_fmt(err, errlen, "smtp_tls_policy_maps entry %s: %s", k, why);
				return -1;
			}
			str_copy(key, k, keylen);
			return 1;
		}
		/* next key: ".rest" after the first label of what is left */
		k = strchr(k == domain ? k : k + 1, '.');
	}
	return 0;
}

/* tls_tlsa_usable - a record DANE for SMTP can use */
bool tls_tlsa_usable(uint8_t usage, uint8_t selector, uint8_t mtype, size_t len)
{
	if (usage != 2 && usage != 3)
		return false;
	if (selector > 1)
		return false;
	switch (mtype) {
	case 0:
		return len > 0;
	case 1:
		return len == 32;
	case 2:
		return len == 64;
	default:
		return false;
	}
}

/* tls_verify_failure - RFC 8460 result type of a verification error */
const char *tls_verify_failure(long x509_error)
{
	switch (x509_error) {
	case X509_V_OK:
		return "";
	case X509_V_ERR_HOSTNAME_MISMATCH:
		return "certificate-host-mismatch";
	case X509_V_ERR_CERT_HAS_EXPIRED:
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "certificate-expired";
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_UNTRUSTED:
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_CERT_REJECTED:
		return "certificate-not-trusted";
	default:
		return "validation-failure";
	}
}

/* tls_decide_level - fill the plan of a plain level (table or default) */
static void tls_decide_level(const struct tls_policy_input *in, enum tls_level level, bool rollover,
			     struct tls_policy_decision *out)
{
	out->level = level;
	switch (level) {
	case TLS_LEVEL_NONE:
		break;
	case TLS_LEVEL_MAY:
		out->offer_starttls = true;
		out->try_465 = rollover;
		break;
	case TLS_LEVEL_ENCRYPT:
		out->offer_starttls = out->required = true;
		out->try_465 = rollover;
		break;
	case TLS_LEVEL_VERIFY:
	case TLS_LEVEL_SECURE:
		out->offer_starttls = out->required = true;
		out->verify = TLS_VERIFY_PKIX;
		out->verify_enforced = true;
		out->match_names = in->entry != NULL && in->entry->nmatch > 0;
		out->match_domain = level == TLS_LEVEL_SECURE && !out->match_names;
		break;
	case TLS_LEVEL_DANE:
		/* dane-only without usable TLSA: handled by the caller */
		out->offer_starttls = out->required = true;
		break;
	}
}

/* tls_decide_requiretls - RFC 8689 section 4.2.1: DANE or MTA-STS enforce, else never */
static void tls_decide_requiretls(const struct tls_policy_input *in, struct tls_policy_decision *out)
{
	bool sts_ok = !in->literal_host && in->sts_mode == STS_MODE_ENFORCE && in->sts_mx_match;

	out->level = TLS_LEVEL_SECURE;
	if (in->dane == TLS_DANE_FAILED) {
		out->unusable = true;
		out->ptype = TLS_PTYPE_TLSA;
		str_copy(out->policy, "requiretls", sizeof(out->policy));
		str_fmt(out->why, sizeof(out->why), "REQUIRETLS: TLSA lookup for %s failed: %s", in->mxname,
			in->dane_why ? in->dane_why : "unknown error");
		if (in->dane_bogus)
			str_copy(out->failure, "dnssec-invalid", sizeof(out->failure));
		return;
	}
	if (in->dane == TLS_DANE_USABLE) {
		out->offer_starttls = out->required = true;
		out->verify = TLS_VERIFY_DANE;
		out->verify_enforced = true;
		out->level = TLS_LEVEL_DANE;
		out->ptype = TLS_PTYPE_TLSA;
		str_copy(out->policy, "requiretls dane", sizeof(out->policy));
		return;
	}
	if (sts_ok) {
		out->offer_starttls = out->required = true;
		out->verify = TLS_VERIFY_PKIX;
		out->verify_enforced = true;
		out->ptype = TLS_PTYPE_STS;
		str_copy(out->policy, "requiretls mta-sts", sizeof(out->policy));
		return;
	}
	out->unusable = out->permanent = true;
	str_copy(out->policy, "requiretls", sizeof(out->policy));
	if (!in->literal_host && in->sts_mode == STS_MODE_ENFORCE)
		str_fmt(out->why, sizeof(out->why), "REQUIRETLS: no DANE for mx %s and it matches no mx "
			"of the MTA-STS policy of %s", in->mxname, in->domain);
	else
		str_fmt(out->why, sizeof(out->why), "REQUIRETLS: no DANE or MTA-STS authentication for mx %s",
			in->mxname);
}

/* tls_policy_decide - every source, strongest first */
void tls_policy_decide(const struct tls_policy_input *in, struct tls_policy_decision *out)
{
	bool requiretls = (in->msg_flags & TLS_POLICY_MSG_REQUIRETLS) != 0;
	bool tls_req_no = !requiretls && (in->msg_flags & TLS_POLICY_MSG_TLS_REQ_NO) != 0;
	bool sts = !in->literal_host && !tls_req_no && in->sts_mode != STS_MODE_NONE;
	const char *source = in->entry ? "table" : "default";
	enum tls_level level = in->entry ? in->entry->level : in->default_level;
	bool rollover = in->rollover465 && (in->entry == NULL || in->entry->rollover465);

	memset(out, 0, sizeof(*out));
	if (in->entry_error != NULL) {
		out->unusable = true;
		str_copy(out->policy, "table error", sizeof(out->policy));
		str_fmt(out->why, sizeof(out->why), "TLS policy unknown: %s", in->entry_error);
		return;
	}
	if (requiretls) {
		tls_decide_requiretls(in, out);
		return;
	}
	if (!tls_req_no && in->dane == TLS_DANE_FAILED) {
		out->unusable = true;
		out->ptype = TLS_PTYPE_TLSA;
		out->level = TLS_LEVEL_DANE;
		str_copy(out->policy, "dane", sizeof(out->policy));
		str_fmt(out->why, sizeof(out->why), "TLSA lookup for %s failed: %s", in->mxname,
			in->dane_why ? in->dane_why : "unknown error");
		if (in->dane_bogus)
			str_copy(out->failure, "dnssec-invalid", sizeof(out->failure));
		return;
	}
	if (!tls_req_no && in->dane == TLS_DANE_USABLE) {
		out->offer_starttls = out->required = true;
		out->level = TLS_LEVEL_DANE;
		out->verify = TLS_VERIFY_DANE;
		out->verify_enforced = true;
		out->ptype = TLS_PTYPE_TLSA;
		str_copy(out->policy, "dane", sizeof(out->policy));
		return;
	}
	if (!tls_req_no && in->dane == TLS_DANE_UNUSABLE) {
		/* RFC 7672 section 2.2: secure TLSA, none usable: TLS mandatory, not authenticated */
		out->offer_starttls = out->required = true;
		out->level = TLS_LEVEL_ENCRYPT;
		out->ptype = TLS_PTYPE_TLSA;
		str_copy(out->policy, "dane (no usable TLSA)", sizeof(out->policy));
		return;
	}
	if (sts && in->sts_mode == STS_MODE_ENFORCE) {
		out->ptype = TLS_PTYPE_STS;
		str_copy(out->policy, "mta-sts enforce", sizeof(out->policy));
		if (!in->sts_mx_match) {
			out->unusable = true;
			str_copy(out->failure, "validation-failure", sizeof(out->failure));
			str_fmt(out->why, sizeof(out->why), "MTA-STS enforce: mx %s matches no mx of the "
				"policy of %s", in->mxname, in->domain);
			return;
		}
		out->offer_starttls = out->required = true;
		out->level = TLS_LEVEL_VERIFY;
		out->verify = TLS_VERIFY_PKIX;
		out->verify_enforced = true;
		return;
	}
	if (tls_req_no && level == TLS_LEVEL_DANE)
		level = TLS_LEVEL_MAY;	/* DANE is the recipient's policy: "TLS-Required: No" drops it */
	if (level == TLS_LEVEL_DANE) {
		out->unusable = true;
		out->level = level;
		out->ptype = TLS_PTYPE_TLSA;
		str_copy(out->failure, "dane-required", sizeof(out->failure));
		str_fmt(out->policy, sizeof(out->policy), "%s dane", source);
		str_fmt(out->why, sizeof(out->why), "policy dane: no DNSSEC-secure usable TLSA for %s",
			in->mxname);
		return;
	}
	tls_decide_level(in, level, rollover, out);
	if (tls_req_no && in->entry == NULL && level == TLS_LEVEL_MAY)
		str_copy(out->policy, "tls-required-no", sizeof(out->policy));
	else if (tls_req_no)
		str_fmt(out->policy, sizeof(out->policy), "tls-required-no, %s %s", source,
			tls_level_name(level));
	else if (sts) {
		/* testing: check as enforce would, record failures, deliver anyway */
		out->ptype = TLS_PTYPE_STS;
		if (out->verify == TLS_VERIFY_NONE && level != TLS_LEVEL_NONE)
			out->verify = TLS_VERIFY_PKIX;
		if (!in->sts_mx_match)
			str_copy(out->failure, "validation-failure", sizeof(out->failure));
		str_fmt(out->policy, sizeof(out->policy), "mta-sts testing, %s %s", source,
			tls_level_name(level));
	} else
		str_fmt(out->policy, sizeof(out->policy), "%s %s", source, tls_level_name(level));
}
