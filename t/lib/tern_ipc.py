"""tern_ipc - tern's internal protocol (tern-ipc(7)) for tests, and a
client for the cleanup service (lib/mail/cleanup_proto.h).

A frame is a 4-byte big-endian payload length, then the payload: the
version byte 1, then attributes, each type ('S', 'I', 'D'), name length
(1 byte), name, value length (4 bytes, big-endian), value. Attributes are
(name, value) pairs: int -> 'I', str -> 'S', bytes -> 'D'. Names may
repeat; order is kept.

    conn = Conn(instance.path("queue", "private", "cleanup"))
    conn.send([("op", "begin"), ("sender", "a@b"), ("rcpt", "c@d")])
    conn.send_stream(b"Subject: x\\r\\n\\r\\nbody\\r\\n")
    reply = conn.recv()                    # [("status", "ok"), ...]

CleanupClient wraps the conversation of one message:

    c = CleanupClient(path)
    r = c.message(content, sender="a@b", rcpts=["c@d"], helo="client.test")
    r["status"], r["queue_id"]

Every read has a deadline (timeout seconds); a read that passes it raises
socket.timeout, the end of the connection between frames returns None.
"""
import socket
import struct

VERSION = 1
FRAME_MAX = 1024 * 1024
CHUNK_MAX = 64 * 1024

# cleanup_proto.h
FLAG_8BITMIME = 1 << 0
FLAG_SMTPUTF8 = 1 << 1
FLAG_REQUIRETLS = 1 << 2
FLAG_SUBMISSION = 1 << 3
FLAG_BDAT = 1 << 4
FLAG_HOLD = 1 << 5
NOTIFY_NEVER = 1 << 0
NOTIFY_SUCCESS = 1 << 1
NOTIFY_FAILURE = 1 << 2
NOTIFY_DELAY = 1 << 3


def encode(attrs, version=VERSION):
    """One frame (prefix included) from [(name, value)]."""
    body = bytearray([version])
    for name, value in attrs:
        n = name.encode()
        if isinstance(value, bool):
            raise TypeError("attribute %s: bool is not a protocol type" % name)
        if isinstance(value, int):
            t, v = b"I", struct.pack(">q", value)
        elif isinstance(value, str):
            t, v = b"S", value.encode("utf-8", "surrogateescape")
        else:
            t, v = b"D", bytes(value)
        body += t + bytes([len(n)]) + n + struct.pack(">I", len(v)) + v
    return struct.pack(">I", len(body)) + bytes(body)


def decode(payload):
    """[(name, value)] from a payload (without the length prefix)."""
    if not payload or payload[0] != VERSION:
        raise ValueError("bad version")
    pos, attrs = 1, []
    while pos < len(payload):
        if pos + 2 > len(payload):
            raise ValueError("truncated attribute header")
        t, nl = chr(payload[pos]), payload[pos + 1]
        name = payload[pos + 2:pos + 2 + nl].decode()
        if pos + 6 + nl > len(payload):
            raise ValueError("truncated attribute header")
        (vl,) = struct.unpack_from(">I", payload, pos + 2 + nl)
        pos += 6 + nl
        v = payload[pos:pos + vl]
        if len(v) != vl:
            raise ValueError("truncated value")
        pos += vl
        if t == "I":
            if vl != 8:
                raise ValueError("integer of %d bytes" % vl)
            v = struct.unpack(">q", v)[0]
        elif t == "S":
            v = v.decode("utf-8", "surrogateescape")
        elif t != "D":
            raise ValueError("unknown type %r" % t)
        attrs.append((name, v))
    return attrs


def get(attrs, name, default=None):
    """The first value of name in [(name, value)]."""
    for n, v in attrs:
        if n == name:
            return v
    return default


class Conn:
    """A blocking connection to a tern UNIX socket."""

    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def send_raw(self, data):
        self.sock.sendall(data)

    def send(self, attrs):
        self.sock.sendall(encode(attrs))

    def send_stream(self, data, chunk=CHUNK_MAX):
        """Content as "chunk" frames, then "end" with the byte count."""
        out = bytearray()
        for i in range(0, len(data), chunk):
            out += encode([("chunk", data[i:i + chunk])])
        out += encode([("end", len(data))])
        self.sock.sendall(bytes(out))

    def _fill(self, n):
        while len(self.buf) < n:
            got = self.sock.recv(65536)
            if not got:
                return False
            self.buf += got
        return True

    def recv(self):
        """The next frame as [(name, value)], or None at the end of the connection."""
        if not self._fill(4):
            if self.buf:
                raise ConnectionError("connection closed inside a frame")
            return None
        (n,) = struct.unpack(">I", self.buf[:4])
        if n == 0 or n > FRAME_MAX:
            raise ValueError("frame size %d" % n)
        if not self._fill(4 + n):
            raise ConnectionError("connection closed inside a frame")
        payload, self.buf = self.buf[4:4 + n], self.buf[4 + n:]
        return decode(payload)

    def closed_by_peer(self):
        """True when the peer closes (EOF or reset) before sending anything more."""
        try:
            return self.recv() is None
        except (ConnectionError, OSError):
            return True

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class CleanupClient(Conn):
    """A message source talking to cleanup (cleanup_proto.h)."""

    def begin_attrs(self, sender="sender@client.test", rcpts=("rcpt@local.test",), orcpts=None,
                    notify=None, flags=0, size=0, client_name="client.test",
                    client_addr="127.0.0.1", client_port=40000, helo="client.test",
                    protocol="ESMTP", tls_proto=None, tls_cipher=None, tls_bits=None,
                    auth_user=None, ret=None, envid=None, session=None, service=None,
                    origin_uid=None, extra=()):
        a = [("op", "begin"), ("sender", sender)]
        for r in rcpts:
            a.append(("rcpt", r))
        for o in orcpts or ():
            a.append(("orcpt", o))
        for n in notify or ():
            a.append(("notify", n))
        for name, value in (("flags", flags), ("size", size), ("client_name", client_name),
                            ("client_addr", client_addr), ("client_port", client_port),
                            ("helo", helo), ("protocol", protocol), ("tls_proto", tls_proto),
                            ("tls_cipher", tls_cipher), ("tls_bits", tls_bits),
                            ("auth_user", auth_user), ("ret", ret), ("envid", envid),
                            ("session", session), ("service", service),
                            ("origin_uid", origin_uid)):
            if value is not None:
                a.append((name, value))
        a.extend(extra)
        return a

    def message(self, content, chunk=CHUNK_MAX, **kw):
        """Send one message, wait for the RESULT: a dict of its attributes (None: closed)."""
        self.send(self.begin_attrs(**kw))
        self.send_stream(content, chunk)
        reply = self.recv()
        return dict(reply) if reply is not None else None
