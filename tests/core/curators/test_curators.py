"""The curator council: one validated config, narrow mandates, vetoes only where the seeds
allow them, nudges within kappa and summed in log space, every verdict logged, a publication
policy whose logged propensities are exactly the policy's, and the KPIs.

Then the equality of the two paths of one definition: the live step (`CouncilStream`, fed
one MicroTape row's windows at a time) gives score_day's signal_events rows and Signal Bus
rows on whole fixture days (decisions, ids and texts exactly, floats within RTOL = 1e-9
relative): with no audit, with failed audits and a history, with exploration and every veto
in play, with no fingerprint, and on the real sample. Its inputs are the pre-council
columns of score_day's own events, grouped per (ts_ms, coin) in (ts_ms, coin) order."""

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

from lotus_core.curators import (
    CURATORS,
    KAPPA_MAX,
    CuratorConfigError,
    curated,
    detector_status,
    load_curators,
    publish,
    run_council,
)
from lotus_core.curators.config import SOFT_CURATORS, VETO_CURATORS, CouncilConfig
from lotus_core.curators.events import (
    COUNCIL_COLUMNS,
    EVENT_COLUMNS,
    PRE_COUNCIL_COLUMNS,
    CouncilStream,
)
from lotus_core.curators.kpis import effective_number
from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape
from lotus_core.signals import ids
from lotus_core.signals.bus import GATES
from lotus_core.signals.config import load_scoring
from lotus_core.signals.pipeline import _gates_json, gates_json_one, score_day
from lotus_core.signals.schema import CURATOR_KPIS_SCHEMA, CURATOR_LOG_SCHEMA
from lotus_core.signals.spec import enabled_specs
from tests.helpers import REAL_RECORDING
from tests.kits.signals_kit import constant_dsi, fixture_sha256, fixture_tape, history_of

DAY = "2026-01-05"


def _config() -> dict:
    text = (resources.files("lotus_core.curators") / "curators.yaml").read_text()
    return yaml.safe_load(text)


@pytest.fixture(scope="module")
def tape() -> pd.DataFrame:
    return fixture_tape(DAY)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return history_of(["2026-01-04"])


def _score(tape, history, **kw):
    """score_day with the packaged scoring and council unless the test gives its own."""
    kw = {"fingerprint": fixture_sha256(DAY), "scoring": load_scoring(),
          "council": load_curators(), **kw}
    return score_day(tape, DAY, history=history, dsi=constant_dsi(tape, 0.5), **kw)


@pytest.fixture(scope="module")
def day(tape, history):
    return _score(tape, history)


@pytest.mark.parametrize("mutate, path", [
    (lambda c: c["curators"]["regime"].update(veto=True), "curators.regime.veto"),
    (lambda c: c["curators"]["mutation"].update(max_stale_ms=1), "curators.mutation.max_stale_ms"),
    (lambda c: c["curators"]["data"].update(kappa=0.2), "curators.data.kappa"),
    (lambda c: c["curators"]["leakage"].update(kappa=0.05), "curators.leakage.kappa"),
    (lambda c: c["curators"].pop("adversarial"), "curators.adversarial"),
    (lambda c: c.update(tau=0.5), "tau"),
    (lambda c: c["exploration"].update(epsilon=0.9), "exploration.epsilon"),
])
def test_a_bad_config_fails_naming_the_key(mutate, path):
    body = _config()
    mutate(body)
    with pytest.raises(CuratorConfigError) as err:
        load_curators(body)
    assert path in str(err.value)


def test_the_packaged_config_has_the_eight_curators_within_their_bounds():
    cfg = load_curators()
    assert set(type(cfg.curators).model_fields) == set(CURATORS) and len(CURATORS) == 8
    for name in CURATORS:
        assert 0 <= cfg.kappa(name) <= KAPPA_MAX
    assert {n for n in CURATORS if cfg.kappa(n) > 0} <= set(SOFT_CURATORS)
    assert cfg.exploration.epsilon == 0.05


def test_nudges_stay_within_kappa_sum_in_log_space_and_are_all_logged(day):
    ev, log = day.events, day.curator_log
    CURATOR_LOG_SCHEMA.validate(log)
    cfg = load_curators()
    nudges = log[log["kind"] == "nudge"]
    for name, g in nudges.groupby("curator"):
        assert (g["value"].abs() <= cfg.kappa(name) + 1e-12).all(), name
        assert name in SOFT_CURATORS
    assert set(log.loc[log["kind"] == "veto", "curator"]) <= set(VETO_CURATORS)
    total = nudges.groupby("window_id")["value"].sum().reindex(ev["window_id"]).fillna(0.0)
    np.testing.assert_allclose(total.to_numpy(), ev["nudge_sum"].to_numpy(), atol=1e-12)
    inside = (ev["curated_sigma"] < 1) & (ev["det_sigma"] > 0)  # 1 is the clip
    np.testing.assert_allclose(np.log(ev.loc[inside, "det_sigma"]) + ev.loc[inside, "nudge_sum"],
                               np.log(ev.loc[inside, "curated_sigma"]), atol=1e-9, rtol=0)
    assert set(nudges["curator"]) >= {"diversity", "mutation"}


