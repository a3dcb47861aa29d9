#!/usr/bin/python3
"""91-cleanup-checks - header_checks and body_checks in cleanup (tern-checks(5)).

A private instance without qmgr (files stay where cleanup puts them) runs
cleanup with pcre: header_checks and body_checks; messages come over the
cleanup protocol (t/lib/tern_ipc.py) and, for the SMTP reply, through
smtpd with smtplib. Checked for headers: REJECT with and without text and
an enhanced code (reply, log line in Postfix's shape, no file), DISCARD
(ok with a queue id, no file, logged), HOLD (the file is complete in
hold/, not in incoming/), WARN (logged, kept), REPLACE with $1, PREPEND,
IGNORE, a folded field matched unfolded, an unknown action ignored with a
warning; for the body: REJECT, DISCARD, HOLD, WARN, REPLACE, PREPEND,
IGNORE, the empty line after the header is no body line, and
body_checks_size_limit; smtpd answers a REJECT with 550 and the text; a
pcre file with a syntax error stops cleanup at start-up with file:line.
"""
import os
import smtplib
import stat
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (Instance, diag, done, is_, like, ok, prog, run, skip_all,  # noqa: E402
                       wait_for)
import tern_ipc as I  # noqa: E402

if not os.access(prog("cleanup"), os.X_OK) or not os.access(prog("terncat"), os.X_OK):
    skip_all("cleanup or terncat is not built")

HEADER_CHECKS = r"""# header_checks of 91-cleanup-checks
/^Subject: (reject-with-text.*)/	REJECT 5.7.2 No thanks, $1
/^Subject: reject-plain/	REJECT
/^X-Discard:/			DISCARD spam trap
/^X-Hold:/			HOLD needs a look
/^X-Warn: (.*)/			WARN odd header $1
/^X-Mailer: (.*)/		REPLACE X-Mailer: hidden ($1)
/^Subject: prepend-me/		PREPEND X-Flag: prepended
/^X-Secret:/			IGNORE
/^Subject: folded\tsecond-line/	WARN folded field seen
/^X-Bad-Action:/		EXPLODE now
/^X-Bad-Replace:/		REPLACE not a field
"""

BODY_CHECKS = r"""# body_checks of 91-cleanup-checks
/^reject this body line$/	REJECT body refused
/^discard-body/			DISCARD body trap
/^hold-body/			HOLD body hold
/^warn-body (.*)/		WARN body says $1
/^replace-body (.*)$/		REPLACE replaced: $1
/^ignore-body/			IGNORE
/^prepend-body/			PREPEND inserted line
/^$/				WARN an empty line
"""


def make_instance(header_checks, body_checks, extra=()):
    inst = Instance()
    smtp_port = inst.ports[0]
    with open(inst.path("master.conf"), "w") as f:
        f.write("127.0.0.1:%d inet n - n - - smtpd -o smtpd_auth_on_mta_port=no\n" % smtp_port)
        f.write("cleanup unix - - n - 0 cleanup\n")
        f.write("proxymap unix - - n - - proxymap\n")
        f.write("screen unix - - n - 1 screen\n")
    hc = inst.path("header_checks")
    bc = inst.path("body_checks")
    with open(hc, "w") as f:
        f.write(header_checks)
    with open(bc, "w") as f:
        f.write(body_checks)
    with open(inst.path("qmgr.conf"), "a") as f:
        f.write("header_checks = pcre:%s\nbody_checks = pcre:%s\n" % (hc, bc))
        for name, value in extra:
            f.write("%s = %s\n" % (name, value))
    return inst, hc


inst, HC = make_instance(HEADER_CHECKS, BODY_CHECKS, [("body_checks_size_limit", "4096")])
r = inst.start()
is_(r.returncode, 0, "instance with header_checks and body_checks starts")
SOCK = inst.path("queue", "private", "cleanup")
wait_for(lambda: os.path.exists(SOCK), 10)


def files(sub="incoming"):
    return sorted(os.listdir(inst.path("queue", sub)))


def terncat(qid, sub="incoming"):
    r = run([prog("terncat"), "-h", "-b", inst.path("queue", sub, qid)])
    if r.returncode != 0:
        diag(r.stdout + r.stderr)
    return r.stdout


def log_has(text, timeout=10):
    return wait_for(lambda: text in inst.log(), timeout)


