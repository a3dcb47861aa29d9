#!/usr/bin/python3
"""smtp MTA-STS enforcement (RFC 8461) through the sts service, in the
test world: unsigned zones (no DANE), policies on the world's HTTPS server.

Checked: enforce with a matching MX and a certificate of the test CA ->
delivered, logged verified (pkix) with policy mta-sts enforce, an sts
success event; enforce with an MX outside the policy -> deferred, nothing
sent, a validation-failure event; testing with an MX outside the policy ->
delivered anyway and the failure recorded as an sts event; a deferred
enforce message is delivered on the next attempt after the domain
publishes a new policy (new TXT id) that lists its MX: the agent re-checks
the TXT id itself before giving up, with exactly one new fetch.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from smtp_world import Sender, require_world  # noqa: E402
from tern_test import diag, done, is_, like, ok, prog, run, wait_for  # noqa: E402
from world import World  # noqa: E402

require_world("ports 25 and 443", progs=("smtp", "sts"))

w = World()
w.standard()
w.certs(["mx.stsok.test", "mx.elsewhere.test"])
w.zone("stsok.test", ["@ MX 10 mx", "mx A 127.0.0.26", "mta-sts A 127.0.0.4",
                      '_mta-sts TXT "v=STSv1; id=1;"'], signed=False)
w.zone("stsbad.test", ["@ MX 10 mx.elsewhere.test.", "mta-sts A 127.0.0.4",
                       '_mta-sts TXT "v=STSv1; id=1;"'], signed=False)
w.zone("ststest.test", ["@ MX 10 mx.elsewhere.test.", "mta-sts A 127.0.0.4",
                        '_mta-sts TXT "v=STSv1; id=1;"'], signed=False)
w.zone("elsewhere.test", ["mx A 127.0.0.27"], signed=False)
w.sts_policy("stsok.test", "version: STSv1\nmode: enforce\nmx: mx.stsok.test\nmax_age: 86400\n")
w.sts_policy("stsbad.test", "version: STSv1\nmode: enforce\nmx: mx.stsbad.test\nmax_age: 86400\n")
w.sts_policy("ststest.test", "version: STSv1\nmode: testing\nmx: mx.ststest.test\nmax_age: 86400\n")
w.start_dns()
w.sts_server()

s_ok = w.sink("127.0.0.26", cert="mx.stsok.test")
s_else = w.sink("127.0.0.27", cert="mx.elsewhere.test")

# nothing cached across lookups: the test changes a TXT record later
inst = Sender(w, sts=True, dns_cache=False)
inst.start_or_quit()
send, last_line, events = inst.send, inst.last_line, inst.events


# enforce, matching MX
ok(send("a@stsok.test", "enforce-ok"), "submitted to stsok.test")
got = s_ok.wait(1, timeout=40)
is_(len(got), 1, "enforce, matching MX: delivered")
ok(wait_for(lambda: "status=" in last_line("a@stsok.test"), 20), "enforce ok: logged")
line = last_line("a@stsok.test")
like(line, "status=sent", "enforce ok: sent")
like(line, "policy=mta-sts enforce", "enforce ok: policy mta-sts enforce")
like(line, "verified=pkix", "enforce ok: verified by PKIX")
ok(wait_for(lambda: any(e["result"] == "success" and e["policy"] == "sts" for e in events("stsok.test")), 10),
   "enforce ok: sts success event")
ev = events("stsok.test")
if ev:
    is_(ev[-1].get("mx_pattern"), "mx.stsok.test", "sts event carries the policy's mx pattern")
    like(ev[-1].get("policy_string", ""), "mode:%20enforce", "sts event carries the policy lines")

# enforce, MX outside the policy
ok(send("b@stsbad.test", "enforce-mismatch"), "submitted to stsbad.test")
ok(wait_for(lambda: "status=" in last_line("b@stsbad.test"), 40), "enforce mismatch: attempt logged")
line = last_line("b@stsbad.test")
like(line, "status=deferred", "enforce, MX not in the policy: deferred")
like(line, "MTA-STS", "enforce mismatch: the reason names MTA-STS")
is_(len(s_else.messages()), 0, "enforce mismatch: nothing sent to the MX")
ok(wait_for(lambda: any(e["result"] == "validation-failure" and e["policy"] == "sts"
                        for e in events("stsbad.test")), 10), "enforce mismatch: validation-failure event")
diag(line)

# testing, MX outside the policy
ok(send("c@ststest.test", "testing-mismatch"), "submitted to ststest.test")
got = s_else.wait(1, timeout=40)
is_(len(got), 1, "testing, MX not in the policy: delivered anyway")
ok(wait_for(lambda: "status=sent" in last_line("c@ststest.test"), 20), "testing: logged as sent")
like(last_line("c@ststest.test"), "policy=mta-sts testing", "testing: policy mta-sts testing")
ok(wait_for(lambda: any(e["result"] == "validation-failure" and e["policy"] == "sts"
                        for e in events("ststest.test")), 10), "testing: the failure is recorded")

# stsbad.test publishes a new policy (new TXT id) that lists its real MX: the
# next attempt is answered from the cache (sts_txt_check_interval 1h), still
# defers, re-checks the TXT id, fetches the new policy and delivers at once
w.zone("stsbad.test", ["@ MX 10 mx.elsewhere.test.", "mta-sts A 127.0.0.4",
                       '_mta-sts TXT "v=STSv1; id=2;"'], signed=False)
w.sts_policy("stsbad.test", "version: STSv1\nmode: enforce\nmx: mx.elsewhere.test\nmax_age: 86400\n")
w.restart_dns()
fetches = w.sts_requests("stsbad.test")
r = run([prog("ternqueue"), "-c", inst.dir, "-f"])
ok(r.returncode == 0, "flush the deferred message") or diag(r.stdout + r.stderr)
got = wait_for(lambda: [m for m in s_else.messages() if "enforce-mismatch" in m["data"]], timeout=60)
ok(got, "after the TXT id changed: the deferred message is delivered")
like(inst.log(), "stsbad.test: MTA-STS policy changed (id 2, mode enforce): trying again",
     "the smtp agent re-checked the policy before giving up")
ok(w.sts_requests("stsbad.test") == fetches + 1, "exactly one new policy fetch")
like(last_line("b@stsbad.test"), "status=sent", "logged as sent")

inst.stop()
w.stop()
done()
