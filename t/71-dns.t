#!/usr/bin/python3
"""71-dns - lib/mail/dns.c through t/dns/tern-dnsq against the test world
(t/lib/world.py: NSD with DNSSEC-signed zones, libunbound configured by
dns_resolver_config = w.unbound_conf).

Covers: secure MX of example.test (10 mx1, 20 mx2, any order), A, AAAA,
NODATA (secure denial), NXDOMAIN (secure denial), secure TLSA equal to the
world's certificate hashes, TXT joined from several strings, an insecure
zone, a bogus zone (TEMPFAIL + bogus, with libunbound's reason, no data),
a null MX, a CNAME across zones (canonical name), PTR of 127.0.0.10, 20
lookups at once through dns_query + dns_wait (-a) and through the libevent
loop (-e), lookups after chroot to an empty directory and the drop to
nobody (-j: dns_new must have read every file before), a name outside the
world failing with SERVFAIL (the world stubs "."), dns_timeout ("timed
out" from a resolver that never answers), forward mode with a missing
trust anchor (a warning, answers insecure), and bad dns_ parameters
rejected by "ternctl check" and by dns_new, each naming the parameter.
"""
import os
import socket
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (SRC, Instance, diag, done, is_, like, ok, prog, run,  # noqa: E402
                       skip_all)
from world import World  # noqa: E402

usable, why = World.usable()
if not usable:
    skip_all(why)

DNSQ = prog("tern-dnsq")
TMP = os.path.join(SRC, "t", "tmp")


def dnsq(conf_dir, qtype, *names, opts=()):
    """dnsq - run tern-dnsq; returns (exit code, {name: fields}, stderr, lines)."""
    env = None
    if "-j" in opts:
        # LeakSanitizer (make check-asan) needs /proc at exit, which the chroot hides
        env = dict(os.environ)
        env["ASAN_OPTIONS"] = ":".join(x for x in (env.get("ASAN_OPTIONS"), "detect_leaks=0") if x)
    r = run([DNSQ, "-c", conf_dir] + list(opts) + [qtype] + list(names), timeout=60, env=env)
    answers = {}
    lines = [line for line in r.stdout.split("\n") if line]
    for line in lines:
        f = line.split("\t")
        if len(f) >= 6:
            answers[f[0]] = {"type": f[1], "status": f[2], "security": f[3], "why": f[4],
                             "canon": f[5], "rr": f[6:]}
    if r.returncode != 0:
        diag("tern-dnsq %s %s: exit %d: %s" % (qtype, " ".join(names), r.returncode, r.stderr))
    return r.returncode, answers, r.stderr, lines


def one(conf_dir, qtype, name, opts=()):
    """one - the answer for one name (a dict, empty when there was none)."""
    _, answers, _, _ = dnsq(conf_dir, qtype, name, opts=opts)
    a = answers.get(name.rstrip("."), {}) if len(answers) != 1 else list(answers.values())[0]
    if not a:
        diag("no answer line for %s %s" % (qtype, name))
    return a


def verdict(a):
    """verdict - (status, security) of an answer."""
    return (a.get("status"), a.get("security"))


w = World()
w.standard()
w.zone("nullmx.test", ["@ MX 0 .", "@ A 127.0.0.20"])
w.zone("alias.test", ["www CNAME mx1.example.test.", "v6 AAAA 2001:db8::25", "v6 A 127.0.0.25",
                      'multi TXT "part one; " "part two"'])
# outside test. (libunbound's built-in local zone without dns_resolver_config): its own anchor
w.zone("lazy.example", ["@ MX 10 mx", "mx A 127.0.0.30"])
w.start_dns()

inst = Instance()
inst.conf("dns_resolver_config", w.unbound_conf)
C = inst.dir

# --- answers and verdicts ---------------------------------------------------
a = one(C, "MX", "example.test")
is_(verdict(a), ("ok", "secure"), "MX example.test: ok, secure")
is_(sorted(a.get("rr", [])), ["10 mx1.example.test", "20 mx2.example.test"],
    "MX example.test: 10 mx1 and 20 mx2")

