# cluster_lib.sh - a real Redis Cluster for tests, on loopback (sourced, never
# run). Sourced AFTER tests/integration/lib.sh, whose conventions it follows:
# every process it starts goes into NC_PIDS (killed by lib.sh's trap on every
# exit path), its files live under NC_TMP, and it reports with diag. Outside
# lib.sh (bench/run.sh, a self-test), set NC_TMP and NC_PIDS=() first and kill
# NC_PIDS in your own trap. It never touches a process it did not start.
#
#   cluster_start MASTERS REPLICAS [redis-server args...]
#                         MASTERS*(1+REPLICAS) nodes (--cluster-enabled yes,
#                         own dir each, --save '' --appendonly no, node timeout
#                         CL_NODE_TIMEOUT_MS, default 1000), `redis-cli
#                         --cluster create`, then waits for cluster_state:ok on
#                         every node, all nodes agreeing on the slots and every
#                         replica in sync. Sets CL_PORTS (array, all nodes),
#                         CL_SEEDS ("127.0.0.1:p1,127.0.0.1:p2,..."), CL_URL
#                         ("redis://" + CL_SEEDS). Returns 1 (after a diag) on
#                         failure.
#   cl_cli PORT ARGS...   redis-cli on one node (no redirects followed)
#   cl_ccli ARGS...       redis-cli -c on a live node (follows redirects)
#   cl_nodes              "127.0.0.1:port" of every node still running
#   cl_masters            ports of the masters that serve slots (sorted)
#   cl_replicas_of PORT   ports of the replicas of that master
#   cl_node_id PORT       a node's cluster id
#   cl_slot KEY           the hash slot of KEY (CLUSTER KEYSLOT)
#   cl_slot_owner SLOT    port of the master serving SLOT
#   cl_key_owner KEY      port of the master serving KEY
#   cl_slot_count PORT    how many slots the node serves
#   cl_count PORT PATTERN keys matching PATTERN on one node (SCAN, never KEYS)
#   cl_up PORT            0 while that node (started here) runs
#   cl_counts PATTERN     "port=count" for every master, space-separated
#   cl_total PATTERN      keys matching PATTERN over every master
#   cl_wait_ok [SECONDS]  cluster_state:ok everywhere and agreed slots (10 s)
#   cl_wait_synced [SECONDS]  every replica's link to its master is up (10 s)
#   cl_kill PORT          SIGKILL a node (a crash) and reap it; CL_KILLED_MS
#   cl_wait_promotion OLD_MASTER_PORT [SECONDS]
#                         waits (polling every 20 ms) until a replica of that
#                         master says it is a master; sets CL_PROMOTED_PORT
#                         and CL_PROMOTED_MS (epoch ms when first seen); the
#                         replicas of a killed master are remembered by cl_kill
#   cl_reshard FROM_PORT TO_PORT SLOTS
#                         `redis-cli --cluster reshard` of SLOTS slots (log in
#                         $NC_TMP/reshard-*.log); returns its exit status
#   cl_migrate_begin SLOT FROM_PORT TO_PORT
#                         SETSLOT IMPORTING on TO, MIGRATING on FROM: from now
#                         on FROM answers ASK for the slot's keys it lacks
#   cl_migrate_keys SLOT FROM_PORT TO_PORT [MAX]
#                         MIGRATE up to MAX (default all) of the slot's keys
#   cl_migrate_end SLOT FROM_PORT TO_PORT
#                         moves the rest and assigns the slot to TO everywhere
#   now_ms                wall clock, epoch milliseconds
#
# Ports: a node also listens on its bus port (port + 10000), and both must be
# below the kernel's ephemeral range: node ports are taken in 20000..22767
# with both ports free (and remembered in NC_USED_PORTS).

CL_NODE_TIMEOUT_MS=${CL_NODE_TIMEOUT_MS:-1000}
CL_PORTS=()
CL_SEEDS=""
CL_URL=""
declare -A CL_PID=()
declare -A CL_DEAD_REPLICAS=()
CL_KILLED_MS=""
CL_PROMOTED_PORT=""
CL_PROMOTED_MS=""
: "${NC_USED_PORTS:= }"

type diag >/dev/null 2>&1 || diag() { printf '#   %s\n' "$@"; }
type now_ms >/dev/null 2>&1 || now_ms() { date +%s%3N; }

