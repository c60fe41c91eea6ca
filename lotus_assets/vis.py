"""The vision module's daily tables (docs/vision.md, lotus_core.vis.outcomes):

    vis_strands   the charts whose submitted time falls in the day: one row per vis strand
                  (its reading file under <LOTUS_HOME>/vis/readings and its vis_strand row),
                  with the weight the vis priors in force that day give it
    vis_eval      for each of them with a coin: the coin's realised mid return after the
                  chart's time at signal_eval's horizons, over the MicroTape of the day and
                  the next (when in the lake), through `microtape_days` (lineage); its
                  materialisation shows the day's chart cards (lotus_core.vis.cards): each
                  chart beside its digitised series, flags, step confidences, outcome and
                  its nearest past charts with theirs

`VIS_ASSETS` and their own job `lotus_vis` (never in `lotus_daily`: the nightly chain never
makes them) are what the code location merges, beside the chart drop folder's job and
sensor (lotus_sensors/vis_inbox.py). The Decision-Maker reads both (`dm_calibration`,
`dm_decisions`): the chain carries them as `VIS_TABLES`, tables it reads and does not make.
"""

from typing import Any

import dagster as dg
import pandas as pd

from lotus_assets.partitions import daily_partitions, lake_window_in
from lotus_core.evaluation import DEFAULT_HORIZONS_S, GAP_TOLERANCE_S
from lotus_core.evaluation.outcomes import READ_COLUMNS
from lotus_core.fabric.strands import read_strand
from lotus_core.store.by_coin import CoinDays
from lotus_core.vis.cards import CAP, K, cards_md, day_cards
from lotus_core.vis.ingest import stored_bytes
from lotus_core.vis.lessons import load_vis_learning, weigh
from lotus_core.vis.outcomes import day_of, evaluate_strands, outcomes_of, realised, strands_of_day
from lotus_core.vis.priors import vis_priors_for_day
from lotus_core.vis.similar import ShapeIndex
from lotus_core.vis.store import MODULE, load_readings
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.settings import SettingsResource

VIS_DAY: dict[str, Any] = {"partitions_def": daily_partitions, "io_manager_key": "lake_io",
           "group_name": "vis", "kinds": {"parquet", "pandas"}}


class VisEvalConfig(dg.Config):
    """signal_eval's horizons (seconds) and gap tolerance (lotus_core.evaluation); how many
    chart cards the materialisation shows (the newest) and how many past charts each."""

    horizons_s: list[int] = list(DEFAULT_HORIZONS_S)
    gap_tolerance_s: float = GAP_TOLERANCE_S
    cards: int = CAP
    neighbours: int = K


@dg.asset(
    **VIS_DAY,
    description="The charts submitted (lotus vis submit, POST /charts, the vis inbox) whose "
    "time `at` falls in the day (UTC): strand id, kind (analysis | unreadable), coin, "
    "ts_ms, timeframe, chart hash, note, confidence, pattern flags (JSON), the reason when "
    "unreadable, how it came in, when it was recorded, and the weight the vis priors in "
    "force that day give it (1 unless it is a source a chart lesson speaks of). Charts "
    "without a time are in no day.",
)
def vis_strands(context: dg.AssetExecutionContext, fabric: OpsDbResource,
                settings: SettingsResource) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    docs = [d for d in load_readings(settings.get().home) if day_of(d) == day]
    with fabric.open() as fab:
        recorded = {str(d["strand_id"]): row for d in docs
                    if (row := read_strand(fab, MODULE, str(d["strand_id"]))) is not None}
        # compiled the nights before the day: a re-run weighs the same
        priors = vis_priors_for_day(fab, day, cfg=load_vis_learning()[0])
    out = weigh(strands_of_day(docs, recorded, day), priors)
    kinds = out["kind"].value_counts()
    return dg.Output(out, metadata={
        "charts": len(out), "with_coin": int(out["coin"].notna().sum()),
        "analysis": int(kinds.get("analysis", 0)),
        "unreadable": int(kinds.get("unreadable", 0)),
        "not_in_fabric": len(docs) - len(recorded), "vis_priors_ver": priors.version})


