/*
 * test_tls_common - unit tests for lib/mail tls_common: protocol lists
 * to a version range, cipher grades, OpenSSL's error text.
 */
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "mail/tls_common.h"
#include "tap.h"

/* protocols_case - one protocol list and the range it must give (lo 0: an error) */
struct protocols_case {
	const char *value;
	long lo, hi;
};

int main(void)
{
	static const struct protocols_case cases[] = {
		{"", TLS1_2_VERSION, TLS1_3_VERSION},
		{">=TLSv1.2", TLS1_2_VERSION, TLS1_3_VERSION},
		{">=TLSv1.3", TLS1_3_VERSION, TLS1_3_VERSION},
		{"<=TLSv1.2", TLS1_2_VERSION, TLS1_2_VERSION},
		{"!TLSv1.2", TLS1_3_VERSION, TLS1_3_VERSION},
		{"!SSLv2, !SSLv3, !TLSv1, !TLSv1.1", TLS1_2_VERSION, TLS1_3_VERSION},
		{"!SSLv3:!TLSv1.3", TLS1_2_VERSION, TLS1_2_VERSION},
		{"TLSv1.1", 0, 0},
		{">=TLSv1.4", 0, 0},
		{"!TLSv1.2 !TLSv1.3", 0, 0},
		{">=TLSv1.3 <=TLSv1.2", 0, 0},
	};
	char err[512], buf[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct protocols_case *c = &cases[i];
		SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
		int r;

		err[0] = '\0';
		r = tls_common_protocols(ctx, "x_tls_protocols", c->value, err, sizeof(err));
		if (c->lo == 0)
			ok(r == -1 && strncmp(err, "x_tls_protocols = ", 18) == 0,
			   "\"%s\" is an error: %s", c->value, err);
		else
			ok(r == 0 && SSL_CTX_get_min_proto_version(ctx) == c->lo
			   && SSL_CTX_get_max_proto_version(ctx) == c->hi, "\"%s\" gives its range", c->value);
		SSL_CTX_free(ctx);
	}
	is_str(tls_common_cipher_list("high"), "HIGH:!aNULL:!eNULL", "grade high");
	is_str(tls_common_cipher_list("medium"), "HIGH:MEDIUM:!aNULL:!eNULL", "grade medium");
	ok(tls_common_cipher_list("low") == NULL && tls_common_cipher_list("") == NULL,
	   "other grades are unknown");
	ERR_clear_error();
	is_str(tls_common_last_error(buf, sizeof(buf)), "no OpenSSL error", "no error queued");
	ok(SSL_CTX_new(NULL) == NULL && strlen(tls_common_last_error(buf, sizeof(buf))) > 0
	   && strcmp(buf, "no OpenSSL error") != 0, "an error queued: %s", buf);
	return tap_done();
}
