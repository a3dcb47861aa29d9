#!/usr/bin/python3
"""local: the user's own mailbox without home_mailbox, through the real
local daemon (DELIVER requests on private/local):

- mail_spool_directory: home_mailbox empty puts mail in an mbox named
  after the user in the spool directory, created with the user's
  ownership and mode 0600; local honours a dot-lock (USER.lock) and an
  fcntl lock held by someone else (waits, then delivers); as root the
  spool directory need not be writable by the user (local creates the
  file and the dot-lock as root, and writes as the user);
- mailbox_command: run as the user by /bin/sh -c, the message with a
  From_ line on standard input, a clean environment (HOME, USER, ...,
  RECIPIENT, EXTENSION), exit codes mapped as Postfix's local does
  (0 sent, 75 deferred, 67 bounced 5.1.1, other bounced 5.3.0, "X.Y.Z
  text" output wins, a signal defers, command_time_limit bounces).

As root the mailbox belongs to a test user made with useradd (removed at
the end); as an ordinary user it is that user's own mailbox.
"""
import fcntl
import os
import pwd
import re
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import useradd, IS_ROOT, Instance, diag, done, is_, like, ok, prog, run, skip_all, wait_for  # noqa: E402
from deliver_test import deliver, qwrite  # noqa: E402

for p in ("master", "local", "tern-qwrite"):
    if not os.access(prog(p), os.X_OK):
        skip_all("%s is not built" % p)

inst = Instance()
D = inst.dir
SPOOL = inst.path("spool")
made_user = None


def mkuser(name):
    home = inst.path("home", name)
    os.makedirs(home, exist_ok=True)
    os.chmod(os.path.dirname(home), 0o755)
    run(["userdel", name])
    r = useradd(name, home)
    if r.returncode != 0:
        diag(r.stderr)
        return None
    pw = pwd.getpwnam(name)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    return pw


def deliver_bg(qid, rcpt, result):
    """deliver() in a thread: result[0] gets the reply."""
    result.append(deliver(inst, "local", qid, "s@example.test", [rcpt]))


