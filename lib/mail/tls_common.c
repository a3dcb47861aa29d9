/*
 * tls_common - TLS protocol and cipher settings shared by smtpd and
 * smtp, and OpenSSL's last error as text. Contract in tls_common.h.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "base/mem.h"
#include "base/str.h"
#include "mail/tls_common.h"

/* tls_common_version - "TLSv1.2" -> its number, 0 unknown, -1 obsolete */
static int tls_common_version(const char *name)
{
	if (strcmp(name, "TLSv1.2") == 0)
		return TLS1_2_VERSION;
	if (strcmp(name, "TLSv1.3") == 0)
		return TLS1_3_VERSION;
	if (strcmp(name, "SSLv2") == 0 || strcmp(name, "SSLv3") == 0 || strcmp(name, "TLSv1") == 0 ||
	    strcmp(name, "TLSv1.1") == 0)
		return -1;
	return 0;
}

/* tls_common_last_error - OpenSSL's last error as text */
const char *tls_common_last_error(char *buf, size_t len)
{
	unsigned long code = ERR_peek_last_error();

	if (code == 0)
		str_copy(buf, "no OpenSSL error", len);
	else
		ERR_error_string_n(code, buf, len);
	return buf;
}

/* tls_common_protocols - the protocol list to ctx's version range */
int tls_common_protocols(SSL_CTX *ctx, const char *param, const char *value, char *err, size_t errlen)
{
	char *copy = xstrdup(value), *p = copy, *tok;
	int lo = TLS1_2_VERSION, hi = TLS1_3_VERSION, ret = 0;
	char why[256];

	while (ret == 0 && (tok = str_token(&p, ", :\t")) != NULL) {
		const char *name = tok;
		int v;

		if (strncmp(tok, ">=", 2) == 0 || strncmp(tok, "<=", 2) == 0)
			name = tok + 2;
		else if (tok[0] == '!')
			name = tok + 1;
		v = tls_common_version(name);
		if (v == 0 || (v < 0 && tok[0] != '!')) {
			str_fmt(err, errlen, "%s = %s: \"%s\": use >=, <= or ! with TLSv1.2 or TLSv1.3",
				param, value, tok);
			ret = -1;
		} else if (v < 0)
			continue;	/* "!TLSv1": never offered anyway */
		else if (tok[0] == '>')
			lo = v;
		else if (tok[0] == '<')
			hi = v;
		else if (tok[0] == '!' && v == lo)
			lo = v == TLS1_2_VERSION ? TLS1_3_VERSION : TLS1_3_VERSION + 1;
		else if (tok[0] == '!' && v == hi)
			hi = v == TLS1_3_VERSION ? TLS1_2_VERSION : TLS1_2_VERSION - 1;
	}
	free(copy);
	if (ret == 0 && (lo > hi || lo > TLS1_3_VERSION || hi < TLS1_2_VERSION)) {
		str_fmt(err, errlen, "%s = %s: leaves no protocol", param, value);
		ret = -1;
	}
	if (ret == 0 && (!SSL_CTX_set_min_proto_version(ctx, lo) || !SSL_CTX_set_max_proto_version(ctx, hi))) {
		str_fmt(err, errlen, "%s = %s: OpenSSL refuses the range: %s", param, value,
			tls_common_last_error(why, sizeof(why)));
		ret = -1;
	}
	return ret;
}

/* tls_common_cipher_list - the cipher list of a grade */
const char *tls_common_cipher_list(const char *grade)
{
	if (strcmp(grade, "high") == 0)
		return "HIGH:!aNULL:!eNULL";
	if (strcmp(grade, "medium") == 0)
		return "HIGH:MEDIUM:!aNULL:!eNULL";
	return NULL;
}
