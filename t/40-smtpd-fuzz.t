#!/usr/bin/python3
"""40-smtpd-fuzz - a seeded random smoke test of smtpd's parser and framing.

Through the real master, smtpd and cleanup of a private instance: a few
thousand random command lines (real verbs with mangled arguments, binary
junk, over-long lines, bare CR and LF, pipelined bursts) and a few
hundred random content blocks (DATA with stray dots, CR and LF; BDAT with
right and wrong counts), over many connections that also vanish in the
middle. smtpd must never crash: master counts no abnormal exit of any
smtpd service, the log shows no panic or fatal error, and a normal
message is still accepted at the end. Under make check-asan this runs
smtpd with AddressSanitizer and UBSan, whose reports end the process.

The seed is printed; TERN_FUZZ_SEED=N repeats a run.
"""
import os
import random
import re
import select
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import diag, done, is_, ok, prog, skip_all  # noqa: E402
from smtpd_test import LOCAL, SmtpdInstance, send_message  # noqa: E402

if not os.path.exists(prog("smtpd")) or not os.path.exists(prog("cleanup")):
    skip_all("smtpd or cleanup not built")

SEED = int(os.environ.get("TERN_FUZZ_SEED") or random.randrange(1 << 30))
R = random.Random(SEED)
diag("seed %d" % SEED)

inst = SmtpdInstance(tern={"message_size_limit": "50000"},
                     smtpd={"smtpd_timeout": "5s", "smtpd_hard_error_limit": "1000",
                            "smtpd_bare_newline_exceptions": "127.0.0.20"},
                     services=[("-o smtpd_bare_newline=normalize -o smtpd_max_recipients=5", "-"),
                               ("-o smtpd_forbid_unauth_pipelining=no", "-")])
inst.start()
# most sessions where pipelining does not end them early, so the fuzz goes deep
PORTS = [inst.smtp, inst.submissions, inst.extra[0]] + [inst.extra[1]] * 5

VERBS = ["EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "NOOP", "QUIT", "VRFY", "HELP", "STARTTLS",
         "AUTH", "EXPN", "ETRN", "TURN", "FOO", "", "MAIL FROM:", "RCPT TO:"]
PARAMS = ["SIZE=", "BODY=8BITMIME", "BODY=7BIT", "BODY=", "SMTPUTF8", "RET=FULL", "RET=HDRS", "ENVID=",
          "NOTIFY=NEVER", "NOTIFY=SUCCESS,FAILURE", "NOTIFY=", "ORCPT=rfc822;", "ORCPT=utf-8;", "AUTH=<>",
          "REQUIRETLS", "FOO=1", "=", "SIZE=99999999999999999999999"]
ADDRS = ["<>", "<user@local.test>", "<Postmaster>", "<a@b>", "<@a,@b:user@local.test>", "<\"a@b\"@local.test>",
         "<a%b@local.test>", "<a!b@local.test>", "<a@[127.0.0.1]>", "<a@[IPv6:::1]>", "<a@b.>", "user@local.test",
         "<j\u00f6rg@local.test>", "<\u7528\u6237@local.test>", "<", ">", "<<>>", "<a@>", "<@>", "<a b@c>",
         "<a\\@b@c>", "<" + "x" * 70 + "@local.test>", "<a@" + "d" * 300 + ">"]
JUNK = [b"\r", b"\n", b"\r\n", b"\x00", b".", b"..", b"\r\n.\r\n", b"\n.\n", b"\r.\r", b"\xff\xfe", b" ", b"\t",
        b"\x1b[0m", b"%s%n", b"\xc3\x28"]


def rbytes(n):
    return bytes(R.randrange(256) for _ in range(n))


def word():
    choice = R.random()
    if choice < 0.4:
        return R.choice(ADDRS).encode()
    if choice < 0.7:
        p = R.choice(PARAMS)
        return (p + (R.choice(["", "x", "QQ314159", "+41", "b+2Bc@d", str(R.randrange(10 ** 6))])
                     if p.endswith("=") or p.endswith(";") else "")).encode()
    if choice < 0.85:
        return R.choice(JUNK)
    return rbytes(R.randrange(1, 20))


