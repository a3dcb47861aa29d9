#!/usr/bin/python3
"""world: the test world of t/lib/world.py works: DNSSEC verdicts through
libunbound (unbound-host -C w.unbound_conf: secure, insecure, bogus,
NXDOMAIN, SERVFAIL outside the world, PTR), NSD signatures (drill), TLSA
data equal to openssl's, DANE with openssl s_client (3 1 1, 2 0 1, wrong
record rejected), MTA-STS over HTTPS with curl (test CA, wrong CA,
404, request counting, a domain added while running), SMTP sinks (STARTTLS
with SNI and MAIL parameters, connection reuse, rcpt_replies, implicit TLS,
AUTH only after TLS, REQUIRETLS only after TLS, plaintext injected after
STARTTLS discarded, a wrong-CA certificate, a refused STARTTLS, a hang-up
after the data, 554 greeting, a stalled client blocks nobody), an LMTP sink
with per-recipient replies, an HTTPS POST (TLS report) recorded, a zone
added with restart_dns, the standard sinks, the GeoIP database
(mmdblookup), and stop()."""
import base64
import os
import smtplib
import socket
import ssl
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import diag, done, is_, like, ok, skip_all  # noqa: E402
from world import World, dns_query  # noqa: E402

usable, why = World.usable(mmdb=True)
if not usable:
    skip_all(why)


def sh(args, input=None, timeout=30):
    """sh - run a command, return (exit code, stdout + stderr)."""
    r = subprocess.run(args, input=input, capture_output=True, text=True, timeout=timeout)
    return r.returncode, r.stdout + r.stderr


def uhost(qtype, name):
    """uhost - unbound-host's answer through the world's libunbound config."""
    return sh(["unbound-host", "-v", "-C", w.unbound_conf, "-t", qtype, name])[1]


def s_client(addr, port, domain, rrdata, starttls=True):
    """s_client - openssl s_client with DANE TLSA data; returns its output."""
    args = ["openssl", "s_client", "-connect", "%s:%d" % (addr, port), "-brief",
            "-dane_tlsa_domain", domain, "-dane_tlsa_rrdata", rrdata, "-verify_return_error"]
    if starttls:
        args += ["-starttls", "smtp"]
    return sh(args, input="QUIT\r\n")[1]


def curl(domain, cafile, addr="127.0.0.4"):
    """curl - fetch https://mta-sts.<domain>/.well-known/mta-sts.txt; (exit, body, http code)."""
    host = "mta-sts." + domain
    r = subprocess.run(["curl", "-sS", "--noproxy", "*", "--resolve", "%s:443:%s" % (host, addr),
                        "--cacert", cafile, "--capath", "/nonexistent", "-w", "\n%{http_code}",
                        "https://%s/.well-known/mta-sts.txt" % host],
                       capture_output=True, text=True, timeout=30)
    body, _, code = r.stdout.rpartition("\n")
    return r.returncode, body + r.stderr, code


def client_ctx(server_name=True):
    """client_ctx - TLS client context trusting only the test CA."""
    ctx = ssl.create_default_context(cafile=w.ca_file)
    ctx.check_hostname = server_name
    return ctx


def smtp_to(addr, port, name, source="127.0.0.10"):
    """smtp_to - smtplib connection that checks the certificate against name."""
    s = smtplib.SMTP(local_hostname="client.example.test", source_address=(source, 0), timeout=30)
    s.connect(addr, port)
    s._host = name                     # smtplib checks the cert against the connect string
    return s


def lmtp_session(port, lines):
    """lmtp_session - raw LMTP conversation; returns the last line of every reply."""
    c = socket.create_connection(("127.0.0.6", port), timeout=30)
    f = c.makefile("rwb", buffering=0)
    out = [f.readline().decode().rstrip()]
    for line, nreplies in lines:
        f.write(line.encode() + b"\r\n")
        for _ in range(nreplies):
            while True:
                r = f.readline().decode().rstrip()
                if len(r) < 4 or r[3] != "-":
                    out.append(r)
                    break
    c.close()
    return out


