# lib.sh - helpers for tests/integration/test_*.sh (sourced, never run).
#
# A script sets NC_DB (its own database number on the shared test redis, so
# scripts can run in parallel: `grep -n NC_DB= tests/integration/*.sh` shows
# which are taken; this file empties it at start) and sources this file:
#
#   NC_DB=2
#   . "$(dirname "$0")/lib.sh"
#   start_service NORMALISE=basic
#   put_q faq "How do I open an account?" '{"a":1}'
#   check_status "PUT stores" 200
#   get_q faq "how do i open an account"
#   check_eq "hit" HIT "$(hdr X-Cache)"
#   finish
#
# Output is TAP-like: "ok - name" / "not ok - name", diagnostics start with
# "#". tests/run.sh counts those lines. Every process a script starts (the
# service, private redis-servers) is killed by a trap on any exit.
#
# Run a script alone with `bash tests/integration/test_keys.sh`: without
# NC_TEST_REDIS_PORT (exported by tests/run.sh) it starts its own redis.
#
# Variables a script may read:
#   SVC_PORT SVC_PID SVC_LOG     the running service
#   STATUS TIME BODY CURL_RC     the last response (req and friends)
#   $NC_TMP/body $NC_TMP/hdr.last  its exact body bytes and headers
#   NC_MARKER                    a unique string for "never echoed" checks
#   NC_TIME_SCALE                1, or larger under valgrind: scale timings
#   NC_TEST_THREADS              THREADS of the services (default 2; make tsan: 4)
#   NC_SAN_ENV                   the sanitizer options (ASAN_OPTIONS=... and
#                                friends) of a sanitizer build: pass them on
#                                to every binary started with `env -i`

# UTF-8 whatever the caller's locale (CI often has none): test texts are UTF-8.
export LC_ALL=C.UTF-8

NC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$NC_ROOT/$BUILD ;; esac
NC_BIN=$BUILD/normcache
NC_DB=${NC_DB:-0}
NC_SCRIPT=$(basename "$0" .sh)
NC_TMP=$(mktemp -d "${TMPDIR:-/tmp}/nc-$NC_SCRIPT.XXXXXX") || exit 1
NC_PASS=0
NC_FAIL=0
NC_PIDS=()
NC_USED_PORTS=" "
NC_SVC_N=0
NC_MARKER="zqmark$(date +%s%N | tail -c 10)$$x"
NC_VALGRIND=${NC_VALGRIND:-0}
[ "$NC_VALGRIND" = 0 ] && NC_VALGRIND=""
if [ -n "$NC_VALGRIND" ]; then
    NC_TIME_SCALE=${NC_TIME_SCALE:-12}
else
    NC_TIME_SCALE=${NC_TIME_SCALE:-1}
fi
NC_REQ_TIMEOUT=$((10 * NC_TIME_SCALE))
# Sanitizer builds (make asan / make tsan): the clean environments the
# binaries start with keep the sanitizer options (tests/run.sh adds a
# log_path under its log directory, NC_SAN_DIR, and checks it).
NC_SAN_ENV=()
for _v in ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS TSAN_OPTIONS; do
    [ -n "${!_v:-}" ] && NC_SAN_ENV+=("$_v=${!_v}")
