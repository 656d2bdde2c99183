#!/usr/bin/env python3
"""netfuzz.py - a mutational HTTP fuzzer for a running normcache.

Takes a valid request of every route (GET/PUT/DELETE /cache, flush,
/products/recommendations, /healthz, /readyz, /metrics), mutates it (bit
flips, truncation, inserted CR/LF/NUL/%/quotes/backslashes, huge runs,
duplicated headers, bad Content-Length and chunk sizes, odd methods and
versions, pipelined pairs), and sends it over loopback, each on its own
connection, from several threads, bounded by --requests and --seconds.

Then checks, printing one TAP-like line each ("ok - ..." / "not ok - ..."):
  - enough requests were sent (at least --min-requests);
  - the service still answers GET /healthz with 200;
  - the process (--pid) is alive;
  - every line of its stderr log (--log) parses as JSON (json.loads) and is
    an object.
Exit status 0 only when every check passed. A fixed --seed replays a run.

    netfuzz.py --port 8080 --pid 1234 --log svc.log [--token T] [--requests 25000]
"""
import argparse
import json
import os
import random
import socket
import sys
import threading
import time
import urllib.parse

# --------------------------------------------------------------- seeds


def seeds(token, ns):
    """Valid requests of every route, as raw bytes."""
    auth = b"Authorization: Bearer " + token.encode() + b"\r\n" if token else b""
    host = b"Host: 127.0.0.1\r\n"

    def get(path, extra=b""):
        return b"GET " + path + b" HTTP/1.1\r\n" + host + auth + extra + b"\r\n"

    def body_req(method, path, body, ctype=b"application/json", extra=b""):
        return (method + b" " + path + b" HTTP/1.1\r\n" + host + auth + b"Content-Type: " + ctype
                + b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n" + extra + b"\r\n"
                + body)

    def chunked(path, body):
        half = len(body) // 2
        chunks = b""
        for part in (body[:half], body[half:]):
            chunks += b"%x\r\n" % len(part) + part + b"\r\n"
        return (b"PUT " + path + b" HTTP/1.1\r\n" + host + auth
                + b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                + chunks + b"0\r\n\r\n")

    c = b"/cache/" + ns.encode()
    params = urllib.parse.quote('{"sku":"A1","currency":"EUR","n":[1,2.5,null]}').encode()
    put_q = json.dumps({"q": "How do I open an account?", "value": {"answer": "Tap Sign up."},
                        "ttl": 600}).encode()
    put_p = json.dumps({"params": {"user": 7, "page": 2, "tags": ["x", "\u00e9"]},
                        "value": [1, "two", {"three": 3.0}]}).encode()
    return [
        get(c + b"?q=how+do+i+open+an+account"),
        get(c + b"?q=%C2%BFHow%20do%20I%20open%20an%20account%3F",
            b'If-None-Match: "abc"\r\n'),
        get(c + b"?params=" + params),
        body_req(b"PUT", c, put_q),
        body_req(b"PUT", c, put_p, extra=b"Expect: 100-continue\r\n"),
        chunked(c, put_q),
        b"DELETE " + c + b"?q=how+do+i+open+an+account HTTP/1.1\r\n" + host + auth + b"\r\n",
        b"DELETE " + c + b"?params=" + params + b" HTTP/1.1\r\n" + host + auth + b"\r\n",
        b"DELETE " + c + b" HTTP/1.1\r\n" + host + auth + b"\r\n",
        get(c + b"?q=lease+me", b"Cache-Lease: acquire\r\n"),
        body_req(b"PUT", c, put_q, extra=b"Cache-Lease: AAAAAAAAAAAAAAAAAAAAAA\r\n"),
        b"DELETE " + c + b"?q=lease+me HTTP/1.1\r\n" + host + auth
        + b"Cache-Lease: AAAAAAAAAAAAAAAAAAAAAA\r\n\r\n",
        get(c + b"?q=x&ctx=" + urllib.parse.quote('{"model":"m","v":2}').encode()),
        body_req(b"PUT", c, json.dumps({"q": "tagged", "value": 1, "tags": ["a:1", "b.2"],
                                        "ctx": {"locale": "de"}}).encode()),
        b"DELETE " + c + b"?tag=a:1 HTTP/1.1\r\n" + host + auth + b"\r\n",
        body_req(b"POST", c + b"/_mget", json.dumps(
            {"items": [{"q": "How do I open an account?"}, {"params": {"a": 1}, "ctx": {"b": 2}}]}
        ).encode()),
        body_req(b"POST", c + b"/_mset", json.dumps(
            {"items": [{"q": "batch", "value": [1], "ttl": 60, "tags": ["t"]}]}).encode()),
        get(b"/products/recommendations?query=Red+Shoes&limit=3"),
        get(b"/products/recommendations?query=red%20shoes&limit=50",
            b"Cache-Control: no-cache\r\n"),
        get(b"/products/recommendations?query=shoes", b"Cache-Control: only-if-cached\r\n"),
        get(b"/healthz"),
        get(b"/readyz"),
        get(b"/metrics"),
        b"HEAD /healthz HTTP/1.1\r\n" + host + b"\r\n",
        b"GET /healthz HTTP/1.0\r\n\r\n",
    ]


