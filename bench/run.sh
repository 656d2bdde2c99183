#!/usr/bin/env bash
# bench/run.sh - `make bench`: normcache side by side with its ceilings.
#
# Builds optimised binaries, starts its own redis-server, the service, the
# upstream stub and the ceiling server (bench/ceiling.c) on free loopback
# ports, runs every scenario BENCH_ROUNDS times interleaved (round 1 of every
# scenario, then round 2, ...) and reports medians: printed, and written to
# bench/results/latest.json and bench/results/latest.md.
#
#   BENCH_SECONDS   seconds per wrk run (10)
#   BENCH_ROUNDS    rounds (3)
#   BENCH_CONNS     wrk connections (32)
#   BENCH_THREADS   worker threads of the service and the ceiling (nproc)
#   BENCH_BUILD     build folder (build-bench)
#   BENCH_STAMPEDE  concurrent cold requests in the stampede and lease-storm
#                   scenarios (1000)
#   BENCH_KEEP=1    keep the work folder (logs, raw figures) afterwards
#   BENCH_ONLY      bash regex: run only the scenarios whose id matches (the
#                   ceiling always runs: every ratio needs it), e.g.
#                   BENCH_ONLY='^get_hit_200' for the GET-hit rows
#   BENCH_CLUSTER=0 leave out the 3-master Redis Cluster scenario (a second
#                   normcache with REDIS_MODE=cluster, tests/tools/cluster_lib.sh)
#
# No thresholds: the figures are the output. Exits non-zero only when the
# harness itself cannot run (a tool missing, a build failing, a server not
# starting, wrk failing).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-32}
NPROC=$(nproc)
THREADS=${BENCH_THREADS:-$NPROC}
BUILD=${BENCH_BUILD:-build-bench}
STAMPEDE_N=${BENCH_STAMPEDE:-1000}
ONLY=${BENCH_ONLY:-}
RESULTS=bench/results
TICK=$(getconf CLK_TCK)

