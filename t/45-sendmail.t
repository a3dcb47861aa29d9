#!/usr/bin/python3
"""45-sendmail - local submission through a running instance.

sendmail talks to pickup on public/pickup, pickup to cleanup: -t with
To/Cc/Bcc (Bcc gone, Message-ID and Date added, the sender is the login
name at myorigin, the origin uid recorded), -f, -F, -i and a lone dot,
LF and bare CR, recipients on the command line, -bs, -bv, exit codes for
bad addresses and missing recipients, what pickup lets a client set,
mailq and newaliases.
"""
import os
import pwd
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import IS_ROOT, diag, done, is_, like, ok, prog, run, skip_all  # noqa: E402
from sendmail_test import (myorigin, pickup_failures, pickup_ready, queue_file, queued_id,  # noqa: E402
                           sendmail, submission_instance)

for p in ("cleanup", "pickup", "sendmail", "terncat"):
    if not os.access(prog(p), os.X_OK):
        skip_all("%s is not built" % p)

EX_USAGE, EX_DATAERR, EX_NOINPUT, EX_NOUSER, EX_NOPERM = 64, 65, 66, 67, 77

inst = submission_instance()
D = inst.dir
HOST = myorigin(D)
ME = pwd.getpwuid(os.getuid()).pw_name
r = inst.start()
if not ok(r.returncode == 0 and pickup_ready(D), "instance started, pickup listens"):
    diag(inst.log())
    done()


def send(args, text):
    """sendmail -v ARGS < text: (result, parsed queue file or None)."""
    r = sendmail(D, ["-v"] + args, text)
    qid = queued_id(r)
    if r.returncode != 0 or qid is None:
        diag("exit %d: %s" % (r.returncode, r.stderr))
        return r, None
    return r, queue_file(D, qid)


# -t: recipients from To/Cc/Bcc, Bcc removed, fix-ups added
r, q = send(["-t"], "To: Alice <alice@example.com>, bob\nCc: carol@example.org\n"
            "Bcc: secret@example.net\nSubject: t\n\nbody\n")
is_(r.returncode, 0, "-t: exit 0 once cleanup has the message")
if q:
    is_(sorted(q["rcpts"]), sorted(["alice@example.com", "bob@" + HOST, "carol@example.org",
                                    "secret@example.net"]), "-t: To, Cc and Bcc recipients; bare names get @myorigin")
    ok("Bcc:" not in q["content"] and "secret@example.net" not in q["content"], "-t: the Bcc: header is gone")
    like(q["content"], "\nMessage-ID: <", "Message-ID added")
    like(q["content"], "\nDate: ", "Date added")
    is_(q["sender"], "%s@%s" % (ME, HOST), "sender is the login name at myorigin")
    like(q["content"], "From: %s@%s\n" % (ME, HOST), "From: added from the sender")
    is_(q["attrs"].get("origin_uid"), str(os.getuid()), "origin uid recorded")
    is_(q["protocol"], "local", "protocol local")
    like(inst.log(), "uid=%d from=<%s@%s>" % (os.getuid(), ME, HOST), "pickup logs the uid and sender")

# -f and -F
r, q = send(["-f", "other@example.com", "-F", "Ann Other", "dest@example.com"], "Subject: f\n\nx\n")
is_(r.returncode, 0, "-f -F: exit 0")
if q:
    is_(q["sender"], "other@example.com", "-f sets the envelope sender")
    like(q["content"], "From: Ann Other <other@example.com>\n", "-F names the sender in From:")
    is_(q["attrs"].get("origin_uid"), str(os.getuid()), "-f: the real uid is still recorded")