# ----------------------------------------------------------- mutations

INSERTS = [b"\r", b"\n", b"\r\n", b"\x00", b"%", b"%00", b"%zz", b'"', b"'", b"\\", b"\\u0000",
           b"\xff", b"\xc3", b"\xed\xa0\x80", b"\x1b[31m", b" ", b"\t", b"?", b"&", b"=", b"#",
           b"{", b"}", b"[", b"]", b":", b",", b"*", b"..", b"/", b"\r\n\r\n", b"\u2028"]
HEADERS = [b"Content-Length: 5", b"Content-Length: -1", b"Content-Length: 99999999999999999999",
           b"Content-Length: abc", b"Content-Length: 0", b"Content-Length: 1, 2",
           b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked",
           b"Transfer-Encoding: identity", b"Content-Type: text/plain",
           b"Content-Type: application/json; charset=utf-8", b"Authorization: Bearer wrong",
           b"Authorization: Basic Zm9vOmJhcg==", b"Authorization: Bearer ", b"Expect: 100-continue",
           b"Expect: nonsense", b"If-None-Match: *", b"Cache-Control: only-if-cached, no-cache",
           b"Connection: close", b"Connection: keep-alive", b"Host:", b"X-" + b"a" * 9000 + b": 1",
           b" folded: header", b"NoColon", b": empty-name"]
METHODS = [b"GET", b"PUT", b"DELETE", b"POST", b"HEAD", b"OPTIONS", b"PATCH", b"TRACE",
           b"CONNECT", b"get", b"G\"ET", b"GE\\T", b"M\x01", b"\xffGET", b"GET\x00", b"X" * 300,
           b"{\"m\":1}", b"PUT\"injected\":\"x"]


def split_head(req):
    i = req.find(b"\r\n\r\n")
    if i < 0:
        return req, b""
    return req[:i + 2], req[i + 4:]


def m_bitflip(r, rng):
    if not r:
        return r
    b = bytearray(r)
    for _ in range(rng.randint(1, 8)):
        i = rng.randrange(len(b))
        b[i] ^= 1 << rng.randrange(8)
    return bytes(b)


def m_byte(r, rng):
    if not r:
        return r
    i = rng.randrange(len(r))
    return r[:i] + bytes([rng.randrange(256)]) + r[i + 1:]


def m_truncate(r, rng):
    return r[:rng.randrange(len(r) + 1)]


def m_delete(r, rng):
    if len(r) < 2:
        return r
    i = rng.randrange(len(r))
    return r[:i] + r[i + rng.randint(1, min(64, len(r) - i)):]


def m_insert(r, rng):
    i = rng.randrange(len(r) + 1)
    return r[:i] + rng.choice(INSERTS) * rng.choice([1, 1, 2, 3, 16]) + r[i:]


