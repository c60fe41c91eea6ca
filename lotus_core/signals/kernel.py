"""kr_*: the kernel scores of a window, DSI's two bounded entry points, the prior patches,
and det_sigma. docs/scoring.md ("kr_*", "DSI", "Active priors") has each formula.

Order of application (each step monotone and bounded):
  theta_base = max(theta_min, 1 - prod(1 - p_k))          context penalty
  theta_dsi  = max(theta_min, theta_base - gamma * mx)     DSI penalty relief
  kr_theta   = min(1, max(theta_min, theta_dsi + sum dtheta))   prior patches
  dphi       = kr_phi * (1 - kr_theta)
  dphi_dsi   = min(phi_max, dphi * (1 + beta * mx))        DSI resonance boost
  kr_delta_phi = min(phi_max, dphi_dsi * prod phi_mult)    prior patches
  det_sigma  = sq_score^u * kr_delta_phi^(1 - u)

One definition: the nightly batch is the fast path of the same rules; the step carries the
state the batch reads. Each `*_one` function is its batch namesake on one window, right
after it (the live step, `pipeline.WindowScorer`); tests/core/signals/
test_signals_scoring.py proves them equal on whole days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lotus_core.signals.config import DsiConfig, KrConfig
from lotus_core.signals.meta import (
    clip_one,
    exp_one,
    nan_to_num_one,
    pow_one,
    spread_penalty,
    tanh_one,
)
from lotus_core.signals.spec import DetectorSpec

ALIGN_BASE, ALIGN_GAIN = 0.75, 0.25  # kr_phi = strength * (ALIGN_BASE + ALIGN_GAIN * align)


def strength01(raw: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """raw_strength >= 0 mapped to [0, 1): 1 - exp(-raw / scale)."""
    return 1.0 - np.exp(-np.maximum(np.asarray(raw, dtype=np.float64), 0.0) / scale)


def strength01_one(raw: float, scale: float) -> float:
    """strength01 of one window."""
    return 1.0 - exp_one(-max(raw, 0.0) / scale)


def kr_rho(spec: DetectorSpec, kr: KrConfig) -> float:
    """Recipe complexity in [0, 1): n / (n + rho_half), n = the recipe's free parameters."""
    n = float(spec.complexity)
    return n / (n + kr.rho_half)


def _stale_frac(stale: np.ndarray | float, kr: KrConfig) -> np.ndarray | float:
    """p_stale before its clip to [0, 1] (arrays or one value, same operations)."""
    return (stale - kr.stale_free_ms) / (kr.stale_full_ms - kr.stale_free_ms)


def _vacuum_frac(depth: np.ndarray | float, kr: KrConfig) -> np.ndarray | float:
    """p_vac / vacuum_weight before its nan_to_num and clip (arrays or one value)."""
    return (kr.vacuum_rel - depth) / kr.vacuum_rel


