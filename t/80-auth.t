#!/usr/bin/python3
"""80-auth - SASL AUTH in smtpd against tern's own accounts (issue 6, AUTH 1-3, screen 5).

Through the real master, smtpd, proxymap and cleanup of a private
instance: ternuser passwd stores yescrypt (or a given --hash); AUTH PLAIN
and LOGIN after STARTTLS on the submission port and on the implicit-TLS
port (smtplib and raw clients); AUTH before TLS gets 538 5.7.11; wrong
passwords 535 5.7.8 and a failure line; cancel and bad base64 501; one
AUTH per session, none inside a transaction; on port 25 AUTH is not
offered and unknown (500 5.5.1), and with smtpd_auth_probe_ban the client
is disconnected with 421; an authenticated client relays (ESMTPSA,
sasl_username and sasl_method in the queue file and Received:) while an
outside unauthenticated one gets 554 5.7.1; smtpd_sender_login_maps
mismatch 553 5.7.1; smtpd_max_recipients holds for authenticated
sessions; the password never reaches the log; a session waiting for its
failure delay does not hold up another session of the same process, and
many sessions authenticating at once all succeed.
"""
import base64
import os
import smtplib
import socket
import ssl
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import diag, done, is_, like, ok, prog, run, skip_all, wait_for  # noqa: E402
from smtpd_test import (Client, SmtpdInstance, auth_plain, ehlo_keywords, enh, qid_of, terncat_bytes,  # noqa: E402
                        terncat_env, tls_session)

if not os.path.exists(prog("smtpd")) or not os.path.exists(prog("ternuser")):
    skip_all("smtpd or ternuser not built")

ALICE, ALICE_PW = "alice@auth.test", "Correct horse 7 battery"
BOB, BOB_PW = "bob@auth.test", "b0b-secret"
OUTSIDE = "127.0.0.10"

inst = SmtpdInstance(
    smtpd={"smtpd_max_recipients": "5",
           "smtpd_sender_login_maps": "inline:{alice@auth.test=alice@auth.test, @bob.test=bob@auth.test}"},
    services=[
        # port 25 look-alike with the probe ban
        ("-o smtpd_auth_on_mta_port=no -o smtpd_auth_probe_ban=yes", "-"),
        # one process, long failure delay: a waiting session must not stall another
        ("-o smtpd_tls_security_level=encrypt -o smtpd_auth_failure_delay=40s", "1"),
    ])
PROBE, SLOW = inst.extra

# --- ternuser passwd
for acct in (ALICE, BOB):
    r = run([prog("ternuser"), "-c", inst.dir, "add", acct])
    is_(r.returncode, 0, "ternuser add %s" % acct)
r = run([prog("ternuser"), "-c", inst.dir, "passwd", ALICE], input=ALICE_PW + "\n")
is_(r.returncode, 0, "ternuser passwd reads the password from stdin")
with open(inst.path("virtual_users")) as f:
    users = f.read()
line = [ln for ln in users.splitlines() if ln.startswith(ALICE + "\t")]
fields = line[0].split("\t") if line else []
ok(len(fields) == 3 and fields[2].startswith(("$y$", "$6$")), "a yescrypt/sha512-crypt hash in the third field (%s)"
   % (fields[2][:4] if len(fields) == 3 else fields))
ok(ALICE_PW not in users, "the password itself is not stored")
is_(os.stat(inst.path("virtual_users")).st_mode & 0o777, 0o640, "virtual_users is not world-readable")
bob_hash = subprocess.run(["openssl", "passwd", "-6", "-salt", "ternsalt", BOB_PW], capture_output=True,
                          text=True).stdout.strip()
r = run([prog("ternuser"), "-c", inst.dir, "passwd", BOB, "--hash", bob_hash])
is_(r.returncode, 0, "ternuser passwd --hash takes a ready sha512-crypt hash")
r = run([prog("ternuser"), "-c", inst.dir, "passwd", BOB, "--hash", "plaintext"])
ok(r.returncode != 0, "--hash refuses what is not a crypt hash")
r = run([prog("ternuser"), "-c", inst.dir, "passwd", "nobody@auth.test"], input="x\n")
is_(r.returncode, 1, "passwd of a missing account: exit 1")
r = run([prog("ternuser"), "-c", inst.dir, "passwd", ALICE], input="\n")
ok(r.returncode != 0, "an empty password is refused")
r = run([prog("ternuser"), "-c", inst.dir, "list"])
like(r.stdout, ALICE + "\tauth.test/alice/", "list still shows the Maildir, not the hash")

