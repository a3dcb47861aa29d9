#!/usr/bin/python3
"""72-smtp - the smtp delivery agent through a running instance, to sinks
of the test world (t/lib/world.py) on 127.0.72.x, with zones of its own
(unsigned: no DANE, no MTA-STS; the default TLS level "may").

Covers: MX order and fallback (the first MX greets 421, the second gets
the mail), implicit MX (no MX records: the domain's A), null MX (bounced
5.1.10 at once; the notice reaches the sender's mailbox), a bogus zone
(deferred, the DNSSEC reason in the queue listing), a 5xx to one of two
recipients (only that one bounces), SIZE refusal (5.3.4, nothing sent),
8-bit content to a server without 8BITMIME (5.6.3), DSN parameters
passed on (RET, ENVID, NOTIFY, ORCPT), STARTTLS under "may", transport_maps
smtp:[host]:port, dot-stuffing and CRLF on the wire, connection reuse (two
messages, one session), and the log lines (relay=, status=, tls=).
"""
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, diag, done, is_, like, ok, prog, run, skip_all, wait_for  # noqa: E402
from world import World  # noqa: E402

usable, why = World.usable()
if not usable:
    skip_all(why)

w = World()
w.standard()
w.zone("a72.test", ["@ MX 10 mx1", "@ MX 20 mx2", "mx1 A 127.0.72.2", "mx2 A 127.0.72.3"], signed=False)
w.zone("b72.test", ["@ A 127.0.72.4"], signed=False)
w.zone("c72.test", ["@ MX 0 .", "@ A 127.0.72.4"], signed=False)
w.zone("e72.test", ["@ MX 10 mx", "mx A 127.0.72.5"], signed=False)
w.zone("f72.test", ["@ MX 10 mx", "mx A 127.0.72.6"], signed=False)
w.zone("g72.test", ["@ MX 10 mx", "mx A 127.0.72.7"], signed=False)
w.zone("h72.test", ["@ MX 10 mx", "mx A 127.0.72.8"], signed=False)
w.start_dns()

s1 = w.sink("127.0.72.2", starttls=False, greeting_code=421)
s2 = w.sink("127.0.72.3", starttls=True, cert="mx2.example.test")
s4 = w.sink("127.0.72.4", starttls=False)
s5 = w.sink("127.0.72.5", starttls=False, rcpt_replies={"bad@e72.test": "550 5.1.1 no such user here"})
s6 = w.sink("127.0.72.6", starttls=False, size_limit=200)
s7 = w.sink("127.0.72.7", starttls=False, ehlo_extensions=["PIPELINING", "SIZE 10240000"])
s8 = w.sink("127.0.72.8", starttls=False)
s9 = w.sink("127.0.72.9", port=2526, starttls=False)

inst = Instance()
inst.conf("dns_resolver_config", w.unbound_conf)
inst.conf("transport_maps", "inline:{r72.test=smtp:[127.0.72.9]:2526}", file="qmgr.conf")
inst.conf("smtp_connection_cache_time", "20s", file="delivery.conf")
inst.conf("smtp_tls_ca_file", w.ca_file, file="delivery.conf")
inst.conf("smtp_helo_name", "client.t72.test", file="delivery.conf")
r = inst.start()
ok(r.returncode == 0, "instance started")
PORT = inst.ports[0]
SENDER = "demo@demo.test"


def send(rcpts, body="Subject: t72\n\nhello\n", mail_options=(), rcpt_options=(), sender=SENDER):
    """send - one message through the instance's smtpd; True when accepted."""
    try:
        with smtplib.SMTP("127.0.0.1", PORT, timeout=30) as c:
            c.ehlo("t72.test")
            if isinstance(body, str):
                body = body.encode()
            body = body.replace(b"\n", b"\r\n")
            c.sendmail(sender, rcpts, body, mail_options=list(mail_options), rcpt_options=list(rcpt_options))
        return True
    except (smtplib.SMTPException, OSError) as e:
        diag("send to %s failed: %s" % (rcpts, e))
        return False


