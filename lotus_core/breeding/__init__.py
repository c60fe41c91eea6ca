"""The breeder: seeded proposers over the detector grammar, judged by the
harness on the training window only. Pure (no dagster); docs/breeding.md.

    Grammar, BredSpec, Term, Gate            what a bred detector may be made of (gate: context)
    load_recipe() -> Recipe                  the Mutation Curator's jitter ranges and counts
    Proposer, RecipeProposer                 parents + grammar + rng -> candidates (origin, parents)
    Harness, HarnessConfig                   compile, future-touch, out-of-sample, audits
    breed_night(frames, day, ...)            -> NightResult (candidates, lineage, survivors)
    bred_windows(frames, specs, vetted)      a bred spec's windows (run_detectors' columns)
    store.write_specs / specs_for_scoring    the survivors (`bred_specs`, status exploration)
    scoring.exploration_set(lake, day)       them as score_day's `extra` detectors
    proof.run_arm(seed, planted, recipe=...) one night of the breeding proof (bench/breeding.py)
"""

from lotus_core.breeding.compile import bred_windows
from lotus_core.breeding.grammar import STATUS_EXPLORATION, BredSpec, Gate, Grammar, Term
from lotus_core.breeding.harness import Harness, HarnessConfig, Verdict
from lotus_core.breeding.night import (
    NightResult,
    breed_night,
    candidate_items,
    parents_from,
)
from lotus_core.breeding.propose import Candidate, Parent, Proposer, RecipeProposer
from lotus_core.breeding.recipe import Recipe, load_recipe

__all__ = ["STATUS_EXPLORATION", "BredSpec", "Candidate", "Gate", "Grammar", "Harness",
           "HarnessConfig", "NightResult", "Parent", "Proposer", "Recipe", "RecipeProposer",
           "Term", "Verdict", "bred_windows", "breed_night", "candidate_items", "load_recipe",
           "parents_from"]
