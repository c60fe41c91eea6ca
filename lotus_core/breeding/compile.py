"""Compile a bred spec into windows: per coin, each term's vote per frame, the combination,
then one window per event (the engine's own `episode_starts` cooldown rule).

Every approved transform is causal (frame t reads frames <= t), so a window at t does not
move when the tape after t is cut; `lead` reads the future on purpose (the planted leak).
A gate reads the current frame's context value only (the MicroTape computes its context
columns causally): where it does not hold (or the value is missing) nothing fires, and the
voting terms' state runs on regardless, so a gate never changes what they vote.
The windows have `run_detectors`' columns, so outcomes and audits read them unchanged.

`BredStream` is `bred_windows` one MicroTape row at a time (the live engine's step, under
its batch function and reading the same rules: the transforms' EMAs are
`lotus_core.signals.features.Ewm`, pandas' recursion; the vote, the combination and the
cooldown are the batch's, row by row). Its equality test is in tests/core/breeding/.
"""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.audits.lookback import ewm_memory
from lotus_core.breeding.grammar import DETECTOR_PREFIX, BredSpec, Gate, Term
from lotus_core.filters import ewm
from lotus_core.signals.detectors import NEVER_MS, WINDOW_COLUMNS, empty_windows, episode_starts
from lotus_core.signals.features import Ewm, cadence_ms, coin_blocks, ewm_alpha, rows
from lotus_core.signals.ids import pair_key, window_id_one

_TINY = 1e-12


def _flow(buy: np.ndarray, sell: np.ndarray, span: int) -> np.ndarray:
    """flow_pressure's flow: EMA net over EMA total aggressor volume (0 while idle)."""
    net, tot = ewm(buy - sell, span=span), ewm(buy + sell, span=span)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(tot > 0, net / tot, 0.0)


def _value(term: Term, g: Mapping[str, np.ndarray], cadence: int) -> np.ndarray:
    """The transformed input of one term on one coin's slice."""
    w = rows(term.window_s, cadence)
    if term.input == "flow":
        x = _flow(g["buy_vol"], g["sell_vol"], w)
        if term.transform == "ewm":
            return x
    else:
        x = np.asarray(g[term.input], dtype=np.float64)
    if term.transform == "ewm":
        return ewm(x, span=w)
    if term.transform == "z":
        mean = ewm(x, span=w)
        dev = x - np.r_[np.nan, mean[:-1]]  # against the mean before this frame
        sd = np.sqrt(ewm(dev * dev, span=w))
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(sd > _TINY, dev / sd, 0.0)
    if term.transform == "diff":
        out = np.full(len(x), np.nan)
        out[w:] = x[w:] - x[:-w]
        return out
    if term.transform == "lead":  # the planted leak: the sum of the NEXT w frames' values
        c = np.r_[0.0, np.cumsum(np.nan_to_num(x))]
        out = np.full(len(x), np.nan)
        out[:-w] = c[w + 1:] - c[1:-w]
        return out
    raise ValueError(f"no rule for transform {term.transform!r}")