a = one(C, "A", "mx1.example.test")
is_((verdict(a), a.get("rr")), (("ok", "secure"), ["127.0.0.2"]), "A mx1.example.test: 127.0.0.2, secure")
a = one(C, "AAAA", "v6.alias.test")
is_((verdict(a), a.get("rr")), (("ok", "secure"), ["2001:db8::25"]), "AAAA v6.alias.test, secure")
a = one(C, "AAAA", "mx1.example.test")
is_((verdict(a), a.get("rr")), (("nodata", "secure"), []), "AAAA mx1.example.test: NODATA, secure denial")
a = one(C, "A", "nosuch.example.test")
is_(verdict(a), ("nxdomain", "secure"), "A nosuch.example.test: NXDOMAIN, secure denial")

a = one(C, "TLSA", "_25._tcp.mx1.example.test")
is_((verdict(a), a.get("rr")), (("ok", "secure"), ["3 1 1 " + w.tlsa311("mx1.example.test")]),
    "TLSA of mx1: 3 1 1 with the certificate's key hash, secure")
a = one(C, "TLSA", "_25._tcp.mx2.example.test")
is_((verdict(a), a.get("rr")), (("ok", "secure"), ["2 0 1 " + w.tlsa201("ca")]),
    "TLSA of mx2: 2 0 1 with the CA's hash, secure")

a = one(C, "TXT", "_mta-sts.example.test")
is_((verdict(a), a.get("rr")), (("ok", "secure"), ["v=STSv1; id=20240101T000000;"]),
    "TXT _mta-sts.example.test, secure")
a = one(C, "TXT", "multi.alias.test")
is_(a.get("rr"), ["part one; part two"], "TXT of two strings joined into one record")

a = one(C, "MX", "insecure.test")
is_((verdict(a), a.get("rr")), (("ok", "insecure"), ["10 mx.insecure.test"]),
    "MX insecure.test: data, insecure")
a = one(C, "TLSA", "_25._tcp.mx.insecure.test")
is_(verdict(a), ("ok", "insecure"), "TLSA in the unsigned zone is insecure")

for qtype, name in (("MX", "bogus.test"), ("A", "mx.bogus.test"), ("TLSA", "_25._tcp.mx.bogus.test")):
    a = one(C, qtype, name)
    is_((verdict(a), a.get("rr")), (("tempfail", "bogus"), []), "%s %s: TEMPFAIL, bogus, no data" % (qtype, name))
    like(a.get("why"), "DNSSEC validation of %s %s failed" % (name, qtype), "%s %s: why says so" % (qtype, name))
ok("signature" in one(C, "MX", "bogus.test").get("why", ""), "bogus why carries libunbound's reason")

a = one(C, "MX", "nullmx.test")
is_((verdict(a), a.get("rr")), (("ok", "secure"), ["0 ."]), "null MX: preference 0, host \"\" (printed .)")

a = one(C, "A", "www.alias.test")
is_((verdict(a), a.get("rr"), a.get("canon")), (("ok", "secure"), ["127.0.0.2"], "mx1.example.test"),
    "CNAME to another zone: the target's A, canon = mx1.example.test, secure")

_, answers, _, _ = dnsq(C, "PTR", "127.0.0.10")
is_(list(answers), ["10.0.0.127.in-addr.arpa"], "PTR of an address asks for its in-addr.arpa name")
a = answers.get("10.0.0.127.in-addr.arpa", {})
is_((a.get("status"), a.get("rr")), ("ok", ["client-jp.example.test"]), "PTR of 127.0.0.10")
is_(a.get("security"), "insecure", "the reverse zone is unsigned: insecure")

a = one(C, "MX", "example.com")
is_(verdict(a), ("tempfail", "insecure"), "a name outside the world: TEMPFAIL")
like(a.get("why"), "SERVFAIL", "outside the world: SERVFAIL from the stub for '.', not a timeout")

# --- many at once -----------------------------------------------------------
names = ["mx1.example.test", "mx2.example.test", "mta-sts.example.test", "example.test",
         "client-jp.example.test", "client-us.example.test", "mx.example2.test", "mta-sts.example2.test",
         "mx.insecure.test", "mx.bogus.test", "nullmx.test", "v6.alias.test", "www.alias.test"] + \
        ["nosuch%d.example.test" % i for i in range(7)]
