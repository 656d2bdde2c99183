#!/usr/bin/env bash
# test_input.sh - bad input is a clear 4xx problem+json, never a crash, hang
# or 5xx: namespaces, routes and methods (and their order), query decoding
# ('+', percent escapes, invalid UTF-8), MAX_QUERY_BYTES, body errors
# (JSON, value, duplicates, \u0000, nesting 32/33), 413 (Content-Length,
# chunked, announced-but-not-sent), request smuggling shapes, idle
# connections, and the raw query text never echoed in bodies or logs.
NC_DB=3
. "$(dirname "$0")/lib.sh"

M=$NC_MARKER
start_service LOG_LEVEL=debug LOG_REQUESTS=true

# =============================================================== namespaces
for ns in 'fa:q' 'fa*q' '[faq' 'faq]' 'fa\q' 'fa.q' 'fa/q' 'faq/' 'fé' 'fa%3Aq' 'fa%3aq' 'fa%2Aq' \
    'fa%3Fq' 'fa%5Bq' 'fa%5Dq' 'fa%5Cq' 'fa%2Fq' 'fa%2fq' 'fa%20q' 'fa+q' 'fa%00q' 'fa%25q' '%2A' \
    'fa%C3%A9q' '..' "$(printf 'n%.0s' $(seq 65))"; do
    req GET "/cache/$ns?q=$M"
    expect_problem "GET namespace '${ns:0:20}' is a 400 invalid_namespace" 400 invalid_namespace
done
for ns in 'fa:q' 'fa%2Aq' 'fa%3Aq' 'fa%2Fq'; do
    req PUT "/cache/$ns" -H "$JSON_CT" --data-binary "{\"q\":\"$M\",\"value\":1}"
    expect_problem "PUT namespace '$ns' is a 400 invalid_namespace" 400 invalid_namespace
    req DELETE "/cache/$ns?q=$M"
    expect_problem "DELETE ?q= namespace '$ns' is a 400 invalid_namespace" 400 invalid_namespace
done
# A flush with a glob-like namespace must reach nothing.
rcli MSET fca:faq:1 a fca:x:2 b 'fca:*:3' c fca:fa:q:4 d >/dev/null
for ns in '*' '%2A' 'fa%3Fq' 'f%5Ba-z%5Dq' 'fa:q' 'fa%3A' '%5C*'; do
    req DELETE "/cache/$ns"
    expect_problem "flush of namespace '$ns' is a 400 invalid_namespace" 400 invalid_namespace
done
check_eq "no key was deleted by a flush with a bad namespace" 4 "$(rcli DBSIZE)"
N64=$(printf 'n%.0s' $(seq 64))
get_q "$N64" "x"
check_status "a 64-character namespace is valid (404 miss)" 404
check_hdr "a 64-character namespace is part of the key" X-Cache-Key "fca:$N64:$(sha16 x)"
get_q "Az09_-" "x"
check_status "namespace [A-Za-z0-9_-] characters are valid (404 miss)" 404
req GET "/cache/?q=x"
check_status "an empty namespace is a 400 or 404" 400 404

# ===================================================== routes and methods
req GET /nope
expect_problem "unknown path is a 404 problem" 404 not_found
req GET "/nope?q=$M"
expect_problem "unknown path with a query is a 404 problem" 404 not_found
req GET /
expect_problem "GET / is a 404" 404
req GET /cache
expect_problem "GET /cache (no namespace) is a 404" 404
req GET /cachefaq
expect_problem "GET /cachefaq is a 404" 404
req GET /healthz/extra
expect_problem "GET /healthz/extra is a 404" 404
for m in POST PATCH OPTIONS; do
    req "$m" "/cache/faq?q=$M" -H "$JSON_CT" --data-binary "{\"q\":\"$M\",\"value\":1}"
    expect_problem "$m /cache/faq is a 405" 405 method_not_allowed
    a=$(hdr Allow)
    check "$m /cache/faq has Allow listing GET, PUT, DELETE (got '$a')" \
        bash -c '[[ $1 == *GET* && $1 == *PUT* && $1 == *DELETE* && $1 != *POST* ]]' _ "$a"
done
req POST /healthz
expect_problem "POST /healthz is a 405" 405
check_match "POST /healthz has Allow: GET" '(^|[ ,])GET([ ,]|$)' "$(hdr Allow)"
req DELETE /readyz
expect_problem "DELETE /readyz is a 405" 405
req POST "/cache/fa*q?q=$M"
expect_problem "the method is checked before the namespace (POST /cache/fa*q is 405)" 405
req POST "/nope"
expect_problem "the route is checked before the method (POST /nope is 404)" 404

