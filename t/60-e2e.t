#!/usr/bin/python3
"""60-e2e - the whole mail path of a private instance: SMTP in (smtplib) and
sendmail in, through smtpd/pickup, cleanup, qmgr, local/virtual, bounce, to
Maildir and mbox out. Byte-exact bodies, the added headers, Postfix-shape log
lines, DSNs (failure and NOTIFY=SUCCESS) parsed with the email package, an
unwritable mailbox deferred and delivered after a short back-off, an empty
queue at the end, and pflogsumm's Grand Totals equal to what the test did.
Local users (useradd) only as root; the virtual and DSN parts always.
"""
import email
import email.policy
import glob
import os
import pwd
import re
import shutil
import smtplib
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (useradd, IS_ROOT, Instance, diag, done, is_, like, ok, prog, run,  # noqa: E402
                       skip_all, wait_for)
from sendmail_test import all_queued, sendmail  # noqa: E402

for p in ("master", "smtpd", "cleanup", "qmgr", "local", "virtual", "bounce", "pickup", "sendmail"):
    if not os.access(prog(p), os.X_OK):
        skip_all("%s is not built" % p)

inst = Instance()
D = inst.dir
PORT = inst.ports[0]
DEMO = inst.path("mail", "demo.test", "demo")
users = []
# what the test did, for pflogsumm: received (smtpd client= + pickup uid=),
# sent/bounced deliveries, deferred deliveries
count = {"received": 0, "delivered": 0, "deferred": 0, "deferrals": 0, "bounced": 0}
bodies = {}       # queue id -> the message as sent over SMTP (LF line ends)
sender_qids = []  # queue ids of the messages sender@client.test sent


def mkuser(name):
    home = inst.path("home", name)
    os.makedirs(os.path.dirname(home), exist_ok=True)
    os.chmod(os.path.dirname(home), 0o755)
    run(["userdel", name])
    r = useradd(name, home)
    if r.returncode != 0:
        diag(r.stderr)
        return None
    users.append(name)
    pw = pwd.getpwnam(name)
    os.makedirs(home, exist_ok=True)
    os.chown(home, pw.pw_uid, pw.pw_gid)
    os.chmod(home, 0o755)
    return pw


def smtp_send(sender, rcpts, msg, rcpt_options=(), mail_options=()):
    """One message over SMTP: the queue id from the 250 reply."""
    with smtplib.SMTP("127.0.0.1", PORT, timeout=30) as s:
        s.ehlo("client.test")
        code, _ = s.mail(sender, list(mail_options))
        if code != 250:
            return None
        for r in rcpts:
            code, text = s.rcpt(r, list(rcpt_options))
            if code != 250:
                diag("RCPT %s: %d %s" % (r, code, text))
                return None
        code, text = s.data(msg)
    count["received"] += 1
    m = re.search(rb"queued as (\S+)", text)
    qid = m.group(1).decode() if code == 250 and m else None
    if qid:
        bodies[qid] = msg.replace(b"\r\n", b"\n")
        if sender == "sender@client.test":
            sender_qids.append(qid)
    return qid


def files(maildir):
    return sorted(glob.glob(os.path.join(maildir, "new", "*")))


def wait_files(maildir, n, timeout=20):
    return wait_for(lambda: len(files(maildir)) >= n and files(maildir), timeout)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def log_lines(qid):
    return [l for l in inst.log().splitlines() if (": %s: " % qid) in l]


def wait_log(pattern, timeout=20):
    return wait_for(lambda: re.search(pattern, inst.log(), re.M), timeout)


def check_delivered_copy(data, qid, rcpt, sender, original, what):
    """data = Return-Path, Delivered-To, Received (with qid), then original."""
    lf = original.replace(b"\r\n", b"\n")
    ok(data.endswith(lf), "%s: message byte-exact after the added headers (dot-unstuffed, LF)" % what)
    head = data[:len(data) - len(lf)].decode(errors="replace") if data.endswith(lf) else data.decode(errors="replace")
    ok(head.startswith("Return-Path: <%s>\n" % sender), "%s: Return-Path first" % what)
    like(head, "\nDelivered-To: %s\n" % rcpt, "%s: Delivered-To" % what)
    ok(re.search(r"\nReceived: from .*\n(\s.*\n)*?\s.*\bid %s\b" % qid, head) is not None,
       "%s: Received with the queue id" % what)
    is_(b"\r" in data, False, "%s: LF line ends" % what)


