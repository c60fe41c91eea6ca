"""The signal layer's fabric reads: the active priors (published signals leave through
sig_outbox, see `lotus_core.fabric.publish`).

Functions take an open `Fabric` (each runs its own transaction) and work the same on
SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt

from lotus_core.signals.priors import (
    CAP_PREFIX,
    NO_PRIORS,
    PATCH_PREFIX,
    ActivePriors,
    parse_priors,
)
from lotus_core.store.connection import Tx
from lotus_core.store.dialect import sql_dialect
from lotus_core.store.fabric import Fabric

# Keys that belong to a patch set (docs/priors.md): a set is always written whole under one
# version, so these prefixes together define "the rows of version N".
SET_PREFIXES = (PATCH_PREFIX, CAP_PREFIX, "edge/")
NIGHTLY_SOURCE = "active_priors:"  # + the day whose outcomes the set was compiled from
SET_WHERE = "(" + " OR ".join("key LIKE ?" for _ in SET_PREFIXES) + ")"
SET_LIKES = tuple(p + "%" for p in SET_PREFIXES)
_ACTIVE = (f"SELECT key, version, value FROM sig_priors WHERE {SET_WHERE} AND version = "
           f"(SELECT MAX(version) FROM sig_priors WHERE {SET_WHERE}) ORDER BY key")


def read_active_priors(fabric: Fabric) -> ActivePriors:
    """The newest version of sig_priors' patch set (patch/, cap/, edge/ rows; none: 0)."""
    likes = SET_LIKES * 2
    with fabric.transaction() as tx:
        exists = tx.scalar(sql_dialect(tx.dialect).table_exists_sql("sig_priors"))
        if not exists:
            return NO_PRIORS
        rows = tx.query(_ACTIVE, likes)
    return parse_priors(rows)


def as_day(date: str | dt.date) -> dt.date:
    """A partition key (YYYY-MM-DD) or date as a date; anything else is refused by name."""
    if isinstance(date, dt.date):
        return date
    try:
        return dt.date.fromisoformat(str(date))
    except ValueError:
        raise ValueError(f"not a day: {date!r} (expected YYYY-MM-DD)") from None


def version_for_date(tx: Tx, date: str | dt.date) -> int:
    """The patch-set version in force for scoring day `date`: of the sets the nightly asset
    compiled for days before `date` (source `active_priors:<d>`, d < date), the newest day's
    newest version; 0 when none. Later versions (other nights, rollbacks) never change it,
    so re-scoring a past day is reproducible."""
    day = as_day(date)
    best: tuple[dt.date, int] | None = None
    for r in tx.query(f"SELECT DISTINCT version, source_event_id FROM sig_priors WHERE "
                      f"{SET_WHERE} AND source_event_id LIKE ?",
                      (*SET_LIKES, NIGHTLY_SOURCE + "%")):
        try:
            d = dt.date.fromisoformat(str(r["source_event_id"])[len(NIGHTLY_SOURCE):])
        except ValueError:
            continue  # not a nightly source after all
        if d < day and (best is None or (d, int(r["version"])) > best):
            best = (d, int(r["version"]))
    return 0 if best is None else best[1]


def set_rows(tx: Tx, version: int) -> list[dict]:
    """The patch/, cap/ and edge/ rows of one version, by key."""
    return tx.query(f"SELECT key, version, value, source_event_id, updated_at FROM sig_priors "
                    f"WHERE version = ? AND {SET_WHERE} ORDER BY key", (version, *SET_LIKES))


def active_priors_for_date(fabric: Fabric, date: str | dt.date) -> ActivePriors:
    """The active priors scoring day `date` uses (`version_for_date`; none: version 0),
    parsed for scoring. (`lotus_core.learning.priors_store.read_priors_for_date` returns the
    same version as stored rows, for the compiler and the CLI.)"""
    with fabric.transaction() as tx:
        version = version_for_date(tx, date)
        rows = set_rows(tx, version) if version else []
    return parse_priors(rows) if rows else NO_PRIORS
