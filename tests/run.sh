#!/usr/bin/env bash
# run.sh - the test runner behind `make test`.
#
#   tests/run.sh                 unit tests, then integration tests
#   tests/run.sh --unit          only the cmocka binaries $BUILD/tests/test_*
#   tests/run.sh --integration   only tests/integration/test_*.sh
#
# Unit binaries are cmocka programs: their "[  PASSED  ] N test(s)." and
# "[  FAILED  ] N test(s)" lines are added up; a binary that crashes, hangs or
# exits non-zero without reporting a failure counts as one failure.
#
# Integration scripts share ONE throwaway redis-server on a free loopback port
# (exported as NC_TEST_REDIS_PORT and NC_TEST_REDIS_DIR; each script keeps to
# its own database number or KEY_PREFIX). A script prints TAP-like lines
# "ok - ..." / "not ok - ..."; diagnostics start with "#". A script that exits
# non-zero without printing "not ok" counts as one failure.
#
# A part that ran zero checks counts as one failure, whatever its exit
# status: a unit binary with no "[  PASSED  ]"/"[  FAILED  ]" count, or a
# script that printed no "ok"/"not ok" line (it died early, sourced the wrong
# file, or lost its checks to a refactoring) proves nothing and must not pass.
# So does an NC_TEST_ONLY that matches no script.
#
# The last line is the summary "N passed, N failed"; the exit status is 0 only
# when nothing failed. Full output of every part is kept in
# $BUILD/test-logs/<run>/ ($BUILD/test-logs/latest is the newest run).
#
# Environment:
#   BUILD            build directory (default: build)
#   NC_VALGRIND=1    run unit binaries and every service under valgrind memcheck
#   NC_SANITIZE=1    the build is sanitized (make asan / make tsan; scripts see
#                    it too and leave out RSS bounds): every
#                    sanitized process writes its reports to
#                    <logdir>/san-<part>/report.<pid> (log_path added to
#                    ASAN_/UBSAN_/LSAN_/TSAN_OPTIONS, which lib.sh passes on
#                    to the binaries it starts), and a part (unit binary or
#                    script) that leaves any report there fails; so does one
#                    with a sanitizer headline in its log or, for a script,
#                    in its TMPDIR (<log>.tmp, kept: the services' stderr)
#   NC_TEST_JOBS=N   run N integration scripts at once (default 1)
#   NC_TEST_ONLY=re  run only integration scripts whose name matches re (a
#                    bash regex on the file name, e.g. 'keys' or '^test_recs_')
set -u

# UTF-8 whatever the caller's locale (CI often has none): test texts are UTF-8.
export LC_ALL=C.UTF-8

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2

BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
export BUILD

mode=all
case ${1:-} in
"") ;;
--unit) mode=unit ;;
--integration) mode=integration ;;
-h | --help)
    sed -n '2,/^set -u/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0
    ;;
*)
    echo "usage: tests/run.sh [--unit|--integration]" >&2
    exit 2
    ;;
esac

VALGRIND=${NC_VALGRIND:-0}
[ "$VALGRIND" = 0 ] && VALGRIND=""
JOBS=${NC_TEST_JOBS:-1}
case $JOBS in '' | *[!0-9]* | 0) JOBS=1 ;; esac
if [ -n "$VALGRIND" ]; then
    UNIT_TIMEOUT=900
    SCRIPT_TIMEOUT=1800
else
    UNIT_TIMEOUT=120
    SCRIPT_TIMEOUT=420
fi

PASSED=0
FAILED=0
FAIL_LINES=()

