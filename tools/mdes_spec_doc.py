"""tools/mdes_spec_doc.py: reading Mastercard's OpenAPI documents of the
MDES issuer outbound API (2.0.21 and 2.0.33), which are not in the
repository (tests/data/mdes/README.md says where they come from). Shared
by tools/mdes-spec-table.py and tests/mdes/spec.py. Needs python3-yaml.

Two things are done to a document as it is read, in memory:
  - timestamps stay strings (examples such as 2026-07-04T12:09:56Z);
  - the one known defect of 2.0.33 as published is repaired: a property
    typed `array(string)` with `maxLength: NA` (deviceInfo.paymentTypes)
    becomes an array of strings, so the document validates."""
import yaml


class Loader(yaml.SafeLoader):
    """A YAML loader that leaves timestamps as strings."""


Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _repair(node):
    if isinstance(node, dict):
        if node.get("type") == "array(string)":
            node["type"] = "array"
            node.setdefault("items", {"type": "string"})
            for k in ("minLength", "maxLength"):
                node.pop(k, None)
        for v in node.values():
            _repair(v)
    elif isinstance(node, list):
        for v in node:
            _repair(v)
    return node


def load(path):
    """The document at path, repaired."""
    with open(path) as f:
        return _repair(yaml.load(f, Loader=Loader))


def version(doc):
    """"2.0.21" of "2.0.21 (Document version)"."""
    return str(doc["info"]["version"]).split()[0]
