"""Staleness as the user meets it: the default two-process daemon (`live.score_process:
true`) against the real replay server on loopback. A stale episode (a stall, drops) ends,
the windows after it are not stale and the published ones are posted, and `lotus daemon
status` agrees; a feed that never carries some channels is not stale at all, and status
says which channels it does not carry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from lotus_daemon import pidfile
from lotus_replay.server import Faults, ReplayConfig, ReplayThread
from lotus_resources.router import LOTUS_MAIN
from tests.daemon.live_daemon_kit import (
    T0_MS,
    daemon_log,
    loops,
    lotus,
    new_home,
    recording,
    stale_periods,
    status,
    windows,
)
from tests.helpers import wait_for

STALL = Faults(drop_every_s=20.0, stall="SOL", stall_at_s=10.0, stall_for_s=30.0)


def _scored_to_end(home, srv) -> bool:
    """The score loop has stepped to (within 5 s of) the replay's last frame."""
    step = loops(status(home))["score"].get("last_step_ms") or 0
    return step >= srv.server.stats.replay_ms - 5_000


def _start(home, url, cwd=None):
    started = lotus(home, "daemon", "start", "--loops", "feed,score,router", "--url", url,
                    "--clock", "replay", cwd=cwd)
    assert started.returncode == 0, started.stderr + started.stdout


def test_a_stale_episode_ends_later_windows_are_posted_and_status_agrees(tmp_path):
    home = new_home(tmp_path)
    recording(tmp_path / "src", minutes=4)
    with ReplayThread(ReplayConfig(tmp_path / "src", speed=10.0, faults=STALL)) as srv:
        _start(home, srv.url)
        try:
            assert srv.server.done.wait(90)
            wait_for(lambda: _scored_to_end(home, srv), timeout=30,
                     what="the last frame scored")
            report = status(home)
            text = lotus(home, "daemon", "status").stdout
        finally:
            stopped = lotus(home, "daemon", "stop")
    assert stopped.returncode == 0, stopped.stderr
    assert srv.server.stats.drops >= 3

    # the feed's periods: the stall is one, every one of them ended
    log = daemon_log(home)
    periods = stale_periods(log)
    assert any(c == "SOL" and a <= T0_MS + 15_000 and b >= T0_MS + 40_000
               for c, a, b in periods), periods
    last_end = max(b for _, _, b in periods)

    # the scorer saw them end: stale exactly inside a period, posted when published after
    w = windows(home)
    inside = w.apply(lambda r: any(c == r.coin and a <= r.ts_ms < b for c, a, b in periods),
                     axis=1)
    assert (w["stale"] == inside).all()
    after = w[w["ts_ms"] >= last_end]
    assert len(after) >= 5 and not after["stale"].any()
    assert (w["posted"] == (w["published"] & ~w["stale"])).all()
    sol = after[after["coin"] == "SOL"]  # the stalled coin posts again
    assert sol["published"].any() and sol.loc[sol["published"], "posted"].all()

    # status agreed while it ran: nothing stale in the feed's view or the scorer's
    feed, score = loops(report)["feed"], loops(report)["score"]
    assert feed["stale_coins"] == [] and score["stale_coins"] == []
    assert text.count("stale none") == 2
    assert loops(status(home))["score"]["posted"] == int(w["posted"].sum()) > 0
    # the drops' error is history once the feed resubscribed
    assert feed["last_error"] is None and "(recovered at" in feed["recovered"]
    assert "ERROR" not in log and "Traceback" not in log


def test_channels_the_feed_never_carries_are_reported_not_stale(tmp_path):
    """A capture of l2Book, bbo and trades only (no activeAssetCtx, candle, l2BookFast)."""
    home = new_home(tmp_path)
    recording(tmp_path / "src",
              keep=lambda k: k[0] in ("bbo", "trades") or k[0] == "l2Book" and not k[2])
    with ReplayThread(ReplayConfig(tmp_path / "src", speed=30.0)) as srv:
        _start(home, srv.url)
        try:
            assert srv.server.done.wait(60)
            wait_for(lambda: _scored_to_end(home, srv), timeout=30,
                     what="the last frame scored")
            report = status(home)
            text = lotus(home, "daemon", "status").stdout
        finally:
            assert lotus(home, "daemon", "stop").returncode == 0
    feed = loops(report)["feed"]
    assert feed["channels_absent"] == ["activeAssetCtx", "candle", "l2BookFast"]
    assert feed["stale_coins"] == [] and feed["stale_periods"] == 0
    assert "channels not carried: activeAssetCtx, candle, l2BookFast" in text
    w = windows(home)
    assert len(w) > 0 and not w["stale"].any()
    assert (w["posted"] == w["published"]).all()
    assert "stale from" not in daemon_log(home)


def test_sigterm_to_the_daemons_group_stops_cleanly_and_stores_the_last_batch(tmp_path):
    """A foreground daemon signalled as systemd, `timeout` or a terminal do (the whole
    process group, score process included) while frames are still arriving."""
    home = new_home(tmp_path)
    # 15 minutes at 10x: 90 s of stream, so a loaded machine's slow start (the score
    # process imports for seconds) still meets frames arriving; SIGTERM ends it early
    recording(tmp_path / "src", minutes=15)
    with ReplayThread(ReplayConfig(tmp_path / "src", speed=10.0)) as srv:
        proc = subprocess.Popen(
            [sys.executable, "-c", LOTUS_MAIN, "daemon", "start", "--foreground", "--loops",
             "feed,score", "--url", srv.url, "--clock", "replay"],
            env={**os.environ, "LOTUS_HOME": str(home)}, cwd=home, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: (loops(status(home)).get("score", {}).get("windows") or 0) > 0,
                     timeout=60, what="the first windows")
            assert not srv.server.done.is_set()  # mid-stream
            os.killpg(proc.pid, signal.SIGTERM)
            out, _ = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    log = out.decode()
    assert proc.returncode == 0, log
    assert "ERROR" not in log and "Traceback" not in log
    final = status(home)
    assert final["health"] == "stopped" and final["heartbeat"]["status"] == "stopped"
    score = loops(final)["score"]
    w = windows(home)
    assert score["windows"] == len(w) > 0  # everything it scored was stored
    assert not pidfile.pid_path(home).exists()
