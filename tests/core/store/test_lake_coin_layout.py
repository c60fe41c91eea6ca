"""A day partitioned by coin: each coin's file under `date=D/coin=C/`,
read back by every day reader as if the day were one file in coin order, on the filesystem
lake and on an object store; a day is in one layout or the other, never both."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.columns import STR
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.lake import Lake, LakeError, ObjectLake, coin_dir_name, coin_of_dir

DAY = "2026-01-02"
COINS = ["BTC", "ETH", "PURR/USDC", "@107"]  # a pair and a spot index: quoted in the path


def _coin(coin: str, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"coin": pd.Series([coin] * n, dtype=STR),
                         "ts_ms": np.arange(n, dtype="int64") * 1000,
                         "x": rng.normal(size=n)})


def _whole() -> pd.DataFrame:
    """The day as the coin files read back: coins in sorted order (the files' order)."""
    return pd.concat([_coin(c, 30 + 7 * k, k) for k, c in sorted(enumerate(COINS),
                                                                  key=lambda kc: kc[1])],
                     ignore_index=True)


def _write_coins(lake: Lake | ObjectLake, asset: str = "t") -> None:
    for k, c in enumerate(COINS):
        lake.write(asset, DAY, _coin(c, 30 + 7 * k, k), coin=c)


def test_a_day_in_coins_reads_as_one_file_in_coin_order(lake):
    _write_coins(lake)
    whole = _whole()
    assert lake.exists("t", DAY) and lake.days("t") == [DAY] and lake.assets() == ["t"]
    pd.testing.assert_frame_equal(lake.read("t", DAY), whole)
    pd.testing.assert_frame_equal(lake.read("t", DAY, ["ts_ms"]), whole[["ts_ms"]])
    assert lake.rows("t", DAY) == len(whole)
    assert lake.coins("t", DAY) == sorted(COINS)
    assert lake.coin_rows("t", DAY) == whole.groupby("coin", sort=True).size().to_dict()
    assert lake.columns("t", DAY) == ["coin", "ts_ms", "x"]
    for c in COINS:
        pd.testing.assert_frame_equal(lake.read_coin("t", DAY, c),
                                      whole[whole["coin"] == c].reset_index(drop=True))
        assert lake.coin_exists("t", DAY, c)
    assert len(lake.read_coin("t", DAY, "DOGE")) == 0  # a coin the day does not have
    sliced = pd.concat(lake.read_slices("t", DAY, rows=11), ignore_index=True)
    pd.testing.assert_frame_equal(sliced, whole)
    groups = [g.to_pandas() for g in lake.read_row_groups("t", DAY, ["coin"])]
    assert [g["coin"].iloc[0] for g in groups] == sorted(COINS)
    tape = CoinDay(lake, "t", DAY)
    assert tape.coins() == sorted(COINS) and tape.rows() == len(whole)
    assert lake.size("t", DAY) > 0


def test_duckdb_reads_days_in_either_layout_with_their_date(lake):
    _write_coins(lake)
    lake.write("t", "2026-01-01", _coin("SOL", 5, 9))  # an older day, whole
    got = lake.query("SELECT coin, count(*) AS n, min(date) AS d FROM t GROUP BY coin "
                     "ORDER BY coin")
    assert got["coin"].tolist() == sorted([*COINS, "SOL"])
    assert dict(zip(got["coin"], got["n"], strict=True))["SOL"] == 5
    days = lake.query("SELECT DISTINCT CAST(date AS VARCHAR) AS d FROM t ORDER BY d")["d"]
    assert days.tolist() == ["2026-01-01", DAY]


def test_one_layout_a_day_the_newer_write_wins(lake):
    lake.write("t", DAY, _coin("SOL", 5, 9))  # the day written whole first
    _write_coins(lake)  # then by coin: the whole-day file goes
    assert lake.coins("t", DAY) == sorted(COINS)
    lake.write("t", DAY, _coin("SOL", 5, 9))  # and back: the coin files go
    assert lake.coins("t", DAY) == ["SOL"]
    assert not any(lake.coin_exists("t", DAY, c) for c in COINS)


def test_a_failed_coin_write_keeps_the_previous_coin_file(lake):
    _write_coins(lake)
    before = lake.read_coin("t", DAY, "BTC")

    def broken():
        yield _coin("BTC", 3, 1)
        raise RuntimeError("killed mid-write")

    with pytest.raises(RuntimeError, match="killed"):
        lake.write_parts("t", DAY, broken(), empty=_coin("BTC", 0, 1), coin="BTC")
    pd.testing.assert_frame_equal(lake.read_coin("t", DAY, "BTC"), before)
    assert lake.coins("t", DAY) == sorted(COINS)


def test_a_missing_day_names_both_layouts(lake):
    with pytest.raises(LakeError, match="no t partition for 2026-01-02.*coin files"):
        lake.read("t", DAY)
    assert not lake.exists("t", DAY) and lake.days("t") == []


def test_filesystem_lake_sweeps_coin_temporaries(tmp_path):
    lake = Lake(tmp_path / "lake")
    _write_coins(lake)
    left = lake.coin_path("t", DAY, "BTC").parent / ".part.parquet.dead.tmp"
    left.write_bytes(b"partial")
    assert lake.sweep_temp_files() == 1 and not left.exists()
    assert lake.location("t", DAY) == str(lake.partition_dir("t", DAY))


def test_coin_names_round_trip_through_their_directory():
    for c in [*COINS, "kPEPE", "a b"]:
        assert coin_of_dir(coin_dir_name(c)) == c
        assert "/" not in coin_dir_name(c)
    assert coin_of_dir("date=2026-01-02") is None
    with pytest.raises(LakeError):
        coin_dir_name("")


def test_object_lake_location_names_the_day_in_coins(tmp_path):
    import pyarrow.fs as pafs

    (tmp_path / "s").mkdir()
    lake = ObjectLake(pafs.SubTreeFileSystem(str(tmp_path / "s"), pafs.LocalFileSystem()))
    _write_coins(lake)
    assert lake.location("t", DAY).endswith(f"/t/date={DAY}")


def test_head_is_the_first_rows_in_file_order_on_both_layouts(lake):
    """`head` decodes only the rows it returns: a day in coins is read in coin order across
    files, a whole-day file in its order, and asking past the end gives every row."""
    _write_coins(lake)
    whole = _whole()
    for rows in (1, 5, 31, 40, len(whole) + 3):  # within the first coin's file and past it
        pd.testing.assert_frame_equal(lake.head("t", DAY, rows),
                                      whole.head(rows).reset_index(drop=True))
    pd.testing.assert_frame_equal(lake.head("t", DAY, 2, ["x"]), whole[["x"]].head(2))
    lake.write("w", DAY, whole)
    pd.testing.assert_frame_equal(lake.head("w", DAY, 3, ["coin", "x"]),
                                  whole[["coin", "x"]].head(3))
    lake.write("empty", DAY, whole.iloc[:0])
    got = lake.head("empty", DAY, 1, ["x"])
    assert list(got.columns) == ["x"] and len(got) == 0
    with pytest.raises(LakeError, match="no nothing partition"):
        lake.head("nothing", DAY)
