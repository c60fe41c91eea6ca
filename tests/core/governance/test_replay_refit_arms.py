"""The `replay` and `refit` arms on a real scored lake (the experiments tests' lake kit:
MicroTape, DSI annotations and signal_events written by the stage functions): a null
replay gives back the published day and buys nothing; the arm's gate move, which really
changes outcomes, buys evidence; a re-fit buys nothing on a day that repeats the history
and buys evidence on one that contradicts it; a governed night with both arms is
byte-identical in units mode; without a scored day neither arm is offered. And the claim
docs/governance.md makes of which night feeds scoring: a governed night's survivors are a
subset of the full night's (`candidates`), with the same verdict for every candidate."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from lotus_core.breeding import (
    Candidate,
    Grammar,
    HarnessConfig,
    RecipeProposer,
    Verdict,
    breed_night,
    load_recipe,
)
from lotus_core.breeding.night import tables
from lotus_core.dsi import fit_dsi, load_registry
from lotus_core.governance import (
    BudgetConfig,
    GovernorConfig,
    GovernorState,
    Scoring,
    ThompsonPolicy,
    breed_governed,
)
from lotus_core.governance.breeding import ROWS_PER_UNIT
from lotus_core.governance.nightly import govern_day
from lotus_core.governance.refit_arms import DayRefitter
from lotus_core.governance.replay_arms import (
    DayReplayer,
    Replay,
    gate_replay,
    newest_scored_day,
    paired_p,
)
from lotus_core.schemas import asset_schemas
from lotus_core.signals import load_detectors
from lotus_core.signals.priors import NO_PRIORS
from lotus_core.store.lake import Lake
from tests.core.breeding.tape import absorption_spec, tape
from tests.core.experiments.lake_kit import DAY, DAY1, ScoredLake, scored_lake_at

PREV = "2026-01-01"  # an earlier breeding night, with a survivor


def _scoring(lake: ScoredLake, dsi_history_days: int = 3) -> Scoring:
    return Scoring(base=lake.base, priors_for=lambda d: NO_PRIORS, history_days=7,
                   dsi_history_days=dsi_history_days)


def test_a_null_replay_reproduces_the_day_and_buys_nothing(tmp_path) -> None:
    scored = scored_lake_at(tmp_path / "lake")
    r = DayReplayer(scored.lake, DAY, _scoring(scored))
    out = r.pull(Replay.null())
    assert r.reproduced == (True, "")
    assert out.reward == 0.0 and "p 1" in out.note and "+0/-0 published" in out.note
    rows, dets = len(scored.lake.read("microtape_frames", DAY)), len(load_detectors().enabled)
    # the first pull pays the null replay and its own
    assert out.units == pytest.approx(rows / ROWS_PER_UNIT * ((dets + 1) + (dets + 2)))
    assert paired_p(out.detail.windows) == (1.0, 0)


def test_the_gate_move_changes_outcomes_and_buys_evidence(tmp_path) -> None:
    scored = scored_lake_at(tmp_path / "lake", minutes=60)  # 12 blocks of 300 s
    gate = gate_replay(scored.base)
    assert gate is not None and gate.label == "gate:tau_publish=0.7"
    r = DayReplayer(scored.lake, DAY, _scoring(scored))
    out = r.pull(gate)
    m = out.detail.metrics
    assert m["removed"] > 0 and m["delta_net_bps"] != 0
    p, blocks = paired_p(out.detail.windows)
    assert blocks >= 10 and p <= 0.05
    assert out.reward == pytest.approx(-math.log10(p))
    assert r.pull(Replay.null()).reward == 0.0  # the same replayer, the null again


def _with_day(tmp_path, name: str, transform) -> ScoredLake:  # noqa: ANN001
    """The kit's lake with DAY's MicroTape replaced by DAY1's (one day on), transformed."""
    scored = scored_lake_at(tmp_path / name)
    frames = transform(scored.lake.read("microtape_frames", DAY1).copy())
    frames["ts_ms"] = frames["ts_ms"] + 86_400_000
    scored.lake.write("microtape_frames", DAY, frames,
                      validate=asset_schemas(load_registry()).get("microtape_frames"))
    return scored


def _amplified(f: pd.DataFrame) -> pd.DataFrame:
    """Every mid move 20x larger against the same volatility: the label nearly always
    holds, so each expert's flags hit far more often than its history says."""
    mid = f.groupby("coin")["mid_px"].transform(lambda m: m.mean() + (m - m.mean()) * 20)
    return f.assign(mid_px=mid)


