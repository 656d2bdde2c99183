#!/usr/bin/env bash
# test_fault_redis_data.sh - Redis answering strangely (private
# redis-servers, written to by redis-cli as "another client"):
#   - a key holding a hash or a list: GET is 404 MISS and one warning line;
#     a PUT over it stores;
#   - a value larger than MAX_BODY_BYTES: GET is 404 MISS and one warning
#     line, and reading it costs at most MAX_BODY_BYTES + 1 bytes
#     (GETRANGE): 20 concurrent GETs of a 16 MiB value leave the RSS within
#     4 MiB;
#   - a value that is not JSON is served byte for byte (as a value written
#     by the Python reference with SETEX is): 200, never a 5xx;
#   - a recommendations entry that is garbage (text, a hash): 200 MISS, the
#     upstream is called and the entry rewritten (then 200 HIT);
#   - Redis at maxmemory with noeviction: PUT is 200 stored:false with one
#     warning line, GET of an older key still hits, DELETE works,
#     recommendations still answer 200;
#   - FLUSHALL under load (1000 GET/s): every GET is 200 HIT before, 404
#     MISS after, never a 5xx or a transport error;
# and the service is alive at the end with its RSS within 8 MiB of the start.
set -u
NC_DB=0 # unused: private redis-servers
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"
. "$NC_ROOT/tests/tools/fault_lib.sh"

MAXB=65536
build_load_tool || finish
start_stub STUB_LATENCY_MS=0 || finish
redis_start || finish
R=$PRIV_REDIS_PORT
start_service "REDIS_URL=redis://127.0.0.1:$R/0" "UPSTREAM_URL=$STUB_URL" "MAX_BODY_BYTES=$MAXB" \
    LOG_REQUESTS=false || finish
B=http://127.0.0.1:$SVC_PORT
rss_start=$(rss_kb)
warns() { svc_log_lines '"level":"warn"'; }
# key_of Q: the key a PUT of Q answers with.
key_of() {
    put_q odd "$1" '{"placeholder":1}' 60
    jget key
}

# ------------------------------------------------------------ wrong types
for t in hash list; do
    k=$(key_of "a $t key")
    rcli_at "$R" DEL "$k" >/dev/null
    if [ $t = hash ]; then rcli_at "$R" HSET "$k" f v >/dev/null; else rcli_at "$R" RPUSH "$k" a b >/dev/null; fi
    w0=$(warns)
    get_q odd "a $t key"
    check_eq "a key holding a $t: GET is 404 MISS" "404 MISS" "$STATUS $(hdr X-Cache)"
    check_eq "a key holding a $t: one warning line" $((w0 + 1)) "$(warns)"
    check_eq "the warning names the hashed key, not the query" 1 "$(grep -c "value under $k is not a string" "$SVC_LOG")"
    put_q odd "a $t key" '{"over":1}' 60
    check_eq "a PUT over the $t stores" "200 true" "$STATUS $(jget stored)"
done

# ------------------------------------------------------------ oversized value
k=$(key_of "a huge value")
head -c $((16 * 1024 * 1024)) /dev/zero | tr '\0' a >"$NC_TMP/huge"
rcli_at "$R" -x SET "$k" <"$NC_TMP/huge" >/dev/null
w0=$(warns)
get_q odd "a huge value"
check_eq "a 16 MiB value (MAX_BODY_BYTES=$MAXB) set by another client: GET is 404 MISS" "404 MISS" "$STATUS $(hdr X-Cache)"
check_eq "a value over MAX_BODY_BYTES: one warning line" $((w0 + 1)) "$(warns)"
rss0=$(rss_kb)
"$NC_LOAD" -n 20 -c 20 -o "$NC_TMP/huge.samples" "$B/cache/odd?q=a+huge+value" >"$NC_TMP/load.sum" 2>&1
check_eq "20 concurrent GETs of it: all 404" "404=20 " "$(status_tally "$NC_TMP/huge.samples")"
rss1=$(rss_kb)
if [ -n "${NC_SANITIZE:-}" ]; then
    diag "RSS bound not checked in a sanitizer build (RSS $rss0 -> $rss1 KiB)"
elif [ $((rss1 - rss0)) -le 4096 ]; then
    ok "reading it is bounded: RSS grew $((rss1 - rss0)) KiB for 20 concurrent GETs of 16 MiB (at most 4 MiB)"
else
    notok "reading it is bounded (RSS within 4 MiB)"
    diag "RSS $rss0 -> $rss1 KiB"
fi
k=$(key_of "just fits")
head -c $((MAXB - 2)) /dev/zero | tr '\0' b | sed 's/^/"/;s/$/"/' | tr -d '\n' >"$NC_TMP/fits"
rcli_at "$R" -x SET "$k" <"$NC_TMP/fits" >/dev/null
get_q odd "just fits"
check_eq "a value of exactly MAX_BODY_BYTES is still a hit" "200 HIT $MAXB" "$STATUS $(hdr X-Cache) $(wc -c <"$NC_TMP/body")"

# ------------------------------------------------------------ not JSON
k=$(key_of "not json")
rcli_at "$R" SET "$k" 'not json {' >/dev/null
NC_FOREIGN_VALUE=1 get_q odd "not json"
check_eq "a value that is not JSON is served as stored (200 HIT, byte for byte)" "200 HIT not json {" \
    "$STATUS $(hdr X-Cache) $BODY"

