"""One rounding policy for everything the researcher's surface shows (`figure`): floats to
at most 6 significant digits, money (`*_usd`) to 2 decimals, NaN not shown, integers kept;
and `numeric`, `table_of`, `rounded` (nested values, JSON, tables) and the checks' figures
all apply it. Rates in Markdown tables carry no sign."""

from __future__ import annotations

import math

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from lotus_assets.metadata import eval_story, figure, numeric, rounded, table_of
from lotus_core.report.tables import EvalTally


@pytest.mark.parametrize(("raw", "shown"), [
    (0.4908839141472421, 0.490884),
    (1.44700121, 1.447),
    (0.0011307422461614399, 0.00113074),
    (351643.0, 351643.0),
    (99851.02345, 99851.02),  # never fewer than 2 decimals: a plotted equity keeps its cents
    (-12.3456789, -12.3457),
    (0.0, 0.0),
])
def test_floats_keep_six_significant_digits_and_two_decimals(raw: float, shown: float) -> None:
    assert figure(raw) == shown
    assert figure(np.float64(raw)) == shown


def test_money_keeps_cents_and_nan_is_not_shown() -> None:
    assert figure(99851.02345, money=True) == 99851.02
    assert figure(0.0345678, money=True) == 0.03
    assert figure(float("nan")) is None and figure(math.inf) is None and figure(None) is None


def test_numeric_applies_the_policy_and_keeps_ints() -> None:
    meta = numeric({"published_hit_rate_today": 0.4908839141472421, "patches_today": 3,
                    "count": np.int64(7), "gone": float("nan"), "none": None,
                    "equity_usd": 99851.02345})
    assert meta["published_hit_rate_today"] == dg.MetadataValue.float(0.490884)
    assert meta["patches_today"] == dg.MetadataValue.int(3)
    assert meta["count"] == dg.MetadataValue.int(7)
    assert meta["equity_usd"] == dg.MetadataValue.float(99851.02)
    assert "gone" not in meta and "none" not in meta


def test_table_cells_follow_the_policy() -> None:
    df = pd.DataFrame({"turnover_used": [1.44700121, np.nan], "n": [3, 4],
                       "notional_usd": [1234.56789, 0.123456], "fee_usd": [0.0123456, 0.5],
                       "coin": ["BTC", "ETH"], "big": [351643.0, 1.0]})
    table = table_of(df, {})
    rows = [r.data for r in table.records]
    assert rows[0] == {"turnover_used": 1.447, "n": 3, "notional_usd": 1234.57,
                       "fee_usd": 0.01, "coin": "BTC", "big": 351643.0}
    assert rows[1]["turnover_used"] is None and rows[1]["n"] == 4
    assert isinstance(rows[0]["n"], int)


def test_rounded_reaches_nested_json_and_table_values() -> None:
    table = dg.MetadataValue.table([dg.TableRecord({"x": 0.0011307422461614399,
                                                    "day_pnl_usd": -12.345678})])
    meta = rounded({
        "slippage_bps": {"p05": -1.23456789, "p50": 0.4908839141472421},
        "statuses": {"filled": 142, "already_at_target": 1039},
        "hit_rate": {"60": 0.4908839141472421, "300": float("nan")},
        "seconds": [0.123456789, 2],
        "json": dg.MetadataValue.json({"a": [1.44700121]}),
        "float": dg.MetadataValue.float(0.0011307422461614399),
        "plain": 0.0011307422461614399, "nan": float("nan"), "none": None,
        "ratio": np.float64(1.44700121), "count": np.int64(5), "flag": np.bool_(True),
        "text": dg.MetadataValue.text("1.44700121"), "table": table,
    })
    assert meta["slippage_bps"] == {"p05": -1.23457, "p50": 0.490884}
    assert meta["statuses"] == {"filled": 142, "already_at_target": 1039}
    assert meta["hit_rate"] == {"60": 0.490884, "300": None}
    assert meta["seconds"] == [0.123457, 2]
    assert meta["json"].value == {"a": [1.447]}
    assert meta["float"].value == 0.00113074 and meta["plain"] == 0.00113074
    assert "nan" not in meta and meta["none"] is None
    assert meta["ratio"] == 1.447 and type(meta["ratio"]) is float
    assert meta["count"] == 5 and type(meta["count"]) is int and meta["flag"] is True
    assert meta["text"].value == "1.44700121"  # text is a person's words: as it is
    assert meta["table"].records[0].data == {"x": 0.00113074, "day_pnl_usd": -12.35}
    assert rounded(meta) == meta  # the policy applied twice changes nothing


def test_the_checks_figures_follow_the_policy() -> None:
    """A check's measures reach its metadata through `numeric` (lotus_assets/checks.py)."""
    out = numeric({"psi_spread_bps": 0.0011307422461614399, "z": -1.44700121,
                   "bad": float("inf")})
    assert out == {"psi_spread_bps": dg.MetadataValue.float(0.00113074),
                   "z": dg.MetadataValue.float(-1.447)}


def test_hit_rates_are_not_signed_net_returns_are() -> None:
    tally = EvalTally()
    tally.add(pd.DataFrame({
        "detector_id": ["d"] * 4, "horizon_s": [60] * 4, "status": ["done"] * 4,
        "hit": [True, False, True, True], "net_ret_bps": [2.0, -1.0, 3.0, 1.0],
        "published": [True, True, False, False]}))
    meta = eval_story(tally)
    table = meta["hit_rates_table"].value
    assert "| d | 60 | 4 | 0.75 | +1.25 | 2 | 0.50 | +0.50 |" in table
    assert meta["published_hit_rate"] == dg.MetadataValue.float(0.5)
