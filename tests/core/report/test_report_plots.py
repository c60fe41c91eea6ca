"""The plots and tables a researcher publishes: one colour per detector, full labels, legends,
active vs proposed, a priors diff that lists only readable changes, described columns."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from lotus_core.learning.lessons import COLUMNS as LESSON_COLUMNS
from lotus_core.report import columns
from lotus_core.report.svg import (
    DETECTOR_COLOURS,
    detector_colour,
    forest,
    panels,
    timeline,
    wrap,
)
from lotus_core.report.tables import lessons_forest, loom_detectors, loom_svg, priors_diff

LONG = "funding_pctl_bin=hi&oi_pctl_bin=mid&regime=trend_up_with_a_very_long_literal_name"


def _lessons() -> pd.DataFrame:
    return pd.DataFrame({
        "lesson_id": ["a", "b", "c"],
        "detector_id": ["mean_reversion_z_v1", "sweep_flow_v1", "mean_reversion_z_v1"],
        "rule": [LONG, "session=asia", "mx_bin=lo"], "state": ["active", "proposed", "active"],
        "uplift_bps": [4.0, -2.0, 1.5], "ci_lo": [1.0, -5.0, 0.2], "ci_hi": [7.0, 1.0, 2.8],
        "uplift_ipw": [4.5, -1.0, 1.0], "uplift_naive": [6.0, 0.0, 1.0],
        "support": [120, 40, 60]})


def test_each_detector_has_one_fixed_colour_whatever_else_is_plotted():
    assert len(set(DETECTOR_COLOURS.values())) == len(DETECTOR_COLOURS)
    assert detector_colour("mean_reversion_z_v1") == DETECTOR_COLOURS["mean_reversion_z_v1"]
    assert detector_colour("new_detector_v9") == detector_colour("new_detector_v9")
    one = lessons_forest(_lessons().iloc[[0]])
    both = lessons_forest(_lessons())
    colour = DETECTOR_COLOURS["mean_reversion_z_v1"]
    import base64
    for md in (one, both):
        svg = base64.b64decode(md.split("base64,")[1].rstrip(")")).decode()
        assert f'stroke="{colour}"' in svg


def test_forest_wraps_long_rules_instead_of_cutting_and_draws_proposed_hollow():
    svg = forest([f"mean_reversion_z_v1: {LONG}", "sweep_flow_v1: x=1"], [4.0, -2.0],
                 [1.0, -5.0], [7.0, 1.0], "t", colors=["#111111", "#222222"],
                 filled=[True, False], legend=[("active lesson", "#555", "filled"),
                                               ("proposed", "#555", "hollow")])
    text = "".join(line for line in wrap(f"mean_reversion_z_v1: {LONG}", 74))
    assert text.replace(" ", "") == f"mean_reversion_z_v1: {LONG}".replace(" ", "")
    for line in wrap(f"mean_reversion_z_v1: {LONG}", 74):
        assert f">{line}</text>" in svg.replace("&amp;", "&")
    assert 'fill="#111111" stroke="#111111"' in svg  # active: filled
    assert 'fill="white" stroke="#222222"' in svg  # proposed: hollow
    assert ">active lesson</text>" in svg and ">proposed</text>" in svg


def test_wrap_never_loses_a_character():
    for text in ["", "a", "x" * 100, "a b " * 40, LONG]:
        lines = wrap(text, 20)
        assert all(len(line) <= 20 for line in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def test_small_multiples_give_equal_series_a_panel_each():
    same = [1.0, 2.0, 2.0]
    svg = panels(["02-28", "03-01", "03-02"], {"a_v1": same, "b_v1": same, "c_v1": same},
                 "t", "patches (count)", {"a_v1": "#101010", "b_v1": "#202020",
                                          "c_v1": "#303030"})
    assert svg.count("<polyline") == 3 and svg.count('fill="none" stroke="#ccc"') == 3
    for c in ("#101010", "#202020", "#303030"):
        assert f'stroke="{c}"' in svg
    assert ">patches (count)</text>" in svg and ">trading day (UTC)</text>" in svg


def test_timeline_marks_trades_and_labels_its_axes():
    svg = timeline({"BTC": ([0.5, 1.0, 2.0], [0.0, 0.2, -0.1])}, "t", "hour (UTC)",
                   "weight", {"BTC": "#f7931a"}, {"BTC": ([1.0], [0.2])}, (0, 3), "trade")
    assert svg.count('r="3.5" fill="#f7931a"') == 1
    assert ">hour (UTC)</text>" in svg and ">weight</text>" in svg and ">trade</text>" in svg


def test_priors_diff_drops_float_noise_and_prints_the_digits_of_a_real_change():
    snap = pd.DataFrame({
        "kind": ["patch"] * 4, "key": ["noise", "real", "added", "same"],
        "before_value": [0.03, 0.0300001, np.nan, 0.5],
        "after_value": [0.03 + 1e-15, 0.0300002, 0.2, 0.5]})
    d = priors_diff(snap)
    assert d["key"].tolist() == ["real", "added"]
    real = d.iloc[0]
    assert real["before"] != real["after"]  # printed differently: the change is visible
    assert (real["before"], real["after"]) == ("+0.0300001", "+0.0300002")


def test_every_detector_with_an_active_lesson_or_patch_gets_a_loom():
    lessons = _lessons()
    braids = pd.DataFrame({"braid_id": ["b1"], "lesson_id": ["b"], "detector_id": ["sweep_flow_v1"],
                           "op": ["LESSON"], "rule": ["session=asia"], "state": ["active"],
                           "parents": ["[]"]})
    meta = braids.iloc[0:0]
    snap = pd.DataFrame({"kind": ["patch", "patch", "cap"],
                         "key": ["patch/mean_reversion_z_v1/mx_bin=lo/theta",
                                 "patch/flow_pressure_v1/x=1/phi", "cap/theta_min"],
                         "before_value": [np.nan, 0.1, 0.1], "after_value": [0.1, 0.2, 0.1]})
    dets = loom_detectors(lessons, braids, meta, snap)
    assert dets == ["flow_pressure_v1", "mean_reversion_z_v1", "sweep_flow_v1"]
    svg = loom_svg("mean_reversion_z_v1", lessons, braids, meta, snap)
    assert "mx_bin=lo/theta" in svg  # its patch key, though no braid of it is active
    for line in wrap(f"{LONG} (+4.00 bps)", 44):  # the full rule, wrapped
        assert line.replace("&", "&amp;") in svg


def test_every_lessons_column_has_a_description():
    assert set(LESSON_COLUMNS) <= set(columns.LESSONS)
    assert all(len(v) > 10 for v in columns.LESSONS.values())


def test_forest_keeps_non_finite_estimates_out_of_the_axis():
    svg = forest(["a"], [math.nan], [math.nan], [math.nan], "t")
    assert "nan" not in svg.lower().replace("font-family", "")
