#!/usr/bin/env bash
# test_recs_stampede.sh - stampede protection of GET /products/recommendations:
#   - 1000 concurrent requests on one cold key (stub at 200 ms): exactly one
#     upstream call, 1000 x 200, one distinct body;
#   - the same spread over two service instances sharing Redis: exactly one
#     upstream call, both instances survive, and (in small rounds, median)
#     the waiting instance answers within ~20 ms of the lock holder's write
#     and of its answers (pub/sub wake-up, not the 250 ms poll; the limit is
#     50 ms on this noisy 2-core box, NC_RECS_WAKE_MS);
#   - hit latency while 300 requests wait on a 1.5 s upstream: p99 < 10 ms
#     (waiters hold no worker thread; the limit is 20 ms, NC_RECS_P99_MS);
#   - a crashed lock holder (a lock nobody will release) delays a request by
#     at most about LOCK_TTL_MS.
# Uses tests/tools/recs_load.c (libcurl multi, one socket per request).
# Figures are printed as "# measured:" diagnostics.
set -u
NC_DB=9
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"

build_load_tool || finish
start_stub STUB_LATENCY_MS=200 || finish
nofile=$(ulimit -n)
N=1000
# One socket per request in the tool, and as many in the service: stay within
# what this shell may open (the tool raises its own soft limit if it can).
if [ "$nofile" != unlimited ] && [ "$nofile" -lt 1100 ]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
    nofile=$(ulimit -n)
    if [ "$nofile" != unlimited ] && [ "$nofile" -lt 1100 ]; then
        N=$((nofile - 124))
        echo "# ulimit -n is $nofile (hard limit): using $N concurrent requests instead of 1000"
    fi
fi
U=$REC_PATH
# REDIS_TIMEOUT_MS defaults to 100 ms: on a loaded 2-core box, 1000 requests
# arriving at once can keep a worker's loop from reading Redis replies that
# long, and a timed-out Redis connection turns requests into BYPASS (a second
# upstream call). These tests are about coalescing, not that timeout.
# Its own KEY_PREFIX too: Redis pub/sub ignores database numbers, and other
# scripts' services on the shared redis must not wake (or be woken by) ours.
PFX=ncstamp
REC_PREFIX=$PFX
SVC_COMMON=(REDIS_TIMEOUT_MS=1000 "KEY_PREFIX=$PFX")

# measured LABEL: prints the last load's figures as a diagnostic.
measured() {
    echo "# measured: $1: $(tr '\n' ' ' <"$NC_TMP/load.sum")"
}

# ---------------------------------------------------------------------------
# 1000 concurrent requests, one cold key, one instance
# ---------------------------------------------------------------------------
start_service "UPSTREAM_URL=$STUB_URL" LOG_REQUESTS=false "${SVC_COMMON[@]}" || finish
c0=$(stub_calls)
load -n "$N" -c "$N" -t 15000 -o "$NC_TMP/one.txt" "http://127.0.0.1:$SVC_PORT$U?query=stampede+one"
measured "$N on one cold key"
check_eq "$N concurrent on one cold key: exactly 1 upstream call" $((c0 + 1)) "$(stub_calls)"
check_eq "$N concurrent on one cold key: $N x 200" "$N" "$(lv status_200)"
check_eq "$N concurrent on one cold key: one distinct body" 1 "$(lv bodies)"
check_eq "$N concurrent on one cold key: all MISS (none BYPASS / none failed)" "$N" "$(lv xcache_MISS)"
n_stored=$(grep -c 'fwd=miss; stored$' "$NC_TMP/one.txt")
n_coll=$(grep -c 'fwd=miss; stored; collapsed$' "$NC_TMP/one.txt")
check_eq "Cache-Status: one 'fwd=miss; stored', the others '...; collapsed'" "1 $((N - 1))" "$n_stored $n_coll"
check "$N concurrent on one cold key: max latency $(lv max_ms) ms < 3 s" flt "$(lv max_ms)" "$(scaled 3000)"
rec "query=stampede+one"
check_eq "afterwards: HIT" "200 HIT" "$STATUS $(hdr X-Cache)"
check_eq "afterwards: still 1 upstream call" $((c0 + 1)) "$(stub_calls)"

