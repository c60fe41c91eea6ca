"""The one driver of the Decision-Maker: every run of a `DmEngine` (the nightly replay of
the DM alone, the joint replay with the paper Trader, the daemon's `dm` loop) steps it here.

The stepping rule: the MicroTape rows at or before an alpha's time reach the engine first,
then the alpha is decided (with the portfolio context the caller read, or the DM's own
targets); a withdrawal drops an alpha. What differs between runs is injected:

- the row source: a `RowSource` the driver pulls from up to each alpha's time (a day's
  MicroTape, `lotus_core.dm.replay.RowFeed`; the live hub's rows, `HubRows`), or none
  when the rows are pushed in the Trader driver's merged stream (`row`, the joint replay);
- the clock: which alpha comes when. The replays take the day's published alphas in
  `alpha_order`; the daemon takes its inbox rows in arrival order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Protocol

from lotus_core.dm.alpha import AlphaEvent
from lotus_core.dm.context import PortfolioContext
from lotus_core.dm.engine import Decision, DmEngine


class RowSource(Protocol):
    def until(self, ts_ms: int) -> Iterable[Mapping[str, Any]]: ...


class DmDriver:
    """A `DmEngine` and where its market rows come from."""

    def __init__(self, engine: DmEngine, rows: RowSource | None = None) -> None:
        self.engine = engine
        self.rows = rows

    def row(self, row: Mapping[str, Any]) -> None:
        """A MicroTape row pushed in time order (no row source)."""
        self.engine.on_row(row)

    def alpha(self, alpha: AlphaEvent, context: PortfolioContext | None = None
              ) -> list[Decision]:
        """The rows up to the alpha's time, then the alpha: the tickets it decides."""
        if self.rows is not None:
            on_row = self.engine.on_row
            for r in self.rows.until(alpha.ts_ms):
                on_row(r)
        return self.engine.on_alpha(alpha, context)

    def withdrawal(self, alpha_id: str) -> bool:
        """An alpha withdrawn: dropped from the next decisions (none now)."""
        return self.engine.withdraw(alpha_id)

    def run(self, alphas: Iterable[AlphaEvent],
            context: Callable[[], PortfolioContext | None] = lambda: None
            ) -> Iterator[tuple[AlphaEvent, list[Decision]]]:
        """Each alpha in turn with what it decided (`context()` read just before each)."""
        for a in alphas:
            yield a, self.alpha(a, context())
