/*
 * tls_common - TLS protocol and cipher settings shared by smtpd and
 * smtp, OpenSSL's start-up, and OpenSSL's last error as text. Contract
 * in tls_common.h.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/conf.h>
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

/* set by tls_common_init when loading openssl.cnf would do nothing: tls_common_ready skips it */
static bool tls_common_no_config;

/*
 * tls_common_config_empty - does the configuration file name nothing to
 * initialise (no openssl_conf section, or an empty one)? Reading it is
 * ~0.5 ms of CPU here; applying it (OPENSSL_init_ssl with its
 * configuration) ~2 ms, mostly OpenSSL setting itself up for a context
 * an smtp process that never shakes hands does not need. Any doubt
 * (no file, a syntax error): false, and the caller loads it as always.
 */
static bool tls_common_config_empty(void)
{
	char *file = CONF_get1_default_config_file();
	CONF *conf = file != NULL ? NCONF_new(NULL) : NULL;
	STACK_OF(CONF_VALUE) *top, *values = NULL;
	const char *section = NULL;
	bool empty = false;

	/*
	 * the section is looked for by hand: NCONF_get_string queues an
	 * error for a missing name, and touching the error queue makes
	 * OpenSSL load its error strings (~1 ms here)
	 */
	if (conf != NULL && NCONF_load(conf, file, NULL) > 0) {
		if ((top = NCONF_get_section(conf, "default")) != NULL)
			for (int i = 0; section == NULL && i < sk_CONF_VALUE_num(top); i++)
				if (strcmp(sk_CONF_VALUE_value(top, i)->name, "openssl_conf") == 0)
					section = sk_CONF_VALUE_value(top, i)->value;
		if (section != NULL)
			values = NCONF_get_section(conf, section);
		empty = section == NULL || values == NULL || sk_CONF_VALUE_num(values) == 0;
	} else {
		ERR_clear_error();	/* what went wrong is for OPENSSL_init_ssl to report */
	}
	NCONF_free(conf);
	OPENSSL_free(file);
	return empty;
}

/* tls_common_init - OpenSSL's configuration file and providers, read now */
int tls_common_init(char *err, size_t errlen)
{
	char why[256];

	if (tls_common_config_empty()) {
		tls_common_no_config = true;
		return 0;
	}
	if (!OPENSSL_init_ssl(OPENSSL_INIT_LOAD_CONFIG, NULL)) {
		str_fmt(err, errlen, "OpenSSL initialisation (openssl.cnf): %s",
			tls_common_last_error(why, sizeof(why)));
		return -1;
	}
	return 0;
}

/* tls_common_ready - before the first context: OpenSSL without reading the configuration again */
int tls_common_ready(char *err, size_t errlen)
{
	char why[256];

	if (!tls_common_no_config)
		return 0;
	if (!OPENSSL_init_ssl(OPENSSL_INIT_NO_LOAD_CONFIG, NULL)) {
		str_fmt(err, errlen, "OpenSSL initialisation: %s", tls_common_last_error(why, sizeof(why)));
		return -1;
	}
	return 0;
}

/* tls_common_protocol_range - the protocol list as a version range */
int tls_common_protocol_range(const char *param, const char *value, int *lo, int *hi,
			      char *err, size_t errlen)
{
	char *copy = xstrdup(value), *p = copy, *tok;
	int ret = 0;

	*lo = TLS1_2_VERSION;
	*hi = TLS1_3_VERSION;
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
			*lo = v;
		else if (tok[0] == '<')
			*hi = v;
		else if (tok[0] == '!' && v == *lo)
			*lo = v == TLS1_2_VERSION ? TLS1_3_VERSION : TLS1_3_VERSION + 1;
		else if (tok[0] == '!' && v == *hi)
			*hi = v == TLS1_3_VERSION ? TLS1_2_VERSION : TLS1_2_VERSION - 1;
	}
	free(copy);
	if (ret == 0 && (*lo > *hi || *lo > TLS1_3_VERSION || *hi < TLS1_2_VERSION)) {
		str_fmt(err, errlen, "%s = %s: leaves no protocol", param, value);
		ret = -1;
	}
	return ret;
}

/* tls_common_protocols - the protocol list to ctx's version range */
int tls_common_protocols(SSL_CTX *ctx, const char *param, const char *value, char *err, size_t errlen)
{
	int lo, hi;
	char why[256];

	if (tls_common_protocol_range(param, value, &lo, &hi, err, errlen) != 0)
		return -1;
	if (!SSL_CTX_set_min_proto_version(ctx, lo) || !SSL_CTX_set_max_proto_version(ctx, hi)) {
		str_fmt(err, errlen, "%s = %s: OpenSSL refuses the range: %s", param, value,
			tls_common_last_error(why, sizeof(why)));
		return -1;
	}
	return 0;
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
