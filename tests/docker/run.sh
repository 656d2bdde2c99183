#!/usr/bin/env bash
# tests/docker/run.sh - `make docker-test`: build the image from the Dockerfile,
# run it against Redis (PUT/GET hit, HEALTHCHECK), then bring up
# docker-compose.yml and check the stack end to end through the published port.
#
# Engine: a working Docker engine (`docker info` succeeds) is used as it is.
# Otherwise podman + podman-compose from Debian (installed if missing, as root),
# with all state under $NC_DOCKER_CACHE (default .cache/docker), the base image
# debian:bookworm-slim made with debootstrap (tarball cached there), and a
# stand-in for redis:7 built from Debian's redis-server (nothing can be pulled).
#
# Env: NC_DOCKER_ENGINE=docker|podman (force), NC_DOCKER_CACHE=DIR,
#      NC_DOCKER_PULL=0 (Docker engine: never pull debian:bookworm-slim or
#      redis:7, make/build them as with podman), NC_DOCKER_KEEP=1 (leave
#      containers running on failure, for debugging).
# Prints `ok - ...` / `not ok - ...` and a closing `docker: N passed, N failed`.
set -uo pipefail

PROJ=$(cd "$(dirname "$0")/../.." && pwd)
cd "$PROJ" || exit 2
CACHE=${NC_DOCKER_CACHE:-$PROJ/.cache/docker}
IMAGE=normcache:local          # the image name docker-compose.yml uses
REDIS_IMAGE=redis:7            # the redis image docker-compose.yml uses
ID=nct$$                       # prefix of everything this run creates
NET=${ID}-net
T0=$(date +%s)
mkdir -p "$CACHE/logs"
LOGS=$CACHE/logs

pass=0; fail=0
ok()     { pass=$((pass + 1)); echo "ok - $*"; }
notok()  { fail=$((fail + 1)); echo "not ok - $*"; }
check()  { local name=$1; shift; if "$@"; then ok "$name"; else notok "$name"; fi; }
note()   { echo "# $* ($(( $(date +%s) - T0 ))s)"; }
summary() { echo "docker: $pass passed, $fail failed"; }
# A setup step that failed: nothing after it can be checked.
die() {
    notok "$1"
    [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 30 "$2" | sed 's/^/#   /'
    summary
    exit 1
}

# ---------------------------------------------------------------- engine ----
ENGINE=${NC_DOCKER_ENGINE:-}
if [ -z "$ENGINE" ]; then
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        ENGINE=docker
    else
        ENGINE=podman
    fi
fi

if [ "$ENGINE" = podman ]; then
    need=()
    # dnsname: container names resolve inside a network (podman 4.3 on CNI)
    for p in podman podman-compose buildah runc fuse-overlayfs slirp4netns uidmap \
             golang-github-containernetworking-plugin-dnsname \
             debootstrap curl; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then
        [ "$(id -u)" = 0 ] || die "podman packages installed (missing: ${need[*]}; run as root)"
        note "installing ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        { apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}"; } \
            >"$LOGS/apt.log" 2>&1 || die "podman packages installed" "$LOGS/apt.log"
    fi
    # All podman state lives under $CACHE/podman. Two traps on these hosts:
    # crun fails on the hybrid cgroup layout (use runc), and podman's default
    # ulimits exceed what root may set here (give explicit ones).
    W=$CACHE/podman
    mkdir -p "$W/tmp" "$W/networks" "$W/run"
    NOFILE=$(ulimit -Hn); NPROC=$(ulimit -Hu); PIDMAX=$(cat /proc/sys/kernel/pid_max)
    [ "$NOFILE" = unlimited ] && NOFILE=1048576
    if [ "$NPROC" = unlimited ] || [ "$NPROC" -gt "$PIDMAX" ]; then NPROC=$PIDMAX; fi
    cat >"$W/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$W/storage"
runroot = "$W/run/storage"
EOF
    cat >"$W/containers.conf" <<EOF
