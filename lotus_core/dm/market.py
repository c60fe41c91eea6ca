"""What the DM knows of the market, fed one MicroTape row at a time (causal).

Per coin: the latest mid, spread, displayed depth within N bps, funding rate and row time.
For risk: a ring buffer of per-grid-time return vectors (bps, one entry per coin; 0 for a
coin without a row at that time), from which the covariance is estimated at decision time —
Ledoit–Wolf shrinkage (scikit-learn's closed form) or an EWMA. A return vector is
closed when a row of a later time arrives, or when a decision at or after its time asks
for the covariance, so rows must come in time order (all rows of a time before any row
of a later one).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np


class MarketRowError(ValueError):
    """A MicroTape row the DM cannot use (unknown coin, time going backwards)."""


@dataclass
class Quote:
    ts_ms: int
    mid_px: float
    spread_bps: float
    depth_notional: float  # quote units within N bps of mid, one side (NaN: unknown)
    stale_ms: int
    funding: float = math.nan  # the venue's funding rate per interval (NaN: unknown)


def _f(row: Mapping[str, Any], key: str) -> float:
    v = row.get(key)
    try:
        # ignore: None (a missing key) is caught below as TypeError, like any non-number.
        x = float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return x


@dataclass
class MarketState:
    """Latest quotes and the return history of a universe of coins (widened as coins
    join it)."""

    coins: tuple[str, ...]
    cadence_ms: int = 1000
    window: int = 1800  # return vectors kept for the covariance
    liquidity_bps: float = 10.0
    quotes: dict[str, Quote] = field(default_factory=dict)
    _buf: np.ndarray = field(init=False)  # ring buffer of return vectors (bps)
    _open_ts: int | None = None
    _open: dict[str, float] = field(default_factory=dict)
    _last_mid: dict[str, float] = field(default_factory=dict)
    closed: int = 0  # return vectors closed so far (the engine marks its book on them)

    def __post_init__(self) -> None:
        self._buf = np.zeros((self.window, len(self.coins)))
        self._index = {c: i for i, c in enumerate(self.coins)}

    def widen(self, coins: tuple[str, ...]) -> None:
        """The universe becomes `coins` (its coins and more): a joining coin's returns so
        far are zero, as they would be had it been in the universe with no row."""
        buf = np.zeros((self.window, len(coins)))
        for i, c in enumerate(self.coins):
            buf[:, coins.index(c)] = self._buf[:, i]
        self.coins, self._buf = coins, buf
        self._index = {c: i for i, c in enumerate(coins)}

    def on_row(self, row: Mapping[str, Any]) -> None:
        """Take one MicroTape row (a dict or a pandas row)."""
        coin = str(row["coin"])
        if coin not in self._index:
            return  # outside the DM's universe
        ts = int(row["ts_ms"])
        if self._open_ts is not None and ts < self._open_ts:
            raise MarketRowError(f"row of {coin} at {ts} after rows at {self._open_ts}")
        if self._open_ts is not None and ts > self._open_ts:
            self._close()
        self._open_ts = ts
        mid = _f(row, "mid_px")
        if not (math.isfinite(mid) and mid > 0):
            return
        self._open[coin] = mid
        slope = _f(row, "depth_slope")  # base units per bps, per side
        if math.isfinite(slope) and slope > 0:
            depth = slope * self.liquidity_bps * mid
        else:  # no slow frame yet: the top-5 levels of the thinner side
            d5 = min(_f(row, "depth_5_bid"), _f(row, "depth_5_ask"))
            depth = d5 * mid if math.isfinite(d5) else math.nan
        stale = _f(row, "stale_ms")
        self.quotes[coin] = Quote(ts, mid, max(_f(row, "spread_bps"), 0.0), depth,
                                  int(stale) if math.isfinite(stale) else 0,
                                  _f(row, "funding"))

    def _close(self) -> None:
        if not self._open:
            return
        r = np.zeros(len(self.coins))
        for coin, mid in self._open.items():
            prev = self._last_mid.get(coin)
            if prev is not None:
                r[self._index[coin]] = math.log(mid / prev) * 1e4
            self._last_mid[coin] = mid
        self._buf[self.closed % self.window] = r
        self.closed += 1
        self._open = {}

    def settle(self, now_ms: int) -> None:
        """Close the open return vector if the decision at now_ms comes at or after it."""
        if self._open_ts is not None and self._open_ts <= now_ms:
            self._close()

    def n_returns(self) -> int:
        return min(self.closed, self.window)

    def last(self, k: int) -> np.ndarray:
        """The last k kept return vectors (bps), oldest first."""
        k = min(k, self.n_returns())
        idx = (np.arange(self.closed - k, self.closed)) % self.window
        return self._buf[idx]

    def covariance_bps2(self, method: str = "ledoit_wolf", halflife_rows: float = 1800.0,
                        min_rows: int = 30, floor_bps: float = 1.0) -> np.ndarray:
        """Covariance of one cadence step's returns (bps²); a diagonal floor_bps² prior
        while fewer than min_rows returns exist."""
        n = len(self.coins)
        if self.n_returns() < min_rows:
            return np.eye(n) * floor_bps**2
        x = self.last(self.window)
        if method == "ewma":
            age = np.arange(len(x))[::-1]
            w = 0.5 ** (age / halflife_rows)
            w = w / w.sum()
            xc = x - w @ x
            cov = (xc * w[:, None]).T @ xc
        else:
            cov = ledoit_wolf_cov(x)
        cov = 0.5 * (cov + cov.T)
        return np.asarray(cov + np.eye(n) * 1e-6 * max(float(np.trace(cov)) / n, 1e-12))

    def mids(self) -> dict[str, float]:
        return {c: q.mid_px for c, q in self.quotes.items()}


def ledoit_wolf_cov(x: np.ndarray) -> np.ndarray:
    """Ledoit–Wolf shrinkage towards μ·I, the closed form of scikit-learn's `ledoit_wolf`
    (equal to it to 1e-12, tested), without its per-call parameter validation: the DM
    estimates it at every decision."""
    n, p = x.shape
    xc = x - x.mean(axis=0)
    emp = xc.T @ xc / n
    mu = float(np.trace(emp)) / p
    x2 = xc**2
    beta_ = float((x2.T @ x2).sum())
    delta_ = float(((xc.T @ xc) ** 2).sum()) / n**2
    beta = (beta_ / n - delta_) / (p * n)
    delta = (delta_ - 2.0 * mu * float(x2.sum(axis=0).sum() / n) + p * mu**2) / p
    beta = min(beta, delta)
    shrink = 0.0 if beta == 0 else beta / delta
    return np.asarray((1.0 - shrink) * emp + shrink * mu * np.eye(p))


def scale_to_horizon(cov_step_bps2: np.ndarray, cadence_ms: int, horizon_s: int) -> np.ndarray:
    """Random-walk scaling of a per-step covariance to the horizon, in fraction² units."""
    steps = horizon_s * 1000.0 / cadence_ms
    return cov_step_bps2 * steps / 1e8

