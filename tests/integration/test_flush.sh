#!/usr/bin/env bash
# test_flush.sh - DELETE /cache/<ns> flushes exactly that namespace with
# SCAN + UNLINK in batches: thousands of keys written behind the service's
# back, neighbours that share a prefix (faq2, fa, FAQ, other prefixes,
# other databases) untouched, KEY_PREFIX respected.
NC_DB=5
OTHER_DB=9 # one key of ours in another script's database, removed again
. "$(dirname "$0")/lib.sh"

# load_keys DB < "SET key value" lines: bulk load with redis-cli.
load_keys() { redis-cli -h 127.0.0.1 -p "$NC_TEST_REDIS_PORT" -n "$1" >/dev/null; }
count() { rcli -n "${2:-$NC_DB}" --scan --pattern "$1" | wc -l; }

"$NC_PY" - >"$NC_TMP/load" <<'EOF'
import hashlib
def h(s): return hashlib.sha256(s.encode()).hexdigest()[:16]
for i in range(2000):
    print("SETEX fca:faq:%s 600 v%d" % (h("q%d" % i), i))
for i in range(450):
    print("SET fca:faq:p:%s p%d" % (h("p%d" % i), i))
for i in range(50):
    print("HSET fca:faq:%s f %d" % (h("hash%d" % i), i))        # any type goes
for i in range(120):
    print("SET fca:faq2:%s x" % h("n%d" % i))
for i in range(30):
    print("SET fca:fa:%s x" % h("fa%d" % i))
    print("SET fca:FAQ:%s x" % h("FAQ%d" % i))
    print("SET other:faq:%s x" % h("o%d" % i))
    print("SET fcax:faq:%s x" % h("x%d" % i))
print("SET fca:faq x")        # the bare namespace name, no trailing colon
print("SET fca:faqx:1 x")
print("SET xfca:faq:1 x")
EOF
load_keys "$NC_DB" <"$NC_TMP/load"
OTHER_KEY=fca:faq:$(sha16 "otherdb $$")
rcli -n "$OTHER_DB" SET "$OTHER_KEY" x >/dev/null
TOTAL=$(rcli DBSIZE)
check_eq "test setup: 2500 keys under fca:faq:" 2500 "$(count 'fca:faq:*')"

start_service
req DELETE /cache/faq
check_status "DELETE /cache/faq (flush) answers 200" 200
check_match "the flush answers Content-Type application/json" '^application/json(;.*)?$' "$(hdr Content-Type)"
check_json_eq "the flush reports {\"deleted\": 2500}" '{"deleted": 2500}'
check_time "2500 keys are flushed in well under 5 s" 5
check_eq "no key is left under fca:faq:" 0 "$(count 'fca:faq:*')"
check_eq "fca:faq2:* is untouched (120 keys)" 120 "$(count 'fca:faq2:*')"
check_eq "fca:fa:* is untouched (30 keys)" 30 "$(count 'fca:fa:*')"
check_eq "fca:FAQ:* is untouched (namespaces are case-sensitive)" 30 "$(count 'fca:FAQ:*')"
check_eq "other:faq:* (another prefix) is untouched" 30 "$(count 'other:faq:*')"
check_eq "fcax:faq:* is untouched" 30 "$(count 'fcax:faq:*')"
check_eq "fca:faq, fca:faqx:1 and xfca:faq:1 are untouched" "1 1 1" \
    "$(rcli EXISTS fca:faq) $(rcli EXISTS fca:faqx:1) $(rcli EXISTS xfca:faq:1)"
check_eq "exactly 2500 keys were removed from the database" $((TOTAL - 2500)) "$(rcli DBSIZE)"
check_eq "the same namespace in another database is untouched" 1 "$(rcli -n "$OTHER_DB" EXISTS "$OTHER_KEY")"
rcli -n "$OTHER_DB" DEL "$OTHER_KEY" >/dev/null

req DELETE /cache/faq
check_json_eq "flushing an empty namespace reports {\"deleted\": 0}" '{"deleted": 0}'

req DELETE /cache/fa
check_json_eq "DELETE /cache/fa flushes only its 30 keys" '{"deleted": 30}'
check_eq "fca:faq2:* survives the flush of fa" 120 "$(count 'fca:faq2:*')"

# Entries written through the service go too, and are misses afterwards.
for i in 1 2 3 4 5; do put_q faq2 "question $i" "$i" 300; done
put_p faq2 '{"a":1}' 1 300
req DELETE /cache/faq2
check_json_eq "flushing faq2 reports its 120 + 6 keys" '{"deleted": 126}'
get_q faq2 "question 3"
check_status "an entry of a flushed namespace is a miss" 404
put_q faq2 "question 3" '"again"' 300
get_q faq2 "question 3"
check_status "the namespace works normally after a flush" 200

# KEY_PREFIX: a service with another prefix flushes only its own keys.
start_service KEY_PREFIX=other
put_q faq "prefixed" 1 300
req DELETE /cache/faq
check_json_eq "KEY_PREFIX=other: the flush deletes other:faq:* only (30 + 1)" '{"deleted": 31}'
check_eq "KEY_PREFIX=other: other:faq:* is empty" 0 "$(count 'other:faq:*')"
check_eq "KEY_PREFIX=other: fca:faq2:* is untouched" 1 "$(count 'fca:faq2:*')"
check_eq "KEY_PREFIX=other: fca:FAQ:* is untouched" 30 "$(count 'fca:FAQ:*')"

# A flush is a SCAN/UNLINK loop, never KEYS: watch the commands Redis runs.
start_service
"$NC_PY" - >"$NC_TMP/load2" <<'EOF'
for i in range(3000):
    print("SET fca:big:%05d x" % i)
EOF
load_keys "$NC_DB" <"$NC_TMP/load2"
redis-cli -h 127.0.0.1 -p "$NC_TEST_REDIS_PORT" MONITOR >"$NC_TMP/monitor" 2>/dev/null &
MON=$!
NC_PIDS+=("$MON")
sleep 0.3
req DELETE /cache/big
sleep 0.3
kill "$MON" 2>/dev/null
wait "$MON" 2>/dev/null
nc_forget_pid "$MON"
check_json_eq "a 3000-key flush reports {\"deleted\": 3000}" '{"deleted": 3000}'
# Only this script's database (other scripts may run at the same time).
grep -F "[$NC_DB " "$NC_TMP/monitor" >"$NC_TMP/mon5"
check "the flush uses SCAN with MATCH fca:big:*" grep -q '"SCAN".*"MATCH" "fca:big:\*"' "$NC_TMP/mon5"
check "the flush never uses KEYS" bash -c '! grep -qi "\"KEYS\"" "$1"' _ "$NC_TMP/mon5"
n_unlink=$(grep -ci '"UNLINK"' "$NC_TMP/mon5")
check "the flush deletes with UNLINK in several batches (saw $n_unlink UNLINK calls)" [ "$n_unlink" -ge 2 ]
check "the flush never uses DEL" bash -c '! grep -qi "\"DEL\"" "$1"' _ "$NC_TMP/mon5"
check_eq "no fca:big:* key is left" 0 "$(count 'fca:big:*')"
finish
