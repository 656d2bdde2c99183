#!/usr/bin/env bash
# test_metrics.sh - GET /metrics after known traffic: a scrape passes
# `promtool check metrics`; normcache_http_requests_total{route,method,code}
# moves by exactly the requests sent; the duration histogram has every bucket
# (100 us .. 10 s, +Inf) per route, consistent with the counters; cache
# results by namespace and result; at most 64 namespace labels plus _other
# after 80 namespaces; Redis and breaker gauges; upstream counters (ok, error,
# timeout, coalesced); build_info with the binary's version.
#
# Counters are compared as deltas between two scrapes around the traffic, so
# the requests start_service makes (its /healthz polling) do not matter.
NC_DB=12
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"

if ! command -v promtool >/dev/null; then
    notok "promtool is installed (Debian package prometheus; make deps)"
    exit 1
fi

# prom.py: a Prometheus text-format reader for the checks below.
cat >"$NC_TMP/prom.py" <<'PYEOF'
import re, sys

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$')
LABEL = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?')

def parse(path):
    """{(name, frozenset(labels.items())): float}"""
    out = {}
    for raw in open(path, encoding="utf-8"):
        raw = raw.rstrip("\n")
        if not raw or raw.startswith("#"):
            continue
        m = LINE.match(raw)
        if not m:
            raise ValueError("unparsable line: %r" % raw)
        name, lab, val = m.group(1), m.group(2) or "", m.group(3)
        labels = {}
        pos = 0
        while pos < len(lab):
            lm = LABEL.match(lab, pos)
            if not lm:
                raise ValueError("bad labels: %r" % raw)
            labels[lm.group(1)] = lm.group(2)
            pos = lm.end()
        out[(name, frozenset(labels.items()))] = float(val)
    return out

def select(d, name, **want):
    return {dict(k[1]).__repr__(): v for k, v in d.items()
            if k[0] == name and all(dict(k[1]).get(a) == b for a, b in want.items())}

def get(d, name, **labels):
    return d.get((name, frozenset(labels.items())))

if __name__ == "__main__":
    # prom.py get FILE NAME [k=v]...: the value (as an integer when whole), or "absent".
    d = parse(sys.argv[2])
    labels = dict(a.split("=", 1) for a in sys.argv[4:])
    v = get(d, sys.argv[3], **labels)
    print("absent" if v is None else (int(v) if v == int(v) else v))
PYEOF
mval() { python3 "$NC_TMP/prom.py" get "$@"; }

# scrape FILE: GET /metrics into FILE (also checks status and content type
# once, for the first scrape).
SCRAPES=0
scrape() {
    req GET /metrics
    cp "$NC_TMP/body" "$1"
    SCRAPES=$((SCRAPES + 1))
    if [ "$SCRAPES" = 1 ]; then
        check_status "GET /metrics answers 200" 200
        check_match "GET /metrics has Content-Type text/plain; version=0.0.4" \
            '^text/plain; *version=0\.0\.4' "$(hdr Content-Type)"
    elif [ "$STATUS" != 200 ]; then
        notok "GET /metrics answers 200 (scrape $SCRAPES)"
        diag_last
    fi
}


# ---------------------------------------------------------------------------
# Set-up
# ---------------------------------------------------------------------------
start_stub STUB_LATENCY_MS=10 || finish
start_service "UPSTREAM_URL=$STUB_URL" UPSTREAM_TIMEOUT_MS=1000 EARLY_REFRESH_BETA=0 \
    LOG_REQUESTS=false || finish
NS=mns1

A=$NC_TMP/scrape-a.txt
B=$NC_TMP/scrape-b.txt
C=$NC_TMP/scrape-c.txt
scrape "$A"

# ---------------------------------------------------------------------------
# Traffic, with the exact label set each request must count under.
# ---------------------------------------------------------------------------
EXPECT=$NC_TMP/expected
: >"$EXPECT"
# sent ROUTE METHOD CODE: records one expected count; complains when the
# request did not get the status the expectation assumes (the test's
# premise, reported separately).
PREMISE_BAD=""
sent() {
    echo "$1 $2 $3" >>"$EXPECT"
    [ "$STATUS" = "$3" ] || PREMISE_BAD="$PREMISE_BAD [$LAST_REQ -> $STATUS, wanted $3]"
}

for q in "metrics q one" "metrics q two" "metrics q three"; do
    put_q "$NS" "$q" '{"v":1}' 300
    sent cache_put PUT 200
done
for q in "metrics q one" "metrics q one" "metrics q two" "metrics q three"; do
    get_q "$NS" "$q"
    sent cache_get GET 200
