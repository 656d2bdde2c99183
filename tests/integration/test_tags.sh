#!/usr/bin/env bash
# test_tags.sh - tags (surrogate keys, issue 11): PUT bodies take "tags";
# DELETE /cache/<ns>?tag=<tag> deletes every live entry of the namespace
# carrying the tag and nothing else; the tag index is bounded (expires with
# its longest-lived member, dead members trimmed) and holds no raw tag text.
NC_DB=0
KP=tagt # a key prefix of this script's own (database 0 is shared)
. "$(dirname "$0")/lib.sh"

rcli --scan --pattern "$KP:*" | xargs -r redis-cli -h 127.0.0.1 -p "$NC_TEST_REDIS_PORT" -n "$NC_DB" DEL >/dev/null
start_service KEY_PREFIX=$KP

# ------------------------------------------------- 1000 entries, 10 tags
# Entry i carries tag t<i % 10>; every entry whose i % 7 == 0 also carries
# "common". Written and read back over one keep-alive connection.
pyresults "$SVC_PORT" <<'PYEOF'
import http.client, json, sys
port = int(sys.argv[1])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
def call(method, path, body=None):
    h = {"Content-Type": "application/json"} if body is not None else {}
    c.request(method, path, body=json.dumps(body) if body is not None else None, headers=h)
    r = c.getresponse()
    return r.status, r.read()
bad = 0
for i in range(1000):
    tags = ["t%d" % (i % 10)] + (["common"] if i % 7 == 0 else [])
    st, _ = call("PUT", "/cache/faq", {"q": "question %d" % i, "value": {"i": i}, "tags": tags})
    bad += st != 200
print(("OK" if bad == 0 else "FAIL") + " 1000 tagged PUTs answer 200 (%d did not)" % bad)
st, body = call("DELETE", "/cache/faq?tag=t3")
n = json.loads(body).get("deleted") if st == 200 else None
print(("OK" if n == 100 else "FAIL") + " DELETE ?tag=t3 answers 200 {\"deleted\": 100} (got %s %s)" % (st, body[:80]))
wrong = []
for i in range(1000):
    st, _ = call("GET", "/cache/faq?q=question+%d" % i)
    want = 404 if i % 10 == 3 else 200
    if st != want:
        wrong.append((i, st))
print(("OK" if not wrong else "FAIL") + " right after it, exactly the t3 entries miss and all others hit (%d wrong, e.g. %s)" % (len(wrong), wrong[:3]))
st, body = call("DELETE", "/cache/faq?tag=common")
n = json.loads(body).get("deleted") if st == 200 else None
# i % 7 == 0 and i % 10 != 3 (those are gone already): 143 - 14
print(("OK" if n == 129 else "FAIL") + " DELETE ?tag=common deletes the 129 live entries carrying it (got %s)" % n)
st, body = call("DELETE", "/cache/faq?tag=t3")
print(("OK" if st == 200 and json.loads(body) == {"deleted": 0} else "FAIL") + " deleting the same tag again deletes nothing")
PYEOF
check_eq "1000 - 100 - 129 entries remain, plus 9 tag indexes (t3 and common are gone)" \
    $((1000 - 100 - 129 + 9)) "$(rcli --scan --pattern "$KP:faq:*" | wc -l)"
check_eq "no Redis key holds a raw tag text" 0 "$(rcli --scan --pattern "$KP:*common*" | wc -l)"

# ------------------------------------------------- written again without it
put_json news "{\"q\":\"headline\",\"value\":1,\"tags\":[\"story:42\"]}"
check_status "PUT with a tag answers 200" 200
K=$(jget key)
put_json news "{\"q\":\"headline\",\"value\":2}"
req DELETE "/cache/news?tag=story:42"
check_json_eq "an entry written again without the tag no longer carries it" '{"deleted": 0}'
check_eq "... and survives the tag delete" 2 "$(rcli GET "$K")"
put_json news "{\"q\":\"headline\",\"value\":3,\"tags\":[\"story:42\"]}"
req DELETE /cache/news -G --data-urlencode "q=headline"
req DELETE "/cache/news?tag=story:42"
check_json_eq "an entry deleted on its own is not counted by a later tag delete" '{"deleted": 0}'

