"""The signal layer's assets: `detector_windows` (day x coin); `scoring_day` (daily: what
every coin's scoring shares); `signal_events` with its siblings `curator_log`,
`curator_tallies` and `meta_signals` (day x coin: one multi-asset, one scoring pass a coin);
`curator_kpis` (daily, the coins' tallies merged); and the daily handles on the day x coin
tables that later days read windows of (fit daily, apply per coin).

Thin: read the inputs, call `lotus_core.signals`, post published signals to sig_outbox,
report metadata. `build_signal_assets` wires the optional inputs: `dsi_annotations` (when
the DSI asset exists) and a per-detector audit status asset (when the audits exist).
"""


import json
from collections.abc import Iterator
from typing import Any

import dagster as dg
import pandas as pd

from lotus_assets.coin_days import coin_days_asset
from lotus_assets.metadata import rounded
from lotus_assets.partitions import (
    coin_day_in,
    daily_partitions,
    day_and_coin,
    day_coin_partitions,
    lake_window_in,
    sized_window_in,
)
from lotus_core.audits import AUDIT_STATUS_LOOKBACK_DAYS, status_in_force
from lotus_core.breeding.scoring import exploration_set
from lotus_core.curator_api.standing import read_detector_actions
from lotus_core.curators import load_curators
from lotus_core.curators.kpis import merged_tallies, tally_row
from lotus_core.fabric.publish import publish_alpha
from lotus_core.learning.priors_store import active_priors_for_date
from lotus_core.microtape.schema import empty_frame
from lotus_core.signals import load_detectors, load_scoring
from lotus_core.signals.pipeline import (
    CoinScoring,
    ExtraDetectors,
    WindowCount,
    detect_day,
    detect_parts,
    score_by_coin,
    scoring_specs,
)
from lotus_core.signals.quality import HISTORY_COLUMNS
from lotus_core.signals.schema import SIGNAL_EVENTS_KEY
from lotus_core.signals.scoring_day import (
    ScoringDay,
    ScoringDayMismatch,
    scoring_day,
    scoring_day_of,
    scoring_day_row,
)
from lotus_core.store.by_coin import ByCoin, CoinDay, InOrder
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.router import FabricKeysResource
from lotus_resources.settings import SettingsResource


class SignalConfig(dg.Config):
    """The YAML files the day is scored with (paths; None = the shipped ones). The
    `lotus_daily` / `lotus_coins` runs carry the settings' `scoring.config`,
    `scoring.detectors` and `scoring.curators` here (`daily_run_config`): the files the
    live engine and `live_parity` read too (`shared_values`)."""

    detectors_path: str | None = None
    scoring_path: str | None = None
    curators_path: str | None = None
    evaluate_kpis: bool = True
    post_alpha: bool = False
    """Post published windows as ALPHA_PROPOSED. Off: only the live daemon posts; a nightly
    run or backfill records what it would have published (signal_events) and posts no
    envelope that could only expire unread."""


@dg.asset(
    partitions_def=day_coin_partitions,
    io_manager_key="lake_io",
    group_name="signals",
    kinds={"parquet", "pandas"},
    ins={"microtape_frames": coin_day_in("microtape_frames")},  # the key's coin of the day
    description="Every window each detector fires on the coin's MicroTape of the day (one "
    "per event), with its realised forward move at the detector's horizon: the "
    "out-of-sample history that later days' sq_* are computed from. One partition per day "
    "and coin (the detectors and the outcomes are per coin), its windows in (ts_ms, "
    "detector_id) order, so a later day's history reads them a coin-day at a time.",
)
def detector_windows(context: dg.AssetExecutionContext, config: SignalConfig,
                     microtape_frames: CoinDay) -> dg.Output[ByCoin]:
    detectors, scoring = load_detectors(config.detectors_path), load_scoring(config.scoring_path)
    count = WindowCount()  # windows, with_outcome, per_detector: added once written
    parts = (count.passed(p)
             for p in detect_parts(microtape_frames, detectors, scoring=scoring))
    # the windows' empty form from the MicroTape's typed empty frame: the coin's tape is
    # read once, by `detect_parts`
    return dg.Output(ByCoin(parts, detect_day(empty_frame(), detectors, scoring=scoring),
                            tally=count.metadata))


