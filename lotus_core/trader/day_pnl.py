"""A paper day's equity change, split: what the trading made (gross), what the fees took and
what funding paid, with the fills behind it. One definition for `lotus materialize`'s
summary and `python -m bench paper_pnl`.

The split reads the Trader's end-of-day `state` rows of `paper_trades` (positions carry
across midnight, so a day starts from the newest earlier day's end, or from the initial
equity): gross = change in realised + change in unrealised; net = the change in equity =
gross - fees + funding.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from lotus_core.store.lake import Lake

TRADES = "paper_trades"  # the Trader's records; its `state` row holds the portfolio state


@dataclass(frozen=True)
class DayPnl:
    """One paper day's figures, USD unless named."""

    day: str
    fills: int
    maker_fills: int
    traded: float  # sum of |qty x px| over the fills
    start_equity: float
    gross: float  # realised + unrealised change, before fees and funding
    fees: float  # paid (a maker rebate counts negative)
    funding: float  # received (negative: paid)
    net: float  # the equity change

    @property
    def maker_share(self) -> float:
        """Share of the day's fills that rested and were hit (NaN without a fill)."""
        return self.maker_fills / self.fills if self.fills else math.nan

    @property
    def turnover(self) -> float:
        """Notional traded over the day's starting equity."""
        return self.traded / self.start_equity if self.start_equity else math.nan

    @property
    def gross_bps(self) -> float:
        """The trading's edge per dollar traded, bps (NaN without a trade)."""
        return 1e4 * self.gross / self.traded if self.traded else math.nan

    @property
    def fees_bps(self) -> float:
        """What a dollar traded paid in fees, bps (NaN without a trade)."""
        return 1e4 * self.fees / self.traded if self.traded else math.nan


def _records(lake: Lake, day: str) -> pd.DataFrame | None:
    """The day's `paper_trades` rows (kind, data_json), None if the Trader did not run."""
    return lake.read(TRADES, day, columns=["kind", "data_json"]) \
        if lake.exists(TRADES, day) else None


def _end_state(rows: pd.DataFrame | None) -> dict[str, Any] | None:
    """The paper portfolio at the end of a day (its last `state` row), if it has one."""
    if rows is None:
        return None
    state = rows[rows["kind"] == "state"]
    return dict(json.loads(state["data_json"].iloc[-1])) if len(state) else None


def day_pnl(lake: Lake, day: str) -> DayPnl | None:
    """The split of `day` (None: the Trader did not run that day)."""
    table = _records(lake, day)
    end = _end_state(table)
    if table is None or end is None:
        return None
    earlier = [d for d in lake.days(TRADES) if d < day]
    prev = _end_state(_records(lake, earlier[-1])) if earlier else None
    ps = end["portfolio_state"]
    start = (prev["portfolio_state"] if prev is not None else
             {"equity": end["portfolio"]["initial_equity"], "realised": 0.0,
              "unrealised": 0.0, "fees": 0.0, "funding": 0.0})
    fills = [json.loads(s) for s in table.loc[table["kind"] == "fill", "data_json"]]
    return DayPnl(
        day=day, fills=len(fills),
        maker_fills=sum(f.get("liquidity") == "maker" for f in fills),
        traded=float(sum(abs(f["qty"] * f["px"]) for f in fills)),
        start_equity=float(start["equity"]),
        gross=float((ps["realised"] - start["realised"])
                    + (ps["unrealised"] - start["unrealised"])),
        fees=float(ps["fees"] - start["fees"]),
        funding=float(ps["funding"] - start["funding"]),
        net=float(ps["equity"] - start["equity"]))
