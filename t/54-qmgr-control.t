#!/usr/bin/python3
"""54-qmgr-control - qmgr and the locks delivery agents hold, transport_maps
"hold:", and ternsuper's requests to a running qmgr.

A private instance with the real cleanup, qmgr, local and discard.
Checks: a queue file that some process holds with a shared flock (what a
delivery agent does while it works) is not scheduled until the lock is
gone, and then delivered once; "hold:reason" in transport_maps puts the
whole message in hold/ with the reason logged and no agent called;
ternsuper -d and -h of a message that local is delivering (an alias to a
|command that sleeps) are handed to qmgr, which acts only after the agent
has finished (the order of the log lines proves it).
"""
import fcntl
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, diag, done, is_, like, ok, prog, run, skip_all, wait_for  # noqa: E402
import tern_ipc  # noqa: E402

for p in ("master", "cleanup", "qmgr", "local", "discard", "ternctl", "ternsuper", "ternmap",
          "tern-qwrite"):
    if not os.access(prog(p), os.X_OK):
        skip_all("%s is not built" % p)

inst = Instance(keep=bool(os.environ.get("TERN_KEEP")))
Q = inst.path("queue")
BOXES = inst.path("boxes")
os.makedirs(BOXES)
os.chmod(BOXES, 0o1777)
STARTED = os.path.join(BOXES, "started")
with open(inst.path("transport"), "w") as f:
    f.write("drop.test discard:gone\nheld.test hold:waiting for review\ndead.test nosuch:\n")
with open(inst.path("aliases"), "w") as f:
    f.write("slow: \"|touch %s; sleep 4\"\n" % STARTED)
r = run([prog("ternmap"), "-c", inst.dir, "hash:" + inst.path("aliases")])
ok(r.returncode == 0, "aliases built") or diag(r.stderr)
with open(inst.path("qmgr.conf"), "a") as f:
    f.write("transport_maps = texthash:%s\nminimal_backoff_time = 3600s\nmaximal_backoff_time = 7200s\n"
            % inst.path("transport"))
with open(inst.path("delivery.conf"), "a") as f:
    f.write("command_time_limit = 30s\n")
r = inst.start()
ok(r.returncode == 0, "instance starts")


sock = inst.socket


ok(wait_for(lambda: sock("cleanup") and sock("qmgr") and sock("qmgr-control"), 10),
   "cleanup, qmgr and qmgr-control sockets exist")
CLIENT = tern_ipc.CleanupClient(sock("cleanup"))


def submit(rcpts):
    r = CLIENT.message(b"Subject: control test\r\n\r\nbody\r\n", rcpts=rcpts)
    if not r or r.get("status") != "ok":
        diag("cleanup said %r" % (r,))
        return None
    return r["queue_id"]


def where(qid):
    return inst.queue_where(qid)


def trigger(data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock("qmgr"))
    s.sendall(data)
    s.close()


def line_no(pattern):
    """Index of the first log line matching pattern, or None."""
    for i, line in enumerate(inst.log().splitlines()):
        if re.search(pattern, line):
            return i
    return None


# 1. a locked file is not scheduled until the lock is gone
r = subprocess.run([prog("tern-qwrite"), "-s", "l@client.test", "-r", "locked@drop.test",
                    os.path.join(Q, "incoming")], input="Subject: locked\n\nbody\n",
                   capture_output=True, text=True)
qid = r.stdout.strip()
path = os.path.join(Q, "incoming", qid)
st = os.stat(os.path.join(Q, "incoming"))
os.chown(path, st.st_uid, st.st_gid)
agent = os.open(path, os.O_RDWR)
fcntl.flock(agent, fcntl.LOCK_SH)
trigger(b"W")
ok(wait_for(lambda: "%s: queue file is locked by a delivery agent" % qid in inst.log(), 10),
   "qmgr sees the lock and logs that the message waits")
