"""The governor's night as plots (SVG, lotus_core.report.svg): cumulative spend and
cumulative reward per arm over the night's pulls."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lotus_core.report.svg import lines


def cumulative(pulls: pd.DataFrame, column: str) -> dict[str, list[float]]:
    """Per arm, its running total of `column` after each pull of the night."""
    out: dict[str, list[float]] = {}
    for arm in sorted(pulls["arm"].unique()):
        mine = np.where(pulls["arm"].to_numpy() == arm, pulls[column].to_numpy(np.float64), 0.0)
        out[str(arm)] = [round(float(x), 6) for x in np.cumsum(mine)]
    return out


def spend_plot(pulls: pd.DataFrame, unit: str) -> str:
    labels = [str(int(s) + 1) for s in pulls["seq"]]
    return lines(labels, cumulative(pulls, "cost"), "Compute spent per arm through the night",
                 y_label=f"cumulative spend ({unit})", x_label="pull (in order)")


def reward_plot(pulls: pd.DataFrame) -> str:
    labels = [str(int(s) + 1) for s in pulls["seq"]]
    return lines(labels, cumulative(pulls, "reward"), "Information bought per arm",
                 y_label="cumulative reward (evidence, -log10 p)", x_label="pull (in order)")