done
req HEAD "/cache/$NS?q=metrics+q+two" -I
sent cache_get HEAD 200
for i in 1 2 3 4 5; do
    get_q "$NS" "metrics miss $i"
    sent cache_get GET 404
done
req GET "/cache/$NS"
sent cache_get GET 400
req GET /nope
sent other GET 404
req GET /nope/either
sent other GET 404
req GET /readyz
sent health GET 200
del_q "$NS" "metrics q one"
sent cache_delete DELETE 200
del_ns "$NS"
sent cache_flush DELETE 200

# Recommendations: a miss (upstream ok), then a hit.
req GET /products/recommendations -G --data-urlencode "query=metrics shoes"
sent recommendations GET 200
req GET /products/recommendations -G --data-urlencode "query=metrics shoes"
sent recommendations GET 200
check_eq "the second recommendations request is a hit" HIT "$(hdr X-Cache)"
req GET /products/recommendations
sent recommendations GET 400
# Three concurrent requests for one cold key while the upstream takes
# 500 ms: one upstream call, two coalesced.
stub_mode_json '{"mode":"ok","latency_ms":500}'
build_load_tool || finish
calls0=$(stub_calls)
"$NC_LOAD" -n 3 -c 3 "http://127.0.0.1:$SVC_PORT/products/recommendations?query=metrics+coalesced" >"$NC_TMP/coal.txt"
calls1=$(stub_calls)
check_eq "3 concurrent requests on a cold key make 1 upstream call" 1 $((calls1 - calls0))
if grep -qx 'status_200=3' "$NC_TMP/coal.txt"; then
    for i in 1 2 3; do echo "recommendations GET 200" >>"$EXPECT"; done
else
    PREMISE_BAD="$PREMISE_BAD [3 concurrent recommendations: $(grep '^status_' "$NC_TMP/coal.txt" | tr '\n' ' ')]"
fi
# Upstream error (502) and timeout (504 after UPSTREAM_TIMEOUT_MS=1000).
stub_mode_json '{"mode":"fail","latency_ms":0}'
req GET /products/recommendations -G --data-urlencode "query=metrics failing"
sent recommendations GET 502
stub_mode_json '{"mode":"ok","latency_ms":1500}'
req GET /products/recommendations -G --data-urlencode "query=metrics slow"
sent recommendations GET 504
stub_mode_json '{"mode":"ok","latency_ms":10}'

if [ -z "$PREMISE_BAD" ]; then
    ok "the traffic got the statuses the counts below assume"
else
    notok "the traffic got the statuses the counts below assume"
    diag "$PREMISE_BAD"
fi

scrape "$B"

# ---------------------------------------------------------------------------
# promtool, format
# ---------------------------------------------------------------------------
if promtool check metrics <"$B" >"$NC_TMP/promtool.out" 2>&1; then
    ok "promtool check metrics accepts the scrape"
else
    notok "promtool check metrics accepts the scrape"
    while IFS= read -r l; do diag "$l"; done < <(head -n 20 "$NC_TMP/promtool.out")
fi

# ---------------------------------------------------------------------------
# Counters and histogram
# ---------------------------------------------------------------------------
pyresults "$NC_TMP/prom.py" "$A" "$B" "$EXPECT" <<'PYEOF'
import collections, sys
sys.path.insert(0, __import__("os").path.dirname(sys.argv[1]))
import prom
a, b = prom.parse(sys.argv[2]), prom.parse(sys.argv[3])
expected = collections.Counter()
for line in open(sys.argv[4]):
    if line.strip():
        expected[tuple(line.split())] += 1
# The first scrape itself is counted by the second one.
expected[("metrics", "GET", "200")] += 1

ROUTES = {"cache_get", "cache_put", "cache_delete", "cache_flush", "recommendations",
          "health", "metrics", "other"}
N = "normcache_http_requests_total"

def series(d, name):
    return {dict(k[1]).get("route", ""): None for k in d if k[0] == name}

def req_delta():
    out = collections.Counter()
    keys = {k for k in list(a) + list(b) if k[0] == N}
    for k in keys:
        l = dict(k[1])
        dv = b.get(k, 0) - a.get(k, 0)
        if dv:
            out[(l.get("route"), l.get("method"), l.get("code"))] += int(dv)
    return out

bad_labels = []
for k in b:
    if k[0] == N:
        l = dict(k[1])
        if set(l) != {"route", "method", "code"} or l["route"] not in ROUTES:
            bad_labels.append(str(l))
if bad_labels:
    print("FAIL %s series have exactly the labels route (a known route), method, code" % N)
    for x in bad_labels[:5]:
        print("DIAG " + x)