def m_insert_target(r, rng):
    """Something nasty inside the request target (path or query)."""
    sp = r.find(b" ")
    sp2 = r.find(b" ", sp + 1)
    if sp < 0 or sp2 < 0:
        return m_insert(r, rng)
    i = rng.randint(sp + 1, sp2)
    return r[:i] + rng.choice(INSERTS + [b"%2F", b"%3A", b"+", b"%C3%28", b"%ED%A0%80"]) + r[i:]


def m_run(r, rng):
    """A huge run of one byte somewhere."""
    i = rng.randrange(len(r) + 1)
    n = rng.choice([1000, 8192, 65536, 200000, 1100000])
    return r[:i] + rng.choice([b"a", b"%", b"%41", b"\r", b" ", b"[", b"{\"a\":", b"\x00"]) * (
        n // 4 if n > 100000 else n) + r[i:]


def m_dup_header(r, rng):
    head, body = split_head(r)
    lines = head.split(b"\r\n")
    if len(lines) < 3:
        return r
    k = rng.randrange(1, len(lines) - 1)
    lines.insert(k, lines[k])
    return b"\r\n".join(lines) + b"\r\n" + body


def m_add_header(r, rng):
    head, body = split_head(r)
    return head + rng.choice(HEADERS) + b"\r\n\r\n" + body


def m_content_length(r, rng):
    head, body = split_head(r)
    lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"content-length")]
    v = rng.choice([b"-1", b"0", b"1", str(len(body) + rng.randint(1, 50)).encode(),
                    str(max(0, len(body) - rng.randint(1, 10))).encode(), b"18446744073709551616",
                    b"0x10", b" 12", b"1e3", b"", str(2 << 20).encode()])
    lines.insert(1, b"Content-Length: " + v)
    return b"\r\n".join(lines).rstrip(b"\r\n") + b"\r\n\r\n" + body


def m_chunks(r, rng):
    head, body = split_head(r)
    lines = [ln for ln in head.split(b"\r\n")
             if ln and not ln.lower().startswith((b"content-length", b"transfer-encoding"))]
    size = rng.choice([b"%x" % len(body), b"-1", b"ffffffffffffffff", b"zz", b"1;ext=\"x\"",
                       b"%x" % (len(body) + 5), b"0", b""])
    tail = rng.choice([b"\r\n0\r\n\r\n", b"\r\n", b"0\r\nTrailer: x\r\n\r\n", b""])
    return (b"\r\n".join(lines) + b"\r\nTransfer-Encoding: chunked\r\n\r\n" + size + b"\r\n"
            + body + tail)


def m_method(r, rng):
    sp = r.find(b" ")
    if sp < 0:
        return r
    return rng.choice(METHODS) + r[sp:]


def m_version(r, rng):
    return r.replace(b"HTTP/1.1", rng.choice([b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1x", b"HTTP/",
                                               b"", b"HTTP/1.1 extra", b"http/1.1"]), 1)


def m_line_ends(r, rng):
    return r.replace(b"\r\n", rng.choice([b"\n", b"\r", b"\r\r\n", b"\n\r"]))


MUTATORS = [m_bitflip, m_byte, m_truncate, m_delete, m_insert, m_insert_target, m_insert_target,
            m_run, m_dup_header, m_add_header, m_content_length, m_chunks, m_method, m_method,
            m_version, m_line_ends]


def mutate(base, all_seeds, rng):
    r = base
    for _ in range(rng.choice([1, 1, 1, 2, 3, 5])):
        r = rng.choice(MUTATORS)(r, rng)
    if rng.random() < 0.05:  # pipelined: a second (maybe valid) request behind it
        r += rng.choice(all_seeds)
    return r


# -------------------------------------------------------------- sending


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.sent = 0
        self.answered = 0
        self.refused = 0
        self.status = {}

    def add(self, answered, status, refused=False):
        with self.lock:
            self.sent += 1
            self.answered += answered
            self.refused += refused
            if status:
                self.status[status] = self.status.get(status, 0) + 1


