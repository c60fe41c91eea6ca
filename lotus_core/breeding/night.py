"""One night of breeding: propose from the parents, dispose on the training window, and
lay out what the assets, the CLI and the Curator API read: the `candidates` table (every
candidate, survivors with their card, losers with their reason), the `detector_lineage`
edges, the survivor specs (entering scoring with status `exploration`) and the
`bred_detector` items for the curators."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.breeding.grammar import STATUS_EXPLORATION, BredSpec, Grammar
from lotus_core.breeding.harness import Harness, HarnessConfig, Verdict
from lotus_core.breeding.propose import Candidate, Parent, Proposer
from lotus_core.signals.spec import DetectorSpec

CANDIDATE_COLUMNS = ("date", "detector_id", "recipe_hash", "origin", "parents", "survived",
                     "reason", "windows", "oos_lift", "oos_p", "spec_json", "card_json")
LINEAGE_COLUMNS = ("date", "child_id", "parent_id", "origin", "survived")


def _json(x: Any) -> str:
    return json.dumps(x, sort_keys=True, separators=(",", ":"))


def night_rng(seed: int, day: str) -> np.random.Generator:
    """The proposer's draws: a pure function of (seed, day)."""
    return np.random.default_rng([int(seed), zlib.crc32(day.encode())])


def _num(x: Any) -> Any:
    return round(float(x), 6) if isinstance(x, float | np.floating) and np.isfinite(x) else x


def card(v: Verdict, day: str) -> dict[str, Any]:
    """A bred detector's card: recipe, lineage (origin, parents, note) and the harness's
    figures, in the shape of the packaged cards' JSON twin (docs/cards.md)."""
    c = v.candidate
    return {
        "card": "bred-detector-card-1", "date": day, "detector_id": c.detector_id,
        "kind": "bred", "recipe_hash": c.spec.recipe_hash, "recipe": c.spec.model_dump(),
        "horizon_s": c.spec.horizon_s, "cooldown_s": c.spec.cooldown_s,
        "status": STATUS_EXPLORATION if v.survived else "rejected",
        "lineage": {"origin": c.origin, "parents": list(c.parents), "note": c.note,
                    "bred_on": day},
        "harness": {k: _num(x) for k, x in sorted(v.metrics.items())},
        "reason": v.reason,
        "failure_modes": ["bred on one training window: the edge may be that window's",
                          "exploration: publication share capped until it earns its place"],
    }


@dataclass(frozen=True)
class NightResult:
    candidates: pd.DataFrame  # CANDIDATE_COLUMNS
    lineage: pd.DataFrame  # LINEAGE_COLUMNS
    verdicts: list[Verdict]

    @property
    def survivors(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.survived]

    def survivor_specs(self) -> list[dict[str, Any]]:
        """The survivors as scoring reads them (lotus_core.breeding.store)."""
        return [{"detector_id": v.candidate.detector_id, "status": STATUS_EXPLORATION,
                 "recipe_hash": v.candidate.spec.recipe_hash, "spec": v.candidate.spec.model_dump()}
                for v in self.survivors]


def candidate_items(result: NightResult, day: str) -> list[dict[str, Any]]:
    """Survivors as curator_candidates rows (`bred_detector`), keyed by detector and recipe
    so a survivor is posted once (store.post_candidate is idempotent on item_id)."""
    out = []
    for v in result.survivors:
        c = v.candidate
        out.append({"item_id": f"bred:{c.detector_id}:{c.spec.recipe_hash}",
                    "kind": "bred_detector", "subject_id": c.detector_id,
                    "proposer": f"breeder:{day}", "detail": card(v, day),
                    "summary": f"{c.detector_id} bred on {day} ({c.origin}), "
                               f"oos lift {v.metrics.get('oos_lift', float('nan')):+.3f}"})
    return out


def tables(verdicts: Sequence[Verdict], day: str) -> NightResult:
    rows, edges = [], []
    for v in verdicts:
        c = v.candidate
        rows.append({"date": day, "detector_id": c.detector_id,
                     "recipe_hash": c.spec.recipe_hash, "origin": c.origin,
                     "parents": _json(list(c.parents)), "survived": bool(v.survived),
                     "reason": v.reason, "windows": int(v.metrics.get("windows", 0)),
                     "oos_lift": float(v.metrics.get("oos_lift", np.nan)),
                     "oos_p": float(v.metrics.get("oos_p", np.nan)),
                     "spec_json": c.spec.canonical(), "card_json": _json(card(v, day))})
        for p in c.parents:
            edges.append({"date": day, "child_id": c.detector_id, "parent_id": p,
                          "origin": c.origin, "survived": bool(v.survived)})
    cand = pd.DataFrame(rows, columns=list(CANDIDATE_COLUMNS))
    lin = pd.DataFrame(edges, columns=list(LINEAGE_COLUMNS))
    for df in (cand, lin):
        df["survived"] = df["survived"].astype(bool)
        for col in df.columns:
            if col not in ("survived", "windows", "oos_lift", "oos_p"):
                df[col] = df[col].astype("str")
    cand["windows"] = cand["windows"].astype(np.int64)
    for col in ("oos_lift", "oos_p"):
        cand[col] = cand[col].astype(np.float64)
    return NightResult(cand, lin, list(verdicts))


def breed_night(frames: pd.DataFrame, day: str, *, proposer: Proposer, grammar: Grammar,
                vetted: Sequence[DetectorSpec] = (), parents: Sequence[Parent] = (),
                seed: int = 7, cfg: HarnessConfig | None = None) -> NightResult:
    """Propose from `parents` (earlier survivors) and the vetted detectors, then judge each
    candidate on `frames` (the training window: days up to and including `day`, never a
    later one)."""
    cands = night_proposal(day, proposer=proposer, grammar=grammar, vetted=vetted,
                           parents=parents, seed=seed)
    harness = Harness(frames, grammar, vetted, cfg)
    return tables(harness.dispose(cands), day)


def night_proposal(day: str, *, proposer: Proposer, grammar: Grammar,
                   vetted: Sequence[DetectorSpec] = (), parents: Sequence[Parent] = (),
                   seed: int = 7) -> list[Candidate]:
    """The night's candidates: `proposer` over the earlier survivors and the vetted
    detectors the grammar admits, drawn from the night's own stream (`night_rng`). One
    definition for every way a night is judged (whole: `breed_night`; under a budget:
    lotus_core.governance.breed_governed)."""
    pool = list(parents) + [Parent(s.id) for s in vetted if s.id in grammar.vetted]
    return list(proposer.propose(pool, grammar, night_rng(seed, day)))


def parents_from(candidates: pd.DataFrame) -> list[Parent]:
    """Earlier nights' survivors as parents (their specs), oldest first, one per id."""
    out, seen = [], set()
    if len(candidates):
        surv = candidates[candidates["survived"].astype(bool)]
        for det, spec_json in zip(surv["detector_id"], surv["spec_json"], strict=True):
            if det not in seen:
                seen.add(det)
                out.append(Parent(str(det), BredSpec.model_validate_json(str(spec_json))))
    return out
