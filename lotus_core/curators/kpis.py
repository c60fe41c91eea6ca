"""Curator KPIs of one day, judged after the fact on the day's realised outcomes.

The outcomes never feed back into that day's scores: they only say whether the council's
choices (vs the machine score alone) were good. docs/curators.md defines each KPI.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from lotus_core.curators.council import Verdict

KPI_COLUMNS = ("kpi", "scope", "value", "n")


def effective_number(labels: pd.Series) -> float:
    """Hill number of order 1: exp(Shannon entropy) of the label shares (0 when empty)."""
    if len(labels) == 0:
        return 0.0
    p = labels.value_counts(normalize=True).to_numpy()
    return float(np.exp(-(p * np.log(p)).sum()))


def _rate(mask: np.ndarray, sel: np.ndarray) -> tuple[float, int]:
    n = int(sel.sum())
    return (float(mask[sel].mean()) if n else float("nan")), n


def curator_kpis(events: pd.DataFrame, outcomes: pd.DataFrame, verdicts: Mapping[str, Verdict],
                 status: pd.DataFrame, tau: float, council_seconds: float) -> pd.DataFrame:
    """Council-level and per-curator KPIs; `outcomes` is aligned with `events` (net_ret_bps,
    outcome_ok); `status` is the per-detector audit status."""
    n = len(events)
    ok = outcomes["outcome_ok"].to_numpy(dtype=bool) if n else np.zeros(0, dtype=bool)
    net = outcomes["net_ret_bps"].to_numpy(dtype=np.float64) if n else np.zeros(0)
    live = (events["published"] & ~events["paper"]).to_numpy(dtype=bool)
    machine = events["det_sigma"].to_numpy(dtype=np.float64) >= tau
    loss = net <= 0
    rows: list[tuple[str, str, float, int]] = [
        ("windows", "council", float(n), n),
        ("published_live", "council", float(live.sum()), n),
        ("published_paper", "council", float(events["paper"].sum()), n),
        ("vetoed", "council", float(events["vetoed"].sum()), n),
    ]
    fpr, n_live = _rate(loss, live & ok)
    fpr_m, n_m = _rate(loss, machine & ok)
    rows += [("false_promotion_rate", "council", fpr, n_live),
             ("false_promotion_rate_machine", "council", fpr_m, n_m)]
    mean_live = float(net[live & ok].mean()) if n_live else float("nan")
    mean_m = float(net[machine & ok].mean()) if n_m else float("nan")
    rows.append(("survival_uplift_bps", "council", mean_live - mean_m, n_live))
    rows += [
        ("diversity_index_published", "council",
         effective_number(events.loc[live, "detector_id"]), int(live.sum())),
        ("diversity_index_all", "council", effective_number(events["detector_id"]), n),
    ]
    passing = status["leakage_ok"] & status["adversarial_ok"]
    win_pass = events["detector_id"].map(passing).fillna(True).to_numpy(dtype=bool)
    pre, n_pre = _rate(win_pass, np.ones(n, dtype=bool))
    post, n_post = _rate(win_pass, live)
    rows += [
        ("audit_pass_rate_pre", "council", pre, n_pre),
        ("audit_pass_rate_post", "council", post, n_post),
        ("audit_pass_rate_detectors", "council",
         float(passing.mean()) if len(passing) else float("nan"), int(len(passing))),
    ]
    for name, v in verdicts.items():
        rows += [
            ("vetoes", name, float(v.veto.sum()), n),
            ("nudged", name, float((v.nudge != 0).sum()), n),
            ("mean_nudge", name, float(v.nudge.mean()) if n else float("nan"), n),
        ]
    out = pd.DataFrame(rows, columns=list(KPI_COLUMNS))
    return out.astype({"kpi": "str", "scope": "str", "value": "float64", "n": "int64"})
