"""`dg launch --job lotus_backfill --partition-range A...B`: a real `dg` subprocess against a
temporary DAGSTER_HOME runs `lotus_daily` once per day, in partition order, and the
instance's dagster.yaml (the repository's) carries the concurrency limits. The days are two
generated days' first 5 minutes of one coin: what is judged is the backfill (order, one run
at a time, every day's assets), not the size of a day; two days are the least that have an
order, and one coin still gives each day its `lotus_coins` run between the daily ones."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.instance.config import PoolGranularity

from lotus_core.feed.manifest import write_manifest
from lotus_core.store.lake import Lake
from lotus_sensors.backfill import BACKFILL_POOL, BACKFILL_TAG, backfill_days, range_days
from tests.kits.synth_feed import synth_feed

REPO = Path(__file__).resolve().parents[2]
DAYS = ["2026-01-02", "2026-01-03"]


def test_range_days_are_inclusive_and_a_reversed_range_is_refused():
    assert range_days("2026-01-30", "2026-02-01") == ["2026-01-30", "2026-01-31", "2026-02-01"]
    with pytest.raises(ValueError, match="ends before it starts"):
        range_days("2026-01-04", "2026-01-02")


def test_the_instance_settings_limit_runs_and_the_backfill_pool(tmp_path, monkeypatch):
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the event log's `home`
    with dg.DagsterInstance.from_config(str(home)) as instance:
        conf = instance.get_concurrency_config()
        assert conf.run_queue_config.max_concurrent_runs == 2
        assert conf.pool_config.default_pool_limit == 1
        assert conf.pool_config.pool_granularity == PoolGranularity.OP
    assert backfill_days.pool == BACKFILL_POOL  # the op the limit applies to


@pytest.mark.slow
@pytest.mark.xdist_group("backfill_launch")
def test_dg_launch_partition_range_runs_each_day_in_order(tmp_path, monkeypatch):
    feed = tmp_path / "feed"
    write_manifest(feed, synth_feed(tmp_path, DAYS, ["BTC"], 5))
    dagster_home = tmp_path / "dagster"
    dagster_home.mkdir()
    shutil.copyfile(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home), "LOTUS_HOME": str(tmp_path / "home"),
           "LOTUS_FEED_DIR": str(feed), "LOTUS_PARTITIONS_START": DAYS[0]}
    env.pop("LOTUS_CONFIG", None)
    dg_bin = Path(sys.executable).parent / "dg"
    proc = subprocess.run([str(dg_bin), "launch", "--job", "lotus_backfill",
                           "--partition-range", f"{DAYS[0]}...{DAYS[-1]}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stderr[-3000:]

    monkeypatch.setenv("DAGSTER_HOME", str(dagster_home))  # the event log's `home`
    with dg.DagsterInstance.from_config(str(dagster_home)) as instance:
        outer = instance.get_runs(dg.RunsFilter(job_name="lotus_backfill"))
        assert len(outer) == 1 and outer[0].status == dg.DagsterRunStatus.SUCCESS
        runs = instance.get_runs(dg.RunsFilter(tags={BACKFILL_TAG: outer[0].run_id}))
        assert {r.job_name for r in runs} == {"lotus_daily", "lotus_coins"}
        assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)
        records = {r.dagster_run.run_id: r for r in instance.get_run_records(
            dg.RunsFilter(run_ids=[r.run_id for r in runs]))}
        ordered = sorted(runs, key=lambda r: records[r.run_id].start_time or 0)
        days = [r.tags["lotus/day"] for r in ordered]
        assert days == sorted(days) and sorted(set(days)) == DAYS  # day by day, in order
        for a, b in zip(ordered, ordered[1:], strict=False):  # one after the other
            assert (records[a.run_id].end_time or 0) <= (records[b.run_id].start_time or 0)
        for day in DAYS:  # each day: its daily runs around a run per coin
            jobs = [r.job_name for r in ordered if r.tags["lotus/day"] == day]
            assert jobs[0] == jobs[-1] == "lotus_daily" and "lotus_coins" in jobs, jobs
    lake = Lake(tmp_path / "home" / "lake")
    for day in DAYS:
        for asset in ("raw_feed", "signal_events", "lessons", "active_priors"):
            assert lake.exists(asset, day), (asset, day)
