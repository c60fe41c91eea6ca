"""Budgets: meta-signal multipliers and the drawdown ratchet. They scale the risk and
turnover budgets (and the ratchet the gross budget); they never touch μ.

- timing      b_K   = low + (high − low)·ms_kairos
- entrainment b_r   = low + (high − low)·ms_entrain_r
- asymmetry   m_asym = low + (high − low)·ms_asym_score
  each in [low, high] = [0.75, 1.25] by default (a missing meta-signal gives 1); their
  product, clipped to [low, high], multiplies the risk target and the day's turnover budget.
- drawdown dd = 1 − equity/peak: the gross budget is multiplied by 1 down to
  drawdown_floor linearly between drawdown_start and drawdown_stop; once dd > drawdown_start
  no multiplier may exceed 1 (the seeds' "drawdown > d* → m_max → 1").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lotus_core.dm.config import AllocatorSettings, BudgetSettings


@dataclass(frozen=True)
class Multipliers:
    timing: float
    entrainment: float
    asymmetry: float
    combined: float  # what scales the risk and turnover budgets

    def as_ticket(self) -> dict[str, float]:
        return {"timing": round(self.timing, 6), "entrainment": round(self.entrainment, 6),
                "asymmetry": round(self.asymmetry, 6)}


def _scale(value: float, cfg: BudgetSettings, cap: float) -> float:
    if not math.isfinite(value):
        return min(1.0, cap)
    m = cfg.low + (cfg.high - cfg.low) * min(max(value, 0.0), 1.0)
    return min(m, cap)


def multipliers(kairos: float, entrain: float, asym: float, cfg: BudgetSettings,
                drawdown: float, alloc: AllocatorSettings) -> Multipliers:
    cap = 1.0 if drawdown > alloc.drawdown_start else cfg.high
    t, e, a = (_scale(kairos, cfg, cap), _scale(entrain, cfg, cap), _scale(asym, cfg, cap))
    combined = min(max(t * e * a, cfg.low), min(cfg.high, cap))
    return Multipliers(t, e, a, combined)


def drawdown_gross_multiplier(drawdown: float, cfg: AllocatorSettings) -> float:
    """1 until drawdown_start, then linearly down to drawdown_floor at drawdown_stop."""
    if drawdown <= cfg.drawdown_start:
        return 1.0
    if drawdown >= cfg.drawdown_stop:
        return cfg.drawdown_floor
    frac = (drawdown - cfg.drawdown_start) / (cfg.drawdown_stop - cfg.drawdown_start)
    return 1.0 - frac * (1.0 - cfg.drawdown_floor)
