"""The pure measures and renderers behind the UI's checks and plots."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lotus_core.report import health as H
from lotus_core.report.svg import forest, lines
from lotus_core.report.tables import lessons_table, markdown_table, priors_diff


def test_psi_is_small_for_the_same_market_and_large_for_a_shifted_one():
    rng = np.random.default_rng(1)
    base = rng.lognormal(0.0, 0.5, 20_000)
    same = rng.lognormal(0.0, 0.5, 5_000)
    shifted = rng.lognormal(0.8, 0.5, 5_000)
    assert H.psi(base, same) < 0.05
    assert H.psi(base, shifted) > H.LIMITS.max_psi


def test_gap_and_stale_rates():
    ts = np.r_[np.arange(0, 100_000, 1000), np.arange(150_000, 200_000, 1000)]
    frames = pd.DataFrame({"coin": "BTC", "ts_ms": ts, "stale_ms": np.where(ts > 190_000,
                                                                            9_000, 0)})
    assert abs(H.gap_rate(frames)["BTC"] - 50 / 200) < 0.01
    assert 0.0 < H.stale_rate(frames) < 0.1


def test_ci_sanity_finds_an_estimate_outside_its_ci_and_an_active_lesson_with_p05_le_0():
    lessons = pd.DataFrame({"ci_lo": [1.0, -1.0, 0.5], "uplift_bps": [2.0, 3.0, 1.0],
                            "ci_hi": [3.0, 2.0, 2.0], "p05": [1.0, -1.0, -0.1],
                            "state": ["active", "proposed", "active"], "sign": [1, 1, 1]})
    assert H.ci_violations(lessons) == (1, 1)
    unsigned = lessons.assign(sign=[1, 0, 1])  # splits disagree: uplift 0 by design
    assert H.ci_violations(unsigned) == (0, 1) and H.unsigned_lessons(unsigned) == 1


def test_priors_violations_name_the_key():
    snap = pd.DataFrame({"key": ["cap/theta_min", "patch/d/BTC/x=1/theta_delta"],
                         "before_value": [0.05, 0.0], "after_value": [0.9, 0.3]})
    bad = H.priors_violations(snap, (0.0, 0.5), (0.5, 1.0), 0.15, 0.1)
    assert any("cap/theta_min" in b for b in bad)
    assert sum("patch/d/BTC/x=1/theta_delta" in b for b in bad) == 2


def test_forest_and_lines_are_deterministic_svg():
    a = forest(["d: x=1", "d: y=2"], [2.0, -1.0], [0.5, -3.0], [3.5, 0.5], "t")
    assert a == forest(["d: x=1", "d: y=2"], [2.0, -1.0], [0.5, -3.0], [3.5, 0.5], "t")
    assert a.startswith("<svg") and a.count("<circle") == 2
    b = lines(["01-01", "01-02"], {"p": [0.5, float("nan")]}, "t", y_range=(0, 1))
    assert "<svg" in b and "NaN" not in b and "nan" not in b


def test_lessons_table_shows_rule_ci_and_state_change():
    lessons = pd.DataFrame({
        "lesson_id": ["a", "b"], "detector_id": ["d", "d"], "rule": ["x=1", "y=2"],
        "state": ["active", "proposed"], "uplift_bps": [4.0, 1.0], "ci_lo": [1.0, -1.0],
        "ci_hi": [7.0, 3.0], "uplift_ipw": [4.5, 0.9], "uplift_naive": [6.0, 1.2],
        "support": [120, 40]})
    prev = pd.DataFrame({"lesson_id": ["a"], "state": ["proposed"]})
    md = lessons_table(lessons, prev)
    assert "| d | x=1 | +4.00 | [+1.00, +7.00] | +4.50 | +6.00 | 120 | proposed -> active |" in md
    assert "new -> proposed" in md
    assert markdown_table(pd.DataFrame()) == "_(none)_"


def test_priors_diff_lists_only_changed_keys():
    snap = pd.DataFrame({"kind": ["patch", "patch", "cap"], "key": ["p1", "p2", "c"],
                         "before_value": [np.nan, 0.1, 0.05],
                         "after_value": [0.2, 0.1, 0.05]})
    d = priors_diff(snap)
    assert d["key"].tolist() == ["p1"] and d["change"].tolist() == ["added"]
