"""The one owner of the priors tables (`<module>_priors`, `sig_priors_snapshot`): every
SELECT, INSERT and the meaning of "the set in force" live here (docs/priors.md).

Two conventions share a module's priors table, told apart by key:

- Patch sets (sig_priors' patch/, cap/ and edge/ rows): each written whole under one new
  version with a before/after row in sig_priors_snapshot; read as the newest version
  (`read_active_priors`, the live daemon), by version, or as the set in force for a scoring
  day (`read_priors_for_date`, and its parsed form `active_priors_for_date`); diffed,
  rolled back. Writes are idempotent per source, so re-running a Dagster partition adds no
  version, and a rollback is itself a new version (history is never rewritten).
- Manifest knobs (`kr.theta_min`, `exec.max_slippage_bps`, ...; any module): per-key
  versions, each change clamped to the manifest's caps (`set_prior`, the PRIOR_PATCH
  handler's write; `current_priors`, `priors_version`).

The Trader's execution priors (`module="tr"`: tr_priors and tr_priors_snapshot,
docs/trader.md) and the chart priors (`module="vis"`: vis_priors and vis_priors_snapshot,
docs/vision.md) use the patch-set convention too: every patch-set read, write, diff and rollback
takes `module` (default "sig"). Which rows a module accepts is its own business
(`write_rows` takes them validated; `write_patch_set` validates sig's).

Every function takes an open `OpsDb` (or a `Db`/`Tx` where it says so), runs its own
transaction unless given one, and works the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date as Date
from datetime import datetime
from typing import Any, Literal

from lotus_core.fabric.codec import json_out, ts_in, ts_out, utc_now
from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.manifests import Knob, load_modules
from lotus_core.fabric.names import check_module, priors_table
from lotus_core.signals.config import ScoringConfig
from lotus_core.signals.context import CondKeyError, canonical_cond_key
from lotus_core.signals.priors import CAP_PREFIX, NO_PRIORS, PATCH_PREFIX, ActivePriors, Patch
from lotus_core.signals.priors import parse_priors as _parse_priors
from lotus_core.store.connection import Tx
from lotus_core.store.dialect import sql_dialect
from lotus_core.store.opsdb import OpsDb

EDGE_PREFIX = "edge/"
PRIORS_TABLE = priors_table("sig")  # the table whose patch/, cap/, edge/ rows are patch sets
SNAPSHOT_TABLE = f"{PRIORS_TABLE}_snapshot"
_LOCK = f"{PRIORS_TABLE}:patch_set"  # writers of patch sets take versions in turn
# Keys that belong to a patch set: a set is always written whole under one version, so
# these prefixes together define "the rows of version N".
SET_PREFIXES = (PATCH_PREFIX, CAP_PREFIX, EDGE_PREFIX)
NIGHTLY_SOURCE = "active_priors:"  # + the day whose outcomes the set was compiled from
SET_WHERE = "(" + " OR ".join("key LIKE ?" for _ in SET_PREFIXES) + ")"
SET_LIKES = tuple(p + "%" for p in SET_PREFIXES)
_ACTIVE = (f"SELECT key, version, value FROM {PRIORS_TABLE} WHERE {SET_WHERE} AND version = "
           f"(SELECT MAX(version) FROM {PRIORS_TABLE} WHERE {SET_WHERE}) ORDER BY key")
_EDGE_KEY = re.compile(r"^edge/[^/]+/\d+$")
MODULES = ("sig", "tr", "vis")  # modules whose priors table holds versioned patch sets


class PriorsVersionError(LookupError):
    """A version that does not exist was asked for."""


class PatchSetError(ValueError):
    """A patch set to write is malformed (the message names the patch, key or value)."""


@dataclass(frozen=True)
class PriorsVersion:
    """One stored patch set. Version 0 is "no patch set" (no rows)."""

    version: int
    source: str | None  # active_priors:<YYYY-MM-DD>, rollback:v<N>, or whatever wrote it
    created_at: datetime | None
    note: str | None
    before_version: int | None  # None: written without a snapshot (not by this module)
    rows: Mapping[str, float] = field(default_factory=dict)  # key -> value
    created: bool = False  # True when this call wrote it (False: it already existed)

    @property
    def priors(self) -> ActivePriors:
        """As the signal layer reads it."""
        return _parse_priors(self._row_dicts()) if self.rows else NO_PRIORS

    @property
    def patches(self) -> tuple[Patch, ...]:
        return self.priors.patches

    @property
    def theta_min(self) -> float | None:
        return self.rows.get(CAP_PREFIX + "theta_min")

    @property
    def phi_max(self) -> float | None:
        return self.rows.get(CAP_PREFIX + "phi_max")

    @property
    def extra(self) -> dict[str, float]:
        """The edge/ rows (fitted quantizer edges) carried with the set."""
        return {k: v for k, v in sorted(self.rows.items()) if k.startswith(EDGE_PREFIX)}

    def _row_dicts(self) -> list[dict[str, Any]]:
        return [{"key": k, "version": self.version, "value": v} for k, v in self.rows.items()]

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, with stable keys (the CLI's --json)."""
        return {
            "version": self.version,
            "source": self.source,
            "created_at": None if self.created_at is None else self.created_at.isoformat(),
            "note": self.note,
            "before_version": self.before_version,
            "theta_min": self.theta_min,
            "phi_max": self.phi_max,
            "patches": [{"detector_id": p.detector_id, "coin": p.coin, "cond_key": p.cond_key,
                         "theta_delta": p.theta_delta, "phi_mult": p.phi_mult}
                        for p in self.patches],
            "extra": self.extra,
            "rejected": [list(r) for r in self.priors.rejected],
        }


