#!/usr/bin/python3
"""smtp and MX records that name this host (RFC 5321 section 5.1): the
instance's myhostname is mx.self72.test. A domain whose best MX is this
host bounces at once with 5.4.6 ("loops back to myself"), nothing is
sent anywhere; a domain that lists this host as a backup (a worse
preference) is delivered to its better MX; a domain whose better MX is
this host while a worse one exists also bounces (hosts of the same or a
worse preference than ours are never tried)."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from smtp_world import Sender, require_world  # noqa: E402
from tern_test import done, is_, like, ok, wait_for  # noqa: E402
from world import World  # noqa: E402

require_world("port 25")

w = World()
w.zone("self72.test", ["mx A 127.0.72.50", "other A 127.0.72.51"], signed=False)
w.zone("best72.test", ["@ MX 10 mx.self72.test."], signed=False)
w.zone("backup72.test", ["@ MX 10 other.self72.test.", "@ MX 20 mx.self72.test."], signed=False)
w.zone("first72.test", ["@ MX 10 mx.self72.test.", "@ MX 20 other.self72.test."], signed=False)
w.start_dns()
s_self = w.sink("127.0.72.50", starttls=False)
s_other = w.sink("127.0.72.51", starttls=False)

inst = Sender(w)
inst.conf("myhostname", "mx.self72.test")
inst.start_or_quit()


def final(rcpt):
    return wait_for(lambda: inst.last_line(rcpt), 40) or ""


ok(inst.send("a@best72.test", "best"), "submitted to best72.test")
line = final("a@best72.test")
like(line, "dsn=5.4.6, status=bounced", "best MX is this host: bounced 5.4.6")
like(line, "loops back to myself", "the reason says the mail loops back")

ok(inst.send("b@backup72.test", "backup"), "submitted to backup72.test")
is_(len(s_other.wait(1, timeout=40)), 1, "this host only a backup MX: delivered to the better MX")
like(final("b@backup72.test"), "status=sent", "backup case logged as sent")

ok(inst.send("c@first72.test", "first"), "submitted to first72.test")
like(final("c@first72.test"), "dsn=5.4.6, status=bounced", "this host before another MX: bounced, the worse MX is not tried")
is_(len(s_other.messages()), 1, "nothing more reached the other MX")
is_(len(s_self.messages()), 0, "nothing was ever sent to this host's own address")

inst.stop()
w.stop()
done()
