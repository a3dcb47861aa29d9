#!/usr/bin/python3
"""58-log-order - the log lines of a received message come in Postfix's order.

A source that logs the queue id (smtpd "QID: client=name[addr]", pickup
"QID: uid=N from=<sender>") asks cleanup for it at once (early_qid=1 in the
BEGIN frame, cleanup_proto.h) and sends the end of the content only after
cleanup's EARLY frame came, so its line is always in the maillog before
qmgr's "QID: from=<...>, size=N, nrcpt=N (queue active)": log tools such as
pflogsumm count a message's bytes only in that order.

Checked on a private instance with the real master, smtpd, pickup, cleanup,
qmgr and virtual:
- the EARLY frame itself, spoken to private/cleanup (t/lib/tern_ipc.py):
  "queued" with the queue id the RESULT repeats; an envelope error as an
  EARLY "error" that the RESULT repeats; ABORT after it (the next message
  on the connection is unaffected); a malformed early_qid closes the
  connection; a source that does not ask sees no EARLY frame;
- 36 messages through smtpd (DATA from concurrent sessions, BDAT LAST
  pipelined right behind RCPT so that the end of the content waits for the
  EARLY frame, after AUTH with sasl_method= and sasl_username= on the
  client= line) and 4 through pickup (sendmail over public/pickup, and
  maildrop files replayed at start): for every queue id, client= or uid=
  comes before qmgr's from=, size=;
- an envelope cleanup refuses at BEGIN (cleanup_recipient_limit) reaches
  smtpd as an EARLY error: the DATA or BDAT transaction gets cleanup's
  552 5.5.3, no client= line is logged, and the session goes on;
- pflogsumm: messages received = what the test queued, bytes received =
  the sum of qmgr's size= of those messages.
"""
import os
import re
import shutil
import smtplib
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, diag, done, free_ports, is_, like, ok, prog, run, skip_all, wait_for  # noqa: E402
from sendmail_test import all_queued, pickup_ready, sendmail  # noqa: E402
from smtpd_test import Client, enh, qid_of  # noqa: E402
import tern_ipc as I  # noqa: E402

for p in ("master", "smtpd", "cleanup", "qmgr", "virtual", "pickup", "sendmail", "ternuser"):
    if not os.access(prog(p), os.X_OK):
        skip_all("%s is not built" % p)

ACCOUNT, PASSWORD = "demo@demo.test", "log order 58 secret"
RCPT = "demo@demo.test"
EXTRA = ("a58@demo.test", "b58@demo.test")
THREE = [EXTRA[0], RCPT, EXTRA[1]]   # one more than cleanup_recipient_limit

inst = Instance()
D = inst.dir
PORT = inst.ports[0]
AUTH_PORT = [p for p in free_ports(8) if p not in inst.ports][0]
SOCK = inst.path("queue", "private", "cleanup")
queued = {}   # queue id -> how it came ("smtpd", "auth", "pickup")


