"""The daemon's own heartbeat: component `daemon`, one beat per interval.

Its detail carries the pid, start time and every loop's state, restarts and last error,
which is what `lotus daemon status` and DaemonResource read. The module column says
`router` (the fabric's plumbing row in `lotus status`): heartbeats.module only admits the
four modules and the router. The final `stopped` beat is the daemon's, after every loop
has returned.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from lotus_core.fabric.heartbeats import beat
from lotus_core.fabric.names import ROUTER
from lotus_daemon.loops.base import Loop, LoopContext

COMPONENT = "daemon"


class HeartbeatLoop(Loop):
    name = "heartbeat"
    component = COMPONENT

    def __init__(self, snapshot: Callable[[], dict[str, Any]], interval_sec: float = 1.0) -> None:
        self.snapshot = snapshot
        self.interval_sec = interval_sec
        self.beats = 0

    def run(self, ctx: LoopContext) -> None:
        with ctx.open_opsdb() as fabric:
            while True:
                beat(fabric, COMPONENT, ROUTER, "ok", self.snapshot())
                self.beats += 1
                if ctx.stop.wait(self.interval_sec):
                    return
