"""A compiled yes/no validator for the JSON Schema keywords the fabric's payloads use.

The router validates every envelope, and jsonschema spends ~300 us on one (it re-creates
a validator per subschema). `compile_schema` writes the schema out as straight-line Python
source (one function per object or array level, `return False` at the first failure) and
compiles it: ~5x faster than a tree of closures, a few microseconds per payload.
It is only a fast path: `compile_schema` returns None for any schema using a keyword it
does not implement (the manifests' if/then/else, for one), and whenever it says "invalid"
jsonschema is asked again for the verdict and the message. tests/core/fabric/test_module_envelope.py
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
}


class Unsupported(Exception):
    pass


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


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
               for i in range(len(items)) for j in range(i + 1, len(items)))


def compile_schema(schema: Any) -> Check | None:
    """A predicate equivalent to the schema, or None if it uses unsupported keywords."""
    gen = _Gen()
    try:
        entry = gen.function(schema)
    except Unsupported:
        return None
    namespace: dict[str, Any] = dict(gen.consts)
    namespace.update(json_equal=json_equal, _unique=_unique, _isnan=math.isnan)
    exec(compile("\n".join(gen.lines), "<fastcheck>", "exec"), namespace)  # noqa: S102
    return namespace[entry]


_NUM = "(isinstance({v}, (int, float)) and not isinstance({v}, bool))"
_TYPE_EXPR = {
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
    "number": _NUM,
    # JSON Schema: 1.0 is an integer.
    "integer": "((isinstance({v}, int) and not isinstance({v}, bool))"
               " or (isinstance({v}, float) and {v}.is_integer()))",
    "boolean": "isinstance({v}, bool)",
    "null": "{v} is None",
}
_COMPARE = {"minimum": ">=", "maximum": "<=", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
# Keywords that need their own function (they descend into the value).
_NESTED = {"properties", "additionalProperties", "propertyNames", "items", "allOf"}


class _Gen:
    """Writes Python source for a schema: each function returns False at the first failed
    keyword and True at the end; constants (patterns, enums) are module globals."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.consts: dict[str, Any] = {}

    def const(self, value: Any) -> str:
        name = f"_c{len(self.consts)}"
        self.consts[name] = value
        return name

    def function(self, schema: Any) -> str:
        name = f"_f{len(self.consts)}"
        self.consts[name] = None  # reserve the name
        body: list[str] = []
        self.checks(schema, "v", body, 1)
        self.lines += [f"def {name}(v):", *body, "    return True", ""]
        return name

    def checks(self, s: Any, v: str, out: list[str], depth: int) -> None:
        """Append to `out` the statements that return False unless `v` matches `s`."""
        pad = "    " * depth
        if s is True:
            return
        if s is False:
            out.append(f"{pad}return False")
            return
        if not isinstance(s, Mapping):
            raise Unsupported(repr(s))
        unknown = set(s) - SUPPORTED
        if unknown:
            raise Unsupported(str(sorted(unknown)))

        def fail_if(cond: str) -> None:
            out.append(f"{pad}if {cond}:")
            out.append(f"{pad}    return False")

        if "type" in s:
            names: Any = s["type"] if isinstance(s["type"], list) else [s["type"]]
            if not all(n in _TYPE_EXPR for n in names):
                raise Unsupported(f"type {names}")
            fail_if("not (" + " or ".join(_TYPE_EXPR[n].format(v=v) for n in names) + ")")
        if "enum" in s:
            options = list(s["enum"])
            if options and all(isinstance(o, str) for o in options):
                fail_if(f"not (isinstance({v}, str) and {v} in {self.const(frozenset(options))})")
            else:
                fail_if(f"not any(json_equal({v}, x) for x in {self.const(options)})")
        if "const" in s:
            c = s["const"]
            if isinstance(c, str):
                fail_if(f"not (isinstance({v}, str) and {v} == {self.const(c)})")
            else:
                fail_if(f"not json_equal({v}, {self.const(c)})")
        # Strings.
        if "pattern" in s:
            rx = self.const(re.compile(s["pattern"]))
            fail_if(f"isinstance({v}, str) and {rx}.search({v}) is None")
        if "minLength" in s:
            fail_if(f"isinstance({v}, str) and len({v}) < {int(s['minLength'])}")
        if "maxLength" in s:
            fail_if(f"isinstance({v}, str) and len({v}) > {int(s['maxLength'])}")
        # Numbers.
        for key, op in _COMPARE.items():
            if key in s:
                n = self.const(s[key])
                fail_if(f"{_NUM.format(v=v)} and (_isnan({v}) or not ({v} {op} {n}))")
        # Arrays.
        if "minItems" in s:
            fail_if(f"isinstance({v}, list) and len({v}) < {int(s['minItems'])}")
        if "maxItems" in s:
            fail_if(f"isinstance({v}, list) and len({v}) > {int(s['maxItems'])}")
        if s.get("uniqueItems") is True:
            fail_if(f"isinstance({v}, list) and not _unique({v})")
        if "items" in s:
            item = self.sub(s["items"])
            fail_if(f"isinstance({v}, list) and not all({item}(x) for x in {v})")
        # Objects.
        if "required" in s and s["required"]:
            have = " and ".join(f"{self.const(k)} in {v}" for k in s["required"])
            fail_if(f"isinstance({v}, dict) and not ({have})")
        if "minProperties" in s:
            fail_if(f"isinstance({v}, dict) and len({v}) < {int(s['minProperties'])}")
        if "maxProperties" in s:
            fail_if(f"isinstance({v}, dict) and len({v}) > {int(s['maxProperties'])}")
        props: dict[str, Any] = s.get("properties") or {}
        extra = s.get("additionalProperties")
        names = s.get("propertyNames")
        if props or extra is not None or names is not None:
            out.append(f"{pad}if isinstance({v}, dict):")
            inner = pad + "    "
            for key, sub in props.items():
                if sub is True:
                    continue
                k = self.const(key)
                out.append(f"{inner}if {k} in {v}:")
                if self.simple(sub):
                    x = f"x{depth}"
                    out.append(f"{inner}    {x} = {v}[{k}]")
                    self.checks(sub, x, out, depth + 2)
                else:
                    out.append(f"{inner}    if not {self.sub(sub)}({v}[{k}]):")
                    out.append(f"{inner}        return False")
            if names is not None and names is not True:
                f = self.sub(names)
                out.append(f"{inner}for k in {v}:")
                out.append(f"{inner}    if not {f}(k):")
                out.append(f"{inner}        return False")
            if extra is False:
                known = self.const(frozenset(props))
                out.append(f"{inner}if not {known}.issuperset({v}):")
                out.append(f"{inner}    return False")
            elif extra is not None and extra is not True:
                f, known = self.sub(extra), self.const(frozenset(props))
                out.append(f"{inner}for k, x in {v}.items():")
                out.append(f"{inner}    if k not in {known} and not {f}(x):")
                out.append(f"{inner}        return False")
        for sub in s.get("allOf", ()):
            if self.simple(sub):
                self.checks(sub, v, out, depth)
            else:
                fail_if(f"not {self.sub(sub)}({v})")

    @staticmethod
    def simple(s: Any) -> bool:
        """True if `s` checks only the value itself (inlined; nesting stays shallow)."""
        return isinstance(s, Mapping) and not (set(s) & _NESTED)

    def sub(self, schema: Any) -> str:
        return self.function(schema)
