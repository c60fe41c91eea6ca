"""The window-level generator's book/tape columns: ranges, the planted book context where
it is said to be, its confounding only when asked for, the flow decoy tracking it, and
determinism."""

from dataclasses import replace

import numpy as np

from lotus_core.synth.windows import (
    BIMB_WITH,
    BOOK_TAPE_COLUMNS,
    PLANTED,
    WindowSpec,
    planted_truth,
    window_frame,
)

SPEC = WindowSpec(days=2, windows_per_day=3000, effect="bimb_with", delta_bps=5.0,
                  confound_book=True, decoy_agreement=0.8)


def test_book_columns_are_in_range_and_the_effect_sits_on_the_aligned_top_tercile():
    f = window_frame(SPEC, 4)
    for c in ("book_imb_1", "book_imb_5", "book_imb_10", "flow"):
        assert f[c].between(-1, 1).all(), c
    assert (f["cancel_rate"] >= 0).all() and f["trend_eff"].between(0, 1).all()
    assert set(BOOK_TAPE_COLUMNS) <= set(f.columns)
    aligned = f["book_imb_5"] * f["direction"]
    with_ = (aligned >= BIMB_WITH).to_numpy()
    planted = f["detector_id"].eq(PLANTED).to_numpy()
    assert np.array_equal(f["planted"].to_numpy() != 0, with_ & planted)
    assert (f.loc[with_ & planted, "planted"] == SPEC.delta_bps).all()
    assert planted_truth(SPEC) == SPEC.delta_bps
    assert abs(with_.mean() - 1 / 3) < 0.02  # the top tercile of the whole window
    trend = f["regime"].eq("trend").to_numpy()
    assert with_[trend].mean() > with_[~trend].mean() + 0.3  # confounded by the regime
    flow_with = (f["flow"] * f["direction"] >= BIMB_WITH).to_numpy()
    assert (flow_with == with_).mean() > 0.8  # the decoy tracks the book


def test_without_confound_book_the_book_is_independent_and_the_null_plants_nothing():
    f = window_frame(replace(SPEC, confound_book=False).null(), 4)
    with_ = (f["book_imb_5"] * f["direction"] >= BIMB_WITH).to_numpy()
    trend = f["regime"].eq("trend").to_numpy()
    assert abs(with_[trend].mean() - with_[~trend].mean()) < 0.05
    assert (f["planted"] == 0).all()


def test_the_generator_is_deterministic_per_seed():
    a, b, c = window_frame(SPEC, 9), window_frame(SPEC, 9), window_frame(SPEC, 10)
    assert a.equals(b) and not a["book_imb_5"].equals(c["book_imb_5"])
