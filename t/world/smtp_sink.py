#!/usr/bin/python3
"""smtp_sink - the SMTP/LMTP sink of the tern test world (started by t/lib/world.py).

    smtp_sink.py CONFIG.json

Contract. Listens on config addr:port (127.0.0.0/8 only; waits up to 30 s
while the address is busy, e.g. held by another test), writes DIR/ready once
listening, and serves every connection in its own thread, so one stalled
client (TLS handshake included) blocks nobody. Speaks ESMTP (or LMTP with
per-recipient replies after DATA): EHLO/HELO/LHLO, STARTTLS (buffered
plaintext is discarded), AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, NOOP,
VRFY, HELP, QUIT. Options may delay a reply ("delays": {STEP: seconds})
or hang up instead of replying ("disconnect": [STEP]), where STEP is
GREETING, a verb, or DOT (after the message data). Each DATA transaction becomes DIR/msgs/NNNNNNNN.json
(see world.py for the fields), each connection appends a line to
DIR/sessions.log and its command lines to DIR/sessions/NNNNNNNN.log.
Runs until SIGTERM.
"""
import base64
import binascii
import errno
import ipaddress
import json
import os
import socket
import ssl
import sys
import threading
import time

MAX_LINE = 1 << 20            # longest command or data line accepted
IDLE_TIMEOUT = 300            # seconds a client may stay silent
HANDSHAKE_TIMEOUT = 30
BIND_WAIT = 30                # seconds to wait for a busy address


def write_json(path, obj):
    """write_json - write obj atomically (readers never see half a file)."""
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


class LineReader:
    """LineReader - bounded line reading over a socket, with its own buffer."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0

    def readline(self):
        """readline - next line with its terminator, b"" at EOF; ValueError when too long."""
        while True:
            i = self.buf.find(b"\n", self.pos)
            if i >= 0:
                line = bytes(self.buf[self.pos:i + 1])
                self.pos = i + 1
                if self.pos > 65536:
                    del self.buf[:self.pos]
                    self.pos = 0
                return line
            if len(self.buf) - self.pos > MAX_LINE:
                raise ValueError("line longer than %d bytes" % MAX_LINE)
            data = self.sock.recv(65536)
            if not data:
                line = bytes(self.buf[self.pos:])
                self.buf, self.pos = bytearray(), 0
                return line
            self.buf += data

    def pending(self):
        """pending - bytes received but not read yet."""
        return len(self.buf) - self.pos

    def discard(self):
        """discard - drop buffered input (after STARTTLS)."""
        self.buf, self.pos = bytearray(), 0


def parse_path(arg, keyword):
    """parse_path - ("addr", {PARAM: value}) from "FROM:<addr> P=V ..." or None when malformed."""
    if not arg[:len(keyword) + 1].upper() == keyword + ":":
        return None
    rest = arg[len(keyword) + 1:].lstrip(" ")
    if not rest.startswith("<") or ">" not in rest:
        return None
    end = rest.index(">")
    addr = rest[1:end]
    params = {}
    for token in rest[end + 1:].split():
        k, eq, v = token.partition("=")
        params[k.upper()] = v if eq else None
    return addr, params


class Server:
    """Server - configuration and shared counters of one sink."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.dir = cfg["dir"]
        self.lock = threading.Lock()
        self.msg_seq = 0
        self.session_seq = 0
        self.tls_ctx = None
        self.local = threading.local()
        if cfg.get("chain"):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(cfg["chain"], cfg["key"])
            if cfg.get("tls_max_version"):
                ctx.maximum_version = ssl.TLSVersion[cfg["tls_max_version"].replace(".", "_").replace("TLSV", "TLSv")]
            ctx.sni_callback = self.on_sni
            self.tls_ctx = ctx

    def on_sni(self, sslobj, name, ctx):
        """on_sni - remember the client's SNI for the connection in this thread."""
        self.local.sni = name
        return None

    def next_msg(self):
        """next_msg - the next message sequence number."""
        with self.lock:
            self.msg_seq += 1
            return self.msg_seq

    def next_session(self, peer):
        """next_session - count a new connection in sessions.log."""
        with self.lock:
            self.session_seq += 1
            with open(os.path.join(self.dir, "sessions.log"), "a") as f:
                f.write("%d %s %d %.3f\n" % (self.session_seq, peer[0], peer[1], time.time()))
            return self.session_seq


