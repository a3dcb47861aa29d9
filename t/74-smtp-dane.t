#!/usr/bin/python3
"""smtp DANE (RFC 7672) in the test world: DNSSEC-signed zones with TLSA
records, sinks presenting matching and non-matching certificates.

Checked: DANE-EE (3 1 1) match -> delivered over TLS, logged verified
(dane-ee) with policy dane, a tlsa success event carrying the TLSA record;
DANE-TA (2 0 1, the test CA) -> verified dane-ta; TLSA that does not match
the server's key -> deferred (4.7.5, never plaintext, no MAIL sent), a
validation-failure event; TLSA in an unsigned zone is ignored (opportunistic
TLS, policy default may); a bogus TLSA answer -> deferred with the reason.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from smtp_world import Sender, require_world  # noqa: E402
from tern_test import diag, done, is_, like, ok, wait_for  # noqa: E402
from world import World  # noqa: E402

require_world("port 25")

w = World()
w.standard()
w.certs(["mx.danebad.test", "mx.plain.test"])
# danebad.test: signed, TLSA of mx1.example.test's key, but the server has its own key
w.zone("danebad.test", ["@ MX 10 mx", "mx A 127.0.0.23",
                        "_25._tcp.mx TLSA 3 1 1 {tlsa311:mx1.example.test}"])
# plain.test: unsigned, a TLSA record that must be ignored (it does not match either)
w.zone("plain.test", ["@ MX 10 mx", "mx A 127.0.0.24",
                      "_25._tcp.mx TLSA 3 1 1 {tlsa311:mx1.example.test}"], signed=False)
w.start_dns()

s_ee = w.sink("127.0.0.2", cert="mx1.example.test")
s_ta = w.sink("127.0.0.6", cert="mx.example2.test")
s_bad = w.sink("127.0.0.23", cert="mx.danebad.test")
s_plain = w.sink("127.0.0.24", cert="mx.plain.test")

inst = Sender(w)
inst.start_or_quit()
send, last_line, events = inst.send, inst.last_line, inst.events


# DANE-EE
ok(send("a@example.test", "dane-ee"), "submitted to example.test")
got = s_ee.wait(1, timeout=40)
is_(len(got), 1, "DANE-EE: delivered to mx1.example.test")
if got:
    ok(got[0]["tls"] is not None, "DANE-EE: over TLS")
ok(wait_for(lambda: "status=sent" in last_line("a@example.test"), 20), "DANE-EE: logged as sent")
line = last_line("a@example.test")
like(line, "verified=dane-ee", "DANE-EE: logged as verified by dane-ee")
like(line, "policy=dane", "DANE-EE: logged with policy dane")
ok(wait_for(lambda: any(e["result"] == "success" for e in events("example.test")), 10), "DANE-EE: success event")
ev = events("example.test")
if ev:
    is_(ev[-1]["policy"], "tlsa", "DANE-EE event: policy type tlsa")
    like(ev[-1].get("policy_string", ""), "3%201%201%20" + w.tlsa311("mx1.example.test").lower()[:16],
         "DANE-EE event: policy string is the TLSA record")

# DANE-TA
ok(send("b@example2.test", "dane-ta"), "submitted to example2.test")
got = s_ta.wait(1, timeout=40)
is_(len(got), 1, "DANE-TA: delivered to mx.example2.test")
ok(wait_for(lambda: "status=sent" in last_line("b@example2.test"), 20), "DANE-TA: logged as sent")
like(last_line("b@example2.test"), "verified=dane-ta", "DANE-TA: logged as verified by dane-ta")

# mismatch
ok(send("c@danebad.test", "dane-mismatch"), "submitted to danebad.test")
ok(wait_for(lambda: "status=" in last_line("c@danebad.test"), 40), "DANE mismatch: attempt logged")
line = last_line("c@danebad.test")
like(line, "status=deferred", "DANE mismatch: deferred")
like(line, "dsn=4.7.5", "DANE mismatch: 4.7.5")
is_(len(s_bad.messages()), 0, "DANE mismatch: no message given to the server")
ok(all("MAIL" not in c.upper() for sess in s_bad.commands() for c in sess),
   "DANE mismatch: no MAIL command, no plaintext fallback")
ok(wait_for(lambda: any(e["result"] == "validation-failure" for e in events("danebad.test")), 10),
   "DANE mismatch: validation-failure event")
diag(line)

# unsigned zone: TLSA ignored
ok(send("d@plain.test", "insecure-tlsa"), "submitted to plain.test")
got = s_plain.wait(1, timeout=40)
is_(len(got), 1, "TLSA in an unsigned zone ignored: delivered")
ok(wait_for(lambda: "status=sent" in last_line("d@plain.test"), 20), "unsigned zone: logged as sent")
like(last_line("d@plain.test"), "policy=default may", "unsigned zone: opportunistic policy")

# bogus TLSA
ok(send("e@bogus.test", "bogus"), "submitted to bogus.test")
ok(wait_for(lambda: "status=" in last_line("e@bogus.test"), 40), "bogus: attempt logged")
like(last_line("e@bogus.test"), "status=deferred", "bogus zone: deferred, never treated as insecure")
diag(last_line("e@bogus.test"))

inst.stop()
w.stop()
done()