def check_log(qid, rcpt, relay, what):
    text = "\n".join(log_lines(qid))
    ok(re.search(r": %s: client=\S+\[127\.0\.0\.1\]" % qid, text), "%s: log client=" % what)
    ok(re.search(r": %s: message-id=<[^>]+>" % qid, text), "%s: log message-id=" % what)
    ok(re.search(r": %s: from=<[^>]*>, size=\d+, nrcpt=\d+" % qid, text), "%s: log from=, size=, nrcpt=" % what)
    ok(wait_log(r": %s: to=<%s>, relay=%s, delay=[\d.]+, delays=[\d.]+/[\d.]+/[\d.]+/[\d.]+, "
                r"dsn=2\.0\.0, status=sent" % (qid, re.escape(rcpt), relay), 10),
       "%s: log to=, relay=, delay=, delays=, dsn=2.0.0, status=sent" % what)
    if not ok(wait_log(r": %s: removed$" % qid, 10), "%s: log removed" % what):
        diag(text)


def dsn_parts(data):
    m = email.message_from_bytes(data, policy=email.policy.compat32)
    status = None
    orig = None
    for part in m.walk():
        ct = part.get_content_type()
        if ct == "message/delivery-status":
            status = part.get_payload()  # [per-message, per-recipient...]
        elif ct in ("message/rfc822", "text/rfc822-headers"):
            orig = part
    return m, status, orig


def orig_text(part):
    if part is None:
        return ""
    if part.get_content_type() == "message/rfc822":
        pl = part.get_payload()
        return pl[0].as_string() if isinstance(pl, list) and pl else str(pl)
    return part.get_payload(decode=False) or ""


