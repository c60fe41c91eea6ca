"""Scores: bounded, monotone, causal, out of sample; DSI enters only in its two capped places;
prior patches follow DESIGN.md's rule exactly.

The live step equals the batch (the second half): the streamed window scores
(`pipeline.WindowScorer`, fed one MicroTape row at a time) equal `score_day(...).events` on
every column score_day computes before the council: on whole fixture days with and without
history, DSI and priors (caps, fitted edges and patches that match some windows only),
across a priors swap mid-day, and on the real sample. A skipped row must show up as a
difference; each one-value form equals its numpy call on edge values."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import lotus_core.signals.features as F
from lotus_core.curators.config import load_curators
from lotus_core.dsi import annotate, fit_dsi, load_registry
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape
from lotus_core.signals import load_detectors, load_scoring, parse_priors
from lotus_core.signals.config import DsiConfig
from lotus_core.signals.context import CondKeyError, canonical_cond_key, parse_cond_key
from lotus_core.signals.detectors import run_detectors
from lotus_core.signals.kernel import Caps, det_sigma, resonance
from lotus_core.signals.pipeline import (
    STREAM_COLUMNS,
    WindowScorer,
    _with_ids,
    detect_day,
    score_day,
)
from lotus_core.signals.priors import NO_PRIORS, ActivePriors, Patch
from lotus_core.signals.quality import HISTORY_COLUMNS, history_quality
from lotus_core.signals.schema import SIGNAL_EVENTS_SCHEMA
from lotus_core.signals.spec import enabled_specs
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
                     dsi=constant_dsi(tape, 0.5), scoring=load_scoring(), council=load_curators())


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
    day = score_day(tape, DAY, fingerprint="ab" * 32,
                    scoring=load_scoring(), council=load_curators())
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
                      dsi=constant_dsi(cut, 0.5), scoring=load_scoring(), council=load_curators())
    want = scored.events[scored.events["ts_ms"] <= t].reset_index(drop=True)
    pd.testing.assert_frame_equal(again.events, want)
    meta = scored.meta[scored.meta["ts_ms"] <= t].reset_index(drop=True)
    pd.testing.assert_frame_equal(again.meta, meta)


def test_score_day_is_deterministic(tape, history, scored):
    again = score_day(tape, DAY, fingerprint=fixture_sha256(DAY), history=history,
                      dsi=constant_dsi(tape, 0.5), scoring=load_scoring(), council=load_curators())
    pd.testing.assert_frame_equal(again.events, scored.events)
    pd.testing.assert_frame_equal(again.curator_log, scored.curator_log)
    pd.testing.assert_frame_equal(again.meta, scored.meta)
    pd.testing.assert_frame_equal(again.bus, scored.bus)


def test_higher_dsi_evidence_never_lowers_det_sigma(tape, history, scored):
    strong = score_day(tape, DAY, fingerprint=fixture_sha256(DAY), history=history,
                       dsi=constant_dsi(tape, 0.9), scoring=load_scoring(), council=load_curators())
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
        day = score_day(frames, DAY, fingerprint="ab" * 32,
                        scoring=load_scoring(), council=load_curators())
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
                      dsi=constant_dsi(tape, 0.5), priors=priors,
                      scoring=load_scoring(), council=load_curators()).events
    learned = q.literals(ev)
    for key, (_, row) in zip(again["cond_key"], learned.iterrows(), strict=True):
        lits = dict(parse_cond_key(key))
        assert all(lits[f] == row[f] for f in q.features), (key, row.to_dict())
    with_book = (literals(ev, q.context_config())["bimb5_bin"] == "with").to_numpy()
    assert 0 < with_book.sum() < len(ev)
    assert ((again["prior_patches"] > 0).to_numpy() == with_book).all()


# --- the live step (WindowScorer) equals the batch: formerly tests/core/live/test_stream_score.py

REAL = Path(__file__).resolve().parents[2] / "data" / "real" / "2025-01-26.jsonl.gz"
FP = "sha256:" + "0" * 64
SPECS = enabled_specs(None)
CFG = load_scoring()
RTOL, ATOL = 1e-9, 1e-12
GROUPS = {"sq_": "sq_*", "kr_": "kr_*", "det_": "kr_*", "ms_": "ms_*", "mx_": "dsi",
          "prior": "priors", "signal": "signal"}

PRIORS_A = ActivePriors(
    version=7, theta_min=0.08, phi_max=0.9,
    patches=(Patch("*", "*", "dir=long&flow_bin=with", -0.04, 1.1),
             Patch("mean_reversion_fast_v1", "*", "mx_bin=lo", 0.03, 0.95),
             Patch("*", "ETH", "rv_pctl_bin=hi", 0.02, 1.05),
             Patch("flow_pressure_v1", "*", "bimb5_bin=against&spread_bin=normal", -0.02, 1.2),
             Patch("*", "BTC", "*", 0.01, 1.0)),
    edges=(("pctl_edges", (0.3, 0.7)), ("flow_edges", (-0.1, 0.15))))
PRIORS_B = ActivePriors(
    version=8, theta_min=0.06,
    patches=(Patch("*", "*", "dir=short&session=weekend", 0.05, 0.9),
             Patch("sweep_flow_v1", "SOL", "*", -0.03, 1.15)))


def _fixture(day: str) -> pd.DataFrame:
    return fixture_tape(day)  # build_microtape(parse_recording(...)), cached per process


@cache
def _dsi(day: str, earlier: tuple[str, ...]) -> pd.DataFrame:
    hist = (pd.concat([_fixture(d).assign(date=d) for d in earlier], ignore_index=True)
            if earlier else None)
    return annotate(_fixture(day), fit_dsi(hist, registry=load_registry())).annotations


@cache
def _history(days: tuple[str, ...]) -> pd.DataFrame:
    """detector_windows of earlier days with a `date` column (engine._history's shape)."""
    scoring = load_scoring()
    return pd.concat([detect_day(_fixture(d), scoring=scoring).assign(date=d) for d in days],
                     ignore_index=True)


def _stream(frames: pd.DataFrame, dsi: pd.DataFrame | None, history: pd.DataFrame | None,
            priors: ActivePriors, *, swap: tuple[int, ActivePriors] | None = None,
            skip: tuple[str, int] | None = None) -> list[dict[str, Any]]:
    """Push every row of the day in (ts_ms, coin) order with its DSI row and windows;
    `swap` = (ts_ms, priors): replace the priors before the first row at ts_ms;
    `skip` = (coin, ts_ms): a row left out (a deliberately wrong state)."""
    windows = _with_ids(run_detectors(frames, SPECS), SPECS).drop(columns="frame_idx")
    by_row: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for w in windows.to_dict("records"):
        by_row.setdefault((int(w["ts_ms"]), str(w["coin"])), []).append(w)
    dsi_rows: dict[tuple[int, str], dict[str, Any]] = {}
    if dsi is not None:
        for d in dsi[["coin", "ts_ms", "mx_evidence", "mx_confirm"]].to_dict("records"):
            dsi_rows[(int(d["ts_ms"]), str(d["coin"]))] = d
    coins = frames["coin"].to_numpy(dtype=object)
    cadence = F.cadence_ms(frames["ts_ms"].to_numpy(dtype=np.int64), coins)
    scorer = WindowScorer(SPECS, CFG, history_quality(history, SPECS, CFG.sq), priors, cadence)
    out: list[dict[str, Any]] = []
    rows = frames.sort_values(["ts_ms", "coin"], kind="stable").to_dict("records")
    for row in rows:
        key = (int(row["ts_ms"]), str(row["coin"]))
        if swap is not None and key[0] >= swap[0]:
            scorer.priors, swap = swap[1], None
        if skip is not None and (key[1], key[0]) == skip:
            continue
        out += scorer.push(row, dsi_rows.get(key), by_row.get(key, []))
    for got in out:
        assert list(got) == list(STREAM_COLUMNS)
    return out


def _batch(frames: pd.DataFrame, dsi: pd.DataFrame | None, history: pd.DataFrame | None,
           priors: ActivePriors) -> pd.DataFrame:
    # the day only seeds the exploration draws and names history_window: not compared here
    ev = score_day(frames, "2026-01-01", fingerprint=FP, history=history, dsi=dsi,
                   priors=priors, evaluate=False,
                   scoring=load_scoring(), council=load_curators()).events
    return ev[list(STREAM_COLUMNS)].reset_index(drop=True)


def _python_type(kind: str) -> type:
    return {"i": int, "f": float, "b": bool}.get(kind, str)


def _mismatches(got: list[dict[str, Any]], want: pd.DataFrame,
                worst: dict[str, float] | None = None) -> list[str]:
    """Columns where the stream differs from the batch: floats within 1e-9 relative (1e-12
    absolute near 0), NaN exactly where the batch has NaN, the rest exact, every value of
    the batch dtype's Python type. `worst` collects the worst relative error per column."""
    if len(got) != len(want):
        return [f"{len(got)} windows streamed, {len(want)} in the batch"]
    bad = []
    worst = {} if worst is None else worst
    for c in STREAM_COLUMNS:
        b = want[c].to_numpy()
        kind = b.dtype.kind if b.dtype.kind in "ifb" else "O"
        vals = [g[c] for g in got]
        want_type = _python_type(kind)
        if not all(type(v) is want_type for v in vals):
            bad.append(f"{c}: values not all {want_type.__name__}")
            continue
        if kind == "f":
            a = np.asarray(vals, dtype=np.float64)
            if not np.array_equal(np.isnan(a), np.isnan(b)):
                bad.append(f"{c}: NaN differs")
                continue
            ok = ~np.isnan(b)
            err = np.abs(a[ok] - b[ok])
            rel = err / np.maximum(np.abs(b[ok]), ATOL)
            worst[c] = float(rel.max()) if len(rel) else 0.0
            if not np.all((err <= RTOL * np.abs(b[ok])) | (err <= ATOL)):
                bad.append(f"{c}: worst relative error {float(rel.max()):.3g}")
        elif [x.item() if hasattr(x, "item") else x for x in b] != vals:
            bad.append(f"{c}: values differ")
    return bad


def _equal(got: list[dict[str, Any]], want: pd.DataFrame) -> pd.DataFrame:
    """Assert the streamed dicts equal the batch rows; the streamed rows as a frame."""
    assert len(want) > 0
    worst: dict[str, float] = {}
    assert _mismatches(got, want, worst) == []
    by_group: dict[str, float] = {}
    for c, err in worst.items():
        g = next((v for k, v in GROUPS.items() if c.startswith(k)), "context")
        by_group[g] = max(by_group.get(g, 0.0), err)
    print(f"{len(got)} windows; worst relative error:",
          ", ".join(f"{g} {e:.2g}" for g, e in sorted(by_group.items())))
    return pd.DataFrame(got, columns=list(STREAM_COLUMNS))


def _matched(frame: pd.DataFrame) -> int:
    return int((frame["prior_patches"] > 0).sum())


@pytest.fixture(scope="module")
def day_a() -> Mapping[str, Any]:
    """2026-01-03, no history, NO_PRIORS; DSI fitted on 2026-01-02, one row in 7 missing."""
    frames = _fixture("2026-01-03")
    dsi = _dsi("2026-01-03", ("2026-01-02",))
    dsi = dsi.iloc[np.arange(len(dsi)) % 7 != 3].reset_index(drop=True)
    return {"frames": frames, "dsi": dsi, "history": None,
            "want": _batch(frames, dsi, None, NO_PRIORS)}


@pytest.fixture(scope="module")
def day_b() -> Mapping[str, Any]:
    """2026-01-04, history = the two earlier days' detector_windows, DSI fitted on them."""
    earlier = ("2026-01-02", "2026-01-03")
    frames, dsi, history = _fixture("2026-01-04"), _dsi("2026-01-04", earlier), _history(earlier)
    return {"frames": frames, "dsi": dsi, "history": history,
            "want": {p.version: _batch(frames, dsi, history, p) for p in (PRIORS_A, PRIORS_B)}}


@pytest.mark.slow
def test_a_day_without_history_or_priors_streams_to_the_batch_scores(day_a):
    got = _equal(_stream(day_a["frames"], day_a["dsi"], None, NO_PRIORS), day_a["want"])
    assert (got["mx_evidence"] == 0).any() and (got["mx_evidence"] > 0).any()
    assert (got["priors_ver"] == 0).all() and _matched(got) == 0


@pytest.mark.slow
def test_a_day_with_history_and_patches_streams_to_the_batch_scores(day_b):
    want = day_b["want"][PRIORS_A.version]
    got = _equal(_stream(day_b["frames"], day_b["dsi"], day_b["history"], PRIORS_A), want)
    assert 0 < _matched(got) < len(got)  # the patches select, they do not blanket
    assert (got["sq_n"] > 0).any() and (got["sq_orthogonality"] < 1).any()
    assert got["ms_entrain_r"].nunique() > 10


@pytest.mark.slow
def test_a_priors_swap_mid_day_scores_later_windows_with_the_new_priors(day_b):
    want_a, want_b = day_b["want"][PRIORS_A.version], day_b["want"][PRIORS_B.version]
    frames = day_b["frames"]
    cut = int(np.median(want_a["ts_ms"]))
    streamed = _stream(frames, day_b["dsi"], day_b["history"], PRIORS_A, swap=(cut, PRIORS_B))
    before = want_a["ts_ms"].to_numpy() < cut
    got = _equal(streamed, pd.concat([want_a[before], want_b[~before]], ignore_index=True))
    assert set(got["priors_ver"]) == {PRIORS_A.version, PRIORS_B.version}
    assert 0 < _matched(got.loc[~before]) < (~before).sum()


@pytest.mark.slow
def test_holes_in_the_nullable_inputs_stream_to_the_batch_scores(day_a):
    """2026-01-03 with NaN holes (single rows and runs) in the columns the MicroTape may
    leave NaN, history of one earlier day, no DSI at all, the patched priors."""
    frames = day_a["frames"].copy()
    rng = np.random.default_rng(7)
    for c in ("basis_bps", "rv_bps", "depth_5_rel", "book_imb_5", "book_imb_1", "trend_eff",
              "oi_delta", "oi_pctl", "funding_pctl", "rv_pctl", "range_pctl"):
        hole = rng.random(len(frames)) < 0.03
        start = rng.integers(0, len(frames) - 400)
        hole[start:start + 300] = True
        frames.loc[hole, c] = np.nan
    history = _history(("2026-01-02",))
    got = _equal(_stream(frames, None, history, PRIORS_A),
                 _batch(frames, None, history, PRIORS_A))
    assert (got["ms_asym_z_basis"] == 0).any() and got["basis_bps"].isna().any()


@pytest.mark.slow
@pytest.mark.parametrize("with_dsi", [True, False])
def test_the_real_sample_streams_to_the_batch_scores(with_dsi):
    """25 s of real BTC feed: two windows, most context NaN (no rv, basis, depth, pctl)."""
    frames = build_microtape(parse_recording(REAL))
    dsi = (annotate(frames, fit_dsi(None, registry=load_registry())).annotations if with_dsi
           else None)
    _equal(_stream(frames, dsi, None, PRIORS_B), _batch(frames, dsi, None, PRIORS_B))


@pytest.mark.slow
def test_a_skipped_row_is_detected(day_a):
    """Leave out one row a minute before a window of its coin: the EMAs differ after it."""
    want = day_a["want"]
    w = want.iloc[len(want) // 2]
    coin, ts = str(w["coin"]), int(w["ts_ms"]) - 60_000
    got = _stream(day_a["frames"], day_a["dsi"], None, NO_PRIORS, skip=(coin, ts))
    kept = ~((want["coin"] == coin) & (want["ts_ms"] == ts)).to_numpy()  # the row's own
    bad = _mismatches(got, want.loc[kept].reset_index(drop=True))
    assert any(b.startswith(("spread_rel", "flow", "ms_kairos")) for b in bad), bad


TWIN_RTOL = 1e-12
"""Scalar twin vs numpy's vectorised form: relative tolerance. Two computations of one
value (numpy may run SIMD code, AVX-512 on some CPUs, that differs from a one-value call
in the last bit): a few ulps are allowed, never a wrong branch, NaN or infinity."""


@pytest.mark.slow
def test_the_scalar_twins_equal_numpy_on_edge_values():
    """The one-value forms of np.clip, np.nan_to_num, np.log, expit, ndtri-of-percentile,
    np.power and pandas' ewm recursion, on NaN, infinities, zeros and constant runs, within
    TWIN_RTOL (NaN where NaN, infinities equal)."""
    from scipy.special import expit

    import lotus_core.signals.meta as M
    from lotus_core.filters import ewm

    edge = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-300, -1e-300, 0.5, -3.0, 800.0,
            -800.0, 709.5, -709.5, 0.01, 0.99, 1.5]
    x = np.asarray(edge)
    with np.errstate(all="ignore"):
        pairs = [([M.clip_one(v, -1.0, 1.0) for v in edge], np.clip(x, -1.0, 1.0)),
                 ([M.nan_to_num_one(v, 1.0) for v in edge], np.nan_to_num(x, nan=1.0)),
                 ([M.log_one(v) for v in edge], np.log(x)),
                 ([M.expit_one(v) for v in edge], expit(x)),
                 ([M.pctl_z_one(v, 3.0) for v in edge], M._pctl_z(x, 3.0)),
                 ([M.pow_one(v, 0.3) for v in edge], x ** 0.3),
                 ([M.pow_one(v, 0.5) for v in edge], x ** 0.5),
                 ([M.exp_one(v) for v in edge], np.exp(x)),
                 ([M.tanh_one(v) for v in edge], np.tanh(x))]
    for got, want in pairs:  # numpy's SIMD loops vs one value: within TWIN_RTOL
        np.testing.assert_allclose(np.asarray(got), want, rtol=TWIN_RTOL, atol=0,
                                   equal_nan=True)
    rng = np.random.default_rng(3)
    series = np.round(rng.normal(size=3000), 1)
    series[rng.random(3000) < 0.2] = np.nan
    series[:7] = np.nan
    series[100:140] = 2.5  # a constant run: pandas keeps the mean exactly there
    for seconds in (1, 10, 600):
        weights = M.ew_weights(F.rows(seconds, 1000))
        m, got = math.nan, []
        for v in series:
            m = M.ew_one(m, float(v), weights)
            got.append(m)
        np.testing.assert_allclose(np.asarray(got), ewm(series, span=F.rows(seconds, 1000)),
                                   rtol=TWIN_RTOL, atol=TWIN_RTOL, equal_nan=True)


@pytest.mark.slow
def test_windows_of_another_row_are_refused():
    frames = _fixture("2026-01-03")
    row = frames.iloc[100].to_dict()
    scorer = WindowScorer(SPECS, CFG, history_quality(None, SPECS, CFG.sq), NO_PRIORS, 1000)
    window = {"window_id": "x", "ts_ms": int(row["ts_ms"]) + 1000, "coin": row["coin"],
              "detector_id": SPECS[0].id, "recipe_hash": SPECS[0].recipe_hash,
              "horizon_s": SPECS[0].horizon_s, "direction": 1, "raw_strength": 1.0}
    with pytest.raises(ValueError, match="is not of row"):
        scorer.push(row, None, [window])


def test_history_quality_reads_only_its_history_columns():
    """The history window is read with `HISTORY_COLUMNS` only: the quality is the
    one of the whole detector_windows rows, and a column it needs is not left out."""
    history = history_of(["2026-01-02", "2026-01-03"])
    specs = enabled_specs(load_detectors())
    cfg = load_scoring().sq
    whole = history_quality(history, specs, cfg)
    some = history_quality(history[[*HISTORY_COLUMNS, "date"]], specs, cfg)
    assert whole.days == some.days and whole.notes == some.notes
    assert whole.notes["history_windows"] > 0
    pd.testing.assert_frame_equal(some.pooled, whole.pooled)
    pd.testing.assert_frame_equal(some.by_coin, whole.by_coin)
    np.testing.assert_array_equal(some.rho, whole.rho)
    for c in HISTORY_COLUMNS:  # each is read: without it, an error or no usable history
        rest = history[[x for x in [*HISTORY_COLUMNS, "date"] if x != c]]
        with contextlib.suppress(KeyError):
            assert history_quality(rest, specs, cfg).notes["history_windows"] == 0, c
