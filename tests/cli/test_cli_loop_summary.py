"""The summary's trading columns: decisions, fills, and the day's change in paper equity
(positions carry across midnight, so a day's P&L is its equity change)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from lotus_cli.loop_summary import loop_figures
from lotus_core.store.lake import Lake


def _trades(fills: int, equity: float) -> pd.DataFrame:
    state = {"portfolio": {"initial_equity": 100_000.0},
             "portfolio_state": {"equity": equity}}
    rows = [("fill", "{}")] * fills + [("order", "{}"), ("state", json.dumps(state))]
    return pd.DataFrame(rows, columns=["kind", "data_json"])


def test_fills_and_the_days_equity_change(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write("dm_decisions", "2026-01-02", pd.DataFrame({"decision_id": ["a", "b", "c"]}))
    lake.write("paper_trades", "2026-01-02", _trades(2, 99_500.0))
    lake.write("paper_trades", "2026-01-03", _trades(5, 99_800.0))
    first, second = loop_figures(lake, "2026-01-02"), loop_figures(lake, "2026-01-03")
    assert (first["decisions"], first["fills"], first["pnl"]) == (3, 2, -500.0)  # vs initial
    assert (second["fills"], second["pnl"]) == (5, 300.0)  # vs the previous day's end
    assert "decisions" not in second  # no dm_decisions that day: no column value invented
