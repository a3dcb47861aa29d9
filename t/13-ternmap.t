#!/usr/bin/python3
"""13-ternmap - the ternmap tool: build, query (-q KEY, -q -), list (-s),
delete (-d), keep case (-f), errors with file:line and sysexits codes,
concurrent deletes that must not lose each other's change, and atomic
rebuilds: readers looping lookups while ternmap rebuilds the table 50
times never see a missing or partial table."""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tern_test as T  # noqa: E402

TM = T.prog("ternmap")
if not os.access(TM, os.X_OK):
    T.skip_all("ternmap is not built")

D = tempfile.mkdtemp(prefix="ternmap-")
atexit.register(shutil.rmtree, D, True)


def p(name):
    return os.path.join(D, name)


def put(name, text, mode=None):
    with open(p(name), "w") as f:
        f.write(text)
    if mode is not None:
        os.chmod(p(name), mode)
    return p(name)


def tm(*args, input=None):
    return T.run([TM] + list(args), input=input, timeout=30)


# --- build and query ---------------------------------------------------
put("aliases", "# test\nPostmaster root\nlist alice,\n  bob\nabuse one\nabuse two\n", 0o640)
r = tm("hash:" + p("aliases"))
T.is_(r.returncode, 0, "build hash")
T.like(r.stderr, "aliases:6: duplicate key 'abuse': the last one wins", "duplicate key warned with file:line")
T.ok(os.path.exists(p("aliases.db")), "aliases.db exists")
T.is_(oct(os.stat(p("aliases.db")).st_mode & 0o7777), "0o640", ".db has the text file's mode")
T.is_(sorted(os.listdir(D)), ["aliases", "aliases.db"], "no temporary files left")
r = tm("-q", "POSTMASTER", "hash:" + p("aliases"))
T.is_((r.returncode, r.stdout), (0, "root\n"), "-q finds, folding the key")
T.is_(tm("-q", "abuse", "hash:" + p("aliases")).stdout, "two\n", "last duplicate wins")
T.is_(tm("-q", "list", "hash:" + p("aliases")).stdout, "alice,  bob\n", "continuation line")
r = tm("-q", "nobody", "hash:" + p("aliases"))
T.is_((r.returncode, r.stdout), (1, ""), "-q not found: exit 1, no output")
T.is_(tm("-q", "list", p("aliases")).stdout, "alice,  bob\n", "no type means hash:")

put("bt", "k1 v1\nk2 v2\n")
T.is_(tm("btree:" + p("bt")).returncode, 0, "build btree")
T.is_(tm("-q", "k2", "btree:" + p("bt")).stdout, "v2\n", "query btree")
r = tm("-q", "k2", "hash:" + p("bt"))
T.is_(r.returncode, 65, "btree file opened as hash: data error")
T.like(r.stderr, "not a Berkeley DB hash file", "wrong type explained")

put("cased", "MiXed yes\n")
tm("-f", "hash:" + p("cased"))
T.is_(tm("-f", "-q", "MiXed", "hash:" + p("cased")).returncode, 0, "-f keeps case: found")
T.is_(tm("-f", "-q", "mixed", "hash:" + p("cased")).returncode, 1, "-f keeps case: other case not found")

# --- -q - batch, several tables, other types -----------------------------
r = tm("-q", "-", "hash:" + p("aliases"), input="postmaster\nmissing\n\nABUSE\n")
T.is_((r.returncode, r.stdout), (0, "postmaster\troot\nABUSE\ttwo\n"), "-q - prints key<TAB>value for found keys")
r = tm("-q", "-", "hash:" + p("aliases"), input="x\ny\n")
T.is_((r.returncode, r.stdout), (1, ""), "-q - with nothing found: exit 1")
r = tm("-q", "postmaster", "inline:{postmaster=first}", "hash:" + p("aliases"))
T.is_(r.stdout, "first\n", "several tables: the first that has the key wins")
r = tm("-q", "list", "inline:{postmaster=first}", "hash:" + p("aliases"))
T.is_(r.stdout, "alice,  bob\n", "several tables: falls through to the next")

