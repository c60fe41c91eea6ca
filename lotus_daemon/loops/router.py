"""The Herald router as a daemon loop: `run_router` until the daemon stops.

`run_router` checks the stop flag between passes, so a stop finishes the batch in hand
(a batch commits whole or not at all anyway) and beats `stopped` with the totals. It
beats its own heartbeat (component `herald` by default): the same row a separate
`lotus router run` would write, so herald_watch_sensor sees a live router either way.
"""

from __future__ import annotations

from typing import Any

from lotus_core.fabric.defaults import ROUTER_BATCH_SIZE, ROUTER_NAME
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.router import RouterConfig, RouteStats, default_owner, run_router
from lotus_daemon.loops.base import Loop, LoopContext


class RouterLoop(Loop):
    name = "router"

    def __init__(self, name: str = ROUTER_NAME, batch_size: int = ROUTER_BATCH_SIZE) -> None:
        self.component = name
        self.batch_size = batch_size
        self.total = RouteStats()

    def run(self, ctx: LoopContext) -> None:
        cfg = RouterConfig(name=self.component, batch_size=self.batch_size,
                           owner=default_owner(self.component))
        with ctx.open_opsdb() as fabric:
            run_router(fabric, Keyring(ctx.key_dir), stop=ctx.stopping, config=cfg,
                       on_pass=self.total.add)

    def info(self) -> dict[str, Any]:
        t = self.total
        return {"routed": t.routed, "delivered": t.delivered, "dead": t.dead_total,
                "duplicates": t.duplicates}
