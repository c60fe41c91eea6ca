"""The curator council: one validated config, narrow mandates, vetoes only where the seeds
allow them, nudges within kappa and summed in log space, every verdict logged, a publication
policy whose logged propensities are exactly the policy's, and the KPIs."""

from __future__ import annotations

import json
from importlib import resources

import numpy as np
import pandas as pd
import pytest
import yaml

from lotus_core.curators import (
    CURATORS,
    KAPPA_MAX,
    CuratorConfigError,
    curated,
    load_curators,
    publish,
)
from lotus_core.curators.config import SOFT_CURATORS, VETO_CURATORS
from lotus_core.curators.kpis import effective_number
from lotus_core.signals import ids
from lotus_core.signals.pipeline import score_day
from lotus_core.signals.schema import CURATOR_KPIS_SCHEMA, CURATOR_LOG_SCHEMA
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
    kw.setdefault("fingerprint", fixture_sha256(DAY))
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
