"""The calibration's training window read a row group at a time and sampled above
`max_windows` (lotus_core/dm/training_window.py): below the bound the calibration table is
the whole window's; above it the kept windows are the learning sample's (a hash of the id),
with only the calibrated horizons' outcomes, late outcomes laid on; and a sampled fit finds
a planted monotone edge."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lotus_core.dm.calibration import (
    TRAIN_EVAL_COLUMNS,
    TRAIN_EVENT_COLUMNS,
    fit_calibration,
    training_frame,
)
from lotus_core.dm.config import CalibrationSettings
from lotus_core.dm.training_window import read_training
from lotus_core.evaluation import with_late
from lotus_core.learning.sample import kept
from lotus_core.store.by_coin import CoinDay
from lotus_core.store.lake import Lake

DAYS = ["2026-04-01", "2026-04-02", "2026-04-03"]
DETECTORS = ["alpha_v1", "beta_v1"]
HORIZONS = [30, 60, 300, 900]


def _day(day: str, k: int, n: int = 3_000) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A day's events, its evals at four horizons (y = 4 x - 1 + noise at every horizon;
    5 % pending) and late outcomes completing a tenth of the pending rows."""
    rng = np.random.default_rng(k)
    start = int(pd.Timestamp(day, tz="UTC").value // 1_000_000)
    ids = np.array([f"{day}-{i:06d}" for i in range(n)], dtype=object)
    x = rng.random(n)
    events = pd.DataFrame({"window_id": ids, "detector_id": rng.choice(DETECTORS, n),
                           "curated_sigma": x})
    rows = np.repeat(np.arange(n), len(HORIZONS))
    fwd = 4.0 * x[rows] - 1.0 + rng.normal(0, 1.0, len(rows))
    status = np.where(rng.random(len(rows)) < 0.05, "pending", "done").astype(object)
    evals = pd.DataFrame({
        "window_id": ids[rows], "ts_ms": start + np.sort(rng.integers(0, 86_400_000, n))[rows],
        "coin": rng.choice(["BTC", "ETH"], n)[rows],
        "detector_id": events["detector_id"].to_numpy()[rows],
        "horizon_s": np.tile(HORIZONS, n).astype(np.int64), "fwd_ret_bps": fwd,
        "net_ret_bps": fwd - 0.5, "hit": fwd > 0, "status": status})[TRAIN_EVAL_COLUMNS]
    pending = evals[evals["status"] == "pending"].iloc[::10]
    late = pending[["window_id", "horizon_s"]].assign(
        fwd_ret_bps=3.0, net_ret_bps=2.5, hit=True, status="done")
    return events, evals, late


@pytest.fixture(scope="module")
def lake(tmp_path_factory) -> Lake:
    lake = Lake(tmp_path_factory.mktemp("training_window"))
    for k, day in enumerate(DAYS):
        events, evals, late = _day(day, k)
        lake.write("signal_events", day, events)
        lake.write("signal_eval", day, evals)
        lake.write("signal_eval_late", day, late)
    return lake


def _read(lake: Lake, max_windows: int | None):
    days = {a: [CoinDay(lake, a, d) for d in DAYS]
            for a in ("signal_events", "signal_eval", "signal_eval_late")}
    return read_training(days["signal_events"], days["signal_eval"], days["signal_eval_late"],
                         (60, 300), max_windows)


def _whole(lake: Lake) -> tuple[pd.DataFrame, pd.DataFrame]:
    ev = pd.concat([lake.read("signal_events", d, TRAIN_EVENT_COLUMNS).assign(date=d)
                    for d in DAYS], ignore_index=True)
    evals = pd.concat([lake.read("signal_eval", d).assign(date=d) for d in DAYS],
                      ignore_index=True)
    late = pd.concat([lake.read("signal_eval_late", d) for d in DAYS], ignore_index=True)
    return ev, with_late(evals, late)


CFG = CalibrationSettings(horizons_s=(60, 300))


def test_below_the_bound_the_calibration_is_the_whole_windows(lake):
    w = _read(lake, 1_000_000)
    assert (w.windows, w.rate) == (9_000, 1.0)
    ev, evals = _whole(lake)
    expect = fit_calibration(training_frame(ev, evals), CFG, "w")
    got = fit_calibration(training_frame(w.events, w.evals), CFG, "w")
    pd.testing.assert_frame_equal(got, expect)
    assert set(w.evals["horizon_s"]) == {60, 300}  # only the calibrated horizons are held
    assert (w.evals["status"] == "done").sum() > (evals[evals["horizon_s"].isin([60, 300])]
                                                  ["status"] == "done").sum() * 0.99


def test_above_the_bound_the_learning_samples_windows(lake):
    w = _read(lake, 3_000)
    assert w.rate == pytest.approx(3_000 / 9_000)
    ev, evals = _whole(lake)
    keep = ev[kept(ev["window_id"].to_numpy(dtype=object), w.rate)]
    assert sorted(w.events["window_id"]) == sorted(keep["window_id"])
    want = evals[evals["window_id"].isin(set(keep["window_id"]))
                 & evals["horizon_s"].isin([60, 300])]
    got = w.evals.sort_values(["window_id", "horizon_s"]).reset_index(drop=True)
    want = want.sort_values(["window_id", "horizon_s"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(got[TRAIN_EVAL_COLUMNS], want[TRAIN_EVAL_COLUMNS],
                                  check_dtype=False)
    assert (got["fwd_ret_bps"] == 3.0).any(), "the late outcomes are laid on"


def test_a_sampled_fit_finds_the_planted_edge(lake):
    """y = 4 x - 1: from a third of the windows, the fitted mu rises by about 4 bps over x
    and every (detector, horizon) is fitted and reliable."""
    w = _read(lake, 3_000)
    table = fit_calibration(training_frame(w.events, w.evals), CFG, "w")
    assert (table["status"] == "fitted").all() and (table["reliability"] > 0.8).all()
    for row in table.itertuples():
        mu = np.asarray(json.loads(row.mu_knots))
        assert 3.0 < mu[-1] - mu[0] < 5.0, (row.detector_id, row.horizon_s, mu)