# cl_port_free PORT: no TCP socket (v4 or v6) on it.
cl_port_free() {
    local hex
    hex=$(printf ':%04X' "$1")
    ! awk '{print $2}' /proc/net/tcp /proc/net/tcp6 2>/dev/null | grep -qi -- "$hex\$"
}
# cl_free_port: a node port P with P and P + 10000 free and unused so far.
cl_free_port() {
    local p i
    for i in $(seq 500); do
        p=$((20000 + (RANDOM * 32768 + RANDOM) % 2768))
        case $NC_USED_PORTS in *" $p "* | *" $((p + 10000)) "*) continue ;; esac
        if cl_port_free "$p" && cl_port_free $((p + 10000)); then
            NC_USED_PORTS="$NC_USED_PORTS$p $((p + 10000)) "
            echo "$p"
            return 0
        fi
    done
    return 1
}

# cl_up PORT: the node was started here and still runs (CL_PID is 0 once
# killed: never `kill -0 0`, which signals our own process group).
cl_up() {
    local pid=${CL_PID[$1]:-0}
    [ "$pid" -gt 0 ] && kill -0 "$pid" 2>/dev/null
}

cl_cli() {
    local port=$1
    shift
    redis-cli --no-auth-warning -h 127.0.0.1 -p "$port" "$@"
}
cl_alive_port() {
    local p
    for p in "${CL_PORTS[@]}"; do
        cl_up "$p" && {
            echo "$p"
            return 0
        }
    done
    return 1
}
cl_ccli() { redis-cli --no-auth-warning -c -h 127.0.0.1 -p "$(cl_alive_port)" "$@"; }
cl_nodes() {
    local p
    for p in "${CL_PORTS[@]}"; do
        cl_up "$p" && echo "127.0.0.1:$p"
    done
}

# cl_start_node PORT ARGS...: one node; CL_PID[PORT]. Returns 1 unless it
# answers PING within 5 s.
cl_start_node() {
    local port=$1 dir=$NC_TMP/cluster-$1 i
    shift
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
        --cluster-config-file "nodes-$port.conf" --cluster-node-timeout "$CL_NODE_TIMEOUT_MS" \
        --cluster-replica-validity-factor 0 --repl-diskless-sync-delay 0 --save '' --appendonly no --dir "$dir" \
        --daemonize no --logfile "$dir/redis.log" "$@" </dev/null >/dev/null 2>&1 &
    CL_PID[$port]=$!
    NC_PIDS+=("$!")
    for i in $(seq 100); do
        [ "$(cl_cli "$port" ping 2>/dev/null)" = PONG ] && return 0
        kill -0 "${CL_PID[$port]}" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "${CL_PID[$port]}" 2>/dev/null
    wait "${CL_PID[$port]}" 2>/dev/null
    diag "cluster node on $port did not start: $(tail -n 2 "$dir/redis.log" 2>/dev/null)"
    unset "CL_PID[$port]"
    return 1
}

cluster_start() {
    local masters=$1 replicas=$2 n i port try t0
    shift 2
    n=$((masters * (1 + replicas)))
    t0=$(now_ms)
    CL_PORTS=()
    for i in $(seq "$n"); do
        for try in 1 2 3; do
            port=$(cl_free_port) || break
            cl_start_node "$port" "$@" && break
            port=""
        done
        [ -n "$port" ] || {
            diag "cluster: node $i of $n would not start"
            return 1
        }
        CL_PORTS+=("$port")
    done
    local addrs=()
    for port in "${CL_PORTS[@]}"; do addrs+=("127.0.0.1:$port"); done
    if ! redis-cli --cluster create "${addrs[@]}" --cluster-replicas "$replicas" --cluster-yes \
        >"$NC_TMP/cluster-create.log" 2>&1; then
        diag "redis-cli --cluster create failed: $(tail -n 3 "$NC_TMP/cluster-create.log")"
        return 1
    fi
    CL_SEEDS=$(
        IFS=,
        echo "${addrs[*]}"
    )
    CL_URL="redis://$CL_SEEDS"
    cl_wait_ok 15 || return 1
    [ "$replicas" = 0 ] || cl_wait_synced 15 || return 1
    diag "cluster: $masters masters + $((n - masters)) replicas on ${CL_PORTS[*]} up in $(($(now_ms) - t0)) ms"
}

# For integration tests (lib.sh sourced): cluster_start, or one failed check
# naming the cluster and the end of the script.
cluster_start_or_finish() {   # $1 masters, $2 replicas per master
    local what="a $1-master cluster starts"
    [ "$2" -gt 0 ] && what="a $1-master, $(($1 * $2))-replica cluster starts"
    cluster_start "$1" "$2" && return 0
    notok "$what"
    finish
}

# cl_nodes_table: CLUSTER NODES of a live node.
cl_nodes_table() { cl_cli "$(cl_alive_port)" cluster nodes 2>/dev/null; }

