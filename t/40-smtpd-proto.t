#!/usr/bin/python3
"""40-smtpd-proto - smtpd's RFC 5321 core (spec-checklists 1A).

Through the real master, smtpd and cleanup of a private instance, with
raw sockets: the greeting, EHLO and HELO, sequence errors leaving the
state alone, MAIL/RCPT replies and recipient validation, postmaster,
DATA with dot-unstuffing checked in the stored bytes, RSET, NOOP, QUIT,
VRFY, HELP, EXPN, unknown commands and the hard error limit, the minimum
sizes RFC 5321 4.5.3.1 asks for, an over-long command line, too many
recipients, the idle and DATA time limits, SIGTERM in the middle of a
session (421 4.3.2), and the connect / client= / reject / disconnect log
lines in the Postfix shape.
"""
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import diag, done, is_, like, ok, prog, skip_all, wait_for  # noqa: E402
from smtpd_test import (LOCAL, Client, SmtpdInstance, enh, kill, qid_of, send_message,  # noqa: E402
                        terncat_bytes)

if not os.path.exists(prog("smtpd")) or not os.path.exists(prog("cleanup")):
    skip_all("smtpd or cleanup not built")

inst = SmtpdInstance(services=[("-o smtpd_hard_error_limit=3", "-"),
                               ("-o smtpd_timeout=2s", "-"),
                               ("-o smtpd_max_recipients=3", "-")])
ERRLIM, TIMEOUT, MAXRCPT = inst.extra
inst.start()
host = None

# --- 1A.1 greeting, 1A.3 EHLO, 1A.4 HELO
c = Client(inst.smtp)
code, lines = c.greeting
is_(code, 220, "greeting is 220")
host = lines[0].split()[1] if lines and len(lines[0].split()) > 1 else ""
ok(re.match(r"^[a-z0-9.-]+$", host) is not None, "the token after 220 is the server's domain (%s)" % host)
code, lines = c.ehlo()
is_(code, 250, "EHLO 250")
is_(lines[0], "250-" + host, "EHLO first line is 250-<fqdn>")
ok(all(ln.startswith("250-") for ln in lines[:-1]) and lines[-1].startswith("250 "), "multi-line 250 shape")
kws = set(ln[4:].split()[0].upper() for ln in lines[1:])
for kw in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "CHUNKING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS"):
    ok(kw in kws, "EHLO lists %s" % kw)
for kw in ("VRFY", "EXPN", "AUTH", "ETRN", "BINARYMIME"):
    ok(kw not in kws, "EHLO does not list %s" % kw)
c.cmd("QUIT")
c.close()

c = Client(inst.smtp)
c.send("HELO client.test\r\n")
code, lines = c.reply()
is_((code, lines), (250, ["250 " + host]), "HELO: one line 250 <fqdn>")
for p in ("SIZE=10", "BODY=8BITMIME", "RET=FULL"):
    code, text = c.cmd("MAIL FROM:<a@client.test> " + p)
    is_((code, enh(text)), (555, "5.5.4"), "after HELO, MAIL %s -> 555 5.5.4" % p)
is_(c.cmd("MAIL FROM:<a@client.test>")[0], 250, "after HELO, plain MAIL 250")
code, text = c.cmd("RCPT TO:<user@%s> NOTIFY=NEVER" % LOCAL)
is_((code, enh(text)), (555, "5.5.4"), "after HELO, RCPT NOTIFY= -> 555 5.5.4")
c.close()

# --- 1A.5 EHLO argument, 1A.6 EHLO mid-transaction, 1A.7 sequence errors
c = Client(inst.smtp)
code, text = c.cmd("EHLO")
is_((code, enh(text)), (501, "5.5.4"), "EHLO without argument -> 501 5.5.4")
code, text = c.cmd("MAIL FROM:<a@client.test>")
is_((code, enh(text)), (503, "5.5.1"), "MAIL before EHLO/HELO -> 503 5.5.1 (state unchanged by the bad EHLO)")
is_(c.ehlo("[192.0.2.1]")[0], 250, "EHLO [192.0.2.1] -> 250")
is_(c.ehlo("does-not-match.example")[0], 250, "EHLO name not matching the client still 250")
code, text = c.cmd("RCPT TO:<user@%s>" % LOCAL)
is_((code, enh(text)), (503, "5.5.1"), "RCPT before MAIL -> 503 5.5.1")
code, text = c.cmd("DATA")
is_((code, enh(text)), (503, "5.5.1"), "DATA before MAIL -> 503 5.5.1")
is_(c.cmd("MAIL FROM:<a@client.test>")[0], 250, "MAIL 250")
code, text = c.cmd("MAIL FROM:<b@client.test>")
is_((code, enh(text)), (503, "5.5.1"), "second MAIL in a transaction -> 503 5.5.1")
code, text = c.cmd("DATA")
ok(code in (503, 554) and enh(text) == "5.5.1", "DATA without RCPT -> 503/554 5.5.1, never 354")
is_(c.cmd("RCPT TO:<user@%s>" % LOCAL)[0], 250, "the transaction survived the refusals")
is_(c.ehlo()[0], 250, "EHLO in the middle of a transaction -> 250")
code, text = c.cmd("RCPT TO:<user@%s>" % LOCAL)
is_((code, enh(text)), (503, "5.5.1"), "after that EHLO the transaction is gone: RCPT 503")
c.close()

