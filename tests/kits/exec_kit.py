"""Generated executions with a planted execution cost, as `paper_trades` exec_report rows.

Each execution has a context (spread, depth, volatility at decision), a choice (order type,
slice count) and a cost. Cost = noise + 1.5 bps when volatility is high, and in wide spreads
(the top third) a limit order costs `delta_bps` less than a market order. The choice is
confounded: limit orders are likelier when volatility is high (which costs more on its own),
so the naive difference is biased and the doubly robust estimate must adjust.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd

from lotus_core.fabric.envelope import canonical_json
from lotus_core.time import DAY_MS
from lotus_core.trader.nightly import COLUMNS

DAY0 = date(2026, 1, 5)


def day_ms(d: date) -> int:
    return int(pd.Timestamp(d, tz="UTC").value // 1_000_000)


def exec_report_rows(day: date, seed: int, n: int = 600, delta_bps: float = 4.0,
                     noise_bps: float = 3.0) -> pd.DataFrame:
    """One day of `paper_trades` rows (kind exec_report only) with the planted cost."""
    rng = np.random.default_rng([seed, day.toordinal()])
    t0 = day_ms(day)
    ts = np.sort(rng.integers(t0, t0 + DAY_MS, size=n))
    spread = rng.uniform(0.5, 6.0, n)
    depth = rng.lognormal(1.5, 0.8, n)
    vol = rng.uniform(0.1, 3.0, n)
    hot = vol > 2.0
    limit = rng.random(n) < np.where(hot, 0.65, 0.4)
    n_slices = rng.choice([1, 4, 8], size=n)
    wide = spread > 4.2
    cost = rng.normal(0.0, noise_bps, n) + 1.5 * hot - delta_bps * (wide & limit)
    rows = []
    for i in range(n):
        m: dict[str, Any] = {
            "purpose": "entry", "strategy": "twap" if n_slices[i] > 1 else
            ("limit" if limit[i] else "market"), "order": "limit" if limit[i] else "market",
            "n_slices": int(n_slices[i]), "n_orders": int(n_slices[i]),
            "context": {"spread_bps": float(spread[i]), "depth_rel": float(depth[i]),
                        "vol_bps": float(vol[i])},
            "started_ms": int(ts[i]), "qty": 1.0, "wanted_qty": 1.0, "vwap": 100.0,
            "fees": 0.0, "slippage_vs_arrival_bps": float(cost[i]), "tr_priors_version": 0}
        eid = f"{day.isoformat()}:{i}:x"
        rep = {"execution_id": eid, "decision_id": f"d{i}", "symbol": "BTC",
               "status": "filled", "venue": "hl", "exec_metrics": m}
        rows.append({"seq": i, "kind": "exec_report", "ts_ms": int(ts[i]), "coin": "BTC",
                     "decision_id": f"d{i}", "execution_id": eid,
                     "data_json": canonical_json(rep).decode()})
    return pd.DataFrame(rows, columns=COLUMNS)


def window(days: int, seed: int, **kw: Any) -> dict[str, pd.DataFrame]:
    """{YYYY-MM-DD: paper_trades rows} for `days` consecutive days from DAY0."""
    return {(DAY0 + timedelta(days=i)).isoformat():
            exec_report_rows(DAY0 + timedelta(days=i), seed, **kw) for i in range(days)}
