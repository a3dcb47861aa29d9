#!/usr/bin/python3
"""screen: the shared abuse state, driven over private/screen of a running
instance (screen_proto.h) and with ternctl: auth-failure log lines exact,
N failures -> ban -> banned at connect (logged once per ban), /24
aggregation, ban expiry, ternctl ban/unban/bans, bans surviving a restart,
AUTH probe ban, harvesting ban, hijack -> frozen account, its queued mail
held, the postmaster notified, ternctl frozen/unfreeze releasing the mail,
and the per-account rate limit with one notice per period."""
import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, diag, done, is_, like, ok, prog, run, wait_for  # noqa: E402
from tern_ipc import CleanupClient, Conn, get  # noqa: E402

inst = Instance()
D = inst.dir
SOCK = inst.path("queue", "private", "screen")


def ask(conn, op, **kw):
    attrs = [("op", op)] + [(k, v) for k, v in kw.items()]
    conn.send(attrs)
    return conn.recv()


def status(reply):
    return get(reply or [], "status")


def mailbox(path):
    files = []
    for sub in ("new", "cur"):
        try:
            files += [os.path.join(path, sub, f) for f in sorted(os.listdir(os.path.join(path, sub)))]
        except OSError:
            pass
    return files


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def queue_files(sub):
    try:
        return sorted(os.listdir(inst.path("queue", sub)))
    except OSError:
        return []


