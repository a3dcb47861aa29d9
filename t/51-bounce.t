#!/usr/bin/python3
"""51-bounce - delivery status notifications from the bounce service.

A private instance runs cleanup and bounce only. Originals are queued
through the real cleanup (t/lib/tern_ipc.py) and moved to active/ as qmgr
would; reason files are written to bounce/QID and defer/QID as
deliver_proto.h describes; BOUNCE requests go to private/bounce. Each
notice is read back from incoming/ with terncat and parsed with Python's
email package. Checked: failure notices (report-type, Status, Action,
Final-/Original-Recipient, Reporting-MTA, Original-Envelope-Id,
Remote-MTA and Diagnostic-Code, the original as message/rfc822), RET=HDRS
and bounce_size_limit (text/rfc822-headers, no body), NOTIFY=NEVER and
NOTIFY filtering, the null sender -> postmaster with dsn_kind double,
a double bounce is not reported again, delay and success notices,
SMTPUTF8 -> message/global, the log lines, and error replies.
"""
import email
import email.policy
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, diag, done, is_, like, ok, prog, run, skip_all, wait_for  # noqa: E402
import tern_ipc as I  # noqa: E402
import tern_test  # noqa: E402

for p in ("master", "cleanup", "bounce", "terncat", "ternctl"):
    if not os.access(prog(p), os.X_OK):
        skip_all(p + " is not built")

HOST = "mx.bounce.test"
inst = Instance()
with open(inst.path("master.conf"), "w") as f:
    f.write("cleanup unix - - n - 0 cleanup\nbounce unix - - n - 0 bounce\n")
inst.conf("myhostname", HOST)
inst.conf("ipc_timeout", "10s")
with open(inst.path("qmgr.conf"), "a") as f:
    f.write("bounce_size_limit = 2000\n")
Q = inst.path("queue")
for d in ("bounce", "defer"):
    os.makedirs(os.path.join(Q, d), exist_ok=True)
r = inst.start()
is_(r.returncode, 0, "instance started")
CLEANUP = os.path.join(Q, "private", "cleanup")
BOUNCE = os.path.join(Q, "private", "bounce")
ok(wait_for(lambda: os.path.exists(CLEANUP) and os.path.exists(BOUNCE), 10), "sockets exist")

BODY = b"Hello there.\r\nSecond line of the body.\r\n"


def original(sender="alice@client.test", rcpts=("bob@remote.test",), subject="test", body=BODY,
             **kw):
    """Queue an original through cleanup, move it to active/: its queue id."""
    c = I.CleanupClient(CLEANUP)
    content = b"Subject: " + subject.encode() + b"\r\nFrom: <alice@client.test>\r\n" \
        b"Message-ID: <orig-" + subject.encode() + b"@client.test>\r\n\r\n" + body
    res = c.message(content, sender=sender, rcpts=list(rcpts), **kw)
    c.close()
    if not res or res.get("status") != "ok":
        diag("cleanup: %r" % (res,))
        return None
    qid = res["queue_id"]
    os.rename(os.path.join(Q, "incoming", qid), os.path.join(Q, "active", qid))
    return qid


def reasons(kind, qid, lines):
    with open(os.path.join(Q, kind, qid), "a") as f:
        for line in lines:
            f.write("\t".join(str(x) for x in line) + "\n")


def todo(name, why):
    """A TAP TODO point: fails without failing the file."""
    tern_test._count += 1
    print("not ok %d - %s # TODO %s" % (tern_test._count, name, why), flush=True)


def bounce(op, qid, indexes, postmaster=None):
    """Send one BOUNCE request: the reply as a dict."""
    req = [("op", op), ("queue_id", qid), ("queue_file", "active/" + qid)]
    req += [("rcpt_index", i) for i in indexes]
    if postmaster is not None:
        req.append(("to_postmaster", postmaster))
    c = I.Conn(BOUNCE, timeout=30)
    c.send(req)
    rep = c.recv()
    c.close()
    return dict(rep) if rep else {}


def notice(qid):
    """(envelope text, parsed message) of a notice in incoming/."""
    path = os.path.join(Q, "incoming", qid)
    env = run([prog("terncat"), "-e", path]).stdout
    raw = run([prog("terncat"), "-hb", path]).stdout
    return env, email.message_from_string(raw, policy=email.policy.compat32)


def parts(msg):
    p = msg.get_payload()
    return p if isinstance(p, list) else []


def status_blocks(part):
    """message/delivery-status: [per-message dict, per-recipient dicts...]."""
    blocks = []
    for sub in part.get_payload():
        blocks.append({k.lower(): v for k, v in sub.items()})
    return blocks


# --- failure: two recipients, remote and local, ENVID, ORCPT ---
qid = original(rcpts=["bob@remote.test", "carol@local.test", "dave@local.test"],
               orcpts=["rfc822;bob+2Bx@remote.test", "", ""],
               notify=[0, I.NOTIFY_FAILURE, I.NOTIFY_NEVER], envid="ENV+2B42")
