"""The MicroTape drift statistic on near-constant and tick-quantised features, and the history
it needs before it judges (lotus_core.report.health: `psi`, `feature_drift`, `tape_drift`).

The false alarm it fixes: BTC's spread is one tick most of the time, so in bps it is
1 / price: as the price fell over the fixture days its median went 0.1111 -> 0.1142 ->
0.1192 bps, and equal-width bins over the reference's range saw the two- and three-tick
points cross an edge (PSI 1.324 on 2026-02-03, judged against one earlier day, and 1.022 on
02-04). The spread is now compared in ticks, on bins that never split tied values, and a
day is judged only with `min_psi_days` earlier days at its hours."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape
from lotus_core.report import health as H
from lotus_core.store.lake import Lake
from tests.helpers import REAL_RECORDING

DAY_MS = 86_400_000
D0 = 20_486  # 2026-02-02
DAYS = ["2026-02-02", "2026-02-03", "2026-02-04", "2026-02-05"]
MIDS = [90_153.5, 87_883.5, 84_059.0, 80_924.5]  # the fixture loop's BTC medians
ONE_TICK = (0.75, 0.18, 0.07)  # shares of 1, 2 and 3 ticks (the fixture days': 75/18/7 %)


def _tape(i: int, mid: float, probs: tuple[float, float, float] = ONE_TICK,
          hours: float = 2.0, depth_scale: float = 1.0, tick: float = 1.0) -> pd.DataFrame:
    """One day of a BTC-like tape at 1 s: the price falls 0.5 % through the day, the spread
    is a whole number of ticks, the other features the same distribution every day."""
    rng = np.random.default_rng(100 + i)
    n = int(hours * 3_600)
    ts = (D0 + i) * DAY_MS + np.arange(n, dtype=np.int64) * 1_000
    px = np.linspace(mid, mid * 0.995, n) * np.exp(np.cumsum(rng.normal(0, 2e-5, n)))
    ticks = rng.choice([1, 2, 3], size=n, p=list(probs))
    return pd.DataFrame({
        "coin": "BTC", "ts_ms": ts, "mid_px": px, "spread_bps": ticks * tick / px * 1e4,
        "book_imb_5": rng.uniform(-1, 1, n), "aggr_imb": np.clip(rng.normal(0, .5, n), -1, 1),
        "depth_5_rel": rng.lognormal(0, .5, n) * depth_scale,
        "trade_count": rng.poisson(2, n).astype(np.float64), "rv_bps": rng.lognormal(0, .4, n)})


def _lake(tmp_path, tapes: list[pd.DataFrame]) -> Lake:
    lake = Lake(tmp_path / "lake")
    for day, tape in zip(DAYS, tapes, strict=False):
        lake.write("microtape_frames", day, tape, coin="BTC")
    return lake


def _equal_width_psi(e: np.ndarray, a: np.ndarray, bins: int = 10) -> float:
    """The statistic this replaces: equal-width bins over the reference's 0.5-99.5 %."""
    lo, hi = np.quantile(e, [0.005, 0.995])
    edges = np.linspace(lo, hi, bins + 1)[1:-1]
    pe = np.bincount(np.searchsorted(edges, e, side="right"), minlength=bins) / len(e)
    pa = np.bincount(np.searchsorted(edges, a, side="right"), minlength=bins) / len(a)
    pe, pa = np.maximum(pe, 1e-4), np.maximum(pa, 1e-4)
    return float(np.sum((pa - pe) * np.log(pa / pe)))


