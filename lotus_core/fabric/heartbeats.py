"""Heartbeats: each long-running component (router, sensors, daemon) says it is alive.

One row per component, overwritten by every beat; a beat older than a few intervals means
the component is down. `lotus status` reads them with `read_heartbeats`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from lotus_core.fabric.codec import json_in, json_out, ts_in, ts_out, utc_now
from lotus_core.fabric.db import Db, in_tx
from lotus_core.fabric.names import MODULES, ROUTER

STATUSES = ("starting", "ok", "degraded", "error", "stopping", "stopped")


@dataclass(frozen=True)
class Heartbeat:
    component: str
    module: str
    pid: int | None
    host: str | None
    status: str
    detail: dict[str, Any] | None
    beat_at: datetime

    def age_s(self, now: datetime | None = None) -> float:
        return ((now or utc_now()) - self.beat_at).total_seconds()


def beat(
    db: Db,
    component: str,
    module: str,
    status: str = "ok",
    detail: Mapping[str, Any] | None = None,
    *,
    pid: int | None = None,
    host: str | None = None,
    now: datetime | None = None,
) -> None:
    """Upsert `component`'s heartbeat. `module` is a module name or "router"."""
    if module not in (*MODULES, ROUTER):
        raise ValueError(f"heartbeat module must be one of {[*MODULES, ROUTER]}, got {module!r}")
    if status not in STATUSES:
        raise ValueError(f"heartbeat status must be one of {list(STATUSES)}, got {status!r}")
    if not component:
        raise ValueError("heartbeat component must be a non-empty name")
    with in_tx(db) as tx:
        tx.execute(
            "INSERT INTO heartbeats (component, module, pid, host, status, detail, beat_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (component) DO UPDATE SET"
            " module = excluded.module, pid = excluded.pid, host = excluded.host,"
            " status = excluded.status, detail = excluded.detail, beat_at = excluded.beat_at",
            (
                component,
                module,
                os.getpid() if pid is None else pid,
                socket.gethostname() if host is None else host,
                status,
                json_in(dict(detail)) if detail is not None else None,
                ts_in(tx.dialect, now or utc_now()),
            ),
        )


def read_heartbeats(db: Db) -> list[Heartbeat]:
    """Every component's last beat, by component name."""
    with in_tx(db) as tx:
        rows = tx.query(
            "SELECT component, module, pid, host, status, detail, beat_at FROM heartbeats"
            " ORDER BY component"
        )
    return [
        Heartbeat(
            component=r["component"], module=r["module"], pid=r["pid"], host=r["host"],
            # ignore: ts_out is Optional, but beat_at is NOT NULL in the table.
            status=r["status"], detail=json_out(r["detail"]), beat_at=ts_out(r["beat_at"]),  # type: ignore[arg-type]
        )
        for r in rows
    ]
