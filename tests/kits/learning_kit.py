"""Window-level planted truth for the learning tests: the edge-aligned planted effect of
`lotus_core.synth.windows` (the product generator `lotus validate` measures with), under the
keyword names the tests have always used."""

from __future__ import annotations

from typing import Any

import pandas as pd

from lotus_core.synth.windows import OI_HIGH, PLANTED, WindowSpec, window_frame

__all__ = ["OI_HIGH", "PLANTED", "make_learning_frame", "null_frame"]


def make_learning_frame(seed: int = 1, **kw: Any) -> pd.DataFrame:
    """A planted +`delta_bps` in high OI for one detector, a decoy agreeing with it
    `decoy_agreement` of the time, and a confounding trend regime with its own effect."""
    return window_frame(WindowSpec(**kw), seed)


def null_frame(seed: int, **kw: Any) -> pd.DataFrame:
    """No effect anywhere: no planted lift, no regime effect (the decoy still tracks OI)."""
    return make_learning_frame(seed=seed, effect="none", delta_bps=0.0, regime_effect_bps=0.0,
                               **kw)
