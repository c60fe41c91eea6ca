"""The summary's trading columns: decisions, fills, their maker share, and the day's change in
paper equity split into gross trading P&L, fees and the net change (positions carry across
midnight, so a day starts from the previous day's end: lotus_core.trader.day_pnl)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from lotus_cli.loop_summary import loop_figures
from lotus_core.store.lake import Lake


def _trades(liquidity: list[str], equity: float, realised: float, fees: float) -> pd.DataFrame:
    state = {"portfolio": {"initial_equity": 100_000.0},
             "portfolio_state": {"equity": equity, "realised": realised, "unrealised": 0.0,
                                 "fees": fees, "funding": 0.0}}
    fills = [("fill", json.dumps({"qty": 0.1, "px": 50_000.0, "liquidity": liq}))
             for liq in liquidity]
    return pd.DataFrame(fills + [("order", "{}"), ("state", json.dumps(state))],
                        columns=["kind", "data_json"])


def test_fills_maker_share_and_the_days_equity_change_split(tmp_path: Path) -> None:
    lake = Lake(tmp_path)
    lake.write("dm_decisions", "2026-01-02", pd.DataFrame({"decision_id": ["a", "b", "c"]}))
    lake.write("paper_trades", "2026-01-02",
               _trades(["taker", "maker"], 99_500.0, realised=-480.0, fees=20.0))
    lake.write("paper_trades", "2026-01-03",
               _trades(["maker"] * 4 + ["taker"], 99_800.0, realised=-160.0, fees=40.0))
    first, second = loop_figures(lake, "2026-01-02"), loop_figures(lake, "2026-01-03")
    assert (first["decisions"], first["fills"], first["pnl"]) == (3, 2, -500.0)  # vs initial
    assert (first["gross"], first["fees"], first["maker_share"]) == (-480.0, 20.0, 0.5)
    assert (second["fills"], second["pnl"]) == (5, 300.0)  # vs the previous day's end
    assert (second["gross"], second["fees"]) == (320.0, 20.0)
    assert second["maker_share"] == pytest.approx(0.8)
    assert second["gross"] - second["fees"] == second["pnl"]  # no funding these days
    assert "decisions" not in second  # no dm_decisions that day: no column value invented
