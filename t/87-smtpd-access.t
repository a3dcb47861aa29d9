#!/usr/bin/python3
"""87-smtpd-access - host screening with smtpd_client_access (issue 6,
Screening 2) through the real master, smtpd, proxymap and cleanup, on
every port: 25, 587 (before STARTTLS) and 465 (inside TLS).

Tables: a cidr: table by address (REJECT with and without text, a bare
text, "450 text", OK, DUNNO), a pcre: table by the client's name (from
the test world's reverse DNS), and a hash: table with a parent domain and
an IPv4 network prefix ("127.0.1"). smtpd_country_reject = DE with the
test GeoIP database: a client the access table calls OK is exempt.

Checked: each refusal replaces the greeting with its code, 5.7.1/4.7.1
and text and closes the connection, and is logged as a NOQUEUE reject at
CONNECT; OK and DUNNO get the greeting; the name key and the parent
domain key match; the network prefix matches; a client without any entry
is greeted.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import done, is_, like, ok, prog, run, skip_all, wait_for  # noqa: E402
from smtpd_test import SmtpdInstance, enh, greeting  # noqa: E402
from world import World  # noqa: E402

if not os.path.exists(prog("smtpd")) or not os.path.exists(prog("ternmap")):
    skip_all("smtpd or ternmap not built")
usable, why = World.usable(mmdb=True)
if not usable:
    skip_all(why)

w = World()
w.zone("example.test", ["@ A 127.0.0.5", "client-jp A 127.0.0.10", "host A 127.0.0.16"])
w.zone("blocked.test", ["@ A 127.0.0.5", "mail.east A 127.0.0.17"])
w.zone("0.0.127.in-addr.arpa", ["10 PTR client-jp.example.test.", "16 PTR host.example.test.",
                                "17 PTR mail.east.blocked.test."], signed=False)
w.start_dns()
db = w.mmdb()

tables = os.path.join(w.dir, "access")
os.makedirs(tables)
os.chmod(tables, 0o755)
CIDR = os.path.join(tables, "client.cidr")
PCRE = os.path.join(tables, "client.pcre")
HASH = os.path.join(tables, "client")
with open(CIDR, "w") as f:
    f.write("127.0.0.11/32 REJECT\n"
            "127.0.0.12/32 OK\n"
            "127.0.0.13/32 450 Too busy for you today\n"
            "127.0.0.14/32 We do not talk to spam cannons\n"
            "127.0.0.15/32 DUNNO\n"
            "127.0.0.18/32 REJECT Your host is listed here\n")
with open(PCRE, "w") as f:
    f.write("/^client-jp\\.example\\.test$/ REJECT name blocked\n")
with open(HASH, "w") as f:
    f.write("blocked.test REJECT whole domain blocked\n"
            "127.0.1 REJECT network blocked\n")
for p in (CIDR, PCRE, HASH):
    os.chmod(p, 0o644)
r = run([prog("ternmap"), "hash:" + HASH])
is_(r.returncode, 0, "ternmap builds the hash table")
os.chmod(HASH + ".db", 0o644)

inst = SmtpdInstance(
    tern={"geoip_database": db, "dns_resolver_config": w.unbound_conf},
    smtpd={"smtpd_client_access": "cidr:%s, pcre:%s, proxy:hash:%s" % (CIDR, PCRE, HASH),
           "smtpd_country_reject": "DE"})
# the hash: table is read through proxymap, as smtpd.conf(5) advises for a chrooted smtpd
inst.conf("proxy_read_maps", "unix:passwd.byname hash:$config_directory/aliases texthash:$config_directory/aliases "
          "$virtual_mailbox_maps hash:" + HASH, file="qmgr.conf")
r = inst.start()
is_(r.returncode, 0, "instance starts")


PORTS = (("25", inst.smtp, False), ("587", inst.submission, False), ("465", inst.submissions, True))
CASES = [
    ("127.0.0.11", 554, "5.7.1", "Client host rejected: Access denied", "REJECT"),
    ("127.0.0.18", 554, "5.7.1", "Your host is listed here", "REJECT text"),
    ("127.0.0.14", 554, "5.7.1", "We do not talk to spam cannons", "a bare text"),
    ("127.0.0.13", 450, "4.7.1", "Too busy for you today", "450 text"),
    ("127.0.0.10", 554, "5.7.1", "name blocked", "pcre: by the client's name"),
    ("127.0.0.17", 554, "5.7.1", "whole domain blocked", "hash: by a parent domain"),
    ("127.0.1.5", 554, "5.7.1", "network blocked", "hash: by a network prefix"),
]
for label, port, implicit in PORTS:
    for addr, code, status, text, what in CASES:
        got = greeting(port, addr, implicit)
        ok(got[0] == code and enh(got[1]) == status and text in got[1] and got[2],
           "port %s, %s (%s): %d %s, closed" % (label, what, addr, code, status))
        if got[0] != code or text not in got[1]:
            is_(got, (code, "... %s" % text, True), "what came")
    for addr, what in (("127.0.0.12", "OK (and exempt from the DE country refusal)"), ("127.0.0.15", "DUNNO"),
                       ("127.0.0.16", "no entry for name or address")):
        got = greeting(port, addr, implicit)
        is_(got[0], 220, "port %s, %s: greeted" % (label, what))

log = inst.log()
ok(wait_for(lambda: "NOQUEUE: reject: CONNECT from unknown[127.0.0.11]: 554 5.7.1 <unknown[127.0.0.11]>: "
            "Client host rejected: Access denied; from=<> to=<> proto=SMTP helo=<>" in inst.log(), 10),
   "the reject line")
like(inst.log(), "NOQUEUE: reject: CONNECT from mail.east.blocked.test[127.0.0.17]: 554 5.7.1",
     "the reject line names the client by its name")
like(inst.log(), "connect from unknown[127.0.0.12] country=DE", "the OK client is from DE")

inst.stop()

# a plain hash: table is opened before the chroot and read from the open
# handle (under ASan: Berkeley DB's allocations are not leaks, t/lsan.supp)
inst2 = SmtpdInstance(tern={"geoip_database": db, "dns_resolver_config": w.unbound_conf},
                      smtpd={"smtpd_client_access": "hash:%s" % HASH})
r = inst2.start()
is_(r.returncode, 0, "instance with a plain hash: table in the chrooted smtpd starts")
got = greeting(inst2.smtp, "127.0.1.5", False)
ok(got[0] == 554 and "network blocked" in got[1], "plain hash: a network prefix is refused: %r" % (got,))
is_(greeting(inst2.smtp, "127.0.0.16", False)[0], 220, "plain hash: a client without an entry is greeted")
inst2.stop()
done()
