/*
 * tern-dnsq - test program: DNS lookups through lib/mail/dns.c, one line
 * per answer, for t/71-dns.t.
 *
 *	tern-dnsq [-c config-dir] [-a | -e] [-j dir] TYPE NAME...
 *
 * TYPE is A, AAAA, MX, TXT, PTR or TLSA; a PTR NAME that is an IP
 * address is turned into its reverse name first. Without -a or -e each
 * name is looked up in turn with dns_lookup; -a starts every lookup at
 * once with dns_query and collects them with dns_wait; -e does the same
 * through a libevent loop (dns_event_attach). -j dir: after dns_new, as
 * root, chroot to dir and drop to the user nobody before any lookup
 * (without root: a note, and no chroot).
 *
 * Output, one line per answer, fields separated by tabs:
 *	name TYPE status security why canon record...
 * status is ok, nodata, nxdomain or tempfail; why is "-" when empty;
 * records: A/AAAA the address, MX "pref host" (host "." for a null MX),
 * PTR the name, TXT the joined text (octets outside printable ASCII and
 * '\' as \xHH), TLSA "usage selector mtype hex". Exit 0 when every
 * answer was printed, 1 on a start failure, 2 on usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/mem.h"
#include "base/msg.h"
#include "mail/config.h"
#include "mail/dns.h"

/* dnsq_state - what the callbacks of -a and -e need */
struct dnsq_state {
	struct dns *dns;
	struct event_base *base;
	size_t answered;
};

/* dnsq_types - the types this program asks for */
static const struct {
	const char *name;
	int type;
} dnsq_types[] = {
	{"A", DNS_T_A}, {"AAAA", DNS_T_AAAA}, {"MX", DNS_T_MX},
	{"TXT", DNS_T_TXT}, {"PTR", DNS_T_PTR}, {"TLSA", DNS_T_TLSA},
};

/* dnsq_type_of - a type by name, or -1 */
static int dnsq_type_of(const char *name)
{
	for (size_t i = 0; i < sizeof(dnsq_types) / sizeof(dnsq_types[0]); i++)
		if (strcasecmp(dnsq_types[i].name, name) == 0)
			return dnsq_types[i].type;
	return -1;
}

/* dnsq_type_name - a type's name */
static const char *dnsq_type_name(int type)
{
	for (size_t i = 0; i < sizeof(dnsq_types) / sizeof(dnsq_types[0]); i++)
		if (dnsq_types[i].type == type)
			return dnsq_types[i].name;
	return "?";
}

/* dnsq_status_name - a status as a word */
static const char *dnsq_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:
		return "ok";
	case DNS_NODATA:
		return "nodata";
	case DNS_NXDOMAIN:
		return "nxdomain";
	case DNS_TEMPFAIL:
		break;
	}
	return "tempfail";
}

/* dnsq_print_rr - one record in the output form */
static void dnsq_print_rr(const struct dns_rr *rr)
{
	char addr[INET6_ADDRSTRLEN];

	switch (rr->type) {
	case DNS_T_A:
		printf("%s", inet_ntop(AF_INET, &rr->u.a, addr, sizeof(addr)));
		break;
	case DNS_T_AAAA:
		printf("%s", inet_ntop(AF_INET6, &rr->u.aaaa, addr, sizeof(addr)));
		break;
	case DNS_T_MX:
		printf("%u %s", rr->u.mx.pref, rr->u.mx.host[0] ? rr->u.mx.host : ".");
		break;
	case DNS_T_PTR:
		printf("%s", rr->u.ptr);
		break;
	case DNS_T_TXT:
		for (const unsigned char *p = (const unsigned char *) rr->u.txt; *p; p++) {
			if (*p >= 0x20 && *p < 0x7f && *p != '\\')
				putchar(*p);
			else
				printf("\\x%02x", *p);
		}
		break;
	case DNS_T_TLSA:
		printf("%u %u %u ", rr->u.tlsa.usage, rr->u.tlsa.selector, rr->u.tlsa.mtype);
		for (size_t i = 0; i < rr->u.tlsa.len; i++)
			printf("%02x", rr->u.tlsa.data[i]);
		break;
	default:
		printf("?");
	}
}

