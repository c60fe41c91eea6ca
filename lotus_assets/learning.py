"""The learning loop's assets (docs/learning.md): lesson_atoms -> lessons -> braids ->
meta_braids -> active_priors, plus watchdog_alerts. Thin: read the lake windows, call
`lotus_core.learning.pipeline`, write the results and the fabric's new priors version.

`lessons` depends on its own previous partition (the lifecycle carries over), so nights run
in order; `active_priors` for day D writes the patch set that scores day D + 1.
"""

from collections.abc import Sequence

import dagster as dg
import pandas as pd

from lotus_assets.metadata import braids_story, lessons_story, priors_story, rounded
from lotus_assets.partitions import daily_partitions, head_in, lake_window_in, sized_window_in
from lotus_core.learning import pipeline
from lotus_core.learning.alerts import publish_watchdog_alerts
from lotus_core.learning.atoms import WINDOW_COLUMNS
from lotus_core.learning.compile import CompiledPriors
from lotus_core.learning.config import LearningConfig, load_learning
from lotus_core.learning.lessons import watchdog_alerts as watchdog_alerts_of
from lotus_core.learning.priors_store import (
    nightly_source,
    read_priors_for_date,
    write_patch_set,
)
from lotus_core.learning.snapshot import snapshot_rows
from lotus_core.malloc import map_large_allocations, release_free_heap
from lotus_core.report.names import detector_name
from lotus_core.signals import load_scoring
from lotus_core.store.by_coin import CoinDays
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.router import FabricKeysResource

QUANTIZER_IN = head_in("lesson_atoms", ["quantizer"])
"""The night's quantiser, which every lesson atom carries: the first atom's alone is read."""


class LearningConfigPath(dg.Config):
    """Optional path of another learning.yaml (None: the packaged one)."""

    learning_path: str | None = None
    scoring_path: str | None = None


def _window_ins() -> dict[str, dg.AssetIn]:
    """The training window's tables, nothing read yet (`CoinDays`): the step reads them a
    slice at a time, only the columns and the horizon the learning frame uses, and a
    uniform sample of the windows above `max_windows` (lotus_core.learning.sample)."""
    return {"signal_events": sized_window_in("signal_events_days", "window_days",
                                             by_coin=True, reads="signal_events"),
            "signal_eval": sized_window_in("signal_eval_days", "window_days", by_coin=True,
                                           reads="signal_eval"),
            # the window's midnight-crossing horizons, completed by each next day's tape
            "signal_eval_late": sized_window_in("signal_eval_late", "window_days",
                                                by_coin=True)}


def _tw(config: LearningConfigPath, events: CoinDays, evals: CoinDays, late: CoinDays,
        atoms: pd.DataFrame | None = None,
        held: Sequence[str] = pipeline.HELD) -> tuple[LearningConfig, pipeline.TrainingWindow]:
    cfg = load_learning(config.learning_path)
    base = load_scoring(config.scoring_path).context
    q = pipeline.quantizer_of(atoms) if atoms is not None else None
    return cfg, pipeline.window_from_days(events.days, evals.days, late.days, cfg, base, q, held)


def _window_meta(tw: pipeline.TrainingWindow) -> dict[str, object]:
    """What the step learned from: the window, its windows, the sample's rate."""
    return {"window": tw.label, "windows": len(tw.frame),
            "window_windows": tw.windows if tw.windows is not None else len(tw.frame),
            "sample_rate": dg.MetadataValue.float(tw.rate)}


@dg.asset(partitions_def=daily_partitions, io_manager_key="lake_io", group_name="learning",
          kinds={"parquet", "pandas"}, ins=_window_ins(),
          description="Per (detector, quantised context) over the training window (a uniform "
          "hash sample of its windows above learning.yaml max_windows: metadata "
          "window_windows, sample_rate): support, "
          "EWMA-weighted hit rate, net return, MFE, MAE, lifts over the detector's baseline, "
          "stability across days; carries the quantiser (edges fitted on this window).")
