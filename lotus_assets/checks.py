"""Asset checks where a researcher looks first: feed dead letters, MicroTape gaps, NaN and
stale rates, feature drift (PSI against the training window), signal_events schema and
publication rate, det_sigma drift, detector firing-rate shifts, the published hit rate
against its expectation, lesson CI sanity, the priors' caps and step size, and live ==
nightly (`live_parity`: the day's recording replayed through the live engine).

All are warnings (never block a run). A failing check posts one signed WATCHDOG_ALERT
(`check:<name>:<day>`) to the curator queue, and its `detail` (and the check's description in
the UI) says each failure in one sentence: the value, the limit it broke (named as in
`HealthLimits` or the config) and the rule (`Measure.sentence`). Every check's metadata has a
`measures` table: each judged figure with its threshold and its baseline (what it is compared
with), and the same numbers as `<name>`, `<name>_baseline`, `<name>_limit`. Thin: the
measures are lotus_core.report.health, the parity comparison lotus_core.live.parity.
"""

import dataclasses
import tempfile
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa

from lotus_assets.check_results import check_result
from lotus_assets.feed import day_coins
from lotus_assets.metadata import numeric, rounded
from lotus_assets.partitions import daily_partitions, day_and_coin, day_coin_partitions
from lotus_core.config.shared import shared_values
from lotus_core.curator_api.standing import read_detector_actions
from lotus_core.curators.config import load_curators
from lotus_core.dm.parity import RTOL as TRADE_RTOL
from lotus_core.dm.parity import compare_day
from lotus_core.feed.summary import CHANNEL_FEATURES, missing_channels, missing_sentence
from lotus_core.learning.config import load_learning
from lotus_core.learning.priors_store import active_priors_for_date
from lotus_core.live.engine import night_loader
from lotus_core.live.parity import ATOL, GROUP_COINS, RTOL, compare_by_group
from lotus_core.microtape.tape import TRADE_COLUMNS
from lotus_core.report import health as H
from lotus_core.report.alerting import CheckAlert, post_check_alert
from lotus_core.report.health import Measure
from lotus_core.signals import load_detectors, load_scoring
from lotus_core.store.by_coin import CoinDay, coin_files
from lotus_core.store.lake import Lake, LakeError, ObjectLake, is_object_store_url
from lotus_daemon.lockstep import lake_day
from lotus_resources.feed import FeedSource
from lotus_resources.lake import LakeResource
from lotus_resources.opsdb import OpsDbResource
from lotus_resources.router import FabricKeysResource
from lotus_resources.settings import SettingsResource

TRAINING_DAYS = 7
WARN = dg.AssetCheckSeverity.WARN


def _tape_spans(lake: LakeResource, days: list[str]) -> H.TapeSpans:
    """The tape hours of `days` (those present), read one coin's `coin`, `ts_ms` at a time."""
    store, spans = lake.get(), H.TapeSpans()
    for d in days:
        if store.exists("microtape_frames", d):
            tape = CoinDay(store, "microtape_frames", d)
            for coin in tape.coins():
                spans.add(tape.read(coin, ["coin", "ts_ms"]))
    return spans


def _days_before(day: str, days: int = TRAINING_DAYS) -> list[str]:
    d0 = date.fromisoformat(day)
    return [(d0 - timedelta(days=i)).isoformat() for i in range(days, 0, -1)]


def _result(context: dg.AssetCheckExecutionContext, fabric: OpsDbResource,
            keys: FabricKeysResource, name: str, passed: bool, detail: str,
            metadata: dict[str, object], subject: tuple[str, str] = ("module", "sig"),
            metrics: dict[str, float] | None = None,
            measures: list[Measure] | None = None) -> dg.AssetCheckResult:
    """The check's result (with its measures: value, threshold, baseline); a failure also
    posts a WATCHDOG_ALERT (once per check and day; and coin, for a day x coin check)."""
    passed = bool(passed)
    meta: dict[str, object] = {"detail": detail}
    if measures:
        limits = {m.name: m.threshold for m in measures if m.limit is not None}
        if limits:  # each judged figure's limit, beside `detail`'s sentences
            meta["limits"] = limits
        meta["measures"] = dg.MetadataValue.md(H.measures_md(measures))
        meta.update(numeric(H.measures_numbers(measures)))
    meta.update(metadata)
    if not passed:
        day, coin = day_and_coin(context.partition_key)
        alert = CheckAlert(name, day, detail, subject[0], subject[1],
                           metrics or (H.measures_numbers(measures) if measures else {}), coin)
        with fabric.open() as store:
            meta["alert_posted"] = post_check_alert(store, alert, keys.keyring(),
                                                    models_map=keys.models_map())
        meta["alert_id"] = alert.alert_id
    return check_result(context, passed=passed, detail=detail, metadata=rounded(meta))