@dg.asset(
    **VIS_DAY,
    ins={
        "vis_strands": dg.AssetIn("vis_strands"),
        # the day's MicroTape and the next day's (a horizon may cross midnight), coin by coin
        "microtape_days": lake_window_in("microtape_days", 0, 1, by_coin=True,
                                         reads="microtape_frames"),
    },
    description="Per (chart with a coin, horizon): the coin's mid return in bps from its "
    "frame as of the chart's time to its frame as of time + horizon, and the extremes "
    "between (mfe/mae), by signal_eval's outcome function (a long window, no fee). Status "
    "done, gap (across a feed hole), pending (the tape does not reach the horizon yet) or "
    "no_tape (the coin has no MicroTape that day); outcomes NaN unless done or gap. The "
    "materialisation's `chart_cards` shows the newest 20 charts, each beside its digitised "
    "series, flags, step confidences and outcome, with its 3 nearest past charts and theirs.",
)
def vis_eval(context: dg.AssetExecutionContext, config: VisEvalConfig,
             vis_strands: pd.DataFrame, microtape_days: CoinDays,
             settings: SettingsResource, lake: LakeResource) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    own = microtape_days.get(day)
    own_coins = set(own.coins()) if own is not None else set()

    def read_tape(coin: str) -> pd.DataFrame | None:
        if coin not in own_coins:
            return None
        parts = [d.read(coin, READ_COLUMNS) for d in microtape_days.days
                 if d.day >= day and coin in d.coins()]
        return pd.concat(parts, ignore_index=True)

    out = evaluate_strands(vis_strands, read_tape, config.horizons_s, config.gap_tolerance_s)
    status = out["status"].value_counts()
    return dg.Output(out, metadata={
        "charts": int(out["strand_id"].nunique()), "rows": len(out),
        **{s: int(status.get(s, 0)) for s in ("done", "gap", "pending", "no_tape")},
        "tape_days": [d.day for d in microtape_days.days],
        "chart_cards": dg.MetadataValue.md(_cards(day, vis_strands, out, config,
                                                  settings, lake))})


def _cards(day: str, strands: pd.DataFrame, out: pd.DataFrame, config: VisEvalConfig,
           settings: SettingsResource, lake: LakeResource) -> str:
    """The day's chart cards: this run's outcomes for the day's charts, the lake's
    `vis_eval` of their days for past charts of other days."""
    home = settings.get().home
    docs = load_readings(home)
    ids = set(strands["strand_id"].astype(str))
    fresh = outcomes_of(out)
    store = lake.get()

    def outcomes(wanted: list[dict[str, Any]]) -> dict[str, dict[int, dict[str, Any]]]:
        return {**realised(store, [d for d in wanted if day_of(d) != day]), **fresh}

    cards, total = day_cards(
        [d for d in docs if str(d.get("strand_id")) in ids], ShapeIndex.from_docs(docs),
        lambda d: stored_bytes(home, str(d.get("chart_hash"))), outcomes,
        cap=config.cards, k=config.neighbours)
    return cards_md(cards, config.horizons_s, total)


VIS_ASSETS = [vis_strands, vis_eval]
VIS_TABLES = [dg.AssetsDefinition(specs=[dg.AssetSpec(a.key, partitions_def=daily_partitions,
                                                      group_name="vis")]) for a in VIS_ASSETS]
"""The two tables as the nightly chain reads them (the Decision-Maker: docs/dm.md,
"Sources"): not executable, made by `lotus_vis` and not by the chain. In
`lotus_assets.chain.ASSETS` (through `DM_ASSETS`) so a day's runs resolve the inputs (read by
the lake IO manager as their input manager: `lotus_assets.dm.lake_input`); replaced in the
code location by `VIS_ASSETS` themselves."""
VIS_JOB = dg.define_asset_job(
    "lotus_vis", selection=dg.AssetSelection.groups("vis"),
    description="A day's charts and their outcomes (vis_strands, vis_eval); not part of "
    "lotus_daily, so a day's nightly runs and re-runs make the same partitions with or "
    "without charts.")
