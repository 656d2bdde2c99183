#!/usr/bin/env bash
# test_logs.sh - the JSON-lines log on stderr.
#
# A service at LOG_LEVEL=debug (the most talkative) with a password-protected
# private redis-server, KEY_HASH_SECRET and AUTH_TOKENS set to marker values
# gets good and bad requests (cache routes, recommendations, unknown paths,
# unauthenticated, malformed) whose query texts carry another marker. Then:
# every stderr line is a JSON object with ts (RFC 3339, milliseconds, UTC),
# level and msg; each request has one access line with method, route,
# status, dur_us and, where they apply, ns, cache and the hashed key (equal
# to X-Cache-Key); the query marker appears nowhere in the log; the start-up
# line carries the effective config with the three secrets masked (their
# markers appear nowhere either). Then LOG_REQUESTS=false: no access lines;
# LOG_LEVEL=warn: warnings but no info lines; LOG_LEVEL=error: neither.
NC_DB=13
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"


# Four distinct markers, none a substring of another.
mk() { printf 'zz%s%s%sx' "$1" "$(date +%s%N | tail -c 8)" "$RANDOM"; }
QM=$(mk q)  # in query texts: must never be logged
SM=$(mk s)  # KEY_HASH_SECRET
TM=$(mk t)  # AUTH_TOKENS
PM=$(mk p)  # the Redis password
TOKEN=tokA$TM
AUTH="Authorization: Bearer $TOKEN"


# SENT counts the requests made after start-up (not /healthz), each of which
# must have exactly one access line.
SENT=0
r() {
    req "$@"
    SENT=$((SENT + 1))
}
# expect STATUS...: the last response had one of these statuses (the premise
# of the log checks; reported once at the end).
PREMISE=""
expect() {
    local s
    for s in "$@"; do [ "$STATUS" = "$s" ] && return 0; done
    PREMISE="$PREMISE [${LAST_REQ:0:120} -> $STATUS, wanted $*]"
}


# absent NAME MARKER FILE...: MARKER occurs in none of the files.
absent() {
    local name=$1 m=$2 f hits=""
    shift 2
    for f in "$@"; do
        [ -f "$f" ] && grep -qF -- "$m" "$f" && hits="$hits $(basename "$f")"
    done
    if [ -z "$hits" ]; then
        ok "$name"
    else
        notok "$name"
        diag "found in:$hits"
        grep -hF -- "$m" "$@" 2>/dev/null | head -n 3 | while IFS= read -r l; do diag "$l"; done
    fi
}

# ---------------------------------------------------------------------------
# Service 1: LOG_LEVEL=debug, secrets set, every kind of request
# ---------------------------------------------------------------------------
start_stub STUB_LATENCY_MS=5 || finish
redis_start "" --requirepass "$PM" || {
    notok "private redis-server with a password starts"
    finish
}
RPORT=$PRIV_REDIS_PORT
T_BEGIN=$(date +%s)
start_service "REDIS_URL=redis://:$PM@127.0.0.1:$RPORT/0" "KEY_HASH_SECRET=$SM" \
    "AUTH_TOKENS=$TOKEN,tokB$TM" "UPSTREAM_URL=$STUB_URL" UPSTREAM_TIMEOUT_MS=1000 \
    LOG_LEVEL=debug || finish
LOG1=$SVC_LOG
OUT1=$SVC_LOG.out