def _no_baseline(context: dg.AssetCheckExecutionContext, why: str) -> dg.AssetCheckResult:
    return check_result(context, passed=True, detail=f"not judged: {why}", metadata={
        "detail": f"not judged: {why}", "baseline": "none"})


def _le(name: str, value: float, limit: float, limit_name: str, rule: str,
        baseline: str = "absolute limit") -> Measure:
    return H.at_most(name, value, limit, limit_name, rule, baseline)


CHECK_KW = {"blocking": False, "partitions_def": daily_partitions}
COIN_CHECK_KW = {"blocking": False, "partitions_def": day_coin_partitions}
"""A check of a day x coin asset judges that coin of that day (its partition)."""


@dg.asset_check(asset="raw_feed", description="Dead-letter rate of the day's feed lines "
                f"<= {H.LIMITS.max_dead_letter_rate:.0%}.", **CHECK_KW)
def raw_feed_dead_letter_rate(context: dg.AssetCheckExecutionContext, fabric: OpsDbResource,
                              fabric_keys: FabricKeysResource,
                              raw_feed: pd.DataFrame) -> dg.AssetCheckResult:
    rate = H.dead_letter_rate(raw_feed)
    m = _le("dead_letter_rate", rate, H.LIMITS.max_dead_letter_rate, "max_dead_letter_rate",
            "too many of the day's feed lines were refused (`lotus dead-letters` lists "
            "them with their reasons)")
    return _result(context, fabric, fabric_keys, "raw_feed_dead_letter_rate", m.ok,
                   m.sentence() if not m.ok else
                   f"dead-letter rate {rate:.4f} (limit {H.LIMITS.max_dead_letter_rate:g})",
                   {}, measures=[m])


@dg.asset_check(asset="raw_feed", description="Every coin of the day's recording has every "
                "channel features are made of (" + ", ".join(CHANNEL_FEATURES) + "); a "
                "missing one is named with the features it leaves missing.", **CHECK_KW)
def raw_feed_channels(context: dg.AssetCheckExecutionContext, fabric: OpsDbResource,
                      fabric_keys: FabricKeysResource,
                      raw_feed: pd.DataFrame) -> dg.AssetCheckResult:
    missing = missing_channels(raw_feed)
    coins = len(day_coins(raw_feed))
    meta: dict[str, object] = {"coins": coins, "coins_missing_a_channel": len(missing),
                               "missing_channels": missing or "none"}
    if not missing:
        return _result(context, fabric, fabric_keys, "raw_feed_channels", True,
                       f"every channel of {coins} coin(s): {', '.join(CHANNEL_FEATURES)}", meta)
    return _result(context, fabric, fabric_keys, "raw_feed_channels", False,
                   f"{missing_sentence(missing)} (the recording does not carry them)", meta)


CHANNEL_COLUMNS = {"trades": TRADE_COLUMNS}
"""The MicroTape columns a recording without the channel leaves NaN by design."""


def _channel_columns(store: Lake | ObjectLake, day: str, coin: str) -> dict[str, str]:
    """{column: channel} of the coin's columns its missing channels leave NaN, as
    `raw_feed_channels` finds them in the day's raw_feed (none without that partition)."""
    if not store.exists("raw_feed", day):
        return {}
    feed = store.read("raw_feed", day, columns=["channel", "coin", "frames"])
    return {c: ch for ch in missing_channels(feed).get(coin, [])
            for c in CHANNEL_COLUMNS.get(ch, ())}


def _nan_measure(column: str, rate: float, channel: str | None, coin: str | None) -> Measure:
    """A column's NaN rate against `max_nan_rate`; not judged when the coin's recording has
    no `channel` for it (a missing channel, which raw_feed_channels reports, not a fault)."""
    if channel is None:
        return _le(f"nan_rate_{column}", rate, H.LIMITS.max_nan_rate, "max_nan_rate",
                   f"{column} is missing on too many frames")
    return H.at_most(f"nan_rate_{column}", rate, H.LIMITS.max_nan_rate, "max_nan_rate",
                     f"{column} is missing on too many frames", baseline="missing channel",
                     judged=False, why_not=f"missing channel: no {channel} channel for {coin}")


