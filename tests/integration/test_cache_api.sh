#!/usr/bin/env bash
# test_cache_api.sh - the cache round trip over HTTP: PUT then GET hit (value
# byte for byte, headers, max-age), misses, TTL rules (default, per
# namespace, validation), compact storage, 415, DELETE of one key, values of
# the wrong Redis type, keep-alive reuse, concurrency, /healthz and /readyz.
NC_DB=1
. "$(dirname "$0")/lib.sh"

start_service

# ------------------------------------------------------------------ health
req GET /healthz
check_status "/healthz answers 200" 200
req GET /readyz
check_status "/readyz answers 200 with Redis up" 200
check_eq "/readyz reports redis: up" up "$(jget redis)"

# ------------------------------------------------------------ PUT then GET
Q="How do I open an account?"
VALUE='{"answer": "Visit a branch", "steps": [1, 2, 3]}'
COMPACT='{"answer":"Visit a branch","steps":[1,2,3]}'
put_q faq "$Q" "$VALUE" 120
check_status "PUT /cache/faq answers 200" 200
check_match "PUT answers Content-Type application/json" '^application/json(;.*)?$' "$(hdr Content-Type)"
KEY=$(jget key)
check_match "PUT returns key <prefix>:<ns>:<16 hex>" '^fca:faq:[0-9a-f]{16}$' "$KEY"
check_eq "PUT returns the ttl it stored" 120 "$(jget ttl)"
check_eq "PUT returns stored: true" true "$(jget stored)"
check_hdr "PUT carries X-Cache-Key: <key>" X-Cache-Key "$KEY"
check_eq "PUT stores the value as compact JSON under the key" "$COMPACT" "$(rcli GET "$KEY")"
t=$(rcli TTL "$KEY")
check "the entry's Redis TTL is the requested 120 s (got $t)" in_range "$t" 110 120

get_q faq "$Q"
check_status "GET after PUT is a hit (200)" 200
check_body "the hit returns the stored value byte for byte" "$COMPACT"
check_match "the hit has Content-Type application/json" '^application/json(;.*)?$' "$(hdr Content-Type)"
check_hdr "the hit has X-Cache: HIT" X-Cache HIT
check_hdr "the hit has X-Cache-Key: <key>" X-Cache-Key "$KEY"
cc=$(hdr Cache-Control)
ma=""
[[ $cc =~ ^max-age=([0-9]+)$ ]] && ma=${BASH_REMATCH[1]}
check "the hit has Cache-Control: max-age=<remaining TTL> (got '$cc')" in_range "$ma" 110 120

# README: a hit carries a strong ETag; If-None-Match with it is a 304.
ET=$(hdr ETag)
check_match "the hit carries a strong ETag" '^"[^"]+"$' "$ET"
req GET /cache/faq -G --data-urlencode "q=$Q" -H "If-None-Match: $ET"
check_status "If-None-Match with the ETag is a 304" 304
check_eq "the 304 has no body" "" "$BODY"
req GET /cache/faq -G --data-urlencode "q=$Q" -H 'If-None-Match: "other"'
check_status "If-None-Match with another ETag is a 200" 200

# max-age is the remaining TTL rounded down: 100.9 s left is max-age=100
# (Redis's own TTL command would round it to 101).
rcli PEXPIRE "$KEY" 100900 >/dev/null
get_q faq "$Q"
check_hdr "max-age is the remaining TTL rounded down (100.9 s -> 100)" Cache-Control "max-age=100"
rcli PEXPIRE "$KEY" 1700 >/dev/null
get_q faq "$Q"
check_hdr "max-age is the remaining TTL rounded down (1.7 s -> 1)" Cache-Control "max-age=1"

# A value another client wrote (spacing, escapes, float spelling) is served
# as it is, byte for byte.
RAW='{"b": 1,  "a" : [1, 2.50, "caf\u00e9", "é"], "n": null}'
rcli SETEX "$KEY" 60 "$RAW" >/dev/null
get_q faq "$Q"
check_status "a value written with plain SETEX is a hit" 200
check_body "a value written with plain SETEX is served byte for byte" "$RAW"

# ------------------------------------------------------------ value shapes
# Every JSON type is a value; already-compact texts come back unchanged.
i=0
for v in '"plain string"' 42 -7 0 true false null '[]' '{}' '[1,{"a":null},"x"]' '"tab\there"'; do
    i=$((i + 1))
    put_q shapes "value shape $i" "$v" 60
    s1=$STATUS
    get_q shapes "value shape $i"
    if [ "$s1" = 200 ] && [ "$STATUS" = 200 ] && printf '%s' "$v" | cmp -s - "$NC_TMP/body"; then
        ok "value $v round-trips through PUT and GET"
    else
        notok "value $v round-trips through PUT and GET"
        diag "PUT status $s1"
        diag_last
    fi
