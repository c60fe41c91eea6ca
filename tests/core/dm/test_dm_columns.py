"""The DM steps read only the columns they use (`dm_decisions` 12 of
signal_events' 75 columns, `dm_calibration` 3 of them and 9 of signal_eval's): on a scored
fixture day, the alphas, the training frame and the late rows laid over the evals are the
same from those columns as from the whole tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.curators.config import load_curators
from lotus_core.dm.alpha import ALPHA_COLUMNS, from_signal_events
from lotus_core.dm.calibration import (
    TRAIN_EVAL_COLUMNS,
    TRAIN_EVENT_COLUMNS,
    TRAIN_LATE_COLUMNS,
    training_frame,
)
from lotus_core.evaluation import with_late
from lotus_core.evaluation.outcomes import evaluate_windows
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import score_day
from tests.kits.signals_kit import fixture_sha256, fixture_tape

DAY = "2026-01-02"


@pytest.fixture(scope="module")
def day() -> tuple[pd.DataFrame, pd.DataFrame]:
    tape = fixture_tape(DAY)
    events = score_day(tape, DAY, fingerprint=fixture_sha256(DAY),
                       scoring=load_scoring(), council=load_curators()).events
    return events, evaluate_windows(events, tape)


def test_alphas_from_their_columns(day):
    events, _ = day
    whole = from_signal_events(events)
    assert whole and from_signal_events(events[ALPHA_COLUMNS]) == whole


def test_training_frame_and_late_rows_from_their_columns(day):
    events, evals = day
    whole = training_frame(events, evals)
    assert len(whole)
    pd.testing.assert_frame_equal(
        training_frame(events[TRAIN_EVENT_COLUMNS], evals[TRAIN_EVAL_COLUMNS]), whole)
    # late rows: a later tape completes some rows (new outcomes, done)
    late = evals.iloc[::7].copy()
    late["net_ret_bps"] = late["net_ret_bps"].fillna(0.0) + 1.5
    late["fwd_ret_bps"] = late["fwd_ret_bps"].fillna(0.0) - 0.5
    late["hit"] = pd.array(np.ones(len(late), dtype=bool), dtype="boolean")
    late["status"] = "done"
    laid = with_late(evals, late)
    some = with_late(evals[TRAIN_EVAL_COLUMNS], late[TRAIN_LATE_COLUMNS])
    pd.testing.assert_frame_equal(some, laid[TRAIN_EVAL_COLUMNS])
    assert not some.equals(evals[TRAIN_EVAL_COLUMNS])  # the late rows were laid over
    pd.testing.assert_frame_equal(training_frame(events[TRAIN_EVENT_COLUMNS], some),
                                  training_frame(events, laid))