put("re.pcre", "if /@example\\.com$/\n/^(.*)@/ local $1\nendif\n!/x/ no-x\n")
T.is_(tm("-q", "joe@Example.com", "pcre:" + p("re.pcre")).stdout, "local joe\n", "query pcre with $1")
T.is_(tm("-q", "abc", "pcre:" + p("re.pcre")).stdout, "no-x\n", "query pcre negation")
put("nets.cidr", "192.0.2.0/24 doc-net\n2001:db8::/32 doc6\n")
T.is_(tm("-q", "192.0.2.9", "cidr:" + p("nets.cidr")).stdout, "doc-net\n", "query cidr v4")
T.is_(tm("-q", "::ffff:192.0.2.9", "cidr:" + p("nets.cidr")).stdout, "doc-net\n", "query cidr mapped")
T.is_(tm("-q", "2001:db8::1", "cidr:" + p("nets.cidr")).stdout, "doc6\n", "query cidr v6")
T.is_(tm("-q", "x", "texthash:" + p("bt")).returncode, 1, "query texthash: not found")
T.is_(tm("-q", "K1", "texthash:" + p("bt")).stdout, "v1\n", "query texthash")
T.is_(tm("-q", "b", "inline:{ a = 1, b = { 2, 3 } }").stdout, "2, 3\n", "query inline")
T.is_(tm("-q", "anything", "static:{ fixed value }").stdout, "fixed value\n", "query static")
T.is_(tm("pcre:" + p("re.pcre")).returncode, 0, "no -q on pcre: checks the file")

# --- -s ------------------------------------------------------------------
r = tm("-s", "hash:" + p("aliases"))
T.is_(sorted(r.stdout.splitlines()), ["abuse\ttwo", "list\talice,  bob", "postmaster\troot"], "-s lists a hash table")
r = tm("-s", "texthash:" + p("bt"))
T.is_(r.stdout, "k1\tv1\nk2\tv2\n", "-s lists a texthash table in file order")
r = tm("-s", "pcre:" + p("re.pcre"))
T.is_(r.returncode, 64, "-s on pcre: usage error")
T.like(r.stderr, "cannot list", "-s on pcre explained")

# --- -d ------------------------------------------------------------------
T.is_(tm("-d", "ABUSE", "hash:" + p("aliases")).returncode, 0, "-d deletes (key folded)")
T.is_(tm("-q", "abuse", "hash:" + p("aliases")).returncode, 1, "deleted key is gone")
T.is_(tm("-q", "postmaster", "hash:" + p("aliases")).returncode, 0, "other keys stay")
T.is_(oct(os.stat(p("aliases.db")).st_mode & 0o7777), "0o640", "-d keeps the .db mode")
T.is_(tm("-d", "abuse", "hash:" + p("aliases")).returncode, 1, "-d of a missing key: exit 1")
r = tm("-d", "-", "hash:" + p("aliases"), input="list\npostmaster\n")
T.is_(r.returncode, 0, "-d - deletes keys read from stdin")
T.is_(tm("-s", "hash:" + p("aliases")).stdout, "", "table now empty")
T.is_(tm("-d", "x", "pcre:" + p("re.pcre")).returncode, 64, "-d on pcre: usage error")
T.is_(tm("-d", "x", "hash:" + p("nothing")).returncode, 66, "-d on a missing .db: no input")

# concurrent deletes are serialised by the lock: none is lost
put("many", "".join("k%d v%d\n" % (i, i) for i in range(40)))
tm("hash:" + p("many"))
procs = [subprocess.Popen([TM, "-d", "k%d" % i, "hash:" + p("many")]) for i in range(10)]
codes = [pr.wait(timeout=30) for pr in procs]
T.is_(codes, [0] * 10, "10 concurrent -d all succeed")
left = tm("-s", "hash:" + p("many")).stdout.splitlines()
T.is_(len(left), 30, "10 concurrent -d: all 10 keys gone, none lost")
T.is_([f for f in os.listdir(D) if f.startswith("many.db.")], [], "no temporary files after concurrent writers")

# --- errors ----------------------------------------------------------------
r = tm("hash:" + p("absent"))
T.is_(r.returncode, 66, "missing text file: exit 66")
T.like(r.stderr, "ternmap: error: cannot open " + p("absent"), "missing text file named")
put("bad", "ok 1\nnovalue\n")
r = tm("hash:" + p("bad"))
T.is_(r.returncode, 65, "key without value: exit 65")
T.like(r.stderr, "ternmap: error: " + p("bad") + ":2: key 'novalue' has no value", "key without value: file:line")
T.ok(not os.path.exists(p("bad.db")), "failed build leaves no .db")
put("bad.pcre", "/ok/ 1\n/a(b/ x\n")
r = tm("pcre:" + p("bad.pcre"))
T.is_(r.returncode, 65, "bad regexp: exit 65")
T.like(r.stderr, p("bad.pcre") + ":2: error in regexp /a(b/ at offset 3: missing closing parenthesis",
       "bad regexp: file:line and PCRE2's message")