cl_node_id() { cl_cli "$1" cluster myid 2>/dev/null; }

cl_masters() {
    cl_nodes_table | awk '$3 ~ /master/ && $3 !~ /fail/ && NF >= 9 {
        split($2, a, "@"); sub(/.*:/, "", a[1]); print a[1] }' | sort -n
}

cl_replicas_of() {
    local id
    id=$(cl_node_id "$1")
    [ -n "$id" ] || return 1
    cl_nodes_table | awk -v id="$id" '$4 == id { split($2, a, "@"); sub(/.*:/, "", a[1]); print a[1] }'
}

cl_slot() { cl_cli "$(cl_alive_port)" cluster keyslot "$1"; }

cl_slot_owner() {
    cl_nodes_table | awk -v s="$1" '$3 ~ /master/ && $3 !~ /fail/ {
        for (i = 9; i <= NF; i++) {
            if ($i ~ /^\[/) continue
            n = split($i, r, "-"); lo = r[1]; hi = (n > 1 ? r[2] : r[1])
            if (s + 0 >= lo + 0 && s + 0 <= hi + 0) { split($2, a, "@"); sub(/.*:/, "", a[1]); print a[1]; exit }
        } }'
}
cl_key_owner() { cl_slot_owner "$(cl_slot "$1")"; }

cl_slot_count() {
    cl_nodes_table | awk -v p=":$1@" 'index($2, p) {
        for (i = 9; i <= NF; i++) { if ($i ~ /^\[/) continue
            n = split($i, r, "-"); c += (n > 1 ? r[2] - r[1] + 1 : 1) } }
        END { print c + 0 }'
}

# (redis-cli 7.0 has no --count for --scan: SCAN with its default COUNT.)
cl_count() { cl_cli "$1" --scan --pattern "$2" 2>/dev/null | grep -c .; }
cl_counts() {
    local p out=""
    for p in $(cl_masters); do out+="$p=$(cl_count "$p" "$1") "; done
    echo "${out% }"
}
cl_total() {
    local p t=0
    for p in $(cl_masters); do t=$((t + $(cl_count "$p" "$1"))); done
    echo "$t"
}

