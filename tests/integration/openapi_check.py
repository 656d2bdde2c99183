"""openapi_check.py - validates the responses an integration script received
against docs/openapi.yaml (run once per script by lib.sh's finish).

    python3 openapi_check.py SPEC RESPONSES_JSONL

Each line of RESPONSES_JSONL (written by lib.sh's req) is one response:
{"method", "path" (a template of the spec, or "(other)"), "status", "ctype",
"body" (a file, "" when the body was empty), "foreign" (1: the test wrote
the value with another client and says so, see lib.sh)}. For each: the status must be
one the route documents (an undocumented status is a spec gap), the
Content-Type one of its media types, and a JSON (or text) body must match its schema
($refs resolved). A method a path does not have, and a path the service
does not have, are checked against the answers the router gives them (405,
404 and the checks made before routing). Prints OK/FAIL/DIAG lines for
lib.sh; never prints a body (which may hold query text): only the route,
the status and where the schema failed."""
import copy
import json
import sys

import jsonschema
import yaml

spec_path, resp_path = sys.argv[1], sys.argv[2]
with open(spec_path, encoding="utf-8") as f:
    spec = yaml.safe_load(f)


def lookup(ref):
    node = spec
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def deref(node, depth=0):
    """A copy of node with every local $ref replaced by its target."""
    if depth > 64:
        raise RecursionError("$ref cycle in the spec")
    if isinstance(node, dict):
        if "$ref" in node and isinstance(node["$ref"], str) and node["$ref"].startswith("#/"):
            target = deref(lookup(node["$ref"]), depth + 1)
            rest = {k: deref(v, depth + 1) for k, v in node.items() if k != "$ref"}
            if not rest:
                return target
            return {"allOf": [target], **rest}
        return {k: deref(v, depth + 1) for k, v in node.items()}
    if isinstance(node, list):
        return [deref(v, depth + 1) for v in node]
    return node


spec = deref(spec)
resp = spec["components"]["responses"]
# What the router answers before (or instead of) a route's handler.
PRE = {"400": resp["BadRequest"], "414": resp["UriTooLong"], "431": resp["HeadersTooLarge"],
       "408": resp["RequestTimeout"], "503": resp["ServiceUnavailable"]}
OTHER_METHOD = dict(PRE, **{"401": resp["Unauthorized"], "405": resp["MethodNotAllowed"]})
OTHER_PATH = dict(OTHER_METHOD, **{"404": resp["NotFound"]})

validators = {}


def validator(schema):
    key = id(schema)
    if key not in validators:
        cls = jsonschema.Draft202012Validator
        validators[key] = (cls(schema), schema)
    return validators[key][0]


def describe(err):
    where = "$" + "".join("[%d]" % p if isinstance(p, int) else ".%s" % p
                          for p in err.absolute_path)
    what = err.validator
    if what in ("enum", "const", "type", "required", "pattern", "minimum", "maximum",
                "minLength", "maxItems"):
        what = "%s %s" % (what, json.dumps(err.validator_value)[:120])
    return "at %s: %s failed (schema %s)" % (where, what, "/".join(map(str, err.schema_path))[:160])


fails = {}
counts = {"requests": 0, "validated": 0, "checked": 0, "noanswer": 0, "foreign": 0}


def fail(rec, msg):
    k = "%s %s %s: %s" % (rec.get("method"), rec.get("path"), rec.get("status"), msg)
    fails[k] = fails.get(k, 0) + 1


def check(rec):
    counts["requests"] += 1
    status = str(rec["status"])
    if status == "0":
        counts["noanswer"] += 1
        return
    method = rec["method"].lower()
    item = spec["paths"].get(rec["path"])
    if item is None:
        responses = OTHER_PATH
    elif method in item:
        responses = item[method]["responses"]
    else:
        responses = OTHER_METHOD
    r = responses.get(status) or responses.get(status[0] + "XX") or responses.get("default")
    if r is None:
        fail(rec, "status not documented for this route (a spec gap)")
        return
    counts["checked"] += 1
    content = r.get("content") or {}
    body_file = rec.get("body") or ""
    if not body_file:
        if content and method != "head":
            fail(rec, "empty body, the spec describes one")
        return
    if method == "head":
        fail(rec, "a body in answer to HEAD")
        return
    if not content:
        fail(rec, "a body where the spec describes none")
        return
    ctype = (rec.get("ctype") or "").split(";")[0].strip().lower()
    media = None
    for name, m in content.items():
        if name.split(";")[0].strip().lower() == ctype:
            media = m
    if media is None:
        fail(rec, "Content-Type %r not among %s" % (ctype[:60], sorted(content)))
        return
    with open(body_file, "rb") as f:
        raw = f.read()
    if not (ctype == "application/json" or ctype.endswith("+json")):
        if ctype.startswith("text/") and "schema" in media:
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                fail(rec, "%s body is not UTF-8" % ctype)
                return
            err = jsonschema.exceptions.best_match(validator(media["schema"]).iter_errors(text))
            if err is not None:
                fail(rec, describe(err))
                return
            counts["validated"] += 1
        return
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        arbitrary = not {k for k in media.get("schema", {}) if k != "description"}
        if rec.get("foreign") and arbitrary:
            counts["foreign"] += 1  # another client's bytes, served as stored
        else:
            fail(rec, "%s body is not JSON" % ctype)
        return
    schema = media.get("schema", {})
    err = jsonschema.exceptions.best_match(validator(schema).iter_errors(doc))
    if err is not None:
        fail(rec, describe(err))
        return
    counts["validated"] += 1


with open(resp_path, encoding="utf-8") as f:
    for line in f:
        if line.strip():
            try:
                check(json.loads(line))
            except (ValueError, KeyError) as e:
                counts["requests"] += 1
                fails["unreadable response record (%s)" % e.__class__.__name__] = 1

summary = ("%(requests)d responses: %(checked)d with a documented status, "
           "%(validated)d bodies valid, %(noanswer)d without an answer, "
           "%(foreign)d foreign non-JSON values excused" % counts)
for k, n in sorted(fails.items()):
    print("FAIL openapi: %s%s" % (k, " (x%d)" % n if n > 1 else ""))
if counts["requests"] and not counts["validated"]:
    print("FAIL openapi: requests were made but no response body was validated")
if not fails and counts["validated"]:
    print("OK openapi: every response matches docs/openapi.yaml")
print("DIAG openapi: " + summary)
