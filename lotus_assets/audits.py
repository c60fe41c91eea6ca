"""The audit layer's assets: `detector_audits` (all four audits per detector, with a blocking
asset check on production detectors' future-touch and a warning on any failing audit),
`detector_audit_status` (the narrow status the curators veto from) and
`detector_cards` (Markdown cards in the UI, JSON twins in the lake). Thin: lotus_core.audits
does the work."""

import dagster as dg
import pandas as pd

from lotus_assets.check_results import check_result
from lotus_assets.partitions import coin_day_in, daily_partitions, sized_window_in
from lotus_core.audits import audit_by_coin, card_rows, failing_production, status_of
from lotus_core.audits.result import failure_sentence
from lotus_core.report.health import audit_verdicts, audit_verdicts_md
from lotus_core.signals import load_detectors, load_scoring
from lotus_core.signals.quality import HISTORY_COLUMNS
from lotus_core.store.by_coin import CoinDay, CoinDays


class AuditAssetConfig(dg.Config):
    """detectors_path: the spec set to audit (None = the shipped detectors.yaml); must be the
    same set the signal assets score."""

    detectors_path: str | None = None


class AuditRunConfig(AuditAssetConfig):
    """... and scoring_path: the scoring.yaml the audited scores use, the one the day is
    scored with (`lotus_daily`'s run config passes the settings' file; None: packaged)."""

    scoring_path: str | None = None


@dg.asset(
    partitions_def=daily_partitions, io_manager_key="lake_io", group_name="audits",
    kinds={"parquet", "pandas"},
    ins={"microtape_frames": coin_day_in("microtape_frames"),  # read one coin at a time
         # folded a coin-day at a time; the window over the day x coin windows' handle
         "history": sized_window_in("detector_windows_days", "history_days",
                                   by_coin=True, reads="detector_windows")},
    description="Per detector: future-touch, label shuffle, rolling-origin gap and adversarial "
    "audits (pass, metric), leakage_ok, adversarial_ok, fragility, card_ok (docs/audits.md). "
    "The tape is read one coin at a time.",
)
def detector_audits(context: dg.AssetExecutionContext, config: AuditRunConfig,
                    microtape_frames: CoinDay, history: CoinDays
                    ) -> dg.Output[pd.DataFrame]:
    specs = load_detectors(config.detectors_path).enabled
    out = audit_by_coin(microtape_frames, context.partition_key, specs,
                    history=history.parts(HISTORY_COLUMNS),
                    scoring=load_scoring(config.scoring_path))
    return dg.Output(out, metadata={
        "detectors": len(out),
        "failing": sorted(out.loc[~(out["leakage_ok"] & out["adversarial_ok"]),
                                  "detector_id"].tolist()),
        "failing_production": failing_production(out),
    })


@dg.asset_check(asset=detector_audits, blocking=True, partitions_def=daily_partitions,
                description="Blocking (severity ERROR): fails when a production detector "
                "(shipped detectors.yaml recipe) fails future-touch (mismatches > 0: its code "
                "reads data received after its window), which stops detector_audit_status and "
                "so signal_events in the same run. Statistical audit failures are vetoed per "
                "detector by the curators instead (all_detectors_pass_audits warns).")
def production_detectors_never_touch_the_future(context: dg.AssetCheckExecutionContext,
                                                detector_audits: pd.DataFrame
                                                ) -> dg.AssetCheckResult:
    bad = failing_production(detector_audits)
    rows = detector_audits.set_index("detector_id")
    why = [f"{d} (production): " + failure_sentence(
        "future_touch", float(rows.loc[d, "future_touch_metric"])) for d in bad]
    detail = ("; ".join(why) + "; blocks detector_audit_status and so signal_events") \
        if why else "every production detector passes future-touch (0 mismatches)"
    return check_result(context, passed=not bad, detail=detail,
                        severity=dg.AssetCheckSeverity.ERROR, metadata={
        "failing_production": bad, "detail": detail,
        "limit": "future_touch mismatches == 0 for every production detector"})


@dg.asset_check(asset=detector_audits, blocking=False, partitions_def=daily_partitions,
                description="Non-blocking (WARN): warns on any failing detector, naming each "
                "failed audit with its value, limit and rule (AuditConfig); the curators veto "
                "a failing detector's windows from the next day on, the run is not blocked.")
def all_detectors_pass_audits(context: dg.AssetCheckExecutionContext,
                              detector_audits: pd.DataFrame) -> dg.AssetCheckResult:
    verdicts = audit_verdicts(detector_audits)
    sentences = [t for v in verdicts for t in v.sentences()]
    detail = "; ".join(sentences) or "every detector passes its audits"
    return check_result(context, passed=not verdicts, detail=detail, metadata={
        "detail": detail,
        "failing": [v.detector_id for v in verdicts],
        "failing_audits": {v.detector_id: list(v.failed) for v in verdicts},
        "reasons": {v.detector_id: v.reasons for v in verdicts},
        "verdicts": dg.MetadataValue.md(audit_verdicts_md(verdicts, context.partition_key))})


@dg.asset(
    partitions_def=daily_partitions, io_manager_key="lake_io", group_name="audits",
    kinds={"parquet", "pandas"},
    description="detector_id, leakage_ok, adversarial_ok, fragility, card_ok: the audit "
    "status the leakage and adversarial curators veto from.",
)
def detector_audit_status(detector_audits: pd.DataFrame) -> pd.DataFrame:
    return status_of(detector_audits)


@dg.asset(
    partitions_def=daily_partitions, io_manager_key="lake_io", group_name="audits",
    kinds={"parquet", "pandas"},
    # nothing read: a card reads its detector's EVENT_COLUMNS, a detector at a time
    ins={"signal_events": coin_day_in("signal_events")},
    description="Per detector a Markdown card (shown as metadata) and its JSON twin "
    "(docs/cards.md).",
)
def detector_cards(context: dg.AssetExecutionContext, config: AuditAssetConfig,
                   detector_audits: pd.DataFrame, signal_events: CoinDay
                   ) -> dg.Output[pd.DataFrame]:
    specs = load_detectors(config.detectors_path).enabled
    cards = card_rows(specs, detector_audits, signal_events, context.partition_key)
    meta: dict[str, object] = {"cards": len(cards)}
    for r in cards.itertuples():
        meta[f"card_{r.detector_id}"] = dg.MetadataValue.md(r.card_md)
    return dg.Output(cards, metadata=meta)


AUDIT_ASSETS = [detector_audits, detector_audit_status, detector_cards]
AUDIT_CHECKS = [production_detectors_never_touch_the_future, all_detectors_pass_audits]
