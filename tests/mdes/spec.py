#!/usr/bin/python3
"""tests/mdes/spec.py: the oracle of tests/daemon/test_mdes, with Debian's
python3-jsonschema.

Always, from files of this repository:
  - requests: our own examples, tests/data/mdes/requests/OPERATION.json
    ([{"name", "body"}...]), which together give every field of every
    operation stepupd accepts (the rows of daemon/mdes/spec_table.c: the
    check fails naming a field no example sends);
  - answers: validated against our own JSON Schemas,
    tests/data/mdes/responses.schema.json.

When STEPUP_MDES_SPEC_DIR names a directory holding Mastercard's OpenAPI
documents (*.yaml: tests/data/mdes/README.md says where they come from;
they are not in the repository, and CI has no network), ADDITIONALLY:
  - each of our examples is validated against the document's request
    schema, and the documents' own request examples are sent too, with
    requests generated from them (every property each declares, set to
    its example or a value of its type and length; the required ones
    only); needs python3-yaml;
  - every answer is validated against each document's response schema.

  spec.py requests                one JSON line per request to send:
                                  {"op", "name", "source": "ours"|"spec", "body"}
  spec.py validate FILE...        FILE: lines {"op", "status", "body"}; an
                                  "op" of "getAccountInformation.encryptedData"
                                  is the decrypted payload of that answer
  spec.py coverage                our examples against the field table only

Exit status 1 naming the first request or answer that fails. A line on
stderr says which checks ran.

The spec models encryptedData as the object it decrypts to; on the wire
it is hex (the test puts a real one in)."""
import glob
import json
import os
import re
import sys

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.normpath(os.path.join(HERE, "..", ".."))
DATA = os.path.join(TOP, "tests", "data", "mdes")

# operation -> (request schema, response schema) in Mastercard's documents.
SPEC_OPS = {
    "authorizeService": ("AuthorizeServiceRequestSchema", "AuthorizeServiceResponseSchema"),
    "requestActivationMethods": ("requestActivationMethodsRequestSchema", "requestActivationMethodsResponseSchema"),
    "deliverActivationCode": ("DeliverActivationCodeRequestSchema", "DeliverActivationCodeResponseSchema"),
    "notifyServiceActivated": ("NotifyServiceActivatedRequestSchema", "NotifyServiceActivatedResponseSchema"),
    "notifyTokenUpdated": ("NotifyTokenUpdatedRequestSchema", "NotifyTokenUpdatedResponseSchema"),
    "validateActivationCode": ("ValidateActivationCodeRequestSchema", "ValidateActivationCodeResponseSchema"),
    "getAccountInformation": ("getAccountInformationRequestSchema", "getAccountInformationResponseSchema"),
    "notifySuspiciousEvents": ("NotifySuspiciousEventsRequestSchema", "NotifySuspiciousEventsResponseSchema"),
}
PAYLOAD = "getAccountInformation.encryptedData"
SPEC_PAYLOAD = "AccountInformationDataSchema"


def spec_docs():
    """Mastercard's documents, when STEPUP_MDES_SPEC_DIR names them."""
    d = os.environ.get("STEPUP_MDES_SPEC_DIR")
    if not d:
        return []
    paths = sorted(glob.glob(os.path.join(d, "*.yaml")))
    if not paths:
        sys.exit("STEPUP_MDES_SPEC_DIR=%s holds no *.yaml document" % d)
    sys.path.insert(0, os.path.join(TOP, "tools"))
    import mdes_spec_doc
    docs = [(p, mdes_spec_doc.load(p)) for p in paths]
    return [(p, doc, mdes_spec_doc.version(doc)) for p, doc in docs]


def say(docs):
    if docs:
        sys.stderr.write("spec.py: our examples and schemas, and the spec documents %s\n" %
                         ", ".join("%s (%s)" % (os.path.basename(p), v) for p, _, v in docs))
    else:
        sys.stderr.write("spec.py: our examples and schemas only (set STEPUP_MDES_SPEC_DIR for the spec's)\n")


