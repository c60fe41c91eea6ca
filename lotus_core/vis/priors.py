"""The vis priors version a chart is weighed with (docs/vision.md, "Lessons and priors"):
vis applies its own priors, as sig does before it publishes.

Nightly (`vis_strands`), a chart of day D is weighed by the version compiled the night
before D (of the sets the `vis_priors` asset compiled the nights of days d < D, the latest;
later nights and rollbacks never change it, so a re-run is reproducible). Live, a chart
being recorded is weighed by the newest version (a rollback takes effect at the next
chart), and its CHART_ALPHA carries that weight to the DM.
"""

from __future__ import annotations

from datetime import date as Date

from lotus_core.fabric.db import Db, in_tx
from lotus_core.learning.priors_store import latest_in, read_priors_for_date
from lotus_core.store.opsdb import OpsDb
from lotus_core.vis.lessons import VisLearningConfig, VisPriors

MODULE = "vis"


def vis_priors_for_day(fabric: OpsDb, day: str | Date, *,
                       cfg: VisLearningConfig) -> VisPriors:
    """The vis priors in force for charts of `day` (vis_strands). `cfg`: the chart-lesson
    configuration the caller loaded."""
    found = read_priors_for_date(fabric, day, MODULE)
    return VisPriors.from_rows(found.version, found.rows, cfg)


def newest_vis_priors(db: Db, cfg: VisLearningConfig) -> VisPriors:
    """The newest version, read in `db`'s transaction when it is one (a chart being
    recorded weighs itself with what is in force as it is recorded)."""
    with in_tx(db) as tx:
        found = latest_in(tx, MODULE)
    return VisPriors.from_rows(found.version, found.rows, cfg)
