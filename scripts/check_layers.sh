#!/usr/bin/env bash
# check_layers.sh - the layering rules of the developers' guide, checked:
#
#   (a) no include cycle between modules. The graph comes from the
#       `#include "normcache/X.h"` lines of src/**/*.c, include/normcache/*.h
#       and cmd/**/*.c. A module is a header name: include/normcache/foo.h,
#       src/foo.c and src/dir/foo.c are all module foo (a .c that includes
#       its own header is that module). A cmd/ file without a header of its
#       own name is a node of its own (cmd/<dir>/<file>): nothing includes it.
#   (b) no .c file under src/ or cmd/ longer than 600 lines (one job a file).
#
#   scripts/check_layers.sh [ROOT]    ROOT: the repository (default: this one)
#
# Exit 0 with a one-line OK summary, or 1 listing every cycle (with the file
# and line of each include on it) and every long file. `make lint` runs it
# first; `make check-layers` runs it alone.
set -euo pipefail

ROOT=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
[ -d "$ROOT" ] || {
    echo "check_layers: no directory $ROOT" >&2
    exit 2
}

exec python3 - "$ROOT" <<'EOF'
import os, re, sys

MAX_LINES = 600
root = sys.argv[1]
inc_re = re.compile(r'^\s*#\s*include\s*"normcache/([A-Za-z0-9_]+)\.h"')

def files(top, ext):
    out = []
    for d, subdirs, names in os.walk(os.path.join(root, top)):
        subdirs.sort()
        out += [os.path.join(d, n) for n in sorted(names) if n.endswith(ext)]
    return out

hdr_dir = os.path.join(root, "include", "normcache")
headers = sorted(n[:-2] for n in os.listdir(hdr_dir) if n.endswith(".h")) if os.path.isdir(hdr_dir) else []

sources = []  # (path relative to root, module)
for h in headers:
    sources.append((os.path.join("include", "normcache", h + ".h"), h))
for top in ("src", "cmd"):
    for p in files(top, ".c"):
        rel = os.path.relpath(p, root)
        base = os.path.basename(p)[:-2]
        if top == "src" or base in headers:
            sources.append((rel, base))
        else:  # cmd/normcache/main.c: a program, not a module anyone includes
            sources.append((rel, rel[:-2]))

modules = set(m for _, m in sources)
edges = {}  # (from, to) -> first "file:line" that makes it
longest = ("", 0)
too_long = []
for rel, mod in sources:
    with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")
    n = len(lines) - (1 if lines and lines[-1] == "" else 0)
    if rel.endswith(".c"):
        if n > longest[1]:
            longest = (rel, n)
        if n > MAX_LINES:
            too_long.append((rel, n))
    for i, line in enumerate(lines, 1):
        m = inc_re.match(line)
        if not m or m.group(1) == mod:
            continue
        modules.add(m.group(1))
        edges.setdefault((mod, m.group(1)), "%s:%d" % (rel, i))

graph = {m: sorted(t for (f, t) in edges if f == m) for m in modules}

# Tarjan's strongly connected components (iterative: no recursion limit).
index, low, on_stack, stack, sccs, counter = {}, {}, set(), [], [], [0]
for start in sorted(modules):
    if start in index:
        continue
    work = [(start, 0)]
    while work:
        v, i = work.pop()
        if i == 0:
            index[v] = low[v] = counter[0]
            counter[0] += 1
            stack.append(v)
            on_stack.add(v)
        if i < len(graph[v]):
            work.append((v, i + 1))
            w = graph[v][i]
            if w not in index:
                work.append((w, 0))
            elif w in on_stack:
                low[v] = min(low[v], index[w])
            continue
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))
        if work:
            u = work[-1][0]
            low[u] = min(low[u], low[v])

def path_within(members, src, dst):
    """A shortest include path src -> ... -> dst inside members (BFS)."""
    prev, queue = {src: None}, [src]
    while queue:
        v = queue.pop(0)
        if v == dst:
            path = [v]
            while prev[path[-1]] is not None:
                path.append(prev[path[-1]])
            return list(reversed(path))
        for w in graph[v]:
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return None

bad = False
for comp in sccs:
    bad = True
    members, seen = set(comp), set()
    print("check_layers: include cycle between %s:" % ", ".join(comp))
    # One shortest cycle through each include edge of the component, so
    # every include that takes part in a cycle is named at least once.
    for a in comp:
        for b in graph[a]:
            if b not in members:
                continue
            cyc = [a] + path_within(members, b, a)
            k = cyc.index(min(cyc[:-1]))
            canon = tuple(cyc[k:-1] + cyc[:k])
            if canon in seen:
                continue
            seen.add(canon)
            print("check_layers:   " + " -> ".join(canon + (canon[0],)) + "   ("
                  + ", ".join(edges[(x, y)] for x, y in zip(canon, canon[1:] + (canon[0],))) + ")")
for rel, n in too_long:
    bad = True
    print("check_layers: %s has %d lines (more than %d: split it)" % (rel, n, MAX_LINES))
if bad:
    sys.exit(1)
print("check_layers: OK - %d modules, %d edges, no cycle; longest file %s (%d lines)"
      % (len(modules), len(edges), longest[0] or "-", longest[1]))
EOF
