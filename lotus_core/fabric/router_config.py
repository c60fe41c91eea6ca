"""The Herald router's settings and counters (RouterConfig, RouteStats) and its owner name."""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass, field
from typing import Any

from pydantic import Field, InstanceOf

from lotus_core.fabric.defaults import ROUTER_BATCH_SIZE, ROUTER_NAME
from lotus_core.fabric.manifests import Routing
from lotus_core.fabric.names import (
    MODULES,
)
from lotus_core.strict import StrictModel


def default_owner(name: str = ROUTER_NAME) -> str:
    """A lease owner id unique to this process: name, host, pid and a nonce."""
    return f"{name}:{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


class RouterConfig(StrictModel):
    """How a router runs. `routing` defaults to models.map.yaml's retry/backoff settings.
    A value out of range is a ValidationError (a ValueError) naming the field."""

    modules: tuple[str, ...] = MODULES
    batch_size: int = Field(ROUTER_BATCH_SIZE, ge=1, le=5000)
    lease_sec: float = Field(30.0, gt=0)  # SQLite: a claimed row is another router's again
    name: str = ROUTER_NAME  # heartbeat component; routers sharing a name share one row
    owner: str = Field(default_factory=default_owner)
    idle_sleep_sec: float = 0.25  # between passes that found nothing
    heartbeat_sec: float = 1.0  # at most one heartbeat write per this many seconds
    sqlite_cache_mb: int = 64  # page cache of the router's SQLite connection (default 2 MB)
    routing: InstanceOf[Routing] | None = None  # taken as given (models.map.yaml's checks)


@dataclass
class RouteStats:
    """What one pass (or a whole run) did. `read` = outbox rows claimed."""

    batches: int = 0
    read: int = 0
    routed: int = 0  # outbox rows marked processed
    delivered: int = 0  # inbox rows inserted
    duplicates: int = 0  # target deliveries skipped: event_id or dedupe_key already there
    dead: dict[str, int] = field(default_factory=dict)  # reason -> outbox rows dead-lettered
    retried: int = 0  # rows scheduled for another attempt (backoff)
    lost: int = 0  # rows another router finished or took over before we committed
    conflicts: int = 0  # batches rolled back on a lock conflict and left for the next pass
    seconds: float = 0.0
    check_cpu_s: float = 0.0  # CPU seconds in the envelope checks (the rest is I/O and SQL)

    @property
    def dead_total(self) -> int:
        return sum(self.dead.values())

    def add(self, other: RouteStats) -> None:
        for name in ("batches", "read", "routed", "delivered", "duplicates", "retried",
                     "lost", "conflicts", "seconds", "check_cpu_s"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for reason, n in other.dead.items():
            self.dead[reason] = self.dead.get(reason, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {"batches": self.batches, "read": self.read, "routed": self.routed,
                "delivered": self.delivered, "duplicates": self.duplicates,
                "dead": dict(sorted(self.dead.items())), "retried": self.retried,
                "lost": self.lost, "conflicts": self.conflicts,
                "seconds": round(self.seconds, 3),
                "check_cpu_s": round(self.check_cpu_s, 3)}
