"""Chart lessons: which kinds of chart, in which contexts, carry an edge; compiled into
capped, versioned vis priors that set how much the Decision-Maker weighs such a chart
(docs/vision.md, "Lessons and priors"). The Trader's execution lessons are the model
(lotus_core/trader/learning.py): the signal layer's lesson machinery with vis's own units,
literals and outcome.

    units = chart_units(strands, evals, cfg)       # one row per source chart with an outcome
    q = fit_vis_quantizer(units, cfg)              # confidence edges fitted on the window
    lessons = vis_lessons(units, previous, day, cfg, lcfg)[0]
    braids = vis_braids(lessons, cfg, lcfg)        # each live lesson as a weight in a context
    compiled = compile_vis(braids, q, cfg, before)  # the capped rows of a new version
    priors = VisPriors.from_rows(version, rows, cfg)
    table = weigh(strands, priors)                 # vis_strands with each chart's weight

The unit is a source chart (`lotus_core.vis.source.sources`: read, a coin, a time, a
direction) whose `vis_eval` outcome at `horizon_s` is done; Y = direction x fwd_ret_bps
(what following the chart made, before costs: the DM prices costs itself), hit = Y > 0.
Its literals come from the chart and its time alone, so the live DM computes them from the
CHART_ALPHA payload exactly as the night does:

    pattern   trend | breakout | both   the direction flags that hold
    confirm   yes | no                  higher_highs (long) / lower_lows (short) holds too
    dir       long | short
    tf        min | hour | day | na     the timeframe read off the title (< 1 h, < 1 d, longer)
    conf      lo | mid | hi             the reading's confidence, by the fitted edges
    session   asia | eu | us | weekend  the MicroTape's sessions of the chart's time

A positive lesson raises the weight of the charts in its context, a negative one lowers it:
weight = 1 +- weight_step x |u| / (|u| + half_bps), the product of every entry a chart
matches clipped to [weight_min, weight_max]. vis applies its own priors, as sig does before
it publishes: `vis_strands` carries each chart's weight (the version in force for its day)
and so does the CHART_ALPHA of a chart recorded live (the newest version); the DM multiplies
the chart's score (its confidence) by it and calibrates on the weighted score
(lotus_core/dm/vis_source.py), without reading vis's tables.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import Field, ValidationError

from lotus_core.learning.config import LearningConfig, load_learning_with
from lotus_core.learning.lessons import Outcome, learn, split_key
from lotus_core.microtape.context import SESSIONS, session
from lotus_core.microtape.params import MicroTapeParams
from lotus_core.signals.spec import SpecError, error_message, read_yaml
from lotus_core.strict import StrictModel
from lotus_core.vis.patterns import DOWN_FLAGS, UP_FLAGS
from lotus_core.vis.source import DETECTOR, sources

GROUP = DETECTOR  # the lessons' group: one search for every chart
VALUES: dict[str, tuple[str, ...]] = {
    "conf": ("lo", "mid", "hi"),
    "confirm": ("yes", "no"),
    "dir": ("long", "short"),
    "pattern": ("trend", "breakout", "both"),
    "session": SESSIONS,
    "tf": ("min", "hour", "day", "na"),
}
FEATURES = tuple(sorted(VALUES))
UNIT_COLUMNS = ["strand_id", "ts_ms", "date", "coin", "group", "timeframe", "confidence",
                "pattern_flags", "direction", "y_bps", "hit"]
_TF = re.compile(r"^(\d+)([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_SESSION_HOURS = MicroTapeParams()  # the sessions the MicroTape labels frames with


class VisCaps(StrictModel):
    max_patches: int = Field(8, ge=0, le=1000)
    max_new_per_night: int = Field(2, ge=0, le=1000)
    min_uplift_bps: float = Field(1.0, ge=0)
    weight_step: float = Field(0.5, gt=0, lt=1)
    weight_min: float = Field(0.5, gt=0, le=1)
    weight_max: float = Field(1.5, ge=1)


class VisLearningConfig(StrictModel):
    version: int = Field(ge=1)
    horizon_s: int = Field(300, ge=1)
    confidence_edges: tuple[float, float] = (0.7, 0.85)
    min_fit: int = Field(60, ge=10)
    learning: dict[str, Any] = Field(default_factory=dict)
    caps: VisCaps = VisCaps()


def load_vis_learning(source: str | Path | Mapping[str, Any] | None = None
                      ) -> tuple[VisLearningConfig, LearningConfig]:
    """(the chart-lesson settings, the learning configuration they run with: the packaged
    learning.yaml with this file's `learning:` overrides, at this file's horizon)."""
    body, where = read_yaml(source, "vis_learning.yaml", package="lotus_core.vis")
    try:
        cfg = VisLearningConfig.model_validate(body)
    except ValidationError as exc:
        raise SpecError(error_message(where, exc)) from None
    lo, hi = cfg.confidence_edges
    if not 0 <= lo < hi <= 1:
        raise SpecError(f"{where}: confidence_edges must rise within [0, 1], got {[lo, hi]}")
    if cfg.caps.weight_min > cfg.caps.weight_max:
        raise SpecError(f"{where}: caps.weight_min is above caps.weight_max")
    return cfg, load_learning_with({**cfg.learning, "horizon_s": cfg.horizon_s})


# ---- units --------------------------------------------------------------------------------


def chart_units(strands: pd.DataFrame, evals: pd.DataFrame,
                cfg: VisLearningConfig) -> pd.DataFrame:
    """One row per source chart whose outcome at `cfg.horizon_s` is done, by time: its
    fields, Y = direction x fwd_ret_bps (`y_bps`) and hit = Y > 0."""
    src = sources(strands)
    if src.empty or evals.empty or "status" not in evals.columns:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in UNIT_COLUMNS})
    done = evals[(evals["status"].astype(object) == "done")
                 & (evals["horizon_s"].astype(np.int64) == cfg.horizon_s)]
    keep = ["strand_id", "ts_ms", "coin", "confidence", "pattern_flags", "direction"]
    tf = src["timeframe"] if "timeframe" in src.columns else pd.Series(None, index=src.index)
    m = done[["strand_id", "fwd_ret_bps"]].astype({"strand_id": str}).merge(
        src[keep].assign(timeframe=tf.astype(object)).astype({"strand_id": str}),
        on="strand_id", how="inner", validate="one_to_one")
    m = m.sort_values(["ts_ms", "coin", "strand_id"], kind="stable").reset_index(drop=True)
    y = m["direction"].to_numpy(np.float64) * m["fwd_ret_bps"].to_numpy(np.float64)
    return pd.DataFrame({
        "strand_id": m["strand_id"].to_numpy(dtype=object),
        "ts_ms": m["ts_ms"].to_numpy(dtype=np.int64),
        "date": pd.to_datetime(m["ts_ms"], unit="ms", utc=True).dt.strftime("%Y-%m-%d")
        .to_numpy(dtype=object),
        "coin": m["coin"].astype(str).to_numpy(dtype=object),
        "group": np.full(len(m), GROUP, dtype=object),
        "timeframe": m["timeframe"].to_numpy(dtype=object),
        "confidence": m["confidence"].to_numpy(dtype=np.float64),
        "pattern_flags": m["pattern_flags"].to_numpy(dtype=object),
        "direction": m["direction"].to_numpy(dtype=np.int64),
        "y_bps": y,
        "hit": (y > 0).astype(np.float64),
    }, columns=UNIT_COLUMNS)


# ---- the quantiser ------------------------------------------------------------------------


def timeframe_band(text: object) -> str:
    """min (< 1 h), hour (< 1 d), day, or na for a timeframe as the title reader writes it
    (1m, 4h, 1d, 1w)."""
    m = _TF.match(text) if isinstance(text, str) else None
    if m is None:
        return "na"
    seconds = int(m.group(1)) * _UNIT_S[m.group(2)]
    return "min" if seconds < 3600 else "hour" if seconds < 86_400 else "day"


def _flag_literals(flags_json: object, direction: int) -> tuple[str, str]:
    """(pattern, confirm) of a directed chart's flags."""
    held = set(json.loads(flags_json)) if isinstance(flags_json, str) else set()
    own = UP_FLAGS if direction > 0 else DOWN_FLAGS
    trend, breakout = own[0] in held, own[1] in held
    pattern = "both" if trend and breakout else "trend" if trend else "breakout"
    confirm = "higher_highs" if direction > 0 else "lower_lows"
    return pattern, "yes" if confirm in held else "no"


