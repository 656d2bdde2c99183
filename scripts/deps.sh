#!/usr/bin/env bash
# deps.sh - install the Debian 12 packages normcache needs to build, test, run
# and benchmark (the sanitizer runtimes, GCC's, are for make asan / make tsan;
# build-essential brings them already). Idempotent and quiet when everything
# is there.
#   scripts/deps.sh          install what is missing
#   scripts/deps.sh --check  exit 1 (printing the names) if anything is missing
#   scripts/deps.sh --fuzz   also clang and its libFuzzer runtime (`make fuzz`)
set -euo pipefail

PKGS=(build-essential pkg-config curl ca-certificates
      libmicrohttpd-dev libhiredis-dev libutf8proc-dev
      libcurl4-openssl-dev libssl-dev libcmocka-dev
      redis-server redis-tools wrk prometheus python3 procps
      libasan8 libubsan1 libtsan2 liblsan0 python3-jsonschema python3-yaml)

check=""
for a in "$@"; do
    case $a in
    --check) check=1 ;;
    --fuzz) PKGS+=(clang libclang-rt-14-dev) ;;
    *) echo "usage: scripts/deps.sh [--check] [--fuzz]" >&2; exit 2 ;;
    esac
done

missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done

if [ -n "$check" ]; then
    [ ${#missing[@]} -eq 0 ] && exit 0
    echo "missing: ${missing[*]}"
    exit 1
fi
[ ${#missing[@]} -eq 0 ] && exit 0

SUDO=""
if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null || { echo "deps: need root or sudo to install: ${missing[*]}" >&2; exit 1; }
    SUDO=sudo
fi
echo "deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >&2
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
