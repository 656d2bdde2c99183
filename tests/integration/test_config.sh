#!/usr/bin/env bash
# test_config.sh - configuration from the environment: every invalid value
# exits 2 with one line naming the variable and the value (secrets masked),
# --help lists every variable with its default, --version, valid non-default
# settings are honoured, logs are JSON lines, LOG_LEVEL / LOG_REQUESTS.
NC_DB=6
. "$(dirname "$0")/lib.sh"

# run_bin [NAME=value...] [-- ARGS...]: runs the binary with a clean
# environment, no stdin, 10 s at most. Sets RB_RC, and RB_OUT / RB_ERR files.
RB_OUT=$NC_TMP/rb.out
RB_ERR=$NC_TMP/rb.err
run_bin() {
    local envs=("PATH=$PATH" "${NC_SAN_ENV[@]}") args=()
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then
            shift
            args=("$@")
            break
        fi
        envs+=("$1")
        shift
    done
    # A free port, so that a config wrongly accepted still starts cleanly
    # and is stopped by timeout instead of fighting over 8080.
    local have_port=""
    for e in "${envs[@]}"; do [[ $e == PORT=* ]] && have_port=1; done
    [ -n "$have_port" ] || envs+=("PORT=$(free_port)")
    timeout -k 2 $((10 * NC_TIME_SCALE)) env -i "${envs[@]}" "$NC_BIN" "${args[@]}" </dev/null >"$RB_OUT" 2>"$RB_ERR"
    RB_RC=$?
}

