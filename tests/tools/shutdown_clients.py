#!/usr/bin/env python3
"""shutdown_clients.py - HTTP clients held open across a service's stop
(tests/integration/test_shutdown_inflight.sh).

  shutdown_clients.py PORT OUT READY [options]

Opens --n connections, each sending one GET --path (with --header lines),
plus --idle keep-alive connections that first get one /healthz answer and
then stay open. When every request is written (and every idle connection
has had its answer) it creates the file READY, then waits for the answers.
With --late FILE, once FILE exists, the idle connections send one more
request each (a request on a connection kept alive across the stop).

OUT gets one JSON object per connection: kind ("req", "idle"), status (int
or null), headers (lower-case names), body, and outcome: "answered",
"answered+closed" (the server closed it after the answer), "eof" (closed
without an answer), "reset", "timeout". An idle connection that gets no
late request ends as "eof" (closed cleanly) or "reset".
"""
import argparse
import json
import os
import socket
import threading
import time


def read_response(sock, deadline):
    """One HTTP/1.1 response: (status, headers, body) or raises."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        sock.settimeout(max(0.01, deadline - time.time()))
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("eof before a complete head" if buf else "eof")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        sock.settimeout(max(0.01, deadline - time.time()))
        chunk = sock.recv(65536)
        if not chunk:
            raise EOFError("eof inside the body")
        rest += chunk
    return status, hdrs, rest[:n].decode("utf-8", "replace")


def closed_after(sock, wait):
    """True when the server closes the connection within wait seconds."""
    try:
        sock.settimeout(wait)
        return sock.recv(1) == b""
    except (socket.timeout, OSError):
        return False


def request_bytes(path, headers):
    h = "".join("%s\r\n" % x for x in headers)
    return ("GET %s HTTP/1.1\r\nHost: localhost\r\n%s\r\n" % (path, h)).encode()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("out")
    ap.add_argument("ready")
    ap.add_argument("--n", type=int, default=0)
    ap.add_argument("--path", default="/healthz")
    ap.add_argument("--header", action="append", default=[])
    ap.add_argument("--idle", type=int, default=0)
    ap.add_argument("--late")
    ap.add_argument("--timeout", type=float, default=15.0)
    a = ap.parse_args()
    deadline = time.time() + a.timeout
    results = []
    lock = threading.Lock()
    sent = threading.Semaphore(0)

    def record(**kw):
        with lock:
            results.append(kw)

    def connect(kind, i):
        try:
            return socket.create_connection(("127.0.0.1", a.port), timeout=5)
        except OSError as e:
            record(kind=kind, i=i, status=None, outcome="connect failed", detail=str(e))
            sent.release()
            return None

    def one_req(i):
        s = connect("req", i)
        if not s:
            return
        try:
            s.sendall(request_bytes(a.path, a.header))
            sent.release()
            try:
                st, h, b = read_response(s, deadline)
                out = "answered+closed" if closed_after(s, 1.0) else "answered"
                record(kind="req", i=i, status=st, headers=h, body=b, outcome=out)
            except EOFError as e:
                record(kind="req", i=i, status=None, outcome="eof", detail=str(e))
            except ConnectionResetError:
                record(kind="req", i=i, status=None, outcome="reset")
            except socket.timeout:
                record(kind="req", i=i, status=None, outcome="timeout")
            except OSError as e:
                record(kind="req", i=i, status=None, outcome="error", detail=str(e))
        finally:
            s.close()

    def one_idle(i):
        s = connect("idle", i)
        if not s:
            return
        try:
            s.sendall(request_bytes("/healthz", []))
            try:
                read_response(s, deadline)
            except (OSError, EOFError) as e:
                record(kind="idle", i=i, status=None, outcome="first answer failed", detail=str(e))
                sent.release()
                return
            sent.release()
            if a.late:
                while not os.path.exists(a.late) and time.time() < deadline:
                    time.sleep(0.01)
                try:
                    s.sendall(request_bytes("/healthz", []))
                    st, h, b = read_response(s, deadline)
                    out = "answered+closed" if closed_after(s, 1.0) else "answered"
                    record(kind="idle", i=i, status=st, headers=h, body=b, outcome=out)
                except EOFError as e:
                    record(kind="idle", i=i, status=None, outcome="eof", detail=str(e))
                except (ConnectionResetError, BrokenPipeError):
                    record(kind="idle", i=i, status=None, outcome="reset")
                except socket.timeout:
                    record(kind="idle", i=i, status=None, outcome="timeout")
                return
            try:
                s.settimeout(max(0.01, deadline - time.time()))
                data = s.recv(65536)
                out = "eof" if data == b"" else "unexpected data"
                record(kind="idle", i=i, status=None, outcome=out)
            except ConnectionResetError:
                record(kind="idle", i=i, status=None, outcome="reset")
            except socket.timeout:
                record(kind="idle", i=i, status=None, outcome="timeout")
        finally:
            s.close()

    threads = []
    for i in range(a.idle):
        threads.append(threading.Thread(target=one_idle, args=(i,)))
    for i in range(a.n):
        threads.append(threading.Thread(target=one_req, args=(i,)))
    for t in threads:
        t.start()
    for _ in threads:
        if not sent.acquire(timeout=10):
            break
    with open(a.ready, "w") as f:
        f.write("ready\n")
    for t in threads:
        t.join()
    with open(a.out, "w") as f:
        for r in results:
            f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    main()
