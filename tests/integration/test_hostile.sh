#!/usr/bin/env bash
# test_hostile.sh - clients that attack the HTTP layer rather than use it.
#
# 1. Log injection: methods and paths carrying quotes, backslashes, control
#    bytes, invalid UTF-8 and a forged '"level":"error"' field are sent over
#    raw sockets; every line the service wrote is then parsed with
#    json.loads: one object per line, no forged field, methods only from the
#    fixed label set, no query marker; /metrics labels stay in the set too.
# 2. Request size: a request target or header block just within the limits
#    is served, one byte over is a problem+json 414/431; beyond the
#    connection memory libmicrohttpd's own pages answer, as the README says
#    (also for malformed chunked bodies).
# 3. Trickling clients: sockets that send a header line every half second
#    are closed (a 408 problem when the client reads it) at
#    HTTP_HEADER_TIMEOUT_SECONDS, not before, while a normal client keeps
#    getting fast answers; the same on a kept-alive connection; an idle
#    kept-alive connection is not cut by the header deadline.
# 4. HTTP_MAX_CONNECTIONS_PER_IP over 4 workers: exactly the cap is served
#    from one address (a per-worker limit would admit 4 x the cap), another
#    loopback address is unaffected, closing frees the places.
# 5. RLIMIT_NOFILE: with soft = hard = 256 a warning names the limit, the
#    hard limit and the number needed; with a higher hard limit the soft
#    limit is raised (read from /proc/<pid>/limits).
NC_DB=0 # unused: every service here runs with REDIS_ENABLED=false
. "$(dirname "$0")/lib.sh"

# ---------------------------------------------------------------------------
# 1 + 2. Hostile bytes in the head; size limits
# ---------------------------------------------------------------------------
start_service REDIS_ENABLED=false THREADS=2 LOG_LEVEL=debug || finish
pyresults "$SVC_PORT" "$NC_MARKER" <<'EOF'
import socket, sys
port, marker = int(sys.argv[1]), sys.argv[2].encode()

def raw(data, t=3.0):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(t)
    out = b""
    try:
        s.sendall(data)
        while True:
            d = s.recv(65536)
            if not d:
                break
            out += d
    except OSError:
        pass
    s.close()
    return out

def status(resp):
    try:
        return int(resp.split(b" ", 2)[1])
    except Exception:
        return 0

def ctype(resp):
    for line in resp.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-type":
            return v.strip().decode()
    return ""

def problem(resp, code):
    import json
    body = resp.split(b"\r\n\r\n", 1)[-1]
    try:
        doc = json.loads(body)
    except Exception:
        return False
    return ctype(resp) == "application/problem+json" and doc.get("code") == code and \
        doc.get("status") == status(resp)

q = b"q=" + marker
methods = [b'GE"T', b'GE\\T', b'G\x01ET', b'GET\xff\xfe', b'\xc3\x28',
           b'GE"T,"level":"error","msg":"forged', b'PUT\x7f', b"X" * 300]