def test_every_veto_is_logged_and_named_on_its_window(tape, history):
    audit = {"sweep_flow_v1": {"leakage_ok": False},
             "mean_reversion_z_v1": {"adversarial_ok": False, "fragility": 0.4}}
    day = _score(tape, history, audit=audit)
    ev, log = day.events, day.curator_log
    vetoes = log[log["kind"] == "veto"]
    logged = vetoes.groupby("window_id").apply(
        lambda g: sorted(g["curator"] + ":" + g["reason"]), include_groups=False)
    named = ev.set_index("window_id")["vetoes"].map(json.loads)
    assert set(logged.index) == set(ev.loc[ev["vetoed"], "window_id"])
    for wid, codes in logged.items():
        assert sorted(named[wid]) == codes
    sweep = ev["detector_id"] == "sweep_flow_v1"
    mr = ev["detector_id"] == "mean_reversion_z_v1"
    assert ev.loc[sweep, "vetoes"].str.contains("leakage:audit_leakage_failed").all()
    assert ev.loc[mr, "vetoes"].str.contains("adversarial:audit_adversarial_failed").all()
    assert not ev.loc[sweep | mr, "published"].any()
    assert (ev.loc[sweep | mr, "propensity"] == 0).all()
    # the fragility reported by the audit is a soft nudge on the detector's other windows too
    frag = log[(log["curator"] == "adversarial") & (log["kind"] == "nudge")]
    assert (frag.set_index("window_id").loc[ev.loc[mr, "window_id"], "value"]
            <= -0.4 * load_curators().kappa("adversarial") + 1e-12).all()
    kpis = day.kpis.set_index(["kpi", "scope"])["value"]
    assert kpis["audit_pass_rate_pre", "council"] < 1.0
    assert kpis["audit_pass_rate_post", "council"] == 1.0
    assert kpis["audit_pass_rate_detectors", "council"] == pytest.approx(7 / 9)


def test_compliance_data_and_explainability_vetoes(tape, history):
    body = _config()
    body["curators"]["compliance"]["excluded_coins"] = ["SOL"]
    body["curators"]["explainability"]["require_card"] = True
    cfg = load_curators(body)
    day = _score(tape, history, council=cfg,
                 audit={"flow_pressure_v1": {"card_ok": False}})
    ev = day.events
    sol = ev["coin"] == "SOL"
    assert ev.loc[sol, "vetoes"].str.contains("compliance:excluded_coin").all()
    nocard = ev["detector_id"] == "flow_pressure_v1"
    assert ev.loc[nocard, "vetoes"].str.contains("explainability:no_card").all()
    assert not ev.loc[sol | nocard, "published"].any()
    blind = _score(tape, history, fingerprint=None)
    assert blind.events["vetoes"].str.contains("data:no_fingerprint").all()
    assert not blind.events["published"].any() and len(blind.bus) == 0


def test_regime_and_mutation_can_only_nudge(day):
    verdict_log = day.curator_log
    assert not ((verdict_log["curator"].isin(["regime", "mutation"]))
                & (verdict_log["kind"] == "veto")).any()
    assert set(verdict_log.loc[verdict_log["curator"] == "regime", "reason"]) <= {
        "regime_unclear", "exploit", "explore"}


def test_propensities_are_exactly_the_policy(day):
    ev = day.events
    cfg = load_curators()
    tau, eps = cfg.tau_publish, cfg.exploration.epsilon
    live = ev["published"] & ~ev["paper"]
    below = ~ev["vetoed"] & (ev["curated_sigma"] < tau)
    assert (live == (~ev["vetoed"] & (ev["curated_sigma"] >= tau))).all()
    assert (ev.loc[live, "propensity"] == 1.0).all()
    assert (ev.loc[below, "propensity"] == eps).all()
    assert (ev.loc[ev["vetoed"], "propensity"] == 0.0).all()
    assert (ev["paper"] == (below & (ev["explore_u"] < eps))).all()
    n = int(below.sum())
    k = int(ev["paper"].sum())
    assert abs(k - eps * n) <= 4 * np.sqrt(n * eps * (1 - eps)), (k, n)  # ~ Binomial(n, eps)
    assert live.sum() > 0 and k > 0


