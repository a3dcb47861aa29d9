/*
 * smtpd_tls - the server side of TLS: one OpenSSL context per process,
 * made in pre_jail (as root, so the key file may be readable by root
 * only), and an SSL per session for STARTTLS or port 465.
 *
 * Settings: TLS 1.2 and 1.3 only (smtpd_tls_protocols narrows them);
 * TLS 1.2 ciphers by grade (smtpd_tls_ciphers: medium or high, minus
 * smtpd_tls_exclude_ciphers), TLS 1.3 suites as OpenSSL has them; no
 * compression, no renegotiation, server cipher preference.
 *
 * Resumption uses session tickets only (no server-side cache, which
 * processes could not share). The ticket keys are derived from the
 * private key and the time: HMAC-SHA256 over a label and the number of
 * the current smtpd_tls_session_cache_timeout period, with a secret made
 * from the key's DER form. Every smtpd process of the host thus issues
 * and accepts the same tickets without talking to the others; a ticket
 * of the previous period is still accepted (and renewed). Known
 * compromise: Postfix hands out random keys from a shared tlsmgr
 * instead; whoever steals the private key can also read tickets, which
 * TLS 1.3 resumption with (EC)DHE keeps from exposing past traffic.
 *
 * Failures: an unreadable certificate or key, a key that does not
 * match, or a bad protocol/cipher setting is fatal at start-up. No
 * certificate at all is only a warning (encrypt: STARTTLS gets 454 and
 * MAIL 530; port 465: connections are closed), so a fresh install's port
 * 25 works. A session whose SSL cannot be made is refused (logged).
 */
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/tls_common.h"
#include "smtpd.h"

struct smtpd_tickets {
	unsigned char secret[32];
	long long lifetime;		/* seconds per key period */
};

/* smtpd_tls_error - an OpenSSL error code as text */
void smtpd_tls_error(unsigned long code, char *buf, size_t len)
{
	ERR_error_string_n(code, buf, len);
}

/* smtpd_tls_fatal - a start-up failure with OpenSSL's reason */
__attribute__((noreturn))
static void smtpd_tls_fatal(const char *what, const char *arg)
{
	char err[256];

	msg_fatal("%s %s: %s", what, arg, tls_common_last_error(err, sizeof(err)));
}

/* smtpd_tls_protocols - smtpd_tls_protocols to a version range */
static void smtpd_tls_protocols(SSL_CTX *ctx, const char *value)
{
	char err[512];

	if (tls_common_protocols(ctx, "smtpd_tls_protocols", value, err, sizeof(err)) < 0)
		msg_fatal("%s", err);
}

/* smtpd_tls_ciphers - the TLS 1.2 cipher list from the grade and exclusions */
static void smtpd_tls_ciphers(SSL_CTX *ctx, const struct params_smtpd *p)
{
	const char *grade = tls_common_cipher_list(p->smtpd_tls_ciphers);
	struct buf list;

	if (grade == NULL)
		msg_fatal("smtpd_tls_ciphers = %s: expected medium or high", p->smtpd_tls_ciphers);
	buf_init(&list, 0);
	buf_puts(&list, grade);
	for (size_t i = 0; p->smtpd_tls_exclude_ciphers[i]; i++)
		buf_printf(&list, ":!%s", p->smtpd_tls_exclude_ciphers[i]);
	if (!SSL_CTX_set_cipher_list(ctx, buf_str(&list)))
		smtpd_tls_fatal("cipher list", buf_str(&list));
	buf_free(&list);
}

/* smtpd_tickets_key - one key of a period: label selects name, cipher or MAC key */
static void smtpd_tickets_key(const struct smtpd_tickets *t, long long period, const char *label,
			      unsigned char out[32])
{
	unsigned char msg[64];
	size_t n = strlen(label);
	unsigned len = 32;

	memcpy(msg, label, n);
	for (int i = 0; i < 8; i++)
		msg[n + (size_t) i] = (unsigned char) ((unsigned long long) period >> (56 - 8 * i));
	if (HMAC(EVP_sha256(), t->secret, sizeof(t->secret), msg, n + 8, out, &len) == NULL)
		msg_fatal("HMAC-SHA256 failed");
}

/* smtpd_tickets_cb - OpenSSL: issue (enc 1) or open (enc 0) a session ticket */
static int smtpd_tickets_cb(SSL *ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
			    EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx, int enc)
{
	const struct smtpd_tickets *t = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl));
	long long now = (long long) time(NULL) / t->lifetime;
	unsigned char name[32], aes[32], mac[32];
	OSSL_PARAM params[3];
	int ret = 1;

	if (enc) {
		smtpd_tickets_key(t, now, "tern ticket name", name);
		memcpy(key_name, name, 16);
		if (RAND_bytes(iv, 16) <= 0)
			return -1;
	} else {
		long long period;

		for (period = now; period >= now - 1; period--) {
			smtpd_tickets_key(t, period, "tern ticket name", name);
			if (memcmp(key_name, name, 16) == 0)
				break;
		}
		if (period < now - 1)
			return 0;		/* unknown or expired: a full handshake */
		ret = period == now ? 1 : 2;	/* 2: good, but issue a fresh one */
		now = period;
	}
	smtpd_tickets_key(t, now, "tern ticket aes", aes);
	smtpd_tickets_key(t, now, "tern ticket mac", mac);
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, mac, sizeof(mac));
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *) "SHA256", 0);
	params[2] = OSSL_PARAM_construct_end();
	if (!EVP_MAC_CTX_set_params(hctx, params))
		return -1;
	if (enc ? !EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, aes, iv)
	    : !EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, aes, iv))
		return -1;
	OPENSSL_cleanse(aes, sizeof(aes));
	OPENSSL_cleanse(mac, sizeof(mac));
	return ret;
}

