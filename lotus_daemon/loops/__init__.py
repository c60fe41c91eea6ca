"""The daemon's loops: one small module each, all built on `Loop`.

A loop is a long-running job the daemon hosts in its own thread, with its own fabric
connection. It runs until `ctx.stopping()` and must then finish the work in hand and
return promptly (the daemon waits for it). If it raises, the daemon logs it and starts
it again after a backoff (1 s doubling to 30 s), so a fabric that is briefly unreachable
does not end the daemon. Adding one = a module here + a line in `LOOPS`.

Settings: the daemon host builds one `Settings` and passes it as `options["settings"]`;
every factory takes its sections from it (the dm, trader, feed, live, scoring and dsi
sections the nightly assets read too) and none reads a settings file. Tests may pass a
section instead (`dm_settings`, `trader`); without either, the model defaults.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lotus_core.fabric.defaults import ROUTER_BATCH_SIZE, ROUTER_NAME
from lotus_daemon.loops.base import Loop, LoopContext

__all__ = ["DEFAULT_LOOPS", "LOOPS", "Loop", "LoopContext"]


def _router(options: dict[str, Any]) -> Loop:
    from lotus_daemon.loops.router import RouterLoop

    return RouterLoop(name=options.get("router_name", ROUTER_NAME),
                      batch_size=int(options.get("batch_size", ROUTER_BATCH_SIZE)))


def _dm(options: dict[str, Any]) -> Loop:
    from lotus_daemon.loops.dm import DmLoop
    from lotus_daemon.market import HubRows

    hub = options.get("market")
    if hub is not None and "rows" not in options:  # the score loop's rows, as they finish
        options = {**options, "rows": HubRows(hub)}
    settings = options.get("settings")
    if settings is not None:  # the host's one Settings: its dm section and frame cadence
        options = {"dm_settings": settings.dm, "cadence_ms": settings.microtape.cadence_ms,
                   "trader_settings": settings.trader, **options}  # the one cost model's
    return DmLoop(options)


def _trader(options: dict[str, Any]) -> Loop:
    from lotus_core.trader.config import trader_settings
    from lotus_daemon.loops.trader import TraderLoop

    settings = options.get("settings")
    section = options.get("trader", settings.trader if settings is not None else None)
    hub = options.get("market")
    if hub is not None and hub.has_feed and "source" not in options:  # the live market
        from lotus_daemon.market import HubTraderSource

        return TraderLoop(trader_settings(section), source=HubTraderSource(hub),
                          market_clock=True)
    return TraderLoop(trader_settings(section), source=options.get("source"),
                      commit_steps=bool(options.get("commit_steps", True)))


def _feed(options: dict[str, Any]) -> Loop:
    from lotus_daemon.loops.feed import FeedLoop

    return FeedLoop(options["settings"].feed, url=options.get("url"), hub=options.get("market"))


def _score(options: dict[str, Any]) -> Loop:
    settings = options["settings"]
    if settings.live.score_process:  # its own core (lotus_daemon.loops.score_proc)
        from lotus_daemon.loops.score_proc import ScoreProcess

        return ScoreProcess(settings, hub=options["market"])
    from lotus_daemon.loops.score import ScoreLoop

    return ScoreLoop(settings, hub=options["market"])


# name -> factory(options). The heartbeat loop is not here: the daemon always runs it.
LOOPS: dict[str, Callable[[dict[str, Any]], Loop]] = {"router": _router, "feed": _feed,
                                                      "score": _score, "dm": _dm,
                                                      "trader": _trader}
DEFAULT_LOOPS = ("feed", "score", "dm", "trader", "router")
"""What "the daemon" runs unless told otherwise (`lotus daemon start`, `python -m
lotus_daemon`, the `daemon_start` job): the live path, market data to scored windows to
decisions to paper fills, and the router between them. `--loops router` hosts the router
alone (no feed)."""