@dg.asset_check(asset="microtape_frames", description="Missing grid rows per coin <= "
                f"{H.LIMITS.max_gap_rate:.0%} (within each day); NaN rate of key features <= "
                f"{H.LIMITS.max_nan_rate:.0%} (not judged for a feature of a channel the "
                "coin's recording lacks: raw_feed_channels); stale frames "
                f"(> {H.LIMITS.stale_ms} ms) <= {H.LIMITS.max_stale_rate:.0%}.",
                **COIN_CHECK_KW)
def microtape_gaps_nan_stale(context: dg.AssetCheckExecutionContext, fabric: OpsDbResource,
                             fabric_keys: FabricKeysResource,
                             lake: LakeResource) -> dg.AssetCheckResult:
    # only the columns measured (9 of the tape's 46), of the partition's coin
    day, coin = day_and_coin(context.partition_key)
    health = H.TapeHealth()
    absent: dict[str, str] = {}
    if coin is not None and lake.get().exists("microtape_frames", day):
        health.add(lake.get().read_coin("microtape_frames", day, coin,
                                        ["coin", "ts_ms", *H.NAN_FEATURES, "stale_ms"]))
        absent = _channel_columns(lake.get(), day, coin)
    measures = ([_le(f"gap_rate_{c}", r, H.LIMITS.max_gap_rate, "max_gap_rate",
                     "the coin's tape misses rows of its grid (the feed went quiet or was "
                     "cut)") for c, r in sorted(health.gaps.items())]
                + [_nan_measure(c, r, absent.get(c), coin)
                   for c, r in health.nan_rates().items()]
                + [_le("stale_rate", health.stale_rate(), H.LIMITS.max_stale_rate,
                       "max_stale_rate", f"too many frames are older than "
                       f"{H.LIMITS.stale_ms} ms (the feed lagged)")])
    bad = H.failures(measures)
    channels = sorted(set(absent.values()))
    return _result(context, fabric, fabric_keys, "microtape_gaps_nan_stale", not bad,
                   "; ".join(bad) or "ok", {"missing_channels": channels or "none"},
                   measures=measures)


@dg.asset_check(asset="microtape_frames", description="Population stability (PSI) of the "
                "key MicroTape features (spread in ticks, book and aggressor imbalance, depth, "
                f"trade count) against the same hours of the previous {TRAINING_DAYS} days <= "
                f"{H.LIMITS.max_psi}, per coin; bins are the reference's deciles with tied "
                "values never split. Judged from "
                f"{H.LIMITS.min_psi_days} earlier days and {H.LIMITS.min_psi_rows} rows at "
                "those hours; with less it passes, \"not enough history\".", **COIN_CHECK_KW)
def microtape_feature_drift(context: dg.AssetCheckExecutionContext, lake: LakeResource,
                            fabric: OpsDbResource, fabric_keys: FabricKeysResource
                            ) -> dg.AssetCheckResult:
    day, coin = day_and_coin(context.partition_key)
    # the partition's coin against its own earlier days, each side into a sample of at
    # most PSI_SAMPLE_ROWS rows (no step holds every coin's tape)
    drift = H.tape_drift(lake.get(), day, _days_before(day), coin)
    if not drift.measures:
        return check_result(context, passed=True, detail=drift.detail, metadata=rounded({
            "detail": drift.detail, "baseline": "none", "history": drift.history,
            **drift.numbers}))
    return _result(context, fabric, fabric_keys, "microtape_feature_drift", drift.passed,
                   drift.detail, {"history": drift.history, **drift.numbers},
                   measures=drift.measures)


@dg.asset_check(asset="signal_events_days", description="signal_events matches its schema and "
                f"its publication rate is in [{H.LIMITS.min_publication_rate}, "
                f"{H.LIMITS.max_publication_rate}].", **CHECK_KW)
