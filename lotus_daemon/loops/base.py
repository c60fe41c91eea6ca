"""`Loop` and `LoopContext`, the base every daemon loop builds on (see the package docstring).

Loop modules import them from here, not from the package, whose `LOOPS` registry imports
the loop modules: importing the package from a loop would be a cycle.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lotus_core.fabric.connect import open_opsdb
from lotus_core.fabric.manifests import ModelsMap, load_modules
from lotus_core.store.opsdb import OpsDb


@dataclass
class LoopContext:
    """What a loop gets from the daemon: where the fabric and keys are, the models map its
    envelopes are routed by, and when to stop."""

    fabric_url: str
    key_dir: Path
    home: Path
    stop: threading.Event
    migrate: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("lotus_daemon"))
    market: Any = None  # the daemon's lotus_daemon.market.MarketHub (shared by its loops)
    beat_at: float | None = None
    """Unix time the loop last came round (`stopping()` or `beat()`): its heartbeat in the
    daemon's detail, so `lotus daemon status` shows when each loop last did something."""

    def beat(self) -> None:
        self.beat_at = time.time()

    def stopping(self) -> bool:
        """Every loop asks this once a turn, so asking is also the loop's beat."""
        self.beat_at = time.time()
        return self.stop.is_set()

    def open_opsdb(self) -> OpsDb:
        """A connection of the loop's own (SQLite connections are not shared by threads)."""
        return open_opsdb(self.fabric_url, migrate=self.migrate)

    def models_map(self) -> ModelsMap:
        """models.map.yaml of the packaged manifests (`load_modules`, cross-checked, loaded
        once per process): what a loop that posts to an outbox passes down."""
        return load_modules().map


class Loop:
    """Base of every loop. `component` is the heartbeat row the loop beats."""

    name: str = "loop"
    component: str = "loop"

    def run(self, ctx: LoopContext) -> None:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """What the daemon's own heartbeat says about this loop (JSON-ready)."""
        return {}
