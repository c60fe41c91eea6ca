"""Where a running bus says it is (its pid file) and how it is (its heartbeat in the fabric).

`lotus bus status`, the Dagster resource and its sensor all read this one view, and start
nothing: the pid file is `<LOTUS_HOME>/bus/bus.pid` (written by `lotus bus serve`), the
heartbeat is the fabric's `bus` row (subscribers, last seq, frames sent, lagged, refused).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from lotus_core.fabric.codec import utc_now
from lotus_core.fabric.defaults import STALE_AFTER_SEC
from lotus_core.fabric.heartbeats import read_heartbeats
from lotus_core.fabric.status import health
from lotus_core.store.opsdb import OpsDb
from lotus_daemon.pidfile import pid_alive

COMPONENT = "bus"  # lotus_bus/server.py beats under this name


def pid_path(home: Path | str) -> Path:
    return Path(home) / "bus" / "bus.pid"


def log_path(home: Path | str) -> Path:
    return Path(home) / "bus" / "bus.log"


def read_pid(home: Path | str) -> dict[str, Any] | None:
    try:
        body = json.loads(pid_path(home).read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) else None


def bus_state(home: Path | str, fabric_url: str, *,
              stale_after_sec: float = STALE_AFTER_SEC) -> dict[str, Any]:
    """running, pid, url, health (ok / stale / stopped / unknown), the last beat and its
    numbers (subscribers, last seq, frames sent, lagged, refused)."""
    info = read_pid(home) or {}
    pid = int(info.get("pid") or 0)
    running = bool(pid) and pid_alive(pid)
    with OpsDb.open(fabric_url) as fabric:
        beats = [b for b in read_heartbeats(fabric) if b.component == COMPONENT]
    now = utc_now()
    state: dict[str, Any] = {"running": running, "pid": pid if running else None,
                             "url": info.get("url") if running else None,
                             "health": health(beats, now, stale_after_sec), "heartbeat": None}
    detail: dict[str, Any] = {}
    if beats:
        b = beats[0]
        detail = dict(b.detail or {})
        if b.status == "stopped":  # its final beat: a clean stop, not a stale bus
            state["health"] = "stopped"
        state["heartbeat"] = {"status": b.status, "pid": b.pid, "host": b.host,
                              "age_s": b.age_s(now), "beat_at": b.beat_at.isoformat()}
    for key in ("subscribers", "last_seq", "sent", "lagged", "refused", "connections",
                "rejected"):
        state[key] = int(detail.get(key) or 0)
    state["subscriber_names"] = list(detail.get("subscriber_names") or [])
    state["summary"] = summary(state)
    return state


def summary(state: dict[str, Any]) -> str:
    beat = state.get("heartbeat")
    if not beat:
        return f"bus {state['health']}: no heartbeat (never served on this fabric)"
    where = f"{state['url']} (pid {state['pid']})" if state["running"] else "not running"
    return (f"bus {state['health']}: {where}; last beat {beat['status']} "
            f"{float(beat['age_s']):.0f} s ago; {state['subscribers']} subscribers, last seq "
            f"{state['last_seq']}, {state['sent']} frames sent, {state['lagged']} lagged, "
            f"{state['refused']} refused")
