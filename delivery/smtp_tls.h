/*
 * smtp_tls - the outbound TLS policy engine of the smtp agent: one place
 * that decides, per destination and per MX host, what TLS is required
 * and how the server is authenticated, and that runs the TLS handshake
 * (OpenSSL, with its own DANE support) and reports the outcome.
 *
 * Sources, strongest first (the first that applies decides; the log
 * line names it):
 *   1. REQUIRETLS on the message (RFC 8689): TLS with DANE or MTA-STS
 *      enforce authentication of every hop, else the recipient cannot be
 *      delivered to that host; "TLS-Required: No" on a message without
 *      REQUIRETLS drops to opportunistic TLS and skips DANE/MTA-STS.
 *   2. DANE (RFC 7672), when the MX answer and the host's TLSA answer are
 *      DNSSEC-secure and at least one TLSA record is usable (3 x x or
 *      2 x x; others ignored): TLS is required and verified with
 *      SSL_dane_tlsa_add; a mismatch defers, never falls back.
 *      smtp_dane = no turns this source off.
 *   3. MTA-STS (RFC 8461) through the sts service: enforce (MX must
 *      match a pattern, PKIX with the MX name, else defer), testing
 *      (deliver anyway, record the failure), none.
 *   4. smtp_tls_policy_maps: per-domain level and options (exact domain,
 *      then ".parent" entries), e.g. "example.com encrypt",
 *      "example.net may rollover465=no", "example.org verify
 *      match=mx.example.org".
 *   5. smtp_tls_security_level (global default, "may").
 * Levels: none, may, encrypt, verify, secure, dane. may and encrypt try
 * STARTTLS on port 25 and, when smtp_tls_rollover_465 is yes and the
 * policy does not say rollover465=no, implicit TLS on 465 when port 25
 * does not offer STARTTLS; may then falls back to plaintext, encrypt
 * defers.
 *
 * Use by the agent, per delivery request:
 *   dest = smtp_tls_dest_new(tls, dns, domain, msg flags)   before MX lookup
 *   for each MX host (in order):
 *     host = smtp_tls_host_new(dest, mxname, mx_secure, port)  (TLSA lookup,
 *            MTA-STS enforce MX filter, REQUIRETLS check: see its plan)
 *     skip the host when the plan says unusable; connect; EHLO; STARTTLS
 *     (or implicit TLS on 465) when the plan says so:
 *     ssl = smtp_tls_connect(host, fd, &outcome)
 *     smtp_tls_host_free(host)
 *   smtp_tls_dest_free(dest)
 * Every handshake outcome (success or RFC 8460 failure type) is written
 * as a result event (tls_event.h) for the tlsrpt service.
 */
#ifndef TERN_DELIVERY_SMTP_TLS_H
#define TERN_DELIVERY_SMTP_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct config;
struct dns;
struct smtp_tls;		/* process-wide: SSL_CTX, CA file, policy table, sts client */
struct smtp_tls_dest;		/* one destination domain for one request */
struct smtp_tls_host;		/* one MX host of it */

#define SMTP_TLS_TEXT_MAX	256

/* message flags the policy depends on */
#define SMTP_TLS_MSG_REQUIRETLS	 (1u << 0)	/* queue file F flag */
#define SMTP_TLS_MSG_TLS_REQ_NO	 (1u << 1)	/* header "TLS-Required: No" present */

enum smtp_tls_level {
	SMTP_TLS_NONE, SMTP_TLS_MAY, SMTP_TLS_ENCRYPT, SMTP_TLS_VERIFY, SMTP_TLS_SECURE, SMTP_TLS_DANE,
};

/* what to do with one MX host before connecting */
struct smtp_tls_plan {
	bool offer_starttls;		/* use STARTTLS when the server offers it */
	bool required;			/* no TLS -> do not send this host anything (defer it) */
	bool try_465;			/* may try implicit TLS on 465 when 25 lacks STARTTLS */
	bool unusable;			/* this host can never satisfy the policy (REQUIRETLS without
					 * DANE/STS, STS enforce MX mismatch): skip it, reason in why */
	bool permanent;			/* unusable is permanent for the message (REQUIRETLS: bounce
					 * once every MX was tried) rather than temporary */
	char policy[64];		/* "dane", "mta-sts enforce", "table encrypt", "default may",
					 * "requiretls", "tls-required-no" ... for the log line */
	char why[SMTP_TLS_TEXT_MAX];
};

