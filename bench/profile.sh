#!/usr/bin/env bash
# bench/profile.sh - where the time of a GET hit goes (`make profile`).
#
# Builds the optimised service (as `make bench` does), starts a private
# redis-server and the service on free loopback ports, stores 64 values of
# 200 B and sends GET hits for them with wrk (-t1 -c32, bench/scenario.lua),
# then reports, for the service process:
#   1. system calls per request: `strace -c -f` attached during one wrk run
#      (strace slows the process down; the counts per request are what
#      matter, not the rate);
#   2. the hottest functions: `perf record -g` (software cpu-clock: VMs
#      often have no hardware counters) during another run, printed as
#      `perf report --no-children` (self time) and with children.
# Each step is skipped with a note when its tool is missing or refused.
#
#   PROFILE_SECONDS  seconds per wrk run (5)
#   PROFILE_LOG      LOG_REQUESTS of the service: false (default) or true
#   PROFILE_THREADS  worker threads (nproc)
#   BENCH_BUILD      build folder (build-bench)
# Output goes to stdout and to $BENCH_BUILD/profile/ (perf.data, reports).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

SECS=${PROFILE_SECONDS:-5}
LOGREQ=${PROFILE_LOG:-false}
THREADS=${PROFILE_THREADS:-$(nproc)}
BUILD=${BENCH_BUILD:-build-bench}
OUT=$BUILD/profile
say() { printf 'profile: %s\n' "$*" >&2; }
die() {
    say "error: $*"
    exit 1
}
for tool in wrk redis-server redis-cli curl python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed"
done
make --no-print-directory -j"$(nproc)" BUILD="$BUILD" OPT="-O2 -g -DNDEBUG" "$BUILD/normcache" \
    >/dev/null || die "cannot build $BUILD/normcache"
mkdir -p "$OUT"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/normcache-profile.XXXXXX") || die "mktemp failed"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    sleep 0.3
    for p in "${PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
RPORT=$(port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" \
    --daemonize no >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
SPORT=$(port)
env -u AUTH_TOKENS -u KEY_HASH_SECRET PORT="$SPORT" BIND_ADDR=127.0.0.1 THREADS="$THREADS" \
    REDIS_URL="redis://127.0.0.1:$RPORT/0" LOG_REQUESTS="$LOGREQ" "$BUILD/normcache" \
    2>"$WORK/service.log" &
SPID=$!
PIDS+=("$SPID")
for _ in $(seq 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/healthz")" = 200 ] && break
    sleep 0.1
done
value=$(printf '{"id":0,"text":"%s"}' "$(head -c 178 /dev/zero | tr '\0' x)")
for i in $(seq 0 63); do
    curl -s -o /dev/null -X PUT -H 'Content-Type: application/json' \
        --data "{\"q\":\"bench small $i\",\"ttl\":3600,\"value\":$value}" \
        "http://127.0.0.1:$SPORT/cache/bench200"
done
hit=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$SPORT/cache/bench200?q=bench+small+7")
[ "$hit" = 200 ] || die "GET after the prefill answered $hit"

load() {
    wrk -t1 -c32 -d"${SECS}s" -s bench/scenario.lua "http://127.0.0.1:$SPORT" -- \
        get "path=/cache/bench200?q=" "prefix=bench small" n=64 >"$WORK/wrk.out" 2>&1
    sed -n 's/^BENCH requests=\([0-9]*\) duration_us=\([0-9]*\).*/\1 \2/p' "$WORK/wrk.out"
}

say "service :$SPORT (LOG_REQUESTS=$LOGREQ, THREADS=$THREADS), redis :$RPORT; ${SECS}s per run"
read -r n us < <(load)
echo "warm-up run without tracing: $n requests, $(awk -v n="$n" -v d="$us" 'BEGIN { printf "%.0f", n * 1e6 / d }') req/s"

# ------------------------------------------------------------ syscalls ----
if command -v strace >/dev/null; then
    strace -c -f -p "$SPID" -o "$OUT/strace.txt" &
    STR=$!
    sleep 0.5
    read -r n _ < <(load)
    kill -INT "$STR" 2>/dev/null
    wait "$STR" 2>/dev/null
    echo
    echo "system calls per request (strace -c -f, $n requests):"
    awk -v n="$n" '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
            calls = $4; name = $NF
            if (calls ~ /^[0-9]+$/ && calls > 0) printf "  %-16s %8.3f\n", name, calls / n
        }
        $NF == "total" { printf "  %-16s %8.3f\n", "total", $4 / n }' "$OUT/strace.txt" |
        sort -k2 -rn | tee "$OUT/syscalls.txt"
else
    say "strace is not installed: no system call counts"
fi

# ---------------------------------------------------------------- perf ----
if command -v perf >/dev/null; then
    perf record -e cpu-clock -F 2000 -g -p "$SPID" -o "$OUT/perf.data" -- sleep "$SECS" \
        >/dev/null 2>"$WORK/perf.err" &
    PRF=$!
    read -r n us < <(load)
    wait "$PRF"
    if [ -s "$OUT/perf.data" ]; then
        perf report -i "$OUT/perf.data" --no-children --sort sym --stdio 2>/dev/null |
            grep -v '^$' >"$OUT/perf-self.txt"
        perf report -i "$OUT/perf.data" --children --sort sym --stdio -g none 2>/dev/null |
            grep -v '^$' >"$OUT/perf-children.txt"
        perf report -i "$OUT/perf.data" --no-children --sort dso --stdio 2>/dev/null |
            grep -E '^ +[0-9.]+%' >"$OUT/perf-dso.txt"
        echo
        echo "CPU of the service by library, self time (perf record -e cpu-clock, $n requests):"
        head -8 "$OUT/perf-dso.txt"
        echo
        echo "CPU under each system call's libc wrapper (inclusive: the kernel's work for it):"
        grep -E '\] (__libc_sendmsg|__libc_recv|epoll_ctl|epoll_wait|__GI___libc_write|__GI___libc_read|__libc_write|__libc_read)$' \
            "$OUT/perf-children.txt" | awk '{ print "  " $1 "  " $NF }'
        echo
        echo "hottest functions, self time:"
        grep -E '^ +[0-9.]+%' "$OUT/perf-self.txt" | head -25
    else
        say "perf record failed: $(head -3 "$WORK/perf.err")"
        say "(try: sysctl kernel.perf_event_paranoid=-1)"
    fi
else
    say "perf is not installed (apt-get install linux-perf): no profile"
fi
say "reports in $OUT/"
