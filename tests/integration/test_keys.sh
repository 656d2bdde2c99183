#!/usr/bin/env bash
# test_keys.sh - normalisation and key derivation seen over HTTP: text-mode
# variants that share one entry, basic mode byte-compatible with the Python
# reference (vectors in tests/data/, values written by the reference served as they
# are), per-namespace modes, params keys (canonical JSON, int vs float,
# 2^53), HMAC keys with KEY_HASH_SECRET, KEY_PREFIX, raw text never in keys.
NC_DB=2
. "$(dirname "$0")/lib.sh"

# The Python-computed vectors live in the repository: a fresh clone needs
# nothing outside it.
VECTORS=$NC_ROOT/tests/data

# sweep NS KIND FILE: GETs /cache/NS?KIND=<input> for every line of FILE (a
# JSON object with "input" and "expect": "<status> <X-Cache-Key>") over one
# keep-alive connection, and prints the lines that differ.
sweep() {
    local ns=$1 kind=$2 file=$3
    "$NC_PY" - "$SVC_PORT" "$ns" "$kind" "$file" "$NC_TMP/sweep.cfg" <<'EOF'
import json, sys, urllib.parse
port, ns, kind, src, cfg = sys.argv[1:6]
with open(src, encoding="utf-8") as f, open(cfg, "w") as out:
    for line in f:
        case = json.loads(line)
        enc = urllib.parse.quote(case["input"].encode("utf-8"), safe="")
        out.write('url = "http://127.0.0.1:%s/cache/%s?%s=%s"\noutput = "/dev/null"\n' % (port, ns, kind, enc))
EOF
    curl -s -g -K "$NC_TMP/sweep.cfg" -w '%{http_code} %header{x-cache-key}\n' >"$NC_TMP/sweep.out" 2>&1
    "$NC_PY" - "$file" "$NC_TMP/sweep.out" <<'EOF'
import json, sys
cases = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8")]
got = open(sys.argv[2], encoding="utf-8", errors="replace").read().split("\n")
bad = 0
for i, c in enumerate(cases):
    g = got[i].strip() if i < len(got) else "<no response>"
    if g != c["expect"]:
        bad += 1
        if bad <= 8:
            print("input %s: expected %r, got %r" % (json.dumps(c["input"]), c["expect"], g))
if bad > 8:
    print("... %d mismatches in all, of %d" % (bad, len(cases)))
EOF
}

# ================================================================ text mode
start_service

Q="How do I open an account?"
put_q faq "$Q" '{"a":"open"}' 300
K=$(jget key)
check_eq "text mode key is prefix:ns:sha256(normalised)[:16] (Python computed)" \
    "$(ref_text_key fca faq "$Q")" "$K"
check_eq "text mode normalises \"$Q\" to \"how do i open an account\"" \
    "fca:faq:$(sha16 "how do i open an account")" "$K"

# Non-ASCII whitespace as bytes, whatever the locale.
IDEO=$(printf '\xe3\x80\x80')
NBSP=$(printf '\xc2\xa0')
NEL=$(printf '\xc2\x85')
for v in "how do i open an account" "  HOW  do I open an ACCOUNT ?! " "¿How do I open an account?" \
    "ＨＯＷ do i open an account" $'how\tdo\ni open\r\nan account' "how do i open an account…" \
    "${IDEO}how do${NEL}i open an account$NBSP" "«how do i open an account»"; do
    get_q faq "$v"
    if [ "$STATUS" = 200 ] && [ "$(hdr X-Cache-Key)" = "$K" ] && [ "$BODY" = '{"a":"open"}' ]; then
        ok "text mode: \"$(printf '%s' "$v" | tr '\t\r\n' '   ')\" hits the same entry"
    else
        notok "text mode: \"$(printf '%s' "$v" | tr '\t\r\n' '   ')\" hits the same entry"
        diag "expected 200 with X-Cache-Key $K, got $STATUS $(hdr X-Cache-Key)"
    fi
done
get_q faq "how do i close an account"
check_status "text mode: a different question is a miss" 404
check_ne "text mode: a different question has a different key" "$K" "$(hdr X-Cache-Key)"
get_q faq "how do i open an account today"
check_ne "text mode: an extra word changes the key" "$K" "$(hdr X-Cache-Key)"

