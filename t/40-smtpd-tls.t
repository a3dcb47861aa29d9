#!/usr/bin/python3
"""40-smtpd-tls - STARTTLS, port 465 and submission (spec-checklists 1B.14-17).

Through the real master, smtpd and cleanup of a private instance made by
"ternctl init" (its self-signed certificate in smtpd.conf): STARTTLS is
listed and works; after the handshake all prior state is forgotten, the
new EHLO does not list STARTTLS and a second STARTTLS is refused;
plaintext pipelined after STARTTLS is discarded (CVE-2011-0411 class);
on the implicit-TLS port the greeting comes inside TLS and plaintext gets
no SMTP reply; submission with smtpd_tls_security_level = encrypt refuses
MAIL before STARTTLS with 530 5.7.0; TLS 1.2 and 1.3 only; session
resumption with tickets, also across smtpd processes; the TLS version and
cipher reach the queue file and Received:; Python's smtplib and openssl
s_client as clients.
"""
import os
import re
import smtplib
import ssl
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import diag, done, is_, like, ok, prog, run, skip_all  # noqa: E402
from smtpd_test import LOCAL, Client, SmtpdInstance, enh, qid_of, terncat_bytes, terncat_env  # noqa: E402

if not os.path.exists(prog("smtpd")) or not os.path.exists(prog("cleanup")):
    skip_all("smtpd or cleanup not built")

inst = SmtpdInstance(services=[("-o smtpd_tls_wrappermode=yes -o smtpd_sessions_per_process=1 -o max_use=1", "-")])
ONESHOT = inst.extra[0]
inst.start()


def kws(lines):
    return set(ln[4:].split()[0].upper() for ln in lines[1:])


def tls_client(port, session=None):
    """A Client on the implicit-TLS port."""
    c = Client(port, greet=False)
    c.starttls_wrap(session=session)
    c.greeting = c.reply()
    return c


# --- 1B.14 STARTTLS on port 25
c = Client(inst.smtp)
code, lines = c.ehlo()
ok("STARTTLS" in kws(lines), "EHLO lists STARTTLS")
code, text = c.cmd("STARTTLS x")
is_((code, enh(text)), (501, "5.5.4"), "STARTTLS x -> 501 5.5.4")
c.cmd("MAIL FROM:<a@client.test>")
code, text = c.cmd("STARTTLS")
is_((code, enh(text)), (503, "5.5.1"), "STARTTLS inside a transaction -> 503 5.5.1")
c.cmd("RSET")
code, text = c.cmd("STARTTLS")
is_((code, enh(text)), (220, "2.0.0"), "STARTTLS -> 220 2.0.0")
c.starttls_wrap()
ok(c.sock.version() in ("TLSv1.2", "TLSv1.3"), "handshake done: %s" % c.sock.version())
code, text = c.cmd("MAIL FROM:<a@client.test>")
is_((code, enh(text)), (503, "5.5.1"), "after the handshake the EHLO is forgotten: MAIL -> 503")
code, lines = c.ehlo()
is_(code, 250, "EHLO inside TLS")
ok("STARTTLS" not in kws(lines), "the new EHLO does not list STARTTLS")
code, text = c.cmd("STARTTLS")
ok(code in (503, 554) and enh(text) == "5.5.1", "a second STARTTLS -> 554 5.5.1 (%s)" % text)
c.cmd("MAIL FROM:<a@client.test>")
c.cmd("RCPT TO:<user@%s>" % LOCAL)
c.cmd("DATA")
c.send(b"Subject: tls\r\n\r\nsecret\r\n.\r\n")
code, lines = c.reply()
is_(code, 250, "a message over STARTTLS is queued")
path = inst.queue_file(qid_of(lines[-1])) if code == 250 else None
env = terncat_env(path)[2] if path else {}
is_(env.get("protocol"), "ESMTPS", "protocol ESMTPS in the queue file")
ok(env.get("tls_protocol") in ("TLSv1.2", "TLSv1.3"), "tls_protocol in the queue file (%s)" % env.get("tls_protocol"))
ok(env.get("tls_cipher", "") != "", "tls_cipher in the queue file (%s)" % env.get("tls_cipher"))
hdr = terncat_bytes(path, "-h") if path else b""
ok(b"with ESMTPS id" in hdr, "Received: ... with ESMTPS")
c.close()

# --- 1B.15 STARTTLS injection
mark = inst.log_mark()
c = Client(inst.smtp)
c.ehlo()
c.send("STARTTLS\r\nRSET\r\n")
code, lines = c.reply()
is_(code, 220, "STARTTLS with RSET in the same write: 220")
c.starttls_wrap()
ok(True, "the handshake completes")
code, lines = c.ehlo()
ok(code == 250 and lines[0].startswith("250-"),
   "the first reply inside TLS is the EHLO's: the injected RSET was never answered (%s)" % lines[:1])
