"""Fusion: the live alphas of one coin become one expected return per horizon.

Per horizon h (docs/dm.md):

1. each live alpha i has a calibrated forecast (μ̂_i = λ_i μ_i, σ_i, p_hit_i, λ_i) and its
   edge e_i, the bound of its calibrated interval nearest 0 (0 where the interval holds 0:
   docs/dm.md, "Trade only what pays"); precision × reliability: p_i = λ_i / (σ_i² + τ0);
2. correlated alphas are merged, not double counted: in order of p_i, an alpha joins the
   first cluster whose leader's realised returns correlate with its own above rho_max
   (two alphas of one detector always do); a cluster's μ is the p-weighted mean of its
   members' edges and its weight the leader's p alone;
3. normalised cluster weights are multiplied by the time decay 0.5^(age / half_life_h),
   so a fading alpha fades the blend towards 0: μ̃ = Σ_c w_c e_c;
4. every alpha's final weight (its share of its cluster × the cluster's weight) is
   reported, together with the cluster it was merged into.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lotus_core.dm.alpha import AlphaEvent
from lotus_core.dm.calibration import Calibration, Forecast
from lotus_core.dm.config import FusionSettings


@dataclass(frozen=True)
class Blend:
    """The fused view of one coin at one horizon."""

    horizon_s: int
    mu_bps: float  # the blended edge, signed: > 0 expects the coin to rise
    sigma_bps: float
    p_up: float  # probability the coin's move over h is up (hit-calibrated)
    weights: tuple[tuple[str, float], ...]  # (alpha key, final weight), largest first
    merged: tuple[tuple[str, str], ...]  # (alpha key, the cluster leader it joined)
    reliability: float  # weighted mean λ of the alphas used


def alpha_key(a: AlphaEvent) -> str:
    """How the ticket names an alpha: detector@coin:strand id."""
    return f"{a.detector_id}@{a.coin}:{a.alpha_id}"


def half_life(cfg: FusionSettings, horizon_s: int) -> float:
    return float(cfg.half_life_s.get(horizon_s, float(horizon_s)))


def is_live(a: AlphaEvent, now_ms: int, cfg: FusionSettings) -> bool:
    """Not older than max_age_half_lives of the longest horizon's half-life."""
    return 0 <= now_ms - a.ts_ms <= live_ms(cfg)


def live_ms(cfg: FusionSettings) -> float:
    """How old an alpha may be and still be live (`is_live`): a decision asks once, not
    once per alpha it keeps."""
    longest = max([half_life(cfg, h) for h in cfg.half_life_s] or [1.0])
    return cfg.max_age_half_lives * longest * 1000.0


def blend(alphas: Sequence[AlphaEvent], calib: Calibration, horizon_s: int, now_ms: int,
          cfg: FusionSettings) -> Blend:
    """Fuse the coin's live alphas at `horizon_s` (see the module docstring)."""
    hl = half_life(cfg, horizon_s)
    items: list[tuple[float, str, AlphaEvent, Forecast, float]] = []
    for a in alphas:
        age_s = (now_ms - a.ts_ms) / 1000.0
        if a.direction == 0 or age_s < 0 or age_s > cfg.max_age_half_lives * hl:
            continue
        f = calib.forecast(a.detector_id, horizon_s, a.coin, a.curated_sigma, a.direction)
        p = f.reliability / (f.sigma_bps**2 + cfg.tau0_bps2)
        items.append((p, alpha_key(a), a, f, 0.5 ** (age_s / hl)))
    items.sort(key=lambda t: (-t[0], t[1]))
    clusters: list[list[tuple[float, str, AlphaEvent, Forecast, float]]] = []
    for it in items:
        for c in clusters:
            lead = c[0][2]
            rho = 1.0 if lead.detector_id == it[2].detector_id else calib.correlation(
                lead.detector_id, it[2].detector_id, horizon_s)
            if rho > cfg.rho_max:
                c.append(it)
                break
        else:
            clusters.append([it])
    total = sum(c[0][0] for c in clusters)
    if total <= 0:
        return Blend(horizon_s, 0.0, _sigma(items), 0.5,
                     tuple((k, 0.0) for _, k, *_ in items), (), 0.0)
    mu = p_up = rel = 0.0
    weights: list[tuple[str, float]] = []
    merged: list[tuple[str, str]] = []
    for c in clusters:
        lead_p = c[0][0]
        inner = sum(m[0] for m in c)
        for p, key, a, f, decay in c:
            # normalised, before decay; a cluster of zero-reliability alphas weighs nothing
            share = (lead_p / total) * (p / inner) if inner > 0 else 0.0
            w = share * decay
            mu += w * f.edge_bps
            up = f.p_hit if a.direction > 0 else 1.0 - f.p_hit
            p_up += share * up
            rel += share * f.reliability
            weights.append((key, round(w, 12)))
            if key != c[0][1]:
                merged.append((key, c[0][1]))
    weights.sort(key=lambda kv: (-kv[1], kv[0]))
    return Blend(horizon_s, mu, _sigma(items), p_up, tuple(weights), tuple(merged), rel)


def _sigma(items: Sequence[tuple[float, str, AlphaEvent, Forecast, float]]) -> float:
    if not items:
        return 0.0
    return sum(f.sigma_bps for _, _, _, f, _ in items) / len(items)