@dataclass(frozen=True)
class VersionInfo:
    version: int
    source: str | None
    created_at: datetime | None
    note: str | None
    before_version: int | None
    rows: int
    patches: int

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "source": self.source,
                "created_at": None if self.created_at is None else self.created_at.isoformat(),
                "note": self.note, "before_version": self.before_version, "rows": self.rows,
                "patches": self.patches}


@dataclass(frozen=True)
class PriorsDiff:
    from_version: int
    to_version: int
    added: Mapping[str, float]
    removed: Mapping[str, float]
    changed: Mapping[str, tuple[float, float]]  # key -> (before, after)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def as_dict(self) -> dict[str, Any]:
        return {"from": self.from_version, "to": self.to_version,
                "added": dict(sorted(self.added.items())),
                "removed": dict(sorted(self.removed.items())),
                "changed": {k: {"before": b, "after": a}
                            for k, (b, a) in sorted(self.changed.items())}}


# --- pure helpers ----------------------------------------------------------------------------


def canonical_json(rows: Mapping[str, float]) -> str:
    """Rows as canonical JSON (sorted keys, no spaces): what a snapshot stores."""
    return json.dumps(dict(rows), sort_keys=True, separators=(",", ":"), allow_nan=False)


def patch_set_rows(patches: Iterable[Patch], theta_min: float, phi_max: float,
                   extra: Mapping[str, float] | None = None) -> dict[str, float]:
    """The sig_priors rows (key -> value) of one patch set; refuses anything the signal layer
    would reject. A patch writes theta_delta unless 0 and phi_mult unless 1."""
    rows: dict[str, float] = {}
    seen: set[str] = set()
    for name, value, ok in (("theta_min", theta_min, lambda v: 0.0 <= v <= 1.0),
                            ("phi_max", phi_max, lambda v: 0.0 < v <= 1.0)):
        if not (isinstance(value, int | float) and math.isfinite(value) and ok(value)):
            raise PatchSetError(f"cap {name} = {value!r} is out of range "
                                "(theta_min in [0, 1], phi_max in (0, 1])")
        rows[CAP_PREFIX + name] = float(value)
    for p in patches:
        where = f"patch {p.detector_id}/{p.coin}/{p.cond_key}"
        for part in (p.detector_id, p.coin):
            if not isinstance(part, str) or not part or "/" in part:
                raise PatchSetError(f"{where}: detector_id and coin must be non-empty names "
                                    "without '/' (or '*')")
        try:
            cond = canonical_cond_key(p.cond_key)
        except CondKeyError as exc:
            raise PatchSetError(f"{where}: {exc}") from None
        if not math.isfinite(p.theta_delta):
            raise PatchSetError(f"{where}: theta_delta {p.theta_delta!r} is not finite")
        if not (math.isfinite(p.phi_mult) and p.phi_mult > 0):
            raise PatchSetError(f"{where}: phi_mult {p.phi_mult!r} must be finite and > 0")
        base = f"{PATCH_PREFIX}{p.detector_id}/{p.coin}/{cond}/"
        if base in seen:
            raise PatchSetError(f"{where}: two patches share detector, coin and cond_key "
                                f"{cond!r}; merge them first")
        seen.add(base)
        if p.theta_delta != 0:
            rows[base + "theta_delta"] = float(p.theta_delta)
        if p.phi_mult != 1:
            rows[base + "phi_mult"] = float(p.phi_mult)
    for key, value in (extra or {}).items():
        if not _EDGE_KEY.match(str(key)):
            raise PatchSetError(f"extra key {key!r} is not edge/<name>/<i> (patches and caps "
                                "go in their own arguments)")
        if not (isinstance(value, int | float) and math.isfinite(value)):
            raise PatchSetError(f"extra {key} = {value!r} is not a finite number")
        rows[str(key)] = float(value)
    rejected = _parse_priors([{"key": k, "version": 1, "value": v} for k, v in rows.items()])
    if rejected.rejected:  # the signal layer is the judge of what it can apply
        raise PatchSetError("the signal layer would reject: " + "; ".join(
            f"{k}: {why}" for k, why in rejected.rejected))
    return dict(sorted(rows.items()))


