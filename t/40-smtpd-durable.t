#!/usr/bin/python3
"""40-smtpd-durable - the 250 means the message is on disk (DESIGN.md 3, spec-checklists 1A.11, 1A.15).

Through the real master, smtpd and cleanup of a private instance:
cleanup killed (SIGKILL) in the middle of DATA, and killed while smtpd
waits for its verdict after the final dot (cleanup stopped with SIGSTOP
before the dot, so the order is certain): the client never gets a 250
and no complete queue file appears; smtpd itself survives and the next
message is accepted. After a 250, SIGKILL of every process of the
instance: after a restart the message is in the queue, complete, and
terncat shows it intact. A session that was cut in its second
transaction keeps the first, answered message.
"""
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import alive, diag, done, is_, ok, prog, skip_all, wait_for  # noqa: E402
from smtpd_test import (LOCAL, Client, SmtpdInstance, kill, qid_of, send_message,  # noqa: E402
                        terncat_bytes, terncat_env)

if not os.path.exists(prog("smtpd")) or not os.path.exists(prog("cleanup")):
    skip_all("smtpd or cleanup not built")

inst = SmtpdInstance()
inst.start()
BODY = b"Subject: durable\r\n\r\n" + b"".join(b"line %d of the message\r\n" % i for i in range(2000))


def open_data():
    c = Client(inst.smtp)
    c.ehlo()
    c.cmd("MAIL FROM:<a@client.test>")
    c.cmd("RCPT TO:<user@%s>" % LOCAL)
    code, _ = c.cmd("DATA")
    return c, code


def cleanups():
    return inst.pids("cleanup")


# warm up: one message, so a cleanup process exists
code, line = send_message(inst.smtp)
is_(code, 250, "a first message is accepted")
ok(wait_for(lambda: len(cleanups()) > 0, 10), "cleanup is running")

# --- SIGKILL of cleanup in the middle of DATA
inst.clear_queue()
c, code = open_data()
is_(code, 354, "DATA 354")
c.send(BODY[:20000])
time.sleep(0.2)
victims = cleanups()
for p in victims:
    kill(p)
ok(len(victims) > 0, "cleanup killed in the middle of DATA")
try:
    c.send(BODY[20000:] + b".\r\n")
    code, lines = c.reply()
except OSError:
    code, lines = None, []
ok(code != 250, "the client gets no 250 (%s)" % (lines[-1:] if lines else "connection closed"))
ok(code is None or code // 100 == 4, "a temporary failure (%s)" % code)
is_(inst.queue_files(), [], "nothing complete in incoming/")
c.close()

# --- SIGKILL of cleanup after the final dot, before its verdict
# master starts cleanup on demand, after a back-off (1 s, 2 s, ...) for each crash
ok(wait_for(lambda: send_message(inst.smtp, timeout=90)[0] == 250, 90), "smtpd goes on; master starts a new cleanup")
ok(wait_for(lambda: len(cleanups()) > 0, 10), "cleanup is running again")
inst.clear_queue()
c, code = open_data()
c.send(BODY)
victims = cleanups()
for p in victims:
    os.kill(p, signal.SIGSTOP)
c.send(b".\r\n")
time.sleep(0.3)
for p in victims:
    kill(p)
code, lines = c.reply()
ok(code != 250 and code is not None and code // 100 == 4,
   "cleanup killed between the dot and its reply: no 250 (%s)" % lines[-1:])
is_(inst.queue_files(), [], "nothing complete in incoming/")
is_(c.cmd("NOOP")[0], 250, "the session goes on")
c.close()

# --- a cut second transaction keeps the first
ok(wait_for(lambda: send_message(inst.smtp, timeout=90)[0] == 250, 90), "cleanup back")
inst.clear_queue()
c, code = open_data()
c.send(BODY + b".\r\n")
code, lines = c.reply()
is_(code, 250, "first transaction: 250")
first = qid_of(lines[-1])
c.cmd("MAIL FROM:<a@client.test>")
c.cmd("RCPT TO:<user@%s>" % LOCAL)
c.cmd("DATA")
c.send(b"Subject: cut\r\n\r\nnever ends\r\n")
c.close()
time.sleep(0.5)
is_([os.path.basename(p) for p in inst.queue_files()], [first], "only the answered message is queued")

# --- after a 250, SIGKILL every process; after a restart the message is intact
inst.clear_queue()
c, code = open_data()
c.send(BODY + b".\r\n")
code, lines = c.reply()
is_(code, 250, "message accepted")
qid = qid_of(lines[-1])
master = inst.master_pid()
procs = [master] + inst.pids("smtpd") + inst.pids("cleanup") + inst.pids("proxymap")
for p in procs:
    kill(p)
ok(wait_for(lambda: not any(alive(p) for p in procs), 10), "every process of the instance killed")
c.close()
r = inst.start()
is_(r.returncode, 0, "restart")
path = inst.queue_file(qid) if qid else None
ok(path is not None and os.stat(path).st_mode & 0o100, "the message is in the queue, complete")
rc, pairs, env = terncat_env(path) if path else (1, [], {})
is_(rc, 0, "terncat reads it (checksums good)")
is_(env.get("sender"), "<a@client.test>", "sender intact")
body = terncat_bytes(path, "-b") if path else b""
is_(body, BODY.split(b"\r\n\r\n", 1)[1].replace(b"\r\n", b"\n"), "content intact")
ok("panic" not in inst.log(), "no panic in the log")

inst.stop()
done()