try:
    inst.conf("minimal_backoff_time", "2s", "qmgr.conf")
    inst.conf("maximal_backoff_time", "4s", "qmgr.conf")
    inst.conf("queue_run_delay", "1s", "qmgr.conf")
    # every local recipient accepted at RCPT: unknown users are bounced by
    # local (the DSN path), aliases reach local (the smtpd default looks at
    # passwd only)
    inst.conf("local_recipient_maps", "", "smtpd.conf")
    if IS_ROOT:
        pw1 = mkuser("ternt60a")
        pw2 = mkuser("ternt60b")
        boxes = inst.path("boxes")
        os.makedirs(boxes)
        os.chmod(boxes, 0o1777)
        with open(inst.path("team.list"), "w") as f:
            f.write("# included\n%s/inc/\n" % boxes)
        with open(inst.path("aliases"), "a") as f:
            f.write("team ternt60a, demo@demo.test, :include:%s\n" % inst.path("team.list"))
        r = run([prog("ternmap"), "-c", D, "hash:" + inst.path("aliases")])
        if r.returncode != 0:
            r = sendmail(D, ["-bi"])
        ok(r.returncode == 0, "aliases rebuilt")
        # ternt60b reads mail in an mbox, through its ~/.forward
        mbox = os.path.join(pw2.pw_dir, "mbox")
        fwd = os.path.join(pw2.pw_dir, ".forward")
        with open(fwd, "w") as f:
            f.write(mbox + "\n")
        os.chown(fwd, pw2.pw_uid, pw2.pw_gid)
        os.chmod(fwd, 0o644)
    r = inst.start()
    ok(r.returncode == 0, "instance started")
    ok(wait_for(lambda: os.path.exists(inst.path("queue", "public", "pickup")), 10), "pickup socket ready")

    # 1. SMTP in -> virtual Maildir
    body = (b"From: Sender <sender@client.test>\r\nTo: demo@demo.test\r\n"
            b"Subject: e2e virtual\r\nMessage-ID: <e2e-virtual@client.test>\r\n"
            b"Date: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
            b"line one\r\n.starts with a dot\r\n..two dots\r\n.\tdot tab\r\n\r\nFrom not at start\r\n"
            b"trailing spaces   \r\n" + b"x" * 990 + b"\r\nlast\r\n")
    qid = smtp_send("sender@client.test", ["demo@demo.test"], body)
    ok(qid, "SMTP to demo@demo.test accepted with a queue id")
    got = wait_files(DEMO, 1)
    ok(got, "virtual: the Maildir file appears")
    if got:
        count["delivered"] += 1
        check_delivered_copy(read(got[0]), qid, "demo@demo.test", "sender@client.test", body, "virtual")
    check_log(qid, "demo@demo.test", "virtual", "virtual")
    demo_n = 1

    # 2. SMTP in -> local Maildir; sendmail -> mbox; aliases with :include:
    if not IS_ROOT:
        for i in range(8):
            ok(True, "# SKIP local users need root (useradd)")
    else:
        u1md = os.path.join(pw1.pw_dir, "Maildir")
        lbody = (b"From: x@client.test\r\nTo: ternt60a@localhost\r\nSubject: e2e local\r\n"
                 b"Message-ID: <e2e-local@client.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\n\r\n"
                 b".hidden\r\nbody\r\n")
        qid = smtp_send("x@client.test", ["ternt60a@localhost"], lbody)
        got = wait_files(u1md, 1)
        ok(got, "local: the Maildir file appears in the user's home")
        if got:
            count["delivered"] += 1
            check_delivered_copy(read(got[0]), qid, "ternt60a@localhost", "x@client.test", lbody, "local")
            st = os.stat(got[0])
            is_((st.st_uid, st.st_mode & 0o777), (pw1.pw_uid, 0o600), "local: file owned by the user, 0600")
        check_log(qid, "ternt60a@localhost", "local", "local")

        # sendmail in -> mbox out (via ~/.forward)
        sm = "From: root\nTo: ternt60b\nSubject: e2e mbox\nMessage-ID: <e2e-mbox@localhost>\n\nFrom here\nbody\n"
        r = sendmail(D, ["-v", "ternt60b"], sm)
        is_(r.returncode, 0, "sendmail exits 0")
        count["received"] += 1
        got = wait_for(lambda: os.path.exists(mbox) and b"body\n" in read(mbox), 20)
        ok(got, "sendmail -> local -> mbox file written (via ~/.forward)")
        if got:
            count["delivered"] += 1
            mb = read(mbox)
            ok(mb.startswith(b"From root@") or mb.startswith(b"From root "), "mbox: starts with a From_ line")
            like(mb.decode(), "\n>From here\n", "mbox: body 'From ' quoted as '>From '")
            like(mb.decode(), "Message-ID: <e2e-mbox@localhost>", "mbox: the message's headers")

        # alias with several targets and :include:
        abody = b"Subject: e2e team\r\nMessage-ID: <e2e-team@client.test>\r\n\r\nto the team\r\n"
        qid = smtp_send("x@client.test", ["team@localhost"], abody)
        ok(wait_files(u1md, 2), "alias team -> ternt60a delivered")
        demo_n += 1
        ok(wait_files(DEMO, demo_n), "alias team -> demo@demo.test forwarded and delivered")
        ok(wait_files(os.path.join(boxes, "inc"), 1), "alias team -> :include: -> Maildir file delivered")
        # local logs one line per final destination, as Postfix's local:
        # the user (orig_to=<team@localhost>), the :include:d Maildir file
        # (under the alias address) and the forward to demo@demo.test
        # ("forwarded as", which pflogsumm does not count as delivered);
        # virtual one for the forwarded copy, which enters through cleanup as
        # a new message (not "received": no smtpd client=, no pickup uid=)
        ok(wait_log(r"%s: to=<ternt60a@[^>]+>, orig_to=<team@localhost>, relay=local, .*status=sent "
                    r"\(delivered to maildir\)" % qid), "log: team -> ternt60a, orig_to=<team@localhost>")
        ok(wait_log(r"%s: to=<team@localhost>, relay=local, .*status=sent \(delivered to file: %s/inc/\)"
                    % (qid, re.escape(boxes))), "log: team -> :include: file under the alias address")
        ok(wait_log(r"%s: to=<demo@demo.test>, orig_to=<team@localhost>, relay=local, .*status=sent "
                    r"\(forwarded as \w+\)" % qid), "log: team -> demo@demo.test forwarded as a new queue id")
        ok(not re.search(r"%s: to=<team@localhost>, relay=local, .*\(delivered to 3 destinations\)" % qid,
                         inst.log()), "log: no summary line for the alias itself")
        count["delivered"] += 3
        if any(read(f).endswith(b"to the team\n") for f in files(DEMO)):
            ok(True, "forwarded copy has the original body")
        else:
            ok(False, "forwarded copy has the original body")

    # 3. unknown user -> failure DSN to the sender's mailbox (demo@demo.test)
    ubody = (b"From: demo@demo.test\r\nTo: nosuchuser@localhost\r\nSubject: e2e unknown\r\n"
             b"Message-ID: <e2e-unknown@demo.test>\r\n\r\nwill bounce\r\n")
    qid = smtp_send("demo@demo.test", ["nosuchuser@localhost"], ubody,
                    rcpt_options=["ORCPT=rfc822;nosuchuser@localhost"])
    ok(qid, "SMTP to nosuchuser@localhost accepted")
    demo_n += 1
    got = wait_files(DEMO, demo_n)
    ok(got, "failure DSN arrives in the sender's Maildir")
    count["bounced"] += 1
    count["delivered"] += 1
    if got:
        dsn = [f for f in got if b"nosuchuser" in read(f) and b"delivery-status" in read(f)]
        ok(dsn, "a DSN about nosuchuser")
        m, st, orig = dsn_parts(read(dsn[0]) if dsn else b"")
        is_(m.get_content_type(), "multipart/report", "DSN: multipart/report")
        is_(m.get_param("report-type"), "delivery-status", "DSN: report-type=delivery-status")
        is_(m.get("Return-Path", "").strip(), "<>", "DSN: null envelope sender")
        rcpt = st[1] if st and len(st) > 1 else {}
        is_(rcpt.get("Status"), "5.1.1", "DSN: Status 5.1.1")
        is_(rcpt.get("Action"), "failed", "DSN: Action failed")
        like(rcpt.get("Final-Recipient", ""), "nosuchuser@localhost", "DSN: Final-Recipient")
        like(rcpt.get("Original-Recipient", ""), "rfc822;nosuchuser@localhost", "DSN: Original-Recipient")
        like(orig_text(orig), "Message-ID: <e2e-unknown@demo.test>", "DSN: the original headers")
    ok(wait_log(r"%s: to=<nosuchuser@localhost>, relay=local, .*dsn=5\.1\.1, status=bounced" % qid),
       "log: status=bounced dsn=5.1.1")

    # 4. NOTIFY=SUCCESS -> success DSN
    sbody = b"Subject: e2e notify\r\nMessage-ID: <e2e-notify@demo.test>\r\n\r\nnotify me\r\n"
    qid = smtp_send("demo@demo.test", ["demo@demo.test"], sbody, rcpt_options=["NOTIFY=SUCCESS"])
    ok(qid, "SMTP with NOTIFY=SUCCESS accepted")
    demo_n += 2
    got = wait_files(DEMO, demo_n)
    ok(got, "the message and its success DSN arrive")
    count["delivered"] += 2
    if got:
        dsn = [f for f in got if b"e2e-notify@demo.test" in read(f) and b"delivery-status" in read(f)]
        ok(dsn, "a success DSN")
        m, st, orig = dsn_parts(read(dsn[0]) if dsn else b"")
        is_(m.get_param("report-type"), "delivery-status", "success DSN: report-type=delivery-status")
        rcpt = st[1] if st and len(st) > 1 else {}
        is_(rcpt.get("Action"), "delivered", "success DSN: Action delivered")
        is_(rcpt.get("Status"), "2.0.0", "success DSN: Status 2.0.0")

    # 5. unwritable mailbox -> deferred with the reason -> delivered once fixed
    os.chmod(DEMO, 0)
    try:
        wbody = b"Subject: e2e deferred\r\nMessage-ID: <e2e-deferred@client.test>\r\n\r\nlater\r\n"
        qid = smtp_send("sender@client.test", ["demo@demo.test"], wbody)
        ok(qid, "SMTP to the unwritable mailbox accepted")
        ok(wait_log(r"%s: to=<demo@demo.test>, relay=virtual, .*dsn=4\.\d+\.\d+, status=deferred" % qid),
           "log: status=deferred with a 4.x.x dsn")
        count["deferred"] = 1  # messages deferred
        q = wait_for(lambda: qid in sendmail(D, ["-bp"]).stdout and sendmail(D, ["-bp"]).stdout, 10)
        ok(q and re.search(r"\(.+\)", q), "mailq shows the deferred message with its reason")
        if q:
            diag(q.strip())
        # a second attempt after minimal_backoff_time (2s), still failing
        ok(wait_for(lambda: len(re.findall(r"%s: to=<demo@demo.test>.*status=deferred" % qid, inst.log())) >= 2,
                    20), "retried after a short back-off")
    finally:
        os.chmod(DEMO, 0o700)
    demo_n += 1
    ok(wait_files(DEMO, demo_n, 30), "delivered once the mailbox is writable again")
    ok(wait_log(r"%s: to=<demo@demo.test>, relay=virtual, .*status=sent" % qid), "log: status=sent after the retry")
    ok(wait_log(r": %s: removed$" % qid), "log: removed after the retry")
    count["delivered"] += 1
    got = files(DEMO)
    ok(len([f for f in got if b"e2e-deferred@client.test" in read(f)]) == 1, "delivered exactly once")

    # 6. queue empty
    ok(wait_for(lambda: all_queued(D) == [], 20), "queue directories empty")
    r = sendmail(D, ["-bp"])
    like(r.stdout + r.stderr, "empty", "mailq says the queue is empty")

    # 7. pflogsumm over the instance's log
    # deferred attempts: count what the log really has for the test (retries may be more than 2)
    count["deferrals"] = len(re.findall(r": %s: to=<demo@demo.test>, .*status=deferred" % qid, inst.log()))
    ok(count["deferrals"] >= 2, "the test made at least two deferred attempts")
    pfl = shutil.which("pflogsumm")
    if not pfl:
        ok(True, "# SKIP pflogsumm is not installed")
    else:
        r = subprocess.run([pfl, "--syslog-name=tern", inst.path("log", "maillog")],
                           capture_output=True, text=True, timeout=60)
        tot = {}
        for key, pat in (("received", r"(\d+)\s+received"), ("delivered", r"(\d+)\s+delivered"),
                         ("deferred", r"(\d+)\s+deferred"), ("deferrals", r"deferred\s+\((\d+)\s+deferrals"),
                         ("bounced", r"(\d+)\s+bounced")):
            m = re.search(pat, r.stdout)
            tot[key] = int(m.group(1)) if m else None
        if not is_(tot, count, "pflogsumm Grand Totals: received, delivered, deferred, bounced"):
            diag(r.stdout[:1500])
        # bytes: what qmgr logged as size= of each received message (after its
        # client= or uid= line, Postfix's order), and of each delivery
        log = inst.log().splitlines()
        first = {}
        sizes = {}
        for n, line in enumerate(log):
            m = re.search(r" tern/(\w+)\[\d+\]: (\w+): (client=|uid=|message-id=|from=<[^>]*>, size=(\d+))", line)
            if m:
                first.setdefault((m.group(2), m.group(1), m.group(3)[:4]), n)
                if m.group(4) and m.group(1) == "qmgr":
                    sizes.setdefault(m.group(2), int(m.group(4)))
        received = [q for (q, svc, what) in first if (svc, what) in (("smtpd", "clie"), ("pickup", "uid="))]
        is_(len(received), count["received"], "log: one client= or uid= line per received message")
        # Postfix's order is client=/uid=, message-id=, then qmgr's from=,
        # size=; pflogsumm counts the bytes of a message only when its
        # client=/uid= line comes before that first size= line. smtpd and
        # pickup learn the queue id from cleanup's EARLY frame, before they
        # send the end of the content (cleanup_proto.h), so the order holds
        # every time; the byte totals below follow pflogsumm's rule exactly.
        in_order = [q for q in received if q in sizes and (q, "cleanup", "mess") in first and
                    first.get((q, "smtpd", "clie"), first.get((q, "pickup", "uid="))) <
                    first[(q, "qmgr", "from")]]
        late = sorted(set(received) - set(in_order))
        ok(received and not late, "log per message: client=/uid= before qmgr's from=, size= (%d messages)"
           % len(received))
        for q in late:
            diag("\n".join(l for l in log if q in l))
        ok(all((q, "cleanup", "mess") in first and (q, "qmgr", "from") in first for q in received),
           "log: every received message has cleanup's message-id= and qmgr's from=, size= (queue active)")
        ok(not re.search(r"tern/cleanup\[\d+\]: \w+: from=<[^>]*>, size=", inst.log()),
           "cleanup logs no from=, size= line of its own")
        ok(all(sizes.get(q, 0) >= len(b) for q, b in bodies.items()),
           "qmgr size= is at least the message as sent (LF line ends)")
        want_rcvd = sum(sizes.get(q, 0) for q in in_order)
        want_dlvd = 0
        for line in log:
            m = re.search(r": (\w+): to=<[^>]*>, .*status=sent \((.*)\)$", line)
            if m and not m.group(2).startswith("forwarded as"):
                want_dlvd += sizes.get(m.group(1), 0)
        m1 = re.search(r"(\d+)([km]?)\s+bytes received", r.stdout)
        m2 = re.search(r"(\d+)([km]?)\s+bytes delivered", r.stdout)
        unit = {"": 1, "k": 1024, "m": 1024 * 1024}
        got_rcvd = int(m1.group(1)) * unit[m1.group(2)] if m1 else None
        got_dlvd = int(m2.group(1)) * unit[m2.group(2)] if m2 else None
        ok(want_rcvd > 0 and (got_rcvd == want_rcvd or (m1.group(2) and abs(got_rcvd - want_rcvd) < 1024)),
           "pflogsumm bytes received = the sizes of the received messages (%s, want %d, %d of %d in order)"
           % (got_rcvd, want_rcvd, len(in_order), len(received)))
        ok(want_dlvd > 0 and (got_dlvd == want_dlvd or (m2.group(2) and abs(got_dlvd - want_dlvd) < 1024)),
           "pflogsumm bytes delivered = the sizes of the delivered copies (%s, want %d)" % (got_dlvd, want_dlvd))
        # per-message sizes: sender@client.test sent messages 1 and 5 only (by SMTP)
        m = re.search(r"Senders by message size\n-+\n((?:.*\n)*?)\n", r.stdout)
        line = [l for l in (m.group(1).splitlines() if m else []) if "sender@client.test" in l]
        want_s = sum(sizes.get(q, 0) for q in sender_qids if q in in_order)
        got_s = re.match(r"\s*(\d+)([km]?)\s", line[0]) if line else None
        ok(got_s and (int(got_s.group(1)) * unit[got_s.group(2)] == want_s or
                      (got_s.group(2) and abs(int(got_s.group(1)) * 1024 - want_s) < 1024)),
           "pflogsumm: Senders by message size counts sender@client.test's messages (%d bytes)" % want_s) or \
            diag(m.group(0) if m else r.stdout[:3000])
finally:
    try:
        os.chmod(DEMO, 0o700)
    except OSError:
        pass
    inst.cleanup()
    for u in users:
        run(["userdel", u])

done()
