#!/usr/bin/python3
"""12-ternconf - the ternconf tool, and the man page against the parameters.

Runs the built ternconf on configuration directories made here: output
forms (all values, names, -n, -d, -h), -s with master.conf services and
their -o overrides, -e edits, every error with its exit status; then
checks that man/man5/tern.conf.5 (or man/man5/<group file>.5) lists every
parameter of every group with the type of its .def file and the default
`ternconf -d` prints.
"""
import os
import re
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tern_test as T  # noqa: E402

EX_USAGE, EX_NOINPUT, EX_CONFIG = 64, 66, 78
TYPES = {"STR": "string", "INT": "integer", "BOOL": "boolean", "TIME": "time",
         "SIZE": "size", "LIST": "list", "TABLES": "tables"}

if not os.access(T.prog("ternconf"), os.X_OK):
    T.skip_all("ternconf is not built")

TMP = tempfile.mkdtemp(prefix="ternconf-", dir="/tmp")


def conf(*args, env=None):
    """Run ternconf; returns (status, stdout, stderr)."""
    e = dict(os.environ)
    e.pop("TERN_CONFIG_DIR", None)
    e.update(env or {})
    r = T.run([T.prog("ternconf")] + list(args), env=e)
    return r.returncode, r.stdout, r.stderr


def newdir(name, files=None):
    d = os.path.join(TMP, name)
    os.mkdir(d)
    for f, text in (files or {}).items():
        with open(os.path.join(d, f), "w") as fh:
            fh.write(text)
    return d


def read(path):
    with open(path) as fh:
        return fh.read()


def def_params(path):
    """[(name, TYPE)] of a .def file."""
    out = []
    with open(path) as fh:
        for line in fh:
            m = re.match(r"PARAM\((\w+),\s*(\w+),", line)
            if m:
                out.append((m.group(1), m.group(2)))
    return out


def groups():
    """[(id, file)] of params/all_groups.h, global first."""
    out = [("global", "tern.conf")]
    with open(os.path.join(T.SRC, "lib/mail/params/all_groups.h")) as fh:
        for line in fh:
            m = re.match(r'\s*GROUP\((\w+),\s*"([^"]+)"', line)
            if m:
                out.append((m.group(1), m.group(2)))
    return out


def settings(text):
    """Parse 'name = value' / 'name =' lines into an ordered list of pairs."""
    out = []
    for line in text.splitlines():
        m = re.match(r"^(\w+) =(?: (.*))?$", line)
        out.append((m.group(1), m.group(2) or "") if m else ("?", line))
    return out


GLOBAL = def_params(os.path.join(T.SRC, "lib/mail/params/global.def"))


def test_show():
    d = newdir("show")
    rc, out, err = conf("-c", d)
    T.is_(rc, 0, "empty directory: exit 0")
    T.is_(err, "", "nothing on stderr")
    got = settings(out)
    T.is_([n for n, _ in got], [n for n, _ in GLOBAL], "every global parameter, in .def order")
    vals = dict(got)
    T.is_(vals.get("config_directory"), d, "config_directory is the directory read")
    T.is_(vals.get("max_idle"), "100s", "a default value")
    T.ok(vals.get("myhostname", "") != "", "myhostname derived from the system")
    T.is_(vals.get("myorigin"), vals.get("myhostname"), "$myhostname expanded")

    rc, out, err = conf("-c", d, "max_use", "max_idle", "maillog_file")
    T.is_((rc, out), (0, "max_use = 100\nmax_idle = 100s\nmaillog_file =\n"),
          "names in the order given; empty value as 'name ='")
    rc, out, err = conf("-c", d, "-h", "max_idle", "maillog_file")
    T.is_((rc, out), (0, "100s\n\n"), "-h prints values only")
    rc, out, err = conf("max_idle", env={"TERN_CONFIG_DIR": d})
    T.is_((rc, out), (0, "max_idle = 100s\n"), "TERN_CONFIG_DIR without -c")
    rc, out, err = conf("--help")
    T.ok(rc == 0 and out.startswith("usage: ternconf"), "--help prints the usage")

    with open(os.path.join(d, "tern.conf"), "w") as fh:
        fh.write("# test\nmyhostname = mx.example.net\nmax_idle = 5m\n"
                 "mydestination = $myhostname,\n    $mydomain\n")
    rc, out, err = conf("-c", d, "-n")
    T.is_((rc, out, err), (0, "myhostname = mx.example.net\nmydestination = $myhostname, $mydomain\n"
                           "max_idle = 5m\n", ""), "-n: only what is set, as written, in .def order")
    rc, out, err = conf("-c", d, "-n", "-h", "max_idle", "max_use")
    T.is_((rc, out), (0, "5m\n"), "-n with names prints only the set ones")
    rc, out, err = conf("-c", d, "mydestination", "mydomain")
    T.is_((rc, out), (0, "mydestination = mx.example.net, example.net\nmydomain = example.net\n"),
          "expanded, continuation joined, derived mydomain")
    rc, out, err = conf("-c", d, "-d", "myhostname", "myorigin", "max_idle")
    T.is_((rc, out), (0, "myhostname =\nmyorigin = $myhostname\nmax_idle = 100s\n"),
          "-d prints defaults as written")
    rc, out, err = conf("-c", os.path.join(d, "nonexistent"), "-d", "max_use")
    T.is_((rc, out), (0, "max_use = 100\n"), "-d needs no configuration directory")


