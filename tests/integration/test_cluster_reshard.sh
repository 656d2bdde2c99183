#!/usr/bin/env bash
# test_cluster_reshard.sh - REDIS_MODE=cluster while slots move under load
# (a real 3-master cluster, tests/tools/cluster_lib.sh):
#   - 1000 slots resharded (`redis-cli --cluster reshard`) while 4 clients
#     read and write (every 5th request a PUT; each value encodes its key):
#     zero 5xx, zero wrong answers, zero misses (every entry exists all the
#     time), reads keep hitting;
#   - slots holding entries put in MIGRATING / IMPORTING by hand with their
#     keys moved, and those entries read and written meanwhile: the old
#     owner answers ASK, the service follows it (ASKING), every read a hit;
#   - the MOVED and ASK counts of /metrics are printed and both must be > 0;
#   - afterwards every entry still reads back as a hit.
set -u
NC_DB=0 # its own cluster: the shared test redis is not used
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/cluster_lib.sh"

cluster_start_or_finish 3 0
start_service REDIS_MODE=cluster "REDIS_URL=$CL_URL" LOG_REQUESTS=false REDIS_TIMEOUT_MS=1000 || finish
SVC=http://127.0.0.1:$SVC_PORT
mapfile -t M < <(cl_masters)
N=3000
cl_load fill "$SVC" resh "$N" --tag r --keys "$NC_TMP/keys"
check_eq "$N entries stored" "$N" "$(clv stored)"

# Slots for the hand-made migrations: held by M[2] (the reshard moves M[0]'s
# slots to M[1]) and holding at least one entry; "slot entry,entry,...".
owner2=" $(cl_nodes_table | awk -v p=":${M[2]}@" 'index($2, p) { for (i = 9; i <= NF; i++) print $i }' | tr '\n' ' ')"
python3 - "$NC_TMP/keys" "$owner2" >"$NC_TMP/askslots" <<'PYEOF'
import sys
def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc
ranges = []
for r in sys.argv[2].split():
    lo, _, hi = r.partition("-")
    ranges.append((int(lo), int(hi or lo)))
by = {}
for line in open(sys.argv[1]):
    i, key = line.split()
    tag = key[key.index("{") + 1:key.index("}")]
    s = crc16(tag.encode()) % 16384
    if any(lo <= s <= hi for lo, hi in ranges):
        by.setdefault(s, []).append(i)
for s in sorted(by, key=lambda s: -len(by[s]))[:8]:
    print(s, ",".join(by[s]))
PYEOF
check_eq "8 slots of master ${M[2]} holding entries chosen for ASK" 8 "$(wc -l <"$NC_TMP/askslots")"
ask_entries=$(awk '{ printf "%s%s", (NR > 1 ? "," : ""), $2 }' "$NC_TMP/askslots")

moved0=$(metric_value 'normcache_redis_redirects_total{kind="moved"}')
ask0=$(metric_value 'normcache_redis_redirects_total{kind="ask"}')

# ---------------------------------------------------------------------------
# 1000 slots resharded under load
# ---------------------------------------------------------------------------
slots0=$(cl_slot_count "${M[0]}")
cl_load_bg "$NC_TMP/bg.sum" "$SVC" resh "$N" --tag r --threads 4 --put-every 5 --log "$NC_TMP/bg.log" --seconds 60
sleep 0.5
t0=$(now_ms)
check "redis-cli --cluster reshard: 1000 slots from ${M[0]} to ${M[1]} under load" cl_reshard "${M[0]}" "${M[1]}" 1000
t_reshard=$(($(now_ms) - t0))
check "cluster ok after the reshard" cl_wait_ok 10
check_eq "slots moved: ${M[0]} serves 1000 fewer" "$((slots0 - 1000))" "$(cl_slot_count "${M[0]}")"

