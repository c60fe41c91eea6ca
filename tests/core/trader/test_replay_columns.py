"""The replay's column conversions give what the pandas / packing calls they stand for give:
MicroTape rows as dicts (`records` == `DataFrame.to_dict("records")`, value for value and
type for type) and a padded day's chunk packed straight from its rows (`_pack_rows` ==
`PackedBooks.pack(books.select(mask))`, array for array)."""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import pytest

from lotus_core.feed.packed import PackedBooks
from lotus_core.feed.tables import MAX_LEVELS, BookFrames
from lotus_core.trader.day_chunks import _pack_rows
from lotus_core.trader.replay import _Records, records


def _frame(n: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    coins = pd.array(["BTC", "ETH", "SOL", "BTC", "ETH", "SOL", "BTC"][:n], dtype="str")
    return pd.DataFrame({
        "coin": coins, "ts_ms": np.arange(n, dtype=np.int64) * 1000,
        "mid_px": rng.random(n) * 100, "spread_bps": [np.nan, -0.0, *rng.random(n - 2)],
        "stale_ms": np.arange(n, dtype=np.int64), "flag": np.arange(n) % 2 == 0,
        "f32": rng.random(n).astype(np.float32), "i8": np.arange(n, dtype=np.int8),
        "obj": pd.Series([np.int64(1), "x", None, np.float64(2.5), 3, np.bool_(True), 1.0][:n],
                         dtype=object),
        "nullable": pd.array([1, None, 3, 4, None, 6, 7][:n], dtype="Int64"),
        "when": pd.to_datetime(np.arange(n), unit="s"),
        "cat": pd.Categorical(["a", "b"] * (n // 2) + ["a"] * (n % 2)),
    })


def _same(a: list[dict], b: list[dict]) -> bool:
    """Equal keys, values and value types (NaN == NaN, -0.0 kept)."""
    return pickle.dumps([[(k, type(v), repr(v)) for k, v in r.items()] for r in a]) == \
        pickle.dumps([[(k, type(v), repr(v)) for k, v in r.items()] for r in b])


@pytest.mark.parametrize("dtype", ["str", pd.StringDtype("python"), pd.StringDtype("pyarrow")])
def test_records_are_to_dict_records(dtype: object) -> None:
    df = _frame()
    df["coin"] = df["coin"].astype(dtype)
    assert _same(records(df), df.to_dict("records"))
    with_missing = df.assign(coin=pd.array(["BTC", None, "SOL", "BTC", None, "SOL", "BTC"],
                                           dtype=dtype))
    assert _same(records(with_missing), with_missing.to_dict("records"))
    assert _same(records(df.iloc[2:5]), df.iloc[2:5].to_dict("records"))
    assert records(df.iloc[:0]) == [] and records(df.iloc[:, :0]) == [{}] * len(df)


def test_records_by_row_number_match_to_dict() -> None:
    df = pd.concat([_frame()] * 3, ignore_index=True).sort_values("ts_ms", kind="stable")
    df = df.reset_index(drop=True)
    rows = _Records(df)
    assert _same([rows[i] for i in range(len(df))], df.to_dict("records"))
    shuffled = df.iloc[::-1].reset_index(drop=True)  # out of time order: made at once
    rows = _Records(shuffled)
    assert _same([rows[i] for i in range(len(df))], shuffled.to_dict("records"))


def test_a_padded_chunk_packs_as_select_then_pack() -> None:
    rng = np.random.default_rng(5)
    n = 40
    nb, na = rng.integers(0, MAX_LEVELS + 1, n), rng.integers(0, 6, n)
    mats = {}
    for side, counts in (("bid", nb), ("ask", na)):
        for kind in ("px", "sz"):
            m = np.full((n, MAX_LEVELS), np.nan)
            for i, c in enumerate(counts):
                m[i, :c] = rng.random(c)
            mats[f"{side}_{kind}"] = m
    meta = pd.DataFrame({"recv_ts_ms": np.arange(n, dtype=np.int64),
                         "coin": pd.array(["BTC", "ETH"] * (n // 2), dtype="str"),
                         "time_ms": np.arange(n, dtype=np.int64), "fast": nb <= 5,
                         "n_bid": nb.astype(np.int16), "n_ask": na.astype(np.int16)})
    books = BookFrames(meta, **mats)
    for at in (np.arange(n), np.array([0, 3, 4, 17, 39]), np.array([5]),
               np.empty(0, np.int64)):
        mask = np.zeros(n, dtype=bool)
        mask[at] = True
        want, got = PackedBooks.pack(books.select(mask)), _pack_rows(books, at)
        assert pickle.dumps(got.meta) == pickle.dumps(want.meta)
        for k in ("bid_at", "ask_at", "bid_px", "bid_sz", "ask_px", "ask_sz"):
            a, b = getattr(got, k), getattr(want, k)
            assert a.dtype == b.dtype and a.tobytes() == b.tobytes(), k
