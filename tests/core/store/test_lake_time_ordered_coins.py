"""A time-ordered asset (signal_eval) partitioned by day x coin: its coin
files read back in the day's order, (ts_ms, coin, the coin's own order), as the daily step
wrote it, whole, in slices of any size and as Arrow tables, on both lakes; the merge never
holds an order of the whole day (`lotus_core.store.merged`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from lotus_core.columns import STR
from lotus_core.store.merged import MERGE_GROUP_ROWS, TIME_ORDERED
from lotus_core.store.spill import CoinSpill

DAY = "2026-01-02"
ASSET = "signal_eval"
COINS = ["BTC", "ETH", "PURR/USDC", "@107", "kPEPE"]


def _coin(coin: str, n: int, seed: int) -> pd.DataFrame:
    """A coin's rows in time order, with ties (several rows at a time, as a window has a
    row per horizon) and times that other coins share."""
    rng = np.random.default_rng(seed)
    ts = np.sort(rng.integers(0, n // 2 + 1, size=n)).astype("int64") * 1000
    return pd.DataFrame({"ts_ms": ts, "coin": pd.Series([coin] * n, dtype=STR),
                         "horizon_s": rng.integers(1, 5, size=n).astype("int64"),
                         "x": rng.normal(size=n)})


@pytest.fixture
def parts() -> dict[str, pd.DataFrame]:
    sizes = [9_000, 5, 0, 3_000, 12_345]  # one coin with no row, one larger than a group
    return {c: _coin(c, n, k) for k, (c, n) in enumerate(zip(COINS, sizes, strict=True))}


def _day(parts: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The day in the daily step's order: the spill's merge of the coins' parts."""
    with CoinSpill(len(parts)) as spill:
        for coin, part in parts.items():
            if len(part):
                spill.put(ASSET, coin, part)
        return pd.concat(list(spill.merged(ASSET)), ignore_index=True)


def test_a_time_ordered_day_in_coins_reads_in_the_days_order(lake, parts):
    assert ASSET in TIME_ORDERED
    day = _day(parts)
    assert (np.diff(day["ts_ms"].to_numpy()) >= 0).all()
    for coin, part in parts.items():
        lake.write(ASSET, DAY, part, coin=coin)
    pd.testing.assert_frame_equal(lake.read(ASSET, DAY), day, check_exact=True)
    pd.testing.assert_frame_equal(lake.read(ASSET, DAY, ["x", "coin"]), day[["x", "coin"]],
                                  check_exact=True)
    for rows in (97, 1_000, 4_096, 25_000, 10**6):
        slices = list(lake.read_slices(ASSET, DAY, rows=rows))
        assert all(len(s) == rows for s in slices[:-1]) and 0 < len(slices[-1]) <= rows
        pd.testing.assert_frame_equal(pd.concat(slices, ignore_index=True), day,
                                      check_exact=True)
    groups = [t.to_pandas() for t in lake.read_row_groups(ASSET, DAY, ["ts_ms", "coin"])]
    pd.testing.assert_frame_equal(pd.concat(groups, ignore_index=True),
                                  day[["ts_ms", "coin"]], check_exact=True)
    # a coin's own file is the coin's rows, in its order
    pd.testing.assert_frame_equal(lake.read_coin(ASSET, DAY, "@107"), parts["@107"],
                                  check_exact=True)


def test_its_coin_files_are_in_small_row_groups(tmp_path, parts):
    from lotus_core.store.lake import Lake

    lake = Lake(tmp_path)
    lake.write_parts(ASSET, DAY, [parts["kPEPE"]], parts["kPEPE"].iloc[:0], coin="kPEPE")
    meta = pq.ParquetFile(lake.coin_path(ASSET, DAY, "kPEPE")).metadata
    assert meta.num_row_groups == -(-len(parts["kPEPE"]) // MERGE_GROUP_ROWS)
    lake.write("other", DAY, parts["kPEPE"], coin="kPEPE")  # not time-ordered: as asked
    assert pq.ParquetFile(lake.coin_path("other", DAY, "kPEPE")).metadata.num_row_groups == 1


def test_an_empty_time_ordered_day_reads_empty(lake, parts):
    for coin in ("BTC", "ETH"):
        lake.write(ASSET, DAY, parts[coin].iloc[:0], coin=coin)
    assert len(lake.read(ASSET, DAY)) == 0
    assert list(lake.read(ASSET, DAY).columns) == list(parts["BTC"].columns)
    assert list(lake.read_slices(ASSET, DAY)) == []


def test_a_ulid_time_column_orders_by_its_time_part():
    """curator_log has no time column: its order is its window_id's, a ULID whose first 10
    characters hold the window's ts_ms (`ulid_ms`, against the ids the scorer makes)."""
    import pyarrow as pa

    from lotus_core.signals.ids import window_ids
    from lotus_core.store.merged import ulid_ms

    assert TIME_ORDERED["curator_log"] == "window_id"
    ts = pd.Series([0, 1, 1_767_225_600_000, 1_767_312_000_123, 2**49 - 1], dtype="int64")
    ids = window_ids(pd.Series(["BTC"] * 5), pd.Series(["d1"] * 5), ts)
    assert ulid_ms(pa.chunked_array([pa.array(list(ids))])).tolist() == ts.tolist()
    assert ulid_ms(pa.chunked_array([pa.array([], pa.string())])).tolist() == []


def test_a_merged_read_holds_one_coin_file_open_at_a_time(tmp_path, parts, monkeypatch):
    """A hundred coins' footers are not held at once: a merged read opens a
    coin's file while it reads its times or a row group, and closes it before the next."""
    import pyarrow.parquet as pq_mod

    from lotus_core.store.lake import Lake

    lake = Lake(tmp_path)
    for coin, part in parts.items():
        lake.write(ASSET, DAY, part, coin=coin)
    open_now, most = [0], [0]
    real = pq_mod.ParquetFile

    class Counted(real):  # type: ignore[misc,valid-type]
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            open_now[0] += 1
            most[0] = max(most[0], open_now[0])

        def close(self, *args, **kwargs):
            open_now[0] -= 1
            return super().close(*args, **kwargs)

    monkeypatch.setattr(pq_mod, "ParquetFile", Counted)
    day = _day(parts)
    pd.testing.assert_frame_equal(pd.concat(list(lake.read_slices(ASSET, DAY, rows=997)),
                                            ignore_index=True), day, check_exact=True)
    assert lake.rows(ASSET, DAY) == len(day) and lake.coins(ASSET, DAY)
    assert most[0] == 1 and open_now[0] == 0