# ========================================================== query decoding
put_q faq "hello world" '"hw"' 300
HW=$(jget key)
for qs in 'hello+world' 'hello%20world' 'Hello+World' '%68ello+%77orld' 'hello++world' '+hello+world+'; do
    req GET "/cache/faq?q=$qs"
    if [ "$STATUS" = 200 ] && [ "$(hdr X-Cache-Key)" = "$HW" ]; then
        ok "?q=$qs decodes to the stored \"hello world\""
    else
        notok "?q=$qs decodes to the stored \"hello world\""
        diag_last
    fi
done
put_q faq "c++" '"cpp"' 300
CPP=$(jget key)
req GET "/cache/faq?q=c%2B%2B"
check_hdr "?q=c%2B%2B is the literal text c++" X-Cache-Key "$CPP"
req GET "/cache/faq?q=c++"
check_hdr "?q=c++ is \"c  \" ('+' is a space)" X-Cache-Key "$(ref_text_key fca faq "c")"
req GET "/cache/faq?q=%c3%a9t%C3%A9"
check_hdr "percent escapes decode in either case (%c3%a9 = é)" X-Cache-Key "$(ref_text_key fca faq "été")"
req GET "/cache/faq?q=50%25+off"
check_hdr "%25 decodes to a literal %" X-Cache-Key "$(ref_text_key fca faq "50% off")"
req GET "/cache/faq?params=%7B%22a%22%3A%22x+y%22%7D"
check_hdr "'+' is a space inside params too" X-Cache-Key "$(ref_params_key fca faq '{"a":"x y"}')"
for qs in '%G1' 'abc%' 'abc%2' '%%41'; do
    req GET "/cache/faq?q=$M$qs"
    expect_problem "malformed percent escape ?q=…$qs is a 400" 400
done
for bad in '%C3%28' '%FF' '%C0%AF' '%ED%A0%80' '%F4%90%80%80' '%E2%82' '%80' '%F8%88%80%80%80'; do
    req GET "/cache/faq?q=$M$bad"
    expect_problem "invalid UTF-8 in q ($bad) is a 400 invalid_utf8" 400 invalid_utf8
done
req GET "/cache/faq?q=$M%00x"
expect_problem "a NUL byte in q (%00) is a 400" 400
req GET "/cache/faq?params=%7B%22a%22%3A%22%C3%28$M%22%7D"
expect_problem "invalid UTF-8 inside params is a 400" 400
req GET "/cache/faq?q=a&q=b"
expect_problem "q given twice is a 400" 400

# ======================================================== MAX_QUERY_BYTES
A4096=$(head -c 4096 /dev/zero | tr '\0' a)
get_q faq "$A4096"
check_status "q of exactly MAX_QUERY_BYTES (4096) is accepted" 404
get_q faq "${A4096}b"
expect_problem "q of 4097 bytes is a 400/414" "$([ "$STATUS" = 414 ] && echo 414 || echo 400)"
check_status "q of 4097 bytes is 400 or 414" 400 414
req GET "/cache/faq?q=$(printf '%%61%.0s' $(seq 4096))"
check_status "MAX_QUERY_BYTES counts decoded bytes (4096 x %61 is accepted)" 404
E2048=$(printf 'é%.0s' $(seq 2048))
get_q faq "$E2048"
check_status "q of 2048 x é (4096 bytes) is accepted" 404
get_q faq "${E2048}$M"
check_status "q of 2048 x é plus more is over MAX_QUERY_BYTES (bytes, not characters)" 400 414
P4096="{\"a\":\"$(head -c 4088 /dev/zero | tr '\0' x)\"}"
get_p faq "$P4096"
check_status "params text of exactly 4096 bytes is accepted" 404
get_p faq "{\"a\":\"$(head -c 4089 /dev/zero | tr '\0' x)\"}"
check_status "params text of 4097 bytes is 400 or 414" 400 414
put_q faq "${A4096}$M" 1
check_status "PUT with a q of 4097+ bytes is 400 or 414" 400 414