def diff_rows(before: Mapping[str, float], after: Mapping[str, float], from_version: int = 0,
              to_version: int = 0) -> PriorsDiff:
    return PriorsDiff(
        from_version, to_version,
        added={k: after[k] for k in sorted(set(after) - set(before))},
        removed={k: before[k] for k in sorted(set(before) - set(after))},
        changed={k: (before[k], after[k]) for k in sorted(set(before) & set(after))
                 if before[k] != after[k]})


def default_caps(*, scoring: ScoringConfig) -> tuple[float, float]:
    """(theta_min, phi_max) of the scoring configuration: the caps of "no patch set".
    `scoring`: the configuration the caller's entry point resolved (the settings'
    `scoring.config`), so the caps are the ones the day is scored with."""
    kr = scoring.kr
    return float(kr.theta_min), float(kr.phi_max)


# --- reads and writes on a transaction --------------------------------------------------------


def as_day(date: str | Date) -> Date:
    """A partition key (YYYY-MM-DD) or date as a date; anything else is refused by name."""
    if isinstance(date, Date):
        return date
    try:
        return Date.fromisoformat(str(date))
    except ValueError:
        raise ValueError(f"not a day: {date!r} (expected YYYY-MM-DD)") from None


def _tables(module: str) -> tuple[str, str, str]:
    """(priors table, snapshot table, writers' lock) of a module's patch sets."""
    if module not in MODULES:
        raise PriorsVersionError(f"module {module!r} keeps no patch sets; modules: "
                                 f"{list(MODULES)}")
    if module == "sig":
        return PRIORS_TABLE, SNAPSHOT_TABLE, _LOCK
    table = priors_table(module)
    return table, f"{table}_snapshot", f"{table}:patch_set"


