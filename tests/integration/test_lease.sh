#!/usr/bin/env bash
# test_lease.sh - cache leases (issue 11), against a real redis-server and
# two service instances sharing it: one lease per cold key across instances,
# waiters answered by the holder's write (collapsed), the next lease to
# exactly one waiter when the holder's lease expires or is released, the
# stale-set race closed by DELETE, 409 lease_lost, wait timeouts, fail open.
NC_DB=0
KP=lse # a key prefix of this script's own (database 0 and pub/sub are shared)
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"

rcli --scan --pattern "$KP:*" | xargs -r redis-cli -h 127.0.0.1 -p "$NC_TEST_REDIS_PORT" -n "$NC_DB" DEL >/dev/null
COMMON=("KEY_PREFIX=$KP" LOG_REQUESTS=false THREADS=2)
start_service "${COMMON[@]}" LEASE_TTL_MS=1500 || finish
start_second_service "${COMMON[@]}" LEASE_TTL_MS=1500 || finish
ACQ='Cache-Lease: acquire'
# put_lease NS BODY TOKEN: PUT with a Cache-Lease token.
put_lease() { req PUT "/cache/$1" -H "$JSON_CT" -H "Cache-Lease: $3" --data-binary "$2"; }

# ------------------------------------------------------------- basics
req GET /cache/faq -G --data-urlencode 'q=cold one' -H "$ACQ"
expect_problem "a miss with Cache-Lease: acquire is 404 cache_miss" 404 cache_miss
check_hdr "... X-Cache: MISS" X-Cache MISS
TOKEN=$(hdr Cache-Lease)
check_match "... with a lease token of >= 128 random bits" '^[A-Za-z0-9_-]{22,64}$' "$TOKEN"
check_hdr "... and its TTL" Cache-Lease-TTL 1500
KEY=$(hdr X-Cache-Key)
check_eq "the lease lives in Redis as <key>:lease" "$TOKEN" "$(rcli GET "$KEY:lease")"
put_lease faq "{\"q\":\"cold one\",\"value\":{\"v\":1}}" "$TOKEN"
check_status "the holder's PUT with its token answers 200" 200
check_eq "... stored" true "$(jget stored)"
check_eq "... and the lease is gone" 0 "$(rcli EXISTS "$KEY:lease")"
req GET /cache/faq -G --data-urlencode 'q=cold one' -H "$ACQ"
check_status "a hit with Cache-Lease: acquire is an ordinary hit" 200
check_eq "... without a lease" "" "$(hdr Cache-Lease)"

# ------------------------------------------- 200 callers over two instances
pyresults "$SVC_PORT" "$SVC2_PORT" <<'PYEOF'
import http.client, json, sys, threading, time, urllib.parse
ports = [int(sys.argv[1]), int(sys.argv[2])]
path = "/cache/faq?" + urllib.parse.urlencode({"q": "the storm question"})
res = [None] * 200
ready = threading.Barrier(201)
def one(i):
    c = http.client.HTTPConnection("127.0.0.1", ports[i % 2], timeout=20)
    c.connect()
    ready.wait()
    c.request("GET", path, headers={"Cache-Lease": "acquire"})
    r = c.getresponse()
    body = r.read()
    res[i] = (r.status, r.getheader("Cache-Lease"), r.getheader("Cache-Status"), body, time.time())
ts = [threading.Thread(target=one, args=(i,)) for i in range(200)]
for t in ts: t.start()
ready.wait()
time.sleep(0.5)  # every request is in by now: one holder, 199 waiting
holders = [i for i, r in enumerate(res) if r and r[1]]
def out(c, name): print(("OK " if c else "FAIL ") + name)
out(len(holders) == 1, "200 concurrent acquires over two instances: exactly one lease granted (%d)" % len(holders))
answered = sum(1 for r in res if r)
out(answered == 1, "the other 199 are still waiting, holding no answer (%d answered)" % answered)
if holders:
    h = holders[0]
    c = http.client.HTTPConnection("127.0.0.1", ports[h % 2], timeout=10)
    body = json.dumps({"q": "the storm question", "value": {"answer": 42}})
    t_put = time.time()
    c.request("PUT", "/cache/faq", body=body, headers={"Content-Type": "application/json", "Cache-Lease": res[h][1]})
    st = c.getresponse().status
    out(st == 200, "the holder's PUT answers 200")