def test_errors():
    d = newdir("errors", {"tern.conf": "max_use = 1\nmax_idle = 10x\nmyhostnme = a\n"})
    rc, out, err = conf("-c", d)
    T.is_(rc, EX_CONFIG, "problems in tern.conf: exit 78")
    T.is_(out, "", "no output with problems")
    T.like(err, "ternconf: error: %s/tern.conf:2: max_idle: '10x' is not a time "
                "(expected a number with optional unit s, m, h, d, w; 1s..365d)\n" % d,
           "bad value reported with file:line")
    T.like(err, "ternconf: error: %s/tern.conf:3: unknown parameter 'myhostnme' "
                "(did you mean 'myhostname'?)\n" % d, "unknown name in the file, with a suggestion")

    e = newdir("errors-ok")
    rc, out, err = conf("-c", e, "myhostnme")
    T.is_((rc, out, err), (EX_USAGE, "", "ternconf: error: unknown parameter 'myhostnme' "
                           "(did you mean 'myhostname'?)\n"), "unknown name argument: exit 64")
    rc, out, err = conf("-c", e, "zzzz")
    T.is_((rc, err), (EX_USAGE, "ternconf: error: unknown parameter 'zzzz'\n"), "no suggestion when far")
    rc, out, err = conf("-c", e, "-x")
    T.ok(rc == EX_USAGE and "unknown option -x" in err and "usage:" in err, "bad option: 64 and usage")
    rc, out, err = conf("-c")
    T.ok(rc == EX_USAGE and "option -c needs an argument" in err, "-c without an argument: 64")
    rc, out, err = conf("-c", e, "-n", "-d")
    T.ok(rc == EX_USAGE and "-n and -d cannot be used together" in err, "-n with -d: 64")
    rc, out, err = conf("-c", e, "-e", "-n", "max_use=1")
    T.ok(rc == EX_USAGE and "-e cannot be used with" in err, "-e with -n: 64")
    rc, out, err = conf("-c", e, "-e")
    T.ok(rc == EX_USAGE and "-e needs at least one" in err, "-e without arguments: 64")
    rc, out, err = conf("-c", os.path.join(e, "missing"))
    T.ok(rc == EX_NOINPUT and "configuration directory %s/missing: No such file" % e in err,
         "missing directory: 66")
    rc, out, err = conf("-c", os.path.join(d, "tern.conf"))
    T.ok(rc == EX_NOINPUT and "not a directory" in err, "a file as the directory: 66")


