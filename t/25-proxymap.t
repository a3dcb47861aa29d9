#!/usr/bin/python3
"""25-proxymap - the proxymap service and proxy: tables.

On a private instance with proxymap in master.conf and the default
proxy_read_maps (unix:passwd.byname and the aliases of the instance),
through ternmap -c DIR and a raw protocol client: found / not found for
unix:passwd.byname, hash: and texthash: through proxymap; a key with '@'
is not found in unix:passwd.byname (through ternmap and raw, where
proxymap answers it without asking the system); a table not in
proxy_read_maps is refused (exit 75, a logged reason); many requests on
one connection; malformed requests get an error reply, a malformed frame
closes only that connection; a changed texthash file is read again; a
client reconnects when its kept connection dies (proxymap stopped by
SIGTERM); a stuck proxymap is a timeout (75) after ipc_timeout; as root
proxymap runs as mail_owner, not chrooted; with proxymap stopped, a
lookup is a temporary error (75), never "not found".
"""
import os
import pwd
import signal
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (IS_ROOT, Instance, alive, children_of, diag, done, is_,  # noqa: E402
                       like, ok, proc_status, prog, run, skip_all, wait_for)

for p in ("master", "proxymap", "ternmap", "ternctl"):
    if not os.access(prog(p), os.X_OK):
        skip_all(p + " is not built")

inst = Instance()
D = inst.dir
ALIASES = inst.path("aliases")
with open(ALIASES, "w") as f:
    f.write("postmaster root\nabuse alice\n")
os.chmod(ALIASES, 0o644)
r = run([prog("ternmap"), "hash:" + ALIASES])
is_(r.returncode, 0, "build hash:aliases")
with open(inst.path("secret"), "w") as f:
    f.write("key value\n")
inst.conf("ipc_timeout", "3s")
with open(inst.path("master.conf")) as f:
    ok(any(line.split()[:1] == ["proxymap"] and line.split()[-1] == "proxymap" for line in f),
       "ternctl init enabled proxymap in master.conf")
r = inst.start()
is_(r.returncode, 0, "instance started")
SOCK = inst.path("queue", "private", "proxymap")
ok(wait_for(lambda: os.path.exists(SOCK), 10), "private/proxymap exists")


def tm(*args, input=None, timeout=30):
    return run([prog("ternmap"), "-c", D] + list(args), input=input, timeout=timeout)


def pw_value(name):
    pw = pwd.getpwnam(name)
    return "%d:%d:%s" % (pw.pw_uid, pw.pw_gid, pw.pw_dir)


def proxymap_pids():
    """proxymap processes of this instance (children of its master)."""
    pid = inst.master_pid()
    out = []
    for c in children_of(pid) if pid else []:
        try:
            with open("/proc/%d/cmdline" % c, "rb") as f:
                if f.read().split(b"\0")[0].endswith(b"proxymap"):
                    out.append(c)
        except OSError:
            pass
    return out


# --- ternmap through proxymap -------------------------------------------
r = tm("-q", "root", "proxy:unix:passwd.byname")
is_((r.returncode, r.stdout), (0, pw_value("root") + "\n"), "unix:passwd.byname finds root")
r = tm("-q", "daemon", "proxy:unix:passwd.byname")
is_((r.returncode, r.stdout), (0, pw_value("daemon") + "\n"), "and a system user")
r = tm("-q", "tern-no-such-user-q9", "proxy:unix:passwd.byname")
is_((r.returncode, r.stdout, r.stderr), (1, "", ""), "a made-up user: not found (exit 1), no error")
r = tm("-q", "root@localhost", "proxy:unix:passwd.byname")
is_((r.returncode, r.stdout, r.stderr), (1, "", ""), "an address (a key with '@'): not found, no error")
r = tm("-q", "Postmaster", "proxy:hash:" + ALIASES)
is_((r.returncode, r.stdout), (0, "root\n"), "hash: aliases through proxymap (key folded)")
r = tm("-q", "abuse", "proxy:texthash:" + ALIASES)
is_((r.returncode, r.stdout), (0, "alice\n"), "texthash: aliases through proxymap")
r = tm("-q", "nobody-here", "proxy:hash:" + ALIASES)
is_(r.returncode, 1, "hash: not found")
r = tm("-q", "-", "proxy:unix:passwd.byname", "proxy:texthash:" + ALIASES,
       input="root\nmissing-x\npostmaster\nabuse\n")
