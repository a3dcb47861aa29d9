#!/usr/bin/python3
"""41-cleanup-basic - the cleanup service through master, as smtpd uses it.

A private instance runs cleanup; a test client speaks the protocol of
cleanup_proto.h (t/lib/tern_ipc.py) on private/cleanup. Checked: one
message -> "ok" with a queue id and a complete file in incoming/ whose
envelope (terncat) holds every field of the BEGIN frame and whose content
starts with the Received: header as specified; several messages on one
connection; Message-ID: and Date: added for submission and local mail
only; the hop count (99 Received: ok, 100 -> 554 5.4.6); message_size_limit
(552 5.3.4, no file); envelope errors; hold; the log lines; the qmgr
wake-up on public/qmgr; as root, that cleanup runs as mail_owner.
"""
import os
import pwd
import re
import socket
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (IS_ROOT, Instance, children_of, diag, done, is_, like, ok,  # noqa: E402
                       proc_status, prog, run, skip_all, wait_for)
import tern_ipc as I  # noqa: E402

if not os.access(prog("cleanup"), os.X_OK) or not os.access(prog("terncat"), os.X_OK):
    skip_all("cleanup or terncat is not built")


def start_instance(tern_conf=()):
    """A running instance whose master.conf has cleanup on private/cleanup."""
    inst = Instance()
    # only cleanup, on private/cleanup as cleanup_proto.h has it: no ports to collide
    with open(inst.path("master.conf"), "w") as f:
        f.write("cleanup unix - - n - 0 cleanup\n")
    for name, value in tern_conf:
        inst.conf(name, value)
    r = inst.start()
    if r.returncode != 0:
        raise RuntimeError("start failed")
    sock = inst.path("queue", "private", "cleanup")
    wait_for(lambda: os.path.exists(sock), 10)
    return inst, sock


def qfiles(inst, sub="incoming"):
    d = inst.path("queue", sub)
    return sorted(os.listdir(d))


def terncat(inst, qid, sub="incoming", *opts):
    r = run([prog("terncat")] + list(opts) + [inst.path("queue", sub, qid)])
    if r.returncode != 0:
        diag(r.stdout + r.stderr)
    return r.stdout


def complete(inst, qid, sub="incoming"):
    st = os.stat(inst.path("queue", sub, qid))
    return stat.S_IMODE(st.st_mode) == 0o700


inst, SOCK = start_instance([("message_size_limit", "20000"), ("myhostname", "mx.local.test")])

# --- one message, every envelope field ---
c = I.CleanupClient(SOCK)
content = b"Subject: first\r\nFrom: <a@client.test>\r\n\r\nHello.\r\n..leading dot kept as sent\r\n"
r = c.message(content, sender="sender@client.test", rcpts=["one@local.test"],
              orcpts=["rfc822;one+2Bx@local.test"], notify=[I.NOTIFY_SUCCESS | I.NOTIFY_FAILURE],
              ret="HDRS", envid="ENV+2BID", flags=I.FLAG_8BITMIME | I.FLAG_SMTPUTF8 | I.FLAG_REQUIRETLS,
              size=len(content), client_name="mail.client.test", client_addr="127.0.0.2",
              client_port=41234, helo="helo.client.test", protocol="UTF8SMTPSA",
              tls_proto="TLSv1.3", tls_cipher="TLS_AES_256_GCM_SHA384", tls_bits=256,
              auth_user="joe@local.test", session="sess-1", service="submission")
is_(r and r.get("status"), "ok", "one message: status ok")
qid = r.get("queue_id", "") if r else ""
ok(re.fullmatch(r"[0-9A-Z]{12,24}", qid), "one message: queue id %s" % qid)
ok(qid in qfiles(inst) and complete(inst, qid), "the file is in incoming/, mode 0700 (complete)")
env = terncat(inst, qid, "incoming", "-e")
for want in ("queue_id: " + qid, "complete: yes", "sender: <sender@client.test>",
             "body_type: 8BITMIME", "smtputf8: yes", "requiretls: yes", "dsn_ret: HDRS",
             "dsn_envid: ENV+2BID", "client_name: mail.client.test", "client_address: 127.0.0.2",
             "client_port: 41234", "helo_name: helo.client.test", "protocol: UTF8SMTPSA",
             "tls_protocol: TLSv1.3", "tls_cipher: TLS_AES_256_GCM_SHA384",
             "sasl_username: joe@local.test", "tls_bits=256", "session=sess-1",
             "service=submission", "announced_size=%d" % len(content),
             "peer_uid=%d" % os.getuid(), "recipient: <one@local.test>",
             "orcpt: rfc822;one+2Bx@local.test", "notify: SUCCESS,FAILURE", "arrival_time: "):
    like(env, want, "terncat shows " + want)