try:
    for name, value in (("auth_failure_limit", "3"), ("auth_failure_net_limit", "5"),
                        ("auth_ban_time", "3s"), ("harvest_limit", "3"), ("hijack_limit", "3"),
                        ("rate_limit_messages", "2"), ("rate_limit_recipients", "100"),
                        ("screen_sweep_interval", "1s")):
        inst.conf(name, value, "smtpd.conf")
    inst.conf("relayhost", "[127.0.0.1]:1")        # remote mail stays deferred
    boxes = inst.path("boxes")
    os.makedirs(boxes)
    os.chmod(boxes, 0o1777)
    PM = os.path.join(boxes, "pm")
    with open(inst.path("aliases")) as f:
        kept = [l for l in f if not l.startswith("postmaster")]
    with open(inst.path("aliases"), "w") as f:
        f.write("".join(kept) + "postmaster: %s/\n" % PM)
    r = run([prog("ternmap"), "-c", D, "hash:" + inst.path("aliases")])
    ok(r.returncode == 0, "aliases rebuilt with postmaster -> a Maildir")
    inst.start()
    ok(wait_for(lambda: os.path.exists(SOCK), 10), "private/screen exists")
    c = Conn(SOCK)

    # 1. auth-failure log and the per-address ban
    for i in range(2):
        rep = ask(c, "auth_fail", addr="127.0.0.5", service="submission", port=587,
                  session="S%d" % i, account="alice@demo.test", mech="PLAIN",
                  reason="authentication failed")
        is_(status(rep), "ok", "auth failure %d from 127.0.0.5: ok" % (i + 1))
    rep = ask(c, "auth_fail", addr="127.0.0.5", service="submission", port=587, session="S2",
              mech="LOGIN", reason="authentication failed")
    is_(status(rep), "banned", "third failure within the window: banned")
    ok((get(rep, "until") or 0) > time.time(), "the reply says until when")
    log = read(inst.path("data", "auth_failure.log")).splitlines()
    is_(len(log), 3, "three lines in auth_failure_log")
    TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}"
    ok(re.fullmatch(TS + r" protocol=smtp service=submission port=587 session=S0 client=127\.0\.0\.5 "
                    r"account=alice@demo\.test mechanism=PLAIN reason=authentication failed", log[0]),
       "log line exact: " + log[0])
    ok(re.fullmatch(TS + r" protocol=smtp service=submission port=587 session=S2 client=127\.0\.0\.5 "
                    r"account=none mechanism=LOGIN reason=authentication failed", log[2]),
       "no account given: account=none: " + log[2])
    for i in range(3):
        rep = ask(c, "connect", addr="127.0.0.5", service="smtp")
        is_(status(rep), "banned", "connect %d of the banned client: banned" % (i + 1))
    like(get(rep, "text", ""), "3 failed AUTH attempts", "the ban reason")
    ok(wait_for(lambda: "banned client 127.0.0.5 connected" in inst.log(), 5), "banned connect logged")
    is_(inst.log().count("banned client 127.0.0.5 connected"), 1, "logged once per ban, not per connection")
    ok("auth failure: service=submission session=S0 client=127.0.0.5 account=alice@demo.test" in inst.log(),
       "the failure is in the mail log too")

    r = inst.ctl("authlog", "-n", "2")
    is_(r.returncode, 0, "ternctl authlog -n 2")
    lines = r.stdout.splitlines()
    is_(len(lines), 2, "two lines")
    ok(len(lines) == 2 and "session=S2" in lines[1] and "session=S1" in lines[0], "newest last")
    ask(c, "auth_fail", addr="127.0.0.77", service="smtp", port=25, session="X", account="eve",
        mech="PLAIN", reason="authentication failed")
    r = inst.ctl("authlog", "--ip", "127.0.0.77")
    ok(r.returncode == 0 and r.stdout.count("\n") == 1 and "client=127.0.0.77 " in r.stdout,
       "ternctl authlog --ip shows only that client")

    # 2. /24 aggregation: one failure each from five addresses of 10.1.2.0/24
    got = [status(ask(c, "auth_fail", addr="10.1.2.%d" % i, service="submission", port=587,
                      session="N%d" % i, account="x", mech="PLAIN", reason="authentication failed"))
           for i in range(1, 6)]
    is_(got, ["ok"] * 4 + ["banned"], "the fifth failure from the /24 bans the network")
    is_(status(ask(c, "connect", addr="10.1.2.200", service="smtp")), "banned",
        "another address of the /24 is banned")
    is_(status(ask(c, "connect", addr="10.1.3.1", service="smtp")), "ok", "the next /24 is not")
    r = inst.ctl("bans")
    ok(r.returncode == 0 and "10.1.2.0/24" in r.stdout and "127.0.0.5" in r.stdout,
       "ternctl bans lists the address and the network")

    # 3. expiry (auth_ban_time = 3s)
    ok(wait_for(lambda: status(ask(c, "connect", addr="127.0.0.5", service="smtp")) == "ok", 20, 0.5),
       "the ban expires")
    ok(wait_for(lambda: "10.1.2.0/24" not in inst.ctl("bans").stdout, 20, 0.5), "the network ban too")

    # 4. AUTH probe and harvesting
    is_(status(ask(c, "auth_probe", addr="127.0.0.8", service="smtp", session="P1")), "banned",
        "an AUTH probe on the MTA port bans at once")
    got = [status(ask(c, "rcpt_unknown", addr="127.0.0.6", service="smtp", session="H",
                      rcpt="u%d@demo.test" % i)) for i in range(3)]
    is_(got, ["ok", "ok", "banned"], "three unknown recipients: harvesting ban")

    # 5. ternctl ban / unban, and bans surviving a restart
    r = inst.ctl("ban", "192.0.2.9", "1h")
    ok(r.returncode == 0 and "banned 192.0.2.9 for 3600s" in r.stdout, "ternctl ban IP 1h")
    r = inst.ctl("ban", "2001:db8::1")
    is_(r.returncode, 0, "ternctl ban IPv6 with the default time")
    is_(inst.ctl("ban", "not-an-ip").returncode, 64, "ternctl ban refuses a non-address")
    c.close()
    inst.stop()
    inst.start()
    ok(wait_for(lambda: os.path.exists(SOCK), 10), "restarted")
    c = Conn(SOCK)
    is_(status(ask(c, "connect", addr="192.0.2.9", service="smtp")), "banned", "the ban survived a restart")
    ok("192.0.2.9" in inst.ctl("bans").stdout, "ternctl bans after the restart")
    r = inst.ctl("unban", "192.0.2.9")
    ok(r.returncode == 0 and "unbanned 192.0.2.9" in r.stdout, "ternctl unban")
    is_(status(ask(c, "connect", addr="192.0.2.9", service="smtp")), "ok", "not banned any more")
    is_(inst.ctl("unban", "192.0.2.9").returncode, 1, "unban of what is not banned: exit 1")

    # 6. hijack: a queued message of bob, then refused recipients -> frozen
    cc = CleanupClient(inst.path("queue", "private", "cleanup"))
    res = cc.message(b"Subject: from bob\r\n\r\nhello\r\n", sender="bob@demo.test",
                     rcpts=("someone@remote.test",), auth_user="bob@demo.test",
                     protocol="ESMTPSA")
    cc.close()
    ok(res and res.get("status") == "ok", "a message of bob@demo.test queued")
    qid = (res or {}).get("queue_id", "")
    for i in range(2):
        is_(status(ask(c, "rcpt_reject", account="bob@demo.test", addr="127.0.0.9",
                       rcpt="nobody%d@demo.test" % i, session="J")), "ok", "refused recipient %d" % (i + 1))
    rep = ask(c, "rcpt_reject", account="bob@demo.test", addr="127.0.0.9", rcpt="nobody2@demo.test",
              session="J")
    is_(status(rep), "frozen", "the third refused recipient freezes the account")
    rep = ask(c, "auth_check", account="bob@demo.test")
    is_(status(rep), "frozen", "AUTH_CHECK: frozen")
    like(get(rep, "text", ""), "frozen", "with a clear text")
    is_(status(ask(c, "auth_check", account="carol@demo.test")), "ok", "another account is not")
    ok(wait_for(lambda: qid in queue_files("hold"), 15), "bob's queued message is on hold")
    ok(wait_for(lambda: any("bob@demo.test" in read(f) and "frozen" in read(f) for f in mailbox(PM)), 30),
       "the postmaster got the notice")
    note = next((read(f) for f in mailbox(PM) if "bob@demo.test" in read(f)), "")
    ok("127.0.0.9" in note and "nobody0@demo.test" in note and "nobody2@demo.test" in note,
       "the notice names the address and the recent recipients")
    r = inst.ctl("frozen")
    ok(r.returncode == 0 and "bob@demo.test" in r.stdout and "127.0.0.9" in r.stdout, "ternctl frozen")
    r = inst.ctl("unfreeze", "bob@demo.test")
    ok(r.returncode == 0 and "1 held message released" in r.stdout, "ternctl unfreeze releases the mail")
    ok(qid not in queue_files("hold"), "the message left hold/")
    is_(status(ask(c, "auth_check", account="bob@demo.test")), "ok", "AUTH_CHECK: ok again")
    is_(inst.ctl("unfreeze", "bob@demo.test").returncode, 1, "unfreeze of what is not frozen: exit 1")

    # 7. rate limit: two messages per period, then over; one notice
    got = [status(ask(c, "rate", account="carol@demo.test", addr="127.0.0.10", recipients=1))
           for _ in range(4)]
    is_(got, ["ok", "ok", "over", "over"], "rate_limit_messages = 2: the third and fourth are over")
    ok(wait_for(lambda: "rate limit: account carol@demo.test" in inst.log(), 5), "over is logged")
    ok(wait_for(lambda: sum("carol@demo.test reached" in read(f) for f in mailbox(PM)) == 1, 30),
       "the postmaster got one notice")
    time.sleep(1)
    is_(sum("carol@demo.test reached" in read(f) for f in mailbox(PM)), 1, "only one")
    is_(status(ask(c, "rate", account="dave@demo.test", addr="127.0.0.10", recipients=101)), "over",
        "rate_limit_recipients = 100: 101 recipients are over")

    # 8. the client library: blocking, event-driven (pipelined), service unavailable
    r = run([prog("tern-screenq"), SOCK, "ban", "addr=198.51.100.4", "seconds=600"])
    ok(r.returncode == 0 and r.stdout.startswith("ok banned 198.51.100.4 for 600s"), "blocking client: ban")
    r = run([prog("tern-screenq"), "-a", "-n", "5", SOCK, "connect", "addr=198.51.100.4", "service=smtp"])
    is_(r.stdout.splitlines().count("banned banned by the administrator") if r.returncode == 0 else -1, 5,
        "event-driven client: five pipelined requests, five replies in order")
    r = run([prog("tern-screenq"), "-a", "-n", "3", SOCK, "auth_fail", "addr=198.51.100.50",
             "service=submission", "port=587", "session=A", "account=zed", "mech=PLAIN",
             "reason=authentication failed"])
    is_([l.split()[0] for l in r.stdout.splitlines()], ["ok", "ok", "banned"],
        "event-driven client: auth_fail counts to the ban")
    r = run([prog("tern-screenq"), "-a", inst.path("queue", "private", "nosuch"), "connect", "addr=127.0.0.1"])
    ok(r.returncode == 1 and r.stdout.startswith("unavailable cannot connect"),
       "event-driven client: no service -> unavailable from the loop")

    # 9. malformed requests
    is_(status(ask(c, "connect", addr="bogus")), "error", "a bad address: error")
    is_(status(ask(c, "nonsense")), "error", "an unknown op: error")
    c.close()
    if "panic" in inst.log() or "fatal" in inst.log():
        diag(inst.log())
    ok("tern/screen" in inst.log() and "fatal" not in inst.log(), "no fatal errors")
finally:
    inst.cleanup()
done()
