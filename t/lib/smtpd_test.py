"""smtpd_test - what the t/40-smtpd-*.t tests share.

SmtpdInstance: a private instance (tern_test.Instance) on three free
ports of 127.0.0.1, with local.test among the local domains, a fixed set
of local users in local_recipient_maps (an inline: table, so the tests do
not depend on the system's users), mynetworks limited to 127.0.0.1 (so
127.0.0.10 and up are "outside"), and the cleanup service reachable on
private/cleanup (cleanup_proto.h). start() waits until the SMTP port
answers.

Client: a raw SMTP connection (optionally bound to another loopback
address) that sends bytes as given and reads replies: multi-line replies
are joined, every read has a time limit, nothing sleeps a fixed time.

Session helpers: auth_plain (AUTH PLAIN's argument), ehlo_keywords,
tls_session (a client inside TLS with EHLO done), greeting (the first
reply a source gets on a port).

Queue helpers read what cleanup wrote: complete files in incoming/,
terncat -e fields, and the stored message bytes (terncat -hb).
"""
import base64
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time

from tern_test import IS_ROOT, Instance, diag, free_ports, prog, wait_for

USERS = ["user", "alice", "bob", "john.doe", "j\u00f6rg", "\u7528\u6237"]
LOCAL = "local.test"


class SmtpdInstance(Instance):
    """A private instance set up for smtpd tests."""

    def __init__(self, smtpd=None, tern=None, services=()):
        """smtpd, tern: parameters for smtpd.conf and tern.conf; services:
        extra smtpd services as (args, maxproc), on ports self.extra[i]."""
        ports = free_ports(3 + len(services), 30000, 45000)
        super().__init__(["--ports", ",".join(str(p) for p in ports[:3])],
                         keep=bool(os.environ.get("TERN_KEEP")))
        self.smtp, self.submission, self.submissions = ports[:3]
        self.extra = ports[3:]
        extra_services = ""
        for (args, maxproc), port in zip(services, self.extra):
            extra_services += "127.0.0.1:%d inet n - y - %s smtpd %s\n" % (port, maxproc, args)
        self.conf("mydestination", "$myhostname, localhost, " + LOCAL)
        self.conf("mynetworks", "127.0.0.1/32")
        for k, v in (tern or {}).items():
            self.conf(k, v)
        users = ", ".join("%s=yes" % u for u in USERS)
        self.conf("local_recipient_maps", "inline:{%s}" % users, file="smtpd.conf")
        for k, v in (smtpd or {}).items():
            self.conf(k, v, file="smtpd.conf")
        self.fix_master(extra_services)
        inst = self
        previous = sys.excepthook

        def hook(kind, value, tb):
            diag("uncaught %s; the instance's log ends:" % kind.__name__)
            diag("\n".join(inst.log().splitlines()[-40:]))
            previous(kind, value, tb)
        sys.excepthook = hook

    KEEP = ("smtpd", "cleanup", "proxymap")

    def fix_master(self, extra):
        """Only smtpd, cleanup and proxymap run, so accepted mail stays in
        incoming/ for the tests to read (no qmgr, no delivery); cleanup must
        listen on private/cleanup (cleanup_proto.h)."""
        path = self.path("master.conf")
        out = []
        with open(path) as f:
            for line in f:
                fields = line.split()
                if fields and not line.startswith("#") and len(fields) >= 8 and fields[7] not in self.KEEP:
                    line = "#" + line
                out.append(line)
        text = "".join(out)
        text = re.sub(r"^(cleanup\s+unix\s+)n(\s)", r"\1-\2", text, flags=re.M)
        with open(path, "w") as f:
            f.write(text + extra)

    def start(self):
        r = super().start()
        ok = wait_for(lambda: self.answers(self.smtp), 15)
        if not ok:
            diag("smtpd does not answer on %d" % self.smtp)
            diag(self.log()[-3000:])
        return r

    def answers(self, port):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.settimeout(5)
            data = s.recv(512)
            s.sendall(b"QUIT\r\n")
            s.close()
            return data.startswith(b"220")
        except OSError:
            return False

    def queue_files(self, where="incoming"):
        """Complete queue files (owner-execute bit) in a queue directory."""
        d = self.path("queue", where)
        out = []
        try:
            for name in sorted(os.listdir(d)):
                st = os.stat(os.path.join(d, name))
                if st.st_mode & 0o100:
                    out.append(os.path.join(d, name))
        except OSError:
            pass
        return out

    def all_files(self, where="incoming"):
        try:
            return sorted(os.listdir(self.path("queue", where)))
        except OSError:
            return []

    def complete_files(self):
        """Names of complete queue files (owner-execute bit set) in incoming/active/deferred/hold."""
        names = []
        for where in ("incoming", "active", "deferred", "hold"):
            d = self.path("queue", where)
            try:
                for name in os.listdir(d):
                    try:
                        if os.stat(os.path.join(d, name)).st_mode & 0o100:
                            names.append(name)
                    except OSError:
                        pass
            except OSError:
                pass
        return sorted(names)

    def no_new_message(self, before, timeout=30):
        """True when incoming/ comes to hold no file being written and the
        complete queue files are still those of before: a refused message's
        file is removed by cleanup after smtpd has answered, and may even be
        created after the answer, so a snapshot of every name races with it."""
        def settled():
            d = self.path("queue", "incoming")
            try:
                return all(os.stat(os.path.join(d, n)).st_mode & 0o100 for n in os.listdir(d))
            except OSError:
                return False
        return bool(wait_for(settled, timeout)) and self.complete_files() == before

    def queue_file(self, qid):
        for where in ("incoming", "active", "deferred", "hold"):
            p = self.path("queue", where, qid)
            if os.path.exists(p):
                return p
        return None

    def clear_queue(self):
        d = self.path("queue", "incoming")
        for name in os.listdir(d):
            try:
                os.unlink(os.path.join(d, name))
            except OSError:
                pass

    def pids(self, program):
        """PIDs of the instance's processes running this program."""
        master = self.master_pid()
        out = []
        if not master:
            return out
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/status" % d) as f:
                    st = dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
                with open("/proc/%s/cmdline" % d, "rb") as f:
                    argv0 = f.read().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if st.get("PPid") == str(master) and os.path.basename(argv0) == program:
                out.append(int(d))
        return out

    def log_since(self, mark):
        return self.log()[mark:]

    def log_mark(self):
        return len(self.log())


