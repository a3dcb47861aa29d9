/*
 * smtp_tls - the outbound TLS policy engine of the smtp agent (contract
 * and order of the sources in smtp_tls.h; the decision table itself is
 * the pure tls_policy_decide in lib/mail/tls_policy.c).
 *
 * Here: the process-wide OpenSSL client context (made at the first
 * handshake, see below), the per-destination inputs
 * (smtp_tls_policy_maps entry, MTA-STS policy from the sts service),
 * the per-host inputs (TLSA lookup through lib/mail/dns.h),
 * the handshake with OpenSSL's own DANE and PKIX checks, and one TLS
 * result event (tls_event.h) per attempt or per host the policy rules
 * out.
 *
 * Choices, with the RFC text they follow:
 *   - TLSA is looked up at _PORT._tcp.MXNAME only when the MX answer was
 *     secure; only a secure answer counts; a failed or bogus TLSA answer
 *     makes the host unusable for this attempt (RFC 7672 section
 *     2.1.1), never "no TLSA". CNAME expansion of the MX host name
 *     (section 2.2.3) is not tried: libunbound follows a CNAME at the
 *     TLSA name itself, which covers the common hosted case.
 *   - A secure TLSA set whose records are all unusable still makes TLS
 *     mandatory, unauthenticated (section 2.2), recorded as tlsa-invalid.
 *   - DANE-EE matches skip name checks (DANE_FLAG_NO_DANE_EE_NAMECHECKS;
 *     OpenSSL also skips the dates); DANE-TA checks the names MXNAME and
 *     the nexthop domain, wildcards only as the whole left-most label.
 *   - The certificate is checked after the handshake (SSL_VERIFY_NONE
 *     and SSL_get_verify_result), so a failure can be told apart and
 *     reported with its RFC 8460 type, and MTA-STS testing can go on.
 *   - The sts service unavailable: proceed as if the domain had no
 *     policy, with a warning (the service is optional plumbing, and a
 *     down service must not hold all mail).
 *
 * Start-up cost: most smtp processes relay to servers without STARTTLS
 * or to a smarthost in plain text and never shake hands, so nothing a
 * handshake needs is built before the first one (bench/README.md):
 *   - pre_jail (smtp_tls_new, as root) checks every setting
 *     (smtp_tls_security_level, smtp_tls_protocols, smtp_tls_ciphers),
 *     reads openssl.cnf and the providers it names (tls_common_init: the
 *     file is out of reach after the chroot; applied only at the first
 *     handshake when it names nothing to initialise) and opens smtp_tls_ca_file,
 *     checks that it starts with PEM and keeps the descriptor (reading
 *     the 220 KB system bundle into memory was ~1.2 ms);
 *   - the first handshake makes the SSL_CTX (~3 ms of CPU here: cipher
 *     and digest fetches), reads the CA file through that descriptor and
 *     parses it into its store (~40 ms for the system bundle). A file
 *     replaced in between is read as it was opened; one changed in
 *     place is read as it is then. smtp_tls_ca_path is a hashed
 *     directory that OpenSSL reads during verification anyway, so
 *     naming it to the context later changes nothing.
 * A context or CA file that cannot be made then fails that and every
 * later handshake of the process with the reason (no retry), where it
 * used to fail smtp_tls_new; the settings that can be wrong are all
 * checked by smtp_tls_new still.
 *
 * Failures: smtp_tls_new returns NULL with a reason for a bad setting;
 * nothing later exits. A lost event is a warning.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "base/buf.h"
#include "base/cfgfile.h"
#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/config.h"
#include "mail/dns.h"
#include "mail/sts_client.h"
#include "mail/sts_proto.h"
#include "mail/table.h"
#include "mail/tls_common.h"
#include "mail/tls_event.h"
#include "mail/tls_policy.h"
#include "smtp_tls.h"

_Static_assert((int) SMTP_TLS_DANE == (int) TLS_LEVEL_DANE && (int) SMTP_TLS_NONE == (int) TLS_LEVEL_NONE &&
	       (int) SMTP_TLS_SECURE == (int) TLS_LEVEL_SECURE, "smtp_tls and tls_policy levels agree");
_Static_assert(SMTP_TLS_MSG_REQUIRETLS == TLS_POLICY_MSG_REQUIRETLS &&
	       SMTP_TLS_MSG_TLS_REQ_NO == TLS_POLICY_MSG_TLS_REQ_NO, "message flags agree");

#define SMTP_TLS_IP_MAX		64
#define SMTP_TLS_TLSA_MAX	16	/* TLSA records used per host */

struct smtp_tls {
	SSL_CTX *ctx;			/* NULL until the first handshake (smtp_tls_ctx_get) */
	char ctx_error[SMTP_TLS_TEXT_MAX];	/* set when making it failed: every handshake fails with it */
	int proto_lo, proto_hi;		/* smtp_tls_protocols as a version range */
	const char *ciphers;		/* smtp_tls_ciphers as an OpenSSL list (static text) */
	char *ca_path;			/* smtp_tls_ca_path, "" when unset */
	int ca_fd;			/* smtp_tls_ca_file, opened in pre_jail, until the first handshake
					 * reads and parses it; -1 none */
	char *ca_file;			/* its name, for errors */
	char ca_error[SMTP_TLS_TEXT_MAX];	/* set when parsing failed: every handshake fails with it */
	struct dns *dns;
	struct tables *policy;		/* smtp_tls_policy_maps, or NULL */
	struct sts_client *sts;		/* NULL when smtp_sts = no */
	enum tls_level default_level;
	bool rollover465, dane;
	char *event_file;
};

