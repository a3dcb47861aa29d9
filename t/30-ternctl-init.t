#!/usr/bin/python3
"""30-ternctl-init - ternctl's front end, "ternctl init" and make install.

Through the real programs: the option parser and the command table; a
private instance made as root (system user tern, queue owned by it, the
self-signed certificate checked with Python's ssl module and openssl),
refusal of an existing instance and --force, two instances side by side,
an IPv6 listener, an instance made by an ordinary user (nobody, via
setpriv), the life cycle init, start, status, stop (as root and as
nobody), and conf/install.sh into a DESTDIR against the manifest.
"""
import grp
import os
import pwd
import re
import shutil
import socket
import ssl
import stat
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (BUILD, IS_ROOT, SRC, alive, diag, done, is_,  # noqa: E402
                       like, ok, pid_file, prog, run, unprivileged_user, wait_for)

TERNCTL = prog("ternctl")
TMP = os.path.join(SRC, "t", "tmp")
NOBODY = unprivileged_user()
made = []


def setpriv_args():
    """The command prefix that runs as nobody:nogroup without groups."""
    group = grp.getgrgid(NOBODY.pw_gid).gr_name
    return ["setpriv", "--reuid=" + NOBODY.pw_name, "--regid=" + group, "--clear-groups"]


def new_dir(owner=None):
    """A fresh empty directory under t/tmp (removed at the end)."""
    os.makedirs(TMP, exist_ok=True)
    d = tempfile.mkdtemp(prefix="init-", dir=TMP)
    os.chmod(d, 0o755)
    if owner is not None:
        os.chown(d, owner.pw_uid, owner.pw_gid)
    made.append(d)
    return d


def ctl(d, *args, as_nobody=False):
    pre = setpriv_args() if as_nobody else []
    return run(pre + [TERNCTL, "-c", d] + list(args))


def conf_values(path):
    """name -> value of a tern.conf (no continuation lines in ours)."""
    vals = {}
    with open(path) as f:
        for line in f:
            m = re.match(r"^([a-z_0-9]+)\s*=\s*(.*?)\s*$", line)
            if m:
                vals[m.group(1)] = m.group(2)
    return vals


def manifest(path):
    """Entries of tern-files: (type, path, owner, group, mode, flags)."""
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            fields = line.split()
            out.append((fields + ["-"])[:6])
    return out


def expect_ids(owner, group, vals, euid, egid):
    """uid, gid an entry should have, as ternctl_files.c resolves them for
    an instance made by euid:egid ("root" means the maker when not root)."""
    owner = vals.get("mail_owner") if owner == "$mail_owner" else owner
    pw = pwd.getpwnam(owner)
    uid, gid = pw.pw_uid, pw.pw_gid
    if euid != 0 and uid == 0:
        uid, gid = euid, egid
    if group in ("-", "$mail_owner"):
        return uid, gid
    name = vals.get("setgid_group") if group == "$setgid_group" else group
    g = grp.getgrnam(name).gr_gid
    if euid != 0 and g == 0:
        g = egid
    return uid, g


def check_tree(d, vals, who):
    """Every queue/data entry of the manifest exists with its owner and
    mode; who is the maker (a pwd entry) or None for root."""
    euid, egid = (0, 0) if who is None else (who.pw_uid, who.pw_gid)
    bad = []
    for typ, path, owner, group, mode, _flags in manifest(os.path.join(d, "tern-files")):
        m = re.match(r"^\$(queue_directory|data_directory)(/.*)?$", path)
        if not m:
            continue
        real = vals[m.group(1)] + (m.group(2) or "")
        try:
            st = os.lstat(real)
        except OSError as e:
            bad.append("%s: %s" % (real, e))
            continue
        uid, gid = expect_ids(owner, group, vals, euid, egid)
        if not stat.S_ISDIR(st.st_mode):
            bad.append("%s: not a directory" % real)
        if stat.S_IMODE(st.st_mode) != int(mode, 8):
            bad.append("%s: mode %o, want %s" % (real, stat.S_IMODE(st.st_mode), mode))
        if (st.st_uid, st.st_gid) != (uid, gid):
            bad.append("%s: owner %d:%d, want %d:%d" % (real, st.st_uid, st.st_gid, uid, gid))
    for b in bad:
        diag(b)
    return not bad


