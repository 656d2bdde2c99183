# fault_lib.sh - helpers shared by tests/integration/test_fault_*.sh, sourced
# AFTER tests/integration/lib.sh and tests/tools/recs_lib.sh (their
# conventions: NC_TMP, NC_PIDS killed by the trap, ok/notok/diag).
#
#   rss_kb [PID]            current resident set of the service (VmRSS, KiB)
#   now_ms                  wall clock, milliseconds
#   quick NAME URL [MAX_S]  one GET that must answer (any status but 000/5xx)
#                           within MAX_S seconds (default 0.5, scaled)
#   status_tally FILE       "status=count ..." of a recs_load -o file
#   svc_log_lines RE        service log lines matching the ERE

rss_kb() { awk '/^VmRSS/{print $2}' "/proc/${1:-$SVC_PID}/status" 2>/dev/null || echo 0; }
now_ms() { date +%s%3N; }

quick() {
    local name=$1 url=$2 max=${3:-0.5} out code t
    out=$(curl -s -o /dev/null -w '%{http_code} %{time_total}' --max-time 5 "$url")
    code=${out%% *}
    t=${out#* }
    if [ "$code" != 000 ] && [ "${code:0:1}" != 5 ] && flt "$t" "$(scaled "$max")"; then
        ok "$name ($code in ${t}s)"
    else
        notok "$name (under ${max}s, not 5xx)"
        diag "got $code in ${t}s"
    fi
}

status_tally() { awk '{c[$3]++} END {for (s in c) printf "%s=%d ", s, c[s]}' "$1"; }

svc_log_lines() { grep -cE "$1" "$SVC_LOG" 2>/dev/null || true; }