done
# Non-compact input is stored compact, semantically unchanged.
put_q shapes "spaced value" '{ "x" : [ 1 , 2 ] ,
   "y" : "a b" }' 60
k=$(jget key)
check_eq "PUT removes insignificant whitespace from the value" '{"x":[1,2],"y":"a b"}' "$(rcli GET "$k")"
put_q shapes "unicode value" '{"s": "\u00e9\ud83d\ude00 \"q\" \\ /", "f": 1.5e3, "neg": -0.25, "big": 12345678901234567890}' 60
k=$(jget key)
rcli GET "$k" >"$NC_TMP/stored"
check_json_eq "escapes, non-ASCII and numbers are stored semantically unchanged" \
    '{"s": "\u00e9\ud83d\ude00 \"q\" \\ /", "f": 1.5e3, "neg": -0.25, "big": 12345678901234567890}' "$NC_TMP/stored"
check "the stored value has no whitespace outside strings" \
    "$NC_PY" -c 'import re,sys; s=open(sys.argv[1],encoding="utf-8").read().rstrip("\n"); sys.exit(bool(re.search(r"\s", re.sub(r"\"(?:[^\"\\]|\\.)*\"", "", s))))' "$NC_TMP/stored"

# ------------------------------------------------------------------- misses
get_q faq "a question nobody asked $RANDOM"
expect_problem "a miss is 404 problem+json with code cache_miss" 404 cache_miss
check_hdr "a miss has X-Cache: MISS" X-Cache MISS
MISS_KEY=$(hdr X-Cache-Key)
check_match "a miss carries X-Cache-Key" '^fca:faq:[0-9a-f]{16}$' "$MISS_KEY"
check_ne "a different query derives a different key" "$KEY" "$MISS_KEY"
get_q other "$Q"
check_status "the same query in another namespace is a miss" 404
check_eq "the namespace is part of the key" "fca:other:${KEY#fca:faq:}" "$(hdr X-Cache-Key)"

# An expired entry is a miss.
put_q faq "short lived" '"bye"' 1
get_q faq "short lived"
check_status "an entry with ttl 1 is a hit at first" 200
sleep 1.3
get_q faq "short lived"
check_status "an entry is a miss after its TTL" 404

# -------------------------------------------------------------------- TTLs
put_q faq "default ttl" '1'
check_eq "PUT without ttl uses CACHE_TTL_SECONDS (300)" 300 "$(jget ttl)"
t=$(rcli TTL "$(jget key)")
check "the Redis TTL is the default 300 s (got $t)" in_range "$t" 290 300
put_q faq "max ttl" '1' 86400
check_status "ttl 86400 (= CACHE_MAX_TTL_SECONDS) is accepted" 200
t=$(rcli TTL "$(jget key)")
check "the Redis TTL is 86400 s (got $t)" in_range "$t" 86390 86400
put_q faq "min ttl" '1' 1
check_status "ttl 1 is accepted" 200

for bad in 60.0 6e1 0 -5 86401 '"60"' null true '[60]' 60.5 99999999999999999999999; do
    put_q faq "bad ttl $bad" '1' "$bad"
    expect_problem "ttl $bad is a 400 invalid_ttl" 400 invalid_ttl
done
stored=""
for bad in 60.0 6e1 0 -5 86401 '"60"' null true '[60]' 60.5 99999999999999999999999; do
    get_q faq "bad ttl $bad"
    [ "$STATUS" = 404 ] || stored="$stored $bad"
done
check_eq "nothing was stored for a rejected ttl" "" "$stored"

