/*
 * tls_policy - the pure part of the outbound TLS policy engine: the
 * syntax of smtp_tls_policy_maps entries (tern-tls-policy(5)), their
 * lookup by domain, which TLSA records are usable (RFC 7672), how a
 * certificate verification error maps to an RFC 8460 result type, and
 * the decision that turns every source (REQUIRETLS, DANE, MTA-STS, the
 * table, the global default) into a plan for one MX host.
 *
 * Nothing here does I/O except through the tables API, so the decision
 * table can be unit-tested case by case; delivery/smtp_tls.c gathers the
 * inputs (DNS, the sts service, the table) and runs the handshake.
 *
 * Order of the sources, strongest first (the first that applies
 * decides, and the plan's policy text names it):
 *   REQUIRETLS  the host is usable only with DANE (secure, usable TLSA)
 *               or an MTA-STS enforce policy whose mx patterns match the
 *               host; otherwise it is unusable for good (the agent
 *               bounces once every MX was tried). No 465 or plaintext.
 *   TLS-Required: No (without REQUIRETLS)  DANE and MTA-STS are not
 *               consulted; the table and the default still apply.
 *   DANE        secure usable TLSA: TLS required, verified by DANE; a
 *               secure TLSA set with no usable record: TLS required,
 *               not authenticated (RFC 7672 section 2.2); a failed or
 *               bogus TLSA lookup: the host is skipped for now.
 *   MTA-STS     enforce: mx must match, TLS required with PKIX for the
 *               mx name, else the host is skipped for now; testing: the
 *               level of the table or default, plus a PKIX check whose
 *               failure is only recorded.
 *   table       smtp_tls_policy_maps entry: exact domain, then ".parent".
 *   default     smtp_tls_security_level.
 */
#ifndef TERN_MAIL_TLS_POLICY_H
#define TERN_MAIL_TLS_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mail/sts_client.h"

#define TLS_POLICY_TEXT_MAX	256
#define TLS_POLICY_NAME_MAX	64
#define TLS_POLICY_MATCH_MAX	8		/* names in one match= option */
#define TLS_POLICY_MATCH_LEN	256

/* levels, weakest first (same order as enum smtp_tls_level) */
enum tls_level { TLS_LEVEL_NONE, TLS_LEVEL_MAY, TLS_LEVEL_ENCRYPT, TLS_LEVEL_VERIFY, TLS_LEVEL_SECURE,
		 TLS_LEVEL_DANE };

/* message flags (same values as SMTP_TLS_MSG_*) */
#define TLS_POLICY_MSG_REQUIRETLS	(1u << 0)
#define TLS_POLICY_MSG_TLS_REQ_NO	(1u << 1)

/* one smtp_tls_policy_maps entry: "level [match=a:b] [rollover465=no]" */
struct tls_policy_entry {
	enum tls_level level;
	bool rollover465;		/* default true; "rollover465=no" clears it */
	size_t nmatch;
	char match[TLS_POLICY_MATCH_MAX][TLS_POLICY_MATCH_LEN];
};

/* tls_level_parse - "may" -> TLS_LEVEL_MAY ("dane-only" is dane); 0, or -1 unknown */
int tls_level_parse(const char *name, enum tls_level *out);
/* tls_level_name - "none", "may", "encrypt", "verify", "secure", "dane" */
const char *tls_level_name(enum tls_level level);

/*
 * tls_policy_parse - an entry's value; 0, or -1 with err naming the bad
 * word (an unknown level or option, a match= list that is too long)
 */
int tls_policy_parse(const char *value, struct tls_policy_entry *out, char *err, size_t errlen);

/*
 * tls_policy_find - the entry for domain (lower case, no final dot) in
 * tables: the exact domain first, then ".parent" keys from the nearest
 * parent up (".example.com" covers sub.example.com, not example.com).
 * 1 found (*out and key[keylen] set: the key that matched), 0 none, -1
 * a table error or a malformed entry (err says which).
 */
struct tables;
int tls_policy_find(struct tables *tables, const char *domain, struct tls_policy_entry *out,
		    char *key, size_t keylen, char *err, size_t errlen);

/*
 * tls_tlsa_usable - RFC 7672 section 3.1.3 / RFC 6698: usage DANE-TA(2)
 * or DANE-EE(3), selector 0 or 1, matching type 0 (any length > 0), 1
 * (32 bytes) or 2 (64 bytes)
 */
bool tls_tlsa_usable(uint8_t usage, uint8_t selector, uint8_t mtype, size_t len);

/*
 * tls_verify_failure - the RFC 8460 result type for an X509_V_ERR_*
 * code (X509_V_OK gives ""): certificate-host-mismatch,
 * certificate-expired, certificate-not-trusted, validation-failure
 */
const char *tls_verify_failure(long x509_error);

/* what the DANE lookup of one host found */
enum tls_dane_state {
	TLS_DANE_NONE,			/* not looked up, insecure, or secure "no TLSA" */
	TLS_DANE_USABLE,		/* secure TLSA with at least one usable record */
	TLS_DANE_UNUSABLE,		/* secure TLSA, every record unusable */
	TLS_DANE_FAILED,		/* lookup failed or bogus: the host is unusable for now */
};

/* how the handshake authenticates the server */
enum tls_verify { TLS_VERIFY_NONE, TLS_VERIFY_PKIX, TLS_VERIFY_DANE };

/* RFC 8460 policy type of the events of this host */
enum tls_policy_type { TLS_PTYPE_NONE, TLS_PTYPE_STS, TLS_PTYPE_TLSA };

/* everything the decision needs for one MX host */
struct tls_policy_input {
	unsigned msg_flags;		/* TLS_POLICY_MSG_* */
	bool literal_host;		/* [host] or relayhost nexthop: no MTA-STS */
	const char *domain;		/* nexthop domain, lower case */
	const char *mxname;		/* the MX host, lower case */
	enum tls_level default_level;	/* smtp_tls_security_level */
	bool rollover465;		/* smtp_tls_rollover_465 */
	const struct tls_policy_entry *entry;	/* table entry, or NULL */
	const char *entry_error;	/* the table lookup failed: the reason, else NULL */
	enum tls_dane_state dane;
	const char *dane_why;		/* TLS_DANE_FAILED: what went wrong */
	bool dane_bogus;		/* TLS_DANE_FAILED because of a bogus answer */
	enum sts_mode sts_mode;		/* STS_MODE_NONE when there is no policy */
	bool sts_mx_match;		/* mxname matches a pattern of the policy */
};

/* the decision: smtp_tls_plan plus how to verify */
struct tls_policy_decision {
	bool offer_starttls, required, try_465, unusable, permanent;
	enum tls_level level;		/* the effective level */
	enum tls_verify verify;
	bool verify_enforced;		/* a verification failure fails the handshake */
	enum tls_policy_type ptype;
	bool match_names;		/* PKIX names: the entry's match= list (else the MX name) */
	bool match_domain;		/* secure without match=: the nexthop domain and its subdomains */
	char policy[TLS_POLICY_NAME_MAX];	/* for the log line */
	char why[TLS_POLICY_TEXT_MAX];		/* unusable: the reason */
	char failure[48];		/* an RFC 8460 result type to record before connecting, or "" */
};

/* tls_policy_decide - the plan for one host; pure */
void tls_policy_decide(const struct tls_policy_input *in, struct tls_policy_decision *out);

#endif
