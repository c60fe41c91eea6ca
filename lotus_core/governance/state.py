"""The governor's state carried night to night: per arm, its posterior, lifetime pulls,
spend and reward. Serialised as canonical JSON and as the `governance_state` table."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

import pandas as pd

from lotus_core.governance.posterior import NormalGamma

STATE_COLUMNS = ("date", "arm", "kind", "pulls", "spent", "reward", "mu", "kappa", "alpha",
                 "beta")


@dataclass(frozen=True)
class ArmState:
    kind: str
    posterior: NormalGamma
    pulls: int = 0
    spent: float = 0.0
    reward: float = 0.0

    def observe(self, reward: float, cost: float, units: float | None = None) -> ArmState:
        """One pull: the posterior learns reward per cost unit (`units`, the deterministic
        proxy of CPU; `cost` when not given), the spend adds what the budget counted."""
        per = cost if units is None else units
        rate = reward / per if per > 0 else 0.0
        return replace(self, posterior=self.posterior.update(rate), pulls=self.pulls + 1,
                       spent=self.spent + cost, reward=self.reward + reward)


@dataclass(frozen=True)
class GovernorState:
    """Arms by name (names sort the iteration order everywhere, so ties are stable)."""

    arms: dict[str, ArmState] = field(default_factory=dict)

    def get(self, name: str, kind: str, prior: NormalGamma) -> ArmState:
        return self.arms.get(name) or ArmState(kind, prior)

    def with_arm(self, name: str, arm: ArmState) -> GovernorState:
        return GovernorState({**self.arms, name: arm})

    def to_json(self) -> str:
        body = {n: {"kind": a.kind, "pulls": a.pulls, "spent": a.spent, "reward": a.reward,
                    "posterior": [a.posterior.mu, a.posterior.kappa, a.posterior.alpha,
                                  a.posterior.beta]}
                for n, a in sorted(self.arms.items())}
        return json.dumps(body, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> GovernorState:
        body: dict[str, Any] = json.loads(text) if text else {}
        return cls({n: ArmState(str(a["kind"]), NormalGamma(*map(float, a["posterior"])),
                                int(a["pulls"]), float(a["spent"]), float(a["reward"]))
                    for n, a in body.items()})

    def to_frame(self, day: str) -> pd.DataFrame:
        rows = [{"date": day, "arm": n, "kind": a.kind, "pulls": a.pulls, "spent": a.spent,
                 "reward": a.reward, "mu": a.posterior.mu, "kappa": a.posterior.kappa,
                 "alpha": a.posterior.alpha, "beta": a.posterior.beta}
                for n, a in sorted(self.arms.items())]
        df = pd.DataFrame(rows, columns=list(STATE_COLUMNS))
        for c in ("date", "arm", "kind"):
            df[c] = df[c].astype("str")
        df["pulls"] = df["pulls"].astype("int64")
        for c in ("spent", "reward", "mu", "kappa", "alpha", "beta"):
            df[c] = df[c].astype("float64")
        return df

    @classmethod
    def from_frame(cls, df: pd.DataFrame) -> GovernorState:
        return cls({str(r.arm): ArmState(str(r.kind), NormalGamma(float(r.mu), float(r.kappa),
                                                                  float(r.alpha), float(r.beta)),
                                         int(r.pulls), float(r.spent), float(r.reward))
                    for r in df.itertuples(index=False)})
