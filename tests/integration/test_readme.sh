#!/usr/bin/env bash
# test_readme.sh - the README's curl examples, run as written against a real
# service (localhost:8080 replaced by the test port), in README order. The
# result each example documents in its comment ("# 200 {...}", "# {...}",
# "# X-Cache: HIT   X-Cache-Key: ...") must be what the service answers.
# Examples outside the core API (/products/...) belong to other tests.
NC_DB=0 # unused: the examples run against a private redis-server
. "$(dirname "$0")/lib.sh"

README=$NC_ROOT/README.md
if [ ! -f "$README" ]; then
    notok "README.md exists"
    finish
fi

# A private redis: the examples use the default prefix and flush "faq".
redis_start || notok "private redis-server starts"
start_service "REDIS_URL=redis://127.0.0.1:$PRIV_REDIS_PORT/0"

while IFS=$'\t' read -r verdict name detail; do
    case $verdict in
    PASS) ok "$name" ;;
    FAIL)
        notok "$name"
        diag "$detail"
        ;;
    *)
        notok "README example runner: $verdict $name"
        diag "$detail"
        ;;
    esac
done < <("$NC_PY" - "$README" "$SVC_PORT" "$NC_TMP" <<'EOF' 2>&1
import json, re, shlex, subprocess, sys

readme, port, tmp = sys.argv[1:4]
text = open(readme, encoding="utf-8").read()

# Every ```sh block; a curl command (with its backslash continuations) and
# the comments that follow it on the same line or the next lines.
examples = []
for block in re.findall(r"```(?:sh|bash|console)?\n(.*?)```", text, re.S):
    lines = block.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.lstrip().startswith("curl "):
            i += 1
            continue
        cmd = line
        while cmd.rstrip().endswith("\\") and i + 1 < len(lines):
            i += 1
            cmd = cmd.rstrip()[:-1] + " " + lines[i].strip()
        comments = []
        m = re.search(r"\s#\s(.*)$", cmd)
        if m and "'" not in cmd[m.start():]:
            comments.append(m.group(1).strip())
            cmd = cmd[: m.start()]
        while i + 1 < len(lines) and lines[i + 1].lstrip().startswith("#"):
            i += 1
            comments.append(lines[i].lstrip()[1:].strip())
        examples.append((cmd.strip(), comments))
        i += 1

# Equal, except that a documented remaining "ttl" may be a few seconds
# more than the one seen (time passes between the examples).
def same(got, want, key=None):
    if isinstance(want, dict):
        return isinstance(got, dict) and set(got) == set(want) and all(
            same(got[k], want[k], k) for k in want)
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(
            same(g, w) for g, w in zip(got, want))
    if key == "ttl" and type(got) is int and type(want) is int:
        return want - 5 <= got <= want
    return got == want

def out(verdict, name, detail=""):
    print("%s\t%s\t%s" % (verdict, name, detail.replace("\t", " ").replace("\n", " | ")[:600]))
    sys.stdout.flush()

core = [e for e in examples if "/products/" not in e[0] and "localhost:8080" in e[0]]
if not core:
    out("FAIL", "README has curl examples of the cache API", "none found")
for n, (cmd, comments) in enumerate(core, 1):
    argv = shlex.split(cmd)
    argv = [a.replace("localhost:8080", "127.0.0.1:" + port) for a in argv]
    argv = [a for a in argv if a not in ("-i", "--include", "-v")]
    body, hdrs = "%s/readme.body" % tmp, "%s/readme.hdr" % tmp
    run = [argv[0], "-sS", "-g", "--max-time", "10", "-o", body, "-D", hdrs,
           "-w", "%{http_code}"] + argv[1:]
    p = subprocess.run(run, capture_output=True, text=True)
    status = p.stdout.strip()
    raw = open(body, "rb").read()
    headers = {}
    for h in open(hdrs, encoding="latin-1").read().replace("\r", "").split("\n"):
        if ":" in h:
            k, v = h.split(":", 1)
            headers[k.strip().lower()] = v.strip()
    short = re.sub(r"\s+", " ", cmd)[:110]
    name = "README example %d answers as documented: %s" % (n, short)
    errs = []
    if p.returncode != 0 or not status.isdigit():
        errs.append("curl failed: %s" % p.stderr.strip())
    elif int(status) >= 500:
        errs.append("status %s" % status)
    for c in comments:
        m = re.match(r"^(\d{3})\b[ ,]*(.*)$", c)
        rest = c
        if m:
            if status != m.group(1):
                errs.append("status %s, documented %s" % (status, m.group(1)))
            rest = m.group(2)
        j = re.search(r"\{.*\}", rest)
        if j:
            try:
                want = json.loads(j.group(0))
                got = json.loads(raw.decode("utf-8"))
            except Exception as e:
                errs.append("JSON: %s (body %r)" % (e, raw[:200]))
                continue
            illustrative = rest.lstrip().startswith("flush")
            if not isinstance(got, dict) or set(got) != set(want):
                errs.append("members %s, documented %s" % (sorted(got) if isinstance(got, dict) else got, sorted(want)))
            else:
                for k, v in want.items():
                    if illustrative:
                        if type(got[k]) is not type(v):
                            errs.append("%s is %r, documented like %r" % (k, got[k], v))
                    elif not same(got[k], v):
                        errs.append("%s is %r, documented %r" % (k, got[k], v))
        for hk, hv in re.findall(r"([A-Z][A-Za-z-]+): (\S+)", rest):
            if hk.lower() in ("x-cache", "x-cache-key"):
                if headers.get(hk.lower()) != hv:
                    errs.append("%s: %r, documented %r" % (hk, headers.get(hk.lower()), hv))
            elif hk.lower() == "cache-control":
                if not re.fullmatch(r"max-age=\d+", headers.get("cache-control", "")):
                    errs.append("Cache-Control: %r" % headers.get("cache-control"))
            elif hk.lower() in headers:
                pass
            else:
                errs.append("no %s header" % hk)
    out("FAIL" if errs else "PASS", name, "; ".join(errs))
EOF
)
finish
