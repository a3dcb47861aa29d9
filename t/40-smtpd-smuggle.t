#!/usr/bin/python3
"""40-smtpd-smuggle - SMTP smuggling and bare CR/LF (spec-checklists 3).

Through the real master, smtpd and cleanup of a private instance: none
of <LF>.<LF>, <CR>.<CR>, <LF>.<CR><LF>, <CR><LF>.<LF>, <CR>.<CR><LF>,
<CR><LF>.<CR> ends DATA; with the default smtpd_bare_newline = reject
each message carrying one (and any bare CR or LF in content) is read to
the real CRLF.CRLF and refused with 550 5.5.2, the "smuggled" commands
behind it are never executed, and no queue file is left; a bare CR or LF
in a command gets 500 5.5.2. A client in smtpd_bare_newline_exceptions
(a network, and a cidr: table) and a service with normalize get the
message stored with LF line ends only (terncat -hb: no CR, no bare line
end, the smuggled text is content); a CR and LF split across two BDAT
chunks is a normal line end; legacy accept ends DATA at <LF>.<LF>.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import done, is_, like, ok, prog, skip_all, wait_for  # noqa: E402
from smtpd_test import LOCAL, Client, SmtpdInstance, enh, qid_of, terncat_bytes  # noqa: E402

if not os.path.exists(prog("smtpd")) or not os.path.exists(prog("cleanup")):
    skip_all("smtpd or cleanup not built")

inst = SmtpdInstance(smtpd={"smtpd_bare_newline_exceptions": "127.0.0.20/32"},
                     services=[("-o smtpd_bare_newline=normalize", "-"),
                               ("-o smtpd_bare_newline=accept", "-"),
                               ("-o smtpd_bare_newline_exceptions=cidr:%s" % "@CIDR@", "-")])
NORMALIZE, ACCEPT, CIDR = inst.extra
cidr = inst.path("bare.cidr")
with open(cidr, "w") as f:
    f.write("127.0.0.21/32 yes\n")
with open(inst.path("master.conf")) as f:
    text = f.read()
with open(inst.path("master.conf"), "w") as f:
    f.write(text.replace("@CIDR@", cidr))
inst.start()

SEQS = [(b"\n.\n", "<LF>.<LF>"), (b"\r.\r", "<CR>.<CR>"), (b"\n.\r\n", "<LF>.<CR><LF>"),
        (b"\r\n.\n", "<CR><LF>.<LF>"), (b"\r.\r\n", "<CR>.<CR><LF>"), (b"\r\n.\r", "<CR><LF>.<CR>")]
SMUGGLED = (b"MAIL FROM:<admin@bank.test>\r\nRCPT TO:<alice@" + LOCAL.encode() + b">\r\nDATA\r\n"
            b"Subject: smuggled\r\n\r\nspoofed\r\n")


def open_data(port, source="127.0.0.1"):
    c = Client(port, source=source)
    c.ehlo()
    c.cmd("MAIL FROM:<a@client.test>")
    c.cmd("RCPT TO:<user@%s>" % LOCAL)
    code, _ = c.cmd("DATA")
    return c, code


def smuggle(port, seq, source="127.0.0.1"):
    """Send a message with seq and smuggled commands behind it; the replies after the real end."""
    c, code = open_data(port, source)
    c.send(b"Subject: s\r\n\r\nbody" + seq + SMUGGLED + b"\r\n.\r\n")
    first = c.reply()
    nxt = c.cmd("NOOP")
    c.close()
    return code, first, nxt


# --- reject (default)
mark = inst.log_mark()
for seq, name in SEQS:
    before = inst.complete_files()
    code, (rcode, lines), nxt = smuggle(inst.smtp, seq)
    ok(code == 354 and rcode == 550 and enh(lines[-1]) == "5.5.2",
       "%s does not end DATA; the message is refused 550 5.5.2 after the real end (%s)" % (name, lines))
    is_(nxt[0], 250, "%s: the next reply belongs to the NOOP, not to a smuggled command" % name)
    ok(inst.no_new_message(before), "%s: no queue file" % name)
for data, name in ((b"Subject: lf\r\n\r\nline1\nline2\r\n", "bare LF"),
                   (b"Subject: cr\r\n\r\nline1\rline2\r\n", "bare CR"),
                   (b"Subject: cr\r\n\r\nline1\r\r\n", "bare CR before CRLF")):
    before = inst.complete_files()
    c, code = open_data(inst.smtp)
    c.send(data + b".\r\n")
    rcode, lines = c.reply()
    ok(rcode == 550 and enh(lines[-1]) == "5.5.2", "%s in content -> 550 5.5.2 (%s)" % (name, lines))
    ok(inst.no_new_message(before), "%s: no queue file" % name)
    c.close()
log = inst.log_since(mark)
like(log, "bare <LF> received", "log: bare <LF> received")
like(log, "bare <CR> received", "log: bare <CR> received")
like(log, "reject: END-OF-MESSAGE from unknown[127.0.0.1]: 550 5.5.2", "log: the reject line")

# commands
c = Client(inst.smtp)
c.ehlo()
c.send(b"NOOP\n")
code, lines = c.reply()
is_((code, enh(lines[-1])), (500, "5.5.2"), "bare LF in a command -> 500 5.5.2")
c.send(b"NO\rOP\r\n")
code, lines = c.reply()
is_((code, enh(lines[-1])), (500, "5.5.2"), "bare CR in a command -> 500 5.5.2")
is_(c.cmd("NOOP")[0], 250, "the session goes on")
# BDAT: bare LF refused; CR|LF across two chunks is a normal line end
c.cmd("MAIL FROM:<a@client.test>")
c.cmd("RCPT TO:<user@%s>" % LOCAL)
c.send(b"BDAT 12 LAST\r\nSubject: x\n\n")
code, lines = c.reply()
is_((code, enh(lines[-1])), (550, "5.5.2"), "BDAT content with bare LF -> 550 5.5.2")
c.cmd("MAIL FROM:<a@client.test>")
c.cmd("RCPT TO:<user@%s>" % LOCAL)
c.send(b"BDAT 15\r\nSubject: split\r")
is_(c.reply()[0], 250, "chunk ending in CR")
c.send(b"BDAT 6 LAST\r\n\n\r\nx\r\n")
code, lines = c.reply()
is_(code, 250, "next chunk starting with LF: a normal CRLF, queued")
path = inst.queue_file(qid_of(lines[-1])) if code == 250 else None
is_(terncat_bytes(path, "-b") if path else None, b"x\n", "stored as one message with CRLF line ends")
c.close()


# --- exceptions and normalize: stored with CRLF only
def normalized(port, source, label):
    before = set(inst.all_files())
    c, code = open_data(port, source)
    c.send(b"Subject: n\r\n\r\nline1\nline2\rline3\r\n..stuffed\n.x\r\nbody" + b"\n.\n" + SMUGGLED + b"\r\n.\r\n")
    rcode, lines = c.reply()
    is_(rcode, 250, "%s: message with bare CR/LF accepted" % label)
    c.send(b"NOOP\n")
    is_(c.reply()[0], 250, "%s: a command ending in bare LF is read" % label)
    c.close()
    new = set(inst.all_files()) - before
    is_(len(new), 1, "%s: exactly one message, nothing smuggled" % label)
    path = inst.queue_file(qid_of(lines[-1])) if rcode == 250 else None
    data = terncat_bytes(path) if path else b""
    ok(b"\r" not in data, "%s: no CR stored (LF line ends only)" % label)
    body = terncat_bytes(path, "-b") if path else b""
    is_(body, b"line1\nline2\nline3\n.stuffed\nx\nbody\n.\n" + SMUGGLED.replace(b"\r\n", b"\n") + b"\n",
        "%s: bare line ends became line ends; the smuggled text is content" % label)


normalized(inst.smtp, "127.0.0.20", "exception network")
normalized(CIDR, "127.0.0.21", "exception cidr: table")
normalized(NORMALIZE, "127.0.0.1", "smtpd_bare_newline = normalize")
c, code = open_data(CIDR, "127.0.0.22")
c.send(b"Subject: lf\r\n\r\nline1\nline2\r\n.\r\n")
is_(c.reply()[0], 550, "a client not in the cidr: table is still refused")
c.close()

# --- accept: the legacy end of data
c, code = open_data(ACCEPT)
c.send(b"Subject: a\r\n\r\nbody\n.\n")
code, lines = c.reply()
is_(code, 250, "smtpd_bare_newline = accept: <LF>.<LF> ends DATA (legacy)")
path = inst.queue_file(qid_of(lines[-1])) if code == 250 else None
is_(terncat_bytes(path, "-b") if path else None, b"body\n", "stored with LF line ends")
c.close()

inst.stop()
done()
