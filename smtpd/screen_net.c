/*
 * screen_net - addresses and networks of the screen service, and the
 * stored form of a ban.
 *
 * An address is a network of full length (/32, /128). Text forms are
 * canonical (inet_ntop after clearing host bits), so the same network
 * always has the same DB key. IPv4-mapped IPv6 addresses
 * ("::ffff:192.0.2.1") are taken as the IPv4 address, so a client is
 * counted and banned the same way whichever socket it came through.
 *
 * A ban's value: "since until logged\treason" (decimal times, logged 0
 * or 1, the reason without tabs or newlines). A value that does not
 * parse is -1: the caller drops the record.
 */
#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "base/str.h"
#include "screen.h"

/* screen_net_mask - clear the host bits after len */
static void screen_net_mask(struct screen_net *n)
{
	int bytes = n->family == AF_INET ? 4 : 16;

	for (int i = 0; i < bytes; i++) {
		int keep = n->len - i * 8;

		if (keep >= 8)
			continue;
		n->a[i] &= keep <= 0 ? 0 : (unsigned char) (0xff << (8 - keep));
	}
}

/* screen_net_parse - "addr" or "addr/len" */
int screen_net_parse(const char *text, struct screen_net *n)
{
	char buf[SCREEN_NET_TEXT];
	char *slash;
	long long len = -1;

	memset(n, 0, sizeof(*n));
	if (str_copy(buf, text, sizeof(buf)) < 0)
		return -1;
	if ((slash = strchr(buf, '/')) != NULL) {
		*slash = '\0';
		if (str_to_ll(slash + 1, 0, 128, &len) < 0)
			return -1;
	}
	if (inet_pton(AF_INET, buf, n->a) == 1) {
		n->family = AF_INET;
		n->len = 32;
	} else if (inet_pton(AF_INET6, buf, n->a) == 1) {
		static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

		n->family = AF_INET6;
		n->len = 128;
		if (memcmp(n->a, mapped, sizeof(mapped)) == 0) {
			memmove(n->a, n->a + 12, 4);
			memset(n->a + 4, 0, 12);
			n->family = AF_INET;
			n->len = 32;
			if (len >= 96)
				len -= 96;
			else if (len >= 0)
				return -1;
		}
	} else {
		return -1;
	}
	if (len > n->len)
		return -1;
	if (len >= 0)
		n->len = (int) len;
	screen_net_mask(n);
	return 0;
}

/* screen_net_text - canonical text */
void screen_net_text(const struct screen_net *n, char out[SCREEN_NET_TEXT])
{
	char addr[INET6_ADDRSTRLEN];
	int full = n->family == AF_INET ? 32 : 128;

	if (inet_ntop(n->family, n->a, addr, sizeof(addr)) == NULL)
		str_copy(addr, "?", sizeof(addr));
	if (n->len == full)
		str_copy(out, addr, SCREEN_NET_TEXT);
	else
		str_fmt(out, SCREEN_NET_TEXT, "%s/%d", addr, n->len);
}

/* screen_net_wide - the /24 or /64 around addr */
struct screen_net screen_net_wide(const struct screen_net *addr)
{
	struct screen_net n = *addr;

	n.len = n.family == AF_INET ? 24 : 64;
	screen_net_mask(&n);
	return n;
}

/* screen_net_contains - net holds addr */
bool screen_net_contains(const struct screen_net *net, const struct screen_net *addr)
{
	struct screen_net a = *addr;

	if (net->family != addr->family || net->len > addr->len)
		return false;
	a.len = net->len;
	screen_net_mask(&a);
	return memcmp(a.a, net->a, sizeof(a.a)) == 0;
}

/* screen_ban_encode - "since until logged\treason" */
int screen_ban_encode(const struct screen_ban *b, char *out, size_t outlen)
{
	return str_fmt(out, outlen, "%" PRId64 " %" PRId64 " %d\t%s", b->since, b->until,
		       b->logged ? 1 : 0, b->reason);
}

/* screen_ban_decode - the stored value back into b (net is the key's network) */
int screen_ban_decode(const char *net, const char *value, struct screen_ban *b)
{
	long long since, until;
	int logged, used = 0;
	const char *tab = strchr(value, '\t');

	memset(b, 0, sizeof(*b));
	if (screen_net_parse(net, &b->net) < 0 || tab == NULL)
		return -1;
	if (sscanf(value, "%lld %lld %d%n", &since, &until, &logged, &used) != 3 || value + used != tab)
		return -1;
	b->since = since;
	b->until = until;
	b->logged = logged != 0;
	screen_net_text(&b->net, b->text);
	str_copy(b->reason, tab + 1, sizeof(b->reason));
	return 0;
}
