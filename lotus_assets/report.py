"""`loop_report`: the night's picture of the learning loop for a person, in the Dagster UI.

A forest plot of the night's lesson uplifts, the active patches per detector over the last
days (one small panel per detector, so equal series do not hide each other), the published
hit rate by day, and the Loom of every detector with an active lesson, braid or patch (and
of `*`, all detectors, pooled: lotus_core.report.names says how `*` reads). Its
table is one row per day of the window (what the charts plot), shown as rows. Thin: the
rendering is `lotus_core.report`; each detector has one colour in every plot
(`lotus_core.report.svg.detector_colour`)."""

from typing import Any

import dagster as dg
import numpy as np
import pandas as pd

from lotus_assets.metadata import md, numeric, rounded, table_of
from lotus_assets.partitions import daily_partitions, lake_window_in
from lotus_core.report.columns import LOOP_DAILY
from lotus_core.report.names import detector_name, metadata_suffix, patch_detector_name
from lotus_core.report.svg import detector_colour, image_md, lines, panels
from lotus_core.report.tables import lessons_forest, loom_detectors, loom_svg
from lotus_core.store.by_coin import CoinDays

REPORT_DAYS = 30


DAILY_EVAL_COLUMNS = ["status", "published", "hit"]


def _daily(evals: CoinDays, priors: pd.DataFrame) -> pd.DataFrame:
    """A row per day of the window: signal_eval's done rows counted a slice at a time (its
    three columns: thirty days of every coin's rows are never held)."""
    days = sorted({d.day for d in evals.days} | set(priors.get("date", pd.Series(dtype=str))))
    rows = []
    for d in days:
        n = hits = pub_n = pub_hits = 0
        day = evals.get(d)
        for part in (day.slices(DAILY_EVAL_COLUMNS) if day is not None else ()):
            done = (part["status"] == "done").to_numpy(dtype=bool)
            hit = part["hit"].fillna(False).to_numpy(dtype=bool) & done
            pub = part["published"].to_numpy(dtype=bool) & done
            n, hits = n + int(done.sum()), hits + int(hit.sum())
            pub_n, pub_hits = pub_n + int(pub.sum()), pub_hits + int((hit & pub).sum())
        p = priors[priors["date"] == d] if len(priors) else priors
        patch = p[(p["kind"] == "patch") & p["after_value"].notna()] if len(p) else p
        rows.append({"day": d, "published_rows": pub_n,
                     "published_hit_rate": pub_hits / pub_n if pub_n else np.nan,
                     "all_hit_rate": hits / n if n else np.nan,
                     "priors_ver": int(p["priors_ver"].iloc[0]) if len(p) else 0,
                     "patches": len(patch)})
    return pd.DataFrame(rows, columns=["day", "published_rows", "published_hit_rate",
                                       "all_hit_rate", "priors_ver", "patches"])


def _scored_versions(priors: pd.DataFrame, days: list[str]) -> list[int | None]:
    """The priors version each day was scored with: the one in force for it, compiled by an
    earlier night (`read_priors_for_date`), not the one its own night wrote (that scores the
    next day). The day's own night records it as `before_ver`; without that night's rows,
    the newest earlier night's `priors_ver`; None when the window holds neither."""
    if priors.empty:
        return [None] * len(days)
    nights = priors.drop_duplicates("date").set_index("date")
    out: list[int | None] = []
    for d in days:
        if d in nights.index and "before_ver" in nights.columns:
            out.append(int(nights.at[d, "before_ver"]))
            continue
        earlier = nights[nights.index < d]
        out.append(int(earlier.sort_index()["priors_ver"].iloc[-1]) if len(earlier) else None)
    return out


def _hit_rate_labels(days: list[str], versions: list[int | None]) -> list[str]:
    """x labels of the hit-rate plot: the day and the version that scored it."""
    return [f"{d[5:]} v{'?' if v is None else v}" for d, v in zip(days, versions, strict=True)]


