/*
 * dns - DNS lookups through libunbound, with the DNSSEC verdict carried
 * beside every answer (DESIGN.md section 6).
 *
 * One struct dns per process, made in pre_jail (as root, before any
 * chroot): dns_new reads every file it needs there and then (resolver
 * configuration, resolv.conf, trust anchor), so lookups keep working
 * after the chroot and the drop. The libunbound context itself is made
 * by the first lookup (or dns_fd) from what dns_new read, unless
 * dns_resolver_config is set (then, and for files of a syntax dns.c does
 * not read itself, dns_new makes and finalizes it at once): a process
 * that never looks anything up never pays for it (dns.c says why).
 *
 * Where answers come from (global parameters, tern.conf(5)):
 *   dns_resolver_config  an unbound.conf(5) file given to ub_ctx_config;
 *                        when set it decides everything (the test world
 *                        uses it for its stub zones)
 *   dns_resolver_mode    "resolv.conf": forward to the system's resolvers;
 *                        "forward": forward to dns_forwarders (ip[@port]);
 *                        "recursive": libunbound resolves from the root
 *   dns_trust_anchor_file  DS or DNSKEY records of the trust anchor; ""
 *                        or a missing file: no validation (every answer
 *                        is insecure, logged once as a warning)
 *   dns_timeout          time limit of one lookup
 *
 * Asynchronous use: dns_query starts a lookup and returns at once; the
 * callback runs from dns_process (or from the libevent callback that
 * dns_event_attach installs, or from dns_wait) with the answer, which it
 * then owns. Several lookups may run at once (MX, then A + AAAA + TLSA of
 * every MX host in parallel). Synchronous use: dns_lookup.
 * Callbacks never run inside dns_query or dns_lookup: answers to other
 * lookups that arrive while dns_lookup waits are kept for the next
 * dns_process/dns_wait (an attached event loop is woken for them). A
 * callback may start lookups but must not call dns_free; dns_free drops
 * pending lookups without calling back. libunbound resolves in a thread
 * of this process, started by the first lookup (so after the chroot and
 * the drop); a forked child must not use its parent's struct dns.
 *
 * Verdicts: a bogus answer is never data: status DNS_TEMPFAIL and
 * security DNS_BOGUS, with libunbound's why_bogus in why (the caller
 * defers with that reason). A timeout or SERVFAIL is DNS_TEMPFAIL.
 * NXDOMAIN and NODATA are final answers and carry the security of their
 * denial (a secure NODATA for TLSA means "no TLSA records", DANE off).
 *
 * Failures: dns_new returns NULL with a reason in err (bad configuration
 * file, unreadable trust anchor named explicitly); nothing here exits. A
 * context that cannot be made at the first lookup (a trust anchor record
 * libunbound refuses) is logged once, and that lookup and every later
 * one fail with the reason (dns_query -1 with err, dns_lookup a
 * DNS_TEMPFAIL answer).
 */
#ifndef TERN_MAIL_DNS_H
#define TERN_MAIL_DNS_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNS_NAME_MAX	255		/* presentation form, without the final dot */
#define DNS_WHY_MAX	256
#define DNS_TXT_MAX	4096		/* one TXT record, its strings joined */
#define DNS_TLSA_DATA_MAX 64		/* sha2-512 length; longer full-cert data is kept too, see below */

/* RR types we ask for (numeric, as on the wire) */
#define DNS_T_A		1
#define DNS_T_PTR	12
#define DNS_T_MX	15
#define DNS_T_TXT	16
#define DNS_T_AAAA	28
#define DNS_T_TLSA	52

enum dns_status {
	DNS_OK,			/* n >= 1 records */
	DNS_NODATA,		/* the name exists, no records of the type */
	DNS_NXDOMAIN,		/* the name does not exist */
	DNS_TEMPFAIL,		/* timeout, SERVFAIL, REFUSED, bogus: try later */
};

enum dns_security { DNS_INSECURE, DNS_SECURE, DNS_BOGUS };

struct dns_rr {
	int type;			/* DNS_T_* */
	uint32_t ttl;
	union {
		struct { unsigned pref; char host[DNS_NAME_MAX + 1]; } mx;	/* host lower case, no final dot; "" = null MX "." */
		struct in_addr a;
		struct in6_addr aaaa;
		char ptr[DNS_NAME_MAX + 1];					/* no final dot */
		char *txt;							/* strings of one record joined, NUL-terminated; a record
									   longer than DNS_TXT_MAX - 1 or holding a NUL is left out */
		struct { uint8_t usage, selector, mtype; uint8_t *data; size_t len; } tlsa;
	} u;
};

struct dns_answer {
	char name[DNS_NAME_MAX + 1];	/* the name asked for */
	int type;
	enum dns_status status;
	enum dns_security security;
	char why[DNS_WHY_MAX];		/* TEMPFAIL/BOGUS: what went wrong, for a log line or reply */
	char canon[DNS_NAME_MAX + 1];	/* canonical name after CNAMEs */
	size_t n;
	struct dns_rr *rr;
};

struct dns;

/* dns_new - a resolver from the global configuration; NULL with err */
struct config;
struct dns *dns_new(const struct config *cfg, char *err, size_t errlen);
/*
 * dns_config_check - the dns_ parameters of cfg (dns_resolver_mode is
 * one of the three, forwarder syntax, files readable) as problems for
 * "ternctl check", each naming the parameter; returns how many were
 * added. dns_new checks the same and fails with the first one.
 */
struct config_problems;
int dns_config_check(const struct config *cfg, struct config_problems *probs);
void dns_free(struct dns *d);

/* dns_answer_free - release an answer (NULL is fine) */
void dns_answer_free(struct dns_answer *a);

/*
 * dns_query - start a lookup of (name, type); cb(arg, answer) runs later
 * from dns_process/dns_wait/the event loop and owns the answer. Returns 0,
 * or -1 with err when the lookup could not even start (the callback
 * will not run).
 */
typedef void (*dns_callback)(void *arg, struct dns_answer *answer);
int dns_query(struct dns *d, const char *name, int type, dns_callback cb, void *arg,
	      char *err, size_t errlen);

/* dns_fd - the descriptor that becomes readable when answers wait (makes the context); -1 if it cannot */
int dns_fd(struct dns *d);
/* dns_process - run the callbacks of the answers that arrived */
void dns_process(struct dns *d);
/* dns_pending - lookups started whose callback has not run yet */
size_t dns_pending(const struct dns *d);
/*
 * dns_wait - process answers until no lookup is pending or timeout_ms
 * passed; lookups still pending then get a DNS_TEMPFAIL answer ("timed
 * out") through their callbacks. Returns dns_pending() (0).
 */
size_t dns_wait(struct dns *d, int timeout_ms);

/* dns_event_attach - process answers from a libevent loop */
struct event_base;
int dns_event_attach(struct dns *d, struct event_base *base);

/* dns_lookup - synchronous query + wait (dns_timeout); never NULL */
struct dns_answer *dns_lookup(struct dns *d, const char *name, int type);

/* dns_ptr_name - "4.3.2.1.in-addr.arpa" / ip6.arpa name of a textual address; 0 or -1 */
int dns_ptr_name(const char *addr, char *out, size_t outlen);

/* dns_security_name - "secure", "insecure", "bogus" */
const char *dns_security_name(enum dns_security s);

#endif
