#!/usr/bin/env bash
# test_access_log.sh - the batched access log loses nothing and lags little.
#
# Each worker formats its access lines into its own buffer and writes them
# in chunks of whole lines, the rest at most 100 ms after its first line
# and at the stop (src/log.c). Here, with the access log on (the default):
#   - one request on an idle service: its line is in the log within
#     100 ms + a margin (below the loop's 1 s longest wait), while the
#     service keeps running (the loop wakes for the flush; nothing else
#     happens to wake it);
#   - N GET hits from 8 keep-alive clients at once, then SIGTERM right after
#     the last answer: exactly N access lines for them, every line whole
#     JSON, and the stop is clean (the batches are written at the stop);
#   - the same N while the service keeps running: all N lines appear within
#     the flush delay (no line waits for more traffic or for the stop).
NC_DB=0 # unused: a private redis-server
. "$(dirname "$0")/lib.sh"

redis_start || finish
RURL=redis://127.0.0.1:$PRIV_REDIS_PORT/0

N=${NC_ACCESS_N:-3000}

# hits N PORT PATH: N GETs of PATH from 8 threads with one keep-alive
# connection each; prints "<answered 200> <other>".
hits() {
    python3 - "$@" <<'PYEOF'
import http.client, sys, threading
n, port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
count = {"ok": 0, "other": 0}
def worker(k):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(k):
        try:
            c.request("GET", path)
            r = c.getresponse()
            r.read()
            key = "ok" if r.status == 200 else "other"
        except Exception:
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            key = "other"
        with lock:
            count[key] += 1
    c.close()
ts = [threading.Thread(target=worker, args=(n // 8 + (1 if i < n % 8 else 0),)) for i in range(8)]
for t in ts:
    t.start()
for t in ts:
    t.join()
print(count["ok"], count["other"])
PYEOF
}

# lines FILE NS: access lines of GET /cache/NS answered 200 in FILE.
lines() {
    python3 - "$1" "$2" <<'PYEOF'
import json, sys
n = 0
for l in open(sys.argv[1], "rb"):
    try:
        d = json.loads(l)
    except ValueError:
        continue
    if d.get("msg") == "request" and d.get("route") == "cache_get" and d.get("ns") == sys.argv[2] \
            and d.get("status") == 200:
        n += 1
print(n)
PYEOF
}

now_ms() { date +%s%3N; }
# gets FILE: access lines of GET /cache/... in FILE so far (a grep: cheap
# enough to poll every 10 ms on a busy machine; lines() checks them).
gets() { grep -c '"route":"cache_get"' "$1"; }

# ---------------------------------------------------------------------------
# 1. one request on an idle service: its line within 100 ms + margin
# ---------------------------------------------------------------------------
start_service LOG_REQUESTS=true "REDIS_URL=$RURL" || finish
put_q alog "one line" '{"v":1}'
check_eq "PUT stores (premise)" "200 true" "$STATUS $(jget stored)"
sleep 0.3 # the PUT's line is out; the loop is idle
get_q alog "one line"
t0=$(now_ms)
check_eq "GET hits (premise)" "200 HIT" "$STATUS $(hdr X-Cache)"
seen=""
while [ $(($(now_ms) - t0)) -lt $((2000 * NC_TIME_SCALE)) ]; do
    if [ "$(gets "$SVC_LOG")" = 1 ]; then
        seen=$(($(now_ms) - t0))
        break
    fi
    sleep 0.01
done
check_eq "it is the hit's line" 1 "$(lines "$SVC_LOG" alog)"
# The 100 ms flush delay plus slack for a busy machine; an idle loop that
# did not wake for the flush would take its 1000 ms maximum wait.
limit=$((100 + 400 * NC_TIME_SCALE))
if [ -n "$seen" ] && [ "$seen" -le "$limit" ]; then
    ok "an idle service writes a request's access line within ${limit} ms (seen after ${seen} ms)"
else
    notok "an idle service writes a request's access line within ${limit} ms"
    diag "seen after: ${seen:-never (2 s)}"
fi
check "the service still runs (the line was not written by the stop)" service_alive

# ---------------------------------------------------------------------------
# 2. N hits, then SIGTERM at once: exactly N lines
# ---------------------------------------------------------------------------
path="/cache/alog?q=one+line"
read -r got other < <(hits "$N" "$SVC_PORT" "$path")
check_eq "$N GET hits from 8 keep-alive clients are answered 200 (premise)" "$N 0" "$got $other"
LOG=$SVC_LOG
stop_service
check_eq "SIGTERM right after the last answer: exactly $N access lines for the $N hits (+1 earlier)" \
    "$((N + 1))" "$(lines "$LOG" alog)"
pyresults "$LOG" <<'PYEOF'
import json, sys
raw = open(sys.argv[1], "rb").read()
bad = []
for i, l in enumerate(raw.split(b"\n")[:-1], 1):
    try:
        if not isinstance(json.loads(l), dict):
            raise ValueError
    except ValueError:
        bad.append("line %d: %r" % (i, l[:120]))
print(("OK " if raw.endswith(b"\n") and not bad else "FAIL ") + "every log line is whole JSON (%d bytes)" % len(raw))
for b in bad[:3]:
    print("DIAG " + b)
PYEOF

# ---------------------------------------------------------------------------
# 3. the same while running: every line out within the flush delay
# ---------------------------------------------------------------------------
start_service LOG_REQUESTS=true "REDIS_URL=$RURL" || finish
read -r got other < <(hits "$N" "$SVC_PORT" "$path")
t0=$(now_ms)
check_eq "$N more hits are answered 200 (premise)" "$N 0" "$got $other"
seen=""
while [ $(($(now_ms) - t0)) -lt $((2000 * NC_TIME_SCALE)) ]; do
    if [ "$(gets "$SVC_LOG")" = "$N" ]; then
        seen=$(($(now_ms) - t0))
        break
    fi
    sleep 0.02
done
if [ -n "$seen" ] && [ "$seen" -le "$limit" ]; then
    ok "a running service has written all $N lines within ${limit} ms of the last answer (after ${seen} ms)"
else
    notok "a running service has written all $N lines within ${limit} ms of the last answer"
    diag "all $N seen after: ${seen:-never (2 s: $(gets "$SVC_LOG") lines)} ms"
fi
check_eq "they are the $N hits' lines" "$N" "$(lines "$SVC_LOG" alog)"
stop_service

finish
