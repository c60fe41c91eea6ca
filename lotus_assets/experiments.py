"""`experiments`: the counterfactual replays recorded for a day, listed in the UI.

The table lives in the lake (lotus_core/experiments/table.py writes it, under a lock, from
the CLI and from here); this asset does not go through the lake IO manager. Materialised
with its default config (the nightly job does) it only lists the day's experiments; with
`run: true` it first replays the day under the configured alternative and records it, so
an experiment can be launched from the launchpad as well as with `lotus experiment run`.
Thin: everything is in lotus_core.experiments.
"""


import json

import dagster as dg
import yaml

from lotus_assets.metadata import rounded
from lotus_assets.partitions import daily_partitions
from lotus_core.breeding.scoring import exploration_set
from lotus_core.config.shared import shared_values
from lotus_core.curator_api.standing import read_detector_actions
from lotus_core.experiments import (
    AlternativeError,
    InputsError,
    alternative_of,
    base_config,
    code_commit,
    list_experiments,
    run_experiment,
)
from lotus_core.learning.priors_store import active_priors_for_date
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.settings import SettingsResource
from lotus_resources.table_metadata import table_metadata

SHOWN = ["experiment_id", "label", "null_reproduced", "published_base", "published_alt",
         "added", "removed", "delta_net_bps", "delta_ci_lo", "delta_ci_hi", "commit"]


class ExperimentConfig(dg.Config):
    """An alternative to replay (values as YAML text: "0.7", "2000", "true")."""

    run: bool = False
    knock_out: list[str] = []
    gates: dict[str, str] = {}
    thresholds: dict[str, str] = {}
    seed: int = 0
    block_s: int = 300
    n_boot: int = 2000


@dg.asset(
    partitions_def=daily_partitions,
    group_name="research",
    deps=["signal_events", "dsi_annotations"],
    kinds={"parquet"},
    description="Counterfactual replays of the day (an expert knocked out, a gate moved, a "
    "threshold changed, a detector added): what would have been published, its realised "
    "outcome and the paired block-bootstrap interval against what was, with the config, "
    "input hashes and commit of each replay (docs/experiments.md).",
)
def experiments(context: dg.AssetExecutionContext, config: ExperimentConfig,
                lake: LakeResource, fabric: OpsDbResource,
                settings: SettingsResource) -> dg.MaterializeResult:
    day = context.partition_key
    store = lake.get()
    if config.run:
        lotus = settings.get()
        values = shared_values(lotus)
        try:
            alt = alternative_of(
                knock_out=config.knock_out,
                gates={k: yaml.safe_load(v) for k, v in config.gates.items()},
                thresholds={k: yaml.safe_load(v) for k, v in config.thresholds.items()})
            with fabric.open() as db:
                priors = active_priors_for_date(db, day)
                actions, _ = read_detector_actions(db)  # the read score_signals makes
            extra = exploration_set(store, day) if values.exploration else None
            result = run_experiment(store, day, alt, base_config(scoring=lotus.scoring.config),
                                    priors=priors, actions=actions, extra=extra,
                                    history_days=values.history_days,
                                    dsi_history_days=values.dsi_history_days,
                                    commit=code_commit(), seed=config.seed,
                                    block_s=config.block_s, n_boot=config.n_boot)
        except (AlternativeError, InputsError, yaml.YAMLError) as exc:
            raise dg.Failure(f"experiment on {day}: {exc}") from None
        context.log.info("recorded %s: %s", result.row["experiment_id"], result.row["label"])
    table = list_experiments(store, day)
    return dg.MaterializeResult(metadata=rounded({
        **table_metadata(table),  # the day's experiments table, as every table asset shows it
        "experiments": len(table),
        "all_days": len(list_experiments(store)),
        "null_reproduced_all": bool(table["null_reproduced"].all()) if len(table) else None,
        "table": dg.MetadataValue.md(
            table[SHOWN].to_markdown(index=False, floatfmt=".3g") if len(table)
            else "(no experiments for this day: `lotus experiment run --day " + day + " ...`)"),
        "latest": dg.MetadataValue.json(
            json.loads(table["metrics"].iloc[-1]) if len(table) else {}),
    }))


EXPERIMENT_ASSETS = [experiments]
