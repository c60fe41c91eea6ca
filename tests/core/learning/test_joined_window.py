"""The window's outcomes joined a row group of signal_eval at a time
(`lotus_core.learning.joined`) are the whole-table join's (`pipeline._joined_whole`: the
outcomes read whole, `frame.joined_rows`), row for row and value for value, on lakes with
what the generator's do not hold: outcomes whose event is not in the lake, outcomes still
pending, late rows for some of them, several row groups a day, a sample. What the hashes
cannot decide (a window twice, a collision) is decided by that whole-table join."""

import numpy as np
import pandas as pd
import pytest

import lotus_core.learning.joined as joined_module
import lotus_core.store.lake as lake_module
from lotus_core.learning import pipeline
from lotus_core.learning.config import load_learning
from lotus_core.learning.frame import EVENT_COLUMNS
from lotus_core.learning.window_lake import eval_rows
from lotus_core.signals.config import load_scoring
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.lake import Lake
from tests.kits.learning_kit import make_learning_frame

CFG = load_learning()
BASE = load_scoring().context


def _lake(tmp_path, frame: pd.DataFrame, rng: np.random.Generator, twice: str = ""
          ) -> tuple[list[CoinDay], ...]:
    """`frame`'s days as the three tables, a tenth of the events left out (their outcomes
    kept), a seventh of the outcomes pending and half of those completed late; `twice`: a
    window written twice in that table ("events", or "evals" at the lesson horizon)."""
    lake = Lake(tmp_path / "lake")
    days = sorted(str(d) for d in frame["date"].unique())
    for day in days:
        part = frame[frame["date"] == day].reset_index(drop=True)
        events = part[EVENT_COLUMNS][rng.random(len(part)) > 0.1].reset_index(drop=True)
        if twice == "events" and day == days[-1]:
            events = pd.concat([events, events.iloc[3:4]], ignore_index=True)
        evals = eval_rows(part, CFG.horizon_s)
        pending = rng.random(len(evals)) < 1 / 7
        evals["status"] = np.where(pending, "pending", "done")
        late = evals[pending & (rng.random(len(evals)) < 0.5)].assign(
            status="done", net_ret_bps=-3.0)
        if twice == "evals" and day == days[0]:
            one = evals[(evals["horizon_s"] == CFG.horizon_s) & (evals["status"] == "done")]
            evals = pd.concat([evals, one.iloc[5:6]], ignore_index=True)
        lake.write("signal_events", day, events)
        lake.write("signal_eval", day, evals)
        lake.write("signal_eval_late", day, late.reset_index(drop=True))
    return tuple([CoinDay(lake, asset, d) for d in days]
                 for asset in ("signal_events", "signal_eval", "signal_eval_late"))


def _same(got: pipeline.TrainingWindow, want: pipeline.TrainingWindow) -> None:
    pd.testing.assert_frame_equal(got.frame, want.frame, check_exact=True)
    pd.testing.assert_frame_equal(got.lits, want.lits, check_exact=True)
    assert (got.label, got.windows, got.rate) == (want.label, want.windows, want.rate)


@pytest.mark.parametrize("seed,cap", [(0, None), (1, None), (2, 0.4)])
def test_joined_a_group_at_a_time_is_the_whole_tables_join(tmp_path, monkeypatch, seed, cap):
    monkeypatch.setattr(lake_module, "SLICE_ROWS", 211)  # several row groups a day
    rng = np.random.default_rng(seed)
    frame = make_learning_frame(days=3, seed=seed)
    days = _lake(tmp_path, frame, rng)
    n = sum(d.rows() for d in days[0])
    cfg = CFG.model_copy(update={"max_windows": None if cap is None else int(n * cap)})
    q = pipeline.window_from_days(*days, cfg, BASE).quantizer
    got = pipeline.window_from_days(*days, cfg, BASE, q)
    want = pipeline._joined_whole(*days, cfg, BASE, q, pipeline.HELD)
    _same(got, want)
    assert 0 < len(got.frame) < n  # some left out: no event, or pending
    assert (got.frame["net_ret_bps"] == -3.0).any()  # the late rows were laid on
    assert got.rate == (1.0 if cap is None else pytest.approx(cap, abs=1e-3))


@pytest.mark.parametrize("twice,table", [("events", "signal_events"), ("evals", "signal_eval")])
def test_a_window_twice_is_refused(tmp_path, twice, table):
    days = _lake(tmp_path, make_learning_frame(days=2, seed=4), np.random.default_rng(4), twice)
    q = pipeline.window_from_days(*_lake(tmp_path / "clean", make_learning_frame(days=2, seed=4),
                                      np.random.default_rng(4)), CFG, BASE).quantizer
    with pytest.raises(pd.errors.MergeError, match=f"{table} holds a window twice"):
        pipeline.window_from_days(*days, CFG, BASE, q)


def test_hashes_that_cannot_decide_leave_it_to_the_strings(tmp_path, monkeypatch):
    """Every id one hash (repeats), or each outcome's id another event's hash (no repeat,
    the compared strings differ): the window is the whole-table join's all the same."""
    days = _lake(tmp_path, make_learning_frame(days=2, seed=5), np.random.default_rng(5))
    q = pipeline.window_from_days(*days, CFG, BASE).quantizer
    want = pipeline._joined_whole(*days, CFG, BASE, q, pipeline.HELD)
    real = joined_module.id_hashes
    monkeypatch.setattr(joined_module, "id_hashes", lambda ids: np.zeros(len(ids), np.uint64))
    _same(pipeline.window_from_days(*days, CFG, BASE, q), want)
    calls = []

    def shifted(ids):  # the events' hashes as they are; each outcome its neighbour's
        calls.append(1)
        h = real(ids)
        return h if len(calls) == 1 else np.roll(h, 1)

    monkeypatch.setattr(joined_module, "id_hashes", shifted)
    assert joined_module.read_joined(*days, CFG.horizon_s, None, lambda p: p) is None
    calls.clear()
    _same(pipeline.window_from_days(*days, CFG, BASE, q), want)
