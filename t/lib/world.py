"""world - the test world of tern's integration tests: DNSSEC-signed DNS,
a test PKI with DANE TLSA data, an HTTPS MTA-STS policy server, SMTP/LMTP
sinks and a GeoIP database, all on 127.0.0.0/8 and all private to one World.

Contract. A World owns one temporary directory (under t/tmp, removed by
stop() unless TERN_KEEP_WORLD is set) and every process it starts; each is
started in the foreground as a child of the test, recorded by PID, and
stopped by that PID (stop() is also registered with atexit, and children
get SIGTERM if the test process dies). Nothing binds outside 127.0.0.0/8.
Needs root (ports 25/443/465) and the Debian tools nsd, ldnsutils,
unbound-host, openssl (and perl with libmaxmind-db-writer-perl only when
mmdb() is called): World.usable() says whether they are there.

    from world import World, Sink
    w = World()
    w.standard()            # zones, certs and MTA-STS policies of the standard world
    w.start_dns()           # sign, start NSD on 127.0.0.1:w.dns_port, write w.unbound_conf
    w.sts_server()          # https://mta-sts.<domain>/ on 127.0.0.4:443
    s = w.sink("127.0.0.2", cert="mx1.example.test")
    ... s.wait(1) ...
    w.stop()

API (beyond that): w.zone(name, records, signed=True, bogus=False) with
placeholders {tlsa311:CERT}, {tlsa301:CERT}, {tlsa201:ca}; w.restart_dns()
re-signs after zone changes (same port); w.stop_dns(); w.cert(name, ca="ca",
san=None) -> (chain, key) and w.certs([names]) (in parallel); w.ca_file,
w.wrong_ca_file; w.tlsa311/tlsa301(CERT), w.tlsa201(ca); w.sts_policy(domain,
text or None, status=200, content_type="text/plain", headers=None);
w.sts_requests(domain), w.sts_log(); w.standard_sinks(**options) ->
{addr: Sink} on every MX address of the standard world; w.https_name(host)
adds a SAN to the HTTPS server's certificate and w.https_posts(host=None)
lists the POSTs it recorded (TLSRPT https rua); w.sink(...) -> Sink with messages(),
attempts() (rejected DATA too), wait(n, timeout) (returns what is there
when it times out: check the length), sessions(), commands() (client lines
per session), log(), stop(), pid; w.mmdb(path=None); w.dns_port,
w.unbound_conf, w.ta_file, w.dir. tlsa*(CERT) and sink(cert=CERT) use the
default certificate of that name (ca "ca", SAN = the name).
Starting the standard world with DNS, the policy server and a sink takes
about a second; keys are made once per World, zones re-signed at each start.

The standard world (standard() defines it; start_dns(), sts_server() and
sink()/standard_sinks() start its parts):
    test.            signed, the root of the world; its KSK's DS is the trust anchor
    example.test     signed: MX 10 mx1, MX 20 mx2 (order varies in answers),
                     @ A 127.0.0.5, mx1 A 127.0.0.2, mx2 A 127.0.0.3,
                     mta-sts A 127.0.0.4, _25._tcp.mx1 TLSA 3 1 1 (mx1's key),
                     _25._tcp.mx2 TLSA 2 0 1 (the test CA), _mta-sts TXT,
                     _smtp._tls TXT (rua=mailto:tlsrpt@example.test), SPF TXT,
                     client-jp A 127.0.0.10, client-us A 127.0.0.11
    example2.test    signed: MX 10 mx (127.0.0.6), mta-sts A 127.0.0.4,
                     _25._tcp.mx TLSA 2 0 1, _mta-sts TXT
    insecure.test    unsigned, no DS: MX 10 mx (127.0.0.7), TLSA, _mta-sts TXT
    bogus.test       signed, then mx A 127.0.0.8 -> .9, MX 10 -> 20, TXT id and
                     TLSA hash edited after signing: validation fails (BOGUS)
    0.0.127.in-addr.arpa  unsigned: PTR 2 mx1, 3 mx2, 10 client-jp, 11 client-us
    MTA-STS policies: example.test mode enforce (mx1.example.test,
    *.example.test, max_age 86400), example2.test mode testing (mx.example2.test)
    certificates: mx1.example.test, mx2.example.test, mx.example2.test

Pointing a tern Instance at the world (tern_test.Instance):
    inst.conf("dns_resolver_config", w.unbound_conf)   # libunbound config file
    the smtp CA file parameter      = w.ca_file        # verify peers with the test CA
    the MTA-STS CA file parameter   = w.ca_file        # (smtp_tls_CAfile, sts_ca_file
                                                       #  at the time of writing)
    smtp_bind_address = 127.0.0.x                      # when the source address matters
    the GeoIP database parameter    = w.mmdb()
Sinks listen on port 25 of the MX addresses, as real MX hosts do, so the
smtp client needs no port override. The world directory and the files
daemons read (CA, unbound.conf, trust anchor, mmdb) are world-readable.
The unbound config has local-zone "test." nodefault (unbound's built-in
RFC 6761 zone would answer NXDOMAIN), a stub-zone per zone and for "." (names
outside the world fail at once with SERVFAIL) and trust-anchor-file w.ta_file.
Tern must read verdicts from secure/bogus, never from rcode alone: a bogus
answer comes with rcode 0 and the forged data. Keys change with every World,
so tests read TLSA data from w.tlsa311() etc. and never hard-code it.

Sinks record each accepted message as JSON:
    {"seq", "session", "time", "peer", "proto" ("ESMTP"|"LMTP"), "helo", "tls" (version or
     None), "cipher", "sni", "auth" (user or None), "mail_from", "mail_params"
     (dict KEYWORD -> value or None), "rcpts" ([[addr, params-dict]]),
     "rcpts_rejected" ([[addr, reply]]), "reply" (the DATA reply; for LMTP
     "lmtp_replies" [[addr, reply]]), "accepted", "data" (text), "data_b64"}
commands() gives the client's lines per session as sent (AUTH answers
included); lines starting "# " are the sink's own notes (discarded input
after STARTTLS, failed handshakes, hang-ups).
"""
import atexit
import base64
import ctypes
import hashlib
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("TERN_SRC") or os.path.dirname(os.path.dirname(HERE))
WORLD_DIR = os.path.join(SRC, "t", "world")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else None
TOOL_PATH = os.environ.get("PATH", "/usr/bin:/bin") + ":/usr/sbin:/sbin:/usr/local/sbin"
TOOLS = ("nsd", "ldns-keygen", "ldns-signzone", "unbound-host", "drill", "openssl")
DNS_ADDR = "127.0.0.1"
SIG_BEFORE = 86400           # signatures valid from now-1d ...
SIG_AFTER = 90 * 86400       # ... to now+90d
START_TIMEOUT = 40.0         # a sink waits up to 30 s for a busy address

