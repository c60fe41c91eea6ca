"""Curator KPIs of one day, judged after the fact on the day's realised outcomes.

The outcomes never feed back into that day's scores: they only say whether the council's
choices (vs the machine score alone) were good. docs/curators.md defines each KPI.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Protocol

import numpy as np
import pandas as pd

KPI_COLUMNS = ("kpi", "scope", "value", "n")


def effective_number(labels: pd.Series) -> float:
    """Hill number of order 1: exp(Shannon entropy) of the label shares (0 when empty)."""
    return effective_number_of(Counter(labels.tolist()))


def effective_number_of(counts: Mapping[str, int]) -> float:
    """`effective_number` of labels given by their counts (in a fixed order: most common
    first, then by label, so a day's value does not depend on how it was tallied)."""
    n = sum(counts.values())
    if n == 0:
        return 0.0
    p = np.array(sorted((c for c in counts.values() if c), reverse=True), dtype=np.float64) / n
    return float(np.exp(-(p * np.log(p)).sum()))


class Marks(Protocol):
    """What the KPIs read of a curator's verdict on the windows (a `Verdict` is one)."""

    @property
    def nudge(self) -> np.ndarray: ...

    @property
    def veto(self) -> np.ndarray: ...


@dataclass
class _Curator:
    vetoes: int = 0
    nudged: int = 0
    nudge_sum: float = 0.0


@dataclass
class KpiTally:
    """The curator KPIs as a fold over parts of a day (a coin's windows at a time):
    counts, per-detector counts and sums, nothing per window. `table` gives what
    `curator_kpis` gives of the parts laid together (counts and rates exactly; means up to
    the rounding of a sum taken part by part)."""

    tau: float
    n: int = 0
    live: int = 0
    paper: int = 0
    vetoed: int = 0
    live_ok: int = 0
    live_ok_loss: int = 0
    live_ok_net: float = 0.0
    machine_ok: int = 0
    machine_ok_loss: int = 0
    machine_ok_net: float = 0.0
    per_detector: Counter = field(default_factory=Counter)
    per_detector_live: Counter = field(default_factory=Counter)
    curators: dict[str, _Curator] = field(default_factory=dict)

    def add(self, events: pd.DataFrame, outcomes: pd.DataFrame,
            verdicts: Mapping[str, Marks]) -> None:
        """One part's windows: `outcomes` (net_ret_bps, outcome_ok) and each verdict's
        arrays aligned with `events` (published, paper, vetoed, det_sigma, detector_id)."""
        n = len(events)
        ok = outcomes["outcome_ok"].to_numpy(dtype=bool) if n else np.zeros(0, dtype=bool)
        net = outcomes["net_ret_bps"].to_numpy(dtype=np.float64) if n else np.zeros(0)
        live = (events["published"] & ~events["paper"]).to_numpy(dtype=bool)
        machine = events["det_sigma"].to_numpy(dtype=np.float64) >= self.tau
        loss = net <= 0
        self.n += n
        self.live += int(live.sum())
        self.paper += int(events["paper"].sum())
        self.vetoed += int(events["vetoed"].sum())
        for sel, pre in ((live & ok, "live_ok"), (machine & ok, "machine_ok")):
            setattr(self, pre, getattr(self, pre) + int(sel.sum()))
            setattr(self, f"{pre}_loss", getattr(self, f"{pre}_loss") + int((loss & sel).sum()))
            if sel.any():
                setattr(self, f"{pre}_net", getattr(self, f"{pre}_net") + float(net[sel].sum()))
        detectors = events["detector_id"].astype(str)
        self.per_detector.update(detectors.value_counts().to_dict())
        self.per_detector_live.update(detectors[live].value_counts().to_dict())
        for name, v in verdicts.items():
            c = self.curators.setdefault(name, _Curator())
            c.vetoes += int(v.veto.sum())
            c.nudged += int((v.nudge != 0).sum())
            if n:
                c.nudge_sum += float(v.nudge.sum())

    def state(self) -> str:
        """The tally as JSON: every float as `repr` writes it (read back exactly), the
        counters in their order (`KpiTally.of_state`)."""
        doc = {k: getattr(self, k) for k in _SCALARS}
        doc["per_detector"] = dict(self.per_detector)
        doc["per_detector_live"] = dict(self.per_detector_live)
        doc["curators"] = {k: [c.vetoes, c.nudged, c.nudge_sum] for k, c in self.curators.items()}
        return json.dumps(doc)

    @classmethod
    def of_state(cls, text: str) -> KpiTally:
        doc = json.loads(text)
        out = cls(**{k: doc[k] for k in _SCALARS})
        out.per_detector.update(doc["per_detector"])
        out.per_detector_live.update(doc["per_detector_live"])
        out.curators = {k: _Curator(int(v), int(n), float(s))
                        for k, (v, n, s) in doc["curators"].items()}
        return out

    def merge(self, other: KpiTally) -> None:
        """Adds another part's tally (the next coin's): the counts, and each float sum as
        `add` added it, so the coins' tallies merged in coin order are the tally of the
        coins added in one process, to the bit (a part's sum is 0.0 + its own: exact)."""
        if other.tau != self.tau:
            raise ValueError(f"curator tallies of different tau_publish: {self.tau} and "
                             f"{other.tau}")
        for k in _SCALARS[1:]:
            setattr(self, k, getattr(self, k) + getattr(other, k))
        self.per_detector.update(other.per_detector)
        self.per_detector_live.update(other.per_detector_live)
        for name, c in other.curators.items():
            mine = self.curators.setdefault(name, _Curator())
            mine.vetoes += c.vetoes
            mine.nudged += c.nudged
            mine.nudge_sum += c.nudge_sum

    def table(self, status: pd.DataFrame, council_seconds: float = 0.0) -> pd.DataFrame:
        """The KPI rows (`KPI_COLUMNS`); `status` is the per-detector audit status."""
        del council_seconds  # wall-clock: run metadata only, never the table
        n, nan = self.n, float("nan")
        fpr = self.live_ok_loss / self.live_ok if self.live_ok else nan
        fpr_m = self.machine_ok_loss / self.machine_ok if self.machine_ok else nan
        mean_live = self.live_ok_net / self.live_ok if self.live_ok else nan
        mean_m = self.machine_ok_net / self.machine_ok if self.machine_ok else nan
        rows: list[tuple[str, str, float, int]] = [
            ("windows", "council", float(n), n),
            ("published_live", "council", float(self.live), n),
            ("published_paper", "council", float(self.paper), n),
            ("vetoed", "council", float(self.vetoed), n),
            ("false_promotion_rate", "council", fpr, self.live_ok),
            ("false_promotion_rate_machine", "council", fpr_m, self.machine_ok),
            ("survival_uplift_bps", "council", mean_live - mean_m, self.live_ok),
            ("diversity_index_published", "council",
             effective_number_of(self.per_detector_live), self.live),
            ("diversity_index_all", "council", effective_number_of(self.per_detector), n),
        ]
        passing = status["leakage_ok"] & status["adversarial_ok"]
        ok = {str(d): bool(v) for d, v in passing.items()}  # a detector not in it passes

        def passed(counts: Counter) -> int:
            return sum(k for d, k in counts.items() if ok.get(d, True))

        rows += [
            ("audit_pass_rate_pre", "council", passed(self.per_detector) / n if n else nan, n),
            ("audit_pass_rate_post", "council",
             passed(self.per_detector_live) / self.live if self.live else nan, self.live),
            ("audit_pass_rate_detectors", "council",
             float(passing.mean()) if len(passing) else nan, int(len(passing))),
        ]
        for name, c in self.curators.items():
            rows += [
                ("vetoes", name, float(c.vetoes), n),
                ("nudged", name, float(c.nudged), n),
                ("mean_nudge", name, c.nudge_sum / n if n else nan, n),
            ]
        out = pd.DataFrame(rows, columns=list(KPI_COLUMNS))
        return out.astype({"kpi": "str", "scope": "str", "value": "float64", "n": "int64"})


def curator_kpis(events: pd.DataFrame, outcomes: pd.DataFrame, verdicts: Mapping[str, Marks],
                 status: pd.DataFrame, tau: float, council_seconds: float) -> pd.DataFrame:
    """Council-level and per-curator KPIs; `outcomes` is aligned with `events` (net_ret_bps,
    outcome_ok); `status` is the per-detector audit status. A `KpiTally` of one part."""
    tally = KpiTally(tau)
    tally.add(events, outcomes, verdicts)
    return tally.table(status, council_seconds)


_SCALARS = ("tau", *(f.name for f in fields(KpiTally) if f.default is not MISSING))
"""KpiTally's counts and float sums (the fields with a plain default), in field order: what
`state` writes and `merge` adds besides the counters (a new such field is carried too)."""


def tally_row(tally: KpiTally, coin: str) -> pd.DataFrame:
    """A coin's tally as its one `curator_tallies` row."""
    return pd.DataFrame({"coin": [coin], "tally": [tally.state()]}).astype(
        {"coin": "str", "tally": "str"})


def merged_tallies(table: pd.DataFrame, where: str) -> KpiTally:
    """The coins' `curator_tallies` rows merged in their order (the lake's coin order, the
    order one process scores the coins in); `where` names the day in an error."""
    if len(table) == 0:
        raise ValueError(f"curator_tallies for {where} has no coin: materialise "
                         "score_signals for the day's coins first")
    tallies = [KpiTally.of_state(t) for t in table["tally"]]
    out = tallies[0]
    for t in tallies[1:]:
        out.merge(t)
    return out
