#!/usr/bin/python3
"""smtp TLS policy, levels and the 465 ladder: a private instance delivers
through its smtp agent to sinks of the test world (t/lib/world.py).

Checked: may with STARTTLS (TLS, SNI = MX name, logged with policy and
outcome, one success event); may without STARTTLS and roll-over on
(implicit TLS on 465, starttls-not-supported event); may without STARTTLS
with rollover465=no from the policy table (skip-465: plaintext on 25);
encrypt per domain without any TLS (deferred, never plaintext); the event
file lines parse as tern-tls-events(5) says.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from smtp_world import Sender, require_world  # noqa: E402
from tern_test import diag, done, is_, like, ok, wait_for  # noqa: E402
from world import World  # noqa: E402

require_world("ports 25 and 465")

w = World()
w.standard()
# tls1.test: no DNSSEC, one MX on 127.0.0.20 (STARTTLS on 25)
# tls2.test: no DNSSEC, one MX on 127.0.0.21 (no STARTTLS on 25, implicit TLS on 465)
# tls3.test: no DNSSEC, one MX on 127.0.0.22 (no STARTTLS, nothing on 465)
w.certs(["mx.tls1.test", "mx.tls2.test"])
for n, addr in ((1, "127.0.0.20"), (2, "127.0.0.21"), (3, "127.0.0.22")):
    w.zone("tls%d.test" % n, ["@ MX 10 mx", "mx A %s" % addr], signed=False)
w.start_dns()

s1 = w.sink("127.0.0.20", cert="mx.tls1.test")
s2 = w.sink("127.0.0.21", starttls=False)
s2tls = w.sink("127.0.0.21", port=465, implicit_tls=True, starttls=False, cert="mx.tls2.test")
s3 = w.sink("127.0.0.22", starttls=False)

inst = Sender(w)
with open(inst.path("tls_policy"), "w") as f:
    f.write("# test policy\n"
            "skip465.tls2.test may rollover465=no\n"
            "tls3.test encrypt\n")
inst.conf("smtp_tls_policy_maps", "texthash:" + inst.path("tls_policy"), file="delivery.conf")
inst.start_or_quit()
send, log_lines, events = inst.send, inst.log_lines, inst.events

# 1. may with STARTTLS
ok(send("a@tls1.test", "may-starttls"), "submitted to tls1.test")
got = s1.wait(1, timeout=40)
is_(len(got), 1, "may + STARTTLS: delivered to the sink")
if got:
    ok(got[0]["tls"] is not None, "may + STARTTLS: over TLS (%s)" % got[0]["tls"])
    is_(got[0]["sni"], "mx.tls1.test", "SNI is the MX name")
ok(wait_for(lambda: log_lines("to=<a@tls1.test>") and "status=sent" in log_lines("to=<a@tls1.test>")[-1], 20),
   "may + STARTTLS: logged as sent")
line = (log_lines("to=<a@tls1.test>") or [""])[-1]
like(line, "policy=default may", "log line names the policy")
like(line, "tls=TLSv1.", "log line names the TLS protocol")
ok(wait_for(lambda: any(e.get("domain") == "tls1.test" and e.get("result") == "success" for e in events()), 10),
   "success event written for tls1.test")
ev = [e for e in events() if e.get("domain") == "tls1.test"]
if ev:
    is_(ev[0].get("policy"), "no-policy-found", "event policy type no-policy-found")
    is_(ev[0].get("mx"), "mx.tls1.test", "event names the MX")
    is_(ev[0].get("mx_ip"), "127.0.0.20", "event names the receiving address")
    ok(ev[0].get("sending_ip", "").startswith("127."), "event names the sending address")
st = os.stat(os.path.dirname(inst.events_path))
is_(oct(st.st_mode & 0o777), "0o700", "tlsrpt directory is mode 0700")

# 2. may, no STARTTLS, roll-over to 465
ok(send("b@tls2.test", "may-465"), "submitted to tls2.test")
got = s2tls.wait(1, timeout=40)
is_(len(got), 1, "may without STARTTLS: delivered over implicit TLS on 465")
if got:
    ok(got[0]["tls"] is not None, "465 delivery is TLS")
is_(len(s2.messages()), 0, "nothing sent in plaintext on port 25")
ok(wait_for(lambda: any(e.get("domain") == "tls2.test" and e.get("result") == "starttls-not-supported"
                        for e in events()), 10), "starttls-not-supported event for tls2.test")

# 3. skip-465 per domain: plaintext on 25
w.zone("skip465.tls2.test", ["@ MX 10 mx.tls2.test."], signed=False)
w.restart_dns()
n465 = len(s2tls.messages())
ok(send("c@skip465.tls2.test", "skip-465"), "submitted to skip465.tls2.test")
got = s2.wait(1, timeout=40)
is_(len(got), 1, "rollover465=no: delivered in plaintext on 25")
if got:
    ok(got[0]["tls"] is None, "rollover465=no: plaintext")
is_(len(s2tls.messages()), n465, "rollover465=no: nothing went to 465")
ok(wait_for(lambda: log_lines("to=<c@skip465.tls2.test>"), 20), "skip-465 delivery logged")
like((log_lines("to=<c@skip465.tls2.test>") or [""])[-1], "policy=table may", "skip-465: policy from the table")

# 4. encrypt per domain, no TLS anywhere: deferred
ok(send("d@tls3.test", "encrypt"), "submitted to tls3.test")
ok(wait_for(lambda: log_lines("to=<d@tls3.test>"), 40), "encrypt: a delivery attempt is logged")
line = (log_lines("to=<d@tls3.test>") or [""])[-1]
like(line, "status=deferred", "encrypt without TLS: deferred")
is_(len(s3.messages()), 0, "encrypt without TLS: nothing sent in plaintext")
diag(line)

ok(all(set(("time", "domain", "policy", "result", "sending_ip", "mx", "mx_ip", "reason")) <= set(e)
       for e in events()), "every event line has the documented fields")

inst.stop()
w.stop()
done()
