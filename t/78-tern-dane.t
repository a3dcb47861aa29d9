#!/usr/bin/python3
"""tern to tern over STARTTLS with DANE, in the test world (issue 5, "Done
when"): instance A sends through its smtp agent; instance B listens on
127.0.0.25:25 with a certificate of the test CA for mx.dane.test; the
signed zone dane.test has MX mx.dane.test and a TLSA 3 1 1 record of
B's key. Checked: the message lands in B's virtual mailbox; A logs
status=sent with verified=dane-ee and policy=dane; B's Received header
says ESMTPS with the TLS version; a TLSA success event is written. Then
B's key changes (TLSA no longer matches): A defers, never plaintext.
"""
import os
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from smtp_world import Sender, require_world  # noqa: E402
from tern_test import Instance, diag, done, like, ok, prog, run, wait_for  # noqa: E402
from world import World  # noqa: E402

require_world("port 25 on 127.0.0.25")

w = World()
w.certs(["mx.dane.test", "other.dane.test"])
w.zone("dane.test", ["@ MX 10 mx", "mx A 127.0.0.25",
                     "_25._tcp.mx TLSA 3 1 1 {tlsa311:mx.dane.test}"])
w.start_dns()

# B: the receiving tern on 127.0.0.25:25 with the test CA's certificate
b = Instance(init_args=["--listen", "127.0.0.25", "--ports", "25,587,465"])
chain, key = w.cert("mx.dane.test")
shutil.copy(chain, b.path("tls", "cert.pem"))
shutil.copy(key, b.path("tls", "key.pem"))
os.chmod(b.path("tls", "key.pem"), 0o600)
r = run([prog("ternuser"), "-c", b.dir, "add", "bob@dane.test"])
ok(r.returncode == 0, "B: ternuser add bob@dane.test") or diag(r.stderr)
b.conf("myhostname", "mx.dane.test")

# A: the sending tern, resolving through the test world
a = Sender(w)
a.conf("myhostname", "a.example.test")
a.conf("smtp_bind_address", "127.0.0.26", file="delivery.conf")

ok(b.start().returncode == 0, "B starts on 127.0.0.25:25")
ok(a.start().returncode == 0, "A starts")
bob = b.path("mail", "dane.test", "bob", "new")


def send(subject):
    return a.send("bob@dane.test", subject, sender="alice@a.example.test", body="hello over DANE")


try:
    ok(send("dane one"), "A accepts the message")
    got = wait_for(lambda: os.path.isdir(bob) and os.listdir(bob), timeout=60)
    ok(got, "the message reached bob's Maildir on B")
    if got:
        text = open(os.path.join(bob, got[0]), errors="replace").read()
        like(text, "Subject: dane one", "it is the message A sent")
        like(text, "with ESMTPS", "B's Received header says ESMTPS")
        like(text, "TLSv1.", "B's Received header names the TLS version")
    alog = a.log()
    sent = [x for x in alog.splitlines() if "to=<bob@dane.test>" in x and "status=sent" in x]
    ok(sent, "A logs status=sent") or diag(alog[-3000:])
    if sent:
        like(sent[0], "relay=mx.dane.test[127.0.0.25]:25", "relay names B")
        like(sent[0], "verified=dane-ee", "verified by DANE-EE")
        like(sent[0], "policy=dane", "the policy was DANE")
    blog = b.log()
    like(blog, "connect from", "B logged the connection")
    like(blog, "127.0.0.26", "from A's bind address")
    events = a.path("queue", "tlsrpt", "events")
    ev = open(events).read() if os.path.exists(events) else ""
    like(ev, "dane.test", "a TLS event for dane.test was written")
    like(ev, "success", "and it is a success")

    # B's key changes: the TLSA record no longer matches
    chain2, key2 = w.cert("other.dane.test")
    b.stop()
    shutil.copy(chain2, b.path("tls", "cert.pem"))
    shutil.copy(key2, b.path("tls", "key.pem"))
    ok(b.start().returncode == 0, "B restarts with another key")
    before = len(os.listdir(bob))
    ok(send("dane two"), "A accepts a second message")
    deferred = wait_for(lambda: [x for x in a.log().splitlines()
                                 if "to=<bob@dane.test>" in x and "status=deferred" in x], timeout=60)
    ok(deferred, "A defers when the TLSA record does not match") or diag(a.log()[-3000:])
    if deferred:
        like(deferred[0], "4.7.5", "with 4.7.5")
    ok(len(os.listdir(bob)) == before, "nothing more reached B (no plaintext fallback)")
finally:
    a.stop()
    b.stop()
    w.stop()
done()
