#!/usr/bin/env python3
"""cluster_load.py - entries and load for the cluster / sentinel integration
tests (tests/integration/test_cluster_*.sh, test_sentinel.sh).

Entry i of a namespace is the query "entry <i> <tag>" whose value encodes it:
{"i": i, "q": "entry <i> <tag>"}. A read that answers another entry's value
is a wrong answer.

  cluster_load.py fill URL NS N [--tag T] [--keys FILE] [--ttl S]
      POST /cache/NS/_mset in batches of 100; prints stored=, not_stored=,
      status_<code>= lines; --keys writes "i key" per entry.
  cluster_load.py check URL NS N [--tag T]
      POST /cache/NS/_mget in batches of 100; prints hit=, miss=, wrong=,
      bad_status=.
  cluster_load.py run URL[,URL...] NS N [--tag T] [--threads K] [--put-every P]
                  [--until FILE] [--seconds S] [--log FILE] [--only I,J,...]
      K threads (default 4), each on its own keep-alive connection to one of
      the URLs (round robin), GET a random entry (of --only, when given), every
      P-th request (0: never) a PUT of it instead, until FILE exists or S
      seconds (default 60) pass. --log: one line per request
      "start_ms end_ms method status x_cache verdict i" (verdict: hit miss
      bypass wrong stored not_stored 5xx error other). Prints requests=,
      gets=, puts=, and one line per verdict.
  cluster_load.py after LOG T_MS [WINDOW_MS]
      Over a run's log and a moment T (a promotion, a +switch-master):
      gets_total, s5xx_total, error_total, wrong_total; gets_after (GETs
      started at or after T), last_nonhit_ms (start of the last GET that was
      not a hit, minus T; -1 when none started at or after T),
      last_nonhit_end_ms (its end minus T), nonhit_after_window (non-hits
      started at or after T + WINDOW_MS, default 2000), gets_after_window.
"""
import http.client
import json
import os
import random
import sys
import threading
import time
import urllib.parse


def query(i, tag):
    return "entry %d %s" % (i, tag)


def value(i, tag):
    return {"i": i, "q": query(i, tag)}


def conn_for(url):
    u = urllib.parse.urlsplit(url)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=10)


def post(conn, path, doc):
    body = json.dumps(doc).encode()
    conn.request("POST", path, body, {"Content-Type": "application/json"})
    r = conn.getresponse()
    return r.status, r.read()


def opts(argv, names):
    out, rest, k = {}, [], 0
    while k < len(argv):
        if argv[k] in names:
            out[argv[k]] = argv[k + 1]
            k += 2
        else:
            rest.append(argv[k])
            k += 1
    return out, rest


def fill(argv):
    o, (url, ns, n) = opts(argv, ("--tag", "--keys", "--ttl"))
    n, tag, ttl = int(n), o.get("--tag", "x"), int(o.get("--ttl", "3600"))
    conn = conn_for(url)
    counts, keys = {}, []
    for lo in range(0, n, 100):
        items = [{"q": query(i, tag), "value": value(i, tag), "ttl": ttl}
                 for i in range(lo, min(n, lo + 100))]
        st, body = post(conn, "/cache/%s/_mset" % ns, {"items": items})
        counts["status_%d" % st] = counts.get("status_%d" % st, 0) + 1
        res = json.loads(body).get("results", []) if st == 200 else []
        for j, r in enumerate(res):
            ok = r.get("stored") is True
            counts["stored" if ok else "not_stored"] = counts.get("stored" if ok else "not_stored", 0) + 1
            keys.append((lo + j, r.get("key", "")))
    if "--keys" in o:
        with open(o["--keys"], "w") as f:
            for i, k in keys:
                f.write("%d %s\n" % (i, k))
    counts.setdefault("stored", 0)
    counts.setdefault("not_stored", 0)
    for k in sorted(counts):
        print("%s=%d" % (k, counts[k]))


def check(argv):
    o, (url, ns, n) = opts(argv, ("--tag",))
    n, tag = int(n), o.get("--tag", "x")
    conn = conn_for(url)
    c = {"hit": 0, "miss": 0, "wrong": 0, "bad_status": 0}
    for lo in range(0, n, 100):
        idx = list(range(lo, min(n, lo + 100)))
        st, body = post(conn, "/cache/%s/_mget" % ns, {"items": [{"q": query(i, tag)} for i in idx]})
        if st != 200:
            c["bad_status"] += len(idx)
            continue
        for i, r in zip(idx, json.loads(body)["results"]):
            if not r.get("hit"):
                c["miss"] += 1
            elif r.get("value") == value(i, tag):
                c["hit"] += 1
            else:
                c["wrong"] += 1
    for k in sorted(c):
        print("%s=%d" % (k, c[k]))


