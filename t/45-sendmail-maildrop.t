#!/usr/bin/python3
"""45-sendmail-maildrop - local submission while tern is stopped.

sendmail spools to maildrop/ through terndrop and exits 0; mailq shows
the file; after "ternctl start" pickup replays it to cleanup and removes
it. Malformed files (garbage, truncated, an odd name) and files cleanup
refuses go to corrupt/ with a log line; a stale temporary file is
removed with a log line; a file's owner is its origin uid. As root: the
set-group-id terndrop lets an ordinary user spool to root's instance,
and gives its rights up for a configuration the user could have written.
"""
import grp
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import IS_ROOT, SRC, diag, done, is_, like, ok, prog, skip_all, wait_for  # noqa: E402
from sendmail_test import (all_queued, listdir, pickup_failures, pickup_ready, poke_pickup,  # noqa: E402
                           queue_file, sendmail, submission_instance)

for p in ("cleanup", "pickup", "sendmail", "terndrop", "terncat"):
    if not os.access(prog(p), os.X_OK):
        skip_all("%s is not built" % p)
from tern_ipc import encode  # noqa: E402

inst = submission_instance()
D = inst.dir
MD = os.path.join(D, "queue", "maildrop")


def frames(sender="s@example.com", rcpts=("r@example.com",), content=b"Subject: md\r\n\r\nx\r\n", end=True):
    """A maildrop file's bytes: BEGIN, chunks, end."""
    out = encode([("op", "begin"), ("sender", sender)] + [("rcpt", r) for r in rcpts])
    if content:
        out += encode([("chunk", content)])
    if end:
        out += encode([("end", len(content))])
    return out


def drop(name, data, uid=None):
    path = os.path.join(MD, name)
    with open(path, "wb") as f:
        f.write(data)
    if uid is not None:
        os.chown(path, uid, -1)
    return path


def subject_queued(subject):
    """The queue id of the message with this Subject:, or None."""
    for qid in all_queued(D):
        q = queue_file(D, qid)
        if q and ("Subject: %s\n" % subject) in q["content"]:
            return qid
    return None


# tern is not running: spool
r = sendmail(D, ["-v", "offline@example.com"], "Subject: while stopped\n\nhello\n")
is_(r.returncode, 0, "tern stopped: sendmail exits 0")
like(r.stderr, "queued as maildrop", "and says the maildrop has it")
files = [f for f in listdir(D, "maildrop") if not f.startswith("tmp.")]
is_(len(files), 1, "one file in maildrop/")
if files:
    st = os.stat(os.path.join(MD, files[0]))
    is_((st.st_uid, st.st_mode & 0o7777), (os.getuid(), 0o644), "owned by the submitter, mode 0644")
is_([f for f in listdir(D, "maildrop") if f.startswith("tmp.")], [], "no temporary file left")
r = sendmail(D, [], name="mailq")
ok(r.returncode == 0 and "(waiting in maildrop for pickup)" in r.stdout and "offline@example.com" in r.stdout,
   "mailq shows the maildrop file")

# start: pickup takes it
r = inst.start()
if not ok(r.returncode == 0 and pickup_ready(D), "instance started"):
    diag(inst.log())
    done()
poke_pickup(D)
ok(wait_for(lambda: listdir(D, "maildrop") == [], 15), "after the start, maildrop/ is empty")
qid = wait_for(lambda: subject_queued("while stopped"), 10)
ok(qid is not None, "the message is in the queue")
if qid:
    q = queue_file(D, qid)
    ok(q["rcpts"] == ["offline@example.com"] and q["attrs"].get("origin_uid") == str(os.getuid()),
       "with its recipient and the origin uid")
    like(inst.log(), "%s: uid=%d from=<" % (qid, os.getuid()), "pickup logs it")

