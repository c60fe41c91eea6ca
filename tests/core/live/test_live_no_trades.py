"""The live chain on a tape whose trade features are missing (a coin without its trades
channel, and the first seconds of a coin before its first trade): the detectors read NaN
as no trades, never fire a trade-driven window on it, never raise, and the row-by-row
`DetectorStream` keeps giving the batch's windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lotus_core.microtape.flow import FLOW_COLUMNS
from lotus_core.signals.spec import enabled_specs
from tests.core.signals.test_signals_detectors import (
    assert_same,
    batch_windows,
    short_specs,
    stream_windows,
)
from tests.kits.signals_kit import fixture_tape

TAPE = FLOW_COLUMNS[:9]  # trade_count .. vwap_px
TRADE_DRIVEN = ("sweep", "flow_pressure")


def _tape_without_trades(lost: str = "SOL", head: int = 40) -> pd.DataFrame:
    """A fixture day's MicroTape with `lost`'s tape columns missing on every row (no
    trades channel) and every other coin's on its first `head` rows (not known yet)."""
    frames = fixture_tape("2026-01-03")
    coin = frames["coin"].astype(str).to_numpy()
    first = np.r_[True, coin[1:] != coin[:-1]]
    pos = np.arange(len(coin)) - np.maximum.accumulate(np.where(first, np.arange(len(coin)), 0))
    missing = (coin == lost) | (pos < head)
    for col in TAPE:
        frames[col] = np.where(missing, np.nan, frames[col].to_numpy(dtype=np.float64))
    return frames


@pytest.mark.parametrize("short", [False, True], ids=["packaged", "short"])
def test_the_detectors_stream_equals_the_batch_on_missing_trade_features(short):
    frames = _tape_without_trades()
    specs = short_specs() if short else enabled_specs(None)
    want = batch_windows(frames, specs)
    assert len(want) > 0
    assert_same(stream_windows(frames, specs, 1000), want)
    kind = {s.id: s.kind for s in specs}
    fired = want.assign(kind=want["detector_id"].map(kind))
    trade_driven = fired[fired["kind"].isin(TRADE_DRIVEN)]
    assert len(trade_driven) > 0  # they do fire where the trades are known
    assert not (trade_driven["coin"] == "SOL").any()
    missing = frames.loc[frames[list(TAPE)].isna().all(axis=1), ["coin", "ts_ms"]]
    hit = trade_driven.merge(missing, on=["coin", "ts_ms"])
    assert hit.empty, hit
