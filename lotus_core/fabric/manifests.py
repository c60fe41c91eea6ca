"""Module manifests and the model map, loaded and cross-checked at start-up.

    registry = load_modules()        # raises ManifestError("<file>: <key>: <problem>")
    registry.modules["sig"].priors["kr.theta_min"].max
    registry.map.allowed("sig", "dm", "ALPHA_PROPOSED")

Files (package data under lotus_core/fabric/):
    tables.yaml              column templates (strand, queue, priors) and the shared tables
    modules/<m>/module.yaml  a module's tables, strand kinds, intents, priors knobs with caps
    models.map.yaml          who may tag whom with which intent; key file; routing defaults

Besides each file's shape (JSON Schemas `manifest-*.json`), the loader checks that the
files agree: a module's emits/listens lists equal the map's routes from/into it, every
PRIOR_PATCH route has its PRIOR_PATCH_APPLIED answer, caps contain defaults, and so on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from lotus_core.fabric.contracts import contracts, error_path
from lotus_core.fabric.names import MODULES

SCHEMA_TABLES = "urn:lotus:schema:manifest-tables-1.0"
SCHEMA_MODULE = "urn:lotus:schema:manifest-module-1.0"
SCHEMA_MAP = "urn:lotus:schema:manifest-map-1.0"
TEMPLATE_OF = {"strand": "strand", "inbox": "queue", "outbox": "queue", "priors": "priors"}


class ManifestError(ValueError):
    """A manifest or the model map is malformed or disagrees with another; names file and key."""


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    doc: str
    nullable: bool
    null_means: str | None = None
    unit: str | None = None
    range: tuple[float | None, float | None] | None = None
    enum: tuple[str, ...] | None = None
    default: str | None = None
    key: str | None = None
    shape: str | None = None
    min_items: int | None = None
    enum_since: tuple[tuple[str, int], ...] = ()  # (value, the later migration that added it)


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    unique: tuple[tuple[str, ...], ...] = ()
    template: str | None = None
    indexes: tuple[tuple[str, tuple[str, ...]], ...] = ()  # (name suffix, columns)
    migration: int | None = None  # the migration that creates a shared table

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def primary_key(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns if c.key == "primary")


@dataclass(frozen=True)
class Knob:
    """A priors knob: its default and the caps every change is clamped to."""

    key: str
    default: float
    min: float
    max: float
    max_step: float
    unit: str
    doc: str


@dataclass(frozen=True)
class IntentUse:
    intent: str
    doc: str
    handler: str | None = None


@dataclass(frozen=True)
class ModuleManifest:
    name: str
    version: int
    title: str
    doc: str
    path: Path
    tables: Mapping[str, Table]
    strand_kinds: tuple[str, ...]
    own_columns: tuple[Column, ...]
    emits: Mapping[str, IntentUse]
    listens: Mapping[str, IntentUse]
    priors: Mapping[str, Knob]

    @property
    def strand(self) -> Table:
        return self.tables[f"{self.name}_strand"]


@dataclass(frozen=True)
class Routing:
    delivery: str
    max_attempts: int
    backoff_base_sec: float
    backoff_max_sec: float

    def backoff_sec(self, attempts: int) -> float:
        """Delay before the next try after `attempts` failures: base * 2**(n-1), capped."""
        if attempts < 1:
            return 0.0
        return min(self.backoff_max_sec, self.backoff_base_sec * 2 ** (attempts - 1))


@dataclass(frozen=True)
class ModelsMap:
    path: Path
    may_tag: Mapping[str, Mapping[str, frozenset[str]]]
    public_keys_file: str
    routing: Routing

    def allowed(self, sender: str, target: str, intent: str) -> bool:
        return intent in self.may_tag.get(sender, {}).get(target, frozenset())

    def targets(self, sender: str, intent: str) -> tuple[str, ...]:
        """Modules `sender` may send `intent` to, in MODULES order."""
        routes = self.may_tag.get(sender, {})
        return tuple(m for m in MODULES if intent in routes.get(m, frozenset()))

    def into(self, target: str) -> dict[str, frozenset[str]]:
        """Sender -> intents it may put into `target`'s inbox."""
        out: dict[str, frozenset[str]] = {}
        for sender in MODULES:
            intents = self.may_tag.get(sender, {}).get(target)
            if intents:
                out[sender] = intents
        return out


