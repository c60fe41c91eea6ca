"""Shared inputs of the live streaming tests: a fixture day, and MicroTape parameters with
short windows, so the trailing cut, the carry and the trimming all happen within minutes."""

from __future__ import annotations

from pathlib import Path

from lotus_core.microtape import MicroTapeParams

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "fixtures" / "2026-01-02.jsonl.gz"
SHORT = MicroTapeParams(rv_window_ms=10_000, rv_pctl_window_ms=60_000, pctl_min_ms=20_000,
                        trend_window_ms=30_000, depth_rel_window_ms=40_000,
                        depth_rel_min_ms=10_000, ctx_pctl_window_ms=90_000,
                        candle_pctl_window=3, candle_pctl_min=2, outlier_window=11)
