/*
 * tls_common.h - the TLS settings that the SMTP server (smtpd) and the
 * SMTP client (smtp) read the same way: the protocol range of
 * smtpd_tls_protocols / smtp_tls_protocols, the cipher grade of
 * smtpd_tls_ciphers / smtp_tls_ciphers, and OpenSSL's last error as
 * text. Each caller decides what a failure means (smtpd: fatal at
 * start-up; smtp: an error for its pre-jail hook).
 *
 * Protocols: a list of ">=TLSv1.2", "<=TLSv1.3", "!TLSv1.2" and the
 * like, separated by commas, blanks or colons. Only TLS 1.2 and 1.3 are
 * ever offered; "!SSLv3", "!TLSv1" and "!TLSv1.1" are accepted and mean
 * nothing, naming an obsolete version otherwise is an error, as is a
 * list that leaves no protocol.
 *
 * Start-up: a daemon that makes its SSL_CTX only later, after the
 * chroot (the smtp agent, at its first handshake), calls tls_common_init
 * before the chroot, so openssl.cnf and the providers it names are read
 * while they are in reach, and tls_common_ready right before making the
 * context. When openssl.cnf names nothing to initialise (no openssl_conf
 * section, or an empty one: Debian's file), tls_common_init only reads
 * it and tls_common_ready initialises OpenSSL without it - loading it
 * would have done nothing, and the ~2 ms of OpenSSL set-up is paid only
 * by a process that makes a context. Otherwise tls_common_init loads it
 * at once and tls_common_ready does nothing.
 */
#ifndef TERN_MAIL_TLS_COMMON_H
#define TERN_MAIL_TLS_COMMON_H

#include <stddef.h>

#include <openssl/ssl.h>

/* tls_common_init - read OpenSSL's configuration file now (see above): 0, or -1 with err */
int tls_common_init(char *err, size_t errlen);
/* tls_common_ready - before making a context, after tls_common_init: 0, or -1 with err */
int tls_common_ready(char *err, size_t errlen);
/*
 * tls_common_protocol_range - parse "param = value" into the version
 * range *lo..*hi (TLS1_2_VERSION..TLS1_3_VERSION): 0, or -1 with err
 */
int tls_common_protocol_range(const char *param, const char *value, int *lo, int *hi,
			      char *err, size_t errlen);
/* tls_common_protocols - set ctx's version range from "param = value": 0, or -1 with err */
int tls_common_protocols(SSL_CTX *ctx, const char *param, const char *value, char *err, size_t errlen);
/* tls_common_cipher_list - the OpenSSL TLS 1.2 cipher list of grade "high" or "medium"; NULL otherwise */
const char *tls_common_cipher_list(const char *grade);
/* tls_common_last_error - OpenSSL's last error as text into buf ("no OpenSSL error" when none); buf */
const char *tls_common_last_error(char *buf, size_t len);

#endif