# cl_state_ok: every live node says cluster_state:ok and all of them report
# the same slot assignment.
cl_state_ok() {
    local p sig="" s
    for p in "${CL_PORTS[@]}"; do
        cl_up "$p" || continue
        cl_cli "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || return 1
        s=$(cl_cli "$p" cluster nodes 2>/dev/null | awk '$3 ~ /master/ && $3 !~ /fail/ && NF >= 9 {
            line = $1; for (i = 9; i <= NF; i++) if ($i !~ /^\[/) line = line " " $i; print line }' | sort | md5sum)
        if [ -z "$sig" ]; then sig=$s; elif [ "$s" != "$sig" ]; then return 1; fi
    done
    [ -n "$sig" ]
}
cl_wait_ok() {
    local deadline=$(($(now_ms) + ${1:-10} * 1000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        cl_state_ok && return 0
        sleep 0.1
    done
    diag "cluster: not ok within ${1:-10} s" "$(cl_nodes_table | cut -c1-160)"
    return 1
}

cl_wait_synced() {
    local deadline=$(($(now_ms) + ${1:-10} * 1000)) p all
    while [ "$(now_ms)" -lt "$deadline" ]; do
        all=1
        for p in "${CL_PORTS[@]}"; do
            cl_up "$p" || continue
            local info
            info=$(cl_cli "$p" info replication 2>/dev/null | tr -d '\r')
            if grep -q '^role:slave' <<<"$info"; then
                grep -q '^master_link_status:up' <<<"$info" || all=0
                grep -q '^master_sync_in_progress:0' <<<"$info" || all=0
            fi
        done
        [ $all = 1 ] && return 0
        sleep 0.1
    done
    diag "cluster: replicas not in sync within ${1:-10} s"
    return 1
}

cl_kill() {
    local port=$1 pid=${CL_PID[$1]:-}
    [ -n "$pid" ] || return 1
    CL_DEAD_REPLICAS[$port]=$(cl_replicas_of "$port" | tr '\n' ' ')
    kill -CONT "$pid" 2>/dev/null
    kill -KILL "$pid" 2>/dev/null
    CL_KILLED_MS=$(now_ms)
    wait "$pid" 2>/dev/null
    nc_forget_pid "$pid" 2>/dev/null
    CL_PID[$port]=0
}

cl_wait_promotion() {
    local old=$1 deadline=$(($(now_ms) + ${2:-15} * 1000)) r
    local reps=${CL_DEAD_REPLICAS[$old]:-}
    [ -n "$reps" ] || reps=$(cl_replicas_of "$old" | tr '\n' ' ')
    CL_PROMOTED_PORT="" CL_PROMOTED_MS=""
    if [ -z "${reps// /}" ]; then
        diag "cluster: $old has no replica"
        return 1
    fi
    while [ "$(now_ms)" -lt "$deadline" ]; do
        for r in $reps; do
            if [ "$(cl_cli "$r" role 2>/dev/null | head -n 1)" = master ]; then
                CL_PROMOTED_MS=$(now_ms)
                CL_PROMOTED_PORT=$r
                return 0
            fi
        done
        sleep 0.02
    done
    diag "cluster: no replica of $old ($reps) promoted within ${2:-15} s"
    return 1
}

CL_RESHARD_N=0
cl_reshard() {
    local from=$1 to=$2 n=$3 idf idt
    idf=$(cl_node_id "$from")
    idt=$(cl_node_id "$to")
    CL_RESHARD_N=$((CL_RESHARD_N + 1))
    redis-cli --cluster reshard "127.0.0.1:$from" --cluster-from "$idf" --cluster-to "$idt" \
        --cluster-slots "$n" --cluster-yes >"$NC_TMP/reshard-$CL_RESHARD_N.log" 2>&1
}

cl_migrate_begin() {
    local slot=$1 from=$2 to=$3
    [ "$(cl_cli "$to" cluster setslot "$slot" importing "$(cl_node_id "$from")")" = OK ] &&
        [ "$(cl_cli "$from" cluster setslot "$slot" migrating "$(cl_node_id "$to")")" = OK ]
}
cl_migrate_keys() {
    local slot=$1 from=$2 to=$3 max=${4:-100000} keys
    mapfile -t keys < <(cl_cli "$from" cluster getkeysinslot "$slot" "$max" | grep .)
    [ ${#keys[@]} -gt 0 ] || return 0
    [ "$(cl_cli "$from" migrate 127.0.0.1 "$to" "" 0 5000 keys "${keys[@]}")" = OK ]
}
cl_migrate_end() {
    local slot=$1 from=$2 to=$3 idt p
    cl_migrate_keys "$slot" "$from" "$to" || return 1
    idt=$(cl_node_id "$to")
    cl_cli "$to" cluster setslot "$slot" node "$idt" >/dev/null || return 1
    cl_cli "$from" cluster setslot "$slot" node "$idt" >/dev/null || return 1
    for p in $(cl_masters); do
        [ "$p" = "$to" ] || [ "$p" = "$from" ] || cl_cli "$p" cluster setslot "$slot" node "$idt" >/dev/null
    done
    return 0
}

# ---------------------------------------------------------------------------
# For the integration scripts (need lib.sh): entries and load through the
# service with tests/tools/cluster_load.py (see its --help).
# ---------------------------------------------------------------------------
#   cl_load ARGS...       runs cluster_load.py ARGS; key=value summary in
#                         $NC_TMP/cl.sum (stderr in $NC_TMP/cl.err)
#   clv NAME [FILE]       one summary value (0 when absent)
#   cl_load_bg FILE ARGS... `cluster_load.py run` in the background, summary
#                         in FILE; stopped by cl_load_stop (CL_LOAD_PID)
#   metric_value NAME     the sum of a metric's samples in the running
#                         service's /metrics (NAME may carry {labels}); 0
#                         when absent
CL_LOAD_PY=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/cluster_load.py
cl_load() { python3 "$CL_LOAD_PY" "$@" >"$NC_TMP/cl.sum" 2>"$NC_TMP/cl.err"; }
clv() {
    local v
    v=$(sed -n "s/^$1=//p" "${2:-$NC_TMP/cl.sum}" | head -n 1)
    echo "${v:-0}"
}
cl_load_bg() {
    local out=$1
    shift
    rm -f "$NC_TMP/load.stop"
    python3 "$CL_LOAD_PY" run "$@" --until "$NC_TMP/load.stop" >"$out" 2>"$out.err" &
    CL_LOAD_PID=$!
    NC_PIDS+=("$CL_LOAD_PID")
}
cl_load_stop() {
    touch "$NC_TMP/load.stop"
    wait "$CL_LOAD_PID" 2>/dev/null
    nc_forget_pid "$CL_LOAD_PID"
}
metric_value() {
    curl -s --max-time 5 "http://127.0.0.1:${2:-$SVC_PORT}/metrics" |
        awk -v m="$1" 'index($0, m) == 1 && (length($0) == length(m) || substr($0, length(m) + 1, 1) ~ /[ {]/) { s += $NF } END { print s + 0 }'
}