# Configured TTLs: CACHE_TTL_SECONDS, CACHE_NS_TTL, CACHE_MAX_TTL_SECONDS.
start_service CACHE_TTL_SECONDS=200 CACHE_MAX_TTL_SECONDS=1000 CACHE_NS_TTL=faq=600,recs=120
put_q faq "ns ttl" '1'
check_eq "CACHE_NS_TTL applies to its namespace (faq=600)" 600 "$(jget ttl)"
t=$(rcli TTL "$(jget key)")
check "the Redis TTL is the namespace's 600 s (got $t)" in_range "$t" 590 600
put_q recs "ns ttl" '1'
check_eq "CACHE_NS_TTL applies to its namespace (recs=120)" 120 "$(jget ttl)"
t=$(rcli TTL "$(jget key)")
check "the Redis TTL is the namespace's 120 s (got $t)" in_range "$t" 110 120
put_q other "ns ttl" '1'
check_eq "other namespaces use CACHE_TTL_SECONDS (200)" 200 "$(jget ttl)"
put_q faq "explicit ttl" '1' 50
check_eq "an explicit ttl wins over the namespace TTL" 50 "$(jget ttl)"
put_q faq "max ttl" '1' 1000
check_status "ttl = CACHE_MAX_TTL_SECONDS (1000) is accepted" 200
put_q faq "over max ttl" '1' 1001
expect_problem "ttl over CACHE_MAX_TTL_SECONDS (1001 > 1000) is a 400 invalid_ttl" 400 invalid_ttl
start_service

# ------------------------------------------------------------ Content-Type
B='{"q":"content type","value":1}'
req PUT /cache/faq -H 'Content-Type: text/plain' --data-binary "$B"
expect_problem "PUT with Content-Type text/plain is 415" 415 unsupported_media_type
req PUT /cache/faq -H 'Content-Type:' --data-binary "$B"
expect_problem "PUT without Content-Type is 415" 415 unsupported_media_type
req PUT /cache/faq -H 'Content-Type: application/x-www-form-urlencoded' --data-binary "$B"
expect_problem "PUT with a form Content-Type is 415" 415 unsupported_media_type
req PUT /cache/faq -H 'Content-Type: application/jsonx' --data-binary "$B"
expect_problem "PUT with Content-Type application/jsonx is 415" 415 unsupported_media_type
req PUT /cache/faq -H 'Content-Type: application/json; charset=utf-8' --data-binary "$B"
check_status "PUT with Content-Type application/json; charset=utf-8 is accepted" 200
req PUT /cache/faq -H 'Content-Type: Application/JSON' --data-binary "$B"
check_status "the media type is matched case-insensitively" 200

# ------------------------------------------------------------ q and params
req GET /cache/faq
expect_problem "GET with neither q nor params is 400" 400 invalid_request
req GET /cache/faq -G --data-urlencode "q=x" --data-urlencode 'params={"a":1}'
expect_problem "GET with both q and params is 400" 400 invalid_request
put_json faq '{"value":1}'
expect_problem "PUT with neither q nor params is 400" 400 invalid_request
put_json faq '{"q":"x","params":{"a":1},"value":1}'
expect_problem "PUT with both q and params is 400" 400 invalid_request
req DELETE /cache/faq -G --data-urlencode "q=x" --data-urlencode 'params={"a":1}'
expect_problem "DELETE with both q and params is 400" 400 invalid_request

# ------------------------------------------------------------------ DELETE
put_q faq "to be deleted" '"x"' 60
DK=$(jget key)
del_q faq "TO BE DELETED"
check_status "DELETE ?q= answers 200" 200
check_match "DELETE answers Content-Type application/json" '^application/json(;.*)?$' "$(hdr Content-Type)"
check_json_eq "DELETE of an existing entry answers {\"deleted\": 1}" '{"deleted": 1}'
check_eq "DELETE ?q= derives the same key (X-Cache-Key)" "$DK" "$(hdr X-Cache-Key)"
check_eq "the entry is gone from Redis" 0 "$(rcli EXISTS "$DK")"
del_q faq "to be deleted"
check_status "DELETE of a missing entry answers 200" 200
check_json_eq "DELETE of a missing entry answers {\"deleted\": 0}" '{"deleted": 0}'
get_q faq "to be deleted"
check_status "GET after DELETE is a miss" 404
put_p faq '{"user": 7, "page": 2}' '"p"' 60
PK=$(jget key)
del_p faq '{"page":2,"user":7}'
check_json_eq "DELETE ?params= (keys in another order) deletes the entry" '{"deleted": 1}'
check_eq "the params entry is gone from Redis" 0 "$(rcli EXISTS "$PK")"

