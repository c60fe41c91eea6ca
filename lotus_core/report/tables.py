"""Markdown tables and chart inputs a researcher reads in the Dagster UI: lessons, braids,
the priors diff, signal_eval's hit rates. Pure functions of the stage's own DataFrames."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.report.names import ALL, WILDCARD_NOTE, detector_name
from lotus_core.report.svg import detector_colour, forest, image_md, loom

MAX_ROWS = 40


def _cell(v: object, signed: bool = False) -> str:
    if v is None:
        return ""
    if isinstance(v, float | np.floating):
        if not math.isfinite(float(v)):
            return ""
        return f"{float(v) + 0.0:+.2f}" if signed else f"{float(v) + 0.0:.2f}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def markdown_table(df: pd.DataFrame, max_rows: int = MAX_ROWS,
                   signed: Collection[str] = ()) -> str:
    """A GitHub-style Markdown table of `df` (floats to 2 decimals, with a sign in the
    `signed` columns only: differences such as uplifts and net returns, never rates or
    counts), cut at `max_rows`."""
    if df.empty:
        return "_(none)_"
    cols = [str(c) for c in df.columns]
    sign = [c in signed for c in cols]
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.head(max_rows).itertuples(index=False):
        out.append("| " + " | ".join(_cell(v, s) for v, s in zip(row, sign, strict=True))
                   + " |")
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
        "detector": df["detector_id"].astype(str).map(detector_name), "rule": df["rule"],
        "DR uplift bps": df["uplift_bps"],
        "90 % CI": [f"[{lo:+.2f}, {hi:+.2f}]" for lo, hi in zip(df["ci_lo"], df["ci_hi"],
                                                                 strict=True)],
        "IPW": df["uplift_ipw"], "naive": df["uplift_naive"],
        "support": df["support"].astype(int), "state": df["change"],
    })
    return markdown_table(view, signed=("DR uplift bps", "IPW", "naive"))


def forest_count(shown: int, total: int) -> str:
    """What the forest plot shows of the night's lessons: all of them, or the largest few
    (active first, then by |uplift|) of how many."""
    if shown < total:
        return f"the {shown} largest of {total} active or changed lessons tonight"
    return f"{total} active or changed lesson{'' if total == 1 else 's'} tonight"


def lessons_forest(lessons: pd.DataFrame, previous: pd.DataFrame | None = None,
                   max_rows: int = 30) -> str:
    """Markdown image: the forest plot of tonight's active and changed lessons (the first
    `max_rows` of `night_lessons`, the title saying how many of how many), full rules, one
    colour per detector, active lessons filled and the others hollow."""
    night = night_lessons(lessons, previous)
    df = night.head(max_rows)
    dets = sorted(df["detector_id"].astype(str).unique()) if len(df) else []
    states = df["state"].astype(str).tolist() if len(df) else []
    legend = [(detector_name(d), detector_colour(d), "line") for d in dets]
    legend += [("active lesson", "#555", "filled"),
               ("proposed / sunset (not in force)", "#555", "hollow"),
               ("thick bar: CI excludes 0", "#555", "line")]
    svg = forest([f"{detector_name(str(d))}: {r}  [{c}]"
                  for d, r, c in zip(df["detector_id"], df["rule"], df["change"], strict=True)]
                 if len(df) else [],
                 df["uplift_bps"].tolist() if len(df) else [],
                 df["ci_lo"].tolist() if len(df) else [],
                 df["ci_hi"].tolist() if len(df) else [],
                 f"Lesson uplifts (doubly robust), 90 % CI: {forest_count(len(df), len(night))}",
                 unit="bps of net return per window",
                 colors=[detector_colour(str(d)) for d in df["detector_id"]],
                 filled=[st == "active" for st in states], legend=legend)
    return image_md(svg, "forest plot of lesson uplifts")


def braids_table(braids: pd.DataFrame) -> str:
    if braids.empty:
        return "_(no braids)_"
    view = pd.DataFrame({
        "braid": braids["braid_id"], "type": braids["braid_type"], "op": braids["op"],
        "parents": braids["parents"],
        "detector": braids["detector_id"].astype(str).map(detector_name),
        "rule": braids["rule"], "theta_delta": braids["theta_delta"],
        "phi_mult": braids["phi_mult"], "uplift bps": braids["uplift_bps"],
        "state": braids["state"],
    })
    return markdown_table(view.sort_values(["state", "detector", "braid"]),
                          signed=("theta_delta", "uplift bps"))


DIGITS = 6  # significant digits the priors diff prints: a change smaller is not shown


def show(v: float) -> str:
    """A priors value as the diff prints it (NaN: absent)."""
    return "" if not math.isfinite(v) else f"{v:+.{DIGITS}g}"


def priors_diff(snapshot: pd.DataFrame) -> pd.DataFrame:
    """Keys of the priors version that differ from the version before it: added, removed,
    or changed by more than the printed precision (a float re-derived to the same value up to
    rounding is not a change a person can read, so it is not listed)."""
    cols = ["kind", "key", "change", "before", "after"]
    if snapshot.empty:
        return pd.DataFrame(columns=cols)
    b = snapshot["before_value"].to_numpy(float)
    a = snapshot["after_value"].to_numpy(float)
    before = [show(v) for v in b]
    after = [show(v) for v in a]
    change = np.where(np.isnan(b), "added", np.where(np.isnan(a), "removed", "changed"))
    differs = np.isnan(b) ^ np.isnan(a) | np.array([x != y for x, y in zip(before, after,
                                                                           strict=True)])
    out = pd.DataFrame({"kind": snapshot["kind"].astype(str).to_numpy(),
                        "key": snapshot["key"].astype(str).to_numpy(), "change": change,
                        "before": before, "after": after})
    return out[differs].reset_index(drop=True)


def priors_table(snapshot: pd.DataFrame) -> str:
    d = priors_diff(snapshot)
    if snapshot.empty:
        return "_(empty patch set)_"
    ver = int(snapshot["priors_ver"].iloc[0])
    before = int(snapshot["before_ver"].iloc[0])
    head = (f"**v{before} -> v{ver}**: {len(d)} key(s) differ (values to {DIGITS} "
            "significant digits; keys equal at that precision are not listed)\n\n")
    return head + markdown_table(d)


def hit_rates(evals: pd.DataFrame) -> pd.DataFrame:
    """Per detector and horizon (done rows only): n, hit rate and mean net return, all
    windows and published only."""
    tally = EvalTally()
    tally.add(evals)
    return tally.hit_rates()


_SUMS = ("n", "hits", "net", "n_published", "published_hits", "published_net")


@dataclass
class EvalTally:
    """signal_eval's rows folded a part at a time (a coin's): per (detector_id,
    horizon_s) the done rows' count, hits and net return sum, all and published, and the
    rows per status. What the step's metadata reads, without the day's rows."""

    sums: dict[tuple[str, int], np.ndarray] = field(default_factory=dict)
    status: Counter = field(default_factory=Counter)

    def add(self, rows: pd.DataFrame) -> None:
        self.status.update({str(k): int(v) for k, v in rows["status"].value_counts().items()})
        done = rows[rows["status"] == "done"]
        if done.empty:
            return
        hit = done["hit"].astype(float).to_numpy()
        net = done["net_ret_bps"].to_numpy(dtype=np.float64)
        pub = done["published"].to_numpy(dtype=bool)
        frame = pd.DataFrame({"detector_id": done["detector_id"].astype(str).to_numpy(),
                              "horizon_s": done["horizon_s"].to_numpy(dtype=np.int64),
                              "n": 1.0, "hits": hit, "net": net, "n_published": pub * 1.0,
                              "published_hits": np.where(pub, hit, 0.0),
                              "published_net": np.where(pub, net, 0.0)})
        for key, row in frame.groupby(["detector_id", "horizon_s"], sort=True)[
                list(_SUMS)].sum().iterrows():
            k = (str(key[0]), int(key[1]))
            self.sums[k] = self.sums.get(k, np.zeros(len(_SUMS))) + row.to_numpy()

    def hit_rates(self) -> pd.DataFrame:
        """`hit_rates` of the rows added: by (detector_id, horizon_s), NaN rates for the
        published columns where none was published."""
        cols = ["detector_id", "horizon_s", "n", "hit_rate", "mean_net_bps", "n_published",
                "published_hit_rate", "published_net_bps"]
        if not self.sums:
            return pd.DataFrame(columns=cols)
        keys = sorted(self.sums)
        s = np.array([self.sums[k] for k in keys])
        with np.errstate(invalid="ignore", divide="ignore"):
            pub_n = s[:, 3]
            return pd.DataFrame({
                "detector_id": [k[0] for k in keys], "horizon_s": [k[1] for k in keys],
                "n": s[:, 0].astype(np.int64), "hit_rate": s[:, 1] / s[:, 0],
                "mean_net_bps": s[:, 2] / s[:, 0], "n_published": pub_n.astype(int),
                "published_hit_rate": np.where(pub_n > 0, s[:, 4] / pub_n, np.nan),
                "published_net_bps": np.where(pub_n > 0, s[:, 5] / pub_n, np.nan)})[cols]

    def per_horizon(self, published: bool = False) -> dict[int, tuple[int, float, float]]:
        """Per horizon with done rows (published only if asked): their count, hits and net
        return sum (rates and means are these over the count)."""
        out: dict[int, np.ndarray] = {}
        for (_, h), v in self.sums.items():
            out[h] = out.get(h, np.zeros(len(_SUMS))) + v
        at = 3 if published else 0
        return {h: (int(v[at]), float(v[at + 1]), float(v[at + 2]))
                for h, v in sorted(out.items()) if v[at] > 0}


def loom_detectors(lessons: pd.DataFrame, braids: pd.DataFrame, meta: pd.DataFrame,
                   snapshot: pd.DataFrame) -> list[str]:
    """Every detector with an active lesson, a live braid or an active patch key tonight
    (each gets a Loom; `*`, all detectors, when a pooled lesson or a wildcard key is)."""
    dets: set[str] = set()
    if len(lessons):
        dets |= set(lessons.loc[lessons["state"] == "active", "detector_id"].astype(str))
    for b in (braids, meta):
        if len(b):
            dets |= set(b.loc[b["state"] == "active", "detector_id"].astype(str))
    for k in _patch_keys(snapshot):
        dets.add(k.split("/")[1])
    return sorted(d for d in dets if d)


def _patch_keys(snapshot: pd.DataFrame) -> list[str]:
    if snapshot.empty:
        return []
    keys = snapshot[(snapshot["kind"] == "patch") & snapshot["after_value"].notna()]["key"]
    return [str(k) for k in keys if str(k).count("/") >= 2]


_Slot = tuple[str, str, str]  # (detector, coin, cond_key with its literals sorted)


def _cond(key: str) -> str:
    """A cond_key with its literals in one order: a braid's patch and a key compare equal."""
    key = str(key or "*")
    return "*" if key in ("*", "") else "&".join(sorted(key.split("&")))