like(inst.log(), "uid=%d from=<other@example.com>" % os.getuid(), "-f is logged with the real uid")
r, q = send(["-f", "<>", "dest@example.com"], "From: daemon@example.com\nSubject: null\n\nx\n")
ok(q is not None and q["sender"] == "", "-f '<>' is the null sender")
r, q = send(["-F", "J\u00f6rg", "dest@example.com"], "Subject: u\n\nx\n")
ok(q is not None and "From: =?UTF-8?B?SsO2cmc=?= <" in q["content"], "a non-ASCII full name is RFC 2047 encoded")
r, q = send(["-f", "present@example.com", "dest@example.com"], "From: Me <me@example.com>\n\nx\n")
ok(q is not None and q["content"].count("From:") == 1 and "From: Me <me@example.com>" in q["content"],
   "an existing From: is kept")

# -i and the lone dot; line ends
r, q = send(["-i", "dest@example.com"], "Subject: i\n\nbefore\n.\nafter\n")
ok(q is not None and "before\n.\nafter\n" in q["content"], "-i: a lone dot is content")
r, q = send(["dest@example.com"], "Subject: dot\n\nbefore\n.\nafter\n")
ok(q is not None and "before\n" in q["content"] and "after" not in q["content"], "without -i a lone dot ends the input")
r, q = send(["-oi", "dest@example.com"], "Subject: oi\n\nbefore\n.\nafter")
ok(q is not None and "before\n.\nafter\n" in q["content"], "-oi is -i; a last line without LF is kept")
r, q = send(["dest@example.com"], "Subject: cr\r\n\r\na\rb\r\nc\n")
ok(q is not None and "\na b\nc\n" in q["content"] and "\r" not in q["content"],
   "CRLF and LF lines mixed; a bare CR becomes a space")
r, q = send(["dest@example.com"], "just a body line\nno headers\n")
ok(q is not None and "\n\njust a body line\nno headers\n" in q["content"],
   "a message without headers gets an empty line before its body")

# recipients on the command line
r, q = send(["a@example.com", "b@example.com, Cee <c@example.com>", "root"], "Subject: c\n\nx\n")
ok(q is not None and sorted(q["rcpts"]) == sorted(["a@example.com", "b@example.com", "c@example.com",
                                                    "root@" + HOST]), "command-line recipients, lists and bare names")
r, q = send(["-N", "success,delay", "-R", "hdrs", "-V", "env-42", "d@example.com"], "Subject: dsn\n\nx\n")
ok(q is not None and "\ndsn_ret: HDRS\n" in q["text"], "-R is recorded")
ok(q is not None and "\ndsn_envid: env-42\n" in q["text"], "-V is recorded")
ok(q is not None and "\n  notify: SUCCESS,DELAY\n" in q["text"], "-N is recorded")
r = sendmail(D, ["-oQ/tmp", "-oem", "e@example.com"], "Subject: o\n\nx\n")
ok(r.returncode == 0 and "-oQ/tmp: option ignored" in r.stderr and "-oem" not in r.stderr,
   "an unknown -o option is ignored with a warning; -oem silently")

# the command lines of common callers
for who, args in (("cron", ["-FCronDaemon", "-i", "-B8BITMIME", "-oem", "root"]),
                  ("mutt", ["-oem", "-oi", "--", "root"]),
                  ("git send-email", ["-i", "-f", "dev@example.com", "root", "list@example.com"]),
                  ("PHP mail()", ["-t", "-i"])):
    r, q = send(args, "To: root\nSubject: %s\n\nh\u00e9llo\n" % who)
    ok(r.returncode == 0 and q is not None and "root@" + HOST in q["rcpts"] and r.stderr.count("warning") == 0,
       "%s: sendmail %s" % (who, " ".join(args)))
ok(q is not None and "\nbody_type: 8BITMIME\n" in q["text"], "8-bit content is declared 8BITMIME")
r = sendmail(D, ["-bd"])
is_(r.returncode, 69, "-bd: EX_UNAVAILABLE")
r = sendmail(D, ["-q"])
is_(r.returncode, 69, "-q: EX_UNAVAILABLE")

