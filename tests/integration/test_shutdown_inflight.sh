#!/usr/bin/env bash
# test_shutdown_inflight.sh - every request in flight gets an answer when
# the service stops (issue 10, defect 1). With THREADS=4 and a short
# SHUTDOWN_GRACE_MS, SIGTERM arrives while requests wait:
#   - on the upstream (stub in hang mode), many for one key, so that the
#     connections parked on one worker's flight sit on every worker;
#   - on Redis (the private redis-server SIGSTOPped, REDIS_TIMEOUT_MS long);
#   - on another instance's lock (two instances sharing one Redis);
#   - with idle keep-alive connections open, and requests sent on them
#     after the signal;
#   - with a second SIGTERM during the grace period (it is ignored: the
#     grace period already bounds the stop).
# For each: every client gets an HTTP answer (no reset, no hang) that is
# one of the allowed ones (its result, or 503 problem+json shutting_down
# with Connection: close; a /cache read that lost Redis is its usual fail-
# open 404 BYPASS), the process exits 0 within SHUTDOWN_GRACE_MS + a
# margin, and nothing is logged about suspended connections (before the
# fix: libmicrohttpd's "MHD_stop_daemon() called while we have suspended
# connections" and exit status 134).
NC_DB=0 # unused: every service here talks to a private redis-server
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"

GRACE=800
MARGIN=1500
CLIENTS=$NC_ROOT/tests/tools/shutdown_clients.py
now_ms() { date +%s%3N; }

if ! redis_start; then
    notok "private redis-server starts"
    finish
fi
RPORT=$PRIV_REDIS_PORT
RPID=$PRIV_REDIS_PID
start_stub || finish
stub_mode_json '{"mode":"hang"}'

# svc [NAME=value]...: the service under test (THREADS=4, short grace,
# patient towards the upstream, Redis and other instances' locks).
SVC_ARGS=(THREADS=4 "SHUTDOWN_GRACE_MS=$GRACE" "UPSTREAM_URL=$STUB_URL" UPSTREAM_TIMEOUT_MS=30000
    "REDIS_URL=redis://127.0.0.1:$RPORT/0" REDIS_TIMEOUT_MS=2000 LOCK_WAIT_MS=30000 LOCK_TTL_MS=30000 LOG_LEVEL=info)
svc() { start_service "${SVC_ARGS[@]}" "$@"; }

declare -A CL_PID
# clients TAG PORT ARGS...: shutdown_clients.py in the background; returns
# once every request is written. Results in $NC_TMP/TAG.out.
clients() {
    local tag=$1 port=$2 i
    shift 2
    rm -f "$NC_TMP/$tag.ready" "$NC_TMP/$tag.out"
    python3 "$CLIENTS" "$port" "$NC_TMP/$tag.out" "$NC_TMP/$tag.ready" \
        --timeout $((20 * NC_TIME_SCALE)) "$@" 2>"$NC_TMP/$tag.err" &
    CL_PID[$tag]=$!
    NC_PIDS+=("$!")
    for i in $(seq $((200 * NC_TIME_SCALE))); do
        [ -f "$NC_TMP/$tag.ready" ] && return 0
        sleep 0.05
    done
    notok "$tag: the clients' requests are written"
    return 1
}

# clients_wait TAG: waits for the clients (they give up on their own).
clients_wait() {
    wait "${CL_PID[$1]}" 2>/dev/null
    nc_forget_pid "${CL_PID[$1]}"
}

# metric NAME [PORT]: a counter's value from /metrics (0 when absent).
metric() {
    local v
    v=$(curl -s --max-time 2 "http://127.0.0.1:${2:-$SVC_PORT}/metrics" |
        awk -v n="$1" '$1 == n {print $2}')
    echo "${v:-0}"
}

# wait_until DESC CMD...: polls CMD (5 s, scaled); "not ok" when it never holds.
wait_until() {
    local desc=$1 i
    shift
    for i in $(seq $((100 * NC_TIME_SCALE))); do
        "$@" && return 0
        sleep 0.05
    done
    notok "$desc (premise)"
    return 1
}
stub_called_since() { [ "$(stub_calls)" -gt "$1" ] 2>/dev/null; }
coalesced_at_least() { [ "$(metric normcache_upstream_coalesced_total "${2:-}")" -ge "$1" ] 2>/dev/null; }