else:
    print("OK %s series have exactly the labels route (a known route), method, code" % N)

got = req_delta()
if got == expected:
    print("OK %s moved by exactly the traffic sent (%d label sets, %d requests)"
          % (N, len(expected), sum(expected.values())))
else:
    print("FAIL %s moved by exactly the traffic sent" % N)
    for k in sorted(set(got) | set(expected)):
        if got[k] != expected[k]:
            print("DIAG {route=%s,method=%s,code=%s}: expected +%d, got +%d"
                  % (k + (expected[k], got[k])))

# Histogram by route.
H = "normcache_http_request_duration_seconds"
LES = ["0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
       "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"]
per_route = collections.Counter()
for (r, m, c), n in expected.items():
    per_route[r] += n
errs = []
for r in sorted(ROUTES):
    bk = {dict(k[1]).get("le"): v for k, v in b.items()
          if k[0] == H + "_bucket" and dict(k[1]).get("route") == r}
    bka = {dict(k[1]).get("le"): v for k, v in a.items()
           if k[0] == H + "_bucket" and dict(k[1]).get("route") == r}
    if not bk:
        if per_route[r]:
            errs.append("route %s: no %s_bucket series" % (r, H))
        continue
    les = sorted(bk, key=lambda x: float("inf") if x == "+Inf" else float(x))
    if les != LES:
        errs.append("route %s: buckets %s, expected %s" % (r, les, LES))
        continue
    vals = [bk[x] for x in LES]
    if any(vals[i] > vals[i + 1] for i in range(len(vals) - 1)):
        errs.append("route %s: buckets not cumulative: %s" % (r, vals))
    cnt = prom.get(b, H + "_count", route=r)
    cnta = prom.get(a, H + "_count", route=r) or 0
    sm = prom.get(b, H + "_sum", route=r)
    if cnt is None or sm is None:
        errs.append("route %s: _count or _sum missing" % r)
        continue
    if vals[-1] != cnt:
        errs.append("route %s: +Inf bucket %s != _count %s" % (r, vals[-1], cnt))
    if cnt - cnta != per_route[r]:
        errs.append("route %s: _count moved by %d, requests sent %d" % (r, cnt - cnta, per_route[r]))
    if sm < 0:
        errs.append("route %s: negative _sum" % r)
if errs:
    print("FAIL %s has buckets 100us..10s and +Inf per route, cumulative, +Inf == _count == requests" % H)
    for e in errs[:10]:
        print("DIAG " + e)
else:
    print("OK %s has buckets 100us..10s and +Inf per route, cumulative, +Inf == _count == requests" % H)

# Durations are real: 4 recommendation answers took >= 400 ms (3 coalesced
# on a 500 ms upstream, one 504 after 1 s), the PUT/GET answers are fast.
def bucket_delta(r, le):
    return (prom.get(b, H + "_bucket", route=r, le=le) or 0) - (prom.get(a, H + "_bucket", route=r, le=le) or 0)
slow = per_route["recommendations"] - bucket_delta("recommendations", "0.25")
if slow >= 4:
    print("OK recommendations durations land in buckets above 0.25 s for the slow answers (%d)" % slow)
else:
    print("FAIL recommendations durations land in buckets above 0.25 s for the slow answers")
    print("DIAG %d requests above 0.25 s, expected at least 4" % slow)
fast = bucket_delta("cache_get", "0.1")
if fast == per_route["cache_get"]:
    print("OK cache_get durations are all under 0.1 s")
else:
    print("FAIL cache_get durations are all under 0.1 s")
    print("DIAG %d of %d under 0.1 s" % (fast, per_route["cache_get"]))
PYEOF

# ---------------------------------------------------------------------------
# Cache results, Redis and breaker gauges, upstream counters, build_info
# ---------------------------------------------------------------------------
d() { # NAME LABELS...: delta between scrapes A and B
    local x y
    x=$(mval "$A" "$@")
    y=$(mval "$B" "$@")
    [ "$x" = absent ] && x=0
    [ "$y" = absent ] && {
        echo absent
        return
    }
    echo $((y - x))
}
R=normcache_cache_results_total
check_eq "$R{namespace=$NS,result=hit} +5 (4 GET, 1 HEAD)" 5 "$(d $R namespace=$NS result=hit)"
check_eq "$R{namespace=$NS,result=miss} +5" 5 "$(d $R namespace=$NS result=miss)"
check_eq "$R{namespace=$NS,result=bypass} +0" 0 "$(d $R namespace=$NS result=bypass)"
check_eq "$R{namespace=recommendations,result=miss} +4 (1 alone, 3 coalesced)" 4 \
    "$(d $R namespace=recommendations result=miss)"
