"""The knobs of expert credit, validated (one strict model, defaults documented here)."""

from __future__ import annotations

from pydantic import Field

from lotus_core.strict import StrictModel


class CreditConfig(StrictModel):
    orders: int = Field(12, ge=8, le=16)
    """Random inclusion orders of the Shapley-lite estimate (8-16)."""
    seed: int = Field(20260105, ge=0)
    """Seeds the inclusion orders: the same seed, the same orders, the same credit."""
    players: tuple[str, ...] = ()
    """The experts credited (empty: every active expert); the others stay in throughout."""
    window_days: int = Field(7, ge=1, le=28)
    """Days replayed per run (the run's day and the days before it that were scored)."""
    retire_weeks: int = Field(4, ge=1, le=52)
    """An expert whose outcome credit was not positive in each of this many consecutive
    credited weeks is proposed for retirement to the curators (never removed)."""