detector_windows_days = coin_days_asset(
    "detector_windows_days", "detector_windows", "signals", "The day's detector windows")
"""The daily handle on `detector_windows`: the scoring history's and the audits' windows of
earlier days are over it (`sized_window_in(..., reads="detector_windows")`)."""


def _fingerprint(raw_feed: pd.DataFrame) -> str | None:
    hashes = sorted(set(raw_feed["sha256"].astype(str))) if "sha256" in raw_feed else []
    return hashes[0] if len(hashes) == 1 else None


def _extra(lake: LakeResource, settings: SettingsResource, day: str) -> ExtraDetectors | None:
    """settings scoring.exploration: the breeder's survivors (status exploration) scored too."""
    return exploration_set(lake.get(), day) if settings.get().scoring.exploration else None


def build_signal_assets(with_dsi: bool, audit_asset: str | None = None) -> list:
    """[detector_windows, detector_windows_days, scoring_day, score_signals,
    signal_events_days, curator_kpis]; `with_dsi` adds the dsi_annotations input,
    `audit_asset` an input holding per-detector audit status (detector_id, leakage_ok,
    adversarial_ok[, fragility, card_ok]) of the days before (the newest curates the day:
    lotus_core.audits.status_day, the rule the live engine uses too)."""
    day_ins: dict[str, dg.AssetIn] = {
        "raw_feed": dg.AssetIn("raw_feed"),  # the day's fingerprint
        # the earlier days' windows, folded a coin-day at a time (history_quality)
        "history": sized_window_in("detector_windows_days", "history_days",
                                   by_coin=True, reads="detector_windows"),
    }
    if audit_asset:
        # the newest status of the days before this one (status_day): never the day's own
        day_ins["audit_status"] = lake_window_in(audit_asset, -AUDIT_STATUS_LOOKBACK_DAYS, -1)

    @dg.asset(
        name="scoring_day",
        partitions_def=daily_partitions,
        io_manager_key="lake_io",
        group_name="signals",
        kinds={"parquet", "pandas"},
        ins=day_ins,
        description="What every coin's scoring of the day shares (one row, pickled; "
        "lotus_core.signals.scoring_day): the history quality of the earlier days' detector "
        "windows (sq_*, per detector over every coin and per detector and coin), the "
        "detectors' audit status in force, the data fingerprint, the active priors and the "
        "standing curator actions. Made once a day; each coin's score_signals run reads it.",
    )
    def scoring_day_asset(context: dg.AssetExecutionContext, config: SignalConfig,
                          fabric: OpsDbResource, settings: SettingsResource,
                          lake: LakeResource, **inputs: Any) -> dg.Output[pd.DataFrame]:
        day = context.partition_key
        with fabric.open() as store:  # the set in force for this day: re-runs are identical
            priors = active_priors_for_date(store, day)
            actions, _ = read_detector_actions(store)  # the rule picks those in force
        specs = scoring_specs(load_detectors(config.detectors_path), _extra(lake, settings, day))
        shared = scoring_day(day, _fingerprint(inputs["raw_feed"]),
                             inputs["history"].parts(HISTORY_COLUMNS), priors,
                             status_in_force(inputs.get("audit_status"), day), specs,
                             load_scoring(config.scoring_path), actions)
        if priors.rejected:
            context.log.warning("ignored %d malformed prior rows: %s", len(priors.rejected),
                                priors.rejected[:5])
        row = scoring_day_row(shared)
        return dg.Output(row, metadata={
            "history_days": list(shared.history.days),
            "history_rows_of_older_recipes": shared.history.dropped_stale,
            "detectors": len(shared.detectors),
            "priors_ver": priors.version,
            "prior_patches": len(priors.patches),
            "priors_rejected": len(priors.rejected),
            "curator_actions_read": len(actions),
            "data_fingerprint": shared.fingerprint or "",
            "bytes": len(row["scoring"].iloc[0]),
            "sha256": str(row["sha256"].iloc[0]),
        })

    ins: dict[str, dg.AssetIn] = {
        "scoring_day": dg.AssetIn("scoring_day"),  # the key's day
        "microtape_frames": coin_day_in("microtape_frames"),  # the key's coin of the day
    }
    if with_dsi:
        ins["dsi_annotations"] = coin_day_in("dsi_annotations")  # its DSI_COLUMNS, by coin

    @dg.multi_asset(
        name="score_signals",
        partitions_def=day_coin_partitions,
        group_name="signals",
        ins=ins,
        outs={
            "signal_events": dg.AssetOut(
                io_manager_key="lake_io", kinds={"parquet", "pandas"}, is_required=False,
                description="Every scored window of the coin's day, published or not: sq_*, "
                "kr_*, det_sigma, DSI evidence, active priors, meta-signals, curator nudges "
                "and vetoes, curated_sigma, publication with its propensity, and the context "
                "features lessons quantise. One partition per day and coin; a day read whole "
                "is in the windows' order, (ts_ms, coin, detector_id). Published windows "
                "leave through the fabric's sig_outbox as signed ALPHA_PROPOSED envelopes "
                "(sigbus-1.0.0 payloads)."),
            "curator_log": dg.AssetOut(
                io_manager_key="lake_io", kinds={"parquet", "pandas"}, is_required=False,
                description="Every curator nudge and veto per window (window_id, curator, "
                "kind, value, reason): why each window was or was not published. One "
                "partition per day and coin; a day read whole is in its windows' order."),
            "curator_tallies": dg.AssetOut(
                io_manager_key="lake_io", kinds={"parquet", "pandas"}, is_required=False,
                description="The coin's part of the day's curator KPIs: counts and sums of "
                "its windows (lotus_core.curators.kpis.KpiTally, as JSON); curator_kpis "
                "merges the coins'."),
            "meta_signals": dg.AssetOut(
                io_manager_key="lake_io", kinds={"parquet", "pandas"}, is_required=False,
                description="Per coin and frame: ms_kairos, ms_entrain_r, ms_asym_score and "
                "its components, kr_hbar - budget cues for the Decision-Maker, never "
                "direction."),
        },
        description="Scores one coin's detector windows of the day with the day's shared "
        "scoring inputs (scoring_day) and curates what is published.",
        can_subset=True,  # a UI backfill may target its outputs separately; one pass makes all
    )
    def score_signals(context: dg.AssetExecutionContext, config: SignalConfig,
                      fabric: OpsDbResource, fabric_keys: FabricKeysResource,
                      settings: SettingsResource, lake: LakeResource,
                      **inputs: Any) -> Iterator[dg.Output]:
        day, coin = day_and_coin(context.partition_key)
        if coin is None:
            raise dg.Failure(f"score_signals is partitioned by day x coin, got {day!r}")
        shared = scoring_day_of(inputs["scoring_day"], day)
        try:
            scoring = score_by_coin(
                inputs["microtape_frames"], day, fingerprint=shared.fingerprint,
                dsi=inputs.get("dsi_annotations"),
                detectors=load_detectors(config.detectors_path),
                scoring=load_scoring(config.scoring_path),
                council=load_curators(config.curators_path),
                evaluate=config.evaluate_kpis, extra=_extra(lake, settings, day),
                shared=shared)
        except ScoringDayMismatch as exc:
            raise dg.Failure(str(exc)) from exc
        with scoring:  # its spill of the coin's tables is removed when they are written
            yield from _score_outputs(context, config, fabric, fabric_keys, scoring, shared,
                                      coin)

    signal_events_days = coin_days_asset(
        "signal_events_days", "signal_events", "signals", "The day's scored windows")

    @dg.asset(
        partitions_def=daily_partitions,
        io_manager_key="lake_io",
        group_name="signals",
        kinds={"parquet", "pandas"},
        ins={"curator_tallies": dg.AssetIn("curator_tallies"),  # every coin of the day
             "scoring_day": dg.AssetIn("scoring_day")},  # the detectors' audit status
        description="Curator KPIs of the day on realised outcomes: false promotion rate, "
        "survival uplift, diversity index, audit pass rate; plus per-curator veto and nudge "
        "counts. The coins' tallies merged in coin order (the day's numbers, to the bit, as "
        "one process tallying every coin would give).",
    )
    def curator_kpis(context: dg.AssetExecutionContext, curator_tallies: pd.DataFrame,
                     scoring_day: pd.DataFrame) -> dg.Output[pd.DataFrame]:
        day = context.partition_key
        tally = merged_tallies(curator_tallies, day)
        kpis = tally.table(scoring_day_of(scoring_day, day).status)
        council = kpis[kpis["scope"] == "council"].set_index("kpi")["value"]
        return dg.Output(kpis, metadata=rounded({
            **{k: (None if pd.isna(v) else float(v)) for k, v in council.items()},
            "coins": len(curator_tallies)}))

    return [detector_windows, detector_windows_days, scoring_day_asset, score_signals,
            signal_events_days, curator_kpis]


