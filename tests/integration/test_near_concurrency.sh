#!/usr/bin/env bash
# test_near_concurrency.sh - readers, writers and invalidations on the same
# keys from every worker at once, with the near cache on (make tsan runs it
# with THREADS=4 under ThreadSanitizer).
#
# For 4 s (scaled): 4 reader threads read 16 keys on keep-alive connections
# (spread over the workers), 2 writer threads PUT increasing sequence
# numbers to 8 of them (one writer per key) through the service, a Redis
# client SETs the other 8 from outside and FLUSHALLs now and then, and the
# invalidation connection is killed (CLIENT KILL) twice. Checked:
#   - every answer is a 200 or a 404 (no 5xx, no transport error);
#   - no read returned a value older than a PUT acknowledged before the
#     read was sent (the near cache's promise for this instance's writes);
#   - once everything stops, every key reads what Redis holds;
#   - near hits happened all along; the service stops cleanly.
set -u
NC_DB=0 # unused: a private redis-server
. "$(dirname "$0")/lib.sh"

redis_start || finish
RPORT=$PRIV_REDIS_PORT
start_service "REDIS_URL=redis://127.0.0.1:$RPORT/0" NEAR_CACHE=true LOG_REQUESTS=false \
    REDIS_TIMEOUT_MS=$((1000 * NC_TIME_SCALE)) || finish

"$NC_PY" - "$SVC_PORT" "$RPORT" "$((4 * NC_TIME_SCALE))" >"$NC_TMP/conc.out" 2>&1 <<'EOF'
import http.client, json, socket, sys, threading, time
port, rport, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
OWN = ["own%d" % i for i in range(8)]      # written through the service
OUT = ["out%d" % i for i in range(8)]      # written from outside
acked = {k: [] for k in OWN}                # (ack time, seq), in order
reads = []                                  # (key, start time, seq or None)
bad = []
stop = threading.Event()
lock = threading.Lock()

def conn():
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)

def get(c, k):
    c.request("GET", "/cache/conc?q=" + k)
    r = c.getresponse()
    return r.status, r.read(), r.getheader("Cache-Status") or ""

class Redis:
    def __init__(self):
        self.s = socket.create_connection(("127.0.0.1", rport), timeout=30)
        self.f = self.s.makefile("rb")
    def cmd(self, *a):
        out = b"*%d\r\n" % len(a) + b"".join(
            b"$%d\r\n%s\r\n" % (len(x), x) for x in (y if isinstance(y, bytes) else str(y).encode() for y in a))
        self.s.sendall(out)
        return self.read()
    def read(self):
        l = self.f.readline()
        t, rest = l[:1], l[1:-2]
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            return [self.read() for _ in range(int(rest))]
        return rest

def writer(keys):
    c = conn()
    seq = 0
    while not stop.is_set():
        seq += 1
        for k in keys:
            body = json.dumps({"q": k, "value": {"seq": seq}, "ttl": 600})
            c.request("PUT", "/cache/conc", body=body, headers={"Content-Type": "application/json"})
            r = c.getresponse()
            d = r.read()
            if r.status != 200:
                bad.append("PUT %d" % r.status)
            elif b'"stored":true' in d:
                t = time.monotonic()
                with lock:
                    acked[k].append((t, seq))

def reader(idx):
    c = conn()
    n = 0
    keys = OWN + OUT
    while not stop.is_set():
        k = keys[(n * 7 + idx) % len(keys)]
        n += 1
        t = time.monotonic()
        try:
            st, body, cs = get(c, k)
        except Exception as e:
            bad.append("GET error %r" % e)
            c = conn()
            continue
        if st not in (200, 404):
            bad.append("GET %d" % st)
            continue
        seq = json.loads(body)["seq"] if st == 200 and k in OWN else None
        with lock:
            reads.append((k, t, seq, "detail=near" in cs))

def outside():
    r = Redis()
    n = 0
    killed = 0
    while not stop.is_set():
        n += 1
        c = conn()
        # the keys' Redis names come from X-Cache-Key
        for k in OUT:
            c.request("GET", "/cache/conc?q=" + k)
            rr = c.getresponse(); rr.read()
            key = rr.getheader("X-Cache-Key")
            r.cmd("SET", key, json.dumps({"seq": n}), "EX", "600")
        if n % 50 == 0:
            r.cmd("FLUSHALL")
        if n % 150 == 75 and killed < 2:
            for line in r.cmd("CLIENT", "LIST").decode().splitlines():
                if "name=normcache-inv" in line:
                    r.cmd("CLIENT", "KILL", "ID", line.split()[0][3:])
                    killed += 1
        time.sleep(0.002)

threads = [threading.Thread(target=writer, args=(OWN[:4],)), threading.Thread(target=writer, args=(OWN[4:],))]
threads += [threading.Thread(target=reader, args=(i,)) for i in range(4)]
threads += [threading.Thread(target=outside)]
for t in threads:
    t.start()
time.sleep(secs)
stop.set()
for t in threads:
    t.join()

# A read sent after a PUT's ack must not return an older sequence number.
older = 0
import bisect
for k, t, seq, near in reads:
    if k not in OWN:
        continue
    a = acked[k]
    i = bisect.bisect_left(a, (t, 0)) - 1
    if i >= 0 and (seq is None or seq < a[i][1]):
        # FLUSHALL from outside may have removed it: only an older value counts
        if seq is not None:
            older += 1
print("reads=%d" % len(reads))
print("near_reads=%d" % sum(1 for r in reads if r[3]))
print("writes=%d" % sum(len(v) for v in acked.values()))
print("older=%d" % older)
print("bad=%d" % len(bad))
for b in bad[:5]:
    print("bad_sample=%s" % b)
EOF
fig() { sed -n "s/^$1=//p" "$NC_TMP/conc.out"; }
diag "$(tr '\n' ' ' <"$NC_TMP/conc.out" | head -c 600)"
check_eq "every answer 200 or 404, no transport error" 0 "$(fig bad)"
check "reads and writes ran" test "$(fig reads)" -gt 100 -a "$(fig writes)" -gt 20
check_eq "no read returned a value older than an acknowledged PUT" 0 "$(fig older)"
check "near hits happened" test "$(fig near_reads)" -gt 0

# Quiet now: every key reads what Redis holds.
sleep 0.2
mism=0
for k in own0 own1 own2 own3 own4 own5 own6 own7 out0 out1 out2 out3 out4 out5 out6 out7; do
    get_q conc "$k" >/dev/null
    key=$(hdr X-Cache-Key)
    want=$(rcli_at "$RPORT" GET "$key")
    if [ "$STATUS" = 200 ] && [ "$BODY" != "$want" ]; then mism=$((mism + 1)); fi
    if [ "$STATUS" = 404 ] && [ -n "$want" ]; then mism=$((mism + 1)); fi
done
check_eq "after the storm every key reads what Redis holds" 0 "$mism"
finish
