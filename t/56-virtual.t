#!/usr/bin/python3
"""virtual and ternuser: the demo domain of "ternctl init", ternuser
add/list/del, DELIVER requests over private/virtual: Maildir with
Return-Path:/Delivered-To:, a virtual alias to two mailboxes, a
catch-all, an unknown address (5.1.1), a full mailbox (4.2.2); the
mailbox files belong to virtual_uid (mail_owner), never root."""
import os
import pwd
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, diag, done, is_, like, ok, prog, run, wait_for  # noqa: E402
from deliver_test import deliver, maildir_files, qwrite, slot  # noqa: E402

BASE = 33000 + (os.getpid() % 3000) * 3
inst = Instance(init_args=["--ports", "%d,%d,%d" % (BASE, BASE + 1, BASE + 2)])
D = inst.dir
MAIL = inst.path("mail")
try:
    r = run([prog("ternuser"), "-c", D, "list"])
    is_(r.stdout, "demo@demo.test\tdemo.test/demo/\n", "init made the demo account")
    r = run([prog("ternuser"), "-c", D, "add", "Bob@Example.test"])
    ok(r.returncode == 0, "ternuser add bob@example.test") or diag(r.stderr)
    ok(os.path.isdir(os.path.join(MAIL, "example.test", "bob", "new")), "bob's Maildir created")
    owner = pwd.getpwnam(open(inst.path("tern.conf")).read().split("mail_owner = ")[1].split()[0])
    is_(os.stat(os.path.join(MAIL, "example.test", "bob")).st_uid, owner.pw_uid, "Maildir owned by mail_owner")
    like(open(inst.path("tern.conf")).read(), "example.test", "domain added to virtual_mailbox_domains")
    r = run([prog("ternuser"), "-c", D, "add", "bob@example.test"])
    is_(r.returncode, 1, "adding twice fails")
    r = run([prog("ternuser"), "-c", D, "add", "../x@example.test"])
    is_(r.returncode, 64, "a bad address is refused")
    for u in ("carl", "gone"):
        run([prog("ternuser"), "-c", D, "add", "%s@example.test" % u])
    r = run([prog("ternuser"), "-c", D, "list", "example.test"])
    is_(r.stdout.split(), ["bob@example.test", "example.test/bob/", "carl@example.test", "example.test/carl/",
                           "gone@example.test", "example.test/gone/"], "list by domain")
    r = run([prog("ternuser"), "-c", D, "del", "gone@example.test"])
    ok(r.returncode == 0 and not os.path.exists(os.path.join(MAIL, "example.test", "gone")),
       "del removes the account and its Maildir")
    r = run([prog("ternuser"), "-c", D, "del", "carl@example.test", "--keep-mail"])
    ok(r.returncode == 0 and os.path.exists(os.path.join(MAIL, "example.test", "carl")), "del --keep-mail keeps mail")
    r = run([prog("ternmap"), "-c", D, "-q", "carl@example.test", "hash:" + inst.path("virtual_users")])
    is_(r.returncode, 1, "deleted account gone from the .db")

    with open(inst.path("valias"), "w") as f:
        f.write("team@demo.test demo@demo.test, bob@example.test\n@catch.test demo@demo.test\n"
                "out@demo.test someone@remote.example\n")
    with open(inst.path("delivery.conf"), "a") as f:
        f.write("virtual_alias_maps = texthash:%s\nvirtual_mailbox_limit = 2000\n" % inst.path("valias"))
    r = run([prog("ternconf"), "-c", D, "-e", "virtual_mailbox_domains=demo.test, example.test, catch.test"])
    ok(r.returncode == 0, "ternconf -e virtual_mailbox_domains") or diag(r.stderr)
    ok(inst.start().returncode == 0, "instance started")
    ok(wait_for(lambda: os.path.exists(inst.path("queue", "private", "virtual"))), "private/virtual exists")

    body = b"Subject: v\n\nhello\nFrom here\n"
    demo = os.path.join(MAIL, "demo.test", "demo")
    qid = qwrite(inst, "s@example.org", ["demo@demo.test"], body)
    rep = deliver(inst, "virtual", qid, "s@example.org", ["demo@demo.test"])
    is_(rep["r"][0][1:4], ("sent", "2.0.0", "virtual"), "demo: sent") or diag(rep)
    files = maildir_files(demo)
    is_(len(files), 1, "demo: one message")
    if files:
        is_(open(files[0], "rb").read(), b"Return-Path: <s@example.org>\nDelivered-To: demo@demo.test\n" + body,
            "demo: byte for byte with Return-Path and Delivered-To")
        is_(os.stat(files[0]).st_uid, owner.pw_uid, "written as virtual_uid (mail_owner), not root")
    is_(slot(inst, qid), "delivered", "slot delivered")

    qid = qwrite(inst, "s@example.org", ["team@demo.test", "anything@catch.test", "nobody@demo.test"], body)
    rep = deliver(inst, "virtual", qid, "s@example.org", ["team@demo.test", "anything@catch.test", "nobody@demo.test"])
    is_([x[1] for x in rep["r"]], ["sent", "sent", "bounced"], "alias, catch-all, unknown") or diag(rep)
    is_(rep["r"][2][2], "5.1.1", "unknown: 5.1.1")
    like(slot(inst, qid, 2), "bounced", "unknown: slot bounced")
    is_(len(maildir_files(demo)), 3, "demo got the alias and the catch-all copies")
    is_(len(maildir_files(os.path.join(MAIL, "example.test", "bob"))), 1, "bob got the alias copy")
    # one delivery line per final mailbox, orig_to= the recipient (Postfix's shape)
    log = inst.log()
    for to, orig in (("demo@demo.test", "team@demo.test"), ("bob@example.test", "team@demo.test"),
                     ("demo@demo.test", "anything@catch.test")):
        ok(re.search(r": %s: to=<%s>, orig_to=<%s>, relay=virtual, .*status=sent \(delivered to maildir\)"
                     % (qid, re.escape(to), re.escape(orig)), log), "log: to=<%s>, orig_to=<%s>" % (to, orig))
    ok(re.search(r": %s: to=<nobody@demo.test>, relay=virtual, .*status=bounced" % qid, log),
       "log: the unknown address without orig_to")

    big = b"Subject: big\n\n" + b"x" * 3000 + b"\n"
    qid = qwrite(inst, "s@example.org", ["bob@example.test"], big)
    rep = deliver(inst, "virtual", qid, "s@example.org", ["bob@example.test"])
    is_(rep["r"][0][1:3], ("deferred", "4.2.2"), "over virtual_mailbox_limit: deferred 4.2.2") or diag(rep)
    like(rep["r"][0][4], "mailbox full", "reason says mailbox full")

    qid = qwrite(inst, "s@example.org", ["out@demo.test"], body)
    rep = deliver(inst, "virtual", qid, "s@example.org", ["out@demo.test"])
    is_(rep["r"][0][1], "sent", "alias to a remote address: forwarded") or diag(rep)
    ok(re.search(r": %s: to=<someone@remote.example>, orig_to=<out@demo.test>, relay=virtual, .*"
                 r"\(forwarded as \w+\)" % qid, inst.log()), "log: the forwarded address with orig_to")
    like(inst.log(), "relay=virtual, delay=", "Postfix-shape log line")
finally:
    inst.cleanup()
done()
