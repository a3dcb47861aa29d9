#!/usr/bin/python3
"""20-master - master, the service skeleton and ternctl start/stop/reload/status.

On a private instance, through the real programs (master, tern-testsvc,
ternctl): on-demand start over inet and unix listeners; as root the
child runs as mail_owner (all uids, gids and groups checked in
/proc/PID/status) and chrooted (-C); SIGKILL'd children are replaced;
abnormal exits are logged and a crash loop is throttled; max_use and
max_idle end processes; wake-up triggers; reload adds, removes and
replaces services while an open connection keeps working and a changed
service keeps its listening socket; a second master refuses; status
lists the services and pids; stop leaves no process behind.
"""
import os
import pwd
import random
import re
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (IS_ROOT, Instance, alive, children_of, diag, done, is_,  # noqa: E402
                       like, ok, proc_status, prog, run, wait_for)


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 in 25000-25999."""
    ports = []
    while len(ports) < n:
        p = random.randint(25000, 25999)
        if p in ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
            ports.append(p)
        except OSError:
            pass
        finally:
            s.close()
    return ports


class Client:
    """A line-oriented connection to tern-testsvc."""

    def __init__(self, addr, timeout=15):
        if isinstance(addr, str):
            self.sock = socket.socket(socket.AF_UNIX)
        else:
            self.sock = socket.socket()
        self.sock.settimeout(timeout)
        self.sock.connect(addr)
        self.f = self.sock.makefile("rw", newline="\n")
        line = self.f.readline()
        self.greeting = dict(w.split("=", 1) for w in line.split()[1:] if "=" in w)
        self.pid = int(self.greeting.get("pid", "0"))

    def ask(self, line):
        self.f.write(line + "\n")
        self.f.flush()
        return self.f.readline().rstrip("\n")

    def send(self, line):
        try:
            self.f.write(line + "\n")
            self.f.flush()
        except OSError:
            pass

    def eof(self):
        try:
            return self.f.readline() == ""
        except OSError:
            return True

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass


def try_client(addr, timeout=15):
    try:
        return Client(addr, timeout)
    except (OSError, ValueError):
        return None


def refused(port):
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(("127.0.0.1", port))
        return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        s.close()


def status_lines(inst):
    """service name -> dict of its master.status fields."""
    out = {}
    try:
        with open(inst.path("data", "master.status")) as f:
            for line in f:
                if line.startswith("service "):
                    d = dict(w.split("=", 1) for w in line.split()[1:])
                    out[d["name"]] = d
    except OSError:
        pass
    return out


def listen_inode(port):
    """Inode of the listening socket on 127.0.0.1:port (from /proc/net/tcp)."""
    want = "0100007F:%04X" % port
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            w = line.split()
            if w[1] == want and w[3] == "0A":
                return w[9]
    return None


inst = Instance()
MP = free_ports(7)
P_MAIN, P_CRASH, P_LIMIT, P_GONE, P_CHANGE, P_ADD, P_EXIT = MP
TSOCK = inst.path("queue", "private", "tsock")
owner = pwd.getpwnam("tern") if IS_ROOT else pwd.getpwuid(os.getuid())

base_conf = open(inst.path("master.conf")).read()
services = [
    "127.0.0.1:%d inet n - y - - tern-testsvc" % P_MAIN,
    "tsock unix - - y - - tern-testsvc multi",
    "127.0.0.1:%d inet n - n - - tern-testsvc" % P_CRASH,
    "127.0.0.1:%d inet n - n - - tern-testsvc -o max_use=2 -o max_idle=2s" % P_LIMIT,
    "127.0.0.1:%d inet n - n - - tern-testsvc" % P_GONE,
    "127.0.0.1:%d inet n - n - - tern-testsvc" % P_CHANGE,
    "127.0.0.1:%d inet n - n - - tern-testsvc" % P_EXIT,
    "trig unix - - n 1 1 tern-testsvc trigger",
    "tsess unix - - n - - tern-testsvc multi sessions=2",
    "tpub unix n - n - - tern-testsvc",
    "tpass pass - - n - - tern-testsvc",
]


def write_master_conf(lines):
    with open(inst.path("master.conf"), "w") as f:
        f.write(base_conf + "\n# tests\n" + "\n".join(lines) + "\n")


write_master_conf(services)

# --- start (with variables that must and must not reach the children)
os.environ["TERN_TEST_MARK"] = "kept"
os.environ["LEAKY_VARIABLE"] = "dropped"
r = inst.start()
is_(r.returncode, 0, "ternctl start")
mpid = inst.master_pid()
ok(mpid and alive(mpid), "master.pid names a live master")
r = inst.ctl("start")
ok(r.returncode == 0 and "already running" in r.stdout, "start again: already running, exit 0")
r = run([prog("master"), "-c", inst.dir, "-d"], timeout=20)
ok(r.returncode != 0 and "already running" in r.stderr and str(mpid) in r.stderr,
   "a second master refuses, naming the running one")
ok(alive(mpid) and inst.master_pid() == mpid, "the first master is unharmed")

# --- on-demand start, privileges, chroot
def woken_commands():
    """Commands of master.conf services with a wake-up time: master wakes them at start."""
    cmds = set()
    with open(inst.path("master.conf")) as f:
        for line in f:
            col = line.split()
            if len(col) >= 8 and not line[0].isspace() and not col[0].startswith("#") \
                    and col[5] not in ("-", "0"):
                cmds.add(col[7])
    return cmds


woken = woken_commands()
ok(all(open("/proc/%d/cmdline" % p).read().split("\0")[0].split("/")[-1] in woken
       for p in children_of(mpid)),
   "no process before the first connection (except wake-ups)")
c = try_client(("127.0.0.1", P_MAIN))
ok(c is not None and c.pid > 0, "inet connection spawns a child with a greeting")
if c:
    is_(proc_status(c.pid).get("PPid"), str(mpid), "the child is master's")
    is_(c.ask("hello"), "hello", "echo")
    st = proc_status(c.pid)
    uids = st["Uid"].split()
    gids = st["Gid"].split()
    if IS_ROOT:
        ok(all(int(u) == owner.pw_uid and int(u) != 0 for u in uids),
           "root: all four uids are mail_owner's (%s)" % st["Uid"])
        ok(all(int(g) == owner.pw_gid and int(g) != 0 for g in gids),
           "root: all four gids are mail_owner's (%s)" % st["Gid"])
        is_(st["Groups"].split(), [str(owner.pw_gid)], "root: supplementary groups only mail_owner's")
        is_(os.readlink("/proc/%d/root" % c.pid), os.path.realpath(inst.path("queue")),
            "root: -C chroots to queue_directory")
    else:
        ok(all(int(u) == os.getuid() for u in uids), "not root: the child keeps our uid")
        is_(os.readlink("/proc/%d/root" % c.pid), "/", "not root: no chroot")
    ok(c.greeting["uid"] == "/".join([str(owner.pw_uid)] * 3), "greeting reports the uids the child sees")
    is_(c.ask("quit"), "bye", "quit")
    c.close()

u1 = try_client(TSOCK)
u2 = try_client(TSOCK)
ok(u1 and u2 and u1.greeting.get("mode") == "multi", "unix socket under private/: multi service answers")
if u1 and u2:
    is_(u1.pid, u2.pid, "multi: two connections share one process")
    is_(u2.ask("two"), "two", "multi: second connection echoes")
    is_(u1.ask("one"), "one", "multi: first connection still works")
    st = os.stat(TSOCK)
    is_(oct(st.st_mode & 0o777), oct(0o600), "private socket mode 0600")
    is_(st.st_uid, owner.pw_uid, "private socket owned by mail_owner")
    u1.close()
    u2.close()

# --- environment
c = try_client(inst.path("queue", "public", "tpub"))
ok(c is not None, "unix socket under public/ answers")
if c:
    is_(oct(os.stat(inst.path("queue", "public", "tpub")).st_mode & 0o777), oct(0o666), "public socket mode 0666")
    is_(c.ask("env TERN_TEST_MARK"), "kept", "environment: TERN_* reaches the child")
    is_(c.ask("env LEAKY_VARIABLE"), "-", "environment: other variables do not")
    is_(c.ask("env PATH"), "/usr/bin:/bin", "environment: a fixed PATH")
    c.close()

# --- multi: session limit; graceful stop of a process with a connection
s1, s2, s3 = (try_client(inst.path("queue", "private", "tsess")) for i in range(3))
ok(s1 and s2 and s3, "three connections to a multi service with sessions=2")
if s1 and s2 and s3:
    is_(s1.pid, s2.pid, "the first two share a process")
    ok(s3.pid != s1.pid, "the third gets another process (the first one is full)")
    os.kill(s1.pid, 15)
    ok(wait_for(lambda: "tsess: stop requested" in inst.log(), 5), "SIGTERM: on_stop is called")
    is_(s1.ask("stopping"), "yes", "SIGTERM: the process knows it is stopping")
    is_(s2.ask("still here"), "still here", "SIGTERM: open connections keep working")
    s1.ask("quit")
    s1.close()
    ok(alive(s1.pid), "SIGTERM: the process waits for its last connection")
    s2.ask("quit")
    s2.close()
    ok(wait_for(lambda: not alive(s1.pid), 10), "SIGTERM: ... and exits when it is done")
    s3.close()

# --- pass: a connection handed over as a file descriptor
mine, theirs = socket.socketpair()
carrier = socket.socket(socket.AF_UNIX)
carrier.settimeout(10)
carrier.connect(inst.path("queue", "private", "tpass"))
socket.send_fds(carrier, [b"x"], [theirs.fileno()])
carrier.close()
theirs.close()
mine.settimeout(15)
pf = mine.makefile("rw")
line = pf.readline()
like(line, "service=tpass", "pass: the service answers on the passed descriptor")
pf.write("passed\n")
pf.flush()
is_(pf.readline().strip(), "passed", "pass: and echoes")
pf.close()
mine.close()

# --- status
wait_for(lambda: ("127.0.0.1:%d" % P_MAIN) in status_lines(inst)
         and status_lines(inst)["127.0.0.1:%d" % P_MAIN]["pids"] != "-", 5)
r = inst.ctl("status")
is_(r.returncode, 0, "status: exit 0 while running")
like(r.stdout, "pid %d" % mpid, "status names master's pid")
like(r.stdout, "127.0.0.1:%d" % P_MAIN, "status lists the inet service")
like(r.stdout, "tsock", "status lists the unix service")
main_pids = status_lines(inst).get("127.0.0.1:%d" % P_MAIN, {}).get("pids", "-")
ok(main_pids != "-" and main_pids.split(",")[0] in r.stdout, "status shows the child pids")

# --- SIGKILL: logged, replaced on the next connection
c = try_client(("127.0.0.1", P_MAIN))
old = c.pid if c else 0
if c:
    c.close()
os.kill(old, 9)
ok(wait_for(lambda: "pid %d killed by signal 9" % old in inst.log(), 10),
   "a killed child is logged with its signal")
c = try_client(("127.0.0.1", P_MAIN), timeout=20)
ok(c is not None and c.pid != old and c.pid > 0, "the next connection gets a new process")
if c:
    is_(c.ask("after"), "after", "the new process works")
    c.close()

# --- exit status
c = try_client(("127.0.0.1", P_EXIT))
if c:
    epid = c.pid
    c.send("exit 3")
    c.close()
    ok(wait_for(lambda: re.search(r"warning: service 127\.0\.0\.1:%d \(tern-testsvc\) pid %d exit status 3"
                                  % (P_EXIT, epid), inst.log()), 10),
       "a non-zero exit is logged as 'service NAME (command) pid N exit status S'")
else:
    ok(False, "exit service answers")

# --- crash loop: throttled with growing back-off
t0 = time.time()
crashes = 0
for i in range(3):
    c = try_client(("127.0.0.1", P_CRASH), timeout=20)
    if c is None:
        break
    c.send("crash")
    c.eof()
    c.close()
    crashes += 1
is_(crashes, 3, "three crashes in a row")
ok(wait_for(lambda: re.search(r"service 127\.0\.0\.1:%d \(tern-testsvc\) pid \d+ killed by signal 6"
                              % P_CRASH, inst.log()), 10), "the crash is logged with the service and signal")
ok(wait_for(lambda: re.search(r"service 127\.0\.0\.1:%d \(tern-testsvc\) keeps failing .*throttled for [24]s"
                              % P_CRASH, inst.log()), 10), "the crash loop is logged as throttled")
ok(time.time() - t0 >= 1.0, "the back-off delays the next process (%.1fs for 3 crashes)" % (time.time() - t0))
st = status_lines(inst).get("127.0.0.1:%d" % P_CRASH, {})
ok(wait_for(lambda: int(status_lines(inst).get("127.0.0.1:%d" % P_CRASH, {}).get("abnormal", 0)) >= 3, 5),
   "master.status counts the abnormal exits")

# --- max_use and max_idle (-o)
LIMIT = "127.0.0.1:%d" % P_LIMIT
c = try_client(("127.0.0.1", P_LIMIT))
ok(c is not None and c.greeting.get("max_use") == "2", "-o max_use=2 reaches the child")
a = c.pid if c else 0
if c:
    c.ask("quit")
    c.eof()
    c.close()
ok(wait_for(lambda: status_lines(inst).get(LIMIT, {}).get("avail") == "1", 5), "the child is available again")
c = try_client(("127.0.0.1", P_LIMIT))
ok(c is not None and c.pid == a and c.greeting.get("use") == "2", "the second connection reuses the process")
if c:
    c.ask("quit")
    c.close()
ok(wait_for(lambda: not alive(a), 10), "after max_use connections the process exits")
c = try_client(("127.0.0.1", P_LIMIT))
b = c.pid if c else 0
ok(b and b != a, "the next connection gets a new process")
if c:
    c.ask("quit")
    c.close()
t0 = time.time()
ok(wait_for(lambda: not alive(b), 10), "after max_idle (2s) with nothing to do the process exits")
ok(time.time() - t0 >= 1.0, "... and not before it was idle (%.1fs)" % (time.time() - t0))

# --- wake-up triggers
ok(wait_for(lambda: inst.log().count("trigger: 1 bytes on trig") >= 2, 10),
   "wake-up: the trigger service is woken every second")

# --- reload: add, remove, change; open connections survive
keep = try_client(("127.0.0.1", P_MAIN))
oldgen = try_client(("127.0.0.1", P_CHANGE))
inode_before = listen_inode(P_CHANGE)
ok(keep is not None and oldgen is not None, "connections open before the reload")
new_services = [s for s in services if ":%d " % P_GONE not in s]
new_services = [s + " -o max_use=7" if ":%d " % P_CHANGE in s else s for s in new_services]
new_services.append("127.0.0.1:%d inet n - n - - tern-testsvc" % P_ADD)
write_master_conf(new_services)
r = inst.ctl("reload")
is_(r.returncode, 0, "ternctl reload")
c = wait_for(lambda: try_client(("127.0.0.1", P_ADD), timeout=5), 10)
ok(c is not None, "reload: the added service answers")
if c:
    c.close()
ok(wait_for(lambda: refused(P_GONE), 10), "reload: the removed service's port refuses connections")
if keep:
    is_(keep.ask("still"), "still", "reload: a connection to an unchanged service keeps working")
    is_(keep.ask("stopping"), "no", "reload: its process was not asked to stop")
is_(listen_inode(P_CHANGE), inode_before, "reload: the changed service keeps its listening socket")
c = try_client(("127.0.0.1", P_CHANGE))
ok(c is not None and c.greeting.get("max_use") == "7" and oldgen and c.pid != oldgen.pid,
   "reload: the changed service runs a new process with the new settings")
if c:
    c.close()
if oldgen:
    is_(oldgen.ask("old"), "old", "reload: the old process of the changed service finishes its connection")
    is_(oldgen.ask("stopping"), "yes", "reload: ... and was told to stop")
    opid = oldgen.pid
    oldgen.ask("quit")
    oldgen.close()
    ok(wait_for(lambda: not alive(opid), 10), "reload: the old process exits when its connection is done")
ok(wait_for(lambda: ("127.0.0.1:%d" % P_ADD) in inst.ctl("status").stdout
            and ("127.0.0.1:%d" % P_GONE) not in inst.ctl("status").stdout, 5),
   "status after reload lists the new table")

# a broken master.conf: reload keeps the running configuration
write_master_conf(new_services + ["broken line"])
inst.ctl("reload")
ok(wait_for(lambda: "reload failed" in inst.log(), 10), "reload with a broken master.conf is refused")
like(inst.log(), "master.conf:", "... naming the file and line")
c = try_client(("127.0.0.1", P_ADD))
ok(c is not None, "... and the services keep running")
if c:
    c.close()

# --- stop: nothing left behind
before = [mpid] + children_of(mpid)
ok(len(before) >= 3, "master has children before stop (%d)" % (len(before) - 1))
if keep:
    keep.close()
r = inst.stop()
is_(r.returncode, 0, "ternctl stop")
left = [p for p in before if alive(p)]
is_(left, [], "stop: master and every child are gone")
ok(not os.path.exists(inst.path("data", "master.pid")), "stop: pid file removed")
ok(not os.path.exists(TSOCK), "stop: unix socket removed")
r = inst.ctl("status")
is_(r.returncode, 3, "status: exit 3 when not running")
expected = ("127.0.0.1:%d " % P_CRASH, "127.0.0.1:%d " % P_EXIT, "killed by signal 9", "already running")
unexpected = [l for l in inst.log().splitlines()
              if re.search(r"exit status|killed by signal|panic|fatal|AddressSanitizer|runtime error", l)
              and not any(e in l for e in expected)]
is_(unexpected, [], "no other process failed (exit status, signal, fatal, sanitizer)")
r = inst.ctl("stop")
ok(r.returncode == 0 and "not running" in r.stdout, "stop when not running: exit 0")
r = inst.ctl("reload")
ok(r.returncode != 0, "reload when not running fails")

done()
