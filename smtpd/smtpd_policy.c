/*
 * smtpd_policy - who may send what to whom: client networks, the local
 * domains, local recipients, and the relay decision (spec-checklists
 * 1A.8-9 and 10).
 *
 * Recipients: a domain in mydestination is local; its recipients must
 * be found in local_recipient_maps (by "user@domain", then "user"),
 * else 550 5.1.1. postmaster is always accepted. Any other domain (IP
 * literals included) is relayed only for clients in mynetworks and
 * authenticated (AUTH) clients, else 554 5.7.1 Relay access denied.
 * From outside mynetworks, unauthenticated, a local-domain
 * address whose local part carries routing syntax (a percent hack, a bang
 * path, a quoted '@') is refused with 550 5.1.1, because tern routes none
 * of them. Source routes and a trailing dot were removed by the parser:
 * the decision is made on the address that is then used.
 *
 * Network lists (mynetworks, smtpd_bare_newline_exceptions) hold
 * addresses and networks ("192.0.2.0/24", "[2001:db8::]/32", "::1"),
 * "!" negations and type:name tables looked up with the client address
 * (cidr: tables are the usual choice); the first entry that matches
 * decides. Known compromise: this belongs in lib/ once a second daemon
 * needs it.
 *
 * Failures: tables open in pre_jail (as root, before the chroot); a list
 * that cannot be parsed is fatal at start-up; local_recipient_maps that
 * cannot be opened are logged and every local recipient gets 451 4.3.0
 * until the configuration is fixed. Lookups that fail for a while give
 * 451 4.3.0 (try again), never a 5xx. Lookups are synchronous: proxy:
 * tables are bounded by SMTPD_PROXY_TIMEOUT.
 */
#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/msg.h"
#include "base/str.h"
#include "mail/domain.h"
#include "mail/table.h"
#include "smtpd.h"

#define SMTPD_PROXY_TIMEOUT	30	/* seconds: a stuck proxymap stalls the process this long */

struct smtpd_net {
	bool neg;
	int family;			/* AF_INET, AF_INET6; 0 for a table */
	unsigned char addr[16];
	int bits;
	struct table *table;
};

struct smtpd_netlist {
	struct smtpd_net *v;
	size_t n;
};

/* smtpd_net_parse - one address or network; 0, or -1 */
static int smtpd_net_parse(const char *item, struct smtpd_net *net)
{
	char text[INET6_ADDRSTRLEN + 8];
	const char *slash = strrchr(item, '/');
	size_t alen = slash ? (size_t) (slash - item) : strlen(item);
	long long bits;
	int max;

	if (item[0] == '[') {
		const char *close = memchr(item, ']', alen);

		if (close == NULL || close != item + alen - 1)
			return -1;
		item++;
		alen -= 2;
	}
	if (alen >= sizeof(text))
		return -1;
	memcpy(text, item, alen);
	text[alen] = '\0';
	if (inet_pton(AF_INET, text, net->addr) == 1)
		net->family = AF_INET;
	else if (inet_pton(AF_INET6, text, net->addr) == 1)
		net->family = AF_INET6;
	else
		return -1;
	max = net->family == AF_INET ? 32 : 128;
	if (slash == NULL)
		bits = max;
	else if (str_to_ll(slash + 1, 0, max, &bits) < 0)
		return -1;
	net->bits = (int) bits;
	return 0;
}

/* smtpd_netlist_parse - a network list from its items */
struct smtpd_netlist *smtpd_netlist_parse(char *const *items, const char *what, char *err, size_t errlen)
{
	struct smtpd_netlist *nl = xcalloc(1, sizeof(*nl));
	char terr[TABLE_ERR_SIZE];

	for (size_t i = 0; items && items[i]; i++) {
		const char *item = items[i];
		struct smtpd_net net;

		memset(&net, 0, sizeof(net));
		if (item[0] == '!') {
			net.neg = true;
			item++;
		}
		if (smtpd_net_parse(item, &net) == 0) {
			/* fine */
		} else if (item[0] != '[' && strchr(item, ':') != NULL && strchr(item, ':') != item) {
			if ((net.table = table_open(item, 0, terr, sizeof(terr))) == NULL) {
				str_fmt(err, errlen, "%s: %s", what, terr);
				smtpd_netlist_free(nl);
				return NULL;
			}
		} else {
			str_fmt(err, errlen, "%s: \"%s\" is not an address, a network or a table", what, items[i]);
			smtpd_netlist_free(nl);
			return NULL;
		}
		nl->v = xreallocarray(nl->v, nl->n + 1, sizeof(*nl->v));
		nl->v[nl->n++] = net;
	}
	return nl;
}

