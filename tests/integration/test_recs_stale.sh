#!/usr/bin/env bash
# test_recs_stale.sh - freshness of GET /products/recommendations:
#   - stale-while-revalidate: past its TTL an entry is answered at once with
#     X-Cache STALE (Cache-Status hit with a negative ttl) and refreshed in
#     the background exactly once for many requests, then HIT again;
#   - stale-if-error: a failing upstream keeps the stale copy served;
#   - TTL jitter: fresh TTLs within [TTL x (1 - JITTER), TTL] and spread, the
#     Redis TTL = fresh TTL + STALE_GRACE_SECONDS; PUT entries stay exact;
#   - early refresh (XFetch): a hot key is refreshed before it expires, so
#     its callers never see a MISS or STALE; EARLY_REFRESH_BETA=0 turns it
#     off (then they do).
set -u
NC_DB=11
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"

# Own KEY_PREFIX: Redis pub/sub ignores database numbers.
PFX=ncstale
REC_PREFIX=$PFX
GRACE=30
build_load_tool || finish
start_stub STUB_LATENCY_MS=50 || finish
start_service "UPSTREAM_URL=$STUB_URL" "KEY_PREFIX=$PFX" CACHE_NS_TTL=recommendations=1 \
    "STALE_GRACE_SECONDS=$GRACE" TTL_JITTER_PCT=0 EARLY_REFRESH_BETA=0 REDIS_TIMEOUT_MS=1000 || finish
surl() { echo "http://127.0.0.1:$SVC_PORT$REC_PATH"; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }
# sleep_until MS: sleeps until the wall clock reaches MS (epoch ms).
sleep_until() {
    local d=$(($1 - $(now_ms)))
    [ "$d" -gt 0 ] && sleep "$(awk -v d="$d" 'BEGIN{print d/1000}')"
    return 0
}
# entry_field KEY N: field N of the entry's header "NC1 stored fresh_until delta status".
entry_field() { rcli GETRANGE "$1" 0 100 | head -n 1 | awk -v n="$2" '{print $n}'; }

# ---------------------------------------------------------------------------
# stale-while-revalidate
# ---------------------------------------------------------------------------
k=$(rec_key "swr key" 10)
rec_q "swr key"
check_eq "swr: first request 200 MISS" "200 MISS" "$STATUS $(hdr X-Cache)"
body0=$(cat "$NC_TMP/body")
fresh_until=$(entry_field "$k" 3)
stored0=$(entry_field "$k" 2)
check_eq "swr: fresh for exactly the 1 s TTL (no jitter)" 1000 "$((fresh_until - stored0))"
pttl=$(rcli PTTL "$k")
check "swr: Redis keeps it TTL + STALE_GRACE_SECONDS (PTTL $pttl in [$((GRACE * 1000)), $((GRACE * 1000 + 1000))])" \
    in_range "$pttl" $((GRACE * 1000 - 500)) $((GRACE * 1000 + 1000))
rec_q "swr key"
check_eq "swr: within the TTL: HIT" HIT "$(hdr X-Cache)"

# Past the TTL, with an upstream that now takes 1.5 s.
stub_mode ok 1500
sleep_until $((fresh_until + 150))
c0=$(stub_calls)
load -n 50 -t 5000 -o "$NC_TMP/swr.txt" "$(surl)?query=swr+key"
echo "# measured: 50 concurrent on a stale key (upstream 1.5 s): $(tr '\n' ' ' <"$NC_TMP/load.sum")"
check_eq "swr: 50 concurrent on the stale key: 50 x 200 STALE, one body" "50 50 1" "$(lv status_200) $(lv xcache_STALE) $(lv bodies)"
check "swr: answered at once, not after the 1.5 s upstream (max $(lv max_ms) ms < 500 ms)" flt "$(lv max_ms)" "$(scaled 500)"
check_eq "swr: every Cache-Status is 'normcache; hit; ttl=-N' (a hit with a negative ttl)" 50 \
    "$(grep -cE ' normcache; hit; ttl=-[1-9][0-9]*$' "$NC_TMP/swr.txt")"
rec_q "swr key"
check_eq "swr: one more while the refresh runs: STALE" "200 STALE" "$STATUS $(hdr X-Cache)"
check_body "swr: the stale body is the cached one" "$body0"
check "swr: stale Age >= 1 (got '$(hdr Age)')" in_range "$(hdr Age)" 1 30
check_hdr "swr: stale Cache-Control still tells max-age and the grace" Cache-Control \
    "max-age=1, stale-while-revalidate=$GRACE, stale-if-error=$GRACE"
