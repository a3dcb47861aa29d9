#!/usr/bin/python3
"""qmgr start-up with a large deferred queue, and per-site flush.

20,000 deferred messages (written by t/qfile/tern-qgen, due in an hour;
scaled down from 100,000 to keep the test well under a minute: writing
them costs about 0.7 ms each) must not delay new mail: after a qmgr
(re)start, a new message is delivered within a few seconds while the
deferred scan is still going on. "F near.test" then delivers only the
deferred mail for near.test, and the rest stays deferred.
"""
import os
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, diag, done, is_, ok, prog, skip_all, wait_for  # noqa: E402
import tern_ipc  # noqa: E402

N = 20000
for p in ("master", "cleanup", "qmgr", "discard", "ternctl", "tern-qgen"):
    if not os.path.exists(prog(p)):
        skip_all("%s is not built" % p)

inst = Instance()
Q = inst.path("queue")
with open(inst.path("transport"), "w") as f:
    f.write("drop.test discard:new\nnear.test discard:flushed\nfar.test discard:far\n")
with open(inst.path("qmgr.conf"), "a") as f:
    f.write("transport_maps = texthash:%s\nminimal_backoff_time = 1h\nqueue_run_delay = 1s\n"
            % inst.path("transport"))

due = str(int(time.time()) + 3600)
deferred = os.path.join(Q, "deferred")
subprocess.run([prog("tern-qgen"), "-n", deferred, str(N), "x@far.test", due], check=True)
subprocess.run([prog("tern-qgen"), deferred, "3", "y@near.test", due], check=True)
st = os.stat(os.path.join(Q, "incoming"))
near = []
for name in os.listdir(deferred):
    os.chown(os.path.join(deferred, name), st.st_uid, st.st_gid)
is_(len(os.listdir(deferred)), N + 3, "%d deferred messages written" % (N + 3))

r = inst.start()
ok(r.returncode == 0, "instance starts")


sock = inst.socket


ok(wait_for(lambda: sock("cleanup") and sock("qmgr"), 10), "sockets exist")
t0 = time.time()
client = tern_ipc.CleanupClient(sock("cleanup"))
res = client.message(b"Subject: new\r\n\r\nbody\r\n", rcpts=["n@drop.test"])
qid = res and res.get("queue_id")
ok(qid, "a new message is accepted")
ok(wait_for(lambda: "%s: removed" % qid in inst.log(), 60), "and delivered while the deferred messages wait")
diag("new mail delivered %.2f s after qmgr's start (make bench measures this over 100,000)" % (time.time() - t0))
is_(len(os.listdir(deferred)), N + 3, "the deferred messages that are not due stay deferred")


def trigger(data):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sock("qmgr"))
    s.sendall(data)
    s.close()


trigger(b"F near.test")
ok(wait_for(lambda: len(re.findall(r"status=sent \(discarded: flushed\)", inst.log())) == 3, 30),
   "F near.test delivers the 3 messages for near.test")
ok(wait_for(lambda: len(os.listdir(deferred)) == N, 10), "and leaves the %d others deferred" % N)
ok("discarded: far" not in inst.log(), "no far.test message was tried")

inst.stop()
done()
