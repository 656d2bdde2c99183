#!/usr/bin/env bash
# test_cluster_basic.sh - REDIS_MODE=cluster against a real 3-master Redis
# Cluster without replicas (tests/tools/cluster_lib.sh), every route once:
#   - /readyz lists the three masters up, the metrics count the map loads;
#   - PUT / GET / DELETE over many keys: cluster keys fca:<ns>:{<16 hex>},
#     entries on all three masters;
#   - tags: a tag delete removes exactly the entries still carrying the tag,
#     on whichever master each lives, and its index;
#   - a lease (acquire, held, written with its token) - value and lease share
#     a slot, so the scripts run;
#   - _mset / _mget across slots;
#   - recommendations: miss, then hit, one upstream call;
#   - ASK and MOVED: a slot migrated by hand while the service reads it:
#     reads still hit, both redirects counted;
#   - a flush removes the namespace from every master and nothing else.
set -u
NC_DB=0 # its own cluster: the shared test redis is not used
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/cluster_lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"

cluster_start_or_finish 3 0
start_stub || finish
# The first seed is dead: the map loads from the next, and the subscriber
# (lease and recommendation wake-ups) moves on to a live one.
DEAD=$(free_port)
start_service REDIS_MODE=cluster "REDIS_URL=redis://127.0.0.1:$DEAD,$CL_SEEDS" "UPSTREAM_URL=$STUB_URL" \
    REDIS_TIMEOUT_MS=$((500 * NC_TIME_SCALE)) || finish
mapfile -t M < <(cl_masters)
check_eq "the cluster has three masters" 3 "${#M[@]}"
subs=0
for _ in $(seq 60); do
    subs=0
    for m in "${M[@]}"; do
        subs=$((subs + $(cl_cli "$m" client list | grep -c 'cmd=psubscribe')))
    done
    [ "$subs" -ge 1 ] && break
    sleep 0.05
done
check_eq "the subscriber skipped the dead seed: one PSUBSCRIBE connection on the cluster" 1 "$subs"

# metric NAME: its value in /metrics (0 when absent).
metric() {
    local v
    v=$(curl -s --max-time 5 "http://127.0.0.1:$SVC_PORT/metrics" | awk -v n="$1" '$1 == n { print $2 }')
    echo "${v:-0}"
}

# ------------------------------------------------------------------ readiness
ready=""
for _ in $(seq 40); do
    req GET /readyz
    [ "$(jget redis)" = up ] && break
    sleep 0.05
done
check_eq "/readyz: 200, redis up" "200 up" "$STATUS $(jget redis)"
nodes=$(jget nodes)
for m in "${M[@]}"; do
    check_match "/readyz names master 127.0.0.1:$m up" "\"127\\.0\\.0\\.1:$m\":\"up\"" "$nodes"
done
for m in "${M[@]}"; do
    check_eq "metrics: normcache_redis_node_up for master $m is 1" 1 \
        "$(metric "normcache_redis_node_up{node=\"127.0.0.1:$m\"}")"
done
check "slot map loaded (normcache_redis_slot_map_refreshes_total >= 1)" \
    test "$(metric normcache_redis_slot_map_refreshes_total)" -ge 1

# ------------------------------------------------------------ PUT/GET/DELETE
N=60
stored=0
for i in $(seq 1 $N); do
    put_q basic "question $i" "{\"n\":$i}" 600
    [ "$STATUS" = 200 ] && [ "$(jget stored)" = true ] && stored=$((stored + 1))
done
check_eq "$N PUTs stored" "$N" "$stored"
check_match "cluster key format fca:basic:{<16 hex>}" '^fca:basic:\{[0-9a-f]{16}\}$' "$(jget key)"
counts=$(cl_counts 'fca:basic:*')
echo "# measured: $N entries per master: $counts"
on=0
for c in $counts; do [ "${c#*=}" -gt 0 ] && on=$((on + 1)); done
check_eq "the entries land on all three masters ($counts)" 3 "$on"
check_eq "the masters hold exactly the $N entries" "$N" "$(cl_total 'fca:basic:*')"
hits=0
for i in $(seq 1 $N); do
    get_q basic "question $i"
    [ "$STATUS" = 200 ] && [ "$(cat "$NC_TMP/body")" = "{\"n\":$i}" ] && hits=$((hits + 1))
