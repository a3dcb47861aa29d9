#!/usr/bin/python3
"""sts_server - HTTPS MTA-STS policy server of the tern test world (started by t/lib/world.py).

    sts_server.py CONFIG.json      {"addr", "port", "dir", "pem"}

Contract. Listens on addr:port (127.0.0.0/8 only; waits up to 30 s while the
address is busy), writes DIR/ready-ADDR-PORT once listening. Each
connection is handled in its own thread, TLS handshake included, so a
stalled client blocks nobody. The certificate and key come from the PEM file
"pem" and are reloaded when that file changes (world.py rewrites it when a
new policy domain needs a SAN). GET /.well-known/mta-sts.txt with Host
mta-sts.<domain> serves DIR/policies/<domain>.json ({"body", "status",
"content_type", "headers"}); other GETs are 404. A POST (any host and path,
body up to 10 MB, e.g. an SMTP TLS report, RFC 8460) is answered 200 and
recorded with its headers and body. Every request is appended to
DIR/requests.log as one JSON line {method, host, path, status, sni, peer,
and for POST headers and body_b64}. Runs until SIGTERM.
"""
import base64
import errno
import http.server
import ipaddress
import json
import os
import socket
import ssl
import sys
import threading
import time

HANDSHAKE_TIMEOUT = 30
BIND_WAIT = 30
WELL_KNOWN = "/.well-known/mta-sts.txt"
MAX_POST = 10 << 20


class Tls:
    """Tls - the server's SSL context, rebuilt when the PEM file changes."""

    def __init__(self, pem):
        self.pem = pem
        self.lock = threading.Lock()
        self.stamp = None
        self.ctx = None
        self.local = threading.local()

    def context(self):
        """context - the current context (reloading the PEM when it changed)."""
        with self.lock:
            st = os.stat(self.pem)
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
            if stamp != self.stamp:
                ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
                ctx.load_cert_chain(self.pem)
                ctx.sni_callback = self.on_sni
                self.ctx, self.stamp = ctx, stamp
            return self.ctx

    def on_sni(self, sslobj, name, ctx):
        """on_sni - remember the SNI of the handshake running in this thread."""
        self.local.sni = name
        return None


class Server(http.server.ThreadingHTTPServer):
    """Server - threads per connection; the TLS handshake happens in the thread."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, addr, handler, tls, state_dir):
        self.tls = tls
        self.state_dir = state_dir
        self.log_lock = threading.Lock()
        super().__init__(addr, handler, bind_and_activate=False)

    def server_bind(self):
        """server_bind - bind, waiting while another process holds the address."""
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        end = time.time() + BIND_WAIT
        while True:
            try:
                self.socket.bind(self.server_address)
                break
            except OSError as e:
                if e.errno != errno.EADDRINUSE or time.time() > end:
                    raise
                time.sleep(0.2)
        self.server_address = self.socket.getsockname()

    def finish_request(self, request, client_address):
        """finish_request - TLS handshake (in this connection's thread), then HTTP."""
        self.tls.local.sni = None
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls_sock = self.tls.context().wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as e:
            print("TLS handshake with %s failed: %s" % (client_address[0], e), file=sys.stderr, flush=True)
            return
        tls_sock.sni = self.tls.local.sni
        try:
            self.RequestHandlerClass(tls_sock, client_address, self)
        finally:
            try:
                tls_sock.close()
            except OSError:
                pass

    def record(self, entry):
        """record - append one request to requests.log."""
        with self.log_lock:
            with open(os.path.join(self.state_dir, "requests.log"), "a") as f:
                f.write(json.dumps(entry) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    """Handler - GET of the policy file; everything else 404."""

    protocol_version = "HTTP/1.1"

    def do_GET(self):
        """do_GET - serve the policy of the Host's domain."""
        host = (self.headers.get("Host") or "").split(":")[0].lower().rstrip(".")
        policy = None
        if self.path == WELL_KNOWN and host.startswith("mta-sts.") and "/" not in host and ".." not in host:
            try:
                with open(os.path.join(self.server.state_dir, "policies", host[len("mta-sts."):] + ".json")) as f:
                    policy = json.load(f)
            except FileNotFoundError:
                policy = None
        if policy is None:
            status, body, ctype, headers = 404, "not found\n", "text/plain", {}
        else:
            status, body = policy["status"], policy["body"]
            ctype, headers = policy["content_type"], policy["headers"]
        data = body.encode()
        self.server.record({"method": "GET", "host": host, "path": self.path, "status": status,
                            "sni": getattr(self.connection, "sni", None), "peer": self.client_address[0]})
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        """do_POST - record the body (a TLS report, say) and answer 200."""
        host = (self.headers.get("Host") or "").split(":")[0].lower().rstrip(".")
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or int(length) > MAX_POST:
            self.send_error(411 if length is None else 413)
            return
        body = self.rfile.read(int(length))
        self.server.record({"method": "POST", "host": host, "path": self.path, "status": 200,
                            "sni": getattr(self.connection, "sni", None), "peer": self.client_address[0],
                            "headers": dict(self.headers.items()),
                            "body_b64": base64.b64encode(body).decode("ascii")})
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", "3")
        self.end_headers()
        self.wfile.write(b"ok\n")

    def log_message(self, fmt, *args):
        """log_message - one line per request on stderr."""
        print("%s %s" % (self.client_address[0], fmt % args), file=sys.stderr, flush=True)


def main():
    """main - load the config, listen, serve forever."""
    with open(sys.argv[1]) as f:
        cfg = json.load(f)
    ip = ipaddress.ip_address(cfg["addr"])
    if ip.version != 4 or ip not in ipaddress.ip_network("127.0.0.0/8"):
        sys.exit("sts_server: %s is outside 127.0.0.0/8" % cfg["addr"])
    tls = Tls(cfg["pem"])
    tls.context()
    server = Server((cfg["addr"], cfg["port"]), Handler, tls, cfg["dir"])
    try:
        server.server_bind()
        server.server_activate()
    except OSError as e:
        sys.exit("sts_server: cannot listen on %s:%d: %s" % (cfg["addr"], cfg["port"], e))
    with open(os.path.join(cfg["dir"], "ready-%s-%d" % (cfg["addr"], cfg["port"])), "w") as f:
        f.write("%d\n" % os.getpid())
    print("mta-sts server on https://%s:%d/ pid %d" % (cfg["addr"], cfg["port"], os.getpid()),
          file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