say() { printf 'bench: [%3ds] %s\n' "$SECONDS" "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}
for v in SECS ROUNDS CONNS THREADS STAMPEDE_N; do
    [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "$v must be a positive integer (got '${!v}')"
done
for tool in wrk redis-server redis-cli redis-benchmark curl cc make awk; do
    command -v "$tool" >/dev/null || die "$tool is not installed (scripts/deps.sh installs it)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/normcache-bench.XXXXXX") || die "mktemp failed"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for _ in $(seq 30); do
        local alive=0
        for p in "${PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    if [ "${BENCH_KEEP:-0}" = 1 ]; then say "work folder kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1 000 concurrent connections need more than the usual 1 024 descriptors.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- build ----
T_START=$(date +%s)
MAKE=(make --no-print-directory -j"$NPROC" BUILD="$BUILD" OPT="-O2 -g -DNDEBUG")
say "building optimised binaries in $BUILD/"
"${MAKE[@]}" "$BUILD/ceiling" >"$WORK/build-ceiling.log" 2>&1 ||
    { tail -20 "$WORK/build-ceiling.log" >&2; die "cannot build the ceiling server"; }
cc -std=c11 -O2 -Wall -Wextra -Werror -D_GNU_SOURCE -Iinclude bench/stampede.c -o "$BUILD/stampede" \
    >"$WORK/build-stampede.log" 2>&1 ||
    { cat "$WORK/build-stampede.log" >&2; die "cannot build bench/stampede.c"; }
HAVE_SVC=0
HAVE_STUB=0
SVC_NOTE="service not built yet (no cmd/normcache/main.c)"
STUB_NOTE="upstream stub not built yet (no cmd/upstream-stub/main.c)"
if [ -f cmd/normcache/main.c ]; then
    "${MAKE[@]}" "$BUILD/normcache" >"$WORK/build-service.log" 2>&1 ||
        { tail -30 "$WORK/build-service.log" >&2; die "cannot build the service ($BUILD/normcache)"; }
    HAVE_SVC=1
fi
if [ -f cmd/upstream-stub/main.c ]; then
    "${MAKE[@]}" "$BUILD/upstream-stub" >"$WORK/build-stub.log" 2>&1 ||
        { tail -30 "$WORK/build-stub.log" >&2; die "cannot build the upstream stub"; }
    HAVE_STUB=1
fi

T_BUILT=$(date +%s)

# -------------------------------------------------------------- helpers ----
# A loopback port below the kernel's ephemeral range (so that no outgoing
# connection holds it) that no socket uses. Start-up retries with another
# port if one is taken all the same.
USED_PORTS=" "
free_port() {
    local p lo
    lo=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null)
    lo=${lo:-32768}
    [ "$lo" -gt 12000 ] || lo=61000 # unusual range: use the ports above it
    for _ in $(seq 200); do
        if [ "$lo" = 61000 ]; then p=$((61000 + RANDOM % 4000)); else p=$((10000 + RANDOM % (lo - 10000))); fi
        case $USED_PORTS in *" $p "*) continue ;; esac
        if command -v ss >/dev/null; then
            [ -n "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ] && continue
        elif (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            continue
        fi
        USED_PORTS="$USED_PORTS$p "
        echo "$p"
        return 0
    done
    die "no free loopback port found"
}

# wait_ready PID CMD...: poll CMD until it succeeds (0), the process exits (1)
# or 10 s pass (2).
wait_ready() {
    local pid=$1
    shift
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 2
}

# start NAME LOG LAUNCH READY: up to 3 attempts, each on a new free port:
# LAUNCH PORT starts the server in the background (setting LAUNCHED), READY
# PORT succeeds once it answers. Sets STARTED_PORT and STARTED_PID.
start() {
    local name=$1 log=$2 launch=$3 ready=$4 port rc
    for attempt in 1 2 3; do
        port=$(free_port)
        "$launch" "$port" >"$log" 2>&1
        PIDS+=("$LAUNCHED")
        wait_ready "$LAUNCHED" "$ready" "$port"
        rc=$?
        if [ $rc = 0 ]; then
            STARTED_PORT=$port
            STARTED_PID=$LAUNCHED
            return 0
        fi
        kill -KILL "$LAUNCHED" 2>/dev/null
        if [ $rc = 2 ] || [ $attempt = 3 ]; then
            tail -20 "$log" >&2
            [ $rc = 2 ] && die "$name did not answer within 10 s (log above)"
            die "$name exited during start-up (log above)"
        fi
        say "$name did not start on port $port; retrying on another"
    done
}

http_code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
http_ok() { [ "$(http_code "$@")" = 200 ]; }
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
status_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
# Peak RSS per run: reset the process's VmHWM before it ("5" to clear_refs,
# Linux >= 4.0) and read it after. Where that is refused, the highest VmRSS
# sampled every 0.2 s stands in.
reset_hwm() { echo 5 2>/dev/null >"/proc/$1/clear_refs"; }
peak_kb() {
    local hwm sampled=${2:-0}
    hwm=$(status_kb "$1" VmHWM)
    [ "${hwm:-0}" -gt "$sampled" ] && echo "$hwm" || echo "$sampled"
}

# -------------------------------------------------------------- servers ----
launch_redis() {
    redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no \
        --maxmemory 256mb --maxmemory-policy allkeys-lru --dir "$WORK" --daemonize no &
    LAUNCHED=$!
}
ready_redis() { redis-cli -h 127.0.0.1 -p "$1" ping | grep -q PONG; }
start redis-server "$WORK/redis.log" launch_redis ready_redis
REDIS_PORT=$STARTED_PORT REDIS_PID=$STARTED_PID

launch_ceiling() {
    PORT=$1 BIND_ADDR=127.0.0.1 THREADS=$THREADS "$BUILD/ceiling" &
    LAUNCHED=$!
}
ready_ceiling() { http_ok "http://127.0.0.1:$1/"; }
start ceiling "$WORK/ceiling.log" launch_ceiling ready_ceiling
CEIL_PORT=$STARTED_PORT CEIL_PID=$STARTED_PID

launch_stub() {
    STUB_PORT=$1 STUB_BIND_ADDR=127.0.0.1 STUB_LATENCY_MS=200 STUB_FAIL_RATE=0 \
        "$BUILD/upstream-stub" &
    LAUNCHED=$!
}
ready_stub() { http_ok "http://127.0.0.1:$1/stats"; }
STUB_PORT=""
if [ $HAVE_STUB = 1 ]; then
    start upstream-stub "$WORK/stub.log" launch_stub ready_stub
    STUB_PORT=$STARTED_PORT
fi

launch_service() {
    env -u AUTH_TOKENS -u KEY_HASH_SECRET -u REDIS_ENABLED \
        PORT="$1" BIND_ADDR=127.0.0.1 THREADS="$THREADS" \
        REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" LOG_REQUESTS=false \
        ${STUB_PORT:+UPSTREAM_URL=http://127.0.0.1:$STUB_PORT} \
        "$BUILD/normcache" &
    LAUNCHED=$!
}
ready_service() { http_ok "http://127.0.0.1:$1/healthz"; }
# The same service with the access log on (LOG_REQUESTS=true, the default of
# config/normcache.env), its stderr appended to a file that is emptied after
# each run (O_APPEND: writes then start again at its new end).
ACCESS_LOG=$WORK/access.log
launch_service_log() {
    env -u AUTH_TOKENS -u KEY_HASH_SECRET -u REDIS_ENABLED \
        PORT="$1" BIND_ADDR=127.0.0.1 THREADS="$THREADS" \
        REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" LOG_REQUESTS=true \
        "$BUILD/normcache" 2>>"$ACCESS_LOG" &
    LAUNCHED=$!
}
# The same service with the near cache on (NEAR_CACHE=true, its defaults).
launch_service_near() {
    env -u AUTH_TOKENS -u KEY_HASH_SECRET -u REDIS_ENABLED \
        PORT="$1" BIND_ADDR=127.0.0.1 THREADS="$THREADS" \
        REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" LOG_REQUESTS=false NEAR_CACHE=true \
        "$BUILD/normcache" &
    LAUNCHED=$!
}
NEAR_PORT=""
NEAR_PID=""
SVC_PORT=""
SVC_PID=""
SVC_IDLE_KB=""
LOG_PORT=""
LOG_PID=""
if [ $HAVE_SVC = 1 ]; then
    start normcache "$WORK/service.log" launch_service ready_service
    SVC_PORT=$STARTED_PORT SVC_PID=$STARTED_PID
    start "normcache (access log on)" "$WORK/service-log.log" launch_service_log ready_service
    LOG_PORT=$STARTED_PORT LOG_PID=$STARTED_PID
    start "normcache (near cache on)" "$WORK/service-near.log" launch_service_near ready_service
    NEAR_PORT=$STARTED_PORT NEAR_PID=$STARTED_PID
    sleep 0.5
    SVC_IDLE_KB=$(status_kb "$SVC_PID" VmRSS)
fi
CEIL_IDLE_KB=$(status_kb "$CEIL_PID" VmRSS)

# The cluster scenario: a 3-master Redis Cluster (tests/tools/cluster_lib.sh)
# and a second normcache in REDIS_MODE=cluster, beside the single Redis.
CLUSTER_NOTE="" CSVC_PORT="" CSVC_PID="" CLUSTER_PIDS=()
if [ "${BENCH_CLUSTER:-1}" = 0 ]; then
    CLUSTER_NOTE="BENCH_CLUSTER=0"
elif [ $HAVE_SVC = 0 ]; then
    CLUSTER_NOTE=$SVC_NOTE
else
    diag() { say "$*"; }
    NC_TMP=$WORK NC_PIDS=() NC_USED_PORTS=$USED_PORTS
    . tests/tools/cluster_lib.sh
    if cluster_start 3 0 >"$WORK/cluster.log" 2>&1; then
        PIDS+=("${NC_PIDS[@]}")
        CLUSTER_PIDS=("${NC_PIDS[@]}")
        USED_PORTS=$NC_USED_PORTS
        CSVC_PORT=$(free_port)
        env -u AUTH_TOKENS -u KEY_HASH_SECRET -u REDIS_ENABLED \
            PORT="$CSVC_PORT" BIND_ADDR=127.0.0.1 THREADS="$THREADS" REDIS_MODE=cluster \
            REDIS_URL="$CL_URL" LOG_REQUESTS=false "$BUILD/normcache" >"$WORK/service-cluster.log" 2>&1 &
        CSVC_PID=$!
        PIDS+=("$CSVC_PID")
        wait_ready "$CSVC_PID" ready_service "$CSVC_PORT"
        case $? in
        0) say "cluster :${CL_PORTS[*]}  service (REDIS_MODE=cluster) :$CSVC_PORT" ;;
        1) CLUSTER_NOTE="the service does not start with REDIS_MODE=cluster: $(tail -c 150 "$WORK/service-cluster.log")" ;;
        *) CLUSTER_NOTE="the cluster-mode service did not answer within 10 s" ;;
        esac
    else
        PIDS+=("${NC_PIDS[@]}")
        CLUSTER_NOTE="the 3-master cluster did not start: $(tail -c 150 "$WORK/cluster.log")"
    fi
    [ -n "$CLUSTER_NOTE" ] && say "cluster scenario left out: $CLUSTER_NOTE"