def _vote(term: Term, g: Mapping[str, np.ndarray], cadence: int,
          events: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(vote in {-1, 0, +1}, strength) per frame."""
    if term.input.startswith(DETECTOR_PREFIX):
        d = events[term.input[len(DETECTOR_PREFIX):]].astype(np.int8)
        return (term.sign * d).astype(np.int8), np.abs(d).astype(np.float64)
    v = np.nan_to_num(_value(term, g, cadence), nan=0.0)
    vote = np.where(v >= term.threshold, 1, np.where(v <= -term.threshold, -1, 0))
    return (term.sign * vote).astype(np.int8), np.abs(v) / term.threshold


def holds(gate: Gate, g: Mapping[str, np.ndarray]) -> np.ndarray:
    """Whether `gate` holds on each frame of one coin's slice: the value in the band (or a
    listed regime). A missing value (NaN, None, regime `warmup`, no such column) does not."""
    n = len(g["ts_ms"])
    x = g.get(gate.input)
    if x is None:
        return np.zeros(n, dtype=bool)
    if gate.labels is not None:
        return np.isin(np.asarray(x, dtype=object), gate.labels)
    v = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(v)
    if gate.lo is not None:
        ok &= v >= gate.lo
    if gate.hi is not None:
        ok &= v <= gate.hi
    return ok


def holds_one(gate: Gate, row: Mapping[str, Any]) -> bool:
    """`holds` of one row (the live step)."""
    x = row.get(gate.input)
    if x is None:
        return False
    if gate.labels is not None:
        return x in gate.labels
    v = float(x)
    if not math.isfinite(v):
        return False
    return (gate.lo is None or v >= gate.lo) and (gate.hi is None or v <= gate.hi)


def _recent(vote: np.ndarray, d: int, w: int) -> np.ndarray:
    """Whether `vote == d` on any of the last `w` frames (this one included)."""
    hit = np.cumsum(np.r_[0, (vote == d).astype(np.int64)])
    idx = np.arange(len(vote))
    return (hit[idx + 1] - hit[np.maximum(idx + 1 - w, 0)]) > 0


def candidates(spec: BredSpec, g: Mapping[str, np.ndarray], cadence: int,
               events: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(direction per frame, 0 where nothing fires; strength) of one coin's slice."""
    votes = [_vote(t, g, cadence, events) for t in spec.votes]
    n = len(votes[0][0])
    direction = np.zeros(n, dtype=np.int8)
    if spec.combine == "and":
        gated = np.ones(n, dtype=bool)
        for gate in spec.gates:  # the frame where the terms vote: every gate holds there
            gated &= holds(gate, g)
        for d in (1, -1):
            ok = gated.copy()
            for v, _ in votes:
                ok &= v == d
            direction[ok] = d
        strength = np.mean([s for _, s in votes], axis=0)
    else:  # within: the first term voted d in the window, the second votes d now
        w = rows(spec.within_s, cadence)
        (v0, _), (v1, s1) = votes
        for d in (1, -1):
            direction[(v1 == d) & _recent(v0, d, w)] = d
        strength = s1
    return direction, np.where(direction != 0, strength, 0.0)


def lookback_rows(spec: BredSpec, cadence: int) -> int:
    """Rows before t that a window at t can depend on (as audits.lookback does for the
    packaged kinds): each term's memory (an EMA's to EWM_TOL; a z-score is two EMAs deep),
    the WITHIN span and the cooldown. `lead` looks forward; its window counts here too."""
    need = 1  # a gate reads the current frame only: it adds nothing
    for t in spec.votes:
        w = rows(t.window_s, cadence)
        if t.input.startswith(DETECTOR_PREFIX):
            return -1  # a vetted detector's own lookback: the caller cuts the whole prefix
        depth = (2 if t.transform == "z" else 1 if t.transform == "ewm" else 0) + (
            1 if t.input == "flow" else 0)  # EMAs stacked on each other
        need = max(need, ewm_memory(w) * depth + w + 1)
    if spec.combine == "within":
        need += rows(spec.within_s, cadence)
    return need + rows(spec.cooldown_s, cadence) + 1


