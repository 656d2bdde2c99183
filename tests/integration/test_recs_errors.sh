#!/usr/bin/env bash
# test_recs_errors.sh - GET /products/recommendations when the upstream or
# Redis misbehave:
#   - upstream 500 with nothing cached: 502 problem upstream_error, never
#     cached (the next request calls the upstream again); an oversized
#     answer (> MAX_BODY_BYTES) is an error too;
#   - upstream too slow / hanging: 504 upstream_timeout within
#     UPSTREAM_TIMEOUT_MS plus a little, concurrent callers coalesced;
#   - upstream 404: cached negatively for NEGATIVE_TTL_SECONDS (no grace),
#     404 problem not_found, X-Cache HIT once cached;
#   - UPSTREAM_MAX_INFLIGHT: past the cap 503 upstream_busy + Retry-After,
#     while joining an existing flight is still allowed;
#   - Redis disabled or down: X-Cache BYPASS, still coalesced.
set -u
NC_DB=10
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"

# Own KEY_PREFIX: Redis pub/sub ignores database numbers.
PFX=ncerr
REC_PREFIX=$PFX
build_load_tool || finish
start_stub STUB_LATENCY_MS=50 || finish
TIMEOUT_MS=300
NEG_TTL=2
start_service "UPSTREAM_URL=$STUB_URL" "KEY_PREFIX=$PFX" "UPSTREAM_TIMEOUT_MS=$TIMEOUT_MS" \
    "NEGATIVE_TTL_SECONDS=$NEG_TTL" STALE_GRACE_SECONDS=60 REDIS_TIMEOUT_MS=1000 || finish
surl() { echo "http://127.0.0.1:$SVC_PORT$REC_PATH"; }

# ---------------------------------------------------------------------------
# 502: upstream error, nothing cached
# ---------------------------------------------------------------------------
stub_mode fail
c0=$(stub_calls)
k=$(rec_key "broken upstream" 10)
rec_q "broken upstream"
expect_problem "upstream 500, nothing cached: 502 problem upstream_error" 502 upstream_error
check_hdr "502: X-Cache MISS" X-Cache MISS
check_hdr "502: Cache-Status 'normcache; fwd=miss' (not stored)" Cache-Status "normcache; fwd=miss"
check_eq "502: the stub was called once" $((c0 + 1)) "$(stub_calls)"
check_eq "502: nothing stored, lock released" "0 0" "$(rcli EXISTS "$k") $(rcli EXISTS "$k:lock")"
rec_q "broken upstream"
check_eq "502 again: errors are not cached (upstream called again)" "502 $((c0 + 2))" "$STATUS $(stub_calls)"
load -n 20 -t 5000 "$(surl)?query=broken+upstream+many"
check_eq "20 concurrent on a failing key: 20 x 502, one upstream call" "20 $((c0 + 3))" "$(lv status_502) $(stub_calls)"
stub_mode ok
rec_q "broken upstream"
check_eq "upstream back: 200 MISS (nothing had been cached)" "200 MISS" "$STATUS $(hdr X-Cache)"
check_eq "upstream back: the stub was called" $((c0 + 4)) "$(stub_calls)"
rec_q "broken upstream"
check_eq "upstream back: then HIT" "200 HIT" "$STATUS $(hdr X-Cache)"

