#!/usr/bin/python3
"""40-smtpd-ext - smtpd's ESMTP extensions (spec-checklists 1B, 1C.1-4).

PIPELINING (one reply per command, in order, and the Postfix 3.9
synchronization rules: input before the greeting, after EHLO or DATA, or
pipelining after HELO get 554 5.5.0 and a close), SIZE at MAIL and
during DATA (read to the end, then 552 5.3.4, no file), 8BITMIME and
8-bit bytes stored as sent, SMTPUTF8 addresses and the UTF8SMTP
protocol in Received:, CHUNKING (BDAT, BDAT LAST, BDAT 0 LAST, no
dot-unstuffing, refused chunks still consumed, DATA after BDAT, an
unparseable count), ENHANCEDSTATUSCODES on every reply, and DSN
parameters (RET, ENVID, NOTIFY, ORCPT) round-tripped into the queue file
as terncat shows it. All through the real master, smtpd and cleanup.
"""
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import done, is_, like, ok, prog, skip_all, wait_for  # noqa: E402
from smtpd_test import (LOCAL, Client, SmtpdInstance, enh, qid_of, recipients,  # noqa: E402
                        terncat_bytes, terncat_env)

if not os.path.exists(prog("smtpd")) or not os.path.exists(prog("cleanup")):
    skip_all("smtpd or cleanup not built")

inst = SmtpdInstance(tern={"message_size_limit": "20000"},
                     services=[("-o smtpd_sessions_per_process=1", "1")])
ONE = inst.extra[0]
inst.start()


def txn(c, rcpts=("user@" + LOCAL,), mail="MAIL FROM:<a@client.test>"):
    c.ehlo()
    is_(c.cmd(mail)[0], 250, mail)
    for r in rcpts:
        c.cmd("RCPT TO:<%s>" % r)


def stored(line):
    qid = qid_of(line)
    return inst.queue_file(qid) if qid else None


# --- 1B.1-2 pipelining: one reply per command, in order
c = Client(inst.smtp)
c.ehlo()
c.send("MAIL FROM:<a@client.test>\r\nRCPT TO:<user@%s>\r\nRCPT TO:<nobody@%s>\r\nRCPT TO:<alice@%s>\r\n"
       "DATA\r\n" % (LOCAL, LOCAL, LOCAL))
codes = [c.reply()[0] for _ in range(5)]
is_(codes, [250, 250, 550, 250, 354], "pipelined group: one reply each, in order; a bad RCPT does not stop it")
c.send("Subject: p\r\n\r\npipelined\r\n.\r\nQUIT\r\n")
code, lines = c.reply()
is_(code, 250, "content and QUIT after the dot in one write: 250")
is_(c.reply()[0], 221, "then 221")
path = stored(lines[-1])
is_([r[0] for r in recipients(terncat_env(path)[1])] if path else [], ["user@" + LOCAL, "alice@" + LOCAL],
    "the two good recipients are queued")
c.close()

# swaks, pipelining
r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % inst.smtp, "--from", "a@client.test",
                    "--to", "user@%s,alice@%s" % (LOCAL, LOCAL), "--pipeline", "--helo", "client.test"],
                   capture_output=True, text=True, timeout=60)
ok(r.returncode == 0 and "queued as" in r.stdout, "swaks --pipeline: queued")