def send_one(port, data, rng, timeout):
    """Sends data on a fresh connection; returns the status code read (or
    None). Half of the requests half-close the connection after sending so
    that the server sees the end at once."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(("127.0.0.1", port))
        if rng.random() < 0.2 and len(data) > 10:  # slow writer: in pieces
            cut = rng.randrange(1, len(data))
            s.sendall(data[:cut])
            time.sleep(0.002)
            s.sendall(data[cut:])
        else:
            s.sendall(data)
        if rng.random() < 0.5:
            s.shutdown(socket.SHUT_WR)
        got = b""
        while len(got) < 12 or b"\r\n\r\n" not in got:
            chunk = s.recv(65536)
            if not chunk:
                break
            got += chunk
            if len(got) > 1 << 20:
                break
        if got.startswith(b"HTTP/") and len(got) >= 12:
            return got[9:12].decode("latin-1")
        return None
    except (socket.timeout, ConnectionError, OSError):
        return None
    finally:
        s.close()


def worker(args, all_seeds, deadline, stats, seed, counter):
    rng = random.Random(seed)
    while time.monotonic() < deadline:
        with counter["lock"]:
            if counter["left"] <= 0:
                return
            counter["left"] -= 1
        base = rng.choice(all_seeds)
        data = base if rng.random() < 0.03 else mutate(base, all_seeds, rng)
        st = send_one(args.port, data, rng, args.timeout)
        stats.add(st is not None, st)


# --------------------------------------------------------------- checks


def healthz(port):
    for _ in range(3):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", port))
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            got = b""
            while True:
                c = s.recv(4096)
                if not c:
                    break
                got += c
            if got.startswith(b"HTTP/1.1 200"):
                return True
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.5)
    return False


def check_log(path):
    """(lines, bad lines as (number, reason, shown text))."""
    bad = []
    n = 0
    with open(path, "rb") as f:
        for n, raw in enumerate(f, 1):
            line = raw.rstrip(b"\n")
            try:
                doc = json.loads(line.decode("utf-8"))
                if not isinstance(doc, dict):
                    bad.append((n, "not an object", line))
            except (UnicodeDecodeError, ValueError) as e:
                bad.append((n, e.__class__.__name__, line))
    return n, bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--pid", type=int, help="the service's process id (checked alive)")
    ap.add_argument("--log", help="the service's stderr log (every line must be JSON)")
    ap.add_argument("--token", default="", help="a bearer token of AUTH_TOKENS")
    ap.add_argument("--ns", default="fuzz")
    ap.add_argument("--requests", type=int, default=25000)
    ap.add_argument("--min-requests", type=int, default=20000)
    ap.add_argument("--seconds", type=float, default=240)
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=0.5, help="per-request read timeout (s)")
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()

    seed = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "big")
    print("# netfuzz: seed %d, up to %d requests in %gs, %d threads"
          % (seed, args.requests, args.seconds, args.threads))
    all_seeds = seeds(args.token, args.ns)
    stats = Stats()
    counter = {"lock": threading.Lock(), "left": args.requests}
    t0 = time.monotonic()
    deadline = t0 + args.seconds
    threads = [threading.Thread(target=worker,
                                args=(args, all_seeds, deadline, stats, seed * 1000 + i, counter))
               for i in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    codes = " ".join("%s:%d" % kv for kv in sorted(stats.status.items()))
    print("# sent %d requests in %.1fs (%.0f/s), %d answered; statuses %s"
          % (stats.sent, dt, stats.sent / dt if dt else 0, stats.answered, codes))

    failed = 0

    def result(ok, name, *diag):
        nonlocal failed
        print(("ok - " if ok else "not ok - ") + name)
        if not ok:
            failed += 1
            for d in diag:
                print("#   " + d)

    result(stats.sent >= args.min_requests, "at least %d mutated requests sent" % args.min_requests,
           "sent %d (raise --seconds?)" % stats.sent)
    result(healthz(args.port), "the service still answers GET /healthz with 200")
    if args.pid:
        alive = True
        try:
            os.kill(args.pid, 0)
        except OSError:
            alive = False
        result(alive, "the service process is alive")
    if args.log:
        n, bad = check_log(args.log)
        shown = ["line %d: %s: %r" % (b[0], b[1], b[2][:200]) for b in bad[:5]]
        result(not bad and n > 0, "every line of the service log is a JSON object (%d lines)" % n,
               "%d lines are not" % len(bad), *shown)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
