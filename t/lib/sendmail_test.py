"""sendmail_test - helpers for the local submission tests (t/45-sendmail*.t).

    inst = submission_instance()        # a private instance, cleanup on private/cleanup
    r = sendmail(inst, ["-t"], "To: a@b\\n\\nhi\\n")
    qid = queued_id(r)                  # from sendmail -v: "queued as QID"
    q = queue_file(inst, qid)           # terncat, parsed: sender, rcpts, attrs, content

Programs are run with "-C DIR" of the instance; pre is a command prefix
(setpriv ...) for runs as another user. Queue files are looked for in
every queue directory, as qmgr may have moved them on.
"""
import os
import re
import socket

from tern_test import Instance, diag, prog, run, wait_for

QUEUES = ("incoming", "active", "deferred", "hold", "timed")


def fix_master(path):
    """cleanup on private/cleanup (cleanup_proto.h), whatever init wrote;
    no inet services (these tests need no ports, and must not collide);
    no qmgr, so that queued messages stay in incoming/ to be looked at."""
    with open(path) as f:
        text = f.read()
    text = re.sub(r"^#?(cleanup\s+unix\s+)\S+(\s)", r"\1-\2", text, flags=re.M)
    text = re.sub(r"^(\S+\s+inet\s)", r"#\1", text, flags=re.M)
    text = re.sub(r"^(qmgr\s)", r"#\1", text, flags=re.M)
    with open(path, "w") as f:
        f.write(text)


def submission_instance():
    """A private instance ready for local submission (not started)."""
    inst = Instance()
    fix_master(inst.path("master.conf"))
    return inst


def myorigin(dirpath):
    """The instance's myhostname (= myorigin), from its tern.conf."""
    with open(os.path.join(dirpath, "tern.conf")) as f:
        for line in f:
            m = re.match(r"myhostname\s*=\s*(\S+)", line)
            if m:
                return m.group(1)
    return None


def sendmail(dirpath, args, stdin="", pre=(), name="sendmail", env=None, timeout=60):
    """Run sendmail (or mailq, newaliases) on the instance in dirpath."""
    return run(list(pre) + [prog(name), "-C", dirpath] + list(args), input=stdin, env=env,
               timeout=timeout)


def queued_id(r):
    """The queue id sendmail -v reported, or None."""
    m = re.search(r"queued as (\S+)", r.stderr or "")
    return m.group(1) if m else None


def find_qfile(dirpath, qid, timeout=10):
    """Path of the queue file qid in any queue directory (polls), or None."""
    def look():
        for q in QUEUES:
            p = os.path.join(dirpath, "queue", q, qid)
            if os.path.exists(p):
                return p
        return None
    return wait_for(look, timeout)


def queue_file(dirpath, qid):
    """terncat of qid, parsed: dict(sender, rcpts, attrs, protocol, content, text), or None."""
    path = find_qfile(dirpath, qid)
    if path is None:
        diag("no queue file %s" % qid)
        return None
    r = run([prog("terncat"), path])
    if r.returncode != 0:
        diag(r.stdout + r.stderr)
        return None
    out = {"rcpts": [], "attrs": {}, "text": r.stdout, "sender": None, "protocol": None}
    head, _, rest = r.stdout.partition("*** MESSAGE CONTENTS")
    out["content"] = rest.split("\n", 1)[1].rsplit("*** MESSAGE FILE END", 1)[0] if rest else ""
    for line in head.splitlines():
        m = re.match(r"sender: <(.*)>$", line)
        if m:
            out["sender"] = m.group(1)
        m = re.match(r"recipient: <(.*)>$", line)
        if m:
            out["rcpts"].append(m.group(1))
        m = re.match(r"named_attribute: (\w+)=(.*)$", line)
        if m:
            out["attrs"][m.group(1)] = m.group(2)
        m = re.match(r"protocol: (.*)$", line)
        if m:
            out["protocol"] = m.group(1)
    return out


def poke_pickup(dirpath):
    """A wake-up request to pickup, as master and sendmail send it."""
    s = socket.socket(socket.AF_UNIX)
    try:
        s.settimeout(5)
        s.connect(os.path.join(dirpath, "queue", "public", "pickup"))
        s.send(b"W")
        return True
    except OSError:
        return False
    finally:
        s.close()


def listdir(dirpath, sub):
    try:
        return sorted(os.listdir(os.path.join(dirpath, "queue", sub)))
    except OSError:
        return []


def all_queued(dirpath):
    """Every queue id in the queue directories."""
    ids = []
    for q in QUEUES:
        ids += listdir(dirpath, q)
    return sorted(ids)


def pickup_ready(dirpath, timeout=10):
    """Wait until master listens on public/pickup."""
    return wait_for(lambda: os.path.exists(os.path.join(dirpath, "queue", "public", "pickup")), timeout)


def pickup_failures(log):
    """Log lines that say a pickup process failed (exit status, signal,
    fatal, panic: what a sanitizer report ends in, as children's stderr
    goes to /dev/null)."""
    return [l for l in log.splitlines()
            if re.search(r"service pickup \(pickup\) pid \d+ (exit status|killed by signal)"
                         r"|tern/pickup\[\d+\]: (fatal|panic):", l)]
