#!/usr/bin/python3
"""virtual: per-mailbox owners with virtual_uid_maps / virtual_gid_maps,
through the real virtual daemon (DELIVER requests on private/virtual).

Tables keyed by the mailbox address, then "@domain"; values a uid or a
user name (gid or group name); each mailbox is written by the agent
itself with its owner's effective ids, and the agent is root again
afterwards. An address without a uid entry and no virtual_uid is
deferred with the reason; uid 0 is refused; "static:UID" gives every
mailbox one owner through the table layer.

As root: two users made with useradd (removed at the end) own one
mailbox each. As an ordinary user the agent cannot change its uid: a map
to the user's own uid delivers, a map to another uid is deferred.
"""
import os
import pwd
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import useradd, IS_ROOT, Instance, diag, done, is_, like, ok, prog, run, skip_all, wait_for  # noqa: E402
from deliver_test import deliver, maildir_files, qwrite  # noqa: E402

for p in ("master", "virtual", "tern-qwrite", "ternconf"):
    if not os.access(prog(p), os.X_OK):
        skip_all("%s is not built" % p)

inst = Instance()
D = inst.dir
BASE = inst.path("vmail")
made = []


def mkuser(name):
    run(["userdel", name])
    r = useradd(name, "/nonexistent", "/usr/sbin/nologin")
    if r.returncode != 0:
        diag(r.stderr)
        return None
    made.append(name)
    return pwd.getpwnam(name)


def box(sub, owner):
    """BASE/sub, owned by owner (the Maildir inside is made by the delivery)."""
    path = os.path.join(BASE, sub)
    os.makedirs(path, exist_ok=True)
    if IS_ROOT:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    return os.path.join(path, "Maildir")


def send(rcpt):
    qid = qwrite(inst, "s@example.test", [rcpt], b"Subject: owners\n\nhello\n")
    return deliver(inst, "virtual", qid, "s@example.test", [rcpt])["r"][0]


