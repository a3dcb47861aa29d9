#!/usr/bin/python3
"""88-screen-smtpd - smtpd wired to the screen service (issue 6, "screen
service" 1-4): real master, smtpd, screen, proxymap and cleanup; clients
from distinct loopback addresses so that each defence has its own.

Limits: auth_failure_limit 3, harvest_limit 3, hijack_limit 3,
rate_limit_messages 2, smtpd_auth_failure_delay 0.

Checked: three failed AUTHs -> 535 each, the third followed by 421 4.7.1
and a close; the address then gets 554 5.7.1 instead of the greeting,
also after a restart of tern; three unknown recipients (550 5.1.1) ->
421 4.7.1, then 554 at connect (harvesting); AUTH on the MTA port with
the probe ban -> 421, then 554 at connect; an authenticated account
with three 5xx RCPT replies -> 421 4.7.1 (frozen) and a later AUTH with
the right password gets 535 5.7.8 "account frozen"; an authenticated
account's third message in the period gets 450 4.7.1 at DATA, and at
BDAT (the chunk is read and refused); the session goes on after a 450.
"""
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import diag, done, is_, like, ok, prog, run, skip_all, wait_for  # noqa: E402
from smtpd_test import LOCAL, Client, SmtpdInstance, auth_plain, enh, greeting, tls_session  # noqa: E402

if not all(os.path.exists(prog(p)) for p in ("smtpd", "screen", "ternuser")):
    skip_all("smtpd, screen or ternuser not built")

ALICE, ALICE_PW = "alice@auth.test", "alice-Pw-1"
BOB, BOB_PW = "bob@auth.test", "bob-Pw-2"
FAILER, HARVESTER, PROBER, HIJACKED, SENDER = ("127.0.0.20", "127.0.0.21", "127.0.0.22", "127.0.0.23",
                                               "127.0.0.24")

inst = SmtpdInstance(
    smtpd={"auth_failure_limit": "3", "auth_failure_net_limit": "0", "auth_ban_time": "1h",
           "harvest_limit": "3", "hijack_limit": "3", "rate_limit_messages": "2",
           "rate_limit_recipients": "100", "smtpd_auth_failure_delay": "0"},
    services=[("-o smtpd_auth_on_mta_port=no -o smtpd_auth_probe_ban=yes", "-")])
PROBE = inst.extra[0]
with open(inst.path("master.conf")) as f:
    text = f.read()
text, n = re.subn(r"^#(screen\s+unix\s)", r"\1", text, flags=re.M)
with open(inst.path("master.conf"), "w") as f:
    f.write(text)
is_(n, 1, "the screen service is enabled in the instance's master.conf")
for acct, pw in ((ALICE, ALICE_PW), (BOB, BOB_PW)):
    r = run([prog("ternuser"), "-c", inst.dir, "add", acct])
    is_(r.returncode, 0, "ternuser add %s" % acct)
    r = run([prog("ternuser"), "-c", inst.dir, "passwd", acct], input=pw + "\n")
    is_(r.returncode, 0, "ternuser passwd %s" % acct)
r = inst.start()
is_(r.returncode, 0, "instance starts")
ok(wait_for(lambda: os.path.exists(inst.path("queue", "private", "screen")), 15), "screen listens")


def submission(source):
    """A session on 587 inside TLS, EHLO done."""
    return tls_session(inst.submission, source=source)[0]


def send(c, rcpt="user@" + LOCAL, bdat=False):
    """One message on an open session: the final reply (code, text)."""
    if c.cmd("MAIL FROM:<%s>" % BOB)[0] != 250:
        return None
    if c.cmd("RCPT TO:<%s>" % rcpt)[0] != 250:
        return None
    body = b"From: bob@auth.test\r\nSubject: rate\r\n\r\nhello\r\n"
    if bdat:
        c.send(b"BDAT %d LAST\r\n" % len(body) + body)
        return c.reply()[0], c.buf
    code, text = c.cmd("DATA")
    if code != 354:
        return code, text
    c.send(body + b".\r\n")
    code, lines = c.reply()
    return code, lines[-1] if lines else ""


# --- N failed AUTHs -> ban -> 554 at connect, surviving a restart
c = submission(FAILER)
for i in (1, 2):
    code, text = c.cmd("AUTH PLAIN " + auth_plain(ALICE, "wrong %d" % i))
    is_((code, enh(text)), (535, "5.7.8"), "failed AUTH %d: 535 5.7.8" % i)
