"""The signal layer's fabric tables: reading active priors, writing the Signal Bus.

Functions take an open `Fabric` (each runs its own transaction) and work the same on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
from typing import Any

import pandas as pd

from lotus_core.signals.priors import (
    CAP_PREFIX,
    NO_PRIORS,
    PATCH_PREFIX,
    ActivePriors,
    parse_priors,
)
from lotus_core.store.dead_letters import check_day
from lotus_core.store.fabric import Fabric

_ACTIVE = (
    "SELECT key, version, value FROM sig_priors WHERE (key LIKE ? OR key LIKE ?) AND version = "
    "(SELECT MAX(version) FROM sig_priors WHERE key LIKE ? OR key LIKE ?) ORDER BY key"
)
_INSERT = (
    "INSERT INTO signal_bus (window_id, day, ts_ms, coin, detector_id, paper, propensity,"
    " schema_ver, payload, run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def read_active_priors(fabric: Fabric) -> ActivePriors:
    """The newest version of sig_priors' patch/ and cap/ rows (none: version 0)."""
    likes = (PATCH_PREFIX + "%", CAP_PREFIX + "%") * 2
    with fabric.transaction() as tx:
        exists = tx.scalar(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'sig_priors'"
            if tx.dialect == "sqlite" else "SELECT COUNT(*) FROM information_schema.tables "
            "WHERE table_schema = current_schema() AND table_name = 'sig_priors'")
        if not exists:
            return NO_PRIORS
        rows = tx.query(_ACTIVE, likes)
    return parse_priors(rows)


def replace_signal_bus(fabric: Fabric, day: str, rows: pd.DataFrame,
                       run_id: str | None = None) -> int:
    """Atomically replace `day`'s Signal Bus rows with `rows` (from `bus.bus_rows`)."""
    check_day(day)
    as_bool = fabric.dialect == "postgres"  # BOOLEAN there, 0/1 on SQLite
    params = [
        (r.window_id, day, int(r.ts_ms), r.coin, r.detector_id,
         bool(r.paper) if as_bool else int(r.paper),
         float(r.propensity), "sigbus-1.0.0", r.payload, run_id)
        for r in rows.itertuples(index=False)
    ]
    with fabric.transaction() as tx:
        tx.lock(f"signal_bus:{day}")
        tx.execute("DELETE FROM signal_bus WHERE day = ?", (day,))
        if params:
            tx.executemany(_INSERT, params)
    return len(params)


def read_signal_bus(fabric: Fabric, day: str | None = None) -> list[dict[str, Any]]:
    """Bus rows of `day` (all days when None) in time order, payloads parsed."""
    where, params = ("WHERE day = ?", (check_day(day),)) if day else ("", ())
    with fabric.transaction() as tx:
        rows = tx.query(
            "SELECT window_id, day, ts_ms, coin, detector_id, paper, propensity, schema_ver,"
            f" payload, run_id FROM signal_bus {where} ORDER BY ts_ms, window_id", params)
    for r in rows:
        if isinstance(r["payload"], str):
            r["payload"] = json.loads(r["payload"])
        r["paper"] = bool(r["paper"])
        r["ts_ms"] = int(r["ts_ms"])
    return rows
