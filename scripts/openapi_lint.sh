#!/usr/bin/env bash
# openapi_lint.sh - lints docs/openapi.yaml with Redocly CLI (`make openapi-lint`).
# Redocly CLI comes from the npm registry, pinned, into a cache outside the
# clone (NC_NPM_CACHE; default /var/cache/normcache-npm as root, else
# ~/.cache/normcache-npm), installed only when the pinned version is not there
# yet. An install that fails (registry unreachable) is an error, never a skip.
# The lint must be clean: an error or a warning fails.
set -euo pipefail
cd "$(dirname "$0")/.."
REDOCLY_VERSION=2.77.0 # needs Node >= 20.19 (Debian 12 CI: Node 20)
if [ "$(id -u)" = 0 ]; then
    cache=${NC_NPM_CACHE:-/var/cache/normcache-npm}
else
    cache=${NC_NPM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/normcache-npm}
fi
bin=$cache/node_modules/.bin/redocly
pkg=$cache/node_modules/@redocly/cli/package.json
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true NO_UPDATE_NOTIFIER=1

command -v npm >/dev/null || { echo "openapi-lint: npm (and node) are needed" >&2; exit 1; }
if ! [ -x "$bin" ] || ! grep -q "\"version\": \"$REDOCLY_VERSION\"" "$pkg" 2>/dev/null; then
    echo "openapi-lint: installing @redocly/cli@$REDOCLY_VERSION into $cache" >&2
    mkdir -p "$cache"
    if ! npm install --no-save --no-audit --no-fund --prefix "$cache" \
        "@redocly/cli@$REDOCLY_VERSION" >&2; then
        echo "openapi-lint: FAILED to install @redocly/cli@$REDOCLY_VERSION from the npm registry" >&2
        exit 1
    fi
fi
out=$("$bin" lint --config docs/redocly.yaml --format=stylish docs/openapi.yaml 2>&1) && rc=0 || rc=$?
# Drop the runtime's boxed notices (e.g. Node 20's end of life); keep the rest.
printf '%s\n' "$out" | grep -v '[║╔╚]'
if [ "$rc" != 0 ] || printf '%s\n' "$out" | grep -qE '(warning|error) '; then
    echo "openapi-lint: docs/openapi.yaml is not clean (exit $rc)" >&2
    exit 1
fi
echo "openapi-lint: docs/openapi.yaml is clean (@redocly/cli $REDOCLY_VERSION)"
