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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from lotus_core.signals.config import DsiConfig, KrConfig
from lotus_core.signals.meta import spread_penalty
from lotus_core.signals.spec import DetectorSpec


def strength01(raw: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """raw_strength >= 0 mapped to [0, 1): 1 - exp(-raw / scale)."""
    return 1.0 - np.exp(-np.maximum(np.asarray(raw, dtype=np.float64), 0.0) / scale)


def kr_rho(spec: DetectorSpec, kr: KrConfig) -> float:
    """Recipe complexity in [0, 1): n / (n + rho_half), n = the recipe's free parameters."""
    n = float(spec.complexity)
    return n / (n + kr.rho_half)


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
    phi = strength01(windows["raw_strength"].to_numpy(), scale) * (0.75 + 0.25 * np.clip(
        align, -1.0, 1.0))

    p_spread = spread_penalty(ctx["spread_rel"].to_numpy(dtype=np.float64), kr.spread_excess)
    stale = ctx["stale_ms"].to_numpy(dtype=np.float64)
    p_stale = np.clip((stale - kr.stale_free_ms) / (kr.stale_full_ms - kr.stale_free_ms), 0, 1)
    pen = pd.Series({(d, r): p for d, s in sp.items() for r, p in s.regime_penalty.items()},
                    dtype=np.float64)
    where = pd.MultiIndex.from_arrays([det, ctx["regime"].astype(str)])
    p_regime = (pen.reindex(where).fillna(0.0).to_numpy() if len(pen)
                else np.zeros(len(det)))
    depth = ctx["depth_5_rel"].to_numpy(dtype=np.float64)
    p_vac = kr.vacuum_weight * np.clip(np.nan_to_num((kr.vacuum_rel - depth) / kr.vacuum_rel,
                                                     nan=0.0), 0.0, 1.0)
    p_rho = kr.rho_weight * rho
    keep = (1 - p_spread) * (1 - p_stale) * (1 - p_regime) * (1 - p_vac) * (1 - p_rho)
    theta = np.maximum(theta_min, 1.0 - keep)
    return pd.DataFrame({"kr_phi": np.clip(phi, 0.0, 1.0), "kr_theta_base": np.clip(theta, 0, 1),
                         "kr_rho": rho, "align": align}, index=windows.index)


@dataclass(frozen=True)
class Caps:
    theta_min: float
    phi_max: float


def resonance(kr_phi: np.ndarray, kr_theta_base: np.ndarray, mx: np.ndarray,
              theta_delta: np.ndarray, phi_mult: np.ndarray, dsi: DsiConfig,
              caps: Caps) -> dict[str, np.ndarray]:
    """DSI relief and boost, then the prior patches; returns kr_theta, kr_delta_phi and the
    pre-DSI, pre-prior kr_delta_phi_base."""
    mx = np.clip(np.nan_to_num(np.asarray(mx, dtype=np.float64)), 0.0, 1.0)
    gamma = min(dsi.gamma_mx, dsi.gamma_cap)
    beta = min(dsi.beta_mx, dsi.beta_cap)
    theta_dsi = np.maximum(caps.theta_min, kr_theta_base - gamma * mx)
    theta = np.minimum(1.0, np.maximum(caps.theta_min, theta_dsi + theta_delta))
    dphi_base = kr_phi * (1.0 - kr_theta_base)
    dphi = kr_phi * (1.0 - theta)
    dphi = np.minimum(caps.phi_max, dphi * (1.0 + beta * mx))
    dphi = np.minimum(caps.phi_max, dphi * phi_mult)
    return {"kr_theta": theta, "kr_delta_phi": np.clip(dphi, 0.0, 1.0),
            "kr_delta_phi_base": np.clip(dphi_base, 0.0, 1.0)}


def det_sigma(sq_score: np.ndarray, kr_delta_phi: np.ndarray, u: float) -> np.ndarray:
    """sq_score^u * kr_delta_phi^(1 - u), in [0, 1], non-decreasing in both."""
    sq = np.clip(np.asarray(sq_score, dtype=np.float64), 0.0, 1.0)
    dp = np.clip(np.asarray(kr_delta_phi, dtype=np.float64), 0.0, 1.0)
    return np.clip(sq ** u * dp ** (1.0 - u), 0.0, 1.0)
