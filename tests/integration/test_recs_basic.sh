#!/usr/bin/env bash
# test_recs_basic.sh - GET /products/recommendations, one request at a time:
# miss then hit, normalised variants sharing an entry, limit in the key,
# RFC 9211 Cache-Status, Age / Cache-Control / ETag / 304 (also on
# GET /cache/<ns>), request Cache-Control no-cache and only-if-cached, bad
# parameters, DELETE /cache/recommendations clearing entries and locks.
# Real service, real stub (build/upstream-stub), real redis (db 8).
set -u
NC_DB=8
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"

TTL=120
GRACE=60
start_stub STUB_LATENCY_MS=50 || finish
start_service "UPSTREAM_URL=$STUB_URL" "CACHE_NS_TTL=recommendations=$TTL" \
    "STALE_GRACE_SECONDS=$GRACE" TTL_JITTER_PCT=0 EARLY_REFRESH_BETA=0 || finish

# since T: whole seconds elapsed since the date +%s.%N value T, rounded up.
since() { awk -v t="$1" -v n="$(date +%s.%N)" 'BEGIN{d=n-t; i=int(d); if (i<d) i++; print i}'; }

# ---------------------------------------------------------------------------
# Miss then hit
# ---------------------------------------------------------------------------
c0=$(stub_calls)
rec_q "Running Shoes"
t_stored=$(date +%s.%N)
check_status "first request: 200" 200
check_hdr "first request: X-Cache MISS" X-Cache MISS
check_hdr "first request: Cache-Status is a forwarded miss that was stored" Cache-Status "normcache; fwd=miss; stored"
check_match "first request: JSON Content-Type" '^application/json' "$(hdr Content-Type)"
check_eq "first request: the stub was called once" $((c0 + 1)) "$(stub_calls)"
miss_body=$(cat "$NC_TMP/body")
miss_etag=$(hdr ETag)
check_match "first request: a strong ETag" '^"[^"]+"$' "$miss_etag"
check_hdr "first request: Age 0" Age 0
check_hdr "first request: Cache-Control max-age=TTL, stale-while-revalidate, stale-if-error" \
    Cache-Control "max-age=$TTL, stale-while-revalidate=$GRACE, stale-if-error=$GRACE"
key=$(hdr X-Cache-Key)
check_eq "X-Cache-Key is fca:recommendations:r:sha16(normalised query + limit)" \
    "$(rec_key "running shoes" 10)" "$key"
check_eq "the normalised query is what was sent upstream" "running shoes" "$(jstrfield query)"
check_eq "default limit: 10 items" 10 "$(items_count)"
check_eq "the entry is in Redis under X-Cache-Key" 1 "$(rcli EXISTS "$key")"
check_match "the stored entry has the NC1 header and the body" \
    '^NC1 [0-9]+ [0-9]+ [0-9]+ 200$' "$(rcli GET "$key" | head -n 1)"
check_eq "the stored entry's body is the answer" "$miss_body" "$(rcli GET "$key" | tail -n +2)"

rec_q "Running Shoes"
check_status "second request: 200" 200
check_hdr "second request: X-Cache HIT" X-Cache HIT
check_body "second request: same body as the miss" "$miss_body"
check_eq "second request: the stub was not called" $((c0 + 1)) "$(stub_calls)"
cs=$(hdr Cache-Status)
check_match "second request: Cache-Status 'normcache; hit; ttl=N'" '^normcache; hit; ttl=[0-9]+$' "$cs"
el=$(since "$t_stored")
check "second request: its ttl is within [TTL - elapsed($el s) - 1, TTL]" in_range "${cs##*ttl=}" $((TTL - el - 1)) $TTL
check_hdr "second request: same ETag" ETag "$miss_etag"
check_hdr "second request: Cache-Control max-age is the entry's fresh TTL" \
    Cache-Control "max-age=$TTL, stale-while-revalidate=$GRACE, stale-if-error=$GRACE"
check_hdr "second request: X-Cache-Key" X-Cache-Key "$key"