try:
    if IS_ROOT:
        u1, u2 = mkuser("t56own1"), mkuser("t56own2")
        ok(u1 is not None and u2 is not None, "test users made")
    else:
        u1 = pwd.getpwuid(os.geteuid())
        u2 = pwd.getpwnam("nobody") if os.geteuid() != pwd.getpwnam("nobody").pw_uid else pwd.getpwnam("daemon")
    os.makedirs(BASE)
    os.chmod(BASE, 0o755)
    md1, md2 = box("owners.test/u1", u1), box("owners.test/u2", u2)
    md_other = box("other.test/any", u1)
    box("owners.test/u3", u2)
    box("owners.test/u4", u1)
    with open(inst.path("vboxes"), "w") as f:
        f.write("u1@owners.test owners.test/u1/Maildir/\nu2@owners.test owners.test/u2/Maildir/\n"
                "u3@owners.test owners.test/u3/Maildir/\nu4@owners.test owners.test/u4/Maildir/\n"
                "@other.test other.test/any/Maildir/\n")
    with open(inst.path("vuids"), "w") as f:
        f.write("u1@owners.test %s\nu2@owners.test %d\nu4@owners.test 0\n@other.test %s\n"
                % (u1.pw_name, u2.pw_uid, u1.pw_name))
    with open(inst.path("vgids"), "w") as f:
        f.write("u2@owners.test %d\n" % u2.pw_gid)
    r = run([prog("ternconf"), "-c", D, "-e", "virtual_mailbox_domains=demo.test, owners.test, other.test"])
    r2 = run([prog("ternconf"), "-c", D, "-e", "virtual_mailbox_maps=texthash:%s" % inst.path("vboxes")])
    ok(r.returncode == 0 and r2.returncode == 0, "ternconf -e virtual domains and mailbox maps") or \
        diag(r.stderr + r2.stderr)
    with open(inst.path("delivery.conf"), "a") as f:
        f.write("virtual_mailbox_base = %s\nvirtual_uid_maps = texthash:%s\nvirtual_gid_maps = texthash:%s\n"
                % (BASE, inst.path("vuids"), inst.path("vgids")))
    r = run([prog("ternconf"), "-c", D, "virtual_uid_maps", "virtual_gid_maps"])
    like(r.stdout, "virtual_uid_maps = texthash:", "ternconf knows virtual_uid_maps") or diag(r.stderr)
    ok(inst.start().returncode == 0, "instance started")
    ok(wait_for(lambda: os.path.exists(inst.path("queue", "private", "virtual"))), "private/virtual exists")

    r = send("u1@owners.test")
    is_(r[1:3], ("sent", "2.0.0"), "u1 (uid map by user name): sent") or diag(r)
    f = maildir_files(md1)
    is_(len(f), 1, "u1: one message")
    if f:
        st = os.stat(f[0])
        is_((st.st_uid, st.st_gid), (u1.pw_uid, u1.pw_gid), "u1's message written as u1 (primary group)")
    r = send("U1+tag@Owners.test")
    is_(r[1], "sent", "u1+tag, any case: the uid entry of u1@owners.test") or diag(r)

    r = send("u2@owners.test")
    if IS_ROOT:
        is_(r[1:3], ("sent", "2.0.0"), "u2 (numeric uid and gid maps): sent") or diag(r)
        f = maildir_files(md2)
        is_(len(f), 1, "u2: one message")
        if f:
            st = os.stat(f[0])
            is_((st.st_uid, st.st_gid), (u2.pw_uid, u2.pw_gid), "u2's message written as u2")
            is_(os.stat(md2).st_uid, u2.pw_uid, "u2's Maildir made as u2")
    else:
        is_(r[1], "deferred", "not root: a map to another uid is deferred") or diag(r)
        like(r[4], "does not run as root", "reason: the agent does not run as root")

    r = send("any@other.test")
    is_(r[1], "sent", "@domain entry of the uid map") or diag(r)
    is_(len(maildir_files(md_other)), 1, "other.test catch-all mailbox got it")

    r = send("u3@owners.test")
    is_(r[1:3], ("deferred", "4.3.5"), "no uid entry and no virtual_uid: deferred 4.3.5") or diag(r)
    like(r[4], "virtual_uid_maps has no entry for <u3@owners.test>", "reason names the address")
    r = send("u4@owners.test")
    is_(r[1], "deferred", "uid 0 in the map: deferred") or diag(r)
    like(r[4], "refusing to deliver as root", "reason: root refused")
    ok(not os.path.exists(os.path.join(BASE, "owners.test/u4/Maildir")), "nothing was written for uid 0")
    like(inst.log(), "relay=virtual, delay=", "Postfix-shape delivery lines")
    if IS_ROOT:
        # the mailboxes were written in the agent with u1's and u2's effective
        # ids (no child): the agents that wrote them are root again
        pids = set(re.findall(r"virtual\[(\d+)\]: \w+: to=<u[12]@owners\.test>", inst.log()))
        alive = [p for p in pids if os.path.exists("/proc/%s/status" % p)]
        ok(alive, "the virtual processes that wrote u1's and u2's mailboxes are running") or diag(pids)
        for p in alive:
            with open("/proc/%s/status" % p) as fh:
                ids = dict(line.split(":", 1) for line in fh if line.startswith(("Uid", "Gid")))
            is_((ids["Uid"].split(), ids["Gid"].split()), (["0"] * 4, ["0"] * 4),
                "virtual[%s] is root again (real, effective, saved, fs uid and gid)" % p)

    # static: one owner for every mailbox, through the table layer
    inst.stop()
    with open(inst.path("delivery.conf"), "a") as f:
        f.write("virtual_uid_maps = static:%d\nvirtual_gid_maps =\n" % u2.pw_uid)
    ok(inst.start().returncode == 0, "instance restarted with virtual_uid_maps = static:%d" % u2.pw_uid)
    ok(wait_for(lambda: os.path.exists(inst.path("queue", "private", "virtual"))), "private/virtual exists")
    r = send("u3@owners.test")
    if IS_ROOT:
        is_(r[1], "sent", "static uid map: u3 delivered") or diag(r)
        f = maildir_files(os.path.join(BASE, "owners.test/u3/Maildir"))
        ok(f and os.stat(f[0]).st_uid == u2.pw_uid, "u3's message written as the static uid")
    else:
        is_(r[1], "deferred", "not root: static map to another uid deferred") or diag(r)
finally:
    inst.cleanup()
    for u in made:
        run(["userdel", u])
done()