time.sleep(3)    # more than one retry interval (2 s) passes while the lock is held
ok("%s: to=<locked@drop.test>" % qid not in inst.log(), "nothing is handed to an agent while the lock is held")
is_(where(qid), ["active"], "the file waits in active/")
is_(inst.log().count("%s: queue file is locked" % qid), 1, "the wait is logged once")
os.close(agent)
ok(wait_for(lambda: "%s: removed" % qid in inst.log(), 10), "after the lock is gone the message is delivered")
is_(len(re.findall(r"%s: to=<locked@drop\.test>.*status=sent" % qid, inst.log())), 1, "exactly once")

# 2. transport_maps hold:reason
qid = submit(["a@drop.test", "b@held.test"])
ok(qid, "message for drop.test and held.test accepted")
ok(wait_for(lambda: where(qid) == ["hold"], 10), "hold: the message is moved to hold/")
like(inst.log(), "%s: placed on hold: transport_maps: <b@held.test>: waiting for review" % qid,
     "the reason is logged")
ok("%s: to=<" % qid not in inst.log(), "no recipient was handed to an agent, none was logged")
ok(not os.path.exists(os.path.join(Q, "private", "hold")) and "private/hold" not in inst.log(),
   "no agent named hold was called")
time.sleep(1)
is_(where(qid), ["hold"], "and it stays there")


# 3. ternsuper -d while local delivers it: qmgr deletes it after the agent is done
def slow_delivery(rcpts):
    if os.path.exists(STARTED):
        os.unlink(STARTED)
    q = submit(rcpts)
    ok(q and wait_for(lambda: os.path.exists(STARTED), 15), "local runs the slow command for %s" % q)
    return q


qid = slow_delivery(["slow@localhost"])
is_(where(qid), ["active"], "the message is in active/ while local works")
r = run([prog("ternsuper"), "-c", inst.dir, "-w", "30", "-d", qid], timeout=60)
is_(r.returncode, 0, "ternsuper -d exits 0 once qmgr has deleted it") or diag(r.stderr)
like(r.stderr, "%s: removed by qmgr" % qid, "ternsuper says qmgr did it")
is_(where(qid), [], "the file is gone")
asked = line_no(r"qmgr\[\d+\]: %s: delete requested" % qid)
sent = line_no(r"local\[\d+\]: %s: to=<slow@localhost>.*status=sent" % qid)
removed = line_no(r"qmgr\[\d+\]: %s: removed" % qid)
ok(asked is not None and sent is not None and removed is not None and asked < sent < removed,
   "order: delete requested, then the agent finished, then removed")

# 4. ternsuper -h while local delivers it: held after the agent is done
qid = slow_delivery(["slow@localhost", "later@dead.test"])
r = run([prog("ternsuper"), "-c", inst.dir, "-w", "30", "-h", qid], timeout=60)
is_(r.returncode, 0, "ternsuper -h exits 0 once qmgr has held it") or diag(r.stderr)
is_(where(qid), ["hold"], "the message is in hold/")
asked = line_no(r"qmgr\[\d+\]: %s: hold requested" % qid)
sent = line_no(r"local\[\d+\]: %s: to=<slow@localhost>.*status=sent" % qid)
held = line_no(r"qmgr\[\d+\]: %s: placed on hold: requested by ternsuper" % qid)
ok(asked is not None and sent is not None and held is not None and asked < sent < held,
   "order: hold requested, then the agent finished, then placed on hold")
r = run([prog("ternsuper"), "-c", inst.dir, "-H", qid])
is_(r.returncode, 0, "released with -H")
ok(wait_for(lambda: where(qid) == ["deferred"], 10), "the remaining recipient is tried and deferred again")
is_(len(re.findall(r"%s: to=<slow@localhost>.*status=sent" % qid, inst.log())), 1,
    "the recipient local delivered is not delivered again")

panics = [line for line in inst.log().splitlines() if "panic" in line or "fatal" in line]
is_(panics, [], "no panic or fatal in the log")
inst.stop()
done()
