"""The live DM reads the live Trader's positions: the daemon's `dm` loop (DmLive, positions
from `trader_state`) and `trader` loop (TraderLoop on a recorded day, restored from the
fabric at every step), stepped in lock-step with the real router between them, post the
tickets and make the fills of the nightly joint replay (`lotus_core.dm.joint`) of the
same day. Lock-step makes the interleaving deterministic: before each alpha the Trader
has applied every market event up to the alpha's time, as in the nightly stream."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from lotus_core.dm.calibration import Calibration, fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.joint import joint_result
from lotus_core.dm.live import DmLive
from lotus_core.dm.replay import RowFeed, alpha_order
from lotus_core.dm.ticket import lake_ticket_json
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import read_outbox
from lotus_core.fabric.publish import publish_alpha
from lotus_core.fabric.router import route_once
from lotus_core.fabric.signing import ensure_keys
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import MicroTapeParams, build_microtape
from lotus_core.signals.bus import bus_rows
from lotus_core.store.opsdb import OpsDb
from lotus_core.trader.config import trader_settings
from lotus_core.trader.engine import TraderEngine
from lotus_core.trader.plan import ts_ms
from lotus_core.trader.replay import event_ts, market_events
from lotus_core.trader.store import read_fills, read_positions
from lotus_daemon.loops import LoopContext
from lotus_daemon.loops.trader import TraderLoop
from tests.kits.dm_kit import alpha_stream, planted_training, signal_events_of

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
DAY = "2026-01-02"
# no breakout detector: a restored Trader re-arms a trigger afresh, the nightly one keeps it
DETS = ("mean_reversion_z_v1", "sweep_flow_v1")
TRADER = {"stop_loss_bps": 15.0, "take_profit_bps": 30.0}


def _segment(events: list[Any], until_ms: int | None):  # noqa: ANN202
    """The recorded day's market events with ts <= until_ms, from the loop's position on."""
    def gen(start: int) -> Iterator[tuple[int, Any]]:
        for i in range(start, len(events)):
            if until_ms is not None and event_ts(events[i]) > until_ms:
                return
            yield i + 1, events[i]
    return gen


@pytest.mark.slow
def test_live_dm_on_the_live_traders_positions_matches_the_joint_replay(
        tmp_path: Path, fabric_sqlite_url: str) -> None:
    cfg = load_dm_settings({})
    tcfg = trader_settings(dict(TRADER))
    train = pd.concat([planted_training(d, 1500, 25.0, i) for i, d in enumerate(DETS)])
    table = fit_calibration(train, cfg.calibration, "w")
    feed = parse_recording(FIXTURES / f"{DAY}.jsonl.gz", DAY)
    rows = build_microtape(feed, MicroTapeParams())
    alphas = alpha_order(alpha_stream(cfg.coins, DETS, 40, start_ms=ts_ms(f"{DAY}T12:05:00Z"),
                                      span_ms=6_600_000, seed=5))

    # -- nightly: the joint replay ------------------------------------------------------
    trader = TraderEngine(tcfg)
    joint = joint_result(DmEngine(cfg, Calibration(table, cfg.calibration)), trader, feed, rows,
                      alphas)
    nightly_fills = [o.data for o in joint.outputs if o.kind == "fill"]
    assert nightly_fills and any(d.w0 != 0 for d in joint.decisions)

    # -- live: dm and trader loops in lock-step, the real router in between ---------------
    keys = tmp_path / "keys"
    ensure_keys(MODULES, keys)
    ring = Keyring(keys)
    bus = bus_rows(signal_events_of(alphas), "2025-12-26..2026-01-01", "sha256:" + "cd" * 32)
    events = list(market_events(feed))
    ctx = LoopContext(fabric_sqlite_url, keys, tmp_path, threading.Event())
    live = DmLive(DmEngine(cfg, Calibration(table, cfg.calibration)), ring,
                  rows=RowFeed(rows), positions="trader", models_map=load_modules().map)
    with OpsDb.open(fabric_sqlite_url) as fabric:
        assert publish_alpha(fabric, [{"sigbus": json.loads(p), "strand_id": w} for w, p in
                                      zip(bus["window_id"], bus["payload"], strict=True)],
                             ring, models_map=load_modules().map) == len(alphas)
        route_once(fabric, ring)
        for a in alphas:
            TraderLoop(tcfg, source=_segment(events, a.ts_ms)).run(ctx)
            assert live.step(fabric, limit=1) == 1
            route_once(fabric, ring)  # DM_DECISION -> tr_inbox
        TraderLoop(tcfg, source=_segment(events, None)).run(ctx)
        posted = [r.envelope["payload"] for r in read_outbox(fabric, "dm", limit=10_000,
                                                             pending_only=False)
                  if r.envelope["intent"] == "DM_DECISION"]
        with fabric.transaction() as tx:
            fills = read_fills(tx)
            positions = {r["coin"]: r["qty"] for r in read_positions(tx)}

    assert [p["decision_id"] for p in posted] == [d.decision_id for d in joint.decisions]
    for p, d in zip(posted, joint.decisions, strict=True):
        assert json.loads(lake_ticket_json(json.dumps(p))) == json.loads(
            lake_ticket_json(d.ticket_json))
    key = ("fill_id", "px", "qty", "ts_ms", "side", "fee")
    assert [tuple(f[k] for k in key) for f in fills] == [
        tuple(f[k] for k in key) for f in sorted(nightly_fills,
                                                 key=lambda f: (f["ts_ms"], f["fill_id"]))]
    assert positions == {c: p.qty for c, p in trader.positions.items()}
