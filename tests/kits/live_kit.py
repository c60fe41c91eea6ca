"""Shared inputs of the live streaming tests: a fixture day, and MicroTape parameters with
short windows, so the trailing cut, the carry and the trimming all happen within minutes;
the ranks' and medians' windows are longer than the rebuilt span (as the defaults are), so
their carried series are exercised too."""

from __future__ import annotations

from pathlib import Path

from lotus_core.microtape import MicroTapeParams

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "fixtures" / "2026-01-02.jsonl.gz"
SHORT = MicroTapeParams(rv_window_ms=10_000, rv_pctl_window_ms=300_000, pctl_min_ms=20_000,
                        trend_window_ms=30_000, depth_rel_window_ms=400_000,
                        depth_rel_min_ms=10_000, ctx_pctl_window_ms=600_000,
                        candle_pctl_window=3, candle_pctl_min=2, outlier_window=11,
                        funding_rank_days=0)  # funding on the short grid window too
