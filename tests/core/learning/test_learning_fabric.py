"""The learning loop's fabric side on both backends: a watchdog sunset leaves sig as a signed
WATCHDOG_ALERT (once), the router delivers it to sig's inbox and its handler queues it for
the curator; and `lotus lessons` / `lotus braids` read a night back from the lake."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from lotus_cli.main import cli
from lotus_core.config import load_settings
from lotus_core.fabric.envelope import validate_envelope
from lotus_core.fabric.handlers import handle_row
from lotus_core.fabric.inbox import read_inbox
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.names import MODULES
from lotus_core.fabric.outbox import read_outbox
from lotus_core.fabric.router import route_once
from lotus_core.fabric.signing import ensure_keys, verify
from lotus_core.learning import pipeline
from lotus_core.learning.alerts import publish_watchdog_alerts
from lotus_core.learning.config import load_learning
from lotus_core.signals.config import load_scoring
from lotus_core.store.lake import Lake
from lotus_core.store.opsdb import OpsDb
from tests.kits.learning_kit import make_learning_frame

ALERT = {"lesson_id": "L0123456789abcde", "detector_id": "sweep_stall_v1",
         "rule": "oi_pctl_bin=hi", "reason": "p05_le_0_oos", "uplift_oos": -0.4,
         "p05_oos": -2.1, "support_oos": 37}


@pytest.fixture
def keys(tmp_path: Path) -> Keyring:
    ensure_keys(MODULES, tmp_path / "keys")
    return Keyring(tmp_path / "keys")


def test_watchdog_alert_is_signed_posted_once_routed_and_queued(fabric: OpsDb, keys: Keyring):
    assert publish_watchdog_alerts(fabric, [ALERT], "2026-03-07", keys,
                                   models_map=load_modules().map) == 1
    assert publish_watchdog_alerts(fabric, [ALERT], "2026-03-07", keys,  # a re-run
                                   models_map=load_modules().map) == 0
    (row,) = read_outbox(fabric, "sig")
    env = row.envelope
    validate_envelope(env)
    assert row.intent == "WATCHDOG_ALERT" and env["to"] == ["sig"]
    assert verify(env, keys.public_keys())
    assert env["payload"]["subject"] == {"kind": "lesson", "id": ALERT["lesson_id"]}
    assert env["payload"]["action"] == "reverted"
    route_once(fabric, keys)
    (inbox,) = read_inbox(fabric, "sig")
    handle_row(fabric, "sig", inbox.seq, keys, models_map=load_modules().map)
    with fabric.transaction() as tx:
        queued = tx.query("SELECT module, severity, subject_kind FROM curator_queue")
    assert [dict(r) for r in queued] == [
        {"module": "sig", "severity": "warning", "subject_kind": "lesson"}]


def test_lessons_and_braids_commands_read_a_night_back(tmp_path: Path):
    cfg, base = load_learning(), load_scoring().context
    frame = make_learning_frame(days=4, seed=2, windows_per_day=800)
    day = sorted(frame["date"].unique())[-1]
    tw = pipeline.training_window(frame, cfg, base)
    lessons, _ = pipeline.lessons(tw, pd.DataFrame(), day, cfg)
    micro = pipeline.braids(lessons, tw, cfg)
    meta = pipeline.meta_braids(micro, tw, cfg)
    home = tmp_path / "home"
    lake = Lake(load_settings(overrides={"home": str(home)}, env={}).lake_dir)
    for name, df in (("lessons", lessons), ("braids", micro), ("meta_braids", meta)):
        lake.write(name, day, df)
    runner = CliRunner()
    env = {"LOTUS_HOME": str(home)}
    got = runner.invoke(cli, ["lessons", "--date", day, "--json"], env=env)
    assert got.exit_code == 0, got.output
    body = json.loads(got.output)
    assert body["date"] == day and len(body["lessons"]) == len(lessons)
    active = [r for r in body["lessons"] if r["state"] == "active"]
    assert any(r["rule"] == "oi_pctl_bin=hi" and r["detector_id"] == "planted_v1"
               for r in active)
    text = runner.invoke(cli, ["lessons", "--date", day, "--state", "active"], env=env)
    assert text.exit_code == 0 and "oi_pctl_bin=hi" in text.output
    braids = runner.invoke(cli, ["braids", "--date", day, "--json"], env=env)
    assert braids.exit_code == 0
    assert len(json.loads(braids.output)["braids"]) == len(micro) + len(meta)
    missing = runner.invoke(cli, ["lessons", "--date", "2026-01-01"], env=env)
    assert missing.exit_code != 0 and "no lessons for 2026-01-01" in missing.output
    bad = runner.invoke(cli, ["lessons", "--date", "yesterday"], env=env)
    assert bad.exit_code != 0 and "not a date" in bad.output