# --- 1A.8 MAIL/RCPT replies, 1A.9 postmaster, 1A.23 source routes
c = Client(inst.smtp)
c.ehlo()
code, text = c.cmd("MAIL FROM:<a@client.test>")
is_((code, enh(text)), (250, "2.1.0"), "MAIL -> 250 2.1.0")
code, text = c.cmd("RCPT TO:<user@%s>" % LOCAL)
is_((code, enh(text)), (250, "2.1.5"), "RCPT local user -> 250 2.1.5")
code, text = c.cmd("RCPT TO:<nosuchuser@%s>" % LOCAL)
is_((code, enh(text)), (550, "5.1.1"), "unknown local user -> 550 5.1.1")
code, text = c.cmd("RCPT TO:<a b@%s>" % LOCAL)
is_((code, enh(text)), (501, "5.1.3"), "broken RCPT path -> 501 5.1.3")
for r in ("Postmaster", "PoStMaStEr@" + LOCAL):
    code, text = c.cmd("RCPT TO:<%s>" % r)
    is_((code, enh(text)), (250, "2.1.5"), "RCPT <%s> -> 250" % r)
code, text = c.cmd("RCPT TO:<@a.test,@b.test:user@%s>" % LOCAL)
is_(code, 250, "source route to a local user is handled as the user")
c.cmd("RSET")
code, text = c.cmd("MAIL FROM:<a b@client.test>")
is_((code, enh(text)), (501, "5.1.7"), "broken MAIL path -> 501 5.1.7")
code, text = c.cmd("MAIL FROM:<>")
is_((code, enh(text)), (250, "2.1.0"), "MAIL FROM:<> -> 250 2.1.0")
c.close()

# --- 1A.10 DATA, dot-unstuffing in the stored bytes; log lines
mark = inst.log_mark()
body = b"Subject: dots\r\n\r\nfirst\r\n..\r\n..x\r\n.x\r\nlast\r\n"
code, line = send_message(inst.smtp, body=body)
is_(code, 250, "DATA -> 250 after the final dot")
qid = qid_of(line)
ok(qid is not None and enh(line) == "2.0.0", "250 2.0.0 names the queue id (%s)" % line)
path = inst.queue_file(qid) if qid else None
ok(path is not None and os.stat(path).st_mode & 0o100, "the queue file exists and is complete")
stored = terncat_bytes(path, "-b") if path else None
is_(stored, b"first\n.\n.x\nx\nlast\n", "'..' stored as '.', '..x' as '.x', '.x' as 'x'")
log = inst.log_since(mark)
like(log, "connect from unknown[127.0.0.1]", "log: connect from host[addr]")
like(log, "%s: client=unknown[127.0.0.1]" % qid, "log: QUEUEID: client=host[addr]")
like(log, "disconnect from unknown[127.0.0.1] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5",
     "log: disconnect line with command counts")

# a Received: header at the very top, with the client and the protocol
top = (terncat_bytes(path, "-h") or b"").split(b"\n")[0] if path else b""
ok(top.startswith(b"Received: from client.test (unknown [127.0.0.1])"), "Received: comes first, from the EHLO name and address")