# ---------------------------------------------------------------------------
# ASK: slots migrating by hand, their keys already moved
# ---------------------------------------------------------------------------
while read -r slot _; do
    cl_migrate_begin "$slot" "${M[2]}" "${M[0]}" || notok "slot $slot: MIGRATING/IMPORTING set"
    cl_migrate_keys "$slot" "${M[2]}" "${M[0]}" || notok "slot $slot: keys migrated"
done <"$NC_TMP/askslots"
first=$(awk 'NR == 1 { print $1 }' "$NC_TMP/askslots")
firstkey=$(awk -v i="$(awk 'NR == 1 { split($2, a, ","); print a[1] }' "$NC_TMP/askslots")" '$1 == i { print $2 }' "$NC_TMP/keys")
check_match "the old owner answers ASK for a moved key" "^ASK $first 127\\.0\\.0\\.1:${M[0]}\$" "$(cl_cli "${M[2]}" get "$firstkey")"
cl_load run "$SVC" resh "$N" --tag r --threads 2 --put-every 4 --only "$ask_entries" --seconds 1 --log "$NC_TMP/ask.log"
echo "# measured: requests on migrating slots: $(tr '\n' ' ' <"$NC_TMP/cl.sum")"
check_eq "entries of migrating slots: every read a hit, every write stored" \
    "0 0 0 0 0 0" "$(clv miss) $(clv bypass) $(clv wrong) $(clv 5xx) $(clv error) $(clv not_stored)"
check "entries of migrating slots: reads answered ($(clv hit) hits)" test "$(clv hit)" -gt 0
while read -r slot _; do
    cl_migrate_end "$slot" "${M[2]}" "${M[0]}" || notok "slot $slot: migration ends"
done <"$NC_TMP/askslots"
check "cluster ok after the hand-made migrations" cl_wait_ok 10
sleep 0.5
cl_load_stop
during=$(awk -v a="$t0" -v b="$((t0 + t_reshard))" '$1 >= a && $1 <= b' "$NC_TMP/bg.log" | wc -l)
echo "# measured: reshard of 1000 slots: ${t_reshard} ms, $during requests meanwhile; whole load: $(tr '\n' ' ' <"$NC_TMP/bg.sum")"
gets=$(clv gets "$NC_TMP/bg.sum")
check "load ran throughout ($gets GETs)" test "$gets" -gt 500
check_eq "load: zero 5xx, zero wrong answers, zero transport errors" "0 0 0" \
    "$(clv 5xx "$NC_TMP/bg.sum") $(clv wrong "$NC_TMP/bg.sum") $(clv error "$NC_TMP/bg.sum")"
check_eq "load: zero misses (every entry exists throughout)" 0 "$(clv miss "$NC_TMP/bg.sum")"
bypass=$(clv bypass "$NC_TMP/bg.sum")
check "load: reads keep hitting ($(clv hit "$NC_TMP/bg.sum") hits, $bypass BYPASS <= 1 %)" test $((bypass * 100)) -le "$gets"
check_eq "load: writes stored" 0 "$(clv not_stored "$NC_TMP/bg.sum")"

moved=$(($(metric_value 'normcache_redis_redirects_total{kind="moved"}') - moved0))
ask=$(($(metric_value 'normcache_redis_redirects_total{kind="ask"}') - ask0))
echo "# measured: redirects followed: MOVED $moved, ASK $ask; slot map refreshes: $(metric_value normcache_redis_slot_map_refreshes_total)"
check "MOVED redirects followed ($moved > 0)" test "$moved" -gt 0
check "ASK redirects followed ($ask > 0)" test "$ask" -gt 0

cl_load check "$SVC" resh "$N" --tag r
check_eq "afterwards all $N entries read back as hits with their own values" "$N 0 0" "$(clv hit) $(clv miss) $(clv wrong)"
check_eq "... and they are where the cluster says: $N keys over the masters" "$N" "$(cl_total 'fca:resh:*')"
finish
