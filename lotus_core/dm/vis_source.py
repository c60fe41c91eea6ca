"""A chart (`vis` strand) as a Decision-Maker source, like a detector (docs/dm.md, "Sources").

One definition, read by the nightly calibration, the nightly decisions and the live loop:

    alphas = vis_alphas(strands)                 # vis_strands rows -> AlphaEvents ("vis")
    train = vis_training_frame(strands, evals)   # vis_strands ⋈ vis_eval -> training rows
    slots = with_vis(published, alphas)          # the day's alphas, charts merged in by time
    payload = chart_payload(strands)             # live (vis.source): a source chart's envelope
    alpha = chart_alpha(payload)                 # live DM: the same AlphaEvent (vis_alphas)

Which strand is a source is vis's rule (`lotus_core.vis.source.sources`: read, with a coin
and a time, its pattern flags stating a direction). Its detector id is `vis`, its score
(x, `curated_sigma`) the reading's confidence, its outcome at a horizon the coin's mid
return after the chart's time (`vis_eval`, signal_eval's outcome function) signed by that
direction. The calibration (`calibration.fit_calibration`) fits `vis` as it fits every
detector: too few done outcomes, the conservative prior (μ = 0, λ = 0); enough, its
reliability from its out-of-fold record. vis's chart lessons weigh a kind of chart: its
score is the confidence times the weight vis gave it (`vis_strands.weight`, the payload's
`weight`: lotus_core.vis.lessons; 1 without any), and the calibration fits on those scores.
A chart carries no meta-signals (its budget
multipliers are neutral) and no fee (`cost` 0: vis_eval measures mid returns; the
allocator prices costs itself).

Live, the same rows travel in an envelope: when `lotus_core.vis.store` records a strand that
`sources` accepts, it posts CHART_ALPHA to dm (`vis.source.CHART_SCHEMA`, `chart_payload`:
the strand row's fields this module reads), and the live DM builds the
one-row frame from it (`payload_strands`) and calls `vis_alphas` (`chart_alpha`): one
definition of a chart's alpha, nightly and live.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.dm.alpha import META_KEYS, AlphaError, AlphaEvent, AlphaSlots
from lotus_core.vis.source import DETECTOR, SOURCE_COLUMNS, sources

HORIZON_S = 300  # what an AlphaEvent names as its own horizon (the DM's base horizon)


def weights_of(src: pd.DataFrame) -> np.ndarray:
    """Each source chart's weight as vis gave it (`vis_strands.weight`, lessons.weigh; 1
    where the table or payload carries none)."""
    if "weight" not in src.columns:
        return np.ones(len(src))
    return np.nan_to_num(src["weight"].to_numpy(dtype=np.float64), nan=1.0)


def vis_alphas(strands: pd.DataFrame) -> list[AlphaEvent]:
    """The day's charts that are sources as AlphaEvents (detector `vis`), in time order;
    each one's score is its confidence times its weight (`weights_of`)."""
    src = sources(strands)
    return [AlphaEvent(alpha_id=str(r.strand_id), ts_ms=int(r.ts_ms), coin=str(r.coin),
                       detector_id=DETECTOR, horizon_s=HORIZON_S, direction=int(r.direction),
                       curated_sigma=float(r.confidence) * float(w),
                       meta=tuple((k, math.nan) for k in META_KEYS))
            for r, w in zip(src.itertuples(index=False), weights_of(src), strict=True)]