# ------------------------------------------------------------ recommendations
rec_q "garbage entry" 3
check_eq "recommendations: a first call stores the entry" "200 MISS" "$STATUS $(hdr X-Cache)"
good=$(cat "$NC_TMP/body")
rk=$(rec_key "garbage entry" 3)
for how in text hash; do
    rcli_at "$R" DEL "$rk" >/dev/null
    if [ $how = text ]; then rcli_at "$R" SET "$rk" 'garbage!' >/dev/null; else rcli_at "$R" HSET "$rk" a 1 >/dev/null; fi
    c0=$(stub_calls)
    rec_q "garbage entry" 3
    check_eq "a recommendations entry that is garbage ($how): 200 MISS from the upstream" \
        "200 MISS $((c0 + 1)) yes" "$STATUS $(hdr X-Cache) $(stub_calls) $([ "$(cat "$NC_TMP/body")" = "$good" ] && echo yes)"
    rec_q "garbage entry" 3
    check_eq "and the entry is rewritten: 200 HIT" "200 HIT" "$STATUS $(hdr X-Cache)"
done

# ------------------------------------------------------------ maxmemory noeviction
redis_start "" --maxmemory 4mb --maxmemory-policy noeviction || finish
M=$PRIV_REDIS_PORT
start_service "REDIS_URL=redis://127.0.0.1:$M/0" "UPSTREAM_URL=$STUB_URL" LOG_REQUESTS=false || finish
put_q full "stored before" '{"old":1}' 600
check_eq "before Redis is full a PUT stores" true "$(jget stored)"
"$NC_PY" -c '
import sys
v = "x" * 10000
for i in range(1000):
    sys.stdout.write("*3\r\n$3\r\nSET\r\n$%d\r\nfill:%d\r\n$%d\r\n%s\r\n" % (len("fill:%d" % i), i, len(v), v))
' | redis-cli -h 127.0.0.1 -p "$M" --pipe >"$NC_TMP/fill.out" 2>&1
check_match "Redis is now full (the filler was refused)" 'errors: [1-9]' "$(tail -n 1 "$NC_TMP/fill.out")"
# Below what it holds now: every write is refused from here on.
rcli_at "$M" CONFIG SET maxmemory 2mb >/dev/null
w0=$(warns)
put_q full "stored after" '{"new":1}' 600
check_eq "at maxmemory (noeviction): PUT is 200 stored:false" "200 false" "$STATUS $(jget stored)"
check_eq "at maxmemory: one warning line for the refused SET" $((w0 + 1)) "$(warns)"
check_eq "the warning is Redis's OOM answer" 1 "$(grep -c 'redis refused a SET: OOM' "$SVC_LOG")"
get_q full "stored before"
check_eq "at maxmemory: an older key is still a 200 HIT" "200 HIT" "$STATUS $(hdr X-Cache)"
rec_q "full redis" 3
check_eq "at maxmemory: recommendations still answer 200 from the upstream" 200 "$STATUS"
del_q full "stored before"
check_eq "at maxmemory: DELETE works" "200 1" "$STATUS $(jget deleted)"

# ------------------------------------------------------------ FLUSHALL under load
rcli_at "$M" CONFIG SET maxmemory 0 >/dev/null
put_q flush "hot" '{"hot":1}' 600
check_eq "with room again a PUT stores" true "$(jget stored)"
"$NC_LOAD" -n 3000 -c 8 -k -p 1 -o "$NC_TMP/flush.samples" "http://127.0.0.1:$SVC_PORT/cache/flush?q=hot" \
    >"$NC_TMP/load.sum" 2>&1 &
lpid=$!
NC_PIDS+=("$lpid")
sleep 1
T_FLUSH=$(now_ms)
rcli_at "$M" FLUSHALL >/dev/null
T_FLUSHED=$(now_ms)
wait "$lpid"
nc_forget_pid "$lpid"
read -r before after other < <(awk -v a="$T_FLUSH" -v b="$T_FLUSHED" '
    { s = int($4 / 1000); e = int($5 / 1000) }
    e < a { if ($3 == 200 && $8 == "HIT") hb++; else ob++; next }
    s > b { if ($3 == 404 && $8 == "MISS") ma++; else oa++; next }
    $3 != 200 && $3 != 404 { ob++ }
    END { printf "%d %d %d\n", hb, ma, ob + oa }' "$NC_TMP/flush.samples")
check_eq "FLUSHALL under load: $before hits before, $after misses after, nothing else" "0 yes yes" \
    "$other $([ "$before" -gt 500 ] && echo yes) $([ "$after" -gt 500 ] && echo yes)"
check_eq "FLUSHALL under load: no 5xx, no transport error" "" "$(awk '$3 == 0 || $3 >= 500' "$NC_TMP/flush.samples" | head -n 1)"

rss_end=$(rss_kb)
check "the service is alive" service_alive
diag "RSS (second service) $rss_end KiB, first service start $rss_start KiB"
if [ -n "${NC_SANITIZE:-}" ]; then
    diag "RSS bound not checked in a sanitizer build (quarantine, shadow memory; LeakSanitizer checks leaks)"
elif [ "$rss_end" -le $((rss_start + 8192)) ]; then ok "RSS at the end within 8 MiB of the start ($rss_start -> $rss_end KiB)"; else
    notok "RSS at the end within 8 MiB of the start"
    diag "$rss_start -> $rss_end KiB"
fi
finish