for t in ts: t.join()
others = [r for i, r in enumerate(res) if holders and i != holders[0]]
ok = [r for r in others if r and r[0] == 200 and json.loads(r[3]) == {"answer": 42}]
out(len(ok) == 199, "all 199 waiters answer 200 with the holder's value (%d)" % len(ok))
coll = [r for r in others if r and r[2] == "normcache; hit; detail=collapsed"]
out(len(coll) == 199, "... each with Cache-Status: normcache; hit; detail=collapsed (%d)" % len(coll))
if holders and others and all(others):
    last = max(r[4] for r in others) - t_put
    print("DIAG measured: from the holder's PUT to the last of 199 waiters' answers: %.1f ms" % (last * 1000))
    out(last < 1.0, "the last waiter answers within 1 s of the PUT (%.1f ms; the safety-net poll is 250 ms)" % (last * 1000))
PYEOF

# --------------------------------------------- a holder that never writes
pyresults "$SVC_PORT" "$SVC2_PORT" <<'PYEOF'
import http.client, sys, threading, time, urllib.parse
ports = [int(sys.argv[1]), int(sys.argv[2])]
path = "/cache/faq?" + urllib.parse.urlencode({"q": "abandoned"})
def get(port, hdr):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    c.request("GET", path, headers=hdr)
    r = c.getresponse(); r.read()
    return r.status, r.getheader("Cache-Lease"), time.time()
def out(c, name): print(("OK " if c else "FAIL ") + name)
t0 = time.time()
st, tok, _ = get(ports[0], {"Cache-Lease": "acquire"})
out(st == 404 and tok, "the first caller gets the lease")
res = []
lock = threading.Lock()
def waiter(i):
    r = get(ports[i % 2], {"Cache-Lease": "acquire"})
    with lock: res.append(r)
ts = [threading.Thread(target=waiter, args=(i,)) for i in range(10)]
for t in ts: t.start()
time.sleep(2.2)  # LEASE_TTL_MS is 1500: the lease has expired by now
with lock:
    got = [r for r in res if r[1]]
    out(len(res) == 1 and len(got) == 1, "after the holder's lease expired exactly one of 10 waiters got the next lease (%d answered, %d leases)" % (len(res), len(got)))
    if got:
        print("DIAG measured: next lease %.0f ms after the first was granted (LEASE_TTL_MS 1500)" % ((got[0][2] - t0) * 1000))
        out(1.4 <= got[0][2] - t0 <= 2.0, "... when the expired lease ran out (%.2f s)" % (got[0][2] - t0))
    tok2 = got[0][1] if got else None
# The new holder releases (its computation failed): the next waiter gets a lease at once.
c = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=10)
t_rel = time.time()
c.request("DELETE", path, headers={"Cache-Lease": tok2 or "x" * 22})
r = c.getresponse(); r.read()
out(r.status == 204, "DELETE with the holder's token releases the lease: 204 (%d)" % r.status)
time.sleep(0.15)
with lock:
    got = [x for x in res if x[1]]
    out(len(got) == 2 and len(res) == 2, "a release hands the next lease to exactly one waiter at once (%d leases within 150 ms)" % len(got))
    if len(got) == 2:
        print("DIAG measured: release to next lease: %.1f ms" % ((got[1][2] - t_rel) * 1000))
c.request("DELETE", path, headers={"Cache-Lease": tok2 or "x" * 22})
r = c.getresponse(); r.read()
out(r.status == 409, "releasing a lease the token no longer holds is 409 (%d)" % r.status)
# finish the others: a plain PUT ends every wait with the value
c.request("PUT", "/cache/faq", body='{"q":"abandoned","value":1}', headers={"Content-Type": "application/json"})
c.getresponse().read()
for t in ts: t.join()
out(len(res) == 10 and all(x[0] in (200, 404) for x in res), "every waiter answered (%d)" % len(res))
PYEOF