for m in methods:
    r = raw(m + b" /cache/faq?" + q + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    st = status(r)
    print(("OK" if st in (400, 405, 501) else "FAIL") +
          " hostile method %r is refused (%d)" % (m[:40], st))
paths = [b'/cache/fa"q?', b'/cache/f\x01aq?', b'/cache/f\xffaq?', b'/x","level":"error"?',
         b'/cache/faq\\"?', b'/' + marker + b'?', b'/cache/%22%0a?']
for p in paths:
    r = raw(b"GET " + p + q + b" HTTP/1.1\r\nHost: x\r\nX-Evil: \"}\x01\xff\r\nConnection: close\r\n\r\n")
    st = status(r)
    print(("OK" if st in (400, 404) else "FAIL") + " hostile path %r is refused (%d)" % (p, st))

# Request target: the limit is 3 x MAX_QUERY_BYTES + 1024 = 13312 bytes.
LIMIT = 3 * 4096 + 1024
base = b"/healthz?pad="
def target(n):
    return base + b"a" * (n - len(base))
r = raw(b"GET " + target(LIMIT) + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
print(("OK" if status(r) == 200 else "FAIL") + " a %d-byte request target is served (%d)" % (LIMIT, status(r)))
r = raw(b"GET " + target(LIMIT + 1) + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
print(("OK" if status(r) == 414 and problem(r, "uri_too_long") else "FAIL") +
      " one byte more is a 414 uri_too_long problem (%d %s)" % (status(r), ctype(r)))

# Headers: at most 100 fields and 8192 bytes ("name: value\r\n" each).
def head_of(total, fields):
    hs = [(b"Host", b"x"), (b"Connection", b"close")]
    rem = total - sum(len(k) + len(v) + 4 for k, v in hs)
    k = fields - 2
    for i in range(k):
        name = b"X-F%d" % i
        size = rem // (k - i)
        hs.append((name, b"v" * (size - len(name) - 4)))
        rem -= size
    return b"".join(a + b": " + b + b"\r\n" for a, b in hs)
for total, fields, want in ((8192, 100, 200), (8192, 3, 200), (8193, 3, 431), (3000, 101, 431)):
    r = raw(b"GET " + target(LIMIT) + b" HTTP/1.1\r\n" + head_of(total, fields) + b"\r\n")
    good = status(r) == want and (want == 200 or problem(r, "headers_too_large"))
    print(("OK" if good else "FAIL") + " %d header bytes in %d fields with the longest target: %d%s (%d)"
          % (total, fields, want, " problem" if want != 200 else "", status(r)))

# Beyond the connection memory: libmicrohttpd's own page (README, API).
r = raw(b"GET " + target(40000) + b" HTTP/1.1\r\nHost: x\r\n\r\n")
print(("OK" if status(r) == 414 else "FAIL") + " a 40000-byte target: libmicrohttpd's 414 (%d %s)" % (status(r), ctype(r)))
r = raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + b"a: b\r\n" * 2000 + b"\r\n")
print(("OK" if status(r) == 431 else "FAIL") + " 2000 tiny header fields: libmicrohttpd's 431 (%d)" % status(r))
chunked = b"PUT /cache/faq HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
r = raw(chunked + b"zz\r\n")
print(("OK" if status(r) == 400 else "FAIL") + " a malformed chunk size: libmicrohttpd's 400 (%d)" % status(r))
r = raw(chunked + b"f" * 20 + b"\r\n")
print(("OK" if status(r) == 413 else "FAIL") + " a chunk size beyond 64 bits: libmicrohttpd's 413 (%d)" % status(r))
r = raw(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
print(("OK" if status(r) == 200 else "FAIL") + " the service still answers (%d)" % status(r))
EOF
req GET /metrics
check_status "metrics scraped" 200
pyresults "$NC_TMP/body" <<'EOF'
import re, sys
text = open(sys.argv[1], "rb").read().decode("utf-8")
allowed = {"GET", "HEAD", "PUT", "DELETE", "POST", "OPTIONS", "PATCH", "OTHER"}
label = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? \S+$')
bad = [l for l in text.splitlines() if l and not l.startswith("#") and not label.match(l)]
print(("OK" if not bad else "FAIL") + " every metrics sample line is well-formed")
for l in bad[:3]:
    print("DIAG " + l[:200])
methods = set(re.findall(r'method="([^"]*)"', text))
print(("OK" if methods <= allowed and "OTHER" in methods else "FAIL") +
      " method labels are from the fixed set: %s" % sorted(methods))
EOF
stop_service
pyresults "$SVC_LOG" "$NC_MARKER" <<'EOF'
import json, sys
raw = open(sys.argv[1], "rb").read()
marker = sys.argv[2].encode()
lines = raw.split(b"\n")
if lines and lines[-1] == b"":
    lines.pop()
bad, docs = [], []
for l in lines:
    try:
        d = json.loads(l.decode("utf-8"))  # strict UTF-8, then strict JSON
        if not isinstance(d, dict):
            raise ValueError("not an object")
        docs.append(d)
    except Exception as e:
        bad.append((l[:160], str(e)))
print(("OK" if not bad and docs else "FAIL") + " all %d log lines are JSON objects" % len(lines))
for l, e in bad[:3]:
    print("DIAG %r: %s" % (l, e))
forged = [d for d in docs if d.get("msg") == "forged" or d.get("level") not in ("debug", "info", "warn")]
print(("OK" if not forged else "FAIL") + " no line has a forged msg or an error level")
allowed = {"GET", "HEAD", "PUT", "DELETE", "POST", "OPTIONS", "PATCH", "OTHER"}
access = [d for d in docs if d.get("msg") == "request"]
print(("OK" if all(d.get("method") in allowed for d in access) else "FAIL") +
      " access lines log methods only as fixed labels")
others = sum(1 for d in access if d.get("method") == "OTHER")
print(("OK" if others >= 7 else "FAIL") + " the hostile methods are logged as OTHER (%d)" % others)
keys = {"ts", "level", "msg", "method", "route", "status", "dur_us", "ns", "cache", "key", "code", "source"}
extra = set(k for d in access for k in d) - keys
print(("OK" if not extra else "FAIL") + " access lines have no unexpected fields %s" % sorted(extra))
print(("OK" if marker not in raw else "FAIL") + " the query/path marker is never logged")
print(("OK" if b"forged" not in raw and b"\\u0001" not in raw else "FAIL") + " no client bytes reach the log")
EOF

# ---------------------------------------------------------------------------
# 3. Trickling clients
# ---------------------------------------------------------------------------
start_service REDIS_ENABLED=false THREADS=2 HTTP_HEADER_TIMEOUT_SECONDS=2 || finish
pyresults "$SVC_PORT" "$NC_TIME_SCALE" <<'EOF'
import json, selectors, socket, sys, time
port, scale = int(sys.argv[1]), float(sys.argv[2])
N, TIMEOUT = 300, 2.0
t0 = time.monotonic()
socks = []
for i in range(N):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    s.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
    socks.append(s)
# A kept-alive connection that trickles its second request.
ka = socket.create_connection(("127.0.0.1", port))
ka.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
ka.settimeout(2)
first = ka.recv(4096)
ka.setblocking(False)
ka_start = time.monotonic()
ka.send(b"GET /healthz HTTP/1.1\r\n")
# An idle kept-alive connection: silent past the header deadline, then used.
idle = socket.create_connection(("127.0.0.1", port))
idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
idle.settimeout(2)
idle.recv(4096)

closed_at, got = {}, {}
open_ = {s: i for i, s in enumerate(socks)}
open_[ka] = "ka"
lat = []
next_line = time.monotonic()
deadline = t0 + (TIMEOUT + 6) * scale
while open_ and time.monotonic() < deadline:
    now = time.monotonic()
    if now >= next_line:
        next_line = now + 0.5
        for s in list(open_):
            try:
                s.send(b"X-Slow: 1\r\n")
            except OSError:
                pass
        # A normal client meanwhile.
        c0 = time.monotonic()
        c = socket.create_connection(("127.0.0.1", port))
        c.settimeout(2 * scale)
        c.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        resp = b""
        try:
            while True:
                d = c.recv(4096)
                if not d:
                    break
                resp += d
        except OSError:
            pass
        c.close()
        lat.append((time.monotonic() - c0, resp.startswith(b"HTTP/1.1 200")))
    for s in list(open_):
        try:
            d = s.recv(65536)
        except BlockingIOError:
            continue
        except OSError:
            d = b""
        if d:
            got[open_[s]] = got.get(open_[s], b"") + d
            continue
        closed_at[open_[s]] = time.monotonic() - (ka_start if open_[s] == "ka" else t0)
        del open_[s]
        s.close()
    time.sleep(0.02)

trick = [closed_at.get(i) for i in range(N)]
print(("OK" if all(t is not None for t in trick) else "FAIL") +
      " all %d trickling connections are closed (%d still open)" % (N, sum(t is None for t in trick)))
done = [t for t in trick if t is not None]
if done:
    print(("OK" if min(done) >= TIMEOUT - 0.3 else "FAIL") +
          " none before HTTP_HEADER_TIMEOUT_SECONDS (earliest %.2fs)" % min(done))
    print(("OK" if max(done) <= TIMEOUT + 2.5 * scale else "FAIL") +
          " all soon after it (latest %.2fs)" % max(done))
problems = 0
for i, data in got.items():
    if i == "ka":
        continue
    head, _, body = data.partition(b"\r\n\r\n")
    try:
        doc = json.loads(body)
        if head.startswith(b"HTTP/1.1 408") and b"application/problem+json" in head and \
                doc["code"] == "request_timeout" and doc["status"] == 408:
            problems += 1
    except Exception:
        pass
print(("OK" if problems > 0 else "FAIL") + " closed connections read a 408 problem (%d of %d)" % (problems, N))
kat = closed_at.get("ka")
print(("OK" if kat is not None and TIMEOUT - 0.3 <= kat <= TIMEOUT + 2.5 * scale else "FAIL") +
      " a kept-alive connection trickling its next head is closed too (%s)" % kat)
ok_lat = [l for l, good in lat if good]
print(("OK" if lat and len(ok_lat) == len(lat) else "FAIL") +
      " a normal client is answered meanwhile (%d of %d)" % (len(ok_lat), len(lat)))
if ok_lat:
    print(("OK" if max(ok_lat) < 1.0 * scale else "FAIL") + " ... promptly (slowest %.3fs)" % max(ok_lat))
# The idle kept-alive connection has waited longer than the header timeout.
idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
try:
    r = idle.recv(4096)
except OSError:
    r = b""
print(("OK" if r.startswith(b"HTTP/1.1 200") else "FAIL") +
      " an idle kept-alive connection is not cut by the header deadline (%r)" % r[:20])
EOF
req GET /metrics
check_match "408s are counted" 'normcache_http_requests_total\{route="other",method="OTHER",code="408"\} [0-9]+' "$BODY"
# Access lines leave a worker's buffer at most 100 ms after the first of
# them: the last 408s may still be on their way when the client sees it.
for _ in $(seq 1 20); do
    N408=$(grep -c '"status":408' "$SVC_LOG")
    [ "$N408" -ge 300 ] && break
    sleep 0.05
done
check "each timeout has an access line (>= 300: $N408)" [ "$N408" -ge 300 ]

# ---------------------------------------------------------------------------
# 4. HTTP_MAX_CONNECTIONS_PER_IP across workers
# ---------------------------------------------------------------------------
start_service REDIS_ENABLED=false THREADS=4 HTTP_MAX_CONNECTIONS_PER_IP=5 || finish
pyresults "$SVC_PORT" <<'EOF'
import socket, sys, time
port = int(sys.argv[1])

def ask(s):
    try:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(3)
        return s.recv(4096).startswith(b"HTTP/1.1 200")
    except OSError:
        return False

def conn(src="127.0.0.1"):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s

held = []
for i in range(12):
    held.append(conn())
    time.sleep(0.02)  # each accepted before the next
served = [s for s in held if ask(s)]
print(("OK" if len(served) == 5 else "FAIL") +
      " 12 connections from one address over 4 workers: 5 served (%d)" % len(served))
other = conn("127.0.0.2")
print(("OK" if ask(other) else "FAIL") + " another address is not affected")
other.close()
for s in served:
    print(("OK" if ask(s) else "FAIL") + " a connection within the cap keeps working")
    break
for s in held:
    s.close()
time.sleep(0.5)
again = [conn() for i in range(5)]
print(("OK" if all(ask(s) for s in again) else "FAIL") + " closed connections free their places")
for s in again:
    s.close()
EOF

# ---------------------------------------------------------------------------
# 5. RLIMIT_NOFILE
# ---------------------------------------------------------------------------
# run_limited SOFT HARD: the service under `ulimit -n` (a subshell that execs
# it), like start_service; sets LPID, LLOG, LPORT.
run_limited() {
    LPORT=$(free_port)
    LLOG=$NC_TMP/svc-limited-$1-$2.log
    (
        ulimit -Sn "$1" && ulimit -Hn "$2" || exit 97
        exec env -i "PATH=$PATH" REDIS_ENABLED=false PORT="$LPORT" THREADS=2 \
            HTTP_MAX_CONNECTIONS=4096 UPSTREAM_MAX_INFLIGHT=64 "$NC_BIN"
    ) </dev/null >/dev/null 2>"$LLOG" &
    LPID=$!
    NC_PIDS+=("$LPID")
    local i
    for i in $(seq 1 $((100 * NC_TIME_SCALE))); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$LPORT/healthz")" = 200 ] && return 0
        kill -0 "$LPID" 2>/dev/null || return 1
        sleep 0.05
    done
    return 1
}
stop_limited() {
    kill "$LPID" 2>/dev/null
    wait "$LPID" 2>/dev/null
    nc_forget_pid "$LPID"
}
# THREADS=2 x (HTTP_MAX_CONNECTIONS=4096 + 8) + UPSTREAM_MAX_INFLIGHT=64 + 64
NEED=8336
HARD=$(ulimit -Hn)
if [ -z "$NC_VALGRIND" ] && run_limited 256 256; then
    ok "the service starts with 256 open files"
    pyresults "$LLOG" "$NEED" <<'EOF'
import json, sys
need = int(sys.argv[2])
warn = [d for d in map(json.loads, open(sys.argv[1], encoding="utf-8")) if d.get("fd_needed")]
print(("OK" if warn else "FAIL") + " a warning says the open files limit is too low")
if warn:
    d = warn[0]
    print(("OK" if d["level"] == "warn" and d["fd_limit"] == 256 and d["fd_hard_limit"] == 256
           and d["fd_needed"] == need else "FAIL") + " ... with the numbers: %s" % json.dumps(d)[:300])
    print(("OK" if "256" in d["msg"] and str(need) in d["msg"] else "FAIL") + " ... also in its text")
EOF
    # Running out at run time is logged too (libmicrohttpd's accept errors).
    "$NC_PY" - "$LPORT" <<'EOF'
import socket, sys
held, fails = [], 0
while len(held) < 400 and fails < 3:
    try:
        s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        s.recv(100)
        held.append(s)
    except OSError:
        fails += 1
EOF
    check "running out of descriptors at run time is a warning" \
        grep -qE '"level":"warn","msg":"(Error accepting connection: Too many open files|Hit process or system resource limit)' "$LLOG"
    stop_limited
else
    [ -n "$NC_VALGRIND" ] || notok "the service starts with 256 open files"
fi
if [ -z "$NC_VALGRIND" ] && [ "$HARD" = unlimited ] || { [ -z "$NC_VALGRIND" ] && [ "$HARD" -gt 300 ]; }; then
    if run_limited 256 "$HARD"; then
        WANT=$NEED
        [ "$HARD" != unlimited ] && [ "$HARD" -lt "$NEED" ] && WANT=$HARD
        SOFT=$(awk '/^Max open files/ {print $4}' "/proc/$LPID/limits")
        check_eq "the soft limit is raised from 256 to what the settings need, within the hard limit ($HARD)" "$WANT" "$SOFT"
        if [ "$WANT" = "$NEED" ]; then
            check "no warning when the limit holds the connections" bash -c "! grep -q fd_needed '$LLOG'"
        fi
        stop_limited
    else
        notok "the service starts with a soft limit of 256"
    fi
fi

finish