try:
    if IS_ROOT:
        user = made_user = mkuser("t55mbox")
        ok(user is not None, "test user t55mbox made")
    else:
        user = pwd.getpwuid(os.geteuid())
    name = user.pw_name
    os.makedirs(SPOOL)
    os.chmod(SPOOL, 0o755)          # as root: the user cannot create files here
    mbox = os.path.join(SPOOL, name)
    with open(inst.path("delivery.conf"), "a") as f:
        f.write("home_mailbox =\nmail_spool_directory = %s\n" % SPOOL)
    ok(inst.start().returncode == 0, "instance started (home_mailbox empty, private spool)")
    ok(wait_for(lambda: os.path.exists(inst.path("queue", "private", "local"))), "private/local exists")

    body = b"Subject: spool\nFrom: a@example.test\n\nline\nFrom the start\nend\n"
    rcpt = "%s@localhost" % name
    qid = qwrite(inst, "s@example.test", [rcpt], body)
    rep = deliver(inst, "local", qid, "s@example.test", [rcpt])
    is_(rep["r"][0][1:3], ("sent", "2.0.0"), "spool mbox: sent") or diag(rep)
    like(rep["r"][0][4], "delivered to mailbox", "reply says mailbox")
    ok(os.path.isfile(mbox), "the mbox is SPOOL/%s" % name)
    if os.path.isfile(mbox):
        st = os.stat(mbox)
        is_((st.st_uid, st.st_gid), (user.pw_uid, user.pw_gid), "the mbox belongs to the user")
        is_(st.st_mode & 0o777, 0o600, "the mbox has mode 0600")
        data = open(mbox, "rb").read()
        ok(data.startswith(b"From s@example.test "), "From_ line first")
        like(data.decode(), "\nReturn-Path: <s@example.test>\nDelivered-To: %s\n" % rcpt,
             "Return-Path and Delivered-To")
        like(data.decode(), "\n>From the start\n", "From_ quoting in the body")
    ok(not os.path.exists(mbox + ".lock"), "no dot-lock left behind")

    # a dot-lock held by someone else: local waits for it
    before = open(mbox, "rb").read().count(b"\nFrom s@example.test ") + 1
    open(mbox + ".lock", "w").close()
    qid = qwrite(inst, "s@example.test", [rcpt], b"Subject: after the dot-lock\n\nx\n")
    res = []
    t = threading.Thread(target=deliver_bg, args=(qid, rcpt, res))
    t.start()
    time.sleep(1.5)
    ok(b"after the dot-lock" not in open(mbox, "rb").read() and not res,
       "while SPOOL/USER.lock exists nothing is written")
    os.unlink(mbox + ".lock")
    t.join(60)
    ok(res and res[0]["r"][0][1] == "sent", "delivered once the dot-lock is gone") or diag(res)
    ok(b"after the dot-lock" in open(mbox, "rb").read(), "the message is in the mbox")

    # an fcntl lock held by someone else: local waits for it
    f = open(mbox, "r+b")
    fcntl.lockf(f, fcntl.LOCK_EX)
    qid = qwrite(inst, "s@example.test", [rcpt], b"Subject: after the fcntl lock\n\nx\n")
    res = []
    t = threading.Thread(target=deliver_bg, args=(qid, rcpt, res))
    t.start()
    time.sleep(1.5)
    ok(b"after the fcntl lock" not in open(mbox, "rb").read() and not res,
       "while an fcntl lock is held nothing is written")
    fcntl.lockf(f, fcntl.LOCK_UN)
    f.close()
    t.join(60)
    ok(res and res[0]["r"][0][1] == "sent", "delivered once the fcntl lock is released") or diag(res)
    data = open(mbox, "rb").read()
    is_(data.count(b"\nFrom s@example.test ") + 1, before + 2, "each message once, whole")
    like(inst.log(), "to=<%s>, relay=local, " % rcpt, "Postfix-shape delivery line")

    # mailbox_command
    inst.stop()
    out = inst.path("cmdout")
    os.makedirs(out)
    os.chmod(out, 0o1777)
    script = inst.path("cmd.sh")
    with open(script, "w") as f:
        f.write("""mode=$(cat %(d)s/mode)
env > %(o)s/env.txt
id -u > %(o)s/uid.txt
cat > %(o)s/stdin.txt
case "$mode" in
ok) exit 0 ;;
tempfail) echo "try later"; exit 75 ;;
nouser) exit 67 ;;
fail) echo "it broke"; exit 1 ;;
dsn) echo "4.2.2 mailbox is over its quota"; exit 1 ;;
signal) kill -TERM $PPID $$ ;;
slow) sleep 30 ;;
esac
""" % {"d": D, "o": out})
    os.chmod(script, 0o644)
    with open(inst.path("delivery.conf"), "a") as f:
        f.write("mailbox_command = /bin/sh %s\ncommand_time_limit = 3s\n" % script)
    ok(inst.start().returncode == 0, "instance restarted with mailbox_command")
    ok(wait_for(lambda: os.path.exists(inst.path("queue", "private", "local"))), "private/local exists")

    def cmd_deliver(mode, rcpt_addr):
        with open(inst.path("mode"), "w") as f:
            f.write(mode + "\n")
        os.chmod(inst.path("mode"), 0o644)
        q = qwrite(inst, "s@example.test", [rcpt_addr], body)
        return deliver(inst, "local", q, "s@example.test", [rcpt_addr])["r"][0]

    ext_rcpt = "%s+box@localhost" % name
    r = cmd_deliver("ok", ext_rcpt)
    is_(r[1:3], ("sent", "2.0.0"), "mailbox_command exit 0: sent") or diag(r)
    like(r[4], "delivered to command", "reply names the command")
    size_before = os.path.getsize(mbox)
    is_(open(os.path.join(out, "uid.txt")).read().strip(), str(user.pw_uid), "the command ran as the user")
    stdin = open(os.path.join(out, "stdin.txt"), "rb").read()
    ok(stdin.startswith(b"From s@example.test "), "standard input starts with the From_ line")
    ok(stdin.endswith(b"Return-Path: <s@example.test>\nDelivered-To: %s\n" % ext_rcpt.encode() + body),
       "then Return-Path, Delivered-To and the message as it is (no From_ quoting)")
    env = dict(l.split("=", 1) for l in open(os.path.join(out, "env.txt")).read().splitlines() if "=" in l)
    want = {"HOME": user.pw_dir, "USER": name, "LOGNAME": name, "SHELL": user.pw_shell or "/bin/sh",
            "PATH": "/usr/bin:/bin", "SENDER": "s@example.test", "RECIPIENT": ext_rcpt,
            "ORIGINAL_RECIPIENT": ext_rcpt, "LOCAL": name + "+box", "DOMAIN": "localhost",
            "EXTENSION": "box"}
    is_({k: env.get(k) for k in want}, want, "the command's environment")
    extra = set(env) - set(want) - {"PWD", "SHLVL", "_", "OLDPWD"}
    is_(sorted(extra), [], "nothing else in the environment")
    is_(os.path.getsize(mbox), size_before, "mailbox_command replaces the mbox delivery")

    r = cmd_deliver("tempfail", rcpt)
    is_(r[1:3], ("deferred", "4.3.0"), "exit 75 (EX_TEMPFAIL): deferred 4.3.0") or diag(r)
    like(r[4], "try later", "the command's output is in the reason")
    r = cmd_deliver("nouser", rcpt)
    is_(r[1:3], ("bounced", "5.1.1"), "exit 67 (EX_NOUSER): bounced 5.1.1") or diag(r)
    r = cmd_deliver("fail", rcpt)
    is_(r[1:3], ("bounced", "5.3.0"), "exit 1: bounced 5.3.0") or diag(r)
    like(r[4], "Command died with status 1", "reason says the status")
    like(r[4], "it broke", "reason has the output")
    r = cmd_deliver("dsn", rcpt)
    is_(r[1:3], ("deferred", "4.2.2"), "output \"4.2.2 text\": that code, deferred") or diag(r)
    like(r[4], "over its quota", "reason is the command's text")
    r = cmd_deliver("signal", rcpt)
    is_(r[1:3], ("deferred", "4.3.0"), "killed by a signal: deferred") or diag(r)
    like(r[4], "signal 15", "reason names the signal")
    r = cmd_deliver("slow", rcpt)
    is_(r[1:3], ("bounced", "5.3.0"), "past command_time_limit: bounced 5.3.0") or diag(r)
    like(r[4], "time limit", "reason says time limit")
    ok(re.search(r"to=<%s>, relay=local, .*status=sent \(delivered to command: /bin/sh " % re.escape(ext_rcpt),
                 inst.log()), "log line for the command delivery")
finally:
    inst.cleanup()
    if made_user:
        run(["userdel", made_user.pw_name])
done()
