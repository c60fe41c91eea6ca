"""Writing and reading a module's strand: its own record of what it saw and did.

    sid = write_strand(fabric, "sig", "signal", symbol="BTC", timeframe="1m",
                       fields={"detector_id": "breakout_v3", "signal": 0.4, ...})

Envelope columns are keyword arguments; the module's own columns go in `fields` and are
checked against its manifest. The lotus_ledger row is written by the database trigger in
the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from lotus_core.fabric.codec import utc_now, value_in, value_out
from lotus_core.fabric.columns import check_value
from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.manifests import ModuleManifest, load_modules
from lotus_core.fabric.names import check_module, strand_table
from lotus_core.fabric.ulid import new_ulid

ENVELOPE_ARGS = ("lifecycle_id", "parent_id", "symbol", "timeframe", "session_bucket", "regime")


def _manifest(module: str) -> ModuleManifest:
    return load_modules().modules[check_module(module)]


def _own(manifest: ModuleManifest, fields: Mapping[str, Any]) -> dict[str, Any]:
    own = {c.name: c for c in manifest.own_columns}
    unknown = sorted(set(fields) - set(own))
    if unknown:
        raise ValueError(
            f"{manifest.strand.name} has no own columns {unknown}; it has {sorted(own)} "
            f"(envelope columns are keyword arguments)"
        )
    for name, value in fields.items():
        check_value(manifest.strand.name, own[name], value)
    return dict(fields)


def write_strand(
    db: Db,
    module: str,
    kind: str,
    *,
    fields: Mapping[str, Any] | None = None,
    id: str | None = None,
    lifecycle_id: str | None = None,
    parent_id: str | None = None,
    symbol: str | None = None,
    timeframe: str | None = None,
    session_bucket: str | None = None,
    regime: str | None = None,
    now: datetime | None = None,
    new_id: Callable[[], str] = new_ulid,
) -> str:
    """Insert one strand row; returns its id (a new ULID unless `id` is given).

    `kind` must be one of the manifest's strand kinds; `lifecycle_id` defaults to the id
    (the strand starts a thread).
    """
    manifest = _manifest(module)
    if kind not in manifest.strand_kinds:
        raise ValueError(
            f"{manifest.strand.name}: kind {kind!r} is not in the manifest's kinds "
            f"{list(manifest.strand_kinds)}"
        )
    own = _own(manifest, fields or {})
    sid = id or new_id()
    when = now or utc_now()
    envelope = {
        "id": sid, "lifecycle_id": lifecycle_id or sid, "parent_id": parent_id, "module": module,
        "kind": kind, "symbol": symbol, "timeframe": timeframe, "session_bucket": session_bucket,
        "regime": regime, "created_at": when, "updated_at": when,
    }
    table = manifest.strand
    for name, value in envelope.items():
        check_value(table.name, table.column(name), value)
    values = {**envelope, **own}
    with in_tx(db) as tx:
        params = [value_in(tx.dialect, table.column(n).type, v) for n, v in values.items()]
        tx.execute(
            f"INSERT INTO {table.name} ({', '.join(values)})"
            f" VALUES ({', '.join('?' for _ in values)})",
            params,
        )
    return sid


def update_strand(
    db: Db,
    module: str,
    id: str,
    *,
    fields: Mapping[str, Any] | None = None,
    now: datetime | None = None,
    **envelope: Any,
) -> bool:
    """Change own columns (`fields`) and/or envelope columns (keywords among kind,
    lifecycle_id, parent_id, symbol, timeframe, session_bucket, regime); sets updated_at.
    Returns False when there is no such strand."""
    manifest = _manifest(module)
    allowed = {"kind", *ENVELOPE_ARGS}
    bad = sorted(set(envelope) - allowed)
    if bad:
        raise ValueError(
            f"update_strand cannot set {bad}; envelope columns it can: {sorted(allowed)}"
        )
    if "kind" in envelope and envelope["kind"] not in manifest.strand_kinds:
        raise ValueError(
            f"{manifest.strand.name}: kind {envelope['kind']!r} is not in the manifest"
        )
    table = manifest.strand
    for name, value in envelope.items():
        check_value(table.name, table.column(name), value)
    values = {**envelope, **_own(manifest, fields or {}), "updated_at": now or utc_now()}
    with in_tx(db) as tx:
        params = [value_in(tx.dialect, table.column(n).type, v) for n, v in values.items()]
        n = tx.execute(
            f"UPDATE {table.name} SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
            [*params, id],
        )
    return n == 1


def read_strand(db: Db, module: str, id: str) -> dict[str, Any] | None:
    """The strand row `id` as a dict of Python values (JSON decoded, UTC datetimes)."""
    table = _manifest(module).strand
    with in_tx(db) as tx:
        rows = tx.query(
            f"SELECT {', '.join(table.column_names)} FROM {strand_table(module)} WHERE id = ?",
            (id,),
        )
    if not rows:
        return None
    return {c.name: value_out(c.type, rows[0][c.name]) for c in table.columns}
