"""`detector_audits` reads the tape one coin at a time: the audits of a day read
coin by coin from the lake are the audits of the whole frame, and each detector's
future-touch cuts, drawn as positions over a day it never holds whole, are the cuts
`cut_points` draws on the whole frame.

Counts, verdicts and texts are compared exactly; the metrics (sums of det_sigma added in a
different order, coin by coin) within RTOL, never bit for bit (numpy's vector loops may
round differently on arrays of other lengths, and machines differ)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lotus_core.audits import audit_by_coin, audit_day, future_touch
from lotus_core.signals import load_detectors
from lotus_core.signals.config import load_scoring
from lotus_core.store.by_coin import CoinDay, FrameCoins
from lotus_core.store.lake import Lake
from tests.kits.audits_badkit import load_bad, tampered
from tests.kits.signals_kit import fixture_tape

DAY = "2026-01-03"
BAD = Path(__file__).parents[2] / "data" / "detectors_bad.yaml"
RTOL = 1e-9
EXACT = ["detector_id", "recipe_hash", "production", "n_windows", "future_touch_ok",
         "future_touch_metric", "label_shuffle_ok", "label_shuffle_verdict", "rolling_gap_ok",
         "adversarial_ok", "leakage_ok", "card_ok"]


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    """The fixture day (shipped + test-only leaky/fragile detectors), audited whole and
    read coin by coin from a lake written as `microtape_frames` writes it."""
    frames = fixture_tape(DAY)
    bad, tampers = load_bad(BAD)
    specs = load_detectors().enabled + bad
    tape = FrameCoins(frames)
    assert len(tape.coins()) >= 3
    lake = Lake(tmp_path_factory.mktemp("lake"))
    lake.write_parts("microtape_frames", DAY, (tape.read(c) for c in tape.coins()),
                     frames.iloc[:0])
    scoring = load_scoring()
    with tampered(tampers):
        whole = audit_day(frames, DAY, specs, scoring=scoring)
        by_coin = audit_by_coin(CoinDay(lake, "microtape_frames", DAY), DAY, specs,
                                scoring=scoring)
        touches = {s.id: future_touch(frames, s, DAY, scoring=scoring) for s in specs}
    return frames, specs, whole, by_coin, touches


def test_the_audits_read_coin_by_coin_are_the_whole_days(day):
    _, _, whole, by_coin, _ = day
    assert not whole["future_touch_ok"].all()  # the leaky detector is there to be caught
    assert not whole["adversarial_ok"].all()  # ... and the fragile one
    pd.testing.assert_frame_equal(by_coin[EXACT], whole[EXACT])
    pd.testing.assert_frame_equal(by_coin, whole, check_exact=False, rtol=RTOL)


def test_each_detectors_cuts_are_the_whole_frames(day):
    """The future-touch detail (cuts, re-scored cuts, windows checked, mismatches) of the
    by-coin audit equals `future_touch` of the whole frame, which draws with `cut_points`."""
    _, _, _, by_coin, touches = day
    for row in by_coin.itertuples():
        t = touches[row.detector_id]
        assert json.loads(row.detail)["future_touch"] == t.detail, row.detector_id
        assert row.future_touch_metric == t.metric


def test_a_choice_of_values_is_the_values_at_a_choice_of_positions():
    """What `cut_draws` relies on (numpy's `Generator.choice` of an array is the array at
    the positions it draws for the array's length): guarded here, since a numpy release
    that changed it would move the by-coin audit's cuts away from `cut_points`'."""
    for seed in range(20):
        n, k = 50 + 37 * seed, 1 + seed % 9
        values = np.arange(n, dtype=np.int64) * 1000 + seed
        a, b = np.random.default_rng([seed, 1]), np.random.default_rng([seed, 1])
        np.testing.assert_array_equal(a.choice(values, size=k, replace=False),
                                      values[b.choice(n, size=k, replace=False)])
        np.testing.assert_array_equal(a.choice(values, size=n // 2, replace=False),
                                      values[b.choice(n, size=n // 2, replace=False)])
