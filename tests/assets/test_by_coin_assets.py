"""The per-coin steps through a real Dagster run: `microtape_frames` writes its day
one coin at a time (a file per day x coin partition), `detector_windows`, a day x coin asset
too, reads its coin and writes what `detect_day` makes of the whole tape, in its order."""

import gzip
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq

from lotus_assets.day_plan import materialize_day
from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_frames
from lotus_assets.signals import detector_windows
from lotus_core.config import load_settings
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import detect_day
from lotus_core.store.lake import Lake
from lotus_location.definitions import build_resources

FIXTURES = Path(__file__).resolve().parent.parent.parent / "fixtures"
DAY = "2026-01-02"


def test_microtape_by_coin_and_detector_windows_through_dagster(tmp_path, dagster_instance):
    feed_dir = tmp_path / "feed"
    feed_dir.mkdir()
    lines = gzip.decompress((FIXTURES / f"{DAY}.jsonl.gz").read_bytes()).splitlines(True)
    (feed_dir / f"{DAY}.jsonl.gz").write_bytes(gzip.compress(b"".join(lines[:30_000]),
                                                             mtime=0))
    settings = load_settings(overrides={"home": str(tmp_path / "home"),
                                        "feed_dir": str(feed_dir), "verify_manifest": False},
                             env={})
    result = materialize_day([raw_feed, microtape_frames, detector_windows], partition_key=DAY,
                             instance=dagster_instance, resources=build_resources(settings))
    assert result.success
    lake = Lake(settings.lake_dir)
    tape = lake.read("microtape_frames", DAY)
    coins = sorted(tape["coin"].astype(str).unique())
    assert len(coins) >= 3
    files = lake.files("microtape_frames", DAY)  # a file per coin (day x coin partitions)
    assert [pq.ParquetFile(f).metadata.num_row_groups for f in files] == [1] * len(coins)
    assert lake.coins("microtape_frames", DAY) == coins
    mats = result.asset_materializations_for_node("microtape_frames")  # one per coin
    assert sorted(str(m.partition) for m in mats) == sorted(f"{c}|{DAY}" for c in coins)
    assert sum(m.metadata["rows"].value for m in mats) == len(tape)
    assert all(m.metadata["rows"].value == m.metadata["dagster/row_count"].value for m in mats)
    assert {c: n for m in mats for c, n in m.metadata["rows_per_coin"].value.items()} \
        == tape.groupby("coin").size().to_dict()
    # the asset's own metadata is kept beside the lake's
    assert all(m.metadata["start"].value == "cold" for m in mats)

    windows = lake.read("detector_windows", DAY)
    assert len(windows) and windows["coin"].nunique() == len(coins)
    assert lake.coins("detector_windows", DAY) == coins  # a row group per coin, in order
    assert lake.coin_rows("detector_windows", DAY) == windows.groupby("coin").size().to_dict()
    day_order = windows.sort_values(["ts_ms", "coin", "detector_id"], kind="stable")
    pd.testing.assert_frame_equal(day_order.reset_index(drop=True), detect_day(tape,
                                                                               scoring=load_scoring()),
                                  check_exact=False, rtol=1e-12, atol=1e-15)
    for coin in coins:  # each coin's rows in detect_day's order
        pd.testing.assert_frame_equal(
            lake.read_coin("detector_windows", DAY, coin),
            day_order[day_order["coin"] == coin].reset_index(drop=True),
            check_exact=False, rtol=1e-12, atol=1e-15)
    mats = result.asset_materializations_for_node("detector_windows")  # one per coin
    assert sorted(str(m.partition) for m in mats) == sorted(f"{c}|{DAY}" for c in coins)
    assert [pq.ParquetFile(f).metadata.num_row_groups
            for f in lake.files("detector_windows", DAY)] == [1] * len(coins)
    for m in mats:  # each coin run reports its own coin's windows
        mine = windows[windows["coin"] == str(m.partition).split("|")[0]]
        assert m.metadata["windows"].value == len(mine)
        assert m.metadata["with_outcome"].value == int(mine["outcome_ok"].sum())
        assert m.metadata["per_detector"].value == mine.groupby("detector_id").size().to_dict()