def lesson_atoms(context: dg.AssetExecutionContext, config: LearningConfigPath,
                 signal_events: CoinDays, signal_eval: CoinDays,
                 signal_eval_late: CoinDays) -> dg.Output:
    cfg, tw = _tw(config, signal_events, signal_eval, signal_eval_late, held=WINDOW_COLUMNS)
    # the atoms made a part at a time as the lake writes them: their count is the
    # written table's `rows`
    out = pipeline.atom_parts(tw, context.partition_key, cfg)
    return dg.Output(pipeline.with_quantizer(out, tw.quantizer), metadata=rounded({
        **_window_meta(tw), "quantizer": tw.quantizer.to_dict()}))


@dg.asset(partitions_def=daily_partitions, io_manager_key="lake_io", group_name="learning",
          kinds={"parquet", "pandas"},
          ins={**_window_ins(), "lesson_atoms": QUANTIZER_IN,
               "previous": lake_window_in("lessons", -1, -1)},
          description="Doubly robust (cross-fitted AIPW) uplift of <= 3-literal rules per "
          "detector with IPW and naive estimates beside it, hour-blocked bootstrap CI, MDL "
          "score, BQS, stability, and the lifecycle (proposed/active/sunset/archived, TTL, "
          "champion-challenger, the watchdog's out-of-sample check on the newest day).")
def lessons(context: dg.AssetExecutionContext, config: LearningConfigPath,
            signal_events: CoinDays, signal_eval: CoinDays,
            signal_eval_late: CoinDays, lesson_atoms: pd.DataFrame,
            previous: pd.DataFrame) -> dg.Output:
    map_large_allocations()  # its chunks' temporaries handed back as freed
    cfg, tw = _tw(config, signal_events, signal_eval, signal_eval_late, lesson_atoms)
    window, q, label = _window_meta(tw), tw.quantizer, tw.label
    tasks = pipeline.lesson_tasks(tw, previous, cfg)
    del tw  # the window's frame and literals are not held through the search
    release_free_heap()
    out, alerts = pipeline.lessons_of(tasks, q, label, previous, context.partition_key, cfg)
    states = out["state"].value_counts().to_dict() if len(out) else {}
    return dg.Output(out, metadata=rounded({
        "lessons": len(out), "states": {str(k): int(v) for k, v in states.items()},
        "watchdog_sunset": len(alerts), **window,
        "active": sorted(f"{detector_name(r.detector_id)}: {r.rule} ({r.uplift_bps:+.2f} bps)"
                         for r in out[out["state"] == "active"].itertuples())[:20],
        **lessons_story(out, previous),
    }))


@dg.asset(partitions_def=daily_partitions, io_manager_key="lake_io", group_name="learning",
          kinds={"parquet", "pandas"},
          description="Lessons the watchdog sunset tonight (out-of-sample p05 <= 0 or too "
          "little support on the newest day); each is also sent as a signed WATCHDOG_ALERT.")
def watchdog_alerts(context: dg.AssetExecutionContext, fabric: OpsDbResource,
                    fabric_keys: FabricKeysResource, lessons: pd.DataFrame) -> dg.Output:
    day = context.partition_key
    out = watchdog_alerts_of(lessons, day)
    with fabric.open() as store:
        posted = publish_watchdog_alerts(store, out.to_dict("records"), day,
                                         fabric_keys.keyring(),
                                         models_map=fabric_keys.models_map())
    return dg.Output(out, metadata={"alerts": len(out), "posted_new": posted})


@dg.asset(partitions_def=daily_partitions, io_manager_key="lake_io", group_name="learning",
          kinds={"parquet", "pandas"}, ins={**_window_ins(), "lessons": dg.AssetIn("lessons"),
                                            "lesson_atoms": QUANTIZER_IN},
          description="Micro braids: each live lesson with a bounded effect (theta_delta, "
          "phi_mult), caps, TTL, state, BQS and a sample of member windows for audit.")