c.close()
like(inst.log_since(mark), "discarding 6 octets of plaintext pipelined after STARTTLS", "logged")

# --- 1B.16 port 465
c = tls_client(inst.submissions)
code, lines = c.greeting
is_(code, 220, "465: the greeting comes inside TLS")
code, lines = c.ehlo()
ok(code == 250 and "STARTTLS" not in kws(lines), "465: EHLO does not list STARTTLS")
c.cmd("MAIL FROM:<a@client.test>")
c.cmd("RCPT TO:<user@%s>" % LOCAL)
c.cmd("DATA")
c.send(b"Subject: 465\r\n\r\nx\r\n.\r\n")
is_(c.reply()[0], 250, "465: a message is queued")
c.close()
c = Client(inst.submissions, greet=False, timeout=10)
c.send("EHLO plain.test\r\n")
got = b""
c.sock.settimeout(10)
try:
    while True:
        d = c.sock.recv(4096)
        if not d:
            break
        got += d
except OSError:
    pass
ok(not got[:3].isdigit(), "465: plaintext EHLO gets no SMTP reply (%r)" % got[:20])
c.close()

# --- 1B.17 submission: encrypt
c = Client(inst.submission)
c.ehlo()
code, text = c.cmd("MAIL FROM:<a@client.test>")
is_((code, enh(text)), (530, "5.7.0"), "587: MAIL before STARTTLS -> 530 5.7.0")
code, text = c.cmd("RCPT TO:<user@%s>" % LOCAL)
ok(code in (503, 530), "587: RCPT refused too (%s)" % text)
for cmd in ("NOOP", "RSET"):
    is_(c.cmd(cmd)[0], 250, "587: %s still works" % cmd)
is_(c.cmd("STARTTLS")[0], 220, "587: STARTTLS works")
c.starttls_wrap()
c.ehlo()
is_(c.cmd("MAIL FROM:<a@client.test>")[0], 250, "587: MAIL after STARTTLS -> 250")
is_(c.cmd("QUIT")[0], 221, "587: QUIT")
c.close()

# --- swaks
for port, opt in ((inst.submission, "--tls"), (inst.submissions, "--tlsc")):
    r = subprocess.run(["swaks", "--server", "127.0.0.1:%d" % port, opt, "--from", "a@client.test",
                        "--to", "user@" + LOCAL, "--helo", "client.test"], capture_output=True, text=True, timeout=60)
    ok(r.returncode == 0 and "queued as" in r.stdout, "swaks %s on %d: queued" % (opt, port))

# --- smtplib
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", inst.submission, timeout=20)
s.starttls(context=ctx)
refused = s.sendmail("a@client.test", ["user@" + LOCAL], b"Subject: smtplib\r\n\r\nvia smtplib\r\n")
is_(refused, {}, "smtplib: STARTTLS on 587 and a message")
s.quit()
s = smtplib.SMTP_SSL("127.0.0.1", inst.submissions, context=ctx, timeout=20)
is_(s.sendmail("a@client.test", ["user@" + LOCAL], b"Subject: smtplib\r\n\r\nx\r\n"), {}, "smtplib: SMTP_SSL on 465")
s.quit()

# --- protocols: TLS 1.2 and 1.3 only; openssl s_client
for opt, want in (("-tls1_2", True), ("-tls1_3", True), ("-tls1_1", False)):
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % inst.submissions, opt, "-crlf",
                        "-ign_eof"], input=b"QUIT\n", capture_output=True, timeout=30)
    out = r.stdout.decode(errors="replace")
    ok(("220 " in out) == want, "openssl s_client %s: %s" % (opt, "handshake and greeting" if want else "refused"))

# --- resumption with tickets, also across processes (one session per process)
sess = tempfile.NamedTemporaryFile(delete=False, dir=inst.dir)
sess.close()
for port, what in ((inst.submissions, "same service"), (ONESHOT, "a new smtpd process each time")):
    mark = inst.log_mark()
    r1 = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-sess_out", sess.name,
                         "-crlf", "-ign_eof"], input=b"QUIT\n", capture_output=True, timeout=30)
    r2 = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-sess_in", sess.name,
                         "-crlf", "-ign_eof"], input=b"QUIT\n", capture_output=True, timeout=30)
    out1, out2 = r1.stdout.decode(errors="replace"), r2.stdout.decode(errors="replace")
    ok("New," in out1 and "Reused," in out2 and "221 " in out2, "session resumed (%s)" % what) or diag(out1[-600:] + out2[-600:])
    pids = set(re.findall(r"smtpd\[(\d+)\]: Anonymous TLS", inst.log_since(mark)))
    if port == ONESHOT:
        is_(len(pids), 2, "the two sessions were served by two processes")
like(inst.log(), "Anonymous TLS connection established from unknown[127.0.0.1]: TLSv1.", "log: TLS line")

inst.stop()
done()
