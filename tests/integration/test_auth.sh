#!/usr/bin/env bash
# test_auth.sh - AUTH_TOKENS: /cache/* needs "Authorization: Bearer <token>"
# and checks it before anything else (a caller without a token learns
# nothing: not the route, the method, the namespace or the input rules);
# /healthz and /readyz stay open.
NC_DB=4
. "$(dirname "$0")/lib.sh"

T1='tok-One_123'
T2='second.token~XYZ'
start_service "AUTH_TOKENS=$T1,$T2"
M=$NC_MARKER

# expect_401 NAME METHOD PATH [curl args...]
expect_401() {
    local name=$1
    shift
    req "$@"
    expect_problem "$name: 401 problem+json" 401
    local wa
    wa=$(hdr WWW-Authenticate)
    if [[ $wa =~ ^Bearer($|[[:space:]]) ]]; then
        ok "$name: WWW-Authenticate: Bearer"
    else
        notok "$name: WWW-Authenticate: Bearer"
        diag "got WWW-Authenticate: '$wa'"
    fi
    if [ "$(hdr_count X-Cache-Key)" = 0 ] && [ "$(hdr_count X-Cache)" = 0 ]; then
        ok "$name: no X-Cache/X-Cache-Key leaks"
    else
        notok "$name: no X-Cache/X-Cache-Key leaks"
        diag "X-Cache: $(hdr X-Cache) X-Cache-Key: $(hdr X-Cache-Key)"
    fi
}

put_body="{\"q\":\"$M\",\"value\":1}"
expect_401 "GET without a token" GET "/cache/faq?q=$M"
expect_401 "PUT without a token" PUT /cache/faq -H "$JSON_CT" --data-binary "$put_body"
expect_401 "DELETE ?q= without a token" DELETE "/cache/faq?q=$M"
expect_401 "DELETE (flush) without a token" DELETE /cache/faq
expect_401 "GET with a wrong token" GET "/cache/faq?q=$M" -H "Authorization: Bearer wrong"
expect_401 "GET with a prefix of a token" GET "/cache/faq?q=$M" -H "Authorization: Bearer ${T1:0:5}"
expect_401 "GET with a token plus a suffix" GET "/cache/faq?q=$M" -H "Authorization: Bearer ${T1}x"
expect_401 "GET with both tokens glued" GET "/cache/faq?q=$M" -H "Authorization: Bearer $T1,$T2"
expect_401 "GET with an empty bearer token" GET "/cache/faq?q=$M" -H "Authorization: Bearer "
expect_401 "GET with the token but scheme Basic" GET "/cache/faq?q=$M" -H "Authorization: Basic $T1"
expect_401 "GET with the bare token (no scheme)" GET "/cache/faq?q=$M" -H "Authorization: $T1"
expect_401 "GET with the token in the query string" GET "/cache/faq?q=$M&access_token=$T1"
# Authentication comes first: no other error may show through.
expect_401 "bad namespace without a token (not 400)" GET "/cache/fa*q?q=$M"
expect_401 "wrong method without a token (not 405)" POST "/cache/faq?q=$M"
expect_401 "PUT text/plain without a token (not 415)" PUT /cache/faq -H 'Content-Type: text/plain' --data-binary "$put_body"
expect_401 "PUT with a body over MAX_BODY_BYTES without a token (not 413)" PUT /cache/faq -H "$JSON_CT" \
    -H 'Content-Length: 99999999' --data-binary "$put_body"
expect_401 "invalid UTF-8 q without a token (not 400)" GET "/cache/faq?q=$M%C3%28"
expect_401 "GET neither q nor params without a token (not 400)" GET "/cache/faq"
expect_401 "GET /cache/ without a token (not 404)" GET "/cache/"

AUTH1=(-H "Authorization: Bearer $T1")
AUTH2=(-H "Authorization: Bearer $T2")
put_json_auth() { req PUT "/cache/$1" "${AUTH1[@]}" -H "$JSON_CT" --data-binary "$2"; }
req GET /cache/faq -G --data-urlencode "q=authorised" "${AUTH1[@]}"
expect_problem "a good token: GET is served (404 cache_miss)" 404 cache_miss
put_json_auth faq '{"q":"authorised","value":{"ok":true},"ttl":60}'
check_status "a good token: PUT stores (200)" 200
check_eq "a good token: PUT answers stored: true" true "$(jget stored)"
req GET /cache/faq -G --data-urlencode "q=authorised" "${AUTH2[@]}"
check_status "the second token of AUTH_TOKENS works too: hit" 200
check_body "the hit returns the value" '{"ok":true}'
req GET /cache/faq -G --data-urlencode "q=authorised" -H "Authorization: bearer $T1"
check_status "the auth scheme is case-insensitive (bearer)" 200
req DELETE /cache/faq -G --data-urlencode "q=authorised" "${AUTH1[@]}"
check_json_eq "a good token: DELETE works" '{"deleted":1}'
req DELETE /cache/faq "${AUTH2[@]}"
check_status "a good token: flush works" 200
req GET "/cache/fa*q?q=x" "${AUTH1[@]}"
expect_problem "with a good token the usual 400 shows" 400 invalid_namespace
req POST "/cache/faq?q=x" "${AUTH1[@]}"
expect_problem "with a good token the usual 405 shows" 405
req GET /healthz
check_status "/healthz needs no token" 200
req GET /readyz
check_status "/readyz needs no token" 200
check_eq "/readyz without a token reports redis: up" up "$(jget redis)"
req GET /nope
check_status "a path outside /cache is a 404 without a token" 404
check_no_marker "the query text never appears in 401 responses or the log"

start_service
req GET /cache/faq -G --data-urlencode "q=open"
expect_problem "without AUTH_TOKENS no token is needed (404 miss)" 404 cache_miss
req GET /cache/faq -G --data-urlencode "q=open" -H "Authorization: Bearer anything"
expect_problem "without AUTH_TOKENS any Authorization header is ignored" 404 cache_miss
finish
