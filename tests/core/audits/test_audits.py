"""The audits on one fixture day: honest production detectors pass future-touch and
adversarial; the test-only leaky detector fails future-touch and the fragile one fails
adversarial; label shuffle and rolling-origin gap on synthetic windows; cards."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from lotus_core.audits import audit_day, card_rows, label_shuffle, rolling_origin_gap, status_of
from lotus_core.audits.result import AuditConfig
from lotus_core.curators.config import load_curators
from lotus_core.curators.council import detector_status
from lotus_core.signals import load_detectors
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import score_day
from tests.kits.audits_badkit import load_bad, tampered
from tests.kits.signals_kit import fixture_tape

DAY = "2026-01-03"
BAD = Path(__file__).parents[2] / "data" / "detectors_bad.yaml"


@pytest.fixture(scope="module")
def audited() -> tuple[pd.DataFrame, pd.DataFrame]:
    frames = fixture_tape(DAY)
    bad, tampers = load_bad(BAD)
    specs = load_detectors().enabled + bad
    with tampered(tampers):
        audits = audit_day(frames, DAY, specs, scoring=load_scoring())
        events = score_day(frames, DAY, fingerprint="0" * 64, detectors=specs,
                           audit=status_of(audits), evaluate=False,
                           scoring=load_scoring(), council=load_curators()).events
    return audits.set_index("detector_id", drop=False), events


def test_honest_detectors_pass_future_touch_and_adversarial(audited):
    audits, _ = audited
    prod = audits[audits["production"]]
    assert len(prod) == len(load_detectors().enabled)
    assert prod["future_touch_ok"].all(), prod.loc[~prod["future_touch_ok"], "detail"]
    assert prod["adversarial_ok"].all(), prod.loc[~prod["adversarial_ok"], "detail"]
    assert prod["leakage_ok"].all(), prod.loc[~prod["leakage_ok"], "detail"]


def test_the_leaky_detector_fails_future_touch(audited):
    audits, _ = audited
    row = audits.loc["leaky_peek_v1"]
    assert not row["production"]
    assert not row["future_touch_ok"] and row["future_touch_metric"] > 0
    assert not row["leakage_ok"]


def test_the_fragile_detector_fails_adversarial(audited):
    audits, _ = audited
    row = audits.loc["fragile_grid_v1"]
    assert not row["adversarial_ok"] and row["adversarial_metric"] > 0.5
    assert row["future_touch_ok"]  # fragile, not leaky


def test_failing_audits_make_the_curators_veto(audited):
    audits, events = audited
    status = detector_status(status_of(audits), audits.index.tolist())
    assert not status.loc["leaky_peek_v1", "leakage_ok"]
    for det, code in (("leaky_peek_v1", "leakage"), ("fragile_grid_v1", "adversarial")):
        ev = events[events["detector_id"] == det]
        assert len(ev) and ev["vetoed"].all() and not ev["published"].any()
        assert ev["vetoes"].str.contains(f"audit_{code}_failed").all()


def _windows(n: int, direction: np.ndarray, fwd: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"ts_ms": np.arange(n) * 1000, "coin": "BTC", "direction": direction,
                         "fwd_ret_bps": fwd, "outcome_ok": True})


def test_label_shuffle_separates_edge_no_edge_and_too_good():
    rng = np.random.default_rng(0)
    n = 400
    d = rng.choice([-1, 1], n)
    noise = _windows(n, d, rng.normal(0, 1, n))
    honest = _windows(n, d, d * 0.3 + rng.normal(0, 1, n))
    oracle = _windows(n, d, d * np.abs(rng.normal(0, 1, n)))  # knows the outcome
    cfg = AuditConfig()
    r0 = label_shuffle(noise, np.random.default_rng(1), cfg)
    r1 = label_shuffle(honest, np.random.default_rng(1), cfg)
    r2 = label_shuffle(oracle, np.random.default_rng(1), cfg)
    assert r0.passed and r0.detail.startswith("no_edge")
    assert r1.passed and r1.detail.startswith("edge")
    assert not r2.passed and r2.metric > cfg.max_hit_lift
    assert "lower bound" in r2.detail


def test_a_strong_edge_a_hair_above_the_limit_is_not_called_leakage():
    """A planted edge whose hit rate is ~0.75 on ~430 windows (the fixture days'
    sweep_stall_v1: lift +0.2509, SE ~0.02) is significant, and its lift is at the limit but
    not surely above it: the lower (1 - alpha) bound decides, so it passes as an edge. A hit
    rate of 0.77 on 40,000 windows is surely above and fails (a bound, not a point)."""
    rng = np.random.default_rng(3)
    cfg = AuditConfig()
    for n, rate, passes in ((431, 0.752, True), (40_000, 0.77, False)):
        d = rng.choice([-1, 1], n)
        right = rng.random(n) < rate
        fwd = np.where(right, d, -d) * np.abs(rng.normal(1, 0.2, n))
        r = label_shuffle(_windows(n, d, fwd), np.random.default_rng(1), cfg)
        assert r.detail.startswith("edge") and r.metric > cfg.max_hit_lift, r.detail
        assert r.passed is passes, r.detail


def test_rolling_origin_gap_fails_an_edge_that_vanishes_out_of_sample():
    rng = np.random.default_rng(0)
    n = 400
    d = rng.choice([-1, 1], n)
    fwd = np.where(np.arange(n) < n // 4, d, -d) * np.abs(rng.normal(0, 1, n))
    assert not rolling_origin_gap(_windows(n, d, fwd)).passed
    assert rolling_origin_gap(_windows(n, d, rng.normal(0, 1, n))).passed


def test_cards_have_markdown_and_a_json_twin(audited):
    audits, events = audited
    specs = load_detectors().enabled
    cards = card_rows(specs, audits.reset_index(drop=True), events, DAY)
    assert len(cards) == len(specs) and cards["card_ok"].all()
    twin = json.loads(cards.iloc[0]["card_json"])
    assert twin["recipe_hash"] == cards.iloc[0]["recipe_hash"]
    assert set(twin["audits"]) == {"future_touch", "label_shuffle", "rolling_gap",
                                   "adversarial"}
    assert twin["lineage"]["parent"] is None and "det_sigma" in twin["summary"]
    assert cards.iloc[0]["card_md"].startswith("## ")


def test_cards_read_a_detector_at_a_time_are_the_whole_days(audited, tmp_path):
    """The asset reads signal_events a detector at a time from the lake: the
    same cards as from the whole day's frame."""
    from lotus_core.store.by_coin import CoinDay
    from lotus_core.store.lake import Lake

    audits, events = audited
    specs = load_detectors().enabled
    lake = Lake(tmp_path)
    lake.write("signal_events", DAY, events)
    whole = card_rows(specs, audits.reset_index(drop=True), events, DAY)
    by_detector = card_rows(specs, audits.reset_index(drop=True),
                            CoinDay(lake, "signal_events", DAY), DAY)
    pd.testing.assert_frame_equal(by_detector, whole, check_exact=True)
    # the day in coin files (score_signals by day x coin): a column at a time, the same
    for coin, part in events.groupby("coin", sort=True):
        lake.write("signal_events", DAY, part.reset_index(drop=True), coin=str(coin))
    assert lake.coins("signal_events", DAY) == sorted(events["coin"].unique())
    by_column = card_rows(specs, audits.reset_index(drop=True),
                          CoinDay(lake, "signal_events", DAY), DAY)
    pd.testing.assert_frame_equal(by_column, whole, check_exact=True)