# ---------------------------------------------------------------------------
# 504: upstream timeout
# ---------------------------------------------------------------------------
stub_mode hang
c0=$(stub_calls)
k=$(rec_key "hanging upstream" 10)
rec_q "hanging upstream"
t504=$TIME
expect_problem "upstream hangs: 504 problem upstream_timeout" 504 upstream_timeout
echo "# measured: 504 on a hanging upstream after ${t504}s (UPSTREAM_TIMEOUT_MS=$TIMEOUT_MS)"
check "504 not before UPSTREAM_TIMEOUT_MS (took ${t504}s)" fle 0.28 "$t504"
check "504 within UPSTREAM_TIMEOUT_MS + 250 ms (took ${t504}s)" flt "$t504" "$(scaled 0.55)"
check_hdr "504: Cache-Status 'normcache; fwd=miss'" Cache-Status "normcache; fwd=miss"
check_eq "504: the stub was called once, nothing stored" "$((c0 + 1)) 0" "$(stub_calls) $(rcli EXISTS "$k")"
load -n 30 -t 5000 "$(surl)?query=hanging+upstream+many"
echo "# measured: 30 concurrent on a hanging upstream: $(tr '\n' ' ' <"$NC_TMP/load.sum")"
check_eq "30 concurrent on a hanging upstream: 30 x 504, one upstream call" "30 $((c0 + 2))" "$(lv status_504) $(stub_calls)"
check "30 concurrent on a hanging upstream: slowest answer $(lv max_ms) ms < UPSTREAM_TIMEOUT_MS + 250 ms" \
    flt "$(lv max_ms)" "$(scaled 550)"
stub_mode ok 800
rec_q "slow upstream"
t504=$TIME
expect_problem "upstream slower (800 ms) than UPSTREAM_TIMEOUT_MS: 504 upstream_timeout" 504 upstream_timeout
check "504 on a slow upstream within UPSTREAM_TIMEOUT_MS + 250 ms (took ${t504}s)" flt "$t504" "$(scaled 0.55)"
stub_mode ok 50
rec_q "slow upstream"
check_eq "after a 504, upstream fast again: 200 MISS (the timeout was not cached)" "200 MISS" "$STATUS $(hdr X-Cache)"

# ---------------------------------------------------------------------------
# Oversized upstream answer: an error, never cached
# ---------------------------------------------------------------------------
# (its own service: MAX_BODY_BYTES=1500 lets limit=1 through, not limit=50)
stop_service
start_service "UPSTREAM_URL=$STUB_URL" "KEY_PREFIX=$PFX" MAX_BODY_BYTES=1500 REDIS_TIMEOUT_MS=1000 || finish
c0=$(stub_calls)
rec_q "big answer" 50
expect_problem "upstream answer larger than MAX_BODY_BYTES: 502 upstream_error" 502 upstream_error
check_eq "oversized answer: not stored" 0 "$(rcli EXISTS "$(rec_key "big answer" 50)")"
rec_q "big answer" 1
check_eq "a small answer under the same MAX_BODY_BYTES: 200 MISS" "200 MISS" "$STATUS $(hdr X-Cache)"
rec_q "big answer" 50
check_eq "oversized again: 502 and the upstream called again (not cached)" "502 $((c0 + 3))" "$STATUS $(stub_calls)"
stop_service
start_service "UPSTREAM_URL=$STUB_URL" "KEY_PREFIX=$PFX" "NEGATIVE_TTL_SECONDS=$NEG_TTL" \
    STALE_GRACE_SECONDS=60 REDIS_TIMEOUT_MS=1000 || finish

# ---------------------------------------------------------------------------
# Negative caching of upstream 404
# ---------------------------------------------------------------------------
stub_mode notfound
c0=$(stub_calls)
k=$(rec_key "no such product" 10)
rec_q "no such product"
t_neg=$(date +%s%N)
expect_problem "upstream 404: 404 problem not_found" 404 not_found
check_hdr "first 404: X-Cache MISS" X-Cache MISS
check_hdr "first 404: Cache-Status 'normcache; fwd=miss; stored'" Cache-Status "normcache; fwd=miss; stored"
check_eq "first 404: stub called once" $((c0 + 1)) "$(stub_calls)"
pttl=$(rcli PTTL "$k")
check "negative entry TTL is NEGATIVE_TTL_SECONDS without grace (PTTL $pttl in [$((NEG_TTL * 1000 - 1000)), $((NEG_TTL * 1000))])" \
    in_range "$pttl" $((NEG_TTL * 1000 - 1000)) $((NEG_TTL * 1000))
