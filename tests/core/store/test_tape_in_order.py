"""The MicroTape the whole-day replays read (`tape_in_order`): a partition written a row
group per coin, read back in (ts, coin) order a slice at a time, on both kinds of lake,
with the columns asked for that it has; what the DuckDB sort of the whole partition gives
(that sort holds up to 256 MB at 100 coins)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.store.by_coin import CoinDay
from lotus_core.trader.day_sources import tape_in_order

DAY = "2026-01-02"


def _tape(seed: int, coins: list[str], rows: int) -> pd.DataFrame:
    """Each coin on its own grid with holes (times shared across coins, and not), in (coin,
    ts) order as the step writes it."""
    rng = np.random.default_rng(seed)
    parts = []
    for k, coin in enumerate(coins):
        ts = np.sort(rng.choice(np.arange(rows * 2, dtype=np.int64) * 250, rows, replace=False))
        parts.append(pd.DataFrame({"coin": coin, "ts_ms": ts + k % 2,
                                   "mid_px": rng.uniform(10, 20, rows),
                                   "stale_ms": rng.integers(0, 9, rows)}))
    return pd.concat(parts, ignore_index=True)


@pytest.mark.parametrize("rows", [1, 37, None])
def test_the_tape_comes_in_ts_coin_order_with_the_columns_it_has(lake, rows, tmp_path):
    tape = _tape(3, ["SOL", "BTC", "kPEPE", "ETH"], 400)  # file order is not sorted order
    lake.write_parts("microtape_frames", DAY, (g for _, g in tape.groupby("coin", sort=False)),
                     tape.iloc[:0])
    day, scratch = CoinDay(lake, "microtape_frames", DAY), tmp_path / "scratch"
    scratch.mkdir()
    assert day.columns() == ["coin", "ts_ms", "mid_px", "stale_ms"]
    got = list(tape_in_order(day, ["coin", "ts_ms", "mid_px", "bid_px", "stale_ms"], scratch,
                             rows=rows))
    if rows is not None:
        assert [len(s) for s in got[:-1]] == [rows] * (len(got) - 1)
    want = tape.sort_values(["ts_ms", "coin"], kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.concat(got, ignore_index=True), want)  # no bid_px
    assert not list(scratch.iterdir())  # the spill is gone


def test_a_day_without_rows_gives_no_slice(lake, tmp_path):
    empty = _tape(4, ["BTC"], 3).iloc[:0]
    lake.write_parts("microtape_frames", DAY, iter(()), empty)
    assert list(tape_in_order(CoinDay(lake, "microtape_frames", DAY), ["ts_ms"], tmp_path)) == []


def test_a_coin_out_of_time_order_is_named(lake, tmp_path):
    tape = _tape(5, ["BTC", "ETH"], 50)
    eth = tape["coin"] == "ETH"
    tape.loc[eth, "ts_ms"] = tape.loc[eth, "ts_ms"].to_numpy()[::-1]
    lake.write_parts("microtape_frames", DAY, (g for _, g in tape.groupby("coin")), tape.iloc[:0])
    with pytest.raises(ValueError, match="coin ETH's part is not in ts_ms order"):
        list(tape_in_order(CoinDay(lake, "microtape_frames", DAY), ["coin", "ts_ms"], tmp_path))