# One log directory per run (several runs may share a build directory);
# $BUILD/test-logs/latest points at the newest, the ten newest are kept.
LOGROOT=$BUILD/test-logs
LOGDIR=$LOGROOT/$(date +%Y%m%d-%H%M%S)-$$
mkdir -p "$LOGDIR" || exit 2
ln -sfn "$(basename "$LOGDIR")" "$LOGROOT/latest" 2>/dev/null
ls -1d "$LOGROOT"/2*-* 2>/dev/null | sort -r | tail -n +11 | while IFS= read -r d; do rm -rf "$d"; done
rm -f "$LOGROOT"/*.log "$LOGROOT"/*.log.rc 2>/dev/null # the flat layout of older runs
export NC_TEST_LOGDIR=$LOGDIR

# cmocka writes its summary lines to stdout only in its default format.
unset CMOCKA_MESSAGE_OUTPUT CMOCKA_XML_FILE CMOCKA_TEST_ABORT

# ---------------------------------------------------------------------------
# Sanitizer reports
# ---------------------------------------------------------------------------
SANITIZE=${NC_SANITIZE:-0}
[ "$SANITIZE" = 0 ] && SANITIZE=""
SAN_VARS=(ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TSAN_OPTIONS)

# san_env DIR: the sanitizer options of one part, reports going to DIR (for
# `env`; the caller's options first, log_path last so that it wins).
san_env() {
    local v
    [ -n "$SANITIZE" ] || return 0
    mkdir -p "$1"
    for v in "${SAN_VARS[@]}"; do
        printf '%s\n' "$v=${!v:-}${!v:+:}log_path=$1/report"
    done
    printf '%s\n' "NC_SAN_DIR=$1"
}

# Sanitizer headlines in a process's stderr (GCC's UBSan ignores log_path
# when linked with ASan, so its reports only ever go there).
SAN_RE='ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer'

# san_collect NAME DIR [PATH...]: 0 when DIR holds no report and no PATH
# (file or directory, searched recursively) has a sanitizer headline;
# otherwise adds a failure with the headline and summary lines and returns 1.
# DIR is removed when clean.
san_collect() {
    local name=$1 dir=$2 f line
    shift 2
    [ -n "$SANITIZE" ] || return 0
    local reports=()
    for f in "$dir"/report.*; do [ -s "$f" ] && reports+=("$f"); done
    if [ $# -gt 0 ]; then
        while IFS= read -r f; do reports+=("$f"); done < <(grep -rlE "$SAN_RE" "$@" 2>/dev/null)
    fi
    if [ ${#reports[@]} -eq 0 ]; then
        rm -rf "$dir"
        return 0
    fi
    fail_line "$name: not ok - sanitizer report(s) in: ${reports[*]}"
    while IFS= read -r line; do FAIL_LINES+=("  $line"); done < <(
        grep -hE "$SAN_RE|^SUMMARY: |^    #[0-4] " "${reports[@]}" | head -n 40)
    return 1
}

# ---------------------------------------------------------------------------
# The shared redis-server, killed on any exit.
# ---------------------------------------------------------------------------
REDIS_DIR=""
REDIS_PID=""
JOB_PIDS=()

cleanup() {
    local p f
    for p in "${JOB_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; done
    for f in "$LOGDIR"/*.log.pid; do
        [ -f "$f" ] || continue
        # timeout(1) forwards the signal to the script's process group.
        p=$(cat "$f" 2>/dev/null) && [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
        rm -f "$f"
    done
    if [ -n "$REDIS_PID" ]; then
        kill -CONT "$REDIS_PID" 2>/dev/null
        kill -TERM "$REDIS_PID" 2>/dev/null
        for _ in $(seq 50); do kill -0 "$REDIS_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
    fi
    [ -n "$REDIS_DIR" ] && rm -rf "$REDIS_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# A port in 20000..32767 (below Linux's ephemeral range) with no socket on it.
free_port() {
    local p hex i
    for i in $(seq 200); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
        hex=$(printf ':%04X ' "$p")
        if ! cat /proc/net/tcp /proc/net/tcp6 2>/dev/null | awk '{print $2}' | grep -qi -- "${hex% }\$"; then
            echo "$p"
            return 0
        fi
    done
    return 1
}

start_redis() {
    command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
        echo "run.sh: redis-server/redis-cli not installed (make deps)" >&2
        return 1
    }
    REDIS_DIR=$(mktemp -d "${TMPDIR:-/tmp}/nc-redis.XXXXXX") || return 1
    local try port
    for try in 1 2 3 4 5; do
        port=$(free_port) || return 1
        redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$REDIS_DIR" --daemonize no --logfile "$REDIS_DIR/redis.log" \
            --databases 16 </dev/null >/dev/null 2>&1 &
        REDIS_PID=$!
        for _ in $(seq 100); do
            if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null)" = PONG ]; then
                export NC_TEST_REDIS_PORT=$port NC_TEST_REDIS_DIR=$REDIS_DIR
                return 0
            fi
            kill -0 "$REDIS_PID" 2>/dev/null || break
            sleep 0.05
        done
        kill -KILL "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
        REDIS_PID=""
    done
    echo "run.sh: could not start redis-server; its log:" >&2
    tail -n 20 "$REDIS_DIR/redis.log" >&2 2>/dev/null
    return 1
}

fail_line() {
    FAILED=$((FAILED + 1))
    FAIL_LINES+=("$1")
}

# ---------------------------------------------------------------------------
# Unit tests
# ---------------------------------------------------------------------------
run_unit() {
    local bin name log rc p f t0 crashed
    local vg=() senv=()
    if [ -n "$VALGRIND" ]; then
        vg=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite)
    fi
    shopt -s nullglob
    for bin in "$BUILD"/tests/test_*; do
        [ -f "$bin" ] && [ -x "$bin" ] || continue
        name=$(basename "$bin")
        log=$LOGDIR/unit-$name.log
        t0=$SECONDS
        mapfile -t senv < <(san_env "$LOGDIR/san-$name")
        env "${senv[@]}" timeout -k 5 "$UNIT_TIMEOUT" "${vg[@]}" "$bin" </dev/null >"$log" 2>&1
        rc=$?
        p=$(sed -n 's/^\[  PASSED  \] \([0-9][0-9]*\) test(s)\..*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
        f=$(sed -n 's/^\[  FAILED  \] \([0-9][0-9]*\) test(s).*/\1/p' "$log" | awk '{s+=$1} END {print s+0}')
        PASSED=$((PASSED + p))
        FAILED=$((FAILED + f))
        while IFS= read -r line; do
            FAIL_LINES+=("$name: $line")
        done < <(grep -E '^\[  (FAILED|ERROR)   ?\] [^0-9]|^\[  ERROR   \]' "$log" | grep -vE '^\[  FAILED  \] [0-9]+ test' | head -n 50)
        crashed=""
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            crashed="timed out after ${UNIT_TIMEOUT}s"
        elif [ "$rc" = 99 ] && [ -n "$VALGRIND" ]; then
            crashed="valgrind reported memory errors"
        elif [ "$rc" -ge 128 ]; then
            crashed="killed by signal $((rc - 128))"
        elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
            crashed="exited $rc without reporting a failed test"
        elif [ "$p" = 0 ] && [ "$f" = 0 ]; then
            crashed="reported no tests"
        fi
        if [ -n "$crashed" ]; then
            fail_line "$name: not ok - $crashed (log: $log)"
            while IFS= read -r line; do FAIL_LINES+=("  $line"); done < <(tail -n 15 "$log")
        fi
        if ! san_collect "$name" "$LOGDIR/san-$name" "$log"; then
            f=$((f + 1))
            crashed="${crashed:+$crashed, }sanitizer report"
        fi
        printf 'unit        %-28s %4d ok, %d not ok%s (%ds)\n' "$name" "$p" "$f" \
            "${crashed:+, $crashed}" $((SECONDS - t0))
    done
    shopt -u nullglob
}

