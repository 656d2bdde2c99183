#!/usr/bin/env bash
# test_cluster_failover.sh - REDIS_MODE=cluster when a master dies (a real
# 3-master, 3-replica cluster, tests/tools/cluster_lib.sh, node timeout
# 1000 ms):
#   - entries on every master, replicated (WAIT) before the crash;
#   - 4 clients read them all the time; one master SIGKILLed;
#   - no 5xx and no transport error at any moment (misses and BYPASS are
#     allowed while the slots have no master), no wrong answer, and no
#     error reply (-CLUSTERDOWN while the cluster is down) read as a value
#     of another type;
#   - once the cluster has promoted the replica, the service is back to full
#     hits within 2 s: the time from the promotion to the last GET that was
#     not a hit is printed ("# measured:") and judged;
#   - writes after the promotion land on the new master; /readyz says up.
set -u
NC_DB=0 # its own cluster: the shared test redis is not used
. "$(dirname "$0")/lib.sh"
. "$NC_ROOT/tests/tools/cluster_lib.sh"

BACK_MAX_MS=$((2000 * NC_TIME_SCALE)) # 2 s (scaled under valgrind / sanitizers)
cluster_start_or_finish 3 1
start_service REDIS_MODE=cluster "REDIS_URL=$CL_URL" LOG_REQUESTS=false || finish
SVC=http://127.0.0.1:$SVC_PORT
N=600
cl_load fill "$SVC" fo "$N" --tag f --keys "$NC_TMP/keys"
check_eq "$N entries stored" "$N" "$(clv stored)"
for m in $(cl_masters); do
    check_eq "master $m: its entries replicated (WAIT 1)" 1 "$(cl_cli "$m" wait 1 2000)"
done
victim=$(cl_key_owner "$(awk 'NR == 1 { print $2 }' "$NC_TMP/keys")")
on_victim=$(cl_count "$victim" 'fca:fo:*')
check "the victim $victim holds entries ($on_victim)" test "$on_victim" -gt 0

cl_load_bg "$NC_TMP/bg.sum" "$SVC" fo "$N" --tag f --threads 4 --log "$NC_TMP/bg.log" --seconds 60
sleep 1
cl_kill "$victim"
if cl_wait_promotion "$victim" 20; then
    ok "replica $CL_PROMOTED_PORT promoted $((CL_PROMOTED_MS - CL_KILLED_MS)) ms after the kill"
else
    notok "a replica of $victim is promoted"
fi
T=${CL_PROMOTED_MS:-$(now_ms)}
# Until 3 s after the promotion: 2 s to recover and 1 s of full hits.
while [ "$(now_ms)" -lt $((T + BACK_MAX_MS + 1000)) ]; do sleep 0.1; done
cl_load_stop
python3 "$CL_LOAD_PY" after "$NC_TMP/bg.log" "$T" "$BACK_MAX_MS" >"$NC_TMP/after.sum"
A=$NC_TMP/after.sum
echo "# measured: load: $(tr '\n' ' ' <"$NC_TMP/bg.sum")"
last=$(clv last_nonhit_ms "$A")
echo "# measured: master SIGKILLed; replica promoted $((T - CL_KILLED_MS)) ms later; last GET that was not a hit started ${last} ms after the promotion (ended $(clv last_nonhit_end_ms "$A") ms after; -1: none)"
check_eq "no 5xx, no transport error, no wrong answer at any moment ($(clv gets_total "$A") GETs)" "0 0 0" \
    "$(clv s5xx_total "$A") $(clv error_total "$A") $(clv wrong_total "$A")"
check "full hits back within ${BACK_MAX_MS} ms of the promotion (last non-hit at ${last} ms)" \
    test "$last" -lt "$BACK_MAX_MS"
check_eq "every GET from ${BACK_MAX_MS} ms after the promotion is a hit ($(clv gets_after_window "$A") GETs)" 0 \
    "$(clv nonhit_after_window "$A")"
check "GETs ran after the window" test "$(clv gets_after_window "$A")" -gt 100
# While the cluster is down every node answers -CLUSTERDOWN: an error reply,
# to be served as BYPASS, never read as a foreign value under the key.
foreign=$(grep -c 'is not a string' "$SVC_LOG")
check_eq "no error reply taken for a value of another type (log lines 'is not a string')" 0 "$foreign"
[ "$foreign" = 0 ] || diag "$(grep -m 1 'is not a string' "$SVC_LOG")"

check "cluster ok after the failover" cl_wait_ok 10
put_q fo "after the failover" '{"a":1}'
key=$(jget key)
check_eq "PUT after the failover: stored" "200 true" "$STATUS $(jget stored)"
check_eq "... on the master that serves its slot now" 1 "$(cl_cli "$(cl_key_owner "$key")" exists "$key")"
# Each check on a fresh connection, which any worker may accept: every
# worker must have followed the failover, not only those the load used.
for c in 1 2 3 4; do
    cl_load check "$SVC" fo "$N" --tag f
    check_eq "all $N entries still hits (fresh connection $c)" "$N 0" "$(clv hit) $(clv wrong)"
    req GET /readyz
    check_eq "/readyz: redis up (fresh connection $c)" "200 up" "$STATUS $(jget redis)"
done
check_match "/readyz names the promoted master as up" "\"127\\.0\\.0\\.1:$CL_PROMOTED_PORT\":\"up\"" "$(jget nodes)"
finish