fi
# redis_ticks: CPU ticks of the Redis serving the current run (the cluster's
# nodes summed for the cluster scenario).
REDIS_RUN_PIDS=()
redis_ticks() {
    local p t=0
    for p in "${REDIS_RUN_PIDS[@]:-$REDIS_PID}"; do t=$((t + $(cpu_ticks "$p"))); done
    echo "$t"
}
say "redis :$REDIS_PORT  ceiling :$CEIL_PORT  service :${SVC_PORT:-n/a} (access log on :${LOG_PORT:-n/a})  stub :${STUB_PORT:-n/a}"

# ------------------------------------------------------------- fixtures ----
SMALL_N=64
LARGE_N=64
RECO_N=8
TTL=3600
# PUT bodies {"q": "bench small|large N", "ttl": TTL, "value": V} where V is
# {"id":N,"text":"xxx..."} of exactly 200 B or 16 KiB, and a curl config that
# PUTs them all (written by one awk: forks are slow on small VMs).
mkdir -p "$WORK/bodies"
awk -v dir="$WORK/bodies" -v url="http://127.0.0.1:$SVC_PORT/cache" -v ttl=$TTL \
    -v small=$SMALL_N -v large=$LARGE_N -v cfg="$WORK/prefill.cfg" '
    function value(bytes, i, head, pad, s) {
        head = "{\"id\":" i ",\"text\":\""
        pad = bytes - length(head) - 2
        s = ""
        while (length(s) < pad) s = s "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        return head substr(s, 1, pad) "\"}"
    }
    function body(kind, ns, bytes, i, f) {
        f = dir "/" kind "-" i ".json"
        printf "{\"q\":\"bench %s %d\",\"ttl\":%d,\"value\":%s}", kind, i, ttl, value(bytes, i) > f
        close(f)
        if (n++) print "next" > cfg
        printf "url = \"%s/%s\"\nrequest = \"PUT\"\nheader = \"Content-Type: application/json\"\n", url, ns > cfg
        printf "data-binary = \"@%s\"\noutput = \"/dev/null\"\nwrite-out = \"%%{http_code}\\n\"\n", f > cfg
    }
    BEGIN {
        for (i = 0; i < small; i++) body("small", "bench200", 200, i)
        for (i = 0; i < large; i++) body("large", "bench16k", 16384, i)
    }' || die "cannot write the PUT fixtures"

