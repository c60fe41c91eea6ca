"""The night's tasks take their units of the window's one unit set (each
detector's and the pooled set's own copies, held together through the search, would be ~20 MB
of its peak at 250,000 windows). A detector's units are what `detector_units` makes of its
rows; the pooled set's are every searched detector's windows with the outcome centred on
each detector's mean, sharing the window's codes, hit and times when it holds every
window. Seed 73000: the tuning range of validity_seeds.yaml `harder`."""

import numpy as np
import pandas as pd
import pytest

from lotus_core.learning import pipeline
from lotus_core.learning.config import load_learning
from lotus_core.learning.lessons import POOLED, detector_units, learn_tasks, learning_tasks
from lotus_core.learning.validity_report import harder_spec
from lotus_core.signals.config import load_scoring
from lotus_core.synth.windows import window_frame

CFG = load_learning()


@pytest.fixture(scope="module")
def tw():
    return pipeline.training_window(window_frame(harder_spec("hetero", null=False), 73000),
                                 CFG, load_scoring().context)


def _same(a, b):
    assert a.features == b.features and a.values == b.values and a.treatments == b.treatments
    for name in ("codes", "y", "hit", "ts_ms"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name).dtype == getattr(b, name).dtype, name


def _centred(frame):
    y = frame["net_ret_bps"].to_numpy(dtype=np.float64)
    return y - frame.groupby("detector_id")["net_ret_bps"].transform("mean").to_numpy()


def test_each_task_is_its_detectors_units_and_the_pooled_set_shares_the_window(tw):
    tasks = learning_tasks(tw.frame, tw.lits, tw.quantizer, CFG, pd.DataFrame())
    dets = sorted(tw.frame["detector_id"].unique())
    assert [t.detector_id for t in tasks] == [*dets, POOLED]
    for t in tasks[:-1]:
        m = (tw.frame["detector_id"] == t.detector_id).to_numpy()
        _same(t.units(), detector_units(tw.frame[m], tw.lits[m], tw.quantizer))
    pooled, window = tasks[-1].units(), tasks[-1].window
    _same(pooled, detector_units(tw.frame, tw.lits, tw.quantizer, y=_centred(tw.frame)))
    for name in ("codes", "hit", "ts_ms"):  # every window: the window's own arrays
        assert getattr(pooled, name) is getattr(window, name), name
    assert all(t.window is window for t in tasks)


def test_a_detector_too_small_to_search_is_left_out_of_the_pool_too(tw):
    frame, lits = tw.frame, tw.lits
    small = sorted(frame["detector_id"].unique())[0]
    keep = (frame["detector_id"] != small).to_numpy().copy()
    keep[np.flatnonzero(~keep)[: 2 * CFG.search.min_support - 1]] = True  # too few left
    frame, lits = frame[keep].reset_index(drop=True), lits[keep].reset_index(drop=True)
    tasks = learning_tasks(frame, lits, tw.quantizer, CFG, pd.DataFrame())
    assert small not in [t.detector_id for t in tasks] and tasks[-1].detector_id == POOLED
    m = (frame["detector_id"] != small).to_numpy()
    _same(tasks[-1].units(),
          detector_units(frame[m], lits[m], tw.quantizer, y=_centred(frame[m])))


def test_the_lessons_of_the_tasks_are_the_lessons_of_the_window(tw):
    """`learn_tasks` reads the units a task at a time; the watchdog's and the promotions'
    out-of-sample checks take them again: two nights (the second carries the first's live
    lessons, checked on its newest day) give the same lessons from the same window."""
    day = sorted(tw.frame["date"].unique())[-1]
    first, _ = learn_tasks(learning_tasks(tw.frame, tw.lits, tw.quantizer, CFG, pd.DataFrame()),
                           tw.quantizer, CFG, pd.DataFrame(), day, tw.label)
    assert (first["state"] == "active").any()
    again = [learn_tasks(learning_tasks(tw.frame, tw.lits, tw.quantizer, CFG, first),
                         tw.quantizer, CFG, first, day, tw.label)[0] for _ in range(2)]
    pd.testing.assert_frame_equal(again[0], again[1])
    assert (again[0]["oos_support"].fillna(0) > 0).any()  # the watchdog read its units