/* dnsq_print - the line of one answer */
static void dnsq_print(const struct dns_answer *a)
{
	printf("%s\t%s\t%s\t%s\t%s\t%s", a->name, dnsq_type_name(a->type), dnsq_status_name(a->status),
	       dns_security_name(a->security), a->why[0] ? a->why : "-", a->canon);
	for (size_t i = 0; i < a->n; i++) {
		putchar('\t');
		dnsq_print_rr(&a->rr[i]);
	}
	putchar('\n');
	fflush(stdout);
}

/* dnsq_done - callback of -a and -e: print, and end the loop after the last */
static void dnsq_done(void *arg, struct dns_answer *a)
{
	struct dnsq_state *st = arg;

	dnsq_print(a);
	dns_answer_free(a);
	st->answered++;
	if (st->base != NULL && dns_pending(st->dns) == 0)
		event_base_loopexit(st->base, NULL);
}

/* dnsq_jail - chroot to dir and become nobody (root only) */
static void dnsq_jail(const char *dir)
{
	struct passwd *pw;
	uid_t uid;
	gid_t gid;

	if (geteuid() != 0) {
		fprintf(stderr, "tern-dnsq: note: not root, -j %s ignored\n", dir);
		return;
	}
	if ((pw = getpwnam("nobody")) == NULL)
		msg_fatal("-j: no user nobody");
	uid = pw->pw_uid;
	gid = pw->pw_gid;
	if (chroot(dir) != 0 || chdir("/") != 0)
		msg_fatal("-j: chroot %s: %s", dir, strerror(errno));
	if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
		msg_fatal("-j: cannot drop to nobody: %s", strerror(errno));
	if (geteuid() == 0 || getuid() == 0)
		msg_fatal("-j: still root after the drop");
}

/* dnsq_name - the name to ask for: a PTR of an address becomes its reverse name */
static const char *dnsq_name(int type, const char *arg, char *buf, size_t buflen)
{
	if (type == DNS_T_PTR && dns_ptr_name(arg, buf, buflen) == 0)
		return buf;
	return arg;
}

/* usage - print the synopsis and exit 2 */
static void usage(void)
{
	fprintf(stderr, "usage: tern-dnsq [-c config-dir] [-a | -e] [-j dir] TYPE NAME...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *jail = NULL;
	struct dnsq_state st = { NULL, NULL, 0 };
	char err[512], rev[DNS_NAME_MAX + 1];
	struct config cfg;
	int mode = 0, type, ch, status = 0;

	msg_init("tern-dnsq");
	while ((ch = getopt(argc, argv, "aec:j:")) != -1) {
		switch (ch) {
		case 'a':
		case 'e':
			mode = ch;
			break;
		case 'c':
			dir = optarg;
			break;
		case 'j':
			jail = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 2 || (type = dnsq_type_of(argv[0])) < 0)
		usage();

	config_load_or_die(&cfg, dir, NULL, NULL);
	if ((st.dns = dns_new(&cfg, err, sizeof(err))) == NULL)
		msg_fatal("%s", err);
	if (jail != NULL)
		dnsq_jail(jail);

	if (mode == 0) {
		for (int i = 1; i < argc; i++) {
			struct dns_answer *a = dns_lookup(st.dns, dnsq_name(type, argv[i], rev, sizeof(rev)), type);

			dnsq_print(a);
			dns_answer_free(a);
		}
	} else {
		if (mode == 'e') {
			if ((st.base = event_base_new()) == NULL || dns_event_attach(st.dns, st.base) < 0)
				msg_fatal("cannot set up the event loop");
		}
		for (int i = 1; i < argc; i++) {
			if (dns_query(st.dns, dnsq_name(type, argv[i], rev, sizeof(rev)), type, dnsq_done, &st,
				      err, sizeof(err)) < 0) {
				fprintf(stderr, "tern-dnsq: %s\n", err);
				status = 1;
			}
		}
		if (mode == 'a')
			(void) dns_wait(st.dns, (int) (cfg.global.dns_timeout * 1000 + 2000));
		else if (dns_pending(st.dns) > 0)
			event_base_dispatch(st.base);
		if (dns_pending(st.dns) != 0) {
			fprintf(stderr, "tern-dnsq: %zu lookups still pending\n", dns_pending(st.dns));
			status = 1;
		}
	}
	dns_free(st.dns);
	if (st.base != NULL)
		event_base_free(st.base);
	config_free(&cfg);
	return status;
}