def test_a_refit_buys_nothing_on_a_repeated_day_and_evidence_on_a_changed_one(tmp_path):
    same = _with_day(tmp_path, "same", lambda f: f)
    moved = _with_day(tmp_path, "moved", _amplified)
    active = [e.id for e in same.base.registry.active]
    for lake, tag in ((same, "same"), (moved, "moved")):
        r = DayRefitter(lake.lake, DAY, _scoring(lake))  # old [DAY1], new [DAY1, DAY]
        outs = {e: r.pull(e) for e in active}
        if tag == "same":  # the added day is the old window again: nothing learned
            assert all(o.reward == 0.0 for o in outs.values()), {e: o.note for e, o in
                                                                 outs.items()}
            old, new = outs["anomaly_iforest"].detail
            assert new.by_day[DAY] == old.by_day[DAY1] and new.by_day[DAY].trials > 0
        else:
            paid = {e for e, o in outs.items() if o.reward > 0}
            assert {"anomaly_iforest", "seq_move_clf"} <= paid, {e: o.note for e, o in
                                                                 outs.items()}
            old, new = outs["anomaly_iforest"].detail
            assert new.posterior.mean > old.posterior.mean  # the re-fit's reliability moved
        # the old fit is the model the day was scored with: fit_dsi's counts, expert by expert
        old_w, new_w = r._windows()
        assert old_w is not None and sorted(set(new_w["date"])) == [DAY1, DAY]
        model = fit_dsi(old_w, registry=lake.base.registry)
        for st in model.experts:
            assert outs[st.id].detail[0].total == st.counts
            assert outs[st.id].detail[0].posterior == st.posterior
        rows = len(old_w) + len(new_w)
        assert all(o.units == pytest.approx(2 * rows / ROWS_PER_UNIT) for o in outs.values())


def _night(lake: Lake, scoring: Scoring | None, day: str = DAY):  # noqa: ANN202
    recipe = load_recipe().model_dump()
    recipe["per_night"] = {"fresh": 2, "mutations": 0, "recombinations": 0,
                           "compositions": 2, "within_vetted": 0, "leaky": 0}
    return govern_day(lake, lake.read("microtape_frames", DAY), day,
                      recipe=load_recipe(recipe), vetted=load_detectors().enabled,
                      gov=GovernorConfig(budget=BudgetConfig(mode="units", limit=1e6),
                                         quota=10),
                      seed=11, scoring=scoring, replays=2, refits=2)


def _with_survivor(scored: ScoredLake) -> None:
    earlier = tables([Verdict(Candidate(absorption_spec(), "composition"), True, "",
                              {"oos_p": 1e-3, "oos_lift": 0.2})], PREV)
    scored.lake.write("candidates", PREV, earlier.candidates)


def test_a_units_night_with_replay_and_refit_arms_is_byte_identical(tmp_path) -> None:
    nights = []
    for name in ("a", "b"):
        scored = scored_lake_at(tmp_path / name)
        _with_survivor(scored)
        nights.append(_night(scored.lake, _scoring(scored)))
    a, b = (n.night.pulls for n in nights)
    pd.testing.assert_frame_equal(a, b)
    assert nights[0].night.state.to_json() == nights[1].night.state.to_json()
    replays, refits = a[a["kind"] == "replay"], a[a["kind"] == "refit"]
    survivor = Candidate(absorption_spec(), "composition").detector_id
    assert list(replays["item"]) == [f"add_bred:{survivor}", "gate:tau_publish=0.7"]
    assert list(refits["item"]) == [e.id for e in scored.base.registry.active][:2]
    assert (replays["units"] > 0).all() and (refits["units"] > 0).all()
    assert a["cpu_s"].isna().all()


def test_no_scored_day_no_replay_or_refit_arm(tmp_path) -> None:
    scored = scored_lake_at(tmp_path / "lake")
    assert newest_scored_day(scored.lake, DAY) == DAY
    assert newest_scored_day(scored.lake, DAY1) is None  # DAY1 was never scored
    night = _night(scored.lake, _scoring(scored), day=DAY1)  # a night before any scoring
    assert not set(night.night.pulls["kind"]) & {"replay", "refit"}
    without = _night(scored.lake, None)  # no scoring passed down: the breeding night only
    assert not set(without.night.pulls["kind"]) & {"replay", "refit"}
    assert len(without.night.pulls) > 0


def test_a_governed_nights_survivors_are_a_subset_of_the_full_nights() -> None:
    frames, _ = tape(8, planted=True)  # a planted tape on which the full night has survivors
    r = load_recipe().model_dump()
    r["per_night"].update({"fresh": 4, "mutations": 0, "recombinations": 0,
                           "compositions": 8, "within_vetted": 2})
    recipe, vetted = load_recipe(r), load_detectors().enabled
    grammar = Grammar(vetted=tuple(s.id for s in vetted))
    full = breed_night(frames, PREV, proposer=RecipeProposer(recipe), grammar=grammar,
                       vetted=vetted, seed=5, cfg=HarnessConfig()).candidates
    g = breed_governed(frames, PREV, proposer=RecipeProposer(recipe), grammar=grammar,
                       gov=GovernorConfig(budget=BudgetConfig(mode="units", limit=8.0), quota=2),
                       policy=ThompsonPolicy(), state=GovernorState(), vetted=vetted, seed=5,
                       cfg=HarnessConfig())
    bought = g.result.candidates.set_index("detector_id")
    assert 0 < len(bought) < len(full)
    full = full.set_index("detector_id")
    cols = ["survived", "reason", "oos_p", "oos_lift"]
    pd.testing.assert_frame_equal(bought[cols], full.loc[bought.index, cols])
    survivors = set(bought.index[bought["survived"]])
    assert survivors and survivors <= set(full.index[full["survived"]])