def command():
    verb = R.choice(VERBS)
    if R.random() < 0.3:
        verb = "".join(ch.lower() if R.random() < 0.5 else ch for ch in verb)
    line = verb.encode()
    if verb.upper() == "MAIL":
        line += b" FROM:"
    elif verb.upper() == "RCPT":
        line += b" TO:"
    elif verb.upper() == "BDAT":
        line += b" " + R.choice([b"0", b"5", b"10", b"x", b"-1", b"99999999999999999999999", b"3 LAST",
                                 b"0 LAST", b"4 last", b"2 LAST X"])
    for _ in range(R.randrange(0, 4)):
        line += R.choice([b" ", b"", b"  "]) + word()
    if R.random() < 0.03:
        line += b"y" * R.randrange(500, 5000)
    end = R.choice([b"\r\n"] * 8 + [b"\n", b"\r", b"", b"\r\r\n"])
    return line + end


def content():
    parts = []
    for _ in range(R.randrange(1, 30)):
        c = R.random()
        if c < 0.5:
            parts.append(b"text line %d" % R.randrange(1000))
        elif c < 0.8:
            parts.append(R.choice(JUNK))
        else:
            parts.append(rbytes(R.randrange(1, 200)))
        parts.append(R.choice([b"\r\n", b"\r\n", b"\n", b"\r", b""]))
    if R.random() < 0.05:
        parts.append(b"z" * R.randrange(40000, 70000))
    return b"".join(parts)


def drain(s, wait=0.0):
    try:
        while True:
            r, _, _ = select.select([s], [], [], wait)
            if not r:
                return True
            if not s.recv(65536):
                return False
            wait = 0.0
    except OSError:
        return False


commands = blocks = 0
t0 = time.time()
for conn in range(400):
    if time.time() - t0 > 25:
        break
    port = R.choice(PORTS)
    s = socket.socket()
    s.settimeout(10)
    src = "127.0.0.20" if R.random() < 0.2 else "127.0.0.%d" % R.choice([1, 1, 1, 10])
    s.bind((src, 0))
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        s.close()
        continue
    live = drain(s, 0.0 if port == inst.submissions else 1.0)
    steps = R.randrange(5, 150)
    for _ in range(steps):
        if not live:
            break
        c = R.random()
        try:
            if c < 0.70:
                s.sendall(command())
                commands += 1
            elif c < 0.80:
                n = R.randrange(2, 10)
                s.sendall(b"".join(command() for _ in range(n)))
                commands += n
            elif c < 0.90:
                s.sendall(b"EHLO fuzz.test\r\nMAIL FROM:<a@client.test>\r\nRCPT TO:<user@%s>\r\nDATA\r\n" %
                          LOCAL.encode() if R.random() < 0.2 else b"DATA\r\n")
                drain(s, 0.01)
                s.sendall(content() + R.choice([b"\r\n.\r\n", b"\r\n.\r\n", b".\r\n", b"\n.\n", b""]))
                blocks += 1
            elif c < 0.97:
                data = content()
                n = len(data) + R.choice([0, 0, 0, -1, 1, -5])
                s.sendall(b"BDAT %d%s\r\n" % (max(n, 0), b" LAST" if R.random() < 0.5 else b"") + data)
                blocks += 1
            else:
                break
        except OSError:
            live = False
            break
        live = drain(s, 0.0 if R.random() < 0.98 else 0.02)
    if live and R.random() < 0.3:
        try:
            s.sendall(b"\r\nQUIT\r\n")
            drain(s, 0.3)
        except OSError:
            pass
    s.close()

diag("%d command writes, %d content blocks" % (commands, blocks))
ok(commands > 1000 and blocks > 100, "a few thousand commands and some hundred content blocks sent")

# every session ends by itself (smtpd_timeout 5s); then count the damage
time.sleep(0.5)
code, line = send_message(inst.smtp)
is_(code, 250, "a normal message is still accepted")
st = inst.ctl("status").stdout
abn = [int(m) for m in re.findall(r"inet smtpd .*abnormal=(\d+)", st)]
ok(len(abn) >= 4 and sum(abn) == 0, "master counts no abnormal smtpd exit (%s)" % abn)
log = inst.log()
bad = [ln for ln in log.splitlines()
       if re.search(r"smtpd\)? pid \d+ (killed by signal|exit status)|tern/smtpd\[\d+\]: (panic|fatal)", ln)]
is_(bad, [], "no smtpd crash, panic or fatal error in the log")
ok("ERROR: AddressSanitizer" not in log and "runtime error" not in log, "no sanitizer report in the log")

inst.stop()
done()