@dataclass(frozen=True)
class ModuleRegistry:
    """Everything the manifests say, cross-checked. Build it with `load_modules()`."""

    root: Path
    modules: Mapping[str, ModuleManifest]
    map: ModelsMap
    shared_tables: Mapping[str, Table]
    templates: Mapping[str, Table] = field(repr=False)

    def tables(self) -> dict[str, Table]:
        """Every table of the module fabric (migration 0002) by name, modules first."""
        out: dict[str, Table] = {}
        for m in MODULES:
            out.update(self.modules[m].tables)
        out.update(self.shared_tables)
        return out


# --- loading ----------------------------------------------------------------------------


def default_root() -> Path:
    return Path(__file__).resolve().parent


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ManifestError(f"{path}: file is missing") from None
    except (OSError, yaml.YAMLError) as exc:
        raise ManifestError(f"{path}: not readable YAML: {exc}") from exc


def _check_shape(path: Path, body: Any, schema_id: str) -> None:
    validator = contracts().validators[schema_id]
    errors = sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
    if errors:
        from jsonschema.exceptions import best_match

        err = best_match(errors)
        where = error_path("", err).lstrip(".") or "(top level)"
        raise ManifestError(f"{path}: {where}: {err.message}")


def _column(raw: Mapping[str, Any], module: str | None, path: Path, where: str) -> Column:
    def fill(v: Any) -> Any:
        return v.replace("{module}", module) if isinstance(v, str) and module else v

    rng = raw.get("range")
    col = Column(
        name=raw["name"],
        type=raw["type"],
        doc=raw["doc"],
        nullable=raw["nullable"],
        null_means=raw.get("null_means"),
        unit=raw.get("unit"),
        range=(rng[0], rng[1]) if rng is not None else None,
        enum=tuple(fill(v) for v in raw["enum"]) if "enum" in raw else None,
        default=fill(raw.get("default")),
        key=raw.get("key"),
        shape=raw.get("shape"),
        min_items=raw.get("min_items"),
        enum_since=tuple(sorted((str(k), int(v)) for k, v in raw.get("enum_since", {}).items())),
    )
    lo, hi = col.range if col.range is not None else (None, None)
    if lo is not None and hi is not None and lo > hi:
        raise ManifestError(f"{path}: {where}.range: min {lo} > max {hi}")
    if col.key == "primary" and col.nullable:
        raise ManifestError(f"{path}: {where}.nullable: a primary key column cannot be nullable")
    stray = [v for v, _ in col.enum_since if v not in (col.enum or ())]
    if stray:
        raise ManifestError(f"{path}: {where}.enum_since: {stray} not in its enum")
    if col.enum is not None and col.default is not None and col.default not in col.enum:
        raise ManifestError(f"{path}: {where}.default: {col.default!r} is not in its enum")
    if col.default is not None and col.default not in ("now", "auto"):
        _check_default(col, path, where)
    return col


def _check_default(col: Column, path: Path, where: str) -> None:
    text = col.default or ""
    ok = {
        "int": lambda: int(text) is not None,
        "bigint": lambda: int(text) is not None,
        "real": lambda: float(text) is not None,
        "bool": lambda: text in ("true", "false"),
        "json": lambda: yaml.safe_load(text) is not None,
        "text": lambda: True,
        "timestamp": lambda: False,
    }[col.type]
    try:
        good = ok()
    except ValueError:
        good = False
    if not good:
        raise ManifestError(f"{path}: {where}.default: {text!r} is not a {col.type} default")


