"""DetectorStream (per row) equals _with_ids(run_detectors(...)) (batch) on whole days."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import pytest

from lotus_core.feed.parse import parse_recording
from lotus_core.microtape import build_microtape
from lotus_core.signals import features as F
from lotus_core.signals import ids
from lotus_core.signals.detect_stream import DetectorStream
from lotus_core.signals.detectors import run_detectors
from lotus_core.signals.pipeline import _with_ids
from lotus_core.signals.spec import DetectorSpec, enabled_specs
from tests.helpers import REAL_RECORDING
from tests.kits.signals_kit import fixture_tape

pytestmark = pytest.mark.slow

COLS = ["window_id", "ts_ms", "coin", "detector_id", "recipe_hash", "horizon_s", "direction",
        "raw_strength"]
DAYS = ["2026-01-02", "2026-01-03", "2026-01-05"]  # three of the five: the parse dominates

# Short windows and loose thresholds: the detectors fire often and differently from the
# packaged set (cooldown 0, a long cooldown, sweep stall of 1 row, 1-row spans).
SHORT = {
    "breakout_retest": {"lookback_s": 5, "break_bps": 0.1, "extend_bps": 0.2,
                        "retest_tol_bps": 0.5, "fail_bps": 1.0, "retest_window_s": 8},
    "divergence": {"lookback_s": 4, "rsi_span_s": 3, "rsi_gap": 2.0, "macd_fast_s": 2,
                   "macd_slow_s": 5, "macd_signal_s": 3},
    "mean_reversion": {"ema_span_s": 3, "z_span_s": 6, "z_entry": 1.0},
    "sweep": {"min_aggr_imb": 0.1, "vol_span_s": 4, "stall_s": 1, "max_wait_s": 3},
    "flow_pressure": {"flow_span_s": 3, "min_flow": 0.3, "min_book": 0.0, "min_trades": 1},
}


def short_specs() -> list[DetectorSpec]:
    out = []
    for i, spec in enumerate(enabled_specs(None)):
        body = spec.model_dump()
        body["id"] = f"short_{spec.kind}_{i}_v1"
        body["params"] = dict(SHORT[spec.kind])
        body["cooldown_s"] = [0, 60, 2][i % 3]
        if spec.kind == "sweep" and spec.typed_params.stall_s == 0:
            body["params"].update(stall_s=0, max_wait_s=0)
        out.append(DetectorSpec.model_validate(body))
    return out


def stream_windows(frames: pd.DataFrame, specs: Sequence[DetectorSpec], cadence: int,
                   skip: int | None = None) -> pd.DataFrame:
    """Every row pushed in (ts_ms, coin) order (row `skip` of that order left out)."""
    rows = frames.sort_values(["ts_ms", "coin"], kind="stable").to_dict("records")
    stream = DetectorStream(specs, cadence)
    out: list[dict] = []
    for i, row in enumerate(rows):
        if i != skip:
            out.extend(stream.push(row))
    return pd.DataFrame(out, columns=COLS)


def batch_windows(frames: pd.DataFrame, specs: Sequence[DetectorSpec]) -> pd.DataFrame:
    return _with_ids(run_detectors(frames, specs), specs)[COLS].reset_index(drop=True)


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> float:
    """Same windows in the same order, every column; returns the worst relative error."""
    assert len(got) == len(want), (len(got), len(want))
    for c in COLS[:-1]:
        g, w = got[c].tolist(), want[c].tolist()
        bad = [i for i, (a, b) in enumerate(zip(g, w, strict=True)) if a != b]
        assert not bad, (c, bad[:5], [g[i] for i in bad[:5]], [w[i] for i in bad[:5]])
    g = got["raw_strength"].to_numpy(dtype=np.float64)
    w = want["raw_strength"].to_numpy(dtype=np.float64)
    assert np.array_equal(np.isnan(g), np.isnan(w))
    rel = np.abs(g - w) / np.maximum(np.abs(w), 1e-12)
    worst = float(np.nanmax(rel)) if len(rel) else 0.0
    assert worst <= 1e-9, worst
    return worst


def check(frames: pd.DataFrame, specs: Sequence[DetectorSpec], min_windows: int = 1) -> None:
    cadence = F.cadence_ms(frames["ts_ms"].to_numpy(), frames["coin"].to_numpy(dtype=object))
    want = batch_windows(frames, specs)
    assert len(want) >= min_windows
    assert_same(stream_windows(frames, specs, cadence), want)


@lru_cache(maxsize=1)
def real_tape() -> pd.DataFrame:
    return build_microtape(parse_recording(REAL_RECORDING))


@pytest.mark.parametrize("day", DAYS)
def test_stream_equals_batch_on_a_fixture_day_with_the_packaged_detectors(day):
    check(fixture_tape(day), enabled_specs(None), min_windows=1500)


@pytest.mark.parametrize("day", DAYS[1:])
def test_stream_equals_batch_with_short_windows(day):
    specs = short_specs()
    frames = fixture_tape(day)
    want = batch_windows(frames, specs)
    assert set(want["detector_id"]) == {s.id for s in specs}  # every detector fires
    assert_same(stream_windows(frames, specs, 1000), want)


def test_stream_equals_batch_on_a_2s_grid():
    """Every other row: the batch infers a 2000 ms cadence, the stream is given it, and the
    windows in rows (features.rows) round the same way."""
    frames = fixture_tape(DAYS[0])
    frames = frames[frames["ts_ms"] % 2000 == 0].reset_index(drop=True)
    for specs in (enabled_specs(None), short_specs()):
        check(frames, specs, min_windows=100)


def test_stream_equals_batch_where_mids_and_book_are_missing():
    """NaN mids (outside the MicroTape contract, but the batch defines them: EMAs skip the
    row, rolling extremes are NaN while it is in their window) and NaN book imbalance."""
    frames = fixture_tape(DAYS[1])
    rng = np.random.default_rng(7)
    n = len(frames)
    mid = frames["mid_px"].to_numpy().copy()
    mid[rng.choice(n, 300, replace=False)] = np.nan
    mid[[0, 1, 7200, 7201, 7202]] = np.nan  # a coin's first rows too
    book = frames["book_imb_5"].to_numpy().copy()
    book[rng.choice(n, 3000, replace=False)] = np.nan
    frames = frames.assign(mid_px=mid, book_imb_5=book)
    for specs in (enabled_specs(None), short_specs()):
        check(frames, specs, min_windows=1000)


def test_stream_equals_batch_on_the_real_sample():
    frames = real_tape()
    check(frames, enabled_specs(None), min_windows=0)
    check(frames, short_specs(), min_windows=1)


def test_a_skipped_row_is_seen():
    """A stream that missed one row (positional windows shift) no longer equals the batch."""
    frames = fixture_tape(DAYS[0])
    specs = enabled_specs(None)
    want = batch_windows(frames, specs)
    got = stream_windows(frames, specs, 1000, skip=3 * 3600)  # BTC at 01:00
    with pytest.raises(AssertionError):
        assert_same(got, want)


def test_rows_closer_than_the_cadence_are_refused():
    row = real_tape().to_dict("records")[0]
    stream = DetectorStream(enabled_specs(None), 1000)
    stream.push(row)
    with pytest.raises(ValueError, match="less than 1000 ms"):
        stream.push(row)
    with pytest.raises(ValueError, match="less than 1000 ms"):
        stream.push({**row, "ts_ms": row["ts_ms"] + 500})
    assert stream.push({**row, "ts_ms": row["ts_ms"] + 1000}) == []
    assert stream.push({**row, "coin": "ETH"}) == []  # another coin: its own state


def test_window_id_one_equals_window_ids():
    rng = np.random.default_rng(3)
    ts = pd.Series(rng.integers(0, 2**50, 200), dtype="int64")
    coin = pd.Series(rng.choice(["BTC", "ETH", "kPEPE", "ü"], 200))
    det = pd.Series(rng.choice(["a_v1", "flow_pressure_v1", "sweep_stall_v1"], 200))
    want = ids.window_ids(coin, det, ts)
    got = [ids.window_id_one(ids.pair_key(c, d), t) for c, d, t in zip(coin, det, ts,
                                                                        strict=True)]
    assert got == list(want)