def base_kernel(windows: pd.DataFrame, ctx: pd.DataFrame, specs: Mapping[str, DetectorSpec],
                kr: KrConfig, theta_min: float) -> pd.DataFrame:
    """kr_phi, kr_theta_base, kr_rho per window (before DSI and priors).

    `ctx` holds book_imb_5, flow, microprice_drift_bps, spread_rel, stale_ms, regime,
    depth_5_rel and kr_hbar of each window's frame.
    """
    det = windows["detector_id"].astype(str)
    sp = {d: specs[d] for d in det.unique()}
    scale = det.map({d: s.strength_scale for d, s in sp.items()}).to_numpy(dtype=np.float64)
    wb = det.map({d: s.align.book for d, s in sp.items()}).to_numpy(dtype=np.float64)
    wf = det.map({d: s.align.flow for d, s in sp.items()}).to_numpy(dtype=np.float64)
    wm = det.map({d: s.align.micro for d, s in sp.items()}).to_numpy(dtype=np.float64)
    rho = det.map({d: kr_rho(s, kr) for d, s in sp.items()}).to_numpy(dtype=np.float64)
    s = windows["direction"].to_numpy(dtype=np.float64)

    book = np.nan_to_num(ctx["book_imb_5"].to_numpy(dtype=np.float64))
    flow = np.nan_to_num(ctx["flow"].to_numpy(dtype=np.float64))
    micro = np.tanh(ctx["microprice_drift_bps"].to_numpy(dtype=np.float64) / kr.micro_scale_bps)
    align = s * (wb * book + wf * flow + wm * micro) / (wb + wf + wm)
    phi = strength01(windows["raw_strength"].to_numpy(), scale) * (
        ALIGN_BASE + ALIGN_GAIN * np.clip(align, -1.0, 1.0))

    p_spread = spread_penalty(ctx["spread_rel"].to_numpy(dtype=np.float64), kr.spread_excess)
    stale = ctx["stale_ms"].to_numpy(dtype=np.float64)
    p_stale = np.clip(_stale_frac(stale, kr), 0, 1)
    pen = pd.Series({(d, r): p for d, s in sp.items() for r, p in s.regime_penalty.items()},
                    dtype=np.float64)
    where = pd.MultiIndex.from_arrays([det, ctx["regime"].astype(str)])
    p_regime = (pen.reindex(where).fillna(0.0).to_numpy() if len(pen)
                else np.zeros(len(det)))
    depth = ctx["depth_5_rel"].to_numpy(dtype=np.float64)
    p_vac = kr.vacuum_weight * np.clip(np.nan_to_num(_vacuum_frac(depth, kr), nan=0.0),
                                       0.0, 1.0)
    p_rho = kr.rho_weight * rho
    keep = (1 - p_spread) * (1 - p_stale) * (1 - p_regime) * (1 - p_vac) * (1 - p_rho)
    theta = np.maximum(theta_min, 1.0 - keep)
    return pd.DataFrame({"kr_phi": np.clip(phi, 0.0, 1.0), "kr_theta_base": np.clip(theta, 0, 1),
                         "kr_rho": rho, "align": align}, index=windows.index)


@dataclass(frozen=True, slots=True)
class DetectorKernel:
    """A detector's constants in base_kernel (its spec's terms), for the step."""

    scale: float
    wb: float
    wf: float
    wm: float
    wsum: float  # wb + wf + wm, in base_kernel's order
    rho: float
    penalty: Mapping[str, float]

    @classmethod
    def of(cls, spec: DetectorSpec, kr: KrConfig) -> DetectorKernel:
        wb, wf, wm = float(spec.align.book), float(spec.align.flow), float(spec.align.micro)
        return cls(float(spec.strength_scale), wb, wf, wm, wb + wf + wm, kr_rho(spec, kr),
                   dict(spec.regime_penalty))


def kernel_row_one(book_imb_5: float, flow: float, drift_bps: float, p_spread: float,
                   stale_ms: float, depth: float,
                   kr: KrConfig) -> tuple[float, float, float, float, float]:
    """base_kernel's terms of one row, shared by its windows: (book, flow, micro, the row's
    keep (1 - p_spread) * (1 - p_stale), p_vac)."""
    micro = tanh_one(drift_bps / kr.micro_scale_bps)
    p_stale = clip_one(_stale_frac(stale_ms, kr), 0.0, 1.0)
    p_vac = kr.vacuum_weight * clip_one(nan_to_num_one(_vacuum_frac(depth, kr)), 0.0, 1.0)
    return (nan_to_num_one(book_imb_5), nan_to_num_one(flow), micro,
            (1 - p_spread) * (1 - p_stale), p_vac)