# ------------------------------------------------- the index stays bounded
put_json short "{\"q\":\"a\",\"value\":1,\"ttl\":1,\"tags\":[\"x\"]}"
TK=$(rcli --scan --pattern "$KP:short:t:*")
check_match "the tag index is <prefix>:<ns>:t:<16 hex>" "^$KP:short:t:[0-9a-f]{16}\$" "$TK"
put_json short "{\"q\":\"b\",\"value\":1,\"ttl\":2,\"tags\":[\"x\"]}"
PT=$(rcli PTTL "$TK")
in_range "$PT" 1500 2000 && ok "the index expires with its longest-lived member (PTTL $PT ms of 2 s)" ||
    { notok "the index expires with its longest-lived member"; diag "PTTL $PT"; }
sleep 1.2
put_json short "{\"q\":\"c\",\"value\":1,\"ttl\":2,\"tags\":[\"x\"]}"
check_eq "a write trims members that are already dead (a is gone from the index)" 2 "$(rcli ZCARD "$TK")"
sleep 2.3
check_eq "after all its entries expired the index is gone too (no memory left)" 0 "$(rcli EXISTS "$TK")"

# ------------------------------------------------- bad tags
put_json faq '{"q":"x","value":1,"tags":"t1"}'
expect_problem "tags that is not an array is 400 invalid_tags" 400 invalid_tags
put_json faq '{"q":"x","value":1,"tags":["ok",1]}'
expect_problem "a tag that is not a string is 400 invalid_tags" 400 invalid_tags
put_json faq '{"q":"x","value":1,"tags":["no spaces"]}'
expect_problem "a tag outside [A-Za-z0-9_.:-] is 400 invalid_tags" 400 invalid_tags
put_json faq "{\"q\":\"x\",\"value\":1,\"tags\":[\"$(printf 'a%.0s' $(seq 129))\"]}"
expect_problem "a tag over 128 characters is 400 invalid_tags" 400 invalid_tags
MANY=$("$NC_PY" -c 'import json; print(json.dumps(["t%d" % i for i in range(33)]))')
put_json faq "{\"q\":\"x\",\"value\":1,\"tags\":$MANY}"
expect_problem "33 tags is 400 invalid_tags" 400 invalid_tags
MAX=$("$NC_PY" -c 'import json; print(json.dumps(["t%d" % i for i in range(32)]))')
put_json faq "{\"q\":\"x32\",\"value\":1,\"tags\":$MAX}"
check_status "32 tags is accepted" 200
req DELETE "/cache/faq?tag=bad%20tag"
expect_problem "DELETE ?tag= with a bad tag is 400 invalid_tag" 400 invalid_tag
req DELETE "/cache/faq?tag=t1&q=x"
expect_problem "DELETE with tag and q together is 400" 400

# ------------------------------------------------- invalidations fail loudly
start_service KEY_PREFIX=$KP REDIS_URL=redis://127.0.0.1:$(free_port)/0
req DELETE "/cache/faq?tag=t1"
check_status "DELETE ?tag= with Redis unreachable is 503" 503
start_service KEY_PREFIX=$KP REDIS_ENABLED=false
req DELETE "/cache/faq?tag=t1"
check_status "DELETE ?tag= with REDIS_ENABLED=false is 503" 503
put_json faq '{"q":"x","value":1,"tags":["t1"]}'
check_eq "a tagged PUT with Redis disabled fails open (stored: false)" false "$(jget stored)"

rcli --scan --pattern "$KP:*" | xargs -r redis-cli -h 127.0.0.1 -p "$NC_TEST_REDIS_PORT" -n "$NC_DB" DEL >/dev/null
finish
