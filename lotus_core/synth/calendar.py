"""UTC day arithmetic and trading sessions (Asia, EU, US, late; weekends quieter).

Volatility and trade intensity follow the clock: crypto trades around the clock but is
busiest when the US and Europe overlap and thinnest on weekend nights.
"""

from __future__ import annotations

from datetime import date

import numpy as np

# (session, first UTC hour, vol multiplier, trade-rate multiplier)
SESSIONS: tuple[tuple[str, int, float, float], ...] = (
    ("asia", 0, 0.80, 0.70),
    ("eu", 7, 1.00, 1.00),
    ("us", 13, 1.30, 1.40),
    ("late", 21, 0.85, 0.75),
)
WEEKEND_VOL = 0.70
WEEKEND_RATE = 0.60


def is_weekend(day: date) -> bool:
    """Saturday or Sunday (UTC)."""
    return day.weekday() >= 5


def hourly_multipliers(day: date) -> tuple[np.ndarray, np.ndarray]:
    """(vol, rate) multipliers for each of the 24 UTC hours of `day`."""
    vol = np.empty(24)
    rate = np.empty(24)
    for hour in range(24):
        for _, first_hour, v, r in SESSIONS:
            if hour >= first_hour:
                vol[hour], rate[hour] = v, r
    if is_weekend(day):
        vol *= WEEKEND_VOL
        rate *= WEEKEND_RATE
    return vol, rate