# prefill [PORT]: PUT every small and large value (to the service on PORT,
# default the main one); prints the distinct status codes.
prefill() {
    local cfg=$WORK/prefill.cfg
    if [ -n "${1:-}" ]; then
        cfg=$WORK/prefill-$1.cfg
        sed "s|http://127.0.0.1:$SVC_PORT/|http://127.0.0.1:$1/|" "$WORK/prefill.cfg" >"$cfg"
    fi
    curl -s --no-progress-meter --parallel --parallel-max 16 --max-time 20 -K "$cfg" \
        2>/dev/null | sort | uniq -c | awk '{ printf "%s%s×%s", (NR > 1 ? " " : ""), $2, $1 }'
}

reco_path() { echo "/products/recommendations?query=$1&limit=10"; }
# warm_reco: one request per recommendations query; prints the status codes.
warm_reco() {
    local i args=()
    for i in $(seq 0 $((RECO_N - 1))); do
        args+=(-o /dev/null -w '%{http_code}\n' "http://127.0.0.1:$SVC_PORT$(reco_path "bench+reco+$i")")
    done
    curl -s --no-progress-meter --parallel --parallel-max "$RECO_N" --max-time 20 "${args[@]}" \
        2>/dev/null | sort | uniq -c | awk '{ printf "%s%s×%s", (NR > 1 ? " " : ""), $2, $1 }'
}

# ------------------------------------------------------------ scenarios ----
# id | label | target (ceiling, redis, service, stampede, lease) [| items per request]
MGET_ITEMS=20
LEASE_COMPUTE_MS=200
SCENARIOS=(
    "ceiling|Ceiling server (fixed 200 B body)|ceiling"
    "redis|Redis GET (redis-benchmark, 200 B)|redis"
    "get_hit_200|GET hit, 200 B value|service"
    "get_hit_200_log|GET hit, 200 B value, access log on|service"
    "get_hit_cluster|GET hit, 200 B value, 3-master Redis Cluster|service"
    "mget_20|POST _mget, ${MGET_ITEMS} hits of 200 B|service|$MGET_ITEMS"
    "get_hit_16k|GET hit, 16 KiB value|service"
    "get_miss|GET miss|service"
    "put|PUT, 200 B value|service"
    "mixed|Mixed 90 % GET hit / 10 % PUT|service"
    "get_hit_200_near|GET hit, 200 B value, near cache on|service"
    "mixed_near|Mixed 90 % GET hit / 10 % PUT, near cache on|service"
    "reco_hit|Recommendations hit|service"
    "ceiling_stampede|Ceiling: ${STAMPEDE_N} concurrent requests|stampede"
    "reco_stampede|Recommendations: ${STAMPEDE_N} concurrent cold, 200 ms upstream|stampede"
    "lease_storm|Cache-Lease: ${STAMPEDE_N} acquires, cold key, ${LEASE_COMPUTE_MS} ms holder|lease"
)
if [ -n "$ONLY" ]; then
    KEPT=()
    for s in "${SCENARIOS[@]}"; do
        id=${s%%|*}
        if [ "$id" = ceiling ] || [[ $id =~ $ONLY ]]; then KEPT+=("$s"); fi
    done
    SCENARIOS=("${KEPT[@]}")
fi
printf '%s\n' "${SCENARIOS[@]}" >"$WORK/scenarios.txt"
RAW=$WORK/raw.tsv
: >"$RAW"
HARNESS_FAILED=0

