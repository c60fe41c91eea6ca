"""Per-row streaming form of `pipeline._score_core` after the detectors (the live path).

`WindowScorer.push(row, dsi, windows)` takes one MicroTape row (rows in (ts_ms, coin)
order), that row's DSI annotation and the windows the detectors fired on it, and returns
the pre-council signal_events columns of each window: the values `score_day(...).events`
has, computed from state carried per coin instead of re-running the day.

The batch functions stay the definition; each scalar twin here names the batch code it
mirrors, and tests/core/live/test_stream_score.py proves them equal on whole days:

- `meta.frame_features`: its EMAs (`filters.ewm`: adjust=False, NaN rows skipped) are
  carried per coin, by pandas' own recursion, so they match bit for bit; the features built
  from them (spread_rel, flow, kairos, asym) are only computed on rows with windows.
- `meta.entrainment` and `quality.live_others`: both read, per coin and detector, only the
  latest window at or before t (ts <= t, so the row's own windows count): that is the state.
- `quality.window_quality`, `kernel.base_kernel`, `kernel.resonance`, `kernel.det_sigma`,
  `context.literals`, `context.cond_keys` and `priors.patch_effects` are per-window maths:
  scalar twins over the history summary (`HistoryQuality`) and the priors in force.

State is per coin (the batch mixes no coins here); one scorer serves one UTC day.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtri

import lotus_core.signals.features as F
from lotus_core.signals.config import ScoringConfig
from lotus_core.signals.context import ALIGNED, BOOK_TAPE, LITERALS, TERCILES
from lotus_core.signals.kernel import kr_rho
from lotus_core.signals.priors import ActivePriors
from lotus_core.signals.quality import HistoryQuality
from lotus_core.signals.spec import DetectorSpec

STREAM_COLUMNS = (
    "window_id", "ts_ms", "coin", "detector_id", "recipe_hash", "horizon_s", "direction",
    "raw_strength", "signal", "sq_accuracy", "sq_precision", "sq_stability",
    "sq_orthogonality", "sq_cost", "sq_score", "sq_n", "kr_phi", "kr_theta_base", "kr_theta",
    "kr_delta_phi_base", "kr_delta_phi", "kr_hbar", "kr_rho", "det_sigma", "mx_evidence",
    "mx_confirm", "priors_ver", "prior_theta_delta", "prior_phi_mult", "prior_patches",
    "ms_kairos", "ms_entrain_r", "ms_asym_score", "ms_asym_z_oi", "ms_asym_z_funding",
    "ms_asym_z_basis", "ms_asym_z_depth", "session", "regime", "rv_pctl", "oi_pctl",
    "funding_pctl", "range_pctl", "spread_bps", "spread_rel", "depth_slope", "depth_5_rel",
    "trend_eff", "book_imb_5", "aggr_imb", "flow", "basis_bps", "oi_delta", "book_imb_1",
    "book_imb_10", "aggr_runlen", "microprice_drift_bps", "cancel_rate", "stale_ms", "mid_px",
    "cond_key")
"""The signal_events columns score_day computes before the council, in its order."""

# row columns copied into the event as floats (score_day's context block)
_ROW_FLOATS = ("rv_pctl", "oi_pctl", "funding_pctl", "range_pctl", "spread_bps", "depth_slope",
               "depth_5_rel", "trend_eff", "book_imb_5", "aggr_imb", "basis_bps", "oi_delta",
               "book_imb_1", "book_imb_10", "aggr_runlen", "microprice_drift_bps",
               "cancel_rate")
_NAN = math.nan
_BIG = 1.7976931348623157e308  # np.nan_to_num's replacement of +inf
_PREFIXES = tuple((name, name + "=") for name in sorted(LITERALS))  # cond_key's order


def _clip(x: float, lo: float, hi: float) -> float:
    """np.clip of one value (NaN stays NaN)."""
    return lo if x < lo else hi if x > hi else x


def _nan_to_num(x: float, nan: float = 0.0) -> float:
    """np.nan_to_num of one value."""
    if x != x:
        return nan
    if x == math.inf:
        return _BIG
    if x == -math.inf:
        return -_BIG
    return x


def _expit(x: float) -> float:
    """scipy.special.expit: 1 / (1 + exp(-x)), bit for bit (0 where exp overflows)."""
    try:
        return 1.0 / (1.0 + math.exp(-x))
    except OverflowError:
        return 0.0


# numpy's own transcendentals on one value: the batch's vectorised loops, which numpy may
# run as SIMD code (AVX-512 here) that differs from libm's `math` in the last bit. The
# same operation on both paths keeps live and nightly values, and so the decisions taken
# at thresholds, equal on every CPU (a 0-d call runs the same loop, ~0.2 us).
_NP_LOG, _NP_POW, _NP_EXP, _NP_TANH = np.log, np.power, np.exp, np.tanh


def _log(x: float) -> float:
    """np.log of one value, without its warnings (0 -> -inf, < 0 -> NaN)."""
    if x > 0.0:
        return float(_NP_LOG(x))
    return -math.inf if x == 0.0 else _NAN


def _exp(x: float) -> float:
    """np.exp of one value."""
    return float(_NP_EXP(x))


def _tanh(x: float) -> float:
    """np.tanh of one value."""
    return float(_NP_TANH(x))


def _pow(x: float, e: float) -> float:
    """numpy's `array ** scalar` for e >= 0: np.power, except its fast paths (0.5 is sqrt,
    2 a square); NaN where pow has no real value."""
    if e == 0.5:
        return math.sqrt(x) if x >= 0.0 or x != x else _NAN
    if e == 2.0:
        return x * x
    if x >= 0.0 or x != x:
        return float(_NP_POW(x, e))
    try:
        return math.pow(x, e)
    except ValueError:
        return _NAN


def _pctl_z(p: float, clip: float) -> float:
    """meta._pctl_z of one percentile (NaN -> 0)."""
    if p != p:
        return 0.0
    return _clip(float(ndtri(_clip(p, 0.01, 0.99))), -clip, clip)


@dataclass(frozen=True)
class _Span:
    """pandas' ewm(span=..., adjust=False) weights: alpha = 1 / (1 + (span - 1) / 2)."""

    f: float
    a: float
    d: float

    @classmethod
    def of(cls, seconds: float, cadence_ms: int) -> _Span:
        span = F.rows(seconds, cadence_ms)
        a = 1.0 / (1.0 + (span - 1) / 2)
        f = 1.0 - a
        return cls(f, a, f + a)


