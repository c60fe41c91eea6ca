"""One night of compute governance: arms offer pulls (judge a candidate, re-audit a
survivor, replay an alternative, re-fit an expert), a policy picks which arm spends next,
a budget stops the night.

- `Arm`: a name, a kind and a queue of pulls, each an injected callable returning an
  `Outcome` (reward = information bought; units = its deterministic cost).
- `ThompsonPolicy`: every step, one draw per arm with something left from its
  Normal-Gamma posterior of reward per cost unit; the largest draw spends. Before that, a
  diversity quota: the `quota` least-tried arms (lifetime pulls, then name) with something
  left get one pull each.
- `UniformPolicy`: the same interface; the arm with the least spend this night goes next
  (equal compute per arm), ties in name order. No quota, no learning in its choices.
- `Budget`: `units` (the outcomes' deterministic cost units: byte-identical runs) or
  `cpu` (time.process_time seconds around each pull). Either way the posterior learns
  reward per cost *unit* (a deterministic proxy of CPU), so its scale and its prior do not
  depend on the mode or the machine, and timing noise never steers a choice. A pull
  starts only while the night's spend is below the limit, so the night overshoots by at
  most one pull. The pulls' `cpu_s` is recorded in `cpu` mode only (NaN in `units` mode, which stays
  byte-identical run to run).

Draws come from `night_rng(seed, day)`: same arms, state, seed and day (and `units`
mode) -> the same choices.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pandas as pd
from pydantic import Field

from lotus_core.governance.posterior import NormalGamma
from lotus_core.governance.state import GovernorState
from lotus_core.strict import StrictModel

PULL_COLUMNS = ("date", "policy", "seq", "arm", "kind", "quota", "sample", "item", "reward",
                "units", "cost", "cpu_s", "spent", "note")
KINDS = ("breeding", "reaudit", "replay", "refit")


@dataclass(frozen=True)
class Outcome:
    """What one pull bought: `reward` (information, >= 0), `units` (deterministic cost),
    the item it spent on and a short note."""

    reward: float
    units: float
    item: str = ""
    note: str = ""
    detail: Any = None  # the runner's own result (a breeding Verdict, ...)


@dataclass
class Arm:
    """A named queue of pulls of one kind; `pulls` are consumed in order."""

    name: str
    kind: str
    pulls: list[Callable[[], Outcome]] = field(default_factory=list)

    @property
    def left(self) -> int:
        return len(self.pulls)

    def pull(self) -> Outcome:
        return self.pulls.pop(0)()


class BudgetConfig(StrictModel):
    mode: Literal["units", "cpu"] = "units"
    limit: float = Field(gt=0)  # cost units or CPU seconds per night


class GovernorConfig(StrictModel):
    """The governor's knobs (docs/governance.md)."""

    budget: BudgetConfig
    quota: int = Field(default=2, ge=0)  # least-tried arms pulled once each night
    # the prior of an arm's reward per cost unit: mean 0.1 (about an average breeding arm's
    # rate, so an untried arm is tried without a long optimistic detour), rate variance
    # beta / alpha = 0.05 (the scale of the observed rates); chosen on the tuning seeds
    prior_mu: float = 0.1
    prior_kappa: float = Field(default=1.0, gt=0)
    prior_alpha: float = Field(default=1.0, gt=0)
    prior_beta: float = Field(default=0.05, gt=0)

    @property
    def prior(self) -> NormalGamma:
        return NormalGamma(self.prior_mu, self.prior_kappa, self.prior_alpha, self.prior_beta)


class Policy(Protocol):
    @property
    def name(self) -> str: ...

    def choose(self, open_arms: Sequence[Arm], state: GovernorState, night_spend: dict[str, float],
               rng: np.random.Generator, prior: NormalGamma) -> tuple[str, float]: ...


@dataclass(frozen=True)
class ThompsonPolicy:
    name: str = "thompson"

    def choose(self, open_arms: Sequence[Arm], state: GovernorState, night_spend: dict[str, float],
               rng: np.random.Generator, prior: NormalGamma) -> tuple[str, float]:
        draws = [(state.get(a.name, a.kind, prior).posterior.sample(rng), a.name)
                 for a in open_arms]
        best = max(draws, key=lambda d: d[0])  # the first (in name order) on a tie
        return best[1], best[0]