# record ID ROUND STATUS RPS P50 P99 P999 REQS NON2XX SOCKERR TICKS RTICKS RSS_KB NOTE [extra...]
record() {
    local IFS=$'\t'
    echo "$*" >>"$RAW"
}
na() { record "$1" "$2" na 0 0 0 0 0 0 0 0 0 0 "$3"; }

# run_wrk ID ROUND URL PID LUA-ARGS...: one wrk run against URL; the CPU and
# RSS figures are those of process PID (and Redis).
run_wrk() {
    local id=$1 round=$2 url=$3 pid=$4
    shift 4
    local t0 r0 t1 r1 rss=0 cur line
    reset_hwm "$pid"
    t0=$(cpu_ticks "$pid")
    r0=$(redis_ticks)
    wrk -t1 -c"$CONNS" -d"${SECS}s" --latency -s bench/scenario.lua "$url" -- "$@" \
        >"$WORK/wrk-$id-$round.out" 2>&1 &
    local wpid=$!
    while kill -0 "$wpid" 2>/dev/null; do
        cur=$(status_kb "$pid" VmRSS)
        [ "${cur:-0}" -gt "$rss" ] && rss=$cur
        sleep 0.2
    done
    if ! wait "$wpid"; then
        cat "$WORK/wrk-$id-$round.out" >&2
        say "wrk failed in scenario $id"
        HARNESS_FAILED=1
        na "$id" "$round" "wrk failed"
        return
    fi
    t1=$(cpu_ticks "$pid")
    r1=$(redis_ticks)
    rss=$(peak_kb "$pid" "$rss")
    line=$(grep '^BENCH ' "$WORK/wrk-$id-$round.out")
    if [ -z "$line" ]; then
        cat "$WORK/wrk-$id-$round.out" >&2
        say "no result line from wrk in scenario $id"
        HARNESS_FAILED=1
        na "$id" "$round" "no wrk result"
        return
    fi
    local requests duration non2xx sockerr p50 p99 p999
    eval "$(echo "$line" | awk '{ for (i = 2; i <= NF; i++) { split($i, kv, "="); printf "local w_%s=%s\n", kv[1], kv[2] } }')"
    requests=$w_requests
    duration=$w_duration_us
    non2xx=$w_non2xx
    sockerr=$((w_connect + w_read + w_write + w_timeout))
    p50=$w_p50_us p99=$w_p99_us p999=$w_p999_us
    local rps note=""
    rps=$(awk -v n="$requests" -v d="$duration" 'BEGIN { printf "%.1f", (d > 0 ? n * 1e6 / d : 0) }')
    [ "$requests" = 0 ] && note="no request completed"
    record "$id" "$round" ok "$rps" "$p50" "$p99" "$p999" "$requests" "$non2xx" "$sockerr" \
        $((t1 - t0)) $((r1 - r0)) "$rss" "$note"
}

REDIS_N=0
run_redis() {
    local round=$1 t0 t1 rss out
    if [ "$REDIS_N" = 0 ]; then
        redis-cli -h 127.0.0.1 -p "$REDIS_PORT" set key:__rand_int__ "$(head -c 200 /dev/zero | tr '\0' x)" >/dev/null
        # Size -n so that a run lasts about BENCH_SECONDS.
        local probe
        probe=$(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -t get -c "$CONNS" -n 20000 --csv 2>/dev/null |
            awk -F'"' '$2 == "GET" { print int($4) }')
        REDIS_N=$((${probe:-50000} * SECS))
        [ "$REDIS_N" -lt 10000 ] && REDIS_N=10000
    fi
    out=$WORK/redis-$round.out
    reset_hwm "$REDIS_PID"
    t0=$(cpu_ticks "$REDIS_PID")
    if ! redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -t get -c "$CONNS" -n "$REDIS_N" >"$out" 2>&1; then
        say "redis-benchmark failed"
        HARNESS_FAILED=1
        na redis "$round" "redis-benchmark failed"
        return
    fi
    t1=$(cpu_ticks "$REDIS_PID")
    rss=$(peak_kb "$REDIS_PID")
    # Summary: throughput and p50/p99; p99.9 from the percentile distribution
    # (its first step at or above 99.9 %).
    tr '\r' '\n' <"$out" | awk -v n="$REDIS_N" -v t=$((t1 - t0)) -v rss="$rss" -v round="$round" '
        /^Latency by percentile distribution/ { dist = 1; next }
        dist && /^$/ { dist = 0 }
        dist && p999 == "" { pct = $1; sub(/%/, "", pct); if (pct + 0 >= 99.9) p999 = $3 }
        /throughput summary:/ { rps = $3 }
        /latency summary/ { getline; getline; p50 = $3; p99 = $5 }
        END {
            printf "redis\t%s\tok\t%s\t%d\t%d\t%d\t%d\t0\t0\t%d\t%d\t%d\t\n", round, rps,
                p50 * 1000, p99 * 1000, p999 * 1000, n, t, t, rss
        }' >>"$RAW"
}

