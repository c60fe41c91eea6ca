"""The MicroTape on a generated market: causal, valid, and it sees what was planted.

Marked slow: generating and parsing two hours of three-coin synthetic traffic takes seconds.
"""

from __future__ import annotations

import json
from datetime import date

import numpy as np
import pandas as pd
import pytest

from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import MICROTAPE_SCHEMA, MicroTapeParams, build_microtape
from lotus_core.synth import default_spec, generate_day
from tests.core.microtape.test_microtape import _assert_causal, _cut_points

PARAMS = MicroTapeParams(rv_pctl_window_ms=600_000, ctx_pctl_window_ms=1_200_000,
                         candle_pctl_min=5)


@pytest.fixture(scope="module")
def synth_day(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    feed_path, truth_path = generate_day(out, date(2026, 1, 3), ["BTC", "ETH"], 3,
                                         default_spec(), hours=(10, 12))
    return parse_recording(feed_path), json.loads(truth_path.read_text())


@pytest.mark.slow
def test_synthetic_day_is_causal_and_valid(synth_day):
    feed, _ = synth_day
    cuts = _cut_points(feed, PARAMS.cadence_ms, np.random.default_rng(5))
    assert _assert_causal(feed, PARAMS, np.array(cuts)) > 20_000
    df = build_microtape(feed, PARAMS)
    MICROTAPE_SCHEMA.validate(df)
    assert (df["session"] == "weekend").all()  # 2026-01-03 is a Saturday


@pytest.mark.slow
def test_planted_sweeps_and_depth_vacuums_show(synth_day):
    feed, truth = synth_day
    df = build_microtape(feed, PARAMS)
    swept, vacuum = [], []
    for coin, planted in truth["per_coin"].items():
        g = df[df["coin"] == coin].set_index("ts_ms")
        for p in planted["patterns"]:
            if p["type"] == "sweep":
                w = g.loc[p["start_ms"]: p["end_ms"] + 2_000]
                swept.append(bool(((w["sweep_flag"] == 1)
                                   & (w["sweep_dir"] == p["direction"])).any()))
            elif p["type"] == "depth_vacuum":
                vacuum.append(g.loc[p["start_ms"] + 1_000: p["end_ms"], "depth_5_rel"].median())
    assert len(swept) >= 5 and np.mean(swept) >= 0.9
    assert df["sweep_flag"].mean() < 0.1  # and it is not always on
    if vacuum:
        assert pd.Series(vacuum).median() < 0.3
