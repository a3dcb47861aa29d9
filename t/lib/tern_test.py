"""tern_test - TAP output and private tern instances for integration tests.

Integration tests are Python scripts run by prove (shebang
/usr/bin/python3, Debian's interpreter). They print TAP through ok()/is_()
and finish with done(), which prints the plan and exits non-zero on any
failure. Instance() creates a private instance with `ternctl init` in a
fresh temporary directory, starts and stops it by PID, and removes it.

Environment: TERN_BUILD is the build directory with the programs (set by
`make check`); TERN_SRC the source tree. Both default to the tree this
file lives in.
"""
import atexit
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("TERN_SRC") or os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.environ.get("TERN_BUILD") or os.path.join(SRC, "build")
IS_ROOT = os.geteuid() == 0

_count = 0
_failed = 0


def ok(cond, name):
    """One TAP test point."""
    global _count, _failed
    _count += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (_count, name), flush=True)
    if not cond:
        _failed += 1
    return bool(cond)


def is_(got, want, name):
    """Equality test point that shows both values on failure."""
    same = got == want
    ok(same, name)
    if not same:
        diag("got:  %r" % (got,))
        diag("want: %r" % (want,))
    return same


def todo_ok(cond, name, reason):
    """A TAP TODO test point: reported, never counted as a failure (a known gap)."""
    global _count
    _count += 1
    print("%s %d - %s # TODO %s" % ("ok" if cond else "not ok", _count, name, reason), flush=True)
    return bool(cond)


def like(text, needle, name):
    """Test point: needle occurs in text."""
    good = text is not None and needle in text
    ok(good, name)
    if not good:
        diag("%r not found in %r" % (needle, (text or "")[:2000]))
    return good


def diag(text):
    for line in str(text).splitlines() or [""]:
        print("# " + line, flush=True)


def skip_all(reason):
    print("1..0 # SKIP " + reason, flush=True)
    sys.exit(0)


def done():
    print("1..%d" % _count, flush=True)
    sys.exit(1 if _failed else 0)


def prog(name):
    """Path of a built program (test helpers such as tern-qgen are in BUILD/t/bin)."""
    helper = os.path.join(BUILD, "t", "bin", name)
    return helper if os.path.exists(helper) else os.path.join(BUILD, name)


def run(args, check=False, input=None, timeout=60, env=None):
    """Run a command, return CompletedProcess with text stdout/stderr."""
    return subprocess.run(args, input=input, capture_output=True, text=True,
                          timeout=timeout, check=check, env=env)


def useradd(name, home, shell="/bin/sh"):
    """useradd -M: a test account; retried while another test holds the
    /etc/passwd lock (useradd exits 1 or 10 saying "cannot lock")."""
    for _ in range(40):
        r = run(["useradd", "-M", "-d", home, "-s", shell, name])
        if r.returncode == 0 or "lock" not in r.stderr:
            return r
        time.sleep(0.25)
    return r


def wait_for(pred, timeout=10.0, step=0.05):
    """Poll pred() until true or timeout; returns the last value."""
    end = time.time() + timeout
    while True:
        v = pred()
        if v or time.time() >= end:
            return v
        time.sleep(step)


def proc_status(pid):
    """Fields of /proc/PID/status as a dict, or None when gone."""
    try:
        with open("/proc/%d/status" % pid) as f:
            return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)
    except (FileNotFoundError, ProcessLookupError):
        return None


def alive(pid):
    """True when pid exists and is not a zombie."""
    st = proc_status(pid)
    return st is not None and not st.get("State", "").startswith("Z")


def children_of(pid):
    """PIDs whose parent is pid."""
    kids = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_status(int(d))
            if st and st.get("PPid") == str(pid):
                kids.append(int(d))
    return kids


def free_ports(n, lo=20000, hi=60000):
    """n distinct TCP ports on 127.0.0.1 that are free right now."""
    import random
    import socket
    ports = []
    while len(ports) < n:
        p = random.randint(lo, hi)
        if p in ports:
            continue
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            s.close()
        ports.append(p)
    return ports


