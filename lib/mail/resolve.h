/*
 * resolve - where a recipient goes: the (transport, nexthop) pair that
 * qmgr groups recipients by and hands to private/<transport>.
 *
 * Order, first match wins:
 *   1. transport_maps: looked up with the whole address (lower case),
 *      then its domain, then each parent domain with a leading dot
 *      (".example.com"). A value "transport:nexthop" overrides; an empty
 *      transport or nexthop keeps the default of steps 2-4 (Postfix's
 *      transport(5) rules). "error:text" and "discard:text" carry their
 *      text as the nexthop.
 *   2. a domain in mydestination, "localhost" or "localhost.localdomain",
 *      or no domain at all: transport "local", nexthop "".
 *   3. a domain in virtual_mailbox_domains: "virtual", nexthop = domain.
 *   4. anything else: "smtp", nexthop = relayhost when set, else the
 *      domain.
 * List entries of mydestination and virtual_mailbox_domains that look like
 * "type:name" are tables keyed by the domain; any value matches.
 *
 * Transport names are checked ([a-z0-9_-], 1..RESOLVE_TRANSPORT_MAX), so a
 * table entry can never name a socket outside private/. Nothing is cut: a
 * nexthop longer than RESOLVE_NEXTHOP_MAX is an error.
 *
 * Failures: resolve_new returns NULL when a table cannot be opened;
 * resolve_addr returns -1 for temporary lookup trouble (defer the
 * recipient) and -2 for a bad table entry (also deferred: the
 * administrator must fix the table), each with a reason.
 */
#ifndef TERN_MAIL_RESOLVE_H
#define TERN_MAIL_RESOLVE_H

#include <stddef.h>

#define RESOLVE_TRANSPORT_MAX	32
#define RESOLVE_NEXTHOP_MAX	1024

struct resolve;

/* resolve_result - where one recipient goes */
struct resolve_result {
	char transport[RESOLVE_TRANSPORT_MAX + 1];
	char nexthop[RESOLVE_NEXTHOP_MAX + 1];
};

/*
 * resolve_new - a resolver over the given NULL-terminated lists (any may
 * be NULL: empty) and relayhost (NULL or "": none). NULL with err when a
 * table cannot be opened.
 */
struct resolve *resolve_new(const char *const *mydestination, const char *const *virtual_domains,
			    const char *const *transport_maps, const char *relayhost,
			    char *err, size_t errlen);
/* resolve_addr - route addr: 0, or -1 temporary error / -2 bad table entry, with err */
int resolve_addr(struct resolve *r, const char *addr, struct resolve_result *out,
		 char *err, size_t errlen);
/* resolve_transport_ok - a valid transport name */
int resolve_transport_ok(const char *name);
void resolve_free(struct resolve *r);

#endif
