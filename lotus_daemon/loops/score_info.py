"""What the score loop reports before its first step: its own thread's `ScoreLoop.info()`,
and the score process's until its child first reports (kept apart from `score.py` so the
daemon's parent process need not import the scorer's stack)."""

from __future__ import annotations

from typing import Any

IDLE_INFO: dict[str, Any] = {
    "steps": 0, "rows": 0, "windows": 0, "posted": 0, "suppressed_stale": 0,
    "priors_ver": 0, "priors_reloads": 0, "last_step_ms": None, "last_step_s": None,
    "kernels_s": None, "days_done": {}, "night": None, "stale_coins": []}