# ---------------------------------------------------------------------------
# Normalised variants share the entry
# ---------------------------------------------------------------------------
c0=$(stub_calls)
for v in "running shoes" "  RUNNING   shoes!!  " "¿Running Shoes?" "running%20shoes" "ＲＵＮＮＩＮＧ shoes"; do
    if [ "$v" = "running%20shoes" ]; then rec "query=running%20shoes"; else rec_q "$v"; fi
    if [ "$STATUS:$(hdr X-Cache):$(hdr X-Cache-Key)" = "200:HIT:$key" ] && cmp -s "$NC_TMP/body" <(printf '%s' "$miss_body"); then
        ok "variant '$v' is a HIT on the same key with the same body"
    else
        notok "variant '$v' is a HIT on the same key with the same body"
        diag "X-Cache $(hdr X-Cache), key $(hdr X-Cache-Key), expected $key"
        diag_last
    fi
done
rec "query=running+shoes&limit=10"
check_eq "query=running+shoes&limit=10 (explicit default limit) is the same entry" "HIT $key" "$(hdr X-Cache) $(hdr X-Cache-Key)"
rec "limit=10&query=Running%20Shoes"
check_eq "parameter order does not matter" "HIT $key" "$(hdr X-Cache) $(hdr X-Cache-Key)"
check_eq "variants: the stub was not called" "$c0" "$(stub_calls)"

rec_q "running boots"
check_eq "a different query is a different entry (MISS)" MISS "$(hdr X-Cache)"
check_ne "a different query has a different key" "$key" "$(hdr X-Cache-Key)"
check_eq "a different query: the stub was called" $((c0 + 1)) "$(stub_calls)"

# ---------------------------------------------------------------------------
# limit is part of the key
# ---------------------------------------------------------------------------
c0=$(stub_calls)
rec_q "trail shoes" 3
check_eq "limit=3: 200 MISS" "200 MISS" "$STATUS $(hdr X-Cache)"
check_eq "limit=3: 3 items" 3 "$(items_count)"
k3=$(hdr X-Cache-Key)
b3=$(cat "$NC_TMP/body")
rec_q "trail shoes" 5
check_eq "limit=5 after limit=3: 200 MISS (not served the 3-item entry)" "200 MISS" "$STATUS $(hdr X-Cache)"
check_eq "limit=5: 5 items" 5 "$(items_count)"
k5=$(hdr X-Cache-Key)
check_ne "limit=3 and limit=5 have different keys" "$k3" "$k5"
check_eq "limit=5 key is fca:recommendations:r:sha16('trail shoes\\nlimit=5')" "$(rec_key "trail shoes" 5)" "$k5"
check_eq "limit 3 then 5: the stub was called twice" $((c0 + 2)) "$(stub_calls)"
rec_q "trail shoes" 3
check_eq "limit=3 again: HIT with 3 items" "HIT 3" "$(hdr X-Cache) $(items_count)"
check_body "limit=3 again: the 3-item body" "$b3"
rec_q "trail shoes" 50
check_eq "limit=50 (the maximum): 200 with 50 items" "200 50" "$STATUS $(items_count)"
rec_q "trail shoes" 1
check_eq "limit=1 (the minimum): 200 with 1 item" "200 1" "$STATUS $(items_count)"
check_eq "limits 3, 5, 50, 1: four upstream calls" $((c0 + 4)) "$(stub_calls)"

