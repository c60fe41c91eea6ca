"""The streamed council (`CouncilStream`, fed one MicroTape row's windows at a time) gives
score_day's signal_events rows and Signal Bus rows on whole fixture days (decisions, ids and
texts exactly, floats within RTOL = 1e-9 relative): with
no audit, with failed audits and a history, with exploration and every veto in play, with
no fingerprint, and on the real sample. Its inputs are the pre-council columns of
score_day's own events, grouped per (ts_ms, coin) in (ts_ms, coin) order."""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from lotus_core.curators import detector_status, load_curators, publish, run_council
from lotus_core.curators.config import CouncilConfig
from lotus_core.curators.stream import (
    COUNCIL_COLUMNS,
    EVENT_COLUMNS,
    PRE_COUNCIL_COLUMNS,
    CouncilStream,
)
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape
from lotus_core.signals import ids
from lotus_core.signals.bus import GATES
from lotus_core.signals.pipeline import _gates_json, gates_json_one, score_day
from lotus_core.signals.spec import enabled_specs
from tests.helpers import REAL_RECORDING
from tests.kits.signals_kit import constant_dsi, fixture_tape, history_of

pytestmark = pytest.mark.slow  # five scored fixture days

FP = "sha256:" + "ab" * 32
SPECS = enabled_specs(None)
IDS = [s.id for s in SPECS]
AUDIT = {"sweep_flow_v1": {"leakage_ok": False},
         "mean_reversion_z_v1": {"adversarial_ok": False, "fragility": 0.4},
         "flow_pressure_v1": {"card_ok": False}}


def _stress() -> CouncilConfig:
    """Exploration well on, and every veto of the council reachable on a fixture day."""
    body = yaml.safe_load((resources.files("lotus_core.curators") / "curators.yaml").read_text())
    c = body["curators"]
    c["data"].update(max_stale_ms=800, max_spread_rel=1.5)
    c["diversity"].update(corr_cap=0.3, window_s=120)  # short window: expiry all day long
    c["compliance"].update(excluded_coins=["SOL"], excluded_detectors=["breakout_retest_v1"],
                           excluded_sessions=["eu"],
                           blackouts_ms=[[1_767_619_800_000, 1_767_620_700_000]])  # 13:30-13:45
    c["explainability"]["require_card"] = True
    body["exploration"]["epsilon"] = 0.4
    return load_curators(body)


@lru_cache(maxsize=1)
def _real_tape() -> pd.DataFrame:
    return build_microtape(parse_recording(REAL_RECORDING, "2025-01-26", workers=1))


def _history_days(history: pd.DataFrame | None) -> list[str]:
    return sorted(history["date"].astype(str).unique()) if history is not None else []


def _inputs(events: pd.DataFrame) -> list[list[dict[str, Any]]]:
    """The pre-council columns of each window, grouped per (ts_ms, coin) in that order."""
    groups: dict[tuple[int, str], list[dict[str, Any]]] = {}
    for r in events[list(PRE_COUNCIL_COLUMNS)].to_dict(orient="records"):
        groups.setdefault((r["ts_ms"], r["coin"]), []).append(r)
    return [groups[k] for k in sorted(groups)]


def _stream(day: str, council: CouncilConfig, audit: Any, fingerprint: str | None,
            history_days: Sequence[str]) -> CouncilStream:
    return CouncilStream(day, SPECS, council, detector_status(audit, IDS), fingerprint,
                         history_days)


