"""The checks' measures are right on multi-day history and explain themselves: each on a day
where it must pass and one where it must fail.

The `make run` loop regression: four flat days of 6 h (5,978 / 5,837 / 5,844 / 5,899
windows) made `signal_drift` report every detector "firing x8-x10", because the history's
tape hours were one span from the first day's first frame to the last day's last frame,
multiplied by the number of days."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from lotus_core.report import health as H

DAY_MS = 86_400_000
D0 = 20_486  # 2026-02-02, days since 1970
DETECTORS = ("sweep_stall_v1", "book_flip_v1", "flow_burst_v1")


def _tape(day: int, hours: float = 6.0, coins=("BTC", "ETH", "SOL"), step: int = 1000,
          hole: tuple[float, float] | None = None) -> pd.DataFrame:
    ts = np.arange(day * DAY_MS, day * DAY_MS + int(hours * 3.6e6), step, dtype=np.int64)
    if hole:
        ts = ts[~((ts >= day * DAY_MS + hole[0] * 3.6e6) & (ts < day * DAY_MS + hole[1] * 3.6e6))]
    return pd.DataFrame({"coin": np.repeat(coins, len(ts)), "ts_ms": np.tile(ts, len(coins))})


def _windows(day: int, total: int, hours: float = 6.0, seed: int = 0,
             scale: dict[str, float] | None = None) -> pd.DataFrame:
    rng = np.random.default_rng(seed + day)
    parts = []
    for k, d in enumerate(DETECTORS):
        n = int(total * (0.5, 0.3, 0.2)[k] * (scale or {}).get(d, 1.0))
        ts = np.sort(rng.integers(day * DAY_MS, day * DAY_MS + int(hours * 3.6e6), n))
        parts.append(pd.DataFrame({"ts_ms": ts, "detector_id": d,
                                   "det_sigma": rng.beta(2, 5, n)}))
    return pd.concat(parts, ignore_index=True)


def _loop_history():
    counts = (5_978, 5_837, 5_844)
    hist = pd.concat([_windows(D0 + i, n) for i, n in enumerate(counts)], ignore_index=True)
    tape = pd.concat([_tape(D0 + i) for i in range(3)], ignore_index=True)
    return hist, tape


# --- signal_drift ---------------------------------------------------------------------------

def test_tape_hours_of_concatenated_days_are_the_days_hours():
    three = pd.concat([_tape(D0 + i) for i in range(3)], ignore_index=True)
    assert abs(H.tape_hours(three) - 3 * 6.0) < 0.01  # not 54 h (first frame to last)
    assert abs(H.tape_hours(_tape(D0)) - 6.0) < 0.01
    assert H.tape_hours_by_day(three).keys() == {D0, D0 + 1, D0 + 2}


def test_signal_drift_passes_on_flat_loop_days():
    hist, tape = _loop_history()
    drift = H.firing_drift(_windows(D0 + 3, 5_899), _tape(D0 + 3), hist, tape)
    assert not drift.bad, [(r.detector_id, r.ratio) for r in drift.bad]
    assert drift.baseline_days == 3 and abs(drift.hours_baseline - 18.0) < 0.01
    for r in drift.rates:
        assert r.judged and 0.9 < r.ratio < 1.1
        assert r.baseline_n > 0 and r.baseline_per_h > 0  # the baseline it compares with


def test_signal_drift_fails_on_a_detector_that_truly_fires_more_or_less():
    hist, tape = _loop_history()
    up = H.firing_drift(_windows(D0 + 3, 5_899, scale={"book_flip_v1": 5.0}), _tape(D0 + 3),
                        hist, tape)
    assert [r.detector_id for r in up.bad] == ["book_flip_v1"]
    assert 4.0 < up.bad[0].ratio < 6.0
    down = H.firing_drift(_windows(D0 + 3, 5_899, scale={"sweep_stall_v1": 0.2}),
                          _tape(D0 + 3), hist, tape)
    assert [r.detector_id for r in down.bad] == ["sweep_stall_v1"]
    assert 0.15 < down.bad[0].ratio < 0.25


def test_signal_drift_compares_rates_per_hour_of_tape_not_per_day():
    """A 3 h day with half the windows of 6 h days fires at the same rate: passes; the same
    3 h day with the 6 h days' count fires twice as fast (x2 < x3: passes), with 4x: fails."""
    hist, tape = _loop_history()
    short = _tape(D0 + 3, hours=3.0)
    assert not H.firing_drift(_windows(D0 + 3, 2_950, hours=3.0), short, hist, tape).bad
    fast = H.firing_drift(_windows(D0 + 3, 4 * 2_950, hours=3.0), short, hist, tape)
    assert {r.detector_id for r in fast.bad} == set(DETECTORS)


