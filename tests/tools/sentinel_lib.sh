# sentinel_lib.sh - a real Redis master + replica watched by three sentinels,
# on loopback (sourced, never run). Sourced AFTER tests/integration/lib.sh
# (NC_TMP, NC_PIDS killed by its trap on every exit path, free_port, diag).
# Debian's redis-sentinel may be missing: `redis-server CONF --sentinel` is the same.
#
#   sentinel_start [NAME]  master (SN_MASTER_PORT), one replica
#                          (SN_REPLICA_PORT), three sentinels (SN_PORTS)
#                          monitoring NAME (default "ncmaster", SN_NAME) with
#                          quorum 2, down-after-milliseconds SN_DOWN_AFTER_MS
#                          (1000) and failover-timeout SN_FAILOVER_TIMEOUT_MS
#                          (3000); waits until the replica is in sync and each
#                          sentinel knows the replica and the two others.
#                          Sets SN_URL ("redis://127.0.0.1:s1,127.0.0.1:s2,
#                          127.0.0.1:s3"). Returns 1 (after a diag) on failure.
#   sn_cli PORT ARGS...    redis-cli on a sentinel or a data node
#   sn_master_addr         "127.0.0.1 PORT" as the first live sentinel names
#                          the master (SENTINEL get-master-addr-by-name)
#   sn_watch_switch        subscribes (raw RESP, own process) to +switch-master
#                          on every sentinel; each message is written with its
#                          epoch ms to $NC_TMP/switch.log
#   sn_kill_master         SIGKILL the master (a crash); SN_KILLED_MS
#   sn_wait_switch [S]     waits until a +switch-master is seen; sets
#                          SN_SWITCH_MS (when the first sentinel published it)
#                          and SN_NEW_MASTER_PORT. Returns 1 after S seconds
#                          (default 20).

SN_DOWN_AFTER_MS=${SN_DOWN_AFTER_MS:-1000}
SN_FAILOVER_TIMEOUT_MS=${SN_FAILOVER_TIMEOUT_MS:-3000}
SN_NAME=ncmaster
SN_PORTS=()
SN_URL=""
SN_MASTER_PORT=""
SN_MASTER_PID=""
SN_REPLICA_PORT=""
SN_KILLED_MS=""
SN_SWITCH_MS=""
SN_NEW_MASTER_PORT=""

type now_ms >/dev/null 2>&1 || now_ms() { date +%s%3N; }

sn_cli() {
    local port=$1
    shift
    redis-cli --no-auth-warning -h 127.0.0.1 -p "$port" "$@"
}

# sn_start_proc KIND PORT ARGS...: a redis-server (data node or sentinel);
# prints its pid. Returns 1 unless it answers PING within 5 s.
sn_start_proc() {
    local kind=$1 port=$2 dir=$NC_TMP/$1-$2 pid i
    shift 2
    mkdir -p "$dir"
    if [ "$kind" = sentinel ]; then
        cat >"$dir/sentinel.conf" <<EOF
port $port
bind 127.0.0.1
dir $dir
logfile $dir/redis.log
sentinel monitor $SN_NAME 127.0.0.1 $SN_MASTER_PORT 2
sentinel down-after-milliseconds $SN_NAME $SN_DOWN_AFTER_MS
sentinel failover-timeout $SN_NAME $SN_FAILOVER_TIMEOUT_MS
sentinel parallel-syncs $SN_NAME 1
EOF
        redis-server "$dir/sentinel.conf" --sentinel </dev/null >/dev/null 2>&1 &
    else
        redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$dir" --repl-diskless-sync-delay 0 \
            --daemonize no --logfile "$dir/redis.log" "$@" </dev/null >/dev/null 2>&1 &
    fi
    pid=$!
    NC_PIDS+=("$pid")
    for i in $(seq 100); do
        if [ "$(sn_cli "$port" ping 2>/dev/null)" = PONG ]; then
            echo "$pid"
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null
    diag "$kind on $port did not start: $(tail -n 2 "$dir/redis.log" 2>/dev/null)"
    return 1
}

