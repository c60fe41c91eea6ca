"""One day of the signal layer, end to end, as pure functions of DataFrames.

    detect_day(frames, scoring=)  -> detector_windows (windows + realised outcomes; history
                                     for later days)
    score_day(frames, day, ...)   -> SignalDay: signal_events, curator_log, curator_kpis,
                                     meta_signals and the Signal Bus rows

The scoring and council configurations are the caller's (its entry point loads them once),
so the nightly assets, the live daemon and the audits score with the same objects.

The nightly assets and the live daemon call the same functions; the audits re-run them on
cut or perturbed frames with the same specs.

    WindowScorer(...).push(row, dsi, windows)  -> the same pre-council columns, one row at
                                                  a time (the live step of `_score_core`)

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. `WindowScorer` keeps per coin only what the batch reads from
earlier rows (meta.CoinState) and calls each stage's `*_one` form, which sits beside its
batch function (meta, quality, kernel, context, priors). The equality test is
tests/core/signals/test_signals_scoring.py (`test_*_streams_to_the_batch_scores`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pandas as pd

import lotus_core.signals.ids as ids
from lotus_core.arrays import positions_by
from lotus_core.curators.config import CouncilConfig
from lotus_core.curators.council import Verdict, curate
from lotus_core.curators.kpis import KpiTally, curator_kpis
from lotus_core.curators.standing import Standing
from lotus_core.signals.bus import GATES, bus_rows
from lotus_core.signals.config import ScoringConfig
from lotus_core.signals.context import cond_key_one, cond_keys, literals
from lotus_core.signals.detectors import run_detectors
from lotus_core.signals.kernel import (
    Caps,
    DetectorKernel,
    base_kernel,
    base_kernel_one,
    det_sigma,
    det_sigma_one,
    dsi_gains,
    kernel_row_one,
    resonance,
    resonance_one,
    strength01,
)
from lotus_core.signals.meta import (
    CoinState,
    EmaWeights,
    clip_one,
    ema_spans,
    entrainment,
    entrainment_one,
    frame_features,
    frame_features_one,
    nan_to_num_one,
)
from lotus_core.signals.outcomes import window_outcomes
from lotus_core.signals.priors import (
    NO_PRIORS,
    ActivePriors,
    PriorsView,
    patch_effects,
    patch_effects_one,
)
from lotus_core.signals.quality import (
    FEE_LEGS,
    History,
    HistoryQuality,
    QualityLookup,
    window_quality,
)
from lotus_core.signals.schema import (
    DETECTOR_WINDOWS_SCHEMA,
    META_SIGNALS_SCHEMA,
    SIGNAL_EVENTS_SCHEMA,
)
from lotus_core.signals.scoring_day import ScoringDay, scoring_day
from lotus_core.signals.spec import DetectorSet, DetectorSpec, enabled_specs
from lotus_core.store.by_coin import CoinDay, CoinTape
from lotus_core.store.spill import CoinSpill

CONTEXT_FROM_FRAMES = ("session", "regime", "rv_pctl", "oi_pctl", "funding_pctl", "range_pctl",
                       "spread_bps", "depth_slope", "depth_5_rel", "trend_eff", "book_imb_5",
                       "aggr_imb", "basis_bps", "oi_delta", "stale_ms", "mid_px",
                       "microprice_drift_bps", "rv_bps", "book_imb_1", "book_imb_10",
                       "aggr_runlen", "cancel_rate")
DSI_COLUMNS = ("coin", "ts_ms", "mx_evidence", "mx_confirm")
# the frame context signal_events carries as floats, in its order (spread_rel and flow are
# frame_features'; the rest are MicroTape columns)
EVENT_FLOATS = ("rv_pctl", "oi_pctl", "funding_pctl", "range_pctl", "spread_bps", "spread_rel",
                "depth_slope", "depth_5_rel", "trend_eff", "book_imb_5", "aggr_imb", "flow",
                "basis_bps", "oi_delta", "book_imb_1", "book_imb_10", "aggr_runlen",
                "microprice_drift_bps", "cancel_rate")
# signal_events columns the council and publication add (score_day after `_score_core`)
AFTER_SCORES = ("nudge_sum", "curated_sigma", "vetoed", "vetoes", "gates", "tau_publish",
                "above_threshold", "published", "paper", "propensity", "explore_u",
                "data_fingerprint", "history_days", "history_window")
STREAM_COLUMNS = tuple(c for c in SIGNAL_EVENTS_SCHEMA.columns if c not in AFTER_SCORES)
"""The signal_events columns score_day computes before the council, in its order: what
`WindowScorer.push` returns per window."""


def _with_ids(windows: pd.DataFrame, specs: Sequence[DetectorSpec]) -> pd.DataFrame:
    out = windows.copy()
    out.insert(0, "window_id", pd.Series(
        ids.window_ids(out["coin"], out["detector_id"], out["ts_ms"]), dtype="str",
        index=out.index))
    out["recipe_hash"] = out["detector_id"].map({s.id: s.recipe_hash for s in specs}).astype(
        "str")
    return out


def detect_day(frames: pd.DataFrame, detectors: DetectorSet | Sequence[DetectorSpec] | None = None,
               *, scoring: ScoringConfig) -> pd.DataFrame:
    """Every window the detectors fire on a day's MicroTape, with its realised outcome from
    the same day's forward mid (the `detector_windows` asset; history for later days)."""
    return DETECTOR_WINDOWS_SCHEMA.validate(_detect(frames, detectors, scoring))


def _detect(frames: pd.DataFrame, detectors: DetectorSet | Sequence[DetectorSpec] | None,
            scoring: ScoringConfig) -> pd.DataFrame:
    """`detect_day` before its schema check (done once per day, not once per coin)."""
    specs = enabled_specs(detectors)
    w = _with_ids(run_detectors(frames, specs), specs)
    outcome = window_outcomes(w, frames, scoring.sq.fee_bps)
    fi = w["frame_idx"].to_numpy()
    out = pd.DataFrame({
        "window_id": w["window_id"], "ts_ms": w["ts_ms"], "coin": w["coin"],
        "detector_id": w["detector_id"], "recipe_hash": w["recipe_hash"],
        "horizon_s": w["horizon_s"], "direction": w["direction"],
        "raw_strength": w["raw_strength"],
        "mid_px": frames["mid_px"].to_numpy(dtype=np.float64)[fi],
        "spread_bps": frames["spread_bps"].to_numpy(dtype=np.float64)[fi],
    })
    return pd.concat([out, outcome], axis=1).reset_index(drop=True)


