"""The DM and the paper Trader replayed together over one recorded day: the kernel of the
nightly `dm_decisions` asset.

One time-ordered stream (`lotus_core.trader.replay.run_day`, the Trader's one driver on the
recorded day; the DM stepped by its one driver, `lotus_core.dm.driver.DmDriver`):
the day's books, trades and asset contexts as the Trader's replay uses them, MicroTape rows
(every row to the DM, rows to the Trader while a plan is armed) and the published alphas as
decision slots; events of one millisecond go book, trade, ctx, row, decision. At an alpha:

1. the DM reads what the Trader holds after its fills so far (`context.from_trader`:
   weights, equity, peak, open times) as w₀ and its portfolio context;
2. it decides (`DmEngine.on_alpha(alpha, context)`);
3. its tickets go to the Trader at once, in the DM's order, exactly as `paper_trades`
   replays them from the lake (the lake form of the ticket: without wall-clock fields).

So the Trader's fills inside this run and those of `paper_trades` replaying the stored
tickets are the same (tested), and the next decision sees the positions those fills made,
stop-loss and time-limit exits included.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol

import pandas as pd

from lotus_core.dm.alpha import AlphaEvent, AlphaList, AlphaSlots
from lotus_core.dm.context import PortfolioContext, from_trader
from lotus_core.dm.driver import DmDriver
from lotus_core.dm.engine import Decision, DmEngine
from lotus_core.dm.replay import alpha_order, tape_order
from lotus_core.dm.ticket import lake_ticket_json
from lotus_core.trader.day_chunks import DayChunk
from lotus_core.trader.engine import Out, TraderEngine
from lotus_core.trader.replay import Day, run_day
from lotus_core.trader.replay import Decision as TraderDecision


class JointSink(Protocol):
    """Where the joint replay's results go as they are made: lists (`JointResult`) or the
    step's spill (`lotus_core.dm.joint_tables.JointTables`)."""

    def decided(self, ctx: PortfolioContext, decisions: list[Decision], gross: float,
                net: float) -> None: ...

    def traded(self, outputs: list[Out]) -> None: ...


@dataclass
class JointResult:
    """The joint replay's results held whole (tests, benches, small days)."""

    decisions: list[Decision] = field(default_factory=list)
    outputs: list[Out] = field(default_factory=list)  # the Trader's, in order
    contexts: list[PortfolioContext] = field(default_factory=list)  # one per decided alpha
    gross: list[float] = field(default_factory=list)  # the DM's targets after each round
    net: list[float] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)

    def decided(self, ctx: PortfolioContext, decisions: list[Decision], gross: float,
                net: float) -> None:
        self.contexts.append(ctx)
        self.decisions.extend(decisions)
        self.gross.append(gross)
        self.net.append(net)

    def traded(self, outputs: list[Out]) -> None:
        self.outputs.extend(outputs)


def trader_context(engine: TraderEngine, at_ms: int | None = None) -> PortfolioContext:
    """What the Trader holds now, read without moving anything in it; `at_ms` the
    decision's time (the passive record of its day, as the Trader's rule reads it)."""
    coins = {*engine.positions, *(e.coin for e in engine.executions.values())}
    marks = {c: m for c in coins if (m := engine._top.get(c)) is not None}
    at = engine.now_ms if at_ms is None else at_ms
    return from_trader(engine.positions, engine.portfolio, marks,
                       engine.executions.values(), engine.now_ms, engine.passive_priced(at))


def joint_day(dm: DmEngine, trader: TraderEngine, day: Day | Iterable[DayChunk],
              rows: pd.DataFrame | None, alphas: Iterable[AlphaEvent] | AlphaSlots,
              sink: JointSink) -> dict[str, int]:
    """Replay `day` through both engines (the Trader restored from the previous day's
    state by the caller). `rows`: the day's MicroTape (`microtape_frames`). Or `day` a
    chunk source streaming the day coin-merged (`lotus_core.trader.day_sources`), its
    MicroTape rows inside (`TAPE_COLUMNS`, (ts, coin) order) and `rows` None. `alphas`:
    AlphaEvents (put in the DM's order here) or `AlphaSlots` already in it (read as the
    replay reaches them). The results go to `sink`; returns the replay's event counts."""
    tape = tape_order(rows) if rows is not None else None
    order = alphas if isinstance(alphas, AlphaSlots) else AlphaList(alpha_order(alphas))
    driver = DmDriver(dm)  # its rows come in the Trader's stream (`on_row`)

    def at_slot(i: int, ts: int) -> list[TraderDecision]:
        ctx = trader_context(trader, ts)
        decided = driver.alpha(order.at(i), ctx)
        if not decided:
            return []
        sink.decided(ctx, decided, dm.gross(), dm.net())
        return [TraderDecision(d.ts_ms, json.loads(lake_ticket_json(d.ticket_json)))
                for d in decided]

    return run_day(trader, day, tape, order.times, at_slot, on_row=driver.row,
                   emit=sink.traded).events


def joint_result(dm: DmEngine, trader: TraderEngine, day: Day | Iterable[DayChunk],
                 rows: pd.DataFrame | None, alphas: Iterable[AlphaEvent]) -> JointResult:
    """`joint_day` with its results held whole."""
    res = JointResult()
    res.events = joint_day(dm, trader, day, rows, alphas, res)
    return res