# ============================================================= body errors
put_json faq "not json $M"
expect_problem "PUT body that is not JSON is a 400" 400 invalid_json
put_json faq ""
expect_problem "PUT with an empty body is a 400" 400
put_json faq "{\"q\":\"$M\",\"value\":1} x"
expect_problem "PUT body with trailing garbage is a 400" 400 invalid_json
put_json faq "{\"q\":\"$M\",\"value\":1}{}"
expect_problem "PUT body with two JSON documents is a 400" 400 invalid_json
put_json faq $'{"q":"trailing whitespace","value":1}\r\n\t '
check_status "PUT body with trailing whitespace is fine" 200
put_json faq "[\"$M\"]"
expect_problem "PUT body that is an array is a 400" 400
put_json faq "\"$M\""
expect_problem "PUT body that is a string is a 400" 400
put_json faq "{\"q\":\"$M\"}"
expect_problem "PUT without value is a 400" 400 missing_value
put_json faq '{"q":"has null value","value":null}'
check_status "PUT with value null is accepted (null is JSON)" 200
put_json faq '{"q":1,"value":1}'
expect_problem "PUT with a numeric q is a 400" 400
put_json faq '{"q":null,"value":1}'
expect_problem "PUT with q null is a 400" 400
put_json faq '{"params":[1,2],"value":1}'
expect_problem "PUT with params not an object is a 400" 400
put_json faq '{"params":"{\"a\":1}","value":1}'
expect_problem "PUT with params as a string is a 400" 400
get_p faq '[1,2]'
expect_problem "GET params that is an array is a 400" 400 invalid_params
get_p faq '"text"'
expect_problem "GET params that is a string is a 400" 400 invalid_params
get_p faq "{\"a\":\"$M\""
expect_problem "GET params that is not JSON is a 400" 400 invalid_params
get_p faq "{\"a\":1} x"
expect_problem "GET params with trailing garbage is a 400" 400 invalid_params

# Duplicate object keys and \u0000, anywhere in a request.
put_json faq "{\"q\":\"$M\",\"q\":\"b\",\"value\":1}"
expect_problem "PUT body with a duplicate key (q twice) is a 400" 400
put_json faq "{\"q\":\"dup in value\",\"value\":{\"$M\":1,\"$M\":2}}"
expect_problem "a duplicate key inside value is a 400" 400
put_json faq '{"q":"dup escaped","value":{"a":1,"\u0061":2}}'
expect_problem "a duplicate key spelled with an escape (a / \\u0061) is a 400" 400
put_json faq '{"params":{"a":1,"a":1},"value":1}'
expect_problem "a duplicate key in PUT params is a 400" 400
get_p faq '{"a":1,"a":2}'
expect_problem "a duplicate key in GET params is a 400" 400
get_p faq '{"o":{"k":[{"x":1,"x":1}]}}'
expect_problem "a duplicate key deep inside params is a 400" 400
put_json faq "{\"q\":\"$M\\u0000x\",\"value\":1}"
expect_problem "\\u0000 in q is a 400" 400
put_json faq '{"q":"nul in value","value":"a\u0000b"}'
expect_problem "\\u0000 in a value string is a 400" 400
put_json faq '{"q":"nul in key","value":{"a\u0000":1}}'
expect_problem "\\u0000 in a value key is a 400" 400
get_p faq '{"a":"x\u0000y"}'
expect_problem "\\u0000 in params is a 400" 400
put_json faq "{\"q\":\"$M\\ud800\",\"value\":1}"
expect_problem "a lone surrogate escape in q is a 400" 400
put_json faq "$(printf '{"q":"%s \xc3\x28","value":1}' "$M")"
expect_problem "raw invalid UTF-8 in the body (q) is a 400" 400
put_json faq "$(printf '{"q":"bad utf8 value","value":"\xff"}')"
expect_problem "raw invalid UTF-8 in the body (value) is a 400" 400

