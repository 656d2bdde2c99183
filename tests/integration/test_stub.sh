#!/usr/bin/env bash
# test_stub.sh - the upstream stub (build/upstream-stub) on its own.
#
# The cache's own tests lean on the stub's promises (deterministic bodies,
# call counting, run-time modes, latency), so they are checked here first,
# against the real binary on a free loopback port. Needs no redis and no
# normcache binary, so it does not source lib.sh (which requires both), but
# follows its conventions: "ok - name" / "not ok - name" lines, "#"
# diagnostics, a non-zero exit on any failure, every process it started
# killed by a trap. NC_VALGRIND=1 runs the stub under valgrind memcheck (and
# the SIGTERM check then also fails on memory errors or definite leaks).
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
STUB=$BUILD/upstream-stub
NAME=$(basename "$0" .sh)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/nc-$NAME.XXXXXX") || exit 1
PASS=0
FAIL=0
PIDS=()
VALGRIND=${NC_VALGRIND:-0}
[ "$VALGRIND" = 0 ] && VALGRIND=""
if [ -n "$VALGRIND" ]; then SCALE=${NC_TIME_SCALE:-12}; else SCALE=${NC_TIME_SCALE:-1}; fi
# Sanitizer builds: the stub's clean environment keeps the sanitizer options.
SAN_ENV=()
for v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TSAN_OPTIONS; do [ -n "${!v:-}" ] && SAN_ENV+=("$v=${!v}"); done
STUB_PID=""
PORT=""
U=""

ok() {
    PASS=$((PASS + 1))
    echo "ok - $*"
}
notok() {
    FAIL=$((FAIL + 1))
    echo "not ok - $*"
}
diag() {
    local l
    for l in "$@"; do printf '%s\n' "$l" | cut -c1-400 | sed 's/^/#   /'; done
}
check_eq() {
    if [ "$2" = "$3" ]; then
        ok "$1"
    else
        notok "$1"
        diag "expected: ${2:0:300}" "got:      ${3:0:300}"
    fi
}

