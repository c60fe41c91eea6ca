"""One settings file, changing a value of each of the dm, trader, dsi and scoring sections,
reaches the live loops of a real daemon (`python -m lotus_daemon --config F`, the score
loop in its own process: the Settings object is pickled to it, not re-read) and the nightly
assets built from the same file (`build_resources(settings)`, what `build_definitions`
uses). Before this, the dm loop read `load_settings(env={})`, the trader loop and the
nightly dm/trader assets re-read the file, and the live engine used the packaged
scoring.yaml and a hard-coded 3 DSI days."""

from __future__ import annotations

import json
import os
import re
from importlib import resources
from pathlib import Path

import dagster as dg
import pytest

from lotus_assets.chain import sized_assets
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.fabric.heartbeats import read_heartbeats
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import read_outbox
from lotus_core.fabric.publish import publish_alpha
from lotus_core.fabric.signing import ensure_keys
from lotus_core.signals.bus import bus_rows
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_core.trader.store import load_state
from lotus_daemon import pidfile
from lotus_daemon.control import start_detached
from lotus_daemon.control import stop as stop_daemon
from lotus_location.definitions import build_resources
from lotus_replay.server import ReplayConfig, ReplayThread
from tests.helpers import asset_metadata, small_day, wait_for
from tests.kits.dm_kit import DAY0_MS, alpha_stream, signal_events_of, tape_rows

REPO = Path(__file__).resolve().parents[2]
DAY = "2026-01-02"
DETS = ("mean_reversion_z_v1", "sweep_flow_v1")
START_MS = DAY0_MS + 12 * 3_600_000  # the fixture day's first recorded hour


def _config(tmp_path: Path) -> tuple[Path, Path]:
    packaged = resources.files("lotus_core.signals").joinpath("scoring.yaml").read_text()
    scoring = tmp_path / "scoring.yaml"
    scoring.write_text(re.sub(r"(?m)^history_days: \d+", "history_days: 2", packaged))
    home = (tmp_path / "home").resolve()
    cfg = tmp_path / "lotus.yaml"
    cfg.write_text(f"""
home: {home}
feed_dir: {tmp_path / "feed"}
verify_manifest: false
scoring: {{config: {scoring}}}
dsi: {{history_days: 2}}
dm: {{portfolio_id: desk7, allocator: {{gross_max: 0.6}}}}
trader: {{equity: 2500.0}}
feed: {{clock: replay}}
live: {{score_process: true}}
""")
    return cfg, scoring


def _daemon_detail(url: str) -> dict:
    with OpsDb.open(url) as fabric:
        beats = [b for b in read_heartbeats(fabric) if b.component == "daemon"]
    return beats[0].detail or {} if beats else {}


@pytest.mark.slow
def test_one_settings_file_reaches_live_loops_and_nightly_assets(tmp_path: Path) -> None:
    cfg, scoring = _config(tmp_path)
    settings = load_settings(cfg, env={})
    home = settings.home
    ensure_keys(MODULES, home / "keys")
    src = tmp_path / "src"
    small_day(REPO / "fixtures" / f"{DAY}.jsonl.gz", src / f"{DAY}.jsonl.gz", 2)
    small_day(REPO / "fixtures" / f"{DAY}.jsonl.gz", tmp_path / "feed" / f"{DAY}.jsonl.gz", 2)
    alphas = alpha_stream(settings.dm.coins, DETS, 6, start_ms=START_MS + 20_000,
                          span_ms=60_000)
    events = signal_events_of(alphas)

    # -- live: a real daemon started with --config, fed the two recorded minutes ----------
    # (at 4x: the alphas go out once the DM has market rows, which a coin needs to be in
    # its problem, and the first rows come near the recording's end: the wait for them is
    # the two minutes over the speed)
    bus = bus_rows(events, "2025-12-26..2026-01-01", "sha256:" + "cd" * 32)
    with ReplayThread(ReplayConfig(src, speed=4.0)) as srv:
        info = start_detached(home, ["--config", str(cfg), "--heartbeat-sec", "0.3", "--loops",
                                     "router,feed,score,dm,trader", "--url", srv.url],
                              env={**os.environ, "PYTHONPATH": str(REPO)})
        pid = int(info["pid"])
        try:
            wait_for(lambda: _daemon_detail(settings.fabric).get("loops", {}).get(
                "dm", {}).get("universe"), timeout=120, what="the DM's first market rows")
            with OpsDb.open(settings.fabric) as fabric:
                publish_alpha(fabric, [{"sigbus": json.loads(p), "strand_id": w} for w, p in
                                       zip(bus["window_id"], bus["payload"], strict=True)],
                              Keyring(home / "keys"), models_map=load_modules().map)
            def decided() -> bool:
                with OpsDb.open(settings.fabric) as fabric:
                    with fabric.transaction() as tx:
                        state = load_state(tx)
                    rows = read_outbox(fabric, "dm", limit=1000, pending_only=False)
                night = _daemon_detail(settings.fabric).get("loops", {}).get(
                    "score", {}).get("night")
                return state is not None and bool(rows) and night is not None
            wait_for(decided, timeout=120, what="a DM decision, the trader's state and the "
                     "score loop's night inputs")
            with OpsDb.open(settings.fabric) as fabric:
                with fabric.transaction() as tx:
                    snap, _ = load_state(tx) or ({}, 0)
                posted = [r.envelope for r in read_outbox(fabric, "dm", limit=1000,
                                                          pending_only=False)]
            night = _daemon_detail(settings.fabric)["loops"]["score"]["night"]
        finally:
            if not stop_daemon(home, timeout_sec=60)["was_running"] and pidfile.pid_alive(pid):
                os.kill(pid, 9)
    decisions = [e["payload"] for e in posted if e["intent"] == "DM_DECISION"]
    assert decisions and {d["portfolio_id"] for d in decisions} == {"desk7"}  # dm
    assert snap["portfolio"]["initial_equity"] == 2500.0  # trader
    assert night == {"day": DAY, "scoring_config": str(scoring), "history_days": 2,
                     "dsi_history_days": 2, "detectors_config": None,
                     "curators_config": None}  # scoring and dsi, in the score process

    # -- nightly: the same file's Settings through the code location's resources ----------
    lake = Lake(settings.lake_dir)
    lake.write("signal_events", DAY, events)
    rows = tape_rows(seconds=180)
    rows = rows.assign(ts_ms=rows["ts_ms"] - rows["ts_ms"].min() + START_MS)
    lake.write("microtape_frames", DAY, rows.sort_values(["coin", "ts_ms"], kind="stable"))
    result = dg.materialize(sized_assets(shared_values(settings)), partition_key=DAY,
                            selection=["dm_calibration", "dm_decisions"],
                            resources=build_resources(settings), raise_on_error=False)
    assert result.success, [e.step_failure_data.error.message for e in result.all_events
                            if e.is_step_failure]
    meta = asset_metadata(result, "dm_decisions")
    assert (meta["portfolio_id"], meta["gross_budget"]) == ("desk7", 0.6)
    assert meta["position_source"] == "paper Trader (joint replay)"
    assert abs(meta["trader_equity_end"] - 2500.0) < 250.0  # the trader section's equity
    nightly = lake.read("dm_decisions", DAY)
    assert {json.loads(t)["portfolio_id"] for t in nightly["ticket_json"]} == {"desk7"}
