#!/usr/bin/env bash
# test_breaker.sh - the Redis circuit breaker, measured: a private
# redis-server is stopped with SIGSTOP (it keeps its TCP connections open, so
# every command would wait for REDIS_TIMEOUT_MS) while GETs on a hot key run
# steadily (1000/s) on up to 8 keep-alive connections (tests/tools/recs_load,
# the recommendation tests' load tool). From one second after the stop on,
# every GET answers 404 X-Cache: BYPASS with p99 under 5 ms and nothing is
# ever a 5xx; the metrics show the breaker open, Redis down and
# timeouts counted; PUT answers stored:false at once and invalidations 503.
# After SIGCONT, a PUT then GET hit comes back within two cooldowns
# (REDIS_BREAKER_COOLDOWN_MS=1000) plus a margin.
NC_DB=14
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"

COOLDOWN_MS=1000
CONNS=8
PACE_PER_S=1000 # requests started per second, all connections together
LOAD_S=6        # seconds of load
STOP_AT=1.0     # SIGSTOP this long after the load starts
STOPPED_S=3.0   # SIGCONT this long after SIGSTOP
P99_MAX_MS=5

# ---------------------------------------------------------------------------
# Local helpers
# ---------------------------------------------------------------------------
now_ms() { date +%s%3N; }
# metric NAME [LABELS]: one value from a fresh scrape ("absent" if none).
metric() {
    curl -s --max-time 5 "http://127.0.0.1:$SVC_PORT/metrics" |
        awk -v k="$1" '$1 == k {print $2; f=1; exit} END {if (!f) print "absent"}'
}
secs() { awk -v x="$1" -v s="$NC_TIME_SCALE" 'BEGIN{print x*s}'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a != "" && a+0 < b+0)}'; }

# ---------------------------------------------------------------------------
# Set-up
# ---------------------------------------------------------------------------
build_load_tool || finish
redis_start || {
    notok "private redis-server starts"
    finish
}
RPORT=$PRIV_REDIS_PORT
RPID=$PRIV_REDIS_PID
start_service "REDIS_URL=redis://127.0.0.1:$RPORT/0" REDIS_BREAKER_FAILURES=5 \
    "REDIS_BREAKER_COOLDOWN_MS=$COOLDOWN_MS" REDIS_TIMEOUT_MS=100 REDIS_CONNECT_TIMEOUT_MS=200 \
    LOG_REQUESTS=false || finish

HOT="breaker hot key"
put_q brk "$HOT" '{"hot":true}' 600
check_eq "PUT of the hot key is stored" true "$(jget stored)"
get_q brk "$HOT"
check_eq "GET of the hot key is a hit before the stop" "200 HIT" "$STATUS $(hdr X-Cache)"
check_eq "normcache_redis_breaker_open is 0 before the stop" 0 "$(metric normcache_redis_breaker_open)"
timeouts0=$(metric 'normcache_redis_errors_total{kind="timeout"}')
HOT_URL="http://127.0.0.1:$SVC_PORT/cache/brk?q=$(urlenc "$HOT")"

# ---------------------------------------------------------------------------
# Load, SIGSTOP, checks while stopped, SIGCONT, recovery
# ---------------------------------------------------------------------------
"$NC_LOAD" -n $((PACE_PER_S * LOAD_S)) -c "$CONNS" -k -p $((1000 / PACE_PER_S)) -t 10000 \
    -o "$NC_TMP/samples" "$HOT_URL" >"$NC_TMP/load.txt" 2>&1 &
LOAD_PID=$!
NC_PIDS+=("$LOAD_PID")
sleep "$STOP_AT"
T_STOP=$(now_ms)
kill -STOP "$RPID"

# SIGCONT exactly STOPPED_S after the stop, whatever the checks below cost
# (before the second probe can fail, so the cooldown in force at SIGCONT is
# at most 2 x REDIS_BREAKER_COOLDOWN_MS), then PUT a new key until it is
# stored and GET it until 200 HIT. One python process does both, started
# now so that its start-up costs nothing later: on a busy machine a curl per
# attempt measures process start-up, not the service.
limit_ms=$((2 * COOLDOWN_MS * NC_TIME_SCALE + 500))
python3 - "$RPID" $((T_STOP + $(awk -v s="$STOPPED_S" 'BEGIN{print int(s*1000)}'))) "$SVC_PORT" \
    $((limit_ms + 3000)) >"$NC_TMP/recovery" 2>&1 <<'PYEOF' &
import http.client, json, os, signal, sys, time
pid, target, port, give_up = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ms = lambda: time.time() * 1000.0
while ms() < target:
    time.sleep(min(0.01, max(0.0, (target - ms()) / 1000.0)))
