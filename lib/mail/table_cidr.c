/*
 * table_cidr - cidr: tables, network blocks to results, as Postfix's
 * cidr_table(5):
 *
 *	192.168.0.0/16		REJECT
 *	2001:db8::/32		OK
 *	192.0.2.1		DUNNO		(a bare address: /32 or /128)
 *	[2001:db8::1]/128	OK		(brackets are allowed)
 *
 * Lines are tried in file order and the first block that holds the key
 * wins. The key is an IP address string; an IPv4-mapped IPv6 key
 * (::ffff:192.0.2.1) is matched as the IPv4 address, and a table entry
 * written that way is stored as IPv4 too. A key that is not an address
 * is not found.
 *
 * Errors fail the open with file:line: an address inet_pton(3) does not
 * take, a prefix out of range, host bits set beyond the prefix (with the
 * network that was probably meant), a line without a result.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/mem.h"
#include "base/str.h"
#include "mail/table.h"

/* table_cidr_entry - one network block */
struct table_cidr_entry {
	int family;			/* AF_INET or AF_INET6 */
	unsigned char addr[16];		/* network address, 4 or 16 bytes used */
	int bits;			/* prefix length */
	char *value;
};

/* table_cidr - the blocks in file order */
struct table_cidr {
	struct table t;
	struct table_cidr_entry *entries;
	size_t count;
};

static const unsigned char table_cidr_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* table_cidr_parse_addr - text to family and bytes (mapped IPv6 becomes IPv4); -1 bad */
static int table_cidr_parse_addr(const char *text, int *family, unsigned char *addr)
{
	if (inet_pton(AF_INET, text, addr) == 1) {
		*family = AF_INET;
		return 0;
	}
	if (inet_pton(AF_INET6, text, addr) == 1) {
		*family = AF_INET6;
		if (memcmp(addr, table_cidr_mapped, sizeof(table_cidr_mapped)) == 0) {
			memmove(addr, addr + 12, 4);
			*family = AF_INET;
			return 1;		/* was mapped: a prefix loses 96 bits */
		}
		return 0;
	}
	return -1;
}

/* table_cidr_in - do the first bits of a and b agree */
static bool table_cidr_in(const unsigned char *a, const unsigned char *b, int bits)
{
	int whole = bits / 8, rest = bits % 8;

	if (memcmp(a, b, (size_t) whole) != 0)
		return false;
	if (rest == 0)
		return true;
	return ((a[whole] ^ b[whole]) & (0xff << (8 - rest))) == 0;
}

/* table_cidr_host_bits - clear bits past the prefix; true when any was set */
static bool table_cidr_host_bits(unsigned char *addr, int len, int bits)
{
	bool set = false;

	for (int i = 0; i < len; i++) {
		int keep = bits >= (i + 1) * 8 ? 8 : (bits > i * 8 ? bits - i * 8 : 0);
		unsigned char mask = (unsigned char) (keep == 0 ? 0 : 0xff << (8 - keep));

		if (addr[i] & ~mask)
			set = true;
		addr[i] &= mask;
	}
	return set;
}

/* table_cidr_line - parse "network[/prefix] result" into e; -1 with err */
static int table_cidr_line(struct table_reader *r, struct table_cidr_entry *e,
			   char *err, size_t errlen)
{
	char *net = r->line.data, *value, *slash, *addr;
	char shown[INET6_ADDRSTRLEN];
	long long bits;
	int max, mapped;

	value = net + strcspn(net, " \t\r\v\f");
	if (*value == '\0') {
		str_fmt(err, errlen, "%s:%d: '%.100s' has no result (expected \"network/prefix "
			"result\")", r->path, r->start, net);
		return -1;
	}
	*value++ = '\0';
	value += strspn(value, " \t\r\v\f");
	addr = net;
	slash = strchr(net, '/');
	if (slash)
		*slash = '\0';
	if (addr[0] == '[' && addr[strlen(addr) - 1] == ']') {
		addr[strlen(addr) - 1] = '\0';
		addr++;
	}
	mapped = table_cidr_parse_addr(addr, &e->family, e->addr);
	if (mapped < 0) {
		str_fmt(err, errlen, "%s:%d: '%.100s' is not an IPv4 or IPv6 address",
			r->path, r->start, addr);
		return -1;
	}
	max = e->family == AF_INET ? 32 : 128;
	bits = max;
	if (slash && str_to_ll(slash + 1, mapped ? 96 : 0, mapped ? 128 : max, &bits) < 0) {
		str_fmt(err, errlen, "%s:%d: bad prefix length '/%.20s' (0 to %d)", r->path,
			r->start, slash + 1, mapped ? 128 : max);
		return -1;
	}
	if (slash && mapped)
		bits -= 96;
	e->bits = (int) bits;
	if (table_cidr_host_bits(e->addr, max / 8, e->bits)) {
		inet_ntop(e->family, e->addr, shown, sizeof(shown));
		str_fmt(err, errlen, "%s:%d: non-null host address bits in '%.100s/%d', perhaps "
			"you should use '%s/%d' instead", r->path, r->start, addr,
			mapped ? e->bits + 96 : e->bits, shown, e->bits);
		return -1;
	}
	e->value = xstrdup(value);
	return 0;
}

/* table_cidr_lookup - the first block that holds the address */
static int table_cidr_lookup(struct table *t, const char *key, const char **value,
			     char *err, size_t errlen)
{
	struct table_cidr *tc = (struct table_cidr *) t;
	unsigned char addr[16];
	int family;

	(void) err;
	(void) errlen;
	if (table_cidr_parse_addr(key, &family, addr) < 0)
		return 0;
	for (size_t i = 0; i < tc->count; i++) {
		const struct table_cidr_entry *e = &tc->entries[i];

		if (e->family == family && table_cidr_in(e->addr, addr, e->bits)) {
			*value = e->value;
			return 1;
		}
	}
	return 0;
}

/* table_cidr_close - free the blocks */
static void table_cidr_close(struct table *t)
{
	struct table_cidr *tc = (struct table_cidr *) t;

	for (size_t i = 0; i < tc->count; i++)
		free(tc->entries[i].value);
	free(tc->entries);
	free(tc);
}

/* table_cidr_open - read the whole file */
struct table *table_cidr_open(const char *type, const char *name, int flags,
			      char *err, size_t errlen)
{
	struct table_reader r;
	struct table_cidr *tc;
	int rc, saved;

	(void) flags;
	if (*name == '\0') {
		str_fmt(err, errlen, "%s: missing file name (%s:/path/name)", type, type);
		errno = EINVAL;
		return NULL;
	}
	if (table_reader_open(&r, name, err, errlen) < 0)
		return NULL;
	tc = xcalloc(1, sizeof(*tc));
	tc->t.lookup = table_cidr_lookup;
	tc->t.close = table_cidr_close;
	while ((rc = table_reader_next(&r, err, errlen)) > 0) {
		struct table_cidr_entry e;

		memset(&e, 0, sizeof(e));
		if (table_cidr_line(&r, &e, err, errlen) < 0) {
			errno = EINVAL;
			rc = -1;
			break;
		}
		tc->entries = xreallocarray(tc->entries, tc->count + 1, sizeof(e));
		tc->entries[tc->count++] = e;
	}
	saved = errno;
	table_reader_close(&r);
	if (rc < 0) {
		table_cidr_close(&tc->t);
		errno = saved;
		return NULL;
	}
	return &tc->t;
}
