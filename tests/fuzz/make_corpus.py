#!/usr/bin/env python3
"""make_corpus.py - writes the seed corpora tests/fuzz/corpus/<target>/ from
the test vectors (tests/data) and the inputs the unit and integration tests
use. Run it again after changing the lists; files are named by the SHA-1 of
their content (as libFuzzer names its own), so re-running is idempotent.
Files added by hand (regression inputs of fixed findings) are kept."""
import hashlib
import json
import os

ROOT = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(ROOT, "..", "data")


def put(target, items):
    d = os.path.join(ROOT, "corpus", target)
    os.makedirs(d, exist_ok=True)
    for it in items:
        b = it if isinstance(it, bytes) else it.encode("utf-8")
        with open(os.path.join(d, hashlib.sha1(b).hexdigest()), "wb") as f:
            f.write(b)


def jsonl(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


norm = [r["input"] for r in jsonl("normalise-basic.jsonl")]
# every 10th vector plus the hand-picked edge cases: a few dozen files
texts = norm[::10] + [
    "  HOW  do I open an ACCOUNT ?! ", "\u00bfHow do I open an account?",
    "\uff28\uff2f\uff37 do i open an account", "Stra\u00dfe", "STRASSE", "\u0130stanbul",
    "\u039f\u0394\u039f\u03a3 \u03a3", "a\u0085b\u00a0c\u3000d", "!!!", "",
]
put("fuzz_normalise", texts)
put("fuzz_jsonstr", texts[:20] + [b"\xff\xfe bad utf8", b"\xed\xa0\x80", b"a\x00b", b"\x7f\x1f\""])

params = [r["request_json"] for r in jsonl("params-canonical.jsonl")] + [
    '{"a":1}', '{"user": 7, "page": 2}', '{"a":9007199254740993}', '{"a":1e400}',
    '{"a":2,"b":2.0,"c":-0.0,"d":1E-7,"e":123456789012345678}', '{"x":[[[[{"y":null}]]]]}',
    '{"a":"\\ud83d\\ude00","\\u00e9":true}', '{"a":1,"a":1}', '[1,2]', '"s"', '{}',
]
put("fuzz_params", params)

bodies = [
    '{"q":"How do I open an account?","value":{"answer":"Tap Sign up."},"ttl":600}',
    '{"value":1}', '{"q":"x","params":{"a":1},"value":1}', '{"q":"has null value","value":null}',
    '{"q":1,"value":1}', '{"params":[1,2],"value":1}', '{"params":"{\\"a\\":1}","value":1}',
    '{"q":"dup escaped","value":{"a":1,"\\u0061":2}}', '{"params":{"a":1,"a":1},"value":1}',
    '{"q":"nul in value","value":"a\\u0000b"}', '{"params":{"user":42,"tags":["x","y"]},"value":[1]}',
    '{"q":"t","value":{"k":"\\u007f\\t\\n\\"\\\\ \xc3\xa9"},"ttl":60.0}',
    '{"q":"deep","value":' + "[" * 32 + "]" * 32 + "}", ' { "q" : "ws" , "value" : true } ',
]
put("fuzz_body", bodies)

put("fuzz_query", [
    "/cache/faq?q=x", "/x?q=How+do%20I%3F&params=%7B%22a%22%3A1%7D&empty=&flag", "/x?q=a%00b",
    "/x?q=%zz", "/x?q=%4", "/x?q%=1", "/x?q=1&q=2", "/x?q=1&%71=2", "/x?a%00b=1",
    "/x?" + "&".join("%c=%d" % (chr(97 + i), i) for i in range(17)), "/x?&&q=1&", "/x?",
    "/products/recommendations?query=Red+Shoes&limit=3", "/cache/prices?params=%7B%22sku%22%3A%22A1%22%7D",
    "/healthz", "/cache/faq?q=%C3%A9cole+%E2%80%8B", "/cache/a?b?c=d=e",
])

put("fuzz_config", [bytes([sel]) + v.encode() for sel, v in [
    (0, "8080"), (0, "0"), (0, "65536"), (0, "-1"), (0, " 1"), (0, "99999999999999999999"),
    (1, "0.5"), (1, "1e308"), (1, "nan"), (2, "true"), (2, "no"), (3, "basic"), (4, "warn"),
    (5, "127.0.0.1"), (5, "::1"), (5, "[::1]"), (6, "fca"), (6, "a:b"),
    (7, "http://127.0.0.1:8081"), (7, "https://x/"), (7, "ftp://x"),
    (7, "https:///"),  # finding: an UPSTREAM_URL without a host was accepted
    (8, "redis://127.0.0.1:6379/0"), (8, "redis://user:hunter2pw@127.0.0.1:99999/0"),
    (8, "redis://:p%40ss@[::1]:6380/15"), (8, "redis://127.0.0.1:6379/abc"), (8, "redis://"),
    (8, "redis://u%00@h"), (8, "redis://:pw@h1:7000,[::1]:7001,h3/0"), (8, "redis://a,,b"), (8, "http://x"), (9, "faq=60,legacy=3600"), (9, "a=1,a=2"), (9, ",,"),
    (10, "legacy=basic,faq=text"), (11, "tok1,tok2"), (11, "a b"), (12, "two"),
]])

up = [
    '{"query":"red shoes","items":[{"sku":"A1","score":0.9},{"sku":"B2","score":0.5}]}',
    '[]', '{"items":[]}', "[" * 999 + "]" * 999, "[" * 1001 + "]" * 1001, '{"a":"\\ud800"}',
    '{"a":1} trailing', '{"n":-0.0e+00}', b"\xef\xbb\xbf{}", "null",
]
put("fuzz_upstream", up)
put("fuzz_entry", [
    "NC1 1700000000000 1700000300000 150 200\n" + up[0], "NC1 1 2 3 404\n", "NC1 1 2 3 404\nbody",
    "NC1 -5 -6 0 200\n{}", "NC1 1 2 3 500\n{}", "NC1 1 2 3 200", "NC1 1 2 3 200 \n{}",
    "NC1 9223372036854775807 1 1 200\n[]", "NC1 9223372036854775808 1 1 200\n[]",
    "NC1 0001 02 3 200\nx", "NC2 1 2 3 200\n{}", '{"legacy":"plain SETEX value"}',
    "NC1 " + "1" * 130 + " 2 3 200\n{}",
])

put("fuzz_slot", [b"\x00" + x.encode() for x in [
    "MOVED 3999 127.0.0.1:6381", "ASK 3999 127.0.0.1:6381", "MOVED 16383 ::1:7001",
    "ASK 5 [fe80::1]:7002", "MOVED 7 :6380", "MOVED 16384 h:1", "MOVED 3999 h:",
    "CLUSTERDOWN The cluster is down", "{user1000}.following", "foo{{bar}}zap",
]] + [b"\x01" + x.encode() for x in [
    "*3\r\n*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:7000\r\n$2\r\nid\r\n"
    "*3\r\n$9\r\n127.0.0.1\r\n:7003\r\n$2\r\nr1\r\n"
    "*3\r\n:5461\r\n:10922\r\n*3\r\n$0\r\n\r\n:7001\r\n$2\r\nid\r\n"
    "*3\r\n:10923\r\n:16383\r\n*4\r\n$3\r\n::1\r\n:7002\r\n$2\r\nid\r\n*0\r\n",
    "*2\r\n*3\r\n:0\r\n:9\r\n*2\r\n$1\r\n?\r\n:1\r\n*3\r\n:10\r\n:19\r\n*2\r\n$1\r\nb\r\n:2\r\n",
    "*0\r\n", "-ERR This instance has cluster support disabled\r\n",
    "*1\r\n*3\r\n:9\r\n:0\r\n*2\r\n$1\r\na\r\n:1\r\n",
]])