r = tm("-q", "x", "pcre:" + p("bad.pcre"))
T.is_(r.returncode, 65, "query of a bad pcre table: exit 65")
put("bad.cidr", "10.1.2.3/8 x\n")
r = tm("cidr:" + p("bad.cidr"))
T.is_(r.returncode, 65, "cidr host bits: exit 65")
T.like(r.stderr, "bad.cidr:1: non-null host address bits", "cidr host bits: file:line")
r = tm("-q", "x", "nosuch:" + p("bt"))
T.is_(r.returncode, 64, "unknown type: exit 64")
T.like(r.stderr, "unknown table type 'nosuch'", "unknown type named")
T.is_(tm().returncode, 64, "no table: usage")
T.is_(tm("-q", "a", "-s", "hash:" + p("bt")).returncode, 64, "-q with -s: usage")
T.is_(tm("-x", "hash:" + p("bt")).returncode, 64, "unknown option: usage")
T.is_(tm("-c", p("nodir"), "hash:" + p("bt")).returncode, 66, "-c with a missing directory")
T.is_(tm("-c", D, "-q", "k1", "btree:" + p("bt")).returncode, 0, "-c with a directory")
r = tm("-q", "x", "hash:" + p("nothing"))
T.is_(r.returncode, 66, "query of a missing .db: exit 66")

# stale .db warning
put("stale", "a 1\n")
tm("hash:" + p("stale"))
st = os.stat(p("stale.db"))
os.utime(p("stale"), (st.st_atime + 100, st.st_mtime + 100))
r = tm("-q", "a", "hash:" + p("stale"))
T.is_(r.stdout, "1\n", "stale .db still answers")
T.like(r.stderr, 'is newer than %s: run "ternmap hash:%s"' % (p("stale.db"), p("stale")), "stale .db warned")

# a damaged btree: lookups fail with a temporary error
with open(p("big"), "w") as f:
    for i in range(3000):
        f.write("key%d value-%d-with-some-padding-to-fill-pages\n" % (i, i))
tm("btree:" + p("big"))
os.truncate(p("big.db"), 8192)
r = tm("-q", "key2999", "btree:" + p("big"))
T.is_(r.returncode, 75, "damaged .db: exit 75 (temporary)")
T.like(r.stderr, "cannot read", "damaged .db explained")

# --- atomic rebuild ----------------------------------------------------------
N = 200


def version_text(v):
    return "".join("k%d v%d-%d\n" % (i, v, i) for i in range(N))


put("live", version_text(0))
T.is_(tm("hash:" + p("live")).returncode, 0, "live table built")
stop = threading.Event()
problems = []
seen = set()
counts = {"batch": 0, "single": 0}


def batch_reader():
    """One long-lived ternmap -q - process: reopens the table as it is replaced."""
    proc = subprocess.Popen([TM, "-q", "-", "hash:" + p("live")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
    i = 0
    try:
        while not stop.is_set():
            k = "k%d" % (i % N)
            proc.stdin.write(k + "\n")
            proc.stdin.flush()
            line = proc.stdout.readline()
            key, _, value = line.rstrip("\n").partition("\t")
            ver, _, idx = value[1:].partition("-")
            if key != k or not value.startswith("v") or idx != str(i % N):
                problems.append("batch: %r for %s" % (line, k))
                break
            seen.add(ver)
            counts["batch"] += 1
            i += 1
    finally:
        proc.stdin.close()
        proc.wait(timeout=10)


def single_reader():
    """Fresh ternmap -q processes: each opens whatever file is there."""
    i = 0
    while not stop.is_set():
        k = "k%d" % (i % N)
        r = tm("-q", k, "hash:" + p("live"))
        if r.returncode != 0 or not r.stdout.startswith("v") or not r.stdout.endswith("-%d\n" % (i % N)):
            problems.append("single: rc %d %r %r" % (r.returncode, r.stdout, r.stderr))
            break
        counts["single"] += 1
        i += 1


threads = [threading.Thread(target=batch_reader), threading.Thread(target=single_reader)]
for t in threads:
    t.start()
build_failures = 0
for v in range(1, 51):
    put("live.new", version_text(v % 2 + 1))
    os.rename(p("live.new"), p("live"))
    if tm("hash:" + p("live")).returncode != 0:
        build_failures += 1
stop.set()
for t in threads:
    t.join(timeout=30)
T.is_(build_failures, 0, "50 rebuilds succeed")
T.is_(problems, [], "readers never saw a missing or partial table")
T.ok(counts["batch"] > 50 and counts["single"] > 5,
     "readers were busy during the rebuilds (%d batch, %d single lookups)" % (counts["batch"], counts["single"]))
T.ok(len(seen) >= 2, "the long-lived reader followed the rebuilds (versions seen: %s)" % sorted(seen))
T.is_([f for f in os.listdir(D) if f.startswith("live.db.")], [], "no temporary files after rebuilds")

T.done()