# ---------------------------------------------------------------------------
# ETag / 304 / Age
# ---------------------------------------------------------------------------
rec_q "running shoes" "" -H "If-None-Match: $miss_etag"
check_status "If-None-Match with the current ETag: 304" 304
check_eq "304: empty body" 0 "$(wc -c <"$NC_TMP/body")"
check_hdr "304: carries the ETag" ETag "$miss_etag"
rec_q "running shoes" "" -H "If-None-Match: \"0000000000000000\", $miss_etag"
check_status "If-None-Match with a list containing the ETag: 304" 304
rec_q "running shoes" "" -H "If-None-Match: W/$miss_etag"
check_status "If-None-Match W/<etag> (weak comparison, RFC 9110 13.1.2): 304" 304
rec_q "running shoes" "" -H 'If-None-Match: "0000000000000000"'
check_status "If-None-Match with another ETag: 200" 200
check_body "If-None-Match with another ETag: the full body" "$miss_body"
rec_q "trail shoes" 5 -H "If-None-Match: $miss_etag"
check_status "another entry's ETag does not give a 304" 200
# Age grows: at least 2 s after the entry was stored.
wait_s=$(awk -v t="$t_stored" -v n="$(date +%s.%N)" 'BEGIN{d=2.2-(n-t); print (d>0?d:0)}')
sleep "$wait_s"
rec_q "running shoes"
age=$(hdr Age)
el=$(since "$t_stored")
check "Age grows with the entry's age (stored ${el}s ago, >= 2 s; got '$age')" in_range "$age" 2 "$el"
cs=$(hdr Cache-Status)
check "Cache-Status ttl shrinks with age (TTL-age +- 1, got '$cs')" in_range "${cs##*ttl=}" $((TTL - age - 1)) $((TTL - age))

# ETag / 304 on GET /cache/<ns> hits.
put_q faq "How do I reset my password?" '{"answer":"Use the link."}'
check_status "PUT /cache/faq: 200" 200
get_q faq "how do i reset my password"
check_eq "GET /cache/faq: 200 HIT" "200 HIT" "$STATUS $(hdr X-Cache)"
faq_etag=$(hdr ETag)
check_match "GET /cache/faq hit: a strong ETag" '^"[^"]+"$' "$faq_etag"
req GET /cache/faq -G --data-urlencode "q=how do i reset my password" -H "If-None-Match: $faq_etag"
check_status "GET /cache/faq with If-None-Match: the ETag: 304" 304
check_eq "GET /cache/faq 304: empty body" 0 "$(wc -c <"$NC_TMP/body")"
req GET /cache/faq -G --data-urlencode "q=how do i reset my password" -H 'If-None-Match: "0000000000000000"'
check_status "GET /cache/faq with another ETag: 200" 200
put_q faq "How do I reset my password?" '{"answer":"Changed."}'
req GET /cache/faq -G --data-urlencode "q=how do i reset my password" -H "If-None-Match: $faq_etag"
check_status "GET /cache/faq after the value changed: the old ETag gives 200" 200
check_ne "GET /cache/faq after the value changed: a new ETag" "$faq_etag" "$(hdr ETag)"

# ---------------------------------------------------------------------------
# Request Cache-Control
# ---------------------------------------------------------------------------
c0=$(stub_calls)
rec_q "running shoes" "" -H "Cache-Control: no-cache"
t_nc=$(date +%s.%N)
check_eq "no-cache on a cached key: 200 MISS" "200 MISS" "$STATUS $(hdr X-Cache)"
check_hdr "no-cache: Cache-Status fwd=request; stored" Cache-Status "normcache; fwd=request; stored"
check_eq "no-cache: the stub was called" $((c0 + 1)) "$(stub_calls)"
check_body "no-cache: the upstream's (same) body" "$miss_body"
check_hdr "no-cache: Age 0 (just fetched)" Age 0
rec_q "running shoes"
check_eq "after no-cache: HIT again" HIT "$(hdr X-Cache)"
el=$(since "$t_nc")
check "after no-cache: the entry was rewritten (Age $(hdr Age) <= ${el}s since the no-cache fetch)" in_range "$(hdr Age)" 0 "$el"
rec_q "running shoes" "" -H "Cache-Control: max-age=0, No-Cache"
check_eq "Cache-Control 'max-age=0, No-Cache' (case-insensitive, in a list): MISS" MISS "$(hdr X-Cache)"
check_eq "no-cache twice: the stub was called twice" $((c0 + 2)) "$(stub_calls)"