STS_ENFORCE = ("version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\n"
               "mx: *.example.test\r\nmax_age: 86400\r\n")
STS_TESTING = "version: STSv1\r\nmode: testing\r\nmx: mx.example2.test\r\nmax_age: 604800\r\n"


def which(tool):
    """which - full path of a tool, also looking in the sbin directories."""
    return shutil.which(tool, path=TOOL_PATH)


def _die_with_parent():
    """_die_with_parent - preexec hook: the child gets SIGTERM when the test dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)          # PR_SET_PDEATHSIG
    except OSError:
        pass


def _check_loopback(addr):
    """_check_loopback - refuse any address outside 127.0.0.0/8."""
    ip = ipaddress.ip_address(addr)
    if ip.version != 4 or ip not in ipaddress.ip_network("127.0.0.0/8"):
        raise ValueError("world: %s is outside 127.0.0.0/8" % addr)


def _run(args, cwd=None, what=None):
    """_run - run a tool, raise with its output when it fails."""
    r = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, LC_ALL="C", PATH=TOOL_PATH))
    if r.returncode != 0:
        raise RuntimeError("world: %s failed (exit %d): %s\n%s%s" % (
            what or args[0], r.returncode, " ".join(args), r.stdout, r.stderr))
    return r.stdout


def _run_all(jobs):
    """_run_all - run (args, cwd, what) jobs in parallel, return their stdouts."""
    procs = []
    for args, cwd, what in jobs:
        procs.append((subprocess.Popen(args, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       text=True, env=dict(os.environ, LC_ALL="C", PATH=TOOL_PATH)),
                      args, what))
    outs, errors = [], []
    for p, args, what in procs:
        out, err = p.communicate(timeout=120)
        if p.returncode != 0:
            errors.append("%s failed (exit %d): %s\n%s%s" % (what, p.returncode, " ".join(args), out, err))
        outs.append(out)
    if errors:
        raise RuntimeError("world: " + "\n".join(errors))
    return outs


def _write(path, text, mode=0o644):
    """_write - write a file atomically with the given mode."""
    tmp = path + ".tmp%d" % os.getpid()
    with open(tmp, "w") as f:
        f.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def _der_item(der, pos):
    """_der_item - (tag, content start, content end) of the DER item at pos."""
    if pos + 2 > len(der):
        raise ValueError("DER: truncated at %d" % pos)
    tag, length = der[pos], der[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7f
        if n == 0 or n > 4 or pos + n > len(der):
            raise ValueError("DER: bad length at %d" % pos)
        length = int.from_bytes(der[pos:pos + n], "big")
        pos += n
    if pos + length > len(der):
        raise ValueError("DER: item at %d runs past the end" % pos)
    return tag, pos, pos + length


def spki_der(cert_der):
    """spki_der - the SubjectPublicKeyInfo of a DER certificate (RFC 5280 order)."""
    _, start, _ = _der_item(cert_der, 0)          # Certificate
    _, pos, _ = _der_item(cert_der, start)        # tbsCertificate
    tag, _, end = _der_item(cert_der, pos)
    if tag == 0xa0:                               # [0] version
        pos = end
    for _ in range(5):                            # serial, signature, issuer, validity, subject
        _, _, pos = _der_item(cert_der, pos)
    _, _, end = _der_item(cert_der, pos)
    return cert_der[pos:end]


def pem_cert_der(path):
    """pem_cert_der - DER bytes of the first certificate in a PEM file."""
    with open(path) as f:
        text = f.read()
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", text, re.S)
    if not m:
        raise ValueError("world: no certificate in %s" % path)
    return ssl.PEM_cert_to_DER_cert(m.group(0))


def free_dns_port():
    """free_dns_port - a port free for both UDP and TCP on 127.0.0.1."""
    while True:
        port = random.randint(20000, 60000)
        socks = []
        try:
            for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
                s = socket.socket(socket.AF_INET, kind)
                socks.append(s)
                s.bind((DNS_ADDR, port))
            return port
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()


def dns_query(name, qtype, port, addr=DNS_ADDR, timeout=1.0):
    """dns_query - one UDP query; returns (rcode, answer count) or None without reply."""
    qid = random.randint(0, 0xffff)
    qname = b"".join(bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".") if label)
    packet = qid.to_bytes(2, "big") + b"\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00" + qname + b"\x00" + \
        int(qtype).to_bytes(2, "big") + b"\x00\x01"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(packet, (addr, port))
        while True:
            data, _ = s.recvfrom(4096)
            if len(data) >= 12 and int.from_bytes(data[:2], "big") == qid and data[2] & 0x80:
                return data[3] & 0x0f, int.from_bytes(data[6:8], "big")
    except OSError:
        return None
    finally:
        s.close()


class _Proc:
    """_Proc - one child process of the world, stopped by its PID."""

    def __init__(self, name, args, log_path, cwd=None):
        self.name = name
        self.log_path = log_path
        self.log_file = open(log_path, "ab")
        self.popen = subprocess.Popen(args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=self.log_file,
                                      stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                                      env=dict(os.environ, LC_ALL="C", PATH=TOOL_PATH))
        self.pid = self.popen.pid

    def running(self):
        """running - true while the process has not exited."""
        return self.popen.poll() is None

    def log(self):
        """log - what the process wrote to stdout/stderr so far."""
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        """stop - SIGTERM, then SIGKILL after 10 s; children left behind are killed too."""
        if self.popen.poll() is None:
            kids = _children_of(self.pid)
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
            for kid in kids:
                if _alive(kid):
                    try:
                        os.kill(kid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        self.log_file.close()


def _proc_state(pid):
    """_proc_state - (state letter, parent pid) of a process, or None when gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    fields = text[text.rfind(")") + 2:].split()
    return fields[0], int(fields[1])