sentinel_start() {
    SN_NAME=${1:-ncmaster}
    local t0 p i pid deadline ready
    t0=$(now_ms)
    SN_MASTER_PORT=$(free_port) || return 1
    SN_MASTER_PID=$(sn_start_proc data "$SN_MASTER_PORT") || return 1
    SN_REPLICA_PORT=$(free_port) || return 1
    sn_start_proc data "$SN_REPLICA_PORT" --replicaof 127.0.0.1 "$SN_MASTER_PORT" >/dev/null || return 1
    SN_PORTS=()
    for i in 1 2 3; do
        p=$(free_port) || return 1
        pid=$(sn_start_proc sentinel "$p") || return 1
        SN_PORTS+=("$p")
    done
    SN_URL="redis://127.0.0.1:${SN_PORTS[0]},127.0.0.1:${SN_PORTS[1]},127.0.0.1:${SN_PORTS[2]}"
    # Replica in sync; every sentinel sees the replica and the two others
    # (they find each other through hello messages on the master, every 2 s).
    deadline=$(($(now_ms) + 20000))
    while [ "$(now_ms)" -lt "$deadline" ]; do
        ready=1
        sn_cli "$SN_REPLICA_PORT" info replication | tr -d '\r' | grep -q '^master_link_status:up' || ready=0
        for p in "${SN_PORTS[@]}"; do
            local info
            info=$(sn_cli "$p" sentinel master "$SN_NAME" 2>/dev/null | paste - - | tr -d '\r')
            awk -F'\t' '$1 == "num-slaves" && $2 == 1 { a = 1 } $1 == "num-other-sentinels" && $2 == 2 { b = 1 }
                END { exit !(a && b) }' <<<"$info" || ready=0
        done
        [ $ready = 1 ] && break
        sleep 0.1
    done
    if [ $ready != 1 ]; then
        diag "sentinels did not see the replica and each other within 20 s"
        return 1
    fi
    diag "sentinel: master $SN_MASTER_PORT, replica $SN_REPLICA_PORT, sentinels ${SN_PORTS[*]} ready in $(($(now_ms) - t0)) ms"
}

sn_master_addr() {
    local p
    for p in "${SN_PORTS[@]}"; do
        sn_cli "$p" sentinel get-master-addr-by-name "$SN_NAME" 2>/dev/null | tr '\n' ' ' | sed 's/ $//' && return 0
    done
    return 1
}

sn_watch_switch() {
    local i
    : >"$NC_TMP/switch.log"
    python3 -u - "${SN_PORTS[@]}" >"$NC_TMP/switch.log" 2>"$NC_TMP/switch.err" <<'PYEOF' &
import selectors, socket, sys, time
sel = selectors.DefaultSelector()
for port in sys.argv[1:]:
    s = socket.create_connection(("127.0.0.1", int(port)))
    s.sendall(b"SUBSCRIBE +switch-master\r\n")
    sel.register(s, selectors.EVENT_READ, (port, s.makefile("rb")))
def read(f):
    line = f.readline()
    if not line:
        sys.exit(0)
    t, rest = line[:1], line[1:-2]
    if t == b"*":
        return [read(f) for _ in range(int(rest))]
    if t == b"$":
        n = int(rest)
        return None if n < 0 else f.read(n + 2)[:-2]
    return rest
subscribed = 0
while True:
    for key, _ in sel.select():
        port, f = key.data
        m = read(f)
        now = int(time.time() * 1000)
        if m[0] == b"subscribe":
            subscribed += 1
            if subscribed == len(sys.argv) - 1:
                print("ready")
        elif m[0] == b"message":
            print("%d %s %s" % (now, port, m[2].decode()))
PYEOF
    NC_PIDS+=("$!")
    for i in $(seq 100); do
        grep -q '^ready' "$NC_TMP/switch.log" && return 0
        sleep 0.05
    done
    diag "+switch-master watcher did not subscribe: $(head -c 300 "$NC_TMP/switch.err")"
    return 1
}

sn_kill_master() {
    kill -CONT "$SN_MASTER_PID" 2>/dev/null
    kill -KILL "$SN_MASTER_PID" 2>/dev/null
    SN_KILLED_MS=$(now_ms)
    wait "$SN_MASTER_PID" 2>/dev/null
    nc_forget_pid "$SN_MASTER_PID" 2>/dev/null
}

sn_wait_switch() {
    local deadline=$(($(now_ms) + ${1:-20} * 1000)) line
    while [ "$(now_ms)" -lt "$deadline" ]; do
        # "<ms> <sentinel port> <name> <old ip> <old port> <new ip> <new port>"
        line=$(awk '$1 ~ /^[0-9]+$/' "$NC_TMP/switch.log" | sort -n | head -n 1)
        if [ -n "$line" ]; then
            read -r SN_SWITCH_MS _ _ _ _ _ SN_NEW_MASTER_PORT <<<"$line"
            return 0
        fi
        sleep 0.02
    done
    diag "no +switch-master within ${1:-20} s"
    return 1
}