put_q faq "Straße" '"de"' 300
SK=$(jget key)
check_eq "text mode: Straße keys as casefolded \"strasse\"" "fca:faq:$(sha16 strasse)" "$SK"
get_q faq "STRASSE"
check_status "text mode: \"STRASSE\" hits the entry stored as \"Straße\"" 200
check_hdr "text mode: \"STRASSE\" and \"Straße\" share one key" X-Cache-Key "$SK"
get_q faq "ﬁle ①"
check_hdr "text mode: NFKC folds compatibility characters (ﬁle ① = file 1)" X-Cache-Key \
    "fca:faq:$(sha16 "file 1")"
get_q faq "don't stop"
k1=$(hdr X-Cache-Key)
get_q faq "dont stop"
check_ne "text mode: punctuation inside the text is kept" "$k1" "$(hdr X-Cache-Key)"
check_eq "text mode: inner punctuation key matches the reference" "$(ref_text_key fca faq "don't stop")" "$k1"
get_q faq "c++"
check_eq "text mode: symbols (not P*) are not trimmed (c++)" "fca:faq:$(sha16 "c++")" "$(hdr X-Cache-Key)"

for e in "?!" " ¿? " "" "   " "..."; do
    get_q faq "$e"
    expect_problem "text mode: q \"$e\" normalises to nothing: 400" 400 empty_query
done

# ======================================================= basic mode (Python)
start_service NORMALISE=basic

put_q faq "$Q" '{"a":"basic"}' 300
BK=$(jget key)
check_eq "basic mode key equals the Python reference key" "$(ref_basic_key fca faq "$Q")" "$BK"
check_eq "basic mode keeps punctuation (\"?\" is part of the text)" "fca:faq:9e130e2d85456537" "$BK"
get_q faq "  how DO i open   an account?"
check_status "basic mode: case and whitespace variants hit" 200
get_q faq "how do i open an account"
check_ne "basic mode: without \"?\" is another key" "$BK" "$(hdr X-Cache-Key)"

for v in "İstanbul" "ΣΟΣ" "σος Σ" "ß STRASSE" "ẞ capital" $'\x1cfs\x1dgs\x1f' "${NEL}nel" "${IDEO}ideographic space" "ＦＵＬＬ"; do
    get_q faq "$v"
    check_eq "basic mode: key of \"${v//[[:cntrl:]]/?}\" equals Python's" "$(ref_basic_key fca faq "$v")" "$(hdr X-Cache-Key)"
done

if [ -f "$VECTORS/normalise-basic.jsonl" ]; then
    "$NC_PY" - "$VECTORS/normalise-basic.jsonl" >"$NC_TMP/vec.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    c = json.loads(line)
    exp = "400" if c["normalised"] == "" else "404 fca:vec:" + c["digest16"]
    print(json.dumps({"input": c["input"], "expect": exp}))
EOF
    n=$(wc -l <"$NC_TMP/vec.jsonl")
    why=$(sweep vec q "$NC_TMP/vec.jsonl")
    if [ -z "$why" ]; then
        ok "basic mode: keys of all $n vectors equal the Python reference"
    else
        notok "basic mode: keys of all $n vectors equal the Python reference"
        diag "$why"
    fi
else
    notok "vectors found at $VECTORS/normalise-basic.jsonl"
fi

# A value the Python reference wrote (plain SETEX of a JSON string) is
# served as it is.
REFKEY=$(ref_basic_key fca faq "Where is my card?")
rcli SETEX "$REFKEY" 300 '{"answer": "In the post", "eta_days": 3}' >/dev/null
get_q faq "where IS my card?"
check_status "basic mode: a value written by the reference with SETEX is a hit" 200
check_body "basic mode: the reference's value is served byte for byte" '{"answer": "In the post", "eta_days": 3}'
check_hdr "basic mode: the hit has X-Cache: HIT" X-Cache HIT
REFKEY=$(ref_basic_key fca faq "plain string value")
rcli SETEX "$REFKEY" 300 '"just text"' >/dev/null
get_q faq "Plain String Value"
check_body "basic mode: a JSON string value written by the reference is served" '"just text"'

