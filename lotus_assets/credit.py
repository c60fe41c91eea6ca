"""`expert_credit`: each DSI expert's Shapley-lite credit over the last week of scored days,
and retirement proposals to the curators for experts with no credit for N weeks.

Weekly: the `expert_credit_weekly` schedule (Mondays 05:30 UTC) materialises Sunday's
partition with `run: true`, which replays the window's days once per coalition of experts
(docs/experiments.md, "Expert credit"). The nightly job materialises the asset with its
default config, which only lists the newest credit already in the lake, so a night stays
cheap. Proposals are signed WATCHDOG_ALERTs on sig's outbox (one per expert and ISO week);
nothing is ever removed from the registry. Thin: everything is in lotus_core.credit.
"""

from datetime import timedelta
from typing import Any

import dagster as dg
import pandas as pd

from lotus_assets.partitions import daily_partitions
from lotus_core.config.shared import shared_values
from lotus_core.credit import ASSET, CREDIT_SCHEMA, CreditConfig, CreditError, run_credit
from lotus_core.credit.retire import post_proposals, proposals
from lotus_core.experiments import InputsError, base_config
from lotus_core.learning.priors_store import active_priors_for_date
from lotus_core.signals.priors import ActivePriors
from lotus_core.time import shift_day
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.router import FabricKeysResource
from lotus_resources.settings import SettingsResource
from lotus_resources.table_metadata import table_metadata

SHOWN = ["expert_id", "metric", "shapley", "se", "knockout", "pooled"]


class ExpertCreditConfig(dg.Config):
    """`run` computes credit (the weekly schedule sets it); the rest are CreditConfig's."""

    run: bool = False
    orders: int = 12
    seed: int = 20260105
    players: list[str] = []
    window_days: int = 7
    retire_weeks: int = 4
    post_proposals: bool = True


@dg.asset(
    partitions_def=daily_partitions,
    group_name="research",
    deps=["signal_events", "dsi_annotations"],
    kinds={"parquet"},
    description="Each DSI expert's marginal contribution to det_sigma and to realised "
    "outcomes over the week's scored days: Shapley-lite over seeded inclusion orders, "
    "knock-out, and per-coin credit partially pooled across coins. Experts with no outcome "
    "credit for N weeks are proposed to the curators (never removed).",
)
def expert_credit(context: dg.AssetExecutionContext, config: ExpertCreditConfig,
                  lake: LakeResource, fabric: OpsDbResource, fabric_keys: FabricKeysResource,
                  settings: SettingsResource) -> dg.MaterializeResult:
    day = context.partition_key
    store = lake.get()
    meta: dict[str, Any] = {}
    if config.run:
        cfg = CreditConfig(orders=config.orders, seed=config.seed, players=tuple(config.players),
                           window_days=config.window_days, retire_weeks=config.retire_weeks)
        lotus = settings.get()
        values = shared_values(lotus)
        with fabric.open() as db:
            def priors_for(d: str) -> ActivePriors:
                return active_priors_for_date(db, d)

            try:
                result = run_credit(store, day, base_config(scoring=lotus.scoring.config),
                                    priors_for, history_days=values.history_days,
                                    dsi_history_days=values.dsi_history_days, config=cfg)
            except (CreditError, InputsError) as exc:
                raise dg.Failure(f"expert credit on {day}: {exc}") from None
            store.write(ASSET, day, result.rows, validate=CREDIT_SCHEMA.validate)
            first = shift_day(day, -7 * cfg.retire_weeks + 1)
            history = [store.read(ASSET, d) for d in store.days(ASSET) if first <= d <= day]
            found = proposals(pd.concat(history, ignore_index=True), day, cfg.retire_weeks)
            posted = (post_proposals(db, found, fabric_keys.keyring(),
                                     models_map=fabric_keys.models_map())
                      if config.post_proposals else 0)
        meta.update({"days": result.days, "evaluations": result.shapley.evaluations,
                     "proposed_for_retirement": [p.expert_id for p in found],
                     "proposals_posted": posted})
    newest = [d for d in store.days(ASSET) if d <= day]
    rows = (store.read(ASSET, newest[-1]) if newest
            else pd.DataFrame(columns=list(CREDIT_SCHEMA.columns)))
    meta.update(table_metadata(rows))  # the newest credit table, as every table asset shows it
    if newest:
        top = rows[rows["scope"] == "all"].sort_values(["metric", "shapley"], ascending=False)
        meta.update({"credit_day": newest[-1], "window": str(rows["window"].iloc[0]),
                     "table": dg.MetadataValue.md(top[SHOWN].to_markdown(
                         index=False, floatfmt=".4g"))})
    else:
        meta["table"] = dg.MetadataValue.md("(no expert credit yet: the weekly schedule, or "
                                            "materialise with `run: true`)")
    return dg.MaterializeResult(metadata=meta)


CREDIT_ASSETS = [expert_credit]


def credit_definitions() -> dg.Definitions:
    """The weekly job and schedule: Sunday's partition (the week just ended), `run: true`."""
    job = dg.define_asset_job("expert_credit_weekly", selection=["expert_credit"],
                              description="Shapley-lite credit of the DSI experts, weekly.")

    @dg.schedule(job=job, cron_schedule="30 5 * * 1", execution_timezone="UTC",
                 name="expert_credit_weekly",
                 description="Mondays 05:30 UTC: credit over the week that ended on Sunday.")
    def weekly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = (context.scheduled_execution_time - timedelta(days=1)).strftime("%Y-%m-%d")
        return dg.RunRequest(run_key=f"credit:{day}", partition_key=day, run_config={
            "ops": {"expert_credit": {"config": {"run": True}}}})

    return dg.Definitions(jobs=[job], schedules=[weekly])
