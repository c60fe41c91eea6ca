"""The `refit` arm: re-fit one DSI expert on the history window that ends at the newest
scored day and test whether what it learned moved from the model the day was scored with
(docs/governance.md, docs/dsi.md).

The day was annotated by experts fitted on the `dsi_history_days` before it (the
`dsi_annotations` rule: earlier days only). Tomorrow's fit slides that window one day on:
it drops the oldest day and learns from the scored day itself. What an expert learned is
its Beta reliability (episode hits of its flags against the mechanical label; fusion
weighs it by it), and for a learned expert the model whose flags are counted. A pull:

    old  = the expert fitted on [s - H, s - 1]        (what the day was scored with)
    new  = the expert fitted on [s - H + 1, s]        (the re-fit)
    test = the re-fit's episodes on the day(s) it added (s: hits k of n, counted with the
           re-fitted expert's history outputs) against what the old fit believed: its
           reliability posterior Beta(a, b) predicts k ~ BetaBinomial(n, a, b); p is the
           two-sided tail (the outcomes no likelier than k)

The added day is data the old fit never saw, so the test is valid where comparing the two
windows' totals (which share H - 1 days) would not be; and it still holds when the old fit
had no trial at all (its belief is then its prior: a learned expert's first fit can move
its reliability most). A day whose episodes hit as often as the old fit expected moves the
reliability by no more than its own uncertainty: p large, reward 0. A re-fit that changes
nothing bought nothing: no trial on the added day gives p = 1.

Reward: breeding's evidence scale, min(8, -log10 p) at p <= 0.05, else 0. The note shows
the posterior mean before and after and both samples.

The fit is `fit_dsi`'s own, one expert at a time (`lotus_core.dsi.model.fit_expert`,
which also returns the counts per day this test needs). One expert
is fitted alone: an expert's fit and reliability depend on its own history only
(docs/experiments.md, expert credit).

Cost units (deterministic, the breeding arms' scale: one pass of one detector or expert
over 10,000 rows = 1 unit): each fit is two passes over its window (the fit, then its
history outputs counted against the label): (2 x old rows + 2 x new rows) / 10,000.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from lotus_core.dsi.history import bounded
from lotus_core.dsi.model import fit_expert, history_days
from lotus_core.dsi.registry import ExpertSpec, Registry
from lotus_core.dsi.reliability import Counts, Posterior
from lotus_core.experiments import load_day
from lotus_core.governance.breeding import ROWS_PER_UNIT
from lotus_core.governance.governor import Arm, Outcome
from lotus_core.governance.replay_arms import ScoredLake, Scoring, newest_scored_day, p_evidence
from lotus_core.time import shift_day

FIT_PASSES = 2  # the fit, then the history outputs counted against the label


@dataclass(frozen=True)
class ExpertFit:
    """One expert fitted on one window: its episode counts per history day and its
    reliability posterior (prior + all counts, as fit_dsi's)."""

    expert_id: str
    by_day: dict[str, Counts]
    posterior: Posterior
    rows: int

    @property
    def total(self) -> Counts:
        return sum(self.by_day.values(), Counts())


def fit_window(window: pd.DataFrame | None, registry: Registry, spec: ExpertSpec) -> ExpertFit:
    """`fit_dsi`'s fit of one expert (`lotus_core.dsi.model.fit_expert`) on `window`
    (earlier days with a `date` column), keeping its counts per day."""
    window = bounded(window, registry.history_rows)  # fit_dsi's coin-days
    _, by_day = fit_expert(spec, history_days(window, registry.label), registry)
    total = sum(by_day.values(), Counts())
    prior = Posterior(spec.prior_alpha, spec.prior_beta)
    return ExpertFit(spec.id, by_day, prior.update(total.successes, total.trials),
                     0 if window is None else len(window))


def moved_p(added: Counts, belief: Posterior) -> float:
    """Two-sided p of the added days' hits under the old fit's posterior predictive,
    BetaBinomial(trials, alpha, beta): the mass of the outcomes no likelier than the one
    seen; 1 without a trial."""
    n, k = added.trials, added.successes
    if n == 0:
        return 1.0
    from scipy import stats  # here: scipy.stats costs every process ~0.5 s of import

    pmf = stats.betabinom.pmf(np.arange(n + 1), n, belief.alpha, belief.beta)
    return float(min(1.0, pmf[pmf <= pmf[k] * (1 + 1e-9)].sum()))


class DayRefitter:
    """Re-fits of one scored day's experts: the windows read once (lazily, at the first
    pull), then one old and one new fit per expert pulled."""

    def __init__(self, lake: ScoredLake, day: str, scoring: Scoring) -> None:
        self.lake, self.day, self.scoring = lake, day, scoring
        self.windows: tuple[pd.DataFrame | None, pd.DataFrame] | None = None

    def _windows(self) -> tuple[pd.DataFrame | None, pd.DataFrame]:
        """(the old window [s - H, s - 1], None when empty; the new one [s - H + 1, s])."""
        if self.windows is None:
            h = self.scoring.dsi_history_days
            i = load_day(self.lake, self.day, history_days=0, dsi_history_days=h,
                         with_dsi_history=True)
            old = i.dsi_history if i.dsi_history is not None and len(i.dsi_history) else None
            keep = (old[old["date"] >= shift_day(self.day, 1 - h)] if old is not None
                    else pd.DataFrame())
            new = pd.concat([keep, i.frames.assign(date=self.day)], ignore_index=True)
            self.windows = (old, new)
        return self.windows

    def pull(self, expert_id: str) -> Outcome:
        reg = self.scoring.base.registry
        spec = next(e for e in reg.active if e.id == expert_id)
        old_w, new_w = self._windows()
        old, new = fit_window(old_w, reg, spec), fit_window(new_w, reg, spec)
        added = sum((c for d, c in new.by_day.items() if d not in old.by_day), Counts())
        p = moved_p(added, old.posterior)
        units = FIT_PASSES * (old.rows + new.rows) / ROWS_PER_UNIT
        note = (f"reliability {old.posterior.mean:.4f} -> {new.posterior.mean:.4f}; "
                f"added {added.successes}/{added.trials} (old {old.total.successes}/"
                f"{old.total.trials}), "
                f"p {p:.3g}")
        return Outcome(p_evidence(p), units, expert_id, note, (old, new))


def refit_arm(lake: ScoredLake, day: str, scoring: Scoring, limit: int,
              experts: Sequence[str] = ()) -> Arm | None:
    """The `refit` arm on the newest scored day <= `day`: one pull per active expert
    (`experts`, or the registry's active order), up to `limit`; None when no day was
    scored or `limit` is 0."""
    scored = newest_scored_day(lake, day) if limit > 0 else None
    if scored is None:
        return None
    active = [e.id for e in scoring.base.registry.active]
    ids = [e for e in (experts or active) if e in active][:limit]
    if not ids:
        return None
    r = DayRefitter(lake, scored, scoring)
    return Arm("refit", "refit", [partial(r.pull, e) for e in ids])