# --- 1B.3 synchronization
mark = inst.log_mark()
c = Client(inst.smtp)
c.send("EHLO client.test\r\nMAIL FROM:<a@client.test>\r\n")
code, lines = c.reply()
ok(code == 554 and enh(lines[-1]) == "5.5.0", "more input after EHLO in one packet: 554 5.5.0 (%s)" % lines)
ok(c.closed(), "and close")
c.close()
c = Client(inst.smtp)
c.cmd("HELO client.test")
c.send("MAIL FROM:<a@client.test>\r\nRCPT TO:<user@%s>\r\n" % LOCAL)
code, lines = c.reply()
ok(code == 554 and enh(lines[-1]) == "5.5.0", "pipelining after HELO: 554 5.5.0 (%s)" % lines)
ok(c.closed(), "and close")
c.close()
before = inst.complete_files()
c = Client(inst.smtp)
txn(c)
c.send("DATA\r\nSubject: x\r\n\r\nx\r\n.\r\n")
code, lines = c.reply()
ok(code == 554 and enh(lines[-1]) == "5.5.0", "content in the same packet as DATA: 554 5.5.0 (%s)" % lines)
ok(c.closed(), "and close")
ok(inst.no_new_message(before), "and no message")
c.close()
# bytes before the greeting: a service with one process of one session,
# so the second client's bytes wait in the kernel until it is accepted
a = Client(ONE)
b = Client(ONE, greet=False)
b.send("EHLO early.test\r\n")
a.cmd("QUIT")
a.close()
code, lines = b.reply()
ok(code == 554 and enh(lines[-1]) == "5.5.0", "bytes before the 220 greeting: 554 5.5.0, no greeting (%s)" % lines)
ok(b.closed(), "and close")
b.close()
like(inst.log_since(mark), "improper command pipelining after EHLO from unknown[127.0.0.1]", "logged")

# --- 1B.4-5 SIZE
c = Client(inst.smtp)
code, lines = c.ehlo()
ok("250-SIZE 20000" in lines, "EHLO lists SIZE <message_size_limit>")
code, text = c.cmd("MAIL FROM:<a@client.test> SIZE=20001")
is_((code, enh(text)), (552, "5.3.4"), "MAIL SIZE over the limit -> 552 5.3.4")
for bad in ("SIZE=abc", "SIZE=10 SIZE=10"):
    code, text = c.cmd("MAIL FROM:<a@client.test> " + bad)
    is_((code, enh(text)), (501, "5.5.4"), "MAIL %s -> 501 5.5.4" % bad)
is_(c.cmd("MAIL FROM:<a@client.test> SIZE=100")[0], 250, "an understated SIZE is accepted at MAIL")
c.cmd("RCPT TO:<user@%s>" % LOCAL)
before = inst.complete_files()
c.cmd("DATA")
t0 = time.time()
c.send(b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 30)
c.send(b".\r\n")
code, lines = c.reply()
ok(code == 552 and enh(lines[-1]) == "5.3.4", "content over the limit: read to the end, then 552 5.3.4 (%s)" % lines)
ok(inst.no_new_message(before), "no queue file")
is_(c.cmd("NOOP")[0], 250, "the session goes on")
c.close()

# --- 1B.6 8BITMIME
c = Client(inst.smtp)
txn(c, mail="MAIL FROM:<a@client.test> BODY=8BITMIME")
c.cmd("DATA")
eight = "Subject: 8bit\r\n\r\ngr\u00fc\u00dfe \xff\r\n".encode("latin-1", errors="strict") \
    if False else b"Subject: 8bit\r\n\r\ngr\xc3\xbc\xc3\x9fe \xff\xfe\r\n"
c.send(eight + b".\r\n")
code, lines = c.reply()
is_(code, 250, "BODY=8BITMIME message queued")
path = stored(lines[-1])
is_(terncat_bytes(path, "-b") if path else None, b"gr\xc3\xbc\xc3\x9fe \xff\xfe\n", "8-bit octets stored byte for byte")
is_(terncat_env(path)[2].get("body_type") if path else None, "8BITMIME", "terncat: body_type 8BITMIME")
c.cmd("MAIL FROM:<a@client.test> BODY=7BIT")
is_(c.cmd("RSET")[0], 250, "BODY=7BIT accepted")
for bad in ("BODY=BINARYMIME", "BODY=foo"):
    code, text = c.cmd("MAIL FROM:<a@client.test> " + bad)
    is_((code, enh(text)), (501, "5.5.4"), "%s -> 501 5.5.4" % bad)
c.close()

