"""The opt-in planted edge the breeder must find: book-flow absorption.

For 15-30 s the resting book leans hard one way (the side the move will go thickens) while
the ordinary takers hit into it (flow against the lean); then the mid drifts the book's way
over `HORIZON_S`. No packaged detector captures it: flow_pressure wants flow and book on
the same side, the sweep kinds want a sweep. Off unless a spec names
`book_flow_absorption` in `edges`, so default outputs are unchanged byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from lotus_core.synth.effects import AppliedEffect
from lotus_core.synth.path import STEP_MS, STEPS_PER_DAY
from lotus_core.synth.patterns import Occurrence
from lotus_core.synth.rng import Stream, stream
from lotus_core.time import HOUR_MS, SECOND_MS

ABSORPTION = "book_flow_absorption"
EDGES: tuple[str, ...] = (ABSORPTION,)
"""Every opt-in planted edge a SynthSpec may name in `edges`."""

RATE_PER_HOUR = 40.0  # proposed; those overlapping other events are dropped
EPISODE_S = (15.0, 30.0)
HORIZON_S = 60.0
DRIFT_SIGMAS = 10.0  # the move after an episode, in session one-second sigmas
THICK_MULT = 5.0  # lots on the leaning side's levels during an episode
FLOW_AGAINST = 0.35  # P(taker hits the thick side) = 0.5 + this during an episode
CLEAR_S = 20.0  # kept clear of the coin's other planted events, either side


def plan_absorption(seed: int, ordinal: int, coin: str, day_start_ms: int,
                    others: Sequence[Occurrence], session_vol: Callable[[int], float]
                    ) -> tuple[list[Occurrence], list[AppliedEffect], np.ndarray]:
    """(episodes, their planted moves, per-grid-step lean: +1 bids thick, -1 asks thick)."""
    lean = np.zeros(STEPS_PER_DAY, dtype=np.int8)
    busy = sorted((o.start_ms - int(CLEAR_S * SECOND_MS),
                   o.end_ms + int((HORIZON_S + CLEAR_S) * SECOND_MS)) for o in others)
    episodes: list[Occurrence] = []
    effects: list[AppliedEffect] = []
    for hour in range(24):
        rng = stream(seed, ordinal, coin, Stream.ABSORPTION, hour)
        n = int(rng.poisson(RATE_PER_HOUR))
        starts = np.sort(rng.uniform(0.0, 3600.0 - EPISODE_S[1] - HORIZON_S, n))
        lengths = rng.uniform(*EPISODE_S, n)
        signs = np.where(rng.random(n) < 0.5, 1, -1)
        last_end = -1
        for k in range(n):
            t0 = day_start_ms + hour * HOUR_MS + int(starts[k] * 10) * 100
            t1 = t0 + int(lengths[k] * 10) * 100
            reach = t1 + int(HORIZON_S * SECOND_MS)
            if t0 < last_end or any(a < reach and t0 < b for a, b in busy):
                continue
            last_end = reach + int(CLEAR_S * SECOND_MS)
            d = int(signs[k])
            occ_id = f"{coin}/h{hour:02d}/{k:02d}-absorption"
            episodes.append(Occurrence(occ_id, "absorption", coin, t0, t1, d,
                                       {"edge": ABSORPTION}))
            lean[(t0 - day_start_ms) // STEP_MS:(t1 - day_start_ms) // STEP_MS] = d
            effects.append(AppliedEffect(
                effect=ABSORPTION, coin=coin, trigger_id=occ_id, trigger_type="absorption",
                t_ms=t1, direction=d, delta_bps=round(DRIFT_SIGMAS * session_vol(t1), 4),
                horizon_s=HORIZON_S, context_held=True, context_state={}))
    return episodes, effects, lean


def thick_lots(lots: np.ndarray, lean: np.ndarray | None, steps: np.ndarray,
               sign: int) -> np.ndarray:
    """Lots of one book side (sign -1 bids, +1 asks), thickened where the book leans to it."""
    if lean is None:
        return lots
    thick = lean[steps] == -sign
    if not thick.any():
        return lots
    out = lots.copy()
    out[thick] = np.rint(out[thick] * THICK_MULT).astype(out.dtype)
    return out


def absorbed_p_buy(p_buy: np.ndarray, lean: np.ndarray | None, steps: np.ndarray
                   ) -> np.ndarray:
    """P(buy) of ordinary takers: during an episode they hit the thick side."""
    if lean is None:
        return p_buy
    at = lean[steps]
    return np.where(at != 0, 0.5 - FLOW_AGAINST * at, p_buy)
