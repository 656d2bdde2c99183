#!/usr/bin/env bash
# test_redis_down.sh - Redis trouble never turns a read into an error:
# REDIS_ENABLED=false, Redis killed mid-test and restarted on the same port
# (the service reconnects by itself), Redis hung (SIGSTOP: answers within
# REDIS_TIMEOUT_MS), Redis absent at start, /readyz up/down/disabled, and
# REDIS_URL with password, ACL user and database number.
NC_DB=7
. "$(dirname "$0")/lib.sh"

# bypass_gets NAME NS Q N LIMIT: N sequential GETs, each 404 BYPASS within
# LIMIT seconds (scaled).
bypass_gets() {
    local name=$1 ns=$2 q=$3 n=$4 limit=$5 i bad="" max=0
    limit=$(awk -v l="$limit" -v s="$NC_TIME_SCALE" 'BEGIN{print l*s}')
    for i in $(seq "$n"); do
        get_q "$ns" "$q"
        max=$(awk -v a="$max" -v b="$TIME" 'BEGIN{print (b+0 > a+0) ? b : a}')
        if [ "$STATUS" != 404 ] || [ "$(hdr X-Cache)" != BYPASS ] ||
            ! awk -v t="$TIME" -v l="$limit" 'BEGIN{exit !(t+0 < l+0)}'; then
            bad="$bad [#$i: $STATUS X-Cache=$(hdr X-Cache) ${TIME}s]"
        fi
    done
    if [ -z "$bad" ]; then
        ok "$name: $n GETs answer 404 X-Cache: BYPASS within ${limit}s (slowest ${max}s)"
    else
        notok "$name: $n GETs answer 404 X-Cache: BYPASS within ${limit}s"
        diag "failures:$bad"
        diag_last
    fi
}

# wait_for NAME SECONDS COMMAND...: polls COMMAND every 0.2 s; one result.
wait_for() {
    local name=$1 secs=$2 t0=$SECONDS
    shift 2
    secs=$((secs * NC_TIME_SCALE))
    while :; do
        if "$@"; then
            ok "$name (after $((SECONDS - t0)) s)"
            return 0
        fi
        if [ $((SECONDS - t0)) -ge "$secs" ]; then
            notok "$name (gave up after $secs s)"
            diag_last
            return 1
        fi
        sleep 0.2
    done
}
ready_is() {
    req GET /readyz
    [ "$STATUS" = 200 ] && [ "$(jget redis)" = "$1" ]
}
put_stores() {
    put_q faq "$1" '{"back":true}' 300
    [ "$STATUS" = 200 ] && [ "$(jget stored)" = true ]
}
get_hits() {
    get_q faq "$1"
    [ "$STATUS" = 200 ] && [ "$(hdr X-Cache)" = HIT ]
}

# ======================================================= REDIS_ENABLED=false
start_service REDIS_ENABLED=false
req GET /readyz
check_status "REDIS_ENABLED=false: /readyz answers 200" 200
check_eq "REDIS_ENABLED=false: /readyz reports redis: disabled" disabled "$(jget redis)"
req GET /healthz
check_status "REDIS_ENABLED=false: /healthz answers 200" 200
get_q faq "disabled"
expect_problem "REDIS_ENABLED=false: GET is a 404 problem" 404
check_hdr "REDIS_ENABLED=false: GET has X-Cache: BYPASS" X-Cache BYPASS
check_eq "REDIS_ENABLED=false: GET still carries X-Cache-Key" "$(ref_text_key fca faq disabled)" "$(hdr X-Cache-Key)"
put_q faq "disabled" '{"x":1}' 60
check_status "REDIS_ENABLED=false: PUT answers 200" 200
check_eq "REDIS_ENABLED=false: PUT answers stored: false" false "$(jget stored)"
check_eq "REDIS_ENABLED=false: PUT answers the key" "$(ref_text_key fca faq disabled)" "$(jget key)"
check_hdr "REDIS_ENABLED=false: PUT has X-Cache: BYPASS" X-Cache BYPASS
check_eq "REDIS_ENABLED=false: nothing was written to Redis" 0 "$(rcli DBSIZE)"
del_q faq "disabled"
expect_problem "REDIS_ENABLED=false: DELETE ?q= is a 503" 503 redis_unavailable
del_ns faq
expect_problem "REDIS_ENABLED=false: DELETE (flush) is a 503" 503 redis_unavailable
get_q 'fa:q' "disabled"
expect_problem "REDIS_ENABLED=false: bad input is still a 400" 400 invalid_namespace

# ======================================================= Redis killed
redis_start || notok "private redis-server starts"
RP=$PRIV_REDIS_PORT
start_service "REDIS_URL=redis://127.0.0.1:$RP/0" REDIS_TIMEOUT_MS=150 REDIS_CONNECT_TIMEOUT_MS=200
check "/readyz reports redis: up with a live Redis" ready_is up
check "PUT stores with a live Redis" put_stores "before the crash"
check "GET hits with a live Redis" get_hits "before the crash"

redis_kill
bypass_gets "Redis killed" faq "before the crash" 6 0.5
put_q faq "during the outage" '{"x":1}' 60
check_status "Redis killed: PUT answers 200" 200
check_eq "Redis killed: PUT answers stored: false" false "$(jget stored)"
check_match "Redis killed: PUT still answers the key" '^fca:faq:[0-9a-f]{16}$' "$(jget key)"
check_hdr "Redis killed: PUT has X-Cache: BYPASS" X-Cache BYPASS
check_time "Redis killed: PUT answers quickly" 0.5
del_q faq "before the crash"
expect_problem "Redis killed: DELETE ?q= is a 503" 503 redis_unavailable
check_match "Redis killed: the 503 carries Retry-After (README)" '^[0-9]+$' "$(hdr Retry-After)"
check_time "Redis killed: DELETE answers quickly" 0.5
del_ns faq
expect_problem "Redis killed: DELETE (flush) is a 503" 503 redis_unavailable
wait_for "Redis killed: /readyz reports redis: down" 3 ready_is down
req GET /healthz
check_status "Redis killed: /healthz still answers 200" 200
bypass_gets "Redis killed (a while later)" faq "before the crash" 4 0.5