def detect_parts(tape: CoinTape, detectors: DetectorSet | Sequence[DetectorSpec] | None = None,
                 *, scoring: ScoringConfig) -> Iterator[pd.DataFrame]:
    """Each coin's windows of a MicroTape partition (coins in order), each in detect_day's
    order, (ts_ms, detector_id): the `detector_windows` asset writes them a row group per
    coin, so a later day's history reads them a coin-day at a time. Not
    schema-checked here: the lake checks each part as it writes it."""
    for coin in tape.coins():
        part = _detect(tape.read(coin), detectors, scoring)
        yield part.sort_values(["ts_ms", "detector_id"], kind="stable").reset_index(drop=True)


@dataclass
class WindowCount:
    """What the `detector_windows` run reports, counted as each coin's windows pass."""

    windows: int = 0
    with_outcome: int = 0
    per_detector: dict[str, int] = field(default_factory=dict)

    def passed(self, part: pd.DataFrame) -> pd.DataFrame:
        self.windows += len(part)
        self.with_outcome += int(part["outcome_ok"].sum())
        for d, n in part["detector_id"].value_counts().items():
            self.per_detector[str(d)] = self.per_detector.get(str(d), 0) + int(n)
        return part

    def metadata(self) -> dict[str, Any]:
        return {"windows": self.windows, "with_outcome": self.with_outcome,
                "per_detector": dict(sorted(self.per_detector.items()))}


def detect_by_coin(tape: CoinTape, detectors: DetectorSet | Sequence[DetectorSpec] | None = None,
                   *, scoring: ScoringConfig) -> pd.DataFrame:
    """`detect_day` of a MicroTape partition read one coin at a time (the detectors and the
    outcomes are per coin: tests/core/signals/test_per_coin.py), in detect_day's order
    (ts_ms, coin, detector_id): one coin's tape held at a time."""
    parts = [_detect(tape.read(coin), detectors, scoring) for coin in tape.coins()]
    if not parts:
        return detect_day(tape.whole(), detectors, scoring=scoring)  # no row: the empty form
    out = pd.concat(parts, ignore_index=True)
    del parts
    out = out.sort_values(["ts_ms", "coin", "detector_id"], kind="stable")
    return DETECTOR_WINDOWS_SCHEMA.validate(out.reset_index(drop=True))


@dataclass(frozen=True)
class SignalDay:
    events: pd.DataFrame
    curator_log: pd.DataFrame
    kpis: pd.DataFrame
    meta: pd.DataFrame
    bus: pd.DataFrame
    priors: ActivePriors
    history: HistoryQuality
    timings: dict[str, float] = field(default_factory=dict)


def join_dsi(windows: pd.DataFrame, dsi: pd.DataFrame | None) -> tuple[np.ndarray, np.ndarray]:
    """(mx_evidence, mx_confirm) per window from the DSI frame on (coin, ts_ms); 0 where
    DSI has no row (no evidence is not evidence against)."""
    n = len(windows)
    if dsi is None or len(dsi) == 0:
        return np.zeros(n), np.zeros(n, dtype=np.int8)
    missing = [c for c in DSI_COLUMNS if c not in dsi.columns]
    if missing:
        raise ValueError(f"dsi_annotations lacks columns {missing}; expected {list(DSI_COLUMNS)}")
    d = dsi[list(DSI_COLUMNS)].drop_duplicates(["coin", "ts_ms"], keep="last")
    key = pd.MultiIndex.from_arrays([d["coin"].astype(str), d["ts_ms"].astype(np.int64)])
    want = pd.MultiIndex.from_arrays([windows["coin"].astype(str),
                                      windows["ts_ms"].astype(np.int64)])
    pos = key.get_indexer(want)
    ok = pos >= 0
    mx = np.zeros(n)
    conf = np.zeros(n, dtype=np.int8)
    mx[ok] = np.clip(np.nan_to_num(d["mx_evidence"].to_numpy(dtype=np.float64)[pos[ok]]), 0, 1)
    conf[ok] = (d["mx_confirm"].to_numpy()[pos[ok]] > 0).astype(np.int8)
    return mx, conf


def join_dsi_one(dsi: Mapping[str, Any] | None) -> tuple[float, int]:
    """join_dsi of one row's DSI annotation (None: DSI has no row)."""
    if dsi is None:
        return 0.0, 0
    return (clip_one(nan_to_num_one(float(dsi["mx_evidence"])), 0.0, 1.0),
            1 if dsi["mx_confirm"] > 0 else 0)


def _gates_json(frame: pd.DataFrame) -> pd.Series:
    if len(frame) == 0:
        return pd.Series([], dtype="str")
    text = frame[list(GATES)].astype(np.float64).round(6).to_json(orient="records", lines=True)
    return pd.Series(text.rstrip("\n").split("\n"), index=frame.index, dtype="str")


_INF = float("inf")


def _json_double(x: float) -> str:
    """pandas' to_json text of one float (its ujson encoder, double_precision=10) after
    DataFrame.round(6) (numpy's: rint(x * 1e6) / 1e6): the scalar form of `_gates_json`."""
    scaled = x * 1e6
    if not -_INF < scaled < _INF:  # NaN, inf, or numpy's round overflowing to inf: null
        return "null"
    micros = round(scaled)
    if 0 <= micros < 1_000_000:  # the common case, [0, 1): six decimals, zeros stripped
        return "0." + (str(micros).rjust(6, "0").rstrip("0") or "0")
    value = micros / 1e6
    neg = value < 0
    if neg:
        value = -value
    if value > 1e16 - 1 or (value != 0.0 and value < 1e-15):
        return "%.10g" % (-value if neg else value)
    whole = int(value)
    tmp = (value - whole) * 1e10
    frac = int(tmp)
    diff = tmp - frac
    if diff > 0.5 or (diff == 0.5 and (frac == 0 or frac & 1)):
        frac += 1
    if frac >= 10_000_000_000:
        frac, whole = 0, whole + 1
    text = f"{whole}.{str(frac).rjust(10, '0').rstrip('0')}" if frac else f"{whole}.0"
    return "-" + text if neg else text


