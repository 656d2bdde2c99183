#!/usr/bin/env bash
# test_cluster_spread.sh - REDIS_MODE=cluster against a real 3-master,
# 3-replica Redis Cluster (tests/tools/cluster_lib.sh):
#   - /readyz names every master and says "up";
#   - 10 000 entries written through the service (_mset) land on all three
#     masters, each a sane share (25-42 %), keys fca:<ns>:{<16 hex>};
#   - all read back as hits (_mget, and single GETs), with their own values;
#   - a flush of the namespace removes exactly its 10 000 entries from every
#     master and nothing else (a second namespace whose name starts alike,
#     keys other clients wrote).
set -u
NC_DB=0 # its own cluster: the shared test redis is not used
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/cluster_lib.sh"

cluster_start_or_finish 3 1
start_service REDIS_MODE=cluster "REDIS_URL=$CL_URL" LOG_REQUESTS=false REDIS_TIMEOUT_MS=1000 || finish
SVC=http://127.0.0.1:$SVC_PORT
mapfile -t M < <(cl_masters)

req GET /readyz
check_eq "/readyz: 200, redis up" "200 up" "$STATUS $(jget redis)"
nodes=$(jget nodes)
for m in "${M[@]}"; do
    check_match "/readyz names master 127.0.0.1:$m as up" "\"127\\.0\\.0\\.1:$m\":\"up\"" "$nodes"
done

# ---------------------------------------------------------------------------
# 10 000 entries over three masters
# ---------------------------------------------------------------------------
N=10000
cl_load fill "$SVC" spread "$N" --tag s --keys "$NC_TMP/keys"
check_eq "$N entries written through _mset: all stored" "$N 0" "$(clv stored) $(clv not_stored)"
check_match "cluster key format fca:<ns>:{<16 hex>}" '^fca:spread:\{[0-9a-f]{16}\}$' "$(awk 'NR == 1 { print $2 }' "$NC_TMP/keys")"
# (grep -E: Debian's awk is mawk, which has no {16} interval)
bad=$(awk '{ print $2 }' "$NC_TMP/keys" | grep -Evc '^fca:spread:\{[0-9a-f]{16}\}$')
check_eq "every key has its hash in a hash tag" 0 "$bad"
counts=$(cl_counts 'fca:spread:*')
echo "# measured: $N entries per master: $counts"
total=0
for c in $counts; do
    n=${c#*=}
    total=$((total + n))
    check "master ${c%%=*} holds a sane share of the entries ($n of $N: 25-42 %)" in_range "$n" $((N / 4)) $((N * 42 / 100))
done
check_eq "the masters hold exactly the $N entries" "$N" "$total"

cl_load check "$SVC" spread "$N" --tag s
check_eq "all $N read back through _mget as hits with their own values" "$N 0 0 0" \
    "$(clv hit) $(clv miss) $(clv wrong) $(clv bad_status)"
# Single GETs of random entries for a second (2 keep-alive clients).
cl_load run "$SVC" spread "$N" --tag s --threads 2 --seconds 1
check "single GETs of random entries: $(clv gets) GETs, all hits with their own values" \
    test "$(clv gets)" -gt 300 -a "$(clv hit)" = "$(clv gets)"
get_q spread "entry 17 s"
check_json_eq "GET answers the entry's own value" '{"i":17,"q":"entry 17 s"}'
check_eq "GET: X-Cache HIT, X-Cache-Key the cluster key" "HIT $(awk '$1 == 17 { print $2 }' "$NC_TMP/keys")" \
    "$(hdr X-Cache) $(hdr X-Cache-Key)"

# ---------------------------------------------------------------------------
# Flush: exactly that namespace, on every master
# ---------------------------------------------------------------------------
N2=1500
cl_load fill "$SVC" spreadx "$N2" --tag o
check_eq "a second namespace (spreadx): $N2 stored" "$N2" "$(clv stored)"
# Keys other clients wrote, on every master (written to their owners).
# (one redis-cli per master, each given the keys of its own slots)
for i in $(seq 30); do
    for k in "foreign:{$i}" "fcb:spread:{$i}" "other:spread:$i"; do echo "$k"; done
done >"$NC_TMP/foreign"
python3 - "$NC_TMP/foreign" >"$NC_TMP/foreign.slots" <<'PYEOF'
import sys
def crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc
for k in open(sys.argv[1]).read().split():
    h = k
    if "{" in k and "}" in k[k.index("{") + 1:] and k.index("}", k.index("{")) > k.index("{") + 1:
        h = k[k.index("{") + 1:k.index("}", k.index("{"))]
    print(crc16(h.encode()) % 16384, k)
PYEOF
for m in "${M[@]}"; do
    cl_nodes_table | awk -v p=":$m@" 'index($2, p) { for (i = 9; i <= NF; i++) print $i }' >"$NC_TMP/ranges"
    awk 'NR == FNR { n = split($1, r, "-"); lo[NR] = r[1]; hi[NR] = (n > 1 ? r[2] : r[1]); nr = NR; next }
        { for (j = 1; j <= nr; j++) if ($1 >= lo[j] && $1 <= hi[j]) { print "SET", $2, "v"; break } }' \
        "$NC_TMP/ranges" "$NC_TMP/foreign.slots" | cl_cli "$m" >/dev/null
done
check_eq "90 foreign keys written, on every master" "90 3" "$(($(cl_total 'foreign:*') + $(cl_total 'fcb:*') + $(cl_total 'other:*'))) $(for m in "${M[@]}"; do [ "$(cl_count "$m" 'foreign:*')" -gt 0 ] && echo "$m"; done | wc -l)"
t0=$(now_ms)
del_ns spread
t_flush=$(($(now_ms) - t0))
echo "# measured: flush of $N entries over 3 masters: ${t_flush} ms"
check_eq "DELETE /cache/spread: 200 {\"deleted\":$N}" "200 $N" "$STATUS $(jget deleted)"
check_eq "no entry of the namespace left on any master" "0" "$(cl_total 'fca:spread:*')"
check_eq "the second namespace untouched on every master" "$N2" "$(cl_total 'fca:spreadx:*')"
check_eq "foreign keys untouched" 90 $(($(cl_total 'foreign:*') + $(cl_total 'fcb:*') + $(cl_total 'other:*')))
get_q spread "entry 17 s"
check_eq "after the flush: MISS" "404 MISS" "$STATUS $(hdr X-Cache)"
get_q spreadx "entry 17 o"
check_eq "the second namespace still hits" "200 HIT" "$STATUS $(hdr X-Cache)"
check "metrics: slot map loaded (normcache_redis_slot_map_refreshes_total >= 1)" \
    test "$(metric_value normcache_redis_slot_map_refreshes_total)" -ge 1
finish