def handshake(cert, key, hostname):
    """A TLS handshake with cert+key as server and cert as the only trust anchor."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(cert, key)        # fails unless the key matches
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(cert)
    a, b = socket.socketpair()
    a.settimeout(10)
    b.settimeout(10)
    errors = []

    def serve():
        try:
            with server.wrap_socket(a, server_side=True) as s:
                s.sendall(b"x")
        except Exception as e:  # reported through errors
            errors.append(e)

    t = threading.Thread(target=serve)
    t.start()
    try:
        with client.wrap_socket(b, server_hostname=hostname) as c:
            c.recv(1)
            peer = c.getpeercert()
    except Exception as e:
        errors.append(e)
        peer = None
    t.join(10)
    for e in errors:
        diag("TLS: %r" % e)
    return peer if not errors else None


def test_front_end():
    r = run([TERNCTL])
    is_(r.returncode, 64, "no command: exit 64")
    like(r.stderr, "usage: ternctl", "no command: usage line")
    r = run([TERNCTL, "statsu"])
    is_(r.returncode, 64, "unknown command: exit 64")
    like(r.stderr, "did you mean 'status'", "unknown command: did-you-mean")
    r = run([TERNCTL, "-x", "status"])
    is_(r.returncode, 64, "unknown option: exit 64")
    r = run([TERNCTL, "help"])
    is_(r.returncode, 0, "help: exit 0")
    ok(all(c in r.stdout for c in ("start", "stop", "reload", "status", "check", "init")),
       "help lists every command")
    env = dict(os.environ, TERN_CONFIG_DIR="/nonexistent/tern-test")
    r = run([TERNCTL, "status"], env=env)
    is_(r.returncode, 78, "TERN_CONFIG_DIR without tern.conf: exit 78")
    like(r.stderr, "/nonexistent/tern-test", "TERN_CONFIG_DIR names the directory used")
    d = new_dir()
    for args, name in ((["--ports", "1,2"], "two ports"), (["--ports", "1,1,2"], "equal ports"),
                       (["--ports", "1,2,99999"], "port out of range"),
                       (["--listen", "localhost"], "a name as --listen"), (["--bogus"], "unknown option"),
                       (["extra"], "an extra argument")):
        r = ctl(d, "init", *args)
        is_(r.returncode, 64, "init with %s: exit 64" % name)
    ok(not os.path.exists(os.path.join(d, "tern.conf")), "usage errors create nothing")


def test_root_instance():
    d = new_dir()
    r = ctl(d, "init")
    if not is_(r.returncode, 0, "root: init exits 0"):
        diag(r.stdout + r.stderr)
        return
    like(r.stdout, "-c %s start" % d, "init names the next command")
    for name in ("tern.conf", "master.conf", "tern-files"):
        st = os.stat(os.path.join(d, name))
        ok(stat.S_IMODE(st.st_mode) == 0o644 and st.st_uid == 0, "root: %s is root's, 0644" % name)
    tern = pwd.getpwnam("tern")
    ok(tern.pw_uid != 0 and tern.pw_shell.endswith("nologin"), "system user tern exists, no login shell")
    ok(grp.getgrnam("terndrop") is not None, "system group terndrop exists")
    vals = conf_values(os.path.join(d, "tern.conf"))
    is_(vals.get("queue_directory"), d + "/queue", "queue_directory is inside the instance")
    is_(vals.get("data_directory"), d + "/data", "data_directory is inside the instance")
    is_(vals.get("maillog_file"), d + "/log/maillog", "maillog_file is inside the instance")
    is_(vals.get("mail_owner"), "tern", "root: mail_owner = tern")
    is_(vals.get("setgid_group"), "terndrop", "root: setgid_group = terndrop")
    is_(vals.get("mynetworks"), "127.0.0.0/8", "mynetworks = 127.0.0.0/8")
    like(vals.get("mydestination", ""), "localhost", "mydestination includes localhost")
    if os.access(os.path.join(BUILD, "master"), os.X_OK):
        is_(vals.get("daemon_directory"), os.path.realpath(BUILD), "daemon_directory is the build tree")
    else:
        ok(vals.get("daemon_directory", "").startswith("/") and
           vals.get("daemon_directory") != os.path.realpath(BUILD),
           "no master built: daemon_directory is the installed default")
    ok(check_tree(d, vals, None), "root: queue and data match the manifest (owner tern)")
    for sub in ("queue/incoming", "queue/maildrop", "queue/private", "queue/public", "data"):
        ok(os.stat(os.path.join(d, sub)).st_uid == tern.pw_uid, "root: %s owned by tern" % sub)
    st = os.stat(os.path.join(d, "log", "maillog"))
    ok(stat.S_ISREG(st.st_mode) and st.st_uid == tern.pw_uid, "log/maillog exists, owned by tern")
    ok(os.path.isdir(os.path.join(d, "mail")), "mail/ exists")
    key = os.path.join(d, "tls", "key.pem")
    cert = os.path.join(d, "tls", "cert.pem")
    st = os.stat(key)
    is_(stat.S_IMODE(st.st_mode), 0o600, "key.pem is mode 0600")
    is_(st.st_uid, 0, "key.pem is owned by root")
    host = vals.get("myhostname", "")
    ok(re.match(r"^[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$", host), "myhostname is fully qualified: " + host)
    peer = handshake(cert, key, host)
    ok(peer is not None, "certificate matches the key and verifies for myhostname")
    if peer:
        ok(("DNS", host) in peer.get("subjectAltName", ()), "subjectAltName DNS:" + host)
        years = (ssl.cert_time_to_seconds(peer["notAfter"]) -
                 ssl.cert_time_to_seconds(peer["notBefore"])) / (365.25 * 86400)
        ok(9.9 < years < 10.1, "valid for ten years (%.2f)" % years)
    r = run(["openssl", "x509", "-in", cert, "-noout", "-text"])
    like(r.stdout, "P-256", "openssl: an EC P-256 key")
    like(r.stdout, "DNS:" + host, "openssl: subjectAltName")

    with open(os.path.join(d, "master.conf")) as f:
        master = f.read()
    for port in (2525, 2587, 2465):
        like(master, "127.0.0.1:%d " % port, "master.conf has 127.0.0.1:%d" % port)
    good = True
    lines = master.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^#?(\S+)\s+(inet|unix|pass)\s+\S+\s+\S+\s+\S+\s+\S+\s+\S+\s+(\S+)", line)
        if not m:
            continue
        built = os.access(os.path.join(vals["daemon_directory"], m.group(3)), os.X_OK)
        note = i > 0 and lines[i - 1] == "# not built yet: " + m.group(3)
        if line.startswith("#") != (not built) or (not built and not note):
            diag("wrong: " + line)
            good = False
    ok(good, "master.conf: a service is commented out (with a note) exactly when its program is missing")
    for svc in ("smtpd", "cleanup", "qmgr", "bounce", "local", "virtual", "smtp", "pickup"):
        ok(re.search(r"\s%s(\s|$)" % svc, master), "master.conf plans %s" % svc)
    r = ctl(d, "check")
    is_(r.returncode, 0 if os.path.isdir(vals["daemon_directory"]) else 78,
        "a fresh instance checks clean (when daemon_directory exists)")

    with open(os.path.join(d, "tern.conf")) as f:
        before = f.read()
    r = ctl(d, "init", "--ports", "4525,4587,4465")
    is_(r.returncode, 73, "init refuses an existing instance (exit 73)")
    like(r.stderr, "--force", "and says how to overwrite")
    with open(os.path.join(d, "tern.conf")) as f:
        is_(f.read(), before, "the existing tern.conf is untouched")
    with open(key) as f:
        old_key = f.read()
    queued = os.path.join(d, "queue", "incoming", "KEEPME")
    open(queued, "w").close()
    r = ctl(d, "init", "--force", "--ports", "4525,4587,4465")
    is_(r.returncode, 0, "init --force rewrites the configuration")
    with open(os.path.join(d, "master.conf")) as f:
        like(f.read(), "127.0.0.1:4525", "--force: master.conf has the new ports")
    ok(os.path.exists(queued), "--force keeps the queue")
    with open(key) as f:
        is_(f.read(), old_key, "--force keeps the key")
    return d


def test_side_by_side():
    a, b = new_dir(), new_dir()
    ra = ctl(a, "init")
    rb = ctl(b, "init", "--ports", "3525,3587,3465")
    ok(ra.returncode == 0 and rb.returncode == 0, "two instances side by side")
    va, vb = conf_values(os.path.join(a, "tern.conf")), conf_values(os.path.join(b, "tern.conf"))
    ok(va["queue_directory"] != vb["queue_directory"] and va["data_directory"] != vb["data_directory"]
       and va["maillog_file"] != vb["maillog_file"], "each has its own queue, data and log")
    with open(os.path.join(b, "master.conf")) as f:
        mb = f.read()
    ok("127.0.0.1:3525 " in mb and "127.0.0.1:3587 " in mb and "127.0.0.1:3465 " in mb
       and ":2525" not in mb, "the second listens on its own ports")
    c = new_dir()
    r = ctl(c, "init", "--listen", "::1")
    is_(r.returncode, 0, "init --listen ::1")
    with open(os.path.join(c, "master.conf")) as f:
        like(f.read(), "[::1]:2525 ", "IPv6 listener written as [::1]:2525")
    like(conf_values(os.path.join(c, "tern.conf")).get("mynetworks", ""), "[::1]/128",
         "IPv6 listener: mynetworks includes [::1]/128")


def test_nobody_instance():
    if NOBODY is None:
        ok(False, "a user 'nobody' exists for the unprivileged tests")
        return None
    d = new_dir(NOBODY)
    r = ctl(d, "init", "--ports", "5525,5587,5465", as_nobody=True)
    if not is_(r.returncode, 0, "nobody: init exits 0"):
        diag(r.stdout + r.stderr)
        return None
    like(r.stderr, "no privilege separation", "nobody: init warns that there is no privilege separation")
    vals = conf_values(os.path.join(d, "tern.conf"))
    is_(vals.get("mail_owner"), NOBODY.pw_name, "nobody: mail_owner = nobody")
    ok(check_tree(d, vals, NOBODY), "nobody: queue and data match the manifest, owned by nobody")
    st = os.stat(os.path.join(d, "tls", "key.pem"))
    ok(st.st_uid == NOBODY.pw_uid and stat.S_IMODE(st.st_mode) == 0o600, "nobody: key.pem is nobody's, 0600")
    r = ctl(d, "check", as_nobody=True)
    is_(r.returncode, 0 if os.path.isdir(vals["daemon_directory"]) else 78, "nobody: check of its own instance")
    rootdir = new_dir()
    r = ctl(rootdir, "init", as_nobody=True)
    is_(r.returncode, 73, "nobody: init in a directory it cannot write fails (73)")
    like(r.stderr, rootdir, "and names the directory")
    return d


def lifecycle(d, as_nobody, who):
    """start, status, stop of an existing instance, by PID where it matters."""
    pidfile = os.path.join(d, "data", "master.pid")

    def master_pid():
        return pid_file(pidfile)

    r = ctl(d, "start", as_nobody=as_nobody)
    if not is_(r.returncode, 0, "%s: ternctl start" % who):
        diag(r.stdout + r.stderr)
    pid = wait_for(master_pid, timeout=10)
    ok(pid is not None and wait_for(lambda: alive(pid), timeout=10), "%s: master runs (pid file)" % who)
    r = ctl(d, "status", as_nobody=as_nobody)
    is_(r.returncode, 0, "%s: ternctl status: running" % who)
    r = ctl(d, "stop", as_nobody=as_nobody)
    is_(r.returncode, 0, "%s: ternctl stop" % who)
    ok(pid is None or wait_for(lambda: not alive(pid), timeout=20), "%s: master is gone" % who)
    r = ctl(d, "status", as_nobody=as_nobody)
    is_(r.returncode, 3, "%s: ternctl status after stop: exit 3" % who)
    if pid and alive(pid):
        os.kill(pid, 9)


def test_install():
    dest = new_dir()
    env = dict(os.environ, BUILD=BUILD, DESTDIR=dest, sysconfdir="/etc/tern",
               libexecdir="/usr/lib/tern", sbindir="/usr/sbin", bindir="/usr/bin",
               mandir="/usr/share/man", queue_directory="/var/spool/tern", data_directory="/var/lib/tern")
    script = os.path.join(SRC, "conf", "install.sh")
    r = run(["sh", script, os.path.join(SRC, "conf", "tern-files")], env=env)
    if not is_(r.returncode, 0, "install.sh into a DESTDIR"):
        diag(r.stdout + r.stderr)
        return
    places = {"queue_directory": "/var/spool/tern", "data_directory": "/var/lib/tern",
              "daemon_directory": "/usr/lib/tern", "command_directory": "/usr/sbin", "sysconfdir": "/etc/tern"}
    bad = []
    for typ, path, owner, group, mode, flags in manifest(os.path.join(SRC, "conf", "tern-files")):
        var, _, rest = path[1:].partition("/")
        real = dest + places[var] + ("/" + rest if rest else "")
        if typ == "x" and not os.path.exists(os.path.join(BUILD, os.path.basename(path))):
            if os.path.exists(real):
                bad.append(real + ": installed but not built")
            continue
        try:
            st = os.lstat(real)
        except OSError as e:
            bad.append("%s: %s" % (real, e))
            continue
        want = int(mode, 8) if typ in "ds" else int(mode, 8) & 0o777
        if stat.S_IMODE(st.st_mode) != want:
            bad.append("%s: mode %o, want %o" % (real, stat.S_IMODE(st.st_mode), want))
    for b in bad:
        diag(b)
    ok(not bad, "DESTDIR install: every manifest entry with its mode (set-id bits left off)")
    ok(os.path.exists(dest + "/usr/share/man/man8/ternctl.8"), "DESTDIR install: man pages")
    conf = dest + "/etc/tern/tern.conf"
    with open(conf, "a") as f:
        f.write("myhostname = mine.example\n")
    r = run(["sh", script, os.path.join(SRC, "conf", "tern-files")], env=env)
    is_(r.returncode, 0, "install.sh again")
    with open(conf) as f:
        like(f.read(), "myhostname = mine.example", "install keeps an existing tern.conf")


def main():
    if not ok(os.access(TERNCTL, os.X_OK), "ternctl is built: " + TERNCTL):
        done()
    test_front_end()
    test_side_by_side()
    test_install()
    if not IS_ROOT:
        ok(True, "root and nobody instances # SKIP not root (CI runs these as root)")
        done()
    d = test_root_instance()
    n = test_nobody_instance()
    master_built = os.access(os.path.join(BUILD, "master"), os.X_OK)
    if not master_built:
        diag("master is not built yet: the start/status/stop tests below must fail until it is")
    if d:
        lifecycle(d, False, "root")
    if n:
        lifecycle(n, True, "nobody")
    done()


def cleanup():
    """Stop any master an instance of ours still runs (by PID), then remove the directories."""
    for d in made:
        try:
            with open(os.path.join(d, "data", "master.pid")) as f:
                pid = int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pid = None
        if pid and alive(pid):
            run([TERNCTL, "-c", d, "stop"], timeout=30)
            if alive(pid):
                os.kill(pid, 9)
        shutil.rmtree(d, ignore_errors=True)


try:
    main()
finally:
    cleanup()
