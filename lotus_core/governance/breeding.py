"""Breeding under a budget: the night's proposal split into arms by origin and family,
each pull judges one candidate with the breeder's own harness; re-audits of earlier
survivors are arms too.

Arms (`family`):
    breeding:fresh, breeding:mutation, breeding:recombination, breeding:leaky,
    breeding:gated (a candidate's twin gated on a context: funding, OI or the regime)
    breeding:composition:<book+book | book+flow | flow+flow>   by the two inputs' kinds
        (book = book_imb_*, flow = aggr_imb, flow; others = own)
    breeding:within                                             WITHIN after a vetted detector
    reaudit                                                     an earlier survivor re-judged

Reward (information bought, docs/governance.md): a candidate's out-of-sample evidence
`min(cap, -log10 oos_p)` when its out-of-sample lift is positive at oos_p <= 0.05, else 0
(a candidate stopped before the out-of-sample gate bought none). A re-audit's reward is
the change of that evidence between the survivor's night and tonight, |e_now - e_then|;
a re-audit stopped before the out-of-sample gate (tonight's tape lacks an input, say)
measured nothing and earns 0.

Cost units (deterministic): the tape's rows / 10,000 x the gates the candidate went
through (compile = 1 ... adversarial = 6), the harness's work in the order it does it
(a 3-hour one-coin tape has 10,800 rows: 1.08 units a gate).

The Bonferroni bar of the out-of-sample gate stays the night's whole proposal (alpha /
proposed), fixed before any candidate is bought, whatever the budget buys.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from lotus_core.breeding.grammar import BOUNDED, DETECTOR_PREFIX, Grammar
from lotus_core.breeding.harness import GATES, Harness, HarnessConfig, Verdict
from lotus_core.breeding.night import NightResult, night_proposal, night_rng, tables
from lotus_core.breeding.propose import Candidate, Parent, Proposer
from lotus_core.governance.governor import (
    Arm,
    GovernorConfig,
    Night,
    Outcome,
    Policy,
    govern_night,
)
from lotus_core.governance.state import GovernorState
from lotus_core.signals.spec import DetectorSpec

EVIDENCE_CAP = 8.0
SIGNIFICANCE = 0.05  # a candidate's evidence is a reward at oos p <= this (tuned)
ROWS_PER_UNIT = 10_000.0
BOOK = tuple(x for x in BOUNDED if x.startswith("book_"))
OOS_GATE = GATES.index("oos") + 1  # gates_run of a candidate that reached the oos test


def _kind(inp: str) -> str:
    return "book" if inp in BOOK else "flow" if inp in BOUNDED else "own"


def family(c: Candidate) -> str:
    """The arm a candidate belongs to."""
    if c.origin != "composition":
        return f"breeding:{c.origin}"
    if any(t.input.startswith(DETECTOR_PREFIX) for t in c.spec.terms):
        return "breeding:within"
    return "breeding:composition:" + "+".join(sorted(_kind(t.input) for t in c.spec.terms))


def evidence(metrics: dict[str, object], significance: float = 1.0) -> float:
    """min(cap, -log10 oos_p) for a positive out-of-sample lift at p <= `significance`,
    else 0."""
    p, lift = metrics.get("oos_p"), metrics.get("oos_lift")
    if not isinstance(p, float) or not isinstance(lift, float) or not lift > 0:
        return 0.0
    if p > significance:
        return 0.0
    return float(min(EVIDENCE_CAP, -math.log10(max(p, 1e-300))))


def gates_run(v: Verdict) -> int:
    """How many of the harness's gates the candidate went through (a survivor: all)."""
    if v.survived:
        return len(GATES)
    return GATES.index(v.reason.split(":")[0]) + 1


@dataclass(frozen=True)
class Reaudit:
    """An earlier survivor to judge again on tonight's tape, with its evidence then."""

    candidate: Candidate
    evidence_then: float


@dataclass(frozen=True)
class GovernedNight:
    result: NightResult  # the candidates bought tonight (the breeder's tables)
    night: Night  # pulls and the new state
    proposed: int  # the night's whole proposal (the Bonferroni denominator)
    reaudits: list[Verdict]


