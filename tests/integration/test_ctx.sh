#!/usr/bin/env bash
# test_ctx.sh - context dimensions (issue 11): `ctx`, a JSON object beside q
# or params (PUT body member, GET/DELETE ?ctx=), is canonicalised like params
# and mixed into the key: another ctx is another entry, the same members in
# another order are the same entry, and no ctx is exactly today's key.
NC_DB=0
KP=ctxt # a key prefix of this script's own (database 0 is shared)
. "$(dirname "$0")/lib.sh"

# ref_ctx_key KIND NS TEXT CTX_JSON: the reference key, in Python: the
# normalised query (text mode) or canonical params, "\nctx=", canonical ctx.
ref_ctx_key() {
    "$NC_PY" - "$KP" "$@" <<'PYEOF'
import hashlib, json, sys, unicodedata
prefix, kind, ns, text, ctx = sys.argv[1:6]
if kind == "q":
    t = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    t = " ".join(t.split())
    trim = lambda c: unicodedata.category(c).startswith("P") or c.isspace()
    while t and trim(t[0]):
        t = t[1:]
    while t and trim(t[-1]):
        t = t[:-1]
    mid = ""
else:
    t = json.dumps(json.loads(text), sort_keys=True)
    mid = "p:"
if ctx:
    t += "\nctx=" + json.dumps(json.loads(ctx), sort_keys=True)
print("%s:%s:%s%s" % (prefix, ns, mid, hashlib.sha256(t.encode()).hexdigest()[:16]))
PYEOF
}

rcli --scan --pattern "$KP:*" | xargs -r redis-cli -h 127.0.0.1 -p "$NC_TEST_REDIS_PORT" -n "$NC_DB" DEL >/dev/null
start_service KEY_PREFIX=$KP

Q="Which model answered?"
CTX_A='{"model": "gpt-x", "prompt_version": 3, "locale": "de-DE"}'
CTX_A2='{"locale": "de-DE", "prompt_version": 3, "model": "gpt-x"}'
CTX_B='{"model": "gpt-y", "prompt_version": 3, "locale": "de-DE"}'

# ------------------------------------------------------------- q + ctx
put_json faq "{\"q\":$(jstr "$Q"),\"ctx\":$CTX_A,\"value\":{\"answer\":\"A\"}}"
check_status "PUT with ctx answers 200" 200
KEY_A=$(jget key)
check_eq "the key mixes the canonical ctx in (Python reference)" \
    "$(ref_ctx_key q faq "$Q" "$CTX_A")" "$KEY_A"
check_eq "the value is stored under that key" '{"answer":"A"}' "$(rcli GET "$KEY_A")"

req GET /cache/faq -G --data-urlencode "q=$Q" --data-urlencode "ctx=$CTX_A2"
check_status "GET with the same ctx members in another order is a hit" 200
check_hdr "... on the same key" X-Cache-Key "$KEY_A"
check_eq "... with the stored value" '{"answer":"A"}' "$BODY"

req GET /cache/faq -G --data-urlencode "q=$Q" --data-urlencode "ctx=$CTX_B"
check_status "GET with another ctx (another model) is a miss" 404
check_hdr "... MISS" X-Cache MISS
check_ne "... under another key" "$KEY_A" "$(hdr X-Cache-Key)"

get_q faq "$Q"
check_status "GET without ctx is a miss (another entry)" 404
check_eq "no ctx is exactly today's key" "$(ref_ctx_key q faq "$Q" "")" "$(hdr X-Cache-Key)"
check_eq "... which is the plain text-mode key" "$(ref_text_key "$KP" faq "$Q")" "$(hdr X-Cache-Key)"

req GET /cache/faq -G --data-urlencode "q=$Q" --data-urlencode "ctx={}"
check_eq "an empty ctx object is a context of its own (not today's key)" \
    "$(ref_ctx_key q faq "$Q" "{}")" "$(hdr X-Cache-Key)"

