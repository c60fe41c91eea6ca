"""Small generated recordings for the tests that run the chain through Dagster: the
first minutes of synthetic days, only the coins a test needs (each run of a day costs
per coin and per minute, and order or re-runs do not need a full day)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from lotus_core.synth import default_spec, generate_days
from tests.helpers import small_day


def synth_feed(root: Path, days: Sequence[str], coins: Sequence[str], minutes: float,
               seed: int = 7) -> list[Path]:
    """`days` (consecutive ISO dates) of `coins`, their first `minutes`, as
    `root/feed/<day>.jsonl.gz` (no manifest: the caller writes the one it needs)."""
    generate_days(root / "gen", date.fromisoformat(days[0]), len(days), list(coins), seed,
                  default_spec(), hours=(0, 1))
    return [small_day(root / "gen" / f"{day}.jsonl.gz", root / "feed" / f"{day}.jsonl.gz",
                      minutes) for day in days]