# --- 1B.7-9 SMTPUTF8
c = Client(inst.smtp)
c.ehlo()
code, text = c.cmd("MAIL FROM:<j\u00f6rg@client.test> SMTPUTF8")
is_(code, 250, "MAIL FROM:<j\u00f6rg@client.test> SMTPUTF8 -> 250")
code, text = c.cmd("RCPT TO:<\u7528\u6237@%s>" % LOCAL)
is_(code, 250, "RCPT to an existing UTF-8 user -> 250")
c.cmd("DATA")
c.send(b"Subject: utf8\r\n\r\nhi\r\n.\r\n")
code, lines = c.reply()
is_(code, 250, "SMTPUTF8 message queued")
path = stored(lines[-1])
env = terncat_env(path)[2] if path else {}
is_(env.get("smtputf8"), "yes", "terncat: smtputf8 yes")
is_(env.get("protocol"), "UTF8SMTP", "protocol UTF8SMTP")
hdr = terncat_bytes(path, "-h") if path else b""
ok(b"with UTF8SMTP id" in hdr, "Received: ... with UTF8SMTP")
c.cmd("RSET")
code, text = c.cmd("MAIL FROM:<j\u00f6rg@client.test>")
is_((code, enh(text)), (553, "5.6.7"), "non-ASCII address without SMTPUTF8 -> 553 5.6.7")
c.send(b"MAIL FROM:<j\xf6rg@client.test> SMTPUTF8\r\n")
code, lines = c.reply()
is_((code, enh(lines[-1])), (553, "5.6.7"), "invalid UTF-8 -> 553 5.6.7")
code, text = c.cmd("MAIL FROM:<a@client.test> SMTPUTF8=yes")
is_((code, enh(text)), (501, "5.5.4"), "SMTPUTF8=yes -> 501 5.5.4")
c.close()

# --- 1B.10-12 CHUNKING
c = Client(inst.smtp)
txn(c)
c.send(b"BDAT 21\r\nSubject: b\r\n\r\nfirst\r\n")
code, text = c.reply()[0], None
is_(code, 250, "BDAT 21 + 21 octets -> 250 (chunk received)")
c.send(b"BDAT 14 LAST\r\n.\r\nsecond\r\n.\r\n")
code, lines = c.reply()
is_(code, 250, "BDAT 14 LAST -> 250 queued")
path = stored(lines[-1])
is_(terncat_bytes(path, "-b") if path else None, b"first\n.\nsecond\n.\n",
    "BDAT data is not dot-unstuffed: CRLF.CRLF in a chunk is plain content")
is_(terncat_env(path)[2].get("protocol") if path else None, "ESMTP", "BDAT message: protocol ESMTP")
txn(c)
c.send(b"BDAT 20\r\nSubject: c\r\n\r\nno end")
is_(c.reply()[0], 250, "a chunk without a line end")
c.send(b"BDAT 0 LAST\r\n")
code, lines = c.reply()
is_(code, 250, "BDAT 0 LAST -> 250 with the queue id")
path = stored(lines[-1])
is_(terncat_bytes(path, "-b") if path else None, b"no end\n", "a final CRLF is added")
# refusals still consume the octets
c.cmd("RSET")
c.send(b"BDAT 12\r\nQUIT\r\nQUIT\r\n")
code, text = c.reply()[0], None
is_(code, 503, "BDAT without MAIL -> 503, and its 12 octets (two QUITs) are not commands")
is_(c.cmd("NOOP")[0], 250, "the session is still there")
c.cmd("MAIL FROM:<a@client.test>")
c.cmd("RCPT TO:<nobody@%s>" % LOCAL)
c.send(b"BDAT 6 LAST\r\nQUIT\r\n")
code, lines = c.reply()
is_((code, enh(lines[-1])), (554, "5.5.1"), "BDAT without an accepted RCPT -> 554 5.5.1")
is_(c.cmd("NOOP")[0], 250, "its octets were consumed")
c.cmd("RSET")
txn(c)
c.send(b"BDAT 30000\r\n" + b"y" * 30000)
code, lines = c.reply()
is_((code, enh(lines[-1])), (552, "5.3.4"), "BDAT over message_size_limit -> 552 5.3.4 after the octets")
c.send(b"BDAT 6 LAST\r\nQUIT\r\n")
code, lines = c.reply()
is_(code, 552, "a later chunk of the failed transaction is read and refused too")
is_(c.cmd("NOOP")[0], 250, "and the session goes on")
txn(c)
c.send(b"BDAT 5\r\nabcde")
c.reply()
code, text = c.cmd("DATA")
is_((code, enh(text)), (503, "5.5.1"), "DATA after BDAT -> 503 5.5.1")
c.cmd("RSET")
code, text = c.cmd("BDAT x")
is_((code, enh(text)), (521, "5.5.4"), "BDAT x -> 521 5.5.4")
ok(c.closed(), "and close")
c.close()

