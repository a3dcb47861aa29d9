#!/usr/bin/python3
"""41-cleanup-diskfull - a real full disk under incoming/.

As root, a small tmpfs is mounted on the instance's queue/incoming before
cleanup starts, and messages are sent until it is full: the message that
does not fit gets 452 4.3.1, leaves no file behind (every file left is
complete and passes terncat's checks, one per "ok"), and the log says
why; once space is freed, mail is accepted again. A tmpfs with few inodes
makes the file creation itself fail, with the same reply.

Needs root (mount); as an ordinary user the test is skipped - the unit
test t/unit/test_cleanup_msg.c injects the same failures (and EIO, EDQUOT,
short writes, failed fsyncs) through the qfile fault seam.
"""
import os
import pwd
import re
import stat
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import IS_ROOT, Instance, diag, done, is_, like, ok, prog, run, skip_all, wait_for  # noqa: E402
import tern_ipc as I  # noqa: E402

if not IS_ROOT:
    skip_all("mounting a small file system needs root (the unit test covers the fault seam)")
if not os.access(prog("cleanup"), os.X_OK) or not os.access(prog("terncat"), os.X_OK):
    skip_all("cleanup or terncat is not built")


def mount_tmpfs(path, opts):
    owner = pwd.getpwnam("tern")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "%s,mode=0700,uid=%d,gid=%d"
                        % (opts, owner.pw_uid, owner.pw_gid), "tern-test", path],
                       capture_output=True, text=True)
    return r.returncode == 0, r.stderr


def umount(path):
    for args in (["umount", path], ["umount", "-l", path]):
        if subprocess.run(args, capture_output=True).returncode == 0:
            return True
    return False


def files(inst):
    d = inst.path("queue", "incoming")
    return {f: stat.S_IMODE(os.stat(os.path.join(d, f)).st_mode) for f in os.listdir(d)}


def run_instance(mount_opts, body, tries):
    """Start an instance with tmpfs on incoming; send until refused. Returns (inst, replies)."""
    inst = Instance()
    incoming = inst.path("queue", "incoming")
    mounted, err = mount_tmpfs(incoming, mount_opts)
    if not mounted:
        skip_all("cannot mount a tmpfs here: %s" % err.strip())
    try:
        with open(inst.path("master.conf"), "w") as f:
            f.write("cleanup unix - - n - 0 cleanup\n")
        if inst.start().returncode != 0:
            raise RuntimeError("start failed")
        sock = inst.path("queue", "private", "cleanup")
        wait_for(lambda: os.path.exists(sock), 10)
        c = I.CleanupClient(sock)
        replies = []
        for i in range(tries):
            r = c.message(b"Subject: fill %d\r\n\r\n" % i + body)
            replies.append(r)
            if r.get("status") != "ok":
                break
        return inst, c, replies
    except Exception:
        inst.stop()
        umount(incoming)
        raise


def check_left(inst, replies, what):
    oks = [r["queue_id"] for r in replies if r.get("status") == "ok"]
    left = files(inst)
    is_(sorted(left), sorted(oks), "%s: the files left are exactly the accepted messages" % what)
    ok(all(m == 0o700 for m in left.values()), "%s: every file left is complete" % what)
    d = inst.path("queue", "incoming")
    if oks:
        r = run([prog("terncat"), "-e"] + [os.path.join(d, q) for q in oks])
        is_(r.returncode, 0, "%s: terncat accepts every file left" % what)
    return oks


# --- the data does not fit ---
body = (b"x" * 998 + b"\r\n") * 20
inst, c, replies = run_instance("size=256k", body, 40)
last = replies[-1]
ok(len(replies) > 1 and last.get("status") == "error", "disk full after %d messages" % (len(replies) - 1))
ok(last.get("code") == 452 and last.get("dsn") == "4.3.1", "disk full: 452 4.3.1 (%s)" % last.get("text"))
oks = check_left(inst, replies, "disk full")
like(inst.log(), "No space left on device; reply 452 4.3.1", "disk full: the log says why")
r = c.message(b"Subject: more\r\n\r\n" + body)
is_(r.get("code"), 452, "still full: 452 again")
for q in oks[:3]:
    os.unlink(os.path.join(inst.path("queue", "incoming"), q))
r = c.message(b"Subject: after\r\n\r\n" + body)
is_(r.get("status"), "ok", "space freed: accepted again")
c.close()
inst.stop()
ok(umount(inst.path("queue", "incoming")), "unmounted")
inst.cleanup()

# --- no inode left: the file cannot even be created ---
inst, c, replies = run_instance("size=4m,nr_inodes=6", b"small\r\n", 20)
last = replies[-1]
ok(last.get("code") == 452 and last.get("dsn") == "4.3.1",
   "no inodes after %d messages: 452 4.3.1" % (len(replies) - 1))
check_left(inst, replies, "no inodes")
diag([l for l in inst.log().splitlines() if "452" in l][:2])
c.close()
inst.stop()
ok(umount(inst.path("queue", "incoming")), "unmounted")
inst.cleanup()
done()