# stop_and_wait TAG PID LOG [SECOND_SIGNAL_AFTER_S]: SIGTERM (and maybe a
# second one), then checks: exit 0 within GRACE + MARGIN, nothing about
# suspended connections in the log.
stop_and_wait() {
    local tag=$1 pid=$2 log=$3 again=${4:-} t0 ms rc limit
    limit=$(((GRACE + MARGIN) * NC_TIME_SCALE))
    t0=$(now_ms)
    kill -TERM "$pid"
    if [ -n "$again" ]; then
        sleep "$again"
        kill -TERM "$pid" 2>/dev/null
    fi
    while kill -0 "$pid" 2>/dev/null && [ $(($(now_ms) - t0)) -lt $((limit + 5000)) ]; do
        sleep 0.02
    done
    ms=$(($(now_ms) - t0))
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        rc="still running"
        wait "$pid" 2>/dev/null
    else
        wait "$pid" 2>/dev/null
        rc=$?
    fi
    nc_forget_pid "$pid"
    if [ "$rc" = 0 ] && [ "$ms" -le "$limit" ]; then
        ok "$tag: exits 0 within grace + margin (${ms} ms, limit ${limit} ms)"
    else
        notok "$tag: exits 0 within grace + margin (limit ${limit} ms)"
        diag "exit status $rc after ${ms} ms" "log: $(tail -n 4 "$log")"
    fi
    if grep -qi 'suspended' "$log"; then
        notok "$tag: nothing logged about suspended connections"
        diag "$(grep -i suspended "$log" | head -n 3)"
    else
        ok "$tag: nothing logged about suspended connections"
    fi
}

# check_answers TAG N ALLOWED [LABEL]: the N results of clients TAG are all HTTP answers in
# ALLOWED (space-separated: "200", "503sd" = 503 problem+json shutting_down
# with Connection: close, "404bypass" = 404 cache_miss with X-Cache BYPASS,
# "eof" = an idle connection closed cleanly without a request).
check_answers() {
    pyresults "$NC_TMP/$1.out" "${4:-$1}" "$2" "$3" <<'PYEOF'
import json, sys
path, tag, n, allowed = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
try:
    rs = [json.loads(l) for l in open(path)]
except Exception as e:
    print("FAIL %s: client results readable (%s)" % (tag, e))
    sys.exit(0)
kinds = {}
bad = []
for r in rs:
    h = r.get("headers") or {}
    st = r.get("status")
    k = None
    if r["outcome"] == "eof" and st is None and r["kind"] == "idle":
        k = "eof"
    elif r["outcome"].startswith("answered"):
        body = {}
        try:
            body = json.loads(r.get("body") or "")
        except Exception:
            pass
        if st == 503 and h.get("content-type", "").startswith("application/problem+json") \
                and isinstance(body, dict) and body.get("code") == "shutting_down" \
                and body.get("status") == 503 and h.get("connection", "").lower() == "close":
            k = "503sd"
        elif st == 404 and h.get("x-cache") == "BYPASS" and isinstance(body, dict) \
                and body.get("code") == "cache_miss":
            k = "404bypass"
        elif st == 200 and isinstance(body, dict):
            k = "200"
    if k is None or k not in allowed:
        bad.append(r)
    kinds[k or "other"] = kinds.get(k or "other", 0) + 1
summary = ", ".join("%s: %d" % kv for kv in sorted(kinds.items()))
if len(rs) == n and not bad:
    print("OK %s: all %d clients answered as allowed (%s) [%s]" % (tag, n, " | ".join(allowed), summary))
else:
    print("FAIL %s: all %d clients answered as allowed (%s)" % (tag, n, " | ".join(allowed)))
    print("DIAG %d results, %d not allowed [%s]" % (len(rs), len(bad), summary))
    for r in bad[:3]:
        print("DIAG " + json.dumps({k: r.get(k) for k in ("kind", "outcome", "status", "detail", "headers")})[:380])
        if r.get("body"):
            print("DIAG body: " + r["body"][:200])
PYEOF
}

REC="$REC_PATH?query="

# ---------------------------------------------------------------------------
# 1. Many requests for one key, upstream hanging, spread over 4 workers.
# ---------------------------------------------------------------------------
N=40
if svc; then
    if clients one "$SVC_PORT" --n "$N" --path "${REC}$(penc "shutdown one key")"; then
        wait_until "one: all $N requests share one upstream call" coalesced_at_least $((N - 1))
        check_eq "one: the upstream got one call (premise)" 1 "$(stub_calls)"
        stop_and_wait one "$SVC_PID" "$SVC_LOG"
        SVC_PID=""
        clients_wait one
        check_answers one "$N" "503sd"
    fi
