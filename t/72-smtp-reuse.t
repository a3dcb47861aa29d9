#!/usr/bin/python3
"""72-smtp-reuse - a cached smtp session serving the next messages to the
same next hop: with PIPELINING the RSET of a reused session goes out in
one write with MAIL FROM and RCPT TO, and a server that hangs up on that
RSET costs nothing (a new session delivers, no recipient is deferred);
without PIPELINING the RSET is a round trip of its own; a recipient
refused on a reused session bounces alone; DATA is pipelined too, and a
message with every recipient refused leaves the session usable. Sinks of the test world
(t/lib/world.py) on 127.0.72.40-42, reached through transport_maps
literal next hops (no DNS lookups).
"""
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, diag, done, is_, like, ok, skip_all, wait_for  # noqa: E402
from world import World  # noqa: E402

usable, why = World.usable()
if not usable:
    skip_all(why)

w = World()
w.standard()
w.start_dns()

hangup = w.sink("127.0.72.40", port=2540, starttls=False, disconnect=["RSET"])
plain = w.sink("127.0.72.41", port=2541, starttls=False, ehlo_extensions=["SIZE 10240000", "8BITMIME"])
piped = w.sink("127.0.72.42", port=2542, starttls=False,
               rcpt_replies={"nobody@pr72.test": "550 5.1.1 no such user here",
                                             "nobody2@pr72.test": "550 5.1.1 no such user here"})

inst = Instance()
inst.conf("dns_resolver_config", w.unbound_conf)
inst.conf("transport_maps", "inline:{hr72.test=smtp:[127.0.72.40]:2540, nr72.test=smtp:[127.0.72.41]:2541, "
          "pr72.test=smtp:[127.0.72.42]:2542}", file="qmgr.conf")
inst.conf("smtp_connection_cache_time", "20s", file="delivery.conf")
inst.conf("smtp_helo_name", "client.t72r.test", file="delivery.conf")
r = inst.start()
ok(r.returncode == 0, "instance started")
PORT = inst.ports[0]


def send(rcpts):
    """send - one message through the instance's smtpd; True when accepted."""
    try:
        with smtplib.SMTP("127.0.0.1", PORT, timeout=30) as c:
            c.ehlo("t72r.test")
            c.sendmail("demo@demo.test", rcpts, b"Subject: t72r\r\n\r\nhello\r\n")
        return True
    except (smtplib.SMTPException, OSError) as e:
        diag("send to %s failed: %s" % (rcpts, e))
        return False


def line_for(rcpt):
    return "\n".join(l for l in inst.log().splitlines() if "to=<%s>" % rcpt in l)


def logged_for(rcpt, needle):
    return wait_for(lambda: needle in line_for(rcpt), timeout=30)


try:
    # PIPELINING, the server hangs up on the RSET of the reused session
    ok(send(["one@hr72.test"]), "first message for hr72.test accepted")
    ok(len(hangup.wait(1)) == 1, "first message delivered")
    ok(send(["two@hr72.test"]), "second message for hr72.test accepted")
    ok(len(hangup.wait(2)) == 2, "second message delivered although the cached session hung up on RSET")
    is_(hangup.sessions(), 2, "a new session took the second message")
    ok(logged_for("two@hr72.test", "status=sent"), "second recipient logged as sent")
    like(line_for("two@hr72.test"), "relay=127.0.72.40[127.0.72.40]:2540", "relay of the new session")
    ok("status=deferred" not in line_for("two@hr72.test"), "nothing was deferred on the way")

    # no PIPELINING: RSET on its own, the session is reused
    ok(send(["a@nr72.test"]), "first message for nr72.test accepted")
    ok(len(plain.wait(1)) == 1, "first message delivered without PIPELINING")
    ok(send(["b@nr72.test"]), "second message for nr72.test accepted")
    ok(len(plain.wait(2)) == 2, "second message delivered without PIPELINING")
    is_(plain.sessions(), 1, "both went over one session without PIPELINING")

    # PIPELINING, three messages over one session, one recipient refused on the reused session
    ok(send(["x@pr72.test"]), "first message for pr72.test accepted")
    ok(len(piped.wait(1)) == 1, "first message delivered")
    ok(send(["y@pr72.test", "nobody@pr72.test"]), "second message (one good, one refused recipient) accepted")
    ok(len(piped.wait(2)) == 2, "second message delivered")
    ok(logged_for("nobody@pr72.test", "status=bounced"), "the refused recipient bounced")
    like(line_for("nobody@pr72.test"), "dsn=5.1.1", "with the server's 5.1.1")
    ok(logged_for("y@pr72.test", "status=sent"), "the other recipient was sent")
    ok(send(["z@pr72.test"]), "third message accepted")
    ok(len(piped.wait(3)) == 3, "third message delivered")
    is_(piped.sessions(), 1, "the three messages went over one session (RSET pipelined with MAIL)")
    # every recipient refused: the pipelined DATA is answered with an error, dropped, the session RSET
    ok(send(["nobody2@pr72.test"]), "a message whose only recipient the server refuses accepted")
    ok(logged_for("nobody2@pr72.test", "status=bounced"), "its recipient bounced")
    like(line_for("nobody2@pr72.test"), "in reply to RCPT TO command", "bounced for the RCPT reply, not DATA")
    ok(send(["last@pr72.test"]), "one more message accepted")
    ok(len(piped.wait(4)) == 4, "it was delivered after the refused one")
    is_(piped.sessions(), 1, "still one session: the DATA without recipients left it usable")
    is_(sorted(r[0] for m in piped.messages() for r in m["rcpts"]),
        ["last@pr72.test", "x@pr72.test", "y@pr72.test", "z@pr72.test"],
        "the sink got exactly the accepted recipients")
finally:
    inst.stop()
    w.stop()
done()
