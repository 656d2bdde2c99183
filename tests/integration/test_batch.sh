#!/usr/bin/env bash
# test_batch.sh - batch calls (issue 11): POST /cache/<ns>/_mget and _mset,
# results in request order, one invalid item makes the whole call a 400
# naming its index, fail open without Redis, the body route for queries too
# long for a URL, and the method/namespace rules of the batch paths.
NC_DB=0
KP=bat # a key prefix of this script's own (database 0 is shared)
. "$(dirname "$0")/lib.sh"

rcli --scan --pattern "$KP:*" | xargs -r redis-cli -h 127.0.0.1 -p "$NC_TEST_REDIS_PORT" -n "$NC_DB" DEL >/dev/null
start_service KEY_PREFIX=$KP BATCH_MAX_ITEMS=20

post() { req POST "/cache/$1" -H "$JSON_CT" --data-binary "$2"; }

# ------------------------------------------------------------------ _mset
post faq/_mset '{"items": [
  {"q": "How do I open an account?", "value": {"a": 1}, "ttl": 120},
  {"params": {"sku": "A1"}, "ctx": {"locale": "de"}, "value": [1, 2], "tags": ["sku:A1"]},
  {"q": "Where is my card?", "value": "in the post"}]}'
check_status "_mset answers 200" 200
check_json_eq "_mset answers every item stored, in order, with its key" "{\"results\": [
  {\"key\": \"$(ref_text_key $KP faq 'How do I open an account?')\", \"stored\": true},
  {\"key\": \"$(jget results | "$NC_PY" -c 'import json,sys; print(json.load(sys.stdin)[1]["key"])')\", \"stored\": true},
  {\"key\": \"$(ref_text_key $KP faq 'Where is my card?')\", \"stored\": true}]}"
K0=$(ref_text_key $KP faq 'How do I open an account?')
check_eq "item 0 is stored as compact JSON" '{"a":1}' "$(rcli GET "$K0")"
T=$(rcli TTL "$K0")
in_range "$T" 118 120 && ok "item 0 has its own ttl (120 s)" || { notok "item 0 ttl"; diag "TTL $T"; }
T=$(rcli TTL "$(ref_text_key $KP faq 'Where is my card?')")
in_range "$T" 295 300 && ok "item 2 has the default ttl (300 s)" || { notok "item 2 ttl"; diag "TTL $T"; }
get_q faq "how do i open an account"
check_status "a single GET finds what _mset wrote (same key)" 200
req GET /cache/faq -G --data-urlencode 'params={"sku":"A1"}' --data-urlencode 'ctx={"locale":"de"}'
check_eq "... for params + ctx too" '[1,2]' "$BODY"
req DELETE "/cache/faq?tag=sku:A1"
check_json_eq "_mset items take tags" '{"deleted": 1}'

# ------------------------------------------------------------------ _mget
rcli HSET "$(ref_text_key $KP faq 'a hash')" f 1 >/dev/null
rcli SET "$(ref_text_key $KP faq 'not json')" 'plain text' >/dev/null
post faq/_mget '{"items": [
  {"q": "HOW do I open an account"},
  {"q": "never written"},
  {"q": "where is my card"},
  {"q": "a hash"},
  {"q": "not json"}]}'
check_status "_mget answers 200" 200
pyresults "$NC_TMP/body" "$K0" <<'PYEOF'
import json, sys
doc = json.load(open(sys.argv[1]))
r = doc.get("results", [])
def out(c, name): print(("OK " if c else "FAIL ") + name)
out(len(r) == 5, "_mget answers one result per item (%d)" % len(r))
out(r and r[0].get("hit") is True and r[0].get("value") == {"a": 1} and r[0].get("key") == sys.argv[2],
    "item 0 is a hit with its value and key")
out(r and isinstance(r[0].get("ttl"), int) and 115 <= r[0]["ttl"] <= 120, "item 0 carries its remaining ttl")
out(len(r) > 1 and r[1] == {"key": r[1].get("key"), "hit": False}, "item 1 (never written) is hit:false")
out(len(r) > 2 and r[2].get("value") == "in the post", "item 2 is a hit, in request order")
out(len(r) > 3 and r[3].get("hit") is False, "a key holding a hash is hit:false, not an error")
out(len(r) > 4 and r[4].get("hit") is False, "a value that is not JSON is hit:false (the answer stays JSON)")
PYEOF
post faq/_mget '{"items": []}'
check_json_eq "an empty _mget answers no results" '{"results": []}'

LONGQ=$("$NC_PY" -c 'print("why " * 1000)')
post faq/_mset "{\"items\":[{\"q\":$(jstr "$LONGQ"),\"value\":7}]}"
check_eq "the body route stores a query too long for a URL (4000 bytes)" true \
    "$(jget results | "$NC_PY" -c 'import json,sys; print(str(json.load(sys.stdin)[0]["stored"]).lower())')"
post faq/_mget "{\"items\":[{\"q\":$(jstr "$LONGQ")}]}"
check_eq "... and reads it back" 7 \
    "$(jget results | "$NC_PY" -c 'import json,sys; print(json.load(sys.stdin)[0].get("value"))')"

# ------------------------------------------------------------------ 400s
BEFORE=$(rcli DBSIZE)
post faq/_mset '{"items": [{"q": "ok", "value": 1}, {"q": "bad", "value": 1, "ttl": 0}, {"q": "x", "value": 2}]}'
expect_problem "an invalid _mset item is a 400 for the whole call" 400 invalid_ttl
check_match "... naming the item's index" '^items\[1\]: ' "$(jget detail)"
check_eq "... and nothing is written" "$BEFORE" "$(rcli DBSIZE)"
post faq/_mget '{"items": [{"q": "ok"}, {"q": "ok"}, {"params": [1]}]}'
expect_problem "an invalid _mget item is a 400" 400 invalid_params
check_match "... naming the item's index" '^items\[2\]: ' "$(jget detail)"
post faq/_mget '{"items": [{"q": "a", "value": 1}]}'
expect_problem "an _mget item with a value is a 400" 400 invalid_body
post faq/_mget '{"items": [{"q": "a", "params": {}}]}'
expect_problem "an item with both q and params is a 400" 400 invalid_request
post faq/_mget '{"things": []}'
expect_problem "a body without items is 400 invalid_body" 400 invalid_body
post faq/_mget '{"items": {}}'
expect_problem "items that is not an array is 400 invalid_body" 400 invalid_body
post faq/_mget '[1]'
expect_problem "a body that is not an object is 400 invalid_body" 400 invalid_body
MANY=$("$NC_PY" -c 'import json; print(json.dumps({"items": [{"q": "q%d" % i} for i in range(21)]}))')
post faq/_mget "$MANY"
expect_problem "more than BATCH_MAX_ITEMS items is 400 too_many_items" 400 too_many_items
post faq/_mget '{"items": [{"q": "a"}'
expect_problem "a body that is not JSON is 400 invalid_json" 400 invalid_json
req POST /cache/faq/_mget -H 'Content-Type: text/plain' --data-binary '{"items": []}'
expect_problem "a batch body that is not application/json is 415" 415
req POST "/cache/faq/_mget?q=x" -H "$JSON_CT" --data-binary '{"items": []}'
expect_problem "a batch call with query parameters is 400" 400 unknown_parameter

# ------------------------------------------------------- methods and paths
req GET /cache/faq/_mget
expect_problem "GET on _mget is 405" 405 method_not_allowed
check_hdr "... with Allow: POST" Allow POST
req POST /cache/faq -H "$JSON_CT" --data-binary '{}'
expect_problem "POST on an entry is 405" 405 method_not_allowed
check_hdr "... with Allow: GET, HEAD, PUT, DELETE" Allow "GET, HEAD, PUT, DELETE"
req POST /cache/faq/_other -H "$JSON_CT" --data-binary '{}'
expect_problem "POST on another sub-path is 405 (the method is checked before the input)" 405 method_not_allowed
req GET /cache/faq/_other
expect_problem "GET on another sub-path is 400 invalid_namespace, as before" 400 invalid_namespace
req POST /cache/fa:q/_mget -H "$JSON_CT" --data-binary '{"items": []}'
expect_problem "a bad namespace before _mget is 400 invalid_namespace" 400 invalid_namespace
req GET /metrics
check_match "metrics count batch calls under their own route" \
    'normcache_http_requests_total\{route="cache_mget",method="POST",code="200"\} [1-9]' "$BODY"

# ------------------------------------------------------------ fail open
start_service KEY_PREFIX=$KP REDIS_ENABLED=false
post faq/_mget '{"items": [{"q": "how do i open an account"}, {"q": "b"}]}'
check_status "_mget with Redis disabled answers 200" 200
check_hdr "... X-Cache: BYPASS" X-Cache BYPASS
check_eq "... every item hit:false" "false false" \
    "$(jget results | "$NC_PY" -c 'import json,sys; print(" ".join(str(i["hit"]).lower() for i in json.load(sys.stdin)))')"
post faq/_mset '{"items": [{"q": "a", "value": 1}]}'
check_hdr "_mset with Redis disabled: X-Cache: BYPASS" X-Cache BYPASS
check_eq "... stored: false" false \
    "$(jget results | "$NC_PY" -c 'import json,sys; print(str(json.load(sys.stdin)[0]["stored"]).lower())')"
start_service KEY_PREFIX=$KP REDIS_URL=redis://127.0.0.1:$(free_port)/0
post faq/_mget '{"items": [{"q": "a"}]}'
check_status "_mget with Redis unreachable answers 200" 200
check_hdr "... X-Cache: BYPASS" X-Cache BYPASS

rcli --scan --pattern "$KP:*" | xargs -r redis-cli -h 127.0.0.1 -p "$NC_TEST_REDIS_PORT" -n "$NC_DB" DEL >/dev/null
finish
