#!/usr/bin/env bash
# cluster_selftest.sh - checks tests/tools/cluster_lib.sh and sentinel_lib.sh
# on this machine, without the service: a 3+3 cluster (slots, owners, counts,
# a reshard, a hand-made slot migration with ASK, a master killed and its
# replica promoted) and a sentinel set-up (master killed, +switch-master).
# Not part of `make test` (the integration scripts use the same helpers);
# run it after changing either library: bash tests/tools/cluster_selftest.sh
set -u
. "$(dirname "$0")/../integration/lib.sh"
. "$NC_ROOT/tests/tools/cluster_lib.sh"
. "$NC_ROOT/tests/tools/sentinel_lib.sh"

if [ "${1:-}" != sentinel ]; then
    cluster_start 3 1 || {
        notok "cluster starts"
        finish
    }
    ok "cluster starts: $CL_URL"
    check_eq "6 nodes" 6 "$(cl_nodes | wc -l)"
    mapfile -t M < <(cl_masters)
    check_eq "3 masters" 3 "${#M[@]}"
    check_eq "each master has one replica" "1 1 1" "$(for m in "${M[@]}"; do cl_replicas_of "$m" | wc -l; done | tr '\n' ' ' | sed 's/ $//')"
    check_eq "slots add up to 16384" 16384 $(($(cl_slot_count "${M[0]}") + $(cl_slot_count "${M[1]}") + $(cl_slot_count "${M[2]}")))
    check_eq "CLUSTER KEYSLOT of a hash tag" "$(cl_slot foo)" "$(cl_slot 'bar{foo}baz')"
    for i in $(seq 300); do
        k="st:{$i}"
        cl_cli "$(cl_key_owner "$k")" set "$k" "v$i" >/dev/null
    done
    check_eq "300 keys over the masters" 300 "$(cl_total 'st:*')"
    diag "per master: $(cl_counts 'st:*')"
    o=$(cl_key_owner 'st:{7}')
    check_eq "key owner holds the key" "v7" "$(cl_cli "$o" get 'st:{7}')"
    t0=$(now_ms)
    check "reshard 1000 slots" cl_reshard "${M[0]}" "${M[1]}" 1000
    diag "reshard took $(($(now_ms) - t0)) ms"
    cl_wait_ok 10
    check_eq "still 300 keys after the reshard" 300 "$(cl_total 'st:*')"
    # Hand-made migration: ASK for a moved key while the slot migrates.
    k='st:{7}'
    s=$(cl_slot "$k")
    from=$(cl_slot_owner "$s")
    to=${M[2]}
    [ "$from" = "$to" ] && to=${M[0]}
    check "slot $s migrating $from -> $to" cl_migrate_begin "$s" "$from" "$to"
    check "its keys moved" cl_migrate_keys "$s" "$from" "$to"
    check_match "the old owner answers ASK" "^ASK $s 127.0.0.1:$to" "$(cl_cli "$from" get "$k")"
    check_eq "ASKING then GET on the new owner" "OK v7" "$(printf 'ASKING\nGET %s\n' "$k" | cl_cli "$to" | tr '\n' ' ' | sed 's/ $//')"
    check "migration ends" cl_migrate_end "$s" "$from" "$to"
    cl_wait_ok 10
    check_eq "the slot's owner is the new node" "$to" "$(cl_slot_owner "$s")"
    # A master killed: its replica is promoted.
    victim=$(cl_key_owner "$k")
    cl_kill "$victim"
    if cl_wait_promotion "$victim" 15; then
        ok "replica $CL_PROMOTED_PORT promoted $((CL_PROMOTED_MS - CL_KILLED_MS)) ms after the kill"
    else
        notok "replica promoted"
    fi
    check "cluster ok again" cl_wait_ok 10
    check_eq "the promoted replica holds the key" v7 "$(cl_cli "$CL_PROMOTED_PORT" get "$k")"
fi

if [ "${1:-}" != cluster ]; then
    sentinel_start || {
        notok "sentinel set-up starts"
        finish
    }
    ok "sentinel set-up starts: master $SN_MASTER_PORT, replica $SN_REPLICA_PORT, sentinels $SN_URL"
    check_eq "sentinels name the master" "127.0.0.1 $SN_MASTER_PORT" "$(sn_master_addr)"
    rcli_at "$SN_MASTER_PORT" set sk v1 >/dev/null
    rcli_at "$SN_MASTER_PORT" wait 1 1000 >/dev/null
    sn_watch_switch || notok "switch watcher subscribes"
    sn_kill_master
    if sn_wait_switch 20; then
        ok "+switch-master $((SN_SWITCH_MS - SN_KILLED_MS)) ms after the kill, to $SN_NEW_MASTER_PORT"
    else
        notok "+switch-master seen"
    fi
    check_eq "sentinels name the replica" "127.0.0.1 $SN_REPLICA_PORT" "$(sn_master_addr)"
    check_eq "the new master has the data" v1 "$(rcli_at "$SN_REPLICA_PORT" get sk)"
    check_eq "the new master takes writes" OK "$(rcli_at "$SN_REPLICA_PORT" set sk v2)"
fi
finish