inst.start()


def b64(s):
    return base64.b64encode(s.encode()).decode()


# --- port 25: AUTH does not exist
c = Client(inst.smtp)
code, lines = c.ehlo()
ok(not any(k.startswith("AUTH") for k in ehlo_keywords(lines)), "port 25: no AUTH in EHLO")
code, text = c.cmd("AUTH PLAIN " + auth_plain(ALICE, ALICE_PW))
is_((code, enh(text)), (500, "5.5.1"), "port 25: AUTH -> 500 5.5.1")
c.cmd("STARTTLS")
c.starttls_wrap()
code, lines = c.ehlo()
ok(not any(k.startswith("AUTH") for k in ehlo_keywords(lines)), "port 25: no AUTH in EHLO inside TLS either")
ok("REQUIRETLS" in ehlo_keywords(lines), "port 25 inside TLS lists REQUIRETLS")
c.close()

# --- the probe ban
mark = inst.log_mark()
c = Client(PROBE)
c.ehlo()
code, text = c.cmd("AUTH LOGIN")
is_((code, enh(text)), (421, "4.7.0"), "probe ban: AUTH on the MTA port -> 421 4.7.0")
ok(c.closed(), "probe ban: the connection is closed")
c.close()
ok(wait_for(lambda: "AUTH probe on the MTA port" in inst.log_since(mark), 10), "probe ban: logged for the ban hook")

# --- submission before TLS
c = Client(inst.submission)
code, lines = c.ehlo()
ok(not any(k.startswith("AUTH") for k in ehlo_keywords(lines)), "587 before TLS: no AUTH in EHLO")
ok("REQUIRETLS" not in ehlo_keywords(lines), "587 before TLS: no REQUIRETLS")
code, text = c.cmd("AUTH PLAIN " + auth_plain(ALICE, ALICE_PW))
is_((code, enh(text)), (538, "5.7.11"), "AUTH before TLS -> 538 5.7.11")
c.close()

