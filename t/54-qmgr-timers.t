#!/usr/bin/python3
"""54-qmgr-timers - what qmgr does with time: the delay notice, expiry
after maximal_queue_lifetime, and the suspension of a dead destination.

A private instance with cleanup, qmgr, bounce, virtual and discard;
notices to demo@demo.test land in its Maildir and are parsed with
Python's email package. Checks:
  - delay_warning_time: one delay notice (multipart/report,
    report-type=delivery-status, Action: delayed, Status 4.x.x) while
    the message is retried, and never a second one;
  - maximal_queue_lifetime: the recipients still deferred are returned
    with a failure notice (Action: failed) whose text says the message
    was too old, the log says "status=expired, returned to sender", and
    the file is removed;
  - suspension: 40 messages for one dead destination, all due at once,
    cost one connection attempt; the others are deferred as
    "delivery temporarily suspended" without one.
(bounce_queue_lifetime does not exist in tern: notices expire like any
other message.)
"""
import email
import email.policy
import glob
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, diag, done, is_, like, ok, prog, skip_all, wait_for  # noqa: E402
import tern_ipc  # noqa: E402

for p in ("master", "cleanup", "qmgr", "bounce", "virtual", "discard", "ternctl", "tern-qgen"):
    if not os.access(prog(p), os.X_OK):
        skip_all("%s is not built" % p)

N = 40
LIFETIME = 10
inst = Instance(keep=bool(os.environ.get("TERN_KEEP")))
Q = inst.path("queue")
DEMO = inst.path("mail", "demo.test", "demo")
with open(inst.path("transport"), "w") as f:
    # gen@test (tern-qgen's sender) gets its notices discarded
    f.write("dead.test nosuch:\nsus.test nosuch:\ntest discard:notice\n")
with open(inst.path("qmgr.conf"), "a") as f:
    f.write("transport_maps = texthash:%s\nminimal_backoff_time = 1s\nmaximal_backoff_time = 1s\n"
            "queue_run_delay = 1s\ndelay_warning_time = 2s\nmaximal_queue_lifetime = %ds\n"
            % (inst.path("transport"), LIFETIME))
# the dead destination's mail, all due at once when qmgr starts
deferred = os.path.join(Q, "deferred")
subprocess.run([prog("tern-qgen"), deferred, str(N), "x@sus.test", str(int(time.time()))], check=True)
st = os.stat(os.path.join(Q, "incoming"))
for name in os.listdir(deferred):
    os.chown(os.path.join(deferred, name), st.st_uid, st.st_gid)
generated = set(os.listdir(deferred))
r = inst.start()
ok(r.returncode == 0, "instance starts")


def notices():
    """The notices in demo's Maildir, parsed, oldest first."""
    out = []
    for f in sorted(glob.glob(os.path.join(DEMO, "new", "*")), key=os.path.getmtime):
        with open(f, "rb") as fh:
            out.append(email.message_from_binary_file(fh, policy=email.policy.compat32))
    return out


def report(msg):
    """(action, status, text part) of a multipart/report notice."""
    parts = msg.get_payload() if msg.is_multipart() else []
    if len(parts) < 2 or parts[1].get_content_type() != "message/delivery-status":
        return None, None, None
    blocks = parts[1].get_payload()
    rcpt = {k.lower(): v for k, v in blocks[1].items()} if len(blocks) > 1 else {}
    return rcpt.get("action"), rcpt.get("status"), parts[0].get_payload(decode=True).decode(errors="replace")


# 1. suspension: the first delivery fails to connect, the rest are deferred without a try
ok(wait_for(lambda: all(re.search(r"%s: to=<x@sus\.test>.*status=deferred" % q, inst.log()) for q in generated),
            20), "all %d messages for the dead destination were deferred" % N)
first = {}
for line in inst.log().splitlines():
    m = re.search(r"qmgr\[\d+\]: (\w+): to=<x@sus\.test>.*status=deferred \((.*)\)$", line)
    if m and m.group(1) not in first:
        first[m.group(1)] = m.group(2)
tries = [q for q, why in first.items() if why.startswith("connect to private/nosuch")]
held = [q for q, why in first.items() if why.startswith("delivery temporarily suspended")]
is_(len(tries), 1, "one connection attempt for %d messages" % N)
is_(len(held), N - 1, "the other %d were deferred as suspended" % (N - 1))
like(inst.log(), "suspending delivery to nosuch:[sus.test] for 1s", "the suspension is logged")

# 2. delay notice, once
c = tern_ipc.CleanupClient(os.path.join(Q, "private", "cleanup"))
res = c.message(b"Subject: slow one\r\nMessage-ID: <slow@demo.test>\r\n\r\nwaiting\r\n",
                sender="demo@demo.test", rcpts=["x@dead.test"])
c.close()
qid = res and res.get("queue_id")
ok(qid, "message to the dead destination accepted")
ok(wait_for(lambda: "%s: sender delay notification" % qid in inst.log(), 20), "a delay notice is sent")
ok(wait_for(lambda: len(notices()) >= 1, 20), "it arrives in demo's Maildir")
d = notices()[0] if notices() else email.message_from_string("")
is_(d.get_content_type(), "multipart/report", "delay notice: multipart/report")
is_(d.get_param("report-type"), "delivery-status", "report-type=delivery-status")
action, status, text = report(d)
is_(action, "delayed", "Action: delayed")
ok(status and status.startswith("4."), "Status: 4.x.x (%s)" % status)
is_(d.get("From", "").count("MAILER-DAEMON") + d.get("From", "").count("postmaster") > 0, True,
    "from the mail system")
seen = inst.log().count("%s: to=<x@dead.test>" % qid)
ok(wait_for(lambda: inst.log().count("%s: to=<x@dead.test>" % qid) >= seen + 2, 20),
   "the message is retried after the notice")
is_(len(re.findall(r"qmgr\[\d+\]: %s: sender delay notification" % qid, inst.log())), 1,
    "no second delay notice")

# 3. expiry: a failure notice that says the message was too old
ok(wait_for(lambda: "%s: removed" % qid in inst.log(), LIFETIME + 20), "the message is removed once too old")
ok(re.search(r"%s: to=<x@dead\.test>, relay=none, .*status=expired, returned to sender \(message too old"
             % qid, inst.log()), "status=expired, returned to sender (message too old ...)")
like(inst.log(), "%s: sender failure notification" % qid, "a failure notice is sent")
ok(wait_for(lambda: len(notices()) >= 2, 20), "it arrives in demo's Maildir")
all_n = notices()
kinds = [report(m)[0] for m in all_n]
is_(kinds.count("delayed"), 1, "still exactly one delay notice")
fails = [m for m in all_n if report(m)[0] == "failed"]
is_(len(fails), 1, "one failure notice")
if fails:
    action, status, text = report(fails[0])
    like(text, "too old", "its text says the message was too old")
    parts = fails[0].get_payload()
    diag_code = {k.lower(): v for k, v in parts[1].get_payload()[1].items()}.get("diagnostic-code", "")
    ok(re.search(r"too old|maximal_queue_lifetime", text + diag_code), "and why: maximal_queue_lifetime")
    like(fails[0].as_string(), "Subject: slow one", "the original headers are included")
ok(wait_for(lambda: all("%s: removed" % q in inst.log() for q in generated), LIFETIME + 20),
   "the suspended destination's messages expire too")

panics = [line for line in inst.log().splitlines() if "panic" in line or "fatal" in line]
is_(panics, [], "no panic or fatal in the log")
inst.stop()
done()