# exit codes
r = sendmail(D, [], "Subject: x\n\nx\n")
is_(r.returncode, EX_USAGE, "no recipients: EX_USAGE")
r = sendmail(D, ["-t"], "Subject: x\n\nx\n")
is_(r.returncode, EX_USAGE, "-t without recipient headers: EX_USAGE")
like(r.stderr, "no recipient", "and says so")
r = sendmail(D, ["bad@@example.com"], "Subject: x\n\nx\n")
is_(r.returncode, EX_DATAERR, "bad recipient syntax: EX_DATAERR")
r = sendmail(D, ["-f", "a b c@", "x@example.com"], "Subject: x\n\nx\n")
is_(r.returncode, EX_DATAERR, "bad -f address: EX_DATAERR")
r = sendmail(D, ["-t"], "To: John Doe john@example.com\n\nx\n")
is_(r.returncode, EX_DATAERR, "bad To: header with -t: EX_DATAERR")
r = sendmail(D, ["-N", "sometimes", "x@example.com"], "")
is_(r.returncode, EX_USAGE, "bad -N: EX_USAGE")

# what a local client may not set: pickup decides
try:
    from tern_ipc import CleanupClient, FLAG_HOLD, FLAG_REQUIRETLS
    c = CleanupClient(os.path.join(D, "queue", "public", "pickup"))
    res = c.message(b"Subject: spoof\r\n\r\nx\r\n", sender="s@example.com", rcpts=["r@example.com"],
                    origin_uid=4242, flags=FLAG_HOLD | FLAG_REQUIRETLS, protocol="ESMTPSA",
                    client_addr="192.0.2.1", auth_user="admin")
    c.close()
    ok(res is not None and res.get("status") == "ok", "a raw client on public/pickup is served")
    q = queue_file(D, res["queue_id"]) if res and res.get("queue_id") else None
    ok(q is not None and q["attrs"].get("origin_uid") == str(os.getuid()),
       "the origin uid comes from the kernel, not from the client")
    ok(q is not None and q["protocol"] == "local" and "192.0.2.1" not in q["text"] and "admin" not in q["text"],
       "protocol, client address and auth user are not the client's to set")
    ok(q is not None and "\nrequiretls: no\n" in q["text"] and
       os.path.exists(os.path.join(D, "queue", "incoming", res["queue_id"])), "nor hold or REQUIRETLS")
    c = CleanupClient(os.path.join(D, "queue", "public", "pickup"))
    c.send([("op", "begin"), ("sender", "s@example.com")])
    ok(c.closed_by_peer(), "an envelope without recipients closes the connection")
    c.close()
except ImportError:
    diag("t/lib/tern_ipc.py missing: raw client checks skipped")

# a large message (flow control between pickup and cleanup), many at once
big = "Subject: big\n\n" + ("0123456789abcdef" * 4 + "\n") * 60000
r, q = send(["big@example.com"], big)
ok(q is not None and q["content"].endswith(("0123456789abcdef" * 4 + "\n") * 3) and
   q["content"].count("0123456789abcdef" * 4 + "\n") == 60000, "a 3.9 MB message arrives whole")
