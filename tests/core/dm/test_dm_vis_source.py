"""Charts as a Decision-Maker source (`lotus_core.dm.vis_source`): the direction rule, the
training rows the calibration fits (signed by the chart's direction, done outcomes of
directed, read charts with a coin only), the merge into the day's alphas (none: the very
same slots), a DM replay deciding on a calibrated chart, and the live envelope's payload
carrying exactly the nightly's alpha."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lotus_core.dm.alpha import AlphaError, AlphaEvent, AlphaList
from lotus_core.dm.calibration import Calibration, fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.replay import replay
from lotus_core.dm.vis_source import (
    chart_alpha,
    vis_alphas,
    vis_training_frame,
    with_training,
    with_vis,
)
from lotus_core.fabric.envelope import build_envelope, canonical_json, validate_envelope
from lotus_core.fabric.ulid import new_ulid
from lotus_core.vis.patterns import direction_of
from lotus_core.vis.source import CHART_SCHEMA, DETECTOR, chart_payload
from tests.kits.dm_kit import DAY0_MS, tape_rows


@pytest.mark.parametrize(("flags", "direction"), [
    ({"trend_up": 0.9}, 1), ({"breakout_up": 0.8, "higher_highs": 0.8}, 1),
    (["trend_up", "breakout_up"], 1), ({"trend_down": 0.9}, -1), ({"breakout_down": 0.7}, -1),
    ({"range": 0.9}, 0), ({"higher_highs": 0.9}, 0), ({"lower_lows": 0.9}, 0), ({}, 0),
    ({"trend_up": 0.9, "breakout_down": 0.9}, 0), (None, 0)])
def test_the_direction_a_chart_states(flags: object, direction: int) -> None:
    assert direction_of(flags) == direction


def _strands(n: int, start_ms: int, flags: dict[str, float], coin: str | None = "BTC",
             kind: str = "analysis", tag: str = "c") -> pd.DataFrame:
    return pd.DataFrame({
        "strand_id": [f"{tag}{i:04d}" for i in range(n)], "kind": kind, "coin": coin,
        "ts_ms": start_ms + 600_000 * np.arange(n, dtype=np.int64),
        "confidence": np.linspace(0.6, 0.95, n), "pattern_flags": json.dumps(flags)})


def _evals(strands: pd.DataFrame, ret_bps: float, seed: int,
           status: str = "done") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [{"strand_id": s, "horizon_s": h, "status": status,
             "fwd_ret_bps": ret_bps * np.sqrt(h / 60) + rng.normal(0, 2.0)}
            for s in strands["strand_id"] for h in (30, 60, 300, 900)]
    return pd.DataFrame(rows)


def test_training_rows_are_the_directed_charts_done_outcomes_signed() -> None:
    start = DAY0_MS - 86_400_000
    longs, shorts = _strands(70, start, {"trend_up": 0.9}, tag="L"), \
        _strands(70, start + 1, {"trend_down": 0.9}, tag="S")
    flat = _strands(5, start, {"range": 0.9}, tag="R")
    nocoin = _strands(5, start, {"trend_up": 0.9}, coin=None, tag="N")
    unread = _strands(5, start, {"trend_up": 0.9}, kind="unreadable", tag="U")
    strands = pd.concat([longs, shorts, flat, nocoin, unread], ignore_index=True)
    # the coin fell after every chart: the long charts were wrong, the short ones right
    evals = pd.concat([_evals(s, -10.0, i) for i, s in enumerate([longs, shorts, flat])]
                      + [_evals(longs.head(3), 50.0, 9, status="pending")], ignore_index=True)
    train = vis_training_frame(strands, evals)
    assert set(train["window_id"]) == set(longs["strand_id"]) | set(shorts["strand_id"])
    assert len(train) == 140 * 4 and set(train["detector_id"]) == {DETECTOR}
    assert (train.loc[train["window_id"].str.startswith("L"), "y"] < 0).all()
    assert (train.loc[train["window_id"].str.startswith("S"), "y"] > 0).all()
    assert ((train["hit"] == 1.0) == (train["y"] > 0)).all() and (train["cost"] == 0).all()

    cfg = load_dm_settings({}).calibration
    # pooled, the wrong long charts and the right short ones cancel: no edge as a source
    pooled = Calibration(fit_calibration(train, cfg, "w"), cfg)
    assert pooled.forecast(DETECTOR, 300, "BTC", 0.8, +1).edge_bps == 0.0
    # the long charts alone: the source learns that its long chart precedes a fall
    wrong = train[train["window_id"].str.startswith("L")]
    table = fit_calibration(wrong, cfg, "w")
    assert (table["status"] == "fitted").all() and (table["n"] == 70).all()
    f = Calibration(table, cfg).forecast(DETECTOR, 300, "BTC", 0.8, +1)
    assert f.mu_raw_bps < 0 and f.edge_bps < 0
    # too few outcomes: the conservative prior, whatever they said
    few = fit_calibration(train[train["window_id"].isin(["L0000", "L0001"])], cfg, "w")
    assert (few["status"] == "prior").all() and (few["reliability"] == 0.0).all()
    assert with_training(train.iloc[0:0], vis_training_frame(strands.iloc[0:0], evals)
                         ).empty


def test_without_charts_the_days_alphas_are_the_same_slots() -> None:
    published = AlphaList([AlphaEvent("a1", DAY0_MS + 5, "BTC", "d", 60, 1, 0.9, ())])
    assert with_vis(published, vis_alphas(pd.DataFrame())) is published
    charts = vis_alphas(_strands(2, DAY0_MS + 5, {"trend_down": 0.9}))
    merged = with_vis(published, charts)
    # by time, a chart after the signals of its millisecond
    assert [merged.at(i).alpha_id for i in range(3)] == ["a1", "c0000", "c0001"]
    assert [a.direction for a in charts] == [-1, -1]


def test_a_calibrated_long_chart_moves_the_book() -> None:
    cfg = load_dm_settings({})
    history = _strands(120, DAY0_MS - 3 * 86_400_000, {"breakout_up": 0.9})
    train = vis_training_frame(history, _evals(history, 30.0, 1))
    cal = Calibration(fit_calibration(train, cfg.calibration, "w"), cfg.calibration)
    today = _strands(1, DAY0_MS + 600_000, {"breakout_up": 0.9})
    res = replay(DmEngine(cfg, cal), tape_rows(seconds=900), vis_alphas(today))
    (d,) = [d for d in res.decisions if d.coin == "BTC"]
    assert d.alpha_id == "c0000" and d.action == "trade" and d.target > 0
    assert "vis@BTC:c0000@300s" in d.ticket["rationale"]["blend_weights"]


@pytest.mark.parametrize(("flags", "kind", "coin", "posted"), [
    ({"trend_up": 1.0}, "analysis", "BTC", True),
    ({"breakout_down": 0.73}, "analysis", "ETH", True),
    ({"range": 0.9}, "analysis", "BTC", False), ({"trend_up": 0.9}, "unreadable", "BTC", False),
    ({"trend_up": 0.9}, "analysis", None, False)])
def test_the_live_payload_is_the_nightly_alpha(flags: dict[str, float], kind: str,
                                               coin: str | None, posted: bool) -> None:
    one = _strands(1, DAY0_MS, flags, coin=coin, kind=kind).assign(
        strand_id=new_ulid(), confidence=1.0 if flags.get("trend_up") == 1.0 else 0.8125)
    payload = chart_payload(one)
    assert (payload is not None) == posted == bool(vis_alphas(one))
    if payload is None:
        return
    env = build_envelope(sender="vis", to=["dm"], intent="CHART_ALPHA", payload=payload)
    validate_envelope(env)
    assert env["schema_ref"] == CHART_SCHEMA
    carried = json.loads(canonical_json(env))["payload"]  # as stored: 1.0 travels as 1
    assert chart_alpha(carried) == vis_alphas(one)[0]
    with pytest.raises(AlphaError, match="not a source"):
        chart_alpha({**carried, "pattern_flags": {"range": 0.9}})
