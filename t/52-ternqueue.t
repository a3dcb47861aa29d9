#!/usr/bin/python3
"""ternqueue on a running private instance.

Messages go in through the real cleanup and are routed (transport_maps)
to transports that do not exist, so they stay deferred with a reason in
defer/QID; one is held (hold/), one timed (timed/). Checks: -p fields,
marks and delay reasons, the wide layout's domain columns, -j as JSON,
listing by id, mailq printing the same as -p, who may list, -i, -s and
-f delivering once the route is fixed, and -p/-j over 20,000 generated
messages in a few seconds.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (Instance, diag, done, is_, like, ok, prog, skip_all, wait_for,  # noqa: E402
                       children_of, alive, run, unprivileged_user)
import tern_ipc  # noqa: E402

for p in ("master", "cleanup", "qmgr", "discard", "ternctl", "ternqueue", "tern-qwrite", "tern-qgen"):
    if not os.path.exists(prog(p)):
        skip_all("%s is not built" % p)

inst = Instance()
Q = inst.path("queue")
TRANSPORT = inst.path("transport")


def write_transport(text):
    with open(TRANSPORT, "w") as f:
        f.write(text)


write_transport("dead.test nosuch:\ndead2.test nosuch:\ndead3.test nosuch:\n")
with open(inst.path("qmgr.conf"), "a") as f:
    f.write("transport_maps = texthash:%s\n"
            "minimal_backoff_time = 3600s\nmaximal_backoff_time = 7200s\nqueue_run_delay = 1s\n" % TRANSPORT)
r = inst.start()
ok(r.returncode == 0, "instance starts")


sock = inst.socket


ok(wait_for(lambda: sock("cleanup") and sock("qmgr"), 10), "cleanup and qmgr sockets exist")
CLIENT = tern_ipc.CleanupClient(sock("cleanup"))


def submit(rcpts, sender="sender@client.test"):
    r = CLIENT.message(b"Subject: ternqueue test\r\n\r\nbody\r\n", rcpts=rcpts, sender=sender)
    if not r or r.get("status") != "ok":
        diag("cleanup said %r" % (r,))
        return None
    return r["queue_id"]


def where(qid):
    return inst.queue_where(qid)


def owner_chown(path):
    st = os.stat(os.path.join(Q, "incoming"))
    os.chown(path, st.st_uid, st.st_gid)


def tq(*args, **kw):
    return run([prog("ternqueue"), "-c", inst.dir] + list(args), **kw)


def qmgr_pid():
    return inst.daemon_pid("qmgr")


# the queue: three deferred messages (one with two recipients), one held, one timed
ma = submit(["a@dead.test", "a2@Dead2.test"])
mb = submit(["b@dead2.test"], sender="")
mc = submit(["c@dead3.test"], sender="other@sender.example")
ok(ma and mb and mc, "three messages accepted")
ok(wait_for(lambda: all(where(m) == ["deferred"] for m in (ma, mb, mc)), 15), "all three deferred")
subprocess.run([prog("tern-qgen"), os.path.join(Q, "hold"), "1", "h@hold.test"], check=True)
held = os.listdir(os.path.join(Q, "hold"))[0]
owner_chown(os.path.join(Q, "hold", held))
r = subprocess.run([prog("tern-qwrite"), "-s", "t@client.test", "-r", "t@timed.test",
                    "-a", "release_time=%d" % (int(time.time()) + 3600), os.path.join(Q, "incoming")],
                   input="Subject: timed\n\nbody\n", capture_output=True, text=True)
timed = r.stdout.strip()
owner_chown(os.path.join(Q, "incoming", timed))
tq("-i", timed)  # wakes qmgr ("W"), which moves it to timed/
ok(wait_for(lambda: where(timed) == ["timed"], 10), "a message waits in timed/")

# -p: mailq's format
r = tq("-p")
is_(r.returncode, 0, "-p exits 0")
out = r.stdout
like(out, "-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------", "-p: heading")
ok(re.search(r"^%s  +\d+ \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d +sender@client\.test$" % ma, out, re.M),
   "-p: id, size, arrival time and sender")
ok(re.search(r"^%s  +\d+ .* MAILER-DAEMON$" % mb, out, re.M), "-p: the null sender as MAILER-DAEMON")
ok(re.search(r"^%s!" % held, out, re.M), "-p: '!' marks a held message")
ok(re.search(r"^%s#" % timed, out, re.M), "-p: '#' marks a timed message")
ok(re.search(r"^ +\(connect to private/nosuch: No such file or directory\)\n +a@dead\.test$", out, re.M),
   "-p: the delay reason from defer/QID above the recipient")
like(out, "a2@Dead2.test", "-p: every recipient still to do")
like(out, "-- ", "-p: summary line")
ok(re.search(r"in 5 Requests\.$", out, re.M), "-p: five messages counted")

# mailq prints the same
if os.path.exists(prog("mailq")):
    env = dict(os.environ, TERN_CONFIG_DIR=inst.dir)
    m = run([prog("mailq")], env=env)
    is_(m.stdout, out, "mailq prints what ternqueue -p prints")
else:
    ok(True, "# skip mailq is not built")

# -p -w: the wide layout with domain columns
r = tq("-p", "-w")
is_(r.returncode, 0, "-p -w exits 0")
ok(re.search(r"^%s   \d+ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d client\.test +dead\.test,Dead2\.test +"
             r"sender@client\.test$" % ma, r.stdout, re.M) or
   re.search(r"^%s +\d+ \S+ \S+ client\.test +dead\.test,Dead2\.test +sender@client\.test$" % ma,
             r.stdout, re.M), "-p -w: sender domain and recipient domains as columns")
ok(re.search(r"^%s +\d+ \S+ \S+ - +dead2\.test +MAILER-DAEMON$" % mb, r.stdout, re.M),
   "-p -w: no sender domain for <>")
ok(re.search(r"^ +a@dead\.test \(connect to private/nosuch", r.stdout, re.M), "-p -w: reason beside the recipient")

# -j: JSON lines
r = tq("-j")
is_(r.returncode, 0, "-j exits 0")
try:
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    ok(True, "-j: every line parses as JSON")
except ValueError as e:
    objs = []
    ok(False, "-j: every line parses as JSON (%s)" % e)
by = {o["queue_id"]: o for o in objs}
is_(sorted(by), sorted([ma, mb, mc, held, timed]), "-j: one object per message")
a = by.get(ma, {})
is_(a.get("queue_name"), "deferred", "-j: queue_name")
is_(a.get("sender"), "sender@client.test", "-j: sender")
is_(a.get("sender_domain"), "client.test", "-j: sender_domain")
is_(sorted(a.get("recipient_domains", [])), ["Dead2.test", "dead.test"], "-j: recipient_domains")
ok(isinstance(a.get("arrival_time"), int) and abs(a["arrival_time"] - time.time()) < 300, "-j: arrival_time")
ok(isinstance(a.get("message_size"), int) and a["message_size"] > 20, "-j: message_size")
rc = a.get("recipients", [])
is_([x.get("address") for x in rc], ["a@dead.test", "a2@Dead2.test"], "-j: recipients' addresses")
ok(all("private/nosuch" in x.get("delay_reason", "") for x in rc), "-j: each recipient's delay_reason")
is_(by.get(mb, {}).get("sender"), "", "-j: the null sender is empty")
is_(by.get(held, {}).get("queue_name"), "hold", "-j: held message in queue hold")
is_(by.get(timed, {}).get("queue_name"), "timed", "-j: timed message in queue timed")
ok("delay_reason" not in by.get(held, {}).get("recipients", [{}])[0], "-j: no delay_reason when never tried")

# listing by id
r = tq("-p", mc)
ok(r.returncode == 0 and mc in r.stdout and ma not in r.stdout and "in 1 Request." in r.stdout,
   "-p ID lists that message only")
r = tq("-j", mc, held)
is_(sorted(json.loads(x)["queue_id"] for x in r.stdout.splitlines()), sorted([mc, held]), "-j ID ID")
r = tq("-j", "1K0Y0B2V7Y9AE86A")
is_(r.returncode, 66, "-j with an unknown id exits 66")

# who may list
user = unprivileged_user()
if user:
    def as_user():
        os.setgid(user.pw_gid)
        os.setuid(user.pw_uid)
    r = subprocess.run([prog("ternqueue"), "-c", inst.dir, "-p"], capture_output=True, text=True,
                       preexec_fn=as_user)
    is_(r.returncode, 0, "an ordinary user lists the queue through showq") or diag(r.stderr)
    is_(r.stdout, tq("-p").stdout, "and sees what root sees")
    with open(inst.path("tern.conf"), "a") as f:
        f.write("authorized_mailq_users = root\n")
    r = subprocess.run([prog("ternqueue"), "-c", inst.dir, "-p"], capture_output=True, text=True,
                       preexec_fn=as_user)
    is_(r.returncode, 77, "not in authorized_mailq_users: exit 77")
    like(r.stderr, "not allowed to list the queue", "with its reason")
    is_(tq("-p").returncode, 0, "root still lists")
else:
    ok(True, "# skip no unprivileged user")

# usage
is_(tq().returncode, 64, "no action: usage")
is_(tq("-p", "-f").returncode, 64, "two actions: usage")

# reroute, restart qmgr (a fresh table), then -i, -s and -f deliver
write_transport("dead.test discard:i\ndead2.test discard:s\ndead3.test discard:f\n")
pid = qmgr_pid()
ok(pid, "qmgr runs")
if pid:
    os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not alive(pid), 10)
time.sleep(1.5)
ok(all(where(m) == ["deferred"] for m in (ma, mb, mc)), "nothing is retried before it is due")
r = tq("-i", mc)
is_(r.returncode, 0, "-i exits 0")
ok(wait_for(lambda: "%s: removed" % mc in inst.log(), 15), "-i: that message is delivered")
ok(where(ma) == ["deferred"] and where(mb) == ["deferred"], "-i: the others wait")
r = tq("-s", "dead2.test")
is_(r.returncode, 0, "-s site exits 0")
ok(wait_for(lambda: "%s: removed" % mb in inst.log(), 15), "-s: the message for that site is delivered")
ok(wait_for(lambda: "flush of dead2.test requested" in inst.log(), 15), "-s: qmgr got 'F site'")
r = tq("-f")
is_(r.returncode, 0, "-f exits 0")
ok(wait_for(lambda: "%s: removed" % ma in inst.log(), 15), "-f: the rest is delivered")
# (the -s flush may already have taken ma along: wait for qmgr's line, do not race it)
ok(wait_for(lambda: "flush requested" in inst.log(), 15), "-f: qmgr got 'F'")
r = tq("-j")
is_(sorted(json.loads(x)["queue_id"] for x in r.stdout.splitlines()), sorted([held, timed]),
    "the listing shows what is left")
is_(tq("-s", "a b").returncode, 64, "-s with a bad site: usage")
is_(tq("-i", held).returncode, 69, "-i of a held message is refused")

# scale: 20,000 messages
N = 20000
subprocess.run([prog("tern-qgen"), "-n", os.path.join(Q, "hold"), str(N), "x@far.test"], check=True)
t0 = time.time()
r = tq("-p", timeout=60)
dt = time.time() - t0
ok(r.returncode == 0 and ("in %d Requests." % (N + 2)) in r.stdout, "-p lists %d messages" % (N + 2))
diag("-p over %d messages in %.2fs (the speed is measured by make bench, not here)" % (N, dt))
t0 = time.time()
r = tq("-j", timeout=60)
dt = time.time() - t0
ok(r.returncode == 0 and len(r.stdout.splitlines()) == N + 2, "-j lists them")
diag("-j over %d messages in %.2fs" % (N, dt))
done()