# ---- our files ---------------------------------------------------------------------

def our_examples():
    out = []
    for op in SPEC_OPS:
        with open(os.path.join(DATA, "requests", op + ".json")) as f:
            for e in json.load(f):
                out.append((op, e["name"], e["body"]))
    return out


def table_rows():
    """op -> [field path] from daemon/mdes/spec_table.c."""
    with open(os.path.join(TOP, "daemon", "mdes", "spec_table.c")) as f:
        src = f.read()
    rows = {}
    for m in re.finditer(r"static const mdes_spec_row rows_(\w+)\[\] = \{(.*?)\n\};", src, re.S):
        rows[m.group(1)] = re.findall(r'\{ "([^"]+)", MDES_(\w+),', m.group(2))
    return rows


def paths_of(body, prefix=""):
    """Every field path a request body sends ("a.b", "tokens[].c")."""
    out = set()
    for k, v in body.items():
        p = prefix + k
        out.add(p)
        if isinstance(v, dict):
            out |= paths_of(v, p + ".")
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for e in v:
                out |= paths_of(e, p + "[].")
    return out


def coverage():
    """Every field of the table is sent by some example of its operation."""
    rows, sent = table_rows(), {}
    for op, _, body in our_examples():
        sent.setdefault(op, set()).update(paths_of(body))
    for op in SPEC_OPS:
        if op not in rows:
            sys.exit("spec.py: daemon/mdes/spec_table.c has no table for %s" % op)
        missing = [p for p, _ in rows[op] if p not in sent.get(op, set())]
        if missing:
            sys.exit("tests/data/mdes/requests/%s.json: no example sends %s" % (op, ", ".join(missing)))


def our_validator(name):
    with open(os.path.join(DATA, "responses.schema.json")) as f:
        schema = json.load(f)
    schema = dict(schema, **{"$ref": "#/definitions/" + name})
    return jsonschema.Draft7Validator(schema)


# ---- the spec's documents -------------------------------------------------------------

def fix_refs(node):
    if isinstance(node, dict):
        for k, v in list(node.items()):
            if k == "$ref" and isinstance(v, str):
                node[k] = v.replace("#/components/schemas/", "#/definitions/")
            else:
                fix_refs(v)
    elif isinstance(node, list):
        for v in node:
            fix_refs(v)
    return node


def spec_validator(doc, name, hex_data):
    """A JSON Schema (draft 4) for component `name` of doc. With hex_data,
    encryptedData is a hex string, as on the wire."""
    comps = json.loads(json.dumps(doc["components"]["schemas"]))
    if hex_data:
        for s in comps.values():
            props = s.get("properties") or {}
            if "encryptedData" in props:
                props["encryptedData"] = {"type": "string", "pattern": "^[0-9A-Fa-f]+$"}
    return jsonschema.Draft4Validator(fix_refs({"$ref": "#/definitions/" + name, "definitions": comps}))


def deref(doc, s):
    while "$ref" in s:
        s = doc["components"]["schemas"][s["$ref"].split("/")[-1]]
    return s


def value_of(doc, p, name, everything):
    p = deref(doc, p)
    t = p.get("type", "object" if "properties" in p else "string")
    if name == "encryptedData":
        return "00" * 16
    if t == "object" or "properties" in p:
        req = set(p.get("required", []))
        return {k: value_of(doc, v, k, everything)
                for k, v in (p.get("properties") or {}).items() if everything or k in req}
    if t == "array":
        return [value_of(doc, p.get("items") or {"type": "string"}, name, everything)]
    ex = p.get("example")
    if t in ("integer", "number"):
        try:
            return int(ex)
        except (TypeError, ValueError):
            return 1
    lo, hi = int(p.get("minLength", 1)), int(p.get("maxLength", 64))
    if isinstance(ex, list):
        ex = ex[0]
    s = str(ex) if ex is not None else "X"
    if len(s) < lo:
        s = (s * lo)[:lo]
    return s[:hi]