# --- 1A.14 RSET, NOOP; 1A.15 QUIT; 1A.16 VRFY, EXPN, HELP; 1A.17 unknown
c = Client(inst.smtp)
c.ehlo()
c.cmd("MAIL FROM:<a@client.test>")
code, text = c.cmd("RSET")
is_((code, enh(text)), (250, "2.0.0"), "RSET -> 250 2.0.0")
is_(c.cmd("RCPT TO:<user@%s>" % LOCAL)[0], 503, "RSET cleared the transaction")
code, text = c.cmd("RSET x")
is_((code, enh(text)), (501, "5.5.4"), "RSET x -> 501 5.5.4")
for n in ("NOOP", "NOOP anything"):
    code, text = c.cmd(n)
    is_((code, enh(text)), (250, "2.0.0"), "%s -> 250 2.0.0" % n)
code, text = c.cmd("VRFY user")
is_((code, enh(text)), (252, "2.0.0"), "VRFY (off by default) -> 252 2.0.0")
code, text = c.cmd("EXPN list")
is_((code, enh(text)), (502, "5.5.1"), "EXPN -> 502 5.5.1")
is_(c.cmd("HELP")[0], 214, "HELP -> 214")
code, text = c.cmd("FOO")
is_((code, enh(text)), (500, "5.5.2"), "unknown command -> 500 5.5.2")
is_(c.cmd("NOOP")[0], 250, "the connection stays open after 500")
code, text = c.cmd("QUIT")
is_((code, enh(text)), (221, "2.0.0"), "QUIT -> 221 2.0.0")
ok(c.closed(), "and the server closes")
c.close()

# connection dropped before the final dot: no queue file
before = inst.complete_files()
c = Client(inst.smtp)
c.ehlo()
c.cmd("MAIL FROM:<a@client.test>")
c.cmd("RCPT TO:<user@%s>" % LOCAL)
c.cmd("DATA")
c.send("Subject: cut\r\n\r\nnever finished\r\n")
c.close()
time.sleep(0.5)
ok(inst.no_new_message(before), "a transaction cut before the dot leaves no queue file")

# --- 1A.17 error limit
c = Client(ERRLIM)
for i in range(2):
    c.cmd("FOO%d" % i)
code, text = c.cmd("BAR")
c.send("")
code2, lines = c.reply()
ok(code == 500 and code2 == 421 and enh(lines[-1] if lines else "") == "4.7.0",
   "after smtpd_hard_error_limit (3) errors: 421 4.7.0 (%s, %s)" % (code, lines))
ok(c.closed(), "and close")
c.close()

# --- 1A.18 minimum sizes, 1A.19 long command line, 1A.20 long text line
c = Client(inst.smtp)
c.ehlo()
c.cmd("MAIL FROM:<a@client.test>")
code, text = c.cmd("RCPT TO:<%s@external.test>" % ("l" * 64))
is_(code, 250, "64-octet local part accepted (relay from mynetworks)")
# the 256-octet path limit leaves 250 octets for the domain after "<u@" and ">"
dom = ".".join(["d" * 63] * 3 + ["e" * 54 + "test"])
is_(len(dom), 250, "a 250-octet domain")
code, text = c.cmd("RCPT TO:<u@%s>" % dom)
is_(code, 250, "a 256-octet path with a 250-octet domain accepted")
cmd = "RCPT TO:<user@%s> " % LOCAL
cmd += "ORCPT=rfc822;" + "x" * (510 - len(cmd) - len("ORCPT=rfc822;") - 2 - 2) + "@y"
is_(len(cmd) + 2, 510, "a command line of 510 octets")
code, text = c.cmd(cmd)
ok(code in (250, 501), "a 510-octet command line is read as a command (%s)" % code)
long_cmd = "NOOP " + "x" * 2100
code, text = c.cmd(long_cmd)
is_((code, enh(text)), (500, "5.5.2"), "command line over smtpd_line_length_limit -> 500 5.5.2")
code, text = c.cmd("RCPT TO:<%s@%s>" % ("u" * 200, "d" * 60 + ".test"))
ok(code == 501 and enh(text) == "5.1.3", "path over 256 octets -> 501 5.1.3 (%s)" % text)
is_(c.cmd("RCPT TO:<user@%s>" % LOCAL)[0], 250, "the transaction survived the long line")
for i in range(98):
    c.send("RCPT TO:<user@%s>\r\n" % LOCAL)
good = sum(1 for _ in range(98) if c.reply()[0] == 250)
is_(good, 98, "100 recipients accepted (default smtpd_max_recipients is 1000)")
c.cmd("DATA")
longline = b"y" * 5000
big = b"Subject: big\r\n\r\n" + longline + b"\r\n" + (b"z" * 998 + b"\r\n") * 66
c.send(big + b".\r\n")
code, lines = c.reply()
is_(code, 250, "64 KB message with a 5000-octet line accepted")
path = inst.queue_file(qid_of(lines[-1])) if code == 250 else None
body = terncat_bytes(path, "-b") if path else b""
ok(body.startswith(longline + b"\n"), "the 5000-octet line is stored intact, not split")
c.close()

