#!/bin/sh
# Like the official image: `redis-server` or bare options run the server with
# protected mode off (it is reached from other containers, without a password).
set -e
case "${1:-}" in
    -*) set -- redis-server "$@" ;;
esac
if [ "${1:-}" = redis-server ]; then
    shift
    exec redis-server --protected-mode no "$@"
fi
exec "$@"
