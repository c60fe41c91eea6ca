"""Helpers for tests, audits and notebooks: the committed fixture days as MicroTapes, a
constant DSI frame, and earlier days' detector windows as history.

Fixture days are parsed inline (one process) and cached per process.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import pandas as pd

import lotus_core
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape
from lotus_core.signals.config import load_scoring

FIXTURES = Path(lotus_core.__file__).resolve().parent.parent / "fixtures"


def fixture_days() -> list[str]:
    return sorted(p.name.split(".")[0] for p in FIXTURES.glob("*.jsonl.gz"))


@lru_cache(maxsize=8)
def _tape(day: str) -> tuple[pd.DataFrame, str]:
    feed = parse_recording(FIXTURES / f"{day}.jsonl.gz", day, workers=1)
    return build_microtape(feed), feed.sha256


def fixture_tape(day: str) -> pd.DataFrame:
    """The MicroTape of a fixture day (a fresh copy)."""
    return _tape(day)[0].copy()


def fixture_sha256(day: str) -> str:
    """The raw feed's sha256 of a fixture day (the data fingerprint)."""
    return _tape(day)[1]


def constant_dsi(frames: pd.DataFrame, mx: float = 0.5, confirm: int = 0) -> pd.DataFrame:
    """A dsi_annotations-shaped frame with the same evidence on every frame."""
    return pd.DataFrame({"coin": frames["coin"].to_numpy(), "ts_ms": frames["ts_ms"].to_numpy(),
                         "mx_evidence": float(mx), "mx_confirm": int(confirm)})


def history_of(days: Sequence[str]) -> pd.DataFrame:
    """detector_windows of `days` concatenated with a `date` column (the history input)."""
    from lotus_core.signals.pipeline import detect_day

    parts = [detect_day(fixture_tape(d), scoring=load_scoring()).assign(date=d) for d in days]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