def message(i, what, size=0):
    """A message body with CRLF line ends, about size bytes of text."""
    head = ("From: <sender%d@client.test>\r\nTo: <%s>\r\nSubject: log order %s %d\r\n"
            "Message-ID: <log-order-%s-%d@client.test>\r\n\r\n" % (i, RCPT, what, i, what, i))
    line = "line %d of message %d, %s\r\n"
    body = "".join(line % (n, i, what) for n in range(max(1, size // 40)))
    return (head + body).encode()


def smtplib_session(k, n, errors):
    """n messages by DATA in one SMTP session."""
    try:
        with smtplib.SMTP("127.0.0.1", PORT, timeout=30) as s:
            s.ehlo("client%d.test" % k)
            for i in range(n):
                code, text = s.mail("sender%d@client.test" % k)
                s.rcpt(RCPT)
                code, text = s.data(message(k * 100 + i, "data", 200 + 300 * i))
                qid = qid_of(text.decode(errors="replace"))
                if code != 250 or not qid:
                    errors.append("session %d message %d: %d %r" % (k, i, code, text))
                else:
                    queued[qid] = "smtpd"
    except (OSError, smtplib.SMTPException) as e:
        errors.append("session %d: %s" % (k, e))


def bdat_pipelined(c, sender, rcpts, body):
    """MAIL, RCPT... and BDAT LAST with the content in one write: the replies."""
    cmds = "MAIL FROM:<%s>\r\n" % sender + "".join("RCPT TO:<%s>\r\n" % r for r in rcpts)
    c.send(cmds.encode() + b"BDAT %d LAST\r\n" % len(body) + body)
    return [c.reply() for _ in range(1 + len(rcpts) + 1)]


try:
    # cleanup refuses more than two recipients at BEGIN: the EARLY error case
    inst.conf("cleanup_recipient_limit", "2", "qmgr.conf")
    inst.conf("queue_run_delay", "1s", "qmgr.conf")
    with open(inst.path("master.conf"), "a") as f:
        f.write("127.0.0.1:%d inet n - y - - smtpd -o smtpd_tls_auth_only=no\n" % AUTH_PORT)
    r = run([prog("ternuser"), "-c", D, "passwd", ACCOUNT], input=PASSWORD + "\n")
    is_(r.returncode, 0, "ternuser passwd %s" % ACCOUNT)
    for acct in EXTRA:
        r = run([prog("ternuser"), "-c", D, "add", acct])
        is_(r.returncode, 0, "ternuser add %s (a third valid recipient for the refused envelopes)" % acct)

    # two messages spooled to maildrop/ while tern is stopped: pickup replays them at start
    for i in range(2):
        r = sendmail(D, ["-v", "-f", "drop%d@client.test" % i, RCPT],
                     stdin=message(900 + i, "maildrop", 300).decode().replace("\r\n", "\n"))
        ok(r.returncode == 0 and "queued as maildrop" in r.stderr, "sendmail while stopped: spooled to maildrop")

    r = inst.start()
    ok(r.returncode == 0, "instance started")
    ok(wait_for(lambda: os.path.exists(SOCK), 10) and pickup_ready(D), "cleanup and pickup sockets ready")

    # --- 1. the EARLY frame, spoken to cleanup directly
    c = I.CleanupClient(SOCK)
    body = message(1, "ipc")
    c.send(c.begin_attrs(rcpts=[RCPT]))
    c.send_stream(body)
    r1 = dict(c.recv() or [])
    is_(r1.get("status"), "ok", "no early_qid: the first frame is the RESULT, as before")
    c.send(c.begin_attrs(rcpts=[RCPT], extra=[("early_qid", 1)]))
    early = dict(c.recv() or [])
    is_(early.get("status"), "queued", "early_qid=1: an EARLY frame with status queued comes before any content")
    eqid = early.get("queue_id", "")
    ok(re.fullmatch(r"[0-9A-Za-z]{10,24}", eqid), "the EARLY frame has a queue id (%s)" % eqid)
    c.send_stream(message(2, "ipc"))
    r2 = dict(c.recv() or [])
    is_((r2.get("status"), r2.get("queue_id")), ("ok", eqid), "the RESULT after the end: ok, the same queue id")
    # an envelope error: EARLY error, then the same error in the RESULT
    c.send(c.begin_attrs(rcpts=["a@demo.test", "b@demo.test", "c@demo.test"], extra=[("early_qid", 1)]))
    early = dict(c.recv() or [])
    is_((early.get("status"), early.get("code"), early.get("dsn")), ("error", 552, "5.5.3"),
        "three recipients over cleanup_recipient_limit 2: EARLY error 552 5.5.3")
    c.send_stream(message(3, "ipc"))
    r3 = dict(c.recv() or [])
    is_((r3.get("status"), r3.get("code"), r3.get("dsn"), r3.get("text")),
        ("error", 552, "5.5.3", early.get("text")), "the RESULT repeats the EARLY error")
    # ABORT after the EARLY frame: nothing more for it; the next message goes on
    c.send(c.begin_attrs(rcpts=[RCPT], extra=[("early_qid", 1)]))
    early = dict(c.recv() or [])
    aqid = early.get("queue_id", "")
    is_(early.get("status"), "queued", "EARLY frame before an ABORT")
    c.send([("op", "abort")])
    r4 = c.message(message(4, "ipc"), rcpts=[RCPT])
    ok(r4 and r4.get("status") == "ok" and r4.get("queue_id") not in ("", aqid),
       "after ABORT the next message's RESULT is the next frame")
    ok(wait_for(lambda: re.search(r"cleanup\[\d+\]: %s: aborted by the source; discarded" % aqid, inst.log()), 10),
       "cleanup logs the aborted message as discarded")
    c.close()
    c = I.CleanupClient(SOCK)
    c.send(c.begin_attrs(rcpts=[RCPT], extra=[("early_qid", "yes")]))
    ok(c.closed_by_peer(), "early_qid that is not an integer: protocol error, connection closed")
    c.close()
    like(inst.log(), "attribute \"early_qid\" is not 0 or 1", "and the log says why")
    ipc_qids = [r1.get("queue_id"), eqid, r4.get("queue_id") if r4 else None]

    # --- 2. many messages through smtpd
    errors = []
    threads = [threading.Thread(target=smtplib_session, args=(k, 5, errors)) for k in range(1, 5)]
    for t in threads:
        t.start()
    # BDAT LAST pipelined behind RCPT: the whole message is in before cleanup's EARLY frame
    cl = Client(PORT)
    cl.ehlo()
    for i in range(10):
        replies = bdat_pipelined(cl, "bdat@client.test", [RCPT], message(500 + i, "bdat", 100 * i))
        code, lines = replies[-1]
        qid = qid_of(lines[-1] if lines else "")
        if code == 250 and qid:
            queued[qid] = "smtpd"
        else:
            errors.append("BDAT message %d: %r" % (i, replies))
    # the EARLY error through smtpd: BDAT (end held) and DATA (content still coming)
    replies = bdat_pipelined(cl, "bdat@client.test", THREE, message(600, "bdat-refused", 500))
    is_([code for code, _ in replies[:-1]], [250] * 4, "MAIL and three RCPTs accepted by smtpd")
    code, lines = replies[-1]
    is_((code, enh(lines[-1] if lines else "")), (552, "5.5.3"),
        "BDAT LAST with more recipients than cleanup takes: cleanup's 552 5.5.3")
    refused_bdat = lines[-1] if lines else ""
    cl.cmd("MAIL FROM:<data@client.test>")
    for r in THREE:
        cl.cmd("RCPT TO:<%s>" % r)
    code, _ = cl.cmd("DATA")
    is_(code, 354, "DATA with three recipients: 354 (cleanup's verdict comes later)")
    cl.send(message(601, "data-refused", 70000) + b".\r\n")
    code, lines = cl.reply()
    is_((code, enh(lines[-1] if lines else "")), (552, "5.5.3"),
        "the refused DATA message gets cleanup's 552 5.5.3 after its end")
    replies = bdat_pipelined(cl, "bdat@client.test", [RCPT], message(602, "bdat-after", 100))
    code, lines = replies[-1]
    qid = qid_of(lines[-1] if lines else "")
    is_(code, 250, "the session goes on: the next message is queued")
    if qid:
        queued[qid] = "smtpd"
    cl.cmd("QUIT")
    cl.close()
    # after AUTH: client= carries sasl_method= and sasl_username=
    auth_qids = []
    try:
        with smtplib.SMTP("127.0.0.1", AUTH_PORT, timeout=30) as s:
            s.ehlo("auth.client.test")
            s.login(ACCOUNT, PASSWORD)
            for i in range(2):
                s.mail(ACCOUNT)
                s.rcpt(RCPT)
                code, text = s.data(message(700 + i, "auth", 300))
                qid = qid_of(text.decode(errors="replace"))
                if code == 250 and qid:
                    queued[qid] = "auth"
                    auth_qids.append(qid)
    except (OSError, smtplib.SMTPException) as e:
        errors.append("AUTH session: %s" % e)
    # pickup: sendmail over public/pickup
    for i in range(2):
        r = sendmail(D, ["-f", "local%d@client.test" % i, RCPT],
                     stdin=message(800 + i, "sendmail", 400).decode().replace("\r\n", "\n"))
        if r.returncode != 0:
            errors.append("sendmail %d: %s" % (i, r.stderr))
    for t in threads:
        t.join(60)
    is_(errors, [], "every message was accepted")
    smtpd_n = len([q for q, how in queued.items() if how in ("smtpd", "auth")])
    is_(smtpd_n, 33, "33 messages queued through smtpd")
    is_(len(auth_qids), 2, "2 of them after AUTH")

    # --- 3. the log, per queue id
    ok(wait_for(lambda: all_queued(D) == [], 30), "every message left the queue")
    log = inst.log().splitlines()
    first = {}
    sizes = {}
    for n, line in enumerate(log):
        m = re.search(r" tern/(\w+)\[\d+\]: (\w+): (client=|uid=|from=<[^>]*>, size=(\d+))", line)
        if m:
            first.setdefault((m.group(2), m.group(1), m.group(3)[:4]), n)
            if m.group(4) and m.group(1) == "qmgr":
                sizes.setdefault(m.group(2), int(m.group(4)))
    picked = [q for (q, svc, what) in first if (svc, what) == ("pickup", "uid=")]
    is_(len(picked), 4, "4 uid= lines from pickup (2 over public/pickup, 2 from maildrop/)")
    client = [q for (q, svc, what) in first if (svc, what) == ("smtpd", "clie")]
    is_(sorted(client), sorted(q for q, how in queued.items() if how in ("smtpd", "auth")),
        "one client= line for every message smtpd queued, none for the refused ones")
    received = client + picked
    late = [q for q in received if q not in sizes or
            first.get((q, "smtpd", "clie"), first.get((q, "pickup", "uid="))) > first[(q, "qmgr", "from")]]
    ok(len(received) == 37 and not late,
       "client= or uid= before qmgr's from=, size= for each of %d messages" % len(received))
    for q in late:
        diag("\n".join(line for line in log if q in line))
    for q in auth_qids:
        ok(re.search(r"tern/smtpd\[\d+\]: %s: client=\S+\[127\.0\.0\.1\], sasl_method=PLAIN, sasl_username=%s$"
                     % (q, re.escape(ACCOUNT)), inst.log(), re.M),
           "AUTH: %s: client=name[addr], sasl_method=PLAIN, sasl_username=%s" % (q, ACCOUNT))
    is_(len(re.findall(r"tern/smtpd\[\d+\]: NOQUEUE: reject: END-OF-MESSAGE from \S+: 552 5\.5\.3 ",
                       inst.log())), 2, "smtpd logs each refused message as a reject at END-OF-MESSAGE")
    is_(len(re.findall(r"cleanup\[\d+\]: \w+: reject: 552 5\.5\.3", inst.log())), 3,
        "cleanup logs each refused envelope once (ipc, BDAT, DATA)")
    ok("552" in refused_bdat and "recipients" in refused_bdat, "the reply text is cleanup's (%s)" % refused_bdat)

    # --- 4. pflogsumm
    pfl = shutil.which("pflogsumm")
    if not pfl:
        ok(True, "# SKIP pflogsumm is not installed")
        ok(True, "# SKIP pflogsumm is not installed")
    else:
        r = subprocess.run([pfl, "--syslog-name=tern", inst.path("log", "maillog")],
                           capture_output=True, text=True, timeout=60)
        m = re.search(r"(\d+)\s+received", r.stdout)
        # the ipc messages of part 1 have no client=/uid= line: not "received" for pflogsumm
        is_(int(m.group(1)) if m else None, len(received), "pflogsumm: messages received")
        want = sum(sizes.get(q, 0) for q in received)
        m = re.search(r"(\d+)([km]?)\s+bytes received", r.stdout)
        got = int(m.group(1)) * {"": 1, "k": 1024, "m": 1024 * 1024}[m.group(2)] if m else None
        ok(want > 0 and (got == want or (m.group(2) and abs(got - want) < 1024)),
           "pflogsumm: bytes received = the sum of qmgr's size= of the received messages (%s, want %d)"
           % (got, want)) or diag(r.stdout[:1500])
    ok(all(q in sizes for q in ipc_qids if q), "the messages cleanup got directly were queued too")
finally:
    inst.cleanup()

done()
