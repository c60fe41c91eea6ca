"""Chart lessons against planted truth (lotus_core.vis.lessons): on markets of source charts
where one kind of chart carries an edge (a pattern alone; a direction in a session), the
night's lessons name it and the compiled vis priors weigh those charts above every other;
on the null twin (the same charts and draws, nothing planted) no lesson activates and the
priors weigh every chart 1. Then the compile's caps, the priors' bounds, and one weight
nightly and live (the CHART_ALPHA payload carries what the literals read)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from bench.vis_lessons import CELLS, T0, judged, market, nights, planted_truth
from lotus_core.dm.vis_source import chart_alpha, vis_alphas, vis_training_frame
from lotus_core.learning.validity_seeds import load_seeds
from lotus_core.vis.lessons import (
    VisPriors,
    compile_vis,
    load_vis_learning,
    timeframe_band,
    weigh,
)
from lotus_core.vis.source import chart_payload, sources

CFG, LCFG = load_vis_learning()
SEEDS = load_seeds()  # validity_seeds.yaml's tuning `vis_lessons` cells


@pytest.mark.parametrize("cell", ["pattern", "context"])
def test_a_planted_kind_of_chart_is_learned_and_weighed_up(cell: str) -> None:
    """+8 bps on breakout charts, or on short charts in the US session: the nights name
    exactly those literals (interval above 0) and the priors weigh those charts above
    every other (a lesson compares its context with the rest, so the rest may be weighed
    down: "both" lacks what "breakout" alone carries)."""
    for seed in SEEDS.seeds("tuning", "vis_lessons", cell, 2):
        r = judged(cell, seed)
        print(r)
        assert r["found"] and r["weighed"], r
        assert all(u > 4 for u in r["uplift_bps"]), r  # type: ignore[attr-defined]
    planted = CELLS[cell][0]
    assert planted is not None
    strands, evals = market(seed, planted)
    _, priors = nights(strands, evals)
    w = priors.weights(sources(strands))
    truth = planted_truth(strands, planted)
    assert (w[~truth] <= 1.0).all() and w[truth].min() > 1.1 and w.max() <= CFG.caps.weight_max


def test_the_null_twin_learns_nothing_and_weighs_every_chart_one() -> None:
    for seed in SEEDS.seeds("tuning", "vis_lessons", "null", 2):
        assert judged("null", seed)["active"] == []
        strands, evals = market(seed, None)
        _, priors = nights(strands, evals)
        assert priors.entries == ()
        assert np.array_equal(priors.weights(sources(strands)), np.ones(len(strands)))


def _braid(bid: str, rule: str, sign: int, bqs: float, weight: float) -> dict[str, object]:
    return {"braid_id": bid, "lesson_id": "L" + bid[1:], "rule": rule, "context": rule,
            "weight": weight, "sign": sign, "uplift_bps": sign * 5.0, "bqs": bqs,
            "state": "active", "reason": "lesson_active"}


def test_the_compile_drops_conflicts_and_keeps_to_its_caps() -> None:
    q = VisPriors.from_rows(0, {}, CFG).quantizer
    assert q is not None
    braids = pd.DataFrame([
        _braid("V1", "pattern=breakout", +1, 9.0, 1.25),
        _braid("V2", "dir=short", -1, 8.0, 0.8),             # overlaps V1, other way
        _braid("V3", "pattern=trend", -1, 7.0, 0.8),          # disjoint from V1: kept
        _braid("V4", "pattern=breakout&tf=day", +1, 6.0, 1.2)])  # past max_new_per_night
    out = compile_vis(braids, q, CFG, None)
    assert out.chosen == ["V1", "V3"]
    assert out.dropped == {"V2": "conflict", "V4": "cap:max_new_per_night"}
    # an entry already in force is no change: the next night keeps both and adds V4
    again = compile_vis(braids, q, CFG, out.rows)
    assert again.chosen == ["V1", "V3", "V4"]
    # removals always apply: without braids the set holds caps alone
    empty = compile_vis(braids.iloc[0:0], q, CFG, out.rows)
    assert not [k for k in empty.rows if k.startswith("patch/")]


def test_weights_multiply_within_their_bounds_and_bad_rows_are_refused() -> None:
    rows = {"patch/*/pattern=breakout/weight": 1.4, "patch/*/dir=long/weight": 1.3,
            "cap/weight_min": 0.5, "cap/weight_max": 1.5}
    priors = VisPriors.from_rows(3, rows, CFG)
    charts = pd.DataFrame({"ts_ms": [T0, T0], "timeframe": ["1h", None],
                           "confidence": [0.9, 0.9], "direction": [1, -1],
                           "pattern_flags": [json.dumps({"breakout_up": 0.8}),
                                             json.dumps({"breakout_down": 0.8})]})
    assert list(priors.weights(charts)) == [1.5, 1.4]  # 1.4 x 1.3 clipped; 1.4 alone
    with pytest.raises(ValueError, match="names no chart literal"):
        VisPriors.from_rows(4, {"patch/*/pattern=wedge/weight": 1.2}, CFG)
    with pytest.raises(ValueError, match="is not patch"):
        VisPriors.from_rows(5, {"patch/BTC/dir=long/order": 1.0}, CFG)
    assert [timeframe_band(t) for t in ("15m", "4h", "1d", "1w", None, "x")] == \
        ["min", "hour", "day", "day", "na", "na"]


def test_one_weight_in_the_table_and_the_payload_and_the_calibration_sees_it() -> None:
    """vis weighs its charts (`weigh`: vis_strands' `weight`); the CHART_ALPHA payload
    carries the weight and the timeframe, so the live DM's alpha is the nightly's; the
    calibration fits on the weighted scores; a table or payload without weights is 1."""
    strands, evals = market(SEEDS.seeds("tuning", "vis_lessons", "pattern", 1)[0],
                            CELLS["pattern"][0])
    _, priors = nights(strands, evals)
    table = weigh(strands, priors)
    nightly = {a.alpha_id: a.curated_sigma for a in vis_alphas(table)}
    live = {}
    for i in range(len(table)):
        payload = chart_payload(table.iloc[[i]])
        assert payload is not None and payload["timeframe"] == table["timeframe"].iloc[i]
        assert payload["weight"] == table["weight"].iloc[i]
        a = chart_alpha(payload)
        live[a.alpha_id] = a.curated_sigma
    assert live == nightly
    raw = dict(zip(strands["strand_id"], strands["confidence"], strict=True))
    assert any(nightly[s] > c for s, c in raw.items())
    train = vis_training_frame(table, evals)
    assert dict(zip(train["window_id"], train["x"], strict=True)) == nightly
    plain = vis_training_frame(strands, evals)
    assert dict(zip(plain["window_id"], plain["x"], strict=True)) == raw
    unweighed = chart_payload(strands.iloc[[0]])
    assert unweighed is not None and "weight" not in unweighed
    assert chart_alpha(unweighed).curated_sigma == raw[unweighed["strand_id"]]