is_((r.returncode, r.stdout),
    (0, "root\t%s\npostmaster\troot\nabuse\talice\n" % pw_value("root")),
    "-q -: several keys and tables over the kept connection")

r = tm("-q", "key", "proxy:texthash:" + inst.path("secret"))
is_(r.returncode, 75, "a table not in proxy_read_maps: temporary error (75)")
like(r.stderr, "not listed in proxy_read_maps", "the client is told why")
ok(wait_for(lambda: "texthash:%s' is not listed in proxy_read_maps: refused" % inst.path("secret")
            in inst.log(), 5), "proxymap logs the refusal")
r = tm("-q", "root", "proxy:hash:/etc/shadow")
is_(r.returncode, 75, "proxy:hash:/etc/shadow refused too")
r = tm("-q", "x", "proxy:nosuch:/x")
ok(r.returncode not in (0, 1), "an unknown type behind proxy: does not open (exit %d)" % r.returncode)

# --- the process ------------------------------------------------------------
pids = proxymap_pids()
is_(len(pids), 1, "one proxymap process served all of that")
PID = pids[0] if pids else None
if PID and IS_ROOT:
    owner = None
    with open(inst.path("tern.conf")) as f:
        for line in f:
            if line.startswith("mail_owner"):
                owner = line.split("=", 1)[1].strip()
    pw = pwd.getpwnam(owner)
    st = proc_status(PID)
    is_(st["Uid"].split(), [str(pw.pw_uid)] * 4, "proxymap runs as mail_owner %s (all uids)" % owner)
    is_(st["Gid"].split(), [str(pw.pw_gid)] * 4, "and its group (all gids)")
    is_(st.get("Groups", "").split(), [str(pw.pw_gid)], "no other groups")
    is_(os.readlink("/proc/%d/root" % PID), "/", "not chrooted")
elif PID:
    ok(True, "not root: proxymap runs as the invoking user (# SKIP ids)")

# --- the protocol, raw ----------------------------------------------------


def encode(attrs):
    body = bytes([1])
    for name, value in attrs:
        n = name.encode()
        if isinstance(value, int):
            t, v = b"I", struct.pack(">q", value)
        else:
            t, v = b"S", value.encode()
        body += t + bytes([len(n)]) + n + struct.pack(">I", len(v)) + v
    return struct.pack(">I", len(body)) + body


def recv_exact(s, n):
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def recv_frame(s):
    head = recv_exact(s, 4)
    if head is None:
        return None
    payload = recv_exact(s, struct.unpack(">I", head)[0])
    pos, out = 1, {}
    while pos < len(payload):
        t, nl = chr(payload[pos]), payload[pos + 1]
        name = payload[pos + 2:pos + 2 + nl].decode()
        (vl,) = struct.unpack_from(">I", payload, pos + 2 + nl)
        pos += 6 + nl
        out[name] = payload[pos:pos + vl].decode() if t == "S" else payload[pos:pos + vl]
        pos += vl
    return out


def ask(s, table, key, flags=0, op="lookup"):
    s.sendall(encode([("op", op), ("table", table), ("key", key), ("flags", flags)]))
    return recv_frame(s)


s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(SOCK)
rep = ask(s, "unix:passwd.byname", "root")
is_(rep, {"status": "ok", "value": pw_value("root")}, "raw: ok with the value")
rep = ask(s, "unix:passwd.byname", "tern-no-such-user-q9")
is_(rep, {"status": "notfound"}, "raw: notfound, same connection")
rep = ask(s, "unix:passwd.byname", "root@localhost")
is_(rep, {"status": "notfound"}, "raw: a key with '@' in passwd.byname: notfound")
rep = ask(s, "texthash:" + ALIASES, "ABUSE", flags=2)
is_(rep, {"status": "notfound"}, "raw: TABLE_KEEP_CASE is honoured")
rep = ask(s, "texthash:" + ALIASES, "ABUSE")
is_(rep and rep.get("status"), "ok", "raw: without it the key is folded")
rep = ask(s, "unix:passwd.byname", "root", op="update")
ok(rep and rep["status"] == "error" and "unknown op" in rep["text"], "raw: unknown op: error reply")
rep = ask(s, "unix:passwd.byname", "root", flags=64)
ok(rep and rep["status"] == "error" and "flags" in rep["text"], "raw: unknown flags: error reply")
rep = ask(s, "proxy:unix:passwd.byname", "root")
ok(rep and rep["status"] == "error" and "proxy_read_maps" in rep["text"], "raw: proxy:proxy: refused")
s.sendall(encode([("op", "lookup"), ("table", "unix:passwd.byname")]))
rep = recv_frame(s)
ok(rep and rep["status"] == "error" and 'missing attribute "key"' in rep["text"],
   "raw: a request without a key: error reply")