[containers]
default_ulimits = ["nofile=$NOFILE:$NOFILE", "nproc=$NPROC:$NPROC"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$W/run/events.log"
tmp_dir = "$W/run/libpod"
[network]
network_config_dir = "$W/networks"
EOF
    export CONTAINERS_STORAGE_CONF=$W/storage.conf CONTAINERS_CONF=$W/containers.conf
    export TMPDIR=$W/tmp
    export BUILDAH_FORMAT=docker    # keep HEALTHCHECK (the OCI format drops it)
    D=podman
    COMPOSE=(podman-compose)
    BUILD_OPTS=(--pull=never --format docker --layers --network host)
else
    D=docker
    if docker compose version >/dev/null 2>&1; then
        COMPOSE=(docker compose)
    elif command -v docker-compose >/dev/null; then
        COMPOSE=(docker-compose)
    else
        die "a compose tool found (neither 'docker compose' nor docker-compose)"
    fi
    BUILD_OPTS=(--network host)
fi
PULL=${NC_DOCKER_PULL:-1}
[ "$ENGINE" = docker ] || PULL=0
note "engine: $ENGINE, compose: ${COMPOSE[*]}"

image_exists() { $D image inspect "$1" >/dev/null 2>&1; }

# --------------------------------------------------------------- cleanup ----
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ "${NC_DOCKER_KEEP:-}" = 1 ] && [ "$fail" -gt 0 ]; then
        echo "# NC_DOCKER_KEEP=1: leaving ${ID}* running"
        exit "$rc"
    fi
    $D rm -f -t 2 "${ID}-app" "${ID}-redis" >/dev/null 2>&1 \
        || $D rm -f "${ID}-app" "${ID}-redis" >/dev/null 2>&1
    $D network rm "$NET" >/dev/null 2>&1
    if [ -n "${COMPOSE_UP:-}" ]; then
        "${COMPOSE[@]}" ${PROFILE[@]+"${PROFILE[@]}"} -p "$ID" down >>"$LOGS/compose.log" 2>&1
        # whatever a compose tool left behind, by its project label
        local left
        left=$($D ps -aq --filter "label=com.docker.compose.project=$ID" 2>/dev/null)
        [ -n "$left" ] && $D rm -f $left >/dev/null 2>&1
        $D network rm "${ID}_default" >/dev/null 2>&1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A free loopback port: one that can be bound now, below the kernel's
# ephemeral range (32768 up by default), so that no outgoing connection
# takes it as its local port before podman binds it.
free_port() {
    python3 - <<'PY'
import random, socket
lo = 20000
try:
    hi = min(int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0]), 65536) - 1
except (OSError, ValueError, IndexError):
    hi = 32767
for _ in range(100):
    p = random.randint(lo, max(lo, hi))
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    raise SystemExit(0)
raise SystemExit(1)
PY
}

