"""The future-touch audit re-runs each cut on a bounded trailing window. These tests prove
the bound: for every shipped detector, the windows (and the audited scores) in the check
stretch before a cut are the same on the trailing window as on the whole prefix; a window
shorter than the derived lookback is not (so the test can fail); the leaky detector is
still caught on trailing windows."""

from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lotus_core.audits.lookback import detector_lookback_rows, scoring_lookback_rows
from lotus_core.audits.result import DEFAULT, FINGERPRINT
from lotus_core.curators.config import load_curators
from lotus_core.signals import load_detectors
from lotus_core.signals.config import load_scoring
from lotus_core.signals.detectors import run_detectors
from lotus_core.signals.pipeline import score_day
from tests.kits.audits_badkit import load_bad, tampered
from tests.kits.signals_kit import fixture_tape

FT = importlib.import_module("lotus_core.audits.future_touch")
DAY = "2026-01-03"
BAD = Path(__file__).parents[2] / "data" / "detectors_bad.yaml"
SPECS = load_detectors().enabled
CHECK_MS = DEFAULT.check_s * 1000


@pytest.fixture(scope="module")
def tape() -> pd.DataFrame:
    return fixture_tape(DAY)


def _cuts(frames: pd.DataFrame) -> list[int]:
    ts = frames["ts_ms"].to_numpy()
    return [int(np.quantile(ts, q)) for q in (0.55, 0.8, 1.0)]


def _mismatches(frames: pd.DataFrame, spec, span_ms: int) -> int:
    bad = 0
    for t in _cuts(frames):
        prefix = FT.trailing(run_detectors(frames[frames["ts_ms"] <= t], [spec]), t, CHECK_MS)
        bounded = FT.trailing(run_detectors(FT.trailing(frames, t, span_ms), [spec]), t, CHECK_MS)
        bad += FT._mismatches(prefix, bounded, ["raw_strength"])
    return bad


@pytest.mark.parametrize("spec", SPECS, ids=[s.id for s in SPECS])
def test_windows_on_the_trailing_window_equal_the_whole_prefix(tape, spec):
    span = detector_lookback_rows(spec, 1000) * 1000 + CHECK_MS
    assert _mismatches(tape, spec, span) == 0


def test_a_window_shorter_than_the_lookback_changes_some_detector(tape):
    """The bound is not vacuous: cut to a tenth of its lookback, a detector with memory
    (EMAs, a lookback range) gives different windows."""
    short = [_mismatches(tape, s, detector_lookback_rows(s, 1000) * 100 + CHECK_MS // 10)
             for s in SPECS]
    assert sum(m > 0 for m in short) >= 3, short


def test_audited_scores_on_the_trailing_window_equal_the_whole_prefix(tape):
    spec = next(s for s in SPECS if s.kind == "mean_reversion")  # most windows, long memory
    span = scoring_lookback_rows(load_scoring(), [spec], 1000) * 1000 + CHECK_MS
    t = _cuts(tape)[1]

    def events(f: pd.DataFrame) -> pd.DataFrame:
        ev = score_day(f.reset_index(drop=True), DAY, fingerprint=FINGERPRINT,
                       detectors=[spec], evaluate=False,
                       scoring=load_scoring(), council=load_curators()).events
        return FT.trailing(ev, t, CHECK_MS)

    prefix, bounded = events(tape[tape["ts_ms"] <= t]), events(FT.trailing(tape, t, span))
    assert len(prefix) > 10
    assert FT._mismatches(prefix, bounded, list(FT.SCORE_COLUMNS)) == 0


def test_every_kind_has_a_lookback_rule():
    for spec in SPECS:
        assert detector_lookback_rows(spec, 1000) > spec.cooldown_s


def test_the_leaky_detector_is_still_caught_on_trailing_windows(tape):
    bad, tampers = load_bad(BAD)
    leaky = next(s for s in bad if tampers[s.id].peek_frames)
    with tampered(tampers):
        result = FT.future_touch(tape, leaky, DAY, scoring=load_scoring())
    assert not result.passed and result.metric > 0, result.detail
    assert "trailing windows" in result.detail


def test_the_trailing_slice_is_the_masked_rows_in_and_out_of_time_order():
    """`trailing` slices a tape in time order at two binary searches: the same rows, order
    and index as the mask over every frame; a tape out of order takes the mask."""
    from lotus_core.audits.future_touch import trailing

    rng = np.random.default_rng(3)
    ts = np.sort(rng.integers(0, 10_000, 400))
    tape = pd.DataFrame({"ts_ms": ts, "coin": rng.choice(["BTC", "ETH"], 400),
                         "x": rng.normal(size=400)})
    shuffled = tape.sample(frac=1.0, random_state=1)
    for t, span in ((5_000, 700), (0, 50), (ts[-1], 10_000), (ts[10], 1), (-5, 3)):
        for df in (tape, shuffled):
            got = trailing(df, int(t), span)
            want = df[(df["ts_ms"] <= t) & (df["ts_ms"] > t - span)].reset_index(drop=True)
            pd.testing.assert_frame_equal(got, want)
