"""The chart drop folder through Dagster: a real sensor tick asks one run per settled file,
each run records the chart (real reader) or refuses it, moving it to done/ or refused/ with
its reason; the next tick finds nothing."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg

from lotus_core.config import load_settings
from lotus_core.fabric.strands import read_strand
from lotus_core.store.opsdb import OpsDb
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.settings import SettingsResource
from lotus_sensors.vis_inbox import vis_inbox, vis_inbox_sensor
from tests.core.vis.chart_kit import chart


def test_a_tick_takes_each_settled_file_once(tmp_path: Path) -> None:
    settings = load_settings(overrides={"home": str(tmp_path / "home")}, env={})
    resources = {"settings": SettingsResource.of(settings),
                 "fabric": OpsDbResource(url=settings.fabric)}
    box = settings.home / "vis" / "inbox"
    box.mkdir(parents=True)
    bars, _, data = chart("trend_down", 41, "line", "light")
    (box / "desk.png").write_bytes(data)
    (box / "desk.png.json").write_text(json.dumps({"at": "2026-01-05T10:00Z", "note": "desk"}))
    (box / "scan.pdf").write_bytes(b"%PDF-1.7 a scan")
    for name in ("desk.png", "scan.pdf"):
        os.utime(box / name, (1_700_000_000, 1_700_000_000))
    instance = dg.DagsterInstance.ephemeral()

    result = vis_inbox_sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, resources=resources))
    requests = result.run_requests or []
    assert sorted(r.run_config["ops"]["take_vis_inbox_file"]["config"]["name"]
                  for r in requests) == ["desk.png", "scan.pdf"]
    assert all(r.run_key and r.run_key.split(":")[0] in ("desk.png", "scan.pdf")
               for r in requests)
    for r in requests:
        run = vis_inbox.execute_in_process(run_config=r.run_config, instance=instance,
                                           tags=r.tags, resources=resources)
        assert run.success

    assert sorted(p.name for p in box.iterdir()) == []
    done, refused = settings.home / "vis" / "done", settings.home / "vis" / "refused"
    assert sorted(p.name for p in done.iterdir()) == ["desk.png", "desk.png.json"]
    assert (refused / "scan.pdf").read_bytes() == b"%PDF-1.7 a scan"
    assert "not a PNG or JPEG" in (refused / "scan.pdf.reason.txt").read_text()
    docs = [json.loads(p.read_text()) for p in (settings.home / "vis" / "readings").glob("*.json")]
    assert len(docs) == 1 and docs[0]["note"] == "desk" and docs[0]["symbol"] == bars.symbol
    with OpsDb.open(settings.fabric) as fabric:
        row = read_strand(fabric, "vis", docs[0]["strand_id"])
    assert row is not None and row["kind"] == "analysis" and "trend_down" in row["pattern_flags"]

    again = vis_inbox_sensor.evaluate_tick(
        dg.build_sensor_context(instance=instance, resources=resources))
    assert not again.run_requests and "no chart file waiting" in (again.skip_message or "")
