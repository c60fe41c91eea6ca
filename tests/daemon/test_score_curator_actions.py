"""The score loop reads the Curator API's log from its fabric: the detector actions logged
before it starts curate its first day, and its poller picks up what is logged later (the
council takes it at the next batch boundary; tests/core/curators/test_standing_actions.py
has the rule and live == nightly)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from lotus_core.config import load_settings
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import ensure_keys
from lotus_core.store.opsdb import OpsDb
from lotus_daemon.loops import LoopContext
from lotus_daemon.loops.score import ScoreLoop
from lotus_daemon.market import MarketHub
from tests.helpers import REAL_RECORDING, wait_for
from tests.kits.curator_api_kit import log_detector_action
from tests.kits.midnight import lines_of, recv_of

DAY = "2025-01-26"


def test_the_score_loop_curates_with_the_fabric_s_standing_actions(tmp_path: Path):
    home = tmp_path / "home"
    ensure_keys(MODULES, home / "keys")
    settings = load_settings(overrides={"home": str(home)}, env={})
    lines = lines_of(REAL_RECORDING)
    before = recv_of(lines[0]) - 86_400_000  # in force all day
    with OpsDb.open(settings.fabric) as fabric:
        log_detector_action(fabric, "bob", "data", "veto", "flow_pressure_v1", before)
    hub = MarketHub()
    hub.has_feed = True
    windows = hub.subscribe({"window"})
    loop = ScoreLoop(settings, hub)
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(LoopContext(
        settings.fabric, home / "keys", home, stop, market=hub),))
    thread.start()
    try:
        wait_for(lambda: len(loop._actions) == 1, what="the log read at start")
        with OpsDb.open(settings.fabric) as fabric:
            log_detector_action(fabric, "bob", "regime", "nudge", "sweep_flow_v1", before,
                                0.08)
        wait_for(lambda: len(loop._actions) == 2, what="the poller's read of the new action")
        hub.publish("batch", None, recv_of(lines[-1]), (DAY, 1, lines, time.perf_counter()))
        hub.publish("durable", None, recv_of(lines[-1]), (DAY, len(lines)))
        hub.publish("batch", None, 0, None)  # the feed's end: the day's last step
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive()
        got = {e.data["detector_id"]: e.data for e in windows.drain()}
        assert set(got) == {"flow_pressure_v1", "sweep_flow_v1"}
        assert json.loads(got["flow_pressure_v1"]["vetoes"]) == ["data:standing_veto"]
        assert not got["flow_pressure_v1"]["published"]
        assert json.loads(got["sweep_flow_v1"]["vetoes"]) == []
        # the packaged day scores sweep_flow_v1 at -0.2315 (regime -0.08 among it): the
        # standing +0.08 moves the regime lever to clip(-0.08 + 0.08) = 0
        assert abs(got["sweep_flow_v1"]["nudge_sum"] - (-0.231486 + 0.08)) < 1e-5
    finally:
        stop.set()
        thread.join(timeout=60)