# Nesting: the outermost array/object of value (or params) is level 1.
nest_arr() { "$NC_PY" -c 'import sys; d=int(sys.argv[1]); print("["*d + "1" + "]"*d)' "$1"; }
nest_obj() { "$NC_PY" -c 'import sys; d=int(sys.argv[1]); print("{\"a\":"*d + "1" + "}"*d)' "$1"; }
put_json faq "{\"q\":\"nest 32\",\"value\":$(nest_arr 32)}"
check_status "value nested 32 levels is accepted" 200
get_q faq "nest 32"
check_body "value nested 32 levels round-trips" "$(nest_arr 32)"
put_json faq "{\"q\":\"$M\",\"value\":$(nest_arr 33)}"
expect_problem "value nested 33 levels is a 400" 400
put_json faq "{\"q\":\"nest obj 32\",\"value\":$(nest_obj 32)}"
check_status "value of objects nested 32 levels is accepted" 200
put_json faq "{\"q\":\"$M\",\"value\":$(nest_obj 33)}"
expect_problem "value of objects nested 33 levels is a 400" 400
get_p faq "$(nest_obj 32)"
check_status "GET params nested 32 levels is accepted (404 miss)" 404
get_p faq "$(nest_obj 33)"
expect_problem "GET params nested 33 levels is a 400" 400 invalid_params
put_json faq "{\"params\":$(nest_obj 32),\"value\":1}"
check_status "PUT params nested 32 levels is accepted" 200
put_json faq "{\"params\":$(nest_obj 33),\"value\":1}"
expect_problem "PUT params nested 33 levels is a 400" 400
put_json faq "{\"q\":\"$M\",\"value\":$(nest_arr 5000)}"
expect_problem "value nested 5000 levels is a 400 (no stack overflow)" 400
check "the service survives deep nesting" service_alive

# ================================================ private text on success
# The access log must not carry the query either: checked below.
get_q faq "hit and miss $M"
put_q faq "hit and miss $M" '1' 60
get_q faq "hit and miss $M"
check_status "a private query can be stored and read" 200
del_q faq "hit and miss $M"
check_status "a private query can be deleted" 200