def _table(name: str, raw: Mapping[str, Any], path: Path, where: str,
           prefix: tuple[Column, ...] = (), module: str | None = None,
           template: str | None = None) -> Table:
    cols = list(prefix)
    for i, c in enumerate(raw.get("columns", ())):
        cols.append(_column(c, module, path, f"{where}.columns[{i}]"))
    seen: set[str] = set()
    for i, c in enumerate(cols):
        if c.name in seen:
            raise ManifestError(f"{path}: {where}.columns: column {c.name!r} appears twice "
                                f"(#{i}; template columns count)")
        seen.add(c.name)
    unique = tuple(tuple(u) for u in raw.get("unique", ()))
    for u in unique:
        for c in u:
            if c not in seen:
                raise ManifestError(f"{path}: {where}.unique: no column {c!r}")
    indexes = tuple((suffix, tuple(cs)) for suffix, cs in raw.get("indexes", {}).items())
    for suffix, cs in indexes:
        for c in cs:
            if c not in seen:
                raise ManifestError(f"{path}: {where}.indexes.{suffix}: no column {c!r}")
    return Table(name=name, doc=raw["doc"], columns=tuple(cols), unique=unique,
                 template=template, indexes=indexes, migration=raw.get("migration"))


def _load_tables(root: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Table]]:
    path = root / "tables.yaml"
    body = _read(path)
    _check_shape(path, body, SCHEMA_TABLES)
    shared = {
        name: _table(name, raw, path, f"tables.{name}") for name, raw in body["tables"].items()
    }
    return body["templates"], shared


def _resolve_template(raw_templates: Mapping[str, Any], kind: str, module: str) -> Table:
    raw = raw_templates[kind]
    return _table(kind, raw, Path("tables.yaml"), f"templates.{kind}", module=module)


def _load_module(root: Path, module: str, raw_templates: Mapping[str, Any]) -> ModuleManifest:
    path = root / "modules" / module / "module.yaml"
    body = _read(path)
    _check_shape(path, body, SCHEMA_MODULE)
    if body["module"] != module:
        raise ManifestError(f"{path}: module: says {body['module']!r} but the folder is {module!r}")
    expected = {f"{module}_{suffix}": tpl for suffix, tpl in TEMPLATE_OF.items()}
    if set(body["tables"]) != set(expected):
        raise ManifestError(
            f"{path}: tables: must be exactly {sorted(expected)}, got {sorted(body['tables'])}"
        )
    tables: dict[str, Table] = {}
    kinds: tuple[str, ...] = ()
    own: tuple[Column, ...] = ()
    for name, tpl in expected.items():
        raw = body["tables"][name]
        where = f"tables.{name}"
        if raw["template"] != tpl:
            raise ManifestError(f"{path}: {where}.template: must be {tpl!r}")
        if tpl != "strand" and ("kinds" in raw or "columns" in raw):
            raise ManifestError(
                f"{path}: {where}: only the strand table has kinds and own columns"
            )
        base = _resolve_template(raw_templates, tpl, module)
        table = _table(name, raw, path, where, prefix=base.columns, module=module, template=tpl)
        table = Table(table.name, table.doc, table.columns, base.unique, tpl, base.indexes)
        tables[name] = table
        if tpl == "strand":
            if "kinds" not in raw:
                raise ManifestError(f"{path}: {where}.kinds: the strand must list its kinds")
            kinds = tuple(raw["kinds"])
            own = table.columns[len(base.columns) :]
    emits = _intent_uses(path, "intents.emits", body["intents"]["emits"], handlers=False)
    listens = _intent_uses(path, "intents.listens", body["intents"]["listens"], handlers=True)
    priors: dict[str, Knob] = {}
    for i, raw in enumerate(body["priors"]):
        where = f"priors[{i}]"
        knob = Knob(raw["key"], float(raw["default"]), float(raw["min"]), float(raw["max"]),
                    float(raw["max_step"]), raw["unit"], raw["doc"])
        if knob.key in priors:
            raise ManifestError(f"{path}: {where}.key: {knob.key!r} appears twice")
        if not knob.min <= knob.default <= knob.max:
            raise ManifestError(
                f"{path}: {where}: default {knob.default} is outside [min {knob.min}, "
                f"max {knob.max}]"
            )
        priors[knob.key] = knob
    return ModuleManifest(
        name=module, version=body["version"], title=body["title"], doc=body["doc"], path=path,
        tables=tables, strand_kinds=kinds, own_columns=own, emits=emits, listens=listens,
        priors=priors,
    )


