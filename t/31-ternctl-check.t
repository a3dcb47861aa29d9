#!/usr/bin/python3
"""31-ternctl-check - "ternctl check" finds, reports and repairs.

A clean instance checks clean (exit 0). Each broken case is reported with
its file and line and exit 78: an unknown parameter (with did-you-mean),
a bad value, a bad master.conf line, a missing program, a missing or
root mail_owner, a file that does not belong in the queue. Repairs: a
removed queue subdirectory is recreated, a wrong mode (and as root a
wrong owner) is put right, a missing manifest is put back; nothing is
touched while tern.conf itself is broken. The same as nobody, on an
instance nobody made.
"""
import grp
import os
import pwd
import re
import shutil
import stat
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (IS_ROOT, SRC, diag, done, is_, like, ok, prog, run,  # noqa: E402
                       unprivileged_user)

TERNCTL = prog("ternctl")
TMP = os.path.join(SRC, "t", "tmp")
NOBODY = unprivileged_user()
made = []


class Inst:
    """An instance made by init, as root or as nobody (setpriv)."""

    def __init__(self, who=None):
        os.makedirs(TMP, exist_ok=True)
        self.dir = tempfile.mkdtemp(prefix="check-", dir=TMP)
        os.chmod(self.dir, 0o755)
        made.append(self.dir)
        self.pre = []
        if who is not None:
            os.chown(self.dir, who.pw_uid, who.pw_gid)
            self.pre = ["setpriv", "--reuid=" + who.pw_name,
                        "--regid=" + grp.getgrgid(who.pw_gid).gr_name, "--clear-groups"]
        r = self.ctl("init")
        if r.returncode != 0:
            diag(r.stdout + r.stderr)
            raise RuntimeError("ternctl init failed")
        self.saved = {}
        for name in ("tern.conf", "master.conf"):
            with open(self.path(name)) as f:
                self.saved[name] = f.read()
        self.daemons = self.value("daemon_directory")

    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    def ctl(self, *args):
        return run(self.pre + [TERNCTL, "-c", self.dir] + list(args))

    def value(self, name):
        with open(self.path("tern.conf")) as f:
            for line in f:
                m = re.match(r"^%s\s*=\s*(.*?)\s*$" % name, line)
                if m:
                    return m.group(1)
        return None

    def append(self, name, text):
        """Append lines to a file; returns the line number of the first."""
        with open(self.path(name)) as f:
            n = f.read().count("\n")
        with open(self.path(name), "a") as f:
            f.write(text)
        return n + 1

    def restore(self):
        for name, text in self.saved.items():
            with open(self.path(name), "w") as f:
                f.write(text)

    def check(self):
        return self.ctl("check")


def clean_exit(inst):
    """What a clean instance's check returns: 0, or 78 when daemon_directory
    does not exist yet (no master built and nothing installed)."""
    return 0 if os.path.isdir(inst.daemons) else 78


def broken(inst, name, text, needle, what):
    """Append text to a file, expect exit 78 and needle at file:line."""
    line = inst.append(name, text)
    r = inst.check()
    is_(r.returncode, 78, what + ": exit 78")
    like(r.stderr, "%s:%d: %s" % (inst.path(name), line, needle), what + ": reported with file and line")
    inst.restore()
    return r


