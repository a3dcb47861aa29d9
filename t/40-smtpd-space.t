#!/usr/bin/python3
"""40-smtpd-space - queue_minfree: smtpd refuses MAIL when the queue is short of space.

Through a private instance's real smtpd (three smtpd services with -o
overrides): with the defaults MAIL gets 250 (the disk has more than 1.5 x
message_size_limit free) and a message is accepted; with a queue_minfree
larger than any disk MAIL gets "452 4.3.1 Insufficient system storage",
logged as a NOQUEUE reject, and the session goes on (RSET, QUIT); with
message_size_limit = 0 a SIZE= that cannot fit (x 1.5) into the free space
gets 452 4.3.1 while a small SIZE= gets 250. SIZE= above message_size_limit
still gets 552 5.3.4 first.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import done, is_, like, ok, prog, skip_all, wait_for  # noqa: E402
from smtpd_test import Client, SmtpdInstance, send_message  # noqa: E402

if not os.path.exists(prog("smtpd")) or not os.path.exists(prog("cleanup")):
    skip_all("smtpd or cleanup not built")

HUGE = 1 << 60          # bytes: more than any disk this runs on
inst = SmtpdInstance(services=[("-o queue_minfree=%d" % HUGE, "-"), ("-o message_size_limit=0", "-")])
r = inst.start()
is_(r.returncode, 0, "instance starts")
FULL, NOLIMIT = inst.extra

# defaults: room
c = Client(inst.smtp)
c.ehlo()
is_(c.cmd("MAIL FROM:<a@client.test> SIZE=1000")[0], 250, "defaults: MAIL with a small SIZE= gets 250")
is_(c.cmd("RSET")[0], 250, "RSET")
code, line = c.cmd("MAIL FROM:<a@client.test> SIZE=%d" % HUGE)
ok(code == 552 and "5.3.4" in line, "defaults: SIZE= above message_size_limit gets 552 5.3.4 first: %s" % line)
c.cmd("QUIT")
is_(send_message(inst.smtp)[0], 250, "defaults: a message is accepted")

# queue_minfree larger than the disk: every MAIL refused, the session goes on
c = Client(FULL)
c.ehlo()
code, line = c.cmd("MAIL FROM:<a@client.test>")
is_(code, 452, "queue_minfree above the free space: MAIL gets 452")
like(line, "452 4.3.1 Insufficient system storage", "... 4.3.1 Insufficient system storage")
is_(c.cmd("RCPT TO:<user@example.test>")[0], 503, "no transaction was started: RCPT gets 503")
is_(c.cmd("RSET")[0], 250, "the session goes on: RSET")
is_(c.cmd("QUIT")[0], 221, "QUIT")
ok(wait_for(lambda: "NOQUEUE: reject: MAIL from unknown[127.0.0.1]: 452 4.3.1 Insufficient system storage"
            in inst.log(), 10), "the reject is logged")

# no size limit: the announced size must fit into the free space
c = Client(NOLIMIT)
c.ehlo()
code, line = c.cmd("MAIL FROM:<a@client.test> SIZE=%d" % HUGE)
ok(code == 452 and "4.3.1" in line, "message_size_limit 0: a SIZE= larger than the disk gets 452 4.3.1: %s" % line)
is_(c.cmd("MAIL FROM:<a@client.test> SIZE=1000")[0], 250, "... a small SIZE= gets 250")
c.cmd("QUIT")

inst.stop()
done()