cleanup() {
    local p i alive
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for i in $(seq 30); do
        alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    [ -n "${NC_KEEP_TMP:-}" ] || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

forget_pid() {
    local p keep=()
    for p in "${PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
    PIDS=("${keep[@]}")
}

# secs X: X seconds, scaled for valgrind.
secs() { awk -v x="$1" -v s="$SCALE" 'BEGIN{print x*s}'; }

free_port() {
    python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

# start_stub [NAME=value]...: the stub on a free port with a clean environment;
# waits for /healthz. Returns 1 (after a "not ok") if it does not come up.
start_stub() {
    local try deadline code
    for try in 1 2 3; do
        PORT=$(free_port)
        U=http://127.0.0.1:$PORT
        local -a cmd=("$STUB")
        [ -n "$VALGRIND" ] && cmd=(valgrind --error-exitcode=99 --leak-check=full
            --errors-for-leak-kinds=definite --log-file="$TMP/vg-$PORT.log" "$STUB")
        env -i "PATH=$PATH" "${SAN_ENV[@]}" STUB_BIND_ADDR=127.0.0.1 "STUB_PORT=$PORT" "$@" "${cmd[@]}" \
            </dev/null >/dev/null 2>"$TMP/stub-$PORT.log" &
        STUB_PID=$!
        PIDS+=("$STUB_PID")
        deadline=$((SECONDS + 5 * SCALE))
        while [ $SECONDS -le $deadline ]; do
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$U/healthz")
            [ "$code" = 200 ] && return 0
            kill -0 "$STUB_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$STUB_PID" 2>/dev/null
        wait "$STUB_PID" 2>/dev/null
        forget_pid "$STUB_PID"
        STUB_PID=""
        # Lost a race for the port: try another.
        grep -qi 'cannot listen' "$TMP/stub-$PORT.log" && continue
        break
    done
    notok "stub starts ($*)"
    diag "log: $(tail -n 5 "$TMP/stub-$PORT.log" 2>/dev/null)"
    return 1
}

# stop_stub NAME: SIGTERM, and one result: exit status 0 in time (no
# valgrind errors).
stop_stub() {
    local pid=$STUB_PID i rc
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq $((100 * SCALE))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    forget_pid "$pid"
    STUB_PID=""
    if [ "$rc" = 0 ]; then
        ok "$1"
    else
        notok "$1"
        diag "exit status $rc" "log: $(tail -n 3 "$TMP/stub-$PORT.log")"
        [ -f "$TMP/vg-$PORT.log" ] && diag "$(grep -A 8 -E 'Invalid|uninitialised|definitely lost' "$TMP/vg-$PORT.log" | head -n 30)"
    fi
}

# req METHOD PATH [curl args]: sets STATUS, TIME and BODY ($TMP/body).
req() {
    local out
    out=$(curl -s -X "$1" -o "$TMP/body" -w '%{http_code} %{time_total}' \
        --max-time "$(secs 10)" "${@:3}" "$U$2")
    STATUS=${out%% *}
    TIME=${out#* }
    BODY=$(cat "$TMP/body")
}

# jq_py EXPR: evaluates a Python expression over the JSON document `d` read
# from stdin; prints the result (or <error>).
jq_py() {
    python3 -c '
import json, sys
try:
    d = json.load(sys.stdin)
    print(eval(sys.argv[1]))
except Exception as e:
    print("<error: %s>" % e.__class__.__name__)
' "$1"
}

calls() { curl -s --max-time "$(secs 5)" "$U/stats" | jq_py 'd["calls"]'; }

# time_ge NAME T MIN: T >= MIN seconds.
time_ge() {
    if awk -v t="$2" -v m="$3" 'BEGIN{exit !(t+0 >= m+0)}'; then ok "$1"; else
        notok "$1"
        diag "took ${2}s, expected at least ${3}s"
    fi
}
# time_lt NAME T MAX: T < MAX seconds (MAX scaled for valgrind).
time_lt() {
    local max
    max=$(secs "$3")
    if awk -v t="$2" -v m="$max" 'BEGIN{exit !(t != "" && t+0 < m+0)}'; then ok "$1"; else
        notok "$1"
        diag "took ${2}s, limit ${max}s"
    fi
}

if [ ! -x "$STUB" ]; then
    notok "$STUB is built (make $BUILD/upstream-stub)"
    exit 1
fi
for tool in curl python3; do
    command -v $tool >/dev/null || {
        notok "$tool is installed"
        exit 1
    }
done

# ---------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------
help=$("$STUB" --help 2>&1)
rc=$?
missing=""
for v in STUB_PORT STUB_BIND_ADDR STUB_LATENCY_MS STUB_FAIL_RATE; do
    [[ $help == *"$v"* ]] || missing="$missing $v"
done
check_eq "--help exits 0 and lists every setting" "0:" "$rc:$missing"

for bad in STUB_PORT=abc STUB_PORT=70000 STUB_PORT=-1 STUB_BIND_ADDR=nowhere \
    STUB_LATENCY_MS=-5 STUB_LATENCY_MS=1.5 STUB_LATENCY_MS= STUB_FAIL_RATE=1.5 \
    STUB_FAIL_RATE=nan STUB_FAIL_RATE=x; do
    var=${bad%%=*}
    val=${bad#*=}
    # A port of its own, so that a stub wrongly starting would not collide.
    out=$(env -i "PATH=$PATH" "${SAN_ENV[@]}" STUB_PORT="$(free_port)" "$bad" timeout 5 "$STUB" 2>&1 >/dev/null)
    rc=$?
    lines=$(printf '%s\n' "$out" | grep -c .)
    if [ "$rc" = 2 ] && [ "$lines" = 1 ] && [[ $out == *"$var"* ]] && [[ $out == *"\"$val\""* ]] &&
        [[ $out == *expected* ]]; then
        ok "bad setting $bad: exit 2 with one line naming it"
    else
        notok "bad setting $bad: exit 2 with one line naming it"
        diag "exit $rc, stderr: $out"
    fi
done

# ---------------------------------------------------------------------------
# Recommendations: body, limit, determinism, latency, calls
# ---------------------------------------------------------------------------
start_stub STUB_LATENCY_MS=300 || exit 1

req GET "/recommendations?query=red%20shoes&limit=3"
first=$BODY
check_eq "GET /recommendations answers 200" 200 "$STATUS"
time_ge "latency applied (STUB_LATENCY_MS=300)" "$TIME" 0.3
time_lt "latency not much more than configured" "$TIME" 1.0
shape=$(jq_py '"%s|%d|%s" % (d["query"], len(d["items"]), all(isinstance(i["sku"], str) and i["sku"] and isinstance(i["name"], str) and isinstance(i["score"], (int, float)) for i in d["items"]))' <"$TMP/body")
check_eq "body: query echoed, 3 items with sku/name/score" "red shoes|3|True" "$shape"
req GET "/recommendations?query=red%20shoes&limit=3"
check_eq "same query, same body" "$first" "$BODY"
req GET "/recommendations?query=blue%20hats&limit=3"
check_eq "other query answers 200" 200 "$STATUS"
if [ "$BODY" != "$first" ]; then ok "other query, other body"; else notok "other query, other body"; fi

# The exact bytes, pinned: the catalogue (FNV-1a seed, generator, tables) and
# the JSON spelling (escapes, numbers) must not drift between builds, or
# bodies cached by an older build would differ from fresh ones.
req GET "/recommendations?query=red%20shoes&limit=3"
check_eq "body bytes are stable across builds" \
    '{"query":"red shoes","items":[{"sku":"SKU-DC9D4999","name":"Olive Stool","score":0.999},{"sku":"SKU-2B56D2DE","name":"Harbor Vase","score":0.965},{"sku":"SKU-CE3F8AB9","name":"Linen Chair","score":0.96}]}' \
    "$BODY"
req GET "/recommendations?query=caf%C3%A9%20%22%5C%0a&limit=1"
check_eq "query escaped in the body as before" \
    '{"query":"café \"\\\n","items":[{"sku":"SKU-E901106C","name":"Dune Chair","score":0.996}]}' \
    "$BODY"
# Scripts read a STUB_PORT=0 stub's port from this line (tests/tools/recs_lib.sh).
if grep -q "\"event\":\"listening\".*\"port\":$PORT[,}]" "$TMP/stub-$PORT.log"; then
    ok "log: a JSON \"listening\" line with the port"
else
    notok "log: a JSON \"listening\" line with the port"
    diag "log: $(head -n 3 "$TMP/stub-$PORT.log")"
fi

req GET "/recommendations?query=red%20shoes"
check_eq "limit defaults to 10" "200 10" "$STATUS $(jq_py 'len(d["items"])' <"$TMP/body")"
ten=$BODY
req GET "/recommendations?query=red%20shoes&limit=50"
check_eq "limit=50 gives 50 items" "200 50" "$STATUS $(jq_py 'len(d["items"])' <"$TMP/body")"
req GET "/recommendations?query=red%20shoes&limit=1"
check_eq "limit=1 gives 1 item" "200 1" "$STATUS $(jq_py 'len(d["items"])' <"$TMP/body")"
prefix=$(printf '%s\n%s' "$first" "$ten" | python3 -c '
import json, sys
a, b = (json.loads(l) for l in sys.stdin.read().split("\n"))
print(a["items"] == b["items"][:3])')
check_eq "a smaller limit is a prefix of a larger one" True "$prefix"
for bad in "limit=0" "limit=51" "limit=abc" "limit=" ""; do
    q="query=x"
    [ -n "$bad" ] && q="$q&$bad"
    [ -z "$bad" ] && q="limit=3" # no query at all
    req GET "/recommendations?$q"
    check_eq "bad parameters ($q) answer 400" 400 "$STATUS"
done

before=$(calls)
for i in 1 2 3; do req GET "/recommendations?query=count$i&limit=2"; done
req GET "/recommendations?query=x&limit=0" # a 400 counts too
check_eq "calls counted (4 more, a 400 included)" "$((before + 4))" "$(calls)"

# Many slow requests at once: each one counted on arrival, /stats answers at
# once meanwhile, all answered 200 when their latency is over.
N=1000
[ -n "$VALGRIND" ] && N=200
req PUT /mode --data-binary '{"latency_ms":2000}'
before=$(calls)
python3 - "$PORT" "$N" "$(secs 2)" >"$TMP/flood.out" 2>&1 <<'EOF' &
import asyncio, sys, time
port, n, settle = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
async def one(i):
    r, w = await asyncio.open_connection("127.0.0.1", port)
    w.write(b"GET /recommendations?query=flood&limit=2 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await w.drain()
    data = await asyncio.wait_for(r.read(), 30 * settle)
    w.close()
    return data.split(b" ", 2)[1].decode() if data else "000"
async def main():
    res = await asyncio.gather(*[one(i) for i in range(n)], return_exceptions=True)
    codes = {}
    for c in res:
        c = c if isinstance(c, str) else type(c).__name__
        codes[c] = codes.get(c, 0) + 1
    print(" ".join("%s=%d" % kv for kv in sorted(codes.items())))
asyncio.run(main())
EOF
FLOOD=$!
PIDS+=("$FLOOD")
deadline=$((SECONDS + 10 * SCALE))
while [ "$(calls)" -lt $((before + N)) ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 5 "$U/stats")
check_eq "$N concurrent slow requests all counted on arrival" "$((before + N))" "$(calls)"
time_lt "/stats answers at once while $N requests sleep" "$t" 0.1
threads=$(ls "/proc/$STUB_PID/task" 2>/dev/null | wc -l)
if [ -z "$VALGRIND" ]; then
    if [ "$threads" -lt 10 ]; then ok "$N sleeping requests hold no thread each ($threads threads)"; else
        notok "$N sleeping requests hold no thread each"
        diag "$threads threads"
    fi
fi
wait "$FLOOD"
forget_pid "$FLOOD"
check_eq "all $N answered 200" "200=$N" "$(cat "$TMP/flood.out")"

# ---------------------------------------------------------------------------
# Modes
# ---------------------------------------------------------------------------
req PUT /mode --data-binary '{"mode":"fail","latency_ms":200}'
check_eq "PUT /mode answers the state" "200 fail 200" \
    "$STATUS $(jq_py '"%s %d" % (d["mode"], d["latency_ms"])' <"$TMP/body")"
req GET "/recommendations?query=x"
check_eq "mode fail answers 500" 500 "$STATUS"
time_ge "latency applies in mode fail" "$TIME" 0.2

req PUT /mode --data-binary '{"mode":"notfound"}'
check_eq "a field left out keeps its value" "200 notfound 200" \
    "$STATUS $(jq_py '"%s %d" % (d["mode"], d["latency_ms"])' <"$TMP/body")"
req GET "/recommendations?query=x"
check_eq "mode notfound answers 404" 404 "$STATUS"
time_ge "latency applies in mode notfound" "$TIME" 0.2

req PUT /mode --data-binary '{"latency_ms":0}'
req GET "/recommendations?query=x"
check_eq "latency_ms alone changes only latency (still 404)" 404 "$STATUS"
time_lt "latency_ms 0 answers at once" "$TIME" 0.1

for body in 'not json' '' '[]' '{"mode":"sideways"}' '{"mode":1}' '{"latency_ms":-1}' \
    '{"latency_ms":1.5}' '{"latency_ms":"5"}' '{"colour":"red"}' '{"mode":"ok"} junk' \
    '{"latency_ms":01}' '{"mode":"ok","mode":"fail"}'; do
    req PUT /mode --data-binary "$body"
    check_eq "bad PUT /mode body '$body' answers 400" 400 "$STATUS"
done
req GET /mode
check_eq "bad bodies changed nothing" "notfound 0" "$(jq_py '"%s %d" % (d["mode"], d["latency_ms"])' <"$TMP/body")"

# hang: requests are held until the mode changes, then answered per the new one.
release_check() { # NEW_MODE EXPECTED_STATUS
    local i pids=() held=0
    req PUT /mode --data-binary '{"mode":"hang","latency_ms":100}'
    for i in 1 2 3; do
        curl -s -o "$TMP/hang$i.body" -w '%{http_code}' --max-time "$(secs 20)" \
            "$U/recommendations?query=hang$i&limit=2" >"$TMP/hang$i.code" &
        pids+=($!)
        PIDS+=($!)
    done
    sleep "$(secs 0.8)"
    for i in 0 1 2; do kill -0 "${pids[$i]}" 2>/dev/null && held=$((held + 1)); done
    check_eq "hang holds requests (past their latency)" 3 "$held"
    req GET /stats
    time_lt "/stats answers while requests hang" "$TIME" 0.1
    req PUT /mode --data-binary "{\"mode\":\"$1\"}"
    for i in 0 1 2; do
        wait "${pids[$i]}"
        forget_pid "${pids[$i]}"
    done
    check_eq "switching hang to $1 releases them with $2" "$2 $2 $2" \
        "$(cat "$TMP/hang1.code") $(cat "$TMP/hang2.code") $(cat "$TMP/hang3.code")"
}
release_check ok 200
check_eq "released requests get their full body" 2 "$(jq_py 'len(d["items"])' <"$TMP/hang1.body")"
release_check notfound 404

# Routes other than the stub's own.
req GET /healthz
check_eq "GET /healthz answers 200" 200 "$STATUS"
req GET /nowhere
check_eq "unknown route answers 404" 404 "$STATUS"

# Shutdown with requests parked both ways: each is answered, exit status 0.
req PUT /mode --data-binary '{"mode":"ok","latency_ms":60000}'
curl -s -o /dev/null -w '%{http_code}' --max-time "$(secs 20)" "$U/recommendations?query=sleep" >"$TMP/sd1" &
sd1=$!
PIDS+=($sd1)
sleep "$(secs 0.3)"
req PUT /mode --data-binary '{"mode":"hang"}'
curl -s -o /dev/null -w '%{http_code}' --max-time "$(secs 20)" "$U/recommendations?query=hang" >"$TMP/sd2" &
sd2=$!
PIDS+=($sd2)
# One client that gives up while parked.
curl -s -o /dev/null --max-time 0.3 "$U/recommendations?query=gone"
sleep "$(secs 0.3)"
stop_stub "SIGTERM with parked requests exits 0"
wait $sd1 $sd2
forget_pid $sd1
forget_pid $sd2
check_eq "parked requests are answered (503) at shutdown" "503 503" "$(cat "$TMP/sd1") $(cat "$TMP/sd2")"

# ---------------------------------------------------------------------------
# STUB_FAIL_RATE
# ---------------------------------------------------------------------------
start_stub STUB_LATENCY_MS=0 STUB_FAIL_RATE=1 || exit 1
req GET "/recommendations?query=x"
check_eq "STUB_FAIL_RATE=1 answers 500" 500 "$STATUS"
req PUT /mode --data-binary '{"fail_rate":0.5}'
fails=0
for i in $(seq 40); do
    req GET "/recommendations?query=x$i"
    [ "$STATUS" = 500 ] && fails=$((fails + 1))
done
if [ $fails -ge 5 ] && [ $fails -le 35 ]; then ok "fail rate 0.5 fails some, not all ($fails/40)"; else
    notok "fail rate 0.5 fails some, not all"
    diag "$fails/40 failed"
fi
stop_stub "SIGTERM exits 0"

echo "# $NAME: $PASS ok, $FAIL not ok"
[ "$FAIL" = 0 ]