def signal_events_schema_and_publication(context: dg.AssetCheckExecutionContext,
                                         fabric: OpsDbResource,
                                         fabric_keys: FabricKeysResource,
                                         lake: LakeResource) -> dg.AssetCheckResult:
    # a coin (or a slice of rows) at a time: the check holds one of the day (H.EventsCheck)
    check = H.events_check(lake.get(), context.partition_key)
    rate = check.publication_rate()
    lo, hi = H.LIMITS.min_publication_rate, H.LIMITS.max_publication_rate
    rate_ok = not check.rows or lo <= rate <= hi
    measures = [Measure("schema_failures", float(check.problem is not None), "== 0",
                        check.problem is None, limit=0.0,
                        rule=f"signal_events does not match its schema ({check.problem})",
                        broken="> 0 allowed"),
                Measure("publication_rate", rate, f"in [{lo:g}, {hi:g}]"
                        + ("" if check.rows else " (no windows: not judged)"),
                        rate_ok, rule=(
                            f"the curators published {check.published} of {check.rows} "
                            "windows, " + ("fewer" if rate < lo else "more") + " than a "
                            "working day's share (a gate, veto or threshold is off)"),
                        broken=(f"< min_publication_rate {lo:g}" if rate < lo
                                else f"> max_publication_rate {hi:g}"))]
    problems = H.failures(measures)
    return _result(context, fabric, fabric_keys, "signal_events_schema_and_publication",
                   not problems, "; ".join(problems) or "ok", {"windows": check.rows},
                   metrics={"publication_rate": rate}, measures=measures)


@dg.asset_check(asset="signal_events_days", description="det_sigma's PSI against the same hours "
                f"of the previous {TRAINING_DAYS} days <= {H.LIMITS.max_psi}, and each "
                f"detector's windows per hour of tape within x{H.LIMITS.max_firing_ratio:g} "
                "(either way) of its rate over those days (windows and tape hours counted "
                "day by day; judged when today's or the expected windows reach "
                f"{H.LIMITS.min_firing_windows}).",
                additional_deps=["microtape_frames"], **CHECK_KW)
def signal_drift(context: dg.AssetCheckExecutionContext, lake: LakeResource,
                 fabric: OpsDbResource, fabric_keys: FabricKeysResource
                 ) -> dg.AssetCheckResult:
    day = context.partition_key
    # each day a slice at a time: windows counted per (day, detector), det_sigma sampled
    # (7 days of every coin's windows are not held)
    ev = H.events_drift(lake.get(), day, _days_before(day))
    if ev.history_rows == 0:
        return _no_baseline(context, "no earlier signal_events windows")
    today_n, today_sig, hist_n, like = ev.today, ev.today_sigma, ev.history, ev.like
    today_tape, hist_tape = _tape_spans(lake, [day]), _tape_spans(lake, _days_before(day))
    drift = H.firing_drift(today_n, today_tape, hist_n, hist_tape)
    judged_psi = like.rows >= H.LIMITS.min_firing_windows
    like_sig = like.frame()["det_sigma"].to_numpy() if like.rows else np.empty(0)
    sig_psi = (H.psi(like_sig, today_sig.frame()["det_sigma"].to_numpy()) if judged_psi
               else 0.0)
    base = f"{drift.baseline_days} day(s), {drift.hours_baseline:.1f} h of tape"
    measures = [Measure("psi_det_sigma", sig_psi, f"<= {H.LIMITS.max_psi:g}"
                        + ("" if judged_psi else " (too few windows: not judged)"),
                        sig_psi <= H.LIMITS.max_psi,
                        f"det_sigma of {like.rows} windows at the same hours of the previous "
                        f"{drift.baseline_days} day(s) ({len(like_sig)} sampled)",
                        H.LIMITS.max_psi, rule=(
                            "population stability index (PSI): today's det_sigma is "
                            "distributed unlike the same hours of the previous "
                            f"{drift.baseline_days} day(s)"),
                        broken=f"> max_psi {H.LIMITS.max_psi:g}")]
    r = H.LIMITS.max_firing_ratio
    for f in drift.rates:
        measures.append(Measure(
            f"firing_per_h_{f.detector_id}", f.today_per_h,
            (f"ratio in [1/{r:g}, {r:g}]: x{f.ratio:.2f}" if f.judged else
             f"not judged ({f.today_n} windows today, "
             f"{f.baseline_per_h * drift.hours_today:.1f} expected)"),
            f.ok, f"{f.baseline_n} windows over {base}", None, f.baseline_per_h,
            rule=(f"{f.detector_id} fires {'more' if f.ratio > 1 else 'less'} often per hour "
                  f"of tape than over {base} ({f.baseline_per_h:.2f}/h there)"),
            broken=(f"per hour, x{f.ratio:.2f} its baseline "
                    + (f"> max_firing_ratio {r:g}" if f.ratio > 1
                       else f"< 1/max_firing_ratio 1/{r:g}"))))
    bad = H.failures(measures)
    return _result(context, fabric, fabric_keys, "signal_drift", not bad,
                   "; ".join(bad) or "ok",
                   {"hours_today": dg.MetadataValue.float(drift.hours_today),
                    "hours_baseline": dg.MetadataValue.float(drift.hours_baseline),
                    "baseline_days": drift.baseline_days,
                    "max_firing_ratio": dg.MetadataValue.float(r)},
                   metrics={"psi_det_sigma": sig_psi,
                            **{f"firing_ratio_{f.detector_id}": f.ratio for f in drift.bad}},
                   measures=measures)


