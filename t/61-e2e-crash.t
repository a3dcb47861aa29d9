#!/usr/bin/python3
"""61-e2e-crash - crash safety of the whole path: batches of 500 messages
over SMTP in a few parallel sessions to one virtual mailbox, with qmgr
SIGKILLed three times during one batch and virtual SIGKILLed in the
middle of deliveries during another; master restarts them, and in the
end every message is in the Maildir exactly once (by Message-ID) and the
queue is empty: agents hold a lock on the queue file while they deliver,
and a restarted qmgr leaves locked files alone; an agent killed after its
Maildir write but before it recorded the recipient's slot is harmless too,
because Maildir deliveries are named by queue id and recipient index
(maildir.h, once_key) and the second attempt finds the first copy. Then the
same for local (as root, with a test user): local SIGKILLed during
deliveries.
"""
import glob
import os
import pwd
import re
import signal
import smtplib
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (useradd, IS_ROOT, Instance, children_of, diag, done, is_, ok, prog, run,  # noqa: E402
                       skip_all, wait_for)
from sendmail_test import all_queued  # noqa: E402
import tern_test  # noqa: E402

for p in ("master", "smtpd", "cleanup", "qmgr", "local", "virtual"):
    if not os.access(prog(p), os.X_OK):
        skip_all("%s is not built" % p)

N = 500
SESSIONS = 5
inst = Instance(keep=bool(os.environ.get("TERN_KEEP")))
D = inst.dir
PORT = inst.ports[0]
DEMO = inst.path("mail", "demo.test", "demo")
users = []


def pids(name):
    mp = inst.master_pid()
    out = []
    for p in children_of(mp) if mp else []:
        try:
            with open("/proc/%d/comm" % p) as f:
                if f.read().strip() == name:
                    out.append(p)
        except OSError:
            pass
    return out


def kill_one(name):
    for p in pids(name):
        try:
            os.kill(p, signal.SIGKILL)
            return p
        except ProcessLookupError:
            pass
    return None


def message_ids(maildir):
    ids = []
    for f in glob.glob(os.path.join(maildir, "new", "*")) + glob.glob(os.path.join(maildir, "cur", "*")):
        try:
            with open(f, "rb") as fh:
                head = fh.read(4096)
        except OSError:
            continue
        m = re.search(rb"^Message-ID: <([^>]+)>", head, re.M | re.I)
        ids.append(m.group(1).decode() if m else "?" + f)
    return ids


def submit(prefix, rcpt, first, last, errors):
    """Messages first..last-1 in one SMTP session (reconnect on failure)."""
    i = first
    while i < last:
        try:
            with smtplib.SMTP("127.0.0.1", PORT, timeout=60) as s:
                s.ehlo("client.test")
                while i < last:
                    msg = ("From: crash@client.test\r\nTo: %s\r\nSubject: crash %d\r\n"
                           "Message-ID: <%s-%d@client.test>\r\n\r\nmessage %d\r\n" % (rcpt, i, prefix, i, i))
                    s.sendmail("crash@client.test", [rcpt], msg)
                    i += 1
        except (smtplib.SMTPException, OSError) as e:
            errors.append("%d: %s" % (i, e))
            if len(errors) > 50:
                return
            time.sleep(0.2)


def run_batch(prefix, rcpt, maildir, victims):
    """Submit N messages in parallel sessions while killing the victims;
    then check every Message-ID is in maildir exactly once: the queue-file
    lock covers qmgr kills, idempotent Maildir names cover agent kills."""
    errors = []
    base = len(message_ids(maildir))
    step = N // SESSIONS
    threads = [threading.Thread(target=submit, args=(prefix, rcpt, k * step, (k + 1) * step, errors))
               for k in range(SESSIONS)]
    for t in threads:
        t.start()
    killed = {}
    for name, at in victims:
        # kill when about `at` messages are delivered, while mail still flows
        wait_for(lambda: len(message_ids(maildir)) - base >= at and pids(name), 60)
        p = kill_one(name)
        killed.setdefault(name, []).append(p)
        diag("SIGKILL %s pid %s at %d delivered" % (name, p, len(message_ids(maildir)) - base))
    for t in threads:
        t.join(120)
    ok(not errors, "%s: all %d messages accepted over SMTP (%d sessions)" % (prefix, N, SESSIONS))
    if errors:
        diag("\n".join(errors[:10]))
    for name, ps in killed.items():
        ok(all(ps), "%s: %s was killed %d time(s) during the run" % (prefix, name, len(ps)))
    want = {"%s-%d@client.test" % (prefix, i) for i in range(N)}
    got = wait_for(lambda: want <= set(message_ids(maildir)) and all_queued(D) == [], 90, 0.3)
    ids = [i for i in message_ids(maildir) if i.startswith(prefix + "-")]
    ok(got, "%s: every message delivered and the queue empty after the restarts" % prefix)
    missing = want - set(ids)
    if missing:
        diag("missing %d, e.g. %s; queue: %s" % (len(missing), sorted(missing)[:5], all_queued(D)[:5]))
    dup = sorted({i for i in ids if ids.count(i) > 1})
    ok(dup == [], "%s: no message delivered twice" % prefix)
    ok(len(ids) == N, "%s: exactly %d files in the Maildir" % (prefix, N))
    if dup:
        diag("delivered twice: %s" % dup[:10])


try:
    inst.conf("minimal_backoff_time", "1s", "qmgr.conf")
    inst.conf("maximal_backoff_time", "2s", "qmgr.conf")
    inst.conf("queue_run_delay", "1s", "qmgr.conf")
    if IS_ROOT:
        # a name of this run only: two runs at once must not share a home (useradd/userdel)
        name = "t61u%d" % (os.getpid() % 1000000)
        home = inst.path("home", name)
        os.makedirs(os.path.dirname(home), exist_ok=True)
        os.chmod(os.path.dirname(home), 0o755)
        run(["userdel", name])
        if useradd(name, home).returncode == 0:
            users.append(name)
            pw = pwd.getpwnam(name)
            os.makedirs(home)
            os.chown(home, pw.pw_uid, pw.pw_gid)
    r = inst.start()
    ok(r.returncode == 0 and wait_for(lambda: pids("qmgr"), 10), "instance started, qmgr running")
    qmgr0 = pids("qmgr")

    t0 = time.time()
    run_batch("q", "demo@demo.test", DEMO, [("qmgr", 60), ("qmgr", 200), ("qmgr", 350)])
    ok(pids("qmgr") and pids("qmgr") != qmgr0, "master restarted qmgr")
    diag("qmgr batch: %.1fs" % (time.time() - t0))
    t0 = time.time()
    run_batch("v", "demo@demo.test", DEMO, [("virtual", 150), ("virtual", 350)])
    diag("virtual batch: %.1fs" % (time.time() - t0))
    log = inst.log()
    ok(re.search(r"master\[\d+\]: .*qmgr.*(signal|killed|9)", log), "master logged the killed qmgr")

    if not users:
        ok(True, "# SKIP local users need root (useradd)")
    else:
        t0 = time.time()
        run_batch("l", name + "@localhost", os.path.join(home, "Maildir"),
                  [("local", 100), ("local", 350)])
        diag("local batch: %.1fs" % (time.time() - t0))
    panics = [l for l in inst.log().splitlines() if "panic" in l or "fatal" in l]
    is_(panics, [], "no panic or fatal in the log")
finally:
    inst.cleanup()
    for u in users:
        run(["userdel", u])

done()