def logged(needle, timeout=30):
    return wait_for(lambda: needle in inst.log(), timeout=timeout)


def line_for(rcpt):
    return "\n".join(l for l in inst.log().splitlines() if "to=<%s>" % rcpt in l)


try:
    # MX order and fallback: mx1 greets 421, mx2 takes it (over STARTTLS, "may")
    ok(send(["u1@a72.test"]), "message for a72.test accepted")
    got = s2.wait(1)
    is_(len(got), 1, "second MX got the message after the first greeted 421")
    if got:
        is_(got[0]["rcpts"][0][0], "u1@a72.test", "recipient on the wire")
        is_(got[0]["helo"], "client.t72.test", "smtp_helo_name used")
        ok(got[0]["tls"] is not None, "STARTTLS used when offered (may)")
    is_(len(s1.messages()), 0, "first MX got nothing")
    ok(logged("to=<u1@a72.test>, relay=mx2.a72.test[127.0.72.3]:25"), "log names relay mx2[addr]:25")
    like(line_for("u1@a72.test"), "status=sent", "log says status=sent")
    like(line_for("u1@a72.test"), "tls=TLSv1", "log names the TLS protocol")
    like(inst.log(), "mx1.a72.test[127.0.72.2]:25 refused to talk to me: 421", "the 421 greeting is logged")

    # implicit MX
    ok(send(["u2@b72.test"]), "message for b72.test accepted")
    got = s4.wait(1)
    is_(len(got), 1, "implicit MX: the domain's A got it")

    # null MX: bounced 5.1.10, the notice reaches demo@demo.test's Maildir
    ok(send(["u3@c72.test"]), "message for c72.test accepted")
    ok(logged("to=<u3@c72.test>"), "null MX result logged")
    like(line_for("u3@c72.test"), "dsn=5.1.10, status=bounced", "null MX bounced 5.1.10")
    is_(len(s4.messages()), 1, "null MX: no connection to the domain's A")
    md = inst.path("mail", "demo.test", "demo", "new")

    def dsn_text():
        try:
            for f in os.listdir(md):
                with open(os.path.join(md, f), errors="replace") as fh:
                    t = fh.read()
                if "u3@c72.test" in t:
                    return t
        except OSError:
            pass
        return ""
    ok(wait_for(lambda: dsn_text() != "", timeout=30), "the failure notice reached the sender's mailbox")
    like(dsn_text(), "5.1.10", "notice names 5.1.10")

    # bogus zone: deferred with the DNSSEC reason, shown in the queue listing
    ok(send(["u4@bogus.test"]), "message for bogus.test accepted")
    ok(logged("to=<u4@bogus.test>"), "bogus result logged")
    like(line_for("u4@bogus.test"), "status=deferred", "bogus zone: deferred")
    like(line_for("u4@bogus.test"), "dsn=4.4.3", "bogus zone: 4.4.3")
    q = run([prog("ternqueue"), "-c", inst.dir, "-p"])
    like(q.stdout, "bogus", "ternqueue -p shows the DNSSEC reason") or diag(q.stdout + q.stderr)

    # 5xx to one of two recipients
    ok(send(["good@e72.test", "bad@e72.test"]), "two-recipient message accepted")
    got = s5.wait(1)
    is_(len(got), 1, "one transaction")
    if got:
        is_([r[0] for r in got[0]["rcpts"]], ["good@e72.test"], "only the good recipient was accepted")
    ok(logged("to=<bad@e72.test>"), "bad recipient logged")
    like(line_for("bad@e72.test"), "dsn=5.1.1, status=bounced", "550 to one RCPT bounces only it")
    like(line_for("bad@e72.test"), "550 5.1.1 no such user here", "the server's text is kept")
    ok(logged("to=<good@e72.test>"), "good recipient logged")
    like(line_for("good@e72.test"), "status=sent", "the other recipient was delivered")

    # SIZE refusal
    ok(send(["u6@f72.test"], body="Subject: big\n\n" + ("x" * 70 + "\n") * 10), "big message accepted")
    ok(logged("to=<u6@f72.test>"), "SIZE result logged")
    like(line_for("u6@f72.test"), "dsn=5.3.4, status=bounced", "larger than the server's SIZE: 5.3.4")
    like(line_for("u6@f72.test"), "exceeds size limit 200", "reason names the limit")
    is_(len(s6.attempts()), 0, "nothing was sent to the small server")

    # 8-bit content to a server without 8BITMIME
    ok(send(["u7@g72.test"], body="Subject: 8bit\n\ngr\xfc\xdfe\n".encode("latin-1"),
            mail_options=["BODY=8BITMIME"]), "8-bit message accepted")
    ok(logged("to=<u7@g72.test>"), "8-bit result logged")
    like(line_for("u7@g72.test"), "dsn=5.6.3, status=bounced", "8-bit to a 7-bit server: 5.6.3")
    like(line_for("u7@g72.test"), "does not support 8BITMIME", "reason says why")

    # DSN passthrough, dot-stuffing, CRLF
    ok(send(["u8@h72.test"], body="Subject: dsn\n\n.leading dot\nline2\n",
            mail_options=["RET=HDRS", "ENVID=env72"],
            rcpt_options=["NOTIFY=SUCCESS,FAILURE", "ORCPT=rfc822;orig8@h72.test"]), "DSN message accepted")
    got = s8.wait(1)
    is_(len(got), 1, "DSN message delivered")
    if got:
        m = got[0]
        is_(m["mail_params"].get("RET"), "HDRS", "RET passed on")
        is_(m["mail_params"].get("ENVID"), "env72", "ENVID passed on")
        p = m["rcpts"][0][1]
        is_(p.get("NOTIFY"), "SUCCESS,FAILURE", "NOTIFY passed on")
        like(p.get("ORCPT") or "", "orig8@h72.test", "ORCPT passed on")
        like(m["data"], "\n.leading dot", "dot-stuffed line arrives as it was")
        ok("\r\n" in m["data"] and "\n" not in m["data"].replace("\r\n", ""), "CRLF line ends, no bare LF")

    def notice_for(rcpt):
        try:
            for f in os.listdir(md):
                with open(os.path.join(md, f), errors="replace") as fh:
                    t = fh.read()
                if "Final-Recipient: rfc822; " + rcpt in t:
                    return t
        except OSError:
            pass
        return ""

    def removed(rcpt):
        line = line_for(rcpt)
        qid = line.split(":")[3].strip() if line.count(":") > 3 else "?"
        return qid + ": removed" in inst.log()

    # the DSN-capable server got NOTIFY=SUCCESS: the success notice is its job, not ours
    ok(wait_for(lambda: removed("u8@h72.test"), timeout=30), "DSN message done and removed")
    is_(notice_for("u8@h72.test"), "", "no success notice from tern when the next hop supports DSN")
    # a server without DSN: tern tells the sender the message was relayed
    ok(send(["u9@g72.test"], rcpt_options=["NOTIFY=SUCCESS"]), "NOTIFY=SUCCESS to a server without DSN")
    ok(wait_for(lambda: notice_for("u9@g72.test") != "", timeout=30), "a success notice reached the sender")
    like(notice_for("u9@g72.test"), "Action: relayed", "it says relayed (RFC 3464)")
    got7 = s7.messages()
    ok(got7 and "NOTIFY" not in got7[-1]["rcpts"][0][1], "NOTIFY was not sent to the server without DSN")

    # transport_maps smtp:[host]:port and connection reuse
    ok(send(["one@r72.test"]), "first message for r72.test accepted")
    ok(len(s9.wait(1)) == 1, "transport_maps [127.0.72.9]:2526 got it")
    ok(send(["two@r72.test"]), "second message for r72.test accepted")
    ok(len(s9.wait(2)) == 2, "second message delivered")
    is_(s9.sessions(), 1, "both messages went over one session (connection reuse)")
    like(line_for("two@r72.test"), r"relay=127.0.72.9[127.0.72.9]:2526", "relay of the literal next hop")
finally:
    inst.stop()
    w.stop()
done()
