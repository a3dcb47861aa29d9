#!/usr/bin/python3
"""77-sts - the MTA-STS policy service sts(8) in a private instance, against
the test world (DNSSEC DNS, test CA, HTTPS policy server on 127.0.0.4:443):
fetch and parse, cache hits without HTTPS, TXT id change -> refetch, no TXT,
fetch failures with their RFC 8460 types (404, redirect, wrong Content-Type,
oversize, certificate name, wrong CA, invalid policy), a failed refetch keeping the cached
policy, the retry throttle, purge and show, and the cache surviving a restart.
Requests go through `ternctl sts` and straight over private/sts (tern_ipc).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, IS_ROOT, diag, done, is_, like, ok, prog, skip_all  # noqa: E402
import tern_ipc  # noqa: E402
from world import World  # noqa: E402

if not IS_ROOT:
    skip_all("the policy server needs root (127.0.0.4:443)")
usable, why = World.usable()
if not usable:
    skip_all(why)
if not os.path.exists(prog("sts")):
    skip_all("sts not built")

POLICY2 = "version: STSv1\nmode: testing\nmx: mx.example2.test\nmax_age: 604800\n"
GONE = "version: STSv1\nmode: enforce\nmx: mx.gone.test\nmax_age: 86400\n"


def sts_zone(name, txt_id, extra=()):
    """A signed zone with mta-sts A 127.0.0.4 and, when txt_id, the _mta-sts TXT."""
    records = ["@ MX 10 mx", "mx A 127.0.0.6", "mta-sts A 127.0.0.4"] + list(extra)
    if txt_id:
        records.append('_mta-sts TXT "v=STSv1; id=%s;"' % txt_id)
    w.zone(name, records)


w = World()
w.standard()
sts_zone("notxt.test", None)
for d in ("nf", "redir", "html", "big", "badcert", "badpol", "gone", "twotxt"):
    sts_zone(d + ".test", "1", ['_mta-sts TXT "v=STSv1; id=2;"'] if d == "twotxt" else [])
w.sts_policy("nf.test", None)                                   # 404
w.sts_policy("redir.test", POLICY2, status=301,
             headers={"Location": "https://mta-sts.example2.test/.well-known/mta-sts.txt"})
w.sts_policy("html.test", POLICY2, content_type="text/html")
w.sts_policy("big.test", "version: STSv1\n" + ("x_pad: " + "y" * 900 + "\n") * 80)
w.sts_policy("badpol.test", "version: STSv1\nmode: reject\nmx: mx.badpol.test\nmax_age: 86400\n")
w.sts_policy("gone.test", GONE)
w.sts_policy("twotxt.test", POLICY2)
# badcert.test: no policy registered, so the server's certificate does not name mta-sts.badcert.test
w.start_dns()
w.sts_server("127.0.0.4", 443)

# the world's resolver configuration, with nothing cached across lookups:
# the test changes TXT records and wants the next lookup to see them
with open(w.unbound_conf) as f:
    ub = f.read()
inst = Instance()
ub_path = inst.path("unbound-nocache.conf")
with open(ub_path, "w") as f:
    f.write(ub.replace("server:", "server:\n    cache-max-ttl: 0\n    cache-max-negative-ttl: 0", 1))
inst.conf("dns_resolver_config", ub_path)
inst.conf("sts_ca_file", w.ca_file, file="delivery.conf")
inst.conf("sts_txt_check_interval", "0", file="delivery.conf")
inst.conf("sts_fetch_timeout", "10s", file="delivery.conf")
r = inst.start()
ok(r.returncode == 0, "instance starts")
sock = inst.path("queue", "private", "sts")


def ask(op, domain):
    """One request over private/sts: the reply as a dict (mx as a list)."""
    c = tern_ipc.Conn(sock, timeout=60)
    try:
        c.send([("op", op), ("domain", domain)])
        reply = c.recv()
    finally:
        c.close()
    out = {"mx": []}
    for k, v in reply or []:
        if k == "mx":
            out["mx"].append(v)
        else:
            out[k] = v
    return out


def sts(*args):
    return inst.ctl("sts", *args, timeout=90)


# fetch + parse
r = sts("fetch", "example.test")
is_(r.returncode, 0, "ternctl sts fetch example.test: exit 0")
like(r.stdout, "mode: enforce", "fetched policy: mode enforce")
like(r.stdout, "mx: mx1.example.test\nmx: *.example.test\n", "fetched policy: both mx lines, in order")
like(r.stdout, "max_age: 86400", "fetched policy: max_age")
like(r.stdout, "id: 20240101T000000", "fetched policy: the TXT id")
like(r.stdout, "from_cache: no", "first answer was fetched")
is_(w.sts_requests("example.test"), 1, "one HTTPS request so far")

# second GET from the cache
a = ask("get", "example.test")
is_(a.get("status"), "policy", "GET example.test: policy")
is_(a.get("from_cache"), 1, "GET example.test: from the cache")
is_(a.get("mode"), "enforce", "GET example.test: mode")
is_(a["mx"], ["mx1.example.test", "*.example.test"], "GET example.test: mx patterns")
is_(a.get("expires", 0) - a.get("fetched", 0), 86400, "expires = fetched + max_age")
is_(w.sts_requests("example.test"), 1, "no new HTTPS request for a cache hit")

r = sts("show", "example.test")
is_(r.returncode, 0, "ternctl sts show example.test: exit 0")
like(r.stdout, "mx: *.example.test", "show prints the cached mx lines")
like(r.stdout, "expires: ", "show prints the expiry")

# no TXT record -> none; two STS records -> none
a = ask("get", "notxt.test")
is_(a.get("status"), "none", "no _mta-sts TXT: status none")
is_(w.sts_requests("notxt.test"), 0, "no TXT: no HTTPS request")
a = ask("get", "twotxt.test")
is_(a.get("status"), "none", "two v=STSv1 TXT records: status none")
like(a.get("text", ""), "exactly one", "two TXT records: the reason")
is_(w.sts_requests("twotxt.test"), 0, "two TXT records: no HTTPS request")

# failures, each with its RFC 8460 type
for domain, failure, text in (
        ("nf.test", "sts-policy-fetch-error", "HTTP 404"),
        ("redir.test", "sts-policy-fetch-error", "redirects are not followed"),
        ("html.test", "sts-policy-invalid", "text/html"),
        ("big.test", "sts-policy-fetch-error", "larger than"),
        ("badcert.test", "sts-webpki-invalid", "certificate"),
        ("badpol.test", "sts-policy-invalid", "bad mode")):
    a = ask("get", domain)
    is_(a.get("status"), "error", "%s: status error" % domain)
    is_(a.get("failure"), failure, "%s: failure %s" % (domain, failure))
    like(a.get("text", ""), text, "%s: the reason says %s" % (domain, text))
is_(w.sts_requests("redir.test"), 1, "the redirect was not followed (one request)")
is_(w.sts_requests("example2.test"), 0, "nothing fetched from the redirect target")

# a failed fetch is not repeated for the same id within sts_fetch_retry_interval
a = ask("get", "nf.test")
is_(a.get("failure"), "sts-policy-fetch-error", "nf.test again: the remembered failure")
like(a.get("text", ""), "not retried yet", "nf.test again: says it was not retried")
is_(w.sts_requests("nf.test"), 1, "nf.test again: no second HTTPS request")

# policies that later change
a = ask("get", "example2.test")
ok(a.get("status") == "policy" and a.get("mode") == "testing" and a.get("from_cache") == 0,
   "example2.test fetched (mode testing)")
a = ask("get", "gone.test")
ok(a.get("status") == "policy" and a.get("from_cache") == 0, "gone.test fetched")

# new TXT ids: example.test with a new policy, example2.test whose server now
# answers 404, and gone.test's TXT record removed
w.zone("example.test", [r for r in w.zones["example.test"].records if "_mta-sts" not in r]
       + ['_mta-sts TXT "v=STSv1; id=20250101;"'])
w.zone("example2.test", [r for r in w.zones["example2.test"].records if "_mta-sts" not in r]
       + ['_mta-sts TXT "v=STSv1; id=3;"'])
sts_zone("gone.test", None)
w.sts_policy("example.test", "version: STSv1\nmode: testing\nmx: mx1.example.test\nmax_age: 3600\n")
w.sts_policy("example2.test", None)
w.restart_dns()

a = ask("get", "example.test")
ok(a.get("status") == "policy" and a.get("from_cache") == 0, "TXT id changed: refetched")
is_(a.get("id"), "20250101", "refetched policy carries the new id")
is_(a.get("mode"), "testing", "refetched policy replaces the cached one")
is_(w.sts_requests("example.test"), 2, "exactly one more HTTPS request")

a = ask("get", "example2.test")
is_(a.get("status"), "policy", "fetch failure with a cached policy: the cached policy")
ok(a.get("from_cache") == 1 and a.get("mode") == "testing" and a.get("id") == "2",
   "fetch failure: the old policy, from the cache")
is_(a.get("failure"), "sts-policy-fetch-error", "fetch failure: failure set beside the cached policy")

a = ask("get", "gone.test")
ok(a.get("status") == "policy" and a.get("from_cache") == 1, "TXT gone: the unexpired cached policy applies")
like(a.get("text", ""), "no _mta-sts TXT", "TXT gone: says so")

# refresh: TXT id unchanged -> no fetch
n = w.sts_requests("example.test")
a = ask("refresh", "example.test")
ok(a.get("status") == "policy" and a.get("from_cache") == 1, "REFRESH with the same id: the cache")
is_(w.sts_requests("example.test"), n, "REFRESH with the same id: no HTTPS request")

# purge, then show
r = sts("purge", "example.test")
ok(r.returncode == 0 and "purged" in r.stdout, "ternctl sts purge example.test")
r = sts("show", "example.test")
is_(r.returncode, 1, "show after purge: exit 1")
like(r.stdout, "no cached policy", "show after purge: no cached policy")
a = ask("get", "example.test")
ok(a.get("status") == "policy" and a.get("from_cache") == 0, "GET after purge fetches again")
r = sts("show", "nosuch.test")
like(r.stdout, "no cached policy", "show of an unknown domain")
r = sts("show", "bad domain")
is_(r.returncode, 64, "show with a bad domain: usage error")

# the cache survives a restart of the instance; from now on the policy
# servers' certificates do not chain to sts_ca_file
inst.stop()
inst.conf("sts_ca_file", w.wrong_ca_file, file="delivery.conf")
r = inst.start()
ok(r.returncode == 0, "instance restarts")
n = w.sts_requests("example2.test")
r = sts("show", "example2.test")
ok(r.returncode == 0 and "mode: testing" in r.stdout and "id: 2\n" in r.stdout,
   "after a restart the cached policy is still there")
a = ask("get", "gone.test")
ok(a.get("status") == "policy" and a.get("from_cache") == 1, "after a restart GET answers from the cache")

a = ask("get", "nf.test")
is_(a.get("failure"), "sts-webpki-invalid", "a certificate from another CA: sts-webpki-invalid")
like(a.get("text", ""), "certificate", "a certificate from another CA: the reason")

# a malformed request
a = ask("get", "../../etc")
is_(a.get("status"), "error", "a bad domain: status error")
a = ask("launch", "example.test")
like(a.get("text", ""), "unknown op", "an unknown op: error")

log = inst.log()
like(log, "example.test: policy id=20240101T000000 fetched", "the log names fetched policies")
like(log, "fetch failed (sts-webpki-invalid)", "the log names failed fetches with their type")
if "panic" in log or "fatal" in log:
    diag(log[-3000:])
ok("fatal:" not in log and "panic:" not in log, "no fatal errors in the log")

inst.stop()
w.stop()
done()
