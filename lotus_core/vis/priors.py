"""The vis priors version the Decision-Maker weighs charts with: one function for the
nightly decisions and calibration and the live loop (docs/vision.md, "Lessons and priors").

Nightly, a chart of day D is weighed by the version compiled the night before D (of the
sets the `vis_priors` asset compiled the nights of days d < D, the latest; later nights and
rollbacks never change it, so a replay is reproducible). Live, by the newest version (a
rollback takes effect at the next chart).
"""

from __future__ import annotations

from datetime import date as Date

from lotus_core.learning.priors_store import latest_version, read_latest, read_priors_for_date
from lotus_core.store.opsdb import OpsDb
from lotus_core.vis.lessons import VisLearningConfig, VisPriors

MODULE = "vis"


def vis_priors(fabric: OpsDb, day: str | Date | None = None, *,
               cfg: VisLearningConfig) -> VisPriors:
    """The vis priors in force: for charts of day `day` (nightly), or the newest (`day`
    None). `cfg`: the chart-lesson configuration the caller loaded, the same nightly and
    live."""
    found = (read_latest(fabric, MODULE) if day is None
             else read_priors_for_date(fabric, day, MODULE))
    return VisPriors.from_rows(found.version, found.rows, cfg)


class NewestVisPriors:
    """`vis_priors(fabric, None)` for a loop that asks at every chart: the newest version
    number is read each time, its rows and their parse only when it changed."""

    def __init__(self, cfg: VisLearningConfig) -> None:
        self.cfg = cfg
        self.held: VisPriors | None = None

    def get(self, fabric: OpsDb) -> VisPriors:
        if self.held is None or latest_version(fabric, MODULE) != self.held.version:
            self.held = vis_priors(fabric, None, cfg=self.cfg)
        return self.held
