"""The JSON Schemas of the fabric (`schemas/*.json`, draft 2020-12), loaded once and compiled.

Each payload schema names its intent in `x-lotus-intent`; an envelope's `schema_ref` must be
the `$id` of a payload schema for its intent. Validation errors name the failing path
(`envelope.payload.sigbus.signal`) so a dead letter says exactly what was wrong.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from lotus_core.fabric.fastcheck import Check, compile_schema
from lotus_core.fabric.names import INTENTS

if TYPE_CHECKING:  # jsonschema is imported when the schemas are first loaded (`contracts`)
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import ValidationError

ENVELOPE_ID = "urn:lotus:schema:envelope-1.0"
ID_PREFIX = "urn:lotus:schema:"


@dataclass(frozen=True)
class Contracts:
    """Every schema by `$id`, a compiled validator per schema, and each intent's payload ids."""

    schemas: Mapping[str, Mapping[str, Any]]
    validators: Mapping[str, Draft202012Validator]
    by_intent: Mapping[str, tuple[str, ...]]
    fast: Mapping[str, Check]  # compiled yes/no checks where fastcheck supports the schema

    def current(self, intent: str) -> str:
        """The newest payload schema id for `intent` (what new envelopes declare)."""
        return self.by_intent[intent][-1]


def _load_files() -> dict[str, dict[str, Any]]:
    from jsonschema import Draft202012Validator

    folder = resources.files("lotus_core.fabric") / "schemas"
    out: dict[str, dict[str, Any]] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".json"):
            continue
        schema = json.loads(entry.read_text(encoding="utf-8"))
        sid = schema.get("$id", "")
        if not sid.startswith(ID_PREFIX) or sid in out:
            raise ValueError(f"schemas/{entry.name}: missing, foreign or duplicate $id {sid!r}")
        Draft202012Validator.check_schema(schema)
        out[sid] = schema
    return out


@cache
def contracts() -> Contracts:
    """The fabric's schemas, loaded and checked once per process."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    schemas = _load_files()
    registry: Registry = Registry().with_resources(
        (sid, Resource.from_contents(s, default_specification=DRAFT202012))
        for sid, s in schemas.items()
    )
    # Validators get each schema with every $ref inlined: resolving references is most of
    # jsonschema's time, and none of ours is recursive.
    inlined = {sid: _inline(s, s, schemas) for sid, s in schemas.items()}
    validators = {sid: Draft202012Validator(s, registry=registry) for sid, s in inlined.items()}
    fast = {sid: c for sid, s in inlined.items() if (c := compile_schema(s)) is not None}
    by_intent: dict[str, list[str]] = {i: [] for i in INTENTS}
    for sid, s in schemas.items():
        intent = s.get("x-lotus-intent")
        if intent is not None:
            if intent not in by_intent:
                raise ValueError(f"schema {sid}: x-lotus-intent {intent!r} is not an intent")
            by_intent[intent].append(sid)
    missing = [i for i, ids in by_intent.items() if not ids]
    if missing:
        raise ValueError(f"no payload schema for intents {missing}")
    # Version order: ids differ only in their trailing version, so a natural sort works.
    ordered = {i: tuple(sorted(ids, key=_version_key)) for i, ids in by_intent.items()}
    return Contracts(schemas=schemas, validators=validators, by_intent=ordered, fast=fast)


def _resolve(ref: str, doc: Mapping[str, Any], schemas: Mapping[str, Any]) -> tuple[Any, Any]:
    """The (subschema, its document) that `ref` names, from `doc` or another schema."""
    uri, _, pointer = ref.partition("#")
    target = schemas[uri] if uri else doc
    node: Any = target
    for part in filter(None, pointer.split("/")):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node, target


def _inline(node: Any, doc: Mapping[str, Any], schemas: Mapping[str, Any], depth: int = 0) -> Any:
    """`node` with every {"$ref": ...} replaced by what it names (siblings kept via allOf
    unless they are only annotations)."""
    if depth > 50:
        raise ValueError("schema $refs nest too deep (a cycle?)")
    if isinstance(node, list):
        return [_inline(v, doc, schemas, depth) for v in node]
    if not isinstance(node, Mapping):
        return node
    if isinstance(node.get("$ref"), str):
        target, target_doc = _resolve(node["$ref"], doc, schemas)
        resolved = _inline(target, target_doc, schemas, depth + 1)
        resolved = {k: v for k, v in resolved.items() if k not in ("$id", "$schema", "$defs")}
        siblings = {k: _inline(v, doc, schemas, depth) for k, v in node.items() if k != "$ref"}
        if set(siblings) <= {"description", "title"}:
            return {**resolved, **siblings}
        return {**siblings, "allOf": [*siblings.get("allOf", []), resolved]}
    return {k: _inline(v, doc, schemas, depth) for k, v in node.items()}


def _version_key(sid: str) -> tuple[int, ...]:
    tail = sid.rsplit("-", 1)[-1]
    return tuple(int(p) if p.isdigit() else 0 for p in tail.split("."))


def error_path(root: str, error: ValidationError) -> str:
    """`root.a.b[3].c` for the instance location of `error`."""
    out = root
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def first_error(schema_id: str, instance: Any, root: str) -> str | None:
    """None when `instance` is valid against `schema_id`, else one clear message with its path."""
    fast = contracts().fast.get(schema_id)
    if fast is not None and fast(instance):
        return None
    validator = contracts().validators[schema_id]
    if validator.is_valid(instance):  # the fast path is never the last word on "invalid"
        return None
    from jsonschema.exceptions import best_match

    error = best_match(validator.iter_errors(instance))
    return f"{error_path(root, error)}: {error.message} (schema {schema_id})"
