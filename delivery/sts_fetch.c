/*
 * sts_fetch - fetch one MTA-STS policy over HTTPS with libcurl (RFC 8461
 * section 3.3) and parse it (sts_policy.h).
 *
 * The addresses of mta-sts.DOMAIN come from tern's own resolver
 * (dns.h, libunbound) and are handed to libcurl with CURLOPT_RESOLVE, so
 * libcurl never resolves a name itself. Then, as the RFC asks:
 * https only, certificate checked against sts_ca_file alone (no CA
 * directory) with host name verification, TLS 1.2 or later, no
 * redirects (a 3xx is a failure), no proxy (NOPROXY "*", whatever the
 * environment says), HTTP 200 and Content-Type text/plain (parameters
 * such as charset allowed) required, the body limited to
 * sts_max_policy_size (the transfer is stopped beyond it), and the whole
 * transfer bounded by sts_fetch_timeout. A fresh handle per fetch: no
 * connection, DNS or TLS session is reused.
 *
 * Failures map to RFC 8460 result types: certificate problems (CURLE 60,
 * "peer failed verification") are sts-webpki-invalid; a body that does
 * not parse or the wrong Content-Type is sts-policy-invalid; everything
 * else (DNS, connect, timeout, HTTP status, size) is
 * sts-policy-fetch-error.
 */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/str.h"
#include "mail/dns.h"
#include "mail/domain.h"
#include "mail/sts_policy.h"
#include "sts.h"

#define STS_FETCH_ADDRS_MAX	8		/* addresses of mta-sts.DOMAIN tried */
#define STS_FETCH_PATH		"/.well-known/mta-sts.txt"

/* sts_body - the body as it arrives, with its limit */
struct sts_body {
	struct buf data;
	size_t limit;
	bool too_big;
};

/* sts_fetch_init - curl_global_init, once */
int sts_fetch_init(char *err, size_t errlen)
{
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);

	if (rc != CURLE_OK) {
		str_fmt(err, errlen, "libcurl initialisation failed: %s", curl_easy_strerror(rc));
		return -1;
	}
	return 0;
}

/* sts_fetch_write - libcurl's write callback: keep the body up to its limit */
static size_t sts_fetch_write(char *p, size_t size, size_t n, void *arg)
{
	struct sts_body *b = arg;
	size_t len = size * n;

	if (len > b->limit - b->data.len) {
		b->too_big = true;
		return 0;			/* stops the transfer: CURLE_WRITE_ERROR */
	}
	if (buf_append(&b->data, p, len) < 0) {
		b->too_big = true;
		return 0;
	}
	return len;
}

/* sts_fetch_addrs - "a1,[a2],..." of host's A and AAAA records; count, or -1 with text */
static int sts_fetch_addrs(struct dns *dns, const char *host, char *out, size_t outlen,
			   char *text, size_t textlen)
{
	static const int types[] = {DNS_T_A, DNS_T_AAAA};
	char why[DNS_WHY_MAX + 64] = "";
	size_t n = 0, used = 0;

	out[0] = '\0';
	for (size_t t = 0; t < sizeof(types) / sizeof(types[0]); t++) {
		struct dns_answer *a = dns_lookup(dns, host, types[t]);

		if (a->status == DNS_TEMPFAIL && why[0] == '\0')
			str_fmt(why, sizeof(why), "%s/%s: %s", host, types[t] == DNS_T_A ? "A" : "AAAA", a->why);
		for (size_t i = 0; a->status == DNS_OK && i < a->n && n < STS_FETCH_ADDRS_MAX; i++) {
			char addr[INET6_ADDRSTRLEN];
			const struct dns_rr *rr = &a->rr[i];
			int w;

			if (rr->type == DNS_T_A)
				inet_ntop(AF_INET, &rr->u.a, addr, sizeof(addr));
			else if (rr->type == DNS_T_AAAA)
				inet_ntop(AF_INET6, &rr->u.aaaa, addr, sizeof(addr));
			else
				continue;
			w = snprintf(out + used, outlen - used, rr->type == DNS_T_A ? "%s%s" : "%s[%s]",
				     n > 0 ? "," : "", addr);
			if (w < 0 || (size_t) w >= outlen - used)
				break;
			used += (size_t) w;
			n++;
		}
		dns_answer_free(a);
	}
	if (n == 0) {
		if (why[0] != '\0')
			str_fmt(text, textlen, "DNS lookup failed: %s", why);
		else
			str_fmt(text, textlen, "%s has no address", host);
		return -1;
	}
	return (int) n;
}

