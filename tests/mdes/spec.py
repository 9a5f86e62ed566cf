#!/usr/bin/python3
"""tests/mdes/spec.py: MDES's OpenAPI documents as a test oracle, with
Debian's python3-jsonschema and python3-yaml.

  spec.py requests SPEC.yaml...        one JSON line per request to send:
      {"op": "authorizeService", "name": "...", "body": {...}}
      - every `examples` value the documents give for a request body;
      - for each operation, a request with EVERY property the documents
        declare (the union of both versions), each set to its `example`
        (or a value of its type and length), so every optional field is
        sent at least once; and one with the required fields only.
      Each is first validated against its request schema here: the test
      sends only requests the spec itself accepts.
  spec.py validate SPEC.yaml FILE...    every answer recorded in FILE
      (lines {"op": ..., "status": ..., "body": {...}}) validated against
      the operation's response schema (200) or ErrorsResponse (others),
      in every document given; exit 1 naming the first that fails.

The encryptedData of a request is modelled by the spec as the object it
decrypts to; on the wire it is hex (the test puts a real one in)."""
import json
import sys

import jsonschema
import yaml

OPS = {
    "authorizeService": ("AuthorizeServiceRequestSchema", "AuthorizeServiceResponseSchema"),
    "requestActivationMethods": ("requestActivationMethodsRequestSchema",
                                 "requestActivationMethodsResponseSchema"),
    "deliverActivationCode": ("DeliverActivationCodeRequestSchema", "DeliverActivationCodeResponseSchema"),
    "notifyServiceActivated": ("NotifyServiceActivatedRequestSchema", "NotifyServiceActivatedResponseSchema"),
    "notifyTokenUpdated": ("NotifyTokenUpdatedRequestSchema", "NotifyTokenUpdatedResponseSchema"),
}


class Loader(yaml.SafeLoader):
    """Timestamps stay strings (examples such as 2026-07-04T12:09:56Z)."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load(path):
    with open(path) as f:
        return yaml.load(f, Loader=Loader)


def schema_of(doc, name, hex_data):
    """A JSON Schema (draft 4) for component `name`, refs resolved against
    the document. With hex_data, encryptedData is a hex string."""
    comps = json.loads(json.dumps(doc["components"]["schemas"]))
    if hex_data:
        for s in comps.values():
            props = s.get("properties") or {}
            if "encryptedData" in props:
                props["encryptedData"] = {"type": "string", "pattern": "^[0-9A-Fa-f]+$"}
    return {"$ref": "#/definitions/" + name, "definitions": comps}


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


def validator(doc, name, hex_data=True):
    s = fix_refs(schema_of(doc, name, hex_data))
    return jsonschema.Draft4Validator(s)


def deref(doc, s):
    while "$ref" in s:
        s = doc["components"]["schemas"][s["$ref"].split("/")[-1]]
    return s


def value_of(doc, p, name, everything, depth=0):
    p = deref(doc, p)
    t = p.get("type", "object" if "properties" in p else "string")
    if name == "encryptedData":
        return "00" * 16
    if t == "object" or "properties" in p:
        out = {}
        req = set(p.get("required", []))
        for k, v in (p.get("properties") or {}).items():
            if everything or k in req:
                out[k] = value_of(doc, v, k, everything, depth + 1)
        return out
    if t == "array":
        items = p.get("items") or {"type": "string"}
        return [value_of(doc, items, name, everything, depth + 1)]
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


def requests(paths):
    docs = [load(p) for p in paths]
    seen = set()
    for doc in docs:
        version = doc["info"]["version"].split()[0]
        for op, (req, _) in OPS.items():
            if req not in doc["components"]["schemas"]:
                continue
            v = validator(doc, req, hex_data=True)
            body_ref = doc["components"]["requestBodies"]
            cases = []
            for rb in body_ref.values():
                sch = rb["content"]["application/json"]["schema"].get("$ref", "")
                if sch.endswith("/" + req):
                    for ex_name, ex in (rb["content"]["application/json"].get("examples") or {}).items():
                        cases.append(("example %s (%s)" % (ex_name, version), ex["value"]))
            schema = doc["components"]["schemas"][req]
            cases.append(("every field (%s)" % version, value_of(doc, schema, "", True)))
            cases.append(("required fields only (%s)" % version, value_of(doc, schema, "", False)))
            for name, body in cases:
                # Hex on the wire, as the network sends it.
                body = json.loads(json.dumps(body), object_hook=lambda o: {
                    k: ("00" * 16 if k == "encryptedData" and isinstance(x, dict) else x) for k, x in o.items()})
                key = json.dumps([op, body], sort_keys=True)
                if key in seen:
                    continue
                seen.add(key)
                errs = sorted(v.iter_errors(body), key=str)
                if errs:
                    sys.exit("%s %s: not a valid request by the spec: %s" % (op, name, errs[0].message))
                print(json.dumps({"op": op, "name": name, "body": body}))


def validate(spec_paths, files):
    docs = [load(p) for p in spec_paths]
    n = 0
    for path in files:
        with open(path) as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                rec = json.loads(line)
                op, status, body = rec["op"], rec["status"], rec["body"]
                for doc in docs:
                    name = OPS[op][1] if status == 200 else "ErrorsResponse"
                    errs = sorted(validator(doc, name, hex_data=False).iter_errors(body), key=str)
                    if errs:
                        sys.exit("%s:%d: %s answer (HTTP %s) does not validate against %s of %s: %s\n%s" % (
                            path, lineno, op, status, name, doc["info"]["version"], errs[0].message,
                            json.dumps(body)))
                    if status != 200 and "errorCode" not in body:
                        sys.exit("%s:%d: an error without errorCode" % (path, lineno))
                n += 1
    print("%d answers validate against %d documents" % (n, len(docs)))


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] not in ("requests", "validate"):
        sys.exit(__doc__)
    if sys.argv[1] == "requests":
        requests(sys.argv[2:])
    else:
        specs = [a for a in sys.argv[2:] if a.endswith(".yaml")]
        validate(specs, [a for a in sys.argv[2:] if not a.endswith(".yaml")])