def _key_slot(key: str) -> _Slot:
    """patch/<detector>/<coin>/<cond_key>/<field> -> its slot (no coin: `*`)."""
    parts = key.split("/")
    return parts[1], parts[2] if len(parts) >= 5 else ALL, _cond(parts[-2])


def _braid_slots(b: Any) -> set[_Slot]:
    """The slots a braid's patches are compiled at: its detector and coin with each of its
    patches' cond_keys (its rule when the row carries no patches)."""
    det, coin = str(b.detector_id), str(getattr(b, "coin", None) or ALL)
    try:
        conds = [p["cond_key"] for p in json.loads(str(getattr(b, "patches", None) or ""))]
    except (ValueError, TypeError, KeyError):
        conds = [b.rule]
    return {(det, coin, _cond(c)) for c in conds}


def _in(df: pd.DataFrame, column: str, values: Collection[str]) -> pd.Series:
    return df[column].astype(str).isin(list(values)) if len(df) else \
        pd.Series(False, index=df.index)


@dataclass(frozen=True)
class LoomParts:
    """What a Loom draws (`svg.loom`'s arguments): nodes (id, label, colour) per column,
    edges parent -> child, the title, the column names and the note under them."""

    columns: list[list[tuple[str, str, str]]]
    edges: list[tuple[str, str]]
    title: str
    column_names: list[str]
    note: str = WILDCARD_NOTE


