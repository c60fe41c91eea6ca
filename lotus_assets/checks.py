"""Asset checks where a researcher looks first: feed dead letters, MicroTape gaps, NaN and
stale rates, feature drift (PSI against the training window), signal_events schema and
publication rate, det_sigma drift, detector firing-rate shifts, the published hit rate
against its expectation, lesson CI sanity and the priors' caps and step size.

All are warnings (never block a run). A failing check posts one signed WATCHDOG_ALERT
(`check:<name>:<day>`) to the curator queue. Thin: the measures are lotus_core.report.health.
"""

from datetime import date, timedelta

import dagster as dg
import numpy as np
import pandas as pd

from lotus_assets.partitions import daily_partitions
from lotus_core.learning.config import load_learning
from lotus_core.report import health as H
from lotus_core.report.alerting import CheckAlert, post_check_alert
from lotus_core.signals import load_scoring
from lotus_core.signals.schema import SIGNAL_EVENTS_SCHEMA
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.router import FabricKeysResource

TRAINING_DAYS = 7
WARN = dg.AssetCheckSeverity.WARN


def _history(lake: LakeResource, asset: str, day: str, days: int = TRAINING_DAYS,
             columns: list[str] | None = None) -> pd.DataFrame:
    """The `days` partitions before `day` that exist, concatenated (the training window)."""
    store = lake.get()
    d0 = date.fromisoformat(day)
    parts = [store.read(asset, d, columns=columns)
             for d in ((d0 - timedelta(days=i)).isoformat() for i in range(days, 0, -1))
             if store.exists(asset, d)]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def _result(context: dg.AssetCheckExecutionContext, fabric: OpsDbResource,
            keys: FabricKeysResource, name: str, passed: bool, detail: str,
            metadata: dict[str, object], subject: tuple[str, str] = ("module", "sig"),
            metrics: dict[str, float] | None = None) -> dg.AssetCheckResult:
    """The check's result; a failure also posts a WATCHDOG_ALERT (once per check and day)."""
    passed = bool(passed)
    meta: dict[str, object] = {"detail": detail, **metadata}
    if not passed:
        alert = CheckAlert(name, context.partition_key, detail, subject[0], subject[1],
                           metrics or {})
        with fabric.open() as store:
            meta["alert_posted"] = post_check_alert(store, alert, keys.keyring())
        meta["alert_id"] = alert.alert_id
    return dg.AssetCheckResult(passed=passed, severity=WARN, metadata=meta)


def _floats(values: dict[str, float]) -> dict[str, object]:
    return {k: dg.MetadataValue.float(float(v)) for k, v in values.items()
            if np.isfinite(float(v))}


CHECK_KW = {"blocking": False, "partitions_def": daily_partitions}


@dg.asset_check(asset="raw_feed", description="Dead-letter rate of the day's feed lines "
                f"<= {H.LIMITS.max_dead_letter_rate:.0%}.", **CHECK_KW)
def raw_feed_dead_letter_rate(context: dg.AssetCheckExecutionContext, fabric: OpsDbResource,
                              fabric_keys: FabricKeysResource,
                              raw_feed: pd.DataFrame) -> dg.AssetCheckResult:
    rate = H.dead_letter_rate(raw_feed)
    ok = rate <= H.LIMITS.max_dead_letter_rate
    return _result(context, fabric, fabric_keys, "raw_feed_dead_letter_rate", ok,
                   f"dead-letter rate {rate:.4f}", _floats({"dead_letter_rate": rate}),
                   metrics={"dead_letter_rate": rate})


@dg.asset_check(asset="microtape_frames", description="Missing grid rows per coin <= "
                f"{H.LIMITS.max_gap_rate:.0%}; NaN rate of key features <= "
                f"{H.LIMITS.max_nan_rate:.0%}; stale frames (> {H.LIMITS.stale_ms} ms) <= "
                f"{H.LIMITS.max_stale_rate:.0%}.", **CHECK_KW)
def microtape_gaps_nan_stale(context: dg.AssetCheckExecutionContext, fabric: OpsDbResource,
                             fabric_keys: FabricKeysResource,
                             microtape_frames: pd.DataFrame) -> dg.AssetCheckResult:
    gaps = H.gap_rate(microtape_frames)
    nans = H.nan_rates(microtape_frames)
    stale = H.stale_rate(microtape_frames)
    bad = ([f"gaps {c} {r:.3f}" for c, r in gaps.items() if r > H.LIMITS.max_gap_rate]
           + [f"NaN {c} {r:.3f}" for c, r in nans.items() if r > H.LIMITS.max_nan_rate]
           + ([f"stale {stale:.3f}"] if stale > H.LIMITS.max_stale_rate else []))
    figures = {**{f"gap_rate_{c}": r for c, r in gaps.items()},
               **{f"nan_rate_{c}": r for c, r in nans.items()}, "stale_rate": stale}
    return _result(context, fabric, fabric_keys, "microtape_gaps_nan_stale", not bad,
                   "; ".join(bad) or "ok", _floats(figures), metrics=figures)