# ======================================== per-namespace normalisation mode
start_service CACHE_NS_NORMALISE=legacy=basic
get_q legacy "$Q"
check_eq "CACHE_NS_NORMALISE=legacy=basic: legacy uses basic keys" "$(ref_basic_key fca legacy "$Q")" "$(hdr X-Cache-Key)"
get_q faq "$Q"
check_eq "CACHE_NS_NORMALISE=legacy=basic: other namespaces stay text" "$(ref_text_key fca faq "$Q")" "$(hdr X-Cache-Key)"
start_service NORMALISE=basic CACHE_NS_NORMALISE=modern=text
get_q modern "$Q"
check_eq "NORMALISE=basic CACHE_NS_NORMALISE=modern=text: modern uses text keys" "$(ref_text_key fca modern "$Q")" "$(hdr X-Cache-Key)"
get_q faq "$Q"
check_eq "NORMALISE=basic CACHE_NS_NORMALISE=modern=text: faq uses basic keys" "$(ref_basic_key fca faq "$Q")" "$(hdr X-Cache-Key)"

# ============================================================== params keys
start_service
P1='{"b": 2, "a": 1}'
get_p recs "$P1"
PK=$(hdr X-Cache-Key)
check_eq "params key is prefix:ns:p:sha256(json.dumps(sort_keys=True))[:16]" \
    "$(ref_params_key fca recs "$P1")" "$PK"
check_eq "params key of {\"b\": 2, \"a\": 1} (literal)" "fca:recs:p:d8497d9d82770a70" "$PK"
for v in '{"a":1,"b":2}' '{ "a" : 1 , "b" : 2 }' '{"b":2,"a":1}'; do
    get_p recs "$v"
    check_eq "params $v share one key (order and spacing free)" "$PK" "$(hdr X-Cache-Key)"
done
put_p recs '{"user": 42, "page": 1, "tags": ["x", "y"]}' '{"items":[1,2]}' 300
PUTK=$(jget key)
check_eq "PUT params key equals the reference" "$(ref_params_key fca recs '{"user": 42, "page": 1, "tags": ["x", "y"]}')" "$PUTK"
get_p recs '{"tags":["x","y"],"page":1,"user":42}'
check_status "GET params in another order hits the PUT entry" 200
check_body "GET params hit returns the value" '{"items":[1,2]}'
get_p recs '{"tags":["y","x"],"page":1,"user":42}'
check_status "array order matters in params" 404

get_p recs '{"a":1}'
ki=$(hdr X-Cache-Key)
get_p recs '{"a":1.0}'
kf=$(hdr X-Cache-Key)
check_ne "params {\"a\":1} and {\"a\":1.0} are different keys" "$ki" "$kf"
check_eq "params {\"a\":1} key equals Python's" "$(ref_params_key fca recs '{"a":1}')" "$ki"
check_eq "params {\"a\":1.0} key equals Python's" "$(ref_params_key fca recs '{"a":1.0}')" "$kf"
get_p recs '{"a":0.1}'
check_status "params {\"a\":0.1} is accepted (404 miss)" 404
check_eq "params {\"a\":0.1} keys as Python's repr" "$(ref_params_key fca recs '{"a":0.1}')" "$(hdr X-Cache-Key)"
get_p recs '{"a":9007199254740992}'
check_status "params integer 2^53 is accepted" 404
check_eq "params integer 2^53 keys as Python" "$(ref_params_key fca recs '{"a":9007199254740992}')" "$(hdr X-Cache-Key)"
get_p recs '{"a":-9007199254740992}'
check_status "params integer -2^53 is accepted" 404
for bad in '{"a":9007199254740993}' '{"a":-9007199254740993}' '{"a":[1,{"b":123456789012345678901234567890}]}' \
    '{"a":1e400}' '{"a":-1e400}'; do
    get_p recs "$bad"
    expect_problem "params $bad is a 400 (not exactly representable)" 400 invalid_number
    check_eq "params $bad derives no key" "" "$(hdr X-Cache-Key)"