msg = terncat(inst, qid, "incoming", "-h", "-b")
received = ("Received: from helo.client.test (mail.client.test [127.0.0.2])\n"
            "\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))\n"
            "\tby mx.local.test (tern) with UTF8SMTPSA id %s\n"
            "\tfor <one@local.test>; " % qid)
ok(msg.startswith(received), "Received: is the first header, folded as specified")
if not msg.startswith(received):
    diag(msg[:400])
ok(re.match(r".*; (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
            r"\d{4} \d\d:\d\d:\d\d [+-]\d{4}\n", msg.split("\n")[3] + "\n"), "Received: ends with an RFC 5322 date")
ok(msg.endswith("Subject: first\nFrom: <a@client.test>\n\nHello.\n..leading dot kept as sent\n")
   and "Message-ID:" not in msg and "\nDate:" not in msg, "content stored as sent (LF), nothing added for relay")

# --- several messages on the same connection, pipelined ---
ids = []
for i in range(5):
    c.send(c.begin_attrs(rcpts=["a%d@local.test" % i, "b%d@local.test" % i]))
    c.send_stream(b"Subject: n%d\r\n\r\nbody %d\r\n" % (i, i), chunk=7)
for i in range(5):
    rr = dict(c.recv() or [])
    if rr.get("status") == "ok":
        ids.append(rr["queue_id"])
is_(len(set(ids)), 5, "five pipelined messages on one connection: five distinct queue ids")
ok(all(complete(inst, q) for q in ids), "all five complete")
m = terncat(inst, ids[0], "incoming", "-h", "-b")
ok("\tby mx.local.test (tern) with ESMTP id %s;\n\t" % ids[0] in m and "for <" not in m,
   "two recipients: no 'for' clause, date on its own line")

# --- Message-ID: and Date: for submission and local mail ---
r = c.message(b"Subject: sub\r\n\r\nx\r\n", flags=I.FLAG_SUBMISSION)
m = terncat(inst, r["queue_id"], "incoming", "-h")
ok("Message-ID: <%s@mx.local.test>\n" % r["queue_id"] in m and re.search(r"\nDate: \w\w\w, ", m),
   "submission: Message-ID: <QUEUEID@myhostname> and Date: added")
r = c.message(b"Subject: sub\r\nMessage-ID: <mine@client.test>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\nx\r\n",
              flags=I.FLAG_SUBMISSION)
m = terncat(inst, r["queue_id"], "incoming", "-h")
ok(m.count("Message-ID:") == 1 and m.count("\nDate:") == 1, "submission with both: nothing added")
r = c.message(b"Subject: local\r\n\r\nx\r\n", client_addr=None, client_name=None, helo=None,
              client_port=None, protocol="local", origin_uid=1000)
m = terncat(inst, r["queue_id"], "incoming", "-h")
ok(m.startswith("Received: by mx.local.test (tern, from userid 1000)\n\tid %s\n\tfor <rcpt@local.test>; "
                % r["queue_id"]), "local mail: Received: by ... from userid")
ok("Message-ID: <" in m and "\nDate: " in m, "local mail: Message-ID: and Date: added")

