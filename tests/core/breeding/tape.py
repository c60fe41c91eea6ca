"""A small synthetic MicroTape for the breeder's tests: the columns compile, outcomes and
the adversarial perturbations read, with an optional planted absorption edge (the book
leans one way, the flow hits into it, then the mid drifts the book's way)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from lotus_core.breeding import BredSpec, Term

T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC


Episodes = list[tuple[str, int, int]]


def tape(seed: int, planted: bool, rows: int = 10_800, coins: tuple[str, ...] = ("BTC",),
         episode_every: int = 100, drift: float = 0.06,
         edge_on: np.ndarray | None = None) -> tuple[pd.DataFrame, Episodes]:
    """(frames, episodes) at a 1 s cadence; an episode is 20 rows, then `drift` bps a row for
    60 rows (about 0.6 sd of the noise over the horizon: a hit rate near 0.7). `edge_on`
    (a bool per row): only episodes starting where it is True drift (the same draws)."""
    rng = np.random.default_rng(seed)
    parts, episodes = [], []
    for coin in coins:
        book = np.clip(0.3 * rng.standard_normal(rows), -0.9, 0.9)
        aggr = np.clip(0.5 * rng.standard_normal(rows), -1, 1)
        step = 0.8 * rng.standard_normal(rows)
        if planted:
            for k in range(200, rows - 100, episode_every):
                d = 1 if rng.random() < 0.5 else -1
                book[k:k + 20] = d * rng.uniform(0.6, 0.9, 20)
                aggr[k:k + 20] = -d * rng.uniform(0.4, 0.9, 20)
                if edge_on is None or edge_on[k]:
                    step[k + 20:k + 80] += d * drift
                    episodes.append((coin, T0 + k * 1000, T0 + (k + 20) * 1000))
        vol = rng.gamma(2.0, 1.0, rows)
        x = np.cumsum(step)
        mid = 100.0 * np.exp(x / 1e4)
        spread = np.full(rows, 1.0)
        parts.append(pd.DataFrame({
            "coin": coin, "ts_ms": T0 + np.arange(rows, dtype=np.int64) * 1000,
            "bid_px": mid * (1 - spread / 2e4), "ask_px": mid * (1 + spread / 2e4),
            "mid_px": mid, "micro_px": mid, "vwap_px": mid, "spread_bps": spread,
            "dpx_bps": np.r_[0.0, np.diff(x)], "microprice_drift_bps": 0.1 * step,
            "book_imb_1": np.clip(book + 0.2 * rng.standard_normal(rows), -1, 1),
            "book_imb_5": book, "book_imb_10": 0.8 * book, "depth_5_rel": rng.random(rows),
            "aggr_imb": aggr, "buy_vol": vol * (1 + aggr) / 2, "sell_vol": vol * (1 - aggr) / 2,
            "trade_count": rng.poisson(3, rows).astype(np.int64),
            "sweep_flag": np.zeros(rows, np.int8), "sweep_dir": np.zeros(rows, np.int8),
            "gap": np.zeros(rows, bool)}))
    return pd.concat(parts, ignore_index=True), episodes


def absorption_spec(horizon_s: int = 60) -> BredSpec:
    """The recipe that captures the planted edge: the book leans, the flow hits into it."""
    return BredSpec(terms=[
        Term(input="book_imb_5", transform="ewm", window_s=10, threshold=0.4, sign=1),
        Term(input="aggr_imb", transform="ewm", window_s=10, threshold=0.2, sign=-1)],
        combine="and", horizon_s=horizon_s, cooldown_s=30)


LIVE_SPECS = [
    BredSpec(terms=[Term(input="book_imb_5", transform="ewm", window_s=10, threshold=0.4),
                    Term(input="aggr_imb", transform="ewm", window_s=10, threshold=0.2,
                         sign=-1)], horizon_s=60, cooldown_s=30),
    BredSpec(terms=[Term(input="flow", transform="ewm", window_s=20, threshold=0.15)],
             horizon_s=30, cooldown_s=10),
    BredSpec(terms=[Term(input="flow", transform="z", window_s=15, threshold=1.5),
                    Term(input="book_imb_1", transform="diff", window_s=5, threshold=0.3)],
             horizon_s=45, cooldown_s=0),
    BredSpec(terms=[Term(input="dpx_bps", transform="z", window_s=30, threshold=2.0)],
             horizon_s=60, cooldown_s=20),
    BredSpec(terms=[Term(input="book_imb_10", transform="ewm", window_s=8, threshold=0.3),
                    Term(input="microprice_drift_bps", transform="z", window_s=12,
                         threshold=1.0, sign=-1),
                    Term(input="depth_5_rel", transform="z", window_s=40, threshold=0.8)],
             horizon_s=90, cooldown_s=15),
    BredSpec(terms=[Term(input="book_imb_5", transform="z", window_s=10, threshold=1.2),
                    Term(input="aggr_imb", transform="diff", window_s=3, threshold=0.5)],
             combine="within", within_s=25, horizon_s=60, cooldown_s=30),
]
"""Survivors of every live transform (ewm, z, diff on bounded, unbounded and flow inputs),
AND of one to three terms and WITHIN: the live step's equality and parity tests."""