done
put_p recs '{"a":9007199254740993}' '1'
expect_problem "PUT params with 2^53+1 is a 400" 400 invalid_number
for v in '{"é":"ü","z":[true,null],"A":-0.0}' '{"x":1e+20,"y":2E0,"w":20E-1}' '{"s":"\u00e9\ud83d\ude00\n"}'; do
    get_p recs "$v"
    check_eq "params $v keys as Python's json.dumps" "$(ref_params_key fca recs "$v")" "$(hdr X-Cache-Key)"
done
get_q recs '{"a":1}'
check_ne "a q that looks like params is not a params key" "$(ref_params_key fca recs '{"a":1}')" "$(hdr X-Cache-Key)"

if [ -f "$VECTORS/params-canonical.jsonl" ]; then
    "$NC_PY" - "$VECTORS/params-canonical.jsonl" >"$NC_TMP/pvec.jsonl" <<'EOF'
import json, sys
for line in open(sys.argv[1], encoding="utf-8"):
    c = json.loads(line)
    print(json.dumps({"input": c["request_json"], "expect": "404 fca:pvec:p:" + c["digest16"]}))
EOF
    n=$(wc -l <"$NC_TMP/pvec.jsonl")
    why=$(sweep pvec params "$NC_TMP/pvec.jsonl")
    if [ -z "$why" ]; then
        ok "params keys of all $n vectors equal the Python reference"
    else
        notok "params keys of all $n vectors equal the Python reference"
        diag "$why"
    fi
else
    notok "vectors found at $VECTORS/params-canonical.jsonl"
fi

# ================================================================ HMAC keys
SECRET='s3cr3t-Key_for/tests'
start_service "KEY_HASH_SECRET=$SECRET"
put_q faq "$Q" '1' 60
HK=$(jget key)
check_eq "KEY_HASH_SECRET: q key is HMAC-SHA256(secret, normalised)[:16]" \
    "fca:faq:$(sha16 "how do i open an account" "$SECRET")" "$HK"
check_ne "KEY_HASH_SECRET: the key differs from the plain SHA-256 key" "fca:faq:$(sha16 "how do i open an account")" "$HK"
get_q faq "HOW DO I OPEN AN ACCOUNT"
check_status "KEY_HASH_SECRET: normalised variants still hit" 200
get_p recs "$P1"
check_eq "KEY_HASH_SECRET: params key is HMAC of the canonical text" \
    "$(ref_params_key fca recs "$P1" "$SECRET")" "$(hdr X-Cache-Key)"
get_q acct "12345678"
check_eq "KEY_HASH_SECRET: an account number keys as its HMAC" "fca:acct:$(sha16 12345678 "$SECRET")" "$(hdr X-Cache-Key)"
start_service "KEY_HASH_SECRET=$SECRET" NORMALISE=basic
get_q faq "$Q"
check_eq "KEY_HASH_SECRET + basic: HMAC of Python's normalisation" \
    "$(ref_basic_key fca faq "$Q" "$SECRET")" "$(hdr X-Cache-Key)"
start_service "KEY_HASH_SECRET=another-secret"
get_q faq "$Q"
check_ne "another KEY_HASH_SECRET gives another key" "$HK" "$(hdr X-Cache-Key)"

# =============================================================== KEY_PREFIX
start_service KEY_PREFIX=my-App_2
put_q faq "$Q" '"prefixed"' 60
check_eq "KEY_PREFIX becomes the first key segment" "my-App_2:faq:$(sha16 "how do i open an account")" "$(jget key)"
check_eq "the value is stored under the prefixed key" '"prefixed"' "$(rcli GET "my-App_2:faq:$(sha16 "how do i open an account")")"
get_p recs "$P1"
check_eq "KEY_PREFIX applies to params keys" "my-App_2:recs:p:d8497d9d82770a70" "$(hdr X-Cache-Key)"

# ===================================================== raw text not in keys
start_service
put_q faq "my account number is $NC_MARKER" '1' 60
check_status "PUT with a private query stores" 200
get_p recs "{\"account\": \"$NC_MARKER\"}"
check_eq "the raw query text never appears in a Redis key" "" "$(rcli --scan | grep -i "$NC_MARKER\|account")"
finish
