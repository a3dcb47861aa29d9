#!/usr/bin/python3
"""14-terncat - terncat on queue files written by the qfile library.

Files come from t/qfile/tern-qwrite (the library's writer driven from the
command line) and from t/data/qfile/v1-sample.qf, a version 1 file kept
in the tree so that a change of the format that breaks old files shows up
here. Checks: every envelope field and recipient status in the output,
-e/-h/-b and their combinations, byte-exact content, corrupt, truncated,
incomplete and missing files (exit 65/66 and the error line), lookup by
queue id under queue_directory from tern.conf, and usage errors.

TERN_UPDATE_REF=1 rewrites t/data/qfile/v1-sample.ref from terncat.
"""
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import tern_test as T  # noqa: E402

TERNCAT = T.prog("terncat")
QWRITE = T.prog("tern-qwrite")
DATA = os.path.join(T.SRC, "t", "data", "qfile")
ENV = dict(os.environ, TZ="UTC")
ENV.pop("TERN_CONFIG_DIR", None)

for p in (TERNCAT, QWRITE):
    if not os.access(p, os.X_OK):
        T.skip_all("%s is not built" % p)

os.makedirs(os.path.join(T.SRC, "t", "tmp"), exist_ok=True)
TMP = tempfile.mkdtemp(prefix="terncat-", dir=os.path.join(T.SRC, "t", "tmp"))
atexit.register(shutil.rmtree, TMP, True)
QUEUE = os.path.join(TMP, "queue")
for d in ("incoming", "active", "deferred", "hold", "timed", "corrupt"):
    os.makedirs(os.path.join(QUEUE, d))
INCOMING = os.path.join(QUEUE, "incoming")


def qwrite(args, content=b"", where=INCOMING):
    """Write a queue file with tern-qwrite; its path."""
    r = subprocess.run([QWRITE] + args + [where], input=content, capture_output=True)
    if r.returncode != 0:
        T.diag(r.stderr.decode(errors="replace"))
        raise RuntimeError("tern-qwrite failed")
    return os.path.join(where, r.stdout.decode().strip())


def cat(args, env=ENV):
    """Run terncat; (status, stdout bytes, stderr text)."""
    r = subprocess.run([TERNCAT] + args, capture_output=True, env=env)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


HEADERS = b"Received: from client.test\nSubject: test\nFrom: <alice@example.test>\n"
BODY = b"first body line\n\nafter an empty line\nlast line\n"
CONTENT = HEADERS + b"\n" + BODY

# --- a file with every field ---------------------------------------------
full = qwrite(["-t", "1700000000.654321", "-s", "alice@example.test", "-f", "smtputf8",
               "-f", "requiretls", "-B", "8bitmime", "-d", "hdrs,QQ314159",
               "-r", "bob@example.test,SUCCESS+FAILURE+DELAY,rfc822;bob@example.test",
               "-r", "carol@example.test,NEVER",
               "-r", "j\u00f6rg@example.test,-,utf-8;j\\x{F6}rg@example.test",
               "-a", "client_name=client.test", "-a", "client_address=192.0.2.1",
               "-a", "client_port=52100", "-a", "helo_name=[192.0.2.1]",
               "-a", "protocol=UTF8SMTPSA", "-a", "tls_protocol=TLSv1.3",
               "-a", "tls_cipher=TLS_AES_256_GCM_SHA384", "-a", "sasl_method=PLAIN",
               "-a", "sasl_username=alice", "-a", "x_note=tab\there",
               "-a", "x_csi=\u009b[2J euro \u20ac \u00e9",
               "-R", "dave@example.test", "-A", "message_id=<m1@example.test>",
               "-S", "1:T:2:4.4.1:1700003600:2", "-S", "3:D:1:2.0.0:1700000100:1",
               "-Q", "3:1700007200:1700003600:1"], CONTENT)
qid = os.path.basename(full)
st, out, err = cat([full])
T.is_(st, 0, "terncat FILE exits 0")
T.is_(err, "", "nothing on stderr")
text = out.decode("utf-8", errors="replace")
lines = text.split("\n")
T.is_(lines[0], "*** ENVELOPE RECORDS %s ***" % full, "envelope section header")
for want in ["queue_id: " + qid, "file_version: 1", "complete: yes",
             "arrival_time: 2023-11-14 22:13:20.654321 +0000 (1700000000.654321)",
             "message_size: %d (%d with CRLF line ends)" % (len(CONTENT), len(CONTENT) + CONTENT.count(b"\n")),
             "body_offset: %d" % (len(HEADERS) + 1),
             "attempts: 3", "next_attempt: 2023-11-15 00:13:20 +0000",
             "last_attempt: 2023-11-14 23:13:20 +0000", "delay_warning: sent",
             "sender: <alice@example.test>", "body_type: 8BITMIME", "smtputf8: yes",
             "requiretls: yes", "dsn_ret: HDRS", "dsn_envid: QQ314159",
             "client_name: client.test", "client_address: 192.0.2.1", "client_port: 52100",
             "helo_name: [192.0.2.1]", "protocol: UTF8SMTPSA", "tls_protocol: TLSv1.3",
             "tls_cipher: TLS_AES_256_GCM_SHA384", "sasl_method: PLAIN", "sasl_username: alice",
             "named_attribute: x_note=tab\\x09here",
             "named_attribute: x_csi=\\xc2\\x9b[2J euro \u20ac \u00e9",
             "named_attribute: message_id=<m1@example.test>"]:
    T.ok(want in lines, "envelope shows '%s'" % want)
