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
    market: Any = None  # the daemon's lotus_daemon.market.MarketHub (shared by its loops)

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


def _feed(options: dict[str, Any]) -> Loop:
    from lotus_daemon.loops.feed import FeedLoop

    return FeedLoop(options["settings"].feed, url=options.get("url"), hub=options.get("market"))


def _score(options: dict[str, Any]) -> Loop:
    from lotus_daemon.loops.score import ScoreLoop

    return ScoreLoop(options["settings"], hub=options["market"])


# name -> factory(options). The heartbeat loop is not here: the daemon always runs it.
LOOPS: dict[str, Callable[[dict[str, Any]], Loop]] = {"router": _router, "feed": _feed,
                                                      "score": _score}
DEFAULT_LOOPS = ("router",)
