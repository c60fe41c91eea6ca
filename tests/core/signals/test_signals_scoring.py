"""Scores: bounded, monotone, causal, out of sample; DSI enters only in its two capped places;
prior patches follow DESIGN.md's rule exactly."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.signals import load_detectors, load_scoring, parse_priors
from lotus_core.signals.config import DsiConfig
from lotus_core.signals.context import CondKeyError, canonical_cond_key, parse_cond_key
from lotus_core.signals.kernel import Caps, det_sigma, resonance
from lotus_core.signals.pipeline import score_day
from lotus_core.signals.quality import history_quality
from lotus_core.signals.schema import SIGNAL_EVENTS_SCHEMA
from tests.kits.signals_kit import constant_dsi, fixture_sha256, fixture_tape, history_of

HIST = ["2026-01-02", "2026-01-03"]
DAY = "2026-01-04"
UNIT_COLUMNS = [c for c in SIGNAL_EVENTS_SCHEMA.columns
                if c.startswith(("sq_", "kr_", "ms_kairos", "ms_entrain", "ms_asym_score"))
                and c != "sq_n"] + ["det_sigma", "curated_sigma", "mx_evidence", "propensity"]


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return history_of(HIST)


@pytest.fixture(scope="module")
def tape() -> pd.DataFrame:
    return fixture_tape(DAY)


@pytest.fixture(scope="module")
def scored(tape, history):
    return score_day(tape, DAY, fingerprint=fixture_sha256(DAY), history=history,
                     dsi=constant_dsi(tape, 0.5))


def test_every_score_is_in_the_unit_interval(tape, scored):
    ev = scored.events
    assert len(ev) > 1000
    for col in UNIT_COLUMNS:
        x = ev[col].to_numpy()
        assert np.isfinite(x).all() and (x >= 0).all() and (x <= 1).all(), col
    assert ev["signal"].between(-1, 1).all()
    assert (ev["signal"] * ev["direction"] >= 0).all()
    meta = scored.meta
    for col in ("kr_hbar", "ms_kairos", "ms_entrain_r", "ms_asym_score"):
        assert meta[col].between(0, 1).all(), col
    assert len(meta) == len(tape)


def test_det_sigma_is_the_documented_product(scored):
    ev = scored.events
    u = load_scoring().u
    np.testing.assert_allclose(ev["det_sigma"], ev["sq_score"] ** u * ev["kr_delta_phi"] ** (1 - u))
    w = load_scoring().sq.weights
    want = (ev["sq_accuracy"] ** w.accuracy * ev["sq_precision"] ** w.precision
            * ev["sq_stability"] ** w.stability * ev["sq_orthogonality"] ** w.orthogonality
            * ev["sq_cost"] ** w.cost)
    np.testing.assert_allclose(ev["sq_score"], want)
    np.testing.assert_allclose(ev["curated_sigma"],
                               np.minimum(1, ev["det_sigma"] * np.exp(ev["nudge_sum"])))


def test_det_sigma_is_monotone_in_both_factors():
    rng = np.random.default_rng(0)
    sq, dp = rng.uniform(0, 1, 5000), rng.uniform(0, 1, 5000)
    bump = rng.uniform(0, 0.3, 5000)
    for u in (0.0, 0.3, 0.5, 1.0):
        base = det_sigma(sq, dp, u)
        assert (det_sigma(np.minimum(1, sq + bump), dp, u) >= base).all()
        assert (det_sigma(sq, np.minimum(1, dp + bump), u) >= base).all()
        assert ((base >= 0) & (base <= 1)).all()


DEFAULT_CAPS = Caps(0.05, 1.0)


def _res(phi, theta, mx, dtheta=0.0, mult=1.0, caps=DEFAULT_CAPS):
    dsi = load_scoring().dsi
    n = len(phi)
    return resonance(phi, theta, mx, np.full(n, dtheta), np.full(n, mult), dsi, caps)


def test_dsi_enters_only_as_a_capped_boost_and_a_floored_relief():
    rng = np.random.default_rng(1)
    n = 4000
    phi, theta = rng.uniform(0, 1, n), rng.uniform(0.05, 1, n)
    dsi = load_scoring().dsi
    none = _res(phi, theta, np.zeros(n))
    prev = none
    for mx in (0.25, 0.5, 0.75, 1.0):
        r = _res(phi, theta, np.full(n, mx))
        assert (r["kr_delta_phi"] >= prev["kr_delta_phi"] - 1e-15).all()  # more evidence helps
        assert (r["kr_theta"] <= prev["kr_theta"] + 1e-15).all()
        prev = r
    full = _res(phi, theta, np.ones(n))
    # relief at most gamma, never below theta_min; boost at most (1 + beta) x, never above cap
    assert (none["kr_theta"] - full["kr_theta"] <= dsi.gamma_mx + 1e-12).all()
    assert (full["kr_theta"] >= 0.05).all()
    most = phi * (1 - np.maximum(0.05, theta - dsi.gamma_mx)) * (1 + dsi.beta_mx)
    assert (full["kr_delta_phi"] <= np.minimum(1.0, most) + 1e-12).all()
    capped = _res(phi, theta, np.ones(n), caps=Caps(0.05, 0.6))
    assert (capped["kr_delta_phi"] <= 0.6 + 1e-12).all()
    with pytest.raises(ValueError, match="beta_cap"):
        DsiConfig(beta_mx=0.9, gamma_mx=0.1, beta_cap=0.5, gamma_cap=0.2)


def test_patch_rule_is_exact_and_stays_within_caps():
    rng = np.random.default_rng(2)
    n = 3000
    phi, theta = rng.uniform(0, 1, n), rng.uniform(0.05, 1, n)
    for dtheta, mult, caps in ((-0.2, 1.3, Caps(0.05, 1.0)), (0.15, 0.7, Caps(0.1, 0.8)),
                               (-1.0, 5.0, Caps(0.2, 0.5))):
        r = _res(phi, theta, np.zeros(n), dtheta, mult, caps)
        t = np.minimum(1, np.maximum(caps.theta_min, np.maximum(caps.theta_min, theta) + dtheta))
        np.testing.assert_allclose(r["kr_theta"], t)
        np.testing.assert_allclose(
            r["kr_delta_phi"], np.minimum(caps.phi_max, phi * (1 - t) * mult))
        assert (r["kr_theta"] >= caps.theta_min).all()
        assert (r["kr_delta_phi"] <= caps.phi_max + 1e-12).all()
    lower = _res(phi, theta, np.zeros(n), -0.1, 1.0)
    higher = _res(phi, theta, np.zeros(n), 0.1, 1.0)
    assert (lower["kr_delta_phi"] >= higher["kr_delta_phi"]).all()  # penalty down, score up


def test_no_history_scores_every_detector_at_its_documented_prior(tape):
    day = score_day(tape, DAY, fingerprint="ab" * 32)
    ev, prior = day.events, load_scoring().sq.prior
    assert (ev["sq_accuracy"] == prior.accuracy).all()
    assert (ev["sq_precision"] == prior.precision).all()
    assert (ev["sq_stability"] == prior.stability).all()
    assert (ev["sq_n"] == 0).all() and (ev["history_days"] == 0).all()
    assert set(ev["history_window"]) == {f"{DAY}..{DAY}"}
    # orthogonality: 1 alone, 1 - prior rho while another detector is live
    assert set(np.round(ev["sq_orthogonality"], 9)) <= {1.0, round(1 - prior.rho, 9)}
    assert (ev["mx_evidence"] == 0).all() and (ev["priors_ver"] == 0).all()


def test_sq_comes_from_earlier_days_only_and_shrinks_to_the_prior(history, scored):
    hq = history_quality(history, load_detectors().enabled, load_scoring().sq)
    assert hq.days == tuple(HIST)
    ev = scored.events
    assert set(ev["history_window"]) == {f"{HIST[0]}..{DAY}"}
    # a (detector, coin) rate moves from the prior towards the observed hit rate
    h = history[history["outcome_ok"]]
    for det in ("sweep_stall_v1", "divergence_rsi_macd_slow_v1"):
        raw = h.loc[h["detector_id"] == det, "hit"].mean()
        acc = ev.loc[ev["detector_id"] == det, "sq_accuracy"]
        assert ((acc - 0.5) * (raw - 0.5) >= 0).all()  # same side of the prior
        assert (abs(acc - 0.5) <= abs(raw - 0.5) + 0.05).all()  # shrunk, not amplified
    # history of an older recipe is not this detector's history
    stale = history.assign(recipe_hash="sha256:" + "0" * 64)
    hq_stale = history_quality(stale, load_detectors().enabled, load_scoring().sq)
    assert hq_stale.days == () and hq_stale.dropped_stale == len(history)


def test_scores_at_or_before_t_are_unchanged_when_the_tape_is_cut_at_t(tape, history, scored):
    ts = tape["ts_ms"].to_numpy()
    t = int(np.quantile(ts, 0.6)) // 1000 * 1000
    cut = tape[tape["ts_ms"] <= t].reset_index(drop=True)
    again = score_day(cut, DAY, fingerprint=fixture_sha256(DAY), history=history,
                      dsi=constant_dsi(cut, 0.5))
    want = scored.events[scored.events["ts_ms"] <= t].reset_index(drop=True)
    pd.testing.assert_frame_equal(again.events, want)
    meta = scored.meta[scored.meta["ts_ms"] <= t].reset_index(drop=True)
    pd.testing.assert_frame_equal(again.meta, meta)


def test_score_day_is_deterministic(tape, history, scored):
    again = score_day(tape, DAY, fingerprint=fixture_sha256(DAY), history=history,
                      dsi=constant_dsi(tape, 0.5))
    pd.testing.assert_frame_equal(again.events, scored.events)
    pd.testing.assert_frame_equal(again.curator_log, scored.curator_log)
    pd.testing.assert_frame_equal(again.meta, scored.meta)
    pd.testing.assert_frame_equal(again.bus, scored.bus)


def test_higher_dsi_evidence_never_lowers_det_sigma(tape, history, scored):
    strong = score_day(tape, DAY, fingerprint=fixture_sha256(DAY), history=history,
                       dsi=constant_dsi(tape, 0.9))
    a, b = scored.events, strong.events
    assert (b["det_sigma"] >= a["det_sigma"] - 1e-12).all()
    assert (b["kr_theta"] <= a["kr_theta"] + 1e-12).all()
    assert (b["det_sigma"] > a["det_sigma"]).mean() > 0.5


def test_meta_signals_are_budget_cues_without_direction(scored):
    ev = scored.events
    # the same frame gives every detector the same meta-signals, whichever way it points
    same = ev.groupby(["coin", "ts_ms"])[["ms_kairos", "ms_asym_score", "ms_entrain_r"]].nunique()
    assert (same <= 1).all().all()
    assert ev["ms_asym_score"].std() > 0 and ev["ms_kairos"].std() > 0
    assert (ev["ms_entrain_r"] > 0).all()  # the window itself is live at its own time
    comps = ["ms_asym_z_oi", "ms_asym_z_funding", "ms_asym_z_basis", "ms_asym_z_depth"]
    assert ev[comps].abs().max().max() <= load_scoring().meta.asym_clip


def test_an_empty_or_short_day_scores_to_valid_empty_tables():
    from lotus_core.microtape.schema import empty_frame
    from lotus_core.signals.schema import SIGNAL_SCHEMAS

    for frames in (empty_frame(), fixture_tape(DAY).head(30)):
        day = score_day(frames, DAY, fingerprint="ab" * 32)
        for name, df in (("signal_events", day.events), ("curator_log", day.curator_log),
                         ("curator_kpis", day.kpis), ("meta_signals", day.meta)):
            SIGNAL_SCHEMAS[name].validate(df)
        assert len(day.meta) == len(frames) and len(day.bus) == int(day.events["published"].sum())


def test_cond_keys_are_canonical_and_validated(scored):
    assert canonical_cond_key("session=us&oi_pctl_bin=hi") == "oi_pctl_bin=hi&session=us"
    assert canonical_cond_key("*") == "*"
    for bad in ("oi_pctl_bin=huge", "colour=red", "session=us&session=eu", "session"):
        with pytest.raises(CondKeyError):
            parse_cond_key(bad)
    for key in scored.events["cond_key"].head(50):
        assert canonical_cond_key(key) == key


def test_priors_parse_newest_version_and_reject_malformed_keys():
    rows = [
        {"key": "patch/sweep_flow_v1/*/*/theta_delta", "version": 1, "value": -0.5},
        {"key": "patch/sweep_flow_v1/BTC/session=us&oi_pctl_bin=hi/phi_mult", "version": 2,
         "value": 1.1},
        {"key": "patch/*/*/regime=chop/theta_delta", "version": 2, "value": 0.05},
        {"key": "patch/x/*/colour=red/theta_delta", "version": 2, "value": 0.1},
        {"key": "patch/x/*/*/phi_mult", "version": 2, "value": -1.0},
        {"key": "patch/x/*/theta_delta", "version": 2, "value": 0.1},
        {"key": "cap/theta_min", "version": 2, "value": 0.1},
        {"key": "cap/phi_max", "version": 2, "value": 0.9},
        {"key": "kr.theta_min", "version": 7, "value": 0.2},  # a manifest knob: not a patch
    ]
    p = parse_priors(rows)
    assert p.version == 2 and p.theta_min == 0.1 and p.phi_max == 0.9
    assert [(x.detector_id, x.coin, x.cond_key) for x in p.patches] == [
        ("*", "*", "regime=chop"), ("sweep_flow_v1", "BTC", "oi_pctl_bin=hi&session=us")]
    assert len(p.rejected) == 3
    assert parse_priors([]).version == 0


def test_signal_events_carry_every_literal_input_and_score_with_the_priors_edges(
        tape, history, scored):
    """Learning quantises signal_events rows with edges fitted on them; scoring the day with
    those edges (as priors rows) gives every window the same literals (nightly and live
    both run score_day)."""
    from lotus_core.learning.config import load_learning
    from lotus_core.learning.quantize import fit_quantizer
    from lotus_core.signals.context import CONTEXT_COLUMNS, literals

    ev = scored.events
    assert set(CONTEXT_COLUMNS) <= set(ev.columns)
    q = fit_quantizer(ev, load_learning().quantizer, load_scoring().context)
    assert {"bimb5_edges", "flow_edges", "cancel_edges"} <= set(q.fitted)
    rows = [{"key": k, "version": 3, "value": v} for k, v in q.edge_keys().items()]
    rows.append({"key": "patch/*/*/bimb5_bin=with/theta_delta", "version": 3, "value": 0.02})
    priors = parse_priors(rows)
    again = score_day(tape, DAY, fingerprint=fixture_sha256(DAY), history=history,
                      dsi=constant_dsi(tape, 0.5), priors=priors).events
    learned = q.literals(ev)
    for key, (_, row) in zip(again["cond_key"], learned.iterrows(), strict=True):
        lits = dict(parse_cond_key(key))
        assert all(lits[f] == row[f] for f in q.features), (key, row.to_dict())
    with_book = (literals(ev, q.context_config())["bimb5_bin"] == "with").to_numpy()
    assert 0 < with_book.sum() < len(ev)
    assert ((again["prior_patches"] > 0).to_numpy() == with_book).all()
