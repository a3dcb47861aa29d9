#!/usr/bin/python3
"""41-cleanup-robust - what cleanup does when a source misbehaves or dies.

On a private instance: ABORT in the middle of a message and a connection
dropped in the middle leave no file in incoming/; malformed frames (bad
version, empty or oversized frame, content before BEGIN, BEGIN inside a
message, a wrong "end" count, "op" of the wrong type) close only that
connection, with a log line, while the same cleanup process keeps serving
a connection opened before; SIGKILL of cleanup in the middle of a message
leaves no complete file, the client gets no "ok", and master starts a new
cleanup that works.
"""
import os
import re
import signal
import stat
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (Instance, alive, children_of, diag, done, is_, like, ok,  # noqa: E402
                       prog, skip_all, wait_for)
import tern_ipc as I  # noqa: E402

if not os.access(prog("cleanup"), os.X_OK):
    skip_all("cleanup is not built")


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


def incoming(inst):
    """{queue file: mode} in incoming/ (a tmp- name is a file being created)."""
    d = inst.path("queue", "incoming")
    out = {}
    for f in os.listdir(d):
        try:
            out[f] = stat.S_IMODE(os.stat(os.path.join(d, f)).st_mode)
        except FileNotFoundError:
            pass
    return out


def cleanup_pids(inst):
    pids = []
    for p in children_of(inst.master_pid()):
        try:
            if b"cleanup" in open("/proc/%d/cmdline" % p, "rb").read():
                pids.append(p)
        except OSError:
            pass
    return sorted(pids)


def log_has(inst, text, timeout=10):
    return wait_for(lambda: text in inst.log(), timeout)


inst, SOCK = start_instance()

# a connection that stays open through everything below
keeper = I.CleanupClient(SOCK)
r = keeper.message(b"Subject: keeper\r\n\r\nx\r\n")
is_(r.get("status"), "ok", "first connection: ok")
pids = cleanup_pids(inst)
is_(len(pids), 1, "one cleanup process (%s)" % pids)

# --- ABORT in the middle ---
c = I.CleanupClient(SOCK)
c.send(c.begin_attrs())
c.send([("chunk", b"Subject: abort\r\n\r\n" + b"y" * 60000)])
ok(wait_for(lambda: len(incoming(inst)) == 2, 10), "abort: the file exists while content streams")
c.send([("op", "abort")])
ok(wait_for(lambda: len(incoming(inst)) == 1, 10), "abort: the file is gone")
r = c.message(b"Subject: after abort\r\n\r\nx\r\n")
is_(r.get("status"), "ok", "abort: no RESULT for the aborted message; the next one is ok")
c.close()
ok(log_has(inst, "aborted by the source"), "abort: logged")

# --- dropped connection in the middle ---
before = dict(incoming(inst))
c = I.CleanupClient(SOCK)
c.send(c.begin_attrs())
c.send([("chunk", b"Subject: dropped\r\n\r\n" + b"z" * 1000)])
ok(wait_for(lambda: len(incoming(inst)) == len(before) + 1, 10), "drop: the file exists")
c.close()
ok(wait_for(lambda: incoming(inst) == before, 10), "drop: the file is gone")
ok(log_has(inst, "lost connection from uid"), "drop: logged")

# --- malformed frames: each closes only its own connection ---
ok_frame = I.encode([("op", "begin"), ("sender", "a@b"), ("rcpt", "c@d")])
bad = [
    ("version 2", I.encode([("op", "begin")], version=2), "malformed frame"),
    ("empty frame", struct.pack(">I", 0), "connection from uid"),
    ("oversized frame", struct.pack(">I", 5 * 1024 * 1024) + b"\x01", "exceeds limit"),
    ("unknown type", struct.pack(">I", 8) + b"\x01X\x01a\x00\x00\x00\x00", "malformed frame"),
    ("content before BEGIN", I.encode([("chunk", b"x")]), "where a BEGIN frame must come"),
    ("unknown op", I.encode([("op", "frobnicate")]), "op \"frobnicate\""),
    ("op as integer", I.encode([("op", 1)]), "attribute \"op\" is not a string"),
    ("BEGIN inside a message", ok_frame + I.encode([("chunk", b"A: b\r\n")]) + ok_frame,
     "op \"begin\" inside a message"),
    ("wrong end count", ok_frame + I.encode([("chunk", b"A: b\r\n")]) + I.encode([("end", 99)]),
     "content stream"),
    ("chunk and end together", ok_frame + I.encode([("chunk", b"x"), ("end", 1)]), "content stream"),
    ("cut inside a frame", ok_frame[:-3], "inside a frame"),
]
for name, data, logtext in bad:
    before = dict(incoming(inst))
    c = I.Conn(SOCK, timeout=10)
    c.send_raw(data)
    if name == "cut inside a frame":
        c.sock.shutdown(1)
    ok(c.closed_by_peer(), "%s: connection closed" % name)
    c.close()
    ok(log_has(inst, logtext), "%s: log line with '%s'" % (name, logtext))
    ok(wait_for(lambda: incoming(inst) == before, 10), "%s: no file left" % name)
r = keeper.message(b"Subject: still here\r\n\r\nx\r\n")
is_(r.get("status"), "ok", "the connection opened before still works")
is_(cleanup_pids(inst), pids, "the same cleanup process served it")
like(inst.log(), "protocol error from uid %d" % os.getuid(), "protocol errors name the peer uid")

# --- SIGKILL in the middle of a message ---
before = dict(incoming(inst))
c = I.CleanupClient(SOCK, timeout=15)
c.send(c.begin_attrs())
c.send([("chunk", b"Subject: killed\r\n\r\n" + b"k" * 60000)])
ok(wait_for(lambda: any(m == 0o600 for m in incoming(inst).values()), 10), "kill: an incomplete file exists")
os.kill(pids[0], signal.SIGKILL)
ok(wait_for(lambda: not alive(pids[0]), 10), "kill: cleanup is gone")
try:
    c.send_stream(b"rest\r\n")
except OSError:
    pass
got = None
try:
    got = c.recv()
except OSError:
    pass
ok(got is None, "kill: the client gets no RESULT")
c.close()
keeper.close()
ok(all(m != 0o700 for f, m in incoming(inst).items() if f not in before),
   "kill: no complete file for the killed message")
leftover = [f for f, m in incoming(inst).items() if m == 0o600]
diag("incomplete files left for qmgr's clean-up: %s" % leftover)
c = None
for _ in range(50):
    try:
        c = I.CleanupClient(SOCK, timeout=15)
        r = c.message(b"Subject: after kill\r\n\r\nx\r\n")
        break
    except OSError:
        time.sleep(0.2)
ok(r and r.get("status") == "ok", "after the kill a new cleanup accepts mail")
ok(cleanup_pids(inst) and cleanup_pids(inst) != pids, "master started a new cleanup process")
if c:
    c.close()

inst.stop()
done()
