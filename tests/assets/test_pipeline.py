"""The asset chain through real Dagster runs on a real instance, the lake and both fabrics.

The real recording runs the whole chain; the tests about the feed's own rules (dead
letters, a refused or changed recording, re-runs) run the two feed assets they judge
(`FEED`): the chain below them adds minutes of runs and nothing those tests assert."""

from __future__ import annotations

import gzip
import shutil

import dagster as dg
import pandas as pd
import pytest

from lotus_assets.chain import sized_assets
from lotus_assets.day_plan import materialize_day
from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_frames
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.feed.manifest import write_manifest
from lotus_core.microtape import MICROTAPE_SCHEMA
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_location.definitions import build_resources, defs
from tests.helpers import REAL_RECORDING, write_recording

DAY = "2025-01-26"


@pytest.fixture
def feed_dir(tmp_path):
    d = tmp_path / "feed"
    d.mkdir()
    shutil.copyfile(REAL_RECORDING, d / f"{DAY}.jsonl.gz")
    return d


def _settings(tmp_path, feed_dir, fabric_url=None):
    return load_settings(overrides={"home": str(tmp_path / "home"), "feed_dir": str(feed_dir),
                                    "fabric_url": fabric_url}, env={})


FEED = [raw_feed, microtape_frames]


def _run(settings, instance, selection=FEED):
    return materialize_day(sized_assets(shared_values(settings)), partition_key=DAY,
                           instance=instance,
                           resources=build_resources(settings), selection=selection,
                           raise_on_error=False)


def test_definitions_load_with_daily_and_day_coin_partitions():
    dg.Definitions.validate_loadable(defs())
    assert isinstance(raw_feed.partitions_def, dg.DailyPartitionsDefinition)
    by_coin = microtape_frames.partitions_def
    assert isinstance(by_coin, dg.MultiPartitionsDefinition)
    assert {d.name for d in by_coin.partitions_defs} == {"date", "coin"}
    assert isinstance(by_coin.get_partitions_def_for_dimension("coin"),
                      dg.DynamicPartitionsDefinition)
    graph = defs().resolve_asset_graph()
    assert graph.get(dg.AssetKey("microtape_frames")).parent_keys == {dg.AssetKey("raw_feed")}


def test_real_recording_through_both_assets(tmp_path, feed_dir, fabric_url, dagster_instance):
    settings = _settings(tmp_path, feed_dir, fabric_url)
    result = _run(settings, dagster_instance, selection=None)  # every asset
    assert result.success
    lake = Lake(settings.lake_dir)
    feed = lake.read("raw_feed", DAY)
    assert feed["dead_letters"].sum() == 0 and set(feed["channel"]) == {"l2Book", "trades"}
    tape = lake.read("microtape_frames", DAY)
    MICROTAPE_SCHEMA.validate(tape)
    assert tape["mid_px"].between(104_000, 106_000).all()
    assert tape["spread_bps"].between(0, 5).all()
    with OpsDb.open(settings.fabric) as fabric:
        assert fabric.count_dead_letters(DAY) == 0
    meta = result.asset_materializations_for_node("raw_feed")[0].metadata
    assert meta["dead_letters"].value == 0 and meta["lines"].value == 55
    assert len(meta["sha256"].value) == 64


def test_bad_lines_reach_the_dead_letter_table_and_the_run_succeeds(
        tmp_path, feed_dir, fabric_url, dagster_instance):
    lines = gzip.decompress(REAL_RECORDING.read_bytes()).splitlines()
    lines[3] = b'{"recv_ts_ms": 1737918844600, "msg": {"channel": "l2Book", "data": 7}}'
    lines.insert(10, b"garbage")
    write_recording(feed_dir / f"{DAY}.jsonl.gz", lines)
    settings = _settings(tmp_path, feed_dir, fabric_url)
    assert _run(settings, dagster_instance).success
    with OpsDb.open(settings.fabric) as fabric:
        rows = fabric.dead_letters(DAY)
    assert [(r["line_no"], r["reason"]) for r in rows] == [(4, "malformed_l2Book"),
                                                           (11, "malformed_json")]
    assert rows[0]["run_id"] and "data must be an object" in rows[0]["detail"]
    # re-materialising replaces the day's dead letters; it never duplicates them
    assert _run(settings, dagster_instance).success
    with OpsDb.open(settings.fabric) as fabric:
        assert fabric.count_dead_letters(DAY) == 2