/* the result of a handshake, for the log line and the reply text */
struct smtp_tls_outcome {
	bool ok;			/* handshake done and the policy's checks passed */
	bool verified;			/* peer authenticated (how says how) */
	char how[32];			/* "dane-ee", "dane-ta", "pkix", "unverified", "" */
	char protocol[16];		/* "TLSv1.3" */
	char cipher[64];
	char failure[48];		/* RFC 8460 result-type when !ok or unverified where it
					 * matters: "certificate-host-mismatch", "validation-failure",
					 * "tlsa-invalid", "starttls-not-supported", ... */
	char why[SMTP_TLS_TEXT_MAX];	/* human text for defer reasons and logs */
};

/*
 * smtp_tls_new - in pre_jail: settings checked, OpenSSL configuration and
 * CA file read, tables opened (the SSL client context itself is made at
 * the first handshake); NULL with err
 */
struct smtp_tls *smtp_tls_new(const struct config *cfg, struct dns *dns, char *err, size_t errlen);
void smtp_tls_free(struct smtp_tls *t);

/*
 * smtp_tls_dest_new - the policy for mail to domain (the nexthop domain;
 * for a [host] or relayhost nexthop, MTA-STS and DANE of the literal host
 * apply as Postfix does: DANE yes when secure, MTA-STS no). msg_flags:
 * SMTP_TLS_MSG_*. May ask the sts service (blocking, bounded by its
 * timeout). Never NULL.
 */
struct smtp_tls_dest *smtp_tls_dest_new(struct smtp_tls *t, const char *domain, bool literal_host,
					unsigned msg_flags);
void smtp_tls_dest_free(struct smtp_tls_dest *d);
/*
 * smtp_tls_dest_sts_refresh - after a delivery under an MTA-STS enforce
 * policy left recipients deferred: ask the sts service to re-check the
 * domain's TXT id now (RFC 8461 section 10.2: a newer policy may have
 * been published) and take the answer. True when a different policy
 * came back (the caller tries the hosts once more), false otherwise.
 */
bool smtp_tls_dest_sts_refresh(struct smtp_tls_dest *d);

/*
 * smtp_tls_host_new - the plan for one MX host (mxname as in the MX
 * record, mx_secure: the MX answer was DNSSEC-secure; port 25 or the
 * nexthop's port). Looks up TLSA when DANE may apply. Never NULL; read
 * the plan with smtp_tls_host_plan.
 */
struct smtp_tls_host *smtp_tls_host_new(struct smtp_tls_dest *d, const char *mxname, bool mx_secure,
					unsigned port);
const struct smtp_tls_plan *smtp_tls_host_plan(const struct smtp_tls_host *h);
/* smtp_tls_host_no_starttls - port 25 did not offer STARTTLS: records the failure (event) */
void smtp_tls_host_no_starttls(struct smtp_tls_host *h);
/*
 * smtp_tls_host_peer - optional: the connected socket (before STARTTLS
 * or smtp_tls_host_no_starttls), so events of this host carry the local
 * and remote addresses; smtp_tls_connect takes them itself
 */
void smtp_tls_host_peer(struct smtp_tls_host *h, int fd);
void smtp_tls_host_free(struct smtp_tls_host *h);

/*
 * smtp_tls_connect - TLS handshake on the connected socket fd (blocking,
 * timeout seconds), SNI = mxname, verification as planned. Returns the
 * SSL (the caller reads and writes through it, then SSL_shutdown and
 * SSL_free) or NULL; out is always filled and the event is written.
 */
SSL *smtp_tls_connect(struct smtp_tls_host *h, int fd, int timeout, struct smtp_tls_outcome *out);

/* smtp_tls_level_name - "none", "may", ... */
const char *smtp_tls_level_name(enum smtp_tls_level l);

#endif
