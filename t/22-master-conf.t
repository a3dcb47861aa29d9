#!/usr/bin/python3
"""22-master-conf - master's start-up checks, failures and stop timeout.

Through ternctl and master on a private instance: a master.conf with
errors, a bad -o value and a port already in use all stop the start
with the reason on stderr and leave nothing running; a stale pid file
is replaced; a command that cannot be executed is logged and throttled
without harming master; a tern.conf change picked up by reload
replaces the services' processes; a child that ignores the stop is
killed after master_stop_timeout; master -d runs in the foreground and
logs to stderr.
"""
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (Instance, alive, children_of, diag, done, is_, like, ok,  # noqa: E402
                       prog, wait_for)


def free_ports(n):
    ports = []
    while len(ports) < n:
        p = random.randint(25000, 25999)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            if p not in ports:
                ports.append(p)
        except OSError:
            pass
        finally:
            s.close()
    return ports


def greet(port, timeout=15):
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    f = s.makefile("rw")
    g = dict(w.split("=", 1) for w in f.readline().split()[1:])
    return s, f, g


inst = Instance()
base_conf = open(inst.path("master.conf")).read()
P1, P2, P3 = free_ports(3)


def master_conf(*lines):
    with open(inst.path("master.conf"), "w") as f:
        f.write(base_conf + "\n" + "\n".join(lines) + "\n")


def nothing_runs(what):
    ok(inst.ctl("status").returncode == 3 and not os.path.exists(inst.path("data", "master.pid")),
       what + ": nothing runs, no pid file")


# --- errors in master.conf: every one reported with file:line
master_conf("foo fifo - - - - - tern-testsvc",
            "bar unix - - - - many tern-testsvc",
            "127.0.0.1:%d inet n - n - - tern-testsvc -o max_usee=3" % P1)
r = inst.ctl("start")
ok(r.returncode != 0, "start with a broken master.conf fails")
mc = inst.path("master.conf")
n = base_conf.count("\n") + 1
like(r.stderr, "%s:%d: unknown service type 'fifo'" % (mc, n + 1), "the bad type is reported with file:line")
like(r.stderr, "%s:%d: maxproc column" % (mc, n + 2), "the bad maxproc is reported")
like(r.stderr, "did you mean 'max_use'", "the unknown -o parameter is reported with a suggestion")
nothing_runs("broken master.conf")

# --- a bad -o value is found before any child runs
master_conf("127.0.0.1:%d inet n - n - - tern-testsvc -o max_use=lots" % P1)
r = inst.ctl("start")
ok(r.returncode != 0 and "max_use" in r.stderr and "127.0.0.1:%d" % P1 in r.stderr,
   "a bad -o value stops the start and names the service")
nothing_runs("bad -o value")

# --- a port in use
blocker = socket.socket()
blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
blocker.bind(("127.0.0.1", P2))
blocker.listen(1)
master_conf("127.0.0.1:%d inet n - n - - tern-testsvc" % P2)
r = inst.ctl("start")
ok(r.returncode != 0 and "Address already in use" in r.stderr, "a port in use stops the start with the reason")
nothing_runs("port in use")
blocker.close()

# --- stale pid file; a command that cannot be executed
with open(inst.path("data", "master.pid"), "w") as f:
    f.write("999999\n")
inst.conf("master_stop_timeout", "2s")
master_conf("127.0.0.1:%d inet n - n - - tern-testsvc" % P1,
            "127.0.0.1:%d inet n - n - - no-such-daemon" % P3)
r = inst.start()
is_(r.returncode, 0, "start over a stale pid file")
mpid = inst.master_pid()
ok(mpid and mpid != 999999 and alive(mpid), "the pid file names the new master")
like(inst.log(), "no-such-daemon", "a missing program is warned about at start")
c = socket.create_connection(("127.0.0.1", P3), timeout=5)
ok(wait_for(lambda: re.search(r"service 127\.0\.0\.1:%d: cannot execute .*no-such-daemon" % P3, inst.log()), 10),
   "connecting to it logs that the command cannot be executed")
c.close()
ok(alive(mpid), "master keeps running")

# --- reload after a tern.conf change replaces the processes
s, f, g = greet(P1)
old = int(g["pid"])
f.write("quit\n")
f.flush()
f.readline()
f.close()
s.close()
inst.conf("max_use", "42")
is_(inst.ctl("reload").returncode, 0, "reload after a tern.conf change")
ok(wait_for(lambda: not alive(old), 10), "the old process (unchanged master.conf line) exits")
s, f, g = greet(P1)
ok(g.get("max_use") == "42" and int(g["pid"]) != old, "a new process has the new tern.conf value")
f.close()
s.close()

# --- a child that does not finish is killed after master_stop_timeout
s, f, g = greet(P1)
busy = int(g["pid"])
f.write("sleep 60\n")
f.flush()
kids = children_of(mpid)
t0 = time.time()
r = inst.stop()
took = time.time() - t0
is_(r.returncode, 0, "stop with a busy child")
ok(1.5 <= took < 15, "stop waited about master_stop_timeout (%.1fs)" % took)
ok(not alive(busy) and not alive(mpid) and not [p for p in kids if alive(p)], "everything is gone")
like(inst.log(), "sent SIGKILL", "the kill is logged")
f.close()
s.close()

# --- master -d: foreground, log on stderr, SIGTERM ends it
started = inst.log().count("daemon started")
p = subprocess.Popen([prog("master"), "-c", inst.dir, "-d"], stdout=subprocess.DEVNULL,
                     stderr=subprocess.PIPE, text=True)
ok(wait_for(lambda: inst.master_pid() == p.pid, 10), "master -d stays in the foreground (same pid)")
wait_for(lambda: inst.log().count("daemon started") > started, 10)
s, f, g = greet(P1)
ok(int(g["pid"]) > 0, "master -d serves")
f.close()
s.close()
p.send_signal(signal.SIGTERM)
try:
    err = p.communicate(timeout=20)[1]
except subprocess.TimeoutExpired:
    p.kill()
    err = p.communicate()[1]
is_(p.returncode, 0, "master -d exits 0 on SIGTERM")
like(err, "daemon started", "master -d logs to stderr")

done()
