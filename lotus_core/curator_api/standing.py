"""The action log folded into what stands now, per detector: the interface the council reads.

A nudge is a curator role's standing opinion of a detector: the role's newest nudge replaces
its older ones (0 withdraws it), and the detector's total is the sum over roles, each within
its kappa, exactly as the council sums its curators' c in log space (docs/curators.md). A
detector veto stands once logged (lifting one is not an action yet). The fold `standing`
(pure: rows in, dict out) lives with the council, which applies it per window from each
action's signed time on (`lotus_core.curators.standing`, one definition); here is the
council's read of the log, `read_detector_actions` (the nightly asset and the live daemon
call it).
"""

from __future__ import annotations

from typing import Any

from lotus_core.curator_api.store import read_actions
from lotus_core.curators.standing import STANDING_ACTIONS, standing
from lotus_core.store.dialect import sql_dialect
from lotus_core.store.opsdb import OpsDb

_PAGE = 500

__all__ = ["STANDING_ACTIONS", "read_detector_actions", "standing"]


def read_detector_actions(fabric: OpsDb, after_seq: int = 0
                          ) -> tuple[list[dict[str, Any]], int]:
    """(the detector vetoes and nudges logged after `after_seq`, in seq order; the last seq
    read). Nothing before the Curator API's tables exist. A poller passes the seq it got
    back to read only what is new."""
    rows: list[dict[str, Any]] = []
    last = int(after_seq)
    with fabric.transaction() as tx:
        if not tx.scalar(sql_dialect(tx.dialect).table_exists_sql("curator_actions")):
            return rows, last
        while True:
            page = read_actions(tx, after_seq=last, limit=_PAGE)
            if not page:
                return rows, last
            last = int(page[-1]["seq"])
            rows += [r for r in page if r["target_kind"] == "detector"
                     and r["action"] in STANDING_ACTIONS]