c0=$(stub_calls)
rec_q "running shoes" "" -H "Cache-Control: only-if-cached"
check_eq "only-if-cached on a cached key: 200 HIT" "200 HIT" "$STATUS $(hdr X-Cache)"
check_body "only-if-cached on a cached key: the cached body" "$miss_body"
rec_q "never asked before" "" -H "Cache-Control: only-if-cached"
expect_problem "only-if-cached with nothing cached: 504 problem not_cached" 504 not_cached
check_eq "only-if-cached: the stub was never called" "$c0" "$(stub_calls)"
check_eq "only-if-cached: nothing was stored" 0 "$(rcli EXISTS "$(rec_key "never asked before" 10)")"

# ---------------------------------------------------------------------------
# Bad parameters: 400 problem+json, upstream never called, nothing stored
# ---------------------------------------------------------------------------
c0=$(stub_calls)
n0=$(rcli DBSIZE)
bad() { # QS CODE
    rec "$1"
    problem_is "GET ?$1: 400 problem $2" 400 "$2"
}
rec ""
expect_problem "GET without parameters: 400 problem+json missing_query (full RFC 9457 check)" 400 missing_query
rec "query=%3F%21"
expect_problem "GET ?query=%3F%21 (empty once normalised): 400 problem+json empty_query (full check)" 400 empty_query
bad "limit=5" missing_query
bad "q=shoes" unknown_parameter
bad "query=%3F%21" empty_query
bad "query=" empty_query
bad "query=+++" empty_query
bad "query" empty_query
bad "query=shoes&limit=0" invalid_limit
bad "query=shoes&limit=51" invalid_limit
bad "query=shoes&limit=abc" invalid_limit
bad "query=shoes&limit=1.5" invalid_limit
bad "query=shoes&limit=-1" invalid_limit
bad "query=shoes&limit=" invalid_limit
bad "query=shoes&limit=5x" invalid_limit
bad "query=shoes&limit=%205" invalid_limit
bad "query=shoes&limit=1e1" invalid_limit
bad "query=shoes&query=boots" duplicate_parameter
bad "query=shoes&query=shoes" duplicate_parameter
bad "query=shoes&limit=3&limit=3" duplicate_parameter
bad "query=shoes&foo=1" unknown_parameter
bad "query=shoes&Limit=3" unknown_parameter
bad "query=shoes&nocache=1" unknown_parameter
check_eq "bad parameters: the stub was never called" "$c0" "$(stub_calls)"
check_eq "bad parameters: nothing was stored" "$n0" "$(rcli DBSIZE)"

# ---------------------------------------------------------------------------
# DELETE /cache/recommendations clears entries and locks
# ---------------------------------------------------------------------------
# A lock as another instance would hold it, and a lock of another namespace.
rcli SET "$key:lock" sometoken PX 60000 >/dev/null
rcli SET "fca:faq:zzz:lock" keep PX 60000 >/dev/null
n_recs=$(rcli --scan --pattern 'fca:recommendations:*' | wc -l)
check "before DELETE: several recommendation entries plus a lock (got $n_recs keys)" in_range "$n_recs" 6 1000
req DELETE /cache/recommendations
check_status "DELETE /cache/recommendations: 200" 200
check_eq "DELETE /cache/recommendations: reports the keys it removed" "$n_recs" "$(jget deleted)"
check_eq "after DELETE: no recommendation keys left (entries and locks)" 0 "$(rcli --scan --pattern 'fca:recommendations:*' | wc -l)"
check_eq "after DELETE: other namespaces untouched" 1 "$(rcli EXISTS fca:faq:zzz:lock)"
c0=$(stub_calls)
rec_q "running shoes"
check_eq "after DELETE: MISS, not held up by the deleted lock" "200 MISS" "$STATUS $(hdr X-Cache)"
check_time "after DELETE: answered at once (no lock wait)" 1.0
check_eq "after DELETE: the stub was called" $((c0 + 1)) "$(stub_calls)"

finish