def test_signal_drift_counts_only_history_days_with_tape():
    hist, tape = _loop_history()
    no_tape_day = _windows(D0 - 1, 50_000)  # windows of a day whose tape is gone
    drift = H.firing_drift(_windows(D0 + 3, 5_899), _tape(D0 + 3),
                           pd.concat([no_tape_day, hist], ignore_index=True), tape)
    assert not drift.bad and drift.baseline_days == 3


def test_signal_drift_does_not_judge_a_handful_of_windows():
    hist = _windows(D0, 30)
    drift = H.firing_drift(_windows(D0 + 1, 3), _tape(D0 + 1), hist, _tape(D0))
    assert not drift.bad and not any(r.judged for r in drift.rates)


# --- every other check's measure: a day that must pass, one that must fail -----------------

def test_gap_rate_within_each_day():
    two_days = pd.concat([_tape(D0), _tape(D0 + 1)], ignore_index=True)
    assert max(H.gap_rate(two_days).values()) == 0.0  # the night between is not a gap
    holed = pd.concat([_tape(D0), _tape(D0 + 1, hole=(2.0, 2.5))], ignore_index=True)
    rates = H.gap_rate(holed)
    assert all(abs(r - 0.5 / 12.0) < 0.001 for r in rates.values())  # 0.5 h of 12 h
    assert min(rates.values()) > H.LIMITS.max_gap_rate


def test_dead_letter_rate():
    ok = pd.DataFrame({"dead_letters": [1, 0], "items": [500, 500]})
    bad = pd.DataFrame({"dead_letters": [30, 0], "items": [500, 500]})
    assert H.dead_letter_rate(ok) <= H.LIMITS.max_dead_letter_rate
    assert H.dead_letter_rate(bad) > H.LIMITS.max_dead_letter_rate


def test_nan_and_stale_rates():
    f = pd.DataFrame({"mid_px": [1.0] * 99 + [np.nan], "stale_ms": [0] * 100})
    assert H.nan_rates(f, ("mid_px",))["mid_px"] <= H.LIMITS.max_nan_rate
    assert H.stale_rate(f) <= H.LIMITS.max_stale_rate
    g = pd.DataFrame({"mid_px": [1.0] * 90 + [np.nan] * 10, "stale_ms": [0] * 90 + [9_000] * 10})
    assert H.nan_rates(g, ("mid_px",))["mid_px"] > H.LIMITS.max_nan_rate
    assert H.stale_rate(g) > H.LIMITS.max_stale_rate


def test_feature_psi_same_hours_over_several_days():
    rng = np.random.default_rng(5)
    hist = pd.concat([pd.DataFrame({"ts_ms": (D0 + i) * DAY_MS + np.arange(3_000) * 1_000,
                                    "spread_bps": rng.lognormal(0, 0.4, 3_000)})
                      for i in range(3)], ignore_index=True)
    today = pd.DataFrame({"ts_ms": (D0 + 3) * DAY_MS + np.arange(3_000) * 1_000,
                          "spread_bps": rng.lognormal(0, 0.4, 3_000)})
    like = H.same_hours(hist, today)
    assert len(like) == len(hist)
    assert H.feature_psi(like, today, ("spread_bps",))["spread_bps"] <= H.LIMITS.max_psi
    wide = today.assign(spread_bps=today["spread_bps"] * 3)
    assert H.feature_psi(like, wide, ("spread_bps",))["spread_bps"] > H.LIMITS.max_psi


def _days_of_tape(rng: np.random.Generator, days: range, coins: int, hours: float,
                  scale: float = 1.0) -> list[pd.DataFrame]:
    """A part per (day, coin), in time order, as the check reads the lake."""
    n = int(hours * 3_600)
    return [pd.DataFrame({"ts_ms": (D0 + d) * DAY_MS + np.arange(n, dtype=np.int64) * 1_000,
                          "spread_bps": rng.lognormal(0, 0.4, n) * scale})
            for d in days for _ in range(coins)]