def run(argv):
    o, (urls, ns, n) = opts(argv, ("--tag", "--threads", "--put-every", "--until", "--seconds",
                                   "--log", "--only"))
    urls, n, tag = urls.split(","), int(n), o.get("--tag", "x")
    threads, put_every = int(o.get("--threads", "4")), int(o.get("--put-every", "0"))
    until, secs = o.get("--until"), float(o.get("--seconds", "60"))
    only = [int(x) for x in o["--only"].split(",")] if "--only" in o else None
    stop_at = time.time() + secs
    lock = threading.Lock()
    lines, counts = [], {}
    stop = threading.Event()

    def worker(t):
        url = urls[t % len(urls)]
        conn = conn_for(url)
        rnd = random.Random(t * 7919 + os.getpid())
        mine, seq = [], 0
        while not stop.is_set():
            i = rnd.choice(only) if only else rnd.randrange(n)
            seq += 1
            is_put = put_every > 0 and seq % put_every == 0
            t0 = time.time()
            xc, verdict, st = "-", "other", 0
            try:
                if is_put:
                    body = json.dumps({"q": query(i, tag), "value": value(i, tag), "ttl": 3600}).encode()
                    conn.request("PUT", "/cache/" + ns, body, {"Content-Type": "application/json"})
                else:
                    conn.request("GET", "/cache/%s?q=%s" % (ns, urllib.parse.quote(query(i, tag))))
                r = conn.getresponse()
                data = r.read()
                st = r.status
                xc = r.getheader("X-Cache") or "-"
                if st >= 500:
                    verdict = "5xx"
                elif is_put and st == 200:
                    verdict = "stored" if json.loads(data).get("stored") is True else "not_stored"
                elif st == 200:
                    verdict = "hit" if json.loads(data) == value(i, tag) else "wrong"
                elif st == 404:
                    verdict = "bypass" if xc == "BYPASS" else "miss"
            except Exception:
                verdict = "error"
                conn.close()
                conn = conn_for(url)
            t1 = time.time()
            mine.append("%d %d %s %d %s %s %d" % (t0 * 1000, t1 * 1000, "PUT" if is_put else "GET",
                                                  st, xc, verdict, i))
        with lock:
            lines.extend(mine)

    ts = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for t in ts:
        t.start()
    while time.time() < stop_at and not (until and os.path.exists(until)):
        time.sleep(0.01)
    stop.set()
    for t in ts:
        t.join()
    lines.sort(key=lambda l: int(l.split()[0]))
    if "--log" in o:
        with open(o["--log"], "w") as f:
            f.write("".join(l + "\n" for l in lines))
    for l in lines:
        f = l.split()
        counts[f[5]] = counts.get(f[5], 0) + 1
        counts["gets" if f[2] == "GET" else "puts"] = counts.get("gets" if f[2] == "GET" else "puts", 0) + 1
    counts["requests"] = len(lines)
    for k in ("gets", "puts", "hit", "miss", "bypass", "wrong", "5xx", "error", "other", "stored", "not_stored"):
        counts.setdefault(k, 0)
    for k in sorted(counts):
        print("%s=%d" % (k, counts[k]))


def after(argv):
    log, t = argv[0], int(argv[1])
    window = int(argv[2]) if len(argv) > 2 else 2000
    c = dict(gets_total=0, s5xx_total=0, error_total=0, wrong_total=0, gets_after=0,
             last_nonhit_ms=-1, last_nonhit_end_ms=-1, nonhit_after_window=0, gets_after_window=0)
    for line in open(log):
        f = line.split()
        if f[2] != "GET":
            if f[5] == "5xx":
                c["s5xx_total"] += 1
            continue
        s, e, verdict = int(f[0]), int(f[1]), f[5]
        c["gets_total"] += 1
        c["s5xx_total"] += verdict == "5xx"
        c["error_total"] += verdict == "error"
        c["wrong_total"] += verdict == "wrong"
        if s >= t:
            c["gets_after"] += 1
            if verdict != "hit" and s - t > c["last_nonhit_ms"]:
                c["last_nonhit_ms"], c["last_nonhit_end_ms"] = s - t, e - t
        if s >= t + window:
            c["gets_after_window"] += 1
            c["nonhit_after_window"] += verdict != "hit"
    for k in sorted(c):
        print("%s=%d" % (k, c[k]))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    fn = {"fill": fill, "check": check, "run": run, "after": after}.get(cmd)
    if fn is None:
        sys.stderr.write(__doc__)
        sys.exit(2)
    fn(sys.argv[2:])