@dataclass(frozen=True)
class VisQuantizer:
    """The chart literals; the confidence edges (fitted on the training window, carried
    with the priors version as edge/conf/<i>) are its one fitted part."""

    conf_edges: tuple[float, float]
    fitted: bool = False

    @property
    def features(self) -> tuple[str, ...]:
        return FEATURES

    @property
    def values(self) -> dict[str, tuple[str, ...]]:
        return dict(VALUES)

    def literals(self, charts: pd.DataFrame) -> pd.DataFrame:
        """The literals of directed charts (columns ts_ms, timeframe, confidence,
        pattern_flags, direction), one row each, aligned with `charts`."""
        if charts.empty:
            return pd.DataFrame({f: pd.Series([], dtype=object) for f in FEATURES})
        direction = charts["direction"].to_numpy(dtype=np.int64)
        if (direction == 0).any():
            raise ValueError("a chart without a direction has no literals (not a source)")
        flags = [_flag_literals(f, int(d))
                 for f, d in zip(charts["pattern_flags"], direction, strict=True)]
        conf = charts["confidence"].to_numpy(dtype=np.float64)
        tf = charts["timeframe"] if "timeframe" in charts.columns else [None] * len(charts)
        return pd.DataFrame({
            "conf": np.asarray(VALUES["conf"], dtype=object)[
                np.searchsorted(np.asarray(self.conf_edges), conf, side="left")],
            "confirm": [c for _, c in flags],
            "dir": np.where(direction > 0, "long", "short").astype(object),
            "pattern": [p for p, _ in flags],
            "session": session(charts["ts_ms"].to_numpy(dtype=np.int64), _SESSION_HOURS),
            "tf": [timeframe_band(t) for t in tf],
        }, columns=list(FEATURES), index=charts.index)

    def edge_rows(self) -> dict[str, float]:
        return {f"edge/conf/{i}": float(x) for i, x in enumerate(self.conf_edges)}

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(FEATURES), "conf_edges": list(self.conf_edges),
                "fitted": self.fitted}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> VisQuantizer:
        lo, hi = data["conf_edges"]
        return cls((float(lo), float(hi)), bool(data.get("fitted", False)))

    @classmethod
    def from_rows(cls, rows: Mapping[str, float], cfg: VisLearningConfig) -> VisQuantizer:
        """The quantiser a priors version was compiled with (configured edges where absent)."""
        if "edge/conf/0" in rows and "edge/conf/1" in rows:
            return cls((float(rows["edge/conf/0"]), float(rows["edge/conf/1"])), True)
        return cls(cfg.confidence_edges)


