#!/usr/bin/env bash
# test_near_coherence.sh - the near cache (NEAR_CACHE=true) kept coherent by
# Redis client-side caching, with two instances A and B on one private
# redis-server (FLUSHALL, CLIENT KILL and restarts must not touch the
# shared test redis):
#   - a near hit answers like the Redis hit before it (body, ETag,
#     Cache-Control) with Cache-Status detail=near; If-None-Match: 304;
#   - a PUT through B is seen through A within 10 ms (maximum over 1000
#     writes, each made while A held the old value near: printed);
#   - SET, DEL, PEXPIRE and FLUSHALL from outside (a plain Redis client)
#     likewise;
#   - writes through A itself (PUT, DELETE, flush, tag delete, _mset) are
#     seen by A's very next GET;
#   - CLIENT KILL of the invalidation connection (named normcache-inv)
#     empties A's near cache, and near hits come back;
#   - Redis SIGSTOPped (the invalidation connection is not lost): near hits
#     still served, a flush refused 503;
#   - a Redis restart empties the near cache, and near hits come back;
#   - recommendations: a near hit keeps the fresh/stale answer;
#   - metrics.
set -u
NC_DB=0 # unused: a private redis-server
. "$(dirname "$0")/lib.sh"

metric() {
    curl -s --max-time 5 "http://127.0.0.1:${2:-$SVC_PORT}/metrics" |
        awk -v k="$1" '$1 == k {print $2; f=1; exit} END {if (!f) print "absent"}'
}
lt() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a != "" && a+0 < b+0)}'; }
# fig NAME FILE: a key=value figure of near_probe.py's output.
fig() { sed -n "s/^$1=//p" "$2"; }
# until_ok SECONDS COMMAND...: retries COMMAND every 20 ms until it succeeds.
until_ok() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        [ $SECONDS -ge $end ] && return 1
        sleep 0.02
    done
}
near_status() { get_q "$1" "$2" >/dev/null; hdr Cache-Status; }
is_near() { [ "$(near_status "$1" "$2")" = "normcache; hit; detail=near" ]; }
entries_zero() { [ "$(metric normcache_near_entries)" = 0 ]; }
inv_ids() { rcli_at "$RPORT" CLIENT LIST | awk '/ name=normcache-inv /{sub("id=","",$1); print $1}'; }

redis_start || finish
RPORT=$PRIV_REDIS_PORT
REDIS_PID=$PRIV_REDIS_PID
BOUND=$((10 * NC_TIME_SCALE)) # ms: the promise (scaled under a sanitizer)
NEAR=("REDIS_URL=redis://127.0.0.1:$RPORT/0" NEAR_CACHE=true LOG_REQUESTS=false
    "REDIS_TIMEOUT_MS=$((100 * NC_TIME_SCALE))"
    "UPSTREAM_URL=http://127.0.0.1:9")

# B first, kept aside; A is "the service" of lib.sh.
start_service "${NEAR[@]}" || finish
B_PORT=$SVC_PORT
B_PID=$SVC_PID
SVC_PID=""
start_service "${NEAR[@]}" || finish
A_PORT=$SVC_PORT
check "both instances hold an invalidation connection named normcache-inv" \
    until_ok 5 eval '[ "$(inv_ids | wc -l)" = 2 ]'

# --- headers: a near hit answers like the Redis hit -----------------------
put_q faq "near headers" '{"answer":"near","n":[1,2,3]}' 600
get_q faq "near headers"
check_status "first GET: 200" 200
check_eq "first GET comes from Redis (no Cache-Status)" "" "$(hdr Cache-Status)"
cp "$NC_TMP/body" "$NC_TMP/body.redis"
ETAG=$(hdr ETag)
CC=$(hdr Cache-Control)
get_q faq "near headers"
check_hdr "second GET is a near hit" Cache-Status "normcache; hit; detail=near"
check_hdr "near hit: X-Cache HIT" X-Cache HIT
check_eq "near hit: the same ETag as the Redis hit" "$ETAG" "$(hdr ETag)"
check "near hit: the same body bytes" cmp -s "$NC_TMP/body" "$NC_TMP/body.redis"
check_match "near hit: Cache-Control max-age from the remaining TTL" \
    '^max-age=(599|600)$' "$(hdr Cache-Control)"
diag "Redis hit: $CC; near hit: $(hdr Cache-Control)"
req GET "/cache/faq?q=near+headers" -H "If-None-Match: $ETAG"
check_status "near hit with If-None-Match: 304" 304
check_hdr "304 from the near cache" Cache-Status "normcache; hit; detail=near"

