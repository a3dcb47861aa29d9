#!/usr/bin/python3
"""ternsuper on a running private instance.

Messages go in through the real cleanup and stay deferred (routed to a
transport that does not exist). Checks, while tern runs: hold, release,
requeue and delete by id, by ALL and from standard input, with the
effect visible in ternqueue and the log; a message in active/ that an
agent holds (flock) is handed to qmgr, waited for and refused after -w,
then deleted or held by qmgr once the lock is gone; -s repairs a wrong mode and owner, a file that
is not a queue id, a timed file without a release time and an orphan
defer file; root only; usage errors.
"""
import fcntl
import json
import os
import re
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (Instance, diag, done, is_, like, ok, prog, skip_all, wait_for,  # noqa: E402
                       run, unprivileged_user)
import tern_ipc  # noqa: E402

for p in ("master", "cleanup", "qmgr", "ternctl", "ternqueue", "ternsuper", "tern-qgen"):
    if not os.path.exists(prog(p)):
        skip_all("%s is not built" % p)

inst = Instance()
Q = inst.path("queue")
TRANSPORT = inst.path("transport")
with open(TRANSPORT, "w") as f:
    f.write("dead.test nosuch:\n")
with open(inst.path("qmgr.conf"), "a") as f:
    f.write("transport_maps = texthash:%s\n"
            "minimal_backoff_time = 3600s\nmaximal_backoff_time = 7200s\nqueue_run_delay = 1s\n" % TRANSPORT)
r = inst.start()
ok(r.returncode == 0, "instance starts")
ok(wait_for(lambda: os.path.exists(os.path.join(Q, "private", "cleanup")) and
            os.path.exists(os.path.join(Q, "public", "qmgr")), 10), "cleanup and qmgr sockets exist")
CLIENT = tern_ipc.CleanupClient(os.path.join(Q, "private", "cleanup"))


def submit(rcpt):
    r = CLIENT.message(b"Subject: ternsuper test\r\n\r\nbody\r\n", rcpts=[rcpt])
    if not r or r.get("status") != "ok":
        diag("cleanup said %r" % (r,))
        return None
    return r["queue_id"]


def where(qid):
    return inst.queue_where(qid)


def ts(*args, input=None):
    return run([prog("ternsuper"), "-c", inst.dir] + list(args), input=input)


def listing():
    r = run([prog("ternqueue"), "-c", inst.dir, "-j"])
    return {o["queue_id"]: o for o in map(json.loads, r.stdout.splitlines())}


def deferrals(qid):
    return len(re.findall(r"%s: to=<[^>]*>.*status=deferred" % qid, inst.log()))


ids = [submit("u%d@dead.test" % i) for i in range(6)]
ok(all(ids), "six messages accepted")
ok(wait_for(lambda: all(where(m) == ["deferred"] for m in ids), 15), "all deferred")
m1, m2, m3, m4, m5, m6 = ids

# hold and release by id
r = ts("-h", m1)
is_(r.returncode, 0, "-h ID exits 0")
is_(where(m1), ["hold"], "-h: the file is in hold/")
like(inst.log(), "%s: placed on hold" % m1, "-h: logged")
like(r.stderr, "Placed on hold: 1 message", "-h: summary")
is_(listing().get(m1, {}).get("queue_name"), "hold", "-h: ternqueue shows it held")
like(run([prog("ternqueue"), "-c", inst.dir, "-p"]).stdout, "%s!" % m1, "-h: '!' in the listing")
n = deferrals(m1)
r = ts("-H", m1)
is_(r.returncode, 0, "-H ID exits 0")
like(inst.log(), "%s: released from hold" % m1, "-H: logged")
ok(wait_for(lambda: deferrals(m1) > n, 10), "-H: tried again at once")
ok(wait_for(lambda: where(m1) == ["deferred"], 10), "-H: back in deferred/")

# requeue
n = deferrals(m2)
r = ts("-r", m2)
is_(r.returncode, 0, "-r ID exits 0")
like(inst.log(), "%s: requeued" % m2, "-r: logged")
ok(wait_for(lambda: deferrals(m2) > n, 10), "-r: resolved and tried again at once")
ok(wait_for(lambda: where(m2) == ["deferred"], 10), "-r: deferred again")

# delete
ok(os.path.exists(os.path.join(Q, "defer", m3)), "the message has a defer/ file")
r = ts("-d", m3)
is_(r.returncode, 0, "-d ID exits 0")
is_(where(m3), [], "-d: the file is gone")
ok(not os.path.exists(os.path.join(Q, "defer", m3)), "-d: and its defer/ file")
like(inst.log(), "%s: removed" % m3, "-d: logged")
ok(m3 not in listing(), "-d: not listed any more")
r = ts("-d", m3)
is_(r.returncode, 66, "-d of an id no longer there: exit 66")
like(r.stderr, "not found", "with a message")

# from standard input
r = ts("-h", "-", input="%s\n%s\n\n" % (m4, m5))
is_(r.returncode, 0, "-h - exits 0")
ok(where(m4) == ["hold"] and where(m5) == ["hold"], "-h -: both ids from stdin held")
r = ts("-H", "ALL")
is_(r.returncode, 0, "-H ALL exits 0")
ok(wait_for(lambda: where(m4) == ["deferred"] and where(m5) == ["deferred"], 10),
   "-H ALL: both released (tried at once, deferred again)")
like(r.stderr, "Released from hold: 2 messages", "-H ALL: summary")

