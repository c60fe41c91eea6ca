"""Counterfactual replay on a scored fixture day: the null alternative
gives back exactly what was published, a moved gate moves publication the expected way,
every replay leaves a row with its commit and input hashes, a bad alternative is refused."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from lotus_core.experiments import (
    Alternative,
    AlternativeError,
    alternative_of,
    apply,
    block_interval,
    code_commit,
    frame_hash,
    list_experiments,
    replay_day,
    run_experiment,
)
from lotus_core.signals.priors import NO_PRIORS
from tests.core.experiments.lake_kit import DAY1, ScoredLake

SIGMA_TOL = 1e-12  # the same float code on the same stored inputs


def _run(s: ScoredLake, alt: Alternative, **kw):  # noqa: ANN202
    return run_experiment(s.lake, s.day, alt, s.base, priors=NO_PRIORS, history_days=7,
                          dsi_history_days=3, commit=code_commit(), n_boot=500, **kw)


def test_the_null_alternative_reproduces_the_published_set_and_a_zero_difference(scored_lake):
    stored = scored_lake.lake.read("signal_events", scored_lake.day)
    assert stored["published"].sum() > 20  # a day with something to lose
    r = _run(scored_lake, Alternative())
    ev = r.alt.events
    assert ev["window_id"].tolist() == stored["window_id"].tolist()
    for col in ("published", "paper", "vetoed", "above_threshold"):
        assert ev[col].tolist() == stored[col].tolist(), col
    assert np.abs(ev["det_sigma"].to_numpy() - stored["det_sigma"].to_numpy()).max() <= SIGMA_TOL
    row = r.row
    assert row["null_reproduced"] is True
    assert (row["added"], row["removed"]) == (0, 0)
    assert row["published_alt"] == row["published_base"] == int(stored["published"].sum())
    assert row["delta_net_bps"] == 0.0 and row["delta_ci_lo"] == 0.0 and row["delta_ci_hi"] == 0.0
    assert (r.comparison.windows["diff_bps"] == 0.0).all()
    m = json.loads(row["metrics"])
    assert m["same_published"] is True and m["published_done_base"] > 0  # outcomes measured


def test_raising_tau_publish_only_takes_live_publications_away(scored_lake):
    stored = scored_lake.lake.read("signal_events", scored_lake.day)
    tau = scored_lake.base.council.tau_publish
    up = _run(scored_lake, alternative_of(gates={"tau_publish": tau + 0.1}))
    assert up.row["null_reproduced"] is True
    live0 = (stored["published"] & ~stored["paper"]).to_numpy()
    ev = up.alt.events
    live1 = (ev["published"] & ~ev["paper"]).to_numpy()
    assert not (live1 & ~live0).any()  # nothing becomes live
    lost = live0 & ~live1
    assert lost.sum() > 0
    cs = stored["curated_sigma"].to_numpy()
    assert ((cs[lost] >= tau) & (cs[lost] < tau + 0.1)).all()  # exactly the band the gate moved
    assert up.row["removed"] > 0
    assert up.row["delta_ci_lo"] <= up.row["delta_net_bps"] <= up.row["delta_ci_hi"]
    # the paired difference is the realised outcome of what changed, window by window
    w = up.comparison.windows
    done = w["status"] == "done"
    expect = -(w.loc[done & w["published_base"] & ~w["published_alt"], "net_ret_bps"]).sum() + (
        w.loc[done & ~w["published_base"] & w["published_alt"], "net_ret_bps"]).sum()
    assert up.row["delta_net_bps"] == pytest.approx(expect, abs=1e-9)

    lower = apply(alternative_of(gates={"tau_publish": tau - 0.1}), scored_lake.base)
    assert scored_lake.base.council.tau_publish == tau  # the base config is never modified
    ev = replay_day(up.inputs, lower, NO_PRIORS, refit_dsi=False).events
    live2 = (ev["published"] & ~ev["paper"]).to_numpy()
    assert not (live0 & ~live2).any() and (live2 & ~live0).sum() > 0  # only additions


def test_every_replay_is_recorded_with_commit_config_and_input_hashes(scored_lake):
    before = len(list_experiments(scored_lake.lake))
    r = _run(scored_lake, alternative_of(thresholds={"u": 0.3}))
    table = list_experiments(scored_lake.lake)
    assert len(table) == before + 1
    row = table.iloc[-1]
    assert row["experiment_id"] == r.row["experiment_id"]
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).parent,
                          capture_output=True, text=True, check=True).stdout.strip()
    assert row["commit"] in (head, f"{head}+dirty")
    inputs = json.loads(row["inputs"])
    lake, day = scored_lake.lake, scored_lake.day
    for asset, d in (("microtape_frames", day), ("signal_events", day),
                     ("dsi_annotations", day), ("detector_windows", DAY1)):
        assert inputs[f"{asset}@{d}"] == frame_hash(lake.read(asset, d))
    assert inputs["priors_ver"] == "0" and len(row["inputs_hash"]) == 16
    configs = json.loads(row["configs"])
    assert configs["base"] == scored_lake.base.hashes()
    changed = {k for k in configs["base"] if configs["base"][k] != configs["alt"][k]}
    assert changed == {"scoring"}
    assert Alternative.model_validate_json(row["alternative"]) == alternative_of(
        thresholds={"u": 0.3})
    assert row["label"] == "threshold:u=0.3"


def test_a_bad_alternative_is_refused_with_a_clear_message(scored_lake):
    before = len(list_experiments(scored_lake.lake))
    base = scored_lake.base
    with pytest.raises(AlternativeError, match=r"knock_out: unknown expert 'no_such_expert'; "
                       r"the registry's active experts are sweep_then_stall, depth_vacuum"):
        _run(scored_lake, alternative_of(knock_out=["no_such_expert"]))
    with pytest.raises(AlternativeError, match=r"gate curators.data.max_stale: unknown key "
                       r"'max_stale' in curators.data; it has context_columns, kappa, "
                       r"max_spread_rel, max_stale_ms"):
        apply(alternative_of(gates={"curators.data.max_stale": 10}), base)
    with pytest.raises(AlternativeError, match=r"gate tau_publish=2.*tau_publish"):
        apply(alternative_of(gates={"tau_publish": 2}), base)
    with pytest.raises(AlternativeError, match=r"threshold detectors.nope.horizon_s: unknown "
                       r"detector 'nope'"):
        apply(alternative_of(thresholds={"detectors.nope.horizon_s": 30}), base)
    dup = base.detectors.detectors[0].model_dump(mode="json")
    with pytest.raises(AlternativeError, match=r"add_detector 'breakout_retest_v1'.*duplicate"):
        apply(alternative_of(detectors=[dup]), base)
    assert len(list_experiments(scored_lake.lake)) == before  # refused before any replay


def test_a_knocked_out_expert_refits_the_dsi_and_moves_det_sigma(scored_lake):
    r = _run(scored_lake, alternative_of(knock_out=["anomaly_iforest"]), save=False)
    m = json.loads(r.row["metrics"])
    assert m["dsi_refit"] is True
    assert r.row["null_reproduced"] is True, m["null_reason"]  # the refit gives back the day
    d = np.abs(r.alt.events["det_sigma"].to_numpy() - r.null.events["det_sigma"].to_numpy())
    assert d.max() > 1e-3
    assert r.row["published_alt"] == int(r.alt.events["published"].sum())


def test_the_block_bootstrap_is_seeded_and_exact_on_degenerate_input():
    ts = np.arange(0, 3_600_000, 10_000, dtype=np.int64)  # one window each 10 s for an hour
    assert block_interval(np.zeros(len(ts)), ts, 300, 400, seed=1) == (0.0, 0.0, 0.0, 12)
    same = block_interval(np.full(len(ts), 0.5), ts, 300, 400, seed=1)  # equal block sums
    assert same[0] == pytest.approx(180.0) and same[1] == pytest.approx(180.0, abs=1e-9)
    assert same[2] == pytest.approx(180.0, abs=1e-9)
    rng = np.random.default_rng(7)
    d = rng.normal(0.0, 1.0, len(ts))
    a, b = block_interval(d, ts, 300, 400, seed=3), block_interval(d, ts, 300, 400, seed=3)
    assert a == b and a[1] < a[0] < a[2]
