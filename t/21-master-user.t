#!/usr/bin/python3
"""21-master-user - master and its services run by an ordinary user.

As root, everything here runs as nobody (setpriv, no groups) on an
instance directory owned by nobody; as an ordinary user, as that user.
master starts without root, the services run with master's ids and no
chroot (one warning, no privilege change), and start, status, a crash,
and stop work as they do for root.
"""
import os
import random
import shutil
import socket
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (IS_ROOT, alive, children_of, diag, done, is_,  # noqa: E402
                       ok, proc_status, prog, run, ordinary_user_dir, pid_file, wait_for)

USER, PRE, DIR = ordinary_user_dir("user-")


def ctl(*args):
    return run(PRE + [prog("ternctl"), "-c", DIR] + list(args))


def master_pid():
    return pid_file(os.path.join(DIR, "data", "master.pid"))


def log():
    try:
        with open(os.path.join(DIR, "log", "maillog"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def cleanup():
    pid = master_pid()
    if pid and alive(pid):
        ctl("stop")
        for p in [pid] + children_of(pid):
            try:
                os.kill(p, 9)
            except OSError:
                pass
    shutil.rmtree(DIR, ignore_errors=True)


def free_port():
    while True:
        p = random.randint(25000, 25999)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            return p
        except OSError:
            pass
        finally:
            s.close()


def greet(addr):
    s = socket.socket(socket.AF_UNIX if isinstance(addr, str) else socket.AF_INET)
    s.settimeout(15)
    s.connect(addr)
    f = s.makefile("rw")
    g = dict(w.split("=", 1) for w in f.readline().split()[1:])
    return s, f, g


try:
    r = ctl("init")
    is_(r.returncode, 0, "init as %s" % USER.pw_name)
    if r.returncode != 0:
        diag(r.stdout + r.stderr)
    port = free_port()
    with open(os.path.join(DIR, "master.conf"), "a") as f:
        f.write("127.0.0.1:%d inet n y y - - tern-testsvc\n" % port)
        f.write("usock unix - y y - - tern-testsvc multi\n")
    if IS_ROOT:
        os.chown(os.path.join(DIR, "master.conf"), USER.pw_uid, USER.pw_gid)

    r = ctl("start")
    is_(r.returncode, 0, "start as %s" % USER.pw_name)
    if r.returncode != 0:
        diag(r.stdout + r.stderr)
    mpid = master_pid()
    ok(mpid and alive(mpid), "master runs")
    st = proc_status(mpid) or {}
    is_(st.get("Uid", "").split(), [str(USER.pw_uid)] * 4, "master runs as %s" % USER.pw_name)

    s, f, g = greet(("127.0.0.1", port))
    cpid = int(g["pid"])
    is_(proc_status(cpid).get("PPid"), str(mpid), "inet: the child is master's")
    is_(g["uid"], "/".join([str(USER.pw_uid)] * 3), "the child keeps master's uids")
    is_(g["gid"], "/".join([str(USER.pw_gid)] * 3), "the child keeps master's gids")
    is_(os.readlink("/proc/%d/root" % cpid), "/", "no chroot without root")
    f.write("hi\n")
    f.flush()
    is_(f.readline().strip(), "hi", "the service works")
    ok(wait_for(lambda: "not started as root" in log(), 5), "one warning says the ids stay as they are")
    f.write("crash\n")
    f.flush()
    f.readline()
    f.close()
    s.close()
    ok(wait_for(lambda: "pid %d killed by signal 6" % cpid in log(), 10), "a crash is logged")

    s, f, g = greet(os.path.join(DIR, "queue", "private", "usock"))
    is_(g.get("mode"), "multi", "unix socket service answers")
    is_(os.stat(os.path.join(DIR, "queue", "private", "usock")).st_uid, USER.pw_uid,
        "the socket belongs to the user")
    upid = int(g["pid"])

    ok(wait_for(lambda: str(upid) in ctl("status").stdout, 5), "status lists the pids")
    r = ctl("status")
    is_(r.returncode, 0, "status: running")
    f.close()
    s.close()

    kids = children_of(mpid)
    r = ctl("stop")
    is_(r.returncode, 0, "stop")
    is_([p for p in [mpid] + kids if alive(p)], [], "nothing left after stop")
    is_(ctl("status").returncode, 3, "status: not running")
finally:
    cleanup()

done()