class Instance:
    """A private tern instance in a temporary directory."""

    def __init__(self, init_args=(), keep=False):
        base = os.path.join(SRC, "t", "tmp")
        os.makedirs(base, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="inst-", dir=base)
        os.chmod(self.dir, 0o755)
        self.keep = keep
        init_args = list(init_args)
        if "--ports" not in init_args:
            # never the default 2525/2587/2465: a `make run` instance may hold them
            init_args += ["--ports", ",".join(str(p) for p in free_ports(3))]
        self.ports = [int(p) for p in init_args[init_args.index("--ports") + 1].split(",")]
        r = run([prog("ternctl"), "-c", self.dir, "init"] + init_args)
        if r.returncode != 0:
            diag(r.stdout + r.stderr)
            raise RuntimeError("ternctl init failed")
        atexit.register(self.cleanup)

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def ctl(self, *args, timeout=60):
        return run([prog("ternctl"), "-c", self.dir] + list(args), timeout=timeout)

    def conf(self, name, value, file="tern.conf"):
        """Append name = value to a config file of the instance."""
        with open(self.path(file), "a") as f:
            f.write("%s = %s\n" % (name, value))

    def master_pid(self):
        return pid_file(self.path("data", "master.pid"))

    def queue_where(self, qid):
        """The queue directories that hold qid (incoming, active, deferred, hold, timed, corrupt)."""
        return [d for d in ("incoming", "active", "deferred", "hold", "timed", "corrupt")
                if os.path.exists(self.path("queue", d, qid))]

    def daemon_pid(self, name):
        """The pid of a child of master whose command line holds name, or None."""
        m = self.master_pid()
        for p in children_of(m) if m else []:
            try:
                with open("/proc/%d/cmdline" % p, "rb") as f:
                    if name.encode() in f.read():
                        return p
            except OSError:
                pass
        return None

    def socket(self, name):
        """The path of service name's socket (public/ or private/ in the queue), or None."""
        for d in ("public", "private"):
            p = self.path("queue", d, name)
            if os.path.exists(p):
                return p
        return None

    def start(self):
        r = self.ctl("start")
        if r.returncode != 0:
            diag(r.stdout + r.stderr)
        return r

    def stop(self):
        return self.ctl("stop")

    def log(self):
        try:
            with open(self.path("log", "maillog"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def cleanup(self):
        """Stop the instance: ternctl stop, then SIGKILL what is left, by PID."""
        pid = self.master_pid()
        if pid and alive(pid):
            self.ctl("stop", timeout=30)
            if alive(pid):
                kids = children_of(pid)
                for p in [pid] + kids:
                    try:
                        os.kill(p, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
        if not self.keep:
            shutil.rmtree(self.dir, ignore_errors=True)


def unprivileged_user():
    """A user to run tests as when checking non-root behaviour."""
    for name in ("nobody",):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            pass
    return None


def ordinary_user_dir(prefix):
    """For tests of an instance run by an ordinary user: (user, command
    prefix that becomes the user, a fresh directory under t/tmp that the
    user owns). As root the user is nobody, reached with setpriv; otherwise
    it is the caller and the prefix is empty. skip_all when root has no
    nobody or no setpriv."""
    import grp
    if IS_ROOT:
        user = unprivileged_user()
        if user is None or shutil.which("setpriv") is None:
            skip_all("no user nobody or no setpriv")
        pre = ["setpriv", "--reuid=" + user.pw_name, "--regid=" + grp.getgrgid(user.pw_gid).gr_name,
               "--clear-groups"]
    else:
        user = pwd.getpwuid(os.getuid())
        pre = []
    os.makedirs(os.path.join(SRC, "t", "tmp"), exist_ok=True)
    d = tempfile.mkdtemp(prefix=prefix, dir=os.path.join(SRC, "t", "tmp"))
    os.chmod(d, 0o755)
    if IS_ROOT:
        os.chown(d, user.pw_uid, user.pw_gid)
    return user, pre, d


def pid_file(path):
    """The PID in the first word of path, or None."""
    try:
        with open(path) as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
