#!/usr/bin/python3
"""86-smtpd-country - smtpd's client names (reverse DNS) and country screening
(issue 6, Screening 1), through the real master, smtpd, proxymap and cleanup.

The test world serves the reverse zone 0.0.127.in-addr.arpa (PTR 10
client-jp, 11 client-us, 12 client-de - the last without an A record) and
example.test; its GeoIP database maps 127.0.0.10 JP, .11 US, .12 DE.
smtpd_country_reject = JP, DE.

Checked: the connect line "connect from client-jp.example.test[127.0.0.10]
country=JP"; a PTR name that does not resolve back is logged and the
client is unknown; no PTR -> unknown, country "--"; on the MTA port a
rejected country gets 554 5.7.1 instead of the greeting and the
connection closes, with a NOQUEUE reject line; an accepted client's
message carries X-Origin-Country and the name in Received:; mynetworks
is exempt (a service with -o mynetworks); on 587 a client from a rejected
country connects, gets 554 5.7.1 at MAIL without AUTH and is accepted
after AUTH, with X-Origin-Country: JP; on 465 it gets the greeting inside
TLS; a resolver that never answers costs at most smtpd_peername_timeout
and the client is unknown; smtpd_peername_lookup = no names nobody.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import diag, done, is_, like, ok, prog, run, skip_all, wait_for  # noqa: E402
from smtpd_test import LOCAL, Client, SmtpdInstance, auth_plain, enh, qid_of, terncat_bytes  # noqa: E402
from world import World  # noqa: E402

if not os.path.exists(prog("smtpd")) or not os.path.exists(prog("ternuser")):
    skip_all("smtpd or ternuser not built")
usable, why = World.usable(mmdb=True)
if not usable:
    skip_all(why)

JP, US, DE, NONE = "127.0.0.10", "127.0.0.11", "127.0.0.12", "127.0.0.13"
USER, PW = "traveller@auth.test", "Far-away 9 password"

w = World()
w.zone("example.test", ["@ A 127.0.0.5", "client-jp A 127.0.0.10", "client-us A 127.0.0.11"])
w.zone("0.0.127.in-addr.arpa", ["10 PTR client-jp.example.test.", "11 PTR client-us.example.test.",
                                "12 PTR client-de.example.test."], signed=False)
w.start_dns()
db = w.mmdb()

# a resolver that never answers: a UDP (and TCP) socket nobody reads
hole_udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
hole_udp.bind(("127.0.0.1", 0))
hole_port = hole_udp.getsockname()[1]
hole_tcp = socket.socket()
hole_tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
hole_tcp.bind(("127.0.0.1", hole_port))
hole_tcp.listen(1)
hole_conf = os.path.join(w.dir, "dns", "blackhole.conf")
with open(hole_conf, "w") as f:
    f.write("server:\n    local-zone: \"127.in-addr.arpa.\" nodefault\n    do-not-query-localhost: no\n"
            "stub-zone:\n    name: \".\"\n    stub-addr: 127.0.0.1@%d\n" % hole_port)
os.chmod(hole_conf, 0o644)

inst = SmtpdInstance(
    tern={"geoip_database": db, "dns_resolver_config": w.unbound_conf},
    smtpd={"smtpd_country_reject": "JP, DE"},
    services=[
        # MTA port look-alike where 127.0.0.10 is in mynetworks
        ("-o smtpd_auth_on_mta_port=no -o mynetworks=127.0.0.1/32,127.0.0.10/32", "-"),
        # a resolver that never answers, a short limit
        ("-o smtpd_auth_on_mta_port=no -o dns_resolver_config=%s -o smtpd_peername_timeout=1s "
         "-o smtpd_country_reject=" % hole_conf, "-"),
        # no lookups at all
        ("-o smtpd_auth_on_mta_port=no -o smtpd_peername_lookup=no -o smtpd_country_reject=", "-"),
    ])
TRUSTED, BLACKHOLE, NOLOOKUP = inst.extra
r = run([prog("ternuser"), "-c", inst.dir, "add", USER])
is_(r.returncode, 0, "ternuser add")
r = run([prog("ternuser"), "-c", inst.dir, "passwd", USER], input=PW + "\n")
is_(r.returncode, 0, "ternuser passwd")
r = inst.start()
is_(r.returncode, 0, "instance starts")


def deliver(c, sender="a@client.test"):
    """MAIL, RCPT, DATA on an open session: the queue id, or None."""
    if c.cmd("MAIL FROM:<%s>" % sender)[0] != 250 or c.cmd("RCPT TO:<user@%s>" % LOCAL)[0] != 250:
        return None
    if c.cmd("DATA")[0] != 354:
        return None
    c.send(b"From: a@client.test\r\nSubject: country\r\n\r\nhello\r\n.\r\n")
    code, lines = c.reply()
    return qid_of(lines[-1]) if code == 250 and lines else None


def headers(qid):
    path = inst.queue_file(qid) if qid else None
    return (terncat_bytes(path, "-h") or b"").decode(errors="replace") if path else ""


# --- names and countries in the connect line
mark = inst.log_mark()
c = Client(inst.smtp, source=US)
is_(c.greeting[0], 220, "US client on the MTA port: 220")
c.ehlo()
qid = deliver(c)
ok(qid is not None, "US client: message accepted")
c.cmd("QUIT")
c.close()
log = inst.log_since(mark)
like(log, "connect from client-us.example.test[127.0.0.11] country=US", "connect line: confirmed name and country")
hdr = headers(qid)
like(hdr, "X-Origin-Country: US", "cleanup adds X-Origin-Country from the country smtpd sent")
like(hdr, "client-us.example.test [127.0.0.11]", "the name is in Received:")

mark = inst.log_mark()
c = Client(inst.smtp, source=NONE)
is_(c.greeting[0], 220, "client without PTR: 220")
c.cmd("QUIT")
c.close()
ok(wait_for(lambda: "connect from unknown[127.0.0.13] country=--" in inst.log_since(mark), 10),
   "no PTR record: unknown, country --")

# --- country rejected at connect on the MTA port
mark = inst.log_mark()
c = Client(inst.smtp, source=JP)
code, lines = c.greeting
is_((code, enh(lines[-1]) if lines else None), (554, "5.7.1"), "JP client on the MTA port: 554 5.7.1 at connect")
like(lines[-1] if lines else "", "country JP", "the reply names the country")
ok(c.closed(), "the connection is closed")
c.close()
ok(wait_for(lambda: "NOQUEUE: reject: CONNECT from client-jp.example.test[127.0.0.10]: 554 5.7.1"
            in inst.log_since(mark), 10), "logged as a NOQUEUE reject at CONNECT")
like(inst.log_since(mark), "connect from client-jp.example.test[127.0.0.10] country=JP", "JP connect line")

mark = inst.log_mark()
c = Client(inst.smtp, source=DE)
is_(c.greeting[0], 554, "DE client (listed too): 554")
c.close()
ok(wait_for(lambda: "hostname client-de.example.test does not resolve to address 127.0.0.12"
            in inst.log_since(mark), 10), "a PTR name that does not resolve back is logged")
like(inst.log_since(mark), "connect from unknown[127.0.0.12] country=DE", "... and the client is unknown")

# --- mynetworks is exempt
c = Client(TRUSTED, source=JP)
is_(c.greeting[0], 220, "JP client in mynetworks: 220")
c.ehlo()
qid = deliver(c)
ok(qid is not None, "JP client in mynetworks: message accepted")
c.close()
like(headers(qid), "X-Origin-Country: JP", "... with X-Origin-Country: JP")

# --- submission: the decision waits for MAIL, AUTH exempts
mark = inst.log_mark()
c = Client(inst.submission, source=JP)
is_(c.greeting[0], 220, "JP client on 587: 220 (it may authenticate)")
c.ehlo()
c.cmd("STARTTLS")
c.starttls_wrap()
c.ehlo()
code, text = c.cmd("MAIL FROM:<%s>" % USER)
is_((code, enh(text)), (554, "5.7.1"), "587, JP, no AUTH: MAIL -> 554 5.7.1")
like(text, "only after AUTH", "the reply says AUTH would help")
code, text = c.cmd("AUTH PLAIN " + auth_plain(USER, PW))
is_(code, 235, "587, JP: AUTH succeeds")
qid = deliver(c, sender=USER)
ok(qid is not None, "587, JP, authenticated: message accepted")
c.cmd("QUIT")
c.close()
like(headers(qid), "X-Origin-Country: JP", "authenticated JP message: X-Origin-Country: JP")
like(inst.log_since(mark), "NOQUEUE: reject: MAIL from client-jp.example.test[127.0.0.10]: 554 5.7.1",
     "the MAIL refusal is logged")

c = Client(inst.submissions, source=JP, tls=True)
is_(c.greeting[0], 220, "JP client on 465: the greeting inside TLS")
c.ehlo()
code, text = c.cmd("MAIL FROM:<%s>" % USER)
is_(code, 554, "465, JP, no AUTH: MAIL -> 554")
c.close()

# --- a resolver that never answers
mark = inst.log_mark()
start = time.time()
c = Client(BLACKHOLE, source=US, timeout=30)
waited = time.time() - start
is_(c.greeting[0], 220, "silent resolver: the greeting still comes")
diag("greeting after %.1fs (smtpd_peername_timeout = 1s)" % waited)
c.cmd("QUIT")
c.close()
log = inst.log_since(mark)
like(log, "client name lookup for 127.0.0.11: no answer within 1s", "the timeout is logged")
like(log, "connect from unknown[127.0.0.11] country=US", "... and the client is unknown")

# --- smtpd_peername_lookup = no
mark = inst.log_mark()
c = Client(NOLOOKUP, source=JP)
is_(c.greeting[0], 220, "no lookups, no country_reject: 220")
c.close()
ok(wait_for(lambda: "connect from unknown[127.0.0.10] country=JP" in inst.log_since(mark), 10),
   "smtpd_peername_lookup = no: unknown, country still logged")

like(inst.log(), "screen service unavailable", "no screen service here: smtpd says so ...")
like(inst.log(), "clients are let through", "... and lets the clients through (fail open)")

inst.stop()
done()