@dg.asset_check(asset="microtape_frames", description="Population stability (PSI) of the "
                f"key MicroTape features against the same hours of the previous "
                f"{TRAINING_DAYS} days <= {H.LIMITS.max_psi} (intraday seasonality: like "
                "hours with like).", **CHECK_KW)
def microtape_feature_drift(context: dg.AssetCheckExecutionContext, lake: LakeResource,
                            fabric: OpsDbResource, fabric_keys: FabricKeysResource,
                            microtape_frames: pd.DataFrame) -> dg.AssetCheckResult:
    hist = H.same_hours(_history(lake, "microtape_frames", context.partition_key,
                                 columns=["ts_ms", *H.PSI_FEATURES, *H.PSI_INFO]),
                        microtape_frames)
    if len(hist) < H.LIMITS.min_psi_rows:
        return dg.AssetCheckResult(passed=True, severity=WARN, metadata={
            "detail": "no training window at these hours of the day yet"})
    psi = H.feature_psi(hist, microtape_frames, (*H.PSI_FEATURES, *H.PSI_INFO))
    bad = {c: v for c, v in psi.items() if v > H.LIMITS.max_psi and c in H.PSI_FEATURES}
    return _result(context, fabric, fabric_keys, "microtape_feature_drift", not bad,
                   "; ".join(f"PSI {c} {v:.3f}" for c, v in bad.items()) or "ok",
                   _floats({f"psi_{c}": v for c, v in psi.items()}),
                   metrics={f"psi_{c}": v for c, v in psi.items()})


@dg.asset_check(asset="signal_events", description="signal_events matches its schema and "
                f"its publication rate is in [{H.LIMITS.min_publication_rate}, "
                f"{H.LIMITS.max_publication_rate}].", **CHECK_KW)
def signal_events_schema_and_publication(context: dg.AssetCheckExecutionContext,
                                         fabric: OpsDbResource,
                                         fabric_keys: FabricKeysResource,
                                         signal_events: pd.DataFrame) -> dg.AssetCheckResult:
    problems = []
    try:
        SIGNAL_EVENTS_SCHEMA.validate(signal_events, lazy=True)
    except Exception as exc:  # noqa: BLE001 - pandera's errors: reported, never raised
        problems.append(f"schema: {str(exc)[:500]}")
    rate = H.publication_rate(signal_events)
    if len(signal_events) and not (H.LIMITS.min_publication_rate <= rate
                                   <= H.LIMITS.max_publication_rate):
        problems.append(f"publication rate {rate:.4f}")
    return _result(context, fabric, fabric_keys, "signal_events_schema_and_publication",
                   not problems, "; ".join(problems) or "ok",
                   _floats({"publication_rate": rate}), metrics={"publication_rate": rate})


@dg.asset_check(asset="signal_events", description="det_sigma's PSI against the previous "
                f"{TRAINING_DAYS} days <= {H.LIMITS.max_psi}, and each detector's windows per "
                f"hour within x{H.LIMITS.max_firing_ratio:g} of the training window.",
                additional_deps=["microtape_frames"], **CHECK_KW)
def signal_drift(context: dg.AssetCheckExecutionContext, lake: LakeResource,
                 fabric: OpsDbResource, fabric_keys: FabricKeysResource,
                 signal_events: pd.DataFrame) -> dg.AssetCheckResult:
    day = context.partition_key
    hist = _history(lake, "signal_events", day, columns=["ts_ms", "detector_id", "det_sigma"])
    if hist.empty:
        return dg.AssetCheckResult(passed=True, severity=WARN,
                                   metadata={"detail": "no training window yet"})
    store = lake.get()
    tape_cols = ["coin", "ts_ms"]
    hours_today = H.tape_hours(store.read("microtape_frames", day, columns=tape_cols))
    hist_tape = _history(lake, "microtape_frames", day, columns=tape_cols)
    n_days = max(len({d for d in _days_before(day) if store.exists("signal_events", d)}), 1)
    hours_hist = H.tape_hours(hist_tape) * n_days if len(hist_tape) else 0.0
    like = H.same_hours(hist, signal_events)
    sig_psi = (H.psi(like["det_sigma"].to_numpy(), signal_events["det_sigma"].to_numpy())
               if len(like) >= H.LIMITS.min_firing_windows else 0.0)
    today = H.firing_rates(signal_events, hours_today)
    shifts = H.firing_shifts(today, H.firing_rates(hist, hours_hist),
                             signal_events["detector_id"].value_counts().to_dict())
    bad = ([f"det_sigma PSI {sig_psi:.3f}"] if sig_psi > H.LIMITS.max_psi else []) + [
        f"{d} firing x{r:.2f}" for d, r in shifts.items()]
    figures = {"psi_det_sigma": sig_psi, **{f"firing_per_h_{d}": v for d, v in today.items()}}
    return _result(context, fabric, fabric_keys, "signal_drift", not bad,
                   "; ".join(bad) or "ok", _floats(figures), metrics=figures)