done
SVC_PID=""
SVC_PORT=""
SVC_LOG=""
SVC_DESC=""
STATUS=""
BODY=""
TIME=""
CURL_RC=0
LAST_REQ=""
# python3 is the reference implementation the tests compare against. A
# pyenv shim costs seconds per call on a loaded machine: resolve it once and
# put the real interpreter first on PATH for this script.
NC_PY=$(command -v python3 2>/dev/null)
case $NC_PY in
*/shims/*)
    if [ -x /usr/bin/python3 ]; then
        NC_PY=/usr/bin/python3
    else
        NC_PY=$(pyenv which python3 2>/dev/null || echo "$NC_PY")
    fi
    mkdir -p "$NC_TMP/bin" && ln -sf "$NC_PY" "$NC_TMP/bin/python3"
    PATH=$NC_TMP/bin:$PATH
    ;;
esac
: >"$NC_TMP/all-bodies"
: >"$NC_TMP/all-headers"
# One JSON line per req response (method, path template, status, Content-Type,
# body file), validated against docs/openapi.yaml by finish.
: >"$NC_TMP/responses.jsonl"
mkdir -p "$NC_TMP/resp"
NC_RESP_N=0

# ---------------------------------------------------------------------------
# Results
# ---------------------------------------------------------------------------
ok() {
    NC_PASS=$((NC_PASS + 1))
    echo "ok - $*"
}
notok() {
    NC_FAIL=$((NC_FAIL + 1))
    echo "not ok - $*"
}
# diag LINE...: diagnostics under the last result (control bytes shown as ?,
# long lines cut).
diag() {
    local l
    for l in "$@"; do
        printf '%s\n' "$l" | tr '\000-\010\013-\037\177' '?' | cut -c1-400 | sed 's/^/#   /'
    done
}
diag_last() {
    diag "request: ${LAST_REQ:0:300}" "status: $STATUS  time: ${TIME}s  curl: $CURL_RC" \
        "body: $(head -c 400 "$NC_TMP/body" 2>/dev/null)"
    [ "$CURL_RC" != 0 ] && diag "curl: $(head -c 300 "$NC_TMP/curl.err")"
}

# check NAME COMMAND...: ok when COMMAND succeeds.
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else notok "$name"; fi
}
# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then
        ok "$1"
    else
        notok "$1"
        diag "expected: ${2:0:300}" "got:      ${3:0:300}"
    fi
}
check_ne() {
    if [ "$2" != "$3" ]; then
        ok "$1"
    else
        notok "$1"
        diag "both are: ${2:0:300}"
    fi
}
# check_match NAME ERE ACTUAL
check_match() {
    if [[ $3 =~ $2 ]]; then
        ok "$1"
    else
        notok "$1"
        diag "expected to match: $2" "got: ${3:0:300}"
    fi
}
# check_status NAME EXPECTED... : the last response's status is one of them.
check_status() {
    local name=$1 s
    shift
    for s in "$@"; do
        if [ "$STATUS" = "$s" ]; then
            ok "$name"
            return 0
        fi
    done
    notok "$name"
    diag "expected status: $*"
    diag_last
    return 1
}
# check_hdr NAME HEADER EXPECTED: exact value of a header of the last response.
check_hdr() {
    local got
    got=$(hdr "$2")
    if [ "$got" = "$3" ]; then
        ok "$1"
    else
        notok "$1"
        diag "expected $2: $3" "got $2: $got ($(hdr_count "$2") present)"
        diag_last
    fi
}
# check_time NAME MAX_SECONDS: the last request took less (scaled).
check_time() {
    local max
    max=$(awk -v m="$2" -v s="$NC_TIME_SCALE" 'BEGIN{print m*s}')
    if awk -v t="$TIME" -v m="$max" 'BEGIN{exit !(t != "" && t+0 < m+0)}'; then
        ok "$1"
    else
        notok "$1"
        diag "took ${TIME}s, limit ${max}s"
        diag_last
    fi
}
# check_body NAME EXPECTED_BYTES: the last body is exactly these bytes.
check_body() {
    if printf '%s' "$2" | cmp -s - "$NC_TMP/body"; then
        ok "$1"
    else
        notok "$1"
        diag "expected body: ${2:0:300}"
        diag_last
    fi
}

# expect_problem NAME STATUS [CODE]: the last response has this status and an
# RFC 9457 body: Content-Type application/problem+json, a JSON object with
# string type/title/detail, integer status equal to the HTTP status and a
# non-empty string code (equal to CODE when given).
expect_problem() {
    local name=$1 want=$2 code=${3:-} why ct
    ct=$(hdr Content-Type)
    why=$("$NC_PY" - "$want" "$code" "$STATUS" "$ct" "$NC_TMP/body" <<'EOF'
import json, sys
want, code, status, ct, path = sys.argv[1:6]
errs = []
if status != want:
    errs.append("status %s, expected %s" % (status, want))
if ct.split(";")[0].strip().lower() != "application/problem+json":
    errs.append("Content-Type %r, expected application/problem+json" % ct)
try:
    with open(path, "rb") as f:
        doc = json.loads(f.read().decode("utf-8"))
except Exception as e:
    doc = None
    errs.append("body is not JSON (%s)" % e.__class__.__name__)
if doc is not None:
    if not isinstance(doc, dict):
        errs.append("body is not a JSON object")
    else:
        for m in ("type", "title", "detail", "code"):
            if not isinstance(doc.get(m), str) or doc.get(m) == "":
                errs.append("member %r missing or not a non-empty string" % m)
        st = doc.get("status")
        if not (isinstance(st, int) and not isinstance(st, bool)) or str(st) != status:
            errs.append("member 'status' is %r, HTTP status is %s" % (st, status))
        if code and doc.get("code") != code:
            errs.append("code %r, expected %r" % (doc.get("code"), code))
print("; ".join(errs))
EOF
)
    if [ -z "$why" ]; then
        ok "$name"
    else
        notok "$name"
        diag "$why"
        diag_last
    fi
}

# finish: stops a running service, prints a tally, exits 1 on any failure.
finish() {
    [ -n "$SVC_PID" ] && stop_service
    openapi_check
    echo "# $NC_SCRIPT: $NC_PASS ok, $NC_FAIL not ok"
    # Keep the service logs of a failing script (tests/run.sh's log dir).
    local logdir=${NC_TEST_LOGDIR:-$BUILD/test-logs}
    if [ "$NC_FAIL" -gt 0 ] && mkdir -p "$logdir" 2>/dev/null; then
        local f
        for f in "$NC_TMP"/svc-*.log "$NC_TMP"/vg-*.log; do
            [ -f "$f" ] && cp "$f" "$logdir/$NC_SCRIPT-$(basename "$f")" 2>/dev/null
        done
        echo "# service logs copied to $logdir/$NC_SCRIPT-*"
    fi
    [ "$NC_FAIL" = 0 ]
    exit $?
}

# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------
nc_forget_pid() {
    local p keep=()
    for p in "${NC_PIDS[@]}"; do [ "$p" != "$1" ] && keep+=("$p"); done
    NC_PIDS=("${keep[@]}")
}

nc_cleanup() {
    local p i
    for p in "${NC_PIDS[@]}"; do
        kill -CONT "$p" 2>/dev/null
        kill -TERM "$p" 2>/dev/null
    done
    for i in $(seq 30); do
        local alive=0
        for p in "${NC_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
        [ $alive = 0 ] && break
        sleep 0.1
    done
    for p in "${NC_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null; done
    for p in "${NC_PIDS[@]}"; do wait "$p" 2>/dev/null; done
    NC_PIDS=()
    [ -n "${NC_KEEP_TMP:-}" ] || rm -rf "$NC_TMP"
}
trap nc_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

# free_port: a loopback port in 20000..32767 (below Linux's ephemeral range)
# with no socket on it and not handed out before in this script.
free_port() {
    local p hex i
    for i in $(seq 500); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 12768))
        case $NC_USED_PORTS in *" $p "*) continue ;; esac
        hex=$(printf ':%04X' "$p")
        if ! awk '{print $2}' /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -qi -- "$hex\$"; then
            NC_USED_PORTS="$NC_USED_PORTS$p "
            echo "$p"
            return 0
        fi
    done
    return 1
}

# redis_start [PORT] [redis-server args...]: a private redis-server (for tests
# that kill or pause it). Sets PRIV_REDIS_PORT and PRIV_REDIS_PID. Returns 1
# if it does not answer PING within 5 s.
redis_start() {
    local port=${1:-}
    [ $# -gt 0 ] && shift
    [ -n "$port" ] || port=$(free_port)
    local dir=$NC_TMP/redis-$port
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$dir" --daemonize no --logfile "$dir/redis.log" "$@" </dev/null >/dev/null 2>&1 &
    PRIV_REDIS_PID=$!
    PRIV_REDIS_PORT=$port
    NC_PIDS+=("$PRIV_REDIS_PID")
    local i r
    for i in $(seq 100); do
        r=$(redis-cli --no-auth-warning -h 127.0.0.1 -p "$port" ping 2>/dev/null)
        case $r in PONG | NOAUTH* | *"Authentication required"*) return 0 ;; esac
        kill -0 "$PRIV_REDIS_PID" 2>/dev/null || break
        sleep 0.05
    done
    diag "redis-server on $port did not start: $(tail -n 3 "$dir/redis.log" 2>/dev/null)"
    return 1
}
# redis_kill [PID]: SIGKILL (no shutdown, like a crash) and reap.
redis_kill() {
    local pid=${1:-$PRIV_REDIS_PID}
    kill -CONT "$pid" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    nc_forget_pid "$pid"
}

# svc_env_defaults: the environment every service starts with. Arguments to
# start_service override these (NAME=value) or drop them (-NAME).
svc_env_defaults() {
    printf '%s\n' "PORT=$SVC_PORT" "BIND_ADDR=127.0.0.1" "THREADS=${NC_TEST_THREADS:-2}" \
        "REDIS_URL=redis://127.0.0.1:$NC_TEST_REDIS_PORT/$NC_DB"
}

# start_service [NAME=value | -NAME]...: starts build/normcache (under
# valgrind with NC_VALGRIND=1) on a fresh free port with a clean environment,
# and waits until /healthz answers 200. Stops the previous service first.
# Returns 1 (after a "not ok") if it does not come up.
start_service() {
    [ -n "$SVC_PID" ] && stop_service
    local try
    for try in 1 2 3; do
        SVC_PORT=$(free_port)
        NC_SVC_N=$((NC_SVC_N + 1))
        SVC_LOG=$NC_TMP/svc-$NC_SVC_N.log
        SVC_VGLOG=$NC_TMP/vg-$NC_SVC_N.log
        SVC_DESC="#$NC_SVC_N${*:+ $*}"
        local -a envs=("PATH=$PATH" "${NC_SAN_ENV[@]}")
        local line a drop
        while IFS= read -r line; do
            drop=""
            for a in "$@"; do
                [ "$a" = "-${line%%=*}" ] && drop=1
                [ "${a%%=*}" = "${line%%=*}" ] && drop=1
            done
            [ -z "$drop" ] && envs+=("$line")
        done < <(svc_env_defaults)
        for a in "$@"; do
            case $a in -*) ;; *) envs+=("$a") ;; esac
        done
        local -a cmd=("$NC_BIN")
        if [ -n "$NC_VALGRIND" ]; then
            cmd=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
                --log-file="$SVC_VGLOG" "$NC_BIN")
        fi
        # Default SIGPIPE disposition whatever we inherited: the service must
        # ignore it itself.
        env --default-signal=PIPE -i "${envs[@]}" "${cmd[@]}" </dev/null >"$SVC_LOG.out" 2>"$SVC_LOG" &
        SVC_PID=$!
        NC_PIDS+=("$SVC_PID")
        local deadline=$((SECONDS + 5 * NC_TIME_SCALE)) code
        while [ $SECONDS -le $deadline ]; do
            code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$SVC_PORT/healthz" 2>/dev/null)
            [ "$code" = 200 ] && return 0
            kill -0 "$SVC_PID" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$SVC_PID" 2>/dev/null; then
            kill -KILL "$SVC_PID" 2>/dev/null
            wait "$SVC_PID" 2>/dev/null
            nc_forget_pid "$SVC_PID"
            SVC_PID=""
            notok "service $SVC_DESC answers /healthz within $((5 * NC_TIME_SCALE))s"
            diag "log: $(tail -n 5 "$SVC_LOG")"
            return 1
        fi
        wait "$SVC_PID" 2>/dev/null
        local rc=$?
        nc_forget_pid "$SVC_PID"
        SVC_PID=""
        # Lost a race for the port: try another one.
        grep -qiE 'in use|EADDRINUSE|bind' "$SVC_LOG" && continue
        notok "service $SVC_DESC starts (exited $rc)"
        diag "log: $(tail -n 5 "$SVC_LOG")"
        return 1
    done
    notok "service $SVC_DESC starts (no free port after 3 tries)"
    return 1
}

# stop_service: SIGTERM, wait, and one result: exited 0 in time (and, under
# valgrind, without memory errors or definite leaks).
stop_service() {
    local pid=$SVC_PID i rc why=""
    [ -n "$pid" ] || return 0
    kill -CONT "$pid" 2>/dev/null
    kill -TERM "$pid" 2>/dev/null
    local limit=$((10 * NC_TIME_SCALE))
    for i in $(seq $((limit * 20))); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        why="still running ${limit}s after SIGTERM"
    fi
    wait "$pid" 2>/dev/null
    rc=$?
    nc_forget_pid "$pid"
    SVC_PID=""
    if [ -z "$why" ] && [ "$rc" != 0 ]; then
        why="exit status $rc"
        [ "$rc" = 99 ] && [ -n "$NC_VALGRIND" ] && why="valgrind found memory errors or leaks (exit 99)"
    fi
    local san_rep=${NC_SAN_DIR:-/nonexistent}/report.$pid
    if grep -q 'ERROR: AddressSanitizer\|ERROR: LeakSanitizer\|runtime error:\|WARNING: ThreadSanitizer' "$SVC_LOG" 2>/dev/null; then
        why="${why:+$why; }sanitizer report in the log"
    elif [ -s "$san_rep" ]; then
        why="${why:+$why; }sanitizer report in $san_rep"
    fi
    if [ -z "$why" ]; then
        ok "service $SVC_DESC stops cleanly on SIGTERM"
    else
        notok "service $SVC_DESC stops cleanly on SIGTERM"
        diag "$why" "log: $(tail -n 5 "$SVC_LOG")"
        [ -s "$san_rep" ] && grep -E 'ERROR:|WARNING:|runtime error|SUMMARY:|^    #[0-9] ' "$san_rep" | head -n 30 | while IFS= read -r l; do diag "$l"; done
        if [ -n "$NC_VALGRIND" ] && [ -f "$SVC_VGLOG" ]; then
            grep -A 12 -E 'Invalid|uninitialised|definitely lost|Mismatched|overlap' "$SVC_VGLOG" | head -n 40 | while IFS= read -r l; do diag "$l"; done
        fi
    fi
}

# service_alive: 0 while the current service process runs.
service_alive() { [ -n "$SVC_PID" ] && kill -0 "$SVC_PID" 2>/dev/null; }

# ---------------------------------------------------------------------------
# HTTP
# ---------------------------------------------------------------------------
# req METHOD PATH [curl args...]: one request to the running service. Sets
# STATUS (000 when no response), TIME (s), BODY, CURL_RC; the exact bytes are
# in $NC_TMP/body, the final header block in $NC_TMP/hdr.last. PATH is sent
# as is (no globbing, no dot-segment removal).
req() {
    local method=$1 path=$2 out line hb="" ct=""
    shift 2
    LAST_REQ="$method $path $*"
    : >"$NC_TMP/body"
    : >"$NC_TMP/hdr"
    out=$(curl -sS -g --path-as-is -X "$method" -o "$NC_TMP/body" -D "$NC_TMP/hdr" \
        -w '%{http_code} %{time_total}' --max-time "$NC_REQ_TIMEOUT" "$@" \
        "http://127.0.0.1:$SVC_PORT$path" 2>"$NC_TMP/curl.err")
    CURL_RC=$?
    STATUS=${out%% *}
    TIME=${out#* }
    [ -n "$STATUS" ] || STATUS=000
    # The last header block (after any 100 Continue), CRs removed. Plain
    # bash from here on: this runs for every request.
    while IFS= read -r line || [ -n "$line" ]; do
        line=${line%$'\r'}
        [[ $line == HTTP/* ]] && hb="" ct=""
        [[ ${line,,} == content-type:* ]] && ct=${line#*:}
        hb+="$line"$'\n'
    done <"$NC_TMP/hdr"
    printf '%s' "$hb" >"$NC_TMP/hdr.last"
    BODY=""
    IFS= read -r -d '' BODY <"$NC_TMP/body"
    while [[ $BODY == *$'\n' ]]; do BODY=${BODY%$'\n'}; done
    printf '%s\n' "$BODY" >>"$NC_TMP/all-bodies"
    printf '%s' "$hb" >>"$NC_TMP/all-headers"
    nc_record_response "$method" "$path" "$ct"
    return 0
}
# nc_record_response METHOD PATH CONTENT_TYPE: appends the last response to
# $NC_TMP/responses.jsonl (the path as its template in docs/openapi.yaml; the
# body copied when not empty). Plain bash but for one cp. A request made with
# NC_FOREIGN_VALUE=1 reads a value another client wrote, which may not be
# JSON: such a body is excused (and counted) where the spec says "any JSON".
nc_record_response() {
    local method=$1 p=${2%%\?*} ct=$3 tpl bf=""
    [[ $method =~ ^[A-Z]{1,16}$ ]] || method=OTHER
    if [[ $p =~ ^/cache/[^/]+$ ]]; then
        tpl='/cache/{ns}'
    elif [[ $p =~ ^/cache/[^/]+/(_mget|_mset)$ ]]; then
        tpl="/cache/{ns}/${BASH_REMATCH[1]}"
    else
        case $p in
        /products/recommendations | /healthz | /readyz | /metrics) tpl=$p ;;
        *) tpl="(other)" ;;
        esac
    fi
    ct=${ct//[^A-Za-z0-9\/;=.+ -]/}
    # HEAD: curl -I writes the headers where the body would go.
    if [ "$STATUS" != 000 ] && [ "$method" != HEAD ] && [ -s "$NC_TMP/body" ]; then
        # req also runs in $(...) subshells: the pid keeps their files apart.
        NC_RESP_N=$((NC_RESP_N + 1))
        bf=$NC_TMP/resp/$BASHPID.$NC_RESP_N
        cp "$NC_TMP/body" "$bf"
    fi
    printf '{"method":"%s","path":"%s","status":%d,"ctype":"%s","body":"%s","foreign":%d}\n' \
        "$method" "$tpl" "$((10#$STATUS))" "$ct" "$bf" "${NC_FOREIGN_VALUE:-0}" \
        >>"$NC_TMP/responses.jsonl"
}
# result_line LINE: one line of a checker program, "OK name" / "FAIL name" /
# "DIAG text", as ok / notok / diag. Returns 1 for any other line (the
# caller decides what that is).
result_line() {
    case $1 in
    "OK "*) ok "${1#OK }" ;;
    "FAIL "*) notok "${1#FAIL }" ;;
    "DIAG "*) diag "${1#DIAG }" ;;
    *) return 1 ;;
    esac
}

# openapi_check: every response recorded by req against docs/openapi.yaml,
# in one python process (tests/integration/openapi_check.py).
openapi_check() {
    [ -s "$NC_TMP/responses.jsonl" ] || return 0
    local line
    while IFS= read -r line; do
        result_line "$line" || { [ -n "$line" ] && notok "openapi: checker: ${line:0:300}"; }
    done < <("$NC_PY" "$NC_ROOT/tests/integration/openapi_check.py" "$NC_ROOT/docs/openapi.yaml" \
        "$NC_TMP/responses.jsonl" 2>&1)
}
# hdr NAME: value of the last occurrence of a header in the last response
# (leading and trailing blanks removed).
hdr() {
    local line n v="" want=${1,,}
    while IFS= read -r line; do
        n=${line%%:*}
        [ "$n" != "$line" ] && [ "${n,,}" = "$want" ] && v=${line#*:}
    done <"$NC_TMP/hdr.last"
    v=${v#"${v%%[![:space:]]*}"}
    v=${v%"${v##*[![:space:]]}"}
    printf '%s\n' "$v"
}
# hdr_count NAME: how many times the header occurs in the last response.
hdr_count() {
    local line n c=0 want=${1,,}
    while IFS= read -r line; do
        n=${line%%:*}
        [ "$n" != "$line" ] && [ "${n,,}" = "$want" ] && c=$((c + 1))
    done <"$NC_TMP/hdr.last"
    echo "$c"
}

JSON_CT='Content-Type: application/json'
# put_json NS BODY: PUT /cache/NS with a JSON body.
put_json() { req PUT "/cache/$1" -H "$JSON_CT" --data-binary "$2"; }
# put_q NS Q VALUE_JSON [TTL]
put_q() {
    local b
    b="{\"q\":$(jstr "$2"),\"value\":$3${4:+,\"ttl\":$4}}"
    put_json "$1" "$b"
}
# put_p NS PARAMS_JSON VALUE_JSON [TTL]
put_p() { put_json "$1" "{\"params\":$2,\"value\":$3${4:+,\"ttl\":$4}}"; }
get_q() { req GET "/cache/$1" -G --data-urlencode "q=$2"; }
get_p() { req GET "/cache/$1" -G --data-urlencode "params=$2"; }
del_q() { req DELETE "/cache/$1" -G --data-urlencode "q=$2"; }
del_p() { req DELETE "/cache/$1" -G --data-urlencode "params=$2"; }
del_ns() { req DELETE "/cache/$1"; }

# jget MEMBER [FILE]: a top-level member of the JSON object in the last body
# (or FILE): strings raw, anything else as JSON. Prints <missing> and returns
# 1 when the body is not a JSON object or lacks the member.
jget() {
    "$NC_PY" - "$1" "${2:-$NC_TMP/body}" <<'EOF'
import json, sys
try:
    with open(sys.argv[2], "rb") as f:
        doc = json.loads(f.read().decode("utf-8"))
    v = doc[sys.argv[1]]
except Exception:
    print("<missing>")
    sys.exit(1)
print(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")))
EOF
}

# raw_http BYTES [TIMEOUT]: sends BYTES over a fresh TCP connection and reads
# until the server closes it or TIMEOUT (s) passes. Sets RAW_STATUS,
# RAW_CLOSED (1 when the server closed the connection), RAW_HDRS, RAW_BODY;
# the response is in $NC_TMP/raw.
raw_http() {
    local data=$1 t=${2:-3} fd rc
    t=$((t * NC_TIME_SCALE))
    RAW_STATUS=000
    RAW_CLOSED=0
    RAW_HDRS=""
    RAW_BODY=""
    : >"$NC_TMP/raw"
    LAST_REQ="raw: ${data:0:200}"
    exec {fd}<>"/dev/tcp/127.0.0.1/$SVC_PORT" || return 1
    # A server that answers and closes early must not kill us with SIGPIPE.
    (
        trap '' PIPE
        printf '%s' "$data" >&"$fd"
    ) 2>/dev/null
    timeout "$t" cat <&"$fd" >"$NC_TMP/raw" 2>/dev/null
    rc=$?
    exec {fd}<&-
    [ $rc = 0 ] && RAW_CLOSED=1
    RAW_STATUS=$(head -n 1 "$NC_TMP/raw" | awk '{print $2}')
    [ -n "$RAW_STATUS" ] || RAW_STATUS=000
    RAW_HDRS=$(tr -d '\r' <"$NC_TMP/raw" | sed '/^$/q')
    RAW_BODY=$(tr -d '\r' <"$NC_TMP/raw" | sed '1,/^$/d')
    cp "$NC_TMP/raw" "$NC_TMP/body"
    printf '%s\n' "$RAW_HDRS" >"$NC_TMP/hdr.last"
    tr -d '\r' <"$NC_TMP/raw" | sed '1,/^$/d' >"$NC_TMP/body"
    STATUS=$RAW_STATUS
    TIME=""
    CURL_RC=0
    {
        cat "$NC_TMP/raw"
        echo
    } >>"$NC_TMP/all-bodies"
    return 0
}

# ---------------------------------------------------------------------------
# Redis
# ---------------------------------------------------------------------------
# rcli ARGS...: redis-cli against this script's database on the test redis.
rcli() { redis-cli --no-auth-warning -h 127.0.0.1 -p "$NC_TEST_REDIS_PORT" -n "$NC_DB" "$@"; }
# rcli_at PORT ARGS...: redis-cli against another redis-server.
rcli_at() {
    local port=$1
    shift
    redis-cli --no-auth-warning -h 127.0.0.1 -p "$port" "$@"
}

# monitor_start / monitor_stop FILE: record the commands Redis runs (redis-cli
# MONITOR on the test redis) and keep those for this script's database.
monitor_start() {
    redis-cli -h 127.0.0.1 -p "$NC_TEST_REDIS_PORT" MONITOR >"$NC_TMP/monitor.raw" 2>/dev/null &
    NC_MON_PID=$!
    NC_PIDS+=("$NC_MON_PID")
    sleep 0.3
}
monitor_stop() {
    sleep 0.3
    kill "$NC_MON_PID" 2>/dev/null
    wait "$NC_MON_PID" 2>/dev/null
    nc_forget_pid "$NC_MON_PID"
    grep -F "[$NC_DB " "$NC_TMP/monitor.raw" >"$1"
}

# ---------------------------------------------------------------------------
# Python reference computations (python3 is the reference implementation)
# ---------------------------------------------------------------------------
# jstr TEXT: TEXT as a JSON string literal (non-ASCII kept as UTF-8).
jstr() {
    "$NC_PY" -c 'import json,os,sys; sys.stdout.write(json.dumps(os.fsdecode(os.fsencode(sys.argv[1])), ensure_ascii=False))' "$1"
}
# urlenc TEXT: every byte but [A-Za-z0-9_.~-] percent-encoded.
urlenc() {
    "$NC_PY" -c 'import os,sys,urllib.parse; sys.stdout.write(urllib.parse.quote_from_bytes(os.fsencode(sys.argv[1]), safe=""))' "$1"
}
# sha16 TEXT [SECRET]: first 16 hex of SHA-256(TEXT), or HMAC-SHA256 keyed
# with SECRET.
sha16() {
    "$NC_PY" - "$@" <<'EOF'
import hashlib, hmac, os, sys
data = os.fsencode(sys.argv[1])
if len(sys.argv) > 2 and sys.argv[2]:
    print(hmac.new(os.fsencode(sys.argv[2]), data, hashlib.sha256).hexdigest()[:16])
else:
    print(hashlib.sha256(data).hexdigest()[:16])
EOF
}
# ref_basic_key PREFIX NS Q [SECRET]: the Python CacheService's key:
# PREFIX:NS:sha256(" ".join(q.lower().split()))[:16].
ref_basic_key() {
    "$NC_PY" - "$@" <<'EOF'
import hashlib, hmac, os, sys
prefix, ns, q = sys.argv[1], sys.argv[2], os.fsdecode(os.fsencode(sys.argv[3]))
norm = " ".join(q.lower().split()).encode("utf-8")
if len(sys.argv) > 4 and sys.argv[4]:
    h = hmac.new(os.fsencode(sys.argv[4]), norm, hashlib.sha256).hexdigest()
else:
    h = hashlib.sha256(norm).hexdigest()
print("%s:%s:%s" % (prefix, ns, h[:16]))
EOF
}
# ref_params_key PREFIX NS PARAMS_JSON [SECRET]:
# PREFIX:NS:p:sha256(json.dumps(params, sort_keys=True))[:16].
ref_params_key() {
    "$NC_PY" - "$@" <<'EOF'
import hashlib, hmac, json, os, sys
prefix, ns, text = sys.argv[1], sys.argv[2], sys.argv[3]
canon = json.dumps(json.loads(text), sort_keys=True).encode("utf-8")
if len(sys.argv) > 4 and sys.argv[4]:
    h = hmac.new(os.fsencode(sys.argv[4]), canon, hashlib.sha256).hexdigest()
else:
    h = hashlib.sha256(canon).hexdigest()
print("%s:%s:p:%s" % (prefix, ns, h[:16]))
EOF
}

# check_no_marker NAME: NC_MARKER appears in no response body or header and
# no service log of this script.
check_no_marker() {
    local where=""
    grep -qF "$NC_MARKER" "$NC_TMP/all-bodies" && where="$where response-bodies"
    grep -qF "$NC_MARKER" "$NC_TMP/all-headers" && where="$where response-headers"
    local f
    for f in "$NC_TMP"/svc-*.log "$NC_TMP"/svc-*.log.out; do
        [ -f "$f" ] && grep -qF "$NC_MARKER" "$f" && where="$where $(basename "$f")"
    done
    if [ -z "$where" ]; then
        ok "$1"
    else
        notok "$1"
        diag "marker $NC_MARKER found in:$where"
        grep -hF "$NC_MARKER" "$NC_TMP"/all-bodies "$NC_TMP"/svc-*.log 2>/dev/null | head -n 3 | while IFS= read -r l; do diag "$l"; done
    fi
}

# ---------------------------------------------------------------------------
# Start-up checks
# ---------------------------------------------------------------------------
for _tool in python3 curl redis-server redis-cli; do
    if ! command -v "$_tool" >/dev/null; then
        notok "$_tool is installed (needed by the integration tests)"
        exit 1
    fi
done
if [ ! -x "$NC_BIN" ]; then
    notok "$NC_BIN is built (run make)"
    exit 1
fi
if [ -z "${NC_TEST_REDIS_PORT:-}" ]; then
    # Run alone: a redis-server of our own, killed by the trap.
    if ! redis_start; then
        notok "test redis-server starts"
        exit 1
    fi
    NC_TEST_REDIS_PORT=$PRIV_REDIS_PORT
fi
export NC_TEST_REDIS_PORT
# This script's database starts empty (other scripts use other numbers).
rcli FLUSHDB >/dev/null

# check_json_eq NAME EXPECTED_JSON [FILE]: the last body (or FILE) is JSON
# semantically equal to EXPECTED_JSON (1 and 1.0 are equal, key order free).
check_json_eq() {
    local why
    why=$("$NC_PY" - "$2" "${3:-$NC_TMP/body}" <<'PYEOF'
import json, sys
try:
    want = json.loads(sys.argv[1])
    with open(sys.argv[2], "rb") as f:
        got = json.loads(f.read().decode("utf-8"))
except Exception as e:
    print("not JSON: %s" % e)
    sys.exit(0)
if want != got:
    print("differs")
PYEOF
)
    if [ -z "$why" ]; then
        ok "$1"
    else
        notok "$1"
        diag "$why; expected JSON: ${2:0:300}"
        diag_last
    fi
}

# in_range VALUE LOW HIGH: 0 when VALUE is an integer within [LOW, HIGH].
in_range() {
    [[ $1 =~ ^-?[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]
}

# ref_text_key PREFIX NS Q [SECRET]: the text-mode key, computed with
# Python's unicodedata (NFKC + casefold + NFKC approximates NFKC_Casefold;
# exact for the inputs the tests use), whitespace collapsed, P* and
# whitespace trimmed from both ends.
ref_text_key() {
    "$NC_PY" - "$@" <<'PYEOF'
import hashlib, hmac, os, sys, unicodedata
prefix, ns, q = sys.argv[1], sys.argv[2], os.fsdecode(os.fsencode(sys.argv[3]))
t = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", q).casefold())
t = " ".join(t.split())
trim = lambda c: unicodedata.category(c).startswith("P") or c.isspace()
while t and trim(t[0]):
    t = t[1:]
while t and trim(t[-1]):
    t = t[:-1]
data = t.encode("utf-8")
if len(sys.argv) > 4 and sys.argv[4]:
    h = hmac.new(os.fsencode(sys.argv[4]), data, hashlib.sha256).hexdigest()
else:
    h = hashlib.sha256(data).hexdigest()
print("%s:%s:%s" % (prefix, ns, h[:16]))
PYEOF
}

# pyresults ARGS...: runs the Python program on stdin (python3 - ARGS) and turns
# its "OK name" / "FAIL name" / "DIAG text" lines into ok / notok / diag.
pyresults() {
    local line
    while IFS= read -r line; do
        result_line "$line" || { [ -n "$line" ] && diag "$line"; }
    done < <(python3 - "$@" 2>&1)
}