os.kill(pid, signal.SIGCONT)
t_cont = ms()
print("t_cont %d" % t_cont, flush=True)
attempts, rec, n = [], None, 0
while ms() - t_cont < give_up:
    n += 1
    got = "?"
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        c.request("PUT", "/cache/brk", headers={"Content-Type": "application/json"},
                  body=json.dumps({"q": "breaker recovery %d" % n, "value": 1, "ttl": 60}))
        r = c.getresponse()
        body = r.read()
        stored = json.loads(body).get("stored") if r.status == 200 else None
        got = "PUT %d stored:%s" % (r.status, json.dumps(stored))
        if stored is True:
            c.request("GET", "/cache/brk?q=breaker+recovery+%d" % n)
            r = c.getresponse()
            r.read()
            got += ", GET %d %s" % (r.status, r.getheader("X-Cache"))
            if r.status == 200 and r.getheader("X-Cache") == "HIT":
                rec = ms() - t_cont
        c.close()
    except Exception as e:
        got = "error %s" % e.__class__.__name__
    if rec is not None:
        break
    attempts.append("%d ms: %s" % (ms() - t_cont, got))
    time.sleep(0.02)
print("recovered %s" % ("" if rec is None else "%d" % rec))
print("attempts %d" % len(attempts))
for a in attempts[-3:]:
    print("last " + a)
PYEOF
POLLER_PID=$!
NC_PIDS+=("$POLLER_PID")

# The breaker opens: poll the gauge (at most 2 s).
opened=""
polls=""
while [ $(($(now_ms) - T_STOP)) -lt $((2000 * NC_TIME_SCALE)) ]; do
    t0=$(now_ms)
    v=$(metric normcache_redis_breaker_open)
    polls="$polls $(($(now_ms) - t0))"
    if [ "$v" = 1 ]; then
        opened=$(($(now_ms) - T_STOP))
        break
    fi
    sleep 0.02
done
if [ -n "$opened" ]; then
    ok "normcache_redis_breaker_open is 1 under load with Redis stopped (seen ${opened} ms after SIGSTOP)"
else
    notok "normcache_redis_breaker_open is 1 under load with Redis stopped (within 2 s)"
    diag "scrape times (ms):$polls"
fi

# Within the first cooldown (no probe due): writes and invalidations answer
# at once. One curl process for all of them, so that they are done well
# before SIGCONT even on a busy machine; judged afterwards.
B=http://127.0.0.1:$SVC_PORT
W='%{http_code} %{time_total}\n'
T_CHECKS0=$(now_ms)
curl -s --max-time 5 \
    -o "$NC_TMP/o-put" -D "$NC_TMP/h-put" -w "$W" -X PUT -H "$JSON_CT" \
    --data-binary '{"q":"breaker write while open","value":{"w":1},"ttl":60}' "$B/cache/brk" \
    --next -s --max-time 5 -o "$NC_TMP/o-del" -D "$NC_TMP/h-del" -w "$W" -X DELETE \
    "$B/cache/brk?q=$(urlenc "$HOT")" \
    --next -s --max-time 5 -o "$NC_TMP/o-flush" -D "$NC_TMP/h-flush" -w "$W" -X DELETE "$B/cache/brk" \
    --next -s --max-time 5 -o "$NC_TMP/o-ready" -w "$W" "$B/readyz" \
    --next -s --max-time 5 -o "$NC_TMP/o-metrics" -w "$W" "$B/metrics" >"$NC_TMP/checks.w"
T_CHECKS1=$(now_ms)
# Sleep through the measured window in one go: a polling loop here (a
# process every few tens of ms) shows up in the latencies on a 2-CPU machine.
rest=$((T_STOP + $(awk -v s="$STOPPED_S" 'BEGIN{print int(s*1000)}') + 50 - $(now_ms)))
[ "$rest" -gt 0 ] && sleep "$(awk -v r="$rest" 'BEGIN{printf "%.3f", r/1000}')"
for _ in $(seq 200); do
    grep -q '^t_cont ' "$NC_TMP/recovery" 2>/dev/null && break
    sleep 0.05
done
T_CONT=$(awk '$1 == "t_cont" {print $2}' "$NC_TMP/recovery")
if [ -z "$T_CONT" ]; then
    notok "the poller sends SIGCONT"
    diag "$(cat "$NC_TMP/recovery")"
    kill -CONT "$RPID"
    T_CONT=$(now_ms)
fi
if [ "$T_CHECKS1" -lt "$T_CONT" ]; then
    ok "the open-breaker checks ran before SIGCONT ($((T_CHECKS0 - T_STOP))..$((T_CHECKS1 - T_STOP)) ms after SIGSTOP)"
