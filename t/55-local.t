#!/usr/bin/python3
"""local: DELIVER requests over private/local of a running instance:
Maildir byte for byte with Return-Path:/Delivered-To:, mbox with From_
quoting, aliases with several targets and :include:, unknown user,
unwritable Maildir, forwarding loop, forward through cleanup; as root
also real users (mailbox writes with the user's effective ids in the
agent itself, commands in a child that became the user; two users'
files from one agent process, which is root again after), .forward to another user
and to an external address with local_forward_external = no (held)."""
import os
import pwd
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (useradd, IS_ROOT, Instance, diag, done, is_, like, ok, prog, run, wait_for)  # noqa: E402
from deliver_test import deliver, maildir_files, qwrite, slot  # noqa: E402

BASE = 30000 + (os.getpid() % 3000) * 3
inst = Instance(init_args=["--ports", "%d,%d,%d" % (BASE, BASE + 1, BASE + 2)])
D = inst.dir
users = []


def mkuser(name):
    home = os.path.join(D, "home", name)
    os.makedirs(os.path.dirname(home), exist_ok=True)
    os.chmod(os.path.dirname(home), 0o755)
    run(["userdel", "-r", name])
    r = useradd(name, home)
    if r.returncode != 0:
        diag(r.stderr)
        return None
    users.append(name)
    pw = pwd.getpwnam(name)
    os.makedirs(home, exist_ok=True)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    os.chmod(home, 0o755)
    return pw


def cleanup_users():
    for u in users:
        run(["userdel", u])