check_eq "swr: exactly one background refresh started for 51 stale requests" $((c0 + 1)) "$(stub_calls)"
# Wait for the refresh to land (the entry's stored time changes).
for i in $(seq 60); do
    [ "$(entry_field "$k" 2)" != "$stored0" ] && break
    sleep 0.05
done
stored1=$(entry_field "$k" 2)
check_ne "swr: the background refresh rewrote the entry" "$stored0" "$stored1"
rec_q "swr key"
check_eq "swr: after the refresh: HIT" "200 HIT" "$STATUS $(hdr X-Cache)"
check_match "swr: after the refresh: Cache-Status hit with ttl 0..1" '^normcache; hit; ttl=[01]$' "$(hdr Cache-Status)"
check_eq "swr: still exactly one refresh call" $((c0 + 1)) "$(stub_calls)"

# ---------------------------------------------------------------------------
# stale-if-error
# ---------------------------------------------------------------------------
stub_mode fail 50
sleep_until $(($(entry_field "$k" 3) + 150))
c0=$(stub_calls)
rec_q "swr key"
check_eq "stale-if-error: expired entry, failing upstream: 200 STALE" "200 STALE" "$STATUS $(hdr X-Cache)"
check_body "stale-if-error: the stale body" "$body0"
sleep 0.4
check_eq "stale-if-error: the background refresh was tried (and failed)" $((c0 + 1)) "$(stub_calls)"
rec_q "swr key"
check_eq "stale-if-error: after the failed refresh: still 200 STALE" "200 STALE" "$STATUS $(hdr X-Cache)"
check_body "stale-if-error: still the stale body" "$body0"
check_eq "stale-if-error: the entry is still in Redis" 1 "$(rcli EXISTS "$k")"
stub_mode hang
rec_q "swr key"
check_eq "stale-if-error: hanging upstream: still 200 STALE" "200 STALE" "$STATUS $(hdr X-Cache)"
check_time "stale-if-error: hanging upstream: answered at once" 0.5
stub_mode ok 50

# ---------------------------------------------------------------------------
# Early refresh (XFetch)
# ---------------------------------------------------------------------------
# TTL 2 s, no jitter, upstream 300 ms (the delta stored with the entry),
# beta 5: a key asked every 50 ms is refreshed well before it expires.
# hammer LABEL TEXT: asks TEXT every 50 ms for ~2.6 s after a MISS; sets
# EXP (the first entry's expiry, epoch ms), N_AFTER (requests sent after it),
# CALLS_BEFORE (stub calls, beyond the MISS, counted at EXP - 300 ms: a
# refresh must start by EXP - delta to land in time, and asking the stub
# takes a while on a loaded box).
hammer() {
    local text=$1 kk c0
    kk=$(rec_key "$text" 10)
    stub_mode ok 300
    c0=$(stub_calls)
    rec_q "$text"
    check_eq "$2: first request 200 MISS" "200 MISS" "$STATUS $(hdr X-Cache)"
    EXP=$(entry_field "$kk" 3)
    DELTA=$(entry_field "$kk" 4)
    (
        sleep_until $((EXP - 300))
        echo $(($(stub_calls) - c0 - 1)) >"$NC_TMP/calls_before"
    ) &
    local cp=$!
    load -k -n 52 -c 1 -p 50 -t 5000 -o "$NC_TMP/xf.txt" "$(surl)?query=$(penc "$text")"
    wait "$cp"
    CALLS_BEFORE=$(cat "$NC_TMP/calls_before")
    N_AFTER=$(awk -v e="$EXP" '$4 / 1000 > e + 100' "$NC_TMP/xf.txt" | wc -l)
    echo "# measured: $2: stored delta ${DELTA} ms; X-Cache over 52 requests at 50 ms intervals: $(grep '^xcache_' "$NC_TMP/load.sum" | tr '\n' ' '); upstream calls before the first expiry: $CALLS_BEFORE; in all: $(($(stub_calls) - c0))"
}
stop_service
start_service "UPSTREAM_URL=$STUB_URL" "KEY_PREFIX=$PFX" CACHE_NS_TTL=recommendations=2 \
    "STALE_GRACE_SECONDS=$GRACE" TTL_JITTER_PCT=0 EARLY_REFRESH_BETA=5 REDIS_TIMEOUT_MS=1000 || finish
hammer "xfetch hot key" "XFetch beta=5"
check "XFetch: the stored delta is the measured upstream time (~300 ms, got $DELTA)" in_range "$DELTA" 280 1500
check "XFetch: some requests ran past the first entry's expiry ($N_AFTER)" in_range "$N_AFTER" 5 52
check_eq "XFetch: every request of a hot key is a 200 HIT (no MISS, no STALE), also past the first expiry" "52 52" \
    "$(lv status_200) $(lv xcache_HIT)"
