"""The signal layer's fabric reads: the active priors (published signals leave through
sig_outbox, see `lotus_core.fabric.publish`).

Functions take an open `Fabric` (each runs its own transaction) and work the same on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from lotus_core.signals.priors import (
    CAP_PREFIX,
    NO_PRIORS,
    PATCH_PREFIX,
    ActivePriors,
    parse_priors,
)
from lotus_core.store.fabric import Fabric

_ACTIVE = (
    "SELECT key, version, value FROM sig_priors WHERE (key LIKE ? OR key LIKE ?) AND version = "
    "(SELECT MAX(version) FROM sig_priors WHERE key LIKE ? OR key LIKE ?) ORDER BY key"
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