def vis_training_frame(strands: pd.DataFrame, evals: pd.DataFrame) -> pd.DataFrame:
    """`calibration.training_frame`'s rows for the charts: each source's done `vis_eval`
    outcomes, y = direction × fwd_ret_bps, hit = y > 0, cost 0, x = its score as the DM
    was given it (confidence × weight: the calibration maps the scores the DM decides on)."""
    src = sources(strands)
    cols = ["window_id", "ts_ms", "day", "coin", "detector_id", "horizon_s", "x", "y", "hit",
            "cost"]
    if src.empty or evals.empty or "status" not in evals.columns:
        return pd.DataFrame({c: pd.Series([], dtype=object) for c in cols}).iloc[0:0]
    done = evals[evals["status"].astype(object) == "done"]
    src = src.assign(confidence=src["confidence"].to_numpy(dtype=np.float64) * weights_of(src))
    m = done[["strand_id", "horizon_s", "fwd_ret_bps"]].astype({"strand_id": str}).merge(
        src[["strand_id", "ts_ms", "coin", "confidence", "direction"]].astype(
            {"strand_id": str}), on="strand_id", how="inner", validate="many_to_one")
    m = m.sort_values(["ts_ms", "coin", "strand_id", "horizon_s"], kind="stable")
    y = m["direction"].to_numpy(np.float64) * m["fwd_ret_bps"].to_numpy(np.float64)
    return pd.DataFrame({
        "window_id": m["strand_id"].to_numpy(dtype=object),
        "ts_ms": m["ts_ms"].to_numpy(dtype=np.int64),
        "day": pd.to_datetime(m["ts_ms"], unit="ms", utc=True).dt.strftime("%Y-%m-%d")
        .to_numpy(),
        "coin": m["coin"].astype(str).to_numpy(),
        "detector_id": np.full(len(m), DETECTOR, dtype=object),
        "horizon_s": m["horizon_s"].to_numpy(dtype=np.int64),
        "x": m["confidence"].to_numpy(dtype=np.float64),
        "y": y,
        "hit": (y > 0).astype(np.float64),
        "cost": np.zeros(len(m)),
    })


def with_training(train: pd.DataFrame, vis: pd.DataFrame) -> pd.DataFrame:
    """The detectors' training rows with the charts' after them (unchanged without any)."""
    if vis.empty:
        return train
    return vis if train.empty else pd.concat([train, vis], ignore_index=True)


class MergedAlphas(AlphaSlots):
    """The published alphas with the day's chart alphas merged in by time (a chart after
    the signals of its millisecond), asked for in order as the replay reaches them."""

    def __init__(self, published: AlphaSlots, charts: Sequence[AlphaEvent]) -> None:
        self._published, self._charts = published, list(charts)
        ptimes = np.asarray(published.times, dtype=np.int64)
        ctimes = np.array([a.ts_ms for a in self._charts], dtype=np.int64)
        times = np.concatenate([ptimes, ctimes])
        which = np.concatenate([np.zeros(len(ptimes), np.int64), np.ones(len(ctimes), np.int64)])
        index = np.concatenate([np.arange(len(ptimes)), np.arange(len(ctimes))])
        order = np.lexsort((index, which, times))
        self.times = times[order]
        self._which, self._index = which[order], index[order]

    def __len__(self) -> int:
        return len(self.times)

    def at(self, i: int) -> AlphaEvent:
        j = int(self._index[i])
        return self._published.at(j) if self._which[i] == 0 else self._charts[j]


def with_vis(published: AlphaSlots, charts: Sequence[AlphaEvent]) -> AlphaSlots:
    """`published` itself when there is no chart (the day decides exactly as without vis),
    else both merged by time."""
    return MergedAlphas(published, charts) if charts else published


def payload_strands(payload: Mapping[str, Any]) -> pd.DataFrame:
    """The one-row `vis_strands` frame (SOURCE_COLUMNS) a chart payload carries: time as
    int64, confidence as float64, the flags as sorted-key JSON (as the table holds them)."""
    try:
        row = {"strand_id": str(payload["strand_id"]), "kind": str(payload["kind"]),
               "coin": str(payload["coin"]), "ts_ms": int(payload["ts_ms"]),
               "confidence": float(payload["confidence"]),
               "pattern_flags": json.dumps(dict(payload["pattern_flags"]), sort_keys=True),
               "timeframe": payload.get("timeframe"),
               "weight": float(payload.get("weight", 1.0))}
    except KeyError as e:
        raise AlphaError(f"chart payload lacks {e.args[0]!r}") from None
    return pd.DataFrame([row], columns=[*SOURCE_COLUMNS, "timeframe", "weight"]).astype(
        {"ts_ms": np.int64, "confidence": np.float64})


def chart_alpha(payload: Mapping[str, Any]) -> AlphaEvent:
    """A chart payload's AlphaEvent: `vis_alphas` of its one-row frame; AlphaError when the
    strand it carries is not a source (not read, or no direction)."""
    alphas = vis_alphas(payload_strands(payload))
    if not alphas:
        raise AlphaError(f"chart {payload.get('strand_id')!r} is not a source (read, a coin, "
                         "a direction its pattern flags state)")
    return alphas[0]