def _score_outputs(context: dg.AssetExecutionContext, config: SignalConfig,
                   fabric: OpsDbResource, fabric_keys: FabricKeysResource,
                   scoring: CoinScoring, shared: ScoringDay,
                   coin: str) -> Iterator[dg.Output]:
    """score_signals' outputs, each written as it is yielded: the meta-signals as the coin
    is scored, then the events and the curator log as slices in the day's order within the
    coin (`InOrder`), then the coin's KPI tally."""
    wanted = set(context.op_execution_context.selected_output_names)
    if "meta_signals" in wanted:  # first: the lake writes them as the coin is scored
        yield dg.Output(ByCoin(scoring.meta(), scoring.empty_meta()),
                        output_name="meta_signals")
    result = scoring.streamed()
    posted = 0
    if config.post_alpha:  # idempotent by dedupe key: a re-run posts nothing twice
        with fabric.open() as store:
            for bus in result.bus():  # a slice of the coin's published windows at a time
                posted += publish_alpha(store, [
                    {"sigbus": json.loads(p), "strand_id": w}
                    for w, p in zip(bus["window_id"], bus["payload"], strict=True)],
                    fabric_keys.keyring(), models_map=fabric_keys.models_map())
    tally = result.tally
    priors = shared.priors
    if "signal_events" in wanted:
        yield dg.Output(InOrder(result.events(), result.empty_events, SIGNAL_EVENTS_KEY),
                        output_name="signal_events", metadata=rounded({
            "windows": tally.n,
            "published_live": tally.live,
            "published_paper": tally.paper,
            "vetoed": tally.vetoed,
            "curator_actions_read": len(shared.actions),
            "alpha_proposed": result.bus_rows,
            "alpha_proposed_new": posted,
            "priors_ver": priors.version,
            "prior_patches": len(priors.patches),
            "history_days": list(result.history.days),
            "dsi": scoring.with_dsi,
            "per_detector": {str(k): int(v) for k, v in sorted(tally.per_detector.items())},
            "seconds": dict(result.timings),
            # wall-clock, so a run's metadata and never a (byte-reproducible) table
            "time_added_us_per_window": result.timings["council"] * 1e6 / max(tally.n, 1),
        }))
    if "curator_log" in wanted:
        yield dg.Output(InOrder(result.curator_log(), result.empty_log),
                        output_name="curator_log",
                        metadata={"rows": result.log_rows, "vetoes": result.log_vetoes})
    if "curator_tallies" in wanted:
        yield dg.Output(tally_row(tally, coin), output_name="curator_tallies")


SIGNAL_ASSETS = build_signal_assets(with_dsi=True, audit_asset="detector_audit_status")
