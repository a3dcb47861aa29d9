/*
 * sts_proto - how the smtp agent (and ternctl sts) ask the sts service
 * for a domain's MTA-STS policy (RFC 8461), over private/sts with the
 * attribute frames of base/ipc.h: one request frame, one reply frame, a
 * connection may carry several.
 *
 * The sts service owns the cache (Berkeley DB under data_directory) and
 * does the DNS (_mta-sts TXT, the A/AAAA of mta-sts.DOMAIN through
 * libunbound, given to libcurl with CURLOPT_RESOLVE) and HTTPS fetches.
 * It answers GET from the cache when the cached policy is unexpired and
 * the TXT id has not changed (it re-checks the TXT record at most every
 * sts_txt_check_interval); it keeps using a cached unexpired policy when
 * a fetch fails.
 */
#ifndef TERN_MAIL_STS_PROTO_H
#define TERN_MAIL_STS_PROTO_H

#define STS_SOCKET_PRIVATE	"private/sts"

#define STS_OP			"op"
#define STS_OP_GET		"get"		/* policy for STS_DOMAIN (cache, else fetch) */
#define STS_OP_REFRESH		"refresh"	/* re-check the TXT id now and fetch if it changed */
#define STS_OP_SHOW		"show"		/* cache entry only, no network (ternctl sts show) */
#define STS_OP_PURGE		"purge"		/* drop the cache entry (ternctl sts purge) */

/* request */
#define STS_DOMAIN		"domain"	/* S: lower-case A-label domain */

/* reply */
#define STS_STATUS		"status"	/* S: see STS_ST_* */
#define STS_ST_POLICY		"policy"	/* a policy follows */
#define STS_ST_NONE		"none"		/* the domain has no MTA-STS (no TXT record) */
#define STS_ST_ERROR		"error"		/* TXT present but no usable policy and none cached */
#define STS_MODE		"mode"		/* S: "enforce", "testing", "none" */
#define STS_MX			"mx"		/* S, repeated: "mx.example.com" or "*.example.com" */
#define STS_MAX_AGE		"max_age"	/* I: seconds, from the policy */
#define STS_ID			"id"		/* S: the TXT id the policy was fetched for */
#define STS_FETCHED		"fetched"	/* I: unix time of the fetch */
#define STS_EXPIRES		"expires"	/* I: unix time the cached policy expires */
#define STS_FROM_CACHE		"from_cache"	/* I: 1 when no fetch was made for this answer */
#define STS_FAILURE		"failure"	/* S: with error (or with policy when a refresh failed and
						 * the cached one was used): RFC 8460 result type
						 * "sts-policy-fetch-error", "sts-policy-invalid", "sts-webpki-invalid" */
#define STS_TEXT		"text"		/* S: human-readable reason */

#endif