def _alive(pid):
    """_alive - the process exists and is not a zombie."""
    st = _proc_state(pid)
    return st is not None and st[0] != "Z"


def _children_of(pid):
    """_children_of - PIDs whose parent is pid."""
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = _proc_state(int(d))
            if st and st[1] == pid:
                kids.append(int(d))
    return kids


def _wait_ready(proc, ready_path, what, timeout=START_TIMEOUT):
    """_wait_ready - wait until a server wrote its ready file; raise with its log if it died."""
    end = time.time() + timeout
    while not os.path.exists(ready_path):
        if not proc.running():
            raise RuntimeError("world: %s exited with %s before it was ready; its log:\n%s" % (
                what, proc.popen.returncode, proc.log()))
        if time.time() > end:
            log = proc.log()
            proc.stop()
            raise RuntimeError("world: %s not ready after %d s; its log:\n%s" % (what, timeout, log))
        time.sleep(0.02)


class Zone:
    """Zone - one DNS zone of the world (records relative to the zone)."""

    def __init__(self, name, records, signed, bogus):
        self.name = name
        self.records = list(records)
        self.signed = signed
        self.bogus = bogus


class Sink:
    """Sink - an SMTP or LMTP sink process recording each message as JSON."""

    def __init__(self, world, cfg, wait=True):
        self.world = world
        self.addr = cfg["addr"]
        self.port = cfg["port"]
        self.dir = cfg["dir"]
        self.cfg = cfg
        os.makedirs(os.path.join(self.dir, "msgs"))
        os.makedirs(os.path.join(self.dir, "sessions"))
        cfg_path = os.path.join(self.dir, "config.json")
        _write(cfg_path, json.dumps(cfg, indent=1), 0o600)
        self.proc = _Proc("sink %s:%d" % (self.addr, self.port),
                          [PYTHON, os.path.join(WORLD_DIR, "smtp_sink.py"), cfg_path],
                          os.path.join(self.dir, "sink.log"))
        self.pid = self.proc.pid
        if wait:
            self.ready()

    def ready(self):
        """ready - wait until the sink listens; raise with its log when it cannot."""
        _wait_ready(self.proc, os.path.join(self.dir, "ready"), self.proc.name)

    def _load(self, sub):
        """_load - the JSON files of a subdirectory, in arrival order."""
        d = os.path.join(self.dir, sub)
        out = []
        for name in sorted(os.listdir(d)):
            if name.endswith(".json"):
                with open(os.path.join(d, name)) as f:
                    out.append(json.load(f))
        return out

    def attempts(self):
        """attempts - every DATA transaction, accepted or not, in arrival order."""
        return self._load("msgs")

    def messages(self):
        """messages - the accepted messages, in arrival order."""
        return [m for m in self.attempts() if m["accepted"]]

    def wait(self, n, timeout=30):
        """wait - messages() once n have arrived, or whatever is there after timeout."""
        end = time.time() + timeout
        while True:
            msgs = self.messages()
            if len(msgs) >= n or time.time() > end:
                return msgs
            time.sleep(0.05)

    def sessions(self):
        """sessions - number of connections accepted so far."""
        try:
            with open(os.path.join(self.dir, "sessions.log")) as f:
                return sum(1 for _ in f)
        except FileNotFoundError:
            return 0

    def commands(self):
        """commands - per session (in order) the list of command lines the client sent."""
        d = os.path.join(self.dir, "sessions")
        out = []
        for name in sorted(os.listdir(d)):
            with open(os.path.join(d, name), errors="replace") as f:
                out.append([line.rstrip("\n") for line in f])
        return out

    def log(self):
        """log - the sink's own diagnostics."""
        return self.proc.log()

    def stop(self):
        """stop - stop the sink process by its PID."""
        self.proc.stop()


class StsServer:
    """StsServer - the HTTPS MTA-STS policy server process."""

    def __init__(self, world, addr, port, cfg_path, dir_):
        self.addr, self.port, self.dir = addr, port, dir_
        self.proc = _Proc("mta-sts server %s:%d" % (addr, port),
                          [PYTHON, os.path.join(WORLD_DIR, "sts_server.py"), cfg_path],
                          os.path.join(dir_, "server-%s-%d.log" % (addr, port)))
        self.pid = self.proc.pid
        _wait_ready(self.proc, os.path.join(dir_, "ready-%s-%d" % (addr, port)), self.proc.name)

    def log(self):
        """log - the server's diagnostics, one line per request."""
        return self.proc.log()

    def stop(self):
        """stop - stop the server process by its PID."""
        self.proc.stop()


