"""`score_signals` through a real Dagster run writes its day a slice at a time (issue 32):
signal_events and curator_log in row groups of SLICE_ROWS, the rows the metadata counts;
with `post_alpha` every published window leaves as one signed ALPHA_PROPOSED, posted a slice
of bus rows at a time, and a re-run posts none twice."""

from __future__ import annotations

import shutil

import dagster as dg
import pyarrow.parquet as pq

from lotus_assets.day_plan import materialize_day
from lotus_assets.definitions import build_resources
from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_frames
from lotus_assets.signals import build_signal_assets
from lotus_core.config import load_settings
from lotus_core.store.lake import SLICE_ROWS, Lake
from lotus_core.store.opsdb import OpsDb
from tests.kits.signals_kit import FIXTURES

DAY = "2026-01-02"
ASSETS = [raw_feed, microtape_frames, *build_signal_assets(with_dsi=False)]
RUN = {"ops": {"score_signals": {"config": {"post_alpha": True}}}}


def _meta(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    return {k: v.value for m in result.get_asset_materialization_events()
            if m.asset_key == dg.AssetKey(asset)
            for k, v in m.materialization.metadata.items()}


def test_streamed_tables_and_alphas_posted_once(tmp_path, dagster_instance):
    feed = tmp_path / "feed"
    feed.mkdir()
    shutil.copyfile(FIXTURES / f"{DAY}.jsonl.gz", feed / f"{DAY}.jsonl.gz")
    shutil.copyfile(FIXTURES / "manifest.json", feed / "manifest.json")
    settings = load_settings(overrides={"home": str(tmp_path / "home"),
                                        "feed_dir": str(feed)}, env={})
    first = materialize_day(ASSETS, partition_key=DAY, instance=dagster_instance,
                            resources=build_resources(settings), run_config=RUN)
    lake = Lake(settings.lake_dir)
    events, log = lake.read("signal_events", DAY), lake.read("curator_log", DAY)
    meta, log_meta = _meta(first, "signal_events"), _meta(first, "curator_log")
    published = int(events["published"].sum())
    assert published > 0 and meta["alpha_proposed"] == meta["alpha_proposed_new"] == published
    assert meta["windows"] == len(events) and meta["vetoed"] == int(events["vetoed"].sum())
    assert sum(meta["per_detector"].values()) == len(events)
    assert log_meta["rows"] == len(log) and log_meta["vetoes"] == int((log["kind"] == "veto").sum())
    for table in ("signal_events", "curator_log"):
        groups = pq.ParquetFile(lake.path(table, DAY)).metadata
        assert all(groups.row_group(g).num_rows <= SLICE_ROWS
                   for g in range(groups.num_row_groups))
    with OpsDb.open(settings.fabric) as fabric, fabric.transaction() as tx:
        posted = tx.query("SELECT dedupe_key FROM sig_outbox WHERE intent = 'ALPHA_PROPOSED'")
    assert len(posted) == published
    again = materialize_day(ASSETS, partition_key=DAY, instance=dagster_instance,
                            resources=build_resources(settings), run_config=RUN)
    assert _meta(again, "signal_events")["alpha_proposed_new"] == 0
