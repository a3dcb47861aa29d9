#!/usr/bin/python3
"""smtp and a server that limits recipients per transaction (RFC 5321
section 4.5.3.1.10): the sink accepts two RCPTs per transaction and
answers 452 4.5.3 to the rest. A message for five recipients goes out at
once in three transactions (2 + 2 + 1) over one session (the MAIL
transactions; level may first probes for STARTTLS in a session of its
own); every
recipient is logged as sent and none is deferred."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from smtp_world import Sender, require_world  # noqa: E402
from tern_test import done, is_, ok, wait_for  # noqa: E402
from world import World  # noqa: E402

require_world("port 25")

w = World()
w.zone("lim72.test", ["@ MX 10 mx", "mx A 127.0.72.60"], signed=False)
w.start_dns()
s = w.sink("127.0.72.60", starttls=False, max_rcpts=2)

inst = Sender(w)
inst.start_or_quit()

rcpts = ["r%d@lim72.test" % i for i in range(5)]
ok(inst.send(rcpts, "five"), "a message for five recipients accepted")
got = s.wait(3, timeout=40)
is_(len(got), 3, "three transactions reached the server")
is_(sorted(len(m["rcpts"]) for m in got), [1, 2, 2], "with 2, 2 and 1 recipients")
is_(sorted(r[0] for m in got for r in m["rcpts"]), sorted(rcpts), "every recipient exactly once")
# (a first session without MAIL is the STARTTLS probe of level may before the 465 try)
is_(len([c for c in s.commands() if any(x.startswith("MAIL") for x in c)]), 1, "all over one session")
ok(wait_for(lambda: all("status=sent" in inst.last_line(r) for r in rcpts), 30), "every recipient logged as sent")
is_([r for r in rcpts if "status=deferred" in "\n".join(inst.log_lines("to=<%s>" % r))], [],
    "no recipient was deferred")

inst.stop()
w.stop()
done()
