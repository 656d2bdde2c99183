#!/usr/bin/env bash
# test_cluster_instances.sh - two service instances sharing a real 3-master
# Redis Cluster (tests/tools/cluster_lib.sh):
#   - each sees the other's writes (500 entries written on one read back as
#     hits on the other, both ways), a DELETE on one is a miss on the other, a flush on one empties
#     the namespace for both;
#   - the recommendations stampede across them: 1000 concurrent cold
#     requests split over both instances -> exactly 1 upstream call, 1000 x
#     200, one body (the lock and the wake-up work whichever node holds the
#     key and whichever node each instance subscribed on);
#   - a Cache-Lease acquired on one instance makes a waiter on the other
#     answer with the holder's value.
set -u
NC_DB=0 # its own cluster: the shared test redis is not used
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"
. "$NC_ROOT/tests/tools/cluster_lib.sh"

cluster_start_or_finish 3 0
build_load_tool || finish
start_stub STUB_LATENCY_MS=200 || finish
# REDIS_TIMEOUT_MS: 1000 requests at once on a loaded 2-core box (as in
# test_recs_stampede.sh); this script is about sharing, not that timeout.
ENVS=(REDIS_MODE=cluster "REDIS_URL=$CL_URL" "UPSTREAM_URL=$STUB_URL" LOG_REQUESTS=false
    REDIS_TIMEOUT_MS=1000 LOCK_WAIT_MS=2500)
start_service "${ENVS[@]}" || finish
start_second_service "${ENVS[@]}" || finish
A=$SVC_PORT
B=$SVC2_PORT
on() { # on PORT CMD...: run a lib.sh request helper against that instance
    local keep=$SVC_PORT
    SVC_PORT=$1
    shift
    "$@"
    SVC_PORT=$keep
}

# ---------------------------------------------------------------------------
# Each sees the other's writes
# ---------------------------------------------------------------------------
cl_load fill "http://127.0.0.1:$A" shared 500 --tag a
check_eq "500 entries written on A" 500 "$(clv stored)"
cl_load fill "http://127.0.0.1:$B" shared 500 --tag b
check_eq "500 entries written on B" 500 "$(clv stored)"
cl_load check "http://127.0.0.1:$B" shared 500 --tag a
check_eq "A's 500 entries: hits on B with A's values" "500 0" "$(clv hit) $(clv wrong)"
cl_load check "http://127.0.0.1:$A" shared 500 --tag b
check_eq "B's 500 entries: hits on A with B's values" "500 0" "$(clv hit) $(clv wrong)"
on "$A" put_q shared "written by a" '{"by":"a"}'
on "$B" get_q shared "written by a"
check_eq "PUT on A, GET on B: 200 HIT with A's value" '200 HIT {"by":"a"}' "$STATUS $(hdr X-Cache) $BODY"
check "the 1001 entries are spread over the three masters ($(cl_counts 'fca:shared:*'))" \
    test "$(for m in $(cl_masters); do [ "$(cl_count "$m" 'fca:shared:*')" -gt 0 ] && echo "$m"; done | wc -l)" -eq 3
on "$A" del_q shared "entry 3 b"
check_eq "DELETE on A of B's entry: deleted 1" "200 1" "$STATUS $(jget deleted)"
on "$B" get_q shared "entry 3 b"
check_eq "... a miss on B" "404 MISS" "$STATUS $(hdr X-Cache)"
on "$B" del_ns shared
check_eq "flush on B: 1000 deleted" "200 1000" "$STATUS $(jget deleted)"
on "$A" get_q shared "entry 7 a"
check_eq "... a miss on A" "404 MISS" "$STATUS $(hdr X-Cache)"

# ---------------------------------------------------------------------------
# Lease across instances
# ---------------------------------------------------------------------------
on "$A" req GET /cache/lz -G --data-urlencode "q=leased question" -H 'Cache-Lease: acquire'
tok=$(hdr Cache-Lease)
check_eq "A: cold key with Cache-Lease: acquire -> 404 MISS with a lease" "404 MISS yes" \
    "$STATUS $(hdr X-Cache) $([ -n "$tok" ] && echo yes)"
curl -s -o "$NC_TMP/waiter.body" -D "$NC_TMP/waiter.hdr" --max-time 10 -G --data-urlencode "q=leased question" \
    -H 'Cache-Lease: acquire' "http://127.0.0.1:$B/cache/lz" &
wpid=$!
sleep 0.3
on "$A" req PUT /cache/lz -H "$JSON_CT" -H "Cache-Lease: $tok" --data-binary '{"q":"leased question","value":{"v":42}}'
check_eq "A: PUT with the lease token stored" "200 true" "$STATUS $(jget stored)"
wait "$wpid"
check_eq "B's waiter answers with A's value" '{"v":42}' "$(cat "$NC_TMP/waiter.body")"
check_match "... as a collapsed hit" 'detail=collapsed' "$(tr -d '\r' <"$NC_TMP/waiter.hdr" | grep -i '^cache-status:')"

# ---------------------------------------------------------------------------
# Recommendations stampede across both instances
# ---------------------------------------------------------------------------
N=1000
nofile=$(ulimit -n)
if [ "$nofile" != unlimited ] && [ "$nofile" -lt 1100 ]; then
    ulimit -n "$(ulimit -Hn)" 2>/dev/null
    nofile=$(ulimit -n)
    if [ "$nofile" != unlimited ] && [ "$nofile" -lt 1100 ]; then
        N=$((nofile - 124))
        echo "# ulimit -n is $nofile (hard limit): using $N concurrent requests instead of 1000"
    fi
fi
U=$REC_PATH?query=cluster+stampede
c0=$(stub_calls)
load -n "$N" -c "$N" -t 15000 -o "$NC_TMP/two.txt" "http://127.0.0.1:$A$U" "http://127.0.0.1:$B$U"
echo "# measured: $N concurrent cold over two instances: $(tr '\n' ' ' <"$NC_TMP/load.sum")"
check_eq "$N concurrent cold requests over two instances: exactly 1 upstream call" $((c0 + 1)) "$(stub_calls)"
check_eq "... $N x 200, one distinct body" "$N 1" "$(lv status_200) $(lv bodies)"
check_eq "... none BYPASS" "$N" "$(lv xcache_MISS)"
check_eq "... exactly one answer is the storing request's" 1 "$(grep -c 'fwd=miss; stored$' "$NC_TMP/two.txt")"
check_eq "... split over both instances" "$((N / 2)) $((N - N / 2))" \
    "$(awk '$2 == 0' "$NC_TMP/two.txt" | wc -l) $(awk '$2 == 1' "$NC_TMP/two.txt" | wc -l)"
on "$B" rec "query=cluster+stampede"
check_eq "afterwards a HIT on B" "200 HIT" "$STATUS $(hdr X-Cache)"
on "$A" rec "query=cluster+stampede"
check_eq "... and on A" "200 HIT" "$STATUS $(hdr X-Cache)"
check_eq "still 1 upstream call" $((c0 + 1)) "$(stub_calls)"
stop_second_service
finish