check_match "negative entry: NC1 header with status 404" '^NC1 [0-9]+ [0-9]+ [0-9]+ 404$' "$(rcli GET "$k" | head -n 1)"
stub_mode ok
rec_q "no such product"
expect_problem "second request (stub now ok): still 404 not_found from the cache" 404 not_found
check_hdr "second 404: X-Cache HIT" X-Cache HIT
check_match "second 404: Cache-Status 'normcache; hit; ttl=N', N <= NEGATIVE_TTL" "^normcache; hit; ttl=[0-$NEG_TTL]\$" "$(hdr Cache-Status)"
check_eq "second 404: stub not called" $((c0 + 1)) "$(stub_calls)"
load -n 20 -t 5000 "$(surl)?query=no+such+product"
check_eq "20 more: 20 x 404 HIT, stub not called" "20 20 $((c0 + 1))" "$(lv status_404) $(lv xcache_HIT) $(stub_calls)"
# After NEGATIVE_TTL the 404 is gone (the stub now answers 200).
el=$((($(date +%s%N) - t_neg) / 1000000))
[ "$el" -lt $((NEG_TTL * 1000 + 200)) ] && sleep "$(awk -v ms=$((NEG_TTL * 1000 + 200 - el)) 'BEGIN{print ms/1000}')"
rec_q "no such product"
check_eq "after NEGATIVE_TTL_SECONDS: 200 MISS (the 404 expired, no stale 404 served)" "200 MISS" "$STATUS $(hdr X-Cache)"
check_eq "after NEGATIVE_TTL_SECONDS: stub called again" $((c0 + 2)) "$(stub_calls)"

# ---------------------------------------------------------------------------
# UPSTREAM_MAX_INFLIGHT
# ---------------------------------------------------------------------------
stop_service
start_service "UPSTREAM_URL=$STUB_URL" "KEY_PREFIX=$PFX" UPSTREAM_MAX_INFLIGHT=2 UPSTREAM_TIMEOUT_MS=10000 \
    LOCK_TTL_MS=3000 REDIS_TIMEOUT_MS=1000 || finish
stub_mode hang
c0=$(stub_calls)
bg_get() { # OUTFILE TEXT: a request in the background, "status x-cache cache-status" in OUTFILE
    (curl -s -o /dev/null -D "$1.h" -w '%{http_code}' --max-time 15 "http://127.0.0.1:$SVC_PORT$REC_PATH?query=$(penc "$2")" >"$1.s"
        echo "$(cat "$1.s") $(tr -d '\r' <"$1.h" | sed -n 's/^X-Cache: //Ip' | head -n 1) $(tr -d '\r' <"$1.h" | sed -n 's/^Cache-Status: //Ip' | head -n 1)" >"$1") &
}
bg_get "$NC_TMP/cap1" "cap one"
p1=$!
bg_get "$NC_TMP/cap2" "cap two"
p2=$!
for i in $(seq 100); do
    [ "$(stub_calls)" = $((c0 + 2)) ] && break
    sleep 0.05
done
check_eq "cap: two distinct keys hang upstream" $((c0 + 2)) "$(stub_calls)"
k1=$(rec_key "cap one" 10)
check_eq "cap: the rebuild lock <key>:lock is held meanwhile" 1 "$(rcli EXISTS "$k1:lock")"
check "cap: its PTTL is within LOCK_TTL_MS ($(rcli PTTL "$k1:lock"))" in_range "$(rcli PTTL "$k1:lock")" 1 3000
rec_q "cap three"
expect_problem "cap reached, third key: 503 problem upstream_busy" 503 upstream_busy
check_match "503: Retry-After (seconds)" '^[0-9]+$' "$(hdr Retry-After)"
check_time "503: answered at once" 0.5
check_eq "503: the upstream was not called for the third key" $((c0 + 2)) "$(stub_calls)"
bg_get "$NC_TMP/cap1b" "cap one"
p3=$!
sleep 0.3
check_eq "cap: joining an in-flight key does not count against the cap (no new call)" $((c0 + 2)) "$(stub_calls)"
stub_mode ok 50
wait "$p1" "$p2" "$p3"
check_eq "cap: first key answered 200 once released" "200 MISS normcache; fwd=miss; stored" "$(cat "$NC_TMP/cap1")"
check_eq "cap: second key answered 200" 200 "$(cut -d' ' -f1 "$NC_TMP/cap2")"
check_eq "cap: the joiner of the first key got the same flight's answer" "200 MISS normcache; fwd=miss; stored; collapsed" "$(cat "$NC_TMP/cap1b")"
rec_q "cap three"
check_eq "cap freed: third key 200 MISS" "200 MISS" "$STATUS $(hdr X-Cache)"