def test_edit():
    d = newdir("edit", {"tern.conf": "# Settings for this host\n"
                                     "myhostname = old.example.com   # a note\n"
                                     "\n"
                                     "mynetworks = 10.0.0.0/8,\n"
                                     "    # the office\n"
                                     "    192.0.2.0/24\n"
                                     "max_idle = 5m\n"})
    path = os.path.join(d, "tern.conf")
    rc, out, err = conf("-c", d, "-e", "mynetworks=127.0.0.0/8", "max_use = 20", "myorigin=$mydomain")
    T.is_((rc, out, err), (0, "", ""), "-e with three settings")
    T.is_(read(path), "# Settings for this host\n"
                      "myhostname = old.example.com   # a note\n"
                      "\n"
                      "mynetworks = 127.0.0.0/8\n"
                      "    # the office\n"
                      "max_idle = 5m\n"
                      "max_use = 20\n"
                      "myorigin = $mydomain\n", "comments kept, multi-line value replaced, new ones appended")
    rc, out, err = conf("-c", d, "-n")
    T.like(out, "max_use = 20\n", "-n shows the edited value")
    T.ok(not os.path.exists(path + ".tmp"), "no temporary file left")

    before = read(path)
    rc, out, err = conf("-c", d, "-e", "max_idle=10x")
    T.is_((rc, err), (EX_CONFIG, "ternconf: error: max_idle: '10x' is not a time (expected a number "
                                 "with optional unit s, m, h, d, w; 1s..365d)\n"), "bad value refused: 78")
    rc2, out, err = conf("-c", d, "-e", "myhostnme=x")
    T.is_((rc2, err), (EX_USAGE, "ternconf: error: unknown parameter 'myhostnme' "
                                 "(did you mean 'myhostname'?)\n"), "unknown name refused: 64")
    rc3, out, err = conf("-c", d, "-e", "max_use")
    T.ok(rc3 == EX_USAGE and "expected name=value" in err, "missing '=': 64")
    rc4, out, err = conf("-c", d, "-e", "max_use=7", "nonsense=1")
    T.is_(rc4, EX_USAGE, "one unknown name stops all edits")
    rc5, out, err = conf("-c", d, "-e", "config_directory=/x")
    T.ok(rc5 == EX_CONFIG and "config_directory cannot be set" in err, "config_directory refused")
    T.is_(read(path), before, "refused edits leave the file as it was")
    T.ok(not os.path.exists(path + ".tmp"), "no temporary file left after refusals")

    new = newdir("edit-new")
    rc, out, err = conf("-c", new, "-e", "syslog_name=tern-a")
    T.is_((rc, read(os.path.join(new, "tern.conf"))), (0, "syslog_name = tern-a\n"),
          "-e creates a missing tern.conf")
    rc, out, err = conf("-e", "max_use=3", env={"TERN_CONFIG_DIR": new})
    T.is_((rc, read(os.path.join(new, "tern.conf"))), (0, "syslog_name = tern-a\nmax_use = 3\n"),
          "-e in the TERN_CONFIG_DIR directory")


MASTER = """\
# service  type  private unpriv chroot wakeup maxproc command + args
testsvc    unix  -       n      n      -      1       tern-testsvc -o max_idle=7s
  -o syslog_name=svc
twice      unix  -       n      n      -      1       tern-testsvc -o max_use=5
twice      pass  -       n      n      -      1       tern-testsvc -o max_use=6
badval     unix  -       n      n      -      1       tern-testsvc -o max_use=many
"""