want = {"mx1.example.test": ("ok", "secure", ["127.0.0.2"]), "mx2.example.test": ("ok", "secure", ["127.0.0.3"]),
        "mta-sts.example.test": ("ok", "secure", ["127.0.0.4"]), "example.test": ("ok", "secure", ["127.0.0.5"]),
        "client-jp.example.test": ("ok", "secure", ["127.0.0.10"]),
        "client-us.example.test": ("ok", "secure", ["127.0.0.11"]),
        "mx.example2.test": ("ok", "secure", ["127.0.0.6"]), "mta-sts.example2.test": ("ok", "secure", ["127.0.0.4"]),
        "mx.insecure.test": ("ok", "insecure", ["127.0.0.7"]), "mx.bogus.test": ("tempfail", "bogus", []),
        "nullmx.test": ("ok", "secure", ["127.0.0.20"]), "v6.alias.test": ("ok", "secure", ["127.0.0.25"]),
        "www.alias.test": ("ok", "secure", ["127.0.0.2"])}
for i in range(7):
    want["nosuch%d.example.test" % i] = ("nxdomain", "secure", [])
is_(len(names), 20, "20 names for the parallel run")
for mode in ("-a", "-e"):
    rc, answers, err, lines = dnsq(C, "A", *names, opts=[mode])
    is_(rc, 0, "%s: 20 lookups at once: exit 0" % mode)
    is_(len(lines), 20, "%s: one line per lookup" % mode)
    got = {n: (v["status"], v["security"], v["rr"]) for n, v in answers.items()}
    bad = [n for n in names if got.get(n) != want[n]]
    ok(not bad, "%s: every answer right" % mode)
    for n in bad:
        diag("%s: got %r, want %r" % (n, got.get(n), want[n]))

# --- after chroot and privilege drop ---------------------------------------
jail = tempfile.mkdtemp(prefix="dns-jail-", dir=TMP)
os.chmod(jail, 0o755)
rc, answers, err, _ = dnsq(C, "MX", "example.test", "bogus.test", opts=["-j", jail])
a = answers.get("example.test", {})
is_((rc, verdict(a), sorted(a.get("rr", []))),
    (0, ("ok", "secure"), ["10 mx1.example.test", "20 mx2.example.test"]),
    "-j: MX example.test still secure inside an empty chroot as nobody")
is_(verdict(answers.get("bogus.test", {})), ("tempfail", "bogus"), "-j: validation still works in the chroot")
rc, answers, err, _ = dnsq(C, "TLSA", "_25._tcp.mx1.example.test", "_25._tcp.mx2.example.test",
                           opts=["-a", "-j", jail])
ok(rc == 0 and all(verdict(v) == ("ok", "secure") for v in answers.values()) and len(answers) == 2,
   "-j -a: asynchronous lookups (resolver thread started in the chroot) are secure")
os.rmdir(jail)

# --- dns_timeout -------------------------------------------------------------
silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)   # takes queries, never answers
silent.bind(("127.0.0.1", 0))
silent_tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
silent_tcp.bind(("127.0.0.1", silent.getsockname()[1]))
silent_tcp.listen(16)                                       # accepts, never answers
tdir = tempfile.mkdtemp(prefix="dns-timeout-", dir=TMP)
with open(os.path.join(tdir, "unbound.conf"), "w") as f:
    f.write("server:\n    do-not-query-localhost: no\n    local-zone: \"test.\" nodefault\n"
            "stub-zone:\n    name: \".\"\n    stub-addr: 127.0.0.1@%d\n" % silent.getsockname()[1])
with open(os.path.join(tdir, "tern.conf"), "w") as f:
    f.write("dns_resolver_config = %s/unbound.conf\ndns_timeout = 1s\n" % tdir)
a = one(tdir, "A", "mx1.example.test")
is_(verdict(a), ("tempfail", "insecure"), "a resolver that never answers: TEMPFAIL")
like(a.get("why"), "timed out after 1s", "dns_lookup: why says timed out")
rc, answers, err, lines = dnsq(tdir, "MX", "a.test", "b.test", "c.test", opts=["-a"])
ok(rc == 0 and len(lines) == 3 and all("timed out" in v["why"] for v in answers.values()),
   "dns_query + dns_wait: every pending lookup answered 'timed out'")
rc, answers, err, lines = dnsq(tdir, "MX", "a.test", "b.test", opts=["-e"])
ok(rc == 0 and len(lines) == 2 and all("timed out" in v["why"] for v in answers.values()),
   "event loop: the deadline timer answers 'timed out'")
silent.close()
silent_tcp.close()

# --- forward mode, missing trust anchor --------------------------------------
with open(os.path.join(tdir, "tern.conf"), "w") as f:
    f.write("dns_resolver_mode = forward\ndns_forwarders = 127.0.0.1@%d\n"
            "dns_trust_anchor_file = %s/no-such-root.key\n" % (w.dns_port, tdir))