def _ew(m: float, x: float, s: _Span) -> float:
    """One step of `filters.ewm` (pandas' recursion: NaN skipped, first value starts it)."""
    if x != x:
        return m
    if m != m:
        return x
    if m != x:
        return (s.f * m + s.a * x) / s.d
    return m


class _Coin:
    """One coin's carried state: the EMAs of frame_features and each detector's latest
    window (ts_ms, direction) on the coin."""

    __slots__ = ("basis", "dev2", "fast", "last", "net", "rv", "slow", "sp", "tot")

    def __init__(self) -> None:
        self.sp = self.net = self.tot = self.rv = self.fast = self.slow = _NAN
        self.basis = self.dev2 = _NAN
        self.last: dict[str, tuple[int, float]] = {}


@dataclass(frozen=True)
class _Det:
    """A detector's constants for scoring (spec, kernel and history-correlation terms)."""

    scale: float
    wb: float
    wf: float
    wm: float
    wsum: float  # wb + wf + wm, in base_kernel's order
    rho: float
    penalty: Mapping[str, float]
    rho_to: Mapping[str, float]  # hq.rho against each cohort detector
    pooled: tuple[float, float, float, float]  # accuracy, precision, stability, move


@dataclass(frozen=True)
class _PriorsView:
    """An ActivePriors as the per-window maths reads it (caps, quantiser edges, patches)."""

    version: int
    theta_min: float
    phi_max: float
    edges: Mapping[str, tuple[float, ...]]
    patches: tuple[tuple[str, str, tuple[tuple[str, str], ...], float, float], ...]

    @classmethod
    def of(cls, priors: ActivePriors, cfg: ScoringConfig) -> _PriorsView:
        theta_min, phi_max = priors.caps(cfg.kr)
        ctx = priors.context(cfg.context)
        edges = {k: tuple(float(x) for x in v) for k, v in ctx.model_dump().items()}
        patches = tuple((p.detector_id, p.coin, p.cond, float(p.theta_delta),
                         float(p.phi_mult)) for p in priors.patches)
        return cls(int(priors.version), float(theta_min), float(phi_max), edges, patches)