check "XFetch: the upstream was called again before the entry expired ($CALLS_BEFORE early refresh calls by expiry - 300 ms)" \
    in_range "$CALLS_BEFORE" 1 100
stop_service
start_service "UPSTREAM_URL=$STUB_URL" "KEY_PREFIX=$PFX" CACHE_NS_TTL=recommendations=2 \
    "STALE_GRACE_SECONDS=$GRACE" TTL_JITTER_PCT=0 EARLY_REFRESH_BETA=0 REDIS_TIMEOUT_MS=1000 || finish
hammer "xfetch off key" "EARLY_REFRESH_BETA=0"
check_eq "EARLY_REFRESH_BETA=0: no upstream call before the entry expires" 0 "$CALLS_BEFORE"
check "EARLY_REFRESH_BETA=0: so requests past the expiry see STALE ($(lv xcache_STALE))" in_range "$(lv xcache_STALE)" 1 52
stop_service

# ---------------------------------------------------------------------------
# TTL jitter
# ---------------------------------------------------------------------------
TTL=100
JIT=50
start_service "UPSTREAM_URL=$STUB_URL" "KEY_PREFIX=${PFX}j" "CACHE_NS_TTL=recommendations=$TTL" \
    "STALE_GRACE_SECONDS=$GRACE" "TTL_JITTER_PCT=$JIT" EARLY_REFRESH_BETA=0 REDIS_TIMEOUT_MS=1000 || finish
stub_mode ok 0
urls=()
for i in $(seq 40); do urls+=("$(surl)?query=jitter+key+$i"); done
load -n 40 -c 10 -t 5000 "${urls[@]}"
check_eq "jitter: 40 distinct keys stored (40 x 200 MISS)" "40 40" "$(lv status_200) $(lv xcache_MISS)"
# One EVAL reads every entry's header and PTTL at once.
rcli EVAL "local o = {} for _, k in ipairs(redis.call('KEYS', ARGV[1])) do
    local v = redis.call('GET', k)
    o[#o + 1] = string.match(v, '^[^\n]*') .. ' ' .. redis.call('PTTL', k) end return o" 0 "${PFX}j:recommendations:r:*" >"$NC_TMP/jit.txt"
read -r n_ent n_in n_pttl n_distinct fmin fmax < <(awk -v ttl=$((TTL * 1000)) -v j=$JIT -v g=$((GRACE * 1000)) '
    $1 == "NC1" { n++; f = $3 - $2; fresh[f] = 1
        if (f >= ttl * (100 - j) / 100 && f <= ttl) in_b++
        # PTTL = fresh + grace at write time, minus the time since
        if ($6 <= f + g && $6 >= f + g - 10000) p_ok++
        if (min == "" || f < min) min = f; if (f > max) max = f }
    END { d = 0; for (x in fresh) d++; print n + 0, in_b + 0, p_ok + 0, d, min + 0, max + 0 }' "$NC_TMP/jit.txt")
echo "# measured: jitter: $n_ent entries, fresh TTLs from ${fmin} to ${fmax} ms, $n_distinct distinct"
check_eq "jitter: 40 entries read back" 40 "$n_ent"
check_eq "jitter: every fresh TTL within [TTL x $((100 - JIT))%, TTL] = [$((TTL * (100 - JIT) * 10)), $((TTL * 1000))] ms" 40 "$n_in"
check_eq "jitter: every PTTL = fresh TTL + STALE_GRACE_SECONDS (less the seconds since)" 40 "$n_pttl"
check "jitter: fresh TTLs are not all equal ($n_distinct distinct of 40)" in_range "$n_distinct" 20 40
check "jitter: and spread over the range (max - min = $((fmax - fmin)) ms >= 10 s)" in_range $((fmax - fmin)) 10000 $((TTL * 1000))
rec "query=jitter+key+7"
check_eq "jitter: a jittered entry is a HIT" HIT "$(hdr X-Cache)"
cs=$(hdr Cache-Status)
mx=$(hdr Cache-Control)
mx=${mx%%,*}
check "jitter: Cache-Control max-age (${mx#max-age=}) is the entry's jittered fresh TTL, Cache-Status ttl (${cs##*ttl=}) <= it" \
    test "${mx#max-age=}" -ge $((TTL * (100 - JIT) / 100)) -a "${mx#max-age=}" -le $TTL -a "${cs##*ttl=}" -le "${mx#max-age=}"
put_q faq "jitter does not touch puts" '{"a":1}' 100
check_status "PUT /cache/faq ttl=100 with TTL_JITTER_PCT=$JIT: 200" 200
kp=$(jget key 2>/dev/null)
pt=$(rcli PTTL "$kp")
check "PUT entries keep their exact TTL (PTTL $pt in [99000, 100000])" in_range "$pt" 99000 100000

finish
