#!/usr/bin/python3
"""63-rcpt-aliases - smtpd knows local users, aliases and virtual accounts at RCPT.

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
