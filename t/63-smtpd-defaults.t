#!/usr/bin/python3
"""63-smtpd-defaults - smtpd knows local users, aliases and virtual accounts at RCPT.

With the default local_recipient_maps (passwd and alias_maps, both through
proxymap because smtpd is chrooted), an alias that is no Unix user is
accepted, a name that is neither gets 550 5.1.1, and a Unix user is
accepted. A client outside mynetworks may send to a virtual mailbox domain
(the instance's demo.test): an account listed in virtual_mailbox_maps is
accepted, an unknown one gets 550 5.1.1, and other domains are not relayed.
"""
import os
import smtplib
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import Instance, done, is_, ok, prog, run, wait_for  # noqa: E402

inst = Instance()
inst.conf("mynetworks", "127.0.0.1/32")
with open(inst.path("aliases"), "a") as f:
    f.write("t63team: root\n")
r = run([prog("newaliases"), "-C", inst.dir])
is_(r.returncode, 0, "newaliases rebuilds the instance's aliases")
r = inst.start()
is_(r.returncode, 0, "instance starts")


def rcpt(addr, source="127.0.0.1"):
    """The reply smtpd gives RCPT TO:<addr> from the client address source."""
    s = smtplib.SMTP("127.0.0.1", inst.ports[0], timeout=20, source_address=(source, 0))
    try:
        s.ehlo("client.test")
        s.mail("sender@client.test")
        return s.rcpt(addr)
    finally:
        s.quit()


def listening():
    try:
        smtplib.SMTP("127.0.0.1", inst.ports[0], timeout=5).quit()
        return True
    except OSError:
        return False


ok(wait_for(listening, 20), "smtpd answers")
code, text = rcpt("t63team@localhost")
is_(code, 250, "an alias that is no Unix user is accepted")
code, text = rcpt("root@localhost")
is_(code, 250, "a Unix user is accepted")
code, text = rcpt("t63-nobody-here@localhost")
is_(code, 550, "neither a user nor an alias: 550")
ok(b"5.1.1" in text, "with 5.1.1")
def queued_headers(port, use_tls):
    """Send a message without Message-ID/Date on port; the queued file's headers."""
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if use_tls:
        s = smtplib.SMTP_SSL("127.0.0.1", port, timeout=20, context=ctx)
    else:
        s = smtplib.SMTP("127.0.0.1", port, timeout=20)
    s.ehlo("client.test")
    s.sendmail("sender@client.test", ["demo@demo.test"], "Subject: fixups\r\n\r\nbody\r\n")
    s.quit()


def maildir_texts():
    d = inst.path("mail", "demo.test", "demo", "new")
    try:
        return [open(os.path.join(d, f), errors="replace").read() for f in sorted(os.listdir(d))]
    except OSError:
        return []


before = len(maildir_texts())
queued_headers(inst.ports[0], False)
ok(wait_for(lambda: len(maildir_texts()) == before + 1, 20), "port 25 message delivered")
head = maildir_texts()[-1].split("\n\n", 1)[0] if maildir_texts() else ""
ok("Message-ID:" not in head and "\nDate:" not in head, "port 25: no Message-ID or Date added")
queued_headers(inst.ports[2], True)
ok(wait_for(lambda: len(maildir_texts()) == before + 2, 20), "port 465 message delivered")
texts = [t.split("\n\n", 1)[0] for t in maildir_texts()]
ok(any("Message-ID:" in t and "\nDate:" in t for t in texts),
   "465 (smtpd_submission_fixups): Message-ID and Date added")

OUTSIDE = "127.0.0.10"
code, text = rcpt("demo@demo.test", OUTSIDE)
is_(code, 250, "outside client: a virtual account is accepted")
code, text = rcpt("nosuch@demo.test", OUTSIDE)
is_(code, 550, "outside client: an unknown virtual account gets 550")
ok(b"5.1.1" in text, "with 5.1.1")
code, text = rcpt("someone@elsewhere.test", OUTSIDE)
is_(code, 554, "outside client: other domains are not relayed")
ok(b"5.7.1" in text, "with 5.7.1")
inst.stop()
done()