# --- hop count ---
hops = b"".join(b"Received: from h%d.test by x.test; Mon, 1 Jan 2024 00:00:00 +0000\r\n" % i for i in range(100))
before = len(qfiles(inst))
r = c.message(hops[:len(hops) // 100 * 99] + b"Subject: 99\r\n\r\nx\r\n")
is_(r.get("status"), "ok", "99 Received: headers: accepted")
r = c.message(hops + b"Subject: 100\r\n\r\nx\r\n")
ok(r.get("status") == "error" and r.get("code") == 554 and r.get("dsn") == "5.4.6",
   "100 Received: headers: 554 5.4.6 (%s)" % r.get("text"))
is_(len(qfiles(inst)), before + 1, "hop count: no file for the refused message")

# --- message_size_limit (20000 here) ---
big = b"Subject: big\r\n\r\n" + b"x" * 998 + b"\r\n"
before = len(qfiles(inst))
r = c.message(big * 19)
is_(r.get("status"), "ok", "19 KB under a 20000-byte limit: accepted")
r = c.message(big * 21, chunk=4096)
ok(r.get("status") == "error" and r.get("code") == 552 and r.get("dsn") == "5.3.4",
   "21 KB over the limit: 552 5.3.4 (%s)" % r.get("text"))
r = c.message(b"Subject: x\r\n\r\nx\r\n", size=30000)
ok(r.get("code") == 552 and r.get("dsn") == "5.3.4", "announced SIZE over the limit: 552 5.3.4")
is_(len(qfiles(inst)), before + 1, "size limit: no file for the refused messages")

# --- envelope errors: replies, not closed connections ---
r = c.message(b"x\r\n", rcpts=[])
ok(r.get("code") == 554 and r.get("dsn") == "5.5.1", "no recipients: 554 5.5.1")
r = c.message(b"x\r\n", rcpts=["a@b", "c@d"], orcpts=["rfc822;a@b"])
ok(r.get("code") == 554 and r.get("dsn") == "5.5.4", "orcpt count mismatch: 554 5.5.4 (%s)" % r.get("text"))
r = c.message(b"x\r\n", sender="bad\x01sender@x")
ok(r.get("code") == 553 and r.get("dsn") == "5.1.7", "sender with a control character: 553 5.1.7")
r = c.message(b"Subject: still\r\n\r\nthere\r\n")
is_(r.get("status"), "ok", "the connection still works after refused messages")

# --- hold ---
r = c.message(b"Subject: hold\r\n\r\nx\r\n", flags=I.FLAG_HOLD)
ok(r.get("status") == "ok" and r["queue_id"] in qfiles(inst, "hold") and complete(inst, r["queue_id"], "hold"),
   "hold flag: the file is complete in hold/")

# --- the qmgr wake-up ---
qsock = inst.path("queue", "public", "qmgr")
lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
lsock.bind(qsock)
os.chmod(qsock, 0o666)
lsock.listen(16)
lsock.settimeout(10)
r = c.message(b"Subject: wake\r\n\r\nx\r\n")
try:
    conn, _ = lsock.accept()
    conn.settimeout(10)
    is_(conn.recv(16), b"W", "qmgr gets a wake-up \"W\" on public/qmgr after a commit")
    conn.close()
except OSError as e:
    ok(False, "qmgr wake-up: %s" % e)
lsock.close()
os.unlink(qsock)
r = c.message(b"Subject: no qmgr\r\n\r\nx\r\n")
is_(r.get("status"), "ok", "without a qmgr socket the message is still accepted")
c.close()

# --- the log ---
log = inst.log()
# Postfix's shape: from=, size=, nrcpt= is qmgr's line (queue active), after smtpd's client=
ok(not re.search(r"%s: from=<[^>]*>, size=" % qid, log), "log: cleanup leaves from=, size= to qmgr")
ok(re.search(r": message-id=<[0-9A-Z]+@mx.local.test>", log), "log: QUEUEID: message-id=<...>")
like(log, "reject: 554 5.4.6", "log: the hop count refusal")

# --- privileges ---
pids = [p for p in children_of(inst.master_pid())
        if b"cleanup" in open("/proc/%d/cmdline" % p, "rb").read()]
ok(len(pids) >= 1, "a cleanup process runs (%s)" % pids)
if IS_ROOT and pids:
    uid = pwd.getpwnam("tern").pw_uid
    st = proc_status(pids[0]) or {}
    is_(st.get("Uid", "").split(), [str(uid)] * 4, "as root, cleanup runs as mail_owner")

inst.stop()
done()