def _run(stream: CouncilStream, batches: list[list[dict[str, Any]]]
         ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows, bus = [], []
    for batch in batches:
        for event, b in stream.push(batch):
            rows.append(event)
            if b is not None:
                bus.append(b)
    return rows, bus


RTOL, ATOL = 1e-9, 1e-12
"""Floats computed by the two implementations: relative tolerance, absolute floor."""


def _mismatches(expected: pd.DataFrame, rows: list[dict[str, Any]]) -> list[str]:
    """Columns that differ (floats: RTOL relative, floor ATOL, NaN where NaN; the rest
    exact, strings byte for byte: ids, vetoes, gates, published, propensity...)."""
    assert len(rows) == len(expected)
    assert all(tuple(r) == EVENT_COLUMNS for r in rows)
    bad = []
    for c in EVENT_COLUMNS:
        want = expected[c].tolist()
        got = [r[c] for r in rows]
        if expected[c].dtype == np.float64:
            a, b = np.asarray(want, dtype=np.float64), np.asarray(got, dtype=np.float64)
            nan = np.isnan(a)
            ok = (nan == np.isnan(b)) & (nan | (np.abs(a - b) <= RTOL * np.abs(a) + ATOL))
            if not ok.all():
                bad.append(c)
        elif want != got:
            bad.append(c)
    return bad


def _same_json(a: Any, b: Any) -> bool:
    """Equal JSON values: the same keys, strings, booleans and ints; floats within RTOL
    (the payload prints curated_sigma and the gates in full)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(
            _same_json(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(
            _same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= max(RTOL * abs(a), ATOL)
    return type(a) is type(b) and a == b


def _check_bus(expected: pd.DataFrame, bus: list[dict[str, Any]]) -> None:
    got = pd.DataFrame(bus, columns=list(expected.columns))
    assert len(got) == len(expected)
    for c in expected.columns:
        if c == "payload":
            bad = [i for i, (x, y) in enumerate(zip(got[c], expected[c], strict=True))
                   if not _same_json(json.loads(x), json.loads(y))]
            assert not bad, (c, bad[:3])
        else:
            assert got[c].tolist() == expected[c].tolist(), c


def _score_and_stream(frames: pd.DataFrame, day: str, *, council: CouncilConfig | None = None,
                      audit: Any = None, history: pd.DataFrame | None = None,
                      dsi: pd.DataFrame | None = None, fingerprint: str | None = FP) -> Any:
    cfg = council or load_curators()
    want = score_day(frames, day, fingerprint=fingerprint, history=history, dsi=dsi,
                     audit=audit, council=cfg, evaluate=False)
    stream = _stream(day, cfg, audit, fingerprint, _history_days(history))
    rows, bus = _run(stream, _inputs(want.events))
    assert _mismatches(want.events, rows) == []
    _check_bus(want.bus, bus)
    return want


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return history_of(["2026-01-04"])


@pytest.fixture(scope="module")
def plain_day() -> Any:
    """2026-01-02, no audit, no history, no DSI: every detector ok."""
    return _score_and_stream(fixture_tape("2026-01-02"), "2026-01-02")


def test_a_default_day_equals_score_day(plain_day):
    ev = plain_day.events
    assert len(ev) > 1000 and ev["published"].sum() > 50 and len(plain_day.bus) > 50
    assert ev["paper"].any() and not ev["vetoes"].str.contains("leakage|adversarial").any()


def test_failed_audits_and_a_history(history):
    frames = fixture_tape("2026-01-05")
    day = _score_and_stream(frames, "2026-01-05", audit=AUDIT, history=history,
                            dsi=constant_dsi(frames, 0.5))
    ev = day.events
    assert (ev["history_days"] == 1).all()
    assert (ev["history_window"] == "2026-01-04..2026-01-05").all()
    for code in ("leakage:audit_leakage_failed", "adversarial:audit_adversarial_failed"):
        assert ev["vetoes"].str.contains(code).any(), code
    assert ev["published"].any() and ev["vetoed"].any()


def test_exploration_and_every_veto(history):
    frames = fixture_tape("2026-01-05")
    day = _score_and_stream(frames, "2026-01-05", council=_stress(), audit=AUDIT,
                            history=history, dsi=constant_dsi(frames, 0.7, confirm=1))
    ev = day.events
    codes = {c for v in ev["vetoes"] for c in json.loads(v)}
    assert codes >= {"data:stale_quote", "data:wide_spread", "leakage:audit_leakage_failed",
                     "diversity:cohort_corr_cap", "compliance:excluded_coin",
                     "compliance:excluded_detector", "compliance:excluded_session",
                     "compliance:blackout", "adversarial:audit_adversarial_failed",
                     "explainability:no_card"}, codes
    assert (ev["vetoes"].map(lambda v: len(json.loads(v))) > 1).any()  # codes in order
    paper = ev["paper"]
    assert paper.sum() > 20 and (ev.loc[paper, "propensity"] == 0.4).all()
    assert (ev.loc[~ev["vetoed"] & ~ev["above_threshold"], "propensity"] == 0.4).all()


def test_no_fingerprint_and_the_real_sample():
    day = _score_and_stream(fixture_tape("2026-01-02"), "2026-01-02", fingerprint=None)
    assert day.events["vetoes"].eq('["data:no_fingerprint"]').all() and len(day.bus) == 0
    assert (day.events["data_fingerprint"] == "").all()
    real = _score_and_stream(_real_tape(), "2025-01-26")
    assert len(real.events) >= 1


def test_a_fingerprint_arriving_mid_day(plain_day):
    """The daemon sets `fingerprint` when it knows it: windows before are vetoed
    no_fingerprint, windows after equal the fingerprinted day (diversity state unaffected);
    a bare hex fingerprint is normalised as score_day does."""
    ev = plain_day.events
    batches = _inputs(ev)
    half = len(batches) // 2
    stream = _stream("2026-01-02", load_curators(), None, None, [])
    first, _ = _run(stream, batches[:half])
    stream.fingerprint = "ab" * 32
    second, bus = _run(stream, batches[half:])
    assert all(r["vetoes"] == '["data:no_fingerprint"]' and not r["published"] for r in first)
    assert _mismatches(ev.iloc[len(first):].reset_index(drop=True), second) == []
    _check_bus(plain_day.bus[plain_day.bus["ts_ms"] >= batches[half][0]["ts_ms"]]
               .reset_index(drop=True), bus)


def test_an_unknown_recipe_is_vetoed_as_run_council_does(plain_day):
    """Tampered recipe hashes (no fixture day has one) against the batch council itself."""
    ev = plain_day.events.copy()
    bad = ev["detector_id"] == "flow_pressure_v1"
    ev.loc[bad, "recipe_hash"] = "sha256:" + "0" * 64
    cfg = load_curators()
    status = detector_status(None, IDS)
    council = run_council(ev, {s.id: s for s in SPECS}, cfg, status, FP)
    u = ids.uniform_draws(ids.window_key(ev["coin"], ev["detector_id"], ev["ts_ms"]),
                          cfg.exploration.seed, "2026-01-02")
    pub = publish(ev["det_sigma"].to_numpy(), council.nudge_sum, council.vetoed,
                  cfg.tau_publish, cfg.exploration.epsilon, u)
    rows, _ = _run(_stream("2026-01-02", cfg, None, FP, []), _inputs(ev))
    assert [r["vetoes"] for r in rows] == council.vetoes.tolist()
    assert '["explainability:unknown_recipe"]' in council.vetoes.tolist()
    np.testing.assert_allclose([r["nudge_sum"] for r in rows], council.nudge_sum,
                               rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose([r["curated_sigma"] for r in rows], pub.curated_sigma,
                               rtol=RTOL, atol=ATOL)
    assert [r["published"] for r in rows] == pub.published.tolist()
    assert [r["paper"] for r in rows] == pub.paper.tolist()


def test_a_skipped_or_repeated_row_is_caught(plain_day):
    """State matters: dropping one row's windows shifts later diversity nudges; pushing
    out of order, twice, or two coins at once is refused; a missing column is named."""
    ev = plain_day.events
    batches = _inputs(ev)
    skip = next(i for i, b in enumerate(batches) if len(b) > 1 and i > 100)
    rows, _ = _run(_stream("2026-01-02", load_curators(), None, FP, []),
                   batches[:skip] + batches[skip + 1:])
    kept = ev.drop(index=ev.index[(ev["ts_ms"] == batches[skip][0]["ts_ms"])
                                  & (ev["coin"] == batches[skip][0]["coin"])])
    assert "nudge_sum" in _mismatches(kept.reset_index(drop=True), rows)
    coin = batches[10][0]["coin"]
    later = next(b for b in batches[11:] if b[0]["coin"] == coin)
    other = next(b for b in batches if b[0]["coin"] != coin)
    stream = _stream("2026-01-02", load_curators(), None, FP, [])
    stream.push(later)
    for wrong in (later, batches[10], batches[10] + other):  # twice, back in time, mixed
        with pytest.raises(ValueError):
            stream.push(wrong)
    assert stream.push([]) == []
    fresh = [e for e, _ in _stream("2026-01-02", load_curators(), None, FP, []).push(batches[0])]
    extra = [{**w, "frame_idx": 7} for w in batches[0]]  # extra keys are ignored
    assert [e for e, _ in _stream("2026-01-02", load_curators(), None, FP, []).push(extra)] == fresh
    missing = [{k: v for k, v in w.items() if k != "mid_px"} for w in batches[0]]
    with pytest.raises(KeyError, match="mid_px"):
        _stream("2026-01-02", load_curators(), None, FP, []).push(missing)


def test_gates_text_is_pandas_to_json_byte_for_byte():
    """Every 6-decimal value in [0, 1] and random floats of every size, as `_gates_json`
    writes them (pandas' ujson, after numpy's round)."""
    rng = np.random.default_rng(7)
    values = np.concatenate([np.arange(0, 1_000_001) / 1e6, rng.uniform(0, 1, 100_000),
                             rng.uniform(-50, 50, 20_000), 10.0 ** rng.uniform(-16, 17, 20_000),
                             [np.nan, np.inf, -np.inf, -0.0, 5e-7, -5e-7, 2.5e-6, 1e303]])
    values = np.resize(values, (len(values) + 9) // 10 * 10).reshape(-1, len(GATES))
    frame = pd.DataFrame(values, columns=list(GATES))
    with np.errstate(over="ignore"):
        text = _gates_json(frame).tolist()
    assert [gates_json_one(r) for r in frame.to_dict(orient="records")] == text
    assert set(COUNCIL_COLUMNS) | set(PRE_COUNCIL_COLUMNS) == set(EVENT_COLUMNS)
