"""The fabric's health at a glance (what `lotus status` prints).

Per module: health from its components' heartbeats (ok: a beat younger than
`stale_after_sec`; stale: only older beats; unknown: none ever), inbox lag (pending rows,
of which a handler exists for, and the oldest one's age), outbox backlog (what the router
still has to move), failed rows and dead letters by reason. The router is listed like a
module. Pure reads; works with any role that may read the boxes and heartbeats.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from lotus_core.fabric.codec import ts_out, utc_now
from lotus_core.fabric.dead_letter import count_dead_letters
from lotus_core.fabric.defaults import STALE_AFTER_SEC
from lotus_core.fabric.heartbeats import Heartbeat, read_heartbeats
from lotus_core.fabric.names import FAILED, MODULES, PENDING, ROUTER, box_table
from lotus_core.store.opsdb import OpsDb

OK, STALE, UNKNOWN = "ok", "stale", "unknown"


def health(beats: list[Heartbeat], now: datetime, stale_after_sec: float) -> str:
    """ok if any component beat recently with a live status, stale if all beats are old (or
    say stopped/error), unknown if there is no beat at all."""
    if not beats:
        return UNKNOWN
    live = [b for b in beats if b.status in ("starting", "ok", "degraded")]
    if any(b.age_s(now) <= stale_after_sec for b in live):
        return OK
    return STALE


def _box(fabric: OpsDb, module: str, box: str, now: datetime,
         handled: tuple[str, ...] = ()) -> dict[str, Any]:
    # ignore: `box` is "inbox" or "outbox" (the callers' literals), typed str here.
    table = box_table(module, box)  # type: ignore[arg-type]
    with fabric.transaction() as tx:
        row = tx.query(
            f"SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM {table} WHERE status = ?",
            (PENDING,),
        )[0]
        failed = int(tx.scalar(f"SELECT COUNT(*) FROM {table} WHERE status = ?", (FAILED,)))
        handled_n = None
        if box == "inbox":
            handled_n = 0
            if handled:
                marks = ", ".join("?" for _ in handled)
                handled_n = int(tx.scalar(
                    f"SELECT COUNT(*) FROM {table} WHERE status = ? AND intent IN ({marks})",
                    (PENDING, *handled)))
    oldest = ts_out(row["oldest"])
    out: dict[str, Any] = {
        "pending": int(row["n"]),
        "oldest_pending_age_s": round((now - oldest).total_seconds(), 3) if oldest else None,
        "failed": failed,
    }
    if handled_n is not None:
        out["pending_handled"] = handled_n
    return out


def _beats(beats: list[Heartbeat], now: datetime) -> list[dict[str, Any]]:
    return [{"component": b.component, "status": b.status, "pid": b.pid, "host": b.host,
             "age_s": round(b.age_s(now), 3), "beat_at": b.beat_at.isoformat(),
             "detail": b.detail} for b in beats]


def fabric_status(
    fabric: OpsDb, *, now: datetime | None = None, stale_after_sec: float = STALE_AFTER_SEC
) -> dict[str, Any]:
    """Everything `lotus status` shows, as a JSON-ready dict."""
    from lotus_core.fabric.handlers import handled_intents  # validates the handler lines

    now = now or utc_now()
    beats = read_heartbeats(fabric)
    dead = count_dead_letters(fabric)
    out: dict[str, Any] = {"at": now.isoformat(), "stale_after_sec": stale_after_sec,
                           "modules": {}}
    for m in [*MODULES, ROUTER]:
        mine = [b for b in beats if b.module == m]
        last = max((b.beat_at for b in mine), default=None)
        entry: dict[str, Any] = {
            "health": health(mine, now, stale_after_sec),
            "last_heartbeat": last.isoformat() if last else None,
            "last_heartbeat_age_s": round((now - last).total_seconds(), 3) if last else None,
            "components": _beats(mine, now),
        }
        if m != ROUTER:
            entry["inbox"] = _box(fabric, m, "inbox", now, handled_intents(m))
            entry["outbox"] = _box(fabric, m, "outbox", now)
            entry["dead_letters"] = {r: n for (mod, r), n in sorted(dead.items()) if mod == m}
        out["modules"][m] = entry
    out["dead_letters_total"] = sum(dead.values())
    return out
