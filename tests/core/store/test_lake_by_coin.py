"""A partition written coin by coin: one row group per coin, the same rows as the
whole frame written at once, read back one coin at a time, replaced atomically, on the
filesystem lake and on an object store."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from lotus_core.columns import STR
from lotus_core.store.by_coin import ByCoin, CoinDay
from lotus_core.store.lake import Lake, LakeError, ObjectLake

DAY = "2026-01-02"
COINS = ["BTC", "ETH", "SOL"]


def _coin(coin: str, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"coin": pd.Series([coin] * n, dtype=STR),
                         "ts_ms": np.arange(n, dtype="int64") * 1000,
                         "x": rng.normal(size=n)})


def _parts() -> list[pd.DataFrame]:
    return [_coin(c, 50 + 10 * k, k) for k, c in enumerate(COINS)]


def _file(lake: Lake | ObjectLake) -> pq.ParquetFile:
    if isinstance(lake, Lake):
        return pq.ParquetFile(lake.path("t", DAY))
    return pq.ParquetFile(lake.fs.open_input_file(lake.key("t", DAY)))


def test_parts_are_the_whole_frame_a_row_group_per_coin(lake):
    lake.write_parts("t", DAY, iter(_parts()), _parts()[0].iloc[:0])
    whole = pd.concat(_parts(), ignore_index=True)
    pd.testing.assert_frame_equal(lake.read("t", DAY), whole)
    assert _file(lake).metadata.num_row_groups == len(COINS)
    assert lake.coins("t", DAY) == COINS
    for k, coin in enumerate(COINS):
        pd.testing.assert_frame_equal(lake.read_coin("t", DAY, coin), _parts()[k])
    assert list(lake.read_coin("t", DAY, "BTC", ["ts_ms"]).columns) == ["ts_ms"]
    assert lake.read_coin("t", DAY, "DOGE").empty  # a coin the day does not hold


def test_a_coin_is_read_from_its_row_groups_as_a_filter_reads_it(lake):
    """Written by coin, a coin's rows come from its row groups alone (the footer's
    statistics name them), a coin in two row groups included: the frame a filtered read of
    the whole file gives, its columns and types; a coin the day lacks reads as the empty
    frame with the columns asked for and their types."""
    parts = [*_parts(), _coin("BTC", 7, 9)]  # BTC again: a second row group
    lake.write_parts("t", DAY, iter(parts), parts[0].iloc[:0])
    table = _file(lake).read()
    for coin in COINS:
        want = table.filter(pc.equal(table["coin"], coin)).to_pandas()
        pd.testing.assert_frame_equal(lake.read_coin("t", DAY, coin), want)
    assert len(lake.read_coin("t", DAY, "BTC")) == 57
    none = lake.read_coin("t", DAY, "DOGE", ["x", "coin"])
    assert none.empty and list(none.columns) == ["x", "coin"]
    assert none.dtypes.to_dict() == lake.read_coin("t", DAY, "ETH", ["x", "coin"]).dtypes.to_dict()


def test_a_file_written_whole_is_read_by_coin_too(lake):
    """A partition written before parts existed (one row group, many coins) still reads by
    coin: the coins come from the column, not the statistics."""
    whole = pd.concat(_parts()[::-1], ignore_index=True)  # not in coin order
    lake.write("t", DAY, whole)
    assert lake.coins("t", DAY) == COINS[::-1]
    pd.testing.assert_frame_equal(lake.read_coin("t", DAY, "ETH"), _parts()[1])


def test_no_part_writes_the_empty_frame(lake):
    empty = _parts()[0].iloc[:0]
    lake.write_parts("t", DAY, iter([]), empty)
    got = lake.read("t", DAY)
    assert got.empty and list(got.columns) == list(empty.columns)
    assert lake.coins("t", DAY) == []


def test_a_failing_part_keeps_the_previous_partition(lake):
    lake.write("t", DAY, _parts()[0])
    before = lake.read("t", DAY)

    def failing() -> Iterator[pd.DataFrame]:
        yield _parts()[0]
        raise RuntimeError("coin ETH failed to build")

    with pytest.raises(RuntimeError, match="coin ETH"):
        lake.write_parts("t", DAY, failing(), before.iloc[:0])
    pd.testing.assert_frame_equal(lake.read("t", DAY), before)
    if isinstance(lake, Lake):
        assert [p.name for p in lake.partition_dir("t", DAY).iterdir()] == ["part.parquet"]


def test_a_part_with_other_columns_is_refused_by_position(lake):
    other = _parts()[1].rename(columns={"x": "y"})
    with pytest.raises(LakeError, match="part 1 does not have the first part's columns"):
        lake.write_parts("t", DAY, iter([_parts()[0], other]), _parts()[0].iloc[:0])
    assert not lake.exists("t", DAY)


def test_each_part_is_validated(lake):
    def refuse_sol(df: pd.DataFrame) -> pd.DataFrame:
        if (df["coin"] == "SOL").any():
            raise ValueError("SOL: x out of range")
        return df

    with pytest.raises(ValueError, match="SOL"):
        lake.write_parts("t", DAY, iter(_parts()), _parts()[0].iloc[:0], validate=refuse_sol)
    assert not lake.exists("t", DAY)


def test_coin_day_and_by_coin_count_what_passes(lake):
    out = ByCoin(iter(_parts()), _parts()[0].iloc[:0])
    lake.write_parts("t", DAY, out.counted(), out.empty)
    assert out.rows == {"BTC": 50, "ETH": 60, "SOL": 70}
    day = CoinDay(lake, "t", DAY)
    assert day.coins() == COINS
    assert len(day.read("SOL")) == 70 and len(day.whole()) == 180
    with pytest.raises(LakeError, match="no t partition for 2026-01-03"):
        CoinDay(lake, "t", "2026-01-03").coins()


def test_duckdb_reads_the_parts_as_one_table(tmp_path):
    lake = Lake(tmp_path)
    lake.write_parts("t", DAY, iter(_parts()), _parts()[0].iloc[:0])
    got = lake.query("select coin, count(*) n from t group by coin order by coin")
    assert got["coin"].tolist() == COINS and got["n"].tolist() == [50, 60, 70]


@pytest.mark.parametrize(("frames", "message"), [
    ([_coin("ETH", 3, 0), _coin("BTC", 3, 1)], "coin BTC came after ETH"),
    ([_coin("BTC", 3, 0), _coin("BTC", 3, 1)], "coin BTC came after BTC"),
    ([pd.concat([_coin("BTC", 2, 0), _coin("ETH", 2, 1)])], "holds 2 coins"),
])
def test_by_coin_refuses_frames_out_of_coin_order(tmp_path, frames, message):
    """A frame-wide sortedness check cannot see across parts: ByCoin checks the order."""
    lake = Lake(tmp_path)
    out = ByCoin(iter(frames), frames[0].iloc[:0])
    with pytest.raises(ValueError, match=message):
        lake.write_parts("t", DAY, out.counted(), out.empty)
    assert not lake.exists("t", DAY)


def test_slices_are_the_partition_in_file_order(lake):
    """`read_slices` (a check that folds a table holds one slice): the slices laid together
    are the partition, each at most `rows` rows, across the row groups' edges."""
    lake.write_parts("t", DAY, iter(_parts()), _parts()[0].iloc[:0])
    slices = list(lake.read_slices("t", DAY, rows=17))
    assert all(len(s) <= 17 for s in slices) and len(slices) > len(COINS)
    pd.testing.assert_frame_equal(pd.concat(slices, ignore_index=True), lake.read("t", DAY))
    only_x = list(lake.read_slices("t", DAY, columns=["x"]))
    assert {tuple(s.columns) for s in only_x} == {("x",)}
    assert sum(map(len, only_x)) == sum(map(len, _parts()))
