"""`DayWindows` gives each detector's windows exactly as the whole day's frame, sorted
stably by (ts_ms, coin, detector_id) and filtered, gave them (what the audits read)."""

import numpy as np
import pandas as pd
import pytest

from lotus_core.audits.day_windows import COLUMNS, DayWindows


def _coin_part(rng: np.random.Generator, coin: str, n: int) -> pd.DataFrame:
    ts = np.sort(rng.integers(0, 40, size=n)) * 1_000  # ties within and across coins
    part = pd.DataFrame({
        "ts_ms": ts.astype(np.int64),
        "coin": pd.array([coin] * n, dtype="str"),
        "detector_id": pd.array(rng.choice(["a_v1", "b_v1", "c_v1"], size=n), dtype="str"),
        "direction": rng.choice([-1, 1], size=n).astype(np.int8),
        "fwd_ret_bps": rng.normal(size=n),
        "outcome_ok": rng.random(n) > 0.1,
        "gap": rng.random(n) > 0.9,
        "det_sigma": rng.random(n),  # a column the audits do not read: not kept
    })
    return part.sort_values(["ts_ms", "detector_id"], kind="stable", ignore_index=True)


def test_each_detector_in_the_whole_days_order():
    rng = np.random.default_rng(11)
    parts = [_coin_part(rng, c, n) for c, n in (("AVAX", 60), ("BTC", 0), ("ETH", 45),
                                                 ("SOL", 80))]
    day = DayWindows(parts[0])
    for p in parts:
        day.add(p)
    whole = pd.concat(parts, ignore_index=True)[COLUMNS].sort_values(
        ["ts_ms", "coin", "detector_id"], kind="stable")
    for det in ("a_v1", "b_v1", "c_v1", "none_v1"):
        want = whole[whole["detector_id"] == det].reset_index(drop=True)
        got = day.of(det)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        np.testing.assert_array_equal(day.ts_ms(det), want["ts_ms"].to_numpy())


def test_a_part_of_two_coins_is_refused():
    rng = np.random.default_rng(3)
    two = pd.concat([_coin_part(rng, "BTC", 5), _coin_part(rng, "ETH", 5)], ignore_index=True)
    with pytest.raises(ValueError, match="one coin"):
        DayWindows(two).add(two)
