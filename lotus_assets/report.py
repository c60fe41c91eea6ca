"""`loop_report`: the night's picture of the learning loop for a person, in the Dagster UI.

A forest plot of the night's lesson uplifts, the priors versions over the last days per
detector, the published hit rate by day, and the Loom of the detectors with active braids.
Its table is one row per day of the window (what the charts plot). Thin: the rendering is
`lotus_core.report`."""

import dagster as dg
import numpy as np
import pandas as pd

from lotus_assets.metadata import md, numeric
from lotus_assets.partitions import daily_partitions, lake_window_in
from lotus_core.report.svg import image_md, lines
from lotus_core.report.tables import lessons_forest, loom_svg

REPORT_DAYS = 30
LOOM_DETECTORS = 3


def _daily(evals: pd.DataFrame, priors: pd.DataFrame) -> pd.DataFrame:
    days = sorted(set(evals.get("date", pd.Series(dtype=str))) |
                  set(priors.get("date", pd.Series(dtype=str))))
    rows = []
    for d in days:
        e = evals[(evals["date"] == d) & (evals["status"] == "done")] if len(evals) else evals
        pub = e[e["published"].astype(bool)] if len(e) else e
        p = priors[priors["date"] == d] if len(priors) else priors
        patch = p[(p["kind"] == "patch") & p["after_value"].notna()] if len(p) else p
        rows.append({"day": d, "published_rows": len(pub),
                     "published_hit_rate": float(pub["hit"].astype(float).mean())
                     if len(pub) else np.nan,
                     "all_hit_rate": float(e["hit"].astype(float).mean()) if len(e) else np.nan,
                     "priors_ver": int(p["priors_ver"].iloc[0]) if len(p) else 0,
                     "patches": len(patch)})
    return pd.DataFrame(rows, columns=["day", "published_rows", "published_hit_rate",
                                       "all_hit_rate", "priors_ver", "patches"])


def _patches_by_detector(priors: pd.DataFrame, days: list[str]) -> dict[str, list[float]]:
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
    ins={"signal_eval": lake_window_in("signal_eval", -(REPORT_DAYS - 1), 0),
         "active_priors": lake_window_in("active_priors", -(REPORT_DAYS - 1), 0),
         "lessons": dg.AssetIn("lessons"), "braids": dg.AssetIn("braids"),
         "meta_braids": dg.AssetIn("meta_braids")},
    description="Plots of the learning loop for people: lesson forest plot, priors versions "
    "per detector over the last 30 days, published hit rate by day, the Loom (lessons -> "
    "braids -> meta braids -> active patch). One row per day of the window.",
)
def loop_report(context: dg.AssetExecutionContext, signal_eval: pd.DataFrame,
                active_priors: pd.DataFrame, lessons: pd.DataFrame, braids: pd.DataFrame,
                meta_braids: pd.DataFrame) -> dg.Output[pd.DataFrame]:
    day = context.partition_key
    daily = _daily(signal_eval, active_priors)
    days = daily["day"].tolist()
    labels = [f"{d[5:]} v{v}" for d, v in zip(days, daily["priors_ver"], strict=True)]
    tonight = active_priors[active_priors["date"] == day] if len(active_priors) else \
        active_priors
    meta: dict[str, object] = {
        "forest": md(lessons_forest(lessons)),
        "priors_over_time": md(image_md(lines(
            labels, _patches_by_detector(active_priors, days),
            "Active patches per detector, by night (priors version)", "patches"),
            "priors versions over time")),
        "published_hit_rate": md(image_md(lines(
            labels, {"published": daily["published_hit_rate"].tolist(),
                     "all windows": daily["all_hit_rate"].tolist()},
            "Hit rate by day (done rows, every horizon)", "hit rate", (0.0, 1.0), 0.5),
            "published hit rate by day")),
    }
    active = braids[braids["state"] == "active"] if len(braids) else braids
    top = active["detector_id"].value_counts().index[:LOOM_DETECTORS] if len(active) else []
    for det in top:
        meta[f"loom_{det}"] = md(image_md(loom_svg(det, lessons, braids, meta_braids,
                                                   tonight), f"loom of {det}"))
    if len(daily):
        last = daily.iloc[-1]
        meta.update(numeric({"published_hit_rate_today": last["published_hit_rate"],
                             "patches_today": int(last["patches"])}))
    return dg.Output(daily, metadata=meta)


REPORT_ASSETS = [loop_report]
