#!/usr/bin/python3
"""qmgr's fresh messages (qmgr/qmgr_fresh.c) and reason files.

qmgr removes defer/QID and bounce/QID only for a message that may have
them, and tests the lock only of a message that is not fresh. Checks, on
a private instance with the discard agent and a transport whose socket
does not exist yet: a fresh message is delivered and leaves no reason
file; a message deferred in this qmgr's life and requeued by ternsuper
to incoming/ is not fresh, so its defer/QID goes with it when it is
delivered; the same after qmgr was killed with SIGKILL (a new qmgr);
and after all that no reason file and no queue file is left.
"""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, children_of, alive, diag, done, ok, prog, skip_all, wait_for  # noqa: E402
import tern_ipc  # noqa: E402

for p in ("master", "cleanup", "qmgr", "discard", "ternctl", "ternsuper"):
    if not os.path.exists(prog(p)):
        skip_all("%s is not built" % p)

inst = Instance()
Q = inst.path("queue")
TRANSPORT = inst.path("transport")
with open(TRANSPORT, "w") as f:
    f.write("drop.test discard:gone\nlater.test later:\n")
with open(inst.path("qmgr.conf"), "a") as f:
    # deferred mail stays in deferred/ until the test requeues it
    f.write("transport_maps = texthash:%s\n"
            "minimal_backoff_time = 300s\nmaximal_backoff_time = 600s\nqueue_run_delay = 300s\n"
            "default_destination_concurrency_failed_cohort_limit = 1000\n" % TRANSPORT)
r = inst.start()
ok(r.returncode == 0, "instance starts")
sock = inst.socket
ok(wait_for(lambda: sock("cleanup") and sock("qmgr") and sock("discard"), 10),
   "cleanup, qmgr and discard sockets exist")
CLIENT = tern_ipc.CleanupClient(sock("cleanup"))


def submit(rcpt):
    r = CLIENT.message(b"Subject: fresh test\r\n\r\nbody\r\n", rcpts=[rcpt])
    if not r or r.get("status") != "ok":
        diag("cleanup said %r" % (r,))
        return None
    return r["queue_id"]


def where(qid):
    return inst.queue_where(qid)


def reason_files(qid):
    return [d for d in ("defer", "bounce") if os.path.exists(os.path.join(Q, d, qid))]


def removed(qid):
    return "%s: removed" % qid in inst.log()


def ternsuper(*args):
    return subprocess.run([prog("ternsuper"), "-c", inst.dir] + list(args), capture_output=True,
                          text=True, timeout=60)


def qmgr_pid():
    return inst.daemon_pid("qmgr")


def deferred_with_reason(rcpt):
    """A message to later.test (no socket yet): deferred, with its defer/QID."""
    qid = submit(rcpt)
    ok(qid and wait_for(lambda: where(qid) == ["deferred"], 10), "%s: deferred" % rcpt)
    ok(reason_files(qid) == ["defer"], "%s: defer/QID written" % rcpt)
    return qid


# 1. a fresh message: delivered, no reason file (none was ever written)
fresh = submit("a@drop.test")
ok(fresh and wait_for(lambda: removed(fresh), 10), "fresh message delivered and removed")
ok(fresh and reason_files(fresh) == [] and where(fresh) == [], "nothing of it is left")
time.sleep(1.2)			# qmgr runs now: later queue ids are from after its start second

# 2. deferred in this qmgr's life, then requeued to incoming/: not fresh
m2 = deferred_with_reason("b@later.test")
m3 = deferred_with_reason("c@later.test")
# the later transport appears: its socket is discard's
os.symlink("discard", os.path.join(Q, "private", "later"))
r = ternsuper("-r", m2)
ok(r.returncode == 0, "ternsuper -r of the deferred message")
ok(wait_for(lambda: removed(m2), 10), "requeued message delivered and removed")
ok(reason_files(m2) == [], "its defer/QID is removed with it")

# 3. the same after qmgr was killed: a new qmgr, the message is older than it
pid = qmgr_pid()
ok(pid, "qmgr runs")
if pid:
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not alive(pid), 10)
r = ternsuper("-r", m3)
ok(r.returncode == 0, "ternsuper -r with qmgr killed")
ok(wait_for(lambda: removed(m3), 15), "the new qmgr delivers it")
ok(reason_files(m3) == [], "and removes its defer/QID")

# 4. a message new to the new qmgr is fresh again; nothing is left behind
m4 = submit("d@drop.test")
ok(m4 and wait_for(lambda: removed(m4), 10), "a new message after the restart is delivered")
ok(m4 and reason_files(m4) == [], "without reason files")
left = [n for d in ("defer", "bounce", "incoming", "active", "deferred") for n in os.listdir(os.path.join(Q, d))]
ok(left == [], "defer/, bounce/, incoming/, active/ and deferred/ are empty (%s)" % " ".join(left))

inst.stop()
done()