procs = [subprocess.Popen([prog("sendmail"), "-C", D, "-v", "many%d@example.com" % i], stdin=subprocess.PIPE,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(20)]
outs = [p.communicate("Subject: many %d\n\nx\n" % i, timeout=60) for i, p in enumerate(procs)]
codes = [p.returncode for p in procs]
ids = [queued_id(subprocess.CompletedProcess([], 0, o, e)) for o, e in outs]
ok(codes == [0] * 20 and all(i and i != "maildrop" for i in ids) and len(set(ids)) == 20,
   "20 sendmails at once: each queued through pickup")

# clients that misbehave do not disturb the others
try:
    from tern_ipc import Conn, encode
    c = Conn(os.path.join(D, "queue", "public", "pickup"))
    c.send([("op", "begin"), ("sender", "a@example.com"), ("rcpt", "b@example.com")])
    c.send([("chunk", b"Subject: half\r\n")])
    c.close()
    c = Conn(os.path.join(D, "queue", "public", "pickup"))
    c.send_raw(b"\x00\x00\x00\x05\x07garb")
    ok(c.closed_by_peer(), "a malformed frame closes the connection")
    c.close()
    c = Conn(os.path.join(D, "queue", "public", "pickup"))
    c.send([("op", "begin"), ("sender", "a@example.com"), ("rcpt", "b@example.com")])
    c.send_raw(encode([("chunk", b"x\r\n")]) + encode([("end", 99)]))
    ok(c.closed_by_peer(), "a wrong stream count closes the connection")
    c.close()
    c = Conn(os.path.join(D, "queue", "public", "pickup"))
    c.send([("op", "begin"), ("sender", "a@example.com"), ("rcpt", "bad@@example.com")])
    c.send_stream(b"Subject: x\r\n\r\nx\r\n")
    res = dict(c.recv() or [])
    ok(res.get("status") == "error" and res.get("code") == 501 and res.get("dsn") == "5.1.3",
       "a bad recipient address: 501 5.1.3 after the end, connection kept")
    c.send([("op", "begin"), ("sender", "a@example.com"), ("rcpt", "b@example.com")])
    c.send_stream(b"Subject: second\r\n\r\nx\r\n")
    res = dict(c.recv() or [])
    ok(res.get("status") == "ok", "and the next message on the connection is queued")
    c.close()
    r, q = send(["after@example.com"], "Subject: after\n\nx\n")
    ok(q is not None, "sendmail still works after them")
    like(inst.log(), "connection closed inside a message", "the half message is logged")
except ImportError:
    diag("t/lib/tern_ipc.py missing: raw client checks skipped")

# -bs
dialogue = ("EHLO client\r\nMAIL FROM:<bs@example.com>\r\nRCPT TO:<r1@example.com>\r\n"
            "RCPT TO:<r2@example.com> NOTIFY=NEVER\r\nDATA\r\nSubject: bs\r\n\r\n..stuffed\r\nline\r\n.\r\n"
            "RSET\r\nDATA\r\nNOOP\r\nQUIT\r\n")
r = sendmail(D, ["-bs"], dialogue)
lines = r.stdout.splitlines()          # text mode: CRLF reads as "\n"
ok(lines[0].startswith("220 "), "-bs: greeting")
like(r.stdout, "250-8BITMIME\n", "-bs: EHLO lists extensions")
like(r.stdout, "250 ENHANCEDSTATUSCODES\n", "-bs: the last EHLO line")
like(r.stdout, "354 ", "-bs: DATA")
like(r.stdout, "503 5.5.1", "-bs: DATA without a transaction is refused")
like(r.stdout, "221 2.0.0", "-bs: QUIT")
ids = [l.split()[-1] for l in lines if l.startswith("250 2.0.0 Ok: queued as ")]
is_(len(ids), 1, "-bs: the message is queued")
if ids:
    q = queue_file(D, ids[0])
    ok(q is not None and q["sender"] == "bs@example.com" and sorted(q["rcpts"]) == ["r1@example.com", "r2@example.com"],
       "-bs: envelope")
    ok(q is not None and "\n.stuffed\nline\n" in q["content"], "-bs: dot-stuffing undone")
    ok(q is not None and q["attrs"].get("origin_uid") == str(os.getuid()), "-bs: origin uid")
r = sendmail(D, ["-bs"], "MAIL FROM:<a@b.example>\r\nHELO x\r\nRCPT TO:<c@d.example>\r\nQUIT\r\n")
lines = r.stdout.splitlines() + [""] * 4
ok("503 5.5.1" in lines[1] and "503 5.5.1" in lines[3],
   "-bs: MAIL before HELO, RCPT before MAIL: 503")
r = sendmail(D, ["-bs"], "EHLO x\r\nMAIL FROM:<a@b.example> SIZE=999999999999\r\nFOO\r\n" + "X" * 3000 + "\r\nQUIT\r\n")
ok("552 5.3.4" in r.stdout and "500 5.5.2 Error: command not recognized" in r.stdout and
   "500 5.5.2 Error: line too long" in r.stdout, "-bs: SIZE over the limit, unknown command, long line")

# -bv
for f in ("aliases", "aliases.db"):
    if os.path.exists(os.path.join(D, f)):
        os.unlink(os.path.join(D, f))
r = sendmail(D, ["-bv", "root@" + HOST, "someone@example.org"])
is_(r.returncode, 0, "-bv: deliverable addresses: exit 0")
like(r.stdout, "root@%s... deliverable: local user root" % HOST, "-bv: a local user")
like(r.stdout, "someone@example.org... deliverable: relayed to example.org", "-bv: a remote domain")
r = sendmail(D, ["-bv", "no-such-user-4711@" + HOST])
is_(r.returncode, 75, "-bv: an unknown user while aliases.db is missing: cannot check, EX_TEMPFAIL")
like(r.stdout, "cannot check: ", "-bv: says why")
r = sendmail(D, ["-bv", "bad@@x"])
is_(r.returncode, EX_DATAERR, "-bv: bad syntax: EX_DATAERR")
before = len(os.listdir(os.path.join(D, "queue", "incoming")))
r = sendmail(D, ["-bv", "-t"], "To: root, x@example.com\n\nbody\n")
ok(r.returncode == 0 and "root@%s... deliverable" % HOST in r.stdout, "-bv -t: recipients from the headers")
is_(len(os.listdir(os.path.join(D, "queue", "incoming"))), before, "-bv sends nothing")

# mailq
r = sendmail(D, [], name="mailq")
is_(r.returncode, 0, "mailq: exit 0")
ok(r.stdout.startswith("-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n"), "mailq: heading")
like(r.stdout, "alice@example.com", "mailq: lists the recipients")
like(r.stdout, " Requests.\n", "mailq: summary line")
r2 = sendmail(D, ["-bp"])
is_(r2.stdout, r.stdout, "sendmail -bp is mailq")
if IS_ROOT and shutil.which("setpriv"):
    # nobody cannot read the queue: mailq gets the same listing from showq (showq(8))
    r2 = sendmail(D, [], name="mailq", pre=["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"])
    is_(r2.returncode, 0, "mailq as another user: listed through showq")
    is_(r2.stdout, r.stdout, "the same listing as root's")

# newaliases
aliases = os.path.join(D, "aliases")
r = sendmail(D, [], name="newaliases")
is_(r.returncode, EX_NOINPUT, "newaliases without an aliases file: EX_NOINPUT")
like(r.stderr, aliases, "and names the file")
with open(aliases, "w") as f:
    f.write("# test aliases\npostmaster root\nabuse root\n")
r = sendmail(D, [], name="newaliases")
ok(r.returncode == 0 and os.path.exists(aliases + ".db"), "newaliases builds aliases.db")
r = run([prog("ternmap"), "-q", "abuse", "hash:" + aliases])
is_(r.stdout.strip(), "root", "the alias is in the database")
os.unlink(aliases + ".db")
r = sendmail(D, ["-bi"])
ok(r.returncode == 0 and os.path.exists(aliases + ".db"), "sendmail -bi is newaliases")
r = sendmail(D, ["-bv", "abuse@" + HOST])
like(r.stdout, "deliverable: alias of root", "-bv finds aliases")
r = sendmail(D, ["-bv", "no-such-user-4711@" + HOST])
is_(r.returncode, EX_NOUSER, "-bv: unknown local user: EX_NOUSER")
like(r.stdout, "undeliverable: unknown user", "-bv: says undeliverable")
inst.conf("alias_maps", "texthash:" + aliases)
r = sendmail(D, [], name="newaliases")
ok(r.returncode == 0 and "nothing to build" in r.stderr, "newaliases with nothing to build: exit 0")

inst.stop()
is_(pickup_failures(inst.log()), [], "no pickup process failed")
done()
