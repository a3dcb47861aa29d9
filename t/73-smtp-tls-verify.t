#!/usr/bin/python3
"""smtp TLS levels verify and secure from the per-domain policy table
(tern-tls-policy(5)), through the smtp agent into sinks of the test world.

Checked: verify with a certificate of the trusted CA for the MX name ->
delivered, logged verified=pkix with policy table verify; verify with a
certificate of another CA -> deferred, nothing sent, certificate-not-trusted
event; verify with a trusted certificate for another name -> deferred,
nothing sent, certificate-host-mismatch event; secure with match= naming
the certificate's name -> delivered and verified although the MX name
differs; secure without match= for that server -> deferred.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from smtp_world import Sender, require_world  # noqa: E402
from tern_test import done, is_, like, ok, wait_for  # noqa: E402
from world import World  # noqa: E402

require_world("port 25")

w = World()
w.certs(["mx.vfy1.test", "other.vfy3.test", "relay.sec1.test"])
w.cert("mx.vfy2.test", ca="wrongca")
for name, addr in (("vfy1", "127.0.0.30"), ("vfy2", "127.0.0.31"), ("vfy3", "127.0.0.32"),
                   ("sec1", "127.0.0.33"), ("sec2", "127.0.0.33")):
    w.zone("%s.test" % name, ["@ MX 10 mx", "mx A %s" % addr], signed=False)
w.start_dns()

s1 = w.sink("127.0.0.30", cert="mx.vfy1.test")
s2 = w.sink("127.0.0.31", cert="mx.vfy2.test", cert_ca="wrongca")
s3 = w.sink("127.0.0.32", cert="other.vfy3.test")
s4 = w.sink("127.0.0.33", cert="relay.sec1.test")

inst = Sender(w)
with open(inst.path("tls_policy"), "w") as f:
    f.write("vfy1.test verify\n"
            "vfy2.test verify\n"
            "vfy3.test verify\n"
            "sec1.test secure match=relay.sec1.test\n"
            "sec2.test secure\n")
inst.conf("smtp_tls_policy_maps", "texthash:" + inst.path("tls_policy"), file="delivery.conf")
inst.start_or_quit()


def final(rcpt):
    return wait_for(lambda: inst.last_line(rcpt), 40) or ""


# verify, trusted CA, right name
ok(inst.send("a@vfy1.test", "verify-ok"), "submitted to vfy1.test")
is_(len(s1.wait(1, timeout=40)), 1, "verify, trusted certificate for the MX name: delivered")
line = final("a@vfy1.test")
like(line, "status=sent", "verify ok: sent")
like(line, "verified=pkix", "verify ok: verified by PKIX")
like(line, "policy=table verify", "verify ok: the table's policy")

# verify, another CA
ok(inst.send("b@vfy2.test", "verify-wrong-ca"), "submitted to vfy2.test")
line = final("b@vfy2.test")
like(line, "status=deferred", "verify, certificate of an untrusted CA: deferred")
is_(len(s2.messages()), 0, "untrusted CA: nothing sent")
ok(wait_for(lambda: any(e.get("result") == "certificate-not-trusted" for e in inst.events("vfy2.test")), 10),
   "untrusted CA: a certificate-not-trusted event")

# verify, trusted CA, wrong name
ok(inst.send("c@vfy3.test", "verify-wrong-name"), "submitted to vfy3.test")
line = final("c@vfy3.test")
like(line, "status=deferred", "verify, certificate for another name: deferred")
is_(len(s3.messages()), 0, "wrong name: nothing sent")
ok(wait_for(lambda: any(e.get("result") == "certificate-host-mismatch" for e in inst.events("vfy3.test")), 10),
   "wrong name: a certificate-host-mismatch event")

# secure with match= naming the certificate
ok(inst.send("d@sec1.test", "secure-match"), "submitted to sec1.test")
is_(len(s4.wait(1, timeout=40)), 1, "secure with match=relay.sec1.test: delivered")
line = final("d@sec1.test")
like(line, "status=sent", "secure match: sent")
like(line, "verified=pkix", "secure match: verified")
like(line, "policy=table secure", "secure match: the table's policy")

# secure without a matching name
ok(inst.send("e@sec2.test", "secure-nomatch"), "submitted to sec2.test")
line = final("e@sec2.test")
like(line, "status=deferred", "secure, the certificate names neither the domain nor match=: deferred")
is_(len(s4.messages()), 1, "secure without a match: nothing more sent")

inst.stop()
w.stop()
done()
