#!/usr/bin/env python3
"""near_probe.py - how fast a write reaches another instance's near cache.

    near_probe.py puts A_PORT B_PORT N [BOUND_MS]
        N times: read the entry through A until A answers it from its near
        cache (Cache-Status ... detail=near), PUT a new value through B,
        then read through A until it answers the new value. Prints the time
        from B's acknowledgement to A's first answer with the new value.
    near_probe.py outside A_PORT REDIS_PORT N [BOUND_MS]
        the same with the writes made by a plain Redis client from outside
        (SET, DEL, PEXPIRE 50, FLUSHALL in turn; the key from X-Cache-Key);
        the answer awaited: the new value, a 404, a 404, a 404.

Output: key=value lines (max_ms, p50_ms, p99_ms, stale_reads: answers of
the old value after the acknowledgement, near_before: rounds in which A held
the old value near before the write, over_bound: rounds slower than
BOUND_MS (default 10), errors). Exit 0 unless something
could not be measured at all.
"""
import http.client
import json
import socket
import sys
import time

NS = "nearprobe"
Q = "near probe key"


class Http:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)

    def req(self, method, path, body=None):
        h = {"Content-Type": "application/json"} if body is not None else {}
        self.c.request(method, path, body=body, headers=h)
        r = self.c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()


class Redis:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.f = self.s.makefile("rb")

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t in (b"+", b"-", b":"):
            return rest
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self.f.read(n + 2)[:-2]
        if t == b"*":
            return [self.read() for _ in range(int(rest))]
        raise RuntimeError("bad reply")


PATH = "/cache/%s?q=%s" % (NS, Q.replace(" ", "+"))


def put(h, value):
    st, _, _ = h.req("PUT", "/cache/" + NS, json.dumps({"q": Q, "value": value, "ttl": 600}))
    return st == 200


def warm(a):
    """Reads through A until it answers from its near cache; True if so."""
    for _ in range(50):
        st, hd, _ = a.req("GET", PATH)
        if st == 200 and "detail=near" in hd.get("cache-status", ""):
            return True
    return False


def wait_for(a, want_status, want_body, t0, deadline_s=2.0):
    """Reads through A until it answers (want_status, want_body); returns
    (ms since t0, stale answers) or (None, stale)."""
    stale = 0
    while True:
        st, _, body = a.req("GET", PATH)
        if st == want_status and (want_body is None or body == want_body):
            return (time.perf_counter() - t0) * 1000.0, stale
        stale += 1
        if time.perf_counter() - t0 > deadline_s:
            return None, stale


def report(lat, stale, near_before, errors, bound):
    lat.sort()
    n = len(lat)
    print("rounds=%d" % n)
    if n:
        print("max_ms=%.3f" % lat[-1])
        print("p50_ms=%.3f" % lat[n // 2])
        print("p99_ms=%.3f" % lat[min(n - 1, int(n * 0.99))])
    print("over_bound=%d" % sum(1 for x in lat if x > bound))
    print("stale_reads=%d" % stale)
    print("near_before=%d" % near_before)
    print("errors=%d" % errors)


def main():
    mode, a_port, other, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    bound = float(sys.argv[5]) if len(sys.argv) > 5 else 10.0
    a = Http(a_port)
    lat, stale_total, near_before, errors = [], 0, 0, 0
    kinds = [[], [], [], []]
    if mode == "puts":
        b = Http(other)
        put(b, {"round": -1})
        for i in range(n):
            near_before += warm(a)
            if not put(b, {"round": i}):
                errors += 1
                continue
            t0 = time.perf_counter()
            ms, stale = wait_for(a, 200, json.dumps({"round": i}, separators=(",", ":")).encode(), t0)
            stale_total += stale
            if ms is None:
                errors += 1
            else:
                lat.append(ms)
    else:
        r = Redis(other)
        b = Http(a_port)
        for i in range(n):
            put(b, {"outside": i})
            _, hd, _ = b.req("GET", PATH)
            key = hd.get("x-cache-key", "")
            near_before += warm(a)
            kind = i % 4
            new = json.dumps({"outside": i, "by": "redis-cli"}, separators=(",", ":")).encode()
            if kind == 0:
                r.cmd("SET", key, new, "EX", "600")
            elif kind == 1:
                r.cmd("DEL", key)
            elif kind == 2:
                r.cmd("PEXPIRE", key, "50")
            else:
                r.cmd("FLUSHALL")
            t0 = time.perf_counter()
            if kind == 0:
                ms, stale = wait_for(a, 200, new, t0)
            else:
                ms, stale = wait_for(a, 404, None, t0)
            # PEXPIRE: the key lives 50 ms more and A may read it again from
            # Redis meanwhile; what counts is how long after those 50 ms A
            # still answered it.
            stale_total += stale if kind != 2 else 0
            if ms is None:
                errors += 1
            else:
                ms = max(0.0, ms - 50.0) if kind == 2 else ms
                lat.append(ms)
                kinds[kind].append(ms)
    report(lat, stale_total, near_before, errors, bound)
    if mode != "puts":
        for name, k in zip(("set", "del", "pexpire", "flushall"), kinds):
            print("max_ms_%s=%.3f" % (name, max(k) if k else -1))


if __name__ == "__main__":
    main()
