#!/usr/bin/python3
"""40-smtpd-relay - relay policy and the open-relay battery (spec-checklists 10, 1A.9).

Through the real master, smtpd and cleanup of a private instance whose
mynetworks is 127.0.0.1/32 only, so a client bound to 127.0.0.10 is
outside: every relay trap (foreign domain, percent hack, bang path,
source route, quoted local part with '@' or '%', quoted-pair and double
'@', trailing dot, case, IP literals, over-long addresses, unknown
parameters) gets the right refusal, postmaster is always accepted, and
local users are accepted; the same addresses from mynetworks may be
relayed. Each refusal is logged with the client address; the queue file
holds the address that was decided on (route and trailing dot dropped).
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import done, is_, like, ok, prog, skip_all  # noqa: E402
from smtpd_test import LOCAL, Client, SmtpdInstance, enh, qid_of, recipients, terncat_env  # noqa: E402

if not os.path.exists(prog("smtpd")) or not os.path.exists(prog("cleanup")):
    skip_all("smtpd or cleanup not built")

inst = SmtpdInstance(services=[("-o local_recipient_maps=proxy:unix:passwd.byname", "-")])
PASSWD = inst.extra[0]
inst.start()
OUTSIDE = "127.0.0.10"

# (RCPT path, expected code, expected enhanced code or None) from outside mynetworks
OUTSIDE_CASES = [
    ("<victim@external.test>", 554, "5.7.1"),
    ("<victim%external.test@local.test>", 550, "5.1.1"),
    ("<victim%external.test>", 501, "5.1.3"),
    ("<external.test!victim@local.test>", 550, "5.1.1"),
    ("<external.test!victim>", 501, None),
    ("<local.test!victim@external.test>", 554, "5.7.1"),
    ("<@local.test:victim@external.test>", 554, "5.7.1"),
    ("<\"victim@external.test\"@local.test>", 550, "5.1.1"),
    ("<\"victim%external.test\"@local.test>", 550, "5.1.1"),
    ("<victim@external.test\\@local.test>", 501, "5.1.3"),
    ("<victim@external.test@local.test>", 501, "5.1.3"),
    ("<victim@external.test.>", 554, "5.7.1"),
    ("<victim@EXTERNAL.TEST>", 554, "5.7.1"),
    ("<victim@[127.0.0.9]>", 554, "5.7.1"),
    ("<victim@[127.0.0.1]>", 554, "5.7.1"),
    ("<victim@[IPv6:::1]>", 554, "5.7.1"),
    ("<%s@external.test>" % ("v" * 65), 501, "5.1.3"),
    ("<victim@external.test> FOO=1", 555, "5.5.4"),
    ("<nosuchuser@local.test>", 550, "5.1.1"),
    # accepted
    ("<@external.test:user@local.test>", 250, "2.1.5"),
    ("<\"john.doe\"@local.test>", 250, "2.1.5"),
    ("<john.doe@local.test>", 250, "2.1.5"),
    ("<user@local.test.>", 250, "2.1.5"),
    ("<user@LOCAL.TEST>", 250, "2.1.5"),
    ("<postmaster@local.test>", 250, "2.1.5"),
    ("<Postmaster>", 250, "2.1.5"),
]

mark = inst.log_mark()
c = Client(inst.smtp, source=OUTSIDE)
c.ehlo()
is_(c.cmd("MAIL FROM:<>")[0], 250, "MAIL FROM:<> from outside -> 250")
for path, code, want in OUTSIDE_CASES:
    got, text = c.cmd("RCPT TO:" + path)
    good = got == code and (want is None or enh(text) == want) and (code != 501 or got // 100 == 5)
    if want is None:
        good = got // 100 == 5
    ok(good, "outside: RCPT TO:%s -> %d %s (%s)" % (path, code, want or "5xx", text))
c.cmd("DATA")
c.send(b"Subject: r\r\n\r\nx\r\n.\r\n")
code, lines = c.reply()
is_(code, 250, "the accepted ones are queued")
path = inst.queue_file(qid_of(lines[-1])) if code == 250 else None
got = [r[0] for r in recipients(terncat_env(path)[1])] if path else []
is_(got, ["user@" + LOCAL, "john.doe@" + LOCAL, "john.doe@" + LOCAL, "user@" + LOCAL, "user@" + LOCAL,
          "postmaster@" + LOCAL, got[-1] if got else ""],
    "stored as decided: route and trailing dot dropped, quotes gone, domain lower case")
ok(got and got[-1].startswith("postmaster@"), "<Postmaster> stored qualified (%s)" % (got[-1] if got else ""))
c.close()
log = inst.log_since(mark)
like(log, "NOQUEUE: reject: RCPT from unknown[127.0.0.10]: 554 5.7.1 <victim@external.test>: Relay access denied",
     "refusals are logged with the client address and the reason")
like(log, "Recipient address rejected: User unknown in local recipient table", "unknown user logged")
like(log, "<victim%external.test@local.test>: Recipient address rejected:", "percent hack logged")

# the same from mynetworks: relaying allowed, local traps still unknown users
c = Client(inst.smtp)
c.ehlo()
c.cmd("MAIL FROM:<a@client.test>")
for path, code, want in [("<victim@external.test>", 250, "2.1.5"), ("<victim@[127.0.0.9]>", 250, "2.1.5"),
                         ("<@local.test:victim@external.test>", 250, "2.1.5"),
                         ("<victim%external.test@local.test>", 550, "5.1.1"),
                         ("<external.test!victim@local.test>", 550, "5.1.1"),
                         ("<victim@external.test@local.test>", 501, "5.1.3")]:
    got, text = c.cmd("RCPT TO:" + path)
    ok(got == code and enh(text) == want, "mynetworks: RCPT TO:%s -> %d %s (%s)" % (path, code, want, text))
c.cmd("DATA")
c.send(b"Subject: r\r\n\r\nx\r\n.\r\n")
code, lines = c.reply()
is_(code, 250, "relayed message queued")
path = inst.queue_file(qid_of(lines[-1])) if code == 250 else None
got = [r[0] for r in recipients(terncat_env(path)[1])] if path else []
is_(got, ["victim@external.test", "victim@[127.0.0.9]", "victim@external.test"], "with the relay recipients")
c.close()

# the default local_recipient_maps: the system's users through proxymap (chroot-safe)
c = Client(PASSWD)
c.ehlo()
c.cmd("MAIL FROM:<a@client.test>")
code, text = c.cmd("RCPT TO:<root@%s>" % LOCAL)
is_((code, enh(text)), (250, "2.1.5"), "proxy:unix:passwd.byname: root is a local user")
code, text = c.cmd("RCPT TO:<no-such-user-xyz@%s>" % LOCAL)
is_((code, enh(text)), (550, "5.1.1"), "proxy:unix:passwd.byname: an unknown user -> 550 5.1.1")
c.close()

inst.stop()
done()
