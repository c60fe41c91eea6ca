"""Trade only what pays: the edge the allocator weighs against the round trip is the bound
of the calibration's interval nearest zero (docs/dm.md, "Trade only what pays"), so a null
detector's calibration gives no edge and a book that holds, while a planted edge keeps most
of its size and trades."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.dm.calibration import Calibration, fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.replay import replay
from tests.kits.dm_kit import alpha_stream, planted_training, tape_rows

DETS = ("breakout_retest_v1", "mean_reversion_z_v1")
SCORES = np.linspace(0.3, 1.0, 8)


def _calibration(effect_bps: float, n: int, seed: int) -> Calibration:
    cfg = load_dm_settings({}).calibration
    train = pd.concat([planted_training(d, n, effect_bps, seed + 97 * i)
                       for i, d in enumerate(DETS)])
    return Calibration(fit_calibration(train, cfg, "w"), cfg)


@pytest.mark.parametrize("n", [100, 1000])
def test_a_null_detector_has_no_edge_at_any_score(n: int) -> None:
    """Pure-noise outcomes: the point estimate λ·μ wanders (an isotonic map of noise at its
    extremes), the edge is 0 at every score, horizon and seed."""
    points = []
    for seed in range(8):
        cal = _calibration(0.0, n, seed)
        for det in DETS:
            for h in (60, 300):
                for s in SCORES:
                    f = cal.forecast(det, h, "BTC", float(s), 1)
                    assert f.status == "fitted"
                    assert f.edge_bps == 0.0, (n, seed, det, h, s, f)
                    assert f.lo_bps <= 0.0 <= f.hi_bps
                    points.append(abs(f.mu_bps))
    assert max(points) > 0.0  # what the point estimate alone would have traded on


def test_a_planted_edge_keeps_its_sign_and_most_of_its_size() -> None:
    cal = _calibration(25.0, 1000, 1)
    for h in (60, 300):
        truth = 25.0 * 0.9 * np.sqrt(h / 60.0)
        f = cal.forecast(DETS[0], h, "BTC", 0.9, 1)
        short = cal.forecast(DETS[0], h, "BTC", 0.9, -1)
        assert f.edge_bps == f.lo_bps > 0.0  # the bound nearest zero
        assert f.edge_bps <= min(f.mu_bps, truth)
        assert f.edge_bps > 0.5 * truth, (h, f)
        assert short.edge_bps == pytest.approx(-f.edge_bps)
        assert 0.0 < f.reliability_lo <= f.reliability <= 1.0


def test_tickets_hold_on_a_null_calibration_and_trade_a_planted_edge() -> None:
    cfg = load_dm_settings({})
    rows, alphas = tape_rows(seconds=1800), alpha_stream(cfg.coins, DETS, 60)
    null = replay(DmEngine(cfg, _calibration(0.0, 300, 5)), rows, alphas)
    assert null.decisions and all(d.action == "hold" for d in null.decisions)
    assert all(d.edge_bps == 0.0 and d.target == 0.0 for d in null.decisions)
    planted = replay(DmEngine(cfg, _calibration(25.0, 300, 5)), rows, alphas)
    trades = [d for d in planted.decisions if d.action == "trade"]
    assert trades
    for d in trades:
        refs = d.ticket["audit_refs"]
        if abs(d.w0) < cfg.allocator.min_trade:  # opened from flat: the edge beat the cost
            assert abs(d.edge_bps) > float(refs["cost.round_trip_bps"]), refs
            assert np.sign(d.target) == np.sign(d.edge_bps)


def test_a_table_without_the_uncertainty_columns_still_reads() -> None:
    """A `dm_calibration` partition written before `se_knots` / `reliability_se`: the bins'
    independent-windows error, λ as stored."""
    cfg = load_dm_settings({}).calibration
    table = fit_calibration(planted_training(DETS[0], 1000, 25.0, 3), cfg, "w")
    old = Calibration(table.drop(columns=["se_knots", "reliability_se"]), cfg)
    new = Calibration(table, cfg)
    a, b = old.forecast(DETS[0], 60, "BTC", 0.9, 1), new.forecast(DETS[0], 60, "BTC", 0.9, 1)
    assert a.mu_bps == b.mu_bps and a.reliability_lo == a.reliability
    assert 0.0 < b.edge_bps <= a.edge_bps < a.mu_bps
