"""bench.replicate_coins' recording copy (the DM's, the Trader's and raw_feed's memory
against the coins): a real capture copied three times parses to three
coins for each of its coins, each copy's rows the original's under its new name."""

import gzip
import json

import pandas as pd

from bench.replicate_coins import _NAMED, copy_name, replicate_feed
from lotus_core.feed.manifest import verify_file
from lotus_core.feed.parse import parse_recording
from tests.helpers import REAL_RECORDING, write_recording

DAY = REAL_RECORDING.name.split(".")[0]


def _of(table: pd.DataFrame, coin: str) -> pd.DataFrame:
    rows = table[table["coin"] == coin].reset_index(drop=True)
    return rows.drop(columns=["coin"])


def test_each_copy_parses_to_the_originals_rows_under_its_name(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    real = [line.rstrip(b"\n") for line in _lines(REAL_RECORDING)]
    last = json.loads(real[-1])["recv_ts_ms"]
    write_recording(src / REAL_RECORDING.name,  # and a line that names no coin
                    [*real, {"recv_ts_ms": last + 1, "msg": {"channel": "pong"}}])
    original = parse_recording(src / REAL_RECORDING.name)
    lines = replicate_feed(src, dst, DAY, 3)
    copied = dst / REAL_RECORDING.name
    assert verify_file(dst, copied) is not None  # the manifest lists it, hash and all
    feed = parse_recording(copied)
    assert original.coins and len(original.trades) and len(original.books.meta)
    assert sorted(feed.coins) == sorted(copy_name(c, k) for c in original.coins
                                        for k in range(3))
    every = list(_lines(src / REAL_RECORDING.name))
    naming = sum(1 for line in every if _NAMED.search(line))
    assert naming == len(every) - 1  # the pong names none
    assert lines == 3 * naming + (len(every) - naming)  # those are written once
    for coin in original.coins:
        for k in range(3):
            for table in ("trades", "bbo", "ctx", "candles"):
                pd.testing.assert_frame_equal(_of(getattr(feed, table), copy_name(coin, k)),
                                              _of(getattr(original, table), coin),
                                              check_exact=True)
            assert (feed.books.meta["coin"] == copy_name(coin, k)).sum() == \
                (original.books.meta["coin"] == coin).sum()


def _lines(path):
    with gzip.open(path, "rb") as f:
        yield from f
