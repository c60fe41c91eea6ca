"""DmLive on a real fabric: a payload the DM cannot read fails its row with a dead letter
naming why (nothing lost), an unknown coin is consumed without a decision, other intents
stay pending for their handlers, and a withdrawn alpha leaves the blend."""

from __future__ import annotations

import json
from pathlib import Path

from lotus_core.dm.calibration import Calibration, fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.live import DmLive
from lotus_core.dm.replay import RowFeed
from lotus_core.fabric.dead_letter import read_dead_letters
from lotus_core.fabric.envelope import build_envelope
from lotus_core.fabric.examples import example_envelope
from lotus_core.fabric.inbox import deliver_to_inbox, read_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.signing import ensure_keys
from lotus_core.signals.bus import bus_rows
from lotus_core.store.opsdb import OpsDb
from tests.kits.dm_kit import alpha_stream, planted_training, signal_events_of, tape_rows


def _alpha_env(payload: dict) -> dict:
    return build_envelope(sender="sig", to=["dm"], intent="ALPHA_PROPOSED", payload=payload)


def test_bad_payloads_dead_letter_unknown_coins_pass_others_stay(fabric_sqlite: OpsDb,
                                                                  tmp_path: Path) -> None:
    ensure_keys(MODULES, tmp_path / "keys")
    cfg = load_dm_settings({})
    train = planted_training("mean_reversion_z_v1", 1500, 25.0, 3)
    cal = Calibration(fit_calibration(train, cfg.calibration, "w"), cfg.calibration)
    rows = tape_rows(seconds=400)
    alphas = alpha_stream(("BTC", "DOGE"), ("mean_reversion_z_v1",), 4, span_ms=200_000)
    bus = bus_rows(signal_events_of(alphas), "2025-12-29..2026-01-01", "sha256:" + "ef" * 32)
    docs = [json.loads(p) for p in bus["payload"]]
    bad = {"sigbus": {**docs[0], "asof_ts": "2026-01-02T00:03:00+25:00"},
           "strand_id": bus["window_id"][0]}
    models_map = load_modules().map
    with fabric_sqlite.transaction() as tx:
        deliver_to_inbox(tx, "dm", _alpha_env(bad), models_map=models_map)
        for w, d in zip(bus["window_id"], docs, strict=True):
            deliver_to_inbox(tx, "dm", _alpha_env({"sigbus": d, "strand_id": w}),
                             models_map=models_map)
        deliver_to_inbox(tx, "dm", example_envelope("sig", "LESSON_PUBLISHED", to=["dm"]),
                         models_map=models_map)
    live = DmLive(DmEngine(cfg, cal), Keyring(tmp_path / "keys"), rows=RowFeed(rows),
                  models_map=models_map)
    assert live.step(fabric_sqlite) == len(alphas)
    assert live.stats.failed == 1
    (dead,) = read_dead_letters(fabric_sqlite, module="dm")
    assert dead["reason"] == "handler_error" and "asof_ts" in dead["detail"]
    doge = [a for a in alphas if a.coin == "DOGE"]
    assert doge and {e["alpha_id"] for e in live.engine.log} == {a.alpha_id for a in doge}
    pending = read_inbox(fabric_sqlite, "dm")
    assert [r.intent for r in pending] == ["LESSON_PUBLISHED"]
    assert live.stats.posted == sum(a.coin == "BTC" for a in alphas) > 0
    assert live.step(fabric_sqlite) == 0  # nothing new; the lesson stays for its handler
    btc = [a for a in alphas if a.coin == "BTC"]
    assert live.engine.withdraw(btc[-1].alpha_id)
    assert all(a.alpha_id != btc[-1].alpha_id for a in live.engine.alphas["BTC"])


def test_settings_defaults_match_the_shipped_yaml() -> None:
    from lotus_core.config import load_settings

    shipped = load_dm_settings(load_settings(env={}).dm)
    assert shipped == load_dm_settings({})
