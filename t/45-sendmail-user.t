#!/usr/bin/python3
"""45-sendmail-user - local submission by an ordinary user on an instance
that user owns (as root: nobody, through setpriv; otherwise the user
running the test). Nothing is set-id here: with tern running sendmail
uses public/pickup, with tern stopped terndrop writes the maildrop with
the user's own rights; after the start pickup takes the file. mailq works
for the instance's owner.
"""
import os
import re
import shutil
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import (alive, children_of, done, is_, like, ok, prog,  # noqa: E402
                       run, skip_all, ordinary_user_dir, pid_file, wait_for)
from sendmail_test import (all_queued, fix_master, listdir, pickup_failures, pickup_ready,  # noqa: E402
                           poke_pickup, queue_file, sendmail)

for p in ("cleanup", "pickup", "sendmail", "terndrop", "terncat"):
    if not os.access(prog(p), os.X_OK):
        skip_all("%s is not built" % p)
USER, PRE, D = ordinary_user_dir("smuser-")


def ctl(*args):
    return run(PRE + [prog("ternctl"), "-c", D] + list(args))


def master_pid():
    return pid_file(os.path.join(D, "data", "master.pid"))


def cleanup():
    pid = master_pid()
    if pid and alive(pid):
        ctl("stop")
        for p in [pid] + children_of(pid):
            try:
                os.kill(p, 9)
            except OSError:
                pass
    shutil.rmtree(D, ignore_errors=True)


try:
    r = ctl("init")
    is_(r.returncode, 0, "init as %s" % USER.pw_name)
    fix_master(os.path.join(D, "master.conf"))

    r = ctl("start")
    ok(r.returncode == 0 and pickup_ready(D), "start as %s" % USER.pw_name)
    r = sendmail(D, ["-v", "-t"], "To: someone@example.com\nSubject: user running\n\nx\n", pre=PRE)
    is_(r.returncode, 0, "tern running: sendmail as %s exits 0" % USER.pw_name)
    m = re.search(r"queued as (\S+)", r.stderr)
    q = queue_file(D, m.group(1)) if m else None
    ok(q is not None and q["attrs"].get("origin_uid") == str(USER.pw_uid) and
       q["sender"].startswith(USER.pw_name + "@"), "queued with the user's uid and login name")

    ctl("stop")
    r = sendmail(D, ["-v", "other@example.com"], "Subject: user stopped\n\nx\n", pre=PRE)
    is_(r.returncode, 0, "tern stopped: sendmail as %s exits 0" % USER.pw_name)
    files = listdir(D, "maildrop")
    ok(len(files) == 1 and os.stat(os.path.join(D, "queue", "maildrop", files[0])).st_uid == USER.pw_uid,
       "the file is in maildrop/, the user's")
    r = sendmail(D, [], name="mailq", pre=PRE)
    ok(r.returncode == 0 and "other@example.com" in r.stdout, "mailq works for the instance's owner")

    r = ctl("start")
    ok(r.returncode == 0 and pickup_ready(D), "started again")
    poke_pickup(D)
    ok(wait_for(lambda: listdir(D, "maildrop") == [], 15), "pickup empties maildrop/")

    def stopped_one():
        for qid in all_queued(D):
            q = queue_file(D, qid)
            if q and "Subject: user stopped\n" in q["content"]:
                return q
        return None
    q = wait_for(stopped_one, 10)
    ok(q is not None and q["attrs"].get("origin_uid") == str(USER.pw_uid), "queued with the user's uid")
    like(open(os.path.join(D, "log", "maillog")).read(), "uid=%d from=<%s@" % (USER.pw_uid, USER.pw_name),
         "pickup logs the user's uid")
    ctl("stop")
    is_(pickup_failures(open(os.path.join(D, "log", "maillog")).read()), [], "no pickup process failed")
finally:
    cleanup()
done()