_GATE_KEYS = tuple((f'"{g}":', g) for g in GATES)


def gates_json_one(row: Mapping[str, Any]) -> str:
    """The `gates` text of one signal_events row, byte-identical to `_gates_json` (the live
    stream's scalar form; bools and ints count as floats, as there)."""
    return "{" + ",".join([k + _json_double(float(row[g])) for k, g in _GATE_KEYS]) + "}"


@dataclass(frozen=True)
class _Core:
    """Everything up to the per-window scores (what the audits compare), before the council."""

    windows: pd.DataFrame
    derived: pd.DataFrame
    entrain: np.ndarray
    ctx: pd.DataFrame
    hq: HistoryQuality
    sq: pd.DataFrame
    base: pd.DataFrame
    res: Mapping[str, np.ndarray]
    eff: Any
    lits: Any
    mx: np.ndarray
    confirm: np.ndarray
    sigma: np.ndarray
    signal: np.ndarray


class ExtraDetectors(Protocol):
    """Detectors whose windows are made outside the engine (the breeder's exploration
    specs, lotus_core/breeding/scoring.py): their specs (status `exploration`) and windows
    in run_detectors' columns. Scored and curated like any other window (nightly only)."""

    @property
    def specs(self) -> Sequence[DetectorSpec]: ...

    def windows(self, frames: pd.DataFrame) -> pd.DataFrame: ...


def _score_core(frames: pd.DataFrame, specs: Sequence[DetectorSpec], cfg: ScoringConfig,
                hq: HistoryQuality, dsi: pd.DataFrame | None, priors: ActivePriors,
                timings: dict[str, float], t0: float,
                extra: ExtraDetectors | None = None,
                known: Mapping[str, pd.DataFrame] | None = None) -> _Core:
    """Detectors, meta features, window quality and the kernel: score_day's first half, and
    all of what `score_columns` returns (one code path, so the two cannot disagree).
    `known`: coins whose windows are found already (`run_detectors`)."""
    spec_map = {s.id: s for s in specs}
    outside = {s.id for s in extra.specs} if extra is not None else set()
    found = run_detectors(frames, [s for s in specs if s.id not in outside], known)
    if extra is not None and len(extra.specs):
        found = pd.concat([found, extra.windows(frames)], ignore_index=True).sort_values(
            ["ts_ms", "coin", "detector_id"], kind="stable").reset_index(drop=True)
    windows = _with_ids(found, specs)
    timings["detectors"] = time.perf_counter() - t0
    t = time.perf_counter()
    derived = frame_features(frames, cfg)
    horizons = {s.id: s.horizon_s for s in specs}
    entrain = entrainment(frames, windows, horizons)
    timings["meta"] = time.perf_counter() - t
    t = time.perf_counter()

    fi = windows["frame_idx"].to_numpy()
    ctx = frames.iloc[fi][list(CONTEXT_FROM_FRAMES)].reset_index(drop=True)
    for c in ("spread_rel", "flow", "kr_hbar", "ms_kairos", "ms_asym_score", "ms_asym_z_oi",
              "ms_asym_z_funding", "ms_asym_z_basis", "ms_asym_z_depth"):
        ctx[c] = derived[c].to_numpy()[fi]
    ctx["ms_entrain_r"] = entrain[fi]
    mx, confirm = join_dsi(windows, dsi)
    ctx["mx_evidence"] = mx
    ctx["direction"] = windows["direction"].to_numpy()

    sq = window_quality(windows, ctx, hq, specs, cfg.sq)
    theta_min, phi_max = priors.caps(cfg.kr)
    base = base_kernel(windows, ctx, spec_map, cfg.kr, theta_min)
    lits = literals(ctx, priors.context(cfg.context))
    eff = patch_effects(windows, lits, priors)
    res = resonance(base["kr_phi"].to_numpy(), base["kr_theta_base"].to_numpy(), mx,
                    eff.theta_delta, eff.phi_mult, cfg.dsi, Caps(theta_min, phi_max))
    sigma = det_sigma(sq["sq_score"].to_numpy(), res["kr_delta_phi"], cfg.u)
    scale = windows["detector_id"].map({s.id: s.strength_scale for s in specs}).to_numpy(
        dtype=np.float64)
    signal = windows["direction"].to_numpy() * strength01(windows["raw_strength"].to_numpy(),
                                                          scale)
    timings["scores"] = time.perf_counter() - t
    return _Core(windows, derived, entrain, ctx, hq, sq, base, res, eff, lits, mx, confirm,
                 sigma, signal)


# the MicroTape columns the step copies into each event as floats
_ROW_FLOATS = tuple(c for c in EVENT_FLOATS if c not in ("spread_rel", "flow"))