# --- writes through A: seen by its very next GET --------------------------
put_q faq "near headers" '{"answer":"rewritten"}' 600
get_q faq "near headers"
check_body "own PUT: the next GET has the new value" '{"answer":"rewritten"}'
get_q faq "near headers" >/dev/null
del_q faq "near headers"
get_q faq "near headers"
check_status "own DELETE: the next GET is a miss" 404
for t in flush tag; do
    req PUT /cache/faq -H "$JSON_CT" --data-binary '{"q":"tagged near","value":1,"tags":["tg"]}'
    get_q faq "tagged near" >/dev/null
    check "$t: the entry is near before" is_near faq "tagged near"
    if [ $t = flush ]; then del_ns faq; else req DELETE "/cache/faq?tag=tg"; fi
    check_status "$t: 200" 200
    get_q faq "tagged near"
    check_status "own $t: the next GET is a miss" 404
done
put_q faq "mset near" '"old"' 600
get_q faq "mset near" >/dev/null
check "_mset: the entry is near before" is_near faq "mset near"
req POST /cache/faq/_mset -H "$JSON_CT" --data-binary '{"items":[{"q":"mset near","value":"new"}]}'
get_q faq "mset near"
check_body "own _mset: the next GET has the new value" '"new"'

# --- _mget: near hits, fills, invalidations ---------------------------------
put_q faq "mget a" '"A"' 600
put_q faq "mget b" '"B"' 600
MGET='{"items":[{"q":"mget a"},{"q":"mget b"},{"q":"mget none"}]}'
req POST /cache/faq/_mget -H "$JSON_CT" --data-binary "$MGET"
cp "$NC_TMP/body" "$NC_TMP/mget.redis"
H0=$(metric normcache_near_hits_total)
req POST /cache/faq/_mget -H "$JSON_CT" --data-binary "$MGET"
check "_mget: the second call answers the same" cmp -s "$NC_TMP/body" "$NC_TMP/mget.redis"
check_eq "_mget: its two hits came from the near cache (filled by the first call)" \
    $((H0 + 2)) "$(metric normcache_near_hits_total)"
req POST /cache/faq/_mget -H "$JSON_CT" --data-binary '{"items":[{"q":"mget a"}]}'
check_match "_mget: ttl from the remaining Redis TTL" '"ttl":(599|600)' "$BODY"
get_q faq "mget a" >/dev/null
rcli_at "$RPORT" SET "$(hdr X-Cache-Key)" '"A2"' EX 600 >/dev/null
mget_new() { req POST /cache/faq/_mget -H "$JSON_CT" --data-binary '{"items":[{"q":"mget a"}]}'; [[ $BODY == *'"A2"'* ]]; }
check "_mget: an outside write is seen" until_ok 1 mget_new

# --- B's writes seen through A --------------------------------------------
"$NC_PY" "$NC_ROOT/tests/tools/near_probe.py" puts "$A_PORT" "$B_PORT" 1000 "$BOUND" >"$NC_TMP/puts" 2>&1
check_eq "1000 PUTs through B measured (no error)" "0 1000" "$(fig errors "$NC_TMP/puts") $(fig rounds "$NC_TMP/puts")"
check_eq "A held the old value near before every write" 1000 "$(fig near_before "$NC_TMP/puts")"
MAX=$(fig max_ms "$NC_TMP/puts")
OVER=$(fig over_bound "$NC_TMP/puts")
# 10 ms is the promise; on a shared 2-core machine a scheduling stall can
# hold one round longer, so a few (<= 0.5 %) may pass it, none 50 ms.
check "a PUT through B is seen through A within $BOUND ms (max over 1000: ${MAX} ms; slower: $OVER)" \
    eval 'lt "$OVER" 6 && lt "$MAX" "$((50 * NC_TIME_SCALE))"'
diag "B PUT -> A: max $MAX ms, p50 $(fig p50_ms "$NC_TMP/puts") ms, p99 $(fig p99_ms "$NC_TMP/puts") ms; old value answered after B's ack in $(fig stale_reads "$NC_TMP/puts") reads"

# --- writes from outside --------------------------------------------------
"$NC_PY" "$NC_ROOT/tests/tools/near_probe.py" outside "$A_PORT" "$RPORT" 200 "$BOUND" >"$NC_TMP/outside" 2>&1
check_eq "200 outside writes measured (no error)" "0 200" "$(fig errors "$NC_TMP/outside") $(fig rounds "$NC_TMP/outside")"
check_eq "A held the old value near before every outside write" 200 "$(fig near_before "$NC_TMP/outside")"
if [ "$NC_TIME_SCALE" = 1 ]; then
    check "outside writes: at most 2 of 200 seen later than $BOUND ms" lt "$(fig over_bound "$NC_TMP/outside")" 3
else # under a sanitizer only the 50 ms bound (scaled) below is judged
    ok "outside writes: $(fig over_bound "$NC_TMP/outside") of 200 later than $BOUND ms (not judged under a sanitizer)"
