/*
 * resolve - route a recipient address to (transport, nexthop); see
 * resolve.h for the rules. Tables are opened once, at resolve_new.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "mail/domain.h"
#include "mail/resolve.h"
#include "mail/table.h"

/* resolve_dlist - a domain list: plain patterns and tables keyed by domain */
struct resolve_dlist {
	char **patterns;		/* NULL-terminated, for domain_list_match */
	struct table **tables;
	size_t ntables;
};

struct resolve {
	struct resolve_dlist mydest;
	struct resolve_dlist virt;
	struct tables *transport;	/* NULL: none */
	char *relayhost;		/* NULL: none */
};

/* resolve_is_table - "type:name" (and not an address literal) */
static bool resolve_is_table(const char *s)
{
	const char *colon = strchr(s, ':');

	if (colon == NULL || colon == s || s[0] == '[' || s[0] == '!')
		return false;
	for (const char *p = s; p < colon; p++)
		if (!isalnum((unsigned char) *p))
			return false;
	return true;
}

/* resolve_dlist_init - split list into patterns and open tables; -1 with err */
static int resolve_dlist_init(struct resolve_dlist *d, const char *const *list,
			      char *err, size_t errlen)
{
	size_t n = 0, np = 0;

	while (list && list[n])
		n++;
	d->patterns = xcalloc(n + 1, sizeof(char *));
	d->tables = xcalloc(n + 1, sizeof(struct table *));
	d->ntables = 0;
	for (size_t i = 0; i < n; i++) {
		if (!resolve_is_table(list[i])) {
			d->patterns[np++] = xstrdup(list[i]);
			continue;
		}
		if ((d->tables[d->ntables] = table_open(list[i], TABLE_FOLD_KEY, err, errlen)) == NULL)
			return -1;
		d->ntables++;
	}
	return 0;
}

/* resolve_dlist_free - release a domain list */
static void resolve_dlist_free(struct resolve_dlist *d)
{
	for (size_t i = 0; d->patterns && d->patterns[i]; i++)
		free(d->patterns[i]);
	free(d->patterns);
	for (size_t i = 0; i < d->ntables; i++)
		table_close(d->tables[i]);
	free(d->tables);
}

/* resolve_dlist_match - 1 domain matches, 0 not, -1 lookup error */
static int resolve_dlist_match(struct resolve_dlist *d, const char *domain, char *err, size_t errlen)
{
	const char *value;

	if (domain_list_match(domain, (const char *const *) d->patterns, 0) >= 0)
		return 1;
	for (size_t i = 0; i < d->ntables; i++) {
		int rc = table_lookup(d->tables[i], domain, &value, err, errlen);

		if (rc != 0)
			return rc;
	}
	return 0;
}

/* resolve_new - open the tables; see resolve.h */
struct resolve *resolve_new(const char *const *mydestination, const char *const *virtual_domains,
			    const char *const *transport_maps, const char *relayhost,
			    char *err, size_t errlen)
{
	struct resolve *r = xcalloc(1, sizeof(*r));

	if (resolve_dlist_init(&r->mydest, mydestination, err, errlen) < 0 ||
	    resolve_dlist_init(&r->virt, virtual_domains, err, errlen) < 0) {
		resolve_free(r);
		return NULL;
	}
	if (transport_maps && transport_maps[0]) {
		r->transport = tables_open_vector(transport_maps, 0, err, errlen);
		if (r->transport == NULL) {
			resolve_free(r);
			return NULL;
		}
	}
	if (relayhost && *relayhost)
		r->relayhost = xstrdup(relayhost);
	return r;
}

/* resolve_free - release everything (NULL is fine) */
void resolve_free(struct resolve *r)
{
	if (r == NULL)
		return;
	resolve_dlist_free(&r->mydest);
	resolve_dlist_free(&r->virt);
	if (r->transport)
		tables_close(r->transport);
	free(r->relayhost);
	free(r);
}

/* resolve_transport_ok - [a-z0-9_-]{1,RESOLVE_TRANSPORT_MAX} */
int resolve_transport_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > RESOLVE_TRANSPORT_MAX)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!(islower((unsigned char) name[i]) || isdigit((unsigned char) name[i]) ||
		      name[i] == '_' || name[i] == '-'))
			return 0;
	return 1;
}