sleep 1
redis_start "$RP" || notok "private redis-server restarts on port $RP"
wait_for "Redis back on the same port: the service reconnects and stores again" 8 put_stores "after the restart"
check "Redis back: GET hits again" get_hits "after the restart"
wait_for "Redis back: /readyz reports redis: up" 3 ready_is up
get_q faq "before the crash"
check_status "Redis back: an entry lost with the old Redis is a plain miss" 404
check_hdr "Redis back: the miss says X-Cache: MISS" X-Cache MISS

# ======================================================= Redis hung
put_stores "before the hang" >/dev/null
kill -STOP "$PRIV_REDIS_PID"
bypass_gets "Redis hung (SIGSTOP), REDIS_TIMEOUT_MS=150" faq "before the hang" 5 0.65
base="http://127.0.0.1:$SVC_PORT/cache/faq?q=before+the+hang"
seq 12 | xargs -P 12 -I{} curl -s -o /dev/null -w '%{http_code} %{time_total}\n' --max-time 10 "$base" >"$NC_TMP/par"
lim=$(awk -v s="$NC_TIME_SCALE" 'BEGIN{print 1.0*s}')
check "Redis hung: 12 concurrent GETs all answer 404 within ${lim}s" \
    awk -v l="$lim" '$1 != 404 || $2+0 >= l+0 {bad=1} END {exit bad || NR != 12}' "$NC_TMP/par"
put_q faq "during the hang" '{"x":1}' 60
check_eq "Redis hung: PUT answers 200 stored: false" "200 false" "$STATUS $(jget stored)"
check_time "Redis hung: PUT answers within the timeout" 0.65
# (Another key: the UNLINK may still reach Redis once it resumes.)
del_q faq "another key"
expect_problem "Redis hung: DELETE is a 503" 503 redis_unavailable
check_time "Redis hung: DELETE answers within the timeout" 0.65
req GET /healthz
check_status "Redis hung: /healthz answers 200" 200
check_time "Redis hung: /healthz answers at once" 0.5
req GET /readyz
check_status "Redis hung: /readyz answers 200" 200
check_time "Redis hung: /readyz answers at once" 0.65
kill -CONT "$PRIV_REDIS_PID"
wait_for "Redis resumed (SIGCONT): GET hits again" 8 get_hits "before the hang"
check "the service survived Redis killed and hung" service_alive
stop_service
redis_kill

# ======================================================= Redis absent at start
AP=$(free_port)
start_service "REDIS_URL=redis://127.0.0.1:$AP/0"
check "no Redis at start: the service still starts and serves /healthz" service_alive
# A readiness probe asks before any cache traffic: "up" would be a guess.
wait_for "no Redis at start: /readyz reports redis: down before any cache traffic" 3 ready_is down
bypass_gets "no Redis at start" faq "anything" 3 0.5
wait_for "no Redis at start: /readyz reports redis: down after failed reads" 3 ready_is down
redis_start "$AP" || notok "private redis-server starts on port $AP"
wait_for "Redis appears later: the service connects by itself" 8 put_stores "late redis"
check "Redis appears later: GET hits" get_hits "late redis"
stop_service
redis_kill

# ======================================================= URL credentials
PW='p@ss:w/rd'
redis_start "" --requirepass "$PW" || notok "private redis-server with a password starts"
RP=$PRIV_REDIS_PORT
start_service "REDIS_URL=redis://:p%40ss%3Aw%2Frd@127.0.0.1:$RP/3"
check "REDIS_URL with a percent-encoded password: PUT stores" put_stores "with password"
k=$(jget key)
check_eq "REDIS_URL database /3 is used" "1 0" \
    "$(rcli_at "$RP" -a "$PW" -n 3 EXISTS "$k") $(rcli_at "$RP" -a "$PW" -n 0 EXISTS "$k")"
check "REDIS_URL with a password: GET hits" get_hits "with password"
check "the Redis password never appears in the service log" \
    bash -c '! grep -qF -e "$1" -e "$2" "$3"' _ "$PW" 'p%40ss%3Aw%2Frd' "$SVC_LOG"
start_service "REDIS_URL=redis://:wrong@127.0.0.1:$RP/3"
bypass_gets "wrong Redis password" faq "with password" 3 0.5
put_q faq "wrong password" 1 60
check_eq "wrong Redis password: PUT answers 200 stored: false" "200 false" "$STATUS $(jget stored)"
wait_for "wrong Redis password: /readyz reports redis: down" 3 ready_is down
stop_service
redis_kill

redis_start "" --user alice on '>alice-pw' '~*' '&*' '+@all' || notok "private redis-server with an ACL user starts"
RP=$PRIV_REDIS_PORT
if [ "$(rcli_at "$RP" --user alice --pass alice-pw PING 2>&1)" = PONG ]; then
    start_service "REDIS_URL=redis://alice:alice-pw@127.0.0.1:$RP/2"
    check "REDIS_URL with user and password (ACL): PUT stores" put_stores "acl user"
    check_eq "REDIS_URL with an ACL user writes to database 2" 1 \
        "$(rcli_at "$RP" --user alice --pass alice-pw -n 2 EXISTS "$(jget key)")"
    stop_service
else
    notok "redis-server accepts an ACL user from the command line (test setup)"
fi
redis_kill
finish