def test_failed_run_leaves_the_previous_partition(tmp_path, feed_dir, dagster_instance):
    settings = _settings(tmp_path, feed_dir)
    assert _run(settings, dagster_instance).success
    lake = Lake(settings.lake_dir)
    before = [p.read_bytes() for p in lake.files("microtape_frames", DAY)]
    # the recording changes behind raw_feed's back: the MicroTape run must refuse it
    lines = gzip.decompress(REAL_RECORDING.read_bytes()).splitlines()[:20]
    write_recording(feed_dir / f"{DAY}.jsonl.gz", lines)
    result = _run(settings, dagster_instance, selection=[microtape_frames])
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "changed since raw_feed validated it" in failure.step_failure_data.error.message
    assert [p.read_bytes() for p in lake.files("microtape_frames", DAY)] == before


def test_tampered_recording_is_refused_naming_both_hashes(tmp_path, feed_dir, dagster_instance):
    path = feed_dir / f"{DAY}.jsonl.gz"
    write_manifest(feed_dir, [path])
    settings = _settings(tmp_path, feed_dir)
    assert _run(settings, dagster_instance).success
    path.write_bytes(path.read_bytes()[:-64])  # truncated
    result = _run(settings, dagster_instance)
    assert not result.success
    message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert str(path) in message.message and "does not match the manifest" in message.message
    assert len(Lake(settings.lake_dir).read("raw_feed", DAY)) == 2  # the good one remains


def test_rematerialising_gives_byte_identical_partitions(tmp_path, feed_dir, dagster_instance):
    settings = _settings(tmp_path, feed_dir)
    lake = Lake(settings.lake_dir)
    assert _run(settings, dagster_instance).success
    first = {a: [p.read_bytes() for p in lake.files(a, DAY)]
             for a in ("raw_feed", "microtape_frames")}
    assert _run(settings, dagster_instance).success
    assert {a: [p.read_bytes() for p in lake.files(a, DAY)] for a in first} == first


@pytest.mark.parametrize(("column", "bad_value", "expected"), [
    ("frames", 1.5, "frames"),            # wrong dtype (float where int64 is required)
    ("sha256", None, "sha256"),           # a null where none is allowed
])
def test_schema_violation_fails_the_run_naming_the_column(
        tmp_path, feed_dir, dagster_instance, column, bad_value, expected):
    """The lake IO manager enforces the asset's pandera schema before anything is written."""
    from lotus_core.feed.parse import parse_recording
    from lotus_core.feed.summary import summarize_feed

    good = summarize_feed(parse_recording(feed_dir / f"{DAY}.jsonl.gz"))

    @dg.asset(name="raw_feed", partitions_def=raw_feed.partitions_def, io_manager_key="lake_io")
    def broken_raw_feed() -> pd.DataFrame:
        bad = good.copy()
        bad[column] = bad[column].astype(object)
        bad.loc[0, column] = bad_value
        return bad

    settings = _settings(tmp_path, feed_dir)
    result = materialize_day([broken_raw_feed], partition_key=DAY, instance=dagster_instance,
                             resources=build_resources(settings), raise_on_error=False)
    assert not result.success
    message = next(e for e in result.all_events if e.is_step_failure).step_failure_data.error
    assert "raw_feed for 2025-01-26 failed its schema" in message.message
    assert expected in message.message
    assert not Lake(settings.lake_dir).exists("raw_feed", DAY)