# ------------------------------------------------------ the stale-set race
req GET /cache/faq -G --data-urlencode 'q=racy' -H "$ACQ"
T=$(hdr Cache-Lease)
K=$(hdr X-Cache-Key)
req DELETE /cache/faq -G --data-urlencode 'q=racy'
check_status "DELETE while a lease is out answers 200" 200
put_lease faq '{"q":"racy","value":"computed before the delete"}' "$T"
expect_problem "the holder's PUT after a DELETE is 409 lease_lost" 409 lease_lost
check_eq "... and the key stays absent" 0 "$(rcli EXISTS "$K")"

req GET /cache/faq -G --data-urlencode 'q=overwritten' -H "$ACQ"
T=$(hdr Cache-Lease)
put_json faq '{"q":"overwritten","value":"plain"}'
check_status "a PUT without a token while a lease is out is stored" 200
put_lease faq '{"q":"overwritten","value":"late"}' "$T"
expect_problem "... and ends the lease: its holder's PUT is 409" 409 lease_lost
get_q faq overwritten
check_eq "the plain PUT's value stays" '"plain"' "$BODY"

put_lease faq '{"q":"x","value":1}' "not a token"
expect_problem "a malformed Cache-Lease on PUT is 400 invalid_lease" 400 invalid_lease
put_lease faq '{"q":"never leased","value":1}' "AAAAAAAAAAAAAAAAAAAAAAAA"
expect_problem "a PUT with a token that holds no lease is 409" 409 lease_lost

# ------------------------------------------------------- wait timeout
start_service "${COMMON[@]}" LEASE_TTL_MS=10000 LEASE_WAIT_MS=400 || finish
req GET /cache/faq -G --data-urlencode 'q=slow' -H "$ACQ"
req GET /cache/faq -G --data-urlencode 'q=slow' -H "$ACQ"
expect_problem "a waiter whose holder neither writes nor releases gives up: 404 lease_wait_timeout" 404 lease_wait_timeout
in_range "${TIME%.*}" 0 1 && ok "... after LEASE_WAIT_MS ($TIME s)" || { notok "... after LEASE_WAIT_MS"; diag "$TIME"; }
check_eq "... without a lease" "" "$(hdr Cache-Lease)"
req GET /metrics
for ev in granted collapsed wait_timeout lost; do
    check_match "metrics count leases: $ev" "normcache_cache_leases_total\\{event=\"$ev\"\\} [0-9]+" "$BODY"
done
check_match "... a wait timeout was counted" 'normcache_cache_leases_total\{event="wait_timeout"\} [1-9]' "$BODY"

# ------------------------------------------------- shutdown with a waiter
start_service "${COMMON[@]}" LEASE_TTL_MS=10000 SHUTDOWN_GRACE_MS=400 || finish
req GET /cache/faq -G --data-urlencode 'q=at shutdown' -H "$ACQ"
check_hdr "a lease is out before the stop" X-Cache MISS
curl -s -o "$NC_TMP/w.body" -w '%{http_code}' --max-time 10 -G -H "$ACQ" \
    --data-urlencode 'q=at shutdown' "http://127.0.0.1:$SVC_PORT/cache/faq" >"$NC_TMP/w.status" &
WPID=$!
sleep 0.3
stop_service
wait "$WPID"
check_eq "SIGTERM answers a lease waiter 503" 503 "$(cat "$NC_TMP/w.status")"
check_eq "... shutting_down" shutting_down "$(jget code "$NC_TMP/w.body")"

# ------------------------------------------------------------ fail open
start_service "${COMMON[@]}" REDIS_URL=redis://127.0.0.1:$(free_port)/0 || finish
req GET /cache/faq -G --data-urlencode 'q=x' -H "$ACQ"
check_status "Redis unreachable: a lease GET is 404" 404
check_hdr "... X-Cache: BYPASS" X-Cache BYPASS
check_eq "... and no lease (the caller computes)" "" "$(hdr Cache-Lease)"
start_service "${COMMON[@]}" REDIS_ENABLED=false || finish
req GET /cache/faq -G --data-urlencode 'q=x' -H "$ACQ"
check_hdr "REDIS_ENABLED=false: BYPASS" X-Cache BYPASS
check_eq "... no lease" "" "$(hdr Cache-Lease)"

stop_second_service
rcli --scan --pattern "$KP:*" | xargs -r redis-cli -h 127.0.0.1 -p "$NC_TEST_REDIS_PORT" -n "$NC_DB" DEL >/dev/null
finish