class Session:
    """Session - one SMTP/LMTP conversation."""

    def __init__(self, server, sock, peer):
        self.srv = server
        self.cfg = server.cfg
        self.sock = sock
        self.peer = peer
        self.number = server.next_session(peer)
        self.transcript = open(os.path.join(server.dir, "sessions", "%08d.log" % self.number), "a", buffering=1)
        self.reader = LineReader(sock)
        self.tls = None
        self.cipher = None
        self.sni = None
        self.helo = None
        self.auth_user = None
        self.reset()

    def reset(self):
        """reset - forget the mail transaction."""
        self.mail_from = None
        self.mail_params = None
        self.rcpts = []
        self.rcpts_rejected = []

    def send(self, text):
        """send - one reply (the text may hold several CRLF-separated lines)."""
        self.sock.sendall(text.replace("\r\n", "\n").replace("\n", "\r\n").encode() + b"\r\n")

    def start_tls(self):
        """start_tls - TLS handshake in this thread; False (and logged) when it fails."""
        self.srv.local.sni = None
        self.sock.settimeout(HANDSHAKE_TIMEOUT)
        try:
            self.sock = self.srv.tls_ctx.wrap_socket(self.sock, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.note("TLS handshake failed: %s" % e)
            return False
        self.sock.settimeout(IDLE_TIMEOUT)
        self.reader = LineReader(self.sock)
        self.tls = self.sock.version()
        self.cipher = self.sock.cipher()[0]
        self.sni = self.srv.local.sni
        return True

    def note(self, text):
        """note - a diagnostic line in the sink log and the transcript."""
        print("session %d %s: %s" % (self.number, self.peer[0], text), file=sys.stderr, flush=True)
        self.transcript.write("# %s\n" % text)

    def ehlo_lines(self):
        """ehlo_lines - the extensions advertised now."""
        size = self.cfg.get("size_limit") or 10240000
        base = self.cfg.get("ehlo_extensions")
        if base is None:
            base = ["PIPELINING", "SIZE %d" % size, "8BITMIME", "ENHANCEDSTATUSCODES", "SMTPUTF8", "DSN"]
        lines = list(base)
        if self.cfg["starttls"] and not self.tls:
            lines.append("STARTTLS")
        if self.cfg.get("requiretls") and self.tls:
            lines.append("REQUIRETLS")
        if self.auth_allowed():
            lines.append("AUTH PLAIN LOGIN")
        return lines

    def auth_allowed(self):
        """auth_allowed - AUTH is configured and allowed on this connection now."""
        return bool(self.cfg.get("auth")) and (self.tls is not None or self.cfg.get("auth_plaintext"))

    def run(self):
        """run - the whole conversation."""
        self.sock.settimeout(IDLE_TIMEOUT)
        if self.cfg["implicit_tls"] and not self.start_tls():
            return
        code = self.cfg["greeting_code"]
        host = self.cfg["hostname"]
        proto = "LMTP" if self.cfg["lmtp"] else "ESMTP"
        if self.pause_or_drop("GREETING"):
            return
        if code == 220:
            self.send("220 %s %s test sink" % (host, proto))
        else:
            self.send("%d %s no service here" % (code, host))
            if code == 421:
                return
        while True:
            raw = self.reader.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            self.transcript.write(line + "\n")
            verb, _, arg = line.partition(" ")
            verb = verb.upper()
            if verb == "QUIT":
                self.send("221 2.0.0 bye")
                return
            if code != 220:
                self.send("503 5.5.1 no service here, only QUIT")
                continue
            handler = getattr(self, "cmd_" + verb, None) if verb.isalpha() else None
            if handler is not None and self.pause_or_drop(verb):
                return
            if handler is None:
                self.send("500 5.5.2 command not recognized")
            elif handler(arg) is False:
                return

    def pause_or_drop(self, step):
        """pause_or_drop - apply the configured delay before step's reply; True: hang up instead."""
        delay = (self.cfg.get("delays") or {}).get(step)
        if delay:
            time.sleep(float(delay))
        if step in (self.cfg.get("disconnect") or []):
            self.note("hanging up at %s (disconnect option)" % step)
            return True
        return False

    def cmd_EHLO(self, arg, lmtp_verb=False):
        """cmd_EHLO - greet with the extensions."""
        if self.cfg["lmtp"] != lmtp_verb:
            self.send("500 5.5.1 use %s" % ("LHLO" if self.cfg["lmtp"] else "EHLO"))
            return
        if not arg.strip():
            self.send("501 5.5.4 hostname required")
            return
        self.helo = arg.strip()
        self.reset()
        lines = [self.cfg["hostname"]] + self.ehlo_lines()
        self.send("\r\n".join(("250 " if i == len(lines) - 1 else "250-") + text for i, text in enumerate(lines)))

    def cmd_LHLO(self, arg):
        """cmd_LHLO - the LMTP greeting."""
        return self.cmd_EHLO(arg, lmtp_verb=True)

    def cmd_HELO(self, arg):
        """cmd_HELO - plain SMTP greeting, no extensions."""
        if self.cfg["lmtp"]:
            self.send("500 5.5.1 use LHLO")
            return
        if not arg.strip():
            self.send("501 5.5.4 hostname required")
            return
        self.helo = arg.strip()
        self.reset()
        self.send("250 %s" % self.cfg["hostname"])

    def cmd_STARTTLS(self, arg):
        """cmd_STARTTLS - RFC 3207; buffered plaintext is discarded."""
        if not self.cfg["starttls"] or self.tls:
            self.send("502 5.5.1 STARTTLS not available")
            return
        if arg:
            self.send("501 5.5.4 no arguments allowed")
            return
        if self.cfg.get("starttls_reply"):
            self.send(self.cfg["starttls_reply"])
            return
        self.send("220 2.0.0 ready to start TLS")
        if self.reader.pending():
            self.note("discarded %d bytes sent after STARTTLS" % self.reader.pending())
            self.reader.discard()
        if not self.start_tls():
            return False
        self.helo = None
        self.auth_user = None
        self.reset()

    def read_auth_line(self, prompt):
        """read_auth_line - send a 334 prompt, return the decoded answer or None when cancelled."""
        self.send("334 " + prompt)
        answer = self.reader.readline().decode("ascii", "replace").strip()
        if answer == "*" or not answer:
            return None
        return base64.b64decode(answer, validate=True)

    def cmd_AUTH(self, arg):
        """cmd_AUTH - PLAIN and LOGIN against the configured users."""
        if not self.cfg.get("auth"):
            self.send("502 5.5.1 AUTH not available")
            return
        if not self.auth_allowed():
            self.send("538 5.7.11 encryption required for requested authentication mechanism")
            return
        if self.helo is None or self.auth_user is not None or self.mail_from is not None:
            self.send("503 5.5.1 bad sequence of commands")
            return
        mech, _, initial = arg.partition(" ")
        mech = mech.upper()
        try:
            if mech == "PLAIN":
                blob = base64.b64decode(initial, validate=True) if initial and initial != "=" else \
                    self.read_auth_line("")
                if blob is None:
                    self.send("501 5.7.0 authentication cancelled")
                    return
                parts = blob.split(b"\0")
                if len(parts) != 3:
                    self.send("501 5.5.2 malformed PLAIN response")
                    return
                user, password = parts[1].decode("utf-8", "replace"), parts[2].decode("utf-8", "replace")
            elif mech == "LOGIN":
                u = base64.b64decode(initial, validate=True) if initial else self.read_auth_line("VXNlcm5hbWU6")
                p = self.read_auth_line("UGFzc3dvcmQ6") if u is not None else None
                if u is None or p is None:
                    self.send("501 5.7.0 authentication cancelled")
                    return
                user, password = u.decode("utf-8", "replace"), p.decode("utf-8", "replace")
            else:
                self.send("504 5.5.4 unrecognized authentication type")
                return
        except (binascii.Error, ValueError):
            self.send("501 5.5.2 cannot decode response")
            return
        if self.cfg["auth"].get(user) == password:
            self.auth_user = user
            self.send("235 2.7.0 authentication successful")
        else:
            self.send("535 5.7.8 authentication credentials invalid")

    def cmd_MAIL(self, arg):
        """cmd_MAIL - start a transaction."""
        if self.helo is None:
            self.send("503 5.5.1 say %s first" % ("LHLO" if self.cfg["lmtp"] else "EHLO"))
            return
        if self.mail_from is not None:
            self.send("503 5.5.1 nested MAIL command")
            return
        parsed = parse_path(arg, "FROM")
        if parsed is None:
            self.send("501 5.5.4 syntax: MAIL FROM:<address>")
            return
        addr, params = parsed
        if self.cfg.get("auth_required") and self.auth_user is None:
            self.send("530 5.7.0 authentication required")
            return
        if "REQUIRETLS" in params and not (self.cfg.get("requiretls") and self.tls):
            self.send("555 5.5.4 REQUIRETLS not supported here")
            return
        limit = self.cfg.get("size_limit")
        if limit and params.get("SIZE") and params["SIZE"].isdigit() and int(params["SIZE"]) > limit:
            self.send("552 5.3.4 message size exceeds fixed maximum message size")
            return
        if self.cfg.get("mail_reply"):
            self.send(self.cfg["mail_reply"])
            if not self.cfg["mail_reply"].startswith("2"):
                return
        else:
            self.send("250 2.1.0 sender ok")
        self.mail_from, self.mail_params = addr, params

    def cmd_RCPT(self, arg):
        """cmd_RCPT - add a recipient; rcpt_replies may refuse it."""
        if self.mail_from is None:
            self.send("503 5.5.1 need MAIL first")
            return
        parsed = parse_path(arg, "TO")
        if parsed is None:
            self.send("501 5.5.4 syntax: RCPT TO:<address>")
            return
        addr, params = parsed
        replies = self.cfg.get("rcpt_replies") or {}
        reply = replies.get(addr.lower()) or replies.get("*") or "250 2.1.5 recipient ok"
        limit = self.cfg.get("max_rcpts")
        if limit and reply.startswith("2") and len(self.rcpts) >= limit:
            reply = "452 4.5.3 too many recipients"
        self.send(reply)
        if reply.startswith("2"):
            self.rcpts.append([addr, params])
        else:
            self.rcpts_rejected.append([addr, reply])

    def read_data(self):
        """read_data - message lines up to the lone dot, dot-unstuffed; None at EOF."""
        chunks = []
        while True:
            line = self.reader.readline()
            if not line:
                return None
            if line in (b".\r\n", b".\n"):
                return b"".join(chunks)
            chunks.append(line[1:] if line.startswith(b".") else line)

    def cmd_DATA(self, arg):
        """cmd_DATA - receive and record the message."""
        if self.mail_from is None:
            self.send("503 5.5.1 need MAIL first")
            return
        if not self.rcpts:
            self.send("554 5.5.1 no valid recipients")
            return
        self.send("354 end data with <CR><LF>.<CR><LF>")
        data = self.read_data()
        if data is None:
            self.note("connection lost during DATA")
            return False
        if self.pause_or_drop("DOT"):
            return False
        seq = self.srv.next_msg()
        limit = self.cfg.get("size_limit")
        record = {"seq": seq, "session": self.number, "peer": self.peer[0], "time": time.time(),
                  "proto": "LMTP" if self.cfg["lmtp"] else "ESMTP", "helo": self.helo,
                  "tls": self.tls, "cipher": self.cipher, "sni": self.sni, "auth": self.auth_user,
                  "mail_from": self.mail_from, "mail_params": self.mail_params, "rcpts": self.rcpts,
                  "rcpts_rejected": self.rcpts_rejected, "data": data.decode("utf-8", "replace"),
                  "data_b64": base64.b64encode(data).decode("ascii")}
        if limit and len(data) > limit:
            replies = ["552 5.3.4 message size exceeds fixed maximum message size"]
        elif self.cfg["lmtp"]:
            per = self.cfg.get("data_replies") or {}
            default = self.cfg.get("data_reply") or "250 2.0.0 delivered (%d)" % seq
            replies = [per.get(a.lower()) or per.get("*") or default for a, _ in self.rcpts]
            record["lmtp_replies"] = [[a, r] for (a, _), r in zip(self.rcpts, replies)]
        else:
            replies = [self.cfg.get("data_reply") or "250 2.0.0 queued as %d" % seq]
        record["reply"] = replies[0] if not self.cfg["lmtp"] else None
        record["accepted"] = any(r.startswith("2") for r in replies)
        write_json(os.path.join(self.srv.dir, "msgs", "%08d.json" % seq), record)
        for r in replies:
            self.send(r)
        self.reset()

    def cmd_RSET(self, arg):
        """cmd_RSET - abort the transaction."""
        self.reset()
        self.send("250 2.0.0 reset")

    def cmd_NOOP(self, arg):
        """cmd_NOOP - nothing."""
        self.send("250 2.0.0 ok")

    def cmd_VRFY(self, arg):
        """cmd_VRFY - never verifies."""
        self.send("252 2.1.5 cannot verify, will attempt delivery")

    def cmd_HELP(self, arg):
        """cmd_HELP - a pointer, nothing more."""
        self.send("214 2.0.0 test sink")


def serve(server, conn, peer):
    """serve - one connection in its own thread; errors end only that connection."""
    session = None
    try:
        session = Session(server, conn, peer)
        session.run()
    except (OSError, ValueError, ssl.SSLError) as e:
        print("connection from %s: %s" % (peer[0], e), file=sys.stderr, flush=True)
    finally:
        if session is not None:
            session.transcript.close()
            conn = session.sock
        try:
            conn.close()
        except OSError:
            pass


def listen(addr, port):
    """listen - bind and listen, waiting while another process still holds the address."""
    end = time.time() + BIND_WAIT
    while True:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((addr, port))
            s.listen(128)
            return s
        except OSError as e:
            s.close()
            if e.errno != errno.EADDRINUSE or time.time() > end:
                raise
            time.sleep(0.2)


def main():
    """main - load the config, listen, accept forever."""
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    ip = ipaddress.ip_address(cfg["addr"])
    if ip.version != 4 or ip not in ipaddress.ip_network("127.0.0.0/8"):
        sys.exit("smtp_sink: %s is outside 127.0.0.0/8" % cfg["addr"])
    server = Server(cfg)
    try:
        sock = listen(cfg["addr"], cfg["port"])
    except OSError as e:
        sys.exit("smtp_sink: cannot listen on %s:%d: %s" % (cfg["addr"], cfg["port"], e))
    with open(os.path.join(cfg["dir"], "ready"), "w") as f:
        f.write("%d\n" % os.getpid())
    print("smtp sink on %s:%d pid %d" % (cfg["addr"], cfg["port"], os.getpid()), file=sys.stderr, flush=True)
    while True:
        try:
            conn, peer = sock.accept()
        except OSError as e:
            print("accept: %s" % e, file=sys.stderr, flush=True)
            time.sleep(0.1)
            continue
        threading.Thread(target=serve, args=(server, conn, peer), daemon=True).start()


if __name__ == "__main__":
    main()