# =========================================== request smuggling (raw HTTP)
B='{"q":"smuggling","value":1}'
L=${#B}
H="PUT /cache/faq HTTP/1.1"$'\r\n'"Host: 127.0.0.1"$'\r\n'"Content-Type: application/json"$'\r\n'
raw_http "$H"'Connection: close'$'\r\n'"Content-Length: $L"$'\r\n\r\n'"$B"
check_eq "control: a well-formed raw PUT is a 200" 200 "$RAW_STATUS"
smuggle() { # name headers body
    raw_http "$H$2"$'\r\n'"$3" 3
    if [ "$RAW_STATUS" = 400 ] && [ "$RAW_CLOSED" = 1 ] &&
        grep -qi '^connection:[[:space:]]*close' <<<"$RAW_HDRS"; then
        ok "$1: 400 with Connection: close, connection closed"
    else
        notok "$1: 400 with Connection: close, connection closed"
        diag "status $RAW_STATUS, closed by server: $RAW_CLOSED" "headers: $(tr '\n' '|' <<<"$RAW_HDRS")"
    fi
    expect_problem "$1: the 400 is problem+json" 400
}
CH=$(printf '%x' "$L")
smuggle "two equal Content-Length headers" "Content-Length: $L"$'\r\n'"Content-Length: $L"$'\r\n' "$B"
smuggle "two different Content-Length headers" "Content-Length: $L"$'\r\n'"Content-Length: 5"$'\r\n' "$B"
smuggle "Content-Length with Transfer-Encoding: chunked" \
    "Content-Length: $L"$'\r\n'"Transfer-Encoding: chunked"$'\r\n' "$CH"$'\r\n'"$B"$'\r\n0\r\n\r\n'
smuggle "Transfer-Encoding: gzip" "Transfer-Encoding: gzip"$'\r\n' "$B"
smuggle "Transfer-Encoding: gzip, chunked" "Transfer-Encoding: gzip, chunked"$'\r\n' "$CH"$'\r\n'"$B"$'\r\n0\r\n\r\n'
smuggle "Transfer-Encoding: identity" "Transfer-Encoding: identity"$'\r\n' "$B"
smuggle "Transfer-Encoding: chunked twice" \
    "Transfer-Encoding: chunked"$'\r\n'"Transfer-Encoding: chunked"$'\r\n' "$CH"$'\r\n'"$B"$'\r\n0\r\n\r\n'
req PUT /cache/faq -H "$JSON_CT" -H 'Transfer-Encoding: gzip' --data-binary "$B"
check_status "curl with Transfer-Encoding: gzip gets a 400" 400
check_hdr "curl with Transfer-Encoding: gzip gets Connection: close" Connection close
raw_http "$H"'Connection: close'$'\r\n''Transfer-Encoding: chunked'$'\r\n\r\n'"$CH"$'\r\n'"$B"$'\r\n0\r\n\r\n'
check_eq "control: a well-formed chunked raw PUT is a 200" 200 "$RAW_STATUS"
raw_http "$H"'Content-Length: abc'$'\r\n\r\n'"$B" 3
check "a malformed Content-Length is a 4xx (got $RAW_STATUS)" bash -c '[[ $1 == 4?? ]]' _ "$RAW_STATUS"
check "the service survives the smuggling shapes" service_alive

# ====================================================== privacy of q text
check_no_marker "the raw query text never appears in responses or the service log (LOG_LEVEL=debug)"
check "every line the service logged is a JSON object" \
    "$NC_PY" -c 'import json,sys; [json.loads(l) if isinstance(json.loads(l), dict) else sys.exit(1) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]' "$SVC_LOG"

# ============================================ MAX_BODY_BYTES and 413
start_service MAX_BODY_BYTES=1024 MAX_QUERY_BYTES=64 LOG_LEVEL=debug
body_of() { # total-size q-text: a valid PUT body of exactly total-size bytes
    "$NC_PY" -c '
import json, sys
n, q = int(sys.argv[1]), sys.argv[2]
head = "{\"q\":%s,\"value\":\"" % json.dumps(q)
pad = n - len(head) - 2
print(head + "x" * pad + "\"}", end="")' "$1" "$2"
}
put_json faq "$(body_of 1024 "exactly max")"
check_status "a body of exactly MAX_BODY_BYTES (1024) is accepted" 200
put_json faq "$(body_of 1025 "$M")"
expect_problem "a body of MAX_BODY_BYTES+1 (1025) is a 413" 413 body_too_large
put_json faq "$(body_of 100000 "$M")"
expect_problem "a body of 100000 bytes is a 413" 413 body_too_large
body_of 4000 "$M" >"$NC_TMP/big.json"
req PUT /cache/faq -H "$JSON_CT" -H 'Transfer-Encoding: chunked' --data-binary @"$NC_TMP/big.json"
expect_problem "a chunked body over MAX_BODY_BYTES is a 413" 413 body_too_large
body_of 900 "chunked small" >"$NC_TMP/small.json"
req PUT /cache/faq -H "$JSON_CT" -H 'Transfer-Encoding: chunked' --data-binary @"$NC_TMP/small.json"
check_status "a chunked body under MAX_BODY_BYTES is accepted" 200
# Announced but never sent: the 413 must come from the headers alone.
raw_http "PUT /cache/faq HTTP/1.1"$'\r\n'"Host: x"$'\r\n'"Content-Type: application/json"$'\r\n'"Content-Length: 50000000"$'\r\n\r\n'"{\"q\":\"$M" 2
check_eq "Content-Length 50000000 is refused (413) before the body is sent" 413 "$RAW_STATUS"
# A large chunked stream is refused without being buffered.
rss() { awk '/^VmHWM/{print $2}' "/proc/$SVC_PID/status" 2>/dev/null || echo 0; }
before=$(rss)
head -c 40000000 /dev/zero | tr '\0' ' ' >"$NC_TMP/huge.json"
req PUT /cache/faq -H "$JSON_CT" -H 'Transfer-Encoding: chunked' -T "$NC_TMP/huge.json"
rm -f "$NC_TMP/huge.json"
after=$(rss)
check_status "a 40 MB chunked body is a 413 (or the connection is cut)" 413 000
check "a 40 MB chunked body is not buffered (peak RSS grew $(((after - before) / 1024)) MB)" \
    [ $((after - before)) -lt 16384 ]
get_q faq "$(head -c 64 /dev/zero | tr '\0' q)"
check_status "MAX_QUERY_BYTES=64: a 64-byte q is accepted" 404
get_q faq "$(head -c 65 /dev/zero | tr '\0' q)"
check_status "MAX_QUERY_BYTES=64: a 65-byte q is 400 or 414" 400 414
check "the service survives oversized bodies" service_alive
check_no_marker "the raw query text never appears in 413 responses or logs"

# =================================================== idle connections
start_service HTTP_IDLE_TIMEOUT_SECONDS=1
raw_http "GET /healthz HTTP/1.1"$'\r\n'"Host: x"$'\r\n' 5
check_eq "a half-sent request is closed by the server after the idle timeout" 1 "$RAW_CLOSED"
raw_http "" 5
check_eq "an idle connection is closed by the server after the idle timeout" 1 "$RAW_CLOSED"
finish
