"""Compute governance: the night's breeding under a compute budget,
spent across the breeding arms, the re-audits of earlier survivors, and the counterfactual
replays and expert re-fits of the newest scored day (when the lake holds one) by Thompson
sampling on the information each arm bought per unit of compute, with a diversity quota. Logged as
the lake tables `compute_governance` (every pull) and `governance_state` (per arm, carried
to the next night), shown as a table and two plots. In the `lotus_breeding` job (group
`breeding`). Thin: everything is in lotus_core.governance (docs/governance.md).
"""

from typing import Any, Literal

import dagster as dg
import pandas as pd

from lotus_assets.metadata import rounded
from lotus_assets.partitions import daily_partitions
from lotus_core.breeding import load_recipe
from lotus_core.governance import BudgetConfig, GovernorConfig, by_arm
from lotus_core.governance.nightly import govern_day
from lotus_core.governance.plot import reward_plot, spend_plot
from lotus_core.governance.replay_arms import scoring_from
from lotus_core.report.svg import image_md
from lotus_core.signals import load_detectors
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.settings import SettingsResource
from lotus_resources.table_metadata import table_metadata


class GovernConfig(dg.Config):
    """The night's budget (CPU seconds, or deterministic cost units), quota and seed."""

    seed: int = 20260105
    budget_mode: Literal["cpu", "units"] = "cpu"
    budget: float = 120.0  # CPU seconds (cpu) or rows/10k x gates (units)
    quota: int = 2
    parent_nights: int = 7
    reaudits: int = 8
    replays: int = 4  # counterfactual replays of the newest scored day (survivors, a gate)
    refits: int = 6  # DSI expert re-fits on it (the packaged registry has 6 active)
    recipe_path: str | None = None
    detectors_path: str | None = None


@dg.asset(
    partitions_def=daily_partitions, group_name="breeding", kinds={"parquet"},
    ins={"microtape_frames": dg.AssetIn("microtape_frames")},
    deps=["signal_events", "dsi_annotations"],
    description="The night's compute budget spent by Thompson sampling over the breeding "
    "arms (fresh, mutation, recombination, composition by input family, WITHIN), the "
    "re-audits of earlier survivors, and the counterfactual replays and DSI expert re-fits "
    "of the newest scored day, on information bought per unit of compute, with a "
    "diversity quota. Every pull (arm, draw, reward, cost) in `compute_governance`; the "
    "posterior per arm in `governance_state`, carried to the next night. Not run by "
    "`make run` or `lotus_daily`: the `lotus_breeding` job (and `lotus govern run`) runs it; "
    "it spends at most its budget (120 CPU s by default; ~18 CPU s on a night of 3 coins x "
    "6 h, where it runs out of candidates first).",
)
def compute_governance(context: dg.AssetExecutionContext, config: GovernConfig,
                       microtape_frames: pd.DataFrame, lake: LakeResource,
                       fabric: OpsDbResource, settings: SettingsResource
                       ) -> dg.MaterializeResult:
    day = context.partition_key
    gov = GovernorConfig(budget=BudgetConfig(mode=config.budget_mode, limit=config.budget),
                         quota=config.quota)
    with fabric.open() as db:
        scoring = scoring_from(settings.get(), db)
        g = govern_day(lake.get(), microtape_frames, day,
                       recipe=load_recipe(config.recipe_path),
                       vetted=load_detectors(config.detectors_path).enabled, gov=gov,
                       seed=config.seed, parent_nights=config.parent_nights,
                       reaudits=config.reaudits, scoring=scoring, replays=config.replays,
                       refits=config.refits)
    pulls, arms = g.night.pulls, by_arm(g.night.pulls)
    unit = "CPU s" if config.budget_mode == "cpu" else "cost units"
    meta: dict[str, Any] = {
        **table_metadata(pulls), "budget": config.budget, "budget_mode": config.budget_mode,
        "spent": g.night.spent, "pulls": len(pulls), "proposed": g.proposed,
        "bought": len(g.result.candidates), "survivors": len(g.result.survivors),
        "reaudited": len(g.reaudits),
        **{f"{k}_pulls": int((pulls["kind"] == k).sum()) for k in ("replay", "refit")},
        "by_arm": dg.MetadataValue.md(arms.to_markdown(index=False, floatfmt=".4g")
                                      if len(arms) else "(no pull)"),
        "posterior": dg.MetadataValue.md(g.night.state.to_frame(day).drop(columns="date")
                                         .to_markdown(index=False, floatfmt=".4g")),
    }
    if len(pulls):
        meta["spend_plot"] = dg.MetadataValue.md(image_md(spend_plot(pulls, unit),
                                                          "spend per arm"))
        meta["reward_plot"] = dg.MetadataValue.md(image_md(reward_plot(pulls),
                                                           "reward per arm"))
    return dg.MaterializeResult(metadata=rounded(meta))


GOVERNANCE_ASSETS = [compute_governance]