Q1="What is $QM?"
r PUT /cache/logns -H "$AUTH" -H "$JSON_CT" --data-binary "{\"q\":$(jstr "$Q1"),\"value\":{\"a\":1},\"ttl\":300}"
expect 200
check_eq "PUT with a password-protected Redis stores (premise)" true "$(jget stored)"
r GET /cache/logns -H "$AUTH" -G --data-urlencode "q=$Q1"
expect 200
check_eq "GET is a hit (premise)" HIT "$(hdr X-Cache)"
HIT_KEY=$(hdr X-Cache-Key)
r GET /cache/logns -H "$AUTH" -G --data-urlencode "q=other $QM"
expect 404
MISS_KEY=$(hdr X-Cache-Key)
r GET /cache/logns -H "$AUTH" -G --data-urlencode "params={\"sku\":\"$QM\"}"
expect 404
r DELETE /cache/logns -H "$AUTH" -G --data-urlencode "q=other $QM"
expect 200
# Bad requests that carry the marker.
r GET /cache/logns -H "$AUTH" -G --data-urlencode "q=$QM" --data-urlencode "params={}"
expect 400
r GET "/cache/logns?q=$QM&q=$QM" -H "$AUTH"
expect 400
r GET "/cache/logns?q=$QM%zz" -H "$AUTH"
expect 400
r GET "/cache/logns?q=$QM%FF%FE" -H "$AUTH"
expect 400
r GET "/cache/logns?q=$QM$(head -c 5000 /dev/zero | tr '\0' a)" -H "$AUTH"
expect 400 414
r PUT /cache/logns -H "$AUTH" -H "$JSON_CT" --data-binary "{\"q\":\"$QM\",\"value\":"
expect 400
r PUT /cache/logns -H "$AUTH" -H "$JSON_CT" --data-binary "{\"q\":\"$QM\",\"value\":1,\"ttl\":\"$QM\"}"
expect 400
r PUT /cache/logns -H "$AUTH" -H "$JSON_CT" --data-binary "{\"q\":\"$QM\"}"
expect 400
r PUT /cache/logns -H "$AUTH" -H "$JSON_CT" --data-binary "{\"q\":\"$QM\\u0000\",\"value\":1}"
expect 400
r PUT /cache/logns -H "$AUTH" -H 'Content-Type: text/plain' --data-binary "{\"q\":\"$QM\",\"value\":1}"
expect 415
r GET "/cache/bad:ns?q=$QM" -H "$AUTH"
expect 400
r GET "/cache/logns?q=$QM"
expect 401
r GET "/nope?q=$QM"
expect 404
r GET /products/recommendations -G --data-urlencode "query=$QM shoes"
expect 200
RECS_KEY=$(hdr X-Cache-Key)
stub_mode_json '{"mode":"fail"}'
r GET /products/recommendations -G --data-urlencode "query=$QM failing"
expect 502
stub_mode_json '{"mode":"ok"}'
r GET "/products/recommendations?query=$QM&colour=$QM"
expect 400
raw_http "GET /cache/logns?q=$QM HTTP/1.1"$'\r\n'"Host: x"$'\r\n'"$AUTH"$'\r\n'"Content-Length: 1"$'\r\n'"Content-Length: 2"$'\r\n\r\n'"ab"
SENT=$((SENT + 1))
expect 400
if [ -z "$PREMISE" ]; then
    ok "the requests got the statuses the log checks assume ($SENT requests)"
else
    notok "the requests got the statuses the log checks assume"
    diag "$PREMISE"
fi
# Let background work (the failed upstream call's warning) land.
sleep 0.3
cp "$LOG1" "$NC_TMP/log1.snapshot"
stop_service
T_END=$(date +%s)

pyresults "$LOG1" "$T_BEGIN" "$T_END" "$SENT" "$HIT_KEY" "$MISS_KEY" "$RECS_KEY" "$RPORT" <<'PYEOF'
import json, re, sys
from datetime import datetime, timezone
path, t0, t1, sent, hit_key, miss_key, recs_key, rport = sys.argv[1:9]
t0, t1, sent = int(t0), int(t1), int(sent)
raw = open(path, "rb").read()
lines = raw.split(b"\n")
if lines and lines[-1] == b"":
    lines.pop()
def res(ok, name, *d):
    print(("OK " if ok else "FAIL ") + name)
    if not ok:
        for x in d[:6]:
            print("DIAG " + x[:300])
docs, bad = [], []
for i, l in enumerate(lines, 1):
    try:
        d = json.loads(l.decode("utf-8"))
        if not isinstance(d, dict):
            raise ValueError("not an object")
        docs.append(d)
    except Exception as e:
        bad.append("line %d (%s): %r" % (i, e.__class__.__name__, l[:200]))
res(lines and not bad and raw.endswith(b"\n"),
    "every stderr line is one JSON object (%d lines)" % len(lines), *bad)
TS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
errs = []
for d in docs:
    ts = d.get("ts")
    if not isinstance(ts, str) or not TS.match(ts):
        errs.append("ts %r" % (ts,))
        continue
    t = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
    if not (t0 - 2 <= t <= t1 + 2):
        errs.append("ts %s is not the UTC time of the run (%s .. %s)" % (
            ts, datetime.fromtimestamp(t0, timezone.utc).isoformat(),
            datetime.fromtimestamp(t1, timezone.utc).isoformat()))
