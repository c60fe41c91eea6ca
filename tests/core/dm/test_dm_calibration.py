"""The alpha normaliser on planted truth: a planted score→return effect is recovered within
its interval; a null detector's μ is indistinguishable from 0; too little history gives the
conservative prior; fusion reports every weight and merges correlated alphas."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.dm.alpha import AlphaEvent
from lotus_core.dm.calibration import Calibration, fit_calibration
from lotus_core.dm.config import CalibrationSettings, FusionSettings
from lotus_core.dm.fusion import blend

CFG = CalibrationSettings(horizons_s=(60,))
DAY0 = 1_767_312_000_000  # 2026-01-02


def _frame(detector: str, n: int, effect_bps: float, seed: int, noise: float = 15.0,
           days: int = 4, coins=("BTC", "ETH")) -> pd.DataFrame:
    """Window-level training data: y = effect·x + noise, x = curated_sigma ~ U(0.3, 1)."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.3, 1.0, n)
    y = effect_bps * x + rng.normal(0.0, noise, n)
    ts = DAY0 + np.sort(rng.integers(0, days * 86_400_000, n))
    return pd.DataFrame({
        "window_id": [f"{detector}-{i}" for i in range(n)], "ts_ms": ts,
        "day": pd.to_datetime(ts, unit="ms", utc=True).strftime("%Y-%m-%d"),
        "coin": rng.choice(list(coins), n), "detector_id": detector,
        "horizon_s": np.full(n, 60, dtype=np.int64), "x": x, "y": y,
        "hit": (y - 3.0 > 0).astype(float), "cost": np.full(n, 3.0),
    })


def test_planted_effect_is_recovered_within_its_interval_and_null_covers_zero() -> None:
    train = pd.concat([_frame("planted", 3000, 20.0, 1), _frame("null", 3000, 0.0, 2)])
    table = fit_calibration(train, CFG, "2026-01-02..2026-01-05")
    cal = Calibration(table, CFG)
    for score in (0.5, 0.9):
        truth = 20.0 * score
        f = cal.forecast("planted", 60, "BTC", score, +1)
        assert f.status == "fitted"
        assert f.lo_bps <= truth <= f.hi_bps, (score, f)
        assert f.reliability > 0.5
        short = cal.forecast("planted", 60, "BTC", score, -1)  # a short signal: mirrored
        assert short.mu_bps == pytest.approx(-f.mu_bps)
    hi = cal.forecast("planted", 60, "BTC", 0.95, +1)
    lo = cal.forecast("planted", 60, "BTC", 0.35, +1)
    assert hi.mu_bps > lo.mu_bps and hi.p_hit > lo.p_hit  # monotone
    for score in (0.4, 0.7, 0.95):
        f = cal.forecast("null", 60, "ETH", score, +1)
        assert f.lo_bps <= 0.0 <= f.hi_bps, (score, f)
        assert abs(f.mu_bps) < 2.0
    row = table.set_index("detector_id").loc["null"]
    assert row["mse_oof"] >= 0.95 * row["mse_null"]  # no out-of-sample skill


def test_too_little_history_is_the_conservative_prior() -> None:
    table = fit_calibration(_frame("young", 20, 50.0, 3), CFG, "w", detectors=["absent"])
    cal = Calibration(table, CFG)
    for det in ("young", "absent"):
        f = cal.forecast(det, 60, "BTC", 0.99, +1)
        assert f.status == "prior" and f.mu_bps == 0.0 and f.p_hit == 0.5
        assert f.reliability == 0.0 and f.lo_bps < 0.0 < f.hi_bps


def test_coins_get_their_own_offset_shrunk_towards_the_pool() -> None:
    a = _frame("d", 2000, 10.0, 4, coins=("BTC",))
    b = _frame("d", 2000, 10.0, 5, coins=("ETH",))
    b["y"] += 6.0  # ETH earns 6 bps more at every score
    table = fit_calibration(pd.concat([a, b]), CFG, "w")
    cal = Calibration(table, CFG)
    gap = cal.forecast("d", 60, "ETH", 0.7, 1).mu_raw_bps - cal.forecast(
        "d", 60, "BTC", 0.7, 1).mu_raw_bps
    assert 6.0 * 0.8 < gap <= 6.0 * 1.1  # shrunk by n/(n+k) = 2000/2200


def _alpha(i: int, det: str, coin: str = "BTC", ts: int = DAY0 + 3_600_000,
           direction: int = 1) -> AlphaEvent:
    return AlphaEvent(f"A{i}", ts, coin, det, 60, direction, 0.9, ())


def test_fusion_reports_every_weight_merges_correlated_and_decays() -> None:
    train = pd.concat([_frame("a", 3000, 20.0, 6), _frame("b", 3000, 20.0, 7)])
    cal = Calibration(fit_calibration(train, CFG, "w"), CFG)
    fz = FusionSettings(half_life_s={60: 60.0})
    now = DAY0 + 3_600_000
    one = blend([_alpha(1, "a")], cal, 60, now, fz)
    two = blend([_alpha(1, "a"), _alpha(2, "b")], cal, 60, now, fz)
    assert [k for k, _ in two.weights] and len(two.weights) == 2
    assert sum(w for _, w in two.weights) == pytest.approx(1.0)
    # two alphas of the same detector are one source: merged, the blend's weight not doubled
    dup = blend([_alpha(1, "a"), _alpha(3, "a")], cal, 60, now, fz)
    assert len(dup.merged) == 1 and dup.mu_bps == pytest.approx(one.mu_bps)
    assert sum(w for _, w in dup.weights) == pytest.approx(1.0)
    # one half-life later the same alpha carries half the weight
    later = blend([_alpha(1, "a")], cal, 60, now + 60_000, fz)
    assert later.mu_bps == pytest.approx(one.mu_bps / 2)
    # opposite directions cancel
    both = blend([_alpha(1, "a"), _alpha(4, "b", direction=-1)], cal, 60, now, fz)
    assert abs(both.mu_bps) < abs(one.mu_bps)


def test_detectors_with_correlated_returns_are_merged_not_double_counted() -> None:
    a = _frame("a", 3000, 20.0, 8)
    twin = a.assign(detector_id="twin", window_id=a["window_id"] + "t")
    cal = Calibration(fit_calibration(pd.concat([a, twin]), CFG, "w"), CFG)
    assert cal.correlation("a", "twin", 60) > 0.99
    now = DAY0 + 3_600_000
    fz = FusionSettings(half_life_s={60: 60.0})
    one = blend([_alpha(1, "a")], cal, 60, now, fz)
    pair = blend([_alpha(1, "a"), _alpha(2, "twin")], cal, 60, now, fz)
    assert len(pair.merged) == 1
    assert pair.mu_bps == pytest.approx(one.mu_bps, rel=1e-6)


def test_an_alpha_without_history_next_to_a_fitted_one_weighs_nothing() -> None:
    cal = Calibration(fit_calibration(_frame("a", 3000, 20.0, 9), CFG, "w",
                                      detectors=["young"]), CFG)
    now = DAY0 + 3_600_000
    fz = FusionSettings(half_life_s={60: 60.0})
    b = blend([_alpha(1, "a"), _alpha(2, "young"), _alpha(3, "young")], cal, 60, now, fz)
    assert dict(b.weights)["young@BTC:A2"] == 0.0 and b.mu_bps > 0
    alone = blend([_alpha(2, "young")], cal, 60, now, fz)
    assert alone.mu_bps == 0.0 and alone.p_up == 0.5