class WindowScorer:
    """`_score_core`'s per-window columns (before the council), one MicroTape row at a time.

    `push(row, dsi, windows)` takes one row (rows in (ts_ms, coin) order), its DSI
    annotation (or None) and the windows the detectors fired on it, and returns the
    STREAM_COLUMNS of each window, as `score_day(...).events` has them. State is per coin
    (the batch mixes no coins here); one scorer serves one UTC day.

    `hq` is `history_quality(history, specs, scoring.sq)` (computed once per day);
    `cadence_ms` the grid step (`features.cadence_ms` of the day's frames). `priors` may be
    replaced at any time (a new nightly version): later windows use the new one.
    """

    def __init__(self, specs: Sequence[DetectorSpec], scoring: ScoringConfig,
                 hq: HistoryQuality, priors: ActivePriors, cadence_ms: int) -> None:
        self.cfg = scoring
        self.hq = hq
        self._w = EmaWeights.of(ema_spans(scoring, cadence_ms))
        self._cohort = tuple((s.id, s.horizon_s) for s in specs)
        self._dets = {s.id: DetectorKernel.of(s, scoring.kr) for s in specs}
        self._quality = QualityLookup(hq, specs, scoring.sq.weights)
        self._gains = dsi_gains(scoring.dsi)
        self._fee = FEE_LEGS * scoring.sq.fee_bps
        self._coins: dict[str, CoinState] = {}
        self._priors = priors
        self._pv = PriorsView.of(priors, scoring)

    @property
    def priors(self) -> ActivePriors:
        return self._priors

    @priors.setter
    def priors(self, value: ActivePriors) -> None:
        self._priors = value
        self._pv = PriorsView.of(value, self.cfg)

    def push(self, row: Mapping[str, Any], dsi: Mapping[str, Any] | None,
             windows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """Advance the row's coin by one row; the scored columns of the row's windows."""
        coin = str(row["coin"])
        st = self._coins.get(coin)
        if st is None:
            st = self._coins[coin] = CoinState()
        sp, rv = float(row["spread_bps"]), float(row["rv_bps"])
        st.push(self._w, sp, float(row["buy_vol"]), float(row["sell_vol"]), rv,
                float(row["trade_count"]), float(row["basis_bps"]))
        if not windows:
            return []
        ts = int(row["ts_ms"])
        for w in windows:
            if str(w["coin"]) != coin or int(w["ts_ms"]) != ts:
                raise ValueError(f"window {w['window_id']} is not of row ({coin}, {ts})")
            st.last[str(w["detector_id"])] = (ts, float(w["direction"]))
        return self._score(row, st, coin, ts, sp, rv, dsi, windows)

    def _score(self, row: Mapping[str, Any], st: CoinState, coin: str, ts: int, sp: float,
               rv: float, dsi: Mapping[str, Any] | None,
               windows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        cfg, kr, pv, quality = self.cfg, self.cfg.kr, self._pv, self._quality
        vals = {c: float(row[c]) for c in _ROW_FLOATS}
        rv_pctl, oi_pctl = vals["rv_pctl"], vals["oi_pctl"]
        funding_pctl, depth = vals["funding_pctl"], vals["depth_5_rel"]
        f = frame_features_one(st, sp, rv, rv_pctl, vals["range_pctl"], oi_pctl, funding_pctl,
                               depth, kr, cfg.meta)
        live, entrain = entrainment_one(st.last, ts, self._cohort)
        mx, confirm = join_dsi_one(dsi)
        stale = int(row["stale_ms"])
        session, regime = str(row["session"]), str(row["regime"])
        book_tape = {**vals, "flow": f.flow}
        q = pv.quantiser
        base = q.row(depth, funding_pctl, f.hbar, mx, oi_pctl, regime, rv_pctl, session,
                     f.spread1, book_tape)
        by_dir: dict[float, tuple[str, tuple[tuple[str, float, float], ...]]] = {}
        krow = kernel_row_one(vals["book_imb_5"], f.flow, vals["microprice_drift_bps"],
                              f.p_spread, float(stale), depth, kr)
        theta_min, phi_max, (gamma, beta), u = pv.theta_min, pv.phi_max, self._gains, cfg.u
        cost = sp + self._fee
        out = []
        for w in windows:
            did = str(w["detector_id"])
            s = float(w["direction"])
            raw = float(w["raw_strength"])
            horizon = int(w["horizon_s"])
            acc, prec, stab, sq_n, orth, sq_cost, sq_score = quality.window_one(
                did, coin, rv, horizon, cost, live)
            strength, phi, theta_base = base_kernel_one(raw, s, regime, self._dets[did], krow,
                                                        kr, theta_min)
            lit = by_dir.get(s)
            if lit is None:
                lits = q.direction(base, book_tape, s)
                lit = by_dir[s] = (cond_key_one(lits), pv.hits(lits, coin))
            dtheta, mult, matched = patch_effects_one(lit[1], did)
            theta, dphi, dphi_base = resonance_one(phi, theta_base, mx, dtheta, mult, gamma,
                                                   beta, theta_min, phi_max)
            out.append({
                "window_id": str(w["window_id"]), "ts_ms": ts, "coin": coin,
                "detector_id": did, "recipe_hash": str(w["recipe_hash"]),
                "horizon_s": horizon, "direction": int(w["direction"]), "raw_strength": raw,
                "signal": clip_one(s * strength, -1.0, 1.0),
                "sq_accuracy": acc, "sq_precision": prec, "sq_stability": stab,
                "sq_orthogonality": orth, "sq_cost": sq_cost, "sq_score": sq_score,
                "sq_n": sq_n, "kr_phi": phi, "kr_theta_base": theta_base,
                "kr_theta": theta, "kr_delta_phi_base": dphi_base,
                "kr_delta_phi": dphi, "kr_hbar": f.hbar, "kr_rho": self._dets[did].rho,
                "det_sigma": det_sigma_one(sq_score, dphi, u),
                "mx_evidence": mx, "mx_confirm": confirm, "priors_ver": pv.version,
                "prior_theta_delta": dtheta, "prior_phi_mult": mult,
                "prior_patches": matched, "ms_kairos": f.kairos, "ms_entrain_r": entrain,
                "ms_asym_score": f.asym, "ms_asym_z_oi": f.z_oi, "ms_asym_z_funding": f.z_f,
                "ms_asym_z_basis": f.z_b, "ms_asym_z_depth": f.z_d, "session": session,
                "regime": regime, "rv_pctl": rv_pctl, "oi_pctl": oi_pctl,
                "funding_pctl": funding_pctl, "range_pctl": vals["range_pctl"],
                "spread_bps": vals["spread_bps"], "spread_rel": f.spread_rel,
                "depth_slope": vals["depth_slope"], "depth_5_rel": depth,
                "trend_eff": vals["trend_eff"], "book_imb_5": vals["book_imb_5"],
                "aggr_imb": vals["aggr_imb"], "flow": f.flow, "basis_bps": vals["basis_bps"],
                "oi_delta": vals["oi_delta"], "book_imb_1": vals["book_imb_1"],
                "book_imb_10": vals["book_imb_10"], "aggr_runlen": vals["aggr_runlen"],
                "microprice_drift_bps": vals["microprice_drift_bps"],
                "cancel_rate": vals["cancel_rate"], "stale_ms": stale,
                "mid_px": float(row["mid_px"]), "cond_key": lit[0],
            })
        return out


SCORE_COLUMNS = ("raw_strength", "signal", "sq_score", "kr_phi", "kr_theta", "kr_delta_phi",
                 "kr_hbar", "kr_rho", "det_sigma")


def score_columns(frames: pd.DataFrame, specs: Sequence[DetectorSpec], *,
                  scoring: ScoringConfig, hq: HistoryQuality, dsi: pd.DataFrame | None = None,
                  priors: ActivePriors = NO_PRIORS,
                  known: Mapping[str, pd.DataFrame] | None = None) -> pd.DataFrame:
    """ts_ms, coin, direction, detector_id and the SCORE_COLUMNS of every window: the same
    values score_day's events carry (same code), without the council, the bus, the schema
    check and the KPIs. For callers that re-score a tape many times and compare scores
    (the future-touch and adversarial audits); `hq` is history_quality(...) computed once,
    `known` the coins whose `run_detectors` windows they hold already."""
    core = _score_core(frames, specs, scoring, hq, dsi, priors, {}, time.perf_counter(),
                       known=known)
    w = core.windows
    return pd.DataFrame({
        "ts_ms": w["ts_ms"].astype(np.int64).to_numpy(), "coin": w["coin"].astype("str"),
        "direction": w["direction"].astype(np.int8).to_numpy(),
        "detector_id": w["detector_id"].astype("str"),
        "raw_strength": w["raw_strength"].astype(np.float64).to_numpy(),
        "signal": np.clip(core.signal, -1.0, 1.0),
        "sq_score": core.sq["sq_score"].to_numpy(), "kr_phi": core.base["kr_phi"].to_numpy(),
        "kr_theta": core.res["kr_theta"], "kr_delta_phi": core.res["kr_delta_phi"],
        "kr_hbar": core.ctx["kr_hbar"].to_numpy(), "kr_rho": core.base["kr_rho"].to_numpy(),
        "det_sigma": core.sigma,
    }).reset_index(drop=True)


def score_day(
    frames: pd.DataFrame,
    day: str,
    *,
    fingerprint: str | None,
    history: History = None,
    dsi: pd.DataFrame | None = None,
    priors: ActivePriors = NO_PRIORS,
    audit: Mapping[str, Mapping[str, Any]] | pd.DataFrame | None = None,
    detectors: DetectorSet | Sequence[DetectorSpec] | None = None,
    scoring: ScoringConfig,
    council: CouncilConfig,
    evaluate: bool = True,
    actions: Sequence[Mapping[str, Any]] = (),
    extra: ExtraDetectors | None = None,
) -> SignalDay:
    """Score every window of `day`'s MicroTape `frames`.

    history: earlier days' detector_windows (with a `date` column), whole or a coin-day at
    a time (`quality.History`); None/empty = priors.
    dsi: dsi_annotations (coin, ts_ms, mx_evidence, mx_confirm) or None.
    fingerprint: the raw feed's sha256 (bare hex or `sha256:`-prefixed).
    audit: per-detector {leakage_ok, adversarial_ok, fragility, card_ok}; default all ok.
    evaluate: judge the curator KPIs on the day's realised outcomes (nightly only).
    actions: the Curator API's detector vetoes and nudges (curator_actions rows); the
    council applies those in force per window (lotus_core.curators.standing).
    extra: detectors made outside the engine (settings `scoring.exploration`: the breeder's
    survivors, status `exploration`); None = the engine's detectors only.
    scoring, council: the configurations the entry point loaded (scoring.yaml, curators.yaml:
    the asset's config paths, the settings' `scoring.config`), the same objects nightly and
    live.
    """
    t0 = time.perf_counter()
    ds = _day_scoring(day, fingerprint, history, priors, audit, detectors, scoring, council,
                      evaluate, actions, extra)
    return _whole(_score_part(frames, dsi, ds), ds, t0)


def score_by_coin(tape: CoinDay, day: str, *, fingerprint: str | None,
                  history: History = None,
                  dsi: pd.DataFrame | CoinDay | None = None,
                  priors: ActivePriors = NO_PRIORS,
                  audit: Mapping[str, Mapping[str, Any]] | pd.DataFrame | None = None,
                  detectors: DetectorSet | Sequence[DetectorSpec] | None = None,
                  scoring: ScoringConfig, council: CouncilConfig,
                  evaluate: bool = True, actions: Sequence[Mapping[str, Any]] = (),
                  extra: ExtraDetectors | None = None,
                  shared: ScoringDay | None = None) -> CoinScoring:
    """`score_day` of a MicroTape partition read one coin at a time (the scores, the council
    and the meta-signals are per coin given the history and the DSI rows, which are shared
    or read per coin: tests/core/signals/test_per_coin.py); the curator KPIs pool the
    coins' windows once at the end. Lazy: `CoinScoring.day()` gives score_day's tables in
    its order; `CoinScoring.meta()` hands each coin's meta-signals on as it is scored (the
    lake writes them a coin at a time), and `day()` then holds none of them. `shared`: the
    day's stored `ScoringDay` (a coin's run of `score_signals`), in place of the fingerprint,
    history, priors, audit and actions."""
    return CoinScoring(tape, day, dict(
        fingerprint=fingerprint, history=history, priors=priors, audit=audit,
        detectors=detectors, scoring=scoring, council=council, evaluate=evaluate,
        actions=actions, extra=extra), dsi, shared)


class CoinScoring:
    """A day scored coin by coin (`score_by_coin`): each coin once, whichever is asked.

    Each coin's events, curator log and Signal Bus rows are put aside on disk (`CoinSpill`)
    in their order within the coin and read back merged into the day's order (`streamed`);
    the KPIs are a fold over the coins (`KpiTally`). So the step holds a coin's tables and a
    slice of the day's, not the day."""

    def __init__(self, tape: CoinDay, day: str, kw: dict[str, Any],
                 dsi: pd.DataFrame | CoinDay | None, shared: ScoringDay | None = None) -> None:
        self._t0 = time.perf_counter()
        self._tape, self._day, self._kw, self._dsi = tape, day, kw, dsi
        self._ds = _day_scoring(day, kw["fingerprint"], kw["history"], kw["priors"],
                                kw["audit"], kw["detectors"], kw["scoring"], kw["council"],
                                kw["evaluate"], kw["actions"], kw["extra"], shared)
        self._kpis = KpiTally(self._ds.ccfg.tau_publish)
        self._log_rows = self._log_vetoes = self._bus_rows = 0
        self._council_seconds = 0.0
        self._timings: dict[str, float] = {}
        self._metas: list[pd.DataFrame] = []
        self._empty: tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame] | None = None
        self._spill: CoinSpill | None = None
        self._coins: list[str] | None = None
        self._complete = False

    def meta(self) -> Iterator[pd.DataFrame]:
        """Each coin's meta-signals, scored now (the lake checks each part against the
        schema as it writes it); the coin's other tables are put aside for `streamed()`,
        its meta-signals are not kept. Ask once, before `streamed()` or `day()`."""
        if self._coins is not None:
            raise RuntimeError("meta() is asked once, before day()")
        yield from self._score_all(keep_meta=False)

    def streamed(self) -> ScoredDay:
        """The day's tables: events, curator log and bus rows as slices in score_day's
        order (read back from the spill: `close` after they are written), the KPIs whole."""
        if self._coins is None:
            for _ in self._score_all(keep_meta=True):
                pass
        if not self._complete:
            raise RuntimeError("day(): meta() was left before its last coin")
        return self._scored()

    def day(self) -> SignalDay:
        """The day's tables in score_day's order, whole (meta empty when `meta()` gave
        them): `streamed()` laid together, checked against the schema whole."""
        scored = self.streamed()  # a day without coins: its empty forms, from score_day
        try:
            events = SIGNAL_EVENTS_SCHEMA.validate(_laid(scored.events(), scored.empty_events))
            log = _laid(scored.curator_log(), scored.empty_log)
            bus = _laid(scored.bus(), scored.empty_bus)
            meta = META_SIGNALS_SCHEMA.validate(_laid(iter(self._metas), self.empty_meta()))
            return SignalDay(events, log, scored.kpis, meta, bus, scored.priors,
                             scored.history, scored.timings)
        finally:
            self.close()

    @property
    def with_dsi(self) -> bool:
        return self._dsi is not None

    def close(self) -> None:
        """Removes the spill (after `streamed()`'s tables are written)."""
        if self._spill is not None:
            self._spill.close()

    def __enter__(self) -> CoinScoring:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _score_all(self, keep_meta: bool) -> Iterator[pd.DataFrame]:
        self._coins = self._tape.coins()
        self._spill = CoinSpill(max(len(self._coins), 1))
        rows = (positions_by(self._dsi["coin"].to_numpy(dtype=object))
                if isinstance(self._dsi, pd.DataFrame) else {})
        none = np.empty(0, dtype=np.int64)
        for coin in self._coins:
            if isinstance(self._dsi, pd.DataFrame):
                dsi = self._dsi.iloc[rows.get(coin, none)]
            elif self._dsi is not None:
                dsi = self._dsi.read(coin, list(DSI_COLUMNS))
            else:
                dsi = None
            part = _score_part(self._tape.read(coin), dsi, self._ds)
            if keep_meta:
                self._metas.append(part.meta)
            self._put(coin, part)
            del dsi
            yield part.meta
        self._complete = True

    def _put(self, coin: str, part: _Part) -> None:
        """The coin's events (sorted in the day's order within the coin), its curator log
        (by its window's place in them) and its bus rows to the spill; its KPIs folded."""
        assert self._spill is not None
        ev = part.events
        order = np.lexsort((ev["detector_id"].to_numpy(dtype=object), ev["ts_ms"].to_numpy()))
        ev = ev.iloc[order].reset_index(drop=True)
        place = pd.Series(np.arange(len(ev)), index=ev["window_id"].to_numpy())
        at = place.loc[part.curator_log["window_id"].to_numpy()].to_numpy()
        log_order = np.argsort(at, kind="stable")
        log = part.curator_log.iloc[log_order].reset_index(drop=True)
        bus = bus_rows(ev, self._ds.history_window, self._ds.fp or "")
        if self._empty is None:
            self._empty = (ev.iloc[:0], log.iloc[:0], bus.iloc[:0])
        if len(ev):
            self._spill.put("signal_events", coin, ev)
            self._spill.put("curator_log", coin,
                            log.assign(**{_LOG_TS: ev["ts_ms"].to_numpy()[at[log_order]]}),
                            time=_LOG_TS)
        if len(bus):
            self._spill.put("bus", coin, bus)
        self._kpis.add(ev, part.outcomes.iloc[order], {
            name: _Marks(v.nudge[order], v.veto[order]) for name, v in part.verdicts.items()})
        self._log_rows += len(log)
        self._log_vetoes += int((log["kind"] == "veto").sum())
        self._bus_rows += len(bus)
        self._council_seconds += part.council_seconds
        for k, v in part.timings.items():
            self._timings[k] = self._timings.get(k, 0.0) + v

    def _scored(self) -> ScoredDay:
        ds, spill = self._ds, self._spill
        assert spill is not None
        if self._empty is None:  # no coin: the empty forms
            empty = score_day(self._tape.whole(), self._day, dsi=self._whole_dsi(), **self._kw)
            return ScoredDay(lambda: iter(()), lambda: iter(()), lambda: iter(()),
                             empty.events, empty.curator_log, empty.bus, empty.kpis,
                             ds.priors, ds.hq, empty.timings, self._kpis, 0, 0, 0)
        timings = dict(self._timings)
        timings["council"] = self._council_seconds
        timings["total"] = time.perf_counter() - self._t0
        return ScoredDay(
            lambda: spill.merged("signal_events"),
            lambda: spill.merged("curator_log", drop=(_LOG_TS,)),
            lambda: spill.merged("bus"),
            *self._empty, self._kpis.table(ds.status, self._council_seconds),
            ds.priors, ds.hq, timings, self._kpis, self._log_rows, self._log_vetoes,
            self._bus_rows)

    @staticmethod
    def empty_meta() -> pd.DataFrame:
        """The meta-signals of a day without rows (their columns and dtypes)."""
        empty = pd.DataFrame({c: pd.Series(dtype=str(col.dtype))
                              for c, col in META_SIGNALS_SCHEMA.columns.items() if c != "coin"})
        empty.insert(0, "coin", pd.Series([], dtype=object).astype("str"))
        return META_SIGNALS_SCHEMA.validate(empty)

    def _whole_dsi(self) -> pd.DataFrame | None:
        if isinstance(self._dsi, pd.DataFrame) or self._dsi is None:
            return self._dsi
        return self._dsi.whole(list(DSI_COLUMNS))


_LOG_TS = "_window_ts_ms"  # the curator log's window time, put for the merge only
def _laid(slices: Iterator[pd.DataFrame], empty: pd.DataFrame) -> pd.DataFrame:
    frames = list(slices)
    return pd.concat(frames, ignore_index=True) if frames else empty


@dataclass(frozen=True)
class _Marks:
    """A curator's nudges and vetoes on a coin's windows: what the KPIs read of a verdict."""

    nudge: np.ndarray
    veto: np.ndarray


@dataclass(frozen=True)
class ScoredDay:
    """A day scored coin by coin: its tables that grow with the windows as slices in the
    day's order (`events()`, `curator_log()`, `bus()`: read back once each from the spill,
    which `CoinScoring.close` removes), the KPIs whole, the counts the metadata reports
    (`tally`: windows, published, vetoed, per detector)."""

    events: Callable[[], Iterator[pd.DataFrame]]
    curator_log: Callable[[], Iterator[pd.DataFrame]]
    bus: Callable[[], Iterator[pd.DataFrame]]
    empty_events: pd.DataFrame
    empty_log: pd.DataFrame
    empty_bus: pd.DataFrame
    kpis: pd.DataFrame
    priors: ActivePriors
    history: HistoryQuality
    timings: dict[str, float]
    tally: KpiTally
    log_rows: int
    log_vetoes: int
    bus_rows: int


@dataclass(frozen=True)
class _DayScoring:
    """What every part of a day is scored with (resolved once a day)."""

    day: str
    fp: str | None
    specs: list[DetectorSpec]
    cfg: ScoringConfig
    ccfg: CouncilConfig
    hq: HistoryQuality
    status: pd.DataFrame
    priors: ActivePriors
    evaluate: bool
    actions: Sequence[Mapping[str, Any]]
    extra: ExtraDetectors | None

    @property
    def history_window(self) -> str:
        """`first history day..day` (the day alone without history)."""
        return f"{min(self.hq.days) if self.hq.days else self.day}..{self.day}"


def scoring_specs(detectors: DetectorSet | Sequence[DetectorSpec] | None,
                  extra: ExtraDetectors | None) -> list[DetectorSpec]:
    """The detectors a day is scored with: the engine's enabled ones, then the extra ones."""
    return enabled_specs(detectors) + (list(extra.specs) if extra is not None else [])


def _day_scoring(day: str, fingerprint: str | None, history: History,
                 priors: ActivePriors,
                 audit: Mapping[str, Mapping[str, Any]] | pd.DataFrame | None,
                 detectors: DetectorSet | Sequence[DetectorSpec] | None,
                 scoring: ScoringConfig, council: CouncilConfig,
                 evaluate: bool, actions: Sequence[Mapping[str, Any]],
                 extra: ExtraDetectors | None, shared: ScoringDay | None = None) -> _DayScoring:
    """What the day is scored with: `shared` (the day's stored `ScoringDay`, checked against
    the detectors), or the same resolved here from the history, audit, priors, actions."""
    specs = scoring_specs(detectors, extra)
    if shared is None:
        shared = scoring_day(day, fingerprint, history, priors, audit, specs, scoring, actions)
    else:
        shared.check(day, specs)
    return _DayScoring(day, shared.fingerprint, specs, scoring, council,
                       shared.history, shared.status, shared.priors, evaluate,
                       shared.actions, extra)


@dataclass(frozen=True)
class _Part:
    """score_day's tables for one MicroTape (a day, or one coin of it), before the KPIs."""

    events: pd.DataFrame
    curator_log: pd.DataFrame
    meta: pd.DataFrame
    outcomes: pd.DataFrame
    verdicts: Mapping[str, Verdict]  # per curator: arrays aligned with `events`
    council_seconds: float
    timings: dict[str, float]


def _score_part(frames: pd.DataFrame, dsi: pd.DataFrame | None, ds: _DayScoring) -> _Part:
    t0 = time.perf_counter()
    day, fp, specs, cfg, ccfg = ds.day, ds.fp, ds.specs, ds.cfg, ds.ccfg
    priors, status, evaluate = ds.priors, ds.status, ds.evaluate
    spec_map = {s.id: s for s in specs}
    timings: dict[str, float] = {}
    core = _score_core(frames, specs, cfg, ds.hq, dsi, priors, timings, t0, ds.extra)
    windows, derived, entrain, ctx = core.windows, core.derived, core.entrain, core.ctx
    hq, sq, base, res, eff, lits = core.hq, core.sq, core.base, core.res, core.eff, core.lits
    mx, confirm, sigma, signal = core.mx, core.confirm, core.sigma, core.signal
    t = time.perf_counter()

    scored = pd.DataFrame({
        "window_id": windows["window_id"].to_numpy(), "ts_ms": windows["ts_ms"].to_numpy(),
        "coin": windows["coin"].to_numpy(), "detector_id": windows["detector_id"].to_numpy(),
        "recipe_hash": windows["recipe_hash"].to_numpy(),
        "raw_strength": windows["raw_strength"].to_numpy(),
        "sq_accuracy": sq["sq_accuracy"].to_numpy(),
        "sq_orthogonality": sq["sq_orthogonality"].to_numpy(),
        "kr_rho": base["kr_rho"].to_numpy(), "det_sigma": sigma,
    })
    for c in ("kr_hbar", "ms_entrain_r", "regime", "session", "stale_ms", "spread_rel",
              *ccfg.curators.data.context_columns):
        scored[c] = ctx[c].to_numpy()
    u = ids.uniform_draws(ids.window_key(windows["coin"], windows["detector_id"],
                                         windows["ts_ms"]), ccfg.exploration.seed, day)
    council_result, pub = curate(scored, spec_map, ccfg, status, fp, u,
                                 Standing.of(ds.actions, ccfg))
    council_seconds = time.perf_counter() - t
    timings["council"] = council_seconds

    t = time.perf_counter()
    history_window = ds.history_window
    ev = pd.DataFrame({
        "window_id": windows["window_id"].astype("str"),
        "ts_ms": windows["ts_ms"].astype(np.int64),
        "coin": windows["coin"].astype("str"),
        "detector_id": windows["detector_id"].astype("str"),
        "recipe_hash": windows["recipe_hash"].astype("str"),
        "horizon_s": windows["horizon_s"].astype(np.int64),
        "direction": windows["direction"].astype(np.int8),
        "raw_strength": windows["raw_strength"].astype(np.float64),
        "signal": np.clip(signal, -1.0, 1.0),
    })
    for c in ("sq_accuracy", "sq_precision", "sq_stability", "sq_orthogonality", "sq_cost",
              "sq_score", "sq_n"):
        ev[c] = sq[c].to_numpy()
    ev["kr_phi"] = base["kr_phi"].to_numpy()
    ev["kr_theta_base"] = base["kr_theta_base"].to_numpy()
    ev["kr_theta"] = res["kr_theta"]
    ev["kr_delta_phi_base"] = res["kr_delta_phi_base"]
    ev["kr_delta_phi"] = res["kr_delta_phi"]
    ev["kr_hbar"] = ctx["kr_hbar"].to_numpy()
    ev["kr_rho"] = base["kr_rho"].to_numpy()
    ev["det_sigma"] = sigma
    ev["mx_evidence"] = mx
    ev["mx_confirm"] = confirm.astype(np.int8)
    ev["priors_ver"] = np.int64(priors.version)
    ev["prior_theta_delta"] = eff.theta_delta
    ev["prior_phi_mult"] = eff.phi_mult
    ev["prior_patches"] = eff.matched.astype(np.int64)
    for c in ("ms_kairos", "ms_entrain_r", "ms_asym_score", "ms_asym_z_oi", "ms_asym_z_funding",
              "ms_asym_z_basis", "ms_asym_z_depth"):
        ev[c] = ctx[c].to_numpy(dtype=np.float64)
    ev["nudge_sum"] = council_result.nudge_sum
    ev["curated_sigma"] = pub.curated_sigma
    ev["vetoed"] = council_result.vetoed.astype(bool)
    ev["vetoes"] = pd.Series(council_result.vetoes, dtype="str")
    ev["propensity"] = pub.propensity
    ev["paper"] = pub.paper.astype(bool)
    ev["gates"] = _gates_json(ev.assign(paper=ev["paper"].astype(np.float64),
                                        mx_confirm=ev["mx_confirm"].astype(np.float64)))
    ev["tau_publish"] = float(ccfg.tau_publish)
    ev["above_threshold"] = pub.above.astype(bool)
    ev["published"] = pub.published.astype(bool)
    ev["explore_u"] = u
    for c in ("session", "regime"):
        ev[c] = ctx[c].astype("str").to_numpy()
    for c in EVENT_FLOATS:
        ev[c] = ctx[c].to_numpy(dtype=np.float64)
    ev["stale_ms"] = ctx["stale_ms"].to_numpy(dtype=np.int64)
    ev["mid_px"] = ctx["mid_px"].to_numpy(dtype=np.float64)
    ev["cond_key"] = cond_keys(lits).to_numpy()
    ev["data_fingerprint"] = fp or ""
    ev["history_days"] = np.int64(len(hq.days))
    ev["history_window"] = history_window
    for c in ("session", "regime", "cond_key", "data_fingerprint", "history_window", "vetoes",
              "gates"):
        ev[c] = ev[c].astype("str")
    events = ev[list(SIGNAL_EVENTS_SCHEMA.columns)]  # checked once a day: _whole, or slice by slice

    meta = pd.DataFrame({
        "coin": frames["coin"].astype("str").to_numpy(),
        "ts_ms": frames["ts_ms"].to_numpy(dtype=np.int64),
        "kr_hbar": derived["kr_hbar"].to_numpy(),
        "ms_kairos": derived["ms_kairos"].to_numpy(),
        "ms_entrain_r": entrain,
    })
    for c in ("ms_asym_score", "ms_asym_z_oi", "ms_asym_z_funding", "ms_asym_z_basis",
              "ms_asym_z_depth"):
        meta[c] = derived[c].to_numpy()
    meta["coin"] = meta["coin"].astype("str")
    timings["assemble"] = time.perf_counter() - t

    if evaluate:
        outcomes = window_outcomes(windows, frames, cfg.sq.fee_bps).reset_index(drop=True)
    else:  # live: outcomes are not known yet, so the outcome KPIs stay NaN
        outcomes = pd.DataFrame({"net_ret_bps": np.full(len(events), np.nan),
                                 "outcome_ok": np.zeros(len(events), dtype=bool)})
    return _Part(events, council_result.log, meta, outcomes, council_result.verdicts,
                 council_seconds, timings)


def _whole(part: _Part, ds: _DayScoring, t0: float) -> SignalDay:
    """A whole day's part as its SignalDay: the tables checked, the bus rows and the KPIs
    over every window (`CoinScoring` makes the same from a day's coins)."""
    events = SIGNAL_EVENTS_SCHEMA.validate(part.events)
    meta = META_SIGNALS_SCHEMA.validate(part.meta)
    bus = bus_rows(events, ds.history_window, ds.fp or "")
    kpis = curator_kpis(events, part.outcomes, part.verdicts, ds.status, ds.ccfg.tau_publish,
                        part.council_seconds)
    timings = dict(part.timings)
    timings["total"] = time.perf_counter() - t0
    return SignalDay(events, part.curator_log, kpis, meta, bus, ds.priors, ds.hq, timings)