def test_config(inst):
    r = inst.check()
    is_(r.returncode, clean_exit(inst), "a fresh instance checks clean")
    if r.returncode == 0:
        like(r.stdout, "configuration OK", "and says so")
    else:
        diag(r.stderr)
    r = broken(inst, "tern.conf", "myhostnme = mx.example\n", "unknown parameter 'myhostnme'",
               "unknown parameter")
    like(r.stderr, "did you mean 'myhostname'", "unknown parameter: did-you-mean")
    broken(inst, "tern.conf", "default_process_limit = lots\n", "default_process_limit", "bad value")
    line = inst.append("tern.conf", "max_idle = forever\nmyhostnme = x\n")
    r = inst.check()
    is_(r.returncode, 78, "two problems: exit 78")
    like(r.stderr, "%s:%d:" % (inst.path("tern.conf"), line), "two problems: the first at its line")
    like(r.stderr, "%s:%d:" % (inst.path("tern.conf"), line + 1), "two problems: the second at its line")
    like(r.stderr, "%d problems" % (2 + (clean_exit(inst) != 0)), "two problems: counted")
    inst.restore()
    pcre = inst.path("bad-header-checks")
    with open(pcre, "w") as f:
        f.write("/^Subject: ok/ WARN fine\n/^Subject: (.*/ REJECT broken\n")
    if not os.path.exists(inst.path("qmgr.conf")):
        open(inst.path("qmgr.conf"), "w").close()
    inst.saved.setdefault("qmgr.conf", open(inst.path("qmgr.conf")).read())
    r = broken(inst, "qmgr.conf", "header_checks = pcre:%s\n" % pcre, "header_checks: %s:2:" % pcre,
               "a pattern error in header_checks")
    like(r.stderr, "missing closing parenthesis", "the pattern error says what is wrong")
    os.unlink(pcre)
    broken(inst, "master.conf", "bogus inet n\n", "", "bad master.conf line")
    broken(inst, "master.conf", "nosuch unix - - n - - tern-nosuch-program\n",
           "program 'tern-nosuch-program' not found", "missing program")
    svc = "tern-testsvc" if os.access(os.path.join(inst.daemons, "tern-testsvc"), os.X_OK) else "master"
    broken(inst, "master.conf", "tsvc unix - - n - 1 %s -o max_idle=forever\n" % svc, "-o: max_idle",
           "bad -o value in master.conf")
    broken(inst, "tern.conf", "mail_owner = tern-no-such-user\n", "mail_owner: no user",
           "mail_owner does not exist")
    if IS_ROOT and not inst.pre:
        broken(inst, "tern.conf", "mail_owner = root\n", "mail_owner 'root' is root", "mail_owner is root")
    with open(inst.path("master.conf")) as f:
        lines = f.read().splitlines()
    unbuilt = [l[len("# not built yet: "):] for l in lines if l.startswith("# not built yet: ")]
    if not unbuilt:
        ok(True, "daemon_directory with a new program: still clean # SKIP every program is built")
        ok(True, "a commented-out service gets a note # SKIP every program is built")
    else:
        new = unbuilt[0]
        fake = tempfile.mkdtemp(prefix="check-daemons-", dir=TMP)
        made.append(fake)
        os.chmod(fake, 0o755)
        # the programs master.conf already runs stay; one unbuilt program appears
        for n in os.listdir(inst.daemons):
            if n != new:
                os.symlink(os.path.join(inst.daemons, n), os.path.join(fake, n))
        with open(os.path.join(fake, new), "w") as f:
            f.write("#!/bin/sh\nexit 0\n")
        os.chmod(os.path.join(fake, new), 0o755)
        inst.append("tern.conf", "daemon_directory = %s\n" % fake)
        r = inst.check()
        is_(r.returncode, 0, "daemon_directory with a new program: still clean")
        note = lines.index("# not built yet: " + new) + 1
        like(r.stdout, "%s:%d: note: %s is built now" % (inst.path("master.conf"), note, new),
             "a commented-out service whose program exists now gets a note")
    inst.restore()
    open(inst.path("nosuchd.conf"), "w").close()
    r = inst.check()
    like(r.stdout, "nosuchd.conf: note: no tern program reads", "a stray .conf file gets a note")
    os.unlink(inst.path("nosuchd.conf"))
    r = inst.ctl("check", "extra")
    is_(r.returncode, 64, "check with an argument: exit 64")
    empty = tempfile.mkdtemp(prefix="check-empty-", dir=TMP)
    made.append(empty)
    r = run([TERNCTL, "-c", empty, "check"])
    is_(r.returncode, 78, "a directory without tern.conf: exit 78")
    like(r.stderr, "tern.conf", "and says what is missing")


