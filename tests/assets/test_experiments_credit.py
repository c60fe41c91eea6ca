"""The `expert_credit` asset: with `run: true` it credits the experts on
the scored days and proposes an expert with no outcome credit to the curators as a signed
alert; by default it only shows the newest credit; the weekly schedule asks for Sunday."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import dagster as dg

from lotus_assets.credit import credit_definitions, expert_credit
from lotus_core.config import load_settings
from lotus_core.credit import CREDIT_SCHEMA
from lotus_core.store.opsdb import OpsDb
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.router import FabricKeysResource
from lotus_resources.settings import SettingsResource
from tests.core.experiments.lake_kit import DAY, scored_lake_at

RUN = {"run": True, "orders": 8, "players": ["anomaly_iforest", "depth_vacuum"],
       "window_days": 1, "retire_weeks": 1}


def _materialize(settings, instance, config: dict | None = None):  # noqa: ANN001, ANN202
    resources = {"lake": LakeResource(root=str(settings.lake_dir)),
                 "fabric": OpsDbResource(url=settings.fabric),
                 "fabric_keys": FabricKeysResource(key_dir=str(settings.home / "keys")),
                 "settings": SettingsResource.of(settings)}
    run_config = {"ops": {"expert_credit": {"config": config}}} if config else None
    result = dg.materialize([expert_credit], partition_key=DAY, instance=instance,
                            resources=resources, run_config=run_config, raise_on_error=False)
    assert result.success, [e.step_failure_data.error.message for e in result.all_events
                            if e.is_step_failure]
    (mat,) = result.asset_materializations_for_node("expert_credit")
    return {k: v.value for k, v in mat.metadata.items()}


def test_weekly_credit_and_a_retirement_proposal(tmp_path, dagster_instance):
    home = tmp_path / "home"
    scored = scored_lake_at(home / "lake")
    settings = load_settings(overrides={"home": str(home)}, env={})

    meta = _materialize(settings, dagster_instance, RUN)
    rows = CREDIT_SCHEMA.validate(scored.lake.read("expert_credit", DAY))
    assert set(rows["expert_id"]) == {"anomaly_iforest", "depth_vacuum"}
    assert meta["days"] == [DAY] and meta["evaluations"] <= 4
    net = rows[(rows["metric"] == "net_bps") & (rows["scope"] == "all")].set_index("expert_id")
    no_credit = sorted(e for e in net.index if net.loc[e, "pooled"] <= 0)
    assert meta["proposed_for_retirement"] == no_credit and no_credit  # one week, none earned
    assert meta["proposals_posted"] == len(no_credit)
    fabric = OpsDb.open(settings.fabric)
    try:
        with fabric.transaction() as tx:
            alerts = tx.query("SELECT payload FROM sig_outbox WHERE intent = 'WATCHDOG_ALERT'")
    finally:
        fabric.close()
    reasons = sorted((a["payload"] if isinstance(a["payload"], dict)
                      else json.loads(a["payload"]))["reason"] for a in alerts)
    assert reasons == [f"dsi_expert_no_credit.{e}" for e in no_credit]

    shown = _materialize(settings, dagster_instance)         # the nightly default: list only
    assert shown["credit_day"] == DAY and "anomaly_iforest" in shown["table"]
    assert "evaluations" not in shown


def test_the_weekly_schedule_asks_for_sunday_with_run_true(tmp_path):
    from lotus_location.definitions import build_definitions

    defs = build_definitions(load_settings(overrides={"home": str(tmp_path)}, env={}))
    schedule = defs.get_schedule_def("expert_credit_weekly")
    assert credit_definitions().schedules[0].cron_schedule == "30 5 * * 1"
    monday = datetime(2026, 1, 5, 5, 30, tzinfo=UTC)
    ctx = dg.build_schedule_context(scheduled_execution_time=monday,
                                    repository_def=defs.get_repository_def())
    (req,) = schedule.evaluate_tick(ctx).run_requests
    assert req.partition_key == "2026-01-04"
    assert req.run_config["ops"]["expert_credit"]["config"]["run"] is True
