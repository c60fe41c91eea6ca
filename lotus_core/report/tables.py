"""Markdown tables and chart inputs a researcher reads in the Dagster UI: lessons, braids,
the priors diff, signal_eval's hit rates. Pure functions of the stage's own DataFrames."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from lotus_core.report.svg import PALETTE, forest, image_md, loom

MAX_ROWS = 40


def _cell(v: object) -> str:
    if v is None:
        return ""
    if isinstance(v, float | np.floating):
        return "" if not math.isfinite(float(v)) else f"{float(v):+.2f}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pd.DataFrame, max_rows: int = MAX_ROWS) -> str:
    """A GitHub-style Markdown table of `df` (floats as +x.xx), cut at `max_rows`."""
    if df.empty:
        return "_(none)_"
    cols = [str(c) for c in df.columns]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.head(max_rows).itertuples(index=False):
        out.append("| " + " | ".join(_cell(v) for v in row) + " |")
    if len(df) > max_rows:
        out.append(f"\n_{len(df) - max_rows} more rows in the lake table_")
    return "\n".join(out)


def state_change(lessons: pd.DataFrame, previous: pd.DataFrame | None) -> pd.Series:
    """'new -> proposed', 'proposed -> active', 'active' (unchanged) ... per lesson."""
    before: dict[str, str] = {}
    if previous is not None and len(previous) and "lesson_id" in previous:
        before = dict(zip(previous["lesson_id"].astype(str), previous["state"].astype(str),
                          strict=True))
    now = lessons["state"].astype(str).to_numpy()
    ids = lessons["lesson_id"].astype(str).to_numpy()
    out = [s if before.get(i) == s else f"{before.get(i, 'new')} -> {s}"
           for i, s in zip(ids, now, strict=True)]
    return pd.Series(out, index=lessons.index, dtype="str")


def night_lessons(lessons: pd.DataFrame, previous: pd.DataFrame | None = None) -> pd.DataFrame:
    """Tonight's active lessons and the ones whose state changed (newly proposed, activated,
    sunset), strongest first."""
    if lessons.empty:
        return lessons.assign(change=pd.Series(dtype="str"))
    df = lessons.assign(change=state_change(lessons, previous))
    keep = (df["state"] == "active") | (df["change"] != df["state"])
    df = df[keep]
    order = np.lexsort((-df["uplift_bps"].abs().to_numpy(), (df["state"] != "active")))
    return df.iloc[order]


def lessons_table(lessons: pd.DataFrame, previous: pd.DataFrame | None = None) -> str:
    df = night_lessons(lessons, previous)
    if df.empty:
        return "_(no active or changed lessons tonight)_"
    view = pd.DataFrame({
        "detector": df["detector_id"], "rule": df["rule"],
        "DR uplift bps": df["uplift_bps"],
        "90 % CI": [f"[{lo:+.2f}, {hi:+.2f}]" for lo, hi in zip(df["ci_lo"], df["ci_hi"],
                                                                 strict=True)],
        "IPW": df["uplift_ipw"], "naive": df["uplift_naive"],
        "support": df["support"].astype(int), "state": df["change"],
    })
    return markdown_table(view)


def lessons_forest(lessons: pd.DataFrame, previous: pd.DataFrame | None = None,
                   max_rows: int = 30) -> str:
    """Markdown image: the forest plot of tonight's active and changed lessons."""
    df = night_lessons(lessons, previous).head(max_rows)
    dets = sorted(df["detector_id"].astype(str).unique()) if len(df) else []
    colour = {d: PALETTE[i % len(PALETTE)] for i, d in enumerate(dets)}
    svg = forest([f"{d}: {r}" for d, r in zip(df["detector_id"], df["rule"], strict=True)],
                 df["uplift_bps"].tolist() if len(df) else [],
                 df["ci_lo"].tolist() if len(df) else [],
                 df["ci_hi"].tolist() if len(df) else [],
                 "Lesson uplifts (doubly robust) with 90 % CI; solid = CI excludes 0",
                 colors=[colour[str(d)] for d in df["detector_id"]])
    return image_md(svg, "forest plot of lesson uplifts")


def braids_table(braids: pd.DataFrame) -> str:
    if braids.empty:
        return "_(no braids)_"
    view = pd.DataFrame({
        "braid": braids["braid_id"], "type": braids["braid_type"], "op": braids["op"],
        "parents": braids["parents"], "detector": braids["detector_id"],
        "rule": braids["rule"], "theta_delta": braids["theta_delta"],
        "phi_mult": braids["phi_mult"], "uplift bps": braids["uplift_bps"],
        "state": braids["state"],
    })
    return markdown_table(view.sort_values(["state", "detector", "braid"]))