code, text = c.cmd("AUTH PLAIN " + auth_plain(ALICE, "wrong 3"))
is_((code, enh(text)), (535, "5.7.8"), "failed AUTH 3: 535 5.7.8 ...")
code, lines = c.reply()
is_((code, enh(lines[-1]) if lines else None), (421, "4.7.1"), "... then 421 4.7.1: banned now")
ok(c.closed(), "... and the connection is closed")
c.close()
code, text, _ = greeting(inst.submission, FAILER)
is_((code, enh(text)), (554, "5.7.1"), "the banned address gets 554 5.7.1 instead of the greeting")
is_(greeting(inst.smtp, FAILER)[0], 554, "on the MTA port too")
is_(greeting(inst.smtp, SENDER)[0], 220, "another address is greeted")
with open(inst.path("data", "auth_failure.log"), errors="replace") as f:
    authlog = f.read()
is_(len([ln for ln in authlog.splitlines() if FAILER in ln]), 3, "three lines in the auth-failure log")
like(authlog, ALICE, "the auth-failure log names the account")

r = inst.stop()
is_(r.returncode, 0, "tern stops")
r = inst.start()
is_(r.returncode, 0, "tern starts again")
ok(wait_for(lambda: greeting(inst.smtp, SENDER)[0] == 220, 15), "greeting after the restart")
is_(greeting(inst.submission, FAILER)[0], 554, "the ban survives the restart")

# --- harvesting
c = Client(inst.smtp, source=HARVESTER)
c.ehlo()
c.cmd("MAIL FROM:<h@client.test>")
for i in (1, 2):
    code, text = c.cmd("RCPT TO:<nosuch%d@%s>" % (i, LOCAL))
    is_((code, enh(text)), (550, "5.1.1"), "harvesting: unknown recipient %d -> 550 5.1.1" % i)
code, text = c.cmd("RCPT TO:<nosuch3@%s>" % LOCAL)
is_(code, 550, "harvesting: the third unknown recipient -> 550 ...")
code, lines = c.reply()
is_((code, enh(lines[-1]) if lines else None), (421, "4.7.1"), "... then 421 4.7.1")
ok(c.closed(), "... and a close")
c.close()
is_(greeting(inst.smtp, HARVESTER)[0], 554, "the harvester gets 554 at connect")

# --- the AUTH probe ban
c = Client(PROBE, source=PROBER)
c.ehlo()
code, text = c.cmd("AUTH LOGIN")
is_((code, enh(text)), (421, "4.7.0"), "AUTH probe on the MTA port: 421 4.7.0")
c.close()
ok(wait_for(lambda: greeting(inst.smtp, PROBER)[0] == 554, 10), "the prober gets 554 at connect")

# --- hijack: an authenticated account collecting 5xx RCPT replies is frozen
c = submission(HIJACKED)
is_(c.cmd("AUTH PLAIN " + auth_plain(ALICE, ALICE_PW))[0], 235, "alice authenticates")
c.cmd("MAIL FROM:<%s>" % ALICE)
for i in (1, 2):
    code, text = c.cmd("RCPT TO:<nobody%d@%s>" % (i, LOCAL))
    is_(code, 550, "hijack: refused recipient %d -> 550" % i)
code, text = c.cmd("RCPT TO:<nobody3@%s>" % LOCAL)
is_(code, 550, "hijack: the third refused recipient -> 550 ...")
code, lines = c.reply()
is_((code, enh(lines[-1]) if lines else None), (421, "4.7.1"), "... then 421 4.7.1: the account is frozen")
like(lines[-1] if lines else "", "frozen", "the 421 says the account is frozen")
c.close()
c = submission(SENDER)
code, text = c.cmd("AUTH PLAIN " + auth_plain(ALICE, ALICE_PW))
is_((code, enh(text)), (535, "5.7.8"), "AUTH of the frozen account with the right password: 535 5.7.8")
like(text, "account frozen", "the reply says the account is frozen")
c.close()
like(inst.log(), "login of %s refused: account frozen" % ALICE, "the refusal is logged")

# --- rate limit of an authenticated account
c = submission(SENDER)
is_(c.cmd("AUTH PLAIN " + auth_plain(BOB, BOB_PW))[0], 235, "bob authenticates")
for i in (1, 2):
    got = send(c)
    is_(got[0] if got else None, 250, "message %d within the rate limit: 250" % i)
got = send(c)
ok(got is not None and got[0] == 450 and enh(got[1]) == "4.7.1", "the third message: 450 4.7.1 at DATA")
if got:
    diag(got[1])
is_(c.cmd("RSET")[0], 250, "the session goes on after the 450")
got = send(c, bdat=True)
is_(got[0] if got else None, 450, "over the limit with BDAT: 450 for the chunk")
is_(c.cmd("NOOP")[0], 250, "the refused chunk was read: the session is in step")
c.cmd("QUIT")
c.close()
like(inst.log(), "reject: DATA from", "the rate refusal is logged")

inst.stop()
done()
