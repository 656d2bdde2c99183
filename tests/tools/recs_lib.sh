# recs_lib.sh - helpers shared by tests/integration/test_recs_*.sh, sourced
# AFTER tests/integration/lib.sh (whose conventions it follows: NC_TMP,
# NC_PIDS killed by its trap, ok/notok/diag, NC_TIME_SCALE).
#
#   start_stub [NAME=value]...   build/upstream-stub on a free port (STUB_PORT=0,
#                                the port read from its "listening" log line);
#                                sets STUB_URL STUB_PID STUB_LOG
#   stub_mode MODE [LATENCY_MS]  PUT /mode
#   stub_mode_json JSON          PUT /mode with a body given as it is
#   stub_calls                   GET /stats -> calls
#   rec QUERYSTRING [curl args]  GET /products/recommendations?QUERYSTRING (req)
#   rec_q TEXT [LIMIT] [curl args]  same, TEXT url-encoded
#   rec_key TEXT_NORMALISED LIMIT   the expected key fca:recommendations:r:<hex>
#   load [recs_load args]        runs build/recs_load, summary in $NC_TMP/load.sum;
#                                lv NAME reads one summary value (0 if absent)
#   start_second_service ARGS    a second normcache beside the current one
#                                (SVC2_PORT SVC2_PID); stop_second_service
#   fle A B / flt A B            float comparisons (exit status)

NC_LOAD=$BUILD/recs_load
NC_STUB=$BUILD/upstream-stub
REC_PATH=/products/recommendations

# build_load_tool: compiles tests/tools/recs_load.c into $BUILD/recs_load when
# missing or older than its source (atomic rename: scripts may run at once).
build_load_tool() {
    local src=$NC_ROOT/tests/tools/recs_load.c
    if [ -x "$NC_LOAD" ] && [ "$NC_LOAD" -nt "$src" ]; then
        return 0
    fi
    local tmp=$NC_LOAD.tmp.$$
    # shellcheck disable=SC2046
    if cc -std=c11 -O2 -Wall -Wextra -I"$NC_ROOT/include" -o "$tmp" "$src" $(pkg-config --cflags --libs libcurl) 2>"$NC_TMP/cc.err"; then
        mv -f "$tmp" "$NC_LOAD"
        return 0
    fi
    rm -f "$tmp"
    notok "tests/tools/recs_load.c builds"
    diag "$(head -c 600 "$NC_TMP/cc.err")"
    return 1
}

start_stub() {
    local try port i
    if [ ! -x "$NC_STUB" ]; then
        notok "$NC_STUB is built"
        return 1
    fi
    for try in 1 2 3; do
        STUB_LOG=$NC_TMP/stub-$try-$RANDOM.log
        env -i "PATH=$PATH" "${NC_SAN_ENV[@]}" STUB_BIND_ADDR=127.0.0.1 STUB_PORT=0 "$@" "$NC_STUB" \
            </dev/null >/dev/null 2>"$STUB_LOG" &
        STUB_PID=$!
        NC_PIDS+=("$STUB_PID")
        port=""
        for i in $(seq $((100 * NC_TIME_SCALE))); do
            port=$(sed -n 's/.*"event":"listening".*"port":\([0-9][0-9]*\).*/\1/p' "$STUB_LOG" 2>/dev/null | head -n 1)
            [ -n "$port" ] && break
            kill -0 "$STUB_PID" 2>/dev/null || break
            sleep 0.05
        done
        if [ -n "$port" ]; then
            STUB_URL=http://127.0.0.1:$port
            for i in $(seq 100); do
                [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$STUB_URL/healthz")" = 200 ] && return 0
                sleep 0.05
            done
        fi
        kill -KILL "$STUB_PID" 2>/dev/null
        wait "$STUB_PID" 2>/dev/null
        nc_forget_pid "$STUB_PID"
    done
    notok "upstream stub starts ($*)"
    diag "log: $(tail -n 3 "$STUB_LOG" 2>/dev/null)"
    return 1
}

stub_mode() {
    local body="{\"mode\":\"$1\"${2:+,\"latency_ms\":$2}}"
    local code
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X PUT \
        -H 'Content-Type: application/json' --data-binary "$body" "$STUB_URL/mode")
    [ "$code" = 200 ] || diag "stub PUT /mode $body answered $code"
}

stub_mode_json() {
    curl -s -o /dev/null --max-time 5 -X PUT -H 'Content-Type: application/json' \
        --data-binary "$1" "$STUB_URL/mode"
}