@dg.asset_check(asset="signal_eval_days", description="The published hit rate is not more than "
                f"{H.LIMITS.hit_rate_z:g} binomial SDs (over published windows, not window x "
                f"horizon rows) below its expectation (the published hit rate of the previous "
                f"{TRAINING_DAYS} days).", **CHECK_KW)
def published_hit_rate_vs_expectation(context: dg.AssetCheckExecutionContext,
                                      lake: LakeResource, fabric: OpsDbResource,
                                      fabric_keys: FabricKeysResource
                                      ) -> dg.AssetCheckResult:
    # every day a slice at a time into sums (7 days of every coin's window x
    # horizon rows are not held; today's partition is read the same way, not loaded whole)
    today, hist = H.hit_tallies(lake.get(), context.partition_key,
                                _days_before(context.partition_key))
    if hist.rows < H.LIMITS.min_hit_n:
        return _no_baseline(context, f"{hist.rows} done published rows in the previous "
                            f"{TRAINING_DAYS} days (< {H.LIMITS.min_hit_n})")
    expected = hist.rate
    rate, n, z = H.hit_rate_shortfall(today, expected)
    judged = n >= H.LIMITS.min_hit_n
    ok = not judged or z > -H.LIMITS.hit_rate_z
    base = f"published hit rate of {hist.windows} windows over {hist.days} previous day(s)"
    lim = H.LIMITS.hit_rate_z
    measures = [Measure("published_hit_rate", rate,
                        f"z > -{lim:g}: z {z:+.2f} over {n} windows"
                        + ("" if judged else f" (< {H.LIMITS.min_hit_n}: not judged)"),
                        ok, base, None, expected, rule=(
                            f"today's published windows hit {rate:.3f}, below the "
                            f"{expected:.3f} of the previous {hist.days} day(s) by more "
                            "than chance allows"),
                        broken=f"(z {z:+.2f} over {n} windows) < -hit_rate_z -{lim:g}")]
    return _result(context, fabric, fabric_keys, "published_hit_rate_vs_expectation", ok,
                   measures[0].sentence() if not ok else
                   f"hit rate {rate:.3f} vs expected {expected:.3f} (z {z:+.2f}, n {n} "
                   f"windows; fails below z -{lim:g})",
                   numeric({"z": z, "n_published": int(n)}),
                   metrics={"published_hit_rate": rate, "expected_hit_rate": expected,
                            "z": z, "n_published": float(n)}, measures=measures)


@dg.asset_check(asset="lessons", description="Every lesson has ci_lo <= uplift <= ci_hi; "
                "every active lesson has p05 > 0.", **CHECK_KW)
def lesson_ci_sanity(context: dg.AssetCheckExecutionContext, fabric: OpsDbResource,
                     fabric_keys: FabricKeysResource,
                     lessons: pd.DataFrame) -> dg.AssetCheckResult:
    order_bad, p05_bad = H.ci_violations(lessons)
    measures = [Measure("ci_order_violations", order_bad, "== 0 (ci_lo <= uplift <= ci_hi)",
                        order_bad == 0, limit=0.0, broken="> 0 allowed", rule=(
                            "lesson(s) whose uplift lies outside their own CI (the "
                            "estimate and its bootstrap disagree)")),
                Measure("active_p05_violations", p05_bad, "== 0 (active lessons: p05 > 0)",
                        p05_bad == 0, limit=0.0, broken="> 0 allowed", rule=(
                            "active lesson(s) with p05 <= 0: a lesson in force whose effect "
                            "is not significant"))]
    bad = H.failures(measures)
    return _result(context, fabric, fabric_keys, "lesson_ci_sanity", not bad,
                   "; ".join(bad) or
                   f"{order_bad} lesson(s) outside their CI, {p05_bad} active with p05 <= 0",
                   {"unsigned_lessons": H.unsigned_lessons(lessons), "lessons": len(lessons)},
                   measures=measures)


