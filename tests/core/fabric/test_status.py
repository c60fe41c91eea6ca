"""`lotus status` and fabric_status: module health from heartbeats (ok / stale / unknown),
inbox lag, outbox backlog and dead letters by reason, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from lotus_core.fabric import dead_letter as dl
from lotus_core.fabric.examples import example_envelope
from lotus_core.fabric.heartbeats import beat
from lotus_core.fabric.inbox import deliver_to_inbox
from lotus_core.fabric.manifests import load_modules
from lotus_core.fabric.outbox import post_to_outbox
from lotus_core.fabric.status import fabric_status
from lotus_core.store.opsdb import OpsDb


def test_status_reports_health_lag_and_dead_letters(fabric: OpsDb) -> None:
    # "now" is taken here, not at import: rows below get the real clock as created_at
    NOW = datetime.now(UTC).replace(microsecond=0)  # noqa: N806
    empty = fabric_status(fabric, now=NOW)
    assert {m: e["health"] for m, e in empty["modules"].items()} == {
        "sig": "unknown", "dm": "unknown", "tr": "unknown", "vis": "unknown",
        "router": "unknown"}
    assert empty["modules"]["sig"]["inbox"] == {"pending": 0, "oldest_pending_age_s": None,
                                                "failed": 0, "pending_handled": 0}
    beat(fabric, "herald", "router", now=NOW - timedelta(seconds=5))
    beat(fabric, "sensor:inbox_sig", "sig", now=NOW - timedelta(seconds=2))
    beat(fabric, "sensor:inbox_dm", "dm", now=NOW - timedelta(minutes=10))
    beat(fabric, "handler:tr", "tr", "stopped", now=NOW - timedelta(seconds=1))
    models_map = load_modules().map
    with fabric.transaction() as tx:
        deliver_to_inbox(tx, "sig", example_envelope("sig", "WATCHDOG_ALERT", 1),
                         models_map=models_map)
        deliver_to_inbox(tx, "sig", example_envelope("dm", "DM_DECISION", 2),
                         models_map=models_map)  # no handler
    post_to_outbox(fabric, "dm", example_envelope("dm", "DM_DECISION", 3),
                   models_map=load_modules().map)
    env = example_envelope("tr", "EXEC_REPORT", 4)
    dl.record_dead_letter(fabric, module="tr", reason=dl.EXPIRED, envelope=env, detail="old")
    dl.record_dead_letter(fabric, module="tr", reason=dl.BAD_SIGNATURE, envelope=env)

    report = fabric_status(fabric, now=NOW + timedelta(seconds=30), stale_after_sec=60)
    mods = report["modules"]
    assert {m: e["health"] for m, e in mods.items()} == {
        "sig": "ok", "dm": "stale", "tr": "stale", "vis": "unknown", "router": "ok"}
    assert mods["sig"]["inbox"]["pending"] == 2 and mods["sig"]["inbox"]["pending_handled"] == 1
    assert mods["sig"]["inbox"]["oldest_pending_age_s"] > 0
    assert mods["dm"]["outbox"]["pending"] == 1
    assert mods["tr"]["dead_letters"] == {"bad_signature": 1, "expired": 1}
    assert report["dead_letters_total"] == 2
    assert mods["router"]["last_heartbeat_age_s"] == pytest.approx(35, abs=0.01)
    assert [c["component"] for c in mods["router"]["components"]] == ["herald"]
    json.dumps(report)  # JSON-ready


def test_status_cli_prints_a_table_and_json(
    fabric_sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lotus_cli.main import cli

    with OpsDb.open(fabric_sqlite_url) as f:
        beat(f, "herald", "router")
        with f.transaction() as tx:
            deliver_to_inbox(tx, "dm", example_envelope("sig", "ALPHA_PROPOSED", 1),
                             models_map=load_modules().map)
        dl.record_dead_letter(f, module="sig", reason=dl.POISON,
                              envelope=example_envelope("sig", "ALPHA_PROPOSED", 2))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("LOTUS_FABRIC_URL", fabric_sqlite_url)
    out = CliRunner().invoke(cli, ["status"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].split()[:3] == ["module", "health", "last"]
    assert any(line.startswith("router  ok") for line in lines), out.output
    assert any(line.startswith("sig") and "poison 1" in line for line in lines), out.output
    assert "1 dead letter(s)" in out.output and "herald" in out.output
    out = CliRunner().invoke(cli, ["status", "--json", "--stale-after", "5"])
    body = json.loads(out.output)
    assert body["modules"]["dm"]["inbox"]["pending"] == 1 and body["stale_after_sec"] == 5
    assert "--stale-after" in CliRunner().invoke(cli, ["status", "--help"]).output