# bad_config NAME=value [SHOWN]: exits 2 with one line naming NAME and the
# value (or SHOWN, when the value itself must not be printed).
bad_config() {
    local assign=$1 name=${1%%=*} value=${1#*=} why=""
    run_bin "$assign"
    local lines
    lines=$(grep -c . "$RB_ERR")
    [ "$RB_RC" = 2 ] || why="exit status $RB_RC, expected 2"
    grep -qF "$name" "$RB_ERR" || why="${why:+$why; }stderr does not name $name"
    if [ -n "$value" ] && ! grep -qF -- "$value" "$RB_ERR"; then
        why="${why:+$why; }stderr does not show the value"
    fi
    [ "$lines" = 1 ] || why="${why:+$why; }stderr has $lines lines, expected 1"
    if [ -z "$why" ]; then
        ok "$(printf '%q' "$assign") exits 2 naming $name and the value"
    else
        notok "$(printf '%q' "$assign") exits 2 naming $name and the value"
        diag "$why" "stderr: $(head -c 300 "$RB_ERR")"
    fi
}

# check_exit2 NAME VARIABLE: the last run_bin exited 2 naming VARIABLE.
check_exit2() {
    if [ "$RB_RC" = 2 ] && grep -qF "$2" "$RB_ERR"; then
        ok "$1"
    else
        notok "$1"
        diag "exit status $RB_RC" "stderr: $(head -c 300 "$RB_ERR")"
    fi
}

for a in PORT=abc PORT=70000 PORT=0 PORT=-1 PORT=8080abc 'PORT=80 80' PORT=1.5 \
    BIND_ADDR=not-an-ip BIND_ADDR=300.1.1.1 \
    THREADS=0 THREADS=abc THREADS=-2 THREADS=1000000 \
    REDIS_ENABLED=maybe REDIS_ENABLED=2 \
    REDIS_URL=http://x REDIS_URL=redis:// REDIS_URL=redis://127.0.0.1:99999/0 \
    REDIS_URL=redis://127.0.0.1:6379/abc REDIS_URL=redis://127.0.0.1:6379/99 REDIS_URL=127.0.0.1:6379 \
    REDIS_CONNECT_TIMEOUT_MS=abc REDIS_CONNECT_TIMEOUT_MS=0 REDIS_TIMEOUT_MS=-5 REDIS_TIMEOUT_MS=1s \
    CACHE_TTL_SECONDS=0 CACHE_TTL_SECONDS=abc CACHE_TTL_SECONDS=-1 CACHE_MAX_TTL_SECONDS=0 \
    CACHE_NS_TTL=faq=abc CACHE_NS_TTL=faq CACHE_NS_TTL=faq=0 CACHE_NS_TTL='fa*q=10' \
    CACHE_NS_TTL=faq=10,,recs=5 CACHE_NS_TTL='faq=10;recs=5' \
    KEY_PREFIX=a:b 'KEY_PREFIX=a*' 'KEY_PREFIX=a b' "KEY_PREFIX=$(printf 'p%.0s' $(seq 33))" \
    NORMALISE=fancy \
    CACHE_NS_NORMALISE=legacy=fancy CACHE_NS_NORMALISE=legacy CACHE_NS_NORMALISE='le:gacy=basic' \
    MAX_BODY_BYTES=-1 MAX_BODY_BYTES=abc MAX_BODY_BYTES=0 MAX_BODY_BYTES=1e6 \
    MAX_QUERY_BYTES=0 MAX_QUERY_BYTES=-1 MAX_QUERY_BYTES=lots \
    LOG_LEVEL=loud LOG_REQUESTS=maybe \
    NEAR_CACHE=maybe NEAR_CACHE_MAX_BYTES=1000 NEAR_CACHE_MAX_TTL_MS=0; do
    bad_config "$a"
done
# Empty values are mistakes for numbers and words, not "use the default".
for n in PORT THREADS CACHE_TTL_SECONDS MAX_BODY_BYTES NORMALISE LOG_LEVEL REDIS_URL KEY_PREFIX; do
    run_bin "$n="
    check_exit2 "$n= (empty) exits 2 naming $n" "$n"
done
# Cross-field rules.
run_bin CACHE_TTL_SECONDS=1000 CACHE_MAX_TTL_SECONDS=500
check_exit2 "CACHE_TTL_SECONDS above CACHE_MAX_TTL_SECONDS exits 2 naming it" CACHE_TTL_SECONDS
run_bin CACHE_NS_TTL=faq=1000 CACHE_MAX_TTL_SECONDS=500
check_exit2 "a CACHE_NS_TTL above CACHE_MAX_TTL_SECONDS exits 2 naming CACHE_NS_TTL" CACHE_NS_TTL

# Secrets are named but never printed.
run_bin 'REDIS_URL=redis://user:hunter2pw@127.0.0.1:99999/0'
check_exit2 "a bad REDIS_URL with a password exits 2 naming REDIS_URL" REDIS_URL
check "a bad REDIS_URL's password is not printed" bash -c '! grep -qF hunter2pw "$1"' _ "$RB_ERR"
run_bin 'AUTH_TOKENS=sekrit-one,,sekrit-two'
check_exit2 "AUTH_TOKENS with an empty entry exits 2 naming AUTH_TOKENS" AUTH_TOKENS
check "a bad AUTH_TOKENS is not printed" bash -c '! grep -qF sekrit "$1"' _ "$RB_ERR"
run_bin NEAR_CACHE=true REDIS_MODE=cluster REDIS_URL=redis://127.0.0.1:7000,127.0.0.1:7001
check_exit2 "NEAR_CACHE=true with REDIS_MODE=cluster exits 2 naming NEAR_CACHE" NEAR_CACHE
run_bin 'AUTH_TOKENS=has space,ok'
check_exit2 "AUTH_TOKENS with a space inside a token exits 2" AUTH_TOKENS

# Command line.
run_bin -- --help
check_eq "--help exits 0" 0 "$RB_RC"
declare -A DEFAULTS=([PORT]=8080 [BIND_ADDR]=127.0.0.1 [THREADS]="" [REDIS_ENABLED]=true
    [REDIS_URL]=redis://127.0.0.1:6379/0 [REDIS_CONNECT_TIMEOUT_MS]=200 [REDIS_TIMEOUT_MS]=100
    [CACHE_TTL_SECONDS]=300 [CACHE_MAX_TTL_SECONDS]=86400 [CACHE_NS_TTL]="" [KEY_PREFIX]=fca
    [KEY_HASH_SECRET]="" [NORMALISE]=text [CACHE_NS_NORMALISE]="" [MAX_BODY_BYTES]=1048576
    [MAX_QUERY_BYTES]=4096 [AUTH_TOKENS]="" [LOG_LEVEL]=info [LOG_REQUESTS]="")
for v in PORT BIND_ADDR THREADS REDIS_ENABLED REDIS_URL REDIS_CONNECT_TIMEOUT_MS REDIS_TIMEOUT_MS \
    CACHE_TTL_SECONDS CACHE_MAX_TTL_SECONDS CACHE_NS_TTL KEY_PREFIX KEY_HASH_SECRET NORMALISE \
    CACHE_NS_NORMALISE MAX_BODY_BYTES MAX_QUERY_BYTES AUTH_TOKENS LOG_LEVEL LOG_REQUESTS; do
    line=$(grep -E "(^|[^A-Z_])$v([^A-Z_]|$)" "$RB_OUT" | head -n 1)
    d=${DEFAULTS[$v]}
    if [ -n "$line" ] && { [ -z "$d" ] || [[ $line == *"$d"* ]]; }; then
        ok "--help lists $v${d:+ with its default $d}"
    else
        notok "--help lists $v${d:+ with its default $d}"
        diag "line: ${line:-<none>}"
    fi
done
run_bin -- --version
check_eq "--version exits 0" 0 "$RB_RC"
check "--version prints the version from VERSION ($(cat "$NC_ROOT/VERSION"))" \
    grep -qF "$(cat "$NC_ROOT/VERSION")" "$RB_OUT"
run_bin -- --no-such-flag
check "an unknown flag exits non-zero (got $RB_RC)" bash -c '[ "$1" != 0 ] && [ "$1" -lt 128 ]' _ "$RB_RC"

# ============================================ valid non-default settings
start_service THREADS=1 REDIS_ENABLED=true "REDIS_URL=redis://127.0.0.1:$NC_TEST_REDIS_PORT/$NC_DB" \
    REDIS_CONNECT_TIMEOUT_MS=500 REDIS_TIMEOUT_MS=250 CACHE_TTL_SECONDS=123 CACHE_MAX_TTL_SECONDS=4000 \
    CACHE_NS_TTL=a=7,b=8 KEY_PREFIX=cfg KEY_HASH_SECRET=topsecret-value-42 NORMALISE=basic \
    CACHE_NS_NORMALISE=t=text MAX_BODY_BYTES=2048 MAX_QUERY_BYTES=128 AUTH_TOKENS=tok-cfg-9,tok-cfg-10 \
    LOG_LEVEL=debug LOG_REQUESTS=true
AUTH=(-H "Authorization: Bearer tok-cfg-10")
req PUT /cache/faq "${AUTH[@]}" -H "$JSON_CT" --data-binary '{"q":"Config Check?","value":[1]}'
check_eq "valid settings: PUT uses CACHE_TTL_SECONDS=123" 123 "$(jget ttl)"
check_eq "valid settings: key uses KEY_PREFIX, basic mode and the HMAC secret" \
    "$(ref_basic_key cfg faq "Config Check?" topsecret-value-42)" "$(jget key)"
check_eq "valid settings: REDIS_URL's database ($NC_DB) holds the entry" 1 "$(rcli EXISTS "$(jget key)")"
req PUT /cache/a "${AUTH[@]}" -H "$JSON_CT" --data-binary '{"q":"x","value":1}'
check_eq "valid settings: CACHE_NS_TTL a=7" 7 "$(jget ttl)"
req PUT /cache/faq "${AUTH[@]}" -H "$JSON_CT" --data-binary '{"q":"x","value":1,"ttl":4000}'
check_status "valid settings: ttl = CACHE_MAX_TTL_SECONDS=4000 is accepted" 200
req GET /cache/faq "${AUTH[@]}" -G --data-urlencode "q=$(head -c 129 /dev/zero | tr '\0' q)"
check_status "valid settings: MAX_QUERY_BYTES=128 applies" 400 414
req PUT /cache/faq "${AUTH[@]}" -H "$JSON_CT" --data-binary "{\"q\":\"x\",\"value\":\"$(head -c 2100 /dev/zero | tr '\0' v)\"}"
check_status "valid settings: MAX_BODY_BYTES=2048 applies" 413
req GET /cache/t "${AUTH[@]}" -G --data-urlencode "q=Config Check?"
check_eq "valid settings: CACHE_NS_NORMALISE t=text" \
    "$(ref_text_key cfg t "Config Check?" topsecret-value-42)" "$(hdr X-Cache-Key)"
req GET /readyz
check_eq "valid settings: /readyz reports redis: up" up "$(jget redis)"
check "the service log never shows KEY_HASH_SECRET, AUTH_TOKENS values" \
    bash -c '! grep -qF -e topsecret-value-42 -e tok-cfg-9 -e tok-cfg-10 "$1"' _ "$SVC_LOG"
check "every line the service logged is a JSON object" \
    "$NC_PY" -c 'import json,sys; sys.exit(not all(isinstance(json.loads(l), dict) for l in open(sys.argv[1], encoding="utf-8") if l.strip()))' "$SVC_LOG"
check "nothing is printed on stdout (logs go to stderr)" [ ! -s "$SVC_LOG.out" ]

# =============================================== LOG_LEVEL / LOG_REQUESTS
# log_lines_after N: lines the running service logs for N GET requests.
log_growth() {
    local before after i
    sleep 0.2
    before=$(wc -l <"$SVC_LOG")
    for i in $(seq "$1"); do get_q faq "log line $i"; done
    sleep 0.3
    after=$(wc -l <"$SVC_LOG")
    echo $((after - before))
}
start_service LOG_REQUESTS=true LOG_LEVEL=info
g=$(log_growth 5)
check "LOG_REQUESTS=true: one log line per request (5 requests, $g lines)" [ "$g" -ge 5 ]
start_service LOG_REQUESTS=false LOG_LEVEL=info
g=$(log_growth 5)
check "LOG_REQUESTS=false: no access log lines (5 requests, $g lines)" [ "$g" -lt 5 ]
start_service LOG_REQUESTS=true LOG_LEVEL=error
g=$(log_growth 5)
check "LOG_LEVEL=error: info lines are not written (5 requests, $g lines)" [ "$g" = 0 ]
check "LOG_LEVEL=error: nothing below error was logged at start" \
    "$NC_PY" -c 'import json,sys; sys.exit(any(str(json.loads(l).get("level","")).lower() in ("debug","info","warn","warning") for l in open(sys.argv[1], encoding="utf-8") if l.strip()))' "$SVC_LOG"
finish