/* resolve_lookup_transport - search transport_maps: 1 found, 0 not, -1 error */
static int resolve_lookup_transport(struct resolve *r, const char *addr, const char *domain,
				    const char **value, char *err, size_t errlen)
{
	int rc;

	if (r->transport == NULL)
		return 0;
	if ((rc = tables_lookup(r->transport, addr, value, NULL, err, errlen)) != 0)
		return rc;
	if (*domain == 0)
		return 0;
	if ((rc = tables_lookup(r->transport, domain, value, NULL, err, errlen)) != 0)
		return rc;
	for (const char *p = strchr(domain, '.'); p; p = strchr(p + 1, '.'))
		if ((rc = tables_lookup(r->transport, p, value, NULL, err, errlen)) != 0)
			return rc;
	return 0;
}

/* resolve_default - steps 2-4 of resolve.h; 0 or -1 with err */
static int resolve_default(struct resolve *r, const char *domain, struct resolve_result *out,
			   char *err, size_t errlen)
{
	int rc = 0;

	if (*domain == 0 || str_eq_nocase(domain, "localhost") ||
	    str_eq_nocase(domain, "localhost.localdomain") ||
	    (rc = resolve_dlist_match(&r->mydest, domain, err, errlen)) == 1) {
		str_copy(out->transport, "local", sizeof(out->transport));
		out->nexthop[0] = 0;
		return 0;
	}
	if (rc < 0)
		return -1;
	if ((rc = resolve_dlist_match(&r->virt, domain, err, errlen)) < 0)
		return -1;
	str_copy(out->transport, rc ? "virtual" : "smtp", sizeof(out->transport));
	if (str_copy(out->nexthop, !rc && r->relayhost ? r->relayhost : domain,
		     sizeof(out->nexthop)) < 0) {
		str_copy(err, "domain too long", errlen);
		return -2;
	}
	return 0;
}

/* resolve_addr - route one address; see resolve.h */
int resolve_addr(struct resolve *r, const char *addr, struct resolve_result *out,
		 char *err, size_t errlen)
{
	const char *at = strrchr(addr, '@');
	char domain[DOMAIN_NAME_MAX + 2];
	const char *value = NULL;
	char tbuf[RESOLVE_TRANSPORT_MAX + 1];
	int rc;

	domain[0] = 0;
	if (at && str_copy(domain, at + 1, sizeof(domain)) < 0) {
		str_fmt(err, errlen, "domain of <%.100s> too long", addr);
		return -2;
	}
	str_lower(domain);
	if ((rc = resolve_default(r, domain, out, err, errlen)) < 0)
		return rc;
	if ((rc = resolve_lookup_transport(r, addr, domain, &value, err, errlen)) < 0)
		return -1;
	if (rc == 0)
		return 0;
	/* "transport:nexthop", "transport", ":nexthop" */
	const char *colon = strchr(value, ':');
	size_t tlen = colon ? (size_t) (colon - value) : strlen(value);

	if (tlen > RESOLVE_TRANSPORT_MAX) {
		str_fmt(err, errlen, "transport_maps: bad transport in \"%.100s\"", value);
		return -2;
	}
	memcpy(tbuf, value, tlen);
	tbuf[tlen] = 0;
	if (tlen > 0) {
		if (!resolve_transport_ok(tbuf)) {
			str_fmt(err, errlen, "transport_maps: bad transport in \"%.100s\"", value);
			return -2;
		}
		str_copy(out->transport, tbuf, sizeof(out->transport));
	}
	if (colon && colon[1]) {
		if (str_copy(out->nexthop, colon + 1, sizeof(out->nexthop)) < 0) {
			str_fmt(err, errlen, "transport_maps: next hop too long for <%.100s>", addr);
			return -2;
		}
	} else if (tlen > 0) {
		bool bare = strcmp(out->transport, "error") == 0 ||
		    strcmp(out->transport, "discard") == 0 || strcmp(out->transport, "local") == 0;

		str_copy(out->nexthop, bare ? "" : domain, sizeof(out->nexthop));
	}
	return 0;
}