@dg.asset_check(asset="active_priors", description="Caps inside scoring.yaml's bounds; every "
                "patch's |theta_delta| within learning.yaml's caps.max_abs_theta_delta and its "
                "step from the previous version within caps.max_step_theta (the settings' "
                "scoring.config and learning.config: the files the night compiled with).",
                **CHECK_KW)
def priors_caps_and_step(context: dg.AssetCheckExecutionContext, fabric: OpsDbResource,
                         fabric_keys: FabricKeysResource, settings: SettingsResource,
                         active_priors: pd.DataFrame) -> dg.AssetCheckResult:
    values = shared_values(settings.get())  # the files lotus_daily's ops were given
    kr = load_scoring(values.scoring_path).kr
    caps = load_learning(values.learning_path).caps
    bad = H.priors_violations(active_priors, tuple(kr.theta_min_bounds),
                              tuple(kr.phi_max_bounds), caps.max_abs_theta_delta,
                              caps.max_step_theta)
    measures = [Measure("violations", len(bad), (
        f"== 0 (cap/theta_min in {tuple(kr.theta_min_bounds)}, cap/phi_max in "
        f"{tuple(kr.phi_max_bounds)}, |theta_delta| <= {caps.max_abs_theta_delta:g}, step "
        f"<= {caps.max_step_theta:g})"), not bad,
        "the previous priors version (step)", 0.0, broken="> 0 allowed", rule=(
            "the compiled priors break scoring.yaml's cap bounds or learning.yaml's caps "
            "(max_abs_theta_delta, max_step_theta): " + "; ".join(bad[:20])))]
    return _result(context, fabric, fabric_keys, "priors_caps_and_step", not bad,
                   measures[0].sentence() if bad else "ok", {}, measures=measures)


def _day_coin_count(store: Lake | ObjectLake, day: str) -> int | None:
    """The coins raw_feed found frames of on `day` (None when it has no partition): how
    many groups `compare_by_group` cuts the recording into."""
    try:
        return len(day_coins(store.read("raw_feed", day, columns=["coin", "frames"])))
    except (LakeError, FileNotFoundError):
        return None


def _unordered(asset: str, store: Lake | ObjectLake, day: str
               ) -> Iterator[pd.DataFrame | pa.Table]:
    """A day's rows in no order of the day (a reader that regroups them by coin): a day in
    coin files a coin's file at a time, not merged (a merged read of a wide table holds a
    row group of every coin); a day in one file its row groups."""
    coins = coin_files(store, asset, day)
    if coins is None:
        yield from store.read_row_groups(asset, day)
        return
    for coin in coins:
        yield store.read_coin(asset, day, coin)


@dg.asset_check(asset="signal_events_days", description="Live == nightly: the day's recording "
                "replayed through the live engine (lotus_core.live.engine.LiveEngine, batches "
                "of 10,000 lines as a replay-speed daemon takes them; the nightly inputs of "
                "the day and the priors version the nightly scored it with) gives the same "
                "windows as signal_events: ids, detector, direction, priors version, vetoes, "
                "gates, above_threshold, published, paper, propensity and every other "
                "non-float column exactly; every other float column within "
                f"{RTOL:g} relative ({ATOL:g} absolute at zero), never bit for bit; "
                "data_fingerprint by presence. A failure names the first differing window "
                "and column. Replays the whole day (docs/surface.md: its cost), so it does "
                f"not block; the day is replayed {GROUP_COINS} coins at a time (the recording "
                "cut by coin group after the line rules judged every line), every group "
                "after the first in its own forked process, two at once, each group's "
                "windows compared a span of time at a time "
                "(lotus_core.live.parity.compare_by_group).", **CHECK_KW)