rc, answers, err, _ = dnsq(tdir, "A", "example.com")
like(err, "DNSSEC validation is off", "missing trust anchor: a warning")
is_(verdict(answers.get("example.com", {})), ("tempfail", "insecure"),
    "forward mode: the query went to the forwarder (NSD refuses it: TEMPFAIL)")

# --- context made at the first lookup, inside the chroot ---------------------
# without dns_resolver_config dns_new only reads the forwarders and the trust
# anchor file; the first lookup makes the libunbound context, here in an
# empty chroot as nobody: validation must work as with a context made before
with open(os.path.join(tdir, "tern.conf"), "w") as f:
    f.write("dns_resolver_mode = forward\ndns_forwarders = 127.0.0.1@%d\n"
            "dns_trust_anchor_file = %s\n" % (w.dns_port, w.ta_file))
jail = tempfile.mkdtemp(prefix="dns-jail-", dir=TMP)
os.chmod(jail, 0o755)
rc, answers, err, _ = dnsq(tdir, "MX", "lazy.example", opts=["-j", jail])
a = answers.get("lazy.example", {})
is_((rc, verdict(a), a.get("rr")), (0, ("ok", "secure"), ["10 mx.lazy.example"]),
    "context made after the chroot: MX lazy.example secure (trust anchor read before)")
os.rmdir(jail)
with open(os.path.join(tdir, "bad.key"), "w") as f:
    f.write("test. IN DS not-a-key-tag\n")
with open(os.path.join(tdir, "tern.conf"), "a") as f:
    f.write("dns_trust_anchor_file = %s/bad.key\n" % tdir)
rc, answers, err, _ = dnsq(tdir, "A", "mx1.example.test")
a = answers.get("mx1.example.test", {})
ok(verdict(a) == ("tempfail", "insecure") and "dns_trust_anchor_file" in a.get("why", ""),
   "an anchor record libunbound refuses: the lookup fails, naming dns_trust_anchor_file")
os.unlink(os.path.join(tdir, "bad.key"))

# --- bad parameters ----------------------------------------------------------
with open(os.path.join(tdir, "tern.conf"), "w") as f:
    f.write("dns_resolver_mode = bogus-mode\n")
r = run([DNSQ, "-c", tdir, "A", "example.test"])
ok(r.returncode != 0 and "dns_resolver_mode" in r.stderr and "recursive" in r.stderr,
   "dns_new refuses an unknown dns_resolver_mode and says what is allowed")
diag(r.stderr.strip())
with open(os.path.join(tdir, "tern.conf"), "w") as f:
    f.write("dns_resolver_config = %s/missing.conf\n" % tdir)
r = run([DNSQ, "-c", tdir, "A", "example.test"])
ok(r.returncode != 0 and "dns_resolver_config" in r.stderr and "missing.conf" in r.stderr,
   "dns_new refuses a missing dns_resolver_config, naming it")

r = inst.ctl("check")
is_(r.returncode, 0, "ternctl check: the instance with dns_resolver_config is fine")
if r.returncode != 0:
    diag(r.stdout + r.stderr)
inst.conf("dns_resolver_config", "")
inst.conf("dns_resolver_mode", "sideways")
r = inst.ctl("check")
ok(r.returncode == 78 and "dns_resolver_mode: 'sideways' is not a resolver mode" in r.stderr
   and "tern.conf:" in r.stderr, "ternctl check: unknown dns_resolver_mode reported with file and line")
diag(r.stderr.strip())
inst.conf("dns_resolver_mode", "forward")
inst.conf("dns_forwarders", "192.0.2.1, 192.0.2.300@53, 192.0.2.2@99999")
r = inst.ctl("check")
ok(r.returncode == 78 and "'192.0.2.300@53' is not an IP address" in r.stderr
   and "'192.0.2.2@99999'" in r.stderr and "192.0.2.1'" not in r.stderr,
   "ternctl check: bad dns_forwarders entries named, good ones not")
inst.conf("dns_forwarders", "")
r = inst.ctl("check")
ok(r.returncode == 78 and "dns_forwarders: empty" in r.stderr, "ternctl check: forward mode without forwarders")

for name in ("tern.conf", "unbound.conf"):
    if os.path.exists(os.path.join(tdir, name)):
        os.unlink(os.path.join(tdir, name))
os.rmdir(tdir)
w.stop()
done()
