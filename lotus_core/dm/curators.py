"""DM curators: a bounded council over each decision. They may veto (the coin holds its
current weight) or nudge the ticket's confidence by at most ±κ in log space; they never
change μ or the optimiser's maths. Every veto and nudge is returned as a log entry.

- stale_data (before the solve): the coin's latest MicroTape row is older than
  curators.stale_ms at decision time (row age + its own stale_ms): the coin cannot trade.
- risk_limit_breached (after): the current book already breaches the gross budget or the
  risk target; a target that raises |w_i| is vetoed.
- flip_within_horizon (after): the target would flip the sign of a position opened less
  than one base horizon ago.
- disagreement (nudge): the share of blend weight that points against the fused direction
  lowers confidence by up to κ.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lotus_core.dm.market import Quote


@dataclass(frozen=True)
class CurationEntry:
    coin: str
    curator: str
    kind: str  # veto | nudge
    value: float  # 1.0 for a veto; the log-space nudge otherwise
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {"coin": self.coin, "curator": self.curator, "kind": self.kind,
                "value": round(self.value, 9), "reason": self.reason}


def stale(coin: str, quote: Quote | None, now_ms: int, stale_ms: int) -> CurationEntry | None:
    if quote is None:
        return CurationEntry(coin, "stale_data", "veto", 1.0, "no_market_data")
    age = now_ms - quote.ts_ms + quote.stale_ms
    if age > stale_ms:
        return CurationEntry(coin, "stale_data", "veto", 1.0, f"data_age_ms_{age}")
    return None


def risk_breached(coin: str, w0: float, w: float, breached: str) -> CurationEntry | None:
    if breached and abs(w) > abs(w0) + 1e-12:
        return CurationEntry(coin, "risk_limit", "veto", 1.0, f"breached_{breached}")
    return None


def flip(coin: str, w0: float, w: float, opened_ms: int | None, now_ms: int, horizon_s: int,
         min_trade: float) -> CurationEntry | None:
    if opened_ms is None or abs(w0) < min_trade or abs(w) < min_trade:
        return None
    if math.copysign(1.0, w0) != math.copysign(1.0, w) and now_ms - opened_ms < horizon_s * 1000:
        return CurationEntry(coin, "flip_guard", "veto", 1.0,
                             f"flip_within_horizon_{(now_ms - opened_ms) // 1000}s")
    return None


def disagreement(coin: str, opposed_share: float, kappa: float) -> CurationEntry | None:
    c = -kappa * min(max(2.0 * opposed_share, 0.0), 1.0)
    if c == 0.0:
        return None
    return CurationEntry(coin, "disagreement", "nudge", c,
                         f"opposed_weight_{round(opposed_share, 4)}")
