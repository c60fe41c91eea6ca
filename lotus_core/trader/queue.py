"""Queue position of a resting limit order, in the style of hftbacktest's ProbQueueModel.

At arrival the order joins the back of the displayed size at its price (`ahead`). Trades
at the price eat the queue from the front: `ahead -= size`. A decrease of the displayed
size that trades do not explain is a cancellation; the share taken from ahead of us is
1 - p with p = f(back) / (f(back) + f(front)), f(x) = x ** power (hftbacktest's
PowerProbQueueFunc): cancels near the back rarely move us, cancels in a long queue ahead
usually do. An increase never moves us forward. The order fills by the amount the queue
ahead goes negative (rounded to the venue lot), or entirely when the price trades through.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np


@dataclass
class QueuePos:
    ahead: float
    cum_trade: float = 0.0  # trades at the price since the last book change
    draws: int = 0  # sampled mode: how many decreases were drawn (for the generator)


def cancel_share_behind(front: float, back: float, power: float) -> float:
    """p: the probability that a cancellation came from behind the order."""
    if front <= 0:
        return 1.0
    fb, ff = back ** power if back > 0 else 0.0, front ** power
    total = fb + ff
    return 1.0 if total == 0 else fb / total


def on_trade(q: QueuePos, size: float) -> None:
    q.ahead -= size
    q.cum_trade += size


def on_depth(q: QueuePos, prev_qty: float, new_qty: float, power: float,
             sampled_u: float | None = None) -> None:
    """The displayed size at the order's price went from `prev_qty` to `new_qty`.

    `sampled_u` (a uniform draw) switches from the expected share to an all-or-nothing
    draw: the decrease is ahead of us when u >= p.
    """
    chg = prev_qty - new_qty - q.cum_trade
    q.cum_trade = 0.0
    if chg <= 0:
        q.ahead = min(q.ahead, new_qty)
        return
    front = max(q.ahead, 0.0)
    back = max(prev_qty - front, 0.0)
    p = cancel_share_behind(front, back, power)
    if sampled_u is not None:
        p = 1.0 if sampled_u < p else 0.0
    est = front - (1.0 - p) * chg + min(back - p * chg, 0.0)
    q.ahead = min(est, new_qty)


def executable(q: QueuePos, lot: float) -> float:
    """Quantity released to the order by a negative queue ahead (in whole lots)."""
    n = round(-q.ahead / lot)
    if n > 0:
        q.ahead = 0.0
        return n * lot
    return 0.0


def uniform_for(seed: int, order_id: str, draw: int) -> float:
    """A reproducible uniform in [0, 1) for the `draw`-th decrease seen by `order_id`."""
    h = hashlib.sha256(f"{seed}:{order_id}".encode()).digest()
    rng = np.random.default_rng([int.from_bytes(h[:8], "big"), draw])
    return float(rng.random())
