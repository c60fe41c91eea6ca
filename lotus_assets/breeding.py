"""The breeder's nightly assets, in their own job and schedule (never in `lotus_daily`,
whose per-night CPU must not grow): `candidates` (every candidate of the night, survivors
with their card, losers with their reason; survivors posted to the curators as
`bred_detector` items and written to `bred_specs` with status `exploration`) and
`detector_lineage` (child -> parent edges of every night so far, shown as a table).
Thin: everything is in lotus_core.breeding (docs/breeding.md).
"""

import json
from datetime import timedelta
from typing import Any

import dagster as dg
import pandas as pd

from lotus_assets.partitions import daily_partitions
from lotus_core.breeding import (
    Grammar,
    HarnessConfig,
    RecipeProposer,
    breed_night,
    candidate_items,
    load_recipe,
    parents_from,
)
from lotus_core.breeding.schema import CANDIDATES_SCHEMA, LINEAGE_SCHEMA
from lotus_core.breeding.store import write_specs
from lotus_core.curator_api.store import post_candidate
from lotus_core.signals import load_detectors
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.table_metadata import table_metadata

GROUP = "breeding"
COST = ("Not run by `make run` or `lotus_daily`: the `lotus_breeding` job (and `lotus breed "
        "run`) runs it; a night of 3 coins x 6 h costs ~13 CPU s (64 candidates judged), and "
        "it grows with the day's frames.")
"""What "Materialize all" adds by selecting the breeding group, said in its assets."""
SHOWN = ["detector_id", "origin", "survived", "windows", "oos_lift", "oos_p", "reason"]


class BreedConfig(dg.Config):
    """The night's breeding: seed of the proposer, parents from the last `parent_nights`."""

    seed: int = 20260105
    parent_nights: int = 7
    recipe_path: str | None = None
    detectors_path: str | None = None
    post: bool = True  # post survivors to curator_candidates


@dg.asset(
    partitions_def=daily_partitions, group_name=GROUP, kinds={"parquet"},
    ins={"microtape_frames": dg.AssetIn("microtape_frames")},
    description="Bred detector candidates of the night: proposed from the grammar and the "
    "earlier survivors (mutation, recombination, AND/WITHIN composition), judged on the "
    "day's tape only (compile, future-touch, rolling-origin out-of-sample, label shuffle, "
    "adversarial). Survivors get a card with lineage, enter scoring as `exploration` "
    "(bred_specs) and are queued for the curators; losers keep their reason. " + COST,
)
def candidates(context: dg.AssetExecutionContext, config: BreedConfig,
               microtape_frames: pd.DataFrame, lake: LakeResource,
               fabric: OpsDbResource) -> dg.MaterializeResult:
    day = context.partition_key
    store = lake.get()
    earlier = [d for d in store.days("candidates") if d < day][-config.parent_nights:]
    history = (pd.concat([store.read("candidates", d) for d in earlier], ignore_index=True)
               if earlier else pd.DataFrame(columns=list(CANDIDATES_SCHEMA.columns)))
    vetted = load_detectors(config.detectors_path).enabled
    result = breed_night(microtape_frames, day,
                         proposer=RecipeProposer(load_recipe(config.recipe_path)),
                         grammar=Grammar(vetted=tuple(s.id for s in vetted)), vetted=vetted,
                         parents=parents_from(history), seed=config.seed,
                         cfg=HarnessConfig())
    store.write("candidates", day, result.candidates, validate=CANDIDATES_SCHEMA.validate)
    write_specs(store, day, result.survivor_specs())
    posted = 0
    if config.post and result.survivors:
        with fabric.open() as db, db.transaction() as tx:
            posted = sum(post_candidate(tx, **row) for row in candidate_items(result, day))
    c = result.candidates
    meta: dict[str, Any] = {
        **table_metadata(c), "proposed": len(c), "survivors": int(c["survived"].sum()),
        "posted_to_curators": posted,
        "by_reason": {k: int(v) for k, v in
                      c["reason"].str.split(":").str[0].replace("", "survived")
                      .value_counts().sort_index().items()},
        "table": dg.MetadataValue.md(c.sort_values(["survived", "oos_p"],
                                                   ascending=[False, True])[SHOWN]
                                     .head(30).to_markdown(index=False, floatfmt=".4g")),
    }
    return dg.MaterializeResult(metadata=meta)


@dg.asset(
    partitions_def=daily_partitions, group_name=GROUP, kinds={"parquet"}, deps=[candidates],
    description="Lineage of the bred detectors up to the night: every child -> parent edge "
    "(origin, night, whether the child survived), as a table in the UI. Not run by `make "
    "run` or `lotus_daily`: the `lotus_breeding` job's; it reads the lake alone (seconds).",
)
def detector_lineage(context: dg.AssetExecutionContext, lake: LakeResource
                     ) -> dg.MaterializeResult:
    day = context.partition_key
    store = lake.get()
    parts = []
    for d in [d for d in store.days("candidates") if d <= day]:
        c = store.read("candidates", d)
        parts += [{"date": d, "child_id": det, "parent_id": p, "origin": o, "survived": s}
                  for det, ps, o, s in zip(c["detector_id"], c["parents"], c["origin"],
                                           c["survived"], strict=True)
                  for p in json.loads(ps)]
    lin = pd.DataFrame(parts, columns=list(LINEAGE_SCHEMA.columns))
    lin["survived"] = lin["survived"].astype(bool)
    for col in ("date", "child_id", "parent_id", "origin"):
        lin[col] = lin[col].astype("str")
    store.write("detector_lineage", day, lin, validate=LINEAGE_SCHEMA.validate)
    shown = lin[lin["survived"]].tail(40)
    return dg.MaterializeResult(metadata={
        **table_metadata(lin), "edges": len(lin), "surviving_children":
        int(lin.loc[lin["survived"], "child_id"].nunique()),
        "table": dg.MetadataValue.md(shown.to_markdown(index=False) if len(shown)
                                     else "(no surviving bred detector with a parent yet)")})


BREEDING_ASSETS = [candidates, detector_lineage]


def breeding_definitions() -> dg.Definitions:
    """The breeder's own job and nightly schedule (02:30 UTC, after lotus_nightly)."""
    job = dg.define_asset_job("lotus_breeding", selection=dg.AssetSelection.groups(GROUP),
                              description="Breed detectors on yesterday's tape.")

    @dg.schedule(job=job, cron_schedule="30 2 * * *", execution_timezone="UTC",
                 name="lotus_breeding_nightly",
                 description="02:30 UTC: breed on yesterday (after lotus_nightly).")
    def nightly(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        day = (context.scheduled_execution_time - timedelta(days=1)).strftime("%Y-%m-%d")
        return dg.RunRequest(run_key=f"breeding:{day}", partition_key=day)

    return dg.Definitions(assets=BREEDING_ASSETS, jobs=[job], schedules=[nightly])