# --- STARTTLS, AUTH PLAIN
mark = inst.log_mark()
c, lines = tls_session(inst.submission)
ok("AUTH PLAIN LOGIN" in ehlo_keywords(lines), "587 after STARTTLS: AUTH PLAIN LOGIN in EHLO")
code, text = c.cmd("AUTH PLAIN " + auth_plain(ALICE, "wrong password"))
is_((code, enh(text)), (535, "5.7.8"), "wrong password -> 535 5.7.8")
code, text = c.cmd("AUTH PLAIN " + auth_plain("ghost@auth.test", "whatever"))
is_((code, enh(text)), (535, "5.7.8"), "unknown account -> the same 535 5.7.8")
code, text = c.cmd("AUTH PLAIN")
is_(code, 334, "AUTH PLAIN without initial response -> 334")
code, text = c.cmd("*")
is_((code, enh(text)), (501, "5.7.0"), "'*' cancels -> 501 5.7.0")
code, text = c.cmd("AUTH PLAIN not/base64!")
is_((code, enh(text)), (501, "5.5.2"), "bad base64 -> 501 5.5.2")
code, text = c.cmd("AUTH PLAIN =")
is_((code, enh(text)), (535, "5.7.8"), "'=' (empty response) -> 535 5.7.8")
code, text = c.cmd("AUTH CRAM-MD5")
is_((code, enh(text)), (504, "5.5.4"), "an unknown mechanism -> 504 5.5.4")
code, text = c.cmd("MAIL FROM:<%s>" % ALICE)
is_(code, 250, "MAIL before AUTH")
code, text = c.cmd("AUTH PLAIN " + auth_plain(ALICE, ALICE_PW))
is_((code, enh(text)), (503, "5.5.1"), "AUTH inside a transaction -> 503 5.5.1")
c.cmd("RSET")
code, text = c.cmd("AUTH PLAIN " + auth_plain(ALICE, ALICE_PW))
is_((code, enh(text)), (235, "2.7.0"), "AUTH PLAIN -> 235 2.7.0")
code, text = c.cmd("AUTH PLAIN " + auth_plain(ALICE, ALICE_PW))
is_((code, enh(text)), (503, "5.5.1"), "a second AUTH -> 503 5.5.1")
code, lines = c.ehlo()
ok(not any(k.startswith("AUTH") for k in ehlo_keywords(lines)), "EHLO after AUTH no longer offers AUTH")
is_(c.cmd("MAIL FROM:<%s>" % ALICE)[0], 250, "authenticated MAIL")
is_(c.cmd("RCPT TO:<friend@remote.example>")[0], 250, "authenticated relay to a foreign domain")
c.cmd("DATA")
c.send(b"From: alice@auth.test\r\nSubject: relayed\r\n\r\nhello\r\n.\r\n")
code, lines = c.reply()
is_(code, 250, "the relayed message is queued")
qid = qid_of(lines[-1]) if lines else None
c.cmd("QUIT")
c.close()
path = inst.queue_file(qid) if qid else None
env = terncat_env(path)[2] if path else {}
is_(env.get("protocol"), "ESMTPSA", "queue file: protocol ESMTPSA")
is_(env.get("sasl_username"), ALICE, "queue file: sasl_username")
is_(env.get("sasl_method"), "PLAIN", "queue file: sasl_method")
hdr = terncat_bytes(path, "-h") if path else b""
ok(b"with ESMTPSA id" in (hdr or b""), "Received: ... with ESMTPSA")
ok(b"Message-ID:" in (hdr or b"") and b"Date:" in (hdr or b""), "submission fix-ups for an authenticated session")
log = inst.log_since(mark)
like(log, "client=unknown[127.0.0.1], sasl_method=PLAIN, sasl_username=" + ALICE, "the Postfix-shaped AUTH log line")
like(log, "SASL PLAIN authentication failed: authentication failure, sasl_username=" + ALICE,
     "the failure line names the account")
like(log, "sasl_username=ghost@auth.test", "the failure line names an unknown account too")
like(log, "sasl_username=none", "a failure without an account says none")

# --- AUTH LOGIN, step by step, on 587
c, lines = tls_session(inst.submission, source=OUTSIDE)
code, text = c.cmd("AUTH LOGIN")
is_((code, text), (334, "334 VXNlcm5hbWU6"), "AUTH LOGIN asks for the user name")
code, text = c.cmd(b64(BOB))
is_((code, text), (334, "334 UGFzc3dvcmQ6"), "then for the password")
code, text = c.cmd(b64(BOB_PW))
is_((code, enh(text)), (235, "2.7.0"), "AUTH LOGIN with a --hash password -> 235")
code, text = c.cmd("MAIL FROM:<%s>" % ALICE)
is_((code, enh(text)), (553, "5.7.1"), "sender_login_maps: bob may not send as alice -> 553 5.7.1")
like(text, "not owned by user " + BOB, "the 553 names the login")
code, text = c.cmd("MAIL FROM:<someone@elsewhere.example>")
is_(code, 553, "sender_login_maps: an unlisted sender -> 553")
is_(c.cmd("MAIL FROM:<anything@bob.test>")[0], 250, "sender_login_maps: @domain entry owned by bob -> 250")
for i in range(5):
    c.cmd("RCPT TO:<r%d@remote.example>" % i)
code, text = c.cmd("RCPT TO:<r5@remote.example>")
is_((code, enh(text)), (452, "4.5.3"), "smtpd_max_recipients applies to authenticated sessions")
c.cmd("QUIT")
c.close()

# --- AUTH and MAIL in one write: MAIL waits for the verdict and counts as authenticated
c, lines = tls_session(inst.submission, source=OUTSIDE)
c.send("AUTH PLAIN %s\r\nMAIL FROM:<%s>\r\nRCPT TO:<p@remote.example>\r\n" % (auth_plain(ALICE, ALICE_PW), ALICE))
replies = [c.reply()[0] for _ in range(3)]
is_(replies, [235, 250, 250], "pipelined AUTH, MAIL, RCPT: answered in order, the relay allowed")
c.close()