/* smtpd_net_in - does addr (family's octets) lie in net */
static bool smtpd_net_in(const struct smtpd_net *net, int family, const unsigned char *addr)
{
	int full = net->bits / 8, rest = net->bits % 8;

	if (family != net->family)
		return false;
	if (memcmp(addr, net->addr, (size_t) full) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((addr[full] ^ net->addr[full]) & (0xff << (8 - rest))) == 0;
}

/* smtpd_netlist_match - 1 when addr matches, 0 when not, -1 table trouble */
int smtpd_netlist_match(struct smtpd_netlist *nl, const char *addr)
{
	unsigned char bin[16];
	int family = 0;
	char err[TABLE_ERR_SIZE];
	const char *value;

	if (nl == NULL)
		return 0;
	if (inet_pton(AF_INET, addr, bin) == 1)
		family = AF_INET;
	else if (inet_pton(AF_INET6, addr, bin) == 1)
		family = AF_INET6;
	for (size_t i = 0; i < nl->n; i++) {
		const struct smtpd_net *net = &nl->v[i];
		int hit;

		if (net->table != NULL) {
			hit = table_lookup(net->table, addr, &value, err, sizeof(err));
			if (hit < 0) {
				msg_warn("%s: %s", table_spec(net->table), err);
				return -1;
			}
		} else {
			hit = family != 0 && smtpd_net_in(net, family, bin);
		}
		if (hit)
			return net->neg ? 0 : 1;
	}
	return 0;
}

/* smtpd_netlist_free - release a list and its tables */
void smtpd_netlist_free(struct smtpd_netlist *nl)
{
	if (nl == NULL)
		return;
	for (size_t i = 0; i < nl->n; i++)
		if (nl->v[i].table)
			table_close(nl->v[i].table);
	free(nl->v);
	free(nl);
}

/* smtpd_is_table - "type:name" (a domain never holds ':' outside a literal) */
static bool smtpd_is_table(const char *item)
{
	const char *colon = strchr(item, ':');

	return item[0] != '[' && item[0] != '!' && colon != NULL && colon != item;
}

/* smtpd_policy_dest - mydestination: plain patterns and tables */
static void smtpd_policy_dest(struct smtpd_server *srv)
{
	char *const *items = srv->g->mydestination;
	const char **tables = NULL;
	size_t n = 0, nt = 0;
	char err[TABLE_ERR_SIZE];

	for (size_t i = 0; items[i]; i++)
		n++;
	srv->dest_names = xcalloc(n + 1, sizeof(*srv->dest_names));
	tables = xcalloc(n + 1, sizeof(*tables));
	n = 0;
	for (size_t i = 0; items[i]; i++) {
		if (smtpd_is_table(items[i]))
			tables[nt++] = items[i];
		else
			srv->dest_names[n++] = items[i];
	}
	if (nt > 0 && (srv->dest_tables = tables_open_vector(tables, 0, err, sizeof(err))) == NULL)
		msg_fatal("mydestination: %s", err);
	free(tables);
}

/*
 * smtpd_policy_virtual_init - virtual_mailbox_domains (plain names; tables
 * there are for qmgr) and virtual_mailbox_maps, asked through proxymap
 * because smtpd is chrooted
 */
static void smtpd_policy_virtual_init(struct smtpd_server *srv)
{
	char *const *maps = srv->g->virtual_mailbox_maps;
	char *const *doms = srv->g->virtual_mailbox_domains;
	char err[TABLE_ERR_SIZE];
	char **specs;
	size_t n = 0, nd = 0;

	for (size_t i = 0; doms[i]; i++)
		nd++;
	srv->virt_names = xcalloc(nd + 1, sizeof(*srv->virt_names));
	nd = 0;
	for (size_t i = 0; doms[i]; i++)
		if (!smtpd_is_table(doms[i]))
			srv->virt_names[nd++] = doms[i];
	for (size_t i = 0; maps[i]; i++)
		n++;
	if (n == 0)
		return;
	specs = xcalloc(n + 1, sizeof(*specs));
	for (size_t i = 0; i < n; i++)
		specs[i] = str_has_prefix(maps[i], "proxy:") ? xstrdup(maps[i]) : str_dupf("proxy:%s", maps[i]);
	srv->virt_maps = tables_open_vector((const char *const *) specs, 0, err, sizeof(err));
	if (srv->virt_maps == NULL) {
		msg_error("virtual_mailbox_maps: %s; virtual recipients get 451 4.3.0 until this is fixed", err);
		srv->virt_maps_broken = true;
	}
	for (size_t i = 0; i < n; i++)
		free(specs[i]);
	free(specs);
}

/* smtpd_policy_virtual - is domain one of virtual_mailbox_domains */
static bool smtpd_policy_virtual(struct smtpd_server *srv, const char *domain)
{
	return srv->virt_names != NULL && domain_list_match(domain, srv->virt_names, 0) >= 0;
}

/* smtpd_policy_vuser - a virtual recipient (address, then @domain): 1, 0, -1 */
static int smtpd_policy_vuser(struct smtpd_server *srv, const struct smtp_addr *a, const char *text)
{
	char err[TABLE_ERR_SIZE];
	char catchall[SMTP_ADDR_TEXT_MAX + 2];
	const char *value;
	int rc;

	if (srv->virt_maps_broken)
		return -1;
	if (srv->virt_maps == NULL)
		return 1;
	rc = tables_lookup(srv->virt_maps, text, &value, NULL, err, sizeof(err));
	if (rc == 0 && str_fmt(catchall, sizeof(catchall), "@%s", a->domain) == 0)
		rc = tables_lookup(srv->virt_maps, catchall, &value, NULL, err, sizeof(err));
	if (rc < 0)
		msg_warn("virtual_mailbox_maps lookup of %s: %s", text, err);
	return rc;
}

/* smtpd_policy_init - pre_jail: open what the checks need */
void smtpd_policy_init(struct smtpd_server *srv)
{
	char err[TABLE_ERR_SIZE];

	table_proxy_set_timeout(srv->g->ipc_timeout < SMTPD_PROXY_TIMEOUT ? (int) srv->g->ipc_timeout
				: SMTPD_PROXY_TIMEOUT);
	if ((srv->mynetworks = smtpd_netlist_parse(srv->g->mynetworks, "mynetworks", err, sizeof(err))) == NULL)
		msg_fatal("%s", err);
	if ((srv->bare_exceptions = smtpd_netlist_parse(srv->p->smtpd_bare_newline_exceptions,
							"smtpd_bare_newline_exceptions", err, sizeof(err))) == NULL)
		msg_fatal("%s", err);
	smtpd_policy_dest(srv);
	smtpd_policy_virtual_init(srv);
	if (srv->p->local_recipient_maps[0] != NULL) {
		srv->rcpt_maps = tables_open_vector((const char *const *) srv->p->local_recipient_maps, 0,
						    err, sizeof(err));
		if (srv->rcpt_maps == NULL) {
			msg_error("local_recipient_maps: %s; local recipients get 451 4.3.0 until this is fixed", err);
			srv->rcpt_maps_broken = true;
		}
	}
}

/* smtpd_policy_local - is domain ours (mydestination): 1, 0, or -1 */
int smtpd_policy_local(struct smtpd_server *srv, const char *domain)
{
	char err[TABLE_ERR_SIZE];
	const char *value;
	int rc;

	if (domain_list_match(domain, srv->dest_names, 0) >= 0)
		return 1;
	if (srv->dest_tables == NULL)
		return 0;
	rc = tables_lookup(srv->dest_tables, domain, &value, NULL, err, sizeof(err));
	if (rc < 0)
		msg_warn("mydestination lookup of %s: %s", domain, err);
	return rc;
}

/* smtpd_policy_user - a local recipient in local_recipient_maps: 1, 0, -1 */
static int smtpd_policy_user(struct smtpd_server *srv, const struct smtp_addr *a, const char *text)
{
	char err[TABLE_ERR_SIZE];
	const char *value;
	int rc;

	if (srv->rcpt_maps_broken)
		return -1;
	if (srv->rcpt_maps == NULL)
		return 1;
	/* proxy: tables answer a key asked within 10 s from memory (table_proxy.c) */
	rc = tables_lookup(srv->rcpt_maps, text, &value, NULL, err, sizeof(err));
	if (rc == 0)
		rc = tables_lookup(srv->rcpt_maps, a->local, &value, NULL, err, sizeof(err));
	if (rc < 0)
		msg_warn("local_recipient_maps lookup of %s: %s", text, err);
	return rc;
}

/* smtpd_policy_rcpt - the recipient checks */
int smtpd_policy_rcpt(struct smtpd_session *s, const struct smtp_addr *a, const char *text,
		      struct smtpd_reply *r)
{
	struct smtpd_server *srv = s->srv;
	unsigned routing = SMTP_ADDR_TRAP_PERCENT | SMTP_ADDR_TRAP_BANG | SMTP_ADDR_TRAP_QUOTED_AT;
	unsigned traps;
	int local, user;

	if (a->unqualified && a->postmaster)
		return 0;
	if (a->unqualified) {
		smtpd_reply_set(r, 501, "5.1.3", "<%s>: Recipient address must contain a domain", text);
		return -1;
	}
	local = a->literal.family != 0 ? 0 : smtpd_policy_local(srv, a->domain);
	if (local < 0) {
		smtpd_reply_set(r, 451, "4.3.0", "<%s>: Temporary lookup failure", text);
		return -1;
	}
	if (!local && a->literal.family == 0 && smtpd_policy_virtual(srv, a->domain)) {
		/* a virtual mailbox domain: ours, from anyone; the account must exist */
		if (a->postmaster)
			return 0;
		user = smtpd_policy_vuser(srv, a, text);
		if (user < 0) {
			smtpd_reply_set(r, 451, "4.3.0", "<%s>: Recipient address rejected: temporary lookup failure",
					text);
			return -1;
		}
		if (user == 0) {
			smtpd_reply_set(r, 550, "5.1.1", "<%s>: Recipient address rejected: "
					"User unknown in virtual mailbox table", text);
			return -1;
		}
		return 0;
	}
	if (!local) {
		if (s->relay_ok > 0 || s->sasl_user[0])
			return 0;	/* mynetworks, or an authenticated client */
		if (s->relay_ok < 0) {
			smtpd_reply_set(r, 451, "4.3.0", "<%s>: Temporary lookup failure", text);
			return -1;
		}
		smtpd_reply_set(r, 554, "5.7.1", "<%s>: Relay access denied", text);
		return -1;
	}
	if (a->postmaster)
		return 0;
	traps = smtp_addr_traps(a, NULL) & routing;
	if (traps != 0 && s->relay_ok <= 0 && s->sasl_user[0] == '\0') {
		smtpd_reply_set(r, 550, "5.1.1", "<%s>: Recipient address rejected: %s", text,
				smtp_addr_trap_text(smtp_addr_trap_first(traps)));
		return -1;
	}
	user = smtpd_policy_user(srv, a, text);
	if (user < 0) {
		smtpd_reply_set(r, 451, "4.3.0", "<%s>: Recipient address rejected: temporary lookup failure",
				text);
		return -1;
	}
	if (user == 0) {
		smtpd_reply_set(r, 550, "5.1.1", "<%s>: Recipient address rejected: "
				"User unknown in local recipient table", text);
		return -1;
	}
	return 0;
}

/* smtpd_policy_vrfy - VRFY when enabled: 250 only for a user we really have */
void smtpd_policy_vrfy(struct smtpd_session *s, const char *arg, size_t len, struct smtpd_reply *r)
{
	struct smtpd_server *srv = s->srv;
	struct smtp_addr a;
	char text[SMTP_ADDR_TEXT_MAX + 1];
	int local, user;

	if (len >= 2 && arg[0] == '<' && arg[len - 1] == '>') {
		arg++;
		len -= 2;
	}
	if (smtp_addr_parse_mailbox(arg, len, SMTP_ADDR_F_UTF8 | SMTP_ADDR_F_UNQUALIFIED, &a) != SMTP_ADDR_OK ||
	    (a.unqualified && str_copy(a.domain, srv->g->myhostname, sizeof(a.domain)) < 0) ||
	    smtp_addr_external(&a, text, sizeof(text)) < 0) {
		smtpd_reply_set(r, 501, "5.1.3", "Bad recipient address syntax");
		return;
	}
	local = a.literal.family != 0 ? 0 : smtpd_policy_local(srv, a.domain);
	if (local < 0) {
		smtpd_reply_set(r, 451, "4.3.0", "<%s>: Temporary lookup failure", text);
		return;
	}
	if (!local || srv->rcpt_maps == NULL) {
		smtpd_reply_set(r, 252, "2.0.0", "<%s>: cannot verify, but will accept and attempt delivery", text);
		return;
	}
	user = a.postmaster ? 1 : smtpd_policy_user(srv, &a, text);
	if (user < 0)
		smtpd_reply_set(r, 451, "4.3.0", "<%s>: Temporary lookup failure", text);
	else if (user == 0)
		smtpd_reply_set(r, 550, "5.1.1", "<%s>: Recipient address rejected: "
				"User unknown in local recipient table", text);
	else
		smtpd_reply_set(r, 250, "2.0.0", "<%s>", text);
}