ok(qid, "original queued")
reasons("bounce", qid, [
    (0, "4.4.1", 1700000000, "none", "connection timed out"),
    (0, "5.1.1", 1700000100, "mx.remote.test[127.0.0.2]:25",
     "host mx.remote.test[127.0.0.2] said: 550 5.1.1 <bob@remote.test>: no such user "
     "(in reply to RCPT TO command)"),
    (1, "5.2.2", 1700000200, "local", "mailbox full"),
])
rep = bounce("failure", qid, [0, 1, 2])
is_(rep.get("status"), "ok", "failure: ok")
nq = rep.get("queue_id", "")
ok(re.fullmatch(r"[0-9A-Z]{12,24}", nq), "failure: new queue id %s" % nq)
FIRST_NOTICE = nq
env, m = notice(nq)
like(env, "sender: <>", "notice from the null sender")
like(env, "alice@client.test", "notice to the original sender")
if "dsn_kind" in env:
    like(env, "failure", "queue-file attribute dsn_kind failure")
else:
    todo("queue-file attribute dsn_kind failure", "cleanup does not store dsn_kind yet")
is_(m.get_content_type(), "multipart/report", "multipart/report")
is_(m.get_param("report-type"), "delivery-status", "report-type=delivery-status")
is_(m["Subject"], "Undelivered Mail Returned to Sender", "failure Subject")
is_(m["From"], "MAILER-DAEMON@%s (Mail Delivery System)" % HOST, "From MAILER-DAEMON")
is_(m["To"], "<alice@client.test>", "To the sender")
is_(m["Auto-Submitted"], "auto-replied", "Auto-Submitted")
ok(m["Date"] and m["Message-ID"], "Date and Message-ID")
ps = parts(m)
is_([p.get_content_type() for p in ps], ["text/plain", "message/delivery-status", "message/rfc822"],
    "three parts")
like(ps[0].get_payload(), "could not be delivered", "human part says what failed")
like(ps[0].get_payload(), "no such user", "human part says why")
sb = status_blocks(ps[1])
is_(len(sb), 3, "per-message block and two recipient blocks (NOTIFY=NEVER left out)")
is_(sb[0].get("reporting-mta"), "dns; " + HOST, "Reporting-MTA")
is_(sb[0].get("original-envelope-id"), "ENV+42", "Original-Envelope-Id decoded")
ok(sb[0].get("arrival-date"), "Arrival-Date")
b = sb[1]
is_(b.get("final-recipient"), "rfc822; bob@remote.test", "Final-Recipient")
is_(b.get("original-recipient"), "rfc822;bob+x@remote.test", "Original-Recipient decoded")
is_(b.get("action"), "failed", "Action failed")
is_(b.get("status"), "5.1.1", "Status from the last reason line")
is_(b.get("remote-mta"), "dns; mx.remote.test", "Remote-MTA")
is_(b.get("diagnostic-code"), "smtp; 550 5.1.1 <bob@remote.test>: no such user", "Diagnostic-Code")
ok(b.get("last-attempt-date"), "Last-Attempt-Date")
c = sb[2]
is_(c.get("final-recipient"), "rfc822; carol@local.test", "second recipient")
is_(c.get("status"), "5.2.2", "second status")
ok("remote-mta" not in c, "no Remote-MTA for local")
ok("original-recipient" not in c, "no Original-Recipient without ORCPT")
inner = ps[2].get_payload()[0]
is_(inner["Subject"], "test", "original headers included")
like(inner.get_payload(), "Second line of the body.", "RET=FULL default: body included")
like(inst.log(), "%s: sender non-delivery notification: %s" % (qid, nq), "log line")

# --- RET=HDRS ---
qid = original(subject="hdrs", ret="HDRS")
reasons("bounce", qid, [(0, "5.1.1", 1700000000, "local", "unknown user")])
rep = bounce("failure", qid, [0])
env, m = notice(rep.get("queue_id", ""))
ps = parts(m)
is_(ps[2].get_content_type() if len(ps) > 2 else None, "text/rfc822-headers", "RET=HDRS: headers only")
raw3 = ps[2].as_string() if len(ps) > 2 else ""
like(raw3, "Subject: hdrs", "RET=HDRS: the headers are there")
ok("Second line" not in raw3, "RET=HDRS: no body")

# --- over bounce_size_limit ---
qid = original(subject="big", body=b"x" * 70 + b"\r\n" + (b"y" * 76 + b"\r\n") * 40)
reasons("bounce", qid, [(0, "5.1.1", 1700000000, "local", "unknown user")])
rep = bounce("failure", qid, [0])
env, m = notice(rep.get("queue_id", ""))
ps = parts(m)
is_(ps[2].get_content_type() if len(ps) > 2 else None, "text/rfc822-headers",
    "over bounce_size_limit: headers only")