def version_for_date(tx: Tx, date: str | Date, module: str = "sig") -> int:
    """The patch-set version in force for scoring day `date`: of the sets the nightly asset
    compiled for days before `date` (source `active_priors:<d>`, d < date), the newest day's
    newest version; 0 when none. Later versions (other nights, rollbacks) never change it,
    so re-scoring a past day is reproducible."""
    day = as_day(date)
    best: tuple[Date, int] | None = None
    for r in tx.query(f"SELECT DISTINCT version, source_event_id FROM {_tables(module)[0]} WHERE "
                      f"{SET_WHERE} AND source_event_id LIKE ?",
                      (*SET_LIKES, NIGHTLY_SOURCE + "%")):
        try:
            d = Date.fromisoformat(str(r["source_event_id"])[len(NIGHTLY_SOURCE):])
        except ValueError:
            continue  # not a nightly source after all
        if d < day and (best is None or (d, int(r["version"])) > best):
            best = (d, int(r["version"]))
    return 0 if best is None else best[1]


def set_rows(tx: Tx, version: int, module: str = "sig") -> list[dict]:
    """The patch/, cap/ and edge/ rows of one version, by key."""
    return tx.query(f"SELECT key, version, value, source_event_id, updated_at FROM "
                    f"{_tables(module)[0]} WHERE version = ? AND {SET_WHERE} ORDER BY key",
                    (version, *SET_LIKES))


def _latest(tx: Tx, module: str = "sig") -> int:
    table = _tables(module)[0]
    return int(tx.scalar(f"SELECT COALESCE(MAX(version), 0) FROM {table} WHERE {SET_WHERE}",
                         SET_LIKES))


def _read(tx: Tx, version: int, module: str = "sig") -> PriorsVersion:
    if version == 0:
        return PriorsVersion(0, None, None, None, None, {})
    table, snapshot, _ = _tables(module)
    rows = set_rows(tx, version, module)
    if not rows:
        known = [int(r["version"]) for r in tx.query(
            f"SELECT DISTINCT version FROM {table} WHERE {SET_WHERE} ORDER BY version",
            SET_LIKES)]
        raise PriorsVersionError(
            f"no priors version {version}{'' if module == 'sig' else ' of ' + module}; "
            + (f"versions: {_ranges(known)}" if known else "none written yet (0: no patch set)"))
    snap = tx.query(f"SELECT created_at, source, note, before_version FROM {snapshot} "
                    "WHERE version = ?", (version,))
    source = rows[0]["source_event_id"]
    created = ts_out(rows[0]["updated_at"])
    note = before = None
    if snap:
        source, note = snap[0]["source"], snap[0]["note"]
        created, before = ts_out(snap[0]["created_at"]), int(snap[0]["before_version"])
    return PriorsVersion(version, source, created, note, before,
                         {str(r["key"]): float(r["value"]) for r in rows})


def _ranges(versions: list[int]) -> str:
    """Sorted versions as runs: [1, 2, 3, 5] -> "1..3, 5"."""
    runs: list[list[int]] = []
    for v in versions:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ", ".join(str(a) if a == b else f"{a}..{b}" for a, b in runs)


def _write(tx: Tx, rows: Mapping[str, float], source: str, note: str | None,
           now: datetime | None, module: str = "sig") -> PriorsVersion:
    table, snapshot, _ = _tables(module)
    before = _read(tx, _latest(tx, module), module)
    version = before.version + 1
    when = now or utc_now()
    stamp = ts_in(tx.dialect, when)
    tx.executemany(
        f"INSERT INTO {table} (key, version, value, source_event_id, updated_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [(k, version, v, source, stamp) for k, v in sorted(rows.items())])
    tx.execute(
        f"INSERT INTO {snapshot} (version, created_at, source, note, before_version,"
        " before_json, after_json) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (version, stamp, source, note or None, before.version, canonical_json(before.rows),
         canonical_json(rows)))
    return PriorsVersion(version, source, ts_out(stamp), note or None, before.version,
                         dict(sorted(rows.items())), created=True)


# --- the API ---------------------------------------------------------------------------------