def _intent_uses(path: Path, where: str, raw: list[dict[str, Any]], *, handlers: bool
                 ) -> dict[str, IntentUse]:
    out: dict[str, IntentUse] = {}
    for i, item in enumerate(raw):
        if item["intent"] in out:
            raise ManifestError(f"{path}: {where}[{i}].intent: {item['intent']} appears twice")
        if "handler" in item and not handlers:
            raise ManifestError(f"{path}: {where}[{i}].handler: only listened intents have one")
        out[item["intent"]] = IntentUse(item["intent"], item["doc"], item.get("handler"))
    return out


def _load_map(root: Path, modules: Mapping[str, ModuleManifest]) -> ModelsMap:
    path = root / "models.map.yaml"
    body = _read(path)
    _check_shape(path, body, SCHEMA_MAP)
    may_tag = {
        sender: {target: frozenset(intents) for target, intents in targets.items()}
        for sender, targets in body["may_tag"].items()
    }
    routing = Routing(**body["routing"])
    if routing.backoff_base_sec > routing.backoff_max_sec:
        raise ManifestError(f"{path}: routing.backoff_base_sec: larger than backoff_max_sec")
    models_map = ModelsMap(path, may_tag, body["security"]["public_keys"], routing)
    for m in MODULES:
        manifest = modules[m]
        sent = {i for intents in may_tag.get(m, {}).values() for i in intents}
        received = {i for intents in models_map.into(m).values() for i in intents}
        for label, declared, routed in (("emits", manifest.emits, sent),
                                        ("listens", manifest.listens, received)):
            if set(declared) != routed:
                only_manifest = sorted(set(declared) - routed)
                only_map = sorted(routed - set(declared))
                raise ManifestError(
                    f"{path}: may_tag: {m}'s routes disagree with {manifest.path} "
                    f"intents.{label}: only in the manifest {only_manifest}, only in the map "
                    f"{only_map}"
                )
    for sender, targets in may_tag.items():
        for target, intents in targets.items():
            if "PRIOR_PATCH" in intents and not models_map.allowed(
                target, sender, "PRIOR_PATCH_APPLIED"
            ):
                raise ManifestError(
                    f"{path}: may_tag.{target}.{sender}: {sender} may send PRIOR_PATCH to "
                    f"{target}, so {target} must be able to answer PRIOR_PATCH_APPLIED"
                )
    return models_map


def load_modules(root: Path | str | None = None) -> ModuleRegistry:
    """Load and cross-check every manifest under `root` (default: this package's files).

    The default is loaded once per process; pass `root` (a copy of the folder) to check
    edited manifests. Raises ManifestError naming the file and key at fault.
    """
    if root is None:
        return _load_default()
    return _load(Path(root))


@cache
def _load_default() -> ModuleRegistry:
    return _load(default_root())


def _load(root: Path) -> ModuleRegistry:
    raw_templates, shared = _load_tables(root)
    folder = root / "modules"
    found = sorted(p.name for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []
    if found != sorted(MODULES):
        raise ManifestError(f"{folder}: expected module folders {sorted(MODULES)}, got {found}")
    modules: dict[str, ModuleManifest] = {m: _load_module(root, m, raw_templates)
                                          for m in MODULES}
    models_map = _load_map(root, modules)
    templates = {k: _resolve_template(raw_templates, k, "{module}") for k in raw_templates}
    clash = set(shared) & {t for m in modules.values() for t in m.tables}
    if clash:
        raise ManifestError(f"{root / 'tables.yaml'}: tables: {sorted(clash)} clash with modules")
    return ModuleRegistry(root=root, modules=modules, map=models_map, shared_tables=shared,
                          templates=templates)