def test_service():
    d = newdir("service", {"tern.conf": "max_idle = 1m\n", "master.conf": MASTER})
    rc, out, err = conf("-c", d, "-s", "testsvc", "max_idle", "syslog_name", "max_use")
    T.is_((rc, out, err), (0, "max_idle = 7s\nsyslog_name = svc\nmax_use = 100\n", ""),
          "-s service: its -o overrides beat tern.conf")
    rc, out, err = conf("-c", d, "-s", "testsvc", "-n")
    T.is_((rc, out), (0, "syslog_name = svc\nmax_idle = 7s\n"), "-s with -n shows the overrides")
    rc, out, err = conf("-c", d, "max_idle")
    T.is_(out, "max_idle = 1m\n", "without -s no overrides")
    rc, out, err = conf("-c", d, "-s", "twice", "max_use")
    T.ok(rc == EX_USAGE and "more than once" in err and "twice/unix" in err, "ambiguous service: 64")
    rc, out, err = conf("-c", d, "-s", "twice/pass", "max_use")
    T.is_((rc, out), (0, "max_use = 6\n"), "name/type picks one")
    rc, out, err = conf("-c", d, "-s", "twice/unix", "-h", "max_use")
    T.is_((rc, out), (0, "5\n"), "name/type picks the other")
    rc, out, err = conf("-c", d, "-s", "nosuch")
    T.ok(rc == EX_USAGE and "unknown service 'nosuch'" in err, "unknown service: 64")
    rc, out, err = conf("-c", d, "-s", "badval")
    T.is_((rc, out, err), (EX_CONFIG, "", "ternconf: error: %s/master.conf:6: -o max_use: 'many' is not an integer "
                                          "(expected an integer in 1..100000000)\n" % d),
          "a bad -o value names its master.conf line: 78")
    rc, out, err = conf("-c", d, "-s", "global", "max_idle")
    T.is_((rc, out), (0, "max_idle = 1m\n"), "-s global")

    bad = newdir("service-bad", {"master.conf": "broken line\n"})
    rc, out, err = conf("-c", bad, "-s", "testsvc")
    T.ok(rc == EX_CONFIG and "master.conf:1" in err and "no service 'testsvc'" in err,
         "master.conf with problems: 78 and the problems")
    none = newdir("service-none")
    rc, out, err = conf("-c", none, "-s", "testsvc")
    T.ok(rc == EX_CONFIG and "master.conf" in err, "no master.conf: 78")

    for gid, gfile in groups()[1:]:
        rc, out, err = conf("-c", d, "-s", gid)
        T.ok(rc == 0 and len(settings(out)) > len(GLOBAL), "-s %s shows global and %s parameters" % (gid, gfile))


MAN_ENTRY = re.compile(r'^\.It Cm (\w+) Pq Vt (\w+) , default (?:Ql (?:"(.*)"|(\S+))|(empty))\s*$')


def man_entries(path):
    """{name: (type, default)} of the parameter entries of a man page."""
    out = {}
    if not os.path.exists(path):
        return out
    with open(path) as fh:
        for line in fh:
            if line.startswith(".It Cm "):
                m = MAN_ENTRY.match(line)
                if not m:
                    T.diag("%s: cannot parse: %s" % (path, line.rstrip()))
                    continue
                default = m.group(3) if m.group(3) is not None else (m.group(4) or "")
                out[m.group(1)] = (m.group(2), default)
    return out


def test_man():
    man5 = os.path.join(T.SRC, "man", "man5")
    main = man_entries(os.path.join(man5, "tern.conf.5"))
    T.ok(len(main) > 0, "tern.conf.5 has parameter entries")
    documented = set()
    for gid, gfile in groups():
        defs = def_params(os.path.join(T.SRC, "lib/mail/params", "global.def" if gid == "global" else gid + ".def"))
        args = ["-d"] if gid == "global" else ["-d", "-s", gid]
        rc, out, err = conf(*args)
        shown = dict(settings(out))
        T.is_(rc, 0, "ternconf %s" % " ".join(args))
        own = dict(main)
        own.update(man_entries(os.path.join(man5, gfile + ".5")))
        missing, wrong = [], []
        for name, typ in defs:
            documented.add(name)
            if name not in own:
                missing.append(name)
                continue
            if own[name][0] != TYPES[typ]:
                wrong.append("%s: type %s in the man page, %s in the .def" % (name, own[name][0], TYPES[typ]))
            if own[name][1] != shown.get(name):
                wrong.append("%s: default %r in the man page, ternconf -d says %r" % (name, own[name][1], shown.get(name)))
        T.is_(missing, [], "%s: every parameter documented" % gfile)
        T.is_(wrong, [], "%s: types and defaults match ternconf -d" % gfile)
    T.is_(sorted(set(main) - documented), [], "tern.conf.5 documents no parameter that does not exist")


try:
    test_show()
    test_errors()
    test_edit()
    test_service()
    test_man()
finally:
    shutil.rmtree(TMP, ignore_errors=True)
T.done()