def test_score_columns_are_score_days_own_numbers():
    """The audits re-score through `score_columns`; its columns must be the events' bits."""
    from lotus_core.signals.pipeline import SCORE_COLUMNS, score_columns
    from lotus_core.signals.quality import history_quality

    frames = fixture_tape(DAY)
    specs = load_detectors().enabled
    events = score_day(frames, DAY, fingerprint="0" * 64, detectors=specs,
                       evaluate=False, scoring=load_scoring(), council=load_curators()).events
    scoring = load_scoring()
    got = score_columns(frames, specs, scoring=scoring,
                        hq=history_quality(None, specs, scoring.sq))
    assert len(got) == len(events) > 0
    for c in ("ts_ms", "coin", "direction", "detector_id", *SCORE_COLUMNS):
        a, b = got[c].to_numpy(), events[c].to_numpy()
        assert a.dtype == b.dtype and (a == b).all(), c


def test_mismatch_count_matches_the_merge_it_replaced():
    """The dict match counts one-sided rows and changed scores as the outer merge did."""
    import importlib

    FT = importlib.import_module("lotus_core.audits.future_touch")
    a = pd.DataFrame({"ts_ms": [1, 2, 3, 4], "coin": ["BTC", "BTC", "ETH", "ETH"],
                      "direction": [1, -1, 1, 1], "raw_strength": [1.0, 2.0, np.nan, 4.0]})
    b = pd.DataFrame({"ts_ms": [2, 3, 4, 5], "coin": ["BTC", "ETH", "ETH", "SOL"],
                      "direction": [-1, 1, 1, 1], "raw_strength": [2.0 + 1e-10, np.nan, 4.1, 1.0]})
    assert FT._mismatches(a, b, ["raw_strength"]) == 3  # ts 1 and 5 one-sided, ts 4 changed
    assert FT._mismatches(a, a, ["raw_strength"]) == 0
    dup = pd.concat([a, a.iloc[:1]], ignore_index=True)  # repeated key: the merge path
    assert FT._mismatches(dup, b, ["raw_strength"]) == 4