def test_a_row_sample_below_its_cap_is_every_row_at_todays_hours():
    rng = np.random.default_rng(6)
    hist_parts = _days_of_tape(rng, range(3), 2, 5.0)
    today = pd.concat(_days_of_tape(rng, range(3, 4), 2, 2.0), ignore_index=True)
    hours = np.unique((today["ts_ms"].to_numpy() // 3_600_000) % 24)
    sample = H.RowSample(sum(map(len, hist_parts)), hours=hours)
    for part in hist_parts:
        sample.add(part)
    whole = H.same_hours(pd.concat(hist_parts, ignore_index=True), today)
    assert sample.step == 1 and sample.rows == len(whole) == 3 * 2 * 7_200
    pd.testing.assert_frame_equal(sample.frame(), whole.reset_index(drop=True))
    assert sample.seen_hours == set(range(5))


def test_a_row_sample_above_its_cap_keeps_the_psi():
    """7 days x 20 coins x 24 h (12 M rows) sampled to 200,000: the PSI of a like day stays
    near the whole window's, a shifted day still fails, and the rows at today's hours are
    counted before the sampling."""
    rng = np.random.default_rng(7)
    parts = _days_of_tape(rng, range(7), 20, 24.0)
    today_parts = _days_of_tape(rng, range(7, 8), 20, 12.0)
    today = pd.concat(today_parts, ignore_index=True)
    hours = np.unique((today["ts_ms"].to_numpy() // 3_600_000) % 24)
    sample = H.RowSample(sum(map(len, parts)), hours=hours)
    t_sample = H.RowSample(len(today))
    for part in parts:
        sample.add(part)
    for part in today_parts:
        t_sample.add(part)
    whole = H.same_hours(pd.concat(parts, ignore_index=True), today)
    assert sample.rows == len(whole) and len(sample.frame()) <= H.PSI_SAMPLE_ROWS
    assert len(t_sample.frame()) <= H.PSI_SAMPLE_ROWS < len(today)
    full = H.feature_psi(whole, today, ("spread_bps",))["spread_bps"]
    got = H.feature_psi(sample.frame(), t_sample.frame(), ("spread_bps",))["spread_bps"]
    assert abs(got - full) < 2e-3 and got < H.LIMITS.max_psi
    wide = t_sample.frame().assign(spread_bps=lambda f: f["spread_bps"] * 1.5)
    assert H.feature_psi(sample.frame(), wide, ("spread_bps",))["spread_bps"] > H.LIMITS.max_psi


def test_publication_rate_bounds():
    assert H.LIMITS.min_publication_rate <= H.publication_rate(
        pd.DataFrame({"published": [True] + [False] * 99})) <= H.LIMITS.max_publication_rate
    assert H.publication_rate(pd.DataFrame({"published": [True] * 60 + [False] * 40})) \
        > H.LIMITS.max_publication_rate


def _evals(n_windows: int, hits: int, horizons=(30, 60, 300, 900)) -> pd.DataFrame:
    rows = [{"window_id": f"W{w}", "horizon_s": h, "status": "done", "published": True,
             "hit": w < hits} for w in range(n_windows) for h in horizons]
    return pd.DataFrame(rows).astype({"hit": "boolean"})


def test_hit_rate_z_counts_windows_not_window_horizon_rows():
    """0.5 expected, 100 windows x 4 horizons at 0.35: 3 SDs below by windows (z -3.0) but 6
    by rows. 0.40 is 2 SDs below by windows: must pass (it failed when rows were counted);
    0.30: 4 SDs below: must fail."""
    rate, n, z = H.hit_rate_shortfall(_evals(100, 40), 0.5)
    assert (rate, n) == (0.4, 100) and abs(z + 2.0) < 1e-9 and z > -H.LIMITS.hit_rate_z
    rate, n, z = H.hit_rate_shortfall(_evals(100, 30), 0.5)
    assert n == 100 and z < -H.LIMITS.hit_rate_z


def test_hit_tally_of_slices_is_the_frames_figure():
    """A day folded slice by slice (a window's horizons split across slices, rows not done
    or not published mixed in) gives the rate and window count of the day held whole."""
    day = pd.concat([_evals(50, 20), _evals(30, 30).assign(published=False),
                     _evals(10, 5).assign(status="pending")], ignore_index=True)
    day = day.sample(frac=1.0, random_state=3).reset_index(drop=True)
    tally = H.HitTally().add_day(day.iloc[k:k + 37] for k in range(0, len(day), 37))
    assert (tally.rows, tally.windows, tally.days) == (200, 50, 1)
    assert H.hit_rate_shortfall(tally, 0.5) == H.hit_rate_shortfall(day, 0.5)
    assert H.HitTally().add_day([day.iloc[:0]]).days == 0


def test_window_counts_give_the_frames_firing_drift():
    hist, tape = _loop_history()
    today = _windows(D0 + 3, 5_899, scale={"book_flip_v1": 5.0})
    counts = H.WindowCounts()
    for k in range(0, len(hist), 1_000):
        counts.add(hist.iloc[k:k + 1_000])
    assert H.firing_drift(H.WindowCounts().add(today), _tape(D0 + 3), counts, tape) == \
        H.firing_drift(today, _tape(D0 + 3), hist, tape)


def test_lesson_ci_and_priors_pass_and_fail():
    good = pd.DataFrame({"ci_lo": [1.0], "uplift_bps": [2.0], "ci_hi": [3.0], "p05": [0.5],
                         "state": ["active"], "sign": [1]})
    assert H.ci_violations(good) == (0, 0)
    assert H.ci_violations(good.assign(ci_lo=[2.5])) == (1, 0)
    snap = pd.DataFrame({"key": ["patch/d/BTC/x=1/theta_delta"], "before_value": [0.0],
                         "after_value": [0.05]})
    assert H.priors_violations(snap, (0.0, 0.5), (0.5, 1.0), 0.15, 0.1) == []
    assert H.priors_violations(snap.assign(after_value=[0.2]), (0.0, 0.5), (0.5, 1.0),
                               0.15, 0.1)


# --- what a check shows: value, threshold, baseline -----------------------------------------

def test_measures_show_value_threshold_and_baseline():
    ms = [H.Measure("firing_per_h_a", 12.0, "ratio in [1/3, 3]: x1.02", True,
                    "3 day(s), 18.0 h of tape", None, 11.8),
          H.Measure("dead_letter_rate", 0.02, "<= 0.01", False, limit=0.01)]
    md = H.measures_md(ms)
    assert "| firing_per_h_a | 12 | ratio in [1/3, 3]: x1.02 | 11.8 (3 day(s), 18.0 h of " \
        "tape) | ok |" in md
    assert "| dead_letter_rate | 0.02 | <= 0.01 | absolute limit | **FAIL** |" in md
    nums = H.measures_numbers(ms)
    assert nums == {"firing_per_h_a": 12.0, "firing_per_h_a_baseline": 11.8,
                    "dead_letter_rate": 0.02, "dead_letter_rate_limit": 0.01}


# --- the audit check: which audit, per detector, and where the card is ----------------------

def _audits() -> pd.DataFrame:
    row = {"future_touch_ok": True, "future_touch_metric": 0.0, "label_shuffle_ok": True,
           "label_shuffle_metric": 0.01, "label_shuffle_verdict": "collapsed",
           "rolling_gap_ok": True, "rolling_gap_metric": 0.02, "adversarial_ok": True,
           "adversarial_metric": 0.1, "production": True}
    return pd.DataFrame([
        {**row, "detector_id": "book_flip_v1", "leakage_ok": True, "detail": "{}"},
        {**row, "detector_id": "sweep_stall_v1", "leakage_ok": False, "adversarial_ok": False,
         "rolling_gap_ok": False, "rolling_gap_metric": 0.31, "adversarial_metric": 0.6,
         "detail": json.dumps({"rolling_origin_gap": "gap 0.31 > tau 0.2",
                               "adversarial": "sigma drop 0.6 > 0.5"})}])


def test_audit_verdicts_name_the_failing_audits_and_the_card():
    v = H.audit_verdicts(_audits())
    assert [x.detector_id for x in v] == ["sweep_stall_v1"]  # passing detectors: not listed
    assert v[0].failed == ("rolling_origin_gap", "adversarial")
    assert v[0].verdicts["rolling_origin_gap"] == \
        "FAIL (metric 0.31): gap 0.31 > tau 0.2"
    assert v[0].verdicts["future_touch"].startswith("pass")
    assert "verdict collapsed" in v[0].verdicts["label_shuffle"]
    md = H.audit_verdicts_md(v, "2026-02-04")
    assert "sweep_stall_v1 (production): fails rolling_origin_gap, adversarial" in md
    assert "`detector_cards`, partition `2026-02-04`, metadata `card_sweep_stall_v1`" in md
    assert H.audit_verdicts(_audits().iloc[:1]) == []
