"""Annotate a day's MicroTape with every active expert and the fused mx_* columns;
`DsiStream` annotates the same way one MicroTape row at a time (the live daemon). Each
expert's day (the `dsi_experts` rows) is described in `lotus_core.dsi.day`.

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. `annotate` runs each expert's `run` over a coin-day; DsiStream's
coin step is written from the same model by each expert's `step` (experts.py and the
expert modules), FeatureStep (features.py), grammar_flag (grammar.py) and FuseStep
(fusion.py), each beside its batch form. tests/core/dsi/test_dsi.py
(test_fitted_model_day_equals_annotate and the tests beside it) proves the stream equal
to `annotate` on every column.

Annotation is causal: every expert is causal and the model was fitted on earlier days, so
the row at t is unchanged when the frames after t are cut off
(tests/core/dsi/test_dsi.py proves it). Every expert reads only its own coin's earlier
rows, so a coin's state in the stream is: the feature table's trailing windows and lags,
each grammar's state machines, the divergence expert's EMAs and extremes, the sequence
classifier's lags and means. Nothing mixes coins; a new UTC day is a new DsiStream.

Speed: DsiStream writes the model once as one Python function of a row
(windows.Program): the features it needs, every expert, the fusion and the output dict,
straight-line, with each coin's state in that function's closure; the fitted forest is
scored by the numba kernel the batch uses too (forest.py). `DsiStream.source` is the generated
code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.dsi.experts import ExpertOutput
from lotus_core.dsi.features import FeatureStep
from lotus_core.dsi.fusion import FuseStep, clip_conf, clip_z, fuse
from lotus_core.dsi.model import DsiModel, split_coins
from lotus_core.dsi.windows import Inputs, Program


@dataclass
class DsiResult:
    """The annotations plus what the expert table needs: raw outputs, per-coin latency
    (microseconds of compute per frame), the fused log-odds, the shared feature time."""

    annotations: pd.DataFrame
    outputs: dict[str, ExpertOutput]
    latency_us: dict[str, list[float]]
    llr: np.ndarray
    feature_seconds: float


_SORTED = "must be sorted by (coin, ts_ms) without duplicates"


def _on_cadence(cadence_ms: int) -> str:
    return f"ts_ms steps must be multiples of cadence_ms={cadence_ms}"


def _check_frames(frames: pd.DataFrame, cadence_ms: int) -> None:
    """Sorted by (coin, ts_ms), each coin's steps a multiple of cadence_ms (per row:
    DsiStream._check)."""
    if len(frames) < 2:
        return
    coin = frames["coin"].to_numpy(dtype=object)
    ts = frames["ts_ms"].to_numpy()
    same = coin[1:] == coin[:-1]
    if not np.all((coin[1:] > coin[:-1]) | (same & (ts[1:] > ts[:-1]))):
        raise ValueError(f"frames: {_SORTED}")
    steps = np.diff(ts)[same]
    if len(steps) and not np.all(steps % cadence_ms == 0):
        raise ValueError(f"frames: {_on_cadence(cadence_ms)} "
                         "(the registry's frame counts assume it)")


def annotate(frames: pd.DataFrame, model: DsiModel) -> DsiResult:
    """One row per frame: coin, ts_ms, mx_evidence, mx_confirm, then f_/z_/c_<id> per expert."""
    reg = model.registry
    _check_frames(frames, reg.cadence_ms)
    frames = frames.reset_index(drop=True)
    n = len(frames)
    coins = split_coins(frames, reg.label)
    t0 = time.perf_counter()
    if any(s.expert.uses_features for s in model.experts):
        for c in coins:
            c.features  # noqa: B018 - build the shared features once, timed apart
    feature_seconds = time.perf_counter() - t0
    outputs: dict[str, ExpertOutput] = {}
    latency: dict[str, list[float]] = {}
    for st in model.experts:
        parts, lat = [], []
        for c in coins:
            t = time.perf_counter()
            parts.append(st.expert.run(c))
            lat.append((time.perf_counter() - t) * 1e6 / max(len(c), 1))
        outputs[st.id] = ExpertOutput.concat(parts) if parts else ExpertOutput.silent(n)
        latency[st.id] = lat
    weights = [s.weight for s in model.experts]
    llr, evidence, confirm = fuse(list(outputs.values()), weights, model.base_rate,
                                  reg.fusion, n)
    cols: dict[str, object] = {"coin": frames["coin"], "ts_ms": frames["ts_ms"],
                               "mx_evidence": evidence, "mx_confirm": confirm}
    for eid, out in outputs.items():
        cols[f"f_{eid}"] = out.f.astype(np.int8)
        cols[f"z_{eid}"] = clip_z(out.z, reg.fusion)
        cols[f"c_{eid}"] = clip_conf(out.conf).astype("float64")
    return DsiResult(annotations=pd.DataFrame(cols), outputs=outputs, latency_us=latency,
                     llr=llr, feature_seconds=feature_seconds)


# ---------------------------------------------------------------- annotate at one row

Step = Callable[[tuple[tuple[float, ...], str, int]], dict[str, Any]]


def compile_step(model: DsiModel) -> tuple[Callable[[], Step],
                                           Callable[[Mapping[str, Any]], tuple[Any, ...]], str]:
    """annotate's row: `make`, `pick` and the step's source. `make()` is a coin's
    `step((floats of pick(row), coin, ts)) -> annotation row`."""
    reg = model.registry
    prog = Program()
    cols = Inputs(prog)
    feats = FeatureStep(prog, cols, reg.label)
    fusion = FuseStep(prog, model.base_rate, reg.fusion)
    for s in model.experts:
        fusion.add(s.id, s.expert.step(prog, cols, feats), s.weight)
    items = ["'coin': coin", "'ts_ms': ts", *fusion.finish()]
    make = prog.build("vals, coin, ts", "{" + ", ".join(items) + "}",
                      prologue=cols.prologue(), label="dsi step")
    return make, cols.picker(), prog.source


class _Coin:
    """One coin's step (its state is the step's) and last grid time."""

    __slots__ = ("last", "step")

    def __init__(self, step: Step) -> None:
        self.step = step
        self.last = -1


class DsiStream:
    """Per-row `annotate`: push each MicroTape row of one UTC day, in (ts_ms, coin) order;
    get back its annotation row (coin, ts_ms, mx_evidence, mx_confirm, f_/z_/c_<id>).
    Exact, not close: flags and the anomaly expert's rank compare values with thresholds,
    so every value repeats the batch's float operations."""

    def __init__(self, model: DsiModel) -> None:
        self.model = model
        self._cadence = model.registry.cadence_ms
        # compiled once per model, not per coin
        self._make, self._pick, self.source = compile_step(model)
        self._coins: dict[str, _Coin] = {}

    def _check(self, coin: str, ts: int, last: int) -> None:
        """_check_frames at one row: later than the coin's previous row, by a multiple of
        cadence_ms."""
        if ts <= last:
            raise ValueError(f"DsiStream: {coin} row at ts_ms={ts} is not after its previous "
                             f"row at ts_ms={last} (frames {_SORTED})")
        if (ts - last) % self._cadence:
            raise ValueError(f"DsiStream: {coin} row at ts_ms={ts} is {ts - last} ms after its "
                             f"previous row; {_on_cadence(self._cadence)}")

    def push(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """The annotation of one row (equal to annotate's row for it)."""
        coin, ts = str(row["coin"]), int(row["ts_ms"])
        st = self._coins.get(coin)
        if st is None:
            st = self._coins[coin] = _Coin(self._make())
        elif ts <= st.last or (ts - st.last) % self._cadence:
            self._check(coin, ts, st.last)
        vals = tuple(map(float, self._pick(row)))
        try:
            out = st.step((vals, coin, ts))
        except StopIteration:
            raise RuntimeError(f"DsiStream: {coin}'s state was lost to an earlier error in "
                               "its step") from None
        st.last = ts
        return out
