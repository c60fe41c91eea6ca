"""The daemon's way of stepping the Trader, without the fabric: every market event handed
to `drive` one at a time (`LiveColumns`), decisions waiting in a `DecisionClock` until the
market passes their asof time. Tests compare it with `replay_day` on the same events."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from lotus_core.trader.driver import DECISION, Decision, DecisionClock, LiveColumns, drive
from lotus_core.trader.engine import Out, TraderEngine


def drive_live(engine: TraderEngine, events: Iterable[Any], decs: list[Decision]
               ) -> tuple[list[Out], list[int]]:
    """(outputs, counts by kind) of `events` and `decs` through the live adapter."""
    cols, clock = LiveColumns(), DecisionClock()
    for seq, d in enumerate(decs):
        clock.add(d.ts_ms, seq, d)
    in_hand: list[Decision] = []

    def stream() -> Iterator[tuple[int, int, int]]:
        for ev in events:
            item = cols.put(ev)
            for asof, _, d in clock.due(item[2]):
                in_hand.append(Decision(DecisionClock.at(asof, engine), d.ticket))
                yield DECISION, 0, asof
            yield item
        for asof, _, d in clock.due(None):
            in_hand.append(Decision(DecisionClock.at(asof, engine), d.ticket))
            yield DECISION, 0, asof

    live: list[Out] = []
    counts = drive(engine, cols, stream(), lambda i, ts: [in_hand.pop()], live.extend,
                   hold=False)
    assert counts[DECISION] == len(decs) and not in_hand
    return live, counts