res(docs and not errs, "every line has ts: RFC 3339 UTC with milliseconds (YYYY-MM-DDTHH:MM:SS.mmmZ), the time of the run", *errs)
errs = ["%r" % {k: d.get(k) for k in ("level", "msg")} for d in docs
        if d.get("level") not in ("debug", "info", "warn", "error")
        or not isinstance(d.get("msg"), str) or not d.get("msg")]
res(docs and not errs, "every line has level (debug|info|warn|error) and a non-empty msg", *errs)

ROUTES = {"cache_get", "cache_put", "cache_delete", "cache_flush", "recommendations",
          "health", "metrics", "other"}
acc = [d for d in docs if "route" in d and "method" in d]
errs = []
KEY = re.compile(r"^[A-Za-z0-9_-]{1,32}:([A-Za-z0-9_-]{1,64}):(?:[a-z]:)?[0-9a-f]{16}$")
for d in acc:
    if not isinstance(d.get("method"), str) or d.get("route") not in ROUTES:
        errs.append("method/route: %r" % d)
    if not isinstance(d.get("status"), int) or not 100 <= d["status"] <= 599:
        errs.append("status: %r" % d)
    if not isinstance(d.get("dur_us"), int) or isinstance(d.get("dur_us"), bool) or d["dur_us"] < 0:
        errs.append("dur_us: %r" % d)
    if "key" in d:
        m = KEY.match(str(d["key"]))
        if not m or m.group(1) != d.get("ns"):
            errs.append("key not a hashed key of its ns: %r" % d)
res(acc and not errs, "every access line has method, route, status (int) and dur_us (int); keys are hashed keys of their ns", *errs)
non_health = [d for d in acc if d.get("route") != "health"]
res(len(non_health) == sent, "one access line per request (%d requests)" % sent,
    "%d access lines (not health) for %d requests" % (len(non_health), sent))

def find(**kw):
    return [d for d in acc if all(d.get(k) == v for k, v in kw.items())]
want = dict(method="GET", route="cache_get", ns="logns", status=200, cache="HIT", key=hit_key)
m = find(**want)
res(len(m) == 1 and isinstance(m[0].get("dur_us"), int),
    "the hit's access line: method GET, route cache_get, ns logns, status 200, cache HIT, dur_us, key = X-Cache-Key",
    "wanted one line with %r; GET lines: %r" % (want, find(method="GET", route="cache_get")[:3]))
want = dict(method="GET", route="cache_get", ns="logns", status=404, cache="MISS", key=miss_key)
res(len(find(**want)) == 1, "the miss's access line: status 404, cache MISS, key = X-Cache-Key",
    "wanted one line with %r" % want)
want = dict(method="PUT", route="cache_put", ns="logns", status=200)
m = find(**want)
res(len(m) == 1 and m[0].get("key") == hit_key, "the PUT's access line: route cache_put, ns, status 200, the same key",
    "wanted one line with %r and key %s; got %r" % (want, hit_key, m))
want = dict(method="GET", route="recommendations", ns="recommendations", status=200, key=recs_key)
m = find(**want)
res(len(m) == 1 and m[0].get("cache") == "MISS",
    "the recommendation's access line: route recommendations, ns, status 200, cache MISS, key = X-Cache-Key",
    "wanted one line with %r, cache MISS; got %r" % (want, find(route="recommendations")))
bad400 = [d for d in acc if d.get("status") in (400, 401, 404, 413, 414, 415) and d.get("route") != "health"]
res(len(bad400) >= 15, "refused requests have access lines too (%d)" % len(bad400))
warn = [d for d in docs if d.get("level") == "warn" and "upstream" in d.get("msg", "")]
res(warn, "the failed upstream call is logged as a warning", "no warn line mentioning the upstream")

