#!/usr/bin/env bash
# run.sh - `make run`: the service in the foreground with config/normcache.env,
# plus a local redis-server when nothing answers at REDIS_URL and the upstream
# stub when UPSTREAM_URL is not set otherwise. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}

# The file supplies defaults; variables already in the environment win.
while IFS= read -r line; do
    case "$line" in ''|\#*) continue ;; esac
    name=${line%%=*}
    [ -n "${!name+x}" ] || export "$line"
done < config/normcache.env

pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# redis://[user[:pass]@]host[:port][/db] -> host and port
hp=${REDIS_URL#redis://}; hp=${hp##*@}; hp=${hp%%/*}
rhost=${hp%:*}; rport=${hp##*:}; [ "$rport" = "$hp" ] && rport=6379
if [ "$REDIS_ENABLED" = "true" ] && ! redis-cli -h "$rhost" -p "$rport" ping >/dev/null 2>&1; then
    command -v redis-server >/dev/null || scripts/deps.sh
    mkdir -p .run/redis
    echo "run: starting redis-server on $rhost:$rport (data in .run/redis)" >&2
    redis-server --bind "$rhost" --port "$rport" --dir "$PWD/.run/redis" \
        --maxmemory 256mb --maxmemory-policy allkeys-lru --save '' --appendonly no \
        --daemonize no >.run/redis/redis.log 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do redis-cli -h "$rhost" -p "$rport" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if [ "$UPSTREAM_URL" = "http://127.0.0.1:8081" ] && ! curl -fs -o /dev/null http://127.0.0.1:8081/healthz; then
    echo "run: starting upstream-stub on 127.0.0.1:8081" >&2
    STUB_PORT=8081 "$BUILD/upstream-stub" &
    pids+=($!)
fi

echo "run: normcache on http://$BIND_ADDR:$PORT (Ctrl-C stops)" >&2
"$BUILD/normcache" &
pids+=($!)
wait "${pids[-1]}"
