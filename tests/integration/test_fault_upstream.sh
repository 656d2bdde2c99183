#!/usr/bin/env bash
# test_fault_upstream.sh - fault injection on the recommendations upstream
# (the real build/upstream-stub, switched with PUT /mode): failing (500),
# hanging, trickling one byte a second (trickle), answering garbage (not
# JSON), a body far over MAX_BODY_BYTES (huge: 64 MiB, chunked) and closing
# mid-body (truncate). For each, 20 concurrent callers of distinct cold keys:
#   - every answer is the README's: 502 upstream_error for an error, 504
#     upstream_timeout for a timeout (problem+json), never anything else;
#   - the slowest answer comes within UPSTREAM_TIMEOUT_MS + 0.5 s;
#   - meanwhile /healthz and a cache GET (a hit) answer within 0.5 s (no
#     worker is stuck), and again after;
#   - a key with a stale copy is answered 200 STALE at once (stale-if-error).
# Three rounds of all faults: the service's RSS after the third is within
# 4 MiB of its RSS after the first (no memory growth). At the end the
# upstream heals and a cold key is a 200 MISS again.
set -u
NC_DB=0 # unused: a private redis-server
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"
. "$NC_ROOT/tests/tools/fault_lib.sh"

# Scaled: a sanitizer build moves the huge body slowly enough to hit 1 s.
TIMEOUT_MS=$((1000 * NC_TIME_SCALE))
CALLERS=20
ROUNDS=3
RSS_GROWTH_MAX_KB=4096
build_load_tool || finish
redis_start || finish
start_stub STUB_LATENCY_MS=0 || finish
# A 1 s fresh TTL and a long grace: a key stored at the start of a round is
# stale (not gone) by the time the faults run.
start_service "REDIS_URL=redis://127.0.0.1:$PRIV_REDIS_PORT/0" "UPSTREAM_URL=$STUB_URL" \
    "UPSTREAM_TIMEOUT_MS=$TIMEOUT_MS" CACHE_NS_TTL=recommendations=1 STALE_GRACE_SECONDS=300 \
    TTL_JITTER_PCT=0 EARLY_REFRESH_BETA=0 LOG_REQUESTS=false || finish
B=http://127.0.0.1:$SVC_PORT
put_q faultns "hot key" '{"hot":1}' 600
check_eq "a cache entry to read during the faults is stored" true "$(jget stored)"
HOT_URL="$B/cache/faultns?q=hot+key"

declare -A WANT=([fail]=502 [garbage]=502 [huge]=502 [truncate]=502 [trickle]=504 [hang]=504)
declare -A CODE=([502]=upstream_error [504]=upstream_timeout)
MODES="fail garbage huge truncate trickle hang"
limit_ms=$(scaled $((TIMEOUT_MS + 500)))
declare -a RSS

for round in $(seq $ROUNDS); do
    # Stale copies: stored now with the upstream fine, stale a second later.
    stub_mode ok
    for m in $MODES; do
        rec_q "stale $m $round" 3
        [ "$STATUS" = 200 ] || {
            notok "round $round: the stale copy for $m is stored"
            diag_last
        }
    done
    sleep 1.2
    for m in $MODES; do
        stub_mode "$m"
        want=${WANT[$m]}
        urls=()
        for i in $(seq $CALLERS); do urls+=("$B$REC_PATH?query=cold+$m+$round+$i&limit=3"); done
        "$NC_LOAD" -n $CALLERS -c $CALLERS -t 10000 -o "$NC_TMP/samples" "${urls[@]}" \
            >"$NC_TMP/load.sum" 2>"$NC_TMP/load.err" &
        lpid=$!
        NC_PIDS+=("$lpid")
        sleep 0.2
        if [ "$round" = 1 ]; then
            quick "$m: /healthz answers while $CALLERS upstream calls are in trouble" "$B/healthz"
            quick "$m: a cache GET answers while $CALLERS upstream calls are in trouble" "$HOT_URL"
        fi
        rec_q "stale $m $round" 3
        stale="$STATUS $(hdr X-Cache) $TIME"
        wait "$lpid"
        nc_forget_pid "$lpid"
        tally=$(status_tally "$NC_TMP/samples")
        maxms=$(lv max_ms)
        if [ "$tally" = "$want=$CALLERS " ] && fle "$maxms" "$limit_ms"; then
            [ "$round" = 1 ] && ok "$m: all $CALLERS cold callers get $want within ${limit_ms} ms (max ${maxms} ms)"
        else
            notok "round $round, $m: all $CALLERS cold callers get $want within ${limit_ms} ms"
            diag "statuses: $tally max ${maxms} ms"
        fi
        if [[ $stale =~ ^200\ STALE\ (.*)$ ]] && flt "${BASH_REMATCH[1]}" "$(scaled 0.5)"; then
            [ "$round" = 1 ] && ok "$m: a key with a stale copy is 200 STALE at once (${BASH_REMATCH[1]} s)"
        else
            notok "round $round, $m: a key with a stale copy is 200 STALE at once"
            diag "got: $stale"
        fi
        if [ "$round" = 1 ]; then
            rec_q "one more cold $m" 3
            expect_problem "$m: the answer is a problem+json ${CODE[$want]}" "$want" "${CODE[$want]}"
            quick "$m: /healthz answers after" "$B/healthz"
            quick "$m: a cache GET answers after" "$HOT_URL"
        fi
    done
    stub_mode ok
    RSS[round]=$(rss_kb)
    diag "round $round: RSS $((RSS[round])) KiB"
done

growth=$((RSS[ROUNDS] - RSS[1]))
if [ -n "${NC_SANITIZE:-}" ]; then
    diag "RSS bound not checked in a sanitizer build (quarantine, shadow memory; LeakSanitizer checks leaks)"
elif [ "$growth" -le "$RSS_GROWTH_MAX_KB" ]; then
    ok "RSS after $ROUNDS rounds of every fault is within $((RSS_GROWTH_MAX_KB / 1024)) MiB of round 1 (${RSS[1]} -> ${RSS[ROUNDS]} KiB)"
else
    notok "RSS after $ROUNDS rounds of every fault is within $((RSS_GROWTH_MAX_KB / 1024)) MiB of round 1"
    diag "RSS per round: ${RSS[*]} KiB"
fi
stub_mode ok
rec_q "healed upstream" 3
check_eq "the upstream healed: a cold key is 200 MISS" "200 MISS" "$STATUS $(hdr X-Cache)"
rec_q "healed upstream" 3
check_eq "and then 200 HIT" "200 HIT" "$STATUS $(hdr X-Cache)"
check "the service is still running" service_alive
echo "# upstream faults: RSS per round ${RSS[*]} KiB"
finish
