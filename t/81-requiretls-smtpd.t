#!/usr/bin/python3
"""81-requiretls-smtpd - REQUIRETLS on the receiving side (RFC 8689; spec-checklists 6.1, 6.2, 6.12).

Through the real master, smtpd, proxymap and cleanup of a private
instance: EHLO lists REQUIRETLS only inside TLS (after STARTTLS and on the
implicit-TLS port); MAIL FROM:<...> REQUIRETLS in plaintext gets 555 5.5.4
and no transaction; inside TLS it is accepted and the queue file carries
the flag (terncat -e "requiretls: yes"); REQUIRETLS=yes gets 501 5.5.4;
mail without it is not flagged; from an authenticated client a recipient
"user+requiretls@domain" sets the flag and is stored without the tag,
while from an unauthenticated client the tag is an ordinary part of the
address.
"""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import done, is_, ok, prog, run, skip_all  # noqa: E402
from smtpd_test import (LOCAL, Client, SmtpdInstance, auth_plain, ehlo_keywords, enh, qid_of,  # noqa: E402
                        recipients, terncat_env, tls_session)

if not os.path.exists(prog("smtpd")) or not os.path.exists(prog("ternuser")):
    skip_all("smtpd or ternuser not built")

USER, PW = "carol@rtls.test", "tls-only-please"
inst = SmtpdInstance()
for args, stdin in ((["add", USER], None), (["passwd", USER], PW + "\n")):
    r = run([prog("ternuser"), "-c", inst.dir] + args, input=stdin)
    is_(r.returncode, 0, "ternuser %s" % args[0])
inst.start()


def send(c, mail, rcpts):
    """One transaction on an open client; the queue file's terncat -e, or None."""
    code, text = c.cmd(mail)
    if code != 250:
        return None
    for r in rcpts:
        c.cmd("RCPT TO:<%s>" % r)
    if c.cmd("DATA")[0] != 354:
        return None
    c.send(b"Subject: requiretls\r\n\r\nbody\r\n.\r\n")
    code, lines = c.reply()
    path = inst.queue_file(qid_of(lines[-1])) if code == 250 else None
    return terncat_env(path) if path else None


# --- plaintext
c = Client(inst.smtp)
code, lines = c.ehlo()
ok("REQUIRETLS" not in ehlo_keywords(lines), "plaintext EHLO does not list REQUIRETLS")
code, text = c.cmd("MAIL FROM:<a@client.test> REQUIRETLS")
is_((code, enh(text)), (555, "5.5.4"), "plaintext MAIL ... REQUIRETLS -> 555 5.5.4")
code, text = c.cmd("RCPT TO:<user@%s>" % LOCAL)
is_(code, 503, "no transaction was started")
c.close()

# --- STARTTLS
c, lines = tls_session(inst.smtp)
ok("REQUIRETLS" in ehlo_keywords(lines), "EHLO after STARTTLS lists REQUIRETLS")
code, text = c.cmd("MAIL FROM:<a@client.test> REQUIRETLS=yes")
is_((code, enh(text)), (501, "5.5.4"), "REQUIRETLS=yes -> 501 5.5.4")
env = send(c, "MAIL FROM:<a@client.test> REQUIRETLS", ["user@" + LOCAL])
ok(env is not None, "MAIL ... REQUIRETLS inside TLS is accepted and queued")
is_(env[2].get("requiretls") if env else None, "yes", "the queue file carries the REQUIRETLS flag")
env = send(c, "MAIL FROM:<a@client.test>", ["user@" + LOCAL])
is_(env[2].get("requiretls") if env else None, "no", "a message without REQUIRETLS is not flagged")
c.close()

# --- implicit TLS
c, lines = tls_session(inst.submissions, implicit=True)
ok("REQUIRETLS" in ehlo_keywords(lines), "port 465 lists REQUIRETLS")
env = send(c, "MAIL FROM:<a@client.test> REQUIRETLS", ["user@" + LOCAL])
is_(env[2].get("requiretls") if env else None, "yes", "465: the flag is kept")
c.close()

# --- +requiretls from an authenticated client
c, lines = tls_session(inst.submission)
code, text = c.cmd("AUTH PLAIN " + auth_plain(USER, PW))
is_(code, 235, "authenticated on 587")
env = send(c, "MAIL FROM:<%s>" % USER, ["friend+requiretls@remote.example", "other@remote.example"])
is_(env[2].get("requiretls") if env else None, "yes", "+requiretls tag sets the flag")
rc = [a for a, _ in recipients(env[1])] if env else []
is_(rc, ["friend@remote.example", "other@remote.example"], "the tag is removed from the stored recipient")
env = send(c, "MAIL FROM:<%s>" % USER, ["Friend+RequireTLS@remote.example"])
is_(env[2].get("requiretls") if env else None, "yes", "the tag is matched without regard to case")
env = send(c, "MAIL FROM:<%s>" % USER, ["friend@remote.example"])
is_(env[2].get("requiretls") if env else None, "no", "no tag, no flag")
c.close()

# --- the tag means nothing from an unauthenticated client
c, lines = tls_session(inst.smtp)
# (127.0.0.1 is in mynetworks: it may relay without AUTH)
env = send(c, "MAIL FROM:<a@client.test>", ["x+requiretls@remote.example"])
is_(env[2].get("requiretls") if env else None, "no", "unauthenticated: the tag does not set the flag")
is_([a for a, _ in recipients(env[1])] if env else [], ["x+requiretls@remote.example"],
    "unauthenticated: the address keeps its tag")
c.close()

inst.stop()
done()