def terncat_env(path):
    """terncat -e as a list of (name, value) and a dict of the first of each name."""
    r = subprocess.run([prog("terncat"), "-e", path], capture_output=True, timeout=30)
    lines = r.stdout.decode(errors="replace").splitlines()
    pairs = []
    for line in lines:
        m = re.match(r"^(\s*)([a-z_0-9]+): (.*)$", line)
        if m:
            pairs.append(((m.group(1) and "  " or "") + m.group(2), m.group(3)))
    first = {}
    for k, v in pairs:
        first.setdefault(k, v)
    return r.returncode, pairs, first


def terncat_bytes(path, opts="-hb"):
    """The stored message (or part of it) exactly as stored."""
    r = subprocess.run([prog("terncat"), opts, path], capture_output=True, timeout=30)
    return r.stdout if r.returncode == 0 else None


def recipients(pairs):
    """[(addr, {orcpt:, notify:})] from terncat_env pairs."""
    out = []
    for k, v in pairs:
        if k == "recipient":
            out.append([v.strip("<>"), {}])
        elif k.startswith("  ") and out:
            out[-1][1].setdefault(k.strip(), v)
    return out


class Client:
    """A raw SMTP client."""

    def __init__(self, port, source="127.0.0.1", timeout=20, tls=False, greet=True):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((source, 0))
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = b""
        self.greeting = None
        if tls:
            self.starttls_wrap()
        if greet:
            self.greeting = self.reply()

    def starttls_wrap(self, session=None):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.ctx = ctx
        self.sock = ctx.wrap_socket(self.sock, session=session)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        """One reply line (bytes, CRLF removed), or None on EOF."""
        while b"\n" not in self.buf:
            try:
                d = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                d = b""
            if not d:
                rest, self.buf = self.buf, b""
                return rest if rest else None
            self.buf += d
        line, self.buf = self.buf.split(b"\n", 1)
        return line.rstrip(b"\r")

    def reply(self):
        """(code, [lines]) of one reply; (None, []) on EOF."""
        lines = []
        while True:
            ln = self.line()
            if ln is None:
                return (None, lines)
            text = ln.decode(errors="replace")
            lines.append(text)
            if len(text) < 4 or text[3] != "-":
                try:
                    return (int(text[:3]), lines)
                except ValueError:
                    return (None, lines)

    def cmd(self, text):
        """Send one command (CRLF added), return (code, text of the last line)."""
        self.send(text + "\r\n")
        code, lines = self.reply()
        return code, (lines[-1] if lines else "")

    def ehlo(self, name="client.test"):
        self.send("EHLO %s\r\n" % name)
        return self.reply()

    def closed(self, timeout=10):
        """True when the server closed the connection (EOF) within timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                d = self.sock.recv(65536)
                if not d:
                    return True
                self.buf += d
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return True
        except socket.timeout:
            return False
        except OSError:
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def enh(text):
    """The enhanced status code of a reply line, or None."""
    m = re.match(r"^\d{3}[ -](\d\.\d{1,3}\.\d{1,3})\b", text)
    return m.group(1) if m else None


def send_message(port, rcpts=("user@" + LOCAL,), body=b"Subject: t\r\n\r\nhello\r\n", sender="a@client.test",
                 source="127.0.0.1", timeout=20):
    """One plain transaction; (final code, final line)."""
    c = Client(port, source=source, timeout=timeout)
    c.ehlo()
    c.cmd("MAIL FROM:<%s>" % sender)
    for r in rcpts:
        c.cmd("RCPT TO:<%s>" % r)
    code, _ = c.cmd("DATA")
    if code != 354:
        c.close()
        return code, ""
    c.send(body + b".\r\n")
    code, lines = c.reply()
    c.cmd("QUIT")
    c.close()
    return code, (lines[-1] if lines else "")


def auth_plain(user, pw):
    """auth_plain - the base64 initial response of AUTH PLAIN for user and pw"""
    return base64.b64encode(("\0%s\0%s" % (user, pw)).encode()).decode()


def ehlo_keywords(lines):
    """ehlo_keywords - the extension lines of an EHLO reply (without "250-")"""
    return [ln[4:] for ln in lines[1:]]


def tls_session(port, source="127.0.0.1", implicit=False):
    """tls_session - a Client inside TLS (STARTTLS, or implicit TLS) with EHLO done: (client, EHLO lines)"""
    c = Client(port, source=source, tls=implicit)
    if not implicit:
        c.ehlo()
        c.cmd("STARTTLS")
        c.starttls_wrap()
    return c, c.ehlo()[1]


def greeting(port, source, implicit=False):
    """greeting - (code, last line, closed) of the first reply to a client from source;
    closed (whether the server hung up) only when the code is not 220"""
    c = Client(port, source=source, tls=implicit)
    code, lines = c.greeting
    closed = c.closed(5) if code != 220 else None
    c.close()
    return code, (lines[-1] if lines else ""), closed


def qid_of(line):
    m = re.search(r"queued as ([0-9A-Za-z]+)", line or "")
    return m.group(1) if m else None


def alias_addrs():
    """Extra loopback addresses usable as 'outside' clients (Linux routes all of 127/8)."""
    return ["127.0.0.10", "127.0.0.11", "127.0.0.12"]


def kill(pid, sig=signal.SIGKILL):
    try:
        os.kill(pid, sig)
        return True
    except ProcessLookupError:
        return False