def fit_vis_quantizer(train: pd.DataFrame, cfg: VisLearningConfig) -> VisQuantizer:
    """Terciles of the window's confidences (the configured edges with too few charts or
    a degenerate spread)."""
    x = train["confidence"].to_numpy(dtype=np.float64) if "confidence" in train else np.array([])
    x = x[np.isfinite(x)]
    if len(x) >= cfg.min_fit:
        lo, hi = (round(float(v), 6) for v in np.quantile(x, (1 / 3, 2 / 3)))
        if lo < hi:
            return VisQuantizer((lo, hi), True)
    return VisQuantizer(cfg.confidence_edges)


# ---- lessons ------------------------------------------------------------------------------

VIS_OUTCOME = Outcome(y="y_bps", hit="hit", group="group")


def vis_lessons(units: pd.DataFrame, previous: pd.DataFrame, day: str,
                cfg: VisLearningConfig, lcfg: LearningConfig
                ) -> tuple[pd.DataFrame, VisQuantizer]:
    """The night's chart lessons over `units` (the training window's charts, `chart_units`)
    with the signal layer's `learn`: same search, estimator, gates, lifecycle, watchdog."""
    q = fit_vis_quantizer(units, cfg)
    frame = units.reset_index(drop=True)
    lits = q.literals(frame)
    days = sorted(set(frame["date"].astype(str))) if len(frame) else []
    window = f"{days[0]}..{days[-1]}" if days else ""
    lessons, _ = learn(frame, lits, q, lcfg, previous, day, window, VIS_OUTCOME)
    return lessons, q