# --- 1A.21 too many recipients
c = Client(MAXRCPT)
c.ehlo()
c.cmd("MAIL FROM:<a@client.test>")
codes = [c.cmd("RCPT TO:<user@%s>" % LOCAL) for _ in range(5)]
is_([x[0] for x in codes], [250, 250, 250, 452, 452], "smtpd_max_recipients=3: excess RCPTs get 452")
is_(enh(codes[3][1]), "4.5.3", "452 4.5.3")
is_(c.cmd("DATA")[0], 354, "DATA proceeds for the accepted ones")
c.send(b"Subject: three\r\n\r\nx\r\n.\r\n")
code, lines = c.reply()
is_(code, 250, "and the message is queued")
path = inst.queue_file(qid_of(lines[-1])) if code == 250 else None
from smtpd_test import recipients, terncat_env  # noqa: E402
is_(len(recipients(terncat_env(path)[1])) if path else 0, 3, "with three recipients")
c.close()

# --- 1A.22 time limits
mark = inst.log_mark()
c = Client(TIMEOUT)
c.ehlo()
c.cmd("MAIL FROM:<a@client.test>")
c.cmd("RCPT TO:<user@%s>" % LOCAL)
t0 = time.time()
code, lines = c.reply()
waited = time.time() - t0
ok(code == 421 and enh(lines[-1]) == "4.4.2" and "timeout" in lines[-1],
   "idle client: 421 4.4.2 ... timeout exceeded (%s)" % lines)
ok(1.5 <= waited < 15, "after about smtpd_timeout (2s): %.1fs" % waited)
ok(c.closed(), "then close")
c.close()
before = inst.complete_files()
c = Client(TIMEOUT)
c.ehlo()
c.cmd("MAIL FROM:<a@client.test>")
c.cmd("RCPT TO:<user@%s>" % LOCAL)
c.cmd("DATA")
c.send("Subject: slow\r\n\r\npart")
code, lines = c.reply()
is_(code, 421, "the same limit inside DATA: 421")
ok(inst.no_new_message(before), "the open transaction leaves no file")
c.close()
like(inst.log_since(mark), "timeout after RCPT from unknown[127.0.0.1]", "log: timeout after RCPT")

# --- reject log line
mark = inst.log_mark()
c = Client(inst.smtp, source="127.0.0.10")
c.ehlo()
c.cmd("MAIL FROM:<a@client.test>")
c.cmd("RCPT TO:<victim@external.test>")
c.cmd("QUIT")
c.close()
ok(wait_for(lambda: "NOQUEUE: reject: RCPT from unknown[127.0.0.10]: 554 5.7.1 <victim@external.test>: "
            "Relay access denied; from=<a@client.test> to=<victim@external.test> proto=ESMTP "
            "helo=<client.test>" in inst.log_since(mark), 5), "log: the Postfix reject line")
ok(wait_for(lambda: "disconnect from unknown[127.0.0.10] ehlo=1 mail=1 rcpt=0/1 quit=1 commands=3/4"
            in inst.log_since(mark), 5), "log: rcpt=0/1 in the disconnect line")

# --- 1A.17 SIGTERM mid-session: 421 4.3.2 first
c = Client(inst.smtp)
c.ehlo()
c.cmd("MAIL FROM:<a@client.test>")
pids = inst.pids("smtpd")
ok(len(pids) > 0, "smtpd processes found")
for p in pids:
    kill(p, signal.SIGTERM)
code, lines = c.reply()
ok(code == 421 and enh(lines[-1]) == "4.3.2", "SIGTERM mid-session: the client reads 421 4.3.2 (%s)" % lines)
ok(c.closed(), "then the connection is closed")
c.close()
ok(wait_for(lambda: all(not os.path.exists("/proc/%d" % p) or
                        open("/proc/%d/status" % p).read().find("State:\tZ") >= 0 for p in pids), 10),
   "the smtpd process exits")
ok(wait_for(lambda: inst.answers(inst.smtp), 20), "master starts a new smtpd")
ok("abnormal" not in inst.log() and "panic" not in inst.log(), "no abnormal exit or panic in the log")

inst.stop()
done()
