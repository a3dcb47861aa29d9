#!/usr/bin/python3
"""qmgr with the error and discard agents, on a private instance.

Messages go in through the real cleanup (t/lib/tern_ipc.py) or, for
hold/ and timed/, are written with t/qfile tools; transport_maps routes
them to discard:, error: or a transport that does not exist. Checks: the
log lines, removal, defer/ and bounce/ reason files, deferral and retry
after the back-off, rerouting plus flush, hold/ left alone, timed/
released when due, and SIGKILL of qmgr in the middle of 500 messages
(each delivered exactly once after the restart).
"""
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, diag, done, is_, like, ok, prog, skip_all, wait_for, children_of, alive  # noqa: E402
import tern_ipc  # noqa: E402

for p in ("master", "cleanup", "qmgr", "discard", "error", "ternctl", "tern-qwrite", "tern-qgen"):
    if not os.path.exists(prog(p)):
        skip_all("%s is not built" % p)

inst = Instance()
Q = inst.path("queue")
TRANSPORT = inst.path("transport")


def write_transport(text):
    with open(TRANSPORT, "w") as f:
        f.write(text)


write_transport("drop.test discard:gone\n"
                "err.test error:5.1.1 no such user\n"
                "err2.test error:\n"
                "dead.test nosuch:\n")
with open(inst.path("qmgr.conf"), "a") as f:
    f.write("transport_maps = texthash:%s\n"
            "minimal_backoff_time = 2s\nmaximal_backoff_time = 4s\nqueue_run_delay = 1s\n" % TRANSPORT)
r = inst.start()
ok(r.returncode == 0, "instance starts")


sock = inst.socket


ok(wait_for(lambda: sock("cleanup") and sock("qmgr"), 10), "cleanup and qmgr sockets exist")


def trigger(data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock("qmgr"))
    s.sendall(data)
    s.close()


CLIENT = tern_ipc.CleanupClient(sock("cleanup"))


def submit(rcpts, **kw):
    r = CLIENT.message(b"Subject: qmgr test\r\n\r\nbody\r\n", rcpts=rcpts, **kw)
    if not r or r.get("status") != "ok":
        diag("cleanup said %r" % (r,))
        return None
    return r["queue_id"]


def where(qid):
    return inst.queue_where(qid)


def reasons(kind, qid):
    try:
        with open(os.path.join(Q, kind, qid)) as f:
            return [line.rstrip("\n").split("\t") for line in f]
    except OSError:
        return []


def qmgr_pid():
    return inst.daemon_pid("qmgr")


def owner_chown(path):
    st = os.stat(os.path.join(Q, "incoming"))
    os.chown(path, st.st_uid, st.st_gid)


# 1. discard
qid = submit(["a@drop.test"])
ok(qid, "message to drop.test accepted")
ok(wait_for(lambda: "%s: removed" % qid in inst.log(), 10), "discard: the queue file is removed")
log = inst.log()
like(log, "%s: from=<sender@client.test>, size=" % qid, "qmgr logs from= (queue active)")
ok(re.search(r"%s: from=<sender@client\.test>, size=\d+, nrcpt=1 \(queue active\)" % qid, log),
   "from= line in the Postfix shape")
ok(re.search(r"%s: to=<a@drop\.test>, relay=none, delay=[\d.e+-]+, delays=[\d.e+-]+/[\d.e+-]+/0/[\d.e+-]+, "
             r"dsn=2\.0\.0, status=sent \(discarded: gone\)" % qid, log), "discard logs status=sent (discarded: gone)")
is_(where(qid), [], "discard: no file left in any queue directory")
ok(not os.path.exists(os.path.join(Q, "defer", qid)), "discard: no defer log")

# 2. error, NOTIFY=NEVER: bounced, no notice owed, removed
qid = submit(["b@err.test"], notify=[tern_ipc.NOTIFY_NEVER])
ok(wait_for(lambda: "%s: removed" % qid in inst.log(), 10), "error, NOTIFY=NEVER: removed")
ok(re.search(r"%s: to=<b@err\.test>, relay=none, .*dsn=5\.1\.1, status=bounced \(no such user\)" % qid,
             inst.log()), "error: dsn from the text, status=bounced")
is_(where(qid), [], "error: no file left")

# 3. error with the default NOTIFY: the failure notice is owed
qid = submit(["c@err2.test"])
ok(wait_for(lambda: re.search(r"%s: (sender failure notification|.*failure notice not sent)" % qid,
                              inst.log()), 10), "error: a failure notice is asked of bounce")
ok(re.search(r"%s: to=<c@err2\.test>, .*dsn=5\.0\.0, status=bounced \(delivery refused by the error transport\)"
             % qid, inst.log()), "error: empty text gives 5.0.0 and a default reason")