class WindowScorer:
    """score_day's per-window columns (before the council), one MicroTape row at a time.

    `hq` is `history_quality(history, specs, scoring.sq)` (computed once per day);
    `cadence_ms` the grid step (`features.cadence_ms` of the day's frames). `priors` may be
    replaced at any time (a new nightly version): later windows use the new one.
    """

    def __init__(self, specs: Sequence[DetectorSpec], scoring: ScoringConfig,
                 hq: HistoryQuality, priors: ActivePriors, cadence_ms: int) -> None:
        self.cfg = scoring
        self.hq = hq
        kr, m = scoring.kr, scoring.meta
        self._sp = _Span.of(kr.spread_ema_s, cadence_ms)
        self._flow = _Span.of(kr.flow_span_s, cadence_ms)
        self._rv = _Span.of(m.kairos_rv_span_s, cadence_ms)
        self._fast = _Span.of(m.kairos_fast_s, cadence_ms)
        self._slow = _Span.of(m.kairos_slow_s, cadence_ms)
        self._basis = _Span.of(m.asym_basis_span_s, cadence_ms)
        self._cohort = tuple((s.id, s.horizon_s) for s in specs)
        idx = hq.index()
        pooled = hq.pooled
        dets: dict[str, _Det] = {}
        for s in specs:
            if s.id in pooled.index:
                row = pooled.loc[s.id]
                pool = (float(row["accuracy"]), float(row["precision"]),
                        float(row["stability"]), float(row["move"]))
            else:
                pool = (_NAN, _NAN, _NAN, _NAN)
            rho_to = ({d: float(hq.rho[idx[s.id], idx[d]]) for d, _ in self._cohort}
                      if s.id in idx else {})
            wb, wf, wm = float(s.align.book), float(s.align.flow), float(s.align.micro)
            dets[s.id] = _Det(float(s.strength_scale), wb, wf, wm,
                              wb + wf + wm, kr_rho(s, kr), dict(s.regime_penalty), rho_to,
                              pool)
        self._dets = dets
        self._by_coin: dict[tuple[str, str], tuple[float, float, float, float]] = {
            (str(d), str(c)): (float(r["n"]), float(r["accuracy"]), float(r["precision"]),
                               float(r["move"]))
            for (d, c), r in hq.by_coin.iterrows()}
        self._q: dict[tuple[str, str], tuple[float, float, float, float, int]] = {}
        self._bt_static = tuple((name, f.column, f.edges, f.nullable)
                                for name, f in BOOK_TAPE.items() if not f.aligned)
        self._bt_aligned = tuple((name, f.column, f.edges, f.nullable)
                                 for name, f in BOOK_TAPE.items() if f.aligned)
        self._gamma = min(scoring.dsi.gamma_mx, scoring.dsi.gamma_cap)
        self._beta = min(scoring.dsi.beta_mx, scoring.dsi.beta_cap)
        self._fee2 = 2.0 * scoring.sq.fee_bps
        self._coins: dict[str, _Coin] = {}
        self._priors = priors
        self._pv = _PriorsView.of(priors, scoring)

    @property
    def priors(self) -> ActivePriors:
        return self._priors

    @priors.setter
    def priors(self, value: ActivePriors) -> None:
        self._priors = value
        self._pv = _PriorsView.of(value, self.cfg)

    def push(self, row: Mapping[str, Any], dsi: Mapping[str, Any] | None,
             windows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Advance the row's coin by one row; the scored columns of the row's windows."""
        coin = str(row["coin"])
        st = self._coins.get(coin)
        if st is None:
            st = self._coins[coin] = _Coin()
        buy, sell = float(row["buy_vol"]), float(row["sell_vol"])
        sp, rv = float(row["spread_bps"]), float(row["rv_bps"])
        tc, basis = float(row["trade_count"]), float(row["basis_bps"])
        st.sp = _ew(st.sp, sp, self._sp)
        st.net = _ew(st.net, buy - sell, self._flow)
        st.tot = _ew(st.tot, buy + sell, self._flow)
        st.rv = _ew(st.rv, rv, self._rv)
        st.fast = _ew(st.fast, tc, self._fast)
        st.slow = _ew(st.slow, tc, self._slow)
        st.basis = _ew(st.basis, basis, self._basis)
        dev = basis - st.basis
        st.dev2 = _ew(st.dev2, dev * dev, self._basis)
        if not windows:
            return []
        ts = int(row["ts_ms"])
        for w in windows:
            if str(w["coin"]) != coin or int(w["ts_ms"]) != ts:
                raise ValueError(f"window {w['window_id']} is not of row ({coin}, {ts})")
            st.last[str(w["detector_id"])] = (ts, float(w["direction"]))
        return self._score(row, st, coin, ts, sp, rv, dev, dsi, windows)

    def _quality(self, did: str, coin: str) -> tuple[float, float, float, float, int]:
        """window_quality's history terms of (detector, coin): accuracy, precision and
        stability, the history's median |move| (NaN: none) and sq_n."""
        key = (did, coin)
        q = self._q.get(key)
        if q is None:
            acc, prec, stab, move = self._dets[did].pooled
            n_local = 0
            local = self._by_coin.get(key)
            if local is not None:
                n, l_acc, l_prec, l_move = local
                n_local = 0 if n != n else int(n)
                acc = acc if l_acc != l_acc else l_acc
                prec = prec if l_prec != l_prec else l_prec
                move = move if l_move != l_move else l_move
            q = self._q[key] = (acc, prec, stab, move, n_local)
        return q

    def _literals(self, base: dict[str, str], book_tape: Mapping[str, float], s: float,
                  coin: str) -> tuple[str, tuple[tuple[str, float, float], ...]]:
        """context.literals of a direction on this row: its cond_key, and the patches whose
        cond_key and coin hold ((detector_id, theta_delta, phi_mult), in patch order)."""
        lits = base.copy()
        lits["dir"] = "long" if s > 0 else "short"
        sign = 1.0 if s > 0 else -1.0 if s < 0 else 0.0
        e = self._pv.edges
        for name, column, edges, nullable in self._bt_aligned:
            x = book_tape[column] * sign
            if not nullable:
                x = _nan_to_num(x)
            lits[name] = "na" if nullable and x != x else ALIGNED[bisect_right(e[edges], x)]
        key = "&".join([k + lits[n] for n, k in _PREFIXES])
        if not self._pv.patches:
            return key, ()
        hits = tuple((p_det, td, pm) for p_det, p_coin, cond, td, pm in self._pv.patches
                     if (p_coin == "*" or p_coin == coin)
                     and all(lits[k] == v for k, v in cond))
        return key, hits

    def _score(self, row: Mapping[str, Any], st: _Coin, coin: str, ts: int, sp: float,
               rv: float, dev: float, dsi: Mapping[str, Any] | None,
               windows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        cfg, kr, m, pv = self.cfg, self.cfg.kr, self.cfg.meta, self._pv
        # meta.frame_features at this row
        spread_rel = sp / st.sp if st.sp > 0 else 1.0
        flow = st.net / st.tot if st.tot > 0 else 0.0
        rv_ratio = rv / st.rv if (rv > 0 and st.rv > 0) else 1.0
        tc_ratio = (st.fast + 0.1) / (st.slow + 0.1)
        sd = math.sqrt(st.dev2) if st.dev2 >= 0 else _NAN
        z_basis = abs(dev) / sd if sd > 0 else 0.0
        vals = {c: float(row[c]) for c in _ROW_FLOATS}
        rv_pctl, range_pctl = vals["rv_pctl"], vals["range_pctl"]
        known = (rv_pctl == rv_pctl) + (range_pctl == range_pctl)
        if known:
            hbar = ((rv_pctl if rv_pctl == rv_pctl else 0.0)
                    + (range_pctl if range_pctl == range_pctl else 0.0)) / known
        else:
            hbar = 0.5
        hbar = _clip(hbar, 0.0, 1.0)
        spread1 = _nan_to_num(spread_rel, 1.0)
        p_spread = _clip((spread1 - 1.0) / kr.spread_excess, 0.0, 1.0)  # meta.spread_penalty
        vol_exp = _expit(2.0 * _log(_nan_to_num(rv_ratio, 1.0)))
        burst = _expit(_log(tc_ratio))
        kairos = _clip((1.0 - p_spread) * 0.5 * (vol_exp + burst), 0.0, 1.0)
        clip = m.asym_clip
        oi_pctl, funding_pctl = vals["oi_pctl"], vals["funding_pctl"]
        z_oi = _pctl_z(oi_pctl, clip)
        z_f = abs(_pctl_z(funding_pctl, clip))
        z_b = _clip(_nan_to_num(z_basis), 0.0, clip)
        depth = vals["depth_5_rel"]
        z_d = -_log(depth) / m.asym_depth_scale if depth > 0 else _NAN
        z_d = _clip(z_d if z_d == z_d else 0.0, -clip, clip)  # +-inf clip like nan_to_num
        aw = m.asym_weights
        asym = _expit(aw.oi * z_oi + aw.funding * z_f + aw.basis * z_b + aw.depth * z_d
                      - m.asym_tau)
        # the cohort's live detectors here (their latest window at or before ts):
        # meta.entrainment's phases and quality.live_others
        re = im = 0.0
        live = []
        for det, h in self._cohort:
            last = st.last.get(det)
            if last is None:
                continue
            age = (ts - last[0]) / 1000.0
            if age < h:
                live.append(det)
                phase = math.pi * (1.0 - last[1]) / 2.0 + math.pi * age / h
                re += math.cos(phase)
                im += math.sin(phase)
        entrain = (_clip(math.hypot(re, im) / len(self._cohort), 0.0, 1.0)
                   if self._cohort else 0.0)
        # pipeline.join_dsi
        if dsi is None:
            mx, confirm = 0.0, 0
        else:
            mx = _clip(_nan_to_num(float(dsi["mx_evidence"])), 0.0, 1.0)
            confirm = 1 if dsi["mx_confirm"] > 0 else 0
        stale = int(row["stale_ms"])
        session, regime = str(row["session"]), str(row["regime"])
        # context.literals of the row (the direction's are added per direction)
        e = pv.edges
        pe = e["pctl_edges"]
        base = {
            "depth_bin": ("na" if depth != depth else
                          ("thin", "normal", "thick")[bisect_right(e["depth_edges"], depth)]),
            "funding_pctl_bin": _tercile(funding_pctl, pe),
            "hbar_bin": TERCILES[bisect_right(pe, hbar)],
            "mx_bin": TERCILES[bisect_right(e["mx_edges"], mx)],
            "oi_pctl_bin": _tercile(oi_pctl, pe),
            "regime": regime,
            "rv_pctl_bin": _tercile(rv_pctl, pe),
            "session": session,
            "spread_bin": ("normal", "wide")[bisect_right(e["spread_edges"], spread1)],
        }
        book_tape = {**vals, "flow": flow}
        for name, column, edges, nullable in self._bt_static:
            x = book_tape[column]
            if not nullable:
                x = _nan_to_num(x)
            base[name] = "na" if nullable and x != x else TERCILES[bisect_right(e[edges], x)]
        by_dir: dict[float, tuple[str, tuple[tuple[str, float, float], ...]]] = {}
        # kernel.base_kernel's and resonance's terms of the row
        micro = _tanh(vals["microprice_drift_bps"] / kr.micro_scale_bps)
        book = _nan_to_num(vals["book_imb_5"])
        flow0 = _nan_to_num(flow)
        p_stale = _clip((float(stale) - kr.stale_free_ms)
                        / (kr.stale_full_ms - kr.stale_free_ms), 0.0, 1.0)
        p_vac = kr.vacuum_weight * _clip(
            _nan_to_num((kr.vacuum_rel - depth) / kr.vacuum_rel), 0.0, 1.0)
        keep_row = (1 - p_spread) * (1 - p_stale)
        theta_min, phi_max, gamma_mx, boost = pv.theta_min, pv.phi_max, self._gamma * mx, (
            1.0 + self._beta * mx)
        w8, u = cfg.sq.weights, cfg.u
        cost = sp + self._fee2
        out = []
        for w in windows:
            did = str(w["detector_id"])
            d = self._dets[did]
            s = float(w["direction"])
            raw = float(w["raw_strength"])
            horizon = int(w["horizon_s"])
            # quality.window_quality
            acc, prec, stab, move, n_local = self._quality(did, coin)
            if move != move:
                move = rv * math.sqrt(horizon / 60.0)
            move = _nan_to_num(move, 1.0)
            sq_cost = _clip(move / (move + cost) if move + cost > 0 else 0.0, 0.0, 1.0)
            orth = 1.0
            for other in live:
                if other != did:
                    orth = min(orth, 1.0 - d.rho_to[other])
            orth = _clip(orth, 0.0, 1.0)
            sq_score = (_pow(acc, w8.accuracy) * _pow(prec, w8.precision)
                        * _pow(stab, w8.stability) * _pow(orth, w8.orthogonality)
                        * _pow(sq_cost, w8.cost))
            # kernel.base_kernel
            strength = 1.0 - _exp(-max(raw, 0.0) / d.scale)
            align = s * (d.wb * book + d.wf * flow0 + d.wm * micro) / d.wsum
            phi = _clip(strength * (0.75 + 0.25 * _clip(align, -1.0, 1.0)), 0.0, 1.0)
            keep = (keep_row * (1 - d.penalty.get(regime, 0.0)) * (1 - p_vac)
                    * (1 - kr.rho_weight * d.rho))
            theta_base = _clip(max(theta_min, 1.0 - keep), 0.0, 1.0)
            # context.literals, cond_keys and priors.patch_effects
            lit = by_dir.get(s)
            if lit is None:
                lit = by_dir[s] = self._literals(base, book_tape, s, coin)
            dtheta, mult, matched = 0.0, 1.0, 0
            for p_det, td, pm in lit[1]:
                if p_det == "*" or p_det == did:
                    dtheta += td
                    mult *= pm
                    matched += 1
            # kernel.resonance and det_sigma
            theta_dsi = max(theta_min, theta_base - gamma_mx)
            theta = min(1.0, max(theta_min, theta_dsi + dtheta))
            dphi_base = phi * (1.0 - theta_base)
            dphi = min(phi_max, phi * (1.0 - theta) * boost)
            dphi = _clip(min(phi_max, dphi * mult), 0.0, 1.0)
            sigma = _clip(_pow(_clip(sq_score, 0.0, 1.0), u) * _pow(dphi, 1.0 - u), 0.0, 1.0)
            out.append({
                "window_id": str(w["window_id"]), "ts_ms": ts, "coin": coin,
                "detector_id": did, "recipe_hash": str(w["recipe_hash"]),
                "horizon_s": horizon, "direction": int(w["direction"]), "raw_strength": raw,
                "signal": _clip(s * strength, -1.0, 1.0),
                "sq_accuracy": acc, "sq_precision": prec, "sq_stability": stab,
                "sq_orthogonality": orth, "sq_cost": sq_cost, "sq_score": sq_score,
                "sq_n": n_local, "kr_phi": phi, "kr_theta_base": theta_base,
                "kr_theta": theta, "kr_delta_phi_base": _clip(dphi_base, 0.0, 1.0),
                "kr_delta_phi": dphi, "kr_hbar": hbar, "kr_rho": d.rho, "det_sigma": sigma,
                "mx_evidence": mx, "mx_confirm": confirm, "priors_ver": pv.version,
                "prior_theta_delta": dtheta, "prior_phi_mult": mult,
                "prior_patches": matched, "ms_kairos": kairos, "ms_entrain_r": entrain,
                "ms_asym_score": asym, "ms_asym_z_oi": z_oi, "ms_asym_z_funding": z_f,
                "ms_asym_z_basis": z_b, "ms_asym_z_depth": z_d, "session": session,
                "regime": regime, "rv_pctl": rv_pctl, "oi_pctl": oi_pctl,
                "funding_pctl": funding_pctl, "range_pctl": range_pctl,
                "spread_bps": vals["spread_bps"], "spread_rel": spread_rel,
                "depth_slope": vals["depth_slope"], "depth_5_rel": depth,
                "trend_eff": vals["trend_eff"], "book_imb_5": vals["book_imb_5"],
                "aggr_imb": vals["aggr_imb"], "flow": flow, "basis_bps": vals["basis_bps"],
                "oi_delta": vals["oi_delta"], "book_imb_1": vals["book_imb_1"],
                "book_imb_10": vals["book_imb_10"], "aggr_runlen": vals["aggr_runlen"],
                "microprice_drift_bps": vals["microprice_drift_bps"],
                "cancel_rate": vals["cancel_rate"], "stale_ms": stale,
                "mid_px": float(row["mid_px"]), "cond_key": lit[0],
            })
        return out


def _tercile(x: float, edges: tuple[float, ...]) -> str:
    """context._bin into lo | mid | hi with "na" for NaN."""
    return "na" if x != x else TERCILES[bisect_right(edges, x)]
