"""The daemon's loops: one small module each, all built on `Loop`.

A loop is a long-running job the daemon hosts in its own thread, with its own fabric
connection. It runs until `ctx.stopping()` and must then finish the work in hand and
return promptly (the daemon waits for it). If it raises, the daemon logs it and starts
it again after a backoff (1 s doubling to 30 s), so a fabric that is briefly unreachable
does not end the daemon. Adding one = a module here + a line in `LOOPS`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lotus_core.fabric.connect import open_fabric
from lotus_core.store.fabric import Fabric


@dataclass
class LoopContext:
    """What a loop gets from the daemon: where the fabric and keys are, and when to stop."""

    fabric_url: str
    key_dir: Path
    home: Path
    stop: threading.Event
    migrate: bool = True
    options: dict[str, Any] = field(default_factory=dict)
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("lotus_daemon"))

    def stopping(self) -> bool:
        return self.stop.is_set()

    def open_fabric(self) -> Fabric:
        """A connection of the loop's own (SQLite connections are not shared by threads)."""
        return open_fabric(self.fabric_url, migrate=self.migrate)


class Loop:
    """Base of every loop. `component` is the heartbeat row the loop beats."""

    name: str = "loop"
    component: str = "loop"

    def run(self, ctx: LoopContext) -> None:
        raise NotImplementedError

    def info(self) -> dict[str, Any]:
        """What the daemon's own heartbeat says about this loop (JSON-ready)."""
        return {}


def _router(options: dict[str, Any]) -> Loop:
    from lotus_daemon.loops.router import RouterLoop

    return RouterLoop(name=options.get("router_name", "herald"),
                      batch_size=int(options.get("batch_size", 500)))  # fmt: skip


def _dm(options: dict[str, Any]) -> Loop:
    from lotus_daemon.loops.dm import DmLoop

    return DmLoop(options)


def _trader(options: dict[str, Any]) -> Loop:
    from lotus_core.config import load_settings
    from lotus_core.trader.config import trader_settings
    from lotus_daemon.loops.trader import TraderLoop

    section = options["trader"] if "trader" in options else load_settings().trader
    return TraderLoop(trader_settings(section))


# name -> factory(options). The heartbeat loop is not here: the daemon always runs it.
LOOPS: dict[str, Callable[[dict[str, Any]], Loop]] = {"router": _router, "dm": _dm,
                                                      "trader": _trader}
DEFAULT_LOOPS = ("router",)
