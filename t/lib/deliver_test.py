"""deliver_test - helpers for the local and virtual agent tests: write a
queue file with tern-qwrite, send a DELIVER request (deliver_proto.h) to
private/<service> of a running instance, read a recipient's slot with
terncat.

The queue files go to queue/QDIR, a directory qmgr never scans: a file
in active/ could be taken by the instance's qmgr as well (it scans
active/ when it starts, which may be after the file was written), and
the test would race it."""
import os
import subprocess
import time

import tern_ipc
from tern_test import prog, run

QDIR = "t-deliver"


def qwrite(inst, sender, rcpts, content):
    """A queue file in queue/QDIR: its queue id."""
    args = [prog("tern-qwrite"), "-s", sender]
    for r in rcpts:
        args += ["-r", r]
    os.makedirs(inst.path("queue", QDIR), exist_ok=True)
    args.append(inst.path("queue", QDIR))
    r = subprocess.run(args, input=content, capture_output=True, timeout=30)
    if r.returncode != 0:
        raise RuntimeError(r.stderr.decode())
    return r.stdout.decode().strip()


def deliver(inst, service, qid, sender, rcpts, indexes=None):
    """One DELIVER request: the reply as {"status", "text", "r": [(idx, status, dsn, relay, text)]}."""
    attrs = [("op", "deliver"), ("queue_id", qid), ("queue_file", QDIR + "/" + qid),
             ("nexthop", ""), ("sender", sender), ("arrival", int(time.time())),
             ("queued_at", int(time.time() * 1e6)), ("flags", 0)]
    for i, r in enumerate(rcpts):
        attrs += [("rcpt_index", indexes[i] if indexes else i), ("rcpt", r)]
    c = tern_ipc.Conn(inst.path("queue", "private", service), timeout=60)
    c.send(attrs)
    reply = c.recv()
    c.sock.close()
    out = {"status": tern_ipc.get(reply, "status"), "text": tern_ipc.get(reply, "text"), "r": []}
    cols = {}
    for n, v in reply:
        cols.setdefault(n, []).append(v)
    for k in range(len(cols.get("r_index", []))):
        out["r"].append(tuple(cols[n][k] for n in ("r_index", "r_status", "r_dsn", "r_relay", "r_text")))
    return out


def slot(inst, qid, index=0):
    """The status line of recipient index as terncat shows it ("delivered", "bounced 5.1.1"...)."""
    r = run([prog("terncat"), "-e", inst.path("queue", QDIR, qid)])
    states = [l.split(":", 1)[1].strip() for l in r.stdout.splitlines() if l.strip().startswith("status:")]
    return states[index] if index < len(states) else None


def maildir_files(path):
    """Files in path/new, sorted."""
    d = os.path.join(path, "new")
    try:
        return sorted(os.path.join(d, f) for f in os.listdir(d))
    except OSError:
        return []