done
check_eq "$N GETs: hits with their own values" "$N" "$hits"
check_hdr "GET: X-Cache HIT" X-Cache HIT
del_q basic "question 1"
check_eq "DELETE of one entry: {deleted:1}" "200 1" "$STATUS $(jget deleted)"
get_q basic "question 1"
check_hdr "... then a MISS" X-Cache MISS

# ----------------------------------------------------------------------- tags
for i in 1 2 3 4 5 6; do
    put_json tagged "{\"q\":\"tagged $i\",\"value\":$i,\"tags\":[\"product:7\"]}"
done
put_json tagged '{"q":"tagged other","value":0,"tags":["product:8"]}'
# written again without the tag: no longer carries it
put_json tagged '{"q":"tagged 6","value":66}'
tagged_on=0
for c in $(cl_counts 'fca:tagged:{*'); do [ "${c#*=}" -gt 0 ] && tagged_on=$((tagged_on + 1)); done
check "the tagged entries span more than one master" test "$tagged_on" -ge 2
check_eq "two tag indexes" 2 "$(cl_total 'fca:tagged:t:*')"
req DELETE /cache/tagged -G --data-urlencode "tag=product:7"
check_eq "DELETE ?tag=product:7: the five entries still carrying it" "200 5" "$STATUS $(jget deleted)"
miss=0
for i in 1 2 3 4 5; do
    get_q tagged "tagged $i"
    [ "$STATUS" = 404 ] && miss=$((miss + 1))
done
check_eq "... they are gone" 5 "$miss"
get_q tagged "tagged 6"
check_eq "... the one written again without the tag stays" "200 66" "$STATUS $(cat "$NC_TMP/body")"
get_q tagged "tagged other"
check_status "... an entry of another tag stays" 200
check_eq "... and the tag's index is gone (product:8's stays)" 1 "$(cl_total 'fca:tagged:t:*')"
req DELETE /cache/tagged -G --data-urlencode "tag=product:8"
check_eq "DELETE ?tag=product:8: 1" "200 1" "$STATUS $(jget deleted)"

# ---------------------------------------------------------------------- lease
req GET /cache/leased -G --data-urlencode "q=slow answer" -H 'Cache-Lease: acquire'
check_eq "a miss with Cache-Lease: acquire: 404 with a lease" "404 yes" \
    "$STATUS $([ -n "$(hdr Cache-Lease)" ] && echo yes)"
TOKEN=$(hdr Cache-Lease)
check_eq "... the lease key shares the value's slot: fca:leased:{<hex>}:lease exists" 1 \
    "$(cl_total 'fca:leased:{*}:lease')"
req PUT /cache/leased -H "$JSON_CT" -H "Cache-Lease: $TOKEN" \
    --data-binary '{"q":"slow answer","value":{"a":1}}'
check_eq "PUT with the lease token: stored" "200 true" "$STATUS $(jget stored)"
get_q leased "slow answer"
check_eq "... then a hit" '200 {"a":1}' "$STATUS $(cat "$NC_TMP/body")"
check_eq "... and the lease is gone" 0 "$(cl_total 'fca:leased:{*}:lease')"

# ---------------------------------------------------------------------- batch
items=""
for i in $(seq 1 30); do items+="${items:+,}{\"q\":\"batch $i\",\"value\":$i}"; done
req POST /cache/batch/_mset -H "$JSON_CT" --data-binary "{\"items\":[$items]}"
check_eq "_mset of 30 items across slots: all stored" "200 30" \
    "$STATUS $(grep -o '"stored":true' "$NC_TMP/body" | wc -l)"