# --- 1B.13 enhanced status codes on every 2xx/4xx/5xx except greeting, EHLO/HELO, 354
c = Client(inst.smtp)
ok(enh(c.greeting[1][0]) is None, "no enhanced code in the greeting")
c.ehlo()
replies = [c.cmd(x) for x in ("MAIL FROM:<a@client.test>", "RCPT TO:<user@%s>" % LOCAL, "RCPT TO:<x@%s>" % LOCAL,
                              "FOO", "NOOP", "VRFY x", "RSET", "RSET x")]
ok(all(enh(t) is not None and enh(t)[0] == str(code)[0] for code, t in replies),
   "every reply carries an enhanced code of its class")
c.close()

# --- 1C DSN
c = Client(inst.smtp)
c.ehlo()
code, text = c.cmd("MAIL FROM:<a@client.test> RET=HDRS ENVID=QQ314159")
is_(code, 250, "RET=HDRS ENVID=QQ314159 -> 250")
code, text = c.cmd("RCPT TO:<user@%s> NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;bob@example.test" % LOCAL)
is_(code, 250, "NOTIFY=SUCCESS,FAILURE,DELAY ORCPT=rfc822;bob@example.test -> 250")
is_(c.cmd("RCPT TO:<alice@%s> NOTIFY=NEVER" % LOCAL)[0], 250, "NOTIFY=NEVER -> 250")
for bad in ("NOTIFY=NEVER,FAILURE", "NOTIFY=SOON", "NOTIFY=", "ORCPT=bob@example.test",
            "ORCPT=rfc822;b+0b@example.test"):
    code, text = c.cmd("RCPT TO:<bob@%s> %s" % (LOCAL, bad))
    is_((code, enh(text)), (501, "5.5.4"), "%s -> 501 5.5.4" % bad)
c.cmd("DATA")
c.send(b"Subject: dsn\r\n\r\nx\r\n.\r\n")
code, lines = c.reply()
is_(code, 250, "DSN message queued")
path = stored(lines[-1])
rc, pairs, env = terncat_env(path) if path else (1, [], {})
is_(rc, 0, "terncat reads it")
is_(env.get("dsn_ret"), "HDRS", "RET=HDRS in the queue file")
is_(env.get("dsn_envid"), "QQ314159", "ENVID in the queue file")
rs = dict((a, d) for a, d in recipients(pairs))
is_(rs.get("user@" + LOCAL, {}).get("orcpt"), "rfc822;bob@example.test", "ORCPT kept as given")
is_(rs.get("user@" + LOCAL, {}).get("notify"), "SUCCESS,FAILURE,DELAY", "NOTIFY kept")
is_(rs.get("alice@" + LOCAL, {}).get("notify"), "NEVER", "NOTIFY=NEVER kept")
is_(rs.get("alice@" + LOCAL, {}).get("orcpt"), "rfc822;alice@" + LOCAL, "ORCPT added from the RCPT address when none was given")
for bad in ("RET=ALL", "RET=FULL RET=HDRS", "ENVID=" + "x" * 101, "ENVID=a+zz"):
    code, text = c.cmd("MAIL FROM:<a@client.test> " + bad)
    is_((code, enh(text)), (501, "5.5.4"), "MAIL %s -> 501 5.5.4" % bad[:30])
is_(c.cmd("MAIL FROM:<a@client.test> RET=FULL")[0], 250, "RET=FULL -> 250")
c.close()

inst.stop()
done()
