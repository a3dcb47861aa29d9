#!/usr/bin/python3
"""92-cleanup-screen - From: screening, address masquerading and the
origin country header in cleanup, through the cleanup protocol
(t/lib/tern_ipc.py; smtpd does not send the country yet).

From: screening ("boss@example.com" <x@evil.test>): rewrite (default),
tag and reject, each logged; not for authenticated mail, not for mail
whose recipients are all remote, not when the display name is the
address itself; an RFC 2047 encoded display name is decoded (adjacent
encoded words joined); other mailboxes of the field are kept; tagging
twice does not double the tag; a message without Subject: gets one.
Masquerading: envelope sender and From:/Sender:/Reply-To:/To: rewritten
by masquerade_domains with a ! exclusion and masquerade_exceptions;
display names and comments kept; masquerade_classes without
header_recipient leaves To: alone. Country: client_country -> the
X-Origin-Country header (and a renamed header), the queue-file attribute
client_country, a forged header from the client removed, a bad value
refused as an envelope error.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, diag, done, is_, like, ok, prog, run, skip_all, wait_for  # noqa: E402
import tern_ipc as I  # noqa: E402

if not os.access(prog("cleanup"), os.X_OK) or not os.access(prog("terncat"), os.X_OK):
    skip_all("cleanup or terncat is not built")


def start(settings):
    inst = Instance()
    with open(inst.path("master.conf"), "w") as f:
        f.write("cleanup unix - - n - 0 cleanup\n")
    with open(inst.path("qmgr.conf"), "a") as f:
        for name, value in settings:
            f.write("%s = %s\n" % (name, value))
    r = inst.start()
    if r.returncode != 0:
        raise RuntimeError("start failed")
    sock = inst.path("queue", "private", "cleanup")
    wait_for(lambda: os.path.exists(sock), 10)
    return inst, I.CleanupClient(sock, timeout=20)


def terncat(inst, qid, *opts):
    r = run([prog("terncat")] + list(opts or ("-h", "-b")) + [inst.path("queue", "incoming", qid)])
    if r.returncode != 0:
        diag(r.stdout + r.stderr)
    return r.stdout


def header_of(inst, qid):
    return terncat(inst, qid).split("\n\n", 1)[0] + "\n"


SPOOF = b'From: "boss@example.com" <x@evil.test>\r\nSubject: pay this\r\n\r\nbody\r\n'
LOCAL = ["user@localhost"]          # mydestination of the instance
VIRTUAL = ["demo@demo.test"]        # virtual_mailbox_domains
REMOTE = ["someone@remote.example"]

# ---------------------------------------------------------------- rewrite (default)
inst, c = start([("masquerade_domains", "!keep.example.com, example.com"),
                 ("masquerade_exceptions", "root")])
r = c.message(SPOOF, rcpts=LOCAL, sender="x@evil.test")
qid = r.get("queue_id", "")
h = header_of(inst, qid)
like(h, 'From: "boss at example.com (via x@evil.test)" <x@evil.test>\n', "rewrite: the display name no longer is an address")
like(h, "Subject: pay this\n", "rewrite: Subject: unchanged")
ok(wait_for(lambda: "%s: from screen: rewrite: header From: \"boss@example.com\" <x@evil.test> from client.test[127.0.0.1]; "
            "from=<x@evil.test> to=<user@localhost>" % qid in inst.log()
            and "display name boss@example.com is not the address x@evil.test" in inst.log()),
   "rewrite logged")
r = c.message(SPOOF, rcpts=VIRTUAL)
like(header_of(inst, r.get("queue_id", "")), "(via x@evil.test)", "a virtual domain recipient is local too")
r = c.message(SPOOF, rcpts=REMOTE + LOCAL)
like(header_of(inst, r.get("queue_id", "")), "(via x@evil.test)", "one local recipient among remote ones is enough")
r = c.message(SPOOF, rcpts=REMOTE)
like(header_of(inst, r.get("queue_id", "")), 'From: "boss@example.com" <x@evil.test>\n', "remote recipients only: not screened")
r = c.message(SPOOF, rcpts=LOCAL, auth_user="joe", protocol="ESMTPSA")
like(header_of(inst, r.get("queue_id", "")), 'From: "boss@example.com" <x@evil.test>\n', "authenticated mail: not screened")
r = c.message(b'From: "x@evil.test" <X@Evil.TEST>\r\n\r\nb\r\n', rcpts=LOCAL)
like(header_of(inst, r.get("queue_id", "")), 'From: "x@evil.test" <X@Evil.TEST>\n', "display name = the address: left alone")
r = c.message(b'From: Boss Man <x@evil.test>\r\n\r\nb\r\n', rcpts=LOCAL)
like(header_of(inst, r.get("queue_id", "")), 'From: Boss Man <x@evil.test>\n', "a plain display name: left alone")
r = c.message(b'From: =?utf-8?Q?boss=40exa?= =?utf-8?B?bXBsZS5jb20=?= <x@evil.test>\r\n\r\nb\r\n', rcpts=LOCAL)
like(header_of(inst, r.get("queue_id", "")), 'From: "boss at example.com (via x@evil.test)" <x@evil.test>\n',
     "RFC 2047 display name decoded, adjacent encoded words joined")
r = c.message(b'From: Good <good@ok.test>,\r\n "ceo@example.com" <x@evil.test>\r\n\r\nb\r\n', rcpts=LOCAL)
like(header_of(inst, r.get("queue_id", "")),
     'From: Good <good@ok.test>,\n\t"ceo at example.com (via x@evil.test)" <x@evil.test>\n',
     "two mailboxes: only the suspicious one rewritten")
r = c.message(b'From: x@evil.test (boss@example.com)\r\n\r\nb\r\n', rcpts=LOCAL)
like(header_of(inst, r.get("queue_id", "")), 'From: "boss at example.com (via x@evil.test)" <x@evil.test>\n',
     "old-style comment name is screened too")

# ---------------------------------------------------------------- masquerading (same instance)
r = c.message(b"From: Joe <joe@host.example.com>\r\nSender: s@a.b.example.com (the sender)\r\n"
              b"Reply-To: r@example.com\r\nTo: t@mail.example.com, \"Q\" <q@keep.example.com>\r\n"
              b"Cc: root@host.example.com\r\nX-Other: o@host.example.com\r\n\r\nbody joe@host.example.com\r\n",
              sender="joe@host.example.com", rcpts=REMOTE)
qid = r.get("queue_id", "")
m = terncat(inst, qid)
like(m, "From: Joe <joe@example.com>\n", "masquerade: From:, display name kept")
like(m, "Sender: s@example.com (the sender)\n", "masquerade: Sender:, comment kept")
like(m, "Reply-To: r@example.com\n", "masquerade: the domain itself stays")
like(m, 'To: t@example.com, "Q" <q@keep.example.com>\n', "masquerade: To: (header_recipient), !keep.example.com kept")
like(m, "Cc: root@host.example.com\n", "masquerade_exceptions: root kept")
like(m, "X-Other: o@host.example.com\n", "other fields untouched")
like(m, "body joe@host.example.com\n", "the body untouched")
like(terncat(inst, qid, "-e"), "sender: <joe@example.com>", "masquerade: the envelope sender")
r = c.message(b"From: root@host.example.com\r\n\r\nb\r\n", sender="root@host.example.com", rcpts=REMOTE)
qid = r.get("queue_id", "")
like(terncat(inst, qid, "-e"), "sender: <root@host.example.com>", "exception: envelope sender of root kept")
r = c.message(b"From: a@x.keep.example.com\r\n\r\nb\r\n", sender="a@x.keep.example.com", rcpts=REMOTE)
qid = r.get("queue_id", "")
like(terncat(inst, qid), "From: a@x.keep.example.com\n", "! entry: its subdomains kept too")

# ---------------------------------------------------------------- country
r = c.message(b"Subject: c\r\nX-Origin-Country: US\r\n\r\nb\r\n", extra=[("client_country", "JP")])
qid = r.get("queue_id", "")
h = header_of(inst, qid)
like(h, "X-Origin-Country: JP\n", "X-Origin-Country: JP added")
is_(h.count("X-Origin-Country"), 1, "the client's own X-Origin-Country: removed")
like(terncat(inst, qid, "-e"), "client_country=JP", "client_country stored in the queue file")
ok(wait_for(lambda: "%s: removed a X-Origin-Country: field" % qid in inst.log()), "removal logged")
r = c.message(b"Subject: c\r\n\r\nb\r\n", extra=[("client_country", "--")])
like(header_of(inst, r.get("queue_id", "")), "X-Origin-Country: --\n", "unknown country: --")
r = c.message(b"Subject: c\r\nX-Origin-Country: US\r\n\r\nb\r\n")
h = header_of(inst, r.get("queue_id", ""))
ok("X-Origin-Country: US\n" in h and h.count("X-Origin-Country") == 1, "no country from the source: nothing added or removed")
r = c.message(b"Subject: c\r\n\r\nb\r\n", extra=[("client_country", "jp1")])
ok(r.get("status") == "error" and r.get("code") == 554, "a bad client_country: envelope error")
c.close()
inst.stop()

# ---------------------------------------------------------------- tag, other header name, classes
inst, c = start([("from_screen_action", "tag"), ("origin_country_header", "X-Country"),
                 ("masquerade_domains", "example.com"), ("masquerade_classes", "envelope_sender, header_sender")])
r = c.message(SPOOF, rcpts=LOCAL)
qid = r.get("queue_id", "")
h = header_of(inst, qid)
like(h, "Subject: [Suspicious sender] pay this\n", "tag: Subject: tagged")
like(h, 'From: "boss@example.com" <x@evil.test>\n', "tag: From: kept")
ok(wait_for(lambda: "%s: from screen: tag: header From:" % qid in inst.log()), "tag logged")
r = c.message(b'From: "boss@example.com" <x@evil.test>\r\nSubject: [Suspicious sender] again\r\n\r\nb\r\n', rcpts=LOCAL)
like(header_of(inst, r.get("queue_id", "")), "Subject: [Suspicious sender] again\n", "tag: not doubled")
r = c.message(b'From: "boss@example.com" <x@evil.test>\r\n\r\nb\r\n', rcpts=LOCAL)
like(header_of(inst, r.get("queue_id", "")), "Subject: [Suspicious sender]\n", "tag: a Subject: added when there is none")
r = c.message(b"Subject: c\r\n\r\nb\r\n", extra=[("client_country", "DE")])
like(header_of(inst, r.get("queue_id", "")), "X-Country: DE\n", "origin_country_header names the header")
r = c.message(b"From: a@h.example.com\r\nTo: b@h.example.com\r\n\r\nb\r\n", rcpts=REMOTE)
h = header_of(inst, r.get("queue_id", ""))
ok("From: a@example.com\n" in h and "To: b@h.example.com\n" in h, "masquerade_classes without header_recipient: To: kept")
c.close()
inst.stop()

# ---------------------------------------------------------------- reject, none
inst, c = start([("from_screen_action", "reject")])
r = c.message(SPOOF, rcpts=LOCAL)
ok(r.get("status") == "error" and r.get("code") == 550 and r.get("dsn") == "5.7.1",
   "reject: 550 5.7.1 (%s)" % r.get("text"))
is_(os.listdir(inst.path("queue", "incoming")), [], "reject: no file")
ok(wait_for(lambda: ": from screen: reject: header From:" in inst.log()), "reject logged")
r = c.message(SPOOF, rcpts=REMOTE)
is_(r.get("status"), "ok", "reject: remote recipients only are not screened")
c.close()
inst.stop()
inst, c = start([("from_screen_action", "none")])
r = c.message(SPOOF, rcpts=LOCAL)
like(header_of(inst, r.get("queue_id", "")), 'From: "boss@example.com" <x@evil.test>\n', "none: nothing done")
ok("from screen" not in inst.log(), "none: nothing logged")
c.close()
inst.stop()
done()