def write_patch_set(fabric: OpsDb, patches: Iterable[Patch], theta_min: float, phi_max: float,
                    extra: Mapping[str, float], source: str, note: str = "", *,
                    now: datetime | None = None) -> PriorsVersion:
    """Write one patch set as a new version N = 1 + the newest patch-set version, with its
    snapshot row. Idempotent: when the newest version with the same `source` holds exactly
    these rows it is returned (`created` False) and nothing is written."""
    if not isinstance(source, str) or not source.strip():
        raise PatchSetError("source must name who wrote the set (e.g. active_priors:2026-01-05)")
    rows = patch_set_rows(patches, theta_min, phi_max, extra)
    return write_rows(fabric, rows, source, note, now=now)


def check_rows(rows: Mapping[str, float]) -> dict[str, float]:
    """Rows of any module's patch set: patch/, cap/ or edge/ keys with finite values and at
    least one cap/ row (so an empty set is still a version). The module judges the rest."""
    out: dict[str, float] = {}
    for key, value in rows.items():
        if not isinstance(key, str) or not key.startswith((PATCH_PREFIX, CAP_PREFIX,
                                                           EDGE_PREFIX)):
            raise PatchSetError(f"key {key!r} is not patch/..., cap/... or edge/...")
        if not (isinstance(value, int | float) and math.isfinite(value)):
            raise PatchSetError(f"{key} = {value!r} is not a finite number")
        out[key] = float(value)
    if not any(k.startswith(CAP_PREFIX) for k in out):
        raise PatchSetError("a patch set carries its caps (at least one cap/ row)")
    return dict(sorted(out.items()))


def write_rows(fabric: OpsDb, rows: Mapping[str, float], source: str, note: str = "", *,
               module: str = "sig", now: datetime | None = None) -> PriorsVersion:
    """Write already-built rows (`patch_set_rows` for sig, the Trader's compiler for tr) as a
    new version of `module`'s patch sets, idempotent per source like `write_patch_set`."""
    if not isinstance(source, str) or not source.strip():
        raise PatchSetError("source must name who wrote the set (e.g. active_priors:2026-01-05)")
    rows = check_rows(rows)
    table, _, lock = _tables(module)
    with fabric.transaction() as tx:
        tx.lock(lock)
        same = tx.scalar(f"SELECT MAX(version) FROM {table} WHERE {SET_WHERE} AND "
                         "source_event_id = ?", (*SET_LIKES, source))
        if same is not None:
            existing = _read(tx, int(same), module)
            if dict(existing.rows) == rows:
                return existing
        return _write(tx, rows, source, note, now, module)


def list_versions(fabric: OpsDb, module: str = "sig") -> list[VersionInfo]:
    """Every patch-set version, oldest first."""
    table, snapshot, _ = _tables(module)
    with fabric.transaction() as tx:
        rows = tx.query(f"SELECT key, version, source_event_id, updated_at FROM {table} "
                        f"WHERE {SET_WHERE} ORDER BY version, key", SET_LIKES)
        snaps = {int(r["version"]): r for r in tx.query(
            f"SELECT version, created_at, source, note, before_version FROM {snapshot}")}
    by_version: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_version.setdefault(int(r["version"]), []).append(r)
    out = []
    for v, rs in by_version.items():
        s = snaps.get(v)
        patches = {r["key"].rsplit("/", 1)[0] for r in rs if r["key"].startswith(PATCH_PREFIX)}
        out.append(VersionInfo(
            v, s["source"] if s else rs[0]["source_event_id"],
            ts_out(s["created_at"] if s else rs[0]["updated_at"]), s["note"] if s else None,
            int(s["before_version"]) if s else None, len(rs), len(patches)))
    return out


def nightly_source(day: str | Date) -> str:
    """The source of the set compiled the night of `day`: active_priors:<YYYY-MM-DD>."""
    return NIGHTLY_SOURCE + as_day(day).isoformat()


def read_snapshot(fabric: OpsDb, version: int, module: str = "sig") -> dict[str, Any] | None:
    """The snapshot row of `version` (before/after as dicts), or None when it has none."""
    snapshot = _tables(module)[1]
    with fabric.transaction() as tx:
        rows = tx.query(f"SELECT version, created_at, source, note, before_version, before_json,"
                        f" after_json FROM {snapshot} WHERE version = ?", (version,))
    if not rows:
        return None
    r = dict(rows[0])
    r["created_at"] = ts_out(r["created_at"])
    r["before_json"], r["after_json"] = json_out(r["before_json"]), json_out(r["after_json"])
    return r