STUB_URL=${STUB_PORT:+http://127.0.0.1:$STUB_PORT}
stub_calls() { curl -s --max-time 5 "$STUB_URL/stats" | tr -d ' \n' | sed -n 's/.*"calls":\([0-9]*\).*/\1/p'; }

# run_stampede ID ROUND PORT PID PATH WARM_PATH [PUT_PATH PUT_BODY COMPUTE_MS]:
# STAMPEDE_N concurrent requests on connections opened and used once (GET
# WARM_PATH) beforehand; with PUT_PATH, in lease mode (bench/stampede.c).
# Extra fields: wall_ms total_ms status_200 status_other failed distinct calls
# and, in lease mode, leases collapsed puts_ok put_status put_ms
run_stampede() {
    local id=$1 round=$2 port=$3 pid=$4 path=$5 warm=$6 c0="" c1="" t0 t1 n0 n1 line
    shift 6
    if [ "$id" = reco_stampede ]; then
        local code
        code=$(http_code -X PUT -H 'Content-Type: application/json' \
            --data '{"mode":"ok","latency_ms":200}' "$STUB_URL/mode")
        [ "$code" = 200 ] || say "stub PUT /mode answered $code (latency stays at STUB_LATENCY_MS=200)"
        c0=$(stub_calls)
    fi
    reset_hwm "$pid"
    t0=$(cpu_ticks "$pid")
    n0=$(date +%s%N)
    line=$("$BUILD/stampede" 127.0.0.1 "$port" "$path" "$STAMPEDE_N" 10000 300 "$warm" "$@")
    n1=$(date +%s%N)
    t1=$(cpu_ticks "$pid")
    [ "$id" = reco_stampede ] && c1=$(stub_calls)
    if [ -z "$line" ]; then
        say "stampede driver failed in $id"
        HARNESS_FAILED=1
        na "$id" "$round" "driver failed"
        return
    fi
    echo "$line" >"$WORK/stampede-$id-$round.out"
    local calls=""
    [ -n "$c0" ] && [ -n "$c1" ] && calls=$((c1 - c0))
    echo "$line" | awk -v id="$id" -v round="$round" -v t=$((t1 - t0)) -v calls="$calls" \
        -v total=$(((n1 - n0) / 1000000)) -v rss="$(peak_kb "$pid")" '
        { for (i = 2; i <= NF; i++) { split($i, kv, "="); s[kv[1]] = kv[2] } }
        END {
            note = ""
            if (s["answered"] + 0 < s["n"] + 0) note = (s["n"] - s["answered"]) " unanswered"
            if (s["connected"] + 0 < s["n"] + 0) note = note (note == "" ? "" : ", ") (s["n"] - s["connected"]) " could not connect"
            if (s["warm_failed"] + 0 > 0) note = note (note == "" ? "" : ", ") s["warm_failed"] " failed the warm-up request"
            if ("leases" in s && s["puts_ok"] + 0 < s["leases"] + 0) note = note (note == "" ? "" : ", ") "PUT with the lease answered " s["put_status"]
            printf "%s\t%s\tok\t0\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t0\t%d\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\n",
                id, round, s["p50_ms"] * 1000, s["p99_ms"] * 1000, s["max_ms"] * 1000,
                s["answered"], s["status_other"], s["failed"], t, rss, note,
                s["wall_ms"], total, s["status_200"], s["status_other"], s["failed"],
                s["distinct_bodies"], calls, s["leases"], s["collapsed"], s["puts_ok"],
                s["put_status"], s["put_ms"]
        }' >>"$RAW"
}

# mget_hits: how many of the MGET_ITEMS queries the mget_20 scenario reads
# first hit (all of them once the prefill landed).
mget_hits() {
    local i items=""
    for i in $(seq 0 $((MGET_ITEMS - 1))); do items="$items${items:+,}{\"q\":\"bench small $i\"}"; done
    curl -s --max-time 10 -X POST -H 'Content-Type: application/json' \
        --data "{\"items\":[$items]}" "http://127.0.0.1:$SVC_PORT/cache/bench200/_mget" |
        grep -o '"hit":true' | wc -l
}
# lease_value: the 200 B value the lease holder stores.
lease_value() { sed 's/^.*"value"://; s/}$//' "$WORK/bodies/small-0.json"; }

RECO_OK=0
STAMPEDE_SEQ=0
for round in $(seq 1 "$ROUNDS"); do
    say "round $round/$ROUNDS (${SECS}s per run)"
    PREFILL="" RECO_WARM="" CPREFILL=""
    if [ $HAVE_SVC = 1 ]; then
        PREFILL=$(prefill)
        [ "$round" = 1 ] && say "prefill PUT /cache: $PREFILL"
        if [ -n "$CSVC_PID" ]; then
            CPREFILL=$(prefill "$CSVC_PORT")
            [ "$round" = 1 ] && say "prefill PUT /cache (cluster mode): $CPREFILL"
        fi
        if [ $HAVE_STUB = 1 ]; then
            RECO_WARM=$(warm_reco)
            [ "$round" = 1 ] && say "warm GET /products/recommendations: $RECO_WARM"
            [ "$RECO_WARM" = "200×$RECO_N" ] && RECO_OK=1 || RECO_OK=0
        fi
    fi
    # The PUT routes are there when the prefill got anything but 404/405/000.
    put_ok=0
    case $PREFILL in "" | *404* | *405* | 000*) ;; *) put_ok=1 ;; esac
    for s in "${SCENARIOS[@]}"; do
        IFS='|' read -r id label target _ <<<"$s"
        say "  $id"
        case $id in
        ceiling)
            run_wrk ceiling "$round" "http://127.0.0.1:$CEIL_PORT" "$CEIL_PID" \
                get "path=/cache/bench200?q=" "prefix=bench small" n=$SMALL_N
            ;;
        redis) run_redis "$round" ;;
        ceiling_stampede)
            run_stampede ceiling_stampede "$round" "$CEIL_PORT" "$CEIL_PID" \
                "$(reco_path "bench+stampede+$round")" /
            ;;
        *)
            if [ $HAVE_SVC = 0 ]; then
                na "$id" "$round" "$SVC_NOTE"
                continue
            fi
            case $id in
            get_hit_200 | get_hit_200_log | get_hit_16k | mixed | mget_20 | *_near)
                if [ $put_ok = 0 ]; then
                    na "$id" "$round" "prefill PUT /cache answered ${PREFILL:-nothing}"
                    continue
                fi
                ;;
            put | lease_storm)
                if [ $put_ok = 0 ]; then
                    na "$id" "$round" "PUT /cache answered ${PREFILL:-nothing}"
                    continue
                fi
                ;;
            reco_hit | reco_stampede)
                if [ $HAVE_STUB = 0 ]; then
                    na "$id" "$round" "$STUB_NOTE"
                    continue
                fi
                if [ $RECO_OK = 0 ]; then
                    na "$id" "$round" "warm-up GET /products/recommendations answered $RECO_WARM"
                    continue
                fi
                ;;
            esac
            local_url="http://127.0.0.1:$SVC_PORT"
            case $id in
            get_hit_200)
                run_wrk "$id" "$round" "$local_url" "$SVC_PID" \
                    get "path=/cache/bench200?q=" "prefix=bench small" n=$SMALL_N ;;
            get_hit_200_log)
                run_wrk "$id" "$round" "http://127.0.0.1:$LOG_PORT" "$LOG_PID" \
                    get "path=/cache/bench200?q=" "prefix=bench small" n=$SMALL_N
                ACCESS_LINES=$(grep -c '"msg":"request"' "$ACCESS_LOG")
                say "    $ACCESS_LINES access lines written"
                : >"$ACCESS_LOG" ;;
            get_hit_cluster)
                if [ -n "$CLUSTER_NOTE" ]; then
                    na "$id" "$round" "$CLUSTER_NOTE"
                    continue
                fi
                case $CPREFILL in 200×*) ;; *)
                    na "$id" "$round" "prefill PUT /cache in cluster mode answered ${CPREFILL:-nothing}"
                    continue
                    ;;
                esac
                REDIS_RUN_PIDS=("${CLUSTER_PIDS[@]}")
                run_wrk "$id" "$round" "http://127.0.0.1:$CSVC_PORT" "$CSVC_PID" \
                    get "path=/cache/bench200?q=" "prefix=bench small" n=$SMALL_N
                REDIS_RUN_PIDS=() ;;
            mget_20)
                hits=$(mget_hits)
                if [ "$hits" != "$MGET_ITEMS" ]; then
                    na "$id" "$round" "_mget after the prefill: ${hits:-no answer} of $MGET_ITEMS items hit"
                    continue
                fi
                run_wrk "$id" "$round" "$local_url" "$SVC_PID" \
                    mget ns=bench200 "prefix=bench small" n=$SMALL_N items=$MGET_ITEMS ;;
            get_hit_16k)
                run_wrk "$id" "$round" "$local_url" "$SVC_PID" \
                    get "path=/cache/bench16k?q=" "prefix=bench large" n=$LARGE_N ;;
            get_miss)
                run_wrk "$id" "$round" "$local_url" "$SVC_PID" \
                    get "path=/cache/benchmiss?q=" "prefix=never stored" n=$SMALL_N ;;
            put)
                run_wrk "$id" "$round" "$local_url" "$SVC_PID" \
                    put ns=benchput "prefix=bench put" n=256 bytes=200 ttl=$TTL ;;
            mixed)
                run_wrk "$id" "$round" "$local_url" "$SVC_PID" \
                    mixed "path=/cache/bench200?q=" "prefix=bench small" n=$SMALL_N \
                    ns=bench200 n_put=$SMALL_N bytes=200 ttl=$TTL put_every=10 ;;
            get_hit_200_near)
                run_wrk "$id" "$round" "http://127.0.0.1:$NEAR_PORT" "$NEAR_PID" \
                    get "path=/cache/bench200?q=" "prefix=bench small" n=$SMALL_N ;;
            mixed_near)
                run_wrk "$id" "$round" "http://127.0.0.1:$NEAR_PORT" "$NEAR_PID" \
                    mixed "path=/cache/bench200?q=" "prefix=bench small" n=$SMALL_N \
                    ns=bench200 n_put=$SMALL_N bytes=200 ttl=$TTL put_every=10 ;;
            reco_hit)
                run_wrk "$id" "$round" "$local_url" "$SVC_PID" \
                    get "path=/products/recommendations?query=" "prefix=bench reco" \
                    n=$RECO_N "suffix=&limit=10" ;;
            reco_stampede)
                STAMPEDE_SEQ=$((STAMPEDE_SEQ + 1))
                run_stampede reco_stampede "$round" "$SVC_PORT" "$SVC_PID" \
                    "$(reco_path "bench+stampede+$$+$(date +%s%N)+$STAMPEDE_SEQ")" /healthz ;;
            lease_storm)
                # A cold key per round; the holder PUTs a 200 B value with its token.
                q="bench lease $$ $(date +%s%N) $round"
                run_stampede lease_storm "$round" "$SVC_PORT" "$SVC_PID" \
                    "/cache/benchlease?q=${q// /+}" /healthz /cache/benchlease \
                    "{\"q\":\"$q\",\"ttl\":$TTL,\"value\":$(lease_value)}" \
                    "$LEASE_COMPUTE_MS" ;;
            esac
            ;;
        esac
    done
