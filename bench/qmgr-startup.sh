#!/bin/bash
# qmgr-startup - how long new mail waits when qmgr starts over a big
# deferred queue (issue 4: "start-up with 100,000 deferred messages must
# not block new mail").
#
#   bench/qmgr-startup.sh [COUNT]        (default 100000; run from the tree)
#
# Makes a private instance in a temporary directory (ternctl init, free
# ports), fills deferred/ with COUNT messages that are due in an hour
# (t/qfile/tern-qgen -n: no fsync, it is test data), starts the instance,
# submits one new message with sendmail and reports:
#   start->delivered  seconds from "ternctl start" to the new message's
#                     "status=sent" line (discard transport: no mailbox
#                     work), with master, pickup, cleanup and qmgr starting
#                     and qmgr taking active/, incoming/ and deferred/;
#   second message    seconds from that line to the delivery of a
#                     message submitted then (qmgr still scanning or not).
# Every process started is stopped by PID (ternctl stop, then master's
# PID); the instance is removed unless KEEP=1. Needs the tree built
# (make); works as root or as an ordinary user.
set -eu

COUNT=${1:-100000}
SRC=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${TERN_BUILD:-$SRC/build}
DIR=$(mktemp -d "${TMPDIR:-/tmp}/tern-qmgr-startup.XXXXXX")
chmod 755 "$DIR"

now() { date +%s.%N; }
elapsed() { echo "$2 $1" | awk '{ printf "%.2f", $1 - $2 }'; }

cleanup() {
	if [ -f "$DIR/data/master.pid" ]; then
		"$BUILD/ternctl" -c "$DIR" stop >/dev/null 2>&1 || true
		pid=$(head -n 1 "$DIR/data/master.pid" 2>/dev/null | cut -d' ' -f1)
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
	fi
	[ "${KEEP:-0}" = 1 ] || rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

# free ports: random ones in 30000-59999 that nothing listens on
ports=()
while [ ${#ports[@]} -lt 3 ]; do
	p=$((30000 + RANDOM % 30000))
	if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then ports+=("$p"); fi
done
"$BUILD/ternctl" -c "$DIR" init --ports "$(IFS=,; echo "${ports[*]}")" >/dev/null

Q="$DIR/queue"
printf 'far.test nosuch:\nnear.test discard:benchmark\n' > "$DIR/transport"
cat >> "$DIR/qmgr.conf" <<EOF
transport_maps = texthash:$DIR/transport
minimal_backoff_time = 3600s
maximal_backoff_time = 7200s
EOF

echo "qmgr-startup: writing $COUNT deferred messages ..."
t=$(now)
due=$(( $(date +%s) + 3600 ))
"$BUILD/t/bin/tern-qgen" -n "$Q/deferred" "$COUNT" x@far.test "$due"
owner=$(stat -c %u:%g "$Q/incoming")
chown -R "$owner" "$Q/deferred"
echo "qmgr-startup: written in $(elapsed "$t" "$(now)") s"
sync

t0=$(now)
"$BUILD/ternctl" -c "$DIR" start >/dev/null
printf 'Subject: new mail\n\nhello\n' | "$BUILD/sendmail" -C "$DIR" -f bench@near.test new@near.test
until grep -q 'to=<new@near.test>.*status=sent' "$DIR/log/maillog" 2>/dev/null; do
	sleep 0.01
	if [ "$(elapsed "$t0" "$(now)" | cut -d. -f1)" -ge 300 ]; then
		echo "qmgr-startup: the new message was not delivered within 300 s" >&2
		exit 1
	fi
done
t1=$(now)
echo "qmgr-startup: $COUNT deferred, start->delivered $(elapsed "$t0" "$t1") s"

# a second message, submitted while qmgr may still be scanning deferred/
printf 'Subject: second\n\nhello\n' | "$BUILD/sendmail" -C "$DIR" -f bench@near.test second@near.test
until grep -q 'to=<second@near.test>.*status=sent' "$DIR/log/maillog" 2>/dev/null; do sleep 0.01; done
echo "qmgr-startup: second message delivered $(elapsed "$t1" "$(now)") s after the first"
left=$(ls "$Q/deferred" | wc -l)
echo "qmgr-startup: deferred/ still holds $left messages (none was due)"
