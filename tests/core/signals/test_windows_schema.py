"""detector_windows' row contract: unique by (ts_ms, coin, detector_id), each coin's rows in
(ts_ms, detector_id) order: the day's order and the lake's by-coin layout both pass, a coin's
rows out of time order or a repeated window fail."""

from __future__ import annotations

from pathlib import Path

import pandera.errors
import pytest

from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import detect_day
from lotus_core.signals.schema import DETECTOR_WINDOWS_SCHEMA

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"


@pytest.fixture(scope="module")
def windows():
    return detect_day(build_microtape(parse_recording(FIXTURES / "2026-01-02.jsonl.gz")),
                      scoring=load_scoring())


def test_the_days_order_and_the_by_coin_layout_pass(windows):
    assert windows["coin"].nunique() >= 3 and len(windows) > 1_000
    DETECTOR_WINDOWS_SCHEMA.validate(windows)
    by_coin = windows.sort_values(["coin", "ts_ms", "detector_id"], kind="stable")
    DETECTOR_WINDOWS_SCHEMA.validate(by_coin.reset_index(drop=True))


def test_a_coins_rows_out_of_time_order_fail(windows):
    coin = windows["coin"].iloc[0]
    rows = windows.index[windows["coin"] == coin]
    order = list(windows.index)
    a, b = order.index(rows[3]), order.index(rows[40])
    order[a], order[b] = order[b], order[a]
    swapped = windows.loc[order].reset_index(drop=True)
    with pytest.raises(pandera.errors.SchemaError, match="in_time_within_coin"):
        DETECTOR_WINDOWS_SCHEMA.validate(swapped)


def test_a_repeated_window_fails(windows):
    doubled = windows.iloc[[0, 0, *range(1, 50)]].reset_index(drop=True)
    with pytest.raises(pandera.errors.SchemaError, match="in_time_within_coin"):
        DETECTOR_WINDOWS_SCHEMA.validate(doubled)