done

if [ -n "$SVC_PID" ]; then
    nwarn=$(grep -ciE 'warn|error' "$WORK/service.log")
    [ "${nwarn:-0}" -gt 0 ] && say "the service logged $nwarn warning/error line(s), e.g.: $(grep -iE 'warn|error' "$WORK/service.log" | head -1)"
fi
if [ -n "$SVC_PID" ] && ! kill -0 "$SVC_PID" 2>/dev/null; then
    tail -20 "$WORK/service.log" >&2
    say "the service died during the benchmark (log above)"
    HARNESS_FAILED=1
fi
if [ -n "$NEAR_PID" ] && ! kill -0 "$NEAR_PID" 2>/dev/null; then
    tail -20 "$WORK/service-near.log" >&2
    say "the service with the near cache on died during the benchmark (log above)"
    HARNESS_FAILED=1
fi
if [ -n "$LOG_PID" ] && ! kill -0 "$LOG_PID" 2>/dev/null; then
    tail -20 "$WORK/service-log.log" >&2
    say "the service with the access log on died during the benchmark (log above)"
    HARNESS_FAILED=1
fi

# -------------------------------------------------------------- report ----
# A partial run (BENCH_ONLY) leaves the full run's results alone.
[ -n "$ONLY" ] && RESULTS=$BUILD/bench-partial
mkdir -p "$RESULTS"
CPU_MODEL=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
[ -z "$CPU_MODEL" ] && CPU_MODEL=$(lscpu 2>/dev/null | awk -F': *' '/Model name/ { print $2; exit }')
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD -- src include cmd 2>/dev/null || COMMIT="$COMMIT+dirty"
awk -F'\t' \
    -v date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -v arch="$(uname -m)" -v cpumodel="${CPU_MODEL:-unknown}" \
    -v nproc="$NPROC" -v kernel="$(uname -r)" -v commit="$COMMIT" -v secs="$SECS" \
    -v rounds="$ROUNDS" -v conns="$CONNS" -v threads="$THREADS" -v tick="$TICK" \
    -v svc_idle="$SVC_IDLE_KB" -v ceil_idle="$CEIL_IDLE_KB" -v stampede_n="$STAMPEDE_N" \
    -v json="$RESULTS/latest.json.tmp" -v md="$RESULTS/latest.md.tmp" \
    -f bench/report.awk "$WORK/scenarios.txt" "$RAW" || die "report failed"
mv "$RESULTS/latest.json.tmp" "$RESULTS/latest.json"
mv "$RESULTS/latest.md.tmp" "$RESULTS/latest.md"
say "wrote $RESULTS/latest.json and $RESULTS/latest.md in $(($(date +%s) - T_START)) s (build $((T_BUILT - T_START)) s)"
[ $HARNESS_FAILED = 0 ] || die "the harness failed in at least one run (see above)"
exit 0
