"""One driver for the DM (`lotus_core.dm.driver.DmDriver`): the nightly replay (a day's
MicroTape in a `RowFeed`, the alphas in `alpha_order`) and the daemon's `DmLive` (rows from
the market hub through `HubRows`, ALPHA_PROPOSED envelopes from dm_inbox on a real SQLite
fabric) decide the same tickets on the same day."""

from __future__ import annotations

import json
from pathlib import Path

from lotus_core.dm.alpha import from_sigbus
from lotus_core.dm.calibration import Calibration, fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.live import DmLive
from lotus_core.dm.replay import alpha_order, replay
from lotus_core.dm.ticket import lake_ticket_json
from lotus_core.fabric.envelope import build_envelope
from lotus_core.fabric.inbox import deliver_to_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import read_outbox
from lotus_core.fabric.signing import ensure_keys
from lotus_core.signals.bus import bus_rows
from lotus_core.store.opsdb import OpsDb
from lotus_daemon.market import HubRows, MarketHub
from tests.kits.dm_kit import alpha_stream, planted_training, signal_events_of, tape_rows

DETS = ("mean_reversion_z_v1", "sweep_flow_v1")


def test_the_live_dm_on_the_hub_decides_as_the_nightly_replay(fabric_sqlite: OpsDb,
                                                               tmp_path: Path) -> None:
    ensure_keys(MODULES, tmp_path / "keys")
    cfg = load_dm_settings({})
    train = planted_training(DETS[0], 1500, 25.0, 3)
    table = fit_calibration(train, cfg.calibration, "w")
    rows = tape_rows(seconds=900)
    alphas = alpha_order(alpha_stream(("BTC", "ETH", "SOL"), DETS, 24, span_ms=700_000,
                                      seed=4))
    nightly = replay(DmEngine(cfg, Calibration(table, cfg.calibration)), rows, alphas)
    assert len(nightly.decisions) >= 5

    # live: each alpha's envelope arrives once the rows up to its time are on the hub (the
    # score loop finishes a window's rows before the window is published)
    bus = bus_rows(signal_events_of(alphas), "2025-12-29..2026-01-01", "sha256:" + "ef" * 32)
    docs = sorted(({"sigbus": json.loads(p), "strand_id": w}
                   for w, p in zip(bus["window_id"], bus["payload"], strict=True)),
                  key=lambda d: alpha_order([from_sigbus(d)])[0].ts_ms)
    hub = MarketHub()
    live = DmLive(DmEngine(cfg, Calibration(table, cfg.calibration)),
                  Keyring(tmp_path / "keys"), rows=HubRows(hub), positions="own",
                  models_map=load_modules().map)
    published = 0
    records = rows.to_dict("records")
    for doc in docs:
        ts = from_sigbus(doc).ts_ms
        while published < len(records) and records[published]["ts_ms"] <= ts:
            r = records[published]
            hub.publish("row", r["coin"], r["ts_ms"], r)
            published += 1
        with fabric_sqlite.transaction() as tx:
            deliver_to_inbox(tx, "dm", build_envelope(sender="sig", to=["dm"],
                                                      intent="ALPHA_PROPOSED", payload=doc),
                             models_map=load_modules().map)
        assert live.step(fabric_sqlite) == 1
    posted = [r.envelope["payload"] for r in read_outbox(fabric_sqlite, "dm", limit=10_000,
                                                         pending_only=False)]
    assert [p["decision_id"] for p in posted] == [d.decision_id for d in nightly.decisions]
    for p, d in zip(posted, nightly.decisions, strict=True):
        assert lake_ticket_json(json.dumps(p)) == lake_ticket_json(d.ticket_json)