# --- unauthenticated outside client: no relay
c, lines = tls_session(inst.submission, source=OUTSIDE)
c.cmd("MAIL FROM:<%s>" % ALICE)
code, text = c.cmd("RCPT TO:<friend@remote.example>")
is_((code, enh(text)), (554, "5.7.1"), "unauthenticated outside client: relay denied")
c.close()

# --- smtplib, implicit TLS on 465 and STARTTLS on 587
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
try:
    s = smtplib.SMTP_SSL("127.0.0.1", inst.submissions, context=ctx, timeout=30, source_address=(OUTSIDE, 0))
    s.ehlo()
    ok("auth" in s.esmtp_features, "465: AUTH offered")
    s.login(ALICE, ALICE_PW)
    refused = s.sendmail(ALICE, ["x@remote.example"], b"From: alice@auth.test\r\nSubject: 465\r\n\r\nhi\r\n")
    is_(refused, {}, "465: smtplib login and relay")
    s.quit()
except (smtplib.SMTPException, OSError) as e:
    ok(False, "465: smtplib login and relay (%s)" % e)
try:
    s = smtplib.SMTP("127.0.0.1", inst.submission, timeout=30, source_address=(OUTSIDE, 0))
    s.starttls(context=ctx)
    s.login(BOB, BOB_PW)
    ok(True, "587: smtplib STARTTLS + login")
    s.quit()
except (smtplib.SMTPException, OSError) as e:
    ok(False, "587: smtplib STARTTLS + login (%s)" % e)

# --- swaks, when present
if os.path.exists("/usr/bin/swaks"):
    r = run(["swaks", "--server", "127.0.0.1:%d" % inst.submission, "--tls", "--auth", "LOGIN",
             "--auth-user", ALICE, "--auth-password", ALICE_PW, "--from", ALICE, "--to", "y@remote.example",
             "--helo", "swaks.test"], timeout=60)
    like(r.stdout, "235 2.7.0", "swaks AUTH LOGIN over STARTTLS")
    is_(r.returncode, 0, "swaks delivers the message")

# --- a session in its failure delay does not stall the process
slow_bad = Client(SLOW)
slow_bad.ehlo()
slow_bad.cmd("STARTTLS")
slow_bad.starttls_wrap()
slow_bad.ehlo()
slow_bad.send("AUTH PLAIN %s\r\n" % auth_plain(ALICE, "bad"))
c, lines = tls_session(SLOW)
code, text = c.cmd("AUTH PLAIN " + auth_plain(ALICE, ALICE_PW))
is_(code, 235, "another session of the same process authenticates while the first waits out its delay")
slow_bad.sock.settimeout(0.2)
try:
    pending = slow_bad.sock.recv(100)
except (socket.timeout, ssl.SSLWantReadError):
    pending = b""
except OSError:
    pending = b"?"
is_(pending, b"", "... and the first session's 535 is still to come")
c.close()
slow_bad.close()

# --- many sessions at once
results = []


def one(i):
    try:
        cl, _ = tls_session(inst.submission)
        code, _ = cl.cmd("AUTH PLAIN " + auth_plain(ALICE if i % 2 else BOB, ALICE_PW if i % 2 else BOB_PW))
        cl.cmd("QUIT")
        cl.close()
        results.append(code)
    except OSError as e:
        results.append(str(e))


threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
for t in threads:
    t.start()
for t in threads:
    t.join(120)
is_(sorted(map(str, results)), ["235"] * 16, "16 concurrent sessions all authenticate")

# --- secrets never in the log
log = inst.log()
leaks = [s for s in (ALICE_PW, BOB_PW, "wrong password", auth_plain(ALICE, ALICE_PW), b64(BOB_PW),
                     auth_plain(ALICE, "wrong password")) if s in log]
is_(leaks, [], "no password (plain or base64) in the mail log")
ok("panic" not in log and "fatal" not in log, "no panic or fatal in the log")

inst.stop()
done()