try:
    me = pwd.getpwuid(os.geteuid()).pw_name
    boxes = os.path.join(D, "boxes")
    os.makedirs(boxes)
    os.chmod(boxes, 0o1777)
    ro = os.path.join(D, "ro")
    os.makedirs(ro)
    if IS_ROOT:
        nobody = pwd.getpwnam("nobody")
        os.chown(ro, nobody.pw_uid, nobody.pw_gid)
    os.chmod(ro, 0o500)
    with open(os.path.join(D, "inc.list"), "w") as f:
        f.write("# included\n%s/inc-box/\n" % boxes)
    aliases = ["postmaster: root",  # Postfix aliases(5) form too
               "md %s/md/" % boxes,
               "mb %s/mbox" % boxes,
               "team %s/team1/, %s/team2/, :include:%s/inc.list" % (boxes, boxes, D),
               "rofile %s/Maildir/" % ro,
               "ext someone@remote.example",
               "pipe \"|cat > %s/piped.txt\"" % boxes]
    if IS_ROOT:
        alice, bob, carol, dave = (mkuser(n) for n in ("t55alice", "t55bob", "t55carol", "t55dave"))
        aliases.append("group55 t55alice, t55bob")
        with open(os.path.join(bob.pw_dir, ".forward"), "w") as f:
            f.write("\\t55bob\n\"|id -u > uid.txt\"\n")
        os.chown(os.path.join(bob.pw_dir, ".forward"), bob.pw_uid, bob.pw_gid)
        with open(os.path.join(carol.pw_dir, ".forward"), "w") as f:
            f.write("t55alice\n")
        os.chown(os.path.join(carol.pw_dir, ".forward"), carol.pw_uid, carol.pw_gid)
        with open(os.path.join(dave.pw_dir, ".forward"), "w") as f:
            f.write("dave-elsewhere@remote.example\n")
        os.chown(os.path.join(dave.pw_dir, ".forward"), dave.pw_uid, dave.pw_gid)
    with open(inst.path("aliases"), "w") as f:
        f.write("\n".join(aliases) + "\n")
    r = run([prog("ternmap"), "-c", D, "hash:" + inst.path("aliases")])
    ok(r.returncode == 0, "aliases built") or diag(r.stderr)
    with open(inst.path("delivery.conf"), "a") as f:
        f.write("local_forward_external = no\ncommand_time_limit = 20s\n")
    r = inst.start()
    ok(r.returncode == 0, "instance started")
    ok(wait_for(lambda: os.path.exists(inst.path("queue", "private", "local"))), "private/local exists")

    body = b"Subject: test\nFrom: a@example.test\n\nline one\nFrom the start\n>From quoted\nlast\n"
    # Maildir through an alias file destination, byte for byte
    qid = qwrite(inst, "sender@example.test", ["md@localhost"], body)
    rep = deliver(inst, "local", qid, "sender@example.test", ["md@localhost"])
    is_(rep["status"], "ok", "reply status ok")
    is_(rep["r"][0][1:3], ("sent", "2.0.0"), "md sent 2.0.0") or diag(rep)
    files = maildir_files(os.path.join(boxes, "md"))
    is_(len(files), 1, "one message in md/new")
    if files:
        data = open(files[0], "rb").read()
        is_(data, b"Return-Path: <sender@example.test>\nDelivered-To: md@localhost\n" + body,
            "Maildir file is the content with Return-Path and Delivered-To, byte for byte")
        like(os.path.basename(files[0]), ",S=%d" % len(data), "file name carries S=size")
        ok(os.listdir(os.path.join(boxes, "md", "tmp")) == [], "tmp/ is empty")
        if IS_ROOT:
            is_(os.stat(files[0]).st_uid, pwd.getpwnam("nobody").pw_uid, "alias file written as default_privs")
    is_(slot(inst, qid), "delivered", "slot says delivered")

    # mbox with From_ quoting
    qid = qwrite(inst, "sender@example.test", ["mb@localhost"], body)
    rep = deliver(inst, "local", qid, "sender@example.test", ["mb@localhost"])
    is_(rep["r"][0][1], "sent", "mb sent")
    mbox = open(os.path.join(boxes, "mbox"), "rb").read()
    ok(mbox.startswith(b"From sender@example.test "), "mbox starts with the From_ line")
    like(mbox.decode(), "\n>From the start\n>>From quoted\n" if False else "\n>From the start\n>From quoted\n",
         "From_ quoted, >From kept")
    ok(mbox.endswith(b"last\n\n"), "mbox message ends with an empty line")

    # several targets and :include:
    qid = qwrite(inst, "s@example.test", ["team@localhost"], body)
    rep = deliver(inst, "local", qid, "s@example.test", ["team@localhost"])
    is_(rep["r"][0][1], "sent", "team sent")
    for sub in ("team1", "team2", "inc-box"):
        is_(len(maildir_files(os.path.join(boxes, sub))), 1, "team one copy in %s" % sub)
    # Postfix's local: one line per destination; a file destination under the alias address
    lines = [l for l in inst.log().splitlines() if ": %s: to=<" % qid in l]
    is_(len(lines), 3, "team: one delivery line per destination") or diag("\n".join(lines))
    ok(all(re.search(r"to=<team@localhost>, relay=local, .*status=sent \(delivered to file: %s/" % re.escape(boxes),
                     l) for l in lines), "team: each line names its file, to=<team@localhost>")

    # command destination
    qid = qwrite(inst, "s@example.test", ["pipe@localhost"], body)
    rep = deliver(inst, "local", qid, "s@example.test", ["pipe@localhost"])
    is_(rep["r"][0][1], "sent", "pipe sent")
    ok(os.path.exists(os.path.join(boxes, "piped.txt")) and
       open(os.path.join(boxes, "piped.txt"), "rb").read().endswith(body), "command got the message")

    # unknown user; unwritable Maildir; several recipients in one request
    qid = qwrite(inst, "s@example.test", ["nosuchuser55@localhost", "rofile@localhost"], body)
    rep = deliver(inst, "local", qid, "s@example.test", ["nosuchuser55@localhost", "rofile@localhost"])
    is_(rep["r"][0][1:3], ("bounced", "5.1.1"), "unknown user: bounced 5.1.1") or diag(rep)
    like(slot(inst, qid, 0), "bounced", "unknown user: slot bounced")
    is_(rep["r"][1][1], "deferred", "unwritable Maildir: deferred") or diag(rep)
    like(rep["r"][1][4], "Maildir", "deferral names the Maildir")
    is_(slot(inst, qid, 1), "pending", "deferred slot left to qmgr")

    # loop
    looped = b"Delivered-To: md@localhost\n" + body
    qid = qwrite(inst, "s@example.test", ["md@localhost"], looped)
    rep = deliver(inst, "local", qid, "s@example.test", ["md@localhost"])
    is_(rep["r"][0][1:3], ("bounced", "5.4.6"), "Delivered-To loop: bounced 5.4.6")

    # external address in an alias: a new message through cleanup
    qid = qwrite(inst, "s@example.test", ["ext@localhost"], body)
    rep = deliver(inst, "local", qid, "s@example.test", ["ext@localhost"])
    is_(rep["r"][0][1], "sent", "ext forwarded") or diag(rep)
    like(rep["r"][0][4], "forwarded as", "ext reply names the new queue id")
    ok(re.search(r": %s: to=<someone@remote.example>, orig_to=<ext@localhost>, relay=local, .*status=sent "
                 r"\(forwarded as \w+\)" % qid, inst.log()), "log: the forwarded address, orig_to=<ext@localhost>")

    # a queue file that does not exist: request-level error
    rep = deliver(inst, "local", "1NOSUCHFILE0000", "s@example.test", ["md@localhost"])
    is_(rep["status"], "error", "missing queue file: request error")

    if IS_ROOT:
        qid = qwrite(inst, "s@example.test", ["T55Alice@localhost"], body)
        rep = deliver(inst, "local", qid, "s@example.test", ["T55Alice@localhost"])
        is_(rep["r"][0][1], "sent", "user alice (case folded): sent") or diag(rep)
        files = maildir_files(os.path.join(alice.pw_dir, "Maildir"))
        is_(len(files), 1, "alice: one message in ~/Maildir/new")
        if files:
            st = os.stat(files[0])
            is_((st.st_uid, st.st_gid), (alice.pw_uid, alice.pw_gid), "alice's message owned by alice")
            is_(st.st_mode & 0o777, 0o600, "mode 0600")
        qid = qwrite(inst, "s@example.test", ["t55bob+ext@localhost"], body)
        rep = deliver(inst, "local", qid, "s@example.test", ["t55bob+ext@localhost"])
        is_(rep["r"][0][1], "sent", "bob+ext with .forward (\\bob and a command): sent") or diag(rep)
        uidf = os.path.join(bob.pw_dir, "uid.txt")
        ok(wait_for(lambda: os.path.exists(uidf), 5), "bob's command ran")
        if os.path.exists(uidf):
            is_(open(uidf).read().strip(), str(bob.pw_uid), "bob's command ran as bob")
        is_(len(maildir_files(os.path.join(bob.pw_dir, "Maildir"))), 1, "bob: \\bob kept a copy")
        qid = qwrite(inst, "s@example.test", ["t55carol@localhost"], body)
        rep = deliver(inst, "local", qid, "s@example.test", ["t55carol@localhost"])
        is_(rep["r"][0][1], "sent", "carol: .forward to alice")
        is_(len(maildir_files(os.path.join(alice.pw_dir, "Maildir"))), 2, "alice got carol's mail")
        is_(len(maildir_files(os.path.join(carol.pw_dir, "Maildir"))), 0, "carol kept nothing")
        qid = qwrite(inst, "s@example.test", ["group55@localhost"], body)
        rep = deliver(inst, "local", qid, "s@example.test", ["group55@localhost"])
        is_(rep["r"][0][1], "sent", "alias to two users: sent")
        is_(len(maildir_files(os.path.join(alice.pw_dir, "Maildir"))), 3, "alias: alice got it")
        for u in ("t55alice", "t55bob"):
            ok(re.search(r": %s: to=<%s@[^>]+>, orig_to=<group55@localhost>, relay=local, .*status=sent "
                         r"\(delivered to maildir\)" % (qid, u), inst.log()),
               "log: %s's own line with orig_to=<group55@localhost>" % u)
        # both mailboxes written in one agent process (no child per delivery):
        # each file owned by its user, and the agent is root again afterwards
        pids = set(re.findall(r"local\[(\d+)\]: %s: to=<t55(?:alice|bob)@" % qid, inst.log()))
        is_(len(pids), 1, "alice's and bob's deliveries logged by one local process") or diag(pids)
        for pw in (alice, bob):
            newest = max(maildir_files(os.path.join(pw.pw_dir, "Maildir")), key=os.path.getmtime)
            st = os.stat(newest)
            is_((st.st_uid, st.st_gid, st.st_mode & 0o777), (pw.pw_uid, pw.pw_gid, 0o600),
                "one agent: %s's new file owned by %s, mode 0600" % (pw.pw_name, pw.pw_name))
        if len(pids) == 1:
            with open("/proc/%s/status" % pids.pop()) as f:
                ids = dict(line.split(":", 1) for line in f if line.startswith(("Uid", "Gid")))
            is_((ids["Uid"].split(), ids["Gid"].split()), (["0"] * 4, ["0"] * 4),
                "the local process is root again (real, effective, saved, fs uid and gid)")
        held_before = set(os.listdir(inst.path("queue", "hold")))
        qid = qwrite(inst, "s@example.test", ["t55dave@localhost"], body)
        rep = deliver(inst, "local", qid, "s@example.test", ["t55dave@localhost"])
        is_(rep["r"][0][1], "sent", "dave: external .forward accepted") or diag(rep)
        like(rep["r"][0][4], "held", "dave: reply says the forward is held")
        held = set(os.listdir(inst.path("queue", "hold"))) - held_before
        is_(len(held), 1, "local_forward_external = no: a new message in hold/")
        like(inst.log(), "local_forward_external = no", "held forward logged with the reason")
        # a group-writable .forward is ignored
        os.chmod(os.path.join(carol.pw_dir, ".forward"), 0o664)
        qid = qwrite(inst, "s@example.test", ["t55carol@localhost"], body)
        rep = deliver(inst, "local", qid, "s@example.test", ["t55carol@localhost"])
        is_(len(maildir_files(os.path.join(carol.pw_dir, "Maildir"))), 1,
            "group-writable .forward ignored: carol's own Maildir")
        like(inst.log(), "ignoring %s/.forward" % carol.pw_dir, "ignored .forward logged")
        # Maildir not writable by the user: deferred 4.x
        md = os.path.join(alice.pw_dir, "Maildir", "tmp")
        os.chown(md, 0, 0)
        os.chmod(md, 0o755)
        qid = qwrite(inst, "s@example.test", ["t55alice@localhost"], body)
        rep = deliver(inst, "local", qid, "s@example.test", ["t55alice@localhost"])
        is_(rep["r"][0][1], "deferred", "alice's tmp/ not writable: deferred") or diag(rep)
    else:
        ok(True, "# SKIP real users (delivery as the user, .forward, alias to users) need root for useradd "
           "and setuid; t/55-local-mbox.t covers the running user's own mailbox")
    like(inst.log(), "status=sent", "Postfix-shape log line")
    like(inst.log(), "relay=local, delay=", "log line has relay and delay")
finally:
    inst.cleanup()
    if IS_ROOT:
        cleanup_users()
done()