# Wait until GET $1 answers 200 (at most $2 tenths of a second).
wait_http() {
    local i
    for ((i = 0; i < $2; i++)); do
        curl -fsS -o /dev/null -m 2 "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------- base image (podman) ----
make_base_tarball() {
    local tar=$1 mirror r
    command -v debootstrap >/dev/null || { echo "debootstrap is not installed" >"$LOGS/debootstrap.log"; return 1; }
    mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null)
    [ -n "$mirror" ] || mirror=$(awk '/^deb / {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    [ -n "$mirror" ] || return 1
    r=$CACHE/rootfs
    rm -rf "$r"
    debootstrap --variant=minbase bookworm "$r" "$mirror" >"$LOGS/debootstrap.log" 2>&1 || return 1
    # Make it look like the official slim image (debuerreotype's settings).
    rm -f "$r/etc/apt/sources.list"
    if [ -f /etc/apt/sources.list.d/debian.sources ]; then
        cp /etc/apt/sources.list.d/debian.sources "$r/etc/apt/sources.list.d/debian.sources"
    else
        cp /etc/apt/sources.list "$r/etc/apt/sources.list"
    fi
    printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-include /usr/share/doc/*/copyright' \
        'path-exclude /usr/share/man/*' 'path-exclude /usr/share/info/*' \
        'path-exclude /usr/share/locale/*' 'path-include /usr/share/locale/locale.alias' \
        >"$r/etc/dpkg/dpkg.cfg.d/docker"
    echo 'force-unsafe-io' >"$r/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"
    echo 'Acquire::Languages "none";' >"$r/etc/apt/apt.conf.d/docker-no-languages"
    echo 'APT::AutoRemove::SuggestsImportant "false";' >"$r/etc/apt/apt.conf.d/docker-autoremove-suggests"
    printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"    # no daemons start in builds
    chmod 755 "$r/usr/sbin/policy-rc.d"
    find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
    rm -rf "$r/usr/share/man/"* "$r/usr/share/info/"* "$r/var/cache/apt/archives/"*.deb \
        "$r/var/cache/apt/"*.bin "$r/var/lib/apt/lists/"* "$r/var/log/"*.log "$r/etc/resolv.conf"
    find "$r/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
    mkdir -p "$r/var/lib/apt/lists/partial"
    : >"$r/etc/machine-id"
    tar --numeric-owner -C "$r" -cf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    local rc=$?
    rm -rf "$r"
    return $rc
}

if ! image_exists debian:bookworm-slim; then
    if [ "$PULL" = 1 ] && docker pull -q debian:bookworm-slim >"$LOGS/pull.log" 2>&1; then
        note "pulled debian:bookworm-slim"
    else
        TAR=$CACHE/bookworm-slim.tar
        if [ ! -s "$TAR" ]; then
            note "making debian:bookworm-slim with debootstrap"
            make_base_tarball "$TAR" || die "base image debian:bookworm-slim made with debootstrap" \
                "$LOGS/debootstrap.log"
        fi
        $D import --change 'CMD ["bash"]' "$TAR" docker.io/library/debian:bookworm-slim \
            >"$LOGS/import.log" 2>&1 || die "base image imported" "$LOGS/import.log"
        note "imported debian:bookworm-slim from $TAR"
    fi
fi
ok "base image debian:bookworm-slim available"

# ------------------------------------------------------------ the images ----
note "building $IMAGE"
if $D build "${BUILD_OPTS[@]}" -t "$IMAGE" -f Dockerfile . >"$LOGS/build.log" 2>&1; then
    ok "image builds from the Dockerfile ($IMAGE)"
else
    die "image builds from the Dockerfile ($IMAGE)" "$LOGS/build.log"
fi
note "built"

# podman's storage is this test's own: (re)build the stand-in there, from
# cached layers when nothing changed. A Docker engine keeps its redis:7.
if [ "$ENGINE" = podman ] || ! image_exists "$REDIS_IMAGE"; then
    if [ "$PULL" = 1 ] && docker pull -q "$REDIS_IMAGE" >>"$LOGS/pull.log" 2>&1; then
        note "pulled $REDIS_IMAGE"
    else
        note "building a stand-in tagged $REDIS_IMAGE (Debian's redis-server)"
        $D build "${BUILD_OPTS[@]}" -t "$REDIS_IMAGE" -f tests/docker/redis-standin.Dockerfile \
            tests/docker >"$LOGS/redis-build.log" 2>&1 \
            || die "stand-in image $REDIS_IMAGE builds" "$LOGS/redis-build.log"
    fi
fi
ok "redis image $REDIS_IMAGE available"

# What the image is made of.
cfg_user=$($D image inspect -f '{{.Config.User}}' "$IMAGE" 2>/dev/null)
case "$cfg_user" in ""|0|0:*|root|root:*) notok "image runs as a non-root user (User='$cfg_user')" ;;
    *) ok "image runs as a non-root user ($cfg_user)" ;; esac
hc=$($D image inspect -f '{{json .Config.Healthcheck}}' "$IMAGE" 2>/dev/null)
case "$hc" in *normcache*--healthcheck*) ok "image has HEALTHCHECK normcache --healthcheck" ;;
    *) notok "image has HEALTHCHECK normcache --healthcheck (got: $hc)" ;; esac
ports=$($D image inspect -f '{{json .Config.ExposedPorts}}' "$IMAGE" 2>/dev/null)
case "$ports" in *8080/tcp*) ok "image exposes 8080" ;; *) notok "image exposes 8080 (got: $ports)" ;; esac
inside=$($D run --rm --network none --entrypoint /bin/sh "$IMAGE" -c '
    for b in normcache upstream-stub; do
        p=$(command -v $b) || { echo "missing:$b"; continue; }
        ldd "$p" | grep -q "not found" && echo "unresolved:$b"
    done
    for t in cc gcc make; do command -v $t >/dev/null && echo "buildtool:$t"; done
    normcache --version >/dev/null 2>&1 || echo "version-fails"
    echo done' 2>&1)
check "runtime image has both binaries with all their libraries resolved" \
    eval '! grep -qE "^(missing|unresolved):" <<<"$inside" && grep -q "^done" <<<"$inside"'
check "runtime image carries no build tools" eval '! grep -q "^buildtool:" <<<"$inside"'
check "normcache --version runs in the image" eval '! grep -q "^version-fails" <<<"$inside"'
[ "$fail" -gt 0 ] && echo "$inside" | sed 's/^/#   /'

# ------------------------------------- one container against redis-server ----
note "single container"
PORT1=$(free_port) || die "a free loopback port"
$D network create "$NET" >"$LOGS/run.log" 2>&1 || die "container network created" "$LOGS/run.log"
$D run -d --name "${ID}-redis" --network "$NET" "$REDIS_IMAGE" \
    redis-server --save "" >>"$LOGS/run.log" 2>&1 || die "redis container starts" "$LOGS/run.log"
# A free port can be taken by another process before podman binds it: on
# "address already in use" the container is started again on a new one.
for attempt in 1 2 3; do
    if $D run -d --name "${ID}-app" --network "$NET" -p "127.0.0.1:$PORT1:8080" \
        -e "REDIS_URL=redis://${ID}-redis:6379/0" "$IMAGE" >>"$LOGS/run.log" 2>&1; then
        break
    fi
    grep -q "address already in use" "$LOGS/run.log" && [ "$attempt" -lt 3 ] \
        || die "normcache container starts" "$LOGS/run.log"
    $D rm -f "${ID}-app" >/dev/null 2>&1 || true
    PORT1=$(free_port) || die "a free loopback port"
done
BASE=http://127.0.0.1:$PORT1
if wait_http "$BASE/healthz" 300; then
    ok "container answers /healthz on the published port"
else
    $D logs "${ID}-app" 2>&1 | tail -n 20 | sed 's/^/#   /'
    die "container answers /healthz on the published port"
fi

# PUT then GET: stored in the Redis container, answered as a hit.
put_and_hit() {   # $1 base URL, $2 namespace
    local body hdr out
    out=$(curl -sS -m 5 -X PUT -H 'Content-Type: application/json' \
        --data '{"q":"hello","value":{"a":1}}' -w '\n%{http_code}' "$1/cache/$2") || return 1
    [ "$(tail -n1 <<<"$out")" = 200 ] || { echo "#   PUT: $out"; return 1; }
    grep -Eq '"stored": *true' <<<"$out" || { echo "#   PUT: $out"; return 1; }
    hdr=$(mktemp); body=$(curl -sS -m 5 -D "$hdr" "$1/cache/$2?q=hello")
    local code; code=$(awk 'NR==1 {print $2}' "$hdr")
    local xc; xc=$(tr -d '\r' <"$hdr" | awk -F': *' 'tolower($1)=="x-cache" {print $2}')
    rm -f "$hdr"
    [ "$code" = 200 ] && [ "$xc" = HIT ] && [ "$(tr -d ' \n' <<<"$body")" = '{"a":1}' ] \
        || { echo "#   GET: $code X-Cache=$xc body=$body"; return 1; }
}
check "container: PUT /cache/<ns> then GET is a HIT with the stored value" put_and_hit "$BASE" docker1

# HEALTHCHECK: the engine runs the image's check and reports healthy.
health_status() {
    if [ "$ENGINE" = podman ]; then
        # no systemd here to schedule the checks: run one now, as the timer would
        podman healthcheck run "$1" >/dev/null 2>&1
        podman inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null
    else
        docker inspect -f '{{.State.Health.Status}}' "$1" 2>/dev/null
    fi
}
healthy() {
    local i s
    for ((i = 0; i < 40; i++)); do
        s=$(health_status "$1")
        [ "$s" = healthy ] && return 0
        sleep 1
    done
    echo "#   health status: ${s:-?}"
    return 1
}
check "container: HEALTHCHECK reports healthy" healthy "${ID}-app"
check "container: normcache --healthcheck exits non-zero when nothing serves" \
    eval "! $D exec -e PORT=1 ${ID}-app normcache --healthcheck >/dev/null 2>&1"
uid=$($D exec "${ID}-app" id -u 2>/dev/null)
check "container: the service runs as a non-root user (uid $uid)" eval '[ -n "$uid" ] && [ "$uid" != 0 ]'
$D rm -f "${ID}-app" "${ID}-redis" >/dev/null 2>&1
$D network rm "$NET" >/dev/null 2>&1
note "single container done"

# ------------------------------------------------------- compose stack ----
HOSTPORT=$(free_port) || die "a free loopback port"
export NORMCACHE_HOST_PORT=$HOSTPORT
COMPOSE_UP=1
# The image was built above from the same Dockerfile and tagged as the compose
# file names it, so `up` starts it without building again. The default stack
# by name, which keeps the optional cluster profile out with any compose tool.
if "${COMPOSE[@]}" -p "$ID" up -d redis upstream normcache >"$LOGS/compose.log" 2>&1; then
    ok "compose: docker-compose.yml comes up (${COMPOSE[*]})"
else
    die "compose: docker-compose.yml comes up (${COMPOSE[*]})" "$LOGS/compose.log"
fi
note "compose up"
cname() {   # container id of a compose service
    $D ps -q --filter "label=com.docker.compose.project=$ID" \
        --filter "label=com.docker.compose.service=$1" | head -n1
}
BASE=http://127.0.0.1:$HOSTPORT
if wait_http "$BASE/healthz" 300; then
    ok "compose: normcache answers /healthz on the published port"
else
    c=$(cname normcache); [ -n "$c" ] && $D logs "$c" 2>&1 | tail -n 20 | sed 's/^/#   /'
    die "compose: normcache answers /healthz on the published port" "$LOGS/compose.log"
fi
running=$($D ps -q --filter "label=com.docker.compose.project=$ID" --filter status=running | wc -l)
check "compose: all three services are running ($running)" eval '[ "$running" -ge 3 ]'

for s in redis upstream normcache; do
    check "compose: the $s healthcheck reports healthy" healthy "$(cname $s)"
done

# Redis is reached by service name; with the cache settings of the compose file.
ready_up() {
    local i
    for ((i = 0; i < 50; i++)); do
        curl -fsS -m 2 "$BASE/readyz" 2>/dev/null | grep -Eq '"redis": *"up"' && return 0
        sleep 0.2
    done
    return 1
}
check "compose: /readyz reports redis up" ready_up
check "compose: PUT then GET is a HIT through the published port" put_and_hit "$BASE" docker2
rc=$(cname redis)
pol=$($D exec "$rc" redis-cli config get maxmemory-policy 2>/dev/null | tail -n1)
mem=$($D exec "$rc" redis-cli config get maxmemory 2>/dev/null | tail -n1)
check "compose: redis is a cache (maxmemory $mem, policy $pol)" \
    eval '[ "$pol" = allkeys-lru ] && [ "${mem:-0}" -gt 0 ]'

# Recommendations go through the upstream container, then come from the cache.
recs() {   # $1 expected X-Cache
    local hdr body code xc
    hdr=$(mktemp)
    body=$(curl -sS -m 10 -D "$hdr" "$BASE/products/recommendations?query=shoes&limit=3")
    code=$(awk 'NR==1 {print $2}' "$hdr")
    xc=$(tr -d '\r' <"$hdr" | awk -F': *' 'tolower($1)=="x-cache" {print $2}')
    rm -f "$hdr"
    [ "$code" = 200 ] && [ "$xc" = "$1" ] && grep -q '"items"' <<<"$body" \
        || { echo "#   $code X-Cache=$xc body=$body"; return 1; }
}
check "compose: /products/recommendations is a MISS answered by the upstream" recs MISS
check "compose: /products/recommendations again is a HIT" recs HIT
# The stub counted the call: asked from inside the normcache container, by service name.
calls=$($D exec "$(cname normcache)" bash -c '
    exec 3<>/dev/tcp/upstream/8081 || exit 1
    printf "GET /stats HTTP/1.0\r\nHost: upstream\r\n\r\n" >&3
    cat <&3' 2>/dev/null | tr -d '\r' | grep -Eo '"calls": *[0-9]+' | grep -Eo '[0-9]+$')
check "compose: the upstream container received exactly one call (${calls:-none})" \
    eval '[ "${calls:-}" = 1 ]'

# ------------------------------------------------ the cluster profile ----
# `--profile cluster`: three cluster nodes, the one-shot container creating the
# cluster, normcache-cluster in REDIS_MODE=cluster on its own published port
# (podman-compose 1.0.3 has no --profile: the services by name).
CPORT=$(free_port) || die "a free loopback port"
export NORMCACHE_CLUSTER_HOST_PORT=$CPORT
PROFILE=(--profile cluster)
if [ "$ENGINE" = podman ]; then
    PROFILE=()
    cup=(up -d redis-c1 redis-c2 redis-c3 redis-cluster-init normcache-cluster)
else
    cup=(up -d)
fi
if "${COMPOSE[@]}" "${PROFILE[@]}" -p "$ID" "${cup[@]}" >>"$LOGS/compose.log" 2>&1; then
    ok "compose --profile cluster: the cluster services come up"
else
    notok "compose --profile cluster: the cluster services come up"
    tail -n 20 "$LOGS/compose.log" | sed 's/^/#   /'
fi
CBASE=http://127.0.0.1:$CPORT
cluster_ready() {   # /readyz: redis up, three nodes up (the cluster is created meanwhile)
    local i body
    for ((i = 0; i < 150; i++)); do
        body=$(curl -fsS -m 2 "$CBASE/readyz" 2>/dev/null)
        grep -Eq '"redis": *"up"' <<<"$body" && [ "$(grep -o '"up"' <<<"$body" | wc -l)" -ge 4 ] && return 0
        sleep 0.2
    done
    echo "#   /readyz: ${body:-no answer}"
    c=$(cname normcache-cluster); [ -n "$c" ] && $D logs "$c" 2>&1 | tail -n 10 | sed 's/^/#   /'
    return 1
}
cluster_ok() {   # the one-shot container created the cluster: cluster_state:ok
    local i
    for ((i = 0; i < 60; i++)); do
        state=$($D exec "$(cname redis-c1)" redis-cli cluster info 2>/dev/null | tr -d '\r' | grep '^cluster_state:')
        [ "$state" = cluster_state:ok ] && return 0
        sleep 1
    done
    c=$(cname redis-cluster-init); [ -n "$c" ] && $D logs "$c" 2>&1 | tail -n 10 | sed 's/^/#   /'
    return 1
}
check "compose --profile cluster: redis-cluster-init created the cluster" cluster_ok
if wait_http "$CBASE/healthz" 300 && cluster_ready; then
    ok "compose --profile cluster: normcache-cluster ready, /readyz lists three nodes up"
    check "compose --profile cluster: PUT then GET is a HIT through normcache-cluster" put_and_hit "$CBASE" dockerc
    for i in $(seq 30); do
        curl -sS -m 5 -o /dev/null -X PUT -H 'Content-Type: application/json' \
            --data "{\"q\":\"spread $i\",\"value\":$i}" "$CBASE/cache/dockerc"
    done
    per=""
    for s in redis-c1 redis-c2 redis-c3; do
        per="$per $($D exec "$(cname $s)" redis-cli --scan --pattern 'fca:dockerc:*' 2>/dev/null | grep -c .)"
    done
    total=$(awk '{ for (i = 1; i <= NF; i++) t += $i } END { print t + 0 }' <<<"$per")
    nz=$(awk '{ for (i = 1; i <= NF; i++) n += ($i > 0) } END { print n + 0 }' <<<"$per")
    check "compose --profile cluster: 31 entries over the three nodes, on more than one (per node:$per)" \
        eval '[ "$total" = 31 ] && [ "$nz" -ge 2 ]'
else
    notok "compose --profile cluster: normcache-cluster ready, /readyz lists three nodes up"
fi
note "cluster profile done"

if "${COMPOSE[@]}" "${PROFILE[@]}" -p "$ID" down >>"$LOGS/compose.log" 2>&1; then
    ok "compose: the stack comes down"
else
    notok "compose: the stack comes down"
fi
COMPOSE_UP=1   # cleanup still removes anything left over
note "compose done"

summary
[ "$fail" -eq 0 ]
