#!/usr/bin/python3
"""62-make-run - the quick start is real: `make -s run` with RUN_DIR (a
temporary instance) and free RUN_PORTS inits and starts an instance and
prints a swaks line, a sendmail line and the Maildir; running the printed
lines puts two messages into the printed Maildir; `make stop` stops it.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import BUILD, SRC, alive, children_of, diag, done, free_ports, is_, ok, pid_file, skip_all, wait_for  # noqa: E402

if shutil.which("swaks") is None or shutil.which("make") is None:
    skip_all("swaks or make is missing")
os.makedirs(os.path.join(SRC, "t", "tmp"), exist_ok=True)
D = tempfile.mkdtemp(prefix="makerun-", dir=os.path.join(SRC, "t", "tmp"))
os.rmdir(D)  # make run inits it when missing
VARS = ["BUILD=" + BUILD, "RUN_DIR=" + D, "RUN_PORTS=" + ",".join(str(p) for p in free_ports(3))]


def make(target):
    return subprocess.run(["make", "-s", "-C", SRC, target] + VARS, capture_output=True, text=True, timeout=120)


def master_pid():
    return pid_file(os.path.join(D, "data", "master.pid"))


def files(d):
    try:
        return os.listdir(d)
    except OSError:
        return []


try:
    r = make("run")
    is_(r.returncode, 0, "make run exits 0")
    out = r.stdout
    ok(os.path.exists(os.path.join(D, "tern.conf")) and master_pid() and alive(master_pid()),
       "make run made the instance in RUN_DIR and started it")
    sw = re.search(r"^  smtp:\s+(swaks .*)$", out, re.M)
    sm = re.search(r"^  sendmail:\s+(.*sendmail -C .*)$", out, re.M)
    mb = re.search(r"^  mailbox:\s+ls (\S+)$", out, re.M)
    ok(sw and sm and mb, "make run prints the swaks, sendmail and mailbox lines")
    if not (sw and sm and mb):
        diag(out + r.stderr)
    else:
        box = mb.group(1)
        r = subprocess.run(sw.group(1), shell=True, capture_output=True, text=True, timeout=60)
        ok(r.returncode == 0 and "250 2.0.0" in r.stdout, "the printed swaks line is accepted")
        ok(wait_for(lambda: len(files(box)) >= 1, 20), "its message lands in the printed Maildir")
        r = subprocess.run(sm.group(1), shell=True, capture_output=True, text=True, timeout=60)
        is_(r.returncode, 0, "the printed sendmail line exits 0")
        ok(wait_for(lambda: len(files(box)) >= 2, 20), "its message lands in the printed Maildir")
    r = make("run")
    ok(r.returncode == 0 and "running already" in r.stdout, "make run again: reuses the running instance")
    pid = master_pid()
    r = make("stop")
    is_(r.returncode, 0, "make stop exits 0")
    ok(pid and wait_for(lambda: not alive(pid), 20), "master is gone")
finally:
    pid = master_pid()
    if pid and alive(pid):
        for p in [pid] + children_of(pid):
            try:
                os.kill(p, 9)
            except OSError:
                pass
    shutil.rmtree(D, ignore_errors=True)

done()
