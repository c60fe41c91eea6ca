"""Live == nightly, through real sockets.

Parity: two days (the real sample, and the first 8 minutes of a fixture day scored with a
priors version written for the test) are materialised by Dagster, then replayed by the
replay server at `--speed max` into the daemon's feed and score loops (the score loop in
its own process, as the daemon runs it; across midnight in a thread); the live MicroTape
rows and windows must equal `microtape_frames` and `signal_events` (every MicroTape column,
floats within 1e-9 relative; ids, detectors, directions, vetoes, gates, above_threshold,
published and paper flags, propensities, priors_ver exactly; det_sigma, nudge_sum and
curated_sigma within 1e-9 relative), and each published window is posted once.

Crash: a real daemon process (`lotus daemon start --loops feed,score`, its score process
a child that dies with it) is `kill -9`ed mid replay and started again: the recording stays
valid (raw_feed accepts it), the live MicroTape equals the one Dagster builds from that
recording, no window is posted twice, and scoring resumes after the restart.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from lotus_assets.chain import sized_assets
from lotus_assets.day_plan import materialize_day
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import read_outbox
from lotus_core.fabric.signing import ensure_keys
from lotus_core.feed.parse import parse_recording
from lotus_core.live.store import LiveStore
from lotus_core.microtape.schema import MICROTAPE_COLUMNS
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_daemon import pidfile
from lotus_daemon.control import start_detached
from lotus_daemon.control import stop as stop_daemon
from lotus_daemon.loops.feed import FeedLoop
from lotus_daemon.loops.score import ScoreLoop
from lotus_daemon.loops.score_proc import ScoreProcess
from lotus_daemon.market import MarketHub
from lotus_location.definitions import build_resources
from lotus_replay.server import ReplayConfig, ReplayThread
from tests.helpers import REAL_RECORDING, small_day
from tests.helpers import wait_for as _wait_for
from tests.kits.midnight import write_midnight
from tests.kits.replay_kit import replay_max


def wait_for(pred, timeout: float = 120.0, what: str = "condition") -> None:
    _wait_for(pred, timeout, what)

REPO = Path(__file__).resolve().parents[2]
REAL_DAY, DAY = "2025-01-26", "2026-01-02"
EVE, NEW_YEAR = "2025-12-31", "2026-01-01"
pytestmark = pytest.mark.slow


def assert_frames_equal(live: pd.DataFrame, nightly: pd.DataFrame) -> None:
    live = live.sort_values(["coin", "ts_ms"]).reset_index(drop=True)
    nightly = nightly.sort_values(["coin", "ts_ms"]).reset_index(drop=True)
    assert len(live) == len(nightly) > 0
    for col in MICROTAPE_COLUMNS:
        a, b = live[col].to_numpy(), nightly[col].to_numpy()
        if np.issubdtype(b.dtype, np.floating):
            np.testing.assert_allclose(a.astype(float), b, rtol=1e-9, atol=0, equal_nan=True,
                                       err_msg=col)
        else:
            assert (a.astype(str) == b.astype(str)).all(), col


def assert_windows_equal(live: pd.DataFrame, nightly: pd.DataFrame) -> None:
    live = live.sort_values("window_id").reset_index(drop=True)
    nightly = nightly.sort_values("window_id").reset_index(drop=True)
    assert live["window_id"].tolist() == nightly["window_id"].tolist()
    for col in ("detector_id", "direction", "vetoed", "vetoes", "gates", "above_threshold",
                "published", "paper", "propensity", "priors_ver"):  # decisions: exactly
        assert (live[col].to_numpy() == nightly[col].to_numpy()).all(), col
    for col in ("det_sigma", "nudge_sum", "curated_sigma"):  # floats: stated tolerance
        np.testing.assert_allclose(live[col], nightly[col], rtol=1e-9, atol=1e-12, err_msg=col)


def test_a_replay_across_midnight_keeps_scoring_each_day_equal_to_nightly(
        tmp_path, dagster_instance):
    """One replay spanning a midnight (the fixture's first 18 minutes moved to 23:48 ->
    00:06): the daemon finishes the old day, starts the new one warm from the old day's
    tail as the nightly MicroTape does, and both days equal the nightly tables."""
    src = tmp_path / "src"
    write_midnight(REPO / "fixtures" / f"{DAY}.jsonl.gz", src, EVE, NEW_YEAR, 12, 6)
    home = (tmp_path / "home").resolve()
    ensure_keys(MODULES, home / "keys")
    settings = load_settings(overrides={"home": str(home), "feed_dir": str(src),
                                        "verify_manifest": False}, env={})
    settings = settings.model_copy(update={"feed": settings.feed.model_copy(
        update={"clock": "replay"})})
    _materialize(settings, dagster_instance, (EVE, NEW_YEAR), "signal_events")
    score = _live(settings, home, src, EVE, MarketHub(), end=NEW_YEAR)
    lake, live = Lake(settings.lake_dir), LiveStore(home / "live")
    assert live.done(EVE)  # the old day was finished at midnight
    for day in (EVE, NEW_YEAR):
        assert_frames_equal(live.read("live_microtape", day), lake.read("microtape_frames", day))
        assert_windows_equal(live.read("live_signal_events", day),
                             lake.read("signal_events", day))
    new_day = live.read("live_microtape", NEW_YEAR)
    assert (new_day["regime"].iloc[:5] != "warmup").all()  # warm from the first row
    assert score.info()["windows"] == sum(len(lake.read("signal_events", d))
                                          for d in (EVE, NEW_YEAR))


def _start(home: Path, fabric: str, url: str) -> int:
    info = start_detached(home, ["--fabric-url", fabric, "--loops", "feed,score", "--url", url,
                                 "--clock", "replay"],
                          env={**os.environ, "LOTUS_HOME": str(home), "PYTHONPATH": str(REPO)})
    return int(info["pid"])


def _alphas(url: str) -> list[str]:
    with OpsDb.open(url) as fabric:
        rows = read_outbox(fabric, "sig", limit=100_000, pending_only=False)
    return [r.envelope["lifecycle_id"] for r in rows
            if r.envelope["intent"] == "ALPHA_PROPOSED"]


def _materialize(settings, instance, days, upto):
    selection = dg.AssetSelection.assets(upto).upstream().required_multi_asset_neighbors()
    assets = sized_assets(shared_values(settings))
    for day in days:
        result = materialize_day(assets, partition_key=day, instance=instance,
                                 resources=build_resources(settings), selection=selection,
                                 raise_on_error=False)
        assert result.success, [e.step_failure_data.error.message for e in result.all_events
                                if e.is_step_failure]


def _source(tmp_path: Path, minutes: float) -> Path:
    src = tmp_path / "src"
    src.mkdir()
    (src / f"{REAL_DAY}.jsonl.gz").write_bytes(REAL_RECORDING.read_bytes())
    small_day(REPO / "fixtures" / f"{DAY}.jsonl.gz", src / f"{DAY}.jsonl.gz", minutes)
    return src


def _live(settings, home: Path, src: Path, day: str, hub: MarketHub,
          end: str | None = None, process: bool = False) -> ScoreLoop | ScoreProcess:
    """One replay of `day` (to `end`) at --speed max into a feed and a score loop (in a
    thread, or with `process` in its own process as the daemon runs it). A step after
    every batch of lines: many steps, each must add up to nightly."""
    score = ScoreProcess(settings, hub) if process else ScoreLoop(settings, hub)
    replay_max(src, lambda url: FeedLoop(settings.feed, url=url, hub=hub), [score],
               settings.fabric, home, hub, start=day, end=end or day)
    return score


def test_replayed_days_live_equal_nightly(tmp_path, dagster_instance):
    src = _source(tmp_path, 8)
    home = (tmp_path / "home").resolve()
    ensure_keys(MODULES, home / "keys")
    settings = load_settings(overrides={"home": str(home), "feed_dir": str(src),
                                        "verify_manifest": False}, env={})
    settings = settings.model_copy(update={"feed": settings.feed.model_copy(
        update={"clock": "replay"})})
    _materialize(settings, dagster_instance, (REAL_DAY,), "signal_events")
    hub = MarketHub()
    rows_seen = hub.subscribe({"row"})
    _live(settings, home, src, REAL_DAY, hub, process=True)  # before any priors version
    with OpsDb.open(settings.fabric) as fabric, fabric.transaction() as tx:
        tx.executemany("INSERT INTO sig_priors (key, version, value, source_event_id)"
                       " VALUES (?, ?, ?, ?)", [
                           ("patch/*/*/*/phi_mult", 7, 1.3, "active_priors:2026-01-01"),
                           ("cap/phi_max", 7, 0.95, "active_priors:2026-01-01")])
    _materialize(settings, dagster_instance, (DAY,), "signal_events")
    score = _live(settings, home, src, DAY, hub, process=True)  # the daemon's way
    assert score.info()["priors_ver"] == 7
    lake, live = Lake(settings.lake_dir), LiveStore(home / "live")
    for day in (REAL_DAY, DAY):
        assert_frames_equal(live.read("live_microtape", day), lake.read("microtape_frames", day))
        nightly = lake.read("signal_events", day)
        if len(nightly):
            assert_windows_equal(live.read("live_signal_events", day), nightly)
    windows = live.read("live_signal_events", DAY)
    assert (windows["priors_ver"] == 7).all() and windows["published"].any()
    assert sorted(_alphas(settings.fabric)) == sorted(windows.loc[windows["posted"],
                                                                  "window_id"])
    assert len(rows_seen.drain(1_000_000)) == sum(
        len(live.read("live_microtape", d)) for d in (REAL_DAY, DAY))  # the hub saw each row


def _start(home: Path, fabric: str, url: str) -> int:
    info = start_detached(home, ["--fabric-url", fabric, "--loops", "feed,score", "--url", url,
                                 "--clock", "replay"],
                          env={**os.environ, "LOTUS_HOME": str(home), "PYTHONPATH": str(REPO)})
    return int(info["pid"])


def test_kill_9_mid_replay_then_restart(tmp_path, dagster_instance):
    src = _source(tmp_path, 6)
    home = (tmp_path / "home").resolve()
    ensure_keys(MODULES, home / "keys")
    settings = load_settings(overrides={"home": str(home), "feed_dir": str(home / "feed"),
                                        "verify_manifest": False}, env={})
    feed_path = home / "feed" / f"{DAY}.jsonl.gz"
    # the replay holds while the daemon is down: a slow restart must not find it ended
    with ReplayThread(ReplayConfig(src, speed=30.0, hold_without_client=True)) as srv:
        pid = _start(home, settings.fabric, srv.url)
        try:
            wait_for(lambda: feed_path.exists() and feed_path.stat().st_size > 40_000,
                     what="the daemon to record part of the fixture day")
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: not pidfile.pid_alive(pid), what="the kill")
            before = parse_recording(feed_path)  # what was flushed is a valid recording
            assert not [d for d in before.dead if d.reason == "truncated_recording"]
            killed_at = int(before.books.meta["recv_ts_ms"].max())
            pid = _start(home, settings.fabric, srv.url)
            assert srv.server.done.wait(120)
            time.sleep(1.0)
        finally:
            if not stop_daemon(home, timeout_sec=120)["was_running"] and pidfile.pid_alive(pid):
                os.kill(pid, signal.SIGKILL)
    after = parse_recording(feed_path)  # the restarted daemon appended to the same day
    assert after.stats["lines"] > before.stats["lines"]
    assert not after.dead
    # raw_feed (what `lotus materialize --feed-dir <home>/feed` runs first) accepts it
    _materialize(settings, dagster_instance, (DAY,), "microtape_frames")
    live = LiveStore(home / "live")
    frames = live.read("live_microtape", DAY)
    assert_frames_equal(frames, Lake(settings.lake_dir).read("microtape_frames", DAY))
    assert frames["ts_ms"].max() > killed_at + 60_000  # scoring resumed after the restart
    ids = _alphas(settings.fabric)
    assert len(ids) == len(set(ids))  # nothing posted twice
    windows = live.read("live_signal_events", DAY)
    assert windows["window_id"].is_unique
    assert set(ids) == set(windows.loc[windows["posted"], "window_id"])
