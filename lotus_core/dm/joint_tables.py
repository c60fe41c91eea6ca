"""The joint replay's two tables, `dm_decisions` and `paper_trades`, made as the replay goes
(a step's memory independent of the coins). At 100 coins a day has ~70,000
tickets of ~2.6 KB and as many Trader reports: held as Python objects until the day's end
they were most of what `dm_decisions` grew by with the coins. Here each few hundred rows
go to an Arrow IPC spill (`RowSpill`) in their final order, and what the metadata says of
them is folded as they pass (`DecisionTally`, `PaperTally`); the lake then takes each table
a slice at a time (`InOrder`).

`decisions_frame`, `paper_rows` and `state_row` make the rows, as they do for a day held
whole (`JointResult`): the two forms give the same tables (tested).
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.costs import CostTally
from lotus_core.dm.context import PortfolioContext
from lotus_core.dm.engine import Decision
from lotus_core.dm.replay import decisions_frame
from lotus_core.store.spill import RowSpill
from lotus_core.trader.engine import Out, TraderEngine
from lotus_core.trader.nightly import PaperTally, paper_rows, state_row

BATCH_ROWS = 500
"""Rows a spill batch holds (the tickets' rows are ~3 KB: ~1.5 MB a batch)."""


@dataclass
class DecisionTally:
    """What `dm_decisions`' metadata says of the day's tickets and of the rounds that made
    them (the DM's gross / net after each; what the Trader held when it decided)."""

    decisions: int = 0
    trades: int = 0
    holds: int = 0
    turnover_used: float = 0.0
    vetoes: int = 0
    binding: Counter[str] = field(default_factory=Counter)
    solve_ms: list[float] = field(default_factory=list, compare=False)  # wall clock
    rounds: int = 0
    gross_max: float = 0.0
    gross_last: float = 0.0
    net_min: float = 0.0
    net_max: float = 0.0
    held_rounds: int = 0
    held_gross_max: float = 0.0
    held_net_min: float = 0.0
    held_net_max: float = 0.0
    held_drawdown_max: float = 0.0

    def add(self, decisions: list[Decision]) -> None:
        for d in decisions:
            self.decisions += 1
            self.trades += d.action == "trade"
            self.holds += d.action == "hold"
            if not math.isnan(moved := abs(d.target - d.w0)):  # as pandas' sum skips NaN
                self.turnover_used += moved
            self.vetoes += sum(1 for e in d.curation if e["kind"] == "veto")
            self.binding.update(d.binding)
            self.solve_ms.append(d.solve_ms)

    def round(self, gross: float, net: float) -> None:
        """The DM's book after a round that decided."""
        first = self.rounds == 0
        self.gross_max = gross if first else max(self.gross_max, gross)
        self.net_min = net if first else min(self.net_min, net)
        self.net_max = net if first else max(self.net_max, net)
        self.gross_last = gross
        self.rounds += 1

    def held(self, ctx: PortfolioContext) -> None:
        """What the Trader held when the DM decided."""
        gross = sum(abs(w) for w in ctx.weights.values())
        net = sum(ctx.weights.values())
        first = self.held_rounds == 0
        self.held_gross_max = gross if first else max(self.held_gross_max, gross)
        self.held_net_min = net if first else min(self.held_net_min, net)
        self.held_net_max = net if first else max(self.held_net_max, net)
        self.held_drawdown_max = (ctx.drawdown if first
                                  else max(self.held_drawdown_max, ctx.drawdown))
        self.held_rounds += 1

    def book(self) -> dict[str, Any]:
        """The DM's gross / net through the day (0 when it never decided)."""
        return {"gross_max": round(self.gross_max, 8), "gross_last": round(self.gross_last, 8),
                "net_min": round(self.net_min, 8), "net_max": round(self.net_max, 8)}

    def holdings(self) -> dict[str, Any]:
        """Gross / net of what the Trader held when the DM decided (0 when it never did)."""
        return {"held_gross_max": round(self.held_gross_max, 8),
                "held_net_min": round(self.held_net_min, 8),
                "held_net_max": round(self.held_net_max, 8),
                "held_drawdown_max": round(self.held_drawdown_max, 8)}

    def solve_percentile(self, q: float) -> float | None:
        if not self.solve_ms:
            return None
        return round(float(np.percentile(np.array(self.solve_ms), q)), 3)


def tally_of(decisions: list[Decision], gross: list[float], net: list[float],
             contexts: Sequence[PortfolioContext] = ()) -> DecisionTally:
    """The tally of a day held whole (the DM alone, or a `JointResult`)."""
    tally = DecisionTally()
    tally.add(decisions)
    for g, n in zip(gross, net, strict=True):
        tally.round(g, n)
    for ctx in contexts:
        tally.held(ctx)
    return tally


class JointTables:
    """The joint replay's sink for the nightly step: tickets and Trader rows spilled under
    `directory` as they come (`decided`, `traded`), the day's state row added by `finish`;
    then `decisions` and `paper` read back in order."""

    def __init__(self, directory: Path, batch_rows: int = BATCH_ROWS) -> None:
        self.tally, self.paper_tally = DecisionTally(), PaperTally()
        self.costs = CostTally()  # priced (the tickets) against paid (the Trader's reports)
        self.decisions = RowSpill(Path(directory) / "dm_decisions.arrow", decisions_frame([]))
        self.paper = RowSpill(Path(directory) / "paper_trades.arrow", paper_rows([]))
        self._batch = batch_rows
        self._tickets: list[Decision] = []
        self._outs: list[Out] = []

    def decided(self, ctx: PortfolioContext, decisions: list[Decision], gross: float,
                net: float) -> None:
        self.tally.held(ctx)
        self.tally.add(decisions)
        self.tally.round(gross, net)
        priced(self.costs, decisions)
        self._tickets.extend(decisions)
        if len(self._tickets) >= self._batch:
            self._flush_tickets()

    def traded(self, outputs: list[Out]) -> None:
        self.costs.outputs(outputs)
        self._outs.extend(outputs)
        if len(self._outs) >= self._batch:
            self._flush_outs()

    def _flush_tickets(self) -> None:
        self.decisions.append(decisions_frame(self._tickets, start=self.decisions.rows))
        self._tickets = []

    def _flush_outs(self) -> None:
        rows = paper_rows(self._outs, start=self.paper.rows)
        self.paper_tally.add(rows)
        self.paper.append(rows)
        self._outs = []

    def finish(self, trader: TraderEngine | None) -> None:
        """The last rows written and the spills closed; with `trader`, its final state row
        appended to `paper` first."""
        self._flush_tickets()
        self._flush_outs()
        if trader is not None:
            self.paper.append(state_row(trader, self.paper.rows))
        self.decisions.close()
        self.paper.close()


def priced(tally: CostTally, decisions: Sequence[Decision]) -> None:
    """The tickets' priced costs into `tally`."""
    for d in decisions:
        tally.priced(d.decision_id, d.coin, d.ticket, d.action == "trade")


def cost_table(decisions: Sequence[Decision], outputs: Sequence[Out] = ()) -> pd.DataFrame:
    """Priced against paid per coin (`lotus_core.costs.COST_TABLE`) of a day held whole:
    the tickets, and the Trader's outputs of the joint replay (none: the DM alone)."""
    tally = CostTally()
    priced(tally, decisions)
    tally.outputs(outputs)
    return tally.table()


def ticket_notes(tickets: pd.Series) -> list[str]:
    """Each ticket's `notes` (why it holds or trades) from its JSON."""
    return [str(json.loads(t).get("notes", "")) for t in tickets]
