#!/usr/bin/python3
"""57-nonroot - the local and virtual delivery tests and the end-to-end
test, run again as an ordinary user (nobody) when the suite runs as root,
as `make run` does for a developer without root: every daemon runs as
that user, the virtual domain's mailboxes are the user's own, local
delivers to the user's own mailbox, and what needs root (other users,
useradd) is skipped by those tests with the reason.

The programs and tests are copied into a private directory that user
owns (the tree itself may not be writable by it); each test file is one
test point here, with its TAP output shown when it fails.
"""
import os
import pwd
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import BUILD, IS_ROOT, SRC, diag, done, ok, skip_all, unprivileged_user  # noqa: E402

TESTS = ["55-local.t", "55-local-mbox.t", "56-virtual.t", "56-virtual-owners.t", "60-e2e.t"]

if not IS_ROOT:
    skip_all("already an ordinary user: the tests in %s run as this user themselves" % ", ".join(TESTS))
user = unprivileged_user()
if user is None:
    skip_all("no unprivileged user (nobody) to run the tests as")
if not shutil.which("runuser") or not shutil.which("prove"):
    skip_all("runuser or prove is missing")
if not os.access(os.path.join(BUILD, "master"), os.X_OK):
    skip_all("master is not built")

top = tempfile.mkdtemp(prefix="tern-nonroot-")
try:
    shutil.copytree(BUILD, os.path.join(top, "build"), symlinks=True,
                    ignore=shutil.ignore_patterns("obj"))
    shutil.copytree(os.path.join(SRC, "t"), os.path.join(top, "t"), symlinks=True,
                    ignore=lambda d, names: ["tmp"] if os.path.abspath(d) == os.path.join(SRC, "t") else [])
    for sub in ("conf", "man"):
        shutil.copytree(os.path.join(SRC, sub), os.path.join(top, sub), symlinks=True)
    os.makedirs(os.path.join(top, "t", "tmp"))
    for d, dirs, files in os.walk(top):
        for n in [d] + [os.path.join(d, x) for x in dirs + files]:
            os.lchown(n, user.pw_uid, user.pw_gid)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "HOME": top, "LANG": "C.UTF-8",
           "TERN_BUILD": os.path.join(top, "build"), "TERN_SRC": top}
    for t in TESTS:
        r = subprocess.run(["runuser", "-u", user.pw_name, "--", "prove", "-v", os.path.join("t", t)],
                           cwd=top, env=env, capture_output=True, text=True, timeout=300)
        if not ok(r.returncode == 0, "%s passes as %s (uid %d)" % (t, user.pw_name, user.pw_uid)):
            diag("\n".join(l for l in (r.stdout + r.stderr).splitlines()
                           if not l.startswith("ok "))[-3000:])
        else:
            skips = [l for l in r.stdout.splitlines() if "# SKIP" in l]
            for line in skips:
                diag("%s: %s" % (t, line.strip()))
finally:
    shutil.rmtree(top, ignore_errors=True)
done()