else
    notok "the open-breaker checks ran before SIGCONT (machine too busy?)"
    diag "checks $((T_CHECKS0 - T_STOP))..$((T_CHECKS1 - T_STOP)) ms after SIGSTOP, SIGCONT at $((T_CONT - T_STOP)) ms"
fi
mapfile -t W_LINES <"$NC_TMP/checks.w"
xc() { tr -d '\r' <"$1" | awk -F': *' 'tolower($1) == "x-cache" {print $2}' | tail -n 1; }
stored=$(python3 -c 'import json,sys; print(json.dumps(json.load(open(sys.argv[1])).get("stored")))' "$NC_TMP/o-put" 2>/dev/null)
check_eq "PUT while the breaker is open: 200 stored:false, X-Cache: BYPASS" "200 false BYPASS" \
    "${W_LINES[0]%% *} ${stored:-<no JSON>} $(xc "$NC_TMP/h-put")"
# at_once NAME TIME: TIME (s, from curl) under 50 ms (scaled).
at_once() {
    if lt "$2" "$(secs 0.05)"; then
        ok "$1 answers at once ($2 s < 50 ms)"
    else
        notok "$1 answers at once (< 50 ms)"
        diag "took $2 s"
    fi
}
at_once "PUT while the breaker is open" "${W_LINES[0]#* }"
check_eq "DELETE of a key while the breaker is open: 503" 503 "${W_LINES[1]%% *}"
at_once "DELETE while the breaker is open" "${W_LINES[1]#* }"
check_eq "DELETE of the namespace while the breaker is open: 503" 503 "${W_LINES[2]%% *}"
check_eq "/readyz says redis down while the breaker is open" "200 down" \
    "${W_LINES[3]%% *} $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("redis"))' "$NC_TMP/o-ready" 2>/dev/null)"
mget() { awk -v k="$1" '$1 == k {print $2; f=1; exit} END {if (!f) print "absent"}' "$NC_TMP/o-metrics"; }
check_eq "normcache_redis_breaker_open is 1 in the same scrape" 1 "$(mget normcache_redis_breaker_open)"
check_eq "normcache_redis_up is 0 while the breaker is open" 0 "$(mget normcache_redis_up)"
timeouts1=$(mget 'normcache_redis_errors_total{kind="timeout"}')
if [[ $timeouts0 =~ ^[0-9]+$ ]] && [[ $timeouts1 =~ ^[0-9]+$ ]] && [ "$timeouts1" -gt "$timeouts0" ]; then
    ok "normcache_redis_errors_total{kind=\"timeout\"} grew ($timeouts0 -> $timeouts1)"
else
    notok "normcache_redis_errors_total{kind=\"timeout\"} grew"
    diag "before: $timeouts0, while stopped: $timeouts1"
fi

# Recovery, as the poller saw it.
wait "$POLLER_PID"
nc_forget_pid "$POLLER_PID"
recovered=$(awk '$1 == "recovered" {print $2}' "$NC_TMP/recovery")
if [ -n "$recovered" ] && [ "$recovered" -le "$limit_ms" ]; then
    ok "after SIGCONT, PUT then GET 200 HIT within two cooldowns + 0.5 s (${recovered} ms, limit ${limit_ms} ms)"
else
    notok "after SIGCONT, PUT then GET 200 HIT within two cooldowns + 0.5 s (limit ${limit_ms} ms)"
    diag "recovered after: ${recovered:-never (gave up after $((limit_ms + 3000)) ms)}"
fi
while IFS= read -r l; do diag "poller: $l"; done < <(grep -v '^t_cont' "$NC_TMP/recovery")

wait "$LOAD_PID"
load_rc=$?
nc_forget_pid "$LOAD_PID"
check_eq "the load tool ran" 0 "$load_rc"
diag "load: $(grep -E '^(requests|status_|errors|xcache_|p50_ms|p99_ms|max_ms|wall_ms)' "$NC_TMP/load.txt" | tr '\n' ' ')"
check_eq "normcache_redis_breaker_open is 0 after recovery" 0 "$(metric normcache_redis_breaker_open)"
check_eq "normcache_redis_up is 1 after recovery" 1 "$(metric normcache_redis_up)"

# ---------------------------------------------------------------------------
# The figures
# ---------------------------------------------------------------------------
python3 - "$NC_TMP/samples" "$T_STOP" "$T_CONT" "${recovered:-}" "$P99_MAX_MS" "$NC_TIME_SCALE" \
    >"$NC_TMP/figures" 2>&1 <<'PYEOF'