# malformed files go to corrupt/
drop("0PAB3Q7XK2M4F71", b"this is not a maildrop file\n")
drop("0PAB3Q7XK2M4F72", frames(content=b"Subject: truncated\r\n\r\nx\r\n", end=False))
drop("0PAB3Q7XK2M4F73", frames() + frames())
drop("junk-name", frames())
poke_pickup(D)
ok(wait_for(lambda: listdir(D, "maildrop") == [], 15), "pickup handled the bad files")
is_(listdir(D, "corrupt"), ["0PAB3Q7XK2M4F71", "0PAB3Q7XK2M4F72", "0PAB3Q7XK2M4F73", "junk-name"],
    "all four are in corrupt/")
log = inst.log()
for name in ("0PAB3Q7XK2M4F71", "0PAB3Q7XK2M4F72", "0PAB3Q7XK2M4F73", "junk-name"):
    like(log, "maildrop/%s: " % name, "a log line names %s" % name)
like(log, "moved to corrupt/0PAB3Q7XK2M4F72", "and says where it went")
ok(subject_queued("truncated") is None, "the truncated message did not reach the queue")

# cleanup refuses a message: corrupt/, with the reply in the log
loop = b"".join(b"Received: from hop%d\r\n" % i for i in range(120)) + b"Subject: loop\r\n\r\nx\r\n"
drop("0PAB3Q7XK2M4F74", frames(content=loop))
poke_pickup(D)
ok(wait_for(lambda: "0PAB3Q7XK2M4F74" in listdir(D, "corrupt"), 15), "a message cleanup refuses goes to corrupt/")
like(inst.log(), "refused by cleanup: 554", "with cleanup's reply in the log")

# a stale temporary file is removed, a fresh one is left alone
old = drop("tmp.1.2", b"partial")
os.utime(old, (time.time() - 3 * 86400, time.time() - 3 * 86400))
drop("tmp.3.4", b"partial")
poke_pickup(D)
ok(wait_for(lambda: "tmp.1.2" not in listdir(D, "maildrop"), 15), "a temporary file untouched for days is removed")
like(inst.log(), "maildrop/tmp.1.2: removed an unfinished file", "with a log line")
ok("tmp.3.4" in listdir(D, "maildrop"), "a fresh temporary file is left for its writer")
os.unlink(os.path.join(MD, "tmp.3.4"))

# the owner of a file is its origin uid
if IS_ROOT:
    drop("0PAB3Q7XK2M4F75", frames(content=b"Subject: owned\r\n\r\nx\r\n"), uid=65534)
    poke_pickup(D)
    qid = wait_for(lambda: subject_queued("owned"), 15)
    ok(qid is not None and queue_file(D, qid)["attrs"].get("origin_uid") == "65534",
       "the file's owner is the origin uid")

# sendmail -> 554 through the socket: exit 69, nothing spooled
r = sendmail(D, ["x@example.com"], loop.decode().replace("\r\n", "\n"))
is_(r.returncode, 69, "a message cleanup refuses: EX_UNAVAILABLE")
like(r.stderr, "554", "with cleanup's reply")
is_([f for f in listdir(D, "maildrop")], [], "and nothing in the maildrop")

# pickup runs, cleanup does not: sendmail spools, pickup keeps the file
MASTER = os.path.join(D, "master.conf")
with open(MASTER) as f:
    master_text = f.read()
inst.stop()
with open(MASTER, "w") as f:
    f.write(re.sub(r"^(cleanup\s)", r"#\1", master_text, flags=re.M))
r = inst.start()
ok(r.returncode == 0 and pickup_ready(D), "started without cleanup")
r = sendmail(D, ["-v", "nocleanup@example.com"], "Subject: no cleanup\n\nx\n")
ok(r.returncode == 0 and "queued as maildrop" in r.stderr, "pickup cannot reach cleanup: sendmail spools, exit 0")
like(inst.log(), "not queued: 451 4.3.0", "pickup logs the temporary failure")
time.sleep(0.5)
is_(len(listdir(D, "maildrop")), 1, "the file waits in maildrop/")
inst.stop()
with open(MASTER, "w") as f:
    f.write(master_text)