st = [d for d in docs if d.get("msg") == "normcache started"]
res(len(st) == 1, "one start-up line (msg \"normcache started\")", "%d found" % len(st))
if st:
    cfg = st[0].get("config")
    errs = []
    if not isinstance(cfg, dict):
        errs.append("no config object: %r" % st[0])
    else:
        for k in ("KEY_HASH_SECRET", "AUTH_TOKENS"):
            if not isinstance(cfg.get(k), str) or not cfg.get(k):
                errs.append("%s should show that it is set (masked): %r" % (k, cfg.get(k)))
        url = cfg.get("REDIS_URL", "")
        if ("127.0.0.1:%s" % rport) not in str(url):
            errs.append("REDIS_URL should still show host and port: %r" % url)
        if cfg.get("LOG_LEVEL") != "debug":
            errs.append("LOG_LEVEL %r, expected debug (the effective value)" % cfg.get("LOG_LEVEL"))
        if cfg.get("UPSTREAM_TIMEOUT_MS") not in ("1000", 1000):
            errs.append("UPSTREAM_TIMEOUT_MS %r, expected 1000" % cfg.get("UPSTREAM_TIMEOUT_MS"))
        if cfg.get("CACHE_TTL_SECONDS") not in ("300", 300):
            errs.append("CACHE_TTL_SECONDS %r, expected the default 300" % cfg.get("CACHE_TTL_SECONDS"))
    res(not errs, "the start-up line has the effective config (set values, defaults), secrets shown as set but masked", *errs)
PYEOF

absent "the query marker appears nowhere in the log (stderr, stdout)" "$QM" "$LOG1" "$OUT1"
absent "KEY_HASH_SECRET's value appears nowhere in the log" "$SM" "$LOG1" "$OUT1"
absent "AUTH_TOKENS' values appear nowhere in the log" "$TM" "$LOG1" "$OUT1"
absent "the Redis password appears nowhere in the log" "$PM" "$LOG1" "$OUT1"
check_eq "nothing is written to stdout" 0 "$(wc -c <"$OUT1")"

# ---------------------------------------------------------------------------
# Service 2: LOG_REQUESTS=false
# ---------------------------------------------------------------------------
start_service LOG_REQUESTS=false "UPSTREAM_URL=$STUB_URL" || finish
put_q logns2 "quiet one" '{"v":1}'
get_q logns2 "quiet one"
get_q logns2 "quiet two"
req GET /cache/logns2
req GET /nope
req GET /metrics
req GET /products/recommendations -G --data-urlencode "query=quiet shoes"
check_eq "LOG_REQUESTS=false: the requests were answered (premise)" 200 "$STATUS"
pyresults "$SVC_LOG" <<'PYEOF'
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
acc = [d for d in docs if d.get("msg") == "request" or "route" in d or "dur_us" in d]
print(("OK " if not acc else "FAIL ") + "LOG_REQUESTS=false: no access lines")
for d in acc[:3]:
    print("DIAG %r" % d)
st = [d for d in docs if d.get("msg") == "normcache started"]
print(("OK " if st else "FAIL ") + "LOG_REQUESTS=false: other info lines (start-up) still logged")
PYEOF

# ---------------------------------------------------------------------------
# Service 3 and 4: LOG_LEVEL=warn and error, Redis unreachable (warnings)
# ---------------------------------------------------------------------------
DEAD=$(free_port)
for lvl in warn error; do
    start_service "LOG_LEVEL=$lvl" "REDIS_URL=redis://127.0.0.1:$DEAD/0" || finish
    put_q logns3 "level $lvl" '{"v":1}'
    get_q logns3 "level $lvl"
    check_eq "LOG_LEVEL=$lvl: GET answers 404 BYPASS with Redis unreachable (premise)" "404 BYPASS" \
        "$STATUS $(hdr X-Cache)"
    req GET /nope
    sleep 0.2
    pyresults "$SVC_LOG" "$lvl" <<'PYEOF'
import json, sys
lvl = sys.argv[2]
docs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
order = ["debug", "info", "warn", "error"]
below = [d for d in docs if order.index(d.get("level", "debug")) < order.index(lvl)]
print(("OK " if not below else "FAIL ") + "LOG_LEVEL=%s: no line below %s (no start-up, no access lines)" % (lvl, lvl))
for d in below[:3]:
    print("DIAG %r" % d)
if lvl == "warn":
    w = [d for d in docs if d.get("level") == "warn"]
    print(("OK " if w else "FAIL ") + "LOG_LEVEL=warn: the Redis connect failures are logged as warnings (%d lines)" % len(w))
PYEOF
done

finish