def test_exploration_draws_are_fixed_by_seed_day_and_window():
    w = pd.DataFrame({"coin": ["BTC", "ETH", "BTC"], "detector_id": ["a_v1", "a_v1", "b_v1"],
                      "ts_ms": np.array([1, 1, 2], dtype=np.int64) * 1_767_600_000_000})
    key = ids.window_key(w["coin"], w["detector_id"], w["ts_ms"])
    u = ids.uniform_draws(key, 7, "2026-01-05")
    assert (u == ids.uniform_draws(key, 7, "2026-01-05")).all()
    assert (u[1:] == ids.uniform_draws(key[1:], 7, "2026-01-05")).all()  # no order effect
    assert not (u == ids.uniform_draws(key, 7, "2026-01-06")).any()
    assert not (u == ids.uniform_draws(key, 8, "2026-01-05")).any()
    big = ids.uniform_draws(np.arange(200_000, dtype=np.uint64), 1, "2026-01-05")
    assert ((big >= 0) & (big < 1)).all() and abs(big.mean() - 0.5) < 0.01


def test_curated_sigma_and_publication_are_monotone_in_det_sigma():
    rng = np.random.default_rng(4)
    det = rng.uniform(0, 1, 5000)
    nudge = rng.uniform(-0.6, 0.6, 5000)
    veto = rng.uniform(size=5000) < 0.1
    u = rng.uniform(size=5000)
    lo = publish(det, nudge, veto, 0.6, 0.05, u)
    hi = publish(np.minimum(1, det + 0.1), nudge, veto, 0.6, 0.05, u)
    assert (hi.curated_sigma >= lo.curated_sigma).all()
    assert ((lo.published & ~lo.paper) <= (hi.published & ~hi.paper)).all()
    assert (curated(det, nudge) <= 1).all()
    assert not (lo.published & veto).any()


def test_kpis_follow_their_definitions(day, tape):
    kpis = CURATOR_KPIS_SCHEMA.validate(day.kpis)
    k = kpis[kpis["scope"] == "council"].set_index("kpi")
    ev = day.events
    from lotus_core.signals.outcomes import window_outcomes

    w = ev.assign(frame_idx=tape.reset_index().set_index(["coin", "ts_ms"]).loc[
        list(zip(ev["coin"], ev["ts_ms"], strict=True)), "index"].to_numpy())
    out = window_outcomes(w, tape, 0.0)
    live = (ev["published"] & ~ev["paper"]) & out["outcome_ok"]
    assert k.loc["false_promotion_rate", "value"] == pytest.approx(
        (out.loc[live, "net_ret_bps"] <= 0).mean())
    assert k.loc["windows", "value"] == len(ev)
    assert k.loc["diversity_index_all", "value"] == pytest.approx(
        effective_number(ev["detector_id"]))
    assert 1 <= k.loc["diversity_index_published", "value"] <= 9
    assert "time_added_us_per_window" not in k.index  # wall-clock: run metadata only
    per = kpis[kpis["kpi"] == "vetoes"]
    assert set(per["scope"]) == set(CURATORS)
    assert effective_number(pd.Series(list("aabbcc"))) == pytest.approx(3.0)
    assert effective_number(pd.Series([], dtype=str)) == 0.0


# ---- the live step vs score_day: one definition, two paths ----

FP = "sha256:" + "ab" * 32
SPECS = enabled_specs(None)
IDS = [s.id for s in SPECS]
AUDIT = {"sweep_flow_v1": {"leakage_ok": False},
         "mean_reversion_z_v1": {"adversarial_ok": False, "fragility": 0.4},
         "flow_pressure_v1": {"card_ok": False}}


def _stress() -> CouncilConfig:
    """Exploration well on, and every veto of the council reachable on a fixture day."""
    body = _config()
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
                     audit=audit, council=cfg, evaluate=False, scoring=load_scoring())
    stream = _stream(day, cfg, audit, fingerprint, _history_days(history))
    rows, bus = _run(stream, _inputs(want.events))
    assert _mismatches(want.events, rows) == []
    _check_bus(want.bus, bus)
    return want


@pytest.fixture(scope="module")
def plain_day() -> Any:
    """2026-01-02, no audit, no history, no DSI: every detector ok."""
    return _score_and_stream(fixture_tape("2026-01-02"), "2026-01-02")


@pytest.mark.slow
def test_a_default_day_equals_score_day(plain_day):
    ev = plain_day.events
    assert len(ev) > 1000 and ev["published"].sum() > 50 and len(plain_day.bus) > 50
    assert ev["paper"].any() and not ev["vetoes"].str.contains("leakage|adversarial").any()


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
def test_no_fingerprint_and_the_real_sample():
    day = _score_and_stream(fixture_tape("2026-01-02"), "2026-01-02", fingerprint=None)
    assert day.events["vetoes"].eq('["data:no_fingerprint"]').all() and len(day.bus) == 0
    assert (day.events["data_fingerprint"] == "").all()
    real = _score_and_stream(_real_tape(), "2025-01-26")
    assert len(real.events) >= 1


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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


@pytest.mark.slow
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