# ---------------------------------------------------------------------------
# Integration tests
# ---------------------------------------------------------------------------
run_one_script() { # script log
    local script=$1 log=$2 rc
    # timeout puts the script in its own process group and signals the whole
    # group, so a hung script takes every service it started down with it.
    local senv=()
    rm -f "$log.rc" "$log.pid"
    mapfile -t senv < <(san_env "$log.san")
    if [ -n "$SANITIZE" ]; then
        rm -rf "$log.tmp"
        mkdir -p "$log.tmp"
        senv+=("TMPDIR=$log.tmp" NC_KEEP_TMP=1)
    fi
    env "${senv[@]}" timeout -k 10 "$SCRIPT_TIMEOUT" bash "$script" </dev/null >"$log" 2>&1 &
    echo $! >"$log.pid"
    wait $!
    rc=$?
    rm -f "$log.pid"
    echo "$rc" >"$log.rc"
}

collect_script() { # script log seconds
    local script=$1 log=$2 secs=$3 name rc p f line extra=""
    name=$(basename "$script")
    rc=$(cat "$log.rc" 2>/dev/null || echo 1)
    p=$(grep -c '^ok - ' "$log")
    f=$(grep -c '^not ok - ' "$log")
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    # Each failing line with the diagnostics ("#" lines) printed after it.
    while IFS= read -r line; do
        FAIL_LINES+=("$name: $line")
    done < <(awk '/^not ok - /{keep=1; print; next} keep && /^#/{print; next} {keep=0}' "$log" | head -n 400)
    if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
        extra="timed out after ${SCRIPT_TIMEOUT}s"
    elif [ "$rc" != 0 ] && [ "$f" = 0 ]; then
        extra="exited $rc without a failing check"
    elif [ "$p" = 0 ] && [ "$f" = 0 ]; then
        extra="ran no checks"
    fi
    if [ -n "$extra" ]; then
        fail_line "$name: not ok - $extra (log: $log)"
        while IFS= read -r line; do FAIL_LINES+=("  $line"); done < <(tail -n 15 "$log")
        f=$((f + 1))
    fi
    # The script's temporary directory holds the stderr of every process
    # it started (kept for this check; removed when clean).
    if ! san_collect "$name" "$log.san" "$log.tmp"; then
        f=$((f + 1))
        extra="${extra:+$extra, }sanitizer report"
    elif [ -n "$SANITIZE" ]; then
        rm -rf "$log.tmp"
    fi
    printf 'integration %-28s %4d ok, %d not ok%s (%ds)\n' "$name" "$p" "$f" "${extra:+, $extra}" "$secs"
}