def owner_chown(path):
    st = os.stat(os.path.join(Q, "incoming"))
    os.chown(path, st.st_uid, st.st_gid)


# a message in active/ that a delivery agent holds (a shared flock, as
# deliver_agent takes): ternsuper asks qmgr, waits -w, then refuses
subprocess.run([prog("tern-qgen"), os.path.join(Q, "active"), "1", "busy@dead.test"], check=True)
busy = [x for x in os.listdir(os.path.join(Q, "active")) if x not in ids][0]
owner_chown(os.path.join(Q, "active", busy))
agent = os.open(os.path.join(Q, "active", busy), os.O_RDWR)
fcntl.flock(agent, fcntl.LOCK_SH)
t0 = time.time()
r = ts("-w", "1", "-d", busy)
is_(r.returncode, 75, "-d of a message an agent holds: exit 75 after the wait")
like(r.stderr, "%s: is being delivered; try again" % busy, "with a clear message")
ok(time.time() - t0 >= 1, "it waited for -w seconds")
is_(where(busy), ["active"], "the locked file is untouched")
os.close(agent)
ok(wait_for(lambda: where(busy) == [], 10), "qmgr took the request: it deletes the file once the agent lets go")
like(inst.log(), "%s: removed" % busy, "and logs the removal")
subprocess.run([prog("tern-qgen"), os.path.join(Q, "active"), "1", "busy2@dead.test"], check=True)
busy = [x for x in os.listdir(os.path.join(Q, "active")) if x not in ids][0]
owner_chown(os.path.join(Q, "active", busy))
agent = os.open(os.path.join(Q, "active", busy), os.O_RDWR)
fcntl.flock(agent, fcntl.LOCK_SH)
releaser = threading.Timer(0.5, lambda: os.close(agent))
releaser.start()
r = ts("-w", "10", "-h", busy)
releaser.join()
is_(r.returncode, 0, "-h waits until the agent lets go")
is_(where(busy), ["hold"], "and then the message is held")

# ALL
r = ts("-h", "ALL")
is_(r.returncode, 0, "-h ALL exits 0")
ok(all(where(m) == ["hold"] for m in (m1, m2, m4, m5, m6)), "-h ALL: everything is held")
is_(sorted(o["queue_name"] for o in listing().values()), ["hold"] * 6, "ternqueue shows six held")
r = ts("-d", "ALL", "hold")
is_(r.returncode, 0, "-d ALL hold exits 0")
like(r.stderr, "Deleted: 6 messages", "-d ALL hold: six deleted")
is_(listing(), {}, "the queue is empty")
like(run([prog("ternqueue"), "-c", inst.dir, "-p"]).stdout, "Mail queue is empty", "ternqueue -p agrees")

# repair
st = os.stat(os.path.join(Q, "incoming"))
subprocess.run([prog("tern-qgen"), os.path.join(Q, "hold"), "1", "w@dead.test"], check=True)
wrong = os.listdir(os.path.join(Q, "hold"))[0]
os.chmod(os.path.join(Q, "hold", wrong), 0o644)           # lost its owner-execute bit; root-owned
far = str(int(time.time()) + 86400)
subprocess.run([prog("tern-qgen"), os.path.join(Q, "timed"), "1", "t@dead.test", far], check=True)
notimed = os.listdir(os.path.join(Q, "timed"))[0]
os.chown(os.path.join(Q, "timed", notimed), st.st_uid, st.st_gid)
with open(os.path.join(Q, "deferred", "junk.txt"), "w") as f:
    f.write("not a queue file\n")
with open(os.path.join(Q, "defer", m3), "w") as f:
    f.write("0\t4.3.0\t0\tnone\torphan\n")
r = ts("-s")
is_(r.returncode, 0, "-s exits 0")
mode = os.stat(os.path.join(Q, "hold", wrong)).st_mode & 0o7777
is_(oct(mode), oct(0o700), "-s: the wrong mode is fixed")
is_(os.stat(os.path.join(Q, "hold", wrong)).st_uid, st.st_uid, "-s: the owner is fixed")
like(inst.log(), "%s: mode fixed (was 0644)" % wrong, "-s: mode fix logged")
like(inst.log(), "%s: owner fixed" % wrong, "-s: owner fix logged")
ok(not os.path.exists(os.path.join(Q, "defer", m3)), "-s: the orphan defer file is removed")
like(inst.log(), "%s: removed orphan defer/%s" % (m3, m3), "-s: orphan logged")
ok(os.path.exists(os.path.join(Q, "corrupt", "junk.txt")), "-s: a name that is no queue id goes to corrupt/")
is_(where(notimed), ["deferred"], "-s: a timed file without release_time goes to deferred/")
r = ts("-s")
like(r.stderr, "Repaired: 0 problems", "-s again: nothing left to repair")
is_(listing().get(wrong, {}).get("queue_name"), "hold", "the repaired file lists normally")

# root only, usage
user = unprivileged_user()
if user:
    def as_user():
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    r = subprocess.run([prog("ternsuper"), "-c", inst.dir, "-d", "ALL"], capture_output=True, text=True,
                       preexec_fn=as_user)
    is_(r.returncode, 77, "an ordinary user: exit 77")
else:
    ok(True, "# skip no unprivileged user")
is_(ts().returncode, 64, "no operation: usage")
is_(ts("-d", "ALL", "nosuchqueue").returncode, 64, "an unknown queue: usage")
is_(ts("-d", "ALL", "active").returncode, 64, "active cannot be named")
is_(ts("-d", "bad/id").returncode, 64, "a bad queue id: usage")
done()