def loom_parts(detector: str, lessons: pd.DataFrame, braids: pd.DataFrame,
               meta: pd.DataFrame, snapshot: pd.DataFrame) -> LoomParts:
    """One detector's Loom: its lessons -> micro braids -> meta braids -> the patch keys of
    the night's priors version that belong to it (`patch/<detector>/...`). A pooled lesson
    feeds braids of every detector, so a detector's Loom shows the pooled lesson behind its
    pooled braid, and the Loom of `*` (all detectors, pooled) shows the pooled lessons, the
    braids they give each detector and those braids' patch keys, with the wildcard keys."""
    pooled = detector == ALL
    pooled_ids = set(lessons.loc[lessons["detector_id"] == ALL, "lesson_id"].astype(str)) \
        if len(lessons) else set()
    if len(braids):
        mine = braids["detector_id"] == detector
        br = braids[mine | _in(braids, "lesson_id", pooled_ids)] if pooled else braids[mine]
    else:
        br = braids
    mb = meta[meta["detector_id"] == detector] if len(meta) else meta
    fed = set(br["lesson_id"].dropna().astype(str)) if len(br) else set()
    les = lessons[((lessons["detector_id"] == detector) & (lessons["state"] == "active"))
                  | _in(lessons, "lesson_id", fed)] if len(lessons) else lessons
    slots: dict[_Slot, list[str]] = {}
    for b in [*br.itertuples(), *mb.itertuples()]:
        if b.state == "active":
            for slot in sorted(_braid_slots(b)):
                slots.setdefault(slot, []).append(str(b.braid_id))
    keys = [k for k in _patch_keys(snapshot)
            if k.split("/")[1] == detector or (pooled and _key_slot(k) in slots)]

    def lesson_label(r: Any) -> str:
        whose = "" if r.detector_id == detector else f"{detector_name(r.detector_id)}: "
        state = "" if r.state == "active" else f" [{r.state}]"
        return f"{whose}{r.rule} ({r.uplift_bps:+.2f} bps){state}"

    def braid_label(r: Any) -> str:
        whose = f"{detector_name(r.detector_id)}: " if pooled else ""
        return f"{whose}{r.op} {r.rule} [{r.state}]"

    cols: list[list[tuple[str, str, str]]] = [
        [(f"L:{r.lesson_id}", lesson_label(r), detector_colour(r.detector_id))
         for r in les.itertuples()],
        [(f"B:{r.braid_id}", braid_label(r), detector_colour(r.detector_id))
         for r in br.itertuples()],
        [(f"B:{r.braid_id}", braid_label(r), detector_colour(detector))
         for r in mb.itertuples()],
        [(f"P:{k}", k.split("/", 1 if pooled else 2)[-1], "#555") for k in keys],
    ]
    edges: list[tuple[str, str]] = []
    for r in br.itertuples():
        edges.append((f"L:{r.lesson_id}", f"B:{r.braid_id}"))
    for r in mb.itertuples():
        for p in _parents(r.parents):
            edges.append((f"B:{p}", f"B:{r.braid_id}"))
    for k in keys:
        for owner in slots.get(_key_slot(k), ()):
            edges.append((f"B:{owner}", f"P:{k}"))
    name = detector_name(detector)
    if pooled:
        return LoomParts(cols, edges, f"The Loom of {name}: pooled lessons -> the braid each "
                         "gives a detector -> meta -> patch",
                         ["pooled lessons", "braids (per detector)", "meta braids",
                          "active patch keys (detector/coin/context/field)"])
    return LoomParts(cols, edges, f"The Loom of {name}: lessons -> braids -> meta -> patch",
                     ["lessons (own and pooled)", "micro braids", "meta braids",
                      "active patch keys (coin/context/field)"])


def loom_svg(detector: str, lessons: pd.DataFrame, braids: pd.DataFrame,
             meta: pd.DataFrame, snapshot: pd.DataFrame) -> str:
    """The Loom of `detector` (`loom_parts`) as an SVG."""
    p = loom_parts(detector, lessons, braids, meta, snapshot)
    return loom(p.columns, p.edges, p.title, p.column_names, p.note)


def _parents(value: object) -> Sequence[str]:
    text = str(value or "").strip("[]").replace('"', "").replace("'", "")
    return [p.strip() for p in text.split(",") if p.strip()]