# ------------------------------------------------------------- params + ctx
P='{"sku": "A1", "currency": "EUR"}'
put_json prices "{\"params\":$P,\"ctx\":{\"tenant\":\"t1\"},\"value\":42}"
check_status "PUT params with ctx answers 200" 200
check_eq "the params key mixes the ctx in (Python reference)" \
    "$(ref_ctx_key p prices "$P" '{"tenant":"t1"}')" "$(jget key)"
req GET /cache/prices -G --data-urlencode "params=$P" --data-urlencode 'ctx={"tenant":"t1"}'
check_status "GET params with the same ctx is a hit" 200
check_eq "... 42" 42 "$BODY"
req GET /cache/prices -G --data-urlencode "params=$P" --data-urlencode 'ctx={"tenant":"t2"}'
check_status "another tenant is a miss" 404

# ------------------------------------------------------------- DELETE
put_json faq "{\"q\":$(jstr "$Q"),\"ctx\":$CTX_B,\"value\":\"B\"}"
req DELETE /cache/faq -G --data-urlencode "q=$Q" --data-urlencode "ctx=$CTX_A2"
check_status "DELETE with ctx answers 200" 200
check_json_eq "... and deletes that entry" '{"deleted": 1}'
check_eq "the entry of ctx A is gone" 0 "$(rcli EXISTS "$KEY_A")"
req GET /cache/faq -G --data-urlencode "q=$Q" --data-urlencode "ctx=$CTX_B"
check_status "the entry of ctx B is untouched" 200

# ------------------------------------------------------------- bad ctx
req GET /cache/faq -G --data-urlencode "q=$Q" --data-urlencode 'ctx=[1,2]'
expect_problem "GET ctx that is an array is 400 invalid_ctx" 400 invalid_ctx
req GET /cache/faq -G --data-urlencode "q=$Q" --data-urlencode 'ctx="model"'
expect_problem "GET ctx that is a string is 400 invalid_ctx" 400 invalid_ctx
req GET /cache/faq -G --data-urlencode "q=$Q" --data-urlencode 'ctx={"model":'
expect_problem "GET ctx that is not JSON is 400 invalid_ctx" 400 invalid_ctx
req GET /cache/faq -G --data-urlencode "q=$Q" --data-urlencode 'ctx={"a":1,"a":2}'
expect_problem "GET ctx with a duplicate member is 400 invalid_ctx" 400 invalid_ctx
req GET /cache/faq -G --data-urlencode "q=$Q" --data-urlencode 'ctx={"n":9007199254740993}'
expect_problem "GET ctx with an integer beyond 2^53 is 400 invalid_number" 400 invalid_number
req GET "/cache/faq?q=x&ctx=%7B%22a%22%3A%22%00%22%7D"
expect_problem "GET ctx with a NUL byte is 400" 400 invalid_ctx
req GET /cache/faq -G --data-urlencode "q=$Q" --data-urlencode 'ctx={}' --data-urlencode 'ctx={}'
expect_problem "GET ctx given twice is 400 duplicate_parameter" 400 duplicate_parameter
LONG=$("$NC_PY" -c 'import json; print(json.dumps({"k": "x" * 5000}))')
req GET /cache/faq -G --data-urlencode "q=$Q" --data-urlencode "ctx=$LONG"
expect_problem "GET ctx longer than MAX_QUERY_BYTES is 414" 414 query_too_long
put_json faq "{\"q\":$(jstr "$Q"),\"ctx\":\"model\",\"value\":1}"
expect_problem "PUT ctx that is not an object is 400 invalid_ctx" 400 invalid_ctx
put_json faq "{\"q\":$(jstr "$Q"),\"ctx\":$LONG,\"value\":1}"
expect_problem "PUT ctx whose canonical form is over MAX_QUERY_BYTES is 414" 414 query_too_long
DEEP=$("$NC_PY" -c 'print("{\"a\":" * 33 + "1" + "}" * 33)')
req GET /cache/faq -G --data-urlencode "q=$Q" --data-urlencode "ctx=$DEEP"
expect_problem "GET ctx nested deeper than 32 is 400 invalid_ctx" 400 invalid_ctx
check_eq "no bad request wrote anything (ctx B and the prices entry remain)" 2 "$(rcli --scan --pattern "$KP:*" | wc -l)"

finish