items=""
for i in $(seq 1 30); do items+="${items:+,}{\"q\":\"batch $i\"}"; done
items+=',{"q":"batch none"}'
req POST /cache/batch/_mget -H "$JSON_CT" --data-binary "{\"items\":[$items]}"
check_eq "_mget of 31 items: 30 hits with their own values, 1 miss" "200 30 1" "$STATUS $(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))["results"]
print(sum(1 for i, x in enumerate(r[:30]) if x.get("hit") is True and x.get("value") == i + 1),
      sum(1 for x in r[30:] if x.get("hit") is False))' "$NC_TMP/body")"

# -------------------------------------------------------------- recommendations
c0=$(stub_calls)
rec_q "Cluster Shoes"
check_eq "recommendations: first request a MISS (200)" "200 MISS" "$STATUS $(hdr X-Cache)"
rkey=$(hdr X-Cache-Key)
check_match "... its key is a cluster key" '^fca:recommendations:r:\{[0-9a-f]{16}\}$' "$rkey"
rec_q "Cluster Shoes"
check_eq "... then a HIT" "200 HIT" "$STATUS $(hdr X-Cache)"
check_eq "... one upstream call" $((c0 + 1)) "$(stub_calls)"

# ---------------------------------------------------------------- ASK, MOVED
put_q moving "moving entry" '{"m":1}' 600
mkey=$(jget key)
slot=$(cl_slot "$mkey")
from=$(cl_slot_owner "$slot")
to=""
for m in "${M[@]}"; do [ "$m" != "$from" ] && to=$m && break; done
ask0=$(metric 'normcache_redis_redirects_total{kind="ask"}')
moved0=$(metric 'normcache_redis_redirects_total{kind="moved"}')
if cl_migrate_begin "$slot" "$from" "$to" && cl_migrate_keys "$slot" "$from" "$to"; then
    ok "slot $slot of $mkey migrating from $from to $to, its key moved"
else
    notok "slot $slot of $mkey migrating from $from to $to, its key moved"
fi
hits=0
for _ in 1 2 3 4; do
    get_q moving "moving entry"
    [ "$STATUS" = 200 ] && hits=$((hits + 1))
done
check_eq "during the migration: reads hit (ASK followed)" 4 "$hits"
check "normcache_redis_redirects_total{kind=ask} grew" \
    test "$(metric 'normcache_redis_redirects_total{kind="ask"}')" -gt "$ask0"
cl_migrate_end "$slot" "$from" "$to" || notok "the slot migration ends"
hits=0
for _ in 1 2 3 4; do
    get_q moving "moving entry"
    [ "$STATUS" = 200 ] && hits=$((hits + 1))
done
check_eq "after the migration: reads hit (MOVED followed)" 4 "$hits"
check "normcache_redis_redirects_total{kind=moved} grew" \
    test "$(metric 'normcache_redis_redirects_total{kind="moved"}')" -gt "$moved0"
put_q moving "moving entry" '{"m":2}' 600
get_q moving "moving entry"
check_eq "a write after the migration lands where the slot now lives" '200 {"m":2}' \
    "$STATUS $(cat "$NC_TMP/body")"
check_eq "... on the new owner" 1 "$(cl_count "$to" "$mkey")"

# ---------------------------------------------------------------------- flush
cl_ccli set "foreign:basic:x" 1 >/dev/null
before_other=$(cl_total 'fca:batch:*')
del_ns basic
check_eq "DELETE /cache/basic: the $((N - 1)) entries left" "200 $((N - 1))" "$STATUS $(jget deleted)"
check_eq "... none left on any master" 0 "$(cl_total 'fca:basic:*')"
check_eq "... another namespace untouched" "$before_other" "$(cl_total 'fca:batch:*')"
check_eq "... a foreign key untouched" 1 "$(cl_total 'foreign:basic:x')"

req GET /metrics
check_match "metrics: redirect counters by kind" 'normcache_redis_redirects_total\{kind="moved"\} [0-9]+' \
    "$(cat "$NC_TMP/body")"
stop_service
finish
