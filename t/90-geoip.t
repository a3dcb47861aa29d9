#!/usr/bin/python3
"""90-geoip - the GeoIP module (lib/mail/geoip.c) on the test world's
GeoLite2-Country-shaped database (t/world/mkmmdb.pl through World.mmdb()),
through the test program t/geoip/tern-geoip.

Checked: 127.0.0.10 JP, .11 US, .12 DE, 127.0.1.0/24 FR, 2001:db8::/32 GB;
"--" for addresses the database does not hold (other loopback, private,
public, IPv6 outside the test net) and for text that is no address; an
IPv4-mapped IPv6 address (::ffff:127.0.0.10) finds the IPv4 record; the
database type; a missing file fails the open with ENOENT, a file that is
not a MaxMind DB fails with the library's reason; geoip_reopen keeps the
old database when the new file is broken and takes the new one when it is
good, in one running process.
"""
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import diag, done, is_, like, ok, prog, run, skip_all  # noqa: E402
from world import World  # noqa: E402

if not os.access(prog("tern-geoip"), os.X_OK):
    skip_all("tern-geoip is not built")
usable, why = World.usable(mmdb=True)
if not usable:
    skip_all(why)

w = World()
db = w.mmdb()

EXPECT = [
    ("127.0.0.10", "JP"), ("127.0.0.11", "US"), ("127.0.0.12", "DE"),
    ("127.0.1.0", "FR"), ("127.0.1.77", "FR"), ("127.0.1.255", "FR"),
    ("2001:db8::1", "GB"), ("2001:db8:ffff::25", "GB"),
    ("::ffff:127.0.0.10", "JP"), ("::ffff:127.0.1.5", "FR"),
    ("127.0.0.13", "--"), ("127.0.0.1", "--"), ("127.0.2.1", "--"),
    ("10.1.2.3", "--"), ("192.168.1.1", "--"), ("198.51.100.7", "--"),
    ("2001:db9::1", "--"), ("::1", "--"), ("not-an-address", "--"),
]

r = run([prog("tern-geoip"), db] + [a for a, _ in EXPECT])
is_(r.returncode, 0, "tern-geoip exits 0")
got = dict(line.split("\t") for line in r.stdout.splitlines() if "\t" in line)
for addr, cc in EXPECT:
    is_(got.get(addr), cc, "%s -> %s" % (addr, cc))

r = run([prog("tern-geoip"), db], input="type\n")
is_(r.stdout.strip(), "type\tGeoLite2-Country", "database type from the metadata")

# --- open failures ---
missing = os.path.join(w.dir, "geoip", "missing.mmdb")
r = run([prog("tern-geoip"), missing, "127.0.0.10"])
ok(r.returncode == 1 and "errno=ENOENT" in r.stderr and missing in r.stderr,
   "missing file: open fails with ENOENT, naming the file")
junk = os.path.join(w.dir, "geoip", "junk.mmdb")
with open(junk, "w") as f:
    f.write("this is not a MaxMind DB\n" * 10)
r = run([prog("tern-geoip"), junk, "127.0.0.10"])
ok(r.returncode == 1 and junk in r.stderr and "errno=ENOENT" not in r.stderr,
   "a file that is not a MaxMind DB: open fails with the reason")
diag(r.stderr.strip())

# --- reopen in one running process ---
live = os.path.join(w.dir, "geoip", "live.mmdb")
shutil.copyfile(db, live)
p = subprocess.Popen([prog("tern-geoip"), live], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                     text=True)


def ask(line):
    p.stdin.write(line + "\n")
    p.stdin.flush()
    return p.stdout.readline().rstrip("\n")


try:
    is_(ask("127.0.0.11"), "127.0.0.11\tUS", "running: US before the reload")
    os.replace(junk, live)
    reply = ask("reopen")
    ok(reply.startswith("reopen\terror\t") and live in reply, "reopen of a broken file fails")
    is_(ask("127.0.0.11"), "127.0.0.11\tUS", "the old database stays in use after a failed reopen")
    os.unlink(live)
    is_(ask("127.0.0.12"), "127.0.0.12\tDE", "lookups work with the file gone (mapped)")
    w.mmdb(live)
    is_(ask("reopen"), "reopen\tok", "reopen of a good file succeeds")
    is_(ask("::ffff:127.0.0.12"), "::ffff:127.0.0.12\tDE", "lookups after the reopen")
finally:
    p.stdin.close()
    p.wait(timeout=30)
is_(p.returncode, 0, "tern-geoip exits 0 at the end of its input")

w.stop()
done()