def test_repairs(inst, who):
    me = "nobody" if inst.pre else "root"
    q = inst.path("queue")
    os.rmdir(os.path.join(q, "hold"))
    r = inst.check()
    is_(r.returncode, clean_exit(inst), "%s: a removed queue directory: repaired" % me)
    like(r.stdout, "fixed: %s/hold: created" % q, "%s: says it recreated queue/hold" % me)
    st = os.stat(os.path.join(q, "hold"))
    ok(stat.S_ISDIR(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == who.pw_uid,
       "%s: queue/hold is back, mode 0700, owner %s" % (me, who.pw_name))

    os.chmod(os.path.join(q, "incoming"), 0o755)
    os.chmod(os.path.join(q, "maildrop"), 0o777)
    r = inst.check()
    is_(r.returncode, clean_exit(inst), "%s: wrong modes: repaired" % me)
    like(r.stdout, "fixed: %s/incoming: mode was 0755, now 0700" % q, "%s: says what it fixed" % me)
    is_(stat.S_IMODE(os.stat(os.path.join(q, "incoming")).st_mode), 0o700, "%s: incoming is 0700 again" % me)
    is_(stat.S_IMODE(os.stat(os.path.join(q, "maildrop")).st_mode), 0o1730, "%s: maildrop is 1730 again" % me)

    if not inst.pre:
        nobody = NOBODY or pwd.getpwnam("nobody")
        os.chown(os.path.join(q, "active"), nobody.pw_uid, nobody.pw_gid)
        r = inst.check()
        is_(r.returncode, clean_exit(inst), "root: wrong owner: repaired")
        like(r.stdout, "fixed: %s/active: owner was" % q, "root: says it changed the owner")
        st = os.stat(os.path.join(q, "active"))
        is_((st.st_uid, st.st_gid), (who.pw_uid, who.pw_gid), "root: queue/active belongs to tern again")

    junk = os.path.join(q, "junk")
    with open(junk, "w") as f:
        f.write("x")
    r = inst.check()
    is_(r.returncode, 78, "%s: a file that does not belong in the queue: exit 78" % me)
    like(r.stderr, junk, "%s: names it" % me)
    ok(os.path.exists(junk), "%s: and does not remove it" % me)
    os.unlink(junk)

    os.unlink(inst.path("tern-files"))
    r = inst.check()
    is_(r.returncode, clean_exit(inst), "%s: a missing manifest is put back" % me)
    ok(os.path.exists(inst.path("tern-files")), "%s: tern-files exists again" % me)

    os.rmdir(os.path.join(q, "timed"))
    inst.append("tern.conf", "myhostnme = x\n")
    r = inst.check()
    is_(r.returncode, 78, "%s: broken tern.conf: exit 78" % me)
    ok(not os.path.exists(os.path.join(q, "timed")), "%s: and the queue is not touched" % me)
    inst.restore()
    r = inst.check()
    ok(os.path.isdir(os.path.join(q, "timed")), "%s: once tern.conf is fixed, the queue is repaired" % me)


def test_shipped_defaults():
    """conf/tern.conf lists every global parameter with its default, and
    the shipped tern.conf and master.conf check clean."""
    macros = {"TERN_SYSCONFDIR": "/etc/tern", "TERN_QUEUE_DIRECTORY": "/var/spool/tern",
              "TERN_DATA_DIRECTORY": "/var/lib/tern", "TERN_LIBEXECDIR": "/usr/local/libexec/tern",
              "TERN_SBINDIR": "/usr/local/sbin"}
    with open(os.path.join(SRC, "lib", "mail", "params", "global.def")) as f:
        defs = re.findall(r'^PARAM\((\w+), \w+, ("(?:[^"\\]|\\.)*"|\w+),', f.read(), re.M)
    with open(os.path.join(SRC, "conf", "tern.conf")) as f:
        shipped = dict(re.findall(r"^#(\w+) =[ ]?(.*)$", f.read(), re.M))
    ok(len(defs) > 10, "global.def parsed (%d parameters)" % len(defs))
    missing = [n for n, _ in defs if n not in shipped]
    ok(not missing, "conf/tern.conf lists every global parameter")
    for n in missing:
        diag("missing from conf/tern.conf: " + n)
    wrong = [n for n, d in defs if n in shipped and shipped[n] != (macros.get(d) or d.strip('"'))]
    ok(not wrong, "conf/tern.conf shows each parameter's default")
    for n in wrong:
        diag("%s: conf/tern.conf says %r" % (n, shipped[n]))

    d = tempfile.mkdtemp(prefix="check-shipped-", dir=TMP)
    made.append(d)
    for name in ("tern.conf", "master.conf", "tern-files"):
        shutil.copy(os.path.join(SRC, "conf", name), d)
    with open(os.path.join(d, "tern.conf"), "a") as f:
        f.write("queue_directory = %s/queue\ndata_directory = %s/data\ndaemon_directory = %s\n"
                % (d, d, os.path.realpath(os.path.dirname(TERNCTL))))
    r = run([TERNCTL, "-c", d, "check"])
    is_(r.returncode, 0, "the shipped tern.conf and master.conf check clean")
    if r.returncode:
        diag(r.stdout + r.stderr)
    ok(os.path.isdir(os.path.join(d, "queue", "maildrop")), "and check builds the queue they name")


def main():
    if not ok(os.access(TERNCTL, os.X_OK), "ternctl is built: " + TERNCTL):
        done()
    if not IS_ROOT:
        ok(True, "root and nobody instances # SKIP not root (CI runs these as root)")
        done()
    inst = Inst()
    test_shipped_defaults()
    test_config(inst)
    test_repairs(inst, pwd.getpwnam(inst.value("mail_owner")))
    if NOBODY is None:
        ok(False, "a user 'nobody' exists for the unprivileged tests")
        done()
    nb = Inst(NOBODY)
    is_(nb.value("mail_owner"), NOBODY.pw_name, "nobody's instance has mail_owner = nobody")
    test_config(nb)
    test_repairs(nb, NOBODY)
    done()


try:
    main()
finally:
    for p in made:
        shutil.rmtree(p, ignore_errors=True)