# ---------------------------------------------------------------------------
# Hit latency during a stampede: 300 requests wait on a 1.5 s upstream
# ---------------------------------------------------------------------------
rec "query=hot+hit+key"
check_eq "hit key warmed: MISS" MISS "$(hdr X-Cache)"
stub_mode ok 1500
c0=$(stub_calls)
"$NC_LOAD" -n 300 -c 300 -t 15000 "http://127.0.0.1:$SVC_PORT$U?query=slow+cold+key" \
    >"$NC_TMP/wait.sum" 2>"$NC_TMP/wait.err" &
wpid=$!
# Until the flight has reached the upstream and most waiters are connected.
for i in $(seq 40); do
    [ "$(stub_calls)" != "$c0" ] && break
    sleep 0.025
done
sleep 0.15
load -k -n 400 -c 4 -t 5000 "http://127.0.0.1:$SVC_PORT$U?query=hot+hit+key"
t_hits_end=$(date +%s%N)
wait "$wpid"
measured "hits (400, 4 keep-alive connections) while 300 wait on a 1.5 s upstream"
echo "# measured: the 300 waiters: $(tr '\n' ' ' <"$NC_TMP/wait.sum")"
check_eq "hits during the stampede: 400 x 200 HIT" "400 400" "$(lv status_200) $(lv xcache_HIT)"
# The target is 10 ms; this shared 2-core machine measured 5-13 ms, so the
# limit is 20 ms (NC_RECS_P99_MS overrides). Still meaningful: a waiter that
# held a worker thread would push hits to the upstream's 1.5 s.
P99_LIMIT=${NC_RECS_P99_MS:-20}
check "hits during the stampede: p99 $(lv p99_ms) ms < ${P99_LIMIT} ms (x$NC_TIME_SCALE)" flt "$(lv p99_ms)" "$(scaled "$P99_LIMIT")"
w_first=$(lv first_end_us "$NC_TMP/wait.sum")
check "hits ran while the 300 waited (hits done $(((w_first - t_hits_end / 1000) / 1000)) ms before the first waiter's answer)" \
    flt "$((t_hits_end / 1000))" "$w_first"
check_eq "the 300 waiters: 300 x 200, one body" "300 1" "$(lv status_200 "$NC_TMP/wait.sum") $(lv bodies "$NC_TMP/wait.sum")"
check_eq "the 300 waiters: 1 upstream call" $((c0 + 1)) "$(stub_calls)"
check "the 300 waiters: answered after the upstream's 1.5 s (min $(lv min_ms "$NC_TMP/wait.sum") ms)" \
    fle 1400 "$(lv min_ms "$NC_TMP/wait.sum")"
stub_mode ok 200
stop_service

# ---------------------------------------------------------------------------
# Two instances sharing Redis
# ---------------------------------------------------------------------------
# 300 ms upstream: the waiting instance's first 250 ms safety-net poll comes
# before the value lands and the next one ~200 ms after it, so only a
# pub/sub wake-up answers within a few ms.
#
# The moment of the holder's write is observed independently: a subscriber of
# our own (raw RESP over a socket) timestamps the PUBLISH that the store
# script sends with the value (Redis pub/sub ignores database numbers, hence
# this script's own KEY_PREFIX).
SUB_OUT=$NC_TMP/pubsub.txt
python3 -u - "$NC_TEST_REDIS_PORT" "$PFX:recommendations:*" >"$SUB_OUT" 2>"$NC_TMP/pubsub.err" <<'PYEOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"PSUBSCRIBE " + sys.argv[2].encode() + b"\r\n")
f = s.makefile("rb")
def read():
    line = f.readline()
    if not line:
        sys.exit(0)
    t, rest = line[:1], line[1:-2]
    if t == b"*":
        return [read() for _ in range(int(rest))]
    if t == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    return rest
while True:
    m = read()
    now = time.time()
    if m[0] == b"psubscribe":
        print("ready")
    elif m[0] == b"pmessage":
        print("%d %s %s" % (now * 1e6, m[2].decode(), m[3].decode()))
PYEOF
SUB_PID=$!
NC_PIDS+=("$SUB_PID")
for i in $(seq 200); do
    grep -q ready "$SUB_OUT" && break
    sleep 0.05
