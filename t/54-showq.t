#!/usr/bin/python3
"""54-showq - ordinary users list the queue through the showq service.

A root-started private instance (the daemons run as the mail owner, the
queue directories are theirs, mode 0700) holds two deferred messages.
Run as the unprivileged user nobody: ternqueue -p, -p -w and -j and mailq
cannot read the queue themselves and get the listing from public/showq,
the same as root gets reading directly. With authorized_mailq_users =
root, showq itself refuses nobody (asked directly over its socket, so the
client's own check is not what is tested) and ternqueue says why.
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (IS_ROOT, Instance, diag, done, is_, like, ok, prog, run, skip_all,  # noqa: E402
                       unprivileged_user, wait_for)
import tern_ipc  # noqa: E402

for p in ("master", "cleanup", "qmgr", "showq", "ternctl", "ternqueue", "sendmail"):
    if not os.access(prog(p), os.X_OK):
        skip_all("%s is not built" % p)
if not IS_ROOT:
    skip_all("needs root: an instance whose queue an ordinary user cannot read")
NOBODY = unprivileged_user()
if NOBODY is None:
    skip_all("no unprivileged user")

inst = Instance(keep=bool(os.environ.get("TERN_KEEP")))
Q = inst.path("queue")
with open(inst.path("transport"), "w") as f:
    f.write("dead.test nosuch:\n")
with open(inst.path("qmgr.conf"), "a") as f:
    f.write("transport_maps = texthash:%s\nminimal_backoff_time = 3600s\n" % inst.path("transport"))


def as_nobody(args, **kw):
    return run(["runuser", "-u", NOBODY.pw_name, "--"] + args, **kw)


def ternqueue(*args, user=True):
    cmd = [prog("ternqueue"), "-c", inst.dir] + list(args)
    return as_nobody(cmd) if user else run(cmd)


r = inst.start()
ok(r.returncode == 0, "instance starts")
ok(wait_for(lambda: os.path.exists(os.path.join(Q, "public", "showq")) and
            os.path.exists(os.path.join(Q, "private", "cleanup")), 10), "public/showq exists")
c = tern_ipc.CleanupClient(os.path.join(Q, "private", "cleanup"))
qids = []
for i in range(2):
    res = c.message(b"Subject: queued\r\n\r\nbody\r\n", sender="who%d@client.test" % i,
                    rcpts=["r%d@dead.test" % i])
    qids.append(res and res.get("queue_id"))
c.close()
ok(all(qids), "two messages queued")
ok(wait_for(lambda: all(os.path.exists(os.path.join(Q, "deferred", q)) for q in qids), 10),
   "both deferred")

r = as_nobody(["ls", os.path.join(Q, "deferred")])
ok(r.returncode != 0, "nobody cannot read the queue directories")

r = ternqueue("-p")
is_(r.returncode, 0, "ternqueue -p as nobody exits 0") or diag(r.stderr)
root = ternqueue("-p", user=False)
is_(r.stdout, root.stdout, "and prints what root reads directly")
ok(all(q in r.stdout for q in qids), "both queue ids are listed")
like(r.stdout, "(connect to private/nosuch: No such file or directory)", "with the delay reason")
like(r.stdout, "-- 1 Kbytes in 2 Requests.", "and the summary")

r = ternqueue("-p", "-w")
is_(r.returncode, 0, "ternqueue -p -w as nobody exits 0")
is_(r.stdout, ternqueue("-p", "-w", user=False).stdout, "the wide layout is the same as root's")
like(r.stdout, "dead.test", "with the recipient domain column")

r = ternqueue("-j", qids[0])
is_(r.returncode, 0, "ternqueue -j QID as nobody exits 0")
objs = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
is_([o.get("queue_id") for o in objs], [qids[0]], "one JSON object, the message asked for")
is_(objs[0].get("sender") if objs else None, "who0@client.test", "with its sender")
r = ternqueue("-j", "1K0Y0000000000ZZ")
is_(r.returncode, 66, "an id showq does not find: exit 66")

r = as_nobody([os.path.join(os.path.dirname(prog("sendmail")), "mailq"), "-C", inst.dir])
is_(r.returncode, 0, "mailq as nobody exits 0") or diag(r.stderr)
ok(all(q in r.stdout for q in qids), "mailq lists both")

# authorized_mailq_users = root: showq refuses nobody
inst.stop()
inst.conf("authorized_mailq_users", "root")
r = inst.start()
ok(r.returncode == 0 and wait_for(lambda: os.path.exists(os.path.join(Q, "public", "showq")), 10),
   "restarted with authorized_mailq_users = root")
probe = ("import sys; sys.path.insert(0, %r); import tern_ipc\n"
         "c = tern_ipc.Conn(%r, timeout=20)\nc.send([('layout', 'mailq')])\n"
         "print(dict(c.recv() or []))\n") % (os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"),
                                            os.path.join(Q, "public", "showq"))
r = as_nobody(["/usr/bin/python3", "-c", probe])
like(r.stdout, "'status': 'error'", "showq answers nobody with an error") or diag(r.stderr)
like(r.stdout, "authorized_mailq_users", "that names authorized_mailq_users")
ok(all(q not in r.stdout for q in qids), "and lists nothing")
r = ternqueue("-p")
is_(r.returncode, 77, "ternqueue -p as nobody: exit 77")
like(r.stderr, "not allowed to list the queue (authorized_mailq_users)", "with a clear message")
r = ternqueue("-p", user=False)
ok(r.returncode == 0 and all(q in r.stdout for q in qids), "root still lists the queue")
like(inst.log(), "may not list the queue (authorized_mailq_users)", "showq logs the refusal")

inst.stop()
done()
