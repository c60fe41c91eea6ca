"""Breeding under a budget with the breeder's own proposer and harness on a small planted
tape: the arms split the night's proposal, a pull judges exactly the candidate it bought,
the Bonferroni bar stays the whole proposal's, re-audits are an arm, and a night in cost
units is byte-identical run to run."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from lotus_core.breeding import (
    Candidate,
    Grammar,
    HarnessConfig,
    RecipeProposer,
    breed_night,
    load_recipe,
)
from lotus_core.breeding.night import night_rng
from lotus_core.governance import (
    BudgetConfig,
    GovernorConfig,
    GovernorState,
    Reaudit,
    ThompsonPolicy,
    UniformPolicy,
    breed_governed,
    evidence,
    family,
)
from lotus_core.signals import load_detectors
from tests.core.breeding.tape import absorption_spec, tape

DAY = "2026-01-01"


def _recipe():
    r = load_recipe().model_dump()
    r["per_night"].update({"fresh": 4, "mutations": 0, "recombinations": 0,
                           "compositions": 8, "within_vetted": 2})
    return load_recipe(r)


def _night(frames, budget: float, policy=None, reaudits=()):
    vetted = load_detectors().enabled
    return breed_governed(frames, DAY, proposer=RecipeProposer(_recipe()),
                          grammar=Grammar(vetted=tuple(s.id for s in vetted)),
                          gov=GovernorConfig(budget=BudgetConfig(mode="units", limit=budget),
                                             quota=2),
                          policy=policy or ThompsonPolicy(), state=GovernorState(),
                          vetted=vetted, reaudits=reaudits, seed=5, cfg=HarnessConfig())


def test_a_governed_night_buys_part_of_the_proposal_under_its_budget() -> None:
    frames, _ = tape(4, planted=True, rows=3600)
    g = _night(frames, budget=3.0)
    pulls = g.night.pulls
    vetted = load_detectors().enabled
    grammar = Grammar(vetted=tuple(s.id for s in vetted))
    from lotus_core.breeding.propose import Parent

    proposal = RecipeProposer(_recipe()).propose([Parent(s.id) for s in vetted], grammar,
                                                 night_rng(5, DAY))
    assert g.proposed == len(proposal)
    assert 0 < len(g.result.candidates) < len(proposal)
    assert g.night.spent - pulls["cost"].iloc[-1] < 3.0 <= g.night.spent
    by_id = {c.detector_id: c for c in proposal}
    for item, arm in zip(pulls["item"], pulls["arm"], strict=True):
        assert family(by_id[item]) == arm  # each pull judged a candidate of its own arm
    # an arm buys its candidates in proposal order
    for arm, mine in pulls.groupby("arm"):
        order = [c.detector_id for c in proposal if family(c) == arm]
        assert list(mine["item"]) == order[:len(mine)]
    # the bar is the whole proposal's: the same verdict as the ungoverned night's
    full = breed_night(frames, DAY, proposer=RecipeProposer(_recipe()), grammar=grammar,
                       vetted=vetted, seed=5, cfg=HarnessConfig()).candidates.set_index(
                           "detector_id")
    bought = g.result.candidates.set_index("detector_id")
    assert (bought["reason"] == full.loc[bought.index, "reason"]).all()


def test_units_mode_is_byte_identical_and_policies_share_the_proposal() -> None:
    frames, _ = tape(6, planted=True, rows=3600)
    a, b = _night(frames, 4.0), _night(frames, 4.0)
    pd.testing.assert_frame_equal(a.night.pulls, b.night.pulls)
    pd.testing.assert_frame_equal(a.result.candidates, b.result.candidates)
    assert a.night.state.to_json() == b.night.state.to_json()
    u = _night(frames, 4.0, UniformPolicy())
    assert set(u.night.pulls["policy"]) == {"uniform"}
    spend = u.night.pulls.groupby("arm")["cost"].sum()
    assert spend.max() - spend.min() <= u.night.pulls["cost"].max() + 1e-9  # equal shares


def test_reaudits_are_an_arm_and_report_the_change_of_evidence() -> None:
    frames, _ = tape(8, planted=True)
    redo = [Reaudit(Candidate(absorption_spec(), "composition"), 1.0),
            Reaudit(Candidate(absorption_spec(90), "composition"), 9.0)]
    g = _night(frames, budget=1e6, reaudits=redo)
    mine = g.night.pulls[g.night.pulls["arm"] == "reaudit"]
    assert len(mine) == len(redo) == len(g.reaudits)
    assert set(mine["kind"]) == {"reaudit"}
    assert list(mine["item"]) == [r.candidate.detector_id for r in redo]
    for v, r, then in zip(g.reaudits, mine["reward"], (1.0, 9.0), strict=True):
        assert v.metrics["oos_lift"] > 0 and v.metrics["oos_p"] < 1e-3  # the planted edge
        assert r == pytest.approx(abs(evidence(v.metrics) - then), abs=1e-12)
        assert evidence(v.metrics) == pytest.approx(min(8.0, -math.log10(v.metrics["oos_p"])))


def test_a_reaudit_stopped_before_the_oos_gate_bought_nothing() -> None:
    """Tonight's tape has no flow (a missing channel: the column is all NaN), so the
    survivor never fires: the re-audit stops at compile and measured nothing, and earns 0
    whatever the survivor's evidence then was."""
    frames, _ = tape(8, planted=True)
    g = _night(frames.assign(aggr_imb=float("nan")), budget=1e6,
               reaudits=[Reaudit(Candidate(absorption_spec(), "composition"), 3.0)])
    mine = g.night.pulls[g.night.pulls["arm"] == "reaudit"]
    assert len(mine) == 1 and g.reaudits[0].reason.split(":")[0] == "compile"
    assert mine["reward"].iloc[0] == 0.0
    assert mine["note"].iloc[0].startswith("not measured: compile")
