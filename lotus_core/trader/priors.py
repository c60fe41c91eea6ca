"""The tr priors version the Trader uses: one function for the nightly replay and the live loop.

Nightly, trading day D uses the version compiled the night before D (of the sets the
`tr_priors` asset compiled the nights of days d < D, the latest; later nights and rollbacks
never change it, so a replay is reproducible). Live, it uses the newest version (a
rollback takes effect at the next reload); the loop calls this again every poll.
"""

from __future__ import annotations

from datetime import date as Date

from lotus_core.learning.priors_store import latest_version, read_latest, read_priors_for_date
from lotus_core.store.opsdb import OpsDb
from lotus_core.trader.learning import ExecLearningConfig, TrPriors

MODULE = "tr"


def tr_priors(fabric: OpsDb, day: str | Date | None = None, *,
              cfg: ExecLearningConfig) -> TrPriors:
    """The tr priors in force: for trading day `day` (nightly), or the newest (`day` None).
    `cfg`: the exec-learning configuration the caller loaded, the same nightly and live."""
    found = (read_latest(fabric, MODULE) if day is None
             else read_priors_for_date(fabric, day, MODULE))
    return TrPriors.from_rows(found.version, found.rows, cfg)


class NewestTrPriors:
    """`tr_priors(fabric, None)` for a loop that asks at every inbox poll: the newest version
    number is read each time (a nightly compile or a rollback is a new version), its rows
    and their parse only when it changed (a version's rows never change)."""

    def __init__(self, cfg: ExecLearningConfig) -> None:
        self.cfg = cfg
        self.held: TrPriors | None = None

    def get(self, fabric: OpsDb) -> TrPriors:
        if self.held is None or latest_version(fabric, MODULE) != self.held.version:
            self.held = tr_priors(fabric, None, cfg=self.cfg)
        return self.held