/* sts_content_type_ok - "text/plain", maybe with parameters */
static bool sts_content_type_ok(const char *ct)
{
	size_t n = strlen("text/plain");

	if (ct == NULL || strncasecmp(ct, "text/plain", n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

/* sts_fetch_fail - set failure and a printf reason; returns -1 */
__attribute__((format(printf, 6, 7)))
static int sts_fetch_fail(char *failure, size_t failurelen, const char *type,
			  char *text, size_t textlen, const char *fmt, ...);

static int sts_fetch_fail(char *failure, size_t failurelen, const char *type,
			  char *text, size_t textlen, const char *fmt, ...)
{
	va_list ap;

	str_copy(failure, type, failurelen);
	va_start(ap, fmt);
	vsnprintf(text, textlen, fmt, ap);
	va_end(ap);
	return -1;
}

/* sts_fetch_setup - the options of one fetch; CURLE_OK or the first error */
static CURLcode sts_fetch_setup(CURL *c, const struct sts_fetch_opts *o, const char *url,
				struct curl_slist *resolve, struct sts_body *body, char *errbuf)
{
	CURLcode rc = CURLE_OK;

#define STS_OPT(opt, val) do { if (rc == CURLE_OK) rc = curl_easy_setopt(c, opt, val); } while (0)
	STS_OPT(CURLOPT_ERRORBUFFER, errbuf);
	STS_OPT(CURLOPT_URL, url);
	STS_OPT(CURLOPT_PROTOCOLS_STR, "https");
	STS_OPT(CURLOPT_RESOLVE, resolve);
	STS_OPT(CURLOPT_NOPROXY, "*");
	STS_OPT(CURLOPT_PROXY, "");
	STS_OPT(CURLOPT_FOLLOWLOCATION, 0L);
	STS_OPT(CURLOPT_CAINFO, o->ca_file);
	STS_OPT(CURLOPT_CAPATH, NULL);
	STS_OPT(CURLOPT_SSL_VERIFYPEER, 1L);
	STS_OPT(CURLOPT_SSL_VERIFYHOST, 2L);
	STS_OPT(CURLOPT_SSLVERSION, (long) CURL_SSLVERSION_TLSv1_2);
	STS_OPT(CURLOPT_TIMEOUT, (long) o->timeout);
	STS_OPT(CURLOPT_CONNECTTIMEOUT, (long) o->timeout);
	STS_OPT(CURLOPT_NOSIGNAL, 1L);
	STS_OPT(CURLOPT_FRESH_CONNECT, 1L);
	STS_OPT(CURLOPT_FORBID_REUSE, 1L);
	STS_OPT(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t) o->max_size);
	STS_OPT(CURLOPT_USERAGENT, "tern-sts");
	STS_OPT(CURLOPT_WRITEFUNCTION, sts_fetch_write);
	STS_OPT(CURLOPT_WRITEDATA, body);
#undef STS_OPT
	return rc;
}

/* sts_fetch_curl_failure - map a libcurl error to a failure type and reason */
static int sts_fetch_curl_failure(CURLcode rc, const struct sts_body *body, const char *errbuf,
				  const struct sts_fetch_opts *o, char *failure, size_t failurelen,
				  char *text, size_t textlen)
{
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);

	if (body->too_big || rc == CURLE_FILESIZE_EXCEEDED)
		return sts_fetch_fail(failure, failurelen, STS_FAIL_FETCH, text, textlen,
				      "policy larger than %lld bytes", o->max_size);
	if (rc == CURLE_PEER_FAILED_VERIFICATION)
		return sts_fetch_fail(failure, failurelen, STS_FAIL_WEBPKI, text, textlen,
				      "certificate not valid: %s", detail);
	if (rc == CURLE_SSL_CACERT_BADFILE)
		return sts_fetch_fail(failure, failurelen, STS_FAIL_FETCH, text, textlen,
				      "cannot use sts_ca_file %s: %s", o->ca_file, detail);
	if (rc == CURLE_OPERATION_TIMEDOUT)
		return sts_fetch_fail(failure, failurelen, STS_FAIL_FETCH, text, textlen,
				      "timed out after %llds: %s", o->timeout, detail);
	return sts_fetch_fail(failure, failurelen, STS_FAIL_FETCH, text, textlen, "%s", detail);
}

/* sts_fetch - fetch and parse the policy of domain (see sts.h) */
int sts_fetch(struct dns *dns, const struct sts_fetch_opts *o, const char *domain,
	      struct sts_policy *out, char *failure, size_t failurelen,
	      char *text, size_t textlen)
{
	char host[DNS_NAME_MAX + 1], url[DNS_NAME_MAX + 64], addrs[STS_FETCH_ADDRS_MAX * 50];
	char resolve_line[sizeof(host) + sizeof(addrs) + 16], errbuf[CURL_ERROR_SIZE] = "";
	char why[256];
	struct curl_slist *resolve = NULL;
	struct sts_body body;
	long code = 0;
	char *ct = NULL;
	CURL *c;
	CURLcode rc;
	int ret;

	failure[0] = text[0] = '\0';
	if (str_fmt(host, sizeof(host), "mta-sts.%s", domain) < 0 || strlen(host) > DOMAIN_NAME_MAX)
		return sts_fetch_fail(failure, failurelen, STS_FAIL_FETCH, text, textlen,
				      "mta-sts.%s is too long a name", domain);
	if (sts_fetch_addrs(dns, host, addrs, sizeof(addrs), why, sizeof(why)) < 0)
		return sts_fetch_fail(failure, failurelen, STS_FAIL_FETCH, text, textlen, "%s", why);
	str_fmt(url, sizeof(url), "https://%s%s", host, STS_FETCH_PATH);
	str_fmt(resolve_line, sizeof(resolve_line), "%s:%d:%s", host, o->port, addrs);
	if ((c = curl_easy_init()) == NULL)
		return sts_fetch_fail(failure, failurelen, STS_FAIL_FETCH, text, textlen,
				      "libcurl: cannot make a handle");
	if ((resolve = curl_slist_append(NULL, resolve_line)) == NULL) {
		curl_easy_cleanup(c);
		return sts_fetch_fail(failure, failurelen, STS_FAIL_FETCH, text, textlen,
				      "libcurl: out of memory");
	}
	buf_init(&body.data, (size_t) o->max_size);
	body.limit = (size_t) o->max_size;
	body.too_big = false;
	rc = sts_fetch_setup(c, o, url, resolve, &body, errbuf);
	if (rc != CURLE_OK)
		ret = sts_fetch_fail(failure, failurelen, STS_FAIL_FETCH, text, textlen,
				     "libcurl set-up: %s", curl_easy_strerror(rc));
	else if ((rc = curl_easy_perform(c)) != CURLE_OK)
		ret = sts_fetch_curl_failure(rc, &body, errbuf, o, failure, failurelen, text, textlen);
	else if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK || code != 200)
		ret = sts_fetch_fail(failure, failurelen, STS_FAIL_FETCH, text, textlen,
				     code >= 300 && code < 400 ? "%s: HTTP %ld (redirects are not followed)"
				     : "%s: HTTP %ld", url, code);
	else if (curl_easy_getinfo(c, CURLINFO_CONTENT_TYPE, &ct) != CURLE_OK || !sts_content_type_ok(ct))
		ret = sts_fetch_fail(failure, failurelen, STS_FAIL_INVALID, text, textlen,
				     "%s: Content-Type %s, not text/plain", url, ct ? ct : "missing");
	else if (sts_policy_parse(body.data.len ? body.data.data : "", body.data.len, out, why, sizeof(why)) < 0)
		ret = sts_fetch_fail(failure, failurelen, STS_FAIL_INVALID, text, textlen,
				     "%s: invalid policy: %s", url, why);
	else
		ret = 0;
	buf_free(&body.data);
	curl_slist_free_all(resolve);
	curl_easy_cleanup(c);
	return ret;
}