def live_parity(context: dg.AssetCheckExecutionContext, lake: LakeResource, feed: FeedSource,
                fabric: OpsDbResource, fabric_keys: FabricKeysResource,
                settings: SettingsResource) -> dg.AssetCheckResult:
    day = context.partition_key
    if is_object_store_url(lake.root):
        return _result(context, fabric, fabric_keys, "live_parity", False,
                       "not compared: the live engine reads its nightly inputs from a "
                       "filesystem lake (as the daemon does); this lake is an object store",
                       {})
    t0, c0 = time.perf_counter(), time.process_time()
    values = shared_values(settings.get())  # the nightly chain's own sizes and configs
    scoring, load = night_loader(Path(lake.root), values)
    with fabric.open() as store:
        priors = active_priors_for_date(store, day)
        actions, _ = read_detector_actions(store)  # the curator actions the nightly applied
    night = dataclasses.replace(load(day), actions=actions)
    params = values.microtape_params()
    # a coin group at a time: the recording cut by group, each group's windows compared
    # with its replay step by step (compare_by_group: one group's engine held)
    def progress(done: int, groups: int) -> None:
        if done == groups or done % max(1, groups // 10) == 0:
            context.log.info(f"live_parity {day}: {done} of {groups} coin groups replayed")

    try:
        report = compare_by_group(
            _unordered("signal_events", lake.get(), day), feed.recording(day), day, night,
            priors, feed_dir=Path(feed.feed_dir), progress=progress, params=params,
            scoring=scoring, council=load_curators(values.curators_path),
            detectors=load_detectors(values.detectors_path),
            coins=_day_coin_count(lake.get(), day), verify_manifest=feed.verify_manifest)
    except Exception as exc:  # noqa: BLE001 - a warning check: the run goes on, named
        context.log.exception("live_parity: the live replay of %s failed", day)
        return _result(context, fabric, fabric_keys, "live_parity", False,
                       "not compared: the live replay (or the nightly signal_events read) "
                       f"failed: {type(exc).__name__}: {exc}", {})
    first = report.first
    meta: dict[str, object] = {
        "compared_windows": report.compared,
        "nightly_windows": report.nightly_windows,
        "live_windows": report.live_windows,
        "exact_columns": len(report.exact_columns),
        "float_columns": len(report.float_columns),
        "max_rel_diff": dg.MetadataValue.float(report.max_rel_diff),
        "max_rel_diff_column": report.max_rel_column or "-",
        "rtol": dg.MetadataValue.float(RTOL),
        "priors_ver": int(priors.version),
        "cadence_ms": params.cadence_ms,
        "replay_seconds": dg.MetadataValue.float(time.perf_counter() - t0),
        "replay_cpu_seconds": dg.MetadataValue.float(time.process_time() - c0),
    }
    if first is not None:
        meta.update({"first_window": first.window_id, "first_column": first.column,
                     "mismatched_windows": report.mismatched_windows,
                     "columns_differing": ", ".join(report.columns_differing)})
    measures = [Measure("max_rel_diff", report.max_rel_diff, f"<= {RTOL:g} (float columns)",
                        report.max_rel_diff <= RTOL, "the nightly signal_events", RTOL,
                        broken=f"> rtol {RTOL:g}", rule=(
                            "a float column of the live replay differs from the nightly "
                            f"beyond rounding ({report.max_rel_column or '-'})")),
                Measure("mismatched_windows", report.mismatched_windows,
                        "== 0 (deciding columns exact)", report.mismatched_windows == 0,
                        f"{report.nightly_windows} nightly windows", 0.0,
                        broken="> 0 allowed", rule=(
                            "the live engine does not give the nightly windows: backtest "
                            "and live have drifted apart"))]
    bad = H.failures(measures)
    detail = report.describe() if report.ok or not bad else \
        "; ".join(bad) + f"; {report.describe()}"
    return _result(context, fabric, fabric_keys, "live_parity", report.ok, detail,
                   meta, metrics={"compared_windows": float(report.compared),
                                  "mismatched_windows": float(report.mismatched_windows)},
                   measures=measures)


TRADE_PARITY_INPUTS = ("dm_decisions", "paper_trades", "dm_calibration", "signal_events",
                       "microtape_frames")
"""The day's partitions `dm_trader_parity` reads (the day's recording besides)."""


@dg.asset_check(asset="paper_trades", description="Live == nightly for the Decision-Maker "
                "and the paper Trader: the day driven through the daemon's own dm and trader "
                "loops (built by the daemon's factories from the same settings, on a SQLite "
                "fabric of their own, fed the day's published signals as signed "
                "ALPHA_PROPOSED through the router, its MicroTape and its recorded market "
                "events, in lock-step: every market event up to an alpha's time applied "
                "before it is decided) posts the tickets of dm_decisions and makes the fills "
                "of paper_trades. Tickets decision by decision (ts, coin, action, execution "
                "and every field exactly; target, w0, cost and edge in bps and every number "
                "of the ticket within "
                f"{TRADE_RTOL:g} relative); fills by fill_id (time, coin, side, venue, "
                f"order and execution exactly; price, size and fee within {TRADE_RTOL:g}). "
                "A failure names the first differing tickets and fills "
                "(lotus_core.dm.parity, lotus_daemon.lockstep).", **CHECK_KW)
def dm_trader_parity(context: dg.AssetCheckExecutionContext, lake: LakeResource,
                     feed: FeedSource, fabric: OpsDbResource, fabric_keys: FabricKeysResource,
                     settings: SettingsResource) -> dg.AssetCheckResult:
    day, store = context.partition_key, lake.get()
    missing = [a for a in TRADE_PARITY_INPUTS if not store.exists(a, day)]
    if missing:
        return _result(context, fabric, fabric_keys, "dm_trader_parity", False,
                       f"not compared: no {', '.join(missing)} partition for {day}", {})
    t0, c0 = time.perf_counter(), time.process_time()
    lotus = settings.get()
    scratch = Path(lotus.home) / "tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    try:
        with fabric.open() as nightly_fabric, \
                tempfile.TemporaryDirectory(prefix="trade-parity-", dir=scratch) as tmp:
            live = lake_day(lotus, store, nightly_fabric, day, feed.replay_day(day), Path(tmp))
        report = compare_day(store.read("dm_decisions", day), store.read("paper_trades", day),
                             live.tickets, live.fills)
    except Exception as exc:  # noqa: BLE001 - a warning check: the run goes on, named
        context.log.exception("dm_trader_parity: the live loops' run of %s failed", day)
        return _result(context, fabric, fabric_keys, "dm_trader_parity", False,
                       "not compared: the live dm and trader loops' run (or the nightly "
                       f"read) failed: {type(exc).__name__}: {exc}", {})
    meta: dict[str, object] = {
        "compared_tickets": report.compared_tickets,
        "nightly_tickets": report.nightly_tickets, "live_tickets": report.live_tickets,
        "compared_fills": report.compared_fills,
        "nightly_fills": report.nightly_fills, "live_fills": report.live_fills,
        "mismatched_tickets": report.mismatched_tickets,
        "mismatched_fills": report.mismatched_fills,
        "max_rel_diff": dg.MetadataValue.float(report.max_rel_diff),
        "max_rel_diff_field": report.max_rel_field or "-",
        "rtol": dg.MetadataValue.float(TRADE_RTOL),
        "alphas": live.alphas, "trader_events": live.trader_events,
        "live_seconds": dg.MetadataValue.float(time.perf_counter() - t0),
        "live_cpu_seconds": dg.MetadataValue.float(time.process_time() - c0),
    }
    if not report.ok:
        meta["first_mismatches"] = [m.sentence() for m in report.shown] or "-"
        meta["fields_differing"] = ", ".join(sorted(report.fields_differing)) or "-"
        if report.order is not None:
            meta["order"] = report.order
    differ = report.mismatched_tickets + report.mismatched_fills + (report.order is not None)
    measures = [Measure("mismatched_trades", differ, "== 0 (tickets and fills)", differ == 0,
                        f"{report.nightly_tickets} nightly tickets, {report.nightly_fills} "
                        "nightly fills", 0.0, broken="> 0 allowed", rule=(
                            "the daemon's dm and trader loops do not post the nightly "
                            "tickets or make its fills: backtest and live have drifted "
                            "apart"))]
    bad = H.failures(measures)
    detail = report.describe() if report.ok else "; ".join(bad) + f"; {report.describe()}"
    return _result(context, fabric, fabric_keys, "dm_trader_parity", report.ok, detail, meta,
                   metrics={"mismatched_tickets": float(report.mismatched_tickets),
                            "mismatched_fills": float(report.mismatched_fills)},
                   measures=measures)


SURFACE_CHECKS = [raw_feed_dead_letter_rate, raw_feed_channels, microtape_gaps_nan_stale,
                  microtape_feature_drift,
                  signal_events_schema_and_publication, signal_drift,
                  published_hit_rate_vs_expectation, lesson_ci_sanity, priors_caps_and_step,
                  live_parity, dm_trader_parity]
