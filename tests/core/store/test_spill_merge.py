"""A day's time-ordered table made coin by coin: each coin's part put aside on
disk and read back merged (`CoinSpill.merged`) is the whole table in its (ts_ms, coin, ...)
order; the lake writes the merged slices (`InOrder`) into the very file `write` makes of the
whole frame; slices out of order are refused before the partition is replaced."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from lotus_core.columns import STR
from lotus_core.store.by_coin import InOrder
from lotus_core.store.lake import SLICE_ROWS, Lake, ObjectLake
from lotus_core.store.spill import CoinSpill

DAY = "2026-01-02"


def _day(seed: int, coins: int, rows: int) -> pd.DataFrame:
    """Rows with many ties in time (within a coin and across coins), a second key column,
    strings and floats: sorted by (ts_ms, coin, det), unique by it."""
    rng = np.random.default_rng(seed)
    names = [f"C{k:03d}" for k in range(coins)]
    ts = rng.integers(0, max(rows // 4, 2), size=rows).astype(np.int64) * 1000
    frame = pd.DataFrame({"ts_ms": ts,
                          "coin": pd.Series(rng.choice(names, size=rows), dtype=STR),
                          "det": pd.Series(rng.choice(list("abcdefgh"), size=rows), dtype=STR),
                          "x": rng.normal(size=rows)})
    frame = frame.drop_duplicates(["ts_ms", "coin", "det"])
    order = np.lexsort((frame["det"].to_numpy(dtype=object),
                        frame["coin"].to_numpy(dtype=object), frame["ts_ms"].to_numpy()))
    frame = frame.iloc[order].reset_index(drop=True)
    return frame.assign(seq=np.arange(len(frame), dtype=np.int64))


def _spilled(frame: pd.DataFrame, chunk: int, tmp_path) -> CoinSpill:
    spill = CoinSpill(frame["coin"].nunique(), tmp_path, chunk_rows=chunk)
    for coin, part in frame.groupby("coin", sort=True):
        spill.put("t", str(coin), part.reset_index(drop=True))
    return spill


@pytest.mark.parametrize(("seed", "coins", "rows", "chunk"),
                         [(0, 1, 500, 7), (1, 3, 2_000, 1), (2, 17, 5_000, 13),
                          (3, 40, 3_000, 256), (4, 5, 40, 1_000)])
def test_merged_is_the_whole_table_in_its_order(seed, coins, rows, chunk, tmp_path):
    whole = _day(seed, coins, rows)
    with _spilled(whole, chunk, tmp_path) as spill:
        slices = list(spill.merged("t", rows=97))
    assert all(len(s) for s in slices)
    pd.testing.assert_frame_equal(pd.concat(slices, ignore_index=True), whole)
    assert not list(tmp_path.iterdir())  # the spill is removed on close


@pytest.mark.parametrize("case", ["one_time", "span_past_int32", "a_coin_without_rows",
                                  "one_row_slices"])
def test_merged_at_the_edges_of_the_time_cut(case, tmp_path):
    """Each slice ends at a time found by bisection, ties at that time taken in coin order:
    every row at one time (each slice cuts inside the ties), times spanning more than
    int32 (the 8-byte offsets), a coin put with no rows, and slices of one row."""
    whole = _day(11, 6, 1_500)
    if case == "one_time":  # then the order is (coin, det)
        whole = whole.assign(ts_ms=np.int64(7)).sort_values(["coin", "det"], kind="stable")
        whole = whole.reset_index(drop=True).assign(seq=np.arange(len(whole), dtype=np.int64))
    if case == "span_past_int32":
        whole = whole.assign(ts_ms=whole["ts_ms"] * 10_000_000 - 2**40)
    rows = 1 if case == "one_row_slices" else 113
    with _spilled(whole, 9, tmp_path) as spill:
        if case == "a_coin_without_rows":
            spill.put("t", "C999", whole.iloc[:0])
        slices = list(spill.merged("t", rows=rows))
    assert [len(s) for s in slices[:-1]] == [rows] * (len(slices) - 1)
    pd.testing.assert_frame_equal(pd.concat(slices, ignore_index=True), whole)


def test_a_slice_reads_only_the_batches_holding_its_rows(tmp_path, monkeypatch):
    """Each slice reads, from each coin, the batches that hold its rows: over the whole
    merge a batch is read at most once per slice it feeds (so about twice), not the file."""
    whole = _day(5, 20, 8_000)
    spill = _spilled(whole, 50, tmp_path)
    batches = sum(-(-len(t) // 50) for _, t in spill._parts["t"].values())
    read: list[int] = []
    real = pa.ipc.RecordBatchFileReader.get_batch

    def counted(self, i):  # noqa: ANN001, ANN202
        read.append(i)
        return real(self, i)

    monkeypatch.setattr(pa.ipc.RecordBatchFileReader, "get_batch", counted)
    slices = list(spill.merged("t", rows=500))
    spill.close()
    assert [len(s) for s in slices[:-1]] == [500] * (len(slices) - 1) and len(slices[-1]) <= 500
    pd.testing.assert_frame_equal(pd.concat(slices, ignore_index=True), whole)
    assert batches <= len(read) <= batches + 20 * len(slices)


def test_a_part_out_of_time_order_is_refused(tmp_path):
    whole = _day(9, 2, 200)
    with CoinSpill(2, tmp_path, chunk_rows=16) as spill:
        part = whole[whole["coin"] == "C000"].iloc[::-1]
        with pytest.raises(ValueError, match="not in ts_ms order"):
            spill.put("t", "C000", part)
        spill.put("t", "C000", part.iloc[::-1])
        with pytest.raises(ValueError, match="put already"):
            spill.put("t", "C000", part.iloc[::-1])


def test_a_time_column_put_for_the_merge_is_dropped(tmp_path):
    whole = _day(6, 4, 600)
    spill = CoinSpill(4, tmp_path, chunk_rows=16)
    for coin, part in whole.groupby("coin", sort=True):
        spill.put("log", str(coin), part.rename(columns={"ts_ms": "_t"}).reset_index(drop=True),
                  time="_t")
    got = pd.concat(list(spill.merged("log", drop=("_t",))), ignore_index=True)
    spill.close()
    pd.testing.assert_frame_equal(got, whole.drop(columns=["ts_ms"]))
    with pytest.raises(ValueError, match="chunk_rows"):
        CoinSpill(0, tmp_path)


def _bytes(lake: Lake | ObjectLake, asset: str) -> bytes:
    if isinstance(lake, Lake):
        return lake.path(asset, DAY).read_bytes()
    with lake.fs.open_input_file(lake.key(asset, DAY)) as f:
        return f.read()


def test_slices_in_order_write_the_whole_frames_table(lake, tmp_path):
    """Slices of any sizes, re-cut into row groups of SLICE_ROWS: the file `write` makes of
    the whole frame, as a reader sees it (its schema with the pandas metadata, its row
    groups and rows). Not its bytes: where Arrow's chunks end moves the data pages'."""
    whole = _day(7, 30, 140_000)
    assert len(whole) > 2 * SLICE_ROWS
    lake.write("whole", DAY, whole)
    with _spilled(whole, 300, tmp_path) as spill:
        out = InOrder(spill.merged("t", rows=9_999), whole.iloc[:0], ("ts_ms", "coin", "det"))
        lake.write_parts("slices", DAY, out.counted(), out.empty, row_group=SLICE_ROWS)
    assert out.rows == len(whole)
    pd.testing.assert_frame_equal(lake.read("slices", DAY), lake.read("whole", DAY))
    files = [pq.ParquetFile(pa.BufferReader(_bytes(lake, a))) for a in ("slices", "whole")]
    assert files[0].schema_arrow.equals(files[1].schema_arrow, check_metadata=True)
    groups = [[f.metadata.row_group(g).num_rows for g in range(f.metadata.num_row_groups)]
              for f in files]
    assert groups[0] == groups[1] and set(groups[0][:-1]) == {SLICE_ROWS}


def test_slices_out_of_order_are_refused_and_the_old_partition_stays(lake):
    whole = _day(8, 3, 300)
    lake.write("t", DAY, whole)
    before = _bytes(lake, "t")
    swapped = [whole.iloc[150:], whole.iloc[:150]]
    out = InOrder(iter(swapped), whole.iloc[:0], ("ts_ms", "coin", "det"))
    with pytest.raises(ValueError, match="out of order by ts_ms, coin, det"):
        lake.write_parts("t", DAY, out.counted(), out.empty, row_group=SLICE_ROWS)
    assert _bytes(lake, "t") == before
    # a repeated key across a slice end is out of order too (the key is unique)
    dup = InOrder(iter([whole.iloc[:10], whole.iloc[9:20]]), whole.iloc[:0],
                  ("ts_ms", "coin", "det"))
    with pytest.raises(ValueError, match="out of order"):
        list(dup.counted())
    # no key: any order is taken (a table whose order is not a sort of its own columns)
    assert sum(len(f) for f in InOrder(iter(swapped), whole.iloc[:0]).counted()) == len(whole)


def test_slices_are_sized_by_the_bytes_of_a_row(tmp_path):
    """A wide table comes in short slices and a narrow one in long ones (about the same
    bytes each), and a coin's batches are a slice over the coins."""
    whole = _day(10, 3, 30_000)
    wide = whole.assign(text=pd.Series(["x" * 1_000] * len(whole), dtype=STR))
    with CoinSpill(3, tmp_path, slice_bytes=2 << 20) as spill:
        for coin, part in whole.groupby("coin", sort=True):
            spill.put("narrow", str(coin), part.reset_index(drop=True))
            spill.put("wide", str(coin), wide[wide["coin"] == coin].reset_index(drop=True))
        narrow_rows = [len(s) for s in spill.merged("narrow")]
        wide_rows = [len(s) for s in spill.merged("wide")]
    assert 1_000 <= wide_rows[0] <= 2_100 < narrow_rows[0]
    assert sum(wide_rows) == sum(narrow_rows) == len(whole)
