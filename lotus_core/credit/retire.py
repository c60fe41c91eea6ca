"""Retirement proposals: an expert whose outcome credit was not positive in each of the
last N ISO weeks is proposed to the curators as a signed WATCHDOG_ALERT on sig's outbox
(routed to curator_queue). Nothing is removed: the registry is the curators' to change.

A week's credit is the newest credit run of that week (its `net_bps|all` Shapley-lite
credit over the run's window); a week without a run does not count, so N weeks with no
credit means N consecutive ISO weeks, each credited and none positive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd

from lotus_core.fabric.db import Db
from lotus_core.fabric.keyring import Keyring
from lotus_core.fabric.manifests import ModelsMap
from lotus_core.report.alerting import CheckAlert, post_check_alert

REASON = "dsi_expert_no_credit"


def iso_week(day: str) -> str:
    y, w, _ = date.fromisoformat(day).isocalendar()
    return f"{y}-W{w:02d}"


def last_weeks(day: str, n: int) -> list[str]:
    """The n ISO weeks ending with `day`'s, oldest first."""
    d = date.fromisoformat(day)
    return [iso_week((d - timedelta(weeks=k)).isoformat()) for k in range(n - 1, -1, -1)]


@dataclass(frozen=True)
class RetirementProposal:
    expert_id: str
    weeks: tuple[str, ...]
    credit_bps: tuple[float, ...]

    def alert(self) -> CheckAlert:
        detail = (f"DSI expert {self.expert_id} added no realised outcome in "
                  f"{len(self.weeks)} consecutive weeks ({', '.join(self.weeks)}; Shapley-lite "
                  f"credit {', '.join(f'{c:+.1f}' for c in self.credit_bps)} bps). Proposed "
                  "for retirement: review it and set `active: false` in experts.yaml, or "
                  "keep it. Nothing was changed.")
        return CheckAlert(check=f"{REASON}.{self.expert_id}", day=self.weeks[-1],
                          detail=detail, subject_kind="module", subject_id="sig",
                          metrics={f"credit_bps_{w}": c
                                   for w, c in zip(self.weeks, self.credit_bps, strict=True)})


def weekly_credit(history: pd.DataFrame) -> pd.DataFrame:
    """(expert_id, week, credit_bps): each week's newest run's outcome credit."""
    rows = history[(history["metric"] == "net_bps") & (history["scope"] == "all")]
    if rows.empty:
        return pd.DataFrame({"expert_id": [], "week": [], "credit_bps": []})
    rows = rows.assign(week=[iso_week(str(d)) for d in rows["day"]])
    newest = rows.sort_values("day", kind="stable").groupby(["expert_id", "week"]).tail(1)
    return newest[["expert_id", "week", "pooled"]].rename(columns={"pooled": "credit_bps"})


def proposals(history: pd.DataFrame, day: str, weeks: int) -> list[RetirementProposal]:
    """The experts with no positive credit in each of the `weeks` ISO weeks up to `day`'s."""
    want = last_weeks(day, weeks)
    w = weekly_credit(history)
    out = []
    for expert, g in w.groupby("expert_id", sort=True):
        credit = dict(zip(g["week"], g["credit_bps"], strict=True))
        if all(k in credit for k in want) and all(credit[k] <= 0.0 for k in want):
            out.append(RetirementProposal(str(expert), tuple(want),
                                          tuple(float(credit[k]) for k in want)))
    return out


def post_proposals(fabric: Db, found: list[RetirementProposal], keys: Keyring, *,
                   models_map: ModelsMap) -> int:
    """Post each proposal once (dedupe per expert and week); how many were new.
    `models_map`: the entry point's (`load_modules().map`)."""
    return sum(post_check_alert(fabric, p.alert(), keys, models_map=models_map)
               for p in found)