w = World()
try:
    w.standard()
    w.start_dns()
    ok(w.dns_port and os.path.exists(w.unbound_conf) and os.path.exists(w.ta_file),
       "DNS started on 127.0.0.1@%s, unbound.conf and trust anchor written" % w.dns_port)
    like(open(w.unbound_conf).read(), 'local-zone: "test." nodefault', "unbound.conf: test. nodefault")

    # ---- DNS / DNSSEC ----
    out = uhost("MX", "example.test")
    ok("10 mx1.example.test" in out and "20 mx2.example.test" in out and "(secure)" in out
       and "insecure" not in out, "example.test MX secure (both MX, any order)") or diag(out)
    out = uhost("TLSA", "_25._tcp.mx1.example.test")
    like(out.lower(), "3 1 1 %s (secure)" % w.tlsa311("mx1.example.test"), "mx1 TLSA 3 1 1 secure, equals w.tlsa311")
    like(uhost("TLSA", "_25._tcp.mx2.example.test").lower(), "2 0 1 %s (secure)" % w.tlsa201(),
         "mx2 TLSA 2 0 1 secure, equals w.tlsa201")
    like(uhost("A", "mx1.example.test"), "has address 127.0.0.2 (secure)", "mx1 A secure")
    like(uhost("MX", "insecure.test"), "10 mx.insecure.test. (insecure)", "insecure.test MX insecure")
    out = uhost("A", "mx.bogus.test")
    ok("BOGUS" in out, "mx.bogus.test A bogus") or diag(out)
    like(uhost("MX", "bogus.test"), "BOGUS", "bogus.test MX bogus")
    like(uhost("A", "nosuch.example.test"), "NXDOMAIN). (secure)", "nosuch.example.test NXDOMAIN, proven")
    like(uhost("MX", "example.com"), "SERVFAIL", "a name outside the world fails (SERVFAIL)")
    like(uhost("PTR", "10.0.0.127.in-addr.arpa"), "client-jp.example.test", "PTR 127.0.0.10 -> client-jp")
    rc, out = sh(["drill", "-D", "-p", str(w.dns_port), "example.test", "MX", "@127.0.0.1"])
    like(out, "RRSIG\tMX", "NSD serves RRSIGs (drill -D)")

    # ---- TLSA data equals openssl's ----
    chain1, _ = w.cert("mx1.example.test")
    spki = subprocess.run("openssl x509 -in %s -noout -pubkey | openssl pkey -pubin -outform DER"
                          " | openssl dgst -sha256 -r" % chain1, shell=True, capture_output=True, text=True)
    is_(spki.stdout.split()[0] if spki.stdout else "", w.tlsa311("mx1.example.test"), "tlsa311 = openssl SPKI sha256")
    cad = subprocess.run("openssl x509 -in %s -outform DER | openssl dgst -sha256 -r" % w.ca_file,
                         shell=True, capture_output=True, text=True)
    is_(cad.stdout.split()[0] if cad.stdout else "", w.tlsa201(), "tlsa201 = openssl CA cert sha256")

    # ---- sinks and DANE ----
    mx1 = w.sink("127.0.0.2", cert="mx1.example.test", rcpt_replies={"nobody@example.test": "550 5.1.1 no such user"})
    mx2 = w.sink("127.0.0.3", cert="mx2.example.test", auth={"alice": "s3cret"}, requiretls=True)
    mx2s = w.sink("127.0.0.3", 465, implicit_tls=True, cert="mx2.example.test")
    out = s_client("127.0.0.2", 25, "mx1.example.test", "3 1 1 " + w.tlsa311("mx1.example.test"))
    like(out, "matched EE certificate", "DANE-EE 3 1 1 matches mx1 (s_client -starttls smtp)")
    out = s_client("127.0.0.3", 25, "mx2.example.test", "2 0 1 " + w.tlsa201())
    like(out, "matched TA certificate", "DANE-TA 2 0 1 matches mx2 (chain carries the CA)")
    out = s_client("127.0.0.3", 25, "mx2.example.test", "3 1 1 " + w.tlsa311("mx1.example.test"))
    like(out, "no matching DANE TLSA", "mx1's TLSA record is rejected by mx2")
    out = s_client("127.0.0.2", 25, "mx1.example.test", "3 0 1 " + w.tlsa301("mx1.example.test"))
    like(out, "matched EE certificate", "DANE-EE 3 0 1 (tlsa301) matches mx1")

    # ---- SMTP sink: STARTTLS, SNI, parameters, reuse ----
    sessions_before = mx1.sessions()
    s = smtp_to("127.0.0.2", 25, "mx1.example.test")
    code, _ = s.ehlo()
    adv = s.esmtp_features
    ok(code == 250 and "starttls" in adv and "pipelining" in adv and "smtputf8" in adv
       and "requiretls" not in adv, "EHLO before TLS: STARTTLS, PIPELINING, SMTPUTF8 advertised")
    s.starttls(context=client_ctx())
    s.ehlo()
    ok("starttls" not in s.esmtp_features, "no STARTTLS after TLS")
    refused = s.sendmail("a@example2.test", ["b@example.test", "nobody@example.test"],
                         b"Subject: one\r\n\r\nhi\r\n.dot\r\n", mail_options=["BODY=8BITMIME", "SIZE=40"])
    is_(refused.get("nobody@example.test", (0,))[0], 550, "rcpt_replies: 550 for nobody@example.test")
    s.sendmail("c@example2.test", ["b@example.test"], b"Subject: two\r\n\r\nagain\r\n")
    s.quit()
    msgs = mx1.wait(2)
    is_(len(msgs), 2, "sink recorded two messages")
    m = msgs[0] if msgs else {}
    ok(m.get("tls") == "TLSv1.3" and m.get("cipher"), "message over TLSv1.3 with a cipher")
    is_(m.get("sni"), "mx1.example.test", "SNI recorded")
    is_(m.get("peer"), "127.0.0.10", "peer address = the client's source address")
    is_(m.get("helo"), "client.example.test", "EHLO name recorded")
    is_((m.get("mail_from"), m.get("mail_params")), ("a@example2.test", {"BODY": "8BITMIME", "SIZE": "40"}),
        "MAIL FROM and its parameters")
    is_(m.get("rcpts"), [["b@example.test", {}]], "accepted recipients only")
    is_(m.get("rcpts_rejected"), [["nobody@example.test", "550 5.1.1 no such user"]], "refused recipient noted")
    ok(m.get("data", "").endswith("hi\r\n.dot\r\n") and
       base64.b64decode(m.get("data_b64", "")).startswith(b"Subject: one"), "data recorded, dot-unstuffed")
    is_(mx1.sessions() - sessions_before, 1, "two messages over one connection: one session")
    cmds = [c.upper() for c in (mx1.commands() or [[]])[-1]]
    ok(cmds[:2] == ["EHLO CLIENT.EXAMPLE.TEST", "STARTTLS"] and cmds[-1] == "QUIT", "session transcript recorded") \
        or diag(cmds)

    # ---- AUTH and REQUIRETLS only after TLS ----
    s = smtp_to("127.0.0.3", 25, "mx2.example.test")
    s.ehlo()
    ok("auth" not in s.esmtp_features and "requiretls" not in s.esmtp_features,
       "no AUTH, no REQUIRETLS before TLS")
    code, text = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0s3cret").decode())
    is_(code, 538, "AUTH PLAIN before TLS refused (538)")
    s.starttls(context=client_ctx())
    s.ehlo()
    ok("PLAIN" in s.esmtp_features.get("auth", "") and "requiretls" in s.esmtp_features,
       "AUTH PLAIN LOGIN and REQUIRETLS advertised after TLS")
    code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0wrong").decode())
    is_(code, 535, "wrong password refused (535)")
    code, _ = s.docmd("AUTH", "PLAIN " + base64.b64encode(b"\0alice\0s3cret").decode())
    is_(code, 235, "AUTH PLAIN accepted after TLS")
    s.sendmail("alice@example.test", ["x@example.test"], b"Subject: auth\r\n\r\nx\r\n", mail_options=["REQUIRETLS"])
    s.quit()
    m = (mx2.wait(1) or [{}])[0]
    ok(m.get("auth") == "alice" and "REQUIRETLS" in m.get("mail_params", {}),
       "message records AUTH user and REQUIRETLS")

    # ---- STARTTLS: plaintext pipelined behind it is discarded ----
    c = socket.create_connection(("127.0.0.2", 25), timeout=30)
    f = c.makefile("rb")
    f.readline()
    c.sendall(b"EHLO inject.example.test\r\n")
    while f.readline()[3:4] == b"-":
        pass
    c.sendall(b"STARTTLS\r\nMAIL FROM:<evil@example.test>\r\n")
    is_(f.readline()[:3], b"220", "STARTTLS accepted")
    t = client_ctx().wrap_socket(c, server_hostname="mx1.example.test")
    t.sendall(b"RCPT TO:<b@example.test>\r\n")
    is_(t.recv(100)[:3], b"503", "MAIL injected before the handshake was discarded (RCPT gets 503)")
    t.close()

    # ---- a certificate from the wrong CA is not trusted ----
    wrong = w.sink("127.0.0.8", cert="mx.bogus.test", cert_ca="wrongca")
    s = smtp_to("127.0.0.8", 25, "mx.bogus.test")
    try:
        s.starttls(context=client_ctx())
        ok(False, "wrong-CA sink certificate fails verification")
    except ssl.SSLCertVerificationError:
        ok(True, "wrong-CA sink certificate fails verification")
    s.close()
    wrong.stop()

    # ---- implicit TLS, stalled client ----
    stalled = socket.create_connection(("127.0.0.3", 465), timeout=5)   # never starts the handshake
    rc, out = sh(["openssl", "s_client", "-connect", "127.0.0.3:465", "-brief", "-verify_return_error",
                  "-verify_hostname", "mx2.example.test", "-CAfile", w.ca_file], input="QUIT\r\n")
    like(out, "Verification: OK", "implicit TLS on 465 verifies with the test CA, despite a stalled client")
    s = smtplib.SMTP_SSL("127.0.0.3", 465, local_hostname="client.example.test", context=client_ctx(False), timeout=30)
    s.ehlo()
    ok("starttls" not in s.esmtp_features, "implicit TLS sink does not offer STARTTLS")
    s.sendmail("a@example.test", ["b@example.test"], b"Subject: 465\r\n\r\nx\r\n")
    s.quit()
    stalled.close()
    m = (mx2s.wait(1) or [{}])[0]
    ok(m.get("tls", "").startswith("TLSv1"), "implicit TLS message recorded with its TLS version")

    # ---- LMTP ----
    lm = w.sink("127.0.0.6", 24, lmtp=True, starttls=False,
                rcpt_replies={"gone@example.test": "550 5.1.1 gone"},
                data_replies={"full@example.test": "452 4.2.2 mailbox full"})
    out = lmtp_session(24, [("LHLO client.example.test", 1), ("MAIL FROM:<a@example.test>", 1),
                            ("RCPT TO:<ok@example.test>", 1), ("RCPT TO:<gone@example.test>", 1),
                            ("RCPT TO:<full@example.test>", 1), ("DATA", 1),
                            ("Subject: lmtp\r\n\r\nbody\r\n.", 2), ("QUIT", 1)])
    diag(" | ".join(out))
    ok(out[0].startswith("220") and out[1].startswith("250"), "LMTP greeting and LHLO")
    is_([r[:3] for r in out[3:9]], ["250", "550", "250", "354", "250", "452"],
        "LMTP: RCPT replies, then one reply per accepted recipient after DATA")
    m = (lm.wait(1) or [{}])[0]
    is_(m.get("lmtp_replies"), [["ok@example.test", m.get("lmtp_replies", [["", ""]])[0][1]],
                                ["full@example.test", "452 4.2.2 mailbox full"]],
        "LMTP message records per-recipient replies")

    # ---- STARTTLS refused, hang-up after the data ----
    flaky = w.sink("127.0.0.9", cert="mx.bogus.test", starttls_reply="454 4.7.0 TLS not available",
                   disconnect=["DOT"])
    s = smtplib.SMTP("127.0.0.9", 25, local_hostname="client.example.test", timeout=30)
    s.ehlo()
    code, _ = s.docmd("STARTTLS")
    is_(code, 454, "starttls_reply: STARTTLS offered but refused")
    try:
        s.sendmail("a@example.test", ["b@example.test"], b"Subject: lost\r\n\r\nx\r\n")
        ok(False, "disconnect DOT: connection lost after the data")
    except smtplib.SMTPServerDisconnected:
        ok(True, "disconnect DOT: connection lost after the data")
    is_((len(flaky.messages()), len(flaky.attempts())), (0, 0), "nothing recorded for a lost transaction")
    flaky.stop()

    # ---- greeting code ----
    bad = w.sink("127.0.0.7", greeting_code=554, starttls=False)
    try:
        smtplib.SMTP("127.0.0.7", 25, timeout=10)
        ok(False, "554 greeting refuses the session")
    except smtplib.SMTPConnectError as e:
        is_(e.smtp_code, 554, "554 greeting refuses the session")
    bad.stop()

    # ---- MTA-STS ----
    w.sts_server()
    stalled = socket.create_connection(("127.0.0.4", 443), timeout=5)   # never starts the handshake
    rc, body, code = curl("example.test", w.ca_file)
    ok(rc == 0 and code == "200" and "mode: enforce" in body,
       "policy fetched with the test CA, despite a stalled client") or diag(body)
    stalled.close()
    rc, body, code = curl("example.test", w.wrong_ca_file)
    is_(rc, 60, "wrong CA: curl exit 60 (certificate not trusted)")
    is_(w.sts_requests("example.test"), 1, "sts_requests counts the served GET")
    w.sts_policy("example2.test", None)
    rc, body, code = curl("example2.test", w.ca_file)
    is_(code, "404", "policy None -> 404")
    w.sts_policy("late.test", "version: STSv1\r\nmode: none\r\nmax_age: 60\r\n")
    rc, body, code = curl("late.test", w.ca_file)
    ok(rc == 0 and "mode: none" in body, "domain added while running: cert gets its SAN") or diag(body)
    is_((w.sts_requests("example2.test"), w.sts_requests("late.test")), (1, 1), "requests counted per domain")
    w.https_name("tlsrpt.example.test")
    r = subprocess.run(["curl", "-sS", "--noproxy", "*", "--resolve", "tlsrpt.example.test:443:127.0.0.4",
                        "--cacert", w.ca_file, "-H", "Content-Type: application/tlsrpt+gzip",
                        "--data-binary", "report-bytes", "https://tlsrpt.example.test/v1/report"],
                       capture_output=True, text=True, timeout=30)
    posts = w.https_posts("tlsrpt.example.test")
    ok(r.returncode == 0 and len(posts) == 1 and posts[0]["body"] == b"report-bytes"
       and posts[0]["headers"].get("Content-Type") == "application/tlsrpt+gzip",
       "HTTPS POST (TLS report) recorded with headers and body") or diag(r.stderr)

    # ---- a zone added later ----
    w.zone("extra.test", ["@ MX 10 mx", "mx A 127.0.0.20"])
    old_port = w.dns_port
    w.restart_dns()
    is_(w.dns_port, old_port, "restart_dns keeps the port")
    like(uhost("MX", "extra.test"), "10 mx.extra.test. (secure)", "zone added with restart_dns is secure")
    like(uhost("MX", "example.test"), "(secure)", "existing zones still secure after re-signing")

    # ---- GeoIP ----
    db = w.mmdb()
    for ip, want in (("127.0.0.10", '"JP"'), ("127.0.0.11", '"US"'), ("127.0.0.12", '"DE"'),
                     ("127.0.1.77", '"FR"'), ("2001:db8::1", '"GB"')):
        like(sh(["mmdblookup", "--file", db, "--ip", ip, "country", "iso_code"])[1], want, "mmdb %s -> %s" % (ip, want))
    rc, out = sh(["mmdblookup", "--file", db, "--ip", "127.0.0.13"])
    like(out, "Could not find an entry", "mmdb: 127.0.0.13 not in the database")

    # ---- the standard sinks ----
    for x in (mx1, mx2):
        x.stop()
    std = w.standard_sinks()
    banners = {}
    for addr, x in sorted(std.items()):
        c = socket.create_connection((addr, 25), timeout=30)
        banners[addr] = c.makefile("rb").readline().decode().split()[1]
        c.close()
    is_(banners, {"127.0.0.2": "mx1.example.test", "127.0.0.3": "mx2.example.test",
                  "127.0.0.6": "mx.example2.test", "127.0.0.7": "mx.insecure.test",
                  "127.0.0.8": "mx.bogus.test", "127.0.0.9": "mx.bogus.test"},
        "standard_sinks: one sink per MX address, named after its host")

    # ---- stop ----
    pids = [w.nsd.pid] + [x.pid for x in w.sinks] + [x.pid for x in w.sts_servers]
    ok(all(os.path.exists("/proc/%d" % p) for p in [w.nsd.pid] + [x.pid for x in std.values()]),
       "world processes run until stop()")
    wdir = w.dir
    w.stop()
    gone = [p for p in pids if os.path.exists("/proc/%d" % p)]
    is_(gone, [], "stop() ended every process by PID")
    ok(os.environ.get("TERN_KEEP_WORLD") or not os.path.exists(wdir), "stop() removed the world directory")
    ok(dns_query("test", 6, old_port, timeout=0.3) is None, "NSD no longer answers")
finally:
    w.stop()
done()
