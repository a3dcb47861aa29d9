#!/usr/bin/python3
"""72-smtp-auth - the smtp agent and smarthosts: relayhost [host]:port with
AUTH (smtp_sasl_password_maps keyed by the next hop) over STARTTLS, the
password never in the log; no AUTH over a plaintext session
(smtp_sasl_tls_only = yes); a refused AUTH defers with the server's text;
smtp_return_path_maps replaces the envelope sender for one next hop; a
group-readable password table is warned about.
"""
import base64
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, done, is_, like, ok, skip_all, wait_for  # noqa: E402
from world import World  # noqa: E402

usable, why = World.usable()
if not usable:
    skip_all(why)

PW = "S3cretPw72"
w = World()
w.start_dns()
sa = w.sink("127.0.72.20", port=2587, starttls=True, cert="mx1.example.test", auth={"relayuser": PW})
sb = w.sink("127.0.72.21", port=2588, starttls=False, auth={"relayuser": PW}, auth_plaintext=True)
sc = w.sink("127.0.72.22", port=2589, starttls=True, cert="mx1.example.test", auth={"relayuser": "other"})

inst = Instance()
pwfile = inst.path("sasl_passwd")
with open(pwfile, "w") as f:
    f.write("[127.0.72.20]:2587 relayuser:%s\n[127.0.72.21]:2588 relayuser:%s\n"
            "[127.0.72.22]:2589 relayuser:%s\n" % (PW, PW, PW))
os.chmod(pwfile, 0o640)
with open(inst.path("retpath"), "w") as f:
    f.write("[127.0.72.20]:2587 bounce72@custom.test\n")
inst.conf("dns_resolver_config", w.unbound_conf)
inst.conf("relayhost", "[127.0.72.20]:2587")
inst.conf("transport_maps", "inline:{p72.test=smtp:[127.0.72.21]:2588, w72.test=smtp:[127.0.72.22]:2589}",
          file="qmgr.conf")
inst.conf("smtp_sasl_password_maps", "texthash:" + pwfile, file="delivery.conf")
inst.conf("smtp_return_path_maps", "texthash:" + inst.path("retpath"), file="delivery.conf")
r = inst.start()
ok(r.returncode == 0, "instance started")


def send(rcpt):
    with smtplib.SMTP("127.0.0.1", inst.ports[0], timeout=30) as c:
        c.sendmail("demo@demo.test", [rcpt], b"Subject: auth\r\n\r\nhello\r\n")


def line_for(rcpt):
    return "\n".join(l for l in inst.log().splitlines() if "to=<%s>" % rcpt in l)


try:
    send("far@elsewhere72.test")
    got = sa.wait(1)
    is_(len(got), 1, "relayhost got the message")
    if got:
        is_(got[0]["auth"], "relayuser", "AUTH with the table's user")
        ok(got[0]["tls"] is not None, "AUTH happened over STARTTLS")
        is_(got[0]["mail_from"], "bounce72@custom.test", "smtp_return_path_maps replaced the sender")
    ok(wait_for(lambda: "to=<far@elsewhere72.test>" in inst.log(), timeout=30), "relayhost result logged")
    like(line_for("far@elsewhere72.test"), "relay=127.0.72.20[127.0.72.20]:2587", "relay is the smarthost")
    like(line_for("far@elsewhere72.test"), "status=sent", "delivered through the smarthost")

    send("p@p72.test")
    got = sb.wait(1)
    is_(len(got), 1, "plaintext smarthost got the message")
    if got:
        is_(got[0]["auth"], None, "no AUTH over a plaintext session")
        is_(got[0]["mail_from"], "demo@demo.test", "other next hops keep the sender")
    like(inst.log(), "not sending AUTH credentials to 127.0.72.21[127.0.72.21]:2588 over a plaintext",
         "the refusal to send credentials is logged")

    send("w@w72.test")
    ok(wait_for(lambda: "to=<w@w72.test>" in inst.log(), timeout=30), "wrong password result logged")
    like(line_for("w@w72.test"), "status=deferred", "refused AUTH defers")
    like(line_for("w@w72.test"), "SASL authentication failed", "with the reason")
    is_(len(sc.messages()), 0, "nothing sent after the refused AUTH")

    log = inst.log()
    plain = base64.b64encode(b"\0relayuser\0" + PW.encode()).decode()
    ok(PW not in log and plain not in log and base64.b64encode(PW.encode()).decode() not in log,
       "the password is not in the log, plain or base64")
    like(log, "mode 0640 lets others read passwords", "group-readable password table warned about")
finally:
    inst.stop()
    w.stop()
done()