def test_a_one_tick_spread_whose_bps_drift_as_the_price_falls_passes(tmp_path):
    tapes = [_tape(i, m) for i, m in enumerate(MIDS)]
    medians = [float(t["spread_bps"].median()) for t in tapes]
    assert medians == sorted(medians) and medians[-1] / medians[0] > 1.1  # bps drift up
    # what raised the alarm: in bps, on equal-width bins, every day "drifts"
    old = _equal_width_psi(tapes[0]["spread_bps"].to_numpy(), tapes[1]["spread_bps"].to_numpy())
    assert old > H.LIMITS.max_psi
    lake = _lake(tmp_path, tapes)
    # one earlier day: shown, not judged
    first = H.tape_drift(lake, DAYS[1], DAYS[:1], "BTC")
    assert first.passed and not first.judged and first.history == H.NOT_ENOUGH_HISTORY
    assert "not enough history" in first.detail and "min_psi_days 2" in first.detail
    assert {m.name for m in first.measures} >= {"psi_spread_bps", "psi_depth_5_rel"}
    assert all(m.ok and "not judged" in m.threshold for m in first.measures
               if m.name != "psi_rv_bps")
    for k in (2, 3):  # two and three earlier days: judged, and the same market passes
        got = H.tape_drift(lake, DAYS[k], DAYS[:k], "BTC")
        assert got.judged and got.passed, got.detail
        assert got.numbers["baseline_days"] == k and got.history == "enough history"
        spread = next(m for m in got.measures if m.name == "psi_spread_bps")
        assert spread.value < 0.01 and "ticks of 1" in spread.baseline


def test_a_truly_wider_spread_fails_naming_value_limit_and_rule(tmp_path):
    tapes = [_tape(i, m) for i, m in enumerate(MIDS[:3])]
    tapes.append(_tape(3, MIDS[3], probs=(0.1, 0.3, 0.6)))  # mostly three ticks
    got = H.tape_drift(_lake(tmp_path, tapes), DAYS[3], DAYS[:3], "BTC")
    assert got.judged and not got.passed
    spread = next(m for m in got.measures if m.name == "psi_spread_bps")
    assert spread.value > 1.0 and not spread.ok
    assert got.detail.startswith(f"psi_spread_bps {spread.value:.4g} > max_psi 0.25: ")
    assert "PSI" in got.detail and "ticks" in got.detail
    assert "psi_depth_5_rel" not in got.detail  # only what moved


def test_a_shifted_continuous_feature_fails(tmp_path):
    tapes = [_tape(i, m) for i, m in enumerate(MIDS[:3])]
    tapes.append(_tape(3, MIDS[3], depth_scale=0.4))  # a thinner book
    got = H.tape_drift(_lake(tmp_path, tapes), DAYS[3], DAYS[:3], "BTC")
    assert not got.passed and "psi_depth_5_rel" in got.detail
    assert "psi_spread_bps" not in got.detail


def test_one_earlier_day_never_fails_even_when_it_differs(tmp_path):
    tapes = [_tape(0, MIDS[0]), _tape(1, MIDS[1], probs=(0.1, 0.3, 0.6))]
    got = H.tape_drift(_lake(tmp_path, tapes), DAYS[1], DAYS[:1], "BTC")
    assert got.passed and not got.judged and got.history == "not enough history"
    spread = next(m for m in got.measures if m.name == "psi_spread_bps")
    assert spread.value > H.LIMITS.max_psi and spread.ok  # shown with its limit, not judged


def test_no_earlier_tape_is_not_enough_history(tmp_path):
    got = H.tape_drift(_lake(tmp_path, [_tape(0, MIDS[0])]), DAYS[0], [], "BTC")
    assert got.passed and not got.judged and not got.measures
    assert got.detail.startswith("not judged: not enough history")


def test_bins_never_split_tied_values():
    ref = np.repeat([1.0, 2.0, 3.0, 8.0, 12.0], [745, 181, 72, 1, 1])
    b = H.psi_bins(ref)
    assert b.discrete and b.distinct == 5 and b.bins == 3  # {1}, {2}, {3, 8, 12}
    assert list(b.mids) == [1.5, 2.5]
    cont = np.random.default_rng(3).lognormal(0, 1, 50_000)
    c = H.psi_bins(cont)
    assert not c.discrete and c.bins == 10
    shares = c.shares(cont)[1:-1]
    assert np.allclose(shares, 0.1, atol=1e-3)  # deciles
    zeros = np.r_[np.zeros(6_000), np.random.default_rng(4).lognormal(0, 1, 4_000)]
    z = H.psi_bins(zeros)  # 60 % at 0: one bin, the rest deciles of what is left
    assert z.shares(zeros)[1] == pytest.approx(0.6)


