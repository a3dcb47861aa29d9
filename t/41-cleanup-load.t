#!/usr/bin/python3
"""41-cleanup-load - many sources at once.

20 connections in parallel, each sending several messages one after the
other (as smtpd processes do) while content of others is still streaming:
every message gets "ok", all queue ids are distinct, every file in
incoming/ is complete and passes terncat's checks (envelope and content
checksums), and the log has one from= line per message. The rate is
printed for information only; it is not asserted (the machine is shared).
"""
import os
import re
import stat
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, diag, done, is_, ok, prog, run, skip_all, wait_for  # noqa: E402
import tern_ipc as I  # noqa: E402

if not os.access(prog("cleanup"), os.X_OK) or not os.access(prog("terncat"), os.X_OK):
    skip_all("cleanup or terncat is not built")

CONNS = 20
PER_CONN = 10


def start_instance():
    """A running instance whose master.conf has cleanup on private/cleanup."""
    inst = Instance()
    # only cleanup, on private/cleanup as cleanup_proto.h has it: no ports to collide
    with open(inst.path("master.conf"), "w") as f:
        f.write("cleanup unix - - n - 0 cleanup\n")
    if inst.start().returncode != 0:
        raise RuntimeError("start failed")
    sock = inst.path("queue", "private", "cleanup")
    wait_for(lambda: os.path.exists(sock), 10)
    return inst, sock


inst, SOCK = start_instance()
results = [[] for _ in range(CONNS)]
errors = []


def source(n):
    """One connection, PER_CONN messages of about 5 KB, each in several chunks."""
    try:
        c = I.CleanupClient(SOCK, timeout=60)
        for i in range(PER_CONN):
            body = b"".join(b"line %d of message %d/%d, some text to fill the line up\r\n" % (k, n, i)
                            for k in range(80))
            content = b"Subject: load %d/%d\r\nMessage-ID: <%d.%d@client.test>\r\n\r\n" % (n, i, n, i) + body
            r = c.message(content, chunk=1024, rcpts=["user%d@local.test" % n])
            results[n].append(r)
        c.close()
    except Exception as e:  # noqa: BLE001 - reported as a test failure below
        errors.append("%d: %r" % (n, e))


start = time.time()
threads = [threading.Thread(target=source, args=(n,)) for n in range(CONNS)]
for t in threads:
    t.start()
for t in threads:
    t.join(120)
elapsed = time.time() - start
total = CONNS * PER_CONN
is_(errors, [], "no client errors")
flat = [r for rs in results for r in rs]
is_(sum(1 for r in flat if r and r.get("status") == "ok"), total, "%d messages, all ok" % total)
ids = [r.get("queue_id") for r in flat if r]
is_(len(set(ids)), total, "all queue ids distinct")
diag("%d messages over %d connections in %.2f s: %.0f messages/s" % (total, CONNS, elapsed, total / elapsed))

d = inst.path("queue", "incoming")
files = os.listdir(d)
is_(sorted(files), sorted(ids), "incoming/ holds exactly these files")
ok(all(stat.S_IMODE(os.stat(os.path.join(d, f)).st_mode) == 0o700 for f in files), "all complete (0700)")
bad = []
for chunk in range(0, len(files), 50):
    r = run([prog("terncat"), "-e"] + [os.path.join(d, f) for f in files[chunk:chunk + 50]])
    if r.returncode != 0:
        bad.append(r.stderr)
is_(bad, [], "terncat checks every file (checksums, structure)")
r = run([prog("terncat"), "-h", os.path.join(d, ids[-1])])
ok(r.stdout.startswith("Received: from client.test") and "Subject: load" in r.stdout, "content looks right")
log = inst.log()
is_(len(re.findall(r": from=<sender@client.test>, size=\d+", log)), 0,
    "no from=, size= line from cleanup (qmgr logs it, Postfix's shape)")
is_(len(re.findall(r": message-id=<\d+\.\d+@client.test>", log)), total, "one message-id= log line per message")

inst.stop()
done()
