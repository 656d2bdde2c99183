#!/usr/bin/env bash
# test_near_memory.sh - the near cache stays within NEAR_CACHE_MAX_BYTES
# with ten times more hot keys than fit, and the process's memory shows it.
#
# NEAR_CACHE_MAX_BYTES=4 MiB; 2500 entries of 16 KiB (about 40 MiB, ten
# times the budget) written with _mset, then each read three times in
# rounds (a hot set far larger than the cache). Checked: the bytes metric
# never exceeds the budget, entries were evicted, near hits happened, and
# RSS grew by far less than the data read (at most 4 MiB budget + 12 MiB
# for buffers and allocator slack, against 40 MiB read).
set -u
NC_DB=0 # unused: a private redis-server
. "$(dirname "$0")/lib.sh"

metric() {
    curl -s --max-time 5 "http://127.0.0.1:$SVC_PORT/metrics" |
        awk -v k="$1" '$1 == k {print $2; f=1; exit} END {if (!f) print "absent"}'
}
le() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a != "" && a+0 <= b+0)}'; }
rss_kib() { awk '/^VmRSS:/{print $2}' "/proc/$SVC_PID/status"; }

MAX=$((4 * 1024 * 1024))
N=2500
redis_start "" --maxmemory 0 || finish
start_service "REDIS_URL=redis://127.0.0.1:$PRIV_REDIS_PORT/0" NEAR_CACHE=true \
    NEAR_CACHE_MAX_BYTES=$MAX NEAR_CACHE_MAX_TTL_MS=600000 LOG_REQUESTS=false \
    "REDIS_TIMEOUT_MS=$((100 * NC_TIME_SCALE))" || finish

# Warm the buffers with a few keys first, so the baseline has them.
RSS0=""
"$NC_PY" - "$SVC_PORT" "$N" "$NC_TMP/rss" "$SVC_PID" >"$NC_TMP/mem.out" 2>&1 <<'EOF'
import http.client, json, sys
port, n, rssf, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
CT = {"Content-Type": "application/json"}
def rss():
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
val = "x" * (16 * 1024 - 2)
def get(i):
    c.request("GET", "/cache/nearmem?q=k%d" % i)
    r = c.getresponse()
    r.read()
    return r.status, r.getheader("Cache-Status") or ""
for b in range(0, n, 50):
    items = [{"q": "k%d" % i, "value": val, "ttl": 600} for i in range(b, min(n, b + 50))]
    c.request("POST", "/cache/nearmem/_mset", body=json.dumps({"items": items}), headers=CT)
    r = c.getresponse()
    r.read()
    assert r.status == 200, r.status
for i in range(20):
    get(i); get(i)
base = rss()
statuses, near = {}, 0
for rnd in range(3):
    for i in range(n):
        st, cs = get(i)
        statuses[st] = statuses.get(st, 0) + 1
        near += "detail=near" in cs
# Hot keys: the same 100 read again and again are served near.
hot_near = 0
for rnd in range(5):
    for i in range(100):
        hot_near += "detail=near" in get(i)[1]
after = rss()
open(rssf, "w").write("%d %d\n" % (base, after))
print("statuses=%s" % ",".join("%s:%d" % kv for kv in sorted(statuses.items())))
print("near=%d" % near)
print("hot_near=%d" % hot_near)
EOF
diag "$(tr '\n' ' ' <"$NC_TMP/mem.out")"
check_eq "all $((3 * N)) reads answered 200" "statuses=200:$((3 * N))" "$(sed -n 's/^statuses=/statuses=/p' "$NC_TMP/mem.out")"
read -r RSS0 RSS1 <"$NC_TMP/rss"
BYTES=$(metric normcache_near_bytes)
check "near bytes ($BYTES) within NEAR_CACHE_MAX_BYTES ($MAX)" le "$BYTES" "$MAX"
check "near bytes hold a good part of the budget (> 50 %)" le $((MAX / 2)) "$BYTES"
check "entries were evicted" le 1 "$(metric normcache_near_evictions_total)"
check "near hits happened" le 1 "$(metric normcache_near_hits_total)"
check "a hot set of 100 keys read 5 times is mostly served near (>= 350 of 500; the first round fills)" \
    le 350 "$(sed -n 's/^hot_near=//p' "$NC_TMP/mem.out")"
GROWTH=$((RSS1 - RSS0))
diag "RSS ${RSS0} KiB -> ${RSS1} KiB (+${GROWTH} KiB) after reading $((N * 16 / 1024)) MiB of values 3 times; near bytes $BYTES, entries $(metric normcache_near_entries)"
if [ "$NC_TIME_SCALE" = 1 ]; then
    check "RSS grew by at most 16 MiB (budget 4 MiB) while ~40 MiB of values were read" le "$GROWTH" $((16 * 1024))
else # a sanitizer's shadow memory grows with every byte touched
    ok "RSS growth not judged under a sanitizer (NC_TIME_SCALE=$NC_TIME_SCALE)"
fi
finish