# ---- braids and priors --------------------------------------------------------------------

BRAID_COLUMNS = ["braid_id", "lesson_id", "rule", "context", "weight", "sign", "uplift_bps",
                 "bqs", "state", "reason"]


def braid_weight(uplift_bps: float, sign: int, cfg: VisLearningConfig,
                 lcfg: LearningConfig) -> float:
    """A lesson's weight on the charts of its context: 1 +- step x |u| / (|u| + half_bps)."""
    u = abs(float(uplift_bps))
    s = u / (u + lcfg.effect.half_bps) if u > 0 else 0.0
    return round(1.0 + (1 if sign > 0 else -1) * cfg.caps.weight_step * s, 6)


def vis_braids(lessons: pd.DataFrame, cfg: VisLearningConfig,
               lcfg: LearningConfig) -> pd.DataFrame:
    """Each live lesson as a weight on the charts of its context. Only active lessons
    become active braids; the rest are listed with why not."""
    rows = []
    if len(lessons):
        lessons = lessons.sort_values("lesson_id", kind="stable")
    for r in lessons.itertuples() if len(lessons) else []:
        if r.state not in ("proposed", "active"):
            continue
        state, reason = ("active", "lesson_active") if r.state == "active" else (
            "proposed", "lesson_proposed")
        if abs(float(r.uplift_bps)) < cfg.caps.min_uplift_bps and state == "active":
            state, reason = "dropped", "below_min_uplift"
        context = "&".join(f"{k}={v}" for k, v in split_key(str(r.rule))) or "*"
        rows.append({"braid_id": "V" + str(r.lesson_id)[1:], "lesson_id": r.lesson_id,
                     "rule": r.rule, "context": context,
                     "weight": braid_weight(float(r.uplift_bps), int(r.sign), cfg, lcfg),
                     "sign": int(r.sign), "uplift_bps": float(r.uplift_bps),
                     "bqs": float(r.bqs), "state": state, "reason": reason})
    return pd.DataFrame(rows, columns=BRAID_COLUMNS)


def _overlap(a: str, b: str) -> bool:
    """Whether a chart can match both contexts (no literal set to two values)."""
    la, lb = dict(split_key(a)), dict(split_key(b))
    return all(lb.get(k, v) == v for k, v in la.items())


def patch_key(context: str, coin: str = "*") -> str:
    return f"patch/{coin}/{context}/weight"


@dataclass
class CompiledVis:
    rows: dict[str, float]
    chosen: list[str] = field(default_factory=list)
    dropped: dict[str, str] = field(default_factory=dict)  # braid_id -> reason


