"""Replaying a day: MicroTape rows and published alphas merged in time order through one
DmEngine (rows at or before an alpha's time first). The nightly asset calls this; the
stepping is the one driver's (`lotus_core.dm.driver.DmDriver`, which the live loop runs
too): this module supplies the recorded day's rows (`RowFeed`) and its alphas in order.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.dm.alpha import AlphaEvent
from lotus_core.dm.driver import DmDriver
from lotus_core.dm.engine import Decision, DmEngine
from lotus_core.dm.ticket import lake_ticket_json
from lotus_core.trader.replay import rows_in_order

ROW_COLUMNS = ("coin", "ts_ms", "mid_px", "spread_bps", "depth_5_bid", "depth_5_ask",
               "depth_slope", "stale_ms", "funding")
# what the DM and the Trader's trigger evaluator read of a MicroTape row
TAPE_COLUMNS = (*ROW_COLUMNS, "bid_px", "ask_px")

DECISION_COLUMNS = ["decision_id", "ts_ms", "coin", "ticket_json", "alpha_id", "action", "w0",
                    "target", "binding", "turnover", "edge_bps", "cost_bps", "execution",
                    "ticket_digest", "curation_json", "seq"]


class RowFeed:
    """A day's MicroTape rows in (ts, coin) order, handed out up to a time."""

    def __init__(self, frame: pd.DataFrame) -> None:
        cols = [c for c in ROW_COLUMNS if c in frame.columns]
        f = frame[cols].sort_values(["ts_ms", "coin"], kind="stable").reset_index(drop=True)
        self._rows = f.to_dict("records")
        self._ts = f["ts_ms"].to_numpy(dtype=np.int64)
        self._i = 0

    def until(self, ts_ms: int) -> Iterator[dict[str, Any]]:
        """The rows with ts_ms <= ts_ms not handed out yet."""
        stop = int(np.searchsorted(self._ts, ts_ms, side="right"))
        while self._i < stop:
            yield self._rows[self._i]
            self._i += 1


@dataclass
class ReplayResult:
    decisions: list[Decision]
    gross: list[float]
    net: list[float]


def alpha_order(alphas: Iterable[AlphaEvent]) -> list[AlphaEvent]:
    """Published alphas in the order the DM decides them."""
    return sorted(alphas, key=lambda x: (x.ts_ms, x.coin, x.detector_id, x.alpha_id))


def tape_order(rows: pd.DataFrame) -> pd.DataFrame:
    """The MicroTape columns the DM and the Trader's triggers read, in (ts, coin) order."""
    return rows_in_order(rows, TAPE_COLUMNS)


def replay(engine: DmEngine, rows: pd.DataFrame, alphas: Iterable[AlphaEvent]) -> ReplayResult:
    """The DM alone, positions = its own targets filled at mid (no recording to fill on)."""
    out: list[Decision] = []
    gross: list[float] = []
    net: list[float] = []
    for _, ds in DmDriver(engine, RowFeed(rows)).run(alpha_order(alphas)):
        out.extend(ds)
        if ds:
            gross.append(engine.gross())
            net.append(engine.net())
    return ReplayResult(out, gross, net)


def decisions_frame(decisions: Iterable[Decision], start: int = 0) -> pd.DataFrame:
    """The `dm_decisions` table: one row per ticket (the Trader reads decision_id, ts_ms,
    coin, ticket_json, and `seq`, the DM's order, for tickets of one millisecond); what the
    DM believed: `edge_bps` (the calibrated edge it solved with, signed), `cost_bps` (the
    cost it priced a side, lotus_core.costs) and `execution` (the one it assumed). `start`:
    the first row's `seq` (a part of the day made as the replay goes)."""
    rows = [{
        "decision_id": d.decision_id, "ts_ms": d.ts_ms, "coin": d.coin,
        "ticket_json": lake_ticket_json(d.ticket_json), "alpha_id": d.alpha_id, "action": d.action,
        "w0": d.w0, "target": d.target, "binding": json.dumps(list(d.binding)),
        "turnover": d.turnover, "edge_bps": d.edge_bps, "cost_bps": d.cost_bps,
        "execution": d.execution, "ticket_digest": d.digest,
        "curation_json": json.dumps(list(d.curation), sort_keys=True), "seq": i,
    } for i, d in enumerate(decisions, start)]
    f = pd.DataFrame(rows, columns=DECISION_COLUMNS)
    return f.astype({"decision_id": "str", "ts_ms": "int64", "coin": "str",
                     "ticket_json": "str", "alpha_id": "str", "action": "str",
                     "w0": "float64", "target": "float64", "binding": "str",
                     "turnover": "float64", "edge_bps": "float64", "cost_bps": "float64",
                     "execution": "str", "ticket_digest": "str", "curation_json": "str",
                     "seq": "int64"})
