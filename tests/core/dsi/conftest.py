"""The two committed fixture days as MicroTapes and the model fitted on the first: shared by
the DSI tests (built once per module that asks)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lotus_core.dsi import annotate, fit_dsi, load_registry
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
HIST_DAY, DAY = "2026-01-02", "2026-01-03"


@pytest.fixture(scope="module")
def tapes():
    """(the history day's tape with its `date`, the day's tape)."""
    hist = build_microtape(parse_recording(FIXTURES / f"{HIST_DAY}.jsonl.gz"))
    today = build_microtape(parse_recording(FIXTURES / f"{DAY}.jsonl.gz"))
    return hist.assign(date=HIST_DAY), today


@pytest.fixture(scope="module")
def fitted(tapes):
    """(the model fitted on the history day, its annotation of the day)."""
    hist, today = tapes
    model = fit_dsi(hist, registry=load_registry())
    return model, annotate(today, model)