def braids(config: LearningConfigPath, signal_events: CoinDays, signal_eval: CoinDays,
           signal_eval_late: CoinDays, lessons: pd.DataFrame,
           lesson_atoms: pd.DataFrame) -> dg.Output:
    cfg, tw = _tw(config, signal_events, signal_eval, signal_eval_late, lesson_atoms)
    out = pipeline.braids(lessons, tw, cfg)
    return dg.Output(out, metadata=rounded({"braids": len(out), **_window_meta(tw),
                                            "active": int((out["state"] == "active").sum()),
                                            **braids_story(out)}))


@dg.asset(partitions_def=daily_partitions, io_manager_key="lake_io", group_name="learning",
          kinds={"parquet", "pandas"}, ins={**_window_ins(), "braids": dg.AssetIn("braids"),
                                            "lesson_atoms": QUANTIZER_IN},
          description="Meta braids (INTERSECT / UNION / EXCEPT of a detector's active braids, "
          "kept only when they beat both parents' BQS and hold out of sample) and field braids "
          "(a pattern active in >= 2 detectors, pooled, attenuated, for the others); parents "
          "recorded (a DAG).")
def meta_braids(config: LearningConfigPath, signal_events: CoinDays,
                signal_eval: CoinDays, signal_eval_late: CoinDays,
                braids: pd.DataFrame, lesson_atoms: pd.DataFrame) -> dg.Output:
    cfg, tw = _tw(config, signal_events, signal_eval, signal_eval_late, lesson_atoms)
    out = pipeline.meta_braids(braids, tw, cfg)
    ops = out["op"].value_counts().to_dict() if len(out) else {}
    return dg.Output(out, metadata=rounded({"meta_braids": len(out), **_window_meta(tw),
                                            "ops": {str(k): int(v) for k, v in ops.items()},
                                            **braids_story(out)}))


@dg.asset(partitions_def=daily_partitions, io_manager_key="lake_io", group_name="learning",
          kinds={"parquet", "pandas"}, ins={"lesson_atoms": QUANTIZER_IN},
          description="Tonight's compiled patch set (precedence detector > meta > field, "
          "conflicts by BQS and specificity, a MILP choice (scipy, HiGHS) under the caps, a "
          "bounded step from last night's set), written to the fabric's sig_priors as a new "
          "version (scoring tomorrow) and here as before/after rows.")
def active_priors(context: dg.AssetExecutionContext, config: LearningConfigPath,
                  fabric: OpsDbResource, braids: pd.DataFrame, meta_braids: pd.DataFrame,
                  lesson_atoms: pd.DataFrame) -> dg.Output:
    cfg = load_learning(config.learning_path)
    day = context.partition_key
    q = pipeline.quantizer_of(lesson_atoms)
    with fabric.open() as store:
        before = read_priors_for_date(store, day)  # the set that scored today
        prev = CompiledPriors.from_patches(before.patches, cfg.caps.theta_min,
                                           cfg.caps.phi_max) if before.version else None
        compiled = pipeline.compile_night(braids, meta_braids, cfg, prev)
        after = write_patch_set(store, compiled.patches, compiled.theta_min, compiled.phi_max,
                                q.edge_keys() if q else {}, nightly_source(day),
                                note=f"{len(compiled.chosen)} braid patches chosen")
    out = snapshot_rows(before, after)
    return dg.Output(out, metadata=rounded({
        "priors_ver": after.version, "before_ver": before.version,
        "patches": len(compiled.patches), "chosen": len(compiled.chosen),
        "dropped": {d.braid_id: d.reason for d in compiled.dropped[:20]},
        "step_scale": compiled.step_scale,
        **priors_story(out),
    }))


LEARNING_ASSETS = [lesson_atoms, lessons, watchdog_alerts, braids, meta_braids, active_priors]
