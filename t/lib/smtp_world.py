"""smtp_world - what the tests of the smtp agent in the test world share
(t/73-smtp-tls.t, t/74-smtp-dane.t, t/75-smtp-sts.t, t/76-requiretls.t,
t/78-tern-dane.t).

require_world(why_root, progs): skip the whole test unless the test world
(t/lib/world.py) is usable, we run as root (the sinks listen on ports 25,
465 or 443; why_root says which) and the programs are built.

Sender(w): a private instance (tern_test.Instance) that resolves through
the world's DNS (w.unbound_conf; with dns_cache=False through a copy that
caches nothing, for tests that change records), verifies peers with the
test CA, and has MTA-STS off unless sts=True (then sts fetches with the
test CA too). Its helpers:
  start_or_quit()     start; on failure: a failed test point, stop the
                      world, print the plan and exit
  send(rcpt, subject) one message through sendmail; True when accepted
  last_line(rcpt)     the newest delivery line (with status=) for rcpt
  log_lines(needle)   the log lines that contain needle
  events(domain)      the TLS event lines (tern-tls-events(5)) as dicts,
                      all of them or those of one domain
"""
import os

from tern_test import Instance, diag, done, ok, prog, run, skip_all
from world import World


def require_world(why_root, progs=("smtp",)):
    """require_world - skip_all unless the world is usable, we are root and progs are built"""
    usable, why = World.usable()
    if not usable:
        skip_all(why)
    if os.geteuid() != 0:
        skip_all("the test world needs root (%s)" % why_root)
    missing = [p for p in progs if not os.path.exists(prog(p))]
    if missing:
        skip_all("not built yet: %s" % ", ".join(missing))


class Sender(Instance):
    """A private instance that delivers through its smtp agent into the test world."""

    def __init__(self, w, sts=False, dns_cache=True, **kw):
        super().__init__(**kw)
        self.world = w
        resolver = w.unbound_conf
        if not dns_cache:
            with open(w.unbound_conf) as f:
                ub = f.read()
            resolver = self.path("unbound-nocache.conf")
            with open(resolver, "w") as f:
                f.write(ub.replace("server:", "server:\n    cache-max-ttl: 0\n    cache-max-negative-ttl: 0", 1))
        self.conf("dns_resolver_config", resolver)
        self.conf("smtp_tls_ca_file", w.ca_file, file="delivery.conf")
        if sts:
            self.conf("sts_ca_file", w.ca_file, file="delivery.conf")
        else:
            self.conf("smtp_sts", "no", file="delivery.conf")
        self.events_path = self.path("queue", "tlsrpt", "events")

    def start_or_quit(self, name="instance starts"):
        """start_or_quit - start, or end the test (world stopped, plan printed)"""
        r = self.start()
        if not ok(r.returncode == 0, name):
            self.world.stop()
            done()
        return r

    def send(self, rcpt, subject, sender="sender@local.test", body=None):
        """send - one message through sendmail (rcpt: an address or a list); True when accepted"""
        rcpts = [rcpt] if isinstance(rcpt, str) else list(rcpt)
        msg = "From: %s\nTo: %s\nSubject: %s\n\n%s\n" % (sender, ", ".join(rcpts), subject,
                                                       body or "body of " + subject)
        r = run([prog("sendmail"), "-C", self.dir, "-f", sender] + rcpts, input=msg)
        if r.returncode != 0:
            diag(r.stdout + r.stderr)
        return r.returncode == 0

    def log_lines(self, needle):
        """log_lines - the log lines that contain needle"""
        return [line for line in self.log().splitlines() if needle in line]

    def last_line(self, rcpt):
        """last_line - the newest delivery line for rcpt, or ''"""
        lines = [line for line in self.log_lines("to=<%s>" % rcpt) if "status=" in line]
        return lines[-1] if lines else ""

    def events(self, domain=None):
        """events - the TLS event lines as dicts (of one domain when given)"""
        try:
            with open(self.events_path) as f:
                evs = [dict(kv.split("=", 1) for kv in line.split()) for line in f if line.strip()]
        except OSError:
            return []
        return [e for e in evs if domain is None or e.get("domain") == domain]
