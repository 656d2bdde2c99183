#!/usr/bin/env bash
# run.sh - runs each libFuzzer target for SECONDS (behind `make fuzz`).
#
#   tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
#
# Each target starts from its checked-in seeds (tests/fuzz/corpus/<target>,
# never written to) plus what earlier runs found ($BUILD_DIR/corpus/<target>,
# where new inputs go). A crash, a sanitizer report, a broken property, a
# leak or a slow input stops that target and is saved under
# $BUILD_DIR/artifacts/; the run goes on with the other targets and exits 1
# at the end. The last lines are one summary per target: executions,
# executions per second, coverage, and the result.
set -u
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
BUILD=${1:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
SECS=${2:?usage: run.sh BUILD_DIR SECONDS [TARGET...]}
shift 2
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=($(cd tests/fuzz && ls fuzz_*.c | sed 's/\.c$//'))

mkdir -p "$BUILD/artifacts" "$BUILD/logs"
failed=0
summary=()
for t in "${targets[@]}"; do
    bin=$BUILD/fuzz/$t
    [ -x "$bin" ] || { echo "fuzz: $bin is not built" >&2; failed=1; continue; }
    mkdir -p "$BUILD/corpus/$t"
    dict=()
    [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
    log=$BUILD/logs/$t.log
    echo "fuzz: $t for ${SECS}s"
    # -max_len: deep nesting needs room (1000 levels = 2000 bytes)
    "$bin" -max_total_time="$SECS" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        -max_len=4096 -artifact_prefix="$BUILD/artifacts/$t-" "${dict[@]}" \
        "$BUILD/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -n 1)
    if [ $rc = 0 ]; then
        res=ok
    else
        res="FAILED (exit $rc; log $log)"
        failed=1
        grep -m 3 -E 'ERROR:|runtime error|fuzz property broken|Test unit written' "$log" | sed 's/^/    /'
    fi
    summary+=("$(printf '%-16s %10s execs %8s exec/s  %-10s %s' "$t" "${execs:-?}" "${eps:-?}" "${cov:-cov: ?}" "$res")")
done
printf '%s\n' "${summary[@]}"
exit $failed