struct smtp_tls_dest {
	struct smtp_tls *t;
	char domain[DNS_NAME_MAX + 1];
	bool literal_host;
	unsigned msg_flags;
	bool have_entry;
	struct tls_policy_entry entry;
	char entry_key[DNS_NAME_MAX + 2];
	char entry_error[SMTP_TLS_TEXT_MAX];
	struct sts_policy sts;		/* status STS_POLICY with a mode when one applies */
};

struct smtp_tls_host {
	struct smtp_tls_dest *d;
	char mxname[DNS_NAME_MAX + 1];
	unsigned port;
	enum tls_dane_state dane;
	struct dns_answer *tlsa;	/* secure TLSA answer, when DANE applies */
	struct tls_policy_decision dec;
	struct smtp_tls_plan plan;
	char local_ip[SMTP_TLS_IP_MAX], peer_ip[SMTP_TLS_IP_MAX];
};

static const char *const smtp_tls_level_names[] = { "none", "may", "encrypt", "verify", "secure", "dane" };

/* smtp_tls_level_name - "none", "may", ... */
const char *smtp_tls_level_name(enum smtp_tls_level l)
{
	if ((size_t) l >= sizeof(smtp_tls_level_names) / sizeof(smtp_tls_level_names[0]))
		return "unknown";
	return smtp_tls_level_names[l];
}

/* smtp_tls_settings - check the context's settings in pre_jail and keep them in t; 0, or -1 with err */
static int smtp_tls_settings(struct smtp_tls *t, const struct params_delivery *p, char *err, size_t errlen)
{
	if (tls_common_protocol_range("smtp_tls_protocols", p->smtp_tls_protocols, &t->proto_lo, &t->proto_hi,
				      err, errlen) != 0)
		return -1;
	if ((t->ciphers = tls_common_cipher_list(p->smtp_tls_ciphers)) == NULL) {
		str_fmt(err, errlen, "smtp_tls_ciphers = %s: expected medium or high", p->smtp_tls_ciphers);
		return -1;
	}
	t->ca_path = xstrdup(p->smtp_tls_ca_path);
	/* openssl.cnf and the providers it loads: out of reach after the chroot */
	return tls_common_init(err, errlen);
}