fi
for k in set del pexpire flushall; do
    v=$(fig "max_ms_$k" "$NC_TMP/outside")
    check "redis-cli ${k^^} from outside is seen through A (max over 50: $v ms, none past 50 ms)" \
        lt "$v" "$((50 * NC_TIME_SCALE))"
done

# --- CLIENT KILL of the invalidation connection ----------------------------
put_q faq "kill near" '"k"' 600
get_q faq "kill near" >/dev/null
check "before CLIENT KILL: a near hit" is_near faq "kill near"
check_ne "before CLIENT KILL: entries held" 0 "$(metric normcache_near_entries)"
for id in $(inv_ids); do rcli_at "$RPORT" CLIENT KILL ID "$id" >/dev/null; done
check "CLIENT KILL empties the near cache" until_ok 2 entries_zero
check "after CLIENT KILL near hits come back" until_ok 5 is_near faq "kill near"
check_hdr "and the value is still right" X-Cache HIT

# --- Redis SIGSTOPped: near hits still served, flush refused ---------------
put_q faq "stop near" '"s"' 600
get_q faq "stop near" >/dev/null
check "before SIGSTOP: a near hit" is_near faq "stop near"
kill -STOP "$REDIS_PID"
get_q faq "stop near"
check_hdr "Redis stopped: near hit served" Cache-Status "normcache; hit; detail=near"
check_body "Redis stopped: the near value" '"s"'
check_time "Redis stopped: the near hit is prompt" 0.05
req POST /cache/faq/_mget -H "$JSON_CT" --data-binary '{"items":[{"q":"stop near"},{"q":"stop none"}]}'
check_eq "Redis stopped: _mget serves the near hit, the rest a miss" "True s False" \
    "$("$NC_PY" -c 'import json,sys; r=json.load(open(sys.argv[1]))["results"]; print(r[0]["hit"], r[0].get("value"), r[1]["hit"])' "$NC_TMP/body")"
del_ns faq
check_status "Redis stopped: a flush is refused 503" 503
kill -CONT "$REDIS_PID"

# --- recommendations ------------------------------------------------------
NOW=$(date +%s%3N)
RECS_KEY="fca:recommendations:r:$(sha16 "$(printf 'red shoes\nlimit=3')")"
rcli_at "$RPORT" SET "$RECS_KEY" "$(printf 'NC1 %s %s 5 200\n[{"sku":"A1"}]' "$NOW" $((NOW + 300000)))" EX 600 >/dev/null
req GET "/products/recommendations?query=red+shoes&limit=3"
check_match "recommendations: first read from Redis, fresh" '^normcache; hit; ttl=[0-9]+$' "$(hdr Cache-Status)"
req GET "/products/recommendations?query=red+shoes&limit=3"
check_match "recommendations: then a near hit, still fresh" '^normcache; hit; ttl=[0-9]+; detail=near$' "$(hdr Cache-Status)"
check_body "recommendations: the near hit has the body" '[{"sku":"A1"}]'
rcli_at "$RPORT" SET "$RECS_KEY" "$(printf 'NC1 %s %s 5 200\n[{"sku":"B2"}]' "$NOW" $((NOW + 300000)))" EX 600 >/dev/null
check "recommendations: an outside write is seen" \
    until_ok 1 eval 'req GET "/products/recommendations?query=red+shoes&limit=3"; [ "$BODY" = "[{\"sku\":\"B2\"}]" ]'

# --- a Redis restart empties the near cache --------------------------------
put_q faq "restart near" '"r"' 600
get_q faq "restart near" >/dev/null
check "before the restart: a near hit" is_near faq "restart near"
redis_kill "$REDIS_PID"
check "Redis killed: the near cache is emptied" until_ok 2 entries_zero
get_q faq "restart near"
check_eq "Redis killed: no near hit (BYPASS)" BYPASS "$(hdr X-Cache)"
redis_start "$RPORT" || finish
REDIS_PID=$PRIV_REDIS_PID
stored() { put_q faq "restart near" '"r2"' 600; [ "$(jget stored)" = true ]; }
check "after the restart a PUT is stored again" until_ok 5 stored
check "after the restart near hits come back" until_ok 5 is_near faq "restart near"
check_body "with the value written after the restart" '"r2"'

# --- metrics --------------------------------------------------------------
for m in normcache_near_hits_total normcache_near_misses_total normcache_near_evictions_total \
    normcache_near_invalidations_total normcache_near_bytes normcache_near_entries; do
    check_match "metric $m" '^[0-9]+$' "$(metric $m)"
done
check "near hits were counted" lt 0 "$(metric normcache_near_hits_total)"
check "invalidations were counted" lt 0 "$(metric normcache_near_invalidations_total)"

kill -TERM "$B_PID" 2>/dev/null
wait "$B_PID"
check_eq "instance B stops cleanly" 0 "$?"
nc_forget_pid "$B_PID"
finish