def vetted_events(n: int, vetted: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """Per vetted detector id, its windows' direction on each of the `n` frame rows."""
    out: dict[str, np.ndarray] = {}
    if vetted is None or len(vetted) == 0:
        return out
    for det, part in vetted.groupby("detector_id", sort=True):
        col = np.zeros(n, dtype=np.int8)
        col[part["frame_idx"].to_numpy(dtype=np.int64)] = part["direction"].to_numpy(np.int8)
        out[str(det)] = col
    return out


Columns = Mapping[str, np.ndarray]


def columns(frames: pd.DataFrame) -> dict[str, np.ndarray]:
    """A MicroTape as arrays (what compile reads; read once, cut by masks)."""
    return {c: frames[c].to_numpy() for c in frames.columns}


def bred_windows(frames: pd.DataFrame | Columns, specs: list[BredSpec],
                 vetted: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every window the bred `specs` fire on `frames` (a MicroTape, or its `columns`), in
    run_detectors' columns and order. `vetted`: the packaged detectors' windows on the same
    frames (run_detectors), for `detector:<id>` terms."""
    cols = columns(frames) if isinstance(frames, pd.DataFrame) else frames
    coins = np.asarray(cols["coin"], dtype=object)
    ts = np.asarray(cols["ts_ms"], dtype=np.int64)
    if len(ts) == 0:
        return empty_windows()
    cadence = cadence_ms(ts, coins)
    ev_all = vetted_events(len(ts), vetted)
    parts: list[pd.DataFrame] = []
    for coin, a, b in coin_blocks(coins):
        g = {c: v[a:b] for c, v in cols.items()}
        ev = {k: v[a:b] for k, v in ev_all.items()}
        for spec in specs:
            need = {t.input[len(DETECTOR_PREFIX):] for t in spec.votes
                    if t.input.startswith(DETECTOR_PREFIX)}
            for k in need - set(ev):
                ev[k] = np.zeros(b - a, dtype=np.int8)
            direction, strength = candidates(spec, g, cadence, ev)
            idx = np.flatnonzero(direction != 0)
            if len(idx) == 0:
                continue
            idx = idx[episode_starts(ts[a:b][idx], direction[idx], spec.cooldown_s * 1000)]
            parts.append(pd.DataFrame({
                "frame_idx": (idx + a).astype(np.int64), "ts_ms": ts[a:b][idx], "coin": coin,
                "detector_id": spec.detector_id, "direction": direction[idx].astype(np.int8),
                "raw_strength": strength[idx].astype(np.float64),
                "horizon_s": np.int64(spec.horizon_s)}))
    if not parts:
        return empty_windows()
    out = pd.concat(parts, ignore_index=True)[list(WINDOW_COLUMNS)]
    out["coin"] = out["coin"].astype("str")
    out["detector_id"] = out["detector_id"].astype("str")
    return out.sort_values(["ts_ms", "coin", "detector_id"], kind="stable").reset_index(drop=True)


# ---- the live step: bred_windows one row at a time ----------------------------------------

_MAX = sys.float_info.max


def _finite_one(v: float) -> float:
    """np.nan_to_num of one value (NaN -> 0, +-inf -> +-max float), as `_vote` applies."""
    if v != v:
        return 0.0
    if v == math.inf:
        return _MAX
    return -_MAX if v == -math.inf else v


class _TermStep:
    """`_value` and `_vote` of one term on one coin, one row at a time."""

    __slots__ = ("input", "transform", "threshold", "sign", "net", "tot", "mean", "var",
                 "past", "w")

    def __init__(self, term: Term, cadence: int) -> None:
        if term.input.startswith(DETECTOR_PREFIX) or term.transform == "lead":
            raise ValueError(f"{term.input} {term.transform}: not a live transform (a vetted "
                             "detector's windows or the planted look-ahead)")
        self.input, self.transform = term.input, term.transform
        self.threshold, self.sign = float(term.threshold), int(term.sign)
        w = self.w = rows(term.window_s, cadence)
        a = ewm_alpha(span=w)
        self.net = Ewm(a) if term.input == "flow" else None
        self.tot = Ewm(a) if term.input == "flow" else None
        self.mean = Ewm(a) if term.transform in ("ewm", "z") else None
        self.var = Ewm(a) if term.transform == "z" else None
        self.past: deque[float] = deque(maxlen=w)

    def value(self, row: Mapping[str, Any]) -> float:
        if self.net is not None and self.tot is not None:  # _flow
            buy, sell = float(row["buy_vol"]), float(row["sell_vol"])
            net, tot = self.net.push(buy - sell), self.tot.push(buy + sell)
            x = net / tot if tot > 0 else 0.0
            if self.transform == "ewm":
                return x
        else:
            x = float(row[self.input])
        if self.transform == "ewm":
            assert self.mean is not None
            return self.mean.push(x)
        if self.transform == "z":
            assert self.mean is not None and self.var is not None
            dev = x - self.mean.m  # against the mean before this frame
            self.mean.push(x)
            sd = math.sqrt(self.var.push(dev * dev))
            return dev / sd if sd > _TINY else 0.0
        past = self.past  # diff: x[t] - x[t - w], NaN for the first w rows
        out = x - past[0] if len(past) == self.w else math.nan
        past.append(x)
        return out

    def vote(self, row: Mapping[str, Any]) -> tuple[int, float]:
        v = _finite_one(self.value(row))
        t = self.threshold
        vote = 1 if v >= t else (-1 if v <= -t else 0)
        return self.sign * vote, abs(v) / t


class _BredCoin:
    """One bred spec on one coin: its terms, gates, the WITHIN memory and the cooldown
    state."""

    __slots__ = ("terms", "gates", "within", "w", "t", "seen_up", "seen_dn", "last_up",
                 "last_dn")

    def __init__(self, spec: BredSpec, cadence: int) -> None:
        self.terms = [_TermStep(t, cadence) for t in spec.votes]
        self.gates = spec.gates
        self.within = spec.combine == "within"
        self.w = rows(spec.within_s, cadence)
        self.t = -1
        self.seen_up = self.seen_dn = -(1 << 62)  # the first term's last +1 / -1 vote (row)
        self.last_up = self.last_dn = NEVER_MS

    def candidate(self, row: Mapping[str, Any]) -> tuple[int, float]:
        """`candidates` at this row: (direction, strength), (0, 0.0) when nothing fires."""
        self.t += 1
        votes = [term.vote(row) for term in self.terms]
        if self.within:
            (v0, _), (v1, s1) = votes
            if v0 == 1:
                self.seen_up = self.t
            elif v0 == -1:
                self.seen_dn = self.t
            seen = self.seen_up if v1 == 1 else self.seen_dn if v1 == -1 else None
            if seen is not None and self.t - seen < self.w:  # _recent: the last w rows
                return v1, s1
            return 0, 0.0
        d = votes[0][0]
        if d == 0 or any(v != d for v, _ in votes[1:]):
            return 0, 0.0
        for gate in self.gates:  # after the votes: their state has advanced on this row
            if not holds_one(gate, row):
                return 0, 0.0
        total = 0.0
        for _, s in votes:
            total += s
        return d, total / len(votes)


class BredStream:
    """`bred_windows(frames, specs)` with window ids, one MicroTape row at a time (the live
    engine's bred detectors): feed one UTC day's rows in (ts_ms, coin) order; `push`
    returns the row's windows in detector_id order, in DetectorStream's row form."""

    def __init__(self, specs: Sequence[BredSpec], cadence_ms: int, recipe_hashes:
                 Mapping[str, str]) -> None:
        if cadence_ms <= 0:
            raise ValueError(f"cadence_ms must be > 0, got {cadence_ms}")
        self.specs = sorted(specs, key=lambda s: s.detector_id)
        self.cadence_ms = int(cadence_ms)
        self._hashes = dict(recipe_hashes)  # detector_id -> the scoring carrier's hash
        self._coins: dict[str, list[tuple[BredSpec, _BredCoin, int]]] = {}

    def push(self, row: Mapping[str, Any]) -> list[dict[str, Any]]:
        coin, ts = str(row["coin"]), int(row["ts_ms"])
        state = self._coins.get(coin)
        if state is None:
            state = self._coins[coin] = [(s, _BredCoin(s, self.cadence_ms),
                                          pair_key(coin, s.detector_id)) for s in self.specs]
        out: list[dict[str, Any]] = []
        for spec, st, pair in state:
            d, strength = st.candidate(row)
            if d == 0:
                continue
            # episode_starts: the previous same-direction candidate >= cooldown before
            cooldown = spec.cooldown_s * 1000
            if d > 0:
                keep, st.last_up = ts - st.last_up >= cooldown, ts
            else:
                keep, st.last_dn = ts - st.last_dn >= cooldown, ts
            if keep:
                out.append({"window_id": window_id_one(pair, ts), "ts_ms": ts, "coin": coin,
                            "detector_id": spec.detector_id,
                            "recipe_hash": self._hashes[spec.detector_id],
                            "horizon_s": int(spec.horizon_s), "direction": d,
                            "raw_strength": float(strength)})
        return out
