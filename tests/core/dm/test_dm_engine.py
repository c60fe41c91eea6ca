"""The DM engine end to end on seeded inputs: valid tickets, idempotence, determinism,
no edge → no trades, curators' vetoes logged, budgets respected."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from lotus_core.dm.alpha import AlphaEvent
from lotus_core.dm.calibration import Calibration, empty_calibration, fit_calibration
from lotus_core.dm.config import load_dm_settings
from lotus_core.dm.engine import DmEngine
from lotus_core.dm.replay import decisions_frame, replay
from lotus_core.dm.ticket import validate_ticket
from tests.kits.dm_kit import DAY0_MS, alpha_stream, planted_training, tape_rows

DETS = ("breakout_retest_v1", "mean_reversion_z_v1")


@pytest.fixture(scope="module")
def setup():
    cfg = load_dm_settings({})
    train = pd.concat([planted_training(d, 1500, 25.0, i) for i, d in enumerate(DETS)])
    cal = Calibration(fit_calibration(train, cfg.calibration, "2025-12-28..2026-01-01"),
                      cfg.calibration)
    return cfg, cal, tape_rows(seconds=1800), alpha_stream(cfg.coins, DETS, 60)


def test_replay_makes_valid_deterministic_tickets_within_budgets(setup) -> None:
    cfg, cal, rows, alphas = setup
    one = replay(DmEngine(cfg, cal), rows, alphas)
    two = replay(DmEngine(cfg, cal), rows, alphas)
    assert len(one.decisions) >= len(alphas)
    assert [d.digest for d in one.decisions] == [d.digest for d in two.decisions]
    trades = [d for d in one.decisions if d.action == "trade"]
    assert trades, "a planted edge should move the book"
    for d in one.decisions:
        validate_ticket(d.ticket)
        assert json.loads(d.ticket_json)["decision_id"] == d.decision_id
        assert abs(d.target) <= cfg.allocator.asset_max + 1e-9
        assert d.ticket["rationale"]["blend_weights"] or d.action == "hold"
    assert max(one.gross) <= cfg.allocator.gross_max * 1.25 + 1e-6
    assert max(abs(x) for x in one.net) <= cfg.allocator.net_max + 1e-6
    frame = decisions_frame(one.decisions)
    assert frame["decision_id"].is_unique and list(frame.columns[:4]) == [
        "decision_id", "ts_ms", "coin", "ticket_json"]
    # breakout detectors attach a conditional entry
    trig = [d for d in trades if "dm_trigger" in d.ticket]
    assert trig and all(d.ticket["dm_trigger"]["expr"].startswith("breakout(20, 2.0σ")
                        for d in trig)


def test_a_repeated_alpha_is_decided_once(setup) -> None:
    cfg, cal, rows, alphas = setup
    eng = DmEngine(cfg, cal)
    res = replay(eng, rows, alphas[:5])
    assert res.decisions
    assert eng.on_alpha(alphas[4]) == []


def test_no_history_means_no_edge_and_a_flat_book(setup) -> None:
    cfg, _, rows, alphas = setup
    res = replay(DmEngine(cfg, empty_calibration(cfg.calibration)), rows, alphas)
    assert res.decisions and all(d.action == "hold" for d in res.decisions)
    assert all(d.target == 0.0 for d in res.decisions)


def test_stale_data_is_vetoed_and_logged(setup) -> None:
    cfg, cal, rows, _ = setup
    eng = DmEngine(cfg, cal)
    early = rows[rows["ts_ms"] <= DAY0_MS + 300_000]
    for row in early.to_dict("records"):
        eng.on_row(row)
    late = AlphaEvent("01LATE", DAY0_MS + 400_000, "ETH", DETS[0], 60, 1, 0.95, ())
    (d,) = [x for x in eng.on_alpha(late) if x.coin == "ETH"]
    assert d.action == "hold" and d.target == 0.0
    assert any(v.startswith("stale_data:") for v in d.ticket["curation"]["vetoes"])
    assert any(e["curator"] == "stale_data" and e["kind"] == "veto" for e in d.curation)


def test_a_flip_within_the_horizon_is_vetoed(setup) -> None:
    cfg, cal, rows, _ = setup
    eng = DmEngine(cfg, cal)
    t0 = DAY0_MS + 600_000
    for row in rows[rows["ts_ms"] <= t0].to_dict("records"):
        eng.on_row(row)
    long_ = eng.on_alpha(AlphaEvent("01L", t0, "BTC", DETS[1], 60, 1, 0.99, ()))
    assert long_[0].target > 0
    for row in rows[(rows["ts_ms"] > t0) & (rows["ts_ms"] <= t0 + 5_000)].to_dict("records"):
        eng.on_row(row)
    shorts = [AlphaEvent(f"01S{i}", t0 + 1_000 + i, "BTC", DETS[1], 60, -1, 0.99, ())
              for i in range(4)]
    last = [eng.on_alpha(s) for s in shorts][-1]
    btc = next(d for d in last if d.coin == "BTC")
    assert btc.target >= 0.0  # never flipped short within 300 s of opening the long
    flips = [e for d in last for e in d.curation if e["curator"] == "flip_guard"]
    assert flips or btc.target > 0


def test_drawdown_ratchet_and_multipliers_shrink_budgets() -> None:
    from lotus_core.dm.budgets import drawdown_gross_multiplier, multipliers

    cfg = load_dm_settings({})
    a, b = cfg.allocator, cfg.budgets
    assert drawdown_gross_multiplier(0.0, a) == 1.0
    assert drawdown_gross_multiplier(0.125, a) == pytest.approx(0.625)
    assert drawdown_gross_multiplier(0.5, a) == a.drawdown_floor
    m = multipliers(1.0, 1.0, 1.0, b, 0.0, a)
    assert m.timing == m.entrainment == m.asymmetry == 1.25 and m.combined == 1.25
    assert multipliers(0.0, 0.0, 0.0, b, 0.0, a).combined == 0.75
    assert multipliers(1.0, 1.0, 1.0, b, 0.10, a).combined == 1.0  # drawdown: m_max → 1
    assert multipliers(float("nan"), 0.5, 0.5, b, 0.0, a).timing == 1.0
    assert np.isfinite(m.combined)


def test_the_dm_section_of_the_settings_validates_and_names_bad_keys() -> None:
    from lotus_core.config import load_settings
    from lotus_core.dm.config import DmConfigError

    cfg = load_dm_settings(load_settings(env={}).dm)
    assert cfg.fusion.rho_max == 0.6 and cfg.allocator.kelly_fraction == 0.25
    with pytest.raises(DmConfigError, match=r"dm\.allocator\.gross_max"):
        load_dm_settings({"allocator": {"gross_max": -1}})
    with pytest.raises(DmConfigError, match=r"dm\.budgets"):
        load_dm_settings({"budgets": {"low": 1.1}})


def test_ledoit_wolf_matches_scikit_learn_and_the_ring_buffer_keeps_the_window() -> None:
    from sklearn.covariance import ledoit_wolf

    from lotus_core.dm.market import MarketState, ledoit_wolf_cov

    x = np.random.default_rng(5).normal(size=(500, 4)) @ np.triu(np.ones((4, 4)))
    np.testing.assert_allclose(ledoit_wolf_cov(x), ledoit_wolf(x)[0], rtol=1e-12, atol=1e-14)
    m = MarketState(("A", "B"), window=50)
    for i in range(120):
        for c, px in (("A", 100 * 1.001 ** i), ("B", 50.0)):
            m.on_row({"coin": c, "ts_ms": 1000 * (i + 1), "mid_px": px, "spread_bps": 1.0})
    m.settle(10**9)
    assert m.n_returns() == 50 and m.closed == 120
    np.testing.assert_allclose(m.last(50)[:, 0], np.log(1.001) * 1e4)
    np.testing.assert_allclose(m.last(50)[:, 1], 0.0)


def test_meta_signals_scale_budgets_never_beliefs(setup) -> None:
    cfg, cal, rows, _ = setup
    t0 = DAY0_MS + 600_000
    early = rows[rows["ts_ms"] <= t0].to_dict("records")
    out = {}
    for level in (0.0, 1.0):
        eng = DmEngine(cfg, cal)
        for row in early:
            eng.on_row(row)
        meta = tuple((k, level) for k in ("ms_kairos", "ms_entrain_r", "ms_asym_score"))
        (d,) = [x for x in eng.on_alpha(AlphaEvent("01M", t0, "SOL", DETS[1], 60, 1, 0.9, meta))
                if x.coin == "SOL"]
        out[level] = d.ticket
    lo, hi = out[0.0], out[1.0]
    assert lo["audit_refs"]["mu_base_bps"] == hi["audit_refs"]["mu_base_bps"]
    assert lo["audit_refs"]["mu_tilt_bps"] == hi["audit_refs"]["mu_tilt_bps"]
    assert lo["multipliers"] == {"timing": 0.75, "entrainment": 0.75, "asymmetry": 0.75}
    assert hi["multipliers"] == {"timing": 1.25, "entrainment": 1.25, "asymmetry": 1.25}


def test_no_turnover_left_holds_without_solving(setup) -> None:
    _, cal, rows, alphas = setup
    cfg = load_dm_settings({"allocator": {"turnover_day": 1e-5}})
    res = replay(DmEngine(cfg, cal), rows, alphas[:10])
    assert res.decisions and all(d.action == "hold" and d.target == 0.0 for d in res.decisions)
    for d in res.decisions:
        assert d.binding == ("turnover",) and d.ticket["audit_refs"]["solver_status"] == "skipped"
        assert d.ticket["notes"] == "hold: no turnover budget left in the trailing window"


def test_turnover_budget_is_paced_over_a_rolling_window(setup) -> None:
    """Any trailing window spends at most turnover_day × window / day (× multipliers ≤ 1.25);
    once a window's budget binds, trading resumes as old turnover leaves the window."""
    _, cal, rows, alphas = setup
    window_s, per_window = 300, 0.05
    cfg = load_dm_settings({"allocator": {"turnover_day": per_window * 86_400 / window_s,
                                          "turnover_window_s": window_s}})
    res = replay(DmEngine(cfg, cal), rows, alphas)
    rounds: dict[str, tuple[int, float]] = {}
    for d in res.decisions:
        ts, used = rounds.get(d.alpha_id, (d.ts_ms, 0.0))
        rounds[d.alpha_id] = (ts, used + abs(d.target - d.w0))
    spent = sorted(rounds.values())
    for t, _ in spent:
        in_window = sum(u for s, u in spent if t - window_s * 1000 < s <= t)
        assert in_window <= per_window * 1.25 + 1e-6
    assert any(d.binding == ("turnover",) for d in res.decisions)  # the pace binds ...
    traded = {t // (window_s * 1000) for t, u in spent if u > 0}
    assert len(traded) >= 3  # ... and frees up again: trades in several windows


def test_the_digest_of_the_ticket_text_is_the_digest_of_the_ticket(setup) -> None:
    from lotus_core.dm.ticket import ticket_digest

    cfg, cal, rows, alphas = setup
    res = replay(DmEngine(cfg, cal), rows, alphas[:40])
    assert res.decisions
    for d in res.decisions:
        assert d.digest == ticket_digest(d.ticket)


def test_a_coin_joining_late_leaves_the_market_state_a_whole_days_would_hold(setup) -> None:
    """ETH's rows from the 10th minute: once it has joined, the engine's return history is
    the one a market state holding ETH from the start keeps (zero returns before its rows)."""
    from lotus_core.dm.market import MarketState

    cfg, cal, rows, _ = setup
    late = DAY0_MS + 600_000
    cut = rows[(rows["coin"] != "ETH") | (rows["ts_ms"] >= late)]
    eng = DmEngine(cfg, cal)
    whole = MarketState(cfg.coins)
    for row in cut.to_dict("records"):
        eng.on_row(row)
        whole.on_row(row)
        if DAY0_MS < row["ts_ms"] < late:
            assert eng.coins == ("BTC", "SOL") and eng.left_out == ("ETH",)
    assert eng.coins == cfg.coins and eng.left_out == () and len(eng.book.w) == 3
    assert eng.market.closed == whole.closed
    np.testing.assert_array_equal(eng.market.last(1800), whole.last(1800))
    np.testing.assert_array_equal(eng.market.covariance_bps2(), whole.covariance_bps2())