def _patches_by_detector(priors: pd.DataFrame, days: list[str]) -> dict[str, list[float]]:
    """Active patch keys per night by the key's detector (`patch/<detector>/...`, `*` the
    wildcard: `patch_detector_name` names it for the plot)."""
    if priors.empty:
        return {}
    patch = priors[(priors["kind"] == "patch") & priors["after_value"].notna()]
    det = patch["key"].astype(str).str.split("/").str[1]
    counts = patch.assign(detector=det).groupby(["detector", "date"]).size()
    return {d: [float(counts.get((d, day), 0)) for day in days]
            for d in sorted(det.unique())}


@dg.asset(
    partitions_def=daily_partitions, io_manager_key="lake_io", group_name="report",
    kinds={"parquet", "svg"},
    ins={"signal_eval": lake_window_in("signal_eval_days", -(REPORT_DAYS - 1), 0,  # by day,
                                       by_coin=True, reads="signal_eval"),  # in slices (_daily)
         "active_priors": lake_window_in("active_priors", -(REPORT_DAYS - 1), 0),
         "lessons": dg.AssetIn("lessons"), "braids": dg.AssetIn("braids"),
         "meta_braids": dg.AssetIn("meta_braids")},
    description="Plots of the learning loop for people: lesson forest plot, priors versions "
    "per detector over the last 30 days, published hit rate by day, the Loom (lessons -> "
    "braids -> meta braids -> active patch). One row per day of the window.",
)
def loop_report(context: dg.AssetExecutionContext, signal_eval: CoinDays,
                active_priors: pd.DataFrame, lessons: pd.DataFrame, braids: pd.DataFrame,
                meta_braids: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    daily = _daily(signal_eval, active_priors)
    days = daily["day"].tolist()
    night_labels = [f"{d[5:]} v{v}" for d, v in zip(days, daily["priors_ver"], strict=True)]
    scored_labels = _hit_rate_labels(days, _scored_versions(active_priors, days))
    tonight = active_priors[active_priors["date"] == day] if len(active_priors) else \
        active_priors
    per_det = _patches_by_detector(active_priors, days)
    meta: dict[str, Any] = {
        "forest": md(lessons_forest(lessons)),
        "priors_over_time": md(image_md(panels(
            night_labels, {patch_detector_name(d): v for d, v in per_det.items()},
            f"Active patch keys per detector, by night (label: night, priors version it "
            f"wrote, which scores the next day), {len(per_det)} detector(s)",
            "active patch keys (count)",
            {patch_detector_name(d): detector_colour(d) for d in per_det},
            "night (UTC) and the priors version it wrote"),
            "priors versions over time")),
        "published_hit_rate": md(image_md(lines(
            scored_labels, {"published windows": daily["published_hit_rate"].tolist(),
                     "all windows": daily["all_hit_rate"].tolist()},
            "Hit rate by trading day (finished outcomes, every horizon)",
            "hit rate (share of rows, net return > 0)", (0.0, 1.0), 0.5,
            x_label="trading day (UTC) and the priors version that scored it",
            colours={"published windows": "#1f77b4", "all windows": "#999999"},
            reference_label="0.5 (coin flip)"), "published hit rate by day")),
        "day_table": table_of(daily, LOOP_DAILY, REPORT_DAYS),
    }
    for det in loom_detectors(lessons, braids, meta_braids, tonight):
        meta[f"loom_{metadata_suffix(det)}"] = md(image_md(
            loom_svg(det, lessons, braids, meta_braids, tonight),
            f"loom of {detector_name(det)}"))
    if len(daily):
        last = daily.iloc[-1]
        meta.update(numeric({"published_hit_rate_today": last["published_hit_rate"],
                             "patches_today": int(last["patches"])}))
    return dg.Output(daily, metadata=rounded(meta))


REPORT_ASSETS = [loop_report]
