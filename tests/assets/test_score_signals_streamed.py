"""`score_signals` through real Dagster runs, one a coin, writes each
coin's day a slice at a time: signal_events and curator_log in row groups of
`merge_group_rows` in each coin's file, the rows the metadata counts; with `post_alpha` every
published window leaves as one signed ALPHA_PROPOSED, posted a slice of bus rows at a time,
and a re-run posts none twice."""

from __future__ import annotations

import shutil

import dagster as dg
import pyarrow.parquet as pq

from lotus_assets.day_plan import materialize_day
from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_frames
from lotus_assets.partitions import size_windows
from lotus_assets.signals import build_signal_assets
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.store.lake import Lake
from lotus_core.store.merged import merge_group_rows
from lotus_core.store.opsdb import OpsDb
from lotus_location.definitions import build_resources
from tests.kits.signals_kit import FIXTURES

DAY = "2026-01-02"
ASSETS = [raw_feed, microtape_frames, *build_signal_assets(with_dsi=False)]
RUN = {"ops": {"score_signals": {"config": {"post_alpha": True}}}}


def _meta(result: dg.ExecuteInProcessResult, asset: str) -> list[dict]:
    """Each materialisation's metadata of `asset` (a day x coin asset: one a coin)."""
    return [{k: v.value for k, v in m.materialization.metadata.items()}
            for m in result.get_asset_materialization_events()
            if m.asset_key == dg.AssetKey(asset)]


def _sum(metas: list[dict], key: str) -> int:
    return sum(m[key] for m in metas)


def test_streamed_tables_and_alphas_posted_once(tmp_path, dagster_instance):
    feed = tmp_path / "feed"
    feed.mkdir()
    shutil.copyfile(FIXTURES / f"{DAY}.jsonl.gz", feed / f"{DAY}.jsonl.gz")
    shutil.copyfile(FIXTURES / "manifest.json", feed / "manifest.json")
    settings = load_settings(overrides={"home": str(tmp_path / "home"),
                                        "feed_dir": str(feed)}, env={})
    assets = size_windows(ASSETS, shared_values(settings))
    first = materialize_day(assets, partition_key=DAY, instance=dagster_instance,
                            resources=build_resources(settings), run_config=RUN)
    lake = Lake(settings.lake_dir)
    events, log = lake.read("signal_events", DAY), lake.read("curator_log", DAY)
    meta, log_meta = _meta(first, "signal_events"), _meta(first, "curator_log")
    assert len(meta) == len(log_meta) == events["coin"].nunique() == 3  # a run per coin
    published = int(events["published"].sum())
    assert published > 0
    assert _sum(meta, "alpha_proposed") == _sum(meta, "alpha_proposed_new") == published
    assert _sum(meta, "windows") == len(events)
    assert _sum(meta, "vetoed") == int(events["vetoed"].sum())
    assert sum(sum(m["per_detector"].values()) for m in meta) == len(events)
    assert _sum(log_meta, "rows") == len(log)
    assert _sum(log_meta, "vetoes") == int((log["kind"] == "veto").sum())
    for table in ("signal_events", "curator_log"):
        files = lake.files(table, DAY)
        assert len(files) == 3  # a file a coin
        for path in files:
            groups = pq.ParquetFile(path).metadata
            assert all(groups.row_group(g).num_rows <= merge_group_rows(table)
                       for g in range(groups.num_row_groups))
    with OpsDb.open(settings.fabric) as fabric, fabric.transaction() as tx:
        posted = tx.query("SELECT dedupe_key FROM sig_outbox WHERE intent = 'ALPHA_PROPOSED'")
    assert len(posted) == published
    again = materialize_day(assets, partition_key=DAY, instance=dagster_instance,
                            resources=build_resources(settings), run_config=RUN)
    assert _sum(_meta(again, "signal_events"), "alpha_proposed_new") == 0