r = inst.start()
ok(r.returncode == 0 and pickup_ready(D), "started with cleanup again")
poke_pickup(D)
ok(wait_for(lambda: listdir(D, "maildrop") == [], 15) and wait_for(lambda: subject_queued("no cleanup"), 10),
   "then pickup delivers it to cleanup")

# set-group-id terndrop: an ordinary user spools to root's instance
if IS_ROOT and shutil.which("setpriv"):
    inst.stop()
    NOBODY = ["setpriv", "--reuid=nobody", "--regid=" + grp.getgrgid(65534).gr_name, "--clear-groups"]
    bindir = os.path.join(D, "bin")
    os.mkdir(bindir, 0o755)
    for name in os.listdir(os.path.dirname(prog("sendmail"))):
        src = prog(name)
        if os.path.isfile(src) and os.access(src, os.X_OK) and name != "terndrop":
            os.symlink(src, os.path.join(bindir, name))
    shutil.copy(prog("terndrop"), os.path.join(bindir, "terndrop"))
    os.chown(os.path.join(bindir, "terndrop"), 0, grp.getgrnam("terndrop").gr_gid)
    os.chmod(os.path.join(bindir, "terndrop"), 0o2755)
    inst.conf("daemon_directory", bindir)
    inst.conf("command_directory", bindir)

    # a configuration nobody wrote: terndrop gives its group up, and fails
    evil = tempfile.mkdtemp(prefix="evil-", dir=os.path.join(SRC, "t", "tmp"))
    os.chmod(evil, 0o755)
    with open(os.path.join(evil, "tern.conf"), "w") as f:
        f.write("queue_directory = %s\ndaemon_directory = %s\n" % (os.path.join(D, "queue"), bindir))
    os.chown(evil, 65534, 65534)
    os.chown(os.path.join(evil, "tern.conf"), 65534, 65534)
    r = sendmail(evil, ["x@example.com"], "Subject: evil\n\nx\n", pre=NOBODY)
    ok(r.returncode == 75 and listdir(D, "maildrop") == [],
       "a user's own configuration gets no set-id rights: nothing spooled, EX_TEMPFAIL")
    like(r.stderr, "terndrop: error: cannot create a file in %s: Permission denied" % MD, "terndrop says why")
    shutil.rmtree(evil, ignore_errors=True)

    r = sendmail(D, ["-v", "user@example.com"], "Subject: from nobody\n\nx\n", pre=NOBODY)
    is_(r.returncode, 0, "nobody, tern stopped: sendmail exits 0 through the set-gid terndrop")
    files = listdir(D, "maildrop")
    ok(len(files) == 1 and os.stat(os.path.join(MD, files[0])).st_uid == 65534, "the file belongs to nobody")
    r = inst.start()
    ok(r.returncode == 0 and pickup_ready(D), "started again")
    poke_pickup(D)
    qid = wait_for(lambda: subject_queued("from nobody"), 15)
    ok(qid is not None and queue_file(D, qid)["attrs"].get("origin_uid") == "65534",
       "queued with nobody's uid")
    r = sendmail(D, ["-v", "user@example.com"], "Subject: socket nobody\n\nx\n", pre=NOBODY)
    ok(r.returncode == 0 and re.search(r"queued as [0-9A-Z]{12,}", r.stderr),
       "nobody, tern running: through public/pickup")
    q = queue_file(D, re.search(r"queued as (\S+)", r.stderr).group(1)) if r.returncode == 0 else None
    ok(q is not None and q["attrs"].get("origin_uid") == "65534" and q["sender"].startswith("nobody@"),
       "with nobody's uid and login name")

inst.stop()
is_(pickup_failures(inst.log()), [], "no pickup process failed")
done()
