"""A compiled yes/no validator for the JSON Schema keywords the fabric's payloads use.

The router validates every envelope, and jsonschema spends ~300 us on one (it re-creates
a validator per subschema); this closure tree answers "valid?" in a few microseconds.
It is only a fast path: `compile_schema` returns None for any schema using a keyword it
does not implement (the manifests' if/then/else, for one), and whenever it says "invalid"
jsonschema is asked again for the verdict and the message. tests/test_module_envelope.py
checks the two agree on thousands of mutated instances. Schemas must have their $refs
inlined first (contracts.py does).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

Check = Callable[[Any], bool]

ANNOTATIONS = {"description", "title", "$id", "$schema", "$defs", "x-lotus-intent", "$comment"}
SUPPORTED = ANNOTATIONS | {
    "type", "properties", "required", "additionalProperties", "enum", "const", "pattern",
    "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
    "minItems", "maxItems", "uniqueItems", "items", "propertyNames", "minProperties",
    "maxProperties", "allOf",
}  # fmt: skip


class Unsupported(Exception):
    pass


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "number": _is_number,
    # JSON Schema: 1.0 is an integer.
    "integer": lambda v: _is_number(v) and (isinstance(v, int) or float(v).is_integer()),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but true != 1; objects and arrays compared deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _unique(items: list[Any]) -> bool:
    return all(not json_equal(items[i], items[j])
               for i in range(len(items)) for j in range(i + 1, len(items)))  # fmt: skip


def compile_schema(schema: Any) -> Check | None:
    """A predicate equivalent to the schema, or None if it uses unsupported keywords."""
    try:
        return _compile(schema)
    except Unsupported:
        return None


def _compile(schema: Any) -> Check:
    if schema is True:
        return lambda v: True
    if schema is False:
        return lambda v: False
    if not isinstance(schema, Mapping):
        raise Unsupported(repr(schema))
    unknown = set(schema) - SUPPORTED
    if unknown:
        raise Unsupported(str(sorted(unknown)))
    checks: list[Check] = []
    s = schema

    if "type" in s:
        names = s["type"] if isinstance(s["type"], list) else [s["type"]]
        preds = [TYPES[n] for n in names]
        checks.append(lambda v, preds=preds: any(p(v) for p in preds))
    if "enum" in s:
        options = list(s["enum"])
        checks.append(lambda v, o=options: any(json_equal(v, x) for x in o))
    if "const" in s:
        checks.append(lambda v, c=s["const"]: json_equal(v, c))

    # Strings.
    if "pattern" in s:
        rx = re.compile(s["pattern"])
        checks.append(lambda v, rx=rx: not isinstance(v, str) or rx.search(v) is not None)
    if "minLength" in s:
        checks.append(lambda v, n=s["minLength"]: not isinstance(v, str) or len(v) >= n)
    if "maxLength" in s:
        checks.append(lambda v, n=s["maxLength"]: not isinstance(v, str) or len(v) <= n)

    # Numbers.
    for key, ok in (
        ("minimum", lambda v, n: v >= n),
        ("maximum", lambda v, n: v <= n),
        ("exclusiveMinimum", lambda v, n: v > n),
        ("exclusiveMaximum", lambda v, n: v < n),
    ):
        if key in s:
            checks.append(
                lambda v, n=s[key], ok=ok: not _is_number(v) or (not math.isnan(v) and ok(v, n))
            )

    # Arrays.
    if "minItems" in s:
        checks.append(lambda v, n=s["minItems"]: not isinstance(v, list) or len(v) >= n)
    if "maxItems" in s:
        checks.append(lambda v, n=s["maxItems"]: not isinstance(v, list) or len(v) <= n)
    if s.get("uniqueItems") is True:
        checks.append(lambda v: not isinstance(v, list) or _unique(v))
    if "items" in s:
        item = _compile(s["items"])
        checks.append(lambda v, item=item: not isinstance(v, list) or all(item(x) for x in v))

    # Objects.
    if "required" in s:
        req = list(s["required"])
        checks.append(lambda v, req=req: not isinstance(v, dict) or all(k in v for k in req))
    if "minProperties" in s:
        checks.append(lambda v, n=s["minProperties"]: not isinstance(v, dict) or len(v) >= n)
    if "maxProperties" in s:
        checks.append(lambda v, n=s["maxProperties"]: not isinstance(v, dict) or len(v) <= n)
    props = {k: _compile(sub) for k, sub in s.get("properties", {}).items()}
    extra = _compile(s["additionalProperties"]) if "additionalProperties" in s else None
    names = _compile(s["propertyNames"]) if "propertyNames" in s else None
    if props or extra is not None or names is not None:

        def objects(v: Any, props=props, extra=extra, names=names) -> bool:
            if not isinstance(v, dict):
                return True
            for k, x in v.items():
                if names is not None and not names(k):
                    return False
                check = props.get(k, extra)
                if check is not None and not check(x):
                    return False
            return True

        checks.append(objects)
    for sub in s.get("allOf", ()):
        checks.append(_compile(sub))

    if len(checks) == 1:
        return checks[0]
    return lambda v, checks=tuple(checks): all(c(v) for c in checks)
