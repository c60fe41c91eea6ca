"""A module's priors knobs: versioned values, every change clamped to the manifest's caps.

Each change is a new row (key, version + 1) and never an update, so the history is the
audit trail and a rollback is just another change. The PRIOR_PATCH handler calls
`set_prior` once per requested change, in the transaction that marks the inbox row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from lotus_core.fabric.codec import ts_in, ts_out, utc_now
from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.manifests import Knob, load_modules
from lotus_core.fabric.names import check_module, priors_table
from lotus_core.store.connection import Tx

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