def compile_vis(braids: pd.DataFrame, q: VisQuantizer, cfg: VisLearningConfig,
                previous: Mapping[str, float] | None) -> CompiledVis:
    """Active braids -> one vis priors row set (patch/*/<context>/weight, cap/ rows, the
    quantiser's edges). Best BQS first (then more literals, then id); a braid whose context
    overlaps a kept one's and moves the weight the other way is dropped ("conflict"); at
    most `max_patches` entries; against the version in force at most `max_new_per_night`
    entries added or changed (removals always apply: a lesson no longer active stops
    weighing the next night)."""
    prev = {k: v for k, v in (previous or {}).items() if k.startswith("patch/")}
    act = braids[braids["state"] == "active"] if len(braids) else braids
    order = sorted(act.itertuples(), key=lambda r: (-float(r.bqs), -len(split_key(r.rule)),
                                                     str(r.braid_id)))
    kept: list[tuple[str, int]] = []
    out = CompiledVis({})
    for r in order:
        if any(_overlap(c, r.context) and s != int(r.sign) for c, s in kept):
            out.dropped[r.braid_id] = "conflict"
            continue
        key = patch_key(r.context)
        if key in out.rows:
            out.dropped[r.braid_id] = "duplicate"
            continue
        if sum(k.startswith("patch/") for k in out.rows) + 1 > cfg.caps.max_patches:
            out.dropped[r.braid_id] = "cap:max_patches"
            continue
        changed = sum(1 for k, v in out.rows.items() if prev.get(k) != v)
        if prev.get(key) != float(r.weight) and changed + 1 > cfg.caps.max_new_per_night:
            out.dropped[r.braid_id] = "cap:max_new_per_night"
            continue
        out.rows[key] = float(r.weight)
        kept.append((r.context, int(r.sign)))
        out.chosen.append(r.braid_id)
    out.rows.update({"cap/max_patches": float(cfg.caps.max_patches),
                     "cap/max_new_per_night": float(cfg.caps.max_new_per_night),
                     "cap/weight_min": cfg.caps.weight_min,
                     "cap/weight_max": cfg.caps.weight_max})
    if any(k.startswith("patch/") for k in out.rows):
        out.rows.update(q.edge_rows())
    out.rows = dict(sorted(out.rows.items()))
    return out


# ---- what the Decision-Maker applies --------------------------------------------------------


@dataclass(frozen=True)
class VisPriors:
    """A vis priors version as the DM applies it: context -> weight entries, their caps and
    the quantiser they were learned with. Version 0 (the default) weighs every chart 1."""

    version: int = 0
    entries: tuple[tuple[tuple[tuple[str, str], ...], float], ...] = ()  # (context, weight)
    quantizer: VisQuantizer | None = None
    bounds: tuple[float, float] = (1.0, 1.0)

    @classmethod
    def from_rows(cls, version: int, rows: Mapping[str, float],
                  cfg: VisLearningConfig) -> VisPriors:
        entries = []
        for key, value in sorted(rows.items()):
            if not key.startswith("patch/"):
                continue
            parts = key.split("/")
            if len(parts) != 4 or parts[1] != "*" or parts[3] != "weight":
                raise ValueError(f"vis priors key {key!r} is not patch/*/<context>/weight")
            cond = split_key(parts[2])
            bad = [(k, v) for k, v in cond if v not in VALUES.get(k, ())]
            if bad or not math.isfinite(value) or value <= 0:
                raise ValueError(f"vis priors entry {key!r} = {value!r} names no chart "
                                 f"literal or is not a positive weight")
            entries.append((cond, float(value)))
        lo = float(rows.get("cap/weight_min", cfg.caps.weight_min))
        hi = float(rows.get("cap/weight_max", cfg.caps.weight_max))
        return cls(version, tuple(entries), VisQuantizer.from_rows(rows, cfg), (lo, hi))

    def weights(self, charts: pd.DataFrame) -> np.ndarray:
        """Per directed chart (`sources` rows): the product of the weights of the entries
        whose context it matches, clipped to the caps; 1 where none match."""
        out = np.ones(len(charts))
        if not self.entries or self.quantizer is None or charts.empty:
            return out
        lits = self.quantizer.literals(charts)
        for cond, weight in self.entries:
            hit = np.ones(len(charts), dtype=bool)
            for k, v in cond:
                hit &= lits[k].to_numpy(dtype=object) == v
            out = np.where(hit, out * weight, out)
        return np.clip(out, *self.bounds)


NO_VIS_PRIORS = VisPriors()


def weigh(strands: pd.DataFrame, priors: VisPriors) -> pd.DataFrame:
    """`strands` (vis_strands rows) with `weight`: `priors.weights` of each source chart,
    1 for every other chart."""
    out = strands.copy()
    out["weight"] = np.ones(len(out))
    src = sources(strands)
    if len(src) and priors.entries:
        by_id = dict(zip(src["strand_id"].astype(str), priors.weights(src), strict=True))
        out["weight"] = [by_id.get(str(s), 1.0) for s in out["strand_id"]]
    return out
