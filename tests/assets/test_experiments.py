"""The `experiments` asset: launched from Dagster with an alternative it
replays the day and records the row; with its default config it lists the day's rows for
the UI; a bad alternative fails the run naming it. Real Dagster runs on a scored lake."""

from __future__ import annotations

import dagster as dg

from lotus_assets.experiments import experiments
from lotus_core.config import load_settings
from lotus_core.experiments import list_experiments
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.settings import SettingsResource
from tests.core.experiments.lake_kit import DAY, scored_lake_at


def _materialize(settings, instance, config: dict | None = None):  # noqa: ANN001, ANN202
    run_config = {"ops": {"experiments": {"config": config}}} if config else None
    return dg.materialize([experiments], partition_key=DAY, instance=instance,
                          resources={"lake": LakeResource(root=str(settings.lake_dir)),
                                     "fabric": OpsDbResource(url=settings.fabric),
                                     "settings": SettingsResource.of(settings)},
                          run_config=run_config,
                          raise_on_error=False)


def _meta(result) -> dict:  # noqa: ANN001
    (mat,) = result.asset_materializations_for_node("experiments")
    return {k: v.value for k, v in mat.metadata.items()}


def test_the_asset_replays_lists_and_refuses(tmp_path, dagster_instance):
    home = tmp_path / "home"
    scored = scored_lake_at(home / "lake")
    settings = load_settings(overrides={"home": str(home)}, env={})

    ran = _materialize(settings, dagster_instance,
                       {"run": True, "gates": {"tau_publish": "0.75"}, "n_boot": 200})
    assert ran.success, [e.step_failure_data.error.message for e in ran.all_events
                         if e.is_step_failure]
    meta = _meta(ran)
    assert meta["experiments"] == 1 and meta["null_reproduced_all"] is True
    assert "gate:tau_publish=0.75" in meta["table"]
    (row,) = list_experiments(scored.lake).to_dict("records")
    assert row["experiment_id"] in meta["table"] and meta["latest"]["n_boot"] == 200

    bad = _materialize(settings, dagster_instance, {"run": True, "knock_out": ["nope"]})
    assert not bad.success
    (msg,) = [e.step_failure_data.error.message for e in bad.all_events if e.is_step_failure]
    assert "knock_out: unknown expert 'nope'" in msg
    assert _meta(_materialize(settings, dagster_instance))["experiments"] == 1


def test_the_asset_is_in_the_code_location():
    from lotus_location.definitions import ASSETS

    assert experiments in ASSETS  # materialised nightly after signal_events, listed in the UI
