"""Nightly replay vs the live loop on one day: `dm_calibration` and `dm_decisions` (one real
Dagster run over lake partitions: calibration fitted on the three earlier days only) and the
daemon's `dm` loop (fed the day's published windows as signed ALPHA_PROPOSED envelopes
through the real router) post the same tickets; a restarted loop restores its book and
posts nothing twice. (One Dagster run and one daemon for both, to keep the suite short.)"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from lotus_assets.chain import sized_assets
from lotus_core.config import load_settings
from lotus_core.config.shared import shared_values
from lotus_core.dm.calibration import Calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.replay import RowFeed
from lotus_core.dm.schema import DM_CALIBRATION_SCHEMA
from lotus_core.dm.ticket import without_wall_clock
from lotus_core.fabric.inbox import read_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import read_outbox
from lotus_core.fabric.publish import publish_alpha
from lotus_core.fabric.signing import ensure_keys
from lotus_core.signals.bus import bus_rows
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from lotus_daemon.host import Daemon
from lotus_daemon.loops.dm import DmLoop
from lotus_daemon.loops.router import RouterLoop
from lotus_location.definitions import build_resources
from tests.helpers import asset_metadata
from tests.kits.dm_kit import alpha_stream, planted_training, signal_events_of, tape_rows

DAY = "2026-01-02"
HISTORY = ["2025-12-30", "2025-12-31", "2026-01-01"]
DETS = ("breakout_retest_v1", "mean_reversion_z_v1", "sweep_flow_v1")


def _history(train: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """signal_events / signal_eval columns the calibration reads, from a training frame."""
    events = pd.DataFrame({"window_id": train["window_id"], "ts_ms": train["ts_ms"],
                           "coin": train["coin"], "detector_id": train["detector_id"],
                           "curated_sigma": train["x"]})
    evals = pd.DataFrame({
        "window_id": train["window_id"], "ts_ms": train["ts_ms"], "coin": train["coin"],
        "detector_id": train["detector_id"], "horizon_s": train["horizon_s"],
        "fwd_ret_bps": train["y"], "net_ret_bps": train["y"] - train["cost"],
        "hit": train["y"] - train["cost"] > 0, "status": "done"})
    return events, evals


def _wait(pred, timeout: float = 60.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _decisions(fabric: OpsDb) -> list[dict]:
    rows = read_outbox(fabric, "dm", limit=10_000, pending_only=False)
    return [r.envelope for r in rows if r.envelope["intent"] == "DM_DECISION"]


def _serve(url: str, keys: Path, home: Path, loop: DmLoop, until) -> None:
    daemon = Daemon(url, keys, home, [RouterLoop(), loop], heartbeat_sec=0.5)
    t = threading.Thread(target=daemon.serve)
    t.start()
    try:
        _wait(until, what="the dm loop to drain its inbox")
    finally:
        daemon.request_stop()
        t.join(timeout=60)
    assert not t.is_alive()


@pytest.mark.slow
def test_nightly_replay_and_live_loop_decide_the_same(tmp_path: Path,
                                                      fabric_sqlite_url: str) -> None:
    cfg = load_dm_settings({})
    start = int(pd.Timestamp(HISTORY[0], tz="UTC").value // 1_000_000)
    train = pd.concat([planted_training(d, 1200, 25.0, i, days=3, start_ms=start)
                       for i, d in enumerate(DETS)], ignore_index=True)
    rows = tape_rows(seconds=900)
    alphas = alpha_stream(cfg.coins, DETS, 24, span_ms=700_000)
    events = signal_events_of(alphas)

    # -- nightly: a real Dagster run of dm_decisions over the day's lake partitions --------
    # no recording of DAY (the tape is synthetic) and no trader loop: both sides decide from
    # the DM's own targets (the coupled case: test_dm_trader_coupled.py)
    settings = load_settings(overrides={"home": str(tmp_path / "home"),
                                        "feed_dir": str(tmp_path / "no_feed")}, env={})
    lake = Lake(settings.lake_dir)
    h_events, h_evals = _history(train)
    for day in HISTORY:
        lake.write("signal_events", day, h_events[train["day"] == day].reset_index(drop=True))
        lake.write("signal_eval", day, h_evals[train["day"] == day].reset_index(drop=True))
    lake.write("signal_events", DAY, events)
    lake.write("microtape_frames", DAY, rows.sort_values(["coin", "ts_ms"], kind="stable"))
    result = dg.materialize(sized_assets(shared_values(settings)), partition_key=DAY,
                            selection=["dm_calibration", "dm_decisions"],
                            resources=build_resources(settings), raise_on_error=False)
    assert result.success, [e.step_failure_data.error.message for e in result.all_events
                            if e.is_step_failure]
    cmeta = {k: v.value for k, v in
             result.asset_materializations_for_node("dm_calibration")[0].metadata.items()}
    assert cmeta["train_days"] == HISTORY  # the day itself never trains its calibration
    table = lake.read("dm_calibration", DAY)
    DM_CALIBRATION_SCHEMA.validate(table)
    assert set(table["status"]) == {"fitted"} and (table["reliability"] > 0.5).all()
    f = Calibration(table, cfg.calibration).forecast(DETS[0], 60, "BTC", 0.9, 1)
    assert f.lo_bps <= 25.0 * 0.9 <= f.hi_bps  # the planted +25·x bps
    meta = asset_metadata(result, "dm_decisions")
    nightly = lake.read("dm_decisions", DAY)
    assert meta["decisions"] == len(nightly) > len(alphas) // 2
    assert meta["trades"] > 0 and "binding_constraints" in meta and "gross_max" in meta
    assert meta["position_source"].startswith("DM targets filled at mid")

    # -- live: the same windows as signed ALPHA_PROPOSED, through the real router ----------
    keys = tmp_path / "keys"
    ensure_keys(MODULES, keys)
    bus = bus_rows(events, "2025-12-26..2026-01-01", "sha256:" + "cd" * 32)
    with OpsDb.open(fabric_sqlite_url) as fabric:
        posted = publish_alpha(fabric, [{"sigbus": json.loads(p), "strand_id": w}
                                        for w, p in zip(bus["window_id"], bus["payload"],
                                                        strict=True)], Keyring(keys),
                                                        models_map=load_modules().map)
    assert posted == len(alphas)
    opts = {"rows": RowFeed(rows), "calibration": table, "dm_settings": cfg}
    loop = DmLoop(dict(opts))

    def drained() -> bool:
        if loop.live is None or loop.live.stats.consumed < len(alphas):
            return False
        with OpsDb.open(fabric_sqlite_url) as f:  # DM_DECISIONs routed on to tr
            return len(read_inbox(f, "tr", limit=10_000)) >= len(nightly)

    _serve(fabric_sqlite_url, keys, tmp_path, loop, drained)
    with OpsDb.open(fabric_sqlite_url) as fabric:
        live = _decisions(fabric)
    assert [e["payload"]["decision_id"] for e in live] == nightly["decision_id"].tolist()
    for env, text in zip(live, nightly["ticket_json"], strict=True):
        ticket = json.loads(json.dumps(env["payload"]))
        ticket["audit_refs"] = {k: v for k, v in ticket["audit_refs"].items() if k != "solve_ms"}
        assert ticket == without_wall_clock(text)
        assert env["dedupe_key"] == env["payload"]["decision_id"]
        assert sorted(env["to"]) == ["sig", "tr"] and env["sig"]

    # -- restart: the book is restored from the consumed inbox; nothing is posted twice ----
    again = DmLoop(dict(opts, rows=RowFeed(rows)))
    _serve(fabric_sqlite_url, keys, tmp_path, again,
           lambda: again.live is not None and again.live.stats.restored == len(alphas))
    assert again.live is not None and again.live.stats.posted == 0
    assert again.live.engine.book.w.tolist() == loop.live.engine.book.w.tolist()
    # the paced turnover ledger comes back from the posted tickets (Σ|target − w0| a round)
    last = max(a.ts_ms for a in alphas)
    for eng in (again.live.engine, loop.live.engine):
        eng._expire_ledger(last)
    assert again.live.engine.book.window_used == pytest.approx(
        loop.live.engine.book.window_used, abs=1e-6)
    assert [t for t, _ in again.live.engine.book.ledger] == [
        t for t, _ in loop.live.engine.book.ledger]
    with OpsDb.open(fabric_sqlite_url) as fabric:
        assert len(_decisions(fabric)) == len(live)