import sys
path, t_stop, t_cont, rec, p99_max, scale = sys.argv[1:7]
t_stop, t_cont, p99_max, scale = int(t_stop), int(t_cont), float(p99_max), int(scale)
rows = []
# recs_load -o: idx url_idx status start_us end_us latency_us body_hash x_cache cache_status
for line in open(path):
    f = line.split()
    rows.append((int(f[3]) // 1000, int(f[5]) / 1000.0, int(f[2]), f[7]))
rows.sort()
def pct(lats, p):
    if not lats:
        return float("nan")
    lats = sorted(lats)
    i = max(0, -(-len(lats) * p // 100) - 1)
    return lats[int(i)]
def out(ok, name, *diags):
    print(("OK " if ok else "FAIL ") + name)
    for d in diags:
        print("DIAG " + d)
bad = [r for r in rows if r[2] >= 500 or r[2] == 0]
out(not bad, "no GET under load got a 5xx or no answer (%d requests)" % len(rows),
    *["%d requests: e.g. status %d after %.1f ms" % (len(bad), bad[0][2], bad[0][1])] if bad else [])
before = [r for r in rows if r[0] < t_stop]
nb = [r for r in before if (r[2], r[3]) != (200, "HIT")]
# Under a sanitizer (NC_TIME_SCALE > 1) the service runs several times
# slower while REDIS_TIMEOUT_MS stays 100 ms (the figures below are about
# it): a rare command may miss that deadline and answer BYPASS, which is the
# specified fail-open answer. At scale 1 none may.
allowed = 0 if scale == 1 else len(before) // 100
nb_other = [r for r in nb if (r[2], r[3]) != (404, "BYPASS")]
out(before and not nb_other and len(nb) <= allowed,
    "GETs before the stop are 200 HIT (%d%s)" % (len(before), "" if scale == 1 else ", at most 1 %% BYPASS under a sanitizer"),
    *["%d of %d were not, e.g. %s %s" % (len(nb), len(before), nb[0][2], nb[0][3])] if nb else [])
# For judging the figures: the same load's latency with Redis up (hits), on
# this machine, in this run.
# (Requests still in flight at the stop wait for REDIS_TIMEOUT_MS: left out.)
base = [r[1] for r in before if r[0] >= rows[0][0] + 200 and r[0] + r[1] < t_stop] if rows else []
base_line = ("baseline before SIGSTOP (hits, Redis up): %d requests, p50 %.2f ms, p99 %.2f ms"
             % (len(base), pct(base, 50), pct(base, 99))) if base else "no baseline samples"
win = [r for r in rows if t_stop + 1000 <= r[0] < t_cont]
nw = [r for r in win if (r[2], r[3]) != (404, "BYPASS")]
out(len(win) > 0 and not nw,
    "from 1 s after SIGSTOP until SIGCONT every GET is 404 BYPASS (%d requests)" % len(win),
    *["%d of %d were not, e.g. %s %s" % (len(nw), len(win), nw[0][2], nw[0][3])] if nw else [])
lats = [r[1] for r in win]
p50, p99, mx = pct(lats, 50), pct(lats, 99), max(lats) if lats else float("nan")
lim = p99_max * scale
out(lats and p99 < lim,
    "GET p99 from 1 s after SIGSTOP until SIGCONT is under %g ms (p99 %.2f ms)" % (lim, p99),
    "window %.1f s, %d requests, p50 %.2f ms, p99 %.2f ms, max %.2f ms"
    % ((t_cont - t_stop - 1000) / 1000.0, len(win), p50, p99, mx), base_line)
first = [r for r in rows if t_stop <= r[0] < t_stop + 1000]
if first:
    print("DIAG first second after SIGSTOP: %d requests, p99 %.2f ms, max %.2f ms"
          % (len(first), pct([r[1] for r in first], 99), max(r[1] for r in first)))
if rec:
    after = [r for r in rows if r[0] >= t_cont + int(rec) + 100]
    if after:
        na = [r for r in after if (r[2], r[3]) != (200, "HIT")]
        out(not na, "the GET load is 200 HIT again after recovery (%d requests)" % len(after),
            *["%d of %d were not, e.g. %s %s" % (len(na), len(after), na[0][2], na[0][3])] if na else [])
PYEOF
while IFS= read -r line; do
    result_line "$line" || diag "$line"
done <"$NC_TMP/figures"

# What the breaker logged (cooldowns), for the record.
grep -h '"msg":"redis breaker' "$SVC_LOG" | head -n 8 | while IFS= read -r l; do diag "log: $l"; done
echo "# SIGSTOP at $(date -u -d @"${T_STOP:0:-3}.${T_STOP: -3}" +%T.%3N), SIGCONT at $(date -u -d @"${T_CONT:0:-3}.${T_CONT: -3}" +%T.%3N)"
echo "# breaker opened ${opened:-?} ms after SIGSTOP; hits back ${recovered:-?} ms after SIGCONT"

finish