check_eq "$R{namespace=recommendations,result=hit} +1" 1 "$(d $R namespace=recommendations result=hit)"
check_eq "$R{namespace=recommendations,result=stale} +0" 0 "$(d $R namespace=recommendations result=stale)"

U=normcache_upstream_requests_total
check_eq "$U{result=ok} +2" 2 "$(d $U result=ok)"
check_eq "$U{result=error} +1" 1 "$(d $U result=error)"
check_eq "$U{result=timeout} +1" 1 "$(d $U result=timeout)"
check_eq "normcache_upstream_coalesced_total +2" 2 "$(d normcache_upstream_coalesced_total)"

check_eq "normcache_redis_up is 1 with Redis up" 1 "$(mval "$B" normcache_redis_up)"
check_eq "normcache_redis_breaker_open is 0 with Redis up" 0 "$(mval "$B" normcache_redis_breaker_open)"
missing=""
for k in connect timeout reply; do
    [ "$(mval "$B" normcache_redis_errors_total kind=$k)" = absent ] && missing="$missing $k"
done
check_eq "normcache_redis_errors_total has kinds connect, timeout, reply" "" "$missing"
check_eq "normcache_redis_errors_total{kind=timeout} is 0 with Redis up" 0 \
    "$(mval "$B" normcache_redis_errors_total kind=timeout)"

version=$("$NC_BIN" --version | awk '{print $2}')
check_eq "normcache_build_info{version=\"$version\"} 1" 1 "$(mval "$B" normcache_build_info version="$version")"

# ---------------------------------------------------------------------------
# Namespace labels are capped: 80 more namespaces, at most 64 labels + _other
# ---------------------------------------------------------------------------
python3 - "$SVC_PORT" <<'PYEOF' >"$NC_TMP/cap.out" 2>&1
import http.client, json, sys, urllib.parse
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
bad = 0
for i in range(80):
    ns = "capns%02d" % i
    c.request("PUT", "/cache/" + ns, body=json.dumps({"q": "cap", "value": i, "ttl": 60}),
              headers={"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    bad += r.status != 200
    c.request("GET", "/cache/%s?q=cap" % ns)
    r = c.getresponse(); r.read()
    bad += r.status != 200 or r.getheader("X-Cache") != "HIT"
print("bad", bad)
PYEOF
check_eq "PUT then GET (HIT) on 80 new namespaces" "bad 0" "$(tail -n 1 "$NC_TMP/cap.out")"
scrape "$C"
if promtool check metrics <"$C" >"$NC_TMP/promtool2.out" 2>&1; then
    ok "promtool check metrics accepts the scrape after 80 namespaces"
else
    notok "promtool check metrics accepts the scrape after 80 namespaces"
    while IFS= read -r l; do diag "$l"; done < <(head -n 20 "$NC_TMP/promtool2.out")
fi
pyresults "$NC_TMP/prom.py" "$B" "$C" <<'PYEOF'
import sys
sys.path.insert(0, __import__("os").path.dirname(sys.argv[1]))
import prom
b, c = prom.parse(sys.argv[2]), prom.parse(sys.argv[3])
R = "normcache_cache_results_total"
def names(d):
    return {dict(k[1])["namespace"] for k in d if k[0] == R}
before = names(b) - {"_other"}
after = names(c)
named = after - {"_other"}
if len(named) <= 64 and "_other" in after:
    print("OK at most 64 namespace labels plus _other (%d named)" % len(named))
else:
    print("FAIL at most 64 namespace labels plus _other")
    print("DIAG %d named labels, _other %s" % (len(named), "present" if "_other" in after else "absent"))
if len(named) == 64:
    print("OK the first 64 namespaces get their own label")
else:
    print("FAIL the first 64 namespaces get their own label")
    print("DIAG %d named labels" % len(named))
def hits(d, ns):
    return d.get((R, frozenset({"namespace": ns, "result": "hit"}.items())), 0)
own = sum(1 for i in range(80) if "capns%02d" % i in named)
expect_own = 64 - len(before)
other = hits(c, "_other") - hits(b, "_other")
cap_hits = sum(hits(c, "capns%02d" % i) for i in range(80))
if own == expect_own and other == 80 - expect_own and cap_hits + other == 80:
    print("OK the 80 namespaces' hits: %d under own labels, %d under _other" % (cap_hits, other))
else:
    print("FAIL the 80 namespaces' hits: %d under own labels, the rest (%d) under _other"
          % (expect_own, 80 - expect_own))
    print("DIAG %d capns labels, %d hits under them, _other +%d" % (own, cap_hits, other))
PYEOF

finish