fi

# ---------------------------------------------------------------------------
# 2. Requests waiting on Redis (SIGSTOPped; REDIS_TIMEOUT_MS > grace).
# ---------------------------------------------------------------------------
if svc REDIS_TIMEOUT_MS=20000 REDIS_BREAKER_FAILURES=1000; then
    kill -STOP "$RPID"
    if clients redis_recs "$SVC_PORT" --n 12 --path "${REC}$(penc "shutdown redis wait")" &&
        clients redis_cache "$SVC_PORT" --n 8 --path "/cache/faq?q=shutdown+redis+wait"; then
        sleep $((1 * NC_TIME_SCALE))
        stop_and_wait redis "$SVC_PID" "$SVC_LOG"
        SVC_PID=""
        clients_wait redis_recs
        clients_wait redis_cache
        check_answers redis_recs 12 "503sd" "redis: recommendations"
        check_answers redis_cache 8 "404bypass" "redis: /cache reads"
    fi
    kill -CONT "$RPID"
fi

# ---------------------------------------------------------------------------
# 3. Waiting on another instance's lock (two instances, one Redis).
# ---------------------------------------------------------------------------
LOCKQ="shutdown lock wait"
LOCKKEY="$(rec_key "$LOCKQ" 10):lock"
if svc && start_second_service "${SVC_ARGS[@]}"; then
    c0=$(stub_calls)
    if clients holder "$SVC_PORT" --n 3 --path "${REC}$(penc "$LOCKQ")"; then
        wait_until "lock: the first instance calls the upstream" stub_called_since "$c0"
        check_eq "lock: the first instance holds the lock (premise)" 1 "$(rcli_at "$RPORT" EXISTS "$LOCKKEY")"
        if clients waiter "$SVC2_PORT" --n 12 --path "${REC}$(penc "$LOCKQ")"; then
            wait_until "lock: the second instance's requests share one flight" coalesced_at_least 11 "$SVC2_PORT"
            sleep 0.3
            check_eq "lock: the second instance did not call the upstream (it waits)" $((c0 + 1)) "$(stub_calls)"
            stop_and_wait lock-waiter "$SVC2_PID" "$SVC2_LOG"
            SVC2_PID=""
            clients_wait waiter
            check_answers waiter 12 "503sd" "lock: waiters on the second instance"
        fi
        stop_and_wait lock-holder "$SVC_PID" "$SVC_LOG"
        SVC_PID=""
        clients_wait holder
        check_answers holder 3 "503sd" "lock: requests on the holder"
        check_eq "lock: the stopping holder released its lock" 0 "$(rcli_at "$RPORT" EXISTS "$LOCKKEY")"
    fi
fi
stop_second_service

# ---------------------------------------------------------------------------
# 4. Idle keep-alive connections, and requests sent on them after SIGTERM.
# ---------------------------------------------------------------------------
if svc; then
    if clients ka "$SVC_PORT" --n 6 --idle 4 --path "${REC}$(penc "shutdown keepalive")" &&
        clients late "$SVC_PORT" --idle 4 --late "$NC_TMP/late.go"; then
        wait_until "keepalive: the requests share one flight" coalesced_at_least 5
        (
            sleep 0.2
            : >"$NC_TMP/late.go"
        ) &
        stop_and_wait keepalive "$SVC_PID" "$SVC_LOG"
        SVC_PID=""
        clients_wait ka
        clients_wait late
        check_answers ka 10 "503sd eof" keepalive
        check_answers late 4 "503sd"
        # idle connections closed cleanly, in-flight requests answered: both kinds seen
        check_eq "keepalive: 4 idle connections closed cleanly (EOF, no reset)" 4 \
            "$(grep -c '"kind": "idle".*"outcome": "eof"' "$NC_TMP/ka.out")"
    fi
fi

# ---------------------------------------------------------------------------
# 5. A second SIGTERM during the grace period.
# ---------------------------------------------------------------------------
N=20
if svc; then
    if clients twice "$SVC_PORT" --n "$N" --path "${REC}$(penc "shutdown twice")"; then
        wait_until "twice: all $N requests share one upstream call" coalesced_at_least $((N - 1))
        stop_and_wait twice "$SVC_PID" "$SVC_LOG" 0.2
        SVC_PID=""
        clients_wait twice
        check_answers twice "$N" "503sd"
    fi
fi

stub_mode_json '{"mode":"ok"}'
finish