def latest_version(fabric: OpsDb, module: str = "sig") -> int:
    """The newest patch-set version (what the live daemon scores with); 0 when none."""
    with fabric.transaction() as tx:
        return _latest(tx, module)


def read_version(fabric: OpsDb, version: int, module: str = "sig") -> PriorsVersion:
    """One version's rows and snapshot; 0 is the empty set. Unknown: PriorsVersionError."""
    if not isinstance(version, int) or version < 0:
        raise PriorsVersionError(f"a priors version is an integer >= 0, got {version!r}")
    with fabric.transaction() as tx:
        return _read(tx, version, module)


def read_latest(fabric: OpsDb, module: str = "sig") -> PriorsVersion:
    """The newest version's rows in one transaction (the live readers' choice)."""
    with fabric.transaction() as tx:
        return latest_in(tx, module)


def latest_in(tx: Tx, module: str = "sig") -> PriorsVersion:
    """`read_latest` inside the caller's transaction (a writer that records and reads at once)."""
    return _read(tx, _latest(tx, module), module)


def read_priors_for_date(fabric: OpsDb, date: str | Date,
                         module: str = "sig") -> PriorsVersion:
    """The set in force for scoring day `date`: of the sets compiled the nights of days
    before it (source active_priors:<d>, d < date), the latest day's newest version; version 0
    when none. Deterministic for backfills: later nights and rollbacks never change it."""
    as_day(date)
    with fabric.transaction() as tx:
        return _read(tx, version_for_date(tx, date, module), module)


def active_priors_for_date(fabric: OpsDb, date: str | Date) -> ActivePriors:
    """`read_priors_for_date(fabric, date)` parsed for scoring (the scoring asset's read)."""
    return read_priors_for_date(fabric, date).priors


def read_active_priors(fabric: OpsDb) -> ActivePriors:
    """The newest patch set, parsed for scoring (the live daemon's read, polled: one query;
    NO_PRIORS before the table exists). A rollback is the newest version, so it takes
    effect at once."""
    with fabric.transaction() as tx:
        if not tx.scalar(sql_dialect(tx.dialect).table_exists_sql(PRIORS_TABLE)):
            return NO_PRIORS
        rows = tx.query(_ACTIVE, SET_LIKES * 2)
    return _parse_priors(rows)


def diff_versions(fabric: OpsDb, a: int, b: int, module: str = "sig") -> PriorsDiff:
    """Keys added, removed and changed going from version `a` to version `b`."""
    before, after = read_version(fabric, a, module), read_version(fabric, b, module)
    return diff_rows(before.rows, after.rows, a, b)


def rollback(fabric: OpsDb, to_version: int, note: str = "", *,
             now: datetime | None = None, module: str = "sig",
             scoring: ScoringConfig | None) -> PriorsVersion:
    """Make version `to_version`'s rows active again as a NEW version (source
    rollback:v<N>, with its snapshot); 0 = no patches, the caps of `scoring` (the scoring
    configuration the entry point resolved: `default_caps`; sig's version 0 needs it, any
    other rollback passes None) (for tr: the newest version's cap/ rows, no patches, no
    edges). When the newest version already holds exactly those rows, it is returned
    unchanged."""
    if not isinstance(to_version, int) or to_version < 0:
        raise PriorsVersionError(f"a priors version is an integer >= 0, got {to_version!r}")
    if module == "sig" and to_version == 0 and scoring is None:
        raise PriorsVersionError("sig's version 0 holds the caps of a scoring configuration: "
                                 "pass the one the day is scored with (scoring=)")
    with fabric.transaction() as tx:
        tx.lock(_tables(module)[2])
        target = _read(tx, to_version, module)
        rows = dict(target.rows)
        newest = _read(tx, _latest(tx, module), module)
        if to_version == 0:
            if module == "sig":
                assert scoring is not None  # checked before the transaction
                theta_min, phi_max = default_caps(scoring=scoring)
                rows = patch_set_rows((), theta_min, phi_max)
            else:
                rows = {k: v for k, v in newest.rows.items() if k.startswith(CAP_PREFIX)}
                if not rows:
                    return newest  # nothing was ever written: version 0 is in force
        if newest.version and dict(newest.rows) == rows:
            return newest
        return _write(tx, rows, f"rollback:v{to_version}",
                      note or f"rollback to version {to_version}", now, module)


