"""A re-run that fails or is killed leaves the lake's partitions as they were: `lotus
materialize` makes each day in a stage under the lake (`lotus_core.store.lake.staging`),
read by the day's own steps, and publishes it only when every run of the day succeeded. A
kill while publishing is finished by the next run (`recover_stages`), a kill before it is
discarded. The Lake's part on small frames; the kill on a real `lotus materialize`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from lotus_assets.day_plan import materialize_day
from lotus_assets.feed import raw_feed
from lotus_assets.microtape import microtape_frames
from lotus_core.config import load_settings
from lotus_core.store.lake import STAGE_DIR, Lake, LakeError, recover_stages, staging
from lotus_location.definitions import build_resources
from tests.cli.test_rerun_history import DAY, two_days
from tests.helpers import wait_for

OLD = pd.DataFrame({"coin": ["BTC", "ETH"], "x": [1, 2]})
NEW = pd.DataFrame({"coin": ["BTC"], "x": [10]})


def _bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.parquet"))
            if STAGE_DIR not in p.parts}


def _old_lake(root: Path) -> Lake:
    lake = Lake(root)
    lake.write("raw_feed", DAY, OLD)
    for coin, rows in OLD.groupby("coin"):
        lake.write("signal_events", DAY, rows, coin=str(coin))
    return lake


def test_a_staged_day_is_read_by_its_run_and_reaches_the_lake_only_when_published(tmp_path):
    root = tmp_path / "lake"
    _old_lake(root)
    before = _bytes(root)
    with staging(root, DAY):
        lake = Lake(root)  # any lake of this root made now: staged
        lake.write("raw_feed", DAY, NEW)
        lake.write("signal_events", DAY, NEW, coin="BTC")
        lake.write("dsi_model", DAY, NEW)
        assert lake.read("raw_feed", DAY).equals(NEW)  # the run reads what it made
        assert lake.coins("signal_events", DAY) == ["BTC"]
        assert lake.days("dsi_model") == [DAY] and "dsi_model" in lake.assets()
        assert _bytes(root) == before  # and nothing of it is in the lake
        with pytest.raises(LakeError, match="already being staged"), staging(root, DAY):
            pass
    assert _bytes(root) == before  # left unpublished (a failed day): discarded
    assert not list((root / STAGE_DIR).iterdir())

    with staging(root, DAY) as stage:
        lake = Lake(root)
        lake.write("raw_feed", DAY, NEW)
        lake.write("signal_events", DAY, NEW, coin="BTC")
        assert stage.publish() == [f"raw_feed/date={DAY}", f"signal_events/date={DAY}"]
    lake = Lake(root)
    assert lake.stage is None and lake.read("raw_feed", DAY).equals(NEW)
    assert lake.coins("signal_events", DAY) == ["BTC"]  # the day's directory replaced whole
    assert not list((root / STAGE_DIR).iterdir())
    assert sorted(p.name for p in (root / "raw_feed").iterdir()) == [f"date={DAY}"]


def _stage_by_hand(root: Path, name: str, frames: dict[str, pd.DataFrame]) -> Path:
    """A stage as a killed run leaves it (a pid no process has)."""
    path = root / STAGE_DIR / f"{name}-99999999-deadbeef"
    plain = Lake(path)
    for asset, df in frames.items():
        plain.write(asset, DAY, df)
    return path


def test_a_kill_while_publishing_is_finished_and_a_kill_before_it_is_discarded(tmp_path):
    root = tmp_path / "lake"
    _old_lake(root)
    before = _bytes(root)
    unfinished = _stage_by_hand(root, DAY, {"raw_feed": NEW})
    assert recover_stages(root) == []  # no journal: its day never completed
    assert not unfinished.exists() and _bytes(root) == before

    half = _stage_by_hand(root, DAY, {"raw_feed": NEW, "dsi_model": NEW})
    (half / "PUBLISHING").write_text(f"dsi_model/date={DAY}\nraw_feed/date={DAY}\n")
    (root / "dsi_model").mkdir()
    os.rename(half / "dsi_model" / f"date={DAY}", root / "dsi_model" / f"date={DAY}")
    os.rename(root / "raw_feed" / f"date={DAY}", root / "raw_feed" / f".date={DAY}.old-1")
    # killed here: raw_feed's old day set aside, its new one not yet moved in
    assert recover_stages(root) == [f"dsi_model/date={DAY}", f"raw_feed/date={DAY}"]
    lake = Lake(root)
    assert lake.read("raw_feed", DAY).equals(NEW) and lake.read("dsi_model", DAY).equals(NEW)
    assert sorted(p.name for p in (root / "raw_feed").iterdir()) == [f"date={DAY}"]
    assert not half.exists()


def test_a_killed_materialize_leaves_the_previous_partitions_in_place(tmp_path,
                                                                     dagster_instance):
    feed = two_days(tmp_path / "feed")
    (feed / "2025-01-25.jsonl.gz").unlink()
    home = tmp_path / "home"
    settings = load_settings(overrides={"home": str(home), "feed_dir": str(feed)}, env={})
    assert materialize_day([raw_feed, microtape_frames], partition_key=DAY,
                           instance=dagster_instance, resources=build_resources(settings)).success
    lake = home / "lake"
    before = {k: (lake / k).stat().st_mtime_ns for k in _bytes(lake)}
    env = {**os.environ, "LOTUS_HOME": str(home), "DAGSTER_HOME": str(tmp_path / "dagster")}
    env.pop("LOTUS_CONFIG", None)
    env.pop("LOTUS_FABRIC_URL", None)
    (tmp_path / "dagster").mkdir()
    run = subprocess.Popen([str(Path(sys.executable).with_name("lotus")), "materialize",
                            "--feed-dir", str(feed)], env=env, cwd=tmp_path,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # killed once the day's first phase has made its partitions in the stage
        wait_for(lambda: len(list((lake / STAGE_DIR).glob("*/*/date=*/part.parquet"))) >= 2,
                 timeout=180, what="the run to stage the day's first partitions")
        os.kill(run.pid, signal.SIGKILL)
        run.wait(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert {k: (lake / k).stat().st_mtime_ns for k in _bytes(lake)} == before
    assert list((lake / STAGE_DIR).iterdir())  # the stage a kill leaves behind ...
    assert recover_stages(lake) == []  # ... is discarded by the next run, lake untouched
    assert not list((lake / STAGE_DIR).iterdir())
    assert {k: (lake / k).stat().st_mtime_ns for k in _bytes(lake)} == before
