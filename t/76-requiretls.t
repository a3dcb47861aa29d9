#!/usr/bin/python3
"""REQUIRETLS (RFC 8689) and "TLS-Required: No" in the smtp client, in the
test world. REQUIRETLS messages are handed to cleanup directly with the
REQUIRETLS flag (cleanup_proto.h), as smtpd does for MAIL FROM ... REQUIRETLS.

Checked: REQUIRETLS to a DANE host whose sink lists REQUIRETLS -> delivered
with MAIL FROM ... REQUIRETLS, logged with policy requiretls dane;
REQUIRETLS to a host with neither DANE nor MTA-STS -> no message sent, and
the sender gets a bounce that carries the headers but not the body;
"TLS-Required: No" -> delivered to a host whose TLSA does not match
(DANE skipped), and in plaintext to a host without STARTTLS.
"""
import glob
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tern_ipc as I  # noqa: E402
from smtp_world import Sender, require_world  # noqa: E402
from tern_test import diag, done, is_, like, ok, wait_for  # noqa: E402
from world import World  # noqa: E402

require_world("port 25")

w = World()
w.standard()
w.certs(["mx.rtplain.test", "mx.danebad2.test"])
w.zone("rtplain.test", ["@ MX 10 mx", "mx A 127.0.0.28"], signed=False)
w.zone("notls.test", ["@ MX 10 mx", "mx A 127.0.0.29"], signed=False)
w.zone("danebad2.test", ["@ MX 10 mx", "mx A 127.0.0.30",
                         "_25._tcp.mx TLSA 3 1 1 {tlsa311:mx1.example.test}"])
w.start_dns()

s_dane = w.sink("127.0.0.2", cert="mx1.example.test", requiretls=True)
s_plain = w.sink("127.0.0.28", cert="mx.rtplain.test", requiretls=True)
s_notls = w.sink("127.0.0.29", starttls=False)
s_bad = w.sink("127.0.0.30", cert="mx.danebad2.test")

inst = Sender(w)
inst.start_or_quit()
SOCK = inst.path("queue", "private", "cleanup")
ok(wait_for(lambda: os.path.exists(SOCK), 10), "cleanup socket exists")
MAILDIR = inst.path("mail", "demo.test", "demo", "new")


def inject(rcpt, subject, flags=0, extra_header=""):
    """inject - one message from demo@demo.test straight to cleanup"""
    content = ("From: <demo@demo.test>\r\nTo: <%s>\r\nSubject: %s\r\n%s\r\n"
               "SECRET-BODY-LINE of %s\r\n" % (rcpt, subject, extra_header, subject)).encode()
    c = I.CleanupClient(SOCK)
    try:
        res = c.message(content, sender="demo@demo.test", rcpts=[rcpt], flags=flags)
    finally:
        c.close()
    return res is not None and res.get("status") == "ok"


last_line = inst.last_line


# REQUIRETLS to a DANE host
ok(inject("a@example.test", "rt-dane", flags=I.FLAG_REQUIRETLS), "REQUIRETLS message to example.test queued")
got = s_dane.wait(1, timeout=40)
is_(len(got), 1, "REQUIRETLS to a DANE host: delivered")
if got:
    ok("REQUIRETLS" in got[0]["mail_params"], "REQUIRETLS passed on in MAIL FROM")
    ok(got[0]["tls"] is not None, "REQUIRETLS delivery over TLS")
ok(wait_for(lambda: "status=sent" in last_line("a@example.test"), 20), "REQUIRETLS to DANE: logged as sent")
like(last_line("a@example.test"), "policy=requiretls dane", "REQUIRETLS to DANE: policy requiretls dane")
like(last_line("a@example.test"), "verified=dane-ee", "REQUIRETLS to DANE: verified dane-ee")

# REQUIRETLS to a host with no DANE and no MTA-STS: bounce, headers only
before = set(glob.glob(os.path.join(MAILDIR, "*")))
ok(inject("b@rtplain.test", "rt-plain", flags=I.FLAG_REQUIRETLS), "REQUIRETLS message to rtplain.test queued")
ok(wait_for(lambda: "status=" in last_line("b@rtplain.test"), 40), "REQUIRETLS to rtplain: attempt logged")
line = last_line("b@rtplain.test")
like(line, "status=bounced", "REQUIRETLS without DANE/STS: bounced")
like(line, "REQUIRETLS: no DANE or MTA-STS authentication for mx", "bounce reason names REQUIRETLS")
is_(len(s_plain.messages()), 0, "REQUIRETLS without DANE/STS: nothing sent to the host")
ok(wait_for(lambda: len(set(glob.glob(os.path.join(MAILDIR, "*"))) - before) >= 1, 30),
   "the sender got a bounce")
new = sorted(set(glob.glob(os.path.join(MAILDIR, "*"))) - before)
bounce = open(new[0], errors="replace").read() if new else ""
like(bounce, "text/rfc822-headers", "bounce returns headers only")
like(bounce, "Subject: rt-plain", "bounce carries the original headers")
ok("SECRET-BODY-LINE" not in bounce, "bounce does not carry the body")
diag(line)

# TLS-Required: No to a host whose TLSA does not match: DANE skipped
ok(inject("c@danebad2.test", "trn-dane", extra_header="TLS-Required: No\r\n"), "TLS-Required: No message queued")
got = s_bad.wait(1, timeout=40)
is_(len(got), 1, "TLS-Required: No: delivered despite the TLSA mismatch")
ok(wait_for(lambda: "status=sent" in last_line("c@danebad2.test"), 20), "TLS-Required: No: logged as sent")
like(last_line("c@danebad2.test"), "policy=tls-required-no", "TLS-Required: No: policy tls-required-no")

# TLS-Required: No to a host without STARTTLS: plaintext
ok(inject("d@notls.test", "trn-plain", extra_header="TLS-Required: No\r\n"), "TLS-Required: No plaintext queued")
got = s_notls.wait(1, timeout=40)
is_(len(got), 1, "TLS-Required: No: delivered to a host without STARTTLS")
if got:
    ok(got[0]["tls"] is None, "TLS-Required: No: in plaintext")
    like(got[0]["data"], "TLS-Required: No", "the header is kept when relayed")

inst.stop()
w.stop()
done()