c = I.CleanupClient(SOCK)


def send(headers, body=b"Hello.\r\n", **kw):
    return c.message(headers + b"\r\n" + body, **kw) or {}


# --- header REJECT ---
before = files()
r = send(b"Subject: reject-with-text please\r\nFrom: <a@client.test>\r\n", sender="s1@client.test",
         rcpts=["r1@local.test"], client_name="mail.client.test", client_addr="127.0.0.2",
         helo="helo.client.test")
ok(r.get("status") == "error" and r.get("code") == 550 and r.get("dsn") == "5.7.2",
   "REJECT 5.7.2: 550 5.7.2 (%s %s %s)" % (r.get("code"), r.get("dsn"), r.get("text")))
is_(r.get("text"), "No thanks, reject-with-text please", "REJECT text with $1 substituted")
is_(files(), before, "REJECT: no file kept")
ok(log_has(": reject: header Subject: reject-with-text please from mail.client.test[127.0.0.2]; "
           "from=<s1@client.test> to=<r1@local.test> proto=ESMTP helo=<helo.client.test>: "
           "5.7.2 No thanks, reject-with-text please"), "REJECT logged in Postfix's shape")
r = send(b"Subject: reject-plain\r\n")
ok(r.get("code") == 550 and r.get("dsn") == "5.7.1" and r.get("text") == "Error: message content rejected",
   "REJECT without text: 550 5.7.1 Error: message content rejected")

# --- DISCARD ---
r = send(b"Subject: d\r\nX-Discard: yes\r\n")
qid = r.get("queue_id", "")
ok(r.get("status") == "ok" and qid, "DISCARD: the source is told ok, with a queue id")
ok(qid not in files() and qid not in files("hold"), "DISCARD: no file in incoming/ or hold/")
ok(log_has("%s: discard: header X-Discard: yes from client.test[127.0.0.1]" % qid)
   and log_has("%s: discarded: from=<sender@client.test>, nrcpt=1" % qid), "DISCARD logged")

# --- HOLD ---
r = send(b"Subject: h\r\nX-Hold: please\r\n")
qid = r.get("queue_id", "")
ok(r.get("status") == "ok" and qid in files("hold") and qid not in files(), "HOLD: the file is in hold/")
ok(qid and stat.S_IMODE(os.stat(inst.path("queue", "hold", qid)).st_mode) == 0o700, "HOLD: the file is complete")
ok(log_has("%s: hold: header X-Hold: please from " % qid) and log_has("needs a look")
   and log_has("%s: hold: from=<sender@client.test>, nrcpt=1 (queue hold)" % qid), "HOLD logged")

# --- WARN, REPLACE, PREPEND, IGNORE, folded, unknown action ---
r = send(b"Subject: prepend-me\r\nX-Warn: strange\r\nX-Mailer: Foo 1.0\r\nX-Secret: 42\r\n"
         b"X-Other: stays\r\nX-Bad-Action: x\r\nX-Bad-Replace: y\r\n")
qid = r.get("queue_id", "")
is_(r.get("status"), "ok", "WARN/REPLACE/PREPEND/IGNORE message accepted")
m = terncat(qid)
like(m, "X-Flag: prepended\nSubject: prepend-me\n", "PREPEND: the line comes before the matched one")
like(m, "X-Warn: strange\n", "WARN: the field is kept")
like(m, "X-Mailer: hidden (Foo 1.0)\n", "REPLACE with $1")
ok("X-Secret" not in m, "IGNORE: the field is gone")
like(m, "X-Other: stays\n", "other fields stay")
like(m, "X-Bad-Action: x\nX-Bad-Replace: y\n", "unknown action and bad REPLACE text: the fields stay")
ok(log_has("%s: warning: header X-Warn: strange from client.test[127.0.0.1]" % qid)
   and log_has(": odd header strange"), "WARN logged with its text")
ok(log_has("%s: replace: header X-Mailer: Foo 1.0 from" % qid), "REPLACE logged")
ok(log_has("%s: prepend: header Subject: prepend-me from" % qid), "PREPEND logged")
ok(log_has("%s: ignore: header X-Secret: 42 from" % qid), "IGNORE logged")
ok(log_has("unknown action in the result") and log_has("is not a header field"),
   "unknown action and a REPLACE that is no field: warnings")