class World:
    """World - a private test world; see the module documentation."""

    def __init__(self):
        base = os.path.join(SRC, "t", "tmp")
        os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="world-", dir=base)
        os.chmod(self.dir, 0o755)           # daemons running as tern read the CA and unbound files
        self.pki_dir = self._mkdir("pki")
        self.dns_dir = self._mkdir("dns")
        self.sts_dir = self._mkdir("mta-sts")
        self._mkdir("mta-sts/policies")
        self.zones = {}
        self.dns_port = None
        self.dns_addr = DNS_ADDR
        self.unbound_conf = os.path.join(self.dns_dir, "unbound.conf")
        self.ta_file = os.path.join(self.dns_dir, "ta.ds")
        self.nsd = None
        self.sts_servers = []
        self.sinks = []
        self._certs = {}
        self._cas = {}
        self._keys = {}
        self._sts_domains = set()
        self._https_names = []
        self._sink_seq = 0
        self._mmdb = None
        self._stopped = False
        atexit.register(self.stop)

    def _mkdir(self, rel):
        """_mkdir - a world subdirectory, readable by everyone."""
        path = os.path.join(self.dir, rel)
        os.makedirs(path, exist_ok=True)
        os.chmod(path, 0o755)
        return path

    @staticmethod
    def usable(mmdb=False):
        """usable - (True, "") when this machine can run a world, else (False, why)."""
        if os.geteuid() != 0:
            return False, "the test world needs root (ports 25, 443, 465 on 127.0.0.x)"
        if PYTHON is None:
            return False, "/usr/bin/python3 missing"
        missing = [t for t in TOOLS if not which(t)]
        if missing:
            return False, "missing tools: %s (apt-get install nsd ldnsutils unbound-host openssl)" % " ".join(missing)
        if mmdb:
            if not which("mmdblookup") or not which("perl"):
                return False, "missing mmdblookup or perl (apt-get install mmdb-bin perl)"
            r = subprocess.run(["perl", "-MMaxMind::DB::Writer::Tree", "-e", "1"], capture_output=True)
            if r.returncode != 0:
                return False, "perl MaxMind::DB::Writer missing (apt-get install libmaxmind-db-writer-perl)"
        return True, ""

    # ---- PKI --------------------------------------------------------------

    def _ca(self, ca):
        """_ca - (cert, key) of the named test CA ("ca" or "wrongca"), made on first use."""
        if ca in self._cas:
            return self._cas[ca]
        if ca not in ("ca", "wrongca"):
            raise ValueError("world: unknown CA %r (ca or wrongca)" % ca)
        jobs = []
        for name in ("ca", "wrongca"):
            if name in self._cas:
                continue
            subject = "tern test CA" if name == "ca" else "tern WRONG test CA"
            cnf = os.path.join(self.pki_dir, name + ".cnf")
            _write(cnf, "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = %s\n"
                   "[ext]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,keyCertSign,cRLSign\n"
                   "subjectKeyIdentifier = hash\n" % subject)
            crt, key = os.path.join(self.pki_dir, name + ".crt"), os.path.join(self.pki_dir, name + ".key")
            jobs.append((["openssl", "req", "-x509", "-config", cnf, "-extensions", "ext", "-newkey", "ec",
                          "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt,
                          "-days", "3650"], self.pki_dir, "openssl (CA %s)" % name))
            self._cas[name] = (crt, key)
        _run_all(jobs)
        for crt, _ in self._cas.values():
            os.chmod(crt, 0o644)
        return self._cas[ca]

    @property
    def ca_file(self):
        """ca_file - PEM of the test CA every world certificate chains to."""
        return self._ca("ca")[0]

    @property
    def wrong_ca_file(self):
        """wrong_ca_file - PEM of an unrelated CA, for negative tests."""
        return self._ca("wrongca")[0]

    def certs(self, names, ca="ca"):
        """certs - make several leaf certificates at once (in parallel); returns their paths."""
        ca_crt, ca_key = self._ca(ca)
        jobs, made = [], []
        for name in names:
            key = (name, ca, None)
            if key in self._certs:
                continue
            jobs.append(self._cert_job(name, ca, [name], ca_crt, ca_key))
            made.append(key)
        if jobs:
            _run_all([j[0] for j in jobs])
            for (job, result), key in zip(jobs, made):
                self._finish_cert(result, ca_crt)
                self._certs[key] = result
        return [self.cert(n, ca=ca) for n in names]

    def _cert_job(self, name, ca, san, ca_crt, ca_key):
        """_cert_job - config and openssl command for one leaf certificate."""
        if not re.fullmatch(r"[A-Za-z0-9*.-]+", name) or any(not re.fullmatch(r"[A-Za-z0-9*.-]+", s) for s in san):
            raise ValueError("world: bad certificate name %r / %r" % (name, san))
        stem = name.replace("*", "_star_")
        if ca != "ca" or san != [name]:
            stem += "--%s-%s" % (ca, hashlib.sha256(",".join(san).encode()).hexdigest()[:8])
        base = os.path.join(self.pki_dir, stem)
        _write(base + ".cnf", "[req]\ndistinguished_name = dn\nprompt = no\n[dn]\nCN = %s\n[ext]\n"
               "basicConstraints = critical,CA:FALSE\nkeyUsage = critical,digitalSignature,keyEncipherment\n"
               "extendedKeyUsage = serverAuth,clientAuth\nsubjectAltName = %s\n"
               "authorityKeyIdentifier = keyid\nsubjectKeyIdentifier = hash\n"
               % (name, ",".join("DNS:" + s for s in san)))
        args = ["openssl", "req", "-x509", "-config", base + ".cnf", "-extensions", "ext", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", base + ".key", "-out", base + ".crt",
                "-days", "825", "-CA", ca_crt, "-CAkey", ca_key]
        return (args, self.pki_dir, "openssl (certificate %s)" % name), (base + ".chain.crt", base + ".key")

    def _finish_cert(self, result, ca_crt):
        """_finish_cert - write the chain file (leaf + CA) of a new certificate."""
        chain, _ = result
        leaf = chain[:-len(".chain.crt")] + ".crt"
        with open(leaf) as f, open(ca_crt) as g:
            _write(chain, f.read() + g.read())

    def cert(self, name, ca="ca", san=None):
        """cert - (chain_path, key_path) of an EC P-256 leaf for name signed by ca; chain = leaf + CA."""
        san = list(san) if san else [name]
        key = (name, ca, None if san == [name] else tuple(san))
        if key not in self._certs:
            ca_crt, ca_key = self._ca(ca)
            job, result = self._cert_job(name, ca, san, ca_crt, ca_key)
            _run(job[0], cwd=job[1], what=job[2])
            self._finish_cert(result, ca_crt)
            self._certs[key] = result
        return self._certs[key]

    def _cert_der(self, certname):
        """_cert_der - DER of a world certificate ("ca"/"wrongca" name the CAs)."""
        if certname in ("ca", "wrongca"):
            return pem_cert_der(self._ca(certname)[0])
        return pem_cert_der(self.cert(certname)[0])

    def tlsa311(self, certname):
        """tlsa311 - hex SHA-256 of the certificate's SubjectPublicKeyInfo (TLSA 3 1 1)."""
        return hashlib.sha256(spki_der(self._cert_der(certname))).hexdigest()

    def tlsa301(self, certname):
        """tlsa301 - hex SHA-256 of the whole certificate (TLSA 3 0 1)."""
        return hashlib.sha256(self._cert_der(certname)).hexdigest()

    def tlsa201(self, ca="ca"):
        """tlsa201 - hex SHA-256 of the CA certificate (TLSA 2 0 1)."""
        return hashlib.sha256(self._cert_der(ca)).hexdigest()

    def _fill(self, line):
        """_fill - replace {tlsa311:NAME}, {tlsa301:NAME}, {tlsa201:CA} in a record."""
        def sub(m):
            return getattr(self, m.group(1))(m.group(2))
        return re.sub(r"\{(tlsa311|tlsa301|tlsa201):([A-Za-z0-9*.-]+)\}", sub, line)

    # ---- DNS --------------------------------------------------------------

    def zone(self, name, records, signed=True, bogus=False):
        """zone - add (or replace) a zone; takes effect at the next start_dns()/restart_dns()."""
        name = name.lower().rstrip(".")
        if not re.fullmatch(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*", name):
            raise ValueError("world: bad zone name %r" % name)
        if bogus and not signed:
            raise ValueError("world: a bogus zone must be signed")
        self.zones[name] = Zone(name, records, signed, bogus)

    def standard(self):
        """standard - the standard world of the module documentation (not started)."""
        self.certs(["mx1.example.test", "mx2.example.test", "mx.example2.test"])
        self.zone("example.test", [
            "@ MX 10 mx1", "@ MX 20 mx2", "@ A 127.0.0.5",
            '@ TXT "v=spf1 ip4:127.0.0.0/8 -all"',
            "mx1 A 127.0.0.2", "mx2 A 127.0.0.3", "mta-sts A 127.0.0.4",
            "client-jp A 127.0.0.10", "client-us A 127.0.0.11",
            "_25._tcp.mx1 TLSA 3 1 1 {tlsa311:mx1.example.test}",
            "_25._tcp.mx2 TLSA 2 0 1 {tlsa201:ca}",
            '_mta-sts TXT "v=STSv1; id=20240101T000000;"',
            '_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@example.test"'])
        self.zone("example2.test", [
            "@ MX 10 mx", "mx A 127.0.0.6", "mta-sts A 127.0.0.4",
            "_25._tcp.mx TLSA 2 0 1 {tlsa201:ca}", '_mta-sts TXT "v=STSv1; id=2;"'])
        self.zone("insecure.test", [
            "@ MX 10 mx", "mx A 127.0.0.7", "_25._tcp.mx TLSA 3 1 1 {tlsa311:mx1.example.test}",
            '_mta-sts TXT "v=STSv1; id=3;"'], signed=False)
        self.zone("bogus.test", [
            "@ MX 10 mx", "mx A 127.0.0.8", "_25._tcp.mx TLSA 3 1 1 {tlsa311:mx1.example.test}",
            '_mta-sts TXT "v=STSv1; id=4;"'], bogus=True)
        self.zone("0.0.127.in-addr.arpa", [
            "2 PTR mx1.example.test.", "3 PTR mx2.example.test.",
            "10 PTR client-jp.example.test.", "11 PTR client-us.example.test."], signed=False)
        self.sts_policy("example.test", STS_ENFORCE)
        self.sts_policy("example2.test", STS_TESTING)

    def _parent(self, name):
        """_parent - the closest enclosing zone of the world, or None."""
        best = None
        for other in self.zones:
            if other != name and name.endswith("." + other) and (best is None or len(other) > len(best)):
                best = other
        return best

    def _keygen(self, zones):
        """_keygen - a KSK and a ZSK (ECDSAP256SHA256) for each zone that has none yet."""
        need = [z for z in zones if z not in self._keys]
        jobs = []
        for z in need:
            jobs.append((["ldns-keygen", "-a", "ECDSAP256SHA256", "-k", z], self.dns_dir, "ldns-keygen (KSK %s)" % z))
            jobs.append((["ldns-keygen", "-a", "ECDSAP256SHA256", z], self.dns_dir, "ldns-keygen (ZSK %s)" % z))
        outs = _run_all(jobs)
        for i, z in enumerate(need):
            ksk, zsk = outs[2 * i].strip(), outs[2 * i + 1].strip()
            with open(os.path.join(self.dns_dir, ksk + ".ds")) as f:
                ds = f.read().strip()
            self._keys[z] = (ksk, zsk, ds)

    def _zone_text(self, z, serial):
        """_zone_text - the unsigned zone file: SOA, NS, delegations with DS, records."""
        lines = ["$ORIGIN %s." % z.name, "$TTL 300",
                 "@ IN SOA ns1.test. hostmaster.%s. %d 3600 600 86400 300" % (z.name, serial),
                 "@ IN NS ns1.test."]
        if z.name == "test":
            lines.append("ns1 IN A %s" % self.dns_addr)
        for child in sorted(self.zones):
            if self._parent(child) == z.name:
                lines.append("%s. IN NS ns1.test." % child)
                if self.zones[child].signed:
                    lines.append(self._keys[child][2])
        lines += [self._fill(r) for r in z.records]
        return "\n".join(lines) + "\n"

    def _make_bogus(self, path):
        """_make_bogus - edit A/MX/TXT/TLSA rdata of a signed zone so its RRSIGs fail."""
        out = []
        with open(path) as f:
            for line in f:
                fields = line.rstrip("\n").split("\t")
                if len(fields) >= 5 and not line.startswith(";"):
                    rtype, rdata = fields[3], "\t".join(fields[4:])
                    if rtype == "A":
                        octets = rdata.split(".")
                        octets[3] = str((int(octets[3]) + 1) % 256)
                        rdata = ".".join(octets)
                    elif rtype == "MX":
                        pref, host = rdata.split(None, 1)
                        rdata = "%d %s" % (int(pref) + 10, host)
                    elif rtype == "TXT":
                        rdata = re.sub(r"id=[^;\"]*", "id=666", rdata) if "id=" in rdata else rdata[:-1] + " bogus\""
                    elif rtype == "TLSA":
                        parts = rdata.split()
                        rdata = " ".join(parts[:3] + [hashlib.sha256(b"bogus").hexdigest()])
                    fields = fields[:4] + [rdata]
                out.append("\t".join(fields))
        _write(path, "\n".join(out) + "\n")

    def start_dns(self):
        """start_dns - write and sign every zone, start NSD, write w.unbound_conf and w.ta_file."""
        if self.nsd is not None:
            raise RuntimeError("world: DNS already started (use restart_dns)")
        if any(n == "test" or n.endswith(".test") for n in self.zones) and "test" not in self.zones:
            self.zones["test"] = Zone("test", [], True, False)
        if "test" in self.zones:
            self.zones["test"].signed = True
        if "0.0.127.in-addr.arpa" not in self.zones:
            self.zones["0.0.127.in-addr.arpa"] = Zone("0.0.127.in-addr.arpa", [], False, False)
        signed = sorted(n for n, z in self.zones.items() if z.signed)
        self._keygen(signed)
        now = int(time.time())
        jobs = []
        for name, z in sorted(self.zones.items()):
            path = os.path.join(self.dns_dir, name + ".zone")
            _write(path, self._zone_text(z, now))
            if z.signed:
                ksk, zsk, _ = self._keys[name]
                jobs.append((["ldns-signzone", "-i", str(now - SIG_BEFORE), "-e", str(now + SIG_AFTER),
                              "-o", name + ".", "-f", path + ".signed", path, ksk, zsk],
                             self.dns_dir, "ldns-signzone (%s)" % name))
            else:                               # NSD would skip a broken zone quietly: check it here
                shutil.copyfile(path, path + ".signed")
                jobs.append(([which("nsd-checkzone") or "nsd-checkzone", name + ".", path + ".signed"],
                             self.dns_dir, "nsd-checkzone (%s)" % name))
        _run_all(jobs)
        for name, z in self.zones.items():
            if z.bogus:
                self._make_bogus(os.path.join(self.dns_dir, name + ".zone.signed"))
        anchors = [self._keys[n][2] for n in signed if self._parent(n) is None]
        _write(self.ta_file, "\n".join(anchors) + "\n")
        last_error = None
        for _ in range(3):                       # the free port may be taken in between
            port = self.dns_port or free_dns_port()
            try:
                self._start_nsd(port)
                break
            except RuntimeError as e:
                last_error = e
                if self.dns_port:                # a restart keeps its port: do not move it
                    raise
        else:
            raise last_error
        self._write_unbound_conf()

    def _start_nsd(self, port):
        """_start_nsd - write nsd.conf for port, start nsd -d, wait until it answers."""
        d = self.dns_dir
        conf = os.path.join(d, "nsd.conf")
        text = ("server:\n    ip-address: %s@%d\n    do-ip4: yes\n    do-ip6: no\n    username: \"\"\n"
                "    chroot: \"\"\n    zonesdir: \"%s\"\n    database: \"\"\n    pidfile: \"%s/nsd.pid\"\n"
                "    xfrdfile: \"%s/xfrd.state\"\n    zonelistfile: \"%s/zone.list\"\n    xfrdir: \"%s\"\n"
                "    logfile: \"%s/nsd.log\"\n    server-count: 1\n    verbosity: 1\n    hide-version: yes\n"
                "remote-control:\n    control-enable: no\n") % (self.dns_addr, port, d, d, d, d, d, d)
        for name in sorted(self.zones):
            text += "zone:\n    name: \"%s.\"\n    zonefile: \"%s.zone.signed\"\n" % (name, name)
        _write(conf, text)
        for f in ("zone.list", "xfrd.state"):
            try:
                os.unlink(os.path.join(d, f))
            except FileNotFoundError:
                pass
        proc = _Proc("nsd", [which("nsd"), "-d", "-c", conf], os.path.join(d, "nsd.out"), cwd=d)
        probe = "test" if "test" in self.zones else sorted(self.zones)[0]
        end = time.time() + 20
        while True:
            if not proc.running():
                raise RuntimeError("world: nsd exited with %s on %s@%d.\nnsd output:\n%s\nnsd.log:\n%s%s" % (
                    proc.popen.returncode, self.dns_addr, port, proc.log(), self._nsd_log(), self._checkzones()))
            answer = dns_query(probe, 6, port, timeout=0.3)
            if answer and answer[0] == 0 and answer[1] > 0:
                break
            if time.time() > end:
                proc.stop()
                raise RuntimeError("world: nsd on %s@%d does not answer %s SOA.\nnsd.log:\n%s%s" % (
                    self.dns_addr, port, probe, self._nsd_log(), self._checkzones()))
        self.nsd = proc
        self.dns_port = port

    def _nsd_log(self):
        """_nsd_log - NSD's log file."""
        try:
            with open(os.path.join(self.dns_dir, "nsd.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return "(no nsd.log)\n"

    def _checkzones(self):
        """_checkzones - nsd-checkzone's verdict on every zone, to explain a failed start."""
        out = ""
        for name in sorted(self.zones):
            r = subprocess.run([which("nsd-checkzone") or "nsd-checkzone", name + ".",
                                os.path.join(self.dns_dir, name + ".zone.signed")],
                               capture_output=True, text=True)
            out += "nsd-checkzone %s: %s%s" % (name, r.stdout, r.stderr)
        return out

    def _write_unbound_conf(self):
        """_write_unbound_conf - libunbound config: nodefault local zones, trust anchor, stubs."""
        addr = "%s@%d" % (self.dns_addr, self.dns_port)
        text = ("# libunbound configuration for the tern test world (ub_ctx_config, unbound-host -C)\n"
                "server:\n"
                "    # unbound's built-in RFC 6761 zones would answer NXDOMAIN and win over stubs\n"
                "    local-zone: \"test.\" nodefault\n"
                "    local-zone: \"127.in-addr.arpa.\" nodefault\n"
                "    trust-anchor-file: \"%s\"\n"
                "    do-not-query-localhost: no\n"
                "    trust-anchor-signaling: no\n") % self.ta_file
        for name in sorted(self.zones) + ["."]:
            text += "stub-zone:\n    name: \"%s\"\n    stub-addr: %s\n" % (
                name if name == "." else name + ".", addr)
        _write(self.unbound_conf, text)

    def stop_dns(self):
        """stop_dns - stop NSD by its PID (the port is kept for a restart)."""
        if self.nsd is not None:
            self.nsd.stop()
            self.nsd = None

    def restart_dns(self):
        """restart_dns - re-sign every zone (after zone() changes) and restart NSD on the same port."""
        self.stop_dns()
        self.start_dns()

    # ---- MTA-STS ----------------------------------------------------------

    def sts_policy(self, domain, text, status=200, content_type="text/plain", headers=None):
        """sts_policy - what https://mta-sts.<domain>/.well-known/mta-sts.txt serves; None -> 404."""
        domain = domain.lower().rstrip(".")
        if not re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9-]+)+", domain):
            raise ValueError("world: bad policy domain %r" % domain)
        path = os.path.join(self.sts_dir, "policies", domain + ".json")
        if text is None:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        else:
            _write(path, json.dumps({"body": text, "status": status, "content_type": content_type,
                                     "headers": headers or {}}))
        if domain not in self._sts_domains:
            self._sts_domains.add(domain)
            if self.sts_servers:
                self._sts_cert()

    def https_name(self, name):
        """https_name - also serve name (e.g. a TLSRPT https rua host) with a valid certificate."""
        name = name.lower().rstrip(".")
        if name not in self._https_names:
            self._https_names.append(name)
            if self.sts_servers:
                self._sts_cert()

    def https_posts(self, host=None):
        """https_posts - the POSTs the HTTPS server recorded (optionally for one host), body decoded."""
        out = []
        for r in self.sts_log():
            if r.get("method") == "POST" and (host is None or r["host"] == host.lower().rstrip(".")):
                r["body"] = base64.b64decode(r["body_b64"])
                out.append(r)
        return out

    def _sts_cert(self):
        """_sts_cert - certificate with a SAN for mta-sts.<d> of every policy domain, as one PEM."""
        names = ["mta-sts." + d for d in sorted(self._sts_domains)] + self._https_names
        names = names or ["mta-sts.example.test"]
        chain, key = self.cert(names[0], san=names)
        with open(chain) as f, open(key) as g:
            _write(os.path.join(self.sts_dir, "server.pem"), f.read() + g.read(), 0o600)

    def sts_server(self, addr="127.0.0.4", port=443):
        """sts_server - start an HTTPS policy server on addr:port (several may run)."""
        _check_loopback(addr)
        self._sts_cert()
        cfg = os.path.join(self.sts_dir, "config-%s-%d.json" % (addr, port))
        _write(cfg, json.dumps({"addr": addr, "port": port, "dir": self.sts_dir,
                                "pem": os.path.join(self.sts_dir, "server.pem")}))
        server = StsServer(self, addr, port, cfg, self.sts_dir)
        self.sts_servers.append(server)
        return server

    def sts_log(self):
        """sts_log - every request served: dicts with method, host, path, status, sni, peer."""
        out = []
        try:
            with open(os.path.join(self.sts_dir, "requests.log")) as f:
                for line in f:
                    out.append(json.loads(line))
        except FileNotFoundError:
            pass
        return out

    def sts_requests(self, domain):
        """sts_requests - how many GETs for mta-sts.<domain> were served (any status)."""
        host = "mta-sts." + domain.lower().rstrip(".")
        return sum(1 for r in self.sts_log() if r["host"] == host and r["method"] == "GET")

    # ---- SMTP / LMTP sinks -------------------------------------------------

    def sink(self, addr, port=25, starttls=True, implicit_tls=False, cert="mx1.example.test", lmtp=False,
             greeting_code=220, ehlo_extensions=None, requiretls=False, rcpt_replies=None, data_reply=None,
             data_replies=None, mail_reply=None, auth=None, auth_plaintext=False, auth_required=False,
             size_limit=None, tls_max_version=None, hostname=None, cert_ca="ca", starttls_reply=None,
             delays=None, disconnect=None, max_rcpts=None, wait=True):
        """sink - start an SMTP (or LMTP) sink on addr:port; returns a Sink.

        cert names a world certificate (cert(cert, ca=cert_ca); "wrongca" gives
        one no client trusts) or is a (chain_path, key_path) pair.
        ehlo_extensions replaces PIPELINING, SIZE, 8BITMIME, ENHANCEDSTATUSCODES,
        SMTPUTF8, DSN; STARTTLS, REQUIRETLS (after TLS, requiretls=True) and
        AUTH PLAIN LOGIN (after TLS unless auth_plaintext) are added by their
        options. rcpt_replies / data_replies (LMTP, after DATA) map an address
        (or "*") to a reply line; data_reply / mail_reply replace the 250;
        auth_required refuses MAIL before AUTH (530); size_limit is advertised
        and enforced (552); tls_max_version e.g. "TLSv1.2"; greeting_code 421
        closes at once, other codes answer 503 to all but QUIT; starttls_reply
        (e.g. "454 4.7.0 TLS not available") refuses STARTTLS after offering it;
        delays {STEP: seconds} waits before a reply and disconnect [STEP] hangs
        up instead of replying, STEP being "GREETING", a verb ("MAIL", "DATA",
        ...) or "DOT" (after the message data). max_rcpts accepts that many
        recipients per transaction and answers 452 4.5.3 to the rest.
        wait=False returns before the sink listens: call s.ready() before
        using it."""
        _check_loopback(addr)
        if isinstance(cert, (tuple, list)):
            chain, key = cert
            cert = hostname or "sink.test"
        elif starttls or implicit_tls:
            chain, key = self.cert(cert, ca=cert_ca)
        else:
            chain, key = None, None
        self._sink_seq += 1
        d = os.path.join(self.dir, "sink-%d-%s-%d" % (self._sink_seq, addr, port))
        cfg = {"addr": addr, "port": port, "dir": d, "starttls": bool(starttls and not implicit_tls),
               "implicit_tls": bool(implicit_tls), "chain": chain, "key": key, "lmtp": bool(lmtp),
               "greeting_code": int(greeting_code), "ehlo_extensions": ehlo_extensions,
               "requiretls": bool(requiretls),
               "rcpt_replies": {k.lower(): v for k, v in (rcpt_replies or {}).items()},
               "data_replies": {k.lower(): v for k, v in (data_replies or {}).items()},
               "data_reply": data_reply, "mail_reply": mail_reply, "auth": auth or {},
               "auth_plaintext": bool(auth_plaintext), "auth_required": bool(auth_required),
               "size_limit": size_limit, "tls_max_version": tls_max_version,
               "hostname": hostname or cert, "starttls_reply": starttls_reply,
               "delays": {k.upper(): v for k, v in (delays or {}).items()},
               "disconnect": [k.upper() for k in (disconnect or [])], "max_rcpts": max_rcpts}
        s = Sink(self, cfg, wait=False)
        self.sinks.append(s)              # stopped by stop() even when it never gets ready
        if wait:
            s.ready()
        return s

    def standard_sinks(self, **options):
        """standard_sinks - STARTTLS sinks on port 25 of every MX address of the standard world.

        Returns {address: Sink}: 127.0.0.2 mx1.example.test, 127.0.0.3
        mx2.example.test, 127.0.0.6 mx.example2.test, 127.0.0.7
        mx.insecure.test, 127.0.0.8 mx.bogus.test and 127.0.0.9 (where the
        forged bogus answer points; nothing should ever arrive there).
        options are passed to every sink()."""
        hosts = (("127.0.0.2", "mx1.example.test"), ("127.0.0.3", "mx2.example.test"),
                 ("127.0.0.6", "mx.example2.test"), ("127.0.0.7", "mx.insecure.test"),
                 ("127.0.0.8", "mx.bogus.test"), ("127.0.0.9", "mx.bogus.test"))
        self.certs(sorted(set(name for _, name in hosts)))
        sinks = {addr: self.sink(addr, cert=name, wait=False, **options) for addr, name in hosts}
        for s in sinks.values():
            s.ready()
        return sinks

    # ---- GeoIP --------------------------------------------------------------

    def mmdb(self, path=None):
        """mmdb - write the GeoLite2-Country-shaped test database (perl), return its path."""
        if path is None:
            if self._mmdb:
                return self._mmdb
            path = os.path.join(self._mkdir("geoip"), "test-country.mmdb")
        _run(["perl", os.path.join(WORLD_DIR, "mkmmdb.pl"), path], what="mkmmdb.pl")
        os.chmod(path, 0o644)
        if self._mmdb is None:
            self._mmdb = path
        return path

    # ---- teardown -----------------------------------------------------------

    def stop(self):
        """stop - stop every process of the world by PID; remove the directory unless TERN_KEEP_WORLD."""
        if self._stopped:
            return
        self._stopped = True
        for s in self.sinks:
            s.stop()
        for s in self.sts_servers:
            s.stop()
        self.stop_dns()
        if os.environ.get("TERN_KEEP_WORLD"):
            print("# world kept in %s" % self.dir, flush=True)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


__all__ = ["World", "Sink", "StsServer", "Zone", "dns_query", "spki_der", "pem_cert_der"]