# ---------------------------------------------- values of the wrong type
get_q faq "wrong type"
WK=$(hdr X-Cache-Key)
rcli HSET "$WK" field value >/dev/null
get_q faq "wrong type"
expect_problem "a hash under the derived key is a miss (404 cache_miss)" 404 cache_miss
check_hdr "a hash under the derived key has X-Cache: MISS" X-Cache MISS
rcli DEL "$WK" >/dev/null
rcli RPUSH "$WK" a b >/dev/null
get_q faq "wrong type"
check_status "a list under the derived key is a 404 miss" 404
check "the service survives values of the wrong type" service_alive
put_q faq "wrong type" '"now a string"' 60
check_status "PUT over a key of the wrong type stores (200)" 200
get_q faq "wrong type"
check_body "and the new value is served" '"now a string"'
rcli DEL "$WK" >/dev/null
rcli SET "$WK" 'not json {' >/dev/null
NC_FOREIGN_VALUE=1 get_q faq "wrong type"
check_status "a non-JSON string written by someone else never causes a 5xx" 200 404

# ---------------------------------------------- keep-alive connection reuse
# One connection, several requests: per-request state must not leak into
# the next request on the same connection. (The server may close the
# connection after an error, so the last request may reconnect.)
base="http://127.0.0.1:$SVC_PORT"
kq=$(urlenc "keepalive q $RANDOM")
out=$(curl -sS -g -w '%{http_code} %{num_connects} [%header{x-cache}] [%header{x-cache-key}]\n' \
    -o /dev/null "$base/cache/faq?q=$kq" \
    --next -o /dev/null -X PUT -H "$JSON_CT" --data-binary "{\"q\":\"keepalive other\",\"value\":1}" "$base/cache/faq" \
    --next -o /dev/null -w '%{http_code} %{num_connects} [%header{x-cache}] [%header{x-cache-key}]\n' "$base/cache/faq?q=keepalive+other" \
    --next -o /dev/null -w '%{http_code} %{num_connects} [%header{x-cache}] [%header{x-cache-key}]\n' "$base/cache/fa*q?q=x" \
    --next -o /dev/null -w '%{http_code} %{num_connects} [%header{x-cache}] [%header{x-cache-key}]\n' "$base/cache/faq?q=$kq" 2>&1)
mapfile -t L <<<"$out"
k_other=$(ref_basic_key fca faq "keepalive other")
if [[ ${L[0]:-} == "404 1 [MISS] [fca:faq:"* ]] && [[ ${L[1]:-} == "200 0 [HIT] [$k_other]" ]] &&
    [[ ${L[2]:-} == "400 0 [] []" ]] && [ "${L[3]/ 1 / 0 }" = "${L[0]/ 1 / 0 }" ]; then
    ok "requests on one keep-alive connection do not share state"
else
    notok "requests on one keep-alive connection do not share state"
    diag "got:" "${L[@]}"
fi

# ------------------------------------------------- Redis commands it runs
monitor_start
put_q mon "monitored" '{"m":1}' 77
get_q mon "monitored"
monitor_stop "$NC_TMP/mon"
MK=$(ref_text_key fca mon monitored)
check "PUT stores with one SET … EX 77 (or SETEX)" \
    grep -qE "\"SET\" \"$MK\" .*\"EX\" \"77\"|\"SETEX\" \"$MK\" \"77\"" "$NC_TMP/mon"
check "PUT sets no TTL separately (no EXPIRE)" bash -c '! grep -qiE "\"P?EXPIRE\"" "$1"' _ "$NC_TMP/mon"
check "a hit reads the value (GETRANGE up to MAX_BODY_BYTES) and its PTTL" \
    bash -c 'grep -q "\"GETRANGE\" \"$2\" \"0\" \"1048576\"" "$1" && grep -q "\"PTTL\" \"$2\"" "$1"' _ "$NC_TMP/mon" "$MK"

# ------------------------------------------------------------- concurrency
put_q faq "popular" '{"hot":true}' 120
seq 60 | xargs -P 12 -I{} curl -s -o /dev/null -w '%{http_code}\n' \
    "http://127.0.0.1:$SVC_PORT/cache/faq?q=popular" >"$NC_TMP/par"
check_eq "60 concurrent GETs of one entry all hit" 60 "$(grep -c '^200$' "$NC_TMP/par")"
seq 40 | xargs -P 10 -I{} curl -s -o /dev/null -w '%{http_code}\n' -X PUT -H "$JSON_CT" \
    --data-binary '{"q":"parallel {}","value":{}}' "http://127.0.0.1:$SVC_PORT/cache/par" >"$NC_TMP/par"
check_eq "40 concurrent PUTs all store" 40 "$(grep -c '^200$' "$NC_TMP/par")"
check_eq "40 concurrent PUTs wrote 40 keys" 40 "$(rcli --scan --pattern 'fca:par:*' | wc -l)"

check "the service is still running" service_alive
finish