r = send(b"Subject: folded\r\n\tsecond-line\r\n")
qid = r.get("queue_id", "")
like(terncat(qid), "Subject: folded\n\tsecond-line\n", "folded field stored as it came")
ok(log_has("%s: warning: header Subject: folded\tsecond-line from" % qid), "folded field matched unfolded")

# --- body checks ---
r = send(b"Subject: b1\r\n", b"first\r\nreject this body line\r\nlast\r\n")
ok(r.get("code") == 550 and r.get("dsn") == "5.7.1" and r.get("text") == "body refused", "body REJECT: 550 5.7.1 body refused")
ok(log_has(": reject: body reject this body line from client.test[127.0.0.1]"), "body REJECT logged")
r = send(b"Subject: b2\r\n", b"x\r\ndiscard-body now\r\n")
qid = r.get("queue_id", "")
ok(r.get("status") == "ok" and qid not in files(), "body DISCARD: ok, no file")
r = send(b"Subject: b3\r\n", b"hold-body\r\n")
qid = r.get("queue_id", "")
ok(qid in files("hold"), "body HOLD: the file is in hold/")
r = send(b"Subject: b4\r\n", b"a\r\nwarn-body hello\r\nreplace-body the rest\r\nignore-body gone\r\n"
         b"prepend-body here\r\nz\r\n")
qid = r.get("queue_id", "")
m = terncat(qid)
body = m.split("\n\n", 1)[1] if "\n\n" in m else ""
is_(body, "a\nwarn-body hello\nreplaced: the rest\ninserted line\nprepend-body here\nz\n",
    "body WARN kept, REPLACE, IGNORE, PREPEND")
ok(log_has("%s: warning: body warn-body hello from" % qid) and log_has("body says hello"), "body WARN logged")
ok("%s: warning: body  from" % qid not in inst.log(), "the empty line after the header is not a body line")
# a long line is checked in pieces; the line after the limit is not checked at all
r = send(b"Subject: b5\r\n", b"y" * 5000 + b"\r\nreject this body line\r\n")
is_(r.get("status"), "ok", "body_checks_size_limit 4096: a line after the limit is not checked")
m = terncat(r.get("queue_id", ""))
like(m, "y" * 5000 + "\nreject this body line\n", "the long line is stored whole")
r = send(b"Subject: b6\r\n", b"short\r\n\r\nreject this body line\r\n")
is_(r.get("code"), 550, "within the limit it is (an empty body line in between)")

# --- smtpd answers a REJECT with 550 and the text ---
if os.access(prog("smtpd"), os.X_OK):
    try:
        s = smtplib.SMTP("127.0.0.1", inst.ports[0], timeout=30)
        s.ehlo("client.test")
        s.mail("a@client.test")
        s.rcpt("postmaster@localhost")
        code, text = s.data(b"Subject: reject-with-text smtp\r\n\r\nbody\r\n")
        s.quit()
    except smtplib.SMTPException as e:
        code, text = getattr(e, "smtp_code", 0), getattr(e, "smtp_error", str(e).encode())
    is_(code, 550, "SMTP: DATA answered 550")
    like(text.decode(errors="replace"), "5.7.2 No thanks, reject-with-text smtp", "SMTP: with the table's text")
c.close()
inst.stop()

# --- a broken pattern file stops cleanup at start-up, with file and line ---
broken = "# line 1\n/^Subject: fine/ WARN ok\n/^Subject: (unclosed/ REJECT x\n"
inst2, hc2 = make_instance(broken, "")
inst2.start()
sock2 = inst2.path("queue", "private", "cleanup")
wait_for(lambda: os.path.exists(sock2), 10)
try:
    c2 = I.CleanupClient(sock2, timeout=5)
    r = c2.message(b"Subject: x\r\n\r\nx\r\n")
except OSError:
    r = None
ok(r is None or r.get("status") != "ok", "broken header_checks: no message is taken")
ok(wait_for(lambda: "fatal: header_checks: " in inst2.log() and "%s:3:" % hc2 in inst2.log(), 15),
   "broken header_checks: cleanup stops with file:line (%s:3)" % hc2)
for line in inst2.log().splitlines():
    if "fatal" in line:
        diag(line)
        break
inst2.stop()
done()