s.sendall(struct.pack(">I", 3) + b"\x02ab")
ok(recv_frame(s) is None, "raw: a malformed frame closes the connection")
s.close()
ok(wait_for(lambda: "connection closed" in inst.log(), 5), "and is logged")
ok(alive(PID) and proxymap_pids() == [PID], "proxymap lives on")

# --- a changed texthash file is read again ----------------------------------
with open(ALIASES, "w") as f:
    f.write("postmaster root\nabuse bob, carol\n")
time.sleep(1.1)
r = tm("-q", "abuse", "proxy:texthash:" + ALIASES)
is_((r.returncode, r.stdout), (0, "bob, carol\n"), "a changed texthash file is read again")
ok(wait_for(lambda: "texthash:%s changed: read again" % ALIASES in inst.log(), 5), "and logged")

# --- reconnect: proxymap goes away between two lookups -------------------
p = subprocess.Popen([prog("ternmap"), "-c", D, "-q", "-", "proxy:unix:passwd.byname"],
                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
p.stdin.write("root\n")
p.stdin.flush()
is_(p.stdout.readline(), "root\t%s\n" % pw_value("root"), "kept connection: first answer")
pids = proxymap_pids()
if pids:
    os.kill(pids[0], signal.SIGTERM)
    ok(wait_for(lambda: not alive(pids[0]), 10), "proxymap stopped by SIGTERM closes its connections")
p.stdin.write("daemon\n")
p.stdin.flush()
is_(p.stdout.readline(), "daemon\t%s\n" % pw_value("daemon"), "the next lookup reconnects")
p.stdin.close()
is_(p.wait(timeout=30), 0, "ternmap exits 0")
err = p.stderr.read()
is_(err, "", "no error on the way")
p.stdout.close()
p.stderr.close()
new = proxymap_pids()
ok(len(new) == 1 and new[0] not in pids, "a new proxymap process answered")

# --- a stuck proxymap: timeout ------------------------------------------
if new:
    os.kill(new[0], signal.SIGSTOP)
    t0 = time.time()
    r = tm("-q", "root", "proxy:unix:passwd.byname")
    took = time.time() - t0
    os.kill(new[0], signal.SIGCONT)
    is_(r.returncode, 75, "no answer within ipc_timeout: temporary error (75)")
    like(r.stderr, "timeout", "and says so")
    ok(2.5 < took < 10, "after about ipc_timeout = 3s (%.1fs)" % took)
    r = tm("-q", "root", "proxy:unix:passwd.byname")
    is_(r.returncode, 0, "and answers again once it runs")

# --- proxymap not running -------------------------------------------------
r = inst.stop()
is_(r.returncode, 0, "instance stopped")
r = tm("-q", "root", "proxy:unix:passwd.byname")
is_((r.returncode, r.stdout), (75, ""), "proxymap stopped: temporary error (75), not 'not found'")
like(r.stderr, "cannot connect to the proxymap service", "and says so")
r = tm("-q", "-", "proxy:unix:passwd.byname", input="root\n")
is_(r.returncode, 75, "the same for -q -")
r = run([prog("ternmap"), "-c", inst.path("nosuchdir"), "-q", "root", "proxy:unix:passwd.byname"])
is_(r.returncode, 66, "-c with a missing directory: 66")
with open(inst.path("tern.conf"), "a") as f:
    f.write("ipc_timeout = forever\n")
r = tm("-q", "root", "proxy:unix:passwd.byname")
is_(r.returncode, 78, "a configuration that does not load: 78")
like(r.stderr, "ipc_timeout", "naming the parameter")
r = tm("-q", "postmaster", "hash:" + ALIASES)
is_(r.returncode, 0, "tables that are not proxy: do not need the configuration")
done()