# ---------------------------------------------------------------------------
# Redis disabled: BYPASS, still coalesced
# ---------------------------------------------------------------------------
stop_service
start_service "UPSTREAM_URL=$STUB_URL" "KEY_PREFIX=$PFX" REDIS_ENABLED=false || finish
stub_mode ok 300
n0=$(rcli DBSIZE)
c0=$(stub_calls)
load -n 50 -t 5000 -o "$NC_TMP/byp.txt" "http://127.0.0.1:$SVC_PORT$REC_PATH?query=bypass+disabled"
echo "# measured: REDIS_ENABLED=false, 50 concurrent: $(tr '\n' ' ' <"$NC_TMP/load.sum")"
check_eq "REDIS_ENABLED=false, 50 concurrent: 50 x 200 BYPASS, one body" "50 50 1" "$(lv status_200) $(lv xcache_BYPASS) $(lv bodies)"
check_eq "REDIS_ENABLED=false, 50 concurrent: exactly 1 upstream call" $((c0 + 1)) "$(stub_calls)"
check_eq "REDIS_ENABLED=false: Cache-Status 'normcache; fwd=bypass' then '...; collapsed'" "1 49" \
    "$(grep -c 'normcache; fwd=bypass$' "$NC_TMP/byp.txt") $(grep -c 'normcache; fwd=bypass; collapsed$' "$NC_TMP/byp.txt")"
stub_mode ok 50
rec_q "bypass disabled"
check_eq "REDIS_ENABLED=false: the next request is a BYPASS again (nothing cached)" "200 BYPASS $((c0 + 2))" "$STATUS $(hdr X-Cache) $(stub_calls)"
check_eq "REDIS_ENABLED=false: nothing written to Redis" "$n0" "$(rcli DBSIZE)"

# ---------------------------------------------------------------------------
# Redis down: BYPASS, still coalesced
# ---------------------------------------------------------------------------
stop_service
redis_start || finish
RPORT=$PRIV_REDIS_PORT
start_service "UPSTREAM_URL=$STUB_URL" "KEY_PREFIX=$PFX" "REDIS_URL=redis://127.0.0.1:$RPORT/0" || finish
rec_q "redis dies"
check_eq "private redis up: MISS" "200 MISS" "$STATUS $(hdr X-Cache)"
rec_q "redis dies"
check_eq "private redis up: HIT" "200 HIT" "$STATUS $(hdr X-Cache)"
redis_kill
stub_mode ok 300
c0=$(stub_calls)
load -n 50 -t 5000 "http://127.0.0.1:$SVC_PORT$REC_PATH?query=redis+dies"
echo "# measured: Redis down, 50 concurrent: $(tr '\n' ' ' <"$NC_TMP/load.sum")"
check_eq "Redis down, 50 concurrent on a key cached before: 50 x 200 BYPASS, one body" "50 50 1" \
    "$(lv status_200) $(lv xcache_BYPASS) $(lv bodies)"
check_eq "Redis down, 50 concurrent: exactly 1 upstream call" $((c0 + 1)) "$(stub_calls)"
stub_mode ok 50
rec_q "redis still down"
check_eq "Redis down: another key, 200 BYPASS" "200 BYPASS" "$STATUS $(hdr X-Cache)"
check_hdr "Redis down: Cache-Status 'normcache; fwd=bypass'" Cache-Status "normcache; fwd=bypass"
check_time "Redis down: answered without waiting on Redis (< 1 s)" 1.0

finish