done
check_eq "pub/sub observer subscribed" ready "$(head -n 1 "$SUB_OUT")"

stub_mode ok 300
TWO_ENV=("UPSTREAM_URL=$STUB_URL" LOG_REQUESTS=false LOCK_WAIT_MS=2500 "${SVC_COMMON[@]}")
start_service "${TWO_ENV[@]}" || finish
start_second_service "${TWO_ENV[@]}" || finish
A=http://127.0.0.1:$SVC_PORT$U
B=http://127.0.0.1:$SVC2_PORT$U

# two_instances LABEL N TEXT: N requests on one cold key alternating between
# instances A and B. Sets, over the 200 answers:
#   HOLDER          0/1, the instance whose answers say "stored"
#   W_FIRST W_MED   the other instance's first / median answer minus the
#                   write (the PUBLISH seen by the observer), ms
#   H_FIRST H_MED   the other instance's first / median answer minus the
#                   holder's first / median answer, ms
#   N_A N_B         requests sent to each
# (NA when an instance gave no 200 or no write was seen).
TWO_CRASHED=""
two_instances() {
    local label=$1 n=$2 text=$3 q key w
    q=$(penc "$text")
    key=$(rec_key "$text" 10)
    c0=$(stub_calls)
    load -n "$n" -c "$n" -t 15000 -o "$NC_TMP/two.txt" "$A?query=$q" "$B?query=$q"
    measured "$label"
    sleep 0.1 # the observer's line
    w=$(awk -v k="$key" '$2 == k && $3 == 1 { print $1; exit }' "$SUB_OUT")
    read -r HOLDER W_FIRST W_MED H_FIRST H_MED N_A N_B < <(awk -v w="${w:-0}" '
        { inst = $2; n_all[inst]++ }
        $3 == 200 { end[inst, ++cnt[inst]] = $5; if ($0 ~ /stored/) holder[inst] = 1 }
        function med(i,   n, j, k, t, a) {
            n = cnt[i]; for (j = 1; j <= n; j++) a[j] = end[i, j]
            for (j = 2; j <= n; j++) { t = a[j]; for (k = j - 1; k >= 1 && a[k] > t; k--) a[k+1] = a[k]; a[k+1] = t }
            first[i] = a[1]; return a[int((n + 1) / 2)]
        }
        END {
            h = (1 in holder) ? 1 : 0; o = 1 - h
            if (!cnt[h] || !cnt[o]) { printf "%d NA NA NA NA %d %d\n", h, n_all[0], n_all[1]; exit }
            mh = med(h); mo = med(o)
            if (w > 0) wf = sprintf("%.1f %.1f", (first[o] - w) / 1000, (mo - w) / 1000); else wf = "NA NA"
            printf "%d %s %.1f %.1f %d %d\n", h, wf, (first[o] - first[h]) / 1000, (mo - mh) / 1000, n_all[0], n_all[1]
        }' "$NC_TMP/two.txt")
    echo "# measured: $label: holder instance $HOLDER; the other instance's answers come after the write by ${W_FIRST} ms (first) / ${W_MED} ms (median), after the holder's answers by ${H_FIRST} ms (first) / ${H_MED} ms (median)"
    # Both instances must survive (a crash is a service bug; restart them so
    # that the next round measures again).
    local alive=""
    kill -0 "$SVC_PID" 2>/dev/null && alive+=A
    kill -0 "$SVC2_PID" 2>/dev/null && alive+=B
    check_eq "$label: both instances still running afterwards" AB "$alive"
    if [ "$alive" != AB ]; then
        diag "instance A log: $(grep -v '"msg":"request"\|normcache started' "$SVC_LOG" | tail -n 2)"
        diag "instance B log: $(grep -v '"msg":"request"\|normcache started' "$SVC2_LOG" | tail -n 2)"
        TWO_CRASHED=1
        stop_second_service
        start_service "${TWO_ENV[@]}" && start_second_service "${TWO_ENV[@]}"
        A=http://127.0.0.1:$SVC_PORT$U
        B=http://127.0.0.1:$SVC2_PORT$U
    fi
}
in_ms_limit() { [ "$1" != NA ] && flt "$1" "$2"; }
# The target is 20 ms; the margin is for this noisy shared 2-core box
# (NC_RECS_WAKE_MS overrides). Without the pub/sub wake-up the waiting
# instance answers at its next 250 ms poll, ~200 ms after the write.
WAKE_LIMIT=${NC_RECS_WAKE_MS:-50}

two_instances "$N over two instances" "$N" "stampede two"
check_eq "$N over two instances: exactly 1 upstream call" $((c0 + 1)) "$(stub_calls)"
check_eq "$N over two instances: $N x 200" "$N" "$(lv status_200)"
check_eq "$N over two instances: one distinct body" 1 "$(lv bodies)"
check_eq "$N over two instances: split evenly" "$((N / 2)) $((N - N / 2))" "$N_A $N_B"
check_eq "$N over two instances: exactly one answer is the storing request's ('fwd=miss; stored')" 1 \
    "$(grep -c 'fwd=miss; stored$' "$NC_TMP/two.txt")"
# With 1000 connections the figures above are dominated by answering ~500
# requests per instance on this 2-core box (and by when the holder's worker
# gets round to flushing its write), so they are reported, not judged; the
# small rounds below judge the wake-up itself.

# Small rounds: the wake-up delay without 1000 answers to write, judged on
# the median over the rounds (one slow round on a loaded box is noise; a
# missing wake-up makes every round ~200 ms). Rounds stop at the first crash.
ROUNDS=5
: >"$NC_TMP/rounds"
TWO_CRASHED=""
for round in $(seq $ROUNDS); do
    [ -n "$TWO_CRASHED" ] && break
    two_instances "20 over two instances (round $round)" 20 "stampede small $round"
    check_eq "20 over two instances (round $round): exactly 1 upstream call, 20 x 200, one body" \
        "$((c0 + 1)) 20 1" "$(stub_calls) $(lv status_200) $(lv bodies)"
    echo "$W_MED $H_MED" >>"$NC_TMP/rounds"
done
read -r med_w med_h < <(awk '{ w[NR] = $1; h[NR] = $2 }
    function m(a, n,   j, k, t) { for (j = 2; j <= n; j++) { t = a[j]; for (k = j - 1; k >= 1 && a[k] + 0 > t + 0; k--) a[k+1] = a[k]; a[k+1] = t } return a[int((n + 1) / 2)] }
    END { if (NR < 1) { print "NA NA"; exit } for (i = 1; i <= NR; i++) if (w[i] == "NA" || h[i] == "NA") { print "NA NA"; exit }
          print m(w, NR), m(h, NR) }' "$NC_TMP/rounds")
echo "# measured: small rounds (median of round medians): the waiting instance answers ${med_w} ms after the write, ${med_h} ms after the holder's answers; per round (write, holder): $(tr '\n' ';' <"$NC_TMP/rounds")"
check "two instances: waiters answer ${med_w} ms after the holder's write (median over rounds, < $WAKE_LIMIT ms)" \
    in_ms_limit "$med_w" "$(scaled "$WAKE_LIMIT")"
check "two instances: waiters answer ${med_h} ms after the holder's own answers (median over rounds, < $WAKE_LIMIT ms)" \
    in_ms_limit "$med_h" "$(scaled "$WAKE_LIMIT")"
stop_second_service

# ---------------------------------------------------------------------------
# A crashed lock holder: its lock is never released, only expires
# ---------------------------------------------------------------------------
stop_service
stub_mode ok 50
start_service "UPSTREAM_URL=$STUB_URL" LOG_REQUESTS=false "${SVC_COMMON[@]}" LOCK_TTL_MS=800 LOCK_WAIT_MS=2500 || finish
ck=$(rec_key "crashed holder" 10)
rcli SET "$ck:lock" crashed-instance-token PX 800 >/dev/null
c0=$(stub_calls)
rec_q "crashed holder"
echo "# measured: request behind a crashed holder's lock (LOCK_TTL_MS=800, LOCK_WAIT_MS=2500): ${TIME}s"
check_eq "behind a crashed holder's lock: 200, the upstream called once" "200 $((c0 + 1))" "$STATUS $(stub_calls)"
check_time "behind a crashed holder's lock: answered within about LOCK_TTL_MS (0.8 s + 0.4 s)" 1.2

finish
