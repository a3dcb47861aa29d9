/*
 * sts_policy - the two texts of MTA-STS (RFC 8461), parsed: the policy
 * file served at https://mta-sts.DOMAIN/.well-known/mta-sts.txt
 * (section 3.2) and the "_mta-sts" TXT record (section 3.1), plus the
 * MX pattern match of section 4.1.
 *
 * Everything here is pure: no DNS, no I/O, no allocation. Input comes
 * from the network with an explicit length; every byte is looked at.
 *
 * Policy text: lines end in LF or CRLF; each is "key: value" with
 * optional white space around the colon. Keys and values are
 * case-sensitive as the RFC's ABNF (%s) says. version (must be "STSv1"),
 * mode (enforce, testing, none) and max_age (1..10 digits) are required,
 * and at least one mx line unless mode is none. A repeated non-mx key:
 * the first wins. Unknown keys are ignored. Empty lines are ignored; any
 * other line without a colon makes the policy invalid. max_age above
 * STS_MAX_AGE_LIMIT is capped to it. mx values are "host.name" or
 * "*.host.name" (LDH labels, a final dot dropped), folded to lower case;
 * a bad one makes the policy invalid; beyond STS_MX_MAX lines the rest
 * are dropped, which can only make an enforce policy stricter.
 *
 * TXT record: "v=STSv1" then ";"-separated fields (white space around
 * the separators allowed); "id=" of 1..32 letters and digits is
 * required; other fields of the RFC's extension syntax are ignored. A
 * record that does not start with "v=STSv1" is no STS record at all;
 * the domain has a policy to fetch only when exactly one STS record
 * exists and it is well formed (sts_txt_select).
 */
#ifndef TERN_MAIL_STS_POLICY_H
#define TERN_MAIL_STS_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "mail/sts_client.h"

#define STS_MAX_AGE_LIMIT	31557600	/* seconds: RFC 8461 section 3.2 */
#define STS_ID_MAX		32		/* characters of a TXT id */

/*
 * sts_policy_parse - policy text[0..len) into out->mode, out->mx, nmx,
 * out->max_age (other fields untouched). 0, or -1 with the reason in err
 * (the RFC 8460 type is then sts-policy-invalid).
 */
int sts_policy_parse(const char *text, size_t len, struct sts_policy *out,
		     char *err, size_t errlen);

/*
 * sts_txt_parse - one TXT record (its strings joined): 1 a valid STS
 * record, its id copied to id[idlen] (idlen > STS_ID_MAX); 0 not an STS
 * record (does not start with "v=STSv1"); -1 an STS record with a syntax
 * error (err says which).
 */
int sts_txt_parse(const char *txt, size_t len, char *id, size_t idlen,
		  char *err, size_t errlen);

/*
 * sts_txt_select - the records of one TXT answer: 1 when exactly one is
 * an STS record and it is valid (id set); 0 otherwise: no STS, with err
 * saying why when there was any STS record ("" when none).
 */
int sts_txt_select(const char *const *txt, size_t n, char *id, size_t idlen,
		   char *err, size_t errlen);

/* sts_mode_parse - "enforce", "testing", "none" (exact): 0, or -1 */
int sts_mode_parse(const char *s, enum sts_mode *mode);

/*
 * sts_mx_pattern_match - RFC 8461 section 4.1, one pattern: equal, or
 * pattern "*.rest" and name is exactly one label followed by ".rest".
 * Case-insensitive; a final dot on either side is ignored.
 */
bool sts_mx_pattern_match(const char *pattern, const char *name);

/*
 * sts_domain_ok - a policy domain the service will work on: a host name
 * of LDH labels (A-labels), at most DOMAIN_NAME_MAX octets, no final dot
 */
bool sts_domain_ok(const char *domain);

#endif
