"""The plots and tables a researcher publishes: one colour per detector, full labels, legends,
active vs proposed, a priors diff that lists only readable changes, described columns."""

from __future__ import annotations

import math
import re

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
    for text in ["", "a", "a b " * 40, LONG, "sweep_stall_v1 oi_pctl_bin=hi&dir=long"]:
        lines = wrap(text, 20)
        assert all(len(line) <= 20 for line in lines)
        assert "".join(lines).replace(" ", "") == text.replace(" ", "")


def _breaks_only_at_word_boundaries(text: str, lines: list[str]) -> None:
    rest = text
    for line in lines[:-1]:
        assert rest.startswith(line), (line, rest)
        rest = rest[len(line):]
        assert line[-1] in "&=_/" or rest.startswith(" "), (line, rest)  # not mid-word
        rest = rest.lstrip(" ")
    assert rest == lines[-1]


def test_wrap_breaks_labels_at_word_boundaries_never_mid_word():
    label = "sweep_stall_v1 oi_pctl_bin=hi&dir=long"
    for width in (8, 12, 14, 17, 20, 25, 30, 44):
        lines = wrap(label, width)
        assert all(len(line) <= width for line in lines)
        _breaks_only_at_word_boundaries(label, lines)
    assert wrap(label, 14) == ["sweep_stall_v1", "oi_pctl_bin=", "hi&dir=long"]
    assert wrap(label, 44) == [label]
    _breaks_only_at_word_boundaries(LONG, wrap(LONG, 20))


def test_wrap_cuts_a_token_longer_than_a_line_with_an_ellipsis():
    assert wrap("x" * 100, 20) == ["x" * 19 + "\u2026"]
    assert wrap("a=" + "y" * 30 + " b", 10) == ["a=", "y" * 9 + "\u2026", "b"]


def test_loom_labels_break_at_word_boundaries():
    rule = "sweep_stall_v1 oi_pctl_bin=hi&dir=long&funding_pctl_bin=mid&session=asia_open"
    lessons = pd.DataFrame({"lesson_id": ["a"], "detector_id": ["sweep_stall_v1"],
                            "rule": [rule], "state": ["active"], "uplift_bps": [3.0]})
    empty = pd.DataFrame(columns=["braid_id", "lesson_id", "detector_id", "op", "rule",
                                  "state", "parents"])
    snap = pd.DataFrame(columns=["kind", "key", "before_value", "after_value"])
    svg = loom_svg("sweep_stall_v1", lessons, empty, empty, snap).replace("&amp;", "&")
    shown = re.findall(r'font-size="10"[^>]*>([^<]*)</text>', svg)
    label = f"{rule} (+3.00 bps)"
    start = next(i for i, s in enumerate(shown) if label.startswith(s))
    lines = shown[start:start + len(wrap(label, 44))]
    assert len(lines) > 1
    _breaks_only_at_word_boundaries(label, lines)


def test_forest_title_says_how_many_of_how_many_lessons_it_shows():
    n = 143
    lessons = pd.DataFrame({
        "lesson_id": [f"l{i}" for i in range(n)], "detector_id": ["sweep_flow_v1"] * n,
        "rule": [f"x_bin={i}" for i in range(n)], "state": ["active"] * n,
        "uplift_bps": np.linspace(-5, 5, n), "ci_lo": np.linspace(-6, 4, n),
        "ci_hi": np.linspace(-4, 6, n), "uplift_ipw": [0.0] * n, "uplift_naive": [0.0] * n,
        "support": [50] * n})
    svg = _decoded(lessons_forest(lessons))
    assert "the 30 largest of 143 active or changed lessons tonight" in svg
    assert svg.count("x_bin=") == 30
    few = _decoded(lessons_forest(lessons.head(3)))
    assert "3 active or changed lessons tonight" in few and "largest" not in few


def _decoded(md: str) -> str:
    import base64
    return base64.b64decode(md.split("base64,")[1].rstrip(")")).decode()


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
