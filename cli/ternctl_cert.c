/*
 * ternctl_cert - a self-signed certificate for a private instance, made
 * with the OpenSSL 3 API (no openssl command needed).
 *
 * EC P-256 key, X.509 v3, subject CN and subjectAltName DNS:<hostname>,
 * random 127-bit serial, valid from now for ten years, SHA-256 signature,
 * extensions of a TLS server leaf (CA:FALSE, digitalSignature,
 * serverAuth, key identifiers). That is enough for smtpd's STARTTLS and
 * port 465 and for clients that pin or trust this one certificate.
 *
 * Invariant: the key file is created with mode 0600 from the start (never
 * readable by others, not even for a moment) and both files replace old
 * ones atomically (temporary file, fsync, rename). Failures return -1
 * with OpenSSL's reason in err; nothing exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "base/mem.h"
#include "base/str.h"
#include "ternctl_files.h"

#define CERT_DAYS	3650

/* cert_ssl_error - OpenSSL's last error (or what) into err */
static int cert_ssl_error(const char *what, char *err, size_t errlen)
{
	unsigned long e = ERR_get_error();
	char reason[256];

	if (e != 0) {
		ERR_error_string_n(e, reason, sizeof(reason));
		str_fmt(err, errlen, "%s: %s", what, reason);
	} else {
		str_fmt(err, errlen, "%s failed", what);
	}
	ERR_clear_error();
	return -1;
}

/* cert_add_ext - add one extension in openssl.cnf syntax */
static int cert_add_ext(X509 *x, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (ext == NULL)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

/* cert_build - the signed certificate for pkey and hostname, or NULL */
static X509 *cert_build(EVP_PKEY *pkey, const char *hostname, char *err, size_t errlen)
{
	X509 *x = X509_new();
	X509_NAME *name;
	BIGNUM *bn = BN_new();
	char *san = str_dupf("DNS:%s", hostname);
	const char *step = "X509_new";

	if (x == NULL || bn == NULL)
		goto fail;
	step = "serial";
	if (!X509_set_version(x, X509_VERSION_3) || !BN_rand(bn, 127, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) ||
	    BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) == NULL)
		goto fail;
	step = "validity";
	if (X509_gmtime_adj(X509_getm_notBefore(x), 0) == NULL ||
	    X509_time_adj_ex(X509_getm_notAfter(x), CERT_DAYS, 0, NULL) == NULL)
		goto fail;
	step = "subject";
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) hostname, -1, -1, 0) ||
	    !X509_set_issuer_name(x, name) || !X509_set_pubkey(x, pkey))
		goto fail;
	step = "extensions";
	if (cert_add_ext(x, NID_basic_constraints, "critical,CA:FALSE") != 0 ||
	    cert_add_ext(x, NID_key_usage, "critical,digitalSignature") != 0 ||
	    cert_add_ext(x, NID_ext_key_usage, "serverAuth") != 0 ||
	    cert_add_ext(x, NID_subject_alt_name, san) != 0 ||
	    cert_add_ext(x, NID_subject_key_identifier, "hash") != 0 ||
	    cert_add_ext(x, NID_authority_key_identifier, "keyid:always") != 0)
		goto fail;
	step = "signing";
	if (X509_sign(x, pkey, EVP_sha256()) == 0)
		goto fail;
	BN_free(bn);
	free(san);
	return x;

fail:
	cert_ssl_error(step, err, errlen);
	X509_free(x);
	BN_free(bn);
	free(san);
	return NULL;
}

/*
 * cert_write - write path through a temporary file created with mode,
 * owned by uid:gid; key != NULL writes the key, else the certificate
 */
static int cert_write(const char *path, mode_t mode, uid_t uid, gid_t gid,
		      EVP_PKEY *key, X509 *x, char *err, size_t errlen)
{
	char *tmp = str_dupf("%s.tmp.%ld", path, (long) getpid());
	FILE *fp = NULL;
	int fd;
	int ok;

	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 || fchmod(fd, mode) != 0 || fchown(fd, uid, gid) != 0 ||
	    (fp = fdopen(fd, "w")) == NULL) {
		str_fmt(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	fd = -1;
	ok = key != NULL ? PEM_write_PrivateKey(fp, key, NULL, NULL, 0, NULL, NULL)
			 : PEM_write_X509(fp, x);
	if (!ok) {
		cert_ssl_error(path, err, errlen);
		goto fail;
	}
	if (fflush(fp) != 0 || fsync(fileno(fp)) != 0) {
		str_fmt(err, errlen, "%s: %s", tmp, strerror(errno));
		goto fail;
	}
	ok = fclose(fp);
	fp = NULL;
	if (ok != 0 || rename(tmp, path) != 0) {
		str_fmt(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	free(tmp);
	return 0;

fail:
	if (fp != NULL)
		fclose(fp);
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(tmp);
	return -1;
}

/* ternctl_cert_make - generate key and self-signed certificate */
int ternctl_cert_make(const char *certfile, const char *keyfile,
		      const char *hostname, uid_t uid, gid_t gid,
		      char *err, size_t errlen)
{
	EVP_PKEY *pkey;
	X509 *x;
	int ret = -1;

	pkey = EVP_EC_gen("P-256");
	if (pkey == NULL)
		return cert_ssl_error("EC P-256 key generation", err, errlen);
	x = cert_build(pkey, hostname, err, errlen);
	if (x != NULL &&
	    cert_write(keyfile, 0600, uid, gid, pkey, NULL, err, errlen) == 0 &&
	    cert_write(certfile, 0644, uid, gid, NULL, x, err, errlen) == 0)
		ret = 0;
	X509_free(x);
	EVP_PKEY_free(pkey);
	return ret;
}
