#!/usr/bin/env bash
# test_compose_config.sh - docker-compose.yml and the Dockerfile, without
# containers: the compose file parses (with docker compose / docker-compose
# when installed, else python3's yaml, else a small structural check), has the
# services and settings the README promises, and every environment variable it
# (or the Dockerfile) sets is one the binary's --help documents.
# Prints "ok - ..." / "not ok - ..."; exits non-zero when anything failed.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 2
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
FILE=docker-compose.yml
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fails=0
ok() { echo "ok - compose config: $*"; }
notok() { fails=$((fails + 1)); echo "not ok - compose config: $*"; }

[ -f "$FILE" ] || { notok "$FILE exists"; exit 1; }

# --------------------------------------------------------------- parsing ----
# 1. A real compose implementation, when one is installed (schema-checked).
# NC_COMPOSE_PARSER=awk forces the small parser (to test it).
FORCE=${NC_COMPOSE_PARSER:-}
parsed_by=""
if [ -z "$FORCE" ] && docker compose version >/dev/null 2>&1; then
    if docker compose -f "$FILE" config -q >"$TMP/cfg.err" 2>&1; then parsed_by="docker compose"
    else notok "$FILE is valid for docker compose"; tail -n 5 "$TMP/cfg.err" | sed 's/^/#   /'; fi
fi
if [ -z "$FORCE" ] && [ -z "$parsed_by" ] && command -v docker-compose >/dev/null 2>&1 \
    && docker-compose version >/dev/null 2>&1; then
    if docker-compose -f "$FILE" config -q >"$TMP/cfg.err" 2>&1; then parsed_by="docker-compose"
    else notok "$FILE is valid for docker-compose"; tail -n 5 "$TMP/cfg.err" | sed 's/^/#   /'; fi
fi

# 2. The facts checked below, as "service key value" lines: from python3's
# yaml when some python3 has it, else from a small parser of the block style
# this file uses (mappings, "- item" lists, one-line ["a", "b"] lists).
PY=""
[ -n "$FORCE" ] || for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import yaml' >/dev/null 2>&1; then PY=$p; break; fi
done
if [ -n "$PY" ]; then
    "$PY" - "$FILE" >"$TMP/facts" 2>"$TMP/facts.err" <<'EOF'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
assert isinstance(doc, dict) and isinstance(doc.get("services"), dict), "no services mapping"
for name, svc in doc["services"].items():
    print(name, "service", "-")
    for k in ("image", "build"):
        if k in svc: print(name, k, svc[k] if isinstance(svc[k], str) else "-")
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) if "=" in e else (e, "") for e in env)
    for k, v in env.items(): print(name, "env", k)
    for p in svc.get("profiles") or []: print(name, "profile", p)
    cmd = svc.get("command") or []
    if isinstance(cmd, str): cmd = cmd.split()
    for c in cmd: print(name, "command", " ".join(c.split()) if c != "" else "''")
    hc = (svc.get("healthcheck") or {}).get("test") or []
    if isinstance(hc, str): hc = hc.split()
    for c in hc: print(name, "healthcheck", c)
    dep = svc.get("depends_on") or {}
    if isinstance(dep, list): dep = {d: {} for d in dep}
    for d, v in dep.items(): print(name, "depends_on", d, (v or {}).get("condition", "-"))
    for p in svc.get("ports") or []: print(name, "port", p)
EOF
    rc=$?
    [ -z "$parsed_by" ] && [ $rc = 0 ] && parsed_by="python3 yaml"
    [ $rc = 0 ] || { notok "$FILE parses as YAML"; tail -n 3 "$TMP/facts.err" | sed 's/^/#   /'; }
