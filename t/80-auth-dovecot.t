#!/usr/bin/python3
"""80-auth-dovecot - AUTH through Dovecot's auth socket (smtpd_sasl_type = dovecot).

Starts Debian's dovecot in the foreground on a private configuration (no
mail protocols, no listeners; base_dir, state and log in a temporary
directory; a passwd-file passdb with one test user; the auth client
socket inside the instance's queue directory, where the chrooted smtpd
reaches it as private/dovecot-auth), then through the real master, smtpd
and cleanup: AUTH PLAIN and LOGIN succeed after STARTTLS, the session is
ESMTPSA and relays, a wrong password gets 535 5.7.8 with a failure line,
and a Dovecot that is gone gives 454 4.7.0 (a temporary failure, no
535). Dovecot is stopped by its PID.
"""
import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from tern_test import IS_ROOT, SRC, diag, done, is_, like, ok, prog, skip_all, wait_for  # noqa: E402
from smtpd_test import SmtpdInstance, auth_plain, enh, qid_of, terncat_env, tls_session  # noqa: E402

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
if not os.path.exists(prog("smtpd")):
    skip_all("smtpd not built")
if not os.path.exists(DOVECOT):
    skip_all("dovecot (dovecot-core) is not installed")
if not IS_ROOT:
    skip_all("a private dovecot needs root here (its default users dovecot and dovenull)")

USER, PW = "dave@dove.test", "dove pass 42"
inst = SmtpdInstance(smtpd={"smtpd_sasl_type": "dovecot", "smtpd_sasl_path": "private/dovecot-auth"})
sock = inst.path("queue", "private", "dovecot-auth")
dv = tempfile.mkdtemp(prefix="dovecot-", dir=os.path.join(SRC, "t", "tmp"))
os.chmod(dv, 0o755)
with open(os.path.join(dv, "users"), "w") as f:
    f.write("%s:{PLAIN}%s\n" % (USER, PW))
with open(os.path.join(dv, "dovecot.conf"), "w") as f:
    f.write("""# a private auth-only dovecot for t/80-auth-dovecot.t
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
instance_name = tern-test-{pid}
protocols = none
listen = 127.0.0.1
ssl = no
auth_mechanisms = plain login
disable_plaintext_auth = no
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = static
  args = uid=65534 gid=65534 home=/nonexistent
}}
service auth {{
  unix_listener {sock} {{
    mode = 0666
  }}
}}
""".format(d=dv, sock=sock, pid=os.getpid()))

dove = subprocess.Popen([DOVECOT, "-F", "-c", os.path.join(dv, "dovecot.conf")],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop_dovecot():
    if dove.poll() is None:
        dove.send_signal(signal.SIGTERM)
        try:
            dove.wait(30)
        except subprocess.TimeoutExpired:
            dove.kill()
            dove.wait(10)


def cleanup_dovecot():
    stop_dovecot()
    shutil.rmtree(dv, ignore_errors=True)


import atexit  # noqa: E402
atexit.register(cleanup_dovecot)

if not ok(wait_for(lambda: os.path.exists(sock) or dove.poll() is not None, 30) and dove.poll() is None,
          "dovecot runs and made its auth socket"):
    out = dove.stdout.read().decode(errors="replace") if dove.poll() is not None else ""
    diag(out)
    try:
        with open(os.path.join(dv, "dovecot.log")) as f:
            diag(f.read())
    except OSError:
        pass
    done()
inst.start()


def session():
    return tls_session(inst.submission)


mark = inst.log_mark()
c, lines = session()
ok(any(ln[4:].startswith("AUTH PLAIN LOGIN") for ln in lines), "EHLO after STARTTLS offers AUTH")
code, text = c.cmd("AUTH PLAIN " + auth_plain(USER, "not it"))
is_((code, enh(text)), (535, "5.7.8"), "dovecot: wrong password -> 535 5.7.8")
code, text = c.cmd("AUTH PLAIN " + auth_plain(USER, PW))
is_((code, enh(text)), (235, "2.7.0"), "dovecot: AUTH PLAIN -> 235 2.7.0")
is_(c.cmd("MAIL FROM:<%s>" % USER)[0], 250, "MAIL")
is_(c.cmd("RCPT TO:<far@remote.example>")[0], 250, "authenticated relay")
c.cmd("DATA")
c.send(b"Subject: via dovecot\r\n\r\nhi\r\n.\r\n")
code, lines = c.reply()
is_(code, 250, "queued")
path = inst.queue_file(qid_of(lines[-1])) if code == 250 else None
env = terncat_env(path)[2] if path else {}
is_((env.get("protocol"), env.get("sasl_username")), ("ESMTPSA", USER), "queue file: ESMTPSA and the Dovecot user")
c.close()

c, lines = session()
code, text = c.cmd("AUTH LOGIN")
c.cmd(base64.b64encode(USER.encode()).decode())
code, text = c.cmd(base64.b64encode(PW.encode()).decode())
is_((code, enh(text)), (235, "2.7.0"), "dovecot: AUTH LOGIN -> 235 2.7.0")
c.close()
log = inst.log_since(mark)
like(log, "SASL PLAIN authentication failed", "the failure is logged")
like(log, "sasl_method=LOGIN, sasl_username=" + USER, "the LOGIN success is logged")
ok(PW not in log and "not it" not in log, "no password in the log")

# --- Dovecot gone: temporary failure
stop_dovecot()
ok(dove.poll() is not None, "dovecot stopped by its PID")
c, lines = session()
code, text = c.cmd("AUTH PLAIN " + auth_plain(USER, PW))
is_((code, enh(text)), (454, "4.7.0"), "no auth server -> 454 4.7.0")
c.close()
like(inst.log_since(mark), "SASL PLAIN authentication unavailable", "the reason is logged")

inst.stop()
done()