def breeding_arms(harness: Harness, cands: Sequence[Candidate], rows: int,
                  reaudits: Sequence[Reaudit] = (),
                  significance: float = SIGNIFICANCE) -> list[Arm]:
    """One arm per family over the proposal (proposal order kept within an arm), and a
    `reaudit` arm when there are earlier survivors."""
    n = len(cands)
    scale = max(rows, 1) / ROWS_PER_UNIT
    arms: dict[str, Arm] = {}

    def judge(c: Candidate) -> Outcome:
        v = harness.judge(c, n)
        return Outcome(evidence(v.metrics, significance), scale * gates_run(v), c.detector_id,
                       "survived" if v.survived else v.reason.split(":")[0], v)

    def reaudit(r: Reaudit) -> Outcome:
        v = harness.judge(r.candidate, n)
        if gates_run(v) < OOS_GATE:  # stopped before it was measured: no evidence either way
            return Outcome(0.0, scale * gates_run(v), r.candidate.detector_id,
                           f"not measured: {v.reason.split(':')[0]}", v)
        e = evidence(v.metrics, significance)
        return Outcome(abs(e - r.evidence_then), scale * gates_run(v), r.candidate.detector_id,
                       f"evidence {r.evidence_then:.2f} -> {e:.2f}", v)

    for c in cands:
        name = family(c)
        arms.setdefault(name, Arm(name, "breeding")).pulls.append(partial(judge, c))
    if reaudits:
        arms["reaudit"] = Arm("reaudit", "reaudit", [partial(reaudit, r) for r in reaudits])
    return [arms[k] for k in sorted(arms)]


def reaudits_from(candidates: pd.DataFrame, limit: int = 8) -> list[Reaudit]:
    """Earlier survivors (a `candidates` table of earlier nights), newest first, one per id."""
    from lotus_core.breeding.grammar import BredSpec

    out: list[Reaudit] = []
    if not len(candidates):
        return out
    surv = candidates[candidates["survived"].astype(bool)].iloc[::-1]
    seen: set[str] = set()
    for det, spec, origin, p, lift in zip(surv["detector_id"], surv["spec_json"], surv["origin"],
                                          surv["oos_p"], surv["oos_lift"], strict=True):
        if det in seen:
            continue
        seen.add(str(det))
        out.append(Reaudit(Candidate(BredSpec.model_validate_json(str(spec)), str(origin)),
                           evidence({"oos_p": float(p), "oos_lift": float(lift)},
                                    SIGNIFICANCE)))
    return out[:limit]


def breed_governed(frames: pd.DataFrame, day: str, *, proposer: Proposer, grammar: Grammar,
                   gov: GovernorConfig, policy: Policy, state: GovernorState,
                   vetted: Sequence[DetectorSpec] = (), parents: Sequence[Parent] = (),
                   reaudits: Sequence[Reaudit] = (), seed: int = 7,
                   cfg: HarnessConfig | None = None, extra: Sequence[Arm] = (),
                   significance: float = SIGNIFICANCE) -> GovernedNight:
    """Propose as `breed_night` does (same candidates for the same seed and parents), then
    let `policy` buy candidates under `gov.budget`. `extra` arms (counterfactual replays,
    expert re-fits: injected runners) compete for the same budget."""
    cands = night_proposal(day, proposer=proposer, grammar=grammar, vetted=vetted,
                           parents=parents, seed=seed)
    harness = Harness(frames, grammar, vetted, cfg)
    arms = breeding_arms(harness, cands, len(frames), reaudits, significance) + list(extra)
    # the governor's draws: their own stream, apart from the proposer's
    rng = np.random.default_rng([int(seed), 0x60F, int(night_rng(seed, day).integers(2**31))])
    night = govern_night(arms, state, gov, policy, rng, day)
    bought = [o.detail for o, k in zip(night.outcomes, night.pulls["kind"], strict=True)
              if k == "breeding" and isinstance(o.detail, Verdict)]
    again = [o.detail for o, k in zip(night.outcomes, night.pulls["kind"], strict=True)
             if k == "reaudit" and isinstance(o.detail, Verdict)]
    return GovernedNight(tables(bought, day), night, len(cands), again)