rcpt_block = text[text.index("recipient: <bob"):text.index("*** MESSAGE CONTENTS")]
T.is_(rcpt_block,
      "recipient: <bob@example.test>\n"
      "  orcpt: rfc822;bob@example.test\n"
      "  notify: SUCCESS,FAILURE,DELAY\n"
      "  status: pending\n"
      "recipient: <carol@example.test>\n"
      "  notify: NEVER\n"
      "  status: deferred\n"
      "  attempts: 2\n"
      "  dsn: 4.4.1\n"
      "  next_attempt: 2023-11-14 23:13:20 +0000\n"
      "  delay_warned: yes\n"
      "recipient: <j\u00f6rg@example.test>\n"
      "  orcpt: utf-8;j\\\\x{F6}rg@example.test\n"
      "  status: pending\n"
      "recipient: <dave@example.test>\n"
      "  extracted: yes\n"
      "  status: delivered\n"
      "  attempts: 1\n"
      "  dsn: 2.0.0\n"
      "  status_time: 2023-11-14 22:15:00 +0000\n"
      "  notified: yes\n",
      "recipients with ORCPT, NOTIFY and every kind of status")
T.ok(out.endswith(b"*** MESSAGE CONTENTS " + full.encode() + b" ***\n" + CONTENT
                  + b"*** MESSAGE FILE END " + full.encode() + b" ***\n"),
     "the message follows as received, framed")

# --- -e, -h, -b ------------------------------------------------------------
st, out, _ = cat(["-e", full])
T.ok(st == 0 and b"queue_id: " in out and b"MESSAGE CONTENTS" not in out and b"Subject" not in out,
     "-e: envelope only")
st, out, _ = cat(["-h", full])
T.ok(st == 0 and out == HEADERS, "-h: the header lines only, unframed")
st, out, _ = cat(["-b", full])
T.ok(st == 0 and out == BODY, "-b: the body only, unframed")
st, out, _ = cat(["-hb", full])
T.ok(st == 0 and out == CONTENT, "-hb: the whole message, byte for byte")
st, out, _ = cat(["-e", "-h", full])
T.ok(st == 0 and b"queue_id:" in out and out.endswith(b" ***\n" + HEADERS + b"*** MESSAGE FILE END "
                                                     + full.encode() + b" ***\n"),
     "-eh: envelope and headers, framed")

# --- the null sender, binary content, no final newline --------------------
binary = b"X-Bin: \x80\xff\n\nnul \x00 ctl \x01\x7f cr \r end"
nul = qwrite(["-r", "postmaster"], binary)
st, out, _ = cat([nul])
T.ok(st == 0 and b"\nsender: <>\n" in out, "null sender shown as <>")
T.ok(b"body_type: none\nsmtputf8: no\nrequiretls: no\n" in out and b"dsn_ret" not in out,
     "unset flags shown as no, no DSN lines")
T.ok(out.endswith(b" cr \r end\n*** MESSAGE FILE END " + nul.encode() + b" ***\n"),
     "framed output ends the last line before the end marker")
st, out, _ = cat(["-hb", nul])
T.ok(st == 0 and out == binary, "binary content comes out unchanged")
st, out, _ = cat(["-b", nul])
T.ok(st == 0 and out == b"nul \x00 ctl \x01\x7f cr \r end", "body without final newline, raw")
noblank = qwrite(["-r", "r@x"], b"Subject: only headers\n")
T.ok(cat(["-h", noblank])[1] == b"Subject: only headers\n" and cat(["-b", noblank])[1] == b"",
     "a message without an empty line is all header")

# --- a file kept in the tree: the version 1 format stays readable --------
golden = os.path.join(TMP, "v1-sample.qf")
shutil.copyfile(os.path.join(DATA, "v1-sample.qf"), golden)
os.chmod(golden, 0o700)
st, out, err = cat([golden])
got = out.decode("utf-8", errors="replace").replace(golden, "FILE")
ref = os.path.join(DATA, "v1-sample.ref")
if os.environ.get("TERN_UPDATE_REF"):
    with open(ref, "w") as f:
        f.write(got)
with open(ref) as f:
    T.is_(got, f.read(), "t/data/qfile/v1-sample.qf shows as v1-sample.ref")

