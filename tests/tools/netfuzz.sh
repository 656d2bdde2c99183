#!/usr/bin/env bash
# netfuzz.sh - behind `make netfuzz`: a redis-server, the upstream stub and
# the service (built with sanitizers into $BUILD, e.g. build-asan), then
# tests/tools/netfuzz.py against the service, then the checks: the fuzzer's
# own (the service answers /healthz, it is alive, every log line is JSON),
# no sanitizer report in the service's stderr, and a clean SIGTERM exit.
# Output is TAP-like (tests/integration/lib.sh's helpers); exit 1 on any
# failure. The service log is kept in $BUILD/netfuzz/ for reading.
#
# Environment: BUILD (default build-asan), NETFUZZ_REQUESTS (25000),
# NETFUZZ_SECONDS (240), NETFUZZ_SEED (random; printed, replays a run).
BUILD=${BUILD:-build-asan}
NC_DB=0
unset NC_TEST_REDIS_PORT # always a private redis-server (lib.sh starts one)
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/recs_lib.sh"

TOKEN=netfuzz-token-1
start_stub STUB_LATENCY_MS=5 || finish
# halt_on_error=0: UBSan goes on after a report (ASan stops the process:
# the liveness check then fails too); both report into the service log.
start_service "UPSTREAM_URL=$STUB_URL" "AUTH_TOKENS=$TOKEN" THREADS=2 MAX_BODY_BYTES=65536 \
    HTTP_IDLE_TIMEOUT_SECONDS=2 LOG_LEVEL=debug \
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 || finish
diag "service pid $SVC_PID on port $SVC_PORT, log $SVC_LOG"

while IFS= read -r line; do
    case $line in
    "ok - "*) ok "${line#ok - }" ;;
    "not ok - "*) notok "${line#not ok - }" ;;
    "#"*) echo "$line" ;;
    *) [ -n "$line" ] && diag "$line" ;;
    esac
done < <(python3 "$NC_ROOT/tests/tools/netfuzz.py" --port "$SVC_PORT" --pid "$SVC_PID" \
    --log "$SVC_LOG" --token "$TOKEN" --requests "${NETFUZZ_REQUESTS:-25000}" \
    --seconds "${NETFUZZ_SECONDS:-240}" ${NETFUZZ_SEED:+--seed "$NETFUZZ_SEED"} 2>&1)

if grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$SVC_LOG"; then
    notok "no sanitizer report in the service log"
    grep -m 5 -A 8 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:' "$SVC_LOG" |
        while IFS= read -r l; do diag "$l"; done
else
    ok "no sanitizer report in the service log"
fi
log=$SVC_LOG
stop_service # a clean SIGTERM exit, and the sanitizer check once more (shutdown leaks)
mkdir -p "$BUILD/netfuzz" && cp "$log" "$BUILD/netfuzz/service.log" &&
    diag "service log kept in $BUILD/netfuzz/service.log"
finish