def spec_requests(doc, version):
    """The document's own request examples, and generated requests."""
    out = []
    for op, (req, _) in SPEC_OPS.items():
        if req not in doc["components"]["schemas"]:
            continue
        for rb in doc["components"]["requestBodies"].values():
            content = rb["content"]["application/json"]
            if content["schema"].get("$ref", "").endswith("/" + req):
                for ex_name, ex in (content.get("examples") or {}).items():
                    out.append((op, "spec %s example %s" % (version, ex_name), ex["value"]))
        schema = doc["components"]["schemas"][req]
        out.append((op, "spec %s every field" % version, value_of(doc, schema, "", True)))
        out.append((op, "spec %s required fields only" % version, value_of(doc, schema, "", False)))
    return out


def hex_payloads(body):
    """encryptedData as the network sends it: hex."""
    return json.loads(json.dumps(body), object_hook=lambda o: {
        k: ("00" * 16 if k == "encryptedData" and isinstance(x, dict) else x) for k, x in o.items()})


# ---- the commands ------------------------------------------------------------------------

def requests():
    coverage()
    docs = spec_docs()
    say(docs)
    seen = set()
    cases = [(op, name, body, "ours") for op, name, body in our_examples()]
    for _, doc, version in docs:
        cases += [(op, name, hex_payloads(body), "spec") for op, name, body in spec_requests(doc, version)]
    for op, name, body, source in cases:
        key = json.dumps([op, body], sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        # Only requests a document accepts are sent (one version's
        # request may use what only that version allows).
        why = []
        for path, doc, version in docs:
            if SPEC_OPS[op][0] not in doc["components"]["schemas"]:
                continue
            errs = sorted(spec_validator(doc, SPEC_OPS[op][0], True).iter_errors(body), key=str)
            if not errs:
                break
            why.append("%s: %s at %s" % (version, errs[0].message, "/".join(map(str, errs[0].path))))
        else:
            if docs:
                sys.exit("%s %s (%s): not a valid request by any spec document: %s" % (op, name, source, "; ".join(why)))
        print(json.dumps({"op": op, "name": name, "source": source, "body": body}))


def validate(files):
    docs = spec_docs()
    say(docs)
    n = 0
    for path in files:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                rec = json.loads(line)
                op, status, body = rec["op"], rec["status"], rec["body"]
                ours = "accountInformation" if op == PAYLOAD else op if status == 200 else "error"
                checks = [("our schema " + ours, our_validator(ours))]
                for _, doc, version in docs:
                    name = SPEC_PAYLOAD if op == PAYLOAD else SPEC_OPS[op][1] if status == 200 else "ErrorsResponse"
                    if name in doc["components"]["schemas"]:
                        # encryptedData is hex on the wire; its content is checked
                        # decrypted (getAccountInformation.encryptedData).
                        checks.append(("%s of the spec %s" % (name, version), spec_validator(doc, name, True)))
                for what, v in checks:
                    errs = sorted(v.iter_errors(body), key=str)
                    if errs:
                        sys.exit("%s:%d: %s answer (HTTP %s) does not validate against %s: %s at %s\n%s" % (
                            path, lineno, op, status, what, errs[0].message, "/".join(map(str, errs[0].path)),
                            json.dumps(body)))
                n += 1
    print("%d answers validate against our schemas%s" % (
        n, "" if not docs else " and %d spec documents" % len(docs)))


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in ("requests", "validate", "coverage"):
        sys.exit(__doc__)
    if sys.argv[1] == "requests":
        requests()
    elif sys.argv[1] == "coverage":
        coverage()
        print("every field of daemon/mdes/spec_table.c is sent by an example")
    else:
        validate(sys.argv[2:])