# --- corrupt, truncated, incomplete, missing ------------------------------
data = open(full, "rb").read()
bad = os.path.join(TMP, "flipped")
for where, name in ((100, "envelope"), (len(data) - 60, "content")):
    b = bytearray(data)
    b[where] ^= 0x20
    with open(bad, "wb") as f:
        f.write(b)
    st, out, err = cat([bad])
    T.is_(st, 65, "a changed %s byte: exit 65" % name)
    T.ok(re.match(r"^terncat: error: %s: offset \d+: " % re.escape(bad), err) and out == b"",
         "and refused before any output: %s" % err.strip())
with open(bad, "wb") as f:
    f.write(data[:len(data) // 2])
st, out, err = cat([bad])
T.ok(st == 65 and re.match(r"^terncat: error: .*: offset \d+: (.*extends past the end of the file|file ends)", err),
     "a truncated file: %s" % err.strip())
with open(bad, "wb") as f:
    f.write(b"From alice Mon Jan 1 00:00:00 2024\nnot a queue file\n")
st, out, err = cat([bad])
T.ok(st == 65 and err.strip() == "terncat: error: %s: offset 0: not a tern queue file" % bad,
     "a mailbox is not a queue file")
crashed = qwrite(["-n", "-s", "a@b", "-r", "c@d"], b"Subject: x\n\n" + b"y" * 100000)
T.ok(os.stat(crashed).st_mode & 0o777 == 0o600, "a writer that died left mode 0600")
st, out, err = cat([crashed])
T.ok(st == 65 and "offset" in err, "its incomplete file is refused: %s" % err.strip())
os.unlink(crashed)
unmarked = qwrite(["-r", "c@d"], b"S: x\n\nb\n")
os.chmod(unmarked, 0o600)
st, out, _ = cat(["-e", unmarked])
T.ok(st == 0 and b"complete: no (not marked complete)" in out, "a whole file without the execute bit is shown as incomplete")
os.chmod(unmarked, 0o700)
with open(unmarked, "r+b") as f:   # damage recipient 0's status slot (not covered by the checksum)
    raw = f.read()
    at = raw.index(b"P\x00\x00", 64)
    f.seek(at + 1)
    f.write(b"\x07")
st, out, _ = cat(["-e", unmarked])
T.ok(st == 0 and b"  status: pending\n  slot: damaged, read as pending\n" in out, "a damaged status slot is shown")
st, out, err = cat([os.path.join(TMP, "nonexistent")])
T.ok(st == 66 and err.strip().endswith("nonexistent: No such file or directory"), "a missing file: exit 66")
st, out, err = cat([full, os.path.join(TMP, "nonexistent"), nul])
T.ok(st == 66 and out.count(b"*** ENVELOPE RECORDS") == 2, "the other files are still shown")

# --- lookup by queue id ----------------------------------------------------
conf = os.path.join(TMP, "etc")
os.makedirs(conf)
with open(os.path.join(conf, "tern.conf"), "w") as f:
    f.write("queue_directory = %s\n" % QUEUE)
deferred = os.path.join(QUEUE, "deferred", qid)
os.rename(full, deferred)
held = qwrite(["-s", "held@x", "-r", "r@x"], b"S: held\n\n", os.path.join(QUEUE, "hold"))
hid = os.path.basename(held)
st, out, err = cat(["-c", conf, qid])
T.ok(st == 0 and out.startswith(b"*** ENVELOPE RECORDS deferred/%s ***\n" % qid.encode()),
     "a queue id is found in deferred/: %s" % err.strip())
st, out, err = cat(["-c", conf, "-q", "-e", hid])
T.ok(st == 0 and b"sender: <held@x>" in out and b"hold/" + hid.encode() in out, "-q finds it in hold/")
st, out, err = cat(["-e", hid], env=dict(ENV, TERN_CONFIG_DIR=conf))
T.ok(st == 0 and b"sender: <held@x>" in out, "TERN_CONFIG_DIR names the configuration")
other = "1H7J9N2MDA015NM7"
st, out, err = cat(["-c", conf, other])
T.ok(st == 66 and err.strip() == "terncat: error: %s: not found in the queue (%s)" % (other, QUEUE),
     "an unknown queue id: exit 66")
st, out, err = cat(["-c", conf, "-q", "not-an-id"])
T.ok(st == 64 and "not a queue id" in err, "-q with something that is not a queue id: exit 64")
with open(os.path.join(conf, "tern.conf"), "a") as f:
    f.write("queue_directroy = /nowhere\n")
st, out, err = cat(["-c", conf, qid])
T.ok(st == 78 and "queue_directroy" in err, "a broken tern.conf: exit 78")

# --- usage -----------------------------------------------------------------
st, out, err = cat([])
T.ok(st == 64 and err.startswith("usage: terncat"), "no arguments: usage, exit 64")
st, out, err = cat(["-x", nul])
T.ok(st == 64 and "usage: terncat" in err, "unknown option: usage, exit 64")

T.done()
