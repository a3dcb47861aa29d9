/*
 * test_resolve - routing of recipient addresses (lib/mail/resolve.c),
 * table-driven: mydestination, localhost forms, virtual domains (list
 * and table), transport_maps by address, domain and parent domain,
 * relayhost, and refused transport names.
 */
#include <stdio.h>
#include <string.h>

#include "mail/resolve.h"
#include "tap.h"

static const struct {
	const char *addr;
	int rc;
	const char *transport, *nexthop;
} cases[] = {
	{"u@mx.example", 0, "local", ""},
	{"u@MX.Example.", 0, "local", ""},
	{"u@localhost", 0, "local", ""},
	{"user", 0, "local", ""},
	{"u@virt.example", 0, "virtual", "virt.example"},
	{"u@vtab.example", 0, "virtual", "vtab.example"},
	{"u@other.example", 0, "smtp", "[relay.example]:587"},
	{"u@drop.test", 0, "discard", "gone"},
	{"u@sub.err.test", 0, "error", "5.1.1 no such user"},
	{"special@mx.example", 0, "smtp", "[10.0.0.1]"},
	{"u@keep.test", 0, "local", ""},
	{"u@nexthop.test", 0, "smtp", "[hop.example]"},
	{"u@bad.test", -2, NULL, NULL},
	{"u@dots.test", -2, NULL, NULL},
};

int main(void)
{
	const char *mydest[] = {"mx.example", NULL};
	const char *virt[] = {"virt.example", "inline:{vtab.example=yes}", NULL};
	const char *maps[] = {"inline:{drop.test=discard:gone, special@mx.example=smtp:[10.0.0.1],"
			      " keep.test=local, nexthop.test=:[hop.example], bad.test=Bad:x,"
			      " dots.test=../x:}",
			      "inline:{.err.test={error:5.1.1 no such user}}", NULL};
	char err[256];
	struct resolve *r = resolve_new(mydest, virt, maps, "[relay.example]:587", err, sizeof(err));

	if (!ok(r != NULL, "resolve_new"))
		diag("%s", err);
	for (size_t i = 0; r && i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct resolve_result rr;
		char name[128];
		int rc = resolve_addr(r, cases[i].addr, &rr, err, sizeof(err));

		snprintf(name, sizeof(name), "%s: result", cases[i].addr);
		is_int(rc, cases[i].rc, name);
		if (rc == 0 && cases[i].rc == 0) {
			snprintf(name, sizeof(name), "%s: transport", cases[i].addr);
			is_str(rr.transport, cases[i].transport, name);
			snprintf(name, sizeof(name), "%s: nexthop", cases[i].addr);
			is_str(rr.nexthop, cases[i].nexthop, name);
		}
	}
	ok(resolve_transport_ok("smtp") && !resolve_transport_ok("../x") && !resolve_transport_ok(""),
	   "transport names are checked");
	resolve_free(r);
	return tap_done();
}