def base_kernel_one(raw: float, s: float, regime: str, d: DetectorKernel,
                    row: tuple[float, float, float, float, float], kr: KrConfig,
                    theta_min: float) -> tuple[float, float, float]:
    """base_kernel of one window on a row (`kernel_row_one`): (strength, kr_phi,
    kr_theta_base)."""
    book, flow, micro, keep_row, p_vac = row
    strength = strength01_one(raw, d.scale)
    align = s * (d.wb * book + d.wf * flow + d.wm * micro) / d.wsum
    phi = clip_one(strength * (ALIGN_BASE + ALIGN_GAIN * clip_one(align, -1.0, 1.0)), 0.0, 1.0)
    keep = (keep_row * (1 - d.penalty.get(regime, 0.0)) * (1 - p_vac)
            * (1 - kr.rho_weight * d.rho))
    return strength, phi, clip_one(max(theta_min, 1.0 - keep), 0.0, 1.0)


@dataclass(frozen=True)
class Caps:
    theta_min: float
    phi_max: float


def dsi_gains(dsi: DsiConfig) -> tuple[float, float]:
    """(gamma, beta) in force: DSI's relief and boost weights, each within its cap."""
    return min(dsi.gamma_mx, dsi.gamma_cap), min(dsi.beta_mx, dsi.beta_cap)


def resonance(kr_phi: np.ndarray, kr_theta_base: np.ndarray, mx: np.ndarray,
              theta_delta: np.ndarray, phi_mult: np.ndarray, dsi: DsiConfig,
              caps: Caps) -> dict[str, np.ndarray]:
    """DSI relief and boost, then the prior patches; returns kr_theta, kr_delta_phi and the
    pre-DSI, pre-prior kr_delta_phi_base."""
    mx = np.clip(np.nan_to_num(np.asarray(mx, dtype=np.float64)), 0.0, 1.0)
    gamma, beta = dsi_gains(dsi)
    theta_dsi = np.maximum(caps.theta_min, kr_theta_base - gamma * mx)
    theta = np.minimum(1.0, np.maximum(caps.theta_min, theta_dsi + theta_delta))
    dphi_base = kr_phi * (1.0 - kr_theta_base)
    dphi = kr_phi * (1.0 - theta)
    dphi = np.minimum(caps.phi_max, dphi * (1.0 + beta * mx))
    dphi = np.minimum(caps.phi_max, dphi * phi_mult)
    return {"kr_theta": theta, "kr_delta_phi": np.clip(dphi, 0.0, 1.0),
            "kr_delta_phi_base": np.clip(dphi_base, 0.0, 1.0)}


def resonance_one(phi: float, theta_base: float, mx: float, theta_delta: float,
                  phi_mult: float, gamma: float, beta: float, theta_min: float,
                  phi_max: float) -> tuple[float, float, float]:
    """resonance of one window, `mx` already clipped and (gamma, beta) = dsi_gains(...):
    (kr_theta, kr_delta_phi, kr_delta_phi_base)."""
    theta_dsi = max(theta_min, theta_base - gamma * mx)
    theta = min(1.0, max(theta_min, theta_dsi + theta_delta))
    dphi = min(phi_max, phi * (1.0 - theta) * (1.0 + beta * mx))
    dphi = clip_one(min(phi_max, dphi * phi_mult), 0.0, 1.0)
    return theta, dphi, clip_one(phi * (1.0 - theta_base), 0.0, 1.0)


def det_sigma(sq_score: np.ndarray, kr_delta_phi: np.ndarray, u: float) -> np.ndarray:
    """sq_score^u * kr_delta_phi^(1 - u), in [0, 1], non-decreasing in both."""
    sq = np.clip(np.asarray(sq_score, dtype=np.float64), 0.0, 1.0)
    dp = np.clip(np.asarray(kr_delta_phi, dtype=np.float64), 0.0, 1.0)
    return np.clip(sq ** u * dp ** (1.0 - u), 0.0, 1.0)


def det_sigma_one(sq_score: float, kr_delta_phi: float, u: float) -> float:
    """det_sigma of one window (kr_delta_phi already in [0, 1])."""
    return clip_one(pow_one(clip_one(sq_score, 0.0, 1.0), u) * pow_one(kr_delta_phi, 1.0 - u),
                    0.0, 1.0)