def _days_before(day: str, days: int = TRAINING_DAYS) -> list[str]:
    d0 = date.fromisoformat(day)
    return [(d0 - timedelta(days=i)).isoformat() for i in range(days, 0, -1)]


@dg.asset_check(asset="signal_eval", description="The published hit rate is not more than "
                f"{H.LIMITS.hit_rate_z:g} binomial SDs below its expectation (the published "
                f"hit rate of the previous {TRAINING_DAYS} days).", **CHECK_KW)
def published_hit_rate_vs_expectation(context: dg.AssetCheckExecutionContext,
                                      lake: LakeResource, fabric: OpsDbResource,
                                      fabric_keys: FabricKeysResource,
                                      signal_eval: pd.DataFrame) -> dg.AssetCheckResult:
    hist = _history(lake, "signal_eval", context.partition_key,
                    columns=["status", "published", "hit"])
    done = hist[(hist["status"] == "done") & hist["published"].astype(bool)] if len(hist) \
        else hist
    if len(done) < H.LIMITS.min_hit_n:
        return dg.AssetCheckResult(passed=True, severity=WARN,
                                   metadata={"detail": "too little history for an expectation"})
    expected = float(done["hit"].astype(float).mean())
    rate, n, z = H.hit_rate_shortfall(signal_eval, expected)
    ok = n < H.LIMITS.min_hit_n or z > -H.LIMITS.hit_rate_z
    figures = {"published_hit_rate": rate, "expected_hit_rate": expected, "z": z,
               "n_published": float(n)}
    return _result(context, fabric, fabric_keys, "published_hit_rate_vs_expectation", ok,
                   f"hit rate {rate:.3f} vs expected {expected:.3f} (z {z:+.2f}, n {n})",
                   _floats(figures), metrics=figures)


@dg.asset_check(asset="lessons", description="Every lesson has ci_lo <= uplift <= ci_hi; "
                "every active lesson has p05 > 0.", **CHECK_KW)
def lesson_ci_sanity(context: dg.AssetCheckExecutionContext, fabric: OpsDbResource,
                     fabric_keys: FabricKeysResource,
                     lessons: pd.DataFrame) -> dg.AssetCheckResult:
    order_bad, p05_bad = H.ci_violations(lessons)
    ok = order_bad == 0 and p05_bad == 0
    return _result(context, fabric, fabric_keys, "lesson_ci_sanity", ok,
                   f"{order_bad} lesson(s) outside their CI, {p05_bad} active with p05 <= 0",
                   {"ci_order_violations": order_bad, "active_p05_violations": p05_bad,
                    "unsigned_lessons": H.unsigned_lessons(lessons)},
                   metrics={"ci_order_violations": order_bad,
                            "active_p05_violations": p05_bad})


@dg.asset_check(asset="active_priors", description="Caps inside scoring.yaml's bounds; every "
                "patch's |theta_delta| within learning.yaml's caps.max_abs_theta_delta and its "
                "step from the previous version within caps.max_step_theta.", **CHECK_KW)
def priors_caps_and_step(context: dg.AssetCheckExecutionContext, fabric: OpsDbResource,
                         fabric_keys: FabricKeysResource,
                         active_priors: pd.DataFrame) -> dg.AssetCheckResult:
    kr, caps = load_scoring().kr, load_learning().caps
    bad = H.priors_violations(active_priors, tuple(kr.theta_min_bounds),
                              tuple(kr.phi_max_bounds), caps.max_abs_theta_delta,
                              caps.max_step_theta)
    return _result(context, fabric, fabric_keys, "priors_caps_and_step", not bad,
                   "; ".join(bad[:20]) or "ok", {"violations": len(bad)},
                   metrics={"violations": float(len(bad))})


SURFACE_CHECKS = [raw_feed_dead_letter_rate, microtape_gaps_nan_stale, microtape_feature_drift,
                  signal_events_schema_and_publication, signal_drift,
                  published_hit_rate_vs_expectation, lesson_ci_sanity, priors_caps_and_step]