if "notice not sent" in inst.log():
    ok(wait_for(lambda: where(qid) == ["deferred"], 5), "bounce unreachable: the file is kept in deferred")
    lines = reasons("bounce", qid)
    ok(lines and lines[0][0] == "0" and lines[0][1] == "5.0.0" and lines[0][3] == "none"
       and lines[0][4] == "delivery refused by the error transport", "bounce/QID holds the reason line")
else:
    ok(wait_for(lambda: "%s: removed" % qid in inst.log(), 10), "notice sent: the file is removed")
    ok(True, "bounce reachable")

# 4. double bounce: logged and dropped
qid = submit(["d@err.test"], sender="", extra=[("dsn_kind", "double")])
if qid:
    ok(wait_for(lambda: "%s: removed" % qid in inst.log(), 10), "double bounce: removed")
    like(inst.log(), "%s: undeliverable postmaster notification discarded" % qid, "double bounce: logged")

# 5. unreachable transport: deferred with the reason, retried after the back-off
dead = submit(["e@dead.test"])
ok(wait_for(lambda: where(dead) == ["deferred"], 10), "unreachable transport: the message is deferred")
like(inst.log(), "%s: to=<e@dead.test>, relay=none" % dead, "qmgr logs the deferral itself")
ok(re.search(r"%s: to=<e@dead\.test>, relay=none, delay=[\d.]+, delays=[\d.]+/[\d.]+/0/0, dsn=4\.3\.0, "
             r"status=deferred \(connect to private/nosuch: No such file or directory\)" % dead, inst.log()),
   "status=deferred with the connect error")
lines = reasons("defer", dead)
ok(lines and lines[0][1] == "4.3.0" and "private/nosuch" in lines[0][4], "defer/QID holds the reason")
ok(wait_for(lambda: len(re.findall(r"%s: to=<e@dead\.test>.*status=deferred" % dead, inst.log())) >= 2, 15),
   "retried after the back-off")

# 6. hold/ is never scheduled
subprocess.run([prog("tern-qgen"), os.path.join(Q, "hold"), "1", "h@drop.test"], check=True)
held = [n for n in os.listdir(os.path.join(Q, "hold"))][0]
owner_chown(os.path.join(Q, "hold", held))

# 7. timed/: released when due
rel = int(time.time()) + 3
r = subprocess.run([prog("tern-qwrite"), "-s", "t@client.test", "-r", "t@drop.test",
                    "-a", "release_time=%d" % rel, os.path.join(Q, "incoming")],
                   input="Subject: timed\n\nbody\n", capture_output=True, text=True)
timed = r.stdout.strip()
owner_chown(os.path.join(Q, "incoming", timed))
trigger(b"W")
ok(wait_for(lambda: where(timed) == ["timed"], 10), "a future release_time waits in timed/")
ok("%s: removed" % timed not in inst.log(), "and is not delivered before it is due")
ok(wait_for(lambda: "%s: removed" % timed in inst.log(), 15), "timed: delivered once due")
ok(time.time() >= rel, "not before release_time")

# 8. reroute and flush: the deferred message is delivered
write_transport("drop.test discard:gone\ndead.test discard:revived\n")
pid = qmgr_pid()
ok(pid, "qmgr runs")
if pid:
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), 10)
trigger(b"F")
ok(wait_for(lambda: "%s: removed" % dead in inst.log(), 15), "after rerouting and a flush the deferred message is delivered")
like(inst.log(), "%s: to=<e@dead.test>, relay=none" % dead, "")
ok(re.search(r"%s: to=<e@dead\.test>.*status=sent \(discarded: revived\)" % dead, inst.log()), "by the new route")
ok(not os.path.exists(os.path.join(Q, "defer", dead)), "defer/QID removed with the message")
is_(os.listdir(os.path.join(Q, "hold")), [held], "hold/ untouched after flushes")
ok(held not in inst.log(), "the held message never appears in the log")

# 9. SIGKILL qmgr during a run of 500 messages: each delivered exactly once
ids = []
for i in range(500):
    ids.append(submit(["k%d@drop.test" % i]))
ok(all(ids), "500 messages accepted")
ok(wait_for(lambda: inst.log().count(": removed") > 60, 20), "qmgr is working through them")
pid = qmgr_pid()
if pid:
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), 10)
ok(pid and not alive(pid), "qmgr killed with SIGKILL in the middle")
trigger(b"W")
ok(wait_for(lambda: all("%s: removed" % q in inst.log() for q in ids), 40), "after the restart every message is removed")
log = inst.log()
counts = {}
for m in re.finditer(r"(\w+): to=<k\d+@drop\.test>.*status=sent", log):
    counts[m.group(1)] = counts.get(m.group(1), 0) + 1
bad = [q for q in ids if counts.get(q) != 1]
is_(bad, [], "each of the 500 was discarded exactly once")
is_([d for d in ("active", "incoming") if os.listdir(os.path.join(Q, d))], [], "active/ and incoming/ are empty")

inst.stop()
done()