else
    # No YAML library: a small parser, strict about what it doesn't know.
    awk '
    function strip(s) { sub(/^[ ]+/, "", s); sub(/[ ]+$/, "", s); sub(/[ ]+#.*$/, "", s)
                        if (s ~ /^".*"$/ || s ~ /^\047.*\047$/) s = substr(s, 2, length(s) - 2); return s }
    function flow(svc, key, s,   n, a, i) {   # ["a", "b", ""] on one line
        s = strip(s); if (s !~ /^\[.*\]$/) { print svc, key, s; return }
        s = substr(s, 2, length(s) - 2); n = split(s, a, /,[ ]*/)
        for (i = 1; i <= n; i++) { v = strip(a[i]); print svc, key, (v == "" ? "\047\047" : v) }
    }
    /^[ ]*(#|$)/ { next }
    /\t/ { print "ERROR tab at line " NR; bad = 1; next }
    {
        match($0, /^ */); ind = RLENGTH; line = substr($0, ind + 1)
        if (cont != "") {                       # a flow list continued on the next line
            buf = buf " " strip(line); if (buf ~ /\]$/) { flow(csvc, cont, buf); cont = "" } ; next
        }
        if (ind == 0) { top = line; sub(/:.*/, "", top); svc = ""; next }
        if (top != "services") next
        if (ind == 2) { if (line !~ /^[A-Za-z0-9_.-]+:[ ]*$/) { print "ERROR line " NR; bad = 1 }
                        svc = line; sub(/:.*/, "", svc); print svc, "service", "-"; sect = ""; next }
        if (ind == 4) {
            key = line; sub(/:.*/, "", key); val = line; sub(/^[^:]*:[ ]*/, "", val); sect = key
            if (key == "image" || key == "build") print svc, key, strip(val)
            else if (key == "profiles") flow(svc, "profile", val)
            else if ((key == "command") && val != "") {
                if (strip(val) ~ /^\[/ && strip(val) !~ /\]$/) { cont = key; csvc = svc; buf = strip(val) }
                else flow(svc, key, val) }
            next
        }
        if (ind == 6 && sect == "environment") {
            if (line ~ /^- /) { v = substr(line, 3); sub(/=.*/, "", v); print svc, "env", strip(v) }
            else { k = line; sub(/:.*/, "", k); print svc, "env", k }
        } else if (ind == 6 && sect == "ports" && line ~ /^- /) print svc, "port", strip(substr(line, 3))
        else if (ind == 6 && sect == "depends_on") {
            if (line ~ /^- /) print svc, "depends_on", strip(substr(line, 3)), "-"
            else { d = line; sub(/:.*/, "", d); dep = d; print svc, "depends_on_pending", d }
        } else if (ind == 8 && sect == "depends_on" && line ~ /^condition:/) {
            c = line; sub(/^condition:[ ]*/, "", c); print svc, "depends_on", dep, strip(c)
        } else if (ind == 6 && sect == "healthcheck" && line ~ /^test:/) {
            v = line; sub(/^test:[ ]*/, "", v); flow(svc, "healthcheck", v)
        }
    }
    END { if (bad) exit 1 }' "$FILE" >"$TMP/facts.raw" 2>&1
    rc=$?
    # a dependency listed without a condition line keeps "-"
    awk '$2 == "depends_on_pending" { p[$1" "$3] = 1; next }
         $2 == "depends_on" { delete p[$1" "$3] } { print }
         END { for (k in p) { split(k, a, " "); print a[1], "depends_on", a[2], "-" } }' \
        "$TMP/facts.raw" | grep -v '^ERROR' >"$TMP/facts"
    if [ $rc = 0 ] && grep -q ' service ' "$TMP/facts"; then
        [ -z "$parsed_by" ] && parsed_by="a structural check (no compose tool or python3 yaml here)"
    else
        notok "$FILE parses"; grep '^ERROR' "$TMP/facts.raw" | sed 's/^/#   /'
    fi
fi
[ -n "$parsed_by" ] && ok "$FILE parses ($parsed_by)"
[ -s "$TMP/facts" ] || exit 1   # nothing to check further

has() { grep -qxF -- "$*" "$TMP/facts"; }
vals() { awk -v s="$1" -v k="$2" '$1 == s && $2 == k { print $3 }' "$TMP/facts"; }

# --------------------------------------------------------------- content ----
missing=""
for s in redis upstream normcache; do has "$s service -" || missing="$missing $s"; done
[ -z "$missing" ] && ok "services redis, upstream and normcache" || notok "services missing:$missing"

cmd=" $(vals redis command | tr '\n' ' ')"
if has "redis image redis:7" && [[ $cmd == *" --maxmemory "[0-9]* ]] \
    && [[ $cmd =~ --maxmemory-policy\ (allkeys|volatile)-lru ]]; then
    ok "redis is the redis:7 image run as a cache (maxmemory, LRU eviction)"
else
    notok "redis is the redis:7 image run as a cache (image $(vals redis image), command$cmd)"
fi
hc=" $(vals redis healthcheck | tr '\n' ' ')"
[[ $hc == *" redis-cli ping "* ]] && ok "redis healthcheck is redis-cli ping" \
    || notok "redis healthcheck is redis-cli ping (got$hc)"

img=$(vals normcache image)
if [ -n "$img" ] && [ "$(vals upstream image)" = "$img" ] && [ -n "$(vals normcache build)" ] \
    && [[ " $(vals upstream command | tr '\n' ' ')" == *" upstream-stub "* ]]; then
    ok "upstream runs upstream-stub from the image normcache is built as ($img)"
else
    notok "upstream runs upstream-stub from the image normcache is built as"
fi
has "normcache depends_on redis service_healthy" && ok "normcache waits for redis to be healthy" \
    || notok "normcache waits for redis to be healthy (depends_on redis condition: service_healthy)"
# host port: 8080, or ${VAR:-8080} (a default that can be overridden)
port=$(vals normcache port | sed -E 's/\$\{[A-Za-z_][A-Za-z0-9_]*:-([0-9]+)\}/\1/g')
[[ $port =~ (^|:)8080:8080(/tcp)?$ ]] && ok "normcache publishes port 8080 ($port)" \
    || notok "normcache publishes port 8080 (got: $(vals normcache port))"

# The settings the README's stack relies on, by name (values are in the file).
for v in BIND_ADDR REDIS_URL UPSTREAM_URL; do
    has "normcache env $v" || notok "normcache sets $v"
done
grep -Eq '^ +BIND_ADDR: *"?0\.0\.0\.0' "$FILE" && grep -Eq '^ +REDIS_URL: *"?redis://redis:6379' "$FILE" \
    && grep -Eq '^ +UPSTREAM_URL: *"?http://upstream:8081' "$FILE" && grep -Eq '^ +STUB_BIND_ADDR: *"?0\.0\.0\.0' "$FILE" \
    && ok "services reach each other by service name and listen on 0.0.0.0" \
    || notok "services reach each other by service name and listen on 0.0.0.0"

# ------------------------------------------ the optional cluster profile ----
# `docker compose --profile cluster up`: three or more redis:7 nodes with
# --cluster-enabled yes, a one-shot container running `redis-cli --cluster
# create`, and normcache-cluster in REDIS_MODE=cluster listing the nodes as
# seeds. The default stack has no profile (plain `up` starts it unchanged).
inprof=$(awk '$2 == "profile" && $3 == "cluster" { print $1 }' "$TMP/facts" | sort -u | tr '\n' ' ')
defprof=$(awk '($1 == "redis" || $1 == "upstream" || $1 == "normcache") && $2 == "profile"' "$TMP/facts")
[ -z "$defprof" ] && ok "redis, upstream and normcache belong to no profile" \
    || notok "redis, upstream and normcache belong to no profile (got: $(echo $defprof))"
nodes=""
for s in $inprof; do
    has "$s image redis:7" && [[ " $(vals "$s" command | tr '\n' ' ')" =~ " --cluster-enabled yes " ]] && nodes="$nodes $s"
done
nn=$(wc -w <<<"$nodes")
[ "$nn" -ge 3 ] && [ "$nn" -le 6 ] && ok "cluster profile: $nn redis:7 nodes with --cluster-enabled yes ($(echo $nodes))" \
    || notok "cluster profile: 3 to 6 redis:7 nodes with --cluster-enabled yes (got $nn: $(echo $nodes))"
# (the small parser skips block-style commands: the file itself names it)
init=$(awk '$2 == "command" && /redis-cli --cluster create/ { print $1; exit }' "$TMP/facts")
[ -z "$init" ] && init=$(awk '/^  [A-Za-z0-9_.-]+:/ { s = $1; sub(/:$/, "", s) }
    $0 !~ /^ *#/ && index($0, "redis-cli --cluster create") { print s; exit }' "$FILE")
if [ -n "$init" ] && [[ " $inprof " == *" $init "* ]]; then
    ok "cluster profile: $init creates the cluster (redis-cli --cluster create)"
else
    notok "cluster profile: a one-shot service creates the cluster (redis-cli --cluster create)"
fi
if [[ " $inprof " == *" normcache-cluster "* ]] && grep -Eq '^ +REDIS_MODE: *"?cluster"?$' "$FILE"; then
    ok "cluster profile: normcache-cluster runs in REDIS_MODE=cluster"
else
    notok "cluster profile: normcache-cluster runs in REDIS_MODE=cluster"
fi
url=$(grep -E '^ +REDIS_URL: *"?redis://[^/]*,' "$FILE" | head -n 1)
missing=""
for s in $nodes; do [[ $url == *"$s:6379"* ]] || missing="$missing $s"; done
[ -n "$url" ] && [ -z "$missing" ] && ok "cluster profile: REDIS_URL lists every node as a seed" \
    || notok "cluster profile: REDIS_URL lists every node as a seed (missing:$missing)"
[ -n "$init" ] && grep -q "^normcache-cluster depends_on $init " "$TMP/facts" \
    && ok "cluster profile: normcache-cluster starts after $init" \
    || notok "cluster profile: normcache-cluster starts after the cluster is created"
port=$(vals normcache-cluster port | sed -E 's/\$\{[A-Za-z_][A-Za-z0-9_]*:-([0-9]+)\}/\1/g')
[[ $port =~ ^127\.0\.0\.1:[0-9]+:8080$ ]] && [ "${port#127.0.0.1:}" != 8080:8080 ] \
    && ok "cluster profile: normcache-cluster on its own loopback port ($port)" \
    || notok "cluster profile: normcache-cluster on its own loopback port (got: $port)"

# ------------------------------------------- variables the binaries know ----
# Every variable set for a service (and by the Dockerfile's ENV) must be one
# that service's binary documents in --help: a misspelt name would be ignored.
documented() {   # $1 binary, then names; prints the undocumented ones
    local bin=$1; shift
    local help n
    help=$(timeout 10 "$bin" --help 2>&1) || return 2
    for n in "$@"; do grep -Eq "(^|[^A-Z0-9_])$n([^A-Z0-9_]|\$)" <<<"$help" || echo "$n"; done
}
dockerfile_env() {   # ENV names of the runtime stage
    awk '/^FROM /{n = 0; env = ""} /^ENV /{ for (i = 2; i <= NF; i++) { s = $i; sub(/=.*/, "", s);
         if (s != "\\") env = env " " s } } END { print env }' Dockerfile 2>/dev/null
}
df_env=$(dockerfile_env)
pairs=("normcache:$BUILD/normcache" "upstream:$BUILD/upstream-stub")
has "normcache-cluster service -" && pairs+=("normcache-cluster:$BUILD/normcache")
for pair in "${pairs[@]}"; do
    svc=${pair%%:*} bin=${pair#*:}
    names=$(vals "$svc" env | tr '\n' ' ')
    if [ "$svc" != upstream ]; then
        for n in $df_env; do [[ $n == STUB_* ]] || names="$names $n"; done
    else
        for n in $df_env; do [[ $n == STUB_* ]] && names="$names $n"; done
    fi
    names=$(tr ' ' '\n' <<<"$names" | sort -u | tr '\n' ' ')
    if [ ! -x "$bin" ]; then
        notok "$svc variables documented by $(basename "$bin") --help (no $bin: run make)"
        continue
    fi
    undoc=$(documented "$bin" $names)
    rc=$?
    if [ $rc = 2 ]; then
        notok "$svc variables documented by $(basename "$bin") --help (--help failed)"
    elif [ -n "$undoc" ]; then
        notok "$svc variables documented by $(basename "$bin") --help (not documented: $(echo $undoc))"
    else
        ok "$svc variables documented by $(basename "$bin") --help ($(echo $names))"
    fi
done

[ "$fails" = 0 ]
