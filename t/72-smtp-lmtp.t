#!/usr/bin/python3
"""72-smtp-lmtp - the lmtp service (the smtp program with smtp_protocol =
lmtp) through a running instance: transport_maps lmtp:inet:host:port to a
world LMTP sink and lmtp:unix:/path to a small LMTP server on a UNIX
socket; LHLO, and one reply per recipient after DATA (one recipient
accepted, one refused 550, one deferred 452 by the reply after DATA).
"""
import os
import smtplib
import socket
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, done, is_, like, ok, skip_all, wait_for  # noqa: E402
from world import World  # noqa: E402

usable, why = World.usable()
if not usable:
    skip_all(why)

w = World()
w.start_dns()
sink = w.sink("127.0.72.30", port=2424, lmtp=True, starttls=False,
              data_replies={"no@l72.test": "550 5.1.1 no mailbox", "later@l72.test": "452 4.2.2 over quota"})

inst = Instance()
sock_path = inst.path("lmtp.sock")
received = []


def unix_lmtp():
    """unix_lmtp - a tiny LMTP server on sock_path: records LHLO and the recipients, 250 for each."""
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(sock_path)
    os.chmod(sock_path, 0o777)
    srv.listen(5)
    srv.settimeout(60)
    try:
        conn, _ = srv.accept()
    except OSError:
        return
    f = conn.makefile("rwb", buffering=0)
    f.write(b"220 unix-lmtp ready\r\n")
    rcpts, helo = [], None
    while True:
        line = f.readline()
        if not line:
            break
        cmd = line.decode(errors="replace").rstrip("\r\n")
        verb = cmd.split(" ", 1)[0].upper()
        if verb == "LHLO":
            helo = cmd
            f.write(b"250-unix-lmtp\r\n250-PIPELINING\r\n250 8BITMIME\r\n")
        elif verb == "MAIL":
            f.write(b"250 2.1.0 ok\r\n")
        elif verb == "RCPT":
            rcpts.append(cmd[8:].strip("<>"))
            f.write(b"250 2.1.5 ok\r\n")
        elif verb == "DATA":
            f.write(b"354 go\r\n")
            data = b""
            while True:
                l2 = f.readline()
                if not l2 or l2 == b".\r\n":
                    break
                data += l2
            for r in rcpts:
                f.write(("250 2.0.0 <%s> delivered\r\n" % r).encode())
            received.append({"helo": helo, "rcpts": list(rcpts), "data": data})
            rcpts = []
        elif verb == "QUIT":
            f.write(b"221 bye\r\n")
            break
        else:
            f.write(b"250 ok\r\n")
    conn.close()
    srv.close()


t = threading.Thread(target=unix_lmtp, daemon=True)
t.start()
inst.conf("dns_resolver_config", w.unbound_conf)
inst.conf("transport_maps", "inline:{l72.test=lmtp:inet:127.0.72.30:2424, u72.test=lmtp:unix:%s}" % sock_path,
          file="qmgr.conf")
with open(inst.path("master.conf"), "a") as f:
    f.write("lmtp unix - - n - - smtp -o smtp_protocol=lmtp\n")
r = inst.start()
ok(r.returncode == 0, "instance started")


def send(rcpts):
    with smtplib.SMTP("127.0.0.1", inst.ports[0], timeout=30) as c:
        c.sendmail("demo@demo.test", rcpts, b"Subject: lmtp\r\n\r\nhello\r\n")


def line_for(rcpt):
    return "\n".join(l for l in inst.log().splitlines() if "to=<%s>" % rcpt in l)


try:
    send(["yes@l72.test", "no@l72.test", "later@l72.test"])
    got = sink.wait(1)
    is_(len(got), 1, "inet LMTP sink got one transaction")
    if got:
        is_(got[0]["proto"], "LMTP", "spoken as LMTP (LHLO)")
        is_(sorted(r[0] for r in got[0]["rcpts"]), ["later@l72.test", "no@l72.test", "yes@l72.test"],
            "all three recipients sent")
    ok(wait_for(lambda: all("to=<%s>" % a in inst.log() for a in ("yes@l72.test", "no@l72.test", "later@l72.test")),
                timeout=30), "three results logged")
    like(line_for("yes@l72.test"), "relay=127.0.72.30[127.0.72.30]:2424", "relay names the LMTP server")
    like(line_for("yes@l72.test"), "status=sent", "accepted recipient delivered")
    like(line_for("no@l72.test"), "dsn=5.1.1, status=bounced", "per-recipient 550 after DATA bounces it")
    like(line_for("later@l72.test"), "dsn=4.2.2, status=deferred", "per-recipient 452 after DATA defers it")

    send(["box@u72.test"])
    ok(wait_for(lambda: len(received) == 1, timeout=30), "unix-socket LMTP server got the message")
    if received:
        like(received[0]["helo"] or "", "LHLO ", "LHLO over the UNIX socket")
        is_(received[0]["rcpts"], ["box@u72.test"], "recipient over the UNIX socket")
    ok(wait_for(lambda: "to=<box@u72.test>" in inst.log(), timeout=30), "unix LMTP result logged")
    like(line_for("box@u72.test"), "relay=%s" % sock_path, "relay names the socket")
    like(line_for("box@u72.test"), "status=sent", "delivered over the UNIX socket")
finally:
    inst.stop()
    w.stop()
done()
