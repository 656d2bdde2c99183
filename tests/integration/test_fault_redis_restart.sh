#!/usr/bin/env bash
# test_fault_redis_restart.sh - Redis killed (SIGKILL, like a crash) and
# restarted under load. A private redis-server with an fsync-always AOF (so
# that the restarted server, same port, same dir, has the data back) serves
# a service under steady concurrent load: GETs of a hot key at 1000/s on 8
# keep-alive connections for 10 s (tests/tools/recs_load). Redis is killed
# at 3 s and restarted at 6 s. Checked from the load tool's per-request
# samples:
#   - zero 5xx, zero transport errors; every GET is 200 or 404;
#   - before the kill every GET is a 200 HIT, while Redis is down 404 BYPASS;
#   - hits are back within 1 s of the restart (the figure is printed) and
#     every GET after that is a 200 HIT; while Redis refused connections
#     the breaker's cooldown did not double (nc_breaker_probe_refused: a
#     refused probe is retried after 250 ms).
# Then PUT and DELETE work again and /readyz says redis up.
set -u
NC_DB=0 # unused: a private redis-server
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/recs_lib.sh"
. "$NC_ROOT/tests/tools/fault_lib.sh"

CONNS=8
PACE_MS=1 # one request started per ms, all connections together
LOAD_S=10
KILL_AT_MS=3000
RESTART_AT_MS=6000
BACK_MAX_MS=1000
AOF=(--appendonly yes --appendfsync always)

build_load_tool || finish
redis_start "" "${AOF[@]}" || finish
RPORT=$PRIV_REDIS_PORT
start_service "REDIS_URL=redis://127.0.0.1:$RPORT/0" LOG_REQUESTS=false || finish
HOT="restart hot key"
put_q rst "$HOT" '{"hot":true}' 600
check_eq "PUT of the hot key is stored" true "$(jget stored)"
HOT_URL="http://127.0.0.1:$SVC_PORT/cache/rst?q=$(penc "$HOT")"

"$NC_LOAD" -n $((LOAD_S * 1000 / PACE_MS)) -c "$CONNS" -k -p "$PACE_MS" -t 10000 \
    -o "$NC_TMP/samples" "$HOT_URL" >"$NC_TMP/load.sum" 2>"$NC_TMP/load.err" &
LOAD_PID=$!
NC_PIDS+=("$LOAD_PID")
T0=$(now_ms)
sleep "$(awk -v t=$KILL_AT_MS 'BEGIN{printf "%.3f", t/1000}')"
T_KILL=$(now_ms)
redis_kill
rest=$((T0 + RESTART_AT_MS - $(now_ms)))
[ "$rest" -gt 0 ] && sleep "$(awk -v r="$rest" 'BEGIN{printf "%.3f", r/1000}')"
T_RESTART=$(now_ms)
redis_start "$RPORT" "${AOF[@]}" || notok "redis-server restarts on the same port"
T_UP=$(now_ms)
wait "$LOAD_PID"
check_eq "the load tool ran" 0 "$?"
nc_forget_pid "$LOAD_PID"
diag "load: $(grep -E '^(requests|status_|errors|xcache_|p50_ms|p99_ms|max_ms|wall_ms)' "$NC_TMP/load.sum" | tr '\n' ' ')"
diag "kill at $((T_KILL - T0)) ms, restart at $((T_RESTART - T0)) ms, PONG at $((T_UP - T0)) ms"

python3 - "$NC_TMP/samples" "$T_KILL" "$T_RESTART" "$BACK_MAX_MS" "$NC_TIME_SCALE" \
    >"$NC_TMP/figures" 2>&1 <<'PYEOF'
import sys
path, t_kill, t_restart, back_max, scale = sys.argv[1:6]
t_kill, t_restart, back_max = int(t_kill), int(t_restart), int(back_max) * int(scale)
# recs_load -o: idx url_idx status start_us end_us latency_us body_hash x_cache cache_status
rows = sorted((int(f[3]) // 1000, int(f[4]) // 1000, int(f[2]), f[7])
              for f in (l.split() for l in open(path)))
def out(ok, name, *diags):
    print(("OK " if ok else "FAIL ") + name)
    for d in diags:
        print("DIAG " + d)
def first_bad(rs, good):
    b = [r for r in rs if not good(r)]
    return ["%d of %d were not, e.g. status %d X-Cache %s at %d ms" %
            (len(b), len(rs), b[0][2], b[0][3], b[0][0] - t_kill)] if b else []
err = [r for r in rows if r[2] == 0]
out(not err, "no transport error under load (%d requests)" % len(rows), *first_bad(rows, lambda r: r[2] != 0))
out(all(r[2] < 500 for r in rows), "no 5xx under load", *first_bad(rows, lambda r: r[2] < 500))
out(all(r[2] in (200, 404) for r in rows), "every GET is 200 or 404", *first_bad(rows, lambda r: r[2] in (200, 404)))
before = [r for r in rows if r[1] < t_kill]
out(before and all((r[2], r[3]) == (200, "HIT") for r in before),
    "before the kill every GET is 200 HIT (%d)" % len(before), *first_bad(before, lambda r: (r[2], r[3]) == (200, "HIT")))
down = [r for r in rows if t_kill + 50 <= r[0] and r[1] < t_restart]
out(down and all((r[2], r[3]) == (404, "BYPASS") for r in down),
    "while Redis is down every GET is 404 BYPASS (%d)" % len(down), *first_bad(down, lambda r: (r[2], r[3]) == (404, "BYPASS")))
after = [r for r in rows if r[0] >= t_restart]
# the first request, started after the restart, from which on every GET is a hit
back = None
for i in range(len(after) - 1, -1, -1):
    if (after[i][2], after[i][3]) != (200, "HIT"):
        break
    back = after[i]
if back is None or not after:
    out(False, "hits are back after the restart", "no hit after the restart")
else:
    ms = back[1] - t_restart
    n_after = len([r for r in after if r[0] >= back[0]])
    out(ms <= back_max, "hits are back %d ms after the restart (limit %d ms), all %d GETs after are 200 HIT"
        % (ms, back_max, n_after))
    print("BACK %d" % ms)
PYEOF
while IFS= read -r line; do
    case $line in
    "BACK "*) BACK=${line#BACK } ;;
    *) result_line "$line" || diag "$line" ;;
    esac
done <"$NC_TMP/figures"

put_q rst "after restart" '{"a":1}' 60
check_eq "PUT after the restart is stored" "200 true" "$STATUS $(jget stored)"
del_q rst "after restart"
check_eq "DELETE after the restart deletes" "200 1" "$STATUS $(jget deleted)"
req GET /readyz
check_eq "/readyz says redis up" up "$(jget redis)"
# A refused probe keeps the base cooldown (a doubled one would delay the
# recovery by seconds): no doubling in the log, and few lines for 3 s down.
doubled=$(svc_log_lines 'redis breaker probe failed')
check_eq "while Redis refused connections the breaker's cooldown never doubled" 0 "$doubled"
lines=$(svc_log_lines '"level":"(warn|error)"')
if [ "$lines" -le 12 ]; then
    ok "3 s of Redis down cost $lines warning lines (at most 12: one per connection, not one per probe)"
else
    notok "3 s of Redis down cost at most 12 warning lines"
    diag "$lines lines"
fi
grep -h '"msg":"redis' "$SVC_LOG" | head -n 8 | while IFS= read -r l; do diag "log: $l"; done
echo "# redis SIGKILL at $((T_KILL - T0)) ms, restart at $((T_RESTART - T0)) ms; hits back ${BACK:-?} ms after the restart"
finish