# --- manifest knobs (any module's priors table) ------------------------------------------


Op = Literal["set", "add", "mul"]


@dataclass(frozen=True)
class Prior:
    key: str
    value: float
    version: int  # 0: the manifest default, never written
    min_value: float | None
    max_value: float | None
    source_event_id: str | None
    updated_at: datetime | None


@dataclass(frozen=True)
class PriorChange:
    key: str
    requested: float
    before: float
    after: float
    clamped: bool  # a cap (min, max or max_step) cut the requested value
    version: int


def _knob(module: str, key: str) -> Knob:
    knobs = load_modules().modules[check_module(module)].priors
    if key not in knobs:
        raise KeyError(f"{module} has no priors knob {key!r}; its knobs: {sorted(knobs)}")
    return knobs[key]


def current_priors(db: Db, module: str) -> dict[str, Prior]:
    """Every knob of `module`'s manifest: its newest stored version, or the default."""
    knobs = load_modules().modules[check_module(module)].priors
    with in_tx(db) as tx:
        rows = tx.query(
            "SELECT p.key, p.version, p.value, p.min_value, p.max_value, p.source_event_id,"
            f" p.updated_at FROM {priors_table(module)} p WHERE p.version ="
            f" (SELECT MAX(q.version) FROM {priors_table(module)} q WHERE q.key = p.key)"
        )
    out = {
        k: Prior(k, kn.default, 0, kn.min, kn.max, None, None) for k, kn in sorted(knobs.items())
    }
    for r in rows:
        out[r["key"]] = Prior(
            r["key"], float(r["value"]), int(r["version"]), r["min_value"], r["max_value"],
            r["source_event_id"], ts_out(r["updated_at"]),
        )
    return out


def priors_version(db: Db, module: str) -> str:
    """`<module>:v<N>`, N = changes ever written; it moves on every change and rollback."""
    with in_tx(db) as tx:
        n = tx.scalar(f"SELECT COUNT(*) FROM {priors_table(module)}")
    return f"{check_module(module)}:v{int(n)}"


def set_prior(
    tx: Tx,
    module: str,
    key: str,
    op: Op,
    value: float,
    *,
    source_event_id: str | None = None,
    now: datetime | None = None,
) -> PriorChange:
    """Apply `op value` to `key` within its caps and write the new version.

    The result moves at most `max_step` from the current value and stays in [min, max]
    (a contraction: no sequence of patches can run away).
    """
    knob = _knob(module, key)
    table = priors_table(module)
    tx.lock(f"{table}:{key}")  # two patchers of one key take versions in turn
    row = tx.query(
        f"SELECT version, value FROM {table} WHERE key = ? ORDER BY version DESC LIMIT 1", (key,)
    )
    before = float(row[0]["value"]) if row else knob.default
    version = int(row[0]["version"]) + 1 if row else 1
    if op == "set":
        requested = float(value)
    elif op == "add":
        requested = before + float(value)
    elif op == "mul":
        requested = before * float(value)
    else:
        raise ValueError(f"op must be set, add or mul, got {op!r}")
    after = min(max(requested, before - knob.max_step), before + knob.max_step)
    after = min(max(after, knob.min), knob.max)
    tx.execute(
        f"INSERT INTO {table} (key, version, value, min_value, max_value, source_event_id,"
        " updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (key, version, after, knob.min, knob.max, source_event_id,
         ts_in(tx.dialect, now or utc_now())),
    )
    return PriorChange(key, requested, before, after, after != requested, version)
