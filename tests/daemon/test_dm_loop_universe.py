"""The daemon's `dm` loop on market data that lacks a configured coin (ETH): its universe is
the coins its rows carry, by the engine's one rule, so it posts the nightly replay's
tickets, none bound by ETH's caps; ETH's alphas decide nothing, and the loop says once that
ETH has no rows (a warning, and `universe` / `coins_without_data` in its `info()`). A real
SQLite fabric, the loop's own `run` in a thread (stopped once it has taken every alpha)."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path

import pytest

from lotus_core.dm.alpha import from_sigbus
from lotus_core.dm.calibration import Calibration, fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.replay import RowFeed, alpha_order, replay
from lotus_core.dm.ticket import lake_ticket_json
from lotus_core.fabric.envelope import build_envelope
from lotus_core.fabric.inbox import deliver_to_inbox
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import read_outbox
from lotus_core.fabric.signing import ensure_keys
from lotus_core.signals.bus import bus_rows
from lotus_core.store.opsdb import OpsDb
from lotus_daemon.loops import LoopContext
from lotus_daemon.loops.dm import DmLoop
from tests.helpers import wait_for
from tests.kits.dm_kit import alpha_stream, planted_training, signal_events_of, tape_rows

DETS = ("mean_reversion_z_v1", "sweep_flow_v1")


def test_the_live_universe_is_the_coins_its_rows_carry(fabric_sqlite_url: str, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture
                                                       ) -> None:
    keys = tmp_path / "keys"
    ensure_keys(MODULES, keys)
    cfg = load_dm_settings({})
    assert cfg.coins == ("BTC", "ETH", "SOL")
    table = fit_calibration(planted_training(DETS[0], 1500, 25.0, 3), cfg.calibration, "w")
    rows = tape_rows(("BTC", "SOL"), seconds=900)
    alphas = alpha_order(alpha_stream(cfg.coins, DETS, 24, span_ms=700_000, seed=4))
    eth = {a.alpha_id for a in alphas if a.coin == "ETH"}
    assert eth
    nightly = replay(DmEngine(cfg, Calibration(table, cfg.calibration)), rows, alphas)
    assert nightly.decisions

    bus = bus_rows(signal_events_of(alphas), "2025-12-29..2026-01-01", "sha256:" + "ef" * 32)
    docs = sorted(({"sigbus": json.loads(p), "strand_id": w}
                   for w, p in zip(bus["window_id"], bus["payload"], strict=True)),
                  key=lambda d: alpha_order([from_sigbus(d)])[0].ts_ms)
    models = load_modules().map
    with OpsDb.open(fabric_sqlite_url) as fabric, fabric.transaction() as tx:
        for doc in docs:
            deliver_to_inbox(tx, "dm", build_envelope(sender="sig", to=["dm"],
                                                      intent="ALPHA_PROPOSED", payload=doc),
                             models_map=models)
    loop = DmLoop({"rows": RowFeed(rows), "calibration": table, "dm_settings": cfg,
                   "positions": "own"})
    log = logging.getLogger("tests.dm_loop_universe")
    ctx = LoopContext(fabric_sqlite_url, keys, tmp_path, threading.Event(), log=log)
    with caplog.at_level(logging.WARNING, logger=log.name):
        t = threading.Thread(target=loop.run, args=(ctx,))
        t.start()
        try:
            wait_for(lambda: loop.live is not None
                     and loop.live.stats.consumed == len(alphas), timeout=120,
                     what="the dm loop to take every alpha")
        finally:
            ctx.stop.set()
            t.join(timeout=60)
    assert not t.is_alive()

    said = [r.getMessage() for r in caplog.records if r.name == log.name]
    assert len(said) == 1 and "ETH" in said[0] and "BTC" not in said[0], said
    assert loop.info()["universe"] == ["BTC", "SOL"]
    assert loop.info()["coins_without_data"] == ["ETH"]
    assert loop.live is not None
    assert {e["alpha_id"] for e in loop.live.engine.log} == eth
    assert {e["reason"] for e in loop.live.engine.log} == {"coin_without_data_ETH"}
    with OpsDb.open(fabric_sqlite_url) as fabric:
        posted = [r.envelope["payload"] for r in read_outbox(fabric, "dm", limit=10_000,
                                                             pending_only=False)]
    assert [p["decision_id"] for p in posted] == [d.decision_id for d in nightly.decisions]
    for p, d in zip(posted, nightly.decisions, strict=True):
        assert lake_ticket_json(json.dumps(p)) == lake_ticket_json(d.ticket_json)
        assert p["targets"].keys() != {"ETH"}
        assert not any("ETH" in b for b in p["rationale"]["risk_binding"])
