#!/usr/bin/python3
"""Recycled queue files (queue_file_recycle, lib/mail/qfile_pool.c).

On a private instance with the discard agent: qmgr renames finished
queue files into recycle/ instead of deleting them, and new messages
are written into those inodes (the queue file of a new message has the
inode of a retired one, under a new queue id). The crash case: a
finished old file under a new valid queue id with mode 0700 in
incoming/ (what a power cut can leave when the rename to the new id
was persisted but not the chmod and truncate) is moved to corrupt/ and
never delivered. With queue_file_recycle = no, finished files are
deleted and recycle/ is left alone.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, diag, done, is_, like, ok, prog, skip_all, wait_for  # noqa: E402
import tern_ipc  # noqa: E402

for p in ("master", "cleanup", "qmgr", "discard", "ternctl"):
    if not os.path.exists(prog(p)):
        skip_all("%s is not built" % p)

B32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

inst = Instance()
Q = inst.path("queue")
RECYCLE = os.path.join(Q, "recycle")
TRANSPORT = inst.path("transport")
with open(TRANSPORT, "w") as f:
    f.write("drop.test discard:gone\n")
with open(inst.path("qmgr.conf"), "a") as f:
    f.write("transport_maps = texthash:%s\n" % TRANSPORT)
ok(os.path.isdir(RECYCLE), "ternctl init makes queue/recycle")
is_(os.stat(RECYCLE).st_mode & 0o7777, 0o700, "recycle is mode 0700")
r = inst.start()
ok(r.returncode == 0, "instance starts")
sock = inst.socket
ok(wait_for(lambda: sock("cleanup") and sock("qmgr") and sock("discard"), 10),
   "cleanup, qmgr and discard sockets exist")


def submit(n, rcpt="x@drop.test"):
    """n messages through one cleanup connection; their queue ids"""
    client = tern_ipc.CleanupClient(sock("cleanup"))
    ids = []
    for i in range(n):
        r = client.message(b"Subject: recycle %d\r\n\r\nbody\r\n" % i, rcpts=[rcpt])
        if not r or r.get("status") != "ok":
            diag("cleanup said %r" % (r,))
            continue
        ids.append(r["queue_id"])
    client.close()
    return ids


def removed(ids):
    log = inst.log()
    return all("%s: removed" % q in log for q in ids)


def pool():
    """{name: inode} of recycle/"""
    return {n: os.lstat(os.path.join(RECYCLE, n)).st_ino for n in os.listdir(RECYCLE)}


def inode_of_qid(qid):
    """the inode number a queue id carries (qid.h: 11 time digits, then the inode)"""
    n = 0
    for c in qid[11:]:
        n = n * 32 + B32.index(c)
    return n


def make_qid(ino):
    """a valid queue id for now and this inode"""
    us = int(time.time() * 1000000)
    t = ""
    for _ in range(11):
        t = B32[us % 32] + t
        us //= 32
    i = ""
    while True:
        i = B32[ino % 32] + i
        ino //= 32
        if ino == 0:
            break
    return t + i


# 1. finished files go to recycle/
first = submit(5)
is_(len(first), 5, "five messages accepted")
ok(wait_for(lambda: removed(first), 20), "all five delivered and removed")
p1 = pool()
ok(all(q in p1 for q in first), "their files are in recycle/ under their queue ids")
ok(all(p1[q] == inode_of_qid(q) for q in first), "with their own inodes")

# 2. new messages reuse those inodes (cleanup looks into an empty pool at most once a second)
time.sleep(1.1)
second = submit(3)
is_(len(second), 3, "three more accepted")
ok(wait_for(lambda: removed(second), 20), "delivered and removed")
reused = [q for q in second if inode_of_qid(q) in set(p1.values())]
is_(len(reused), 3, "every new queue file has the inode of a retired one")
ok(not set(second) & set(first), "under new queue ids")
ok(all(q in pool() for q in second), "and is back in recycle/ when done")
ok(not [n for n in os.listdir(os.path.join(Q, "incoming")) if n.startswith("tmp-")],
   "no tmp- file left in incoming/")

# 3. crash case: an old finished file under a new valid id, mode 0700
old = second[0]
ino = os.lstat(os.path.join(RECYCLE, old)).st_ino
new = make_qid(ino)
planted = os.path.join(Q, "incoming", new)
os.rename(os.path.join(RECYCLE, old), planted)
os.chmod(planted, 0o700)
is_(os.stat(planted).st_mode & 0o7777, 0o700, "planted %s (content of %s) in incoming/, mode 0700"
    % (new, old))
trigger = submit(1)     # cleanup wakes qmgr, which scans incoming/
ok(wait_for(lambda: removed(trigger), 20), "a later message is delivered")
ok(wait_for(lambda: os.path.exists(os.path.join(Q, "corrupt", new)), 10),
   "the planted file is moved to corrupt/")
like(inst.log(), "%s: moved to corrupt" % new, "qmgr says why")
like(inst.log(), "queue id %s does not match the file name" % old, "the old queue id inside is the reason")
log = inst.log()
ok(not [l for l in log.splitlines() if l.split(": ", 1)[-1].startswith(new + ": to=")]
   and ("%s: removed" % new) not in log, "nothing is delivered or removed under the new id")

# 4. recycling off by parameter
inst.stop()
with open(inst.path("qmgr.conf"), "a") as f:
    f.write("queue_file_recycle = no\n")
r = inst.start()
ok(r.returncode == 0, "instance restarts with queue_file_recycle = no")
ok(wait_for(lambda: sock("cleanup") and sock("qmgr"), 10), "sockets back")
before = pool()
third = submit(3)
ok(wait_for(lambda: removed(third), 20), "three messages delivered and removed")
after = pool()
is_(sorted(after.items()), sorted(before.items()), "recycle/ is untouched")
ok(not [q for q in third if inode_of_qid(q) in set(before.values())], "no inode taken from it")
ok(not [q for q in third for d in ("incoming", "active", "deferred", "recycle")
        if os.path.exists(os.path.join(Q, d, q))], "the finished files are deleted")

inst.stop()
done()