@dataclass(frozen=True)
class UniformPolicy:
    name: str = "uniform"

    def choose(self, open_arms: Sequence[Arm], state: GovernorState, night_spend: dict[str, float],
               rng: np.random.Generator, prior: NormalGamma) -> tuple[str, float]:
        a = min(open_arms, key=lambda a: (night_spend.get(a.name, 0.0), a.name))
        return a.name, float("nan")


@dataclass(frozen=True)
class Night:
    pulls: pd.DataFrame  # PULL_COLUMNS
    state: GovernorState
    outcomes: list[Outcome]

    @property
    def spent(self) -> float:
        return float(self.pulls["cost"].sum()) if len(self.pulls) else 0.0


def quota_arms(arms: Sequence[Arm], state: GovernorState, k: int) -> list[str]:
    """The k least-tried arms (lifetime pulls, then name) with a pull left."""
    open_arms = sorted((a for a in arms if a.left),
                       key=lambda a: (state.arms[a.name].pulls if a.name in state.arms else 0,
                                      a.name))
    return [a.name for a in open_arms[:k]]


def govern_night(arms: Sequence[Arm], state: GovernorState, cfg: GovernorConfig,
                 policy: Policy, rng: np.random.Generator, day: str) -> Night:
    """Spend one night's budget over `arms`; returns the pulls, the updated state and
    every outcome in pull order."""
    by_name = {a.name: a for a in arms}
    if len(by_name) != len(arms):
        raise ValueError("arms: names must be unique")
    prior, limit = cfg.prior, cfg.budget.limit
    quota = quota_arms(arms, state, cfg.quota) if isinstance(policy, ThompsonPolicy) else []
    rows: list[dict[str, Any]] = []
    outs: list[Outcome] = []
    night_spend: dict[str, float] = {}
    spent = 0.0
    while spent < limit:
        open_arms = [by_name[n] for n in sorted(by_name) if by_name[n].left]
        if not open_arms:
            break
        if quota:
            name, draw, is_quota = quota.pop(0), float("nan"), True
        else:
            name, draw = policy.choose(open_arms, state, night_spend, rng, prior)
            is_quota = False
        arm = by_name[name]
        t0 = time.process_time()
        out = arm.pull()
        cpu = time.process_time() - t0
        cost = out.units if cfg.budget.mode == "units" else cpu
        spent += cost
        night_spend[name] = night_spend.get(name, 0.0) + cost
        state = state.with_arm(name, state.get(name, arm.kind, prior).observe(out.reward, cost,
                                                                              out.units))
        outs.append(out)
        rows.append({"date": day, "policy": policy.name, "seq": len(rows), "arm": name,
                     "kind": arm.kind, "quota": is_quota, "sample": draw, "item": out.item,
                     "reward": float(out.reward), "units": float(out.units), "cost": float(cost),
                     "cpu_s": float(cpu) if cfg.budget.mode == "cpu" else float("nan"),
                     "spent": spent, "note": out.note})
    return Night(pulls_frame(rows), state, outs)


def pulls_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(PULL_COLUMNS))
    for c in ("date", "policy", "arm", "kind", "item", "note"):
        df[c] = df[c].astype("str")
    df["seq"] = df["seq"].astype("int64")
    df["quota"] = df["quota"].astype(bool)
    for c in ("sample", "reward", "units", "cost", "cpu_s", "spent"):
        df[c] = df[c].astype("float64")
    return df


def by_arm(pulls: pd.DataFrame) -> pd.DataFrame:
    """A night's pulls summed per arm: pulls, quota pulls, spend, share, reward, reward per
    cost unit."""
    cols = ["arm", "kind", "pulls", "quota_pulls", "cost", "share", "reward", "reward_per_cost"]
    if not len(pulls):
        return pd.DataFrame(columns=cols)
    g = pulls.groupby(["arm", "kind"], sort=True).agg(
        pulls=("seq", "size"), quota_pulls=("quota", "sum"), cost=("cost", "sum"),
        reward=("reward", "sum")).reset_index()
    total = float(g["cost"].sum())
    g["share"] = g["cost"] / total if total > 0 else math.nan
    g["reward_per_cost"] = np.where(g["cost"] > 0, g["reward"] / g["cost"].where(g["cost"] > 0, 1),
                                    0.0)
    return g[cols]