def test_a_near_constant_reference_is_judged_by_the_share_that_differs():
    rng = np.random.default_rng(5)
    const = np.zeros(5_000)
    assert H.psi(const, np.zeros(2_000)) == 0.0
    assert H.psi(const, np.r_[np.zeros(1_990), np.ones(10)]) < H.LIMITS.max_psi  # 0.5 %
    assert H.psi(const, np.r_[np.zeros(1_600), rng.poisson(3, 400) + 1.0]) > H.LIMITS.max_psi
    # a near-constant continuous feature whose level drifts 3 % stays judged in its own unit:
    # what keeps the spread's tick-size drift out is comparing it in ticks (feature_drift)
    one_tick = np.full(5_000, 1.0)
    assert H.psi(one_tick, np.full(2_000, 1.0)) == 0.0
    assert H.psi(one_tick, np.full(2_000, 3.0)) > H.LIMITS.max_psi


def test_the_spread_is_compared_in_ticks_of_the_reference():
    ref, today = _tape(0, MIDS[0]), _tape(1, MIDS[1])
    assert H.narrowest_spread(ref) == pytest.approx(1.0)
    d = H.feature_drift(ref, today, ("spread_bps",))["spread_bps"]
    assert d.psi < 0.01 and d.discrete and d.median_ref == d.median_today == 1.0
    assert "ticks of 1" in d.unit
    # without mid_px (events, or an old tape): the spread in bps
    bps = H.feature_drift(ref.drop(columns="mid_px"), today.drop(columns="mid_px"),
                          ("spread_bps",))["spread_bps"]
    assert bps.unit == "spread_bps"


def test_the_real_capture_in_ticks(tmp_path):
    """The real BTC capture (25 s, one tick = 1 USD at 105,055): its spread is one tick on
    all but one frame, 0.0952 bps. As two earlier days at 3 % and 6 % higher prices (the
    same book in ticks: 0.0924 and 0.0898 bps) it is judged and passes; with its spread made
    three ticks it fails."""
    real = build_microtape(parse_recording(REAL_RECORDING))
    assert len(real) >= 20 and H.narrowest_spread(real) == pytest.approx(1.0)
    ticks = H.spread_in_ticks(real, 1.0)
    assert set(np.unique(ticks)) <= {1.0, 2.0, 3.0, 4.0, 5.0} and (ticks == 1).mean() > 0.9
    day = "2025-01-26"
    before = ["2025-01-24", "2025-01-25"]
    lake = Lake(tmp_path / "lake")
    for k, d in enumerate(before):
        back = len(before) - k
        px = real["spread_bps"] * real["mid_px"] / 1e4
        mid = real["mid_px"] * (1 + 0.03 * back)
        lake.write("microtape_frames", d, real.assign(
            ts_ms=real["ts_ms"] - back * DAY_MS, mid_px=mid, spread_bps=px / mid * 1e4),
            coin="BTC")
    lake.write("microtape_frames", day, real, coin="BTC")
    limits = H.HealthLimits(min_psi_rows=2 * len(real) - 1)  # 25 s of tape a day
    got = H.tape_drift(lake, day, before, "BTC", limits)
    assert got.judged and got.passed, got.detail
    wide = real.assign(spread_bps=real["spread_bps"] * 3)
    lake.write("microtape_frames", day, wide, coin="BTC")
    got = H.tape_drift(lake, day, before, "BTC", limits)
    assert not got.passed and "psi_spread_bps" in got.detail
