"""The learning window's read joins its kept rows in Arrow (`tables_frame`, `_Parts`):
the frame it makes is the one the row groups made pandas and concatenated give, value for
value and dtype for dtype, whatever the tables hold (the two copies would be the
read's peak)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from lotus_core.learning.sample import _Parts, concat_or_empty, releasing_heap, tables_frame

EMPTY = pd.DataFrame({"x": pd.Series(dtype=object)})


def _tables(rng: np.random.Generator, k: int) -> list[pa.Table]:
    """k row groups of one schema: floats with nulls, ints, strings with nulls, bools."""
    out = []
    for _ in range(k):
        n = int(rng.integers(0, 40))
        out.append(pa.table({
            "f": pa.array(np.where(rng.random(n) < 0.2, np.nan, rng.normal(size=n)),
                          from_pandas=True),
            "i": pa.array(rng.integers(-5, 5, n), type=pa.int64()),
            "s": pa.array([None if rng.random() < 0.1 else f"w{rng.integers(99)}"
                           for _ in range(n)], type=pa.large_string()),
            "b": pa.array(rng.random(n) < 0.5)}))
    return out


def _pandas_way(tables: list[pa.Table], empty: pd.DataFrame) -> pd.DataFrame:
    return concat_or_empty([t.to_pandas() for t in tables], empty)


def test_the_tables_make_the_frame_pandas_concatenation_makes():
    rng = np.random.default_rng(3)
    for k in (1, 2, 7, 20):
        tables = _tables(rng, k)
        want = _pandas_way(tables, EMPTY)
        got = tables_frame(list(tables), EMPTY)
        pd.testing.assert_frame_equal(got, want, check_exact=True)


def test_no_rows_give_the_empty_frame_and_the_list_is_handed_over():
    assert tables_frame([], EMPTY) is EMPTY
    assert tables_frame([pa.table({"x": pa.array([], type=pa.int64())})], EMPTY) is EMPTY
    tables = _tables(np.random.default_rng(1), 3)
    tables_frame(tables, EMPTY)
    assert tables == []  # handed over: their buffers are let go as the columns convert


def test_tables_of_other_schemas_are_joined_as_pandas_joins_them():
    """Days written apart: an int column one day, a float one (nulls) another."""
    tables = [pa.table({"v": pa.array([1, 2], type=pa.int64())}),
              pa.table({"v": pa.array([0.5, None], type=pa.float64())})]
    pd.testing.assert_frame_equal(tables_frame(list(tables), EMPTY),
                                  _pandas_way(tables, EMPTY), check_exact=True)


def _parts(cats: list[list[str]]) -> list[pd.DataFrame]:
    rng = np.random.default_rng(len(cats))
    out = []
    for k, c in enumerate(cats):
        n = 5 + k
        out.append(pd.DataFrame({
            "window_id": pd.array([f"w{k}-{i}" for i in range(n)], dtype="str"),
            "ts_ms": np.arange(n, dtype=np.int64) + 100 * k,
            "lit": pd.Categorical(rng.choice(c, n), categories=c)}))
    return out


@pytest.mark.parametrize("cats", [
    [["lo", "mid", "hi"]] * 4,  # one feature's list: a categorical, as pandas keeps it
    [["lo", "mid", "hi"], ["lo", "mid", "hi", "odd"], ["lo", "mid", "hi"]],  # a value of its own
])
def test_the_shaped_parts_join_as_pandas_joins_them(cats):
    parts = _parts(cats)
    want = pd.concat(parts, ignore_index=True)
    held = _Parts()
    for p in parts:
        held.add(p)
    got = held.frame(EMPTY)
    pd.testing.assert_frame_equal(got, want, check_exact=True)
    assert isinstance(got["lit"].dtype, pd.CategoricalDtype) == (len({tuple(c) for c in cats}) == 1)


def test_releasing_heap_yields_every_group_in_order():
    groups = [pa.table({"k": [i]}) for i in range(70)]
    assert [g["k"][0].as_py() for g in releasing_heap(iter(groups))] == list(range(70))