ok("yyyy" not in (ps[2].as_string() if len(ps) > 2 else "yyyy"), "over the limit: no body")

# --- only NOTIFY=NEVER recipients: nothing is sent ---
qid = original(subject="never", notify=[I.NOTIFY_NEVER])
rep = bounce("failure", qid, [0])
is_((rep.get("status"), rep.get("queue_id")), ("ok", ""), "NOTIFY=NEVER: ok, no notice")

# --- null sender: to postmaster, once ---
qid = original(sender="", subject="null")
reasons("bounce", qid, [(0, "5.1.1", 1700000000, "local", "unknown user")])
rep = bounce("failure", qid, [0], postmaster=1)
is_(rep.get("status"), "ok", "double bounce: ok")
dq = rep.get("queue_id", "")
env, m = notice(dq)
like(env, "postmaster@" + HOST, "double bounce goes to the postmaster")
like(env, "sender: <>", "double bounce from <>")
if "dsn_kind" in env:
    like(env, "double", "dsn_kind double")
else:
    todo("queue-file attribute dsn_kind double", "cleanup does not store dsn_kind yet")
like(inst.log(), "%s: postmaster non-delivery notification: %s" % (qid, dq), "double bounce log line")
if "dsn_kind" in env:
    os.rename(os.path.join(Q, "incoming", dq), os.path.join(Q, "active", dq))
    rep = bounce("failure", dq, [0], postmaster=1)
    is_((rep.get("status"), rep.get("queue_id")), ("ok", ""), "a double bounce is not reported again")

# --- delay ---
qid = original(subject="delay", rcpts=["slow@remote.test"])
reasons("defer", qid, [(0, "4.4.1", 1700000000, "mx.remote.test[127.0.0.2]:25",
                        "host mx.remote.test[127.0.0.2] said: 451 4.4.1 try later")])
rep = bounce("delay", qid, [0])
is_(rep.get("status"), "ok", "delay: ok")
env, m = notice(rep.get("queue_id", ""))
is_(m["Subject"], "Delayed Mail (still being retried)", "delay Subject")
ps = parts(m)
sb = status_blocks(ps[1]) if len(ps) > 1 else [{}, {}]
is_(sb[1].get("action"), "delayed", "Action delayed")
is_(sb[1].get("status"), "4.4.1", "delay Status")
ok(sb[1].get("will-retry-until"), "Will-Retry-Until")
is_(ps[2].get_content_type() if len(ps) > 2 else None, "text/rfc822-headers", "delay: headers only")
like(inst.log(), "%s: sender delay notification: " % qid, "delay log line")

# --- success: only NOTIFY=SUCCESS recipients ---
qid = original(subject="success", rcpts=["a@local.test", "b@local.test"],
               notify=[I.NOTIFY_SUCCESS | I.NOTIFY_FAILURE, 0])
rep = bounce("success", qid, [0, 1])
is_(rep.get("status"), "ok", "success: ok")
env, m = notice(rep.get("queue_id", ""))
is_(m["Subject"], "Successful Mail Delivery Report", "success Subject")
sb = status_blocks(parts(m)[1])
is_(len(sb), 2, "only the NOTIFY=SUCCESS recipient")
is_(sb[1].get("action"), "delivered", "Action delivered")
ok(sb[1].get("status", "").startswith("2."), "Status 2.x.x")
like(inst.log(), "%s: sender delivery status notification: " % qid, "success log line")

# --- SMTPUTF8 ---
qid = original(subject="utf8", rcpts=["bob@remote.test"], flags=I.FLAG_SMTPUTF8,
               orcpts=["utf-8;j\\x{F6}rg@remote.test"])
reasons("bounce", qid, [(0, "5.1.1", 1700000000, "local", "unknown user")])
rep = bounce("failure", qid, [0])
env, m = notice(rep.get("queue_id", ""))
ps = parts(m)
is_([p.get_content_type() for p in ps],
    ["text/plain", "message/global-delivery-status", "message/global"], "SMTPUTF8: RFC 6533 types")

# --- errors ---
rep = bounce("failure", FIRST_NOTICE, [0])  # a valid queue id, not in active/
is_(rep.get("status"), "error", "missing queue file: error")
like(inst.log(), "cannot read active/" + FIRST_NOTICE, "missing queue file logged")
rep = bounce("explode", qid, [0])
is_(rep.get("status"), "error", "unknown op: error")
rep = bounce("failure", qid, [7])
is_(rep.get("status"), "error", "recipient index out of range: error")
c = I.Conn(BOUNCE)
c.send([("op", "failure"), ("queue_id", qid), ("queue_file", "../../etc/passwd")])
is_(dict(c.recv() or []).get("status"), "error", "queue_file with .. refused")
c.close()

inst.stop()
done()