run_integration() {
    local scripts=() s
    shopt -s nullglob
    for s in "$ROOT"/tests/integration/test_*.sh; do
        if [ -n "${NC_TEST_ONLY:-}" ] && ! [[ $(basename "$s") =~ $NC_TEST_ONLY ]]; then
            continue
        fi
        scripts+=("$s")
    done
    shopt -u nullglob
    if [ ${#scripts[@]} -eq 0 ]; then
        # A mistyped NC_TEST_ONLY would otherwise "pass" with 0 checks.
        [ -n "${NC_TEST_ONLY:-}" ] && fail_line "run.sh: not ok - no integration script matches NC_TEST_ONLY='$NC_TEST_ONLY'"
        return 0
    fi

    if ! start_redis; then
        fail_line "run.sh: not ok - could not start the test redis-server"
        return 0
    fi

    local i j n=${#scripts[@]} running next_to_collect=0
    local -a pids starts logs
    for ((i = 0; i < n; i++)); do
        logs[i]=$LOGDIR/integration-$(basename "${scripts[i]}" .sh).log
    done
    for ((i = 0; i < n; i++)); do
        # Count running scripts only (redis-server is a job of ours too).
        while :; do
            running=0
            for ((j = next_to_collect; j < i; j++)); do
                kill -0 "${pids[j]}" 2>/dev/null && running=$((running + 1))
            done
            [ "$running" -lt "$JOBS" ] && break
            sleep 0.2
        done
        starts[i]=$SECONDS
        run_one_script "${scripts[i]}" "${logs[i]}" &
        pids[i]=$!
        JOB_PIDS+=("$!")
        # Report finished scripts in order as soon as they are done.
        while [ "$next_to_collect" -lt "$i" ] && ! kill -0 "${pids[next_to_collect]}" 2>/dev/null; do
            wait "${pids[next_to_collect]}" 2>/dev/null
            collect_script "${scripts[next_to_collect]}" "${logs[next_to_collect]}" \
                $((SECONDS - starts[next_to_collect]))
            next_to_collect=$((next_to_collect + 1))
        done
    done
    for ((; next_to_collect < n; next_to_collect++)); do
        wait "${pids[next_to_collect]}" 2>/dev/null
        collect_script "${scripts[next_to_collect]}" "${logs[next_to_collect]}" \
            $((SECONDS - starts[next_to_collect]))
    done
    JOB_PIDS=()
}

case $mode in
all)
    run_unit
    run_integration
    ;;
unit) run_unit ;;
integration) run_integration ;;
esac

if [ ${#FAIL_LINES[@]} -gt 0 ]; then
    echo
    echo "failures (full output in $LOGDIR):"
    printf '  %s\n' "${FAIL_LINES[@]}"
    echo
fi
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