/* smtp_tls_ctx_new - the client context from the settings; NULL with err */
static SSL_CTX *smtp_tls_ctx_new(const struct smtp_tls *t, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char why[256];

	if (tls_common_ready(err, errlen) != 0)
		return NULL;
	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		str_fmt(err, errlen, "SSL_CTX_new: %s", tls_common_last_error(why, sizeof(why)));
		return NULL;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (!SSL_CTX_set_min_proto_version(ctx, t->proto_lo) || !SSL_CTX_set_max_proto_version(ctx, t->proto_hi)) {
		str_fmt(err, errlen, "smtp_tls_protocols: OpenSSL refuses the range: %s",
			tls_common_last_error(why, sizeof(why)));
		goto fail;
	}
	if (!SSL_CTX_set_cipher_list(ctx, t->ciphers)) {
		str_fmt(err, errlen, "cipher list %s: %s", t->ciphers, tls_common_last_error(why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_dane_enable(ctx) <= 0) {
		str_fmt(err, errlen, "SSL_CTX_dane_enable: %s", tls_common_last_error(why, sizeof(why)));
		goto fail;
	}
	/* the CA file is read by smtp_tls_ca_read and parsed by smtp_tls_ca_load */
	if (t->ca_path[0] != '\0' && !SSL_CTX_load_verify_locations(ctx, NULL, t->ca_path)) {
		str_fmt(err, errlen, "smtp_tls_ca_path %s: %s", t->ca_path, tls_common_last_error(why, sizeof(why)));
		goto fail;
	}
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

/* smtp_tls_ctx_get - the context, made at the first call; 0, or -1 with why (then and later) */
static int smtp_tls_ctx_get(struct smtp_tls *t, char *why, size_t whylen)
{
	if (t->ctx != NULL)
		return 0;
	if (t->ctx_error[0] == '\0') {
		if ((t->ctx = smtp_tls_ctx_new(t, t->ctx_error, sizeof(t->ctx_error))) != NULL)
			return 0;
		if (t->ctx_error[0] == '\0')
			str_copy(t->ctx_error, "cannot make the TLS client context", sizeof(t->ctx_error));
		msg_warn("TLS: %s; TLS handshakes fail until smtp restarts", t->ctx_error);
	}
	str_copy(why, t->ctx_error, whylen);
	return -1;
}

/* smtp_tls_ca_bytes - the whole file behind fd (at most CFGFILE_FILE_MAX bytes), NUL-terminated; NULL with why */
static char *smtp_tls_ca_bytes(int fd, size_t *len, char *why, size_t whylen)
{
	struct stat st;
	size_t got = 0, size;
	char *data;

	if (fstat(fd, &st) < 0) {
		str_fmt(why, whylen, "cannot stat: %s", strerror(errno));
		return NULL;
	}
	if (st.st_size > CFGFILE_FILE_MAX) {
		str_fmt(why, whylen, "file is larger than %d bytes", CFGFILE_FILE_MAX);
		return NULL;
	}
	/* one byte more than the size, to notice a file that grew */
	size = (size_t) st.st_size + 1;
	data = xmalloc(size + 1);
	for (;;) {
		ssize_t n = pread(fd, data + got, size - got, (off_t) got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			str_fmt(why, whylen, "read error: %s", strerror(errno));
			free(data);
			return NULL;
		}
		if (n == 0)
			break;
		got += (size_t) n;
		if (got == size) {
			str_copy(why, "file changed while it was read", whylen);
			free(data);
			return NULL;
		}
	}
	data[got] = '\0';
	*len = got;
	return data;
}

/*
 * smtp_tls_ca_read - open smtp_tls_ca_file (pre_jail, as root) and check
 * that it holds PEM; the bytes are read by the first handshake
 * (smtp_tls_ca_load), through the descriptor kept open. 0, or -1 with err
 */
static int smtp_tls_ca_read(struct smtp_tls *t, const char *path, char *err, size_t errlen)
{
	char head[4096], why[256];
	struct stat st;
	bool pem;
	ssize_t n = 0;
	int fd, e = 0;

	if (path[0] == '\0')
		return 0;
	t->ca_file = xstrdup(path);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0)
		e = errno;
	else if (!S_ISREG(st.st_mode))
		e = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
	else if (st.st_size > CFGFILE_FILE_MAX) {
		str_fmt(err, errlen, "smtp_tls_ca_file %s: file is larger than %d bytes", path, CFGFILE_FILE_MAX);
		close(fd);
		return -1;
	} else {
		do
			n = pread(fd, head, sizeof(head) - 1, 0);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			e = errno;
	}
	if (e != 0) {
		/* a CA file that is not there only matters to verify/secure/MTA-STS: warn, go on */
		msg_warn("smtp_tls_ca_file %s: %s; PKIX verification will fail", path, strerror(e));
		if (fd >= 0)
			close(fd);
		return 0;
	}
	head[n] = '\0';
	pem = strstr(head, "-----BEGIN ") != NULL;
	if (!pem && st.st_size >= (off_t) sizeof(head) - 1) {
		/* the bundles start with a certificate; this one does not: look at all of it */
		size_t len;
		char *all = smtp_tls_ca_bytes(fd, &len, why, sizeof(why));

		if (all == NULL) {
			str_fmt(err, errlen, "smtp_tls_ca_file %s: %s", path, why);
			close(fd);
			return -1;
		}
		pem = strstr(all, "-----BEGIN ") != NULL;
		free(all);
	}
	if (!pem) {
		str_fmt(err, errlen, "smtp_tls_ca_file %s: no PEM certificate in it", path);
		close(fd);
		return -1;
	}
	t->ca_fd = fd;
	return 0;
}

/* smtp_tls_ca_load - parse the CA file read in pre_jail into the store, once; 0, or -1 with why */
static int smtp_tls_ca_load(struct smtp_tls *t, char *why, size_t whylen)
{
	X509_STORE *store = SSL_CTX_get_cert_store(t->ctx);
	STACK_OF(X509_INFO) *infos;
	BIO *bio;
	int added = 0, ok = 1;
	char err[256];
	char *pem = NULL;
	size_t len = 0;

	if (t->ca_error[0] != '\0') {
		str_copy(why, t->ca_error, whylen);
		return -1;
	}
	if (t->ca_fd < 0)
		return 0;
	if ((pem = smtp_tls_ca_bytes(t->ca_fd, &len, err, sizeof(err))) == NULL) {
		str_fmt(t->ca_error, sizeof(t->ca_error), "smtp_tls_ca_file %s: %s", t->ca_file, err);
		goto out;
	}
	if (len > INT_MAX || (bio = BIO_new_mem_buf(pem, (int) len)) == NULL) {
		str_fmt(t->ca_error, sizeof(t->ca_error), "smtp_tls_ca_file %s: cannot make a memory BIO",
			t->ca_file);
		goto out;
	}
	ERR_clear_error();
	infos = PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (infos == NULL) {
		str_fmt(t->ca_error, sizeof(t->ca_error), "smtp_tls_ca_file %s: %s", t->ca_file,
			tls_common_last_error(err, sizeof(err)));
		goto out;
	}
	for (int i = 0; ok && i < sk_X509_INFO_num(infos); i++) {
		X509_INFO *info = sk_X509_INFO_value(infos, i);

		if (info->x509 != NULL && (ok = X509_STORE_add_cert(store, info->x509)) == 1)
			added++;
		if (ok && info->crl != NULL)
			ok = X509_STORE_add_crl(store, info->crl);
	}
	sk_X509_INFO_pop_free(infos, X509_INFO_free);
	if (!ok)
		str_fmt(t->ca_error, sizeof(t->ca_error), "smtp_tls_ca_file %s: %s", t->ca_file,
			tls_common_last_error(err, sizeof(err)));
	else if (added == 0)
		str_fmt(t->ca_error, sizeof(t->ca_error), "smtp_tls_ca_file %s: no certificate in it", t->ca_file);
out:
	free(pem);
	close(t->ca_fd);
	t->ca_fd = -1;
	if (t->ca_error[0] == '\0')
		return 0;
	msg_warn("%s; TLS handshakes fail until the file is fixed and smtp restarts", t->ca_error);
	str_copy(why, t->ca_error, whylen);
	return -1;
}

/* smtp_tls_new - the engine of one smtp process, made in pre_jail */
struct smtp_tls *smtp_tls_new(const struct config *cfg, struct dns *dns, char *err, size_t errlen)
{
	const struct params_delivery *p = cfg->own;
	struct smtp_tls *t;
	enum tls_level level;

	if (cfg->group == NULL || strcmp(cfg->group->id, "delivery") != 0 || p == NULL) {
		str_fmt(err, errlen, "smtp_tls: configuration without the delivery parameters");
		return NULL;
	}
	if (tls_level_parse(p->smtp_tls_security_level, &level) != 0) {
		str_fmt(err, errlen, "smtp_tls_security_level = %s: expected none, may, encrypt, verify, "
			"secure or dane", p->smtp_tls_security_level);
		return NULL;
	}
	t = xcalloc(1, sizeof(*t));
	t->ca_fd = -1;
	if (smtp_tls_settings(t, p, err, errlen) != 0 ||
	    smtp_tls_ca_read(t, p->smtp_tls_ca_file, err, errlen) != 0) {
		smtp_tls_free(t);
		return NULL;
	}
	t->dns = dns;
	t->default_level = level;
	t->rollover465 = p->smtp_tls_rollover_465;
	t->dane = p->smtp_dane && dns != NULL;
	t->event_file = xstrdup(cfg->global.tls_event_file);
	if (p->smtp_tls_policy_maps[0] != NULL) {
		char why[TABLE_ERR_SIZE];

		t->policy = tables_open_vector((const char *const *) p->smtp_tls_policy_maps, 0, why, sizeof(why));
		if (t->policy == NULL) {
			str_fmt(err, errlen, "smtp_tls_policy_maps: %s", why);
			smtp_tls_free(t);
			return NULL;
		}
	}
	if (p->smtp_sts)
		t->sts = sts_client_new(STS_SOCKET_PRIVATE, (int) p->smtp_sts_timeout);
	return t;
}

/* smtp_tls_free - release the engine */
void smtp_tls_free(struct smtp_tls *t)
{
	if (t == NULL)
		return;
	SSL_CTX_free(t->ctx);
	free(t->ca_path);
	if (t->ca_fd >= 0)
		close(t->ca_fd);
	free(t->ca_file);
	if (t->policy != NULL)
		tables_close(t->policy);
	if (t->sts != NULL)
		sts_client_free(t->sts);
	free(t->event_file);
	free(t);
}

/* smtp_tls_ptype_name - RFC 8460 policy-type of a decision */
static const char *smtp_tls_ptype_name(enum tls_policy_type type)
{
	switch (type) {
	case TLS_PTYPE_STS:
		return "sts";
	case TLS_PTYPE_TLSA:
		return "tlsa";
	default:
		return "no-policy-found";
	}
}

/* smtp_tls_sts_lines - the policy as RFC 8460 policy-string lines into items (strings in text) */
static void smtp_tls_sts_lines(const struct sts_policy *sts, struct buf *text, size_t *offsets, size_t *n)
{
	*n = 0;
	offsets[(*n)++] = text->len;
	buf_puts(text, "version: STSv1");
	buf_putc(text, '\0');
	offsets[(*n)++] = text->len;
	buf_printf(text, "mode: %s", sts_mode_name(sts->mode));
	buf_putc(text, '\0');
	for (size_t i = 0; i < sts->nmx && *n < TLS_EVENT_ITEMS_MAX - 1; i++) {
		offsets[(*n)++] = text->len;
		buf_printf(text, "mx: %s", sts->mx[i]);
		buf_putc(text, '\0');
	}
	offsets[(*n)++] = text->len;
	buf_printf(text, "max_age: %lld", (long long) sts->max_age);
	buf_putc(text, '\0');
}

/* smtp_tls_tlsa_lines - the TLSA records as "u s m hex" items */
static void smtp_tls_tlsa_lines(const struct dns_answer *a, struct buf *text, size_t *offsets, size_t *n)
{
	*n = 0;
	for (size_t i = 0; a != NULL && i < a->n && *n < TLS_EVENT_ITEMS_MAX; i++) {
		const struct dns_rr *rr = &a->rr[i];

		if (rr->type != DNS_T_TLSA)
			continue;
		offsets[(*n)++] = text->len;
		buf_printf(text, "%u %u %u ", rr->u.tlsa.usage, rr->u.tlsa.selector, rr->u.tlsa.mtype);
		for (size_t j = 0; j < rr->u.tlsa.len && j < 512; j++)
			buf_printf(text, "%02x", rr->u.tlsa.data[j]);
		buf_putc(text, '\0');
	}
}

/*
 * smtp_tls_event_write - one event for domain d (host h may be NULL):
 * ptype, result, reason; addresses from h when known
 */
static void smtp_tls_event_write(struct smtp_tls_dest *d, struct smtp_tls_host *h, enum tls_policy_type ptype,
				 const char *result, const char *reason)
{
	struct tls_event ev;
	struct buf text;
	size_t offsets[TLS_EVENT_ITEMS_MAX], n = 0;
	const char *items[TLS_EVENT_ITEMS_MAX + 1];
	const char *patterns[STS_MX_MAX + 1];
	char err[256];

	buf_init(&text, 0);
	if (ptype == TLS_PTYPE_STS)
		smtp_tls_sts_lines(&d->sts, &text, offsets, &n);
	else if (ptype == TLS_PTYPE_TLSA && h != NULL)
		smtp_tls_tlsa_lines(h->tlsa, &text, offsets, &n);
	for (size_t i = 0; i < n; i++)
		items[i] = text.data + offsets[i];
	items[n] = NULL;
	n = 0;
	if (ptype == TLS_PTYPE_STS)
		for (; n < d->sts.nmx && n < STS_MX_MAX; n++)
			patterns[n] = d->sts.mx[n];
	patterns[n] = NULL;
	memset(&ev, 0, sizeof(ev));
	ev.time = (int64_t) time(NULL);
	ev.domain = d->domain;
	ev.policy = smtp_tls_ptype_name(ptype);
	ev.result = result;
	ev.sending_ip = h ? h->local_ip : "";
	ev.mx = h ? h->mxname : "";
	ev.mx_ip = h ? h->peer_ip : "";
	ev.policy_string = items;
	ev.mx_pattern = patterns;
	ev.reason = reason;
	if (d->t->event_file[0] != '\0' && tls_event_write(d->t->event_file, &ev, err, sizeof(err)) != 0)
		msg_warn("TLS result event for %s lost: %s", d->domain, err);
	buf_free(&text);
}

/* smtp_tls_dest_sts - ask the sts service for the domain's policy */
static void smtp_tls_dest_sts(struct smtp_tls_dest *d)
{
	struct sts_policy *pol = &d->sts;

	if (sts_client_request(d->t->sts, STS_OP_GET, d->domain, pol) != 0 || pol->status == STS_UNAVAILABLE) {
		msg_warn("MTA-STS policy of %s unknown, delivering as if it had none: sts service: %s",
			 d->domain, pol->text[0] ? pol->text : "unavailable");
		pol->status = STS_UNAVAILABLE;
		return;
	}
	if (pol->status == STS_ERROR) {
		/* a TXT record but no policy: deliver as without STS, record the failure */
		smtp_tls_event_write(d, NULL, TLS_PTYPE_STS, pol->failure[0] ? pol->failure : "sts-policy-fetch-error",
				     pol->text);
		return;
	}
	if (pol->status == STS_POLICY && pol->failure[0] != '\0' && pol->mode != STS_MODE_NONE)
		smtp_tls_event_write(d, NULL, TLS_PTYPE_STS, pol->failure, pol->text);
}

/* smtp_tls_dest_new - the policy inputs of one destination */
struct smtp_tls_dest *smtp_tls_dest_new(struct smtp_tls *t, const char *domain, bool literal_host,
					unsigned msg_flags)
{
	struct smtp_tls_dest *d = xcalloc(1, sizeof(*d));
	bool requiretls = (msg_flags & SMTP_TLS_MSG_REQUIRETLS) != 0;
	bool tls_req_no = !requiretls && (msg_flags & SMTP_TLS_MSG_TLS_REQ_NO) != 0;

	d->t = t;
	d->literal_host = literal_host;
	d->msg_flags = msg_flags;
	d->sts.status = STS_NONE;
	if (str_copy(d->domain, domain, sizeof(d->domain)) != 0)
		str_copy(d->entry_error, "domain name too long", sizeof(d->entry_error));
	str_lower(d->domain);
	if (d->domain[0] != '\0' && d->domain[strlen(d->domain) - 1] == '.')
		d->domain[strlen(d->domain) - 1] = '\0';
	if (t->policy != NULL && d->entry_error[0] == '\0') {
		int r = tls_policy_find(t->policy, d->domain, &d->entry, d->entry_key, sizeof(d->entry_key),
					d->entry_error, sizeof(d->entry_error));

		d->have_entry = r > 0;
		if (r < 0)
			msg_warn("%s", d->entry_error);
	}
	if (t->sts != NULL && !literal_host && !tls_req_no && d->domain[0] != '[' && d->entry_error[0] == '\0')
		smtp_tls_dest_sts(d);
	return d;
}

/* smtp_tls_dest_sts_refresh - see smtp_tls.h */
bool smtp_tls_dest_sts_refresh(struct smtp_tls_dest *d)
{
	struct sts_policy fresh;

	if (d->t->sts == NULL || d->sts.status != STS_POLICY || d->sts.mode != STS_MODE_ENFORCE)
		return false;
	if (sts_client_request(d->t->sts, STS_OP_REFRESH, d->domain, &fresh) != 0 || fresh.status == STS_UNAVAILABLE)
		return false;
	if (fresh.status == STS_POLICY && strcmp(fresh.id, d->sts.id) == 0 && fresh.fetched == d->sts.fetched)
		return false;
	msg_info("%s: MTA-STS policy changed (id %s, mode %s): trying again", d->domain,
		 fresh.status == STS_POLICY ? fresh.id : "none",
		 fresh.status == STS_POLICY ? sts_mode_name(fresh.mode) : "none");
	d->sts = fresh;
	return true;
}

/* smtp_tls_dest_free - release a destination */
void smtp_tls_dest_free(struct smtp_tls_dest *d)
{
	free(d);
}

/* smtp_tls_is_address - is name an IP address (no SNI, no TLSA) */
static bool smtp_tls_is_address(const char *name)
{
	unsigned char addr[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, addr) == 1 || inet_pton(AF_INET6, name, addr) == 1 || name[0] == '[';
}

/* smtp_tls_host_dane - look up the TLSA records of the host and classify them */
static void smtp_tls_host_dane(struct smtp_tls_host *h, const char **why, bool *bogus)
{
	char qname[DNS_NAME_MAX + 1];
	struct dns_answer *a;
	size_t usable = 0;

	if (str_fmt(qname, sizeof(qname), "_%u._tcp.%s", h->port, h->mxname) != 0) {
		h->dane = TLS_DANE_NONE;
		return;
	}
	a = dns_lookup(h->d->t->dns, qname, DNS_T_TLSA);
	if (a->status == DNS_TEMPFAIL || a->security == DNS_BOGUS) {
		h->dane = TLS_DANE_FAILED;
		*bogus = a->security == DNS_BOGUS;
		h->tlsa = a;		/* kept for its why */
		*why = a->why[0] ? a->why : "lookup failed";
		return;
	}
	if (a->security != DNS_SECURE || a->status != DNS_OK) {
		dns_answer_free(a);
		h->dane = TLS_DANE_NONE;
		return;
	}
	for (size_t i = 0; i < a->n; i++)
		if (a->rr[i].type == DNS_T_TLSA &&
		    tls_tlsa_usable(a->rr[i].u.tlsa.usage, a->rr[i].u.tlsa.selector, a->rr[i].u.tlsa.mtype,
				    a->rr[i].u.tlsa.len))
			usable++;
	h->tlsa = a;
	h->dane = usable > 0 ? TLS_DANE_USABLE : TLS_DANE_UNUSABLE;
}

/* smtp_tls_host_new - the plan for one MX host */
struct smtp_tls_host *smtp_tls_host_new(struct smtp_tls_dest *d, const char *mxname, bool mx_secure,
					unsigned port)
{
	struct smtp_tls_host *h = xcalloc(1, sizeof(*h));
	struct tls_policy_input in;
	bool requiretls = (d->msg_flags & SMTP_TLS_MSG_REQUIRETLS) != 0;
	bool tls_req_no = !requiretls && (d->msg_flags & SMTP_TLS_MSG_TLS_REQ_NO) != 0;
	const char *dane_why = NULL;
	bool bogus = false;
	bool name_ok = str_copy(h->mxname, mxname, sizeof(h->mxname)) == 0;

	h->d = d;
	h->port = port ? port : 25;
	str_lower(h->mxname);
	if (h->mxname[0] != '\0' && h->mxname[strlen(h->mxname) - 1] == '.')
		h->mxname[strlen(h->mxname) - 1] = '\0';
	if (name_ok && d->t->dane && mx_secure && !tls_req_no && !smtp_tls_is_address(h->mxname))
		smtp_tls_host_dane(h, &dane_why, &bogus);
	memset(&in, 0, sizeof(in));
	in.msg_flags = d->msg_flags;
	in.literal_host = d->literal_host;
	in.domain = d->domain;
	in.mxname = h->mxname;
	in.default_level = d->t->default_level;
	in.rollover465 = d->t->rollover465;
	in.entry = d->have_entry ? &d->entry : NULL;
	in.entry_error = d->entry_error[0] ? d->entry_error : (name_ok ? NULL : "MX host name too long");
	in.dane = h->dane;
	in.dane_why = dane_why;
	in.dane_bogus = bogus;
	in.sts_mode = d->sts.status == STS_POLICY ? d->sts.mode : STS_MODE_NONE;
	in.sts_mx_match = in.sts_mode != STS_MODE_NONE && sts_mx_match(&d->sts, h->mxname);
	tls_policy_decide(&in, &h->dec);

	h->plan.offer_starttls = h->dec.offer_starttls;
	h->plan.required = h->dec.required;
	h->plan.try_465 = h->dec.try_465 && port == 25;
	h->plan.unusable = h->dec.unusable;
	h->plan.permanent = h->dec.permanent;
	str_copy(h->plan.policy, h->dec.policy, sizeof(h->plan.policy));
	str_copy(h->plan.why, h->dec.why, sizeof(h->plan.why));
	if (h->dec.unusable && h->dec.failure[0] != '\0')
		smtp_tls_event_write(d, h, h->dec.ptype, h->dec.failure, h->dec.why);
	if (msg_verbose)
		msg_debug("tls plan %s mx %s: policy \"%s\" starttls=%d required=%d 465=%d unusable=%d%s%s",
			  d->domain, h->mxname, h->plan.policy, h->plan.offer_starttls, h->plan.required,
			  h->plan.try_465, h->plan.unusable, h->plan.why[0] ? ": " : "", h->plan.why);
	return h;
}

/* smtp_tls_host_plan - the plan */
const struct smtp_tls_plan *smtp_tls_host_plan(const struct smtp_tls_host *h)
{
	return &h->plan;
}

/* smtp_tls_host_addresses - the local and peer addresses of the socket, for events */
static void smtp_tls_host_addresses(struct smtp_tls_host *h, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len;

	for (int which = 0; which < 2; which++) {
		char *out = which == 0 ? h->local_ip : h->peer_ip;
		const void *addr = NULL;

		len = sizeof(ss);
		memset(&ss, 0, sizeof(ss));
		if ((which == 0 ? getsockname(fd, (struct sockaddr *) &ss, &len)
		     : getpeername(fd, (struct sockaddr *) &ss, &len)) != 0)
			continue;
		if (ss.ss_family == AF_INET)
			addr = &((struct sockaddr_in *) &ss)->sin_addr;
		else if (ss.ss_family == AF_INET6)
			addr = &((struct sockaddr_in6 *) &ss)->sin6_addr;
		if (addr == NULL || inet_ntop(ss.ss_family, addr, out, SMTP_TLS_IP_MAX) == NULL)
			out[0] = '\0';
	}
}

/* smtp_tls_host_peer - the connected socket, so the events of this host carry its addresses */
void smtp_tls_host_peer(struct smtp_tls_host *h, int fd)
{
	smtp_tls_host_addresses(h, fd);
}

/* smtp_tls_host_no_starttls - record that the host offered no STARTTLS */
void smtp_tls_host_no_starttls(struct smtp_tls_host *h)
{
	char why[SMTP_TLS_TEXT_MAX];

	str_fmt(why, sizeof(why), "%s port %u did not offer STARTTLS", h->mxname, h->port);
	smtp_tls_event_write(h->d, h, h->dec.ptype, "starttls-not-supported", why);
}

/* smtp_tls_host_free - release a host */
void smtp_tls_host_free(struct smtp_tls_host *h)
{
	if (h == NULL)
		return;
	dns_answer_free(h->tlsa);
	free(h);
}

/* smtp_tls_add_name - one PKIX reference name; keywords hostname, nexthop, dot-nexthop */
static int smtp_tls_add_name(SSL *ssl, const struct smtp_tls_host *h, const char *name, bool first)
{
	char dot[DNS_NAME_MAX + 2];

	if (strcmp(name, "hostname") == 0)
		name = h->mxname;
	else if (strcmp(name, "nexthop") == 0)
		name = h->d->domain;
	else if (strcmp(name, "dot-nexthop") == 0) {
		str_fmt(dot, sizeof(dot), ".%s", h->d->domain);
		name = dot;
	}
	return first ? SSL_set1_host(ssl, name) : SSL_add1_host(ssl, name);
}

/* smtp_tls_setup_verify - reference names or TLSA records for the handshake; 0 or -1 with why */
static int smtp_tls_setup_verify(struct smtp_tls_host *h, SSL *ssl, struct smtp_tls_outcome *out)
{
	const struct tls_policy_decision *dec = &h->dec;
	int ok = 1;

	SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
	if (dec->verify == TLS_VERIFY_DANE) {
		size_t added = 0;

		if (SSL_dane_enable(ssl, h->mxname) <= 0)
			goto fail;
		SSL_dane_set_flags(ssl, DANE_FLAG_NO_DANE_EE_NAMECHECKS);
		if (strcmp(h->d->domain, h->mxname) != 0 && !smtp_tls_is_address(h->d->domain))
			ok = SSL_add1_host(ssl, h->d->domain);
		for (size_t i = 0; ok && h->tlsa != NULL && i < h->tlsa->n && added < SMTP_TLS_TLSA_MAX; i++) {
			const struct dns_rr *rr = &h->tlsa->rr[i];

			if (rr->type != DNS_T_TLSA ||
			    !tls_tlsa_usable(rr->u.tlsa.usage, rr->u.tlsa.selector, rr->u.tlsa.mtype, rr->u.tlsa.len))
				continue;
			if (SSL_dane_tlsa_add(ssl, rr->u.tlsa.usage, rr->u.tlsa.selector, rr->u.tlsa.mtype,
					      rr->u.tlsa.data, rr->u.tlsa.len) > 0)
				added++;
		}
		if (ok && added == 0) {
			str_copy(out->failure, "tlsa-invalid", sizeof(out->failure));
			str_fmt(out->why, sizeof(out->why), "no TLSA record of %s could be used", h->mxname);
			return -1;
		}
	} else if (dec->match_names) {
		for (size_t i = 0; ok && i < h->d->entry.nmatch; i++)
			ok = smtp_tls_add_name(ssl, h, h->d->entry.match[i], i == 0);
	} else if (dec->match_domain) {
		ok = smtp_tls_add_name(ssl, h, "nexthop", true) && smtp_tls_add_name(ssl, h, "dot-nexthop", false);
	} else if (!smtp_tls_is_address(h->mxname))
		ok = SSL_set1_host(ssl, h->mxname);
	if (ok)
		return 0;
fail:
	{
		char err[256];

		str_copy(out->failure, "validation-failure", sizeof(out->failure));
		str_fmt(out->why, sizeof(out->why), "TLS set-up for %s: %s", h->mxname,
			tls_common_last_error(err, sizeof(err)));
	}
	return -1;
}

/* smtp_tls_handshake - SSL_connect on a non-blocking fd within timeout; 0 or -1 with why */
static int smtp_tls_handshake(SSL *ssl, int fd, int timeout, char *why, size_t whylen)
{
	struct timespec start, now;
	int flags = fcntl(fd, F_GETFL);
	int ret = -1;

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
		str_fmt(why, whylen, "fcntl: %s", strerror(errno));
		return -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = 0 };
		long long left_ms;
		int r, e;
		char err[256];

		ERR_clear_error();
		r = SSL_connect(ssl);
		if (r == 1) {
			ret = 0;
			break;
		}
		e = SSL_get_error(ssl, r);
		if (e == SSL_ERROR_WANT_READ)
			pfd.events = POLLIN;
		else if (e == SSL_ERROR_WANT_WRITE)
			pfd.events = POLLOUT;
		else {
			if (e == SSL_ERROR_SYSCALL && ERR_peek_last_error() == 0)
				str_fmt(why, whylen, "TLS handshake: %s", errno ? strerror(errno) :
					"connection closed by the server");
			else
				str_fmt(why, whylen, "TLS handshake: %s", tls_common_last_error(err, sizeof(err)));
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		left_ms = (long long) timeout * 1000 - ((now.tv_sec - start.tv_sec) * 1000LL +
							(now.tv_nsec - start.tv_nsec) / 1000000);
		if (left_ms <= 0) {
			str_fmt(why, whylen, "TLS handshake: timed out after %ds", timeout);
			break;
		}
		r = poll(&pfd, 1, (int) (left_ms > 60000 ? 60000 : left_ms));
		if (r < 0 && errno != EINTR) {
			str_fmt(why, whylen, "TLS handshake: poll: %s", strerror(errno));
			break;
		}
	}
	if (fcntl(fd, F_SETFL, flags) != 0 && ret == 0) {
		str_fmt(why, whylen, "fcntl: %s", strerror(errno));
		ret = -1;
	}
	return ret;
}

/* smtp_tls_check - the verification result against the plan: fills verified/how/failure/ok */
static void smtp_tls_check(struct smtp_tls_host *h, SSL *ssl, struct smtp_tls_outcome *out)
{
	const struct tls_policy_decision *dec = &h->dec;
	long vr = SSL_get_verify_result(ssl);
	X509 *peer = SSL_get0_peer_certificate(ssl);

	if (peer == NULL && vr == X509_V_OK)
		vr = X509_V_ERR_UNSPECIFIED;
	out->ok = true;
	if (dec->verify == TLS_VERIFY_DANE) {
		uint8_t usage = 0, selector, mtype;
		const unsigned char *data;
		size_t dlen;

		if (vr == X509_V_OK && SSL_get0_dane_tlsa(ssl, &usage, &selector, &mtype, &data, &dlen) >= 0) {
			out->verified = true;
			str_copy(out->how, usage == 3 ? "dane-ee" : "dane-ta", sizeof(out->how));
		} else {
			str_copy(out->failure, vr == X509_V_ERR_HOSTNAME_MISMATCH ? "certificate-host-mismatch"
				 : vr == X509_V_ERR_DANE_NO_MATCH || vr == X509_V_OK ? "validation-failure"
				 : tls_verify_failure(vr), sizeof(out->failure));
			str_fmt(out->why, sizeof(out->why), "DANE verification of %s failed: %s", h->mxname,
				vr == X509_V_OK ? "no TLSA record matched" : X509_verify_cert_error_string(vr));
		}
	} else if (dec->verify == TLS_VERIFY_PKIX) {
		if (vr == X509_V_OK) {
			out->verified = true;
			str_copy(out->how, "pkix", sizeof(out->how));
		} else {
			str_copy(out->failure, tls_verify_failure(vr), sizeof(out->failure));
			str_fmt(out->why, sizeof(out->why), "certificate verification of %s failed: %s", h->mxname,
				X509_verify_cert_error_string(vr));
		}
	} else {
		/* opportunistic: verified only as information for the log */
		out->verified = vr == X509_V_OK && !smtp_tls_is_address(h->mxname);
		str_copy(out->how, out->verified ? "pkix" : "unverified", sizeof(out->how));
		if (h->dane == TLS_DANE_UNUSABLE) {
			str_copy(out->failure, "tlsa-invalid", sizeof(out->failure));
			str_fmt(out->why, sizeof(out->why), "secure TLSA records of %s are all unusable; TLS "
				"without authentication", h->mxname);
		}
	}
	if (!out->verified && dec->verify != TLS_VERIFY_NONE) {
		if (dec->verify_enforced)
			out->ok = false;
		else
			str_copy(out->how, "unverified", sizeof(out->how));
	}
	if (out->failure[0] == '\0' && dec->failure[0] != '\0') {
		/* MTA-STS testing with an MX outside the policy: recorded, delivery goes on */
		str_copy(out->failure, dec->failure, sizeof(out->failure));
		str_fmt(out->why, sizeof(out->why), "MTA-STS testing: mx %s matches no mx of the policy of %s",
			h->mxname, h->d->domain);
	}
}

/* smtp_tls_connect - handshake, verification as planned, one event */
SSL *smtp_tls_connect(struct smtp_tls_host *h, int fd, int timeout, struct smtp_tls_outcome *out)
{
	SSL *ssl = NULL;
	char why[SMTP_TLS_TEXT_MAX];

	memset(out, 0, sizeof(*out));
	smtp_tls_host_addresses(h, fd);
	if (h->plan.unusable) {
		str_fmt(out->why, sizeof(out->why), "%s", h->plan.why);
		return NULL;
	}
	if (smtp_tls_ctx_get(h->d->t, why, sizeof(why)) != 0 ||
	    smtp_tls_ca_load(h->d->t, why, sizeof(why)) != 0) {
		str_copy(out->failure, "validation-failure", sizeof(out->failure));
		str_fmt(out->why, sizeof(out->why), "TLS set-up for %s: %s", h->mxname, why);
		goto fail;
	}
	if ((ssl = SSL_new(h->d->t->ctx)) == NULL) {
		str_fmt(out->why, sizeof(out->why), "SSL_new: %s", tls_common_last_error(why, sizeof(why)));
		return NULL;
	}
	if (!smtp_tls_is_address(h->mxname) && !SSL_set_tlsext_host_name(ssl, h->mxname)) {
		str_fmt(out->why, sizeof(out->why), "SNI %s: %s", h->mxname, tls_common_last_error(why, sizeof(why)));
		goto fail;
	}
	if (smtp_tls_setup_verify(h, ssl, out) != 0)
		goto fail;
	if (!SSL_set_fd(ssl, fd)) {
		str_fmt(out->why, sizeof(out->why), "SSL_set_fd: %s", tls_common_last_error(why, sizeof(why)));
		goto fail;
	}
	if (smtp_tls_handshake(ssl, fd, timeout > 0 ? timeout : 60, why, sizeof(why)) != 0) {
		long vr = SSL_get_verify_result(ssl);

		str_copy(out->failure, vr != X509_V_OK ? tls_verify_failure(vr) : "validation-failure",
			 sizeof(out->failure));
		str_fmt(out->why, sizeof(out->why), "%s[%s]: %s", h->mxname, h->peer_ip, why);
		goto fail;
	}
	str_copy(out->protocol, SSL_get_version(ssl), sizeof(out->protocol));
	str_copy(out->cipher, SSL_get_cipher_name(ssl), sizeof(out->cipher));
	smtp_tls_check(h, ssl, out);
	smtp_tls_event_write(h->d, h, h->dec.ptype, out->failure[0] ? out->failure : "success", out->why);
	if (!out->ok) {
		SSL_free(ssl);
		return NULL;
	}
	return ssl;
fail:
	smtp_tls_event_write(h->d, h, h->dec.ptype, out->failure[0] ? out->failure : "validation-failure",
			     out->why);
	SSL_free(ssl);
	return NULL;
}
