"""The governance proof, one seed at a time: at equal compute, how many nights until a
night's breeding finds the planted edge, governed (Thompson) against uniform allocation?

A seed is one multi-day synthetic market with the opt-in `book_flow_absorption` edge
(lotus_core/synth/absorption.py), generated once and cached. Night i breeds on day i
under the budget (the breeding arms only: both policies split the same proposal), with
the earlier nights' survivors as parents; every survivor of night i is judged on day i+1,
which the breeder has not read (lotus_core.breeding.proof.judge_survivors). Found: a
survivor captures the edge there (beats chance, alpha 0.05, with at least a quarter of its
windows inside planted episodes). Nights to find = the first such night (1-based), or
`nights + 1` when none did (censored).
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field

from lotus_core.breeding.grammar import Grammar
from lotus_core.breeding.harness import HarnessConfig
from lotus_core.breeding.night import parents_from
from lotus_core.breeding.proof import ProofConfig, judge_survivors, tape
from lotus_core.breeding.propose import RecipeProposer
from lotus_core.breeding.recipe import Recipe
from lotus_core.governance.breeding import breed_governed
from lotus_core.governance.governor import (
    BudgetConfig,
    GovernorConfig,
    Policy,
    ThompsonPolicy,
    UniformPolicy,
)
from lotus_core.governance.state import GovernorState
from lotus_core.signals.spec import load_detectors
from lotus_core.strict import StrictModel

Day = tuple[pd.DataFrame, list[tuple[str, int, int]]]
POLICIES: dict[str, Policy] = {"thompson": ThompsonPolicy(), "uniform": UniformPolicy()}


class RaceConfig(StrictModel):
    start: date = date(2026, 3, 2)
    nights: int = Field(default=10, ge=1)  # the cap
    coins: tuple[str, ...] = ("BTC",)
    hours: tuple[int, int] = (6, 9)
    budget: float = Field(default=15.0, gt=0)  # cost units a night (rows/10k x gates)
    quota: int = Field(default=1, ge=0)
    prior_mu: float = 0.1
    prior_beta: float = Field(default=0.05, gt=0)
    significance: float = Field(default=0.05, gt=0, le=1)  # evidence counts at p <= this
    parent_nights: int = Field(default=7, ge=0)

    def governor(self) -> GovernorConfig:
        return GovernorConfig(budget=BudgetConfig(mode="units", limit=self.budget),
                              quota=self.quota, prior_mu=self.prior_mu,
                              prior_beta=self.prior_beta)


def market(seed: int, cfg: RaceConfig, cache: Path) -> list[Day]:
    """The seed's `nights + 1` planted days (MicroTape, episodes), cached under `cache`
    (a day is a pure function of seed, day, coins and hours)."""
    where = cache / f"{seed}_{cfg.hours[0]}-{cfg.hours[1]}_{'-'.join(cfg.coins)}"
    where.mkdir(parents=True, exist_ok=True)
    out: list[Day] = []
    for i in range(cfg.nights + 1):
        day = cfg.start + timedelta(days=i)
        fp, ep = where / f"{day.isoformat()}.parquet", where / f"{day.isoformat()}.json"
        if not (fp.is_file() and ep.is_file()):
            frames, episodes = tape(where / "tmp", day, seed, True, cfg.hours, cfg.coins)
            frames.to_parquet(fp, index=False)
            ep.write_text(json.dumps(episodes))
        out.append((pd.read_parquet(fp), [(str(c), int(a), int(b))
                                          for c, a, b in json.loads(ep.read_text())]))
    return out


def race(seed: int, policy: str, cfg: RaceConfig, days: list[Day], *,
         recipe: Recipe) -> dict[str, Any]:
    """One policy's nights on one seed's market, up to the first capture or the cap.
    `recipe`: the caller's, so both policies of a race propose from the same one."""
    vetted = load_detectors().enabled
    grammar = Grammar(vetted=tuple(s.id for s in vetted))
    proposer = RecipeProposer(recipe)
    gov, pol = cfg.governor(), POLICIES[policy]
    state = GovernorState()
    history: list[pd.DataFrame] = []
    nights: list[dict[str, Any]] = []
    found = cfg.nights + 1
    for i in range(cfg.nights):
        day = (cfg.start + timedelta(days=i)).isoformat()
        earlier = history[-cfg.parent_nights:] if cfg.parent_nights else []
        parents = parents_from(pd.concat(earlier, ignore_index=True)) if earlier else []
        g = breed_governed(days[i][0], day, proposer=proposer, grammar=grammar, gov=gov,
                           policy=pol, state=state, vetted=vetted, parents=parents,
                           seed=seed, cfg=HarnessConfig(), significance=cfg.significance)
        state = g.night.state
        history.append(g.result.candidates)
        judged = judge_survivors(g.result, days[i + 1][0], days[i + 1][1], vetted,
                                 ProofConfig())
        captured = any(j["captures"] for j in judged)
        spend = g.night.pulls.groupby("arm")["cost"].sum()
        nights.append({"night": i + 1, "proposed": g.proposed, "bought": len(g.result.candidates),
                       "spent": round(g.night.spent, 6), "survivors": len(g.result.survivors),
                       "captured": captured,
                       "spend_by_arm": {str(k): round(float(v), 6) for k, v in spend.items()}})
        if captured:
            found = i + 1
            break
    return {"seed": seed, "policy": policy, "nights_to_find": found,
            "found": found <= cfg.nights, "nights": nights}
