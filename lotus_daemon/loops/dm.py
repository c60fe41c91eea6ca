"""The Decision-Maker as a daemon loop: a thin adapter over `lotus_core.dm.live.DmLive`,
which steps the engine through the DM's one driver (`lotus_core.dm.driver.DmDriver`, the
nightly replays' too); this loop only builds it and supplies the inbox's clock.

On start it takes the `dm:` settings it was given (option `dm_settings`: the section of the
daemon host's one Settings, which the nightly `dm_decisions` reads too; the model defaults
when none) and the newest `dm_calibration` partition of the lake
(or the conservative prior when there is none), replays its own consumed inbox rows to
restore the book (posting nothing), then consumes dm_inbox until the daemon stops. Market
rows come from `options["rows"]` (a RowSource): in the daemon, `HubRows` over the market
hub, i.e. the rows the score loop finishes; in tests and replays, a recorded day. Without
one, no coin has data and nothing is decided.

Universe: the configured coins the rows carry, each from its first row (the engine's rule,
the nightly's too: `lotus_core.dm.engine.universe`). A configured coin left out of a
decision is said once (a warning); `info()` names the universe and the coins left out.

Positions: each decision starts from what the paper Trader holds, read from the `trader`
loop's persisted snapshot in the fabric (`trader_state`; option `positions: trader`, the
default), as the nightly joint replay does; `positions: own` (or no Trader state yet) uses
the DM's own targets filled at mid.
"""

from __future__ import annotations

from typing import Any

from lotus_core.costs import CostModel
from lotus_core.dm.calibration import Calibration, empty_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.live import DmLive
from lotus_core.fabric.keyring import Keyring
from lotus_core.store.lake import Lake
from lotus_core.trader.config import trader_settings
from lotus_daemon.loops.base import Loop, LoopContext


def newest_calibration(home: Any, day: str | None = None) -> Any:
    """The newest dm_calibration partition (at or before `day`), or None."""
    lake = Lake(home / "lake")
    days = sorted(p.name.split("=", 1)[1] for p in (home / "lake" / "dm_calibration").glob(
        "date=*")) if (home / "lake" / "dm_calibration").is_dir() else []
    days = [d for d in days if day is None or d <= day]
    return lake.read("dm_calibration", days[-1]) if days else None


class DmLoop(Loop):
    name = "dm"
    component = "dm"

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        self.options = dict(options or {})
        self.live: DmLive | None = None
        self.said: set[str] = set()  # the configured coins said to be without data

    def build(self, ctx: LoopContext) -> DmLive:
        opts = {**ctx.options, **self.options}
        cfg = load_dm_settings(opts.get("dm_settings"))
        table = opts.get("calibration")
        if table is None:
            table = newest_calibration(ctx.home, opts.get("calibration_day"))
        calib = (Calibration(table, cfg.calibration) if table is not None
                 else empty_calibration(cfg.calibration))
        # the venues the Trader fills on price the DM's trades, as in the nightly asset
        costs = CostModel.from_trader(trader_settings(opts.get("trader_settings")))
        engine = DmEngine(cfg, calib, cadence_ms=int(opts.get("cadence_ms", 1000)),
                          costs=costs)
        return DmLive(engine, Keyring(ctx.key_dir), rows=opts.get("rows"),
                      positions=str(opts.get("positions", "trader")),
                      models_map=ctx.models_map())

    def run(self, ctx: LoopContext) -> None:
        idle = float(self.options.get("idle_s", 0.2))
        with ctx.open_opsdb() as fabric:
            self.live = live = self.build(ctx)
            live.restore(fabric)
            while not ctx.stopping():
                took = live.step(fabric, limit=int(self.options.get("batch_size", 100)))
                self._say_left_out(ctx)
                if took == 0:
                    ctx.stop.wait(idle)

    def _say_left_out(self, ctx: LoopContext) -> None:
        """The configured coins left out of a decision (no market row of theirs yet), each
        said once: before any alpha every coin is without rows, which is no news."""
        assert self.live is not None
        engine = self.live.engine
        new = [c for c in engine.left_out if c not in self.said] if engine.seen else []
        if new:
            self.said.update(new)
            ctx.log.warning("dm: dm.coins %s have no market rows: left out of the "
                            "Decision-Maker's problem until their first row", ", ".join(new))

    def info(self) -> dict[str, Any]:
        if self.live is None:
            return {}
        s = self.live.stats
        return {"consumed": s.consumed, "posted": s.posted, "duplicates": s.duplicates,
                "failed": s.failed, "restored": s.restored,
                "universe": list(self.live.engine.coins),
                "coins_without_data": list(self.live.engine.left_out)}