/* smtpd_tickets_init - the shared ticket secret, from the private key */
static struct smtpd_tickets *smtpd_tickets_init(SSL_CTX *ctx, long long lifetime)
{
	struct smtpd_tickets *t = xcalloc(1, sizeof(*t));
	EVP_PKEY *key = SSL_CTX_get0_privatekey(ctx);
	unsigned char *der = NULL;
	int n = key ? i2d_PrivateKey(key, &der) : -1;
	unsigned len = sizeof(t->secret);
	static const char label[] = "tern smtpd session ticket secret";

	if (n <= 0)
		smtpd_tls_fatal("session tickets:", "cannot encode the private key");
	if (HMAC(EVP_sha256(), der, (size_t) n, (const unsigned char *) label, sizeof(label) - 1,
		 t->secret, &len) == NULL)
		msg_fatal("HMAC-SHA256 failed");
	OPENSSL_cleanse(der, (size_t) n);
	OPENSSL_free(der);
	t->lifetime = lifetime;
	return t;
}

/* smtpd_tls_init - pre_jail: the context, or none when TLS is not configured */
void smtpd_tls_init(struct smtpd_server *srv)
{
	const struct params_smtpd *p = srv->p;
	SSL_CTX *ctx;

	if (p->smtpd_tls_cert_file[0] == '\0') {
		/* not fatal: a fresh install has no certificate yet, and port 25 must not suffer */
		if (p->smtpd_tls_wrappermode)
			msg_warn("smtpd_tls_wrappermode = yes needs a certificate: set smtpd_tls_cert_file;"
				 " until then every connection is closed");
		else if (srv->tls_level == SMTPD_TLS_ENCRYPT)
			msg_warn("smtpd_tls_security_level = encrypt needs a certificate: set smtpd_tls_cert_file;"
				 " until then STARTTLS gets 454 and MAIL 530");
		return;
	}
	if (srv->tls_level == SMTPD_TLS_NONE && !p->smtpd_tls_wrappermode)
		return;
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		smtpd_tls_fatal("SSL_CTX_new", "");
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
			    SSL_OP_CIPHER_SERVER_PREFERENCE);
	smtpd_tls_protocols(ctx, p->smtpd_tls_protocols);
	smtpd_tls_ciphers(ctx, p);
	if (SSL_CTX_use_certificate_chain_file(ctx, p->smtpd_tls_cert_file) != 1)
		smtpd_tls_fatal("smtpd_tls_cert_file", p->smtpd_tls_cert_file);
	if (SSL_CTX_use_PrivateKey_file(ctx, p->smtpd_tls_key_file, SSL_FILETYPE_PEM) != 1)
		smtpd_tls_fatal("smtpd_tls_key_file", p->smtpd_tls_key_file);
	if (SSL_CTX_check_private_key(ctx) != 1)
		smtpd_tls_fatal("smtpd_tls_key_file does not match the certificate:", p->smtpd_tls_key_file);
	SSL_CTX_set_dh_auto(ctx, 1);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *) "tern-smtpd", 10);
	if (p->smtpd_tls_session_cache_timeout > 0) {
		srv->tickets = smtpd_tickets_init(ctx, p->smtpd_tls_session_cache_timeout);
		SSL_CTX_set_app_data(ctx, srv->tickets);
		SSL_CTX_set_timeout(ctx, (long) p->smtpd_tls_session_cache_timeout);
		SSL_CTX_set_num_tickets(ctx, 1);
		if (!SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, smtpd_tickets_cb))
			smtpd_tls_fatal("session tickets:", "cannot install the key callback");
	} else {
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
		SSL_CTX_set_num_tickets(ctx, 0);
	}
	srv->ssl_ctx = ctx;
}

/* smtpd_tls_new - an SSL for one session */
SSL *smtpd_tls_new(struct smtpd_server *srv)
{
	SSL *ssl;
	char err[256];

	if (srv->ssl_ctx == NULL) {
		msg_warn("no TLS certificate (smtpd_tls_cert_file): closing the connection");
		return NULL;
	}
	if ((ssl = SSL_new(srv->ssl_ctx)) == NULL) {
		smtpd_tls_error(ERR_get_error(), err, sizeof(err));
		msg_warn("cannot start a TLS session: %s", err);
	}
	return ssl;
}

/* smtpd_tls_describe - what the handshake agreed */
void smtpd_tls_describe(SSL *ssl, char *proto, size_t plen, char *cipher, size_t clen, int *bits)
{
	const SSL_CIPHER *c = SSL_get_current_cipher(ssl);

	str_copy(proto, SSL_get_version(ssl), plen);
	str_copy(cipher, c ? SSL_CIPHER_get_name(c) : "unknown", clen);
	*bits = c ? SSL_CIPHER_get_bits(c, NULL) : 0;
}