stub_calls() {
    local v
    v=$(curl -s --max-time 5 "$STUB_URL/stats" | sed -n 's/.*"calls"[[:space:]]*:[[:space:]]*\([0-9][0-9]*\).*/\1/p')
    echo "${v:-?}"
}

# Python starts slowly on a loaded machine: cheap shell versions of lib.sh's
# urlenc / sha16 for the many calls these scripts make.
# penc TEXT: every byte but [A-Za-z0-9_.~-] percent-encoded.
penc() {
    local LC_ALL=C s=$1 i c out=""
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
        [A-Za-z0-9_.~-]) out+=$c ;;
        *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s' "$out"
}
# hex16 TEXT: first 16 hex digits of SHA-256(TEXT).
hex16() { printf '%s' "$1" | sha256sum | cut -c1-16; }
# jstrfield NAME: a top-level string member of the last body (simple JSON).
jstrfield() { sed -n "s/^{.*\"$1\":\"\([^\"]*\)\".*/\1/p" "$NC_TMP/body" | head -n 1; }
# items_count: how many items the last body lists.
items_count() { grep -o '"sku":' "$NC_TMP/body" | wc -l; }
# problem_is NAME STATUS CODE: a cheap problem+json check (status, media
# type, "code" and "status" members) for the many bad-parameter cases.
problem_is() {
    local ct code st
    ct=$(hdr Content-Type)
    code=$(jstrfield code)
    st=$(sed -n 's/.*"status":\([0-9]*\).*/\1/p' "$NC_TMP/body" | head -n 1)
    if [ "$STATUS" = "$2" ] && [ "${ct%%;*}" = application/problem+json ] && [ "$code" = "$3" ] && [ "$st" = "$2" ]; then
        ok "$1"
    else
        notok "$1"
        diag "expected $2 application/problem+json code $3" "got $STATUS $ct code '$code' status member '$st'"
        diag_last
    fi
}

rec() {
    local qs=$1
    shift
    req GET "$REC_PATH${qs:+?$qs}" "$@"
}
rec_q() {
    local text=$1 limit=${2:-}
    shift
    [ $# -gt 0 ] && shift
    rec "query=$(penc "$text")${limit:+&limit=$limit}" "$@"
}
rec_key() {
    echo "${REC_PREFIX:-fca}:recommendations:r:$(hex16 "$1"$'\n'"limit=$2")"
}

load() {
    "$NC_LOAD" "$@" >"$NC_TMP/load.sum" 2>"$NC_TMP/load.err"
}
# lv NAME [FILE]: a value of a recs_load summary (0 when absent).
lv() {
    local v
    v=$(sed -n "s/^$1=//p" "${2:-$NC_TMP/load.sum}" | head -n 1)
    echo "${v:-0}"
}
fle() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a != "" && a+0 <= b+0)}'; }
flt() { awk -v a="$1" -v b="$2" 'BEGIN{exit !(a != "" && a+0 < b+0)}'; }
# scaled X: X times NC_TIME_SCALE.
scaled() { awk -v x="$1" -v s="$NC_TIME_SCALE" 'BEGIN{print x*s}'; }

# start_second_service ARGS: lib.sh's start_service manages one service; this
# starts another with it (the first one keeps running and is stopped by
# stop_second_service / the trap). Sets SVC2_PORT SVC2_PID.
start_second_service() {
    local p1=$SVC_PID port1=$SVC_PORT log1=$SVC_LOG desc1=$SVC_DESC
    SVC_PID=""
    start_service "$@" || {
        SVC_PID=$p1 SVC_PORT=$port1 SVC_LOG=$log1 SVC_DESC=$desc1
        return 1
    }
    SVC2_PID=$SVC_PID SVC2_PORT=$SVC_PORT SVC2_LOG=$SVC_LOG SVC2_DESC=$SVC_DESC
    SVC_PID=$p1 SVC_PORT=$port1 SVC_LOG=$log1 SVC_DESC=$desc1
}
stop_second_service() {
    [ -n "${SVC2_PID:-}" ] || return 0
    local p1=$SVC_PID port1=$SVC_PORT log1=$SVC_LOG desc1=$SVC_DESC
    SVC_PID=$SVC2_PID SVC_PORT=$SVC2_PORT SVC_LOG=$SVC2_LOG SVC_DESC=$SVC2_DESC
    stop_service
    SVC2_PID=""
    SVC_PID=$p1 SVC_PORT=$port1 SVC_LOG=$log1 SVC_DESC=$desc1
}