def priors_diff(snapshot: pd.DataFrame) -> pd.DataFrame:
    """Keys of the priors version that differ from the version before it."""
    if snapshot.empty:
        return snapshot
    b, a = snapshot["before_value"], snapshot["after_value"]
    change = np.where(b.isna(), "added", np.where(a.isna(), "removed", "changed"))
    differs = b.isna() ^ a.isna() | (b.notna() & a.notna() & (b != a))
    out = snapshot.assign(change=change)[differs.to_numpy()]
    return out[["kind", "key", "change", "before_value", "after_value"]]


def priors_table(snapshot: pd.DataFrame) -> str:
    d = priors_diff(snapshot)
    if snapshot.empty:
        return "_(empty patch set)_"
    ver = int(snapshot["priors_ver"].iloc[0])
    before = int(snapshot["before_ver"].iloc[0])
    head = f"**v{before} -> v{ver}**: {len(d)} key(s) differ\n\n"
    return head + markdown_table(d)


def hit_rates(evals: pd.DataFrame) -> pd.DataFrame:
    """Per detector and horizon (done rows only): n, hit rate and mean net return, all
    windows and published only."""
    done = evals[evals["status"] == "done"]
    if done.empty:
        return pd.DataFrame(columns=["detector_id", "horizon_s", "n", "hit_rate",
                                     "mean_net_bps", "n_published", "published_hit_rate",
                                     "published_net_bps"])
    g = done.assign(hit=done["hit"].astype(float))
    allw = g.groupby(["detector_id", "horizon_s"]).agg(
        n=("hit", "size"), hit_rate=("hit", "mean"), mean_net_bps=("net_ret_bps", "mean"))
    pub = g[g["published"].astype(bool)].groupby(["detector_id", "horizon_s"]).agg(
        n_published=("hit", "size"), published_hit_rate=("hit", "mean"),
        published_net_bps=("net_ret_bps", "mean"))
    out = allw.join(pub, how="left").reset_index()
    out["n_published"] = out["n_published"].fillna(0).astype(int)
    return out


def loom_svg(detector: str, lessons: pd.DataFrame, braids: pd.DataFrame,
             meta: pd.DataFrame, snapshot: pd.DataFrame) -> str:
    """One detector's Loom: its active lessons -> micro braids -> meta braids -> the patch
    keys of the night's priors version that carry its name."""
    les = lessons[(lessons["detector_id"] == detector) & (lessons["state"] == "active")]
    br = braids[braids["detector_id"] == detector] if len(braids) else braids
    mb = meta[meta["detector_id"] == detector] if len(meta) else meta
    keys = snapshot[(snapshot["kind"] == "patch") & snapshot["after_value"].notna()
                    & snapshot["key"].str.contains(detector, regex=False)] \
        if len(snapshot) else snapshot
    cols: list[list[tuple[str, str, str]]] = [
        [(f"L:{r.lesson_id}", f"{r.rule} {r.uplift_bps:+.1f}", PALETTE[0])
         for r in les.itertuples()],
        [(f"B:{r.braid_id}", f"{r.op} {r.rule}", PALETTE[2]) for r in br.itertuples()],
        [(f"B:{r.braid_id}", f"{r.op} {r.rule}", PALETTE[3]) for r in mb.itertuples()],
        [(f"P:{k}", str(k).split("/", 2)[-1], PALETTE[1]) for k in keys["key"]],
    ]
    edges: list[tuple[str, str]] = []
    for r in br.itertuples():
        edges.append((f"L:{r.lesson_id}", f"B:{r.braid_id}"))
    for r in mb.itertuples():
        for p in _parents(r.parents):
            edges.append((f"B:{p}", f"B:{r.braid_id}"))
    for b in [*br.itertuples(), *mb.itertuples()]:
        if b.state != "active":
            continue
        for k in keys["key"]:
            if str(b.rule) and str(b.rule) in str(k):
                edges.append((f"B:{b.braid_id}", f"P:{k}"))
    return loom(cols, edges, f"The Loom of {detector}: lessons -> braids -> meta -> patch",
                ["active lessons", "micro braids", "meta braids", "active patch keys"])


def _parents(value: object) -> Sequence[str]:
    text = str(value or "").strip("[]").replace('"', "").replace("'", "")
    return [p.strip() for p in text.split(",") if p.strip()]
